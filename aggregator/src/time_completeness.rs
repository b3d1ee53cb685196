//! Completeness in time: for each time bucket of an answer, the estimated
//! share of its rows that the answer lacks because a child did not answer.
//!
//! Leaves report, per table, one [`TimeSpan`] per block (its time range and
//! rows). A query keeps which children it queried, how many of the leaves
//! behind each answered, and the tables it read ([`QueryReach`]). The rows of
//! each span are taken to spread uniformly over its range; every queried
//! child's spans count in a bucket's total, a child's unanswered share of
//! them in its missing rows:
//!
//! ```text
//!   buckets         |  0  |  1  |  2  |  3  |
//!   leaf A (answered)     [=========]            total += rows by overlap
//!   leaf B (failed)   [=======]                  total and missing += ...
//!   missing[i] = missing rows in i / total rows in i   (0 where total is 0)
//! ```
//!
//! Buckets are the request's `time_buckets`, or else inferred from the
//! answer's first timestamp column (step: the smallest gap between its
//! distinct values). This module owns the estimate and the JSON object the
//! HTTP answers carry; it does not know how a query runs.

use std::collections::BTreeMap;
use std::sync::Arc;

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::compute::cast;
use arrow::datatypes::{DataType, SchemaRef, TimeUnit, TimestampMillisecondType};
use serde::Deserialize;
use serde_json::{Value, json};
use shoal_proto::{FragmentCompleteness, TimeSpan};

use crate::completeness::CompletenessCollector;
use crate::error::{AggregatorError, Result};
use crate::fleet::Fleet;
use crate::query::QueryOutcome;

/// Most buckets an answer's `time_completeness` has.
pub const MAX_BUCKETS: i64 = 10_000;

/// Rows are counted in millionths, in integers, so that a bucket no span
/// reaches is exactly 0 and a bucket only failed leaves fill is exactly 1.
const ROW_SCALE: i128 = 1_000_000;

/// The request's `"time_buckets"`: which answer column holds the buckets,
/// and where they are.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BucketRequest {
    pub column: String,
    pub start_ms: i64,
    pub end_ms: i64,
    pub step_ms: i64,
}

impl BucketRequest {
    /// Reads and checks the request's `"time_buckets"` value.
    pub fn parse(value: &Value) -> Result<Self> {
        let request: Self = serde_json::from_value(value.clone()).map_err(|e| {
            invalid(
                "time_buckets",
                value,
                &format!("{e}; expected {{\"column\", \"start_ms\", \"end_ms\", \"step_ms\"}}"),
            )
        })?;
        request.check()?;
        Ok(request)
    }

    /// Checks what can be checked before the query runs: a positive step,
    /// an end not before the start, at most [`MAX_BUCKETS`] buckets.
    pub fn check(&self) -> Result<()> {
        if self.step_ms <= 0 {
            return Err(invalid(
                "time_buckets.step_ms",
                self.step_ms,
                "must be above 0",
            ));
        }
        if self.end_ms < self.start_ms {
            return Err(invalid(
                "time_buckets.end_ms",
                self.end_ms,
                &format!("must not be before start_ms ({})", self.start_ms),
            ));
        }
        let buckets = self.bucket_count();
        if buckets > i128::from(MAX_BUCKETS) {
            return Err(invalid(
                "time_buckets",
                format!("{buckets} buckets"),
                &format!("at most {MAX_BUCKETS} buckets; take a larger step_ms"),
            ));
        }
        Ok(())
    }

    fn bucket_count(&self) -> i128 {
        let span = i128::from(self.end_ms) - i128::from(self.start_ms);
        let step = i128::from(self.step_ms.max(1));
        (span + step - 1) / step
    }

    /// The buckets, once the answer's columns are known.
    fn buckets(&self, schema: &SchemaRef) -> Result<Buckets> {
        self.check()?;
        if schema.field_with_name(&self.column).is_err() {
            let columns: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
            return Err(invalid(
                "time_buckets.column",
                &self.column,
                &format!("not a column of the answer ({})", columns.join(", ")),
            ));
        }
        Ok(Buckets {
            column: self.column.clone(),
            start_ms: self.start_ms,
            step_ms: self.step_ms,
            count: self.bucket_count() as usize,
        })
    }
}

fn invalid(what: &'static str, value: impl ToString, reason: &str) -> AggregatorError {
    AggregatorError::InvalidOption {
        what,
        value: value.to_string(),
        reason: reason.to_string(),
    }
}

/// `count` buckets of `step_ms` from `start_ms`, in answer column `column`.
#[derive(Debug, Clone, PartialEq)]
pub struct Buckets {
    pub column: String,
    pub start_ms: i64,
    pub step_ms: i64,
    pub count: usize,
}

/// What a query reached: the children it queried, how many of the leaves
/// behind each answered, and the tables it read. Their spans are read from
/// the fleet when an estimate is asked for (a child that stopped answering
/// keeps its last status).
#[derive(Debug, Clone)]
pub struct QueryReach {
    fleet: Arc<Fleet>,
    tables: Vec<String>,
    children: BTreeMap<usize, FragmentCompleteness>,
}

impl QueryReach {
    /// What `collector` saw: a child that no fan-out reported on was not
    /// queried (an answer given while the query still runs records its
    /// pending children as unanswered).
    pub fn new(fleet: Arc<Fleet>, collector: &CompletenessCollector) -> Self {
        Self {
            fleet,
            tables: collector.tables(),
            children: collector.by_child(),
        }
    }

    /// Every queried child's spans of the tables read, each with the share
    /// of that child unanswered (`unanswered / queried` leaves).
    fn weighted_spans(&self) -> Vec<WeightedSpan> {
        if self.tables.is_empty() {
            return Vec::new();
        }
        let mut spans = Vec::new();
        for child in self.fleet.children().iter() {
            let Some(counts) = self.children.get(&child.index) else {
                continue;
            };
            let unanswered = counts.leaves_queried.saturating_sub(counts.leaves_answered);
            let queried = counts.leaves_queried;
            child.with_status(|status| {
                let tables = status.map_or(&[][..], |s| &s.tables);
                for table in tables.iter().filter(|t| self.tables.contains(&t.name)) {
                    spans.extend(table.spans.iter().map(|span| WeightedSpan {
                        span: *span,
                        unanswered,
                        queried,
                    }));
                }
            });
        }
        spans
    }
}

/// A child's span, and the share of the child (in leaves) that did not
/// answer.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct WeightedSpan {
    pub span: TimeSpan,
    pub unanswered: u64,
    pub queried: u64,
}

/// The `time_completeness` object of an answer: for the request's buckets,
/// or for those inferred from the answer (`None` when it has no timestamp
/// column with two distinct values, or would need more than
/// [`MAX_BUCKETS`]). Fails when the request's buckets are invalid.
pub fn for_answer(
    outcome: &QueryOutcome,
    request: Option<&BucketRequest>,
) -> Result<Option<Value>> {
    let buckets = match request {
        Some(request) => request.buckets(&outcome.schema)?,
        None => match inferred_buckets(&outcome.schema, &outcome.batches) {
            Some(buckets) => buckets,
            None => return Ok(None),
        },
    };
    let spans = outcome
        .reach
        .as_ref()
        .map(QueryReach::weighted_spans)
        .unwrap_or_default();
    let missing: Vec<f64> = missing_shares(&spans, &buckets)
        .into_iter()
        // Six decimals say enough and keep long series short.
        .map(|share| (share * 1e6).round() / 1e6)
        .collect();
    Ok(Some(json!({
        "column": buckets.column,
        "start_ms": buckets.start_ms,
        "step_ms": buckets.step_ms,
        "missing": missing,
    })))
}

/// Buckets from the answer's first timestamp column: from its smallest
/// value to its largest plus one step, the step being the smallest gap
/// between distinct values.
pub fn inferred_buckets(schema: &SchemaRef, batches: &[RecordBatch]) -> Option<Buckets> {
    let (index, field) = schema
        .fields()
        .iter()
        .enumerate()
        .find(|(_, f)| matches!(f.data_type(), DataType::Timestamp(..)))?;
    let DataType::Timestamp(_, zone) = field.data_type() else {
        return None;
    };
    // Same zone, so the values stay milliseconds since the epoch in UTC.
    let millis = DataType::Timestamp(TimeUnit::Millisecond, zone.clone());
    let mut values = Vec::new();
    for batch in batches {
        let column = cast(batch.column(index), &millis).ok()?;
        let column = column.as_primitive::<TimestampMillisecondType>();
        values.extend(
            (0..column.len())
                .filter(|&i| column.is_valid(i))
                .map(|i| column.value(i)),
        );
    }
    values.sort_unstable();
    values.dedup();
    let step_ms = values.windows(2).map(|pair| pair[1] - pair[0]).min()?;
    let (first, last) = (*values.first()?, *values.last()?);
    let count = (i128::from(last) - i128::from(first)) / i128::from(step_ms) + 1;
    if count > i128::from(MAX_BUCKETS) {
        return None;
    }
    Some(Buckets {
        column: field.name().clone(),
        start_ms: first,
        step_ms,
        count: count as usize,
    })
}

/// The estimated share of each bucket's rows held by unanswered children.
///
/// Each span's rows spread uniformly over `[min, max + 1µs)`. The buckets a
/// span covers whole all get the same amount, added through a difference
/// array, so the work is one pass over the spans and one over the buckets.
pub fn missing_shares(spans: &[WeightedSpan], buckets: &Buckets) -> Vec<f64> {
    let count = buckets.count;
    // No buckets (`start_ms == end_ms`): nothing to estimate, and a span
    // across the start would otherwise index bucket 0 of none.
    if count == 0 {
        return Vec::new();
    }
    let mut total = vec![0i128; count];
    let mut missing = vec![0i128; count];
    // Amounts added to every bucket from an index on (difference arrays).
    let mut total_from = vec![0i128; count + 1];
    let mut missing_from = vec![0i128; count + 1];
    let start = i128::from(buckets.start_ms) * 1_000;
    let step = i128::from(buckets.step_ms.max(1)) * 1_000;
    let end = start + step * count as i128;
    for weighted in spans {
        let span = &weighted.span;
        let low = i128::from(span.min_time_micros);
        let high = i128::from(span.max_time_micros).max(low) + 1;
        if span.rows == 0 || high <= start || low >= end || weighted.queried == 0 {
            continue;
        }
        let width = high - low;
        let rows = i128::from(span.rows);
        let amount = |micros: i128| scaled_rows(rows, micros, width);
        let (unanswered, queried) = (
            i128::from(weighted.unanswered.min(weighted.queried)),
            i128::from(weighted.queried),
        );
        // Checked: a child's leaf counts come off the wire.
        let part_missing = |amount: i128| match amount.checked_mul(unanswered) {
            Some(product) => product / queried,
            None => (amount as f64 * unanswered as f64 / queried as f64) as i128,
        };
        let first = ((low.max(start) - start) / step) as usize;
        let last = ((high.min(end) - 1 - start) / step) as usize;
        for index in [first, last] {
            let bucket_start = start + step * index as i128;
            let overlap = high.min(bucket_start + step) - low.max(bucket_start);
            let share = amount(overlap);
            total[index] += share;
            missing[index] += part_missing(share);
            if first == last {
                break;
            }
        }
        if last > first + 1 {
            let whole = amount(step);
            total_from[first + 1] += whole;
            total_from[last] -= whole;
            missing_from[first + 1] += part_missing(whole);
            missing_from[last] -= part_missing(whole);
        }
    }
    let (mut running_total, mut running_missing) = (0i128, 0i128);
    (0..count)
        .map(|index| {
            running_total += total_from[index];
            running_missing += missing_from[index];
            let bucket_total = total[index] + running_total;
            let bucket_missing = missing[index] + running_missing;
            match bucket_total {
                0 => 0.0,
                _ => (bucket_missing as f64 / bucket_total as f64).clamp(0.0, 1.0),
            }
        })
        .collect()
}

/// `rows * micros / width` in millionths of a row.
fn scaled_rows(rows: i128, micros: i128, width: i128) -> i128 {
    match (rows * ROW_SCALE).checked_mul(micros) {
        Some(product) => product / width,
        // Only for absurd spans (beyond 10^32 rows·µs): near enough.
        None => (rows as f64 * ROW_SCALE as f64 * micros as f64 / width as f64) as i128,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINUTE_MS: i64 = 60_000;
    const MINUTE_MICROS: i64 = 60_000_000;

    fn span(from_minute: i64, to_minute: i64, rows: u64, answered: bool) -> WeightedSpan {
        WeightedSpan {
            span: TimeSpan {
                min_time_micros: from_minute * MINUTE_MICROS,
                // The last row a microsecond before the end.
                max_time_micros: to_minute * MINUTE_MICROS - 1,
                rows,
            },
            unanswered: u64::from(!answered),
            queried: 1,
        }
    }

    fn minutes(count: usize) -> Buckets {
        Buckets {
            column: "bucket".to_string(),
            start_ms: 0,
            step_ms: MINUTE_MS,
            count,
        }
    }

    fn assert_near(shares: &[f64], expected: &[f64]) {
        assert_eq!(shares.len(), expected.len(), "{shares:?}");
        for (share, want) in shares.iter().zip(expected) {
            assert!((share - want).abs() < 1e-9, "{shares:?} != {expected:?}");
        }
    }

    #[test]
    fn a_failed_leaf_alone_in_its_range_is_wholly_missing_there() {
        let spans = [
            span(0, 4, 400, true),
            span(4, 8, 400, true),
            span(2, 4, 200, false),
        ];
        let shares = missing_shares(&spans, &minutes(8));
        // Uniform spread: minutes 2 and 3 have 100 answered and 100 missing.
        assert_near(&shares, &[0.0, 0.0, 0.5, 0.5, 0.0, 0.0, 0.0, 0.0]);
        assert_eq!(shares[0], 0.0);
        assert_eq!(shares[7], 0.0);
    }

    #[test]
    fn a_span_partly_inside_the_buckets_counts_by_overlap() {
        // 90 rows over minutes 3..6; the buckets cover minutes 0..5.
        let spans = [span(3, 6, 90, false), span(0, 5, 50, true)];
        let shares = missing_shares(&spans, &minutes(5));
        // Minutes 3 and 4: 30 missing of 40.
        assert_near(&shares, &[0.0, 0.0, 0.0, 0.75, 0.75]);
        // A span half in one bucket: half its rows count there.
        let half = [span(0, 2, 10, false), span(1, 2, 5, true)];
        assert_near(&missing_shares(&half, &minutes(2)), &[1.0, 0.5]);
    }

    #[test]
    fn buckets_with_no_rows_or_only_answered_rows_are_zero() {
        assert_eq!(missing_shares(&[], &minutes(3)), vec![0.0; 3]);
        let answered = [span(0, 3, 30, true)];
        assert_eq!(missing_shares(&answered, &minutes(3)), vec![0.0; 3]);
        // Spans outside the buckets add nothing.
        let outside = [span(10, 20, 30, false)];
        assert_eq!(missing_shares(&outside, &minutes(3)), vec![0.0; 3]);
        assert_eq!(missing_shares(&answered, &minutes(0)), Vec::<f64>::new());
        // A span across the start of no buckets (`start_ms == end_ms`, an
        // empty range a client may well ask for) gives none, not a panic.
        let across = [span(-1, 1, 30, false)];
        assert_eq!(missing_shares(&across, &minutes(0)), Vec::<f64>::new());
    }

    #[test]
    fn a_single_instant_span_lands_in_one_bucket() {
        let instant = WeightedSpan {
            span: TimeSpan {
                min_time_micros: MINUTE_MICROS,
                max_time_micros: MINUTE_MICROS,
                rows: 7,
            },
            unanswered: 1,
            queried: 1,
        };
        assert_eq!(missing_shares(&[instant], &minutes(3)), vec![0.0, 1.0, 0.0]);
    }

    #[test]
    fn a_child_aggregator_half_answered_misses_half_its_rows() {
        let mut half = span(0, 2, 100, false);
        half.unanswered = 1;
        half.queried = 2;
        assert_near(&missing_shares(&[half], &minutes(2)), &[0.5, 0.5]);
    }

    #[test]
    fn bad_bucket_requests_name_the_field() {
        let request = |start_ms, end_ms, step_ms| BucketRequest {
            column: "bucket".to_string(),
            start_ms,
            end_ms,
            step_ms,
        };
        let message = |r: BucketRequest| r.check().unwrap_err().to_string();
        assert!(message(request(0, 10, 0)).contains("time_buckets.step_ms"));
        assert!(message(request(10, 0, 1)).contains("time_buckets.end_ms"));
        assert!(message(request(0, 10_001, 1)).contains("at most 10000 buckets"));
        assert!(request(0, 10_000, 1).check().is_ok());
        let shapeless = BucketRequest::parse(&json!({"column": "bucket", "step_ms": 1}));
        assert!(shapeless.unwrap_err().to_string().contains("time_buckets"));
        assert_eq!(request(0, 10, 3).bucket_count(), 4);
    }

    #[test]
    fn buckets_are_inferred_from_the_first_timestamp_column() {
        use arrow::array::{Int64Array, TimestampMicrosecondArray};
        use arrow::datatypes::{Field, Schema};
        let schema = Arc::new(Schema::new(vec![
            Field::new("n", DataType::Int64, false),
            Field::new(
                "bucket",
                DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
                true,
            ),
        ]));
        let times = [3, 0, 1, 3].map(|minute| Some(minute * MINUTE_MICROS));
        let batch = RecordBatch::try_new(
            schema.clone(),
            vec![
                Arc::new(Int64Array::from(vec![1, 2, 3, 4])),
                Arc::new(TimestampMicrosecondArray::from(times.to_vec()).with_timezone("UTC")),
            ],
        )
        .unwrap();
        let buckets = inferred_buckets(&schema, &[batch]).unwrap();
        assert_eq!(
            buckets,
            Buckets {
                column: "bucket".to_string(),
                start_ms: 0,
                step_ms: MINUTE_MS,
                count: 4,
            }
        );
        assert_eq!(inferred_buckets(&schema, &[]), None);
    }
}
