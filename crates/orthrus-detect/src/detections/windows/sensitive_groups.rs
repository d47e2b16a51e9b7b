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
//!   give no SID), plus `extra_groups`. MDI learns who usually changes which group for four
//!   weeks; Orthrus has no learning period yet, so every such addition alerts. One alert per
//!   actor and quiet gap `window_secs`; High for Domain/Enterprise/Schema Admins and
//!   Administrators.
//! - Thresholds: `window_secs = 3600` (config `[sensitive_groups]`).
//! - Benign: onboarding of a new administrator; exclude the provisioning account
//!   (`exclude_actors`).
//! - Evidence: each addition: actor, group, member, DC.

use std::collections::BTreeSet;
use std::net::IpAddr;

use orthrus_model::{Activity, ActivityKind, AlertTargets, Severity};
use serde::Deserialize;

use super::{Finding, NamedEpisodes, logged_on};
use crate::detections::kerberos::{account_key, name_list};
use crate::{AlertUpdate, DetectionConfig, DetectionMeta, Detector};

pub static META: DetectionMeta = DetectionMeta {
    id: "ORT-EVT-001",
    title: "Suspicious additions to sensitive groups",
    mdi: "Suspicious additions to sensitive groups (2024)",
    tactic: "TA0003",
    techniques: &["T1098"],
    data_sources: &["events 4728/4732/4756 (member added)", "Samba group-change audit"],
    base_severity: Severity::Medium,
    escalates_for_sensitive: false,
    config_section: "sensitive_groups",
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
            extra_groups: Vec::new(),
            exclude_actors: Vec::new(),
            exclude_sources: Vec::new(),
        }
    }
}

impl SensitiveGroupsConfig {
    pub fn thresholds(&self) -> Vec<(&'static str, String)> {
        vec![("window_secs", self.window_secs.to_string())]
    }
}

pub fn build(config: &DetectionConfig) -> Box<dyn Detector> {
    let c = &config.sensitive_groups;
    Box::new(SensitiveGroups {
        extra: c.extra_groups.iter().map(|g| account_key(g)).collect(),
        excluded: c.exclude_actors.iter().map(|a| account_key(a)).collect(),
        episodes: NamedEpisodes::new(c.window_secs),
    })
}

pub struct SensitiveGroups {
    extra: Vec<String>,
    excluded: Vec<String>,
    /// Names in an episode: `group:<name>` and `member:<name>`.
    episodes: NamedEpisodes,
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
    fn meta(&self) -> &'static DetectionMeta {
        &META
    }

    fn observe(&mut self, activity: &Activity, updates: &mut Vec<AlertUpdate>) {
        let ActivityKind::GroupMembershipChanged(change) = &activity.kind else { return };
        if !change.added {
            return;
        }
        let Some(critical) = classify(&change.group.name, change.group.sid.as_deref(), &self.extra) else {
            return;
        };
        // A local account managing a computer's own groups (a workgroup machine, a member
        // server's local Administrators) is host administration, not the domain's: a DC has
        // no local accounts.
        let computer = activity.destination_host.as_deref().map(super::host_key).unwrap_or_default();
        let actor_domain = change.subject.domain.as_deref().map(str::to_lowercase).unwrap_or_default();
        if !computer.is_empty() && (actor_domain == computer || actor_domain == "workgroup") {
            return;
        }
        let actor = if change.subject.name.is_empty() {
            change.subject.sid.clone().unwrap_or_else(|| "an unknown account".into())
        } else {
            change.subject.qualified()
        };
        let key = account_key(&actor);
        if self.excluded.contains(&account_key(&change.subject.name)) {
            return;
        }
        let member = if change.member.name.is_empty() {
            change.member.sid.clone().unwrap_or_default()
        } else {
            change.member.name.clone()
        };
        let dc = logged_on(activity);
        let names = self.episodes.add(
            &key,
            activity.time,
            [format!("group:{}", change.group.name), format!("member:{member}")],
        );
        let of = |prefix: &str| -> BTreeSet<String> {
            names.iter().filter_map(|n| n.strip_prefix(prefix)).map(str::to_owned).collect()
        };
        let (groups, members) = (of("group:"), of("member:"));
        let finding = Finding {
            key,
            summary: format!("{actor} added {member} to {} on {dc}", change.group.name),
            description: format!(
                "{actor} added {} to the sensitive group{} {}.",
                name_list(members.iter(), 3),
                if groups.len() == 1 { "" } else { "s" },
                name_list(groups.iter(), 5),
            ),
            severity: if critical { Severity::High } else { META.base_severity },
            actor: Some(actor),
            targets: AlertTargets { accounts: members, ..AlertTargets::default() },
        };
        self.episodes.raise(&META, activity, finding, updates);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detections::windows::testing::{assert_silent, audit_alerts, corpus_alerts};

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
    fn silent_on_benign_logs() {
        assert_silent(META.id);
    }
}
