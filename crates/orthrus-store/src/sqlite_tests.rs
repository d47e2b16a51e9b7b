//! The SQLite store's own tests: schema upgrades over data an older version wrote, and the
//! plans of the queries that must stay indexed.

#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

use super::*;

/// A store written with the first schema (one row per activity) keeps its activities and
/// timelines when the block schema is applied.
#[test]
fn activities_of_the_first_schema_are_carried_into_blocks() {
    let mut connection = Connection::open_in_memory().unwrap();
    embedded::migrations::runner().set_target(refinery::Target::Version(2)).run(&mut connection).unwrap();
    let activity = Activity {
        time: Timestamp::from_micros(1_000),
        tenant: TenantId("acme".into()),
        sensor: "dc1".into(),
        source: None,
        destination: None,
        transport: None,
        source_host: Some("WS01".into()),
        destination_host: None,
        provenance: Vec::new(),
        kind: orthrus_model::ActivityKind::NameLookedUp(orthrus_model::NameLookup {
            address: "10.0.0.5".parse().unwrap(),
            name: "ws01.example.com".into(),
            server: "10.0.0.1:53".into(),
        }),
    };
    connection.execute("INSERT INTO tenants (id, name, created) VALUES ('acme', 'ACME', 0)", []).unwrap();
    connection
        .execute(
            "INSERT INTO activities (id, tenant, time, sensor, kind, record) VALUES (5, 'acme', 1000, 'dc1', 'x', ?1)",
            [serde_json::to_string(&activity).unwrap()],
        )
        .unwrap();
    connection
        .execute(
            "INSERT INTO activity_entities (tenant, entity, time, activity) VALUES ('acme', 'computer:ws01', 1000, 5)",
            [],
        )
        .unwrap();
    let store = SqliteStore::prepare(connection).unwrap();
    let acme = TenantId("acme".into());
    assert_eq!(store.activity_count(&acme).unwrap(), 1);
    let replayed = store.activities_after(&acme, 0, 10).unwrap();
    assert_eq!(replayed.len(), 1);
    assert_eq!(replayed[0].1, activity);
    let timeline = store
        .activities(
            &acme,
            &ActivityQuery { entity: Some("computer:ws01".into()), limit: 10, ..Default::default() },
        )
        .unwrap();
    assert_eq!(timeline, vec![activity]);
}

/// A store written before the entity rows carried their alert's status and last activity
/// (V6) lists an entity's alerts by status right after the upgrade: the rows are filled from
/// the alerts.
#[test]
fn entity_rows_of_older_alerts_are_filled_when_the_schema_is_upgraded() {
    let mut connection = Connection::open_in_memory().unwrap();
    embedded::migrations::runner().set_target(refinery::Target::Version(6)).run(&mut connection).unwrap();
    connection.execute("INSERT INTO tenants (id, name, created) VALUES ('acme', 'ACME', 0)", []).unwrap();
    for (id, status, last_seen) in [("old-open", "open", 5_000), ("old-closed", "closed", 9_000)] {
        let record = serde_json::json!({"id": id, "title": "t", "description": "d"}).to_string();
        connection
            .execute(
                &format!("INSERT INTO alerts ({ALERT_COLUMNS}) VALUES (?1, 'acme', 'ORT-TEST', 'high', ?2, 1000, ?3, 1, ?4)"),
                params![id, status, last_seen, record],
            )
            .unwrap();
        connection
            .execute(
                "INSERT INTO alert_entities (tenant, entity, alert) VALUES ('acme', 'account:bob', ?1)",
                [id],
            )
            .unwrap();
    }
    let store = SqliteStore::prepare(connection).unwrap();
    let acme = TenantId("acme".into());
    let list = |status| {
        let filter = crate::AlertFilter { entity: Some("account:bob".into()), status, ..Default::default() };
        store
            .alerts(&acme, &filter, Page::default())
            .unwrap()
            .alerts
            .into_iter()
            .map(|a| a.id)
            .collect::<Vec<_>>()
    };
    assert_eq!(list(None), ["old-closed", "old-open"], "newest first");
    assert_eq!(list(Some(AlertStatus::Open)), ["old-open"]);
    assert_eq!(list(Some(AlertStatus::Closed)), ["old-closed"]);
}

/// The listings read indexes, never every alert of a tenant: on an empty store (no statistics)
/// SQLite's planner once chose to scan the alerts against an `id IN (…)` list, which took
/// minutes over 100 000 alerts.
#[test]
fn alert_listings_search_indexes_and_scan_no_table() {
    let store = SqliteStore::prepare(Connection::open_in_memory().unwrap()).unwrap();
    let connection = store.lock();
    let filters = [
        crate::AlertFilter::default(),
        crate::AlertFilter { status: Some(AlertStatus::Open), ..Default::default() },
        crate::AlertFilter { entity: Some("account:bob".into()), ..Default::default() },
        crate::AlertFilter {
            entity: Some("account:bob".into()),
            status: Some(AlertStatus::Open),
            ..Default::default()
        },
        crate::AlertFilter {
            entity: Some("account:bob".into()),
            detection: Some("ORT-DRS-001".into()),
            ..Default::default()
        },
    ];
    for filter in &filters {
        let listing =
            crate::rows::alert_listing("acme", filter, Page { offset: 1000, limit: 100 }, '?').unwrap();
        let values: Vec<String> = listing
            .values
            .iter()
            .map(|v| match v {
                FilterValue::Text(text) => text.clone(),
                FilterValue::Integer(n) => n.to_string(),
            })
            .collect();
        for sql in [&listing.count, &listing.page] {
            let mut statement = connection.prepare(&format!("EXPLAIN QUERY PLAN {sql}")).unwrap();
            let plan: Vec<String> = statement
                .query_map(params_from_iter(values.iter()), |r| r.get::<_, String>(3))
                .unwrap()
                .collect::<rusqlite::Result<_>>()
                .unwrap();
            let scans: Vec<&String> =
                plan.iter().filter(|step| step.starts_with("SCAN") && !step.starts_with("SCAN p")).collect();
            if sql == &listing.page {
                // The page's records are found by their key, one by one.
                let by_key = "SEARCH a USING INDEX sqlite_autoindex_alerts_1 (tenant=? AND id=?)";
                assert!(plan.iter().any(|step| step == by_key), "{filter:?}: {sql}\n{plan:#?}");
            }
            if filter.detection.is_none() && filter.entity.is_some() {
                let by_entity = "alert_entities_by_time (tenant=? AND entity=?)";
                assert!(plan.iter().any(|step| step.ends_with(by_entity)), "{filter:?}: {sql}\n{plan:#?}");
            }
            assert!(scans.is_empty(), "{filter:?}: {sql}\n{plan:#?}");
        }
    }
}

/// Storing an alert finds everything it touches by key: a scan in any of these statements
/// made storing 100 000 alerts take minutes.
#[test]
fn storing_an_alert_scans_no_table() {
    let store = SqliteStore::prepare(Connection::open_in_memory().unwrap()).unwrap();
    let connection = store.lock();
    let statements = [
        ALERT_STATE,
        SQLITE_DELETE_ENTITY_ROWS,
        crate::SET_INCIDENT,
        crate::rows::INSERT_ALERT_ENTITY,
        SQLITE_SET_ENTITY_STATUS,
        crate::rows::SQLITE_ENTITY_ROWS_OF_ALERT,
    ];
    for sql in statements {
        let mut statement = connection.prepare(&format!("EXPLAIN QUERY PLAN {sql}")).unwrap();
        let count = statement.parameter_count();
        let values: Vec<String> = (0..count).map(|n| format!("v{n}")).collect();
        let plan: Vec<String> = statement
            .query_map(params_from_iter(values.iter()), |r| r.get::<_, String>(3))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap();
        // A search by the tenant alone reads every row of the tenant: the key is the alert.
        let by_key =
            |step: &String| step.ends_with("(tenant=? AND id=?)") || step.ends_with("(tenant=? AND alert=?)");
        assert!(!plan.is_empty() && plan.iter().all(by_key), "{sql}\n{plan:#?}");
    }
}
