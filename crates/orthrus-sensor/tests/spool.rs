//! The spool with real activities (lab captures), and shipping into a real store through
//! center outages, lost acknowledgements and sensor restarts: every activity arrives once.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use orthrus_model::{Activity, TenantId, Timestamp};
use orthrus_sensor::{Spool, SpoolError};
use orthrus_store::{ActivityQuery, Ingested, SqliteStore, Store};

fn batches() -> Vec<Vec<Activity>> {
    let mut all = Vec::new();
    for capture in ["benign_logon", "kerberoast", "dcsync", "krb_password_spray", "samr_recon"] {
        all.extend(orthrus_testkit::lab_activities(capture));
    }
    assert!(all.len() > 200, "{}", all.len());
    all.chunks(25).map(<[Activity]>::to_vec).collect()
}

#[test]
fn batches_wait_in_order_across_restarts_and_sequence_numbers_are_never_reused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("spool.db");
    let batches = batches();
    {
        let mut spool = Spool::open(&path, 64 << 20).unwrap();
        for (n, batch) in batches[..3].iter().enumerate() {
            assert_eq!(spool.append(batch).unwrap(), n as u64 + 1);
        }
    }
    // Restarted: the same batches wait, oldest first, exactly as they went in.
    let mut spool = Spool::open(&path, 64 << 20).unwrap();
    let oldest = spool.oldest().unwrap().unwrap();
    assert_eq!(oldest.sequence, 1);
    assert_eq!(oldest.activities, batches[0]);
    assert!(spool.acknowledge(1).unwrap());
    assert!(!spool.acknowledge(1).unwrap());
    assert!(spool.acknowledge(2).unwrap() && spool.acknowledge(3).unwrap());
    assert!(spool.oldest().unwrap().is_none());
    drop(spool);
    // Empty and restarted again: the next batch is 4, not 1.
    let mut spool = Spool::open(&path, 64 << 20).unwrap();
    assert_eq!(spool.append(&batches[3]).unwrap(), 4);
    let stats = spool.stats().unwrap();
    assert_eq!((stats.batches, stats.activities, stats.next_sequence), (1, batches[3].len() as u64, 5));
}

#[test]
fn a_full_spool_drops_its_oldest_batches_and_counts_them() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("spool.db");
    let batches = batches();
    // Room for a few compressed batches only.
    let one = zstd::encode_all(
        batches[0].iter().map(|a| serde_json::to_string(a).unwrap() + "\n").collect::<String>().as_bytes(),
        3,
    )
    .unwrap()
    .len() as u64;
    let mut spool = Spool::open(&path, one * 3).unwrap();
    for batch in &batches {
        spool.append(batch).unwrap();
    }
    let stats = spool.stats().unwrap();
    assert!(stats.bytes <= one * 3, "{stats:?}");
    assert!(stats.dropped_batches > 0);
    assert_eq!(stats.batches + stats.dropped_batches, batches.len() as u64);
    let kept: u64 = stats.activities;
    assert_eq!(kept + stats.dropped_activities, batches.iter().map(|b| b.len() as u64).sum::<u64>());
    // What is left is the newest, and the loss is remembered after a restart.
    let oldest = spool.oldest().unwrap().unwrap().sequence;
    assert_eq!(oldest, stats.dropped_batches + 1);
    drop(spool);
    let spool = Spool::open(&path, one * 3).unwrap();
    assert_eq!(spool.stats().unwrap().dropped_batches, stats.dropped_batches);
    // A batch larger than the whole spool is refused, not silently lost.
    let mut tiny = Spool::open(&dir.path().join("tiny.db"), 16).unwrap();
    assert!(matches!(tiny.append(&batches[0]), Err(SpoolError::TooLarge { .. })));
}

#[test]
fn a_corrupt_batch_is_reported_and_can_be_set_aside() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("spool.db");
    let batches = batches();
    let mut spool = Spool::open(&path, 64 << 20).unwrap();
    spool.append(&batches[0]).unwrap();
    spool.append(&batches[1]).unwrap();
    drop(spool);
    let db = rusqlite::Connection::open(&path).unwrap();
    db.execute("UPDATE batches SET body = x'28b52ffd0000deadbeef' WHERE sequence = 1", []).unwrap();
    drop(db);
    let mut spool = Spool::open(&path, 64 << 20).unwrap();
    let error = spool.oldest().unwrap_err();
    assert!(matches!(error, SpoolError::Corrupt { sequence: 1, .. }), "{error}");
    spool.discard(1).unwrap();
    assert_eq!(spool.oldest().unwrap().unwrap().sequence, 2);
    let stats = spool.stats().unwrap();
    assert_eq!((stats.dropped_batches, stats.dropped_activities), (1, batches[0].len() as u64));
}

/// The center: a store file that may be "down" (not opened) for a while.
struct Center {
    path: std::path::PathBuf,
    tenant: TenantId,
    sensor: String,
}

impl Center {
    fn open(&self) -> SqliteStore {
        SqliteStore::open(&self.path).unwrap()
    }
}

#[test]
fn every_activity_arrives_once_through_outages_lost_acks_and_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let spool_path = dir.path().join("spool.db");
    let tenant = TenantId("acme".into());
    let center = Center { path: dir.path().join("center.db"), tenant: tenant.clone(), sensor: String::new() };
    let sensor = {
        let store = center.open();
        store.create_tenant(&tenant, "ACME", Timestamp::from_micros(0)).unwrap();
        store.create_sensor(&tenant, "dc1", &[7; 32], Timestamp::from_micros(0)).unwrap().id
    };
    let center = Center { sensor, ..center };
    let batches = batches();
    let total: usize = batches.iter().map(Vec::len).sum();

    let mut spool = Spool::open(&spool_path, 64 << 20).unwrap();
    let mut duplicates = 0;
    for (round, batch) in batches.iter().enumerate() {
        spool.append(batch).unwrap();
        match round % 5 {
            // The center is down: nothing is sent, the batch waits.
            1 => continue,
            // The sensor restarts between capture and sending.
            2 => {
                drop(spool);
                spool = Spool::open(&spool_path, 64 << 20).unwrap();
            }
            _ => {}
        }
        let store = center.open();
        while let Some(waiting) = spool.oldest().unwrap() {
            let outcome = store
                .ingest(
                    &center.tenant,
                    &center.sensor,
                    waiting.sequence,
                    &waiting.activities,
                    Timestamp::from_micros(1),
                )
                .unwrap();
            if outcome == Ingested::Duplicate {
                duplicates += 1;
            }
            // Every third batch's acknowledgement is lost (the center stored it, the sensor
            // did not hear so and restarts): it is sent again and recognised.
            if waiting.sequence % 3 == 0 && outcome != Ingested::Duplicate {
                drop(spool);
                spool = Spool::open(&spool_path, 64 << 20).unwrap();
                continue;
            }
            spool.acknowledge(waiting.sequence).unwrap();
        }
        // The center restarts too (a new store handle on the same file).
        drop(store);
    }
    assert!(duplicates > 0, "some batches were sent twice");
    assert!(spool.oldest().unwrap().is_none());
    let store = center.open();
    assert_eq!(store.activity_count(&tenant).unwrap(), total as u64, "each activity exactly once");
    // And they are the same activities an uninterrupted run would store, in order.
    let mut stored =
        store.activities(&tenant, &ActivityQuery { limit: 10_000, ..Default::default() }).unwrap();
    stored.reverse();
    let mut sent: Vec<Activity> = batches.concat();
    for a in &mut sent {
        a.tenant = tenant.clone();
    }
    let key = |a: &Activity| serde_json::to_string(a).unwrap();
    let mut stored_keys: Vec<String> = stored.iter().map(key).collect();
    let mut sent_keys: Vec<String> = sent.iter().map(key).collect();
    stored_keys.sort();
    sent_keys.sort();
    assert_eq!(stored_keys, sent_keys);
}

#[test]
fn a_file_is_spooled_whole_and_remembered() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("spool.db");
    let activities = orthrus_testkit::lab_activities("samr_recon");
    let mut spool = Spool::open(&path, 64 << 20).unwrap();
    assert!(!spool.has_file("0001-samr_recon.pcap").unwrap());
    let sequences = spool.append_file("0001-samr_recon.pcap", &activities, 40).unwrap();
    assert_eq!(sequences.len(), activities.len().div_ceil(40));
    assert!(sequences.windows(2).all(|w| w[1] == w[0] + 1));
    drop(spool);
    let spool = Spool::open(&path, 64 << 20).unwrap();
    assert!(spool.has_file("0001-samr_recon.pcap").unwrap(), "remembered across a restart");
    assert_eq!(spool.stats().unwrap().activities, activities.len() as u64);
    // A file too large for the spool leaves nothing behind, not even its name.
    let mut tiny = Spool::open(&dir.path().join("tiny.db"), 64).unwrap();
    assert!(tiny.append_file("big.pcap", &activities, 1000).is_err());
    assert!(!tiny.has_file("big.pcap").unwrap());
    assert_eq!(tiny.stats().unwrap().batches, 0);
}
