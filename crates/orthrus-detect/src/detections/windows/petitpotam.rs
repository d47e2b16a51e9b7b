//! ORT-RPC-003 — PetitPotam: a server told over MS-EFSR to open a file on another host.
//!
//! - Attack: the Encrypting File System Remote Protocol's file operations
//!   (`EfsRpcOpenFileRaw`, `EfsRpcEncryptFileSrv`, …) take a file name; given a UNC path,
//!   the server opens it — authenticating to that host with its machine account. PetitPotam,
//!   Coercer and ADCSPwn point a DC at the attacker's host and relay the DC's NTLM
//!   authentication to AD CS web enrolment (ESC8) or LDAP. MS-EFSR is reachable through
//!   `\pipe\lsarpc`, `\pipe\efsrpc`, `\pipe\lsass`, `\pipe\netlogon` and `\pipe\samr`.
//! - ATT&CK: T1210, T1187. MDI: Suspicious network connection over Encrypting File System
//!   Remote Protocol (2416).
//! - Data: NET: MS-EFSR requests (either interface UUID) with the file name from the stub
//!   (opnums 0, 4, 5, 6, 7, 9, 12; sealed calls show only the operation), and refused binds
//!   of MS-EFSR (BIND_ACK rejecting every context for it, or BIND_NAK) — what a DC that does
//!   not serve it, or whose RPC filter blocks it (Microsoft's mitigation), answers.
//! - Logic: from an address that is not a known DC's: an MS-EFSR call whose file name is a
//!   UNC path to another host → High; a sealed MS-EFSR call → Medium (MDI's "channel
//!   encrypted" case); an MS-EFSR bind the server refused → Medium (an attempt that was
//!   stopped). One alert per source, server and quiet gap `window_secs` (config
//!   `[petitpotam]`), listing the hosts named; the severity is the highest seen.
//! - Thresholds: `window_secs = 3600`.
//! - Benign: clients encrypting files on a share of the server (local paths, not UNC to
//!   elsewhere — not alerted when readable); vulnerability scanners and pentest tools —
//!   exclude their hosts (`exclude_sources`).
//! - Gaps: no recording of a Windows DC answering the calls (Samba does not serve MS-EFSR):
//!   the call path is checked on impacket's encoding of PetitPotam's request, decoded by
//!   orthrus-proto's test and judged here.
//! - Evidence: each call or refused bind (request and answer frames), the file name, the
//!   account, the server's answer.

use std::collections::BTreeSet;

use orthrus_model::{RpcCall, RpcDetail, Severity};

use crate::DetectionMeta;
use crate::detections::foreign_rpc::{
    Attempt, Conclusion, ForeignCall, ForeignRpcDetection, ForeignRpcRule, Reading, Seen,
};
use crate::names::callback_host;

pub static META: DetectionMeta = DetectionMeta {
    id: "ORT-RPC-003",
    title: "Suspicious network connection over Encrypting File System Remote Protocol (PetitPotam)",
    mdi: "Suspicious network connection over Encrypting File System Remote Protocol (2416)",
    external_id: 2416,
    cef_app: "Efsr",
    tactic: "TA0006",
    techniques: &["T1210", "T1187"],
    data_sources: &["MS-EFSR calls with their UNC file names; refused MS-EFSR binds"],
    base_severity: Severity::Medium,
    escalates_for_sensitive: false,
    config_section: "petitpotam",
    meaning: "A computer called the DC over the Encrypting File System protocol (EFSRPC) with a path to another host (PetitPotam).",
    impact: "The DC authenticates to the attacker, who relays it (often to AD CS) to take over the domain.",
    actions: &[
        "Apply the EFSRPC updates and filter EFSRPC on DCs.",
        "Require EPA on AD CS web enrollment.",
        "Isolate the source and look for relayed DC authentication in this incident.",
    ],
};

pub struct PetitPotam;

impl ForeignRpcDetection for PetitPotam {
    const META: &'static DetectionMeta = &META;
    const RULES: &'static [ForeignRpcRule] =
        &[ForeignRpcRule::calls("efsrpc", &[], read, conclude).with_refused_binds()];
}

fn read(seen: &Seen<'_>) -> Option<Reading> {
    match seen.attempt {
        Attempt::Call(call) => judge_call(call, &seen.party),
        Attempt::RefusedBind(bind) => {
            let pipe = bind.pipe.as_deref().map(|p| format!(" over \\pipe\\{p}")).unwrap_or_default();
            Some(Reading {
                names: Vec::new(),
                summary: format!("MS-EFSR bind{pipe} by {} refused (reason {})", seen.party.who, bind.reason),
                severity: Severity::Medium,
            })
        }
    }
}

/// What one MS-EFSR call tells: a sealed call (Medium), or a UNC path to another host than
/// the server (High, naming the host); a local path is not judged.
fn judge_call(call: &RpcCall, party: &ForeignCall) -> Option<Reading> {
    let operation = call.operation.as_deref().unwrap_or("an MS-EFSR operation");
    let ForeignCall { server, who, result, .. } = party;
    if call.encrypted {
        return Some(Reading {
            names: Vec::new(),
            summary: format!("{result} sealed {operation} by {who}"),
            severity: Severity::Medium,
        });
    }
    let Some(RpcDetail::Callback { path }) = &call.detail else { return None };
    let host = callback_host(path);
    let unc_elsewhere = path.starts_with("\\\\") && !host.is_empty() && host != server.to_string();
    unc_elsewhere.then(|| Reading {
        names: vec![host.to_owned()],
        summary: format!("{result} {operation} by {who}: {path}"),
        severity: Severity::High,
    })
}

fn conclude(seen: &Seen<'_>, reading: &Reading, hosts: &BTreeSet<String>) -> Conclusion {
    let (source, server, who) = (seen.party.source, seen.party.server, &seen.party.who);
    let told = match hosts.len() {
        0 => String::new(),
        _ => format!(" to open files on {}", hosts.iter().cloned().collect::<Vec<_>>().join(", ")),
    };
    Conclusion::on_server(
        seen,
        if hosts.is_empty() { reading.severity } else { Severity::High },
        format!(
            "{source} used the Encrypting File System Remote Protocol on {server} as {who}{told} \
             (PetitPotam): the server's machine account is made to authenticate where the attacker \
             can relay it."
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
    fn fires_on_petitpotam_whose_efsr_bind_the_dc_refused() {
        // bob binds MS-EFSR over \pipe\lsarpc (refused: Samba does not serve it, as an RPC
        // filter would refuse it on Windows) and tries \pipe\efsrpc (no such pipe).
        let alerts = extra_alerts("efs_coerce", META.id, &DetectionConfig::default());
        assert_eq!(alerts.len(), 1, "{alerts:#?}");
        let alert = &alerts[0];
        assert_eq!(alert.source.ip, Some("10.99.0.21".parse().unwrap()));
        assert_eq!(alert.source.account.as_deref(), Some("LAB\\bob"));
        assert!(alert.targets.computers.contains("10.99.0.10"));
        assert_eq!(alert.severity, Severity::Medium);
        assert!(
            alert
                .evidence
                .iter()
                .any(|e| e.summary == "MS-EFSR bind over \\pipe\\lsarpc by LAB\\bob refused (reason 1)"),
            "{:#?}",
            alert.evidence
        );
    }

    #[test]
    fn a_unc_path_to_another_host_is_high_and_local_paths_are_not_alerted() {
        let foreign = |server: &str| ForeignCall {
            source: "10.99.0.21".parse().unwrap(),
            server: server.parse().unwrap(),
            actor: Some("LAB\\bob".into()),
            who: "LAB\\bob".into(),
            result: "failed",
        };
        // What the decoder reads from PetitPotam's EfsRpcOpenFileRaw (orthrus-proto's test
        // on impacket's encoding of it).
        let detail = Some(RpcDetail::Callback { path: "\\\\10.99.0.21\\share\\file.txt".into() });
        let call = RpcCall {
            via: orthrus_model::Carrier::Smb,
            pipe: Some("lsarpc".into()),
            interface: "efsrpc".into(),
            interface_uuid: "c681d488-d850-11d0-8c52-00c04fd90f7e".into(),
            opnum: 0,
            operation: Some("EfsRpcOpenFileRaw".into()),
            auth: None,
            user: Some("LAB\\bob".into()),
            encrypted: false,
            detail,
            status: None,
            return_code: None,
        };
        let attempt = judge_call(&call, &foreign("10.99.0.10")).expect("UNC to the attacker");
        assert_eq!(attempt.severity, Severity::High);
        assert_eq!(attempt.names.first().map(String::as_str), Some("10.99.0.21"));
        let local = RpcCall {
            detail: Some(RpcDetail::Callback { path: "C:\\Users\\bob\\a.txt".into() }),
            ..call.clone()
        };
        assert!(judge_call(&local, &foreign("10.99.0.10")).is_none());
        let sealed = RpcCall { detail: None, encrypted: true, ..call };
        assert_eq!(judge_call(&sealed, &foreign("10.99.0.10")).map(|a| a.severity), Some(Severity::Medium));
    }

    #[test]
    fn silent_for_excluded_callers_dcs_and_benign_traffic() {
        let mut config = DetectionConfig::default();
        config.settings_mut::<ForeignRpc<PetitPotam>>().exclude_actors = vec!["bob".into()];
        assert!(extra_alerts("efs_coerce", META.id, &config).is_empty());
        let from_dc =
            DetectionConfig { domain_controllers: vec!["10.99.0.21".into()], ..DetectionConfig::default() };
        assert!(extra_alerts("efs_coerce", META.id, &from_dc).is_empty());
        // DFSCoerce is ORT-RPC-004's.
        assert!(extra_alerts("dfs_coerce", META.id, &DetectionConfig::default()).is_empty());
        assert_silent_on_logs_and_captures(META.id);
    }
}
