//! libFuzzer entry for [`shoal_fuzz::wal_replay`].
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| shoal_fuzz::wal_replay(data));
