//! The sensor's watched folder against someone who may write it: links, pipes and hard links
//! to files the sensor must not read are refused unread and reported in the center's health;
//! a capture ring reusing a name is read each time its content is new; nothing in `done/` is
//! overwritten.

use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::Value;

use super::server::{TestCenter, start_sensor, wait_for_activities};

fn names(folder: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(folder)
        .map(|d| d.flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect())
        .unwrap_or_default();
    names.sort();
    names
}

/// Waits (at most 60 s) until `folder` holds `n` entries.
fn wait_for_entries(folder: &Path, n: usize) -> Vec<String> {
    let started = Instant::now();
    while names(folder).len() < n && started.elapsed() < Duration::from_secs(60) {
        std::thread::sleep(Duration::from_millis(100));
    }
    names(folder)
}

#[test]
fn the_watched_folder_reads_regular_files_only_and_knows_them_by_content() {
    let center = TestCenter::start_with("health_interval_secs = 1\n");
    let dir = center.dir.path();
    // A secret the sensor's user may read and the folder's writer may not: a capture in a
    // private folder, which links in the watched folder point to.
    let private = dir.join("private");
    std::fs::create_dir(&private).unwrap();
    std::fs::set_permissions(&private, std::fs::Permissions::from_mode(0o700)).unwrap();
    let secret = private.join("secret.pcap");
    std::fs::copy(orthrus_testkit::fixture("pcap/dcsync.pcap"), &secret).unwrap();
    std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o600)).unwrap();

    let watch = dir.join("incoming");
    std::fs::create_dir(&watch).unwrap();
    std::os::unix::fs::symlink(&secret, watch.join("link.pcap")).unwrap();
    std::fs::hard_link(&secret, watch.join("hard.pcap")).unwrap();
    let fifo = std::process::Command::new("mkfifo").arg(watch.join("pipe.pcap")).status().unwrap();
    assert!(fifo.success());

    let spool = dir.join("sensor.spool");
    let sensor_config = center
        .sensor_config(&format!("watch = \"{}\"\nheartbeat_secs = 1\npoll_millis = 200\n", watch.display()));
    let _sensor = start_sensor(&sensor_config);
    assert_eq!(wait_for_entries(&watch.join("refused"), 3), ["hard.pcap", "link.pcap", "pipe.pcap"]);
    // The spool holds what the sensor captured: its owner alone reads it.
    assert_eq!(std::fs::metadata(&spool).unwrap().permissions().mode() & 0o777, 0o600);

    // A capture ring reusing one name: each new content is read, the same content is not
    // read twice, and done/ keeps every copy.
    let kerberoast = orthrus_testkit::lab_activities("kerberoast").len() as u64;
    let logon = orthrus_testkit::lab_activities("benign_logon").len() as u64;
    let drop_in = |capture: &str, copies_in_done: usize| {
        let staged = dir.join("staged.pcap0");
        std::fs::copy(orthrus_testkit::fixture(&format!("pcap/{capture}.pcap")), &staged).unwrap();
        std::fs::rename(&staged, watch.join("ring.pcap0")).unwrap();
        wait_for_entries(&watch.join("done"), copies_in_done)
    };
    drop_in("kerberoast", 1);
    assert_eq!(wait_for_activities(&center.store, kerberoast), kerberoast);
    drop_in("benign_logon", 2);
    assert_eq!(wait_for_activities(&center.store, kerberoast + logon), kerberoast + logon);
    let done = drop_in("kerberoast", 3);
    assert_eq!(done, ["ring.1.pcap0", "ring.2.pcap0", "ring.pcap0"]);
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(
        wait_for_activities(&center.store, 0),
        kerberoast + logon,
        "the same content read twice, or the secret read"
    );

    // The center's health says files were refused, for this tenant.
    let started = Instant::now();
    let issue = loop {
        let health: Value = center.get("/api/v1/tenants/acme/health");
        if let Some(issue) =
            health["issues"].as_array().unwrap().iter().find(|i| i["id"] == "ORT-H-FILES-REFUSED")
        {
            break issue.clone();
        }
        assert!(started.elapsed() < Duration::from_secs(30), "no health issue: {health}");
        std::thread::sleep(Duration::from_millis(300));
    };
    assert_eq!(issue["external_id"], 1212);
    let message = issue["message"].as_str().unwrap();
    assert!(message.contains("refused 3 files"), "{message}");
    // The secret is where it was, untouched.
    assert!(secret.exists());
}
