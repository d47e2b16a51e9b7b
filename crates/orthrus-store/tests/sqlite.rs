//! The storage suite on SQLite, plus what only a file-backed store shows.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

mod suite;

use orthrus_store::{ActivityQuery, SqliteStore, Store};

fn fresh() -> Box<dyn Store> {
    Box::new(SqliteStore::in_memory().unwrap())
}

store_suite!(fresh());

#[test]
fn a_store_file_keeps_everything_across_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("orthrus.db");
    let (sensor, _) = {
        let store = SqliteStore::open(&path).unwrap();
        let sensors = suite::two_tenants(&store);
        let acme = suite::tenant("acme");
        store
            .ingest(
                &acme,
                &sensors.0,
                7,
                &suite::lab("dcsync", &acme),
                orthrus_model::Timestamp::from_micros(1),
            )
            .unwrap();
        sensors
    };
    // Reopened (migrations run again and find nothing to do): the data and the batch
    // sequence survive, so a sensor retrying after a center restart is not stored twice.
    let store = SqliteStore::open(&path).unwrap();
    let acme = suite::tenant("acme");
    let count = store.activity_count(&acme).unwrap();
    assert!(count > 0);
    assert_eq!(
        store
            .ingest(&acme, &sensor, 7, &suite::lab("dcsync", &acme), orthrus_model::Timestamp::from_micros(2))
            .unwrap(),
        orthrus_store::Ingested::Duplicate
    );
    assert_eq!(
        store.activities(&acme, &ActivityQuery { limit: 10_000, ..Default::default() }).unwrap().len() as u64,
        count
    );
}
