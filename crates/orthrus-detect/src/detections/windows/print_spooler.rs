//! ORT-RPC-002 — Print Spooler abuse: the "printer bug" authentication coercion and
//! PrintNightmare's remote driver installation.
//!
//! - Attack: any domain user can ask a server's Print Spooler (MS-RPRN over `\\spoolss`) to
//!   notify a client of printer changes; the server then connects to the client it is told
//!   to — with its machine account. SpoolSample, impacket's printerbug.py, Coercer and
//!   krbrelayx point a domain controller at a host the attacker controls (unconstrained
//!   delegation, NTLM relay to AD CS or LDAP), so the DC's own credentials arrive there.
//! - ATT&CK: T1210 (Exploitation of Remote Services), T1187 (Forced Authentication). MDI:
//!   Suspected exploitation attempt on Windows Print Spooler service (2415).
//! - Data: NET: MS-RPRN `RpcRemoteFindFirstPrinterChangeNotification` (62) and
//!   `RpcRemoteFindFirstPrinterChangeNotificationEx` (65) requests and their `pszLocalMachine`
//!   — the host to call back — from the stub (not readable when the call is sealed, which
//!   the spooler's clients do not do), with the caller's address and account.
//! - Logic: any such call from an address that is not a known DC's: the call succeeding or
//!   not (SpoolSample's is refused with access denied and the server still calls back), the
//!   server has been told to authenticate to the named host. One alert per source, server
//!   and quiet gap `window_secs` (config `[print_spooler]`); Medium, High when the server is
//!   a known domain controller or the callback names another host than the caller.
//! - Thresholds: `window_secs = 3600`.
//! - Benign: clients of a print server that registers for change notifications (the
//!   print queue window) — domain controllers should not be print servers; where one is,
//!   exclude its clients (`exclude_sources`) or accounts (`exclude_actors`).
//! - PrintNightmare: MS-RPRN `RpcAddPrinterDriverEx` (89), or MS-PAR's
//!   `RpcAsyncAddPrinterDriver` (IRemoteWinspool opnum 39, over TCP, sealed as MS-PAR
//!   requires) from a non-DC — a driver installed remotely, which no workstation needs to do
//!   on a DC — is High, naming the driver files (a DLL on another host's share is the
//!   payload) when the call is readable.
//! - Evidence: each call (request and reply frames), the callback host, the account, the
//!   server's answer.

use std::collections::BTreeSet;

use orthrus_model::{RpcDetail, Severity};

use crate::DetectionMeta;
use crate::detections::foreign_rpc::{
    Attempt, Conclusion, ForeignRpcDetection, ForeignRpcRule, Reading, Seen,
};
use crate::names::callback_host;

pub static META: DetectionMeta = DetectionMeta {
    id: "ORT-RPC-002",
    title: "Suspected exploitation attempt on the Print Spooler service (printer bug, PrintNightmare)",
    mdi: "Suspected exploitation attempt on Windows Print Spooler service (2415)",
    external_id: 2415,
    cef_app: "Rprn",
    tactic: "TA0008",
    techniques: &["T1210", "T1187"],
    data_sources: &[
        "MS-RPRN RpcRemoteFindFirstPrinterChangeNotification(Ex) with its callback host",
        "MS-RPRN RpcAddPrinterDriverEx with the driver files",
    ],
    base_severity: Severity::Medium,
    escalates_for_sensitive: false,
    config_section: "print_spooler",
    meaning: "A DC was asked by a non-DC to open or notify a remote printer (the printer bug) or to load a driver (PrintNightmare).",
    impact: "The DC authenticates to the attacker (relay, unconstrained delegation) or runs a driver the attacker chose.",
    actions: &[
        "Disable the Print Spooler service on DCs.",
        "Isolate the source and look for NTLM relay or delegation abuse in this incident.",
    ],
};

pub struct PrintSpooler;

impl ForeignRpcDetection for PrintSpooler {
    const META: &'static DetectionMeta = &META;
    const RULES: &'static [ForeignRpcRule] = &[
        // The printer bug: any MS-RPRN call carrying a host to call back.
        ForeignRpcRule::calls("rprn", &[], read_callback, conclude_callback),
        // PrintNightmare over MS-RPRN, and over MS-PAR (sealed, as MS-PAR requires: then the
        // driver is unknown).
        ForeignRpcRule::calls("rprn", &["RpcAddPrinterDriverEx"], read_driver, conclude_driver)
            .keyed("driver "),
        ForeignRpcRule::calls("par", &["RpcAsyncAddPrinterDriver"], read_driver, conclude_driver)
            .keyed("driver "),
    ];
}

/// The host the server is told to call back; High when it is not the caller.
fn read_callback(seen: &Seen<'_>) -> Option<Reading> {
    let Attempt::Call(call) = seen.attempt else { return None };
    let Some(RpcDetail::Callback { path }) = &call.detail else { return None };
    let host = callback_host(path);
    let elsewhere = !host.is_empty()
        && host.parse::<std::net::IpAddr>().map_or_else(
            |_| seen.activity.source_host.as_deref().is_none_or(|h| !h.eq_ignore_ascii_case(host)),
            |ip| ip != seen.party.source,
        );
    let (result, who) = (seen.party.result, &seen.party.who);
    Some(Reading {
        names: vec![host.to_owned()],
        summary: format!("{result} printer change notification by {who}: call back {path}"),
        severity: if elsewhere { Severity::High } else { META.base_severity },
    })
}

fn conclude_callback(seen: &Seen<'_>, reading: &Reading, hosts: &BTreeSet<String>) -> Conclusion {
    let (source, server, who) = (seen.party.source, seen.party.server, &seen.party.who);
    let on_dc = seen.context.dcs().contains_address(server);
    Conclusion::on_server(
        seen,
        if on_dc { Severity::High } else { reading.severity },
        format!(
            "{source} told the Print Spooler of {}{server} as {who} to authenticate to {} (the \
             printer bug): the server's machine account connects there and can be relayed or \
             its ticket captured.",
            if on_dc { "domain controller " } else { "" },
            hosts.iter().cloned().collect::<Vec<_>>().join(", "),
        ),
    )
}

/// A printer driver installed remotely: its files, a DLL on another host's share being the
/// payload PrintNightmare loads.
fn read_driver(seen: &Seen<'_>) -> Option<Reading> {
    let Attempt::Call(call) = seen.attempt else { return None };
    let (driver, files) = match &call.detail {
        Some(RpcDetail::PrinterDriver { name, files, .. }) => (Some(name.clone()), files.clone()),
        _ => (None, Vec::new()),
    };
    let (operation, result, who) = (seen.operation, seen.party.result, &seen.party.who);
    Some(Reading {
        summary: format!(
            "{result} {operation} by {who}{}{}{}",
            if call.encrypted { " (sealed)" } else { "" },
            driver.as_ref().map(|d| format!(": driver \"{d}\"")).unwrap_or_default(),
            if files.is_empty() { String::new() } else { format!(", files {}", files.join(", ")) },
        ),
        names: files.into_iter().filter(|f| f.starts_with("\\\\")).collect(),
        severity: Severity::High,
    })
}

fn conclude_driver(seen: &Seen<'_>, reading: &Reading, remote: &BTreeSet<String>) -> Conclusion {
    let (source, server, who) = (seen.party.source, seen.party.server, &seen.party.who);
    Conclusion::on_server(
        seen,
        reading.severity,
        format!(
            "{source} asked the Print Spooler of {server} as {who} to install a printer driver{} \
             (PrintNightmare, CVE-2021-34527): the spooler loads driver files as SYSTEM.",
            match remote.len() {
                0 => String::new(),
                _ => format!(
                    " loading {} from another host",
                    remote.iter().cloned().collect::<Vec<_>>().join(", ")
                ),
            },
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::DetectionConfig;
    use crate::detections::foreign_rpc::ForeignRpc;
    use crate::testing::logs::assert_silent_on_logs_and_captures;
    use orthrus_model::ActivityKind;

    fn wire_alerts(path: &std::path::Path, config: &DetectionConfig) -> Vec<orthrus_model::Alert> {
        let mut engine = crate::Engine::new(config, "test");
        for activity in orthrus_testkit::activities(path) {
            engine.observe(&activity);
        }
        engine.finish().into_iter().filter(|a| a.detection == META.id).collect()
    }

    fn spool_sample() -> std::path::PathBuf {
        orthrus_testkit::corpus().join("pcap-attack/CredAccess/CA_LM_SpoolSample_SMB_BiAuth.pcapng")
    }

    #[test]
    fn fires_on_spoolsample_against_a_windows_server() {
        // SpoolSample from 172.16.66.37 makes 172.16.66.36 call it back; the request is
        // refused with access denied, and the server calls back all the same.
        let alerts = wire_alerts(&spool_sample(), &DetectionConfig::default());
        assert_eq!(alerts.len(), 1, "{alerts:#?}");
        let alert = &alerts[0];
        assert_eq!(alert.source.ip, Some("172.16.66.37".parse().unwrap()));
        assert_eq!(alert.source.account.as_deref(), Some("3B\\lgreen"));
        assert!(alert.targets.computers.contains("172.16.66.36"));
        assert_eq!(
            alert.severity,
            Severity::Medium,
            "the caller named itself; nothing says the server is a DC"
        );
        // Name resolution names both ends in the sentence.
        assert!(
            alert.description.contains("to authenticate to 02694W-WIN10 (172.16.66.37) (the printer bug)"),
            "{}",
            alert.description
        );
        assert!(
            alert.evidence.iter().any(|e| e.summary.contains("call back \\\\172.16.66.37")),
            "{:#?}",
            alert.evidence
        );
        let on_dc =
            DetectionConfig { domain_controllers: vec!["172.16.66.36".into()], ..DetectionConfig::default() };
        assert_eq!(wire_alerts(&spool_sample(), &on_dc)[0].severity, Severity::High);
    }

    #[test]
    fn excluded_caller_and_calls_by_a_dc_are_silent() {
        let mut config = DetectionConfig::default();
        config.settings_mut::<ForeignRpc<PrintSpooler>>().exclude_actors = vec!["lgreen".into()];
        assert!(wire_alerts(&spool_sample(), &config).is_empty());
        let from_dc =
            DetectionConfig { domain_controllers: vec!["172.16.66.37".into()], ..DetectionConfig::default() };
        assert!(wire_alerts(&spool_sample(), &from_dc).is_empty());
    }

    #[test]
    fn fires_on_printnightmare_over_ms_par_sealed() {
        // Samba does not serve MS-PAR (its endpoint mapper has no IRemoteWinspool, its spooler
        // pipe refuses the bind), so the sealed call is the lab's RpcAddPrinterDriverEx as an
        // MS-PAR client sends it: IRemoteWinspool's opnum 39, arguments unreadable.
        let path = orthrus_testkit::fixture("lab-extra/printnightmare.pcap");
        let mut activities = orthrus_testkit::activities(&path);
        for activity in &mut activities {
            if let ActivityKind::RpcCalled(call) = &mut activity.kind
                && call.operation.as_deref() == Some("RpcAddPrinterDriverEx")
            {
                call.interface = "par".into();
                call.interface_uuid = "76f03f96-cdfd-44fc-a22c-64950a001209".into();
                call.opnum = 39;
                call.operation = Some("RpcAsyncAddPrinterDriver".into());
                call.encrypted = true;
                call.detail = None;
            }
        }
        let alerts_with = |config: &DetectionConfig| -> Vec<orthrus_model::Alert> {
            let mut engine = crate::Engine::new(config, "test");
            for activity in &activities {
                engine.observe(activity);
            }
            engine.finish().into_iter().filter(|a| a.detection == META.id).collect()
        };
        // From a DC: nothing.
        let from_dc =
            DetectionConfig { domain_controllers: vec!["10.99.0.21".into()], ..DetectionConfig::default() };
        assert!(alerts_with(&from_dc).is_empty());
        let alerts = alerts_with(&DetectionConfig::default());
        assert_eq!(alerts.len(), 1, "{alerts:#?}");
        let alert = &alerts[0];
        assert_eq!(alert.source.ip, Some("10.99.0.21".parse().unwrap()));
        assert_eq!(alert.severity, Severity::High);
        assert!(
            alert.evidence[0].summary.contains("RpcAsyncAddPrinterDriver by LAB\\bob (sealed)"),
            "{:#?}",
            alert.evidence
        );
        assert!(
            alert.description.contains("to install a printer driver (PrintNightmare"),
            "{}",
            alert.description
        );
    }

    #[test]
    fn fires_on_printnightmares_driver_install_with_a_dll_on_the_attackers_share() {
        // bob asks the DC's spooler to install a driver whose data file is
        // \\10.99.0.21\share\evil.dll; Samba answers ERROR_INVALID_LEVEL.
        let alerts =
            crate::testing::extra::extra_alerts("printnightmare", META.id, &DetectionConfig::default());
        assert_eq!(alerts.len(), 1, "{alerts:#?}");
        let alert = &alerts[0];
        assert_eq!(alert.source.ip, Some("10.99.0.21".parse().unwrap()));
        assert_eq!(alert.source.account.as_deref(), Some("LAB\\bob"));
        assert_eq!(alert.severity, Severity::High);
        assert!(
            alert.description.contains(
                "install a printer driver loading \\\\10.99.0.21\\share\\evil.dll from another host"
            ),
            "{}",
            alert.description
        );
        assert!(alert.evidence[0].summary.contains("driver \"Orthrus Lab Driver\""), "{:#?}", alert.evidence);
        // Silent for an excluded caller and for a DC installing a driver.
        let mut config = DetectionConfig::default();
        config.settings_mut::<ForeignRpc<PrintSpooler>>().exclude_actors = vec!["bob".into()];
        assert!(crate::testing::extra::extra_alerts("printnightmare", META.id, &config).is_empty());
        let from_dc =
            DetectionConfig { domain_controllers: vec!["10.99.0.21".into()], ..DetectionConfig::default() };
        assert!(crate::testing::extra::extra_alerts("printnightmare", META.id, &from_dc).is_empty());
        // The coercion part is silent on it, and the driver part on SpoolSample.
        assert!(
            wire_alerts(&spool_sample(), &DetectionConfig::default())[0].description.contains("printer bug")
        );
    }

    #[test]
    fn fires_on_a_windows_printnightmare_capture() {
        // The public corpus's Suricata test capture for DCE-RPC interface binds is cube0x0's
        // PrintNightmare on a Windows network: driver "1234" loading mimilib.dll from a share,
        // which the server accepts.
        let path = orthrus_testkit::corpus().join("suricata-verify/tests/smb-dce_iface/input.pcap");
        let alerts = wire_alerts(&path, &DetectionConfig::default());
        assert_eq!(alerts.len(), 1, "{alerts:#?}");
        assert_eq!(alerts[0].source.account.as_deref(), Some("cylera.lab\\robin"));
        assert!(
            alerts[0]
                .description
                .contains("loading \\\\ws02.cylera.lab\\security\\mimilib.dll from another host"),
            "{}",
            alerts[0].description
        );
        assert!(alerts[0].evidence[0].summary.starts_with("successful RpcAddPrinterDriverEx"));
    }

    #[test]
    fn callback_hosts_from_unc_paths() {
        assert_eq!(callback_host("\\\\172.16.66.37"), "172.16.66.37");
        assert_eq!(callback_host("\\\\attacker.corp.example\\share\\x"), "attacker.corp.example");
        assert_eq!(callback_host(""), "");
    }

    #[test]
    fn silent_on_benign_logs_and_captures() {
        assert_silent_on_logs_and_captures(META.id);
    }
}
