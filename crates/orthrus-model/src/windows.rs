//! Facts from the Windows protocols after Kerberos's KDC exchange: NTLM and Kerberos
//! authentication to a service (inside SMB, LDAP, DCE-RPC), SMB share and file access, and
//! remote procedure calls.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::{EncryptionType, Timestamp};

/// The application protocol that carried an authentication or a call.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Carrier {
    Smb,
    Ldap,
    /// DCE-RPC straight over TCP (endpoint mapper and dynamic ports).
    Rpc,
    Http,
    /// Not recorded: an event log says the authentication happened, not how it arrived
    /// (4776 covers NTLM over any protocol, including pass-through from other servers).
    Unknown,
}

/// An NT status code (MS-ERREF §2.3). Serialized as `0xc000006d`.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NtStatus(pub u32);

impl NtStatus {
    pub const SUCCESS: Self = Self(0);
    pub const PENDING: Self = Self(0x0000_0103);
    pub const BUFFER_OVERFLOW: Self = Self(0x8000_0005);
    pub const MORE_PROCESSING_REQUIRED: Self = Self(0xc000_0016);
    pub const LOGON_FAILURE: Self = Self(0xc000_006d);
    pub const NO_SUCH_USER: Self = Self(0xc000_0064);
    pub const WRONG_PASSWORD: Self = Self(0xc000_006a);
    pub const ACCOUNT_LOCKED_OUT: Self = Self(0xc000_0234);
    pub const ACCESS_DENIED: Self = Self(0xc000_0022);

    pub fn is_error(self) -> bool {
        self.0 >> 30 == 3
    }

    pub fn name(self) -> Option<&'static str> {
        Some(match self.0 {
            0 => "STATUS_SUCCESS",
            0xc000_0016 => "STATUS_MORE_PROCESSING_REQUIRED",
            0xc000_0022 => "STATUS_ACCESS_DENIED",
            0xc000_0034 => "STATUS_OBJECT_NAME_NOT_FOUND",
            0xc000_0064 => "STATUS_NO_SUCH_USER",
            0xc000_006a => "STATUS_WRONG_PASSWORD",
            0xc000_006d => "STATUS_LOGON_FAILURE",
            0xc000_006e => "STATUS_ACCOUNT_RESTRICTION",
            0xc000_006f => "STATUS_INVALID_LOGON_HOURS",
            0xc000_0070 => "STATUS_INVALID_WORKSTATION",
            0xc000_0071 => "STATUS_PASSWORD_EXPIRED",
            0xc000_0072 => "STATUS_ACCOUNT_DISABLED",
            0xc000_00cc => "STATUS_BAD_NETWORK_NAME",
            0xc000_015b => "STATUS_LOGON_TYPE_NOT_GRANTED",
            0xc000_0193 => "STATUS_ACCOUNT_EXPIRED",
            0xc000_0224 => "STATUS_PASSWORD_MUST_CHANGE",
            0xc000_0234 => "STATUS_ACCOUNT_LOCKED_OUT",
            0xc000_0133 => "STATUS_TIME_DIFFERENCE_AT_DC",
            0xc000_018b => "STATUS_NO_TRUST_SAM_ACCOUNT",
            0xc000_0413 => "STATUS_AUTHENTICATION_FIREWALL_FAILED",
            _ => return None,
        })
    }
}

impl fmt::Debug for NtStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(n) => f.write_str(n),
            None => write!(f, "{:#010x}", self.0),
        }
    }
}

impl fmt::Display for NtStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

impl Serialize for NtStatus {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format!("{:#010x}", self.0))
    }
}

impl<'de> Deserialize<'de> for NtStatus {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        let hex = text.strip_prefix("0x").unwrap_or(&text);
        u32::from_str_radix(hex, 16).map(NtStatus).map_err(serde::de::Error::custom)
    }
}

/// How an authentication ended, as the server answered.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum AuthOutcome {
    Succeeded,
    Failed {
        status: NtStatus,
    },
    /// No answer was seen, or the carrier does not say (DCE-RPC AUTH3).
    Unknown,
}

/// Which NTLM response the client computed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NtlmResponse {
    /// Empty responses: an anonymous (null session) logon.
    Anonymous,
    /// NTLMv1: crackable to the NT hash, relayable with fewer checks.
    V1,
    V2,
    /// Not recorded (4776 does not say which response the client sent).
    Unknown,
}

/// An NTLM AUTHENTICATE message and the server's verdict on it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NtlmAuthentication {
    pub via: Carrier,
    pub user: String,
    pub domain: String,
    /// The workstation name the client claims (a name-resolution input, not proof).
    pub workstation: String,
    pub response: NtlmResponse,
    /// The NTLMv2 client challenge's timestamp (the client's clock).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_time: Option<Timestamp>,
    /// Whether a MIC protects the exchange (its absence with NTLMv2 hints at tampering).
    pub mic: bool,
    /// The NTLMv2 response says the client put a MIC in the message, and the message has
    /// none (or a zeroed one): it was removed in transit (drop-the-MIC, CVE-2019-1040).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub mic_missing: bool,
    /// The client's OS version from the NTLMSSP VERSION field (`10.0.19041`), when it sent
    /// one: Windows always does; many tools' NTLM implementations do not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub os_version: Option<String>,
    /// The SPN the client meant to reach (MsvAvTargetName), when it said.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target_name: Option<String>,
    /// The NetBIOS name the server gave itself in its CHALLENGE, as the client's NTLMv2
    /// response echoes it (MsvAvNbComputerName): the server's claim, which a relay forwards
    /// from the server it relays to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_name: Option<String>,
    /// Whether the client sent channel bindings (MsvAvChannelBindings, non-zero).
    pub channel_bindings: bool,
    #[serde(flatten)]
    pub outcome: AuthOutcome,
}

impl NtlmAuthentication {
    /// `DOMAIN\user`, or `user` with no domain.
    pub fn account(&self) -> String {
        if self.domain.is_empty() { self.user.clone() } else { format!("{}\\{}", self.domain, self.user) }
    }
}

/// A Kerberos AP-REQ to a service (inside SPNEGO in SMB, LDAP, DCE-RPC): a ticket used.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct KerberosServiceAccess {
    pub via: Carrier,
    /// The ticket's service principal, without realm.
    pub service: String,
    pub realm: String,
    pub ticket_etype: EncryptionType,
    /// Fingerprint of the ticket's ciphertext: the same ticket used twice has the same one.
    pub ticket_id: String,
    /// The security mechanisms the client's SPNEGO offer listed, in its order (`negoex`,
    /// `ms-krb5`, `krb5`, `krb5-u2u`, `ntlmssp`, or the OID): which GSS stack it runs. Empty
    /// when the AP-REQ came without an SPNEGO offer.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub offered_mechanisms: Vec<String>,
    #[serde(flatten)]
    pub outcome: AuthOutcome,
}

/// An SMB TREE_CONNECT: a share opened.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ShareAccess {
    /// `\\server\share` as the client asked.
    pub path: String,
    /// The account behind the SMB session, when its NTLM logon was seen.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<NtStatus>,
}

/// An SMB CREATE: a file or named pipe opened.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FileAccess {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub share: Option<String>,
    pub name: String,
    /// Opened on IPC$: a named pipe (an RPC endpoint).
    pub pipe: bool,
    pub desired_access: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<NtStatus>,
}

/// An RPC interface the server would not bind (BIND_NAK, or every presentation context for
/// it rejected in the BIND_ACK): not served there, or blocked by an RPC filter.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RpcBindRefusal {
    pub via: Carrier,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pipe: Option<String>,
    /// Short interface name, or its UUID when unknown.
    pub interface: String,
    pub interface_uuid: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// The rejection reason (C706 provider reason, or the BIND_NAK's).
    pub reason: u16,
}

/// A Group Policy registry file (`Registry.pol`) written over SMB, with the settings it now
/// holds.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PolicyFileWrite {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub share: Option<String>,
    /// The path within the share (`corp.example\Policies\{GUID}\Machine\Registry.pol`).
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    pub bytes: u64,
    /// `key\value = data` for each setting the file holds (bounded), when it was read whole.
    pub settings: Vec<String>,
}

/// The bytes a client read from one file over SMB, from its opening to its close.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FileRead {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub share: Option<String>,
    /// The path within the share, as the client opened it.
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// Data bytes of the READ responses.
    pub bytes: u64,
    /// READ responses.
    pub reads: u64,
}

/// Who a DCE-RPC association authenticated as, and how.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RpcAuth {
    /// `ntlmssp`, `kerberos`, `spnego`, `netlogon`, ...
    pub kind: String,
    /// `connect`, `integrity`, `privacy`, ...
    pub level: String,
}

/// What a decoded request stub says (only where detections need it).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum RpcDetail {
    /// DRSGetNCChanges: a replica asks for directory changes.
    GetNcChanges {
        destination_dsa: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        naming_context: Option<String>,
        extended_op: u32,
    },
    /// RCreateServiceW: a service is installed remotely.
    CreateService {
        service_name: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        display_name: Option<String>,
        binary_path: String,
    },
    /// SamrLookupNamesInDomain: names resolved to RIDs.
    LookupNames { names: Vec<String> },
    /// SamrOpenUser: one account opened by its RID (before querying or changing it).
    OpenUser { rid: u32 },
    /// LsarOpenSecret / LsarRetrievePrivateData / LsarStorePrivateData: an LSA secret by name
    /// (`G$BCKUPKEY_PREFERRED`, `$MACHINE.ACC`, ...).
    LsaSecret { name: String },
    /// MS-BKRP BackuprKey: what the caller asks of the domain's DPAPI backup key, by the
    /// action GUID (`pguidActionAgent`), named when it is one of MS-BKRP's.
    BackupKey { action: BackupKeyAction },
    /// NetrSessionEnum's answer: who has sessions on the server, from which client.
    Sessions { sessions: Vec<SessionEntry> },
    /// NetrServerReqChallenge: a Netlogon secure channel starts.
    NetlogonChallenge { computer_name: String, client_challenge_zero: bool },
    /// NetrServerAuthenticate3: a secure channel authenticates.
    NetlogonAuthenticate { account_name: String, computer_name: String, credential_zero: bool, flags: u32 },
    /// NetrServerPasswordSet2: a machine password is set over Netlogon.
    NetlogonPasswordSet { account_name: String, computer_name: String, credential_zero: bool },
    /// NetrServerTrustPasswordsGet / NetrServerGetTrustInfo: the caller asks for an account's
    /// password hashes over its secure channel (what only a DC replicating secrets does).
    NetlogonAccountSecret { account_name: String, secure_channel_type: u16, computer_name: String },
    /// RpcAddPrinterDriverEx (MS-RPRN) / RpcAsyncAddPrinterDriver (MS-PAR): a printer driver
    /// installed, with the files it names (the driver, data and configuration files: a UNC
    /// path to another host is PrintNightmare's DLL) and the copy flags.
    PrinterDriver { name: String, files: Vec<String>, copy_flags: u32 },
    /// A call that makes the server open a path or connect back to a host — the printer
    /// bug (RpcRemoteFindFirstPrinterChangeNotification(Ex): the client machine to notify),
    /// PetitPotam (MS-EFSR: the file name), DFSCoerce (NetrDfsAdd/RemoveStdRoot: the server
    /// name): the UNC path or host name the call carries, as sent.
    Callback { path: String },
    /// SchRpcRegisterTask: a scheduled task is registered remotely.
    RegisterTask {
        #[serde(skip_serializing_if = "Option::is_none")]
        path: Option<String>,
        #[serde(skip_serializing_if = "Option::is_none")]
        command: Option<String>,
    },
}

/// One session a server reported (NetrSessionEnum).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionEntry {
    /// The client's name or address as the server knows it (`\\10.0.0.5`).
    pub client: String,
    pub user: String,
}

/// One remote procedure call: request, and the response or fault when seen.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RpcCall {
    pub via: Carrier,
    /// The named pipe, for calls over SMB.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pipe: Option<String>,
    /// Short interface name (`samr`, `drsuapi`, ...) or, when unknown, its UUID.
    pub interface: String,
    pub interface_uuid: String,
    pub opnum: u16,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub operation: Option<String>,
    /// The RPC association's own authentication, when it had one (calls on SMB pipes
    /// often rely on the SMB session's).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auth: Option<RpcAuth>,
    /// `DOMAIN\user`: from the association's NTLM logon, else the SMB session's.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// The stub was sealed (privacy level): only interface and opnum are known.
    pub encrypted: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<RpcDetail>,
    /// `0x00000000` on a response; the fault status on a fault; absent when unanswered.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<NtStatus>,
    /// The operation's own return value (NTSTATUS or WERROR: the last word of a readable
    /// response), e.g. `5` (WERR_ACCESS_DENIED) for a refused NetrSessionEnum.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub return_code: Option<u32>,
}

/// An SMB dialect negotiation: what the client offered and the server chose.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SmbNegotiation {
    /// The client opened with an SMB1 NEGOTIATE (legacy, or multi-protocol upgrade).
    pub smb1_offered: bool,
    /// Dialects offered (`2.0.2` ... `3.1.1`, or SMB1 dialect strings such as `NT LM 0.12`).
    pub offered: Vec<String>,
    /// The dialect the server chose, when its answer was seen.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dialect: Option<String>,
    /// The server chose SMB1: the legacy protocol is in use.
    pub smb1_chosen: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signing_required: Option<bool>,
}

/// A NetBIOS name service message (UDP 137): a name claimed, asked for or answered.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetbiosName {
    pub name: String,
    /// The 16th byte (0x00 workstation, 0x20 server, 0x1c domain controllers, ...).
    pub suffix: u8,
    /// `query`, `registration`, `release`, `refresh`, ...
    pub operation: String,
    pub response: bool,
    /// Addresses bound to the name by this message.
    pub addresses: Vec<std::net::Ipv4Addr>,
}

/// A sensor's own reverse DNS lookup: the address, the name its DNS server gave, the server.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NameLookup {
    pub address: std::net::IpAddr,
    pub name: String,
    pub server: String,
}

/// An RDP connection request and its cookie.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RdpConnection {
    /// `mstshash` cookie: the account (often `DOMAIN\user`) the client means to log on as.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cookie: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub requested_protocols: Option<u32>,
}

/// An HTTP request that authenticated (it carried an NTLM AUTHENTICATE or a Kerberos AP-REQ
/// in `Authorization`), with the server's answer: WinRM (`POST /wsman`), web enrollment,
/// Exchange or other IIS endpoints on a server.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HttpRequest {
    pub method: String,
    /// The request target as sent (path and query), cut at 512 characters.
    pub target: String,
    /// `ntlm` or `kerberos`.
    pub auth: String,
    /// The NTLM account (`DOMAIN\user`); a Kerberos ticket does not show it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// The Kerberos service ticket's fingerprint (as the TGS-REP that issued it has it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ticket_id: Option<String>,
    /// The response status; none when the connection ended first.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
}

impl HttpRequest {
    /// The target's path, without its query.
    pub fn path(&self) -> &str {
        self.target.split(['?', '#']).next().unwrap_or_default()
    }
}

/// An SMB3 session whose messages are encrypted from here on: what it does (shares, pipes,
/// RPC calls) cannot be read.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SmbEncryptedSession {
    /// The SMB session id, hexadecimal.
    pub session_id: String,
    /// The account its NTLM logon named, when that logon was seen.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
}

/// MS-BKRP 3.1.4.1: the four BackuprKey actions.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BackupKeyAction {
    /// BACKUPKEY_BACKUP_GUID (7f752b10-…): a client wraps a secret server-side (Windows 2000).
    Backup,
    /// BACKUPKEY_RESTORE_GUID_WIN2K (7fe94d50-…): server-side unwrap of a Windows 2000 blob.
    RestoreWin2k,
    /// BACKUPKEY_RETRIEVE_BACKUP_KEY_GUID (018ff48a-…): the domain backup key's public part.
    RetrieveBackupKey,
    /// BACKUPKEY_RESTORE_GUID (47270c64-…): unwrap a client-wrapped master key.
    Restore,
    /// Any other GUID, as text.
    Other(String),
}

impl BackupKeyAction {
    /// The action of a GUID in its usual text form (lower case).
    pub fn from_guid(guid: &str) -> Self {
        match guid {
            "7f752b10-178e-11d1-ab8f-00805f14db40" => Self::Backup,
            "7fe94d50-178e-11d1-ab8f-00805f14db40" => Self::RestoreWin2k,
            "018ff48a-eaba-40c6-8f6d-72370240e967" => Self::RetrieveBackupKey,
            "47270c64-2fc7-499b-ac5b-0e37cdce899a" => Self::Restore,
            other => Self::Other(other.to_owned()),
        }
    }
}
