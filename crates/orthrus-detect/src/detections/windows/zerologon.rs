//! ORT-NRPC-001 — Zerologon (CVE-2020-1472), as the DC's events show it.
//!
//! - Attack: Netlogon's AES-CFB8 with an all-zero IV lets an attacker authenticate as any
//!   computer with all-zero credentials (about one try in 256), then set that computer's
//!   password — a DC's — to empty with NetrServerPasswordSet2, and DCSync with it.
//! - ATT&CK: T1210 (Exploitation of Remote Services), T1068. MDI: Suspected Netlogon
//!   privilege elevation attempt (CVE-2020-1472 exploitation) (2411).
//! - Data: NET: Netlogon `NetrServerAuthenticate2/3` whose ClientCredential is all zeros,
//!   and `NetrServerPasswordSet2` with a zero authenticator (the reset). EVT: event 4742
//!   (computer account changed) with a new password-last-set, made by ANONYMOUS LOGON
//!   (S-1-5-7): the password set over an unauthenticated Netlogon channel.
//! - Logic: NET: any all-zero client credential — a real client computes it with a session
//!   key, so all zeros happens once in 2^64 — from one source; the alert counts the
//!   attempts and says whether a password set followed. EVT: any such 4742. High. One alert
//!   per source address (NET) or computer account (EVT) and quiet gap `window_secs` (config
//!   `[zerologon]`).
//! - Benign: none known on patched DCs (secure channel resets are made by the computer
//!   itself, not anonymously).
//! - Evidence: the 4742, computer account, DC.

use orthrus_model::{AccountAction, Activity, ActivityKind, AlertTargets, RpcCall, RpcDetail, Severity};

use crate::EventRuleConfig;
use crate::names::logged_on;
use crate::window::Incidents;
use crate::{Alerts, Context, Detection, DetectionMeta, Detector, Finding};

pub static META: DetectionMeta = DetectionMeta {
    id: "ORT-NRPC-001",
    title: "Suspected Netlogon privilege elevation attempt (Zerologon)",
    mdi: "Suspected Netlogon privilege elevation attempt (CVE-2020-1472 exploitation) (2411)",
    external_id: 2411,
    cef_app: "Netlogon",
    tactic: "TA0004",
    techniques: &["T1210", "T1068"],
    data_sources: &[
        "Netlogon authenticate/password set with zero credentials",
        "event 4742 by ANONYMOUS LOGON",
    ],
    base_severity: Severity::High,
    escalates_for_sensitive: false,
    config_section: "zerologon",
    meaning: "Netlogon authentication attempts with zero credentials (CVE-2020-1472, Zerologon).",
    impact: "The attacker sets the DC's machine password to empty and takes over the domain.",
    actions: &[
        "Check that every DC has the August 2020 updates with enforcement mode on.",
        "If an attempt succeeded, reset the DC's machine account password and check replication.",
        "Isolate the source and look for DCSync after the alert.",
    ],
};

impl Detection for Zerologon {
    type Settings = EventRuleConfig;
    const META: &'static DetectionMeta = &META;

    fn new(settings: &Self::Settings) -> Self {
        Zerologon { incidents: Incidents::new(settings.window_secs), config: settings.clone() }
    }
}

pub struct Zerologon {
    config: EventRuleConfig,
    incidents: Incidents<String>,
}

impl Zerologon {
    /// The wire view: Netlogon calls carrying all-zero credentials.
    fn netlogon_call(&mut self, activity: &Activity, call: &RpcCall, alerts: &mut Alerts<'_>) {
        let (account, what) = match &call.detail {
            Some(RpcDetail::NetlogonAuthenticate { account_name, credential_zero: true, .. }) => {
                (account_name, "authenticated with an all-zero credential")
            }
            Some(RpcDetail::NetlogonPasswordSet { account_name, credential_zero: true, .. }) => {
                (account_name, "set the account's password with a zero authenticator")
            }
            _ => return,
        };
        let Some(source) = activity.source_ip() else { return };
        if self.config.excludes(account) {
            return;
        }
        let result = match call.status {
            Some(status) if status.is_error() => format!("refused ({status})"),
            Some(_) => "accepted".to_owned(),
            None => "no answer".to_owned(),
        };
        let password_set = what.starts_with("set");
        let key = source.to_string();
        let summary = format!("{source} {what} as {account}: {result}");
        let finding = Finding {
            severity: META.base_severity,
            description: format!(
                "{source} tried Zerologon (CVE-2020-1472) against {}, impersonating {account}{}.",
                activity
                    .destination
                    .map(|d| d.ip.to_string())
                    .unwrap_or_else(|| "a domain controller".into()),
                if password_set { ", and reset its password" } else { "" }
            ),
            source: Finding::source_of(activity, None),
            targets: AlertTargets { accounts: [account.to_string()].into(), ..AlertTargets::default() },
        };
        let incident = self.incidents.record(&key, activity, summary);
        alerts.raise(activity, &key, incident, finding);
    }
}

impl Detector for Zerologon {
    fn observe(&mut self, activity: &Activity, _context: &Context, alerts: &mut Alerts<'_>) {
        if let ActivityKind::RpcCalled(call) = &activity.kind {
            self.netlogon_call(activity, call, alerts);
            return;
        }
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
        let key = target.to_lowercase();
        let summary = format!("ANONYMOUS LOGON set the password of {target}");
        let finding = Finding {
            severity: META.base_severity,
            description: format!(
                "The password of computer account {target} was set by ANONYMOUS LOGON on {}: a Netlogon password \
                 reset without authentication, as Zerologon does.",
                logged_on(activity)
            ),
            source: Finding::source_of(activity, Some("NT AUTHORITY\\ANONYMOUS LOGON".to_owned())),
            targets: AlertTargets { accounts: [target].into(), ..AlertTargets::default() },
        };
        let incident = self.incidents.record(&key, activity, summary);
        alerts.raise(activity, &key, incident, finding);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::DetectionConfig;
    use crate::testing::logs::{assert_silent_on_logs_and_captures, corpus_alerts};

    #[test]
    fn fires_on_corpus_zerologon_password_reset() {
        let file =
            "hayabusa-sample-evtx/YamatoSecurity/LateralMovement/T1210_Zerologon_WindowsDefaultLogging.evtx";
        let alerts = corpus_alerts(&[file], META.id, &DetectionConfig::default());
        assert_eq!(alerts.len(), 1, "{alerts:#?}");
        assert!(alerts[0].targets.accounts.contains("DC1$"));
    }

    #[test]
    fn fires_on_corpus_zerologon_captures() {
        let corpus = orthrus_testkit::corpus();
        let path = corpus.join(
            "pcap-attack/Lateral Movement/CVE-2020-1472_Zerologon_RPC_NetLogon_NullChallenge_SecChan_6_from_nonDC_to_DC.pcapng",
        );
        let mut engine = crate::Engine::new(&DetectionConfig::default(), "test");
        for activity in orthrus_testkit::activities(&path) {
            engine.observe(&activity);
        }
        let alerts: Vec<_> = engine.finish().into_iter().filter(|a| a.detection == META.id).collect();
        assert_eq!(alerts.len(), 1, "{alerts:#?}");
        assert!(alerts[0].count > 100, "every zero-credential attempt counted: {}", alerts[0].count);
    }

    #[test]
    fn silent_on_benign_logs() {
        assert_silent_on_logs_and_captures(META.id);
    }
}
