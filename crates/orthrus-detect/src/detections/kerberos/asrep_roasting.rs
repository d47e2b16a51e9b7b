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
//!   account and never match. Severity is high when the request offered no AES (asking for
//!   an RC4 AS-REP to crack), when the reply's enc-part is RC4/DES, or when one source
//!   roasts at least `min_accounts` accounts within `window_secs`; low otherwise (a lone
//!   AES exchange, as a legacy application with such an account would make).
//! - Thresholds: `window_secs = 3600`, `min_accounts = 2` (config `[asrep_roasting]`).
//! - Benign: applications that legitimately log on with pre-authentication disabled
//!   (legacy Unix/Java); exclude their source. The anonymous principal
//!   (`WELLKNOWN/ANONYMOUS`, anonymous PKINIT for FAST armor) is ignored.
//! - Gaps: without a directory snapshot the alert cannot say whether the account is
//!   sensitive.
//! - Evidence: each AS-REQ and the AS-REP that answered it.

use std::collections::BTreeSet;
use std::net::IpAddr;

use orthrus_model::{Activity, AlertSource, AlertTargets, Severity};
use serde::Deserialize;

use super::{account_key, as_exchange, name_list};
use crate::window::{PerSource, Window};
use crate::{AlertUpdate, DetectionConfig, DetectionMeta, Detector, Verdict};

pub static META: DetectionMeta = DetectionMeta {
    id: "ORT-KRB-002",
    title: "Suspected AS-REP roasting",
    mdi: "Suspected AS-REP Roasting attack (2412)",
    tactic: "TA0006",
    techniques: &["T1558.004"],
    data_sources: &["Kerberos AS-REQ/AS-REP"],
    base_severity: Severity::High,
    config_section: "asrep_roasting",
};

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AsRepRoastingConfig {
    /// Window, event time, for counting roasted accounts per source.
    pub window_secs: u64,
    /// Distinct accounts roasted by one source in the window that make it high severity.
    pub min_accounts: usize,
    /// Source addresses never alerted on.
    pub exclude_sources: Vec<IpAddr>,
}

impl Default for AsRepRoastingConfig {
    fn default() -> Self {
        Self { window_secs: 3600, min_accounts: 2, exclude_sources: Vec::new() }
    }
}

impl AsRepRoastingConfig {
    pub fn thresholds(&self) -> Vec<(&'static str, String)> {
        vec![("window_secs", self.window_secs.to_string()), ("min_accounts", self.min_accounts.to_string())]
    }
}

pub fn build(config: &DetectionConfig) -> Box<dyn Detector> {
    Box::new(AsRepRoasting::new(config.asrep_roasting.clone()))
}

struct SourceState {
    roasted: Window<String>,
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
    fn meta(&self) -> &'static DetectionMeta {
        &META
    }

    fn observe(&mut self, activity: &Activity, updates: &mut Vec<AlertUpdate>) {
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
        let source = activity.source.ip;
        let (state, incident) = self.sources.at(source, activity.time, || SourceState {
            roasted: Window::new(self.config.window_secs, 10_000),
            accounts: BTreeSet::new(),
            weak: false,
        });
        state.roasted.insert(activity.time, account_key(&issued.cname));
        if incident.count == 0 {
            state.accounts.clear();
            state.weak = false;
        }
        state.accounts.insert(issued.cname.clone());
        state.weak |= weak;
        incident.record(
            activity.time,
            &activity.provenance,
            format!(
                "AS-REP for {} without pre-authentication, enc-part {} (offered: {})",
                issued.cname,
                issued.reply_etype,
                request.etypes.iter().map(ToString::to_string).collect::<Vec<_>>().join(",")
            ),
        );
        incident.alerted = true;
        let many = state.roasted.distinct() >= self.config.min_accounts;
        let severity = if state.weak || many { META.base_severity } else { Severity::Low };
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
        updates.push(AlertUpdate::from_incident(
            &META,
            activity,
            incident,
            Verdict {
                severity,
                description,
                source: AlertSource { ip: Some(source), ..AlertSource::default() },
                targets,
            },
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detections::kerberos::testing::{BENIGN, alerts_for, assert_silent};

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
        assert_eq!(alert.severity, Severity::High, "RC4 asked for, two accounts");
        assert_eq!(alert.count, 3, "dave_np twice, oscar_np once");
        assert!(alert.evidence.iter().any(|e| e.at.frame == 34));
    }

    #[test]
    fn silent_on_benign_baseline() {
        assert_silent(BENIGN, META.id);
    }

    #[test]
    fn silent_when_every_account_requires_preauthentication() {
        // krb_user_enum sends the same kind of AS-REQs, but no account answers with an AS-REP.
        assert_silent(&["krb_user_enum", "krb_password_spray", "kerberoast"], META.id);
    }
}
