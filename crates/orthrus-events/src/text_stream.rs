//! Text logs (event XML, JSON lines, syslog, Samba's audit log) read a slice at a time: each
//! slice ends where a record does (a line; an `</Event>`), is parsed by the format's reader,
//! and its wanted events are handed out before the next slice is read, so memory stays flat
//! whatever the file's size. Two forms are still read whole and ordered by time: pretty-printed
//! JSON (`ConvertTo-Json`'s one array), whose records a slice cannot find the ends of, and a
//! log written newest first (`wevtutil qe /rd:true`), which no bounded window could reorder.

use std::collections::VecDeque;
use std::io::Read;
use std::path::Path;
use std::sync::Arc;

use orthrus_model::Position;

use crate::event::WindowsEvent;
use crate::{EventError, Format, GZIP_MAGIC, ReadSummary, Wanted, read_text, read_up_to, sniff};

/// Bytes read from the file per slice.
const SLICE_BYTES: usize = 1 << 20;

/// Text held without a record's end in it before it is parsed as it stands: no real record is
/// this long, so a file without line breaks or `</Event>`s is damage, and what the reader
/// makes of it is counted rather than held without bound.
const MAX_UNFINISHED: usize = 64 << 20;

#[derive(Clone, Copy, PartialEq)]
pub(crate) enum Encoding {
    Utf8,
    Utf16 { little: bool },
}

/// A text's encoding by its byte-order mark (UTF-8 without one), and the mark's length.
pub(crate) fn encoding_of(head: &[u8]) -> (Encoding, usize) {
    match head {
        [0xff, 0xfe, ..] => (Encoding::Utf16 { little: true }, 2),
        [0xfe, 0xff, ..] => (Encoding::Utf16 { little: false }, 2),
        [0xef, 0xbb, 0xbf, ..] => (Encoding::Utf8, 3),
        _ => (Encoding::Utf8, 0),
    }
}

/// A text log's wanted events, pulled one at a time.
pub struct TextReader {
    input: Box<dyn Read + Send>,
    encoding: Encoding,
    format: Format,
    file: Arc<str>,
    wanted: Wanted,
    /// Bytes read and not decoded yet (a character cut by the slice).
    raw: Vec<u8>,
    /// Text decoded and not parsed yet (a record cut by the slice).
    text: String,
    /// Lines of the text parsed so far: what a slice's line numbers start after.
    lines_before: u64,
    pending: VecDeque<WindowsEvent>,
    /// What a Samba audit log said of itself in the slices before (its DC's name, sessions).
    samba: crate::samba::LogState,
    summary: ReadSummary,
    /// JSON one document per line, as the first slice showed.
    json_lines: bool,
    /// Bytes read per slice ([`SLICE_BYTES`]; tests cut finer).
    slice_bytes: usize,
    /// Nothing left to read: the end was reached, or the rest was read whole and ordered (see
    /// the module's documentation).
    finished: bool,
    first_slice: bool,
    eof: bool,
}

impl TextReader {
    /// Opens a text log (gzip-compressed or not) of a form [`sniff`] knows.
    pub fn open(path: &Path, label: &str, wanted: Wanted) -> Result<Self, EventError> {
        let io = |source| EventError::Io { path: path.to_owned(), source };
        let file = std::fs::File::open(path).map_err(io)?;
        Self::start(Box::new(file), path, label, wanted)
    }

    fn start(
        mut input: Box<dyn Read + Send>,
        path: &Path,
        label: &str,
        wanted: Wanted,
    ) -> Result<Self, EventError> {
        let io = |source| EventError::Io { path: path.to_owned(), source };
        let mut head = vec![0u8; 4096];
        let n = read_up_to(&mut input, &mut head).map_err(io)?;
        head.truncate(n);
        if head.starts_with(GZIP_MAGIC) {
            let plain = flate2::read::MultiGzDecoder::new(std::io::Cursor::new(head).chain(input));
            input = Box::new(plain);
            head = vec![0u8; 4096];
            let n = read_up_to(&mut input, &mut head).map_err(io)?;
            head.truncate(n);
        }
        let format = sniff(&head).ok_or_else(|| EventError::UnknownFormat { path: path.to_owned() })?;
        let (encoding, bom) = encoding_of(&head);
        let raw = head.get(bom..).unwrap_or_default().to_vec();
        Ok(Self {
            input,
            encoding,
            format,
            file: Arc::from(label),
            wanted,
            raw,
            text: String::new(),
            lines_before: 0,
            pending: VecDeque::new(),
            samba: crate::samba::LogState::default(),
            summary: ReadSummary { format: Some(format), ..ReadSummary::default() },
            json_lines: false,
            slice_bytes: SLICE_BYTES,
            finished: false,
            first_slice: true,
            eof: false,
        })
    }

    /// What was read so far (all of it once the reader is exhausted).
    pub fn summary(&self) -> &ReadSummary {
        &self.summary
    }

    /// Reads and decodes the next slice; false at the end of the file (or on a read error,
    /// counted).
    fn fill(&mut self) -> bool {
        if self.eof {
            return false;
        }
        let start = self.raw.len();
        self.raw.resize(start + self.slice_bytes, 0);
        let n = match read_up_to(&mut self.input, self.raw.get_mut(start..).unwrap_or_default()) {
            Ok(n) => n,
            Err(error) => {
                self.summary.skip_with("the rest of the file could not be read", &error.to_string());
                0
            }
        };
        self.raw.truncate(start + n);
        self.eof = n == 0;
        let keep = if self.eof { self.raw.len() } else { decodable(&self.raw, self.encoding) };
        let rest = self.raw.split_off(keep);
        decode_into(&self.raw, self.encoding, &mut self.text);
        self.raw = rest;
        true
    }

    /// Parses the text up to `end` and queues its wanted events.
    fn parse(&mut self, end: usize) {
        let rest = self.text.split_off(end.min(self.text.len()));
        let slice = std::mem::replace(&mut self.text, rest);
        let (wanted, lines_before) = (self.wanted, self.lines_before);
        let mut passed_over = 0;
        let pending = &mut self.pending;
        let mut keep = |mut event: WindowsEvent| {
            if (wanted.event)(&event.provider, &event.channel, event.event_id) {
                if let Position::Line(line) = &mut event.position {
                    *line += lines_before;
                }
                pending.push_back(event);
            } else {
                passed_over += 1;
            }
        };
        let mut read = ReadSummary { format: Some(self.format), ..ReadSummary::default() };
        match self.format {
            Format::SambaAudit => {
                crate::samba::read_with_state(&slice, &self.file, &mut self.samba, &mut read, &mut keep);
            }
            // The file's first slice decided it is JSON lines: a later slice starting with a
            // damaged line is still lines, not a pretty-printed stream.
            Format::Json if self.json_lines => {
                crate::json::read_lines(&slice, &self.file, &mut read, &mut keep)
            }
            _ => read = read_text(self.format, &slice, &self.file, &mut keep),
        }
        self.lines_before += slice.bytes().filter(|b| *b == b'\n').count() as u64;
        absorb(&mut self.summary, read, passed_over, lines_before);
    }

    /// Where the text parsed next ends: after its last whole record.
    fn record_end(&self) -> Option<usize> {
        match self.format {
            Format::Xml => self.text.rfind("</Event>").map(|i| i + "</Event>".len()),
            _ => self.text.rfind('\n').map(|i| i + 1),
        }
    }

    /// Reads the rest of the file, parses it and orders everything by time.
    fn read_whole(&mut self) {
        while self.fill() {}
        self.parse(self.text.len());
        self.pending.make_contiguous().sort_by_key(|event| event.time);
        self.finished = true;
    }

    /// Whether the first slice's events go back in time more often than forward.
    fn newest_first(&self) -> bool {
        let times: Vec<_> = self.pending.iter().map(|e| e.time).collect();
        let back = times.windows(2).filter(|w| matches!(w, [a, b] if b < a)).count();
        let forward = times.windows(2).filter(|w| matches!(w, [a, b] if b > a)).count();
        back > forward
    }
}

/// Reads a text log held in memory `slice_bytes` at a time, as a file is read: the entry
/// point the `text_log` fuzz target drives the slicing by. `None` when the form is not one
/// Orthrus reads.
pub fn read_sliced(
    bytes: &[u8],
    slice_bytes: usize,
    out: &mut dyn FnMut(WindowsEvent),
) -> Option<ReadSummary> {
    let input = Box::new(std::io::Cursor::new(bytes.to_vec()));
    let mut reader = TextReader::start(input, Path::new("memory"), "memory", Wanted::EVERYTHING).ok()?;
    reader.slice_bytes = slice_bytes.max(1);
    for event in reader.by_ref() {
        out(event);
    }
    Some(reader.summary)
}

impl Iterator for TextReader {
    type Item = WindowsEvent;

    fn next(&mut self) -> Option<WindowsEvent> {
        while self.pending.is_empty() && !self.finished {
            let more = self.fill();
            if self.first_slice && self.format == Format::Json {
                self.json_lines = crate::json::is_json_lines(&self.text);
                if !self.json_lines {
                    self.read_whole();
                    break;
                }
            }
            let end = match (more, self.record_end()) {
                (false, _) => self.text.len(),
                (true, Some(end)) => end,
                (true, None) if self.text.len() > MAX_UNFINISHED => self.text.len(),
                (true, None) => continue,
            };
            self.parse(end);
            if std::mem::take(&mut self.first_slice) && self.newest_first() {
                self.read_whole();
            }
            if !more {
                self.finished = true;
            }
        }
        self.pending.pop_front()
    }
}

/// Adds a slice's summary to the file's; its examples' line numbers become the file's.
fn absorb(summary: &mut ReadSummary, slice: ReadSummary, passed_over: u64, lines_before: u64) {
    summary.events += slice.events;
    summary.passed_over += passed_over;
    summary.rendered_whole += slice.rendered_whole;
    for (reason, n) in slice.skipped {
        *summary.skipped.entry(reason).or_default() += n;
    }
    for example in slice.examples {
        if summary.examples.len() >= ReadSummary::MAX_EXAMPLES {
            break;
        }
        summary.examples.push(renumbered(&example, lines_before));
    }
}

/// `reason: line 3: …` of a slice starting after `lines_before` lines → its line in the file.
fn renumbered(example: &str, lines_before: u64) -> String {
    let Some((reason, rest)) = example.split_once(": line ") else { return example.to_owned() };
    let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
    match rest.get(..digits).and_then(|d| d.parse::<u64>().ok()) {
        Some(line) => {
            format!("{reason}: line {}{}", line + lines_before, rest.get(digits..).unwrap_or_default())
        }
        None => example.to_owned(),
    }
}

/// How many of `raw`'s bytes decode whole: a character cut at the end waits for the next slice.
fn decodable(raw: &[u8], encoding: Encoding) -> usize {
    match encoding {
        Encoding::Utf8 => {
            // A lead byte within the last three whose sequence runs past the end.
            for back in 1..=raw.len().min(3) {
                let byte = raw.get(raw.len() - back).copied().unwrap_or_default();
                if byte & 0xc0 == 0x80 {
                    continue;
                }
                let length = match byte {
                    0xf0.. => 4,
                    0xe0.. => 3,
                    0xc0.. => 2,
                    _ => 1,
                };
                return if length > back { raw.len() - back } else { raw.len() };
            }
            raw.len()
        }
        Encoding::Utf16 { little } => {
            let even = raw.len() & !1;
            // A high surrogate last waits for its pair.
            let last = raw.get(even.saturating_sub(2)..even).map(|pair| match pair {
                [a, b] if little => u16::from_le_bytes([*a, *b]),
                [a, b] => u16::from_be_bytes([*a, *b]),
                _ => 0,
            });
            if last.is_some_and(|unit| (0xd800..0xdc00).contains(&unit)) { even - 2 } else { even }
        }
    }
}

pub(crate) fn decode_into(raw: &[u8], encoding: Encoding, text: &mut String) {
    match encoding {
        Encoding::Utf8 => text.push_str(&String::from_utf8_lossy(raw)),
        Encoding::Utf16 { little } => {
            let units = raw.chunks_exact(2).map(|pair| match pair {
                [a, b] if little => u16::from_le_bytes([*a, *b]),
                [a, b] => u16::from_be_bytes([*a, *b]),
                _ => 0xfffd,
            });
            text.extend(char::decode_utf16(units).map(|c| c.unwrap_or('\u{fffd}')));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slices_cut_anywhere_read_as_the_whole_text_reads() {
        // A Samba DC's log names its DC from what earlier lines said and an actor from the
        // session an earlier line opened, and counts lines: all must carry across slices.
        // Slices of a few hundred bytes (after the first 4 KiB read to know the form) cut
        // records and lines everywhere.
        let path = orthrus_testkit::fixture("audit/benign_admin.audit.jsonl");
        let text = std::fs::read_to_string(&path).unwrap();
        let mut whole = Vec::new();
        let mut whole_summary = ReadSummary::default();
        crate::samba::read(&text, &Arc::from("x"), &mut whole_summary, &mut |e| whole.push(e));
        for slice_bytes in [97, 256, 1000] {
            let mut reader = TextReader::open(&path, "x", Wanted::EVERYTHING).unwrap();
            reader.slice_bytes = slice_bytes;
            let events: Vec<WindowsEvent> = reader.by_ref().collect();
            assert_eq!(events, whole, "{slice_bytes}");
            assert_eq!(reader.summary().skipped, whole_summary.skipped);
        }
        assert!(
            whole.iter().any(|e| e.data.get("SubjectUserName").is_some()),
            "an actor named from its session"
        );
    }

    #[test]
    fn characters_cut_by_a_slice_wait_for_the_next() {
        let text = "aé€😀";
        let bytes = text.as_bytes();
        for cut in 0..=bytes.len() {
            let keep = decodable(&bytes[..cut], Encoding::Utf8);
            assert!(std::str::from_utf8(&bytes[..keep]).is_ok(), "{cut}");
            assert!(cut - keep < 4);
        }
        let utf16: Vec<u8> = text.encode_utf16().flat_map(u16::to_le_bytes).collect();
        for cut in 0..=utf16.len() {
            let keep = decodable(&utf16[..cut], Encoding::Utf16 { little: true });
            let mut decoded = String::new();
            decode_into(&utf16[..keep], Encoding::Utf16 { little: true }, &mut decoded);
            assert!(!decoded.contains('\u{fffd}'), "{cut}: {decoded}");
        }
        assert_eq!(renumbered("malformed event XML: line 3: bad", 100), "malformed event XML: line 103: bad");
        assert_eq!(renumbered("other: x", 100), "other: x");
    }
}
