//! Demo data for `shoal local --demo`: request logs shaped like the shared
//! benchmark data set (`gen_logs.py`), spread over the 24 hours before now,
//! so a newcomer can query something at once.

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use arrow::array::{
    ArrayRef, Float64Array, Int32Array, Int64Array, ListBuilder, RecordBatch, StringArray,
    StringBuilder, TimestampMillisecondArray,
};
use arrow::datatypes::{DataType, Field, Schema, TimeUnit};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// Table the demo fills.
pub const DEMO_TABLE: &str = "requests";
const SERVICES: [&str; 12] = [
    "api", "auth", "checkout", "search", "feed", "profile", "payments", "cart", "ads", "media",
    "notify", "gateway",
];
const REGIONS: [&str; 8] = [
    "us-east",
    "us-west",
    "eu-west",
    "eu-central",
    "ap-south",
    "ap-east",
    "sa-east",
    "af-south",
];
const METHODS: [&str; 4] = ["GET", "POST", "PUT", "DELETE"];
const TAGS: [&str; 6] = ["canary", "beta", "mobile", "desktop", "cached", "retry"];
const STATUSES: [(i32, u32); 8] = [
    (200, 800),
    (201, 40),
    (304, 40),
    (400, 30),
    (404, 40),
    (429, 10),
    (500, 25),
    (503, 15),
];

/// Batch number `index` of `rows` demo rows, times spread over the day
/// before now in order.
pub fn demo_batch(index: u64, rows: usize, total_rows: u64) -> RecordBatch {
    let mut rng = StdRng::seed_from_u64(index);
    let now_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64);
    let span_ms = 24 * 3_600 * 1_000i64;
    let step = span_ms as f64 / total_rows.max(1) as f64;
    let first = index * rows as u64;
    let times = TimestampMillisecondArray::from_iter_values(
        (0..rows as u64).map(|i| now_ms - span_ms + ((first + i) as f64 * step) as i64),
    )
    .with_timezone("UTC");
    let services: Vec<usize> = (0..rows)
        .map(|_| skewed(&mut rng, SERVICES.len()))
        .collect();
    let statuses: Vec<i32> = (0..rows).map(|_| pick_status(&mut rng)).collect();
    let latency: Vec<f64> = services
        .iter()
        .zip(&statuses)
        .map(|(&service, &status)| {
            let base = 20.0 + 7.0 * (service % 5) as f64;
            let slow = if status >= 500 { 4.0 } else { 1.0 };
            (base * slow * (0.3 + rng.random::<f64>() * 1.7) * 1000.0).round() / 1000.0
        })
        .collect();
    let mut tags = ListBuilder::new(StringBuilder::new());
    for _ in 0..rows {
        for tag in TAGS.iter().filter(|_| rng.random_range(0..10) == 0) {
            tags.values().append_value(tag);
        }
        tags.append(true);
    }
    let columns: Vec<ArrayRef> = vec![
        Arc::new(times),
        Arc::new(StringArray::from_iter_values(
            services.iter().map(|&s| format!("svc-{}", SERVICES[s])),
        )),
        Arc::new(StringArray::from_iter_values(services.iter().map(|&s| {
            format!("/{}/v1/op{}", SERVICES[s], rng.random_range(0..20))
        }))),
        Arc::new(StringArray::from_iter_values(
            (0..rows).map(|_| METHODS[skewed(&mut rng, METHODS.len())]),
        )),
        Arc::new(Int32Array::from(statuses)),
        Arc::new(Float64Array::from(latency)),
        Arc::new(Int64Array::from_iter_values(
            (0..rows).map(|_| rng.random_range(200..60_000)),
        )),
        Arc::new(StringArray::from_iter_values(
            (0..rows).map(|_| REGIONS[rng.random_range(0..REGIONS.len())]),
        )),
        Arc::new(StringArray::from_iter_values(
            (0..rows).map(|_| format!("web-{:04}", rng.random_range(0..500))),
        )),
        Arc::new(tags.finish()),
    ];
    RecordBatch::try_new(demo_schema(), columns)
        .unwrap_or_else(|_| RecordBatch::new_empty(demo_schema()))
}

fn demo_schema() -> Arc<Schema> {
    Arc::new(Schema::new(vec![
        Field::new(
            "time",
            DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into())),
            false,
        ),
        Field::new("service", DataType::Utf8, false),
        Field::new("endpoint", DataType::Utf8, false),
        Field::new("method", DataType::Utf8, false),
        Field::new("status", DataType::Int32, false),
        Field::new("latency_ms", DataType::Float64, false),
        Field::new("bytes_sent", DataType::Int64, false),
        Field::new("region", DataType::Utf8, false),
        Field::new("host", DataType::Utf8, false),
        Field::new(
            "tags",
            DataType::List(Arc::new(Field::new("item", DataType::Utf8, true))),
            true,
        ),
    ]))
}

/// An index in `0..n`, the first ones more likely.
fn skewed(rng: &mut StdRng, n: usize) -> usize {
    let x: f64 = rng.random();
    ((x * x) * n as f64) as usize % n
}

fn pick_status(rng: &mut StdRng) -> i32 {
    let total: u32 = STATUSES.iter().map(|(_, w)| w).sum();
    let mut roll = rng.random_range(0..total);
    for (status, weight) in STATUSES {
        if roll < weight {
            return status;
        }
        roll -= weight;
    }
    200
}
