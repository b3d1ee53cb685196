//! Coercing an incoming batch to its table's column types.
//!
//! A batch is taken whole or refused whole: each column is cast to the
//! table's storage type when no value changes (any integer width into
//! `integer`, integers of at most 2^53 in magnitude into `float`, any string
//! encoding into `string`); any other mismatch refuses the batch with an
//! error naming the column and both types, so a table never holds one column
//! under two types. The `time` column is filled with the receive time where
//! it is missing or null.

use std::collections::HashSet;
use std::sync::Arc;

use arrow::array::AsArray;
use arrow::array::{Array, ArrayRef, Int64Array, RecordBatch, TimestampMicrosecondArray};
use arrow::compute::kernels::cast::{CastOptions, cast_with_options};
use arrow::datatypes::{DataType, Field, Schema, TimestampMicrosecondType};

use crate::column_type::{ColumnType, MAX_COLUMN_NAME_BYTES, TIME_COLUMN, timestamp_type};
use crate::error::{LeafError, Result};
use crate::table_schema::TableSchema;

/// Integers whose magnitude is at most this convert to `f64` exactly.
const MAX_EXACT_FLOAT_INTEGER: i64 = 1 << 53;

/// A batch ready for the open block, and the columns it adds to the table.
#[derive(Debug)]
pub struct Coerced {
    /// The batch's own columns (always including `time`) in open storage types.
    pub batch: RecordBatch,
    /// Columns the table did not have before, with their types.
    pub new_columns: Vec<(String, ColumnType)>,
}

/// Coerces `batch` to the columns of `schema` without changing `schema`;
/// the caller adds [`Coerced::new_columns`] once the batch is stored.
pub fn coerce_batch(
    table: &str,
    schema: &TableSchema,
    batch: &RecordBatch,
    now_micros: i64,
) -> Result<Coerced> {
    let mut seen = HashSet::new();
    let mut fields = Vec::with_capacity(batch.num_columns() + 1);
    let mut columns: Vec<ArrayRef> = Vec::with_capacity(batch.num_columns() + 1);
    let mut new_columns = Vec::new();
    let mut has_time = false;

    for (field, column) in batch.schema().fields().iter().zip(batch.columns()) {
        let name = field.name();
        if name.is_empty() {
            return Err(LeafError::BadRequest(format!(
                "table {table:?}: a column has an empty name"
            )));
        }
        if name.len() > MAX_COLUMN_NAME_BYTES {
            return Err(LeafError::BadRequest(format!(
                "table {table:?}: a column name of {} bytes is over the {MAX_COLUMN_NAME_BYTES}-byte limit",
                name.len()
            )));
        }
        if !seen.insert(name.clone()) {
            return Err(LeafError::BadRequest(format!(
                "table {table:?}: column {name:?} appears twice in the batch"
            )));
        }
        let column_type = match schema.column_type(name) {
            Some(existing) => existing,
            None => {
                let Some(found) = ColumnType::of_arrow(column.data_type()) else {
                    return Err(LeafError::UnsupportedColumnType {
                        table: table.to_string(),
                        column: name.clone(),
                        data_type: column.data_type().clone(),
                        reason: "Shoal stores integers, floats, booleans, strings, lists of strings and timestamps",
                    });
                };
                if name == TIME_COLUMN && found != ColumnType::Timestamp {
                    return Err(conflict(
                        table,
                        name,
                        ColumnType::Timestamp,
                        column,
                        "the time column holds timestamps",
                    ));
                }
                new_columns.push((name.clone(), found));
                found
            }
        };
        let mut converted = convert(table, name, column_type, column)?;
        if name == TIME_COLUMN {
            has_time = true;
            converted = fill_null_times(&converted, now_micros)?;
        }
        fields.push(coerced_field(name, converted.data_type()));
        columns.push(converted);
    }

    if !has_time {
        let times = TimestampMicrosecondArray::from_value(now_micros, batch.num_rows())
            .with_timezone("UTC");
        fields.push(coerced_field(TIME_COLUMN, &timestamp_type()));
        columns.push(Arc::new(times));
    }
    let batch = RecordBatch::try_new(Arc::new(Schema::new(fields)), columns)?;
    Ok(Coerced { batch, new_columns })
}

/// A coerced batch's field: only `time` is never null; no metadata.
fn coerced_field(name: &str, data_type: &DataType) -> Field {
    Field::new(name, data_type.clone(), name != TIME_COLUMN)
}

/// `batch` (read back from the write-ahead segment) with the schema
/// [`coerce_batch`] gives its columns: a record kept as it was received
/// carries its sender's nullability and metadata. A batch that cannot take
/// it (nulls where `time` allows none, which coercion never leaves) is
/// returned as it is.
pub fn coerced_schema(batch: &RecordBatch) -> RecordBatch {
    let fields: Vec<Field> = batch
        .schema()
        .fields()
        .iter()
        .map(|field| coerced_field(field.name(), field.data_type()))
        .collect();
    let schema = Arc::new(Schema::new(fields));
    RecordBatch::try_new(schema, batch.columns().to_vec()).unwrap_or_else(|_| batch.clone())
}

/// Casts one column to the open storage type of `column_type`, refusing
/// any cast that would change a value.
fn convert(
    table: &str,
    name: &str,
    column_type: ColumnType,
    column: &ArrayRef,
) -> Result<ArrayRef> {
    let target = column_type.open_type();
    if column.data_type() == &target {
        return Ok(column.clone());
    }
    let found = ColumnType::of_arrow(column.data_type());
    let compatible = match (column_type, found) {
        (wanted, Some(got)) if wanted == got => true,
        (ColumnType::Float, Some(ColumnType::Integer)) => {
            let as_integers = strict_cast(column, &DataType::Int64)
                .map_err(|_| conflict(table, name, column_type, column, "integer out of range"))?;
            if !integers_fit_float(&as_integers) {
                return Err(conflict(
                    table,
                    name,
                    column_type,
                    column,
                    "an integer beyond 2^53 would change as a float",
                ));
            }
            true
        }
        _ => false,
    };
    if !compatible {
        return Err(conflict(
            table,
            name,
            column_type,
            column,
            "no value-preserving conversion",
        ));
    }
    strict_cast(column, &target).map_err(|error| {
        conflict(
            table,
            name,
            column_type,
            column,
            &format!("conversion failed: {error}"),
        )
    })
}

fn strict_cast(column: &ArrayRef, target: &DataType) -> Result<ArrayRef, arrow::error::ArrowError> {
    let options = CastOptions {
        safe: false,
        ..Default::default()
    };
    cast_with_options(column, target, &options)
}

fn integers_fit_float(values: &ArrayRef) -> bool {
    let Some(values) = values.as_any().downcast_ref::<Int64Array>() else {
        return false;
    };
    values
        .iter()
        .flatten()
        .all(|v| v.unsigned_abs() <= MAX_EXACT_FLOAT_INTEGER as u64)
}

fn fill_null_times(times: &ArrayRef, now_micros: i64) -> Result<ArrayRef> {
    if times.null_count() == 0 {
        return Ok(times.clone());
    }
    let filled: TimestampMicrosecondArray = times
        .as_primitive::<TimestampMicrosecondType>()
        .iter()
        .map(|time| Some(time.unwrap_or(now_micros)))
        .collect();
    Ok(Arc::new(filled.with_timezone("UTC")))
}

fn conflict(
    table: &str,
    column: &str,
    table_type: ColumnType,
    batch_column: &ArrayRef,
    reason: &str,
) -> LeafError {
    LeafError::ColumnTypeConflict {
        table: table.to_string(),
        column: column.to_string(),
        table_type: table_type.name().to_string(),
        batch_type: batch_column.data_type().clone(),
        reason: reason.to_string(),
    }
}
