//! ORT-SMB-001 — User and IP address reconnaissance (SMB session enumeration).
//!
//! - Attack: asking a DC (or any server) which users have sessions on it, and from which
//!   addresses, tells an attacker where each administrator is logged on — the first step of
//!   lateral movement (PowerView `Get-NetSession`/`Invoke-UserHunter`, BloodHound's session
//!   collection, `net session \\dc`, impacket `netview`).
//! - ATT&CK: T1049 (System Network Connections Discovery), T1087.002. MDI: User and IP
//!   address reconnaissance (SMB) (2012).
//! - Data: SRVSVC `NetrSessionEnum` (and WKSSVC `NetrWkstaUserEnum`, the logged-on users)
//!   over `\PIPE\srvsvc` / `\PIPE\wkssvc`, with the caller's address, account and result.
//! - Logic: any such call from an address that is not a known DC's. One alert per source and
//!   quiet gap `window_secs` (config `[session_enumeration]`), listing the calls and results.
//! - Benign: security scanners and inventory tools that query sessions; exclude their address.
//! - The answer, when readable (levels 10 and 0), names the sessions exposed: each user and the
//!   client address they sit at — the alert lists them as targets (sensitive ones marked with
//!   a directory snapshot). A refused call (WERR_ACCESS_DENIED: hardened servers) says so.
//! - Evidence: each call (request and reply frames), account, result.

use std::collections::BTreeSet;

use orthrus_model::{AlertTargets, RpcDetail, Severity};

use crate::DetectionMeta;
use crate::detections::foreign_rpc::{
    Attempt, Conclusion, ForeignRpcDetection, ForeignRpcRule, Reading, Seen,
};

pub static META: DetectionMeta = DetectionMeta {
    id: "ORT-SMB-001",
    title: "User and IP address reconnaissance (SMB)",
    mdi: "User and IP address reconnaissance (SMB) (2012)",
    external_id: 2012,
    cef_app: "SrvSvc",
    tactic: "TA0007",
    techniques: &["T1049", "T1087.002"],
    data_sources: &["SRVSVC NetrSessionEnum", "WKSSVC NetrWkstaUserEnum"],
    base_severity: Severity::Medium,
    escalates_for_sensitive: false,
    config_section: "session_enumeration",
    meaning: "A computer asked a DC which users have sessions on it (NetSessionEnum), as BloodHound and similar tools do to find where administrators are logged on.",
    impact: "The attacker learns where privileged accounts' credentials can be stolen.",
    actions: &[
        "Identify the user and process on the source computer.",
        "Restrict NetSessionEnum to administrators (NetCease or the SrvsvcSessionInfo permission).",
        "Review the incident for lateral movement to the computers named in the answers.",
    ],
};

pub struct SessionEnumeration;

impl ForeignRpcDetection for SessionEnumeration {
    const META: &'static DetectionMeta = &META;
    const RULES: &'static [ForeignRpcRule] = &[
        ForeignRpcRule::calls("srvsvc", &["NetrSessionEnum"], read, conclude).per_source(),
        ForeignRpcRule::calls("wkssvc", &["NetrWkstaUserEnum"], read, conclude).per_source(),
    ];
}

/// What the call asks for, for sentences.
fn what(operation: &str) -> &'static str {
    if operation == "NetrSessionEnum" {
        "sessions (NetrSessionEnum)"
    } else {
        "logged-on users (NetrWkstaUserEnum)"
    }
}

/// The call, and the sessions the server gave away when its answer was readable.
fn read(seen: &Seen<'_>) -> Option<Reading> {
    let Attempt::Call(call) = seen.attempt else { return None };
    let (what, result, who, server) =
        (what(seen.operation), seen.party.result, &seen.party.who, seen.party.server);
    let exposed = match &call.detail {
        Some(RpcDetail::Sessions { sessions }) => sessions
            .iter()
            .filter(|s| !s.user.is_empty())
            .map(|s| format!("exposed {} from {}", s.user, s.client.trim_start_matches('\\')))
            .collect(),
        _ => Vec::new(),
    };
    Some(Reading {
        names: [format!("{what} {result}")].into_iter().chain(exposed).collect(),
        summary: format!("{who} enumerated {what} on {server}: {result}"),
        severity: META.base_severity,
    })
}

fn conclude(seen: &Seen<'_>, reading: &Reading, names: &BTreeSet<String>) -> Conclusion {
    let (source, server, who) = (seen.party.source, seen.party.server, &seen.party.who);
    let calls: Vec<&str> = names.iter().filter(|n| !n.starts_with("exposed ")).map(String::as_str).collect();
    let sessions: Vec<&str> = names.iter().filter_map(|n| n.strip_prefix("exposed ")).collect();
    let accounts = sessions.iter().filter_map(|s| s.split(" from ").next()).map(str::to_owned).collect();
    Conclusion {
        description: format!(
            "{source} ({who}) enumerated who is logged on to {server}: {}{}.",
            calls.join(", "),
            if sessions.is_empty() {
                String::new()
            } else {
                format!("; sessions exposed: {}", sessions.join(", "))
            }
        ),
        severity: reading.severity,
        targets: AlertTargets { computers: [server.to_string()].into(), accounts, ..AlertTargets::default() },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::DetectionConfig;
    use crate::testing::lab::{BENIGN, alerts_for, assert_silent};

    #[test]
    fn fires_on_lab_session_enumeration() {
        let alerts = alerts_for("netsession_enum", META.id, &DetectionConfig::default());
        assert_eq!(alerts.len(), 1, "{alerts:#?}");
        let alert = &alerts[0];
        assert_eq!(alert.source.ip, Some("10.99.0.21".parse().unwrap()));
        assert_eq!(alert.source.account.as_deref(), Some("LAB\\bob"));
        assert_eq!(alert.count, 4, "three NetrSessionEnum and one NetrWkstaUserEnum");
        // Samba refuses the non-admin (WERR_ACCESS_DENIED) and has no NetrWkstaUserEnum
        assert!(alert.description.contains("sessions (NetrSessionEnum) refused"), "{}", alert.description);
        assert!(alert.description.contains("(NetrWkstaUserEnum) failed"), "{}", alert.description);
        assert!(alert.targets.accounts.is_empty());
    }

    #[test]
    fn names_the_sessions_a_windows_dc_gave_away() {
        let path = orthrus_testkit::corpus().join(
            "security-datasets/atomic/windows/discovery/network/empire_getsession_dcerpc_smb_srvsvc_NetSessEnum/empire_getsession_dcerpc_smb_srvsvc_NetSessEnum_2020-09-22034513.cap",
        );
        let mut engine = crate::Engine::new(&DetectionConfig::default(), "test");
        for activity in orthrus_testkit::activities(&path) {
            engine.observe(&activity);
        }
        let alerts: Vec<_> = engine.finish().into_iter().filter(|a| a.detection == META.id).collect();
        assert_eq!(alerts.len(), 1, "{alerts:#?}");
        let alert = &alerts[0];
        assert!(
            alert.description.contains("sessions exposed: pgustavo from 172.18.39.5"),
            "{}",
            alert.description
        );
        assert_eq!(alert.targets.accounts.iter().collect::<Vec<_>>(), ["pgustavo"]);
    }

    #[test]
    fn silent_on_benign_captures_and_share_listing() {
        assert_silent(BENIGN, META.id);
        // Share enumeration alone (NetrShareEnum, as every Explorer does) is not it.
        assert!(alerts_for("remote_exec", META.id, &DetectionConfig::default()).is_empty());
    }
}
