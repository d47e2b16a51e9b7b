//! ORT-NTLM-003 — NTLM authentication tampering (drop-the-MIC, CVE-2019-1040).
//!
//! - Attack: an NTLM relay (ntlmrelayx `--remove-mic`) strips the AUTHENTICATE message's MIC
//!   and version and clears its signing and key-exchange flags, so that a session whose
//!   client asked for signing can be relayed to a server that would otherwise demand it —
//!   SMB to LDAP, a coerced DC's authentication to another DC. The NTLMv2 response, which
//!   the attacker cannot change, still says the client put a MIC in.
//! - ATT&CK: T1557.001, T1210 (as MDI lists: T1068, T1210). MDI: Suspected NTLM
//!   authentication tampering (2039).
//! - Data: NET: NTLMSSP AUTHENTICATE messages (SMB, LDAP, DCE-RPC, HTTP): the NTLMv2
//!   response's MsvAvFlags (MIC present), the MIC field, MsvAvTargetName (the service the
//!   client meant), the server's answer.
//! - Logic: an NTLMv2 AUTHENTICATE whose MsvAvFlags claim a MIC the message does not carry
//!   (or carries zeroed): only a relay in the middle removes it. Every such message, patched
//!   server or not (a refusal is still the attempt). One alert per source and quiet gap
//!   `window_secs` (config `[ntlm_tampering]`), naming the accounts relayed, the servers
//!   they were relayed to and the services the clients meant. Medium, one level higher for
//!   a sensitive account.
//! - Thresholds: `window_secs = 3600`.
//! - Benign: none known — clients either send a MIC or do not claim one. Exclude a source
//!   with `exclude_sources`.
//! - Gaps: the catalogue's other shape (NEGOTIATE asked for signing, AUTHENTICATE cleared it,
//!   with the MIC intact) needs the NEGOTIATE of the same exchange, not followed yet; relays
//!   of NTLMv1 (no MIC exists) are ORT-NTLM-004's ground.
//! - Evidence: each AUTHENTICATE (request and answer frames), account, workstation name,
//!   the service the client meant, the server's answer.

use std::collections::BTreeSet;

use orthrus_model::{Activity, ActivityKind, AlertTargets, AuthOutcome, Severity};

use crate::EventRuleConfig;
use crate::window::Incidents;
use crate::{Alerts, Context, Detection, DetectionMeta, Detector, Finding};

pub static META: DetectionMeta = DetectionMeta {
    id: "ORT-NTLM-003",
    title: "Suspected NTLM authentication tampering (drop-the-MIC)",
    mdi: "Suspected NTLM authentication tampering (2039)",
    external_id: 2039,
    cef_app: "Ntlm",
    tactic: "TA0008",
    techniques: &["T1557.001", "T1210"],
    data_sources: &["NTLMSSP AUTHENTICATE: MsvAvFlags, MIC, MsvAvTargetName"],
    base_severity: Severity::Medium,
    escalates_for_sensitive: true,
    config_section: "ntlm_tampering",
    meaning: "An NTLM authentication was passed on with its message integrity code removed or its flags changed (drop-the-MIC, CVE-2019-1040), so a relay can cross from SMB to LDAP.",
    impact: "A relayed authentication lets the attacker act as the victim, often a computer or DC account, against LDAP or other servers.",
    actions: &[
        "Check that the servers are patched for CVE-2019-1040.",
        "Require SMB signing, LDAP signing and LDAP channel binding on DCs.",
        "Isolate the source of the relayed message and review what was changed in the directory right after it.",
    ],
};

impl Detection for NtlmTampering {
    type Settings = EventRuleConfig;
    const META: &'static DetectionMeta = &META;

    fn new(settings: &Self::Settings) -> Self {
        NtlmTampering { config: settings.clone(), episodes: Incidents::new(settings.window_secs) }
    }
}

pub struct NtlmTampering {
    config: EventRuleConfig,
    episodes: Incidents<String>,
}

impl Detector for NtlmTampering {
    fn observe(&mut self, activity: &Activity, _context: &Context, alerts: &mut Alerts<'_>) {
        let ActivityKind::NtlmAuthenticated(auth) = &activity.kind else { return };
        if !auth.mic_missing {
            return;
        }
        let account = auth.account();
        if self.config.excludes(&account) {
            return;
        }
        let source = activity.source_id();
        let server = activity.destination.map(|d| d.ip.to_string()).unwrap_or_else(|| "a server".into());
        let answer = match auth.outcome {
            AuthOutcome::Succeeded => "accepted".to_owned(),
            AuthOutcome::Failed { status } => format!("refused ({status})"),
            AuthOutcome::Unknown => "unanswered".to_owned(),
        };
        let meant = auth.target_name.as_deref().map(|t| format!(", meant for {t}")).unwrap_or_default();
        let key = source.to_string();
        let names = self.episodes.named(
            &key,
            activity.time,
            [format!("account:{account}"), format!("server:{server}")]
                .into_iter()
                .chain(auth.target_name.as_ref().map(|t| format!("meant:{t}"))),
        );
        let listed = |prefix: &str| -> Vec<String> {
            names.iter().filter_map(|n| n.strip_prefix(prefix)).map(str::to_owned).collect()
        };
        let (accounts, servers, meant_for) = (listed("account:"), listed("server:"), listed("meant:"));
        let summary = format!(
            "NTLM logon as {account} (workstation {}) to {server} without the MIC its response claims{meant}: {answer}",
            if auth.workstation.is_empty() { "unnamed" } else { &auth.workstation },
        );
        let finding = Finding {
            severity: META.base_severity,
            description: format!(
                "{source} relayed NTLM authentication of {} to {} with the message integrity code removed \
                 (drop-the-MIC, CVE-2019-1040){}.",
                accounts.join(", "),
                servers.join(", "),
                match meant_for.len() {
                    0 => String::new(),
                    _ => format!("; the clients meant to reach {}", meant_for.join(", ")),
                },
            ),
            source: Finding::source_of(activity, Some(account.clone())),
            targets: AlertTargets {
                accounts: accounts.into_iter().collect::<BTreeSet<_>>(),
                computers: servers.into_iter().filter(|s| s != "a server").collect(),
                ..AlertTargets::default()
            },
        };
        let incident = self.episodes.record(&key, activity, summary);
        alerts.raise(activity, &key, incident, finding);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::DetectionConfig;
    use crate::testing::extra::extra_alerts;
    use crate::testing::logs::assert_silent_on_logs_and_captures;

    #[test]
    fn fires_on_ntlmrelayx_removing_the_mic() {
        // alice's SMB logon to 10.99.0.21 relayed to the DC's SMB with the MIC removed; Samba
        // refuses it (STATUS_INVALID_PARAMETER).
        let alerts = extra_alerts("ntlm_relay_drop_mic", META.id, &DetectionConfig::default());
        assert_eq!(alerts.len(), 1, "{alerts:#?}");
        let alert = &alerts[0];
        assert_eq!(alert.source.ip, Some("10.99.0.21".parse().unwrap()));
        assert_eq!(alert.targets.accounts, BTreeSet::from(["LAB\\alice".to_owned()]));
        assert!(alert.targets.computers.contains("10.99.0.10"));
        assert_eq!(alert.severity, Severity::Medium);
        // The relayed message names the victim's workstation (VM): not the relay's name.
        assert_eq!(
            alert.description,
            "10.99.0.21 relayed NTLM authentication of LAB\\alice to 10.99.0.10 with the message integrity \
             code removed (drop-the-MIC, CVE-2019-1040); the clients meant to reach cifs/10.99.0.21."
        );
        assert!(alert.evidence[0].summary.ends_with("refused (0xc000000d)"), "{:#?}", alert.evidence);
    }

    #[test]
    fn silent_for_an_excluded_account_ordinary_ntlm_and_benign_traffic() {
        let mut config = DetectionConfig::default();
        config.settings_mut::<NtlmTampering>().exclude_actors = vec!["alice".into()];
        assert!(extra_alerts("ntlm_relay_drop_mic", META.id, &config).is_empty());
        // NTLM logons with their MIC, and NTLM spraying without one claimed.
        for capture in ["ntlm_user_enum", "dfs_coerce"] {
            assert!(extra_alerts(capture, META.id, &DetectionConfig::default()).is_empty(), "{capture}");
        }
        assert_silent_on_logs_and_captures(META.id);
    }
}
