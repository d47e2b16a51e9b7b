//! The investigation web UI, served by `orthrus server` under `/ui/`: server-rendered HTML
//! (askama templates compiled into the binary, one stylesheet, no script, nothing fetched from
//! elsewhere), one module per page. It reads and acts through the same store and the same
//! grants as the API: a password login opens a session ([`session`]); every tenant page takes
//! [`visitor::TenantPage`] (the tenant-scope extractor with the session as credential), which
//! checks the user's role in that tenant before the page reads anything; a tenant the user has
//! no grant in does not exist.

mod alert;
mod alerts;
mod dashboard;
mod entity;
mod health;
mod incidents;
mod login;
pub mod page;
mod related;
pub mod session;
pub mod throttle;
pub mod view;
pub mod visitor;

use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};

use crate::state::AppState;
use page::see_other;

const STYLESHEET: &str = include_str!("../../assets/style.css");

pub fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/", get(|| async { see_other("/ui/") }))
        .route("/ui", get(|| async { see_other("/ui/") }))
        .route("/ui/", get(login::home))
        .route("/ui/assets/style.css", get(stylesheet))
        .route(
            "/ui/login",
            get(login::login_page).post(login::login).layer(DefaultBodyLimit::max(login::LOGIN_FORM_BYTES)),
        )
        .route("/ui/logout", post(login::logout))
        .route("/ui/switch", get(login::switch))
        .route("/ui/t/{tenant}/", get(dashboard::dashboard))
        .route("/ui/t/{tenant}/incidents", get(incidents::incidents))
        .route("/ui/t/{tenant}/incidents/{id}", get(incidents::incident))
        .route("/ui/t/{tenant}/alerts", get(alerts::alerts))
        .route("/ui/t/{tenant}/alerts/{id}", get(alert::alert))
        .route("/ui/t/{tenant}/alerts/{id}/evidence.json", get(alert::evidence))
        .route("/ui/t/{tenant}/alerts/{id}/status", post(alert::set_status))
        .route("/ui/t/{tenant}/alerts/{id}/comments", post(alert::comment))
        .route("/ui/t/{tenant}/entities/{entity}", get(entity::entity))
        .route("/ui/t/{tenant}/health", get(health::health))
        .layer(DefaultBodyLimit::max(FORM_BYTES))
        .layer(axum::middleware::from_fn(security_headers))
}

/// Largest form of a signed-in page: a comment of 10 000 characters, percent-encoded, is at
/// most about 90 KiB. (The login form has its own, smaller limit.)
const FORM_BYTES: usize = 128 << 10;

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
    let _ = alerts::entity_filter(&text);
    let next = login::safe_next(Some(&text));
    assert!(next.starts_with("/ui/") && HeaderValue::from_str(&next).is_ok(), "{next}");
    let _ = view::segment(&text);
}
