//! Replays the request-body fuzz target's seeds (a zstd batch, a heartbeat, a zstd directory
//! snapshot) and their truncations on stable Rust; the whole seeds decode.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

const MAX: u64 = orthrus_server::body::MAX_BATCH_BYTES;

#[test]
fn request_body_seeds_decode_and_their_truncations_are_refused() {
    assert!(orthrus_testkit::replay_fuzz_seeds("request_body", orthrus_server::body::fuzz_request_body) >= 3);
    let seed = |name: &str| {
        std::fs::read(orthrus_testkit::testdata().join("../fuzz/seeds/request_body").join(name)).unwrap()
    };
    let batch: serde_json::Value =
        orthrus_server::body::decode(Some("zstd"), &seed("dcsync_batch.zst")[1..], MAX).unwrap();
    assert!(batch["activities"].as_array().unwrap().len() > 10);
    let snapshot: orthrus_directory::Snapshot =
        orthrus_server::body::decode(Some("zstd"), &seed("snapshot.zst")[1..], MAX).unwrap();
    assert!(!snapshot.domains.is_empty());
    let beat: orthrus_center::health::Heartbeat =
        orthrus_server::body::decode(None, &seed("heartbeat.json")[1..], MAX).unwrap();
    assert_eq!(beat.packets, 174);
    let cut = &seed("dcsync_batch.zst")[1..100];
    assert!(orthrus_server::body::decode::<serde_json::Value>(Some("zstd"), cut, MAX).is_err());
}

#[test]
fn ui_input_seeds_replay() {
    assert!(orthrus_testkit::replay_fuzz_seeds("ui_input", orthrus_server::ui::fuzz_ui_input) >= 5);
}
