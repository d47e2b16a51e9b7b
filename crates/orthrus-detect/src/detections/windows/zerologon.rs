//! ORT-NRPC-001 — Zerologon (CVE-2020-1472), as the DC's events show it.
//!
//! - Attack: Netlogon's AES-CFB8 with an all-zero IV lets an attacker authenticate as any
//!   computer with all-zero credentials (about one try in 256), then set that computer's
//!   password — a DC's — to empty with NetrServerPasswordSet2, and DCSync with it.
//! - ATT&CK: T1210 (Exploitation of Remote Services), T1068. MDI: Suspected Netlogon
//!   privilege elevation attempt (CVE-2020-1472 exploitation) (2411).
//! - Data: event 4742 (computer account changed) with a new password-last-set, made by
//!   ANONYMOUS LOGON (S-1-5-7): the password set over an unauthenticated Netlogon channel.
//!   The wire view (zero client credentials in NetrServerAuthenticate3) belongs to the
//!   network detections.
//! - Logic: any such 4742. High. One alert per computer account and quiet gap `window_secs`
//!   (config `[zerologon]`).
//! - Benign: none known on patched DCs (secure channel resets are made by the computer
//!   itself, not anonymously).
//! - Evidence: the 4742, computer account, DC.

use orthrus_model::{AccountAction, Activity, ActivityKind, AlertTargets, Severity};

use super::{EventRuleConfig, Finding, logged_on, raise};
use crate::window::Incidents;
use crate::{AlertUpdate, DetectionConfig, DetectionMeta, Detector};

pub static META: DetectionMeta = DetectionMeta {
    id: "ORT-NRPC-001",
    title: "Suspected Netlogon privilege elevation attempt (Zerologon)",
    mdi: "Suspected Netlogon privilege elevation attempt (CVE-2020-1472 exploitation) (2411)",
    tactic: "TA0004",
    techniques: &["T1210", "T1068"],
    data_sources: &["event 4742 by ANONYMOUS LOGON (password set)"],
    base_severity: Severity::High,
    config_section: "zerologon",
};

pub fn build(config: &DetectionConfig) -> Box<dyn Detector> {
    Box::new(Zerologon {
        incidents: Incidents::new(config.zerologon.window_secs),
        config: config.zerologon.clone(),
    })
}

pub struct Zerologon {
    config: EventRuleConfig,
    incidents: Incidents<String>,
}

impl Detector for Zerologon {
    fn meta(&self) -> &'static DetectionMeta {
        &META
    }

    fn observe(&mut self, activity: &Activity, updates: &mut Vec<AlertUpdate>) {
        let ActivityKind::AccountChanged(change) = &activity.kind else { return };
        let password_set =
            change.action == AccountAction::PasswordReset || change.changes.contains_key("PasswordLastSet");
        if !change.computer || !change.subject.is_anonymous() || !password_set {
            return;
        }
        let target = change.target.name.clone();
        if self.config.excludes(&target) {
            return;
        }
        let finding = Finding {
            key: target.to_lowercase(),
            summary: format!("ANONYMOUS LOGON set the password of {target}"),
            description: format!(
                "The password of computer account {target} was set by ANONYMOUS LOGON on {}: a Netlogon password \
                 reset without authentication, as Zerologon does.",
                logged_on(activity)
            ),
            severity: META.base_severity,
            actor: Some("NT AUTHORITY\\ANONYMOUS LOGON".to_owned()),
            targets: AlertTargets { accounts: [target].into(), ..AlertTargets::default() },
        };
        raise(&META, &mut self.incidents, activity, finding, updates);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detections::windows::testing::{assert_silent, corpus_alerts};

    #[test]
    fn fires_on_corpus_zerologon_password_reset() {
        let file =
            "hayabusa-sample-evtx/YamatoSecurity/LateralMovement/T1210_Zerologon_WindowsDefaultLogging.evtx";
        let alerts = corpus_alerts(&[file], META.id, &DetectionConfig::default());
        assert_eq!(alerts.len(), 1, "{alerts:#?}");
        assert!(alerts[0].targets.accounts.contains("DC1$"));
    }

    #[test]
    fn silent_on_benign_logs() {
        assert_silent(META.id);
    }
}
