//! Reading a request body into JSON rows as `serde_json` maps: a JSON array
//! body (NDJSON bodies are decoded straight into columns by `ndjson`; this
//! reading of NDJSON remains for the fuzz targets and tests), and the
//! flattening and time rules OTLP records share. Each row keeps its line
//! number (its position, for an array), so errors can name it.
//!
//! Nested objects become dotted column names (`{"user": {"id": 7}}` gives
//! `user.id`); arrays of strings are string sets; any other array is kept as
//! its JSON text. The row's time comes from the first of `time`,
//! `timestamp`, `@timestamp`, `date`, `ts` present (or the field the caller
//! names): an RFC 3339 string, or epoch seconds, milliseconds, microseconds
//! or nanoseconds told apart by magnitude. It is stored, in microseconds, as
//! `time`; a differently named source field is moved there.

use serde_json::{Map, Value};

/// Fields that give a row its time, in order of preference.
pub const TIME_FIELDS: [&str; 5] = ["time", "timestamp", "@timestamp", "date", "ts"];
/// Lines longer than this are rejected (the rest of the body is still read).
pub const MAX_LINE_BYTES: usize = 1024 * 1024;
/// The earliest time a row may carry: 0001-01-01T00:00:00Z, in microseconds.
pub const MIN_TIME_MICROS: i64 = -62_135_596_800_000_000;
/// The latest: 9999-12-31T23:59:59Z, in microseconds.
pub const MAX_TIME_MICROS: i64 = 253_402_300_799_000_000;
/// Nesting deeper than this is rejected (serde_json's own limit is 128).
pub const MAX_DEPTH: usize = 64;

/// One row and where it came from.
#[derive(Debug, Clone)]
pub struct JsonRow {
    pub line: usize,
    pub fields: Map<String, Value>,
}

/// A row that could not be taken, and why.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct RowError {
    pub line: usize,
    pub reason: String,
}

/// What a body held.
#[derive(Debug, Default)]
pub struct ParsedBody {
    pub rows: Vec<JsonRow>,
    pub errors: Vec<RowError>,
}

/// Splits and parses `body`. `Err` means the body is not JSON at all (no
/// line parsed): the caller answers 422.
pub fn parse_body(body: &[u8], time_field: Option<&str>) -> Result<ParsedBody, String> {
    let trimmed = body.trim_ascii_start();
    let mut parsed = ParsedBody::default();
    if trimmed.starts_with(b"[") {
        let values: Vec<Value> = serde_json::from_slice(trimmed)
            .map_err(|e| format!("the body starts like a JSON array but is not one: {e}"))?;
        for (index, value) in values.into_iter().enumerate() {
            push_value(&mut parsed, index + 1, value, time_field);
        }
        return Ok(parsed);
    }
    let mut saw_json = false;
    for (index, line) in body.split(|&b| b == b'\n').enumerate() {
        let number = index + 1;
        let line = line.trim_ascii();
        if line.is_empty() {
            continue;
        }
        if line.len() > MAX_LINE_BYTES {
            parsed.errors.push(RowError {
                line: number,
                reason: format!(
                    "the line is {} bytes, over the {MAX_LINE_BYTES}-byte limit",
                    line.len()
                ),
            });
            continue;
        }
        let text = match std::str::from_utf8(line) {
            Ok(text) => text,
            Err(error) => {
                parsed.errors.push(RowError {
                    line: number,
                    reason: format!(
                        "invalid UTF-8 at byte {} of the line",
                        error.valid_up_to() + 1
                    ),
                });
                continue;
            }
        };
        match serde_json::from_str::<Value>(text) {
            Ok(value) => {
                saw_json = true;
                push_value(&mut parsed, number, value, time_field);
            }
            Err(error) => parsed.errors.push(RowError {
                line: number,
                reason: format!("not JSON: {error}"),
            }),
        }
    }
    if !saw_json && !parsed.errors.is_empty() {
        return Err(format!(
            "the body is not JSON: line {}: {}",
            parsed.errors[0].line, parsed.errors[0].reason
        ));
    }
    Ok(parsed)
}

fn push_value(parsed: &mut ParsedBody, line: usize, value: Value, time_field: Option<&str>) {
    let outcome = match value {
        Value::Object(object) => row_from_object(object, time_field),
        other => Err(format!(
            "expected a JSON object, found {}",
            json_kind(&other)
        )),
    };
    match outcome {
        Ok(fields) => parsed.rows.push(JsonRow { line, fields }),
        Err(reason) => parsed.errors.push(RowError { line, reason }),
    }
}

/// Flattens `object` and moves its time to `time` (microseconds).
pub fn row_from_object(
    object: Map<String, Value>,
    time_field: Option<&str>,
) -> Result<Map<String, Value>, String> {
    // Most rows are flat already; rebuilding their map would be wasted work.
    let flat = object.values().all(|value| match value {
        Value::Object(_) => false,
        Value::Array(items) => items.iter().all(Value::is_string),
        _ => true,
    });
    if object.contains_key("") {
        return Err("a field has an empty name".to_string());
    }
    let mut fields = match flat {
        true => object,
        false => {
            let mut fields = Map::new();
            flatten_into(&mut fields, String::new(), object, 0)?;
            fields
        }
    };
    let source = match time_field {
        Some(name) => fields.contains_key(name).then(|| name.to_string()),
        None => TIME_FIELDS
            .iter()
            .find(|f| fields.contains_key(**f))
            .map(|f| f.to_string()),
    };
    if let Some(source) = source {
        let value = fields.remove(&source).unwrap_or(Value::Null);
        if !value.is_null() {
            let micros =
                time_micros(&value).map_err(|reason| format!("field {source:?}: {reason}"))?;
            fields.insert("time".to_string(), Value::from(micros));
        }
    }
    Ok(fields)
}

/// Copies `object` into `out`, nested objects under dotted names, arrays of
/// strings as string sets, other arrays as JSON text.
pub fn flatten_into(
    out: &mut Map<String, Value>,
    prefix: String,
    object: Map<String, Value>,
    depth: usize,
) -> Result<(), String> {
    if depth > MAX_DEPTH {
        return Err(format!("objects nested more than {MAX_DEPTH} deep"));
    }
    for (key, value) in object {
        if key.is_empty() {
            return Err(match prefix.is_empty() {
                true => "a field has an empty name".to_string(),
                false => format!("a field inside {prefix:?} has an empty name"),
            });
        }
        let name = if prefix.is_empty() {
            key
        } else {
            format!("{prefix}.{key}")
        };
        match value {
            Value::Object(inner) => flatten_into(out, name, inner, depth + 1)?,
            Value::Array(items) if items.iter().all(Value::is_string) => {
                out.insert(name, Value::Array(items));
            }
            Value::Array(items) => {
                out.insert(name, Value::String(Value::Array(items).to_string()));
            }
            scalar => {
                out.insert(name, scalar);
            }
        }
    }
    Ok(())
}

/// A time value in microseconds since the epoch.
pub fn time_micros(value: &Value) -> Result<i64, String> {
    match value {
        Value::String(text) => time_from_text(text),
        Value::Number(number) => match number.as_f64() {
            Some(epoch) => time_from_number(epoch, number),
            None => Err(format!("{number} is not a time")),
        },
        other => Err(format!("expected a time, found {}", json_kind(other))),
    }
}

/// An RFC 3339 time in microseconds since the epoch.
pub fn time_from_text(text: &str) -> Result<i64, String> {
    if let Some(nanos) = crate::ingest::time_text::utc_nanos(text) {
        return Ok(nanos.div_euclid(1_000));
    }
    arrow::compute::kernels::cast_utils::string_to_timestamp_nanos(text)
        .map(|nanos| nanos.div_euclid(1_000))
        .map_err(|_| format!("{text:?} is not an RFC 3339 time (years 1678 to 2261)"))
}

/// Epoch seconds, milliseconds, microseconds or nanoseconds (told apart by
/// magnitude) in microseconds; `shown` is the number as the row wrote it.
pub fn time_from_number(epoch: f64, shown: &dyn std::fmt::Display) -> Result<i64, String> {
    let magnitude = epoch.abs();
    let micros = if magnitude < 1e11 {
        epoch * 1e6
    } else if magnitude < 1e14 {
        epoch * 1e3
    } else if magnitude < 1e17 {
        epoch
    } else {
        epoch / 1e3
    };
    let micros = micros.round();
    if !(MIN_TIME_MICROS as f64..=MAX_TIME_MICROS as f64).contains(&micros) {
        return Err(format!(
            "{shown} is outside the times Shoal stores (years 1 to 9999)"
        ));
    }
    Ok(micros as i64)
}

/// `an object`, `a number`, ... for error messages.
pub fn json_kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "an integer",
        Value::Number(_) => "a float",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_flattened_and_timed_and_errors_keep_their_line() {
        let body = b"{\"ts\": 1763000000, \"user\": {\"id\": 7, \"geo\": {\"cc\": \"fr\"}}, \"tags\": [\"a\", \"b\"], \"mixed\": [1, \"x\"]}\n\n\
            not json\n[1, 2]\n{\"@timestamp\": \"2026-11-19T10:00:00.5Z\"}";
        let parsed = parse_body(body, None).unwrap();
        assert_eq!(parsed.rows.len(), 2);
        let first = &parsed.rows[0].fields;
        assert_eq!(first["time"], Value::from(1_763_000_000_000_000i64));
        assert_eq!(first["user.id"], Value::from(7));
        assert_eq!(first["user.geo.cc"], Value::from("fr"));
        assert_eq!(first["tags"], serde_json::json!(["a", "b"]));
        assert_eq!(first["mixed"], Value::from("[1,\"x\"]"));
        assert!(!first.contains_key("ts"));
        assert_eq!(parsed.rows[1].line, 5);
        assert_eq!(
            parsed.rows[1].fields["time"],
            Value::from(1_795_082_400_500_000i64)
        );
        let lines: Vec<usize> = parsed.errors.iter().map(|e| e.line).collect();
        assert_eq!(lines, vec![3, 4]);
        assert!(parsed.errors[1].reason.contains("an array"));
    }

    #[test]
    fn epoch_magnitudes_are_told_apart() {
        let second = 1_763_000_000i64;
        for value in [
            second,
            second * 1_000,
            second * 1_000_000,
            second * 1_000_000_000,
        ] {
            assert_eq!(
                time_micros(&Value::from(value)).unwrap(),
                second * 1_000_000
            );
        }
    }

    #[test]
    fn far_out_times_and_empty_keys_reject_their_row_only() {
        let body =
            b"{\"time\": 1e22}\n{\"\": 1}\n{\"a\": {\"\": 2}}\n{\"time\": -1e22}\n{\"ok\": 1}";
        let parsed = parse_body(body, None).unwrap();
        assert_eq!(parsed.rows.len(), 1);
        assert_eq!(parsed.rows[0].line, 5);
        let reasons: Vec<(usize, &str)> = parsed
            .errors
            .iter()
            .map(|e| (e.line, e.reason.as_str()))
            .collect();
        assert_eq!(reasons.len(), 4, "{reasons:?}");
        assert!(reasons[0].1.contains("outside the times"), "{reasons:?}");
        assert!(reasons[1].1.contains("empty name"), "{reasons:?}");
        assert!(reasons[2].1.contains("inside \"a\""), "{reasons:?}");
        assert!(reasons[3].1.contains("outside the times"), "{reasons:?}");
    }

    #[test]
    fn a_body_with_no_json_at_all_is_refused_whole() {
        assert!(parse_body(b"hello\nworld", None).is_err());
        assert!(parse_body(b"[1, 2", None).is_err());
        assert!(parse_body(b"", None).unwrap().rows.is_empty());
    }

    #[test]
    fn deep_nesting_and_invalid_utf8_are_row_errors() {
        let deep = format!("{}1{}", "{\"a\":".repeat(1000), "}".repeat(1000));
        let mut body = deep.into_bytes();
        body.extend_from_slice(b"\n{\"ok\": 1}\n{\"bad\": \"\xff\"}\n");
        let parsed = parse_body(&body, None).unwrap();
        assert_eq!(parsed.rows.len(), 1);
        assert_eq!(parsed.errors.len(), 2);
        assert!(
            parsed.errors[0].reason.contains("recursion limit"),
            "{:?}",
            parsed.errors
        );
        assert!(parsed.errors[1].reason.contains("UTF-8"));
    }
}
