//! Tests of `otlp_view`: the view against prost, record by record and at
//! prost's depth limits.

use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, ArrayValue, KeyValueList, any_value};
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};

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

/// `leaf` nested `levels` key-value lists deep.
fn nested_around(levels: usize, leaf: Option<AnyValue>) -> Option<AnyValue> {
    (0..levels).fold(leaf, |inner, _| {
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
        strings(&["canary", "mobile"]),
        strings(&[]),
        strings(&[long.as_str()]),
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
            // A second value field (a bool), an unknown field, invalid
            // UTF-8: the plain reader leaves each to the general one.
            let mut twice = bytes.clone();
            twice.extend_from_slice(&[0x12, 0x02, 0x10, 0x01]);
            assert_eq!(plain_key_value(&twice), None);
            let mut unknown = bytes.clone();
            unknown.extend_from_slice(&[0x20, 0x01]);
            assert_eq!(plain_key_value(&unknown), None);
        }
    }
    // Short keys with short values, arrays of strings among them, are
    // read by the plain reader.
    for value in [&values[0], &values[2], &values[5], &values[8], &values[9]] {
        let attribute = KeyValue {
            key: "key".into(),
            value: Some(AnyValue {
                value: Some(value.clone()),
            }),
            ..Default::default()
        };
        let bytes = attribute.encode_to_vec();
        assert!(plain_key_value(&bytes).is_some(), "{value:?}");
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

fn strings(items: &[&str]) -> any_value::Value {
    any_value::Value::ArrayValue(ArrayValue {
        values: items.iter().map(|item| text(item).unwrap()).collect(),
    })
}

/// `value`'s items by the general reader: strings, or `None` when one
/// item is not a string.
fn general_strings(bytes: &[u8]) -> Option<Vec<&str>> {
    array_items(bytes, 6)
        .unwrap()
        .map(|item| match item.unwrap() {
            ValueView::Str(text) => Some(text),
            _ => None,
        })
        .collect()
}

#[test]
fn plain_string_arrays_read_as_the_general_reader_reads_them() {
    let long = "t".repeat(125);
    let longer = "t".repeat(126);
    let mixed = any_value::Value::ArrayValue(ArrayValue {
        values: vec![
            text("a").unwrap(),
            AnyValue {
                value: Some(any_value::Value::IntValue(1)),
            },
        ],
    });
    let cases = [
        (strings(&["canary", "mobile"]), true),
        (strings(&[]), true),
        (strings(&["", "é", long.as_str()]), true),
        (strings(&["a", longer.as_str()]), false),
        (mixed, false),
    ];
    for (value, plain) in cases {
        let any_value::Value::ArrayValue(array) = &value else {
            unreachable!()
        };
        let bytes = array.encode_to_vec();
        let mut read = Vec::new();
        assert_eq!(plain_strings(&bytes, |t| read.push(t)), plain, "{value:?}");
        if plain {
            assert_eq!(Some(read), general_strings(&bytes), "{value:?}");
        }
        check_nested(ValueView::Array(&bytes), 5).unwrap();
    }
    // Invalid UTF-8 and a cut item are left to the general reader, which
    // gives up on them as prost refuses them.
    for bytes in [
        &[0x0a, 0x03, 0x0a, 0x01, 0xff][..],
        &[0x0a, 0x03, 0x0a, 0x01],
    ] {
        assert!(!plain_strings(bytes, |_| ()));
        assert_eq!(check_nested(ValueView::Array(bytes), 5), Err(Unread));
    }
}

#[test]
fn nesting_is_read_exactly_as_deep_as_prost_reads_it() {
    // Leaves of each kind the plain readers take or leave, at every depth
    // parity: a string, arrays of strings (empty too), an array holding one.
    let array = |value| AnyValue { value: Some(value) };
    let leaves = [
        text("leaf"),
        Some(array(strings(&["a", "b"]))),
        Some(array(strings(&[]))),
        Some(array(any_value::Value::ArrayValue(ArrayValue {
            values: vec![array(strings(&["a"]))],
        }))),
    ];
    for (place, leaf) in ["body", "attribute", "resource", "scope"]
        .into_iter()
        .flat_map(|place| leaves.iter().map(move |leaf| (place, leaf)))
    {
        let deepest = (1..60)
            .take_while(|&levels| {
                let nested = |levels| nested_around(levels, leaf.clone());
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
                assert_eq!(view.is_ok(), prost, "{place}: {levels} levels, {leaf:?}");
                prost
            })
            .last();
        assert!(
            deepest.is_some_and(|levels| levels > 20 && levels < 59),
            "{place} {leaf:?}: {deepest:?}"
        );
    }
}
