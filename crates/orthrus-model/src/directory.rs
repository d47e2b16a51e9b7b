//! Facts from LDAP (directory queries and changes) and DNS.

use serde::{Deserialize, Serialize};

use crate::{AuthOutcome, LdapAssertion};

/// An LDAP result code (RFC 4511 §4.1.9) with the server's diagnostic text.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LdapResultCode {
    pub code: u32,
    pub name: String,
    #[serde(skip_serializing_if = "String::is_empty", default)]
    pub diagnostic: String,
}

impl LdapResultCode {
    pub fn new(code: u32, diagnostic: String) -> Self {
        Self { code, name: ldap_result_name(code).to_owned(), diagnostic }
    }

    pub fn is_success(&self) -> bool {
        self.code == 0
    }
}

/// RFC 4511 §4.1.9 names.
pub fn ldap_result_name(code: u32) -> &'static str {
    match code {
        0 => "success",
        1 => "operationsError",
        2 => "protocolError",
        3 => "timeLimitExceeded",
        4 => "sizeLimitExceeded",
        7 => "authMethodNotSupported",
        8 => "strongerAuthRequired",
        10 => "referral",
        11 => "adminLimitExceeded",
        12 => "unavailableCriticalExtension",
        13 => "confidentialityRequired",
        14 => "saslBindInProgress",
        16 => "noSuchAttribute",
        19 => "constraintViolation",
        20 => "attributeOrValueExists",
        21 => "invalidAttributeSyntax",
        32 => "noSuchObject",
        34 => "invalidDNSyntax",
        48 => "inappropriateAuthentication",
        49 => "invalidCredentials",
        50 => "insufficientAccessRights",
        51 => "busy",
        52 => "unavailable",
        53 => "unwillingToPerform",
        64 => "namingViolation",
        65 => "objectClassViolation",
        66 => "notAllowedOnNonLeaf",
        68 => "entryAlreadyExists",
        80 => "other",
        _ => "unknown",
    }
}

/// An LDAP bind.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LdapBind {
    /// The bind name (a DN, a UPN or `DOMAIN\user`; empty when anonymous or SASL).
    pub name: String,
    /// `simple` or `sasl`.
    pub method: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mechanism: Option<String>,
    /// A simple bind with a password on a connection that is not TLS: the password crossed
    /// the network in the clear.
    pub cleartext_password: bool,
    #[serde(flatten)]
    pub outcome: AuthOutcome,
    #[serde(rename = "ldap_result", skip_serializing_if = "Option::is_none")]
    pub result: Option<LdapResultCode>,
}

/// An LDAP search and the size of its answer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(from = "LdapSearchRecord")]
pub struct LdapSearch {
    pub base: String,
    pub scope: String,
    /// RFC 4515 text (bounded in length).
    pub filter: String,
    /// The filter's assertions, in its order (at most `MAX_ASSERTIONS`).
    pub assertions: Vec<LdapAssertion>,
    pub attributes: Vec<String>,
    /// Entries returned (SearchResultEntry messages seen).
    pub entries: u32,
    #[serde(rename = "ldap_result", skip_serializing_if = "Option::is_none")]
    pub result: Option<LdapResultCode>,
    /// The account the connection bound as, when seen.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// A CLDAP ping's answer (MS-ADTS 6.3.3): the opcode of the Netlogon attribute's
    /// response — 23 (LOGON_SAM_LOGON_RESPONSE_EX, or 19) when the user asked for exists or
    /// none was, 25 (LOGON_SAM_USER_UNKNOWN_EX, or 21) when it does not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub netlogon_opcode: Option<u16>,
}

/// An [`LdapSearch`] as stored: one recorded before searches kept their assertions has them
/// read from its filter's text.
#[derive(Deserialize)]
struct LdapSearchRecord {
    base: String,
    scope: String,
    filter: String,
    #[serde(default)]
    assertions: Option<Vec<LdapAssertion>>,
    attributes: Vec<String>,
    entries: u32,
    #[serde(rename = "ldap_result", default)]
    result: Option<LdapResultCode>,
    #[serde(default)]
    user: Option<String>,
    #[serde(default)]
    netlogon_opcode: Option<u16>,
}

impl From<LdapSearchRecord> for LdapSearch {
    fn from(r: LdapSearchRecord) -> Self {
        Self {
            assertions: r.assertions.unwrap_or_else(|| LdapAssertion::from_text(&r.filter)),
            base: r.base,
            scope: r.scope,
            filter: r.filter,
            attributes: r.attributes,
            entries: r.entries,
            result: r.result,
            user: r.user,
            netlogon_opcode: r.netlogon_opcode,
        }
    }
}

/// An LDAP add, modify, delete or modify-DN, or an extended operation.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LdapChange {
    /// `add`, `modify`, `delete`, `modify_dn` or `extended`.
    pub operation: String,
    /// The entry's DN (for `extended`, the request OID).
    pub dn: String,
    pub attributes: Vec<String>,
    #[serde(rename = "ldap_result", skip_serializing_if = "Option::is_none")]
    pub result: Option<LdapResultCode>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
}

/// A DNS query and its answer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DnsQuery {
    pub name: String,
    /// `A`, `AAAA`, `SRV`, `AXFR`, ...
    pub qtype: String,
    /// `query` or `update` (a dynamic update), `notify`, ...
    pub opcode: String,
    /// A zone transfer was asked for (AXFR or IXFR).
    pub zone_transfer: bool,
    /// `NOERROR`, `NXDOMAIN`, `REFUSED`, ...; absent when unanswered.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rcode: Option<String>,
    /// Answer records, rendered `name TYPE data` (bounded).
    pub answers: Vec<String>,
    /// Answer records in all response messages (a zone transfer spans several).
    pub answer_count: u32,
}

/// A TLS session on a directory port (LDAPS 636, global catalog 3269): handshake metadata
/// only, the rest is encrypted.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TlsSession {
    /// The server name the client asked for (SNI).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server_name: Option<String>,
    /// The highest version the client offered (`TLS 1.3`, ...).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub offered_version: Option<String>,
    /// The version and cipher suite the server chose; absent when its answer was not seen.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cipher: Option<String>,
}
