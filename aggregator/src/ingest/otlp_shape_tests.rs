use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value::Value as Any;
use opentelemetry_proto::tonic::common::v1::{
    AnyValue, ArrayValue, InstrumentationScope, KeyValue, KeyValueList,
};
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use opentelemetry_proto::tonic::resource::v1::Resource;
use prost::Message;

use crate::ingest::decode_lines::{Resume, start_columns};
use crate::ingest::otlp_columns::{Item, convert_part, convert_table_shaped, plan};
use crate::ingest::otlp_view::RequestView;
use arrow::array::Array;

/// A deterministic stream of choices.
struct Dice(u64);

impl Dice {
    fn roll(&mut self, sides: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % sides
    }
}

fn kv(key: &str, value: Any) -> KeyValue {
    KeyValue {
        key: key.to_string(),
        value: Some(AnyValue { value: Some(value) }),
        ..Default::default()
    }
}

fn strings(items: &[&str]) -> Any {
    let values = items.iter().map(|item| AnyValue {
        value: Some(Any::StringValue(item.to_string())),
    });
    Any::ArrayValue(ArrayValue {
        values: values.collect(),
    })
}

/// A record like the one before it mostly, `odd` in one way now and then:
/// keys reordered, missing, added, given twice or named like a record
/// column, values of another kind, nested values that are not tags, no
/// time, a body that is not text, ids, an event name.
fn record(dice: &mut Dice, i: u64, odd: u64) -> LogRecord {
    let mut attributes = vec![
        kv("endpoint", Any::StringValue(format!("/op{}", i % 7))),
        kv("method", Any::StringValue("GET".into())),
        kv("status", Any::IntValue([200, 404, 500][i as usize % 3])),
        kv("latency_ms", Any::DoubleValue(i as f64 * 0.25)),
        kv("tags", strings(&["canary", "mobile"][..(i % 3) as usize])),
        kv("host", Any::StringValue(format!("web-{}", i % 5))),
    ];
    let mut record = LogRecord {
        time_unix_nano: 1_763_546_400_000_000_000 + i * 1_000_000,
        severity_number: 9,
        body: Some(AnyValue {
            value: Some(Any::StringValue(format!("done {i}"))),
        }),
        ..Default::default()
    };
    match (dice.roll(odd), dice.roll(22)) {
        (0, 0) => attributes.swap(0, 1),
        (0, 1) => drop(attributes.remove(2)),
        (0, 2) => attributes.push(kv("extra", Any::BoolValue(true))),
        (0, 3) => attributes.push(kv("status", Any::IntValue(201))),
        (0, 4) => attributes.push(kv("time", Any::StringValue("then".into()))),
        (0, 5) => attributes[2] = kv("status", Any::StringValue("teapot".into())),
        (0, 6) => attributes[3] = kv("latency_ms", Any::IntValue(7)),
        (0, 7) => attributes[3] = kv("latency_ms", Any::DoubleValue(f64::NAN)),
        (0, 8) => attributes[4] = kv("tags", Any::StringValue("solo".into())),
        (0, 9) => {
            let mixed = Any::ArrayValue(ArrayValue {
                values: vec![AnyValue {
                    value: Some(Any::IntValue(1)),
                }],
            });
            attributes[4] = kv("tags", mixed)
        }
        (0, 10) => {
            let list = Any::KvlistValue(KeyValueList {
                values: vec![kv("a", Any::IntValue(1))],
            });
            attributes[5] = kv("host", list)
        }
        (0, 11) => attributes.push(kv("tags", strings(&["again"]))),
        (0, 12) => attributes.push(kv("zones", strings(&["a", "b"]))),
        (0, 13) => attributes.insert(0, kv("area", strings(&["x"]))),
        (0, 14) => attributes.push(kv("raw", Any::BytesValue(vec![1, 2, 254]))),
        (0, 15) => record.time_unix_nano = 0,
        (0, 16) => {
            record.time_unix_nano = 0;
            record.observed_time_unix_nano = 1_763_546_400_000_000_000;
        }
        (0, 17) => {
            record.body = Some(AnyValue {
                value: Some(Any::IntValue(3)),
            })
        }
        (0, 18) => record.body = None,
        (0, 19) => {
            record.trace_id = vec![7; 16];
            record.span_id = vec![0; 8];
        }
        (0, 20) => record.event_name = "login".into(),
        (0, 21) => {
            record.severity_number = 0;
            record.severity_text = "odd".into();
        }
        _ => {}
    }
    record.attributes = attributes;
    record
}

/// Two resources (one with attributes, one without), each with a named
/// scope and an unnamed one.
fn request(records: u64, odd: u64, seed: u64) -> Vec<u8> {
    let mut dice = Dice(seed);
    let mut i = 0;
    let mut scope = |name: &str| {
        let log_records = (0..records / 4)
            .map(|_| {
                i += 1;
                record(&mut dice, i, odd)
            })
            .collect();
        ScopeLogs {
            scope: Some(InstrumentationScope {
                name: name.to_string(),
                version: name.repeat(2),
                ..Default::default()
            }),
            log_records,
            ..Default::default()
        }
    };
    let first = ResourceLogs {
        resource: Some(Resource {
            attributes: vec![
                kv("service.name", Any::StringValue("svc".into())),
                kv("pod", Any::IntValue(3)),
            ],
            ..Default::default()
        }),
        scope_logs: vec![scope("lib"), scope("")],
        ..Default::default()
    };
    let second = ResourceLogs {
        scope_logs: vec![scope("other"), scope("")],
        ..Default::default()
    };
    ExportLogsServiceRequest {
        resource_logs: vec![first, second],
    }
    .encode_to_vec()
}

/// Records read by shape convert exactly as the general way converts
/// them: the same batch, the same records stored, the same rejections.
#[test]
fn shaped_records_convert_as_the_general_way_does() {
    for (seed, odd) in [(1, 2), (2, 4), (3, 8), (4, 40), (5, 1_000)] {
        let body = request(2_000, odd, seed);
        let view = RequestView::read(&body).unwrap();
        let plan = plan(&view, Some("t"));
        let convert = |shapes| {
            convert_table_shaped(&view, &plan, "t", None, &Resume::default(), shapes).unwrap()
        };
        let (quick, general) = (convert(true), convert(false));
        assert_eq!(quick.batch, general.batch, "seed {seed}");
        assert_eq!(quick.lines, general.lines, "seed {seed}");
        let errors = |decoded: &crate::ingest::decode_lines::Decoded| {
            let errors = decoded.errors.iter();
            errors
                .map(|e| (e.line, e.reason.clone()))
                .collect::<Vec<_>>()
        };
        assert_eq!(errors(&quick), errors(&general), "seed {seed}");
        assert!(!general.errors.is_empty() || odd > 100, "seed {seed}");
    }
}

/// Records alike are read by shape once one has been converted, across
/// resources (each with its own attributes) and scopes, and odd ones now
/// and then do not stop that.
#[test]
fn records_alike_are_read_by_shape() {
    let body = request(4_000, 50, 9);
    let view = RequestView::read(&body).unwrap();
    let mut first = serde_json::Map::new();
    first.insert("pod".to_string(), serde_json::json!(3));
    let resources = [first, serde_json::Map::new()];
    let mut items: Vec<Item> = Vec::new();
    for (resource, columns) in view.resources.iter().zip(&resources) {
        for scope in &resource.scopes {
            for &record in &view.records[scope.records.clone()] {
                items.push((items.len() + 1, record, columns, scope.name, scope.version));
            }
        }
    }
    let (chunk, unread) = convert_part(&items, start_columns(None), true);
    assert!(!unread);
    assert_eq!(chunk.lines.len() + chunk.errors.len(), items.len());
    assert!(chunk.shaped > 3_500, "{} of 4000 by shape", chunk.shaped);
    // Each resource's records (the first 2,000) took its attributes.
    let first_rows = chunk.lines.iter().filter(|&&line| line <= 2_000).count();
    let batch = crate::ingest::merge::merge_chunks(vec![chunk], &start_columns(None), |_, _| {
        unreachable!("one chunk")
    })
    .unwrap()
    .unwrap()
    .batch
    .unwrap();
    let pods = batch.column_by_name("pod").unwrap();
    assert_eq!(pods.len() - pods.null_count(), first_rows);
    assert!(first_rows > 1_900 && batch.num_rows() - first_rows > 1_900);
}
