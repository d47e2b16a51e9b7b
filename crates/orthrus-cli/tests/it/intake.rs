//! `orthrus sensor` with an `[intake]`: Windows events forwarded live (here `logger` over UDP)
//! reach the center as activities, and the heartbeat carries the intake's counters, so the
//! center's health sees the events arrive.

use std::time::{Duration, Instant};

use super::server::{TestCenter, start_sensor, wait_for_activities};

#[test]
fn events_forwarded_to_the_sensor_reach_the_center_and_its_heartbeat() {
    let center = TestCenter::start();
    // Real events: the lines of a Security Datasets log (NXLog JSON) that map to activities.
    let file = orthrus_testkit::corpus().join(
        "security-datasets/atomic/windows/discovery/host/empire_shell_samr_EnumDomainUsers/\
         empire_shell_samr_EnumDomainUsers_2020-09-21193527.json",
    );
    let text = std::fs::read_to_string(&file).unwrap();
    let mapped: Vec<&str> = text
        .lines()
        .filter(|line| {
            let value: serde_json::Value = serde_json::from_str(line).unwrap_or_default();
            orthrus_events::json::from_value(&value, &"f".into(), orthrus_model::Position::Line(1)).is_ok_and(
                |e| orthrus_events::to_activity(&e, &orthrus_events::MapContext::default()).is_some(),
            )
        })
        .collect();
    assert!(mapped.len() >= 15);
    let subset = center.dir.path().join("mapped.json");
    std::fs::write(&subset, mapped.join("\n") + "\n").unwrap();

    let port = std::net::UdpSocket::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let config = center.sensor_config(&format!(
        "heartbeat_secs = 1\npoll_millis = 200\nbatch_secs = 1\n[intake]\nsyslog_udp = \"127.0.0.1:{port}\"\nallow = [\"127.0.0.0/8\"]\n"
    ));
    let _sensor = start_sensor(&config);
    // The listeners are open before the first heartbeat goes out.
    let wait_for = |done: &dyn Fn(&serde_json::Value) -> bool| {
        let started = Instant::now();
        loop {
            let sensors = center.get("/api/v1/tenants/acme/sensors");
            if done(&sensors["sensors"][0]["status"]) || started.elapsed() > Duration::from_secs(60) {
                return sensors;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    };
    wait_for(&|status| status["intake"].is_object());
    let logger = std::process::Command::new("logger")
        .args(["-n", "127.0.0.1", "-P", &port.to_string(), "-d", "--rfc5424", "--size", "65000"])
        .args(["-t", "winevents", "-f"])
        .arg(&subset)
        .output()
        .unwrap();
    assert!(logger.status.success());
    let sensors = wait_for(&|status| status["events"].as_u64() >= Some(mapped.len() as u64));
    let status = &sensors["sensors"][0]["status"];
    assert_eq!(status["events_expected"], true, "{status}");
    let udp = &status["intake"]["syslog_udp"];
    assert_eq!(udp["address"], format!("127.0.0.1:{port}"));
    let lines = mapped.len() as u64;
    assert_eq!(udp["events"].as_u64(), Some(lines), "{udp}");
    assert_eq!((udp["unreadable"].as_u64(), udp["dropped"].as_u64()), (Some(0), Some(0)), "{udp}");
    assert_eq!(status["events"].as_u64(), Some(lines));
    assert_eq!(wait_for_activities(&center.store, lines), lines);
}
