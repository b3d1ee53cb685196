//! libFuzzer entry for [`shoal_fuzz::flight_tickets`].
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| shoal_fuzz::flight_tickets(data));
