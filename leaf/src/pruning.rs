//! What a scan's filters say about which blocks and rows can match.
//!
//! Two facts are pulled out of the conjuncts DataFusion pushes into a scan:
//! a range on `time` (to skip blocks whose min/max time lies outside it) and
//! `column = 'v'` / `column IN ('v', ...)` on string columns (to use the
//! bitmap indexes). Pruning here only ever removes rows that cannot match.
//! Bounds on integer columns are collected too, for the scan to apply to
//! stored rows ([`crate::integer_bounds`]).
//!
//! Filters that are nothing but a bound on the bare `time` column, exact to
//! the microsecond ([`shoal_contract::pushdown::is_exact_time_filter`]), also make a second, narrower
//! use: their range is applied to rows (a scan keeps only rows inside it;
//! blocks wholly inside need no check), so table providers report them
//! `Exact` and DataFusion does not evaluate them again row by row. Bounds
//! from any other filter (a cast of `time` to seconds, say) only skip
//! blocks. Anything else is left to DataFusion's filter above the scan.

use std::collections::hash_map::Entry;
use std::collections::{HashMap, HashSet};

use arrow::array::{BooleanArray, Int64Array, RecordBatch};
use arrow::compute::cast;
use arrow::compute::kernels::boolean::and;
use arrow::compute::kernels::cmp::{gt_eq, lt_eq};
use arrow::datatypes::{DataType, TimeUnit};
use arrow::error::Result as ArrowResult;
use datafusion::common::ScalarValue;
use datafusion::logical_expr::{BinaryExpr, Expr, Operator};

use crate::column_type::TIME_COLUMN;
use crate::integer_bounds::IntegerBounds;
use crate::narrow_time::{Frame, rows_within};
use shoal_contract::pushdown::{is_exact_time_filter, literal, timestamp_micros};

/// Bounds and value sets a scan may prune with.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Pruning {
    /// Inclusive lower bound on time, microseconds.
    pub min_time: Option<i64>,
    /// Inclusive upper bound on time, microseconds.
    pub max_time: Option<i64>,
    /// Column → the string values a matching row must hold one of.
    pub string_values: HashMap<String, Vec<String>>,
    /// The bounds of the exact time filters alone: every matching row is
    /// inside them, and the scan keeps only rows that are.
    pub rows_min_time: Option<i64>,
    pub rows_max_time: Option<i64>,
    /// Bounds on integer columns, applied to stored rows before they are
    /// widened (see [`crate::integer_bounds`]).
    pub integers: IntegerBounds,
}

impl Pruning {
    /// What `filters` (ANDed together) allow a scan of a table whose
    /// columns have the types of `schema` (the types the filters see) to
    /// drop: string sets are kept only for its text columns.
    pub fn for_scan(filters: &[Expr], schema: &arrow::datatypes::Schema) -> Self {
        Self::from_filters(filters).keep_strings_of(schema)
    }

    /// Collects what `filters` (ANDed together) allow, whatever the types.
    fn from_filters(filters: &[Expr]) -> Self {
        let mut pruning = Self::default();
        let mut exact = Self::default();
        for filter in filters {
            pruning.add(filter);
            if is_exact_time_filter(filter) {
                exact.add(filter);
            }
        }
        pruning.rows_min_time = exact.min_time;
        pruning.rows_max_time = exact.max_time;
        pruning
    }

    /// Whether rows with times in `[low, high]` may match.
    pub fn time_overlaps(&self, low: i64, high: i64) -> bool {
        self.min_time.is_none_or(|min| high >= min) && self.max_time.is_none_or(|max| low <= max)
    }

    /// Whether every time in `[low, high]` is inside the rows' range: rows
    /// of such a block need no check.
    pub fn time_covers(&self, low: i64, high: i64) -> bool {
        self.rows_min_time.is_none_or(|min| low >= min)
            && self.rows_max_time.is_none_or(|max| high <= max)
    }

    /// Which rows of `batch` have a time inside the rows' range; `None` when
    /// that range has no bounds or the batch has no time column.
    pub fn time_mask(&self, batch: &RecordBatch) -> ArrowResult<Option<BooleanArray>> {
        if self.rows_min_time.is_none() && self.rows_max_time.is_none() {
            return Ok(None);
        }
        let schema = batch.schema();
        let Some((at, field)) = schema.column_with_name(TIME_COLUMN) else {
            return Ok(None);
        };
        let time = batch.column(at);
        if let Some(frame) = Frame::of(field) {
            return rows_within(time, frame, self.rows_min_time, self.rows_max_time).map(Some);
        }
        // Microseconds as plain integers: the same buffer, no zone to match.
        let micros = cast(time, &DataType::Int64)?;
        let above = self
            .rows_min_time
            .map(|min| gt_eq(&micros, &Int64Array::new_scalar(min)))
            .transpose()?;
        let below = self
            .rows_max_time
            .map(|max| lt_eq(&micros, &Int64Array::new_scalar(max)))
            .transpose()?;
        both(above, below)
    }

    /// Which rows of `batch` are inside the rows' time range (unless
    /// `time_covered`: its block lies wholly inside) and every integer
    /// bound; `None` when every row is.
    pub fn rows_mask(
        &self,
        batch: &RecordBatch,
        time_covered: bool,
    ) -> ArrowResult<Option<BooleanArray>> {
        let in_time = match time_covered {
            true => None,
            false => self.time_mask(batch)?,
        };
        both(in_time, self.integers.mask(batch)?)
    }

    /// Drops the string sets of columns that are not text in `schema` (the
    /// types the scan's filters see): a cast to text of another type does
    /// not compare the stored strings.
    fn keep_strings_of(mut self, schema: &arrow::datatypes::Schema) -> Self {
        self.string_values.retain(|column, _| {
            schema
                .field_with_name(column)
                .is_ok_and(|field| is_string_type(field.data_type()))
        });
        self
    }

    /// Whether [`Self::rows_mask`] reads `column` of a batch.
    pub fn mask_reads(&self, column: &str) -> bool {
        column == TIME_COLUMN || self.integers.bounds_column(column)
    }

    fn add(&mut self, filter: &Expr) {
        match filter {
            Expr::BinaryExpr(BinaryExpr {
                left,
                op: Operator::And,
                right,
            }) => {
                self.add(left);
                self.add(right);
            }
            // DataFusion writes a short `IN` list (up to three values) as
            // `col = 'a' OR col = 'b'`: the same set of strings.
            Expr::BinaryExpr(BinaryExpr {
                op: Operator::Or, ..
            }) => {
                if let Some((column, values)) = string_alternatives(filter) {
                    self.restrict_strings(column, values);
                }
            }
            Expr::BinaryExpr(BinaryExpr { left, op, right }) => {
                match (literal(right), literal(left)) {
                    (Some(value), _) => self.add_bound(left, *op, value),
                    (None, Some(value)) => {
                        if let Some(op) = op.swap() {
                            self.add_bound(right, op, value);
                        }
                    }
                    (None, None) => {}
                }
            }
            Expr::Between(between) if !between.negated => {
                if let (Some(low), Some(high)) = (literal(&between.low), literal(&between.high)) {
                    self.add_bound(&between.expr, Operator::GtEq, low);
                    self.add_bound(&between.expr, Operator::LtEq, high);
                }
            }
            Expr::InList(in_list) if !in_list.negated => {
                let Some(column) = string_column(&in_list.expr) else {
                    return;
                };
                let values: Option<Vec<String>> = in_list
                    .list
                    .iter()
                    .map(|e| literal(e).and_then(string_value))
                    .collect();
                if let Some(values) = values {
                    self.restrict_strings(column, values);
                }
            }
            _ => {}
        }
    }

    fn add_time_comparison(&mut self, column: &str, op: Operator, value: &ScalarValue) {
        if column == TIME_COLUMN {
            let Some((micros, exact)) = timestamp_micros(value) else {
                return;
            };
            // A literal finer than a microsecond is rounded down, so strict
            // bounds become inclusive ones, which prune no less safely.
            let op = match (op, exact) {
                (_, true) => op,
                (Operator::Lt, false) => Operator::LtEq,
                (Operator::Gt, false) => Operator::GtEq,
                (Operator::Eq, false) => return,
                (other, false) => other,
            };
            match op {
                Operator::Gt => self.raise_min(micros.saturating_add(1)),
                Operator::GtEq => self.raise_min(micros),
                Operator::Lt => self.lower_max(micros.saturating_sub(1)),
                Operator::LtEq => self.lower_max(micros),
                Operator::Eq => {
                    self.raise_min(micros);
                    self.lower_max(micros);
                }
                _ => {}
            }
        }
    }

    /// `side op value`: a bound on `time` through [`column_name`] (which
    /// looks through casts that keep every microsecond), a string value
    /// through [`string_column`] (only through casts to text), and a bound
    /// on an integer column only when `side` is the bare column (`time`,
    /// stored relative to its block, is bounded by the first).
    fn add_bound(&mut self, side: &Expr, op: Operator, value: &ScalarValue) {
        if let Expr::Column(column) = side
            && column.name != TIME_COLUMN
        {
            self.integers.add(&column.name, op, value);
        }
        if let Some(column) = column_name(side) {
            self.add_time_comparison(column, op, value);
        }
        if op == Operator::Eq
            && let Some(column) = string_column(side)
            && let Some(value) = string_value(value)
        {
            self.restrict_strings(column, vec![value]);
        }
    }

    fn raise_min(&mut self, micros: i64) {
        self.min_time = Some(self.min_time.map_or(micros, |m| m.max(micros)));
    }

    fn lower_max(&mut self, micros: i64) {
        self.max_time = Some(self.max_time.map_or(micros, |m| m.min(micros)));
    }

    /// Rows must hold one of `values` in `column` (and one of any set
    /// named for it before: the two sets intersect). Linear in the sets'
    /// sizes: an `IN` list may hold thousands of values.
    fn restrict_strings(&mut self, column: &str, values: Vec<String>) {
        match self.string_values.entry(column.to_string()) {
            Entry::Vacant(entry) => {
                entry.insert(values);
            }
            Entry::Occupied(mut entry) => {
                let allowed: HashSet<&String> = values.iter().collect();
                entry.get_mut().retain(|value| allowed.contains(value));
            }
        }
    }
}

/// Rows in both masks (either may be absent: every row).
pub(crate) fn both(
    a: Option<BooleanArray>,
    b: Option<BooleanArray>,
) -> ArrowResult<Option<BooleanArray>> {
    Ok(match (a, b) {
        (Some(a), Some(b)) => Some(and(&a, &b)?),
        (mask, None) | (None, mask) => mask,
    })
}

/// The column a time bound reads, looking through casts DataFusion adds to
/// make both sides of a comparison the same type. Not through a cast of
/// `time` that drops precision (to seconds, to a date): a bound read through
/// it would skip blocks that hold matching rows. (String sets read columns
/// through [`string_column`], which is stricter.)
fn column_name(expr: &Expr) -> Option<&str> {
    let (inner, target) = match expr {
        Expr::Column(column) => return Some(column.name.as_str()),
        Expr::Cast(cast) => (&cast.expr, cast.field.data_type()),
        Expr::TryCast(cast) => (&cast.expr, cast.field.data_type()),
        _ => return None,
    };
    let name = column_name(inner)?;
    let keeps_every_microsecond = matches!(
        target,
        DataType::Timestamp(TimeUnit::Microsecond | TimeUnit::Nanosecond, _)
    );
    (name != TIME_COLUMN || keeps_every_microsecond).then_some(name)
}

/// The column and the strings of `col = 'a' OR col = 'b' OR col IN
/// ('c', ...)`, every alternative on that one column; `None` for anything
/// else (another column, another comparison, `IS NULL`). Walked without
/// recursion: a plan fragment may carry an `OR` chain of any depth.
fn string_alternatives(expr: &Expr) -> Option<(&str, Vec<String>)> {
    let mut column: Option<&str> = None;
    let mut values = Vec::new();
    let mut pending = vec![expr];
    while let Some(expr) = pending.pop() {
        let (named, found) = match expr {
            Expr::BinaryExpr(BinaryExpr {
                left,
                op: Operator::Or,
                right,
            }) => {
                pending.push(right);
                pending.push(left);
                continue;
            }
            Expr::BinaryExpr(BinaryExpr {
                left,
                op: Operator::Eq,
                right,
            }) => {
                let (side, value) = match (literal(right), literal(left)) {
                    (Some(value), _) => (left, value),
                    (None, Some(value)) => (right, value),
                    (None, None) => return None,
                };
                (string_column(side)?, vec![string_value(value)?])
            }
            Expr::InList(in_list) if !in_list.negated => {
                let found = in_list
                    .list
                    .iter()
                    .map(|e| literal(e).and_then(string_value))
                    .collect::<Option<Vec<_>>>()?;
                (string_column(&in_list.expr)?, found)
            }
            _ => return None,
        };
        if column.is_some_and(|column| column != named) {
            return None;
        }
        column = Some(named);
        values.extend(found);
    }
    Some((column?, values))
}

/// The column a string comparison reads, looking only through casts to a
/// string type: a cast through another type changes the text (`'yes'` as
/// a boolean and back is `'true'`), so a set of strings for such an
/// expression says nothing about the column's stored strings.
fn string_column(expr: &Expr) -> Option<&str> {
    match expr {
        Expr::Column(column) => Some(column.name.as_str()),
        Expr::Cast(cast) if is_string_type(cast.field.data_type()) => string_column(&cast.expr),
        Expr::TryCast(cast) if is_string_type(cast.field.data_type()) => string_column(&cast.expr),
        _ => None,
    }
}

/// Whether values of `data_type` are text as it is stored (arrow's string
/// types, or a dictionary of them).
fn is_string_type(data_type: &DataType) -> bool {
    match data_type {
        DataType::Dictionary(_, values) => is_string_type(values),
        other => other.is_string(),
    }
}

fn string_value(value: &ScalarValue) -> Option<String> {
    match value {
        ScalarValue::Utf8(Some(s))
        | ScalarValue::LargeUtf8(Some(s))
        | ScalarValue::Utf8View(Some(s)) => Some(s.clone()),
        ScalarValue::Dictionary(_, inner) => string_value(inner),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use datafusion::prelude::{cast, col, lit};

    use super::*;

    fn ts(micros: i64) -> Expr {
        lit(ScalarValue::TimestampMicrosecond(
            Some(micros),
            Some("UTC".into()),
        ))
    }

    #[test]
    fn an_or_of_strings_on_one_column_is_a_set_and_nothing_else_is() {
        let or = |a: Expr, b: Expr| a.or(b);
        let host = |v: &str| col("host").eq(lit(v));
        let set = |filter: Expr| {
            Pruning::from_filters(&[filter])
                .string_values
                .get("host")
                .cloned()
        };
        // What DataFusion makes of `host IN ('a', 'b', 'c')`.
        let values = set(or(or(host("a"), host("b")), lit("c").eq(col("host"))));
        assert_eq!(values, Some(vec!["a".into(), "b".into(), "c".into()]));
        let values = set(or(
            host("a"),
            col("host").in_list(vec![lit("b"), lit("c")], false),
        ));
        assert_eq!(values, Some(vec!["a".into(), "b".into(), "c".into()]));
        // Any alternative that is not a string of that column: no set.
        assert_eq!(set(or(host("a"), col("region").eq(lit("b")))), None);
        assert_eq!(set(or(host("a"), col("host").is_null())), None);
        assert_eq!(set(or(host("a"), col("host").not_eq(lit("b")))), None);
        assert_eq!(
            set(or(host("a"), col("host").in_list(vec![lit("b")], true))),
            None
        );
        assert_eq!(set(or(host("a"), col("host").eq(lit(5)))), None);
        // Through a cast to text, yes; through any other type, no ('yes'
        // as a boolean and back is 'true').
        let text = |e: Expr| cast(e, DataType::Utf8);
        let through_text = text(col("host")).eq(lit("a"));
        assert_eq!(set(through_text), Some(vec!["a".into()]));
        let through_boolean = |v: &str| text(cast(col("host"), DataType::Boolean)).eq(lit(v));
        assert_eq!(
            set(or(through_boolean("true"), through_boolean("false"))),
            None
        );
        assert_eq!(set(through_boolean("true")), None);
        assert_eq!(
            set(text(cast(col("host"), DataType::Float64)).in_list(vec![lit("1.5")], false)),
            None
        );
        // A chain deeper than a test thread's stack would take recursively
        // (leaked, not dropped: dropping an `Expr` is recursive).
        let deep = (0..100_000).fold(host("a"), |chain, i| or(chain, host(&format!("h{i}"))));
        let filters = std::mem::ManuallyDrop::new(vec![deep]);
        let values = &Pruning::from_filters(&filters).string_values["host"];
        assert_eq!(values.len(), 100_001);
    }

    #[test]
    fn string_sets_are_kept_only_for_text_columns() {
        let schema = arrow::datatypes::Schema::new(vec![
            arrow::datatypes::Field::new("host", DataType::Utf8, true),
            arrow::datatypes::Field::new(
                "service",
                DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8)),
                true,
            ),
            arrow::datatypes::Field::new("flag", DataType::Boolean, true),
        ]);
        let text = |name: &str| cast(col(name), DataType::Utf8);
        let pruning = Pruning::from_filters(&[
            col("host").eq(lit("a")),
            col("service").eq(lit("b")),
            text("flag").eq(lit("true")),
            col("missing").eq(lit("c")),
        ])
        .keep_strings_of(&schema);
        let mut kept: Vec<&String> = pruning.string_values.keys().collect();
        kept.sort();
        assert_eq!(kept, ["host", "service"]);
    }

    #[test]
    fn time_bounds_and_string_sets_are_collected() {
        let filters = vec![
            col("time").gt_eq(ts(100)).and(col("time").lt(ts(200))),
            col("service").eq(lit("a")),
            col("region").in_list(vec![lit("x"), lit("y")], false),
            col("status").gt(lit(5)),
        ];
        let pruning = Pruning::from_filters(&filters);
        assert_eq!(pruning.min_time, Some(100));
        assert_eq!(pruning.max_time, Some(199));
        assert_eq!(pruning.string_values["service"], vec!["a".to_string()]);
        assert_eq!(pruning.string_values["region"].len(), 2);
        assert!(!pruning.string_values.contains_key("status"));
        assert!(pruning.time_overlaps(150, 300));
        assert!(!pruning.time_overlaps(200, 300));
        assert!(!pruning.time_overlaps(0, 99));
    }

    #[test]
    fn a_reversed_comparison_and_a_nanosecond_literal_are_understood() {
        let nanos = lit(ScalarValue::TimestampNanosecond(Some(5_000_999), None));
        let pruning = Pruning::from_filters(&[nanos.clone().lt_eq(col("time"))]);
        assert_eq!(pruning.min_time, Some(5_000));
        // time < 5_000_999 ns holds for time = 5_000 µs: the bound must keep it.
        let pruning = Pruning::from_filters(&[col("time").lt(nanos)]);
        assert_eq!(pruning.max_time, Some(5_000));
    }

    #[test]
    fn only_bounds_on_the_bare_time_column_exact_to_the_microsecond_are_exact() {
        let nanos = |v| lit(ScalarValue::TimestampNanosecond(Some(v), None));
        assert!(is_exact_time_filter(&col("time").gt_eq(ts(100))));
        assert!(is_exact_time_filter(&ts(100).gt(col("time"))));
        assert!(is_exact_time_filter(&col("time").between(ts(1), ts(2))));
        assert!(is_exact_time_filter(&col("time").lt(nanos(5_000_000))));
        assert!(!is_exact_time_filter(&col("time").lt(nanos(5_000_999))));
        assert!(!is_exact_time_filter(&col("time").not_eq(ts(100))));
        assert!(!is_exact_time_filter(
            &col("time").not_between(ts(1), ts(2))
        ));
        assert!(!is_exact_time_filter(&col("other").gt_eq(ts(100))));
        let cast = Expr::Cast(datafusion::logical_expr::Cast::new(
            Box::new(col("time")),
            datafusion::arrow::datatypes::DataType::Date32,
        ));
        assert!(!is_exact_time_filter(&cast.gt_eq(ts(100))));
        // A conjunction is offered conjunct by conjunct, not whole.
        assert!(!is_exact_time_filter(
            &col("time").gt_eq(ts(1)).and(col("time").lt(ts(2)))
        ));
    }

    fn time_cast_to(unit: TimeUnit) -> Expr {
        Expr::Cast(datafusion::logical_expr::Cast::new(
            Box::new(col("time")),
            DataType::Timestamp(unit, None),
        ))
    }

    #[test]
    fn only_exact_filters_bound_the_rows() {
        let seconds = time_cast_to(TimeUnit::Second);
        let second = lit(ScalarValue::TimestampSecond(Some(10), None));
        let filters = vec![seconds.eq(second), col("time").lt(ts(20_000_000))];
        let pruning = Pruning::from_filters(&filters);
        // Times within second 10 match the cast, not just its first
        // microsecond: the cast bounds neither blocks nor rows.
        assert_eq!(
            (pruning.min_time, pruning.max_time),
            (None, Some(19_999_999))
        );
        assert_eq!(
            (pruning.rows_min_time, pruning.rows_max_time),
            (None, Some(19_999_999))
        );
        assert!(pruning.time_overlaps(10_500_000, 10_900_000));

        // A cast to nanoseconds loses nothing: it bounds blocks (not rows:
        // the filter is not on the bare column).
        let nanos = time_cast_to(TimeUnit::Nanosecond);
        let bound = lit(ScalarValue::TimestampNanosecond(Some(5_000_000), None));
        let pruning = Pruning::from_filters(&[nanos.gt_eq(bound)]);
        assert_eq!(
            (pruning.min_time, pruning.rows_min_time),
            (Some(5_000), None)
        );
    }

    #[test]
    fn two_equalities_on_one_column_intersect() {
        let filters = vec![
            col("s").eq(lit("a")),
            col("s").in_list(vec![lit("a"), lit("b")], false),
        ];
        let pruning = Pruning::from_filters(&filters);
        assert_eq!(pruning.string_values["s"], vec!["a".to_string()]);
    }

    #[test]
    fn integer_bounds_come_from_bare_columns_in_conjuncts_only() {
        use std::sync::Arc;

        use arrow::array::{Array, ArrayRef, Int16Array};
        use arrow::datatypes::{Field, Schema};
        use datafusion::logical_expr::cast;

        let column: ArrayRef = Arc::new(Int16Array::from(vec![
            Some(100),
            Some(500),
            None,
            Some(700),
        ]));
        let batch = RecordBatch::try_new(
            Arc::new(Schema::new(vec![Field::new(
                "status",
                DataType::Int16,
                true,
            )])),
            vec![column],
        )
        .unwrap();
        let kept = |filters: Vec<Expr>| -> Option<Vec<bool>> {
            let mask = Pruning::from_filters(&filters)
                .integers
                .mask(&batch)
                .unwrap()?;
            Some(
                (0..mask.len())
                    .map(|i| mask.is_valid(i) && mask.value(i))
                    .collect(),
            )
        };
        // Swapped sides, and two conjuncts in one filter.
        assert_eq!(
            kept(vec![
                lit(500i64)
                    .lt_eq(col("status"))
                    .and(col("status").lt(lit(700i64)))
            ]),
            Some(vec![false, true, false, false])
        );
        assert_eq!(
            kept(vec![col("status").between(lit(600i64), lit(400i64))]),
            Some(vec![false; 4])
        );
        // Not a bound: an OR, a NOT, a cast column, a null literal, `time`.
        for filter in [
            col("status")
                .gt(lit(600i64))
                .or(col("status").lt(lit(200i64))),
            Expr::Not(Box::new(col("status").gt(lit(600i64)))),
            cast(col("status"), DataType::Int32).gt(lit(600i32)),
            col("status").gt(lit(ScalarValue::Int64(None))),
            col("status").not_between(lit(0i64), lit(600i64)),
            col("time").gt(lit(600i64)),
        ] {
            assert_eq!(kept(vec![filter.clone()]), None, "{filter}");
        }
    }
}
