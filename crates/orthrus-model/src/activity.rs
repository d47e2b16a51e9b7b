use std::fmt;
use std::net::IpAddr;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::{
    DnsQuery, FileAccess, KerberosExchange, KerberosServiceAccess, LdapBind, LdapChange, LdapSearch,
    NetbiosName, NtlmAuthentication, RdpConnection, RpcCall, ShareAccess, SmbEncryptedSession,
    SmbNegotiation, Timestamp, TlsSession,
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

/// Where a fact was seen: a frame of a capture file (1-based, as Wireshark numbers them).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Provenance {
    pub file: Arc<str>,
    pub frame: u64,
}

impl Provenance {
    pub fn frame(file: &str, frame: u64) -> Self {
        Self { file: Arc::from(file), frame }
    }
}

impl fmt::Display for Provenance {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}#{}", self.file, self.frame)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Endpoint {
    pub ip: IpAddr,
    pub port: u16,
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
    /// The client side: who asked.
    pub source: Endpoint,
    /// The server side: who was asked (a domain controller for Kerberos).
    pub destination: Endpoint,
    pub transport: Transport,
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
    /// A remote procedure call.
    RpcCalled(RpcCall),
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
    /// An RDP connection request with its cookie.
    RdpConnectionRequested(RdpConnection),
    /// A TLS session on a directory port (handshake metadata).
    TlsSessionStarted(TlsSession),
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
            ActivityKind::RpcCalled(_) => "rpc_called",
            ActivityKind::LdapBound(_) => "ldap_bound",
            ActivityKind::LdapSearched(_) => "ldap_searched",
            ActivityKind::LdapChanged(_) => "ldap_changed",
            ActivityKind::DnsQueried(_) => "dns_queried",
            ActivityKind::SmbNegotiated(_) => "smb_negotiated",
            ActivityKind::NetbiosNameSeen(_) => "netbios_name_seen",
            ActivityKind::RdpConnectionRequested(_) => "rdp_connection_requested",
            ActivityKind::TlsSessionStarted(_) => "tls_session_started",
        }
    }
}
