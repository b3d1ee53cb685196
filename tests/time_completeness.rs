//! Completeness in time over real processes: leaves holding different
//! minutes, one SIGKILLed, and the answer's `time_completeness` marking
//! exactly the minutes that leaf held, with the share it held there.

mod common;

use std::sync::Arc;
use std::time::Duration;

use arrow::array::{ArrayRef, RecordBatch, StringArray, TimestampMillisecondArray};
use arrow::datatypes::{DataType, Field, Schema, TimeUnit};
use common::*;
use serde_json::{Value, json};

/// A whole minute, so that `date_bin` buckets start on it.
const START_MS: i64 = 1_763_000_040_000;
const MINUTE_MS: i64 = 60_000;
const MINUTES: usize = 8;

/// The minutes `[from, to)` each leaf holds, one row a second: leaf 0
/// alone holds minute 0 and shares minute 1 with leaf 1.
const LEAF_MINUTES: [(i64, i64); 4] = [(0, 2), (1, 4), (4, 6), (6, 8)];

const SQL: &str = "SELECT date_bin(INTERVAL '1 minute', time) AS bucket, count(*) AS n \
                   FROM events GROUP BY 1 ORDER BY 1";

fn rows_for(leaf: usize) -> RecordBatch {
    let (from, to) = LEAF_MINUTES[leaf];
    let times: Vec<i64> = (from * 60..to * 60)
        .map(|second| START_MS + second * 1_000)
        .collect();
    let schema = Arc::new(Schema::new(vec![
        Field::new(
            "time",
            DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into())),
            false,
        ),
        Field::new("leaf", DataType::Utf8, false),
    ]));
    let columns: Vec<ArrayRef> = vec![
        Arc::new(TimestampMillisecondArray::from(times.clone()).with_timezone("UTC")),
        Arc::new(StringArray::from_iter_values(
            times.iter().map(|_| format!("leaf-{leaf}")),
        )),
    ];
    RecordBatch::try_new(schema, columns).unwrap()
}

/// Rows leaf `leaf` holds in minute `minute`.
fn held(leaf: usize, minute: i64) -> f64 {
    let (from, to) = LEAF_MINUTES[leaf];
    if (from..to).contains(&minute) {
        60.0
    } else {
        0.0
    }
}

/// The share of minute `minute`'s rows that leaf `leaf` holds.
fn share_of(leaf: usize, minute: i64) -> f64 {
    let total: f64 = (0..LEAF_MINUTES.len()).map(|l| held(l, minute)).sum();
    held(leaf, minute) / total
}

fn time_buckets() -> Value {
    json!({
        "column": "bucket",
        "start_ms": START_MS,
        "end_ms": START_MS + MINUTES as i64 * MINUTE_MS,
        "step_ms": MINUTE_MS,
    })
}

/// `POST /api/v1/query` with `time_buckets`: status and answer.
fn bucketed_query(stack_http: std::net::SocketAddr, buckets: Value) -> (u16, Value) {
    let body = json!({ "sql": SQL, "time_buckets": buckets }).to_string();
    let (status, _, body) = http_request(
        stack_http,
        "POST",
        "/api/v1/query",
        &[("content-type", "application/json")],
        body.as_bytes(),
    );
    (status, serde_json::from_slice(&body).expect("JSON answer"))
}

fn missing(answer: &Value) -> Vec<f64> {
    answer["time_completeness"]["missing"]
        .as_array()
        .unwrap_or_else(|| panic!("no time_completeness: {answer}"))
        .iter()
        .map(|share| share.as_f64().unwrap())
        .collect()
}

/// Waits until the aggregator's answers count every row and its catalog
/// (from status calls, every second, with the time spans the missing
/// shares are computed from) holds every row too: a catalog polled
/// between two leaves' ingests knows one leaf's spans only.
fn wait_for_rows(http: std::net::SocketAddr, rows: u64) {
    let mut last = (Value::Null, Value::Null);
    for _ in 0..100 {
        let (status, answer) = http_query(http, "SELECT count(*) FROM events", &[]);
        let (_, _, tables) = http_request(http, "GET", "/api/v1/tables", &[], b"");
        let tables: Value = serde_json::from_slice(&tables).unwrap_or(Value::Null);
        let catalog_rows = tables["tables"]
            .as_array()
            .and_then(|tables| tables.iter().find(|table| table["name"] == "events"))
            .map(|table| table["rows"].clone());
        if status == 200 && answer["rows"][0][0] == rows && catalog_rows == Some(rows.into()) {
            return;
        }
        last = (answer, tables);
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("the aggregator never saw {rows} rows: {last:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_leaf_marks_the_minutes_it_held() {
    let mut stack = stack::Stack::start(LEAF_MINUTES.len());
    let mut total_rows = 0;
    for (leaf, process) in stack.leaves.iter().enumerate() {
        let mut client = process.client().await;
        ingest(&mut client, "events", &[rows_for(leaf)])
            .await
            .unwrap();
        // The leaf reports how its rows spread over time.
        let status = status(&mut client).await;
        let table = &status.tables[0];
        let (from, to) = LEAF_MINUTES[leaf];
        let span_rows: u64 = table.spans.iter().map(|s| s.rows).sum();
        assert_eq!(span_rows, table.rows);
        assert_eq!(
            table.spans.iter().map(|s| s.min_time_micros).min(),
            Some((START_MS + from * MINUTE_MS) * 1_000)
        );
        assert_eq!(
            table.spans.iter().map(|s| s.max_time_micros).max(),
            Some((START_MS + to * MINUTE_MS - 1_000) * 1_000)
        );
        total_rows += table.rows;
    }
    let addresses: Vec<String> = stack.leaves.iter().map(|l| l.address.to_string()).collect();
    // Leaves 0 and 1 behind one child aggregator, 2 and 3 behind another.
    let left = AggregatorProcess::start(&addresses[0..2], &[]);
    let right = AggregatorProcess::start(&addresses[2..4], &[]);
    let root = AggregatorProcess::start(&[left.flight.to_string(), right.flight.to_string()], &[]);
    let http = stack.aggregator.http;
    wait_for_rows(http, total_rows);
    wait_for_rows(root.http, total_rows);

    // All leaves up: nothing missing, asked-for buckets or inferred ones.
    let (status, answer) = bucketed_query(http, time_buckets());
    assert_eq!(status, 200, "{answer}");
    assert_eq!(missing(&answer), vec![0.0; MINUTES]);
    assert_eq!(answer["time_completeness"]["column"], "bucket");
    assert_eq!(answer["time_completeness"]["start_ms"], START_MS);
    assert_eq!(answer["time_completeness"]["step_ms"], MINUTE_MS);
    let (status, inferred) = http_query(http, SQL, &[]);
    assert_eq!(status, 200, "{inferred}");
    assert_eq!(inferred["time_completeness"]["start_ms"], START_MS);
    assert_eq!(inferred["time_completeness"]["step_ms"], MINUTE_MS);
    assert_eq!(missing(&inferred), vec![0.0; MINUTES]);
    let (_, tree) = bucketed_query(root.http, time_buckets());
    assert_eq!(missing(&tree), vec![0.0; MINUTES]);

    stack.leaves[0].kill();
    let (status, answer) = bucketed_query(http, time_buckets());
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["completeness"]["leaves_answered"], 3);
    let shares = missing(&answer);
    for (minute, share) in shares.iter().enumerate() {
        let expected = share_of(0, minute as i64);
        if expected == 0.0 {
            assert_eq!(*share, 0.0, "minute {minute}: {shares:?}");
        } else {
            // Rows spread uniformly over a block's range: near, not exact.
            assert!(
                (share - expected).abs() < 0.01,
                "minute {minute}: {share} vs {expected}: {shares:?}"
            );
        }
    }
    assert_eq!(shares[0], 1.0, "{shares:?}");

    // Inferred from the answer, which now starts at minute 1.
    let (_, inferred) = http_query(http, SQL, &[]);
    assert_eq!(
        inferred["time_completeness"]["start_ms"],
        START_MS + MINUTE_MS
    );
    let inferred_shares = missing(&inferred);
    assert_eq!(inferred_shares.len(), MINUTES - 1);
    assert_eq!(inferred_shares[0], shares[1]);
    assert!(inferred_shares[1..].iter().all(|share| *share == 0.0));

    // Through a child aggregator the spans arrive joined: the left one
    // answered for half its leaves, so half its rows count as missing;
    // minutes only the right one held are whole.
    let (status, tree) = bucketed_query(root.http, time_buckets());
    assert_eq!(status, 200, "{tree}");
    let tree_shares = missing(&tree);
    assert_eq!(tree_shares[0], 0.5, "{tree_shares:?}");
    assert!(tree_shares[1] > 0.0, "{tree_shares:?}");
    assert_eq!(&tree_shares[4..], &[0.0; 4], "{tree_shares:?}");
}

#[test]
fn bad_time_buckets_are_refused_naming_the_field() {
    let stack = stack::Stack::start(1);
    let bucket = |start_ms: i64, end_ms: i64, step_ms: i64, column: &str| json!({"column": column, "start_ms": start_ms, "end_ms": end_ms, "step_ms": step_ms});
    let http = stack.aggregator.http;
    let cases = [
        (bucket(0, 60_000, 0, "bucket"), "time_buckets.step_ms"),
        (bucket(60_000, 0, 1_000, "bucket"), "time_buckets.end_ms"),
        (bucket(0, 10_001, 1, "bucket"), "at most 10000 buckets"),
        (json!({"column": "bucket"}), "time_buckets"),
        (bucket(0, 60_000, 1_000, "nope"), "time_buckets.column"),
    ];
    for (buckets, named) in cases {
        let body = json!({ "sql": "SELECT now() AS bucket", "time_buckets": buckets });
        let (status, _, body) = http_request(
            http,
            "POST",
            "/api/v1/query",
            &[("content-type", "application/json")],
            body.to_string().as_bytes(),
        );
        let answer: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(status, 400, "{buckets}: {answer}");
        let error = answer["error"].as_str().unwrap();
        assert!(error.contains(named), "{buckets}: {error}");
    }
    // A query that reads no leaf still gets its buckets, all complete.
    let body = json!({ "sql": "SELECT now() AS bucket", "time_buckets": bucket(0, 180_000, 60_000, "bucket") });
    let (status, _, body) = http_request(
        http,
        "POST",
        "/api/v1/query",
        &[("content-type", "application/json")],
        body.to_string().as_bytes(),
    );
    let answer: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(status, 200, "{answer}");
    assert_eq!(
        answer["time_completeness"]["missing"],
        json!([0.0, 0.0, 0.0])
    );
}
