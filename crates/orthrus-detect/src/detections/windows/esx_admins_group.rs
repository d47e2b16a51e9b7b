//! ORT-EVT-016 — ESXi admin group created (CVE-2024-37085).
//!
//! - Attack: an ESXi host joined to Active Directory (before ESXi 8.0 U3) gives full
//!   administrator rights to every member of a domain group named `ESX Admins`, found by
//!   name, not SID, and whether or not it existed when the host joined. Whoever may create
//!   or rename a group (Account Operators, a delegated OU admin, a compromised helpdesk
//!   account) creates one of that name, or renames one they control, adds themselves, and
//!   logs on to every domain-joined hypervisor; ransomware crews used it in 2024.
//! - ATT&CK: T1136.002 (Create Account: Domain Account), T1098 (Account Manipulation). MDI:
//!   Suspicious creation of ESXi group (preview, July 2024; no external id).
//! - Data: events 4727/4731/4754 (security group created), 4737/4735/4755 (group changed:
//!   `SamAccountName` when renamed); 5137 of a `group` object and 5136 on `sAMAccountName`;
//!   Samba's audit of a group added (read as 5137) or of its `sAMAccountName` written.
//! - Logic: a group created with, or renamed to, the name `ESX Admins` (case-insensitive,
//!   as ESXi compares it) → one alert per group and quiet gap `window_secs` (config
//!   `[esx_admins_group]`); a DC logging the same creation as 4727 and 5137 gives one alert.
//!   Medium: VMware documents the group as the default way to grant ESXi administration, so
//!   an organisation may create it on purpose; an attacker needs only that right.
//! - Thresholds: `window_secs = 3600`.
//! - Benign: the virtualisation team creating the group it means to use (exclude its
//!   accounts, `exclude_actors`); hosts patched or set to another group name
//!   (`Config.HostAgent.plugins.hostsvc.esxAdminsGroup`) are not exposed by it.
//! - Gaps: hosts configured with another group name are not watched for that name; a
//!   rename through the CN alone (LDAP modrdn) without `sAMAccountName` is not read.
//! - Evidence: actor, group, how it got the name, the record.

use orthrus_directory::ad::rdn_value;
use orthrus_model::{
    AccountAction, AccountChange, AccountRef, Activity, ActivityKind, AlertTargets, DirectoryChange,
    DirectoryOperation,
};

use crate::EventRuleConfig;
use crate::names::{actor_in, logged_on};
use crate::window::Incidents;
use crate::{Alerts, Context, Detection, DetectionMeta, Detector, Finding};

pub static META: DetectionMeta = DetectionMeta {
    id: "ORT-EVT-016",
    title: "ESXi admin group created",
    mdi: "Suspicious creation of ESXi group (preview)",
    external_id: 9016,
    cef_app: "AccountManagement",
    tactic: "TA0004",
    techniques: &["T1136.002", "T1098"],
    data_sources: &[
        "events 4727/4731/4754 (security group created), 4735/4737/4755 (group renamed)",
        "events 5137/5136 on a group; Samba's audit of a group added or its sAMAccountName written",
    ],
    base_severity: orthrus_model::Severity::Medium,
    escalates_for_sensitive: false,
    config_section: "esx_admins_group",
    meaning: "A domain group named ESX Admins was created, or a group was renamed to it.",
    impact: "Unpatched domain-joined ESXi hosts (CVE-2024-37085) give full administrator rights to its members.",
    actions: &[
        "Check with the virtualisation team whether the group was meant to exist.",
        "If not, delete it and review who was added to it and who logged on to the ESXi hosts since.",
        "Patch ESXi (8.0 U3 or later) or set Config.HostAgent.plugins.hostsvc.esxAdminsGroupAutoAdd to false.",
    ],
};

/// The group name ESXi trusts by default (compared case-insensitively).
const ESX_ADMINS: &str = "ESX Admins";

impl Detection for EsxAdminsGroup {
    type Settings = EventRuleConfig;
    const META: &'static DetectionMeta = &META;

    fn new(settings: &Self::Settings) -> Self {
        EsxAdminsGroup { incidents: Incidents::new(settings.window_secs), config: settings.clone() }
    }
}

pub struct EsxAdminsGroup {
    config: EventRuleConfig,
    incidents: Incidents<String>,
}

impl Detector for EsxAdminsGroup {
    fn observe(&mut self, activity: &Activity, context: &Context, alerts: &mut Alerts<'_>) {
        let named = match &activity.kind {
            ActivityKind::AccountChanged(change) => from_account_event(change),
            ActivityKind::DirectoryObjectChanged(change) => from_directory_change(change),
            _ => None,
        };
        let Some(Named { subject, group, how }) = named else { return };
        if self.config.excludes_actor(subject) {
            return;
        }
        let actor = actor_in(subject, context.directory());
        let key = group.to_lowercase();
        let finding = Finding {
            severity: META.base_severity,
            description: format!(
                "{actor} {how} on {}. Domain-joined ESXi hosts before 8.0 U3 make every member of a group of this name an administrator (CVE-2024-37085).",
                logged_on(activity)
            ),
            source: Finding::source_of(activity, Some(actor.clone())),
            targets: AlertTargets { accounts: [group.clone()].into(), ..AlertTargets::default() },
        };
        let incident = self.incidents.record(&key, activity, format!("{actor} {how}"));
        alerts.raise(activity, &key, incident, finding);
    }
}

/// A group that got the ESX Admins name: who did it, the group, and how.
struct Named<'a> {
    subject: &'a AccountRef,
    group: String,
    how: String,
}

fn is_esx_admins(name: &str) -> bool {
    name.trim().eq_ignore_ascii_case(ESX_ADMINS)
}

/// 4727/4731/4754 (created) and 4735/4737/4755 (its `SamAccountName` set).
fn from_account_event(change: &AccountChange) -> Option<Named<'_>> {
    let renamed_to = change.changes.get("SamAccountName").filter(|name| is_esx_admins(name));
    let how = match change.action {
        AccountAction::GroupCreated if is_esx_admins(&change.target.name) || renamed_to.is_some() => {
            format!("created the group {}", change.target.name)
        }
        AccountAction::GroupChanged => format!("named a group {}", renamed_to?),
        _ => return None,
    };
    let group = renamed_to.cloned().unwrap_or_else(|| change.target.name.clone());
    Some(Named { subject: &change.subject, group, how })
}

/// 5137 of a group named so, or 5136 writing the name as a group's `sAMAccountName` (an
/// object of unknown class counts: Samba's audit of a modification does not give it).
fn from_directory_change(change: &DirectoryChange) -> Option<Named<'_>> {
    let class = change.class.as_deref().unwrap_or_default();
    let group_or_unknown = class.is_empty() || class.eq_ignore_ascii_case("group");
    if !group_or_unknown {
        return None;
    }
    let how = match change.operation {
        DirectoryOperation::Created if is_esx_admins(rdn_value(&change.dn)) => {
            format!("created the group {}", change.dn)
        }
        DirectoryOperation::Modified
            if change.value_added != Some(false)
                && change.attribute.as_deref().is_some_and(|a| a.eq_ignore_ascii_case("sAMAccountName"))
                && change.value.as_deref().is_some_and(is_esx_admins) =>
        {
            format!("named the group {} {ESX_ADMINS}", change.dn)
        }
        _ => return None,
    };
    Some(Named { subject: &change.subject, group: ESX_ADMINS.to_owned(), how })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]

    use super::*;
    use crate::DetectionConfig;
    use crate::testing::extra::{alerts_of, extra_audit_alerts};
    use crate::testing::logs::{assert_silent, event_activities};

    /// The real security.evtx of the corpus creates local groups at setup (4731, then 4735
    /// with their SamAccountName): read as group creations and changes.
    fn real_group_events() -> Vec<Activity> {
        let log = orthrus_testkit::corpus().join("evtx-rs-samples/security.evtx");
        event_activities(&log)
            .into_iter()
            .filter(|a| {
                matches!(&a.kind, ActivityKind::AccountChanged(c)
                    if matches!(c.action, AccountAction::GroupCreated | AccountAction::GroupChanged))
            })
            .collect()
    }

    #[test]
    fn windows_group_events_read_as_creations_and_renames() {
        let events = real_group_events();
        assert_eq!(events.len(), 7 + 36, "the 4731 and 4735 records of the log");
        let ActivityKind::AccountChanged(created) = &events[0].kind else { unreachable!() };
        assert_eq!(created.action, AccountAction::GroupCreated);
        assert_eq!(created.target.name, "Backup Operators");
        assert_eq!(created.target.sid.as_deref(), Some("S-1-5-32-551"));
        assert!(!created.computer);
        // None is named ESX Admins: nothing to say about them.
        assert!(alerts_of(events.clone(), META.id, &DetectionConfig::default()).is_empty());
        // The same records, one creating a group named esx admins, one renaming another to it.
        let mut named = events;
        for activity in &mut named {
            if let ActivityKind::AccountChanged(change) = &mut activity.kind {
                if change.action == AccountAction::GroupCreated && change.target.name == "Backup Operators" {
                    change.target.name = "esx admins".into();
                }
                if change.action == AccountAction::GroupChanged && change.target.name == "Users" {
                    change.changes.insert("SamAccountName".into(), "ESX Admins".into());
                }
            }
        }
        let alerts = alerts_of(named, META.id, &DetectionConfig::default());
        assert_eq!(alerts.len(), 1, "one group of that name: {alerts:#?}");
        let said: Vec<&str> = alerts[0].evidence.iter().map(|e| e.summary.as_str()).collect();
        assert!(said.iter().any(|s| s.ends_with("created the group esx admins")), "{said:#?}");
        assert!(said.iter().any(|s| s.ends_with("named a group ESX Admins")), "{said:#?}");
    }

    #[test]
    fn fires_on_the_group_created_on_the_lab_dc() {
        // da_admin's password used from 10.99.0.21: the group created, then bob added.
        let alerts = extra_audit_alerts("esx_admins_group", META.id, &DetectionConfig::default());
        assert_eq!(alerts.len(), 1, "{alerts:#?}");
        let alert = &alerts[0];
        assert_eq!(alert.source.ip, Some("10.99.0.21".parse().unwrap()));
        assert!(
            alert.description.starts_with("LAB\\da_admin created the group CN=ESX Admins,CN=Users,"),
            "{}",
            alert.description
        );
        assert!(alert.targets.accounts.contains("ESX Admins"), "{:?}", alert.targets);
        let mut config = DetectionConfig::default();
        config.settings_mut::<EsxAdminsGroup>().exclude_actors = vec!["da_admin".into()];
        assert!(extra_audit_alerts("esx_admins_group", META.id, &config).is_empty());
    }

    #[test]
    fn fires_on_a_group_renamed_on_the_lab_dc() {
        let alerts = extra_audit_alerts("esx_admins_renamed", META.id, &DetectionConfig::default());
        assert_eq!(alerts.len(), 1, "{alerts:#?}");
        assert!(
            alerts[0].description.starts_with("LAB\\da_admin named the group CN=VM Operators,CN=Users,"),
            "{}",
            alerts[0].description
        );
    }

    #[test]
    fn silent_on_lookalike_names_and_benign_logs() {
        for name in ["benign_esx_lookalike_group", "delegation_backdoor", "benign_gpo_security_filtering"] {
            let alerts = extra_audit_alerts(name, META.id, &DetectionConfig::default());
            assert!(alerts.is_empty(), "{name}: {alerts:#?}");
        }
        assert_silent(META.id);
    }
}
