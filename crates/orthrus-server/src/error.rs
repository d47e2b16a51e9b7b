//! An API error: a status and a sentence, sent as `{"error": "..."}`.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use orthrus_center::CenterError;
use orthrus_store::StoreError;
use serde_json::json;

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

    /// No token, or one nobody holds.
    pub fn unauthorized() -> Self {
        Self(StatusCode::UNAUTHORIZED, "a valid token is required (Authorization: Bearer …)".into())
    }

    pub fn not_found(what: impl std::fmt::Display) -> Self {
        Self(StatusCode::NOT_FOUND, format!("{what} not found"))
    }

    pub fn bad_request(why: impl Into<String>) -> Self {
        Self(StatusCode::BAD_REQUEST, why.into())
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

impl From<CenterError> for ApiError {
    fn from(error: CenterError) -> Self {
        match error {
            CenterError::Unauthorized => ApiError::unauthorized(),
            CenterError::Store(e) => e.into(),
        }
    }
}

pub type ApiResult = Result<Response, ApiError>;
