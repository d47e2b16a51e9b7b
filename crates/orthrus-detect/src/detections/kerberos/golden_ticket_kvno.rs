//! ORT-KRB-008 — Golden ticket: ticket anomaly (the key version of the presented TGT).
//!
//! - Attack: a golden ticket carries the key version number its forger wrote — mimikatz
//!   and impacket's ticketer write 2 — not the krbtgt account's: after the krbtgt password
//!   was reset (kvno 3 and up), or when the forger used an old krbtgt key, the presented
//!   TGT's key version is one the KDCs do not issue. Windows KDCs decrypt it with the
//!   current key regardless (Samba's refuse it).
//! - ATT&CK: T1558.001. MDI: Suspected Golden Ticket usage (ticket anomaly) (2032).
//! - Data: NET: the key version (enc-part kvno) and fingerprint of the TGT presented in each
//!   TGS-REQ, and the TGTs the KDCs in view issue (AS-REPs and renewal TGS-REPs).
//! - Learning: the realm's krbtgt key versions from the TGTs seen issued, in event time;
//!   silent until `min_issued_tgts` were seen (shared settings with ORT-KRB-009).
//! - Logic: a TGS-REQ presenting a TGT of the realm that no issuance in view explains, whose
//!   key version is neither the newest seen issued nor the one before it (TGTs issued before
//!   a krbtgt reset stay valid for their lifetime) nor any seen issued. High. RODC-issued
//!   TGTs (the RODC's number in the key version's high half) are not judged. One alert per
//!   source and quiet gap `window_secs` (config `[golden_ticket_kvno]`).
//! - Thresholds: `min_issued_tgts = 3`, `window_secs = 3600`.
//! - Benign: a krbtgt reset while the sensor saw no TGT issued with the new key (the new
//!   version is learned with the first one); several domains under one realm name (none in
//!   AD).
//! - Gaps: the catalogue's size rule (a forged PAC's length against what the KDC issues for
//!   that account) is not judged yet.
//! - Evidence: each TGS-REQ and its answer, the presented key version, the versions learned.

use orthrus_model::{Activity, Severity};

use super::presented_tgt::{PresentedTgtConfig, Wording, raise_presented};
use crate::window::Incidents;
use crate::{Alerts, Context, Detection, DetectionMeta, Detector};

pub static META: DetectionMeta = DetectionMeta {
    id: "ORT-KRB-008",
    title: "Suspected Golden Ticket usage (ticket anomaly)",
    mdi: "Suspected Golden Ticket usage (ticket anomaly) (2032)",
    external_id: 2032,
    cef_app: "Kerberos",
    tactic: "TA0006",
    techniques: &["T1558.001"],
    data_sources: &["Kerberos TGS-REQ presented TGT key version; TGTs seen issued (AS-REP, TGS-REP)"],
    base_severity: Severity::High,
    escalates_for_sensitive: false,
    config_section: "golden_ticket_kvno",
    meaning: "A ticket-granting ticket was presented with a key version the domain's KDCs do not issue. Forging tools write a fixed version; a ticket made with an old krbtgt key also shows it.",
    impact: "Someone holds a current or former krbtgt key and can forge tickets for any account.",
    actions: &[
        "Isolate the source computer.",
        "Reset the krbtgt password twice, with replication time between the resets; if it was reset recently, the attacker has a key from before that.",
        "Look for how the key was stolen earlier in this incident.",
    ],
};

impl Detection for GoldenTicketKvno {
    type Settings = PresentedTgtConfig;
    const META: &'static DetectionMeta = &META;

    fn new(settings: &Self::Settings) -> Self {
        let c = settings;
        GoldenTicketKvno { config: c.clone(), episodes: Incidents::new(c.window_secs) }
    }
}

pub struct GoldenTicketKvno {
    config: PresentedTgtConfig,
    episodes: Incidents<String>,
}

impl Detector for GoldenTicketKvno {
    fn observe(&mut self, activity: &Activity, context: &Context, alerts: &mut Alerts<'_>) {
        let Some(presented) = context.tickets().unexplained(activity) else { return };
        let (Some(kvno), Some(newest)) = (presented.ticket.kvno, presented.realm.kvnos.last().copied())
        else {
            return;
        };
        let expected =
            kvno == newest || kvno.saturating_add(1) == newest || presented.realm.kvnos.contains(&kvno);
        if presented.realm.issued < self.config.min_issued_tgts || kvno > 0xFFFF || expected {
            return;
        }
        let realm = presented.ticket.realm.clone();
        let learned: Vec<String> = presented.realm.kvnos.iter().map(ToString::to_string).collect();
        let wording = Wording {
            summary: format!("a TGT of key version {kvno} never seen issued"),
            sentence: Box::new(move |source, account, services, answer| {
                format!(
                    "{source} presented a {realm} ticket-granting ticket{account} with key version {kvno} to ask for \
                     {services}, while the realm's KDC issues its TGTs under krbtgt key version {}: a forged (golden) \
                     ticket; {answer}.",
                    learned.join(", "),
                )
            }),
        };
        raise_presented(
            &mut self.episodes,
            &self.config,
            activity,
            presented.exchange,
            META.base_severity,
            wording,
            alerts,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::DetectionConfig;
    use crate::testing::extra::extra_alerts;
    use crate::testing::lab::{BENIGN, alerts_for, assert_silent};

    #[test]
    fn fires_on_a_golden_ticket_with_the_forgers_key_version() {
        // Three logons get TGTs under krbtgt key version 1; the attacker presents a TGT for
        // Administrator forged with the AES key but key version 2 (ticketer's default).
        let alerts = extra_alerts("golden_ticket_kvno", META.id, &DetectionConfig::default());
        assert_eq!(alerts.len(), 1, "{alerts:#?}");
        let alert = &alerts[0];
        assert_eq!(alert.source.ip, Some("10.99.0.21".parse().unwrap()));
        assert_eq!(alert.severity, Severity::High);
        assert!(alert.targets.services.contains("cifs/dc1.lab.test"), "{:?}", alert.targets);
        assert!(
            alert.description.contains("with key version 2")
                && alert.description.contains("under krbtgt key version 1")
                && alert.description.contains("the KDC refused it"),
            "{}",
            alert.description
        );
    }

    #[test]
    fn silent_while_learning_and_for_the_right_key_version() {
        let config = DetectionConfig::default().with::<GoldenTicketKvno>(PresentedTgtConfig {
            min_issued_tgts: 4,
            ..PresentedTgtConfig::default()
        });
        assert!(
            extra_alerts("golden_ticket_kvno", META.id, &config).is_empty(),
            "three TGTs seen, four needed"
        );
        // The RC4-forged ticket was given krbtgt's key version: ORT-KRB-009's ground.
        assert!(extra_alerts("golden_ticket_rc4", META.id, &DetectionConfig::default()).is_empty());
    }

    #[test]
    fn silent_on_stolen_tickets_and_benign_traffic() {
        for capture in ["pass_the_ticket", "overpass_the_hash", "golden_ticket"] {
            assert!(alerts_for(capture, META.id, &DetectionConfig::default()).is_empty(), "{capture}");
        }
        assert_silent(BENIGN, META.id);
        crate::testing::logs::assert_silent(META.id);
    }
}
