//! Replays the activity-block fuzz target's seeds and their truncations on stable Rust.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

#[test]
fn activity_block_seeds_never_panic() {
    assert!(orthrus_testkit::replay_fuzz_seeds("activity_block", orthrus_store::fuzz_activity_block) >= 1);
}
