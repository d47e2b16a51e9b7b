//! An entity's profile and timeline.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::response::IntoResponse;
use orthrus_model::Timestamp;
use orthrus_store::ActivityQuery;
use serde::Deserialize;
use serde_json::json;

use super::alerts::alert_json;
use crate::error::ApiResult;
use crate::profile::{PROFILE_ITEMS, entity_profile};
use crate::scope::{Scoped, Token, Viewer};
use crate::state::{AppState, blocking};

#[derive(Deserialize, Default)]
pub(super) struct TimelineQuery {
    since: Option<Timestamp>,
    until: Option<Timestamp>,
    limit: Option<usize>,
}

pub(super) async fn timeline(
    State(state): State<Arc<AppState>>,
    scope: Scoped<Token, Viewer>,
    Path((_, entity)): Path<(String, String)>,
    Query(query): Query<TimelineQuery>,
) -> ApiResult {
    let activities = blocking(|| {
        state.store.activities(
            &scope.tenant,
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

pub(super) async fn profile(
    State(state): State<Arc<AppState>>,
    scope: Scoped<Token, Viewer>,
    Path((_, entity)): Path<(String, String)>,
) -> ApiResult {
    let profile = entity_profile(&state, &scope.tenant, &entity, PROFILE_ITEMS).await?;
    Ok(Json(json!({
        "entity": profile.key,
        "directory": profile.directory,
        "decoded": profile.decoded.iter().map(|(label, value)| json!({ "label": label, "value": value })).collect::<Vec<_>>(),
        "member_of": profile.member_of,
        "sensitive": profile.sensitive,
        "honeytoken": profile.honeytoken,
        "alerts": {
            "total": profile.alerts.total,
            "open": profile.open_alerts,
            "recent": profile.alerts.alerts.into_iter().map(alert_json).collect::<Vec<_>>(),
        },
        "recent_activities": profile.recent,
        "resolution": profile.resolution,
    }))
    .into_response())
}
