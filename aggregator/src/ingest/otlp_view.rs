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
//! differently (see [`otlp_wire`]); [`canonical`] reads every record once
//! (on all cores) and, when anything was given up, decodes the body with
//! prost and writes it again as prost writes it, which reads here. Resources
//! and scopes (usually a few per request) are decoded by prost itself. A
//! nested value (arrays, key-value lists) is checked when its record is
//! read and read again, from its bytes, when converted.
//!
//! [`otlp_wire`]: crate::ingest::otlp_wire

use std::ops::Range;

use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::common::v1::{InstrumentationScope, KeyValue};
use opentelemetry_proto::tonic::resource::v1::Resource;
use prost::Message;

use crate::ingest::otlp_wire::{Fields, PROST_DEPTH_LIMIT, Unread};
use crate::ingest::parallel::{parts_for, run_parts};

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
        let parts: Vec<&[&[u8]]> = match parts_for(self.records.len(), MIN_PART_RECORDS) {
            1 => vec![&self.records],
            n => self
                .records
                .chunks(self.records.len().div_ceil(n))
                .collect(),
        };
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
            key_value(value.bytes()?, depth)?;
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
            ValueView::Str(std::str::from_utf8(text).ok()?)
        }
        [0x18, number @ ..] => ValueView::Int(whole_varint(number)? as i64),
        [0x21, number @ ..] => ValueView::Double(f64::from_le_bytes(number.try_into().ok()?)),
        [0x10, flag] if *flag < 0x80 => ValueView::Bool(*flag != 0),
        _ => return None,
    };
    Some((std::str::from_utf8(key).ok()?, value))
}

/// `bytes` as exactly one varint (as prost reads them), else `None`.
fn whole_varint(bytes: &[u8]) -> Option<u64> {
    let mut fields = Fields::new(bytes);
    let value = fields.varint().ok()?;
    fields.is_empty().then_some(value)
}

/// A `KeyValue` message at `depth`: its key and value (checked to the end).
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

/// An `AnyValue` message at `depth`; `None` when no value is set. Arrays
/// and key-value lists are checked to the end here.
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
            5 => {
                let bytes = field.bytes()?;
                for item in array_items(bytes, depth + 1)? {
                    item?;
                }
                ValueView::Array(bytes)
            }
            6 => {
                let bytes = field.bytes()?;
                for entry in list_entries(bytes, depth + 1)? {
                    entry?;
                }
                ValueView::Kvlist(bytes)
            }
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

/// `body` if the view reads it, else the request prost decodes from it,
/// written again as prost writes it (which the view reads); `Err` with
/// prost's reason when it is not an `ExportLogsServiceRequest`.
pub fn canonical(body: bytes::Bytes) -> Result<bytes::Bytes, String> {
    let readable = RequestView::read(&body).and_then(|view| view.check_records());
    if readable.is_ok() {
        return Ok(body);
    }
    let request = ExportLogsServiceRequest::decode(body).map_err(|e| e.to_string())?;
    Ok(request.encode_to_vec().into())
}

#[cfg(test)]
mod tests {
    use opentelemetry_proto::tonic::common::v1::{AnyValue, ArrayValue, KeyValueList, any_value};
    use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
    use prost::encoding::{WireType, encode_key, encode_varint};

    use super::*;

    fn text(value: &str) -> Option<AnyValue> {
        Some(AnyValue {
            value: Some(any_value::Value::StringValue(value.into())),
        })
    }

    fn request(records: Vec<LogRecord>) -> ExportLogsServiceRequest {
        ExportLogsServiceRequest {
            resource_logs: vec![ResourceLogs {
                resource: Some(Resource {
                    attributes: vec![KeyValue {
                        key: "service.name".into(),
                        value: text("svc"),
                        ..Default::default()
                    }],
                    ..Default::default()
                }),
                scope_logs: vec![ScopeLogs {
                    scope: Some(InstrumentationScope {
                        name: "lib".into(),
                        version: "1.2".into(),
                        ..Default::default()
                    }),
                    log_records: records,
                    ..Default::default()
                }],
                ..Default::default()
            }],
        }
    }

    /// A body nested `levels` key-value lists deep.
    fn nested(levels: usize) -> Option<AnyValue> {
        (0..levels).fold(text("leaf"), |inner, _| {
            Some(AnyValue {
                value: Some(any_value::Value::KvlistValue(KeyValueList {
                    values: vec![KeyValue {
                        key: "k".into(),
                        value: inner,
                        ..Default::default()
                    }],
                })),
            })
        })
    }

    #[test]
    fn records_read_in_place_as_prost_decodes_them() {
        let record = LogRecord {
            time_unix_nano: 5,
            observed_time_unix_nano: 6,
            severity_number: 17,
            severity_text: "oops".into(),
            body: text("hello"),
            attributes: vec![
                KeyValue {
                    key: "tags".into(),
                    value: Some(AnyValue {
                        value: Some(any_value::Value::ArrayValue(ArrayValue {
                            values: vec![text("a").unwrap(), AnyValue::default()],
                        })),
                    }),
                    ..Default::default()
                },
                KeyValue {
                    key: "n".into(),
                    value: Some(AnyValue {
                        value: Some(any_value::Value::IntValue(-3)),
                    }),
                    ..Default::default()
                },
                KeyValue {
                    key: "unset".into(),
                    ..Default::default()
                },
            ],
            trace_id: vec![1; 16],
            span_id: vec![2; 8],
            event_name: "e".into(),
            ..Default::default()
        };
        let body = request(vec![record, LogRecord::default()]).encode_to_vec();
        let view = RequestView::read(&body).unwrap();
        assert_eq!(view.check_records(), Ok(()));
        assert_eq!(view.resources.len(), 1);
        assert_eq!(view.resources[0].attributes[0].key, "service.name");
        let scope = &view.resources[0].scopes[0];
        assert_eq!(
            (scope.name, scope.version, scope.records.clone()),
            ("lib", "1.2", 0..2)
        );
        let mut attributes = Vec::new();
        let first = read_record(view.records[0], &mut attributes).unwrap();
        assert_eq!(
            (first.time_unix_nano, first.observed_time_unix_nano),
            (5, 6)
        );
        assert_eq!((first.severity_number, first.severity_text), (17, "oops"));
        assert_eq!(first.body, Some(ValueView::Str("hello")));
        assert_eq!((first.trace_id, first.span_id), (&[1; 16][..], &[2; 8][..]));
        assert_eq!(first.event_name, "e");
        assert_eq!(first.attributes, 0..3);
        assert_eq!(attributes[1], ("n", ValueView::Int(-3)));
        assert_eq!(attributes[2], ("unset", ValueView::Null));
        let ValueView::Array(tags) = attributes[0].1 else {
            panic!("{attributes:?}");
        };
        let items: Vec<_> = array_items(tags, 0).unwrap().collect();
        assert_eq!(items, vec![Ok(ValueView::Str("a")), Ok(ValueView::Null)]);
        let second = read_record(view.records[1], &mut attributes).unwrap();
        assert_eq!((second.attributes, second.body), (3..3, None));
    }

    /// `message` wrapped as field `field` of a message with nothing else.
    fn wrapped(field: u32, message: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        prost::encoding::bytes::encode(field, &message.to_vec(), &mut out);
        out
    }

    /// An `AnyValue` nested `levels` key-value lists deep around a string
    /// value that carries an unknown field (9, a varint).
    fn nested_with_unknown(levels: usize) -> Vec<u8> {
        (0..levels).fold(vec![0x0a, 1, b'x', 0x48, 0x00], |inner, _| {
            let mut key_value = vec![0x0a, 1, b'k'];
            key_value.extend(wrapped(2, &inner));
            wrapped(6, &wrapped(1, &key_value))
        })
    }

    #[test]
    fn unknown_fields_are_read_exactly_as_deep_as_prost_reads_them() {
        for place in ["body", "attribute", "resource", "scope"] {
            let mut accepted = 0;
            for levels in 1..40 {
                let value = nested_with_unknown(levels);
                let mut attribute = vec![0x0a, 1, b'a'];
                attribute.extend(wrapped(2, &value));
                let record = match place {
                    "body" => wrapped(5, &value),
                    "attribute" => wrapped(6, &attribute),
                    _ => Vec::new(),
                };
                let mut scope_logs = wrapped(2, &record);
                if place == "scope" {
                    scope_logs.extend(wrapped(1, &wrapped(3, &attribute)));
                }
                let mut resource_logs = wrapped(2, &scope_logs);
                if place == "resource" {
                    resource_logs.extend(wrapped(1, &wrapped(1, &attribute)));
                }
                let body = wrapped(1, &resource_logs);
                let prost = ExportLogsServiceRequest::decode(body.as_slice()).is_ok();
                let view = RequestView::read(&body).and_then(|view| view.check_records());
                assert_eq!(view.is_ok(), prost, "{place}: {levels} levels");
                accepted += usize::from(prost);
            }
            assert!(accepted > 20 && accepted < 39, "{place}: {accepted}");
        }
    }

    #[test]
    fn plain_attributes_read_as_the_general_reader_reads_them() {
        let long = "k".repeat(200);
        let values = [
            any_value::Value::StringValue("v".into()),
            any_value::Value::StringValue("é".repeat(100)),
            any_value::Value::IntValue(0),
            any_value::Value::IntValue(-1),
            any_value::Value::IntValue(i64::MAX),
            any_value::Value::DoubleValue(-0.5),
            any_value::Value::BoolValue(true),
            any_value::Value::BytesValue(vec![1]),
        ];
        for key in ["", "key", long.as_str()] {
            for value in &values {
                let attribute = KeyValue {
                    key: key.into(),
                    value: Some(AnyValue {
                        value: Some(value.clone()),
                    }),
                    ..Default::default()
                };
                let bytes = attribute.encode_to_vec();
                let general = key_value(&bytes, 4).unwrap();
                if let Some(plain) = plain_key_value(&bytes) {
                    assert_eq!(plain, general, "{key} {value:?}");
                }
                // A second value field, an unknown field, invalid UTF-8:
                // the plain reader leaves each to the general one.
                let mut twice = bytes.clone();
                twice.extend_from_slice(&bytes[bytes.len() - 3..]);
                assert_eq!(plain_key_value(&twice), None);
                let mut unknown = bytes.clone();
                unknown.extend_from_slice(&[0x20, 0x01]);
                assert_eq!(plain_key_value(&unknown), None);
            }
        }
        assert_eq!(plain_key_value(&[0x0a, 0x01, 0xff, 0x12, 0x00]), None);
        assert_eq!(
            plain_key_value(&[0x0a, 0x01, b'k', 0x12, 0x02, 0x0a, 0x00]),
            Some(("k", ValueView::Str("")))
        );
        assert_eq!(
            plain_key_value(&[0x0a, 0x01, b'k', 0x12, 0x03, 0x18, 0x80, 0x00]),
            Some(("k", ValueView::Int(0)))
        );
        assert_eq!(
            plain_key_value(&[0x0a, 0x01, b'k', 0x12, 0x03, 0x18, 0x80, 0x80]),
            None
        );
    }

    #[test]
    fn odd_encodings_go_to_prost_and_come_back_readable() {
        let canonical_body = request(vec![LogRecord {
            body: text("x"),
            ..Default::default()
        }])
        .encode_to_vec();
        // The same record with its body sent twice: prost merges the two.
        let record = LogRecord {
            body: text("x"),
            ..Default::default()
        }
        .encode_to_vec();
        let mut twice = record.clone();
        twice.extend_from_slice(&record);
        let mut scope = Vec::new();
        encode_key(2, WireType::LengthDelimited, &mut scope);
        encode_varint(twice.len() as u64, &mut scope);
        scope.extend_from_slice(&twice);
        let mut resource = Vec::new();
        encode_key(2, WireType::LengthDelimited, &mut resource);
        encode_varint(scope.len() as u64, &mut resource);
        resource.extend_from_slice(&scope);
        let mut body = Vec::new();
        encode_key(1, WireType::LengthDelimited, &mut body);
        encode_varint(resource.len() as u64, &mut body);
        body.extend_from_slice(&resource);
        let view = RequestView::read(&body).unwrap();
        assert_eq!(view.check_records(), Err(Unread));
        let fixed = canonical(body.into()).unwrap();
        let view = RequestView::read(&fixed).unwrap();
        let record = read_record(view.records[0], &mut Vec::new()).unwrap();
        assert_eq!(record.body, Some(ValueView::Str("x")));
        // Readable bytes pass as they are; bytes prost refuses are refused.
        let same = canonical(canonical_body.clone().into()).unwrap();
        assert_eq!(same, canonical_body);
        let mut broken = canonical_body.clone();
        broken.truncate(broken.len() - 1);
        assert!(canonical(broken.into()).is_err());
    }

    #[test]
    fn nesting_is_read_exactly_as_deep_as_prost_reads_it() {
        for place in ["body", "attribute", "resource", "scope"] {
            let deepest = (1..60)
                .take_while(|&levels| {
                    let mut request = request(vec![LogRecord::default()]);
                    let attribute = KeyValue {
                        key: "deep".into(),
                        value: nested(levels),
                        ..Default::default()
                    };
                    let scope_logs = &mut request.resource_logs[0].scope_logs[0];
                    match place {
                        "body" => scope_logs.log_records[0].body = nested(levels),
                        "attribute" => scope_logs.log_records[0].attributes.push(attribute),
                        "scope" => scope_logs
                            .scope
                            .as_mut()
                            .unwrap()
                            .attributes
                            .push(attribute),
                        _ => {
                            let resource = request.resource_logs[0].resource.as_mut().unwrap();
                            resource.attributes.push(attribute);
                        }
                    }
                    let body = request.encode_to_vec();
                    let prost = ExportLogsServiceRequest::decode(body.as_slice()).is_ok();
                    let view = RequestView::read(&body).and_then(|view| view.check_records());
                    assert_eq!(view.is_ok(), prost, "{place}: {levels} levels");
                    prost
                })
                .last();
            assert!(
                deepest.is_some_and(|levels| levels > 20 && levels < 59),
                "{deepest:?}"
            );
        }
    }
}
