#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| orthrus_server::ui::fuzz_ui_input(data));
