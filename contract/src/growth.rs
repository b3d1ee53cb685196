//! How many bytes each row of one call of a function whose answer can be
//! much larger than its arguments will make, worked out from the arguments
//! before the call (see [`crate::bounded_functions`]). Each figure is an
//! upper bound of the row's answer, or close to it; a null counts nothing,
//! and a constant argument counts at every row (DataFusion spreads a
//! constant answer over the batch as soon as a column meets it).

use arrow::array::{Array, ArrayRef, AsArray, Int64Array};
use arrow::compute::cast;
use arrow::compute::kernels::length::length;
use arrow::datatypes::{DataType, Int64Type, IntervalMonthDayNanoType, TimeUnit};
use datafusion::common::{Result, exec_err};
use datafusion::logical_expr::ColumnarValue;

use crate::row_sizes::row_sizes;
use crate::value_types::value_bytes;

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
    /// `concat(a, b, ...)`: every argument's bytes.
    Concat,
    /// `concat_ws(separator, a, b, ...)`: every argument's bytes and a
    /// separator between each two.
    ConcatWs,
    /// A function whose size is its type's, checked on its return type
    /// (`arrow_cast` and its kin).
    TypeOnly,
}

/// Bytes each of the `rows` rows of a call of `growth` over `args` makes
/// at most (saturating); empty for [`Growth::TypeOnly`].
pub fn row_bytes(growth: Growth, args: &[ColumnarValue], rows: usize) -> Result<Vec<u64>> {
    let arg = |i: usize| args.get(i);
    let rows = rows.max(1);
    let bounds = match growth {
        Growth::TypeOnly => Vec::new(),
        Growth::Repeat => {
            let (Some(text), Some(times)) = (arg(0), arg(1)) else {
                return Ok(Vec::new());
            };
            let (text, times) = (byte_lengths(text)?, integers(times)?);
            per_row(rows, |row| Some(text.at(row)? * times.at(row)?.max(0)))
        }
        Growth::Pad => {
            let (Some(text), Some(width)) = (arg(0), arg(1)) else {
                return Ok(Vec::new());
            };
            let (text, width) = (byte_lengths(text)?, integers(width)?);
            // A character of the fill takes at most its bytes (a space
            // without one), and at most 4.
            let fill = arg(2).map(byte_lengths).transpose()?;
            per_row(rows, |row| {
                let each = fill.as_ref().map_or(Some(1), |fill| fill.at(row))?;
                Some(text.at(row)? + width.at(row)?.max(0) * each.clamp(1, 4))
            })
        }
        Growth::Replace => {
            let (Some(text), Some(from), Some(to)) = (arg(0), arg(1), arg(2)) else {
                return Ok(Vec::new());
            };
            let text = byte_lengths(text)?;
            let (from, to) = (byte_lengths(from)?, byte_lengths(to)?);
            per_row(rows, |row| {
                let text = text.at(row)?;
                let places = text / from.at(row).unwrap_or(0).max(1) + 1;
                Some(text + places * to.at(row).unwrap_or(0))
            })
        }
        Growth::RegexpReplace => {
            let (Some(text), Some(with)) = (arg(0), arg(2)) else {
                return Ok(Vec::new());
            };
            let references = match with {
                ColumnarValue::Scalar(value) => value.to_string().matches('$').count(),
                // Per row below would cost a string walk a row; a column of
                // replacements is taken as all references.
                ColumnarValue::Array(_) => usize::MAX,
            };
            let (text, with) = (byte_lengths(text)?, byte_lengths(with)?);
            per_row(rows, |row| {
                let text = text.at(row)?;
                let with = with.at(row).unwrap_or(0);
                let references = (references as i128).min(with);
                Some(text + (text + 1) * with + references * text)
            })
        }
        Growth::ArrayRepeat => {
            let (Some(element), Some(times)) = (arg(0), arg(1)) else {
                return Ok(Vec::new());
            };
            let each = sizes(element, width_of(&element.data_type()))?;
            let times = integers(times)?;
            per_row(rows, |row| Some(times.at(row)?.max(0) * each.at(row)?))
        }
        Growth::ArrayResize => {
            let (Some(list), Some(size)) = (arg(0), arg(1)) else {
                return Ok(Vec::new());
            };
            // The row's own items, then each new one as wide as the fill
            // (a null of the item type when there is none).
            let item = match list.data_type() {
                DataType::List(item) | DataType::LargeList(item) => width_of(item.data_type()),
                _ => 8,
            };
            let fill = match arg(2) {
                Some(fill) => Some(sizes(fill, item)?),
                None => None,
            };
            let (own, size) = (sizes(list, 0)?, integers(size)?);
            per_row(rows, |row| {
                let each = fill
                    .as_ref()
                    .map_or(Some(i128::from(item)), |f| f.at(row))?;
                Some(own.at(row).unwrap_or(0) + size.at(row)?.max(0) * each)
            })
        }
        Growth::Concat | Growth::ConcatWs => {
            let lengths = args.iter().map(byte_lengths).collect::<Result<Vec<_>>>()?;
            let separators = match growth {
                Growth::ConcatWs => args.len().saturating_sub(2) as i128,
                _ => 0,
            };
            per_row(rows, |row| {
                let all: i128 = lengths.iter().map(|l| l.at(row).unwrap_or(0)).sum();
                let separator = match growth {
                    Growth::ConcatWs => lengths.first().and_then(|l| l.at(row)).unwrap_or(0),
                    _ => 0,
                };
                Some(all + separators * separator)
            })
        }
        Growth::Range => return range_bytes(args, rows),
    };
    Ok(bounds)
}

/// `bound` of each of `rows` rows (a null row counts nothing), clamped to
/// `0..=u64::MAX`.
fn per_row(rows: usize, bound: impl Fn(usize) -> Option<i128>) -> Vec<u64> {
    (0..rows)
        .map(|row| {
            let bytes = bound(row).unwrap_or(0).max(0);
            u64::try_from(bytes).unwrap_or(u64::MAX)
        })
        .collect()
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
    let text = array.data_type().is_string()
        || matches!(
            array.data_type(),
            DataType::Binary | DataType::LargeBinary | DataType::BinaryView
        );
    match length(&array).ok().filter(|_| text) {
        Some(lengths) => Ok(Integers {
            values: cast(&lengths, &DataType::Int64)?
                .as_primitive::<Int64Type>()
                .clone(),
            scalar,
            scale: 1,
        }),
        // Not text: each row's own bytes.
        None => sizes(value, 0),
    }
}

/// Each row's bytes of `value` ([`row_sizes`]), at least `floor`.
fn sizes(value: &ColumnarValue, floor: u64) -> Result<Integers> {
    let (array, scalar) = array_of(value)?;
    let values = row_sizes(array.as_ref())
        .into_iter()
        .map(|size| i64::try_from(size.max(floor)).unwrap_or(i64::MAX));
    Ok(Integers {
        values: Int64Array::from_iter_values(values),
        scalar,
        scale: 1,
    })
}

/// Bytes one value of `data_type` takes at least (a null of it too).
fn width_of(data_type: &DataType) -> u64 {
    value_bytes(data_type).unwrap_or(u64::MAX).max(1)
}

/// `range`/`generate_series`: one 8-byte value a step from start to stop.
fn range_bytes(args: &[ColumnarValue], rows: usize) -> Result<Vec<u64>> {
    let (start, stop, step) = match args {
        [stop] => (None, stop, None),
        [start, stop] => (Some(start), stop, None),
        [start, stop, step] => (Some(start), stop, Some(step)),
        _ => return Ok(Vec::new()),
    };
    let start = start.map(integers).transpose()?;
    let stop = integers(stop)?;
    let step = match step {
        None => None,
        Some(step) => Some(step_nanos(step)?),
    };
    let start_at = |row| start.as_ref().map_or(Some(0), |start| start.at(row));
    Ok(per_row(rows, |row| {
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
    let mut values = Vec::with_capacity(intervals.len());
    for interval in intervals.iter() {
        let Some(i) = interval else {
            values.push(None);
            continue;
        };
        // Months are added before days: `1 month -28 days` from 4 February
        // comes back to 4 February, and DataFusion's loop never ends.
        let parts = [i64::from(i.months), i64::from(i.days), i.nanoseconds];
        if parts.iter().any(|p| *p > 0) && parts.iter().any(|p| *p < 0) {
            return exec_err!(
                "a step of {} months {} days {} nanoseconds mixes signs; give every part the same sign",
                i.months,
                i.days,
                i.nanoseconds
            );
        }
        let nanos = i128::from(i.months) * 28 * DAY_NANOS
            + i128::from(i.days) * (DAY_NANOS / 24 * 23)
            + i128::from(i.nanoseconds);
        values.push(Some(i64::try_from(nanos.abs()).unwrap_or(i64::MAX).max(1)));
    }
    let values = Int64Array::from(values);
    Ok(Integers {
        values,
        scalar,
        scale: 1,
    })
}
