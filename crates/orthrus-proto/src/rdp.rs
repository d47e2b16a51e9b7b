//! The RDP connection request (MS-RDPBCGR §2.2.1.1): TPKT, X.224 Connection Request, and the
//! routing token or `Cookie: mstshash=USER` the client sends before any encryption. The
//! cookie names the account (often `DOMAIN\user`) a client means to log on with: an input to
//! network name resolution and to lateral-movement timelines. Hand-written: a few fixed
//! fields.
//!
//! ```
//! use orthrus_proto::rdp;
//! let req = b"\x03\x00\x00\x2b\x26\xe0\x00\x00\x00\x00\x00Cookie: mstshash=alice\r\n\x01\x00\x08\x00\x03\x00\x00\x00";
//! let r = rdp::parse_connection_request(req).unwrap();
//! assert_eq!(r.cookie.as_deref(), Some("alice"));
//! assert_eq!(r.requested_protocols, Some(3));
//! ```

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectionRequest {
    /// The `mstshash` cookie's value, or the routing token's text.
    pub cookie: Option<String>,
    /// RDP_NEG_REQ requested protocols (1 TLS, 2 CredSSP, 8 RDSTLS, ...).
    pub requested_protocols: Option<u32>,
}

/// Decodes a TPKT-framed X.224 Connection Request; `None` for anything else.
pub fn parse_connection_request(bytes: &[u8]) -> Option<ConnectionRequest> {
    let [3, 0, hi, lo, li, code, ..] = *bytes else { return None };
    let tpkt_len = usize::from(u16::from_be_bytes([hi, lo]));
    if code & 0xf0 != 0xe0 {
        return None;
    }
    let pdu = bytes.get(..tpkt_len.min(bytes.len()))?;
    // X.224 CR: length indicator, code, DST-REF(2), SRC-REF(2), class: 7 bytes from `li`.
    let variable = pdu.get(4 + 7..4 + 1 + usize::from(li))?;
    let (cookie, rest) = match variable.windows(2).position(|w| w == b"\r\n") {
        Some(end) if variable.starts_with(b"Cookie: ") => {
            let line = variable.get(..end)?;
            let text = String::from_utf8_lossy(line.get(8..)?).into_owned();
            let value = text.strip_prefix("mstshash=").map(str::to_owned).unwrap_or(text);
            (Some(value.chars().take(256).collect()), variable.get(end + 2..).unwrap_or_default())
        }
        _ => (None, variable),
    };
    let requested_protocols = match rest {
        [1, _, 8, 0, a, b, c, d, ..] => Some(u32::from_le_bytes([*a, *b, *c, *d])),
        _ => None,
    };
    Some(ConnectionRequest { cookie, requested_protocols })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn other_bytes_are_not_a_request() {
        assert_eq!(parse_connection_request(b"\x16\x03\x01"), None);
        assert_eq!(parse_connection_request(b"\x03\x00\x00\x0b\x06\xd0\x00\x00\x00\x00\x00"), None);
        // A request cut short has no cookie but does not panic.
        let r = parse_connection_request(b"\x03\x00\x00\x2a\x25\xe0\x00\x00\x00\x00\x00Cookie: mst");
        assert_eq!(r, None);
    }
}
