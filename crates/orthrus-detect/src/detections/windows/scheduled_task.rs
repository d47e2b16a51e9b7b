//! ORT-RPC-001 — Remote code execution attempt (scheduled task).
//!
//! - Attack: tools run commands on a remote host through the Task Scheduler: impacket
//!   atexec registers a randomly named task running `cmd.exe /C <command> >
//!   %windir%\Temp\<name>.tmp 2>&1`, `schtasks /s` and `at \\host` do the same by hand.
//! - ATT&CK: T1053.005 (Scheduled Task). MDI: Remote code execution attempt (2019), "Task
//!   Scheduling".
//! - Data: Security event 4698 (a scheduled task was created; audit "Other Object Access
//!   Events"), with the task's XML. The wire view (TSCH SchRpcRegisterTask, ATSVC NetrJobAdd)
//!   belongs to the network detections.
//! - Logic: a registered task whose action runs a shape of attack tooling (interpreter with
//!   output redirected to a temp file, script hosts, loopback/admin-share paths, random
//!   binaries; see `windows::suspicious_command`). One alert per computer and quiet gap
//!   `window_secs`; High on a known domain controller.
//! - Thresholds: `window_secs = 3600` (config `[remote_execution]`).
//! - Benign: administrators' scripted tasks that call `cmd.exe` or PowerShell; exclude the
//!   task names (`exclude_tasks`) or accounts (`exclude_actors`).
//! - Evidence: each task: name, command, account, computer.

use std::collections::BTreeSet;
use std::net::IpAddr;

use orthrus_model::{Activity, ActivityKind, AlertTargets, Severity};
use serde::Deserialize;

use super::{Finding, KnownDcs, NamedEpisodes, host_key, suspicious_command};
use crate::detections::kerberos::{account_key, name_list};
use crate::{AlertUpdate, DetectionConfig, DetectionMeta, Detector};

pub static META: DetectionMeta = DetectionMeta {
    id: "ORT-RPC-001",
    title: "Remote code execution attempt",
    mdi: "Remote code execution attempt (2019)",
    tactic: "TA0002",
    techniques: &["T1053.005", "T1021"],
    data_sources: &["event 4698 (scheduled task created)"],
    base_severity: Severity::Medium,
    config_section: "remote_execution",
};

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RemoteExecutionConfig {
    pub window_secs: u64,
    pub exclude_tasks: Vec<String>,
    pub exclude_actors: Vec<String>,
    pub exclude_sources: Vec<IpAddr>,
}

impl Default for RemoteExecutionConfig {
    fn default() -> Self {
        Self {
            window_secs: 3600,
            exclude_tasks: Vec::new(),
            exclude_actors: Vec::new(),
            exclude_sources: Vec::new(),
        }
    }
}

impl RemoteExecutionConfig {
    pub fn thresholds(&self) -> Vec<(&'static str, String)> {
        vec![("window_secs", self.window_secs.to_string())]
    }
}

pub fn build(config: &DetectionConfig) -> Box<dyn Detector> {
    let c = &config.remote_execution;
    Box::new(RemoteExecution {
        excluded_tasks: c.exclude_tasks.iter().map(|t| t.trim_start_matches('\\').to_lowercase()).collect(),
        excluded_actors: c.exclude_actors.iter().map(|a| account_key(a)).collect(),
        dcs: KnownDcs::new(&config.domain_controllers),
        episodes: NamedEpisodes::new(c.window_secs),
    })
}

pub struct RemoteExecution {
    excluded_tasks: Vec<String>,
    excluded_actors: Vec<String>,
    dcs: KnownDcs,
    episodes: NamedEpisodes,
}

impl Detector for RemoteExecution {
    fn meta(&self) -> &'static DetectionMeta {
        &META
    }

    fn observe(&mut self, activity: &Activity, updates: &mut Vec<AlertUpdate>) {
        self.dcs.learn(activity);
        let ActivityKind::TaskScheduled(task) = &activity.kind else { return };
        let Some(command) = task.command.as_deref() else { return };
        if self.excluded_tasks.contains(&task.name.trim_start_matches('\\').to_lowercase())
            || self.excluded_actors.contains(&account_key(&task.subject.name))
        {
            return;
        }
        let Some(why) = suspicious_command(command) else { return };
        let computer = activity.destination_host.as_deref().unwrap_or("an unnamed computer").to_owned();
        let key = host_key(&computer);
        let names = self.episodes.add(&key, activity.time, [task.name.clone()]);
        let actor = task.subject.qualified();
        let finding = Finding {
            key,
            summary: format!("{actor} registered task {}: {command}", task.name),
            description: format!(
                "{actor} registered the scheduled task{} {} on {computer}, which {why}: {}.",
                if names.len() == 1 { "" } else { "s" },
                name_list(names.iter(), 5),
                command.chars().take(120).collect::<String>(),
            ),
            severity: if self.dcs.contains(&computer) { Severity::High } else { META.base_severity },
            actor: Some(actor),
            targets: AlertTargets { computers: BTreeSet::from([computer]), ..AlertTargets::default() },
        };
        self.episodes.raise(&META, activity, finding, updates);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detections::windows::testing::{assert_silent, corpus_alerts};

    #[test]
    fn fires_on_atexec_and_at_jobs() {
        for file in [
            "evtx-attack-samples/Lateral Movement/LM_ScheduledTask_ATSVC_target_host.evtx",
            "evtx-to-mitre-attack/EVTX_full_APT_attack_steps/ID4688,4698,4699,5145,4624-ATexec remote trask creation (GLOBAL).evtx",
            "evtx-attack-samples/Execution/temp_scheduled_task_4698_4699.evtx",
        ] {
            let alerts = corpus_alerts(&[file], META.id, &DetectionConfig::default());
            assert_eq!(alerts.len(), 1, "{file}: {alerts:#?}");
            assert!(alerts[0].description.contains("command interpreter"), "{}", alerts[0].description);
        }
    }

    #[test]
    fn excluded_task_is_silent() {
        let mut config = DetectionConfig::default();
        config.remote_execution.exclude_tasks = vec!["\\bouWFQYO".into()];
        let file = "evtx-to-mitre-attack/EVTX_full_APT_attack_steps/ID4688,4698,4699,5145,4624-ATexec remote trask creation (GLOBAL).evtx";
        assert!(corpus_alerts(&[file], META.id, &config).is_empty());
    }

    #[test]
    fn silent_on_benign_logs() {
        assert_silent(META.id);
    }
}
