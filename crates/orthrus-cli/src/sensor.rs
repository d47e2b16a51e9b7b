//! `orthrus sensor`: captures live from an interface (feature `libpcap`) and/or watches a
//! folder for capture files and event logs (what a capture ring or an event forwarder drops
//! there), decodes them into activities, keeps them in the disk buffer, and ships them to the
//! center over pinned HTTPS, with heartbeats. A file is read once: it is recorded in the
//! buffer in the same transaction as its batches, then moved to `done/` (or `failed/` when it
//! cannot be read). The center down, the batches wait; the sensor restarted, it carries on
//! where it was.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::Context;
use orthrus_center::health::Heartbeat;
use orthrus_model::Activity;
use orthrus_sensor::client::CenterClient;
use orthrus_sensor::names::ReverseDns;
use orthrus_sensor::{Spool, SpoolStats};
use serde::Deserialize;
use serde_json::json;

#[derive(clap::Args)]
pub struct SensorArgs {
    /// The sensor's configuration (TOML).
    #[arg(long, env = "ORTHRUS_SENSOR_CONFIG")]
    config: PathBuf,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(not(feature = "libpcap"), allow(dead_code))]
struct SensorConfig {
    /// `https://HOST:PORT` of the center.
    center: String,
    /// The center certificate's SHA-256 fingerprint, as `orthrus server` prints it.
    center_fingerprint: String,
    /// A file holding the sensor's token (`orthrus admin sensor add` printed it).
    token_file: PathBuf,
    /// The folder to watch (optional when capturing live).
    watch: Option<PathBuf>,
    /// Live capture from a network interface.
    capture: Option<CaptureConfig>,
    /// Recorded on each activity as the sensor that observed it.
    #[serde(default = "default_name")]
    name: String,
    /// A DNS server (the DC's, `10.0.0.1` or `10.0.0.1:53`) asked for the name of each new
    /// source address (reverse DNS, PTR).
    reverse_dns: Option<String>,
    /// How long a reverse DNS answer stands before the address is asked again.
    #[serde(default = "default_reverse_dns_refresh")]
    reverse_dns_refresh_mins: u64,
    /// The sensor reads Windows event logs: the center raises a health issue when none arrive.
    #[serde(default)]
    events_expected: bool,
    #[serde(default = "default_spool")]
    spool: PathBuf,
    #[serde(default = "default_spool_max")]
    spool_max_bytes: u64,
    #[serde(default = "default_batch")]
    batch_activities: usize,
    #[serde(default = "default_heartbeat")]
    heartbeat_secs: u64,
    /// A live batch is cut at `batch_activities` or at this age, whichever comes first.
    #[serde(default = "default_batch_secs")]
    batch_secs: u64,
    #[serde(default = "default_poll")]
    poll_millis: u64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(not(feature = "libpcap"), allow(dead_code))]
struct CaptureConfig {
    interface: String,
    /// BPF filter; the DC ports (see `orthrus_sensor::live::DEFAULT_FILTER`) by default, "" for
    /// everything.
    filter: Option<String>,
    #[serde(default = "default_snaplen")]
    snaplen: i32,
    #[serde(default = "default_capture_buffer")]
    buffer_mib: i32,
    #[serde(default = "default_true")]
    promiscuous: bool,
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

/// Set once Ctrl-C or SIGTERM (what service managers send) arrives: the loop then stops at its
/// next turn, keeping what it captured. A small runtime on its own thread waits for the signal.
fn stop_requested() -> std::sync::Arc<std::sync::atomic::AtomicBool> {
    let flag = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let set = flag.clone();
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build();
    if let Ok(runtime) = runtime {
        std::thread::spawn(move || {
            runtime.block_on(crate::server::stop_signal());
            set.store(true, std::sync::atomic::Ordering::Relaxed);
        });
    }
    flag
}

/// Longest wait between two attempts to reach the center.
const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// What the sensor has read since it started (for its heartbeats), and the reverse DNS that
/// names the addresses in it before it is kept.
#[derive(Default)]
struct Counters {
    network: u64,
    events: u64,
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
        match &mut self.names {
            Some(names) => names.resolve(activities),
            None => activities,
        }
    }
}

/// Live capture, when this binary has it (feature `libpcap`).
#[cfg(feature = "libpcap")]
mod live {
    use std::sync::Arc;
    use std::time::Duration;

    use anyhow::Context as _;
    use orthrus_sensor::Spool;
    use orthrus_sensor::live::{LiveCapture, LiveConfig};

    use super::{CaptureConfig, CaptureCounters, Counters, SensorConfig};

    pub fn start(capture: &CaptureConfig, config: &SensorConfig) -> anyhow::Result<LiveCapture> {
        let decoder = orthrus_net::DecoderConfig {
            sensor: Arc::from(config.name.as_str()),
            ..orthrus_net::DecoderConfig::default()
        };
        let live = LiveCapture::start(LiveConfig {
            interface: capture.interface.clone(),
            filter: capture.filter.clone(),
            snaplen: capture.snaplen,
            buffer_bytes: capture.buffer_mib.saturating_mul(1 << 20),
            promiscuous: capture.promiscuous,
            batch_activities: config.batch_activities,
            batch_age: Duration::from_secs(config.batch_secs.max(1)),
            decoder,
        })
        .context("starting the live capture")?;
        eprintln!("orthrus: sensor capturing on {} for {}", capture.interface, config.center);
        Ok(live)
    }

    /// Stops the capture; everything it still held into the disk buffer.
    pub fn finish(live: LiveCapture, spool: &mut Spool, counters: &mut Counters) -> anyhow::Result<()> {
        for batch in live.stop() {
            keep(batch, spool, counters)?;
        }
        Ok(())
    }

    /// Batches the capture has cut, into the disk buffer.
    pub fn drain(live: &LiveCapture, spool: &mut Spool, counters: &mut Counters) -> anyhow::Result<()> {
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
    ) -> anyhow::Result<()> {
        match live.batches.recv_timeout(tick) {
            Ok(batch) => keep(batch, spool, counters),
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => Ok(()),
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
                let why = live.stats().failure.unwrap_or_else(|| "the capture thread ended".into());
                anyhow::bail!("live capture stopped: {why}")
            }
        }
    }

    fn keep(
        batch: Vec<orthrus_model::Activity>,
        spool: &mut Spool,
        counters: &mut Counters,
    ) -> anyhow::Result<()> {
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

    use orthrus_sensor::Spool;

    use super::{CaptureConfig, CaptureCounters, Counters, SensorConfig};

    pub enum Never {}

    pub fn start(_: &CaptureConfig, _: &SensorConfig) -> anyhow::Result<Never> {
        anyhow::bail!(
            "this orthrus was built without live capture: build it with `--features libpcap` \
             (Debian's libpcap-dev), or give the sensor a `watch` folder"
        )
    }
    pub fn drain(live: &Never, _: &mut Spool, _: &mut Counters) -> anyhow::Result<()> {
        match *live {}
    }
    pub fn finish(live: Never, _: &mut Spool, _: &mut Counters) -> anyhow::Result<()> {
        match live {}
    }
    pub fn wait(live: &Never, _: Duration, _: &mut Spool, _: &mut Counters) -> anyhow::Result<()> {
        match *live {}
    }
    pub fn stats(live: &Never) -> CaptureCounters {
        match *live {}
    }
}

pub fn sensor(args: &SensorArgs) -> anyhow::Result<u8> {
    let text = std::fs::read_to_string(&args.config)
        .with_context(|| format!("reading {}", args.config.display()))?;
    let config: SensorConfig =
        toml::from_str(&text).with_context(|| format!("in {}", args.config.display()))?;
    let token = std::fs::read_to_string(&config.token_file)
        .with_context(|| format!("reading the token from {}", config.token_file.display()))?;
    let client = CenterClient::pinned(&config.center, &config.center_fingerprint, &token)?;
    let mut spool = Spool::open(&config.spool, config.spool_max_bytes)
        .with_context(|| format!("opening the disk buffer {}", config.spool.display()))?;
    if config.watch.is_none() && config.capture.is_none() {
        anyhow::bail!("{}: give `watch` (a folder), a [capture] interface, or both", args.config.display());
    }
    if let Some(watch) = &config.watch {
        for folder in ["done", "failed"] {
            std::fs::create_dir_all(watch.join(folder))
                .with_context(|| format!("creating {}", watch.join(folder).display()))?;
        }
        eprintln!("orthrus: sensor watching {} for {}", watch.display(), config.center);
    }
    let mut live = match &config.capture {
        Some(capture) => Some(live::start(capture, &config)?),
        None => None,
    };
    let mut counters = Counters::default();
    if let Some(server) = &config.reverse_dns {
        let server = orthrus_directory::reverse_dns::server_address(server)
            .with_context(|| format!("reverse_dns {server:?} is not an address (10.0.0.1 or 10.0.0.1:53)"))?;
        let refresh = Duration::from_secs(config.reverse_dns_refresh_mins.max(1) * 60);
        counters.names = Some(ReverseDns::new(server, refresh, &config.name));
    }
    let tick = Duration::from_millis(config.poll_millis.max(100));
    let mut backoff = tick;
    let mut next_ship = Instant::now();
    let mut last_heartbeat: Option<Instant> = None;
    let mut center_down = false;
    let stopping = stop_requested();
    loop {
        if stopping.load(std::sync::atomic::Ordering::Relaxed) {
            // What the capture still holds goes to the disk buffer; one last try to ship it.
            if let Some(live) = live.take() {
                live::finish(live, &mut spool, &mut counters)?;
            }
            let _ = ship(&client, &mut spool);
            eprintln!("orthrus: sensor stopped; {} batches wait in the disk buffer", spool.stats()?.batches);
            return Ok(crate::exit::OK);
        }
        if let Some(watch) = &config.watch {
            read_new_files(watch, &config, &mut spool, &mut counters)?;
        }
        if let Some(live) = &live {
            live::drain(live, &mut spool, &mut counters)?;
        }
        if Instant::now() >= next_ship {
            match ship(&client, &mut spool) {
                Ok(_) => {
                    if center_down {
                        eprintln!("orthrus: center reachable again");
                    }
                    center_down = false;
                    backoff = tick;
                }
                Err(error) => {
                    if !center_down {
                        eprintln!("orthrus: center unreachable, batches wait in the disk buffer: {error}");
                    }
                    center_down = true;
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                    next_ship = Instant::now() + backoff;
                }
            }
        }
        if last_heartbeat.is_none_or(|t| t.elapsed() >= Duration::from_secs(config.heartbeat_secs)) {
            let stats = spool.stats()?;
            let beat = heartbeat(&counters, &stats, live.as_ref().map(live::stats), &config);
            match client.post("/api/v1/sensor/heartbeat", &beat) {
                Ok(_) => last_heartbeat = Some(Instant::now()),
                // Unreachable is said once above; a refusal is worth saying each time.
                Err(error) if error.is_refusal() => {
                    eprintln!("orthrus: the center refused the heartbeat: {error}");
                }
                Err(_) => {}
            }
        }
        match &live {
            Some(live) => live::wait(live, tick, &mut spool, &mut counters)?,
            None => std::thread::sleep(tick),
        }
    }
}

fn heartbeat(
    counters: &Counters,
    stats: &SpoolStats,
    capture: Option<CaptureCounters>,
    config: &SensorConfig,
) -> serde_json::Value {
    let mut beat = Heartbeat {
        version: env!("CARGO_PKG_VERSION").into(),
        packets: counters.network,
        events: counters.events,
        events_expected: config.events_expected,
        spool_bytes: stats.bytes,
        spool_max_bytes: config.spool_max_bytes,
        spool_dropped_batches: stats.dropped_batches,
        ..Heartbeat::default()
    };
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

/// New files of the watched folder, oldest name first, into the disk buffer.
fn read_new_files(
    watch: &Path,
    config: &SensorConfig,
    spool: &mut Spool,
    counters: &mut Counters,
) -> anyhow::Result<()> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(watch)
        .with_context(|| format!("reading {}", watch.display()))?
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_file() && !p.file_name().is_some_and(|n| n.to_string_lossy().starts_with('.')))
        .collect();
    files.sort();
    for path in files {
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        if !spool.has_file(&name)? {
            let mut activities: Vec<Activity> = Vec::new();
            let run =
                crate::analyze::decode_files(std::slice::from_ref(&path), false, &mut |a| activities.push(a));
            if run.failed_files > 0 {
                eprintln!("orthrus: {name} could not be read; moved to failed/");
                move_into(&path, &watch.join("failed"))?;
                continue;
            }
            let activities = counters.take(activities);
            spool.append_file(&name, &activities, config.batch_activities)?;
        }
        move_into(&path, &watch.join("done"))?;
    }
    Ok(())
}

fn move_into(path: &Path, folder: &Path) -> anyhow::Result<()> {
    let target = folder.join(path.file_name().unwrap_or_default());
    std::fs::rename(path, &target)
        .with_context(|| format!("moving {} to {}", path.display(), target.display()))
}

/// Sends waiting batches, oldest first, until none waits or the center fails.
fn ship(client: &CenterClient, spool: &mut Spool) -> anyhow::Result<usize> {
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
