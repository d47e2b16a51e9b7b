//! ORT-EVT-005 — Resource-based constrained delegation written.
//!
//! - Attack: whoever can write `msDS-AllowedToActOnBehalfOfOtherIdentity` on a computer lets
//!   an account it controls impersonate any user to that computer (S4U2self/S4U2proxy);
//!   KrbRelayUp relays the computer's own authentication to LDAP to write it.
//! - ATT&CK: T1134 / T1484 (Domain Policy Modification). MDI: Suspicious modification of the
//!   Resource Based Constrained Delegation attribute by a machine account (2423).
//! - Data: event 5136 on `msDS-AllowedToActOnBehalfOfOtherIdentity` (and the Samba audit of
//!   the same write).
//! - Logic: a value added. High when the writer is a machine account (MDI's case, relayed
//!   authentication); Medium for any other writer (Orthrus extension: admins rarely set it).
//!   One alert per target object and quiet gap `window_secs` (config `[rbcd]`).
//! - Benign: administrators configuring RBCD for a service; exclude them (`exclude_actors`).
//! - Evidence: writer, computer object, the security descriptor written.

use orthrus_model::{Activity, ActivityKind, AlertTargets, DirectoryOperation, Severity};

use crate::EventRuleConfig;
use crate::names::logged_on;
use crate::window::Incidents;
use crate::{Alerts, Context, Detection, DetectionMeta, Detector, Finding};

pub static META: DetectionMeta = DetectionMeta {
    id: "ORT-EVT-005",
    title: "Suspicious modification of the Resource Based Constrained Delegation attribute",
    mdi: "Suspicious modification of the Resource Based Constrained Delegation attribute by a machine account (2423)",
    external_id: 2423,
    cef_app: "DirectoryChangeEvent",
    tactic: "TA0004",
    techniques: &["T1484", "T1134"],
    data_sources: &["event 5136 on msDS-AllowedToActOnBehalfOfOtherIdentity"],
    base_severity: Severity::Medium,
    escalates_for_sensitive: true,
    config_section: "rbcd",
    meaning: "A computer's msDS-AllowedToActOnBehalfOfOtherIdentity (resource-based constrained delegation) was changed to trust another account.",
    impact: "The trusted account can impersonate any user, administrators included, to that computer.",
    actions: &[
        "Check the change against planned delegation.",
        "If unexplained, clear the attribute and investigate the actor and the account that was trusted (often a computer the attacker created).",
        "Set ms-DS-MachineAccountQuota to 0.",
    ],
};

impl Detection for Rbcd {
    type Settings = EventRuleConfig;
    const META: &'static DetectionMeta = &META;

    fn new(settings: &Self::Settings) -> Self {
        Rbcd { incidents: Incidents::new(settings.window_secs), config: settings.clone() }
    }
}

pub struct Rbcd {
    config: EventRuleConfig,
    incidents: Incidents<String>,
}

impl Detector for Rbcd {
    fn observe(&mut self, activity: &Activity, _context: &Context, alerts: &mut Alerts<'_>) {
        let ActivityKind::DirectoryObjectChanged(change) = &activity.kind else { return };
        let rbcd = change
            .attribute
            .as_deref()
            .is_some_and(|a| a.eq_ignore_ascii_case("msDS-AllowedToActOnBehalfOfOtherIdentity"));
        if !rbcd || change.operation != DirectoryOperation::Modified || change.value_added == Some(false) {
            return;
        }
        let actor = if change.subject.name.is_empty() {
            change.subject.sid.clone().unwrap_or_default()
        } else {
            change.subject.qualified()
        };
        if self.config.excludes(&actor) {
            return;
        }
        let machine = change.subject.is_machine();
        let target = orthrus_directory::ad::rdn_value(&change.dn).to_owned();
        let key = change.dn.to_lowercase();
        let summary = format!("{actor} wrote msDS-AllowedToActOnBehalfOfOtherIdentity on {}", change.dn);
        let finding = Finding {
            severity: if machine { Severity::High } else { META.base_severity },
            description: format!(
                "{actor}{} configured resource-based constrained delegation to {target} on {}: the accounts it \
                 names can impersonate any user to {target}.",
                if machine { ", a machine account," } else { "" },
                logged_on(activity)
            ),
            source: Finding::source_of(activity, Some(actor)),
            targets: AlertTargets { computers: [target].into(), ..AlertTargets::default() },
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
    fn fires_on_corpus_rbcd_write() {
        let file = "evtx-to-mitre-attack/TA0003-Persistence/T1098.xxx-Account manipulation/ID5136-Computer account set for RBCD delegation.evtx";
        let alerts = corpus_alerts(&[file], META.id, &DetectionConfig::default());
        assert_eq!(alerts.len(), 1, "{alerts:#?}");
        assert!(alerts[0].targets.computers.contains("TARGET01"));
        assert_eq!(alerts[0].severity, Severity::Medium, "written by an administrator, not a machine");
    }

    #[test]
    fn silent_on_benign_logs() {
        assert_silent(META.id);
    }
}
