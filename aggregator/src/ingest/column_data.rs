//! One column's values as they are decoded: an Arrow builder of the
//! column's open type, filled with nulls for the rows that lack it, and
//! widened from integer to float when a float arrives in a column this
//! request introduced.

use std::sync::Arc;

use arrow::array::{
    ArrayRef, BooleanBuilder, Float64Builder, Int64Array, Int64Builder, ListBuilder, StringBuilder,
    TimestampMicrosecondBuilder,
};
use arrow::datatypes::{DataType, Field};
use shoal_contract::column_type::ColumnType;

use crate::ingest::scalar::Scalar;

/// Bytes a string value is expected to take, to size a builder.
const STRING_BYTES_GUESS: usize = 16;

/// A column's builder, and how many rows it holds.
#[derive(Debug)]
pub struct ColumnData {
    builder: Builder,
    /// Rows held: kept here, as every value asks for it first (`pad`).
    len: usize,
}

/// A builder of each column type.
#[derive(Debug)]
enum Builder {
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
        let builder = match column_type {
            ColumnType::Integer => Builder::Integer(Int64Builder::with_capacity(rows)),
            ColumnType::Float => Builder::Float(Float64Builder::with_capacity(rows)),
            ColumnType::Boolean => Builder::Boolean(BooleanBuilder::with_capacity(rows)),
            ColumnType::String => Builder::String(
                StringBuilder::with_capacity(rows, rows * STRING_BYTES_GUESS),
                String::new(),
            ),
            ColumnType::StringSet => {
                let item = match column_type.open_type() {
                    DataType::List(item) => item,
                    _ => Arc::new(Field::new("item", DataType::Utf8, true)),
                };
                Builder::StringSet(ListBuilder::new(StringBuilder::new()).with_field(item))
            }
            ColumnType::Timestamp => Builder::Timestamp(
                TimestampMicrosecondBuilder::with_capacity(rows)
                    .with_data_type(column_type.open_type()),
            ),
        };
        let mut data = Self { builder, len: 0 };
        data.pad(nulls);
        data
    }

    /// Rows held so far.
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Appends nulls up to `rows` rows.
    #[inline]
    pub fn pad(&mut self, rows: usize) {
        if rows > self.len {
            self.append_nulls(rows - self.len);
        }
    }

    fn append_nulls(&mut self, missing: usize) {
        match &mut self.builder {
            Builder::Integer(b) => b.append_nulls(missing),
            Builder::Float(b) => b.append_nulls(missing),
            Builder::Boolean(b) => b.append_nulls(missing),
            Builder::String(b, _) => b.append_nulls(missing),
            Builder::StringSet(b) => (0..missing).for_each(|_| b.append_null()),
            Builder::Timestamp(b) => b.append_nulls(missing),
        }
        self.len += missing;
    }

    /// Appends a value the column's type was checked to hold.
    pub fn append(&mut self, value: &Scalar) -> Result<(), String> {
        let wrong = || format!("cannot append {} here", value.kind());
        match (&mut self.builder, value) {
            (Builder::Integer(b), Scalar::Int(i)) => b.append_value(*i),
            (Builder::Float(b), Scalar::Int(i)) => b.append_value(*i as f64),
            (Builder::Float(b), Scalar::UInt(u)) => b.append_value(*u as f64),
            (Builder::Float(b), Scalar::Float(f)) => b.append_value(*f),
            (Builder::Boolean(b), Scalar::Bool(v)) => b.append_value(*v),
            (Builder::String(b, _), Scalar::Str(text)) => b.append_value(text),
            (Builder::String(b, text), value) => {
                text.clear();
                if !value.write_text(text) {
                    return Err(wrong());
                }
                b.append_value(text.as_str());
            }
            (Builder::StringSet(b), Scalar::Set(items)) => {
                for item in items {
                    b.values().append_value(item);
                }
                b.append(true);
            }
            // The time moved from its source field, and integers (as
            // arrow-json took them), are microseconds already.
            (Builder::Timestamp(b), Scalar::Time(micros) | Scalar::Int(micros)) => {
                b.append_value(*micros)
            }
            (Builder::Timestamp(b), value) => b.append_value(value.time_micros()?),
            _ => return Err(wrong()),
        }
        self.len += 1;
        Ok(())
    }

    /// An integer column becomes a float one, its values converted.
    pub fn widen_to_float(&mut self) {
        if let Builder::Integer(b) = &mut self.builder {
            let integers: Int64Array = b.finish();
            let mut floats = Float64Builder::with_capacity(integers.len());
            for value in integers.iter() {
                floats.append_option(value.map(|i| i as f64));
            }
            self.builder = Builder::Float(floats);
        }
    }

    /// The column's `rows` values as an array; the builder is empty after.
    pub fn finish(&mut self, rows: usize) -> ArrayRef {
        self.pad(rows);
        self.len = 0;
        match &mut self.builder {
            Builder::Integer(b) => Arc::new(b.finish()),
            Builder::Float(b) => Arc::new(b.finish()),
            Builder::Boolean(b) => Arc::new(b.finish()),
            Builder::String(b, _) => Arc::new(b.finish()),
            Builder::StringSet(b) => Arc::new(b.finish()),
            Builder::Timestamp(b) => Arc::new(b.finish()),
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
