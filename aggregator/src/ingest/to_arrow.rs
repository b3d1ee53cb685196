//! JSON rows to one Arrow batch with the table's column types.
//!
//! Columns the fleet already has keep their type; a new column takes the
//! type of its first non-null value (integers and floats together make a
//! float). Every row is checked before decoding, so one bad value rejects
//! its own row with a reason, never the batch. The checked rows are decoded
//! by arrow-json.

use std::collections::HashMap;

use std::sync::Arc;

use arrow::array::RecordBatch;
use arrow::datatypes::{Field, Schema};
use arrow::json::ReaderBuilder;
use serde_json::{Map, Value};
use shoal_contract::column_type::{ColumnType, MAX_COLUMN_NAME_BYTES, TIME_COLUMN};

use crate::fleet::TableView;
use crate::ingest::json_rows::{JsonRow, RowError, json_kind, time_micros};

/// Columns a table may have; rows that would add more are rejected.
pub const MAX_COLUMNS: usize = 1_000;

/// Rows that made it into the batch, and those that did not.
#[derive(Debug, Default)]
pub struct Converted {
    pub batch: Option<RecordBatch>,
    pub errors: Vec<RowError>,
}

/// A column as this request sees it.
#[derive(Debug, Clone, Copy)]
struct Column {
    column_type: ColumnType,
    /// Introduced by this request (its type may still widen to float).
    new: bool,
    /// Some row of this request has a non-null value in it.
    present: bool,
}

type Columns = HashMap<String, Column, foldhash::fast::RandomState>;

/// Converts `rows` for a table the fleet knows as `known` (if at all).
pub fn rows_to_batch(known: Option<&TableView>, rows: &[JsonRow]) -> Result<Converted, String> {
    let mut columns = Columns::default();
    let mut order: Vec<String> = vec![TIME_COLUMN.to_string()];
    let known_column = |column_type| Column {
        column_type,
        new: false,
        present: false,
    };
    columns.insert(TIME_COLUMN.to_string(), known_column(ColumnType::Timestamp));
    for (name, column_type) in known
        .map(|view| view.columns.as_slice())
        .unwrap_or_default()
    {
        if columns
            .insert(name.clone(), known_column(*column_type))
            .is_none()
        {
            order.push(name.clone());
        }
    }
    let mut errors = Vec::new();
    let mut accepted: Vec<&Map<String, Value>> = Vec::with_capacity(rows.len());
    for row in rows {
        match admit(&row.fields, &mut columns, &mut order) {
            Ok(()) => accepted.push(&row.fields),
            Err(reason) => errors.push(RowError {
                line: row.line,
                reason,
            }),
        }
    }
    if accepted.is_empty() {
        return Ok(Converted {
            batch: None,
            errors,
        });
    }
    let fields: Vec<Field> = order
        .iter()
        .filter_map(|name| {
            let column = columns.get(name)?;
            column
                .present
                .then(|| Field::new(name.as_str(), column.column_type.open_type(), true))
        })
        .collect();
    let schema = Arc::new(Schema::new(fields));
    let mut decoder = ReaderBuilder::new(schema)
        .with_coerce_primitive(true)
        .with_batch_size(accepted.len().max(1))
        .build_decoder()
        .map_err(|e| format!("arrow-json: {e}"))?;
    decoder
        .serialize(&accepted)
        .map_err(|e| format!("arrow-json: {e}"))?;
    let batch = decoder.flush().map_err(|e| format!("arrow-json: {e}"))?;
    Ok(Converted { batch, errors })
}

/// Checks one row against the column types, learning its new columns only
/// when the whole row fits.
fn admit(
    row: &Map<String, Value>,
    columns: &mut Columns,
    order: &mut Vec<String>,
) -> Result<(), String> {
    let mut new_columns: Vec<(&String, ColumnType)> = Vec::new();
    let mut widened: Vec<&String> = Vec::new();
    for (name, value) in row {
        if value.is_null() {
            continue;
        }
        let Some(column) = columns.get_mut(name) else {
            check_new_column_name(name)?;
            let inferred = infer(value)
                .ok_or_else(|| format!("column {name:?}: cannot store {}", json_kind(value)))?;
            new_columns.push((name, inferred));
            continue;
        };
        // Marking a column of a row rejected later only adds a column of
        // nulls to the batch.
        column.present = true;
        // A column this request introduced as integer becomes float when a
        // float comes along; a column the fleet has keeps its type.
        if column.new && column.column_type == ColumnType::Integer && value.is_f64() {
            widened.push(name);
            continue;
        }
        check(name, column.column_type, value)?;
    }
    if columns.len() + new_columns.len() > MAX_COLUMNS {
        return Err(format!(
            "the row would give the table more than {MAX_COLUMNS} columns"
        ));
    }
    for name in widened {
        if let Some(column) = columns.get_mut(name) {
            column.column_type = ColumnType::Float;
        }
    }
    for (name, column_type) in new_columns {
        columns.insert(
            name.clone(),
            Column {
                column_type,
                new: true,
                present: true,
            },
        );
        order.push(name.clone());
    }
    Ok(())
}

/// A new column's name: not empty (`{"": 1}`), not over the length limit.
fn check_new_column_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("a field has an empty name".to_string());
    }
    if name.len() > MAX_COLUMN_NAME_BYTES {
        return Err(format!(
            "field name of {} bytes is over the {MAX_COLUMN_NAME_BYTES}-byte limit",
            name.len()
        ));
    }
    Ok(())
}

fn infer(value: &Value) -> Option<ColumnType> {
    Some(match value {
        Value::Bool(_) => ColumnType::Boolean,
        Value::Number(n) if n.is_i64() => ColumnType::Integer,
        Value::Number(_) => ColumnType::Float,
        Value::String(_) => ColumnType::String,
        Value::Array(_) => ColumnType::StringSet,
        Value::Null | Value::Object(_) => return None,
    })
}

fn check(name: &str, column_type: ColumnType, value: &Value) -> Result<(), String> {
    let fits = match column_type {
        ColumnType::Integer => value.is_i64(),
        ColumnType::Float => value.is_number(),
        ColumnType::Boolean => value.is_boolean(),
        ColumnType::String => value.is_string() || value.is_number() || value.is_boolean(),
        ColumnType::StringSet => value
            .as_array()
            .is_some_and(|a| a.iter().all(Value::is_string)),
        ColumnType::Timestamp => time_micros(value).is_ok(),
    };
    match fits {
        true => Ok(()),
        false => Err(format!(
            "column {name:?} is {column_type}, the value is {}",
            json_kind(value)
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ingest::json_rows::parse_body;

    #[test]
    fn a_value_of_the_wrong_type_rejects_only_its_row() {
        let body = b"{\"n\": 1, \"s\": \"a\"}\n{\"n\": \"two\"}\n{\"n\": 3, \"f\": 1}\n{\"f\": 2.5}\n{\"s\": 5}";
        let parsed = parse_body(body, None).unwrap();
        let known = TableView {
            columns: vec![("n".into(), ColumnType::Integer)],
            ..Default::default()
        };
        let converted = rows_to_batch(Some(&known), &parsed.rows).unwrap();
        assert_eq!(converted.errors.len(), 1);
        assert_eq!(converted.errors[0].line, 2);
        assert!(
            converted.errors[0]
                .reason
                .contains("\"n\" is integer, the value is a string")
        );
        let batch = converted.batch.unwrap();
        assert_eq!(batch.num_rows(), 4);
        let schema = batch.schema();
        assert_eq!(
            schema.field_with_name("f").unwrap().data_type(),
            &arrow::datatypes::DataType::Float64
        );
        assert_eq!(
            schema.field_with_name("s").unwrap().data_type(),
            &arrow::datatypes::DataType::Utf8
        );
    }

    #[test]
    fn a_key_that_is_null_in_every_row_is_left_out() {
        let parsed = parse_body(b"{\"a\": null, \"b\": 1}\n{\"b\": 2, \"a\": null}", None).unwrap();
        let converted = rows_to_batch(None, &parsed.rows).unwrap();
        assert!(converted.errors.is_empty());
        let batch = converted.batch.unwrap();
        assert_eq!(batch.num_rows(), 2);
        assert!(batch.schema().field_with_name("a").is_err());
    }
}
