//! ORT-LDAP-005 — Account enumeration through CLDAP pings.
//!
//! - Attack: the DC locator's "LDAP ping" (CLDAP, UDP 389, no authentication) may name a
//!   user: the DC's Netlogon answer then says whether that account exists. Ldapnomnom and
//!   similar tools test thousands of candidate names this way — quietly: no failed logon,
//!   no 4625/4771, nothing in the DC's security log.
//! - ATT&CK: T1087.002. MDI: Account Enumeration reconnaissance (LDAP) (2437).
//! - Data: NET: CLDAP SearchRequests (base "", scope base, filter with `User=NAME`) and the
//!   Netlogon attribute of the answer, whose opcode says whether the user exists
//!   (LOGON_SAM_LOGON_RESPONSE(_EX), 19/23) or not (LOGON_SAM_USER_UNKNOWN(_EX), 21/25).
//! - Logic: per source, in a sliding `window_secs` of event time, at least
//!   `min_unknown_accounts` distinct names answered "unknown" → alert; names the DC showed
//!   to exist are reported as found (the attacker now knows them). The same counting as
//!   ORT-KRB-003 and ORT-NTLM-001. Medium, one level higher when a found account is
//!   sensitive.
//! - Thresholds: `window_secs = 600`, `min_unknown_accounts = 20` (config
//!   `[cldap_enumeration]`): a DC locator asks about none, or the logged-on user.
//! - Benign: DC locators (no user, or one); applications checking a user list over CLDAP —
//!   exclude the source.
//! - Evidence: every ping counted, with the name and the DC's answer.

use std::net::IpAddr;

use orthrus_model::{Activity, ActivityKind, Severity, Transport};
use serde::Deserialize;

use crate::detections::kerberos::account_enumeration::{AccountEnumerationConfig, Guess, NameGuesses};
use crate::{Alerts, Context, Detection, DetectionMeta, Detector, Settings};

pub static META: DetectionMeta = DetectionMeta {
    id: "ORT-LDAP-005",
    title: "Account enumeration reconnaissance (CLDAP ping)",
    mdi: "Account Enumeration reconnaissance (LDAP) (2437)",
    external_id: 2437,
    cef_app: "Ldap",
    tactic: "TA0007",
    techniques: &["T1087.002"],
    data_sources: &["CLDAP ping (UDP 389) User= names and the Netlogon answer's opcode"],
    base_severity: Severity::Medium,
    escalates_for_sensitive: true,
    config_section: "cldap_enumeration",
    meaning: "A computer sent many CLDAP pings naming accounts, as ldapnomnom does: the DC's answers say which names exist, and no logon is ever attempted or logged.",
    impact: "A quiet list of valid accounts, ready for password spraying.",
    actions: &[
        "Identify the source; DC locators ping with their own account only.",
        "Watch the found accounts for spray attempts and isolate the source if unexplained.",
    ],
};

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CldapEnumerationConfig {
    /// Sliding window, event time.
    pub window_secs: u64,
    /// Distinct names answered "unknown" from one source in the window.
    pub min_unknown_accounts: usize,
    pub exclude_sources: Vec<IpAddr>,
}

impl Default for CldapEnumerationConfig {
    fn default() -> Self {
        Self { window_secs: 600, min_unknown_accounts: 20, exclude_sources: Vec::new() }
    }
}

impl Settings for CldapEnumerationConfig {
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

impl Detection for CldapEnumeration {
    type Settings = CldapEnumerationConfig;
    const META: &'static DetectionMeta = &META;

    fn new(settings: &Self::Settings) -> Self {
        let c = settings;
        CldapEnumeration {
            guesses: NameGuesses::new(AccountEnumerationConfig {
                window_secs: c.window_secs,
                min_unknown_accounts: c.min_unknown_accounts,
                exclude_sources: c.exclude_sources.clone(),
            }),
        }
    }
}

pub struct CldapEnumeration {
    guesses: NameGuesses,
}

impl Detector for CldapEnumeration {
    fn observe(&mut self, activity: &Activity, _context: &Context, alerts: &mut Alerts<'_>) {
        let ActivityKind::LdapSearched(search) = &activity.kind else { return };
        if activity.transport != Some(Transport::Udp) {
            return;
        }
        let Some(user) = search
            .assertions
            .iter()
            .find(|a| a.is_equality_form() && a.attribute.eq_ignore_ascii_case("user"))
        else {
            return;
        };
        let name = user.unescaped();
        let (unknown, answer) = match search.netlogon_opcode {
            Some(21 | 25) => (true, "user unknown"),
            Some(19 | 23) => (false, "user exists"),
            _ => return,
        };
        let guess = Guess { name: &name, unknown, evidence: format!("CLDAP ping for {name}: {answer}") };
        self.guesses.observe(activity, guess, "through CLDAP pings", alerts);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::DetectionConfig;
    use crate::testing::extra::extra_alerts;
    use crate::testing::logs::assert_silent_on_logs_and_captures;

    #[test]
    fn fires_on_ldapnomnom_style_pings_and_names_the_accounts_found() {
        // 26 names pinged from 10.99.0.21 without credentials; alice, bob, da_admin and
        // svc_sql exist (opcode 23), the rest do not (25).
        let alerts = extra_alerts("cldap_user_enum", META.id, &DetectionConfig::default());
        assert_eq!(alerts.len(), 1, "{alerts:#?}");
        let alert = &alerts[0];
        assert_eq!(alert.source.ip, Some("10.99.0.21".parse().unwrap()));
        assert_eq!(alert.count, 26, "every ping is evidence");
        assert!(alert.description.contains("22 unknown names"), "{}", alert.description);
        for found in ["alice", "bob", "da_admin", "svc_sql"] {
            assert!(alert.targets.accounts.contains(found), "{found}: {:?}", alert.targets.accounts);
        }
        assert!(alert.evidence.iter().any(|e| e.summary == "CLDAP ping for jsmith: user unknown"));
    }

    #[test]
    fn silent_below_the_threshold_for_dc_locators_and_benign_traffic() {
        let config = DetectionConfig::default().with::<CldapEnumeration>(CldapEnumerationConfig {
            min_unknown_accounts: 23,
            ..Default::default()
        });
        assert!(extra_alerts("cldap_user_enum", META.id, &config).is_empty(), "22 unknown names");
        // A workstation's locator pings: without a user, and with the logged-on one.
        assert!(extra_alerts("benign_dc_locator", META.id, &DetectionConfig::default()).is_empty());
        assert_silent_on_logs_and_captures(META.id);
    }
}
