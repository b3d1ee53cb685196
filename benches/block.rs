//! Leaf storage benchmarks: sealing a block, scanning blocks with a time
//! filter and a string equality filter (with and without the bitmap
//! indexes), and a leaf's partial aggregate by time bucket and service
//! (DataFusion's and Shoal's dense one).
//!
//! `cargo bench --bench block`

use std::hint::black_box;
use std::sync::Arc;

use arrow::array::{
    ArrayRef, Float64Array, Int64Array, RecordBatch, StringArray, TimestampMillisecondArray,
};
use arrow::datatypes::{DataType, Field, Schema, TimeUnit};
use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use datafusion::common::tree_node::{TreeNode, TreeNodeRecursion};
use datafusion::physical_plan::aggregates::{AggregateExec, AggregateMode};
use datafusion::physical_plan::collect;
use datafusion::prelude::SessionContext;
use rand::{Rng, SeedableRng};
use shoal_leaf::dense_aggregate::dense_aggregates;
use shoal_leaf::dictionary_groups::views_for_dictionary_groups;
use shoal_leaf::functions::register_functions;
use shoal_leaf::provider::LeafTableProvider;
use shoal_leaf::table::{BLOCK_ROWS, Table};

const START_MS: i64 = 1_763_000_000_000;

/// Request-log rows shaped like `../shared/bench/gen_logs.py`: 40 services,
/// 5000 hosts, 8 regions, one row per 10 ms.
fn request_rows(first_row: usize, rows: usize, seed: u64) -> RecordBatch {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let schema = Arc::new(Schema::new(vec![
        Field::new(
            "time",
            DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into())),
            false,
        ),
        Field::new("service", DataType::Utf8, false),
        Field::new("host", DataType::Utf8, false),
        Field::new("region", DataType::Utf8, false),
        Field::new("status", DataType::Int64, false),
        Field::new("latency_ms", DataType::Float64, false),
    ]));
    let columns: Vec<ArrayRef> = vec![
        Arc::new(
            TimestampMillisecondArray::from_iter_values(
                (first_row..first_row + rows).map(|i| START_MS + i as i64 * 10),
            )
            .with_timezone("UTC"),
        ),
        Arc::new(StringArray::from_iter_values(
            (0..rows).map(|_| format!("svc-{}", rng.random_range(0..40))),
        )),
        Arc::new(StringArray::from_iter_values(
            (0..rows).map(|_| format!("web-{:04}", rng.random_range(0..5000))),
        )),
        Arc::new(StringArray::from_iter_values(
            (0..rows).map(|_| format!("region-{}", rng.random_range(0..8))),
        )),
        Arc::new(Int64Array::from_iter_values((0..rows).map(|_| {
            if rng.random_range(0..20) == 0 {
                500
            } else {
                200
            }
        }))),
        Arc::new(Float64Array::from_iter_values(
            (0..rows).map(|_| rng.random_range(1.0..500.0)),
        )),
    ];
    RecordBatch::try_new(schema, columns).expect("batch")
}

fn seal(c: &mut Criterion) {
    let rows = request_rows(0, BLOCK_ROWS - 1, 1);
    c.bench_function("seal_block_65535_rows", |b| {
        b.iter_batched(
            || {
                let dir = tempfile::tempdir_in(shm()).expect("tempdir");
                let table = Table::create("requests", dir.path().join("requests")).expect("table");
                // Left frozen, not sealed: `ingest` would seal a block this
                // full before the timed part (as a leaf does after its answer).
                let ingested = table
                    .ingest_leaving_seal(std::slice::from_ref(&rows), None, START_MS * 1000, None)
                    .expect("ingest");
                assert!(ingested.seal, "the block is frozen, for the timed seal");
                (dir, table)
            },
            |(dir, table)| {
                table.seal(None).expect("seal");
                assert!(!table.has_frozen(), "the block was sealed");
                (dir, table)
            },
            BatchSize::PerIteration,
        )
    });
}

/// A table of `blocks` sealed blocks of request rows, in shared memory.
fn request_table(blocks: usize) -> (tempfile::TempDir, Table) {
    let dir = tempfile::tempdir_in(shm()).expect("tempdir");
    let table = Table::create("requests", dir.path().join("requests")).expect("table");
    for block in 0..blocks {
        let rows = request_rows(block * BLOCK_ROWS, BLOCK_ROWS, block as u64);
        table
            .ingest(std::slice::from_ref(&rows), START_MS * 1000, None)
            .expect("ingest");
    }
    (dir, table)
}

fn scan(c: &mut Criterion) {
    const BLOCKS: usize = 16;
    let (_dir, table) = request_table(BLOCKS);
    // The newest quarter of the rows: 4 of the 16 blocks by time.
    let from = START_MS + (BLOCKS * BLOCK_ROWS * 10 * 3 / 4) as i64;
    let sql = format!(
        "SELECT count(*), avg(latency_ms) FROM requests \
         WHERE time >= to_timestamp_millis({from}) AND host = 'web-0042'"
    );
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let mut group = c.benchmark_group("scan_1m_rows_time_and_host_filter");
    for (name, indexes) in [("bitmap_index", true), ("no_index", false)] {
        let context = SessionContext::new();
        let provider = LeafTableProvider::new(table.snapshot());
        let provider = if indexes {
            provider
        } else {
            provider.without_indexes()
        };
        context
            .register_table("requests", Arc::new(provider))
            .expect("register");
        group.bench_function(name, |b| {
            b.iter(|| {
                runtime.block_on(async {
                    let batches = context
                        .sql(&sql)
                        .await
                        .expect("plan")
                        .collect()
                        .await
                        .expect("run");
                    black_box(batches)
                })
            })
        });
    }
    group.finish();
}

fn group(c: &mut Criterion) {
    let (_dir, table) = request_table(16);
    let context = SessionContext::new();
    register_functions(&context);
    let provider = LeafTableProvider::new(table.snapshot());
    context
        .register_table("requests", Arc::new(provider))
        .expect("register");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    // The partial aggregate a leaf runs for a dashboard's time series.
    let sql = "SELECT date_bin(INTERVAL '1 minute', time, TIMESTAMP '1970-01-01T00:00:00Z') \
               AS bucket, service, count(*), avg(latency_ms) FROM requests GROUP BY bucket, service";
    let plan = runtime.block_on(async {
        let plan = context.sql(sql).await.expect("plan");
        plan.create_physical_plan().await.expect("physical plan")
    });
    let mut partial_plan = None;
    plan.apply(|node| {
        let partial = node.downcast_ref::<AggregateExec>();
        if partial.is_some_and(|p| *p.mode() == AggregateMode::Partial) {
            partial_plan = Some(node.clone());
            return Ok(TreeNodeRecursion::Stop);
        }
        Ok(TreeNodeRecursion::Continue)
    })
    .expect("walk");
    let partial = partial_plan.expect("a partial aggregate");
    let mut group = c.benchmark_group("partial_aggregate_1m_rows_minute_and_service");
    let plans = [
        (
            "datafusion",
            views_for_dictionary_groups(partial.clone()).expect("views"),
        ),
        ("dense", dense_aggregates(partial).expect("dense")),
    ];
    for (name, plan) in plans {
        group.bench_function(name, |b| {
            b.iter(|| {
                runtime.block_on(async {
                    let batches = collect(plan.clone(), context.task_ctx())
                        .await
                        .expect("run");
                    black_box(batches)
                })
            })
        });
    }
    group.finish();
}

fn shm() -> &'static str {
    if std::path::Path::new("/dev/shm").is_dir() {
        "/dev/shm"
    } else {
        "/tmp"
    }
}

criterion_group!(benches, seal, scan, group);
criterion_main!(benches);
