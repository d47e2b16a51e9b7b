//! ORT-KRB-009 — Golden ticket: encryption downgrade.
//!
//! - Attack: a golden ticket forged with the krbtgt account's NT hash — mimikatz
//!   `kerberos::golden /rc4:` (its default), impacket `ticketer -nthash`, Rubeus `golden
//!   /rc4:` — is an RC4-HMAC TGT, while a KDC whose krbtgt has AES keys (every domain past
//!   the 2008 functional level) issues AES TGTs. The forger needs only the hash DCSync or an
//!   NTDS dump gives.
//! - ATT&CK: T1558.001. MDI: Suspected Golden Ticket usage (encryption downgrade) (2009).
//! - Data: NET: the encryption type of the TGT presented in each TGS-REQ (PA-TGS-REQ), its
//!   fingerprint, and the TGTs the KDCs in view issue (AS-REPs and renewal TGS-REPs).
//! - Learning: the realm's TGT encryption types from the TGTs seen issued, in event time;
//!   silent until `min_issued_tgts` were seen (MDI learns for 5 days from the start of
//!   monitoring; a count works the same on a replay and a live sensor).
//! - Logic: a TGS-REQ presenting a TGT of the realm that no issuance in view explains, whose
//!   encryption type is not AES while every TGT seen issued for that realm was AES. Medium
//!   (as MDI), High when the KDC issued a ticket with it. One alert per source and quiet gap
//!   `window_secs` (config `[golden_ticket_downgrade]`), listing the services asked for.
//! - Thresholds: `min_issued_tgts = 3`, `window_secs = 3600`.
//! - Benign: a krbtgt without AES keys (its TGTs are then RC4 too, and are learned as such);
//!   a TGT issued as RC4 before the domain's krbtgt got AES keys and presented after it (for
//!   its last hours). Exclude a source with `exclude_sources`.
//! - Evidence: each TGS-REQ and its answer, the presented TGT's encryption type, the
//!   encryption types learned.

use orthrus_model::{Activity, Severity};

use super::presented_tgt::{PresentedTgtConfig, Wording, raise_presented};
use crate::window::Incidents;
use crate::{Alerts, Context, Detection, DetectionMeta, Detector};

pub static META: DetectionMeta = DetectionMeta {
    id: "ORT-KRB-009",
    title: "Suspected Golden Ticket usage (encryption downgrade)",
    mdi: "Suspected Golden Ticket usage (encryption downgrade) (2009)",
    external_id: 2009,
    cef_app: "Kerberos",
    tactic: "TA0006",
    techniques: &["T1558.001"],
    data_sources: &["Kerberos TGS-REQ presented TGT encryption type; TGTs seen issued (AS-REP, TGS-REP)"],
    base_severity: Severity::Medium,
    escalates_for_sensitive: false,
    config_section: "golden_ticket_downgrade",
    meaning: "A ticket-granting ticket encrypted with RC4 was used in a domain whose KDCs issue AES tickets. Tickets forged from the krbtgt account's NT hash are RC4 by default.",
    impact: "Whoever forged it can act as any account in the domain until the krbtgt key is changed twice.",
    actions: &[
        "Confirm the KDCs issue AES tickets to this account normally (no legacy client forcing RC4).",
        "Isolate the source computer.",
        "Reset the krbtgt password twice, with replication time between the resets.",
        "Look for DCSync or NTDS.dit theft earlier in this incident.",
    ],
};

impl Detection for GoldenTicketDowngrade {
    type Settings = PresentedTgtConfig;
    const META: &'static DetectionMeta = &META;

    fn new(settings: &Self::Settings) -> Self {
        let c = settings;
        GoldenTicketDowngrade { config: c.clone(), episodes: Incidents::new(c.window_secs) }
    }
}

pub struct GoldenTicketDowngrade {
    config: PresentedTgtConfig,
    episodes: Incidents<String>,
}

impl Detector for GoldenTicketDowngrade {
    fn observe(&mut self, activity: &Activity, context: &Context, alerts: &mut Alerts<'_>) {
        let Some(presented) = context.tickets().unexplained(activity) else { return };
        let learned = &presented.realm.etypes;
        if presented.realm.issued < self.config.min_issued_tgts
            || presented.ticket.etype.is_aes()
            || !learned.iter().all(|e| e.is_aes())
        {
            return;
        }
        let (etype, realm) = (presented.ticket.etype, presented.ticket.realm.clone());
        let learned: Vec<String> = learned.iter().map(ToString::to_string).collect();
        let severity =
            if presented.exchange.issued().is_some() { Severity::High } else { META.base_severity };
        let wording = Wording {
            summary: format!("a {etype} TGT never seen issued"),
            sentence: Box::new(move |source, account, services, answer| {
                format!(
                    "{source} presented a {realm} ticket-granting ticket encrypted with {etype}{account} to ask for \
                     {services}, while the realm's KDC issues its TGTs with {}: a TGT forged with the krbtgt NT \
                     hash (golden ticket, encryption downgrade); {answer}.",
                    learned.join(", "),
                )
            }),
        };
        raise_presented(
            &mut self.episodes,
            &self.config,
            activity,
            presented.exchange,
            severity,
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
    fn fires_on_an_rc4_golden_ticket_where_the_kdc_issues_aes_tgts() {
        // Three workstation logons get AES256 TGTs; then the attacker presents an RC4 TGT for
        // Administrator forged with the krbtgt NT hash (ticketer -nthash) for cifs/ and ldap/.
        let alerts = extra_alerts("golden_ticket_rc4", META.id, &DetectionConfig::default());
        assert_eq!(alerts.len(), 1, "{alerts:#?}");
        let alert = &alerts[0];
        assert_eq!(alert.source.ip, Some("10.99.0.21".parse().unwrap()));
        assert_eq!(alert.count, 4, "two services, each asked twice: {alert:#?}");
        assert_eq!(alert.severity, Severity::Medium, "Samba refused the RC4 ticket");
        assert!(alert.targets.services.contains("cifs/dc1.lab.test"), "{:?}", alert.targets);
        assert!(
            alert.description.contains("encrypted with rc4-hmac")
                && alert.description.contains("issues its TGTs with aes256-cts-hmac-sha1-96"),
            "{}",
            alert.description
        );
    }

    #[test]
    fn silent_while_learning_and_on_aes_golden_tickets() {
        let config = DetectionConfig::default().with::<GoldenTicketDowngrade>(PresentedTgtConfig {
            min_issued_tgts: 4,
            ..PresentedTgtConfig::default()
        });
        assert!(
            extra_alerts("golden_ticket_rc4", META.id, &config).is_empty(),
            "three TGTs seen, four needed"
        );
        // AES-forged golden tickets keep the realm's encryption type: ORT-KRB-005/008's ground.
        assert!(extra_alerts("golden_ticket_kvno", META.id, &DetectionConfig::default()).is_empty());
        assert!(alerts_for("golden_ticket", META.id, &DetectionConfig::default()).is_empty());
    }

    #[test]
    fn silent_on_stolen_tickets_rc4_clients_and_benign_traffic() {
        // A stolen AES TGT replayed, and an RC4 overpass-the-hash client whose TGT the KDC
        // issued in view.
        for capture in ["pass_the_ticket", "overpass_the_hash"] {
            assert!(alerts_for(capture, META.id, &DetectionConfig::default()).is_empty(), "{capture}");
        }
        assert_silent(BENIGN, META.id);
        crate::testing::logs::assert_silent(META.id);
    }
}
