//! The REST API: sensor intake (`/api/v1/sensor/…`, sensor tokens) and the tenant-scoped
//! read/write API for people and scripts (`/api/v1/tenants/{tenant}/…`, user tokens whose
//! grants name the tenant). Every route needs a token; every tenant route checks the grant
//! and the role before it touches the store, and the store scopes every query by the tenant.

use std::sync::{Arc, Mutex};

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use orthrus_center::health::EndpointReport;
use orthrus_center::health::Heartbeat;
use orthrus_center::{Center, CenterError};
use orthrus_directory::Snapshot;
use orthrus_model::{Activity, Severity, TenantId, Timestamp};
use orthrus_store::credentials::token_hash;
use orthrus_store::{
    ActivityQuery, AlertFilter, AlertStatus, NewExclusion, Page, Role, Store, StoreError, UserRecord,
};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::body::JsonBody;
use crate::metrics::IntakeCounters;

/// Largest request body accepted (a sensor batch, compressed or not).
pub const MAX_BODY_BYTES: usize = 64 << 20;

pub struct AppState {
    pub center: Mutex<Center>,
    pub store: Arc<dyn Store>,
    /// "Now" for what the API records (comments, batch receipt): the wall clock in the
    /// binary, a fixed clock in tests.
    pub clock: fn() -> Timestamp,
    /// Each alert endpoint as its sender last saw it (for /metrics and health).
    pub sink_status: Arc<Mutex<Vec<EndpointReport>>>,
    pub intake: IntakeCounters,
    /// The web UI's signed-in sessions.
    pub sessions: crate::ui::session::Sessions,
}

impl AppState {
    pub fn new(center: Center, store: Arc<dyn Store>, clock: fn() -> Timestamp) -> Self {
        Self {
            center: Mutex::new(center),
            store,
            clock,
            sink_status: Arc::default(),
            intake: IntakeCounters::default(),
            sessions: crate::ui::session::Sessions::default(),
        }
    }
}

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
    ("get", "/api/v1/tenants/{tenant}/alerts/{id}", "viewer", "One alert with its comments"),
    (
        "patch",
        "/api/v1/tenants/{tenant}/alerts/{id}",
        "analyst",
        "Change an alert's status (open, closed, suppressed)",
    ),
    ("post", "/api/v1/tenants/{tenant}/alerts/{id}/comments", "analyst", "Comment on an alert"),
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
        "An entity's profile: directory attributes, sensitivity and why, honeytoken, alerts, recent activity",
    ),
    ("get", "/metrics", "user", "The center's counters in Prometheus text format (no tenant labels)"),
    ("get", "/api/v1/openapi.json", "anyone", "This API's OpenAPI 3.1 document"),
];

pub fn router(state: Arc<AppState>) -> Router {
    // The web UI checks its own session cookie (ui::session), not a bearer token.
    let open = Router::new().route("/api/v1/openapi.json", get(openapi)).merge(crate::ui::routes());
    let guarded = Router::new()
        .route("/api/v1/sensor/batches", post(ingest))
        .route("/api/v1/sensor/heartbeat", post(heartbeat))
        .route("/api/v1/tenants", get(tenants))
        .route("/api/v1/tenants/{tenant}/alerts", get(alerts))
        .route("/api/v1/tenants/{tenant}/alerts/{id}", get(alert).patch(set_status))
        .route("/api/v1/tenants/{tenant}/alerts/{id}/comments", post(comment))
        .route("/api/v1/tenants/{tenant}/entities/{entity}/timeline", get(timeline))
        .route("/api/v1/tenants/{tenant}/sensors", get(sensors))
        .route("/api/v1/tenants/{tenant}/health", get(health))
        .route("/api/v1/tenants/{tenant}/exclusions", get(exclusions).post(add_exclusion))
        .route("/api/v1/tenants/{tenant}/exclusions/{id}", delete(remove_exclusion))
        .route("/api/v1/tenants/{tenant}/directory", get(directory_summary).post(upload_directory))
        .route("/api/v1/tenants/{tenant}/entities/{entity}", get(profile))
        .route("/metrics", get(metrics))
        // The token is checked before anything else of the request is read: a caller without
        // one learns nothing, not even whether its body would have parsed.
        .layer(axum::middleware::from_fn_with_state(state.clone(), require_token));
    open.merge(guarded).layer(axum::extract::DefaultBodyLimit::max(MAX_BODY_BYTES)).with_state(state)
}

/// Sensor routes need a sensor's token, the others a user's.
async fn require_token(
    State(state): State<Arc<AppState>>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let sensor_route = request.uri().path().starts_with("/api/v1/sensor/");
    let refuse = || {
        if sensor_route {
            IntakeCounters::add(&state.intake.refused, 1);
        }
        unauthorized().into_response()
    };
    let Ok(token) = bearer(request.headers()) else { return refuse() };
    let hash = token_hash(token);
    let known = if sensor_route {
        blocking(|| state.store.sensor_for_token(&hash)).map(|s| s.is_some())
    } else {
        blocking(|| state.store.user_for_token(&hash)).map(|u| u.is_some())
    };
    match known {
        Ok(true) => next.run(request).await,
        Ok(false) => refuse(),
        Err(error) => ApiError::from(error).into_response(),
    }
}

/// An API error: its status and a sentence.
#[derive(Debug)]
pub struct ApiError(StatusCode, String);

impl ApiError {
    pub fn new(status: StatusCode, why: impl Into<String>) -> Self {
        Self(status, why.into())
    }

    /// Its status and sentence (the web UI shows them on a page).
    pub fn parts(self) -> (StatusCode, String) {
        (self.0, self.1)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.0, Json(json!({ "error": self.1 }))).into_response()
    }
}

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::NotFound(what) => ApiError(StatusCode::NOT_FOUND, format!("{what} not found")),
            StoreError::Exists(what) => ApiError(StatusCode::CONFLICT, format!("{what} already exists")),
            StoreError::Invalid(why) => ApiError(StatusCode::BAD_REQUEST, why),
            other => {
                tracing::error!("store: {other}");
                ApiError(StatusCode::INTERNAL_SERVER_ERROR, "the store failed; see the center's log".into())
            }
        }
    }
}

type ApiResult = Result<Response, ApiError>;

fn unauthorized() -> ApiError {
    ApiError(StatusCode::UNAUTHORIZED, "a valid token is required (Authorization: Bearer …)".into())
}

fn bearer(headers: &HeaderMap) -> Result<&str, ApiError> {
    headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .ok_or_else(unauthorized)
}

/// The user whose API token the request bears.
fn user_of(state: &AppState, headers: &HeaderMap) -> Result<UserRecord, ApiError> {
    let hash = token_hash(bearer(headers)?);
    blocking(|| state.store.user_for_token(&hash))?.ok_or_else(unauthorized)
}

/// The user behind the token, and its role in `tenant` (at least `needed`).
fn caller(
    state: &AppState,
    headers: &HeaderMap,
    tenant: &str,
    needed: Role,
) -> Result<(UserRecord, TenantId), ApiError> {
    let user = user_of(state, headers)?;
    let tenant = TenantId(tenant.into());
    match user.role_in(&tenant) {
        // A tenant the caller has no grant in does not exist, as far as it can tell.
        None => Err(ApiError(StatusCode::NOT_FOUND, format!("tenant {} not found", tenant.0))),
        Some(role) if role < needed => Err(ApiError(
            StatusCode::FORBIDDEN,
            format!("this needs the {} role in {}", needed.name(), tenant.0),
        )),
        Some(_) => Ok((user, tenant)),
    }
}

fn center_error(error: CenterError) -> ApiError {
    match error {
        CenterError::Unauthorized => unauthorized(),
        CenterError::Store(e) => e.into(),
    }
}

#[derive(Deserialize)]
pub(crate) struct Batch {
    sequence: u64,
    activities: Vec<Activity>,
}

/// A blocking store call made from a handler: on the multi-threaded runtime the worker hands
/// its other tasks over first (and PostgreSQL's synchronous client, which runs a runtime of its
/// own, may only be called so); elsewhere (tests) it simply runs.
pub(crate) fn blocking<T>(work: impl FnOnce() -> T) -> T {
    match tokio::runtime::Handle::try_current().map(|h| h.runtime_flavor()) {
        Ok(tokio::runtime::RuntimeFlavor::MultiThread) => tokio::task::block_in_place(work),
        _ => work(),
    }
}

/// Runs `work` on the center off the async threads (the store is blocking).
pub(crate) async fn with_center<T: Send + 'static>(
    state: Arc<AppState>,
    work: impl FnOnce(&mut Center) -> Result<T, CenterError> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(move || {
        let mut center = state.center.lock().unwrap_or_else(|p| p.into_inner());
        work(&mut center)
    })
    .await
    .map_err(|e| ApiError(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?
    .map_err(center_error)
}

async fn ingest(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    JsonBody(batch): JsonBody<Batch>,
) -> ApiResult {
    let token = bearer(&headers)?.to_owned();
    let now = (state.clock)();
    let sequence = batch.sequence;
    let counted = state.clone();
    let accepted =
        with_center(state, move |center| center.ingest(&token, batch.sequence, &batch.activities, now))
            .await?;
    let intake = &counted.intake;
    if accepted.duplicate {
        IntakeCounters::add(&intake.duplicate_batches, 1);
    } else {
        IntakeCounters::add(&intake.batches, 1);
        IntakeCounters::add(&intake.activities, accepted.stored as u64);
        IntakeCounters::add(&intake.alerts_changed, accepted.alerts.len() as u64);
    }
    Ok(Json(json!({
        "sequence": sequence,
        "stored": accepted.stored,
        "duplicate": accepted.duplicate,
        "alerts": accepted.alerts.len(),
    }))
    .into_response())
}

async fn heartbeat(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    JsonBody(beat): JsonBody<Heartbeat>,
) -> ApiResult {
    let token = bearer(&headers)?.to_owned();
    let now = (state.clock)();
    let counted = state.clone();
    with_center(state, move |center| center.heartbeat(&token, &beat, now)).await?;
    IntakeCounters::add(&counted.intake.heartbeats, 1);
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn tenants(State(state): State<Arc<AppState>>, headers: HeaderMap) -> ApiResult {
    let user = user_of(&state, &headers)?;
    let granted: Vec<Value> = user
        .grants
        .iter()
        .map(|(tenant, role)| json!({ "tenant": tenant.0.as_ref(), "role": role.name() }))
        .collect();
    Ok(Json(json!({ "user": user.name, "tenants": granted })).into_response())
}

#[derive(Deserialize, Default)]
struct AlertQuery {
    severity: Option<Severity>,
    status: Option<AlertStatus>,
    detection: Option<String>,
    since: Option<Timestamp>,
    until: Option<Timestamp>,
    entity: Option<String>,
    offset: Option<usize>,
    limit: Option<usize>,
}

async fn alerts(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(tenant): Path<String>,
    Query(query): Query<AlertQuery>,
) -> ApiResult {
    let (_, tenant) = caller(&state, &headers, &tenant, Role::Viewer)?;
    let filter = AlertFilter {
        severity: query.severity,
        status: query.status,
        detection: query.detection,
        since: query.since,
        until: query.until,
        entity: query.entity,
    };
    let page = Page { offset: query.offset.unwrap_or(0), limit: query.limit.unwrap_or(100) };
    let found = blocking(|| state.store.alerts(&tenant, &filter, page))?;
    let alerts: Vec<Value> = found.alerts.into_iter().map(alert_json).collect();
    Ok(Json(json!({ "total": found.total, "offset": page.offset, "alerts": alerts })).into_response())
}

fn alert_json(record: orthrus_store::AlertRecord) -> Value {
    let mut alert = record.alert;
    if let Some(fields) = alert.as_object_mut() {
        fields.insert("comments".into(), json!(record.comments));
    }
    alert
}

async fn alert(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path((tenant, id)): Path<(String, String)>,
) -> ApiResult {
    let (_, tenant) = caller(&state, &headers, &tenant, Role::Viewer)?;
    stored_alert(&state, &tenant, &id)
}

fn no_alert(id: &str) -> ApiError {
    ApiError(StatusCode::NOT_FOUND, format!("alert {id} not found"))
}

/// The alert as the API shows it (with its comments), or 404.
fn stored_alert(state: &AppState, tenant: &TenantId, id: &str) -> ApiResult {
    let record = blocking(|| state.store.alert(tenant, id))?.ok_or_else(|| no_alert(id))?;
    Ok(Json(alert_json(record)).into_response())
}

#[derive(Deserialize)]
struct StatusChange {
    status: AlertStatus,
}

async fn set_status(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path((tenant, id)): Path<(String, String)>,
    Json(change): Json<StatusChange>,
) -> ApiResult {
    let (_, tenant) = caller(&state, &headers, &tenant, Role::Analyst)?;
    if !blocking(|| state.store.set_alert_status(&tenant, &id, change.status))? {
        return Err(no_alert(&id));
    }
    stored_alert(&state, &tenant, &id)
}

#[derive(Deserialize)]
struct NewComment {
    text: String,
}

async fn comment(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path((tenant, id)): Path<(String, String)>,
    Json(new): Json<NewComment>,
) -> ApiResult {
    let (user, tenant) = caller(&state, &headers, &tenant, Role::Analyst)?;
    if !blocking(|| state.store.comment(&tenant, &id, &user.name, &new.text, (state.clock)()))? {
        return Err(no_alert(&id));
    }
    Ok(StatusCode::CREATED.into_response())
}

#[derive(Deserialize, Default)]
struct TimelineQuery {
    since: Option<Timestamp>,
    until: Option<Timestamp>,
    limit: Option<usize>,
}

async fn timeline(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path((tenant, entity)): Path<(String, String)>,
    Query(query): Query<TimelineQuery>,
) -> ApiResult {
    let (_, tenant) = caller(&state, &headers, &tenant, Role::Viewer)?;
    let activities = blocking(|| {
        state.store.activities(
            &tenant,
            &ActivityQuery {
                entity: Some(entity.clone()),
                since: query.since,
                until: query.until,
                limit: query.limit.unwrap_or(100),
            },
        )
    })?;
    Ok(Json(json!({ "entity": entity, "activities": activities })).into_response())
}

async fn upload_directory(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(tenant): Path<String>,
    body: axum::body::Bytes,
) -> ApiResult {
    let (_, tenant) = caller(&state, &headers, &tenant, Role::Admin)?;
    // Read only once the caller may: another tenant's user learns nothing of the body.
    let snapshot: Snapshot = crate::body::decode(crate::body::content_encoding(&headers).as_deref(), &body)?;
    let snapshot = Snapshot::checked(snapshot).map_err(|why| ApiError(StatusCode::BAD_REQUEST, why))?;
    let objects: usize = snapshot.domains.iter().map(|d| d.objects.len()).sum();
    let domains = snapshot.domains.len();
    let now = (state.clock)();
    with_center(state, move |center| center.set_directory(&tenant, snapshot, now)).await?;
    Ok(Json(json!({ "domains": domains, "objects": objects })).into_response())
}

async fn directory_summary(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(tenant): Path<String>,
) -> ApiResult {
    let (_, tenant) = caller(&state, &headers, &tenant, Role::Viewer)?;
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

/// How many alerts and activities a profile lists.
const PROFILE_ITEMS: usize = 20;

/// An entity's profile, as the API and the web UI show it.
pub(crate) struct Profile {
    /// The entity key (`account:alice`).
    pub key: String,
    /// The directory object (a group's members reduced to their count), its domain and
    /// qualified name.
    pub directory: Option<Value>,
    /// Why the entity is sensitive (the group path or the tag), when it is.
    pub sensitive: Option<String>,
    pub honeytoken: bool,
    /// Its latest alerts and how many there are.
    pub alerts: orthrus_store::AlertPage,
    pub open_alerts: u64,
    /// Its latest activities, newest first.
    pub recent: Vec<Activity>,
}

/// The profile of `entity` (`kind:name`) in `tenant`, with at most `activities` activities;
/// 404 when nothing at all is known of it.
pub(crate) async fn entity_profile(
    state: &Arc<AppState>,
    tenant: &TenantId,
    entity: &str,
    activities: usize,
) -> Result<Profile, ApiError> {
    let (kind, name) = entity.split_once(':').ok_or_else(|| {
        ApiError(
            StatusCode::BAD_REQUEST,
            format!("{entity:?}: an entity is kind:name (account:, computer:, ip:)"),
        )
    })?;
    let key = orthrus_store::entity_key(kind, name);
    let directory = {
        let tenant = tenant.clone();
        with_center(state.clone(), move |center| Ok(center.directory(&tenant))).await?
    };
    let found = directory.as_ref().and_then(|d| match kind {
        "account" => d.find(name),
        "computer" => d.find_computer(name),
        _ => None,
    });
    let object = found.as_ref().map(|f| {
        let mut object = serde_json::to_value(f.object).unwrap_or_default();
        // A group's member list can be huge; its size says enough here.
        if let Some(map) = object.as_object_mut()
            && let Some(Value::Array(members)) = map.remove("members")
        {
            map.insert("member_count".into(), json!(members.len()));
        }
        json!({ "domain": f.domain.dns_name, "qualified_name": f.qualified_name(), "object": object })
    });
    let sensitive = found.as_ref().and_then(|f| directory.as_ref()?.sensitivity(f)).map(|s| s.reason.clone());
    let honeytoken = match (&directory, &found) {
        (Some(d), Some(f)) => d.is_honeytoken(f),
        (Some(d), None) => kind == "account" && d.is_honeytoken_name(name),
        _ => false,
    };
    let filter = AlertFilter { entity: Some(key.clone()), ..AlertFilter::default() };
    let alerts = blocking(|| state.store.alerts(tenant, &filter, Page { offset: 0, limit: PROFILE_ITEMS }))?;
    let open_filter = AlertFilter { status: Some(AlertStatus::Open), ..filter };
    let open_alerts =
        blocking(|| state.store.alerts(tenant, &open_filter, Page { offset: 0, limit: 1 }))?.total;
    let recent = blocking(|| {
        state.store.activities(
            tenant,
            &ActivityQuery { entity: Some(key.clone()), since: None, until: None, limit: activities },
        )
    })?;
    if object.is_none() && alerts.total == 0 && recent.is_empty() && !honeytoken {
        return Err(ApiError(StatusCode::NOT_FOUND, format!("entity {entity} not found")));
    }
    Ok(Profile { key, directory: object, sensitive, honeytoken, alerts, open_alerts, recent })
}

async fn profile(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path((tenant, entity)): Path<(String, String)>,
) -> ApiResult {
    let (_, tenant) = caller(&state, &headers, &tenant, Role::Viewer)?;
    let profile = entity_profile(&state, &tenant, &entity, PROFILE_ITEMS).await?;
    Ok(Json(json!({
        "entity": profile.key,
        "directory": profile.directory,
        "sensitive": profile.sensitive,
        "honeytoken": profile.honeytoken,
        "alerts": {
            "total": profile.alerts.total,
            "open": profile.open_alerts,
            "recent": profile.alerts.alerts.into_iter().map(alert_json).collect::<Vec<_>>(),
        },
        "recent_activities": profile.recent,
    }))
    .into_response())
}

async fn sensors(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(tenant): Path<String>,
) -> ApiResult {
    let (_, tenant) = caller(&state, &headers, &tenant, Role::Viewer)?;
    Ok(Json(json!({ "sensors": blocking(|| state.store.sensors(&tenant))? })).into_response())
}

async fn health(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(tenant): Path<String>,
) -> ApiResult {
    let (_, tenant) = caller(&state, &headers, &tenant, Role::Viewer)?;
    let issues: Vec<Value> = with_center(state, move |center| {
        Ok(center
            .open_health_issues()
            .filter(|issue| issue.tenant == tenant)
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

async fn exclusions(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(tenant): Path<String>,
) -> ApiResult {
    let (_, tenant) = caller(&state, &headers, &tenant, Role::Viewer)?;
    Ok(Json(json!({ "exclusions": blocking(|| state.store.exclusions(&tenant))? })).into_response())
}

async fn add_exclusion(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(tenant): Path<String>,
    Json(new): Json<NewExclusion>,
) -> ApiResult {
    let (_, tenant) = caller(&state, &headers, &tenant, Role::Admin)?;
    let known = new.detection == "global"
        || orthrus_detect::detections::DETECTIONS.iter().any(|d| d.meta.id == new.detection);
    if !known {
        return Err(ApiError(
            StatusCode::BAD_REQUEST,
            format!(
                "{} names no detection (use global or an id from `orthrus detections list`)",
                new.detection
            ),
        ));
    }
    if new.kind == orthrus_store::ExclusionKind::Address && orthrus_center::parse_net(&new.value).is_none() {
        return Err(ApiError(
            StatusCode::BAD_REQUEST,
            format!("{:?} is not an address or a subnet", new.value),
        ));
    }
    let added = blocking(|| state.store.add_exclusion(&tenant, &new, (state.clock)()))?;
    Ok((StatusCode::CREATED, Json(json!(added))).into_response())
}

async fn remove_exclusion(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path((tenant, id)): Path<(String, String)>,
) -> ApiResult {
    let (_, tenant) = caller(&state, &headers, &tenant, Role::Admin)?;
    let id: i64 =
        id.parse().map_err(|_| ApiError(StatusCode::NOT_FOUND, format!("exclusion {id} not found")))?;
    if !blocking(|| state.store.remove_exclusion(&tenant, id))? {
        return Err(ApiError(StatusCode::NOT_FOUND, format!("exclusion {id} not found")));
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn metrics(State(state): State<Arc<AppState>>) -> ApiResult {
    let counted = state.clone();
    let (open_health, sensors, tenants) = with_center(state, |center| {
        let open = center.open_health_issues().count() as u64;
        let tenants = center.store().tenants()?;
        let mut sensors = 0u64;
        for tenant in &tenants {
            sensors += center.store().sensors(&tenant.id)?.len() as u64;
        }
        Ok((open, sensors, tenants.len() as u64))
    })
    .await?;
    let text = crate::metrics::render(&counted, open_health, sensors, tenants);
    Ok(([(axum::http::header::CONTENT_TYPE, "text/plain; version=0.0.4")], text).into_response())
}

async fn openapi() -> Response {
    Json(openapi_document()).into_response()
}

/// The OpenAPI 3.1 document, from [`ROUTES`]. Written from the route table rather than derived
/// (utoipa) to keep the build small; a test checks that every routed path is in it.
pub fn openapi_document() -> Value {
    let mut paths = serde_json::Map::new();
    for (method, path, who, summary) in ROUTES {
        let parameters: Vec<Value> = path
            .split('/')
            .filter_map(|part| part.strip_prefix('{').and_then(|p| p.strip_suffix('}')))
            .map(|name| json!({ "name": name, "in": "path", "required": true, "schema": { "type": "string" } }))
            .collect();
        let security = if *who == "anyone" { json!([]) } else { json!([{ "bearer": [] }]) };
        let operation = json!({
            "summary": summary,
            "description": format!("Caller: {who}."),
            "parameters": parameters,
            "security": security,
            "responses": {
                "200": { "description": "done" },
                "401": { "description": "no valid token" },
                "403": { "description": "the caller's role is not enough" },
                "404": { "description": "no such tenant (for this caller) or object" }
            }
        });
        let entry = paths.entry((*path).to_owned()).or_insert_with(|| json!({}));
        if let Some(methods) = entry.as_object_mut() {
            methods.insert((*method).to_owned(), operation);
        }
    }
    json!({
        "openapi": "3.1.0",
        "info": { "title": "Orthrus center API", "version": env!("CARGO_PKG_VERSION") },
        "components": { "securitySchemes": { "bearer": { "type": "http", "scheme": "bearer" } } },
        "paths": paths,
    })
}
