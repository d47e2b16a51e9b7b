//! Facts only Windows event logs tell: logons as the server recorded them, directory object
//! access and changes, group and account changes, services and tasks created, logs cleared,
//! processes started. Where an event means the same as something seen on the wire (a TGT
//! request, an NTLM validation, a share opened), it becomes that activity instead.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::AuthOutcome;

/// An account as an event names it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountRef {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub domain: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sid: Option<String>,
}

impl AccountRef {
    /// `DOMAIN\name`, or `name` alone.
    pub fn qualified(&self) -> String {
        match &self.domain {
            Some(d) if !d.is_empty() => format!("{d}\\{}", self.name),
            _ => self.name.clone(),
        }
    }

    /// A machine account (`NAME$`).
    pub fn is_machine(&self) -> bool {
        self.name.ends_with('$')
    }

    /// The anonymous logon (S-1-5-7), as Zerologon's password reset shows it.
    pub fn is_anonymous(&self) -> bool {
        self.sid.as_deref() == Some("S-1-5-7") || self.name.eq_ignore_ascii_case("ANONYMOUS LOGON")
    }
}

/// A logon session created, refused, or ended on the computer that logged it
/// (4624 / 4625 / 4634), or a process using explicit credentials (4648).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Logon {
    pub account: AccountRef,
    /// 2 interactive, 3 network, 4 batch, 5 service, 7 unlock, 8 network cleartext,
    /// 9 new credentials, 10 remote interactive, 11 cached.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logon_type: Option<u32>,
    /// NTLM, Kerberos, Negotiate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub package: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub process: Option<String>,
    /// 4648: who used the explicit credentials, and for which server.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<AccountRef>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_server: Option<String>,
    #[serde(flatten)]
    pub outcome: AuthOutcome,
}

/// Special privileges assigned to a new logon (4672): an administrator-equivalent session.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PrivilegedLogon {
    pub account: AccountRef,
    pub privileges: Vec<String>,
}

/// An operation on a directory object (4662): who, which object, which rights or properties.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DirectoryAccess {
    pub subject: AccountRef,
    /// Object class as a schema GUID or name (`domainDNS` is `19195a5b-…`).
    pub object_type: String,
    pub object_name: String,
    /// Control-access rights and property GUIDs named by the event, lower-case, no braces.
    pub properties: Vec<String>,
    pub access_mask: u32,
}

/// SAM-R as the computer that answered it logged it: a handle to a SAM object opened (4661:
/// the server, a domain, a group, a local group, a user), or a local group's members or a
/// user's local groups enumerated (4799 / 4798). The event names no client address.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SamObjectAccess {
    pub subject: AccountRef,
    /// `SAM_SERVER`, `SAM_DOMAIN`, `SAM_GROUP`, `SAM_ALIAS` or `SAM_USER` (4798 and 4799 give
    /// `SAM_USER` and `SAM_ALIAS`).
    pub object_type: String,
    /// The object's SID or DN as the event gives it (`S-1-5-21-…-512`, `DC=corp,DC=example`).
    pub object: String,
    /// The object's name, where the event gives one (4798/4799: `Administrators`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub object_name: Option<String>,
    /// 4661's rights requested; 0 for 4798/4799.
    #[serde(default)]
    pub access_mask: u32,
    /// 4798/4799's calling process, when local (`C:\Windows\System32\net1.exe`); none when
    /// the call came over the network.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub process: Option<String>,
    /// What was done: `opened` (4661), `members enumerated` (4799), `groups enumerated` (4798).
    pub operation: String,
}

/// What happened to a trust.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TrustOperation {
    /// 4706 (Samba: a trusted domain object added).
    Created,
    /// 4716: its type, direction or attributes changed.
    Modified,
    /// 4865: a forest trust record (a top-level name, a domain) added.
    ForestRecordAdded,
    /// 4866.
    ForestRecordRemoved,
    /// 4867.
    ForestRecordModified,
}

/// A trust to another domain or forest created or changed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrustChange {
    pub subject: AccountRef,
    pub operation: TrustOperation,
    /// The other domain or forest (DNS name, else NetBIOS), as the event names it.
    pub domain: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub domain_sid: Option<String>,
    /// `trustDirection` (MS-ADTS 6.1.6.7.12): 1 inbound, 2 outbound, 3 both; none when the
    /// event does not give it (unchanged, or a forest record).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub direction: Option<u32>,
    /// `trustType` (MS-ADTS 6.1.6.7.15): 1 downlevel, 2 uplevel (AD), 3 MIT Kerberos realm.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trust_type: Option<u32>,
    /// `trustAttributes` (MS-ADTS 6.1.6.7.9).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attributes: Option<u32>,
    /// 4865–4867: the record's top-level name or domain.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub record: Option<String>,
}

/// What a directory change did to its object.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DirectoryOperation {
    /// 5136: an attribute value added or deleted.
    Modified,
    /// 5137.
    Created,
    /// 5139.
    Moved,
    /// 5141.
    Deleted,
}

/// A directory object changed (5136 / 5137 / 5139 / 5141).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DirectoryChange {
    pub subject: AccountRef,
    pub operation: DirectoryOperation,
    pub dn: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub class: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attribute: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    /// 5136: whether the value was added (`true`) or deleted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value_added: Option<bool>,
}

/// A member added to or removed from a security group (4728/4729, 4732/4733, 4756/4757).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GroupChange {
    pub subject: AccountRef,
    pub added: bool,
    pub group: AccountRef,
    /// The member's distinguished name (or name) and SID.
    pub member: AccountRef,
    /// `global`, `local` (domain-local or built-in) or `universal`.
    pub scope: String,
}

/// What an account change was.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AccountAction {
    Created,
    Enabled,
    PasswordChanged,
    PasswordReset,
    Disabled,
    Deleted,
    Changed,
    LockedOut,
    Unlocked,
    Renamed,
    SidHistoryAdded,
    /// A security group created (4727 global, 4731 local, 4754 universal).
    GroupCreated,
    /// A security group's attributes changed (4737, 4735, 4755): `changes` holds its new
    /// `SamAccountName` when it was renamed.
    GroupChanged,
    /// A security group deleted (4730 global, 4734 local, 4758 universal).
    GroupDeleted,
}

/// A user, computer or security group account created or changed (4720–4726, 4738,
/// 4740–4743, 4765, 4767, 4781; groups: 4727/4731/4754 created, 4735/4737/4755 changed,
/// 4730/4734/4758 deleted).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AccountChange {
    pub subject: AccountRef,
    pub action: AccountAction,
    pub target: AccountRef,
    pub computer: bool,
    /// Attributes the event reports as set (4738/4742: `UserAccountControl`,
    /// `ServicePrincipalNames`, `SidHistory`, …; 4781: `OldTargetUserName`). Values `-` (not
    /// changed) are left out.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub changes: BTreeMap<String, String>,
}

/// A service installed (System 7045, Security 4697).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ServiceInstall {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<AccountRef>,
    pub name: String,
    pub image_path: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_type: Option<String>,
    /// The account the service runs as.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_as: Option<String>,
}

/// A scheduled task registered (4698).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TaskRegistration {
    pub subject: AccountRef,
    pub name: String,
    /// `<Command> <Arguments>` of the task's exec actions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<String>,
}

/// An event log cleared (Security 1102, System 104).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LogCleared {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<AccountRef>,
    pub channel: String,
}

/// A process started (Security 4688, Sysmon 1).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ProcessStart {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<AccountRef>,
    pub image: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command_line: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent_image: Option<String>,
}

/// A network connection made by a process (Sysmon 3); the envelope carries the addresses.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ProcessConnection {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<AccountRef>,
    pub image: String,
    pub initiated: bool,
}
