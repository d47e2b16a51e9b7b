//! One alert: what happened, who and what it involves, its evidence and the activities around
//! it, its comments; changing its status and commenting.

use std::sync::Arc;

use askama::Template;
use axum::Json;
use axum::extract::{Form, Path, State};
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use orthrus_model::{Alert, EntityRole, Position};
use orthrus_store::{ActivityQuery, AlertStatus, Classification, StatusChange};
use serde::Deserialize;
use serde_json::{Value, json};

use super::page::{Frame, UiError, UiResult, html, see_other};
use super::view::{self, ActivityRow, AlertRow, segment};
use super::visitor::TenantPage;
use crate::scope::{Analyst, Viewer};
use crate::state::{AppState, blocking};

/// Activities an alert page shows around the alert.
const ALERT_TIMELINE: usize = 200;

fn no_alert(id: &str) -> UiError {
    UiError::Page(StatusCode::NOT_FOUND, format!("There is no alert {id}."))
}

/// An involved entity as the alert page lists it.
struct EntityLink {
    role: &'static str,
    kind: String,
    name: String,
    href: String,
    directory_name: String,
    sensitive: bool,
    sensitive_reason: String,
    honeytoken: bool,
    domain_controller: bool,
}

#[derive(Template)]
#[template(path = "alert.html")]
struct AlertPage {
    frame: Frame,
    row: AlertRow,
    mdi: String,
    /// The detection's own words: what it means, its impact, the actions it recommends.
    meaning: &'static str,
    impact: &'static str,
    actions: &'static [&'static str],
    tactic: String,
    /// Technique id and its ATT&CK page.
    techniques: Vec<(String, String)>,
    /// Label, value, link to its profile.
    source: Vec<(&'static str, String, Option<String>)>,
    resolution: String,
    entities: Vec<EntityLink>,
    services: Vec<String>,
    /// File, place, what it shows.
    evidence: Vec<(String, String, String)>,
    evidence_omitted: u64,
    sensor: String,
    /// The incident it belongs to, and its page.
    incident: Option<(String, String)>,
    related: Vec<super::related::RelatedAlert>,
    timeline: Vec<view::ActivityGroup>,
    timeline_entity: String,
    comments: Vec<(String, String, String)>,
    /// When, who, what (`closed as a benign true positive`), why.
    history: Vec<(String, String, String, String)>,
    /// Value and label of each classification, for the closing form.
    classifications: Vec<(&'static str, &'static str)>,
    evidence_href: String,
}

fn position_number(at: Position) -> u64 {
    match at {
        Position::Frame(n) | Position::Record(n) | Position::Line(n) => n,
    }
}

fn position_text(at: Position) -> String {
    match at {
        Position::Frame(n) => format!("frame {n}"),
        Position::Record(n) => format!("record {n}"),
        Position::Line(n) => format!("line {n}"),
    }
}

/// The profile page of an entity `alert` names, by its key (a "computer" known only by its
/// address is that address).
fn entity_href(base: &str, alert: &Alert, kind: &str, name: &str) -> String {
    let kind = if kind == "computer" && name.parse::<std::net::IpAddr>().is_ok() { "ip" } else { kind };
    format!("{base}/entities/{}", segment(&orthrus_store::alert_entity_key(alert, kind, name)))
}

pub(super) async fn alert(
    State(state): State<Arc<AppState>>,
    page_of: TenantPage<Viewer>,
    Path((_, id)): Path<(String, String)>,
) -> UiResult {
    let tenant = &page_of.tenant;
    let record = blocking(|| state.store.alert(tenant, &id))?.ok_or_else(|| no_alert(&id))?;
    let stored: Alert = serde_json::from_value(record.alert.clone()).map_err(|error| {
        tracing::error!("stored alert {id} of {} does not read: {error}", tenant.0);
        UiError::Page(StatusCode::INTERNAL_SERVER_ERROR, format!("The stored alert {id} does not read."))
    })?;
    let row = AlertRow::new(&tenant.0, &record);
    let frame = page_of.frame(&row.title, "alerts");
    let base = frame.base.clone();
    let mut source = Vec::new();
    if let Some(ip) = stored.source.ip {
        source.push(("Address", ip.to_string(), Some(entity_href(&base, &stored, "ip", &ip.to_string()))));
    }
    if let Some(computer) = &stored.source.computer {
        source.push(("Computer", computer.clone(), Some(entity_href(&base, &stored, "computer", computer))));
    }
    if let Some(account) = &stored.source.account {
        source.push(("Account", account.clone(), Some(entity_href(&base, &stored, "account", account))));
    }
    let resolution = stored
        .source
        .resolution
        .as_ref()
        .map(|r| format!("{} confidence, from {}", r.confidence, r.methods.join(", ")))
        .unwrap_or_default();
    let mut entities: Vec<EntityLink> = stored
        .entities
        .iter()
        .map(|e| EntityLink {
            role: match e.role {
                EntityRole::Source => "source",
                EntityRole::Target => "target",
            },
            kind: e.kind.clone(),
            name: e.name.clone(),
            href: entity_href(&base, &stored, &e.kind, &e.name),
            directory_name: e.directory_name.clone().unwrap_or_default(),
            sensitive: e.sensitive,
            sensitive_reason: e.sensitive_reason.clone().unwrap_or_default(),
            honeytoken: e.honeytoken,
            domain_controller: e.domain_controller,
        })
        .collect();
    // Without a directory the enrichment lists no entities: the targets still deserve links.
    if entities.is_empty() {
        let plain = |kind: &str, name: &String| EntityLink {
            role: "target",
            kind: kind.to_owned(),
            name: name.clone(),
            href: entity_href(&base, &stored, kind, name),
            directory_name: String::new(),
            sensitive: false,
            sensitive_reason: String::new(),
            honeytoken: false,
            domain_controller: false,
        };
        entities.extend(stored.targets.accounts.iter().map(|a| plain("account", a)));
        entities.extend(stored.targets.computers.iter().map(|c| plain("computer", c)));
    }
    let cited: std::collections::HashSet<(&str, Position)> =
        stored.evidence.iter().map(|e| (e.at.file.as_ref(), e.at.at)).collect();
    // The activities behind the alert: the source's (its address, else its account) over the
    // alert's span, oldest first, those the alert cites marked.
    let timeline_entity = stored
        .source
        .ip
        .map(|ip| orthrus_store::entity_key("ip", &ip.to_string()))
        .or_else(|| {
            stored.source.account.as_deref().map(|a| orthrus_store::alert_entity_key(&stored, "account", a))
        })
        .or_else(|| stored.source.computer.as_deref().map(|c| orthrus_store::entity_key("computer", c)))
        .or_else(|| {
            stored.targets.accounts.first().map(|a| orthrus_store::alert_entity_key(&stored, "account", a))
        })
        .unwrap_or_default();
    let mut activities = if timeline_entity.is_empty() {
        Vec::new()
    } else {
        blocking(|| {
            state.store.activities(
                tenant,
                &ActivityQuery {
                    entity: Some(timeline_entity.clone()),
                    since: Some(record.first_seen),
                    until: Some(record.last_seen),
                    limit: ALERT_TIMELINE,
                },
            )
        })?
    };
    activities.reverse();
    let timeline = view::group_activities(
        activities
            .iter()
            .map(|a| {
                let is_evidence = a.provenance.iter().any(|p| cited.contains(&(p.file.as_ref(), p.at)));
                ActivityRow::new(a, is_evidence)
            })
            .collect(),
    );
    let related =
        blocking(|| super::related::related_alerts(state.store.as_ref(), tenant, &record.id, &stored))?;
    let meta = orthrus_detect::detections::meta(&record.detection);
    let page = AlertPage {
        mdi: meta.map(|m| m.mdi.to_owned()).unwrap_or_default(),
        meaning: meta.map_or("", |m| m.meaning),
        impact: meta.map_or("", |m| m.impact),
        actions: meta.map_or(&[], |m| m.actions),
        tactic: stored.mitre.tactic.into_owned(),
        techniques: stored
            .mitre
            .techniques
            .iter()
            .map(|t| (t.to_string(), format!("https://attack.mitre.org/techniques/{}/", t.replace('.', "/"))))
            .collect(),
        source,
        resolution,
        entities,
        services: stored.targets.services.into_iter().collect(),
        evidence: stored.evidence.iter().fold(Vec::<(String, String, String)>::new(), |mut rows, e| {
            // A request and its answer (or repeats) cite one activity: one row, both places.
            match rows.last_mut() {
                Some((file, places, summary)) if *file == *e.at.file && *summary == e.summary => {
                    places.push_str(&format!(", {}", position_number(e.at.at)));
                }
                _ => rows.push((e.at.file.to_string(), position_text(e.at.at), e.summary.clone())),
            }
            rows
        }),
        evidence_omitted: stored.evidence_omitted,
        related,
        incident: stored.incident.map(|id| (format!("{base}/incidents/{}", segment(&id)), id)),
        sensor: stored.sensor,
        timeline,
        timeline_entity,
        comments: record
            .comments
            .iter()
            .map(|c| (view::time(c.time), c.author.clone(), c.text.clone()))
            .collect(),
        history: record
            .history
            .iter()
            .map(|c| {
                let what = match c.classification {
                    Some(classification) => {
                        format!("{} as {}", c.status.name(), classification.label().to_lowercase())
                    }
                    None => c.status.name().to_owned(),
                };
                (view::time(c.time), c.author.clone(), what, c.reason.clone())
            })
            .collect(),
        classifications: Classification::ALL.iter().map(|c| (c.name(), c.label())).collect(),
        evidence_href: format!("{}/evidence.json", row.href),
        row,
        frame,
    };
    Ok(html(&page))
}

pub(super) async fn evidence(
    State(state): State<Arc<AppState>>,
    page_of: TenantPage<Viewer>,
    Path((_, id)): Path<(String, String)>,
) -> UiResult {
    let record = blocking(|| state.store.alert(&page_of.tenant, &id))?.ok_or_else(|| no_alert(&id))?;
    let field = |key: &str| record.alert.get(key).cloned().unwrap_or(Value::Null);
    let body = json!({
        "alert": record.id,
        "tenant": record.tenant.0.as_ref(),
        "detection": record.detection,
        "title": field("title"),
        "description": field("description"),
        "first_seen": record.first_seen,
        "last_seen": record.last_seen,
        "sensor": field("sensor"),
        "evidence": field("evidence"),
        "evidence_omitted": field("evidence_omitted"),
    });
    let file = format!("attachment; filename=\"orthrus-{}-evidence.json\"", segment(&record.id));
    Ok(([(header::CONTENT_DISPOSITION, file)], Json(body)).into_response())
}

#[derive(Deserialize)]
pub(super) struct StatusForm {
    csrf: String,
    status: String,
    /// Closing: how the analyst judged the alert (required then).
    #[serde(default)]
    classification: String,
    #[serde(default)]
    reason: String,
}

pub(super) async fn set_status(
    State(state): State<Arc<AppState>>,
    page_of: TenantPage<Analyst>,
    Path((_, id)): Path<(String, String)>,
    Form(form): Form<StatusForm>,
) -> UiResult {
    page_of.credential.check_csrf(&form.csrf)?;
    let (tenant, frame) = (&page_of.tenant, page_of.frame("", "alerts"));
    let status = AlertStatus::parse(&form.status).ok_or_else(|| {
        UiError::Page(StatusCode::BAD_REQUEST, format!("{:?} is not a status.", form.status))
    })?;
    let classification = match (status, Classification::parse(&form.classification)) {
        (AlertStatus::Closed, None) => {
            return Err(UiError::Page(
                StatusCode::BAD_REQUEST,
                "Closing an alert needs a classification: true positive, benign true positive or false positive."
                    .into(),
            ));
        }
        (AlertStatus::Closed, found) => found,
        _ => None,
    };
    let change = StatusChange {
        time: (state.clock)(),
        author: page_of.user.name.clone(),
        status,
        classification,
        reason: form.reason.trim().to_owned(),
    };
    if !blocking(|| state.store.change_status(tenant, &id, &change))? {
        return Err(no_alert(&id));
    }
    tracing::info!("alert {id} in {} set {} by {} (web UI)", tenant.0, status.name(), page_of.user.name);
    Ok(see_other(&format!("{}/alerts/{}", frame.base, segment(&id))))
}

#[derive(Deserialize)]
pub(super) struct CommentForm {
    csrf: String,
    text: String,
}

pub(super) async fn comment(
    State(state): State<Arc<AppState>>,
    page_of: TenantPage<Analyst>,
    Path((_, id)): Path<(String, String)>,
    Form(form): Form<CommentForm>,
) -> UiResult {
    page_of.credential.check_csrf(&form.csrf)?;
    let (tenant, frame) = (&page_of.tenant, page_of.frame("", "alerts"));
    let now = (state.clock)();
    if !blocking(|| state.store.comment(tenant, &id, &page_of.user.name, form.text.trim(), now))? {
        return Err(no_alert(&id));
    }
    Ok(see_other(&format!("{}/alerts/{}", frame.base, segment(&id))))
}
