//! Where alerts go after the engine: CEF over syslog (`cef`, `syslog`), per
//! `design/cef.md`. Sinks never read the wall clock; the caller passes the send time.

pub mod cef;
pub mod syslog;

pub use cef::{CefOptions, Trigger, alert_line};
pub use syslog::{Framing, SyslogOptions, SyslogSink, Transport, alert_message, health_message};

/// The registry entry of an alert's detection (its CEF name, external id, app, tactic).
pub fn meta_of(alert: &orthrus_model::Alert) -> Option<&'static orthrus_detect::DetectionMeta> {
    orthrus_detect::detections::DETECTIONS.iter().map(|e| e.meta).find(|m| m.id == alert.detection)
}
