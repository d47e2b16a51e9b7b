//! Kerberos exchange facts (RFC 4120, MS-KILE), as the KDC's clients and the KDC said them.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::Timestamp;

/// Kerberos encryption type number (RFC 3961, RFC 8009, MS-KILE). Open: unknown values survive.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct EncryptionType(pub i32);

impl EncryptionType {
    pub const DES_CBC_CRC: Self = Self(1);
    pub const DES_CBC_MD5: Self = Self(3);
    pub const AES128_CTS_HMAC_SHA1_96: Self = Self(17);
    pub const AES256_CTS_HMAC_SHA1_96: Self = Self(18);
    pub const AES128_CTS_HMAC_SHA256_128: Self = Self(19);
    pub const AES256_CTS_HMAC_SHA384_192: Self = Self(20);
    pub const RC4_HMAC: Self = Self(23);
    pub const RC4_HMAC_EXP: Self = Self(24);

    pub fn name(self) -> Option<&'static str> {
        Some(match self.0 {
            1 => "des-cbc-crc",
            2 => "des-cbc-md4",
            3 => "des-cbc-md5",
            16 => "des3-cbc-sha1",
            17 => "aes128-cts-hmac-sha1-96",
            18 => "aes256-cts-hmac-sha1-96",
            19 => "aes128-cts-hmac-sha256-128",
            20 => "aes256-cts-hmac-sha384-192",
            23 => "rc4-hmac",
            24 => "rc4-hmac-exp",
            25 => "camellia128-cts-cmac",
            26 => "camellia256-cts-cmac",
            -135 => "rc4-hmac-old-exp",
            _ => return None,
        })
    }

    /// RC4 (the NT hash is the key) and single DES: crackable offline, what roasting wants.
    pub fn is_weak(self) -> bool {
        matches!(self.0, 1..=3 | 23 | 24 | -140..=-128)
    }

    pub fn is_aes(self) -> bool {
        matches!(self.0, 17..=20)
    }
}

impl fmt::Debug for EncryptionType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(n) => f.write_str(n),
            None => write!(f, "etype({})", self.0),
        }
    }
}

impl fmt::Display for EncryptionType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

/// PA-DATA type (RFC 4120 §7.5.2, MS-KILE §2.2, MS-SFU). Open newtype.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct PaDataType(pub i32);

impl PaDataType {
    pub const TGS_REQ: Self = Self(1);
    pub const ENC_TIMESTAMP: Self = Self(2);
    pub const ETYPE_INFO2: Self = Self(19);
    pub const PK_AS_REQ_OLD: Self = Self(14);
    pub const PK_AS_REQ: Self = Self(16);
    pub const FOR_USER: Self = Self(129);
    pub const PAC_REQUEST: Self = Self(128);
    pub const S4U_X509_USER: Self = Self(130);
    pub const FX_FAST: Self = Self(136);
    pub const ENCRYPTED_CHALLENGE: Self = Self(138);
    pub const PAC_OPTIONS: Self = Self(167);
}

impl fmt::Debug for PaDataType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self.0 {
            1 => "pa-tgs-req",
            2 => "pa-enc-timestamp",
            3 => "pa-pw-salt",
            11 => "pa-etype-info",
            14 => "pa-pk-as-req-old",
            15 => "pa-pk-as-rep-old",
            16 => "pa-pk-as-req",
            17 => "pa-pk-as-rep",
            19 => "pa-etype-info2",
            128 => "pa-pac-request",
            129 => "pa-for-user",
            130 => "pa-s4u-x509-user",
            133 => "pa-fx-cookie",
            136 => "pa-fx-fast",
            138 => "pa-encrypted-challenge",
            147 => "pa-pkinit-kx",
            149 => "pa-req-enc-pa-rep",
            150 => "pa-as-freshness",
            165 => "pa-supported-etypes",
            167 => "pa-pac-options",
            _ => return write!(f, "padata({})", self.0),
        };
        f.write_str(name)
    }
}

/// KDC-REQ kdc-options (RFC 4120 §5.4.1), bit 0 = most significant bit of the first octet.
#[derive(Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct KdcOptions(pub u32);

impl KdcOptions {
    const NAMES: [(u32, &'static str); 14] = [
        (1, "forwardable"),
        (2, "forwarded"),
        (3, "proxiable"),
        (4, "proxy"),
        (5, "allow-postdate"),
        (6, "postdated"),
        (8, "renewable"),
        (14, "cname-in-addl-tkt"),
        (15, "canonicalize"),
        (16, "request-anonymous"),
        (26, "disable-transited-check"),
        (27, "renewable-ok"),
        (28, "enc-tkt-in-skey"),
        (30, "renew"),
    ];

    /// Whether RFC 4120 bit `bit` (0 = first transmitted) is set.
    pub fn has(self, bit: u32) -> bool {
        bit < 32 && self.0 & (0x8000_0000 >> bit) != 0
    }

    pub fn names(self) -> Vec<&'static str> {
        Self::NAMES.iter().filter(|(bit, _)| self.has(*bit)).map(|(_, name)| *name).collect()
    }
}

impl fmt::Debug for KdcOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:#010x}{:?}", self.0, self.names())
    }
}

impl Serialize for KdcOptions {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&format_args!("{:#010x}", self.0))
    }
}

impl<'de> Deserialize<'de> for KdcOptions {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        let hex = text.trim_start_matches("0x");
        u32::from_str_radix(hex, 16).map(Self).map_err(serde::de::Error::custom)
    }
}

/// KRB-ERROR error-code (RFC 4120 §7.5.9, MS-KILE §3.1.5.1). Open newtype.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct KerberosErrorCode(pub i32);

impl KerberosErrorCode {
    pub const C_PRINCIPAL_UNKNOWN: Self = Self(6);
    /// Windows' answer to a TGT whose client account is gone.
    pub const TGT_REVOKED: Self = Self(20);
    pub const S_PRINCIPAL_UNKNOWN: Self = Self(7);
    pub const ETYPE_NOSUPP: Self = Self(14);
    pub const CLIENT_REVOKED: Self = Self(18);
    pub const KEY_EXPIRED: Self = Self(23);
    pub const PREAUTH_FAILED: Self = Self(24);
    pub const PREAUTH_REQUIRED: Self = Self(25);
    pub const RESPONSE_TOO_BIG: Self = Self(52);

    pub fn name(self) -> Option<&'static str> {
        Some(match self.0 {
            0 => "KDC_ERR_NONE",
            6 => "KDC_ERR_C_PRINCIPAL_UNKNOWN",
            7 => "KDC_ERR_S_PRINCIPAL_UNKNOWN",
            12 => "KDC_ERR_POLICY",
            13 => "KDC_ERR_BADOPTION",
            14 => "KDC_ERR_ETYPE_NOSUPP",
            15 => "KDC_ERR_SUMTYPE_NOSUPP",
            16 => "KDC_ERR_PADATA_TYPE_NOSUPP",
            18 => "KDC_ERR_CLIENT_REVOKED",
            20 => "KDC_ERR_TGT_REVOKED",
            23 => "KDC_ERR_KEY_EXPIRED",
            24 => "KDC_ERR_PREAUTH_FAILED",
            25 => "KDC_ERR_PREAUTH_REQUIRED",
            31 => "KRB_AP_ERR_BAD_INTEGRITY",
            32 => "KRB_AP_ERR_TKT_EXPIRED",
            33 => "KRB_AP_ERR_TKT_NYV",
            34 => "KRB_AP_ERR_REPEAT",
            36 => "KRB_AP_ERR_BADMATCH",
            37 => "KRB_AP_ERR_SKEW",
            41 => "KRB_AP_ERR_MODIFIED",
            44 => "KRB_AP_ERR_BADKEYVER",
            50 => "KRB_AP_ERR_INAPP_CKSUM",
            52 => "KRB_ERR_RESPONSE_TOO_BIG",
            60 => "KRB_ERR_GENERIC",
            68 => "KDC_ERR_WRONG_REALM",
            _ => return None,
        })
    }

    /// The client exists: the KDC answered about its key or state, not "who?".
    pub fn proves_client_exists(self) -> bool {
        matches!(self.0, 18 | 23 | 24 | 25)
    }
}

impl fmt::Debug for KerberosErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(n) => f.write_str(n),
            None => write!(f, "KRB_ERROR({})", self.0),
        }
    }
}

impl fmt::Display for KerberosErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

/// A ticket as seen on the wire: its clear header and a stable id of its ciphertext.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TicketInfo {
    pub realm: String,
    pub sname: String,
    pub etype: EncryptionType,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kvno: Option<u32>,
    /// Fingerprint of the encrypted part: the same ticket presented twice has the same id.
    pub id: String,
}

/// A KDC-REQ (AS-REQ or TGS-REQ) as the client sent it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct KdcRequest {
    pub realm: String,
    /// Client principal (`name` or `name/instance`); absent in TGS-REQs (it is in the
    /// encrypted authenticator).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cname: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sname: Option<String>,
    pub kdc_options: KdcOptions,
    /// Encryption types the client offered, in its order of preference.
    pub etypes: Vec<EncryptionType>,
    pub padata: Vec<PaDataType>,
    /// Etype of PA-ENC-TIMESTAMP when the client pre-authenticated with it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enc_timestamp_etype: Option<EncryptionType>,
    /// PA-PAC-REQUEST's include-pac, when present.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pac_request: Option<bool>,
    /// The request is armored with FAST (PA-FX-FAST): its pre-authentication is hidden.
    pub fast_armor: bool,
    /// PKINIT (PA-PK-AS-REQ): pre-authentication with a certificate.
    pub pkinit: bool,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub addresses: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub till: Option<Timestamp>,
    pub nonce: u32,
    /// TGS-REQ: the ticket presented in PA-TGS-REQ's AP-REQ (usually the TGT).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub presented_ticket: Option<TicketInfo>,
    /// TGS-REQ: the authenticator's etype.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authenticator_etype: Option<EncryptionType>,
    /// TGS-REQ carries enc-authorization-data.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub enc_authorization_data: bool,
    /// Number of additional tickets (U2U, S4U2proxy).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub additional_tickets: usize,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

impl KdcRequest {
    /// The client offered no AES etype: only RC4, DES or 3DES. Modern Windows, MIT and
    /// Heimdal clients always offer AES first; roasting tools ask for RC4 on purpose.
    pub fn offers_no_aes(&self) -> bool {
        !self.etypes.is_empty() && !self.etypes.iter().any(|e| e.is_aes())
    }

    /// Pre-authenticated in any way the wire shows or hides (timestamp, PKINIT, FAST).
    pub fn is_preauthenticated(&self) -> bool {
        self.enc_timestamp_etype.is_some()
            || self.pkinit
            || self.fast_armor
            || self.padata.iter().any(|p| {
                matches!(
                    *p,
                    PaDataType::ENC_TIMESTAMP
                        | PaDataType::PK_AS_REQ
                        | PaDataType::PK_AS_REQ_OLD
                        | PaDataType::ENCRYPTED_CHALLENGE
                )
            })
    }
}

/// The KDC issued a ticket (AS-REP or TGS-REP).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct KdcIssued {
    pub crealm: String,
    pub cname: String,
    pub ticket: TicketInfo,
    /// Etype of the reply's enc-part (the client's key for AS-REP: what AS-REP roasting cracks).
    pub reply_etype: EncryptionType,
    /// Etypes offered in the reply's PA-DATA (ETYPE-INFO2), if any.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub padata: Vec<PaDataType>,
}

/// The KDC refused (KRB-ERROR).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct KdcFailure {
    pub code: KerberosErrorCode,
    /// The code's RFC 4120 name, written for readers; read back from the code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<&'static str>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub etext: Option<String>,
    pub realm: String,
    pub sname: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cname: Option<String>,
}

/// A stored or shipped [`KdcFailure`]: its `name` is not trusted, it is derived again.
#[derive(Deserialize)]
struct KdcFailureFields {
    code: KerberosErrorCode,
    #[serde(default)]
    etext: Option<String>,
    realm: String,
    sname: String,
    #[serde(default)]
    cname: Option<String>,
}

impl<'de> Deserialize<'de> for KdcFailure {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let f = KdcFailureFields::deserialize(deserializer)?;
        Ok(Self {
            code: f.code,
            name: f.code.name(),
            etext: f.etext,
            realm: f.realm,
            sname: f.sname,
            cname: f.cname,
        })
    }
}

/// How the exchange ended.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum KdcOutcome {
    Issued(KdcIssued),
    Failed(KdcFailure),
    /// The request got no answer before its flow ended or timed out.
    NoReply,
}

/// A Kerberos request paired with its answer. A reply whose request was not captured (the
/// capture started mid-exchange) has no `request`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct KerberosExchange {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request: Option<KdcRequest>,
    #[serde(flatten)]
    pub outcome: KdcOutcome,
}

impl KerberosExchange {
    /// The client principal: from the reply where the KDC named it, else from the request.
    pub fn client(&self) -> Option<&str> {
        match &self.outcome {
            KdcOutcome::Issued(issued) => Some(issued.cname.as_str()),
            KdcOutcome::Failed(KdcFailure { cname: Some(c), .. }) => Some(c.as_str()),
            _ => self.request.as_ref().and_then(|r| r.cname.as_deref()),
        }
    }

    /// The client's realm, upper-cased for comparison.
    pub fn client_realm(&self) -> Option<&str> {
        match &self.outcome {
            KdcOutcome::Issued(issued) => Some(issued.crealm.as_str()),
            _ => self.request.as_ref().map(|r| r.realm.as_str()),
        }
    }

    /// The service asked for.
    pub fn service(&self) -> Option<&str> {
        match &self.outcome {
            KdcOutcome::Issued(issued) => Some(issued.ticket.sname.as_str()),
            KdcOutcome::Failed(f) if !f.sname.is_empty() => Some(f.sname.as_str()),
            _ => self.request.as_ref().and_then(|r| r.sname.as_deref()),
        }
    }

    pub fn error(&self) -> Option<KerberosErrorCode> {
        match &self.outcome {
            KdcOutcome::Failed(f) => Some(f.code),
            _ => None,
        }
    }

    pub fn issued(&self) -> Option<&KdcIssued> {
        match &self.outcome {
            KdcOutcome::Issued(i) => Some(i),
            _ => None,
        }
    }
}
