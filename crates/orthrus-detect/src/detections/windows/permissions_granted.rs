//! ORT-EVT-022 — Dangerous rights granted on the domain or a Group Policy object.
//!
//! - Attack: whoever can write a sensitive object's DACL leaves a backdoor in it. Replication
//!   rights (DS-Replication-Get-Changes and -All) on the domain object let an account DCSync
//!   whenever it likes — ntlmrelayx's `--escalate-user` writes them with a relayed machine
//!   account, as PrivExchange did with Exchange's; full control, WriteDacl or WriteOwner on
//!   the domain hand over all of it. Write rights on a Group Policy object let an account push
//!   settings, scheduled tasks and scripts to every computer the GPO applies to
//!   (SharpGPOAbuse, pyGPOAbuse).
//! - ATT&CK: T1222.001 (Permissions Modification), T1484.001 (Group Policy Modification),
//!   T1003.006 (DCSync). MDI has no such alert (its AdminSDHolder alert guards the third such
//!   object: ORT-EVT-004); Orthrus extension.
//! - Data: 5136 on `nTSecurityDescriptor` (audit "Directory Service Changes", with the SACL
//!   on the domain object and its Policies container that `mdi-model.md` lists): a Windows DC
//!   logs the SDDL before (value deleted) and after (value added); Samba's audit logs the new
//!   descriptor, binary.
//! - Logic: the ACEs the change added — against the descriptor before when it was logged,
//!   else every ACE of the new one (Samba) — that allow, to a trustee other than the built-in
//!   administrators, SYSTEM, the DCs, Creator Owner and Self: on the domain object,
//!   replication rights, all extended rights, full control, WriteDacl, WriteOwner or write of
//!   all properties (on the object or inherited by its descendants); on a Group Policy object,
//!   full control, write, WriteDacl or WriteOwner. High for the domain, or when the writer is
//!   a machine account (relayed authentication); Medium for a GPO (teams are delegated GPO
//!   editing). One alert per object and quiet gap `window_secs` (config
//!   `[permissions_granted]`). AdminSDHolder is ORT-EVT-004's.
//! - Thresholds: `window_secs = 3600`.
//! - Benign: Entra Connect's setup giving its MSOL_ account replication rights (a trustee the
//!   directory names MSOL_… is not alerted); delegating a GPO to its editors (exclude the
//!   administrators who do, `exclude_actors`); read-and-apply grants for security filtering
//!   (no write: not judged).
//! - Evidence: writer, object, each right granted and to whom.

use std::collections::{BTreeSet, HashMap, HashSet};

use orthrus_directory::security::{self, Ace, INHERIT_ONLY, right};
use orthrus_model::{Activity, ActivityKind, AlertTargets, DirectoryChange, DirectoryOperation, Severity};

use crate::EventRuleConfig;
use crate::names::{actor_in, directory_name, is_entra_sync_account, logged_on, name_list};
use crate::window::Incidents;
use crate::{Alerts, Context, Detection, DetectionMeta, Detector, Finding};

pub static META: DetectionMeta = DetectionMeta {
    id: "ORT-EVT-022",
    title: "Dangerous rights granted on the domain or a Group Policy object",
    mdi: "none (Orthrus extension)",
    external_id: 9022,
    cef_app: "DirectoryChangeEvent",
    tactic: "TA0003",
    techniques: &["T1222.001", "T1484.001", "T1003.006"],
    data_sources: &[
        "event 5136 on nTSecurityDescriptor of the domain object or a GPO (SDDL; Samba's audit, binary)",
    ],
    base_severity: Severity::Medium,
    escalates_for_sensitive: false,
    config_section: "permissions_granted",
    meaning: "Rights were granted on the domain object (replication, full control, WriteDacl, WriteOwner) or on a Group Policy object (write) to an account that is not a built-in administrator.",
    impact: "With replication rights an account can DCSync every password hash; with write on a GPO it runs code on every computer the GPO applies to.",
    actions: &[
        "Check the grant against planned work (Entra Connect setup, GPO delegation).",
        "If unexplained, remove the ACEs, and investigate the writer and the account given the rights.",
        "Look for replication (ORT-DRS-001) or GPO changes (ORT-EVT-011) by that account since.",
    ],
};

/// Replication extended rights (MS-ADTS 5.1.3.2.1): DS-Replication-Get-Changes, -All and
/// -In-Filtered-Set.
const REPLICATION: [&str; 3] = [
    "1131f6aa-9c07-11d1-f79f-00c04fc2dcd2",
    "1131f6ad-9c07-11d1-f79f-00c04fc2dcd2",
    "89e95b76-444d-4c62-991a-0facbeda640c",
];

/// Descriptors remembered from the 5136 that deleted them, at most: Windows logs the old
/// value just before the new one, so a handful suffice; each is up to tens of KiB.
const MAX_REMEMBERED: usize = 64;

#[derive(Clone, Copy, PartialEq)]
enum Guarded {
    Domain,
    GroupPolicy,
}

impl Detection for PermissionsGranted {
    type Settings = EventRuleConfig;
    const META: &'static DetectionMeta = &META;

    fn new(settings: &Self::Settings) -> Self {
        PermissionsGranted {
            incidents: Incidents::new(settings.window_secs),
            before: HashMap::new(),
            config: settings.clone(),
        }
    }
}

pub struct PermissionsGranted {
    config: EventRuleConfig,
    incidents: Incidents<String>,
    /// The descriptor a 5136 deleted, by object DN (lower case): the value before the change.
    before: HashMap<String, HashSet<Ace>>,
}

impl Detector for PermissionsGranted {
    fn observe(&mut self, activity: &Activity, context: &Context, alerts: &mut Alerts<'_>) {
        let ActivityKind::DirectoryObjectChanged(change) = &activity.kind else { return };
        let descriptor =
            change.attribute.as_deref().is_some_and(|a| a.eq_ignore_ascii_case("nTSecurityDescriptor"));
        if !descriptor || change.operation != DirectoryOperation::Modified {
            return;
        }
        let Some(guarded) = guarded(change) else { return };
        let Some(aces) = change.value.as_deref().and_then(security::dacl_from_value) else { return };
        let dn = change.dn.to_lowercase();
        if change.value_added == Some(false) {
            if self.before.len() >= MAX_REMEMBERED {
                self.before.clear();
            }
            self.before.insert(dn, aces.into_iter().collect());
            return;
        }
        let before = self.before.remove(&dn).unwrap_or_default();
        let directory = context.directory();
        let mut granted = BTreeSet::new();
        let mut trustees = BTreeSet::new();
        for ace in aces.iter().filter(|ace| ace.allow && !before.contains(ace)) {
            let Some(what) = dangerous(guarded, ace) else { continue };
            if security::is_builtin_administrator(&ace.trustee) {
                continue;
            }
            let trustee = directory_name(&ace.trustee, directory);
            if is_entra_sync_account(&trustee) {
                continue;
            }
            granted.insert(format!("{what} to {trustee}"));
            trustees.insert(trustee);
        }
        if granted.is_empty() || self.config.excludes_actor(&change.subject) {
            return;
        }
        let writer = actor_in(&change.subject, directory);
        let machine = change.subject.is_machine();
        let all = self.incidents.named(&dn, activity.time, granted.iter().cloned());
        let object = match guarded {
            Guarded::Domain => format!("the domain object {}", change.dn),
            Guarded::GroupPolicy => format!("the Group Policy object {}", change.dn),
        };
        let summary = format!("{writer} granted {} on {}", name_list(granted.iter(), 4), change.dn);
        let finding = Finding {
            severity: if guarded == Guarded::Domain || machine { Severity::High } else { META.base_severity },
            description: format!(
                "{writer}{} granted {} on {object} (logged on {}).",
                if machine { ", a machine account (relayed authentication?)," } else { "" },
                name_list(all.iter(), 6),
                logged_on(activity),
            ),
            source: Finding::source_of(activity, Some(writer)),
            // Who was given the rights: the account to look into next.
            targets: AlertTargets { accounts: trustees, ..AlertTargets::default() },
        };
        let incident = self.incidents.record(&dn, activity, summary);
        alerts.raise(activity, &dn, incident, finding);
    }
}

/// Whether the change is to the domain object or to a Group Policy object.
fn guarded(change: &DirectoryChange) -> Option<Guarded> {
    let class = change.class.as_deref().unwrap_or_default();
    let dn = change.dn.to_ascii_lowercase();
    let rdns: Vec<&str> = dn.split(',').map(str::trim).collect();
    if class.eq_ignore_ascii_case("domainDNS")
        || (!rdns.is_empty() && rdns.iter().all(|r| r.starts_with("dc=")))
    {
        return Some(Guarded::Domain);
    }
    let in_policies =
        matches!(rdns.as_slice(), [gpo, "cn=policies", "cn=system", _, ..] if gpo.starts_with("cn={"));
    (class.eq_ignore_ascii_case("groupPolicyContainer") || in_policies).then_some(Guarded::GroupPolicy)
}

/// The dangerous right an allow ACE gives on the object guarded, if any.
fn dangerous(guarded: Guarded, ace: &Ace) -> Option<String> {
    let mask = ace.mask;
    let below = if ace.flags & INHERIT_ONLY != 0 { " on every object below it" } else { "" };
    let what = if mask & right::GENERIC_ALL != 0 {
        "full control"
    } else if mask & right::WRITE_DAC != 0 {
        "WriteDacl"
    } else if mask & right::WRITE_OWNER != 0 {
        "WriteOwner"
    } else {
        match guarded {
            Guarded::Domain => match (mask & right::CONTROL_ACCESS != 0, ace.object_type.as_deref()) {
                (true, None) => "all extended rights (replication included)",
                (true, Some(guid)) if REPLICATION.contains(&guid) => "replication (DCSync)",
                _ if mask & right::GENERIC_WRITE != 0
                    || (mask & right::WRITE_PROPERTY != 0 && ace.object_type.is_none()) =>
                {
                    "write of all properties"
                }
                _ => return None,
            },
            Guarded::GroupPolicy if mask & (right::GENERIC_WRITE | right::WRITE_PROPERTY) != 0 => "write",
            Guarded::GroupPolicy => return None,
        }
    };
    Some(format!("{what}{below}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::DetectionConfig;
    use crate::testing::extra::{extra_audit_alerts, with_recording_directory};
    use crate::testing::logs::{assert_silent, corpus_alerts};

    const PERMISSIONS: &str =
        "evtx-to-mitre-attack/TA0005-Defense Evasion/T1222.001-File and Directory Permissions Modification";

    #[test]
    fn fires_on_replication_rights_written_on_the_domain_by_a_machine_account() {
        // SRVFS02$ (relayed) adds DS-Replication-Get-Changes and -All for RID 1234 to the
        // domain object's DACL; the 5136 pair holds the SDDL before and after.
        let file = format!("{PERMISSIONS}/ID5136-Permission change on top root AD (DCsync).evtx");
        let alerts = corpus_alerts(&[&file], META.id, &DetectionConfig::default());
        assert_eq!(alerts.len(), 1, "{alerts:#?}");
        assert_eq!(alerts[0].severity, Severity::High);
        assert_eq!(
            alerts[0].description,
            "OFFSEC\\SRVFS02$, a machine account (relayed authentication?), granted replication (DCSync) to \
             S-1-5-21-4230534742-2542757381-3142984815-1234 on the domain object DC=offsec,DC=lan (logged on \
             rootdc1.offsec.lan)."
        );
    }

    #[test]
    fn fires_on_privexchange_and_powerview_grants() {
        // PrivExchange: EXCHANGE$'s authentication relayed to LDAP writes the rights; PowerView's
        // Add-DomainObjectAcl by bob for two accounts.
        let relayed = corpus_alerts(
            &["evtx-attack-samples/Privilege Escalation/privexchange_dirkjan.evtx"],
            META.id,
            &DetectionConfig::default(),
        );
        assert_eq!(relayed.len(), 1, "{relayed:#?}");
        assert!(
            relayed[0].description.starts_with("ICORP\\EXCHANGE$, a machine account"),
            "{}",
            relayed[0].description
        );
        let powerview = corpus_alerts(
            &["evtx-attack-samples/Persistence/DACL_DCSync_Right_Powerview_ Add-DomainObjectAcl.evtx"],
            META.id,
            &DetectionConfig::default(),
        );
        assert_eq!(powerview.len(), 1, "{powerview:#?}");
        assert_eq!(powerview[0].severity, Severity::High);
        assert!(powerview[0].description.contains("-1107") && powerview[0].description.contains("-1120"));
    }

    #[test]
    fn silent_on_delegated_password_resets_owner_changes_and_benign_logs() {
        for file in [
            // Reset-password and pwdLastSet rights on an OU's users: helpdesk delegation.
            format!("{PERMISSIONS}/ID5136-Permission change on OU by user.evtx"),
            "evtx-to-mitre-attack/TA0003-Persistence/T1098.xxx-Account manipulation/ID5136-4662 AD object owner changed.evtx"
                .to_owned(),
        ] {
            assert!(corpus_alerts(&[&file], META.id, &DetectionConfig::default()).is_empty(), "{file}");
        }
        assert_silent(META.id);
    }

    #[test]
    fn fires_on_the_lab_grants_named_from_the_directory() {
        // da_admin's stolen password at 10.99.0.21: replication rights on the domain for bob,
        // then write on the Default Domain Policy; Samba logs each new descriptor, binary.
        let config = with_recording_directory("dcsync_rights_granted", DetectionConfig::default());
        let alerts = extra_audit_alerts("dcsync_rights_granted", META.id, &config);
        assert_eq!(alerts.len(), 1, "{alerts:#?}");
        assert_eq!(alerts[0].severity, Severity::High);
        assert_eq!(alerts[0].source.ip, Some("10.99.0.21".parse().unwrap()));
        assert_eq!(
            alerts[0].description,
            "LAB\\da_admin granted replication (DCSync) to LAB\\bob on the domain object DC=lab,DC=test (logged on DC1)."
        );
        assert_eq!(alerts[0].targets.accounts, BTreeSet::from(["LAB\\bob".to_owned()]));
        let config = with_recording_directory("gpo_edit_rights_granted", DetectionConfig::default());
        let alerts = extra_audit_alerts("gpo_edit_rights_granted", META.id, &config);
        assert_eq!(alerts.len(), 1, "{alerts:#?}");
        assert_eq!(alerts[0].severity, Severity::Medium);
        assert!(
            alerts[0].description.starts_with(
                "LAB\\da_admin granted write to LAB\\bob on the Group Policy object CN={31B2F340"
            ),
            "{}",
            alerts[0].description
        );
        let mut excluded = config.clone();
        excluded.settings_mut::<PermissionsGranted>().exclude_actors = vec!["da_admin".into()];
        assert!(extra_audit_alerts("gpo_edit_rights_granted", META.id, &excluded).is_empty());
    }

    #[test]
    fn security_filtering_of_a_gpo_is_silent() {
        // IT Staff given read and Apply Group Policy on the Default Domain Policy.
        let config = with_recording_directory("benign_gpo_security_filtering", DetectionConfig::default());
        assert!(extra_audit_alerts("benign_gpo_security_filtering", META.id, &config).is_empty());
        assert!(
            extra_audit_alerts("benign_gpo_security_filtering", META.id, &DetectionConfig::default())
                .is_empty()
        );
    }

    #[test]
    fn only_write_and_control_rights_count() {
        let ace = |mask, object: Option<&str>| Ace {
            allow: true,
            flags: 0,
            mask,
            object_type: object.map(str::to_owned),
            inherited_object_type: None,
            trustee: "S-1-5-21-1-2-3-1104".into(),
        };
        assert_eq!(
            dangerous(Guarded::Domain, &ace(right::CONTROL_ACCESS, Some(REPLICATION[1]))).as_deref(),
            Some("replication (DCSync)")
        );
        assert_eq!(
            dangerous(
                Guarded::Domain,
                &ace(right::CONTROL_ACCESS, Some("00299570-246d-11d0-a768-00aa006e0529"))
            ),
            None
        );
        assert_eq!(
            dangerous(
                Guarded::Domain,
                &ace(right::WRITE_PROPERTY, Some("bf967a0a-0de6-11d0-a285-00aa003049e2"))
            ),
            None
        );
        assert_eq!(
            dangerous(
                Guarded::GroupPolicy,
                &ace(right::WRITE_PROPERTY, Some("bf967a0a-0de6-11d0-a285-00aa003049e2"))
            )
            .as_deref(),
            Some("write")
        );
        assert_eq!(dangerous(Guarded::GroupPolicy, &ace(0x10 | 0x4 | 0x20000, None)), None, "read");
        let inherited = Ace { flags: INHERIT_ONLY, ..ace(right::GENERIC_ALL, None) };
        assert_eq!(
            dangerous(Guarded::Domain, &inherited).as_deref(),
            Some("full control on every object below it")
        );
    }
}
