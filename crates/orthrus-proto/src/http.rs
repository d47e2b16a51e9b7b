//! HTTP/1.x message heads (RFC 9112) as far as authentication goes: the request line, the
//! `Authorization: NTLM|Negotiate|Kerberos <base64>` token, the response status, and the
//! body length that says where the next message starts. Carries WinRM (5985) and web
//! enrollment or other IIS endpoints on a DC (80): NTLM over HTTP is what relay attacks
//! target. Hand-written: a passive reader needs only the head.
//!
//! ```
//! use orthrus_proto::http;
//! let head = b"POST /wsman HTTP/1.1\r\nAuthorization: Negotiate TlRMTVNTUAABAAAA\r\nContent-Length: 0\r\n\r\n";
//! let h = http::parse_head(head).unwrap();
//! assert_eq!(h.method.as_deref(), Some("POST"));
//! assert_eq!(h.auth_token.as_deref(), Some(&b"NTLMSSP\0\x01\0\0\0"[..]));
//! ```

use base64::Engine as _;

/// Longest message head read; a longer one is not followed.
pub const MAX_HEAD_LEN: usize = 16 << 10;

/// How the body after a head is delimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Body {
    Length(u64),
    /// `Transfer-Encoding: chunked`: its end is found by reading chunk sizes.
    Chunked,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Head {
    /// Requests: method and target.
    pub method: Option<String>,
    pub target: Option<String>,
    /// Responses: status code.
    pub status: Option<u16>,
    /// The decoded security token of `Authorization` (requests) or `WWW-Authenticate`
    /// (responses) for the NTLM, Negotiate and Kerberos schemes.
    pub auth_token: Option<Vec<u8>>,
    pub body: Body,
}

/// Where the head ends (after its blank line), if it is complete.
pub fn head_end(stream: &[u8]) -> Option<usize> {
    stream.windows(4).position(|w| w == b"\r\n\r\n").map(|at| at + 4)
}

/// Parses a complete head (through its blank line).
pub fn parse_head(head: &[u8]) -> Option<Head> {
    let text = std::str::from_utf8(head).ok()?;
    let mut lines = text.split("\r\n");
    let first = lines.next()?;
    let mut parts = first.splitn(3, ' ');
    let (a, b) = (parts.next()?, parts.next()?);
    let (method, target, status) = if a.starts_with("HTTP/") {
        (None, None, Some(b.parse().ok()?))
    } else if parts.next().is_some_and(|v| v.starts_with("HTTP/")) {
        (Some(a.to_owned()), Some(b.chars().take(512).collect()), None)
    } else {
        return None;
    };
    let mut auth_token = None;
    let mut body = Body::Length(0);
    for line in lines.take(256) {
        let Some((name, value)) = line.split_once(':') else { continue };
        let value = value.trim();
        if name.eq_ignore_ascii_case("authorization") || name.eq_ignore_ascii_case("www-authenticate") {
            if let Some((scheme, token)) = value.split_once(' ')
                && ["ntlm", "negotiate", "kerberos"].iter().any(|s| scheme.eq_ignore_ascii_case(s))
            {
                auth_token = base64::engine::general_purpose::STANDARD.decode(token.trim()).ok();
            }
        } else if name.eq_ignore_ascii_case("content-length") {
            body = Body::Length(value.parse().ok()?);
        } else if name.eq_ignore_ascii_case("transfer-encoding")
            && value.to_ascii_lowercase().contains("chunked")
        {
            body = Body::Chunked;
        }
    }
    Some(Head { method, target, status, auth_token, body })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn response_heads_and_garbage() {
        let h = parse_head(
            b"HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Negotiate\r\nContent-Length: 12\r\n\r\n",
        )
        .unwrap();
        assert_eq!((h.status, h.auth_token, h.body), (Some(401), None, Body::Length(12)));
        assert_eq!(parse_head(b"\x16\x03\x01garbage\r\n\r\n"), None);
        assert_eq!(parse_head(b"GET / HTTP/1.1\r\nContent-Length: -1\r\n\r\n"), None);
        assert_eq!(head_end(b"GET / HTTP/1.1\r\n"), None);
    }
}
