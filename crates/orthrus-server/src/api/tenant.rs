//! A tenant's setting and state: the tenants a caller may see, sensors, health issues,
//! exclusions and the directory snapshot.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use orthrus_directory::Snapshot;
use orthrus_store::NewExclusion;
use serde_json::{Value, json};

use crate::error::{ApiError, ApiResult};
use crate::scope::{Admin, Caller, Scoped, Token, Viewer};
use crate::state::{AppState, blocking, with_center};

pub(super) async fn tenants(caller: Caller<Token>) -> ApiResult {
    let granted: Vec<Value> = caller
        .user
        .grants
        .iter()
        .map(|(tenant, role)| json!({ "tenant": tenant.0.as_ref(), "role": role.name() }))
        .collect();
    Ok(Json(json!({ "user": caller.user.name, "tenants": granted })).into_response())
}

pub(super) async fn upload_directory(
    State(state): State<Arc<AppState>>,
    scope: Scoped<Token, Admin>,
    request: axum::extract::Request,
) -> ApiResult {
    // Read only once the caller may: another tenant's user learns nothing of the body.
    let encoding = crate::body::content_encoding(request.headers());
    let body = crate::body::read(request, &state).await?;
    let snapshot: Snapshot =
        crate::body::decode_off_thread(&state, encoding, body, crate::body::MAX_SNAPSHOT_BYTES).await?;
    let snapshot = Snapshot::checked(snapshot).map_err(ApiError::bad_request)?;
    let objects: usize = snapshot.domains.iter().map(|d| d.objects.len()).sum();
    let domains = snapshot.domains.len();
    let now = (state.clock)();
    let tenant = scope.tenant;
    with_center(state, move |center| center.set_directory(&tenant, snapshot, now)).await?;
    Ok(Json(json!({ "domains": domains, "objects": objects })).into_response())
}

pub(super) async fn directory_summary(
    State(state): State<Arc<AppState>>,
    scope: Scoped<Token, Viewer>,
) -> ApiResult {
    let tenant = scope.tenant;
    let (directory, updated) =
        with_center(state, move |center| Ok((center.directory(&tenant), center.directory_uploaded(&tenant))))
            .await?;
    let domains: Vec<Value> = directory
        .iter()
        .flat_map(|d| d.snapshot().domains.iter())
        .map(
            |d| json!({ "dns_name": d.dns_name, "netbios_name": d.netbios_name, "objects": d.objects.len() }),
        )
        .collect();
    Ok(Json(json!({ "updated": updated, "domains": domains })).into_response())
}

pub(super) async fn sensors(State(state): State<Arc<AppState>>, scope: Scoped<Token, Viewer>) -> ApiResult {
    Ok(Json(json!({ "sensors": blocking(|| state.store.sensors(&scope.tenant))? })).into_response())
}

pub(super) async fn health(State(state): State<Arc<AppState>>, scope: Scoped<Token, Viewer>) -> ApiResult {
    let tenant = scope.tenant;
    let issues: Vec<Value> = with_center(state, move |center| {
        Ok(center
            .open_health_issues(&tenant)
            .into_iter()
            .map(|issue| {
                json!({
                    "id": issue.kind.id(),
                    "external_id": issue.kind.external_id(),
                    "title": issue.kind.title(),
                    "severity": issue.severity,
                    "sensor": issue.sensor,
                    "message": issue.message,
                    "opened": issue.opened,
                    "last_seen": issue.last_seen,
                })
            })
            .collect())
    })
    .await?;
    Ok(Json(json!({ "issues": issues })).into_response())
}

pub(super) async fn exclusions(
    State(state): State<Arc<AppState>>,
    scope: Scoped<Token, Viewer>,
) -> ApiResult {
    Ok(Json(json!({ "exclusions": blocking(|| state.store.exclusions(&scope.tenant))? })).into_response())
}

pub(super) async fn add_exclusion(
    State(state): State<Arc<AppState>>,
    scope: Scoped<Token, Admin>,
    Json(new): Json<NewExclusion>,
) -> ApiResult {
    let known = new.detection == "global" || orthrus_detect::detections::meta(&new.detection).is_some();
    if !known {
        return Err(ApiError::bad_request(format!(
            "{} names no detection (use global or an id from `orthrus detections list`)",
            new.detection
        )));
    }
    if new.kind == orthrus_store::ExclusionKind::Address && orthrus_center::parse_net(&new.value).is_none() {
        return Err(ApiError::bad_request(format!("{:?} is not an address or a subnet", new.value)));
    }
    let added = blocking(|| state.store.add_exclusion(&scope.tenant, &new, (state.clock)()))?;
    Ok((StatusCode::CREATED, Json(json!(added))).into_response())
}

pub(super) async fn remove_exclusion(
    State(state): State<Arc<AppState>>,
    scope: Scoped<Token, Admin>,
    Path((_, id)): Path<(String, String)>,
) -> ApiResult {
    let not_found = || ApiError::not_found(format_args!("exclusion {id}"));
    let number: i64 = id.parse().map_err(|_| not_found())?;
    if !blocking(|| state.store.remove_exclusion(&scope.tenant, number))? {
        return Err(not_found());
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}
