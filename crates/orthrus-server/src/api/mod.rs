//! The REST API: sensor intake (a sensor's token) and the tenant-scoped routes (a user's API
//! token, the caller's role in the tenant checked by [`crate::scope::Scoped`]). [`ROUTES`]
//! is the table the router and the OpenAPI document are both built from.

mod alerts;
mod entities;
mod incidents;
mod intake;
mod openapi;
mod tenant;

use std::sync::Arc;

use axum::Router;
use axum::extract::{DefaultBodyLimit, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use orthrus_store::credentials::token_hash;

pub use openapi::openapi_document;

use crate::error::ApiError;
use crate::scope::{Authenticated, bearer};
use crate::state::{AppState, IntakeCounters, blocking};

/// Every route: method, path, who may call it, what it does. The router and the OpenAPI
/// document are both built from this table, so they cannot disagree.
pub const ROUTES: &[(&str, &str, &str, &str)] = &[
    (
        "post",
        "/api/v1/sensor/batches",
        "sensor",
        "Store a sensor's batch of activities once (idempotent by sequence) and run the detections",
    ),
    (
        "post",
        "/api/v1/sensor/heartbeat",
        "sensor",
        "Record a sensor's heartbeat (version, capture, event and buffer counters)",
    ),
    ("get", "/api/v1/tenants", "viewer", "The tenants the caller may see, with its role in each"),
    (
        "get",
        "/api/v1/tenants/{tenant}/alerts",
        "viewer",
        "Alerts, newest first; filters severity, status, detection, since, until, entity; paging offset, limit",
    ),
    (
        "get",
        "/api/v1/tenants/{tenant}/alerts/{id}",
        "viewer",
        "One alert with its comments, status history and its detection's guidance (meaning, impact, recommended actions)",
    ),
    (
        "patch",
        "/api/v1/tenants/{tenant}/alerts/{id}",
        "analyst",
        "Change an alert's status (open, closed, suppressed); closing needs a classification (true_positive, benign_true_positive, false_positive), a reason is optional; kept in its history",
    ),
    ("post", "/api/v1/tenants/{tenant}/alerts/{id}/comments", "analyst", "Comment on an alert"),
    (
        "get",
        "/api/v1/tenants/{tenant}/incidents",
        "viewer",
        "Incidents (alerts sharing an entity within a window), latest first; paging offset, limit",
    ),
    (
        "get",
        "/api/v1/tenants/{tenant}/incidents/{id}",
        "viewer",
        "One incident: its alerts in order, the attack stages they cover, the entities involved",
    ),
    (
        "get",
        "/api/v1/tenants/{tenant}/entities/{entity}/timeline",
        "viewer",
        "An entity's activities, newest first (entity key: account:NAME, computer:NAME, ip:ADDRESS)",
    ),
    ("get", "/api/v1/tenants/{tenant}/sensors", "viewer", "The tenant's sensors with their last heartbeat"),
    ("get", "/api/v1/tenants/{tenant}/health", "viewer", "The tenant's open health issues"),
    ("get", "/api/v1/tenants/{tenant}/exclusions", "viewer", "Exclusions"),
    (
        "post",
        "/api/v1/tenants/{tenant}/exclusions",
        "admin",
        "Add an exclusion (detection id or global; address, account or computer)",
    ),
    ("delete", "/api/v1/tenants/{tenant}/exclusions/{id}", "admin", "Remove an exclusion"),
    (
        "post",
        "/api/v1/tenants/{tenant}/directory",
        "admin",
        "Upload the tenant's directory snapshot (`orthrus directory sync` output; zstd allowed)",
    ),
    (
        "get",
        "/api/v1/tenants/{tenant}/directory",
        "viewer",
        "What the tenant's directory holds, and since when",
    ),
    (
        "get",
        "/api/v1/tenants/{tenant}/entities/{entity}",
        "viewer",
        "An entity's profile: directory attributes, sensitivity and why, honeytoken, alerts, recent activity; for an address, its computer as name resolution knows it",
    ),
    ("get", "/metrics", "user", "The center's counters in Prometheus text format (no tenant labels)"),
    ("get", "/api/v1/openapi.json", "anyone", "This API's OpenAPI 3.1 document"),
];

/// The API's routes, behind the token check.
pub fn routes(state: Arc<AppState>) -> Router<Arc<AppState>> {
    let sensor_limit = DefaultBodyLimit::max(SENSOR_BODY_BYTES);
    let guarded = Router::new()
        .route("/api/v1/sensor/batches", post(intake::ingest).layer(sensor_limit))
        .route("/api/v1/sensor/heartbeat", post(intake::heartbeat).layer(sensor_limit))
        .route("/api/v1/tenants", get(tenant::tenants))
        .route("/api/v1/tenants/{tenant}/alerts", get(alerts::alerts))
        .route("/api/v1/tenants/{tenant}/alerts/{id}", get(alerts::alert).patch(alerts::set_status))
        .route("/api/v1/tenants/{tenant}/alerts/{id}/comments", post(alerts::comment))
        .route("/api/v1/tenants/{tenant}/incidents", get(incidents::incidents))
        .route("/api/v1/tenants/{tenant}/incidents/{id}", get(incidents::incident))
        .route("/api/v1/tenants/{tenant}/entities/{entity}/timeline", get(entities::timeline))
        .route("/api/v1/tenants/{tenant}/sensors", get(tenant::sensors))
        .route("/api/v1/tenants/{tenant}/health", get(tenant::health))
        .route("/api/v1/tenants/{tenant}/exclusions", get(tenant::exclusions).post(tenant::add_exclusion))
        .route("/api/v1/tenants/{tenant}/exclusions/{id}", delete(tenant::remove_exclusion))
        .route(
            "/api/v1/tenants/{tenant}/directory",
            get(tenant::directory_summary).post(tenant::upload_directory),
        )
        .route("/api/v1/tenants/{tenant}/entities/{entity}", get(entities::profile))
        .route("/metrics", get(crate::metrics::metrics))
        // The token is checked before anything else of the request is read: a caller without
        // one learns nothing, not even whether its body would have parsed.
        .layer(axum::middleware::from_fn_with_state(state, require_token));
    Router::new()
        .route("/api/v1/openapi.json", get(openapi::openapi))
        .merge(guarded)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
}

/// Largest request body of the API (a directory upload, compressed or not; a user's).
pub const MAX_BODY_BYTES: usize = 64 << 20;
/// Largest sensor body as sent: a default batch is one to three MiB plain and a tenth of that
/// compressed (the sensor compresses), so 16 MiB is ample and bounds what a sensor's few
/// requests at once may hold in memory.
pub const SENSOR_BODY_BYTES: usize = 16 << 20;
/// Requests one sensor credential may have under way at once: a sensor sends one batch at a
/// time, and a heartbeat beside it; a retry may overlap a request still being answered.
const SENSOR_REQUESTS: usize = 4;

/// Sensor routes need a sensor's token, the others a user's (kept for the route's scope).
async fn require_token(
    State(state): State<Arc<AppState>>,
    mut request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let sensor_route = request.uri().path().starts_with("/api/v1/sensor/");
    let refuse = || {
        if sensor_route {
            IntakeCounters::add(&state.intake.refused, 1);
        }
        ApiError::unauthorized().into_response()
    };
    let Some(token) = bearer(request.headers()) else { return refuse() };
    let hash = token_hash(token);
    if sensor_route {
        return match blocking(|| state.store.sensor_for_token(&hash)) {
            Ok(Some(_)) => {
                let Some(_slot) = state.sensor_requests.take(&hash, SENSOR_REQUESTS) else {
                    return ApiError::new(
                        axum::http::StatusCode::TOO_MANY_REQUESTS,
                        format!("at most {SENSOR_REQUESTS} requests of one sensor at once"),
                    )
                    .into_response();
                };
                next.run(request).await
            }
            Ok(None) => refuse(),
            Err(error) => ApiError::from(error).into_response(),
        };
    }
    match blocking(|| state.store.user_for_token(&hash)) {
        Ok(Some(user)) => {
            request.extensions_mut().insert(Authenticated(user));
            next.run(request).await
        }
        Ok(None) => refuse(),
        Err(error) => ApiError::from(error).into_response(),
    }
}
