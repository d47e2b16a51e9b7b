//! The recordings of testdata/lab-extra (made with the lab script and
//! testdata/lab-extra/scenarios.sh) and the lab's directory snapshot.

use std::sync::Arc;

use orthrus_directory::{Directory, Snapshot};
use orthrus_model::{Activity, Alert};

use crate::{DetectionConfig, Engine};

/// `config` with the Samba lab's synced directory (testdata/directory/lab.snapshot.json).
pub fn with_lab_directory(mut config: DetectionConfig) -> DetectionConfig {
    let snapshot = Snapshot::load(&orthrus_testkit::fixture("directory/lab.snapshot.json")).unwrap();
    config.directory = Arc::new(Directory::new(snapshot, &config.entity_tags()));
    config
}

/// `config` with the directory synced after recording testdata/lab-extra/NAME (its
/// NAME.snapshot.json: the scenario changed the directory first).
pub fn with_recording_directory(name: &str, mut config: DetectionConfig) -> DetectionConfig {
    let path = orthrus_testkit::fixture(&format!("lab-extra/{name}.snapshot.json"));
    let snapshot = Snapshot::load(&path).unwrap();
    config.directory = Arc::new(Directory::new(snapshot, &config.entity_tags()));
    config
}

fn alerts_over(paths: &[std::path::PathBuf], id: &str, config: &DetectionConfig) -> Vec<Alert> {
    let activities = paths.iter().flat_map(|path| {
        if path.extension().is_some_and(|e| e == "pcap") {
            orthrus_testkit::activities(path)
        } else {
            super::logs::event_activities(path)
        }
    });
    alerts_of(activities, id, config)
}

/// Alerts of detection `id` over activities, in the order given.
pub fn alerts_of(
    activities: impl IntoIterator<Item = Activity>,
    id: &str,
    config: &DetectionConfig,
) -> Vec<Alert> {
    let mut engine = Engine::new(config, "test");
    for activity in activities {
        engine.observe(&activity);
    }
    engine.finish().into_iter().filter(|a| a.detection == id).collect()
}

/// Alerts of detection `id` over testdata/lab-extra/NAME.pcap.
pub fn extra_alerts(name: &str, id: &str, config: &DetectionConfig) -> Vec<Alert> {
    alerts_over(&[orthrus_testkit::fixture(&format!("lab-extra/{name}.pcap"))], id, config)
}

/// Alerts of detection `id` over several testdata/lab-extra recordings read as one timeline.
pub fn extra_alerts_together(names: &[&str], id: &str, config: &DetectionConfig) -> Vec<Alert> {
    let paths: Vec<_> =
        names.iter().map(|name| orthrus_testkit::fixture(&format!("lab-extra/{name}.pcap"))).collect();
    alerts_over(&paths, id, config)
}

/// Alerts of detection `id` over testdata/lab-extra/NAME.audit.jsonl (the DC's log).
pub fn extra_audit_alerts(name: &str, id: &str, config: &DetectionConfig) -> Vec<Alert> {
    alerts_over(&[orthrus_testkit::fixture(&format!("lab-extra/{name}.audit.jsonl"))], id, config)
}

/// Alerts of detection `id` over testdata/lab-extra/NAME's capture and the DC's audit log of
/// the same minutes, merged by event time as `orthrus analyze` merges them.
pub fn extra_recording_alerts(name: &str, id: &str, config: &DetectionConfig) -> Vec<Alert> {
    let mut activities =
        orthrus_testkit::activities(&orthrus_testkit::fixture(&format!("lab-extra/{name}.pcap")));
    activities.extend(super::logs::event_activities(&orthrus_testkit::fixture(&format!(
        "lab-extra/{name}.audit.jsonl"
    ))));
    activities.sort_by_key(|a| a.time);
    alerts_of(activities, id, config)
}

/// Alerts of detection `id` over each lab capture (testdata/pcap), run one by one.
pub fn lab_alerts_with(captures: &[&str], id: &str, config: &DetectionConfig) -> Vec<Alert> {
    captures
        .iter()
        .flat_map(|c| alerts_over(&[orthrus_testkit::fixture(&format!("pcap/{c}.pcap"))], id, config))
        .collect()
}
