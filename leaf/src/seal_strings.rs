//! A block to seal, made from the open block's batches: each string column
//! is interned into the block's dictionary straight from the batches' text,
//! instead of first copying all of it into one array and then interning
//! that; other columns are concatenated. Values keep the order they first
//! appear in, as a cast would give them.

use std::collections::HashMap;
use std::sync::Arc;

use arrow::array::builder::NullBufferBuilder;
use arrow::array::{
    Array, ArrayRef, AsArray, DictionaryArray, RecordBatch, RecordBatchOptions, StringBuilder,
    UInt16Array,
};
use arrow::compute::concat;
use arrow::datatypes::{DataType, Field, Schema, UInt16Type};
use foldhash::fast::RandomState;

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
    if bytes > i32::MAX as usize {
        // Past 32-bit offsets (the builder would panic): as concat refuses.
        return Err(LeafError::BadRequest(format!(
            "column {name:?} holds {bytes} bytes of text, more than one block can"
        )));
    }
    // Interned here rather than by arrow's dictionary builder: a value
    // like the row's before it (runs of one service, one host) takes that
    // row's key without hashing, and others are found with foldhash, which
    // is quicker on short strings than the builder's hasher.
    let mut index: HashMap<&str, u16, RandomState> =
        HashMap::with_capacity_and_hasher(1024, RandomState::default());
    let mut values = StringBuilder::with_capacity(1024, bytes.min(1 << 20));
    let mut keys = Vec::with_capacity(rows);
    let mut nulls = NullBufferBuilder::new(rows);
    let mut last: Option<(&str, u16)> = None;
    for part in parts {
        let strings = part.as_string_opt::<i32>().ok_or_else(|| {
            LeafError::BadRequest(format!("column {name:?} of an open block is not text"))
        })?;
        for value in strings.iter() {
            let Some(text) = value else {
                keys.push(0);
                nulls.append_null();
                continue;
            };
            let key = match last {
                Some((before, key)) if before == text => key,
                _ => {
                    let key = match index.get(text) {
                        Some(&key) => key,
                        None => {
                            let key = u16::try_from(index.len()).map_err(|_| {
                                LeafError::BadRequest(format!(
                                    "column {name:?} holds more distinct strings than one block can"
                                ))
                            })?;
                            index.insert(text, key);
                            values.append_value(text);
                            key
                        }
                    };
                    last = Some((text, key));
                    key
                }
            };
            keys.push(key);
            nulls.append_non_null();
        }
    }
    let keys = UInt16Array::new(keys.into(), nulls.finish());
    let dictionary = DictionaryArray::<UInt16Type>::try_new(keys, Arc::new(values.finish()))?;
    Ok(Arc::new(dictionary))
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{Int64Array, StringArray, TimestampMicrosecondArray};
    use arrow::compute::concat_batches;
    use shoal_contract::column_type::ColumnType;

    fn table_schema() -> TableSchema {
        let mut schema = TableSchema::new();
        schema.push("time".into(), ColumnType::Timestamp);
        schema.push("host".into(), ColumnType::String);
        schema.push("n".into(), ColumnType::Integer);
        schema
    }

    fn open_batch(schema: &TableSchema, first: i64, hosts: &[Option<&str>]) -> RecordBatch {
        let rows = hosts.len() as i64;
        let columns: Vec<ArrayRef> = vec![
            Arc::new(
                TimestampMicrosecondArray::from_iter_values(first..first + rows)
                    .with_timezone("UTC"),
            ),
            Arc::new(StringArray::from(hosts.to_vec())),
            Arc::new(Int64Array::from_iter_values(first..first + rows)),
        ];
        let open = RecordBatch::try_new(
            Arc::new(Schema::new(vec![
                Field::new("time", columns[0].data_type().clone(), false),
                Field::new("host", DataType::Utf8, true),
                Field::new("n", DataType::Int64, true),
            ])),
            columns,
        )
        .expect("batch");
        schema.align(&open, Storage::Open).expect("align")
    }

    /// The same block as concatenating the batches and casting them: the
    /// same dictionary in the same order, nulls, empty and sliced batches.
    #[test]
    fn gives_the_block_concatenation_and_cast_give() {
        let schema = table_schema();
        let batches = vec![
            open_batch(&schema, 0, &[Some("b"), None, Some("a"), Some("b")]),
            open_batch(&schema, 10, &[]),
            open_batch(
                &schema,
                20,
                &[Some("c"), Some("a"), None, Some("d"), Some("e")],
            )
            .slice(1, 3),
            open_batch(&schema, 30, &[Some("")]),
            // Runs, across a null and from one batch to the next.
            open_batch(
                &schema,
                40,
                &[Some("e"), Some("e"), None, Some("e"), Some("a")],
            ),
            open_batch(&schema, 50, &[Some("a"), Some("a"), Some(""), Some("e")]),
        ];
        let quick = block_from_open(&schema, &batches).expect("block");
        let all = concat_batches(&schema.arrow_schema(Storage::Open), &batches).expect("concat");
        let cast = schema.align(&all, Storage::Block).expect("cast");
        assert_eq!(quick, cast);
        assert_eq!(quick.num_rows(), 17);
        // Dictionary equality compares the values the keys point to: the
        // values' order, and no value twice or unused, are checked apart.
        let quick = quick.column(1).as_dictionary::<UInt16Type>();
        let cast = cast.column(1).as_dictionary::<UInt16Type>();
        assert_eq!(quick.keys(), cast.keys());
        assert_eq!(quick.values(), cast.values());
    }

    /// A block of 65,536 rows may hold 65,536 distinct strings: 16-bit keys
    /// reach them all.
    #[test]
    fn a_block_of_distinct_strings_fills_every_key() {
        let schema = table_schema();
        let names: Vec<String> = (0..65_536).map(|i| format!("h{i}")).collect();
        let hosts: Vec<Option<&str>> = names.iter().map(|n| Some(n.as_str())).collect();
        let batches = [
            open_batch(&schema, 0, &hosts[..30_000]),
            open_batch(&schema, 30_000, &hosts[30_000..]),
        ];
        let block = block_from_open(&schema, &batches).expect("block");
        let hosts = block.column(1).as_dictionary::<UInt16Type>();
        assert_eq!(hosts.values().len(), 65_536);
        assert_eq!(hosts.keys().value(65_535), 65_535);
        let values: Vec<&str> = hosts.values().as_string::<i32>().iter().flatten().collect();
        assert_eq!(values, names);
    }
}
