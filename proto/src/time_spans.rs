//! How a table's rows spread over time, as a status call reports it: one
//! [`TimeSpan`] per block, kept to at most [`MAX_TIME_SPANS`] by merging
//! neighbours. Leaves build the list; an aggregator that is another's child
//! joins its children's lists and keeps them to the same bound. What an
//! aggregator estimates from them is its own business
//! (`shoal_aggregator::time_completeness`).
//!
//! ```text
//!   spans sorted by min time:   [a][b][c][d][e][f][g]     (7 > limit 3)
//!   chunks of ceil(7 / 3) = 3:  [a  b  c][d  e  f][g]
//!   one span per chunk:         min of mins, max of maxes, sum of rows
//! ```

use crate::v1::{TableStatus, TimeSpan};

/// Most spans one table's status carries.
pub const MAX_TIME_SPANS: usize = 4096;

/// Most spans one status call carries over all its tables (about 1.5 MiB):
/// a leaf may hold 10,000 tables, and 4096 spans each would make a status,
/// polled every second, near a gigabyte, past every gRPC message limit.
pub const MAX_STATUS_SPANS: usize = 65_536;

/// Merges the spans of `tables` further, when they hold more than `budget`
/// in all, so that each keeps at most an even share of it (at least one).
pub fn keep_within(tables: &mut [TableStatus], budget: usize) {
    let total: usize = tables.iter().map(|t| t.spans.len()).sum();
    if total <= budget || tables.is_empty() {
        return;
    }
    let share = (budget / tables.len()).max(1);
    for table in tables.iter_mut().filter(|t| t.spans.len() > share) {
        table.spans = merge_neighbours(std::mem::take(&mut table.spans), share);
    }
}

/// `spans` sorted by min time, neighbours merged so that at most `limit`
/// remain (at least one when there was any). Spans of no rows are dropped.
pub fn merge_neighbours(mut spans: Vec<TimeSpan>, limit: usize) -> Vec<TimeSpan> {
    spans.retain(|span| span.rows > 0);
    spans.sort_by_key(|span| (span.min_time_micros, span.max_time_micros));
    if spans.len() <= limit {
        return spans;
    }
    let chunk = spans.len().div_ceil(limit.max(1));
    spans
        .chunks(chunk)
        .map(|neighbours| TimeSpan {
            min_time_micros: neighbours
                .iter()
                .map(|s| s.min_time_micros)
                .min()
                .unwrap_or_default(),
            max_time_micros: neighbours
                .iter()
                .map(|s| s.max_time_micros)
                .max()
                .unwrap_or_default(),
            rows: neighbours
                .iter()
                .fold(0u64, |rows, s| rows.saturating_add(s.rows)),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn span(min: i64, max: i64, rows: u64) -> TimeSpan {
        TimeSpan {
            min_time_micros: min,
            max_time_micros: max,
            rows,
        }
    }

    #[test]
    fn few_spans_are_only_sorted_and_empty_ones_dropped() {
        let spans = vec![span(20, 29, 5), span(0, 9, 3), span(10, 19, 0)];
        assert_eq!(
            merge_neighbours(spans, 4),
            vec![span(0, 9, 3), span(20, 29, 5)]
        );
    }

    #[test]
    fn a_status_of_many_tables_keeps_within_its_budget_of_spans() {
        let table = |name: &str, spans: i64| TableStatus {
            name: name.to_string(),
            spans: (0..spans).map(|i| span(i * 10, i * 10 + 9, 1)).collect(),
            ..Default::default()
        };
        let mut tables = vec![table("small", 3), table("a", 5000), table("b", 5000)];
        keep_within(&mut tables, 4000);
        let kept: Vec<usize> = tables.iter().map(|t| t.spans.len()).collect();
        assert!(kept.iter().sum::<usize>() <= 4000, "{kept:?}");
        assert_eq!(kept[0], 3, "a table under its share keeps its spans");
        for (table, rows) in tables.iter().zip([3, 5000, 5000]) {
            assert_eq!(table.spans.iter().map(|s| s.rows).sum::<u64>(), rows);
        }
        // Under budget: untouched.
        let mut few = vec![table("a", 10)];
        keep_within(&mut few, 4000);
        assert_eq!(few[0].spans.len(), 10);
    }

    #[test]
    fn many_spans_merge_with_their_neighbours_keeping_every_row() {
        let spans: Vec<TimeSpan> = (0..10_000)
            .rev()
            .map(|i| span(i * 10, i * 10 + 9, 2))
            .collect();
        let merged = merge_neighbours(spans, MAX_TIME_SPANS);
        assert!(merged.len() <= MAX_TIME_SPANS);
        assert_eq!(merged.iter().map(|s| s.rows).sum::<u64>(), 20_000);
        assert_eq!(merged[0].min_time_micros, 0);
        assert_eq!(merged[merged.len() - 1].max_time_micros, 99_999);
        // Neighbours only: merged spans do not overlap.
        for pair in merged.windows(2) {
            assert!(pair[0].max_time_micros < pair[1].min_time_micros);
        }
    }
}
