//! One incident as the API and the web UI both show it: its alerts in order of first
//! activity, the attack stages they cover in kill-chain order, the entities involved, and the
//! status and severity that follow from its alerts (open while any alert is open; the highest
//! severity). The grouping itself is the engine's (`orthrus_detect::correlation`).

use orthrus_model::{
    Alert, EntityRole, InvolvedEntity, Severity, TenantId, Timestamp, kill_chain_position, tactic_name,
};
use orthrus_store::{AlertFilter, AlertRecord, AlertStatus, MAX_PAGE, Page, Store, StoreError, entity_key};
use serde::Serialize;

/// An attack stage of the incident: a MITRE tactic and how many of its alerts stand for it.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Stage {
    pub tactic: String,
    pub name: &'static str,
    pub alerts: usize,
}

pub struct IncidentView {
    pub id: String,
    /// `open` while any alert is open, else `closed`.
    pub status: &'static str,
    pub severity: Severity,
    pub first_seen: Timestamp,
    pub last_seen: Timestamp,
    /// Oldest first; at most [`MAX_PAGE`], `omitted` more.
    pub alerts: Vec<(AlertRecord, Alert)>,
    pub omitted: u64,
    pub stages: Vec<Stage>,
    /// Each entity once (sources first), as the alerts' enrichment named it.
    pub entities: Vec<InvolvedEntity>,
}

/// The incident `id` of `tenant`, or None when it has no alert there.
pub fn load(store: &dyn Store, tenant: &TenantId, id: &str) -> Result<Option<IncidentView>, StoreError> {
    let filter = AlertFilter { entity: Some(entity_key("incident", id)), ..AlertFilter::default() };
    let page = store.alerts(tenant, &filter, Page { offset: 0, limit: MAX_PAGE })?;
    let mut alerts: Vec<(AlertRecord, Alert)> = Vec::with_capacity(page.alerts.len());
    for record in page.alerts {
        match serde_json::from_value::<Alert>(record.alert.clone()) {
            // The entity index is by normalised key: keep only the alerts of this very id.
            Ok(alert) if alert.incident.as_deref() == Some(id) => alerts.push((record, alert)),
            Ok(_) => {}
            Err(error) => {
                tracing::error!("stored alert {} of {} does not read: {error}", record.id, tenant.0)
            }
        }
    }
    let (Some(first_seen), Some(last_seen)) =
        (alerts.iter().map(|(r, _)| r.first_seen).min(), alerts.iter().map(|(r, _)| r.last_seen).max())
    else {
        return Ok(None);
    };
    alerts.sort_by(|(a, _), (b, _)| (a.first_seen, &a.id).cmp(&(b.first_seen, &b.id)));
    let mut stages: Vec<Stage> = Vec::new();
    for (_, alert) in &alerts {
        match stages.iter_mut().find(|s| s.tactic == *alert.mitre.tactic) {
            Some(stage) => stage.alerts += 1,
            None => stages.push(Stage {
                tactic: alert.mitre.tactic.to_string(),
                name: tactic_name(&alert.mitre.tactic),
                alerts: 1,
            }),
        }
    }
    stages.sort_by_key(|s| kill_chain_position(&s.tactic));
    let mut entities: Vec<InvolvedEntity> = Vec::new();
    for (_, alert) in &alerts {
        // The source address is no entity of the alert's own list (that names accounts and
        // computers); the incident names it first: it is often all that is known of the
        // attacker.
        let address = alert.source.ip.map(|ip| InvolvedEntity {
            role: EntityRole::Source,
            kind: "computer".into(),
            name: ip.to_string(),
            directory_name: None,
            sid: None,
            sensitive: false,
            sensitive_reason: None,
            honeytoken: false,
            domain_controller: false,
        });
        for entity in address.iter().chain(&alert.entities) {
            // `lab.test\da_admin` and `LAB\da_admin` are one account when the directory says so.
            let shown = |e: &InvolvedEntity| e.directory_name.clone().unwrap_or_else(|| e.name.clone());
            let known = entities.iter().any(|e| {
                e.role == entity.role
                    && e.kind == entity.kind
                    && shown(e).eq_ignore_ascii_case(&shown(entity))
            });
            if !known {
                entities.push(entity.clone());
            }
        }
    }
    entities.sort_by_key(|e| e.role != EntityRole::Source);
    let open = alerts.iter().any(|(r, _)| r.status == AlertStatus::Open);
    Ok(Some(IncidentView {
        id: id.to_owned(),
        status: if open { "open" } else { "closed" },
        severity: alerts.iter().map(|(r, _)| r.severity).max().unwrap_or(Severity::Low),
        first_seen,
        last_seen,
        omitted: page.total.saturating_sub(alerts.len() as u64),
        alerts,
        stages,
        entities,
    }))
}
