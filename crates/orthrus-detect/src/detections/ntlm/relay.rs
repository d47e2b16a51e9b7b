//! ORT-NTLM-004 — NTLM relay of a domain controller's machine account.
//!
//! - Attack: a DC is coerced to authenticate to the attacker's host (printer bug,
//!   PetitPotam, DFSCoerce — ORT-RPC-002/003/004) and ntlmrelayx passes the DC's NTLM
//!   authentication on — to another DC's LDAP (to grant itself rights or RBCD), to AD CS web
//!   enrolment (a certificate for the DC, then DCSync), or back to SMB. The DC's machine
//!   account then authenticates to a DC from an address that is not a DC's.
//! - ATT&CK: T1557.001, T1187. MDI: Suspected NTLM relay attack (Exchange account) (2037);
//!   the catalogue generalises MDI's Exchange servers to DCs, whose relay is the worst case.
//! - Data: NET: NTLMSSP AUTHENTICATE messages to a DC (SMB, LDAP, DCE-RPC, HTTP): the account,
//!   its workstation name, the service the client meant (MsvAvTargetName), the answer; the DC
//!   list (configured `domain_controllers`, the directory's DCs by name, the addresses that
//!   answer Kerberos or serve replication).
//! - Logic: the machine account of a known DC authenticates over NTLM to a known DC's
//!   address from an address that is not a known DC's. Medium; High when the server accepted
//!   it. One alert per source and quiet gap `window_secs` (config `[ntlm_relay]`).
//! - Thresholds: `window_secs = 3600`.
//! - Benign: a DC whose address is not known as a DC's (list it in `domain_controllers`);
//!   a multi-homed DC authenticating from an address the sensor never saw it answer from.
//! - Gaps: Exchange servers' machine accounts (MDI's case) need their addresses, which the
//!   directory does not hold; relays of ordinary accounts without a removed MIC look like
//!   their victims' own logons.
//! - Evidence: each AUTHENTICATE (request and answer frames), the account, the workstation
//!   it claims, the service it meant, the answer.

use std::collections::BTreeSet;

use orthrus_model::{Activity, ActivityKind, AlertTargets, AuthOutcome, Severity};

use crate::detections::windows::{EventRuleConfig, Finding, KnownDcs, NamedEpisodes};
use crate::{AlertUpdate, DetectionConfig, DetectionMeta, Detector};

pub static META: DetectionMeta = DetectionMeta {
    id: "ORT-NTLM-004",
    title: "Suspected NTLM relay attack (domain controller account)",
    mdi: "Suspected NTLM relay attack (Exchange account) (2037)",
    external_id: 2037,
    cef_app: "Ntlm",
    tactic: "TA0008",
    techniques: &["T1557.001", "T1187"],
    data_sources: &[
        "NTLMSSP AUTHENTICATE to a DC by a DC's machine account",
        "DC list (config, directory, learned)",
    ],
    base_severity: Severity::Medium,
    escalates_for_sensitive: false,
    config_section: "ntlm_relay",
};

pub fn build(config: &DetectionConfig) -> Box<dyn Detector> {
    Box::new(NtlmRelay {
        config: config.ntlm_relay.clone(),
        dcs: KnownDcs::from_config(config),
        episodes: NamedEpisodes::new(config.ntlm_relay.window_secs),
    })
}

pub struct NtlmRelay {
    config: EventRuleConfig,
    dcs: KnownDcs,
    episodes: NamedEpisodes,
}

impl Detector for NtlmRelay {
    fn meta(&self) -> &'static DetectionMeta {
        &META
    }

    fn observe(&mut self, activity: &Activity, updates: &mut Vec<AlertUpdate>) {
        self.dcs.learn(activity);
        let ActivityKind::NtlmAuthenticated(auth) = &activity.kind else { return };
        if activity.from_event_log() || !auth.user.ends_with('$') || !self.dcs.contains(&auth.user) {
            return;
        }
        let (Some(source), Some(server)) = (activity.source_ip(), activity.destination) else { return };
        if self.dcs.contains_address(source) || !self.dcs.contains_address(server.ip) {
            return;
        }
        let account = auth.account();
        if self.config.excludes(&account) {
            return;
        }
        let accepted = matches!(auth.outcome, AuthOutcome::Succeeded);
        let answer = match auth.outcome {
            AuthOutcome::Succeeded => "accepted".to_owned(),
            AuthOutcome::Failed { status } => format!("refused ({status})"),
            AuthOutcome::Unknown => "unanswered".to_owned(),
        };
        let key = source.to_string();
        let accounts = self.episodes.add(&key, activity.time, [account.clone()]);
        let finding = Finding {
            key,
            summary: format!(
                "NTLM logon as {account} (workstation {}{}) to {}: {answer}",
                auth.workstation,
                auth.target_name.as_deref().map(|t| format!(", meant for {t}")).unwrap_or_default(),
                server.ip,
            ),
            description: format!(
                "{source}, which is not a domain controller, authenticated to {} over NTLM as the domain \
                 controller account{} {}: the DC's authentication was relayed (NTLM relay after \
                 coercion){}.",
                server.ip,
                if accounts.len() == 1 { "" } else { "s" },
                accounts.iter().cloned().collect::<Vec<_>>().join(", "),
                if accepted { ", and the server accepted it" } else { "" },
            ),
            severity: if accepted { Severity::High } else { META.base_severity },
            actor: Some(account),
            targets: AlertTargets {
                accounts: accounts.clone(),
                computers: BTreeSet::from([server.ip.to_string()]),
                ..AlertTargets::default()
            },
        };
        self.episodes.raise(&META, activity, finding, updates);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detections::recon::testing::{extra_alerts, with_lab_directory};
    use crate::detections::windows::testing::assert_silent_on_logs_and_captures;

    /// The lab DC by address (as a deployment lists its DCs) and the lab directory (DC1 by name).
    fn lab_dcs() -> DetectionConfig {
        with_lab_directory(DetectionConfig {
            domain_controllers: vec!["10.99.0.10".into()],
            ..DetectionConfig::default()
        })
    }

    #[test]
    fn fires_when_the_dcs_account_comes_back_from_another_host() {
        // DC1 authenticates to 10.99.0.21 (its machine account over SMB); ntlmrelayx passes
        // DC1$'s authentication back to the DC, which accepts it.
        let alerts = extra_alerts("ntlm_relay_dc_account", META.id, &lab_dcs());
        assert_eq!(alerts.len(), 1, "{alerts:#?}");
        let alert = &alerts[0];
        assert_eq!(alert.source.ip, Some("10.99.0.21".parse().unwrap()));
        assert_eq!(alert.targets.accounts, BTreeSet::from(["LAB\\DC1$".to_owned()]));
        assert_eq!(alert.severity, Severity::High);
        assert_eq!(alert.count, 1, "the DC's own outbound logon to 10.99.0.21 is not counted");
        // The relayed message claims the DC's workstation name: the relay is not named after it.
        assert!(
            alert
                .description
                .starts_with("10.99.0.21, which is not a domain controller, authenticated to 10.99.0.10"),
            "{}",
            alert.description
        );
        assert!(alert.evidence[0].summary.contains("meant for cifs/10.99.0.21"), "{:#?}", alert.evidence);
    }

    #[test]
    fn silent_without_knowing_the_dc_or_for_an_excluded_account() {
        // Without the directory nothing says DC1$ is a DC's account.
        let by_address =
            DetectionConfig { domain_controllers: vec!["10.99.0.10".into()], ..DetectionConfig::default() };
        assert!(extra_alerts("ntlm_relay_dc_account", META.id, &by_address).is_empty());
        let mut config = lab_dcs();
        config.ntlm_relay.exclude_actors = vec!["DC1$".into()];
        assert!(extra_alerts("ntlm_relay_dc_account", META.id, &config).is_empty());
        // An ordinary user's relayed logon is ORT-NTLM-003's when its MIC was removed.
        assert!(extra_alerts("ntlm_relay_drop_mic", META.id, &lab_dcs()).is_empty());
        assert_silent_on_logs_and_captures(META.id);
    }
}
