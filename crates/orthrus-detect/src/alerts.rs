//! How a detection raises an alert: one way for all of them.
//!
//! A detection keeps its incidents ([`crate::window::Incidents`], or the incidents of
//! [`crate::window::PerSource`]), records into the incident the activities that are its
//! evidence, and then says what it concludes — a [`Finding`] — through [`Alerts::raise`].
//! The engine keeps one alert per detection and incident, updated with each finding.
//!
//! ```ignore
//! let incident = self.incidents.record(&key, activity, summary);
//! alerts.raise(activity, &key, incident, Finding { severity, description, source, targets });
//! ```

use orthrus_model::{Activity, AlertSource, AlertTargets, Evidence, Severity, TenantId, Timestamp};

use crate::DetectionMeta;
use crate::window::Incident;

/// What a detection concludes about an incident, as of the activity it just saw.
#[derive(Debug, Clone)]
pub struct Finding {
    pub severity: Severity,
    /// One sentence: who did what to whom, from where.
    pub description: String,
    pub source: AlertSource,
    pub targets: AlertTargets,
}

impl Finding {
    /// The source of a finding about one activity: its address, and the acting account when
    /// known.
    pub fn source_of(activity: &Activity, actor: Option<String>) -> AlertSource {
        AlertSource { ip: activity.source_ip(), account: actor, ..AlertSource::default() }
    }
}

/// The current state of one alert as its detector sees it; the engine keeps the latest.
#[derive(Debug, Clone)]
pub struct AlertUpdate {
    pub meta: &'static DetectionMeta,
    pub tenant: TenantId,
    /// Identifies the incident within the detection (e.g. `10.0.0.5#1`).
    pub key: String,
    pub severity: Severity,
    pub description: String,
    pub first_seen: Timestamp,
    pub last_seen: Timestamp,
    pub count: u64,
    pub source: AlertSource,
    pub targets: AlertTargets,
    pub evidence: Vec<Evidence>,
    pub evidence_omitted: u64,
    /// The sensors that saw the incident's activities and the one the finding was raised on.
    pub sensors: Vec<std::sync::Arc<str>>,
}

/// Where one detection's findings go while it sees an activity.
pub struct Alerts<'a> {
    meta: &'static DetectionMeta,
    updates: &'a mut Vec<AlertUpdate>,
}

impl<'a> Alerts<'a> {
    pub fn new(meta: &'static DetectionMeta, updates: &'a mut Vec<AlertUpdate>) -> Self {
        Self { meta, updates }
    }

    /// The detection these alerts are for.
    pub fn meta(&self) -> &'static DetectionMeta {
        self.meta
    }

    /// Raises (or updates) the alert of the incident `key` stands for: the incident gives its
    /// times, count and evidence, the finding what it means. The incident is marked alerted.
    pub fn raise(&mut self, activity: &Activity, key: &str, incident: &mut Incident, finding: Finding) {
        incident.alerted = true;
        incident.seen_by(&activity.sensor);
        self.updates.push(AlertUpdate {
            meta: self.meta,
            tenant: activity.tenant.clone(),
            key: format!("{key}#{}", incident.number),
            severity: finding.severity,
            description: finding.description,
            first_seen: incident.first_seen,
            last_seen: incident.last_seen,
            count: incident.count,
            source: finding.source,
            targets: finding.targets,
            evidence: incident.evidence.clone(),
            evidence_omitted: incident.evidence_omitted,
            sensors: incident.sensors.clone(),
        });
    }
}
