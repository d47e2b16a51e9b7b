//! EVTX files, through the `evtx` crate (the reference parser; Hayabusa and Chainsaw use it
//! too). Records the crate cannot read (bad chunk, bad template, zero-size record) are
//! counted and skipped, never fatal; only a file whose header is unreadable fails.
//!
//! Nothing is rendered that no mapping uses: each record's System header (provider, channel,
//! event id) is read from its substitution values through the template's field map
//! ([`crate::evtx_template`]) and the record is passed over (counted) unless the caller wants
//! it; a wanted record's fields are taken the same way. Records whose template the map does
//! not follow are rendered whole (to XML) — the slow path, kept for correctness.

use std::sync::Arc;

use evtx::{EvtxChunkData, EvtxParser, IntoIterChunks, ParserSettings};
use orthrus_model::Timestamp;

use crate::event::WindowsEvent;
pub use crate::evtx_json::from_json;
use crate::evtx_records::{Outcome, Path, RecordResult, read_chunk};
use crate::{EventError, ReadSummary, Wanted};

/// The EVTX file magic (`ElfFile\0`).
pub const MAGIC: &[u8] = b"ElfFile\0";

/// Parser settings shared by reading and by the benchmark's ceiling run.
pub fn settings(threads: usize) -> ParserSettings {
    ParserSettings::new().num_threads(threads).separate_json_attributes(false)
}

/// Chunks read per round: each thread gets as many, so a round keeps every thread busy and
/// holds at most this many 64 KiB chunks (and their events) per thread in memory — a few
/// MiB, against the round's thread start-up (tens of microseconds) spread over ~1000 records.
const CHUNKS_PER_THREAD: usize = 8;

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

/// An EVTX file's wanted events, pulled in file order. Chunks are read one round at a time
/// (`CHUNKS_PER_THREAD` per thread, on `threads` threads); memory stays that of a round
/// whatever the file's size, so many logs can be merged by time side by side.
pub struct EvtxReader {
    chunks: IntoIterChunks<std::fs::File>,
    reading: ChunkReading,
    round: Vec<EvtxChunkData>,
    ready: std::collections::VecDeque<WindowsEvent>,
    summary: ReadSummary,
    done: bool,
}

impl EvtxReader {
    pub fn open(
        path: &std::path::Path,
        file: &Arc<str>,
        threads: usize,
        wanted: Wanted,
    ) -> Result<Self, EventError> {
        let parser = EvtxParser::from_path(path).map_err(|e| EventError::Evtx(e.to_string()))?;
        let threads = threads.max(1);
        Ok(Self {
            chunks: parser.with_configuration(settings(1)).into_chunks(),
            reading: ChunkReading { file: file.clone(), wanted, threads, settings: Arc::new(settings(1)) },
            round: Vec::with_capacity(threads * CHUNKS_PER_THREAD),
            ready: std::collections::VecDeque::new(),
            summary: ReadSummary { format: Some(crate::Format::Evtx), ..ReadSummary::default() },
            done: false,
        })
    }

    /// What was read so far (all of it once the reader is exhausted).
    pub fn summary(&self) -> &ReadSummary {
        &self.summary
    }

    pub fn into_summary(self) -> ReadSummary {
        self.summary
    }

    /// Reads the next round of chunks into `ready`.
    fn fill(&mut self) {
        let mut ready = std::mem::take(&mut self.ready);
        let mut out = |event| ready.push_back(event);
        while self.round.len() < self.round.capacity() {
            match self.chunks.next() {
                Some(Ok(chunk)) => self.round.push(chunk),
                Some(Err(e)) => {
                    // Records of the chunks before it first, in file order.
                    self.reading.read(&mut self.round, &mut self.summary, &mut out);
                    self.summary.skip_with(skip_reason(&e), &e.to_string());
                }
                None => {
                    self.done = true;
                    break;
                }
            }
        }
        self.reading.read(&mut self.round, &mut self.summary, &mut out);
        self.ready = ready;
    }
}

impl Iterator for EvtxReader {
    type Item = WindowsEvent;

    fn next(&mut self) -> Option<WindowsEvent> {
        loop {
            if let Some(event) = self.ready.pop_front() {
                return Some(event);
            }
            if self.done {
                return None;
            }
            self.fill();
        }
    }
}

/// Reads one 64 KiB chunk on its own (as the reader reads each chunk of a file): the entry
/// point fuzzing drives the record walk, the template field maps and the crate fallback by.
pub fn read_chunk_bytes(data: &[u8], wanted: Wanted, out: &mut dyn FnMut(WindowsEvent)) -> ReadSummary {
    let mut summary = ReadSummary { format: Some(crate::Format::Evtx), ..ReadSummary::default() };
    match EvtxChunkData::new(data.to_vec(), false) {
        Ok(chunk) => {
            let reading = ChunkReading {
                file: Arc::from("chunk"),
                wanted,
                threads: 1,
                settings: Arc::new(settings(1)),
            };
            reading.read(&mut vec![chunk], &mut summary, out);
        }
        Err(e) => {
            let e = evtx::err::EvtxError::FailedToParseChunk { chunk_id: 0, source: Box::new(e) };
            summary.skip_with(skip_reason(&e), &e.to_string());
        }
    }
    summary
}

/// How a file's chunks are read.
struct ChunkReading {
    file: Arc<str>,
    wanted: Wanted,
    threads: usize,
    settings: Arc<ParserSettings>,
}

impl ChunkReading {
    /// Reads a round of chunks (split over the threads) and hands their events on in order.
    fn read(
        &self,
        round: &mut Vec<EvtxChunkData>,
        summary: &mut ReadSummary,
        out: &mut dyn FnMut(WindowsEvent),
    ) {
        let (file, wanted, settings, threads) = (&self.file, self.wanted, &self.settings, self.threads);
        let per_thread = round.len().div_ceil(threads).max(1);
        // Per part of the round, its chunks' records; `None` for a part whose thread panicked.
        let results: Vec<Option<Vec<Vec<RecordResult>>>> = if threads == 1 || round.len() <= 1 {
            vec![Some(round.iter_mut().map(|chunk| read_chunk(chunk, file, wanted, settings)).collect())]
        } else {
            std::thread::scope(|scope| {
                let workers: Vec<_> = round
                    .chunks_mut(per_thread)
                    .map(|part| {
                        scope.spawn(move || {
                            part.iter_mut()
                                .map(|chunk| read_chunk(chunk, file, wanted, settings))
                                .collect::<Vec<_>>()
                        })
                    })
                    .collect();
                workers.into_iter().map(|worker| worker.join().ok()).collect()
            })
        };
        round.clear();
        let mut records = Vec::new();
        for part in results {
            match part {
                Some(chunks) => records.extend(chunks.into_iter().flatten()),
                // Never expected (reading does not panic on any input), and never silent.
                None => summary.skip("EVTX chunks lost to a failed reader thread"),
            }
        }
        for record in records {
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
