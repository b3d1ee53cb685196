//! The rows the differential suite queries: deterministic, with every column
//! type Shoal stores, nulls in each, NaN and infinities, string sets (null,
//! empty and filled), a column some leaves never saw, and time ranges that
//! differ per chunk so blocks cover different spans.
//!
//! Tables:
//! - `logs`: [`CHUNKS`] chunks of [`CHUNK_ROWS`] rows; chunk `k` spans 20
//!   hours from [`START_MICROS`] + 20 h · k. Where each chunk goes is
//!   [`LEAF_OF_CHUNK`]: uneven, and the leaf holding 70,000 rows has a sealed
//!   block (60,000, its times whole milliseconds so they are stored narrow)
//!   and an open one. The last two chunks lack `region`.
//! - `teams`: 9 rows (one service no log row has, one null service), on one
//!   leaf only: a table the other leaves do not have.
//! - `sparse`: 5 rows with an all-null string column, on another single leaf.

use std::sync::Arc;

use arrow::array::{
    ArrayRef, BooleanArray, Float64Array, Int64Array, ListBuilder, RecordBatch, StringArray,
    StringBuilder, TimestampMicrosecondArray,
};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// Rows of one chunk of `logs`.
pub const CHUNK_ROWS: usize = 10_000;
/// Chunks of `logs`.
pub const CHUNKS: usize = 12;
/// The leaf each chunk is sent to, in this order (leaf 0 gets 70,000 rows).
pub const LEAF_OF_CHUNK: [usize; CHUNKS] = [0, 0, 0, 0, 0, 0, 0, 1, 1, 2, 3, 2];
/// Chunks without the `region` column.
const WITHOUT_REGION: [usize; 2] = [10, 11];
/// 2026-03-01T00:00:00Z in microseconds.
pub const START_MICROS: i64 = 1_772_323_200_000_000;
const HOUR_MICROS: i64 = 3_600_000_000;

const SERVICES: [&str; 8] = [
    "api", "web", "auth", "db", "cache", "queue", "search", "billing",
];
const STATUSES: [i64; 13] = [
    200, 200, 200, 201, 204, 301, 302, 400, 404, 429, 500, 502, 503,
];
const TAGS: [&str; 7] = ["beta", "canary", "eu", "us", "gpu", "retry", "slow"];
const REGIONS: [&str; 4] = ["eu-west", "us-east", "us-west", "ap-south"];

fn utc_micros() -> DataType {
    DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))
}

/// The full schema of `logs` (what plain DataFusion registers).
pub fn logs_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("time", utc_micros(), false),
        Field::new("service", DataType::Utf8, true),
        Field::new("status", DataType::Int64, true),
        Field::new("latency", DataType::Float64, true),
        Field::new("bytes", DataType::Int64, true),
        Field::new("ok", DataType::Boolean, true),
        Field::new(
            "tags",
            DataType::List(Arc::new(Field::new("item", DataType::Utf8, true))),
            true,
        ),
        Field::new("seen", utc_micros(), true),
        Field::new("path", DataType::Utf8, false),
        Field::new("user_id", DataType::Int64, true),
        Field::new("small", DataType::Int64, true),
        Field::new("region", DataType::Utf8, true),
    ]))
}

/// One chunk of `logs`: the batch a leaf is sent, and the same rows with
/// every column of [`logs_schema`] (nulls where the sent batch lacks one).
pub fn logs_chunk(chunk: usize) -> (RecordBatch, RecordBatch) {
    let mut rng = StdRng::seed_from_u64(7 + chunk as u64);
    let rows = CHUNK_ROWS;
    let start = START_MICROS + 20 * HOUR_MICROS * chunk as i64;
    // Leaf 0's rows carry whole milliseconds, so its sealed block stores
    // time narrow (32-bit milliseconds from the block's first); the other
    // leaves' carry microseconds.
    let precision = if LEAF_OF_CHUNK[chunk] == 0 { 1000 } else { 1 };
    let mut times: Vec<i64> = (0..rows)
        .map(|_| start + rng.random_range(0..20 * HOUR_MICROS) / precision * precision)
        .collect();
    times.sort_unstable();
    let service = StringArray::from_iter((0..rows).map(|_| {
        let pick = rng.random_range(0..100);
        (pick >= 3).then(|| SERVICES[(pick - 3) * (pick - 3) / 1200])
    }));
    let status = Int64Array::from_iter(
        (0..rows)
            .map(|_| (rng.random_range(0..50) != 0).then(|| STATUSES[rng.random_range(0..13)])),
    );
    let latency = Float64Array::from_iter((0..rows).map(|_| latency(&mut rng)));
    let bytes = Int64Array::from_iter((0..rows).map(|_| match rng.random_range(0..100) {
        0 => None,
        1 => Some(-rng.random_range(1..1_000_000_i64)),
        _ => Some(rng.random_range(0..1_i64 << 40)),
    }));
    let ok = BooleanArray::from_iter((0..rows).map(|_| match rng.random_range(0..100) {
        0 => None,
        n => Some(n > 12),
    }));
    let mut tags = ListBuilder::new(StringBuilder::new());
    for _ in 0..rows {
        match rng.random_range(0..20) {
            0 => tags.append_null(),
            1 | 2 => tags.append(true),
            _ => {
                let count = rng.random_range(1..4);
                for _ in 0..count {
                    tags.values()
                        .append_value(TAGS[rng.random_range(0..TAGS.len())]);
                }
                tags.append(true);
            }
        }
    }
    let seen = TimestampMicrosecondArray::from_iter(
        times
            .iter()
            .map(|t| (rng.random_range(0..20) != 0).then(|| t - rng.random_range(0..HOUR_MICROS))),
    )
    .with_timezone("UTC");
    let path = StringArray::from_iter_values((0..rows).map(|_| path(&mut rng)));
    let user_id = Int64Array::from_iter(
        (0..rows).map(|_| (rng.random_range(0..30) != 0).then(|| rng.random_range(0..1000))),
    );
    let small = Int64Array::from_iter(
        (0..rows).map(|_| (rng.random_range(0..40) != 0).then(|| rng.random_range(-100..=100))),
    );
    let region = StringArray::from_iter(
        (0..rows).map(|_| (rng.random_range(0..10) != 0).then(|| REGIONS[rng.random_range(0..4)])),
    );
    let time = TimestampMicrosecondArray::from(times).with_timezone("UTC");
    let columns: Vec<ArrayRef> = vec![
        Arc::new(time),
        Arc::new(service),
        Arc::new(status),
        Arc::new(latency),
        Arc::new(bytes),
        Arc::new(ok),
        Arc::new(tags.finish()),
        Arc::new(seen),
        Arc::new(path),
        Arc::new(user_id),
        Arc::new(small),
        Arc::new(region),
    ];
    let full = RecordBatch::try_new(logs_schema(), columns).expect("logs chunk");
    if !WITHOUT_REGION.contains(&chunk) {
        return (full.clone(), full);
    }
    let mut sent = full.clone();
    let region_at = full.schema().index_of("region").expect("region");
    sent.remove_column(region_at);
    let mut nulled = full.columns().to_vec();
    nulled[region_at] = Arc::new(StringArray::new_null(rows));
    let full = RecordBatch::try_new(logs_schema(), nulled).expect("logs chunk");
    (sent, full)
}

/// A latency: mostly positive with three decimals, sometimes null, NaN,
/// infinite, negative or negative zero.
fn latency(rng: &mut StdRng) -> Option<f64> {
    match rng.random_range(0..2000) {
        0..=39 => None,
        40 | 41 => Some(f64::NAN),
        42 => Some(f64::INFINITY),
        43 => Some(f64::NEG_INFINITY),
        44 => Some(-0.0),
        45..=64 => Some(-(rng.random_range(1..100_000) as f64) / 1000.0),
        _ => {
            let base: f64 = rng.random_range(0.0..1.0);
            Some((base * base * base * 5_000_000.0).round() / 1000.0)
        }
    }
}

fn path(rng: &mut StdRng) -> String {
    match rng.random_range(0..10) {
        0 => "/health".to_string(),
        1 | 2 => format!("/static/app-{}.js", rng.random_range(0..40)),
        3..=6 => format!("/v1/users/{}", rng.random_range(0..400)),
        _ => format!("/v2/orders/{}/items", rng.random_range(0..200)),
    }
}

/// `teams`: which team owns a service.
pub fn teams() -> RecordBatch {
    let schema = Arc::new(Schema::new(vec![
        Field::new("time", utc_micros(), false),
        Field::new("service", DataType::Utf8, true),
        Field::new("team", DataType::Utf8, true),
        Field::new("budget", DataType::Float64, true),
    ]));
    let services = [
        Some("api"),
        Some("web"),
        Some("auth"),
        Some("db"),
        Some("cache"),
        Some("queue"),
        Some("search"),
        Some("mail"),
        None,
    ];
    let teams = [
        Some("edge"),
        Some("edge"),
        Some("identity"),
        Some("storage"),
        Some("storage"),
        Some("platform"),
        None,
        Some("platform"),
        Some("orphans"),
    ];
    let budgets = [
        Some(10.5),
        Some(20.0),
        Some(7.25),
        None,
        Some(3.0),
        Some(f64::NAN),
        Some(1.0),
        Some(2.5),
        Some(0.0),
    ];
    let columns: Vec<ArrayRef> = vec![
        Arc::new(
            TimestampMicrosecondArray::from_iter_values(
                (0..services.len() as i64).map(|i| START_MICROS + i),
            )
            .with_timezone("UTC"),
        ),
        Arc::new(StringArray::from_iter(services)),
        Arc::new(StringArray::from_iter(teams)),
        Arc::new(Float64Array::from_iter(budgets)),
    ];
    RecordBatch::try_new(schema, columns).expect("teams")
}

/// `sparse`: five rows whose `note` is always null.
pub fn sparse() -> RecordBatch {
    let schema = Arc::new(Schema::new(vec![
        Field::new("time", utc_micros(), false),
        Field::new("k", DataType::Int64, true),
        Field::new("note", DataType::Utf8, true),
    ]));
    let columns: Vec<ArrayRef> = vec![
        Arc::new(
            TimestampMicrosecondArray::from_iter_values(
                (0..5).map(|i| START_MICROS + i * 86_400_000_000),
            )
            .with_timezone("UTC"),
        ),
        Arc::new(Int64Array::from_iter([
            Some(1),
            Some(2),
            None,
            Some(2),
            Some(5),
        ])),
        Arc::new(StringArray::new_null(5)),
    ];
    RecordBatch::try_new(schema, columns).expect("sparse")
}
