//! ORT-RPC-004 — DFSCoerce: a DC told over MS-DFSNM to authenticate to another host.
//!
//! - Attack: any domain user can call the DFS Namespace Management interface of a DC
//!   (`\pipe\netdfs`); `NetrDfsAddStdRoot` and `NetrDfsRemoveStdRoot` make the server reach
//!   the server name they carry, with its machine account — DFSCoerce points it at the
//!   attacker's host and relays the DC's authentication (NTLM relay to AD CS or LDAP) or
//!   captures its ticket (unconstrained delegation).
//! - ATT&CK: T1187 (Forced Authentication). MDI: Suspected DFSCoerce attack using
//!   Distributed File System Protocol (2426).
//! - Data: NET: MS-DFSNM `NetrDfsAddStdRoot` (12) and `NetrDfsRemoveStdRoot` (13) requests
//!   and their `ServerName` from the stub, with the caller's address and account.
//! - Logic: any such call from an address that is not a known DC's, answered or not (the
//!   server may connect before it refuses). High. One alert per source, server and quiet
//!   gap `window_secs` (config `[dfs_coerce]`), listing the hosts named.
//! - Thresholds: `window_secs = 3600`.
//! - Benign: DFS administration from an admin host (rare on DCs: standalone roots live on
//!   file servers) — exclude it (`exclude_sources`) or the admin (`exclude_actors`).
//!   Reading the namespace (`NetrDfsManagerGetVersion`, `NetrDfsEnum`) is not alerted.
//! - Gaps: a sealed call shows its operation but not the server name (still alerted).
//! - Evidence: each call (request and reply frames), the server name, the account, the
//!   server's answer.

use std::collections::BTreeSet;

use orthrus_model::{RpcDetail, Severity};

use crate::DetectionMeta;
use crate::detections::foreign_rpc::{
    Attempt, Conclusion, ForeignRpcDetection, ForeignRpcRule, Reading, Seen,
};
use crate::names::callback_host;

pub static META: DetectionMeta = DetectionMeta {
    id: "ORT-RPC-004",
    title: "Suspected DFSCoerce attack using Distributed File System Protocol",
    mdi: "Suspected DFSCoerce attack using Distributed File System Protocol (2426)",
    external_id: 2426,
    cef_app: "Dfsnm",
    tactic: "TA0006",
    techniques: &["T1187"],
    data_sources: &["MS-DFSNM NetrDfsAddStdRoot / NetrDfsRemoveStdRoot with the server name they carry"],
    base_severity: Severity::High,
    escalates_for_sensitive: false,
    config_section: "dfs_coerce",
    meaning: "A computer called the DC's DFS namespace management (MS-DFSNM) with a path to another host (DFSCoerce).",
    impact: "The DC authenticates to the attacker, who relays it.",
    actions: &[
        "Filter MS-DFSNM calls to DCs.",
        "Isolate the source and look for relayed DC authentication in this incident.",
    ],
};

pub struct DfsCoerce;

impl ForeignRpcDetection for DfsCoerce {
    const META: &'static DetectionMeta = &META;
    const RULES: &'static [ForeignRpcRule] =
        &[ForeignRpcRule::calls("dfsnm", &["NetrDfsAddStdRoot", "NetrDfsRemoveStdRoot"], read, conclude)];
}

/// The server name the call carries (unreadable when sealed).
fn read(seen: &Seen<'_>) -> Option<Reading> {
    let Attempt::Call(call) = seen.attempt else { return None };
    let operation = seen.operation;
    let host = match &call.detail {
        Some(RpcDetail::Callback { path }) => Some(callback_host(path).to_owned()),
        _ => None,
    };
    let (result, who) = (seen.party.result, &seen.party.who);
    Some(Reading {
        summary: format!(
            "{result} {operation} by {who}{}",
            host.as_ref().map(|h| format!(": server name {h}")).unwrap_or_default()
        ),
        names: host.into_iter().filter(|h| !h.is_empty()).collect(),
        severity: META.base_severity,
    })
}

fn conclude(seen: &Seen<'_>, reading: &Reading, hosts: &BTreeSet<String>) -> Conclusion {
    let operation = seen.operation;
    let (source, server, who) = (seen.party.source, seen.party.server, &seen.party.who);
    let destination = match hosts.len() {
        0 => "a host the sealed call names".to_owned(),
        _ => hosts.iter().cloned().collect::<Vec<_>>().join(", "),
    };
    Conclusion::on_server(
        seen,
        reading.severity,
        format!(
            "{source} called {operation} on {server} as {who}, naming {destination} as the DFS server \
             (DFSCoerce): the server's machine account authenticates there and can be relayed or \
             its ticket captured."
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::DetectionConfig;
    use crate::detections::foreign_rpc::ForeignRpc;
    use crate::testing::extra::extra_alerts;
    use crate::testing::logs::assert_silent_on_logs_and_captures;

    #[test]
    fn fires_on_dfscoerce_naming_the_attackers_host() {
        // bob calls NetrDfsRemoveStdRoot and NetrDfsAddStdRoot on the DC naming 10.99.0.21;
        // Samba does not implement them (nca_s_op_rng_error), Windows DCs connect out first.
        let alerts = extra_alerts("dfs_coerce", META.id, &DetectionConfig::default());
        assert_eq!(alerts.len(), 1, "{alerts:#?}");
        let alert = &alerts[0];
        assert_eq!(alert.source.ip, Some("10.99.0.21".parse().unwrap()));
        assert_eq!(alert.source.account.as_deref(), Some("LAB\\bob"));
        assert!(alert.targets.computers.contains("10.99.0.10"));
        assert_eq!(alert.severity, Severity::High);
        assert_eq!(alert.count, 2);
        assert!(alert.description.contains("naming 10.99.0.21 as the DFS server"), "{}", alert.description);
        assert!(
            alert.evidence.iter().any(|e| e.summary.starts_with("failed NetrDfsRemoveStdRoot by LAB\\bob"))
        );
    }

    #[test]
    fn silent_on_namespace_reads_excluded_callers_and_benign_traffic() {
        // An admin reads the DFS version and namespace list from the workstation.
        assert!(extra_alerts("benign_dfs_query", META.id, &DetectionConfig::default()).is_empty());
        let mut config = DetectionConfig::default();
        config.settings_mut::<ForeignRpc<DfsCoerce>>().exclude_actors = vec!["bob".into()];
        assert!(extra_alerts("dfs_coerce", META.id, &config).is_empty());
        let from_dc =
            DetectionConfig { domain_controllers: vec!["10.99.0.21".into()], ..DetectionConfig::default() };
        assert!(extra_alerts("dfs_coerce", META.id, &from_dc).is_empty());
        assert_silent_on_logs_and_captures(META.id);
    }
}
