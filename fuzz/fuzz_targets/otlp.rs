//! libFuzzer entry for [`shoal_fuzz::otlp`].
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| shoal_fuzz::otlp(data));
