//! Bounds on integer columns (`status >= 500`, `code BETWEEN 400 AND 499`,
//! `port = 443`) that a scan applies to a block's stored, narrow columns
//! before it widens anything.
//!
//! A filter such as `status >= 500` is `Inexact` for DataFusion: it is
//! evaluated again above the scan. Without these bounds the scan widened
//! every row of the columns asked for (8- and 16-bit integers to 64,
//! dictionary keys) only for that filter to drop most of them. With them
//! the scan keeps only rows whose stored values are inside the bounds, so
//! the widening and the filter above see just those. Only a comparison of
//! a bare column (no cast) with a non-null integer literal makes a bound,
//! and a row is dropped only when its value is outside one, or null (a
//! null never satisfies a comparison): the filter above still decides
//! every row kept.

use std::collections::HashMap;

use arrow::array::{Array, ArrayRef, BooleanArray, Int64Array, RecordBatch, Scalar};
use arrow::buffer::BooleanBuffer;
use arrow::compute::cast;
use arrow::compute::kernels::cmp::{gt_eq, lt_eq};
use arrow::datatypes::DataType;
use arrow::error::Result as ArrowResult;
use datafusion::common::ScalarValue;
use datafusion::logical_expr::Operator;

use crate::pruning::both;

/// Inclusive bounds per integer column; `None` is unbounded on that side.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct IntegerBounds {
    bounds: HashMap<String, (Option<i64>, Option<i64>)>,
}

impl IntegerBounds {
    /// Adds `column op value` when `value` is an integer literal.
    pub fn add(&mut self, column: &str, op: Operator, value: &ScalarValue) {
        let Some(value) = integer(value) else {
            return;
        };
        let (low, high) = match op {
            Operator::Eq => (Some(value), Some(value)),
            Operator::GtEq => (Some(value), None),
            Operator::Gt => match value.checked_add(1) {
                Some(low) => (Some(low), None),
                // Nothing is greater than the largest integer.
                None => (Some(i64::MAX), Some(i64::MIN)),
            },
            Operator::LtEq => (None, Some(value)),
            Operator::Lt => match value.checked_sub(1) {
                Some(high) => (None, Some(high)),
                None => (Some(i64::MAX), Some(i64::MIN)),
            },
            _ => return,
        };
        let entry = self.bounds.entry(column.to_string()).or_default();
        if let Some(low) = low {
            entry.0 = Some(entry.0.map_or(low, |old| old.max(low)));
        }
        if let Some(high) = high {
            entry.1 = Some(entry.1.map_or(high, |old| old.min(high)));
        }
    }

    /// Whether a bound applies to `column` (the mask reads it).
    pub fn bounds_column(&self, column: &str) -> bool {
        self.bounds.contains_key(column)
    }

    /// Which rows of `batch` are inside every bound on one of its integer
    /// columns (of any width); `None` when no bound applies to `batch`.
    pub fn mask(&self, batch: &RecordBatch) -> ArrowResult<Option<BooleanArray>> {
        let mut mask: Option<BooleanArray> = None;
        for (column, &(low, high)) in &self.bounds {
            let Some(values) = batch.column_by_name(column) else {
                continue;
            };
            mask = both(mask, inside(values, low, high)?)?;
        }
        Ok(mask)
    }
}

/// Which of `values` lie in `[low, high]`, compared at the column's own
/// width; `None` for a column that is not a signed integer.
fn inside(
    values: &ArrayRef,
    low: Option<i64>,
    high: Option<i64>,
) -> ArrowResult<Option<BooleanArray>> {
    let (type_min, type_max) = match values.data_type() {
        DataType::Int8 => (i8::MIN as i64, i8::MAX as i64),
        DataType::Int16 => (i16::MIN as i64, i16::MAX as i64),
        DataType::Int32 => (i32::MIN as i64, i32::MAX as i64),
        DataType::Int64 => (i64::MIN, i64::MAX),
        _ => return Ok(None),
    };
    let empty = low.is_some_and(|low| low > type_max)
        || high.is_some_and(|high| high < type_min)
        || matches!((low, high), (Some(low), Some(high)) if low > high);
    if empty {
        return Ok(Some(BooleanArray::new(
            BooleanBuffer::new_unset(values.len()),
            None,
        )));
    }
    // Bounds past the type's range hold for every value of it.
    let low = low.filter(|&low| low > type_min);
    let high = high.filter(|&high| high < type_max);
    let at_width = |bound: i64| -> ArrowResult<Scalar<ArrayRef>> {
        let wide: ArrayRef = std::sync::Arc::new(Int64Array::from(vec![bound]));
        Ok(Scalar::new(cast(&wide, values.data_type())?))
    };
    let above = low.map(|low| gt_eq(values, &at_width(low)?)).transpose()?;
    let below = high
        .map(|high| lt_eq(values, &at_width(high)?))
        .transpose()?;
    match (above, below) {
        // Every value is inside: only nulls fail the comparison.
        (None, None) => Ok(values
            .nulls()
            .map(|nulls| BooleanArray::new(nulls.inner().clone(), None))),
        (above, below) => both(above, below),
    }
}

/// `value` as an `i64`, when it is a non-null integer that fits.
fn integer(value: &ScalarValue) -> Option<i64> {
    match value {
        ScalarValue::Int8(Some(v)) => Some((*v).into()),
        ScalarValue::Int16(Some(v)) => Some((*v).into()),
        ScalarValue::Int32(Some(v)) => Some((*v).into()),
        ScalarValue::Int64(Some(v)) => Some(*v),
        ScalarValue::UInt8(Some(v)) => Some((*v).into()),
        ScalarValue::UInt16(Some(v)) => Some((*v).into()),
        ScalarValue::UInt32(Some(v)) => Some((*v).into()),
        ScalarValue::UInt64(Some(v)) => i64::try_from(*v).ok(),
        ScalarValue::Dictionary(_, inner) => integer(inner),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::array::{Int8Array, Int16Array};
    use arrow::datatypes::{Field, Schema};

    use super::*;

    fn batch(column: ArrayRef) -> RecordBatch {
        let field = Field::new("status", column.data_type().clone(), true);
        RecordBatch::try_new(Arc::new(Schema::new(vec![field])), vec![column]).unwrap()
    }

    fn kept(bounds: &IntegerBounds, column: ArrayRef) -> Option<Vec<bool>> {
        let mask = bounds.mask(&batch(column)).unwrap()?;
        // A null in the mask drops the row, as a filter does.
        Some(
            (0..mask.len())
                .map(|i| mask.is_valid(i) && mask.value(i))
                .collect(),
        )
    }

    #[test]
    fn rows_are_kept_exactly_when_the_comparison_holds_at_every_width() {
        let values = [
            None,
            Some(-3i64),
            Some(0),
            Some(99),
            Some(100),
            Some(101),
            Some(127),
        ];
        let wide: ArrayRef = Arc::new(Int64Array::from(values.to_vec()));
        for width in [
            DataType::Int8,
            DataType::Int16,
            DataType::Int32,
            DataType::Int64,
        ] {
            let column = cast(&wide, &width).unwrap();
            for (op, literal) in [
                (Operator::GtEq, 100i64),
                (Operator::Gt, 100),
                (Operator::Lt, 100),
                (Operator::LtEq, 100),
                (Operator::Eq, 100),
                (Operator::GtEq, 500),
                (Operator::Lt, -500),
                (Operator::LtEq, 500),
                (Operator::Gt, -500),
                (Operator::Gt, i64::MAX),
                (Operator::Lt, i64::MIN),
            ] {
                let mut bounds = IntegerBounds::default();
                bounds.add("status", op, &ScalarValue::Int64(Some(literal)));
                let expected: Vec<bool> = values
                    .iter()
                    .map(|value| match value {
                        None => false,
                        Some(v) => match op {
                            Operator::GtEq => *v >= literal,
                            Operator::Gt => *v > literal,
                            Operator::Lt => *v < literal,
                            Operator::LtEq => *v <= literal,
                            _ => *v == literal,
                        },
                    })
                    .collect();
                let got = kept(&bounds, column.clone()).unwrap_or(vec![true; values.len()]);
                assert_eq!(got, expected, "{width} {op} {literal}");
            }
        }
    }

    #[test]
    fn bounds_narrow_together_and_other_filters_make_none() {
        let mut bounds = IntegerBounds::default();
        bounds.add("status", Operator::GtEq, &ScalarValue::Int32(Some(400)));
        bounds.add("status", Operator::Lt, &ScalarValue::UInt16(Some(500)));
        bounds.add("status", Operator::NotEq, &ScalarValue::Int64(Some(404)));
        bounds.add("status", Operator::GtEq, &ScalarValue::Int64(None));
        bounds.add("status", Operator::GtEq, &ScalarValue::Float64(Some(1.5)));
        bounds.add(
            "status",
            Operator::GtEq,
            &ScalarValue::UInt64(Some(u64::MAX)),
        );
        let column: ArrayRef = Arc::new(Int16Array::from(vec![399, 400, 404, 499, 500]));
        assert_eq!(
            kept(&bounds, column),
            Some(vec![false, true, true, true, false])
        );
        // A column of another type (here a string one) is left alone.
        let strings: ArrayRef = Arc::new(arrow::array::StringArray::from(vec!["500"]));
        assert_eq!(kept(&bounds, strings), None);
        // Bounds the 8-bit column holds wholly keep all but its nulls.
        let mut wide = IntegerBounds::default();
        wide.add("status", Operator::GtEq, &ScalarValue::Int64(Some(-1000)));
        let column: ArrayRef = Arc::new(Int8Array::from(vec![Some(1), None]));
        assert_eq!(kept(&wide, column), Some(vec![true, false]));
        let column: ArrayRef = Arc::new(Int8Array::from(vec![1, 2]));
        assert_eq!(kept(&wide, column), None);
    }
}
