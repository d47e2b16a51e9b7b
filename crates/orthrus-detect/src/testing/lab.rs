//! Runs whole lab captures through the decoder and one detection.

use orthrus_model::Alert;

use crate::{DetectionConfig, Engine};

/// Alerts of detection `id` raised over a lab capture (testdata/pcap/NAME.pcap).
pub fn alerts_for(capture: &str, id: &str, config: &DetectionConfig) -> Vec<Alert> {
    let mut engine = Engine::new(config, "test");
    for activity in orthrus_testkit::lab_activities(capture) {
        engine.observe(&activity);
    }
    engine.finish().into_iter().filter(|a| a.detection == id).collect()
}

/// Every benign lab capture, each of which must raise nothing.
pub const BENIGN: &[&str] =
    &["benign_logon", "benign_dns", "benign_admin", "benign_password_typo", "benign_busy"];

/// Asserts that detection `id` raises nothing on any of `captures` with default settings.
pub fn assert_silent(captures: &[&str], id: &str) {
    for capture in captures {
        let alerts = alerts_for(capture, id, &DetectionConfig::default());
        assert!(alerts.is_empty(), "{id} on {capture}: {alerts:#?}");
    }
}
