//! NetBIOS name service (RFC 1001/1002, UDP 137): name queries, registrations, releases and
//! their answers, with the first-level name encoding undone. An input to network name
//! resolution (which computer name an address claims). Hand-written: the format is tiny and
//! the one crate (netbios-parser) is built on an abandoned DNS parser.
//!
//! ```
//! use orthrus_proto::netbios;
//! // "WS01" padded to 15 characters, suffix 0x00, first-level encoded.
//! assert_eq!(netbios::decode_name(b"FHFDDADBCACACACACACACACACACACAAA"), Some(("WS01".to_owned(), 0)));
//! ```

use std::net::Ipv4Addr;

const MAX_ADDRESSES: usize = 16;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("NetBIOS name service message truncated")]
    Truncated,
    #[error("invalid NetBIOS name")]
    InvalidName,
}

impl DecodeError {
    pub fn reason(&self) -> &'static str {
        match self {
            DecodeError::Truncated => "truncated",
            DecodeError::InvalidName => "invalid_name",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub id: u16,
    pub response: bool,
    /// `query`, `registration`, `release`, `wack`, `refresh`, `other`.
    pub operation: &'static str,
    pub rcode: u8,
    pub name: String,
    /// The 16th byte: 0x00 workstation, 0x20 file server, 0x1c domain controllers, ...
    pub suffix: u8,
    /// Addresses the message binds to the name (answer or additional NB records).
    pub addresses: Vec<Ipv4Addr>,
}

/// Undoes the first-level encoding (two letters 'A'..'P' per byte): name and suffix.
pub fn decode_name(encoded: &[u8]) -> Option<(String, u8)> {
    if encoded.len() != 32 {
        return None;
    }
    let mut bytes = [0u8; 16];
    for (i, pair) in encoded.chunks_exact(2).enumerate() {
        let hi = pair.first()?.checked_sub(b'A').filter(|v| *v < 16)?;
        let lo = pair.get(1)?.checked_sub(b'A').filter(|v| *v < 16)?;
        *bytes.get_mut(i)? = (hi << 4) | lo;
    }
    let (name, suffix) = bytes.split_at(15);
    let text: String =
        name.iter().map(|b| char::from(*b)).collect::<String>().trim_end_matches([' ', '\0']).to_owned();
    Some((text, *suffix.first()?))
}

/// Decodes one name service datagram.
pub fn parse_message(bytes: &[u8]) -> Result<Message, DecodeError> {
    let [i0, i1, f0, f1, q0, q1, a0, a1, _, _, d0, d1] =
        *bytes.first_chunk::<12>().ok_or(DecodeError::Truncated)?;
    let id = u16::from_be_bytes([i0, i1]);
    let response = f0 & 0x80 != 0;
    let operation = match (f0 >> 3) & 0x0f {
        0 => "query",
        5 => "registration",
        6 => "release",
        7 => "wack",
        8 | 9 => "refresh",
        15 => "multihomed_registration",
        _ => "other",
    };
    let rcode = f1 & 0x0f;
    let (questions, answers, additional) =
        (u16::from_be_bytes([q0, q1]), u16::from_be_bytes([a0, a1]), u16::from_be_bytes([d0, d1]));
    let mut at = 12;
    let mut name = None;
    if questions > 0 {
        let (n, end) = encoded_name(bytes, at)?;
        name = Some(n);
        at = end + 4; // type, class
    }
    let mut addresses = Vec::new();
    for _ in 0..(answers.saturating_add(additional)).min(8) {
        let (n, end) = match bytes.get(at) {
            Some(0xc0..=0xff) => (None, at + 2),
            _ => {
                let (n, end) = encoded_name(bytes, at)?;
                (Some(n), end)
            }
        };
        if name.is_none() {
            name = n;
        }
        let [t0, t1, _, _, _, _, _, _, l0, l1] =
            *bytes.get(end..).and_then(|b| b.first_chunk::<10>()).ok_or(DecodeError::Truncated)?;
        let rtype = u16::from_be_bytes([t0, t1]);
        let rdlen = usize::from(u16::from_be_bytes([l0, l1]));
        let rdata = bytes.get(end + 10..end + 10 + rdlen).ok_or(DecodeError::Truncated)?;
        if rtype == 0x20 {
            // NB: (flags u16, IPv4) entries.
            for entry in rdata.chunks_exact(6).take(MAX_ADDRESSES) {
                if let [_, _, a, b, c, d] = *entry {
                    addresses.push(Ipv4Addr::new(a, b, c, d));
                }
            }
        }
        at = end + 10 + rdlen;
    }
    let (name, suffix) = name.ok_or(DecodeError::Truncated)?;
    Ok(Message { id, response, operation, rcode, name, suffix, addresses })
}

/// An encoded name at `at` (length 32, the encoded bytes, a scope ending in 0): the decoded
/// name and where it ends.
fn encoded_name(bytes: &[u8], at: usize) -> Result<((String, u8), usize), DecodeError> {
    let len = usize::from(*bytes.get(at).ok_or(DecodeError::Truncated)?);
    if len != 32 {
        return Err(DecodeError::InvalidName);
    }
    let encoded = bytes.get(at + 1..at + 33).ok_or(DecodeError::Truncated)?;
    let name = decode_name(encoded).ok_or(DecodeError::InvalidName)?;
    // Skip the scope labels up to the terminating zero.
    let mut end = at + 33;
    for _ in 0..64 {
        match *bytes.get(end).ok_or(DecodeError::Truncated)? {
            0 => return Ok((name, end + 1)),
            n => end += 1 + usize::from(n),
        }
    }
    Err(DecodeError::InvalidName)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registration_binds_the_name_to_its_address() {
        let seed = include_bytes!("../../../fuzz/seeds/name_messages/nbns_registration.bin");
        let m = parse_message(seed).unwrap();
        assert_eq!((m.name.as_str(), m.suffix, m.operation, m.response), ("WS01", 0, "registration", false));
        assert_eq!(m.addresses, [Ipv4Addr::new(10, 0, 0, 5)]);
    }

    #[test]
    fn bad_names_and_truncation_are_errors() {
        assert_eq!(decode_name(b"ZZ"), None);
        assert_eq!(decode_name(&[b'Q'; 32]), None);
        assert_eq!(parse_message(&[0; 5]), Err(DecodeError::Truncated));
        let mut m = vec![0, 1, 0x29, 0x10, 0, 1, 0, 0, 0, 0, 0, 1, 32];
        m.extend_from_slice(b"FHFDDADBCACACACACACACACACACACAAA");
        assert_eq!(parse_message(&m), Err(DecodeError::Truncated));
    }
}
