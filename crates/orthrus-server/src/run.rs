//! Running the center: configuration, the store, TLS, the API, and the periodic work
//! (syslog flushing, health checks, retention).

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use orthrus_center::health::EndpointReport;
use orthrus_center::{Center, CenterConfig};
use orthrus_detect::DetectionConfig;
use orthrus_model::Timestamp;
use orthrus_sinks::http::{HttpTarget, redact_url};
use orthrus_sinks::syslog::TlsTarget;
use orthrus_sinks::{
    Framing, Outbox, Route, Sender, SinkFilter, SyslogOptions, SyslogSink, Transport, WebhookSink,
};
use orthrus_store::Store;
use serde::Deserialize;

use crate::router::router;
use crate::state::AppState;
use crate::tls;

/// `orthrus server --config FILE` (every key optional).
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServerConfig {
    /// Where sensors and users connect (HTTPS).
    pub listen: String,
    /// The store: a SQLite file, or a PostgreSQL URL (`postgres://user:password@host/db`,
    /// with a build that has `--features postgres`).
    pub store: String,
    /// TLS certificate and key (PEM); made self-signed on first start when both are missing.
    pub tls_cert: PathBuf,
    pub tls_key: PathBuf,
    /// Names the self-signed certificate is made for.
    pub tls_names: Vec<String>,
    /// Activities older than this are pruned (alerts stay).
    pub retention_days: u64,
    /// How often health is evaluated.
    pub health_interval_secs: u64,
    /// Sensors reporting an older version raise ORT-H-SENSOR-OUTDATED.
    pub minimum_sensor_version: String,
    /// CEF over syslog endpoints.
    pub syslog: Vec<SyslogConfig>,
    /// JSON webhooks.
    pub webhook: Vec<WebhookConfig>,
    /// Detection settings, as `orthrus analyze --config` takes them.
    pub detection: toml::Table,
    /// The web UI's address, for links in CEF (`cs1`).
    pub url_base: Option<String>,
    /// Connections held at once, from every client together (cut to what the open-file limit
    /// allows). A thousand covers a few hundred sensors and browsers with room to spare.
    pub max_connections: usize,
    /// Connections one client address may hold (default: an eighth of `max_connections`).
    pub max_connections_per_address: Option<usize>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            listen: "0.0.0.0:8443".into(),
            store: "orthrus.db".into(),
            tls_cert: "orthrus-center.crt".into(),
            tls_key: "orthrus-center.key".into(),
            tls_names: vec!["localhost".into()],
            retention_days: 30,
            health_interval_secs: 30,
            minimum_sensor_version: "0.1.0".into(),
            syslog: Vec::new(),
            webhook: Vec::new(),
            detection: toml::Table::new(),
            url_base: None,
            max_connections: 1000,
            max_connections_per_address: None,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SyslogConfig {
    /// `udp://HOST:PORT`, `tcp://HOST:PORT` or `tls://HOST:PORT` (RFC 5425).
    pub url: String,
    #[serde(default)]
    pub rfc3164: bool,
    #[serde(default = "default_queue")]
    pub queue: usize,
    /// TLS: the SIEM's CA (PEM) or its certificate's SHA-256; the system's roots otherwise.
    pub ca_file: Option<PathBuf>,
    pub pin_sha256: Option<String>,
    /// TLS: the name the SIEM's certificate carries, when not the URL's host.
    pub server_name: Option<String>,
    /// What this endpoint is sent (default: every alert and health issue).
    #[serde(default)]
    pub filter: SinkFilter,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookConfig {
    /// `https://HOST[:PORT]/PATH` (or `http://` on a trusted network).
    pub url: String,
    /// Header lines sent with each POST, such as `Authorization: Bearer …`.
    #[serde(default)]
    pub headers: Vec<String>,
    #[serde(default = "default_queue")]
    pub queue: usize,
    pub ca_file: Option<PathBuf>,
    pub pin_sha256: Option<String>,
    #[serde(default)]
    pub filter: SinkFilter,
}

fn default_queue() -> usize {
    10_000
}

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("config: {0}")]
    Config(String),
    #[error(transparent)]
    Store(#[from] orthrus_store::StoreError),
    #[error(transparent)]
    Center(#[from] orthrus_center::CenterError),
    #[error(transparent)]
    Tls(#[from] tls::TlsError),
    #[error("listening on {address}: {error}")]
    Listen { address: String, error: std::io::Error },
}

/// This machine's name, as syslog headers carry it.
pub fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_owned())
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "orthrus".into())
}

/// Every configured endpoint: the center's routes and their senders, in config order.
pub fn sinks(config: &ServerConfig, hostname: &str) -> Result<(Vec<Route>, Vec<Sender>), RunError> {
    let mut routes = Vec::new();
    let mut senders = Vec::new();
    for syslog in &config.syslog {
        let (route, sink) = syslog_endpoint(syslog, hostname)?;
        routes.push(route);
        senders.push(Sender::Syslog(sink));
    }
    for webhook in &config.webhook {
        let (route, sink) = webhook_endpoint(webhook)?;
        routes.push(route);
        senders.push(Sender::Webhook(sink));
    }
    Ok((routes, senders))
}

fn check_filter(url: &str, filter: &SinkFilter) -> Result<(), RunError> {
    let unknown = filter.unknown_detections(|id| orthrus_detect::detections::meta(id).is_some());
    if unknown.is_empty() {
        Ok(())
    } else {
        Err(RunError::Config(format!("{url}: filter names unknown detections {unknown:?}")))
    }
}

fn syslog_endpoint(config: &SyslogConfig, hostname: &str) -> Result<(Route, SyslogSink), RunError> {
    use std::net::ToSocketAddrs;
    let bad = || {
        RunError::Config(format!(
            "syslog url {}: use udp://HOST:PORT, tcp://HOST:PORT or tls://HOST:PORT",
            config.url
        ))
    };
    let (transport, rest) = match config.url.split_once("://") {
        Some(("udp", rest)) => (Transport::Udp, rest),
        Some(("tcp", rest)) => (Transport::Tcp { octet_counting: true }, rest),
        Some(("tls", rest)) => (Transport::Tls, rest),
        _ => return Err(bad()),
    };
    check_filter(&config.url, &config.filter)?;
    let address = rest.to_socket_addrs().map_err(|_| bad())?.next().ok_or_else(bad)?;
    let tls = match transport {
        Transport::Tls => {
            let host = rest.rsplit_once(':').map_or(rest, |(host, _)| host).trim_matches(['[', ']']);
            let name = config.server_name.clone().unwrap_or_else(|| host.to_owned());
            let server_name = rustls::pki_types::ServerName::try_from(name.clone()).map_err(|_| {
                RunError::Config(format!("syslog {}: {name:?} is no server name", config.url))
            })?;
            let client = orthrus_tls::client_config(config.ca_file.as_deref(), config.pin_sha256.as_deref())
                .map_err(|e| RunError::Config(format!("syslog {}: {e}", config.url)))?;
            Some(TlsTarget { server_name, config: client })
        }
        _ if config.ca_file.is_some() || config.pin_sha256.is_some() => {
            return Err(RunError::Config(format!(
                "syslog {}: ca_file and pin_sha256 need tls://",
                config.url
            )));
        }
        _ => None,
    };
    let sink = SyslogSink::with_outbox(address, transport, tls, Arc::new(Outbox::new(config.queue)));
    let options = SyslogOptions {
        framing: if config.rfc3164 { Framing::Rfc3164 } else { Framing::Rfc5424 },
        hostname: hostname.to_owned(),
        ..SyslogOptions::default()
    };
    Ok((Route::syslog(&sink, options, config.filter.clone()), sink))
}

fn webhook_endpoint(config: &WebhookConfig) -> Result<(Route, WebhookSink), RunError> {
    // Named by its origin only, here as in logs, metrics and health: the path or query may
    // hold a key.
    let shown = redact_url(&config.url);
    let target = HttpTarget::parse(&config.url).map_err(|e| RunError::Config(e.to_string()))?;
    check_filter(&shown, &config.filter)?;
    if let Some(bad) = config.headers.iter().position(|h| h.contains(['\r', '\n']) || !h.contains(':')) {
        // The line itself is not shown: it may be `Authorization: Bearer …` gone wrong.
        return Err(RunError::Config(format!(
            "webhook {shown}: header {} is no `Name: value` line",
            bad + 1
        )));
    }
    let tls = if target.https {
        Some(
            orthrus_tls::client_config(config.ca_file.as_deref(), config.pin_sha256.as_deref())
                .map_err(|e| RunError::Config(format!("webhook {shown}: {e}")))?,
        )
    } else {
        None
    };
    let sink = WebhookSink::new(target, tls, config.headers.clone(), Arc::new(Outbox::new(config.queue)));
    Ok((Route::webhook(&sink, config.filter.clone()), sink))
}

/// Runs the center until `shutdown` resolves. `clock` is the wall clock (the binary's);
/// `ready` is told the address actually bound and the certificate's fingerprint.
pub async fn run(
    config: ServerConfig,
    clock: fn() -> Timestamp,
    ready: impl FnOnce(std::net::SocketAddr, &str),
    shutdown: impl std::future::Future<Output = ()>,
) -> Result<(), RunError> {
    let detection = DetectionConfig::from_toml(
        &toml::to_string(&config.detection).map_err(|e| RunError::Config(e.to_string()))?,
    )
    .map_err(|e| RunError::Config(e.to_string()))?;
    let hostname = hostname();
    let (routes, senders) = sinks(&config, &hostname)?;
    let cef = orthrus_sinks::CefOptions { url_base: config.url_base.clone(), ..Default::default() };
    let health = orthrus_center::health::HealthThresholds {
        minimum_version: config.minimum_sensor_version.clone(),
        ..Default::default()
    };
    let (store, center) = crate::state::blocking(|| -> Result<_, RunError> {
        let store: Arc<dyn Store> = orthrus_store::open_store(&config.store)?;
        let center = Center::start(store.clone(), CenterConfig { detection, cef, routes, health })?;
        Ok((store, center))
    })?;
    let (certs, key) = tls::load_or_generate(&config.tls_cert, &config.tls_key, &config.tls_names)?;
    let fingerprint = certs.first().map(tls::fingerprint).unwrap_or_default();
    let tls_config = tls::server_config(certs, key)?;
    let listener = tokio::net::TcpListener::bind(&config.listen)
        .await
        .map_err(|error| RunError::Listen { address: config.listen.clone(), error })?;
    let bound =
        listener.local_addr().map_err(|error| RunError::Listen { address: config.listen.clone(), error })?;
    let state = Arc::new(AppState::new(center, store.clone(), clock));
    let limits =
        crate::serve::ConnectionLimits::sized(config.max_connections, config.max_connections_per_address);
    tracing::info!("holding at most {} connections, {} per client address", limits.total, limits.per_address);
    ready(bound, &fingerprint);

    let delivery = Delivery::start(senders, state.sink_status.clone(), clock);
    let periodic = tokio::spawn(periodic(state.clone(), config.health_interval_secs, config.retention_days));
    crate::serve_tls(
        listener,
        tls_config,
        router(state.clone()),
        limits,
        state.connections.clone(),
        shutdown,
    )
    .await;
    periodic.abort();
    // What waits for the SIEMs goes out before the center stops.
    let _ = tokio::task::spawn_blocking(move || delivery.stop()).await;
    Ok(())
}

/// Every `health_secs`: health evaluated; hourly: activities past retention pruned.
async fn periodic(state: Arc<AppState>, health_secs: u64, retention_days: u64) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    let mut seconds: u64 = 0;
    loop {
        tick.tick().await;
        seconds += 1;
        let state = state.clone();
        let health_due = health_secs > 0 && seconds.is_multiple_of(health_secs);
        let prune_due = seconds.is_multiple_of(3600);
        let _ = tokio::task::spawn_blocking(move || {
            let now = (state.clock)();
            let endpoints = state.sink_status.lock().unwrap_or_else(|p| p.into_inner()).clone();
            if health_due && let Err(error) = state.center.check_health(&endpoints, now) {
                tracing::warn!("health check: {error}");
            }
            if prune_due {
                let before =
                    now.saturating_add_secs(-i64::try_from(retention_days * 86_400).unwrap_or(i64::MAX));
                if let Err(error) = state.store.prune_activities(before) {
                    tracing::warn!("retention: {error}");
                }
            }
        })
        .await;
    }
}

/// The senders on a thread of their own: every second each drains its queue; a failing
/// endpoint is logged when it starts and when it stops failing. Stopping flushes once more.
struct Delivery {
    stop: Arc<std::sync::atomic::AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Delivery {
    fn start(
        mut senders: Vec<Sender>,
        status: Arc<Mutex<Vec<EndpointReport>>>,
        clock: fn() -> Timestamp,
    ) -> Self {
        use std::sync::atomic::{AtomicBool, Ordering};
        let stop = Arc::new(AtomicBool::new(false));
        let stopping = stop.clone();
        let thread = std::thread::Builder::new()
            .name("orthrus-sinks".into())
            .spawn(move || {
                let mut failing: Vec<(Option<Timestamp>, Option<String>)> = vec![(None, None); senders.len()];
                loop {
                    let last = stopping.load(Ordering::Relaxed);
                    for (sender, (since, why)) in senders.iter_mut().zip(failing.iter_mut()) {
                        match sender.flush() {
                            Ok(()) => {
                                if since.is_some() {
                                    tracing::info!("{}: delivering again", sender.name());
                                }
                                (*since, *why) = (None, None);
                            }
                            Err(error) => {
                                if since.is_none() {
                                    tracing::warn!("{error} (messages wait in its queue)");
                                    *since = Some(clock());
                                }
                                *why = Some(error);
                            }
                        }
                    }
                    let snapshot = senders
                        .iter()
                        .zip(&failing)
                        .map(|(s, (since, why))| EndpointReport {
                            name: s.name(),
                            counters: s.counters(),
                            failing_since: *since,
                            last_error: why.clone(),
                        })
                        .collect();
                    *status.lock().unwrap_or_else(|p| p.into_inner()) = snapshot;
                    if last {
                        return;
                    }
                    std::thread::sleep(Duration::from_secs(1));
                }
            })
            .ok();
        Self { stop, thread }
    }

    fn stop(mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
