//! ORT-KRB-013 — sAMAccountName spoofing (noPac, CVE-2021-42278 / CVE-2021-42287).
//!
//! - Attack: with MachineAccountQuota, any user creates a computer account, renames it to a
//!   DC's name without the trailing `$`, gets a TGT for it, renames it back, and asks for a
//!   service ticket with S4U2self: the KDC, not finding the name, appends `$` and issues a
//!   ticket as the DC.
//! - ATT&CK: T1068 (Exploitation for Privilege Escalation), T1078.002. MDI: Suspected
//!   sAMAccountName spoofing (2419).
//! - Data: event 4781 (account renamed), 4742 with a SAM Account Name change, 5136 on
//!   `sAMAccountName` of a computer object; then the tickets: a TGT (4768, or an AS exchange
//!   on the wire) and service tickets (4769, TGS) for a client named like a domain controller
//!   without its `$`.
//! - Logic: a computer account (old name ending in `$`) renamed to a name without `$`. High
//!   when the new name is a domain controller's (configured, or learned from its KDC events).
//!   A ticket asked for as a known DC's name without the `$` is the attack's next step (no
//!   account is named so otherwise: Windows gives every computer account its `$`; a refused
//!   request, such as a DC's name typed at a logon prompt, is not judged), alerted
//!   as well, in the same incident as the rename. One alert per name taken and quiet gap
//!   `window_secs` (config `[samaccountname_spoofing]`).
//! - Benign: none known: Windows never renames computers that way.
//! - Evidence: actor, old and new names.

use orthrus_model::{AccountAction, Activity, ActivityKind, AlertTargets, KerberosExchange, Severity};

use crate::EventRuleConfig;
use crate::names::logged_on;
use crate::window::Incidents;
use crate::{Alerts, Context, Detection, DetectionMeta, Detector, Finding};

pub static META: DetectionMeta = DetectionMeta {
    id: "ORT-KRB-013",
    title: "Suspected sAMAccountName spoofing",
    mdi: "Suspected sAMAccountName spoofing (2419)",
    external_id: 2419,
    cef_app: "Kerberos",
    tactic: "TA0004",
    techniques: &["T1068", "T1078.002"],
    data_sources: &[
        "event 4781 (account renamed), 4742 (SAM account name changed)",
        "tickets for a DC's name without its $ (4768, 4769, AS and TGS exchanges)",
    ],
    base_severity: Severity::High,
    escalates_for_sensitive: false,
    config_section: "samaccountname_spoofing",
    meaning: "A computer account was renamed to a DC's name without the trailing $ and then asked for tickets (CVE-2021-42278 and CVE-2021-42287, noPac). The KDC can then issue a ticket for the DC's own account.",
    impact: "Any domain user can become a domain administrator on unpatched DCs.",
    actions: &[
        "Check that every DC has the November 2021 updates (KB5008380) and enforcement turned on.",
        "Isolate the source computer and disable the renamed computer account.",
        "Set ms-DS-MachineAccountQuota to 0 so ordinary users cannot create computer accounts.",
        "Treat the domain as compromised if the ticket was issued: look for DCSync after it.",
    ],
};

impl Detection for SamAccountNameSpoofing {
    type Settings = EventRuleConfig;
    const META: &'static DetectionMeta = &META;

    fn new(settings: &Self::Settings) -> Self {
        SamAccountNameSpoofing {
            incidents: Incidents::new(settings.window_secs),
            config: settings.clone(),
            taken: std::collections::HashMap::new(),
        }
    }
}

pub struct SamAccountNameSpoofing {
    config: EventRuleConfig,
    incidents: Incidents<String>,
    /// Names computer accounts were renamed to (lower case) → their incident's key.
    taken: std::collections::HashMap<String, String>,
}

/// Renames remembered to join later tickets to: each is an attack, so a few are plenty; past
/// the bound a ticket opens an incident of its own.
const MAX_TAKEN: usize = 10_000;

impl SamAccountNameSpoofing {
    /// A ticket asked for as a DC's name without its `$`: the KDC, not finding the account
    /// once it is renamed back, appends the `$` and issues the ticket as the DC.
    fn ticket(
        &mut self,
        activity: &Activity,
        exchange: &KerberosExchange,
        context: &Context,
        alerts: &mut Alerts<'_>,
    ) {
        // Issued only: someone typing a DC's name at a logon prompt gets "no such account".
        let orthrus_model::KdcOutcome::Issued(issued) = &exchange.outcome else { return };
        let client = issued.cname.as_str();
        let name = client.split('@').next().unwrap_or(client);
        if name.is_empty()
            || name.ends_with('$')
            || !context.dcs().contains(name)
            || self.config.excludes(name)
        {
            return;
        }
        let what = match activity.kind {
            ActivityKind::TgtRequested(_) => "a TGT",
            _ => "a service ticket",
        };
        let key = self.taken.get(&name.to_lowercase()).cloned().unwrap_or_else(|| name.to_lowercase());
        let summary = format!("{what} asked for as {name}, a domain controller's name without its $");
        let finding = Finding {
            severity: META.base_severity,
            description: format!(
                "{} was asked for as {name}, a domain controller's name without the trailing $ (noPac), on {}.",
                if what == "a TGT" { "A TGT" } else { "A service ticket" },
                logged_on(activity)
            ),
            source: Finding::source_of(activity, Some(name.to_owned())),
            targets: AlertTargets { accounts: [name.to_owned()].into(), ..AlertTargets::default() },
        };
        let incident = self.incidents.record(&key, activity, summary);
        alerts.raise(activity, &key, incident, finding);
    }
}

impl Detector for SamAccountNameSpoofing {
    fn observe(&mut self, activity: &Activity, context: &Context, alerts: &mut Alerts<'_>) {
        let change = match &activity.kind {
            ActivityKind::AccountChanged(change) => change,
            ActivityKind::TgtRequested(exchange) | ActivityKind::ServiceTicketRequested(exchange) => {
                return self.ticket(activity, exchange, context, alerts);
            }
            _ => return,
        };
        let (old, new) = match change.action {
            AccountAction::Renamed => (
                change.changes.get("OldTargetUserName").cloned().unwrap_or_default(),
                change.target.name.clone(),
            ),
            // 4742 names the account by its new name and gives it again as SamAccountName;
            // the old name is not in the event, only that it was a computer account.
            AccountAction::Changed if change.computer => match change.changes.get("SamAccountName") {
                Some(new) => (format!("{new}$"), new.clone()),
                None => return,
            },
            _ => return,
        };
        if !old.ends_with('$') || new.ends_with('$') || new.is_empty() {
            return;
        }
        let actor = change.subject.qualified();
        if self.config.excludes(&actor) {
            return;
        }
        let impersonates_dc = context.dcs().contains(&new);
        let key = change.target.sid.clone().unwrap_or_else(|| new.to_lowercase());
        // The tickets asked for under the name taken join the rename's incident.
        if self.taken.len() < MAX_TAKEN {
            self.taken.insert(new.to_lowercase(), key.clone());
        }
        let summary = format!("{actor} renamed computer account {old} to {new}");
        let finding = Finding {
            severity: META.base_severity,
            description: format!(
                "{actor} renamed a computer account to {new}, a name without the trailing $ {}(noPac), on {}.",
                if impersonates_dc { "that is a domain controller's " } else { "" },
                logged_on(activity)
            ),
            source: Finding::source_of(activity, Some(actor)),
            targets: AlertTargets { accounts: [new].into(), ..AlertTargets::default() },
        };
        let incident = self.incidents.record(&key, activity, summary);
        alerts.raise(activity, &key, incident, finding);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::DetectionConfig;
    use crate::testing::logs::{assert_silent, corpus_alerts};

    #[test]
    fn fires_on_corpus_nopac_renames() {
        for file in [
            "evtx-to-mitre-attack/TA0003-Persistence/T1098.xxx-Account manipulation/ID4781-Computer account renamed without a trailing $ (CVE-2021-42278).evtx",
            "evtx-attack-samples/Privilege Escalation/samaccount_spoofing_CVE-2021-42287_CVE-2021-42278_DC_securitylogs.evtx",
        ] {
            let alerts = corpus_alerts(&[file], META.id, &DetectionConfig::default());
            assert_eq!(alerts.len(), 1, "{file}: {alerts:#?}");
        }
    }

    #[test]
    fn silent_on_benign_logs_with_ordinary_renames() {
        // The benign workstation log holds 14 ordinary 4781 renames.
        assert_silent(META.id);
    }

    #[test]
    fn tickets_asked_for_as_a_dc_without_its_dollar_join_the_rename() {
        // The noPac DC log: DC012$ renamed to 01566s-win16-ir (the DC's name), a TGT issued
        // to that name, renamed back, then a service ticket (S4U2self) for 01566S-WIN16-IR$.
        let file = "evtx-attack-samples/Privilege Escalation/samaccount_spoofing_CVE-2021-42287_CVE-2021-42278_DC_securitylogs.evtx";
        let alerts = corpus_alerts(&[file], META.id, &DetectionConfig::default());
        assert_eq!(alerts.len(), 1, "{alerts:#?}");
        let summaries: Vec<&str> = alerts[0].evidence.iter().map(|e| e.summary.as_str()).collect();
        assert!(
            summaries.iter().any(|s| s.contains("renamed computer account DC012$ to 01566s-win16-ir")),
            "{summaries:#?}"
        );
        assert!(
            summaries.iter().any(|s| s.starts_with("a TGT asked for as 01566s-win16-ir")),
            "{summaries:#?}"
        );
        assert!(
            summaries.iter().any(|s| s.starts_with("a service ticket asked for as 01566s-win16-ir")),
            "{summaries:#?}"
        );

        // The same log without its renames: the tickets alone raise the alert; and a refused
        // request for the DC's name (no such account) raises nothing.
        let activities = crate::testing::logs::event_activities(&orthrus_testkit::corpus().join(file));
        let tickets_only: Vec<_> = activities
            .iter()
            .filter(|a| !matches!(a.kind, ActivityKind::AccountChanged(_)))
            .cloned()
            .collect();
        let mut engine = crate::Engine::new(&DetectionConfig::default(), "test");
        for activity in &tickets_only {
            engine.observe(activity);
        }
        let alerts: Vec<_> = engine.finish().into_iter().filter(|a| a.detection == META.id).collect();
        assert_eq!(alerts.len(), 1, "{alerts:#?}");
        let mut engine = crate::Engine::new(&DetectionConfig::default(), "test");
        for mut activity in tickets_only {
            if let ActivityKind::TgtRequested(exchange) | ActivityKind::ServiceTicketRequested(exchange) =
                &mut activity.kind
                && exchange.client().is_some_and(|c| c.starts_with("01566s"))
            {
                exchange.outcome = orthrus_model::KdcOutcome::Failed(orthrus_model::KdcFailure {
                    code: orthrus_model::KerberosErrorCode(6),
                    name: None,
                    etext: None,
                    realm: "THREEBEESCO.COM".into(),
                    sname: "krbtgt".into(),
                    cname: Some("01566s-win16-ir".into()),
                });
            }
            engine.observe(&activity);
        }
        assert!(engine.finish().into_iter().all(|a| a.detection != META.id));
    }
}
