//! Webhooks: each security alert and health issue as one JSON document POSTed to a URL (a
//! SOAR, a chat bridge, a ticketing system), from the same bounded queue and retry as syslog.
//! The document is the alert as the REST API returns it, with why it was sent and its link.

use std::sync::Arc;
use std::time::Duration;

use orthrus_model::Alert;
use serde_json::json;

use crate::cef::{HealthRecord, Trigger};
use crate::http::{HttpError, HttpTarget, PostRequest, post};
use crate::outbox::Outbox;

const TIMEOUT: Duration = Duration::from_secs(10);

/// `{"kind":"alert","trigger":…,"url":…,"alert":{…}}`.
pub fn alert_document(alert: &Alert, trigger: Trigger, url_base: Option<&str>) -> String {
    let url = url_base.map(|base| crate::cef::alert_url(base, alert));
    json!({ "kind": "alert", "trigger": trigger.name(), "url": url, "alert": alert }).to_string()
}

/// `{"kind":"health","trigger":…,"issue":{…}}`.
pub fn health_document(issue: &HealthRecord<'_>, trigger: Trigger) -> String {
    json!({
        "kind": "health",
        "trigger": trigger.name(),
        "issue": {
            "id": issue.id,
            "title": issue.title,
            "severity": issue.severity,
            "message": issue.message,
            "tenant": issue.tenant,
            "sensor": issue.sensor,
            "opened": issue.opened,
            "closed": issue.closed,
        },
    })
    .to_string()
}

/// One webhook's sender: it drains its queue in order, one POST per document.
pub struct WebhookSink {
    target: HttpTarget,
    tls: Option<Arc<rustls::ClientConfig>>,
    /// Extra header lines (an `Authorization` the receiver wants).
    headers: Vec<String>,
    outbox: Arc<Outbox>,
    pub sent: u64,
    pub failures: u64,
}

impl WebhookSink {
    /// `tls` is required for an https URL.
    pub fn new(
        target: HttpTarget,
        tls: Option<Arc<rustls::ClientConfig>>,
        headers: Vec<String>,
        outbox: Arc<Outbox>,
    ) -> Self {
        Self { target, tls, headers, outbox, sent: 0, failures: 0 }
    }

    pub fn target(&self) -> &HttpTarget {
        &self.target
    }

    pub fn outbox(&self) -> &Arc<Outbox> {
        &self.outbox
    }

    /// Sends what is queued, in order; on a failure the document goes back first in the queue.
    pub fn flush(&mut self) -> Result<(), HttpError> {
        while let Some(document) = self.outbox.pop() {
            let request =
                PostRequest { content_type: "application/json", headers: &self.headers, timeout: TIMEOUT };
            if let Err(error) = post(&self.target, self.tls.as_ref(), &request, document.as_bytes()) {
                self.failures += 1;
                self.outbox.put_back(document);
                return Err(error);
            }
            self.sent += 1;
        }
        Ok(())
    }
}
