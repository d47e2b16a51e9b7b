//! `orthrus server` as a process: configured by a file, reached over HTTPS on loopback with
//! its self-signed certificate pinned, fed a sensor batch, asked for the alert, forwarding it
//! to a real rsyslog; stopped by its PID.

use std::io::{BufRead as _, BufReader, Read as _, Write as _};

use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject as _;
use serde_json::{Value, json};

use super::orthrus;

/// One HTTPS request over a fresh connection, trusting only `cert`.
pub(crate) fn https(
    address: &str,
    cert: &std::path::Path,
    method: &str,
    path: &str,
    token: &str,
    body: Option<&Value>,
) -> (u16, String) {
    let socket = std::net::TcpStream::connect(address).unwrap();
    socket.set_read_timeout(Some(std::time::Duration::from_secs(30))).unwrap();
    let mut stream = super::hostile::tls(socket, cert);
    let body = body.map(Value::to_string).unwrap_or_default();
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer {token}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut response = Vec::new();
    let _ = stream.read_to_end(&mut response);
    let text = String::from_utf8_lossy(&response).into_owned();
    let status = text.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    let body = text.split_once("\r\n\r\n").map(|(_, b)| b.to_owned()).unwrap_or_default();
    (status, body)
}

#[test]
fn the_center_serves_sensors_and_users_over_https_and_forwards_to_the_siem() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("center.db");
    let admin = |args: &[&str]| {
        let out = orthrus().arg("admin").arg("--store").arg(&store).args(args).output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap().trim().to_owned()
    };
    admin(&["tenant", "add", "acme"]);
    let sensor_token = admin(&["sensor", "add", "--tenant", "acme", "dc1"]);
    admin(&["user", "add", "alice"]);
    admin(&["user", "grant", "alice", "--tenant", "acme", "--role", "analyst"]);
    let user_token = admin(&["user", "token", "alice"]);

    let siem =
        orthrus_testkit::rsyslog::launch(dir.path(), "siem", None, orthrus_testkit::rsyslog::free_port());
    let (hook, documents) = webhook_receiver();
    let (quiet_hook, quiet_documents) = webhook_receiver();
    let cert = dir.path().join("center.crt");
    let config = dir.path().join("center.toml");
    std::fs::write(
        &config,
        format!(
            "listen = \"127.0.0.1:0\"\nstore = \"{}\"\ntls_cert = \"{}\"\ntls_key = \"{}\"\nhealth_interval_secs = 1\n\
             url_base = \"https://orthrus.example\"\n\n[[syslog]]\nurl = \"tcp://127.0.0.1:{}\"\n\n\
             [[webhook]]\nurl = \"http://{hook}/hooks/orthrus\"\nheaders = [\"Authorization: Bearer hook-secret\"]\n\n\
             [[webhook]]\nurl = \"http://{quiet_hook}/\"\n[webhook.filter]\ndetections = [\"ORT-KRB-001\"]\n",
            store.display(),
            cert.display(),
            dir.path().join("center.key").display(),
            siem.tcp
        ),
    )
    .unwrap();
    let (_server, address, printed) = start_center(&config);
    // The fingerprint printed is the certificate's, made on this first start.
    let der = CertificateDer::pem_file_iter(&cert).unwrap().next().unwrap().unwrap();
    assert_eq!(printed, orthrus_tls::certificate_fingerprint(der.as_ref()));

    let activities = orthrus_testkit::lab_activities("dcsync");
    let batch = json!({ "sequence": 1, "activities": activities });
    let (status, body) =
        https(&address, &cert, "POST", "/api/v1/sensor/batches", &sensor_token, Some(&batch));
    assert_eq!(status, 200, "{body}");
    let (status, body) = https(&address, &cert, "GET", "/api/v1/tenants/acme/alerts", &user_token, None);
    assert_eq!(status, 200, "{body}");
    let alerts: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(alerts["total"], 1, "{alerts}");
    assert_eq!(alerts["alerts"][0]["detection"], "ORT-DRS-001");
    // Named after the sensor that saw it, not the center's process.
    assert_eq!(alerts["alerts"][0]["sensor"], "dc1", "{alerts}");
    let id = alerts["alerts"][0]["id"].as_str().unwrap().to_owned();
    // The alert's incident, listed and served with its alerts and stages.
    let incident = alerts["alerts"][0]["incident"].as_str().expect("an incident").to_owned();
    let (status, body) = https(&address, &cert, "GET", "/api/v1/tenants/acme/incidents", &user_token, None);
    assert_eq!(status, 200, "{body}");
    let listed: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        (listed["total"].as_u64(), listed["incidents"][0]["id"].as_str()),
        (Some(1), Some(&*incident))
    );
    assert_eq!(
        (listed["incidents"][0]["status"].as_str(), listed["incidents"][0]["alerts"].as_u64()),
        (Some("open"), Some(1))
    );
    let path = format!("/api/v1/tenants/acme/incidents/{incident}");
    let (status, body) = https(&address, &cert, "GET", &path, &user_token, None);
    assert_eq!(status, 200, "{body}");
    let one: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(one["alerts"][0]["id"], *id, "{one}");
    assert_eq!(one["stages"][0]["name"], "Credential Access", "{one}");
    // The attacker's address first, then the account it used.
    let entity = |n: usize| (one["entities"][n]["role"].as_str(), one["entities"][n]["name"].as_str());
    assert_eq!(
        (entity(0), entity(1)),
        ((Some("source"), Some("10.99.0.21")), (Some("source"), Some("lab.test\\da_admin")))
    );
    let missing = https(&address, &cert, "GET", "/api/v1/tenants/acme/incidents/inc-0", &user_token, None);
    assert_eq!(missing.0, 404);
    // The user's token is no sensor's; no token, no answer.
    assert_eq!(https(&address, &cert, "POST", "/api/v1/sensor/batches", &user_token, Some(&batch)).0, 401);
    assert_eq!(https(&address, &cert, "GET", "/api/v1/tenants/acme/alerts", "", None).0, 401);

    // The SIEM got the alert within the second the center flushes in.
    let lines = orthrus_testkit::rsyslog::wait_for_lines(&siem.out, 1);
    assert!(
        lines.iter().any(|l| l.contains(&format!("cs1=https://orthrus.example/ui/t/acme/alerts/{id}"))),
        "{lines:#?}"
    );

    // The webhook got the alert as a JSON document with the receiver's header; the webhook
    // whose filter takes only Kerberoasting got nothing.
    let (head, document) = documents.recv_timeout(std::time::Duration::from_secs(15)).unwrap();
    assert!(head.starts_with("POST /hooks/orthrus HTTP/1.1"), "{head}");
    assert!(head.contains("Authorization: Bearer hook-secret"), "{head}");
    let document: Value = serde_json::from_str(&document).unwrap();
    assert_eq!(document["kind"], "alert");
    assert_eq!(document["trigger"], "new");
    assert_eq!(document["url"], format!("https://orthrus.example/ui/t/acme/alerts/{id}"));
    assert_eq!(document["alert"]["detection"], "ORT-DRS-001");
    assert_eq!(document["alert"]["tenant"], "acme");
    assert!(quiet_documents.try_recv().is_err(), "the filtered webhook was sent something");

    // An admin uploads the directory with the CLI; the profile then shows why da_admin matters.
    admin(&["user", "add", "carol"]);
    admin(&["user", "grant", "carol", "--tenant", "acme", "--role", "admin"]);
    let carol = dir.path().join("carol.token");
    std::fs::write(&carol, admin(&["user", "token", "carol"])).unwrap();
    let out = orthrus()
        .args(["directory", "upload", "--directory"])
        .arg(orthrus_testkit::fixture("directory/lab.snapshot.json"))
        .args(["--center", &format!("https://{address}"), "--center-fingerprint", &printed, "--token-file"])
        .arg(&carol)
        .args(["--tenant", "acme"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("1 domains"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let (status, body) =
        https(&address, &cert, "GET", "/api/v1/tenants/acme/entities/account:da_admin", &user_token, None);
    assert_eq!(status, 200, "{body}");
    let profile: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(profile["sensitive"], "member of Domain Admins");
}

/// A webhook receiver on loopback: each request's head and body, answered 204; it stops after
/// 20 requests or 60 s.
fn webhook_receiver() -> (String, std::sync::mpsc::Receiver<(String, String)>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap().to_string();
    let (sender, receiver) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let started = std::time::Instant::now();
        listener.set_nonblocking(true).unwrap();
        let mut served = 0;
        while served < 20 && started.elapsed() < std::time::Duration::from_secs(60) {
            let Ok((stream, _)) = listener.accept() else {
                std::thread::sleep(std::time::Duration::from_millis(20));
                continue;
            };
            served += 1;
            stream.set_nonblocking(false).unwrap();
            stream.set_read_timeout(Some(std::time::Duration::from_secs(10))).unwrap();
            let mut reader = BufReader::new(stream);
            let mut head = String::new();
            let mut length = 0usize;
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                if let Some(value) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                    length = value.trim().parse().unwrap();
                }
                head.push_str(&line);
            }
            let mut body = vec![0u8; length];
            reader.read_exact(&mut body).unwrap();
            let _ = reader.get_mut().write_all(b"HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n");
            let _ = sender.send((head, String::from_utf8(body).unwrap()));
        }
    });
    (address, receiver)
}

/// A running process of ours, stopped by its PID when dropped.
pub(crate) struct Running(pub(crate) std::process::Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A center on loopback over a fresh SQLite store: tenant acme, its sensor dc1 (token in
/// `sensor.token`), alice a viewer of acme (`user_token`).
pub(crate) struct TestCenter {
    pub(crate) dir: tempfile::TempDir,
    pub(crate) store: std::path::PathBuf,
    pub(crate) token_file: std::path::PathBuf,
    pub(crate) user_token: String,
    pub(crate) cert: std::path::PathBuf,
    pub(crate) address: String,
    pub(crate) fingerprint: String,
    pub(crate) _process: Running,
}

/// Runs `orthrus admin --store STORE ARGS`; its standard output, trimmed.
pub(crate) fn admin(store: &str, args: &[&str]) -> String {
    let out = orthrus().args(["admin", "--store", store]).args(args).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

/// Tenant acme with sensor dc1 and viewer alice in `store`: (sensor token, alice's token).
pub(crate) fn acme(store: &str) -> (String, String) {
    admin(store, &["tenant", "add", "acme"]);
    let sensor = admin(store, &["sensor", "add", "--tenant", "acme", "dc1"]);
    admin(store, &["user", "add", "alice"]);
    admin(store, &["user", "grant", "alice", "--tenant", "acme", "--role", "viewer"]);
    (sensor, admin(store, &["user", "token", "alice"]))
}

impl TestCenter {
    pub(crate) fn start() -> Self {
        Self::start_with("")
    }

    /// A center whose configuration has `extra` (TOML keys) after its own.
    pub(crate) fn start_with(extra: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let store = dir.path().join("center.db");
        let (sensor_token, user_token) = acme(&store.display().to_string());
        let token_file = dir.path().join("sensor.token");
        std::fs::write(&token_file, sensor_token).unwrap();
        let cert = dir.path().join("center.crt");
        let config = dir.path().join("center.toml");
        std::fs::write(
            &config,
            format!(
                "listen = \"127.0.0.1:0\"\nstore = \"{}\"\ntls_cert = \"{}\"\ntls_key = \"{}\"\n{extra}",
                store.display(),
                cert.display(),
                dir.path().join("center.key").display()
            ),
        )
        .unwrap();
        let (process, address, fingerprint) = start_center(&config);
        TestCenter { dir, store, token_file, user_token, cert, address, fingerprint, _process: process }
    }

    /// A sensor configuration for this center: its connection, token and spool, then `rest`.
    pub(crate) fn sensor_config(&self, rest: &str) -> std::path::PathBuf {
        let path = self.dir.path().join("sensor.toml");
        std::fs::write(
            &path,
            format!(
                "center = \"https://{}\"\ncenter_fingerprint = \"{}\"\ntoken_file = \"{}\"\nspool = \"{}\"\n{rest}",
                self.address,
                self.fingerprint,
                self.token_file.display(),
                self.dir.path().join("sensor.spool").display()
            ),
        )
        .unwrap();
        path
    }

    /// GET on the API with alice's token: the JSON answer.
    pub(crate) fn get(&self, path: &str) -> Value {
        let (status, body) = https(&self.address, &self.cert, "GET", path, &self.user_token, None);
        assert_eq!(status, 200, "{body}");
        serde_json::from_str(&body).unwrap()
    }
}

/// Starts the center on `config`; its address and certificate fingerprint.
pub(crate) fn start_center(config: &std::path::Path) -> (Running, String, String) {
    let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("orthrus"))
        .args(["server", "--config"])
        .arg(config)
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut banner = String::new();
    BufReader::new(child.stderr.take().unwrap()).read_line(&mut banner).unwrap();
    let address = banner
        .split("https://")
        .nth(1)
        .and_then(|r| r.split(' ').next())
        .unwrap_or_else(|| panic!("{banner}"));
    let fingerprint = banner.split("SHA-256 ").nth(1).unwrap().trim_end_matches([')', '\n']);
    (Running(child), address.to_owned(), fingerprint.to_owned())
}

pub(crate) fn start_sensor(config: &std::path::Path) -> Running {
    Running(
        std::process::Command::new(assert_cmd::cargo::cargo_bin("orthrus"))
            .args(["sensor", "--config"])
            .arg(config)
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap(),
    )
}

/// Waits (at most 60 s) until the store holds `n` activities of acme; returns what it holds.
pub(crate) fn wait_for_activities(store: &std::path::Path, n: u64) -> u64 {
    use orthrus_store::Store as _;
    let started = std::time::Instant::now();
    loop {
        let count = orthrus_store::SqliteStore::open(store)
            .and_then(|s| s.activity_count(&orthrus_model::TenantId("acme".into())))
            .unwrap_or(0);
        if count >= n || started.elapsed() > std::time::Duration::from_secs(60) {
            return count;
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
}

/// The loss test: a sensor watching a folder ships lab captures; the center is killed in the
/// middle and restarted, then the sensor is; every activity arrives exactly once, and the
/// alerts are an uninterrupted run's.
#[test]
fn killing_the_center_and_the_sensor_loses_and_repeats_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("center.db");
    let admin = |args: &[&str]| {
        let out = orthrus().arg("admin").arg("--store").arg(&store).args(args).output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap().trim().to_owned()
    };
    admin(&["tenant", "add", "acme"]);
    let token_file = dir.path().join("sensor.token");
    std::fs::write(&token_file, admin(&["sensor", "add", "--tenant", "acme", "dc1"])).unwrap();
    let port = orthrus_testkit::rsyslog::free_port();
    let center_config = dir.path().join("center.toml");
    std::fs::write(
        &center_config,
        format!(
            "listen = \"127.0.0.1:{port}\"\nstore = \"{}\"\ntls_cert = \"{}\"\ntls_key = \"{}\"\n",
            store.display(),
            dir.path().join("center.crt").display(),
            dir.path().join("center.key").display()
        ),
    )
    .unwrap();
    let (center, address, fingerprint) = start_center(&center_config);
    let watch = dir.path().join("incoming");
    std::fs::create_dir_all(&watch).unwrap();
    let sensor_config = dir.path().join("sensor.toml");
    std::fs::write(
        &sensor_config,
        format!(
            "center = \"https://{address}\"\ncenter_fingerprint = \"{fingerprint}\"\ntoken_file = \"{}\"\nwatch = \"{}\"\n\
             spool = \"{}\"\nbatch_activities = 25\nheartbeat_secs = 1\npoll_millis = 200\n",
            token_file.display(),
            watch.display(),
            dir.path().join("sensor.spool").display()
        ),
    )
    .unwrap();
    let sensor = start_sensor(&sensor_config);

    let captures =
        ["kerberoast", "benign_logon", "dcsync", "krb_password_spray", "samr_recon", "asrep_roast"];
    let count = |names: &[&str]| -> u64 {
        names.iter().map(|n| orthrus_testkit::lab_activities(n).len() as u64).sum()
    };
    let drop_in = |name: &str, n: usize| {
        // Written beside, then renamed in: the sensor never sees half a file.
        let staged = dir.path().join(format!("{n:02}-{name}.pcap"));
        std::fs::copy(orthrus_testkit::fixture(&format!("pcap/{name}.pcap")), &staged).unwrap();
        std::fs::rename(&staged, watch.join(format!("{n:02}-{name}.pcap"))).unwrap();
    };
    drop_in(captures[0], 0);
    drop_in(captures[1], 1);
    assert_eq!(wait_for_activities(&store, count(&captures[..2])), count(&captures[..2]));

    // The center goes down; the sensor keeps reading into its disk buffer.
    drop(center);
    drop_in(captures[2], 2);
    drop_in(captures[3], 3);
    let started = std::time::Instant::now();
    while std::fs::read_dir(watch.join("done")).unwrap().count() < 4 && started.elapsed().as_secs() < 60 {
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    // Back up (same store, same certificate): the buffer drains.
    let (_center, _, again) = start_center(&center_config);
    assert_eq!(again, fingerprint, "the certificate made on first start is kept");
    assert_eq!(wait_for_activities(&store, count(&captures[..4])), count(&captures[..4]));

    // Now the sensor is killed with files waiting, and started again.
    drop_in(captures[4], 4);
    drop_in(captures[5], 5);
    drop(sensor);
    let _sensor = start_sensor(&sensor_config);
    let total = count(&captures);
    assert_eq!(wait_for_activities(&store, total), total);
    // A few more rounds of the sensor (it polls every 200 ms): nothing more arrives.
    std::thread::sleep(std::time::Duration::from_secs(2));
    assert_eq!(wait_for_activities(&store, 0), total, "nothing arrived twice");

    // The alerts are those of one uninterrupted run over the same files.
    use orthrus_store::Store as _;
    let db = orthrus_store::SqliteStore::open(&store).unwrap();
    let stored = db
        .alerts(
            &orthrus_model::TenantId("acme".into()),
            &orthrus_store::AlertFilter::default(),
            orthrus_store::Page { offset: 0, limit: 100 },
        )
        .unwrap();
    let mut detections: Vec<String> = stored.alerts.iter().map(|a| a.detection.clone()).collect();
    detections.sort();
    let mut engine = orthrus_detect::Engine::new(&orthrus_detect::DetectionConfig::default(), "x");
    for name in captures {
        for activity in orthrus_testkit::lab_activities(name) {
            engine.observe(&activity);
        }
    }
    let mut expected: Vec<String> = engine.finish().into_iter().map(|a| a.detection.into_owned()).collect();
    expected.sort();
    assert_eq!(detections, expected);
}

/// The intake benchmark runs its bounded load both ways and stores all of it (its figures
/// are for docs/BENCHMARKS.md, not for assertions).
#[test]
fn bench_center_stores_its_whole_load() {
    let capture = orthrus_testkit::fixture("pcap/kerberoast.pcap");
    for https in [false, true] {
        let mut command = orthrus();
        command.args(["bench-center", "--batches", "4", "--batch-size", "10"]).arg(&capture);
        if https {
            command.arg("--https");
        }
        let out = command.output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let said = String::from_utf8(out.stdout).unwrap();
        assert!(said.contains("activities/s (40 stored in"), "{said}");
    }
}

/// `orthrus cef-test`: one test message per endpoint of a center configuration; the endpoint
/// that is down is named as failed and the exit code says so.
#[test]
fn cef_test_reaches_each_endpoint_and_names_the_one_that_is_down() {
    let dir = tempfile::tempdir().unwrap();
    let siem = orthrus_testkit::rsyslog::launch(
        dir.path(),
        "siem",
        Some(orthrus_testkit::rsyslog::free_port()),
        orthrus_testkit::rsyslog::free_port(),
    );
    let (hook, documents) = webhook_receiver();
    let down = orthrus_testkit::rsyslog::free_port();
    let config = dir.path().join("center.toml");
    std::fs::write(
        &config,
        format!(
            "[[syslog]]\nurl = \"tcp://127.0.0.1:{}\"\n[syslog.filter]\nmin_severity = \"high\"\nhealth = false\n\n\
             [[syslog]]\nurl = \"udp://127.0.0.1:{}\"\nrfc3164 = true\n\n[[syslog]]\nurl = \"tcp://127.0.0.1:{down}\"\n\n\
             [[webhook]]\nurl = \"http://{hook}/\"\n",
            siem.tcp, siem.udp
        ),
    )
    .unwrap();
    let out = orthrus().arg("cef-test").arg("--config").arg(&config).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains(&format!("ok      tcp://127.0.0.1:{}", siem.tcp)), "{stdout}");
    assert!(stdout.contains(&format!("ok      udp://127.0.0.1:{}", siem.udp)), "{stdout}");
    assert!(stdout.contains(&format!("FAILED  tcp://127.0.0.1:{down}")), "{stdout}");
    // Webhooks are named by their origin (a path or query may hold a key).
    assert!(stdout.contains(&format!("ok      http://{hook}")), "{stdout}");
    // Both syslog messages arrived (filters do not apply to the test), each a CEF health line.
    let lines = orthrus_testkit::rsyslog::wait_for_lines(&siem.out, 2);
    assert_eq!(lines.len(), 2, "{lines:#?}");
    for line in &lines {
        assert!(
            line.contains("CEF:0|Orthrus|") && line.contains("|ORT-H-TEST|Orthrus test message|"),
            "{line}"
        );
    }
    let (_, document) = documents.recv_timeout(std::time::Duration::from_secs(5)).unwrap();
    let document: Value = serde_json::from_str(&document).unwrap();
    assert_eq!((&document["kind"], &document["issue"]["id"]), (&json!("health"), &json!("ORT-H-TEST")));

    // A configuration with a filter naming no detection is refused before anything is sent.
    std::fs::write(
        &config,
        "[[syslog]]\nurl = \"udp://127.0.0.1:9\"\n[syslog.filter]\ndetections = [\"ORT-NOPE-1\"]\n",
    )
    .unwrap();
    let out = orthrus().arg("cef-test").arg("--config").arg(&config).output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("ORT-NOPE-1"));
}

/// The sensor asks reverse DNS (a server on loopback answering like a DC's DNS) for the source
/// addresses it reads; the center's alert then names the attacker's computer.
#[test]
fn the_sensors_reverse_dns_names_the_attackers_computer_at_the_center() {
    let center = TestCenter::start();
    let (dns, asked) = super::reverse_dns::dns_server(1);
    let watch = center.dir.path().join("incoming");
    std::fs::create_dir_all(&watch).unwrap();
    let sensor_config = center.sensor_config(&format!(
        "watch = \"{}\"\nreverse_dns = \"{dns}\"\nheartbeat_secs = 1\npoll_millis = 200\n",
        watch.display()
    ));
    let _sensor = start_sensor(&sensor_config);
    let staged = center.dir.path().join("zone.pcap");
    std::fs::copy(orthrus_testkit::fixture("pcap/dns_zone_transfer.pcap"), &staged).unwrap();
    std::fs::rename(&staged, watch.join("zone.pcap")).unwrap();

    // The capture's one client is asked about once, before its activities are kept; the
    // lookup is kept beside them.
    assert_eq!(asked.join().unwrap(), ["21.0.99.10.in-addr.arpa"]);
    let read = orthrus_testkit::lab_activities("dns_zone_transfer").len() as u64;
    assert_eq!(wait_for_activities(&center.store, read + 1), read + 1);
    let started = std::time::Instant::now();
    let alert = loop {
        let listed = center.get("/api/v1/tenants/acme/alerts");
        if let Some(alert) =
            listed["alerts"].as_array().and_then(|a| a.iter().find(|a| a["detection"] == "ORT-DNS-001"))
        {
            break alert.clone();
        }
        assert!(started.elapsed() < std::time::Duration::from_secs(30), "{listed}");
        std::thread::sleep(std::time::Duration::from_millis(200));
    };
    assert_eq!(alert["source"]["computer"], "ATK-BOX", "{alert:#}");
    assert_eq!(alert["source"]["resolution"]["methods"][0], "reverse_dns");
    assert!(alert["description"].as_str().unwrap().starts_with("ATK-BOX (10.99.0.21)"), "{alert:#}");
}
