//! EVTX files, through the `evtx` crate (the reference parser; Hayabusa and Chainsaw use it
//! too). Records the crate cannot read (bad chunk, bad template, zero-size record) are
//! counted and skipped, never fatal; only a file whose header is unreadable fails.
//!
//! Nothing is rendered that no mapping uses: each record's System header (provider, channel,
//! event id) is read from its substitution values through the template's field map
//! ([`crate::evtx_template`]) and the record is passed over (counted) unless the caller wants
//! it; a wanted record's fields are taken the same way. Records whose template the map does
//! not follow are rendered whole (to XML) — the slow path, kept for correctness.

use std::collections::VecDeque;
use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Mutex, OnceLock, mpsc};

use evtx::{EvtxChunkData, EvtxParser, IntoIterChunks, ParserSettings};
use orthrus_model::Timestamp;

use crate::event::WindowsEvent;
pub use crate::evtx_json::from_json;
use crate::evtx_records::{Outcome, Path, RecordResult, read_chunk};
use crate::evtx_template_cache::TemplateCache;
use crate::{EventError, ReadSummary, Wanted};

/// The EVTX file magic (`ElfFile\0`).
pub const MAGIC: &[u8] = b"ElfFile\0";

/// Parser settings shared by reading and by the benchmark's ceiling run.
pub fn settings(threads: usize) -> ParserSettings {
    ParserSettings::new().num_threads(threads).separate_json_attributes(false)
}

/// Chunks per round: one job for the pool, and the unit read ahead. Small enough that the
/// rounds in flight hold a few MiB per file (a chunk is 64 KiB, its wanted events about as
/// much again), large enough that handing a round over (a job queued, a thread woken, which
/// on a virtual machine is an exit to the host) is rare beside reading its ~2000 records:
/// 16 took 3 % less CPU than 8 on two threads over the benchmark set.
const CHUNKS_PER_ROUND: usize = 16;

/// Reads the records of an EVTX file, in file order, handing `out` those `wanted` accepts
/// by their System header (the rest are counted in [`ReadSummary::passed_over`]).
pub fn read(
    path: &std::path::Path,
    file: &Arc<str>,
    threads: usize,
    wanted: Wanted,
    out: &mut dyn FnMut(WindowsEvent),
) -> Result<ReadSummary, EventError> {
    let mut reader = EvtxReader::open(path, file, threads, wanted)?;
    reader.by_ref().for_each(out);
    Ok(reader.into_summary())
}

/// An EVTX file's wanted events, pulled in file order, a round of chunks at a time. On one
/// thread each round is read when its events are wanted. On more, rounds are read ahead on
/// a pool of `threads - 1` threads while the caller's thread maps and detects what the
/// previous round gave: a pipeline, so the extra threads add wall-clock speed without each
/// round paying for thread start-up or waiting on its slowest part. Memory stays that of
/// the rounds in flight whatever the file's size, so many logs can be merged by time side by
/// side.
pub struct EvtxReader {
    chunks: IntoIterChunks<std::fs::File>,
    reading: Arc<ChunkReading>,
    /// Reads rounds ahead; `None` on one thread.
    pool: Option<Arc<ReadAheadPool>>,
    /// Rounds read or being read, in file order: at most one per pool thread, and one more.
    pending: VecDeque<Round>,
    ready: VecDeque<WindowsEvent>,
    summary: ReadSummary,
    chunks_left: bool,
}

/// One round's records, chunk by chunk in file order; `None` when the job reading it failed.
type RoundRecords = Option<Vec<Vec<RecordResult>>>;

enum Round {
    Read(RoundRecords),
    Reading(mpsc::Receiver<RoundRecords>),
}

impl EvtxReader {
    pub fn open(
        path: &std::path::Path,
        file: &Arc<str>,
        threads: usize,
        wanted: Wanted,
    ) -> Result<Self, EventError> {
        let parser = EvtxParser::from_path(path).map_err(|e| EventError::Evtx(e.to_string()))?;
        Ok(Self {
            chunks: parser.with_configuration(settings(1)).into_chunks(),
            reading: Arc::new(ChunkReading::new(file.clone(), wanted)),
            pool: read_ahead_pool(threads),
            pending: VecDeque::new(),
            ready: VecDeque::new(),
            summary: ReadSummary { format: Some(crate::Format::Evtx), ..ReadSummary::default() },
            chunks_left: true,
        })
    }

    /// What was read so far (all of it once the reader is exhausted).
    pub fn summary(&self) -> &ReadSummary {
        &self.summary
    }

    pub fn into_summary(self) -> ReadSummary {
        self.summary
    }

    /// Tops up the rounds in flight, then hands on the first one's events; `false` once the
    /// file is read.
    fn fill(&mut self) -> bool {
        let in_flight = self.pool.as_ref().map_or(1, |pool| pool.threads + 1);
        while self.chunks_left && self.pending.len() < in_flight {
            let chunks: Vec<_> = self.chunks.by_ref().take(CHUNKS_PER_ROUND).collect();
            self.chunks_left = chunks.len() == CHUNKS_PER_ROUND;
            if chunks.is_empty() {
                break;
            }
            let round = match &self.pool {
                None => Round::Read(Some(self.reading.read_round(chunks))),
                Some(pool) => {
                    let (sender, receiver) = mpsc::sync_channel(1);
                    let reading = self.reading.clone();
                    let queued = pool.spawn(move || {
                        // Caught here: a panic would otherwise end the pool's thread.
                        let records =
                            std::panic::catch_unwind(AssertUnwindSafe(|| reading.read_round(chunks)));
                        // The reader may be gone (dropped part way); nobody waits then.
                        let _ = sender.send(records.ok());
                    });
                    // A pool with no thread left never answers: its round is counted lost.
                    if queued { Round::Reading(receiver) } else { Round::Read(None) }
                }
            };
            self.pending.push_back(round);
        }
        let records = match self.pending.pop_front() {
            None => return false,
            Some(Round::Read(records)) => records,
            Some(Round::Reading(receiver)) => receiver.recv().ok().flatten(),
        };
        let mut ready = std::mem::take(&mut self.ready);
        hand_on(records, &mut self.summary, &mut |event| ready.push_back(event));
        self.ready = ready;
        true
    }
}

impl Iterator for EvtxReader {
    type Item = WindowsEvent;

    fn next(&mut self) -> Option<WindowsEvent> {
        loop {
            if let Some(event) = self.ready.pop_front() {
                return Some(event);
            }
            if !self.fill() {
                return None;
            }
        }
    }
}

/// The pool that reads rounds ahead for `threads` threads in all (the caller's among them),
/// made once per thread count and shared by every reader: opening many logs side by side
/// starts no more threads.
fn read_ahead_pool(threads: usize) -> Option<Arc<ReadAheadPool>> {
    /// Pools by the thread count they serve.
    type Pools = Vec<(usize, Arc<ReadAheadPool>)>;
    static POOLS: OnceLock<Mutex<Pools>> = OnceLock::new();
    if threads <= 1 {
        return None;
    }
    let mut pools = POOLS.get_or_init(Mutex::default).lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    if let Some((_, pool)) = pools.iter().find(|(size, _)| *size == threads) {
        return Some(pool.clone());
    }
    // Without the pool (threads refused by the system), the file is read on one thread.
    let pool = Arc::new(ReadAheadPool::start(threads - 1)?);
    pools.push((threads, pool.clone()));
    Some(pool)
}

type Job = Box<dyn FnOnce() + Send>;

/// Threads taking jobs from one queue, each asleep on it while there is none. Our own rather
/// than rayon's pool (already in the tree): rayon's idle workers spin, looking for work,
/// between jobs, and a pipeline handing over a round at a time left them spinning and
/// switching a tenth of the time on two threads.
struct ReadAheadPool {
    jobs: mpsc::Sender<Job>,
    threads: usize,
}

impl ReadAheadPool {
    fn start(threads: usize) -> Option<Self> {
        let (jobs, queue) = mpsc::channel::<Job>();
        let queue = Arc::new(Mutex::new(queue));
        for n in 0..threads {
            let queue = queue.clone();
            let worker = move || {
                loop {
                    // One thread waits on the queue; the others on its lock.
                    let job = queue.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).recv();
                    match job {
                        Ok(job) => job(),
                        // The pool is gone.
                        Err(_) => break,
                    }
                }
            };
            std::thread::Builder::new().name(format!("evtx-read-{n}")).spawn(worker).ok()?;
        }
        Some(Self { jobs, threads })
    }

    /// Queues `job`; `false` when no thread is left to run it.
    fn spawn(&self, job: impl FnOnce() + Send + 'static) -> bool {
        self.jobs.send(Box::new(job)).is_ok()
    }
}

/// Reads one 64 KiB chunk on its own (as the reader reads each chunk of a file): the entry
/// point fuzzing drives the record walk, the template field maps and the crate fallback by.
pub fn read_chunk_bytes(data: &[u8], wanted: Wanted, out: &mut dyn FnMut(WindowsEvent)) -> ReadSummary {
    let mut summary = ReadSummary { format: Some(crate::Format::Evtx), ..ReadSummary::default() };
    let chunk = EvtxChunkData::new(data.to_vec(), false)
        .map_err(|e| evtx::err::EvtxError::FailedToParseChunk { chunk_id: 0, source: Box::new(e) });
    let reading = ChunkReading::new(Arc::from("chunk"), wanted);
    hand_on(Some(reading.read_round(vec![chunk])), &mut summary, out);
    summary
}

/// How a file's chunks are read.
struct ChunkReading {
    file: Arc<str>,
    wanted: Wanted,
    settings: Arc<ParserSettings>,
    /// Template definitions read in the file's earlier chunks.
    known: Mutex<TemplateCache>,
}

impl ChunkReading {
    fn new(file: Arc<str>, wanted: Wanted) -> Self {
        Self { file, wanted, settings: Arc::new(settings(1)), known: Mutex::default() }
    }

    /// The records of a round of chunks, chunk by chunk; a chunk the file gave no data for
    /// is its error.
    fn read_round(&self, chunks: Vec<evtx::err::Result<EvtxChunkData>>) -> Vec<Vec<RecordResult>> {
        chunks
            .into_iter()
            .map(|chunk| match chunk {
                Ok(mut chunk) => read_chunk(&mut chunk, &self.file, self.wanted, &self.settings, &self.known),
                Err(e) => vec![Err(e)],
            })
            .collect()
    }
}

/// Hands a round's events on in order, counting what was passed over or skipped.
fn hand_on(records: RoundRecords, summary: &mut ReadSummary, out: &mut dyn FnMut(WindowsEvent)) {
    // Never expected (reading does not panic on any input), and never silent.
    let Some(chunks) = records else {
        return summary.skip("EVTX chunks lost to a failed reader thread");
    };
    for record in chunks.into_iter().flatten() {
        if let Ok((_, Path::Rendered)) = record {
            summary.rendered_whole += 1;
        }
        match record.map(|(outcome, _)| outcome) {
            Ok(Outcome::Event(event)) => {
                summary.events += 1;
                out(*event);
            }
            Ok(Outcome::PassedOver) => {
                summary.events += 1;
                summary.passed_over += 1;
            }
            Ok(Outcome::NoSystem) => summary.skip("record without Event/System"),
            Err(e) => summary.skip_with(skip_reason(&e), &e.to_string()),
        }
    }
}

/// Every record of an EVTX file rendered whole to JSON, as the reader did before it read
/// values through templates: the reference the fast path is checked against, and the
/// benchmark's "render everything" side.
pub fn read_rendered(
    path: &std::path::Path,
    file: &Arc<str>,
    threads: usize,
    out: &mut dyn FnMut(WindowsEvent),
) -> Result<ReadSummary, EventError> {
    let parser = EvtxParser::from_path(path).map_err(|e| EventError::Evtx(e.to_string()))?;
    let mut parser = parser.with_configuration(settings(threads));
    let mut summary = ReadSummary::default();
    for record in parser.records_json_value() {
        match record {
            Ok(record) => {
                let time = Timestamp::from_micros(record.timestamp.as_microsecond());
                match from_json(&record.data, time, record.event_record_id, file) {
                    Some(event) => {
                        summary.events += 1;
                        out(event);
                    }
                    None => summary.skip("record without Event/System"),
                }
            }
            Err(e) => summary.skip_with(skip_reason(&e), &e.to_string()),
        }
    }
    Ok(summary)
}

fn skip_reason(e: &evtx::err::EvtxError) -> &'static str {
    use evtx::err::{ChunkError, EvtxError};
    match e {
        // Windows preallocates chunk slots; one never written, or left over from an earlier
        // log, has no valid header. Damage looks the same, so both are counted here.
        EvtxError::FailedToParseChunk { source, .. }
            if matches!(**source, ChunkError::FailedToParseChunkHeader(_)) =>
        {
            "EVTX chunk slot without a valid header (unused or damaged)"
        }
        EvtxError::FailedToParseChunk { .. } => "damaged EVTX chunk",
        _ => "unreadable EVTX record",
    }
}
