//! The sensor's loop (`orthrus sensor`): captures live from an interface (feature `libpcap`),
//! watches a folder for capture files and event logs (what a capture ring or an event
//! forwarder drops there), and/or takes events forwarded live (`[intake]`: syslog, HTTPS);
//! decodes them into activities, keeps them in the disk buffer, and
//! ships them to the center over pinned HTTPS, with heartbeats. A file is read once: it is
//! recorded in the buffer in the same transaction as its batches, then moved to `done/` (or
//! `failed/` when it cannot be read). The center down, the batches wait; the sensor restarted,
//! it carries on where it was.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use orthrus_model::{Activity, Heartbeat};
use serde::Deserialize;
use serde_json::json;

use crate::client::CenterClient;
use crate::intake::{Intake, IntakeConfig};
use crate::names::ReverseDns;
use crate::report::io;
pub use crate::report::{SensorError, SensorEvent};
use crate::watch::WatchedFolder;
use crate::{Spool, SpoolStats};

/// The sensor's configuration (TOML).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SensorConfig {
    /// `https://HOST:PORT` of the center.
    pub center: String,
    /// The center certificate's SHA-256 fingerprint, as `orthrus server` prints it.
    pub center_fingerprint: String,
    /// A file holding the sensor's token (`orthrus admin sensor add` printed it).
    pub token_file: PathBuf,
    /// The folder to watch (optional when capturing live).
    pub watch: Option<PathBuf>,
    /// Live capture from a network interface.
    pub capture: Option<CaptureConfig>,
    /// Windows events forwarded live (syslog over UDP, TCP or TLS; NDJSON over HTTPS).
    pub intake: Option<IntakeConfig>,
    /// Recorded on each activity as the sensor that observed it.
    #[serde(default = "default_name")]
    pub name: String,
    /// A DNS server (the DC's, `10.0.0.1` or `10.0.0.1:53`) asked for the name of each new
    /// source address (reverse DNS, PTR).
    pub reverse_dns: Option<String>,
    /// How long a reverse DNS answer stands before the address is asked again.
    #[serde(default = "default_reverse_dns_refresh")]
    pub reverse_dns_refresh_mins: u64,
    /// The sensor reads Windows event logs: the center raises a health issue when none arrive.
    /// Always so when `[intake]` is given.
    #[serde(default)]
    pub events_expected: bool,
    #[serde(default = "default_spool")]
    pub spool: PathBuf,
    #[serde(default = "default_spool_max")]
    pub spool_max_bytes: u64,
    #[serde(default = "default_batch")]
    pub batch_activities: usize,
    #[serde(default = "default_heartbeat")]
    pub heartbeat_secs: u64,
    /// A live batch is cut at `batch_activities` or at this age, whichever comes first.
    #[serde(default = "default_batch_secs")]
    pub batch_secs: u64,
    #[serde(default = "default_poll")]
    pub poll_millis: u64,
}

/// Live capture settings (`[capture]`).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CaptureConfig {
    pub interface: String,
    /// BPF filter; the DC ports (see `crate::live::DEFAULT_FILTER`) by default, "" for
    /// everything.
    pub filter: Option<String>,
    #[serde(default = "default_snaplen")]
    pub snaplen: i32,
    #[serde(default = "default_capture_buffer")]
    pub buffer_mib: i32,
    #[serde(default = "default_true")]
    pub promiscuous: bool,
}

fn default_spool() -> PathBuf {
    "orthrus-sensor.spool".into()
}
fn default_spool_max() -> u64 {
    1 << 30
}
fn default_batch() -> usize {
    1000
}
fn default_heartbeat() -> u64 {
    30
}
fn default_poll() -> u64 {
    1000
}
fn default_batch_secs() -> u64 {
    2
}
fn default_reverse_dns_refresh() -> u64 {
    60
}
fn default_name() -> String {
    "orthrus-sensor".into()
}
fn default_snaplen() -> i32 {
    65535
}
fn default_capture_buffer() -> i32 {
    64
}
fn default_true() -> bool {
    true
}

/// Largest batch: the center decodes at most 64 MiB of a batch, which holds ten thousand
/// activities of 6 KiB each (a few hundred bytes is usual); a larger batch would be refused
/// by the center again and again, and wait in the disk buffer for ever.
pub const MAX_BATCH_ACTIVITIES: usize = 10_000;

/// Longest wait between two attempts to reach the center.
const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// What the sensor has read since it started (for its heartbeats), and the reverse DNS that
/// names the addresses in it before it is kept.
#[derive(Default)]
struct Counters {
    network: u64,
    events: u64,
    /// Files waiting in the watched folder's `refused/`.
    refused_files: u64,
    names: Option<ReverseDns>,
}

impl Counters {
    /// Counts what was read and adds the names reverse DNS found.
    fn take(&mut self, activities: Vec<Activity>) -> Vec<Activity> {
        for activity in &activities {
            if activity.from_event_log() {
                self.events += 1;
            } else {
                self.network += 1;
            }
        }
        self.name(activities)
    }

    /// Adds the names reverse DNS found (forwarded events are counted as they arrive).
    fn name(&mut self, activities: Vec<Activity>) -> Vec<Activity> {
        match &mut self.names {
            Some(names) => names.resolve(activities),
            None => activities,
        }
    }
}

/// Runs the sensor until `stop` is set (Ctrl-C, SIGTERM): then what the capture still holds
/// goes to the disk buffer and one last shipment is tried.
pub fn run(
    config: &SensorConfig,
    stop: &AtomicBool,
    report: &mut dyn FnMut(SensorEvent<'_>),
) -> Result<(), SensorError> {
    let token = std::fs::read_to_string(&config.token_file)
        .map_err(io("reading the token from", &config.token_file))?;
    let client = CenterClient::pinned(&config.center, &config.center_fingerprint, &token)?;
    let mut spool = Spool::open(&config.spool, config.spool_max_bytes)
        .map_err(|error| SensorError::OpenSpool { path: config.spool.clone(), error })?;
    if !(1..=MAX_BATCH_ACTIVITIES).contains(&config.batch_activities) {
        return Err(SensorError::Config(format!(
            "batch_activities is {}: give 1 to {MAX_BATCH_ACTIVITIES}",
            config.batch_activities
        )));
    }
    if config.watch.is_none() && config.capture.is_none() && config.intake.is_none() {
        return Err(SensorError::Config(
            "give `watch` (a folder), a [capture] interface, an [intake] for forwarded events, or several"
                .into(),
        ));
    }
    let watched = match &config.watch {
        Some(watch) => {
            let folder = WatchedFolder::prepare(watch)?;
            report(SensorEvent::Watching { folder: watch, center: &config.center });
            Some(folder)
        }
        None => None,
    };
    let mut live = match &config.capture {
        Some(capture) => {
            let live = live::start(capture, config)?;
            report(SensorEvent::Capturing { interface: &capture.interface, center: &config.center });
            Some(live)
        }
        None => None,
    };
    let mut intake = match &config.intake {
        Some(intake_config) => {
            let intake = Intake::start(intake_config, config.batch_activities, batch_age(config))?;
            for (listener, address, _) in &intake.counters.listeners {
                report(SensorEvent::Listening { listener, address: *address });
            }
            Some(intake)
        }
        None => None,
    };
    let mut counters = Counters::default();
    if let Some(server) = &config.reverse_dns {
        let server: SocketAddr = orthrus_directory::reverse_dns::server_address(server).ok_or_else(|| {
            SensorError::Config(format!("reverse_dns {server:?} is not an address (10.0.0.1 or 10.0.0.1:53)"))
        })?;
        let refresh = Duration::from_secs(config.reverse_dns_refresh_mins.max(1) * 60);
        counters.names = Some(ReverseDns::new(server, refresh, &config.name));
    }
    let tick = Duration::from_millis(config.poll_millis.max(100));
    let mut backoff = tick;
    let mut next_ship = Instant::now();
    let mut last_heartbeat: Option<Instant> = None;
    let mut center_down = false;
    loop {
        if stop.load(Ordering::Relaxed) {
            if let Some(live) = live.take() {
                live::finish(live, &mut spool, &mut counters)?;
            }
            if let Some(intake) = intake.take() {
                for batch in intake.stop() {
                    spool.append(&counters.name(batch))?;
                }
            }
            let _ = ship(&client, &mut spool);
            report(SensorEvent::Stopped { waiting: spool.stats()?.batches });
            return Ok(());
        }
        if let Some(folder) = &watched {
            folder.sweep(
                &mut spool,
                config.batch_activities,
                &mut |activities| counters.take(activities),
                report,
            )?;
            counters.refused_files = folder.refused_waiting();
        }
        if let Some(live) = &live {
            live::drain(live, &mut spool, &mut counters)?;
        }
        if let Some(intake) = &intake {
            while let Ok(batch) = intake.batches.try_recv() {
                spool.append(&counters.name(batch))?;
            }
        }
        if Instant::now() >= next_ship {
            match ship(&client, &mut spool) {
                Ok(_) => {
                    if center_down {
                        report(SensorEvent::CenterUp);
                    }
                    center_down = false;
                    backoff = tick;
                }
                Err(error) => {
                    if !center_down {
                        report(SensorEvent::CenterDown(&error));
                    }
                    center_down = true;
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                    next_ship = Instant::now() + backoff;
                }
            }
        }
        if last_heartbeat.is_none_or(|t| t.elapsed() >= Duration::from_secs(config.heartbeat_secs)) {
            let stats = spool.stats()?;
            let beat = heartbeat(&counters, &stats, live.as_ref().map(live::stats), intake.as_ref(), config);
            match client.post("/api/v1/sensor/heartbeat", &beat) {
                Ok(_) => last_heartbeat = Some(Instant::now()),
                // Unreachable is said once above; a refusal is worth saying each time.
                Err(error) if error.is_refusal() => report(SensorEvent::HeartbeatRefused(&error)),
                Err(_) => {}
            }
        }
        match (&live, &intake) {
            (Some(live), _) => live::wait(live, tick, &mut spool, &mut counters)?,
            // Woken by the next batch of forwarded events, or at the tick.
            (None, Some(intake)) => {
                if let Ok(batch) = intake.batches.recv_timeout(tick) {
                    spool.append(&counters.name(batch))?;
                }
            }
            (None, None) => std::thread::sleep(tick),
        }
    }
}

fn heartbeat(
    counters: &Counters,
    stats: &SpoolStats,
    capture: Option<CaptureCounters>,
    intake: Option<&Intake>,
    config: &SensorConfig,
) -> serde_json::Value {
    let mut beat = Heartbeat {
        version: env!("CARGO_PKG_VERSION").into(),
        packets: counters.network,
        events: counters.events,
        events_expected: config.events_expected || intake.is_some(),
        spool_bytes: stats.bytes,
        spool_max_bytes: config.spool_max_bytes,
        spool_dropped_batches: stats.dropped_batches,
        refused_files: counters.refused_files,
        ..Heartbeat::default()
    };
    // Forwarded events: received and lost before the disk buffer (UDP drops, oversize), so
    // the center's event-backlog and no-events health see them.
    if let Some(intake) = intake {
        beat.events += intake.counters.events();
        beat.dropped_events += intake.counters.dropped_events();
        beat.intake = Some(intake.counters.snapshot());
    }
    beat.reverse_dns = counters.names.as_ref().and_then(|n| serde_json::to_value(&n.counters).ok());
    // Live capture: the kernel's counts of packets received and dropped are the capture's
    // health (health.md's drop ratio); the decoder's counters say what became of them.
    if let Some(capture) = capture {
        beat.packets = capture.received;
        beat.dropped_packets = capture.dropped;
        beat.capture = Some(capture.detail);
    }
    serde_json::to_value(beat).unwrap_or_default()
}

/// What a live capture reports for a heartbeat.
struct CaptureCounters {
    received: u64,
    dropped: u64,
    /// Interface, kernel and decoder counters as they are.
    detail: serde_json::Value,
}

/// A live batch (capture, forwarded events) is cut at this age at the latest.
fn batch_age(config: &SensorConfig) -> Duration {
    Duration::from_secs(config.batch_secs.max(1))
}

/// Sends waiting batches, oldest first, until none waits or the center fails.
fn ship(client: &CenterClient, spool: &mut Spool) -> Result<usize, SensorError> {
    let mut sent = 0;
    while let Some(batch) = spool.oldest()? {
        client.post(
            "/api/v1/sensor/batches",
            &json!({ "sequence": batch.sequence, "activities": batch.activities }),
        )?;
        spool.acknowledge(batch.sequence)?;
        sent += 1;
    }
    Ok(sent)
}

/// Live capture, when this build has it (feature `libpcap`).
#[cfg(feature = "libpcap")]
mod live {
    use std::sync::Arc;
    use std::time::Duration;

    use crate::Spool;
    use crate::live::{LiveCapture, LiveConfig};

    use super::{CaptureConfig, CaptureCounters, Counters, SensorConfig, SensorError};

    pub fn start(capture: &CaptureConfig, config: &SensorConfig) -> Result<LiveCapture, SensorError> {
        let decoder = orthrus_net::DecoderConfig {
            sensor: Arc::from(config.name.as_str()),
            ..orthrus_net::DecoderConfig::default()
        };
        LiveCapture::start(LiveConfig {
            interface: capture.interface.clone(),
            filter: capture.filter.clone(),
            snaplen: capture.snaplen,
            buffer_bytes: capture.buffer_mib.saturating_mul(1 << 20),
            promiscuous: capture.promiscuous,
            batch_activities: config.batch_activities,
            batch_age: super::batch_age(config),
            decoder,
        })
        .map_err(|e| SensorError::Capture(format!("starting the live capture: {e}")))
    }

    /// Stops the capture; everything it still held into the disk buffer.
    pub fn finish(live: LiveCapture, spool: &mut Spool, counters: &mut Counters) -> Result<(), SensorError> {
        for batch in live.stop() {
            keep(batch, spool, counters)?;
        }
        Ok(())
    }

    /// Batches the capture has cut, into the disk buffer.
    pub fn drain(live: &LiveCapture, spool: &mut Spool, counters: &mut Counters) -> Result<(), SensorError> {
        while let Ok(batch) = live.batches.try_recv() {
            keep(batch, spool, counters)?;
        }
        Ok(())
    }

    /// Waits up to `tick` for the next batch (the sensor's idle wait, cut short by traffic).
    pub fn wait(
        live: &LiveCapture,
        tick: Duration,
        spool: &mut Spool,
        counters: &mut Counters,
    ) -> Result<(), SensorError> {
        match live.batches.recv_timeout(tick) {
            Ok(batch) => keep(batch, spool, counters),
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => Ok(()),
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
                let why = live.stats().failure.unwrap_or_else(|| "the capture thread ended".into());
                Err(SensorError::Capture(format!("live capture stopped: {why}")))
            }
        }
    }

    fn keep(
        batch: Vec<orthrus_model::Activity>,
        spool: &mut Spool,
        counters: &mut Counters,
    ) -> Result<(), SensorError> {
        spool.append(&counters.take(batch))?;
        Ok(())
    }

    pub fn stats(live: &LiveCapture) -> CaptureCounters {
        let stats = live.stats();
        CaptureCounters {
            received: stats.received,
            dropped: stats.dropped + stats.interface_dropped,
            detail: serde_json::to_value(&stats).unwrap_or_default(),
        }
    }
}

/// Without libpcap, a [capture] section is refused with the reason.
#[cfg(not(feature = "libpcap"))]
mod live {
    use std::time::Duration;

    use crate::Spool;

    use super::{CaptureConfig, CaptureCounters, Counters, SensorConfig, SensorError};

    pub enum Never {}

    pub fn start(_: &CaptureConfig, _: &SensorConfig) -> Result<Never, SensorError> {
        Err(SensorError::Capture(
            "this orthrus was built without live capture: build it with `--features libpcap` \
             (Debian's libpcap-dev), or give the sensor a `watch` folder"
                .into(),
        ))
    }
    pub fn drain(live: &Never, _: &mut Spool, _: &mut Counters) -> Result<(), SensorError> {
        match *live {}
    }
    pub fn finish(live: Never, _: &mut Spool, _: &mut Counters) -> Result<(), SensorError> {
        match live {}
    }
    pub fn wait(live: &Never, _: Duration, _: &mut Spool, _: &mut Counters) -> Result<(), SensorError> {
        match *live {}
    }
    pub fn stats(live: &Never) -> CaptureCounters {
        match *live {}
    }
}
