//! ORT-DRS-001 — DCSync (replication of directory secrets by a non-DC).
//!
//! - Attack: with an account holding the replication rights (Domain Admins, or rights granted
//!   by ACL abuse), the attacker asks a DC to replicate password data as if it were a DC
//!   (mimikatz `lsadump::dcsync`, impacket secretsdump `-just-dc`), getting every hash,
//!   krbtgt's included.
//! - ATT&CK: T1003.006. MDI: Suspected DCSync attack (replication of directory services)
//!   (2006).
//! - Data: NET: DRSUAPI `IDL_DRSGetNCChanges` (opnum 3) calls, with the caller's address and
//!   the account its bind authenticated. EVT: event 4662 on the DC (audit "Directory Service
//!   Access" with a SACL on the domain object) whose properties name the control-access
//!   rights DS-Replication-Get-Changes (`1131f6aa-…`), DS-Replication-Get-Changes-All
//!   (`1131f6ad-…`) or DS-Replication-Get-Changes-In-Filtered-Set (`89e95b76-…`).
//! - Logic: NET: GetNCChanges from an address that is not a known DC's (DCs are the
//!   addresses configured in `domain_controllers`, those that answer Kerberos, and those that
//!   serve replication); High. One alert per source address and quiet gap. EVT: such an
//!   access by an account that is not a domain controller's machine account.
//!   With `domain_controllers` configured, a directory snapshot (`--directory`: the computers
//!   it knows as DCs) or DCs learned from the KDC events they log, a machine account must be
//!   one of them; without any, every machine account (`NAME$`) is taken for a DC. One alert per account and quiet gap `window_secs`; High when
//!   Get-Changes-All (secrets) was used.
//! - Thresholds: `window_secs = 3600` (config `[dcsync]`); `exclude_accounts` for
//!   Entra/Azure AD Connect (`MSOL_…`, `Sync_…`) and replication-based tools.
//! - Benign: Entra Connect password hash sync; network performance monitors; a DC newly
//!   promoted and not yet known, or another DC that neither answers Kerberos in the capture
//!   nor is listed in `domain_controllers` (list DC addresses there for sensors that see
//!   DC-to-DC replication).
//! - Evidence: every GetNCChanges call (request and reply frames) or 4662 of the episode.

use std::collections::BTreeSet;
use std::net::IpAddr;

use orthrus_model::{Activity, ActivityKind, AlertSource, AlertTargets, RpcCall, Severity};
use serde::Deserialize;

use crate::names::account_key;
use crate::window::Incidents;
use crate::{Alerts, Context, Detection, DetectionMeta, Detector, Finding, Settings};

pub static META: DetectionMeta = DetectionMeta {
    id: "ORT-DRS-001",
    title: "Suspected DCSync attack (replication of directory services)",
    mdi: "Suspected DCSync attack (replication of directory services) (2006)",
    external_id: 2006,
    cef_app: "Drsr",
    tactic: "TA0006",
    techniques: &["T1003.006"],
    data_sources: &[
        "DRSUAPI GetNCChanges",
        "event 4662 (directory service access)",
        "directory snapshot (DC list)",
    ],
    base_severity: Severity::Medium,
    escalates_for_sensitive: false,
    config_section: "dcsync",
    meaning: "A computer that is not a domain controller asked a DC to replicate directory data (IDL_DRSGetNCChanges): the DCSync technique of mimikatz and impacket's secretsdump, which copies password hashes.",
    impact: "The attacker gets the password hashes of the replicated accounts, krbtgt's among them: every account, golden tickets.",
    actions: &[
        "Check who holds replication rights (Replicating Directory Changes and Changes All) on the domain root and remove any account that is not a DC or a known sync service (Entra Connect).",
        "Isolate the source computer.",
        "Reset the krbtgt password twice, with replication time between the resets, then the passwords of privileged and service accounts.",
        "Look for the account used for the replication elsewhere in this incident.",
    ],
};

const CONTROL_ACCESS: u32 = 0x100;
const GET_CHANGES: &str = "1131f6aa-9c07-11d1-f79f-00c04fc2dcd2";
const GET_CHANGES_ALL: &str = "1131f6ad-9c07-11d1-f79f-00c04fc2dcd2";
const GET_CHANGES_FILTERED: &str = "89e95b76-444d-4c62-991a-0facbeda640c";

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DcsyncConfig {
    /// Quiet gap, event time, that ends an episode.
    pub window_secs: u64,
    /// Accounts allowed to replicate (Entra Connect's `MSOL_…`), compared case-insensitively.
    pub exclude_accounts: Vec<String>,
    pub exclude_sources: Vec<IpAddr>,
}

impl Default for DcsyncConfig {
    fn default() -> Self {
        Self { window_secs: 3600, exclude_accounts: Vec::new(), exclude_sources: Vec::new() }
    }
}

impl Settings for DcsyncConfig {
    fn exclude_sources(&self) -> &[IpAddr] {
        &self.exclude_sources
    }

    fn thresholds(&self) -> Vec<(&'static str, String)> {
        vec![("window_secs", self.window_secs.to_string())]
    }
}

impl Detection for Dcsync {
    type Settings = DcsyncConfig;
    const META: &'static DetectionMeta = &META;

    fn new(settings: &Self::Settings) -> Self {
        Dcsync {
            excluded: settings.exclude_accounts.iter().map(|a| account_key(a)).collect(),
            incidents: Incidents::new(settings.window_secs),
        }
    }
}

pub struct Dcsync {
    excluded: Vec<String>,
    incidents: Incidents<String>,
}

impl Dcsync {
    /// The wire view: a replication request from an address that is not a DC's.
    fn replication_call(
        &mut self,
        activity: &Activity,
        call: &RpcCall,
        context: &Context,
        alerts: &mut Alerts<'_>,
    ) {
        if call.interface != "drsuapi" || call.operation.as_deref() != Some("IDL_DRSGetNCChanges") {
            return;
        }
        let Some(source) = activity.source_ip() else { return };
        if context.dcs().contains_address(source) {
            return;
        }
        let account = call.user.clone();
        if account
            .as_deref()
            .is_some_and(|a| self.excluded.contains(&account_key(a.rsplit('\\').next().unwrap_or(a))))
        {
            return;
        }
        let key = source.to_string();
        let incident = self.incidents.at(&key, activity.time);
        let who = account.clone().unwrap_or_else(|| "an unknown account".into());
        let dc = activity.destination.map(|d| d.ip.to_string()).unwrap_or_default();
        let result = match call.status {
            Some(status) if status.is_error() => format!("failed: {status}"),
            Some(_) => "succeeded".to_owned(),
            None => "no answer".to_owned(),
        };
        incident.record(
            activity.time,
            &activity.provenance,
            format!("GetNCChanges by {who} from {source} to {dc}: {result}"),
        );
        incident.alerted = true;
        let description = format!(
            "{source}, which is not a known domain controller, replicated directory data from {dc} as {who} \
             ({} GetNCChanges request{}).",
            incident.count,
            if incident.count == 1 { "" } else { "s" },
        );
        let targets = AlertTargets { computers: BTreeSet::from([dc]), ..AlertTargets::default() };
        let source_entity = AlertSource { ip: Some(source), account, ..AlertSource::default() };
        let verdict = Finding { severity: Severity::High, description, source: source_entity, targets };
        alerts.raise(activity, &key, incident, verdict);
    }
}

impl Detector for Dcsync {
    fn observe(&mut self, activity: &Activity, context: &Context, alerts: &mut Alerts<'_>) {
        if let ActivityKind::RpcCalled(call) = &activity.kind {
            self.replication_call(activity, call, context, alerts);
            return;
        }
        let ActivityKind::DirectoryObjectAccessed(access) = &activity.kind else { return };
        // The rights are exercised as Control Access (0x100); a DACL write merely naming them
        // is the rights being granted, another detection's business.
        if access.access_mask & CONTROL_ACCESS == 0 {
            return;
        }
        let rights: Vec<&str> = access
            .properties
            .iter()
            .filter_map(|p| match p.as_str() {
                GET_CHANGES => Some("Get-Changes"),
                GET_CHANGES_ALL => Some("Get-Changes-All"),
                GET_CHANGES_FILTERED => Some("Get-Changes-In-Filtered-Set"),
                _ => None,
            })
            .collect();
        if rights.is_empty() {
            return;
        }
        let account = &access.subject;
        let key = account_key(&account.name);
        if self.excluded.contains(&key) {
            return;
        }
        if account.is_machine() && (context.dcs().is_empty() || context.dcs().contains(&account.name)) {
            return;
        }
        let qualified = account.qualified();
        let incident = self.incidents.at(&key, activity.time);
        let dc = activity.destination_host.as_deref().unwrap_or("a domain controller");
        incident.record(
            activity.time,
            &activity.provenance,
            format!("{qualified} used {} on {dc}", rights.join(", ")),
        );
        incident.alerted = true;
        let secrets = incident.evidence.iter().any(|e| e.summary.contains("Get-Changes-All"));
        let description = format!(
            "{qualified}, which is not a domain controller, requested directory replication{} from {dc} \
             ({} request{}).",
            if secrets { " of secrets (Get-Changes-All)" } else { "" },
            incident.count,
            if incident.count == 1 { "" } else { "s" },
        );
        let targets = AlertTargets {
            computers: activity.destination_host.iter().map(|h| h.to_string()).collect(),
            ..AlertTargets::default()
        };
        let source =
            AlertSource { ip: activity.source_ip(), account: Some(qualified), ..AlertSource::default() };
        let severity = if secrets { Severity::High } else { META.base_severity };
        alerts.raise(activity, &key, incident, Finding { severity, description, source, targets });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::DetectionConfig;
    use crate::testing::logs::{assert_silent_on_logs_and_captures, corpus_alerts};

    #[test]
    fn fires_on_corpus_dcsync_by_administrator() {
        let alerts = corpus_alerts(
            &["evtx-attack-samples/Credential Access/CA_DCSync_4662.evtx"],
            META.id,
            &DetectionConfig::default(),
        );
        assert_eq!(alerts.len(), 1, "{alerts:#?}");
        let alert = &alerts[0];
        assert_eq!(alert.source.account.as_deref(), Some("insecurebank\\Administrator"));
        assert_eq!(alert.severity, Severity::High, "Get-Changes-All was used");
        assert_eq!(alert.count, 3);
        assert!(alert.targets.computers.contains("DC1.insecurebank.local"));
    }

    #[test]
    fn excluded_account_and_dc_machine_accounts_are_silent() {
        let mut config = DetectionConfig::default();
        config.settings_mut::<Dcsync>().exclude_accounts = vec!["administrator".into()];
        let file = "evtx-attack-samples/Credential Access/CA_DCSync_4662.evtx";
        assert!(corpus_alerts(&[file], META.id, &config).is_empty());
        // Rights granted to an account (ACL change) are not replication itself.
        let granted = "evtx-to-mitre-attack/TA0005-Defense Evasion/T1222.001-File and Directory Permissions Modification/ID5136-Permission change on top root AD (DCsync).evtx";
        assert!(corpus_alerts(&[granted], META.id, &DetectionConfig::default()).is_empty());
    }

    #[test]
    fn fires_on_lab_dcsync_from_the_wire() {
        let alerts = crate::testing::lab::alerts_for("dcsync", META.id, &DetectionConfig::default());
        assert_eq!(alerts.len(), 1, "{alerts:#?}");
        assert_eq!(alerts[0].source.ip, Some("10.99.0.21".parse().unwrap()));
        assert_eq!(alerts[0].source.account.as_deref(), Some("lab.test\\da_admin"));
        assert_eq!(alerts[0].count, 26);
        assert!(alerts[0].targets.computers.contains("10.99.0.10"));
    }

    #[test]
    fn a_listed_domain_controller_replicating_is_silent() {
        let config =
            DetectionConfig { domain_controllers: vec!["10.99.0.21".into()], ..DetectionConfig::default() };
        assert!(crate::testing::lab::alerts_for("dcsync", META.id, &config).is_empty());
        // Other replication calls (DCShadow-style ReplicaSync, GetReplInfo) are not GetNCChanges.
        let other =
            crate::testing::lab::alerts_for("drs_unusual_replication", META.id, &DetectionConfig::default());
        assert!(other.is_empty(), "{other:#?}");
    }

    #[test]
    fn silent_on_benign_logs() {
        assert_silent_on_logs_and_captures(META.id);
    }

    #[test]
    fn the_directorys_dc_list_tells_a_dcs_replication_from_a_machine_accounts() {
        // DC1$ (as SYSTEM) exercising replication rights in a corpus log: with no DC known,
        // any machine account passes; the directory naming DC1 a DC keeps it silent, and a
        // directory whose only DC is another one makes DC1$ a machine account replicating.
        use crate::testing::logs::{corpus_alerts, directory_of};
        let file = "evtx-attack-samples/Credential Access/ACL_ForcePwd_SPNAdd_User_Computer_Accounts.evtx";
        let with = |dc: &str| {
            let snapshot = directory_of(
                "insecurebank.local",
                "INSECUREBANK",
                serde_json::json!([{"kind": "computer", "dn": format!("CN={dc},OU=Domain Controllers,DC=insecurebank,DC=local"),
                    "sam_account_name": format!("{dc}$"), "user_account_control": 532480, "primary_group_id": 516,
                    "dns_host_name": format!("{dc}.insecurebank.local"), "usn_changed": 1}]),
            );
            DetectionConfig {
                directory: std::sync::Arc::new(orthrus_directory::Directory::new(
                    snapshot,
                    &Default::default(),
                )),
                ..DetectionConfig::default()
            }
        };
        assert!(corpus_alerts(&[file], META.id, &DetectionConfig::default()).is_empty());
        assert!(corpus_alerts(&[file], META.id, &with("DC1")).is_empty());
        let alerts = corpus_alerts(&[file], META.id, &with("DC2"));
        assert!(!alerts.is_empty());
        for alert in &alerts {
            let text = &alert.description;
            assert!(text.starts_with("insecurebank\\DC1$, which is not a domain controller"), "{text}");
        }
    }
}
