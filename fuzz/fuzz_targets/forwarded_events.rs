#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| orthrus_sensor::intake::fuzz_forwarded(data));
