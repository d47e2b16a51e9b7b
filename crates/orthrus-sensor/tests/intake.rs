//! The sensor's live event intake with real clients on loopback: rsyslog forwarding files of
//! real Windows events (Security Datasets, shipped by NXLog) over TCP and TLS, `logger` over
//! UDP, curl posting NDJSON over HTTPS. What arrives live must be exactly what the same file
//! gives when dropped into the watched folder; what the bounds refuse is counted.

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use orthrus_model::Activity;
use orthrus_sensor::intake::{Intake, IntakeConfig, ListenerCounters};

/// A Security Datasets host log of the public corpus, by the start of its file name.
fn security_dataset(prefix: &str) -> PathBuf {
    fn walk(dir: &Path, prefix: &str) -> Option<PathBuf> {
        for entry in std::fs::read_dir(dir).ok()?.flatten() {
            let path = entry.path();
            if path.is_dir() {
                if let Some(found) = walk(&path, prefix) {
                    return Some(found);
                }
            } else if path.extension().is_some_and(|e| e == "json")
                && path.file_name().is_some_and(|n| n.to_string_lossy().starts_with(prefix))
            {
                return Some(path);
            }
        }
        None
    }
    walk(&orthrus_testkit::corpus().join("security-datasets"), prefix)
        .unwrap_or_else(|| panic!("no {prefix}* in the corpus's security-datasets"))
}

/// The activities of `files` as the watched folder reads them, each pointing at "input"
/// instead of its file or connection.
fn from_files(files: &[PathBuf]) -> Vec<Activity> {
    let mut activities = Vec::new();
    orthrus_timeline::decode_files(files, &orthrus_timeline::NoProgress, &mut |a| activities.push(a));
    anonymous(activities)
}

fn anonymous(mut activities: Vec<Activity>) -> Vec<Activity> {
    for activity in &mut activities {
        for provenance in &mut activity.provenance {
            provenance.file = "input".into();
        }
    }
    activities
}

fn start(config: &str, batch_activities: usize) -> Intake {
    let config: IntakeConfig = toml::from_str(config).unwrap();
    Intake::start(&config, batch_activities, Duration::from_millis(200)).unwrap()
}

fn listener<'a>(intake: &'a Intake, name: &str) -> &'a ListenerCounters {
    &intake.counters.listeners.iter().find(|(n, _, _)| *n == name).unwrap().2
}

fn read(counter: &std::sync::atomic::AtomicU64) -> u64 {
    counter.load(Ordering::Relaxed)
}

/// Batches until `n` activities came or 60 s passed.
fn collect(intake: &Intake, n: usize) -> Vec<Activity> {
    let started = Instant::now();
    let mut activities = Vec::new();
    while activities.len() < n && started.elapsed() < Duration::from_secs(60) {
        if let Ok(batch) = intake.batches.recv_timeout(Duration::from_millis(200)) {
            activities.extend(batch);
        }
    }
    activities
}

/// Waits (at most 30 s) until `done` holds.
fn wait_until(done: impl Fn() -> bool) {
    let started = Instant::now();
    while !done() && started.elapsed() < Duration::from_secs(30) {
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Lines of a file of JSON events.
fn event_lines(file: &Path) -> Vec<String> {
    std::fs::read_to_string(file)
        .unwrap()
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(str::to_owned)
        .collect()
}

/// A CA, the listener's certificate for `localhost`, and a forwarder's client certificate,
/// as PEM files in `dir`.
struct Pki {
    ca: PathBuf,
    server_cert: PathBuf,
    server_key: PathBuf,
    client_cert: PathBuf,
    client_key: PathBuf,
}

fn pki(dir: &Path) -> Pki {
    let mut ca_params = rcgen::CertificateParams::new(Vec::new()).unwrap();
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    // Names of their own: a leaf whose issuer and subject read alike looks self-signed to
    // OpenSSL (rsyslog's driver) and curl.
    ca_params.distinguished_name.push(rcgen::DnType::CommonName, "Orthrus test CA");
    let ca = rcgen::CertifiedIssuer::self_signed(ca_params, rcgen::KeyPair::generate().unwrap()).unwrap();
    let leaf = |name: &str| {
        let key = rcgen::KeyPair::generate().unwrap();
        let mut params = rcgen::CertificateParams::new(vec![name.to_owned()]).unwrap();
        params.distinguished_name.push(rcgen::DnType::CommonName, name);
        let cert = params.signed_by(&key, &ca).unwrap();
        (cert.pem(), key.serialize_pem())
    };
    let write = |name: &str, text: &str| {
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        path
    };
    let (server_cert, server_key) = leaf("localhost");
    let (client_cert, client_key) = leaf("forwarder.corp.example");
    Pki {
        ca: write("ca.pem", &ca.pem()),
        server_cert: write("server.pem", &server_cert),
        server_key: write("server.key", &server_key),
        client_cert: write("client.pem", &client_cert),
        client_key: write("client.key", &client_key),
    }
}

#[test]
fn rsyslog_forwarding_real_events_over_tcp_gives_the_activities_the_file_gives() {
    let dir = tempfile::tempdir().unwrap();
    let file = security_dataset("covenant_dcsync");
    let expected = from_files(std::slice::from_ref(&file));
    assert!(expected.len() > 40, "the DCSync log maps to {} activities", expected.len());
    let intake = start("syslog_tcp = \"127.0.0.1:0\"\n", 1000);
    let port = intake.counters.address("syslog_tcp").unwrap().port();
    let _rsyslog = orthrus_testkit::rsyslog::forward_file(
        dir.path(),
        "tcp",
        &file,
        port,
        &orthrus_testkit::rsyslog::Forward::Tcp,
    );
    let live = anonymous(collect(&intake, expected.len()));
    assert_eq!(live, expected);
    let counters = listener(&intake, "syslog_tcp");
    let lines = event_lines(&file).len() as u64;
    wait_until(|| read(&counters.messages) >= lines);
    assert_eq!(read(&counters.messages), lines);
    assert_eq!(read(&counters.events), lines, "every line is a Windows event");
    assert_eq!((read(&counters.unreadable), read(&counters.dropped)), (0, 0));
    assert_eq!(intake.counters.events(), lines);
}

#[test]
fn rsyslog_over_tls_with_a_client_certificate_is_read_and_a_client_without_one_refused() {
    let dir = tempfile::tempdir().unwrap();
    let pki = pki(dir.path());
    let file = security_dataset("empire_shell_rubeus");
    let expected = from_files(std::slice::from_ref(&file));
    assert!(expected.iter().any(|a| matches!(a.kind, orthrus_model::ActivityKind::TgtRequested(_))));
    let intake = start(
        &format!(
            "syslog_tls = \"127.0.0.1:0\"\ntls_cert = \"{}\"\ntls_key = \"{}\"\nclient_ca = \"{}\"\n",
            pki.server_cert.display(),
            pki.server_key.display(),
            pki.ca.display()
        ),
        1000,
    );
    let port = intake.counters.address("syslog_tls").unwrap().port();
    let counters = listener(&intake, "syslog_tls");
    // A client without a certificate: the handshake fails, nothing is read.
    let refused = Command::new("curl")
        .args(["-sS", "--max-time", "10", "--cacert"])
        .arg(&pki.ca)
        .args(["--resolve", &format!("localhost:{port}:127.0.0.1"), &format!("https://localhost:{port}/")])
        .output()
        .unwrap();
    assert!(!refused.status.success());
    wait_until(|| read(&counters.connections.failed_handshakes) >= 1);
    assert_eq!(read(&counters.connections.failed_handshakes), 1);
    assert_eq!(read(&counters.messages), 0);

    let forward =
        orthrus_testkit::rsyslog::Forward::Tls { ca: &pki.ca, cert: &pki.client_cert, key: &pki.client_key };
    let rsyslog = orthrus_testkit::rsyslog::forward_file(dir.path(), "tls", &file, port, &forward);
    let live = anonymous(collect(&intake, expected.len()));
    assert_eq!(
        live.len(),
        expected.len(),
        "rsyslog said: {}",
        std::fs::read_to_string(&rsyslog.out).unwrap_or_default()
    );
    assert_eq!(live, expected);
    assert_eq!(read(&counters.unreadable), 0);
}

#[test]
fn logger_over_udp_is_read_and_a_flood_past_the_queue_is_counted_never_silent() {
    let dir = tempfile::tempdir().unwrap();
    let file = security_dataset("empire_shell_samr");
    // The lines that map to activities, so every datagram of the flood is one activity.
    let mapped: Vec<String> = event_lines(&file)
        .into_iter()
        .filter(|line| {
            let value: serde_json::Value = serde_json::from_str(line).unwrap();
            let event =
                orthrus_events::json::from_value(&value, &"f".into(), orthrus_model::Position::Line(1))
                    .unwrap();
            orthrus_events::to_activity(&event, &orthrus_events::MapContext::default()).is_some()
        })
        .collect();
    assert!(mapped.len() >= 15, "{} mapped lines", mapped.len());
    let subset = dir.path().join("mapped.json");
    std::fs::write(&subset, mapped.join("\n") + "\n").unwrap();
    let expected = from_files(std::slice::from_ref(&subset));

    let intake = start("syslog_udp = \"127.0.0.1:0\"\n", 1000);
    let port = intake.counters.address("syslog_udp").unwrap().port();
    let logger = Command::new("logger")
        .args([
            "-n",
            "127.0.0.1",
            "-P",
            &port.to_string(),
            "-d",
            "--rfc5424",
            "--size",
            "65000",
            "-t",
            "winevents",
        ])
        .arg("-f")
        .arg(&subset)
        .output()
        .unwrap();
    assert!(logger.status.success(), "{}", String::from_utf8_lossy(&logger.stderr));
    assert_eq!(anonymous(collect(&intake, expected.len())), expected);
    drop(intake);

    // A queue of 8 that nobody empties: the batcher holds one batch, the sensor's loop 16;
    // the rest of 300 datagrams is dropped, and every one of them counted.
    let intake = start("syslog_udp = \"127.0.0.1:0\"\nqueue_activities = 8\n", 1);
    let address = intake.counters.address("syslog_udp").unwrap();
    let counters = listener(&intake, "syslog_udp");
    let socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let line = mapped.first().unwrap();
    let flood = 300u64;
    for n in 0..flood {
        socket
            .send_to(format!("<13>1 2020-09-21T19:35:27Z wec winevents - - - {line}").as_bytes(), address)
            .unwrap();
        if n % 10 == 9 {
            // Paced so the kernel's socket buffer keeps up: the drops counted are the queue's.
            std::thread::sleep(Duration::from_millis(2));
        }
    }
    wait_until(|| read(&counters.messages) >= flood);
    assert_eq!(read(&counters.messages), flood);
    let (queued, dropped) = (read(&counters.activities), read(&counters.dropped));
    assert_eq!(queued + dropped, flood);
    assert!(dropped >= flood - 8 - 17, "{dropped} dropped, {queued} queued");
    assert_eq!(intake.counters.dropped_events(), dropped);
    assert_eq!(intake.counters.events() + dropped, flood, "every datagram counted once, kept or dropped");
    let kept: usize = intake.stop().iter().map(Vec::len).sum();
    assert_eq!(kept as u64, queued, "what was queued reaches the disk buffer");
}

#[test]
fn a_full_queue_slows_a_tcp_forwarder_and_loses_nothing() {
    let file = security_dataset("empire_shell_samr");
    let line = event_lines(&file)
        .into_iter()
        .find(|l| l.contains("\"EventID\":4624"))
        .expect("a 4624 in the samr log");
    let intake = start("syslog_tcp = \"127.0.0.1:0\"\nqueue_activities = 8\n", 1);
    let address = intake.counters.address("syslog_tcp").unwrap();
    let counters = listener(&intake, "syslog_tcp");
    let total = 300u64;
    let writer = std::thread::spawn(move || {
        let mut stream = std::net::TcpStream::connect(address).unwrap();
        for _ in 0..total {
            let message = format!("<13>1 2020-09-21T19:35:27Z wec winevents - - - {line}");
            write!(stream, "{} {message}", message.len()).unwrap();
        }
    });
    // Nobody empties the batches: the listener stops reading once the queue is full.
    wait_until(|| read(&counters.activities) >= 8 + 17);
    std::thread::sleep(Duration::from_millis(500));
    assert!(read(&counters.messages) < total, "read on while the queue was full");
    let taken = collect(&intake, total as usize);
    writer.join().unwrap();
    assert_eq!(taken.len() as u64, total);
    assert_eq!((read(&counters.dropped), read(&counters.oversize)), (0, 0));
}

#[test]
fn curl_posting_ndjson_over_https_with_the_token_gives_the_activities_the_file_gives() {
    let dir = tempfile::tempdir().unwrap();
    let pki = pki(dir.path());
    let token_file = dir.path().join("intake.token");
    let token = "5f0c1e0a9d6b4c2f8e7a1b3c5d7e9f01";
    std::fs::write(&token_file, format!("{token}\n")).unwrap();
    let file = security_dataset("empire_shell_samr");
    let expected = from_files(std::slice::from_ref(&file));
    let intake = start(
        &format!(
            "https = \"127.0.0.1:0\"\ntls_cert = \"{}\"\ntls_key = \"{}\"\nhttps_token_file = \"{}\"\n",
            pki.server_cert.display(),
            pki.server_key.display(),
            token_file.display()
        ),
        1000,
    );
    let port = intake.counters.address("https").unwrap().port();
    let counters = listener(&intake, "https");
    let post = |token: &str| {
        let output = Command::new("curl")
            .args(["-sS", "--max-time", "30", "--cacert"])
            .arg(&pki.ca)
            .args(["--resolve", &format!("localhost:{port}:127.0.0.1")])
            .args([
                "-H",
                &format!("Authorization: Bearer {token}"),
                "-H",
                "Content-Type: application/x-ndjson",
            ])
            .args(["-w", "\n%{http_code}", "--data-binary"])
            .arg(format!("@{}", file.display()))
            .arg(format!("https://localhost:{port}/api/v1/events"))
            .output()
            .unwrap();
        format!("{}{}", String::from_utf8_lossy(&output.stderr), String::from_utf8_lossy(&output.stdout))
    };
    let refused = post("00000000000000000000000000000000");
    assert!(refused.ends_with("\n401"), "{refused}");
    assert_eq!((read(&counters.unauthorized), read(&counters.messages)), (1, 0));

    let taken = post(token);
    assert!(taken.ends_with("\n200"), "{taken}");
    let lines = event_lines(&file).len() as u64;
    let answer: serde_json::Value = serde_json::from_str(taken.lines().next().unwrap()).unwrap();
    assert_eq!(answer["events"], lines);
    assert_eq!(answer["activities"], expected.len());
    assert_eq!(anonymous(collect(&intake, expected.len())), expected);
    assert_eq!((read(&counters.messages), read(&counters.unreadable)), (lines, 0));
}

#[test]
fn an_https_intake_nobody_authenticates_to_is_refused_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let pki = pki(dir.path());
    let config: IntakeConfig = toml::from_str(&format!(
        "https = \"127.0.0.1:0\"\ntls_cert = \"{}\"\ntls_key = \"{}\"\n",
        pki.server_cert.display(),
        pki.server_key.display()
    ))
    .unwrap();
    let error = Intake::start(&config, 10, Duration::from_secs(1)).err().unwrap().to_string();
    assert!(error.contains("https_token_file or client_ca"), "{error}");
    let config: IntakeConfig = toml::from_str("syslog_tls = \"127.0.0.1:0\"\n").unwrap();
    let error = Intake::start(&config, 10, Duration::from_secs(1)).err().unwrap().to_string();
    assert!(error.contains("needs tls_cert and tls_key"), "{error}");
}

#[test]
fn forwarded_events_fuzz_seeds_and_their_truncations_never_panic() {
    let replayed =
        orthrus_testkit::replay_fuzz_seeds("forwarded_events", orthrus_sensor::intake::fuzz_forwarded);
    assert!(replayed >= 5, "{replayed} seeds");
}
