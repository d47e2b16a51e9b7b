//! ORT-EVT-019 — User account named like a computer account.
//!
//! - Attack: a user account whose name ends with `$` passes for a computer account: `net user`
//!   leaves it out, and administrators and tools that skip machine accounts overlook it — a
//!   quiet backdoor account with a password the attacker chose.
//! - ATT&CK: T1136.002 (Create Account: Domain Account), T1036 (Masquerading). MDI has no
//!   such alert; Orthrus extension.
//! - Data: event 4720 (a user account was created; audit "User Account Management") whose
//!   name ends with `$`, read by its account-control value: a normal user account (SAM's
//!   `USER_NORMAL_ACCOUNT`, 0x10), not a workstation, server or interdomain trust account
//!   (0x80, 0x100, 0x40: Windows names those with a `$`, and a domain trust creates one).
//! - Logic: any such creation. One alert per account and quiet gap `window_secs` (config
//!   `[disguised_account]`).
//! - Benign: none known: Windows creates user accounts with a `$` only for trusts, which are
//!   not judged; exclude a provisioning account that does (`exclude_actors`).
//! - Gaps: a user renamed to a name with `$` (4781) is not judged: the rename does not say
//!   whether the account is a user or a computer.
//! - Evidence: actor, account, computer that logged it.

use orthrus_model::{AccountAction, Activity, ActivityKind, AlertTargets, Severity};

use crate::EventRuleConfig;
use crate::names::logged_on;
use crate::window::Incidents;
use crate::{Alerts, Context, Detection, DetectionMeta, Detector, Finding};

pub static META: DetectionMeta = DetectionMeta {
    id: "ORT-EVT-019",
    title: "User account named like a computer account",
    mdi: "none (Orthrus extension)",
    external_id: 9019,
    cef_app: "AccountManagement",
    tactic: "TA0003",
    techniques: &["T1136.002", "T1036"],
    data_sources: &["event 4720 (user account created) with a name ending in $"],
    base_severity: Severity::Medium,
    escalates_for_sensitive: false,
    config_section: "disguised_account",
    meaning: "A user account was created with a name ending in $, the mark of computer accounts, so that people and tools take it for one.",
    impact: "A backdoor account that `net user` and most reviews leave out.",
    actions: &[
        "Ask the actor why the account was created; look at its groups and where it logs on.",
        "Disable the account if nobody owns it, then investigate the actor.",
        "Review who may create user accounts.",
    ],
};

/// SAM account-control bits (MS-SAMR 2.2.1.12) of 4720's `NewUacValue`.
const NORMAL_ACCOUNT: u64 = 0x10;
const TRUST_ACCOUNT: u64 = 0x40 | 0x80 | 0x100;

impl Detection for DisguisedAccount {
    type Settings = EventRuleConfig;
    const META: &'static DetectionMeta = &META;

    fn new(settings: &Self::Settings) -> Self {
        DisguisedAccount { incidents: Incidents::new(settings.window_secs), config: settings.clone() }
    }
}

pub struct DisguisedAccount {
    config: EventRuleConfig,
    incidents: Incidents<String>,
}

impl Detector for DisguisedAccount {
    fn observe(&mut self, activity: &Activity, _context: &Context, alerts: &mut Alerts<'_>) {
        let ActivityKind::AccountChanged(change) = &activity.kind else { return };
        if change.action != AccountAction::Created || !change.target.name.ends_with('$') {
            return;
        }
        let control = change
            .changes
            .get("NewUacValue")
            .and_then(|v| u64::from_str_radix(v.trim().trim_start_matches("0x"), 16).ok());
        let Some(control) = control else { return };
        if control & NORMAL_ACCOUNT == 0 || control & TRUST_ACCOUNT != 0 {
            return;
        }
        if self.config.excludes_actor(&change.subject) {
            return;
        }
        let actor = change.subject.qualified();
        let account = change.target.qualified();
        let key = change.target.sid.clone().unwrap_or_else(|| account.to_lowercase());
        let summary = format!("{actor} created user account {account}");
        let finding = Finding {
            severity: META.base_severity,
            description: format!(
                "{actor} created the user account {account} on {}: a user whose name ends with $, as computer accounts' do.",
                logged_on(activity)
            ),
            source: Finding::source_of(activity, Some(actor)),
            targets: AlertTargets { accounts: [account].into(), ..AlertTargets::default() },
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

    const CREATE: &str = "evtx-to-mitre-attack/TA0003-Persistence/T1136-Create account";

    #[test]
    fn fires_on_a_user_account_created_with_a_dollar() {
        let file = format!("{CREATE}/ID4720-Fake computer account created.evtx");
        let alerts = corpus_alerts(&[&file], META.id, &DetectionConfig::default());
        assert_eq!(alerts.len(), 1, "{alerts:#?}");
        assert!(
            alerts[0]
                .description
                .starts_with("OFFSEC\\lambda-user created the user account OFFSEC\\FAKE-COMPUTER$"),
            "{}",
            alerts[0].description
        );
    }

    #[test]
    fn silent_on_computer_accounts_ordinary_users_and_the_excluded() {
        for file in [
            // A computer account (4741) created by a user: a computer's $ is its own.
            format!("{CREATE}/ID4741-Computer account created with privileges.evtx"),
            // User accounts without a $.
            format!("{CREATE}/ID4720-Admin like user created.evtx"),
            format!("{CREATE}/ID4720-4726 Fast created-deleted user.evtx"),
        ] {
            assert!(corpus_alerts(&[&file], META.id, &DetectionConfig::default()).is_empty(), "{file}");
        }
        let mut config = DetectionConfig::default();
        config.settings_mut::<DisguisedAccount>().exclude_actors = vec!["lambda-user".into()];
        let file = format!("{CREATE}/ID4720-Fake computer account created.evtx");
        assert!(corpus_alerts(&[&file], META.id, &config).is_empty());
        assert_silent(META.id);
    }
}
