//! The CEF form of real alerts (the engine's, on lab captures), without a receiver.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use orthrus_model::{Alert, Timestamp};
use orthrus_sinks::cef::parse_extension;
use orthrus_sinks::{CefOptions, SyslogOptions, Transport, Trigger, alert_line, alert_message};

fn alerts(capture: &str) -> Vec<Alert> {
    // The alert names the sensor that saw the activities, not the engine's process.
    let mut engine =
        orthrus_detect::Engine::new(&orthrus_detect::DetectionConfig::default(), "orthrus-center");
    for mut activity in orthrus_testkit::lab_activities(capture) {
        activity.sensor = "sensor-dc1".into();
        engine.observe(&activity);
    }
    engine.finish()
}

#[test]
fn a_kerberoasting_alert_reads_as_the_design_says() {
    let alert = alerts("kerberoast").remove(0);
    let options = CefOptions { version: "0.1.0".into(), ..CefOptions::default() };
    let line = alert_line(&alert, Trigger::New, &options);
    assert_eq!(
        line,
        format!(
            "CEF:0|Orthrus|Orthrus|0.1.0|ORT-KRB-001|Suspected Kerberoasting (Kerberos SPN exposure)|5|\
             start=2026-11-25T07:17:08.461Z end=2026-11-25T07:17:08.507Z app=Kerberos shost=10.99.0.21 \
             src=10.99.0.21 suser=bob cnt=3 msg={} externalId=2410 cs2Label=trigger cs2=new cs4Label=mitre \
             cs4=T1558.003 cs5Label=tenant cs5=default cs6Label=evidence cs6=kerberoast.pcap#36;kerberoast.pcap#38;\
             kerberoast.pcap#46;kerberoast.pcap#48;kerberoast.pcap#56;kerberoast.pcap#58 \
             flexString1Label=incident flexString1={} cat=Credential Access act=alert deviceExternalId=sensor-dc1",
            alert.description,
            alert.incident.as_deref().expect("the engine ties every alert into an incident")
        )
    );
}

#[test]
fn a_udp_message_fits_its_datagram_by_giving_up_evidence_then_words() {
    let mut alert = alerts("dcsync").remove(0);
    // A long incident: hundreds of evidence references and a long sentence.
    let one = alert.evidence[0].clone();
    alert.evidence = vec![one; 400];
    alert.description = format!("{} {}", alert.description, "and more, ".repeat(300));
    let options = SyslogOptions::default();
    let now = Timestamp::from_micros(1_772_442_847_412_000);
    let udp = alert_message(&alert, Trigger::Update, &CefOptions::default(), &options, Transport::Udp, now);
    assert!(udp.len() <= options.udp_max_bytes, "{} bytes", udp.len());
    let fields: std::collections::BTreeMap<String, String> =
        parse_extension(udp.split_once("|10|").or_else(|| udp.split_once("|5|")).unwrap().1)
            .into_iter()
            .collect();
    // The evidence list gave way (halved until it fits, or gone); the sentence kept its
    // CEF-limited length.
    assert!(fields.get("cs6").is_none_or(|cs6| cs6.chars().count() < 1000), "{udp}");
    assert!(fields["msg"].ends_with('…') && fields["msg"].chars().count() == 1023);
    assert_eq!(fields["externalId"], "2006");
    // A smaller datagram: no evidence left, and the sentence itself shortened.
    let small = SyslogOptions { udp_max_bytes: 900, ..SyslogOptions::default() };
    let udp = alert_message(&alert, Trigger::Update, &CefOptions::default(), &small, Transport::Udp, now);
    assert!(udp.len() <= 900, "{} bytes", udp.len());
    let fields: std::collections::BTreeMap<String, String> =
        parse_extension(udp.split_once("|10|").unwrap().1).into_iter().collect();
    assert!(!fields.contains_key("cs6"));
    assert!(fields["msg"].chars().count() < 1023 && fields["msg"].ends_with('…'));
    // Over TCP nothing is given up but the CEF limits (msg ≤ 1023 characters, cs6 ≤ 4000).
    let tcp = alert_message(
        &alert,
        Trigger::Update,
        &CefOptions::default(),
        &options,
        Transport::Tcp { octet_counting: true },
        now,
    );
    let fields: std::collections::BTreeMap<String, String> =
        parse_extension(tcp.split_once("|10|").or_else(|| tcp.split_once("|5|")).unwrap().1)
            .into_iter()
            .collect();
    assert_eq!(fields["msg"].chars().count(), 1023);
    assert!(fields["cs6"].chars().count() <= 4000 && fields["cs6"].len() > 2048);
}

#[test]
fn every_detection_has_a_cef_identity() {
    let mut own = std::collections::BTreeSet::new();
    for entry in orthrus_detect::detections::DETECTIONS {
        let meta = entry.meta;
        assert!(!meta.cef_app.is_empty() && meta.cef_app.len() <= 31, "{}", meta.id);
        assert!(!orthrus_sinks::cef::tactic_name(meta.tactic).is_empty(), "{}", meta.id);
        if meta.mdi.contains(&format!("({})", meta.external_id)) {
            continue;
        }
        assert!((9000..10_000).contains(&meta.external_id), "{}: {}", meta.id, meta.external_id);
        assert!(own.insert(meta.external_id), "{} reuses {}", meta.id, meta.external_id);
    }
}
