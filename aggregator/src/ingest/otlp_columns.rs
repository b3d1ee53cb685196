//! OTLP log records straight to column builders, from the request read in
//! place ([`otlp_view`]): the same columns as [`otlp_rows`] describes (time,
//! severity, body, ids, scope, resource and record attributes), without a
//! `serde_json` map per record or a decoded struct per value. A resource's
//! attributes are flattened once; a record's nested attributes (key-value
//! lists, arrays that are not all strings) go through the same flattening
//! as the map form.
//!
//! [`otlp_rows`]: crate::ingest::otlp_rows
//! [`otlp_view`]: crate::ingest::otlp_view

use std::borrow::Cow;

use serde_json::{Map, Value};
use shoal_contract::column_type::{ColumnType, TIME_COLUMN};

use crate::fleet::TableView;
use crate::ingest::column_set::{ColumnSet, Fields};
use crate::ingest::decode_lines::{Chunk, Decoded, Resume, start_columns};
use crate::ingest::json_rows::RowError;
use crate::ingest::json_shape::worth_learning;
use crate::ingest::merge::merge_chunks;
use crate::ingest::otlp_attributes::{Nested, attribute_fields, value_json};
use crate::ingest::otlp_rows::{add_attributes, table_for};
use crate::ingest::otlp_shape::{OtlpShape, record_nanos, severity};
use crate::ingest::otlp_view::{AttributeView, RecordView, RequestView, ValueView, read_record};
use crate::ingest::parallel::{run_parts, slices};
use crate::ingest::scalar::Scalar;

/// Records below which one core converts them all.
const MIN_PART_RECORDS: usize = 8_192;

/// A resource's table, its flattened attributes (`None` when they cannot
/// be stored: its records are rejected), and its first record's number.
type ResourcePlan = (String, Option<Map<String, Value>>, usize);

/// Where a request's records go: each resource's table and flattened
/// attributes, records numbered from 1 in request order.
#[derive(Debug, Default)]
pub struct OtlpPlan {
    /// Per resource, in order.
    resources: Vec<ResourcePlan>,
    /// The tables that take records.
    pub tables: Vec<String>,
    /// Records rejected for their resource's attributes.
    pub errors: Vec<RowError>,
    pub records: usize,
}

/// Plans `request`; `table` (if given) takes every record.
pub fn plan(request: &RequestView, table: Option<&str>) -> OtlpPlan {
    let mut plan = OtlpPlan::default();
    for resource in &request.resources {
        let name = match table {
            Some(table) => table.to_string(),
            None => table_for(&resource.attributes),
        };
        let records: usize = resource
            .scopes
            .iter()
            .map(|scope| scope.records.len())
            .sum();
        let first = plan.records + 1;
        let mut columns = Map::new();
        let columns = match add_attributes(&mut columns, resource.attributes.clone(), "resource") {
            Ok(()) => {
                if records > 0 && !plan.tables.contains(&name) {
                    plan.tables.push(name.clone());
                }
                Some(columns)
            }
            Err(reason) => {
                plan.errors
                    .extend((first..first + records).map(|line| RowError {
                        line,
                        reason: reason.clone(),
                    }));
                None
            }
        };
        plan.resources.push((name, columns, first));
        plan.records += records;
    }
    plan
}

/// A record to convert: its number, its bytes, its resource's columns, its
/// scope's name and version.
pub(crate) type Item<'v, 'a> = (usize, &'a [u8], &'v Map<String, Value>, &'a str, &'a str);

/// Why a table's records were not converted.
#[derive(Debug, Clone, PartialEq)]
pub enum ConvertError {
    /// A record the view gave up on ([`read_record`]'s `Unread`): the body
    /// must be read by prost first (`otlp_read::reread`).
    Unread,
    Failed(String),
}

impl From<String> for ConvertError {
    fn from(reason: String) -> Self {
        Self::Failed(reason)
    }
}

/// Converts the records of `table` that `resume` wants: `request` read by
/// `RequestView::read_records` (or `read`) from the body `plan` was made of.
/// Every record wanted is read before anything is returned, so
/// [`ConvertError::Unread`] comes before any of them is stored.
pub fn convert_table(
    request: &RequestView,
    plan: &OtlpPlan,
    table: &str,
    known: Option<&TableView>,
    resume: &Resume,
) -> Result<Decoded, ConvertError> {
    convert_table_shaped(request, plan, table, known, resume, true)
}

/// [`convert_table`], records read by shape or not ([`convert_part`]).
pub(crate) fn convert_table_shaped(
    request: &RequestView,
    plan: &OtlpPlan,
    table: &str,
    known: Option<&TableView>,
    resume: &Resume,
    shapes: bool,
) -> Result<Decoded, ConvertError> {
    let mut items: Vec<Item> = Vec::new();
    for (resource, (name, columns, first)) in request.resources.iter().zip(&plan.resources) {
        let Some(columns) = columns.as_ref().filter(|_| name == table) else {
            continue;
        };
        let mut line = *first;
        for scope in &resource.scopes {
            for &record in &request.records[scope.records.clone()] {
                if resume.wants(line) {
                    items.push((line, record, columns, scope.name, scope.version));
                }
                line += 1;
            }
        }
    }
    let start = start_columns(known);
    let parts = slices(&items, MIN_PART_RECORDS);
    let converted = run_parts(parts.clone(), |part| {
        convert_part(part, start.clone(), shapes)
    })?;
    let mut chunks = Vec::with_capacity(converted.len());
    for (chunk, unread) in converted {
        if unread {
            return Err(ConvertError::Unread);
        }
        chunks.push(chunk);
    }
    // Records read once are read again the same way (so never given up
    // on now; were one, its part's records would be rejected, not lost).
    let again = |items: &[Item], columns: Vec<(String, ColumnType, bool)>| match convert_part(
        items,
        columns.clone(),
        shapes,
    ) {
        (chunk, false) => chunk,
        (_, true) => unread_chunk(items, columns),
    };
    let redo = |part: usize, columns| again(parts[part], columns);
    let merged = match merge_chunks(chunks, &start, redo)? {
        Some(decoded) => decoded,
        None => merge_chunks(vec![again(&items, start.clone())], &start, redo)?
            .ok_or_else(|| "a single chunk always merges".to_string())?,
    };
    Ok(merged)
}

/// `items` each rejected as not read in place.
fn unread_chunk(items: &[Item], columns: Vec<(String, ColumnType, bool)>) -> Chunk {
    let errors = items.iter().map(|item| RowError {
        line: item.0,
        reason: "the record was not read in place".to_string(),
    });
    Chunk {
        set: ColumnSet::new(columns),
        lines: Vec::new(),
        errors: errors.collect(),
        saw_json: true,
        shaped: 0,
    }
}

/// The part's records as a chunk, and whether the view gave up on one of
/// them (the chunk is then cut short there). With `shapes`, records shaped
/// like one converted before go straight to their columns ([`otlp_shape`]);
/// off only to check that they convert as the general way does.
///
/// [`otlp_shape`]: crate::ingest::otlp_shape
pub(crate) fn convert_part(
    items: &[Item],
    columns: Vec<(String, ColumnType, bool)>,
    shapes: bool,
) -> (Chunk, bool) {
    // Builders sized as for NDJSON lines of the records' sizes: growing
    // them row by row copied their strings and faulted in fresh pages.
    let bytes = items.iter().map(|item| item.1.len()).sum();
    let mut chunk = Chunk {
        set: ColumnSet::with_capacity(columns, items.len(), bytes),
        lines: Vec::with_capacity(items.len()),
        errors: Vec::new(),
        saw_json: true,
        shaped: 0,
    };
    let mut fields: Fields = Vec::new();
    let mut attributes = Vec::new();
    let mut nested = Nested::new();
    let mut shape: Option<OtlpShape> = None;
    let mut staged = Vec::new();
    let mut missed = 0;
    for &(line, record, resource, scope_name, scope_version) in items {
        fields.clear();
        attributes.clear();
        let Ok(record) = read_record(record, &mut attributes) else {
            // The part is thrown away: the export is read by way of prost.
            return (chunk, true);
        };
        let context = (resource, scope_name, scope_version);
        if let Some(shape) = &shape
            && shape.stage(&record, &attributes, context, &mut staged)
        {
            match chunk.set.push_staged(&staged) {
                Ok(true) => {
                    chunk.shaped += 1;
                    missed = 0;
                    chunk.lines.push(line);
                    continue;
                }
                Ok(false) => {}
                Err(reason) => {
                    chunk.errors.push(RowError { line, reason });
                    continue;
                }
            }
        }
        missed += 1;
        let scope = (scope_name, scope_version);
        let outcome = record_fields(
            &record,
            &attributes,
            resource,
            scope,
            &mut fields,
            &mut nested,
        )
        .and_then(|()| chunk.set.push_row(&fields));
        match outcome {
            Ok(()) => {
                chunk.lines.push(line);
                if shapes && worth_learning(missed) {
                    let learned =
                        OtlpShape::learn(&record, &attributes, context, &fields, &chunk.set);
                    shape = learned.or(shape);
                }
            }
            Err(reason) => chunk.errors.push(RowError { line, reason }),
        }
    }
    (chunk, false)
}

/// A record's fields, in the order the row map took them (a later one of
/// a name wins): the record's own columns, the resource's, then the
/// record's attributes, nested ones last.
fn record_fields<'a>(
    record: &RecordView<'a>,
    attributes: &[AttributeView<'a>],
    resource: &'a Map<String, Value>,
    (scope_name, scope_version): (&'a str, &'a str),
    fields: &mut Fields<'a>,
    nested: &mut Nested<'a>,
) -> Result<(), String> {
    let nanos = record_nanos(record);
    if nanos != 0 {
        let micros = i64::try_from(nanos / 1_000)
            .map_err(|_| format!("time_unix_nano {nanos} is out of range"))?;
        fields.push((Cow::Borrowed(TIME_COLUMN), Scalar::Int(micros)));
    }
    let severity = severity(record);
    if !severity.is_empty() {
        fields.push((
            Cow::Borrowed("severity"),
            Scalar::Str(Cow::Borrowed(severity)),
        ));
    }
    if record.severity_number != 0 {
        let number = Scalar::Int(i64::from(record.severity_number));
        fields.push((Cow::Borrowed("severity_number"), number));
    }
    if let Some(body) = record.body {
        let text = match body {
            ValueView::Str(text) => Cow::Borrowed(text),
            other => Cow::Owned(value_json(other)?.to_string()),
        };
        fields.push((Cow::Borrowed("body"), Scalar::Str(text)));
    }
    for (name, bytes) in [("trace_id", record.trace_id), ("span_id", record.span_id)] {
        if bytes.iter().any(|&b| b != 0) {
            let hex = Cow::Owned(const_hex::encode(bytes));
            fields.push((Cow::Borrowed(name), Scalar::Str(hex)));
        }
    }
    for (name, text) in [
        ("event_name", record.event_name),
        ("scope.name", scope_name),
        ("scope.version", scope_version),
    ] {
        if !text.is_empty() {
            fields.push((Cow::Borrowed(name), Scalar::Str(Cow::Borrowed(text))));
        }
    }
    for (name, value) in resource {
        fields.push((Cow::Borrowed(name.as_str()), Scalar::from_value(value)));
    }
    attribute_fields(attributes, fields, nested)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ingest::otlp_rows::rows_from_request;
    use crate::ingest::to_arrow::rows_to_batch;
    use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
    use opentelemetry_proto::tonic::common::v1::any_value;
    use opentelemetry_proto::tonic::common::v1::{
        AnyValue, ArrayValue, InstrumentationScope, KeyValue, KeyValueList,
    };
    use opentelemetry_proto::tonic::logs::v1::LogRecord;
    use opentelemetry_proto::tonic::logs::v1::{ResourceLogs, ScopeLogs};
    use opentelemetry_proto::tonic::resource::v1::Resource;

    fn kv(key: &str, value: any_value::Value) -> KeyValue {
        KeyValue {
            key: key.to_string(),
            value: Some(AnyValue { value: Some(value) }),
            ..Default::default()
        }
    }

    fn text(value: &str) -> any_value::Value {
        any_value::Value::StringValue(value.to_string())
    }

    fn array(values: Vec<any_value::Value>) -> any_value::Value {
        let values = values.into_iter().map(|v| AnyValue { value: Some(v) });
        any_value::Value::ArrayValue(ArrayValue {
            values: values.collect(),
        })
    }

    /// Records of every shape, the same rows as the map path gives.
    #[test]
    fn records_become_the_rows_the_map_path_gives() {
        let record = |i: u64| LogRecord {
            time_unix_nano: 1_763_000_000_000_000_000 + i,
            severity_number: (i % 24) as i32,
            severity_text: if i.is_multiple_of(2) {
                String::new()
            } else {
                "warn".into()
            },
            body: Some(AnyValue {
                value: Some(match i % 3 {
                    0 => text("hello"),
                    _ => array(vec![text("a"), any_value::Value::IntValue(1)]),
                }),
            }),
            trace_id: vec![i as u8; 16],
            attributes: vec![
                kv("n", any_value::Value::IntValue(i as i64)),
                kv(
                    "x",
                    match i {
                        5 => any_value::Value::DoubleValue(f64::NAN),
                        9 => text("conflict"),
                        _ => any_value::Value::DoubleValue(0.5),
                    },
                ),
                kv("raw", any_value::Value::BytesValue(vec![1, 2])),
                kv("severity", text("shadowed")),
                kv("service.name", text("mine")),
                kv("tags", array(vec![text("a"), text("b")])),
                kv(
                    "mixed",
                    array(vec![text("a"), any_value::Value::BoolValue(true)]),
                ),
                kv(
                    "http",
                    any_value::Value::KvlistValue(KeyValueList {
                        values: match i {
                            7 => vec![kv("method", text("GET")), kv("", text("x"))],
                            _ => vec![kv("method", text("GET"))],
                        },
                    }),
                ),
                kv("n", any_value::Value::IntValue(-1)),
            ],
            ..Default::default()
        };
        let request = ExportLogsServiceRequest {
            resource_logs: vec![ResourceLogs {
                resource: Some(Resource {
                    attributes: vec![kv("service.name", text("svc")), kv("n", text("r"))],
                    ..Default::default()
                }),
                scope_logs: vec![ScopeLogs {
                    scope: Some(InstrumentationScope {
                        name: "lib".into(),
                        ..Default::default()
                    }),
                    log_records: (0..12).map(record).collect(),
                    ..Default::default()
                }],
                ..Default::default()
            }],
        };
        let rows = rows_from_request(request.clone(), None);
        let by_maps = rows_to_batch(None, &rows.tables["svc"]).unwrap();
        let body = prost::Message::encode_to_vec(&request);
        let view = RequestView::read(&body).unwrap();
        let plan = plan(&view, None);
        assert_eq!(plan.tables, vec!["svc".to_string()]);
        let direct = convert_table(&view, &plan, "svc", None, &Resume::default()).unwrap();
        assert_eq!(direct.batch, by_maps.batch);
        let mut errors = rows.errors.clone();
        errors.extend(by_maps.errors);
        errors.sort_by_key(|e| e.line);
        assert_eq!(direct.errors, errors);
        assert_eq!(errors.len(), 3, "{errors:?}");
    }
}
