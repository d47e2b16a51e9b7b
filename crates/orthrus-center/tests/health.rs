//! Health issues over a timeline of sensor heartbeats (event time, one evaluation per step):
//! each opens when its condition holds, escalates, and closes itself after its clear delay;
//! each change reaches a real rsyslog as CEF with `act=health`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use std::collections::BTreeMap;
use std::sync::Arc;

use orthrus_center::health::{HealthTrigger, Heartbeat};
use orthrus_center::{Center, CenterConfig};
use orthrus_model::{Severity, TenantId, Timestamp};
use orthrus_sinks::cef::parse_extension;
use orthrus_sinks::{Route, SinkFilter, SyslogOptions, SyslogSink, Transport};
use orthrus_store::credentials::new_token;
use orthrus_store::{SqliteStore, Store};
use orthrus_testkit::rsyslog::{free_port, launch, wait_for_lines};

fn at(minutes: i64) -> Timestamp {
    Timestamp::from_micros(1_772_442_000_000_000 + minutes * 60_000_000)
}

#[test]
fn health_issues_open_escalate_and_close_and_reach_the_siem() {
    let dir = tempfile::tempdir().unwrap();
    let rsyslog = launch(dir.path(), "siem", None, free_port());
    let store = SqliteStore::open(&dir.path().join("center.db")).unwrap();
    let acme = TenantId("acme".into());
    store.create_tenant(&acme, "ACME", at(0)).unwrap();
    let (dc1, dc1_hash) = new_token().unwrap();
    store.create_sensor(&acme, "dc1", &dc1_hash, at(0)).unwrap();
    // dc2 is registered and never heard from.
    store.create_sensor(&acme, "dc2", &new_token().unwrap().1, at(0)).unwrap();
    let store: Arc<dyn Store> = Arc::new(store);
    let mut sink = SyslogSink::new(
        format!("127.0.0.1:{}", rsyslog.tcp).parse().unwrap(),
        Transport::Tcp { octet_counting: true },
        1000,
    );
    let options = SyslogOptions { hostname: "orthrus-c1".into(), ..SyslogOptions::default() };
    let config = CenterConfig {
        routes: vec![Route::syslog(&sink, options, SinkFilter::default())],
        ..CenterConfig::default()
    };
    let center = Center::start(store, config).unwrap();

    let beat = |packets, dropped_packets, spool_bytes, spool_dropped_batches, version: &str| Heartbeat {
        version: version.into(),
        packets,
        dropped_packets,
        spool_bytes,
        spool_max_bytes: 1000,
        spool_dropped_batches,
        ..Heartbeat::default()
    };
    // (minute, dc1's heartbeat) — every step is also an evaluation.
    let timeline = [
        (0, beat(1000, 0, 0, 0, "0.1.0")),
        (1, beat(2000, 100, 0, 0, "0.1.0")), // 100 of 1100 dropped: traffic not analyzed
        (6, beat(2000, 100, 0, 0, "0.1.0")), // no new packets; dc2 silent 6 min
        (12, beat(2000, 100, 850, 0, "0.1.0")), // no packets for 11 min; buffer 85 % full
        (20, beat(5000, 100, 900, 2, "0.1.0")), // traffic again; buffer overflowed
        (30, beat(6000, 100, 0, 2, "0.1.0")),
        (70, beat(7000, 100, 0, 2, "0.0.9")), // dc2 silent over an hour; dc1 downgraded
    ];
    let mut events: Vec<(i64, &'static str, String, HealthTrigger, Severity)> = Vec::new();
    for (minute, heartbeat) in &timeline {
        center.heartbeat(&dc1, heartbeat, at(*minute)).unwrap();
        for (issue, trigger) in center.check_health(&[], at(*minute)).unwrap() {
            let sensor = issue.sensor.rsplit(':').next().unwrap().to_owned();
            events.push((*minute, issue.kind.id(), sensor, trigger, issue.severity));
        }
    }
    sink.flush().unwrap();
    let expected = [
        (1, "ORT-H-PACKET-DROP", "dc1", HealthTrigger::Opened, Severity::High),
        (6, "ORT-H-SENSOR-SILENT", "dc2", HealthTrigger::Opened, Severity::Medium),
        (12, "ORT-H-NO-TRAFFIC", "dc1", HealthTrigger::Opened, Severity::Medium),
        (12, "ORT-H-BUFFER", "dc1", HealthTrigger::Opened, Severity::Medium),
        (20, "ORT-H-BUFFER", "dc1", HealthTrigger::Updated, Severity::High),
        (20, "ORT-H-PACKET-DROP", "dc1", HealthTrigger::Closed, Severity::High),
        (20, "ORT-H-NO-TRAFFIC", "dc1", HealthTrigger::Closed, Severity::Medium),
        (30, "ORT-H-BUFFER", "dc1", HealthTrigger::Closed, Severity::High),
        (70, "ORT-H-SENSOR-SILENT", "dc2", HealthTrigger::Updated, Severity::High),
        (70, "ORT-H-SENSOR-OUTDATED", "dc1", HealthTrigger::Opened, Severity::Medium),
    ];
    let mut got: Vec<_> = events.iter().map(|(m, id, s, t, sev)| (*m, *id, s.as_str(), *t, *sev)).collect();
    let mut want = expected.to_vec();
    got.sort_by_key(|e| (e.0, e.1));
    want.sort_by_key(|e| (e.0, e.1));
    assert_eq!(got, want);
    assert!(center.check_health(&[], at(71)).unwrap().is_empty(), "nothing changed");

    // The SIEM has one CEF health message per change, closing ones at notice (<37>).
    let lines = wait_for_lines(&rsyslog.out, expected.len());
    assert_eq!(lines.len(), expected.len(), "{lines:#?}");
    let mut closed = 0;
    for line in &lines {
        let parts: Vec<&str> = line.splitn(10, '|').collect();
        let extension = parts[9].splitn(8, '|').nth(7).unwrap();
        let fields: BTreeMap<String, String> = parse_extension(extension).into_iter().collect();
        assert_eq!((fields["act"].as_str(), fields["cs5"].as_str()), ("health", "acme"), "{line}");
        assert!(fields["externalId"].parse::<u16>().unwrap() >= 1000);
        if fields["cs2"] == "closed" {
            closed += 1;
            assert_eq!(parts[0], "37", "{line}");
            assert!(fields.contains_key("end"));
        }
    }
    assert_eq!(closed, 3);
}

/// A tenant's directory upload that grows old is an issue (ORT-H-SYNC-STALE) until the next
/// upload, also across a restart of the center.
#[test]
fn a_stale_directory_upload_is_a_health_issue_until_the_next() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&dir.path().join("center.db")).unwrap();
    let acme = TenantId("acme".into());
    store.create_tenant(&acme, "ACME", at(0)).unwrap();
    store.create_tenant(&TenantId("globex".into()), "Globex", at(0)).unwrap();
    let store: Arc<dyn Store> = Arc::new(store);
    let snapshot =
        orthrus_directory::Snapshot::load(&orthrus_testkit::fixture("directory/lab.snapshot.json")).unwrap();
    let center = Center::start(store.clone(), CenterConfig::default()).unwrap();
    center.set_directory(&acme, snapshot.clone(), at(0)).unwrap();
    assert!(center.check_health(&[], at(60)).unwrap().is_empty(), "an hour is fresh");
    let opened = center.check_health(&[], at(121)).unwrap();
    assert_eq!(opened.len(), 1, "{opened:?}");
    let (issue, trigger) = &opened[0];
    assert_eq!(
        (issue.kind.id(), issue.kind.external_id(), *trigger),
        ("ORT-H-SYNC-STALE", 1007, HealthTrigger::Opened)
    );
    assert_eq!((&issue.tenant, issue.severity), (&acme, Severity::Medium));
    assert!(issue.message.contains("2 hours ago"), "{}", issue.message);
    // globex never uploaded one: it runs without, which is no issue of freshness.
    assert_eq!(center.open_health_issues(&acme).len(), 1);
    assert!(center.open_health_issues(&TenantId("globex".into())).is_empty());
    assert_eq!(center.open_health_issue_count(), 1);

    // A restarted center knows when the upload was; the next upload closes the issue.
    let center = Center::start(store, CenterConfig::default()).unwrap();
    let again = center.check_health(&[], at(130)).unwrap();
    assert_eq!(again.len(), 1);
    center.set_directory(&acme, snapshot, at(131)).unwrap();
    let closed = center.check_health(&[], at(132)).unwrap();
    assert_eq!(closed.len(), 1);
    assert_eq!((closed[0].0.kind.id(), closed[0].1), ("ORT-H-SYNC-STALE", HealthTrigger::Closed));
}

/// An alert endpoint that refuses for five minutes is a Low issue in every tenant, one that
/// drops messages a Medium one; it closes once the endpoint takes messages again.
#[test]
fn a_failing_or_dropping_alert_endpoint_is_a_health_issue_in_every_tenant() {
    use orthrus_center::health::EndpointReport;
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&dir.path().join("center.db")).unwrap();
    for tenant in ["acme", "globex"] {
        store.create_tenant(&TenantId(tenant.into()), tenant, at(0)).unwrap();
    }
    let center = Center::start(Arc::new(store), CenterConfig::default()).unwrap();
    let report = |failing_since: Option<i64>, dropped| EndpointReport {
        name: "tcp://10.0.0.5:514".into(),
        failing_since: failing_since.map(at),
        last_error: failing_since.map(|_| "connection refused".into()),
        counters: orthrus_sinks::SenderCounters { dropped, ..Default::default() },
    };
    assert!(center.check_health(&[report(Some(0), 0)], at(0)).unwrap().is_empty());
    assert!(center.check_health(&[report(Some(0), 0)], at(4)).unwrap().is_empty(), "under five minutes");
    let opened = center.check_health(&[report(Some(0), 0)], at(5)).unwrap();
    assert_eq!(opened.len(), 2, "{opened:?}");
    for (issue, trigger) in &opened {
        assert_eq!((issue.kind.id(), issue.kind.external_id()), ("ORT-H-SYSLOG", 1015));
        assert_eq!((issue.severity, *trigger), (Severity::Low, HealthTrigger::Opened));
        assert!(
            issue.message.contains("5 minutes") && issue.message.contains("connection refused"),
            "{}",
            issue.message
        );
    }
    let tenants: Vec<&str> = opened.iter().map(|(i, _)| i.tenant.0.as_ref()).collect();
    assert_eq!(tenants, ["acme", "globex"]);
    // Its queue overflows: worse.
    let worse = center.check_health(&[report(Some(0), 40)], at(6)).unwrap();
    assert!(
        worse.iter().all(|(i, t)| i.severity == Severity::Medium && *t == HealthTrigger::Updated),
        "{worse:?}"
    );
    assert!(worse[0].0.message.contains("dropped 40 messages"));
    // It takes messages again (the drops are history): closed.
    let closed = center.check_health(&[report(None, 40)], at(7)).unwrap();
    assert_eq!(closed.len(), 2);
    assert!(closed.iter().all(|(_, t)| *t == HealthTrigger::Closed));
}
