//! Activities go from sensor to center, and into the store, as JSON: every activity the lab
//! captures and audit logs produce must come back from its JSON exactly as it went in.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use orthrus_model::Activity;

fn round_trips(activity: &Activity) {
    let text = serde_json::to_string(activity).unwrap();
    let back: Activity = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"));
    assert_eq!(&back, activity, "{text}");
}

#[test]
fn every_lab_activity_survives_its_json() {
    let mut seen = 0;
    for dir in ["pcap", "lab-extra"] {
        for entry in std::fs::read_dir(orthrus_testkit::fixture(dir)).unwrap().flatten() {
            let path = entry.path();
            if path.extension().is_some_and(|e| e == "pcap") {
                for activity in orthrus_testkit::activities(&path) {
                    round_trips(&activity);
                    seen += 1;
                }
            }
        }
    }
    assert!(seen > 1000, "{seen} activities");
}

#[test]
fn every_event_log_activity_survives_its_json() {
    let mut seen = 0;
    let mut logs: Vec<std::path::PathBuf> = std::fs::read_dir(orthrus_testkit::fixture("audit"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.to_string_lossy().ends_with(".audit.jsonl") && std::fs::metadata(p).is_ok_and(|m| m.len() > 0)
        })
        .collect();
    // Windows logs of every kind the mapping knows: the public corpus' EVTX samples.
    let corpus = orthrus_testkit::corpus();
    let manifest = std::fs::read_to_string(corpus.join("MANIFEST.tsv")).unwrap();
    logs.extend(
        manifest
            .lines()
            .skip(1)
            .filter_map(|l| l.split_once('\t'))
            .filter(|(_, rest)| rest.starts_with("evtx\t"))
            .map(|(p, _)| corpus.join(p)),
    );
    for path in &logs {
        for activity in orthrus_testkit::log_activities(path) {
            round_trips(&activity);
            seen += 1;
        }
    }
    assert!(logs.len() > 100 && seen > 5000, "{} logs, {seen} activities", logs.len());
}
