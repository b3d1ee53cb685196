//! One column's values as they are decoded: an Arrow builder of the
//! column's open type, filled with nulls for the rows that lack it, and
//! widened from integer to float when a float arrives in a column this
//! request introduced.

use std::sync::Arc;

use arrow::array::{
    ArrayBuilder, ArrayRef, BooleanBuilder, Float64Builder, Int64Array, Int64Builder, ListBuilder,
    StringBuilder, TimestampMicrosecondBuilder,
};
use arrow::datatypes::{DataType, Field};
use shoal_contract::column_type::ColumnType;

use crate::ingest::scalar::Scalar;

/// Bytes a string value is expected to take, to size a builder.
const STRING_BYTES_GUESS: usize = 16;

/// A column's builder.
#[derive(Debug)]
pub enum ColumnData {
    Integer(Int64Builder),
    Float(Float64Builder),
    Boolean(BooleanBuilder),
    String(StringBuilder, String),
    StringSet(ListBuilder<StringBuilder>),
    Timestamp(TimestampMicrosecondBuilder),
}

impl ColumnData {
    /// An empty builder for `column_type`, with `nulls` rows of nulls.
    pub fn new(column_type: ColumnType, nulls: usize) -> Self {
        Self::with_capacity(column_type, nulls, 0)
    }

    /// [`Self::new`], with room for `rows` rows made at once (growing a
    /// builder row by row copies what it holds each time it doubles).
    pub fn with_capacity(column_type: ColumnType, nulls: usize, rows: usize) -> Self {
        let mut data = match column_type {
            ColumnType::Integer => Self::Integer(Int64Builder::with_capacity(rows)),
            ColumnType::Float => Self::Float(Float64Builder::with_capacity(rows)),
            ColumnType::Boolean => Self::Boolean(BooleanBuilder::with_capacity(rows)),
            ColumnType::String => Self::String(
                StringBuilder::with_capacity(rows, rows * STRING_BYTES_GUESS),
                String::new(),
            ),
            ColumnType::StringSet => {
                let item = match column_type.open_type() {
                    DataType::List(item) => item,
                    _ => Arc::new(Field::new("item", DataType::Utf8, true)),
                };
                Self::StringSet(ListBuilder::new(StringBuilder::new()).with_field(item))
            }
            ColumnType::Timestamp => Self::Timestamp(
                TimestampMicrosecondBuilder::with_capacity(rows)
                    .with_data_type(column_type.open_type()),
            ),
        };
        data.pad(nulls);
        data
    }

    /// Rows held so far.
    pub fn len(&self) -> usize {
        match self {
            Self::Integer(b) => b.len(),
            Self::Float(b) => b.len(),
            Self::Boolean(b) => b.len(),
            Self::String(b, _) => b.len(),
            Self::StringSet(b) => b.len(),
            Self::Timestamp(b) => b.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Appends nulls up to `rows` rows.
    pub fn pad(&mut self, rows: usize) {
        let missing = rows.saturating_sub(self.len());
        if missing == 0 {
            return;
        }
        match self {
            Self::Integer(b) => b.append_nulls(missing),
            Self::Float(b) => b.append_nulls(missing),
            Self::Boolean(b) => b.append_nulls(missing),
            Self::String(b, _) => b.append_nulls(missing),
            Self::StringSet(b) => (0..missing).for_each(|_| b.append_null()),
            Self::Timestamp(b) => b.append_nulls(missing),
        }
    }

    /// Appends a value the column's type was checked to hold.
    pub fn append(&mut self, value: &Scalar) -> Result<(), String> {
        let wrong = || format!("cannot append {} here", value.kind());
        match (self, value) {
            (Self::Integer(b), Scalar::Int(i)) => b.append_value(*i),
            (Self::Float(b), Scalar::Int(i)) => b.append_value(*i as f64),
            (Self::Float(b), Scalar::UInt(u)) => b.append_value(*u as f64),
            (Self::Float(b), Scalar::Float(f)) => b.append_value(*f),
            (Self::Boolean(b), Scalar::Bool(v)) => b.append_value(*v),
            (Self::String(b, _), Scalar::Str(text)) => b.append_value(text),
            (Self::String(b, text), value) => {
                text.clear();
                if !value.write_text(text) {
                    return Err(wrong());
                }
                b.append_value(text.as_str());
            }
            (Self::StringSet(b), Scalar::Set(items)) => {
                for item in items {
                    b.values().append_value(item);
                }
                b.append(true);
            }
            // The time moved from its source field, and integers (as
            // arrow-json took them), are microseconds already.
            (Self::Timestamp(b), Scalar::Time(micros) | Scalar::Int(micros)) => {
                b.append_value(*micros)
            }
            (Self::Timestamp(b), value) => b.append_value(value.time_micros()?),
            _ => return Err(wrong()),
        }
        Ok(())
    }

    /// An integer column becomes a float one, its values converted.
    pub fn widen_to_float(&mut self) {
        if let Self::Integer(b) = self {
            let integers: Int64Array = b.finish();
            let mut floats = Float64Builder::with_capacity(integers.len());
            for value in integers.iter() {
                floats.append_option(value.map(|i| i as f64));
            }
            *self = Self::Float(floats);
        }
    }

    /// The column's `rows` values as an array.
    pub fn finish(&mut self, rows: usize) -> ArrayRef {
        self.pad(rows);
        match self {
            Self::Integer(b) => Arc::new(b.finish()),
            Self::Float(b) => Arc::new(b.finish()),
            Self::Boolean(b) => Arc::new(b.finish()),
            Self::String(b, _) => Arc::new(b.finish()),
            Self::StringSet(b) => Arc::new(b.finish()),
            Self::Timestamp(b) => Arc::new(b.finish()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{Array, AsArray, Float64Array};

    #[test]
    fn nulls_pad_and_integers_widen() {
        let mut data = ColumnData::new(ColumnType::Integer, 2);
        data.append(&Scalar::Int(7)).unwrap();
        data.widen_to_float();
        data.append(&Scalar::Float(1.5)).unwrap();
        let array = data.finish(5);
        let floats: &Float64Array = array.as_primitive();
        assert_eq!(
            floats.iter().collect::<Vec<_>>(),
            vec![None, None, Some(7.0), Some(1.5), None]
        );
        let mut set = ColumnData::new(ColumnType::StringSet, 1);
        set.append(&Scalar::Set(vec!["a".into(), "b".into()]))
            .unwrap();
        let array = set.finish(2);
        assert_eq!(array.data_type(), &ColumnType::StringSet.open_type());
        assert!(array.is_null(0));
        assert!(
            ColumnData::new(ColumnType::Boolean, 0)
                .append(&Scalar::Int(1))
                .is_err()
        );
    }
}
