//! Replays the baseline fuzz target's seeds (and their truncations) on stable Rust.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

#[test]
fn baseline_seeds_and_their_truncations_are_refused_or_restored_never_a_panic() {
    let seeds = orthrus_testkit::testdata().join("../fuzz/seeds/baseline_file");
    let mut inputs = 0;
    for entry in std::fs::read_dir(&seeds).unwrap().flatten() {
        let bytes = std::fs::read(entry.path()).unwrap();
        for cut in 0..bytes.len() {
            orthrus_detect::baseline::fuzz_baseline(&bytes[..cut]);
        }
        orthrus_detect::baseline::fuzz_baseline(&bytes);
        inputs += 1;
    }
    assert!(inputs >= 2, "seeds in {}", seeds.display());
}
