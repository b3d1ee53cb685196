//! Rows that came as `serde_json` maps (OTLP records, a JSON array body,
//! the dashboards' rows) to one Arrow batch with the table's column types,
//! by the same rules and builders as NDJSON lines ([`ColumnSet`]): one bad
//! value rejects its own row with a reason, never the batch.

use std::borrow::Cow;

use arrow::array::RecordBatch;

use crate::fleet::TableView;
use shoal_contract::column_type::ColumnType;

use crate::ingest::column_set::{ColumnSet, Fields};
use crate::ingest::decode_lines::{Chunk, Decoded, start_columns};
use crate::ingest::json_rows::{JsonRow, RowError};
use crate::ingest::merge::merge_chunks;
use crate::ingest::parallel::{run_parts, slices};
use crate::ingest::scalar::Scalar;

pub use crate::ingest::column_set::MAX_COLUMNS;

/// Rows that made it into the batch, and those that did not.
#[derive(Debug, Default)]
pub struct Converted {
    pub batch: Option<RecordBatch>,
    pub errors: Vec<RowError>,
}

/// Converts `rows` for a table the fleet knows as `known` (if at all).
pub fn rows_to_batch(known: Option<&TableView>, rows: &[JsonRow]) -> Result<Converted, String> {
    let decoded = rows_to_decoded(known, rows.iter())?;
    Ok(Converted {
        batch: decoded.batch,
        errors: decoded.errors,
    })
}

/// Rows below which one core converts them all.
const MIN_PART_ROWS: usize = 8_192;

/// Converts `rows`, keeping the line of each row stored; many rows on all
/// cores, merged as one core would have converted them ([`merge_chunks`]).
pub fn rows_to_decoded<'a>(
    known: Option<&TableView>,
    rows: impl Iterator<Item = &'a JsonRow>,
) -> Result<Decoded, String> {
    let rows: Vec<&JsonRow> = rows.collect();
    let start = start_columns(known);
    let parts = slices(&rows, MIN_PART_ROWS);
    let chunks = run_parts(parts.clone(), |part| rows_chunk(part, start.clone()))?;
    let redo = |part: usize, columns| rows_chunk(parts[part], columns);
    match merge_chunks(chunks, &start, redo)? {
        Some(decoded) => Ok(decoded),
        // Too many columns between the parts: one core, in order.
        None => merge_chunks(vec![rows_chunk(&rows, start.clone())], &start, redo)?
            .ok_or_else(|| "a single chunk always merges".to_string()),
    }
}

/// Converts `rows` in order into columns that start as `columns`.
fn rows_chunk(rows: &[&JsonRow], columns: Vec<(String, ColumnType, bool)>) -> Chunk {
    let mut chunk = Chunk {
        set: ColumnSet::new(columns),
        lines: Vec::with_capacity(rows.len()),
        errors: Vec::new(),
        saw_json: true,
        shaped: 0,
    };
    let mut fields: Fields = Vec::new();
    for row in rows {
        fields.clear();
        fields.extend(
            row.fields
                .iter()
                .map(|(name, value)| (Cow::Borrowed(name.as_str()), Scalar::from_value(value))),
        );
        match chunk.set.push_row(&fields) {
            Ok(()) => chunk.lines.push(row.line),
            Err(reason) => chunk.errors.push(RowError {
                line: row.line,
                reason,
            }),
        }
    }
    chunk
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ingest::json_rows::parse_body;
    use serde_json::Value;

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

    #[test]
    fn objects_left_in_a_row_are_refused_with_their_kind() {
        let mut fields = serde_json::Map::new();
        fields.insert("o".to_string(), serde_json::json!({"x": 1}));
        fields.insert("n".to_string(), Value::from(1));
        let rows = vec![JsonRow { line: 4, fields }];
        let converted = rows_to_batch(None, &rows).unwrap();
        assert_eq!(converted.errors[0].line, 4);
        assert!(
            converted.errors[0]
                .reason
                .contains("cannot store an object")
        );
    }
}
