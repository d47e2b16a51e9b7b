//! ORT-NTLM-001 — Account enumeration (NTLM).
//!
//! - Attack: the attacker guesses account names through NTLM authentication: the DC answers
//!   "no such user" for a name that does not exist and "wrong password" for one that does.
//!   SMB and most protocols hide the difference from the client (both are
//!   STATUS_LOGON_FAILURE on the wire), but the DC's own record keeps it, and some services
//!   (OWA, RDP gateways, older SMB servers) leak it.
//! - ATT&CK: T1087.002. MDI: Account enumeration reconnaissance (2003), NTLM part.
//! - Data: NTLM authentications with their status: the DC's 4776 (and Samba's NTLMSSP audit),
//!   or the wire where the server answered STATUS_NO_SUCH_USER. STATUS_NO_SUCH_USER is a
//!   miss; WRONG_PASSWORD, a success, a locked, disabled or expired account are hits.
//! - Logic: the counting of ORT-KRB-003: per source (its address; from 4776 alone, the
//!   workstation name the client claimed), distinct unknown names in a sliding window;
//!   names found to exist are reported as found.
//! - Thresholds: `window_secs = 600`, `min_unknown_accounts = 5`, shared with ORT-KRB-003
//!   (config `[account_enumeration]`).
//! - Benign: as ORT-KRB-003 (identity sync, stale user lists); internet-facing servers being
//!   enumerated from outside. Exclude the source.
//! - Evidence: every authentication counted, with the account and status.

use orthrus_model::{Activity, ActivityKind, AuthOutcome, NtStatus, Severity};

use crate::detections::kerberos::account_enumeration::AccountEnumerationConfig;
use crate::detections::kerberos::account_enumeration::{Guess, NameGuesses};
use crate::{Alerts, Context, Detection, DetectionMeta, Detector};

pub static META: DetectionMeta = DetectionMeta {
    id: "ORT-NTLM-001",
    title: "Account enumeration reconnaissance (NTLM)",
    mdi: "Account enumeration reconnaissance (2003)",
    external_id: 2003,
    cef_app: "Ntlm",
    tactic: "TA0007",
    techniques: &["T1087.002"],
    data_sources: &["event 4776 / Samba NTLMSSP audit", "NTLMSSP AUTHENTICATE + STATUS_NO_SUCH_USER"],
    base_severity: Severity::Medium,
    escalates_for_sensitive: true,
    config_section: "account_enumeration",
    meaning: "A computer tried many account names over NTLM, most of them not existing. The DC's answers tell the attacker which names are real.",
    impact: "A list of valid names prepares password spraying and phishing.",
    actions: &[
        "Find the process and user on the source computer.",
        "Watch the found accounts for brute-force or spray attempts.",
        "Isolate the source computer if the activity is not explained.",
    ],
};

impl Detection for NtlmAccountEnumeration {
    type Settings = AccountEnumerationConfig;
    const META: &'static DetectionMeta = &META;

    fn new(settings: &Self::Settings) -> Self {
        NtlmAccountEnumeration { guesses: NameGuesses::new(settings.clone()) }
    }
}

pub struct NtlmAccountEnumeration {
    guesses: NameGuesses,
}

/// Answers that show the account exists.
const EXISTS: &[NtStatus] = &[
    NtStatus::WRONG_PASSWORD,
    NtStatus::ACCOUNT_LOCKED_OUT,
    NtStatus(0xc000_0072), // account disabled
    NtStatus(0xc000_0071), // password expired
    NtStatus(0xc000_0193), // account expired
    NtStatus(0xc000_0224), // password must change
    NtStatus(0xc000_006e), // account restriction
    NtStatus(0xc000_006f), // invalid logon hours
    NtStatus(0xc000_0070), // invalid workstation
];

impl Detector for NtlmAccountEnumeration {
    fn observe(&mut self, activity: &Activity, _context: &Context, alerts: &mut Alerts<'_>) {
        let ActivityKind::NtlmAuthenticated(auth) = &activity.kind else { return };
        if auth.user.is_empty() {
            return;
        }
        let (unknown, answer) = match auth.outcome {
            AuthOutcome::Failed { status } if status == NtStatus::NO_SUCH_USER => (true, status.to_string()),
            AuthOutcome::Failed { status } if EXISTS.contains(&status) => (false, status.to_string()),
            AuthOutcome::Succeeded => (false, "succeeded".to_owned()),
            _ => return,
        };
        let guess = Guess {
            name: &auth.user,
            unknown,
            evidence: format!("NTLM logon as {}: {answer}", auth.account()),
        };
        self.guesses.observe(activity, guess, "through NTLM", alerts);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::DetectionConfig;
    use crate::testing::extra::{extra_alerts, extra_audit_alerts, lab_alerts_with};
    use crate::testing::lab::BENIGN;
    use crate::testing::logs::{BENIGN_AUDIT, assert_silent, audit_alerts};

    #[test]
    fn fires_on_ntlm_name_guessing_in_the_dcs_log() {
        let alerts = extra_audit_alerts("ntlm_user_enum", META.id, &DetectionConfig::default());
        assert_eq!(alerts.len(), 1, "{alerts:#?}");
        let alert = &alerts[0];
        assert_eq!(alert.source.ip, Some("10.99.0.21".parse().unwrap()));
        let found: Vec<&str> = alert.targets.accounts.iter().map(String::as_str).collect();
        assert_eq!(found, ["alice", "bob", "da_admin", "svc_sql"], "the names that exist");
        assert!(alert.description.contains("20 unknown names"), "{}", alert.description);
        // on the wire SMB answers STATUS_LOGON_FAILURE to both: nothing to count there
        assert!(extra_alerts("ntlm_user_enum", META.id, &DetectionConfig::default()).is_empty());
    }

    #[test]
    fn silent_on_password_attacks_typos_and_benign_logs() {
        let config = DetectionConfig::default();
        // guessing passwords of real accounts is brute force (ORT-NTLM-002), not enumeration
        for name in ["ntlm_bruteforce", "ntlm_password_spray"] {
            assert!(audit_alerts(name, META.id, &config).is_empty(), "{name}");
        }
        for name in BENIGN_AUDIT {
            assert!(audit_alerts(name, META.id, &config).is_empty(), "{name}");
        }
        assert!(extra_audit_alerts("benign_directory_lookups", META.id, &config).is_empty());
        assert!(lab_alerts_with(BENIGN, META.id, &config).is_empty());
        assert_silent(META.id);
    }
}
