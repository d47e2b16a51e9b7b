//! Request bodies that can be large (sensor batches, directory uploads): JSON, zstd-compressed
//! when the sender says so (`Content-Encoding: zstd`). A batch of activities is repetitive
//! JSON that zstd shrinks about tenfold.
//!
//! A hostile body costs little: it must arrive within [`BODY_DEADLINE`] (the router's deadline
//! on every request body); it is decoded on the
//! blocking pool, [`AppState::decoding`] bodies at a time (the async threads that answer every
//! tenant's API never decode); the JSON is parsed as it is decompressed, so the decompressed
//! text is never held whole; a frame that declares more than the limit is refused before
//! decoding, and one that decodes to more is refused the moment it passes the limit.

use std::cell::Cell;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::StatusCode;
use axum::http::header::CONTENT_ENCODING;
use serde::de::DeserializeOwned;

use orthrus_model::Activity;
use serde::Deserialize;

use crate::error::ApiError;
use crate::state::AppState;

/// Largest sensor batch or heartbeat after decompression. A default batch (1000 activities of
/// a few hundred bytes to a few KiB each) is one to three MiB of JSON; 64 MiB leaves twenty
/// times that for larger `batch_activities` and long command lines, while bounding what one
/// body can make the center parse.
pub const MAX_BATCH_BYTES: u64 = 64 << 20;
/// Largest directory snapshot after decompression: an admin's upload of a domain of up to two
/// million objects (the sync's own bound), as the center reads stored snapshots back.
pub const MAX_SNAPSHOT_BYTES: u64 = 4 << 30;
/// Any request body must have arrived this long after its headers: 64 MiB at 4.5 Mbit/s, a
/// default batch on any link. A client sending a byte now and then holds its connection no
/// longer.
pub const BODY_DEADLINE: Duration = Duration::from_secs(120);
/// How long a body waits for a decoding slot before the sender is asked to retry.
const DECODE_WAIT: Duration = Duration::from_secs(30);

/// A sensor's batch: its sequence number (idempotence) and its activities.
#[derive(Deserialize)]
pub struct Batch {
    pub sequence: u64,
    pub activities: Vec<Activity>,
}

/// A sensor's JSON body (a batch, a heartbeat), plain or zstd-compressed, at most
/// [`MAX_BATCH_BYTES`] decoded.
pub struct JsonBody<T>(pub T);

impl<T: DeserializeOwned + Send + 'static> FromRequest<Arc<AppState>> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &Arc<AppState>) -> Result<Self, Self::Rejection> {
        let encoding = content_encoding(request.headers());
        let bytes = read(request, state).await?;
        decode_off_thread(state, encoding, bytes, MAX_BATCH_BYTES).await.map(JsonBody)
    }
}

/// A request's whole body, within the route's size limit (and [`BODY_DEADLINE`], which the
/// router puts on every body).
pub async fn read(request: Request, state: &Arc<AppState>) -> Result<Bytes, ApiError> {
    Bytes::from_request(request, state)
        .await
        .map_err(|rejection| ApiError::new(rejection.status(), rejection.body_text()))
}

/// [`decode`] on the blocking pool, once a decoding slot is free.
pub async fn decode_off_thread<T: DeserializeOwned + Send + 'static>(
    state: &AppState,
    encoding: Option<String>,
    bytes: Bytes,
    limit: u64,
) -> Result<T, ApiError> {
    let busy =
        || ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "the center is busy decoding; retry shortly");
    let slot = tokio::time::timeout(DECODE_WAIT, state.decoding.clone().acquire_owned())
        .await
        .map_err(|_| busy())?
        .map_err(|_| busy())?;
    // The slot moves into the decoding: a client that hangs up does not free it before the
    // work it started is done.
    tokio::task::spawn_blocking(move || {
        let _slot = slot;
        decode(encoding.as_deref(), &bytes, limit)
    })
    .await
    .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?
}

/// The `Content-Encoding` of a request, lower-cased.
pub fn content_encoding(headers: &axum::http::HeaderMap) -> Option<String> {
    headers.get(CONTENT_ENCODING).map(|v| v.to_str().unwrap_or("?").trim().to_ascii_lowercase())
}

fn too_large(limit: u64) -> ApiError {
    ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, format!("the body decompresses to more than {limit} bytes"))
}

fn invalid(error: &serde_json::Error) -> ApiError {
    ApiError::new(StatusCode::BAD_REQUEST, format!("the body is no valid request: {error}"))
}

/// A body's JSON, decompressed per its encoding, at most `limit` bytes of it. For handlers that
/// must check who asks before they say anything about the body.
pub fn decode<T: DeserializeOwned>(encoding: Option<&str>, bytes: &[u8], limit: u64) -> Result<T, ApiError> {
    match encoding {
        None | Some("identity") => {
            if bytes.len() as u64 > limit {
                return Err(too_large(limit));
            }
            serde_json::from_slice(bytes).map_err(|e| invalid(&e))
        }
        Some("zstd") => decode_zstd(bytes, limit),
        Some(other) => Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            format!("content encoding {other:?}: send identity or zstd"),
        )),
    }
}

/// Reads at most `limit` bytes, then fails and says so (`passed`), so a bomb stops there.
struct Capped<'a, R> {
    inner: R,
    left: u64,
    passed: &'a Cell<bool>,
}

impl<R: std::io::Read> std::io::Read for Capped<'_, R> {
    fn read(&mut self, buffer: &mut [u8]) -> std::io::Result<usize> {
        if self.left == 0 {
            // One byte more than the limit tells a body of exactly `limit` bytes from a bomb.
            let mut probe = [0u8; 1];
            if self.inner.read(&mut probe)? == 0 {
                return Ok(0);
            }
            self.passed.set(true);
            return Err(std::io::Error::other("decompressed body over the limit"));
        }
        let room = usize::try_from(self.left).unwrap_or(usize::MAX).min(buffer.len());
        let read = self.inner.read(buffer.get_mut(..room).unwrap_or_default())?;
        self.left -= read as u64;
        Ok(read)
    }
}

fn decode_zstd<T: DeserializeOwned>(bytes: &[u8], limit: u64) -> Result<T, ApiError> {
    let bad = |e: std::io::Error| ApiError::new(StatusCode::BAD_REQUEST, format!("zstd body: {e}"));
    // A frame that says up front it is larger is refused before a byte is decoded.
    if let Ok(Some(declared)) = zstd::zstd_safe::get_frame_content_size(bytes)
        && declared > limit
    {
        return Err(too_large(limit));
    }
    let decoder = zstd::stream::read::Decoder::new(bytes).map_err(bad)?;
    let passed = Cell::new(false);
    let capped = Capped { inner: decoder, left: limit, passed: &passed };
    let parsed = serde_json::from_reader(std::io::BufReader::with_capacity(64 << 10, capped));
    match parsed {
        Ok(value) => Ok(value),
        Err(_) if passed.get() => Err(too_large(limit)),
        Err(error) if error.is_io() => {
            Err(ApiError::new(StatusCode::BAD_REQUEST, format!("zstd body: {error}")))
        }
        Err(error) => Err(invalid(&error)),
    }
}

/// Fuzz entry point (`fuzz/fuzz_targets/request_body.rs`): the first byte picks the encoding
/// (even: plain, odd: zstd), the rest is a body read as each kind of large request.
pub fn fuzz_request_body(data: &[u8]) {
    let Some((first, body)) = data.split_first() else { return };
    let encoding = if first % 2 == 0 { None } else { Some("zstd") };
    let _ = decode::<Batch>(encoding, body, MAX_BATCH_BYTES);
    let _ = decode::<orthrus_center::health::Heartbeat>(encoding, body, MAX_BATCH_BYTES);
    let _ = decode::<orthrus_directory::Snapshot>(encoding, body, MAX_BATCH_BYTES);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_body_of_exactly_the_limit_passes_and_one_byte_more_does_not() {
        let json = br#"{"a": 1}"#;
        let padded = |total: usize| {
            let mut body = json.to_vec();
            body.resize(total, b' ');
            zstd::bulk::compress(&body, 3).unwrap()
        };
        let limit = 4096;
        let fits: serde_json::Value = decode(Some("zstd"), &padded(4096), limit).unwrap();
        assert_eq!(fits["a"], 1);
        let error = decode::<serde_json::Value>(Some("zstd"), &padded(4097), limit).unwrap_err();
        assert_eq!(error.parts().0, StatusCode::PAYLOAD_TOO_LARGE);
        // a streamed frame (no declared size) is stopped by the reader, not by the header
        let mut streamed = Vec::new();
        let mut encoder = zstd::stream::write::Encoder::new(&mut streamed, 3).unwrap();
        std::io::Write::write_all(&mut encoder, &vec![b' '; 10 * limit as usize]).unwrap();
        encoder.finish().unwrap();
        assert_eq!(zstd::zstd_safe::get_frame_content_size(&streamed).ok().flatten(), None);
        let error = decode::<serde_json::Value>(Some("zstd"), &streamed, limit).unwrap_err();
        assert_eq!(error.parts().0, StatusCode::PAYLOAD_TOO_LARGE);
        // a plain body over the limit, and damaged JSON
        let error = decode::<serde_json::Value>(None, &vec![b' '; 4097], limit).unwrap_err();
        assert_eq!(error.parts().0, StatusCode::PAYLOAD_TOO_LARGE);
        let error =
            decode::<serde_json::Value>(Some("zstd"), &zstd::bulk::compress(b"{\"a\":", 3).unwrap(), limit)
                .unwrap_err();
        assert_eq!(error.parts().0, StatusCode::BAD_REQUEST);
    }
}
