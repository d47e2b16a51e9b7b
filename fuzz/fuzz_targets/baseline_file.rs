#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| orthrus_detect::baseline::fuzz_baseline(data));
