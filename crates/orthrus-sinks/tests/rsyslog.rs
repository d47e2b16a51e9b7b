//! CEF over syslog into a real rsyslog (Debian's `rsyslog`, which `.ci/run` installs), started
//! by this test on loopback ports with its own configuration and stopped by its PID: the
//! engine's alerts on lab captures go out over UDP and TCP (octet counting and LF), RFC 5424
//! and 3164, and over TLS with the SIEM's certificate checked; rsyslog's own parser splits each message into its header fields, which are
//! written to a file and read back here field by field, with the CEF extension.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use std::sync::Arc;

use orthrus_testkit::rsyslog::{free_port, launch, wait_for_lines};

use orthrus_model::{Alert, Timestamp};
use orthrus_sinks::cef::{cef_time, parse_extension};
use orthrus_sinks::syslog::TlsTarget;
use orthrus_sinks::{
    CefOptions, Framing, Outbox, SyslogOptions, SyslogSink, Transport, Trigger, alert_message,
};
use orthrus_tls::client_config;
use rustls::pki_types::ServerName;

fn lab_alerts() -> Vec<Alert> {
    let mut alerts = Vec::new();
    for capture in ["kerberoast", "dcsync", "krb_password_spray", "asrep_roast"] {
        let mut engine =
            orthrus_detect::Engine::new(&orthrus_detect::DetectionConfig::default(), "orthrus-center");
        for mut activity in orthrus_testkit::lab_activities(capture) {
            activity.tenant = orthrus_model::TenantId("acme".into());
            activity.sensor = "sensor-dc1".into();
            engine.observe(&activity);
        }
        alerts.extend(engine.finish());
    }
    assert!(alerts.len() >= 4, "{alerts:#?}");
    alerts
}

/// CEF header fields split on unescaped `|`, and the extension.
fn split_cef(msg: &str) -> (Vec<String>, String) {
    let body = msg.trim_start_matches('\u{feff}').trim_start();
    let mut fields = Vec::new();
    let mut current = String::new();
    let mut chars = body.chars();
    while let Some(c) = chars.next() {
        if fields.len() == 7 {
            current.push(c);
            continue;
        }
        match c {
            '\\' => {
                if let Some(next) = chars.next() {
                    current.push(next);
                }
            }
            '|' => fields.push(std::mem::take(&mut current)),
            c => current.push(c),
        }
    }
    (fields, current)
}

fn check_alert(alert: &Alert, msg: &str) {
    // What the registry says of the detection: the alert must carry it to the line.
    let meta = orthrus_detect::detections::meta(&alert.detection).unwrap();
    let (header, extension) = split_cef(msg);
    assert_eq!(header[0], "CEF:0");
    assert_eq!(&header[1..4], ["Orthrus", "Orthrus", env!("CARGO_PKG_VERSION")]);
    assert_eq!((header[4].as_str(), header[5].as_str()), (meta.id, meta.title));
    assert_eq!(header[6], orthrus_sinks::cef::cef_severity(alert.severity).to_string());
    let fields: std::collections::BTreeMap<String, String> =
        parse_extension(&extension).into_iter().collect();
    assert_eq!(fields["msg"], alert.description);
    assert_eq!(fields["externalId"], meta.external_id.to_string());
    assert_eq!(fields["cnt"], alert.count.to_string());
    assert_eq!(fields["start"], cef_time(alert.first_seen));
    assert_eq!(fields["app"], meta.cef_app);
    assert_eq!(fields["cs5"], "acme");
    assert_eq!(fields["cs4"], meta.techniques.join(","));
    assert_eq!(fields["deviceExternalId"], "sensor-dc1");
    if let Some(ip) = alert.source.ip {
        assert_eq!(fields["src"], ip.to_string());
    }
    if let Some(account) = &alert.source.account {
        assert_eq!(&fields["suser"], account);
    }
    assert_eq!(
        fields.get("cs1").map(String::as_str),
        Some(format!("https://orthrus.example/ui/t/{}/alerts/{}", alert.tenant.0, alert.id).as_str()),
        "{msg}"
    );
}

#[test]
fn alerts_reach_a_real_rsyslog_and_parse_back_field_by_field() {
    let dir = tempfile::tempdir().unwrap();
    let rsyslog = launch(dir.path(), "first", Some(free_port()), free_port());
    let alerts = lab_alerts();
    let cef = CefOptions { url_base: Some("https://orthrus.example/".into()), ..CefOptions::default() };
    let now = Timestamp::from_micros(1_772_442_847_412_000);
    let rfc5424 = SyslogOptions { hostname: "orthrus-c1".into(), ..SyslogOptions::default() };
    let rfc3164 = SyslogOptions { framing: Framing::Rfc3164, ..rfc5424.clone() };
    let runs = [
        (Transport::Udp, rsyslog.udp, &rfc5424),
        (Transport::Tcp { octet_counting: true }, rsyslog.tcp, &rfc5424),
        (Transport::Tcp { octet_counting: false }, rsyslog.tcp, &rfc3164),
    ];
    for (run, (transport, port, options)) in runs.into_iter().enumerate() {
        let mut sink = SyslogSink::new(format!("127.0.0.1:{port}").parse().unwrap(), transport, 1000);
        for alert in &alerts {
            sink.push(alert_message(alert, Trigger::New, &cef, options, transport, now));
        }
        sink.flush().unwrap();
        assert_eq!((sink.sent, sink.dropped(), sink.queued()), (alerts.len() as u64, 0, 0));
        // rsyslog's UDP and TCP inputs are separate threads: a run's lines are awaited before
        // the next run is sent, so the file holds the runs in order even on a busy machine.
        wait_for_lines(&rsyslog.out, alerts.len() * (run + 1));
    }
    let lines = wait_for_lines(&rsyslog.out, alerts.len() * 3);
    assert_eq!(lines.len(), alerts.len() * 3, "{lines:#?}");

    let pid = std::process::id().to_string();
    for (run, chunk) in lines.chunks(alerts.len()).enumerate() {
        for (line, alert) in chunk.iter().zip(&alerts) {
            let parts: Vec<&str> = line.splitn(10, '|').collect();
            let [pri, version, time, host, app, procid, msgid, sd, tag, msg] = parts[..] else {
                panic!("{line}")
            };
            let expected_pri = match alert.severity {
                orthrus_model::Severity::High => "35",
                orthrus_model::Severity::Medium => "36",
                orthrus_model::Severity::Low => "37",
            };
            assert_eq!(pri, expected_pri, "{line}");
            assert_eq!(host, "orthrus-c1", "{line}");
            assert!(time.starts_with("2026-03-02T09:14:07"), "{line}");
            if run < 2 {
                // RFC 5424: every header field where we put it.
                assert_eq!(
                    (version, app, procid, msgid, sd),
                    ("1", "orthrus", pid.as_str(), &*alert.detection, "-"),
                    "{line}"
                );
            } else {
                assert_eq!(tag, "orthrus:", "{line}");
            }
            check_alert(alert, msg);
        }
    }
}

#[test]
fn a_tcp_endpoint_that_is_down_keeps_the_queue_until_it_is_back() {
    let dir = tempfile::tempdir().unwrap();
    let alerts = lab_alerts();
    let port = free_port();
    let transport = Transport::Tcp { octet_counting: true };
    let mut sink = SyslogSink::new(format!("127.0.0.1:{port}").parse().unwrap(), transport, 1000);
    let options = SyslogOptions::default();
    let cef = CefOptions { url_base: Some("https://orthrus.example".into()), ..CefOptions::default() };
    let now = Timestamp::from_micros(1_772_442_847_412_000);
    for alert in &alerts {
        sink.push(alert_message(alert, Trigger::New, &cef, &options, transport, now));
    }
    assert!(sink.flush().is_err(), "nothing listens yet");
    assert_eq!((sink.queued(), sink.sent, sink.failures), (alerts.len(), 0, 1));

    // The receiver comes up on that port: the same queue goes out, in order, once.
    let rsyslog = launch(dir.path(), "late", None, port);
    sink.flush().unwrap();
    assert_eq!((sink.queued(), sink.sent), (0, alerts.len() as u64));
    let lines = wait_for_lines(&rsyslog.out, alerts.len());
    assert_eq!(lines.len(), alerts.len());
    for (line, alert) in lines.iter().zip(&alerts) {
        check_alert(alert, line.splitn(10, '|').nth(9).unwrap());
    }
}

#[test]
fn syslog_over_tls_checks_the_siems_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let certified = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let (cert, key) = (dir.path().join("siem.crt"), dir.path().join("siem.key"));
    std::fs::write(&cert, certified.cert.pem()).unwrap();
    std::fs::write(&key, certified.signing_key.serialize_pem()).unwrap();
    let rsyslog = orthrus_testkit::rsyslog::launch_tls(dir.path(), "siem-tls", free_port(), &cert, &key);
    let alerts = lab_alerts();
    let options = SyslogOptions::default();
    let cef = CefOptions { url_base: Some("https://orthrus.example".into()), ..CefOptions::default() };
    let now = Timestamp::from_micros(1_772_442_847_412_000);
    let endpoint: std::net::SocketAddr = format!("127.0.0.1:{}", rsyslog.tcp).parse().unwrap();
    let sink_with = |config| {
        let target = TlsTarget { server_name: ServerName::try_from("localhost").unwrap(), config };
        let mut sink =
            SyslogSink::with_outbox(endpoint, Transport::Tls, Some(target), Arc::new(Outbox::new(100)));
        for alert in &alerts {
            sink.push(alert_message(alert, Trigger::New, &cef, &options, Transport::Tls, now));
        }
        sink
    };

    // A certificate the settings do not trust: nothing is sent, everything waits.
    let other = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let other_pem = dir.path().join("other.crt");
    std::fs::write(&other_pem, other.cert.pem()).unwrap();
    let mut refused = sink_with(client_config(Some(&other_pem), None).unwrap());
    assert!(refused.flush().is_err());
    assert_eq!((refused.sent, refused.queued()), (0, alerts.len()));

    // Trusted by CA file, and by pinned fingerprint: each message arrives, parsed field by field.
    let pin = orthrus_tls::certificate_fingerprint(certified.cert.der());
    for config in [client_config(Some(&cert), None).unwrap(), client_config(None, Some(&pin)).unwrap()] {
        let mut sink = sink_with(config);
        sink.flush().unwrap();
        assert_eq!((sink.sent, sink.queued()), (alerts.len() as u64, 0));
    }
    let lines = wait_for_lines(&rsyslog.out, 2 * alerts.len());
    assert_eq!(lines.len(), 2 * alerts.len(), "{lines:#?}");
    for (line, alert) in lines.iter().zip(alerts.iter().chain(&alerts)) {
        let fields: Vec<&str> = line.splitn(10, '|').collect();
        assert_eq!((fields[1], fields[4]), ("1", "orthrus"), "{line}");
        check_alert(alert, fields[9]);
    }
}
