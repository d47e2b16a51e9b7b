use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use orthrus_model::{Activity, Alert, AlertSource, AlertTargets, TenantId, Timestamp};

use crate::context::Context;
use crate::correlation::Correlator;
use crate::detections::DETECTIONS;
use crate::enrich::Enricher;
use crate::{AlertUpdate, Alerts, Baseline, BaselineError, DetectionConfig, DetectionMeta, Detector};

struct Enabled {
    meta: &'static DetectionMeta,
    detector: Box<dyn Detector>,
    exclusions: crate::exclusions::Applicable,
}

/// Runs every enabled detection over activities and keeps the resulting alerts.
pub struct Engine {
    detectors: Vec<Enabled>,
    context: Context,
    sensor: String,
    alerts: BTreeMap<(&'static str, TenantId, String), Alert>,
    updates: Vec<AlertUpdate>,
    /// Event time of the latest activity seen (or restored from a baseline).
    latest: Option<Timestamp>,
    /// Alerts updated since the last [`take_changed`](Self::take_changed).
    changed: BTreeSet<(&'static str, TenantId, String)>,
    /// Ties presented alerts into incidents.
    correlator: Correlator,
    /// The names the addresses of each alert had when it was last presented: when name
    /// resolution learns better, the alert is presented again with them.
    presented_names: std::collections::HashMap<(&'static str, TenantId, String), Vec<Option<String>>>,
}

impl Engine {
    pub fn new(config: &DetectionConfig, sensor: &str) -> Self {
        let detectors = DETECTIONS
            .iter()
            .filter(|entry| !config.disabled.iter().any(|d| d == entry.meta.id))
            .map(|entry| Enabled {
                meta: entry.meta,
                detector: entry.build(config),
                exclusions: config.exclusions_for(entry.meta.id, entry.meta.config_section),
            })
            .collect();
        Self {
            detectors,
            context: Context::new(config),
            sensor: sensor.to_string(),
            alerts: BTreeMap::new(),
            updates: Vec::new(),
            latest: None,
            changed: BTreeSet::new(),
            correlator: Correlator::new(&config.incidents),
            presented_names: std::collections::HashMap::new(),
        }
    }

    /// Gives each learning detection its saved state. Returns the ids of states this build
    /// has no enabled detection for (reported, not applied).
    pub fn restore(&mut self, baseline: &Baseline) -> Result<Vec<String>, BaselineError> {
        let mut unused = Vec::new();
        for (id, state) in &baseline.detections {
            let Some(enabled) = self.detectors.iter_mut().find(|d| d.meta.id == id.as_str()) else {
                unused.push(id.clone());
                continue;
            };
            enabled
                .detector
                .restore(state.clone())
                .map_err(|reason| BaselineError::State { detection: id.clone(), reason })?;
        }
        self.latest = self.latest.max(baseline.learned_until);
        Ok(unused)
    }

    /// What the detectors have learned so far.
    pub fn baseline(&self) -> Baseline {
        let detections = self
            .detectors
            .iter()
            .filter_map(|d| Some((d.meta.id.to_owned(), d.detector.learned()?)))
            .collect();
        Baseline { format: crate::baseline::FORMAT, learned_until: self.latest, detections }
    }

    pub fn observe(&mut self, activity: &Activity) {
        self.latest = self.latest.max(Some(activity.time));
        for enabled in &mut self.detectors {
            if enabled.exclusions.skips(activity) {
                continue;
            }
            let mut alerts = Alerts::new(enabled.meta, &mut self.updates);
            enabled.detector.observe(activity, &self.context, &mut alerts);
        }
        // Each activity is judged against what was known before it, then taught: an activity
        // never vouches for itself (a tool claiming a Windows computer's account is judged
        // before its own logon names the address).
        self.context.observe(activity);
        self.apply_updates();
    }

    /// Addresses the alerts so far stand on (sources, and targets given as addresses) that name
    /// resolution has not resolved, each with the alert's last-seen time: what an active lookup
    /// should ask about before [`finish`](Self::finish).
    pub fn unresolved_addresses(&self) -> Vec<(IpAddr, Timestamp)> {
        let mut out: Vec<(IpAddr, Timestamp)> = Vec::new();
        for alert in self.alerts.values() {
            let targets = alert.targets.computers.iter().filter_map(|c| c.parse::<IpAddr>().ok());
            for ip in alert.source.ip.into_iter().chain(targets) {
                if self.context.resolve(ip).is_none() && !out.iter().any(|(seen, _)| *seen == ip) {
                    out.push((ip, alert.last_seen));
                }
            }
        }
        out
    }

    /// The computer at an address as name resolution knows it now (an entity page's answer).
    pub fn resolve(&self, ip: IpAddr) -> Option<orthrus_directory::Resolution> {
        self.context.resolve(ip)
    }

    /// The incidents the tenant's alerts were given before (a center's store, before a replay):
    /// each alert keeps its own when the replay presents it again.
    pub fn remember_incidents(&mut self, assigned: impl IntoIterator<Item = (String, String)>) {
        for (alert, incident) in assigned {
            self.correlator.remember(alert, incident);
        }
    }

    /// Records a name an active lookup found for an address.
    pub fn learn_name(&mut self, ip: IpAddr, name: &str, method: orthrus_directory::Method, time: Timestamp) {
        self.context.learn_name(ip, name, method, time);
    }

    /// The alerts raised or updated since the last call, annotated as [`finish`](Self::finish)
    /// annotates them (with what name resolution knows so far) and without the excluded ones:
    /// what a running center stores and forwards as it goes.
    pub fn take_changed(&mut self) -> Vec<Alert> {
        // Alerts whose addresses resolution names differently now than when last presented
        // (a DC's own log named it after the alert was raised) are presented again.
        for (key, alert) in &self.alerts {
            let names = self.address_names(alert);
            if self.presented_names.get(key).is_some_and(|before| *before != names) {
                self.changed.insert(key.clone());
            }
        }
        let mut out = Vec::new();
        for key in std::mem::take(&mut self.changed) {
            let Some(alert) = self.alerts.get(&key).cloned() else { continue };
            let names = self.address_names(&alert);
            self.presented_names.insert(key, names);
            out.extend(self.presented(alert));
        }
        out.sort_by(|a, b| (a.first_seen, &a.detection, &a.id).cmp(&(b.first_seen, &b.detection, &b.id)));
        for alert in &mut out {
            self.correlator.assign(alert);
        }
        out
    }

    /// What name resolution calls each address of an alert (its source, then its targets).
    fn address_names(&self, alert: &Alert) -> Vec<Option<String>> {
        let targets = alert.targets.computers.iter().filter_map(|c| c.parse::<IpAddr>().ok());
        alert
            .source
            .ip
            .into_iter()
            .chain(targets)
            .map(|ip| self.context.resolve(ip).map(|r| r.computer))
            .collect()
    }

    /// Ends the run: detectors flush, alerts come out oldest first.
    pub fn finish(mut self) -> Vec<Alert> {
        for enabled in &mut self.detectors {
            let mut alerts = Alerts::new(enabled.meta, &mut self.updates);
            enabled.detector.finish(&self.context, &mut alerts);
        }
        self.apply_updates();
        // Annotated at the end: offline, what the whole input taught name resolution applies to
        // every alert.
        let mut alerts: Vec<Alert> = Vec::with_capacity(self.alerts.len());
        for alert in std::mem::take(&mut self.alerts).into_values() {
            alerts.extend(self.presented(alert));
        }
        alerts.sort_by(|a, b| (a.first_seen, &a.detection, &a.id).cmp(&(b.first_seen, &b.detection, &b.id)));
        // In order of first activity: an incident is the oldest an alert can join.
        for alert in &mut alerts {
            self.correlator.assign(alert);
        }
        alerts
    }

    /// The alert annotated with what enrichment knows, unless an exclusion suppresses it.
    fn presented(&self, mut alert: Alert) -> Option<Alert> {
        if let Some(entry) = DETECTIONS.iter().find(|e| e.meta.id == alert.detection) {
            Enricher::new(&self.context).annotate(&mut alert, entry.meta);
        }
        let excluded = self
            .detectors
            .iter()
            .find(|d| d.meta.id == alert.detection)
            .is_some_and(|d| d.exclusions.suppresses(&alert));
        (!excluded).then_some(alert)
    }

    fn apply_updates(&mut self) {
        for update in self.updates.drain(..) {
            let key = (update.meta.id, update.tenant.clone(), update.key.clone());
            self.changed.insert(key.clone());
            let alert = self.alerts.entry(key).or_insert_with(|| Alert {
                id: alert_id(&update),
                tenant: update.tenant.clone(),
                detection: update.meta.id.into(),
                title: update.meta.title.into(),
                description: String::new(),
                severity: update.severity,
                status: "open".into(),
                mitre: update.meta.mitre(),
                first_seen: update.first_seen,
                last_seen: update.last_seen,
                count: 0,
                source: AlertSource::default(),
                targets: AlertTargets::default(),
                evidence: Vec::new(),
                evidence_omitted: 0,
                sensor: String::new(),
                entities: Vec::new(),
                cef: update.meta.alert_meta(),
                incident: None,
            });
            alert.description = update.description;
            // Severity only ever rises within an alert.
            alert.severity = alert.severity.max(update.severity);
            alert.first_seen = alert.first_seen.min(update.first_seen);
            alert.last_seen = alert.last_seen.max(update.last_seen);
            alert.count = update.count;
            alert.source = update.source;
            alert.targets = update.targets;
            alert.evidence = update.evidence;
            alert.evidence_omitted = update.evidence_omitted;
            for sensor in update.sensors.iter().filter(|s| !s.is_empty()) {
                add_sensor(&mut alert.sensor, sensor);
            }
            if alert.sensor.is_empty() {
                add_sensor(&mut alert.sensor, &self.sensor);
            }
        }
    }
}

/// Bound on the sensors an alert lists: one attack seen by every DC's sensor of a large domain
/// names the first few, then says there are more.
const MAX_SENSORS_NAMED: usize = 8;

/// Adds a sensor to the alert's list (`dc1-sensor, dc2-sensor`), once.
fn add_sensor(sensors: &mut String, sensor: &str) {
    let named = sensors.split(", ").filter(|s| !s.is_empty()).count();
    if sensors.split(", ").any(|s| s == sensor || s == "…") {
        return;
    }
    if named > 0 {
        sensors.push_str(", ");
    }
    sensors.push_str(if named >= MAX_SENSORS_NAMED { "…" } else { sensor });
}

/// Deterministic: the same input gives the same alert ids, run after run.
fn alert_id(update: &AlertUpdate) -> String {
    let text =
        format!("{}|{}|{}|{}", update.tenant, update.meta.id, update.key, update.first_seen.as_micros());
    format!("{}-{:016x}", update.meta.id.to_ascii_lowercase(), orthrus_model::fnv1a64(&[text.as_bytes()]))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An alert reads back from its JSON as it was written: the store and the web UI read the
    /// real type.
    #[test]
    fn alerts_round_trip_through_json() {
        let mut engine = Engine::new(&DetectionConfig::default(), "test");
        for activity in orthrus_testkit::lab_activities("kerberoast") {
            engine.observe(&activity);
        }
        let alerts = engine.finish();
        assert!(!alerts.is_empty());
        for alert in alerts {
            let text = serde_json::to_string(&alert).unwrap();
            let read: Alert = serde_json::from_str(&text).unwrap();
            assert_eq!(read, alert);
            assert_eq!(read.cef.external_id, 2410, "Kerberoasting's MDI id travels with the alert");
        }
    }

    /// A running center takes alerts as they change; at the end it has what an offline run
    /// has, alert for alert.
    #[test]
    fn alerts_taken_as_they_change_end_as_the_offline_run_ends() {
        let config = DetectionConfig::default();
        let mut streaming = Engine::new(&config, "test");
        let mut offline = Engine::new(&config, "test");
        let mut taken: BTreeMap<String, Alert> = BTreeMap::new();
        let mut takes = 0;
        for capture in ["krb_password_spray", "dcsync", "kerberoast"] {
            for activity in orthrus_testkit::lab_activities(capture) {
                streaming.observe(&activity);
                offline.observe(&activity);
                for alert in streaming.take_changed() {
                    takes += 1;
                    taken.insert(alert.id.clone(), alert);
                }
            }
        }
        assert!(streaming.take_changed().is_empty(), "nothing changed since the last take");
        let finished = offline.finish();
        assert_eq!(finished.len(), 3);
        assert!(takes > finished.len(), "alerts were taken again as they grew");
        for alert in &finished {
            let last = &taken[&alert.id];
            assert_eq!(
                (last.count, last.last_seen, &last.description),
                (alert.count, alert.last_seen, &alert.description)
            );
        }
    }

    /// An alert names the sensors that saw its activities, not the engine's process: two DCs'
    /// sensors watching the same spray both appear, once each.
    #[test]
    fn alerts_name_the_sensors_that_saw_them() {
        let mut engine = Engine::new(&DetectionConfig::default(), "orthrus-center");
        let activities = orthrus_testkit::lab_activities("krb_password_spray");
        let half = activities.len() / 2;
        for (index, mut activity) in activities.into_iter().enumerate() {
            activity.sensor = std::sync::Arc::from(if index < half { "dc1-sensor" } else { "dc2-sensor" });
            engine.observe(&activity);
        }
        let alerts = engine.finish();
        assert!(!alerts.is_empty());
        for alert in &alerts {
            let mut sensors: Vec<&str> = alert.sensor.split(", ").collect();
            sensors.sort_unstable();
            assert_eq!(sensors, ["dc1-sensor", "dc2-sensor"], "{}", alert.detection);
        }

        let mut listed = String::new();
        for n in 0..20 {
            add_sensor(&mut listed, &format!("s{n}"));
            add_sensor(&mut listed, "s0");
        }
        assert_eq!(listed, "s0, s1, s2, s3, s4, s5, s6, s7, …", "bounded, each once");
    }

    /// An alert raised before its addresses were named is presented again once they are: a
    /// running center's DCSync alert names the DC when the DC's own log arrives later. The
    /// capture's NTLM challenges name the DC already, so they are taken out here to stand for
    /// a DC reached by a client whose NTLM carries no server name.
    #[test]
    fn an_alert_is_presented_again_when_its_addresses_get_names() {
        let mut engine = Engine::new(&DetectionConfig::default(), "test");
        for mut activity in orthrus_testkit::lab_activities("dcsync") {
            if let orthrus_model::ActivityKind::NtlmAuthenticated(auth) = &mut activity.kind {
                auth.server_name = None;
            }
            engine.observe(&activity);
        }
        let first = engine.take_changed();
        let dcsync = first.iter().find(|a| a.detection == "ORT-DRS-001").expect("the DCSync alert");
        assert!(dcsync.description.contains("from 10.99.0.10 as"), "{}", dcsync.description);
        let log = orthrus_testkit::fixture("audit/group_membership_change.audit.jsonl");
        for activity in orthrus_testkit::log_activities(&log) {
            engine.observe(&activity);
        }
        let again = engine.take_changed();
        let renamed = again.iter().find(|a| a.id == dcsync.id).expect("presented again");
        assert!(renamed.description.contains("from DC1 (10.99.0.10) as"), "{}", renamed.description);
        assert_eq!(renamed.incident, dcsync.incident, "the same incident");
        assert!(engine.take_changed().is_empty(), "once");
    }
}
