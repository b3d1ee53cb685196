//! libFuzzer entry for [`shoal_fuzz::fragment`].
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| shoal_fuzz::fragment(data));
