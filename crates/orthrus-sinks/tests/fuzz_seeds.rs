//! Replays the HTTP answer fuzz target's seeds and their truncations on stable Rust.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

#[test]
fn http_answer_seeds_never_panic() {
    assert!(orthrus_testkit::replay_fuzz_seeds("http_answer", orthrus_sinks::http::fuzz_http_answer) >= 2);
}
