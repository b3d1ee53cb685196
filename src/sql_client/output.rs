//! How an answer is printed: an aligned table for people, CSV, a JSON array
//! or newline-delimited JSON for programs.
//!
//! Only the rows go to standard output in the machine-readable formats; the
//! summary line (rows, time, completeness) goes to standard error there, so
//! `shoal sql --format csv ... > out.csv` holds nothing but CSV. Under a
//! table it follows the table on standard output.

use std::io::Write;
use std::sync::Arc;

use arrow::array::{ArrayRef, RecordBatch, StringBuilder};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use arrow::util::display::{ArrayFormatter, FormatOptions};

use super::connection::Answer;
use super::error::SqlClientError;
use super::summary::summary_line;

/// `--format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum OutputFormat {
    /// An aligned table, then the summary line.
    Table,
    /// CSV with a header line.
    Csv,
    /// One JSON array of objects (nulls written out).
    Json,
    /// One JSON object per line.
    Ndjson,
}

impl OutputFormat {
    /// Whether the summary line follows the rows on standard output
    /// (`table`) rather than going to standard error.
    fn summary_on_stdout(self) -> bool {
        self == Self::Table
    }
}

/// Prints `answer` in `format`: the rows to `out`, the summary line to
/// `out` (table) or `err` (the others).
pub fn print_answer(
    answer: &Answer,
    format: OutputFormat,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<(), SqlClientError> {
    write_rows(&answer.schema, &answer.batches, format, out)?;
    let summary = summary_line(
        answer.row_count(),
        answer.elapsed,
        answer.completeness.as_ref(),
    );
    let sink: &mut dyn Write = if format.summary_on_stdout() { out } else { err };
    writeln!(sink, "{summary}").map_err(output_error)?;
    out_flush(sink)
}

/// Writes `batches` (of `schema`) to `out` in `format`, with no summary.
pub fn write_rows(
    schema: &SchemaRef,
    batches: &[RecordBatch],
    format: OutputFormat,
    out: &mut dyn Write,
) -> Result<(), SqlClientError> {
    match format {
        OutputFormat::Table => {
            if schema.fields().is_empty() {
                return Ok(());
            }
            let table =
                arrow::util::pretty::pretty_format_batches_with_schema(schema.clone(), batches)
                    .map_err(|e| SqlClientError::Output(e.to_string()))?;
            writeln!(out, "{table}").map_err(output_error)?;
        }
        OutputFormat::Csv => {
            let mut writer = arrow::csv::WriterBuilder::new()
                .with_header(true)
                .build(&mut *out);
            // An empty answer still has its header line.
            let empty = [RecordBatch::new_empty(schema.clone())];
            let batches = if batches.is_empty() { &empty } else { batches };
            for batch in batches {
                writer
                    .write(&flatten_nested(batch)?)
                    .map_err(|e| SqlClientError::Output(e.to_string()))?;
            }
        }
        OutputFormat::Json => {
            write_json::<arrow::json::writer::JsonArray>(batches, &mut *out)?;
            writeln!(out).map_err(output_error)?;
        }
        OutputFormat::Ndjson => {
            write_json::<arrow::json::writer::LineDelimited>(batches, &mut *out)?;
        }
    }
    out_flush(out)
}

/// CSV has no nested values: a string set is written as its display text
/// (`[a, b]`), as the table shows it.
fn flatten_nested(batch: &RecordBatch) -> Result<RecordBatch, SqlClientError> {
    if !batch
        .schema()
        .fields()
        .iter()
        .any(|f| f.data_type().is_nested())
    {
        return Ok(batch.clone());
    }
    let options = FormatOptions::default();
    let mut fields = Vec::with_capacity(batch.num_columns());
    let mut columns: Vec<ArrayRef> = Vec::with_capacity(batch.num_columns());
    for (field, column) in batch.schema().fields().iter().zip(batch.columns()) {
        if !field.data_type().is_nested() {
            fields.push(field.clone());
            columns.push(column.clone());
            continue;
        }
        let formatter = ArrayFormatter::try_new(column.as_ref(), &options)
            .map_err(|e| SqlClientError::Output(e.to_string()))?;
        let mut text = StringBuilder::with_capacity(column.len(), column.len() * 8);
        for row in 0..column.len() {
            if column.is_null(row) {
                text.append_null();
            } else {
                text.append_value(formatter.value(row).to_string());
            }
        }
        fields.push(Arc::new(Field::new(field.name(), DataType::Utf8, true)));
        columns.push(Arc::new(text.finish()));
    }
    RecordBatch::try_new(Arc::new(Schema::new(fields)), columns)
        .map_err(|e| SqlClientError::Output(e.to_string()))
}

/// `batches` as JSON of `F`'s shape (one array, or a line per row), nulls
/// written out.
fn write_json<F: arrow::json::writer::JsonFormat>(
    batches: &[RecordBatch],
    out: &mut dyn Write,
) -> Result<(), SqlClientError> {
    let mut writer = arrow::json::WriterBuilder::new()
        .with_explicit_nulls(true)
        .build::<_, F>(out);
    for batch in batches {
        writer
            .write(batch)
            .map_err(|e| SqlClientError::Output(e.to_string()))?;
    }
    writer
        .finish()
        .map_err(|e| SqlClientError::Output(e.to_string()))
}

fn out_flush(out: &mut dyn Write) -> Result<(), SqlClientError> {
    out.flush().map_err(output_error)
}

fn output_error(error: std::io::Error) -> SqlClientError {
    SqlClientError::Output(error.to_string())
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use arrow::array::{Int64Array, ListBuilder, StringArray};

    use super::*;

    fn answer() -> Answer {
        let mut tags = ListBuilder::new(StringBuilder::new());
        tags.values().append_value("a");
        tags.values().append_value("b");
        tags.append(true);
        tags.append(false);
        let batch = RecordBatch::try_from_iter([
            (
                "service",
                Arc::new(StringArray::from(vec![Some("api"), None])) as ArrayRef,
            ),
            ("n", Arc::new(Int64Array::from(vec![3, 4])) as ArrayRef),
            ("tags", Arc::new(tags.finish()) as ArrayRef),
        ])
        .unwrap();
        Answer {
            schema: batch.schema(),
            batches: vec![batch],
            completeness: None,
            elapsed: Duration::from_millis(7),
        }
    }

    fn printed(format: OutputFormat) -> (String, String) {
        let (mut out, mut err) = (Vec::new(), Vec::new());
        print_answer(&answer(), format, &mut out, &mut err).unwrap();
        (
            String::from_utf8(out).unwrap(),
            String::from_utf8(err).unwrap(),
        )
    }

    #[test]
    fn each_format_prints_rows_and_puts_the_summary_in_its_place() {
        let (out, err) = printed(OutputFormat::Table);
        assert!(out.contains("| service | n | tags   |"), "{out}");
        assert!(out.ends_with("2 rows in 7 ms\n"), "{out}");
        assert!(err.is_empty());

        let (out, err) = printed(OutputFormat::Csv);
        assert_eq!(out, "service,n,tags\napi,3,\"[a, b]\"\n,4,\n");
        assert_eq!(err, "2 rows in 7 ms\n");

        let (out, _) = printed(OutputFormat::Json);
        let rows: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(
            rows,
            serde_json::json!([
                {"service": "api", "n": 3, "tags": ["a", "b"]},
                {"service": null, "n": 4, "tags": null}
            ])
        );

        let (out, _) = printed(OutputFormat::Ndjson);
        assert_eq!(out.lines().count(), 2, "{out}");
        assert_eq!(
            serde_json::from_str::<serde_json::Value>(out.lines().next().unwrap()).unwrap()["n"],
            3
        );
    }

    #[test]
    fn an_empty_answer_keeps_its_header() {
        let schema = Arc::new(Schema::new(vec![Field::new("n", DataType::Int64, true)]));
        let mut out = Vec::new();
        write_rows(&schema, &[], OutputFormat::Csv, &mut out).unwrap();
        assert_eq!(String::from_utf8(out).unwrap(), "n\n");
        let mut out = Vec::new();
        write_rows(&schema, &[], OutputFormat::Json, &mut out).unwrap();
        assert_eq!(String::from_utf8(out).unwrap(), "[]\n");
    }
}
