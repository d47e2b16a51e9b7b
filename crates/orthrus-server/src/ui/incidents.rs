//! Incidents: the list (latest first) and one incident's page — its story in order, the
//! attack stages it covers, the entities it involves, its alerts.

use std::sync::Arc;

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use orthrus_model::EntityRole;
use orthrus_store::Page;
use serde::Deserialize;

use super::page::{Frame, UiError, UiResult, html};
use super::view::{self, AlertRow, segment};
use super::visitor::TenantPage;
use crate::scope::Viewer;
use crate::state::{AppState, blocking};

/// Incidents per page of the list.
const PAGE_SIZE: usize = 50;

/// An incident as a row of the list or the dashboard.
pub(super) struct IncidentRow {
    pub href: String,
    pub id: String,
    pub status: &'static str,
    pub severity: String,
    /// `3 alerts (1 open)`.
    pub alerts: String,
    pub first_seen: String,
    pub last_seen: String,
}

impl IncidentRow {
    pub fn new(tenant: &str, summary: &orthrus_store::IncidentSummary) -> Self {
        Self {
            href: format!("/ui/t/{}/incidents/{}", segment(tenant), segment(&summary.id)),
            id: summary.id.clone(),
            status: if summary.open > 0 { "open" } else { "closed" },
            severity: summary.severity.to_string(),
            alerts: format!("{} ({} open)", view::plural(summary.alerts, "alert", "alerts"), summary.open),
            first_seen: view::time(summary.first_seen),
            last_seen: view::time(summary.last_seen),
        }
    }
}

#[derive(Deserialize, Default)]
pub(super) struct IncidentListQuery {
    page: Option<usize>,
}

#[derive(Template)]
#[template(path = "incidents.html")]
struct IncidentsPage {
    frame: Frame,
    rows: Vec<IncidentRow>,
    count: String,
    page: usize,
    pages: usize,
    previous: Option<String>,
    next: Option<String>,
}

pub(super) async fn incidents(
    State(state): State<Arc<AppState>>,
    page_of: TenantPage<Viewer>,
    Query(query): Query<IncidentListQuery>,
) -> UiResult {
    let frame = page_of.frame("Incidents", "incidents");
    let tenant = &page_of.tenant;
    let page = query.page.unwrap_or(1).max(1);
    let found = blocking(|| {
        state.store.incidents(tenant, Page { offset: (page - 1).saturating_mul(PAGE_SIZE), limit: PAGE_SIZE })
    })?;
    let pages = usize::try_from(found.total).unwrap_or(usize::MAX).div_ceil(PAGE_SIZE).max(1);
    let link = |to: usize| format!("{}/incidents?page={to}", frame.base);
    Ok(html(&IncidentsPage {
        previous: (page > 1).then(|| link(page - 1)),
        next: (page < pages).then(|| link(page + 1)),
        rows: found.incidents.iter().map(|i| IncidentRow::new(&tenant.0, i)).collect(),
        count: view::plural(found.total, "incident", "incidents"),
        frame,
        page,
        pages,
    }))
}

/// An entity of the incident, linked to its profile.
struct EntityItem {
    role: &'static str,
    kind: String,
    name: String,
    href: String,
    marks: String,
}

#[derive(Template)]
#[template(path = "incident.html")]
struct IncidentPage {
    frame: Frame,
    id: String,
    status: &'static str,
    severity: String,
    first_seen: String,
    last_seen: String,
    /// Tactic name and how many alerts, in kill-chain order.
    stages: Vec<(String, String)>,
    entities: Vec<EntityItem>,
    /// Oldest first: the story in order.
    alerts: Vec<(AlertRow, String)>,
    omitted: u64,
    alerts_href: String,
}

pub(super) async fn incident(
    State(state): State<Arc<AppState>>,
    page_of: TenantPage<Viewer>,
    Path((_, id)): Path<(String, String)>,
) -> UiResult {
    let tenant = &page_of.tenant;
    let view = blocking(|| crate::incident::load(&*state.store, tenant, &id))?
        .ok_or_else(|| UiError::Page(StatusCode::NOT_FOUND, format!("There is no incident {id}.")))?;
    let stages: Vec<&str> = view.stages.iter().map(|s| s.name).filter(|n| !n.is_empty()).collect();
    let heading = if stages.is_empty() {
        format!("Incident {id}")
    } else {
        format!("Incident {id}: {}", stages.join(" · "))
    };
    let frame = page_of.frame(&heading, "incidents");
    let base = frame.base.clone();
    let entities = view
        .entities
        .iter()
        .map(|e| {
            let address = e.kind == "computer" && e.name.parse::<std::net::IpAddr>().is_ok();
            let kind = if address { "ip" } else { &e.kind };
            let mut marks = Vec::new();
            if e.domain_controller {
                marks.push("domain controller".to_owned());
            }
            if e.sensitive {
                marks.push(e.sensitive_reason.clone().unwrap_or_else(|| "sensitive".into()));
            }
            if e.honeytoken {
                marks.push("honeytoken".into());
            }
            // Accounts as the directory names them (their profile's key too); computers by
            // their own name (the directory's `DOMAIN\NAME$` is the account behind it).
            let name = match (&e.directory_name, e.kind.as_str()) {
                (Some(directory), "account") => directory.clone(),
                _ => e.name.clone(),
            };
            EntityItem {
                role: if e.role == EntityRole::Source { "source" } else { "target" },
                kind: if address { "address".into() } else { e.kind.clone() },
                href: format!("{base}/entities/{}", segment(&orthrus_store::entity_key(kind, &name))),
                name,
                marks: marks.join(", "),
            }
        })
        .collect();
    let alerts = view
        .alerts
        .iter()
        .map(|(record, alert)| {
            (AlertRow::new(&tenant.0, record), orthrus_model::tactic_name(&alert.mitre.tactic).to_owned())
        })
        .collect();
    Ok(html(&IncidentPage {
        alerts_href: format!("{base}/alerts?entity={}", segment(&format!("incident:{id}"))),
        stages: view
            .stages
            .iter()
            .map(|s| (s.name.to_owned(), view::plural(s.alerts as u64, "alert", "alerts")))
            .collect(),
        id: view.id,
        status: view.status,
        severity: view.severity.to_string(),
        first_seen: view::time(view.first_seen),
        last_seen: view::time(view.last_seen),
        entities,
        alerts,
        omitted: view.omitted,
        frame,
    }))
}
