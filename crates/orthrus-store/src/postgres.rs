//! The PostgreSQL store, for larger deployments: the same schema and behaviour as SQLite's
//! (the storage suite runs against both), over the synchronous `postgres` client (the
//! tokio-postgres project's blocking wrapper: the store's callers are blocking threads).
//! One connection behind a mutex for now; batches are one transaction each.

use std::sync::{Mutex, MutexGuard};

use orthrus_model::{Activity, Alert, TenantId, Timestamp};
use postgres::types::ToSql;
use postgres::{Client, NoTls, Row};

use crate::blocks::{self, Window};
use crate::lifecycle::{self, StatusChange};
use crate::postgres_users::{self as users, count, exists_or};
use crate::rows::{
    ALERT_COLUMNS, AlertRow, FilterValue, INSERT_ALERT_ENTITY, SENSOR_COLUMNS, SET_ENTITY_STATUS, SensorRow,
    activity_limit, alert_listing, alert_record, invalid_comment, invalid_name, invalid_tenant, micros,
    sensor_record, seq, severity, status, valid_comment, valid_name,
};
use crate::{
    ALERT_INCIDENTS_QUERY, ActivityQuery, AlertBucket, AlertFilter, AlertPage, AlertRecord, AlertStatus,
    Comment, DAY_MICROS, ExclusionKind, ExclusionRecord, INCIDENT_COUNT_QUERY, INCIDENTS_QUERY, IncidentPage,
    Ingested, NewExclusion, Page, Result, Role, SET_INCIDENT, SensorRecord, Store, StoreError,
    TOP_ENTITIES_QUERY, TOP_ENTITIES_SAMPLE, TenantRecord, TokenRecord, Upserted, UserRecord, alert_entities,
    incident_summary, valid_tenant_id,
};

mod embedded {
    refinery::embed_migrations!("migrations/postgres");
}

pub struct PostgresStore {
    client: Mutex<Client>,
}

impl PostgresStore {
    /// Connects (`postgres://user:password@host/database`, or key=value form) and brings the
    /// schema up to date.
    pub fn connect(url: &str) -> Result<Self> {
        Self::connect_with(&url.parse()?)
    }

    pub fn connect_with(config: &postgres::Config) -> Result<Self> {
        let mut client = config.connect(NoTls)?;
        embedded::migrations::runner().run(&mut client).map_err(|e| StoreError::Migration(e.to_string()))?;
        Ok(Self { client: Mutex::new(client) })
    }

    fn lock(&self) -> MutexGuard<'_, Client> {
        self.client.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

fn alert_row(row: &Row) -> Result<AlertRow> {
    Ok((
        row.try_get(0)?,
        row.try_get(1)?,
        row.try_get(2)?,
        row.try_get(3)?,
        row.try_get(4)?,
        row.try_get(5)?,
        row.try_get(6)?,
        row.try_get(7)?,
        row.try_get(8)?,
    ))
}

fn sensor_row(row: &Row) -> Result<SensorRow> {
    Ok((
        row.try_get(0)?,
        row.try_get(1)?,
        row.try_get(2)?,
        row.try_get(3)?,
        row.try_get(4)?,
        row.try_get(5)?,
        row.try_get(6)?,
    ))
}

impl Store for PostgresStore {
    fn create_tenant(&self, id: &TenantId, name: &str, now: Timestamp) -> Result<TenantRecord> {
        if !valid_tenant_id(&id.0) {
            return Err(invalid_tenant(&id.0));
        }
        self.lock()
            .execute(
                "INSERT INTO tenants (id, name, created) VALUES ($1, $2, $3)",
                &[&&*id.0, &name, &micros(now)],
            )
            .map_err(|e| exists_or(e, &format!("tenant {}", id.0)))?;
        Ok(TenantRecord { id: id.clone(), name: name.to_owned(), created: now })
    }

    fn tenants(&self) -> Result<Vec<TenantRecord>> {
        let rows = self.lock().query("SELECT id, name, created FROM tenants ORDER BY id", &[])?;
        rows.iter()
            .map(|r| {
                Ok(TenantRecord {
                    id: TenantId(r.try_get::<_, String>(0)?.into()),
                    name: r.try_get(1)?,
                    created: Timestamp::from_micros(r.try_get(2)?),
                })
            })
            .collect()
    }

    fn create_user(&self, name: &str, password_hash: Option<&str>, now: Timestamp) -> Result<()> {
        users::create_user(&mut self.lock(), name, password_hash, now)
    }

    fn grant(&self, user: &str, tenant: &TenantId, role: Role) -> Result<()> {
        users::grant(&mut self.lock(), user, tenant, role)
    }

    fn revoke_grant(&self, user: &str, tenant: &TenantId) -> Result<bool> {
        users::revoke_grant(&mut self.lock(), user, tenant)
    }

    fn remove_user(&self, name: &str) -> Result<bool> {
        users::remove_user(&mut self.lock(), name)
    }

    fn user(&self, name: &str) -> Result<Option<UserRecord>> {
        users::user_record(&mut self.lock(), name)
    }

    fn add_user_token(&self, user: &str, token_hash: &[u8; 32], label: &str, now: Timestamp) -> Result<()> {
        users::add_user_token(&mut self.lock(), user, token_hash, label, now)
    }

    fn user_for_token(&self, token_hash: &[u8; 32]) -> Result<Option<UserRecord>> {
        users::user_for_token(&mut self.lock(), token_hash)
    }

    fn user_tokens(&self, user: &str) -> Result<Vec<TokenRecord>> {
        users::user_tokens(&mut self.lock(), user)
    }

    fn remove_user_token(&self, token_hash: &[u8; 32]) -> Result<bool> {
        users::remove_user_token(&mut self.lock(), token_hash)
    }

    fn set_password(&self, user: &str, password_hash: &str) -> Result<()> {
        users::set_password(&mut self.lock(), user, password_hash)
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
        let mut client = self.lock();
        if count(&mut client, "SELECT count(*) FROM tenants WHERE id = $1", &[&&*tenant.0])? == 0 {
            return Err(StoreError::NotFound(format!("tenant {}", tenant.0)));
        }
        client
            .execute(
                "INSERT INTO sensors (id, tenant, name, token_hash, created) VALUES ($1, $2, $3, $4, $5)",
                &[&id, &&*tenant.0, &name, &&token_hash[..], &micros(now)],
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
        let row = self.lock().query_opt(
            &format!("SELECT {SENSOR_COLUMNS} FROM sensors WHERE token_hash = $1"),
            &[&&token_hash[..]],
        )?;
        row.map(|r| sensor_record(sensor_row(&r)?)).transpose()
    }

    fn sensors(&self, tenant: &TenantId) -> Result<Vec<SensorRecord>> {
        let rows = self.lock().query(
            &format!("SELECT {SENSOR_COLUMNS} FROM sensors WHERE tenant = $1 ORDER BY name"),
            &[&&*tenant.0],
        )?;
        rows.iter().map(|r| sensor_record(sensor_row(r)?)).collect()
    }

    fn remove_sensor(&self, tenant: &TenantId, name: &str) -> Result<bool> {
        users::remove_sensor(&mut self.lock(), tenant, name)
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
            "UPDATE sensors SET last_seen = $1, version = $2, status = $3 WHERE tenant = $4 AND id = $5",
            &[&micros(now), &version, &status.to_string(), &&*tenant.0, &sensor],
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
        let mut client = self.lock();
        let mut transaction = client.transaction()?;
        let batch_size = i64::try_from(activities.len()).unwrap_or(i64::MAX);
        let inserted = transaction.execute(
            "INSERT INTO batches (sensor_id, sequence, received, activities)
             SELECT id, $2, $3, $4 FROM sensors WHERE id = $1 AND tenant = $5
             ON CONFLICT (sensor_id, sequence) DO NOTHING",
            &[&sensor, &seq(sequence)?, &micros(now), &batch_size, &&*tenant.0],
        )?;
        if inserted == 0 {
            let known: i64 = transaction
                .query_one(
                    "SELECT count(*) FROM sensors WHERE id = $1 AND tenant = $2",
                    &[&sensor, &&*tenant.0],
                )?
                .try_get(0)?;
            return if known > 0 {
                Ok(Ingested::Duplicate)
            } else {
                Err(StoreError::NotFound(format!("sensor {sensor}")))
            };
        }
        let insert_block = transaction.prepare(
            "INSERT INTO activity_blocks (tenant, first_time, last_time, count, encoding, data)
             VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
        )?;
        let insert_entity = transaction.prepare(
            "INSERT INTO block_entities (tenant, entity, last_time, block) VALUES ($1, $2, $3, $4)
             ON CONFLICT DO NOTHING",
        )?;
        for block in blocks::blocks(tenant, activities)? {
            let id: i64 = transaction
                .query_one(
                    &insert_block,
                    &[
                        &&*tenant.0,
                        &block.first_time,
                        &block.last_time,
                        &block.count,
                        &block.encoding,
                        &block.data,
                    ],
                )?
                .try_get(0)?;
            for entity in &block.entities {
                transaction.execute(&insert_entity, &[&&*tenant.0, entity, &block.last_time, &id])?;
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
        let mut client = self.lock();
        let rows = match window.entity {
            Some(entity) => client.query(
                "SELECT e.block, e.last_time FROM block_entities e JOIN activity_blocks b ON b.id = e.block
                 WHERE e.tenant = $1 AND e.entity = $2 AND e.last_time >= $3 AND b.first_time <= $4
                 ORDER BY e.last_time DESC, e.block DESC",
                &[&&*tenant.0, &entity, &window.since, &window.until],
            )?,
            None => client.query(
                "SELECT id, last_time FROM activity_blocks
                 WHERE tenant = $1 AND last_time >= $2 AND first_time <= $3 ORDER BY last_time DESC, id DESC",
                &[&&*tenant.0, &window.since, &window.until],
            )?,
        };
        let candidates: Vec<(i64, i64)> =
            rows.iter().map(|r| Ok((r.try_get(0)?, r.try_get(1)?))).collect::<Result<_>>()?;
        let load =
            client.prepare("SELECT encoding, data FROM activity_blocks WHERE id = $1 AND tenant = $2")?;
        blocks::newest(
            &candidates,
            |id| {
                let row = client.query_one(&load, &[&id, &&*tenant.0])?;
                Ok((row.try_get(0)?, row.try_get(1)?))
            },
            &window,
        )
    }

    fn activity_count(&self, tenant: &TenantId) -> Result<u64> {
        let n = count(
            &mut self.lock(),
            "SELECT coalesce(sum(count), 0)::BIGINT FROM activity_blocks WHERE tenant = $1",
            &[&&*tenant.0],
        )?;
        Ok(u64::try_from(n).unwrap_or_default())
    }

    fn activities_after(&self, tenant: &TenantId, after: i64, limit: usize) -> Result<Vec<(i64, Activity)>> {
        let limit = usize::try_from(activity_limit(limit)).unwrap_or(100);
        let (first_block, first_index) = blocks::resume_at(after);
        let mut client = self.lock();
        // Only the blocks the page needs are read: their sizes first, then their data.
        let sizes = client.query(
            "SELECT id, count FROM activity_blocks WHERE tenant = $1 AND id >= $2 ORDER BY id LIMIT $3",
            &[&&*tenant.0, &first_block, &i64::try_from(limit + 1).unwrap_or(i64::MAX)],
        )?;
        let mut available = 0usize;
        let mut last = first_block;
        for row in &sizes {
            let (id, count): (i64, i64) = (row.try_get(0)?, row.try_get(1)?);
            let count = usize::try_from(count).unwrap_or(0);
            last = id;
            available += if id == first_block { count.saturating_sub(first_index) } else { count };
            if available >= limit {
                break;
            }
        }
        let rows = client.query(
            "SELECT id, encoding, data FROM activity_blocks WHERE tenant = $1 AND id >= $2 AND id <= $3 ORDER BY id",
            &[&&*tenant.0, &first_block, &last],
        )?;
        blocks::after(rows.iter().map(|r| Ok((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?))), after, limit)
    }

    fn prune_activities(&self, before: Timestamp) -> Result<u64> {
        let before = micros(before);
        let mut client = self.lock();
        let mut transaction = client.transaction()?;
        let mut removed: i64 = transaction
            .query_one(
                "SELECT coalesce(sum(count), 0)::BIGINT FROM activity_blocks WHERE last_time < $1",
                &[&before],
            )?
            .try_get(0)?;
        transaction.execute("DELETE FROM block_entities WHERE last_time < $1", &[&before])?;
        transaction.execute("DELETE FROM activity_blocks WHERE last_time < $1", &[&before])?;
        // Blocks that straddle the limit lose their older activities.
        let straddling = transaction.query(
            "SELECT id, tenant, encoding, data, last_time FROM activity_blocks WHERE first_time < $1",
            &[&before],
        )?;
        for row in straddling {
            let (id, tenant, encoding, data, last_time): (i64, String, String, Vec<u8>, i64) =
                (row.try_get(0)?, row.try_get(1)?, row.try_get(2)?, row.try_get(3)?, row.try_get(4)?);
            let (dropped, kept) = blocks::trimmed(&encoding, &data, before)?;
            removed += i64::try_from(dropped).unwrap_or(0);
            transaction.execute(
                "DELETE FROM block_entities WHERE block = $1 AND last_time = $2",
                &[&id, &last_time],
            )?;
            let Some(kept) = kept else {
                transaction.execute("DELETE FROM activity_blocks WHERE id = $1", &[&id])?;
                continue;
            };
            transaction.execute(
                "UPDATE activity_blocks SET first_time = $2, last_time = $3, count = $4, encoding = $5, data = $6
                 WHERE id = $1",
                &[&id, &kept.first_time, &kept.last_time, &kept.count, &kept.encoding, &kept.data],
            )?;
            for entity in &kept.entities {
                transaction.execute(
                    "INSERT INTO block_entities (tenant, entity, last_time, block) VALUES ($1, $2, $3, $4)
                     ON CONFLICT DO NOTHING",
                    &[&tenant, entity, &kept.last_time, &id],
                )?;
            }
        }
        transaction.commit()?;
        Ok(u64::try_from(removed).unwrap_or_default())
    }

    fn upsert_alert(&self, alert: &Alert) -> Result<Upserted> {
        let record = serde_json::to_string(alert)?;
        let tenant = &*alert.tenant.0;
        let alert_count = i64::try_from(alert.count).unwrap_or(i64::MAX);
        let severity = alert.severity.to_string();
        let mut client = self.lock();
        let mut transaction = client.transaction()?;
        let known = transaction.query_opt(
            "SELECT status, last_seen FROM alerts WHERE tenant = $1 AND id = $2 FOR UPDATE",
            &[&tenant, &alert.id],
        )?;
        let outcome = match known {
            None => {
                transaction.execute(
                    &format!(
                        "INSERT INTO alerts ({ALERT_COLUMNS}) VALUES ($1, $2, $3, $4, 'open', $5, $6, $7, $8)"
                    ),
                    &[
                        &alert.id,
                        &tenant,
                        &alert.detection,
                        &severity,
                        &micros(alert.first_seen),
                        &micros(alert.last_seen),
                        &alert_count,
                        &record,
                    ],
                )?;
                Upserted::New
            }
            Some(row) => {
                let stored_status: String = row.try_get(0)?;
                let last_seen: i64 = row.try_get(1)?;
                let reopen = stored_status == "closed" && micros(alert.last_seen) > last_seen;
                let status = if reopen { "open" } else { stored_status.as_str() };
                transaction.execute(
                    "UPDATE alerts SET detection = $3, severity = $4, status = $5,
                        first_seen = LEAST(first_seen, $6), last_seen = GREATEST(last_seen, $7), count = $8,
                        record = $9
                     WHERE tenant = $1 AND id = $2",
                    &[
                        &tenant,
                        &alert.id,
                        &alert.detection,
                        &severity,
                        &status,
                        &micros(alert.first_seen),
                        &micros(alert.last_seen),
                        &alert_count,
                        &record,
                    ],
                )?;
                transaction.execute(
                    "DELETE FROM alert_entities WHERE tenant = $1 AND alert = $2",
                    &[&tenant, &alert.id],
                )?;
                if reopen { Upserted::Reopened } else { Upserted::Updated }
            }
        };
        transaction.execute(&lifecycle::dollars(SET_INCIDENT), &[&tenant, &alert.id, &alert.incident])?;
        let insert = transaction.prepare(&lifecycle::dollars(INSERT_ALERT_ENTITY))?;
        for entity in alert_entities(alert) {
            transaction.execute(&insert, &[&tenant, &entity, &alert.id])?;
        }
        transaction.commit()?;
        Ok(outcome)
    }

    fn alerts(&self, tenant: &TenantId, filter: &AlertFilter, page: Page) -> Result<AlertPage> {
        let listing = alert_listing(&tenant.0, filter, page, '$')?;
        let values: Vec<Box<dyn ToSql + Sync>> = listing
            .values
            .into_iter()
            .map(|v| -> Box<dyn ToSql + Sync> {
                match v {
                    FilterValue::Text(text) => Box::new(text),
                    FilterValue::Integer(n) => Box::new(n),
                }
            })
            .collect();
        let params: Vec<&(dyn ToSql + Sync)> = values.iter().map(|v| v.as_ref()).collect();
        let mut client = self.lock();
        let total = count(&mut client, &listing.count, &params)?;
        let rows = client.query(&listing.page, &params)?;
        let alerts = rows.iter().map(|r| alert_record(alert_row(r)?)).collect::<Result<Vec<_>>>()?;
        Ok(AlertPage { alerts, total: u64::try_from(total).unwrap_or_default() })
    }

    fn alert(&self, tenant: &TenantId, id: &str) -> Result<Option<AlertRecord>> {
        let mut client = self.lock();
        let row = client.query_opt(
            &format!("SELECT {ALERT_COLUMNS} FROM alerts WHERE tenant = $1 AND id = $2"),
            &[&&*tenant.0, &id],
        )?;
        let Some(row) = row else { return Ok(None) };
        let mut record = alert_record(alert_row(&row)?)?;
        let comments = client.query(
            "SELECT time, author, text FROM alert_comments WHERE tenant = $1 AND alert = $2 ORDER BY time, id",
            &[&&*tenant.0, &id],
        )?;
        record.comments = comments
            .iter()
            .map(|r| {
                Ok(Comment {
                    time: Timestamp::from_micros(r.try_get(0)?),
                    author: r.try_get(1)?,
                    text: r.try_get(2)?,
                })
            })
            .collect::<Result<_>>()?;
        for row in client.query(&lifecycle::dollars(lifecycle::SELECT_CHANGES), &[&&*tenant.0, &id])? {
            record.history.push(lifecycle::change_from_row(
                row.try_get(0)?,
                row.try_get(1)?,
                &row.try_get::<_, String>(2)?,
                row.try_get(3)?,
                row.try_get(4)?,
            )?);
        }
        Ok(Some(record))
    }

    fn incidents(&self, tenant: &TenantId, page: Page) -> Result<IncidentPage> {
        let mut connection = self.lock();
        let dollars = lifecycle::dollars;
        let total: i64 = connection.query_one(&dollars(INCIDENT_COUNT_QUERY), &[&&*tenant.0])?.try_get(0)?;
        let limit = i64::try_from(page.limit).unwrap_or(i64::MAX);
        let rows =
            connection.query(&dollars(INCIDENTS_QUERY), &[&&*tenant.0, &limit, &page.sql_offset()?])?;
        let mut incidents = Vec::new();
        for row in rows {
            let entity: String = row.try_get(0)?;
            let numbers =
                (row.try_get(1)?, row.try_get(2)?, row.try_get(3)?, row.try_get(4)?, row.try_get(5)?);
            incidents.push(incident_summary(&entity, numbers));
        }
        Ok(IncidentPage { incidents, total: u64::try_from(total).unwrap_or_default() })
    }

    fn alert_incidents(&self, tenant: &TenantId) -> Result<Vec<(String, String)>> {
        let rows = self.lock().query(&lifecycle::dollars(ALERT_INCIDENTS_QUERY), &[&&*tenant.0])?;
        rows.iter().map(|row| Ok((row.try_get(0)?, row.try_get(1)?))).collect()
    }

    fn top_entities(&self, tenant: &TenantId, limit: usize) -> Result<Vec<(String, u64)>> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let sample = i64::try_from(TOP_ENTITIES_SAMPLE).unwrap_or(i64::MAX);
        let rows =
            self.lock().query(&lifecycle::dollars(TOP_ENTITIES_QUERY), &[&&*tenant.0, &limit, &sample])?;
        let mut out = Vec::new();
        for row in rows {
            let count: i64 = row.try_get(1)?;
            out.push((row.try_get(0)?, u64::try_from(count).unwrap_or_default()));
        }
        Ok(out)
    }

    fn alert_histogram(&self, tenant: &TenantId, since: Timestamp) -> Result<Vec<AlertBucket>> {
        let rows = self.lock().query(
            "SELECT first_seen / $3, detection, severity, status, count(*) FROM alerts
             WHERE tenant = $1 AND first_seen >= $2 GROUP BY 1, 2, 3, 4 ORDER BY 1, 2",
            &[&&*tenant.0, &micros(since), &DAY_MICROS],
        )?;
        let mut buckets = Vec::new();
        for row in rows {
            let day: i64 = row.try_get(0)?;
            let count: i64 = row.try_get(4)?;
            buckets.push(AlertBucket {
                day: Timestamp::from_micros(day * DAY_MICROS),
                detection: row.try_get(1)?,
                severity: severity(&row.try_get::<_, String>(2)?)?,
                status: status(&row.try_get::<_, String>(3)?)?,
                count: u64::try_from(count).unwrap_or_default(),
            });
        }
        Ok(buckets)
    }

    fn set_alert_status(&self, tenant: &TenantId, id: &str, status: AlertStatus) -> Result<bool> {
        let mut client = self.lock();
        let mut transaction = client.transaction()?;
        let changed = transaction.execute(
            "UPDATE alerts SET status = $3 WHERE tenant = $1 AND id = $2",
            &[&&*tenant.0, &id, &status.name()],
        )?;
        transaction.execute(&lifecycle::dollars(SET_ENTITY_STATUS), &[&&*tenant.0, &id, &status.name()])?;
        transaction.commit()?;
        Ok(changed > 0)
    }

    fn change_status(&self, tenant: &TenantId, id: &str, change: &StatusChange) -> Result<bool> {
        change.check()?;
        let mut client = self.lock();
        let mut transaction = client.transaction()?;
        let classification = change.classification.map(|c| c.name());
        let kept = transaction.execute(
            &lifecycle::dollars(lifecycle::INSERT_CHANGE),
            &[
                &&*tenant.0,
                &id,
                &micros(change.time),
                &change.author,
                &change.status.name(),
                &classification,
                &change.reason,
            ],
        )?;
        transaction.execute(
            "UPDATE alerts SET status = $3 WHERE tenant = $1 AND id = $2",
            &[&&*tenant.0, &id, &change.status.name()],
        )?;
        transaction
            .execute(&lifecycle::dollars(SET_ENTITY_STATUS), &[&&*tenant.0, &id, &change.status.name()])?;
        transaction.commit()?;
        Ok(kept > 0)
    }

    fn comment(&self, tenant: &TenantId, id: &str, author: &str, text: &str, now: Timestamp) -> Result<bool> {
        if !valid_comment(text) {
            return Err(invalid_comment());
        }
        let changed = self.lock().execute(
            "INSERT INTO alert_comments (tenant, alert, time, author, text)
             SELECT $1, $2, $3, $4, $5 WHERE EXISTS (SELECT 1 FROM alerts WHERE tenant = $1 AND id = $2)",
            &[&&*tenant.0, &id, &micros(now), &author, &text],
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
        let value = exclusion.value.trim();
        let row = self
            .lock()
            .query_one(
                "INSERT INTO exclusions (tenant, detection, kind, value, reason, created)
                 VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
                &[
                    &&*tenant.0,
                    &exclusion.detection,
                    &exclusion.kind.name(),
                    &value,
                    &exclusion.reason,
                    &micros(now),
                ],
            )
            .map_err(|e| {
                exists_or(
                    e,
                    &format!(
                        "exclusion {} {value} for {} (tenant {})",
                        exclusion.kind.name(),
                        exclusion.detection,
                        tenant.0
                    ),
                )
            })?;
        Ok(ExclusionRecord {
            id: row.try_get(0)?,
            exclusion: NewExclusion { value: value.to_owned(), ..exclusion.clone() },
            created: now,
        })
    }

    fn exclusions(&self, tenant: &TenantId) -> Result<Vec<ExclusionRecord>> {
        let rows = self.lock().query(
            "SELECT id, detection, kind, value, reason, created FROM exclusions WHERE tenant = $1 ORDER BY id",
            &[&&*tenant.0],
        )?;
        rows.iter()
            .map(|r| {
                let kind: String = r.try_get(2)?;
                let kind = ExclusionKind::parse(&kind)
                    .ok_or_else(|| StoreError::Invalid(format!("stored exclusion kind {kind:?}")))?;
                Ok(ExclusionRecord {
                    id: r.try_get(0)?,
                    exclusion: NewExclusion {
                        detection: r.try_get(1)?,
                        kind,
                        value: r.try_get(3)?,
                        reason: r.try_get(4)?,
                    },
                    created: Timestamp::from_micros(r.try_get(5)?),
                })
            })
            .collect()
    }

    fn remove_exclusion(&self, tenant: &TenantId, id: i64) -> Result<bool> {
        let changed = self
            .lock()
            .execute("DELETE FROM exclusions WHERE tenant = $1 AND id = $2", &[&&*tenant.0, &id])?;
        Ok(changed > 0)
    }

    fn put_directory(&self, tenant: &TenantId, snapshot: &[u8], now: Timestamp) -> Result<()> {
        self.lock()
            .execute(
                "INSERT INTO directories (tenant, snapshot, updated) VALUES ($1, $2, $3)
                 ON CONFLICT (tenant) DO UPDATE SET snapshot = excluded.snapshot, updated = excluded.updated",
                &[&&*tenant.0, &snapshot, &now.as_micros()],
            )
            .map_err(|e| exists_or(e, &format!("tenant {}", tenant.0)))?;
        Ok(())
    }

    fn directory(&self, tenant: &TenantId) -> Result<Option<(Vec<u8>, Timestamp)>> {
        let row = self
            .lock()
            .query_opt("SELECT snapshot, updated FROM directories WHERE tenant = $1", &[&&*tenant.0])?;
        row.map(|r| Ok((r.try_get(0)?, Timestamp::from_micros(r.try_get(1)?)))).transpose()
    }
}
