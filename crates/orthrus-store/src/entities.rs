//! Entity keys: how activities and alerts are indexed by who and what they involve, so an
//! account's or a computer's timeline and alerts are one lookup away. One key names one
//! entity however the data spelled it: `account:bob` for `LAB\bob`, `bob@LAB.TEST` and `Bob`;
//! `computer:ws01` for `WS01`, `ws01.lab.test` and `WS01$`; `ip:10.0.0.5`.

use std::net::IpAddr;

use orthrus_model::{Activity, Alert};

/// The key of an entity of `kind` (`account`, `computer`, `ip`, `service`).
pub fn entity_key(kind: &str, value: &str) -> String {
    let value = value.trim();
    let normalized = match kind {
        "account" => {
            let bare = value.rsplit('\\').next().unwrap_or(value);
            let bare = bare.split('@').next().unwrap_or(bare);
            bare.to_lowercase()
        }
        "computer" => {
            let short = value.trim_start_matches('\\').split('.').next().unwrap_or(value);
            short.trim_end_matches('$').to_lowercase()
        }
        _ => value.to_lowercase(),
    };
    format!("{kind}:{normalized}")
}

/// Every entity an activity involves: its addresses, the computers it names, its accounts.
pub fn activity_entities(activity: &Activity) -> Vec<String> {
    let mut keys: Vec<String> = Vec::new();
    for ip in [activity.source.map(|e| e.ip), activity.destination.map(|e| e.ip)].into_iter().flatten() {
        keys.push(entity_key("ip", &ip.to_string()));
    }
    for host in [&activity.source_host, &activity.destination_host].into_iter().flatten() {
        keys.push(entity_key("computer", host));
    }
    for account in activity.accounts() {
        keys.push(entity_key("account", &account));
    }
    keys.retain(|k| !k.ends_with(':'));
    keys.sort();
    keys.dedup();
    keys
}

/// The key of an entity `alert` names. An account the directory knows is keyed by its
/// directory name: Samba's audit names a group's new member by DN (`CN=Bob User,CN=Users,…`),
/// the account other alerts and the account's profile call `LAB\bob`.
pub fn alert_entity_key(alert: &Alert, kind: &str, name: &str) -> String {
    let known = (kind == "account")
        .then(|| alert.entities.iter().find(|e| e.kind == "account" && e.name.eq_ignore_ascii_case(name)))
        .flatten()
        .and_then(|e| e.directory_name.as_deref());
    entity_key(kind, known.unwrap_or(name))
}

/// Every entity an alert names as source or target.
pub fn alert_entities(alert: &Alert) -> Vec<String> {
    let account = |name: &str| alert_entity_key(alert, "account", name);
    let mut keys: Vec<String> = Vec::new();
    if let Some(ip) = alert.source.ip {
        keys.push(entity_key("ip", &ip.to_string()));
    }
    keys.extend(alert.source.computer.iter().map(|c| entity_key("computer", c)));
    keys.extend(alert.source.account.iter().map(|a| account(a)));
    keys.extend(alert.targets.accounts.iter().map(|a| account(a)));
    for computer in &alert.targets.computers {
        keys.push(match computer.parse::<IpAddr>() {
            Ok(ip) => entity_key("ip", &ip.to_string()),
            Err(_) => entity_key("computer", computer),
        });
    }
    keys.extend(alert.targets.services.iter().map(|s| entity_key("service", s)));
    for entity in &alert.entities {
        keys.push(alert_entity_key(alert, &entity.kind, &entity.name));
    }
    // The incident, as an entity of its alerts: its listing and its alerts come from the same
    // index as every entity's.
    keys.extend(alert.incident.iter().map(|id| entity_key("incident", id)));
    keys.retain(|k| !k.ends_with(':'));
    keys.sort();
    keys.dedup();
    keys
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_key_per_entity_however_spelled() {
        for name in ["LAB\\bob", "bob@LAB.TEST", "Bob", " bob "] {
            assert_eq!(entity_key("account", name), "account:bob");
        }
        for name in ["WS01", "ws01.lab.test", "WS01$", "\\\\WS01"] {
            assert_eq!(entity_key("computer", name), "computer:ws01");
        }
        assert_eq!(entity_key("ip", "10.0.0.5"), "ip:10.0.0.5");
    }

    #[test]
    fn an_account_the_directory_knows_is_keyed_by_its_directory_name() {
        let alert: Alert = serde_json::from_value(serde_json::json!({
            "id": "ort-1", "tenant": "acme", "detection": "ORT-TEST", "title": "t",
            "description": "d", "severity": "high", "status": "open",
            "mitre": {"tactic": "TA0004", "techniques": []},
            "first_seen": "2026-12-01T10:00:00Z", "last_seen": "2026-12-01T10:00:00Z", "count": 1,
            "source": {"account": "LAB\\da_admin"},
            "targets": {"accounts": ["CN=Bob User,CN=Users,DC=lab,DC=test", "CN=Gone,CN=Users,DC=lab,DC=test"]},
            "evidence": [], "sensor": "s",
            "entities": [
                {"role": "target", "kind": "account", "name": "CN=Bob User,CN=Users,DC=lab,DC=test",
                 "directory_name": "LAB\\bob", "sensitive": false, "honeytoken": false, "domain_controller": false},
                {"role": "target", "kind": "account", "name": "CN=Gone,CN=Users,DC=lab,DC=test",
                 "sensitive": false, "honeytoken": false, "domain_controller": false}
            ],
        }))
        .unwrap();
        let keys = alert_entities(&alert);
        assert!(keys.contains(&"account:bob".to_owned()), "{keys:?}");
        assert!(!keys.iter().any(|k| k.starts_with("account:cn=bob")), "{keys:?}");
        // Unknown to the directory, the name it was given stays.
        assert!(keys.contains(&"account:cn=gone,cn=users,dc=lab,dc=test".to_owned()), "{keys:?}");
        assert!(keys.contains(&"account:da_admin".to_owned()), "{keys:?}");
    }
}
