#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| orthrus_server::body::fuzz_request_body(data));
