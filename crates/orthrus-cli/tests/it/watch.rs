//! The sensor's watched folder against someone who may write it: links, pipes and hard links
//! to files the sensor must not read are refused unread and reported in the center's health;
//! a capture ring reusing a name is read each time its content is new; nothing in `done/` is
//! overwritten.

use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::Value;

use super::server::{acme, https, start_center, start_sensor, wait_for_activities};

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
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("center.db");
    let (sensor_token, user_token) = acme(&store.display().to_string());
    let token_file = dir.path().join("sensor.token");
    std::fs::write(&token_file, sensor_token).unwrap();
    let cert = dir.path().join("center.crt");
    let center_config = dir.path().join("center.toml");
    std::fs::write(
        &center_config,
        format!(
            "listen = \"127.0.0.1:0\"\nstore = \"{}\"\ntls_cert = \"{}\"\ntls_key = \"{}\"\nhealth_interval_secs = 1\n",
            store.display(),
            cert.display(),
            dir.path().join("center.key").display()
        ),
    )
    .unwrap();
    let (_center, address, fingerprint) = start_center(&center_config);

    // A secret the sensor's user may read and the folder's writer may not: a capture in a
    // private folder, which links in the watched folder point to.
    let private = dir.path().join("private");
    std::fs::create_dir(&private).unwrap();
    std::fs::set_permissions(&private, std::fs::Permissions::from_mode(0o700)).unwrap();
    let secret = private.join("secret.pcap");
    std::fs::copy(orthrus_testkit::fixture("pcap/dcsync.pcap"), &secret).unwrap();
    std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o600)).unwrap();

    let watch = dir.path().join("incoming");
    std::fs::create_dir(&watch).unwrap();
    std::os::unix::fs::symlink(&secret, watch.join("link.pcap")).unwrap();
    std::fs::hard_link(&secret, watch.join("hard.pcap")).unwrap();
    let fifo = std::process::Command::new("mkfifo").arg(watch.join("pipe.pcap")).status().unwrap();
    assert!(fifo.success());

    let spool = dir.path().join("sensor.spool");
    let sensor_config = dir.path().join("sensor.toml");
    std::fs::write(
        &sensor_config,
        format!(
            "center = \"https://{address}\"\ncenter_fingerprint = \"{fingerprint}\"\ntoken_file = \"{}\"\nwatch = \"{}\"\n\
             spool = \"{}\"\nheartbeat_secs = 1\npoll_millis = 200\n",
            token_file.display(),
            watch.display(),
            spool.display()
        ),
    )
    .unwrap();
    let _sensor = start_sensor(&sensor_config);
    assert_eq!(wait_for_entries(&watch.join("refused"), 3), ["hard.pcap", "link.pcap", "pipe.pcap"]);
    // The spool holds what the sensor captured: its owner alone reads it.
    assert_eq!(std::fs::metadata(&spool).unwrap().permissions().mode() & 0o777, 0o600);

    // A capture ring reusing one name: each new content is read, the same content is not
    // read twice, and done/ keeps every copy.
    let kerberoast = orthrus_testkit::lab_activities("kerberoast").len() as u64;
    let logon = orthrus_testkit::lab_activities("benign_logon").len() as u64;
    let drop_in = |capture: &str, copies_in_done: usize| {
        let staged = dir.path().join("staged.pcap0");
        std::fs::copy(orthrus_testkit::fixture(&format!("pcap/{capture}.pcap")), &staged).unwrap();
        std::fs::rename(&staged, watch.join("ring.pcap0")).unwrap();
        wait_for_entries(&watch.join("done"), copies_in_done)
    };
    drop_in("kerberoast", 1);
    assert_eq!(wait_for_activities(&store, kerberoast), kerberoast);
    drop_in("benign_logon", 2);
    assert_eq!(wait_for_activities(&store, kerberoast + logon), kerberoast + logon);
    let done = drop_in("kerberoast", 3);
    assert_eq!(done, ["ring.1.pcap0", "ring.2.pcap0", "ring.pcap0"]);
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(
        wait_for_activities(&store, 0),
        kerberoast + logon,
        "the same content read twice, or the secret read"
    );

    // The center's health says files were refused, for this tenant.
    let started = Instant::now();
    let issue = loop {
        let (status, body) = https(&address, &cert, "GET", "/api/v1/tenants/acme/health", &user_token, None);
        assert_eq!(status, 200, "{body}");
        let health: Value = serde_json::from_str(&body).unwrap();
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
