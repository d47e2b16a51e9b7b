//! SQLite: the incident listing and the entities most open alerts name (the queries are
//! shared with PostgreSQL, in lib.rs).

use orthrus_model::TenantId;
use rusqlite::{Connection, params};

use crate::{
    ALERT_INCIDENTS_QUERY, INCIDENT_COUNT_QUERY, INCIDENTS_QUERY, IncidentPage, Page, Result,
    TOP_ENTITIES_SAMPLE, incident_summary,
};

pub(crate) fn incidents(connection: &Connection, tenant: &TenantId, page: Page) -> Result<IncidentPage> {
    let total: i64 = connection.query_row(INCIDENT_COUNT_QUERY, [&*tenant.0], |r| r.get(0))?;
    let mut statement = connection.prepare_cached(INCIDENTS_QUERY)?;
    let limit = i64::try_from(page.limit).unwrap_or(i64::MAX);
    let rows = statement.query_map(params![&*tenant.0, limit, page.sql_offset()?], |r| {
        Ok((r.get::<_, String>(0)?, (r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?)))
    })?;
    let mut incidents = Vec::new();
    for row in rows {
        let (entity, numbers) = row?;
        incidents.push(incident_summary(&entity, numbers));
    }
    Ok(IncidentPage { incidents, total: u64::try_from(total).unwrap_or_default() })
}

pub(crate) fn alert_incidents(connection: &Connection, tenant: &TenantId) -> Result<Vec<(String, String)>> {
    let mut statement = connection.prepare_cached(ALERT_INCIDENTS_QUERY)?;
    let rows = statement.query_map([&*tenant.0], |r| Ok((r.get(0)?, r.get(1)?)))?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// `TOP_ENTITIES_QUERY`'s ranking in two steps: the latest open alerts by the last-seen
/// index (`+status` keeps SQLite's planner off the status index, which would sort every open
/// alert), then each one's entities by the by-alert index. As one join SQLite took 400 ms with
/// 100 000 alerts; this takes a few.
pub(crate) fn top_entities(
    connection: &Connection,
    tenant: &TenantId,
    limit: usize,
) -> Result<Vec<(String, u64)>> {
    let sample = i64::try_from(TOP_ENTITIES_SAMPLE).unwrap_or(i64::MAX);
    let mut latest = connection.prepare_cached(
        "SELECT id FROM alerts WHERE tenant = ?1 AND +status = 'open' ORDER BY last_seen DESC LIMIT ?2",
    )?;
    let ids: Vec<String> =
        latest.query_map(params![&*tenant.0, sample], |r| r.get(0))?.collect::<rusqlite::Result<_>>()?;
    let mut entities_of = connection.prepare_cached(crate::rows::SQLITE_ENTITY_ROWS_OF_ALERT)?;
    let mut counts: std::collections::HashMap<String, u64> = std::collections::HashMap::new();
    for id in &ids {
        for entity in entities_of.query_map(params![&*tenant.0, id], |r| r.get::<_, String>(0))? {
            let entity = entity?;
            if !entity.starts_with("incident:") {
                *counts.entry(entity).or_default() += 1;
            }
        }
    }
    let mut ranked: Vec<(String, u64)> = counts.into_iter().collect();
    ranked.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    ranked.truncate(limit);
    Ok(ranked)
}
