//! ORT-KRB-003 — Account enumeration (Kerberos).
//!
//! - Attack: the attacker guesses account names through the KDC: an AS-REQ for a name that
//!   does not exist gets KDC_ERR_C_PRINCIPAL_UNKNOWN, one for a real account gets
//!   KDC_ERR_PREAUTH_REQUIRED (or an AS-REP, or another error about its key or state).
//!   Tools: kerbrute userenum, nmap krb5-enum-users, Rubeus brute.
//! - ATT&CK: T1087.002. MDI: Account enumeration reconnaissance (2003), Kerberos part.
//! - Data: `TgtRequested` activities (AS-REQ and the KDC's answer, from the wire).
//! - Logic: per source IP, in a sliding `window_secs` of event time, at least
//!   `min_unknown_accounts` distinct names answered KDC_ERR_C_PRINCIPAL_UNKNOWN → alert; the
//!   alert keeps growing while guesses continue. Names from the same source that the KDC
//!   showed to exist (PREAUTH_REQUIRED, PREAUTH_FAILED, CLIENT_REVOKED, KEY_EXPIRED or a
//!   TGT) are reported as *found*: the attacker now knows them.
//! - Thresholds: `window_secs = 600`, `min_unknown_accounts = 5` (config
//!   `[account_enumeration]`). A person mistyping a user name makes one or two unknowns.
//! - Benign: identity-sync or HR systems checking whether accounts exist; applications with
//!   stale lists of departed users; users of another realm sent to this KDC. Exclude the
//!   source.
//! - Gaps: slow enumeration below the threshold per window; enumeration through other
//!   protocols (NTLM, LDAP/CLDAP) is a separate detection.
//! - Evidence: every AS-REQ counted, with the KDC's answer.

use std::collections::BTreeSet;
use std::net::IpAddr;

use orthrus_model::{Activity, AlertSource, AlertTargets, KerberosErrorCode, Severity};
use serde::Deserialize;

use super::as_exchange;
use crate::names::{account_key, name_list};
use crate::window::{PerSource, Recent, Window};
use crate::{Alerts, Context, Detection, DetectionMeta, Detector, Finding, Settings};

pub static META: DetectionMeta = DetectionMeta {
    id: "ORT-KRB-003",
    title: "Account enumeration reconnaissance (Kerberos)",
    mdi: "Account enumeration reconnaissance (2003)",
    external_id: 2003,
    cef_app: "Kerberos",
    tactic: "TA0007",
    techniques: &["T1087.002"],
    data_sources: &["Kerberos AS-REQ/KRB-ERROR"],
    base_severity: Severity::Medium,
    escalates_for_sensitive: true,
    config_section: "account_enumeration",
    meaning: "A computer asked the KDC about many account names, most of which do not exist, as user-enumeration tools (kerbrute, nmap krb5-enum-users) do. The KDC's answers tell the attacker which names are real.",
    impact: "A list of valid account names is the first step of password spraying and targeted phishing.",
    actions: &[
        "Find out what runs on the source computer and who is logged on to it; a legitimate application that looks up names does not guess at names that do not exist.",
        "Watch the names the source found for brute-force or spray attempts (this incident's other alerts).",
        "If the source is not explained, isolate it and investigate it as compromised.",
    ],
};

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AccountEnumerationConfig {
    /// Sliding window, event time.
    pub window_secs: u64,
    /// Distinct unknown names from one source in the window that make an enumeration.
    pub min_unknown_accounts: usize,
    /// Source addresses never alerted on.
    pub exclude_sources: Vec<IpAddr>,
}

impl Default for AccountEnumerationConfig {
    fn default() -> Self {
        Self { window_secs: 600, min_unknown_accounts: 5, exclude_sources: Vec::new() }
    }
}

impl Settings for AccountEnumerationConfig {
    fn exclude_sources(&self) -> &[IpAddr] {
        &self.exclude_sources
    }

    fn thresholds(&self) -> Vec<(&'static str, String)> {
        vec![
            ("window_secs", self.window_secs.to_string()),
            ("min_unknown_accounts", self.min_unknown_accounts.to_string()),
        ]
    }
}

impl Detection for AccountEnumeration {
    type Settings = AccountEnumerationConfig;
    const META: &'static DetectionMeta = &META;

    fn new(settings: &Self::Settings) -> Self {
        AccountEnumeration { guesses: NameGuesses::new(settings.clone()) }
    }
}

struct SourceState {
    unknown: Window<String>,
    found_recently: Window<String>,
    recent: Recent,
    /// Names reported in the current incident.
    unknown_reported: BTreeSet<String>,
    found_reported: BTreeSet<String>,
}

/// One name guessed from a source, as a protocol's answer showed it.
pub(crate) struct Guess<'a> {
    pub name: &'a str,
    /// The server said no such account (else: it exists).
    pub unknown: bool,
    /// The evidence line: `AS-REQ for jdoe: KDC_ERR_C_PRINCIPAL_UNKNOWN`.
    pub evidence: String,
}

/// Counts distinct unknown names per source in a sliding window and keeps the names found to
/// exist: the logic both account-enumeration detections share (Kerberos ORT-KRB-003, NTLM
/// ORT-NTLM-001); each detection only says what a guess is in its protocol.
pub(crate) struct NameGuesses {
    config: AccountEnumerationConfig,
    sources: PerSource<SourceState>,
}

impl NameGuesses {
    pub fn new(config: AccountEnumerationConfig) -> Self {
        Self { sources: PerSource::new(config.window_secs), config }
    }

    /// Records a guess; emits the alert's new state once the source is enumerating.
    /// `against` completes the sentence: "guessed account names {against}".
    pub fn observe(&mut self, activity: &Activity, guess: Guess<'_>, against: &str, alerts: &mut Alerts<'_>) {
        let source = activity.source_id();
        let window = self.config.window_secs;
        let (state, incident) = self.sources.at(&source, activity.time, || SourceState {
            unknown: Window::new(window, 10_000),
            found_recently: Window::new(window, 10_000),
            recent: Recent::new(window),
            unknown_reported: BTreeSet::new(),
            found_reported: BTreeSet::new(),
        });
        let key = account_key(guess.name);
        if guess.unknown {
            state.unknown.insert(activity.time, key.clone());
        } else {
            state.found_recently.insert(activity.time, key.clone());
        }
        state.unknown.expire(activity.time);
        state.found_recently.expire(activity.time);
        state.recent.push(activity, guess.evidence);

        let enumerating = state.unknown.distinct() >= self.config.min_unknown_accounts;
        if !enumerating && !incident.alerted {
            return;
        }
        if !incident.alerted {
            // A new alert: the guesses that crossed the threshold are part of it.
            state.unknown_reported = state.unknown.items().map(|(n, _)| n.clone()).collect();
            state.found_reported = state.found_recently.items().map(|(n, _)| n.clone()).collect();
            incident.restart(activity.time);
        } else if guess.unknown {
            state.unknown_reported.insert(key);
        } else {
            state.found_reported.insert(key);
        }
        state.recent.drain_into(incident);
        incident.alerted = true;

        let found = if state.found_reported.is_empty() {
            "none of them exist".to_string()
        } else {
            format!(
                "{} exist{}: {}",
                state.found_reported.len(),
                if state.found_reported.len() == 1 { "s" } else { "" },
                name_list(state.found_reported.iter(), 10)
            )
        };
        let description = format!(
            "{source} guessed account names {against}: {} unknown names ({}) and {found}.",
            state.unknown_reported.len(),
            name_list(state.unknown_reported.iter(), 10),
        );
        let targets = AlertTargets { accounts: state.found_reported.clone(), ..AlertTargets::default() };
        let finding = Finding {
            severity: alerts.meta().base_severity,
            description,
            source: AlertSource::from_id(&source),
            targets,
        };
        alerts.raise(activity, &source.to_string(), incident, finding);
    }
}

pub struct AccountEnumeration {
    guesses: NameGuesses,
}

impl Detector for AccountEnumeration {
    fn observe(&mut self, activity: &Activity, _context: &Context, alerts: &mut Alerts<'_>) {
        let Some(exchange) = as_exchange(activity) else {
            return;
        };
        let Some(name) = exchange
            .request
            .as_ref()
            .and_then(|r| r.cname.clone())
            .or_else(|| exchange.client().map(String::from))
        else {
            return;
        };
        let unknown = exchange.error() == Some(KerberosErrorCode::C_PRINCIPAL_UNKNOWN);
        let exists = exchange.issued().is_some()
            || exchange.error().is_some_and(KerberosErrorCode::proves_client_exists);
        if !unknown && !exists {
            return;
        }
        let answer = exchange.error().map(|e| e.to_string()).unwrap_or_else(|| "TGT issued".into());
        let guess = Guess { name: &name, unknown, evidence: format!("AS-REQ for {name}: {answer}") };
        self.guesses.observe(activity, guess, "against the KDC", alerts);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::DetectionConfig;
    use crate::testing::lab::{BENIGN, alerts_for, assert_silent};

    #[test]
    fn fires_on_lab_user_enumeration() {
        let alerts = alerts_for("krb_user_enum", META.id, &DetectionConfig::default());
        assert_eq!(alerts.len(), 1, "{alerts:#?}");
        let alert = &alerts[0];
        assert_eq!(alert.source.ip, Some("10.99.0.21".parse().unwrap()));
        let found: Vec<&str> = alert.targets.accounts.iter().map(String::as_str).collect();
        assert_eq!(found, ["alice", "bob", "da_admin", "svc_sql"], "the names that exist");
        assert!(alert.description.contains("10 unknown names"), "{}", alert.description);
        assert_eq!(alert.count, 14);
    }

    #[test]
    fn silent_on_benign_baseline() {
        assert_silent(BENIGN, META.id);
    }

    #[test]
    fn silent_below_threshold() {
        let mut config = DetectionConfig::default();
        config.settings_mut::<AccountEnumeration>().min_unknown_accounts = 11;
        assert!(alerts_for("krb_user_enum", META.id, &config).is_empty(), "10 unknown names < 11");
    }

    #[test]
    fn spray_of_existing_accounts_is_not_enumeration() {
        assert!(alerts_for("krb_password_spray", META.id, &DetectionConfig::default()).is_empty());
    }
}
