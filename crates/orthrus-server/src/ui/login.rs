//! Signing in and out, the home page, and switching tenants.

use std::sync::Arc;

use askama::Template;
use axum::extract::{Form, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::page::{UiError, UiResult, html, see_other};
use super::session;
use super::throttle::Refused;
use super::view::segment;
use super::visitor::Visitor;
use crate::serve::client_address;
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

/// Largest login form accepted: a name of at most 64 characters, a password, a `next` path —
/// well under a KiB in practice; anything larger is refused before it is read.
pub(super) const LOGIN_FORM_BYTES: usize = 4096;

pub(super) async fn login(
    State(state): State<Arc<AppState>>,
    extensions: axum::http::Extensions,
    Form(form): Form<LoginForm>,
) -> Response {
    let now = (state.clock)();
    let address = client_address(&extensions);
    let from = address.map_or_else(|| "an unknown address".to_owned(), |a| a.to_string());
    let next = safe_next(form.next.as_deref());
    let name = form.user.trim().to_owned();
    let refuse = |status: StatusCode, error: &str, shown: &str| {
        (status, html(&LoginPage { next: next.clone(), error: error.to_owned(), user: shown.to_owned() }))
            .into_response()
    };
    // A name no user can have (users' names are 1 to 64 letters, digits, `.`, `-`, `_`) is
    // refused before it reaches the store or the log: it may be a password typed in the
    // wrong field.
    if !orthrus_store::valid_name(&name) {
        tracing::warn!("web UI login from {from} refused: not a user name");
        return refuse(StatusCode::UNAUTHORIZED, "The user name or the password is wrong.", "");
    }
    let attempt = match state.logins.admit(&name, address, now) {
        Ok(attempt) => attempt,
        Err(refused) => {
            return throttled(&state, refused, &from, |error| {
                refuse(StatusCode::TOO_MANY_REQUESTS, error, &name)
            });
        }
    };
    let user = match blocking(|| state.store.user(&name)) {
        Ok(user) => user,
        Err(error) => return UiError::from(error).into_response(),
    };
    let kept = user.as_ref().and_then(|u| u.password_hash.clone());
    let verified = match attempt.verify(form.password, kept).await {
        Ok(verified) => verified,
        Err(refused) => {
            return throttled(&state, refused, &from, |error| {
                refuse(StatusCode::SERVICE_UNAVAILABLE, error, &name)
            });
        }
    };
    let known = user.is_some();
    let Some(user) = user.filter(|_| verified) else {
        attempt.failed(now);
        // The name is echoed only when it is a user's: an unknown one may be a password.
        if known {
            tracing::warn!("web UI login for {name} from {from} failed: wrong password");
        } else {
            tracing::warn!("web UI login from {from} failed: no such user");
        }
        return refuse(StatusCode::UNAUTHORIZED, "The user name or the password is wrong.", &name);
    };
    attempt.succeeded();
    let Some(id) = state.sessions.open(&user.name, user.session_epoch, now) else {
        return refuse(
            StatusCode::INTERNAL_SERVER_ERROR,
            "The center could not open a session (no randomness).",
            &name,
        );
    };
    tracing::info!("web UI login: {name} from {from}");
    (StatusCode::SEE_OTHER, [(header::LOCATION, next), (header::SET_COOKIE, session::set_cookie(&id))])
        .into_response()
}

/// A login the throttle held back, answered, and logged at most once a minute (a flood of
/// held-back logins would otherwise be a flood of log lines).
fn throttled(
    state: &AppState,
    refused: Refused,
    from: &str,
    answer: impl FnOnce(&str) -> Response,
) -> Response {
    match refused {
        Refused::Wait(seconds) => {
            state
                .logins
                .held_back_log
                .warn(format_args!("web UI login from {from} held back {seconds} s after repeated failures"));
            let mut response = answer(&format!(
                "Too many failed attempts; try again in {seconds} second{}.",
                if seconds == 1 { "" } else { "s" }
            ));
            if let Ok(value) = axum::http::HeaderValue::from_str(&seconds.to_string()) {
                response.headers_mut().insert(header::RETRY_AFTER, value);
            }
            response
        }
        Refused::Busy => {
            state
                .logins
                .held_back_log
                .warn(format_args!("web UI login from {from} held back: too many at once"));
            let mut response = answer("The center is busy with other sign-ins; try again in a few seconds.");
            response.headers_mut().insert(header::RETRY_AFTER, axum::http::HeaderValue::from_static("5"));
            response
        }
    }
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
