//! A log record's attributes as row fields, borrowed from the request read
//! in place ([`otlp_view`]): scalars as they are, arrays of strings as
//! string sets, other nested values (key-value lists, arrays that are not
//! all strings) flattened as `otlp_rows` flattens them; names of the
//! record's own columns are stored as `attributes.NAME`.
//!
//! [`otlp_view`]: crate::ingest::otlp_view

use std::borrow::Cow;
use std::collections::BTreeMap;

use serde_json::{Map, Value};

use crate::ingest::column_set::Fields;
use crate::ingest::json_rows::flatten_into;
use crate::ingest::otlp_rows::{RECORD_COLUMNS, column_name};
use crate::ingest::otlp_view::{AttributeView, ValueView, array_items, list_entries};
use crate::ingest::scalar::Scalar;

/// The depth `value_json` and `string_sets` read nested values at: counted
/// again from 0, as the view checked them (`check_nested`) in the request.
const VALUE_DEPTH: usize = 0;

/// The record's attributes: scalars as they are, then nested ones
/// flattened (as `otlp_rows` does), names of record columns prefixed.
pub fn attribute_fields<'a>(
    attributes: &[AttributeView<'a>],
    fields: &mut Fields<'a>,
) -> Result<(), String> {
    let mut nested: BTreeMap<&'a str, ValueView<'a>> = BTreeMap::new();
    for &(key, value) in attributes {
        let name = match RECORD_COLUMNS.contains(&key) {
            true => Cow::Owned(format!("attributes.{key}")),
            false => Cow::Borrowed(key),
        };
        let scalar = match value {
            ValueView::Array(_) | ValueView::Kvlist(_) => {
                nested.insert(key, value);
                continue;
            }
            scalar => scalar_of(scalar),
        };
        fields.push((name, scalar));
    }
    if nested.is_empty() {
        return Ok(());
    }
    if let Some(sets) = string_sets(&nested)? {
        fields.extend(sets);
        return Ok(());
    }
    let mut as_json = Map::new();
    for (key, value) in nested {
        as_json.insert(key.to_string(), value_json(value)?);
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

/// A value that is not nested, as a field's.
fn scalar_of(value: ValueView<'_>) -> Scalar<'_> {
    match value {
        ValueView::Null | ValueView::Array(_) | ValueView::Kvlist(_) => Scalar::Null,
        ValueView::Str(text) => Scalar::Str(Cow::Borrowed(text)),
        ValueView::Bool(flag) => Scalar::Bool(flag),
        ValueView::Int(number) => Scalar::Int(number),
        ValueView::Double(number) if number.is_finite() => Scalar::Float(number),
        ValueView::Double(number) => Scalar::Str(Cow::Owned(number.to_string())),
        ValueView::Bytes(bytes) => Scalar::Str(Cow::Owned(const_hex::encode(bytes))),
    }
}

/// When every nested attribute is an array of strings (the common case,
/// such as tags), each as the string set flattening would make of it,
/// borrowed; `None` otherwise.
fn string_sets<'a>(
    nested: &BTreeMap<&'a str, ValueView<'a>>,
) -> Result<Option<Fields<'a>>, String> {
    let mut sets = Vec::with_capacity(nested.len());
    for (&key, value) in nested {
        let ValueView::Array(bytes) = value else {
            return Ok(None);
        };
        let mut set = Vec::new();
        for item in array_items(bytes, VALUE_DEPTH).map_err(unread)? {
            match item.map_err(unread)? {
                ValueView::Str(text) => set.push(Cow::Borrowed(text)),
                _ => return Ok(None),
            }
        }
        if key.is_empty() {
            return Err("attributes: a field has an empty name".to_string());
        }
        let name = match RECORD_COLUMNS.contains(&key) {
            true => Cow::Owned(format!("attributes.{key}")),
            false => Cow::Borrowed(key),
        };
        sets.push((name, Scalar::Set(set)));
    }
    Ok(Some(sets))
}

/// A value as JSON, as `otlp_rows::any_to_json` makes it of the decoded
/// value: key-value lists as objects (a later key wins), bytes as hex,
/// doubles that JSON cannot hold as text.
pub fn value_json(value: ValueView) -> Result<Value, String> {
    Ok(match value {
        ValueView::Null => Value::Null,
        ValueView::Str(text) => Value::from(text),
        ValueView::Bool(flag) => Value::from(flag),
        ValueView::Int(number) => Value::from(number),
        ValueView::Double(number) => serde_json::Number::from_f64(number)
            .map(Value::Number)
            .unwrap_or_else(|| Value::from(number.to_string())),
        ValueView::Bytes(bytes) => Value::from(const_hex::encode(bytes)),
        ValueView::Array(bytes) => Value::Array(
            array_items(bytes, VALUE_DEPTH)
                .map_err(unread)?
                .map(|item| value_json(item.map_err(unread)?))
                .collect::<Result<_, _>>()?,
        ),
        ValueView::Kvlist(bytes) => {
            let mut object = Map::new();
            for entry in list_entries(bytes, VALUE_DEPTH).map_err(unread)? {
                let (key, value) = entry.map_err(unread)?;
                object.insert(key.to_string(), value_json(value)?);
            }
            Value::Object(object)
        }
    })
}

/// A nested value the view checked but that does not read again: cannot
/// happen, reported rather than unwrapped.
fn unread(_: crate::ingest::otlp_wire::Unread) -> String {
    "a nested value read once did not read again".to_string()
}
