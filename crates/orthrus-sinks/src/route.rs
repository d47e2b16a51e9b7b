//! Routes and senders: the center renders each alert or health issue once per endpoint that
//! wants it (its [`SinkFilter`]) into that endpoint's [`Outbox`] — a [`Route`] — and a
//! [`Sender`] on a thread of its own drains the outbox to the network. Splitting the two keeps
//! network waits out of the center's intake.

use std::sync::Arc;

use orthrus_model::{Alert, Timestamp};

use crate::SinkFilter;
use crate::cef::{CefOptions, HealthRecord, Trigger};
use crate::outbox::Outbox;
use crate::syslog::{SyslogOptions, SyslogSink, Transport, alert_message, health_message};
use crate::webhook::{WebhookSink, alert_document, health_document};

/// How an endpoint wants its messages.
#[derive(Debug, Clone)]
pub enum Format {
    Syslog { options: SyslogOptions, transport: Transport },
    Webhook,
}

/// The center's side of an endpoint.
pub struct Route {
    /// How logs and metrics name the endpoint (its URL).
    pub name: String,
    pub outbox: Arc<Outbox>,
    pub filter: SinkFilter,
    pub format: Format,
}

impl Route {
    pub fn syslog(sink: &SyslogSink, options: SyslogOptions, filter: SinkFilter) -> Self {
        Self {
            name: Sender::syslog_name(sink),
            outbox: sink.outbox().clone(),
            filter,
            format: Format::Syslog { options, transport: sink.transport() },
        }
    }

    pub fn webhook(sink: &WebhookSink, filter: SinkFilter) -> Self {
        Self { name: sink.target().origin(), outbox: sink.outbox().clone(), filter, format: Format::Webhook }
    }

    /// Queues the alert when the filter lets it through.
    pub fn alert(&self, alert: &Alert, trigger: Trigger, cef: &CefOptions, now: Timestamp) {
        if !self.filter.passes_alert(alert) {
            return;
        }
        let message = match &self.format {
            Format::Syslog { options, transport } => {
                alert_message(alert, trigger, cef, options, *transport, now)
            }
            Format::Webhook => alert_document(alert, trigger, cef.url_base.as_deref()),
        };
        self.outbox.push(message);
    }

    /// Queues a test message whatever the filter (`orthrus cef-test`): a Low health record
    /// named ORT-H-TEST, so a SIEM rule can tell it from real ones.
    pub fn test_message(&self, cef: &CefOptions, now: Timestamp) {
        let record = HealthRecord {
            id: "ORT-H-TEST",
            title: "Orthrus test message",
            external_id: 1000,
            severity: orthrus_model::Severity::Low,
            message: "A test message from orthrus cef-test: this endpoint receives Orthrus alerts.",
            tenant: "-",
            sensor: "orthrus-center",
            opened: now,
            closed: None,
        };
        let message = match &self.format {
            Format::Syslog { options, .. } => health_message(&record, Trigger::New, cef, options, now),
            Format::Webhook => health_document(&record, Trigger::New),
        };
        self.outbox.push(message);
    }

    /// Queues the health issue when the filter lets it through.
    pub fn health(&self, issue: &HealthRecord<'_>, trigger: Trigger, cef: &CefOptions, now: Timestamp) {
        if !self.filter.passes_health(issue.severity) {
            return;
        }
        let message = match &self.format {
            Format::Syslog { options, .. } => health_message(issue, trigger, cef, options, now),
            Format::Webhook => health_document(issue, trigger),
        };
        self.outbox.push(message);
    }
}

/// The network side of an endpoint.
pub enum Sender {
    Syslog(SyslogSink),
    Webhook(WebhookSink),
}

/// An endpoint's counters, for metrics and health.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SenderCounters {
    pub sent: u64,
    pub failures: u64,
    pub dropped: u64,
    pub queued: u64,
}

impl Sender {
    /// Sends what waits; the error says why the endpoint could not take it (it stays queued).
    pub fn flush(&mut self) -> Result<(), String> {
        match self {
            Sender::Syslog(sink) => sink.flush().map_err(|e| e.to_string()),
            Sender::Webhook(sink) => {
                let origin = sink.target().origin();
                sink.flush().map_err(|e| format!("webhook {origin}: {e}"))
            }
        }
    }

    fn syslog_name(sink: &SyslogSink) -> String {
        let scheme = match sink.transport() {
            Transport::Udp => "udp",
            Transport::Tcp { .. } => "tcp",
            Transport::Tls => "tls",
        };
        format!("{scheme}://{}", sink.endpoint())
    }

    /// The endpoint, as logs and metrics name it.
    pub fn name(&self) -> String {
        match self {
            Sender::Syslog(sink) => Sender::syslog_name(sink),
            Sender::Webhook(sink) => sink.target().origin(),
        }
    }

    pub fn counters(&self) -> SenderCounters {
        let (sent, failures, outbox) = match self {
            Sender::Syslog(sink) => (sink.sent, sink.failures, sink.outbox()),
            Sender::Webhook(sink) => (sink.sent, sink.failures, sink.outbox()),
        };
        SenderCounters { sent, failures, dropped: outbox.dropped(), queued: outbox.len() as u64 }
    }
}
