//! Syslog framing and sending for CEF lines (`design/cef.md` §3): RFC 5424
//! (`<PRI>1 TIMESTAMP HOSTNAME orthrus PROCID MSGID - MSG`, STRUCTURED-DATA `-`) or RFC 3164
//! (`<PRI>Mmm dd hh:mm:ss HOSTNAME orthrus: MSG`); over UDP (one message per datagram, cut
//! to fit), TCP (RFC 6587 octet counting, or LF-terminated) or TLS (RFC 5425: octet counting
//! over TLS, rustls). Each endpoint has its own bounded queue ([`Outbox`]): what cannot be sent
//! waits, the oldest dropped first when the queue is full, and drops are counted. The queue is
//! shared: the center fills it under its own lock, a sender drains it without that lock, so a
//! slow or dead SIEM never holds up intake. Hand-written: the framing is exact and small, and the syslog crates
//! fix their own (no 3164 space-padded day, no octet counting).

use std::io::Write as _;
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::sync::Arc;
use std::time::Duration;

use orthrus_model::{Alert, Severity, Timestamp};

use crate::cef::{CefOptions, Trigger, alert_line_within};
use crate::outbox::Outbox;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    Rfc5424,
    Rfc3164,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    Udp,
    /// RFC 6587: `LEN SP MSG` when `octet_counting`, else `MSG LF`.
    Tcp {
        octet_counting: bool,
    },
    /// RFC 5425: octet counting over TLS.
    Tls,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyslogOptions {
    pub framing: Framing,
    /// The sending host's name (the center's, or the forwarding sensor's).
    pub hostname: String,
    /// Syslog facility; `auth` (4) by default.
    pub facility: u8,
    /// Largest UDP datagram sent; a longer message gives up its evidence, then its sentence.
    pub udp_max_bytes: usize,
    /// A UTF-8 BOM before `CEF:0` (RFC 5424's MSG-UTF8 form, as older MDI samples have).
    pub bom: bool,
}

impl Default for SyslogOptions {
    fn default() -> Self {
        Self {
            framing: Framing::Rfc5424,
            hostname: "orthrus".into(),
            facility: 4,
            udp_max_bytes: 2048,
            bom: false,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SyslogError {
    #[error("syslog endpoint {endpoint}: {error}")]
    Io { endpoint: SocketAddr, error: std::io::Error },
}

/// PRI: facility × 8 + severity (High → err 3, Medium → warning 4, Low → notice 5; a message
/// that closes something → notice).
pub fn priority(facility: u8, severity: Severity, trigger: Trigger) -> u8 {
    let level = match (trigger, severity) {
        (Trigger::Closed, _) | (_, Severity::Low) => 5,
        (_, Severity::Medium) => 4,
        (_, Severity::High) => 3,
    };
    facility.saturating_mul(8).saturating_add(level)
}

/// One syslog message around `message` (a CEF line), sent at `now`.
pub fn frame(options: &SyslogOptions, pri: u8, msgid: &str, message: &str, now: Timestamp) -> String {
    let bom = if options.bom { "\u{feff}" } else { "" };
    let host = header_token(&options.hostname);
    let time = jiff::Timestamp::from_microsecond(now.as_micros()).unwrap_or(jiff::Timestamp::UNIX_EPOCH);
    match options.framing {
        Framing::Rfc5424 => {
            let msgid: String = header_token(msgid).chars().take(32).collect();
            format!(
                "<{pri}>1 {} {host} orthrus {} {msgid} - {bom}{message}",
                time.strftime("%Y-%m-%dT%H:%M:%S%.6fZ"),
                std::process::id()
            )
        }
        Framing::Rfc3164 => format!("<{pri}>{} {host} orthrus: {message}", time.strftime("%b %e %H:%M:%S")),
    }
}

/// RFC 5424 header fields are printable ASCII without spaces; `-` when empty.
fn header_token(text: &str) -> String {
    let token: String = text.chars().filter(|c| c.is_ascii_graphic()).collect();
    if token.is_empty() { "-".into() } else { token }
}

/// The whole syslog message for an alert; for UDP, cut to `udp_max_bytes` by trimming the
/// evidence list, then the sentence (never inside an escape: the CEF line is rebuilt).
pub fn alert_message(
    alert: &Alert,
    trigger: Trigger,
    cef: &CefOptions,
    options: &SyslogOptions,
    transport: Transport,
    now: Timestamp,
) -> String {
    let pri = priority(options.facility, alert.severity, trigger);
    let (mut evidence, mut msg) = (4000usize, 1023usize);
    loop {
        let line = alert_line_within(alert, trigger, cef, evidence, msg);
        let message = frame(options, pri, &alert.detection, &line, now);
        if transport != Transport::Udp || message.len() <= options.udp_max_bytes || msg <= 40 {
            return message;
        }
        if evidence > 0 {
            evidence /= 2;
            if evidence < 64 {
                evidence = 0;
            }
        } else {
            msg = msg * 3 / 4;
        }
    }
}

/// The whole syslog message for a health issue.
pub fn health_message(
    issue: &crate::cef::HealthRecord<'_>,
    trigger: Trigger,
    cef: &CefOptions,
    options: &SyslogOptions,
    now: Timestamp,
) -> String {
    let pri = priority(options.facility, issue.severity, trigger);
    frame(options, pri, issue.id, &crate::cef::health_line(issue, trigger, cef), now)
}

/// The TLS side of a `Transport::Tls` endpoint: the name its certificate must carry and how it
/// is checked (a CA file, a pinned fingerprint or the system's roots: see `orthrus_tls`).
#[derive(Clone)]
pub struct TlsTarget {
    pub server_name: rustls::pki_types::ServerName<'static>,
    pub config: Arc<rustls::ClientConfig>,
}

type TlsStream = rustls::StreamOwned<rustls::ClientConnection, TcpStream>;

/// One endpoint's sender: its transport, its connection, the queue it drains, its counters.
pub struct SyslogSink {
    endpoint: SocketAddr,
    transport: Transport,
    tls: Option<TlsTarget>,
    outbox: Arc<Outbox>,
    udp: Option<UdpSocket>,
    tcp: Option<TcpStream>,
    tls_stream: Option<Box<TlsStream>>,
    pub sent: u64,
    pub failures: u64,
}

impl SyslogSink {
    pub fn new(endpoint: SocketAddr, transport: Transport, capacity: usize) -> Self {
        Self::with_outbox(endpoint, transport, None, Arc::new(Outbox::new(capacity)))
    }

    /// A sender draining `outbox`; `tls` is required for `Transport::Tls`.
    pub fn with_outbox(
        endpoint: SocketAddr,
        transport: Transport,
        tls: Option<TlsTarget>,
        outbox: Arc<Outbox>,
    ) -> Self {
        Self {
            endpoint,
            transport,
            tls,
            outbox,
            udp: None,
            tcp: None,
            tls_stream: None,
            sent: 0,
            failures: 0,
        }
    }

    pub fn transport(&self) -> Transport {
        self.transport
    }

    pub fn endpoint(&self) -> SocketAddr {
        self.endpoint
    }

    /// The queue this sender drains (the center pushes into it).
    pub fn outbox(&self) -> &Arc<Outbox> {
        &self.outbox
    }

    /// Messages waiting for the endpoint.
    pub fn queued(&self) -> usize {
        self.outbox.len()
    }

    /// Messages dropped because the queue was full.
    pub fn dropped(&self) -> u64 {
        self.outbox.dropped()
    }

    /// Queues a message; the oldest waiting one is dropped (and counted) when the queue is full.
    pub fn push(&mut self, message: String) {
        self.outbox.push(message);
    }

    /// Sends what is queued, in order. On a failure the message goes back to the front of the
    /// queue, the connection is dropped (the next flush reconnects) and the error is returned.
    pub fn flush(&mut self) -> Result<(), SyslogError> {
        while let Some(message) = self.outbox.pop() {
            let result = match self.transport {
                Transport::Udp => self.send_udp(message.as_bytes()),
                Transport::Tcp { octet_counting } => {
                    let framed = if octet_counting {
                        format!("{} {message}", message.len())
                    } else {
                        format!("{}\n", message.replace('\n', " "))
                    };
                    self.send_tcp(framed.as_bytes())
                }
                Transport::Tls => self.send_tls(format!("{} {message}", message.len()).as_bytes()),
            };
            if let Err(error) = result {
                self.failures += 1;
                self.tcp = None;
                self.tls_stream = None;
                self.outbox.put_back(message);
                return Err(SyslogError::Io { endpoint: self.endpoint, error });
            }
            self.sent += 1;
        }
        Ok(())
    }

    fn send_udp(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        if self.udp.is_none() {
            let bind: SocketAddr = if self.endpoint.is_ipv4() {
                SocketAddr::from(([0, 0, 0, 0], 0))
            } else {
                SocketAddr::from(([0u16; 8], 0))
            };
            self.udp = Some(UdpSocket::bind(bind)?);
        }
        match &self.udp {
            Some(socket) => socket.send_to(bytes, self.endpoint).map(|_| ()),
            None => Err(std::io::Error::other("no socket")),
        }
    }

    fn connect(&self) -> std::io::Result<TcpStream> {
        let stream = TcpStream::connect_timeout(&self.endpoint, CONNECT_TIMEOUT)?;
        stream.set_write_timeout(Some(WRITE_TIMEOUT))?;
        Ok(stream)
    }

    fn send_tcp(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        if self.tcp.is_none() {
            self.tcp = Some(self.connect()?);
        }
        match &mut self.tcp {
            Some(stream) => stream.write_all(bytes),
            None => Err(std::io::Error::other("no connection")),
        }
    }

    fn send_tls(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        if self.tls_stream.is_none() {
            let target = self.tls.clone().ok_or_else(|| std::io::Error::other("no TLS settings"))?;
            let socket = self.connect()?;
            let connection = rustls::ClientConnection::new(target.config, target.server_name)
                .map_err(std::io::Error::other)?;
            let mut stream = rustls::StreamOwned::new(connection, socket);
            // The handshake now, so a certificate the settings refuse fails here, named.
            while stream.conn.is_handshaking() {
                stream.conn.complete_io(&mut stream.sock)?;
            }
            self.tls_stream = Some(Box::new(stream));
        }
        match &mut self.tls_stream {
            Some(stream) => stream.write_all(bytes).and_then(|()| stream.flush()),
            None => Err(std::io::Error::other("no connection")),
        }
    }
}

impl SyslogSink {
    /// Closes the connection the way a receiver does not lose its end: TLS close_notify, our
    /// side shut for writing, and what the receiver sent us (TLS 1.3 session tickets) read
    /// until it closes — a socket closed with unread data resets the connection, and the
    /// receiver may then drop messages it has not read yet.
    pub fn close(&mut self) {
        if let Some(mut stream) = self.tls_stream.take() {
            stream.conn.send_close_notify();
            let _ = stream.flush();
            drain(&stream.sock);
        }
        if let Some(stream) = self.tcp.take() {
            drain(&stream);
        }
    }
}

impl Drop for SyslogSink {
    fn drop(&mut self) {
        self.close();
    }
}

/// Shuts our side for writing and reads (bounded in time and bytes) until the peer closes.
fn drain(socket: &TcpStream) {
    use std::io::Read as _;
    let _ = socket.shutdown(std::net::Shutdown::Write);
    let _ = socket.set_read_timeout(Some(DRAIN_TIMEOUT));
    let mut buffer = [0u8; 4096];
    let mut reader = socket;
    for _ in 0..64 {
        match reader.read(&mut buffer) {
            Ok(n) if n > 0 => {}
            _ => break,
        }
    }
}

/// How long closing waits for the receiver to close its end.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(1);

/// How long a connection attempt or a write may take before the endpoint counts as failing.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
const WRITE_TIMEOUT: Duration = Duration::from_secs(5);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn priorities_follow_severity_and_closing() {
        assert_eq!(priority(4, Severity::High, Trigger::New), 35);
        assert_eq!(priority(4, Severity::Medium, Trigger::Update), 36);
        assert_eq!(priority(4, Severity::Low, Trigger::New), 37);
        assert_eq!(priority(4, Severity::High, Trigger::Closed), 37);
    }

    #[test]
    fn both_framings_have_their_headers() {
        let now = Timestamp::from_micros(1_772_442_847_412_000);
        let options = SyslogOptions { hostname: "orthrus-c1".into(), ..Default::default() };
        let framed = frame(&options, 36, "ORT-KRB-003", "CEF:0|x", now);
        let pid = std::process::id();
        assert_eq!(
            framed,
            format!("<36>1 2026-03-02T09:14:07.412000Z orthrus-c1 orthrus {pid} ORT-KRB-003 - CEF:0|x")
        );
        let old = SyslogOptions { framing: Framing::Rfc3164, ..options.clone() };
        assert_eq!(
            frame(&old, 36, "ORT-KRB-003", "CEF:0|x", now),
            "<36>Mar  2 09:14:07 orthrus-c1 orthrus: CEF:0|x"
        );
        let bom = SyslogOptions { bom: true, ..options };
        assert!(frame(&bom, 36, "m", "CEF:0|x", now).ends_with("- \u{feff}CEF:0|x"));
    }

    #[test]
    fn a_full_queue_drops_the_oldest_and_counts_it() {
        let mut sink = SyslogSink::new("127.0.0.1:9".parse().unwrap(), Transport::Udp, 2);
        for n in 0..5 {
            sink.push(format!("m{n}"));
        }
        assert_eq!((sink.queued(), sink.dropped()), (2, 3));
    }
}
