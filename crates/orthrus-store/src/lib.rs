//! The center's store: tenants, users and their grants, sensors and their credentials,
//! batches (idempotent by sensor and sequence), activities with entity timelines, alerts with
//! their lifecycle and comments, and exclusions.
//!
//! One trait, [`Store`], with every tenant-owned operation taking the [`TenantId`] it acts
//! for: scoping lives here, in one place, not in each caller. [`SqliteStore`] is the default
//! (one file, WAL, migrations embedded in the binary). Secrets never reach the store: it keeps
//! SHA-256 hashes of tokens and whatever password hash the caller made.
//!
//! Times are event or request times the caller passes in; the store never reads the clock.
//!
//! ```
//! use orthrus_store::{SqliteStore, Store};
//! use orthrus_model::{TenantId, Timestamp};
//! let store = SqliteStore::in_memory().unwrap();
//! store.create_tenant(&TenantId("acme".into()), "ACME Corp", Timestamp::from_micros(0)).unwrap();
//! assert_eq!(store.tenants().unwrap()[0].name, "ACME Corp");
//! ```

mod blocks;
pub mod credentials;
mod entities;
mod lifecycle;
#[cfg(feature = "postgres")]
mod postgres;
#[cfg(feature = "postgres")]
mod postgres_users;
mod rows;
mod sqlite;
mod sqlite_incidents;
mod sqlite_users;

use orthrus_model::{Activity, Alert, Severity, TenantId, Timestamp};
use serde::{Deserialize, Serialize};

pub use entities::{activity_entities, alert_entities, alert_entity_key, entity_key};
pub use lifecycle::{Classification, MAX_REASON_CHARS, StatusChange};
#[cfg(feature = "postgres")]
pub use postgres::PostgresStore;
pub use rows::valid_name;
pub use sqlite::SqliteStore;

/// Whether a store location names a PostgreSQL server (a `postgres://` URL or the key=value
/// form) rather than a SQLite file.
pub fn is_postgres(location: &str) -> bool {
    let location = location.trim();
    location.starts_with("postgres://")
        || location.starts_with("postgresql://")
        || location.split_whitespace().any(|part| part.starts_with("host=") || part.starts_with("dbname="))
}

/// Opens the store a location names: a PostgreSQL server, or else a SQLite file (created
/// when missing). Either way the schema is brought up to date.
pub fn open_store(location: &str) -> Result<std::sync::Arc<dyn Store>> {
    if is_postgres(location) {
        #[cfg(feature = "postgres")]
        return Ok(std::sync::Arc::new(PostgresStore::connect(location)?));
        #[cfg(not(feature = "postgres"))]
        return Err(StoreError::Invalid(
            "this orthrus was built without PostgreSQL support: build it with `--features postgres`, \
             or give a SQLite file"
                .into(),
        ));
    }
    Ok(std::sync::Arc::new(SqliteStore::open(std::path::Path::new(location))?))
}

/// Fuzz entry point (`fuzz/fuzz_targets/activity_block.rs`): bytes as a stored activity
/// block, in each encoding.
pub fn fuzz_activity_block(data: &[u8]) {
    let _ = blocks::decode(blocks::ZSTD_JSON_LINES, data);
    let _ = blocks::decode(blocks::JSON, data);
}

/// Largest page a listing returns.
pub const MAX_PAGE: usize = 1000;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[cfg(feature = "postgres")]
    #[error("database: {0}")]
    Postgres(#[from] ::postgres::Error),
    #[error("database migration: {0}")]
    Migration(String),
    #[error("stored record: {0}")]
    Json(#[from] serde_json::Error),
    #[error("{0}")]
    Invalid(String),
    #[error("{0} already exists")]
    Exists(String),
    #[error("{0} not found")]
    NotFound(String),
}

pub type Result<T> = std::result::Result<T, StoreError>;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TenantRecord {
    pub id: TenantId,
    pub name: String,
    pub created: Timestamp,
}

/// What a user may do in a tenant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Reads alerts, entities, sensors and health.
    Viewer,
    /// Also changes alert status and comments.
    Analyst,
    /// Also manages exclusions and sensors.
    Admin,
}

impl Role {
    pub fn name(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Analyst => "analyst",
            Role::Admin => "admin",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "viewer" => Some(Role::Viewer),
            "analyst" => Some(Role::Analyst),
            "admin" => Some(Role::Admin),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserRecord {
    pub name: String,
    /// The tenants the user may see, with the role in each.
    pub grants: Vec<(TenantId, Role)>,
    #[serde(skip)]
    pub password_hash: Option<String>,
    /// Changes (to a new random value) with each password change: a web UI session opened
    /// under another epoch is over.
    #[serde(skip)]
    pub session_epoch: i64,
}

/// One of a user's API tokens, as an administrator lists it (the token itself is never kept).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenRecord {
    /// The token's SHA-256, what the store keeps.
    pub hash: [u8; 32],
    pub label: String,
    pub created: Timestamp,
}

impl TokenRecord {
    /// How a token is named to revoke it: the first 8 bytes of its hash, in hex (the hash of a
    /// random token says nothing of it).
    pub fn id(&self) -> String {
        self.hash[..8].iter().map(|b| format!("{b:02x}")).collect()
    }

    pub(crate) fn from_row(hash: &[u8], label: String, created: i64) -> Result<Self> {
        let hash =
            hash.try_into().map_err(|_| StoreError::Invalid("a stored token hash is not 32 bytes".into()))?;
        Ok(Self { hash, label, created: Timestamp::from_micros(created) })
    }
}

impl UserRecord {
    pub fn role_in(&self, tenant: &TenantId) -> Option<Role> {
        self.grants.iter().find(|(t, _)| t == tenant).map(|(_, r)| *r)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SensorRecord {
    pub id: String,
    pub tenant: TenantId,
    pub name: String,
    pub created: Timestamp,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_seen: Option<Timestamp>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// The last heartbeat's statistics (capture, decode, buffer), as the sensor sent them.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<serde_json::Value>,
}

/// What happened to a batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ingested {
    /// Stored, with this many activities.
    Stored(usize),
    /// This sensor's batch of that sequence number was stored before: nothing stored again.
    Duplicate,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertStatus {
    Open,
    Closed,
    Suppressed,
}

impl AlertStatus {
    pub fn name(self) -> &'static str {
        match self {
            AlertStatus::Open => "open",
            AlertStatus::Closed => "closed",
            AlertStatus::Suppressed => "suppressed",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "open" => Some(AlertStatus::Open),
            "closed" => Some(AlertStatus::Closed),
            "suppressed" => Some(AlertStatus::Suppressed),
            _ => None,
        }
    }
}

/// How an alert update landed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Upserted {
    New,
    Updated,
    /// It was closed; new activity opened it again.
    Reopened,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Comment {
    pub time: Timestamp,
    pub author: String,
    pub text: String,
}

/// An alert as stored: its record (the alert JSON of architecture.md, `status` current) and
/// its lifecycle.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlertRecord {
    pub id: String,
    pub tenant: TenantId,
    pub detection: String,
    pub severity: Severity,
    pub status: AlertStatus,
    pub first_seen: Timestamp,
    pub last_seen: Timestamp,
    pub count: u64,
    pub alert: serde_json::Value,
    pub comments: Vec<Comment>,
    /// Status changes people made, oldest first.
    #[serde(default)]
    pub history: Vec<StatusChange>,
}

/// How many alerts share a day, detection, severity and status.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AlertBucket {
    /// Midnight (UTC) of the day the alerts were first seen.
    pub day: Timestamp,
    pub detection: String,
    pub severity: Severity,
    pub status: AlertStatus,
    pub count: u64,
}

/// Microseconds in a day: the histogram's bucket.
pub(crate) const DAY_MICROS: i64 = 86_400_000_000;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AlertFilter {
    pub severity: Option<Severity>,
    pub status: Option<AlertStatus>,
    pub detection: Option<String>,
    /// Alerts last seen at or after this time.
    pub since: Option<Timestamp>,
    /// Alerts first seen at or before this time.
    pub until: Option<Timestamp>,
    /// An entity key ([`entity_key`]): alerts naming it as source or target.
    pub entity: Option<String>,
}

/// One page of a listing, newest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Page {
    pub offset: usize,
    pub limit: usize,
}

impl Page {
    /// The offset as SQL takes it: beyond i64 it is no page of anything, and the caller's
    /// mistake (400), not the store's.
    pub(crate) fn sql_offset(&self) -> Result<i64> {
        i64::try_from(self.offset).map_err(|_| {
            StoreError::Invalid(format!("offset {} is beyond any page (at most {})", self.offset, i64::MAX))
        })
    }
}

impl Default for Page {
    fn default() -> Self {
        Self { offset: 0, limit: 100 }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct AlertPage {
    pub alerts: Vec<AlertRecord>,
    /// How many alerts match the filter in all.
    pub total: u64,
}

/// One incident as the listing shows it: its alerts aggregated (the incident's id is kept on
/// each alert, as the entity key `incident:ID`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IncidentSummary {
    pub id: String,
    pub alerts: u64,
    /// Alerts still open: the incident is open while any is.
    pub open: u64,
    pub severity: Severity,
    pub first_seen: Timestamp,
    pub last_seen: Timestamp,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IncidentPage {
    pub incidents: Vec<IncidentSummary>,
    /// How many incidents the tenant has in all.
    pub total: u64,
}

/// Open alerts the dashboard's entity ranking reads: the latest ones (by last activity). A
/// ranking over every open alert of a large tenant costs seconds; the latest thousand say who
/// is involved in what is going on now.
pub const TOP_ENTITIES_SAMPLE: usize = 1_000;

/// The entities the latest [`TOP_ENTITIES_SAMPLE`] open alerts name most (incidents aside), most
/// first; ties by key. PostgreSQL runs it as is; SQLite in two steps (`sqlite_incidents.rs`).
#[cfg_attr(not(feature = "postgres"), allow(dead_code))]
pub(crate) const TOP_ENTITIES_QUERY: &str = "SELECT e.entity, count(*) FROM
        (SELECT id FROM alerts WHERE tenant = ?1 AND status = 'open' ORDER BY last_seen DESC LIMIT ?3) r
     JOIN alert_entities e ON e.tenant = ?1 AND e.alert = r.id
     WHERE NOT (e.entity >= 'incident:' AND e.entity < 'incident;')
     GROUP BY e.entity ORDER BY count(*) DESC, e.entity LIMIT ?2";

/// The incident listing's query, the same on SQLite and PostgreSQL (`?N` becomes `$N`):
/// incidents by their latest alert, newest first, from the alerts' `incident` column.
pub(crate) const INCIDENTS_QUERY: &str = "SELECT incident, count(*), min(first_seen), max(last_seen),
        CAST(max(CASE severity WHEN 'high' THEN 3 WHEN 'medium' THEN 2 ELSE 1 END) AS BIGINT),
        CAST(sum(CASE WHEN status = 'open' THEN 1 ELSE 0 END) AS BIGINT)
     FROM alerts WHERE tenant = ?1 AND incident IS NOT NULL
     GROUP BY incident ORDER BY max(last_seen) DESC, incident LIMIT ?2 OFFSET ?3";

pub(crate) const INCIDENT_COUNT_QUERY: &str =
    "SELECT count(DISTINCT incident) FROM alerts WHERE tenant = ?1 AND incident IS NOT NULL";

/// Each alert with its incident ([`Store::alert_incidents`]).
pub(crate) const ALERT_INCIDENTS_QUERY: &str =
    "SELECT id, incident FROM alerts WHERE tenant = ?1 AND incident IS NOT NULL";

/// Keeps an alert's incident in its column (an upsert's second statement).
pub(crate) const SET_INCIDENT: &str = "UPDATE alerts SET incident = ?3 WHERE tenant = ?1 AND id = ?2";

/// A row of [`INCIDENTS_QUERY`] as a summary.
pub(crate) fn incident_summary(
    entity: &str,
    (alerts, first, last, rank, open): (i64, i64, i64, i64, i64),
) -> IncidentSummary {
    IncidentSummary {
        id: entity.strip_prefix("incident:").unwrap_or(entity).to_owned(),
        alerts: u64::try_from(alerts).unwrap_or_default(),
        open: u64::try_from(open).unwrap_or_default(),
        severity: match rank {
            3 => Severity::High,
            2 => Severity::Medium,
            _ => Severity::Low,
        },
        first_seen: Timestamp::from_micros(first),
        last_seen: Timestamp::from_micros(last),
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ActivityQuery {
    /// An entity key: only activities naming it.
    pub entity: Option<String>,
    pub since: Option<Timestamp>,
    pub until: Option<Timestamp>,
    pub limit: usize,
}

/// What an exclusion matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ExclusionKind {
    /// An address or a subnet.
    Address,
    Account,
    Computer,
}

impl ExclusionKind {
    pub fn name(self) -> &'static str {
        match self {
            ExclusionKind::Address => "address",
            ExclusionKind::Account => "account",
            ExclusionKind::Computer => "computer",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "address" => Some(ExclusionKind::Address),
            "account" => Some(ExclusionKind::Account),
            "computer" => Some(ExclusionKind::Computer),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewExclusion {
    /// A detection id, or `global`.
    pub detection: String,
    pub kind: ExclusionKind,
    pub value: String,
    #[serde(default)]
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExclusionRecord {
    pub id: i64,
    #[serde(flatten)]
    pub exclusion: NewExclusion,
    pub created: Timestamp,
}

/// Everything the center keeps. Tenant-owned operations take the tenant they act for and
/// never see or change another's rows.
pub trait Store: Send + Sync {
    // Tenants, users, credentials (administration: no tenant scope of their own).
    fn create_tenant(&self, id: &TenantId, name: &str, now: Timestamp) -> Result<TenantRecord>;
    fn tenants(&self) -> Result<Vec<TenantRecord>>;
    fn create_user(&self, name: &str, password_hash: Option<&str>, now: Timestamp) -> Result<()>;
    fn grant(&self, user: &str, tenant: &TenantId, role: Role) -> Result<()>;
    /// Takes the user's role in the tenant away; false when it had none.
    fn revoke_grant(&self, user: &str, tenant: &TenantId) -> Result<bool>;
    /// Removes the user with its grants and API tokens; false when there was none.
    fn remove_user(&self, name: &str) -> Result<bool>;
    fn user(&self, name: &str) -> Result<Option<UserRecord>>;
    fn add_user_token(&self, user: &str, token_hash: &[u8; 32], label: &str, now: Timestamp) -> Result<()>;
    fn user_for_token(&self, token_hash: &[u8; 32]) -> Result<Option<UserRecord>>;
    /// The user's API tokens, oldest first.
    fn user_tokens(&self, user: &str) -> Result<Vec<TokenRecord>>;
    /// Revokes one API token; false when no token has this hash.
    fn remove_user_token(&self, token_hash: &[u8; 32]) -> Result<bool>;
    /// Sets (or replaces) the user's password hash ([`credentials::hash_password`]) for the web UI.
    fn set_password(&self, user: &str, password_hash: &str) -> Result<()>;
    fn create_sensor(
        &self,
        tenant: &TenantId,
        name: &str,
        token_hash: &[u8; 32],
        now: Timestamp,
    ) -> Result<SensorRecord>;
    fn sensor_for_token(&self, token_hash: &[u8; 32]) -> Result<Option<SensorRecord>>;

    // Sensors of a tenant.
    fn sensors(&self, tenant: &TenantId) -> Result<Vec<SensorRecord>>;
    /// Removes a sensor's credential (its token stops working at once) and its batch records;
    /// what it sent stays. False when the tenant has no such sensor.
    fn remove_sensor(&self, tenant: &TenantId, name: &str) -> Result<bool>;
    fn heartbeat(
        &self,
        tenant: &TenantId,
        sensor: &str,
        now: Timestamp,
        version: &str,
        status: &serde_json::Value,
    ) -> Result<()>;

    /// Stores a sensor's batch once: the activities are stamped with `tenant` whatever they
    /// claim, and a batch whose (sensor, sequence) was stored before is not stored again.
    fn ingest(
        &self,
        tenant: &TenantId,
        sensor: &str,
        sequence: u64,
        activities: &[Activity],
        now: Timestamp,
    ) -> Result<Ingested>;
    fn activities(&self, tenant: &TenantId, query: &ActivityQuery) -> Result<Vec<Activity>>;
    fn activity_count(&self, tenant: &TenantId) -> Result<u64>;
    /// A tenant's activities in the order they were stored, after the one numbered `after`
    /// (0: from the first), with their numbers: how a restarted center replays what it had.
    fn activities_after(&self, tenant: &TenantId, after: i64, limit: usize) -> Result<Vec<(i64, Activity)>>;
    /// Drops activities older than `before` (all tenants: retention is the center's).
    fn prune_activities(&self, before: Timestamp) -> Result<u64>;

    /// Records an alert's current state (its id is the engine's, stable for the incident):
    /// new, or an update of count, last-seen, evidence and sentence. A closed alert that
    /// gains activity opens again; a suppressed one stays suppressed.
    fn upsert_alert(&self, alert: &Alert) -> Result<Upserted>;
    fn alerts(&self, tenant: &TenantId, filter: &AlertFilter, page: Page) -> Result<AlertPage>;
    fn alert(&self, tenant: &TenantId, id: &str) -> Result<Option<AlertRecord>>;
    /// The tenant's incidents, newest first; an incident's alerts are those with the entity
    /// key `incident:ID` ([`AlertFilter::entity`]).
    fn incidents(&self, tenant: &TenantId, page: Page) -> Result<IncidentPage>;
    /// Every alert of the tenant with its incident (alert id, incident id): what a center's
    /// replay remembers, so each alert keeps the incident it was given.
    fn alert_incidents(&self, tenant: &TenantId) -> Result<Vec<(String, String)>>;
    /// The `limit` entity keys most open alerts name, with their counts, most first.
    fn top_entities(&self, tenant: &TenantId, limit: usize) -> Result<Vec<(String, u64)>>;
    /// The tenant's alerts first seen at or after `since`, counted per UTC day of their first
    /// sighting, detection, severity and status (the dashboard's chart and tables).
    fn alert_histogram(&self, tenant: &TenantId, since: Timestamp) -> Result<Vec<AlertBucket>>;
    /// Whether the alert exists (in that tenant) and now has `status`.
    fn set_alert_status(&self, tenant: &TenantId, id: &str, status: AlertStatus) -> Result<bool>;
    /// Changes an alert's status as a person does, keeping who, when, and (closing) the
    /// classification and reason in its history. False when the tenant has no such alert.
    fn change_status(&self, tenant: &TenantId, id: &str, change: &StatusChange) -> Result<bool>;
    fn comment(&self, tenant: &TenantId, id: &str, author: &str, text: &str, now: Timestamp) -> Result<bool>;

    fn add_exclusion(
        &self,
        tenant: &TenantId,
        exclusion: &NewExclusion,
        now: Timestamp,
    ) -> Result<ExclusionRecord>;
    fn exclusions(&self, tenant: &TenantId) -> Result<Vec<ExclusionRecord>>;
    fn remove_exclusion(&self, tenant: &TenantId, id: i64) -> Result<bool>;

    /// Keeps the tenant's directory snapshot (opaque bytes to the store), replacing the last.
    fn put_directory(&self, tenant: &TenantId, snapshot: &[u8], now: Timestamp) -> Result<()>;
    /// The tenant's last directory snapshot and when it came.
    fn directory(&self, tenant: &TenantId) -> Result<Option<(Vec<u8>, Timestamp)>>;
}

/// Tenant ids appear in URLs and file names: lower-case letters, digits, `-` and `_`, 1 to 64.
pub fn valid_tenant_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 64
        && id.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
}
