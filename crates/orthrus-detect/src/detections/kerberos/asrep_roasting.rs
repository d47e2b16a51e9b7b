//! ORT-KRB-002 — AS-REP roasting.
//!
//! - Attack: the attacker sends AS-REQs without pre-authentication for accounts that have
//!   "Do not require Kerberos pre-authentication" (DONT_REQ_PREAUTH); the KDC answers with an
//!   AS-REP whose enc-part is encrypted with the account's key, crackable offline. Tools:
//!   impacket GetNPUsers, Rubeus asreproast.
//! - ATT&CK: T1558.004. MDI: Suspected AS-REP Roasting attack (2412).
//! - Data: `TgtRequested` activities (AS-REQ/AS-REP from the wire).
//! - Logic: an AS-REP answers an AS-REQ that carried no pre-authentication at all (no
//!   PA-ENC-TIMESTAMP, no PKINIT, no FAST armor, no encrypted challenge). Normal clients
//!   that try without pre-authentication first get KDC_ERR_PREAUTH_REQUIRED for every normal
//!   account and never match. It alerts when the request offered no AES (asking for an RC4
//!   AS-REP to crack: impacket GetNPUsers and Rubeus asreproast do by default), when the
//!   reply's enc-part is RC4/DES, or when one source obtains such AS-REPs, even all AES, for
//!   at least `min_accounts` accounts within `window_secs`.
//! - Thresholds: `window_secs = 3600`, `min_accounts = 5` (config `[asrep_roasting]`).
//! - Benign: applications that legitimately log on with pre-authentication disabled
//!   (legacy Unix/Java); realms whose KDC does not require pre-authentication (MIT's
//!   default, outside Active Directory), where every client logs on this way; exclude their
//!   source. The anonymous principal
//!   (`WELLKNOWN/ANONYMOUS`, anonymous PKINIT for FAST armor) is ignored.
//! - Gaps: a lone AES exchange for one account is not alerted: it is what a legacy client of
//!   an account without pre-authentication does at every logon (and what an MIT realm that
//!   does not require pre-authentication looks like), so a roast of one account with
//!   `/aes` is missed. Without a directory snapshot the alert cannot say whether the account
//!   is sensitive.
//! - Evidence: each AS-REQ and the AS-REP that answered it.

use std::collections::BTreeSet;
use std::net::IpAddr;

use orthrus_model::{Activity, AlertSource, AlertTargets, Severity};
use serde::Deserialize;

use super::as_exchange;
use crate::names::{account_key, name_list};
use crate::window::{PerSource, Recent, Window};
use crate::{Alerts, Context, Detection, DetectionMeta, Detector, Finding, Settings};

pub static META: DetectionMeta = DetectionMeta {
    id: "ORT-KRB-002",
    title: "Suspected AS-REP roasting",
    mdi: "Suspected AS-REP Roasting attack (2412)",
    external_id: 2412,
    cef_app: "Kerberos",
    tactic: "TA0006",
    techniques: &["T1558.004"],
    data_sources: &["Kerberos AS-REQ/AS-REP"],
    base_severity: Severity::High,
    escalates_for_sensitive: false,
    config_section: "asrep_roasting",
    meaning: "Someone asked for AS-REP answers for accounts that do not require Kerberos pre-authentication. The answer holds data encrypted with the account's password hash, which can be cracked offline without ever logging on.",
    impact: "Each account without pre-authentication whose password is cracked is taken over with its rights.",
    actions: &[
        "Check whether the source is a known tool or scanner; if not, treat it as compromised and isolate it.",
        "Require pre-authentication on the named accounts (clear DONT_REQ_PREAUTH in userAccountControl) unless a documented legacy system needs it.",
        "Reset the passwords of the accounts whose answers were returned.",
        "Look for logons by those accounts from unusual computers after this alert.",
    ],
};

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AsRepRoastingConfig {
    /// Window, event time, for counting roasted accounts per source.
    pub window_secs: u64,
    /// Distinct accounts with AS-REPs (AES ones included) from one source in the window that
    /// make an alert without any RC4.
    pub min_accounts: usize,
    /// Source addresses never alerted on.
    pub exclude_sources: Vec<IpAddr>,
}

impl Default for AsRepRoastingConfig {
    fn default() -> Self {
        Self { window_secs: 3600, min_accounts: 5, exclude_sources: Vec::new() }
    }
}

impl Settings for AsRepRoastingConfig {
    fn exclude_sources(&self) -> &[IpAddr] {
        &self.exclude_sources
    }

    fn thresholds(&self) -> Vec<(&'static str, String)> {
        vec![("window_secs", self.window_secs.to_string()), ("min_accounts", self.min_accounts.to_string())]
    }
}

impl Detection for AsRepRoasting {
    type Settings = AsRepRoastingConfig;
    const META: &'static DetectionMeta = &META;

    fn new(settings: &Self::Settings) -> Self {
        AsRepRoasting::new(settings.clone())
    }
}

struct SourceState {
    /// Accounts (case-folded) and their names as seen, that got AS-REPs without pre-auth.
    roasted: Window<String>,
    roasted_names: Window<String>,
    recent: Recent,
    accounts: BTreeSet<String>,
    weak: bool,
}

pub struct AsRepRoasting {
    config: AsRepRoastingConfig,
    sources: PerSource<SourceState>,
}

impl AsRepRoasting {
    pub fn new(config: AsRepRoastingConfig) -> Self {
        Self { sources: PerSource::new(config.window_secs), config }
    }
}

impl Detector for AsRepRoasting {
    fn observe(&mut self, activity: &Activity, _context: &Context, alerts: &mut Alerts<'_>) {
        let Some(exchange) = as_exchange(activity) else {
            return;
        };
        let (Some(request), Some(issued)) = (&exchange.request, exchange.issued()) else {
            return;
        };
        if request.is_preauthenticated() || issued.cname.eq_ignore_ascii_case("WELLKNOWN/ANONYMOUS") {
            return;
        }
        let weak = request.offers_no_aes() || issued.reply_etype.is_weak();
        let source = activity.source_id();
        let (state, incident) = self.sources.at(&source, activity.time, || SourceState {
            roasted: Window::new(self.config.window_secs, 10_000),
            roasted_names: Window::new(self.config.window_secs, 10_000),
            recent: Recent::new(self.config.window_secs),
            accounts: BTreeSet::new(),
            weak: false,
        });
        state.roasted.insert(activity.time, account_key(&issued.cname));
        let summary = format!(
            "AS-REP for {} without pre-authentication, enc-part {} (offered: {})",
            issued.cname,
            issued.reply_etype,
            request.etypes.iter().map(ToString::to_string).collect::<Vec<_>>().join(",")
        );
        state.recent.push(activity, summary);
        let many = state.roasted.distinct() >= self.config.min_accounts;
        if !incident.alerted {
            if !weak && !many {
                return;
            }
            incident.restart(activity.time);
            state.accounts.clear();
            state.weak = false;
        }
        state.accounts.insert(issued.cname.clone());
        if many {
            state.accounts.extend(state.roasted_names.items().map(|(n, _)| n.clone()));
        }
        state.roasted_names.insert(activity.time, issued.cname.clone());
        state.weak |= weak;
        state.recent.drain_into(incident);
        incident.alerted = true;
        let severity = META.base_severity;
        let n = state.accounts.len();
        let description = format!(
            "{source} obtained {} AS-REP{} without pre-authentication for {} ({}){}, crackable offline.",
            if n == 1 { "an" } else { "roastable" },
            if n == 1 { "" } else { "s" },
            if n == 1 { "the account" } else { "the accounts" },
            name_list(state.accounts.iter(), 5),
            if state.weak { " encrypted with RC4" } else { "" },
        );
        let targets = AlertTargets { accounts: state.accounts.clone(), ..AlertTargets::default() };
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
    fn fires_on_lab_asrep_roast() {
        let alerts = alerts_for("asrep_roast", META.id, &DetectionConfig::default());
        assert_eq!(alerts.len(), 1, "{alerts:#?}");
        let alert = &alerts[0];
        assert_eq!(alert.source.ip, Some("10.99.0.21".parse().unwrap()));
        let accounts: Vec<&str> = alert.targets.accounts.iter().map(String::as_str).collect();
        assert_eq!(
            accounts,
            ["dave_np", "oscar_np"],
            "the two DONT_REQ_PREAUTH accounts; the rest got PREAUTH_REQUIRED"
        );
        assert_eq!(alert.severity, Severity::High, "RC4 asked for");
        assert_eq!(alert.count, 3, "dave_np twice, oscar_np once");
        assert!(alert.evidence.iter().any(|e| e.at.frame_number() == Some(34)));
    }

    #[test]
    fn silent_on_benign_baseline() {
        assert_silent(BENIGN, META.id);
    }

    /// The lab's roast as a client asking for AES would make it (Rubeus /aes): request and
    /// reply etypes rewritten to AES256.
    fn aes_roast() -> Vec<Activity> {
        let mut activities = orthrus_testkit::lab_activities("asrep_roast");
        for activity in &mut activities {
            let orthrus_model::ActivityKind::TgtRequested(ex) = &mut activity.kind else { continue };
            if let Some(request) = &mut ex.request {
                request.etypes = vec![orthrus_model::EncryptionType::AES256_CTS_HMAC_SHA1_96];
            }
            if let orthrus_model::KdcOutcome::Issued(issued) = &mut ex.outcome {
                issued.reply_etype = orthrus_model::EncryptionType::AES256_CTS_HMAC_SHA1_96;
            }
        }
        activities
    }

    fn run(activities: Vec<Activity>, config: &DetectionConfig) -> usize {
        let mut engine = crate::Engine::new(config, "test");
        activities.iter().for_each(|a| engine.observe(a));
        engine.finish().iter().filter(|a| a.detection == META.id).count()
    }

    #[test]
    fn all_aes_needs_many_accounts() {
        assert_eq!(run(aes_roast(), &DetectionConfig::default()), 0, "two AES AS-REPs: below min_accounts");
        let mut config = DetectionConfig::default();
        config.settings_mut::<AsRepRoasting>().min_accounts = 2;
        assert_eq!(run(aes_roast(), &config), 1);
    }

    #[test]
    fn silent_when_every_account_requires_preauthentication() {
        // krb_user_enum sends the same kind of AS-REQs, but no account answers with an AS-REP.
        assert_silent(&["krb_user_enum", "krb_password_spray", "kerberoast"], META.id);
    }
}
