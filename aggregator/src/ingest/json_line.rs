//! One JSON line to a flattened row, straight from its text with serde's
//! visitors: no `serde_json::Value` (nor map) per row, strings borrowed
//! from the line unless they hold escapes. Nested objects become dotted
//! names, arrays of strings string sets, other arrays their JSON text; the
//! row's time is moved to `time` in microseconds (see `json_rows`).

use std::borrow::Cow;
use std::fmt;

use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

use crate::ingest::column_set::Fields;
use crate::ingest::json_array::read_array;
use crate::ingest::json_discard::Discard;
use crate::ingest::json_rows::{MAX_DEPTH, TIME_FIELDS};
use crate::ingest::scalar::Scalar;

/// Why a line gave no row.
#[derive(Debug)]
pub enum LineError {
    /// Not JSON (serde_json's words, with the column).
    NotJson(serde_json::Error),
    /// JSON, but not an object: what it is.
    NotObject(&'static str),
    /// An object Shoal cannot take as a row (empty name, too deep, bad time).
    Row(String),
}

/// Parses `text` into `fields` (cleared first) and moves its time.
pub fn decode_line<'a>(
    text: &'a str,
    time_field: Option<&str>,
    fields: &mut Fields<'a>,
) -> Result<(), LineError> {
    fields.clear();
    if !crate::ingest::json_fast::read_line(text, fields) {
        read_fields(text, fields)?;
    }
    move_time(fields, time_field).map_err(LineError::Row)
}

/// Parses `text` into `fields` (cleared first) with `serde_json`, without
/// moving its time: the reading of every line [`json_fast`] gives up on.
///
/// [`json_fast`]: crate::ingest::json_fast
pub fn read_fields<'a>(text: &'a str, fields: &mut Fields<'a>) -> Result<(), LineError> {
    fields.clear();
    let mut problem = None;
    let mut deserializer = serde_json::Deserializer::from_str(text);
    let top = Top {
        fields,
        problem: &mut problem,
    };
    let kind = top
        .deserialize(&mut deserializer)
        .and_then(|kind| deserializer.end().map(|()| kind))
        .map_err(LineError::NotJson)?;
    if let Some(kind) = kind {
        return Err(LineError::NotObject(kind));
    }
    match problem {
        Some(reason) => Err(LineError::Row(reason)),
        None => Ok(()),
    }
}

/// Which of a row's field `names` holds its time: the one `time_field`
/// names, else the first of [`TIME_FIELDS`] present; of a name given twice,
/// the last.
pub fn time_source<'n>(
    names: impl IntoIterator<Item = &'n str>,
    time_field: Option<&str>,
) -> Option<usize> {
    let rank = |name: &str| match time_field {
        Some(wanted) => (name == wanted).then_some(0),
        None => TIME_FIELDS.iter().position(|f| *f == name),
    };
    let mut best: Option<(usize, usize)> = None;
    for (k, name) in names.into_iter().enumerate() {
        if let Some(r) = rank(name)
            && best.is_none_or(|(best_rank, _)| r <= best_rank)
        {
            best = Some((r, k));
        }
    }
    best.map(|(_, k)| k)
}

/// Moves the row's time from its source field ([`time_source`]) to `time`,
/// in microseconds.
pub fn move_time(fields: &mut Fields, time_field: Option<&str>) -> Result<(), String> {
    let names = fields.iter().map(|(name, _)| name.as_ref());
    let Some(k) = time_source(names, time_field) else {
        return Ok(());
    };
    let (source, value) = fields[k].clone();
    fields.retain(|(name, _)| *name != source);
    if value.is_null() {
        return Ok(());
    }
    let micros = value
        .time_micros()
        .map_err(|reason| format!("field {source:?}: {reason}"))?;
    fields.retain(|(name, _)| name != "time");
    fields.push((Cow::Borrowed("time"), Scalar::Time(micros)));
    Ok(())
}

/// The line's top value: an object's fields, or the kind of anything else.
struct Top<'f, 'a> {
    fields: &'f mut Fields<'a>,
    problem: &'f mut Option<String>,
}

impl<'de> DeserializeSeed<'de> for Top<'_, 'de> {
    type Value = Option<&'static str>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Top<'_, 'de> {
    type Value = Option<&'static str>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        let object = Object {
            prefix: "",
            depth: 0,
            fields: self.fields,
            problem: self.problem,
        };
        object.read(map).map(|()| None)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        while seq.next_element::<Discard>()?.is_some() {}
        Ok(Some("an array"))
    }
    fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
        Ok(Some("a boolean"))
    }
    fn visit_i64<E>(self, _: i64) -> Result<Self::Value, E> {
        Ok(Some("an integer"))
    }
    fn visit_u64<E>(self, _: u64) -> Result<Self::Value, E> {
        Ok(Some("an integer"))
    }
    fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
        Ok(Some("a float"))
    }
    fn visit_str<E>(self, _: &str) -> Result<Self::Value, E> {
        Ok(Some("a string"))
    }
    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(Some("null"))
    }
}

/// An object's fields under `prefix`, `depth` objects deep.
struct Object<'f, 'p, 'a> {
    prefix: &'p str,
    depth: usize,
    fields: &'f mut Fields<'a>,
    problem: &'f mut Option<String>,
}

impl<'de> Object<'_, '_, 'de> {
    fn read<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(Key(key)) = map.next_key::<Key>()? {
            if key.is_empty() && self.problem.is_none() {
                *self.problem = Some(match self.prefix.is_empty() {
                    true => "a field has an empty name".to_string(),
                    false => format!("a field inside {:?} has an empty name", self.prefix),
                });
            }
            let name = match self.prefix.is_empty() {
                true => key,
                false => Cow::Owned(format!("{}.{key}", self.prefix)),
            };
            map.next_value_seed(Field {
                name,
                depth: self.depth,
                fields: self.fields,
                problem: self.problem,
            })?;
        }
        Ok(())
    }
}

/// An object key, borrowed unless it holds escapes.
struct Key<'a>(Cow<'a, str>);

impl<'de> serde::Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_str(KeyVisitor)
    }
}

struct KeyVisitor;

impl<'de> Visitor<'de> for KeyVisitor {
    type Value = Key<'de>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a key")
    }
    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Key(Cow::Borrowed(v)))
    }
    fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Key(Cow::Owned(v.to_string())))
    }
}

/// One field's value, pushed to `fields` under `name`.
struct Field<'f, 'a> {
    name: Cow<'a, str>,
    depth: usize,
    fields: &'f mut Fields<'a>,
    problem: &'f mut Option<String>,
}

impl<'de> DeserializeSeed<'de> for Field<'_, 'de> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Field<'_, 'de> {
    fn push<E>(self, value: Scalar<'de>) -> Result<(), E> {
        self.fields.push((self.name, value));
        Ok(())
    }
}

impl<'de> Visitor<'de> for Field<'_, 'de> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_bool<E>(self, v: bool) -> Result<(), E> {
        self.push(Scalar::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<(), E> {
        self.push(Scalar::Int(v))
    }
    fn visit_u64<E>(self, v: u64) -> Result<(), E> {
        match i64::try_from(v) {
            Ok(v) => self.push(Scalar::Int(v)),
            Err(_) => self.push(Scalar::UInt(v)),
        }
    }
    fn visit_f64<E>(self, v: f64) -> Result<(), E> {
        self.push(Scalar::Float(v))
    }
    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<(), E> {
        self.push(Scalar::Str(Cow::Borrowed(v)))
    }
    fn visit_str<E>(self, v: &str) -> Result<(), E> {
        self.push(Scalar::Str(Cow::Owned(v.to_string())))
    }
    fn visit_unit<E>(self) -> Result<(), E> {
        self.push(Scalar::Null)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        if self.depth + 1 > MAX_DEPTH {
            if self.problem.is_none() {
                *self.problem = Some(format!("objects nested more than {MAX_DEPTH} deep"));
            }
            // Read on through serde_json's own depth check (which
            // `IgnoredAny` skips): nesting past it is not JSON to it.
            while map.next_key::<IgnoredAny>()?.is_some() {
                map.next_value::<Discard>()?;
            }
            return Ok(());
        }
        let object = Object {
            prefix: &self.name,
            depth: self.depth + 1,
            fields: self.fields,
            problem: self.problem,
        };
        object.read(map)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<(), A::Error> {
        let value = read_array(seq)?;
        self.push(value)
    }
}
