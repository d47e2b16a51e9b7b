//! `orthrus server` as a process: configured by a file, reached over HTTPS on loopback with
//! its self-signed certificate pinned, fed a sensor batch, asked for the alert, forwarding it
//! to a real rsyslog; stopped by its PID.

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::sync::Arc;

use rustls_pki_types::pem::PemObject as _;
use rustls_pki_types::{CertificateDer, ServerName};
use serde_json::{Value, json};

use super::orthrus;

/// One HTTPS request over a fresh connection, trusting only `cert`.
fn https(
    address: &str,
    cert: &std::path::Path,
    method: &str,
    path: &str,
    token: &str,
    body: Option<&Value>,
) -> (u16, String) {
    let mut roots = rustls::RootCertStore::empty();
    for der in CertificateDer::pem_file_iter(cert).unwrap() {
        roots.add(der.unwrap()).unwrap();
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let connection =
        rustls::ClientConnection::new(Arc::new(config), ServerName::try_from("localhost").unwrap()).unwrap();
    let socket = std::net::TcpStream::connect(address).unwrap();
    socket.set_read_timeout(Some(std::time::Duration::from_secs(30))).unwrap();
    let mut stream = rustls::StreamOwned::new(connection, socket);
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
    let cert = dir.path().join("center.crt");
    let config = dir.path().join("center.toml");
    std::fs::write(
        &config,
        format!(
            "listen = \"127.0.0.1:0\"\nstore = \"{}\"\ntls_cert = \"{}\"\ntls_key = \"{}\"\nhealth_interval_secs = 1\n\
             url_base = \"https://orthrus.example\"\n\n[[syslog]]\nurl = \"tcp://127.0.0.1:{}\"\n",
            store.display(),
            cert.display(),
            dir.path().join("center.key").display(),
            siem.tcp
        ),
    )
    .unwrap();
    let mut server = std::process::Command::new(assert_cmd::cargo::cargo_bin("orthrus"))
        .args(["server", "--config"])
        .arg(&config)
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(server.stderr.take().unwrap());
    let mut banner = String::new();
    stderr.read_line(&mut banner).unwrap();
    // Stop the server by its PID whatever happens below.
    struct Stop(std::process::Child);
    impl Drop for Stop {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let _server = Stop(server);
    let address = banner
        .split("https://")
        .nth(1)
        .and_then(|r| r.split(' ').next())
        .unwrap_or_else(|| panic!("{banner}"))
        .to_owned();
    let printed = banner.split("SHA-256 ").nth(1).unwrap().trim_end_matches([')', '\n']).to_owned();
    // The fingerprint printed is the certificate's, made on this first start.
    let der = CertificateDer::pem_file_iter(&cert).unwrap().next().unwrap().unwrap();
    let digest = ring::digest::digest(&ring::digest::SHA256, der.as_ref());
    assert_eq!(printed, digest.as_ref().iter().map(|b| format!("{b:02x}")).collect::<String>());

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
    let id = alerts["alerts"][0]["id"].as_str().unwrap().to_owned();
    // The user's token is no sensor's; no token, no answer.
    assert_eq!(https(&address, &cert, "POST", "/api/v1/sensor/batches", &user_token, Some(&batch)).0, 401);
    assert_eq!(https(&address, &cert, "GET", "/api/v1/tenants/acme/alerts", "", None).0, 401);

    // The SIEM got the alert within the second the center flushes in.
    let lines = orthrus_testkit::rsyslog::wait_for_lines(&siem.out, 1);
    assert!(
        lines.iter().any(|l| l.contains(&format!("cs1=https://orthrus.example/alerts/{id}"))),
        "{lines:#?}"
    );
}
