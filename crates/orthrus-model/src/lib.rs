//! The contract between Orthrus's two halves.
//!
//! Decoders turn bytes into [`Activity`] values (small, serializable facts: who did what to
//! whom, when, seen where); detections turn activities into [`Alert`]s. Neither half knows
//! the other's internals: a detection that needs a packet field gets it added here.
//!
//! ```
//! use orthrus_model::{Timestamp, Provenance};
//! let t = Timestamp::from_micros(1_764_000_000_000_000);
//! assert_eq!(t.to_string(), "2025-11-24T16:00:00Z");
//! let p = Provenance::frame("kerberoast.pcap", 38);
//! assert_eq!(p.to_string(), "kerberoast.pcap#38");
//! ```

mod activity;
mod alert;
mod directory;
mod host;
mod kerberos;
pub mod ldap_filter;
pub mod private_file;
mod sensor;
mod time;
mod windows;

/// FNV-1a, 64 bit, over several byte strings in turn: a stable, dependency-free fingerprint
/// for ids that must be the same run after run. Not a security hash.
pub fn fnv1a64(parts: &[&[u8]]) -> u64 {
    parts
        .iter()
        .flat_map(|part| part.iter())
        .fold(0xcbf2_9ce4_8422_2325, |h, b| (h ^ u64::from(*b)).wrapping_mul(0x0000_0100_0000_01b3))
}

pub use activity::{Activity, ActivityKind, Endpoint, Position, Provenance, SourceId, TenantId, Transport};
pub use alert::{
    Alert, AlertMeta, AlertSource, AlertTargets, AlertText, EntityRole, Evidence, InvolvedEntity, KILL_CHAIN,
    Mitre, NameResolutionNote, Severity, kill_chain_position, tactic_name,
};
pub use directory::{
    DnsQuery, LdapBind, LdapChange, LdapResultCode, LdapSearch, TlsSession, ldap_result_name,
};
pub use host::{
    AccountAction, AccountChange, AccountRef, DirectoryAccess, DirectoryChange, DirectoryOperation,
    GroupChange, LogCleared, Logon, PrivilegedLogon, ProcessConnection, ProcessStart, SamObjectAccess,
    ServiceInstall, TaskRegistration, TrustChange, TrustOperation,
};
pub use kerberos::{
    EncryptionType, KdcFailure, KdcIssued, KdcOptions, KdcOutcome, KdcRequest, KerberosErrorCode,
    KerberosExchange, PaDataType, TicketInfo,
};
pub use ldap_filter::{AssertionKind, LdapAssertion};
pub use sensor::Heartbeat;
pub use time::Timestamp;
pub use windows::{
    AuthOutcome, BackupKeyAction, Carrier, FileAccess, FileRead, HttpRequest, KerberosServiceAccess,
    NameLookup, NetbiosName, NtStatus, NtlmAuthentication, NtlmResponse, PolicyFileWrite, RdpConnection,
    RpcAuth, RpcBindRefusal, RpcCall, RpcDetail, SessionEntry, ShareAccess, SmbEncryptedSession,
    SmbNegotiation,
};
