//! The aggregator's own overhead: plan a query, cut and serialize the
//! fragment, fan out to 8 in-process leaves over loopback gRPC, merge a
//! trivial aggregate. Leaves hold a few rows each so the leaves' work is
//! negligible beside the aggregator's.
//!
//! `cargo bench --bench aggregator`

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use arrow::array::{Int64Array, RecordBatch};
use arrow::datatypes::{DataType, Field, Schema};
use criterion::{Criterion, criterion_group, criterion_main};
use shoal_aggregator::completeness::QueryContext;
use shoal_aggregator::fleet::Fleet;
use shoal_aggregator::query::{QueryEngine, QueryOptions};
use shoal_aggregator::routing::IngestRouter;
use shoal_leaf::{LeafConfig, StoreConfig, run_leaf};

const LEAVES: usize = 8;

fn start_leaves(runtime: &tokio::runtime::Runtime, dirs: &[tempfile::TempDir]) -> Vec<String> {
    dirs.iter()
        .map(|dir| {
            let (sender, receiver) = std::sync::mpsc::channel();
            let config = LeafConfig {
                listen: "127.0.0.1:0".parse().expect("address"),
                store: StoreConfig {
                    data_dir: dir.path().to_path_buf(),
                    backup_dir: None,
                    memory_limit: None,
                    retention: None,
                    seal_age: Duration::from_secs(5),
                },
                query_memory_limit: 1 << 30,
                cluster_secret: None,
                tls: None,
                gossip: None,
                restart: None,
            };
            runtime.spawn(run_leaf(config, std::future::pending(), move |address| {
                let _ = sender.send(address);
            }));
            receiver.recv().expect("leaf started").to_string()
        })
        .collect()
}

fn fan_out(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let dirs: Vec<tempfile::TempDir> = (0..LEAVES)
        .map(|_| tempfile::tempdir().expect("dir"))
        .collect();
    let addresses = start_leaves(&runtime, &dirs);
    let _context = runtime.enter();
    let fleet = Fleet::new(&addresses, None).expect("fleet");
    let engine = runtime.block_on(async {
        let schema = Arc::new(Schema::new(vec![Field::new("n", DataType::Int64, false)]));
        let batch =
            RecordBatch::try_new(schema, vec![Arc::new(Int64Array::from_iter_values(0..100))])
                .expect("batch");
        fleet.refresh().await;
        let router = IngestRouter::new(fleet.clone());
        for _ in 0..LEAVES * 4 {
            router
                .route_batches("t", std::slice::from_ref(&batch))
                .await
                .expect("ingest");
        }
        fleet.refresh().await;
        QueryEngine::new(fleet.clone(), Duration::from_secs(10)).expect("engine")
    });
    let sql = "SELECT count(*), sum(n) FROM t";
    c.bench_function("plan_only", |b| {
        b.iter(|| {
            runtime.block_on(async {
                black_box(
                    engine
                        .plan(sql, &shoal_aggregator::auth::Caller::trusted())
                        .await
                        .expect("plan"),
                )
            })
        })
    });
    // A query's DataFusion session (copied from the engine's template).
    c.bench_function("query_session", |b| {
        b.iter(|| {
            let query = Arc::new(QueryContext::new(String::new(), Instant::now()));
            black_box(
                engine
                    .session(query, &shoal_aggregator::auth::Caller::trusted())
                    .expect("session"),
            )
        })
    });
    c.bench_function("fan_out_8_leaves_trivial_aggregate", |b| {
        b.iter(|| {
            runtime.block_on(async {
                let outcome = engine
                    .run(
                        sql,
                        QueryOptions {
                            caller: Some(shoal_aggregator::auth::Caller::trusted()),
                            ..QueryOptions::default()
                        },
                    )
                    .await
                    .expect("query");
                assert_eq!(outcome.completeness.leaves_answered, LEAVES as u64);
                black_box(outcome)
            })
        })
    });
}

criterion_group!(benches, fan_out);
criterion_main!(benches);
