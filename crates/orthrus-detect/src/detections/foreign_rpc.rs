//! RPC calls a host that is not a domain controller has no business making of one.
//!
//! Several detections differ only in which calls they judge and how they word them: DFSCoerce,
//! PetitPotam, the printer bug and PrintNightmare, DCShadow's replication requests, SMB session
//! enumeration and the DPAPI backup key. Each declares its rows ([`ForeignRpcRule`]) and the
//! one detector here, [`ForeignRpc`], runs them: the call is matched by interface and
//! operation, its caller must not be a known DC nor an excluded account, the rule reads what
//! the call names, the incident (per source, or per source and server) gathers the names, and
//! the rule words the alert from them.
//!
//! Detections that judge calls with state of their own (NetSync's secure channels, SAMR
//! reconnaissance's learning, remote execution's services and tasks) use [`foreign_call`]
//! alone.

use std::collections::BTreeSet;
use std::marker::PhantomData;
use std::net::IpAddr;

use orthrus_model::{Activity, ActivityKind, AlertTargets, NtStatus, RpcBindRefusal, RpcCall, Severity};

use crate::window::Incidents;
use crate::{Alerts, Context, Detection, DetectionMeta, Detector, EventRuleConfig, Finding};

/// An RPC call made by a host that is not a known DC: who called which server, as whom, and
/// how it ended.
#[derive(Debug, Clone)]
pub struct ForeignCall {
    pub source: IpAddr,
    pub server: IpAddr,
    /// The account the call was made as, when known.
    pub actor: Option<String>,
    /// The account the call was made as, or "an unknown account": for sentences.
    pub who: String,
    /// `successful`, `refused` (the operation answered with an error, or the bind was
    /// refused), `failed` (a fault) or `unanswered`.
    pub result: &'static str,
}

/// The call's parties, unless it came from a known DC (or its addresses are unknown).
pub fn foreign_call(context: &Context, activity: &Activity, call: &RpcCall) -> Option<ForeignCall> {
    let (source, server) = (activity.source_ip()?, activity.destination?);
    if context.dcs().contains_address(source) {
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
    Some(ForeignCall { source, server: server.ip, actor: call.user.clone(), who, result })
}

/// A bind the server refused, from a host that is not a known DC.
fn foreign_bind(context: &Context, activity: &Activity, bind: &RpcBindRefusal) -> Option<ForeignCall> {
    let (source, server) = (activity.source_ip()?, activity.destination?.ip);
    if context.dcs().contains_address(source) {
        return None;
    }
    let who = bind.user.clone().unwrap_or_else(|| "an unknown account".into());
    Some(ForeignCall { source, server, actor: bind.user.clone(), who, result: "refused" })
}

/// What reached the server: a call, or a bind it refused.
pub enum Attempt<'a> {
    Call(&'a RpcCall),
    RefusedBind(&'a RpcBindRefusal),
}

/// One attempt a rule judges, with its parties.
pub struct Seen<'a> {
    pub activity: &'a Activity,
    pub context: &'a Context,
    pub attempt: Attempt<'a>,
    /// The operation called (empty for a bind).
    pub operation: &'a str,
    pub party: ForeignCall,
}

/// What a rule reads in one attempt.
pub struct Reading {
    /// What it names, gathered in the incident (hosts, secrets, operations).
    pub names: Vec<String>,
    /// Its evidence line.
    pub summary: String,
    pub severity: Severity,
}

/// The alert as a rule words it.
pub struct Conclusion {
    pub description: String,
    pub severity: Severity,
    pub targets: AlertTargets,
}

impl Conclusion {
    /// An alert naming the called server as its target.
    pub fn on_server(seen: &Seen<'_>, severity: Severity, description: String) -> Self {
        let targets = AlertTargets {
            computers: BTreeSet::from([seen.party.server.to_string()]),
            ..AlertTargets::default()
        };
        Self { description, severity, targets }
    }
}

/// One row of the family's table: which attempts make an alert, and how it reads.
pub struct ForeignRpcRule {
    /// The interface, as the activity names it (`dfsnm`, `rprn`, `efsrpc`).
    pub interface: &'static str,
    /// The operations judged; empty: every operation of the interface.
    pub operations: &'static [&'static str],
    /// Whether a refused bind of the interface is judged too.
    pub refused_binds: bool,
    /// One incident per source and server (else per source).
    pub per_server: bool,
    /// Keeps the incidents of two rules of one detection apart.
    pub key_prefix: &'static str,
    /// What the attempt names, its evidence line and severity; `None`: not judged.
    pub read: fn(&Seen<'_>) -> Option<Reading>,
    /// The alert from the incident's names so far.
    pub conclude: fn(&Seen<'_>, &Reading, &BTreeSet<String>) -> Conclusion,
}

impl ForeignRpcRule {
    /// Calls of `interface` — of `operations`, or every operation when empty — one incident
    /// per source and server.
    pub const fn calls(
        interface: &'static str,
        operations: &'static [&'static str],
        read: fn(&Seen<'_>) -> Option<Reading>,
        conclude: fn(&Seen<'_>, &Reading, &BTreeSet<String>) -> Conclusion,
    ) -> Self {
        Self { interface, operations, refused_binds: false, per_server: true, key_prefix: "", read, conclude }
    }

    /// One incident per source, whatever the server.
    pub const fn per_source(mut self) -> Self {
        self.per_server = false;
        self
    }

    /// Refused binds of the interface are judged too.
    pub const fn with_refused_binds(mut self) -> Self {
        self.refused_binds = true;
        self
    }

    /// Incidents kept apart from the detection's other rules'.
    pub const fn keyed(mut self, prefix: &'static str) -> Self {
        self.key_prefix = prefix;
        self
    }
}

/// A detection of the family: what it is and its rows.
pub trait ForeignRpcDetection: 'static {
    const META: &'static DetectionMeta;
    const RULES: &'static [ForeignRpcRule];
    /// What the server's own event log shows of the same attack (none by default): an
    /// activity the call leaves there, read into an incident of its own.
    const LOGGED: Option<fn(&Activity, &Context) -> Option<Logged>> = None;
}

/// An attack as the server's event log shows it.
pub struct Logged {
    /// The incident: one per actor and server, say.
    pub key: String,
    pub actor: String,
    pub names: Vec<String>,
    pub summary: String,
    pub severity: Severity,
    /// The alert from the incident's names so far.
    pub describe: fn(&Logged, &BTreeSet<String>) -> String,
    pub server: String,
}

/// The detector every detection of the family runs (settings: `[section] window_secs`,
/// `exclude_actors`, `exclude_sources`).
pub struct ForeignRpc<D> {
    settings: EventRuleConfig,
    incidents: Incidents<String>,
    detection: PhantomData<fn() -> D>,
}

impl<D: ForeignRpcDetection> Detection for ForeignRpc<D> {
    type Settings = EventRuleConfig;
    const META: &'static DetectionMeta = D::META;

    fn new(settings: &Self::Settings) -> Self {
        Self {
            incidents: Incidents::new(settings.window_secs),
            settings: settings.clone(),
            detection: PhantomData,
        }
    }
}

impl<D: ForeignRpcDetection> Detector for ForeignRpc<D> {
    fn observe(&mut self, activity: &Activity, context: &Context, alerts: &mut Alerts<'_>) {
        let (interface, operation) = match &activity.kind {
            ActivityKind::RpcCalled(call) => (call.interface.as_str(), call.operation.as_deref()),
            ActivityKind::RpcBindRefused(bind) => (bind.interface.as_str(), None),
            _ => return self.logged(activity, context, alerts),
        };
        for rule in D::RULES {
            let (attempt, party) = match &activity.kind {
                ActivityKind::RpcCalled(call)
                    if rule.interface == interface
                        && (rule.operations.is_empty()
                            || operation.is_some_and(|op| rule.operations.contains(&op))) =>
                {
                    (Attempt::Call(call), foreign_call(context, activity, call))
                }
                ActivityKind::RpcBindRefused(bind) if rule.interface == interface && rule.refused_binds => {
                    (Attempt::RefusedBind(bind), foreign_bind(context, activity, bind))
                }
                _ => continue,
            };
            let Some(party) = party else { continue };
            if party.actor.as_deref().is_some_and(|a| self.settings.excludes(a)) {
                continue;
            }
            let seen = Seen { activity, context, attempt, operation: operation.unwrap_or_default(), party };
            let Some(reading) = (rule.read)(&seen) else { continue };
            let (prefix, source, server) = (rule.key_prefix, seen.party.source, seen.party.server);
            let key = if rule.per_server {
                format!("{prefix}{source} {server}")
            } else {
                format!("{prefix}{source}")
            };
            let names = self.incidents.named(&key, activity.time, reading.names.iter().cloned());
            let conclusion = (rule.conclude)(&seen, &reading, &names);
            let finding = Finding {
                severity: conclusion.severity,
                description: conclusion.description,
                source: Finding::source_of(activity, seen.party.actor.clone()),
                targets: conclusion.targets,
            };
            let incident = self.incidents.record(&key, activity, reading.summary);
            alerts.raise(activity, &key, incident, finding);
        }
    }
}

impl<D: ForeignRpcDetection> ForeignRpc<D> {
    /// The server's own log: what [`ForeignRpcDetection::LOGGED`] reads of an activity.
    fn logged(&mut self, activity: &Activity, context: &Context, alerts: &mut Alerts<'_>) {
        let Some(read) = D::LOGGED else { return };
        let Some(logged) = read(activity, context) else { return };
        if self.settings.excludes(&logged.actor) {
            return;
        }
        let names = self.incidents.named(&logged.key, activity.time, logged.names.iter().cloned());
        let finding = Finding {
            severity: logged.severity,
            description: (logged.describe)(&logged, &names),
            source: Finding::source_of(activity, Some(logged.actor.clone())),
            targets: AlertTargets {
                computers: BTreeSet::from([logged.server.clone()]),
                ..AlertTargets::default()
            },
        };
        let incident = self.incidents.record(&logged.key, activity, logged.summary);
        alerts.raise(activity, &logged.key, incident, finding);
    }
}
