//! A tenant's dashboard: alerts over time by detection, open health issues, sensors.

use std::sync::Arc;

use askama::Template;
use axum::extract::State;

use orthrus_store::Page;

use super::health::open_health;
use super::incidents::IncidentRow;
use super::page::{Frame, UiResult, detection_titles, html};
use super::view;
use super::visitor::TenantPage;
use crate::scope::Viewer;
use crate::state::{AppState, blocking};

/// Incidents and entities the dashboard lists: what fits on a screen beside the chart.
const RECENT_INCIDENTS: usize = 5;
const TOP_ENTITIES: usize = 8;

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
    incidents: Vec<IncidentRow>,
    /// Each entity's name, kind, profile and `3 open alerts`.
    top_entities: Vec<(String, String, String, String)>,
    /// How many of the latest open alerts the ranking reads.
    sample: usize,
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
    let incidents = blocking(|| state.store.incidents(tenant, Page { offset: 0, limit: RECENT_INCIDENTS }))?;
    let top = blocking(|| state.store.top_entities(tenant, TOP_ENTITIES))?;
    let top_entities = top
        .into_iter()
        .map(|(key, open)| {
            let href = format!("{}/entities/{}", frame.base, view::segment(&key));
            // Named as a reader says it (`10.0.0.5`, an address), not by its key (`ip:10.0.0.5`).
            let (kind, name) = key.split_once(':').unwrap_or(("", key.as_str()));
            let kind = if kind == "ip" { "address" } else { kind };
            (name.to_owned(), kind.to_owned(), href, view::plural(open, "open alert", "open alerts"))
        })
        .collect();
    Ok(html(&DashboardPage {
        incidents: incidents.incidents.iter().map(|i| IncidentRow::new(&tenant.0, i)).collect(),
        top_entities,
        sample: orthrus_store::TOP_ENTITIES_SAMPLE,
        frame,
        board: view::Dashboard::new(&buckets),
        titles: detection_titles(),
        health_issues,
        sensors,
    }))
}
