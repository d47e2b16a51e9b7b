//! ORT-EVT-010 — Directory Services Restore Mode password change.
//!
//! - Attack: the DSRM administrator is a local account of each DC; with its password set (and
//!   `DsrmAdminLogonBehavior` = 2) it logs on over the network as a permanent backdoor
//!   (`ntdsutil "set dsrm password"`, mimikatz `lsadump::setntlm`).
//! - ATT&CK: T1098 (Account Manipulation). MDI: Directory Services Restore Mode Password
//!   Change (2438).
//! - Data: event 4794 (an attempt was made to set the DSRM administrator password; audit
//!   "User Account Management").
//! - Logic: any 4794. One alert per DC and quiet gap `window_secs` (config `[dsrm]`).
//! - Benign: documented DC maintenance; exclude the account.
//! - Evidence: actor, DC, result.

use orthrus_model::{AccountAction, Activity, ActivityKind, AlertTargets, Severity};

use crate::EventRuleConfig;
use crate::names::{host_key, logged_on};
use crate::window::Incidents;
use crate::{Alerts, Context, Detection, DetectionMeta, Detector, Finding};

pub static META: DetectionMeta = DetectionMeta {
    id: "ORT-EVT-010",
    title: "Directory Services Restore Mode password change",
    mdi: "Directory Services Restore Mode Password Change (2438)",
    external_id: 2438,
    cef_app: "DsrmEvent",
    tactic: "TA0003",
    techniques: &["T1098"],
    data_sources: &["event 4794 (DSRM password set)"],
    base_severity: Severity::Medium,
    escalates_for_sensitive: false,
    config_section: "dsrm",
    meaning: "The Directory Services Restore Mode (DSRM) administrator password of a DC was set. With DsrmAdminLogonBehavior changed, that local account logs on over the network.",
    impact: "A backdoor administrator on the DC that survives domain password resets.",
    actions: &[
        "Confirm with the DC's administrators whether the change was planned.",
        "Reset the DSRM password to a new random value and check the registry value DsrmAdminLogonBehavior is 0 or absent.",
        "Investigate the actor.",
    ],
};

impl Detection for Dsrm {
    type Settings = EventRuleConfig;
    const META: &'static DetectionMeta = &META;

    fn new(settings: &Self::Settings) -> Self {
        Dsrm { incidents: Incidents::new(settings.window_secs), config: settings.clone() }
    }
}

pub struct Dsrm {
    config: EventRuleConfig,
    incidents: Incidents<String>,
}

impl Detector for Dsrm {
    fn observe(&mut self, activity: &Activity, _context: &Context, alerts: &mut Alerts<'_>) {
        let ActivityKind::AccountChanged(change) = &activity.kind else { return };
        if change.action != AccountAction::PasswordReset || change.target.name != "DSRM Administrator" {
            return;
        }
        let actor = change.subject.qualified();
        if self.config.excludes(&actor) {
            return;
        }
        let dc = logged_on(activity).to_owned();
        let key = host_key(&dc);
        let summary = format!("{actor} set the DSRM administrator password of {dc}");
        let finding = Finding {
            severity: META.base_severity,
            description: format!(
                "{actor} set the Directory Services Restore Mode administrator password of {dc}, a local \
                 administrator of the DC that outlives domain password resets."
            ),
            source: Finding::source_of(activity, Some(actor)),
            targets: AlertTargets { computers: [dc].into(), ..AlertTargets::default() },
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
    fn fires_on_corpus_dsrm_password_changes() {
        for file in [
            "evtx-attack-samples/Credential Access/4794_DSRM_password_change_t1098.evtx",
            "evtx-to-mitre-attack/TA0006-Credential Access/T1003-Credential dumping/ID4794-4688-DSRM password set with NTDSutil.evtx",
        ] {
            let alerts = corpus_alerts(&[file], META.id, &DetectionConfig::default());
            assert_eq!(alerts.len(), 1, "{file}: {alerts:#?}");
        }
    }

    #[test]
    fn silent_on_benign_logs() {
        assert_silent(META.id);
    }
}
