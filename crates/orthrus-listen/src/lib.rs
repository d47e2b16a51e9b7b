//! Listeners that assume a hostile client: the center's HTTPS (served by hyper) and the
//! sensor's event intake (syslog over TCP and TLS, HTTPS) accept through [`accept_loop`], with a
//! bound on everything a client controls. A client that connects and says nothing, sends half
//! a request, sends its body a byte at a time, or stops reading the answer holds its
//! connection only for a bounded time; the connections open at once are capped (in total and
//! per client address) below the process's open-file limit, so the store, the SIEM sockets and
//! the log always find a descriptor; when the kernel runs out of descriptors anyway, the accept
//! loop backs off instead of spinning, and says so once a minute rather than a million times.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::ConnectInfo;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio_rustls::TlsAcceptor;

/// The TLS handshake must be done within this: a real client needs a round trip or two.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// A request's headers must arrive within this, and a kept-alive connection waiting for its
/// next request is closed after it (hyper starts the same timer in both cases). Browsers,
/// scripts and sensors send a request's headers in one packet; ten seconds covers a slow link
/// with loss, and an idle browser connection simply reconnects.
const HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// A response write that makes no progress for this long ends the connection: a client that
/// stops reading its answer would otherwise hold the connection (and the answer) forever.
const WRITE_STALL: Duration = Duration::from_secs(30);
/// After an accept error (out of descriptors, of memory) the loop waits this long first, and
/// twice as long after each further error up to [`ACCEPT_BACKOFF_MAX`].
const ACCEPT_BACKOFF_MIN: Duration = Duration::from_millis(10);
const ACCEPT_BACKOFF_MAX: Duration = Duration::from_secs(1);
/// A warning that may repeat (accept errors, refused connections) is logged at most this
/// often, with the number of times it was held back.
const LOG_EVERY: Duration = Duration::from_secs(60);
/// Descriptors kept free of connections: the store's files (SQLite's database, journal and
/// shared memory, or PostgreSQL's sockets), the SIEM and webhook sockets, the log, the
/// listener, and what blocking threads open meanwhile.
const RESERVED_DESCRIPTORS: u64 = 64;

/// How many connections the center holds at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionLimits {
    /// All clients together.
    pub total: usize,
    /// One client address: a NAT gateway or a proxy may carry many users, but no single
    /// address may take the whole center.
    pub per_address: usize,
}

impl ConnectionLimits {
    /// The configured limits (`max_connections`, and an eighth of it per address unless
    /// configured), cut to what the open-file limit allows. The soft open-file limit is first
    /// raised to the hard one, as servers do: the soft default (1024 on Debian) is a
    /// compatibility value, not a decision about this process.
    pub fn sized(total: usize, per_address: Option<usize>) -> Self {
        let descriptors = rlimit::increase_nofile_limit(u64::MAX)
            .or_else(|_| rlimit::getrlimit(rlimit::Resource::NOFILE).map(|(soft, _)| soft))
            .unwrap_or(1024);
        Self::within(total, per_address, descriptors)
    }

    /// The limits for a process that may open `descriptors` files.
    pub fn within(total: usize, per_address: Option<usize>, descriptors: u64) -> Self {
        let room = if descriptors > 2 * RESERVED_DESCRIPTORS {
            descriptors - RESERVED_DESCRIPTORS
        } else {
            descriptors / 2
        };
        let total = total.min(usize::try_from(room).unwrap_or(usize::MAX)).max(1);
        let per_address = per_address.unwrap_or(total / 8).clamp(1, total);
        Self { total, per_address }
    }
}

/// What the listener has done, for /metrics.
#[derive(Debug, Default)]
pub struct ConnectionCounters {
    pub open: AtomicU64,
    pub accepted: AtomicU64,
    /// Closed at once because their address already held its share.
    pub refused: AtomicU64,
    pub accept_errors: AtomicU64,
    /// TLS handshakes that failed or took too long.
    pub failed_handshakes: AtomicU64,
}

/// A warning logged at most once per [`LOG_EVERY`], saying how often it was held back.
#[derive(Default)]
pub struct RateLimitedLog {
    state: Mutex<(Option<Instant>, u64)>,
}

impl RateLimitedLog {
    pub fn warn(&self, message: std::fmt::Arguments<'_>) {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let (last, held) = &mut *state;
        if last.is_some_and(|at| at.elapsed() < LOG_EVERY) {
            *held += 1;
            return;
        }
        if *held > 0 {
            tracing::warn!("{message} (and {held} more like it in the last minute)");
        } else {
            tracing::warn!("{message}");
        }
        (*last, *held) = (Some(Instant::now()), 0);
    }
}

/// At most so many of something at once per key (connections per client address, requests
/// per sensor credential); a slot is given back when its guard drops.
pub struct KeyedSlots<K: Eq + std::hash::Hash + Clone> {
    held: Mutex<HashMap<K, usize>>,
}

impl<K: Eq + std::hash::Hash + Clone> Default for KeyedSlots<K> {
    fn default() -> Self {
        Self { held: Mutex::default() }
    }
}

pub struct KeyedSlot<K: Eq + std::hash::Hash + Clone> {
    table: Arc<KeyedSlots<K>>,
    key: K,
}

impl<K: Eq + std::hash::Hash + Clone> KeyedSlots<K> {
    /// A slot for `key`, unless it holds `limit` already.
    pub fn take(self: &Arc<Self>, key: &K, limit: usize) -> Option<KeyedSlot<K>> {
        let mut held = self.held.lock().unwrap_or_else(|p| p.into_inner());
        let count = held.entry(key.clone()).or_insert(0);
        if *count >= limit {
            return None;
        }
        *count += 1;
        Some(KeyedSlot { table: self.clone(), key: key.clone() })
    }
}

impl<K: Eq + std::hash::Hash + Clone> Drop for KeyedSlot<K> {
    fn drop(&mut self) {
        let mut held = self.table.held.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(count) = held.get_mut(&self.key) {
            *count -= 1;
            if *count == 0 {
                held.remove(&self.key);
            }
        }
    }
}

/// Whether an accept error means the process or the system is out of a resource (waiting
/// helps), rather than one connection having gone before it was taken.
fn out_of_resources(error: &std::io::Error) -> bool {
    // EMFILE 24, ENFILE 23, ENOBUFS 105, ENOMEM 12 (Linux numbering).
    matches!(error.raw_os_error(), Some(24 | 23 | 105 | 12))
}

/// Accepts connections on `listener` until `shutdown` resolves and hands each to `serve`
/// with its client's address, within `limits`: beyond the total cap new connections wait in
/// the kernel's backlog; an address holding its share has its new connection closed at once
/// and counted. `serve` runs as a task of its own; its connection's slots are given back when
/// it ends.
pub async fn accept_loop<Serve, Served>(
    listener: TcpListener,
    limits: ConnectionLimits,
    counters: Arc<ConnectionCounters>,
    shutdown: impl std::future::Future<Output = ()>,
    serve: Serve,
) where
    Serve: Fn(TcpStream, SocketAddr) -> Served,
    Served: std::future::Future<Output = ()> + Send + 'static,
{
    let slots = Arc::new(Semaphore::new(limits.total));
    let per_address: Arc<KeyedSlots<IpAddr>> = Arc::default();
    let accept_log = RateLimitedLog::default();
    let refusal_log = RateLimitedLog::default();
    let mut backoff = ACCEPT_BACKOFF_MIN;
    tokio::pin!(shutdown);
    loop {
        // A slot first: beyond the cap, new connections wait in the kernel's backlog and cost
        // this process no descriptor.
        let slot = tokio::select! {
            slot = slots.clone().acquire_owned() => match slot {
                Ok(slot) => slot,
                Err(_) => return,
            },
            () = &mut shutdown => return,
        };
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            () = &mut shutdown => return,
        };
        let (stream, peer): (TcpStream, SocketAddr) = match accepted {
            Ok(pair) => {
                backoff = ACCEPT_BACKOFF_MIN;
                pair
            }
            Err(error) => {
                counters.accept_errors.fetch_add(1, Ordering::Relaxed);
                drop(slot);
                if out_of_resources(&error) {
                    accept_log.warn(format_args!(
                        "accepting connections: {error}; waiting {} ms (raise the open-file limit or lower max_connections)",
                        backoff.as_millis()
                    ));
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(ACCEPT_BACKOFF_MAX);
                }
                continue;
            }
        };
        let Some(address_slot) = per_address.take(&peer.ip(), limits.per_address) else {
            counters.refused.fetch_add(1, Ordering::Relaxed);
            refusal_log.warn(format_args!(
                "connection from {} refused: it holds {} connections already",
                peer.ip(),
                limits.per_address
            ));
            continue;
        };
        counters.accepted.fetch_add(1, Ordering::Relaxed);
        let served = serve(stream, peer);
        let counters = counters.clone();
        tokio::spawn(async move {
            let _slots = (slot, address_slot);
            counters.open.fetch_add(1, Ordering::Relaxed);
            served.await;
            counters.open.fetch_sub(1, Ordering::Relaxed);
        });
    }
}

/// Serves `router` over TLS on `listener` until `shutdown` resolves. Each request carries its
/// client's address (`ConnectInfo<SocketAddr>`). Connections that fail their handshake are
/// dropped and counted; they never stop the server.
pub async fn serve_tls(
    listener: TcpListener,
    tls: Arc<rustls::ServerConfig>,
    router: axum::Router,
    limits: ConnectionLimits,
    counters: Arc<ConnectionCounters>,
    shutdown: impl std::future::Future<Output = ()>,
) {
    let acceptor = TlsAcceptor::from(tls);
    let serve = {
        let counters = counters.clone();
        move |stream, peer| {
            serve_https_connection(stream, peer, acceptor.clone(), router.clone(), counters.clone())
        }
    };
    accept_loop(listener, limits, counters, shutdown, serve).await;
}

/// The TLS handshake of a connection, within [`HANDSHAKE_TIMEOUT`]; a failure is counted and
/// logged at debug level (a scanner's probes are not worth a warning).
pub async fn handshake(
    stream: TcpStream,
    peer: SocketAddr,
    acceptor: &TlsAcceptor,
    counters: &ConnectionCounters,
) -> Option<tokio_rustls::server::TlsStream<TcpStream>> {
    match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
        Ok(Ok(stream)) => Some(stream),
        Ok(Err(error)) => {
            counters.failed_handshakes.fetch_add(1, Ordering::Relaxed);
            tracing::debug!("TLS handshake with {peer}: {error}");
            None
        }
        Err(_) => {
            counters.failed_handshakes.fetch_add(1, Ordering::Relaxed);
            tracing::debug!("TLS handshake with {peer}: no handshake within {HANDSHAKE_TIMEOUT:?}");
            None
        }
    }
}

/// Serves `router` on one connection over TLS: the handshake within its timeout, then HTTP/1.1
/// with the header timeout and the write-stall bound.
pub async fn serve_https_connection(
    stream: TcpStream,
    peer: SocketAddr,
    acceptor: TlsAcceptor,
    router: axum::Router,
    counters: Arc<ConnectionCounters>,
) {
    let Some(stream) = handshake(stream, peer, &acceptor, &counters).await else { return };
    let mut stream = tokio_io_timeout::TimeoutStream::new(stream);
    stream.set_write_timeout(Some(WRITE_STALL));
    let router = tower::ServiceExt::map_request(router, move |mut request: axum::extract::Request<_>| {
        request.extensions_mut().insert(ConnectInfo(peer));
        request
    });
    let service = hyper_util::service::TowerToHyperService::new(router);
    let connection = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_TIMEOUT)
        .serve_connection(TokioIo::new(Box::pin(stream)), service);
    if let Err(error) = connection.await {
        tracing::debug!("connection from {peer}: {error}");
    }
}

/// A PEM file that could not be read as what it should hold.
#[derive(Debug)]
pub struct PemError {
    pub path: std::path::PathBuf,
    pub reason: String,
}

impl std::fmt::Display for PemError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.path.display(), self.reason)
    }
}

impl std::error::Error for PemError {}

/// A listener's identity from PEM files: its certificate chain (at least one) and key.
pub fn pem_identity(
    cert: &std::path::Path,
    key: &std::path::Path,
) -> Result<
    (Vec<rustls_pki_types::CertificateDer<'static>>, rustls_pki_types::PrivateKeyDer<'static>),
    PemError,
> {
    use rustls_pki_types::pem::PemObject as _;
    let error = |path: &std::path::Path, reason: String| PemError { path: path.to_owned(), reason };
    let certs = rustls_pki_types::CertificateDer::pem_file_iter(cert)
        .map_err(|e| error(cert, e.to_string()))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| error(cert, e.to_string()))?;
    if certs.is_empty() {
        return Err(error(cert, "no certificate in it".into()));
    }
    let key_der =
        rustls_pki_types::PrivateKeyDer::from_pem_file(key).map_err(|e| error(key, e.to_string()))?;
    Ok((certs, key_der))
}

/// A rustls server configuration (ring provider, TLS 1.2 and 1.3) for `certs` and `key`;
/// with `client_roots`, every client must present a certificate they issued.
pub fn tls_server_config(
    certs: Vec<rustls_pki_types::CertificateDer<'static>>,
    key: rustls_pki_types::PrivateKeyDer<'static>,
    client_roots: Option<rustls::RootCertStore>,
) -> Result<Arc<rustls::ServerConfig>, rustls::Error> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()?;
    let config = match client_roots {
        Some(roots) => {
            let verifier =
                rustls::server::WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                    .build()
                    .map_err(|e| rustls::Error::General(format!("client certificate verifier: {e}")))?;
            builder.with_client_cert_verifier(verifier).with_single_cert(certs, key)?
        }
        None => builder.with_no_client_auth().with_single_cert(certs, key)?,
    };
    Ok(Arc::new(config))
}

/// The client's address of a request the listener served (none in tests that call the router
/// directly).
pub fn client_address(extensions: &axum::http::Extensions) -> Option<IpAddr> {
    extensions.get::<ConnectInfo<SocketAddr>>().map(|ConnectInfo(peer)| peer.ip())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cap_stays_below_the_open_file_limit() {
        assert_eq!(
            ConnectionLimits::within(4096, None, 1024),
            ConnectionLimits { total: 960, per_address: 120 }
        );
        assert_eq!(
            ConnectionLimits::within(500, None, 1 << 20),
            ConnectionLimits { total: 500, per_address: 62 }
        );
        assert_eq!(
            ConnectionLimits::within(500, Some(10), 100),
            ConnectionLimits { total: 50, per_address: 10 }
        );
        assert_eq!(ConnectionLimits::within(500, Some(900), 1 << 20).per_address, 500);
        assert_eq!(ConnectionLimits::within(0, None, 0), ConnectionLimits { total: 1, per_address: 1 });
    }

    #[test]
    fn an_address_holds_at_most_its_share_and_gets_it_back() {
        let table: Arc<KeyedSlots<IpAddr>> = Arc::default();
        let address: IpAddr = "127.0.0.2".parse().unwrap();
        let first = table.take(&address, 2).unwrap();
        let _second = table.take(&address, 2).unwrap();
        assert!(table.take(&address, 2).is_none());
        assert!(table.take(&"127.0.0.3".parse().unwrap(), 2).is_some(), "another address");
        drop(first);
        assert!(table.take(&address, 2).is_some());
    }

    #[test]
    fn only_resource_exhaustion_backs_off() {
        assert!(out_of_resources(&std::io::Error::from_raw_os_error(24)));
        assert!(!out_of_resources(&std::io::Error::from_raw_os_error(103)), "ECONNABORTED");
    }
}
