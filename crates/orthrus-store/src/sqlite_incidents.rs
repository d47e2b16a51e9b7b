//! SQLite: the incident listing and the entities most open alerts name (the queries are
//! shared with PostgreSQL, in lib.rs).

use orthrus_model::TenantId;
use rusqlite::{Connection, params};

use crate::{
    INCIDENT_COUNT_QUERY, INCIDENTS_QUERY, IncidentPage, Page, Result, TOP_ENTITIES_QUERY,
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

pub(crate) fn top_entities(
    connection: &Connection,
    tenant: &TenantId,
    limit: usize,
) -> Result<Vec<(String, u64)>> {
    let mut statement = connection.prepare_cached(TOP_ENTITIES_QUERY)?;
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let sample = i64::try_from(TOP_ENTITIES_SAMPLE).unwrap_or(i64::MAX);
    let rows =
        statement.query_map(params![&*tenant.0, limit, sample], |r| Ok((r.get(0)?, r.get::<_, i64>(1)?)))?;
    let mut out = Vec::new();
    for row in rows {
        let (entity, count) = row?;
        out.push((entity, u64::try_from(count).unwrap_or_default()));
    }
    Ok(out)
}
