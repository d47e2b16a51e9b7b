//! The center's core, without its network face: a sensor's batch comes in with the sensor's
//! token and sequence number; the token names the sensor and its tenant (whatever the
//! activities claim); the store keeps the batch once (a retry is recognised and nothing is
//! run twice); the tenant's own engine sees the activities in arrival order; the alerts that
//! changed are stored (new, updated, reopened) and queued for each sink route (CEF syslog,
//! webhook) whose filter takes them, unless the tenant's exclusions (kept in the store,
//! managed through the API) cover their source.
//!
//! Engines live in memory; on start the center replays every tenant's stored activities, in
//! the order they were stored, into fresh engines: the same alerts come back with the same
//! ids (the engine's ids are deterministic), so a restart neither loses nor duplicates an
//! alert, and nothing is forwarded twice for what was forwarded before.

pub mod health;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};

use orthrus_detect::exclusions::{Address, Applicable, Exclusion};
use orthrus_detect::{DetectionConfig, Engine};
use orthrus_directory::{Directory, Snapshot};
use orthrus_model::{Activity, Alert, TenantId, Timestamp};
use orthrus_sinks::{CefOptions, Route, Trigger};
use orthrus_store::credentials::token_hash;
use orthrus_store::{ExclusionKind, Ingested, Store, StoreError, Upserted};

/// An address or a subnet, as exclusions take them.
pub fn parse_net(text: &str) -> Option<ipnet::IpNet> {
    let text = text.trim();
    text.parse::<ipnet::IpNet>()
        .ok()
        .or_else(|| text.parse::<std::net::IpAddr>().ok().map(ipnet::IpNet::from))
}

/// Whether the tenant's exclusions (global and the alert's detection's) cover the alert's source.
fn excluded(exclusions: &BTreeMap<String, Exclusion>, alert: &Alert) -> bool {
    let own = ["global", &*alert.detection].into_iter().filter_map(|k| exclusions.get(k));
    Applicable::new(own, &[]).suppresses(alert)
}

/// zstd level for stored directory snapshots (large, repetitive JSON; stored rarely).
const SNAPSHOT_COMPRESSION: i32 = 9;
/// Largest directory snapshot read back from the store, decompressed.
const MAX_SNAPSHOT_BYTES: u64 = 4 << 30;

/// A stored snapshot back: zstd-compressed JSON, its format and version checked.
fn decode_snapshot(bytes: &[u8]) -> Result<Snapshot, String> {
    use std::io::Read as _;
    let mut json = Vec::new();
    zstd::stream::read::Decoder::new(bytes)
        .and_then(|d| d.take(MAX_SNAPSHOT_BYTES).read_to_end(&mut json))
        .map_err(|e| e.to_string())?;
    Snapshot::from_json(&json).map_err(|e| e.to_string())
}

/// Activities read per page when an engine is rebuilt.
const REPLAY_PAGE: usize = 5_000;

#[derive(Debug, thiserror::Error)]
pub enum CenterError {
    /// The token names no sensor (wrong, revoked, or a user's token).
    #[error("unknown sensor token")]
    Unauthorized,
    #[error(transparent)]
    Store(#[from] StoreError),
}

#[derive(Default)]
pub struct CenterConfig {
    pub detection: DetectionConfig,
    pub cef: CefOptions,
    /// Where alerts and health issues go (syslog, webhooks): each route's sender drains it.
    pub routes: Vec<Route>,
    pub health: health::HealthThresholds,
}

/// What became of a batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Accepted {
    pub tenant: TenantId,
    /// Activities stored (0 for a batch stored before).
    pub stored: usize,
    pub duplicate: bool,
    /// Alerts this batch raised or changed, with how they landed.
    pub alerts: Vec<(String, Upserted)>,
}

/// Locks a mutex, taking it over from a thread that panicked while holding it (its data is
/// an engine or a map, consistent between statements).
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}

/// A tenant's engine behind the tenant's own lock: a tenant's batches and directory replays
/// run one after another, in arrival order, while other tenants' go on beside them.
type EngineSlot = Arc<Mutex<Option<Engine>>>;

pub struct Center {
    store: Arc<dyn Store>,
    detection: DetectionConfig,
    cef: CefOptions,
    routes: Vec<Route>,
    /// Held only to find or add a tenant's slot, never while an engine works.
    engines: Mutex<BTreeMap<TenantId, EngineSlot>>,
    /// Each tenant's directory, as its sync last uploaded it (none: enrichment by names only).
    directories: Mutex<BTreeMap<TenantId, Arc<Directory>>>,
    /// When each tenant's directory was last uploaded (health: a stale one is an issue).
    directory_uploaded: Mutex<BTreeMap<TenantId, Timestamp>>,
    health: Mutex<health::HealthMonitor>,
}

impl Center {
    /// A center over `store`, its engines rebuilt from what the store holds.
    pub fn start(store: Arc<dyn Store>, config: CenterConfig) -> Result<Self, CenterError> {
        let center = Self {
            store,
            detection: config.detection,
            cef: config.cef,
            routes: config.routes,
            engines: Mutex::default(),
            directories: Mutex::default(),
            directory_uploaded: Mutex::default(),
            health: Mutex::new(health::HealthMonitor::new(config.health)),
        };
        for tenant in center.store.tenants()? {
            center.load_directory(&tenant.id)?;
            let slot = center.slot(&tenant.id);
            let mut engine = lock(&slot);
            center.replay(&tenant.id, &mut engine)?;
        }
        Ok(center)
    }

    /// The tenant's engine slot, added when the tenant is new.
    fn slot(&self, tenant: &TenantId) -> EngineSlot {
        lock(&self.engines).entry(tenant.clone()).or_default().clone()
    }

    /// The tenant's engine in its (locked) slot, made with the tenant's directory when absent.
    fn engine<'a>(&self, tenant: &TenantId, slot: &'a mut Option<Engine>) -> &'a mut Engine {
        slot.get_or_insert_with(|| match self.directory(tenant) {
            Some(directory) => {
                let mut config = self.detection.clone();
                config.directory = directory;
                Engine::new(&config, "orthrus-center")
            }
            None => Engine::new(&self.detection, "orthrus-center"),
        })
    }

    /// The tenant's stored directory into memory. A stored snapshot that no longer reads (a
    /// newer format, damage) is logged and left out: the center runs without it.
    fn load_directory(&self, tenant: &TenantId) -> Result<(), CenterError> {
        let Some((bytes, uploaded)) = self.store.directory(tenant)? else { return Ok(()) };
        lock(&self.directory_uploaded).insert(tenant.clone(), uploaded);
        match decode_snapshot(&bytes) {
            Ok(snapshot) => {
                let directory = Directory::new(snapshot, &self.detection.entity_tags());
                lock(&self.directories).insert(tenant.clone(), Arc::new(directory));
            }
            Err(error) => tracing::warn!("tenant {}: stored directory unreadable: {error}", tenant.0),
        }
        Ok(())
    }

    /// A new directory snapshot for the tenant (its sync's upload): kept in the store, and the
    /// tenant's engine rebuilt over its stored activities with it (names, sensitivity and
    /// honeytokens as the directory now says; nothing is forwarded again). The tenant's intake
    /// waits for the replay; other tenants' does not.
    pub fn set_directory(
        &self,
        tenant: &TenantId,
        snapshot: Snapshot,
        now: Timestamp,
    ) -> Result<(), CenterError> {
        let json = serde_json::to_vec(&snapshot).map_err(StoreError::from)?;
        let compressed = zstd::bulk::compress(&json, SNAPSHOT_COMPRESSION)
            .map_err(|e| StoreError::Invalid(format!("compressing the directory: {e}")))?;
        let directory = Directory::new(snapshot, &self.detection.entity_tags());
        let slot = self.slot(tenant);
        let mut engine = lock(&slot);
        self.store.put_directory(tenant, &compressed, now)?;
        lock(&self.directory_uploaded).insert(tenant.clone(), now);
        lock(&self.directories).insert(tenant.clone(), Arc::new(directory));
        *engine = None;
        self.replay(tenant, &mut engine)
    }

    /// The tenant's directory, when one was uploaded.
    pub fn directory(&self, tenant: &TenantId) -> Option<Arc<Directory>> {
        lock(&self.directories).get(tenant).cloned()
    }

    /// The computer at `ip` as the tenant's name resolution knows it now (none before the
    /// tenant's first activity, or while the sources that saw the address disagree).
    pub fn resolve(&self, tenant: &TenantId, ip: std::net::IpAddr) -> Option<orthrus_directory::Resolution> {
        let slot = lock(&self.engines).get(tenant).cloned()?;
        let engine = lock(&slot);
        engine.as_ref()?.resolve(ip)
    }

    /// When the tenant's directory was last uploaded.
    pub fn directory_uploaded(&self, tenant: &TenantId) -> Option<Timestamp> {
        lock(&self.directory_uploaded).get(tenant).copied()
    }

    /// Feeds a tenant's stored activities to a fresh engine (in the tenant's locked slot) and
    /// brings the stored alerts up to date, forwarding nothing (what the replay finds was
    /// forwarded when it first happened).
    fn replay(&self, tenant: &TenantId, slot: &mut Option<Engine>) -> Result<(), CenterError> {
        // Each stored alert keeps the incident it was given (and a SIEM received), whatever
        // order the replay presents the alerts in.
        let known = self.store.alert_incidents(tenant)?;
        self.engine(tenant, slot).remember_incidents(known);
        let mut after = 0;
        loop {
            let page = self.store.activities_after(tenant, after, REPLAY_PAGE)?;
            let Some((last, _)) = page.last() else { break };
            after = *last;
            let engine = self.engine(tenant, slot);
            for (_, activity) in &page {
                engine.observe(activity);
            }
        }
        let changed = self.engine(tenant, slot).take_changed();
        let exclusions = self.exclusions(tenant)?;
        for alert in changed.iter().filter(|a| !excluded(&exclusions, a)) {
            self.store.upsert_alert(alert)?;
        }
        Ok(())
    }

    /// The tenant's exclusions as the API keeps them (`global` or per detection id).
    fn exclusions(&self, tenant: &TenantId) -> Result<BTreeMap<String, Exclusion>, CenterError> {
        let mut out: BTreeMap<String, Exclusion> = BTreeMap::new();
        for record in self.store.exclusions(tenant)? {
            let entry = out.entry(record.exclusion.detection.clone()).or_default();
            let value = record.exclusion.value;
            match record.exclusion.kind {
                ExclusionKind::Address => {
                    // The API refuses what does not parse; an old or hand-made row is skipped.
                    if let Some(net) = parse_net(&value) {
                        entry.addresses.push(Address(net));
                    }
                }
                ExclusionKind::Account => entry.accounts.push(value),
                ExclusionKind::Computer => entry.computers.push(value),
            }
        }
        Ok(out)
    }

    /// One batch from a sensor.
    pub fn ingest(
        &self,
        token: &str,
        sequence: u64,
        activities: &[Activity],
        now: Timestamp,
    ) -> Result<Accepted, CenterError> {
        let sensor = self.store.sensor_for_token(&token_hash(token))?.ok_or(CenterError::Unauthorized)?;
        let tenant = sensor.tenant.clone();
        // The credential says whose activities these are and where they came from.
        let stamped: Vec<Activity> = activities
            .iter()
            .map(|a| {
                let mut a = a.clone();
                a.tenant = tenant.clone();
                a.sensor = Arc::from(sensor.name.as_str());
                a
            })
            .collect();
        // Stored and judged under the tenant's lock: the engine sees batches in the order the
        // store keeps them, so a replay after a restart judges them the same way.
        let slot = self.slot(&tenant);
        let mut engine = lock(&slot);
        match self.store.ingest(&tenant, &sensor.id, sequence, &stamped, now)? {
            Ingested::Duplicate => {
                return Ok(Accepted { tenant, stored: 0, duplicate: true, alerts: Vec::new() });
            }
            Ingested::Stored(_) => {}
        }
        let engine = self.engine(&tenant, &mut engine);
        for activity in &stamped {
            engine.observe(activity);
        }
        let changed = engine.take_changed();
        let exclusions = self.exclusions(&tenant)?;
        let mut alerts = Vec::with_capacity(changed.len());
        for alert in changed.iter().filter(|a| !excluded(&exclusions, a)) {
            let upserted = self.store.upsert_alert(alert)?;
            self.forward(alert, upserted, now);
            alerts.push((alert.id.clone(), upserted));
        }
        Ok(Accepted { tenant, stored: stamped.len(), duplicate: false, alerts })
    }

    fn forward(&self, alert: &Alert, upserted: Upserted, now: Timestamp) {
        let trigger = match upserted {
            Upserted::New | Upserted::Reopened => Trigger::New,
            Upserted::Updated => Trigger::Update,
        };
        for route in &self.routes {
            route.alert(alert, trigger, &self.cef, now);
        }
    }

    /// A sensor's heartbeat: its last contact and what it reports.
    pub fn heartbeat(
        &self,
        token: &str,
        heartbeat: &health::Heartbeat,
        now: Timestamp,
    ) -> Result<(), CenterError> {
        let sensor = self.store.sensor_for_token(&token_hash(token))?.ok_or(CenterError::Unauthorized)?;
        let status = serde_json::to_value(heartbeat).map_err(StoreError::from)?;
        self.store.heartbeat(&sensor.tenant, &sensor.id, now, &heartbeat.version, &status)?;
        Ok(())
    }

    /// Evaluates every tenant's sensors at `now`; health issues that opened, changed or closed
    /// are forwarded (CEF `act=health`) and returned.
    /// `endpoints`: how the alert endpoints' senders are doing.
    pub fn check_health(
        &self,
        endpoints: &[health::EndpointReport],
        now: Timestamp,
    ) -> Result<Vec<(health::HealthIssue, health::HealthTrigger)>, CenterError> {
        let mut sensors = Vec::new();
        let mut tenants = Vec::new();
        for tenant in self.store.tenants()? {
            sensors.extend(self.store.sensors(&tenant.id)?);
            tenants.push(tenant.id);
        }
        let directories: Vec<(TenantId, Timestamp)> =
            lock(&self.directory_uploaded).iter().map(|(tenant, at)| (tenant.clone(), *at)).collect();
        let facts = health::CenterFacts { directories: &directories, endpoints, tenants: &tenants };
        let changes = lock(&self.health).evaluate(&sensors, &facts, now);
        for (issue, trigger) in &changes {
            let record = orthrus_sinks::cef::HealthRecord {
                id: issue.kind.id(),
                title: issue.kind.title(),
                external_id: issue.kind.external_id(),
                severity: issue.severity,
                message: &issue.message,
                tenant: &issue.tenant.0,
                sensor: &issue.sensor,
                opened: issue.opened,
                closed: (*trigger == health::HealthTrigger::Closed).then_some(issue.last_seen),
            };
            let cef_trigger = match trigger {
                health::HealthTrigger::Opened => Trigger::New,
                health::HealthTrigger::Updated => Trigger::Update,
                health::HealthTrigger::Closed => Trigger::Closed,
            };
            for route in &self.routes {
                route.health(&record, cef_trigger, &self.cef, now);
            }
        }
        Ok(changes)
    }

    /// The tenant's health issues open now (a copy: evaluation goes on meanwhile).
    pub fn open_health_issues(&self, tenant: &TenantId) -> Vec<health::HealthIssue> {
        lock(&self.health).open_issues().filter(|issue| issue.tenant == *tenant).cloned().collect()
    }

    /// How many health issues are open now, in every tenant.
    pub fn open_health_issue_count(&self) -> usize {
        lock(&self.health).open_issues().count()
    }

    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }
}
