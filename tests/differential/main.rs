//! The differential SQL suite: every query of `tests/slt/*.slt`
//! (sqllogictest format, parsed by the `sqllogictest` crate) runs on plain
//! DataFusion over the rows in memory, on Shoal as a 4-leaf cluster (twice:
//! the second time from the plan the first kept) and on Shoal as a 2-tier
//! tree over the same leaves; every Shoal answer must equal DataFusion's
//! and say every leaf answered.
//!
//! The files hold queries only: the expected rows are DataFusion's, computed
//! at run time, so a query is added by writing it. Records:
//! - `query <types> [rowsort|nosort] [approx]`: `rowsort` compares the rows
//!   as sets (`nosort`, the default, in order: the query's `ORDER BY` must
//!   then be total); `approx` allows 2% relative error (approximate
//!   aggregates; each `approx` query says in a comment what it checks).
//! - `query error <regex>`: every engine must refuse it, and Shoal's message
//!   must match the regex.
//!
//! The rows (see `data.rs`) are spread unevenly over the leaves, some in a
//! sealed block and some in open ones, over several time ranges, with nulls
//! in every column type, NaN and infinities, string sets, a column some
//! leaves never saw, and tables only one leaf holds.

#[path = "../common/mod.rs"]
mod common;

mod answer;
mod data;
mod engines;

use std::path::{Path, PathBuf};
use std::time::Duration;

use common::*;
use sqllogictest::{DefaultColumnType, QueryExpect, Record, SortMode};

use engines::Shoal;

/// Where the `.slt` files are.
fn slt_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/slt")
}

/// One query of a file.
struct Query {
    at: String,
    sql: String,
    sort: bool,
    tolerance: f64,
    /// `Some(regex)` when every engine must refuse it.
    error: Option<sqllogictest::ExpectedError>,
}

fn queries() -> Vec<Query> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(slt_dir())
        .expect("tests/slt")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "slt"))
        .collect();
    files.sort();
    let mut queries = Vec::new();
    for file in files {
        let records = sqllogictest::parse_file::<DefaultColumnType>(&file)
            .unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        for record in records {
            match record {
                Record::Query {
                    loc, sql, expected, ..
                } => {
                    let at = format!("{}:{}", loc.file(), loc.line());
                    queries.push(match expected {
                        QueryExpect::Results {
                            sort_mode,
                            label,
                            results,
                            ..
                        } => {
                            assert!(results.is_empty(), "{at}: the suite computes results");
                            Query {
                                at,
                                sql,
                                sort: sort_mode == Some(SortMode::RowSort),
                                tolerance: if label.as_deref() == Some("approx") {
                                    0.02
                                } else {
                                    0.0
                                },
                                error: None,
                            }
                        }
                        QueryExpect::Error(error) => Query {
                            at,
                            sql,
                            sort: false,
                            tolerance: 0.0,
                            error: Some(error),
                        },
                    });
                }
                Record::Comment(_) | Record::Newline => {}
                other => panic!("{}: only queries are supported: {other:?}", file.display()),
            }
        }
    }
    queries
}

/// Four leaves holding the suite's rows (open blocks stay open: they seal
/// only when full), a flat aggregator and a 2-tier tree.
struct Fleet {
    flat: AggregatorProcess,
    root: AggregatorProcess,
    _children: Vec<AggregatorProcess>,
    _leaves: Vec<LeafProcess>,
    _dirs: Vec<tempfile::TempDir>,
}

impl Fleet {
    async fn start() -> Self {
        let dirs: Vec<_> = (0..4).map(|_| shm_tempdir()).collect();
        let leaves: Vec<_> = dirs
            .iter()
            .map(|d| LeafProcess::start(d.path(), &["--seal-age", "1h"]))
            .collect();
        for chunk in 0..data::CHUNKS {
            let (sent, _) = data::logs_chunk(chunk);
            let leaf = &leaves[data::LEAF_OF_CHUNK[chunk]];
            send(leaf, "logs", sent).await;
        }
        send(&leaves[3], "teams", data::teams()).await;
        send(&leaves[1], "sparse", data::sparse()).await;
        // What the suite means to cover: leaf 0 holds a sealed block and
        // open rows, the other leaves open rows only (leaf 0's full block
        // is sealed after the answer to its rows: waited for).
        let expected = [(1, 10_000), (0, 20_000), (0, 20_000), (0, 10_000)];
        for (leaf, (sealed, open)) in leaves.iter().zip(expected) {
            let what = format!("{sealed} sealed blocks and {open} open rows");
            wait_for_table(leaf, "logs", &what, |t| {
                (t.sealed_blocks, t.open_rows) == (sealed, open)
            })
            .await;
        }
        assert_eq!(
            stored_types(dirs[0].path()),
            ["UInt32 time", "UInt8 service"]
        );
        let address = |range: std::ops::Range<usize>| -> Vec<String> {
            leaves[range]
                .iter()
                .map(|l| l.address.to_string())
                .collect()
        };
        let flat = AggregatorProcess::start(&address(0..4), &[]);
        let left = AggregatorProcess::start(&address(0..2), &[]);
        let right = AggregatorProcess::start(&address(2..4), &[]);
        let root =
            AggregatorProcess::start(&[left.flight.to_string(), right.flight.to_string()], &[]);
        Self {
            flat,
            root,
            _children: vec![left, right],
            _leaves: leaves,
            _dirs: dirs,
        }
    }
}

/// How the sealed block in `dir` stores `time` and `service` (narrow: the
/// suite reads them through the widening path).
fn stored_types(dir: &Path) -> Vec<String> {
    let blocks: Vec<PathBuf> = std::fs::read_dir(dir.join("tables/logs"))
        .expect("logs directory")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "arrow"))
        .collect();
    assert_eq!(blocks.len(), 1, "{blocks:?}");
    let file = std::fs::File::open(&blocks[0]).expect("block");
    let reader = arrow::ipc::reader::FileReader::try_new(file, None).expect("block file");
    let schema = reader.schema();
    ["time", "service"]
        .iter()
        .map(|name| {
            let field = schema.field_with_name(name).expect("column");
            match field.data_type() {
                arrow::datatypes::DataType::Dictionary(key, _) => format!("{key} {name}"),
                other => format!("{other} {name}"),
            }
        })
        .collect()
}

async fn send(leaf: &LeafProcess, table: &str, batch: arrow::array::RecordBatch) {
    let rows = batch.num_rows() as u64;
    let answer = ingest(&mut leaf.client().await, table, &[batch])
        .await
        .expect("ingest");
    assert_eq!(answer.rows_accepted, rows, "{table}");
}

/// Waits until `shoal` counts every table's rows.
async fn wait_for_tables(shoal: &mut Shoal) {
    let sql = "SELECT (SELECT count(*) FROM logs) AS l, (SELECT count(*) FROM teams) AS t, \
               (SELECT count(*) FROM sparse) AS s";
    let want = vec![vec![
        answer::Cell::Int((data::CHUNKS * data::CHUNK_ROWS) as i128),
        answer::Cell::Int(9),
        answer::Cell::Int(5),
    ]];
    let mut last = String::new();
    for _ in 0..200 {
        match shoal.run(sql).await.and_then(|b| answer::rows(&b)) {
            Ok(rows) if rows == want => return,
            Ok(rows) => last = format!("{:?}", rows.first().map(answer::render)),
            Err(e) => last = e,
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the tables never showed every row: {last}");
}

/// What went wrong with one query on one engine, if anything.
async fn check(
    query: &Query,
    expected: &Result<Vec<answer::Row>, String>,
    shoal: &mut Shoal,
) -> Option<String> {
    let given = shoal.run(&query.sql).await.and_then(|b| answer::rows(&b));
    match (&query.error, expected, given) {
        (Some(regex), Err(_), Err(message)) => (!regex.is_match(&message, None))
            .then(|| format!("refused with {message:?}, not matching {regex}")),
        (Some(_), _, Ok(_)) => Some("answered a query every engine must refuse".into()),
        (Some(_), Ok(_), Err(_)) => Some("plain DataFusion answered it".into()),
        (None, Err(e), _) => Some(format!("plain DataFusion failed: {e}")),
        (None, Ok(_), Err(e)) => Some(format!("failed: {e}")),
        (None, Ok(expected), Ok(mut given)) => {
            let mut expected = expected.clone();
            if query.sort {
                answer::sort_rows(&mut expected);
                answer::sort_rows(&mut given);
            }
            answer::difference(&expected, &given, query.tolerance)
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_query_answers_as_plain_datafusion_does() {
    let queries = queries();
    let plain = engines::plain_datafusion();
    let fleet = Fleet::start().await;
    let mut engines = [
        (
            "4 leaves",
            Shoal::connect(&fleet.flat.flight_endpoint()).await,
        ),
        (
            "2-tier tree",
            Shoal::connect(&fleet.root.flight_endpoint()).await,
        ),
        // The same query again on the flat fleet: answered by the plan the
        // first asking kept (see the aggregator's `plan_cache`).
        (
            "4 leaves, asked again",
            Shoal::connect(&fleet.flat.flight_endpoint()).await,
        ),
    ];
    for (_, shoal) in &mut engines {
        wait_for_tables(shoal).await;
    }
    let mut failures = Vec::new();
    let only = std::env::var("SHOAL_SLT_ONLY").unwrap_or_default();
    for query in queries.iter().filter(|q| q.sql.contains(&only)) {
        let expected = engines::run_plain(&plain, &query.sql)
            .await
            .and_then(|b| answer::rows(&b));
        if std::env::var_os("SHOAL_SLT_SHOW").is_some() {
            println!("{} {}", query.at, query.sql);
            match &expected {
                Ok(rows) => rows
                    .iter()
                    .take(20)
                    .for_each(|r| println!("  {}", answer::render(r))),
                Err(e) => println!("  error: {e}"),
            }
            if let Ok(rows) = engines[0]
                .1
                .run(&query.sql)
                .await
                .and_then(|b| answer::rows(&b))
            {
                println!("  shoal:");
                rows.iter()
                    .take(40)
                    .for_each(|r| println!("  {}", answer::render(r)));
            }
        }
        for (name, shoal) in &mut engines {
            if let Some(problem) = check(query, &expected, shoal).await {
                failures.push(format!(
                    "{} on {name}: {}\n  {problem}",
                    query.at, query.sql
                ));
            }
        }
    }
    if std::env::var_os("SHOAL_SLT_SHOW").is_some() {
        for leaf in &fleet._leaves {
            println!("leaf stderr: {}", leaf.stderr());
        }
    }
    // The second asking on the flat fleet reused the first's plans.
    let (_, _, metrics) = http_request(fleet.flat.http, "GET", "/metrics", &[], b"");
    let reused: usize = String::from_utf8_lossy(&metrics)
        .lines()
        .find_map(|line| line.strip_prefix("shoal_query_plans_reused_total "))
        .and_then(|value| value.trim().parse().ok())
        .expect("shoal_query_plans_reused_total");
    if only.is_empty() {
        assert!(reused >= 200, "only {reused} queries reused a kept plan");
    }
    let approximate = queries.iter().filter(|q| q.tolerance > 0.0).count();
    let refused = queries.iter().filter(|q| q.error.is_some()).count();
    println!(
        "differential: {} queries ({approximate} approximate, {refused} refused) on plain \
         DataFusion, 4 leaves (twice) and a 2-tier tree: {} failures",
        queries.len(),
        failures.len()
    );
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
    assert!(
        queries.len() >= 200,
        "the suite has {} queries",
        queries.len()
    );
}
