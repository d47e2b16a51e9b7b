#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| orthrus_sinks::http::fuzz_http_answer(data));
