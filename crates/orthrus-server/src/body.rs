//! Request bodies that can be large (sensor batches, directory uploads): JSON, zstd-compressed
//! when the sender says so (`Content-Encoding: zstd`). A batch of activities is repetitive
//! JSON that zstd shrinks about tenfold; the decompressed size is bounded so a small hostile
//! body cannot take the memory.

use std::io::Read as _;

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::StatusCode;
use axum::http::header::CONTENT_ENCODING;
use serde::de::DeserializeOwned;

use orthrus_model::Activity;
use serde::Deserialize;

use crate::error::ApiError;

/// Largest body after decompression.
pub const MAX_DECODED_BYTES: u64 = 512 << 20;

/// A sensor's batch: its sequence number (idempotence) and its activities.
#[derive(Deserialize)]
pub struct Batch {
    pub sequence: u64,
    pub activities: Vec<Activity>,
}

/// A JSON body, plain or zstd-compressed.
pub struct JsonBody<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        let encoding = content_encoding(request.headers());
        let bytes = Bytes::from_request(request, state)
            .await
            .map_err(|e| ApiError::new(e.status(), e.body_text()))?;
        decode(encoding.as_deref(), &bytes).map(JsonBody)
    }
}

/// The `Content-Encoding` of a request, lower-cased.
pub fn content_encoding(headers: &axum::http::HeaderMap) -> Option<String> {
    headers.get(CONTENT_ENCODING).map(|v| v.to_str().unwrap_or("?").trim().to_ascii_lowercase())
}

/// A body's JSON, decompressed per its encoding. For handlers that must check who asks before
/// they say anything about the body.
pub fn decode<T: DeserializeOwned>(encoding: Option<&str>, bytes: &[u8]) -> Result<T, ApiError> {
    let json = match encoding {
        None | Some("identity") => std::borrow::Cow::Borrowed(bytes),
        Some("zstd") => std::borrow::Cow::Owned(decompress(bytes)?),
        Some(other) => {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                format!("content encoding {other:?}: send identity or zstd"),
            ));
        }
    };
    serde_json::from_slice(&json)
        .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, format!("the body is no valid request: {e}")))
}

fn decompress(bytes: &[u8]) -> Result<Vec<u8>, ApiError> {
    let bad = |e: std::io::Error| ApiError::new(StatusCode::BAD_REQUEST, format!("zstd body: {e}"));
    let mut decoder = zstd::stream::read::Decoder::new(bytes).map_err(bad)?;
    let mut out = Vec::new();
    (&mut decoder).take(MAX_DECODED_BYTES + 1).read_to_end(&mut out).map_err(bad)?;
    if out.len() as u64 > MAX_DECODED_BYTES {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("the body decompresses to more than {MAX_DECODED_BYTES} bytes"),
        ));
    }
    Ok(out)
}

/// Fuzz entry point (`fuzz/fuzz_targets/request_body.rs`): the first byte picks the encoding
/// (even: plain, odd: zstd), the rest is a body read as each kind of large request.
pub fn fuzz_request_body(data: &[u8]) {
    let Some((first, body)) = data.split_first() else { return };
    let encoding = if first % 2 == 0 { None } else { Some("zstd") };
    let _ = decode::<Batch>(encoding, body);
    let _ = decode::<orthrus_center::health::Heartbeat>(encoding, body);
    let _ = decode::<orthrus_directory::Snapshot>(encoding, body);
}
