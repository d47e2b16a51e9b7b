//! Template field maps kept across a log's chunks.
//!
//! Every EVTX chunk carries its own copy of each template definition its records use, so a
//! log of a few thousand chunks holds the same few dozen definitions a few thousand times
//! over, and reading each copy (names decoded, pieces collected) was a tenth of the event
//! path. A definition's bytes are the same in every chunk but for the chunk offsets of its
//! names (MS-EVEN6 §3.1.4.7.1: a name is written after its first reference in the chunk, and
//! referred to by offset after that). So a copy is known for one already read when its bytes
//! match outside those references, each inline name is again inline, and each name referred
//! to elsewhere in the chunk has the same text; the field map read from the first copy then
//! serves, since the walk depends on nothing else.

use std::collections::HashMap;
use std::sync::Arc;

use crate::evtx_template::{self, NameUse, TemplateFields, Within};

/// Definitions kept per log. Real logs use tens (one per event kind and provider version);
/// the bound stops a hostile log from growing the cache, and past it definitions are read
/// per chunk as they were before this cache.
const MAX_DEFINITIONS: usize = 4096;

/// Bytes of an inline name's entry before its text that are chunk-specific: the link to the
/// next name of its hash bucket (a chunk offset).
const NAME_LINK: usize = 4;

/// Bytes at the start of a definition that link it to the next of its hash bucket.
const NEXT_DEFINITION_LINK: usize = 4;

/// Definitions by where they sit and their GUID and size (many copies, one entry).
#[derive(Default)]
pub(crate) struct TemplateCache {
    definitions: HashMap<(Within, [u8; 16], usize), Vec<Definition>>,
    kept: usize,
    /// Copies found already read.
    hits: u64,
}

struct Definition {
    /// The definition's bytes (header included) where it was first read.
    bytes: Box<[u8]>,
    /// Its name references, by place in `bytes`, in order.
    names: Box<[Name]>,
    /// What it maps, already cut to the fields the reader wants.
    fields: Arc<TemplateFields>,
}

struct Name {
    /// Where the reference is, from the start of the definition.
    at: usize,
    /// For a name referred to elsewhere in the chunk: its stored length and text.
    elsewhere: Option<Box<[u8]>>,
}

impl TemplateCache {
    /// The field map of the definition at `offset` in `chunk`: a copy's already read, or read
    /// now (and `keep` cuts it to the wanted fields before it is kept). `None` when the
    /// walker does not follow it.
    pub(crate) fn fields(
        &mut self,
        chunk: &[u8],
        offset: u32,
        within: Within,
        keep: impl FnOnce(&mut TemplateFields),
    ) -> Option<Arc<TemplateFields>> {
        let span = evtx_template::definition(chunk, offset)?;
        let bytes = chunk.get(span.clone())?;
        let guid: [u8; 16] = bytes.get(4..20)?.try_into().ok()?;
        let key = (within, guid, bytes.len());
        if let Some(known) = self.definitions.get(&key)
            && let Some(definition) = known.iter().find(|d| d.matches(chunk, span.start, bytes))
        {
            self.hits += 1;
            return Some(definition.fields.clone());
        }
        let (mut fields, uses) = evtx_template::read_naming(chunk, offset, within)?;
        keep(&mut fields);
        let fields = Arc::new(fields);
        if self.kept < MAX_DEFINITIONS
            && let Some(names) = names(chunk, span.start, &uses)
        {
            self.kept += 1;
            let definition = Definition { bytes: bytes.into(), names, fields: fields.clone() };
            self.definitions.entry(key).or_default().push(definition);
        }
        Some(fields)
    }
}

/// The name references of a definition starting at `start`, as kept; `None` when one is not
/// where a definition's names can be (never for what the walker read).
fn names(chunk: &[u8], start: usize, uses: &[NameUse]) -> Option<Box<[Name]>> {
    uses.iter()
        .map(|name| {
            let elsewhere = if name.inline {
                None
            } else {
                let offset =
                    usize::try_from(u32::from_le_bytes(chunk.get(name.at..name.at + 4)?.try_into().ok()?))
                        .ok()?;
                Some(evtx_template::stored_name(chunk, offset)?.into())
            };
            Some(Name { at: name.at.checked_sub(start)?, elsewhere })
        })
        .collect()
}

impl Definition {
    /// Whether `bytes`, a definition at `start` in `chunk`, is a copy of this one.
    fn matches(&self, chunk: &[u8], start: usize, bytes: &[u8]) -> bool {
        if bytes.len() != self.bytes.len() {
            return false;
        }
        // The header's first field links to the next definition of its hash bucket: a chunk
        // offset, as chunk-specific as the names' links.
        let mut from = NEXT_DEFINITION_LINK;
        for name in self.names.iter() {
            let offset = bytes.get(name.at..name.at + 4).and_then(|offset| offset.try_into().ok());
            let Some(offset) = offset.map(u32::from_le_bytes).and_then(|o| usize::try_from(o).ok()) else {
                return false;
            };
            let inline_at = start + name.at + 4;
            if from > name.at {
                return false;
            }
            let same = match &name.elsewhere {
                // Inline here too; its link to the next name of its bucket differs by chunk.
                None => offset == inline_at,
                Some(text) => offset != inline_at && evtx_template::stored_name(chunk, offset) == Some(text),
            };
            if !same || bytes.get(from..name.at) != self.bytes.get(from..name.at) {
                return false;
            }
            from = name.at + 4 + if name.elsewhere.is_none() { NAME_LINK } else { 0 };
        }
        bytes.get(from..) == self.bytes.get(from..)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]

    use super::*;

    const FILE_HEADER: usize = 4096;
    const CHUNK: usize = 65536;
    /// Where a chunk header keeps its 32 template hash buckets (MS-EVEN6: offsets of the
    /// first definition of each; each definition links to the next of its bucket).
    const BUCKETS: std::ops::Range<usize> = 384..512;

    /// Every template definition a chunk lists, by offset.
    fn definitions(chunk: &[u8]) -> Vec<u32> {
        let mut found = Vec::new();
        for bucket in chunk[BUCKETS].chunks_exact(4) {
            let mut offset = u32::from_le_bytes(bucket.try_into().unwrap());
            while offset != 0 && (offset as usize) + 4 <= chunk.len() && found.len() < 4096 {
                found.push(offset);
                offset = u32::from_le_bytes(chunk[offset as usize..offset as usize + 4].try_into().unwrap());
            }
        }
        found
    }

    fn chunks(path: &std::path::Path) -> Vec<Vec<u8>> {
        let bytes = std::fs::read(path).unwrap();
        bytes.get(FILE_HEADER..).unwrap_or_default().chunks_exact(CHUNK).map(<[u8]>::to_vec).collect()
    }

    /// Over every definition of every chunk of the corpus' EVTX logs, chunk after chunk as a
    /// reader meets them: what the cache answers is what reading that copy gives. In the
    /// corpus' long logs (32 chunks and more: a Security, a System and an Application log of
    /// real machines) each definition read serves several later copies; most other samples
    /// are one chunk used and the rest unused slots.
    #[test]
    fn a_definition_kept_reads_as_each_copy_of_it_does() {
        let (mut definitions_seen, mut kept_long, mut hits_long) = (0u64, 0usize, 0u64);
        for path in orthrus_testkit::corpus_evtx_files() {
            let mut cache = TemplateCache::default();
            let chunks = chunks(&path);
            for chunk in &chunks {
                for offset in definitions(chunk) {
                    for within in [Within::Record, Within::EventData] {
                        let read = evtx_template::read(chunk, offset, within).map(Arc::new);
                        let cached = cache.fields(chunk, offset, within, |_| {});
                        assert_eq!(read, cached, "{} at {offset}", path.display());
                        definitions_seen += 1;
                    }
                }
            }
            if chunks.len() >= 32 {
                (kept_long, hits_long) = (kept_long + cache.kept, hits_long + cache.hits);
            }
        }
        assert!(definitions_seen > 10_000, "{definitions_seen}");
        assert!(kept_long > 100, "{kept_long} definitions in the long logs");
        assert!(
            hits_long > 3 * kept_long as u64,
            "{hits_long} copies found for {kept_long} definitions read"
        );
    }

    /// A copy whose name referred to elsewhere in its chunk is another there (the same
    /// bytes, another name at that offset) is not taken for the one kept.
    #[test]
    fn a_copy_naming_another_name_is_read_afresh() {
        let mut tried = 0;
        for path in orthrus_testkit::corpus_evtx_files().iter().take(40) {
            for chunk in chunks(path).iter().take(4) {
                for offset in definitions(chunk) {
                    let Some((_, uses)) = evtx_template::read_naming(chunk, offset, Within::Record) else {
                        continue;
                    };
                    let Some(elsewhere) = uses.iter().find(|u| !u.inline) else { continue };
                    let name = u32::from_le_bytes(chunk[elsewhere.at..elsewhere.at + 4].try_into().unwrap())
                        as usize;
                    let mut changed = chunk.clone();
                    // The name's first character, another letter.
                    changed[name + 8] ^= 0x01;
                    let mut cache = TemplateCache::default();
                    cache.fields(chunk, offset, Within::Record, |_| {});
                    let again = cache.fields(&changed, offset, Within::Record, |_| {});
                    assert_eq!(again, evtx_template::read(&changed, offset, Within::Record).map(Arc::new));
                    assert_eq!(cache.hits, 0, "{}", path.display());
                    tried += 1;
                }
            }
        }
        assert!(tried > 50, "{tried} definitions naming a name written before them");
    }
}
