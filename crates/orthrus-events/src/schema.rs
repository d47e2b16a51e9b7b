//! Field names of the events Orthrus maps, in the order Windows writes them.
//!
//! PowerShell's `Get-WinEvent | ConvertTo-Json` and unnamed `<Data>` elements give event
//! fields by position only; this table names them. The orders come from the events' manifest
//! templates (Microsoft-Windows-Security-Auditing, Service Control Manager) and are checked
//! against real EVTX files in the tests.

const SUBJECT: [&str; 4] = ["SubjectUserSid", "SubjectUserName", "SubjectDomainName", "SubjectLogonId"];

/// Names of the fields of `event_id`, in template order; empty for events not listed.
pub fn field_names(provider: &str, event_id: u32) -> Vec<&'static str> {
    if !crate::map::from_expected_provider(provider, "", event_id) {
        return Vec::new();
    }
    let sysmon = provider.contains("Sysmon");
    let names: &[&[&'static str]] = match (event_id, sysmon) {
        (1 | 3, true) => return Vec::new(),
        (4624, _) => &[
            &SUBJECT,
            &["TargetUserSid", "TargetUserName", "TargetDomainName", "TargetLogonId", "LogonType"],
            &["LogonProcessName", "AuthenticationPackageName", "WorkstationName", "LogonGuid"],
            &["TransmittedServices", "LmPackageName", "KeyLength", "ProcessId", "ProcessName"],
            &["IpAddress", "IpPort", "ImpersonationLevel", "RestrictedAdminMode"],
            &["TargetOutboundUserName", "TargetOutboundDomainName", "VirtualAccount"],
            &["TargetLinkedLogonId", "ElevatedToken"],
        ],
        (4625, _) => &[
            &SUBJECT,
            &["TargetUserSid", "TargetUserName", "TargetDomainName", "Status", "FailureReason"],
            &["SubStatus", "LogonType", "LogonProcessName", "AuthenticationPackageName"],
            &["WorkstationName", "TransmittedServices", "LmPackageName", "KeyLength", "ProcessId"],
            &["ProcessName", "IpAddress", "IpPort"],
        ],
        (4634, _) => {
            &[&["TargetUserSid", "TargetUserName", "TargetDomainName", "TargetLogonId", "LogonType"]]
        }
        (4648, _) => &[
            &SUBJECT,
            &["LogonGuid", "TargetUserName", "TargetDomainName", "TargetLogonGuid", "TargetServerName"],
            &["TargetInfo", "ProcessId", "ProcessName", "IpAddress", "IpPort"],
        ],
        (4662, _) => &[
            &SUBJECT,
            &["ObjectServer", "ObjectType", "ObjectName", "OperationType", "HandleId", "AccessList"],
            &["AccessMask", "Properties", "AdditionalInfo", "AdditionalInfo2"],
        ],
        (4672, _) => &[&SUBJECT, &["PrivilegeList"]],
        (4688, _) => &[
            &SUBJECT,
            &["NewProcessId", "NewProcessName", "TokenElevationType", "ProcessId", "CommandLine"],
            &["TargetUserSid", "TargetUserName", "TargetDomainName", "TargetLogonId"],
            &["ParentProcessName", "MandatoryLabel"],
        ],
        (4697, _) => &[
            &SUBJECT,
            &["ServiceName", "ServiceFileName", "ServiceType", "ServiceStartType", "ServiceAccount"],
        ],
        (4698, _) => &[&SUBJECT, &["TaskName", "TaskContent"]],
        (4728 | 4729 | 4732 | 4733 | 4756 | 4757, _) => &[
            &["MemberName", "MemberSid", "TargetUserName", "TargetDomainName", "TargetSid"],
            &SUBJECT,
            &["PrivilegeList"],
        ],
        (4720, _) => &[&["TargetUserName", "TargetDomainName", "TargetSid"], &SUBJECT, &ACCOUNT_ATTRIBUTES],
        (4742, _) => &[
            &["ComputerAccountChange", "TargetUserName", "TargetDomainName", "TargetSid"],
            &SUBJECT,
            &ACCOUNT_ATTRIBUTES,
            &["DnsHostName", "ServicePrincipalNames"],
        ],
        (4741, _) => &[
            &["TargetUserName", "TargetDomainName", "TargetSid"],
            &SUBJECT,
            &ACCOUNT_ATTRIBUTES,
            &["DnsHostName", "ServicePrincipalNames"],
        ],
        (4738, _) => {
            &[&["Dummy", "TargetUserName", "TargetDomainName", "TargetSid"], &SUBJECT, &ACCOUNT_ATTRIBUTES]
        }
        (4722 | 4723 | 4724 | 4725 | 4726 | 4740 | 4743 | 4767 | 4730 | 4734 | 4758, _) => {
            &[&["TargetUserName", "TargetDomainName", "TargetSid"], &SUBJECT, &["PrivilegeList"]]
        }
        (4765, _) => &[
            &["SourceUserName", "SourceSid", "TargetUserName", "TargetDomainName", "TargetSid"],
            &SUBJECT,
            &["PrivilegeList", "SidList"],
        ],
        (4781, _) => &[
            &["OldTargetUserName", "NewTargetUserName", "TargetDomainName", "TargetSid"],
            &SUBJECT,
            &["PrivilegeList"],
        ],
        (4794, _) => &[&SUBJECT, &["Workstation", "Status"]],
        (4727 | 4731 | 4754 | 4735 | 4737 | 4755, _) => &[
            &["TargetUserName", "TargetDomainName", "TargetSid"],
            &SUBJECT,
            &["PrivilegeList", "SamAccountName", "SidHistory"],
        ],
        (4768, _) => &[
            &["TargetUserName", "TargetDomainName", "TargetSid", "ServiceName", "ServiceSid"],
            &["TicketOptions", "Status", "TicketEncryptionType", "PreAuthType", "IpAddress", "IpPort"],
            &["CertIssuerName", "CertSerialNumber", "CertThumbprint"],
        ],
        (4769, _) => &[
            &["TargetUserName", "TargetDomainName", "ServiceName", "ServiceSid", "TicketOptions"],
            &["TicketEncryptionType", "IpAddress", "IpPort", "Status", "LogonGuid", "TransmittedServices"],
        ],
        (4771, _) => &[
            &["TargetUserName", "TargetSid", "ServiceName", "TicketOptions", "Status", "PreAuthType"],
            &["IpAddress", "IpPort", "CertIssuerName", "CertSerialNumber", "CertThumbprint"],
        ],
        (4776, _) => &[&["PackageName", "TargetUserName", "Workstation", "Status"]],
        (5136, _) => &[
            &["OpCorrelationID", "AppCorrelationID"],
            &SUBJECT,
            &["DSName", "DSType", "ObjectDN", "ObjectGUID", "ObjectClass", "AttributeLDAPDisplayName"],
            &["AttributeSyntaxOID", "AttributeValue", "OperationType"],
        ],
        (5137 | 5139 | 5141, _) => &[
            &["OpCorrelationID", "AppCorrelationID"],
            &SUBJECT,
            &["DSName", "DSType", "ObjectDN", "ObjectGUID", "ObjectClass", "TreeDelete"],
        ],
        (5140, _) => &[
            &SUBJECT,
            &["ObjectType", "IpAddress", "IpPort", "ShareName", "ShareLocalPath", "AccessMask"],
            &["AccessList"],
        ],
        (5145, _) => &[
            &SUBJECT,
            &["ObjectType", "IpAddress", "IpPort", "ShareName", "ShareLocalPath", "RelativeTargetName"],
            &["AccessMask", "AccessList", "AccessReason"],
        ],
        // Trusts: the templates as Microsoft documents them (no public sample to check against).
        (4706 | 4716, _) => &[
            &["DomainName", "DomainSid"],
            &SUBJECT,
            &["TdoType", "TdoDirection", "TdoAttributes", "SidFilteringEnabled"],
        ],
        (4865..=4867, _) => &[
            &SUBJECT,
            &["ForestRoot", "ForestRootSid", "OperationId", "EntryType", "Flags", "TopLevelName", "DnsName"],
            &["NetbiosName", "DomainSid"],
        ],
        (7045, _) => &[&["ServiceName", "ImagePath", "ServiceType", "StartType", "AccountName"]],
        (1102, _) => &[&SUBJECT],
        _ => &[],
    };
    names.iter().flat_map(|part| part.iter().copied()).collect()
}

const ACCOUNT_ATTRIBUTES: [&str; 19] = [
    "PrivilegeList",
    "SamAccountName",
    "DisplayName",
    "UserPrincipalName",
    "HomeDirectory",
    "HomePath",
    "ScriptPath",
    "ProfilePath",
    "UserWorkstations",
    "PasswordLastSet",
    "AccountExpires",
    "PrimaryGroupId",
    "AllowedToDelegateTo",
    "OldUacValue",
    "NewUacValue",
    "UserAccountControl",
    "UserParameters",
    "SidHistory",
    "LogonHours",
];
