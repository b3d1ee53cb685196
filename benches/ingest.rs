//! NDJSON decoding alone: a request body of request-log lines (shaped like
//! `gen_logs.py --format ndjson`) to one Arrow batch, as the HTTP ingest
//! path does it (parse and flatten, check types, arrow-json), without the
//! network or the leaves.
//!
//! `cargo bench --bench ingest`

use std::hint::black_box;

#[global_allocator]
// The same allocator as the `shoal` binary.
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use shoal_aggregator::ingest::json_rows::parse_body;
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
            let parsed = parse_body(&body, None).expect("JSON");
            let converted = rows_to_batch(None, &parsed.rows).expect("batch");
            black_box(converted.batch.expect("rows").num_rows())
        })
    });
    group.finish();
}

criterion_group!(benches, decode);
criterion_main!(benches);
