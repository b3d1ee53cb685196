//! One field's value as the ingest decoders hand it to the column builders:
//! a scalar, a string set, or the row's time already in microseconds,
//! borrowed from the request's bytes where it can be (no
//! `serde_json::Value` per row on the NDJSON path).

use std::borrow::Cow;
use std::fmt::Write;

use serde_json::Value;

use crate::ingest::json_rows::{time_from_number, time_from_text};

/// A flattened field's value.
#[derive(Debug, Clone, PartialEq)]
pub enum Scalar<'a> {
    Null,
    Bool(bool),
    /// A JSON integer that fits 64 signed bits.
    Int(i64),
    /// A JSON integer past `i64::MAX`.
    UInt(u64),
    Float(f64),
    Str(Cow<'a, str>),
    /// An array of strings: a string set.
    Set(Vec<Cow<'a, str>>),
    /// The row's time, moved from its source field, in microseconds.
    Time(i64),
    /// A value no column can hold (an object left unflattened), by kind.
    Unstorable(&'static str),
}

impl<'a> Scalar<'a> {
    /// The value of a field of a row that came as `serde_json::Value`s
    /// (OTLP, `_bulk`'s slow path, the dashboards), borrowing its strings.
    pub fn from_value(value: &'a Value) -> Self {
        match value {
            Value::Null => Self::Null,
            Value::Bool(b) => Self::Bool(*b),
            Value::Number(n) => match (n.as_i64(), n.as_u64(), n.as_f64()) {
                (Some(i), _, _) => Self::Int(i),
                (None, Some(u), _) => Self::UInt(u),
                (None, None, f) => Self::Float(f.unwrap_or(f64::NAN)),
            },
            Value::String(s) => Self::Str(Cow::Borrowed(s)),
            Value::Array(items) => match items.iter().all(Value::is_string) {
                true => Self::Set(
                    items
                        .iter()
                        .filter_map(Value::as_str)
                        .map(Cow::Borrowed)
                        .collect(),
                ),
                false => Self::Str(Cow::Owned(value.to_string())),
            },
            Value::Object(_) => Self::Unstorable("an object"),
        }
    }

    /// The value of an owned `Value` (flattened nested attributes).
    pub fn from_owned(value: Value) -> Scalar<'static> {
        match value {
            Value::String(s) => Scalar::Str(Cow::Owned(s)),
            Value::Array(items) if items.iter().all(Value::is_string) => Scalar::Set(
                items
                    .into_iter()
                    .filter_map(|item| match item {
                        Value::String(s) => Some(Cow::Owned(s)),
                        _ => None,
                    })
                    .collect(),
            ),
            Value::Array(items) => Scalar::Str(Cow::Owned(Value::Array(items).to_string())),
            Value::Null => Scalar::Null,
            Value::Bool(b) => Scalar::Bool(b),
            Value::Number(n) => match (n.as_i64(), n.as_u64(), n.as_f64()) {
                (Some(i), _, _) => Scalar::Int(i),
                (None, Some(u), _) => Scalar::UInt(u),
                (None, None, f) => Scalar::Float(f.unwrap_or(f64::NAN)),
            },
            Value::Object(_) => Scalar::Unstorable("an object"),
        }
    }

    pub fn is_null(&self) -> bool {
        matches!(self, Self::Null)
    }

    /// `an integer`, `a string`, ... for error messages (as
    /// [`crate::ingest::json_rows::json_kind`] says it of a `Value`).
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Null => "null",
            Self::Bool(_) => "a boolean",
            Self::Int(_) | Self::UInt(_) | Self::Time(_) => "an integer",
            Self::Float(_) => "a float",
            Self::Str(_) => "a string",
            Self::Set(_) => "an array",
            Self::Unstorable(kind) => kind,
        }
    }

    /// The value as a time in microseconds: an RFC 3339 string, or epoch
    /// seconds to nanoseconds told apart by magnitude.
    pub fn time_micros(&self) -> Result<i64, String> {
        match self {
            Self::Time(micros) => Ok(*micros),
            Self::Str(text) => time_from_text(text),
            Self::Int(i) => time_from_number(*i as f64, i),
            Self::UInt(u) => time_from_number(*u as f64, u),
            Self::Float(f) => time_from_number(*f, &number_text(*f)),
            other => Err(format!("expected a time, found {}", other.kind())),
        }
    }

    /// Appends the text a string column stores for this value: numbers and
    /// booleans as JSON writes them. `false` for a value without one.
    pub fn write_text(&self, out: &mut String) -> bool {
        match self {
            Self::Str(text) => out.push_str(text),
            Self::Bool(true) => out.push_str("true"),
            Self::Bool(false) => out.push_str("false"),
            Self::Int(i) => {
                let _ = write!(out, "{i}");
            }
            Self::UInt(u) => {
                let _ = write!(out, "{u}");
            }
            Self::Float(f) => out.push_str(&number_text(*f)),
            _ => return false,
        }
        true
    }
}

/// A float as JSON writes it (`2.0`, `1e20`), as arrow-json coerced it.
fn number_text(value: f64) -> String {
    serde_json::Number::from_f64(value)
        .map(|n| n.to_string())
        .unwrap_or_else(|| value.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_keep_their_kind_and_text() {
        let value =
            serde_json::json!({"a": [1, "x"], "b": ["x", "y"], "c": 18446744073709551615u64});
        assert_eq!(
            Scalar::from_value(&value["a"]),
            Scalar::Str("[1,\"x\"]".into())
        );
        assert_eq!(
            Scalar::from_value(&value["b"]),
            Scalar::Set(vec!["x".into(), "y".into()])
        );
        assert_eq!(Scalar::from_value(&value["c"]).kind(), "an integer");
        assert_eq!(Scalar::from_value(&value).kind(), "an object");
        let mut text = String::new();
        for scalar in [Scalar::Float(2.0), Scalar::Int(-3), Scalar::Bool(true)] {
            assert!(scalar.write_text(&mut text));
        }
        assert_eq!(text, "2.0-3true");
        assert_eq!(
            Scalar::Int(1_763_000_000).time_micros(),
            Ok(1_763_000_000_000_000)
        );
        assert!(Scalar::Float(1e22).time_micros().is_err());
    }
}
