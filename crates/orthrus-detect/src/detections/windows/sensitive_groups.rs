//! ORT-EVT-001 — Additions to sensitive groups.
//!
//! - Attack: after gaining rights, the attacker adds an account to a group that controls the
//!   domain (Domain Admins, Enterprise Admins, Administrators, DnsAdmins, Backup Operators,
//!   Exchange Windows Permissions, …) for persistence or escalation.
//! - ATT&CK: T1098 (Account Manipulation). MDI: Suspicious additions to sensitive groups
//!   (2024).
//! - Data: events 4728 (global group), 4732 (domain-local / built-in group), 4756 (universal
//!   group) — member added; Samba's group-change audit records map to the same.
//! - Logic: a member added to a sensitive group, named by well-known SID/RID (S-1-5-32-544,
//!   -548, -549, -550, -551, -552, -556, -557, -578; domain RIDs 512, 516, 518, 519, 520, 521,
//!   526, 527) or by name (DnsAdmins, Exchange groups, and the built-in names for logs that
//!   give no SID), plus `extra_groups`, by a (modifier, group) pair the profile has not seen.
//!   The profile learns who changes (adds to or removes from) which sensitive group: for
//!   `learning_days` from the first group change each DC logs, nothing alerts and every pair
//!   is learned; a saved baseline (`orthrus analyze --baseline`) brings pairs learned before.
//!   MDI learns four weeks per DC (`learning_days = 28`); the default, 0, is MDI's "low
//!   threshold" mode: without a baseline every addition alerts. One alert per actor and
//!   quiet gap `window_secs`; High for Domain/Enterprise/Schema Admins and Administrators,
//!   and, with the directory, for a modifier that is not itself sensitive (an administrator
//!   adds administrators; anyone else doing so holds a right they should not).
//! - Thresholds: `window_secs = 3600`, `learning_days = 0` (config `[sensitive_groups]`);
//!   at most 100 000 learned pairs and 10 000 DCs.
//! - Benign: onboarding of a new administrator by someone who never did it while learning;
//!   exclude the provisioning account (`exclude_actors`).
//! - Evidence: each addition: actor, group, member, DC.

use std::collections::BTreeSet;
use std::net::IpAddr;

use orthrus_model::{Activity, ActivityKind, AlertTargets, Severity};
use serde::Deserialize;

use crate::baseline::PairProfile;
use crate::names::{
    account_key, actor_key, actor_name, directory_name, host_key, lists_actor, logged_on, name_list,
};
use crate::window::Incidents;
use crate::{Alerts, Context, Detection, DetectionMeta, Detector, Finding, Settings};

pub static META: DetectionMeta = DetectionMeta {
    id: "ORT-EVT-001",
    title: "Suspicious additions to sensitive groups",
    mdi: "Suspicious additions to sensitive groups (2024)",
    external_id: 2024,
    cef_app: "GroupMembershipChangeEvent",
    tactic: "TA0003",
    techniques: &["T1098"],
    data_sources: &["events 4728/4732/4756 (member added)", "Samba group-change audit"],
    base_severity: Severity::Medium,
    escalates_for_sensitive: false,
    config_section: "sensitive_groups",
    meaning: "An account was added to a sensitive group (Domain Admins, Enterprise Admins, Administrators, Backup Operators and the like).",
    impact: "The member gets the group's control over the domain or its DCs.",
    actions: &[
        "Ask the actor named in the alert whether the change was planned (a ticket, a change window).",
        "If not, remove the member, disable the actor's account until explained and reset both accounts' passwords.",
        "Review what the new member did after the change.",
    ],
};

/// Built-in groups: Administrators, Account/Server/Print/Backup Operators, Replicator,
/// Incoming Forest Trust Builders, Network Configuration Operators, Hyper-V Administrators.
const BUILTIN_SIDS: &[&str] = &[
    "S-1-5-32-544",
    "S-1-5-32-548",
    "S-1-5-32-549",
    "S-1-5-32-550",
    "S-1-5-32-551",
    "S-1-5-32-552",
    "S-1-5-32-556",
    "S-1-5-32-557",
    "S-1-5-32-578",
];

/// Domain RIDs: Domain Admins, Domain Controllers, Schema Admins, Enterprise Admins, Group
/// Policy Creator Owners, Read-only DCs, Key Admins, Enterprise Key Admins.
const DOMAIN_RIDS: &[&str] = &["512", "516", "518", "519", "520", "521", "526", "527"];

/// Names, for logs that give no SID (Samba gives the DN) and for groups without a fixed RID.
const NAMES: &[&str] = &[
    "administrators",
    "account operators",
    "server operators",
    "print operators",
    "backup operators",
    "replicator",
    "domain admins",
    "domain controllers",
    "schema admins",
    "enterprise admins",
    "group policy creator owners",
    "key admins",
    "enterprise key admins",
    "dnsadmins",
    "exchange windows permissions",
    "exchange trusted subsystem",
    "organization management",
    "microsoft exchange servers",
];

const CRITICAL: &[&str] = &["domain admins", "enterprise admins", "schema admins", "administrators"];
const CRITICAL_SIDS: &[&str] = &["S-1-5-32-544"];
const CRITICAL_RIDS: &[&str] = &["512", "518", "519"];

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SensitiveGroupsConfig {
    pub window_secs: u64,
    /// Days from a DC's first group change during which changes are learned, not alerted.
    pub learning_days: u64,
    /// More group names to treat as sensitive.
    pub extra_groups: Vec<String>,
    /// Accounts whose additions are expected (provisioning systems).
    pub exclude_actors: Vec<String>,
    pub exclude_sources: Vec<IpAddr>,
}

impl Default for SensitiveGroupsConfig {
    fn default() -> Self {
        Self {
            window_secs: 3600,
            learning_days: 0,
            extra_groups: Vec::new(),
            exclude_actors: Vec::new(),
            exclude_sources: Vec::new(),
        }
    }
}

impl Settings for SensitiveGroupsConfig {
    fn exclude_sources(&self) -> &[IpAddr] {
        &self.exclude_sources
    }

    fn thresholds(&self) -> Vec<(&'static str, String)> {
        vec![("window_secs", self.window_secs.to_string()), ("learning_days", self.learning_days.to_string())]
    }
}

impl Detection for SensitiveGroups {
    type Settings = SensitiveGroupsConfig;
    const META: &'static DetectionMeta = &META;

    fn new(settings: &Self::Settings) -> Self {
        let c = settings;
        SensitiveGroups {
            extra: c.extra_groups.iter().map(|g| account_key(g)).collect(),
            excluded: c.exclude_actors.clone(),
            episodes: Incidents::new(c.window_secs),
            learning_secs: i64::try_from(c.learning_days.saturating_mul(86_400)).unwrap_or(i64::MAX),
            profile: PairProfile::default(),
        }
    }
}

pub struct SensitiveGroups {
    extra: Vec<String>,
    excluded: Vec<String>,
    /// Names in an episode: `group:<name>` and `member:<name>`.
    episodes: Incidents<String>,
    learning_secs: i64,
    /// Who changes which sensitive group: (modifier, group), lower case; `*` stands for
    /// the DC of logs that name no computer.
    profile: PairProfile,
}

impl SensitiveGroups {
    /// The modifier is in the directory and not sensitive: not an administrator.
    fn is_unprivileged(&self, context: &Context, actor: &str) -> bool {
        context.directory().find(actor).is_some_and(|found| context.directory().sensitivity(&found).is_none())
    }
}

/// Whether a name is one of the well-known sensitive groups (Domain Admins, DnsAdmins, …).
pub(crate) fn is_sensitive_name(name: &str) -> bool {
    NAMES.contains(&account_key(name).as_str())
}

/// Whether a group is sensitive, and whether critically so.
fn classify(name: &str, sid: Option<&str>, extra: &[String]) -> Option<bool> {
    let name = account_key(name);
    if let Some(sid) = sid.filter(|s| s.starts_with("S-1-5-")) {
        let rid = sid.rsplit('-').next().unwrap_or_default();
        let domain = sid.starts_with("S-1-5-21-");
        if BUILTIN_SIDS.contains(&sid) || (domain && DOMAIN_RIDS.contains(&rid)) {
            return Some(CRITICAL_SIDS.contains(&sid) || (domain && CRITICAL_RIDS.contains(&rid)));
        }
    }
    (NAMES.contains(&name.as_str()) || extra.contains(&name)).then(|| CRITICAL.contains(&name.as_str()))
}

impl Detector for SensitiveGroups {
    fn observe(&mut self, activity: &Activity, context: &Context, alerts: &mut Alerts<'_>) {
        let ActivityKind::GroupMembershipChanged(change) = &activity.kind else { return };
        let Some(critical) = classify(&change.group.name, change.group.sid.as_deref(), &self.extra) else {
            return;
        };
        // A local account managing a computer's own groups (a workgroup machine, a member
        // server's local Administrators) is host administration, not the domain's: a DC has
        // no local accounts.
        let computer = activity.destination_host.as_deref().map(host_key).unwrap_or_default();
        let actor_domain = change.subject.domain.as_deref().map(str::to_lowercase).unwrap_or_default();
        if !computer.is_empty() && (actor_domain == computer || actor_domain == "workgroup") {
            return;
        }
        let actor = actor_name(&change.subject);
        let key = actor_key(&change.subject);
        if lists_actor(&self.excluded, &change.subject) {
            return;
        }
        let pair = (key.clone(), account_key(&change.group.name));
        // Logs that name no computer (Samba's audit lines) learn on one shared clock.
        let dc = if computer.is_empty() { "*" } else { computer.as_str() };
        if self.profile.learning(self.learning_secs, dc, activity.time) {
            self.profile.learn(pair);
            return;
        }
        if !change.added || self.profile.knows(&pair) {
            return;
        }
        let unprivileged = self.is_unprivileged(context, &actor);
        let member = if change.member.name.is_empty() {
            change.member.sid.clone().unwrap_or_default()
        } else {
            change.member.name.clone()
        };
        // As the directory names it (`LAB\bob`), when it knows the DN or SID the log gave.
        let member = directory_name(&member, context.directory());
        let dc = logged_on(activity);
        let names = self.episodes.named(
            &key,
            activity.time,
            [format!("group:{}", change.group.name), format!("member:{member}")],
        );
        let of = |prefix: &str| -> BTreeSet<String> {
            names.iter().filter_map(|n| n.strip_prefix(prefix)).map(str::to_owned).collect()
        };
        let (groups, members) = (of("group:"), of("member:"));
        let summary = format!("{actor} added {member} to {} on {dc}", change.group.name);
        let finding = Finding {
            severity: if critical || unprivileged { Severity::High } else { META.base_severity },
            description: format!(
                "{actor}{} added {} to the sensitive group{} {}{}.",
                if unprivileged { ", not itself an administrator," } else { "" },
                name_list(members.iter(), 3),
                if groups.len() == 1 { "" } else { "s" },
                name_list(groups.iter(), 5),
                if self.profile.pairs.is_empty() { "" } else { ", a change not seen while learning" },
            ),
            source: Finding::source_of(activity, Some(actor)),
            targets: AlertTargets { accounts: members, ..AlertTargets::default() },
        };
        let incident = self.episodes.record(&key, activity, summary);
        alerts.raise(activity, &key, incident, finding);
    }

    fn learned(&self) -> Option<serde_json::Value> {
        self.profile.state()
    }

    fn restore(&mut self, state: serde_json::Value) -> Result<(), String> {
        self.profile = PairProfile::from_state(state)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::DetectionConfig;
    use crate::testing::logs::{assert_silent, audit_alerts, corpus_alerts};
    use std::sync::Arc;

    #[test]
    fn fires_on_corpus_additions_to_domain_admins_and_dnsadmins() {
        let config = DetectionConfig::default();
        let file = "evtx-to-mitre-attack/TA0003-Persistence/T1098.xxx-Account manipulation/ID4728-4756-Member added to sensitive domain groups.evtx";
        let alerts = corpus_alerts(&[file], META.id, &config);
        assert!(!alerts.is_empty(), "4728/4756 additions");
        let dns = "evtx-to-mitre-attack/TA0003-Persistence/T1098.xxx-Account manipulation/ID4732-DNSadmin new member added.evtx";
        let alerts = corpus_alerts(&[dns], META.id, &config);
        assert_eq!(alerts.len(), 1, "{alerts:#?}");
        assert!(alerts[0].description.contains("DnsAdmins"), "{}", alerts[0].description);
    }

    #[test]
    fn fires_on_samba_audit_of_the_lab_group_change() {
        let alerts = audit_alerts("group_membership_change", META.id, &DetectionConfig::default());
        assert_eq!(alerts.len(), 1, "{alerts:#?}");
        assert_eq!(alerts[0].severity, Severity::High);
        assert!(alerts[0].description.contains("Domain Admins"), "{}", alerts[0].description);
        assert_eq!(alerts[0].source.ip, Some("10.99.0.21".parse().unwrap()));
    }

    #[test]
    fn names_the_member_as_the_directory_does() {
        let config = crate::testing::extra::with_lab_directory(DetectionConfig::default());
        let alerts = audit_alerts("group_membership_change", META.id, &config);
        assert_eq!(alerts.len(), 1, "{alerts:#?}");
        let alert = &alerts[0];
        assert!(alert.description.contains(" added LAB\\bob to "), "{}", alert.description);
        assert_eq!(alert.targets.accounts.iter().collect::<Vec<_>>(), ["LAB\\bob"]);
        // Without a directory, the DN Samba's audit gave.
        let bare = audit_alerts("group_membership_change", META.id, &DetectionConfig::default());
        assert!(
            bare[0].description.contains(" added CN=Bob User,CN=Users,DC=lab,DC=test to "),
            "{}",
            bare[0].description
        );
    }

    #[test]
    fn silent_on_benign_logs() {
        assert_silent(META.id);
    }

    const DNSADMINS: &str = "evtx-to-mitre-attack/TA0003-Persistence/T1098.xxx-Account manipulation/ID4732-DNSadmin new member added.evtx";

    fn run(
        paths: &[std::path::PathBuf],
        config: &DetectionConfig,
        baseline: Option<&crate::Baseline>,
    ) -> crate::Engine {
        let mut engine = crate::Engine::new(config, "test");
        if let Some(baseline) = baseline {
            assert!(engine.restore(baseline).unwrap().is_empty());
        }
        for path in paths {
            for activity in crate::testing::logs::event_activities(path) {
                engine.observe(&activity);
            }
        }
        engine
    }

    fn raised(engine: crate::Engine) -> Vec<orthrus_model::Alert> {
        engine.finish().into_iter().filter(|a| a.detection == META.id).collect()
    }

    #[test]
    fn changes_seen_while_learning_are_silent_and_the_baseline_carries_them() {
        let lab = orthrus_testkit::fixture("audit/group_membership_change.audit.jsonl");
        let dnsadmins = orthrus_testkit::corpus().join(DNSADMINS);
        let learning = DetectionConfig::default()
            .with::<SensitiveGroups>(SensitiveGroupsConfig { learning_days: 28, ..Default::default() });
        // Learning: the lab's addition to Domain Admins raises nothing and is learned.
        let engine = run(std::slice::from_ref(&lab), &learning, None);
        let baseline = engine.baseline();
        assert!(raised(engine).is_empty());
        let state = baseline.detections[META.id].to_string();
        assert!(state.contains("domain admins") && state.contains("s-1-5-21-1246678650"), "{state}");

        // Saved, loaded: the same change is known; another modifier's change is not.
        let file = std::env::temp_dir().join(format!("orthrus-baseline-{}.json", std::process::id()));
        baseline.save(&file).unwrap();
        let loaded = crate::Baseline::load(&file).unwrap();
        std::fs::remove_file(&file).unwrap();
        assert_eq!(loaded, baseline);
        let config = DetectionConfig::default();
        assert!(raised(run(std::slice::from_ref(&lab), &config, Some(&loaded))).is_empty());
        let other = raised(run(std::slice::from_ref(&dnsadmins), &config, Some(&loaded)));
        assert_eq!(other.len(), 1, "{other:#?}");
        assert!(
            other[0].description.ends_with("DnsAdmins, a change not seen while learning."),
            "{}",
            other[0].description
        );
        // Without the baseline the lab's change alerts (low-threshold mode).
        assert_eq!(raised(run(&[lab], &config, None)).len(), 1);
    }

    #[test]
    fn a_baseline_that_does_not_fit_is_refused() {
        let mut baseline = crate::Engine::new(&DetectionConfig::default(), "test").baseline();
        baseline.detections.insert(META.id.into(), serde_json::json!({"changes": "not a list"}));
        let mut engine = crate::Engine::new(&DetectionConfig::default(), "test");
        let error = engine.restore(&baseline).unwrap_err().to_string();
        assert!(error.contains("ORT-EVT-001"), "{error}");
        baseline.detections.clear();
        baseline.detections.insert("ORT-XXX-999".into(), serde_json::json!({}));
        assert_eq!(engine.restore(&baseline).unwrap(), ["ORT-XXX-999"]);
    }

    #[test]
    fn an_unprivileged_modifier_is_high_with_the_directory() {
        // The corpus' DnsAdmins addition by OFFSEC\admmig, with a directory in which admmig is
        // an ordinary user: DnsAdmins alone is medium; a non-administrator granting it is high.
        let snapshot = crate::testing::logs::directory_of(
            "offsec.lan",
            "OFFSEC",
            serde_json::json!([{"kind": "user", "dn": "CN=admmig,CN=Users,DC=offsec,DC=lan",
                "sid": "S-1-5-21-1-2-3-1105", "sam_account_name": "admmig", "primary_group_id": 513, "usn_changed": 1}]),
        );
        let dnsadmins = orthrus_testkit::corpus().join(DNSADMINS);
        let plain = raised(run(std::slice::from_ref(&dnsadmins), &DetectionConfig::default(), None));
        assert_eq!(plain[0].severity, Severity::Medium);
        let config = DetectionConfig {
            directory: Arc::new(orthrus_directory::Directory::new(snapshot.clone(), &Default::default())),
            ..DetectionConfig::default()
        };
        let alerts = raised(run(std::slice::from_ref(&dnsadmins), &config, None));
        assert_eq!(alerts.len(), 1, "{alerts:#?}");
        assert_eq!(alerts[0].severity, Severity::High);
        assert!(alerts[0].description.starts_with("OFFSEC\\admmig, not itself an administrator, added"));
        // Tagged sensitive, the same modifier is an administrator: medium again.
        let tags =
            orthrus_directory::EntityTags { sensitive: vec!["OFFSEC\\admmig".into()], ..Default::default() };
        let config = DetectionConfig {
            directory: Arc::new(orthrus_directory::Directory::new(snapshot, &tags)),
            ..DetectionConfig::default()
        };
        assert_eq!(raised(run(&[dnsadmins], &config, None))[0].severity, Severity::Medium);
    }
}
