//! OTLP log records to rows, with the generated types of the
//! `opentelemetry-proto` crate. The server writes records straight into
//! columns (`otlp_columns`) by the rules below and the helpers here; this
//! map form of them is the reference its tests and the fuzz target check
//! it against.
//!
//! Each log record is one row:
//!
//! | column            | from                                                  |
//! |-------------------|-------------------------------------------------------|
//! | `time`            | `time_unix_nano`, else `observed_time_unix_nano`, else arrival |
//! | `severity`        | `severity_text`, else the name of `severity_number`   |
//! | `severity_number` | `severity_number` (when set)                          |
//! | `body`            | a string body as it is; any other body as JSON text   |
//! | `trace_id`, `span_id` | lowercase hex (when set)                          |
//! | `event_name`      | `event_name` (when set)                               |
//! | `scope.name`, `scope.version` | the instrumentation scope (when set)      |
//! | any other         | resource attributes, then the record's attributes (which win), under their own dotted names (`service.name`, `http.method`); nested key-value lists flattened with dots; arrays of strings are string sets, other arrays JSON text; bytes lowercase hex |
//!
//! An attribute whose name is one of the columns above is stored as
//! `resource.NAME` or `attributes.NAME` instead, so it never overwrites them.
//!
//! The table is the one a caller names (the `x-shoal-table` header or
//! gRPC metadata), else the resource's `service.name` with characters a
//! table name cannot hold replaced by `_`, else `otel_logs`.

use std::collections::BTreeMap;

use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use opentelemetry_proto::tonic::logs::v1::LogRecord;
use serde_json::{Map, Value};
use shoal_contract::column_type::TIME_COLUMN;

use crate::ingest::json_rows::{JsonRow, RowError, flatten_into};

/// The table for records whose resource has no `service.name`.
pub const DEFAULT_TABLE: &str = "otel_logs";
/// The header (HTTP) or metadata key (gRPC) naming the table.
pub const TABLE_HEADER: &str = "x-shoal-table";

/// Whether `name` is a column every record may fill (its own: time,
/// severity, body, ids, event and scope); attributes of these names are
/// prefixed. A match rather than a list: every attribute of every record
/// is asked, and comparing with each name of the same length is a call.
#[inline]
pub(crate) fn is_record_column(name: &str) -> bool {
    matches!(
        name,
        TIME_COLUMN
            | "severity"
            | "severity_number"
            | "body"
            | "trace_id"
            | "span_id"
            | "event_name"
            | "scope.name"
            | "scope.version"
    )
}

/// A request's records as rows, by table. A row's `line` is the record's
/// position in the request, counting from 1.
#[derive(Debug, Default)]
pub struct OtlpRows {
    pub tables: BTreeMap<String, Vec<JsonRow>>,
    pub errors: Vec<RowError>,
    pub records: usize,
}

/// Turns `request` into rows; `table` (if given) takes every record.
pub fn rows_from_request(request: ExportLogsServiceRequest, table: Option<&str>) -> OtlpRows {
    let mut out = OtlpRows::default();
    for resource_logs in request.resource_logs {
        let resource = resource_logs
            .resource
            .map(|resource| resource.attributes)
            .unwrap_or_default();
        let table = match table {
            Some(table) => table.to_string(),
            None => table_for(&resource),
        };
        // The same for every record of the resource: flattened once.
        let mut resource_columns = Map::new();
        if let Err(reason) = add_attributes(&mut resource_columns, resource, "resource") {
            for scope_logs in resource_logs.scope_logs {
                for _ in scope_logs.log_records {
                    out.records += 1;
                    let line = out.records;
                    let reason = reason.clone();
                    out.errors.push(RowError { line, reason });
                }
            }
            continue;
        }
        for scope_logs in resource_logs.scope_logs {
            let scope = scope_logs.scope.unwrap_or_default();
            for record in scope_logs.log_records {
                out.records += 1;
                let line = out.records;
                match row_from_record(record, &resource_columns, &scope.name, &scope.version) {
                    Ok(fields) => out
                        .tables
                        .entry(table.clone())
                        .or_default()
                        .push(JsonRow { line, fields }),
                    Err(reason) => out.errors.push(RowError { line, reason }),
                }
            }
        }
    }
    out
}

/// The table named by the resource's `service.name`.
pub(crate) fn table_for(resource: &[KeyValue]) -> String {
    let service = resource
        .iter()
        .find(|kv| kv.key == "service.name")
        .and_then(|kv| kv.value.as_ref())
        .and_then(|value| match &value.value {
            Some(any_value::Value::StringValue(name)) => Some(name.as_str()),
            _ => None,
        })
        .unwrap_or("");
    let mut name: String = service
        .chars()
        .take(128)
        .map(
            |c| match c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.') {
                true => c,
                false => '_',
            },
        )
        .collect();
    if name.starts_with('.') {
        name.replace_range(0..1, "_");
    }
    match name.is_empty() {
        true => DEFAULT_TABLE.to_string(),
        false => name,
    }
}

fn row_from_record(
    record: LogRecord,
    resource: &Map<String, Value>,
    scope_name: &str,
    scope_version: &str,
) -> Result<Map<String, Value>, String> {
    let mut row = Map::new();
    let nanos = match record.time_unix_nano {
        0 => record.observed_time_unix_nano,
        nanos => nanos,
    };
    if nanos != 0 {
        let micros = i64::try_from(nanos / 1_000)
            .map_err(|_| format!("time_unix_nano {nanos} is out of range"))?;
        row.insert(TIME_COLUMN.to_string(), Value::from(micros));
    }
    let severity = match record.severity_text.is_empty() {
        true => severity_name(record.severity_number).to_string(),
        false => record.severity_text,
    };
    if !severity.is_empty() {
        row.insert("severity".to_string(), Value::from(severity));
    }
    if record.severity_number != 0 {
        row.insert(
            "severity_number".to_string(),
            Value::from(record.severity_number),
        );
    }
    if let Some(body) = record.body.and_then(|body| body.value) {
        let text = match body {
            any_value::Value::StringValue(text) => text,
            other => any_to_json(other).to_string(),
        };
        row.insert("body".to_string(), Value::from(text));
    }
    for (name, bytes) in [("trace_id", &record.trace_id), ("span_id", &record.span_id)] {
        if bytes.iter().any(|&b| b != 0) {
            row.insert(name.to_string(), Value::from(const_hex::encode(bytes)));
        }
    }
    for (name, text) in [
        ("event_name", record.event_name.as_str()),
        ("scope.name", scope_name),
        ("scope.version", scope_version),
    ] {
        if !text.is_empty() {
            row.insert(name.to_string(), Value::from(text));
        }
    }
    for (name, value) in resource {
        row.insert(name.clone(), value.clone());
    }
    add_attributes(&mut row, record.attributes, "attributes")?;
    Ok(row)
}

/// Flattens `attributes` into `out` (over what is there), renaming those
/// that would take a record column's name.
pub(crate) fn add_attributes(
    out: &mut Map<String, Value>,
    attributes: impl IntoIterator<Item = KeyValue>,
    prefix: &str,
) -> Result<(), String> {
    let mut nested = Map::new();
    for KeyValue { key, value, .. } in attributes {
        let value = value
            .and_then(|v| v.value)
            .map(any_to_json)
            .unwrap_or(Value::Null);
        match &value {
            Value::Object(_) | Value::Array(_) => {
                nested.insert(key, value);
            }
            _ => {
                out.insert(column_name(key, prefix), value);
            }
        }
    }
    if nested.is_empty() {
        return Ok(());
    }
    let mut flat = Map::new();
    flatten_into(&mut flat, String::new(), nested, 0)
        .map_err(|reason| format!("{prefix}: {reason}"))?;
    for (name, value) in flat {
        out.insert(column_name(name, prefix), value);
    }
    Ok(())
}

/// `name`, or `prefix.name` when a record column has that name.
pub(crate) fn column_name(name: String, prefix: &str) -> String {
    match is_record_column(&name) {
        true => format!("{prefix}.{name}"),
        false => name,
    }
}

/// An attribute or body value as JSON: key-value lists as objects.
pub(crate) fn any_to_json(value: any_value::Value) -> Value {
    match value {
        any_value::Value::StringValue(text) => Value::from(text),
        any_value::Value::BoolValue(flag) => Value::from(flag),
        any_value::Value::IntValue(number) => Value::from(number),
        any_value::Value::DoubleValue(number) => serde_json::Number::from_f64(number)
            .map(Value::Number)
            .unwrap_or_else(|| Value::from(number.to_string())),
        any_value::Value::BytesValue(bytes) => Value::from(const_hex::encode(&bytes)),
        any_value::Value::ArrayValue(array) => Value::Array(
            array
                .values
                .into_iter()
                .map(|AnyValue { value }| value.map(any_to_json).unwrap_or(Value::Null))
                .collect(),
        ),
        any_value::Value::KvlistValue(list) => Value::Object(
            list.values
                .into_iter()
                .map(|KeyValue { key, value, .. }| {
                    let value = value.and_then(|v| v.value).map(any_to_json);
                    (key, value.unwrap_or(Value::Null))
                })
                .collect(),
        ),
        // Only meaningful for profiles; a log record has no string table.
        any_value::Value::StringValueStrindex(_) => Value::Null,
    }
}

/// The short name of an OTLP severity number (1-24).
pub(crate) fn severity_name(number: i32) -> &'static str {
    match number {
        1..=4 => "TRACE",
        5..=8 => "DEBUG",
        9..=12 => "INFO",
        13..=16 => "WARN",
        17..=20 => "ERROR",
        21..=24 => "FATAL",
        _ => "",
    }
}

#[cfg(test)]
mod tests {
    use opentelemetry_proto::tonic::common::v1::{InstrumentationScope, KeyValueList};
    use opentelemetry_proto::tonic::logs::v1::{ResourceLogs, ScopeLogs};
    use opentelemetry_proto::tonic::resource::v1::Resource;

    use super::*;

    fn attribute(key: &str, value: any_value::Value) -> KeyValue {
        KeyValue {
            key: key.to_string(),
            value: Some(AnyValue { value: Some(value) }),
            ..Default::default()
        }
    }

    fn text(value: &str) -> any_value::Value {
        any_value::Value::StringValue(value.to_string())
    }

    #[test]
    fn record_columns_are_told_apart() {
        let columns = [
            TIME_COLUMN,
            "severity",
            "severity_number",
            "body",
            "trace_id",
            "span_id",
            "event_name",
            "scope.name",
            "scope.version",
        ];
        for name in columns {
            assert!(is_record_column(name), "{name}");
            assert!(!is_record_column(&format!("{name}x")), "{name}x");
            assert!(!is_record_column(&name[1..]), "{name}");
        }
        for name in ["", "host", "scope", "attributes.body", "Time"] {
            assert!(!is_record_column(name), "{name}");
        }
    }

    fn request(service: &str, records: Vec<LogRecord>) -> ExportLogsServiceRequest {
        ExportLogsServiceRequest {
            resource_logs: vec![ResourceLogs {
                resource: Some(Resource {
                    attributes: vec![
                        attribute("service.name", text(service)),
                        attribute("body", text("from the resource")),
                    ],
                    ..Default::default()
                }),
                scope_logs: vec![ScopeLogs {
                    scope: Some(InstrumentationScope {
                        name: "lib".into(),
                        ..Default::default()
                    }),
                    log_records: records,
                    ..Default::default()
                }],
                ..Default::default()
            }],
        }
    }

    #[test]
    fn a_record_becomes_a_row_with_its_attributes_flattened() {
        let record = LogRecord {
            time_unix_nano: 1_763_000_000_123_456_789,
            severity_number: 17,
            body: Some(AnyValue {
                value: Some(any_value::Value::KvlistValue(KeyValueList {
                    values: vec![attribute("k", any_value::Value::IntValue(1))],
                })),
            }),
            trace_id: vec![0xab; 16],
            span_id: vec![0; 8],
            attributes: vec![
                attribute("http.status_code", any_value::Value::IntValue(503)),
                attribute("time", text("shadowed")),
                attribute(
                    "peer",
                    any_value::Value::KvlistValue(KeyValueList {
                        values: vec![attribute("ip", text("10.0.0.1"))],
                    }),
                ),
            ],
            ..Default::default()
        };
        let rows = rows_from_request(request("checkout/api v2", vec![record]), None);
        assert!(rows.errors.is_empty());
        let (table, table_rows) = rows.tables.iter().next().unwrap();
        assert_eq!(table, "checkout_api_v2");
        let row = &table_rows[0].fields;
        assert_eq!(row["time"], Value::from(1_763_000_000_123_456i64));
        assert_eq!(row["severity"], Value::from("ERROR"));
        assert_eq!(row["severity_number"], Value::from(17));
        assert_eq!(row["body"], Value::from("{\"k\":1}"));
        assert_eq!(row["trace_id"], Value::from("ab".repeat(16)));
        assert!(!row.contains_key("span_id"), "all-zero ids are absent");
        assert_eq!(row["http.status_code"], Value::from(503));
        assert_eq!(row["peer.ip"], Value::from("10.0.0.1"));
        assert_eq!(row["attributes.time"], Value::from("shadowed"));
        assert_eq!(row["resource.body"], Value::from("from the resource"));
        assert_eq!(row["scope.name"], Value::from("lib"));
        assert_eq!(row["service.name"], Value::from("checkout/api v2"));
    }

    #[test]
    fn the_table_header_wins_and_untimed_records_take_the_observed_time() {
        let records = vec![
            LogRecord {
                observed_time_unix_nano: 2_000_000,
                ..Default::default()
            },
            LogRecord::default(),
        ];
        let rows = rows_from_request(request("svc", records), Some("audit"));
        let table_rows = &rows.tables["audit"];
        assert_eq!(rows.records, 2);
        assert_eq!(table_rows[0].fields["time"], Value::from(2_000));
        assert!(!table_rows[1].fields.contains_key("time"), "arrival time");
        assert_eq!(table_rows[1].line, 2);
        let unnamed = rows_from_request(request("", vec![LogRecord::default()]), None);
        assert!(unnamed.tables.contains_key(DEFAULT_TABLE));
    }
}
