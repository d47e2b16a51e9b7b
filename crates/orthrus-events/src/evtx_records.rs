//! One EVTX chunk's records, read without rendering.
//!
//! A chunk whose records lie as Windows writes them (each record's header, size and BinXML
//! where they should be, every template one the field map follows) is walked here directly:
//! the record header, then the template instance's substitution values, of which only the
//! System header's are read until the caller says it wants the record (a record written
//! without a template, its elements inline, is walked like a template whose pieces are all
//! literals). Any other chunk goes
//! through the `evtx` crate's own record iteration, record by record the same way, rendering
//! whole (to XML, read by [`crate::xml`]) the records whose template or values only rendering
//! gets right — so damaged
//! and unusual chunks read exactly as the crate reads them.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use evtx::err::{EvtxError, Result};
use evtx::{EvtxChunkData, ParserSettings};
use orthrus_model::{Position, Timestamp};

use crate::event::{EventData, WindowsEvent, parse_number, parse_time};
use crate::evtx_template::{self, Piece, RawValue, TemplateFields, Within};
use crate::evtx_template_cache::TemplateCache;
use crate::{ReadSummary, Wanted};

/// How a record was read.
pub(crate) enum Path {
    /// Its values taken through its template's field map.
    Values,
    /// Rendered whole to JSON.
    Rendered,
}

/// What became of one record.
pub(crate) enum Outcome {
    Event(Box<WindowsEvent>),
    /// Its header says no mapping uses it; nothing else of it was read.
    PassedOver,
    /// Rendered, but without Event/System.
    NoSystem,
}

pub(crate) type RecordResult = Result<(Outcome, Path)>;

/// Field maps of a chunk's templates, by chunk offset (`None`: one the map cannot follow).
type Templates = HashMap<(u32, Within), Option<Arc<TemplateFields>>>;

/// What reading one chunk keeps from record to record.
struct ChunkState<'a> {
    templates: Templates,
    /// The log's definitions read in earlier chunks.
    known: &'a Mutex<TemplateCache>,
    /// The last provider and channel read: consecutive records nearly always repeat them, and
    /// most records need them only to be passed over.
    provider: LastText,
    channel: LastText,
    /// The substitution values of the record being read.
    values: Values<'a>,
}

/// A header field's text, decoded again only when its bytes change (both buffers reused).
#[derive(Default)]
struct LastText {
    /// The bytes `text` was decoded from; meaningful only once `decoded`.
    raw: Vec<u8>,
    decoded: bool,
    text: String,
}

impl LastText {
    fn of<'a>(&'a mut self, piece: &'a Option<Piece>, values: &[RawValue<'_>]) -> Option<&'a str> {
        let value = match piece {
            None => return Some(""),
            Some(Piece::Literal(text)) => return Some(text),
            Some(Piece::Value(index)) => match values.get(usize::from(*index)) {
                None => return Some(""),
                Some(value) => value,
            },
        };
        if !self.decoded || self.raw != value.bytes {
            self.text = value.text()?;
            self.raw.clear();
            self.raw.extend_from_slice(value.bytes);
            self.decoded = true;
        }
        Some(&self.text)
    }
}

/// The substitution values of a record, and of its nested instance: buffers reused from
/// record to record (most records need nothing else allocated to be passed over).
#[derive(Default)]
struct Values<'a> {
    record: Vec<RawValue<'a>>,
    nested: Vec<RawValue<'a>>,
}

/// Size of a record header: magic, size, record id, FILETIME.
const RECORD_HEADER: usize = 24;
/// Where a chunk's first record starts.
const CHUNK_HEADER: usize = 512;
/// FILETIME of 1970-01-01, and the last the crate reads (jiff's span ends in 9999): beyond
/// it, the crate's own reading reports the record. (Zero, 1601, is common in test logs.)
const UNIX_EPOCH_FILETIME: i64 = 116_444_736_000_000_000;
const LAST_FILETIME: u64 = 2_650_467_743_990_000_000;

/// Every record of the chunk, in chunk order.
pub(crate) fn read_chunk(
    chunk: &mut EvtxChunkData,
    file: &Arc<str>,
    wanted: Wanted,
    settings: &Arc<ParserSettings>,
    known: &Mutex<TemplateCache>,
) -> Vec<RecordResult> {
    let mut walked = ChunkState {
        templates: Templates::default(),
        known,
        provider: LastText::default(),
        channel: LastText::default(),
        values: Values::default(),
    };
    if let Some(records) = walk(chunk, file, wanted, &mut walked) {
        return records;
    }
    // The templates read so far serve the crate's reading too.
    let ChunkState { templates, provider, channel, .. } = walked;
    let mut state = ChunkState { templates, known, provider, channel, values: Values::default() };
    let number = chunk.number.unwrap_or_default();
    let mut parsed = match chunk.parse(settings.clone()) {
        Ok(parsed) => parsed,
        Err(e) => return vec![Err(EvtxError::FailedToParseChunk { chunk_id: number, source: Box::new(e) })],
    };
    let data = parsed.data;
    parsed
        .iter()
        .map(|record| {
            let record = record?;
            let time = Timestamp::from_micros(record.timestamp.as_microsecond());
            let id = record.event_record_id;
            let start = usize::try_from(record.binxml_offset).unwrap_or(usize::MAX);
            let binxml = start
                .checked_add(record.binxml_size as usize)
                .and_then(|end| data.get(start..end))
                .unwrap_or_default();
            if let Some(outcome) = from_binxml(data, binxml, id, time, file, wanted, &mut state) {
                return Ok((outcome, Path::Values));
            }
            // Rendered to XML, not JSON: the crate's JSON string escaping (sonic-rs) reads past
            // the end of a stack buffer on some damaged records (found by fuzzing
            // `evtx_chunk`, AddressSanitizer); its XML escaping is its own, bounds-checked code.
            let rendered = record.into_xml()?;
            let mut event = None;
            crate::xml::read_with_time(
                &rendered.data,
                file,
                Some(time),
                &mut ReadSummary::default(),
                &mut |read| {
                    event.get_or_insert(read);
                },
            );
            let outcome = match event {
                Some(mut event) if (wanted.event)(&event.provider, &event.channel, event.event_id) => {
                    event.record_id = Some(id);
                    event.position = Position::Record(id);
                    event.data.retain(wanted.field);
                    Outcome::Event(Box::new(event))
                }
                Some(_) => Outcome::PassedOver,
                None => Outcome::NoSystem,
            };
            Ok((outcome, Path::Rendered))
        })
        .collect()
}

/// The chunk's records walked directly, or `None` when anything in it is not as Windows
/// writes it (the crate reads those).
fn walk<'a>(
    chunk: &'a EvtxChunkData,
    file: &Arc<str>,
    wanted: Wanted,
    state: &mut ChunkState<'a>,
) -> Option<Vec<RecordResult>> {
    let data = chunk.data.as_slice();
    let header = &chunk.header;
    let live_end = usize::try_from(header.free_space_offset).ok()?.min(data.len());
    let mut records = Vec::with_capacity(128);
    let mut pos = CHUNK_HEADER;
    while pos < live_end {
        let head = data.get(pos..pos.checked_add(RECORD_HEADER)?)?;
        if head.get(..4)? != b"\x2a\x2a\x00\x00" {
            return None;
        }
        let size = usize::try_from(u32::from_le_bytes(head.get(4..8)?.try_into().ok()?)).ok()?;
        let id = u64::from_le_bytes(head.get(8..16)?.try_into().ok()?);
        let filetime = u64::from_le_bytes(head.get(16..24)?.try_into().ok()?);
        let end = pos.checked_add(size)?;
        if size < RECORD_HEADER + 4 || end > live_end || filetime >= LAST_FILETIME {
            return None;
        }
        let copy = data.get(end - 4..end)?;
        if usize::try_from(u32::from_le_bytes(copy.try_into().ok()?)).ok()? != size {
            return None;
        }
        let time = filetime_to_time(filetime)?;
        let binxml = data.get(pos + RECORD_HEADER..end - 4)?;
        let outcome = from_binxml(data, binxml, id, time, file, wanted, state)?;
        records.push(Ok((outcome, Path::Values)));
        if id == header.last_event_record_id {
            break;
        }
        pos = end;
    }
    Some(records)
}

/// The record read from its substitution values, or `None` when its template (or one of its
/// values) takes rendering.
fn from_binxml<'a>(
    chunk: &'a [u8],
    binxml: &'a [u8],
    record_id: u64,
    record_time: Timestamp,
    file: &Arc<str>,
    wanted: Wanted,
    state: &mut ChunkState<'a>,
) -> Option<Outcome> {
    let values = &mut state.values.record;
    let fields = match evtx_template::instance(chunk, binxml, values) {
        Some(definition) => {
            template(&mut state.templates, state.known, chunk, definition, Within::Record, wanted)?
        }
        None => {
            // `instance` may have read some values before giving up.
            values.clear();
            let mut fields = evtx_template::read_inline(chunk, binxml)?;
            fields.data.retain(|(name, _)| (wanted.field)(name));
            Arc::new(fields)
        }
    };
    let values = values.as_slice();
    let event_id = event_id(fields.event_id.as_ref()?, values)?;
    let provider = state.provider.of(&fields.provider, values)?;
    let channel = state.channel.of(&fields.channel, values)?;
    if !(wanted.event)(provider, channel, event_id) {
        return Some(Outcome::PassedOver);
    }
    let (provider, channel) = (provider.to_owned(), channel.to_owned());
    let mut data = EventData::with_capacity(fields.data.len());
    for (name, piece) in &fields.data {
        data.push(name.clone(), piece_text(piece, values)?);
    }
    if let Some((index, within)) = fields.nested {
        match values.get(usize::from(index)) {
            Some(value) if value.kind == 0x21 => {
                let nested_values = &mut state.values.nested;
                let definition = evtx_template::instance(chunk, value.bytes, nested_values)?;
                let nested = template(&mut state.templates, state.known, chunk, definition, within, wanted)?;
                data.reserve(nested.data.len());
                for (name, piece) in &nested.data {
                    data.push(name.clone(), piece_text(piece, nested_values)?);
                }
            }
            None => {}
            Some(value) if value.kind == 0x00 => {}
            Some(_) => return None,
        }
    }
    let computer = match &fields.computer {
        None => String::new(),
        Some(piece) => piece_text(piece, values)?,
    };
    Some(Outcome::Event(Box::new(WindowsEvent {
        time: fields.time.as_ref().and_then(|piece| time(piece, values)).unwrap_or(record_time),
        channel,
        provider,
        event_id,
        record_id: Some(record_id),
        computer,
        data,
        file: file.clone(),
        position: Position::Record(record_id),
    })))
}

/// `TimeCreated`: a FILETIME value read as is, anything else as the text it renders to.
fn time(piece: &Piece, values: &[RawValue<'_>]) -> Option<Timestamp> {
    if let Piece::Value(index) = piece
        && let Some(value) = values.get(usize::from(*index))
        && value.kind == 0x11
    {
        let filetime = u64::from_le_bytes(value.bytes.try_into().ok()?);
        return (filetime < LAST_FILETIME).then(|| filetime_to_time(filetime)).flatten();
    }
    parse_time(&piece_text(piece, values)?)
}

/// A FILETIME (100 ns since 1601) as a time, to the microsecond.
fn filetime_to_time(filetime: u64) -> Option<Timestamp> {
    Some(Timestamp::from_micros((i64::try_from(filetime).ok()? - UNIX_EPOCH_FILETIME).div_euclid(10)))
}

/// The field map of the template at `offset` in the chunk, looked up once per chunk (and
/// read once per log, [`TemplateCache`]), keeping only the data fields `wanted` asks for: the
/// others are never read.
fn template(
    templates: &mut Templates,
    known: &Mutex<TemplateCache>,
    chunk: &[u8],
    offset: u32,
    within: Within,
    wanted: Wanted,
) -> Option<Arc<TemplateFields>> {
    templates
        .entry((offset, within))
        .or_insert_with(|| {
            let mut known = known.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            known.fields(chunk, offset, within, |fields| fields.data.retain(|(name, _)| (wanted.field)(name)))
        })
        .clone()
}

fn event_id(piece: &Piece, values: &[RawValue<'_>]) -> Option<u32> {
    let number = match piece {
        Piece::Literal(text) => parse_number(text)?,
        Piece::Value(index) => {
            let value = values.get(usize::from(*index))?;
            value.number().or_else(|| parse_number(&value.text()?))?
        }
    };
    u32::try_from(number).ok()
}

fn piece_text(piece: &Piece, values: &[RawValue<'_>]) -> Option<String> {
    match piece {
        Piece::Literal(text) => Some(text.clone()),
        // A template names more substitutions than the record has when trailing optional
        // ones are left out: they are empty.
        Piece::Value(index) => values.get(usize::from(*index)).map_or(Some(String::new()), RawValue::text),
    }
}
