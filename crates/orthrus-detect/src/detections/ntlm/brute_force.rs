//! ORT-NTLM-002 — Brute force and password spray (NTLM and logon events).
//!
//! - Attack: the attacker guesses passwords over NTLM (SMB, LDAP, RDP, SSH to Windows,
//!   hydra/crackmapexec/kerbrute's NTLM modes): many passwords on one account (*brute
//!   force*) or one password on many accounts (*spray*). On a host, a process can also spray
//!   through explicit credentials (`runas`, `net use /user:`, `LogonUser`).
//! - ATT&CK: T1110.001 (Password Guessing), T1110.003 (Password Spraying). MDI: Suspected
//!   Brute Force attack (Kerberos, NTLM) (2023), NTLM part.
//! - Data: refused NTLM authentications (NTLMSSP AUTHENTICATE and the server's status on the
//!   wire; events 4776 on the DC; Samba's NTLMSSP audit) and refused logons (4625, except
//!   LDAP simple binds, which ORT-LDAP-001 counts); successful explicit-credential logons (4648).
//! - Logic: per source (address; else the workstation name the client claimed; else the
//!   computer that logged a local attempt), in event time, within `window_secs`:
//!   *brute force* when one account collects `min_failures_one_account` failures (any
//!   status: an attacker does not know the name is wrong); *spray* when at least one guess
//!   was a wrong password and `min_accounts` distinct accounts failed. A refused attempt often
//!   shows up twice on a DC (4776 and 4625): each account's count is the larger of the two
//!   views, not their sum. Names the DC answered STATUS_NO_SUCH_USER for in an NTLM
//!   authentication are enumeration (ORT-NTLM-001) and never count, even where the wire showed
//!   only STATUS_LOGON_FAILURE; refused logons (4625) with unknown names still count (SSH and
//!   console guessing try names and passwords together). *Explicit-credential spray*: one account on one computer uses
//!   explicit credentials of `min_accounts` distinct accounts (4648).
//! - Thresholds: `window_secs = 3600`, `min_failures_one_account = 5`, `min_accounts = 5`
//!   (config `[ntlm_brute_force]`).
//! - Benign: a service with a stale password retrying (raise the per-account threshold or
//!   exclude the source); scripts mapping drives for many users from one admin host.
//! - Evidence: each counted failure (or 4648) with account and status.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::IpAddr;

use orthrus_model::{
    Activity, ActivityKind, AlertSource, AlertTargets, AuthOutcome, NtStatus, Severity, SourceId,
};
use serde::Deserialize;

use crate::names::{account_key, name_list};
use crate::window::{AccountFailures, Incidents, Recent};
use crate::{Alerts, Context, Detection, DetectionMeta, Detector, Finding, Settings};

pub static META: DetectionMeta = DetectionMeta {
    id: "ORT-NTLM-002",
    title: "Suspected brute force or password spray (NTLM, logon events)",
    mdi: "Suspected Brute Force attack (Kerberos, NTLM) (2023)",
    external_id: 2023,
    cef_app: "Ntlm",
    tactic: "TA0006",
    techniques: &["T1110.001", "T1110.003"],
    data_sources: &["NTLMSSP AUTHENTICATE + status", "events 4776 / 4625 / 4648", "Samba NTLMSSP audit"],
    base_severity: Severity::Medium,
    escalates_for_sensitive: true,
    config_section: "ntlm_brute_force",
    meaning: "Many NTLM logons failed from one source, against one account or across many accounts with a few passwords each (password spray).",
    impact: "Guessed accounts are taken over.",
    actions: &[
        "Check whether any attempt succeeded; reset those accounts' passwords and review their sessions.",
        "Find what on the source sent the attempts; isolate it if it is not a misconfigured service with an old password.",
        "Enforce lockout and strong passwords or MFA; disable NTLM where it is not needed.",
    ],
};

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NtlmBruteForceConfig {
    pub window_secs: u64,
    pub min_failures_one_account: u32,
    pub min_accounts: usize,
    pub exclude_sources: Vec<IpAddr>,
}

impl Default for NtlmBruteForceConfig {
    fn default() -> Self {
        Self { window_secs: 3600, min_failures_one_account: 5, min_accounts: 5, exclude_sources: Vec::new() }
    }
}

impl Settings for NtlmBruteForceConfig {
    fn exclude_sources(&self) -> &[IpAddr] {
        &self.exclude_sources
    }

    fn thresholds(&self) -> Vec<(&'static str, String)> {
        vec![
            ("window_secs", self.window_secs.to_string()),
            ("min_failures_one_account", self.min_failures_one_account.to_string()),
            ("min_accounts", self.min_accounts.to_string()),
        ]
    }
}

impl Detection for NtlmBruteForce {
    type Settings = NtlmBruteForceConfig;
    const META: &'static DetectionMeta = &META;

    fn new(settings: &Self::Settings) -> Self {
        NtlmBruteForce {
            config: settings.clone(),
            states: HashMap::new(),
            incidents: Incidents::new(settings.window_secs),
        }
    }
}

/// Which view of an attempt a failure came from.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum View {
    Ntlm,
    Logon,
    Explicit,
}

struct State {
    failures: AccountFailures<View>,
    names: BTreeMap<String, String>,
    /// Names the DC said do not exist: enumeration (ORT-NTLM-001), never counted as guesses,
    /// even where the wire showed them only as STATUS_LOGON_FAILURE.
    unknown: BTreeSet<String>,
    wrong_password: bool,
    recent: Recent,
}

impl State {
    fn new(window_secs: u64) -> Self {
        Self {
            failures: AccountFailures::new(window_secs),
            names: BTreeMap::new(),
            unknown: BTreeSet::new(),
            wrong_password: false,
            recent: Recent::new(window_secs),
        }
    }
}

pub struct NtlmBruteForce {
    config: NtlmBruteForceConfig,
    states: HashMap<String, State>,
    incidents: Incidents<String>,
}

impl Detector for NtlmBruteForce {
    fn observe(&mut self, activity: &Activity, _context: &Context, alerts: &mut Alerts<'_>) {
        let (view, account, status) = match &activity.kind {
            ActivityKind::NtlmAuthenticated(auth) => match auth.outcome {
                AuthOutcome::Failed { status } => (View::Ntlm, auth.account(), status),
                _ => return,
            },
            // LDAP simple binds are ORT-LDAP-001's.
            ActivityKind::LoggedOn(logon) if crate::detections::ldap::is_simple_bind_logon(logon) => return,
            ActivityKind::LoggedOn(logon) => match logon.outcome {
                AuthOutcome::Failed { status } => (View::Logon, logon.account.qualified(), status),
                _ => return,
            },
            ActivityKind::ExplicitCredentialsUsed(logon) => {
                (View::Explicit, logon.account.qualified(), NtStatus::SUCCESS)
            }
            _ => return,
        };
        if account.is_empty() {
            return;
        }
        // Per source; 4648 per acting account on its computer.
        let computer = activity.destination_host.as_deref().unwrap_or_default();
        let source = match (&activity.kind, activity.source_id()) {
            (ActivityKind::ExplicitCredentialsUsed(logon), _) => {
                let subject = logon.subject.as_ref().map(|s| s.qualified()).unwrap_or_default();
                format!("{subject} on {computer}")
            }
            (_, SourceId::Unknown) if !computer.is_empty() => format!("local logons on {computer}"),
            (_, id) => id.to_string(),
        };
        if self.states.len() >= crate::window::MAX_SOURCES {
            self.states.retain(|_, s| s.failures.is_live(activity.time));
        }
        let window_secs = self.config.window_secs;
        let state = self.states.entry(source.clone()).or_insert_with(|| State::new(window_secs));
        // A bare user name and DOMAIN\user are one account.
        let bare = account.rsplit('\\').next().unwrap_or(&account).to_owned();
        let key = account_key(&bare);
        if status == NtStatus::NO_SUCH_USER && view == View::Ntlm {
            if state.unknown.len() < 10_000 {
                state.unknown.insert(key);
            }
            return;
        }
        if state.failures.record(key.clone(), view, activity.time) {
            state.names.entry(key).or_insert(bare);
        }
        if matches!(status, NtStatus::WRONG_PASSWORD | NtStatus::LOGON_FAILURE) {
            state.wrong_password = true;
        }
        state.recent.push(activity, format!("{account}: {status}"));

        // Per account, the larger of the NTLM and logon views; explicit credentials apart.
        let unknown = &state.unknown;
        let per_account = state.failures.per_account(|account, view| match view {
            View::Ntlm => !unknown.contains(account),
            View::Logon => true,
            View::Explicit => false,
        });
        let explicit = state.failures.accounts_in(View::Explicit);
        let brute: Vec<&str> = per_account
            .iter()
            .filter(|(_, n)| **n >= self.config.min_failures_one_account as usize)
            .map(|(a, _)| *a)
            .collect();
        let spray = state.wrong_password && per_account.len() >= self.config.min_accounts;
        let explicit_spray = explicit.len() >= self.config.min_accounts;
        if brute.is_empty() && !spray && !explicit_spray {
            return;
        }
        let incident = self.incidents.at(&source, activity.time);
        if !incident.alerted {
            incident.restart(activity.time);
        }
        state.recent.drain_into(incident);
        incident.alerted = true;
        let (kind, accounts): (&str, Vec<&str>) = if explicit_spray {
            ("password spray through explicit credentials", explicit.iter().copied().collect())
        } else if spray {
            ("password spray", per_account.keys().copied().collect())
        } else {
            ("brute force", brute)
        };
        let names: BTreeSet<String> = accounts.iter().filter_map(|a| state.names.get(*a)).cloned().collect();
        let description = format!(
            "{source} made a {kind}: {} failed or explicit attempt{} against {} account{} ({}).",
            incident.count,
            if incident.count == 1 { "" } else { "s" },
            names.len(),
            if names.len() == 1 { "" } else { "s" },
            name_list(names.iter(), 5),
        );
        let targets = AlertTargets { accounts: names, ..AlertTargets::default() };
        let source_entity = AlertSource {
            ip: activity.source_ip(),
            computer: activity.source_host.as_deref().map(str::to_owned),
            account: None,
            resolution: None,
        };
        let severity = META.base_severity;
        alerts.raise(
            activity,
            &source,
            incident,
            Finding { severity, description, source: source_entity, targets },
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::DetectionConfig;
    use crate::testing::logs::{assert_silent_on_logs_and_captures, audit_alerts, corpus_alerts};

    #[test]
    fn fires_on_corpus_local_brute_force_and_ssh_guessing() {
        let config = DetectionConfig::default();
        let local = "evtx-to-mitre-attack/TA0006-Credential Access/T1110.xxx-Brut force/ID 4776,4625-AccountRestore local bruteforce.evtx";
        let alerts = corpus_alerts(&[local], META.id, &config);
        assert_eq!(alerts.len(), 1, "{alerts:#?}");
        let accounts: Vec<&str> = alerts[0].targets.accounts.iter().map(String::as_str).collect();
        assert_eq!(accounts, ["Admin", "Administrator"]);
        let ssh = "evtx-to-mitre-attack/TA0006-Credential Access/T1110.xxx-Brut force/ID4625-OpenSSH brutforce with non existing users.evtx";
        assert_eq!(corpus_alerts(&[ssh], META.id, &config).len(), 1);
    }

    #[test]
    fn fires_on_explicit_credential_spray() {
        let alerts =
            corpus_alerts(&["deepbluecli/evtx/password-spray.evtx"], META.id, &DetectionConfig::default());
        assert_eq!(alerts.len(), 1, "{alerts:#?}");
        assert!(alerts[0].description.contains("explicit credentials"), "{}", alerts[0].description);
        assert!(alerts[0].targets.accounts.len() >= 30);
    }

    #[test]
    fn fires_on_samba_audit_of_lab_ntlm_attacks() {
        let config = DetectionConfig::default();
        let brute = audit_alerts("ntlm_bruteforce", META.id, &config);
        assert_eq!(brute.len(), 1, "{brute:#?}");
        assert_eq!(brute[0].source.ip, Some("10.99.0.21".parse().unwrap()));
        assert!(brute[0].description.contains("brute force"));
        let spray = audit_alerts("ntlm_password_spray", META.id, &config);
        assert_eq!(spray.len(), 1, "{spray:#?}");
        assert!(spray[0].description.contains("password spray"));
        assert_eq!(spray[0].targets.accounts.len(), 10);
    }

    #[test]
    fn silent_on_benign_logs_and_lab_captures() {
        assert_silent_on_logs_and_captures(META.id);
    }
}
