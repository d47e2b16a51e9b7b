//! Live Windows events, for shops that forward events instead of dropping files: syslog
//! (RFC 5424 and 3164) over UDP, TCP (octet counting or LF framing) and TLS, as NXLog, Snare
//! and rsyslog forwarders send it; and NDJSON over HTTPS, as Winlogbeat/Elastic-Agent-style
//! shippers (Vector, Fluent Bit, Logstash's http output) post ECS or flat JSON events. Each
//! message is read by the same readers as a dropped file ([`orthrus_events::syslog`],
//! [`orthrus_events::json`]) and mapped by the same [`orthrus_events::to_activity`], so an
//! event gives the same activity whichever way it came.
//!
//! Bounded everywhere: one queue of activities ([`IntakeConfig::queue_activities`]) stands
//! between the listeners and the sensor's disk buffer. When it is full, a TCP or TLS
//! forwarder is read no further (its TCP window closes: back-pressure, nothing lost); an HTTPS
//! shipper is answered 503 with Retry-After (it keeps its batch and sends it again); a UDP
//! datagram is dropped and counted, as UDP has no way to slow a sender. The counters go into
//! every heartbeat: drops become the center's event-backlog health issue, and events that
//! stop coming its no-events one.

mod http;
mod syslog;

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, SyncSender};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use orthrus_events::{MapContext, WindowsEvent};
use orthrus_listen::ConnectionCounters;
use orthrus_model::Activity;
use serde::Deserialize;
use tokio::sync::mpsc::error::TrySendError;

use crate::report::SensorError;

/// Batches cut and not yet in the disk buffer; beyond it the batcher waits and the queue
/// fills (the same bound as the live capture's).
const PENDING_BATCHES: usize = 16;

/// The `[intake]` section: which listeners to open, and their bounds.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IntakeConfig {
    /// Syslog over UDP (`0.0.0.0:514`): NXLog, Snare, rsyslog, `logger`.
    pub syslog_udp: Option<SocketAddr>,
    /// Syslog over TCP, octet-counted (RFC 6587) or one message per line.
    pub syslog_tcp: Option<SocketAddr>,
    /// Syslog over TLS (RFC 5425): needs `tls_cert` and `tls_key`.
    pub syslog_tls: Option<SocketAddr>,
    /// NDJSON events over HTTPS, `POST /api/v1/events`: needs `tls_cert`, `tls_key`, and
    /// `https_token_file` or `client_ca` (an event endpoint nobody authenticates to is refused).
    pub https: Option<SocketAddr>,
    /// The listeners' certificate chain and key (PEM).
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    /// When given, a forwarder over TLS or HTTPS must present a certificate this CA (PEM)
    /// issued.
    pub client_ca: Option<PathBuf>,
    /// A file holding the token HTTPS shippers send as `Authorization: Bearer TOKEN`.
    pub https_token_file: Option<PathBuf>,
    /// Source networks allowed to send (`["10.0.0.0/8", "192.168.1.20/32"]`); any when empty.
    /// Plain UDP and TCP syslog carry no credential, so this is their only authentication:
    /// set it to the forwarders' addresses.
    #[serde(default)]
    pub allow: Vec<ipnet::IpNet>,
    /// Activities waiting between the listeners and the disk buffer. The default holds about
    /// ten seconds of a busy DC's mapped events (a few thousand a second) while the sensor
    /// writes a batch or ships to the center, in a few tens of MiB.
    #[serde(default = "default_queue")]
    pub queue_activities: usize,
    /// The longest message read (a syslog message or an NDJSON line). Windows events are a
    /// few KiB; a scheduled task's XML (4698) or a long command line can reach tens of KiB;
    /// rsyslog's own limit must be raised to send more than 8 KiB anyway.
    #[serde(default = "default_max_message")]
    pub max_message_bytes: usize,
    /// TCP, TLS and HTTPS connections held at once (a forwarder keeps one or a few).
    #[serde(default = "default_max_connections")]
    pub max_connections: usize,
}

fn default_queue() -> usize {
    50_000
}
fn default_max_message() -> usize {
    256 << 10
}
fn default_max_connections() -> usize {
    256
}

/// What one listener has done since the sensor started.
#[derive(Debug, Default)]
pub struct ListenerCounters {
    /// Syslog messages or NDJSON lines received.
    pub messages: AtomicU64,
    /// Of those, Windows events read.
    pub events: AtomicU64,
    /// Messages that are no Windows event in a form Orthrus reads (counted, not kept).
    pub unreadable: AtomicU64,
    /// Activities the events became, queued for the disk buffer.
    pub activities: AtomicU64,
    /// UDP datagrams dropped because the queue was full.
    pub dropped: AtomicU64,
    /// Messages longer than `max_message_bytes`, discarded.
    pub oversize: AtomicU64,
    /// Datagrams and connections from addresses outside `allow`.
    pub refused_sources: AtomicU64,
    /// HTTPS requests without the token.
    pub unauthorized: AtomicU64,
    /// HTTPS requests answered 503 because the queue stayed full (the shipper sends again).
    pub busy: AtomicU64,
    pub connections: Arc<ConnectionCounters>,
}

impl ListenerCounters {
    fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    fn snapshot(&self) -> serde_json::Value {
        let read = |c: &AtomicU64| c.load(Ordering::Relaxed);
        serde_json::json!({
            "messages": read(&self.messages),
            "events": read(&self.events),
            "unreadable": read(&self.unreadable),
            "activities": read(&self.activities),
            "dropped": read(&self.dropped),
            "oversize": read(&self.oversize),
            "refused_sources": read(&self.refused_sources),
            "unauthorized": read(&self.unauthorized),
            "busy": read(&self.busy),
            "connections_open": read(&self.connections.open),
            "connections_accepted": read(&self.connections.accepted),
            "connections_refused": read(&self.connections.refused),
            "failed_handshakes": read(&self.connections.failed_handshakes),
        })
    }
}

/// The counters of every listener, by name (`syslog_udp`, `syslog_tcp`, `syslog_tls`, `https`).
#[derive(Debug, Default)]
pub struct IntakeCounters {
    pub listeners: Vec<(&'static str, SocketAddr, Arc<ListenerCounters>)>,
}

impl IntakeCounters {
    /// Windows events received live and not dropped (what the heartbeat's `events` adds; its
    /// `dropped_events` holds the rest, so the center's drop share is of all that came).
    pub fn events(&self) -> u64 {
        let kept = |c: &ListenerCounters| {
            c.events.load(Ordering::Relaxed).saturating_sub(c.dropped.load(Ordering::Relaxed))
        };
        self.listeners.iter().map(|(_, _, c)| kept(c)).sum()
    }

    /// Events lost before reaching the disk buffer: UDP drops and oversize messages.
    pub fn dropped_events(&self) -> u64 {
        let lost =
            |c: &ListenerCounters| c.dropped.load(Ordering::Relaxed) + c.oversize.load(Ordering::Relaxed);
        self.listeners.iter().map(|(_, _, c)| lost(c)).sum()
    }

    /// Every listener's counters, for the heartbeat.
    pub fn snapshot(&self) -> serde_json::Value {
        let mut listeners = serde_json::Map::new();
        for (name, address, counters) in &self.listeners {
            let mut entry = counters.snapshot();
            if let Some(object) = entry.as_object_mut() {
                object.insert("address".into(), address.to_string().into());
            }
            listeners.insert((*name).into(), entry);
        }
        serde_json::Value::Object(listeners)
    }

    /// The address a listener is bound to (the port the system chose for `:0`).
    pub fn address(&self, name: &str) -> Option<SocketAddr> {
        self.listeners.iter().find(|(n, _, _)| *n == name).map(|(_, a, _)| *a)
    }
}

/// What every listener shares: the queue, the mapping, the allow-list, the size bound.
#[derive(Clone)]
struct Inbound {
    queue: tokio::sync::mpsc::Sender<Activity>,
    context: Arc<MapContext>,
    allow: Arc<[ipnet::IpNet]>,
    max_message_bytes: usize,
}

impl Inbound {
    fn allowed(&self, address: IpAddr) -> bool {
        // A v4 client of a dual-stack socket arrives as ::ffff:a.b.c.d.
        let address = address.to_canonical();
        self.allow.is_empty() || self.allow.iter().any(|net| net.contains(&address))
    }

    /// A message read (or not) as a Windows event, counted, and mapped to its activity.
    fn activity(
        &self,
        counters: &ListenerCounters,
        event: Result<WindowsEvent, &'static str>,
    ) -> Option<Activity> {
        match event {
            Ok(event) => {
                ListenerCounters::add(&counters.events, 1);
                orthrus_events::to_activity(&event, &self.context)
            }
            Err(_) => {
                ListenerCounters::add(&counters.unreadable, 1);
                None
            }
        }
    }

    /// Queues an activity, waiting while the queue is full (TCP: back-pressure). False when
    /// the sensor is stopping.
    async fn send(&self, counters: &ListenerCounters, activity: Activity) -> bool {
        let sent = self.queue.send(activity).await.is_ok();
        if sent {
            ListenerCounters::add(&counters.activities, 1);
        }
        sent
    }

    /// Queues an activity if there is room; counted as dropped if not (UDP).
    fn offer(&self, counters: &ListenerCounters, activity: Activity) {
        match self.queue.try_send(activity) {
            Ok(()) => ListenerCounters::add(&counters.activities, 1),
            Err(TrySendError::Full(_)) => ListenerCounters::add(&counters.dropped, 1),
            Err(TrySendError::Closed(_)) => {}
        }
    }
}

/// The running listeners; batches of activities come out of [`Intake::batches`].
pub struct Intake {
    runtime: Option<tokio::runtime::Runtime>,
    stopping: tokio::sync::watch::Sender<bool>,
    batcher: Option<JoinHandle<()>>,
    pub batches: Receiver<Vec<Activity>>,
    pub counters: Arc<IntakeCounters>,
}

impl Intake {
    /// Opens every configured listener (an error names the one that failed) and starts
    /// cutting batches of `batch_activities` or `batch_age`, whichever comes first.
    pub fn start(
        config: &IntakeConfig,
        batch_activities: usize,
        batch_age: Duration,
    ) -> Result<Self, SensorError> {
        let (queue, waiting) = tokio::sync::mpsc::channel(config.queue_activities.max(1));
        let inbound = Inbound {
            queue,
            context: Arc::new(MapContext::default()),
            allow: config.allow.clone().into(),
            max_message_bytes: config.max_message_bytes.max(1024),
        };
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("orthrus-intake")
            .enable_all()
            .build()
            .map_err(|e| SensorError::Config(format!("starting the event intake: {e}")))?;
        let (stopping, stop_signal) = tokio::sync::watch::channel(false);
        let listeners = runtime.block_on(open_listeners(config, &inbound, &stop_signal))?;
        drop(inbound);
        let counters = Arc::new(IntakeCounters { listeners });
        let (batch_sender, batches) = std::sync::mpsc::sync_channel(PENDING_BATCHES);
        let batcher = std::thread::Builder::new()
            .name("orthrus-intake-batches".into())
            .spawn(move || cut_batches(waiting, &batch_sender, batch_activities.max(1), batch_age))
            .map_err(|e| SensorError::Config(format!("starting the event intake: {e}")))?;
        Ok(Self { runtime: Some(runtime), stopping, batcher: Some(batcher), batches, counters })
    }

    /// Closes the listeners; what was queued comes out as the last batches.
    pub fn stop(mut self) -> Vec<Vec<Activity>> {
        let _ = self.stopping.send(true);
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_timeout(Duration::from_secs(2));
        }
        // With every listener gone the queue closes, and the batcher ends after its last batch.
        let rest: Vec<Vec<Activity>> = self.batches.iter().collect();
        if let Some(batcher) = self.batcher.take() {
            let _ = batcher.join();
        }
        rest
    }
}

/// Binds every configured listener and starts serving it.
async fn open_listeners(
    config: &IntakeConfig,
    inbound: &Inbound,
    stop: &tokio::sync::watch::Receiver<bool>,
) -> Result<Vec<(&'static str, SocketAddr, Arc<ListenerCounters>)>, SensorError> {
    let mut listeners = Vec::new();
    let tls = match (&config.tls_cert, &config.tls_key) {
        (Some(cert), Some(key)) => Some(http::tls_config(cert, key, config.client_ca.as_deref())?),
        (None, None) => None,
        _ => return Err(SensorError::Config("[intake]: give tls_cert and tls_key together".into())),
    };
    let needs_tls =
        |what: &str| SensorError::Config(format!("[intake] {what} needs tls_cert and tls_key (PEM files)"));
    let limits = orthrus_listen::ConnectionLimits::sized(config.max_connections, None);
    if let Some(address) = config.syslog_udp {
        let counters = Arc::new(ListenerCounters::default());
        let bound = syslog::serve_udp(address, inbound.clone(), counters.clone(), stopped(stop)).await?;
        listeners.push(("syslog_udp", bound, counters));
    }
    if let Some(address) = config.syslog_tcp {
        let counters = Arc::new(ListenerCounters::default());
        let bound =
            syslog::serve_tcp(address, None, limits, inbound.clone(), counters.clone(), stopped(stop))
                .await?;
        listeners.push(("syslog_tcp", bound, counters));
    }
    if let Some(address) = config.syslog_tls {
        let tls = tls.clone().ok_or_else(|| needs_tls("syslog_tls"))?;
        let counters = Arc::new(ListenerCounters::default());
        let bound =
            syslog::serve_tcp(address, Some(tls), limits, inbound.clone(), counters.clone(), stopped(stop))
                .await?;
        listeners.push(("syslog_tls", bound, counters));
    }
    if let Some(address) = config.https {
        let tls = tls.ok_or_else(|| needs_tls("https"))?;
        let token = match &config.https_token_file {
            Some(path) => Some(http::read_token(path)?),
            None if config.client_ca.is_some() => None,
            None => {
                return Err(SensorError::Config(
                    "[intake] https needs https_token_file or client_ca: an event endpoint nobody \
                     authenticates to would take anyone's events"
                        .into(),
                ));
            }
        };
        let counters = Arc::new(ListenerCounters::default());
        let bound =
            http::serve(address, tls, token, limits, inbound.clone(), counters.clone(), stopped(stop))
                .await?;
        listeners.push(("https", bound, counters));
    }
    if listeners.is_empty() {
        return Err(SensorError::Config(
            "[intake] opens no listener: give syslog_udp, syslog_tcp, syslog_tls or https".into(),
        ));
    }
    Ok(listeners)
}

/// A future that resolves when the sensor stops.
fn stopped(
    stop: &tokio::sync::watch::Receiver<bool>,
) -> impl std::future::Future<Output = ()> + Send + 'static {
    let mut stop = stop.clone();
    async move {
        let _ = stop.wait_for(|stopping| *stopping).await;
    }
}

/// How often the batcher looks at the queue while a batch waits to be old enough to cut.
const BATCH_POLL: Duration = Duration::from_millis(10);

/// The batcher: activities from the queue, cut into batches by size or age, handed to the
/// sensor's loop (waiting when it is behind, which fills the queue). A thread of its own
/// without the runtime's timers, so it still empties the queue while the runtime shuts down.
fn cut_batches(
    mut waiting: tokio::sync::mpsc::Receiver<Activity>,
    batches: &SyncSender<Vec<Activity>>,
    batch_activities: usize,
    batch_age: Duration,
) {
    use tokio::sync::mpsc::error::TryRecvError;
    let mut batch: Vec<Activity> = Vec::new();
    let mut started = Instant::now();
    loop {
        let closed = if batch.is_empty() {
            // Nothing pending: sleep until something comes.
            match waiting.blocking_recv() {
                Some(activity) => {
                    batch.push(activity);
                    started = Instant::now();
                    false
                }
                None => return,
            }
        } else {
            match waiting.try_recv() {
                Ok(activity) => {
                    batch.push(activity);
                    false
                }
                Err(TryRecvError::Empty) => {
                    if started.elapsed() < batch_age {
                        std::thread::sleep(BATCH_POLL);
                    }
                    false
                }
                Err(TryRecvError::Disconnected) => true,
            }
        };
        let due = closed || batch.len() >= batch_activities || started.elapsed() >= batch_age;
        if due && !batch.is_empty() && batches.send(std::mem::take(&mut batch)).is_err() {
            return;
        }
        if closed {
            return;
        }
    }
}

/// Fuzz entry point (`fuzz/fuzz_targets/forwarded_events.rs`): the first byte picks the
/// transport (even: a syslog stream, its frames read with a 64-byte bound and each message read
/// as a Windows event; odd: an HTTPS body of events), the rest is what a forwarder sent. Whatever
/// the bytes, the frames hold no more than the stream did and every message is counted once.
pub fn fuzz_forwarded(data: &[u8]) {
    let Some((first, sent)) = data.split_first() else { return };
    let (queue, _waiting) = tokio::sync::mpsc::channel(1);
    let inbound = Inbound { queue, context: Arc::default(), allow: Arc::from([]), max_message_bytes: 64 };
    let counters = ListenerCounters::default();
    if first % 2 == 1 {
        let body = http::read_body(sent, &inbound, &Arc::from("fuzz"));
        assert!(body.messages >= body.events + body.unreadable + body.oversize);
        assert!(body.activities.len() as u64 <= body.events);
        return;
    }
    let Ok(runtime) = tokio::runtime::Builder::new_current_thread().build() else { return };
    runtime.block_on(async {
        let mut reader = tokio::io::BufReader::with_capacity(16, sent);
        let (mut message, mut kept, mut frames) = (Vec::new(), 0usize, 0usize);
        loop {
            match syslog::next_frame(&mut reader, &mut message, inbound.max_message_bytes).await {
                Ok(syslog::Frame::Message) => {
                    assert!(message.len() <= inbound.max_message_bytes);
                    kept += message.len();
                    let _ = syslog::read_message(&inbound, &counters, &message, &Arc::from("fuzz"), 1);
                }
                Ok(syslog::Frame::Oversize) => {}
                Ok(syslog::Frame::End) | Err(_) => break,
            }
            frames += 1;
            // Every frame but the last consumes at least one byte.
            assert!(frames <= sent.len() + 1, "{frames} frames from {} bytes", sent.len());
        }
        assert!(kept <= sent.len());
    });
    let read = |c: &AtomicU64| c.load(Ordering::Relaxed);
    assert!(read(&counters.messages) >= read(&counters.events) + read(&counters.unreadable));
}

#[cfg(test)]
mod tests;
