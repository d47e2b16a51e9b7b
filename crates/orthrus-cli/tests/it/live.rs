//! `orthrus sensor` capturing live (feature `libpcap`): a lab capture is replayed by tcpreplay
//! onto one end of a veth pair whose other end lives in a network namespace this test makes
//! (the frames go nowhere else); the sensor captures them on the interface with its default
//! filter and ships them to the center on loopback, where the attack is an alert and the
//! heartbeat reports what the kernel captured. Needs root, iproute2 and tcpreplay (.ci/run
//! installs them and runs this test with the feature).

use std::io::{BufRead as _, BufReader};
use std::process::Command;
use std::time::{Duration, Instant};

use super::server::{Running, TestCenter, wait_for_activities};

/// A veth pair, one end here and one in a namespace of its own; both gone when dropped.
struct Veth {
    namespace: String,
    here: String,
}

impl Veth {
    fn new(tag: char) -> Self {
        let uid = Command::new("id").arg("-u").output().unwrap();
        assert_eq!(String::from_utf8_lossy(&uid.stdout).trim(), "0", "live capture needs root");
        let id = std::process::id();
        let veth = Veth { namespace: format!("orthrus-live-{id}{tag}"), here: format!("olv{id}{tag}a") };
        let peer = format!("olv{id}{tag}b");
        let ip = |args: &[&str]| {
            let out = Command::new("ip").args(args).output().expect("iproute2's ip");
            assert!(out.status.success(), "ip {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        };
        ip(&["netns", "add", &veth.namespace]);
        ip(&["link", "add", &veth.here, "type", "veth", "peer", "name", &peer, "netns", &veth.namespace]);
        // Lab frames reach 4.3 KB (Samba's segmentation offload); the MTU must let them through.
        ip(&["link", "set", &veth.here, "mtu", "16000", "up"]);
        ip(&["-n", &veth.namespace, "link", "set", &peer, "mtu", "16000", "up"]);
        veth
    }
}

impl Drop for Veth {
    fn drop(&mut self) {
        // Deleting the namespace deletes the peer, and with it this end.
        let _ = Command::new("ip").args(["netns", "del", &self.namespace]).status();
        let _ = Command::new("ip").args(["link", "del", &self.here]).output();
    }
}

/// Starts `orthrus sensor` and waits for it to say it captures on the veth; the process and
/// the rest of its standard error.
fn start_capturing(
    config: &std::path::Path,
    veth: &Veth,
) -> (std::process::Child, BufReader<std::process::ChildStderr>) {
    let mut child = Command::new(assert_cmd::cargo::cargo_bin("orthrus"))
        .args(["sensor", "--config"])
        .arg(config)
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut banner = String::new();
    stderr.read_line(&mut banner).unwrap();
    assert!(banner.contains(&format!("capturing on {}", veth.here)), "{banner}");
    (child, stderr)
}

#[test]
fn the_sensor_captures_live_and_the_center_alerts() {
    let veth = Veth::new('x');

    let center = TestCenter::start();
    let sensor_config = center.sensor_config(&format!(
        "name = \"dc1-live\"\nbatch_secs = 1\nheartbeat_secs = 1\npoll_millis = 200\n\n[capture]\ninterface = \"{}\"\n",
        veth.here
    ));
    let (child, _) = start_capturing(&sensor_config, &veth);
    let _sensor = Running(child);

    // The DCSync recording, at a pace a veth takes without drops.
    let capture = orthrus_testkit::fixture("pcap/dcsync.pcap");
    let replay = Command::new("tcpreplay")
        .args(["-q", "--pps", "500", "-i", &veth.here])
        .arg(&capture)
        .output()
        .expect("tcpreplay");
    assert!(replay.status.success(), "{}", String::from_utf8_lossy(&replay.stderr));

    // Every activity the file holds arrives (the live decoder sees the same frames).
    let expected = orthrus_testkit::lab_activities("dcsync").len() as u64;
    assert!(expected > 0);
    assert_eq!(wait_for_activities(&center.store, expected), expected);

    let started = Instant::now();
    let alerts = loop {
        let alerts = center.get("/api/v1/tenants/acme/alerts");
        if alerts["total"].as_u64() >= Some(1) || started.elapsed() > Duration::from_secs(30) {
            break alerts;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(alerts["total"], 1, "{alerts}");
    assert_eq!(alerts["alerts"][0]["detection"], "ORT-DRS-001");

    // The heartbeat carries the kernel's counts: every frame of the file received, none dropped.
    let frames = 174;
    let started = Instant::now();
    let sensor = loop {
        let sensors = center.get("/api/v1/tenants/acme/sensors");
        let sensor = sensors["sensors"][0].clone();
        let received = sensor["status"]["capture"]["received"].as_u64().unwrap_or(0);
        if received >= frames || started.elapsed() > Duration::from_secs(30) {
            break sensor;
        }
        std::thread::sleep(Duration::from_millis(300));
    };
    let capture = &sensor["status"]["capture"];
    assert_eq!(capture["interface"], veth.here.as_str(), "{sensor}");
    assert_eq!(capture["received"], frames, "{sensor}");
    assert_eq!(capture["dropped"], 0, "{sensor}");
    assert_eq!(sensor["status"]["dropped_packets"], 0, "{sensor}");
    assert!(capture["decode"]["protocols"]["dcerpc"].is_object(), "{sensor}");
}

/// A sensor stopped by SIGTERM (as a service manager stops it) keeps what it captured: its
/// batches are never cut by age here (nor by size: the largest batch holds more than the
/// replay), so everything arrives only through the stop.
#[test]
fn a_sensor_stopped_by_sigterm_ships_what_it_captured() {
    let veth = Veth::new('y');
    let center = TestCenter::start();
    let sensor_config = center.sensor_config(&format!(
        "batch_secs = 3600\nbatch_activities = 10000\npoll_millis = 200\n\n[capture]\ninterface = \"{}\"\n",
        veth.here
    ));
    let (mut child, mut stderr) = start_capturing(&sensor_config, &veth);
    let replay = Command::new("tcpreplay")
        .args(["-q", "--pps", "500", "-i", &veth.here])
        .arg(orthrus_testkit::fixture("pcap/kerberoast.pcap"))
        .output()
        .expect("tcpreplay");
    assert!(replay.status.success(), "{}", String::from_utf8_lossy(&replay.stderr));
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(wait_for_activities(&center.store, 0), 0, "nothing is cut by age or size before the stop");

    let status = Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
    assert!(status.success());
    let started = Instant::now();
    let exit = loop {
        if let Some(exit) = child.try_wait().unwrap() {
            break exit;
        }
        assert!(started.elapsed() < Duration::from_secs(30), "the sensor did not stop");
        std::thread::sleep(Duration::from_millis(100));
    };
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut stderr, &mut rest).unwrap();
    assert!(exit.success(), "{rest}");
    assert!(rest.contains("sensor stopped"), "{rest}");
    let expected = orthrus_testkit::lab_activities("kerberoast").len() as u64;
    assert_eq!(wait_for_activities(&center.store, expected), expected);
}
