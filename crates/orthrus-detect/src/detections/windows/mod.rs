//! Detections fed by Windows events on domain controllers (directory access and changes,
//! group changes, services, tasks, log clearing): activities only event logs produce.

pub mod adminsdholder;
pub mod dcshadow;
pub mod dcshadow_replication;
pub mod dcsync;
pub mod dfs_coerce;
pub mod dnshostname_spoofing;
pub mod dsrm;
pub mod gpo_tampering;
pub mod honeytoken_attributes;
pub mod honeytoken_group;
pub mod log_cleared;
pub mod netsync;
pub mod petitpotam;
pub mod print_spooler;
pub mod rbcd;
pub mod remote_execution;
pub mod samaccountname_spoofing;
pub mod sensitive_groups;
pub mod service_creation;
pub mod shadow_credentials;
pub mod sid_history;
pub mod zerologon;

use std::collections::BTreeSet;
use std::net::IpAddr;

use orthrus_model::{Activity, ActivityKind, AlertSource, AlertTargets, NtStatus, Severity};
use serde::Deserialize;

use crate::window::Incidents;
use crate::{AlertUpdate, DetectionMeta, Verdict};

/// Settings of the detections that alert on single directory events: how long a quiet gap
/// ends an episode (one alert), and who is never alerted on.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EventRuleConfig {
    pub window_secs: u64,
    /// Acting accounts never alerted on (compared case-insensitively, bare name).
    pub exclude_actors: Vec<String>,
    pub exclude_sources: Vec<IpAddr>,
}

impl Default for EventRuleConfig {
    fn default() -> Self {
        Self { window_secs: 3600, exclude_actors: Vec::new(), exclude_sources: Vec::new() }
    }
}

impl EventRuleConfig {
    pub fn thresholds(&self) -> Vec<(&'static str, String)> {
        vec![("window_secs", self.window_secs.to_string())]
    }

    pub fn excludes(&self, actor: &str) -> bool {
        lists_account(&self.exclude_actors, actor)
    }
}

/// Whether an exclusion list names `account`, compared as bare names, case-insensitively.
pub(crate) fn lists_account(list: &[String], account: &str) -> bool {
    let bare = bare_account(account);
    list.iter().any(|a| bare_account(a).eq_ignore_ascii_case(bare))
}

/// An account name without its domain: `LAB\\bob`, `bob@lab.test` and `bob` are all `bob`
/// (how exclusion lists are compared).
pub(crate) fn bare_account(name: &str) -> &str {
    let name = name.rsplit('\\').next().unwrap_or(name);
    name.split('@').next().unwrap_or(name)
}

/// What a single-event detection found in one activity.
pub(crate) struct Finding {
    /// The episode it belongs to (the target object, usually).
    pub key: String,
    /// One evidence line.
    pub summary: String,
    /// The alert's sentence, as of this finding.
    pub description: String,
    pub severity: Severity,
    pub actor: Option<String>,
    pub targets: AlertTargets,
}

/// Records a finding in its episode and emits the alert's new state.
pub(crate) fn raise(
    meta: &'static DetectionMeta,
    incidents: &mut Incidents<String>,
    activity: &Activity,
    finding: Finding,
    updates: &mut Vec<AlertUpdate>,
) {
    let incident = incidents.at(&finding.key, activity.time);
    incident.record(activity.time, &activity.provenance, finding.summary);
    incident.alerted = true;
    let source = AlertSource { ip: activity.source_ip(), account: finding.actor, ..AlertSource::default() };
    let verdict = Verdict {
        severity: finding.severity,
        description: finding.description,
        source,
        targets: finding.targets,
    };
    updates.push(AlertUpdate::keyed(meta, activity, &finding.key, incident, verdict));
}

/// Episodes keyed by computer or account, each with the names it involved (services, tasks,
/// groups, logs), for detections whose alert lists them.
pub(crate) struct NamedEpisodes {
    incidents: Incidents<String>,
    /// Per episode: the names so far and a running total (bytes, say).
    names: std::collections::HashMap<String, (BTreeSet<String>, u64)>,
}

impl NamedEpisodes {
    pub fn new(window_secs: u64) -> Self {
        Self { incidents: Incidents::new(window_secs), names: Default::default() }
    }

    /// Adds `names` to the episode of `key` at `time` (a new episode starts empty); returns
    /// the names so far. Call once per activity, before `raise`.
    pub fn add(
        &mut self,
        key: &str,
        time: orthrus_model::Timestamp,
        names: impl IntoIterator<Item = String>,
    ) -> BTreeSet<String> {
        self.add_tallied(key, time, names, 0).0
    }

    /// [`add`](Self::add), also adding `amount` to the episode's running total (which a new
    /// episode starts at zero); returns the names and the total so far.
    pub fn add_tallied(
        &mut self,
        key: &str,
        time: orthrus_model::Timestamp,
        names: impl IntoIterator<Item = String>,
        amount: u64,
    ) -> (BTreeSet<String>, u64) {
        if self.incidents.at(&key.to_owned(), time).count == 0 {
            self.names.remove(key);
        }
        let (known, total) = self.names.entry(key.to_owned()).or_default();
        known.extend(names);
        *total = total.saturating_add(amount);
        (known.clone(), *total)
    }

    pub fn raise(
        &mut self,
        meta: &'static DetectionMeta,
        activity: &Activity,
        finding: Finding,
        updates: &mut Vec<AlertUpdate>,
    ) {
        raise(meta, &mut self.incidents, activity, finding, updates);
    }
}

/// An RPC call made by a host that is not a known DC: who called which server, as whom, and
/// how it ended, as the wire detections' evidence words it.
pub(crate) struct ForeignCall {
    pub source: IpAddr,
    pub server: IpAddr,
    /// The account the call was made as, or "an unknown account".
    pub who: String,
    /// `successful`, `refused` (the operation answered with an error), `failed` (a fault) or
    /// `unanswered`.
    pub result: &'static str,
}

impl KnownDcs {
    /// The call's parties, unless it came from a known DC (or its addresses are unknown).
    pub fn foreign_call(&self, activity: &Activity, call: &orthrus_model::RpcCall) -> Option<ForeignCall> {
        let (source, server) = (activity.source_ip()?, activity.destination?);
        if self.contains_address(source) {
            return None;
        }
        // The operation's own answer: these interfaces return WERRORs (any non-zero is a
        // refusal: 5 is access denied); the others NTSTATUS or HRESULT (errors have the top bits).
        let werror = matches!(call.interface.as_str(), "srvsvc" | "wkssvc" | "svcctl");
        let refused = call.return_code.is_some_and(|c| if werror { c != 0 } else { NtStatus(c).is_error() });
        // A response carries SUCCESS; anything else is a fault (nca_s_op_rng_error,
        // access denied, ...), whatever its code looks like.
        let result = match call.status {
            Some(status) if status != NtStatus::SUCCESS => "failed",
            Some(_) if refused => "refused",
            Some(_) => "successful",
            None => "unanswered",
        };
        let who = call.user.clone().unwrap_or_else(|| "an unknown account".into());
        Some(ForeignCall { source, server: server.ip, who, result })
    }
}

/// The host a UNC path or bare name points at (`\\10.0.0.5\share` → `10.0.0.5`): where a
/// coerced server is told to connect.
pub(crate) fn callback_host(path: &str) -> &str {
    path.trim_start_matches('\\').split('\\').next().unwrap_or_default()
}

/// Who an event says acted: `DOMAIN\\name`, else its SID.
pub(crate) fn actor_name(subject: &orthrus_model::AccountRef) -> String {
    if subject.name.is_empty() {
        subject.sid.clone().unwrap_or_else(|| "an unknown account".into())
    } else {
        subject.qualified()
    }
}

/// Where an event was logged, for sentences.
pub(crate) fn logged_on(activity: &Activity) -> &str {
    activity.destination_host.as_deref().unwrap_or("a domain controller")
}

/// `DC1.corp.example` and `DC1$` → `dc1`: how a computer is compared across events.
pub(crate) fn host_key(name: &str) -> String {
    let name = name.trim().trim_start_matches('\\');
    let short = name.split('.').next().unwrap_or(name);
    short.trim_end_matches('$').to_lowercase()
}

/// Domain controllers, as configured (names or addresses) and as learned: only a KDC logs TGT
/// and service-ticket requests (4768/4769/4771) or answers them on the wire, and only a DC
/// serves directory replication, so whoever does is a DC.
#[derive(Debug, Default)]
pub(crate) struct KnownDcs {
    names: BTreeSet<String>,
    addresses: BTreeSet<IpAddr>,
}

impl KnownDcs {
    /// The DCs the config lists and those the directory snapshot holds (by name: the
    /// snapshot has no addresses).
    pub fn from_config(config: &crate::DetectionConfig) -> Self {
        let mut dcs = Self::new(&config.domain_controllers);
        for dc in config.directory.domain_controllers() {
            dcs.names.insert(host_key(dc.object.name()));
            if let Some(dns) = &dc.object.dns_host_name {
                dcs.names.insert(host_key(dns));
            }
        }
        dcs
    }

    pub fn new(configured: &[String]) -> Self {
        let mut dcs = Self::default();
        for entry in configured {
            match entry.parse::<IpAddr>() {
                Ok(ip) => {
                    dcs.addresses.insert(ip);
                }
                Err(_) => {
                    dcs.names.insert(host_key(entry));
                }
            }
        }
        dcs
    }

    pub fn learn(&mut self, activity: &Activity) {
        match &activity.kind {
            ActivityKind::TgtRequested(ex) | ActivityKind::ServiceTicketRequested(ex) => {
                if let Some(host) = &activity.destination_host {
                    self.names.insert(host_key(host));
                }
                let answered = !matches!(ex.outcome, orthrus_model::KdcOutcome::NoReply);
                if let (Some(server), true) = (activity.destination, answered && !activity.from_event_log()) {
                    self.addresses.insert(server.ip);
                }
            }
            ActivityKind::RpcCalled(call) if call.interface == "drsuapi" => {
                if let Some(server) = activity.destination {
                    self.addresses.insert(server.ip);
                }
            }
            _ => {}
        }
    }

    pub fn contains(&self, name: &str) -> bool {
        self.names.contains(&host_key(name))
    }

    pub fn contains_address(&self, ip: IpAddr) -> bool {
        self.addresses.contains(&ip)
    }

    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }
}

/// Why a command line or image path looks like an attack tool's, or `None`. Patterns are
/// data: interpreters and script hosts, loopback/admin-share paths, named-pipe echo
/// (meterpreter getsystem), output redirected to a temp file (impacket atexec/smbexec),
/// remote-execution services and credential tools by name, and random mixed-case binaries in
/// the Windows folder (impacket psexec, Metasploit).
pub(crate) fn suspicious_command(text: &str) -> Option<&'static str> {
    let lower = text.to_ascii_lowercase();
    const TOOLS: &[(&str, &str)] = &[
        ("psexesvc", "PsExec service"),
        ("remcomsvc", "RemCom service"),
        ("paexec", "PAExec service"),
        ("csexec", "CSExec service"),
        ("winexesvc", "winexe service"),
        ("mimidrv", "mimikatz driver"),
        ("mimikatz", "mimikatz"),
        ("wceservice", "Windows Credentials Editor"),
        ("gsecdump", "gsecdump"),
        ("pwdump", "pwdump"),
        ("fgdump", "fgdump"),
    ];
    const SHAPES: &[(&str, &str)] = &[
        ("\\\\.\\pipe\\", "echoes into a named pipe (token theft)"),
        ("\\\\127.0.0.1\\", "runs from a loopback share"),
        ("\\\\localhost\\", "runs from a loopback share"),
        ("admin$\\", "runs from the ADMIN$ share"),
        ("%comspec%", "runs a command interpreter"),
        ("cmd.exe", "runs a command interpreter"),
        ("cmd /c", "runs a command interpreter"),
        ("powershell", "runs PowerShell"),
        ("pwsh", "runs PowerShell"),
        ("mshta", "runs a script host"),
        ("wscript", "runs a script host"),
        ("cscript", "runs a script host"),
        ("rundll32", "runs rundll32"),
        ("regsvr32", "runs regsvr32"),
        ("\\windows\\temp\\", "runs from the Windows temp folder"),
        ("%windir%\\temp\\", "runs from the Windows temp folder"),
    ];
    if let Some((_, why)) = TOOLS.iter().find(|(needle, _)| lower.contains(needle)) {
        return Some(why);
    }
    if let Some((_, why)) = SHAPES.iter().find(|(needle, _)| lower.contains(needle)) {
        return Some(why);
    }
    random_windows_binary(text).then_some("runs a randomly named binary from the Windows folder")
}

/// `%SYSTEMROOT%\duKhLYUX.exe`: an executable directly in the Windows folder whose name mixes
/// case the way generated names do (`Sysmon.exe` does not).
fn random_windows_binary(text: &str) -> bool {
    let lower = text.to_ascii_lowercase();
    ["%systemroot%\\", "%windir%\\", "c:\\windows\\"].iter().any(|root| {
        lower.match_indices(root).any(|(at, _)| {
            let start = at + root.len();
            let end =
                text.get(start..).and_then(|r| r.find(['"', ' ', '\\'])).map_or(text.len(), |e| start + e);
            let file = text.get(start..end).unwrap_or_default();
            let Some(stem) = file.strip_suffix(".exe").or_else(|| file.strip_suffix(".EXE")) else {
                return false;
            };
            let inner_upper = stem.chars().skip(1).filter(char::is_ascii_uppercase).count();
            let lower_count = stem.chars().filter(char::is_ascii_lowercase).count();
            stem.len() >= 4
                && stem.chars().all(|c| c.is_ascii_alphabetic())
                && inner_upper >= 2
                && lower_count >= 2
        })
    })
}

/// Paths only users can write to: a service binary there is suspicious on a DC.
pub(crate) fn user_writable(text: &str) -> bool {
    let lower = text.to_ascii_lowercase();
    ["\\users\\", "\\appdata\\", "\\temp\\", "\\programdata\\", "\\perflogs\\"]
        .iter()
        .any(|dir| lower.contains(dir))
        && !lower.contains("\\microsoft\\windows defender\\")
}

#[cfg(test)]
pub(crate) mod testing {
    //! Runs public corpus event logs (and lab Samba audit logs) through the engine.

    use std::path::Path;

    use orthrus_model::{Activity, Alert};

    use crate::{DetectionConfig, Engine};

    /// A directory of one domain holding `objects` (snapshot JSON objects): what a sync of
    /// the corpus' domains would give, for corpus logs whose domains we cannot sync.
    pub fn directory_of(
        dns_name: &str,
        netbios: &str,
        objects: serde_json::Value,
    ) -> orthrus_directory::Snapshot {
        let dn = format!("DC={}", dns_name.replace('.', ",DC="));
        serde_json::from_value(serde_json::json!({
            "format": "orthrus-directory-snapshot", "version": 1,
            "domains": [{"dns_name": dns_name, "netbios_name": netbios, "dn": dn, "sid": "S-1-5-21-1-2-3",
                "synced_from": format!("dc.{dns_name}"), "highest_usn": 1, "synced_at": "2020-01-01T00:00:00Z",
                "objects": objects}]
        }))
        .unwrap()
    }

    /// Activities of an event log file, ordered by event time.
    pub fn event_activities(path: &Path) -> Vec<Activity> {
        orthrus_testkit::log_activities(path)
    }

    /// Alerts of detection `id` over corpus files (paths relative to the corpus).
    pub fn corpus_alerts(files: &[&str], id: &str, config: &DetectionConfig) -> Vec<Alert> {
        let corpus = orthrus_testkit::corpus();
        let mut engine = Engine::new(config, "test");
        for file in files {
            for activity in event_activities(&corpus.join(file)) {
                engine.observe(&activity);
            }
        }
        engine.finish().into_iter().filter(|a| a.detection == id).collect()
    }

    /// Alerts of detection `id` over a lab Samba audit log (testdata/audit/NAME.audit.jsonl).
    pub fn audit_alerts(name: &str, id: &str, config: &DetectionConfig) -> Vec<Alert> {
        let path = orthrus_testkit::fixture(&format!("audit/{name}.audit.jsonl"));
        let mut engine = Engine::new(config, "test");
        for activity in event_activities(&path) {
            engine.observe(&activity);
        }
        engine.finish().into_iter().filter(|a| a.detection == id).collect()
    }

    /// Benign corpus logs: a workstation's Security log, a System log, a Sysmon log and an
    /// application log.
    pub const BENIGN: &[&str] = &[
        "evtx-rs-samples/security.evtx",
        "evtx-rs-samples/system.evtx",
        "evtx-rs-samples/sysmon.evtx",
        "deepbluecli/evtx/many-events-application.evtx",
        "evtx-to-mitre-attack/TA0003-Persistence/T1547-Boot or Logon Autostart Execution/ID4622-New SSP loaded in LSA (only legitim).evtx",
    ];

    /// Benign lab Samba audit logs.
    pub const BENIGN_AUDIT: &[&str] =
        &["benign_logon", "benign_admin", "benign_password_typo", "benign_busy"];

    /// For detections that read the wire as well: also silent on every benign lab capture.
    pub fn assert_silent_on_logs_and_captures(id: &str) {
        assert_silent(id);
        crate::detections::kerberos::testing::assert_silent(crate::detections::kerberos::testing::BENIGN, id);
    }

    pub fn assert_silent(id: &str) {
        let alerts = corpus_alerts(BENIGN, id, &DetectionConfig::default());
        assert!(alerts.is_empty(), "{id} on benign corpus logs: {alerts:#?}");
        for name in BENIGN_AUDIT {
            let alerts = audit_alerts(name, id, &DetectionConfig::default());
            assert!(alerts.is_empty(), "{id} on benign audit log {name}: {alerts:#?}");
        }
    }
}
