//! ORT-LDAP-001 — Brute force and password spray through LDAP simple binds.
//!
//! - Attack: LDAP simple binds are the simplest password oracle a DC offers (`ldapwhoami`,
//!   hydra's `ldap2`/`ldap3` modules, custom scripts): one bind per guess, a clear answer
//!   (invalidCredentials, AD's `data 52e`), no Kerberos pre-authentication to get right.
//! - ATT&CK: T1110.001 (Password Guessing), T1110.003 (Password Spraying). MDI: Suspected
//!   Brute Force attack (LDAP) (2004).
//! - Data: LDAP BindRequests (simple) and their results on the wire; the DC's logon events
//!   for them (Samba's audit "simple bind"; Windows 4625/4624 logon type 8 by lsass).
//! - Logic: per source, in event time, within `window_secs`: *brute force* when one account
//!   collects `min_failures_one_account` failed binds, *spray* when `min_accounts` distinct
//!   accounts fail. A failure seen both on the wire and in the log counts once (the larger of
//!   the two views per account). High when a bind for an attacked account then succeeds: the
//!   password was guessed.
//! - Thresholds: `window_secs = 3600`, `min_failures_one_account = 5`, `min_accounts = 5`
//!   (config `[ldap_brute_force]`).
//! - Benign: an application with a stale service password retrying its bind; exclude its
//!   source. A user mistyping twice stays far below the thresholds.
//! - Evidence: each failed bind (and the success that follows), account, result.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use orthrus_model::{Activity, AlertSource, AlertTargets, AuthOutcome, Severity};

use super::simple_bind;
use crate::names::{account_key, name_list};
use crate::window::{AccountFailures, Incidents, Recent};
use crate::{Alerts, Context, Detection, DetectionMeta, Detector, Finding};

pub static META: DetectionMeta = DetectionMeta {
    id: "ORT-LDAP-001",
    title: "Suspected brute force attack (LDAP)",
    mdi: "Suspected Brute Force attack (LDAP) (2004)",
    external_id: 2004,
    cef_app: "Ldap",
    tactic: "TA0006",
    techniques: &["T1110.001", "T1110.003"],
    data_sources: &[
        "LDAP simple BindRequest + result",
        "logon events for simple binds (Samba audit, 4625 type 8)",
    ],
    base_severity: Severity::Medium,
    escalates_for_sensitive: true,
    config_section: "ldap_brute_force",
    meaning: "Many LDAP simple binds failed from one source, against one account or across many: password guessing over LDAP.",
    impact: "Guessed accounts are taken over; LDAP simple binds also expose passwords in clear text when not protected by TLS.",
    actions: &[
        "Check whether any bind succeeded; reset those accounts' passwords.",
        "Find the application or tool on the source; isolate it if unexplained.",
        "Require LDAP signing and channel binding; refuse simple binds without TLS.",
    ],
};

/// The same settings as NTLM guessing (`window_secs`, `min_failures_one_account`,
/// `min_accounts`, `exclude_sources`), under its own section.
pub use crate::detections::ntlm::brute_force::NtlmBruteForceConfig as LdapBruteForceConfig;

impl Detection for LdapBruteForce {
    type Settings = LdapBruteForceConfig;
    const META: &'static DetectionMeta = &META;

    fn new(settings: &Self::Settings) -> Self {
        LdapBruteForce {
            config: settings.clone(),
            sources: HashMap::new(),
            incidents: Incidents::new(settings.window_secs),
        }
    }
}

/// One source's failed binds, per account and view (the log or the wire).
struct Guesses {
    failures: AccountFailures<bool>,
    names: BTreeMap<String, String>,
    guessed: BTreeSet<String>,
    recent: Recent,
}

pub struct LdapBruteForce {
    config: LdapBruteForceConfig,
    sources: HashMap<String, Guesses>,
    incidents: Incidents<String>,
}

impl Detector for LdapBruteForce {
    fn observe(&mut self, activity: &Activity, _context: &Context, alerts: &mut Alerts<'_>) {
        let Some((account, outcome)) = simple_bind(activity) else { return };
        let source = activity.source_id().to_string();
        let from_log = activity.from_event_log();
        let key = account_key(orthrus_directory::bare_account_name(&account).as_str());
        if self.sources.len() >= crate::window::MAX_SOURCES && !self.sources.contains_key(&source) {
            self.sources.retain(|_, g| g.failures.is_live(activity.time));
        }
        let window_secs = self.config.window_secs;
        let guesses = self.sources.entry(source.clone()).or_insert_with(|| Guesses {
            failures: AccountFailures::new(window_secs),
            names: BTreeMap::new(),
            guessed: BTreeSet::new(),
            recent: Recent::new(window_secs),
        });
        guesses.failures.expire(activity.time);
        let attacked = guesses.failures.has(&key);
        match outcome {
            AuthOutcome::Failed { status } => {
                if guesses.failures.record(key.clone(), from_log, activity.time) {
                    guesses.names.entry(key.clone()).or_insert(account.clone());
                }
                guesses.recent.push(activity, format!("{account}: failed ({status})"));
            }
            AuthOutcome::Succeeded if attacked => {
                guesses.guessed.insert(key.clone());
                guesses.recent.push(activity, format!("{account}: succeeded"));
            }
            _ => return,
        }
        let per_account = guesses.failures.per_account(|_, _| true);
        let brute: Vec<&str> = per_account
            .iter()
            .filter(|(_, n)| **n >= self.config.min_failures_one_account as usize)
            .map(|(a, _)| *a)
            .collect();
        let spray = per_account.len() >= self.config.min_accounts;
        if brute.is_empty() && !spray {
            return;
        }
        let incident = self.incidents.at(&source, activity.time);
        if !incident.alerted {
            incident.restart(activity.time);
        }
        guesses.recent.drain_into(incident);
        incident.alerted = true;
        let (kind, attacked): (&str, Vec<&str>) = if spray {
            ("password spray", per_account.keys().copied().collect())
        } else {
            ("brute force", brute)
        };
        let names: BTreeSet<String> =
            attacked.iter().filter_map(|a| guesses.names.get(*a)).cloned().collect();
        let failures: usize = per_account.values().sum();
        let guessed: Vec<&String> = guesses
            .guessed
            .iter()
            .filter(|a| attacked.contains(&a.as_str()))
            .filter_map(|a| guesses.names.get(a))
            .collect();
        let description = format!(
            "{source} made an LDAP simple-bind {kind}: {failures} failed bind{} against {} account{} ({}){}.",
            if failures == 1 { "" } else { "s" },
            names.len(),
            if names.len() == 1 { "" } else { "s" },
            name_list(names.iter(), 5),
            if guessed.is_empty() {
                String::new()
            } else {
                format!(", and guessed the password of {}", name_list(guessed.iter().copied(), 5))
            }
        );
        let severity = if guessed.is_empty() { META.base_severity } else { Severity::High };
        let targets = AlertTargets { accounts: names, ..AlertTargets::default() };
        let source_entity = AlertSource { ip: activity.source_ip(), ..AlertSource::default() };
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
    use crate::testing::extra::{extra_alerts, extra_audit_alerts, lab_alerts_with};
    use crate::testing::lab::BENIGN;
    use crate::testing::logs::{BENIGN_AUDIT, audit_alerts};

    #[test]
    fn fires_on_simple_bind_guessing_on_the_wire_and_in_the_log() {
        let config = DetectionConfig::default();
        for alerts in [
            extra_alerts("ldap_bind_bruteforce", META.id, &config),
            extra_audit_alerts("ldap_bind_bruteforce", META.id, &config),
        ] {
            assert_eq!(alerts.len(), 1, "{alerts:#?}");
            let alert = &alerts[0];
            assert_eq!(alert.source.ip, Some("10.99.0.21".parse().unwrap()));
            assert_eq!(alert.targets.accounts.iter().collect::<Vec<_>>(), ["carol@lab.test"]);
            assert_eq!(alert.severity, Severity::High, "the 16th bind succeeded");
            assert!(
                alert.description.contains("15 failed binds") && alert.description.contains("guessed"),
                "{}",
                alert.description
            );
        }
    }

    #[test]
    fn silent_on_typos_ordinary_binds_and_recon() {
        let config = DetectionConfig::default();
        assert!(
            extra_alerts("benign_directory_lookups", META.id, &config).is_empty(),
            "two typos, then right"
        );
        assert!(extra_audit_alerts("benign_directory_lookups", META.id, &config).is_empty());
        assert!(lab_alerts_with(BENIGN, META.id, &config).is_empty());
        assert!(lab_alerts_with(&["ldap_recon", "ntlm_bruteforce"], META.id, &config).is_empty());
        for name in BENIGN_AUDIT {
            assert!(audit_alerts(name, META.id, &config).is_empty(), "{name}");
        }
    }
}
