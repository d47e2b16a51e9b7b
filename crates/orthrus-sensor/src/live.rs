//! Live capture from a network interface with libpcap (feature `libpcap`): the frames go
//! through the same decoder as capture files, on a thread of their own, and come out as
//! batches of activities, cut by size or by age. libpcap (through the `pcap` crate) rather
//! than our own ring: it is what every capture tool on a DC's mirror port already trusts,
//! applies the BPF filter in the kernel, and counts the kernel's drops.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, SyncSender};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use orthrus_model::Activity;
use orthrus_net::{DecodeStats, Decoder, DecoderConfig, Frame};
use serde::Serialize;

/// What a sensor beside a DC captures by default: the ports of the protocols Orthrus decodes,
/// the RPC dynamic range (DRSUAPI, LSARPC, SAMR over TCP after the endpoint mapper), and IP
/// fragments (a fragmented Kerberos answer's later fragments carry no ports).
pub const DEFAULT_FILTER: &str = "(tcp or udp) and (port 53 or port 88 or port 135 or port 137 or port 139 \
     or port 389 or port 445 or port 464 or port 636 or port 3268 or port 3269 or port 3389 or port 80 \
     or port 5985 or portrange 49152-65535) or (ip[6:2] & 0x3fff != 0) or (ip6 and ip6[6] == 44)";

/// Batches waiting for the sensor's main loop; beyond it the capture thread waits (and the
/// kernel's buffer, then its drop counter, takes the excess).
const PENDING_BATCHES: usize = 16;
/// libpcap's read timeout. The capture is non-blocking (on Linux a blocking read with a
/// timeout still waits for the next packet, so a quiet link would hold a batch forever); the
/// timeout only bounds how long the kernel holds packets before handing them over.
const READ_TIMEOUT_MILLIS: i32 = 100;
/// The pause when no packet waits: short enough that the kernel's buffer never fills at DC
/// rates, long enough that an idle sensor costs nothing.
const IDLE_WAIT: Duration = Duration::from_millis(5);
/// How often the capture counters are refreshed.
const STATS_INTERVAL: Duration = Duration::from_secs(1);

#[derive(Debug, thiserror::Error)]
pub enum LiveError {
    #[error("capture on {interface}: {source}")]
    Open {
        interface: String,
        #[source]
        source: pcap::Error,
    },
    #[error("capture filter {filter:?}: {source}")]
    Filter {
        filter: String,
        #[source]
        source: pcap::Error,
    },
    #[error("capture thread: {0}")]
    Thread(#[from] std::io::Error),
}

#[derive(Debug, Clone)]
pub struct LiveConfig {
    pub interface: String,
    /// BPF filter; [`DEFAULT_FILTER`] when None; an empty string captures everything.
    pub filter: Option<String>,
    pub snaplen: i32,
    /// The kernel's capture buffer.
    pub buffer_bytes: i32,
    pub promiscuous: bool,
    pub batch_activities: usize,
    pub batch_age: Duration,
    pub decoder: DecoderConfig,
}

/// Counters since the capture started, for heartbeats.
#[derive(Debug, Clone, Default, Serialize)]
pub struct LiveStats {
    pub interface: String,
    /// Packets the kernel handed to the capture (after the filter).
    pub received: u64,
    /// Dropped for lack of buffer space (the sensor read too slowly).
    pub dropped: u64,
    /// Dropped by the interface or its driver.
    pub interface_dropped: u64,
    pub frames_decoded: u64,
    pub activities: u64,
    pub decode: DecodeStats,
    /// Why the capture ended, when it did (interface gone, permissions).
    pub failure: Option<String>,
}

/// A running capture: batches arrive on [`batches`](Self::batches).
pub struct LiveCapture {
    pub batches: Receiver<Vec<Activity>>,
    stats: Arc<Mutex<LiveStats>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl LiveCapture {
    /// Opens the interface and applies the filter here, so a wrong name, missing rights or a
    /// filter libpcap refuses fail at once; then reads on a thread of its own.
    pub fn start(config: LiveConfig) -> Result<Self, LiveError> {
        let open_error = |source| LiveError::Open { interface: config.interface.clone(), source };
        let mut capture = pcap::Capture::from_device(config.interface.as_str())
            .map_err(open_error)?
            .promisc(config.promiscuous)
            .snaplen(config.snaplen)
            .buffer_size(config.buffer_bytes)
            .timeout(READ_TIMEOUT_MILLIS)
            .open()
            .map_err(open_error)?
            .setnonblock()
            .map_err(open_error)?;
        let filter = config.filter.clone().unwrap_or_else(|| DEFAULT_FILTER.to_owned());
        if !filter.trim().is_empty() {
            capture.filter(&filter, true).map_err(|source| LiveError::Filter { filter, source })?;
        }
        let (sender, batches) = std::sync::mpsc::sync_channel(PENDING_BATCHES);
        let stats =
            Arc::new(Mutex::new(LiveStats { interface: config.interface.clone(), ..LiveStats::default() }));
        let stop = Arc::new(AtomicBool::new(false));
        let reader = Reader { config, sender, stats: stats.clone(), stop: stop.clone() };
        let thread =
            std::thread::Builder::new().name("orthrus-capture".into()).spawn(move || reader.run(capture))?;
        Ok(Self { batches, stats, stop, thread: Some(thread) })
    }

    /// Stops the capture and returns every batch not yet taken, the decoder's last
    /// activities (flows and requests still open) included: nothing captured is left behind.
    pub fn stop(mut self) -> Vec<Vec<Activity>> {
        self.stop.store(true, Ordering::Relaxed);
        let mut rest = Vec::new();
        // The reader sends what it holds and ends; its sender then closes the channel.
        while let Ok(batch) = self.batches.recv() {
            rest.push(batch);
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
        rest
    }

    pub fn stats(&self) -> LiveStats {
        self.stats.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }
}

impl Drop for LiveCapture {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        // The thread may wait on a full channel: empty it so it sees the stop.
        while self.batches.try_recv().is_ok() {}
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

struct Reader {
    config: LiveConfig,
    sender: SyncSender<Vec<Activity>>,
    stats: Arc<Mutex<LiveStats>>,
    stop: Arc<AtomicBool>,
}

impl Reader {
    fn run(self, mut capture: pcap::Capture<pcap::Active>) {
        let linktype = capture.get_datalink().0;
        let mut decoder = Decoder::new(self.config.decoder.clone());
        decoder.set_file(&format!("live:{}", self.config.interface));
        let mut pending: Vec<Activity> = Vec::new();
        let mut frames = 0u64;
        let mut activities = 0u64;
        let mut batch_started = Instant::now();
        let mut stats_at = Instant::now();
        let mut failure = None;
        while !self.stop.load(Ordering::Relaxed) {
            match capture.next_packet() {
                Ok(packet) => {
                    frames += 1;
                    let ts_micros = packet
                        .header
                        .ts
                        .tv_sec
                        .saturating_mul(1_000_000)
                        .saturating_add(packet.header.ts.tv_usec);
                    let frame = Frame {
                        number: frames,
                        ts_micros,
                        linktype,
                        data: packet.data,
                        orig_len: packet.header.len,
                    };
                    decoder.frame(&frame, &mut |activity| pending.push(activity));
                }
                Err(pcap::Error::TimeoutExpired) => std::thread::sleep(IDLE_WAIT),
                Err(error) => {
                    failure = Some(error.to_string());
                    break;
                }
            }
            if pending.is_empty() {
                batch_started = Instant::now();
            } else if pending.len() >= self.config.batch_activities
                || batch_started.elapsed() >= self.config.batch_age
            {
                activities += pending.len() as u64;
                if self.sender.send(std::mem::take(&mut pending)).is_err() {
                    return;
                }
                batch_started = Instant::now();
            }
            if stats_at.elapsed() >= STATS_INTERVAL {
                self.record(&mut capture, &decoder, frames, activities, None);
                stats_at = Instant::now();
            }
        }
        // Stopped or failed: what the decoder still holds is released, not lost.
        decoder.finish(&mut |activity| pending.push(activity));
        activities += pending.len() as u64;
        if !pending.is_empty() {
            let _ = self.sender.send(pending);
        }
        self.record(&mut capture, &decoder, frames, activities, failure);
    }

    fn record(
        &self,
        capture: &mut pcap::Capture<pcap::Active>,
        decoder: &Decoder,
        frames: u64,
        activities: u64,
        failure: Option<String>,
    ) {
        let counters = capture.stats().ok();
        let mut stats = self.stats.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(counters) = counters {
            stats.received = u64::from(counters.received);
            stats.dropped = u64::from(counters.dropped);
            stats.interface_dropped = u64::from(counters.if_dropped);
        }
        stats.frames_decoded = frames;
        stats.activities = activities;
        stats.decode = decoder.stats();
        if failure.is_some() {
            stats.failure = failure;
        }
    }
}
