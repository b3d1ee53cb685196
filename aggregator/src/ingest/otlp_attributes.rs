//! A log record's attributes as row fields, borrowed from the request read
//! in place ([`otlp_view`]): scalars as they are, arrays of strings as
//! string sets, other nested values (key-value lists, arrays that are not
//! all strings) flattened as `otlp_rows` flattens them; names of the
//! record's own columns are stored as `attributes.NAME`.
//!
//! [`otlp_view`]: crate::ingest::otlp_view

use std::borrow::Cow;

use serde_json::{Map, Value};

use crate::ingest::column_set::Fields;
use crate::ingest::json_rows::flatten_into;
use crate::ingest::otlp_rows::{column_name, is_record_column};
use crate::ingest::otlp_view::{
    AttributeView, ValueView, array_items, list_entries, plain_strings,
};
use crate::ingest::scalar::Scalar;

/// The depth `value_json` and `string_sets` read nested values at: counted
/// again from 0, as the view checked them (`check_nested`) in the request.
const VALUE_DEPTH: usize = 0;

/// Nested attributes of one record, by key: a list the caller keeps
/// from record to record (a map per record was an allocation each).
pub type Nested<'a> = Vec<AttributeView<'a>>;

/// The record's attributes: scalars as they are, then nested ones
/// flattened (as `otlp_rows` does), names of record columns prefixed.
/// `nested` is scratch space, empty on return.
pub fn attribute_fields<'a>(
    attributes: &[AttributeView<'a>],
    fields: &mut Fields<'a>,
    nested: &mut Nested<'a>,
) -> Result<(), String> {
    nested.clear();
    for &(key, value) in attributes {
        match value {
            ValueView::Array(_) | ValueView::Kvlist(_) => nested.push((key, value)),
            scalar => fields.push((attribute_name(key), scalar_of(scalar))),
        }
    }
    if nested.is_empty() {
        return Ok(());
    }
    by_key_last_wins(nested);
    let outcome = nested_fields(nested, fields);
    nested.clear();
    outcome
}

/// An attribute's column: its key, prefixed when a record column has it.
fn attribute_name(key: &str) -> Cow<'_, str> {
    match is_record_column(key) {
        true => Cow::Owned(format!("attributes.{key}")),
        false => Cow::Borrowed(key),
    }
}

/// Sorts `nested` by key and keeps the last value of a key given twice,
/// as a map of them would.
fn by_key_last_wins(nested: &mut Nested) {
    // Stable: values of one key stay in request order, and the later of
    // two neighbours replaces the one kept.
    nested.sort_by(|a, b| a.0.cmp(b.0));
    nested.dedup_by(|later, kept| {
        let same = later.0 == kept.0;
        if same {
            *kept = *later;
        }
        same
    });
}

/// The fields of nested attributes (sorted by key, each key once).
fn nested_fields<'a>(nested: &Nested<'a>, fields: &mut Fields<'a>) -> Result<(), String> {
    let before = fields.len();
    if string_sets(nested, fields)? {
        return Ok(());
    }
    fields.truncate(before);
    let mut as_json = Map::new();
    for &(key, value) in nested {
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
pub fn scalar_of(value: ValueView<'_>) -> Scalar<'_> {
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
/// such as tags), pushes each as the string set flattening would make of
/// it, borrowed, and says `true`; `false` otherwise (some may have been
/// pushed: the caller takes them back).
fn string_sets<'a>(nested: &Nested<'a>, fields: &mut Fields<'a>) -> Result<bool, String> {
    for &(key, value) in nested {
        let ValueView::Array(bytes) = value else {
            return Ok(false);
        };
        let mut set = Vec::new();
        if !plain_strings(bytes, |text| set.push(Cow::Borrowed(text))) {
            set.clear();
            for item in array_items(bytes, VALUE_DEPTH).map_err(unread)? {
                match item.map_err(unread)? {
                    ValueView::Str(text) => set.push(Cow::Borrowed(text)),
                    _ => return Ok(false),
                }
            }
        }
        if key.is_empty() {
            return Err("attributes: a field has an empty name".to_string());
        }
        fields.push((attribute_name(key), Scalar::Set(set)));
    }
    Ok(true)
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

#[cfg(test)]
mod tests {
    use opentelemetry_proto::tonic::common::v1::{
        AnyValue, ArrayValue, KeyValue, KeyValueList, any_value,
    };
    use prost::Message;

    use super::*;

    fn text(value: &str) -> AnyValue {
        AnyValue {
            value: Some(any_value::Value::StringValue(value.into())),
        }
    }

    fn array(items: Vec<AnyValue>) -> Vec<u8> {
        ArrayValue { values: items }.encode_to_vec()
    }

    fn list(key: &str, value: &str) -> Vec<u8> {
        let entry = KeyValue {
            key: key.into(),
            value: Some(text(value)),
            ..Default::default()
        };
        KeyValueList {
            values: vec![entry],
        }
        .encode_to_vec()
    }

    fn fields_of<'a>(attributes: &[AttributeView<'a>]) -> Fields<'a> {
        let mut fields = Fields::new();
        let mut nested = Nested::new();
        attribute_fields(attributes, &mut fields, &mut nested).unwrap();
        assert!(nested.is_empty());
        fields
    }

    /// A string set read before a nested value that is not one is taken
    /// back: the flattened form has each name once.
    #[test]
    fn string_sets_are_taken_back_when_another_nested_value_is_not_one() {
        let tags = array(vec![text("x")]);
        let http = list("method", "GET");
        let mixed = array(vec![
            text("y"),
            AnyValue {
                value: Some(any_value::Value::IntValue(1)),
            },
        ]);
        for other in [ValueView::Kvlist(&http), ValueView::Array(&mixed)] {
            let fields = fields_of(&[("a_tags", ValueView::Array(&tags)), ("b", other)]);
            let names: Vec<&str> = fields.iter().map(|(name, _)| name.as_ref()).collect();
            let expected = match other {
                ValueView::Kvlist(_) => vec!["a_tags", "b.method"],
                _ => vec!["a_tags", "b"],
            };
            assert_eq!(names, expected, "{other:?}");
        }
    }

    /// Nested values by name, a name given twice keeping its later value,
    /// as a map of them would.
    #[test]
    fn a_nested_name_given_twice_keeps_its_later_value() {
        let (first, other, last) = (
            array(vec![text("a")]),
            array(vec![text("c")]),
            array(vec![text("b")]),
        );
        let fields = fields_of(&[
            ("t", ValueView::Array(&first)),
            ("n", ValueView::Int(1)),
            ("u", ValueView::Array(&other)),
            ("t", ValueView::Array(&last)),
        ]);
        let expected: Fields = vec![
            (Cow::Borrowed("n"), Scalar::Int(1)),
            (Cow::Borrowed("t"), Scalar::Set(vec![Cow::Borrowed("b")])),
            (Cow::Borrowed("u"), Scalar::Set(vec![Cow::Borrowed("c")])),
        ];
        assert_eq!(fields, expected);
    }
}
