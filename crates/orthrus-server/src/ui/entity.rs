//! An entity's page: its directory object decoded, sensitivity, alerts, the computers it used
//! and the services it reached, its recent activities.

use std::sync::Arc;

use askama::Template;
use axum::extract::{Path, State};
use serde_json::Value;

use super::page::{Frame, UiResult, html};
use super::view::{self, ActivityRow, AlertRow};
use super::visitor::TenantPage;
use crate::profile::entity_profile;
use crate::scope::Viewer;
use crate::state::AppState;

/// Activities a profile reads (for the computers and services tables), and how many it lists.
const PROFILE_ACTIVITIES: usize = 500;
const PROFILE_TIMELINE: usize = 50;

#[derive(Template)]
#[template(path = "entity.html")]
struct EntityPage {
    frame: Frame,
    key: String,
    kind: String,
    qualified_name: String,
    domain: String,
    attributes: Vec<(String, String)>,
    /// What the heading calls it: the directory's name, else the key without its kind.
    heading: String,
    decoded: Vec<(&'static str, String)>,
    member_of: Vec<String>,
    /// Accounts its activities name (for addresses and computers: who used it).
    accounts: Vec<(String, u64)>,
    sensitive: String,
    honeytoken: bool,
    alerts_total: u64,
    alerts_open: u64,
    alerts: Vec<AlertRow>,
    computers: Vec<(String, u64)>,
    services: Vec<(String, u64)>,
    timeline: Vec<ActivityRow>,
    activities_read: usize,
    /// For an address: the computer there (its name, DNS name and page), the confidence and
    /// the methods that named it.
    resolved: Option<ResolvedComputer>,
}

struct ResolvedComputer {
    name: String,
    dns_name: String,
    href: String,
    confidence: &'static str,
    methods: Vec<&'static str>,
}

pub(super) async fn entity(
    State(state): State<Arc<AppState>>,
    page_of: TenantPage<Viewer>,
    Path((_, entity)): Path<(String, String)>,
) -> UiResult {
    let tenant = &page_of.tenant;
    let profile = entity_profile(&state, tenant, &entity, PROFILE_ACTIVITIES).await?;
    let kind = profile.key.split(':').next().unwrap_or_default().to_owned();
    let directory = profile.directory.unwrap_or(Value::Null);
    let qualified_name =
        directory.get("qualified_name").and_then(Value::as_str).unwrap_or_default().to_owned();
    let heading = if qualified_name.is_empty() {
        profile.key.split_once(':').map_or(profile.key.as_str(), |(_, name)| name).to_owned()
    } else {
        qualified_name.clone()
    };
    // An address is headed by the computer there too, when name resolution knows it.
    let heading = match &profile.resolution {
        Some(r) if kind == "ip" => format!("{heading} ({})", r.computer),
        _ => heading,
    };
    let frame = page_of.frame(&heading, "");
    let address =
        if kind == "ip" { profile.key.split_once(':').and_then(|(_, ip)| ip.parse().ok()) } else { None };
    let (computers, services, accounts) = view::logons_and_services(&profile.recent, address);
    let resolved = profile.resolution.map(|r| ResolvedComputer {
        href: format!(
            "{}/entities/{}",
            frame.base,
            view::segment(&orthrus_store::entity_key("computer", &r.computer))
        ),
        dns_name: r.dns_name.unwrap_or_default(),
        confidence: r.confidence.name(),
        methods: r.methods.iter().map(|m| m.label()).collect(),
        name: r.computer,
    });
    let page = EntityPage {
        resolved,
        qualified_name,
        heading,
        decoded: profile.decoded,
        member_of: profile.member_of,
        accounts: if kind == "account" { Vec::new() } else { accounts },
        domain: directory.get("domain").and_then(Value::as_str).unwrap_or_default().to_owned(),
        attributes: view::attribute_rows(directory.get("object").unwrap_or(&Value::Null)),
        sensitive: profile.sensitive.unwrap_or_default(),
        honeytoken: profile.honeytoken,
        alerts_total: profile.alerts.total,
        alerts_open: profile.open_alerts,
        alerts: profile.alerts.alerts.iter().map(|r| AlertRow::new(&tenant.0, r)).collect(),
        computers,
        services,
        timeline: profile.recent.iter().take(PROFILE_TIMELINE).map(|a| ActivityRow::new(a, false)).collect(),
        activities_read: profile.recent.len(),
        key: profile.key,
        kind,
        frame,
    };
    Ok(html(&page))
}
