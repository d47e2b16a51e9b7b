//! Events over HTTPS: `POST /api/v1/events` with NDJSON (one event per line), a JSON array of
//! events, or an Elasticsearch `_bulk` body (its action lines skipped), in any shape
//! [`orthrus_events::json`] reads (ECS from Winlogbeat and Elastic Agent, NXLog's flat JSON,
//! `Get-WinEvent | ConvertTo-Json`). A request is taken whole or not at all: when the queue
//! has no room for all of it within [`BUSY_WAIT`], it is answered 503 with Retry-After and the
//! shipper sends it again, so nothing is lost and nothing counted twice.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use orthrus_listen::ConnectionLimits;
use orthrus_model::{Activity, Position};
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject as _;
use serde_json::{Value, json};
use subtle::ConstantTimeEq as _;
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;

use super::{Inbound, ListenerCounters};
use crate::report::{SensorError, io};

/// The largest request body: thousands of events per request, as shippers batch them
/// (Vector's and Fluent Bit's HTTP outputs default to 10 MB and less).
const MAX_BODY: usize = 32 << 20;
/// The whole body must arrive within this: a shipper on a LAN sends 32 MiB in seconds; a
/// client that trickles its body would otherwise hold its connection indefinitely.
const BODY_TIMEOUT: Duration = Duration::from_secs(60);
/// How long a request waits for room in the queue before it is answered 503.
const BUSY_WAIT: Duration = Duration::from_secs(5);
/// What a busy answer asks the shipper to wait.
const RETRY_AFTER_SECS: &str = "5";
/// The shortest token accepted: 128 bits as hex, like the sensor's own token.
const MIN_TOKEN_CHARS: usize = 32;

/// The listeners' TLS configuration from PEM files; with `client_ca`, a client certificate it
/// issued is required.
pub fn tls_config(
    cert: &Path,
    key: &Path,
    client_ca: Option<&Path>,
) -> Result<Arc<rustls::ServerConfig>, SensorError> {
    let pem =
        |path: &Path, error: String| SensorError::Config(format!("[intake] {}: {error}", path.display()));
    let (certs, key_der) =
        orthrus_listen::pem_identity(cert, key).map_err(|e| SensorError::Config(format!("[intake] {e}")))?;
    let roots = match client_ca {
        Some(path) => {
            let mut roots = rustls::RootCertStore::empty();
            for certificate in CertificateDer::pem_file_iter(path).map_err(|e| pem(path, e.to_string()))? {
                roots
                    .add(certificate.map_err(|e| pem(path, e.to_string()))?)
                    .map_err(|e| pem(path, e.to_string()))?;
            }
            if roots.is_empty() {
                return Err(pem(path, "no certificate in it".into()));
            }
            Some(roots)
        }
        None => None,
    };
    orthrus_listen::tls_server_config(certs, key_der, roots)
        .map_err(|e| SensorError::Config(format!("[intake] TLS: {e}")))
}

/// The HTTPS shippers' token, from its file.
pub fn read_token(path: &Path) -> Result<String, SensorError> {
    let token = std::fs::read_to_string(path).map_err(io("reading the intake token from", path))?;
    let token = token.trim().to_owned();
    if token.len() < MIN_TOKEN_CHARS || token.chars().any(char::is_whitespace) {
        return Err(SensorError::Config(format!(
            "[intake] {}: a token of at least {MIN_TOKEN_CHARS} characters without spaces (`openssl rand -hex 32`)",
            path.display()
        )));
    }
    Ok(token)
}

struct Endpoint {
    inbound: Inbound,
    counters: Arc<ListenerCounters>,
    token: Option<String>,
}

/// Listens for HTTPS on `address`; returns the address bound.
pub async fn serve(
    address: SocketAddr,
    tls: Arc<rustls::ServerConfig>,
    token: Option<String>,
    limits: ConnectionLimits,
    inbound: Inbound,
    counters: Arc<ListenerCounters>,
    stop: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<SocketAddr, SensorError> {
    let error = |e: std::io::Error| SensorError::Config(format!("[intake] listening on {address}: {e}"));
    let listener = TcpListener::bind(address).await.map_err(error)?;
    let bound = listener.local_addr().map_err(error)?;
    let connections = counters.connections.clone();
    let endpoint = Arc::new(Endpoint { inbound, counters, token });
    let router = axum::Router::new()
        .route("/api/v1/events", axum::routing::post(receive))
        .route("/_bulk", axum::routing::post(receive))
        .with_state(endpoint.clone());
    let acceptor = TlsAcceptor::from(tls);
    let serve = move |stream: TcpStream, peer: SocketAddr| {
        let (endpoint, acceptor, router) = (endpoint.clone(), acceptor.clone(), router.clone());
        async move {
            if !endpoint.inbound.allowed(peer.ip()) {
                ListenerCounters::add(&endpoint.counters.refused_sources, 1);
                return;
            }
            let counters = endpoint.counters.connections.clone();
            orthrus_listen::serve_https_connection(stream, peer, acceptor, router, counters).await;
        }
    };
    tokio::spawn(orthrus_listen::accept_loop(listener, limits, connections, stop, serve));
    Ok(bound)
}

fn answer(status: StatusCode, message: &str) -> Response {
    (status, axum::Json(json!({ "error": message }))).into_response()
}

async fn receive(
    State(endpoint): State<Arc<Endpoint>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: axum::body::Body,
) -> Response {
    let counters = &endpoint.counters;
    if let Some(token) = &endpoint.token {
        let given = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .unwrap_or_default();
        if !bool::from(given.as_bytes().ct_eq(token.as_bytes())) {
            ListenerCounters::add(&counters.unauthorized, 1);
            return answer(
                StatusCode::UNAUTHORIZED,
                "send the intake token as `Authorization: Bearer TOKEN`",
            );
        }
    }
    let bytes = match tokio::time::timeout(BODY_TIMEOUT, axum::body::to_bytes(body, MAX_BODY)).await {
        Ok(Ok(bytes)) => bytes,
        Ok(Err(_)) => {
            return answer(
                StatusCode::PAYLOAD_TOO_LARGE,
                &format!("a request body holds at most {MAX_BODY} bytes"),
            );
        }
        Err(_) => return answer(StatusCode::REQUEST_TIMEOUT, "the body did not arrive in time"),
    };
    let file: Arc<str> = Arc::from(format!("https from {peer}"));
    let read = read_body(&bytes, &endpoint.inbound, &file);
    let capacity = endpoint.inbound.queue.max_capacity();
    if read.activities.len() > capacity {
        return answer(
            StatusCode::PAYLOAD_TOO_LARGE,
            &format!("send at most {capacity} events per request (the sensor's queue_activities)"),
        );
    }
    let count = read.activities.len();
    if count > 0 {
        match tokio::time::timeout(BUSY_WAIT, endpoint.inbound.queue.reserve_many(count)).await {
            Ok(Ok(permits)) => {
                for (permit, activity) in permits.zip(read.activities) {
                    permit.send(activity);
                }
            }
            Ok(Err(_)) => return answer(StatusCode::SERVICE_UNAVAILABLE, "the sensor is stopping"),
            Err(_) => {
                ListenerCounters::add(&counters.busy, 1);
                let mut busy =
                    answer(StatusCode::SERVICE_UNAVAILABLE, "the sensor's queue is full: send again");
                busy.headers_mut()
                    .insert(header::RETRY_AFTER, header::HeaderValue::from_static(RETRY_AFTER_SECS));
                return busy;
            }
        }
    }
    // Counted once taken, so a batch sent again after a busy answer counts once.
    ListenerCounters::add(&counters.messages, read.messages);
    ListenerCounters::add(&counters.events, read.events);
    ListenerCounters::add(&counters.unreadable, read.unreadable);
    ListenerCounters::add(&counters.oversize, read.oversize);
    ListenerCounters::add(&counters.activities, count as u64);
    axum::Json(json!({
        "events": read.events,
        "unreadable": read.unreadable,
        "oversize": read.oversize,
        "activities": count,
    }))
    .into_response()
}

/// What one request held.
#[derive(Default)]
pub(super) struct Body {
    pub messages: u64,
    pub events: u64,
    pub unreadable: u64,
    pub oversize: u64,
    pub activities: Vec<Activity>,
}

impl Body {
    fn take(&mut self, inbound: &Inbound, value: &Value, file: &Arc<str>, number: u64) {
        self.messages += 1;
        let Value::Object(object) = value else {
            self.unreadable += 1;
            return;
        };
        // `_bulk` action lines: `{"index":{…}}`, `{"create":{…}}`.
        if object.len() == 1 && ["index", "create"].iter().any(|action| object.contains_key(*action)) {
            self.messages -= 1;
            return;
        }
        match orthrus_events::json::from_value(value, file, Position::Line(number)) {
            Ok(event) => {
                self.events += 1;
                self.activities.extend(orthrus_events::to_activity(&event, &inbound.context));
            }
            Err(_) => self.unreadable += 1,
        }
    }
}

/// The events of a body: a JSON array, or one document per line.
pub(super) fn read_body(bytes: &[u8], inbound: &Inbound, file: &Arc<str>) -> Body {
    let mut body = Body::default();
    let trimmed = bytes.trim_ascii_start();
    if trimmed.starts_with(b"[") {
        match serde_json::from_slice::<Vec<Value>>(trimmed) {
            Ok(values) => {
                for (index, value) in values.iter().enumerate() {
                    body.take(inbound, value, file, index as u64 + 1);
                }
            }
            Err(_) => {
                body.messages += 1;
                body.unreadable += 1;
            }
        }
        return body;
    }
    for (index, line) in bytes.split(|&b| b == b'\n').enumerate() {
        let line = line.trim_ascii();
        if line.is_empty() {
            continue;
        }
        if line.len() > inbound.max_message_bytes {
            body.messages += 1;
            body.oversize += 1;
            continue;
        }
        match serde_json::from_slice::<Value>(line) {
            Ok(value) => body.take(inbound, &value, file, index as u64 + 1),
            Err(_) => {
                body.messages += 1;
                body.unreadable += 1;
            }
        }
    }
    body
}
