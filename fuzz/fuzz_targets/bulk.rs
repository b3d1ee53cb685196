//! libFuzzer entry for [`shoal_fuzz::bulk`].
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| shoal_fuzz::bulk(data));
