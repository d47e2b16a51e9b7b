//! ORT-KRB-012 — Pass-the-ticket: one TGT used from two computers.
//!
//! - Attack: a TGT stolen from a computer's memory or ticket cache (mimikatz
//!   `sekurlsa::tickets /export`, Rubeus `dump`, a copied ccache) is replayed from another
//!   host (`kerberos::ptt`, Rubeus `ptt`, impacket with `KRB5CCNAME`) to ask for service
//!   tickets as its owner — no password, no hash, no AS exchange from the attacker's host.
//! - ATT&CK: T1550.003 (Pass the Ticket). MDI: Suspected identity theft (pass-the-ticket)
//!   (2018).
//! - Data: NET: the TGT's fingerprint (the hash of its encrypted part, which a replay cannot
//!   change) in the AS-REP that issued it and in the PA-TGS-REQ of every TGS-REQ presenting
//!   it, with each one's source address; the account from the AS-REP or the TGS-REP.
//! - Logic: a TGT first seen with one address (issued to it, or first presented by it) and
//!   then presented from another address within `max_ticket_age_secs` of its first sighting;
//!   High. One alert per ticket and new address (a quiet gap of `window_secs` starts a new
//!   one), listing the services asked for with it. The engine's name resolution names both
//!   computers in the alert when it knows them.
//! - Thresholds: `max_ticket_age_secs = 36000` (Windows' default maximum user ticket
//!   lifetime, 10 h), `window_secs = 3600` (config `[pass_the_ticket]`); at most 200 000
//!   tickets remembered (the oldest forgotten first).
//! - Benign: a computer whose address changed while its TGT lived (DHCP, moving between
//!   wired and Wi-Fi, VPN), NAT pools, delegation servers and applications that forward
//!   users' TGTs (unconstrained delegation: exclude the server's address with
//!   `exclude_sources`, or the account with `exclude_actors`).
//! - Gaps: service tickets replayed to other servers (AP-REQ only) are not followed: the
//!   sensor beside the DC sees only those presented to the DC.
//! - Evidence: the issuance (or first use) and each use from the new address.

use std::collections::BTreeSet;
use std::net::IpAddr;

use orthrus_model::{Activity, AlertTargets, KdcOutcome, Severity};
use serde::Deserialize;

use super::tgs_exchange;
use crate::names::{account_key, name_list};
use crate::window::Incidents;
use crate::{Alerts, Context, Detection, DetectionMeta, Detector, Finding, Settings};

pub static META: DetectionMeta = DetectionMeta {
    id: "ORT-KRB-012",
    title: "Suspected identity theft (pass-the-ticket)",
    mdi: "Suspected identity theft (pass-the-ticket) (2018)",
    external_id: 2018,
    cef_app: "Kerberos",
    tactic: "TA0008",
    techniques: &["T1550.003"],
    data_sources: &["Kerberos AS-REP and TGS-REQ ticket fingerprints with their source addresses"],
    base_severity: Severity::High,
    escalates_for_sensitive: false,
    config_section: "pass_the_ticket",
    meaning: "The same ticket-granting ticket was used from two computers. Tickets are bound to the session that got them; a second computer using one was handed a stolen ticket (pass-the-ticket).",
    impact: "The attacker acts as the ticket's owner, with all its access, until the ticket expires.",
    actions: &[
        "Confirm the two addresses are not the same computer (VPN, NAT, a changed address).",
        "Isolate the computer that used the ticket second.",
        "Reset the account's password and purge its tickets (klist purge) on the computer it was stolen from; investigate that computer for credential dumping.",
    ],
};

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PassTheTicketConfig {
    /// How long after its first sighting a TGT is followed.
    pub max_ticket_age_secs: u64,
    pub window_secs: u64,
    pub exclude_actors: Vec<String>,
    pub exclude_sources: Vec<IpAddr>,
}

impl Default for PassTheTicketConfig {
    fn default() -> Self {
        Self {
            max_ticket_age_secs: 36_000,
            window_secs: 3600,
            exclude_actors: Vec::new(),
            exclude_sources: Vec::new(),
        }
    }
}

impl Settings for PassTheTicketConfig {
    fn exclude_sources(&self) -> &[IpAddr] {
        &self.exclude_sources
    }

    fn thresholds(&self) -> Vec<(&'static str, String)> {
        vec![
            ("max_ticket_age_secs", self.max_ticket_age_secs.to_string()),
            ("window_secs", self.window_secs.to_string()),
        ]
    }
}

impl Detection for PassTheTicket {
    type Settings = PassTheTicketConfig;
    const META: &'static DetectionMeta = &META;

    fn new(settings: &Self::Settings) -> Self {
        let c = settings;
        PassTheTicket {
            max_age_secs: i64::try_from(c.max_ticket_age_secs).unwrap_or(i64::MAX),
            excluded_actors: c.exclude_actors.iter().map(|a| account_key(a)).collect(),
            episodes: Incidents::new(c.window_secs),
        }
    }
}

pub struct PassTheTicket {
    max_age_secs: i64,
    excluded_actors: Vec<String>,
    episodes: Incidents<String>,
}

impl Detector for PassTheTicket {
    fn observe(&mut self, activity: &Activity, context: &Context, alerts: &mut Alerts<'_>) {
        let Some(address) = activity.source_ip() else { return };
        let Some(exchange) = tgs_exchange(activity) else { return };
        let Some(presented) = exchange.request.as_ref().and_then(|r| r.presented_ticket.as_ref()) else {
            return;
        };
        if !presented.sname.to_ascii_lowercase().starts_with("krbtgt/") {
            return;
        }
        let owner = match &exchange.outcome {
            KdcOutcome::Issued(issued) => Some(format!("{}@{}", issued.cname, issued.crealm)),
            _ => None,
        };
        // Its first sighting: issued to an address, or first presented from one (a ticket never
        // seen before is first seen now, and judged from its next presentation).
        let Some(first) = context.tickets().get(&presented.id).and_then(|t| t.first_seen.as_ref()) else {
            return;
        };
        let Some(origin) = first.address else { return };
        if origin == address || first.time.saturating_add_secs(self.max_age_secs) < activity.time {
            return;
        }
        let account = first.account.clone().or(owner).unwrap_or_else(|| "an unknown account".to_owned());
        if self.excluded_actors.contains(&account_key(account.split('@').next().unwrap_or(&account))) {
            return;
        }
        let service = exchange.service().unwrap_or("a service").to_owned();
        let key = format!("{} {address}", presented.id);
        let first_provenance = first.provenance.clone();
        let services = self.episodes.named(&key, activity.time, [service.clone()]);
        let summary =
            format!("TGT of {account} (first seen from {origin}) presented from {address} for {service}");
        let finding = Finding {
            severity: META.base_severity,
            description: format!(
                "{account}'s Kerberos ticket-granting ticket, first seen with {origin}, was used from \
                 {address} to ask for {}: the same ticket on two computers (pass-the-ticket).",
                name_list(services.iter(), 5),
            ),
            source: Finding::source_of(activity, Some(account.clone())),
            targets: AlertTargets {
                accounts: BTreeSet::from([account]),
                services: services.iter().cloned().collect(),
                ..AlertTargets::default()
            },
        };
        // The first sighting is evidence too: where the ticket came from.
        let incident = self.episodes.record_citing(&key, activity, &first_provenance, summary);
        alerts.raise(activity, &key, incident, finding);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::DetectionConfig;
    use crate::testing::lab::{BENIGN, alerts_for, assert_silent};

    #[test]
    fn fires_when_alices_tgt_is_replayed_from_another_host_in_the_lab() {
        // alice logs on at 10.99.0.20; her ccache replayed from 10.99.0.21 asks for
        // ldap/, host/ and krbtgt/ tickets.
        let alerts = alerts_for("pass_the_ticket", META.id, &DetectionConfig::default());
        assert_eq!(alerts.len(), 1, "{alerts:#?}");
        let alert = &alerts[0];
        assert_eq!(alert.source.ip, Some("10.99.0.21".parse().unwrap()));
        assert_eq!(alert.source.account.as_deref(), Some("alice@LAB.TEST"));
        assert_eq!(alert.severity, Severity::High);
        assert_eq!(alert.count, 3, "three TGS-REQs from the new address");
        assert!(alert.targets.services.contains("ldap/dc1.lab.test"), "{:?}", alert.targets);
        assert!(alert.description.contains("first seen with 10.99.0.20"), "{}", alert.description);
        // Evidence reaches back to the AS exchange that issued the ticket at 10.99.0.20.
        let first_frames: Vec<u64> = alert.evidence.iter().filter_map(|e| e.at.frame_number()).collect();
        assert!(first_frames.len() >= 4, "{first_frames:?}");
    }

    #[test]
    fn silent_past_the_ticket_age_or_for_an_excluded_account() {
        let mut config = DetectionConfig::default();
        config.settings_mut::<PassTheTicket>().exclude_actors = vec!["alice".into()];
        assert!(alerts_for("pass_the_ticket", META.id, &config).is_empty());
        let mut config = DetectionConfig::default();
        config.settings_mut::<PassTheTicket>().max_ticket_age_secs = 0;
        assert!(alerts_for("pass_the_ticket", META.id, &config).is_empty());
    }

    #[test]
    fn silent_on_benign_captures_and_logs() {
        // Every benign lab capture, the attacks on one host (kerberoasting, golden ticket),
        // the benign corpus logs.
        assert_silent(BENIGN, META.id);
        assert_silent(&["kerberoast", "golden_ticket", "overpass_the_hash"], META.id);
        crate::testing::logs::assert_silent(META.id);
    }
}
