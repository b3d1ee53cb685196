//! An OTLP logs export read in place from its protobuf bytes: resources,
//! scopes and log records whose strings, bytes and nested values borrow
//! the body, checked the way prost checks them (wire types, UTF-8, nesting)
//! but with no allocation per record, where prost's generated types
//! allocate every key and value and free them all again (about half of the
//! server's time per OTLP request went to that).
//!
//! [`RequestView::read`] reads the request down to each record's bytes;
//! [`read_record`] reads a record (its converter does, on all cores, record
//! by record). Both give up ([`Unread`]) on anything prost could read
//! differently (see [`otlp_wire`]); [`otlp_read`] then decodes the body
//! with prost and writes it again as prost writes it, which reads here.
//! [`RequestView::check_records`] reads every record once, on all cores,
//! for an export whose records are not all read before any is stored.
//! Resources and scopes (usually a few per request) are decoded by prost
//! itself. A nested value (arrays, key-value lists) is checked to the end
//! once when its record is read, and read again one level at a time when
//! converted.
//!
//! [`otlp_wire`]: crate::ingest::otlp_wire
//! [`otlp_read`]: crate::ingest::otlp_read

use std::ops::Range;

use opentelemetry_proto::tonic::common::v1::{InstrumentationScope, KeyValue};
use opentelemetry_proto::tonic::resource::v1::Resource;
use prost::Message;

use crate::ingest::otlp_wire::{Fields, PROST_DEPTH_LIMIT, Unread, utf8};
use crate::ingest::parallel::{run_parts, slices};

/// A value as the view holds it. Arrays and key-value lists stay in their
/// bytes (already checked) and are read when converted.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ValueView<'a> {
    /// No value set, or a string-table index (meaningless for logs).
    Null,
    Str(&'a str),
    Bool(bool),
    Int(i64),
    Double(f64),
    Bytes(&'a [u8]),
    /// An `ArrayValue` message.
    Array(&'a [u8]),
    /// A `KeyValueList` message.
    Kvlist(&'a [u8]),
}

/// An attribute: its key and value.
pub type AttributeView<'a> = (&'a str, ValueView<'a>);

/// A log record's fields; its attributes are a range of the list
/// [`read_record`] appended them to.
#[derive(Debug, Clone, Default)]
pub struct RecordView<'a> {
    pub time_unix_nano: u64,
    pub observed_time_unix_nano: u64,
    pub severity_number: i32,
    pub severity_text: &'a str,
    /// `None` when the record has no body or its body has no value.
    pub body: Option<ValueView<'a>>,
    pub attributes: Range<usize>,
    pub trace_id: &'a [u8],
    pub span_id: &'a [u8],
    pub event_name: &'a str,
}

/// A scope's name, version, and its records (a range of the request's).
#[derive(Debug, Clone)]
pub struct ScopeView<'a> {
    pub name: &'a str,
    pub version: &'a str,
    pub records: Range<usize>,
}

/// A resource's attributes (decoded; empty when read by
/// [`RequestView::read_records`], which `otlp_columns::plan` must not be
/// given) and its scopes.
#[derive(Debug, Clone)]
pub struct ResourceView<'a> {
    pub attributes: Vec<KeyValue>,
    pub scopes: Vec<ScopeView<'a>>,
}

/// A whole export: resources in order, each record's bytes in request
/// order (read by [`read_record`]).
#[derive(Debug, Clone, Default)]
pub struct RequestView<'a> {
    pub resources: Vec<ResourceView<'a>>,
    pub records: Vec<&'a [u8]>,
}

/// Records below which one core reads them all.
const MIN_PART_RECORDS: usize = 8_192;

impl<'a> RequestView<'a> {
    /// Reads `body`, an `ExportLogsServiceRequest`, down to its records;
    /// resources and scopes are decoded (and checked) whole.
    pub fn read(body: &'a [u8]) -> Result<Self, Unread> {
        Self::read_as(body, true)
    }

    /// [`read`](Self::read) without decoding resources and scopes again
    /// (their attributes are left empty): for a body read whole before.
    pub fn read_records(body: &'a [u8]) -> Result<Self, Unread> {
        Self::read_as(body, false)
    }

    fn read_as(body: &'a [u8], whole: bool) -> Result<Self, Unread> {
        let mut view = Self::default();
        let mut fields = Fields::new(body);
        while let Some((number, value)) = fields.next_field()? {
            if number == 1 {
                let resource = view.resource_logs(value.bytes()?, whole)?;
                view.resources.push(resource);
            }
        }
        Ok(view)
    }

    /// Reads every record (the checks prost makes), on all cores.
    pub fn check_records(&self) -> Result<(), Unread> {
        let parts = slices(&self.records, MIN_PART_RECORDS);
        let read = run_parts(parts, |part| {
            let mut attributes = Vec::new();
            part.iter().try_for_each(|record| {
                attributes.clear();
                read_record(record, &mut attributes).map(drop)
            })
        });
        read.map_err(|_| Unread)?.into_iter().collect()
    }

    fn resource_logs(&mut self, bytes: &'a [u8], whole: bool) -> Result<ResourceView<'a>, Unread> {
        let mut resource: Option<&[u8]> = None;
        let mut scopes = Vec::new();
        let mut fields = Fields::new(bytes);
        while let Some((number, value)) = fields.next_field()? {
            match number {
                1 => once(&mut resource, value.bytes()?)?,
                2 => scopes.push(self.scope_logs(value.bytes()?, whole)?),
                3 => {
                    value.text()?;
                }
                _ => {}
            }
        }
        let attributes = match resource.filter(|_| whole) {
            Some(bytes) => {
                let resource = Resource::decode(bytes).map_err(|_| Unread)?;
                // Decoded on its own, a resource may nest two levels deeper
                // than prost allows in the request: its attributes (field
                // 1, at depth 3 there) are read here at their own depth.
                attributes_at(bytes, 1, 3)?;
                resource.attributes
            }
            None => Vec::new(),
        };
        Ok(ResourceView { attributes, scopes })
    }

    fn scope_logs(&mut self, bytes: &'a [u8], whole: bool) -> Result<ScopeView<'a>, Unread> {
        let mut scope: Option<&'a [u8]> = None;
        let first = self.records.len();
        let mut fields = Fields::new(bytes);
        while let Some((number, value)) = fields.next_field()? {
            match number {
                1 => once(&mut scope, value.bytes()?)?,
                2 => self.records.push(value.bytes()?),
                3 => {
                    value.text()?;
                }
                _ => {}
            }
        }
        let (name, version) = match scope {
            Some(bytes) => scope_names(bytes, whole)?,
            None => ("", ""),
        };
        Ok(ScopeView {
            name,
            version,
            records: first..self.records.len(),
        })
    }
}

/// A `LogRecord` (at depth 3), its attributes appended to `attributes`.
pub fn read_record<'a>(
    bytes: &'a [u8],
    attributes: &mut Vec<AttributeView<'a>>,
) -> Result<RecordView<'a>, Unread> {
    let mut record = RecordView::default();
    let mut body: Option<&'a [u8]> = None;
    let first = attributes.len();
    let mut fields = Fields::new(bytes);
    while let Some((number, value)) = fields.next_field()? {
        match number {
            1 => record.time_unix_nano = value.fixed64()?,
            2 => record.severity_number = value.varint()? as i32,
            3 => record.severity_text = value.text()?,
            5 => once(&mut body, value.bytes()?)?,
            6 => {
                let bytes = value.bytes()?;
                let attribute = match plain_key_value(bytes) {
                    Some(attribute) => attribute,
                    None => key_value(bytes, 4)?,
                };
                check_nested(attribute.1, 5)?;
                attributes.push(attribute);
            }
            7 => {
                value.varint()?;
            }
            8 => {
                value.fixed32()?;
            }
            9 => record.trace_id = value.bytes()?,
            10 => record.span_id = value.bytes()?,
            11 => record.observed_time_unix_nano = value.fixed64()?,
            12 => record.event_name = value.text()?,
            _ => {}
        }
    }
    record.body = match body {
        Some(bytes) => any_value(bytes, 4)?,
        None => None,
    };
    if let Some(body) = record.body {
        check_nested(body, 4)?;
    }
    record.attributes = first..attributes.len();
    Ok(record)
}

/// Sets a singular message field; one sent twice would be merged by prost.
fn once<'a>(slot: &mut Option<&'a [u8]>, bytes: &'a [u8]) -> Result<(), Unread> {
    match slot.replace(bytes) {
        Some(_) => Err(Unread),
        None => Ok(()),
    }
}

/// A scope's name and version; `whole`, the scope is also decoded by
/// prost and its attributes (field 3, at depth 4) read at their depth.
fn scope_names(bytes: &[u8], whole: bool) -> Result<(&str, &str), Unread> {
    if whole {
        InstrumentationScope::decode(bytes).map_err(|_| Unread)?;
        attributes_at(bytes, 3, 4)?;
    }
    let (mut name, mut version) = ("", "");
    let mut fields = Fields::new(bytes);
    while let Some((number, value)) = fields.next_field()? {
        match number {
            1 => name = value.text()?,
            2 => version = value.text()?,
            _ => {}
        }
    }
    Ok((name, version))
}

/// Reads the attributes (field `field`, `KeyValue`s at `depth`) of a
/// resource or scope as they sit in the request, which prost decoded on
/// their own (where they may nest deeper than in the request).
fn attributes_at(bytes: &[u8], field: u32, depth: usize) -> Result<(), Unread> {
    let mut fields = Fields::new(bytes);
    while let Some((number, value)) = fields.next_field()? {
        if number == field {
            let (_, value) = key_value(value.bytes()?, depth)?;
            check_nested(value, depth + 1)?;
        }
    }
    Ok(())
}

/// prost refuses an unknown field in a message at depth 100 (skipping it
/// takes a recursion it has no room for).
fn unknown_field(depth: usize) -> Result<(), Unread> {
    match depth + 1 >= PROST_DEPTH_LIMIT {
        true => Err(Unread),
        false => Ok(()),
    }
}

/// A `KeyValue` of the shape nearly every attribute has (its key, then a
/// value of one string, integer, double or bool, lengths of one byte),
/// read without the general loop; `None` for any other shape, which
/// [`key_value`] reads (or gives up on).
#[inline]
fn plain_key_value(bytes: &[u8]) -> Option<AttributeView<'_>> {
    let [0x0a, key_length, rest @ ..] = bytes else {
        return None;
    };
    let key_length = usize::from(*key_length);
    if key_length >= 0x80 || key_length > rest.len() {
        return None;
    }
    let (key, rest) = rest.split_at(key_length);
    let [0x12, value_length, value @ ..] = rest else {
        return None;
    };
    if *value_length >= 0x80 || usize::from(*value_length) != value.len() {
        return None;
    }
    let value = match value {
        [0x0a, length, text @ ..] if *length < 0x80 && usize::from(*length) == text.len() => {
            ValueView::Str(utf8(text).ok()?)
        }
        [0x18, number @ ..] => ValueView::Int(whole_varint(number)? as i64),
        [0x21, number @ ..] => ValueView::Double(f64::from_le_bytes(number.try_into().ok()?)),
        [0x10, flag] if *flag < 0x80 => ValueView::Bool(*flag != 0),
        [0x2a, length, array @ ..] if *length < 0x80 && usize::from(*length) == array.len() => {
            ValueView::Array(array)
        }
        _ => return None,
    };
    Some((utf8(key).ok()?, value))
}

/// `bytes` as exactly one varint (as prost reads them), else `None`.
fn whole_varint(bytes: &[u8]) -> Option<u64> {
    let mut fields = Fields::new(bytes);
    let value = fields.varint().ok()?;
    fields.is_empty().then_some(value)
}

/// A `KeyValue` message at `depth`: its key and value (nested values left
/// to [`check_nested`]).
pub fn key_value(bytes: &[u8], depth: usize) -> Result<AttributeView<'_>, Unread> {
    check_depth(depth)?;
    let (mut key, mut value) = ("", None);
    let mut fields = Fields::new(bytes);
    while let Some((number, field)) = fields.next_field()? {
        match number {
            1 => key = field.text()?,
            2 => once(&mut value, field.bytes()?)?,
            3 => {
                field.varint()?;
            }
            _ => unknown_field(depth)?,
        }
    }
    let value = match value {
        Some(bytes) => any_value(bytes, depth + 1)?.unwrap_or(ValueView::Null),
        None => ValueView::Null,
    };
    Ok((key, value))
}

/// `value`, an `AnyValue` at `depth`, read to the end: every array item
/// and list entry at its depth (as prost decodes them), each once.
#[inline]
pub fn check_nested(value: ValueView, depth: usize) -> Result<(), Unread> {
    match value {
        ValueView::Array(_) | ValueView::Kvlist(_) => check_nested_values(value, depth),
        _ => Ok(()),
    }
}

fn check_nested_values(value: ValueView, depth: usize) -> Result<(), Unread> {
    match value {
        // Its items are read at depth + 2.
        ValueView::Array(bytes)
            if depth + 2 < PROST_DEPTH_LIMIT && plain_strings(bytes, |_| ()) => {}
        ValueView::Array(bytes) => {
            for item in array_items(bytes, depth + 1)? {
                check_nested(item?, depth + 2)?;
            }
        }
        ValueView::Kvlist(bytes) => {
            for entry in list_entries(bytes, depth + 1)? {
                check_nested(entry?.1, depth + 3)?;
            }
        }
        _ => {}
    }
    Ok(())
}

/// Calls `each` with the strings of an `ArrayValue` whose items each hold
/// just a string of under 126 bytes (tags, as nearly every array attribute
/// is), read without the general loop, and says `true`; `false` for any
/// other shape (`each` may have been called for some items), which the
/// general reader ([`array_items`]) takes.
#[inline]
pub fn plain_strings<'a>(mut bytes: &'a [u8], mut each: impl FnMut(&'a str)) -> bool {
    while let [0x0a, item_length, 0x0a, length, ref rest @ ..] = *bytes {
        let text_length = usize::from(length);
        if item_length >= 0x80 || usize::from(item_length) != text_length + 2 {
            return false;
        }
        let Some((text, after)) = rest.split_at_checked(text_length) else {
            return false;
        };
        let Ok(text) = utf8(text) else {
            return false;
        };
        each(text);
        bytes = after;
    }
    bytes.is_empty()
}

/// An `AnyValue` message at `depth`; `None` when no value is set. Arrays
/// and key-value lists are left in their bytes: [`check_nested`] reads
/// them to the end, the converter one level at a time.
pub fn any_value(bytes: &[u8], depth: usize) -> Result<Option<ValueView<'_>>, Unread> {
    check_depth(depth)?;
    let mut value = None;
    let mut fields = Fields::new(bytes);
    while let Some((number, field)) = fields.next_field()? {
        let read = match number {
            1 => ValueView::Str(field.text()?),
            2 => ValueView::Bool(field.varint()? != 0),
            3 => ValueView::Int(field.varint()? as i64),
            4 => ValueView::Double(f64::from_bits(field.fixed64()?)),
            5 => ValueView::Array(field.bytes()?),
            6 => ValueView::Kvlist(field.bytes()?),
            7 => ValueView::Bytes(field.bytes()?),
            8 => {
                field.varint()?;
                ValueView::Null
            }
            _ => {
                unknown_field(depth)?;
                continue;
            }
        };
        // A oneof set twice: prost would keep the last or merge the two.
        if value.replace(read).is_some() {
            return Err(Unread);
        }
    }
    Ok(value)
}

/// The values of an `ArrayValue` at `depth` (each `Null` when unset).
pub fn array_items(
    bytes: &[u8],
    depth: usize,
) -> Result<impl Iterator<Item = Result<ValueView<'_>, Unread>>, Unread> {
    check_depth(depth)?;
    Ok(repeated(bytes, depth).map(move |item| {
        let value = any_value(item?, depth + 1)?;
        Ok(value.unwrap_or(ValueView::Null))
    }))
}

/// The entries of a `KeyValueList` at `depth`.
pub fn list_entries(
    bytes: &[u8],
    depth: usize,
) -> Result<impl Iterator<Item = Result<AttributeView<'_>, Unread>>, Unread> {
    check_depth(depth)?;
    Ok(repeated(bytes, depth).map(move |entry| key_value(entry?, depth + 1)))
}

/// The messages of field 1 of a message (`values` of arrays and lists).
fn repeated(bytes: &[u8], depth: usize) -> impl Iterator<Item = Result<&[u8], Unread>> {
    let mut fields = Fields::new(bytes);
    let mut failed = false;
    std::iter::from_fn(move || {
        if failed {
            return None;
        }
        loop {
            match fields.next_field() {
                Ok(None) => return None,
                Ok(Some((1, field))) => {
                    let bytes = field.bytes();
                    failed = bytes.is_err();
                    return Some(bytes);
                }
                Ok(Some(_)) => {
                    if let Err(unread) = unknown_field(depth) {
                        failed = true;
                        return Some(Err(unread));
                    }
                }
                Err(unread) => {
                    failed = true;
                    return Some(Err(unread));
                }
            }
        }
    })
}

fn check_depth(depth: usize) -> Result<(), Unread> {
    match depth >= PROST_DEPTH_LIMIT {
        true => Err(Unread),
        false => Ok(()),
    }
}

#[cfg(test)]
#[path = "otlp_view_tests.rs"]
mod tests;
