//! A tenant's alerts: list with filters, one with its comments, status, comments.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use orthrus_model::{Severity, TenantId, Timestamp};
use orthrus_store::{AlertFilter, AlertRecord, AlertStatus, Classification, Page, StatusChange};
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
        fields.insert("history".into(), json!(record.history));
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
    let guidance = orthrus_detect::detections::meta(&record.detection)
        .map(|m| json!({"meaning": m.meaning, "impact": m.impact, "actions": m.actions}));
    let mut alert = alert_json(record);
    // What the detection means and what to do: on one alert only, not on every list row.
    if let (Some(fields), Some(guidance)) = (alert.as_object_mut(), guidance) {
        fields.insert("guidance".into(), guidance);
    }
    Ok(Json(alert).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct StatusRequest {
    status: AlertStatus,
    /// Required when closing: true_positive, benign_true_positive or false_positive.
    classification: Option<Classification>,
    #[serde(default)]
    reason: String,
}

pub(super) async fn set_status(
    State(state): State<Arc<AppState>>,
    scope: Scoped<Token, Analyst>,
    Path((_, id)): Path<(String, String)>,
    Json(request): Json<StatusRequest>,
) -> ApiResult {
    if request.status == AlertStatus::Closed && request.classification.is_none() {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "closing an alert needs a classification: true_positive, benign_true_positive or false_positive",
        ));
    }
    let change = StatusChange {
        time: (state.clock)(),
        author: scope.user.name.clone(),
        status: request.status,
        classification: request.classification,
        reason: request.reason.trim().to_owned(),
    };
    if !blocking(|| state.store.change_status(&scope.tenant, &id, &change))? {
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
