//! The embedded store: one SQLite file in WAL mode, schema migrations embedded (refinery),
//! one connection behind a mutex (SQLite has one writer anyway; batches are one transaction
//! each, which is what makes ingest fast).

use std::path::Path;
use std::sync::{Mutex, MutexGuard};

use orthrus_model::{Activity, Alert, TenantId, Timestamp};
use rusqlite::types::Value;
use rusqlite::{Connection, OptionalExtension, params, params_from_iter};

use crate::blocks::{self, Window};
use crate::lifecycle::{self, StatusChange};
use crate::rows::{
    ALERT_COLUMNS, AlertRow, FilterValue, INSERT_ALERT_ENTITY, SENSOR_COLUMNS, SQLITE_DELETE_ENTITY_ROWS,
    SQLITE_SET_ENTITY_STATUS, SensorRow, activity_limit, alert_listing, alert_record, invalid_comment,
    invalid_name, invalid_tenant, micros, sensor_record, seq, severity, status, valid_comment, valid_name,
};
use crate::sqlite_incidents as incidents;
use crate::sqlite_users::{self as users, exists_or};
use crate::{
    ActivityQuery, AlertBucket, AlertFilter, AlertPage, AlertRecord, AlertStatus, Comment, DAY_MICROS,
    ExclusionKind, ExclusionRecord, IncidentPage, Ingested, NewExclusion, Page, Result, Role, SensorRecord,
    Store, StoreError, TenantRecord, TokenRecord, Upserted, UserRecord, alert_entities, valid_tenant_id,
};

mod embedded {
    refinery::embed_migrations!("migrations/sqlite");
}

/// A stored alert's status and last activity, read before it is updated. `?1` tenant, `?2` id.
const ALERT_STATE: &str = "SELECT status, last_seen FROM alerts WHERE tenant = ?1 AND id = ?2";

pub struct SqliteStore {
    connection: Mutex<Connection>,
}

impl SqliteStore {
    /// Opens (or creates) the store file and brings its schema up to date. The file (and its
    /// `-wal` and `-shm`) is readable by its owner only: it holds credential hashes and every
    /// tenant's data.
    pub fn open(path: &Path) -> Result<Self> {
        let narrowed = orthrus_model::private_file::keep_private(path)
            .map_err(|e| StoreError::Invalid(format!("{}: {e}", path.display())))?;
        for file in narrowed {
            tracing::warn!("{}: was readable by others; now by its owner only", file.display());
        }
        let connection = Connection::open(path)?;
        connection.pragma_update(None, "journal_mode", "WAL")?;
        connection.pragma_update(None, "synchronous", "NORMAL")?;
        // Ingest writes index pages all over (entity keys): a 64 MiB page cache and fewer,
        // larger checkpoints (every 64 MiB of WAL rather than 4 MiB) keep them in memory
        // between batches instead of writing and reading them back each time.
        connection.pragma_update(None, "cache_size", -65_536)?;
        connection.pragma_update(None, "wal_autocheckpoint", 16_384)?;
        connection.pragma_update(None, "temp_store", "MEMORY")?;
        Self::prepare(connection)
    }

    /// A store in memory (tests, `orthrus analyze`-style one-shot runs).
    pub fn in_memory() -> Result<Self> {
        Self::prepare(Connection::open_in_memory()?)
    }

    fn prepare(mut connection: Connection) -> Result<Self> {
        connection.pragma_update(None, "foreign_keys", "ON")?;
        connection.busy_timeout(std::time::Duration::from_secs(10))?;
        embedded::migrations::runner()
            .run(&mut connection)
            .map_err(|e| StoreError::Migration(e.to_string()))?;
        Ok(Self { connection: Mutex::new(connection) })
    }

    fn lock(&self) -> MutexGuard<'_, Connection> {
        // A panic elsewhere while holding the lock leaves the connection usable: SQLite rolls
        // an unfinished transaction back when its handle drops.
        self.connection.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

fn sensor_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<SensorRow> {
    Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?, row.get(4)?, row.get(5)?, row.get(6)?))
}

fn alert_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<AlertRow> {
    Ok((
        row.get(0)?,
        row.get(1)?,
        row.get(2)?,
        row.get(3)?,
        row.get(4)?,
        row.get(5)?,
        row.get(6)?,
        row.get(7)?,
        row.get(8)?,
    ))
}

impl Store for SqliteStore {
    fn create_tenant(&self, id: &TenantId, name: &str, now: Timestamp) -> Result<TenantRecord> {
        if !valid_tenant_id(&id.0) {
            return Err(invalid_tenant(&id.0));
        }
        self.lock()
            .execute(
                "INSERT INTO tenants (id, name, created) VALUES (?1, ?2, ?3)",
                params![&*id.0, name, micros(now)],
            )
            .map_err(|e| exists_or(e, &format!("tenant {}", id.0)))?;
        Ok(TenantRecord { id: id.clone(), name: name.to_owned(), created: now })
    }

    fn tenants(&self) -> Result<Vec<TenantRecord>> {
        let connection = self.lock();
        let mut statement = connection.prepare("SELECT id, name, created FROM tenants ORDER BY id")?;
        let rows = statement.query_map([], |r| {
            Ok(TenantRecord {
                id: TenantId(r.get::<_, String>(0)?.into()),
                name: r.get(1)?,
                created: Timestamp::from_micros(r.get(2)?),
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    fn create_user(&self, name: &str, password_hash: Option<&str>, now: Timestamp) -> Result<()> {
        users::create_user(&self.lock(), name, password_hash, now)
    }

    fn grant(&self, user: &str, tenant: &TenantId, role: Role) -> Result<()> {
        users::grant(&self.lock(), user, tenant, role)
    }

    fn revoke_grant(&self, user: &str, tenant: &TenantId) -> Result<bool> {
        users::revoke_grant(&self.lock(), user, tenant)
    }

    fn remove_user(&self, name: &str) -> Result<bool> {
        users::remove_user(&self.lock(), name)
    }

    fn user(&self, name: &str) -> Result<Option<UserRecord>> {
        users::user_record(&self.lock(), name)
    }

    fn add_user_token(&self, user: &str, token_hash: &[u8; 32], label: &str, now: Timestamp) -> Result<()> {
        users::add_user_token(&self.lock(), user, token_hash, label, now)
    }

    fn user_for_token(&self, token_hash: &[u8; 32]) -> Result<Option<UserRecord>> {
        users::user_for_token(&self.lock(), token_hash)
    }

    fn user_tokens(&self, user: &str) -> Result<Vec<TokenRecord>> {
        users::user_tokens(&self.lock(), user)
    }

    fn remove_user_token(&self, token_hash: &[u8; 32]) -> Result<bool> {
        users::remove_user_token(&self.lock(), token_hash)
    }

    fn set_password(&self, user: &str, password_hash: &str) -> Result<()> {
        users::set_password(&self.lock(), user, password_hash)
    }

    fn create_sensor(
        &self,
        tenant: &TenantId,
        name: &str,
        token_hash: &[u8; 32],
        now: Timestamp,
    ) -> Result<SensorRecord> {
        if !valid_name(name) {
            return Err(invalid_name("sensor", name));
        }
        let id = format!("{}:{name}", tenant.0);
        let connection = self.lock();
        let known: bool =
            connection.query_row("SELECT count(*) FROM tenants WHERE id = ?1", [&*tenant.0], |r| r.get(0))?;
        if !known {
            return Err(StoreError::NotFound(format!("tenant {}", tenant.0)));
        }
        connection
            .execute(
                "INSERT INTO sensors (id, tenant, name, token_hash, created) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![id, &*tenant.0, name, &token_hash[..], micros(now)],
            )
            .map_err(|e| exists_or(e, &format!("sensor {id}")))?;
        Ok(SensorRecord {
            id,
            tenant: tenant.clone(),
            name: name.to_owned(),
            created: now,
            last_seen: None,
            version: None,
            status: None,
        })
    }

    fn sensor_for_token(&self, token_hash: &[u8; 32]) -> Result<Option<SensorRecord>> {
        let connection = self.lock();
        let row = connection
            .query_row(
                &format!("SELECT {SENSOR_COLUMNS} FROM sensors WHERE token_hash = ?1"),
                [&token_hash[..]],
                sensor_row,
            )
            .optional()?;
        row.map(sensor_record).transpose()
    }

    fn sensors(&self, tenant: &TenantId) -> Result<Vec<SensorRecord>> {
        let connection = self.lock();
        let mut statement = connection
            .prepare(&format!("SELECT {SENSOR_COLUMNS} FROM sensors WHERE tenant = ?1 ORDER BY name"))?;
        let rows = statement.query_map([&*tenant.0], sensor_row)?;
        rows.map(|r| sensor_record(r?)).collect()
    }

    fn remove_sensor(&self, tenant: &TenantId, name: &str) -> Result<bool> {
        users::remove_sensor(&self.lock(), tenant, name)
    }

    fn heartbeat(
        &self,
        tenant: &TenantId,
        sensor: &str,
        now: Timestamp,
        version: &str,
        status: &serde_json::Value,
    ) -> Result<()> {
        let changed = self.lock().execute(
            "UPDATE sensors SET last_seen = ?1, version = ?2, status = ?3 WHERE tenant = ?4 AND id = ?5",
            params![micros(now), version, status.to_string(), &*tenant.0, sensor],
        )?;
        if changed == 0 {
            return Err(StoreError::NotFound(format!("sensor {sensor}")));
        }
        Ok(())
    }

    fn ingest(
        &self,
        tenant: &TenantId,
        sensor: &str,
        sequence: u64,
        activities: &[Activity],
        now: Timestamp,
    ) -> Result<Ingested> {
        let mut connection = self.lock();
        let transaction = connection.transaction()?;
        let count = i64::try_from(activities.len()).unwrap_or(i64::MAX);
        let inserted = transaction.execute(
            "INSERT INTO batches (sensor_id, sequence, received, activities)
             SELECT id, ?2, ?3, ?4 FROM sensors WHERE id = ?1 AND tenant = ?5
             ON CONFLICT (sensor_id, sequence) DO NOTHING",
            params![sensor, seq(sequence)?, micros(now), count, &*tenant.0],
        )?;
        if inserted == 0 {
            let known: bool = transaction.query_row(
                "SELECT count(*) FROM sensors WHERE id = ?1 AND tenant = ?2",
                params![sensor, &*tenant.0],
                |r| r.get(0),
            )?;
            return if known {
                Ok(Ingested::Duplicate)
            } else {
                Err(StoreError::NotFound(format!("sensor {sensor}")))
            };
        }
        {
            let mut insert_block = transaction.prepare_cached(
                "INSERT INTO activity_blocks (tenant, first_time, last_time, count, encoding, data)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )?;
            let mut insert_entity = transaction.prepare_cached(
                "INSERT OR IGNORE INTO block_entities (tenant, entity, last_time, block) VALUES (?1, ?2, ?3, ?4)",
            )?;
            for block in blocks::blocks(tenant, activities)? {
                insert_block.execute(params![
                    &*tenant.0,
                    block.first_time,
                    block.last_time,
                    block.count,
                    block.encoding,
                    block.data
                ])?;
                let id = transaction.last_insert_rowid();
                for entity in &block.entities {
                    insert_entity.execute(params![&*tenant.0, entity, block.last_time, id])?;
                }
            }
        }
        transaction.commit()?;
        Ok(Ingested::Stored(activities.len()))
    }

    fn activities(&self, tenant: &TenantId, query: &ActivityQuery) -> Result<Vec<Activity>> {
        let window = Window {
            entity: query.entity.as_deref(),
            since: query.since.map_or(i64::MIN, micros),
            until: query.until.map_or(i64::MAX, micros),
            limit: usize::try_from(activity_limit(query.limit)).unwrap_or(100),
        };
        let connection = self.lock();
        // The candidate blocks, newest first (ids and times only: the index answers).
        let candidates: Vec<(i64, i64)> = match window.entity {
            Some(entity) => {
                let mut statement = connection.prepare_cached(
                    "SELECT e.block, e.last_time FROM block_entities e JOIN activity_blocks b ON b.id = e.block
                     WHERE e.tenant = ?1 AND e.entity = ?2 AND e.last_time >= ?3 AND b.first_time <= ?4
                     ORDER BY e.last_time DESC, e.block DESC",
                )?;
                let rows = statement
                    .query_map(params![&*tenant.0, entity, window.since, window.until], |r| {
                        Ok((r.get(0)?, r.get(1)?))
                    })?;
                rows.collect::<rusqlite::Result<_>>()?
            }
            None => {
                let mut statement = connection.prepare_cached(
                    "SELECT id, last_time FROM activity_blocks
                     WHERE tenant = ?1 AND last_time >= ?2 AND first_time <= ?3 ORDER BY last_time DESC, id DESC",
                )?;
                let rows = statement.query_map(params![&*tenant.0, window.since, window.until], |r| {
                    Ok((r.get(0)?, r.get(1)?))
                })?;
                rows.collect::<rusqlite::Result<_>>()?
            }
        };
        let mut load = connection
            .prepare_cached("SELECT encoding, data FROM activity_blocks WHERE id = ?1 AND tenant = ?2")?;
        blocks::newest(
            &candidates,
            |id| Ok(load.query_row(params![id, &*tenant.0], |r| Ok((r.get(0)?, r.get(1)?)))?),
            &window,
        )
    }

    fn activity_count(&self, tenant: &TenantId) -> Result<u64> {
        let count: i64 = self.lock().query_row(
            "SELECT coalesce(sum(count), 0) FROM activity_blocks WHERE tenant = ?1",
            [&*tenant.0],
            |r| r.get(0),
        )?;
        Ok(u64::try_from(count).unwrap_or_default())
    }

    fn activities_after(&self, tenant: &TenantId, after: i64, limit: usize) -> Result<Vec<(i64, Activity)>> {
        let limit = usize::try_from(activity_limit(limit)).unwrap_or(100);
        let connection = self.lock();
        let (first_block, _) = blocks::resume_at(after);
        let mut statement = connection.prepare_cached(
            "SELECT id, encoding, data FROM activity_blocks WHERE tenant = ?1 AND id >= ?2 ORDER BY id",
        )?;
        let rows = statement
            .query_map(params![&*tenant.0, first_block], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
        blocks::after(rows.map(|r| r.map_err(StoreError::from)), after, limit)
    }

    fn prune_activities(&self, before: Timestamp) -> Result<u64> {
        let before = micros(before);
        let mut connection = self.lock();
        let transaction = connection.transaction()?;
        let mut removed: i64 = transaction.query_row(
            "SELECT coalesce(sum(count), 0) FROM activity_blocks WHERE last_time < ?1",
            [before],
            |r| r.get(0),
        )?;
        transaction.execute("DELETE FROM block_entities WHERE last_time < ?1", [before])?;
        transaction.execute("DELETE FROM activity_blocks WHERE last_time < ?1", [before])?;
        // Blocks that straddle the limit lose their older activities.
        let straddling: Vec<(i64, String, String, Vec<u8>, i64)> = {
            let mut statement = transaction.prepare(
                "SELECT id, tenant, encoding, data, last_time FROM activity_blocks WHERE first_time < ?1",
            )?;
            let rows = statement
                .query_map([before], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)))?;
            rows.collect::<rusqlite::Result<_>>()?
        };
        for (id, tenant, encoding, data, last_time) in straddling {
            let (dropped, kept) = blocks::trimmed(&encoding, &data, before)?;
            removed += i64::try_from(dropped).unwrap_or(0);
            transaction.execute(
                "DELETE FROM block_entities WHERE block = ?1 AND last_time = ?2",
                params![id, last_time],
            )?;
            let Some(kept) = kept else {
                transaction.execute("DELETE FROM activity_blocks WHERE id = ?1", [id])?;
                continue;
            };
            transaction.execute(
                "UPDATE activity_blocks SET first_time = ?2, last_time = ?3, count = ?4, encoding = ?5, data = ?6
                 WHERE id = ?1",
                params![id, kept.first_time, kept.last_time, kept.count, kept.encoding, kept.data],
            )?;
            for entity in &kept.entities {
                transaction.execute(
                    "INSERT OR IGNORE INTO block_entities (tenant, entity, last_time, block) VALUES (?1, ?2, ?3, ?4)",
                    params![tenant, entity, kept.last_time, id],
                )?;
            }
        }
        transaction.commit()?;
        Ok(u64::try_from(removed).unwrap_or_default())
    }

    fn upsert_alert(&self, alert: &Alert) -> Result<Upserted> {
        let record = serde_json::to_string(alert)?;
        let tenant = &*alert.tenant.0;
        let count = i64::try_from(alert.count).unwrap_or(i64::MAX);
        let mut connection = self.lock();
        let transaction = connection.transaction()?;
        let known: Option<(String, i64)> = transaction
            .query_row(ALERT_STATE, params![tenant, &alert.id], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()?;
        let outcome = match known {
            None => {
                transaction.execute(
                    &format!(
                        "INSERT INTO alerts ({ALERT_COLUMNS}) VALUES (?1, ?2, ?3, ?4, 'open', ?5, ?6, ?7, ?8)"
                    ),
                    params![
                        &alert.id,
                        tenant,
                        alert.detection,
                        alert.severity.to_string(),
                        micros(alert.first_seen),
                        micros(alert.last_seen),
                        count,
                        record
                    ],
                )?;
                Upserted::New
            }
            Some((stored_status, last_seen)) => {
                let reopen = stored_status == "closed" && micros(alert.last_seen) > last_seen;
                transaction.execute(
                    "UPDATE alerts SET detection = ?3, severity = ?4, status = ?5,
                        first_seen = min(first_seen, ?6), last_seen = max(last_seen, ?7), count = ?8, record = ?9
                     WHERE tenant = ?1 AND id = ?2",
                    params![
                        tenant,
                        &alert.id,
                        alert.detection,
                        alert.severity.to_string(),
                        if reopen { "open" } else { stored_status.as_str() },
                        micros(alert.first_seen),
                        micros(alert.last_seen),
                        count,
                        record
                    ],
                )?;
                transaction.execute(SQLITE_DELETE_ENTITY_ROWS, params![tenant, &alert.id])?;
                if reopen { Upserted::Reopened } else { Upserted::Updated }
            }
        };
        transaction.execute(crate::SET_INCIDENT, params![tenant, &alert.id, &alert.incident])?;
        {
            let mut insert = transaction.prepare_cached(INSERT_ALERT_ENTITY)?;
            for entity in alert_entities(alert) {
                insert.execute(params![tenant, entity, &alert.id])?;
            }
        }
        transaction.commit()?;
        Ok(outcome)
    }

    fn alerts(&self, tenant: &TenantId, filter: &AlertFilter, page: Page) -> Result<AlertPage> {
        let listing = alert_listing(&tenant.0, filter, page, '?')?;
        let values: Vec<Value> = listing
            .values
            .into_iter()
            .map(|v| match v {
                FilterValue::Text(text) => Value::Text(text),
                FilterValue::Integer(n) => Value::Integer(n),
            })
            .collect();
        let connection = self.lock();
        let total: i64 =
            connection.query_row(&listing.count, params_from_iter(values.iter()), |r| r.get(0))?;
        let mut statement = connection.prepare(&listing.page)?;
        let rows = statement.query_map(params_from_iter(values.iter()), alert_row)?;
        let alerts = rows.map(|r| alert_record(r?)).collect::<Result<Vec<_>>>()?;
        Ok(AlertPage { alerts, total: u64::try_from(total).unwrap_or_default() })
    }

    fn alert(&self, tenant: &TenantId, id: &str) -> Result<Option<AlertRecord>> {
        let connection = self.lock();
        let row = connection
            .query_row(
                &format!("SELECT {ALERT_COLUMNS} FROM alerts WHERE tenant = ?1 AND id = ?2"),
                params![&*tenant.0, id],
                alert_row,
            )
            .optional()?;
        let Some(row) = row else { return Ok(None) };
        let mut record = alert_record(row)?;
        let mut statement = connection
            .prepare("SELECT time, author, text FROM alert_comments WHERE tenant = ?1 AND alert = ?2 ORDER BY time, id")?;
        let comments = statement.query_map(params![&*tenant.0, id], |r| {
            Ok(Comment { time: Timestamp::from_micros(r.get(0)?), author: r.get(1)?, text: r.get(2)? })
        })?;
        record.comments = comments.collect::<rusqlite::Result<_>>()?;
        let mut statement = connection.prepare_cached(lifecycle::SELECT_CHANGES)?;
        let rows = statement.query_map(params![&*tenant.0, id], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get::<_, String>(2)?, r.get(3)?, r.get(4)?))
        })?;
        for row in rows {
            let (time, author, status, classification, reason) = row?;
            record.history.push(lifecycle::change_from_row(time, author, &status, classification, reason)?);
        }
        Ok(Some(record))
    }

    fn incidents(&self, tenant: &TenantId, page: Page) -> Result<IncidentPage> {
        incidents::incidents(&self.lock(), tenant, page)
    }

    fn alert_incidents(&self, tenant: &TenantId) -> Result<Vec<(String, String)>> {
        incidents::alert_incidents(&self.lock(), tenant)
    }

    fn top_entities(&self, tenant: &TenantId, limit: usize) -> Result<Vec<(String, u64)>> {
        incidents::top_entities(&self.lock(), tenant, limit)
    }

    fn alert_histogram(&self, tenant: &TenantId, since: Timestamp) -> Result<Vec<AlertBucket>> {
        let connection = self.lock();
        let mut statement = connection.prepare(
            "SELECT first_seen / ?3, detection, severity, status, count(*) FROM alerts
             WHERE tenant = ?1 AND first_seen >= ?2 GROUP BY 1, 2, 3, 4 ORDER BY 1, 2",
        )?;
        let rows = statement.query_map(params![&*tenant.0, micros(since), DAY_MICROS], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, String>(3)?,
                r.get::<_, i64>(4)?,
            ))
        })?;
        let mut buckets = Vec::new();
        for row in rows {
            let (day, detection, severity_text, status_text, count) = row?;
            buckets.push(AlertBucket {
                day: Timestamp::from_micros(day * DAY_MICROS),
                detection,
                severity: severity(&severity_text)?,
                status: status(&status_text)?,
                count: u64::try_from(count).unwrap_or_default(),
            });
        }
        Ok(buckets)
    }

    fn set_alert_status(&self, tenant: &TenantId, id: &str, status: AlertStatus) -> Result<bool> {
        let mut connection = self.lock();
        let transaction = connection.transaction()?;
        let changed = transaction.execute(
            "UPDATE alerts SET status = ?3 WHERE tenant = ?1 AND id = ?2",
            params![&*tenant.0, id, status.name()],
        )?;
        transaction.execute(SQLITE_SET_ENTITY_STATUS, params![&*tenant.0, id, status.name()])?;
        transaction.commit()?;
        Ok(changed > 0)
    }

    fn change_status(&self, tenant: &TenantId, id: &str, change: &StatusChange) -> Result<bool> {
        change.check()?;
        let mut connection = self.lock();
        let transaction = connection.transaction()?;
        let classification = change.classification.map(|c| c.name());
        let kept = transaction.execute(
            lifecycle::INSERT_CHANGE,
            params![
                &*tenant.0,
                id,
                micros(change.time),
                change.author,
                change.status.name(),
                classification,
                change.reason
            ],
        )?;
        transaction.execute(
            "UPDATE alerts SET status = ?3 WHERE tenant = ?1 AND id = ?2",
            params![&*tenant.0, id, change.status.name()],
        )?;
        transaction.execute(SQLITE_SET_ENTITY_STATUS, params![&*tenant.0, id, change.status.name()])?;
        transaction.commit()?;
        Ok(kept > 0)
    }

    fn comment(&self, tenant: &TenantId, id: &str, author: &str, text: &str, now: Timestamp) -> Result<bool> {
        if !valid_comment(text) {
            return Err(invalid_comment());
        }
        let changed = self.lock().execute(
            "INSERT INTO alert_comments (tenant, alert, time, author, text)
             SELECT ?1, ?2, ?3, ?4, ?5 WHERE EXISTS (SELECT 1 FROM alerts WHERE tenant = ?1 AND id = ?2)",
            params![&*tenant.0, id, micros(now), author, text],
        )?;
        Ok(changed > 0)
    }

    fn add_exclusion(
        &self,
        tenant: &TenantId,
        exclusion: &NewExclusion,
        now: Timestamp,
    ) -> Result<ExclusionRecord> {
        if exclusion.value.trim().is_empty() || exclusion.detection.trim().is_empty() {
            return Err(StoreError::Invalid("an exclusion names a detection (or global) and a value".into()));
        }
        let connection = self.lock();
        connection
            .execute(
                "INSERT INTO exclusions (tenant, detection, kind, value, reason, created) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![
                    &*tenant.0,
                    exclusion.detection,
                    exclusion.kind.name(),
                    exclusion.value.trim(),
                    exclusion.reason,
                    micros(now)
                ],
            )
            .map_err(|e| match exists_or(e, "exclusion") {
                // The tenant is checked by its foreign key.
                StoreError::Exists(_) => StoreError::Exists(format!(
                    "exclusion {} {} for {} (or tenant {} unknown)",
                    exclusion.kind.name(),
                    exclusion.value,
                    exclusion.detection,
                    tenant.0
                )),
                other => other,
            })?;
        Ok(ExclusionRecord {
            id: connection.last_insert_rowid(),
            exclusion: NewExclusion { value: exclusion.value.trim().to_owned(), ..exclusion.clone() },
            created: now,
        })
    }

    fn exclusions(&self, tenant: &TenantId) -> Result<Vec<ExclusionRecord>> {
        let connection = self.lock();
        let mut statement = connection.prepare(
            "SELECT id, detection, kind, value, reason, created FROM exclusions WHERE tenant = ?1 ORDER BY id",
        )?;
        let rows = statement.query_map([&*tenant.0], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, String>(3)?,
                r.get::<_, String>(4)?,
                r.get::<_, i64>(5)?,
            ))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (id, detection, kind, value, reason, created) = row?;
            let kind = ExclusionKind::parse(&kind)
                .ok_or_else(|| StoreError::Invalid(format!("stored exclusion kind {kind:?}")))?;
            out.push(ExclusionRecord {
                id,
                exclusion: NewExclusion { detection, kind, value, reason },
                created: Timestamp::from_micros(created),
            });
        }
        Ok(out)
    }

    fn remove_exclusion(&self, tenant: &TenantId, id: i64) -> Result<bool> {
        let changed = self
            .lock()
            .execute("DELETE FROM exclusions WHERE tenant = ?1 AND id = ?2", params![&*tenant.0, id])?;
        Ok(changed > 0)
    }

    fn put_directory(&self, tenant: &TenantId, snapshot: &[u8], now: Timestamp) -> Result<()> {
        let connection = self.lock();
        let known: bool = connection.query_row(
            "SELECT EXISTS(SELECT 1 FROM tenants WHERE id = ?1)",
            [&*tenant.0],
            |r| r.get(0),
        )?;
        if !known {
            return Err(StoreError::NotFound(format!("tenant {}", tenant.0)));
        }
        connection.execute(
            "INSERT INTO directories (tenant, snapshot, updated) VALUES (?1, ?2, ?3)
             ON CONFLICT (tenant) DO UPDATE SET snapshot = excluded.snapshot, updated = excluded.updated",
            rusqlite::params![&*tenant.0, snapshot, now.as_micros()],
        )?;
        Ok(())
    }

    fn directory(&self, tenant: &TenantId) -> Result<Option<(Vec<u8>, Timestamp)>> {
        let connection = self.lock();
        let found = connection
            .query_row("SELECT snapshot, updated FROM directories WHERE tenant = ?1", [&*tenant.0], |r| {
                Ok((r.get::<_, Vec<u8>>(0)?, r.get::<_, i64>(1)?))
            })
            .optional()?;
        Ok(found.map(|(bytes, updated)| (bytes, Timestamp::from_micros(updated))))
    }
}

#[cfg(test)]
#[path = "sqlite_tests.rs"]
mod tests;
