//! A fleet for the browser tests and the rows they load: leaves on fixed
//! addresses and directories (so that every process can be restarted where
//! the others look for it) under one aggregator, and request-log rows whose
//! every field follows from their index (several services with different
//! shares, a status, a latency), sent as NDJSON or as an Arrow batch.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use arrow::array::{
    ArrayRef, Float64Array, Int64Array, RecordBatch, StringArray, TimestampMillisecondArray,
};
use arrow::datatypes::{DataType, Field, Schema, TimeUnit};
use serde_json::{Value, json};

use super::{AggregatorProcess, LeafProcess, free_address, http_query, http_request, shm_tempdir};

pub const MINUTE_MS: i64 = 60_000;
pub const HOUR_MS: i64 = 3_600_000;

/// Services with different shares of the rows (5, 4, 3, 2, 1 in 15), so
/// that every ranking by count is strict.
pub const SERVICES: [&str; 5] = ["api", "auth", "cart", "search", "web"];
const SERVICE_PATTERN: [usize; 15] = [0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 3, 3, 4];

/// Milliseconds since the Unix epoch, now.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// One generated row.
pub struct Row {
    pub time_ms: i64,
    pub service: &'static str,
    pub status: i64,
    pub latency_ms: f64,
}

/// Row `index` at `time_ms`: its service, status and latency follow from
/// the index alone.
pub fn row(index: i64, time_ms: i64) -> Row {
    let service = SERVICE_PATTERN[index as usize % SERVICE_PATTERN.len()];
    Row {
        time_ms,
        service: SERVICES[service],
        status: if index % 11 == 0 { 500 } else { 200 },
        latency_ms: ((index * 37) % 400) as f64 / 4.0 + 1.0 + 10.0 * service as f64,
    }
}

/// The rows as an ingest body (`time` in epoch milliseconds).
pub fn ndjson(rows: &[Row]) -> Vec<u8> {
    let mut body = String::new();
    for r in rows {
        body.push_str(
            &json!({"time": r.time_ms, "service": r.service, "status": r.status, "latency_ms": r.latency_ms})
                .to_string(),
        );
        body.push('\n');
    }
    body.into_bytes()
}

/// The rows as an Arrow batch, for a leaf's own ingest call.
pub fn arrow_batch(rows: &[Row]) -> RecordBatch {
    let schema = Arc::new(Schema::new(vec![
        Field::new(
            "time",
            DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into())),
            false,
        ),
        Field::new("service", DataType::Utf8, false),
        Field::new("status", DataType::Int64, false),
        Field::new("latency_ms", DataType::Float64, false),
    ]));
    let columns: Vec<ArrayRef> = vec![
        Arc::new(
            TimestampMillisecondArray::from_iter_values(rows.iter().map(|r| r.time_ms))
                .with_timezone("UTC"),
        ),
        Arc::new(StringArray::from_iter_values(
            rows.iter().map(|r| r.service),
        )),
        Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| r.status))),
        Arc::new(Float64Array::from_iter_values(
            rows.iter().map(|r| r.latency_ms),
        )),
    ];
    RecordBatch::try_new(schema, columns).unwrap()
}

/// Rows per service.
pub fn counts_by_service(rows: &[Row]) -> BTreeMap<String, i64> {
    let mut counts = BTreeMap::new();
    for r in rows {
        *counts.entry(r.service.to_string()).or_insert(0) += 1;
    }
    counts
}

/// Leaves on fixed addresses and directories (so that they restart where
/// the aggregator looks) and an aggregator over them. Fields drop in
/// order: processes first, then the directories.
pub struct Fleet {
    pub aggregator: AggregatorProcess,
    pub leaves: Vec<LeafProcess>,
    addresses: Vec<String>,
    aggregator_flags: Vec<String>,
    dirs: Vec<tempfile::TempDir>,
}

impl Fleet {
    /// Starts `leaves` leaves and an aggregator over them with `aggregator_flags`.
    pub fn start(leaves: usize, aggregator_flags: &[&str]) -> Self {
        let dirs: Vec<tempfile::TempDir> = (0..leaves).map(|_| shm_tempdir()).collect();
        let addresses: Vec<String> = (0..leaves).map(|_| free_address()).collect();
        let processes = dirs
            .iter()
            .zip(&addresses)
            .map(|(dir, address)| LeafProcess::try_start_on(address, dir.path(), &[]).unwrap())
            .collect();
        let aggregator = AggregatorProcess::start(&addresses, aggregator_flags);
        Self {
            aggregator,
            leaves: processes,
            addresses,
            aggregator_flags: aggregator_flags.iter().map(|f| f.to_string()).collect(),
            dirs,
        }
    }

    /// The aggregator's HTTP address.
    pub fn http(&self) -> SocketAddr {
        self.aggregator.http
    }

    /// SIGKILLs every leaf and starts it again on its directory and
    /// address, then replaces the aggregator by a new process.
    pub fn restart_every_process(&mut self) {
        for leaf in &mut self.leaves {
            leaf.kill();
        }
        for (index, dir) in self.dirs.iter().enumerate() {
            self.leaves[index] =
                LeafProcess::try_start_on(&self.addresses[index], dir.path(), &[]).unwrap();
        }
        let flags: Vec<&str> = self.aggregator_flags.iter().map(String::as_str).collect();
        self.aggregator = AggregatorProcess::start(&self.addresses, &flags);
    }

    pub fn ingest_ndjson(&self, table: &str, rows: &[Row]) {
        let (status, _, body) = http_request(
            self.http(),
            "POST",
            &format!("/api/v1/ingest/{table}"),
            &[("content-type", "application/x-ndjson")],
            &ndjson(rows),
        );
        let answer: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
        assert_eq!(status, 200, "{answer}");
        assert_eq!(answer["accepted"], rows.len(), "{answer}");
    }

    /// The answer to `sql`, once the aggregator answers at all.
    pub fn query(&self, sql: &str) -> Value {
        let (status, answer) = http_query(self.http(), sql, &[]);
        assert_eq!(status, 200, "{sql}: {answer}");
        answer
    }

    /// Waits until `SELECT count(*) FROM table` is `rows` from every leaf
    /// (the aggregator's catalog comes from status calls, every second).
    pub fn wait_for_rows(&self, table: &str, rows: usize) {
        let sql = format!("SELECT count(*) FROM {table}");
        let mut last = Value::Null;
        for _ in 0..200 {
            let (status, answer) = http_query(self.http(), &sql, &[]);
            let whole = answer["completeness"]["leaves_answered"]
                == answer["completeness"]["leaves_queried"];
            if status == 200 && whole && answer["rows"][0][0] == rows {
                return;
            }
            last = answer;
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("{table} never had {rows} rows from every leaf: {last}");
    }
}
