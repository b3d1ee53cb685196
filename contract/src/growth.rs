//! How many bytes one call of a function whose answer can be much larger
//! than its arguments will make, worked out from the arguments before the
//! call (see [`crate::bounded_functions`]). Each figure is an upper bound
//! of the answer's data, or close to it, summed over the call's rows;
//! nulls count nothing.

use arrow::array::{Array, ArrayRef, AsArray, Int64Array};
use arrow::compute::cast;
use arrow::compute::kernels::length::length;
use arrow::datatypes::{DataType, Int64Type, IntervalMonthDayNanoType, TimeUnit};
use datafusion::common::Result;
use datafusion::logical_expr::ColumnarValue;

const DAY_NANOS: i128 = 86_400_000_000_000;

/// What grows, and with which arguments.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Growth {
    /// `repeat(text, n)`: `len(text) × n`.
    Repeat,
    /// `lpad`/`rpad(text, n [, fill])`: the text and `n` characters of the
    /// fill.
    Pad,
    /// `replace(text, from, to)`: every `from` (or, empty, every gap
    /// between characters) becomes `to`.
    Replace,
    /// `regexp_replace(text, pattern, replacement [, flags])`: a match can
    /// be empty at every gap, and each `$` reference repeats a match.
    RegexpReplace,
    /// `array_repeat(element, n)`: `n` elements.
    ArrayRepeat,
    /// `array_resize(list, n [, fill])`: `n` elements.
    ArrayResize,
    /// `range`/`generate_series(start, stop [, step])`: 8 bytes a step.
    Range,
    /// A function whose size is its type's, checked on its return type
    /// (`arrow_cast` and its kin).
    TypeOnly,
}

/// Bytes a call of `growth` over `rows` rows of `args` makes (saturating).
pub fn call_bytes(growth: Growth, args: &[ColumnarValue], rows: usize) -> Result<u128> {
    let arg = |i: usize| args.get(i);
    let rows = rows.max(1);
    let total = match growth {
        Growth::TypeOnly => 0,
        Growth::Repeat => {
            let (Some(text), Some(times)) = (arg(0), arg(1)) else {
                return Ok(0);
            };
            let (text, times) = (byte_lengths(text)?, integers(times)?);
            sum_rows(rows, |row| Some(text.at(row)? * times.at(row)?.max(0)))
        }
        Growth::Pad => {
            let (Some(text), Some(width)) = (arg(0), arg(1)) else {
                return Ok(0);
            };
            let (text, width) = (byte_lengths(text)?, integers(width)?);
            // A character of the fill takes at most its bytes (a space
            // without one), and at most 4.
            let fill = arg(2).map(byte_lengths).transpose()?;
            sum_rows(rows, |row| {
                let each = fill.as_ref().map_or(Some(1), |fill| fill.at(row))?;
                Some(text.at(row)? + width.at(row)?.max(0) * each.clamp(1, 4))
            })
        }
        Growth::Replace => {
            let (Some(text), Some(from), Some(to)) = (arg(0), arg(1), arg(2)) else {
                return Ok(0);
            };
            let text = byte_lengths(text)?;
            let (from, to) = (byte_lengths(from)?, byte_lengths(to)?);
            sum_rows(rows, |row| {
                let text = text.at(row)?;
                let places = text / from.at(row).unwrap_or(0).max(1) + 1;
                Some(text + places * to.at(row).unwrap_or(0))
            })
        }
        Growth::RegexpReplace => {
            let (Some(text), Some(with)) = (arg(0), arg(2)) else {
                return Ok(0);
            };
            let references = match with {
                ColumnarValue::Scalar(value) => value.to_string().matches('$').count(),
                // Per row below would cost a string walk a row; a column of
                // replacements is taken as all references.
                ColumnarValue::Array(_) => usize::MAX,
            };
            let (text, with) = (byte_lengths(text)?, byte_lengths(with)?);
            sum_rows(rows, |row| {
                let text = text.at(row)?;
                let with = with.at(row).unwrap_or(0);
                let references = (references as i128).min(with);
                Some(text + (text + 1) * with + references * text)
            })
        }
        Growth::ArrayRepeat => {
            let (Some(element), Some(times)) = (arg(0), arg(1)) else {
                return Ok(0);
            };
            let each = average_bytes(element);
            let times = integers(times)?;
            sum_rows(rows, |row| Some(times.at(row)?.max(0) * each))
        }
        Growth::ArrayResize => {
            let (Some(list), Some(size)) = (arg(0), arg(1)) else {
                return Ok(0);
            };
            let each = element_bytes(list).max(arg(2).map_or(0, average_bytes));
            let size = integers(size)?;
            sum_rows(rows, |row| Some(size.at(row)?.max(0) * each))
        }
        Growth::Range => return range_bytes(args, rows),
    };
    Ok(total)
}

/// The sum over `rows` of `per_row` (a null row counts nothing), clamped
/// to zero from below.
fn sum_rows(rows: usize, per_row: impl Fn(usize) -> Option<i128>) -> u128 {
    (0..rows).fold(0u128, |sum, row| {
        sum.saturating_add(per_row(row).unwrap_or(0).max(0) as u128)
    })
}

/// One argument's integers, a value for every row (a scalar's for all).
struct Integers {
    values: Int64Array,
    scalar: bool,
    /// What each value is multiplied by (nanoseconds in a day for dates).
    scale: i128,
}

impl Integers {
    fn at(&self, row: usize) -> Option<i128> {
        let row = if self.scalar { 0 } else { row };
        (row < self.values.len() && self.values.is_valid(row))
            .then(|| i128::from(self.values.value(row)) * self.scale)
    }
}

fn array_of(value: &ColumnarValue) -> Result<(ArrayRef, bool)> {
    Ok(match value {
        ColumnarValue::Array(array) => (array.clone(), false),
        ColumnarValue::Scalar(scalar) => (scalar.to_array_of_size(1)?, true),
    })
}

/// `value` as integers; dates and timestamps in nanoseconds.
fn integers(value: &ColumnarValue) -> Result<Integers> {
    let (array, scalar) = array_of(value)?;
    let scale = match array.data_type() {
        DataType::Date32 => DAY_NANOS,
        DataType::Date64 => 1_000_000,
        DataType::Timestamp(unit, _) => match unit {
            TimeUnit::Second => 1_000_000_000,
            TimeUnit::Millisecond => 1_000_000,
            TimeUnit::Microsecond => 1_000,
            TimeUnit::Nanosecond => 1,
        },
        _ => 1,
    };
    let values = cast(&array, &DataType::Int64)?
        .as_primitive::<Int64Type>()
        .clone();
    Ok(Integers {
        values,
        scalar,
        scale,
    })
}

/// Byte lengths of a text or binary argument.
fn byte_lengths(value: &ColumnarValue) -> Result<Integers> {
    let (array, scalar) = array_of(value)?;
    match length(&array) {
        Ok(lengths) => Ok(Integers {
            values: cast(&lengths, &DataType::Int64)?
                .as_primitive::<Int64Type>()
                .clone(),
            scalar,
            scale: 1,
        }),
        // Not text: as many bytes a row as its data's average.
        Err(_) => {
            let each = average_bytes(value);
            Ok(Integers {
                values: Int64Array::from(vec![i64::try_from(each).unwrap_or(i64::MAX)]),
                scalar: true,
                scale: 1,
            })
        }
    }
}

/// The bytes of `value`'s data over its rows (at least 8).
fn average_bytes(value: &ColumnarValue) -> i128 {
    let bytes = |array: &dyn Array| array.to_data().get_slice_memory_size().unwrap_or(0);
    let average = match value {
        ColumnarValue::Array(array) => bytes(array) / array.len().max(1),
        ColumnarValue::Scalar(scalar) => {
            scalar.to_array_of_size(1).map_or(0, |array| bytes(&array))
        }
    };
    (average as i128).max(8)
}

/// The bytes of one element of a list argument's items (at least 8).
fn element_bytes(value: &ColumnarValue) -> i128 {
    let Ok((array, _)) = array_of(value) else {
        return 8;
    };
    let items = match array.data_type() {
        DataType::List(_) => array.as_list::<i32>().values().clone(),
        DataType::LargeList(_) => array.as_list::<i64>().values().clone(),
        DataType::FixedSizeList(_, _) => array.as_fixed_size_list().values().clone(),
        _ => return 8,
    };
    average_bytes(&ColumnarValue::Array(items))
}

/// `range`/`generate_series`: one 8-byte value a step from start to stop.
fn range_bytes(args: &[ColumnarValue], rows: usize) -> Result<u128> {
    let (start, stop, step) = match args {
        [stop] => (None, stop, None),
        [start, stop] => (Some(start), stop, None),
        [start, stop, step] => (Some(start), stop, Some(step)),
        _ => return Ok(0),
    };
    let start = start.map(integers).transpose()?;
    let stop = integers(stop)?;
    let step = match step {
        None => None,
        Some(step) => Some(step_nanos(step)?),
    };
    let start_at = |row| start.as_ref().map_or(Some(0), |start| start.at(row));
    Ok(sum_rows(rows, |row| {
        let span = (stop.at(row)? - start_at(row)?).abs();
        let step = step.as_ref().map_or(Some(1), |step| step.at(row))?;
        Some((span / step.abs().max(1) + 1) * 8)
    }))
}

/// A step as integers: an integer as it is, an interval as its shortest
/// length in nanoseconds (a month is 28 days, a day 23 hours).
fn step_nanos(value: &ColumnarValue) -> Result<Integers> {
    let (array, scalar) = array_of(value)?;
    if !matches!(array.data_type(), DataType::Interval(_)) {
        return integers(value);
    }
    let intervals = cast(
        &array,
        &DataType::Interval(arrow::datatypes::IntervalUnit::MonthDayNano),
    )?;
    let intervals = intervals.as_primitive::<IntervalMonthDayNanoType>();
    let values: Int64Array = intervals
        .iter()
        .map(|interval| {
            interval.map(|i| {
                let nanos = i128::from(i.months) * 28 * DAY_NANOS
                    + i128::from(i.days) * (DAY_NANOS / 24 * 23)
                    + i128::from(i.nanoseconds);
                i64::try_from(nanos.abs()).unwrap_or(i64::MAX).max(1)
            })
        })
        .collect();
    Ok(Integers {
        values,
        scalar,
        scale: 1,
    })
}
