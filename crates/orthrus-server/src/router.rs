//! The center's whole HTTP face: the REST API and the web UI on one router, with the body
//! limit every route shares.

use std::sync::Arc;

use axum::Router;

use crate::state::{AppState, MAX_BODY_BYTES};

pub fn router(state: Arc<AppState>) -> Router {
    // The web UI checks its own session cookie (crate::ui::visitor), not a bearer token.
    Router::new()
        .merge(crate::api::routes(state.clone()))
        .merge(crate::ui::routes())
        .layer(axum::extract::DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(state)
}
