//! Signing in and out, the home page, and switching tenants.

use std::sync::Arc;

use askama::Template;
use axum::extract::{Form, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use orthrus_store::credentials::verify_password;
use serde::Deserialize;

use super::page::{UiError, UiResult, html, see_other};
use super::session;
use super::view::segment;
use super::visitor::Visitor;
use crate::state::{AppState, blocking};

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage {
    next: String,
    error: String,
    user: String,
}

#[derive(Deserialize, Default)]
pub(super) struct LoginQuery {
    next: Option<String>,
}

pub(super) async fn login_page(Query(query): Query<LoginQuery>) -> Response {
    html(&LoginPage { next: safe_next(query.next.as_deref()), error: String::new(), user: String::new() })
}

/// Only a path of the UI itself, never a redirect elsewhere; printable ASCII only (it goes back
/// into a Location header, and a browser sends its paths percent-encoded anyway).
pub(super) fn safe_next(next: Option<&str>) -> String {
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
pub(super) struct LoginForm {
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

pub(super) async fn login(State(state): State<Arc<AppState>>, Form(form): Form<LoginForm>) -> Response {
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
pub(super) struct CsrfForm {
    csrf: String,
}

pub(super) async fn logout(
    State(state): State<Arc<AppState>>,
    visitor: Visitor,
    headers: HeaderMap,
    Form(form): Form<CsrfForm>,
) -> UiResult {
    visitor.credential.check_csrf(&form.csrf)?;
    state.sessions.close(&headers);
    Ok((
        StatusCode::SEE_OTHER,
        [(header::LOCATION, "/ui/login".to_owned()), (header::SET_COOKIE, session::clear_cookie())],
    )
        .into_response())
}

pub(super) async fn home(visitor: Visitor) -> UiResult {
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
pub(super) struct SwitchQuery {
    tenant: String,
}

pub(super) async fn switch(Query(query): Query<SwitchQuery>) -> Response {
    see_other(&format!("/ui/t/{}/", segment(&query.tenant)))
}
