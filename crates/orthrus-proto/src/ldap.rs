//! LDAP (RFC 4511) on TCP 389 and 3268: framing of BER messages and of SASL-wrapped
//! (signed or sealed) buffers, and the operations reduced to what identity detections read.
//!
//! Messages are decoded by rusticata's `ldap-parser` (used by Suricata; 0.5.1 bounds filter
//! recursion); this module adds the stream framing, the RFC 4515 rendering of search
//! filters and the mapping of Active Directory's bind errors.
//!
//! ```
//! use orthrus_proto::ldap::{self, Op};
//! // An anonymous simple bind, message id 1.
//! let bind = [0x30, 0x0c, 0x02, 0x01, 0x01, 0x60, 0x07, 0x02, 0x01, 0x03, 0x04, 0x00, 0x80, 0x00];
//! let m = ldap::parse_message(&bind).unwrap();
//! assert_eq!(m.message_id, 1);
//! assert!(matches!(m.op, Op::BindRequest { ref name, .. } if name.is_empty()));
//! ```

use std::fmt::Write as _;

use ldap_parser::FromBer;
use ldap_parser::filter::{Filter, Substring};
use ldap_parser::ldap::{AuthenticationChoice, LdapMessage, LdapResult, ProtocolOp};
use orthrus_model::ldap_filter::MAX_ASSERTIONS;
use orthrus_model::{AssertionKind, LdapAssertion};

use crate::wire::Record;

/// Largest LDAP message accepted (search results of big groups run to megabytes).
pub const MAX_MESSAGE_LEN: usize = 16 << 20;
/// Characters of a rendered filter kept.
const MAX_FILTER_CHARS: usize = 4096;
/// Attribute names kept per operation.
const MAX_ATTRIBUTES: usize = 256;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("not an LDAP message")]
    NotLdap,
    #[error("invalid LDAP message")]
    Invalid,
}

impl DecodeError {
    pub fn reason(&self) -> &'static str {
        match self {
            DecodeError::NotLdap => "not_ldap",
            DecodeError::Invalid => "invalid_message",
        }
    }
}

/// One framed unit of an LDAP stream.
#[derive(Debug, PartialEq, Eq)]
pub enum Frame<'a> {
    /// A BER LDAPMessage.
    Message(&'a [u8]),
    /// A SASL security-layer buffer (RFC 4422 §3.7): signed or sealed, unreadable here.
    SaslWrapped,
}

/// Splits one message off the front of a stream: a BER SEQUENCE, or a 4-byte big-endian
/// length and a SASL-wrapped buffer.
pub fn split(stream: &[u8]) -> Record<'_> {
    let Some(&first) = stream.first() else { return Record::Incomplete { needed: 1 } };
    if first != 0x30 {
        let Some(head) = stream.first_chunk::<4>() else {
            return Record::Incomplete { needed: 4 - stream.len() };
        };
        let len = u32::from_be_bytes(*head) as usize;
        if len > MAX_MESSAGE_LEN || len == 0 {
            return Record::Invalid { length: len as u32 };
        }
        return match stream.get(..4 + len) {
            Some(message) => Record::Complete { message, consumed: 4 + len },
            None => Record::Incomplete { needed: 4 + len - stream.len() },
        };
    }
    let Some(&len0) = stream.get(1) else { return Record::Incomplete { needed: 1 } };
    let (header, len) = if len0 & 0x80 == 0 {
        (2, usize::from(len0))
    } else {
        let n = usize::from(len0 & 0x7f);
        if n == 0 || n > 4 {
            return Record::Invalid { length: u32::from(len0) };
        }
        let Some(bytes) = stream.get(2..2 + n) else {
            return Record::Incomplete { needed: 2 + n - stream.len() };
        };
        (2 + n, bytes.iter().fold(0usize, |acc, b| (acc << 8) | usize::from(*b)))
    };
    if len > MAX_MESSAGE_LEN {
        return Record::Invalid { length: len as u32 };
    }
    match stream.get(..header + len) {
        Some(message) => Record::Complete { message, consumed: header + len },
        None => Record::Incomplete { needed: header + len - stream.len() },
    }
}

/// What a framed unit holds.
pub fn frame(message: &[u8]) -> Frame<'_> {
    if message.first() == Some(&0x30) { Frame::Message(message) } else { Frame::SaslWrapped }
}

/// The message id and protocolOp tag of a BER LDAPMessage, read without decoding the rest:
/// search results are most of LDAP's bytes and only need counting.
pub fn peek(message: &[u8]) -> Option<(u32, u8)> {
    use crate::ber::tlv;
    let outer = tlv(message, 0).filter(|t| t.tag == 0x30)?;
    let id = tlv(message, outer.content).filter(|t| t.tag == 0x02)?;
    let id_bytes = id.value(message);
    if id_bytes.is_empty() || id_bytes.len() > 4 {
        return None;
    }
    let message_id = id_bytes.iter().fold(0u32, |acc, b| (acc << 8) | u32::from(*b));
    let op = *message.get(id.end)?;
    Some((message_id, op))
}

/// protocolOp tags (APPLICATION class) of the results that are only counted.
pub const TAG_SEARCH_RESULT_ENTRY: u8 = 0x64;
pub const TAG_SEARCH_RESULT_REFERENCE: u8 = 0x73;

/// An LDAP result: code, its RFC 4511 name and the server's diagnostic text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResultInfo {
    pub code: u32,
    pub diagnostic: String,
}

impl ResultInfo {
    fn from(r: &LdapResult<'_>) -> Self {
        Self { code: r.result_code.0, diagnostic: r.diagnostic_message.0.chars().take(512).collect() }
    }

    /// Active Directory's reason for a failed bind, as the Win32 code in its diagnostic
    /// ("AcceptSecurityContext error, data 52e") mapped to the NT status the same failure has
    /// over SMB.
    pub fn ad_bind_failure(&self) -> Option<u32> {
        let data = self.diagnostic.split("data ").nth(1)?;
        let code = u32::from_str_radix(data.split(|c: char| !c.is_ascii_hexdigit()).next()?, 16).ok()?;
        Some(match code {
            0x525 => 0xc000_0064, // no such user
            0x52e => 0xc000_006d, // logon failure (bad password)
            0x530 => 0xc000_006f,
            0x531 => 0xc000_0070,
            0x532 => 0xc000_0071,
            0x533 => 0xc000_0072,
            0x701 => 0xc000_0193,
            0x773 => 0xc000_0224,
            0x775 => 0xc000_0234,
            _ => return None,
        })
    }
}

/// How a bind authenticates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BindAuth {
    /// A simple bind: the password travels as is.
    Simple {
        password_empty: bool,
    },
    Sasl {
        mechanism: String,
        credentials: Vec<u8>,
    },
}

/// The operations, reduced to what identity detections read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    BindRequest {
        name: String,
        auth: BindAuth,
    },
    BindResponse {
        result: ResultInfo,
        server_credentials: Vec<u8>,
    },
    SearchRequest {
        base: String,
        scope: &'static str,
        filter: String,
        /// The filter's assertions, structured (at most `MAX_ASSERTIONS`).
        assertions: Vec<LdapAssertion>,
        attributes: Vec<String>,
        size_limit: u32,
    },
    SearchResultEntry,
    SearchResultReference,
    /// Add, modify, delete or modify-DN: the entry and the attributes touched.
    ChangeRequest {
        operation: &'static str,
        dn: String,
        attributes: Vec<String>,
    },
    ExtendedRequest {
        oid: String,
    },
    /// Any other response carrying an LDAPResult (search done, change and extended
    /// responses).
    Response {
        result: ResultInfo,
    },
    Unbind,
    Other,
}

/// The opcode of a SearchResultEntry's `Netlogon` attribute (a CLDAP ping's answer: the
/// NETLOGON_SAM_LOGON_RESPONSE(_EX) or user-unknown structure starts with it, little-endian).
pub fn netlogon_opcode(message: &[u8]) -> Option<u16> {
    let (_, m) = LdapMessage::from_ber(message).ok()?;
    let ProtocolOp::SearchResultEntry(entry) = &m.protocol_op else { return None };
    let attribute = entry.attributes.iter().find(|a| a.attr_type.0.eq_ignore_ascii_case("netlogon"))?;
    let value = attribute.attr_vals.first()?;
    value.0.first_chunk::<2>().map(|b| u16::from_le_bytes(*b))
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub message_id: u32,
    pub op: Op,
}

/// Decodes one BER LDAPMessage.
pub fn parse_message(bytes: &[u8]) -> Result<Message, DecodeError> {
    if bytes.first() != Some(&0x30) {
        return Err(DecodeError::NotLdap);
    }
    let (_, m) = LdapMessage::from_ber(bytes).map_err(|_| DecodeError::Invalid)?;
    let names = |attrs: &mut dyn Iterator<Item = String>| attrs.take(MAX_ATTRIBUTES).collect::<Vec<_>>();
    let op = match &m.protocol_op {
        ProtocolOp::BindRequest(b) => Op::BindRequest {
            name: b.name.0.to_string(),
            auth: match &b.authentication {
                AuthenticationChoice::Simple(p) => BindAuth::Simple { password_empty: p.is_empty() },
                AuthenticationChoice::Sasl(s) => BindAuth::Sasl {
                    mechanism: s.mechanism.0.to_string(),
                    credentials: s.credentials.as_deref().unwrap_or_default().to_vec(),
                },
            },
        },
        ProtocolOp::BindResponse(r) => Op::BindResponse {
            result: ResultInfo::from(&r.result),
            server_credentials: r.server_sasl_creds.as_deref().unwrap_or_default().to_vec(),
        },
        ProtocolOp::SearchRequest(s) => Op::SearchRequest {
            base: s.base_object.0.to_string(),
            scope: match s.scope.0 {
                0 => "base",
                1 => "one",
                2 => "sub",
                _ => "other",
            },
            filter: render_filter(&s.filter),
            assertions: filter_assertions(&s.filter),
            attributes: names(&mut s.attributes.iter().map(|a| a.0.to_string())),
            size_limit: s.size_limit,
        },
        ProtocolOp::SearchResultEntry(_) => Op::SearchResultEntry,
        ProtocolOp::SearchResultReference(_) => Op::SearchResultReference,
        ProtocolOp::ModifyRequest(r) => Op::ChangeRequest {
            operation: "modify",
            dn: r.object.0.to_string(),
            attributes: names(&mut r.changes.iter().map(|c| c.modification.attr_type.0.to_string())),
        },
        ProtocolOp::AddRequest(r) => Op::ChangeRequest {
            operation: "add",
            dn: r.entry.0.to_string(),
            attributes: names(&mut r.attributes.iter().map(|a| a.attr_type.0.to_string())),
        },
        ProtocolOp::DelRequest(dn) => {
            Op::ChangeRequest { operation: "delete", dn: dn.0.to_string(), attributes: vec![] }
        }
        ProtocolOp::ModDnRequest(r) => Op::ChangeRequest {
            operation: "modify_dn",
            dn: r.entry.0.to_string(),
            attributes: names(
                &mut std::iter::once(format!("newrdn={}", r.newrdn.0))
                    .chain(r.newsuperior.iter().map(|s| format!("newsuperior={}", s.0))),
            ),
        },
        ProtocolOp::ExtendedRequest(r) => Op::ExtendedRequest { oid: r.request_name.0.to_string() },
        ProtocolOp::SearchResultDone(r)
        | ProtocolOp::AddResponse(r)
        | ProtocolOp::DelResponse(r)
        | ProtocolOp::ModDnResponse(r)
        | ProtocolOp::CompareResponse(r) => Op::Response { result: ResultInfo::from(r) },
        ProtocolOp::ModifyResponse(r) => Op::Response { result: ResultInfo::from(&r.result) },
        ProtocolOp::ExtendedResponse(r) => Op::Response { result: ResultInfo::from(&r.result) },
        ProtocolOp::UnbindRequest => Op::Unbind,
        _ => Op::Other,
    };
    Ok(Message { message_id: m.message_id.0, op })
}

/// A search filter as RFC 4515 text, bounded in length.
pub fn render_filter(filter: &Filter<'_>) -> String {
    let mut out = String::new();
    write_filter(&mut out, filter);
    if out.len() > MAX_FILTER_CHARS {
        let mut cut = MAX_FILTER_CHARS;
        while !out.is_char_boundary(cut) {
            cut -= 1;
        }
        out.truncate(cut);
        out.push('…');
    }
    out
}

/// The assertions of a search filter, in its order: attribute, kind and the value as
/// [`render_filter`] writes it (so that the two always agree), at most `MAX_ASSERTIONS`.
pub fn filter_assertions(filter: &Filter<'_>) -> Vec<LdapAssertion> {
    let mut out = Vec::new();
    collect_assertions(&mut out, filter);
    out
}

fn collect_assertions(out: &mut Vec<LdapAssertion>, f: &Filter<'_>) {
    if out.len() >= MAX_ASSERTIONS {
        return;
    }
    let (attribute, kind, value) = match f {
        Filter::And(items) | Filter::Or(items) => {
            for item in items {
                collect_assertions(out, item);
            }
            return;
        }
        Filter::Not(inner) => return collect_assertions(out, inner),
        Filter::EqualityMatch(a)
        | Filter::GreaterOrEqual(a)
        | Filter::LessOrEqual(a)
        | Filter::ApproxMatch(a) => {
            let kind = match f {
                Filter::GreaterOrEqual(_) => AssertionKind::GreaterOrEqual,
                Filter::LessOrEqual(_) => AssertionKind::LessOrEqual,
                Filter::ApproxMatch(_) => AssertionKind::Approx,
                _ => AssertionKind::Equality,
            };
            let mut value = String::new();
            escape(&mut value, &a.assertion_value);
            (a.attribute_desc.0.to_string(), kind, value)
        }
        Filter::Substrings(s) => {
            let mut value = String::new();
            let mut ends_open = true;
            for part in &s.substrings {
                match part {
                    Substring::Initial(v) => escape(&mut value, &v.0),
                    Substring::Any(v) => {
                        value.push('*');
                        escape(&mut value, &v.0);
                    }
                    Substring::Final(v) => {
                        value.push('*');
                        escape(&mut value, &v.0);
                        ends_open = false;
                        break;
                    }
                }
            }
            if ends_open {
                value.push('*');
            }
            (s.filter_type.0.to_string(), AssertionKind::Substring, value)
        }
        Filter::Present(attr) => (attr.0.to_string(), AssertionKind::Present, "*".to_owned()),
        Filter::ExtensibleMatch(m) => {
            let Some(attribute) = &m.rule_type else { return };
            let mut value = String::new();
            escape(&mut value, &m.assertion_value.0);
            (attribute.0.to_string(), AssertionKind::Extensible, value)
        }
    };
    if !attribute.is_empty() {
        out.push(LdapAssertion { attribute, kind, value });
    }
}

fn write_filter(out: &mut String, f: &Filter<'_>) {
    if out.len() > MAX_FILTER_CHARS {
        return;
    }
    out.push('(');
    match f {
        Filter::And(items) | Filter::Or(items) => {
            out.push(if matches!(f, Filter::And(_)) { '&' } else { '|' });
            for item in items {
                write_filter(out, item);
            }
        }
        Filter::Not(inner) => {
            out.push('!');
            write_filter(out, inner);
        }
        Filter::EqualityMatch(a)
        | Filter::GreaterOrEqual(a)
        | Filter::LessOrEqual(a)
        | Filter::ApproxMatch(a) => {
            let op = match f {
                Filter::GreaterOrEqual(_) => ">=",
                Filter::LessOrEqual(_) => "<=",
                Filter::ApproxMatch(_) => "~=",
                _ => "=",
            };
            out.push_str(&a.attribute_desc.0);
            out.push_str(op);
            escape(out, &a.assertion_value);
        }
        Filter::Substrings(s) => {
            out.push_str(&s.filter_type.0);
            out.push('=');
            for part in &s.substrings {
                match part {
                    Substring::Initial(v) => escape(out, &v.0),
                    Substring::Any(v) => {
                        out.push('*');
                        escape(out, &v.0);
                    }
                    Substring::Final(v) => {
                        out.push('*');
                        escape(out, &v.0);
                        out.push(')');
                        return;
                    }
                }
            }
            out.push('*');
        }
        Filter::Present(attr) => {
            out.push_str(&attr.0);
            out.push_str("=*");
        }
        Filter::ExtensibleMatch(m) => {
            if let Some(t) = &m.rule_type {
                out.push_str(&t.0);
            }
            if m.dn_attributes == Some(true) {
                out.push_str(":dn");
            }
            if let Some(rule) = &m.matching_rule {
                out.push(':');
                out.push_str(&rule.0);
            }
            out.push_str(":=");
            escape(out, &m.assertion_value.0);
        }
    }
    out.push(')');
}

/// RFC 4515 value escaping; bytes that are not printable text are written as `\xx`.
fn escape(out: &mut String, value: &[u8]) {
    match std::str::from_utf8(value) {
        Ok(text) if !text.chars().any(char::is_control) => {
            for c in text.chars() {
                match c {
                    '*' | '(' | ')' | '\\' | '\0' => {
                        let _ = write!(out, "\\{:02x}", c as u32);
                    }
                    c => out.push(c),
                }
            }
        }
        _ => {
            for b in value {
                let _ = write!(out, "\\{b:02x}");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn framing_ber_and_sasl() {
        assert_eq!(
            split(&[0x30, 0x03, 1, 2, 3, 9]),
            Record::Complete { message: &[0x30, 3, 1, 2, 3], consumed: 5 }
        );
        assert_eq!(split(&[0x30, 0x82, 0x01]), Record::Incomplete { needed: 1 });
        assert_eq!(split(&[0x30, 0x81, 0x05, 0]), Record::Incomplete { needed: 4 });
        assert_eq!(
            split(&[0, 0, 0, 2, 0xaa, 0xbb]),
            Record::Complete { message: &[0, 0, 0, 2, 0xaa, 0xbb], consumed: 6 }
        );
        assert!(matches!(split(&[0x30, 0x85, 0, 0, 0, 0, 0]), Record::Invalid { .. }));
        assert_eq!(frame(&[0, 0, 0, 2, 0xaa, 0xbb]), Frame::SaslWrapped);
    }

    #[test]
    fn ad_bind_failure_reasons() {
        let r = ResultInfo {
            code: 49,
            diagnostic:
                "80090308: LdapErr: DSID-0C09041C, comment: AcceptSecurityContext error, data 52e, v4563"
                    .into(),
        };
        assert_eq!(r.ad_bind_failure(), Some(0xc000_006d));
        assert_eq!(ResultInfo { code: 49, diagnostic: String::new() }.ad_bind_failure(), None);
    }

    #[test]
    fn garbage_is_an_error() {
        assert_eq!(parse_message(&[]), Err(DecodeError::NotLdap));
        assert_eq!(parse_message(&[0x30, 0x03, 0x02, 0x01]), Err(DecodeError::Invalid));
    }
}
