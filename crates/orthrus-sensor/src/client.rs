//! The sensor's connection to the center: HTTPS (rustls, ring) whose server certificate is
//! pinned by its SHA-256 fingerprint (the center prints it at start; a self-signed center has
//! no CA to check), with the directory sync's pinning verifier. One JSON request per
//! connection (zstd-compressed when large), answered with a status and a JSON body, through
//! the sinks' small blocking HTTP client (pinning is awkward in general-purpose ones).

use std::sync::Arc;
use std::time::Duration;

use orthrus_sinks::http::{HttpError, HttpTarget, PostRequest, post};

/// Bodies from this size on go zstd-compressed (batches shrink about tenfold).
const COMPRESS_FROM_BYTES: usize = 1024;
/// zstd's default level: most of the gain at a small fraction of the sensor's CPU.
const COMPRESSION_LEVEL: i32 = 3;

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("center address {0}: use https://HOST:PORT")]
    Address(String),
    #[error("center: {0}")]
    Http(#[from] HttpError),
    #[error("center's answer: {0}")]
    Answer(String),
    #[error("center certificate pin: {0}")]
    Pin(String),
}

impl ClientError {
    /// The center answered, and refused (as opposed to being unreachable).
    pub fn is_refusal(&self) -> bool {
        matches!(self, ClientError::Http(HttpError::Status { .. }))
    }
}

pub struct CenterClient {
    base: HttpTarget,
    authorization: Vec<String>,
    tls: Arc<rustls::ClientConfig>,
    timeout: Duration,
}

impl CenterClient {
    /// A client for `https://HOST:PORT`, pinning the certificate with that SHA-256 fingerprint.
    pub fn pinned(url: &str, fingerprint: &str, token: &str) -> Result<Self, ClientError> {
        let base = HttpTarget::parse(url).map_err(|_| ClientError::Address(url.into()))?;
        if !base.https {
            return Err(ClientError::Address(url.into()));
        }
        let tls = orthrus_tls::pinned_config(fingerprint).map_err(|e| ClientError::Pin(e.to_string()))?;
        Ok(Self {
            base,
            authorization: vec![format!("Authorization: Bearer {}", token.trim())],
            tls: Arc::new(tls),
            timeout: Duration::from_secs(30),
        })
    }

    /// POSTs `body` as JSON to `path`; the center's JSON answer (null when empty).
    pub fn post(&self, path: &str, body: &serde_json::Value) -> Result<serde_json::Value, ClientError> {
        self.post_encoded(path, &encode_body(body))
    }

    /// POSTs a body [`encode_body`] made.
    pub fn post_encoded(&self, path: &str, body: &(Vec<u8>, bool)) -> Result<serde_json::Value, ClientError> {
        let target = HttpTarget { path: path.to_owned(), ..self.base.clone() };
        let (payload, compressed) = body;
        let mut headers = self.authorization.clone();
        if *compressed {
            headers.push("Content-Encoding: zstd".into());
        }
        let request =
            PostRequest { content_type: "application/json", headers: &headers, timeout: self.timeout };
        let answer = post(&target, Some(&self.tls), &request, payload)?;
        if answer.iter().all(u8::is_ascii_whitespace) {
            return Ok(serde_json::Value::Null);
        }
        serde_json::from_slice(&answer).map_err(|e| ClientError::Answer(e.to_string()))
    }
}

/// The body's bytes, zstd-compressed (true) when large enough to gain from it.
pub fn encode_body(body: &serde_json::Value) -> (Vec<u8>, bool) {
    let json = body.to_string().into_bytes();
    if json.len() >= COMPRESS_FROM_BYTES
        && let Ok(compressed) = zstd::bulk::compress(&json, COMPRESSION_LEVEL)
    {
        return (compressed, true);
    }
    (json, false)
}
