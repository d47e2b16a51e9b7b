//! A tenant's alerts: list with filters, one with its comments, status, comments.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use orthrus_model::{Severity, TenantId, Timestamp};
use orthrus_store::{AlertFilter, AlertRecord, AlertStatus, Page};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::error::{ApiError, ApiResult};
use crate::scope::{Analyst, Scoped, Token, Viewer};
use crate::state::{AppState, blocking};

#[derive(Deserialize, Default)]
pub(super) struct AlertQuery {
    severity: Option<Severity>,
    status: Option<AlertStatus>,
    detection: Option<String>,
    since: Option<Timestamp>,
    until: Option<Timestamp>,
    entity: Option<String>,
    offset: Option<usize>,
    limit: Option<usize>,
}

pub(super) async fn alerts(
    State(state): State<Arc<AppState>>,
    scope: Scoped<Token, Viewer>,
    Query(query): Query<AlertQuery>,
) -> ApiResult {
    let filter = AlertFilter {
        severity: query.severity,
        status: query.status,
        detection: query.detection,
        since: query.since,
        until: query.until,
        entity: query.entity,
    };
    let page = Page { offset: query.offset.unwrap_or(0), limit: query.limit.unwrap_or(100) };
    let found = blocking(|| state.store.alerts(&scope.tenant, &filter, page))?;
    let alerts: Vec<Value> = found.alerts.into_iter().map(alert_json).collect();
    Ok(Json(json!({ "total": found.total, "offset": page.offset, "alerts": alerts })).into_response())
}

/// A stored alert as the API shows it: the alert record with its comments.
pub(super) fn alert_json(record: AlertRecord) -> Value {
    let mut alert = record.alert;
    if let Some(fields) = alert.as_object_mut() {
        fields.insert("comments".into(), json!(record.comments));
    }
    alert
}

pub(super) async fn alert(
    State(state): State<Arc<AppState>>,
    scope: Scoped<Token, Viewer>,
    Path((_, id)): Path<(String, String)>,
) -> ApiResult {
    stored_alert(&state, &scope.tenant, &id)
}

fn no_alert(id: &str) -> ApiError {
    ApiError::not_found(format_args!("alert {id}"))
}

/// The alert as the API shows it (with its comments), or 404.
fn stored_alert(state: &AppState, tenant: &TenantId, id: &str) -> ApiResult {
    let record = blocking(|| state.store.alert(tenant, id))?.ok_or_else(|| no_alert(id))?;
    Ok(Json(alert_json(record)).into_response())
}

#[derive(Deserialize)]
pub(super) struct StatusChange {
    status: AlertStatus,
}

pub(super) async fn set_status(
    State(state): State<Arc<AppState>>,
    scope: Scoped<Token, Analyst>,
    Path((_, id)): Path<(String, String)>,
    Json(change): Json<StatusChange>,
) -> ApiResult {
    if !blocking(|| state.store.set_alert_status(&scope.tenant, &id, change.status))? {
        return Err(no_alert(&id));
    }
    stored_alert(&state, &scope.tenant, &id)
}

#[derive(Deserialize)]
pub(super) struct NewComment {
    text: String,
}

pub(super) async fn comment(
    State(state): State<Arc<AppState>>,
    scope: Scoped<Token, Analyst>,
    Path((_, id)): Path<(String, String)>,
    Json(new): Json<NewComment>,
) -> ApiResult {
    let now = (state.clock)();
    if !blocking(|| state.store.comment(&scope.tenant, &id, &scope.user.name, &new.text, now))? {
        return Err(no_alert(&id));
    }
    Ok(StatusCode::CREATED.into_response())
}
