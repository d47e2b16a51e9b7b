//! ORT-KRB-010 — Honeytoken authentication.
//!
//! - Attack: decoy accounts are left unused on purpose (and often made attractive: an
//!   "adm_" name, an SPN, an old password); any authentication with one means someone found
//!   and tried it — a password spray, a roast cracked, a dumped hash replayed.
//! - ATT&CK: T1078.002 (Domain Accounts), T1087.002. MDI: Honeytoken authentication activity
//!   (2014).
//! - Data: any authentication naming the account: Kerberos AS/TGS (wire, or 4768/4769/4771),
//!   NTLM (wire, or 4776 and Samba's audit), LDAP simple binds, logons (4624/4625) and explicit
//!   credentials (4648).
//! - Logic: a honeytoken authenticates or tries to, successfully or not, or someone asks for a
//!   service ticket to one of its SPNs (authentication *to* the decoy: a roast of it).
//!   Honeytokens are named in `[honeytoken] accounts` or `[entities] honeytokens`; with a
//!   directory snapshot any of the account's names (UPN, `DOMAIN\name`, SID, SPN) match,
//!   without one the bare sAMAccountName does. One alert per account and quiet gap
//!   `window_secs`; High once an attempt succeeded.
//! - Thresholds: `window_secs = 3600`; no list, no alert (the detection is inert until
//!   honeytokens are named).
//! - Benign: the owner testing the decoy; exclude the source (`exclude_sources`).
//! - Evidence: every attempt: method, source, outcome.

use std::collections::BTreeSet;
use std::net::IpAddr;

use orthrus_model::{Activity, ActivityKind, AlertSource, AlertTargets, AuthOutcome, KdcOutcome, Severity};
use serde::Deserialize;

use crate::window::Incidents;
use crate::{Alerts, Context, Detection, DetectionMeta, Detector, Finding, Settings};

pub static META: DetectionMeta = DetectionMeta {
    id: "ORT-KRB-010",
    title: "Honeytoken authentication activity",
    mdi: "Honeytoken authentication activity (2014)",
    external_id: 2014,
    cef_app: "Kerberos",
    tactic: "TA0006",
    techniques: &["T1078.002", "T1087.002"],
    data_sources: &[
        "Kerberos AS/TGS",
        "NTLM",
        "LDAP simple bind",
        "events 4768/4769/4771/4776/4624/4625/4648",
    ],
    base_severity: Severity::Medium,
    escalates_for_sensitive: true,
    config_section: "honeytoken",
    meaning: "A honeytoken account authenticated. Honeytokens exist only to be found by attackers; no one has a reason to use them.",
    impact: "Someone is exploring the domain with stolen or guessed credentials, or harvested the honeytoken's planted password.",
    actions: &[
        "Treat the source computer as compromised and isolate it.",
        "Find where the honeytoken's credentials were exposed (scripts, shares, descriptions) to learn how far the attacker got.",
        "Review the other alerts of this incident for the attacker's next steps.",
    ],
};

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HoneytokenConfig {
    /// The decoy accounts (sAMAccountName).
    pub accounts: Vec<String>,
    pub window_secs: u64,
    pub exclude_sources: Vec<IpAddr>,
}

impl Default for HoneytokenConfig {
    fn default() -> Self {
        Self { accounts: Vec::new(), window_secs: 3600, exclude_sources: Vec::new() }
    }
}

impl Settings for HoneytokenConfig {
    fn exclude_sources(&self) -> &[IpAddr] {
        &self.exclude_sources
    }

    fn thresholds(&self) -> Vec<(&'static str, String)> {
        vec![("window_secs", self.window_secs.to_string())]
    }

    fn honeytokens(&self) -> &[String] {
        &self.accounts
    }
}

impl Detection for Honeytoken {
    type Settings = HoneytokenConfig;
    const META: &'static DetectionMeta = &META;

    fn new(settings: &Self::Settings) -> Self {
        let c = settings;
        Honeytoken { incidents: Incidents::new(c.window_secs), methods: Default::default() }
    }
}

pub struct Honeytoken {
    incidents: Incidents<String>,
    methods: std::collections::HashMap<String, (BTreeSet<String>, bool)>,
}

/// The account an activity authenticates, how, and whether it succeeded (None: unknown).
fn authentication(activity: &Activity) -> Option<(String, &'static str, Option<bool>)> {
    Some(match &activity.kind {
        ActivityKind::TgtRequested(ex) => (
            ex.client()?.to_owned(),
            "Kerberos TGT request",
            Some(matches!(ex.outcome, KdcOutcome::Issued(_))),
        ),
        ActivityKind::ServiceTicketRequested(ex) => (
            ex.client()?.to_owned(),
            "Kerberos service ticket request",
            Some(matches!(ex.outcome, KdcOutcome::Issued(_))),
        ),
        ActivityKind::NtlmAuthenticated(auth) => {
            (auth.user.clone(), "NTLM authentication", outcome(auth.outcome))
        }
        ActivityKind::LdapBound(bind) => (bind.name.clone(), "LDAP bind", outcome(bind.outcome)),
        ActivityKind::LoggedOn(logon) => (logon.account.name.clone(), "logon", outcome(logon.outcome)),
        ActivityKind::ExplicitCredentialsUsed(logon) => {
            (logon.account.name.clone(), "explicit credentials use", Some(true))
        }
        _ => return None,
    })
}

fn outcome(outcome: AuthOutcome) -> Option<bool> {
    match outcome {
        AuthOutcome::Succeeded => Some(true),
        AuthOutcome::Failed { .. } => Some(false),
        AuthOutcome::Unknown => None,
    }
}

/// A service ticket asked for one of a honeytoken's SPNs: authentication to the decoy.
fn roasted(context: &Context, activity: &Activity) -> Option<(String, &'static str, Option<bool>)> {
    let ActivityKind::ServiceTicketRequested(exchange) = &activity.kind else { return None };
    let sname = exchange.request.as_ref()?.sname.as_deref()?;
    let name = context.honeytokens().owning(sname)?;
    Some((
        name,
        "Kerberos service ticket for its SPN",
        Some(matches!(exchange.outcome, KdcOutcome::Issued(_))),
    ))
}

impl Detector for Honeytoken {
    fn observe(&mut self, activity: &Activity, context: &Context, alerts: &mut Alerts<'_>) {
        if context.honeytokens().is_empty() {
            return;
        }
        let Some((name, method, succeeded)) = authentication(activity)
            .filter(|(name, ..)| context.honeytokens().named(name).is_some())
            .or_else(|| roasted(context, activity))
        else {
            return;
        };
        let Some(key) = context.honeytokens().named(&name) else { return };
        let source = activity.source_id();
        let result = match succeeded {
            Some(true) => "succeeded",
            Some(false) => "failed",
            None => "outcome unknown",
        };
        let incident = self.incidents.at(&key, activity.time);
        if incident.count == 0 {
            self.methods.remove(&key);
        }
        incident.record(
            activity.time,
            &activity.provenance,
            format!("{method} as {name} from {source}: {result}"),
        );
        incident.alerted = true;
        let (methods, any_success) = self.methods.entry(key.clone()).or_default();
        methods.insert(method.to_owned());
        *any_success |= succeeded == Some(true);
        let severity = if *any_success { Severity::High } else { META.base_severity };
        let via = activity.destination_host.as_deref().map(|h| format!(" via {h}")).unwrap_or_default();
        let description = format!(
            "The honeytoken account {key} was used from {source}{via}: {} ({} attempt{}{}).",
            methods.iter().cloned().collect::<Vec<_>>().join(", "),
            incident.count,
            if incident.count == 1 { "" } else { "s" },
            if *any_success { ", at least one successful" } else { ", all failed" },
        );
        let targets = AlertTargets { accounts: BTreeSet::from([key.clone()]), ..AlertTargets::default() };
        let source_entity = AlertSource {
            ip: source.ip(),
            computer: activity.source_host.as_deref().map(str::to_owned),
            account: Some(key.clone()),
            resolution: None,
        };
        alerts.raise(
            activity,
            &key,
            incident,
            Finding { severity, description, source: source_entity, targets },
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::DetectionConfig;
    use crate::testing::lab::{BENIGN, alerts_for};
    use crate::testing::logs::{audit_alerts, corpus_alerts};

    fn config() -> DetectionConfig {
        let mut config = DetectionConfig::default();
        config.settings_mut::<Honeytoken>().accounts = vec!["adm_legacy".into()];
        config
    }

    #[test]
    fn fires_on_lab_honeytoken_use_on_the_wire_and_in_samba_audit() {
        let wire = alerts_for("honeytoken_auth", META.id, &config());
        assert_eq!(wire.len(), 1, "{wire:#?}");
        assert_eq!(wire[0].source.ip, Some("10.99.0.21".parse().unwrap()));
        assert_eq!(wire[0].severity, Severity::High);
        assert!(
            wire[0].description.contains("NTLM") && wire[0].description.contains("Kerberos"),
            "{}",
            wire[0].description
        );
        let audit = audit_alerts("honeytoken_auth", META.id, &config());
        assert_eq!(audit.len(), 1, "{audit:#?}");
        assert_eq!(audit[0].count, 3, "two AS exchanges and one NTLM logon");
    }

    #[test]
    fn inert_without_a_list_and_silent_on_benign_traffic() {
        assert!(alerts_for("honeytoken_auth", META.id, &DetectionConfig::default()).is_empty());
        for capture in BENIGN {
            assert!(alerts_for(capture, META.id, &config()).is_empty(), "{capture}");
        }
        let benign = corpus_alerts(crate::testing::logs::BENIGN, META.id, &config());
        assert!(benign.is_empty());
    }
}
