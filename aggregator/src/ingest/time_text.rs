//! The common shape of a log line's time, `2026-11-13T00:00:04.459Z`, read
//! without a general date parser: digits at fixed places, a fraction of one
//! to nine digits, `Z`. Anything else (offsets, a space for `T`, years
//! outside 1678..=2261, a leap second) is left to arrow's RFC 3339 parser,
//! so both accept and give exactly the same times.

/// Nanoseconds since the epoch of `text` if it has the common shape and is
/// a real time in years 1678 to 2261; `None` to let the general parser
/// decide (it may still accept it).
pub fn utc_nanos(text: &str) -> Option<i64> {
    let b = text.as_bytes();
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || b[10] != b'T' || b[13] != b':' {
        return None;
    }
    if b[16] != b':' || *b.last()? != b'Z' {
        return None;
    }
    let year = digits(&b[0..4])?;
    let month = digits(&b[5..7])?;
    let day = digits(&b[8..10])?;
    let hour = digits(&b[11..13])?;
    let minute = digits(&b[14..16])?;
    let second = digits(&b[17..19])?;
    let nanos = match &b[19..b.len() - 1] {
        [] => 0,
        [b'.', fraction @ ..] if (1..=9).contains(&fraction.len()) => {
            digits(fraction)? * 10_i64.pow(9 - fraction.len() as u32)
        }
        _ => return None,
    };
    if !(1678..=2261).contains(&year) || !(1..=12).contains(&month) {
        return None;
    }
    if day < 1 || day > days_in_month(year, month) || hour > 23 || minute > 59 || second > 59 {
        return None;
    }
    let days = days_from_civil(year, month, day);
    let seconds = days * 86_400 + hour * 3_600 + minute * 60 + second;
    Some(seconds * 1_000_000_000 + nanos)
}

/// The value of ASCII digits (at most 9 of them), `None` for anything else.
fn digits(bytes: &[u8]) -> Option<i64> {
    bytes.iter().try_fold(0_i64, |value, &b| {
        b.is_ascii_digit().then(|| value * 10 + i64::from(b - b'0'))
    })
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days from 1970-01-01 to the given proleptic Gregorian date (Howard
/// Hinnant's `days_from_civil`).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let month_from_march = (month + 9) % 12;
    let day_of_year = (153 * month_from_march + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::compute::kernels::cast_utils::string_to_timestamp_nanos;

    /// Whenever the fast reading gives a time, arrow's gives the same one.
    fn agrees(text: &str) -> bool {
        match utc_nanos(text) {
            Some(nanos) => string_to_timestamp_nanos(text).ok() == Some(nanos),
            None => true,
        }
    }

    #[test]
    fn reads_the_common_shapes_as_arrow_does() {
        for text in [
            "2026-11-13T00:00:04.459Z",
            "1970-01-01T00:00:00Z",
            "1969-12-31T23:59:59.999999999Z",
            "1678-01-01T00:00:00.000001Z",
            "2261-12-31T23:59:59.5Z",
            "2000-02-29T12:34:56.123456Z",
            "2024-02-29T00:00:00Z",
            "1900-03-01T00:00:00Z",
        ] {
            let nanos = utc_nanos(text).unwrap_or_else(|| panic!("{text} not read"));
            assert_eq!(
                Ok(nanos),
                string_to_timestamp_nanos(text).map_err(|e| e.to_string())
            );
        }
    }

    #[test]
    fn leaves_everything_else_to_arrow() {
        for text in [
            "2026-11-13 00:00:04Z",
            "2026-11-13T00:00:04+01:00",
            "2026-11-13T00:00:04",
            "2026-11-13T00:00:60Z",
            "2023-02-29T00:00:00Z",
            "1900-02-29T00:00:00Z",
            "2026-13-01T00:00:00Z",
            "2026-00-01T00:00:00Z",
            "2026-01-00T00:00:00Z",
            "2026-01-01T24:00:00Z",
            "2026-01-01T00:00:00.Z",
            "2026-01-01T00:00:00.1234567890Z",
            "1677-12-31T00:00:00Z",
            "2262-01-01T00:00:00Z",
            "+026-01-01T00:00:00Z",
            "2026-01-01T00:00:0aZ",
            "2026-01-01T00:00:00,5Z",
        ] {
            assert_eq!(utc_nanos(text), None, "{text}");
        }
    }

    #[test]
    fn agrees_with_arrow_on_every_day_and_many_variations() {
        let mut state = 0x9e37_79b9_7f4a_7c15_u64;
        let mut next = |bound: u64| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state % bound
        };
        for _ in 0..20_000 {
            let text = format!(
                "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:0width$}Z",
                1670 + next(600),
                next(14),
                next(33),
                next(25),
                next(61),
                next(61),
                next(1_000),
                width = 1 + next(9) as usize,
            );
            assert!(agrees(&text), "{text}");
        }
    }
}
