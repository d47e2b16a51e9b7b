//! Running the center: configuration, the store, TLS, the API, and the periodic work
//! (syslog flushing, health checks, retention).

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use orthrus_center::{Center, CenterConfig, SyslogEndpoint};
use orthrus_detect::DetectionConfig;
use orthrus_model::Timestamp;
use orthrus_sinks::{Framing, SyslogOptions, SyslogSink, Transport};
use orthrus_store::{SqliteStore, Store};
use serde::Deserialize;

use crate::api::{AppState, router};
use crate::tls;

/// `orthrus server --config FILE` (every key optional).
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServerConfig {
    /// Where sensors and users connect (HTTPS).
    pub listen: String,
    /// The SQLite store file.
    pub store: PathBuf,
    /// TLS certificate and key (PEM); made self-signed on first start when both are missing.
    pub tls_cert: PathBuf,
    pub tls_key: PathBuf,
    /// Names the self-signed certificate is made for.
    pub tls_names: Vec<String>,
    /// Activities older than this are pruned (alerts stay).
    pub retention_days: u64,
    /// How often health is evaluated.
    pub health_interval_secs: u64,
    /// CEF over syslog endpoints.
    pub syslog: Vec<SyslogConfig>,
    /// Detection settings, as `orthrus analyze --config` takes them.
    pub detection: toml::Table,
    /// The web UI's address, for links in CEF (`cs1`).
    pub url_base: Option<String>,
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
            syslog: Vec::new(),
            detection: toml::Table::new(),
            url_base: None,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SyslogConfig {
    /// `udp://HOST:PORT` or `tcp://HOST:PORT`.
    pub url: String,
    #[serde(default)]
    pub rfc3164: bool,
    #[serde(default = "default_queue")]
    pub queue: usize,
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

fn endpoint(config: &SyslogConfig, hostname: &str) -> Result<SyslogEndpoint, RunError> {
    use std::net::ToSocketAddrs;
    let bad =
        || RunError::Config(format!("syslog url {}: use udp://HOST:PORT or tcp://HOST:PORT", config.url));
    let (transport, rest) = match config.url.split_once("://") {
        Some(("udp", rest)) => (Transport::Udp, rest),
        Some(("tcp", rest)) => (Transport::Tcp { octet_counting: true }, rest),
        _ => return Err(bad()),
    };
    let address = rest.to_socket_addrs().map_err(|_| bad())?.next().ok_or_else(bad)?;
    Ok(SyslogEndpoint {
        sink: SyslogSink::new(address, transport, config.queue),
        options: SyslogOptions {
            framing: if config.rfc3164 { Framing::Rfc3164 } else { Framing::Rfc5424 },
            hostname: hostname.to_owned(),
            ..SyslogOptions::default()
        },
    })
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
    let hostname = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_owned())
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "orthrus".into());
    let syslog = config.syslog.iter().map(|s| endpoint(s, &hostname)).collect::<Result<Vec<_>, _>>()?;
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&config.store)?);
    let center = Center::start(
        store.clone(),
        CenterConfig {
            detection,
            cef: orthrus_sinks::CefOptions { url_base: config.url_base.clone(), ..Default::default() },
            syslog,
            ..CenterConfig::default()
        },
    )?;
    let (certs, key) = tls::load_or_generate(&config.tls_cert, &config.tls_key, &config.tls_names)?;
    let fingerprint = certs.first().map(tls::fingerprint).unwrap_or_default();
    let tls_config = tls::server_config(certs, key)?;
    let listener = tokio::net::TcpListener::bind(&config.listen)
        .await
        .map_err(|error| RunError::Listen { address: config.listen.clone(), error })?;
    let bound =
        listener.local_addr().map_err(|error| RunError::Listen { address: config.listen.clone(), error })?;
    let state = Arc::new(AppState { center: Mutex::new(center), store: store.clone(), clock });
    ready(bound, &fingerprint);

    let periodic = tokio::spawn(periodic(state.clone(), config.health_interval_secs, config.retention_days));
    crate::serve_tls(listener, tls_config, router(state.clone()), shutdown).await;
    periodic.abort();
    // What waits for the SIEM goes out before the center stops.
    let state_for_flush = state.clone();
    let _ = tokio::task::spawn_blocking(move || {
        let mut center = state_for_flush.center.lock().unwrap_or_else(|p| p.into_inner());
        center.flush_syslog()
    })
    .await;
    Ok(())
}

/// Every second: syslog queues flushed; every `health_secs`: health evaluated; hourly:
/// activities past retention pruned.
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
            let mut center = state.center.lock().unwrap_or_else(|p| p.into_inner());
            if health_due && let Err(error) = center.check_health(now) {
                tracing::warn!("health check: {error}");
            }
            for error in center.flush_syslog() {
                tracing::warn!("{error}");
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
