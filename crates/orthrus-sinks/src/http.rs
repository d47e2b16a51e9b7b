//! One HTTP/1.1 POST over a fresh connection, plain or TLS (rustls), answered with a status
//! and a body: what the sensor sends the center and what a webhook sends its receiver.
//! Hand-written on blocking sockets rather than an HTTP client crate: one request shape, a
//! certificate check we choose per endpoint (pinned, CA file or system roots), and no async
//! runtime on the sensor.

use std::io::Read as _;
use std::net::{TcpStream, ToSocketAddrs};
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::ServerName;

/// Largest answer read.
const MAX_RESPONSE_BYTES: u64 = 16 << 20;

#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    #[error("{0}: {1}")]
    Io(String, std::io::Error),
    #[error("{0}: use http://HOST[:PORT]/PATH or https://HOST[:PORT]/PATH")]
    Url(String),
    #[error("TLS: {0}")]
    Tls(#[from] rustls::Error),
    #[error("answered {status}: {body}")]
    Status { status: u16, body: String },
    #[error("no HTTP answer: {0}")]
    Answer(String),
}

/// A URL as it may be shown: its scheme and authority (without any `user:password@`), never
/// its path or query. For URLs that may not even parse (a configuration error's message).
pub fn redact_url(url: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("", url));
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let authority = authority.rsplit_once('@').map_or(authority, |(_, host)| host);
    if scheme.is_empty() { authority.to_owned() } else { format!("{scheme}://{authority}") }
}

/// Where a request goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpTarget {
    pub https: bool,
    pub host: String,
    pub port: u16,
    /// Path and query, starting with `/`.
    pub path: String,
}

impl HttpTarget {
    /// `scheme://host:port`: how logs, metrics and health name the endpoint. Never the path
    /// or query, which often carry a key (`?apikey=`), and which every user of the center may
    /// read in /metrics and every tenant in its health issues.
    pub fn origin(&self) -> String {
        let scheme = if self.https { "https" } else { "http" };
        if self.host.contains(':') {
            format!("{scheme}://[{}]:{}", self.host, self.port)
        } else {
            format!("{scheme}://{}:{}", self.host, self.port)
        }
    }

    pub fn parse(url: &str) -> Result<Self, HttpError> {
        let bad = || HttpError::Url(redact_url(url));
        let (https, rest) = match url.split_once("://") {
            Some(("https", rest)) => (true, rest),
            Some(("http", rest)) => (false, rest),
            _ => return Err(bad()),
        };
        let (authority, path) = match rest.find('/') {
            Some(at) => rest.split_at(at),
            None => (rest, "/"),
        };
        let default_port = if https { 443 } else { 80 };
        let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
            let (host, after) = v6.split_once(']').ok_or_else(bad)?;
            let port = match after.strip_prefix(':') {
                Some(port) => port.parse().map_err(|_| bad())?,
                None if after.is_empty() => default_port,
                None => return Err(bad()),
            };
            (host, port)
        } else {
            match authority.rsplit_once(':') {
                Some((host, port)) => (host, port.parse().map_err(|_| bad())?),
                None => (authority, default_port),
            }
        };
        if host.is_empty() || host.contains('@') {
            return Err(bad());
        }
        Ok(Self { https, host: host.to_owned(), port, path: path.to_owned() })
    }
}

/// What a POST carries besides its body.
pub struct PostRequest<'a> {
    pub content_type: &'a str,
    /// Extra header lines, each `Name: value` (no CR/LF inside).
    pub headers: &'a [String],
    pub timeout: Duration,
}

/// POSTs `body` to `target`; the answer's body when the status is 2xx.
pub fn post(
    target: &HttpTarget,
    tls: Option<&Arc<rustls::ClientConfig>>,
    request: &PostRequest<'_>,
    body: &[u8],
) -> Result<Vec<u8>, HttpError> {
    let endpoint = format!("{}:{}", target.host, target.port);
    let io = |e| HttpError::Io(endpoint.clone(), e);
    // Each address the name resolves to, in turn: `localhost` is ::1 first on some machines
    // while the center listens on 127.0.0.1, and a name may have several servers.
    let mut last_error = None;
    let mut connected = None;
    for address in (target.host.as_str(), target.port).to_socket_addrs().map_err(io)? {
        match TcpStream::connect_timeout(&address, request.timeout) {
            Ok(socket) => {
                connected = Some(socket);
                break;
            }
            Err(error) => last_error = Some(error),
        }
    }
    let socket = match (connected, last_error) {
        (Some(socket), _) => socket,
        (None, Some(error)) => return Err(io(error)),
        (None, None) => return Err(HttpError::Url(endpoint.clone())),
    };
    socket.set_read_timeout(Some(request.timeout)).map_err(io)?;
    socket.set_write_timeout(Some(request.timeout)).map_err(io)?;
    let mut head = format!(
        "POST {} HTTP/1.1\r\nHost: {}\r\nContent-Type: {}\r\nContent-Length: {}\r\nConnection: close\r\n",
        target.path,
        target.host,
        request.content_type,
        body.len()
    );
    for line in request.headers {
        head.push_str(line);
        head.push_str("\r\n");
    }
    head.push_str("\r\n");
    let response = if target.https {
        let config = tls.ok_or_else(|| HttpError::Url(format!("{endpoint}: no TLS settings")))?;
        let name = ServerName::try_from(target.host.clone()).map_err(|_| HttpError::Url(endpoint.clone()))?;
        let connection = rustls::ClientConnection::new(config.clone(), name)?;
        exchange(rustls::StreamOwned::new(connection, socket), &head, body).map_err(io)?
    } else {
        exchange(socket, &head, body).map_err(io)?
    };
    let (status, body) = parse_response(&response)?;
    if !(200..300).contains(&status) {
        return Err(HttpError::Status {
            status,
            body: String::from_utf8_lossy(&body).chars().take(500).collect(),
        });
    }
    Ok(body)
}

fn exchange(
    mut stream: impl std::io::Read + std::io::Write,
    head: &str,
    body: &[u8],
) -> std::io::Result<Vec<u8>> {
    stream.write_all(head.as_bytes())?;
    stream.write_all(body)?;
    stream.flush()?;
    let mut response = Vec::new();
    // The server closes after its answer; one that closes without TLS close_notify still
    // gave a complete answer when its length says so.
    let read = (&mut stream).take(MAX_RESPONSE_BYTES).read_to_end(&mut response);
    match read {
        Err(error) if response.is_empty() => Err(error),
        _ => Ok(response),
    }
}

fn parse_response(response: &[u8]) -> Result<(u16, Vec<u8>), HttpError> {
    let split = response
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| HttpError::Answer("no HTTP head".into()))?;
    let (head, rest) = response.split_at(split);
    let head = String::from_utf8_lossy(head);
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| HttpError::Answer("no status".into()))?;
    let body = rest.get(4..).unwrap_or_default();
    let chunked = head.lines().any(|line| {
        line.split_once(':').is_some_and(|(name, value)| {
            name.trim().eq_ignore_ascii_case("transfer-encoding")
                && value.to_ascii_lowercase().contains("chunked")
        })
    });
    if chunked {
        return Ok((status, dechunk(body)?));
    }
    Ok((status, body.to_vec()))
}

/// A chunked body (RFC 9112 §7.1) joined: `SIZE[;ext] CRLF DATA CRLF` … `0 CRLF`.
fn dechunk(mut body: &[u8]) -> Result<Vec<u8>, HttpError> {
    let bad = |why: &str| HttpError::Answer(format!("chunked body: {why}"));
    let mut out = Vec::new();
    loop {
        let line_end = body.windows(2).position(|w| w == b"\r\n").ok_or_else(|| bad("no chunk size"))?;
        let (line, rest) = body.split_at(line_end);
        let size_text = String::from_utf8_lossy(line);
        let size_text = size_text.split(';').next().unwrap_or_default().trim();
        let size = usize::from_str_radix(size_text, 16).map_err(|_| bad("chunk size is no hex number"))?;
        let rest = rest.get(2..).unwrap_or_default();
        if size == 0 {
            return Ok(out);
        }
        let data = rest.get(..size).ok_or_else(|| bad("chunk cut short"))?;
        out.extend_from_slice(data);
        body =
            rest.get(size..).and_then(|r| r.strip_prefix(b"\r\n")).ok_or_else(|| bad("chunk not closed"))?;
    }
}

/// Fuzz entry point (`fuzz/fuzz_targets/http_answer.rs`): an answer as a server might send
/// it, and the same bytes as a configured URL.
pub fn fuzz_http_answer(data: &[u8]) {
    let _ = parse_response(data);
    let _ = HttpTarget::parse(&String::from_utf8_lossy(data));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunked_answers_are_joined_and_broken_ones_refused() {
        let answer =
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\n{\"a\"\r\n3;x=1\r\n:1}\r\n0\r\n\r\n";
        assert_eq!(parse_response(answer).unwrap(), (200, b"{\"a\":1}".to_vec()));
        let cut = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nff\r\nshort";
        assert!(parse_response(cut).is_err());
        let plain = b"HTTP/1.1 204 No Content\r\n\r\n";
        assert_eq!(parse_response(plain).unwrap(), (204, Vec::new()));
    }

    #[test]
    fn urls_name_scheme_host_port_and_path() {
        let t = HttpTarget::parse("https://siem.example:8443/hooks/orthrus?x=1").unwrap();
        assert_eq!(
            (t.https, t.host.as_str(), t.port, t.path.as_str()),
            (true, "siem.example", 8443, "/hooks/orthrus?x=1")
        );
        let t = HttpTarget::parse("http://[::1]/").unwrap();
        assert_eq!((t.https, t.host.as_str(), t.port), (false, "::1", 80));
        assert_eq!(HttpTarget::parse("http://10.0.0.5").unwrap().path, "/");
        for bad in ["ftp://x/", "https://", "http://host:port/", "https://[::1/", "https://user@siem/"] {
            assert!(HttpTarget::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(t.origin(), "http://[::1]:80");
        assert_eq!(
            HttpTarget::parse("https://siem.example/h?apikey=s3cret").unwrap().origin(),
            "https://siem.example:443"
        );
    }

    #[test]
    fn shown_urls_keep_no_secret() {
        for (url, shown) in [
            ("https://siem.example:8443/hooks?apikey=s3cret", "https://siem.example:8443"),
            ("https://admin:pw@siem.example/x", "https://siem.example"),
            ("ftp://files.example/secret/path", "ftp://files.example"),
            ("siem.example/path?key=1", "siem.example"),
        ] {
            assert_eq!(redact_url(url), shown);
        }
        let error = HttpTarget::parse("gopher://siem.example/h?apikey=s3cret").unwrap_err().to_string();
        assert!(!error.contains("s3cret") && error.contains("gopher://siem.example"), "{error}");
    }
}
