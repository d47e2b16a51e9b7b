//! Sensor intake: batches of activities and heartbeats, each with the sensor's token.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use orthrus_center::health::Heartbeat;
use serde_json::json;

use crate::body::{Batch, JsonBody};
use crate::error::{ApiError, ApiResult};
use crate::scope::bearer;
use crate::state::{AppState, IntakeCounters, with_center};

pub(super) async fn ingest(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    JsonBody(batch): JsonBody<Batch>,
) -> ApiResult {
    let token = bearer(&headers).ok_or_else(ApiError::unauthorized)?.to_owned();
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

pub(super) async fn heartbeat(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    JsonBody(beat): JsonBody<Heartbeat>,
) -> ApiResult {
    let token = bearer(&headers).ok_or_else(ApiError::unauthorized)?.to_owned();
    let now = (state.clock)();
    let counted = state.clone();
    with_center(state, move |center| center.heartbeat(&token, &beat, now)).await?;
    IntakeCounters::add(&counted.intake.heartbeats, 1);
    Ok(StatusCode::NO_CONTENT.into_response())
}
