//! `orthrus sensor`: watches a folder for capture files and event logs (what a capture ring
//! or an event forwarder drops there), decodes each into activities, keeps them in the disk
//! buffer, and ships them to the center over pinned HTTPS, with heartbeats. A file is read
//! once: it is recorded in the buffer in the same transaction as its batches, then moved to
//! `done/` (or `failed/` when it cannot be read). The center down, the batches wait; the
//! sensor restarted, it carries on where it was.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::Context;
use orthrus_model::Activity;
use orthrus_sensor::client::CenterClient;
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
struct SensorConfig {
    /// `https://HOST:PORT` of the center.
    center: String,
    /// The center certificate's SHA-256 fingerprint, as `orthrus server` prints it.
    center_fingerprint: String,
    /// A file holding the sensor's token (`orthrus admin sensor add` printed it).
    token_file: PathBuf,
    /// The folder to watch.
    watch: PathBuf,
    #[serde(default = "default_spool")]
    spool: PathBuf,
    #[serde(default = "default_spool_max")]
    spool_max_bytes: u64,
    #[serde(default = "default_batch")]
    batch_activities: usize,
    #[serde(default = "default_heartbeat")]
    heartbeat_secs: u64,
    #[serde(default = "default_poll")]
    poll_millis: u64,
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

/// What the sensor has read since it started, for its heartbeats.
#[derive(Default)]
struct Counters {
    network: u64,
    events: u64,
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
    for folder in ["done", "failed"] {
        std::fs::create_dir_all(config.watch.join(folder))
            .with_context(|| format!("creating {}", config.watch.join(folder).display()))?;
    }
    eprintln!("orthrus: sensor watching {} for {}", config.watch.display(), config.center);
    let mut counters = Counters::default();
    let mut backoff = Duration::from_millis(config.poll_millis.max(100));
    let mut last_heartbeat: Option<Instant> = None;
    let mut center_down = false;
    loop {
        read_new_files(&config, &mut spool, &mut counters)?;
        match ship(&client, &mut spool) {
            Ok(_) => {
                if center_down {
                    eprintln!("orthrus: center reachable again");
                }
                center_down = false;
                backoff = Duration::from_millis(config.poll_millis.max(100));
            }
            Err(error) => {
                if !center_down {
                    eprintln!("orthrus: center unreachable, batches wait in the disk buffer: {error}");
                }
                center_down = true;
                backoff = (backoff * 2).min(Duration::from_secs(30));
            }
        }
        if last_heartbeat.is_none_or(|t| t.elapsed() >= Duration::from_secs(config.heartbeat_secs)) {
            let stats = spool.stats()?;
            if client.post("/api/v1/sensor/heartbeat", &heartbeat(&counters, &stats, &config)).is_ok() {
                last_heartbeat = Some(Instant::now());
            }
        }
        std::thread::sleep(backoff);
    }
}

fn heartbeat(counters: &Counters, stats: &SpoolStats, config: &SensorConfig) -> serde_json::Value {
    json!({
        "version": env!("CARGO_PKG_VERSION"),
        "packets": counters.network,
        "events": counters.events,
        "spool_bytes": stats.bytes,
        "spool_max_bytes": config.spool_max_bytes,
        "spool_dropped_batches": stats.dropped_batches,
    })
}

/// New files of the watched folder, oldest name first, into the disk buffer.
fn read_new_files(config: &SensorConfig, spool: &mut Spool, counters: &mut Counters) -> anyhow::Result<()> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(&config.watch)
        .with_context(|| format!("reading {}", config.watch.display()))?
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
                move_into(&path, &config.watch.join("failed"))?;
                continue;
            }
            for activity in &activities {
                if activity.from_event_log() {
                    counters.events += 1;
                } else {
                    counters.network += 1;
                }
            }
            spool.append_file(&name, &activities, config.batch_activities)?;
        }
        move_into(&path, &config.watch.join("done"))?;
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
