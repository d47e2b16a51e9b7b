//! What every page shares: the frame (who, where, the tenant switcher, the CSRF token), the
//! error page, and rendering.

use askama::Template;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::view::segment;
use crate::error::ApiError;
use crate::scope::Refusal;

pub(super) fn see_other(to: &str) -> Response {
    (StatusCode::SEE_OTHER, [(header::LOCATION, to.to_owned())]).into_response()
}

/// Why a page is not shown.
pub enum UiError {
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

pub(super) type UiResult = Result<Response, UiError>;

pub(super) fn html(page: &impl Template) -> Response {
    match page.render() {
        Ok(body) => ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], body).into_response(),
        Err(error) => {
            tracing::error!("rendering a page: {error}");
            (StatusCode::INTERNAL_SERVER_ERROR, "the page could not be rendered; see the center's log")
                .into_response()
        }
    }
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

impl From<Refusal> for UiError {
    fn from(refusal: Refusal) -> Self {
        match refusal {
            Refusal::SignedOut { path } => UiError::SignIn(path),
            Refusal::NoTenant(tenant) => {
                UiError::Page(StatusCode::NOT_FOUND, format!("There is no tenant {tenant} for you."))
            }
            Refusal::RoleTooLow { tenant, needed } => UiError::Page(
                StatusCode::FORBIDDEN,
                format!("This needs the {} role in {tenant}.", needed.name()),
            ),
            Refusal::Store(error) => error.into(),
        }
    }
}

/// Every detection's id and title, for filters and charts.
pub(super) fn detection_titles() -> Vec<(String, String)> {
    orthrus_detect::detections::DETECTIONS
        .iter()
        .map(|d| (d.meta.id.to_owned(), d.meta.title.to_owned()))
        .collect()
}
