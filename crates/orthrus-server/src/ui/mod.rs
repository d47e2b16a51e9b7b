//! The investigation web UI, served by `orthrus server` under `/ui/`: server-rendered HTML
//! (askama templates compiled into the binary, one stylesheet, no script, nothing fetched from
//! elsewhere). It reads and acts through the same store and the same grants as the API: a
//! password login opens a session ([`session`]); every tenant page checks the user's role in
//! that tenant before it reads anything, and a tenant the user has no grant in does not exist.

pub mod session;
pub mod view;

use std::sync::Arc;

use askama::Template;
use axum::extract::{Form, Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use orthrus_model::{AlertSource, AlertTargets, Position};
use orthrus_model::{EntityRole, Evidence, InvolvedEntity, Severity, TenantId};
use orthrus_store::credentials::verify_password;
use orthrus_store::{ActivityQuery, AlertFilter, AlertStatus, Page, Role, UserRecord};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::api::{ApiError, AppState, blocking, entity_profile, with_center};
use session::Session;
use view::{ActivityRow, AlertRow, segment};

/// Alerts per page of the list.
const PAGE_SIZE: usize = 50;
/// Activities an alert page shows around the alert.
const ALERT_TIMELINE: usize = 200;
/// Activities a profile reads (for the computers and services tables), and how many it lists.
const PROFILE_ACTIVITIES: usize = 500;
const PROFILE_TIMELINE: usize = 50;
/// How far back the dashboard counts.
const DASHBOARD_DAYS: i64 = 365;

const STYLESHEET: &str = include_str!("../../assets/style.css");

pub fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/", get(|| async { see_other("/ui/") }))
        .route("/ui", get(|| async { see_other("/ui/") }))
        .route("/ui/", get(home))
        .route("/ui/assets/style.css", get(stylesheet))
        .route("/ui/login", get(login_page).post(login))
        .route("/ui/logout", post(logout))
        .route("/ui/switch", get(switch))
        .route("/ui/t/{tenant}/", get(dashboard))
        .route("/ui/t/{tenant}/alerts", get(alerts))
        .route("/ui/t/{tenant}/alerts/{id}", get(alert))
        .route("/ui/t/{tenant}/alerts/{id}/evidence.json", get(evidence))
        .route("/ui/t/{tenant}/alerts/{id}/status", post(set_status))
        .route("/ui/t/{tenant}/alerts/{id}/comments", post(comment))
        .route("/ui/t/{tenant}/entities/{entity}", get(entity))
        .route("/ui/t/{tenant}/health", get(health))
        .layer(axum::middleware::from_fn(security_headers))
}

/// No framing, no foreign content, no sniffing, no referrer outside: the pages need nothing
/// else.
async fn security_headers(request: axum::extract::Request, next: axum::middleware::Next) -> Response {
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        ),
    );
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("same-origin"));
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    if !headers.contains_key(header::CACHE_CONTROL) {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    response
}

async fn stylesheet() -> Response {
    ([(header::CONTENT_TYPE, "text/css; charset=utf-8"), (header::CACHE_CONTROL, "max-age=3600")], STYLESHEET)
        .into_response()
}

fn see_other(to: &str) -> Response {
    (StatusCode::SEE_OTHER, [(header::LOCATION, to.to_owned())]).into_response()
}

/// Why a page is not shown.
enum UiError {
    /// Not signed in: to the login page, coming back here after.
    SignIn(String),
    Page(StatusCode, String),
}

impl From<ApiError> for UiError {
    fn from(error: ApiError) -> Self {
        let (status, message) = error.parts();
        UiError::Page(status, message)
    }
}

impl From<orthrus_store::StoreError> for UiError {
    fn from(error: orthrus_store::StoreError) -> Self {
        ApiError::from(error).into()
    }
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage {
    status: u16,
    reason: String,
    message: String,
}

impl IntoResponse for UiError {
    fn into_response(self) -> Response {
        match self {
            UiError::SignIn(next) => see_other(&format!("/ui/login?next={}", segment(&next))),
            UiError::Page(status, message) => {
                let page = ErrorPage {
                    status: status.as_u16(),
                    reason: status.canonical_reason().unwrap_or("Error").to_owned(),
                    message,
                };
                (status, html(&page)).into_response()
            }
        }
    }
}

type UiResult = Result<Response, UiError>;

fn html(page: &impl Template) -> Response {
    match page.render() {
        Ok(body) => ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], body).into_response(),
        Err(error) => {
            tracing::error!("rendering a page: {error}");
            (StatusCode::INTERNAL_SERVER_ERROR, "the page could not be rendered; see the center's log")
                .into_response()
        }
    }
}

/// The signed-in user and its session.
struct Visitor {
    session: Session,
    user: UserRecord,
}

fn visitor(state: &AppState, headers: &HeaderMap, uri: &Uri) -> Result<Visitor, UiError> {
    let back = || UiError::SignIn(uri.path_and_query().map_or("/ui/", |p| p.as_str()).to_owned());
    let session = state.sessions.find(headers, (state.clock)()).ok_or_else(back)?;
    // Read each time: a grant taken away takes effect at once.
    let user = blocking(|| state.store.user(&session.user))?.ok_or_else(back)?;
    Ok(Visitor { session, user })
}

/// What every tenant page's frame shows: who, where, the tenant switcher, the CSRF token.
pub struct Frame {
    pub title: String,
    pub user: String,
    pub tenant: String,
    /// Every granted tenant, and whether it is this one.
    pub tenants: Vec<(String, bool)>,
    pub csrf: String,
    pub nav: &'static str,
    /// Whether the user may change alerts here (analyst or admin).
    pub can_act: bool,
    /// `/ui/t/{tenant}`.
    pub base: String,
}

/// The visitor, the tenant and the page frame, once the visitor's role in `tenant` is at
/// least `needed`.
fn tenant_page(
    state: &AppState,
    headers: &HeaderMap,
    uri: &Uri,
    tenant: &str,
    needed: Role,
    nav: &'static str,
) -> Result<(Visitor, TenantId, Frame), UiError> {
    let visitor = visitor(state, headers, uri)?;
    let id = TenantId(tenant.into());
    let role = match visitor.user.role_in(&id) {
        None => {
            return Err(UiError::Page(
                StatusCode::NOT_FOUND,
                format!("There is no tenant {tenant} for you."),
            ));
        }
        Some(role) if role < needed => {
            return Err(UiError::Page(
                StatusCode::FORBIDDEN,
                format!("This needs the {} role in {tenant}.", needed.name()),
            ));
        }
        Some(role) => role,
    };
    let frame = Frame {
        title: String::new(),
        user: visitor.user.name.clone(),
        tenant: tenant.to_owned(),
        tenants: visitor.user.grants.iter().map(|(t, _)| (t.0.to_string(), t.0.as_ref() == tenant)).collect(),
        csrf: visitor.session.csrf.clone(),
        nav,
        can_act: role >= Role::Analyst,
        base: format!("/ui/t/{}", segment(tenant)),
    };
    Ok((visitor, id, frame))
}

fn no_alert(id: &str) -> UiError {
    UiError::Page(StatusCode::NOT_FOUND, format!("There is no alert {id}."))
}

fn check_csrf(visitor: &Visitor, sent: &str) -> Result<(), UiError> {
    if sent == visitor.session.csrf {
        Ok(())
    } else {
        Err(UiError::Page(StatusCode::FORBIDDEN, "The form is stale; reload the page and try again.".into()))
    }
}

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage {
    next: String,
    error: String,
    user: String,
}

#[derive(Deserialize, Default)]
struct LoginQuery {
    next: Option<String>,
}

async fn login_page(Query(query): Query<LoginQuery>) -> Response {
    html(&LoginPage { next: safe_next(query.next.as_deref()), error: String::new(), user: String::new() })
}

/// Only a path of the UI itself, never a redirect elsewhere; printable ASCII only (it goes back
/// into a Location header, and a browser sends its paths percent-encoded anyway).
fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(path)
            if path.starts_with("/ui/")
                && !path.contains('\\')
                && path.bytes().all(|b| b.is_ascii_graphic() || b == b' ') =>
        {
            path.to_owned()
        }
        _ => "/ui/".to_owned(),
    }
}

#[derive(Deserialize)]
struct LoginForm {
    user: String,
    password: String,
    #[serde(default)]
    next: Option<String>,
}

/// Verifying against this when the user is unknown (or has no password) keeps a wrong name as
/// slow as a wrong password: the names cannot be learned from the timing.
fn decoy_hash() -> &'static str {
    static DECOY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DECOY.get_or_init(|| {
        orthrus_store::credentials::hash_password("not anyone's password, ever").unwrap_or_default()
    })
}

async fn login(State(state): State<Arc<AppState>>, Form(form): Form<LoginForm>) -> Response {
    let now = (state.clock)();
    let next = safe_next(form.next.as_deref());
    let name = form.user.trim().to_owned();
    let refuse = |status: StatusCode, error: &str| {
        (status, html(&LoginPage { next: next.clone(), error: error.to_owned(), user: name.clone() }))
            .into_response()
    };
    if state.sessions.locked(&name, now) {
        tracing::warn!("web UI login for {name:?} refused: locked after repeated failures");
        return refuse(
            StatusCode::TOO_MANY_REQUESTS,
            "Too many failed attempts; wait a minute and try again.",
        );
    }
    let user = match blocking(|| state.store.user(&name)) {
        Ok(user) => user,
        Err(error) => return UiError::from(error).into_response(),
    };
    let kept = user.as_ref().and_then(|u| u.password_hash.clone());
    let password = form.password;
    let verified = tokio::task::spawn_blocking(move || {
        let matched = verify_password(&password, kept.as_deref().unwrap_or(decoy_hash()));
        matched && kept.is_some()
    })
    .await
    .unwrap_or(false);
    if !verified {
        state.sessions.failed(&name, now);
        tracing::warn!("web UI login for {name:?} failed");
        return refuse(StatusCode::UNAUTHORIZED, "The user name or the password is wrong.");
    }
    state.sessions.succeeded(&name);
    let Some(id) = state.sessions.open(&name, now) else {
        return refuse(
            StatusCode::INTERNAL_SERVER_ERROR,
            "The center could not open a session (no randomness).",
        );
    };
    tracing::info!("web UI login: {name}");
    (StatusCode::SEE_OTHER, [(header::LOCATION, next), (header::SET_COOKIE, session::set_cookie(&id))])
        .into_response()
}

#[derive(Deserialize)]
struct CsrfForm {
    csrf: String,
}

async fn logout(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    uri: Uri,
    Form(form): Form<CsrfForm>,
) -> UiResult {
    let visitor = visitor(&state, &headers, &uri)?;
    check_csrf(&visitor, &form.csrf)?;
    state.sessions.close(&headers);
    Ok((
        StatusCode::SEE_OTHER,
        [(header::LOCATION, "/ui/login".to_owned()), (header::SET_COOKIE, session::clear_cookie())],
    )
        .into_response())
}

async fn home(State(state): State<Arc<AppState>>, headers: HeaderMap, uri: Uri) -> UiResult {
    let visitor = visitor(&state, &headers, &uri)?;
    match visitor.user.grants.first() {
        Some((tenant, _)) => Ok(see_other(&format!("/ui/t/{}/", segment(&tenant.0)))),
        None => Err(UiError::Page(
            StatusCode::NOT_FOUND,
            format!(
                "{} has no tenant yet: an administrator grants one (orthrus admin user grant).",
                visitor.user.name
            ),
        )),
    }
}

#[derive(Deserialize)]
struct SwitchQuery {
    tenant: String,
}

async fn switch(Query(query): Query<SwitchQuery>) -> Response {
    see_other(&format!("/ui/t/{}/", segment(&query.tenant)))
}

#[derive(Template)]
#[template(path = "dashboard.html")]
struct DashboardPage {
    frame: Frame,
    board: view::Dashboard,
    /// Detection id → title.
    titles: Vec<(String, String)>,
    health_issues: usize,
    sensors: usize,
}

impl DashboardPage {
    fn title_of(&self, id: &str) -> String {
        self.titles.iter().find(|(i, _)| i == id).map_or_else(|| id.to_owned(), |(_, t)| t.clone())
    }
}

fn detection_titles() -> Vec<(String, String)> {
    orthrus_detect::detections::DETECTIONS
        .iter()
        .map(|d| (d.meta.id.to_owned(), d.meta.title.to_owned()))
        .collect()
}

async fn dashboard(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    uri: Uri,
    Path(tenant): Path<String>,
) -> UiResult {
    let (_, tenant, mut frame) = tenant_page(&state, &headers, &uri, &tenant, Role::Viewer, "dashboard")?;
    frame.title = "Dashboard".into();
    let since = (state.clock)().saturating_add_secs(-DASHBOARD_DAYS * 86_400);
    let buckets = blocking(|| state.store.alert_histogram(&tenant, since))?;
    let sensors = blocking(|| state.store.sensors(&tenant))?.len();
    let health_issues = open_health(&state, &tenant).await?.len();
    Ok(html(&DashboardPage {
        frame,
        board: view::Dashboard::new(&buckets),
        titles: detection_titles(),
        health_issues,
        sensors,
    }))
}

#[derive(Deserialize, Default)]
struct AlertListQuery {
    severity: Option<String>,
    status: Option<String>,
    detection: Option<String>,
    since: Option<String>,
    until: Option<String>,
    entity: Option<String>,
    page: Option<usize>,
}

#[derive(Template)]
#[template(path = "alerts.html")]
struct AlertsPage {
    frame: Frame,
    rows: Vec<AlertRow>,
    total: u64,
    /// 1-based.
    page: usize,
    pages: usize,
    previous: Option<String>,
    next: Option<String>,
    /// The filters as given (the form shows them again).
    severity: String,
    status: String,
    detection: String,
    since: String,
    until: String,
    entity: String,
    detections: Vec<(String, String)>,
    /// A sentence on a filter that could not be read.
    problem: String,
}

/// An entity as typed in a filter: `kind:name`, or an address, or an account name.
fn entity_filter(text: &str) -> Option<String> {
    let text = text.trim();
    if text.is_empty() {
        return None;
    }
    Some(match text.split_once(':') {
        Some((kind, name)) if ["account", "computer", "ip"].contains(&kind) => {
            orthrus_store::entity_key(kind, name)
        }
        _ if text.parse::<std::net::IpAddr>().is_ok() => orthrus_store::entity_key("ip", text),
        _ => orthrus_store::entity_key("account", text),
    })
}

async fn alerts(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    uri: Uri,
    Path(tenant): Path<String>,
    Query(query): Query<AlertListQuery>,
) -> UiResult {
    let (_, tenant, mut frame) = tenant_page(&state, &headers, &uri, &tenant, Role::Viewer, "alerts")?;
    frame.title = "Alerts".into();
    let text = |v: &Option<String>| v.as_deref().unwrap_or_default().trim().to_owned();
    let (severity, status, detection) = (text(&query.severity), text(&query.status), text(&query.detection));
    let (since, until, entity) = (text(&query.since), text(&query.until), text(&query.entity));
    let mut problem = String::new();
    let mut day = |field: &str, value: &str| {
        if value.is_empty() {
            return None;
        }
        let parsed = view::parse_day(value);
        if parsed.is_none() {
            problem = format!("{field} {value:?} is not a date (YYYY-MM-DD); it was left out.");
        }
        parsed
    };
    let filter = AlertFilter {
        severity: serde_json::from_value::<Severity>(Value::String(severity.clone())).ok(),
        status: AlertStatus::parse(&status),
        detection: Some(detection.clone()).filter(|d| !d.is_empty()),
        since: day("From", &since),
        // The whole day named.
        until: day("To", &until).map(|t| t.saturating_add_secs(86_400 - 1)),
        entity: entity_filter(&entity),
    };
    let page = query.page.unwrap_or(1).max(1);
    let found = blocking(|| {
        state.store.alerts(
            &tenant,
            &filter,
            Page { offset: (page - 1).saturating_mul(PAGE_SIZE), limit: PAGE_SIZE },
        )
    })?;
    let pages = usize::try_from(found.total).unwrap_or(usize::MAX).div_ceil(PAGE_SIZE).max(1);
    let link = |to: usize| {
        let mut href = format!("{}/alerts?page={to}", frame.base);
        for (key, value) in [
            ("severity", &severity),
            ("status", &status),
            ("detection", &detection),
            ("since", &since),
            ("until", &until),
            ("entity", &entity),
        ] {
            if !value.is_empty() {
                href.push_str(&format!("&{key}={}", segment(value)));
            }
        }
        href
    };
    let rows = found.alerts.iter().map(|r| AlertRow::new(&tenant.0, r)).collect();
    Ok(html(&AlertsPage {
        previous: (page > 1).then(|| link(page - 1)),
        next: (page < pages).then(|| link(page + 1)),
        frame,
        rows,
        total: found.total,
        page,
        pages,
        severity,
        status,
        detection,
        since,
        until,
        entity,
        detections: detection_titles(),
        problem,
    }))
}

/// The part of a stored alert record the alert page reads.
#[derive(Deserialize, Default)]
#[serde(default)]
struct StoredAlert {
    title: String,
    description: String,
    mitre: StoredMitre,
    source: AlertSource,
    targets: AlertTargets,
    evidence: Vec<Evidence>,
    evidence_omitted: u64,
    sensor: String,
    entities: Vec<InvolvedEntity>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct StoredMitre {
    tactic: String,
    techniques: Vec<String>,
}

/// An involved entity as the alert page lists it.
struct EntityLink {
    role: &'static str,
    kind: String,
    name: String,
    href: String,
    directory_name: String,
    sensitive: bool,
    sensitive_reason: String,
    honeytoken: bool,
    domain_controller: bool,
}

#[derive(Template)]
#[template(path = "alert.html")]
struct AlertPage {
    frame: Frame,
    row: AlertRow,
    mdi: String,
    tactic: String,
    /// Technique id and its ATT&CK page.
    techniques: Vec<(String, String)>,
    /// Label, value, link to its profile.
    source: Vec<(&'static str, String, Option<String>)>,
    resolution: String,
    entities: Vec<EntityLink>,
    services: Vec<String>,
    /// File, place, what it shows.
    evidence: Vec<(String, String, String)>,
    evidence_omitted: u64,
    sensor: String,
    timeline: Vec<ActivityRow>,
    timeline_entity: String,
    comments: Vec<(String, String, String)>,
    evidence_href: String,
}

fn position_text(at: Position) -> String {
    match at {
        Position::Frame(n) => format!("frame {n}"),
        Position::Record(n) => format!("record {n}"),
        Position::Line(n) => format!("line {n}"),
    }
}

/// The profile page of an entity, by its key (a "computer" known only by its address is that
/// address).
fn entity_href(base: &str, kind: &str, name: &str) -> String {
    let kind = if kind == "computer" && name.parse::<std::net::IpAddr>().is_ok() { "ip" } else { kind };
    format!("{base}/entities/{}", segment(&orthrus_store::entity_key(kind, name)))
}

async fn alert(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    uri: Uri,
    Path((tenant, id)): Path<(String, String)>,
) -> UiResult {
    let (_, tenant, mut frame) = tenant_page(&state, &headers, &uri, &tenant, Role::Viewer, "alerts")?;
    let record = blocking(|| state.store.alert(&tenant, &id))?.ok_or_else(|| no_alert(&id))?;
    let stored: StoredAlert = serde_json::from_value(record.alert.clone()).unwrap_or_default();
    let row = AlertRow::new(&tenant.0, &record);
    frame.title = row.title.clone();
    let base = frame.base.clone();
    let mut source = Vec::new();
    if let Some(ip) = stored.source.ip {
        source.push(("Address", ip.to_string(), Some(entity_href(&base, "ip", &ip.to_string()))));
    }
    if let Some(computer) = &stored.source.computer {
        source.push(("Computer", computer.clone(), Some(entity_href(&base, "computer", computer))));
    }
    if let Some(account) = &stored.source.account {
        source.push(("Account", account.clone(), Some(entity_href(&base, "account", account))));
    }
    let resolution = stored
        .source
        .resolution
        .as_ref()
        .map(|r| format!("{} confidence, from {}", r.confidence, r.methods.join(", ")))
        .unwrap_or_default();
    let mut entities: Vec<EntityLink> = stored
        .entities
        .iter()
        .map(|e| EntityLink {
            role: match e.role {
                EntityRole::Source => "source",
                EntityRole::Target => "target",
            },
            kind: e.kind.clone(),
            name: e.name.clone(),
            href: entity_href(&base, &e.kind, &e.name),
            directory_name: e.directory_name.clone().unwrap_or_default(),
            sensitive: e.sensitive,
            sensitive_reason: e.sensitive_reason.clone().unwrap_or_default(),
            honeytoken: e.honeytoken,
            domain_controller: e.domain_controller,
        })
        .collect();
    // Without a directory the enrichment lists no entities: the targets still deserve links.
    if entities.is_empty() {
        let plain = |kind: &str, name: &String| EntityLink {
            role: "target",
            kind: kind.to_owned(),
            name: name.clone(),
            href: entity_href(&base, kind, name),
            directory_name: String::new(),
            sensitive: false,
            sensitive_reason: String::new(),
            honeytoken: false,
            domain_controller: false,
        };
        entities.extend(stored.targets.accounts.iter().map(|a| plain("account", a)));
        entities.extend(stored.targets.computers.iter().map(|c| plain("computer", c)));
    }
    let cited: std::collections::HashSet<(&str, Position)> =
        stored.evidence.iter().map(|e| (e.at.file.as_ref(), e.at.at)).collect();
    // The activities behind the alert: the source's (its address, else its account) over the
    // alert's span, oldest first, those the alert cites marked.
    let timeline_entity = stored
        .source
        .ip
        .map(|ip| orthrus_store::entity_key("ip", &ip.to_string()))
        .or_else(|| stored.source.account.as_deref().map(|a| orthrus_store::entity_key("account", a)))
        .or_else(|| stored.source.computer.as_deref().map(|c| orthrus_store::entity_key("computer", c)))
        .or_else(|| stored.targets.accounts.first().map(|a| orthrus_store::entity_key("account", a)))
        .unwrap_or_default();
    let mut activities = if timeline_entity.is_empty() {
        Vec::new()
    } else {
        blocking(|| {
            state.store.activities(
                &tenant,
                &ActivityQuery {
                    entity: Some(timeline_entity.clone()),
                    since: Some(record.first_seen),
                    until: Some(record.last_seen),
                    limit: ALERT_TIMELINE,
                },
            )
        })?
    };
    activities.reverse();
    let timeline = activities
        .iter()
        .map(|a| {
            let is_evidence = a.provenance.iter().any(|p| cited.contains(&(p.file.as_ref(), p.at)));
            ActivityRow::new(a, is_evidence)
        })
        .collect();
    let mdi =
        orthrus_detect::detections::meta(&record.detection).map(|m| m.mdi.to_owned()).unwrap_or_default();
    let page = AlertPage {
        mdi,
        tactic: stored.mitre.tactic,
        techniques: stored
            .mitre
            .techniques
            .iter()
            .map(|t| (t.clone(), format!("https://attack.mitre.org/techniques/{}/", t.replace('.', "/"))))
            .collect(),
        source,
        resolution,
        entities,
        services: stored.targets.services.into_iter().collect(),
        evidence: stored
            .evidence
            .iter()
            .map(|e| (e.at.file.to_string(), position_text(e.at.at), e.summary.clone()))
            .collect(),
        evidence_omitted: stored.evidence_omitted,
        sensor: stored.sensor,
        timeline,
        timeline_entity,
        comments: record
            .comments
            .iter()
            .map(|c| (view::time(c.time), c.author.clone(), c.text.clone()))
            .collect(),
        evidence_href: format!("{}/evidence.json", row.href),
        row,
        frame,
    };
    Ok(html(&page))
}

async fn evidence(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    uri: Uri,
    Path((tenant, id)): Path<(String, String)>,
) -> UiResult {
    let (_, tenant, _) = tenant_page(&state, &headers, &uri, &tenant, Role::Viewer, "alerts")?;
    let record = blocking(|| state.store.alert(&tenant, &id))?.ok_or_else(|| no_alert(&id))?;
    let field = |key: &str| record.alert.get(key).cloned().unwrap_or(Value::Null);
    let body = json!({
        "alert": record.id,
        "tenant": record.tenant.0.as_ref(),
        "detection": record.detection,
        "title": field("title"),
        "description": field("description"),
        "first_seen": record.first_seen,
        "last_seen": record.last_seen,
        "sensor": field("sensor"),
        "evidence": field("evidence"),
        "evidence_omitted": field("evidence_omitted"),
    });
    let file = format!("attachment; filename=\"orthrus-{}-evidence.json\"", segment(&record.id));
    Ok(([(header::CONTENT_DISPOSITION, file)], Json(body)).into_response())
}

#[derive(Deserialize)]
struct StatusForm {
    csrf: String,
    status: String,
}

async fn set_status(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    uri: Uri,
    Path((tenant, id)): Path<(String, String)>,
    Form(form): Form<StatusForm>,
) -> UiResult {
    let (visitor, tenant, frame) = tenant_page(&state, &headers, &uri, &tenant, Role::Analyst, "alerts")?;
    check_csrf(&visitor, &form.csrf)?;
    let status = AlertStatus::parse(&form.status).ok_or_else(|| {
        UiError::Page(StatusCode::BAD_REQUEST, format!("{:?} is not a status.", form.status))
    })?;
    if !blocking(|| state.store.set_alert_status(&tenant, &id, status))? {
        return Err(no_alert(&id));
    }
    tracing::info!("alert {id} in {} set {} by {} (web UI)", tenant.0, status.name(), visitor.user.name);
    Ok(see_other(&format!("{}/alerts/{}", frame.base, segment(&id))))
}

#[derive(Deserialize)]
struct CommentForm {
    csrf: String,
    text: String,
}

async fn comment(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    uri: Uri,
    Path((tenant, id)): Path<(String, String)>,
    Form(form): Form<CommentForm>,
) -> UiResult {
    let (visitor, tenant, frame) = tenant_page(&state, &headers, &uri, &tenant, Role::Analyst, "alerts")?;
    check_csrf(&visitor, &form.csrf)?;
    let now = (state.clock)();
    if !blocking(|| state.store.comment(&tenant, &id, &visitor.user.name, form.text.trim(), now))? {
        return Err(no_alert(&id));
    }
    Ok(see_other(&format!("{}/alerts/{}", frame.base, segment(&id))))
}

#[derive(Template)]
#[template(path = "entity.html")]
struct EntityPage {
    frame: Frame,
    key: String,
    kind: String,
    qualified_name: String,
    domain: String,
    attributes: Vec<(String, String)>,
    sensitive: String,
    honeytoken: bool,
    alerts_total: u64,
    alerts_open: u64,
    alerts: Vec<AlertRow>,
    computers: Vec<(String, u64)>,
    services: Vec<(String, u64)>,
    timeline: Vec<ActivityRow>,
    activities_read: usize,
}

async fn entity(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    uri: Uri,
    Path((tenant, entity)): Path<(String, String)>,
) -> UiResult {
    let (_, tenant, mut frame) = tenant_page(&state, &headers, &uri, &tenant, Role::Viewer, "")?;
    let profile = entity_profile(&state, &tenant, &entity, PROFILE_ACTIVITIES).await?;
    let kind = profile.key.split(':').next().unwrap_or_default().to_owned();
    frame.title = profile.key.clone();
    let directory = profile.directory.unwrap_or(Value::Null);
    let (computers, services) = view::logons_and_services(&profile.recent);
    let page = EntityPage {
        qualified_name: directory
            .get("qualified_name")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned(),
        domain: directory.get("domain").and_then(Value::as_str).unwrap_or_default().to_owned(),
        attributes: view::attribute_rows(directory.get("object").unwrap_or(&Value::Null)),
        sensitive: profile.sensitive.unwrap_or_default(),
        honeytoken: profile.honeytoken,
        alerts_total: profile.alerts.total,
        alerts_open: profile.open_alerts,
        alerts: profile.alerts.alerts.iter().map(|r| AlertRow::new(&tenant.0, r)).collect(),
        computers,
        services,
        timeline: profile.recent.iter().take(PROFILE_TIMELINE).map(|a| ActivityRow::new(a, false)).collect(),
        activities_read: profile.recent.len(),
        key: profile.key,
        kind,
        frame,
    };
    Ok(html(&page))
}

/// A sensor as the health page lists it.
struct SensorRow {
    name: String,
    version: String,
    last_seen: String,
    /// Its last heartbeat's statistics, `key=value`.
    statistics: Vec<(String, String)>,
}

/// A health issue as the health page lists it.
struct IssueRow {
    external_id: String,
    title: String,
    severity: String,
    sensor: String,
    message: String,
    opened: String,
    last_seen: String,
}

#[derive(Template)]
#[template(path = "health.html")]
struct HealthPage {
    frame: Frame,
    sensors: Vec<SensorRow>,
    issues: Vec<IssueRow>,
}

async fn open_health(state: &Arc<AppState>, tenant: &TenantId) -> Result<Vec<IssueRow>, UiError> {
    let tenant = tenant.clone();
    Ok(with_center(state.clone(), move |center| {
        Ok(center
            .open_health_issues()
            .filter(|issue| issue.tenant == tenant)
            .map(|issue| IssueRow {
                external_id: issue.kind.external_id().to_string(),
                title: issue.kind.title().to_owned(),
                severity: issue.severity.to_string(),
                sensor: issue.sensor.clone(),
                message: issue.message.clone(),
                opened: view::time(issue.opened),
                last_seen: view::time(issue.last_seen),
            })
            .collect())
    })
    .await?)
}

async fn health(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    uri: Uri,
    Path(tenant): Path<String>,
) -> UiResult {
    let (_, tenant, mut frame) = tenant_page(&state, &headers, &uri, &tenant, Role::Viewer, "health")?;
    frame.title = "Health".into();
    let sensors = blocking(|| state.store.sensors(&tenant))?
        .into_iter()
        .map(|s| SensorRow {
            name: s.name,
            version: s.version.unwrap_or_default(),
            last_seen: s.last_seen.map_or_else(|| "never".to_owned(), view::time),
            statistics: s.status.as_ref().map(view::attribute_rows).unwrap_or_default(),
        })
        .collect();
    let issues = open_health(&state, &tenant).await?;
    Ok(html(&HealthPage { frame, sensors, issues }))
}

/// Fuzz entry (fuzz/fuzz_targets/ui_input.rs): what a browser sends that the UI reads itself —
/// the cookie header, a day of the alert filters, an entity filter, the login's `next` — none
/// may panic, and `next` never leaves the UI.
pub fn fuzz_ui_input(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    if let Ok(value) = HeaderValue::from_bytes(data) {
        let mut headers = HeaderMap::new();
        headers.insert(header::COOKIE, value);
        let sessions = session::Sessions::default();
        let _ = sessions.find(&headers, orthrus_model::Timestamp::from_micros(0));
    }
    let _ = view::parse_day(&text);
    let _ = entity_filter(&text);
    let next = safe_next(Some(&text));
    assert!(next.starts_with("/ui/") && HeaderValue::from_str(&next).is_ok(), "{next}");
    let _ = view::segment(&text);
}
