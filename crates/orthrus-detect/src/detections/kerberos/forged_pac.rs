//! ORT-KRB-006 — Forged authorization data (MS14-068 / MS11-013 style PAC forgery).
//!
//! - Attack: a domain user asks for a TGT *without* a PAC (PA-PAC-REQUEST include-pac =
//!   FALSE), builds a PAC of its own (Domain Admins, Enterprise Admins…) and sends it in the
//!   `enc-authorization-data` of a TGS-REQ presenting that TGT; an unpatched KDC copies the
//!   forged PAC into the ticket it issues (pykek `ms14-068.py`, impacket `goldenPac`).
//! - ATT&CK: T1558.001 (Golden Ticket), T1068. MDI: Suspected Golden Ticket usage (forged
//!   authorization data) (2013).
//! - Data: NET only (Kerberos AS and TGS exchanges): the AS-REQ's PA-PAC-REQUEST, the AS-REP's
//!   ticket (its fingerprint), the TGS-REQ's presented ticket and whether its body carries
//!   `enc-authorization-data`, and the KDC's answer. The DC's events do not record either.
//! - Logic: a TGS-REQ with `enc-authorization-data` that presents a TGT issued to a no-PAC
//!   AS-REQ (matched by the ticket's fingerprint, from any address), or that comes from an
//!   address that made a no-PAC AS-REQ within `tgt_lifetime_secs` (the AS-REP was not seen).
//!   The outcome is reported: a ticket issued (an unpatched KDC may have honoured the PAC),
//!   or the KDC's error (patched KDCs refuse: KRB_AP_ERR_MODIFIED, KRB_AP_ERR_INAPP_CKSUM…).
//!   One alert per source and account, quiet gap `window_secs` (config `[forged_pac]`).
//! - Thresholds: `window_secs = 3600`, `tgt_lifetime_secs = 36000` (AD's default maximum
//!   lifetime for a user ticket, 10 hours).
//! - Benign: non-Windows clients and services that add authorization data of their own do so
//!   with TGTs that carry a PAC; clients that ask for no PAC (some Unix stacks) then send no
//!   authorization data — neither alone raises this. Exclude a tool by address or account.
//! - Evidence: the no-PAC AS exchange, each TGS-REQ with authorization data (request and
//!   answer frames), the service asked for and the KDC's answer.

use std::collections::HashMap;
use std::net::IpAddr;

use orthrus_model::{Activity, AlertTargets, KdcOutcome, KerberosExchange, Severity, SourceId, Timestamp};
use serde::Deserialize;

use super::{as_exchange, tgs_exchange};
use crate::window::Incidents;
use crate::{Alerts, Context, Detection, DetectionMeta, Detector, Finding, Settings};

pub static META: DetectionMeta = DetectionMeta {
    id: "ORT-KRB-006",
    title: "Suspected Golden Ticket usage (forged authorization data)",
    mdi: "Suspected Golden Ticket usage (forged authorization data) (2013)",
    external_id: 2013,
    cef_app: "Kerberos",
    tactic: "TA0004",
    techniques: &["T1558.001", "T1068"],
    data_sources: &["Kerberos AS-REQ PA-PAC-REQUEST + TGS-REQ enc-authorization-data + KDC answer"],
    base_severity: Severity::High,
    escalates_for_sensitive: false,
    config_section: "forged_pac",
    meaning: "A user asked for a ticket-granting ticket without authorization data (no PAC) and then sent a PAC of its own in a service ticket request, as the MS14-068 exploits (pykek, impacket goldenPac) do: an unpatched KDC copies the forged group memberships into the ticket it issues.",
    impact: "The bearer claims group memberships (Domain Admins) the account does not have and gets the access those groups give.",
    actions: &[
        "Isolate the source computer.",
        "Check that every DC has the MS14-068 update (KB3011780) and the PAC validation updates of November 2021 and later.",
        "Review what the account accessed with the ticket, and reset its password.",
    ],
};

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ForgedPacConfig {
    pub window_secs: u64,
    /// How long a no-PAC AS-REQ (and the TGT it got) is remembered.
    pub tgt_lifetime_secs: u64,
    /// Accounts never alerted on (compared case-insensitively, bare name).
    pub exclude_actors: Vec<String>,
    pub exclude_sources: Vec<IpAddr>,
}

impl Default for ForgedPacConfig {
    fn default() -> Self {
        Self {
            window_secs: 3600,
            tgt_lifetime_secs: 36_000,
            exclude_actors: Vec::new(),
            exclude_sources: Vec::new(),
        }
    }
}

impl Settings for ForgedPacConfig {
    fn exclude_sources(&self) -> &[IpAddr] {
        &self.exclude_sources
    }

    fn thresholds(&self) -> Vec<(&'static str, String)> {
        vec![
            ("window_secs", self.window_secs.to_string()),
            ("tgt_lifetime_secs", self.tgt_lifetime_secs.to_string()),
        ]
    }
}

/// Bound on remembered no-PAC requests and tickets; the oldest go first beyond it.
const MAX_REMEMBERED: usize = 65_536;

impl Detection for ForgedPac {
    type Settings = ForgedPacConfig;
    const META: &'static DetectionMeta = &META;

    fn new(settings: &Self::Settings) -> Self {
        ForgedPac {
            episodes: Incidents::new(settings.window_secs),
            config: settings.clone(),
            tickets: HashMap::new(),
            sources: HashMap::new(),
        }
    }
}

/// A TGT asked without a PAC: when, and for whom (`name@REALM`).
#[derive(Clone)]
struct NoPacRequest {
    time: Timestamp,
    client: String,
}

pub struct ForgedPac {
    episodes: Incidents<String>,
    config: ForgedPacConfig,
    /// Fingerprints of TGTs issued to no-PAC AS-REQs.
    tickets: HashMap<String, NoPacRequest>,
    /// The last no-PAC AS-REQ of each source.
    sources: HashMap<SourceId, NoPacRequest>,
}

impl ForgedPac {
    fn remember_no_pac(&mut self, activity: &Activity, exchange: &KerberosExchange) {
        let Some(request) = &exchange.request else { return };
        if request.pac_request != Some(false) {
            return;
        }
        let client = match (exchange.client(), exchange.client_realm()) {
            (Some(name), Some(realm)) => format!("{name}@{realm}"),
            (Some(name), None) => name.to_owned(),
            _ => "an unknown account".to_owned(),
        };
        let seen = NoPacRequest { time: activity.time, client };
        if let KdcOutcome::Issued(issued) = &exchange.outcome {
            self.tickets.insert(issued.ticket.id.clone(), seen.clone());
        }
        self.sources.insert(activity.source_id(), seen);
        let oldest = activity
            .time
            .saturating_add_secs(-i64::try_from(self.config.tgt_lifetime_secs).unwrap_or(i64::MAX));
        forget_before(&mut self.tickets, oldest);
        forget_before(&mut self.sources, oldest);
    }

    /// The no-PAC request the TGS-REQ's ticket or source goes back to, if recent enough.
    fn no_pac_origin(
        &self,
        activity: &Activity,
        exchange: &KerberosExchange,
    ) -> Option<(NoPacRequest, &'static str)> {
        let lifetime = i64::try_from(self.config.tgt_lifetime_secs).unwrap_or(i64::MAX);
        let recent = |r: &&NoPacRequest| r.time.saturating_add_secs(lifetime) >= activity.time;
        let presented = exchange.request.as_ref()?.presented_ticket.as_ref();
        if let Some(found) = presented.and_then(|t| self.tickets.get(&t.id)).filter(recent) {
            return Some((found.clone(), "a TGT issued without a PAC"));
        }
        self.sources
            .get(&activity.source_id())
            .filter(recent)
            .map(|found| (found.clone(), "after asking for a TGT without a PAC"))
    }
}

/// Drops entries older than `oldest`, then the oldest ones beyond `MAX_REMEMBERED`.
fn forget_before<K: Clone + Eq + std::hash::Hash>(map: &mut HashMap<K, NoPacRequest>, oldest: Timestamp) {
    map.retain(|_, r| r.time >= oldest);
    if map.len() > MAX_REMEMBERED {
        let mut times: Vec<Timestamp> = map.values().map(|r| r.time).collect();
        times.sort_unstable();
        let cut = times.get(map.len().saturating_sub(MAX_REMEMBERED)).copied().unwrap_or(oldest);
        map.retain(|_, r| r.time >= cut);
    }
}

impl Detector for ForgedPac {
    fn observe(&mut self, activity: &Activity, _context: &Context, alerts: &mut Alerts<'_>) {
        if let Some(exchange) = as_exchange(activity) {
            self.remember_no_pac(activity, exchange);
            return;
        }
        let Some(exchange) = tgs_exchange(activity) else { return };
        if !exchange.request.as_ref().is_some_and(|r| r.enc_authorization_data) {
            return;
        }
        let Some((origin, how)) = self.no_pac_origin(activity, exchange) else { return };
        let account = origin.client.split('@').next().unwrap_or(&origin.client).to_owned();
        if self.config.exclude_actors.iter().any(|a| a.eq_ignore_ascii_case(&account)) {
            return;
        }
        let service = exchange.service().unwrap_or("a service").to_owned();
        let outcome = match &exchange.outcome {
            KdcOutcome::Issued(_) => {
                "the KDC issued a ticket (an unpatched KDC copies the forged PAC into it)".to_owned()
            }
            KdcOutcome::Failed(failure) => format!("the KDC refused it ({})", failure.code),
            KdcOutcome::NoReply => "the KDC did not answer".to_owned(),
        };
        let source = activity.source_id();
        let key = format!("{source} {}", origin.client.to_lowercase());
        let services = self.episodes.named(&key, activity.time, [service.clone()]);
        let summary = format!(
            "TGS-REQ for {service} with enc-authorization-data, {how} for {}: {outcome}",
            origin.client
        );
        let finding = Finding {
            severity: META.base_severity,
            description: format!(
                "{source} sent forged authorization data (a PAC of its own) for {} in a TGS-REQ for {}, {how}: {outcome}.",
                origin.client,
                services.iter().cloned().collect::<Vec<_>>().join(", ")
            ),
            source: Finding::source_of(activity, Some(account)),
            targets: AlertTargets { services, ..AlertTargets::default() },
        };
        let incident = self.episodes.record(&key, activity, summary);
        alerts.raise(activity, &key, incident, finding);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::DetectionConfig;
    use crate::testing::extra::{extra_alerts, lab_alerts_with};
    use crate::testing::lab::BENIGN;

    #[test]
    fn fires_on_goldenpac_and_says_the_kdc_refused() {
        let alerts = extra_alerts("forged_pac", META.id, &DetectionConfig::default());
        assert_eq!(alerts.len(), 1, "{alerts:#?}");
        let alert = &alerts[0];
        assert_eq!(alert.severity, Severity::High);
        assert_eq!(alert.source.account.as_deref(), Some("bob"));
        assert_eq!(alert.source.ip, Some("10.99.0.21".parse().unwrap()));
        assert!(alert.description.contains("a TGT issued without a PAC"), "{}", alert.description);
        assert!(alert.description.contains("KRB_AP_ERR_INAPP_CKSUM"), "{}", alert.description);
        assert_eq!(alert.targets.services.iter().collect::<Vec<_>>(), ["krbtgt/LAB"]);
        assert!(alert.evidence.len() >= 2, "{:#?}", alert.evidence);
    }

    #[test]
    fn the_excluded_account_raises_nothing() {
        let config = DetectionConfig::default()
            .with::<ForgedPac>(ForgedPacConfig { exclude_actors: vec!["BOB".into()], ..Default::default() });
        assert!(extra_alerts("forged_pac", META.id, &config).is_empty());
    }

    #[test]
    fn silent_on_a_no_pac_client_and_on_other_ticket_attacks() {
        assert!(extra_alerts("benign_no_pac_client", META.id, &DetectionConfig::default()).is_empty());
        let config = DetectionConfig::default();
        let attacks = ["golden_ticket", "pass_the_ticket", "overpass_the_hash", "kerberoast", "asrep_roast"];
        assert!(lab_alerts_with(&attacks, META.id, &config).is_empty());
        assert!(lab_alerts_with(BENIGN, META.id, &config).is_empty());
        assert!(extra_alerts("golden_ticket_ghost", META.id, &config).is_empty());
    }

    #[test]
    fn a_no_pac_request_is_forgotten_after_the_tgt_lifetime() {
        // The same recording with a lifetime shorter than the gap between the AS-REP and
        // the TGS-REQ (a fraction of a second): nothing links them any more.
        let config = DetectionConfig::default()
            .with::<ForgedPac>(ForgedPacConfig { tgt_lifetime_secs: 0, ..Default::default() });
        assert!(extra_alerts("forged_pac", META.id, &config).is_empty());
    }
}
