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

use orthrus_model::{Activity, ActivityKind, AlertTargets, RpcBindRefusal, RpcCall, RpcDetail, Severity};

use super::{EventRuleConfig, Finding, ForeignCall, KnownDcs, NamedEpisodes, callback_host};
use crate::{AlertUpdate, DetectionConfig, DetectionMeta, Detector};

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
};

pub fn build(config: &DetectionConfig) -> Box<dyn Detector> {
    Box::new(PetitPotam {
        config: config.petitpotam.clone(),
        dcs: KnownDcs::from_config(config),
        episodes: NamedEpisodes::new(config.petitpotam.window_secs),
    })
}

pub struct PetitPotam {
    config: EventRuleConfig,
    dcs: KnownDcs,
    episodes: NamedEpisodes,
}

/// What one MS-EFSR call or bind told: the evidence line, the host named, how severe.
struct Attempt {
    summary: String,
    host: Option<String>,
    severity: Severity,
}

impl PetitPotam {
    fn call(&self, call: &RpcCall, foreign: &ForeignCall) -> Option<Attempt> {
        let operation = call.operation.as_deref().unwrap_or("an MS-EFSR operation");
        let ForeignCall { server, who, result, .. } = foreign;
        if call.encrypted {
            return Some(Attempt {
                summary: format!("{result} sealed {operation} by {who}"),
                host: None,
                severity: Severity::Medium,
            });
        }
        let Some(RpcDetail::Callback { path }) = &call.detail else { return None };
        let host = callback_host(path);
        let unc_elsewhere = path.starts_with("\\\\") && !host.is_empty() && host != server.to_string();
        unc_elsewhere.then(|| Attempt {
            summary: format!("{result} {operation} by {who}: {path}"),
            host: Some(host.to_owned()),
            severity: Severity::High,
        })
    }

    fn raise(
        &mut self,
        activity: &Activity,
        foreign: ForeignCall,
        attempt: Attempt,
        updates: &mut Vec<AlertUpdate>,
    ) {
        let ForeignCall { source, server, who, .. } = foreign;
        let key = format!("{source} {server}");
        let hosts = self.episodes.add(&key, activity.time, attempt.host.clone());
        let told = match hosts.len() {
            0 => String::new(),
            _ => format!(" to open files on {}", hosts.iter().cloned().collect::<Vec<_>>().join(", ")),
        };
        let severity = if hosts.is_empty() { attempt.severity } else { Severity::High };
        let finding = Finding {
            key,
            summary: attempt.summary,
            description: format!(
                "{source} used the Encrypting File System Remote Protocol on {server} as {who}{told} \
                 (PetitPotam): the server's machine account is made to authenticate where the attacker \
                 can relay it."
            ),
            severity,
            actor: (who != "an unknown account").then_some(who),
            targets: AlertTargets {
                computers: BTreeSet::from([server.to_string()]),
                ..AlertTargets::default()
            },
        };
        self.episodes.raise(&META, activity, finding, updates);
    }

    fn refused_bind(&self, activity: &Activity, bind: &RpcBindRefusal) -> Option<(ForeignCall, Attempt)> {
        let (source, server) = (activity.source_ip()?, activity.destination?.ip);
        if self.dcs.contains_address(source) {
            return None;
        }
        let who = bind.user.clone().unwrap_or_else(|| "an unknown account".into());
        let pipe = bind.pipe.as_deref().map(|p| format!(" over \\pipe\\{p}")).unwrap_or_default();
        let attempt = Attempt {
            summary: format!("MS-EFSR bind{pipe} by {who} refused (reason {})", bind.reason),
            host: None,
            severity: Severity::Medium,
        };
        Some((ForeignCall { source, server, who, result: "refused" }, attempt))
    }
}

impl Detector for PetitPotam {
    fn meta(&self) -> &'static DetectionMeta {
        &META
    }

    fn observe(&mut self, activity: &Activity, updates: &mut Vec<AlertUpdate>) {
        self.dcs.learn(activity);
        let found = match &activity.kind {
            ActivityKind::RpcCalled(call) if call.interface == "efsrpc" => {
                self.dcs.foreign_call(activity, call).and_then(|f| self.call(call, &f).map(|a| (f, a)))
            }
            ActivityKind::RpcBindRefused(bind) if bind.interface == "efsrpc" => {
                self.refused_bind(activity, bind)
            }
            _ => None,
        };
        let Some((foreign, attempt)) = found else { return };
        if self.config.excludes(&foreign.who) {
            return;
        }
        self.raise(activity, foreign, attempt, updates);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detections::recon::testing::extra_alerts;
    use crate::detections::windows::testing::assert_silent_on_logs_and_captures;

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
        let detector = PetitPotam {
            config: EventRuleConfig::default(),
            dcs: KnownDcs::default(),
            episodes: NamedEpisodes::new(3600),
        };
        let foreign = |server: &str| ForeignCall {
            source: "10.99.0.21".parse().unwrap(),
            server: server.parse().unwrap(),
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
        let attempt = detector.call(&call, &foreign("10.99.0.10")).expect("UNC to the attacker");
        assert_eq!(attempt.severity, Severity::High);
        assert_eq!(attempt.host.as_deref(), Some("10.99.0.21"));
        let local = RpcCall {
            detail: Some(RpcDetail::Callback { path: "C:\\Users\\bob\\a.txt".into() }),
            ..call.clone()
        };
        assert!(detector.call(&local, &foreign("10.99.0.10")).is_none());
        let sealed = RpcCall { detail: None, encrypted: true, ..call };
        assert_eq!(
            detector.call(&sealed, &foreign("10.99.0.10")).map(|a| a.severity),
            Some(Severity::Medium)
        );
    }

    #[test]
    fn silent_for_excluded_callers_dcs_and_benign_traffic() {
        let mut config = DetectionConfig::default();
        config.petitpotam.exclude_actors = vec!["bob".into()];
        assert!(extra_alerts("efs_coerce", META.id, &config).is_empty());
        let from_dc =
            DetectionConfig { domain_controllers: vec!["10.99.0.21".into()], ..DetectionConfig::default() };
        assert!(extra_alerts("efs_coerce", META.id, &from_dc).is_empty());
        // DFSCoerce is ORT-RPC-004's.
        assert!(extra_alerts("dfs_coerce", META.id, &DetectionConfig::default()).is_empty());
        assert_silent_on_logs_and_captures(META.id);
    }
}
