//! Runs public corpus event logs (and lab Samba audit logs) through the engine.

use std::path::Path;

use orthrus_model::{Activity, Alert};

use crate::{DetectionConfig, Engine};

/// A directory of one domain holding `objects` (snapshot JSON objects): what a sync of
/// the corpus' domains would give, for corpus logs whose domains we cannot sync.
pub fn directory_of(
    dns_name: &str,
    netbios: &str,
    objects: serde_json::Value,
) -> orthrus_directory::Snapshot {
    let dn = format!("DC={}", dns_name.replace('.', ",DC="));
    serde_json::from_value(serde_json::json!({
        "format": "orthrus-directory-snapshot", "version": 1,
        "domains": [{"dns_name": dns_name, "netbios_name": netbios, "dn": dn, "sid": "S-1-5-21-1-2-3",
            "synced_from": format!("dc.{dns_name}"), "highest_usn": 1, "synced_at": "2020-01-01T00:00:00Z",
            "objects": objects}]
    }))
    .unwrap()
}

/// Activities of an event log file, ordered by event time.
pub fn event_activities(path: &Path) -> Vec<Activity> {
    orthrus_testkit::log_activities(path)
}

/// Alerts of detection `id` over corpus files (paths relative to the corpus).
pub fn corpus_alerts(files: &[&str], id: &str, config: &DetectionConfig) -> Vec<Alert> {
    let corpus = orthrus_testkit::corpus();
    let mut engine = Engine::new(config, "test");
    for file in files {
        for activity in event_activities(&corpus.join(file)) {
            engine.observe(&activity);
        }
    }
    engine.finish().into_iter().filter(|a| a.detection == id).collect()
}

/// Alerts of detection `id` over a lab Samba audit log (testdata/audit/NAME.audit.jsonl).
pub fn audit_alerts(name: &str, id: &str, config: &DetectionConfig) -> Vec<Alert> {
    let path = orthrus_testkit::fixture(&format!("audit/{name}.audit.jsonl"));
    let mut engine = Engine::new(config, "test");
    for activity in event_activities(&path) {
        engine.observe(&activity);
    }
    engine.finish().into_iter().filter(|a| a.detection == id).collect()
}

/// Benign corpus logs: a workstation's Security log, a System log, a Sysmon log and an
/// application log.
pub const BENIGN: &[&str] = &[
    "evtx-rs-samples/security.evtx",
    "evtx-rs-samples/system.evtx",
    "evtx-rs-samples/sysmon.evtx",
    "deepbluecli/evtx/many-events-application.evtx",
    "evtx-to-mitre-attack/TA0003-Persistence/T1547-Boot or Logon Autostart Execution/ID4622-New SSP loaded in LSA (only legitim).evtx",
];

/// Benign lab Samba audit logs.
pub const BENIGN_AUDIT: &[&str] = &["benign_logon", "benign_admin", "benign_password_typo", "benign_busy"];

/// For detections that read the wire as well: also silent on every benign lab capture.
pub fn assert_silent_on_logs_and_captures(id: &str) {
    assert_silent(id);
    super::lab::assert_silent(super::lab::BENIGN, id);
}

pub fn assert_silent(id: &str) {
    let alerts = corpus_alerts(BENIGN, id, &DetectionConfig::default());
    assert!(alerts.is_empty(), "{id} on benign corpus logs: {alerts:#?}");
    for name in BENIGN_AUDIT {
        let alerts = audit_alerts(name, id, &DetectionConfig::default());
        assert!(alerts.is_empty(), "{id} on benign audit log {name}: {alerts:#?}");
    }
}
