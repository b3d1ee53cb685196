//! The last line under every answer: how many rows, how long it took, and
//! how much of the data it covers.
//!
//! ```text
//! 3 rows in 12 ms · 4/4 leaves answered · rows 100.0%
//! ```
//!
//! The completeness is the JSON the aggregator puts in
//! `FlightInfo.app_metadata` (see `aggregator/src/completeness.rs`); a
//! server that sends none (another Flight SQL server) gets the first part of
//! the line only.

use std::time::Duration;

pub use shoal_aggregator::completeness::Completeness;

/// The completeness in a `FlightInfo.app_metadata`; `None` when it holds no
/// Shoal completeness.
pub fn from_app_metadata(metadata: &[u8]) -> Option<Completeness> {
    if metadata.is_empty() {
        return None;
    }
    serde_json::from_slice(metadata).ok()
}

/// `3 rows in 12 ms · 4/4 leaves answered · rows 100.0%`.
pub fn summary_line(rows: usize, elapsed: Duration, completeness: Option<&Completeness>) -> String {
    let noun = if rows == 1 { "row" } else { "rows" };
    let mut line = format!("{rows} {noun} in {} ms", elapsed.as_millis());
    match completeness {
        None => {}
        Some(c) if c.leaves_queried == 0 => line.push_str(" · no leaf queried"),
        Some(c) => line.push_str(&format!(
            " · {}/{} leaves answered · rows {}",
            c.leaves_answered,
            c.leaves_queried,
            percent(c.rows_ratio)
        )),
    }
    line
}

/// One decimal; a share short of 1 never rounds up to `100.0%`, so an
/// incomplete answer never reads as a complete one.
fn percent(ratio: f64) -> String {
    let tenths = (ratio * 1000.0).round();
    let tenths = if ratio < 1.0 && tenths >= 1000.0 {
        999.0
    } else {
        tenths
    };
    format!("{:.1}%", tenths / 10.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_line_names_rows_time_and_completeness() {
        let all = Completeness {
            leaves_queried: 4,
            leaves_answered: 4,
            ratio: 1.0,
            rows_ratio: 1.0,
        };
        assert_eq!(
            summary_line(3, Duration::from_millis(12), Some(&all)),
            "3 rows in 12 ms · 4/4 leaves answered · rows 100.0%"
        );
        let most = Completeness {
            leaves_answered: 3,
            ratio: 0.75,
            rows_ratio: 0.99991,
            ..all
        };
        assert_eq!(
            summary_line(1, Duration::from_millis(5), Some(&most)),
            "1 row in 5 ms · 3/4 leaves answered · rows 99.9%"
        );
        assert_eq!(
            summary_line(0, Duration::from_millis(1), None),
            "0 rows in 1 ms"
        );
    }

    #[test]
    fn completeness_reads_the_aggregators_json() {
        let parsed = from_app_metadata(
            br#"{"leaves_queried":2,"leaves_answered":1,"ratio":0.5,"rows_ratio":0.5}"#,
        );
        assert_eq!(
            parsed,
            Some(Completeness {
                leaves_queried: 2,
                leaves_answered: 1,
                ratio: 0.5,
                rows_ratio: 0.5
            })
        );
        assert_eq!(from_app_metadata(b""), None);
        assert_eq!(from_app_metadata(b"not json"), None);
    }
}
