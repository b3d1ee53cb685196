//! libFuzzer entry for [`shoal_fuzz::block_open`].
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| shoal_fuzz::block_open(data));
