//! Integer columns stored at the narrowest width that holds a block's
//! values (block format 3): an `integer` column whose values in the block
//! all fit in 8, 16 or 32 bits is written at that width. Queries read it as
//! the table's type, 64 bits (the scan casts the columns it reads, see
//! [`crate::table_schema::conform`]); a block stays mapped as it is.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, RecordBatch, RecordBatchOptions};
use arrow::compute::{cast, max, min};
use arrow::datatypes::{DataType, Field, Int64Type, Schema};

use crate::error::Result;

/// `batch` with each 64-bit integer column at the narrowest width that
/// holds its values (8 bits for a column of nulls only).
pub fn narrow_integers(batch: &RecordBatch) -> Result<RecordBatch> {
    let schema = batch.schema();
    let mut fields: Vec<Field> = Vec::with_capacity(batch.num_columns());
    let mut columns: Vec<ArrayRef> = Vec::with_capacity(batch.num_columns());
    for (field, column) in schema.fields().iter().zip(batch.columns()) {
        let narrow = match column.data_type() {
            DataType::Int64 => narrowest(column),
            _ => None,
        };
        match narrow {
            Some(width) => {
                columns.push(cast(column, &width)?);
                fields.push(field.as_ref().clone().with_data_type(width));
            }
            None => {
                columns.push(column.clone());
                fields.push(field.as_ref().clone());
            }
        }
    }
    let schema = Arc::new(Schema::new_with_metadata(fields, schema.metadata().clone()));
    let options = RecordBatchOptions::new().with_row_count(Some(batch.num_rows()));
    Ok(RecordBatch::try_new_with_options(
        schema, columns, &options,
    )?)
}

/// The narrowest integer type holding every value of `column`, when it is
/// narrower than 64 bits.
fn narrowest(column: &ArrayRef) -> Option<DataType> {
    let values = column.as_primitive::<Int64Type>();
    let (low, high) = match (min(values), max(values)) {
        (Some(low), Some(high)) => (low, high),
        _ => return Some(DataType::Int8),
    };
    let fits = |lowest: i64, highest: i64| low >= lowest && high <= highest;
    if fits(i8::MIN.into(), i8::MAX.into()) {
        Some(DataType::Int8)
    } else if fits(i16::MIN.into(), i16::MAX.into()) {
        Some(DataType::Int16)
    } else if fits(i32::MIN.into(), i32::MAX.into()) {
        Some(DataType::Int32)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use arrow::array::Int64Array;

    use super::*;

    #[test]
    fn each_column_takes_the_narrowest_width_of_its_values_and_reads_back_the_same() {
        let schema = Arc::new(Schema::new(vec![
            Field::new("small", DataType::Int64, true),
            Field::new("status", DataType::Int64, true),
            Field::new("bytes", DataType::Int64, true),
            Field::new("big", DataType::Int64, true),
            Field::new("nulls", DataType::Int64, true),
            Field::new("name", DataType::Utf8, true),
        ]));
        let column = |values: Vec<Option<i64>>| Arc::new(Int64Array::from(values)) as ArrayRef;
        let batch = RecordBatch::try_new(
            schema.clone(),
            vec![
                column(vec![Some(-128), Some(127), None]),
                column(vec![Some(200), Some(-129), Some(503)]),
                column(vec![Some(70_000), Some(-1), Some(2_147_483_647)]),
                column(vec![Some(2_147_483_648), Some(0), Some(i64::MIN)]),
                column(vec![None, None, None]),
                Arc::new(arrow::array::StringArray::from(vec!["a", "b", "c"])),
            ],
        )
        .unwrap();
        let narrow = narrow_integers(&batch).unwrap();
        let types: Vec<DataType> = narrow
            .schema()
            .fields()
            .iter()
            .map(|f| f.data_type().clone())
            .collect();
        assert_eq!(
            types,
            [
                DataType::Int8,
                DataType::Int16,
                DataType::Int32,
                DataType::Int64,
                DataType::Int8,
                DataType::Utf8
            ]
        );
        let back = crate::table_schema::conform(&narrow, &schema).unwrap();
        assert_eq!(back, batch);
    }
}
