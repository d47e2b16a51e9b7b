//! ORT-EVT-002 — Suspicious service creation.
//!
//! - Attack: remote execution tools install a service to run their payload as SYSTEM
//!   (PsExec's PSEXESVC, impacket psexec/smbexec, Metasploit psexec, RemCom), and credential
//!   tools load drivers as services (mimikatz's mimidrv).
//! - ATT&CK: T1569.002 (Service Execution), T1543.003 (Windows Service). MDI: Suspicious
//!   service creation (2026).
//! - Data: System event 7045 (service installed) and Security event 4697 (audit "Security
//!   System Extension").
//! - Logic: the image path or name matches a shape of attack tooling (patterns as data, in
//!   `windows::suspicious_command`): a command interpreter or script host, a named-pipe echo,
//!   a loopback or ADMIN$ path, the Windows temp folder, a remote-execution service or
//!   credential tool by name, a randomly named binary in the Windows folder; on a known
//!   domain controller also a binary in a user-writable folder. One alert per computer and
//!   quiet gap `window_secs`; High for interpreters and named tools on a DC.
//! - Thresholds: `window_secs = 3600` (config `[service_creation]`).
//! - Benign: administrators using PsExec or installing agents from a share; exclude service
//!   names (`exclude_services`).
//! - Evidence: each service: name, image path, start type, account, computer.

use std::collections::BTreeSet;
use std::net::IpAddr;

use orthrus_model::{Activity, ActivityKind, AlertTargets, Severity};
use serde::Deserialize;

use super::commands::{suspicious_command, user_writable};
use crate::names::{host_key, name_list};
use crate::window::Incidents;
use crate::{Alerts, Context, Detection, DetectionMeta, Detector, Finding, Settings};

pub static META: DetectionMeta = DetectionMeta {
    id: "ORT-EVT-002",
    title: "Suspicious service creation",
    mdi: "Suspicious service creation (2026)",
    external_id: 2026,
    cef_app: "ServiceInstalledEvent",
    tactic: "TA0002",
    techniques: &["T1569.002", "T1543.003"],
    data_sources: &["events 7045 / 4697 (service installed)"],
    base_severity: Severity::Medium,
    escalates_for_sensitive: false,
    config_section: "service_creation",
    meaning: "A service was installed on a DC with the marks of remote execution or credential tools (PsExec, impacket, mimikatz's driver): a random name, a command interpreter, a file in a temporary folder.",
    impact: "Code runs on the DC as SYSTEM.",
    actions: &[
        "Look at the service's binary path and who installed it.",
        "Remove the service and its file; isolate the computer the installation came from.",
        "Treat the DC as compromised: review its processes and the incident's other alerts.",
    ],
};

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServiceCreationConfig {
    pub window_secs: u64,
    /// Service names never alerted on (case-insensitive).
    pub exclude_services: Vec<String>,
    pub exclude_sources: Vec<IpAddr>,
}

impl Default for ServiceCreationConfig {
    fn default() -> Self {
        Self { window_secs: 3600, exclude_services: Vec::new(), exclude_sources: Vec::new() }
    }
}

impl Settings for ServiceCreationConfig {
    fn exclude_sources(&self) -> &[IpAddr] {
        &self.exclude_sources
    }

    fn thresholds(&self) -> Vec<(&'static str, String)> {
        vec![("window_secs", self.window_secs.to_string())]
    }
}

impl Detection for ServiceCreation {
    type Settings = ServiceCreationConfig;
    const META: &'static DetectionMeta = &META;

    fn new(settings: &Self::Settings) -> Self {
        let c = settings;
        ServiceCreation {
            excluded: c.exclude_services.iter().map(|s| s.to_lowercase()).collect(),
            episodes: Incidents::new(c.window_secs),
        }
    }
}

pub struct ServiceCreation {
    excluded: Vec<String>,
    episodes: Incidents<String>,
}

impl Detector for ServiceCreation {
    fn observe(&mut self, activity: &Activity, context: &Context, alerts: &mut Alerts<'_>) {
        let ActivityKind::ServiceInstalled(service) = &activity.kind else { return };
        if self.excluded.contains(&service.name.to_lowercase()) {
            return;
        }
        let computer = activity.destination_host.as_deref().unwrap_or("an unnamed computer").to_owned();
        let on_dc = context.dcs().contains(&computer);
        let shape = format!("{} {}", service.name, service.image_path);
        let why = suspicious_command(&shape).or_else(|| {
            (on_dc && user_writable(&service.image_path)).then_some("runs from a user-writable folder")
        });
        let Some(why) = why else { return };
        let key = host_key(&computer);
        let names = self.episodes.named(&key, activity.time, [service.name.clone()]);
        let by = service.subject.as_ref().map(|s| format!(" by {}", s.qualified())).unwrap_or_default();
        let strong = !why.contains("folder") && !why.contains("random");
        let summary = format!("service {} ({}) installed{by}: {why}", service.name, service.image_path);
        let finding = Finding {
            severity: if on_dc && strong { Severity::High } else { META.base_severity },
            description: format!(
                "Service{} {} installed on {computer}{by}: {why} ({}).",
                if names.len() == 1 { "" } else { "s" },
                name_list(names.iter(), 5),
                service.image_path.chars().take(120).collect::<String>(),
            ),
            source: Finding::source_of(activity, service.subject.as_ref().map(|s| s.qualified())),
            targets: AlertTargets {
                computers: BTreeSet::from([computer]),
                services: names,
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
    use crate::testing::logs::{assert_silent, corpus_alerts};

    const ATTACKS: &[&str] = &[
        "evtx-to-mitre-attack/TA0003-Persistence/T1543.003-Create or Modify System Process-Windows Service/ID4697-New service for Mimikatz.evtx",
        "evtx-to-mitre-attack/TA0003-Persistence/T1543.003-Create or Modify System Process-Windows Service/ID7045-New service for Mimikatz +npcap.evtx",
        "evtx-to-mitre-attack/TA0003-Persistence/T1543.003-Create or Modify System Process-Windows Service/ID7045-7036 PSexec service installation.evtx",
        "deepbluecli/evtx/metasploit-psexec-native-target-system.evtx",
        "deepbluecli/evtx/metasploit-psexec-powershell-target-system.evtx",
        "evtx-attack-samples/Lateral Movement/LM_Remote_Service02_7045.evtx",
        "evtx-to-mitre-attack/TA0008-Lateral Movement/T1021.002-SMB Windows Admin Shares/ID4688,4697,5140-5145 PSexec remote execution + admin share.evtx",
    ];

    #[test]
    fn fires_on_every_corpus_service_installation_attack() {
        for file in ATTACKS {
            let alerts = corpus_alerts(&[file], META.id, &DetectionConfig::default());
            assert!(!alerts.is_empty(), "{file}");
        }
        // Two installations hours apart: two alerts; Office, Bing and Npcap are not flagged.
        let npcap = corpus_alerts(&[ATTACKS[1]], META.id, &DetectionConfig::default());
        let services: Vec<&str> =
            npcap.iter().flat_map(|a| a.targets.services.iter()).map(String::as_str).collect();
        assert_eq!(services, ["WCESERVICE", "mimikatz driver (mimidrv)"]);
        // Metasploit: the random-named payload, and later the named-pipe echo of getsystem.
        let msf = corpus_alerts(&[ATTACKS[3]], META.id, &DetectionConfig::default());
        let services: Vec<&str> =
            msf.iter().flat_map(|a| a.targets.services.iter()).map(String::as_str).collect();
        assert_eq!(services, ["KgXItsbKgTJzdzwl", "hgabms"]);
    }

    #[test]
    fn excluded_service_names_are_silent() {
        let mut config = DetectionConfig::default();
        config.settings_mut::<ServiceCreation>().exclude_services = vec!["psexesvc".into()];
        assert!(corpus_alerts(&[ATTACKS[2]], META.id, &config).is_empty());
    }

    #[test]
    fn silent_on_benign_logs() {
        assert_silent(META.id);
    }
}
