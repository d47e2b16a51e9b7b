//! The sensor's connection to the center: HTTPS (rustls, ring) whose server certificate is
//! pinned by its SHA-256 fingerprint (the center prints it at start; a self-signed center has
//! no CA to check), with the directory sync's pinning verifier. One JSON request per
//! connection (zstd-compressed when large), answered with a status and a JSON body.
//! Hand-written on rustls' blocking stream rather than an HTTP client crate: the sensor makes
//! two kinds of request and must pin a certificate, which general clients make awkward.

use std::io::{Read as _, Write as _};
use std::net::{TcpStream, ToSocketAddrs};
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::ServerName;

/// Bodies from this size on go zstd-compressed (batches shrink about tenfold).
const COMPRESS_FROM_BYTES: usize = 1024;
/// zstd's default level: most of the gain at a small fraction of the sensor's CPU.
const COMPRESSION_LEVEL: i32 = 3;

/// Largest answer read from the center.
const MAX_RESPONSE_BYTES: u64 = 16 << 20;

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("center {0}: {1}")]
    Io(String, std::io::Error),
    #[error("center address {0}: use https://HOST:PORT")]
    Address(String),
    #[error("TLS: {0}")]
    Tls(#[from] rustls::Error),
    #[error("center answered {status}: {body}")]
    Status { status: u16, body: String },
    #[error("center's answer: {0}")]
    Answer(String),
    #[error("center certificate pin: {0}")]
    Pin(String),
}

pub struct CenterClient {
    host: String,
    port: u16,
    token: String,
    tls: Arc<rustls::ClientConfig>,
    timeout: Duration,
}

impl CenterClient {
    /// A client for `https://HOST:PORT`, pinning the certificate with that SHA-256 fingerprint.
    pub fn pinned(url: &str, fingerprint: &str, token: &str) -> Result<Self, ClientError> {
        let rest = url.strip_prefix("https://").ok_or_else(|| ClientError::Address(url.into()))?;
        let rest = rest.trim_end_matches('/');
        let (host, port) = match rest.rsplit_once(':') {
            Some((host, port)) => (host, port.parse().map_err(|_| ClientError::Address(url.into()))?),
            None => (rest, 443),
        };
        let tls = orthrus_directory::ldap::pinned_config(fingerprint)
            .map_err(|e| ClientError::Pin(e.to_string()))?;
        Ok(Self {
            host: host.trim_start_matches('[').trim_end_matches(']').to_owned(),
            port,
            token: token.trim().to_owned(),
            tls: Arc::new(tls),
            timeout: Duration::from_secs(30),
        })
    }

    /// POSTs `body` as JSON to `path`; the center's JSON answer (null when empty).
    pub fn post(&self, path: &str, body: &serde_json::Value) -> Result<serde_json::Value, ClientError> {
        let endpoint = format!("{}:{}", self.host, self.port);
        let io = |e| ClientError::Io(endpoint.clone(), e);
        let address = (self.host.as_str(), self.port)
            .to_socket_addrs()
            .map_err(io)?
            .next()
            .ok_or_else(|| ClientError::Address(endpoint.clone()))?;
        let socket = TcpStream::connect_timeout(&address, self.timeout).map_err(io)?;
        socket.set_read_timeout(Some(self.timeout)).map_err(io)?;
        socket.set_write_timeout(Some(self.timeout)).map_err(io)?;
        let name =
            ServerName::try_from(self.host.clone()).map_err(|_| ClientError::Address(endpoint.clone()))?;
        let connection = rustls::ClientConnection::new(self.tls.clone(), name)?;
        let mut stream = rustls::StreamOwned::new(connection, socket);
        let (payload, encoding) = encode_body(body);
        let head = format!(
            "POST {path} HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {}\r\nContent-Type: application/json\r\n\
             {encoding}Content-Length: {}\r\nConnection: close\r\n\r\n",
            self.host,
            self.token,
            payload.len()
        );
        stream.write_all(head.as_bytes()).map_err(io)?;
        stream.write_all(&payload).map_err(io)?;
        stream.flush().map_err(io)?;
        let mut response = Vec::new();
        // The center closes the connection after its answer; a peer that closes without
        // TLS close_notify still gave a complete answer when its length says so.
        let read = (&mut stream).take(MAX_RESPONSE_BYTES).read_to_end(&mut response);
        if let Err(error) = read
            && response.is_empty()
        {
            return Err(io(error));
        }
        let text = String::from_utf8_lossy(&response);
        let (head, body) =
            text.split_once("\r\n\r\n").ok_or_else(|| ClientError::Answer("no HTTP head".into()))?;
        let status: u16 = head
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| ClientError::Answer("no status".into()))?;
        if !(200..300).contains(&status) {
            return Err(ClientError::Status { status, body: body.chars().take(500).collect() });
        }
        if body.trim().is_empty() {
            return Ok(serde_json::Value::Null);
        }
        serde_json::from_str(body).map_err(|e| ClientError::Answer(e.to_string()))
    }
}

/// The body's bytes and its Content-Encoding header line (empty when sent as is).
fn encode_body(body: &serde_json::Value) -> (Vec<u8>, &'static str) {
    let json = body.to_string().into_bytes();
    if json.len() >= COMPRESS_FROM_BYTES
        && let Ok(compressed) = zstd::bulk::compress(&json, COMPRESSION_LEVEL)
    {
        return (compressed, "Content-Encoding: zstd\r\n");
    }
    (json, "")
}
