//! Activities are kept in blocks: up to [`BLOCK_ACTIVITIES`] activities of one batch, in the
//! order they came, as zstd-compressed JSON lines in one row, with one timeline row per entity
//! the block names (not per activity). A batch of a thousand activities is then one record
//! and about a hundred index rows instead of a thousand records and five thousand index rows:
//! what the center spends its time on is writing index pages, so this is its intake rate.
//! Reads decompress the blocks a timeline names and keep the activities that match. Both
//! backends share this module; they differ only in their SQL.
//!
//! Rows carried over from the first schema (one activity per row) are blocks of one, encoded
//! as plain JSON.

use std::collections::BTreeSet;
use std::io::Read as _;

use orthrus_model::{Activity, TenantId};

use crate::entities::activity_entities;
use crate::{Result, StoreError};

/// Activities per block: small enough that a timeline reads little beyond what it shows, large
/// enough that its entities repeat.
pub(crate) const BLOCK_ACTIVITIES: usize = 1024;
/// An activity's id is its block's id shifted by this, plus its place in the block.
const INDEX_BITS: u32 = 12;
/// zstd's fastest level: intake is the hot path, and JSON lines compress well anyway.
const COMPRESSION_LEVEL: i32 = 1;
/// Largest block read back, decompressed (a damaged row cannot take the memory).
const MAX_BLOCK_BYTES: u64 = 256 << 20;

pub(crate) const ZSTD_JSON_LINES: &str = "zstd-jsonl";
pub(crate) const JSON: &str = "json";

/// A block ready to be written.
pub(crate) struct NewBlock {
    pub first_time: i64,
    pub last_time: i64,
    pub count: i64,
    pub encoding: &'static str,
    pub data: Vec<u8>,
    pub entities: BTreeSet<String>,
}

/// The batch's activities, stamped with the tenant, in blocks.
pub(crate) fn blocks(tenant: &TenantId, activities: &[Activity]) -> Result<Vec<NewBlock>> {
    activities
        .chunks(BLOCK_ACTIVITIES)
        .map(|chunk| {
            let stamped: Vec<Activity> = chunk
                .iter()
                .map(|a| {
                    let mut a = a.clone();
                    a.tenant = tenant.clone();
                    a
                })
                .collect();
            encode(&stamped)
        })
        .collect()
}

/// One block of activities (at most [`BLOCK_ACTIVITIES`]).
pub(crate) fn encode(activities: &[Activity]) -> Result<NewBlock> {
    let mut lines = Vec::with_capacity(activities.len() * 512);
    let mut entities = BTreeSet::new();
    for activity in activities {
        serde_json::to_writer(&mut lines, activity)?;
        lines.push(b'\n');
        entities.extend(activity_entities(activity));
    }
    let data = zstd::bulk::compress(&lines, COMPRESSION_LEVEL)
        .map_err(|e| StoreError::Invalid(format!("compressing activities: {e}")))?;
    let times = activities.iter().map(|a| a.time.as_micros());
    Ok(NewBlock {
        first_time: times.clone().min().unwrap_or_default(),
        last_time: times.max().unwrap_or_default(),
        count: i64::try_from(activities.len()).unwrap_or(i64::MAX),
        encoding: ZSTD_JSON_LINES,
        data,
        entities,
    })
}

/// A stored block's activities, in their stored order.
pub(crate) fn decode(encoding: &str, data: &[u8]) -> Result<Vec<Activity>> {
    match encoding {
        JSON => Ok(vec![serde_json::from_slice(data)?]),
        ZSTD_JSON_LINES => {
            let mut lines = Vec::new();
            zstd::stream::read::Decoder::new(data)
                .and_then(|d| d.take(MAX_BLOCK_BYTES).read_to_end(&mut lines))
                .map_err(|e| StoreError::Invalid(format!("stored activity block: {e}")))?;
            lines
                .split(|b| *b == b'\n')
                .filter(|line| !line.is_empty())
                .map(|line| Ok(serde_json::from_slice(line)?))
                .collect()
        }
        other => Err(StoreError::Invalid(format!("stored activity block encoding {other:?}"))),
    }
}

/// The id of the activity at `index` in `block`: increasing in storage order.
pub(crate) fn activity_id(block: i64, index: usize) -> i64 {
    (block << INDEX_BITS) | i64::try_from(index).unwrap_or(0)
}

/// The block an activity id falls in, and the index within it that comes after it.
pub(crate) fn resume_at(after: i64) -> (i64, usize) {
    (after >> INDEX_BITS, usize::try_from(after & ((1 << INDEX_BITS) - 1)).unwrap_or(0) + 1)
}

/// Activities after the id `after`, in storage order, from blocks given in id order.
pub(crate) fn after(
    rows: impl IntoIterator<Item = Result<(i64, String, Vec<u8>)>>,
    after: i64,
    limit: usize,
) -> Result<Vec<(i64, Activity)>> {
    let (first_block, first_index) = resume_at(after);
    let mut out = Vec::new();
    for row in rows {
        let (block, encoding, data) = row?;
        let skip = if block == first_block { first_index } else { 0 };
        for (index, activity) in decode(&encoding, &data)?.into_iter().enumerate().skip(skip) {
            if out.len() >= limit {
                return Ok(out);
            }
            out.push((activity_id(block, index), activity));
        }
    }
    Ok(out)
}

/// What a timeline asks for.
pub(crate) struct Window<'a> {
    pub entity: Option<&'a str>,
    pub since: i64,
    pub until: i64,
    pub limit: usize,
}

/// The newest `limit` activities matching the window, newest first, from blocks given newest
/// (by last time) first; `load` reads a block's encoding and data. A block is read only while
/// it may still hold one of the newest: once `limit` are found, blocks that end before the
/// oldest of them are not opened.
pub(crate) fn newest(
    blocks: &[(i64, i64)],
    mut load: impl FnMut(i64) -> Result<(String, Vec<u8>)>,
    window: &Window<'_>,
) -> Result<Vec<Activity>> {
    let mut found: Vec<(i64, i64, usize, Activity)> = Vec::new();
    for &(block, last_time) in blocks {
        if found.len() >= window.limit && found.last().is_some_and(|(time, ..)| last_time < *time) {
            break;
        }
        let (encoding, data) = load(block)?;
        for (index, activity) in decode(&encoding, &data)?.into_iter().enumerate() {
            let time = activity.time.as_micros();
            if time < window.since || time > window.until {
                continue;
            }
            if let Some(entity) = window.entity
                && !activity_entities(&activity).iter().any(|e| e == entity)
            {
                continue;
            }
            found.push((time, block, index, activity));
        }
        // Newest first (later blocks and places break ties, as insertion order would).
        found.sort_by_key(|b| std::cmp::Reverse((b.0, b.1, b.2)));
        found.truncate(window.limit);
    }
    Ok(found.into_iter().map(|(.., activity)| activity).collect())
}

/// A block straddling the retention limit, without its activities before `before`; None when
/// nothing is left.
pub(crate) fn trimmed(encoding: &str, data: &[u8], before: i64) -> Result<(usize, Option<NewBlock>)> {
    let activities = decode(encoding, data)?;
    let total = activities.len();
    let kept: Vec<Activity> = activities.into_iter().filter(|a| a.time.as_micros() >= before).collect();
    let removed = total - kept.len();
    if kept.is_empty() {
        return Ok((removed, None));
    }
    Ok((removed, Some(encode(&kept)?)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_resume_after_the_last_one_read() {
        let id = activity_id(7, 5);
        assert_eq!(resume_at(id), (7, 6));
        assert!(activity_id(7, 4095) < activity_id(8, 0));
    }

    #[test]
    fn a_damaged_block_is_an_error_not_a_panic() {
        assert!(decode(ZSTD_JSON_LINES, b"not zstd").is_err());
        assert!(decode("lz4", b"").is_err());
        let bomb = zstd::bulk::compress(&vec![b'x'; 1 << 20], 19).unwrap();
        assert!(decode(ZSTD_JSON_LINES, &bomb).is_err());
    }
}
