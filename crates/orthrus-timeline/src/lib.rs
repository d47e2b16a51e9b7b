//! Capture files and Windows event logs read as one timeline: what `orthrus analyze`, the
//! sensor's watched folder and the benchmarks all read inputs through.
//!
//! Event logs (EVTX, XML, JSON, syslog, Samba audit) are read side by side and their
//! activities merged by event time with bounded memory ([`merge`]: one stream per log, a
//! small reorder window each, no whole-file read, no global sort); captures are ordered by
//! their first packet's time (so rotated captures such as `dc.pcap0 dc.pcap1 ...` may be
//! given in any order) and decoded through one decoder, so flows and requests that cross a
//! file boundary stay whole. Event activities are
//! merged in before every network activity that is later than they are.
//!
//! ```
//! let files = [orthrus_testkit::fixture("pcap/kerberoast.pcap")];
//! let mut activities = Vec::new();
//! let run = orthrus_timeline::decode_files(&files, &orthrus_timeline::NoProgress, &mut |a| activities.push(a));
//! assert_eq!(run.failed_files, 0);
//! assert!(!activities.is_empty());
//! ```

pub mod merge;

use std::fs::File;
use std::io::Read;
use std::path::PathBuf;

use orthrus_events::ReadSummary;
use orthrus_model::Activity;
use orthrus_net::{
    CaptureError, CaptureSummary, DecodeStats, Decoder, DecoderConfig, capture, decode_reader, file_label,
};

/// Where a long read reports how far it got (a terminal's progress bar; nothing, by default).
pub trait Progress {
    /// Event logs are about to be read: this many files of this many bytes in all.
    fn event_files(&self, _files: u64, _bytes: u64) {}
    /// One event log starts.
    fn event_file(&self, _label: &str) {}
    /// One event log is done.
    fn event_file_done(&self) {}
    /// Captures are about to be read: this many bytes in all.
    fn captures(&self, _bytes: u64) {}
    /// A capture's bytes as they are read (wrapped to count them).
    fn capture_reader(&self, reader: Box<dyn Read + Send>) -> Box<dyn Read + Send> {
        reader
    }
    /// A phase (event logs, captures) ended.
    fn phase_done(&self) {}
}

/// No progress shown.
pub struct NoProgress;

impl Progress for NoProgress {}

/// What happened to each input file.
pub struct FileResult {
    pub label: String,
    pub outcome: FileOutcome,
}

pub enum FileOutcome {
    Capture(CaptureSummary),
    /// `late`: activities further out of time order than the reorder window
    /// ([`merge::REORDER_WINDOW`]), handed on where they were.
    Events {
        summary: ReadSummary,
        activities: u64,
        late: u64,
    },
    Failed(String),
}

/// What a run read.
pub struct Run {
    pub stats: DecodeStats,
    pub files: Vec<FileResult>,
    pub failed_files: usize,
}

/// Decodes the files as one timeline (see the crate's doc); activities go to `out` in that
/// order.
pub fn decode_files(files: &[PathBuf], progress: &dyn Progress, out: &mut dyn FnMut(Activity)) -> Run {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    decode_files_on(files, threads, progress, out)
}

/// [`decode_files`] parsing EVTX chunks on `threads` threads (every core by default).
pub fn decode_files_on(
    files: &[PathBuf],
    threads: usize,
    progress: &dyn Progress,
    out: &mut dyn FnMut(Activity),
) -> Run {
    let (event_files, captures): (Vec<&PathBuf>, Vec<&PathBuf>) =
        files.iter().partition(|path| orthrus_events::sniff_file(path).is_some());
    let mut run = Run { stats: DecodeStats::default(), files: Vec::new(), failed_files: 0 };
    // The logs are read while the captures are: the captures' bar (by bytes) shows the run
    // then, and the logs' bar (by file) only when there is no capture.
    let event_progress: &dyn Progress = if captures.is_empty() { progress } else { &NoProgress };
    event_progress.event_files(event_files.len() as u64, total_bytes(&event_files));
    let mut events = merge::EventMerge::open(&event_files, threads.max(1), event_progress);
    let mut pending = events.by_ref().peekable();
    let mut merged = |activity: Activity| {
        while let Some(earlier) = pending.next_if(|e| e.time <= activity.time) {
            out(earlier);
        }
        out(activity);
    };
    decode_captures(&captures, progress, &mut run, &mut merged);
    pending.for_each(&mut *out);
    let (mut results, failed) = events.finish();
    if captures.is_empty() {
        progress.phase_done();
    }
    results.append(&mut run.files);
    run.files = results;
    run.failed_files += failed;
    run
}

fn total_bytes(files: &[&PathBuf]) -> u64 {
    files.iter().filter_map(|f| std::fs::metadata(f).ok()).map(|m| m.len()).sum()
}

fn decode_captures(
    files: &[&PathBuf],
    progress: &dyn Progress,
    run: &mut Run,
    out: &mut dyn FnMut(Activity),
) {
    progress.captures(total_bytes(files));
    let mut ordered: Vec<(i64, usize, &PathBuf)> = files
        .iter()
        .copied()
        .enumerate()
        .map(|(index, path)| {
            let first = capture::open(path).ok().and_then(|r| capture::first_timestamp(r).ok().flatten());
            // Unreadable and empty files go last; reading them again reports why.
            (first.unwrap_or(i64::MAX), index, path)
        })
        .collect();
    ordered.sort_unstable();
    let mut decoder = Decoder::new(DecoderConfig::default());
    for (_, _, path) in ordered {
        let label = file_label(path);
        let outcome = File::open(path).map_err(|e| format!("cannot open: {e}")).and_then(|file| {
            let reader = progress.capture_reader(Box::new(file));
            decode_reader(reader, &label, &mut decoder, out).map_err(|e| match e {
                CaptureError::NotACapture => {
                    "neither a capture (pcap, pcapng) nor an event log Orthrus reads \
                                              (EVTX, event XML or JSON, syslog, Samba audit log)"
                        .to_owned()
                }
                other => other.to_string(),
            })
        });
        let outcome = match outcome {
            Ok(summary) => {
                if summary.corrupt.is_some() {
                    run.failed_files += 1;
                }
                FileOutcome::Capture(summary)
            }
            Err(e) => {
                run.failed_files += 1;
                FileOutcome::Failed(e)
            }
        };
        run.files.push(FileResult { label, outcome });
    }
    decoder.finish(out);
    run.stats = decoder.stats();
    progress.phase_done();
}
