//! The storage test suite every backend passes: the same checks, on real activities (lab
//! captures) and the alerts the engine raises on them.

#![allow(dead_code)]

use orthrus_model::{Activity, Alert, TenantId, Timestamp};
use orthrus_store::{
    ActivityQuery, AlertFilter, AlertStatus, Classification, ExclusionKind, Ingested, NewExclusion, Page,
    Role, StatusChange, Store, StoreError, Upserted, entity_key,
};

pub fn tenant(id: &str) -> TenantId {
    TenantId(id.into())
}

fn t(secs: i64) -> Timestamp {
    Timestamp::from_micros(1_700_000_000_000_000 + secs * 1_000_000)
}

fn hash(byte: u8) -> [u8; 32] {
    [byte; 32]
}

/// A lab capture's activities, claimed by `tenant`.
pub fn lab(capture: &str, tenant: &TenantId) -> Vec<Activity> {
    orthrus_testkit::lab_activities(capture)
        .into_iter()
        .map(|mut a| {
            a.tenant = tenant.clone();
            a
        })
        .collect()
}

/// The engine's alerts over a lab capture, for `tenant`.
pub fn lab_alerts(capture: &str, tenant: &TenantId) -> Vec<Alert> {
    let mut engine = orthrus_detect::Engine::new(&orthrus_detect::DetectionConfig::default(), "sensor-1");
    for activity in lab(capture, tenant) {
        engine.observe(&activity);
    }
    engine.finish()
}

/// Two tenants (acme, globex), each with a sensor; returns the sensors' ids.
pub fn two_tenants(store: &dyn Store) -> (String, String) {
    store.create_tenant(&tenant("acme"), "ACME", t(0)).unwrap();
    store.create_tenant(&tenant("globex"), "Globex", t(0)).unwrap();
    let a = store.create_sensor(&tenant("acme"), "dc1", &hash(1), t(0)).unwrap();
    let b = store.create_sensor(&tenant("globex"), "dc1", &hash(2), t(0)).unwrap();
    (a.id, b.id)
}

pub fn tenants_users_and_tokens(store: &dyn Store) {
    two_tenants(store);
    let names: Vec<String> = store.tenants().unwrap().into_iter().map(|t| t.name).collect();
    assert_eq!(names, ["ACME", "Globex"]);
    assert!(matches!(store.create_tenant(&tenant("acme"), "again", t(1)), Err(StoreError::Exists(_))));
    assert!(matches!(store.create_tenant(&tenant("Bad Id"), "x", t(1)), Err(StoreError::Invalid(_))));

    store.create_user("alice", Some("$argon2id$..."), t(1)).unwrap();
    assert!(matches!(store.create_user("alice", None, t(1)), Err(StoreError::Exists(_))));
    store.grant("alice", &tenant("acme"), Role::Analyst).unwrap();
    store.grant("alice", &tenant("globex"), Role::Viewer).unwrap();
    store.grant("alice", &tenant("globex"), Role::Admin).unwrap(); // a new grant replaces the old
    assert!(matches!(store.grant("alice", &tenant("initech"), Role::Viewer), Err(StoreError::NotFound(_))));
    assert!(matches!(store.grant("mallory", &tenant("acme"), Role::Viewer), Err(StoreError::NotFound(_))));

    store.add_user_token("alice", &hash(9), "laptop", t(2)).unwrap();
    assert!(matches!(store.add_user_token("alice", &hash(9), "again", t(2)), Err(StoreError::Exists(_))));
    let alice = store.user_for_token(&hash(9)).unwrap().unwrap();
    assert_eq!(alice.name, "alice");
    assert_eq!(alice.role_in(&tenant("acme")), Some(Role::Analyst));
    assert_eq!(alice.role_in(&tenant("globex")), Some(Role::Admin));
    assert_eq!(alice.role_in(&tenant("initech")), None);
    assert_eq!(store.user("alice").unwrap().unwrap().password_hash.as_deref(), Some("$argon2id$..."));
    assert!(store.user_for_token(&hash(8)).unwrap().is_none());
    assert!(store.user("mallory").unwrap().is_none());
    store.set_password("alice", "$argon2id$new").unwrap();
    assert_eq!(store.user("alice").unwrap().unwrap().password_hash.as_deref(), Some("$argon2id$new"));
    assert!(matches!(store.set_password("mallory", "$argon2id$x"), Err(StoreError::NotFound(_))));
}

pub fn sensors_and_heartbeats(store: &dyn Store) {
    let (acme_dc1, globex_dc1) = two_tenants(store);
    assert_ne!(acme_dc1, globex_dc1, "the same sensor name in two tenants is two sensors");
    let found = store.sensor_for_token(&hash(2)).unwrap().unwrap();
    assert_eq!((found.tenant, found.id.as_str()), (tenant("globex"), globex_dc1.as_str()));
    assert!(store.sensor_for_token(&hash(7)).unwrap().is_none());
    assert!(matches!(
        store.create_sensor(&tenant("acme"), "dc1", &hash(3), t(1)),
        Err(StoreError::Exists(_))
    ));
    assert!(matches!(
        store.create_sensor(&tenant("acme"), "dc2", &hash(1), t(1)),
        Err(StoreError::Exists(_))
    ));
    assert!(matches!(
        store.create_sensor(&tenant("initech"), "dc1", &hash(4), t(1)),
        Err(StoreError::NotFound(_))
    ));
    assert!(matches!(
        store.create_sensor(&tenant("acme"), "a b", &hash(5), t(1)),
        Err(StoreError::Invalid(_))
    ));

    let status = serde_json::json!({"packets": 1200, "dropped": 0});
    store.heartbeat(&tenant("acme"), &acme_dc1, t(60), "0.1.0", &status).unwrap();
    let sensors = store.sensors(&tenant("acme")).unwrap();
    assert_eq!(sensors.len(), 1);
    assert_eq!(sensors[0].last_seen, Some(t(60)));
    assert_eq!(sensors[0].version.as_deref(), Some("0.1.0"));
    assert_eq!(sensors[0].status.as_ref(), Some(&status));
    // A tenant cannot touch another's sensor.
    assert!(matches!(
        store.heartbeat(&tenant("acme"), &globex_dc1, t(61), "x", &status),
        Err(StoreError::NotFound(_))
    ));
    assert_eq!(store.sensors(&tenant("globex")).unwrap()[0].last_seen, None);
}

pub fn ingest_is_idempotent_and_stamped_with_the_senders_tenant(store: &dyn Store) {
    let (acme_dc1, globex_dc1) = two_tenants(store);
    // The sensor claims another tenant in its activities; the store believes the credential.
    let activities = lab("kerberoast", &tenant("globex"));
    assert!(activities.len() >= 5, "{}", activities.len());
    assert_eq!(
        store.ingest(&tenant("acme"), &acme_dc1, 1, &activities, t(10)).unwrap(),
        Ingested::Stored(activities.len())
    );
    assert_eq!(store.ingest(&tenant("acme"), &acme_dc1, 1, &activities, t(11)).unwrap(), Ingested::Duplicate);
    assert_eq!(store.activity_count(&tenant("acme")).unwrap(), activities.len() as u64);
    assert_eq!(store.activity_count(&tenant("globex")).unwrap(), 0);
    // Another tenant cannot write into this sensor's stream.
    assert!(matches!(
        store.ingest(&tenant("globex"), &acme_dc1, 2, &activities, t(12)),
        Err(StoreError::NotFound(_))
    ));
    // The same sequence number from another sensor is another batch.
    assert_eq!(
        store.ingest(&tenant("globex"), &globex_dc1, 1, &activities[..3], t(12)).unwrap(),
        Ingested::Stored(3)
    );

    // Replay order: as stored, in pages.
    let mut replayed = Vec::new();
    let mut after = 0;
    loop {
        let page = store.activities_after(&tenant("acme"), after, 4).unwrap();
        let Some((last, _)) = page.last() else { break };
        after = *last;
        replayed.extend(page.into_iter().map(|(_, a)| a));
    }
    let mut in_order = lab("kerberoast", &tenant("acme"));
    in_order.iter_mut().for_each(|a| a.tenant = tenant("acme"));
    assert_eq!(replayed.len(), in_order.len());
    for (got, want) in replayed.iter().zip(&in_order) {
        assert_eq!(serde_json::to_value(got).unwrap(), serde_json::to_value(want).unwrap());
    }
    assert!(store.activities_after(&tenant("globex"), 0, 100).unwrap().len() == 3, "globex's own three only");

    // What comes back is what went in, the tenant set, newest first.
    let mut stored =
        store.activities(&tenant("acme"), &ActivityQuery { limit: 10_000, ..Default::default() }).unwrap();
    stored.reverse();
    let mut expected = lab("kerberoast", &tenant("acme"));
    expected.sort_by_key(|a| a.time);
    stored.sort_by_key(|a| a.time);
    assert_eq!(stored.len(), expected.len());
    for (got, want) in stored.iter().zip(&expected) {
        assert_eq!(serde_json::to_value(got).unwrap(), serde_json::to_value(want).unwrap());
    }
}

pub fn timelines_by_entity_and_retention(store: &dyn Store) {
    let (acme_dc1, _) = two_tenants(store);
    let activities = lab("kerberoast", &tenant("acme"));
    store.ingest(&tenant("acme"), &acme_dc1, 1, &activities, t(10)).unwrap();
    // bob is the roaster: his Kerberos exchanges, and nothing of anyone else.
    let bob = entity_key("account", "bob");
    let timeline = store
        .activities(&tenant("acme"), &ActivityQuery { entity: Some(bob), limit: 1000, ..Default::default() })
        .unwrap();
    let expected = activities
        .iter()
        .filter(|a| a.accounts().iter().any(|n| entity_key("account", n) == "account:bob"))
        .count();
    assert!(expected > 0);
    assert_eq!(timeline.len(), expected);
    assert!(timeline.windows(2).all(|w| w[0].time >= w[1].time), "newest first");
    let attacker = entity_key("ip", "10.99.0.21");
    let from_attacker = store
        .activities(
            &tenant("acme"),
            &ActivityQuery { entity: Some(attacker.clone()), limit: 1000, ..Default::default() },
        )
        .unwrap();
    assert_eq!(
        from_attacker.len(),
        activities.iter().filter(|a| a.source_ip().is_some_and(|ip| ip.to_string() == "10.99.0.21")).count()
    );
    // Another tenant sees no timeline for the same names.
    assert!(
        store
            .activities(
                &tenant("globex"),
                &ActivityQuery { entity: Some(attacker), limit: 1000, ..Default::default() }
            )
            .unwrap()
            .is_empty()
    );

    // Retention: everything before the middle activity goes, with its timeline rows.
    let mut times: Vec<Timestamp> = activities.iter().map(|a| a.time).collect();
    times.sort();
    let middle = times[times.len() / 2];
    let older = times.iter().filter(|t| **t < middle).count() as u64;
    assert_eq!(store.prune_activities(middle).unwrap(), older);
    assert_eq!(store.activity_count(&tenant("acme")).unwrap(), activities.len() as u64 - older);
    let after =
        store.activities(&tenant("acme"), &ActivityQuery { limit: 10_000, ..Default::default() }).unwrap();
    assert!(after.iter().all(|a| a.time >= middle));
}

pub fn alert_lifecycle(store: &dyn Store) {
    two_tenants(store);
    let alerts = lab_alerts("kerberoast", &tenant("acme"));
    assert_eq!(alerts.len(), 1, "{alerts:#?}");
    let mut alert = alerts[0].clone();
    assert_eq!(store.upsert_alert(&alert).unwrap(), Upserted::New);
    assert_eq!(store.upsert_alert(&alert).unwrap(), Upserted::Updated);

    let stored = store.alert(&tenant("acme"), &alert.id).unwrap().unwrap();
    assert_eq!(
        (stored.status, stored.count, stored.detection.as_str()),
        (AlertStatus::Open, alert.count, "ORT-KRB-001")
    );
    assert_eq!(stored.alert["description"], serde_json::Value::String(alert.description.clone()));
    assert_eq!(stored.alert["status"], "open");

    // Closed, then more activity: open again, with the new count and last-seen.
    assert!(store.set_alert_status(&tenant("acme"), &alert.id, AlertStatus::Closed).unwrap());
    assert_eq!(store.alert(&tenant("acme"), &alert.id).unwrap().unwrap().alert["status"], "closed");
    assert_eq!(store.upsert_alert(&alert).unwrap(), Upserted::Updated, "no new activity: stays closed");
    alert.count += 2;
    alert.last_seen = alert.last_seen.saturating_add_secs(30);
    assert_eq!(store.upsert_alert(&alert).unwrap(), Upserted::Reopened);
    let reopened = store.alert(&tenant("acme"), &alert.id).unwrap().unwrap();
    assert_eq!(
        (reopened.status, reopened.count, reopened.last_seen),
        (AlertStatus::Open, alert.count, alert.last_seen)
    );
    assert_eq!(reopened.first_seen, alerts[0].first_seen);
    // Suppressed stays suppressed.
    assert!(store.set_alert_status(&tenant("acme"), &alert.id, AlertStatus::Suppressed).unwrap());
    alert.last_seen = alert.last_seen.saturating_add_secs(30);
    store.upsert_alert(&alert).unwrap();
    assert_eq!(store.alert(&tenant("acme"), &alert.id).unwrap().unwrap().status, AlertStatus::Suppressed);

    assert!(
        store.comment(&tenant("acme"), &alert.id, "alice", "SPN scan from the pentest box", t(5)).unwrap()
    );
    assert!(store.comment(&tenant("acme"), &alert.id, "bob", "confirmed", t(6)).unwrap());
    assert!(matches!(
        store.comment(&tenant("acme"), &alert.id, "bob", "  ", t(7)),
        Err(StoreError::Invalid(_))
    ));
    assert!(!store.comment(&tenant("acme"), "no-such-alert", "bob", "x", t(7)).unwrap());
    let comments = store.alert(&tenant("acme"), &alert.id).unwrap().unwrap().comments;
    assert_eq!(comments.iter().map(|c| c.author.as_str()).collect::<Vec<_>>(), ["alice", "bob"]);
}

pub fn alert_filters_and_pages(store: &dyn Store) {
    two_tenants(store);
    let mut all = Vec::new();
    for capture in ["kerberoast", "asrep_roast", "dcsync", "krb_password_spray", "dns_zone_transfer"] {
        all.extend(lab_alerts(capture, &tenant("acme")));
    }
    assert!(all.len() >= 5, "{}", all.len());
    for alert in &all {
        store.upsert_alert(alert).unwrap();
    }
    let list = |filter: AlertFilter, page: Page| store.alerts(&tenant("acme"), &filter, page).unwrap();
    let everything = list(AlertFilter::default(), Page { offset: 0, limit: 1000 });
    assert_eq!(everything.total, all.len() as u64);
    assert!(everything.alerts.windows(2).all(|w| w[0].last_seen >= w[1].last_seen), "newest first");

    let high = list(
        AlertFilter { severity: Some(orthrus_model::Severity::High), ..Default::default() },
        Page::default(),
    );
    assert_eq!(high.total, all.iter().filter(|a| a.severity == orthrus_model::Severity::High).count() as u64);
    let dcsync =
        list(AlertFilter { detection: Some("ORT-DRS-001".into()), ..Default::default() }, Page::default());
    assert_eq!(dcsync.total, 1);
    assert_eq!(dcsync.alerts[0].detection, "ORT-DRS-001");

    // By entity: the roasted services and the roaster.
    let svc = list(
        AlertFilter { entity: Some(entity_key("account", "bob")), ..Default::default() },
        Page::default(),
    );
    assert!(svc.alerts.iter().all(|a| a.alert.to_string().to_lowercase().contains("bob")));
    assert!(svc.total >= 1);

    // Pages cover the list exactly once.
    let mut seen = Vec::new();
    for offset in (0..all.len()).step_by(2) {
        let page = list(AlertFilter::default(), Page { offset, limit: 2 });
        assert_eq!(page.total, all.len() as u64);
        seen.extend(page.alerts.into_iter().map(|a| a.id));
    }
    let mut expected: Vec<String> = everything.alerts.iter().map(|a| a.id.clone()).collect();
    assert_eq!(seen, expected);
    expected.sort();
    expected.dedup();
    assert_eq!(expected.len(), all.len());

    // Time range and status.
    let newest = everything.alerts[0].last_seen;
    let recent = list(AlertFilter { since: Some(newest), ..Default::default() }, Page::default());
    assert!(recent.total >= 1 && recent.alerts.iter().all(|a| a.last_seen >= newest));
    store.set_alert_status(&tenant("acme"), &everything.alerts[0].id, AlertStatus::Closed).unwrap();
    let open = list(AlertFilter { status: Some(AlertStatus::Open), ..Default::default() }, Page::default());
    assert_eq!(open.total, all.len() as u64 - 1);

    // The dashboard's histogram: every alert once, in the UTC day it was first seen.
    let buckets = store.alert_histogram(&tenant("acme"), Timestamp::from_micros(0)).unwrap();
    assert_eq!(buckets.iter().map(|b| b.count).sum::<u64>(), all.len() as u64);
    let closed: u64 = buckets.iter().filter(|b| b.status == AlertStatus::Closed).map(|b| b.count).sum();
    assert_eq!(closed, 1);
    for alert in &all {
        let day = alert.first_seen.as_micros() - alert.first_seen.as_micros().rem_euclid(86_400_000_000);
        assert!(
            buckets.iter().any(|b| b.detection == alert.detection
                && b.severity == alert.severity
                && b.day.as_micros() == day),
            "{} not in {buckets:?}",
            alert.id
        );
    }
    let newest_first_seen = all.iter().map(|a| a.first_seen).max().unwrap();
    let later = store.alert_histogram(&tenant("acme"), newest_first_seen.saturating_add_secs(1)).unwrap();
    assert!(later.is_empty(), "{later:?}");
    assert!(store.alert_histogram(&tenant("globex"), Timestamp::from_micros(0)).unwrap().is_empty());

    // An entity's alerts by status (read from the entity rows, which carry each alert's status
    // and last activity): closing one takes it off the entity's open alerts, an update that
    // reopens it brings it back, first as the newest.
    let attacker = entity_key("ip", "10.99.0.21");
    let by = |status: Option<AlertStatus>| {
        list(AlertFilter { entity: Some(attacker.clone()), status, ..Default::default() }, Page::default())
    };
    let ids = |page: &orthrus_store::AlertPage| page.alerts.iter().map(|a| a.id.clone()).collect::<Vec<_>>();
    let named = all.iter().filter(|a| a.source.ip.is_some_and(|ip| ip.to_string() == "10.99.0.21")).count();
    assert!(named >= 2, "{named}");
    assert_eq!(by(None).total, named as u64);
    let everyone_open =
        list(AlertFilter { status: Some(AlertStatus::Open), ..Default::default() }, Page::default());
    let expected: Vec<String> =
        ids(&everyone_open).into_iter().filter(|id| ids(&by(None)).contains(id)).collect();
    assert_eq!(ids(&by(Some(AlertStatus::Open))), expected, "the same alerts, in the same order");
    let victim =
        all.iter().find(|a| by(Some(AlertStatus::Open)).alerts.iter().any(|r| r.id == a.id)).unwrap();
    let open_before = by(Some(AlertStatus::Open)).total;
    let change = StatusChange {
        time: t(9),
        author: "alice".into(),
        status: AlertStatus::Closed,
        classification: Some(Classification::FalsePositive),
        reason: String::new(),
    };
    assert!(store.change_status(&tenant("acme"), &victim.id, &change).unwrap());
    assert_eq!(by(Some(AlertStatus::Open)).total, open_before - 1);
    assert_eq!(ids(&by(Some(AlertStatus::Closed))).iter().filter(|id| **id == victim.id).count(), 1);
    assert_eq!(by(None).total, named as u64);
    let mut again = victim.clone();
    again.last_seen = all.iter().map(|a| a.last_seen).max().unwrap().saturating_add_secs(60);
    assert_eq!(store.upsert_alert(&again).unwrap(), Upserted::Reopened);
    let reopened = by(Some(AlertStatus::Open));
    assert_eq!((reopened.total, ids(&reopened)[0].as_str()), (open_before, victim.id.as_str()));
    assert_eq!(ids(&by(None))[0], victim.id, "the entity rows moved with its last activity");
}

/// Each tenant keeps its own last directory snapshot; a new one replaces it.
pub fn directories_per_tenant(store: &dyn Store) {
    two_tenants(store);
    assert_eq!(store.directory(&tenant("acme")).unwrap(), None);
    store.put_directory(&tenant("acme"), b"acme-1", t(10)).unwrap();
    store.put_directory(&tenant("acme"), b"acme-2", t(20)).unwrap();
    store.put_directory(&tenant("globex"), b"globex-1", t(15)).unwrap();
    assert_eq!(store.directory(&tenant("acme")).unwrap(), Some((b"acme-2".to_vec(), t(20))));
    assert_eq!(store.directory(&tenant("globex")).unwrap(), Some((b"globex-1".to_vec(), t(15))));
    assert!(matches!(store.put_directory(&tenant("initech"), b"x", t(30)), Err(StoreError::NotFound(_))));
    assert_eq!(store.directory(&tenant("initech")).unwrap(), None);
}

/// Two tenants with the same account names and the same alert ids: nothing crosses.
pub fn tenants_never_see_each_other(store: &dyn Store) {
    let (acme_dc1, globex_dc1) = two_tenants(store);
    for (tenant_id, sensor) in [("acme", &acme_dc1), ("globex", &globex_dc1)] {
        let tenant = tenant(tenant_id);
        store.ingest(&tenant, sensor, 1, &lab("kerberoast", &tenant), t(10)).unwrap();
        for alert in lab_alerts("kerberoast", &tenant) {
            store.upsert_alert(&alert).unwrap();
        }
    }
    let acme = store.alerts(&tenant("acme"), &AlertFilter::default(), Page::default()).unwrap();
    let globex = store.alerts(&tenant("globex"), &AlertFilter::default(), Page::default()).unwrap();
    assert_eq!((acme.total, globex.total), (1, 1));
    assert!(acme.alerts.iter().all(|a| a.tenant == tenant("acme") && a.alert["tenant"] == "acme"));
    assert!(globex.alerts.iter().all(|a| a.tenant == tenant("globex")));
    let acme_id = acme.alerts[0].id.clone();

    // Closing acme's alert leaves globex's (same detection, same names) open.
    assert!(store.set_alert_status(&tenant("acme"), &acme_id, AlertStatus::Closed).unwrap());
    assert_eq!(
        store.alerts(&tenant("globex"), &AlertFilter::default(), Page::default()).unwrap().alerts[0].status,
        AlertStatus::Open
    );
    // An id from another tenant finds nothing and changes nothing.
    if acme_id != globex.alerts[0].id {
        assert!(store.alert(&tenant("globex"), &acme_id).unwrap().is_none());
        assert!(!store.set_alert_status(&tenant("globex"), &acme_id, AlertStatus::Suppressed).unwrap());
        assert!(!store.comment(&tenant("globex"), &acme_id, "mallory", "x", t(1)).unwrap());
    }
    assert!(store.alert(&tenant("initech"), &acme_id).unwrap().is_none());
    assert_eq!(store.activity_count(&tenant("initech")).unwrap(), 0);
    assert!(store.activities(&tenant("initech"), &ActivityQuery::default()).unwrap().is_empty());
    assert!(store.sensors(&tenant("initech")).unwrap().is_empty());

    let exclusion = NewExclusion {
        detection: "ORT-KRB-001".into(),
        kind: ExclusionKind::Address,
        value: "10.99.0.21".into(),
        reason: "pentest".into(),
    };
    let added = store.add_exclusion(&tenant("acme"), &exclusion, t(3)).unwrap();
    assert!(store.exclusions(&tenant("globex")).unwrap().is_empty());
    assert!(!store.remove_exclusion(&tenant("globex"), added.id).unwrap());
    assert_eq!(store.exclusions(&tenant("acme")).unwrap().len(), 1);
}

pub fn exclusions(store: &dyn Store) {
    two_tenants(store);
    let acme = tenant("acme");
    let new = |kind, value: &str| NewExclusion {
        detection: "global".into(),
        kind,
        value: value.into(),
        reason: "scanner".into(),
    };
    let a = store.add_exclusion(&acme, &new(ExclusionKind::Address, "10.0.5.0/24"), t(1)).unwrap();
    let b = store.add_exclusion(&acme, &new(ExclusionKind::Account, "LAB\\svc_scan"), t(2)).unwrap();
    assert!(matches!(
        store.add_exclusion(&acme, &new(ExclusionKind::Address, "10.0.5.0/24"), t(3)),
        Err(StoreError::Exists(_))
    ));
    assert!(matches!(
        store.add_exclusion(&acme, &new(ExclusionKind::Computer, " "), t(3)),
        Err(StoreError::Invalid(_))
    ));
    let listed = store.exclusions(&acme).unwrap();
    assert_eq!(listed, [a.clone(), b.clone()]);
    assert!(store.remove_exclusion(&acme, a.id).unwrap());
    assert!(!store.remove_exclusion(&acme, a.id).unwrap());
    assert_eq!(store.exclusions(&acme).unwrap(), [b]);
}

/// Incidents: the engine ties the attacker's alerts (kerberoasting, a spray, DCSync from one
/// address) into one; the listing aggregates them, its alerts come back by the incident's
/// entity key, and another tenant's listing holds none of them.
pub fn incidents(store: &dyn Store) {
    two_tenants(store);
    let acme = tenant("acme");
    let mut engine = orthrus_detect::Engine::new(&orthrus_detect::DetectionConfig::default(), "sensor-1");
    for capture in ["kerberoast", "krb_password_spray", "dcsync"] {
        for activity in lab(capture, &acme) {
            engine.observe(&activity);
        }
    }
    let alerts = engine.finish();
    assert!(alerts.len() >= 3, "{alerts:#?}");
    let incident = alerts[0].incident.clone().expect("every alert is in an incident");
    assert!(alerts.iter().all(|a| a.incident.as_ref() == Some(&incident)), "one attacker, one incident");
    for alert in &alerts {
        store.upsert_alert(alert).unwrap();
    }
    let page = store.incidents(&acme, Page::default()).unwrap();
    assert_eq!(page.total, 1);
    let [listed] = page.incidents.as_slice() else { panic!("{page:?}") };
    assert_eq!(
        (listed.id.as_str(), listed.alerts, listed.open),
        (incident.as_str(), alerts.len() as u64, alerts.len() as u64)
    );
    assert_eq!(listed.severity, alerts.iter().map(|a| a.severity).max().unwrap());
    assert_eq!(listed.first_seen, alerts.iter().map(|a| a.first_seen).min().unwrap());
    assert_eq!(listed.last_seen, alerts.iter().map(|a| a.last_seen).max().unwrap());

    let filter = AlertFilter { entity: Some(entity_key("incident", &incident)), ..AlertFilter::default() };
    let members = store.alerts(&acme, &filter, Page::default()).unwrap();
    assert_eq!(members.total, alerts.len() as u64);

    // The attacker's address is named by every open alert: the top entity, incidents aside.
    let top = store.top_entities(&acme, 3).unwrap();
    assert_eq!(top[0], ("ip:10.99.0.21".to_owned(), alerts.len() as u64), "{top:?}");
    assert!(top.iter().all(|(key, _)| !key.starts_with("incident:")), "{top:?}");
    // Closing one alert leaves the incident open with one alert fewer open.
    store.set_alert_status(&acme, &alerts[0].id, AlertStatus::Closed).unwrap();
    let page = store.incidents(&acme, Page::default()).unwrap();
    assert_eq!(page.incidents[0].open, alerts.len() as u64 - 1);
    assert_eq!(store.incidents(&tenant("globex"), Page::default()).unwrap().total, 0);
    assert_eq!(store.top_entities(&acme, 3).unwrap()[0].1, alerts.len() as u64 - 1, "open alerts only");
    assert!(store.top_entities(&tenant("globex"), 3).unwrap().is_empty());
}

/// Status changes people make: kept with who, when, the classification and the reason, shown
/// with the alert; a classification goes with closing only; another tenant changes nothing.
pub fn status_changes_are_kept_with_who_and_why(store: &dyn Store) {
    two_tenants(store);
    let acme = tenant("acme");
    let alert = lab_alerts("dcsync", &acme).remove(0);
    store.upsert_alert(&alert).unwrap();
    let closing = StatusChange {
        time: t(10),
        author: "alice".into(),
        status: AlertStatus::Closed,
        classification: Some(Classification::BenignTruePositive),
        reason: "the quarterly penetration test".into(),
    };
    assert!(store.change_status(&acme, &alert.id, &closing).unwrap());
    let reopening = StatusChange {
        time: t(20),
        author: "bob".into(),
        status: AlertStatus::Open,
        classification: None,
        reason: String::new(),
    };
    assert!(store.change_status(&acme, &alert.id, &reopening).unwrap());
    let record = store.alert(&acme, &alert.id).unwrap().unwrap();
    assert_eq!(record.status, AlertStatus::Open);
    assert_eq!(record.history, [closing.clone(), reopening]);

    let classified_open = StatusChange { status: AlertStatus::Suppressed, ..closing.clone() };
    assert!(matches!(store.change_status(&acme, &alert.id, &classified_open), Err(StoreError::Invalid(_))));
    let rambling =
        StatusChange { reason: "x".repeat(orthrus_store::MAX_REASON_CHARS + 1), ..closing.clone() };
    assert!(matches!(store.change_status(&acme, &alert.id, &rambling), Err(StoreError::Invalid(_))));
    assert!(!store.change_status(&tenant("globex"), &alert.id, &closing).unwrap(), "not globex's alert");
    assert_eq!(store.alert(&acme, &alert.id).unwrap().unwrap().history.len(), 2);
}

/// One `#[test]` per check of the suite, each on a fresh store from `$make`.
#[macro_export]
macro_rules! store_suite {
    ($make:expr) => {
        #[test]
        fn tenants_users_and_tokens() {
            suite::tenants_users_and_tokens(&*$make);
        }
        #[test]
        fn sensors_and_heartbeats() {
            suite::sensors_and_heartbeats(&*$make);
        }
        #[test]
        fn ingest_is_idempotent_and_stamped_with_the_senders_tenant() {
            suite::ingest_is_idempotent_and_stamped_with_the_senders_tenant(&*$make);
        }
        #[test]
        fn timelines_by_entity_and_retention() {
            suite::timelines_by_entity_and_retention(&*$make);
        }
        #[test]
        fn alert_lifecycle() {
            suite::alert_lifecycle(&*$make);
        }
        #[test]
        fn alert_filters_and_pages() {
            suite::alert_filters_and_pages(&*$make);
        }
        #[test]
        fn directories_per_tenant() {
            suite::directories_per_tenant(&*$make);
        }
        #[test]
        fn tenants_never_see_each_other() {
            suite::tenants_never_see_each_other(&*$make);
        }
        #[test]
        fn exclusions() {
            suite::exclusions(&*$make);
        }
        #[test]
        fn incidents() {
            suite::incidents(&*$make);
        }
        #[test]
        fn status_changes_are_kept_with_who_and_why() {
            suite::status_changes_are_kept_with_who_and_why(&*$make);
        }
    };
}
