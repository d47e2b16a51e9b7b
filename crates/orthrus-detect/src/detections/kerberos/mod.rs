//! Detections fed by Kerberos exchanges, from the wire or from the KDC's events
//! 4768/4769/4771 (the same activities).

pub mod account_enumeration;
pub mod asrep_roasting;
pub mod brute_force;
pub mod forged_pac;
pub mod golden_ticket_downgrade;
pub mod golden_ticket_kvno;
pub mod golden_ticket_lifetime;
pub mod golden_ticket_nonexistent;
pub mod honeytoken;
pub mod issued_tgts;
pub mod kerberoasting;
pub mod pass_the_ticket;
pub mod unusual_implementation;

use orthrus_model::{Activity, ActivityKind, KerberosExchange};

/// The AS exchange of a TGT request.
pub(crate) fn as_exchange(activity: &Activity) -> Option<&KerberosExchange> {
    match &activity.kind {
        ActivityKind::TgtRequested(ex) => Some(ex),
        _ => None,
    }
}

/// The TGS exchange of a service-ticket request.
pub(crate) fn tgs_exchange(activity: &Activity) -> Option<&KerberosExchange> {
    match &activity.kind {
        ActivityKind::ServiceTicketRequested(ex) => Some(ex),
        _ => None,
    }
}

/// Lists up to `max` names, then "and N more".
pub(crate) fn name_list<'a>(names: impl IntoIterator<Item = &'a String>, max: usize) -> String {
    let names: Vec<&String> = names.into_iter().collect();
    let shown: Vec<&str> = names.iter().take(max).map(|s| s.as_str()).collect();
    let mut text = shown.join(", ");
    if names.len() > max {
        text.push_str(&format!(" and {} more", names.len() - max));
    }
    text
}

/// `activity` with the evidence of an earlier sighting cited before its own (a ticket's
/// issuance or first use).
pub(crate) fn citing_earlier(activity: &Activity, earlier: Vec<orthrus_model::Provenance>) -> Activity {
    let mut cited = activity.clone();
    cited.provenance = earlier.into_iter().chain(activity.provenance.iter().cloned()).collect();
    cited
}

/// Account names compare case-insensitively in AD; keep one spelling for state keys.
pub(crate) fn account_key(name: &str) -> String {
    name.to_lowercase()
}

#[cfg(test)]
pub(crate) mod testing {
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
}
