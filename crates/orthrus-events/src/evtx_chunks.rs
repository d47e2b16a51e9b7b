//! An EVTX file's chunks in record order, each read into a buffer the reader gives back once
//! the chunk's records are read, so a file of any size costs a round's buffers and no fresh
//! 64 KiB allocation (and its page faults) per chunk. The `evtx` crate's own chunk iterator
//! allocates one per chunk and lends none back; its walk is followed here step by step: from
//! the chunk holding the oldest records to the end of the file, then from the start of the
//! file to that chunk (a log that wrapped around), empty slots skipped, reading on past the
//! header's chunk count for logs not closed cleanly.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};

use evtx::err::{ChunkError, EvtxError};
use evtx::{EvtxChunkData, EvtxChunkHeader, EvtxParser};

use crate::EventError;

const FILE_HEADER: u64 = 4096;
const CHUNK: usize = 65536;
const CHUNK_HEADER: usize = 512;

/// Buffers kept for reuse at most: a round's chunks (threads × chunks per thread) come back
/// together.
const MAX_SPARE: usize = 256;

pub(crate) struct Chunks {
    file: File,
    /// Whole chunks the file's length holds.
    count: u64,
    next: u64,
    /// The chunk holding the oldest records: where the walk starts, and where it ends once it
    /// has wrapped around.
    oldest: u64,
    wrapped: bool,
    spare: Vec<Vec<u8>>,
}

impl Chunks {
    pub(crate) fn open(path: &std::path::Path) -> Result<Self, EventError> {
        // The crate judges the file header: a file it refuses fails here as it did.
        EvtxParser::from_path(path).map_err(|e| EventError::Evtx(e.to_string()))?;
        let io = |source| EventError::Io { path: path.to_owned(), source };
        let mut file = File::open(path).map_err(io)?;
        let length = file.metadata().map_err(io)?.len();
        let count = length.saturating_sub(FILE_HEADER) / CHUNK as u64;
        let oldest = oldest_chunk(&mut file, count);
        Ok(Self { file, count, next: oldest, oldest, wrapped: false, spare: Vec::new() })
    }

    /// Gives a chunk's buffer back for the next chunk read.
    pub(crate) fn recycle(&mut self, data: Vec<u8>) {
        if self.spare.len() < MAX_SPARE && data.capacity() >= CHUNK {
            self.spare.push(data);
        }
    }

    /// Reads chunk `number`: `None` for an empty slot.
    fn read(&mut self, number: u64) -> Result<Option<EvtxChunkData>, EvtxError> {
        let fault = |source| EvtxError::FailedToParseChunk { chunk_id: number, source: Box::new(source) };
        let mut data = self.spare.pop().unwrap_or_default();
        data.resize(CHUNK, 0);
        let offset = FILE_HEADER + number * CHUNK as u64;
        if let Err(e) = self.file.seek(SeekFrom::Start(offset)) {
            self.recycle(data);
            return Err(fault(ChunkError::FailedToSeekToChunk(e)));
        }
        if self.file.read_exact(&mut data).is_err() {
            self.recycle(data);
            return Err(fault(ChunkError::IncompleteChunk));
        }
        // Windows preallocates slots; a dirty file may have empty ones between chunks.
        if data.iter().all(|b| *b == 0) {
            self.recycle(data);
            return Ok(None);
        }
        let mut chunk = EvtxChunkData::new(data, false).map_err(fault)?;
        chunk.number = Some(number);
        Ok(Some(chunk))
    }

    /// The next chunk at or after `number` and before `end`, with its number; past the
    /// header's count, a chunk that cannot be read is the end of the file.
    fn find(&mut self, mut number: u64, end: u64) -> Option<(Result<EvtxChunkData, EvtxError>, u64)> {
        loop {
            if number >= end {
                return None;
            }
            match self.read(number) {
                Err(_) if number >= self.count => return None,
                Err(e) => return Some((Err(e), number)),
                Ok(None) => number = number.checked_add(1)?,
                Ok(Some(chunk)) => return Some((Ok(chunk), number)),
            }
        }
    }
}

impl Iterator for Chunks {
    type Item = Result<EvtxChunkData, EvtxError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            let end = if self.wrapped { self.oldest } else { u64::MAX };
            if let Some((chunk, number)) = self.find(self.next, end) {
                self.next = number.checked_add(1)?;
                return Some(chunk);
            }
            if self.wrapped || self.oldest == 0 {
                return None;
            }
            self.wrapped = true;
            self.next = 0;
        }
    }
}

/// The chunk whose header names the lowest record id: where Windows starts reading a log (a
/// full log writes each new chunk over its oldest, so after wrapping around the oldest can
/// be anywhere; the file header names it too, but a log not closed cleanly runs ahead of it).
fn oldest_chunk(file: &mut File, count: u64) -> u64 {
    let mut oldest = (u64::MAX, 0);
    let mut header = [0u8; CHUNK_HEADER];
    for number in 0..count {
        let offset = FILE_HEADER + number * CHUNK as u64;
        if file.seek(SeekFrom::Start(offset)).is_err() || file.read_exact(&mut header).is_err() {
            break;
        }
        // A header whose range is reversed says nothing about where its records belong.
        if let Ok(chunk) = EvtxChunkHeader::from_bytes(&header)
            && chunk.first_event_record_id <= chunk.last_event_record_id
            && chunk.first_event_record_id < oldest.0
        {
            oldest = (chunk.first_event_record_id, number);
        }
    }
    oldest.1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_come_in_the_crates_order_with_the_same_faults_and_buffers_are_reused() {
        // Every EVTX file of the public corpus: wrapped logs, dirty ones, empty slots, damage.
        let mut files = 0;
        for path in orthrus_testkit::corpus_evtx_files() {
            let Ok(parser) = EvtxParser::from_path(&path) else { continue };
            let theirs: Vec<Result<(u64, Vec<u8>), String>> = parser
                .into_chunks()
                .map(|c| c.map(|c| (c.number.unwrap_or(u64::MAX), c.data)).map_err(|e| e.to_string()))
                .collect();
            let mut chunks = Chunks::open(&path).unwrap();
            let mut ours = Vec::new();
            while let Some(chunk) = chunks.next() {
                match chunk {
                    Ok(chunk) => {
                        ours.push(Ok((chunk.number.unwrap_or(u64::MAX), chunk.data.clone())));
                        // Its buffer, with this chunk still in it, takes the next chunk.
                        chunks.recycle(chunk.data);
                    }
                    Err(e) => ours.push(Err(e.to_string())),
                }
            }
            assert_eq!(ours, theirs, "{}", path.display());
            files += 1;
        }
        assert!(files > 100);
    }
}
