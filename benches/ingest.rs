//! Ingest decoding alone, without the network or the leaves: a request body
//! of request-log lines (shaped like `gen_logs.py --format ndjson`) to one
//! Arrow batch as the HTTP ingest path does it (lines parsed straight into
//! column builders, on all cores), and the former path kept for the JSON
//! array bodies (a `serde_json` map per row, then the same builders); and
//! the same records as one OTLP protobuf export (decoded, then records
//! straight to columns as the server does, and by way of maps).
//!
//! `cargo bench --bench ingest`

use std::hint::black_box;

#[global_allocator]
// The same allocator as the `shoal` binary (which also turns transparent
// huge pages off, src/huge_pages.rs; these loops run warm, where that
// changes little).
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, ArrayValue, KeyValue, any_value};
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use prost::Message;
use shoal_aggregator::ingest::decode_lines::Resume;
use shoal_aggregator::ingest::json_rows::parse_body;
use shoal_aggregator::ingest::ndjson::decode_body;
use shoal_aggregator::ingest::otlp_columns::{convert_table, plan};
use shoal_aggregator::ingest::otlp_rows::rows_from_request;
use shoal_aggregator::ingest::otlp_view::RequestView;
use shoal_aggregator::ingest::to_arrow::rows_to_batch;

const LINES: usize = 20_000;

fn body() -> Vec<u8> {
    let mut body = String::new();
    for i in 0..LINES {
        body.push_str(&format!(
            concat!(
                r#"{{"time":"2026-11-19T10:{:02}:{:02}.{:03}Z","service":"svc-{}","endpoint":"/api/v1/op{}","#,
                r#""method":"GET","status":{},"latency_ms":{}.{},"bytes_sent":{},"region":"eu-west","#,
                r#""host":"web-{:04}","user_id":{},"user_agent":"agent-{}","tags":["canary","mobile"]}}"#,
                "\n"
            ),
            (i / 60) % 60,
            i % 60,
            i % 1000,
            i % 40,
            i % 25,
            if i % 20 == 0 { 500 } else { 200 },
            i % 300,
            i % 1000,
            1000 + i * 7 % 50_000,
            i % 5000,
            i * 31 % 1_000_000,
            i % 50
        ));
    }
    body.into_bytes()
}

fn decode(c: &mut Criterion) {
    let body = body();
    let mut group = c.benchmark_group("ndjson_decode");
    group.throughput(Throughput::Elements(LINES as u64));
    group.bench_function("20000_request_log_lines", |b| {
        b.iter(|| {
            let decoded = decode_body(&body, None, None, &Resume::default()).expect("JSON");
            black_box(decoded.batch.expect("rows").num_rows())
        })
    });
    group.bench_function("20000_request_log_lines_as_maps", |b| {
        b.iter(|| {
            let parsed = parse_body(&body, None).expect("JSON");
            let converted = rows_to_batch(None, &parsed.rows).expect("batch");
            black_box(converted.batch.expect("rows").num_rows())
        })
    });
    group.finish();
}

fn attribute(key: &str, value: any_value::Value) -> KeyValue {
    KeyValue {
        key: key.to_string(),
        value: Some(AnyValue { value: Some(value) }),
        ..Default::default()
    }
}

/// The request-log records as one OTLP export, encoded.
fn otlp_body() -> Vec<u8> {
    let text = |value: String| any_value::Value::StringValue(value);
    let int = any_value::Value::IntValue;
    let log_records = (0..LINES)
        .map(|i| LogRecord {
            time_unix_nano: 1_763_546_400_000_000_000 + i as u64 * 1_000_000,
            severity_number: if i % 20 == 0 { 17 } else { 9 },
            body: Some(AnyValue {
                value: Some(text(format!("GET /api/v1/op{} done", i % 25))),
            }),
            trace_id: (i as u128 * 7919).to_be_bytes().to_vec(),
            span_id: (i as u64 * 104_729).to_be_bytes().to_vec(),
            attributes: vec![
                attribute("endpoint", text(format!("/api/v1/op{}", i % 25))),
                attribute("method", text("GET".into())),
                attribute("status", int(if i % 20 == 0 { 500 } else { 200 })),
                attribute(
                    "latency_ms",
                    any_value::Value::DoubleValue((i % 300) as f64 + 0.5),
                ),
                attribute("bytes_sent", int(1000 + (i * 7 % 50_000) as i64)),
                attribute("host", text(format!("web-{:04}", i % 5000))),
                attribute("user_id", int((i * 31 % 1_000_000) as i64)),
                attribute(
                    "tags",
                    any_value::Value::ArrayValue(ArrayValue {
                        values: ["canary", "mobile"]
                            .map(|tag| AnyValue {
                                value: Some(text(tag.into())),
                            })
                            .into(),
                    }),
                ),
            ],
            ..Default::default()
        })
        .collect();
    ExportLogsServiceRequest {
        resource_logs: vec![ResourceLogs {
            resource: Some(opentelemetry_proto::tonic::resource::v1::Resource {
                attributes: vec![
                    attribute("service.name", text("svc-1".into())),
                    attribute("cloud.region", text("eu-west".into())),
                ],
                ..Default::default()
            }),
            scope_logs: vec![ScopeLogs {
                log_records,
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
    .encode_to_vec()
}

fn decode_otlp(c: &mut Criterion) {
    let body = otlp_body();
    let mut group = c.benchmark_group("otlp_decode");
    group.throughput(Throughput::Elements(LINES as u64));
    group.bench_function("20000_log_records", |b| {
        b.iter(|| {
            let request = RequestView::read(&body).expect("protobuf");
            let plan = plan(&request, None);
            let decoded =
                convert_table(&request, &plan, "svc-1", None, &Resume::default()).expect("batch");
            black_box(decoded.batch.expect("rows").num_rows())
        })
    });
    group.bench_function("20000_log_records_as_maps", |b| {
        b.iter(|| {
            let request = ExportLogsServiceRequest::decode(body.as_slice()).expect("protobuf");
            let rows = rows_from_request(request, None);
            let table_rows = rows.tables.get("svc-1").expect("table");
            let converted = rows_to_batch(None, table_rows).expect("batch");
            black_box(converted.batch.expect("rows").num_rows())
        })
    });
    group.finish();
}

criterion_group!(benches, decode, decode_otlp);
criterion_main!(benches);
