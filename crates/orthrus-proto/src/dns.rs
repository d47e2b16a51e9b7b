//! DNS (RFC 1035, RFC 2136 updates, RFC 5936 zone transfers) over UDP and TCP 53. Messages
//! are decoded by `simple-dns` (zero-copy); this module adds TCP framing and reduces a
//! message to what name resolution and detections read.
//!
//! ```
//! use orthrus_proto::dns;
//! // A query for lab.test A, id 0x1234.
//! let q = b"\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x03lab\x04test\x00\x00\x01\x00\x01";
//! let m = dns::parse_message(q).unwrap();
//! assert_eq!((m.id, m.response, m.questions[0].0.as_str(), m.questions[0].1), (0x1234, false, "lab.test", "A"));
//! ```

use std::net::{Ipv4Addr, Ipv6Addr};

use simple_dns::rdata::RData;

use crate::wire::Record;

/// Answer records rendered per message; the count covers all of them.
const MAX_RENDERED_ANSWERS: usize = 32;
const MAX_QUESTIONS: usize = 8;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("DNS message shorter than its header")]
    Truncated,
    #[error("invalid DNS message")]
    Invalid,
}

impl DecodeError {
    pub fn reason(&self) -> &'static str {
        match self {
            DecodeError::Truncated => "truncated",
            DecodeError::Invalid => "invalid_message",
        }
    }
}

/// DNS over TCP: a 2-byte big-endian length, then the message (RFC 1035 §4.2.2).
pub fn split_tcp(stream: &[u8]) -> Record<'_> {
    let Some(head) = stream.first_chunk::<2>() else {
        return Record::Incomplete { needed: 2 - stream.len() };
    };
    let len = usize::from(u16::from_be_bytes(*head));
    if len < 12 {
        return Record::Invalid { length: len as u32 };
    }
    match stream.get(2..2 + len) {
        Some(message) => Record::Complete { message, consumed: 2 + len },
        None => Record::Incomplete { needed: 2 + len - stream.len() },
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub id: u16,
    pub response: bool,
    pub opcode: &'static str,
    pub rcode: &'static str,
    /// (name, type) of each question; for an UPDATE, the zone.
    pub questions: Vec<(String, &'static str)>,
    /// `name TYPE data`, the first few.
    pub answers: Vec<String>,
    pub answer_count: u32,
}

/// Decodes one DNS message.
pub fn parse_message(bytes: &[u8]) -> Result<Message, DecodeError> {
    let header = bytes.first_chunk::<12>().ok_or(DecodeError::Truncated)?;
    let id = u16::from_be_bytes([header[0], header[1]]);
    let response = header[2] & 0x80 != 0;
    let opcode = match (header[2] >> 3) & 0x0f {
        0 => "query",
        1 => "inverse_query",
        2 => "status",
        4 => "notify",
        5 => "update",
        _ => "other",
    };
    let rcode = rcode_name(header[3] & 0x0f);
    let question_count = u16::from_be_bytes([header[4], header[5]]);
    let answer_count = u16::from_be_bytes([header[6], header[7]]);
    if answer_count == 0 {
        // Queries, and answers without records: the question is all there is to read, and
        // reading it here costs a fraction of a full parse.
        let questions = questions(bytes, question_count).ok_or(DecodeError::Invalid)?;
        return Ok(Message { id, response, opcode, rcode, questions, answers: Vec::new(), answer_count: 0 });
    }
    let packet = simple_dns::Packet::parse(bytes).map_err(|_| DecodeError::Invalid)?;
    let questions = packet
        .questions
        .iter()
        .take(MAX_QUESTIONS)
        .map(|q| (q.qname.to_string(), type_name(u16::from(q.qtype))))
        .collect();
    let answers = packet.answers.iter().take(MAX_RENDERED_ANSWERS).map(render).collect();
    Ok(Message { id, response, opcode, rcode, questions, answers, answer_count: packet.answers.len() as u32 })
}

/// The question section (RFC 1035 §4.1.2), read directly. Names in questions are rarely
/// compressed, but pointers are followed (a bounded number of times).
fn questions(bytes: &[u8], count: u16) -> Option<Vec<(String, &'static str)>> {
    let mut at = 12;
    let mut out = Vec::with_capacity(usize::from(count).min(MAX_QUESTIONS));
    for _ in 0..count {
        let (name, end) = name_at(bytes, at)?;
        let qtype = u16::from_be_bytes(*bytes.get(end..)?.first_chunk::<2>()?);
        bytes.get(end + 2..end + 4)?; // qclass
        if out.len() < MAX_QUESTIONS {
            out.push((name, type_name(qtype)));
        }
        at = end + 4;
    }
    Some(out)
}

/// A domain name at `at`: its dotted text and where the name's bytes end in place.
fn name_at(bytes: &[u8], mut at: usize) -> Option<(String, usize)> {
    let mut name = String::new();
    let mut end = None;
    for _ in 0..128 {
        let len = *bytes.get(at)?;
        match len {
            0 => return Some((name, end.unwrap_or(at + 1))),
            0xc0..=0xff => {
                let pointer = usize::from(u16::from_be_bytes([len, *bytes.get(at + 1)?]) & 0x3fff);
                end.get_or_insert(at + 2);
                at = pointer;
            }
            1..=63 => {
                let label = bytes.get(at + 1..at + 1 + usize::from(len))?;
                if !name.is_empty() {
                    name.push('.');
                }
                name.extend(label.iter().map(|b| char::from(*b)));
                at += 1 + usize::from(len);
            }
            _ => return None,
        }
    }
    None
}

fn render(rr: &simple_dns::ResourceRecord<'_>) -> String {
    let data = match &rr.rdata {
        RData::A(a) => format!("A {}", Ipv4Addr::from(a.address)),
        RData::AAAA(a) => format!("AAAA {}", Ipv6Addr::from(a.address)),
        RData::CNAME(n) => format!("CNAME {}", n.0),
        RData::PTR(n) => format!("PTR {}", n.0),
        RData::NS(n) => format!("NS {}", n.0),
        RData::SRV(s) => format!("SRV {} {} {} {}", s.priority, s.weight, s.port, s.target),
        other => type_name(u16::from(other.type_code())).to_owned(),
    };
    format!("{} {data}", rr.name)
}

/// RFC 1035 / RFC 2136 names.
pub fn rcode_name(rcode: u8) -> &'static str {
    match rcode {
        0 => "NOERROR",
        1 => "FORMERR",
        2 => "SERVFAIL",
        3 => "NXDOMAIN",
        4 => "NOTIMP",
        5 => "REFUSED",
        6 => "YXDOMAIN",
        7 => "YXRRSET",
        8 => "NXRRSET",
        9 => "NOTAUTH",
        10 => "NOTZONE",
        _ => "OTHER",
    }
}

pub fn type_name(t: u16) -> &'static str {
    match t {
        1 => "A",
        2 => "NS",
        5 => "CNAME",
        6 => "SOA",
        12 => "PTR",
        15 => "MX",
        16 => "TXT",
        28 => "AAAA",
        33 => "SRV",
        35 => "NAPTR",
        41 => "OPT",
        43 => "DS",
        48 => "DNSKEY",
        64 => "SVCB",
        65 => "HTTPS",
        250 => "TSIG",
        249 => "TKEY",
        251 => "IXFR",
        252 => "AXFR",
        255 => "ANY",
        _ => "OTHER",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn question_reader_agrees_with_simple_dns() {
        // A query with a compression pointer in its second question.
        let q = b"\x00\x07\x01\x00\x00\x02\x00\x00\x00\x00\x00\x00\x03lab\x04test\x00\x00\x01\x00\x01\x05_ldap\xc0\x0c\x00\x21\x00\x01";
        let ours = questions(q, 2).unwrap();
        let theirs = simple_dns::Packet::parse(q).unwrap();
        assert_eq!(ours, [("lab.test".to_owned(), "A"), ("_ldap.lab.test".to_owned(), "SRV")]);
        assert_eq!(theirs.questions[1].qname.to_string(), "_ldap.lab.test");
        // A pointer loop is refused, not followed forever.
        let mut looped = q[..12].to_vec();
        looped.extend_from_slice(b"\xc0\x0c\x00\x01\x00\x01");
        assert_eq!(questions(&looped, 1), None);
    }

    #[test]
    fn tcp_framing_and_garbage() {
        assert!(matches!(split_tcp(&[0, 3, 1, 2, 3]), Record::Invalid { .. }));
        assert_eq!(split_tcp(&[0, 12]), Record::Incomplete { needed: 12 });
        assert_eq!(parse_message(&[0; 5]), Err(DecodeError::Truncated));
        assert!(parse_message(&[0, 1, 0, 0, 0, 9, 0, 0, 0, 0, 0, 0, 1]).is_err());
    }
}
