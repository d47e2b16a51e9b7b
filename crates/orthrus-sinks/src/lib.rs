//! Where alerts go after the engine: CEF over syslog (`cef`, `syslog`), per
//! `design/cef.md`, and JSON webhooks (`webhook`), each endpoint with its own bounded queue
//! (`outbox`) and filter. Sinks never read the wall clock; the caller passes the send time.

pub mod cef;
pub mod http;
pub mod outbox;
pub mod route;
pub mod syslog;
pub mod webhook;

pub use cef::{CefOptions, Trigger, alert_line};
pub use outbox::Outbox;
pub use route::{Format, Route, Sender, SenderCounters};
pub use syslog::{Framing, SyslogOptions, SyslogSink, Transport, alert_message, health_message};
pub use webhook::WebhookSink;

use orthrus_model::{Alert, Severity};
use serde::Deserialize;

/// What one endpoint is sent: security alerts, health issues or both, from a severity up,
/// optionally only some detections.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SinkFilter {
    pub min_severity: Severity,
    pub alerts: bool,
    pub health: bool,
    /// Detection ids (`ORT-KRB-003`); empty for all.
    pub detections: Vec<String>,
}

impl Default for SinkFilter {
    fn default() -> Self {
        Self { min_severity: Severity::Low, alerts: true, health: true, detections: Vec::new() }
    }
}

impl SinkFilter {
    pub fn passes_alert(&self, alert: &Alert) -> bool {
        self.alerts
            && alert.severity >= self.min_severity
            && (self.detections.is_empty() || self.detections.iter().any(|d| *d == alert.detection))
    }

    pub fn passes_health(&self, severity: Severity) -> bool {
        self.health && severity >= self.min_severity
    }

    /// Detection ids `known` does not take (a typo would silently filter everything).
    pub fn unknown_detections(&self, known: impl Fn(&str) -> bool) -> Vec<&str> {
        self.detections.iter().filter(|id| !known(id)).map(String::as_str).collect()
    }
}
