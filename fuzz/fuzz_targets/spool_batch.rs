#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| orthrus_sensor::spool::fuzz_batch_body(data));
