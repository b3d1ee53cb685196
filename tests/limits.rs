//! Bounded resources against real processes: a leaf stops work on a
//! fragment at its deadline (measured in the leaf's CPU time), and an
//! aggregator turns away queries past `--max-concurrent-queries`.

mod common;

use std::time::{Duration, Instant};

use common::stack::Stack;
use common::*;
use serde_json::json;

/// CPU time (user + system) of process `pid` so far, in clock ticks.
fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("stat");
    // Fields after the command name (which is in parentheses).
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .expect("comm")
        .1
        .split_whitespace()
        .collect();
    let user: u64 = fields[11].parse().unwrap();
    let system: u64 = fields[12].parse().unwrap();
    user + system
}

fn ticks_per_second() -> u64 {
    // SAFETY: sysconf reads a constant of the running system.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    ticks.max(1) as u64
}

/// Ingests `rows` rows of a short `service` string over HTTP.
fn load(stack: &Stack, rows: usize) {
    let mut body = String::with_capacity(rows * 24);
    for i in 0..rows {
        body.push_str(&format!("{{\"service\": \"svc-{}\"}}\n", i % 7));
    }
    let (status, answer) = stack.post(
        "/api/v1/ingest/work",
        &[("content-type", "application/x-ndjson")],
        body.as_bytes(),
    );
    assert_eq!(status, 200, "{answer}");
    stack.eventually("SELECT count(*) FROM work", json!(rows));
}

/// A query whose partial aggregate takes a leaf about a second over
/// [`BIG_ROWS`] rows, in steps of a few ms a block (a block is the unit a
/// leaf cannot stop inside). More rows, not more work a row: heavier rows
/// make each block, and so the stop, slower. (Over half as many rows it once
/// took 517 ms, too close to the check that it outlasts the deadline well.)
const SLOW: &str = "SELECT sum(length(repeat(service, 100))) FROM work";
const BIG_ROWS: usize = 8 * 65_536 * 32;

/// Loads `rows` rows straight into a leaf, a block at a time.
async fn load_leaf(leaf: &LeafProcess, rows: usize) {
    use arrow::array::{RecordBatch, StringArray};
    use arrow::datatypes::{DataType, Field, Schema};
    let schema = std::sync::Arc::new(Schema::new(vec![Field::new(
        "service",
        DataType::Utf8,
        false,
    )]));
    let mut client = leaf.client().await;
    for start in (0..rows).step_by(65_536) {
        let values = (start..(start + 65_536).min(rows)).map(|i| format!("svc-{}", i % 7));
        let batch = RecordBatch::try_new(
            schema.clone(),
            vec![std::sync::Arc::new(StringArray::from_iter_values(values))],
        )
        .unwrap();
        ingest(&mut client, "work", &[batch]).await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_leaf_stops_a_fragment_at_its_deadline() {
    let dir = shm_tempdir();
    let leaf = LeafProcess::start(dir.path(), &[]);
    load_leaf(&leaf, BIG_ROWS).await;
    let aggregator = AggregatorProcess::start(&[leaf.address.to_string()], &[]);
    let stack = Stack {
        aggregator,
        leaves: vec![leaf],
        dirs: vec![dir],
    };
    let http = stack.aggregator.http;
    let pid = stack.leaves[0].pid();
    let measured = tokio::task::spawn_blocking(move || {
        stack_eventually(http, BIG_ROWS);
        let started = Instant::now();
        let (status, answer) = http_query(http, SLOW, &[("x-shoal-deadline", "150ms")]);
        let answered = started.elapsed();
        println!("answered {status} after {answered:?}: {answer}");
        // The only leaf did not finish by the deadline: no answer at all.
        assert_eq!(status, 503, "{answer}");
        assert!(
            answered < Duration::from_secs(2),
            "answered after {answered:?}"
        );
        // From 100 ms after the answer on, the leaf burns (almost) no CPU.
        std::thread::sleep(Duration::from_millis(100));
        let before = cpu_ticks(pid);
        std::thread::sleep(Duration::from_secs(1));
        let measured = (cpu_ticks(pid) - before) * 1000 / ticks_per_second();
        (answered, measured)
    })
    .await
    .unwrap();
    let (answered, measured) = measured;
    println!("leaf CPU in the second from 100 ms after the deadline: {measured} ms");
    assert!(
        measured <= 100,
        "the leaf kept working: {measured} ms of CPU"
    );
    // And it still answers; run whole, the query takes the leaf far longer
    // than the deadline: uncut, it would still have been running for over
    // 100 ms of the quiet second above, so that quiet is the cut, not its
    // end. (Relative to this machine's speed: on a fast one the whole query
    // is quick too.)
    let (status, answer, took) = tokio::task::spawn_blocking(move || {
        let started = Instant::now();
        let (status, answer) = http_query(http, SLOW, &[("x-shoal-deadline", "60s")]);
        (status, answer, started.elapsed())
    })
    .await
    .unwrap();
    println!("the whole query took {took:?}");
    assert_eq!(status, 200, "{answer}");
    let quiet_from = answered + Duration::from_millis(100);
    assert!(
        took > quiet_from + Duration::from_millis(100),
        "the whole query took {took:?}, the quiet second began {quiet_from:?} after the start"
    );
    drop(stack);
}

/// Waits until the aggregator's catalog counts `rows` rows of `work`.
fn stack_eventually(http: std::net::SocketAddr, rows: usize) {
    for _ in 0..100 {
        let (status, answer) = http_query(http, "SELECT count(*) FROM work", &[]);
        if status == 200 && answer["rows"][0][0] == json!(rows) {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("the rows never showed");
}

#[test]
fn queries_past_the_limit_are_turned_away_with_429() {
    let dir = shm_tempdir();
    let leaf = LeafProcess::start(dir.path(), &[]);
    let aggregator = AggregatorProcess::start(
        &[leaf.address.to_string()],
        &["--max-concurrent-queries", "1"],
    );
    let stack = Stack {
        aggregator,
        leaves: vec![leaf],
        dirs: vec![dir],
    };
    load(&stack, 100_000);
    let http = stack.aggregator.http;
    let answers: Vec<(u16, serde_json::Value)> = std::thread::scope(|scope| {
        let calls: Vec<_> = (0..4)
            .map(|_| {
                scope.spawn(|| {
                    let sql = "SELECT sum(length(repeat(service, 800))) FROM work";
                    http_query(http, sql, &[("x-shoal-deadline", "20s")])
                })
            })
            .collect();
        calls.into_iter().map(|c| c.join().unwrap()).collect()
    });
    let statuses: Vec<u16> = answers.iter().map(|(s, _)| *s).collect();
    let refused = answers.iter().filter(|(s, _)| *s == 429).count();
    assert!(refused >= 1, "{answers:?}");
    assert!(
        statuses.iter().all(|s| *s == 200 || *s == 429),
        "{answers:?}"
    );
    let (_, refusal) = answers.iter().find(|(s, _)| *s == 429).unwrap();
    assert!(
        refusal["error"]
            .as_str()
            .unwrap()
            .contains("--max-concurrent-queries"),
        "{refusal}"
    );
}
