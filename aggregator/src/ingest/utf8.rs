//! Text checked as UTF-8 the quick way for ASCII, which nearly every line,
//! key and value is: `is_ascii` reads a word at a time with no per-byte
//! branch, and is inlined, where the general check is a call whose set-up
//! costs more than a short string's bytes (in a `perf` profile of NDJSON
//! ingest, `core::str::from_utf8` had 3% of the samples).

/// `bytes` as text, or where they stop being UTF-8.
#[inline]
pub fn utf8(bytes: &[u8]) -> Result<&str, std::str::Utf8Error> {
    if bytes.is_ascii() {
        // SAFETY: bytes that are all ASCII are valid UTF-8.
        return Ok(unsafe { std::str::from_utf8_unchecked(bytes) });
    }
    std::str::from_utf8(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_as_the_general_check_reads() {
        let cases: [&[u8]; 6] = [
            b"",
            b"plain ascii",
            "h\u{e9}".as_bytes(),
            b"\xff",
            b"ok\xc3",
            b"\x7f\x80",
        ];
        for bytes in cases {
            let quick = utf8(bytes).map_err(|e| e.valid_up_to());
            let general = std::str::from_utf8(bytes).map_err(|e| e.valid_up_to());
            assert_eq!(quick, general, "{bytes:?}");
        }
    }
}
