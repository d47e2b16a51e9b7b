//! The center end to end, short of HTTP: sensors (their spools) ship real lab activities with
//! their tokens; the center stores them once, detects per tenant, stores alerts and forwards
//! them as CEF to a real rsyslog; a restarted center carries on with the same alerts.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use std::collections::BTreeMap;
use std::sync::Arc;

use orthrus_center::{Center, CenterConfig, CenterError};
use orthrus_model::{Activity, TenantId, Timestamp};
use orthrus_sensor::Spool;
use orthrus_sinks::cef::parse_extension;
use orthrus_sinks::{CefOptions, Route, SinkFilter, SyslogOptions, SyslogSink, Transport};
use orthrus_store::credentials::new_token;
use orthrus_store::{AlertFilter, Page, SqliteStore, Store};
use orthrus_testkit::rsyslog::{free_port, launch, wait_for_lines};

const ACME: &[&str] = &["benign_logon", "kerberoast", "dcsync", "krb_password_spray", "samr_recon"];
const GLOBEX: &[&str] = &["benign_admin", "asrep_roast"];

fn tenant(id: &str) -> TenantId {
    TenantId(id.into())
}

fn now() -> Timestamp {
    Timestamp::from_micros(1_772_442_847_412_000)
}

/// Batches of a sensor: its captures' activities, 20 at a time.
fn batches(captures: &[&str]) -> Vec<Vec<Activity>> {
    let all: Vec<Activity> = captures.iter().flat_map(|c| orthrus_testkit::lab_activities(c)).collect();
    all.chunks(20).map(<[Activity]>::to_vec).collect()
}

/// What an offline run over the same activities, as the tenant's, raises: id → count.
fn offline(captures: &[&str], tenant_id: &str) -> BTreeMap<String, u64> {
    let mut engine =
        orthrus_detect::Engine::new(&orthrus_detect::DetectionConfig::default(), "orthrus-center");
    for mut activity in captures.iter().flat_map(|c| orthrus_testkit::lab_activities(c)) {
        activity.tenant = tenant(tenant_id);
        activity.sensor = Arc::from("dc1");
        engine.observe(&activity);
    }
    engine.finish().into_iter().map(|a| (a.id, a.count)).collect()
}

fn stored(store: &dyn Store, tenant_id: &str) -> BTreeMap<String, u64> {
    let page =
        store.alerts(&tenant(tenant_id), &AlertFilter::default(), Page { offset: 0, limit: 1000 }).unwrap();
    page.alerts.into_iter().map(|a| (a.id, a.count)).collect()
}

struct Setup {
    _dir: tempfile::TempDir,
    store_path: std::path::PathBuf,
    spools: std::path::PathBuf,
    acme_token: String,
    globex_token: String,
}

fn setup() -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let store_path = dir.path().join("center.db");
    let store = SqliteStore::open(&store_path).unwrap();
    let (acme_token, acme_hash) = new_token().unwrap();
    let (globex_token, globex_hash) = new_token().unwrap();
    for (id, hash) in [("acme", acme_hash), ("globex", globex_hash)] {
        store.create_tenant(&tenant(id), id, now()).unwrap();
        store.create_sensor(&tenant(id), "dc1", &hash, now()).unwrap();
    }
    let spools = dir.path().to_path_buf();
    Setup { _dir: dir, store_path, spools, acme_token, globex_token }
}

/// A sensor's spool, shipped to the center until it is empty (or the center refuses).
fn ship(center: &Center, spool: &mut Spool, token: &str) -> usize {
    let mut shipped = 0;
    while let Some(batch) = spool.oldest().unwrap() {
        center.ingest(token, batch.sequence, &batch.activities, now()).unwrap();
        spool.acknowledge(batch.sequence).unwrap();
        shipped += 1;
    }
    shipped
}

#[test]
fn sensors_ship_the_center_detects_stores_and_forwards_cef_per_tenant() {
    let setup = setup();
    let rsyslog = launch(setup.spools.as_path(), "siem", Some(free_port()), free_port());
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&setup.store_path).unwrap());
    let mut sink = SyslogSink::new(
        format!("127.0.0.1:{}", rsyslog.tcp).parse().unwrap(),
        Transport::Tcp { octet_counting: true },
        10_000,
    );
    let options = SyslogOptions { hostname: "orthrus-c1".into(), ..SyslogOptions::default() };
    let config = CenterConfig {
        cef: CefOptions { url_base: Some("https://orthrus.example".into()), ..CefOptions::default() },
        routes: vec![Route::syslog(&sink, options, SinkFilter::default())],
        ..CenterConfig::default()
    };
    let center = Center::start(store.clone(), config).unwrap();

    // A token that is no sensor's is refused, and stores nothing.
    let forged = center.ingest("ort_not-a-token", 1, &batches(ACME)[0], now());
    assert!(matches!(forged, Err(CenterError::Unauthorized)));

    let mut acme = Spool::open(&setup.spools.join("acme.spool"), 64 << 20).unwrap();
    let mut globex = Spool::open(&setup.spools.join("globex.spool"), 64 << 20).unwrap();
    for batch in batches(ACME) {
        acme.append(&batch).unwrap();
    }
    for batch in batches(GLOBEX) {
        globex.append(&batch).unwrap();
    }
    assert!(ship(&center, &mut acme, &setup.acme_token) > 5);
    ship(&center, &mut globex, &setup.globex_token);
    sink.flush().unwrap();

    // Each tenant has exactly the alerts an offline run over its own activities has.
    let expected_acme = offline(ACME, "acme");
    let expected_globex = offline(GLOBEX, "globex");
    assert!(expected_acme.len() >= 3 && !expected_globex.is_empty());
    assert_eq!(stored(store.as_ref(), "acme"), expected_acme);
    assert_eq!(stored(store.as_ref(), "globex"), expected_globex);
    let all_activities: usize = batches(ACME).iter().map(Vec::len).sum();
    assert_eq!(store.activity_count(&tenant("acme")).unwrap(), all_activities as u64);

    // The SIEM got every alert; the last message about each carries its final count.
    let lines = wait_for_lines(&rsyslog.out, expected_acme.len() + expected_globex.len());
    let mut last: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    for line in &lines {
        let msg = line.splitn(10, '|').nth(9).unwrap();
        let extension = msg.splitn(8, '|').nth(7).unwrap();
        let fields: BTreeMap<String, String> = parse_extension(extension).into_iter().collect();
        let id = fields["cs1"].rsplit('/').next().unwrap().to_owned();
        last.insert(id, fields);
    }
    for (tenant_id, expected) in [("acme", &expected_acme), ("globex", &expected_globex)] {
        for (id, count) in expected {
            let fields = last.get(id).unwrap_or_else(|| panic!("no CEF message for {id}"));
            assert_eq!(fields["cnt"], count.to_string(), "{id}");
            assert_eq!(fields["cs5"], tenant_id, "{id}");
        }
    }
    assert_eq!(last.len(), expected_acme.len() + expected_globex.len());
}

#[test]
fn a_restarted_center_and_a_resent_batch_change_nothing() {
    let setup = setup();
    let batches = batches(ACME);
    let half = batches.len() / 2;
    let mut spool = Spool::open(&setup.spools.join("acme.spool"), 64 << 20).unwrap();
    for batch in &batches {
        spool.append(batch).unwrap();
    }
    // The first half reaches a center that then stops.
    {
        let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&setup.store_path).unwrap());
        let center = Center::start(store, CenterConfig::default()).unwrap();
        for _ in 0..half {
            let batch = spool.oldest().unwrap().unwrap();
            center.ingest(&setup.acme_token, batch.sequence, &batch.activities, now()).unwrap();
            spool.acknowledge(batch.sequence).unwrap();
        }
        // The next batch is stored, but its acknowledgement is lost with the center.
        let batch = spool.oldest().unwrap().unwrap();
        center.ingest(&setup.acme_token, batch.sequence, &batch.activities, now()).unwrap();
    }
    // A new center rebuilds its engines from the store; the sensor sends the unacknowledged
    // batch again (recognised: nothing stored, nothing detected twice), then the rest.
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&setup.store_path).unwrap());
    let center = Center::start(store.clone(), CenterConfig::default()).unwrap();
    let resent = spool.oldest().unwrap().unwrap();
    let accepted = center.ingest(&setup.acme_token, resent.sequence, &resent.activities, now()).unwrap();
    assert!(accepted.duplicate && accepted.alerts.is_empty());
    spool.acknowledge(resent.sequence).unwrap();
    ship(&center, &mut spool, &setup.acme_token);

    let all: usize = batches.iter().map(Vec::len).sum();
    assert_eq!(store.activity_count(&tenant("acme")).unwrap(), all as u64, "every activity once");
    assert_eq!(stored(store.as_ref(), "acme"), offline(ACME, "acme"), "the alerts of an uninterrupted run");
    // The other tenant's sensor token sees none of it.
    assert_eq!(store.activity_count(&tenant("globex")).unwrap(), 0);
    assert!(stored(store.as_ref(), "globex").is_empty());
    let _ = setup.globex_token;
}

/// An alert's incident, once given, survives a restart: the replay presents the stored
/// alerts again (in its own order) and each keeps the incident the store holds for it.
#[test]
fn a_restarted_center_keeps_each_alerts_incident() {
    let setup = setup();
    let acme = tenant("acme");
    let incidents = |store: &dyn Store| -> BTreeMap<String, String> {
        store.alert_incidents(&acme).unwrap().into_iter().collect()
    };
    let mut before = {
        let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&setup.store_path).unwrap());
        let center = Center::start(store.clone(), CenterConfig::default()).unwrap();
        for (n, batch) in batches(ACME).iter().enumerate() {
            center.ingest(&setup.acme_token, n as u64 + 1, batch, now()).unwrap();
        }
        // One alert's incident as an earlier run gave it (a replay in another order would
        // compute another): the stored one must stay.
        let page = store.alerts(&acme, &AlertFilter::default(), Page { offset: 0, limit: 1 }).unwrap();
        let mut alert: orthrus_model::Alert = serde_json::from_value(page.alerts[0].alert.clone()).unwrap();
        alert.incident = Some("inc-given-before".into());
        store.upsert_alert(&alert).unwrap();
        incidents(store.as_ref())
    };
    assert!(before.len() >= 3 && before.values().any(|i| i == "inc-given-before"), "{before:?}");
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&setup.store_path).unwrap());
    let _center = Center::start(store.clone(), CenterConfig::default()).unwrap();
    let after = incidents(store.as_ref());
    assert_eq!(after, before);
    // And the alerts' own records agree with the column.
    for record in
        store.alerts(&acme, &AlertFilter::default(), Page { offset: 0, limit: 1000 }).unwrap().alerts
    {
        assert_eq!(record.alert["incident"].as_str(), before.remove(&record.id).as_deref(), "{}", record.id);
    }
}

#[test]
fn the_tenants_exclusions_keep_their_sources_alerts_out() {
    let setup = setup();
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&setup.store_path).unwrap());
    // The attacker's address is excluded from every detection; the password spray's account
    // from one detection only.
    let exclusion = |detection: &str, kind, value: &str| orthrus_store::NewExclusion {
        detection: detection.into(),
        kind,
        value: value.into(),
        reason: "pentest".into(),
    };
    store
        .add_exclusion(
            &tenant("acme"),
            &exclusion("global", orthrus_store::ExclusionKind::Address, "10.99.0.21/32"),
            now(),
        )
        .unwrap();
    let center = Center::start(store.clone(), CenterConfig::default()).unwrap();
    let mut spool = Spool::open(&setup.spools.join("acme.spool"), 64 << 20).unwrap();
    for batch in batches(ACME) {
        spool.append(&batch).unwrap();
    }
    ship(&center, &mut spool, &setup.acme_token);
    let offline_alerts: Vec<orthrus_model::Alert> = {
        let mut engine =
            orthrus_detect::Engine::new(&orthrus_detect::DetectionConfig::default(), "orthrus-center");
        for mut activity in ACME.iter().flat_map(|c| orthrus_testkit::lab_activities(c)) {
            activity.tenant = tenant("acme");
            activity.sensor = Arc::from("dc1");
            engine.observe(&activity);
        }
        engine.finish()
    };
    let attacker: std::net::IpAddr = "10.99.0.21".parse().unwrap();
    assert!(
        offline_alerts.iter().any(|a| a.source.ip == Some(attacker)),
        "the captures have alerts from the attacker"
    );
    let expected: BTreeMap<String, u64> = offline_alerts
        .iter()
        .filter(|a| a.source.ip != Some(attacker))
        .map(|a| (a.id.clone(), a.count))
        .collect();
    assert_eq!(stored(store.as_ref(), "acme"), expected);
    // A restarted center applies them too.
    drop(center);
    let _again = Center::start(store.clone(), CenterConfig::default()).unwrap();
    assert_eq!(stored(store.as_ref(), "acme"), expected);
}
