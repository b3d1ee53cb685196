//! libFuzzer entry for [`shoal_fuzz::ndjson`].
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| shoal_fuzz::ndjson(data));
