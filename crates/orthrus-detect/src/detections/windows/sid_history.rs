//! ORT-EVT-003 — SID-History injection.
//!
//! - Attack: a SID written into an account's `sIDHistory` grants that SID's rights at every
//!   logon; adding Domain Admins' (or another privileged) SID makes a backdoor invisible in
//!   group listings (mimikatz `sid::add`, DSInternals).
//! - ATT&CK: T1134.005 (SID-History Injection). MDI: Suspected SID-History injection (1106).
//! - Data: events 4765 (SID history added), 4766 (add failed), 4738/4742 with a SID History
//!   change, 5136 on `sIDHistory`.
//! - Logic: any of them. High when an added SID is a privileged RID (500, 512, 516, 518, 519)
//!   or from the target's own domain (no migration does that). One alert per target account
//!   and quiet gap `window_secs` (config `[sid_history]`).
//! - Benign: domain migrations with ADMT; exclude the migration account (`exclude_actors`).
//! - Evidence: actor, target account, SIDs added.

use orthrus_model::{AccountAction, Activity, ActivityKind, AlertTargets, DirectoryOperation, Severity};

use crate::EventRuleConfig;
use crate::names::logged_on;
use crate::window::Incidents;
use crate::{Alerts, Context, Detection, DetectionMeta, Detector, Finding};

pub static META: DetectionMeta = DetectionMeta {
    id: "ORT-EVT-003",
    title: "Suspected SID-History injection",
    mdi: "Suspected SID-History injection (1106)",
    external_id: 1106,
    cef_app: "DirectoryChangeEvent",
    tactic: "TA0004",
    techniques: &["T1134.005"],
    data_sources: &["events 4765/4766, 4738/4742 (SID History), 5136 (sIDHistory)"],
    base_severity: Severity::Medium,
    escalates_for_sensitive: true,
    config_section: "sid_history",
    meaning: "An account received SID history, possibly holding a privileged SID: it gets that SID's access, whatever its groups.",
    impact: "A normal-looking account with the rights of Domain Admins or another privileged group.",
    actions: &[
        "Check whether a domain migration is under way.",
        "If not, clear the sIDHistory attribute and reset the account's password.",
        "Enable SID filtering on trusts and look for DCShadow or direct database edits in this incident.",
    ],
};

impl Detection for SidHistory {
    type Settings = EventRuleConfig;
    const META: &'static DetectionMeta = &META;

    fn new(settings: &Self::Settings) -> Self {
        SidHistory { incidents: Incidents::new(settings.window_secs), config: settings.clone() }
    }
}

pub struct SidHistory {
    config: EventRuleConfig,
    incidents: Incidents<String>,
}

fn privileged(sids: &str, target_sid: Option<&str>) -> bool {
    let own_domain = target_sid.and_then(|s| s.rsplit_once('-')).map(|(domain, _)| domain);
    sids.split(|c: char| c.is_whitespace() || c == '%' || c == '{' || c == '}' || c == ',').any(|sid| {
        let Some((domain, rid)) = sid.rsplit_once('-') else { return false };
        sid.starts_with("S-1-5-")
            && (matches!(rid, "500" | "512" | "516" | "518" | "519") || Some(domain) == own_domain)
    })
}

impl Detector for SidHistory {
    fn observe(&mut self, activity: &Activity, _context: &Context, alerts: &mut Alerts<'_>) {
        let (actor, target, target_sid, sids) = match &activity.kind {
            ActivityKind::AccountChanged(change) => {
                let sids = match change.action {
                    AccountAction::SidHistoryAdded => {
                        change.changes.get("SidList").cloned().unwrap_or_default()
                    }
                    _ => match change.changes.get("SidHistory") {
                        Some(sids) => sids.clone(),
                        None => return,
                    },
                };
                (change.subject.qualified(), change.target.name.clone(), change.target.sid.clone(), sids)
            }
            ActivityKind::DirectoryObjectChanged(change)
                if change.operation == DirectoryOperation::Modified
                    && change.attribute.as_deref().is_some_and(|a| a.eq_ignore_ascii_case("sIDHistory"))
                    && change.value_added != Some(false) =>
            {
                (
                    change.subject.qualified(),
                    change.dn.clone(),
                    None,
                    change.value.clone().unwrap_or_default(),
                )
            }
            _ => return,
        };
        if self.config.excludes(&actor) {
            return;
        }
        let high = privileged(&sids, target_sid.as_deref());
        let shown = if sids.is_empty() { "a SID".to_owned() } else { sids.clone() };
        let key = target.to_lowercase();
        let summary = format!("{actor} added {shown} to the SID history of {target}");
        let finding = Finding {
            severity: if high { Severity::High } else { META.base_severity },
            description: format!(
                "{actor} added {shown} to the SID history of {target} on {}{}.",
                logged_on(activity),
                if high { ", a privileged or same-domain SID" } else { "" }
            ),
            source: Finding::source_of(activity, Some(actor)),
            targets: AlertTargets { accounts: [target].into(), ..AlertTargets::default() },
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
    fn fires_on_corpus_sid_history_injection() {
        let file = "evtx-attack-samples/Privilege Escalation/4765_sidhistory_add_t1178.evtx";
        let alerts = corpus_alerts(&[file], META.id, &DetectionConfig::default());
        assert_eq!(alerts.len(), 1, "{alerts:#?}");
        assert!(alerts[0].targets.accounts.contains("Andrei"));
        assert_eq!(alerts[0].source.account.as_deref(), Some("MAINCORP\\Administrator"));
    }

    #[test]
    fn silent_on_benign_logs() {
        assert_silent(META.id);
    }
}
