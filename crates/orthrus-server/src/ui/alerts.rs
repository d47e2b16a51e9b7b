//! A tenant's alerts: the filtered, paged list.

use std::sync::Arc;

use askama::Template;
use axum::extract::{Query, State};
use orthrus_model::Severity;
use orthrus_store::{AlertFilter, AlertStatus, Page};
use serde::Deserialize;
use serde_json::Value;

use super::page::{Frame, UiResult, detection_titles, html};
use super::view::{self, AlertRow, segment};
use super::visitor::TenantPage;
use crate::scope::Viewer;
use crate::state::{AppState, blocking};

/// Alerts per page of the list.
const PAGE_SIZE: usize = 50;

#[derive(Deserialize, Default)]
pub(super) struct AlertListQuery {
    severity: Option<String>,
    status: Option<String>,
    detection: Option<String>,
    since: Option<String>,
    until: Option<String>,
    entity: Option<String>,
    page: Option<usize>,
}

#[derive(Template)]
#[template(path = "alerts.html")]
struct AlertsPage {
    frame: Frame,
    rows: Vec<AlertRow>,
    /// `1 alert`, `12 alerts`.
    count: String,
    /// 1-based.
    page: usize,
    pages: usize,
    previous: Option<String>,
    next: Option<String>,
    /// The filters as given (the form shows them again).
    severity: String,
    status: String,
    detection: String,
    since: String,
    until: String,
    entity: String,
    detections: Vec<(String, String)>,
    /// A sentence on a filter that could not be read.
    problem: String,
}

/// An entity as typed in a filter: `kind:name`, or an address, or an account name.
pub(super) fn entity_filter(text: &str) -> Option<String> {
    let text = text.trim();
    if text.is_empty() {
        return None;
    }
    Some(match text.split_once(':') {
        Some((kind, name)) if ["account", "computer", "ip", "incident"].contains(&kind) => {
            orthrus_store::entity_key(kind, name)
        }
        _ if text.parse::<std::net::IpAddr>().is_ok() => orthrus_store::entity_key("ip", text),
        _ => orthrus_store::entity_key("account", text),
    })
}

pub(super) async fn alerts(
    State(state): State<Arc<AppState>>,
    page_of: TenantPage<Viewer>,
    Query(query): Query<AlertListQuery>,
) -> UiResult {
    let frame = page_of.frame("Alerts", "alerts");
    let tenant = &page_of.tenant;
    let text = |v: &Option<String>| v.as_deref().unwrap_or_default().trim().to_owned();
    let (severity, status, detection) = (text(&query.severity), text(&query.status), text(&query.detection));
    let (since, until, entity) = (text(&query.since), text(&query.until), text(&query.entity));
    let mut problem = String::new();
    let mut day = |field: &str, value: &str| {
        if value.is_empty() {
            return None;
        }
        let parsed = view::parse_day(value);
        if parsed.is_none() {
            problem = format!("{field} {value:?} is not a date (YYYY-MM-DD); it was left out.");
        }
        parsed
    };
    let filter = AlertFilter {
        severity: serde_json::from_value::<Severity>(Value::String(severity.clone())).ok(),
        status: AlertStatus::parse(&status),
        detection: Some(detection.clone()).filter(|d| !d.is_empty()),
        since: day("From", &since),
        // The whole day named.
        until: day("To", &until).map(|t| t.saturating_add_secs(86_400 - 1)),
        entity: entity_filter(&entity),
    };
    let page = query.page.unwrap_or(1).max(1);
    let found = blocking(|| {
        state.store.alerts(
            tenant,
            &filter,
            Page { offset: (page - 1).saturating_mul(PAGE_SIZE), limit: PAGE_SIZE },
        )
    })?;
    let pages = usize::try_from(found.total).unwrap_or(usize::MAX).div_ceil(PAGE_SIZE).max(1);
    let link = |to: usize| {
        let mut href = format!("{}/alerts?page={to}", frame.base);
        for (key, value) in [
            ("severity", &severity),
            ("status", &status),
            ("detection", &detection),
            ("since", &since),
            ("until", &until),
            ("entity", &entity),
        ] {
            if !value.is_empty() {
                href.push_str(&format!("&{key}={}", segment(value)));
            }
        }
        href
    };
    let rows = found.alerts.iter().map(|r| AlertRow::new(&tenant.0, r)).collect();
    Ok(html(&AlertsPage {
        previous: (page > 1).then(|| link(page - 1)),
        next: (page < pages).then(|| link(page + 1)),
        frame,
        rows,
        count: view::plural(found.total, "alert", "alerts"),
        page,
        pages,
        severity,
        status,
        detection,
        since,
        until,
        entity,
        detections: detection_titles(),
        problem,
    }))
}
