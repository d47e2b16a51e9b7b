//! Windows events → activities. Where an event means what a packet means (a TGT request, a
//! service-ticket request, an NTLM validation, a share opened), it becomes the same activity
//! the network side produces, so one detection serves both; the rest become the host
//! activities of `orthrus_model::host`.
//!
//! The computer that logged the event is the activity's destination host; the address the
//! event records (IpAddress, Client Address) is its source. 4776 records no address, only the
//! workstation name the client claimed, which becomes the source host.

use std::net::IpAddr;
use std::sync::Arc;

use orthrus_model::{
    AccountAction, AccountChange, AccountRef, Activity, ActivityKind, AuthOutcome, Carrier, DirectoryAccess,
    DirectoryChange, DirectoryOperation, EncryptionType, Endpoint, FileAccess, GroupChange, KdcFailure,
    KdcIssued, KdcOptions, KdcOutcome, KdcRequest, KerberosErrorCode, KerberosExchange, LogCleared, Logon,
    NtStatus, NtlmAuthentication, NtlmResponse, PaDataType, PrivilegedLogon, ProcessConnection, ProcessStart,
    Provenance, SamObjectAccess, ServiceInstall, ShareAccess, TaskRegistration, TenantId, TicketInfo,
    TrustChange, TrustOperation,
};

use crate::event::{EventData, WindowsEvent};

/// Who the activities belong to.
#[derive(Clone, Debug)]
pub struct MapContext {
    pub tenant: TenantId,
    pub sensor: Arc<str>,
}

impl Default for MapContext {
    fn default() -> Self {
        Self { tenant: TenantId::default(), sensor: Arc::from("orthrus-analyze") }
    }
}

/// Whether an event id comes from the provider that defines it: other providers reuse the
/// numbers (an application's event 4625 is not a refused logon). Logs that name no provider
/// (some flat JSON) are trusted.
pub fn from_expected_provider(provider: &str, channel: &str, event_id: u32) -> bool {
    if provider.is_empty() || provider.starts_with("Samba") || provider.contains("Sysmon") {
        return true;
    }
    match event_id {
        1102 | 104 => provider.contains("Eventlog"),
        7045 => provider.contains("Service Control Manager"),
        8004 => provider.contains("NTLM"),
        4600..=5999 => provider.contains("Security-Auditing") || channel == "Security",
        _ => true,
    }
}

/// Whether [`to_activity`] can make anything of an event with this System header. Readers ask
/// it before rendering a record's data (most records of a busy log are events no mapping
/// uses), and `to_activity` asks it first, so the two can never disagree: an event this
/// refuses is one `to_activity` would have dropped.
pub fn is_mapped(provider: &str, channel: &str, event_id: u32) -> bool {
    if !from_expected_provider(provider, channel, event_id) {
        return false;
    }
    if provider.contains("Sysmon") || channel.contains("Sysmon") {
        return matches!(event_id, 1 | 3);
    }
    matches!(
        event_id,
        4768 | 4771 | 4769 | 4776 | 8004 | 4624 | 4625 | 4634 | 4648 | 4672 | 4662 | 4661 | 4798 | 4799
            | 5136 | 5137 | 5139 | 5141 | 4728 | 4729 | 4732 | 4733 | 4756 | 4757
            | 4720 | 4722..=4726 | 4738 | 4740 | 4741..=4743 | 4765 | 4767 | 4781 | 4794
            | 4727 | 4731 | 4754 | 4735 | 4737 | 4755 | 4730 | 4734 | 4758
            | 7045 | 4697 | 4698 | 1102 | 104 | 5140 | 5145 | 4706 | 4716 | 4865..=4867
    )
}

/// What an activity can come from: the events [`is_mapped`] accepts, and only the data fields
/// [`uses_field`] names (a reader leaves the others unread).
pub const MAPPED: crate::Wanted = crate::Wanted { event: is_mapped, field: uses_field };

/// Whether [`to_activity`] reads a data field of this name (from any event). A test reads
/// this file's field look-ups and fails on one missing here.
pub fn uses_field(name: &str) -> bool {
    matches!(
        name,
        "AccessMask"
            | "AccountName"
            | "AttributeLDAPDisplayName"
            | "AttributeValue"
            | "AuthenticationPackageName"
            | "CallerProcessName"
            | "Carrier"
            | "Channel"
            | "CommandLine"
            | "DestinationIp"
            | "DestinationPort"
            | "DnsName"
            | "DomainName"
            | "DomainSid"
            | "ForestRoot"
            | "ForestRootSid"
            | "GroupDn"
            | "Image"
            | "ImagePath"
            | "Initiated"
            | "IpAddress"
            | "IpPort"
            | "LogonProcessName"
            | "LogonType"
            | "MemberName"
            | "MemberSid"
            | "NewObjectDN"
            | "NetbiosName"
            | "NewTargetUserName"
            | "NtlmVersion"
            | "ObjectClass"
            | "ObjectDN"
            | "ObjectName"
            | "ObjectServer"
            | "ObjectType"
            | "OperationType"
            | "ParentImage"
            | "PreAuthType"
            | "PrivilegeList"
            | "ProcessName"
            | "Properties"
            | "RelativeTargetName"
            | "SChannelName"
            | "ServiceAccount"
            | "ServiceFileName"
            | "ServiceName"
            | "ServiceStartType"
            | "ShareName"
            | "SourceIp"
            | "SourcePort"
            | "StartType"
            | "Status"
            | "SubStatus"
            | "SubjectDomainName"
            | "SubjectUserName"
            | "SubjectUserSid"
            | "TargetDomainName"
            | "TargetServerName"
            | "TargetSid"
            | "TargetUserName"
            | "TargetUserSid"
            | "TaskContent"
            | "TaskName"
            | "TdoAttributes"
            | "TdoDirection"
            | "TdoType"
            | "TicketEncryptionType"
            | "TicketOptions"
            | "TopLevelName"
            | "User"
            | "UserName"
            | "Workstation"
            | "WorkstationName"
    ) || CHANGE_FIELDS.contains(&name)
}

/// The account attributes 4738/4742-style events report changed, kept as the change list.
const CHANGE_FIELDS: &[&str] = &[
    "SamAccountName",
    "UserPrincipalName",
    "OldUacValue",
    "NewUacValue",
    "UserAccountControl",
    "AllowedToDelegateTo",
    "SidHistory",
    "SidList",
    "DnsHostName",
    "ServicePrincipalNames",
    "OldTargetUserName",
    "PasswordLastSet",
    "PrimaryGroupId",
];

/// The activity an event stands for, or `None` for events Orthrus does not use.
pub fn to_activity(event: &WindowsEvent, context: &MapContext) -> Option<Activity> {
    if !is_mapped(&event.provider, &event.channel, event.event_id) {
        return None;
    }
    let d = &event.data;
    let sysmon = event.provider.contains("Sysmon") || event.channel.contains("Sysmon");
    let kind = match (event.event_id, sysmon) {
        (1, true) => ActivityKind::ProcessStarted(ProcessStart {
            user: d.get("User").map(account_from_qualified),
            image: d.get("Image")?.to_owned(),
            command_line: owned(d.get("CommandLine")),
            parent_image: owned(d.get("ParentImage")),
        }),
        (3, true) => ActivityKind::ProcessConnected(ProcessConnection {
            user: d.get("User").map(account_from_qualified),
            image: d.get("Image").unwrap_or_default().to_owned(),
            initiated: d.get("Initiated").is_some_and(|v| v.eq_ignore_ascii_case("true")),
        }),
        (_, true) => return None,
        (4768, _) => ActivityKind::TgtRequested(tgt_exchange(d)),
        (4771, _) => ActivityKind::TgtRequested(tgt_exchange(d)),
        (4769, _) => ActivityKind::ServiceTicketRequested(service_ticket_exchange(d)),
        (4776, _) => ActivityKind::NtlmAuthenticated(ntlm(d)),
        (8004, _) => ActivityKind::NtlmAuthenticated(ntlm_audit(d)),
        (4624 | 4625, _) => ActivityKind::LoggedOn(logon(d, event.event_id == 4625)),
        (4634, _) => ActivityKind::LoggedOff(logon(d, false)),
        (4648, _) => ActivityKind::ExplicitCredentialsUsed(Logon {
            subject: Some(subject(d)),
            target_server: owned(d.get("TargetServerName")),
            ..logon(d, false)
        }),
        (4672, _) => ActivityKind::PrivilegesAssigned(PrivilegedLogon {
            account: subject(d),
            privileges: d
                .get("PrivilegeList")
                .unwrap_or_default()
                .split_whitespace()
                .map(str::to_owned)
                .collect(),
        }),
        (4662, _) => ActivityKind::DirectoryObjectAccessed(DirectoryAccess {
            subject: subject(d),
            object_type: guid_or_text(d.get("ObjectType").unwrap_or_default()),
            object_name: guid_or_text(d.get("ObjectName").unwrap_or_default()),
            properties: guids(d.get("Properties").unwrap_or_default()),
            access_mask: u32_field(d, "AccessMask").unwrap_or_default(),
        }),
        (4661, _)
            if d.get("ObjectServer")
                .is_some_and(|server| server.eq_ignore_ascii_case("Security Account Manager")) =>
        {
            ActivityKind::SamObjectOpened(SamObjectAccess {
                subject: subject(d),
                object_type: d.get("ObjectType").unwrap_or_default().to_owned(),
                object: d.get("ObjectName").unwrap_or_default().to_owned(),
                object_name: None,
                access_mask: u32_field(d, "AccessMask").unwrap_or_default(),
                process: None,
                operation: "opened".to_owned(),
            })
        }
        (4798 | 4799, _) => ActivityKind::SamObjectOpened(SamObjectAccess {
            subject: subject(d),
            object_type: if event.event_id == 4799 { "SAM_ALIAS" } else { "SAM_USER" }.to_owned(),
            object: d.get("TargetSid").unwrap_or_default().to_owned(),
            object_name: owned(d.get("TargetUserName")),
            access_mask: 0,
            // "-" when the enumeration came over the network (SAM-R), not from a local process.
            process: d.get("CallerProcessName").filter(|p| !p.is_empty() && *p != "-").map(str::to_owned),
            operation: if event.event_id == 4799 { "members enumerated" } else { "groups enumerated" }
                .to_owned(),
        }),
        (5136 | 5137 | 5139 | 5141, _) => {
            ActivityKind::DirectoryObjectChanged(directory_change(event.event_id, d))
        }
        (4728 | 4729 | 4732 | 4733 | 4756 | 4757, _) => ActivityKind::GroupMembershipChanged(GroupChange {
            subject: subject(d),
            added: matches!(event.event_id, 4728 | 4732 | 4756),
            group: AccountRef {
                name: d.get("TargetUserName").unwrap_or_default().to_owned(),
                domain: owned(d.get("TargetDomainName")),
                sid: owned(d.get("TargetSid")).or_else(|| owned(d.get("GroupDn"))),
            },
            member: AccountRef {
                name: d.get("MemberName").unwrap_or_default().to_owned(),
                domain: None,
                sid: owned(d.get("MemberSid")),
            },
            scope: match event.event_id {
                4728 | 4729 => "global",
                4732 | 4733 => "local",
                _ => "universal",
            }
            .to_owned(),
        }),
        (
            4720
            | 4722..=4726
            | 4738
            | 4740
            | 4741..=4743
            | 4765
            | 4767
            | 4781
            | 4794
            | 4727
            | 4731
            | 4754
            | 4735
            | 4737
            | 4755,
            _,
        ) => ActivityKind::AccountChanged(account_change(event.event_id, d)),
        (4706 | 4716, _) => ActivityKind::TrustChanged(TrustChange {
            subject: subject(d),
            operation: if event.event_id == 4706 {
                TrustOperation::Created
            } else {
                TrustOperation::Modified
            },
            domain: d.get("DomainName").unwrap_or_default().to_owned(),
            domain_sid: owned(d.get("DomainSid")),
            direction: u32_field(d, "TdoDirection"),
            trust_type: u32_field(d, "TdoType"),
            attributes: u32_field(d, "TdoAttributes"),
            record: None,
        }),
        (4865..=4867, _) => ActivityKind::TrustChanged(TrustChange {
            subject: subject(d),
            operation: match event.event_id {
                4865 => TrustOperation::ForestRecordAdded,
                4866 => TrustOperation::ForestRecordRemoved,
                _ => TrustOperation::ForestRecordModified,
            },
            domain: d.get("ForestRoot").unwrap_or_default().to_owned(),
            domain_sid: owned(d.get("ForestRootSid")),
            direction: None,
            trust_type: None,
            attributes: None,
            record: owned(
                d.get("TopLevelName").or_else(|| d.get("DnsName")).or_else(|| d.get("NetbiosName")),
            ),
        }),
        (7045 | 4697, _) => ActivityKind::ServiceInstalled(ServiceInstall {
            subject: (event.event_id == 4697).then(|| subject(d)),
            name: d.get("ServiceName")?.to_owned(),
            image_path: d
                .get("ImagePath")
                .or_else(|| d.get("ServiceFileName"))
                .unwrap_or_default()
                .to_owned(),
            start_type: owned(d.get("StartType").or_else(|| d.get("ServiceStartType"))),
            run_as: owned(d.get("AccountName").or_else(|| d.get("ServiceAccount"))),
        }),
        (4698, _) => ActivityKind::TaskScheduled(TaskRegistration {
            subject: subject(d),
            name: d.get("TaskName").unwrap_or_default().to_owned(),
            command: d.get("TaskContent").and_then(orthrus_proto::msrpc::task_command),
        }),
        (1102, _) => {
            ActivityKind::LogCleared(LogCleared { subject: Some(subject(d)), channel: "Security".to_owned() })
        }
        (104, _) if event.provider.contains("Eventlog") || event.channel == "System" => {
            ActivityKind::LogCleared(LogCleared {
                subject: d.get("SubjectUserName").map(|name| AccountRef {
                    name: name.to_owned(),
                    domain: owned(d.get("SubjectDomainName")),
                    sid: None,
                }),
                channel: d.get("Channel").unwrap_or("System").to_owned(),
            })
        }
        (5140, _) => ActivityKind::ShareOpened(ShareAccess {
            path: d.get("ShareName").unwrap_or_default().to_owned(),
            user: Some(subject(d).qualified()),
            status: None,
        }),
        (5145, _) => {
            let share = d.get("ShareName").unwrap_or_default();
            let ipc = share.to_ascii_uppercase().ends_with("IPC$");
            ActivityKind::FileOpened(FileAccess {
                share: Some(share.to_owned()),
                name: d.get("RelativeTargetName").unwrap_or_default().to_owned(),
                pipe: ipc,
                desired_access: u32_field(d, "AccessMask").unwrap_or_default(),
                user: Some(subject(d).qualified()),
                status: None,
            })
        }
        _ => return None,
    };
    let source_ip =
        d.get("IpAddress").or_else(|| if sysmon { d.get("SourceIp") } else { None }).and_then(parse_ip);
    let source_port =
        d.number("IpPort").or_else(|| d.number("SourcePort")).and_then(|p| u16::try_from(p).ok());
    let destination_ip = d.get("DestinationIp").and_then(parse_ip);
    let destination_port = d.number("DestinationPort").and_then(|p| u16::try_from(p).ok()).unwrap_or(0);
    let source_host = match event.event_id {
        4776 => d.get("Workstation"),
        8004 => d.get("WorkstationName"),
        4624 | 4625 => d.get("WorkstationName"),
        _ => None,
    }
    .map(|w| Arc::from(w.trim_start_matches('\\').to_ascii_uppercase()));
    let computer = event.computer.trim();
    Some(Activity {
        time: event.time,
        tenant: context.tenant.clone(),
        sensor: context.sensor.clone(),
        source: source_ip.map(|ip| Endpoint { ip, port: source_port.unwrap_or(0) }),
        destination: destination_ip.map(|ip| Endpoint { ip, port: destination_port }),
        transport: None,
        source_host,
        destination_host: (!computer.is_empty()).then(|| Arc::from(computer)),
        provenance: vec![Provenance::record(event.file.clone(), event.position)],
        kind,
    })
}

fn owned(value: Option<&str>) -> Option<String> {
    value.map(str::to_owned)
}

/// `::ffff:10.0.0.5` → `10.0.0.5`; `-`, `::1`-less garbage and empty → `None`.
fn parse_ip(text: &str) -> Option<IpAddr> {
    let text = text.trim().trim_start_matches('[').trim_end_matches(']');
    let ip: IpAddr = text.parse().ok()?;
    Some(match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    })
}

fn subject(d: &EventData) -> AccountRef {
    AccountRef {
        name: d.get("SubjectUserName").unwrap_or_default().to_owned(),
        domain: owned(d.get("SubjectDomainName")),
        sid: owned(d.get("SubjectUserSid")),
    }
}

fn target(d: &EventData) -> AccountRef {
    AccountRef {
        name: d.get("TargetUserName").unwrap_or_default().to_owned(),
        domain: owned(d.get("TargetDomainName")),
        sid: owned(d.get("TargetUserSid").or_else(|| d.get("TargetSid"))),
    }
}

/// `CORP\bob` → account.
fn account_from_qualified(text: &str) -> AccountRef {
    match text.split_once('\\') {
        Some((domain, name)) => {
            AccountRef { name: name.to_owned(), domain: Some(domain.to_owned()), sid: None }
        }
        None => AccountRef { name: text.to_owned(), domain: None, sid: None },
    }
}

/// A 32-bit field written in decimal or `0x` hex (status codes, access masks, trust
/// direction, type and attributes).
fn u32_field(d: &EventData, name: &str) -> Option<u32> {
    d.number(name).and_then(|n| u32::try_from(n).ok())
}

fn etype(d: &EventData) -> Option<EncryptionType> {
    // 0xffffffff means "no ticket" in failed requests.
    u32_field(d, "TicketEncryptionType")
        .filter(|e| *e != u32::MAX && *e != 0)
        .map(|e| EncryptionType(e as i32))
}

/// 4768 (TGT requested, success or failure) and 4771 (pre-authentication failed).
fn tgt_exchange(d: &EventData) -> KerberosExchange {
    let user = d.get("TargetUserName").unwrap_or_default();
    // 4768's TargetUserName is the bare name; strip a realm if a shipper kept `user@REALM`.
    let (user, realm_in_name) = user.split_once('@').unwrap_or((user, ""));
    let realm = d.get("TargetDomainName").unwrap_or(realm_in_name).to_ascii_uppercase();
    let pre_auth = d.number("PreAuthType").and_then(|p| i32::try_from(p).ok());
    let mut padata = Vec::new();
    let mut pkinit = false;
    match pre_auth {
        Some(p @ (2 | 138)) => padata.push(PaDataType(p)),
        Some(p @ (15..=17)) => {
            padata.push(PaDataType(p));
            pkinit = true;
        }
        _ => {}
    }
    let sname = d.get("ServiceName").map_or_else(|| format!("krbtgt/{realm}"), |s| slash_realm(s, &realm));
    let request =
        KdcRequest { cname: Some(user.to_owned()), pkinit, ..logged_request(d, &realm, sname, padata) };
    let code = u32_field(d, "Status").unwrap_or_default();
    let sname = request.sname.clone().unwrap_or_default();
    let outcome = if code == 0 {
        KdcOutcome::Issued(KdcIssued {
            crealm: realm.clone(),
            cname: user.to_owned(),
            ticket: TicketInfo {
                realm: realm.clone(),
                sname,
                etype: etype(d).unwrap_or(EncryptionType(0)),
                kvno: None,
                id: String::new(),
            },
            reply_etype: etype(d).unwrap_or(EncryptionType(0)),
            padata: Vec::new(),
        })
    } else {
        failure(code, &realm, sname, user)
    };
    KerberosExchange { request: Some(request), outcome }
}

/// What a KDC event says of the request: realm, service, options and pre-authentication;
/// not the offered encryption types, nonce or addresses, which the event does not carry.
fn logged_request(d: &EventData, realm: &str, sname: String, padata: Vec<PaDataType>) -> KdcRequest {
    KdcRequest {
        realm: realm.to_owned(),
        cname: None,
        sname: Some(sname),
        kdc_options: KdcOptions(u32_field(d, "TicketOptions").unwrap_or_default()),
        etypes: Vec::new(),
        padata,
        enc_timestamp_etype: None,
        pac_request: None,
        fast_armor: false,
        pkinit: false,
        addresses: Vec::new(),
        till: None,
        nonce: 0,
        presented_ticket: None,
        authenticator_etype: None,
        enc_authorization_data: false,
        additional_tickets: 0,
    }
}

fn failure(code: u32, realm: &str, sname: String, user: &str) -> KdcOutcome {
    let code = KerberosErrorCode(i32::try_from(code).unwrap_or(60));
    KdcOutcome::Failed(KdcFailure {
        code,
        name: code.name(),
        etext: None,
        realm: realm.to_owned(),
        sname,
        cname: Some(user.to_owned()),
    })
}

/// `krbtgt` → `krbtgt/REALM`; SPNs and account names stay as they are.
fn slash_realm(service: &str, realm: &str) -> String {
    if service.eq_ignore_ascii_case("krbtgt") { format!("krbtgt/{realm}") } else { service.to_owned() }
}

/// 4769: the client is `user@REALM`, the service an account name (`sql01$`, `svc_sql`) or SPN.
fn service_ticket_exchange(d: &EventData) -> KerberosExchange {
    let client = d.get("TargetUserName").unwrap_or_default();
    let (user, realm) = client.split_once('@').unwrap_or((client, ""));
    let realm = d.get("TargetDomainName").unwrap_or(realm).to_ascii_uppercase();
    let service = d.get("ServiceName").unwrap_or_default().to_owned();
    let request = logged_request(d, &realm, service.clone(), vec![PaDataType::TGS_REQ]);
    let code = u32_field(d, "Status").unwrap_or_default();
    let outcome = if code == 0 {
        let ticket_etype = etype(d).unwrap_or(EncryptionType(0));
        KdcOutcome::Issued(KdcIssued {
            crealm: realm.clone(),
            cname: user.to_owned(),
            ticket: TicketInfo {
                realm: realm.clone(),
                sname: service,
                etype: ticket_etype,
                kvno: None,
                id: String::new(),
            },
            reply_etype: ticket_etype,
            padata: Vec::new(),
        })
    } else {
        failure(code, &realm, service, user)
    };
    KerberosExchange { request: Some(request), outcome }
}

fn ntlm(d: &EventData) -> NtlmAuthentication {
    let code = u32_field(d, "Status").unwrap_or_default();
    let via = match d.get("Carrier") {
        Some("SMB2" | "SMB") => Carrier::Smb,
        Some("LDAP") => Carrier::Ldap,
        Some("DCE/RPC") => Carrier::Rpc,
        _ => Carrier::Unknown,
    };
    let response = match d.get("NtlmVersion") {
        Some("NTLMv2") => NtlmResponse::V2,
        Some("NTLMv1") => NtlmResponse::V1,
        _ => NtlmResponse::Unknown,
    };
    NtlmAuthentication {
        via,
        user: d.get("TargetUserName").unwrap_or_default().to_owned(),
        domain: d.get("TargetDomainName").unwrap_or_default().to_owned(),
        workstation: d.get("Workstation").unwrap_or_default().trim_start_matches('\\').to_owned(),
        response,
        client_time: None,
        mic: false,
        target_name: None,
        server_name: None,
        channel_bindings: false,
        mic_missing: false,
        os_version: None,
        outcome: outcome(code),
    }
}

/// 8004 (Microsoft-Windows-NTLM/Operational, "Audit NTLM authentication in this domain"):
/// who authenticated with NTLM through which server, not whether it worked.
fn ntlm_audit(d: &EventData) -> NtlmAuthentication {
    NtlmAuthentication {
        via: Carrier::Unknown,
        user: d.get("UserName").unwrap_or_default().to_owned(),
        domain: d.get("DomainName").unwrap_or_default().to_owned(),
        workstation: d.get("WorkstationName").unwrap_or_default().trim_start_matches('\\').to_owned(),
        response: NtlmResponse::Unknown,
        client_time: None,
        mic: false,
        target_name: d.get("SChannelName").map(str::to_owned),
        server_name: None,
        channel_bindings: false,
        mic_missing: false,
        os_version: None,
        outcome: AuthOutcome::Unknown,
    }
}

fn outcome(code: u32) -> AuthOutcome {
    if code == 0 { AuthOutcome::Succeeded } else { AuthOutcome::Failed { status: NtStatus(code) } }
}

fn logon(d: &EventData, failed: bool) -> Logon {
    // 4625 puts the precise reason in SubStatus when Status is the generic LOGON_FAILURE.
    let code = match (u32_field(d, "Status"), u32_field(d, "SubStatus")) {
        (Some(0xc000_006d), Some(sub)) if sub != 0 => sub,
        (Some(code), _) => code,
        (None, Some(sub)) => sub,
        (None, None) => 0xc000_006d,
    };
    Logon {
        account: target(d),
        logon_type: u32_field(d, "LogonType"),
        package: owned(d.get("AuthenticationPackageName")),
        process: owned(d.get("ProcessName").or_else(|| d.get("LogonProcessName"))),
        subject: None,
        target_server: None,
        outcome: if failed { outcome(code) } else { AuthOutcome::Succeeded },
    }
}

fn directory_change(event_id: u32, d: &EventData) -> DirectoryChange {
    let operation = match event_id {
        5137 => DirectoryOperation::Created,
        5139 => DirectoryOperation::Moved,
        5141 => DirectoryOperation::Deleted,
        _ => DirectoryOperation::Modified,
    };
    let value_added = (event_id == 5136).then(|| {
        let op = d.get("OperationType").unwrap_or_default();
        // `%%14674` Value Added, `%%14675` Value Deleted.
        op.contains("14674") || op.eq_ignore_ascii_case("Value Added")
    });
    DirectoryChange {
        subject: subject(d),
        operation,
        dn: d.get("ObjectDN").or_else(|| d.get("NewObjectDN")).unwrap_or_default().to_owned(),
        class: owned(d.get("ObjectClass")),
        attribute: owned(d.get("AttributeLDAPDisplayName")),
        value: owned(d.get("AttributeValue")),
        value_added,
    }
}

fn account_change(event_id: u32, d: &EventData) -> AccountChange {
    let action = match event_id {
        4720 | 4741 => AccountAction::Created,
        4722 => AccountAction::Enabled,
        4723 => AccountAction::PasswordChanged,
        4724 | 4794 => AccountAction::PasswordReset,
        4725 => AccountAction::Disabled,
        4726 | 4743 => AccountAction::Deleted,
        4740 => AccountAction::LockedOut,
        4767 => AccountAction::Unlocked,
        4765 => AccountAction::SidHistoryAdded,
        4781 => AccountAction::Renamed,
        4727 | 4731 | 4754 => AccountAction::GroupCreated,
        4735 | 4737 | 4755 => AccountAction::GroupChanged,
        4730 | 4734 | 4758 => AccountAction::GroupDeleted,
        _ => AccountAction::Changed,
    };
    let group = matches!(event_id, 4727 | 4731 | 4754 | 4735 | 4737 | 4755 | 4730 | 4734 | 4758);
    let mut target = match event_id {
        4781 => AccountRef {
            name: d.get("NewTargetUserName").unwrap_or_default().to_owned(),
            domain: owned(d.get("TargetDomainName")),
            sid: owned(d.get("TargetSid")),
        },
        // 4794 names the DSRM administrator of the DC that logged it; the actor is the subject.
        4794 => AccountRef { name: "DSRM Administrator".to_owned(), domain: None, sid: None },
        _ => target(d),
    };
    if target.name.is_empty() {
        target.name = d.get("ObjectDN").map(crate::samba::first_rdn).unwrap_or_default();
    }
    let changes = CHANGE_FIELDS
        .iter()
        .filter_map(|f| {
            d.get(f).filter(|v| !v.starts_with("%%1793")).map(|v| ((*f).to_owned(), v.to_owned()))
        })
        .collect();
    AccountChange {
        subject: subject(d),
        action,
        computer: !group && (matches!(event_id, 4741..=4743) || target.name.ends_with('$')),
        target,
        changes,
    }
}

/// `%{19195a5b-6da0-11d0-afd3-00c04fd930c9}` → the GUID; other text as it is.
fn guid_or_text(text: &str) -> String {
    // Only a GUID alone: a name that holds one (`Policy\Secrets\G$BCKUPKEY_<guid>`) stays a name.
    let bare = text.trim().trim_start_matches('%').trim_start_matches('{').trim_end_matches('}');
    if is_guid(bare) { bare.to_ascii_lowercase() } else { text.to_owned() }
}

/// Every GUID in a 4662 Properties field, lower-case, without braces or `%`.
pub fn guids(text: &str) -> Vec<String> {
    let mut found = Vec::new();
    let bytes = text.as_bytes();
    let mut i = 0;
    while i + 36 <= bytes.len() {
        let candidate = text.get(i..i + 36).unwrap_or_default();
        if is_guid(candidate) {
            found.push(candidate.to_ascii_lowercase());
            i += 36;
        } else {
            i += 1;
        }
    }
    found
}

fn is_guid(text: &str) -> bool {
    text.len() == 36
        && text.bytes().enumerate().all(|(i, b)| match i {
            8 | 13 | 18 | 23 => b == b'-',
            _ => b.is_ascii_hexdigit(),
        })
}

#[cfg(test)]
#[path = "map_tests.rs"]
mod tests;
