//! ORT-EVT-009 — Honeytoken group membership changed.
//!
//! - Attack: a decoy account nobody should touch is added to (or removed from) a group — an
//!   attacker who found it (by enumeration, or by its tempting name) is giving it rights to
//!   use it, or testing whether anyone watches.
//! - ATT&CK: T1098 (Account Manipulation). MDI: Honeytoken group membership changed (2428).
//! - Data: EVT: 4728/4729, 4732/4733, 4756/4757 (member added to / removed from a global,
//!   local or universal group) and Samba's group-change audit, with the member as DN, name or
//!   SID; the honeytoken tags (config `[entities] honeytokens`, `[honeytoken] accounts`) and,
//!   for DNs and SIDs, the directory snapshot.
//! - Logic: any change whose member is a honeytoken; High. One alert per honeytoken and quiet
//!   gap `window_secs` (config `[honeytoken_group]`), listing the groups and changes.
//! - Thresholds: `window_secs = 3600`.
//! - Benign: the honeytoken's owner maintaining it (exclude the actor with `exclude_actors`).
//! - Evidence: each change: actor, group, added or removed, DC.

use std::collections::BTreeSet;

use orthrus_model::{Activity, ActivityKind, AlertTargets, Severity};

use crate::EventRuleConfig;
use crate::names::{actor_name, logged_on, name_list};
use crate::window::Incidents;
use crate::{Alerts, Context, Detection, DetectionMeta, Detector, Finding};

pub static META: DetectionMeta = DetectionMeta {
    id: "ORT-EVT-009",
    title: "Honeytoken group membership changed",
    mdi: "Honeytoken group membership changed (2428)",
    external_id: 2428,
    cef_app: "Directory Services",
    tactic: "TA0003",
    techniques: &["T1098"],
    data_sources: &[
        "events 4728/4729/4732/4733/4756/4757, Samba group changes",
        "honeytoken tags, directory snapshot",
    ],
    base_severity: Severity::High,
    escalates_for_sensitive: false,
    config_section: "honeytoken_group",
    meaning: "A honeytoken's group memberships changed. Nothing legitimate should touch it.",
    impact: "Someone is using its rights or preparing it as a foothold.",
    actions: &[
        "Identify the actor and treat their account as compromised.",
        "Undo the change and review the actor's other changes.",
    ],
};

impl Detection for HoneytokenGroup {
    type Settings = EventRuleConfig;
    const META: &'static DetectionMeta = &META;

    fn new(settings: &Self::Settings) -> Self {
        HoneytokenGroup { config: settings.clone(), episodes: Incidents::new(settings.window_secs) }
    }
}

pub struct HoneytokenGroup {
    config: EventRuleConfig,
    episodes: Incidents<String>,
}

impl Detector for HoneytokenGroup {
    fn observe(&mut self, activity: &Activity, context: &Context, alerts: &mut Alerts<'_>) {
        let ActivityKind::GroupMembershipChanged(change) = &activity.kind else { return };
        let Some(honeytoken) = context.honeytokens().of_account(&change.member) else { return };
        let actor = actor_name(&change.subject);
        if self.config.excludes_actor(&change.subject) {
            return;
        }
        let verb = if change.added { "added to" } else { "removed from" };
        let changes =
            self.episodes.named(&honeytoken, activity.time, [format!("{verb} {}", change.group.name)]);
        let key = honeytoken.clone();
        let summary = format!(
            "{actor} {} the honeytoken {honeytoken} {verb} {} on {}",
            if change.added { "added" } else { "removed" },
            change.group.name,
            logged_on(activity)
        );
        let finding = Finding {
            severity: META.base_severity,
            description: format!(
                "The honeytoken {honeytoken} was {} by {actor}: a decoy account nobody should manage.",
                name_list(changes.iter(), 5),
            ),
            source: Finding::source_of(activity, Some(actor)),
            targets: AlertTargets { accounts: BTreeSet::from([honeytoken]), ..AlertTargets::default() },
        };
        let incident = self.episodes.record(&key, activity, summary);
        alerts.raise(activity, &key, incident, finding);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::DetectionConfig;
    use crate::testing::extra::with_lab_directory;
    use crate::testing::logs::{assert_silent, audit_alerts};

    fn bob_as_honeytoken() -> DetectionConfig {
        let mut config = DetectionConfig::default();
        config.settings_mut::<crate::detections::kerberos::honeytoken::Honeytoken>().accounts =
            vec!["bob".into()];
        with_lab_directory(config)
    }

    #[test]
    fn fires_when_the_lab_adds_a_honeytoken_to_domain_admins() {
        // da_admin adds bob (by DN, as Samba's audit names members) to Domain Admins.
        let alerts = audit_alerts("group_membership_change", META.id, &bob_as_honeytoken());
        assert_eq!(alerts.len(), 1, "{alerts:#?}");
        let alert = &alerts[0];
        assert!(alert.targets.accounts.contains("bob"), "{:?}", alert.targets);
        assert_eq!(alert.severity, Severity::High);
        assert!(
            alert.description.starts_with("The honeytoken bob was added to Domain Admins by"),
            "{}",
            alert.description
        );
    }

    #[test]
    fn silent_when_the_member_is_no_honeytoken_or_the_actor_is_excluded() {
        assert!(
            audit_alerts("group_membership_change", META.id, &with_lab_directory(DetectionConfig::default()))
                .is_empty()
        );
        let mut config = bob_as_honeytoken();
        config.settings_mut::<HoneytokenGroup>().exclude_actors =
            vec!["S-1-5-21-1246678650-3139473170-4258655604-1109".into()];
        assert!(audit_alerts("group_membership_change", META.id, &config).is_empty());
    }

    #[test]
    fn silent_on_benign_logs() {
        assert_silent(META.id);
    }
}
