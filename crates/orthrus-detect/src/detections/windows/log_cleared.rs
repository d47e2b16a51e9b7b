//! ORT-EVT-018 — Audit log cleared.
//!
//! - Attack: after acting on a host, the attacker clears the Security (or System) event log
//!   to erase the trail (`wevtutil cl Security`, `Clear-EventLog`, mimikatz `event::clear`).
//! - ATT&CK: T1070.001 (Clear Windows Event Logs). MDI has no such alert; Orthrus extension.
//! - Data: Security event 1102 (the audit log was cleared) and System event 104 (a log was
//!   cleared, naming the log).
//! - Logic: the Security or System log cleared. Other logs (Sysmon, Application, diagnostics)
//!   are cleared routinely by administrators and developers; their clearing stays an
//!   activity, not an alert. One alert per computer and quiet gap `window_secs`; High when
//!   the Security log of a domain controller (configured, or learned from its KDC events) is
//!   cleared.
//! - Thresholds: `window_secs = 3600` (config `[log_cleared]`).
//! - Benign: a documented maintenance step, or a lab machine reset; exclude the account
//!   (`exclude_actors`).
//! - Evidence: each clearing: log, account, computer.

use std::collections::BTreeSet;

use orthrus_model::{Activity, ActivityKind, AlertTargets, Severity};

use crate::EventRuleConfig;
use crate::names::{host_key, logged_on};
use crate::window::Incidents;
use crate::{Alerts, Context, Detection, DetectionMeta, Detector, Finding};

pub static META: DetectionMeta = DetectionMeta {
    id: "ORT-EVT-018",
    title: "Audit log cleared",
    mdi: "none (Orthrus extension)",
    external_id: 9018,
    cef_app: "EventLog",
    tactic: "TA0005",
    techniques: &["T1070.001"],
    data_sources: &["events 1102 (Security) / 104 (System)"],
    base_severity: Severity::Medium,
    escalates_for_sensitive: false,
    config_section: "log_cleared",
    meaning: "A DC's security or system log was cleared.",
    impact: "The attacker erases the evidence of what was done on the DC.",
    actions: &[
        "Confirm whether an administrator cleared the log on purpose.",
        "If not, treat the DC and the actor as compromised; the events forwarded before the clear (and the network evidence) are what remains.",
        "Forward events off the DC so clearing cannot erase them.",
    ],
};

impl Detection for LogCleared {
    type Settings = EventRuleConfig;
    const META: &'static DetectionMeta = &META;

    fn new(settings: &Self::Settings) -> Self {
        LogCleared { config: settings.clone(), episodes: Incidents::new(settings.window_secs) }
    }
}

pub struct LogCleared {
    config: EventRuleConfig,
    episodes: Incidents<String>,
}

impl Detector for LogCleared {
    fn observe(&mut self, activity: &Activity, context: &Context, alerts: &mut Alerts<'_>) {
        let ActivityKind::LogCleared(cleared) = &activity.kind else { return };
        if !matches!(cleared.channel.as_str(), "Security" | "System") {
            return;
        }
        let actor = cleared.subject.as_ref().map(|s| s.qualified());
        if actor.as_deref().is_some_and(|a| self.config.excludes(a)) {
            return;
        }
        let who = actor.clone().unwrap_or_else(|| "an unknown account".into());
        let computer = logged_on(activity).to_owned();
        let logs = self.episodes.named(&host_key(&computer), activity.time, [cleared.channel.clone()]);
        let on_dc = context.dcs().contains(&computer);
        let key = host_key(&computer);
        let summary = format!("{who} cleared the {} log", cleared.channel);
        let finding = Finding {
            severity: if on_dc && logs.contains("Security") { Severity::High } else { META.base_severity },
            description: format!(
                "{who} cleared the {} log{} of {}{computer}.",
                logs.iter().cloned().collect::<Vec<_>>().join(" and "),
                if logs.len() == 1 { "" } else { "s" },
                if on_dc { "domain controller " } else { "" },
            ),
            source: Finding::source_of(activity, actor),
            targets: AlertTargets { computers: BTreeSet::from([computer]), ..AlertTargets::default() },
        };
        let incident = self.episodes.record(&key, activity, summary);
        alerts.raise(activity, &key, incident, finding);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::DetectionConfig;
    use crate::testing::logs::{assert_silent, corpus_alerts};

    #[test]
    fn fires_on_security_and_system_log_clearing() {
        let config = DetectionConfig::default();
        for file in [
            "evtx-attack-samples/Defense Evasion/DE_1102_security_log_cleared.evtx",
            "evtx-attack-samples/Defense Evasion/DE_104_system_log_cleared.evtx",
        ] {
            let alerts = corpus_alerts(&[file], META.id, &config);
            assert_eq!(alerts.len(), 1, "{file}: {alerts:#?}");
        }
        let both = "evtx-to-mitre-attack/TA0005-Defense Evasion/T1070.001-Clear Windows event logs/ID104-1102-Event log cleared.evtx";
        let alerts = corpus_alerts(&[both], META.id, &config);
        assert_eq!(alerts.len(), 1, "{alerts:#?}");
        assert!(alerts[0].description.contains("Security and System"), "{}", alerts[0].description);
        assert_eq!(alerts[0].count, 2, "Application and ForwardedEvents are not counted");
    }

    #[test]
    fn security_log_of_a_dc_is_high() {
        // The DC logged the Kerberoasting 4768/4769 after its log was cleared.
        let file = "hayabusa-sample-evtx/YamatoSecurity/CredentialAccess/T1558.003_StealOrForgeKerberosTicketsKerberoasting_Security.evtx";
        let config =
            DetectionConfig { domain_controllers: vec!["DC-Server-1".into()], ..DetectionConfig::default() };
        let alerts = corpus_alerts(&[file], META.id, &config);
        assert_eq!(alerts.len(), 1, "{alerts:#?}");
        assert_eq!(alerts[0].severity, Severity::High);
    }

    #[test]
    fn silent_on_benign_logs() {
        assert_silent(META.id);
    }
}
