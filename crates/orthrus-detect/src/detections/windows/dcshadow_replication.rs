//! ORT-DRS-003 — DCShadow: a replication cycle driven by a host that is not a DC.
//!
//! - Attack: DCShadow (mimikatz `lsadump::dcshadow /push`) registers the attacker's host as a
//!   domain controller, then makes a real DC replicate from it — asking the DC over DRSUAPI
//!   to run a replication cycle (`IDL_DRSReplicaSync`) or to add the rogue host as a source
//!   (`IDL_DRSReplicaAdd`) — so that changes the attacker wrote on its own copy (SID history,
//!   primaryGroupID, ACLs) land in the directory without the DC's change auditing.
//! - ATT&CK: T1207 (Rogue Domain Controller). MDI: Suspected DCShadow attack (domain
//!   controller replication request) (2029).
//! - Data: NET: DRSUAPI `IDL_DRSReplicaSync` (opnum 2) and `IDL_DRSReplicaAdd` (5) calls —
//!   their interface and operation show even sealed — with the caller's address and the
//!   account its bind authenticated.
//! - Logic: any such call from an address that is not a known DC's (the addresses configured
//!   in `domain_controllers`, those that answer Kerberos, those the directory knows as DCs,
//!   those that serve replication); High. One alert per source, DC and quiet gap
//!   `window_secs` (config `[dcshadow_replication]`).
//! - Thresholds: `window_secs = 3600`.
//! - Benign: an administrator forcing replication from a workstation (`repadmin /syncall`,
//!   Sites and Services "Replicate now") — exclude admin hosts (`exclude_sources`) or
//!   accounts (`exclude_actors`); a DC not known as one (list it in `domain_controllers`).
//!   Reading the replication state (`IDL_DRSGetReplInfo`, `repadmin /showrepl`) is not
//!   alerted.
//! - Gaps: the other half of the catalogue's logic — a DC pulling changes
//!   (`IDL_DRSGetNCChanges`) *from* a host that is not a DC — needs every DC known, or real
//!   DC-to-DC replication would alert; not judged yet.
//! - Evidence: each call (request and reply frames), the account, the DC's answer.

use std::collections::BTreeSet;

use orthrus_model::Severity;

use crate::DetectionMeta;
use crate::detections::foreign_rpc::{Conclusion, ForeignRpcDetection, ForeignRpcRule, Reading, Seen};

pub static META: DetectionMeta = DetectionMeta {
    id: "ORT-DRS-003",
    title: "Suspected DCShadow attack (domain controller replication request)",
    mdi: "Suspected DCShadow attack (domain controller replication request) (2029)",
    external_id: 2029,
    cef_app: "Replication Activity",
    tactic: "TA0005",
    techniques: &["T1207"],
    data_sources: &["DRSUAPI IDL_DRSReplicaSync / IDL_DRSReplicaAdd by a non-DC"],
    base_severity: Severity::High,
    escalates_for_sensitive: false,
    config_section: "dcshadow_replication",
    meaning: "A host that is not a DC asked a DC to replicate from it (IDL_DRSReplicaSync or IDL_DRSReplicaAdd): the push step of DCShadow.",
    impact: "Changes the attacker wrote land in the directory unaudited.",
    actions: &[
        "Isolate the source computer.",
        "Review recent changes to privileged objects and undo the unexpected ones.",
        "Remove any rogue server objects in the Configuration partition.",
    ],
};

pub struct DcShadowReplication;

impl ForeignRpcDetection for DcShadowReplication {
    const META: &'static DetectionMeta = &META;
    const RULES: &'static [ForeignRpcRule] =
        &[ForeignRpcRule::calls("drsuapi", &["IDL_DRSReplicaSync", "IDL_DRSReplicaAdd"], read, conclude)];
}

fn read(seen: &Seen<'_>) -> Option<Reading> {
    let (operation, result, who) = (seen.operation, seen.party.result, &seen.party.who);
    Some(Reading {
        names: vec![operation.to_owned()],
        summary: format!("{result} {operation} by {who}"),
        severity: META.base_severity,
    })
}

fn conclude(seen: &Seen<'_>, reading: &Reading, requests: &BTreeSet<String>) -> Conclusion {
    let (source, server, who) = (seen.party.source, seen.party.server, &seen.party.who);
    Conclusion::on_server(
        seen,
        reading.severity,
        format!(
            "{source}, which is not a known domain controller, asked {server} as {who} to \
             replicate ({}): a rogue domain controller (DCShadow) pushes its changes this way.",
            requests.iter().cloned().collect::<Vec<_>>().join(", "),
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::DetectionConfig;
    use crate::detections::foreign_rpc::ForeignRpc;
    use crate::testing::lab::alerts_for;
    use crate::testing::logs::assert_silent_on_logs_and_captures;

    #[test]
    fn fires_on_a_replication_cycle_asked_by_a_non_dc_in_the_lab() {
        // A non-DC with Domain Admin credentials binds DRSUAPI (sealed), reads the
        // replication state and asks the DC to run a replication cycle.
        let alerts = alerts_for("drs_unusual_replication", META.id, &DetectionConfig::default());
        assert_eq!(alerts.len(), 1, "{alerts:#?}");
        let alert = &alerts[0];
        assert_eq!(alert.source.ip, Some("10.99.0.21".parse().unwrap()));
        assert_eq!(alert.source.account.as_deref(), Some("LAB\\da_admin"));
        assert!(alert.targets.computers.contains("10.99.0.10"));
        assert_eq!(alert.severity, Severity::High);
        assert_eq!(alert.count, 1, "DsReplicaSync only: DsReplicaGetInfo reads, it does not push");
        assert!(alert.description.contains("(IDL_DRSReplicaSync)"), "{}", alert.description);
    }

    #[test]
    fn fires_on_mimikatz_dcshadow_push_on_windows() {
        // The public corpus's mimikatz `lsadump::dcshadow /push` (primaryGroupID 512 given to
        // a standard account): the rogue host 172.16.66.1 asks the DC to add it as a
        // replication source (IDL_DRSReplicaAdd) over a Kerberos-sealed bind.
        let path = orthrus_testkit::corpus()
            .join("pcap-attack/CredAccess/DCShadow_add_primarygroupid_512_to_std_account.pcapng");
        let mut engine = crate::Engine::new(&DetectionConfig::default(), "test");
        for activity in orthrus_testkit::activities(&path) {
            engine.observe(&activity);
        }
        let alerts: Vec<_> = engine.finish().into_iter().filter(|a| a.detection == META.id).collect();
        assert_eq!(alerts.len(), 1, "{alerts:#?}");
        assert_eq!(alerts[0].source.ip, Some("172.16.66.1".parse().unwrap()));
        assert!(alerts[0].targets.computers.contains("172.16.66.36"));
        assert!(alerts[0].description.contains("(IDL_DRSReplicaAdd)"), "{}", alerts[0].description);
    }

    #[test]
    fn silent_for_an_excluded_admin_or_a_known_dc() {
        let mut config = DetectionConfig::default();
        config.settings_mut::<ForeignRpc<DcShadowReplication>>().exclude_actors = vec!["da_admin".into()];
        assert!(alerts_for("drs_unusual_replication", META.id, &config).is_empty());
        let as_dc =
            DetectionConfig { domain_controllers: vec!["10.99.0.21".into()], ..DetectionConfig::default() };
        assert!(alerts_for("drs_unusual_replication", META.id, &as_dc).is_empty());
    }

    #[test]
    fn silent_on_dcsync_and_benign_logs_and_captures() {
        // DCSync pulls (GetNCChanges): ORT-DRS-001's, not a push.
        assert!(alerts_for("dcsync", META.id, &DetectionConfig::default()).is_empty());
        assert_silent_on_logs_and_captures(META.id);
    }
}
