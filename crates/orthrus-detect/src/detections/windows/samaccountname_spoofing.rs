//! ORT-KRB-013 — sAMAccountName spoofing (noPac, CVE-2021-42278 / CVE-2021-42287).
//!
//! - Attack: with MachineAccountQuota, any user creates a computer account, renames it to a
//!   DC's name without the trailing `$`, gets a TGT for it, renames it back, and asks for a
//!   service ticket with S4U2self: the KDC, not finding the name, appends `$` and issues a
//!   ticket as the DC.
//! - ATT&CK: T1068 (Exploitation for Privilege Escalation), T1078.002. MDI: Suspected
//!   sAMAccountName spoofing (2419).
//! - Data: event 4781 (account renamed), 4742 with a SAM Account Name change, 5136 on
//!   `sAMAccountName` of a computer object.
//! - Logic: a computer account (old name ending in `$`) renamed to a name without `$`. High
//!   when the new name is a domain controller's (configured, or learned from its KDC events).
//!   One alert per account SID and quiet gap `window_secs` (config
//!   `[samaccountname_spoofing]`).
//! - Benign: none known: Windows never renames computers that way.
//! - Evidence: actor, old and new names.

use orthrus_model::{AccountAction, Activity, ActivityKind, AlertTargets, Severity};

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
    data_sources: &["event 4781 (account renamed), 4742 (SAM account name changed)"],
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
        SamAccountNameSpoofing { incidents: Incidents::new(settings.window_secs), config: settings.clone() }
    }
}

pub struct SamAccountNameSpoofing {
    config: EventRuleConfig,
    incidents: Incidents<String>,
}

impl Detector for SamAccountNameSpoofing {
    fn observe(&mut self, activity: &Activity, context: &Context, alerts: &mut Alerts<'_>) {
        let ActivityKind::AccountChanged(change) = &activity.kind else { return };
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
}
