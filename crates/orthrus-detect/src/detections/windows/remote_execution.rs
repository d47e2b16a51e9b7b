//! ORT-RPC-001 — Remote code execution attempt.
//!
//! - Attack: tools run commands on a remote host — a DC — through its service manager
//!   (PsExec, impacket psexec/smbexec: `RCreateServiceW` over `\\svcctl`) or its task
//!   scheduler (impacket atexec: `SchRpcRegisterTask` over `\\atsvc`, a randomly named task
//!   running `cmd.exe /C <command> > %windir%\Temp\<name>.tmp 2>&1`; `at \\host`:
//!   `NetrJobAdd`) or WMI (impacket wmiexec, Empire/Covenant `Invoke-WMIMethod`, `wmic /node`:
//!   DCOM activation, `IWbemLevel1Login::NTLMLogin`, then `IWbemServices::ExecMethod` of
//!   `Win32_Process.Create`) or WinRM (PowerShell remoting, `Enter-PSSession`/
//!   `Invoke-Command`, winrs: authenticated `POST /wsman` on 5985).
//! - ATT&CK: T1569.002 (Service Execution), T1053.005 (Scheduled Task), T1047 (WMI),
//!   T1021.002, T1021.003, T1021.006 (WinRM). MDI: Remote code execution attempt (2019):
//!   "Service Creation", "Task Scheduling", "Wmi Execution", "PowerShell execution".
//! - Data: NET: SVCCTL `RCreateServiceW`/`RCreateServiceA`, ATSVC `NetrJobAdd`, TSCH
//!   `SchRpcRegisterTask`, WMI `IWbemServices::ExecMethod`/`ExecMethodAsync` calls (their
//!   interface and opnum show even when sealed; WMI over DCOM always is), with the caller's
//!   address and account, and the service's binary or the task's command when the stub is
//!   not sealed; HTTP requests that authenticated (NTLM or Kerberos in `Authorization`) to
//!   the WS-Management endpoint `/wsman` — the body is encrypted, the request line is not,
//!   and PowerShell adds `?PSVersion=` to it. EVT: Security event 4698 (a scheduled task was
//!   created; audit "Other Object Access Events"), with the task's XML; 5145 (a share object
//!   checked; audit "Detailed File Share"): an executable written to an administrative share
//!   (`ADMIN$`, `C$`) and then the `\\svcctl` pipe opened by the same account from the same
//!   address (PsExec, RemCom, impacket psexec, as the target logs them), or a pipe of a remote
//!   execution tool opened (`PSEXESVC`, `RemCom_`, `PAExec`, `csexec`, and PsExec's
//!   `SERVICE-CLIENT-PID-stdin` streams under any service name, `psexec -r`); service installs from
//!   events are ORT-EVT-002.
//! - Logic: NET: any such call from an address that is not a known DC's; one alert per
//!   source address, target and quiet gap, listing every attempt with its outcome; High when
//!   the target is a known DC. EVT: a registered task whose action runs a shape of attack
//!   tooling (interpreter with output redirected to a temp file, script hosts,
//!   loopback/admin-share paths, random binaries; see `windows::suspicious_command`); one
//!   alert per computer and quiet gap; High on a known domain controller. 5145: the pipe
//!   opened within `window_secs` of the executable's write, or a tool's pipe, from an address
//!   that is not a known DC's nor the computer's own (loopback); one alert per source and
//!   computer as for the wire.
//! - Thresholds: `window_secs = 3600` (config `[remote_execution]`).
//! - Benign: administrators managing DCs remotely from admin workstations, deployment and
//!   inventory tools (SCCM and monitoring agents call WMI methods such as `StdRegProv`'s,
//!   which sealed look like `Win32_Process.Create`; Server Manager speaks WS-Management to
//!   `/wsman`, without `PSVersion`); exclude their addresses (`exclude_sources`), task names
//!   (`exclude_tasks`) or accounts (`exclude_actors`).
//! - Gaps: the WOW64 creation calls (`RCreateServiceWOW64W`, opnum 45, which Sysinternals
//!   PsExec uses) are not counted: the public corpus holds the same PsExec session once
//!   labelled as an attack and once as benign parser-test traffic, and the benign side
//!   must stay silent. WinRM over HTTPS (5986) shows only TLS. A Kerberos WinRM session does
//!   not name its account on the wire.
//! - Evidence: each call (request and reply frames) or 4698: method, object, account, result.

use std::collections::BTreeSet;
use std::net::IpAddr;

use orthrus_model::{
    Activity, ActivityKind, AlertTargets, FileAccess, HttpRequest, RpcCall, RpcDetail, Severity, Timestamp,
};
use serde::Deserialize;

use super::commands::suspicious_command;
use crate::detections::foreign_rpc::{ForeignCall, foreign_call};
use crate::names::{account_key, host_key, name_list};
use crate::window::Incidents;
use crate::{Alerts, Context, Detection, DetectionMeta, Detector, Finding, Settings};

pub static META: DetectionMeta = DetectionMeta {
    id: "ORT-RPC-001",
    title: "Remote code execution attempt",
    mdi: "Remote code execution attempt (2019)",
    external_id: 2019,
    cef_app: "ServiceControl",
    tactic: "TA0002",
    techniques: &["T1569.002", "T1053.005", "T1047", "T1021.002", "T1021.003", "T1021.006"],
    data_sources: &[
        "SVCCTL RCreateService, ATSVC NetrJobAdd, TSCH SchRpcRegisterTask, WMI IWbemServices::ExecMethod",
        "WinRM: authenticated HTTP POST /wsman",
        "event 4698 (scheduled task created)",
        "event 5145 (executable written to an admin share, then svcctl or a tool's pipe opened)",
    ],
    base_severity: Severity::Medium,
    escalates_for_sensitive: true,
    config_section: "remote_execution",
    meaning: "Commands were run on a DC remotely through its service manager, task scheduler or WMI, as PsExec, impacket and Empire do.",
    impact: "Code runs on the DC with the caller's rights, usually as SYSTEM.",
    actions: &[
        "Check whether the command was administrative work by a known admin.",
        "If not, isolate the source and look at the command the alert names.",
        "Treat the DC as compromised if the command ran.",
    ],
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

impl Settings for RemoteExecutionConfig {
    fn exclude_sources(&self) -> &[IpAddr] {
        &self.exclude_sources
    }

    fn thresholds(&self) -> Vec<(&'static str, String)> {
        vec![("window_secs", self.window_secs.to_string())]
    }
}

impl Detection for RemoteExecution {
    type Settings = RemoteExecutionConfig;
    const META: &'static DetectionMeta = &META;

    fn new(settings: &Self::Settings) -> Self {
        let c = settings;
        RemoteExecution {
            excluded_tasks: c
                .exclude_tasks
                .iter()
                .map(|t| t.trim_start_matches('\\').to_lowercase())
                .collect(),
            excluded_actors: c.exclude_actors.iter().map(|a| account_key(a)).collect(),
            episodes: Incidents::new(c.window_secs),
            ticket_owners: TicketOwners::default(),
            window_secs: i64::try_from(c.window_secs).unwrap_or(i64::MAX),
            dropped: std::collections::HashMap::new(),
        }
    }
}

pub struct RemoteExecution {
    excluded_tasks: Vec<String>,
    excluded_actors: Vec<String>,
    episodes: Incidents<String>,
    ticket_owners: TicketOwners,
    window_secs: i64,
    /// Executables written to a computer's admin shares, from its share-access events:
    /// (computer, source address, account) → when and which file. Bounded by [`MAX_DROPS`].
    dropped: std::collections::HashMap<(String, IpAddr, String), (Timestamp, String)>,
}

/// Executable writes remembered at most; beyond, the oldest are forgotten first. A deployment
/// wave writes to thousands of computers; each entry is a few hundred bytes.
const MAX_DROPS: usize = 65_536;

/// Pipes remote execution tools create on their target (their service's standard streams and
/// control channel), lower-case prefixes: Sysinternals PsExec, RemCom (and impacket's psexec,
/// built on it), PAExec, CSExec.
const TOOL_PIPES: &[&str] = &["psexesvc", "remcom_", "paexec", "csexec"];

/// PsExec's standard-stream pipes, `SERVICE-CLIENT-PID-stdin` (`-stdout`, `-stderr`): the
/// service's name comes first, so the shape holds when `psexec -r NAME` renames the service
/// and its PSEXESVC prefix is gone.
fn psexec_stdio_pipe(name: &str) -> bool {
    let mut parts = name.rsplitn(4, '-');
    let (Some(stream), Some(pid), Some(client), Some(service)) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return false;
    };
    ["stdin", "stdout", "stderr"].iter().any(|s| stream.eq_ignore_ascii_case(s))
        && !pid.is_empty()
        && pid.bytes().all(|b| b.is_ascii_digit())
        && !client.is_empty()
        && !service.is_empty()
}

/// What an executable dropped for a service is named like.
const EXECUTABLE_SUFFIXES: &[&str] = &[".exe", ".dll", ".bat", ".cmd", ".ps1", ".vbs"];

/// Access rights that write a file's content: FILE_WRITE_DATA, FILE_APPEND_DATA, GENERIC_WRITE,
/// GENERIC_ALL, MAXIMUM_ALLOWED.
const WRITE_ACCESS: u32 = 0x2 | 0x4 | 0x4000_0000 | 0x1000_0000 | 0x0200_0000;

/// Who each HTTP service ticket was issued to, from the TGS-REPs seen: a Kerberos WinRM
/// session names no account on the wire, its ticket does. Bounded; the oldest go first.
#[derive(Default)]
struct TicketOwners {
    owners: std::collections::HashMap<String, String>,
    order: std::collections::VecDeque<String>,
}

impl TicketOwners {
    const MAX: usize = 65_536;

    fn learn(&mut self, activity: &Activity) {
        let ActivityKind::ServiceTicketRequested(exchange) = &activity.kind else { return };
        let orthrus_model::KdcOutcome::Issued(issued) = &exchange.outcome else { return };
        if !issued.ticket.sname.to_ascii_lowercase().starts_with("http/") {
            return;
        }
        let owner = format!("{}@{}", issued.cname, issued.crealm);
        if self.owners.insert(issued.ticket.id.clone(), owner).is_none() {
            self.order.push_back(issued.ticket.id.clone());
        }
        while self.order.len() > Self::MAX {
            if let Some(oldest) = self.order.pop_front() {
                self.owners.remove(&oldest);
            }
        }
    }

    fn owner(&self, ticket_id: Option<&str>) -> Option<&String> {
        ticket_id.and_then(|id| self.owners.get(id))
    }
}

/// One remote execution attempt, as the alert's evidence and sentence word it.
struct Attempt {
    source: IpAddr,
    /// The computer run on: its address (wire) or the name of the computer that logged it.
    target: String,
    on_dc: bool,
    who: String,
    /// `successful`, `refused`, `failed` or `unanswered`.
    result: &'static str,
    method: &'static str,
    object: String,
    actor: Option<String>,
}

impl RemoteExecution {
    fn excludes_account(&self, user: Option<&str>) -> bool {
        user.is_some_and(|u| self.excluded_actors.contains(&account_key(u.rsplit('\\').next().unwrap_or(u))))
    }

    /// The wire view: a service created, a task registered or a WMI method executed over
    /// RPC by a non-DC.
    fn remote_call(
        &mut self,
        activity: &Activity,
        call: &RpcCall,
        context: &Context,
        alerts: &mut Alerts<'_>,
    ) {
        let operation = call.operation.as_deref().unwrap_or_default();
        let method = match (call.interface.as_str(), operation) {
            ("svcctl", "RCreateServiceW" | "RCreateServiceA") => "service creation",
            ("atsvc", "NetrJobAdd") => "task scheduling (AT job)",
            ("tsch", "SchRpcRegisterTask") => "task scheduling",
            ("wmi_services", "ExecMethod" | "ExecMethodAsync") => "WMI method execution",
            _ => return,
        };
        let Some(ForeignCall { source, server: target, who, result, .. }) =
            foreign_call(context, activity, call)
        else {
            return;
        };
        if self.excludes_account(call.user.as_deref()) {
            return;
        }
        let object = match &call.detail {
            Some(RpcDetail::CreateService { service_name, binary_path, .. }) => {
                format!("{service_name} ({binary_path})")
            }
            Some(RpcDetail::RegisterTask { path, command }) => {
                format!(
                    "{} ({})",
                    path.as_deref().unwrap_or("a task"),
                    command.as_deref().unwrap_or("command sealed")
                )
            }
            _ if call.encrypted => "sealed".to_owned(),
            _ => String::new(),
        };
        let on_dc = context.dcs().contains_address(target);
        let attempt = Attempt {
            source,
            target: target.to_string(),
            on_dc,
            who,
            result,
            method,
            object,
            actor: call.user.clone(),
        };
        self.record(activity, attempt, alerts);
    }

    /// The wire view of WinRM: an authenticated `POST /wsman` to a server by a non-DC.
    /// PowerShell remoting says so in the target (`?PSVersion=`); winrs and WS-Management
    /// clients do not.
    fn remote_shell(
        &mut self,
        activity: &Activity,
        request: &HttpRequest,
        context: &Context,
        alerts: &mut Alerts<'_>,
    ) {
        if !request.method.eq_ignore_ascii_case("POST") || !request.path().eq_ignore_ascii_case("/wsman") {
            return;
        }
        let (Some(source), Some(target)) = (activity.source_ip(), activity.destination.map(|d| d.ip)) else {
            return;
        };
        let account =
            request.user.clone().or_else(|| self.ticket_owners.owner(request.ticket_id.as_deref()).cloned());
        if context.dcs().contains_address(source) || self.excludes_account(account.as_deref()) {
            return;
        }
        let powershell = request.target.to_ascii_lowercase().contains("psversion=");
        let result = match request.status {
            Some(200..=299) => "successful",
            Some(401 | 403) => "refused",
            Some(_) => "failed",
            None => "unanswered",
        };
        let attempt = Attempt {
            source,
            target: target.to_string(),
            on_dc: context.dcs().contains_address(target),
            who: account.clone().unwrap_or_else(|| format!("an unknown account ({})", request.auth)),
            result,
            method: if powershell { "PowerShell remoting (WinRM)" } else { "WinRM remote shell" },
            object: request.target.clone(),
            actor: account,
        };
        self.record(activity, attempt, alerts);
    }

    /// The target's own view (5145): an executable written to one of its admin shares, then
    /// its service manager's pipe opened by the same account from the same address; or a
    /// remote execution tool's pipe opened.
    fn share_access(
        &mut self,
        activity: &Activity,
        file: &FileAccess,
        context: &Context,
        alerts: &mut Alerts<'_>,
    ) {
        // Most share accesses are neither: judged before anything is allocated.
        let name = file.name.trim_start_matches('\\');
        let share = file.share.as_deref().unwrap_or_default();
        let ends_with = |text: &str, suffix: &str| {
            text.len() >= suffix.len()
                && text.get(text.len() - suffix.len()..).is_some_and(|end| end.eq_ignore_ascii_case(suffix))
        };
        let dropped = !file.pipe
            && (ends_with(share, "\\ADMIN$") || ends_with(share, "\\C$"))
            && EXECUTABLE_SUFFIXES.iter().any(|suffix| ends_with(name, suffix))
            && file.desired_access & WRITE_ACCESS != 0;
        let tool_pipe = file.pipe
            && (TOOL_PIPES
                .iter()
                .any(|tool| name.get(..tool.len()).is_some_and(|p| p.eq_ignore_ascii_case(tool)))
                || psexec_stdio_pipe(name));
        let service_manager = file.pipe && name.eq_ignore_ascii_case("svcctl");
        if !(dropped || tool_pipe || service_manager) {
            return;
        }
        let (Some(source), Some(computer)) = (activity.source_ip(), activity.destination_host.as_deref())
        else {
            return;
        };
        if source.is_loopback()
            || context.dcs().contains_address(source)
            || self.excludes_account(file.user.as_deref())
        {
            return;
        }
        let who = file.user.clone().unwrap_or_else(|| "an unknown account".into());
        let key = (host_key(computer), source, account_key(&who));
        if dropped {
            if self.dropped.len() >= MAX_DROPS
                && let Some(oldest) =
                    self.dropped.iter().min_by_key(|(_, (at, _))| *at).map(|(k, _)| k.clone())
            {
                self.dropped.remove(&oldest);
            }
            self.dropped.insert(key, (activity.time, format!("{share}\\{}", file.name)));
            return;
        }
        let (method, object) = if tool_pipe {
            ("service execution (a remote execution tool's pipe)", format!("\\{}", name.to_ascii_lowercase()))
        } else {
            let within =
                |at: Timestamp| (activity.time.as_micros() - at.as_micros()) / 1_000_000 <= self.window_secs;
            match self.dropped.get(&key) {
                Some((at, dropped)) if within(*at) => (
                    "service execution (an executable written to an admin share, then svcctl)",
                    dropped.clone(),
                ),
                _ => return,
            }
        };
        let attempt = Attempt {
            source,
            target: computer.to_owned(),
            on_dc: context.dcs().contains(computer),
            who,
            result: "successful",
            method,
            object,
            actor: file.user.clone(),
        };
        self.record(activity, attempt, alerts);
    }

    fn record(&mut self, activity: &Activity, attempt: Attempt, alerts: &mut Alerts<'_>) {
        let Attempt { source, target, on_dc, who, result, method, object, actor } = attempt;
        // One alert per source and target, as MDI words it ("… were performed on DC1 from
        // CLIENT1").
        let key = format!("{source} {target}");
        let methods = self.episodes.named(&key, activity.time, [format!("{result} {method}")]);
        let summary = format!("{result} {method} by {who}: {object}");
        let finding = Finding {
            severity: if on_dc { Severity::High } else { META.base_severity },
            description: format!(
                "Remote code execution attempts were made on {}{} from {source} by {who}: {}.",
                if on_dc { "domain controller " } else { "" },
                target,
                methods.iter().cloned().collect::<Vec<_>>().join(", "),
            ),
            source: Finding::source_of(activity, actor),
            targets: AlertTargets { computers: BTreeSet::from([target]), ..AlertTargets::default() },
        };
        let incident = self.episodes.record(&key, activity, summary);
        alerts.raise(activity, &key, incident, finding);
    }
}

impl Detector for RemoteExecution {
    fn observe(&mut self, activity: &Activity, context: &Context, alerts: &mut Alerts<'_>) {
        self.ticket_owners.learn(activity);
        match &activity.kind {
            ActivityKind::RpcCalled(call) => return self.remote_call(activity, call, context, alerts),
            ActivityKind::HttpRequested(request) => {
                return self.remote_shell(activity, request, context, alerts);
            }
            // The wire's SMB opens are judged by the RPC calls that follow them.
            ActivityKind::FileOpened(file) if activity.from_event_log() => {
                return self.share_access(activity, file, context, alerts);
            }
            _ => {}
        }
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
        let names = self.episodes.named(&key, activity.time, [task.name.clone()]);
        let actor = task.subject.qualified();
        let summary = format!("{actor} registered task {}: {command}", task.name);
        let finding = Finding {
            severity: if context.dcs().contains(&computer) { Severity::High } else { META.base_severity },
            description: format!(
                "{actor} registered the scheduled task{} {} on {computer}, which {why}: {}.",
                if names.len() == 1 { "" } else { "s" },
                name_list(names.iter(), 5),
                command.chars().take(120).collect::<String>(),
            ),
            source: Finding::source_of(activity, Some(actor)),
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
    use crate::testing::logs::{assert_silent_on_logs_and_captures, corpus_alerts};

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
        config.settings_mut::<RemoteExecution>().exclude_tasks = vec!["\\bouWFQYO".into()];
        let file = "evtx-to-mitre-attack/EVTX_full_APT_attack_steps/ID4688,4698,4699,5145,4624-ATexec remote trask creation (GLOBAL).evtx";
        assert!(corpus_alerts(&[file], META.id, &config).is_empty());
    }

    #[test]
    fn fires_on_lab_remote_service_creation_from_the_wire() {
        let alerts = crate::testing::lab::alerts_for("remote_exec", META.id, &DetectionConfig::default());
        assert_eq!(alerts.len(), 1, "{alerts:#?}");
        let alert = &alerts[0];
        assert_eq!(alert.source.ip, Some("10.99.0.21".parse().unwrap()));
        assert_eq!(alert.source.account.as_deref(), Some("lab.test\\da_admin"));
        assert_eq!(
            alert.severity,
            Severity::Medium,
            "NTLM only: nothing in the capture says the target is a DC"
        );
        assert_eq!(alert.count, 2, "two services created (impacket psexec and smbexec)");
        assert!(alert.evidence.iter().any(|e| e.summary.contains("ihcceIxc")), "{:#?}", alert.evidence);
        let config =
            DetectionConfig { domain_controllers: vec!["10.99.0.10".into()], ..DetectionConfig::default() };
        let on_dc = crate::testing::lab::alerts_for("remote_exec", META.id, &config);
        assert_eq!(on_dc[0].severity, Severity::High);
    }

    #[test]
    fn fires_on_wmi_method_execution_over_dcom() {
        // NTLM-authenticated wmic/WMI Win32_Process.Create (sealed), and Empire's
        // Invoke-WMIMethod with Kerberos seen from both ends.
        let corpus = orthrus_testkit::corpus();
        let ntlm = corpus.join("pcap-attack/Lateral Movement/LM_WMI_ProcessCallCreate.pcapng");
        let alerts = wire_alerts(&[ntlm], &DetectionConfig::default());
        assert_eq!(alerts.len(), 1, "{alerts:#?}");
        let alert = &alerts[0];
        assert_eq!(alert.source.ip, Some("172.16.66.1".parse().unwrap()));
        assert_eq!(alert.source.account.as_deref(), Some("3B\\lgreen"));
        assert_eq!(
            alert.description,
            "Remote code execution attempts were made on 172.16.66.36 from 02694W-WIN10 (172.16.66.1) by 3B\\lgreen: successful WMI method execution."
        );
        assert!(alert.evidence.iter().any(|e| e.summary.contains("sealed")), "{:#?}", alert.evidence);

        let empire = "security-datasets/atomic/windows/lateral_movement/network/empire_wmi_dcerpc_wmi_IWbemServices_ExecMethod";
        for end in ["WORKSTATION5", "WORKSTATION6"] {
            let path = corpus.join(format!(
                "{empire}/empire_wmi_dcerpc_wmi_IWbemServices_ExecMethod_{end}_2020-09-21001437.cap"
            ));
            let alerts = wire_alerts(&[path], &DetectionConfig::default());
            assert_eq!(alerts.len(), 1, "{end}: {alerts:#?}");
            assert_eq!(alerts[0].source.ip, Some("172.18.39.5".parse().unwrap()));
            assert!(alerts[0].targets.computers.contains("172.18.39.6"));
            assert!(alerts[0].description.contains("WMI method execution"), "{}", alerts[0].description);
        }
    }

    #[test]
    fn silent_on_wmi_queries_and_persistence_without_method_calls() {
        // Remote WMI event subscription (PutInstance of filters and consumers) and DCOM
        // lateral movement through other objects are not WMI method execution.
        let corpus =
            orthrus_testkit::corpus().join("security-datasets/atomic/windows/lateral_movement/network");
        let paths: Vec<_> = [
            "covenant_wmi_remote_event_subscription_ActiveScriptEventConsumers/covenant_wmi_remote_event_subscription_ActiveScriptEventConsumers_WORKSTATION5_2020-09-01103012.cap",
            "empire_dcom_shellwindows/empire_dcom_shellwindows_WORKSTATION5_2020-09-18130751.cap",
        ]
        .iter()
        .map(|p| corpus.join(p))
        .collect();
        for path in paths {
            assert!(
                wire_alerts(std::slice::from_ref(&path), &DetectionConfig::default()).is_empty(),
                "{path:?}"
            );
        }
    }

    #[test]
    fn an_excluded_wmi_caller_is_silent() {
        let config = DetectionConfig::default().with::<RemoteExecution>(RemoteExecutionConfig {
            exclude_actors: vec!["lgreen".into()],
            ..Default::default()
        });
        let path =
            orthrus_testkit::corpus().join("pcap-attack/Lateral Movement/LM_WMI_ProcessCallCreate.pcapng");
        assert!(wire_alerts(&[path], &config).is_empty());
    }

    #[test]
    fn fires_on_powershell_remoting_over_winrm() {
        // Covenant's PowerShell remoting with Kerberos: four sessions answered, one cut off.
        let path = orthrus_testkit::corpus().join(POWERSHELL_REMOTING);
        let alerts = wire_alerts(std::slice::from_ref(&path), &DetectionConfig::default());
        assert_eq!(alerts.len(), 1, "{alerts:#?}");
        let alert = &alerts[0];
        assert_eq!(alert.source.ip, Some("172.18.39.5".parse().unwrap()));
        assert!(alert.targets.computers.contains("172.18.39.6"));
        assert_eq!(alert.count, 5);
        assert!(
            alert.description.contains(
                "by an unknown account (kerberos): successful PowerShell remoting (WinRM), unanswered PowerShell remoting (WinRM)"
            ),
            "{}",
            alert.description
        );
        assert!(alert.evidence.iter().any(|e| e.summary.contains("/wsman?PSVersion=5.1.18362.752")));
        // The same source known as a DC, or excluded by address, raises nothing.
        let as_dc =
            DetectionConfig { domain_controllers: vec!["172.18.39.5".into()], ..DetectionConfig::default() };
        assert!(wire_alerts(std::slice::from_ref(&path), &as_dc).is_empty());
    }

    #[test]
    fn a_kerberos_winrm_session_is_charged_to_its_tickets_owner() {
        // PurpleSharp: pgustavo's TGS-REPs for HTTP/<host> are in the capture, and the
        // sessions to the DC and two workstations present those tickets.
        let path = orthrus_testkit::corpus().join(
            "security-datasets/atomic/windows/lateral_movement/network/purplesharp_ad_playbook_I/purplesharp_ad_playbook_I_2020-10-22042947.cap",
        );
        let config =
            DetectionConfig { domain_controllers: vec!["172.18.38.5".into()], ..DetectionConfig::default() };
        let alerts = wire_alerts(&[path], &config);
        let targets: BTreeSet<&str> =
            alerts.iter().flat_map(|a| a.targets.computers.iter().map(String::as_str)).collect();
        assert_eq!(targets, BTreeSet::from(["172.18.38.5", "172.18.39.6", "172.18.39.7"]));
        for alert in &alerts {
            assert_eq!(alert.source.account.as_deref(), Some("pgustavo@THESHIRE.LOCAL"));
            let on_dc = alert.targets.computers.contains("172.18.38.5");
            assert_eq!(alert.severity, if on_dc { Severity::High } else { Severity::Medium });
        }
    }

    #[test]
    fn silent_on_authenticated_http_that_is_not_ws_management() {
        // The same real requests sent to another endpoint (web enrollment) are no remote shell.
        let path = orthrus_testkit::corpus().join(POWERSHELL_REMOTING);
        let mut engine = crate::Engine::new(&DetectionConfig::default(), "test");
        let mut rewritten = 0;
        for mut activity in orthrus_testkit::activities(&path) {
            if let ActivityKind::HttpRequested(request) = &mut activity.kind {
                request.target = "/certsrv/certfnsh.asp".into();
                rewritten += 1;
            }
            engine.observe(&activity);
        }
        assert_eq!(rewritten, 5);
        assert!(engine.finish().iter().all(|a| a.detection != META.id));
    }

    const POWERSHELL_REMOTING: &str = "security-datasets/atomic/windows/lateral_movement/network/covenant_psremoting_command/covenant_psremoting_command_2020-08-06115603.cap";

    fn wire_alerts(paths: &[std::path::PathBuf], config: &DetectionConfig) -> Vec<orthrus_model::Alert> {
        let mut engine = crate::Engine::new(config, "test");
        for path in paths {
            for activity in orthrus_testkit::activities(path) {
                engine.observe(&activity);
            }
        }
        engine.finish().into_iter().filter(|a| a.detection == META.id).collect()
    }

    #[test]
    fn silent_on_benign_logs() {
        assert_silent_on_logs_and_captures(META.id);
    }

    const REMCOM: &str = "evtx-attack-samples/Lateral Movement/LM_REMCOM_5145_TargetHost.evtx";
    const PSEXEC: &str = "evtx-to-mitre-attack/TA0008-Lateral Movement/T1021.002-SMB Windows Admin Shares/ID4688,4697,5140-5145 PSexec remote execution + admin share.evtx";

    #[test]
    fn the_targets_share_log_shows_an_executable_dropped_then_its_service_manager_opened() {
        // RemCom: RemComSvc.exe written to ADMIN$ from 10.0.2.16, then \svcctl opened.
        let alerts = corpus_alerts(&[REMCOM], META.id, &DetectionConfig::default());
        assert_eq!(alerts.len(), 1, "{alerts:#?}");
        let description = &alerts[0].description;
        assert!(description.contains("on PC01.example.corp from 10.0.2.16 by PC01\\IEUser"), "{description}");
        assert!(
            description.contains("an executable written to an admin share, then svcctl"),
            "{description}"
        );
        assert!(alerts[0].evidence.iter().any(|e| e.summary.contains("RemComSvc.exe")), "{alerts:#?}");
        // PsExec: its PSEXESVC pipes.
        let alerts = corpus_alerts(&[PSEXEC], META.id, &DetectionConfig::default());
        assert_eq!(alerts.len(), 1, "{alerts:#?}");
        assert!(
            alerts[0].description.contains("a remote execution tool's pipe"),
            "{}",
            alerts[0].description
        );
    }

    #[test]
    fn psexec_pipes_are_recognised_when_its_service_is_renamed() {
        // The corpus PsExec session's pipes, then the same with `psexec -r updsvc`.
        for name in ["PSEXESVC-WEC01-956-stdin", "PSEXESVC-WEC01-956-stdout", "updsvc-WEC01-956-stderr"] {
            assert!(psexec_stdio_pipe(name), "{name}");
        }
        for name in
            ["lsarpc", "spoolss", "updsvc-WEC01-stdin", "a-b-95x-stdin", "-WEC01-956-stdin", "x-y-1-stdio"]
        {
            assert!(!psexec_stdio_pipe(name), "{name}");
        }
        let activities = crate::testing::logs::event_activities(&orthrus_testkit::corpus().join(PSEXEC));
        let renamed: Vec<Activity> = activities
            .into_iter()
            .filter_map(|mut activity| {
                let ActivityKind::FileOpened(file) = &mut activity.kind else { return Some(activity) };
                // Without the PSEXESVC prefix and the dropped executable: only the renamed pipes.
                if !file.pipe || !file.name.starts_with("PSEXESVC-") {
                    return None;
                }
                file.name = file.name.replacen("PSEXESVC", "updsvc", 1);
                Some(activity)
            })
            .collect();
        let mut engine = crate::Engine::new(&DetectionConfig::default(), "test");
        for activity in &renamed {
            engine.observe(activity);
        }
        let alerts: Vec<_> = engine.finish().into_iter().filter(|a| a.detection == META.id).collect();
        assert_eq!(alerts.len(), 1, "{alerts:#?}");
        assert!(
            alerts[0].evidence.iter().any(|e| e.summary.contains("\\updsvc-wec01-956-stdin")),
            "{alerts:#?}"
        );
    }

    #[test]
    fn the_service_manager_opened_without_an_executable_written_is_silent() {
        // DonPAPI opens \svcctl thirteen times (to start the remote registry) and writes no
        // executable: remote administration, not execution.
        let donpapi =
            "evtx-to-mitre-attack/EVTX_full_APT_attack_steps/ID5145-4624-DonPAPI full extraction.evtx";
        let activities = crate::testing::logs::event_activities(&orthrus_testkit::corpus().join(donpapi));
        let svcctl =
            |a: &Activity| matches!(&a.kind, ActivityKind::FileOpened(f) if f.pipe && f.name == "svcctl");
        assert!(activities.iter().filter(|a| svcctl(a)).count() >= 10);
        assert!(corpus_alerts(&[donpapi], META.id, &DetectionConfig::default()).is_empty());
        // The RemCom log with its operator excluded.
        let mut config = DetectionConfig::default();
        config.settings_mut::<RemoteExecution>().exclude_actors = vec!["IEUser".into()];
        assert!(corpus_alerts(&[REMCOM], META.id, &config).is_empty());
    }
}
