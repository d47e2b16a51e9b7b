//! Replays the spool fuzz target's seeds and their truncations on stable Rust.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

#[test]
fn spool_seeds_and_their_truncations_never_panic() {
    let seeds = orthrus_testkit::testdata().join("../fuzz/seeds/spool_batch");
    let mut inputs = 0;
    for entry in std::fs::read_dir(&seeds).unwrap().flatten() {
        let bytes = std::fs::read(entry.path()).unwrap();
        for cut in [0, 1, 4, bytes.len() / 3, bytes.len() / 2, bytes.len().saturating_sub(1)] {
            orthrus_sensor::spool::fuzz_batch_body(&bytes[..cut.min(bytes.len())]);
        }
        orthrus_sensor::spool::fuzz_batch_body(&bytes);
        inputs += 1;
    }
    assert!(inputs >= 1, "seeds in {}", seeds.display());
}
