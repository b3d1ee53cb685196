//! A log record's attributes as row fields, borrowed from the decoded
//! request: scalars as they are, then nested ones (key-value lists, arrays
//! that are not all strings) flattened as `otlp_rows` flattens them; names
//! of the record's own columns are stored as `attributes.NAME`.

use std::borrow::Cow;
use std::collections::BTreeMap;

use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use serde_json::{Map, Value};

use crate::ingest::column_set::Fields;
use crate::ingest::json_rows::flatten_into;
use crate::ingest::otlp_rows::{RECORD_COLUMNS, any_to_json, column_name};
use crate::ingest::scalar::Scalar;

/// The record's attributes: scalars as they are, then nested ones
/// flattened (as `otlp_rows` does), names of record columns prefixed.
pub fn attribute_fields<'a>(
    attributes: &'a [KeyValue],
    fields: &mut Fields<'a>,
) -> Result<(), String> {
    let mut nested: BTreeMap<&str, &AnyValue> = BTreeMap::new();
    for KeyValue { key, value, .. } in attributes {
        let name = match RECORD_COLUMNS.contains(&key.as_str()) {
            true => Cow::Owned(format!("attributes.{key}")),
            false => Cow::Borrowed(key.as_str()),
        };
        let scalar = match value.as_ref().and_then(|v| v.value.as_ref()) {
            None | Some(any_value::Value::StringValueStrindex(_)) => Scalar::Null,
            Some(any_value::Value::StringValue(text)) => Scalar::Str(Cow::Borrowed(text)),
            Some(any_value::Value::BoolValue(flag)) => Scalar::Bool(*flag),
            Some(any_value::Value::IntValue(number)) => Scalar::Int(*number),
            Some(any_value::Value::DoubleValue(number)) if number.is_finite() => {
                Scalar::Float(*number)
            }
            Some(any_value::Value::DoubleValue(number)) => {
                Scalar::Str(Cow::Owned(number.to_string()))
            }
            Some(any_value::Value::BytesValue(bytes)) => {
                Scalar::Str(Cow::Owned(const_hex::encode(bytes)))
            }
            Some(any_value::Value::ArrayValue(_) | any_value::Value::KvlistValue(_)) => {
                if let Some(value) = value {
                    nested.insert(key, value);
                }
                continue;
            }
        };
        fields.push((name, scalar));
    }
    if nested.is_empty() {
        return Ok(());
    }
    let mut as_json = Map::new();
    for (key, value) in nested {
        let value = value.value.clone().map(any_to_json).unwrap_or(Value::Null);
        as_json.insert(key.to_string(), value);
    }
    let mut flat = Map::new();
    flatten_into(&mut flat, String::new(), as_json, 0)
        .map_err(|reason| format!("attributes: {reason}"))?;
    for (name, value) in flat {
        let name = column_name(name, "attributes");
        fields.push((Cow::Owned(name), Scalar::from_owned(value)));
    }
    Ok(())
}
