//! `GET /metrics`: the center's counters in Prometheus' text exposition format, for any user
//! with a valid token (a scraper gets a token of its own). Center-wide figures only — no
//! tenant label — so no tenant learns another's names or volumes. Rendered by hand rather
//! than through the `metrics` facade: a dozen counters the center already keeps, read when
//! scraped, need no global recorder.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};

use std::sync::Arc;

use axum::extract::State;
use axum::response::IntoResponse;

use crate::error::ApiResult;
use crate::state::{AppState, with_center};

/// Reads one figure of an endpoint's counters.
type Reading = fn(&orthrus_sinks::SenderCounters) -> u64;

/// `GET /metrics`.
pub async fn metrics(State(state): State<Arc<AppState>>) -> ApiResult {
    let counted = state.clone();
    let (open_health, sensors, tenants) = with_center(state, |center| {
        let open = center.open_health_issue_count() as u64;
        let tenants = center.store().tenants()?;
        let mut sensors = 0u64;
        for tenant in &tenants {
            sensors += center.store().sensors(&tenant.id)?.len() as u64;
        }
        Ok((open, sensors, tenants.len() as u64))
    })
    .await?;
    let text = render(&counted, open_health, sensors, tenants);
    Ok(([(axum::http::header::CONTENT_TYPE, "text/plain; version=0.0.4")], text).into_response())
}

/// The exposition text. `open_health` and `sensors` are read by the caller off the async
/// threads (they need the center or the store).
pub fn render(state: &AppState, open_health: u64, sensors: u64, tenants: u64) -> String {
    let mut out = String::new();
    let intake = &state.intake;
    let read = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
    let connections = &state.connections;
    let single: [(&str, &str, &str, u64); 14] = [
        ("orthrus_batches_total", "counter", "Sensor batches stored.", read(&intake.batches)),
        (
            "orthrus_duplicate_batches_total",
            "counter",
            "Sensor batches received again (a retry) and not stored twice.",
            read(&intake.duplicate_batches),
        ),
        (
            "orthrus_activities_total",
            "counter",
            "Activities stored and run through the detections.",
            read(&intake.activities),
        ),
        (
            "orthrus_alert_changes_total",
            "counter",
            "Alerts raised, updated or reopened.",
            read(&intake.alerts_changed),
        ),
        ("orthrus_heartbeats_total", "counter", "Sensor heartbeats recorded.", read(&intake.heartbeats)),
        (
            "orthrus_refused_requests_total",
            "counter",
            "Sensor requests refused for want of a valid sensor token.",
            read(&intake.refused),
        ),
        ("orthrus_health_issues_open", "gauge", "Health issues open now.", open_health),
        ("orthrus_sensors", "gauge", "Sensors registered.", sensors),
        ("orthrus_tenants", "gauge", "Tenants.", tenants),
        ("orthrus_connections_open", "gauge", "Client connections open now.", read(&connections.open)),
        (
            "orthrus_connections_accepted_total",
            "counter",
            "Client connections accepted.",
            read(&connections.accepted),
        ),
        (
            "orthrus_connections_refused_total",
            "counter",
            "Client connections closed at once: their address held its share of connections.",
            read(&connections.refused),
        ),
        (
            "orthrus_accept_errors_total",
            "counter",
            "Failures to accept a connection (out of descriptors or memory, among others).",
            read(&connections.accept_errors),
        ),
        (
            "orthrus_tls_handshake_failures_total",
            "counter",
            "TLS handshakes that failed or did not finish in time.",
            read(&connections.failed_handshakes),
        ),
    ];
    for (name, kind, help, value) in single {
        let _ = write!(out, "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}\n");
    }
    let sinks = state.sink_status.lock().unwrap_or_else(|p| p.into_inner()).clone();
    let families: [(&str, &str, &str, Reading); 4] = [
        ("orthrus_sink_sent_total", "counter", "Messages delivered to the endpoint.", |c| c.sent),
        (
            "orthrus_sink_failures_total",
            "counter",
            "Delivery attempts that failed (the message waits).",
            |c| c.failures,
        ),
        (
            "orthrus_sink_dropped_total",
            "counter",
            "Messages dropped because the endpoint's queue was full.",
            |c| c.dropped,
        ),
        ("orthrus_sink_queued", "gauge", "Messages waiting for the endpoint.", |c| c.queued),
    ];
    for (name, kind, help, value) in families {
        let _ = write!(out, "# HELP {name} {help}\n# TYPE {name} {kind}\n");
        for sink in &sinks {
            let _ = writeln!(out, "{name}{{endpoint=\"{}\"}} {}", label(&sink.name), value(&sink.counters));
        }
    }
    out
}

/// A label value: backslash, quote and newline escaped, as the format requires.
fn label(text: &str) -> String {
    text.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}
