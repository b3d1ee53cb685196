//! `shoal fleet drain`: one leaf of four is emptied into the others while
//! rows keep arriving and a query loop runs. Every query counts every row
//! of a table nobody writes to exactly once (a block moving between leaves
//! is never counted twice nor missed), counts of the table being written
//! stay between what was acknowledged before and sent after, and the
//! drained leaf leaves the fleet with nothing lost.

mod common;

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use common::*;
use serde_json::Value;

fn start_leaf(data_dir: &Path, name: &str, seed: &str, secret: &Path) -> LeafProcess {
    // Many small blocks, so the drain moves many.
    start_gossip_leaf(
        "127.0.0.1:0",
        data_dir,
        name,
        seed,
        secret,
        &["--seal-age", "300ms"],
    )
}

fn children(http: SocketAddr) -> Vec<(String, bool)> {
    let (status, _, body) = http_request(http, "GET", "/api/v1/fleet", &[], b"");
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    let fleet: Value = serde_json::from_slice(&body).expect("fleet JSON");
    fleet["children"]
        .as_array()
        .expect("children")
        .iter()
        .map(|c| (c["name"].as_str().unwrap().to_string(), c["up"] == true))
        .collect()
}

fn ingest(http: SocketAddr, table: &str, ids: std::ops::Range<u64>) -> u16 {
    let body: Vec<String> = ids.map(|i| format!("{{\"id\": {i}}}")).collect();
    let (status, _, _) = http_request(
        http,
        "POST",
        &format!("/api/v1/ingest/{table}"),
        &[("content-type", "application/x-ndjson")],
        body.join("\n").as_bytes(),
    );
    status
}

/// `(count, sum of id, leaves queried, leaves answered)`, or why not.
fn count_and_sum(http: SocketAddr, table: &str) -> Result<(u64, u64, u64, u64), String> {
    let sql = format!("SELECT count(*) AS n, sum(id) AS s FROM {table}");
    let (status, answer) = http_query(http, &sql, &[]);
    if status != 200 {
        return Err(format!("{status}: {answer}"));
    }
    let completeness = &answer["completeness"];
    Ok((
        answer["rows"][0][0].as_u64().unwrap_or(0),
        answer["rows"][0][1].as_u64().unwrap_or(0),
        completeness["leaves_queried"].as_u64().unwrap_or(0),
        completeness["leaves_answered"].as_u64().unwrap_or(0),
    ))
}

#[test]
fn a_drained_leaf_moves_each_block_once_and_leaves() {
    let secrets = tempfile::tempdir().unwrap();
    let secret = secrets.path().join("cluster-secret");
    std::fs::write(&secret, "a-cluster-secret-for-the-drain-test").unwrap();
    let seed = free_gossip_address();
    let aggregator = AggregatorProcess::start_with(&[
        "--gossip",
        &seed,
        "--cluster-secret-file",
        secret.to_str().unwrap(),
    ]);
    let http = aggregator.http;
    let dirs: Vec<_> = (0..4).map(|_| shm_tempdir()).collect();
    let mut leaves: Vec<LeafProcess> = (0..4)
        .map(|i| start_leaf(dirs[i].path(), &format!("leaf-{i}"), &seed, &secret))
        .collect();
    let deadline = Instant::now() + Duration::from_secs(30);
    while children(http).iter().filter(|(_, up)| *up).count() < 4 {
        assert!(
            Instant::now() < deadline,
            "leaves never up: {:?}",
            children(http)
        );
        std::thread::sleep(Duration::from_millis(100));
    }

    // A table nobody writes to during the drain: its answer is exact.
    let steady_rows = 60_000u64;
    for start in (0..steady_rows).step_by(1_000) {
        assert_eq!(ingest(http, "steady", start..start + 1_000), 200);
        if start % 10_000 == 0 {
            std::thread::sleep(Duration::from_millis(350)); // more blocks
        }
    }
    let steady_sum = steady_rows * (steady_rows - 1) / 2;
    let before = count_and_sum(http, "steady").expect("count");
    assert_eq!(before, (steady_rows, steady_sum, 4, 4));

    // Rows keep arriving, and a query loop runs, throughout the drain.
    let stop = Arc::new(AtomicBool::new(false));
    let acknowledged = Arc::new(AtomicU64::new(0));
    let sent = Arc::new(AtomicU64::new(0));
    let writer = {
        let (stop, acknowledged, sent) = (stop.clone(), acknowledged.clone(), sent.clone());
        std::thread::spawn(move || {
            let mut next = 0u64;
            while !stop.load(Ordering::SeqCst) {
                sent.store(next + 200, Ordering::SeqCst);
                assert_eq!(
                    ingest(http, "live", next..next + 200),
                    200,
                    "ingest refused"
                );
                next += 200;
                acknowledged.store(next, Ordering::SeqCst);
                std::thread::sleep(Duration::from_millis(20));
            }
        })
    };
    let reader = {
        let (stop, acknowledged, sent) = (stop.clone(), acknowledged.clone(), sent.clone());
        std::thread::spawn(move || {
            let mut answers = Vec::new();
            while !stop.load(Ordering::SeqCst) {
                let steady = count_and_sum(http, "steady");
                let low = acknowledged.load(Ordering::SeqCst);
                let live = count_and_sum(http, "live");
                let high = sent.load(Ordering::SeqCst);
                answers.push((steady, low, live, high));
                std::thread::sleep(Duration::from_millis(50));
            }
            answers
        })
    };

    std::thread::sleep(Duration::from_millis(500));
    let secret_path = secret.to_str().unwrap();
    let printed = shoal_fleet(&[
        "drain",
        "leaf-0",
        "--seeds",
        &seed,
        "--cluster-secret-file",
        secret_path,
    ]);
    assert!(printed.contains("drained leaf-0"), "{printed}");
    // It leaves the fleet: the process stops, aggregators stop counting it.
    let deadline = Instant::now() + Duration::from_secs(20);
    while leaves[0].exit_status().is_none() {
        assert!(Instant::now() < deadline, "leaf-0 never stopped");
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(leaves[0].exit_status().unwrap().success());
    let deadline = Instant::now() + Duration::from_secs(20);
    while children(http).iter().any(|(name, _)| name == "leaf-0") {
        assert!(
            Instant::now() < deadline,
            "leaf-0 still counted: {:?}",
            children(http)
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    std::thread::sleep(Duration::from_millis(1_000));
    stop.store(true, Ordering::SeqCst);
    writer.join().expect("writer");
    let answers = reader.join().expect("reader");

    assert!(answers.len() >= 20, "only {} queries ran", answers.len());
    for (steady, low, live, high) in &answers {
        let (n, sum, queried, answered) = steady.clone().expect("steady query failed");
        assert_eq!(
            (n, sum),
            (steady_rows, steady_sum),
            "steady table miscounted"
        );
        assert_eq!(queried, answered, "a leaf did not answer");
        let (n, _, queried, answered) = live.clone().expect("live query failed");
        assert_eq!(queried, answered, "a leaf did not answer");
        assert!(
            (*low..=*high).contains(&n),
            "live table counted {n}, acknowledged {low}, sent {high}"
        );
    }
    // Afterwards: three leaves, every row exactly once.
    let live_rows = acknowledged.load(Ordering::SeqCst);
    assert_eq!(
        count_and_sum(http, "steady").expect("count"),
        (steady_rows, steady_sum, 3, 3)
    );
    assert_eq!(
        count_and_sum(http, "live").expect("count"),
        (live_rows, live_rows * (live_rows - 1) / 2, 3, 3)
    );
    let moved: u64 = printed
        .split("blocks, ")
        .nth(1)
        .and_then(|rest| rest.split(' ').next())
        .and_then(|rows| rows.parse().ok())
        .expect("rows moved in the drain's report");
    assert!(moved > 0, "{printed}");
    eprintln!("{printed}{} queries during the drain", answers.len());
}
