//! `orthrus sensor`: reads the configuration, then runs the sensor's loop
//! (`orthrus_sensor::run`) until Ctrl-C or SIGTERM, saying on standard error what it does.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use anyhow::Context;
use orthrus_sensor::run::{SensorConfig, SensorError, SensorEvent};

#[derive(clap::Args)]
pub struct SensorArgs {
    /// The sensor's configuration (TOML).
    #[arg(long, env = "ORTHRUS_SENSOR_CONFIG")]
    config: PathBuf,
}

/// Set once Ctrl-C or SIGTERM (what service managers send) arrives: the loop then stops at its
/// next turn, keeping what it captured. A small runtime on its own thread waits for the signal.
fn stop_requested() -> Arc<AtomicBool> {
    let flag = Arc::new(AtomicBool::new(false));
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

/// What the loop says, as the operator reads it.
fn say(event: SensorEvent<'_>) {
    match event {
        SensorEvent::Watching { folder, center } => {
            eprintln!("orthrus: sensor watching {} for {center}", folder.display());
        }
        SensorEvent::Capturing { interface, center } => {
            eprintln!("orthrus: sensor capturing on {interface} for {center}");
        }
        SensorEvent::Listening { listener, address } => {
            eprintln!("orthrus: sensor taking forwarded events ({listener}) on {address}");
        }
        SensorEvent::FileFailed(name) => eprintln!("orthrus: {name} could not be read; moved to failed/"),
        SensorEvent::FileRefused { name, why } => {
            eprintln!("orthrus: {name} refused unread ({why}); moved to refused/")
        }
        SensorEvent::CenterDown(error) => {
            eprintln!("orthrus: center unreachable, batches wait in the disk buffer: {error}");
        }
        SensorEvent::CenterUp => eprintln!("orthrus: center reachable again"),
        SensorEvent::HeartbeatRefused(error) => {
            eprintln!("orthrus: the center refused the heartbeat: {error}")
        }
        SensorEvent::Stopped { waiting } => {
            eprintln!("orthrus: sensor stopped; {waiting} batches wait in the disk buffer");
        }
    }
}

pub fn sensor(args: &SensorArgs) -> anyhow::Result<u8> {
    let text = std::fs::read_to_string(&args.config)
        .with_context(|| format!("reading {}", args.config.display()))?;
    let config: SensorConfig =
        toml::from_str(&text).with_context(|| format!("in {}", args.config.display()))?;
    let stop = stop_requested();
    match orthrus_sensor::run::run(&config, &stop, &mut say) {
        Ok(()) => Ok(crate::exit::OK),
        Err(error @ SensorError::Config(_)) => Err(anyhow::anyhow!("{}: {error}", args.config.display())),
        Err(error) => Err(error.into()),
    }
}
