//! A block's `time` column stored relative to the block (block format 4):
//! when every time in the block is its earliest plus a multiple of a
//! common unit (a second, a millisecond or a microsecond) and the span
//! fits, the column holds 32-bit multiples of that unit, and its field's
//! metadata says the base and the unit. Half the bytes of 64-bit
//! microseconds.
//!
//! Readers widen it back to microseconds ([`widen`], used by
//! [`crate::table_schema::conform`] for the columns a query reads) or
//! compare the narrow values directly ([`rows_within`], the time filter a
//! scan applies to a block its range does not cover).

use std::collections::HashMap;
use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, RecordBatch, RecordBatchOptions,
    TimestampMicrosecondArray, UInt32Array,
};
use arrow::compute::kernels::cmp::{gt_eq, lt_eq};
use arrow::compute::{and, cast};
use arrow::datatypes::{DataType, Field, Schema, TimestampMicrosecondType, UInt32Type};
use arrow::error::ArrowError;

use crate::column_type::{ColumnType, TIME_COLUMN};
use crate::error::Result;

const KEY_BASE: &str = "shoal.time_base_micros";
const KEY_UNIT: &str = "shoal.time_unit_micros";
/// Units tried, coarsest first.
const UNITS: [i64; 3] = [1_000_000, 1_000, 1];

/// How a narrow time column maps back: `base + value * unit` microseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Frame {
    pub base: i64,
    pub unit: i64,
}

impl Frame {
    /// The frame of a stored `time` field, if it is narrow.
    pub fn of(field: &Field) -> Option<Self> {
        if field.data_type() != &DataType::UInt32 {
            return None;
        }
        let metadata = field.metadata();
        let base = metadata.get(KEY_BASE)?.parse().ok()?;
        let unit: i64 = metadata.get(KEY_UNIT)?.parse().ok()?;
        (unit > 0).then_some(Self { base, unit })
    }

    /// The first narrow value at or after `micros` (`None` past them all).
    fn at_or_after(self, micros: i64) -> Option<u32> {
        let offset = micros.saturating_sub(self.base);
        if offset <= 0 {
            return Some(0);
        }
        let units = offset / self.unit + i64::from(offset % self.unit != 0);
        u32::try_from(units).ok()
    }

    /// The last narrow value at or before `micros` (`None` before them all).
    fn at_or_before(self, micros: i64) -> Option<u32> {
        let offset = micros.saturating_sub(self.base);
        if offset < 0 {
            return None;
        }
        Some(u32::try_from(offset / self.unit).unwrap_or(u32::MAX))
    }
}

/// The logical type of a block's stored field: a narrow time column is a
/// timestamp, not the integers it holds.
pub fn stored_column_type(field: &Field) -> Option<ColumnType> {
    match Frame::of(field) {
        Some(_) => Some(ColumnType::Timestamp),
        None => ColumnType::of_arrow(field.data_type()),
    }
}

/// `batch` with its `time` column narrow when the block's times allow.
pub fn narrow_time(batch: &RecordBatch) -> Result<RecordBatch> {
    let schema = batch.schema();
    let Ok(at) = schema.index_of(TIME_COLUMN) else {
        return Ok(batch.clone());
    };
    let Some(times) = batch
        .column(at)
        .as_primitive_opt::<TimestampMicrosecondType>()
    else {
        return Ok(batch.clone());
    };
    if times.null_count() > 0 || times.is_empty() {
        return Ok(batch.clone());
    }
    let (Some(base), Some(last)) = (arrow::compute::min(times), arrow::compute::max(times)) else {
        return Ok(batch.clone());
    };
    // Times from a client are not range-checked everywhere: a span past
    // i64 keeps the block wide.
    let Some(span) = last.checked_sub(base) else {
        return Ok(batch.clone());
    };
    // Every time lies in [base, last], so `t - base` cannot overflow.
    let fits = |unit: i64| {
        span / unit <= i64::from(u32::MAX) && times.values().iter().all(|t| (t - base) % unit == 0)
    };
    let Some(unit) = UNITS.into_iter().find(|&unit| fits(unit)) else {
        return Ok(batch.clone());
    };
    let narrow: UInt32Array = times
        .values()
        .iter()
        .map(|t| ((t - base) / unit) as u32)
        .collect();
    let metadata = HashMap::from([
        (KEY_BASE.to_string(), base.to_string()),
        (KEY_UNIT.to_string(), unit.to_string()),
    ]);
    let field = Field::new(TIME_COLUMN, DataType::UInt32, false).with_metadata(metadata);
    let mut fields: Vec<Field> = schema.fields().iter().map(|f| f.as_ref().clone()).collect();
    fields[at] = field;
    let mut columns = batch.columns().to_vec();
    columns[at] = Arc::new(narrow);
    let schema = Arc::new(Schema::new_with_metadata(fields, schema.metadata().clone()));
    let options = RecordBatchOptions::new().with_row_count(Some(batch.num_rows()));
    Ok(RecordBatch::try_new_with_options(
        schema, columns, &options,
    )?)
}

/// A narrow time column as microseconds of the given type (a timestamp
/// with its zone, as the table declares it).
pub fn widen(column: &ArrayRef, frame: Frame, to: &DataType) -> Result<ArrayRef> {
    let narrow = column.as_primitive::<UInt32Type>();
    let micros: TimestampMicrosecondArray = narrow
        .values()
        .iter()
        .map(|&v| frame.base + i64::from(v) * frame.unit)
        .collect::<Vec<_>>()
        .into();
    let micros: ArrayRef = Arc::new(micros.with_timezone("UTC"));
    Ok(match micros.data_type() == to {
        true => micros,
        false => cast(&micros, to)?,
    })
}

/// Which rows of a narrow time column lie in `[min, max]` (microseconds,
/// either bound optional).
pub fn rows_within(
    column: &ArrayRef,
    frame: Frame,
    min: Option<i64>,
    max: Option<i64>,
) -> std::result::Result<BooleanArray, ArrowError> {
    let none = || BooleanArray::from(vec![false; column.len()]);
    let above = match min.map(|min| frame.at_or_after(min)) {
        None => None,
        Some(None) => return Ok(none()),
        Some(Some(low)) => Some(gt_eq(column, &UInt32Array::new_scalar(low))?),
    };
    let below = match max.map(|max| frame.at_or_before(max)) {
        None => None,
        Some(None) => return Ok(none()),
        Some(Some(high)) => Some(lt_eq(column, &UInt32Array::new_scalar(high))?),
    };
    Ok(match (above, below) {
        (Some(above), Some(below)) => and(&above, &below)?,
        (Some(mask), None) | (None, Some(mask)) => mask,
        (None, None) => BooleanArray::from(vec![true; column.len()]),
    })
}

/// The earliest and latest time of a batch whose `time` column may be
/// narrow.
pub fn bounds(batch: &RecordBatch) -> Option<(i64, i64)> {
    let schema = batch.schema();
    let at = schema.index_of(TIME_COLUMN).ok()?;
    let column = batch.column(at);
    if let Some(frame) = Frame::of(schema.field(at)) {
        let narrow = column.as_primitive::<UInt32Type>();
        let widen = |v: u32| frame.base + i64::from(v) * frame.unit;
        return Some((
            widen(arrow::compute::min(narrow).unwrap_or(0)),
            widen(arrow::compute::max(narrow).unwrap_or(0)),
        ));
    }
    let times = column.as_primitive_opt::<TimestampMicrosecondType>()?;
    Some((
        arrow::compute::min(times).unwrap_or(0),
        arrow::compute::max(times).unwrap_or(0),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::Int64Array;

    fn batch(times: &[i64]) -> RecordBatch {
        let time = TimestampMicrosecondArray::from(times.to_vec()).with_timezone("UTC");
        let n = Int64Array::from_iter_values(0..times.len() as i64);
        RecordBatch::try_from_iter([
            (TIME_COLUMN, Arc::new(time) as ArrayRef),
            ("n", Arc::new(n) as ArrayRef),
        ])
        .unwrap()
    }

    fn frame_of(batch: &RecordBatch) -> Option<Frame> {
        Frame::of(batch.schema().field(0))
    }

    #[test]
    fn the_coarsest_common_unit_is_chosen_and_reads_back_the_same() {
        let base = 1_763_000_000_123_000;
        let cases = [
            (vec![base, base + 5_000_000, base + 1_000_000], 1_000_000),
            (vec![base + 7_000, base, base + 86_400_000_000], 1_000),
            (vec![base + 1, base], 1),
        ];
        for (times, unit) in cases {
            let wide = batch(&times);
            let narrow = narrow_time(&wide).unwrap();
            assert_eq!(frame_of(&narrow), Some(Frame { base, unit }), "{times:?}");
            let back = widen(
                narrow.column(0),
                frame_of(&narrow).unwrap(),
                wide.column(0).data_type(),
            );
            assert_eq!(&back.unwrap(), wide.column(0));
            assert_eq!(bounds(&narrow), bounds(&wide));
            assert_eq!(
                stored_column_type(narrow.schema().field(0)),
                Some(ColumnType::Timestamp)
            );
        }
    }

    #[test]
    fn a_span_past_sixty_four_bits_stays_wide() {
        let wide = batch(&[-9_000_000_000_000_000_000, 9_000_000_000_000_000_000]);
        let narrow = narrow_time(&wide).unwrap();
        assert_eq!(frame_of(&narrow), None);
        assert_eq!(narrow.columns(), wide.columns());
    }

    #[test]
    fn a_span_too_long_for_its_unit_stays_wide() {
        // 2^32 + 1 microseconds apart, and not whole milliseconds.
        let wide = batch(&[0, (1 << 32) + 1]);
        let narrow = narrow_time(&wide).unwrap();
        assert_eq!(frame_of(&narrow), None);
        assert_eq!(narrow.columns(), wide.columns());
    }

    #[test]
    fn bounds_select_the_same_rows_narrow_as_wide() {
        let times: Vec<i64> = (0..200).map(|i| 1_000_000_000 + i * 1_000).collect();
        let narrow = narrow_time(&batch(&times)).unwrap();
        let frame = frame_of(&narrow).unwrap();
        let probes = [
            None,
            Some(i64::MIN),
            Some(0),
            Some(999_999_999),
            Some(1_000_000_000),
            Some(1_000_000_001),
            Some(1_000_050_500),
            Some(1_000_199_000),
            Some(1_000_199_001),
            Some(i64::MAX),
        ];
        for min in probes {
            for max in probes {
                let mask = rows_within(narrow.column(0), frame, min, max).unwrap();
                let expected: Vec<bool> = times
                    .iter()
                    .map(|t| min.is_none_or(|m| *t >= m) && max.is_none_or(|m| *t <= m))
                    .collect();
                let given: Vec<bool> = mask.iter().map(|b| b.unwrap()).collect();
                assert_eq!(given, expected, "{min:?} {max:?}");
            }
        }
    }
}
