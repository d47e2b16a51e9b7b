//! Row values to records, the same for every backend.

use orthrus_model::{Severity, TenantId, Timestamp};

use crate::{AlertRecord, AlertStatus, Result, SensorRecord, StoreError};

/// Names of users and sensors: 1 to 64 letters, digits, `.`, `-`, `_`.
pub fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

pub(crate) fn severity(text: &str) -> Result<Severity> {
    Ok(serde_json::from_value(serde_json::Value::String(text.to_owned()))?)
}

pub(crate) fn status(text: &str) -> Result<AlertStatus> {
    AlertStatus::parse(text).ok_or_else(|| StoreError::Invalid(format!("stored alert status {text:?}")))
}

/// `id, tenant, detection, severity, status, first_seen, last_seen, count, record`.
pub(crate) type AlertRow = (String, String, String, String, String, i64, i64, i64, String);

pub(crate) const ALERT_COLUMNS: &str =
    "id, tenant, detection, severity, status, first_seen, last_seen, count, record";

/// The stored alert, its record's `status` made current (comments are loaded apart).
pub(crate) fn alert_record(row: AlertRow) -> Result<AlertRecord> {
    let (id, tenant, detection, severity_text, status_text, first_seen, last_seen, count, record) = row;
    let status = status(&status_text)?;
    let mut alert: serde_json::Value = serde_json::from_str(&record)?;
    if let Some(fields) = alert.as_object_mut() {
        fields.insert("status".into(), serde_json::Value::String(status.name().into()));
    }
    Ok(AlertRecord {
        id,
        tenant: TenantId(tenant.into()),
        detection,
        severity: severity(&severity_text)?,
        status,
        first_seen: Timestamp::from_micros(first_seen),
        last_seen: Timestamp::from_micros(last_seen),
        count: u64::try_from(count).unwrap_or_default(),
        alert,
        comments: Vec::new(),
        history: Vec::new(),
    })
}

/// `id, tenant, name, created, last_seen, version, status`.
pub(crate) type SensorRow = (String, String, String, i64, Option<i64>, Option<String>, Option<String>);

pub(crate) const SENSOR_COLUMNS: &str = "id, tenant, name, created, last_seen, version, status";

pub(crate) fn sensor_record(row: SensorRow) -> Result<SensorRecord> {
    let (id, tenant, name, created, last_seen, version, status) = row;
    Ok(SensorRecord {
        id,
        tenant: TenantId(tenant.into()),
        name,
        created: Timestamp::from_micros(created),
        last_seen: last_seen.map(Timestamp::from_micros),
        version,
        status: status.map(|s| serde_json::from_str(&s)).transpose()?,
    })
}

pub(crate) fn invalid_name(what: &str, name: &str) -> StoreError {
    StoreError::Invalid(format!("{what} name {name:?}: use 1 to 64 letters, digits, ., - or _"))
}

pub(crate) fn invalid_tenant(id: &str) -> StoreError {
    StoreError::Invalid(format!("tenant id {id:?}: use 1 to 64 lower-case letters, digits, - or _"))
}

pub(crate) fn invalid_comment() -> StoreError {
    StoreError::Invalid(format!("a comment has 1 to {MAX_COMMENT_CHARS} characters"))
}

/// Longest comment kept.
pub(crate) const MAX_COMMENT_CHARS: usize = 10_000;
/// Most activities one query returns.
pub(crate) const MAX_ACTIVITIES: usize = 10_000;

/// The number of activities a query asks for, bounded.
pub(crate) fn activity_limit(asked: usize) -> i64 {
    i64::try_from(match asked {
        0 => 100,
        n => n.min(MAX_ACTIVITIES),
    })
    .unwrap_or(100)
}

pub(crate) fn valid_comment(text: &str) -> bool {
    !text.trim().is_empty() && text.chars().count() <= MAX_COMMENT_CHARS
}

pub(crate) fn micros(t: Timestamp) -> i64 {
    t.as_micros()
}

/// A batch sequence number as the databases store it.
pub(crate) fn seq(n: u64) -> Result<i64> {
    i64::try_from(n).map_err(|_| StoreError::Invalid(format!("sequence {n} is out of range")))
}

/// A value an alert filter binds.
pub(crate) enum FilterValue {
    Text(String),
    Integer(i64),
}

/// An alert's entity row, with the alert's last activity and status as just stored (the
/// listing of an entity's alerts reads them from this table's index alone). `?1` tenant, `?2`
/// entity, `?3` alert.
pub(crate) const INSERT_ALERT_ENTITY: &str = "INSERT INTO alert_entities (tenant, entity, alert, last_seen, status) \
     SELECT ?1, ?2, ?3, last_seen, status FROM alerts WHERE tenant = ?1 AND id = ?3 ON CONFLICT DO NOTHING";

/// An alert's new status on its entity rows too. `?1` tenant, `?2` alert, `?3` status. SQLite
/// runs [`SQLITE_SET_ENTITY_STATUS`].
#[cfg_attr(not(feature = "postgres"), allow(dead_code))]
pub(crate) const SET_ENTITY_STATUS: &str =
    "UPDATE alert_entities SET status = ?3 WHERE tenant = ?1 AND alert = ?2";

/// An alert's entity rows, found by the alert. Without statistics SQLite's planner reads them
/// through `alert_entities_by_time` by tenant alone (the columns it covers make it look cheap):
/// every entity row of the tenant for each alert stored, closed or ranked, which made storing
/// 100 000 alerts take minutes instead of seconds. `INDEXED BY` says which index answers.
pub(crate) const SQLITE_ENTITY_ROWS_OF_ALERT: &str =
    "SELECT entity FROM alert_entities INDEXED BY alert_entities_by_alert WHERE tenant = ?1 AND alert = ?2";
pub(crate) const SQLITE_DELETE_ENTITY_ROWS: &str =
    "DELETE FROM alert_entities INDEXED BY alert_entities_by_alert WHERE tenant = ?1 AND alert = ?2";
/// [`SET_ENTITY_STATUS`] with its index named. `?3` the status.
pub(crate) const SQLITE_SET_ENTITY_STATUS: &str = "UPDATE alert_entities INDEXED BY alert_entities_by_alert SET status = ?3 WHERE tenant = ?1 AND alert = ?2";

/// One page of an alert listing as SQL: the count, and the page's records (`?N` placeholders,
/// or `$N` for PostgreSQL), over `values`.
pub(crate) struct Listing {
    pub count: String,
    pub page: String,
    pub values: Vec<FilterValue>,
}

/// The SQL of one page of a tenant's alerts. An entity's alerts, with or without a status, are
/// counted and chosen from `alert_entities` alone (its rows carry each alert's last activity
/// and status); any other filter goes through the alerts' own listing index.
pub(crate) fn alert_listing(
    tenant: &str,
    filter: &crate::AlertFilter,
    page: crate::Page,
    mark: char,
) -> Result<Listing> {
    let limit = page.limit.clamp(1, crate::MAX_PAGE);
    let offset = page.sql_offset()?;
    let only_entity = filter.severity.is_none()
        && filter.detection.is_none()
        && filter.since.is_none()
        && filter.until.is_none();
    if let (Some(entity), true) = (&filter.entity, only_entity) {
        let mut values = vec![FilterValue::Text(tenant.to_owned()), FilterValue::Text(entity.clone())];
        let mut clause = format!("tenant = {mark}1 AND entity = {mark}2");
        if let Some(status) = filter.status {
            values.push(FilterValue::Text(status.name().into()));
            clause.push_str(&format!(" AND status = {mark}3"));
        }
        return Ok(Listing {
            count: format!("SELECT count(*) FROM alert_entities WHERE {clause}"),
            page: picked_alerts(
                &format!(
                    "SELECT alert AS pick FROM alert_entities WHERE {clause} ORDER BY last_seen DESC, alert"
                ),
                limit,
                offset,
                mark,
            ),
            values,
        });
    }
    let (conditions, values) = alert_conditions(tenant, filter);
    let clause = where_clause(&conditions, mark);
    Ok(Listing {
        count: format!("SELECT count(*) FROM alerts WHERE {clause}"),
        page: picked_alerts(
            &format!("SELECT id AS pick FROM alerts WHERE {clause} ORDER BY last_seen DESC, id"),
            limit,
            offset,
            mark,
        ),
        values,
    })
}

/// The records of one page of alert ids that `ids` (selecting `pick`, in listing order) gives.
/// The page is chosen over ids first (from an index), then only its rows are read, joined by
/// their key: sorting every matching record whole made deep pages slow with 100 000 alerts,
/// and `id IN (…)` or a plain join let SQLite's planner scan every alert of the tenant against
/// the page (a CROSS JOIN keeps the page the outer loop in SQLite; PostgreSQL plans it as any
/// inner join).
fn picked_alerts(ids: &str, limit: usize, offset: i64, mark: char) -> String {
    let columns: Vec<String> = ALERT_COLUMNS.split(", ").map(|c| format!("a.{c}")).collect();
    format!(
        "SELECT {} FROM ({ids} LIMIT {limit} OFFSET {offset}) p \
         CROSS JOIN alerts a WHERE a.tenant = {mark}1 AND a.id = p.pick ORDER BY a.last_seen DESC, a.id",
        columns.join(", ")
    )
}

/// The WHERE conditions of an alert listing, the tenant first: each condition holds `{}`
/// where its value's placeholder goes (`?N` in SQLite, `$N` in PostgreSQL), and `{tenant}`
/// where the tenant's goes again.
fn alert_conditions(tenant: &str, filter: &crate::AlertFilter) -> (Vec<String>, Vec<FilterValue>) {
    let mut conditions = vec!["tenant = {}".to_owned()];
    let mut values = vec![FilterValue::Text(tenant.to_owned())];
    let mut bind = |condition: &str, value: FilterValue| {
        conditions.push(condition.to_owned());
        values.push(value);
    };
    if let Some(severity) = filter.severity {
        bind("severity = {}", FilterValue::Text(severity.to_string()));
    }
    if let Some(status) = filter.status {
        bind("status = {}", FilterValue::Text(status.name().into()));
    }
    if let Some(detection) = &filter.detection {
        bind("detection = {}", FilterValue::Text(detection.clone()));
    }
    if let Some(since) = filter.since {
        bind("last_seen >= {}", FilterValue::Integer(micros(since)));
    }
    if let Some(until) = filter.until {
        bind("first_seen <= {}", FilterValue::Integer(micros(until)));
    }
    if let Some(entity) = &filter.entity {
        bind(
            "id IN (SELECT alert FROM alert_entities WHERE tenant = {tenant} AND entity = {})",
            FilterValue::Text(entity.clone()),
        );
    }
    (conditions, values)
}

/// The conditions joined with AND, placeholders numbered by `mark` (`?` or `$`).
fn where_clause(conditions: &[String], mark: char) -> String {
    conditions
        .iter()
        .enumerate()
        .map(|(n, c)| c.replace("{tenant}", &format!("{mark}1")).replace("{}", &format!("{mark}{}", n + 1)))
        .collect::<Vec<_>>()
        .join(" AND ")
}
