//! The alert page's related alerts: other alerts that name the same source or the same
//! targeted accounts and computers, whether or not the correlator put them in the same
//! incident (an incident holds alerts within its window; an analyst also wants the alert on
//! the same account last month).

use orthrus_model::{Alert, TenantId, Timestamp};
use orthrus_store::{AlertFilter, Page, Store, alert_entity_key};

use super::view::AlertRow;

/// Related alerts an alert page lists: enough to see a pattern, few enough to read at a glance
/// (each entity's own page lists all of them).
pub const RELATED_ALERTS: usize = 10;

/// Entities whose other alerts are looked up, at most: the source's address, computer and
/// account and the first targets cover what two alerts usually share; every lookup is one
/// indexed query, so the page stays quick on a busy tenant.
const RELATED_ENTITIES: usize = 5;

/// One related alert and why it is related.
pub struct RelatedAlert {
    pub row: AlertRow,
    /// The entities both alerts name (`account alice`, `ip 10.0.0.5`).
    pub shared: String,
    pub same_incident: bool,
}

/// The entity keys worth relating on, each with its label. A domain controller is left out:
/// it is the target of nearly every alert, so sharing it says nothing.
fn relating_entities(alert: &Alert) -> Vec<(String, String)> {
    let is_dc =
        |name: &str| alert.entities.iter().any(|e| e.domain_controller && e.name.eq_ignore_ascii_case(name));
    let mut keys: Vec<(String, String)> = Vec::new();
    let mut add = |kind: &str, name: &str| {
        let key = alert_entity_key(alert, kind, name);
        if !name.is_empty() && !is_dc(name) && !keys.iter().any(|(k, _)| *k == key) {
            keys.push((key, format!("{kind} {name}")));
        }
    };
    if let Some(ip) = alert.source.ip {
        add("ip", &ip.to_string());
    }
    if let Some(computer) = &alert.source.computer {
        add("computer", computer);
    }
    if let Some(account) = &alert.source.account {
        add("account", account);
    }
    for account in &alert.targets.accounts {
        add("account", account);
    }
    for computer in &alert.targets.computers {
        match computer.parse::<std::net::IpAddr>() {
            Ok(ip) => add("ip", &ip.to_string()),
            Err(_) => add("computer", computer),
        }
    }
    keys.truncate(RELATED_ENTITIES);
    keys
}

/// Up to [`RELATED_ALERTS`] other alerts naming an entity of `alert`, most recent first.
pub fn related_alerts(
    store: &dyn Store,
    tenant: &TenantId,
    alert_id: &str,
    alert: &Alert,
) -> orthrus_store::Result<Vec<RelatedAlert>> {
    // Each with its last activity, the order shown.
    let mut found: Vec<(Timestamp, RelatedAlert)> = Vec::new();
    for (key, label) in relating_entities(alert) {
        let filter = AlertFilter { entity: Some(key), ..AlertFilter::default() };
        let page = store.alerts(tenant, &filter, Page { offset: 0, limit: RELATED_ALERTS + 1 })?;
        for record in page.alerts.into_iter().filter(|r| r.id != alert_id) {
            if let Some((_, known)) = found.iter_mut().find(|(_, f)| f.row.id == record.id) {
                known.shared.push_str(&format!(", {label}"));
                continue;
            }
            let incident = record.alert.get("incident").and_then(serde_json::Value::as_str);
            let related = RelatedAlert {
                same_incident: incident.is_some() && incident == alert.incident.as_deref(),
                shared: label.clone(),
                row: AlertRow::new(&tenant.0, &record),
            };
            found.push((record.last_seen, related));
        }
    }
    found.sort_by(|(a_seen, a), (b_seen, b)| b_seen.cmp(a_seen).then_with(|| a.row.id.cmp(&b.row.id)));
    Ok(found.into_iter().take(RELATED_ALERTS).map(|(_, related)| related).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn relates_on_source_and_targets_but_not_on_a_domain_controller() {
        let alert: Alert = serde_json::from_value(json!({
            "id": "ort-1", "tenant": "acme", "detection": "ORT-TEST", "title": "t",
            "description": "d", "severity": "medium", "status": "open",
            "mitre": {"tactic": "TA0006", "techniques": []},
            "first_seen": "2026-12-01T10:00:00Z", "last_seen": "2026-12-01T10:05:00Z", "count": 1,
            "source": {"ip": "10.1.2.3", "account": "alice"},
            "targets": {"accounts": ["svc_sql"], "computers": ["10.1.2.1", "FS01"]},
            "evidence": [], "sensor": "s",
            "entities": [{"role": "target", "kind": "computer", "name": "10.1.2.1", "sensitive": false,
                "honeytoken": false, "domain_controller": true}],
        }))
        .unwrap();
        let labels: Vec<String> = relating_entities(&alert).into_iter().map(|(_, label)| label).collect();
        assert_eq!(labels, ["ip 10.1.2.3", "account alice", "account svc_sql", "computer FS01"]);
    }
}
