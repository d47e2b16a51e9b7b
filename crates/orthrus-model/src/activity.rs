use std::fmt;
use std::net::IpAddr;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::{
    AccountChange, DirectoryAccess, DirectoryChange, DnsQuery, FileAccess, FileRead, GroupChange,
    HttpRequest, KerberosExchange, KerberosServiceAccess, LdapBind, LdapChange, LdapSearch, LogCleared,
    Logon, NameLookup, NetbiosName, NtlmAuthentication, PolicyFileWrite, PrivilegedLogon, ProcessConnection,
    ProcessStart, RdpConnection, RpcBindRefusal, RpcCall, SamObjectAccess, ServiceInstall, ShareAccess,
    SmbEncryptedSession, SmbNegotiation, TaskRegistration, Timestamp, TlsSession, TrustChange,
};

/// The organisation an activity belongs to. Offline analysis uses `default`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct TenantId(pub Arc<str>);

impl Default for TenantId {
    fn default() -> Self {
        Self(Arc::from("default"))
    }
}

impl fmt::Display for TenantId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Where a fact was seen: a frame of a capture file (1-based, as Wireshark numbers them) or a
/// record of an event log (its EventRecordID, or its line when the log has no record ids).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Provenance {
    pub file: Arc<str>,
    #[serde(flatten)]
    pub at: Position,
}

/// A place inside an input file. Serialized as `"frame": 38` or `"record": 120077`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Position {
    Frame(u64),
    Record(u64),
    /// Line of a text log (JSON lines, syslog) whose events carry no record id.
    Line(u64),
}

impl Provenance {
    pub fn frame(file: &str, frame: u64) -> Self {
        Self { file: Arc::from(file), at: Position::Frame(frame) }
    }

    pub fn record(file: Arc<str>, at: Position) -> Self {
        Self { file, at }
    }

    /// The capture frame number, when this points into a capture.
    pub fn frame_number(&self) -> Option<u64> {
        match self.at {
            Position::Frame(n) => Some(n),
            _ => None,
        }
    }
}

impl fmt::Display for Provenance {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.at {
            Position::Frame(n) => write!(f, "{}#{n}", self.file),
            Position::Record(n) => write!(f, "{} record {n}", self.file),
            Position::Line(n) => write!(f, "{} line {n}", self.file),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Endpoint {
    pub ip: IpAddr,
    pub port: u16,
}

/// Who an activity is charged to when counting per source: its network address when known,
/// else the computer name the event gave (a claim, not proof), else nothing.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SourceId {
    Ip(IpAddr),
    Host(Arc<str>),
    Unknown,
}

impl SourceId {
    pub fn ip(&self) -> Option<IpAddr> {
        match self {
            SourceId::Ip(ip) => Some(*ip),
            _ => None,
        }
    }
}

impl fmt::Display for SourceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SourceId::Ip(ip) => write!(f, "{ip}"),
            SourceId::Host(h) => f.write_str(h),
            SourceId::Unknown => f.write_str("an unknown source"),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Transport {
    Tcp,
    Udp,
}

/// One normalized fact: who did what to whom, when, and where it was seen.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Activity {
    /// Event time of the first message of the exchange.
    pub time: Timestamp,
    pub tenant: TenantId,
    /// The sensor (or, offline, the tool) that observed it.
    pub sensor: Arc<str>,
    /// The client side: who asked. Absent when an event recorded no address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<Endpoint>,
    /// The server side: who was asked (a domain controller for Kerberos).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub destination: Option<Endpoint>,
    /// Absent for activities from event logs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transport: Option<Transport>,
    /// The client computer's name as the event claimed it (workstation field), upper-cased.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_host: Option<Arc<str>>,
    /// The computer that logged the event (a domain controller for most events Orthrus uses).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub destination_host: Option<Arc<str>>,
    /// Every frame or record the activity was built from, request first.
    pub provenance: Vec<Provenance>,
    #[serde(flatten)]
    pub kind: ActivityKind,
}

/// What the identity did. Named for the identity's action, not for the packet.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "activity", rename_all = "snake_case")]
pub enum ActivityKind {
    /// A Kerberos AS exchange: a client asked the KDC for a ticket-granting ticket.
    TgtRequested(KerberosExchange),
    /// A Kerberos TGS exchange: a client presented a TGT and asked for a service ticket.
    ServiceTicketRequested(KerberosExchange),
    /// An NTLM authentication to a service (SMB, LDAP, DCE-RPC, HTTP) and its result.
    NtlmAuthenticated(NtlmAuthentication),
    /// A Kerberos service ticket presented to a service (AP-REQ) and its result.
    ServiceAccessed(KerberosServiceAccess),
    /// An SMB3 session went encrypted: its activity cannot be read.
    SmbSessionEncrypted(SmbEncryptedSession),
    /// An SMB share opened.
    ShareOpened(ShareAccess),
    /// An SMB file or named pipe opened.
    FileOpened(FileAccess),
    /// A Group Policy registry file written (its settings read from the write).
    PolicyFileWritten(PolicyFileWrite),
    /// Data read from a file over SMB (reported when the file is closed).
    FileRead(FileRead),
    /// A remote procedure call.
    RpcCalled(RpcCall),
    /// An RPC interface the server refused to bind.
    RpcBindRefused(RpcBindRefusal),
    /// An LDAP bind and its result.
    LdapBound(LdapBind),
    /// An LDAP search and its result.
    LdapSearched(LdapSearch),
    /// An LDAP add, modify, delete, modify-DN or extended operation.
    LdapChanged(LdapChange),
    /// A DNS query (or dynamic update, or zone transfer) and its answer.
    DnsQueried(DnsQuery),
    /// An SMB dialect negotiation (SMB1 offered or chosen: legacy protocol).
    SmbNegotiated(SmbNegotiation),
    /// A NetBIOS name service message: a name claimed, asked for or answered.
    NetbiosNameSeen(NetbiosName),
    /// A reverse (PTR) lookup the sensor made itself for an address it saw, and the name the
    /// DNS server gave (MDI's reverse-DNS name resolution).
    NameLookedUp(NameLookup),
    /// An HTTP request that authenticated, and its answer.
    HttpRequested(HttpRequest),
    /// An RDP connection request with its cookie.
    RdpConnectionRequested(RdpConnection),
    /// A TLS session on a directory port (handshake metadata).
    TlsSessionStarted(TlsSession),
    /// A logon session created or refused on the computer that logged it (4624 / 4625).
    LoggedOn(Logon),
    /// A logon session ended (4634).
    LoggedOff(Logon),
    /// A process logged on with explicitly supplied credentials (4648).
    ExplicitCredentialsUsed(Logon),
    /// Administrator-equivalent privileges given to a new logon (4672).
    PrivilegesAssigned(PrivilegedLogon),
    /// An operation on a directory object, with the rights used (4662).
    DirectoryObjectAccessed(DirectoryAccess),
    /// A directory object created, modified, moved or deleted (5136 / 5137 / 5139 / 5141).
    DirectoryObjectChanged(DirectoryChange),
    /// A SAM object opened or enumerated, as the computer that answered logged it (4661 /
    /// 4798 / 4799).
    SamObjectOpened(SamObjectAccess),
    /// A member added to or removed from a security group.
    GroupMembershipChanged(GroupChange),
    /// A user or computer account created, changed, enabled, disabled, deleted, locked.
    AccountChanged(AccountChange),
    /// A domain or forest trust created or changed, or a forest trust's records changed
    /// (4706 / 4716 / 4865–4867; Samba's audit of a trusted domain object added).
    TrustChanged(TrustChange),
    /// A service installed on the computer that logged it.
    ServiceInstalled(ServiceInstall),
    /// A scheduled task registered on the computer that logged it.
    TaskScheduled(TaskRegistration),
    /// An event log cleared.
    LogCleared(LogCleared),
    /// A process started.
    ProcessStarted(ProcessStart),
    /// A process made or accepted a network connection (Sysmon 3).
    ProcessConnected(ProcessConnection),
}

impl Activity {
    pub fn source_ip(&self) -> Option<IpAddr> {
        self.source.map(|e| e.ip)
    }

    /// What per-source counting keys on: the address, else the claimed computer name.
    pub fn source_id(&self) -> SourceId {
        match (&self.source, &self.source_host) {
            (Some(e), _) => SourceId::Ip(e.ip),
            (None, Some(host)) => SourceId::Host(host.clone()),
            (None, None) => SourceId::Unknown,
        }
    }

    /// The accounts the activity names (the acting one first), as they appear: what an
    /// entity's timeline is built from.
    pub fn accounts(&self) -> Vec<String> {
        let refs = |list: &[Option<&crate::AccountRef>]| -> Vec<String> {
            list.iter().flatten().filter(|a| !a.name.is_empty()).map(|a| a.qualified()).collect()
        };
        let mut out = match &self.kind {
            ActivityKind::TgtRequested(ex) | ActivityKind::ServiceTicketRequested(ex) => ex
                .client()
                .map(|c| match ex.client_realm() {
                    Some(realm) => format!("{c}@{realm}"),
                    None => c.to_owned(),
                })
                .into_iter()
                .collect(),
            ActivityKind::NtlmAuthenticated(n) if !n.user.is_empty() => {
                vec![if n.domain.is_empty() { n.user.clone() } else { format!("{}\\{}", n.domain, n.user) }]
            }
            ActivityKind::RpcCalled(c) => c.user.iter().cloned().collect(),
            ActivityKind::ShareOpened(s) => s.user.iter().cloned().collect(),
            ActivityKind::FileOpened(f) => f.user.iter().cloned().collect(),
            ActivityKind::FileRead(f) => f.user.iter().cloned().collect(),
            ActivityKind::HttpRequested(r) => r.user.iter().cloned().collect(),
            ActivityKind::LdapBound(b) if !b.name.is_empty() => vec![b.name.clone()],
            ActivityKind::LdapSearched(s) => s.user.iter().cloned().collect(),
            ActivityKind::LdapChanged(c) => c.user.iter().cloned().collect(),
            ActivityKind::LoggedOn(l)
            | ActivityKind::LoggedOff(l)
            | ActivityKind::ExplicitCredentialsUsed(l) => refs(&[Some(&l.account), l.subject.as_ref()]),
            ActivityKind::PrivilegesAssigned(p) => refs(&[Some(&p.account)]),
            ActivityKind::DirectoryObjectAccessed(d) => refs(&[Some(&d.subject)]),
            ActivityKind::DirectoryObjectChanged(d) => refs(&[Some(&d.subject)]),
            ActivityKind::SamObjectOpened(s) => refs(&[Some(&s.subject)]),
            ActivityKind::GroupMembershipChanged(g) => refs(&[Some(&g.subject), Some(&g.member)]),
            ActivityKind::AccountChanged(a) => refs(&[Some(&a.subject), Some(&a.target)]),
            ActivityKind::TrustChanged(t) => refs(&[Some(&t.subject)]),
            ActivityKind::ServiceInstalled(s) => refs(&[s.subject.as_ref()]),
            ActivityKind::TaskScheduled(t) => refs(&[Some(&t.subject)]),
            ActivityKind::LogCleared(l) => refs(&[l.subject.as_ref()]),
            ActivityKind::ProcessStarted(p) => refs(&[p.user.as_ref()]),
            ActivityKind::ProcessConnected(p) => refs(&[p.user.as_ref()]),
            _ => Vec::new(),
        };
        out.dedup();
        out
    }

    /// Whether the activity came from an event log rather than from the wire.
    pub fn from_event_log(&self) -> bool {
        self.provenance.first().is_some_and(|p| p.frame_number().is_none())
    }
}

impl ActivityKind {
    pub fn name(&self) -> &'static str {
        match self {
            ActivityKind::TgtRequested(_) => "tgt_requested",
            ActivityKind::ServiceTicketRequested(_) => "service_ticket_requested",
            ActivityKind::NtlmAuthenticated(_) => "ntlm_authenticated",
            ActivityKind::ServiceAccessed(_) => "service_accessed",
            ActivityKind::SmbSessionEncrypted(_) => "smb_session_encrypted",
            ActivityKind::ShareOpened(_) => "share_opened",
            ActivityKind::FileOpened(_) => "file_opened",
            ActivityKind::PolicyFileWritten(_) => "policy_file_written",
            ActivityKind::FileRead(_) => "file_read",
            ActivityKind::RpcCalled(_) => "rpc_called",
            ActivityKind::RpcBindRefused(_) => "rpc_bind_refused",
            ActivityKind::LdapBound(_) => "ldap_bound",
            ActivityKind::LdapSearched(_) => "ldap_searched",
            ActivityKind::LdapChanged(_) => "ldap_changed",
            ActivityKind::DnsQueried(_) => "dns_queried",
            ActivityKind::SmbNegotiated(_) => "smb_negotiated",
            ActivityKind::NetbiosNameSeen(_) => "netbios_name_seen",
            ActivityKind::NameLookedUp(_) => "name_looked_up",
            ActivityKind::HttpRequested(_) => "http_requested",
            ActivityKind::RdpConnectionRequested(_) => "rdp_connection_requested",
            ActivityKind::TlsSessionStarted(_) => "tls_session_started",
            ActivityKind::LoggedOn(_) => "logged_on",
            ActivityKind::LoggedOff(_) => "logged_off",
            ActivityKind::ExplicitCredentialsUsed(_) => "explicit_credentials_used",
            ActivityKind::PrivilegesAssigned(_) => "privileges_assigned",
            ActivityKind::DirectoryObjectAccessed(_) => "directory_object_accessed",
            ActivityKind::DirectoryObjectChanged(_) => "directory_object_changed",
            ActivityKind::SamObjectOpened(_) => "sam_object_opened",
            ActivityKind::GroupMembershipChanged(_) => "group_membership_changed",
            ActivityKind::AccountChanged(_) => "account_changed",
            ActivityKind::ServiceInstalled(_) => "service_installed",
            ActivityKind::TaskScheduled(_) => "task_scheduled",
            ActivityKind::LogCleared(_) => "log_cleared",
            ActivityKind::TrustChanged(_) => "trust_changed",
            ActivityKind::ProcessStarted(_) => "process_started",
            ActivityKind::ProcessConnected(_) => "process_connected",
        }
    }
}
