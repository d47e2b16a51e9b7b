//! ORT-NTLM-005 — Brute force over SMB with an unusual NTLM implementation.
//!
//! - Attack: password guessing over SMB with a tool's own SMB/NTLM stack — Hydra, Medusa,
//!   CrackMapExec/NetExec and other impacket-based brute forcers — rather than Windows'
//!   SSPI: their NTLMSSP AUTHENTICATE messages leave out what every Windows client sends.
//! - ATT&CK: T1110.001, T1110.003. MDI: Suspected Brute Force attack (SMB) (2033) (previously
//!   "Unusual protocol implementation (potential use of malicious tools such as Hydra)").
//! - Data: NET: NTLMSSP AUTHENTICATE messages in SMB session setups with the server's answer:
//!   the workstation name, the VERSION field, the MIC.
//! - Logic: an authentication is *unusual* when it lacks what Windows (Vista and later)
//!   always sends: a workstation name, the NTLMSSP version, and with NTLMv2 a MIC (anonymous
//!   logons are not judged). Per source, in a sliding `window_secs`, at least
//!   `min_failures` failed unusual authentications → alert, naming the accounts tried, what
//!   the implementation lacks, and any account whose password it then found. Medium; High
//!   once a guess succeeded.
//! - Thresholds: `window_secs = 600`, `min_failures = 10` (config `[smb_brute_force]`).
//! - Benign: applications with their own SMB/NTLM stack (scanners, NAS, old Samba, Java)
//!   failing repeatedly on a stale password — exclude the source.
//! - Evidence: every failed authentication counted and the successful one, with the account,
//!   workstation and answer.

use std::collections::BTreeSet;
use std::net::IpAddr;

use orthrus_model::{
    Activity, ActivityKind, AlertSource, AlertTargets, AuthOutcome, Carrier, NtlmAuthentication,
    NtlmResponse, Severity,
};
use serde::Deserialize;

use crate::names::name_list;
use crate::window::{PerSource, Recent, Window};
use crate::{Alerts, Context, Detection, DetectionMeta, Detector, Finding, Settings};

pub static META: DetectionMeta = DetectionMeta {
    id: "ORT-NTLM-005",
    title: "Suspected brute force attack (SMB) with an unusual NTLM implementation",
    mdi: "Suspected Brute Force attack (SMB) (2033)",
    external_id: 2033,
    cef_app: "Ntlm",
    tactic: "TA0006",
    techniques: &["T1110.001", "T1110.003"],
    data_sources: &["SMB session setups: NTLMSSP AUTHENTICATE workstation, version, MIC, and the answer"],
    base_severity: Severity::Medium,
    escalates_for_sensitive: false,
    config_section: "smb_brute_force",
    meaning: "Many SMB logons were tried with NTLM messages that Windows does not build: the stack of brute-force tools such as Hydra, Medusa and NetExec.",
    impact: "Guessed passwords give the attacker accounts and, over SMB, often remote execution.",
    actions: &[
        "Check whether any attempt succeeded; reset those accounts' passwords.",
        "Isolate the source computer and find the tool.",
        "Block SMB from workstations to servers that do not need it.",
    ],
};

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SmbBruteForceConfig {
    pub window_secs: u64,
    /// Failed unusual authentications from one source in the window.
    pub min_failures: usize,
    pub exclude_sources: Vec<IpAddr>,
}

impl Default for SmbBruteForceConfig {
    fn default() -> Self {
        Self { window_secs: 600, min_failures: 10, exclude_sources: Vec::new() }
    }
}

impl Settings for SmbBruteForceConfig {
    fn exclude_sources(&self) -> &[IpAddr] {
        &self.exclude_sources
    }

    fn thresholds(&self) -> Vec<(&'static str, String)> {
        vec![("window_secs", self.window_secs.to_string()), ("min_failures", self.min_failures.to_string())]
    }
}

/// What an NTLM AUTHENTICATE lacks that Windows always sends (empty: it looks like Windows).
pub fn unusual(auth: &NtlmAuthentication) -> Vec<&'static str> {
    let mut lacks = Vec::new();
    if auth.workstation.is_empty() {
        lacks.push("no workstation name");
    }
    if auth.os_version.is_none() {
        lacks.push("no NTLMSSP version");
    }
    if auth.response == NtlmResponse::V2 && !auth.mic && !auth.mic_missing {
        lacks.push("no MIC");
    }
    lacks
}

impl Detection for SmbBruteForce {
    type Settings = SmbBruteForceConfig;
    const META: &'static DetectionMeta = &META;

    fn new(settings: &Self::Settings) -> Self {
        let c = settings.clone();
        SmbBruteForce { sources: PerSource::new(c.window_secs), config: c }
    }
}

struct SourceState {
    failures: Window<String>,
    recent: Recent,
    lacks: BTreeSet<&'static str>,
    guessed: BTreeSet<String>,
}

pub struct SmbBruteForce {
    config: SmbBruteForceConfig,
    sources: PerSource<SourceState>,
}

impl Detector for SmbBruteForce {
    fn observe(&mut self, activity: &Activity, _context: &Context, alerts: &mut Alerts<'_>) {
        let ActivityKind::NtlmAuthenticated(auth) = &activity.kind else { return };
        if auth.via != Carrier::Smb || auth.response == NtlmResponse::Anonymous || activity.from_event_log() {
            return;
        }
        let lacks = unusual(auth);
        let failed = matches!(auth.outcome, AuthOutcome::Failed { .. });
        if lacks.is_empty() || !(failed || auth.outcome == AuthOutcome::Succeeded) {
            return;
        }
        let source = activity.source_id();
        let window = self.config.window_secs;
        let (state, incident) = self.sources.at(&source, activity.time, || SourceState {
            failures: Window::new(window, 100_000),
            recent: Recent::new(window),
            lacks: BTreeSet::new(),
            guessed: BTreeSet::new(),
        });
        let account = auth.account();
        if failed {
            state.failures.insert(activity.time, account.clone());
        }
        state.failures.expire(activity.time);
        state.lacks.extend(lacks);
        let answer = match auth.outcome {
            AuthOutcome::Failed { status } => status.to_string(),
            _ => "succeeded".to_owned(),
        };
        let workstation = if auth.workstation.is_empty() { "none" } else { auth.workstation.as_str() };
        state
            .recent
            .push(activity, format!("SMB NTLM logon as {account} (workstation {workstation}): {answer}"));
        let failures: usize = state.failures.items().map(|(_, n)| n as usize).sum();
        if failures < self.config.min_failures && !incident.alerted {
            return;
        }
        if !incident.alerted {
            incident.restart(activity.time);
        }
        if !failed {
            state.guessed.insert(account.clone());
        }
        state.recent.drain_into(incident);
        incident.alerted = true;
        let tried: Vec<String> = state.failures.items().map(|(a, _)| a.clone()).collect();
        let guessed = match state.guessed.len() {
            0 => String::new(),
            _ => format!("; the password of {} was found", name_list(state.guessed.iter(), 5)),
        };
        let description = format!(
            "{source} failed {failures} SMB logons for {} with an NTLM implementation that is not Windows' ({}){guessed}.",
            name_list(tried.iter(), 5),
            state.lacks.iter().copied().collect::<Vec<_>>().join(", "),
        );
        let severity = if state.guessed.is_empty() { META.base_severity } else { Severity::High };
        let targets = AlertTargets {
            accounts: tried.into_iter().chain(state.guessed.iter().cloned()).collect(),
            ..AlertTargets::default()
        };
        let verdict = Finding { severity, description, source: AlertSource::from_id(&source), targets };
        alerts.raise(activity, &activity.source_id().to_string(), incident, verdict);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::DetectionConfig;
    use crate::testing::extra::extra_alerts;
    use crate::testing::lab::{BENIGN, alerts_for, assert_silent};

    #[test]
    fn fires_on_the_labs_impacket_brute_force_and_names_the_guess() {
        // An impacket-based SMB login loop: 11 wrong passwords for carol, then the right one.
        let alerts = alerts_for("ntlm_bruteforce", META.id, &DetectionConfig::default());
        assert_eq!(alerts.len(), 1, "{alerts:#?}");
        let alert = &alerts[0];
        assert_eq!(alert.source.ip, Some("10.99.0.21".parse().unwrap()));
        assert_eq!(alert.severity, Severity::High, "the last guess worked");
        assert!(
            alert.description.contains("(no MIC, no NTLMSSP version, no workstation name)")
                && alert.description.ends_with("the password of LAB\\carol was found."),
            "{}",
            alert.description
        );
        assert!(alert.description.starts_with("10.99.0.21 failed 11 SMB logons"), "{}", alert.description);
    }

    #[test]
    fn silent_for_windows_like_clients_below_the_threshold_and_benign_traffic() {
        // Samba's smbclient sends workstation, version and MIC, as Windows does: the spray and
        // the name guessing are ORT-NTLM-002's and ORT-NTLM-001's.
        assert!(alerts_for("ntlm_password_spray", META.id, &DetectionConfig::default()).is_empty());
        assert!(extra_alerts("ntlm_user_enum", META.id, &DetectionConfig::default()).is_empty());
        let config = DetectionConfig::default()
            .with::<SmbBruteForce>(SmbBruteForceConfig { min_failures: 12, ..Default::default() });
        assert!(alerts_for("ntlm_bruteforce", META.id, &config).is_empty(), "11 failures");
        assert_silent(BENIGN, META.id);
        crate::testing::logs::assert_silent(META.id);
    }

    #[test]
    fn windows_clients_look_usual() {
        let windows = NtlmAuthentication {
            via: Carrier::Smb,
            user: "bob".into(),
            domain: "CORP".into(),
            workstation: "WS01".into(),
            response: NtlmResponse::V2,
            client_time: None,
            mic: true,
            mic_missing: false,
            os_version: Some("10.0.19041".into()),
            target_name: None,
            server_name: None,
            channel_bindings: false,
            outcome: AuthOutcome::Unknown,
        };
        assert!(unusual(&windows).is_empty());
        let relayed = NtlmAuthentication { mic: false, mic_missing: true, ..windows.clone() };
        assert!(unusual(&relayed).is_empty(), "a stripped MIC is ORT-NTLM-003's, not a tool's stack");
    }
}
