//! ORT-EVT-014 — Massive object deletion.
//!
//! - Attack: an attacker with directory rights deletes accounts wholesale — sabotage before
//!   ransomware, or cover for what they did — and the domain's users, computers and groups
//!   are gone until someone restores them from the recycle bin or a backup.
//! - ATT&CK: T1485 (Data Destruction), T1531 (Account Access Removal). MDI: ATA's "Massive
//!   object deletion" (2016), no longer in Defender for Identity; ATA's sample: "496 objects
//!   (9.75% of total AD objects) were deleted".
//! - Data: events 4726 (user deleted), 4743 (computer deleted), 4730/4734/4758 (security group
//!   deleted), 5141 (directory object deleted); Samba's audit of an object deleted (read as
//!   5141); the directory snapshot's count of accounts.
//! - Logic: per acting account, the distinct accounts it deleted within `window_secs` (the
//!   larger of what account events and what directory events show, as a DC may log one, the
//!   other or both for each deletion; DNS records and other non-account objects not counted).
//!   At least `min_objects` of them and, with a directory, at least `min_share_percent` % of
//!   its accounts (users, computers, groups, service accounts) → Medium, one alert per actor
//!   and quiet gap `window_secs` (config `[massive_deletion]`). Without a directory only
//!   `min_objects` is judged, and the alert says so.
//! - Thresholds: `window_secs = 3600` (ATA's hour); `min_share_percent = 5` (ATA's rule: more
//!   than 5 % of the domain's accounts); `min_objects = 25`: a person cleaning up by hand
//!   removes a few departed users or stale computers at a time, and in a small domain 5 % is
//!   a handful of objects such a cleanup removes.
//! - Benign: scripted cleanups of stale computers or departed users, and migrations that
//!   remove a source domain's objects (exclude their accounts, `exclude_actors`).
//! - Gaps: deletions by several accounts at once are judged per account.
//! - Evidence: actor, the accounts deleted, the domain's account count.

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::net::IpAddr;

use orthrus_directory::ad::rdn_value;
use orthrus_model::{
    AccountAction, AccountRef, Activity, ActivityKind, AlertTargets, DirectoryOperation, Severity, Timestamp,
};
use serde::Deserialize;

use crate::names::{actor_in, logged_on, name_list};
use crate::window::Incidents;
use crate::{Alerts, Context, Detection, DetectionMeta, Detector, Finding, Settings};

pub static META: DetectionMeta = DetectionMeta {
    id: "ORT-EVT-014",
    title: "Massive object deletion",
    mdi: "Massive object deletion (ATA, 2016)",
    external_id: 9014,
    cef_app: "DirectoryServices",
    tactic: "TA0040",
    techniques: &["T1485", "T1531"],
    data_sources: &[
        "events 4726/4743 (user, computer deleted), 4730/4734/4758 (group deleted), 5141",
        "Samba's audit of an object deleted; the directory snapshot's account count",
    ],
    base_severity: Severity::Medium,
    escalates_for_sensitive: false,
    config_section: "massive_deletion",
    meaning: "One account deleted a large share of the domain's users, computers and groups within an hour.",
    impact: "People and services lose access until the objects are restored; it can be sabotage, or the prelude to ransomware.",
    actions: &[
        "Check whether a planned cleanup or migration ran under this account.",
        "If not, disable the account, then restore the objects from the AD recycle bin (Restore-ADObject) or a backup.",
        "Review what else the account changed.",
    ],
};

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MassiveDeletionConfig {
    /// Sliding window, event time.
    pub window_secs: u64,
    /// Share of the directory's accounts one actor must delete in the window (percent).
    pub min_share_percent: f64,
    /// Accounts one actor must delete in the window, whatever the share.
    pub min_objects: usize,
    /// Acting accounts never alerted on (cleanup and migration service accounts).
    pub exclude_actors: Vec<String>,
    pub exclude_sources: Vec<IpAddr>,
}

impl Default for MassiveDeletionConfig {
    fn default() -> Self {
        Self {
            window_secs: 3600,
            min_share_percent: 5.0,
            min_objects: 25,
            exclude_actors: Vec::new(),
            exclude_sources: Vec::new(),
        }
    }
}

impl Settings for MassiveDeletionConfig {
    fn exclude_sources(&self) -> &[IpAddr] {
        &self.exclude_sources
    }

    fn thresholds(&self) -> Vec<(&'static str, String)> {
        vec![
            ("window_secs", self.window_secs.to_string()),
            ("min_share_percent", self.min_share_percent.to_string()),
            ("min_objects", self.min_objects.to_string()),
        ]
    }
}

impl Detection for MassiveDeletion {
    type Settings = MassiveDeletionConfig;
    const META: &'static DetectionMeta = &META;

    fn new(settings: &Self::Settings) -> Self {
        MassiveDeletion {
            config: settings.clone(),
            actors: HashMap::new(),
            incidents: Incidents::new(settings.window_secs),
        }
    }
}

/// Actors followed at once; past it, those with nothing left in their window are dropped.
const MAX_ACTORS: usize = 10_000;
/// Deletions kept per actor and view: far past any threshold, a bound against a flood.
const MAX_KEPT: usize = 100_000;

pub struct MassiveDeletion {
    config: MassiveDeletionConfig,
    actors: HashMap<String, Deletions>,
    incidents: Incidents<String>,
}

/// One actor's deletions in the window, as account events and as directory events show them.
#[derive(Default)]
struct Deletions {
    by_account_events: Window,
    by_directory_events: Window,
}

/// Distinct objects deleted (by identity, with the name to show), oldest first.
#[derive(Default)]
struct Window {
    order: VecDeque<(Timestamp, String, String)>,
    names: BTreeSet<String>,
}

impl Window {
    fn add(&mut self, time: Timestamp, deleted: Deleted<'_>, window_secs: u64) {
        self.expire(time, window_secs);
        if self.names.len() < MAX_KEPT && self.names.insert(deleted.object.clone()) {
            self.order.push_back((time, deleted.object, deleted.name));
        }
    }

    fn expire(&mut self, now: Timestamp, window_secs: u64) {
        let window = i64::try_from(window_secs).unwrap_or(i64::MAX);
        while let Some((time, object, _)) = self.order.front() {
            if time.saturating_add_secs(window) >= now {
                break;
            }
            self.names.remove(object);
            self.order.pop_front();
        }
    }
}

/// An account deleted: by whom, which (a SID, name or DN) and its name, and which view it
/// came from.
struct Deleted<'a> {
    subject: &'a AccountRef,
    object: String,
    name: String,
    from_account_event: bool,
}

impl Detector for MassiveDeletion {
    fn observe(&mut self, activity: &Activity, context: &Context, alerts: &mut Alerts<'_>) {
        let Some(deleted) = deleted(&activity.kind) else { return };
        if crate::names::lists_actor(&self.config.exclude_actors, deleted.subject) {
            return;
        }
        let directory = context.directory();
        let actor = actor_in(deleted.subject, directory);
        let key = actor.to_lowercase();
        if self.actors.len() >= MAX_ACTORS && !self.actors.contains_key(&key) {
            let (now, window) = (activity.time, self.config.window_secs);
            self.actors.retain(|_, d| {
                d.by_account_events.expire(now, window);
                d.by_directory_events.expire(now, window);
                !(d.by_account_events.names.is_empty() && d.by_directory_events.names.is_empty())
            });
        }
        let deletions = self.actors.entry(key.clone()).or_default();
        let view = if deleted.from_account_event {
            &mut deletions.by_account_events
        } else {
            &mut deletions.by_directory_events
        };
        let time = activity.time;
        view.add(time, deleted, self.config.window_secs);
        let larger = if deletions.by_account_events.names.len() >= deletions.by_directory_events.names.len() {
            &deletions.by_account_events
        } else {
            &deletions.by_directory_events
        };
        let count = larger.names.len();
        if count < self.config.min_objects {
            return;
        }
        let accounts = directory.accounts();
        let share = (accounts > 0).then(|| count as f64 * 100.0 / accounts as f64);
        if share.is_some_and(|share| share < self.config.min_share_percent) {
            return;
        }
        let of_domain = match share {
            Some(share) => format!(" ({share:.1} % of the directory's {accounts} accounts)"),
            None => " (no directory to compare with the domain's size)".to_owned(),
        };
        let finding = Finding {
            severity: META.base_severity,
            description: format!(
                "{actor} deleted {count} accounts within {} minutes on {}{of_domain}: {}.",
                self.config.window_secs / 60,
                logged_on(activity),
                name_list(larger.order.iter().map(|(_, _, name)| name), 10)
            ),
            source: Finding::source_of(activity, Some(actor.clone())),
            targets: AlertTargets::default(),
        };
        let incident = self.incidents.record(&key, activity, format!("{actor} deleted {count} accounts"));
        alerts.raise(activity, &key, incident, finding);
    }
}

/// An account deleted, as account events (4726, 4743, 4730/4734/4758) or directory events
/// (5141; Samba's audit) show it. DNS records, OUs and other objects are not accounts.
fn deleted(kind: &ActivityKind) -> Option<Deleted<'_>> {
    match kind {
        ActivityKind::AccountChanged(change)
            if matches!(change.action, AccountAction::Deleted | AccountAction::GroupDeleted) =>
        {
            let object = change.target.sid.clone().unwrap_or_else(|| change.target.name.to_lowercase());
            let name = change.target.name.clone();
            Some(Deleted { subject: &change.subject, object, name, from_account_event: true })
        }
        ActivityKind::DirectoryObjectChanged(change) if change.operation == DirectoryOperation::Deleted => {
            let class = change.class.as_deref().unwrap_or_default().to_ascii_lowercase();
            let account_class = matches!(
                class.as_str(),
                "" | "user"
                    | "computer"
                    | "group"
                    | "inetorgperson"
                    | "msds-managedserviceaccount"
                    | "msds-groupmanagedserviceaccount"
            );
            let dn = change.dn.to_lowercase();
            let dns = dn.contains("cn=microsoftdns")
                || dn.contains("dc=domaindnszones")
                || dn.contains("dc=forestdnszones");
            (account_class && !dns && !dn.is_empty()).then(|| Deleted {
                subject: &change.subject,
                object: dn.clone(),
                name: rdn_value(&change.dn).to_owned(),
                from_account_event: false,
            })
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]

    use super::*;
    use crate::DetectionConfig;
    use crate::testing::extra::{extra_audit_alerts, with_lab_directory, with_recording_directory};
    use crate::testing::logs::assert_silent;

    #[test]
    fn fires_on_a_departments_accounts_deleted_at_once() {
        // da_admin's password used from 10.99.0.21 deletes sales001…sales030.
        let config = with_lab_directory(DetectionConfig::default());
        let alerts = extra_audit_alerts("mass_account_deletion", META.id, &config);
        assert_eq!(alerts.len(), 1, "{alerts:#?}");
        let alert = &alerts[0];
        assert_eq!(alert.severity, Severity::Medium);
        assert_eq!(alert.source.ip, Some("10.99.0.21".parse().unwrap()));
        assert!(
            alert.description.starts_with(
                "LAB\\da_admin deleted 30 accounts within 60 minutes on DC1 (44.1 % of the directory's 68 accounts): \
                 sales001, sales002,"
            ),
            "{}",
            alert.description
        );
        // Without a directory the count alone decides, and the alert says so.
        let blind = extra_audit_alerts("mass_account_deletion", META.id, &DetectionConfig::default());
        assert_eq!(blind.len(), 1, "{blind:#?}");
        assert!(blind[0].description.contains("no directory"), "{}", blind[0].description);
        // Under the count nothing is said.
        let mut config = with_lab_directory(DetectionConfig::default());
        config.settings_mut::<MassiveDeletion>().min_objects = 31;
        assert!(extra_audit_alerts("mass_account_deletion", META.id, &config).is_empty());
        config.settings_mut::<MassiveDeletion>().min_objects = 25;
        config.settings_mut::<MassiveDeletion>().exclude_actors = vec!["da_admin".into()];
        assert!(extra_audit_alerts("mass_account_deletion", META.id, &config).is_empty());
    }

    #[test]
    fn a_cleanup_under_five_percent_of_the_domain_is_silent() {
        // The same 30 deletions in a domain of 736 accounts: 4 %.
        let config = with_recording_directory("benign_account_cleanup", DetectionConfig::default());
        assert!(extra_audit_alerts("benign_account_cleanup", META.id, &config).is_empty());
        // At a lower share it would be one.
        let mut lower = config;
        lower.settings_mut::<MassiveDeletion>().min_share_percent = 3.0;
        assert_eq!(extra_audit_alerts("benign_account_cleanup", META.id, &lower).len(), 1);
    }

    #[test]
    fn dns_records_and_other_objects_are_not_accounts() {
        use orthrus_model::{DirectoryChange, DirectoryOperation};
        let subject = AccountRef { name: "da_admin".into(), domain: None, sid: None };
        let change = |dn: &str, class: Option<&str>| {
            ActivityKind::DirectoryObjectChanged(DirectoryChange {
                subject: subject.clone(),
                operation: DirectoryOperation::Deleted,
                dn: dn.into(),
                class: class.map(str::to_owned),
                attribute: None,
                value: None,
                value_added: None,
            })
        };
        assert!(
            deleted(&change("DC=ws01,DC=lab.test,CN=MicrosoftDNS,DC=DomainDnsZones,DC=lab,DC=test", None))
                .is_none()
        );
        assert!(deleted(&change("OU=Old,DC=lab,DC=test", Some("organizationalUnit"))).is_none());
        assert!(deleted(&change("CN=alice,CN=Users,DC=lab,DC=test", Some("user"))).is_some());
        assert!(deleted(&change("CN=alice,CN=Users,DC=lab,DC=test", None)).is_some());
    }

    #[test]
    fn silent_on_benign_logs() {
        for name in ["esx_admins_group", "benign_esx_lookalike_group", "delegation_backdoor"] {
            assert!(extra_audit_alerts(name, META.id, &DetectionConfig::default()).is_empty(), "{name}");
        }
        assert_silent(META.id);
    }
}
