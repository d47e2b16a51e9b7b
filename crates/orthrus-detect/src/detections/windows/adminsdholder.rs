//! ORT-EVT-004 — AdminSDHolder modification.
//!
//! - Attack: the ACL of `CN=AdminSDHolder,CN=System,<domain>` is copied every hour by SDProp
//!   onto every protected account and group (Domain Admins and the rest); an ACE added there
//!   is a persistent backdoor over all of them.
//! - ATT&CK: T1098 (Account Manipulation). MDI: Suspicious modification of domain
//!   AdminSdHolder (2430).
//! - Data: event 5136 on the AdminSDHolder object (audit "Directory Service Changes" with a
//!   SACL on it).
//! - Logic: any change of an attribute of AdminSDHolder; High when it is the security
//!   descriptor. One alert per actor and quiet gap `window_secs` (config `[adminsdholder]`).
//! - Benign: a documented delegation change by the directory team; exclude the account.
//! - Evidence: actor, attribute, new value (the SDDL).

use orthrus_model::{Activity, ActivityKind, AlertTargets, Severity};

use crate::EventRuleConfig;
use crate::names::logged_on;
use crate::window::Incidents;
use crate::{Alerts, Context, Detection, DetectionMeta, Detector, Finding};

pub static META: DetectionMeta = DetectionMeta {
    id: "ORT-EVT-004",
    title: "Suspicious modification of domain AdminSdHolder",
    mdi: "Suspicious modification of domain AdminSdHolder (2430)",
    external_id: 2430,
    cef_app: "DirectoryChangeEvent",
    tactic: "TA0003",
    techniques: &["T1098"],
    data_sources: &["event 5136 on CN=AdminSDHolder"],
    base_severity: Severity::Medium,
    escalates_for_sensitive: false,
    config_section: "adminsdholder",
    meaning: "The AdminSDHolder object's permissions were changed. Its permissions are copied to every protected account and group every hour.",
    impact: "An attacker's permission spreads to Domain Admins and every protected object and comes back after removal.",
    actions: &[
        "Compare the AdminSDHolder ACL with a known-good one and remove the added entries.",
        "Wait for (or trigger) SDProp, then check the protected objects.",
        "Investigate the actor's account.",
    ],
};

impl Detection for AdminSdHolder {
    type Settings = EventRuleConfig;
    const META: &'static DetectionMeta = &META;

    fn new(settings: &Self::Settings) -> Self {
        AdminSdHolder { incidents: Incidents::new(settings.window_secs), config: settings.clone() }
    }
}

pub struct AdminSdHolder {
    config: EventRuleConfig,
    incidents: Incidents<String>,
}

impl Detector for AdminSdHolder {
    fn observe(&mut self, activity: &Activity, _context: &Context, alerts: &mut Alerts<'_>) {
        let ActivityKind::DirectoryObjectChanged(change) = &activity.kind else { return };
        if !change.dn.to_ascii_lowercase().starts_with("cn=adminsdholder,cn=system,") {
            return;
        }
        let actor = change.subject.qualified();
        if self.config.excludes(&actor) {
            return;
        }
        let attribute = change.attribute.clone().unwrap_or_else(|| "the object".into());
        let acl = attribute.eq_ignore_ascii_case("nTSecurityDescriptor");
        let key = actor.to_lowercase();
        let summary = format!(
            "{actor} changed {attribute} of {}: {}",
            change.dn,
            change.value.as_deref().unwrap_or("")
        );
        let finding = Finding {
            severity: if acl { Severity::High } else { META.base_severity },
            description: format!(
                "{actor} modified {attribute} of AdminSDHolder on {}{}.",
                logged_on(activity),
                if acl {
                    ": its ACL is copied onto every protected account and group within the hour"
                } else {
                    ""
                }
            ),
            source: Finding::source_of(activity, Some(actor)),
            targets: AlertTargets::default(),
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
    fn fires_on_corpus_adminsdholder_acl_change() {
        let file = "evtx-to-mitre-attack/TA0003-Persistence/T1546-Event Triggered Execution/ID5136-AdminSDholder permissions changed.evtx";
        let alerts = corpus_alerts(&[file], META.id, &DetectionConfig::default());
        assert_eq!(alerts.len(), 1, "{alerts:#?}");
        assert_eq!(alerts[0].severity, Severity::High);
        assert_eq!(alerts[0].count, 2);
    }

    #[test]
    fn silent_on_benign_logs_and_other_acl_changes() {
        assert_silent(META.id);
        let ou = "evtx-to-mitre-attack/TA0005-Defense Evasion/T1222.001-File and Directory Permissions Modification/ID5136-Permission change on OU by user.evtx";
        assert!(corpus_alerts(&[ou], META.id, &DetectionConfig::default()).is_empty());
    }
}
