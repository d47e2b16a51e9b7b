//! Health issues (`design/health.md`): what tells the operator that detection coverage is
//! degraded. Each issue has a scope (here: a sensor), opens when its condition holds, updates
//! while it holds, and closes itself once the condition has been false for its clear delay.
//! Conditions are read from what sensors report: the time of their last contact and their
//! heartbeats' counters (totals since the sensor started; the monitor compares each heartbeat
//! with the previous one).

use std::collections::BTreeMap;

use orthrus_model::{Severity, TenantId, Timestamp};
use orthrus_store::SensorRecord;

pub use orthrus_model::Heartbeat;

/// Thresholds, per `health.md`'s defaults.
#[derive(Debug, Clone, PartialEq)]
pub struct HealthThresholds {
    pub silent_secs: i64,
    pub silent_high_secs: i64,
    pub no_traffic_secs: i64,
    pub no_events_secs: i64,
    /// Dropped share of packets (or events) between two heartbeats: Medium above, High above
    /// the second.
    pub drop_ratio: f64,
    pub drop_ratio_high: f64,
    /// Share of the disk buffer in use that raises the buffer issue.
    pub spool_full_ratio: f64,
    /// Oldest sensor version the center works with.
    pub minimum_version: String,
    /// A tenant's directory upload older than this is stale (its sync is failing or stopped).
    pub directory_stale_secs: i64,
    /// A syslog endpoint or webhook failing this long is an issue.
    pub endpoint_failing_secs: i64,
}

impl Default for HealthThresholds {
    fn default() -> Self {
        Self {
            silent_secs: 300,
            silent_high_secs: 3600,
            no_traffic_secs: 600,
            no_events_secs: 86_400,
            drop_ratio: 0.001,
            drop_ratio_high: 0.05,
            spool_full_ratio: 0.8,
            minimum_version: "0.1.0".into(),
            directory_stale_secs: 2 * 3600,
            endpoint_failing_secs: 300,
        }
    }
}

/// The kinds of issue the monitor raises: Orthrus id, ATA/MDI external id, title, clear delay.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum HealthKind {
    SensorSilent,
    SensorOutdated,
    NoTraffic,
    PacketDrop,
    EventBacklog,
    EventsMissing,
    BufferFilling,
    DirectorySync,
    DirectoryStale,
    Notification,
    FilesRefused,
}

impl HealthKind {
    pub fn id(self) -> &'static str {
        match self {
            HealthKind::SensorSilent => "ORT-H-SENSOR-SILENT",
            HealthKind::SensorOutdated => "ORT-H-SENSOR-OUTDATED",
            HealthKind::NoTraffic => "ORT-H-NO-TRAFFIC",
            HealthKind::PacketDrop => "ORT-H-PACKET-DROP",
            HealthKind::EventBacklog => "ORT-H-EVENT-BACKLOG",
            HealthKind::EventsMissing => "ORT-H-EVENTS-MISSING",
            HealthKind::BufferFilling => "ORT-H-BUFFER",
            HealthKind::DirectorySync => "ORT-H-DIR-CREDS",
            HealthKind::DirectoryStale => "ORT-H-SYNC-STALE",
            HealthKind::Notification => "ORT-H-SYSLOG",
            HealthKind::FilesRefused => "ORT-H-FILES-REFUSED",
        }
    }

    pub fn external_id(self) -> u16 {
        match self {
            HealthKind::SensorSilent => 1011,
            HealthKind::SensorOutdated => 1016,
            HealthKind::NoTraffic => 1017,
            HealthKind::PacketDrop => 1013,
            HealthKind::EventBacklog => 1012,
            HealthKind::EventsMissing => 1202,
            HealthKind::BufferFilling => 1211,
            HealthKind::DirectorySync => 1206,
            HealthKind::DirectoryStale => 1007,
            HealthKind::Notification => 1015,
            HealthKind::FilesRefused => 1212,
        }
    }

    pub fn title(self) -> &'static str {
        match self {
            HealthKind::SensorSilent => "Sensor stopped communicating",
            HealthKind::SensorOutdated => "Sensor version outdated",
            HealthKind::NoTraffic => "No traffic received from domain controller",
            HealthKind::PacketDrop => "Some network traffic is not being analyzed",
            HealthKind::EventBacklog => "Some Windows events are not being analyzed",
            HealthKind::EventsMissing => "Windows events missing",
            HealthKind::BufferFilling => "Sensor disk buffer filling",
            HealthKind::DirectorySync => "Directory sync failing",
            HealthKind::DirectoryStale => "Directory data out of date",
            HealthKind::Notification => "Failure sending alerts to a SIEM or webhook",
            HealthKind::FilesRefused => "Sensor refused files in its watched folder",
        }
    }

    /// How long the condition must be false before the issue closes itself.
    pub fn clear_delay_secs(self) -> i64 {
        match self {
            HealthKind::SensorSilent => 120,
            HealthKind::NoTraffic => 300,
            HealthKind::PacketDrop | HealthKind::EventBacklog => 900,
            HealthKind::EventsMissing => 86_400,
            HealthKind::SensorOutdated
            | HealthKind::BufferFilling
            | HealthKind::DirectorySync
            | HealthKind::DirectoryStale
            | HealthKind::Notification
            | HealthKind::FilesRefused => 0,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthIssue {
    pub kind: HealthKind,
    pub tenant: TenantId,
    /// The sensor concerned.
    pub sensor: String,
    pub severity: Severity,
    /// One sentence: what, where, since when, what it degrades.
    pub message: String,
    pub opened: Timestamp,
    pub last_seen: Timestamp,
}

/// How an alert endpoint (syslog, webhook) is doing, as its sender reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndpointReport {
    /// `tcp://10.0.0.5:514`, a webhook's URL.
    pub name: String,
    /// Since when every attempt has failed; None while it takes messages.
    pub failing_since: Option<Timestamp>,
    pub last_error: Option<String>,
    /// Sent, failed, dropped from its full queue and waiting, since the center started.
    pub counters: orthrus_sinks::SenderCounters,
}

/// What the monitor evaluates besides sensors.
#[derive(Debug, Clone, Default)]
pub struct CenterFacts<'a> {
    /// Each tenant's last directory upload.
    pub directories: &'a [(TenantId, Timestamp)],
    /// The alert endpoints; their issues are raised in every tenant (each tenant's alerts
    /// go through them).
    pub endpoints: &'a [EndpointReport],
    pub tenants: &'a [TenantId],
}

/// How an issue changed at an evaluation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HealthTrigger {
    Opened,
    Updated,
    Closed,
}

/// Open issues and what each sensor last reported.
#[derive(Default)]
pub struct HealthMonitor {
    pub thresholds: HealthThresholds,
    open: BTreeMap<(TenantId, HealthKind, String), HealthIssue>,
    /// When each open issue's condition was last true.
    held: BTreeMap<(TenantId, HealthKind, String), Timestamp>,
    previous: BTreeMap<String, (Timestamp, Heartbeat)>,
    /// When each sensor's packet (event) counter last grew.
    last_packets: BTreeMap<String, Timestamp>,
    last_events: BTreeMap<String, Timestamp>,
    /// Each endpoint's drop count at the previous evaluation.
    endpoint_dropped: BTreeMap<String, u64>,
}

fn ratio(part: u64, whole: u64) -> f64 {
    if whole == 0 { 0.0 } else { part as f64 / whole as f64 }
}

/// `1.2.10` > `1.2.9`: dotted numbers compared as numbers.
fn version_below(version: &str, minimum: &str) -> bool {
    let parts = |v: &str| v.split(['.', '-', '+']).map(|p| p.parse::<u64>().unwrap_or(0)).collect::<Vec<_>>();
    parts(version) < parts(minimum)
}

impl HealthMonitor {
    pub fn new(thresholds: HealthThresholds) -> Self {
        Self { thresholds, ..Self::default() }
    }

    pub fn open_issues(&self) -> impl Iterator<Item = &HealthIssue> {
        self.open.values()
    }

    /// Evaluates every sensor, each tenant's last directory upload and the alert endpoints at
    /// `now`: the issues that opened, updated or closed.
    pub fn evaluate(
        &mut self,
        sensors: &[SensorRecord],
        facts: &CenterFacts<'_>,
        now: Timestamp,
    ) -> Vec<(HealthIssue, HealthTrigger)> {
        let mut holding: Vec<(TenantId, HealthKind, String, Severity, String)> = Vec::new();
        for sensor in sensors {
            self.conditions(sensor, now, &mut holding);
        }
        for endpoint in facts.endpoints {
            let dropped = endpoint.counters.dropped;
            let dropped_before = self.endpoint_dropped.insert(endpoint.name.clone(), dropped);
            let newly_dropped = dropped.saturating_sub(dropped_before.unwrap_or(dropped));
            let failing_for = endpoint
                .failing_since
                .map(|since| now.as_micros().saturating_sub(since.as_micros()) / 1_000_000)
                .filter(|secs| *secs >= self.thresholds.endpoint_failing_secs);
            let (severity, message) = match (failing_for, newly_dropped) {
                (_, dropped) if dropped > 0 => (
                    Severity::Medium,
                    format!(
                        "{} dropped {dropped} messages from its full queue: alerts were lost on the way \
                         to it ({}).",
                        endpoint.name,
                        endpoint.last_error.as_deref().unwrap_or("slow or refusing")
                    ),
                ),
                (Some(secs), _) => (
                    Severity::Low,
                    format!(
                        "{} has refused or not answered for {} minutes; messages wait in its queue ({}).",
                        endpoint.name,
                        secs / 60,
                        endpoint.last_error.as_deref().unwrap_or("no error text")
                    ),
                ),
                (None, _) => continue,
            };
            for tenant in facts.tenants {
                let scope = format!("endpoint:{}", endpoint.name);
                holding.push((tenant.clone(), HealthKind::Notification, scope, severity, message.clone()));
            }
        }
        for (tenant, uploaded) in facts.directories {
            let age = now.as_micros().saturating_sub(uploaded.as_micros()) / 1_000_000;
            if age > self.thresholds.directory_stale_secs {
                holding.push((
                    tenant.clone(),
                    HealthKind::DirectoryStale,
                    "directory".into(),
                    Severity::Medium,
                    format!(
                        "The directory was last uploaded {} hours ago: sensitive accounts, honeytokens \
                         and names reflect that day; check the `orthrus directory sync` and upload schedule.",
                        age / 3600
                    ),
                ));
            }
        }
        let mut changes = Vec::new();
        let mut seen_now = std::collections::BTreeSet::new();
        for (tenant, kind, scope, severity, message) in holding {
            let key = (tenant.clone(), kind, scope.clone());
            seen_now.insert(key.clone());
            self.held.insert(key.clone(), now);
            match self.open.get_mut(&key) {
                Some(issue) => {
                    // Only a rise in severity is news; the sentence (durations, counts) is kept
                    // current without a message of its own.
                    let changed = severity > issue.severity;
                    issue.severity = issue.severity.max(severity);
                    issue.message = message;
                    issue.last_seen = now;
                    if changed {
                        changes.push((issue.clone(), HealthTrigger::Updated));
                    }
                }
                None => {
                    let issue = HealthIssue {
                        kind,
                        tenant,
                        sensor: scope,
                        severity,
                        message,
                        opened: now,
                        last_seen: now,
                    };
                    self.open.insert(key, issue.clone());
                    changes.push((issue, HealthTrigger::Opened));
                }
            }
        }
        let cleared: Vec<_> = self
            .open
            .keys()
            .filter(|key| !seen_now.contains(*key))
            .filter(|key| {
                let since = self.held.get(*key).copied().unwrap_or(now);
                now.as_micros() - since.as_micros() >= key.1.clear_delay_secs().saturating_mul(1_000_000)
            })
            .cloned()
            .collect();
        for key in cleared {
            self.held.remove(&key);
            if let Some(mut issue) = self.open.remove(&key) {
                issue.last_seen = now;
                changes.push((issue, HealthTrigger::Closed));
            }
        }
        changes
    }

    fn conditions(
        &mut self,
        sensor: &SensorRecord,
        now: Timestamp,
        out: &mut Vec<(TenantId, HealthKind, String, Severity, String)>,
    ) {
        let t = self.thresholds.clone();
        let mut hold = |kind, severity, message: String| {
            out.push((sensor.tenant.clone(), kind, sensor.id.clone(), severity, message));
        };
        let name = &sensor.name;
        // Silence: counted from the last contact, or from registration if it never spoke.
        let last_contact = sensor.last_seen.unwrap_or(sensor.created);
        let silent_for = (now.as_micros() - last_contact.as_micros()) / 1_000_000;
        if silent_for >= t.silent_secs {
            let severity = if silent_for >= t.silent_high_secs { Severity::High } else { Severity::Medium };
            hold(
                HealthKind::SensorSilent,
                severity,
                format!(
                    "No communication from sensor {name} for {} minutes (last at {last_contact}); nothing it watches is being analyzed.",
                    silent_for / 60
                ),
            );
            return;
        }
        let Some(heartbeat) =
            sensor.status.as_ref().and_then(|s| serde_json::from_value::<Heartbeat>(s.clone()).ok())
        else {
            return;
        };
        let at = sensor.last_seen.unwrap_or(now);
        if version_below(&heartbeat.version, &t.minimum_version) {
            hold(
                HealthKind::SensorOutdated,
                Severity::Medium,
                format!(
                    "Sensor {name} runs version {} (the center needs {} or later); upgrade it.",
                    heartbeat.version, t.minimum_version
                ),
            );
        }
        // Quiet is counted from the first heartbeat until a counter grows.
        self.last_packets.entry(sensor.id.clone()).or_insert(at);
        self.last_events.entry(sensor.id.clone()).or_insert(at);
        if let Some((_, before)) = self.previous.get(&sensor.id) {
            if heartbeat.packets > before.packets {
                self.last_packets.insert(sensor.id.clone(), at);
            }
            if heartbeat.events > before.events {
                self.last_events.insert(sensor.id.clone(), at);
            }
            // Packets and events: what was dropped of what came, since the last heartbeat.
            let shares = [
                (
                    HealthKind::PacketDrop,
                    "packets",
                    heartbeat.packets,
                    before.packets,
                    heartbeat.dropped_packets,
                    before.dropped_packets,
                ),
                (
                    HealthKind::EventBacklog,
                    "Windows events",
                    heartbeat.events,
                    before.events,
                    heartbeat.dropped_events,
                    before.dropped_events,
                ),
            ];
            for (kind, what, seen_now, seen_before, dropped_now, dropped_before) in shares {
                let seen = seen_now.saturating_sub(seen_before);
                let dropped = dropped_now.saturating_sub(dropped_before);
                let share = ratio(dropped, seen + dropped);
                if share > t.drop_ratio {
                    let severity = if share > t.drop_ratio_high { Severity::High } else { Severity::Medium };
                    hold(
                        kind,
                        severity,
                        format!(
                            "Sensor {name} dropped {dropped} of {} {what} ({:.2} %) since its last heartbeat; detections miss what was dropped.",
                            seen + dropped,
                            share * 100.0
                        ),
                    );
                }
            }
            if heartbeat.spool_dropped_batches > before.spool_dropped_batches {
                hold(
                    HealthKind::BufferFilling,
                    Severity::High,
                    format!(
                        "Sensor {name}'s disk buffer was full: {} batches of activities were dropped while the center could not be reached.",
                        heartbeat.spool_dropped_batches - before.spool_dropped_batches
                    ),
                );
            }
        }
        if heartbeat.refused_files > 0 {
            hold(
                HealthKind::FilesRefused,
                Severity::Medium,
                format!(
                    "Sensor {name} refused {} files of its watched folder unread (links, devices, pipes or hard links to files elsewhere): someone who may write the folder may have tried to make the sensor read other files. Look at them in its refused/ folder, then remove them.",
                    heartbeat.refused_files
                ),
            );
        }
        let quiet = |since: Timestamp| (at.as_micros() - since.as_micros()) / 1_000_000;
        let last_packet = self.last_packets.get(&sensor.id).copied().unwrap_or(at);
        if quiet(last_packet) >= t.no_traffic_secs {
            hold(
                HealthKind::NoTraffic,
                Severity::Medium,
                format!(
                    "Sensor {name} has captured no traffic for {} minutes: check the capture interface and port mirroring; network detections see nothing.",
                    quiet(last_packet) / 60
                ),
            );
        }
        let last_event = self.last_events.get(&sensor.id).copied().unwrap_or(at);
        if heartbeat.events_expected && quiet(last_event) >= t.no_events_secs {
            hold(
                HealthKind::EventsMissing,
                Severity::Medium,
                format!(
                    "Sensor {name} has read no Windows events for {} hours: check event forwarding and the audit policy; event detections see nothing.",
                    quiet(last_event) / 3600
                ),
            );
        }
        if heartbeat.spool_max_bytes > 0
            && ratio(heartbeat.spool_bytes, heartbeat.spool_max_bytes) >= t.spool_full_ratio
            && !out.iter().any(|o| o.1 == HealthKind::BufferFilling && o.2 == sensor.id)
        {
            out.push((
                sensor.tenant.clone(),
                HealthKind::BufferFilling,
                sensor.id.clone(),
                Severity::Medium,
                format!(
                    "Sensor {name}'s disk buffer is {:.0} % full ({} of {} bytes): the center has not taken its batches; the oldest go when it is full.",
                    ratio(heartbeat.spool_bytes, heartbeat.spool_max_bytes) * 100.0,
                    heartbeat.spool_bytes,
                    heartbeat.spool_max_bytes
                ),
            ));
        }
        if let Some(error) = &heartbeat.directory_sync_error {
            out.push((
                sensor.tenant.clone(),
                HealthKind::DirectorySync,
                sensor.id.clone(),
                Severity::Medium,
                format!("Sensor {name} cannot sync the directory ({error}): names, sensitivity and honeytokens go stale."),
            ));
        }
        self.previous.insert(sensor.id.clone(), (at, heartbeat));
    }
}
