//! A JSON array inside a row: all strings make a string set (borrowed from
//! the line where they can be); any other array is kept as its JSON text,
//! written as `serde_json` writes a `Value` (objects' keys sorted).

use std::borrow::Cow;
use std::fmt;

use serde::Deserialize;
use serde::de::{Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::Value;

use crate::ingest::scalar::Scalar;

/// Reads the rest of an array.
pub fn read_array<'de, A: SeqAccess<'de>>(mut seq: A) -> Result<Scalar<'de>, A::Error> {
    let mut strings: Vec<Cow<'de, str>> = Vec::new();
    let mut others: Option<Vec<Value>> = None;
    while let Some(item) = seq.next_element::<Item>()? {
        match (item, others.as_mut()) {
            (Item::Str(text), None) => strings.push(text),
            (item, Some(values)) => values.push(item.into_value()),
            (Item::Other(value), None) => {
                let mut values: Vec<Value> = strings
                    .drain(..)
                    .map(|s| Value::String(s.into_owned()))
                    .collect();
                values.push(value);
                others = Some(values);
            }
        }
    }
    Ok(match others {
        None => Scalar::Set(strings),
        Some(values) => Scalar::Str(Cow::Owned(Value::Array(values).to_string())),
    })
}

/// An array's item: a string (borrowed if it can be) or any other value.
enum Item<'a> {
    Str(Cow<'a, str>),
    Other(Value),
}

impl Item<'_> {
    fn into_value(self) -> Value {
        match self {
            Item::Str(text) => Value::String(text.into_owned()),
            Item::Other(value) => value,
        }
    }
}

impl<'de> Deserialize<'de> for Item<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(ItemVisitor)
    }
}

struct ItemVisitor;

impl<'de> Visitor<'de> for ItemVisitor {
    type Value = Item<'de>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Item::Str(Cow::Borrowed(v)))
    }
    fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Item::Str(Cow::Owned(v.to_string())))
    }
    fn visit_bool<E>(self, v: bool) -> Result<Self::Value, E> {
        Ok(Item::Other(Value::Bool(v)))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Self::Value, E> {
        Ok(Item::Other(Value::from(v)))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Self::Value, E> {
        Ok(Item::Other(Value::from(v)))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Self::Value, E> {
        Ok(Item::Other(Value::from(v)))
    }
    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(Item::Other(Value::Null))
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        let value = Value::deserialize(serde::de::value::MapAccessDeserializer::new(map))?;
        Ok(Item::Other(value))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
        let value = Value::deserialize(serde::de::value::SeqAccessDeserializer::new(seq))?;
        Ok(Item::Other(value))
    }
}
