//! A tenant's dashboard: alerts over time by detection, open health issues, sensors.

use std::sync::Arc;

use askama::Template;
use axum::extract::State;

use super::health::open_health;
use super::page::{Frame, UiResult, detection_titles, html};
use super::view;
use super::visitor::TenantPage;
use crate::scope::Viewer;
use crate::state::{AppState, blocking};

/// How far back the dashboard counts.
const DASHBOARD_DAYS: i64 = 365;

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

pub(super) async fn dashboard(State(state): State<Arc<AppState>>, page: TenantPage<Viewer>) -> UiResult {
    let frame = page.frame("Dashboard", "dashboard");
    let tenant = &page.tenant;
    let since = (state.clock)().saturating_add_secs(-DASHBOARD_DAYS * 86_400);
    let buckets = blocking(|| state.store.alert_histogram(tenant, since))?;
    let sensors = blocking(|| state.store.sensors(tenant))?.len();
    let health_issues = open_health(&state, tenant).await?.len();
    Ok(html(&DashboardPage {
        frame,
        board: view::Dashboard::new(&buckets),
        titles: detection_titles(),
        health_issues,
        sensors,
    }))
}
