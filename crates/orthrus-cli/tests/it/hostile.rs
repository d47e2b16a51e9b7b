//! `orthrus server` against hostile clients, as a process on loopback: clients that connect
//! and say nothing, send half a request, hold many connections from one address, post bombs
//! and oversized bodies, or run the center out of file descriptors. Clients bind loopback
//! addresses of their own (127.0.0.2, …) so the test tells the attacker from the real user.
//! Every wait is bounded; the center is stopped by its PID.

use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rustls_pki_types::pem::PemObject as _;
use rustls_pki_types::{CertificateDer, ServerName};

use super::server::{Running, acme};

/// A center on loopback whose log goes to a file, optionally under a lowered open-file limit.
pub(crate) struct Center {
    _dir: tempfile::TempDir,
    pub(crate) store: PathBuf,
    pub(crate) cert: PathBuf,
    pub(crate) address: SocketAddr,
    pub(crate) log: PathBuf,
    pub(crate) sensor_token: String,
    pub(crate) user_token: String,
    pub(crate) pid: u32,
    _process: Running,
}

impl Center {
    pub(crate) fn start(extra_config: &str, open_files: Option<u64>) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let store = dir.path().join("center.db");
        let (sensor_token, user_token) = acme(&store.display().to_string());
        let cert = dir.path().join("center.crt");
        let config = dir.path().join("center.toml");
        std::fs::write(
            &config,
            format!(
                "listen = \"127.0.0.1:0\"\nstore = \"{}\"\ntls_cert = \"{}\"\ntls_key = \"{}\"\n{extra_config}",
                store.display(),
                cert.display(),
                dir.path().join("center.key").display()
            ),
        )
        .unwrap();
        let log = dir.path().join("center.log");
        let binary = assert_cmd::cargo::cargo_bin("orthrus");
        // `ulimit -n` sets both limits; `exec` keeps the PID the center's.
        let limit = open_files.map_or_else(String::new, |n| format!("ulimit -n {n} && "));
        let child = std::process::Command::new("bash")
            .arg("-c")
            .arg(format!("{limit}exec \"$0\" server --config \"$1\""))
            .arg(&binary)
            .arg(&config)
            .env("ORTHRUS_LOG", "info")
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        let pid = child.id();
        let process = Running(child);
        let started = Instant::now();
        let address = loop {
            let text = std::fs::read_to_string(&log).unwrap_or_default();
            if let Some(address) = text.split("https://").nth(1).and_then(|r| r.split(' ').next()) {
                break address.parse().unwrap();
            }
            assert!(started.elapsed() < Duration::from_secs(30), "the center did not start: {text}");
            std::thread::sleep(Duration::from_millis(50));
        };
        Center { _dir: dir, store, cert, address, log, sensor_token, user_token, pid, _process: process }
    }

    pub(crate) fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// A field of /proc/PID/status in KiB (VmRSS, VmHWM).
    pub(crate) fn memory_kib(&self, field: &str) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid)).unwrap();
        let line = status.lines().find(|l| l.starts_with(field)).unwrap();
        line.split_whitespace().nth(1).unwrap().parse().unwrap()
    }

    /// CPU time the center has used, user and system, in clock ticks.
    fn cpu_ticks(&self) -> u64 {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.pid)).unwrap();
        let after_name = stat.rsplit_once(')').unwrap().1;
        let fields: Vec<&str> = after_name.split_whitespace().collect();
        fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap()
    }

    fn open_descriptors(&self) -> usize {
        std::fs::read_dir(format!("/proc/{}/fd", self.pid)).map_or(0, Iterator::count)
    }

    /// One request over a fresh TLS connection from `source`: status, head, body.
    pub(crate) fn request(&self, source: &str, raw: &[u8]) -> (u16, String, String) {
        let mut stream = tls(connect_from(source, self.address), &self.cert);
        // The center may answer and close before a refused body is all written (that is the
        // point of refusing it unread): a broken pipe here is its answer on the way, not an
        // error of the test.
        if let Err(error) = stream.write_all(raw) {
            assert!(
                matches!(error.kind(), std::io::ErrorKind::BrokenPipe | std::io::ErrorKind::ConnectionReset),
                "{error}"
            );
        }
        let mut response = Vec::new();
        let _ = stream.read_to_end(&mut response);
        let text = String::from_utf8_lossy(&response).into_owned();
        let status = text.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
        let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
        (status, head.to_owned(), body.to_owned())
    }

    /// A GET with a bearer token.
    pub(crate) fn get(&self, source: &str, path: &str, token: &str) -> (u16, String, String) {
        self.request(
            source,
            format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer {token}\r\nConnection: close\r\n\r\n")
                .as_bytes(),
        )
    }

    /// A POST of `body` with its headers (each `Name: value\r\n`).
    pub(crate) fn post(&self, source: &str, path: &str, headers: &str, body: &[u8]) -> (u16, String, String) {
        let mut raw = format!(
            "POST {path} HTTP/1.1\r\nHost: localhost\r\n{headers}Content-Length: {}\r\nConnection: close\r\n\r\n",
            body.len()
        )
        .into_bytes();
        raw.extend_from_slice(body);
        self.request(source, &raw)
    }
}

/// A TCP connection to `address` from the loopback address `source`.
pub(crate) fn connect_from(source: &str, address: SocketAddr) -> TcpStream {
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    let local: SocketAddr = format!("{source}:0").parse().unwrap();
    socket.bind(&local.into()).unwrap();
    socket.connect_timeout(&address.into(), Duration::from_secs(10)).unwrap();
    let stream: TcpStream = socket.into();
    stream.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    stream
}

/// The TLS client side over `stream`, trusting only the center's certificate.
pub(crate) fn tls(
    stream: TcpStream,
    cert: &Path,
) -> rustls::StreamOwned<rustls::ClientConnection, TcpStream> {
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
    let mut stream = rustls::StreamOwned::new(connection, stream);
    while stream.conn.is_handshaking() {
        stream.conn.complete_io(&mut stream.sock).unwrap();
    }
    stream
}

/// Whether the peer closed `stream` (or reset it) within `limit`.
fn closed_within(stream: &mut TcpStream, limit: Duration) -> bool {
    stream.set_read_timeout(Some(limit)).unwrap();
    let mut buffer = [0u8; 4096];
    let started = Instant::now();
    while started.elapsed() < limit {
        match stream.read(&mut buffer) {
            Ok(0) => return true,
            Ok(_) => {}
            Err(error)
                if matches!(error.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) =>
            {
                return false;
            }
            Err(_) => return true,
        }
    }
    false
}

const OPENAPI: &[u8] = b"GET /api/v1/openapi.json HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n";

/// A metric's value in /metrics.
fn metric(center: &Center, name: &str) -> u64 {
    let (status, _, text) = center.get("127.0.0.1", "/metrics", &center.user_token);
    assert_eq!(status, 200, "{text}");
    let line = text.lines().find(|l| l.starts_with(&format!("{name} "))).unwrap_or_else(|| panic!("{text}"));
    line.rsplit(' ').next().unwrap().parse().unwrap()
}

#[test]
fn silent_and_half_open_clients_neither_stall_the_center_nor_stay() {
    let center = Center::start("max_connections_per_address = 40\n", None);
    // 30 connections that never start TLS, 30 that send half a request's headers.
    let mut silent: Vec<TcpStream> = (0..30).map(|_| connect_from("127.0.0.2", center.address)).collect();
    let mut half: Vec<_> = (0..30)
        .map(|_| {
            let mut stream = tls(connect_from("127.0.0.3", center.address), &center.cert);
            stream.write_all(b"GET /api/v1/openapi.json HTTP/1.1\r\nHost: loc").unwrap();
            stream.flush().unwrap();
            stream
        })
        .collect();
    // One address holding more than its share: the rest are closed at once.
    let mut greedy: Vec<TcpStream> = (0..50).map(|_| connect_from("127.0.0.4", center.address)).collect();

    // A real client is answered at once meanwhile.
    let started = Instant::now();
    let (status, head, _) = center.request("127.0.0.1", OPENAPI);
    assert_eq!(status, 200);
    assert!(started.elapsed() < Duration::from_secs(1), "{:?}", started.elapsed());
    assert!(head.to_ascii_lowercase().contains("strict-transport-security: max-age=31536000"), "{head}");

    // Looked at together after half a second: the kept ones stay open for the 10 s handshake
    // timeout, the refused were closed at once.
    std::thread::sleep(Duration::from_millis(500));
    let refused_at_once =
        greedy.iter_mut().map(|s| closed_within(s, Duration::from_millis(20))).filter(|c| *c).count();
    assert_eq!(refused_at_once, 10, "40 of 50 kept");
    assert!(metric(&center, "orthrus_connections_refused_total") >= 10);

    // The handshake and header timeouts (10 s each) end the others; the log says so once.
    let deadline = Duration::from_secs(20);
    assert!(silent.iter_mut().all(|s| closed_within(s, deadline)), "a silent client stayed");
    assert!(half.iter_mut().all(|s| closed_within(&mut s.sock, deadline)), "a half request stayed");
    let refusals = center.log_text().lines().filter(|l| l.contains("refused: it holds")).count();
    assert_eq!(refusals, 1, "{}", center.log_text());
}

#[test]
fn a_center_short_of_descriptors_stays_responsive_and_quiet() {
    // 256 descriptors: the cap leaves room for the store and the log, and two greedy
    // addresses holding their shares cannot take it all.
    let center = Center::start("", Some(256));
    let limit_line = center.log_text();
    assert!(limit_line.contains("holding at most 192 connections, 24 per client address"), "{limit_line}");
    let cpu_before = center.cpu_ticks();
    let mut held = Vec::new();
    for source in ["127.0.0.2", "127.0.0.3"] {
        for _ in 0..200 {
            // Past the cap, connects wait in the kernel's backlog or are closed: both fine.
            let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
            let local: SocketAddr = format!("{source}:0").parse().unwrap();
            socket.bind(&local.into()).unwrap();
            if socket.connect_timeout(&center.address.into(), Duration::from_secs(2)).is_ok() {
                held.push(socket);
            }
        }
    }
    let started = Instant::now();
    let (status, _, _) = center.request("127.0.0.1", OPENAPI);
    assert_eq!(status, 200);
    assert!(started.elapsed() < Duration::from_secs(1), "{:?}", started.elapsed());
    assert!(center.open_descriptors() < 256, "{} descriptors open", center.open_descriptors());
    std::thread::sleep(Duration::from_secs(2));
    // Not spinning: well under a core over these seconds (ticks are 1/100 s).
    let used = center.cpu_ticks() - cpu_before;
    assert!(used < 150, "{used} ticks of CPU");
    let warnings = center.log_text().lines().filter(|l| l.contains("WARN") || l.contains("ERROR")).count();
    assert!(warnings < 5, "{}", center.log_text());
    drop(held);
}

#[test]
fn bombs_and_oversized_bodies_are_refused_before_they_are_read() {
    let center = Center::start("", None);
    let sensor =
        format!("Authorization: Bearer {}\r\nContent-Type: application/json\r\n", center.sensor_token);
    let zstd = format!("{sensor}Content-Encoding: zstd\r\n");
    // 500 MiB of whitespace, compressed as a stream (no size declared up front) and whole
    // (size declared): both stop at the limit.
    let mut streamed = Vec::new();
    {
        let mut encoder = zstd::stream::write::Encoder::new(&mut streamed, 19).unwrap();
        let block = vec![b' '; 1 << 20];
        for _ in 0..500 {
            encoder.write_all(&block).unwrap();
        }
        encoder.finish().unwrap();
    }
    let declared = zstd::bulk::compress(&vec![b' '; 100 << 20], 19).unwrap();
    for bomb in [&streamed, &declared] {
        assert!(bomb.len() < 1 << 20);
        let (status, _, body) = center.post("127.0.0.1", "/api/v1/sensor/batches", &zstd, bomb);
        assert_eq!(status, 413, "{body}");
    }
    // What the decoder held stayed small: far from the 604 MiB a 33 KB bomb once cost.
    assert!(center.memory_kib("VmHWM:") < 300 * 1024, "{} KiB", center.memory_kib("VmHWM:"));
    // A plain body larger than any batch, and a login form larger than any login.
    let (status, _, _) = center.post("127.0.0.1", "/api/v1/sensor/batches", &sensor, &vec![b' '; 17 << 20]);
    assert_eq!(status, 413);
    let form = format!("user=alice&password={}", "x".repeat(8192));
    let (status, _, _) = center.post(
        "127.0.0.1",
        "/ui/login",
        "Content-Type: application/x-www-form-urlencoded\r\n",
        form.as_bytes(),
    );
    assert_eq!(status, 413);
    // Nothing was stored, and the center still takes a real batch.
    let batch = serde_json::json!({ "sequence": 1, "activities": orthrus_testkit::lab_activities("dcsync") });
    let (status, _, body) =
        center.post("127.0.0.1", "/api/v1/sensor/batches", &sensor, batch.to_string().as_bytes());
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("\"stored\""), "{body}");
}

#[test]
fn endpoint_secrets_stay_out_of_metrics_and_the_log() {
    // A webhook whose URL carries its key; nothing listens on port 9, so delivery fails and
    // the failure is logged and counted.
    let center = Center::start("[[webhook]]\nurl = \"http://127.0.0.1:9/hook?apikey=s3cret-key\"\n", None);
    let batch = serde_json::json!({ "sequence": 1, "activities": orthrus_testkit::lab_activities("dcsync") });
    let sensor =
        format!("Authorization: Bearer {}\r\nContent-Type: application/json\r\n", center.sensor_token);
    assert_eq!(
        center.post("127.0.0.1", "/api/v1/sensor/batches", &sensor, batch.to_string().as_bytes()).0,
        200
    );
    let started = Instant::now();
    while !center.log_text().contains("webhook http://127.0.0.1:9")
        && started.elapsed() < Duration::from_secs(15)
    {
        std::thread::sleep(Duration::from_millis(100));
    }
    let log = center.log_text();
    assert!(log.contains("webhook http://127.0.0.1:9"), "{log}");
    let (_, _, metrics) = center.get("127.0.0.1", "/metrics", &center.user_token);
    assert!(metrics.contains("orthrus_sink_failures_total{endpoint=\"http://127.0.0.1:9\"}"), "{metrics}");
    for text in [&log, &metrics] {
        assert!(!text.contains("s3cret") && !text.contains("/hook"), "{text}");
    }
}
