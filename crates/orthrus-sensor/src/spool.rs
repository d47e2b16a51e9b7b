//! The sensor's disk buffer: batches of activities wait here until the center acknowledges
//! them, across center outages and sensor restarts. A SQLite table used as a queue (one file,
//! transactional, inspectable with `sqlite3`), each batch one zstd-compressed block of JSON
//! lines. Every batch gets the next sequence number, never reused (the number survives
//! restarts, even with the queue empty), so the center can tell a retry from a new batch.
//! Bounded in bytes: when a new batch does not fit, the oldest go, and what was dropped is
//! counted (and kept across restarts) for the health alert that reports it.

use std::path::Path;

use orthrus_model::Activity;
use rusqlite::{Connection, OptionalExtension, params};

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS batches (
    sequence INTEGER PRIMARY KEY,
    activities INTEGER NOT NULL,
    body BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS files (
    name TEXT PRIMARY KEY,
    batches INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS counters (
    name TEXT PRIMARY KEY,
    value INTEGER NOT NULL
);
INSERT OR IGNORE INTO counters (name, value) VALUES
    ('next_sequence', 1), ('dropped_batches', 0), ('dropped_activities', 0);
";

/// Largest batch body read back (compressed, and then decompressed): a bound on a corrupt or
/// hostile spool file.
const MAX_BODY_BYTES: usize = 256 << 20;

#[derive(Debug, thiserror::Error)]
pub enum SpoolError {
    #[error("spool database: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("spool batch {sequence}: {reason}")]
    Corrupt { sequence: u64, reason: String },
    #[error("spool: {0}")]
    Io(#[from] std::io::Error),
    #[error("spool: a batch of {bytes} bytes is larger than the spool's {max} bytes")]
    TooLarge { bytes: usize, max: u64 },
}

/// A batch waiting to be sent.
#[derive(Debug, Clone, PartialEq)]
pub struct SpooledBatch {
    pub sequence: u64,
    pub activities: Vec<Activity>,
}

/// What the spool holds and has lost.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SpoolStats {
    pub batches: u64,
    pub activities: u64,
    pub bytes: u64,
    pub dropped_batches: u64,
    pub dropped_activities: u64,
    pub next_sequence: u64,
}

pub struct Spool {
    connection: Connection,
    max_bytes: u64,
}

fn to_i64(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

fn to_u64(n: i64) -> u64 {
    u64::try_from(n).unwrap_or_default()
}

/// A batch's body: its activities as JSON lines, zstd-compressed.
fn encode(activities: &[Activity]) -> Result<Vec<u8>, SpoolError> {
    let mut lines = Vec::new();
    for activity in activities {
        serde_json::to_writer(&mut lines, activity).map_err(std::io::Error::other)?;
        lines.push(b'\n');
    }
    Ok(zstd::encode_all(lines.as_slice(), 3)?)
}

/// Inserts a batch with the next sequence number, dropping (and counting) the oldest batches
/// while the spool would exceed `max_bytes`.
fn insert_batch(
    transaction: &rusqlite::Transaction<'_>,
    max_bytes: u64,
    activities: usize,
    body: Vec<u8>,
) -> Result<u64, SpoolError> {
    if body.len() as u64 > max_bytes {
        return Err(SpoolError::TooLarge { bytes: body.len(), max: max_bytes });
    }
    let mut used: i64 =
        transaction.query_row("SELECT coalesce(sum(length(body)), 0) FROM batches", [], |r| r.get(0))?;
    while to_u64(used).saturating_add(body.len() as u64) > max_bytes {
        let oldest: Option<(i64, i64, i64)> = transaction
            .query_row(
                "SELECT sequence, activities, length(body) FROM batches ORDER BY sequence LIMIT 1",
                [],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .optional()?;
        let Some((sequence, count, size)) = oldest else { break };
        drop_counted(transaction, sequence, count)?;
        used -= size;
    }
    let sequence: i64 =
        transaction.query_row("SELECT value FROM counters WHERE name = 'next_sequence'", [], |r| r.get(0))?;
    transaction.execute(
        "INSERT INTO batches (sequence, activities, body) VALUES (?1, ?2, ?3)",
        params![sequence, to_i64(activities as u64), body],
    )?;
    transaction.execute("UPDATE counters SET value = value + 1 WHERE name = 'next_sequence'", [])?;
    Ok(to_u64(sequence))
}

/// Removes a batch that will never be sent, and counts it (and its activities) as dropped.
fn drop_counted(
    transaction: &rusqlite::Transaction<'_>,
    sequence: i64,
    activities: i64,
) -> Result<(), SpoolError> {
    transaction.execute("DELETE FROM batches WHERE sequence = ?1", [sequence])?;
    transaction.execute("UPDATE counters SET value = value + 1 WHERE name = 'dropped_batches'", [])?;
    transaction
        .execute("UPDATE counters SET value = value + ?1 WHERE name = 'dropped_activities'", [activities])?;
    Ok(())
}

impl Spool {
    /// Opens (or creates) the spool file, bounded to `max_bytes` of compressed batches. The
    /// file (and its `-wal` and `-shm`) is readable by its owner only, narrowed when an older
    /// version left it open to others: it holds what the sensor captured.
    pub fn open(path: &Path, max_bytes: u64) -> Result<Self, SpoolError> {
        orthrus_model::private_file::keep_private(path)?;
        let connection = Connection::open(path)?;
        connection.pragma_update(None, "journal_mode", "WAL")?;
        // A batch acknowledged by the sensor's own write must survive a power cut.
        connection.pragma_update(None, "synchronous", "FULL")?;
        connection.execute_batch(SCHEMA)?;
        Ok(Self { connection, max_bytes })
    }

    fn counter(&self, name: &str) -> Result<u64, SpoolError> {
        Ok(to_u64(
            self.connection.query_row("SELECT value FROM counters WHERE name = ?1", [name], |r| r.get(0))?,
        ))
    }

    /// Whether the input file `name` was spooled before (a restarted sensor does not read it
    /// again).
    /// Whether the file of this identity (its content's hash, see `crate::watch`) was read.
    /// The table's `name` column holds the identity (spools written before it held names).
    pub fn has_file(&self, identity: &str) -> Result<bool, SpoolError> {
        Ok(self
            .connection
            .query_row("SELECT count(*) FROM files WHERE name = ?1", [identity], |r| r.get::<_, i64>(0))?
            > 0)
    }

    /// Keeps a whole input file's activities as batches of at most `batch` activities and
    /// records the file as read, in one transaction: a sensor stopped half-way keeps none of
    /// it and reads the file again, one that finished never reads it twice.
    pub fn append_file(
        &mut self,
        identity: &str,
        activities: &[Activity],
        batch: usize,
    ) -> Result<Vec<u64>, SpoolError> {
        let bodies = activities
            .chunks(batch.max(1))
            .map(|chunk| Ok((chunk.len(), encode(chunk)?)))
            .collect::<Result<Vec<_>, SpoolError>>()?;
        let transaction = self.connection.transaction()?;
        let mut sequences = Vec::with_capacity(bodies.len());
        for (count, body) in bodies {
            sequences.push(insert_batch(&transaction, self.max_bytes, count, body)?);
        }
        transaction.execute(
            "INSERT OR REPLACE INTO files (name, batches) VALUES (?1, ?2)",
            params![identity, to_i64(sequences.len() as u64)],
        )?;
        transaction.commit()?;
        Ok(sequences)
    }

    /// Keeps `activities` as the next batch; returns its sequence number. Older batches are
    /// dropped (and counted) to make room when the spool is full.
    pub fn append(&mut self, activities: &[Activity]) -> Result<u64, SpoolError> {
        let body = encode(activities)?;
        let transaction = self.connection.transaction()?;
        let sequence = insert_batch(&transaction, self.max_bytes, activities.len(), body)?;
        transaction.commit()?;
        Ok(sequence)
    }

    /// The oldest batch not yet acknowledged.
    pub fn oldest(&self) -> Result<Option<SpooledBatch>, SpoolError> {
        let row: Option<(i64, Vec<u8>)> = self
            .connection
            .query_row("SELECT sequence, body FROM batches ORDER BY sequence LIMIT 1", [], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .optional()?;
        let Some((sequence, body)) = row else { return Ok(None) };
        let sequence = to_u64(sequence);
        let corrupt = |reason: String| SpoolError::Corrupt { sequence, reason };
        if body.len() > MAX_BODY_BYTES {
            return Err(corrupt(format!("{} bytes", body.len())));
        }
        let mut lines = Vec::new();
        let mut decoder = zstd::Decoder::new(body.as_slice()).map_err(|e| corrupt(e.to_string()))?;
        std::io::Read::read_to_end(&mut std::io::Read::take(&mut decoder, MAX_BODY_BYTES as u64), &mut lines)
            .map_err(|e| corrupt(e.to_string()))?;
        let activities = lines
            .split(|b| *b == b'\n')
            .filter(|line| !line.is_empty())
            .map(|line| serde_json::from_slice(line).map_err(|e| corrupt(e.to_string())))
            .collect::<Result<Vec<Activity>, _>>()?;
        Ok(Some(SpooledBatch { sequence, activities }))
    }

    /// The center has stored the batch: it leaves the spool.
    pub fn acknowledge(&mut self, sequence: u64) -> Result<bool, SpoolError> {
        Ok(self.connection.execute("DELETE FROM batches WHERE sequence = ?1", [to_i64(sequence)])? > 0)
    }

    /// A batch that can never be read (corrupt on disk) is set aside, counted as dropped.
    pub fn discard(&mut self, sequence: u64) -> Result<(), SpoolError> {
        let transaction = self.connection.transaction()?;
        let count: Option<i64> = transaction
            .query_row("SELECT activities FROM batches WHERE sequence = ?1", [to_i64(sequence)], |r| r.get(0))
            .optional()?;
        if let Some(count) = count {
            drop_counted(&transaction, to_i64(sequence), count)?;
        }
        transaction.commit()?;
        Ok(())
    }

    pub fn stats(&self) -> Result<SpoolStats, SpoolError> {
        let (batches, activities, bytes): (i64, i64, i64) = self.connection.query_row(
            "SELECT count(*), coalesce(sum(activities), 0), coalesce(sum(length(body)), 0) FROM batches",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )?;
        Ok(SpoolStats {
            batches: to_u64(batches),
            activities: to_u64(activities),
            bytes: to_u64(bytes),
            dropped_batches: self.counter("dropped_batches")?,
            dropped_activities: self.counter("dropped_activities")?,
            next_sequence: self.counter("next_sequence")?,
        })
    }
}

/// Fuzz entry point: any bytes as a stored batch body (a corrupt or hostile spool file) are
/// read back as activities or refused as corrupt, never a panic.
#[doc(hidden)]
pub fn fuzz_batch_body(data: &[u8]) {
    let Ok(connection) = Connection::open_in_memory() else { return };
    if connection.execute_batch(SCHEMA).is_err() {
        return;
    }
    let spool = Spool { connection, max_bytes: u64::MAX };
    if spool
        .connection
        .execute("INSERT INTO batches (sequence, activities, body) VALUES (1, 1, ?1)", [data])
        .is_ok()
    {
        let _ = spool.oldest();
    }
}
