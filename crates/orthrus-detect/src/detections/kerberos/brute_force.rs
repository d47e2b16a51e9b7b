//! ORT-KRB-004 — Brute force and password spray (Kerberos).
//!
//! - Attack: the attacker guesses passwords with AS-REQs carrying PA-ENC-TIMESTAMP encrypted
//!   with each candidate; a wrong one gets KDC_ERR_PREAUTH_FAILED. *Brute force* tries many
//!   passwords on one account; *password spray* tries one or two common passwords on many
//!   accounts. Tools: kerbrute bruteuser/passwordspray, Rubeus brute, impacket scripts.
//! - ATT&CK: T1110.001 (guessing), T1110.003 (spraying). MDI: Suspected Brute Force attack
//!   (Kerberos, NTLM) (2023), Kerberos part.
//! - Data: `TgtRequested` activities (AS-REQ with PA-ENC-TIMESTAMP answered by
//!   KDC_ERR_PREAUTH_FAILED, or by a TGT). A guess answered KDC_ERR_CLIENT_REVOKED counts
//!   as a failure (once a brute force locks the account out, every further guess gets it);
//!   one answered KDC_ERR_KEY_EXPIRED counts as a success (the KDC only says the password
//!   expired after checking that it is right).
//! - Logic: per source IP, in a sliding `window_secs` of event time:
//!   *brute force* when one account collects at least `min_failures_one_account`
//!   pre-authentication failures; *spray* when the source made at least one wrong password
//!   guess and at least `min_accounts` distinct accounts have failures that no later success
//!   from that source explains (a user who mistypes and then logs on is explained). Names
//!   the KDC does not know (KDC_ERR_C_PRINCIPAL_UNKNOWN) count among a spray's accounts:
//!   sprays run over name lists, and tools such as kerbrute first probe each name without
//!   a password, guessing only for those that exist. A source that only probes names is
//!   account enumeration (ORT-KRB-003), not a spray. An account that then gets a TGT from the same source is
//!   reported as *guessed* and raises the severity to high: a success, within the window, on
//!   an account the attack tried, or made by the same client implementation as the failed
//!   guesses (same offered etypes, PA-DATA types and KDC options): in a spray, the account
//!   whose password is the sprayed one succeeds at its first try.
//! - Thresholds: `window_secs = 3600`, `min_failures_one_account = 6`, `min_accounts = 5`
//!   (config `[brute_force]`).
//! - Benign: a service or script with an old password (one account, steady rate: raise the
//!   per-account threshold or exclude the source); users mistyping (explained by their
//!   success); many users behind one NAT or terminal server (exclude the address).
//! - Gaps: MDI first learns each source's normal failure rate for a week; Orthrus has no
//!   baseline yet. Sprays slower than one account per window are not seen; so is guessing
//!   that uses other protocols (NTLM, LDAP: separate detections).
//! - Evidence: every failed pre-authentication counted, and the success of a guessed account.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::net::IpAddr;
use std::sync::Arc;

use orthrus_model::{
    Activity, AlertSource, AlertTargets, KerberosErrorCode, Provenance, Severity, Timestamp,
};
use serde::Deserialize;

use super::as_exchange;
use crate::names::{account_key, name_list};
use crate::window::{PerSource, Recent, Window};
use crate::{Alerts, Context, Detection, DetectionMeta, Detector, Finding, Settings};

/// Successes per source remembered for the "guessed" verdict.
const MAX_SUCCESSES_KEPT: usize = 1_000;

pub static META: DetectionMeta = DetectionMeta {
    id: "ORT-KRB-004",
    title: "Suspected brute force or password spray (Kerberos)",
    mdi: "Suspected Brute Force attack (Kerberos, NTLM) (2023)",
    external_id: 2023,
    cef_app: "Kerberos",
    tactic: "TA0006",
    techniques: &["T1110.001", "T1110.003"],
    data_sources: &["Kerberos AS-REQ/KRB-ERROR/AS-REP"],
    base_severity: Severity::Medium,
    escalates_for_sensitive: true,
    config_section: "brute_force",
    meaning: "Many Kerberos pre-authentication failures came from one source, against one account (brute force) or against many accounts with few passwords each (password spray).",
    impact: "An account whose password is guessed is taken over; a spray that succeeds usually succeeds on several accounts.",
    actions: &[
        "Check whether any attempt succeeded (the alert says so); reset the passwords of accounts that were guessed and review their sessions since.",
        "Find the process on the source computer that sent the requests, and isolate the computer if it is not a known misconfigured service.",
        "Enforce a lockout or smart lockout policy and require strong passwords or MFA for the named accounts.",
    ],
};

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BruteForceConfig {
    /// Sliding window, event time.
    pub window_secs: u64,
    /// Pre-authentication failures on one account from one source that make a brute force.
    pub min_failures_one_account: u32,
    /// Distinct accounts with unexplained failures from one source that make a spray.
    pub min_accounts: usize,
    /// Source addresses never alerted on.
    pub exclude_sources: Vec<IpAddr>,
}

impl Default for BruteForceConfig {
    fn default() -> Self {
        Self { window_secs: 3600, min_failures_one_account: 6, min_accounts: 5, exclude_sources: Vec::new() }
    }
}

impl Settings for BruteForceConfig {
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

impl Detection for BruteForce {
    type Settings = BruteForceConfig;
    const META: &'static DetectionMeta = &META;

    fn new(settings: &Self::Settings) -> Self {
        BruteForce::new(settings.clone())
    }
}

/// A recent success: when, whom, with which client fingerprint, where and by which sensor
/// seen.
#[derive(Clone)]
struct Success {
    time: Timestamp,
    account: String,
    fingerprint: String,
    provenance: Vec<Provenance>,
    sensor: Arc<str>,
}

struct SourceState {
    failures: Window<String>,
    /// Client fingerprints (offered etypes, PA-DATA types, KDC options) of failed attempts.
    failing_clients: Window<String>,
    /// Names the KDC did not know.
    unknown: Window<String>,
    successes: VecDeque<Success>,
    /// Last failure and last success per account (event time), for "explained" failures.
    last_failure: BTreeMap<String, Timestamp>,
    last_success: BTreeMap<String, Timestamp>,
    recent: Recent,
    /// Accounts attacked and guessed in the current incident, with failure counts.
    attacked: BTreeMap<String, u64>,
    /// Attacked names the KDC does not know.
    nonexistent: BTreeSet<String>,
    guessed: BTreeSet<String>,
}

impl SourceState {
    fn new(window_secs: u64) -> Self {
        Self {
            failures: Window::new(window_secs, 100_000),
            unknown: Window::new(window_secs, 100_000),
            failing_clients: Window::new(window_secs, 100_000),
            successes: VecDeque::new(),
            last_failure: BTreeMap::new(),
            last_success: BTreeMap::new(),
            recent: Recent::new(window_secs),
            attacked: BTreeMap::new(),
            nonexistent: BTreeSet::new(),
            guessed: BTreeSet::new(),
        }
    }

    fn unexplained_accounts(&self) -> usize {
        self.failures
            .items()
            .filter(|(account, _)| {
                let failed = self.last_failure.get(*account);
                let succeeded = self.last_success.get(*account);
                !matches!((failed, succeeded), (Some(f), Some(s)) if s >= f)
            })
            .count()
    }

    fn max_failures_one_account(&self) -> u32 {
        self.failures.items().map(|(_, n)| n).max().unwrap_or(0)
    }

    fn forget_old(&mut self, now: Timestamp, window_secs: u64) {
        let cutoff = now.saturating_add_secs(-i64::try_from(window_secs).unwrap_or(i64::MAX));
        self.last_failure.retain(|_, t| *t >= cutoff);
        self.last_success.retain(|_, t| *t >= cutoff);
        while self.successes.front().is_some_and(|s| s.time < cutoff) {
            self.successes.pop_front();
        }
        self.failures.expire(now);
        self.failing_clients.expire(now);
        self.unknown.expire(now);
    }

    /// A success that belongs to the attack: an attacked account, or a request made by the
    /// same client implementation as the failed guesses (in a spray, the account whose
    /// password is the sprayed one succeeds at its first try).
    fn looks_like_the_attack(&self, account: &String, client: &String) -> bool {
        self.attacked.contains_key(account)
            || self.failures.contains(account)
            || self.failing_clients.contains(client)
    }
}

pub struct BruteForce {
    config: BruteForceConfig,
    sources: PerSource<SourceState>,
}

impl BruteForce {
    pub fn new(config: BruteForceConfig) -> Self {
        Self { sources: PerSource::new(config.window_secs), config }
    }
}

impl Detector for BruteForce {
    fn observe(&mut self, activity: &Activity, _context: &Context, alerts: &mut Alerts<'_>) {
        let Some(exchange) = as_exchange(activity) else {
            return;
        };
        let Some(request) = &exchange.request else {
            return;
        };
        let error = exchange.error();
        let failed =
            matches!(error, Some(KerberosErrorCode::PREAUTH_FAILED | KerberosErrorCode::CLIENT_REVOKED))
                && request.is_preauthenticated();
        let succeeded = (exchange.issued().is_some() || error == Some(KerberosErrorCode::KEY_EXPIRED))
            && request.is_preauthenticated();
        let unknown = error == Some(KerberosErrorCode::C_PRINCIPAL_UNKNOWN);
        if !failed && !succeeded && !unknown {
            return;
        }
        let Some(name) = exchange.client().map(String::from) else {
            return;
        };
        let account = account_key(&name);
        let client = format!("{:?}|{:?}|{:?}", request.etypes, request.padata, request.kdc_options);
        let source = activity.source_id();
        let window = self.config.window_secs;
        let (state, incident) = self.sources.at(&source, activity.time, || SourceState::new(window));
        state.forget_old(activity.time, window);
        if unknown {
            state.unknown.insert(activity.time, account.clone());
            state.recent.push(activity, format!("{name}: no such account"));
        } else if failed {
            state.failures.insert(activity.time, account.clone());
            state.failing_clients.insert(activity.time, client.clone());
            state.last_failure.insert(account.clone(), activity.time);
            let why = if error == Some(KerberosErrorCode::CLIENT_REVOKED) {
                "account locked out or disabled"
            } else {
                "wrong password"
            };
            state.recent.push(activity, format!("pre-authentication failed for {name}: {why}"));
        } else {
            state.last_success.insert(account.clone(), activity.time);
            if state.successes.len() >= MAX_SUCCESSES_KEPT {
                state.successes.pop_front();
            }
            state.successes.push_back(Success {
                time: activity.time,
                account: account.clone(),
                fingerprint: client.clone(),
                provenance: activity.provenance.clone(),
                sensor: activity.sensor.clone(),
            });
        }

        let brute = state.max_failures_one_account() >= self.config.min_failures_one_account;
        let spray = !state.failures.is_empty()
            && state.unexplained_accounts() + state.unknown.distinct() >= self.config.min_accounts;
        if !incident.alerted {
            if !brute && !spray {
                return;
            }
            incident.restart(activity.time);
            state.attacked = state.failures.items().map(|(a, n)| (a.clone(), u64::from(n))).collect();
            for (name, n) in state.unknown.items() {
                *state.attacked.entry(name.clone()).or_default() += u64::from(n);
            }
            state.nonexistent = state.unknown.items().map(|(n, _)| n.clone()).collect();
            state.guessed.clear();
            let successes: Vec<_> = state.successes.iter().cloned().collect();
            for Success { time, account: who, fingerprint, provenance, sensor } in successes {
                if state.looks_like_the_attack(&who, &fingerprint) {
                    state.recent.push_at(time, &provenance, &sensor, format!("{who} got a TGT"));
                    state.attacked.entry(who.clone()).or_default();
                    state.guessed.insert(who);
                }
            }
        } else if failed || unknown {
            *state.attacked.entry(account.clone()).or_default() += 1;
            if unknown {
                state.nonexistent.insert(account.clone());
            }
        } else if state.looks_like_the_attack(&account, &client) {
            state.recent.push(activity, format!("{name} got a TGT"));
            state.attacked.entry(account.clone()).or_default();
            state.guessed.insert(account.clone());
        } else {
            // Ordinary use of the attacking host by an account the attack did not touch.
            return;
        }
        state.recent.drain_into(incident);
        incident.alerted = true;

        let kind =
            if state.attacked.len() == 1 || (brute && !spray) { "brute force" } else { "password spray" };
        let failures: u64 = state.attacked.values().sum();
        let guessed = if state.guessed.is_empty() {
            String::new()
        } else {
            format!(", and guessed the password of {}", name_list(state.guessed.iter(), 5))
        };
        let unknown_names = if state.nonexistent.is_empty() {
            String::new()
        } else {
            format!(", {} of them unknown to the KDC", state.nonexistent.len())
        };
        let description = format!(
            "{source} made a Kerberos {kind}: {failures} failed attempts against {} account{}{unknown_names} ({}){guessed}.",
            state.attacked.len(),
            if state.attacked.len() == 1 { "" } else { "s" },
            name_list(state.attacked.keys(), 5),
        );
        let severity = if state.guessed.is_empty() { META.base_severity } else { Severity::High };
        // Targets are accounts that exist; names the KDC did not know are in the evidence.
        let accounts = state.attacked.keys().filter(|a| !state.nonexistent.contains(*a)).cloned().collect();
        let targets = AlertTargets { accounts, ..AlertTargets::default() };
        alerts.raise(
            activity,
            &activity.source_id().to_string(),
            incident,
            Finding { severity, description, source: AlertSource::from_id(&source), targets },
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::DetectionConfig;
    use crate::testing::lab::{BENIGN, alerts_for, assert_silent};

    #[test]
    fn fires_on_lab_brute_force_and_names_the_guessed_account() {
        let alerts = alerts_for("krb_bruteforce", META.id, &DetectionConfig::default());
        assert_eq!(alerts.len(), 1, "{alerts:#?}");
        let alert = &alerts[0];
        assert_eq!(alert.source.ip, Some("10.99.0.21".parse().unwrap()));
        let accounts: Vec<&str> = alert.targets.accounts.iter().map(String::as_str).collect();
        assert_eq!(accounts, ["frank"]);
        assert_eq!(alert.severity, Severity::High, "the last password worked");
        assert!(alert.description.contains("brute force"), "{}", alert.description);
        assert!(alert.description.contains("guessed the password of frank"), "{}", alert.description);
        assert!(alert.description.contains("14 failed"), "{}", alert.description);
    }

    #[test]
    fn fires_on_lab_password_spray() {
        let alerts = alerts_for("krb_password_spray", META.id, &DetectionConfig::default());
        assert_eq!(alerts.len(), 1, "{alerts:#?}");
        let alert = &alerts[0];
        assert_eq!(alert.source.ip, Some("10.99.0.21".parse().unwrap()));
        assert!(alert.description.contains("password spray"), "{}", alert.description);
        assert!(alert.targets.accounts.len() >= 11, "{:?}", alert.targets.accounts);
        for account in ["alice", "carol", "da_admin", "svc_sql", "judy"] {
            assert!(alert.targets.accounts.contains(account), "{account} was sprayed");
        }
    }

    #[test]
    fn silent_on_benign_baseline_including_typos() {
        assert_silent(BENIGN, META.id);
    }

    /// The lab's brute force, as a DC with an account lockout policy answers it: after the
    /// fifth wrong password every guess gets KDC_ERR_CLIENT_REVOKED, and the right password
    /// on an expired account gets KDC_ERR_KEY_EXPIRED.
    fn with_lockout_and_expired_password() -> Vec<Activity> {
        let mut activities = orthrus_testkit::lab_activities("krb_bruteforce");
        let mut failures = 0;
        for activity in &mut activities {
            let orthrus_model::ActivityKind::TgtRequested(ex) = &mut activity.kind else { continue };
            match &mut ex.outcome {
                orthrus_model::KdcOutcome::Failed(f) if f.code == KerberosErrorCode::PREAUTH_FAILED => {
                    failures += 1;
                    if failures > 5 {
                        f.code = KerberosErrorCode::CLIENT_REVOKED;
                    }
                }
                orthrus_model::KdcOutcome::Issued(issued) => {
                    ex.outcome = orthrus_model::KdcOutcome::Failed(orthrus_model::KdcFailure {
                        code: KerberosErrorCode::KEY_EXPIRED,
                        name: None,
                        etext: None,
                        realm: issued.crealm.clone(),
                        sname: issued.ticket.sname.clone(),
                        cname: Some(issued.cname.clone()),
                    });
                }
                _ => {}
            }
        }
        activities
    }

    #[test]
    fn lockout_answers_still_count_and_an_expired_password_is_guessed() {
        let mut engine = crate::Engine::new(&DetectionConfig::default(), "test");
        for activity in with_lockout_and_expired_password() {
            engine.observe(&activity);
        }
        let alerts: Vec<_> = engine.finish().into_iter().filter(|a| a.detection == META.id).collect();
        assert_eq!(alerts.len(), 1, "{alerts:#?}");
        assert!(alerts[0].description.contains("guessed the password of frank"), "{}", alerts[0].description);
        assert!(alerts[0].evidence.iter().any(|e| e.summary.contains("locked out")));
    }

    #[test]
    fn silent_below_thresholds() {
        let mut config = DetectionConfig::default();
        config.settings_mut::<BruteForce>().min_failures_one_account = 15;
        assert!(alerts_for("krb_bruteforce", META.id, &config).is_empty(), "14 failures < 15");
    }
}
