//! A tenant's incidents: the listing, and one with its alerts, stages and entities.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::response::IntoResponse;
use orthrus_store::Page;
use serde::Deserialize;
use serde_json::{Value, json};

use super::alerts::alert_json;
use crate::error::{ApiError, ApiResult};
use crate::scope::{Scoped, Token, Viewer};
use crate::state::{AppState, blocking};

#[derive(Deserialize, Default)]
pub(super) struct IncidentQuery {
    offset: Option<usize>,
    limit: Option<usize>,
}

pub(super) async fn incidents(
    State(state): State<Arc<AppState>>,
    scope: Scoped<Token, Viewer>,
    Query(query): Query<IncidentQuery>,
) -> ApiResult {
    let page = Page { offset: query.offset.unwrap_or(0), limit: query.limit.unwrap_or(100) };
    let found = blocking(|| state.store.incidents(&scope.tenant, page))?;
    let incidents: Vec<Value> = found
        .incidents
        .iter()
        .map(|i| {
            json!({
                "id": i.id, "status": if i.open > 0 { "open" } else { "closed" }, "severity": i.severity,
                "alerts": i.alerts, "open_alerts": i.open, "first_seen": i.first_seen, "last_seen": i.last_seen,
            })
        })
        .collect();
    Ok(Json(json!({ "total": found.total, "offset": page.offset, "incidents": incidents })).into_response())
}

pub(super) async fn incident(
    State(state): State<Arc<AppState>>,
    scope: Scoped<Token, Viewer>,
    Path((_, id)): Path<(String, String)>,
) -> ApiResult {
    let view = blocking(|| crate::incident::load(&*state.store, &scope.tenant, &id))?
        .ok_or_else(|| ApiError::not_found(format_args!("incident {id}")))?;
    let alerts: Vec<Value> = view.alerts.into_iter().map(|(record, _)| alert_json(record)).collect();
    Ok(Json(json!({
        "id": view.id, "status": view.status, "severity": view.severity,
        "first_seen": view.first_seen, "last_seen": view.last_seen,
        "stages": view.stages, "entities": view.entities,
        "alerts": alerts, "alerts_omitted": view.omitted,
    }))
    .into_response())
}
