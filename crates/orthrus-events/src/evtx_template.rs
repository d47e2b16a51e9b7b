//! What each substitution of an EVTX template definition stands for.
//!
//! An EVTX record is a template instance: a template definition (BinXML kept once per chunk)
//! plus the record's array of substitution values. The `evtx` crate renders whole records to
//! XML or JSON; it does not say which value fills which element, and its token reader is
//! private. Orthrus needs only a record's System header (provider, channel, event id) to
//! decide whether any mapping uses it, and the EventData fields of those it uses, so it reads
//! each template definition once per chunk with this small walker and then takes values
//! straight from the record's substitution array — nothing is rendered.
//!
//! The walker understands the shapes Windows writes (MS-EVEN6 §3.1.4.7): elements, attributes,
//! literal strings and substitutions. Anything else (CDATA, entity references, processing
//! instructions, non-string literals, an element whose text mixes pieces) makes it give up on
//! that template, and the reader renders those records whole through the crate instead.

use std::sync::Arc;

/// Where one field's text comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Piece {
    /// Text written in the template itself.
    Literal(String),
    /// The record's substitution value at this index.
    Value(u16),
}

/// The fields Orthrus reads, located in one template.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TemplateFields {
    pub provider: Option<Piece>,
    pub channel: Option<Piece>,
    pub event_id: Option<Piece>,
    pub computer: Option<Piece>,
    /// `TimeCreated/@SystemTime`.
    pub time: Option<Piece>,
    /// EventData (`<Data Name=…>`, unnamed `<Data>` as `param1…`, other children by element
    /// name) or UserData's fields, in the record's order.
    pub data: Vec<(Arc<str>, Piece)>,
    /// The substitution holding the event's EventData or UserData as a template instance of
    /// its own: Windows writes most events as a System template whose last value is that.
    pub nested: Option<(u16, Within)>,
}

/// Where a template's root element sits in the event: a record's own template starts at
/// `<Event>`; a nested instance's template starts inside the element that held it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Within {
    Record,
    Event,
    EventData,
    UserData,
}

impl Within {
    fn path(self) -> &'static [&'static str] {
        match self {
            Within::Record => &[],
            Within::Event => &["Event"],
            Within::EventData => &["Event", "EventData"],
            Within::UserData => &["Event", "UserData"],
        }
    }
}

/// Size of a template definition's header: next offset (4), GUID (16), data size (4).
const TEMPLATE_HEADER: usize = 24;
/// Deeper nesting than any event schema; a bound against hostile input.
const MAX_DEPTH: usize = 32;

/// Reads the template definition at `offset` in `chunk` (the whole 64 KiB chunk: names are
/// referenced by chunk offset). `None` when it is malformed or has a shape the walker does
/// not follow.
pub fn read(chunk: &[u8], offset: u32, within: Within) -> Option<TemplateFields> {
    read_naming(chunk, offset, within).map(|(fields, _)| fields)
}

/// [`read`], also saying where the definition names its elements and attributes: the only
/// chunk offsets a definition holds, and so all that differs when the same definition is
/// written again in another chunk (see [`crate::evtx_template_cache`]).
pub(crate) fn read_naming(
    chunk: &[u8],
    offset: u32,
    within: Within,
) -> Option<(TemplateFields, Vec<NameUse>)> {
    let span = definition(chunk, offset)?;
    walk(chunk, span.start + TEMPLATE_HEADER..span.end, within, true)
}

/// Where the template definition at `offset` lies in the chunk (header included).
pub(crate) fn definition(chunk: &[u8], offset: u32) -> Option<std::ops::Range<usize>> {
    let start = usize::try_from(offset).ok()?;
    let size = u32_at(chunk, start.checked_add(20)?)?;
    let end = start.checked_add(TEMPLATE_HEADER)?.checked_add(usize::try_from(size).ok()?)?;
    (end <= chunk.len()).then_some(start..end)
}

/// A name the BinXML refers to: where the reference (a chunk offset, 4 bytes) is, and
/// whether the name is written right after it (its first use in the chunk) or elsewhere.
#[derive(Clone, Copy, Debug)]
pub(crate) struct NameUse {
    pub at: usize,
    pub inline: bool,
}

/// A name as stored at `offset`: its length and UTF-16 text (what two uses must share).
pub(crate) fn stored_name(chunk: &[u8], offset: usize) -> Option<&[u8]> {
    let chars = usize::from(u16_at(chunk, offset.checked_add(6)?)?);
    chunk.get(offset.checked_add(6)?..offset.checked_add(8)?.checked_add(chars.checked_mul(2)?)?)
}

/// A record written without a template — its elements inline in the record's own BinXML, as
/// some tools that write or convert logs do — read the same way: every piece is a literal.
/// `None` when the walker does not follow it (the crate renders those).
pub fn read_inline(chunk: &[u8], bytes: &[u8]) -> Option<TemplateFields> {
    walk(chunk, span_in(chunk, bytes)?, Within::Record, false).map(|(fields, _)| fields)
}

/// Where `bytes`, a slice of `chunk`, lies in it: BinXML names and inline definitions are
/// told by chunk offset. `None` when it is not within `chunk`.
fn span_in(chunk: &[u8], bytes: &[u8]) -> Option<std::ops::Range<usize>> {
    let start = (bytes.as_ptr() as usize).checked_sub(chunk.as_ptr() as usize)?;
    let end = start.checked_add(bytes.len())?;
    (end <= chunk.len()).then_some(start..end)
}

/// The fields of the BinXML at `span` of `chunk`, a template's body or a record's.
fn walk(
    chunk: &[u8],
    span: std::ops::Range<usize>,
    within: Within,
    in_template: bool,
) -> Option<(TemplateFields, Vec<NameUse>)> {
    let mut walker = Walker {
        chunk,
        pos: span.start,
        end: span.end,
        within,
        stack: Vec::new(),
        fields: TemplateFields::default(),
        params: 0,
        in_template,
        names: Vec::new(),
    };
    walker.walk()?;
    Some((walker.fields, walker.names))
}

struct Element {
    name: String,
    attributes: Vec<(String, Vec<Piece>)>,
    text: Vec<Piece>,
    in_attribute: bool,
}

struct Walker<'a> {
    chunk: &'a [u8],
    pos: usize,
    end: usize,
    within: Within,
    stack: Vec<Element>,
    fields: TemplateFields,
    /// Unnamed `<Data>` elements seen so far (they become `param1`, `param2`, …).
    params: usize,
    /// Whether the stream is a template definition, whose elements carry a dependency id
    /// (MS-EVEN6 §3.1.4.7.3); a record's inline elements do not.
    in_template: bool,
    names: Vec<NameUse>,
}

impl Walker<'_> {
    fn walk(&mut self) -> Option<()> {
        while self.pos < self.end {
            let token = self.u8()?;
            match token {
                0x00 => break,
                // Fragment header: major, minor, flags.
                0x0f => self.skip(3)?,
                0x01 | 0x41 => {
                    if self.in_template {
                        let _dependency = self.u16()?;
                    }
                    let _size = self.u32()?;
                    let name = self.name()?;
                    if token & 0x40 != 0 {
                        let _attribute_bytes = self.u32()?;
                    }
                    if self.stack.len() >= MAX_DEPTH {
                        return None;
                    }
                    self.stack.push(Element {
                        name,
                        attributes: Vec::new(),
                        text: Vec::new(),
                        in_attribute: false,
                    });
                }
                0x02 => self.stack.last_mut()?.in_attribute = false,
                0x03 | 0x04 => {
                    let element = self.stack.pop()?;
                    self.finish(element)?;
                }
                0x05 | 0x45 => {
                    // Only string literals (type 0x01) appear in the templates Windows writes.
                    if self.u8()? != 0x01 {
                        return None;
                    }
                    let chars = usize::from(self.u16()?);
                    let text = self.utf16(chars)?;
                    self.piece(Piece::Literal(text))?;
                }
                0x06 | 0x46 => {
                    let name = self.name()?;
                    let element = self.stack.last_mut()?;
                    element.attributes.push((name, Vec::new()));
                    element.in_attribute = true;
                }
                // Substitutions belong to templates; in a record's own elements they are damage.
                0x0d | 0x0e if !self.in_template => return None,
                0x0d | 0x0e => {
                    let index = self.u16()?;
                    let _value_type = self.u8()?;
                    self.piece(Piece::Value(index))?;
                }
                _ => return None,
            }
        }
        self.stack.is_empty().then_some(())
    }

    fn piece(&mut self, piece: Piece) -> Option<()> {
        let element = self.stack.last_mut()?;
        if element.in_attribute {
            element.attributes.last_mut()?.1.push(piece);
        } else {
            element.text.push(piece);
        }
        Some(())
    }

    /// Files a closed element's text or attribute under the field it is, by its place.
    fn finish(&mut self, element: Element) -> Option<()> {
        let mut path: Vec<&str> = self.within.path().to_vec();
        path.extend(self.stack.iter().map(|e| e.name.as_str()));
        if path.first() == Some(&"Event") {
            path.remove(0);
        }
        let fields = &mut self.fields;
        match path.as_slice() {
            // `<Event>%n</Event>` or `<EventData>%n</EventData>`: the data is a fragment of its own.
            [] if !element.text.is_empty() => {
                if fields.nested.is_some() {
                    return None;
                }
                let within = match element.name.as_str() {
                    "Event" => Within::Event,
                    "EventData" => Within::EventData,
                    "UserData" => Within::UserData,
                    _ => return None,
                };
                fields.nested = match single(element.text)? {
                    Some(Piece::Value(index)) => Some((index, within)),
                    _ => return None,
                };
            }
            ["System"] => {
                let slot = match element.name.as_str() {
                    "Provider" => Some((&mut fields.provider, attribute(&element, "Name")?)),
                    "TimeCreated" => Some((&mut fields.time, attribute(&element, "SystemTime")?)),
                    "EventID" => Some((&mut fields.event_id, single(element.text)?)),
                    "Channel" => Some((&mut fields.channel, single(element.text)?)),
                    "Computer" => Some((&mut fields.computer, single(element.text)?)),
                    _ => None,
                };
                if let Some((slot, piece)) = slot {
                    *slot = piece;
                }
            }
            ["EventData"] => {
                let name = if element.name == "Data" {
                    match attribute(&element, "Name")? {
                        Some(Piece::Literal(name)) => name,
                        Some(Piece::Value(_)) => return None,
                        None => {
                            self.params += 1;
                            format!("param{}", self.params)
                        }
                    }
                } else {
                    element.name
                };
                let piece = single(element.text)?.unwrap_or(Piece::Literal(String::new()));
                fields.data.push((Arc::from(name), piece));
            }
            ["UserData", _] => {
                let piece = single(element.text)?.unwrap_or(Piece::Literal(String::new()));
                fields.data.push((Arc::from(element.name), piece));
            }
            _ => {}
        }
        Some(())
    }

    fn name(&mut self) -> Option<String> {
        let at = self.pos;
        let offset = usize::try_from(self.u32()?).ok()?;
        // The name is stored right here the first time the chunk uses it; skip over it.
        let inline = offset == self.pos;
        let chars = usize::from(u16_at(self.chunk, offset.checked_add(6)?)?);
        let text = utf16_at(self.chunk, offset.checked_add(8)?, chars)?;
        if inline {
            self.skip(8 + chars * 2 + 2)?;
        }
        self.names.push(NameUse { at, inline });
        Some(text)
    }

    fn u8(&mut self) -> Option<u8> {
        let byte = *self.chunk.get(self.pos)?;
        self.pos += 1;
        Some(byte)
    }

    fn u16(&mut self) -> Option<u16> {
        let value = u16_at(self.chunk, self.pos)?;
        self.pos += 2;
        Some(value)
    }

    fn u32(&mut self) -> Option<u32> {
        let value = u32_at(self.chunk, self.pos)?;
        self.pos += 4;
        Some(value)
    }

    fn utf16(&mut self, chars: usize) -> Option<String> {
        let text = utf16_at(self.chunk, self.pos, chars)?;
        self.skip(chars * 2)?;
        Some(text)
    }

    fn skip(&mut self, bytes: usize) -> Option<()> {
        let next = self.pos.checked_add(bytes)?;
        (next <= self.end).then(|| self.pos = next)
    }
}

/// The attribute's one piece: `Ok(None)` when absent, `None` (give up) when it mixes pieces.
fn attribute(element: &Element, name: &str) -> Option<Option<Piece>> {
    match element.attributes.iter().find(|(n, _)| n == name) {
        None => Some(None),
        Some((_, pieces)) => single(pieces.clone()),
    }
}

/// An element's or attribute's text as one piece; `None` (give up) when it has several.
fn single(mut pieces: Vec<Piece>) -> Option<Option<Piece>> {
    match pieces.len() {
        0 => Some(None),
        1 => Some(pieces.pop()),
        _ => None,
    }
}

fn u16_at(bytes: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes(bytes.get(at..at.checked_add(2)?)?.try_into().ok()?))
}

fn u32_at(bytes: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(bytes.get(at..at.checked_add(4)?)?.try_into().ok()?))
}

fn utf16_at(bytes: &[u8], at: usize, chars: usize) -> Option<String> {
    Some(utf16_text(bytes.get(at..at.checked_add(chars.checked_mul(2)?)?)?))
}

/// UTF-16LE text without its trailing NULs; ASCII (nearly every value in a Windows event)
/// copied byte by byte into one allocation.
fn utf16_text(raw: &[u8]) -> String {
    let (pairs, _) = raw.as_chunks::<2>();
    let mut end = pairs.len();
    while end > 0 && pairs.get(end - 1) == Some(&[0, 0]) {
        end -= 1;
    }
    let pairs = pairs.get(..end).unwrap_or_default();
    if pairs.iter().all(|&[low, high]| high == 0 && low < 0x80) {
        // ASCII, as most values are: the low bytes are the UTF-8 (checked again as UTF-8,
        // a word at a time, which costs less than pushing each as a char).
        let bytes: Vec<u8> = pairs.iter().map(|&[low, _]| low).collect();
        return String::from_utf8(bytes).unwrap_or_default();
    }
    char::decode_utf16(pairs.iter().map(|pair| u16::from_le_bytes(*pair)))
        .map(|c| c.unwrap_or('\u{fffd}'))
        .collect()
}

/// One substitution value as the record stores it: its BinXML type and bytes, read as text
/// only when a field needs it.
#[derive(Clone, Copy, Debug)]
pub struct RawValue<'a> {
    pub kind: u8,
    pub bytes: &'a [u8],
}

/// A template instance (a record's BinXML, or a substitution value of BinXML type 0x21): the
/// chunk offset of its template definition, and its substitution values. `bytes` must be a
/// slice of `chunk`: the definition may sit inline, and "inline" is told by chunk offset.
/// The values go into `values` (cleared first; one buffer serves a chunk's records).
pub fn instance<'a>(chunk: &'a [u8], bytes: &'a [u8], values: &mut Vec<RawValue<'a>>) -> Option<u32> {
    values.clear();
    let span = span_in(chunk, bytes)?;
    let within = chunk.get(..span.end)?;
    let mut pos = span.start;
    // Fragment header (major 1, minor 1, flags).
    if within.get(pos) == Some(&0x0f) {
        pos += 4;
    }
    if within.get(pos) != Some(&0x0c) {
        return None;
    }
    let definition = u32_at(within, pos.checked_add(6)?)?;
    pos += 10;
    if usize::try_from(definition).ok()? == pos {
        let size = usize::try_from(u32_at(within, pos.checked_add(20)?)?).ok()?;
        pos = pos.checked_add(TEMPLATE_HEADER)?.checked_add(size)?;
    }
    let count = usize::try_from(u32_at(within, pos)?).ok()?;
    pos += 4;
    let descriptors = within.get(pos..pos.checked_add(count.checked_mul(4)?)?)?;
    pos += descriptors.len();
    values.reserve(count);
    for &[low, high, kind, _] in descriptors.as_chunks::<4>().0 {
        let size = usize::from(u16::from_le_bytes([low, high]));
        let bytes = within.get(pos..pos.checked_add(size)?)?;
        pos += size;
        values.push(RawValue { kind, bytes });
    }
    Some(definition)
}

impl RawValue<'_> {
    /// The value as a number, for the integer types.
    pub fn number(&self) -> Option<u64> {
        let bytes = self.bytes;
        match (self.kind, bytes.len()) {
            (0x04, 1) => bytes.first().map(|b| u64::from(*b)),
            (0x06, 2) => Some(u64::from(u16::from_le_bytes(bytes.try_into().ok()?))),
            (0x08 | 0x14, 4) => Some(u64::from(u32::from_le_bytes(bytes.try_into().ok()?))),
            (0x0a | 0x15, 8) => Some(u64::from_le_bytes(bytes.try_into().ok()?)),
            _ => None,
        }
    }

    /// The value's text as the `evtx` crate renders it (its value decoder is private; its
    /// renderer is reached through `BinXmlValue`'s `Display` where the text is not plain);
    /// `None` for the kinds only rendering gets right — ANSI strings (code page), reals,
    /// size_t, SYSTEMTIME, nested BinXML and arrays, which expand into repeated elements.
    pub fn text(&self) -> Option<String> {
        use evtx::binxml::value_variant::{BinXmlValue as V, FileTime};
        let raw = self.bytes;
        let value = match self.kind {
            0x00 => return Some(String::new()),
            0x01 => return Some(utf16_text(raw)),
            0x04 | 0x06 | 0x08 | 0x0a => return self.number().map(|n| n.to_string()),
            0x14 | 0x15 => return self.number().map(|n| format!("0x{n:x}")),
            0x03 => V::Int8Type(i8::from_le_bytes(raw.try_into().ok()?)),
            0x05 => V::Int16Type(i16::from_le_bytes(raw.try_into().ok()?)),
            0x07 => V::Int32Type(i32::from_le_bytes(raw.try_into().ok()?)),
            0x09 => V::Int64Type(i64::from_le_bytes(raw.try_into().ok()?)),
            0x0d => V::BoolType(u32::from_le_bytes(raw.try_into().ok()?) != 0),
            0x0e => V::BinaryType(raw),
            0x0f => V::GuidType(raw.try_into().ok()?),
            0x11 => V::FileTimeType(FileTime(u64::from_le_bytes(raw.try_into().ok()?))),
            // Malformed SIDs the crate renders its own way: the record is rendered whole.
            0x13 => return orthrus_proto::wire::sid_to_string(raw),
            _ => return None,
        };
        Some(value.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Writes BinXML as Windows lays a template definition out in a chunk: names stored
    /// inline at their first use, referenced by chunk offset.
    #[derive(Default)]
    struct Binxml(Vec<u8>);

    impl Binxml {
        fn name(&mut self, text: &str) {
            let at = u32::try_from(self.0.len() + 4).unwrap();
            self.0.extend(at.to_le_bytes());
            self.0.extend([0, 0, 0, 0, 0, 0]);
            self.0.extend(u16::try_from(text.len()).unwrap().to_le_bytes());
            self.0.extend(text.encode_utf16().flat_map(u16::to_le_bytes));
            self.0.extend([0, 0]);
        }
        fn open(&mut self, name: &str, attributes: bool) {
            self.0.push(if attributes { 0x41 } else { 0x01 });
            self.0.extend([0xff, 0xff]);
            self.open_rest(name, attributes);
        }
        /// An element as a record without a template writes it: no dependency id.
        fn open_inline(&mut self, name: &str) {
            self.0.push(0x01);
            self.open_rest(name, false);
        }
        fn open_rest(&mut self, name: &str, attributes: bool) {
            self.0.extend([0, 0, 0, 0]);
            self.name(name);
            if attributes {
                self.0.extend([0, 0, 0, 0]);
            }
        }
        fn attribute(&mut self, name: &str) {
            self.0.push(0x06);
            self.name(name);
        }
        fn literal(&mut self, text: &str) {
            self.0.extend([0x05, 0x01]);
            self.0.extend(u16::try_from(text.len()).unwrap().to_le_bytes());
            self.0.extend(text.encode_utf16().flat_map(u16::to_le_bytes));
        }
        fn substitution(&mut self, index: u16) {
            self.0.push(0x0e);
            self.0.extend(index.to_le_bytes());
            self.0.push(0x01);
        }
        fn data(&mut self, name: &str, index: u16) {
            self.open("Data", true);
            self.attribute("Name");
            self.literal(name);
            self.0.push(0x02);
            self.substitution(index);
            self.0.push(0x04);
        }
        /// The definition's header (its data size filled in) in front of a body.
        fn template(body: impl FnOnce(&mut Binxml)) -> Vec<u8> {
            let mut out = Binxml(vec![0; TEMPLATE_HEADER]);
            out.0.extend([0x0f, 1, 1, 0]);
            body(&mut out);
            out.0.push(0x00);
            let size = u32::try_from(out.0.len() - TEMPLATE_HEADER).unwrap();
            out.0[20..24].copy_from_slice(&size.to_le_bytes());
            out.0
        }
    }

    fn security_template() -> Vec<u8> {
        Binxml::template(|t| {
            t.open("Event", false);
            t.0.push(0x02);
            t.open("System", false);
            t.0.push(0x02);
            t.open("Provider", true);
            t.attribute("Name");
            t.literal("Microsoft-Windows-Security-Auditing");
            t.0.push(0x03);
            t.open("EventID", false);
            t.0.push(0x02);
            t.substitution(0);
            t.0.push(0x04);
            t.open("Channel", false);
            t.0.push(0x02);
            t.literal("Security");
            t.0.push(0x04);
            t.0.push(0x04);
            t.open("EventData", false);
            t.0.push(0x02);
            t.data("TargetUserName", 1);
            t.data("IpAddress", 2);
            t.0.push(0x04);
            t.0.push(0x04);
        })
    }

    #[test]
    fn a_template_names_where_each_field_comes_from() {
        let fields = read(&security_template(), 0, Within::Record).unwrap();
        assert_eq!(fields.provider, Some(Piece::Literal("Microsoft-Windows-Security-Auditing".into())));
        assert_eq!(fields.channel, Some(Piece::Literal("Security".into())));
        assert_eq!(fields.event_id, Some(Piece::Value(0)));
        assert_eq!(fields.computer, None);
        let data: Vec<(&str, &Piece)> = fields.data.iter().map(|(n, p)| (&**n, p)).collect();
        assert_eq!(data, [("TargetUserName", &Piece::Value(1)), ("IpAddress", &Piece::Value(2))]);
        assert_eq!(fields.nested, None);
    }

    #[test]
    fn shapes_the_walker_does_not_follow_give_up_instead_of_guessing() {
        let template = security_template();
        // Cut anywhere, or a token it does not know (CDATA), and there is no field map.
        for cut in [TEMPLATE_HEADER + 3, template.len() / 2, template.len() - 2] {
            let mut short = template.clone();
            short.truncate(cut);
            assert_eq!(read(&short, 0, Within::Record), None, "cut at {cut}");
        }
        let cdata = Binxml::template(|t| {
            t.open("Event", false);
            t.0.push(0x02);
            t.0.extend([0x07, 1, 0, b'x', 0]);
            t.0.push(0x04);
        });
        assert_eq!(read(&cdata, 0, Within::Record), None);
        // Two substitutions in one element's text cannot be told apart.
        let mixed = Binxml::template(|t| {
            t.open("EventData", false);
            t.0.push(0x02);
            t.open("Data", false);
            t.0.push(0x02);
            t.substitution(0);
            t.substitution(1);
            t.0.push(0x04);
            t.0.push(0x04);
        });
        assert_eq!(read(&mixed, 0, Within::Event), None);
    }

    #[test]
    fn a_record_without_a_template_reads_its_literals_and_refuses_substitutions() {
        let record = |text: &dyn Fn(&mut Binxml)| {
            let mut record = Binxml(vec![0x0f, 1, 1, 0]);
            for name in ["Event", "System", "EventID"] {
                record.open_inline(name);
                record.0.push(0x02);
            }
            text(&mut record);
            record.0.extend([0x04, 0x04, 0x04, 0x00]);
            record.0
        };
        let literal = record(&|r| r.literal("5145"));
        let fields = read_inline(&literal, &literal).unwrap();
        assert_eq!(fields.event_id, Some(Piece::Literal("5145".into())));
        // A substitution has nothing to stand for outside a template: damage, not an empty id.
        let substituted = record(&|r| r.substitution(0));
        assert_eq!(read_inline(&substituted, &substituted), None);
        // A slice from elsewhere is not in the chunk.
        assert_eq!(read_inline(&literal, &substituted), None);
    }

    #[test]
    fn values_read_as_the_crate_renders_them() {
        let text = |kind: u8, bytes: &[u8]| RawValue { kind, bytes }.text();
        assert_eq!(text(0x01, &[b'b', 0, b'o', 0, b'b', 0, 0, 0]).as_deref(), Some("bob"));
        assert_eq!(text(0x01, &[0xe9, 0, b'!', 0]).as_deref(), Some("é!"));
        assert_eq!(text(0x06, &4624u16.to_le_bytes()).as_deref(), Some("4624"));
        assert_eq!(text(0x14, &0xc000_006du32.to_le_bytes()).as_deref(), Some("0xc000006d"));
        assert_eq!(text(0x15, &0x88324u64.to_le_bytes()).as_deref(), Some("0x88324"));
        let sid = [1, 2, 0, 0, 0, 0, 0, 5, 32, 0, 0, 0, 0x20, 2, 0, 0];
        assert_eq!(text(0x13, &sid).as_deref(), Some("S-1-5-32-544"));
        assert_eq!(text(0x0e, &[0xde, 0xad]).as_deref(), Some("DEAD"));
        // Wrong sizes and kinds only rendering gets right are refused, not guessed.
        assert_eq!(text(0x06, &[1, 2, 3]), None);
        assert_eq!(text(0x13, &[1, 5, 0]), None);
        assert_eq!(text(0x81, b"a\0b\0"), None);
        assert_eq!(text(0x21, &[0x0f]), None);
    }

    #[test]
    fn an_instance_reads_its_values_by_their_descriptors() {
        // Template at offset 0; the instance after it refers to it (not inline).
        let mut chunk = security_template();
        let start = chunk.len();
        chunk.extend([0x0f, 1, 1, 0, 0x0c, 1, 0, 0, 0, 0, 0, 0, 0, 0]);
        chunk.extend(2u32.to_le_bytes());
        chunk.extend([2, 0, 0x06, 0, 6, 0, 0x01, 0]);
        chunk.extend(4769u16.to_le_bytes());
        chunk.extend([b'e', 0, b'v', 0, b'e', 0]);
        let mut values = Vec::new();
        let definition = instance(&chunk, &chunk[start..], &mut values).unwrap();
        assert_eq!(definition, 0);
        assert_eq!(
            values.iter().map(RawValue::text).collect::<Vec<_>>(),
            [Some("4769".into()), Some("eve".into())]
        );
        // A descriptor claiming more bytes than there are: no instance.
        let end = chunk.len() - 1;
        assert!(instance(&chunk[..end], &chunk[start..end], &mut values).is_none());
    }
}
