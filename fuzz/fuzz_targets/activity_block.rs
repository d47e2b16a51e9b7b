#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| orthrus_store::fuzz_activity_block(data));
