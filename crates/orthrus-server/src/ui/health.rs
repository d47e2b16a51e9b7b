//! A tenant's health: its sensors with their last heartbeat, and the open health issues.

use std::sync::Arc;

use askama::Template;
use axum::extract::State;
use orthrus_model::TenantId;

use super::page::{Frame, UiError, UiResult, html};
use super::view;
use super::visitor::TenantPage;
use crate::scope::Viewer;
use crate::state::{AppState, blocking, with_center};

/// A sensor as the health page lists it.
struct SensorRow {
    name: String,
    version: String,
    last_seen: String,
    /// Its last heartbeat's statistics, `key=value`.
    statistics: Vec<(String, String)>,
}

/// A health issue as the health page lists it.
pub(super) struct IssueRow {
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

pub(super) async fn open_health(state: &Arc<AppState>, tenant: &TenantId) -> Result<Vec<IssueRow>, UiError> {
    let tenant = tenant.clone();
    Ok(with_center(state.clone(), move |center| {
        Ok(center
            .open_health_issues(&tenant)
            .into_iter()
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

pub(super) async fn health(State(state): State<Arc<AppState>>, page_of: TenantPage<Viewer>) -> UiResult {
    let frame = page_of.frame("Health", "health");
    let tenant = &page_of.tenant;
    let sensors = blocking(|| state.store.sensors(tenant))?
        .into_iter()
        .map(|s| SensorRow {
            name: s.name,
            version: s.version.unwrap_or_default(),
            last_seen: s.last_seen.map_or_else(|| "never".to_owned(), view::time),
            statistics: s.status.as_ref().map(view::attribute_rows).unwrap_or_default(),
        })
        .collect();
    let issues = open_health(&state, tenant).await?;
    Ok(html(&HealthPage { frame, sensors, issues }))
}
