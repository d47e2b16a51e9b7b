//! ORT-KRB-007 — Golden ticket: time anomaly (a TGT honoured longer than the realm allows).
//!
//! - Attack: a TGT forged with the krbtgt key carries whatever lifetime its forger wrote —
//!   mimikatz and impacket's ticketer write ten years — and the KDC honours it for as long as
//!   it says, while every TGT the KDC issues itself lives at most the domain's "Maximum
//!   lifetime for user ticket" (MaxTicketAge, 10 hours by default) and is then renewed as a
//!   new ticket. The same TGT answered over a longer span than the policy allows was not
//!   issued under that policy.
//! - ATT&CK: T1558.001. MDI: Suspected Golden Ticket usage (time anomaly) (2022).
//! - Data: NET: the fingerprint of each TGT issued (AS-REP, and TGS-REP of a renewal or a
//!   forwarded TGT) and of the TGT presented in each TGS-REQ, with the KDC's answer.
//! - Logic: a TGT's first sighting is its issuance, or — for a ticket whose issuance was not
//!   in view — the first TGS-REQ presenting it that the KDC answered with a ticket (a KDC
//!   does not honour a ticket before its start time, so the ticket lived by then; nothing
//!   is inferred from what was not seen). A later TGS-REQ presenting the same TGT, answered
//!   with a ticket more than `max_ticket_lifetime_secs` + `clock_skew_secs` after the first
//!   sighting, is a TGT living longer than the policy: High. Refused presentations (an
//!   expired ticket a client kept, KRB_AP_ERR_TKT_EXPIRED) are not judged. One alert per
//!   ticket and quiet gap `window_secs` (config `[golden_ticket_lifetime]`).
//! - Thresholds: `max_ticket_lifetime_secs = 36000` (Windows' default MaxTicketAge: set it to
//!   the domain's policy), `clock_skew_secs = 300` (Kerberos' default tolerance),
//!   `window_secs = 3600`; at most 200 000 tickets remembered (the oldest forgotten first).
//! - Benign: the lifetime policy was raised without this setting following it; a KDC that is
//!   not Windows with longer lifetimes (MIT's and Heimdal's defaults are 10 h and 24 h); a
//!   clock jump of the sensor (a VM resumed from a saved state) between two uses.
//! - Gaps: a forged TGT used only within one policy lifetime, or only once, looks like any
//!   other; the ticket's own times are encrypted with the krbtgt key and are not read.
//! - Evidence: the first sighting (issuance or first honoured use) and each late use.

use std::collections::BTreeSet;
use std::net::IpAddr;

use orthrus_model::{Activity, AlertTargets, Severity};
use serde::Deserialize;

use super::presented_tgt::kdc_answer;
use super::tgs_exchange;
use crate::context::local_tgt;
use crate::names::{lists_account, name_list};
use crate::window::Incidents;
use crate::{Alerts, Context, Detection, DetectionMeta, Detector, Finding, Settings};

pub static META: DetectionMeta = DetectionMeta {
    id: "ORT-KRB-007",
    title: "Suspected Golden Ticket usage (time anomaly)",
    mdi: "Suspected Golden Ticket usage (time anomaly) (2022)",
    external_id: 2022,
    cef_app: "Kerberos",
    tactic: "TA0006",
    techniques: &["T1558.001"],
    data_sources: &[
        "Kerberos TGT fingerprints issued (AS-REP, TGS-REP) and presented (TGS-REQ) with the KDC's answer",
    ],
    base_severity: Severity::High,
    escalates_for_sensitive: false,
    config_section: "golden_ticket_lifetime",
    meaning: "The same ticket-granting ticket was used over a longer span than the domain's maximum ticket lifetime (ten hours by default). The KDC never issues such a ticket; forging tools write long lifetimes (mimikatz and impacket write ten years).",
    impact: "A forged ticket gives domain-wide access for as long as the krbtgt key it was made with stays valid.",
    actions: &[
        "Isolate the source computer.",
        "Reset the krbtgt password twice, with replication time between the resets.",
        "Look earlier in this incident for how the krbtgt key was obtained (DCSync, a DC backup, NTDS.dit).",
    ],
};

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GoldenTicketLifetimeConfig {
    /// The domain's maximum lifetime for user tickets (MaxTicketAge), in seconds.
    pub max_ticket_lifetime_secs: u64,
    /// Clock difference tolerated between the KDC and its clients.
    pub clock_skew_secs: u64,
    pub window_secs: u64,
    pub exclude_actors: Vec<String>,
    pub exclude_sources: Vec<IpAddr>,
}

impl Default for GoldenTicketLifetimeConfig {
    fn default() -> Self {
        Self {
            max_ticket_lifetime_secs: 36_000,
            clock_skew_secs: 300,
            window_secs: 3600,
            exclude_actors: Vec::new(),
            exclude_sources: Vec::new(),
        }
    }
}

impl Settings for GoldenTicketLifetimeConfig {
    fn exclude_sources(&self) -> &[IpAddr] {
        &self.exclude_sources
    }

    fn thresholds(&self) -> Vec<(&'static str, String)> {
        vec![
            ("max_ticket_lifetime_secs", self.max_ticket_lifetime_secs.to_string()),
            ("clock_skew_secs", self.clock_skew_secs.to_string()),
            ("window_secs", self.window_secs.to_string()),
        ]
    }
}

impl Detection for GoldenTicketLifetime {
    type Settings = GoldenTicketLifetimeConfig;
    const META: &'static DetectionMeta = &META;

    fn new(settings: &Self::Settings) -> Self {
        let c = settings;
        let secs = |s: u64| i64::try_from(s).unwrap_or(i64::MAX);
        GoldenTicketLifetime {
            lifetime_secs: secs(c.max_ticket_lifetime_secs),
            allowed_secs: secs(c.max_ticket_lifetime_secs.saturating_add(c.clock_skew_secs)),
            exclude_actors: c.exclude_actors.clone(),
            episodes: Incidents::new(c.window_secs),
        }
    }
}

pub struct GoldenTicketLifetime {
    lifetime_secs: i64,
    /// Policy lifetime plus clock skew: how long after its first sighting a TGT may still be
    /// honoured.
    allowed_secs: i64,
    exclude_actors: Vec<String>,
    episodes: Incidents<String>,
}

/// "2 h 7 min", "45 min", "30 s".
fn span(secs: i64) -> String {
    match (secs / 3600, (secs % 3600) / 60) {
        (0, 0) => format!("{secs} s"),
        (0, m) => format!("{m} min"),
        (h, 0) => format!("{h} h"),
        (h, m) => format!("{h} h {m} min"),
    }
}

impl Detector for GoldenTicketLifetime {
    fn observe(&mut self, activity: &Activity, context: &Context, alerts: &mut Alerts<'_>) {
        // A TGS-REQ presenting a local TGT the KDC honoured with a ticket.
        let Some(exchange) = tgs_exchange(activity) else { return };
        let Some(issued) = exchange.issued() else { return };
        let Some(presented) = exchange.request.as_ref().and_then(|r| r.presented_ticket.as_ref()) else {
            return;
        };
        if !local_tgt(presented) {
            return;
        }
        // Since when it is known to live: its issuance (a logon, a renewal, a forwarded TGT) or
        // its first honoured presentation (a ticket never seen before starts living now).
        let Some((first, first_issued)) =
            context.tickets().get(&presented.id).and_then(|t| t.alive_since.as_ref())
        else {
            return;
        };
        if first.time.saturating_add_secs(self.allowed_secs) >= activity.time {
            return;
        }
        let account = format!("{}@{}", issued.cname, issued.crealm);
        if lists_account(&self.exclude_actors, &account) {
            return;
        }
        let age = span((activity.time.as_micros() - first.time.as_micros()) / 1_000_000);
        let since = if *first_issued { "issued" } else { "first honoured" };
        let first_time = first.time;
        let first_provenance = first.provenance.clone();
        let service = exchange.service().unwrap_or("a service").to_owned();
        let key = presented.id.clone();
        let services = self.episodes.named(&key, activity.time, [service.clone()]);
        let source = activity.source_id();
        let summary = format!("TGT of {account} {since} {age} earlier presented for {service}");
        let finding = Finding {
            severity: META.base_severity,
            description: format!(
                "{source} presented a ticket-granting ticket for {account}, {since} at {first_time}, {age} later to \
                 ask for {}, beyond the realm's maximum user-ticket lifetime of {}; {}: a ticket with a forged \
                 lifetime (golden ticket).",
                name_list(services.iter(), 5),
                span(self.lifetime_secs),
                kdc_answer(exchange),
            ),
            source: Finding::source_of(activity, Some(account.clone())),
            targets: AlertTargets {
                accounts: BTreeSet::from([account]),
                services,
                ..AlertTargets::default()
            },
        };
        // The first sighting is evidence too: the ticket already lived then.
        let incident = self.episodes.record_citing(&key, activity, &first_provenance, summary);
        alerts.raise(activity, &key, incident, finding);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::DetectionConfig;
    use crate::testing::extra::extra_alerts;
    use crate::testing::lab::{BENIGN, alerts_for, assert_silent};

    /// The lab KDC's policy while golden_ticket_lifetime was recorded: 1 hour.
    fn lab_policy() -> DetectionConfig {
        DetectionConfig::default().with::<GoldenTicketLifetime>(GoldenTicketLifetimeConfig {
            max_ticket_lifetime_secs: 3600,
            ..GoldenTicketLifetimeConfig::default()
        })
    }

    #[test]
    fn fires_when_a_forged_tgt_is_honoured_past_the_policy_lifetime() {
        // The ticketer TGT for Administrator is first honoured at 10.99.0.21 and again 67
        // minutes later under a one-hour policy; alice's renewed TGT at 10.99.0.20 (used 27
        // minutes after its renewal) raises nothing.
        let alerts = extra_alerts("golden_ticket_lifetime", META.id, &lab_policy());
        assert_eq!(alerts.len(), 1, "{alerts:#?}");
        let alert = &alerts[0];
        assert_eq!(alert.source.ip, Some("10.99.0.21".parse().unwrap()));
        assert_eq!(alert.source.account.as_deref(), Some("Administrator@LAB.TEST"));
        assert_eq!(alert.severity, Severity::High);
        assert!(alert.targets.services.contains("ldap/dc1.lab.test"), "{:?}", alert.targets);
        assert!(
            alert.description.contains("first honoured at")
                && alert.description.contains("lifetime of 1 h")
                && alert.description.contains("the KDC issued the ticket"),
            "{}",
            alert.description
        );
        // Evidence reaches back to the first honoured use.
        assert!(alert.evidence.len() >= 2, "{:?}", alert.evidence);
        // carol's TGT, issued at the start, presented after it expired (benign_expired_tgt,
        // recorded next): the KDC refuses it, and a refused use is not judged.
        let together = crate::testing::extra::extra_alerts_together(
            &["golden_ticket_lifetime", "benign_expired_tgt"],
            META.id,
            &lab_policy(),
        );
        assert_eq!(together.len(), 1, "{together:#?}");
        assert_eq!(together[0].source.account.as_deref(), Some("Administrator@LAB.TEST"));
    }

    #[test]
    fn renewal_starts_a_new_life_and_the_policy_decides() {
        // Under Windows' default of 10 hours the same 67 minutes are ordinary.
        assert!(extra_alerts("golden_ticket_lifetime", META.id, &DetectionConfig::default()).is_empty());
        // Under a 20-minute policy alice's renewed TGT, issued 27 minutes before its use, is
        // judged from its renewal — not from her logon 67 minutes earlier.
        let mut config = lab_policy();
        config.settings_mut::<GoldenTicketLifetime>().max_ticket_lifetime_secs = 1200;
        let alerts = extra_alerts("golden_ticket_lifetime", META.id, &config);
        let renewed = alerts.iter().any(|a| {
            a.source.account.as_deref() == Some("alice@LAB.TEST")
                && a.description.contains(", issued at")
                && a.description.contains("27 min later")
        });
        assert!(renewed, "{alerts:#?}");
        // An excluded account is not alerted on.
        let mut config = lab_policy();
        config.settings_mut::<GoldenTicketLifetime>().exclude_actors = vec!["Administrator".into()];
        assert!(extra_alerts("golden_ticket_lifetime", META.id, &config).is_empty());
    }

    #[test]
    fn silent_on_other_tickets_and_benign_traffic() {
        for capture in ["pass_the_ticket", "overpass_the_hash", "golden_ticket"] {
            assert!(alerts_for(capture, META.id, &DetectionConfig::default()).is_empty(), "{capture}");
        }
        for capture in ["golden_ticket_rc4", "golden_ticket_kvno", "golden_ticket_ghost"] {
            assert!(extra_alerts(capture, META.id, &lab_policy()).is_empty(), "{capture}");
        }
        assert_silent(BENIGN, META.id);
        crate::testing::logs::assert_silent(META.id);
    }
}
