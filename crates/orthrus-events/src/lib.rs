//! Windows event intake.
//!
//! Every form a Windows shop keeps its events in becomes one [`WindowsEvent`] (channel,
//! provider, event id, record id, time, computer, named data fields), and [`map`] turns the
//! events Orthrus understands into the same [`orthrus_model::Activity`] values the network
//! side produces:
//!
//! - EVTX files ([`evtx`], through the `evtx` crate);
//! - Windows Event Forwarding rendered XML ([`xml`]);
//! - JSON: Winlogbeat / Elastic Agent (ECS), PowerShell `Get-WinEvent | ConvertTo-Json`,
//!   NXLog's flat JSON ([`json`]);
//! - syslog-wrapped events: NXLog (JSON body) and Snare (`MSWinEventLog`) ([`syslog`]);
//! - Samba's JSON audit log ([`samba`]).
//!
//! Nothing here panics on bad input: unreadable records are counted per reason in the
//! [`ReadSummary`] and skipped.

pub mod event;
pub mod evtx;
mod evtx_json;
mod evtx_records;
pub mod evtx_template;
mod evtx_template_cache;
pub mod json;
pub mod map;
pub mod samba;
pub mod schema;
pub mod syslog;
mod text_stream;
pub use text_stream::read_sliced;
pub mod xml;

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;

pub use event::{EventData, WindowsEvent};
pub use map::{MapContext, to_activity};

#[derive(Debug, thiserror::Error)]
pub enum EventError {
    #[error("cannot read {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("not an EVTX file: {0}")]
    Evtx(String),
    #[error("{path}: not an event log Orthrus reads (EVTX, XML, JSON, syslog or Samba audit log)")]
    UnknownFormat { path: PathBuf },
}

/// How much of a file was read, and what was skipped and why.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ReadSummary {
    pub format: Option<Format>,
    pub events: u64,
    /// Of `events`, those passed over by their System header because no mapping uses them
    /// (read, counted, never rendered).
    pub passed_over: u64,
    /// EVTX records rendered whole because their template has a shape the field map does not
    /// follow (the slow path; a handful in real logs).
    pub rendered_whole: u64,
    /// Records skipped, by reason.
    pub skipped: BTreeMap<&'static str, u64>,
    /// The first few skip details, for the log.
    pub examples: Vec<String>,
}

impl ReadSummary {
    const MAX_EXAMPLES: usize = 5;

    pub fn skip(&mut self, reason: &'static str) {
        *self.skipped.entry(reason).or_default() += 1;
    }

    pub fn skip_with(&mut self, reason: &'static str, detail: &str) {
        self.skip(reason);
        if self.examples.len() < Self::MAX_EXAMPLES {
            let detail: String = detail.chars().take(200).collect();
            self.examples.push(format!("{reason}: {detail}"));
        }
    }

    pub fn skipped_total(&self) -> u64 {
        self.skipped.values().sum()
    }
}

/// The forms of event log Orthrus reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Evtx,
    Xml,
    /// One JSON document per line, or one JSON array of events.
    Json,
    Syslog,
    SambaAudit,
}

impl Format {
    pub fn name(self) -> &'static str {
        match self {
            Format::Evtx => "EVTX",
            Format::Xml => "event XML",
            Format::Json => "event JSON",
            Format::Syslog => "syslog",
            Format::SambaAudit => "Samba audit log",
        }
    }
}

/// Whether the file at `path` is an event log (rather than a capture), by its first bytes;
/// gzip-compressed text logs are looked into.
pub fn sniff_file(path: &Path) -> Option<Format> {
    let mut head = [0u8; 4096];
    let mut file = std::fs::File::open(path).ok()?;
    let n = read_up_to(&mut file, &mut head).ok()?;
    let head = head.get(..n)?;
    if head.starts_with(GZIP_MAGIC) {
        let file = std::fs::File::open(path).ok()?;
        let mut plain = [0u8; 4096];
        let n = read_up_to(&mut flate2::read::MultiGzDecoder::new(file), &mut plain).ok()?;
        return sniff(plain.get(..n)?);
    }
    sniff(head)
}

/// Whether a file's first bytes look like an event log (rather than a capture).
pub fn sniff(head: &[u8]) -> Option<Format> {
    if head.starts_with(evtx::MAGIC) {
        return Some(Format::Evtx);
    }
    const CAPTURE_MAGICS: [[u8; 4]; 5] = [
        [0xd4, 0xc3, 0xb2, 0xa1],
        [0xa1, 0xb2, 0xc3, 0xd4],
        [0x4d, 0x3c, 0xb2, 0xa1],
        [0xa1, 0xb2, 0x3c, 0x4d],
        [0x0a, 0x0d, 0x0d, 0x0a],
    ];
    if CAPTURE_MAGICS.iter().any(|m| head.starts_with(m)) {
        return None;
    }
    let text = decode_text(head);
    if text.contains('\0') {
        return None;
    }
    let text = text.trim_start_matches('\u{feff}').trim_start();
    let first_line = text.lines().next().unwrap_or_default();
    if syslog::looks_like_syslog(first_line) {
        return Some(Format::Syslog);
    }
    if text.starts_with('<') {
        return Some(Format::Xml);
    }
    if text.starts_with('{') || text.starts_with('[') {
        let first_line = text.lines().next().unwrap_or_default();
        return Some(if samba::is_audit_line(first_line) { Format::SambaAudit } else { Format::Json });
    }
    None
}

const GZIP_MAGIC: &[u8] = &[0x1f, 0x8b];

/// Which events a reader hands on, by their System header, and which of their data fields.
/// An EVTX reader decides both before reading anything else of a record.
#[derive(Clone, Copy, Debug)]
pub struct Wanted {
    /// By provider, channel and event id.
    pub event: fn(&str, &str, u32) -> bool,
    /// By field name.
    pub field: fn(&str) -> bool,
}

impl Wanted {
    /// Every event, every field.
    pub const EVERYTHING: Wanted = Wanted { event: |_, _, _| true, field: |_| true };
}

/// Reads one event log file, whatever its form (gzip-compressed text logs too), calling `out`
/// for every event in file order. Provenance names the file `label`. EVTX parsing uses
/// `threads` worker threads.
pub fn read_file(
    path: &Path,
    label: &str,
    threads: usize,
    out: &mut dyn FnMut(WindowsEvent),
) -> Result<ReadSummary, EventError> {
    read_file_where(path, label, threads, Wanted::EVERYTHING, out)
}

/// [`read_file`] handing on only the events `wanted` accepts: the rest are counted in
/// [`ReadSummary::passed_over`], and an EVTX record's data is not even rendered.
/// [`map::MAPPED`] keeps what an activity can come from.
pub fn read_file_where(
    path: &Path,
    label: &str,
    threads: usize,
    wanted: Wanted,
    out: &mut dyn FnMut(WindowsEvent),
) -> Result<ReadSummary, EventError> {
    let io = |source| EventError::Io { path: path.to_owned(), source };
    let file: Arc<str> = Arc::from(label);
    let mut head = [0u8; 4096];
    let n = {
        let mut f = std::fs::File::open(path).map_err(io)?;
        read_up_to(&mut f, &mut head).map_err(io)?
    };
    let head = head.get(..n).unwrap_or_default();
    if head.starts_with(evtx::MAGIC) {
        let mut summary = evtx::read(path, &file, threads, wanted, out)?;
        summary.format = Some(Format::Evtx);
        return Ok(summary);
    }
    let mut reader = text_stream::TextReader::open(path, label, wanted)?;
    for event in reader.by_ref() {
        out(event);
    }
    Ok(reader.summary().clone())
}

/// One event log's wanted events, pulled one at a time: an EVTX file chunk by chunk, a text
/// log a slice at a time, both in file order with bounded memory whatever their size (the two
/// text forms that cannot be sliced are read whole: see [`text_stream`]).
pub enum EventReader {
    Evtx(evtx::EvtxReader),
    Text(text_stream::TextReader),
}

impl EventReader {
    /// What was read so far (all of it once the reader is exhausted).
    pub fn summary(&self) -> &ReadSummary {
        match self {
            EventReader::Evtx(reader) => reader.summary(),
            EventReader::Text(reader) => reader.summary(),
        }
    }
}

impl Iterator for EventReader {
    type Item = WindowsEvent;

    fn next(&mut self) -> Option<WindowsEvent> {
        match self {
            EventReader::Evtx(reader) => reader.next(),
            EventReader::Text(reader) => reader.next(),
        }
    }
}

/// Opens an event log for pulling its events one at a time (see [`EventReader`]), keeping
/// those `wanted` accepts.
pub fn open_file_where(
    path: &Path,
    label: &str,
    threads: usize,
    wanted: Wanted,
) -> Result<EventReader, EventError> {
    if sniff_file(path) == Some(Format::Evtx) {
        return Ok(EventReader::Evtx(evtx::EvtxReader::open(path, &Arc::from(label), threads, wanted)?));
    }
    Ok(EventReader::Text(text_stream::TextReader::open(path, label, wanted)?))
}

/// Reads text already in memory in the given form.
pub fn read_text(
    format: Format,
    text: &str,
    file: &Arc<str>,
    out: &mut dyn FnMut(WindowsEvent),
) -> ReadSummary {
    let mut summary = ReadSummary { format: Some(format), ..ReadSummary::default() };
    match format {
        Format::Xml => xml::read(text, file, &mut summary, out),
        Format::Json => json::read(text, file, &mut summary, out),
        Format::Syslog => syslog::read(text, file, &mut summary, out),
        Format::SambaAudit => samba::read(text, file, &mut summary, out),
        Format::Evtx => summary.skip("EVTX given as text"),
    }
    summary
}

/// Line numbers of byte offsets that mostly move forward, in time linear in the text (a
/// recount from the start only when asked about an earlier offset).
pub(crate) struct LineCounter<'a> {
    text: &'a str,
    offset: usize,
    line: u64,
}

impl<'a> LineCounter<'a> {
    pub(crate) fn new(text: &'a str) -> Self {
        Self { text, offset: 0, line: 1 }
    }

    /// The 1-based line holding byte `offset`.
    pub(crate) fn line_at(&mut self, offset: usize) -> u64 {
        let offset = offset.min(self.text.len());
        if offset < self.offset {
            self.offset = 0;
            self.line = 1;
        }
        let newlines = self
            .text
            .as_bytes()
            .get(self.offset..offset)
            .map_or(0, |b| b.iter().filter(|c| **c == b'\n').count());
        self.line += newlines as u64;
        self.offset = offset;
        self.line
    }
}

/// UTF-8, or UTF-16 with a byte-order mark (what PowerShell 5.1's `>` writes).
fn decode_text(bytes: &[u8]) -> String {
    let (encoding, mark) = text_stream::encoding_of(bytes);
    let mut text = String::new();
    text_stream::decode_into(bytes.get(mark..).unwrap_or_default(), encoding, &mut text);
    text
}

fn read_up_to(reader: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut filled = 0;
    while let Some(rest) = buf.get_mut(filled..) {
        if rest.is_empty() {
            break;
        }
        match reader.read(rest)? {
            0 => break,
            n => filled += n,
        }
    }
    Ok(filled)
}
