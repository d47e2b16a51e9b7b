#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| orthrus_testkit::fuzz::text_log(data));
