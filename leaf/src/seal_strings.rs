//! A block to seal, made from the open block's batches: each string column
//! is interned into the block's dictionary straight from the batches' text,
//! instead of first copying all of it into one array and then interning
//! that; other columns are concatenated. Values keep the order they first
//! appear in, as a cast would give them.

use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, AsArray, RecordBatch, RecordBatchOptions, StringDictionaryBuilder,
};
use arrow::compute::concat;
use arrow::datatypes::{DataType, Field, Schema, UInt16Type};

use crate::error::{LeafError, Result};
use crate::table_schema::{Storage, TableSchema};

/// The rows of `batches` (each in the open block's schema, together at most
/// 65,536 rows) as one batch in the block's schema.
pub fn block_from_open(schema: &TableSchema, batches: &[RecordBatch]) -> Result<RecordBatch> {
    let open = schema.arrow_schema(Storage::Open);
    let block = schema.arrow_schema(Storage::Block);
    let rows: usize = batches.iter().map(RecordBatch::num_rows).sum();
    let mut fields = Vec::with_capacity(open.fields().len());
    let mut columns = Vec::with_capacity(open.fields().len());
    for (i, (open_field, block_field)) in open.fields().iter().zip(block.fields()).enumerate() {
        let parts: Vec<&dyn Array> = batches.iter().map(|b| b.column(i).as_ref()).collect();
        let column = match (open_field.data_type(), block_field.data_type()) {
            (DataType::Utf8, DataType::Dictionary(key, value))
                if **key == DataType::UInt16 && **value == DataType::Utf8 =>
            {
                intern(&parts, rows, open_field.name())?
            }
            _ => concat(&parts)?,
        };
        fields.push(Field::new(
            open_field.name(),
            column.data_type().clone(),
            true,
        ));
        columns.push(column);
    }
    let options = RecordBatchOptions::new().with_row_count(Some(rows));
    let mixed =
        RecordBatch::try_new_with_options(Arc::new(Schema::new(fields)), columns, &options)?;
    schema.align(&mixed, Storage::Block)
}

/// The strings of `parts`, in order, as one dictionary with 16-bit keys.
fn intern(parts: &[&dyn Array], rows: usize, name: &str) -> Result<ArrayRef> {
    let bytes: usize = parts
        .iter()
        .filter_map(|part| part.as_string_opt::<i32>())
        .map(|strings| strings.values().len())
        .sum();
    let mut builder =
        StringDictionaryBuilder::<UInt16Type>::with_capacity(rows, 1024, bytes.min(1 << 20));
    for part in parts {
        let strings = part.as_string_opt::<i32>().ok_or_else(|| {
            LeafError::BadRequest(format!("column {name:?} of an open block is not text"))
        })?;
        for value in strings.iter() {
            match value {
                Some(text) => {
                    builder.append(text)?;
                }
                None => builder.append_null(),
            }
        }
    }
    Ok(Arc::new(builder.finish()))
}
