//! No acknowledged row is lost while leaves die and come back: a shipper-like
//! client posts numbered rows over HTTP, retrying on 429/503 and on
//! connection errors as Vector and Fluent Bit do, while each leaf is
//! SIGKILLed and restarted on its address. Every id whose request got 200 is
//! then present. And a leaf that hangs (SIGSTOP) while taking rows is given
//! up on, and the rows go to another leaf.

mod common;

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use common::*;

/// Requests the shipper sends at least (it goes on until the leaves are
/// back from the last kill).
const REQUESTS: usize = 200;
const ROWS: usize = 500;

#[test]
fn rows_acknowledged_over_http_survive_leaf_kills() {
    let dirs = [shm_tempdir(), shm_tempdir()];
    let addresses = [free_address(), free_address()];
    let mut leaves: Vec<LeafProcess> = dirs
        .iter()
        .zip(&addresses)
        .map(|(dir, address)| LeafProcess::try_start_on(address, dir.path(), &[]).unwrap())
        .collect();
    let aggregator = AggregatorProcess::start(&addresses, &[]);
    let http = aggregator.http;

    let restarted = Arc::new(AtomicBool::new(false));
    let shipping = restarted.clone();
    let shipper = std::thread::spawn(move || {
        let mut acknowledged = Vec::new();
        let mut retries = 0;
        let mut request = 0;
        while request < REQUESTS || !shipping.load(Ordering::SeqCst) {
            let first = request * ROWS;
            let body: String = (first..first + ROWS)
                .map(|id| format!("{{\"id\": {id}, \"request\": {request}}}\n"))
                .collect();
            loop {
                let (status, _, answer) = http_request(
                    http,
                    "POST",
                    "/api/v1/ingest/numbered",
                    &[("content-type", "application/x-ndjson")],
                    body.as_bytes(),
                );
                if status == 200 {
                    let answer: serde_json::Value = serde_json::from_slice(&answer).unwrap();
                    assert_eq!(answer["accepted"], ROWS as u64, "{answer}");
                    acknowledged.push(first);
                    break;
                }
                assert!(
                    matches!(status, 429 | 503),
                    "a shipper would drop a {status}: {}",
                    String::from_utf8_lossy(&answer)
                );
                retries += 1;
                std::thread::sleep(Duration::from_millis(50));
            }
            std::thread::sleep(Duration::from_millis(8));
            request += 1;
        }
        (acknowledged, retries, request)
    });

    for leaf in 0..2 {
        std::thread::sleep(Duration::from_millis(150));
        leaves[leaf].kill();
        std::thread::sleep(Duration::from_millis(300));
        leaves[leaf] = LeafProcess::try_start_on(&addresses[leaf], dirs[leaf].path(), &[]).unwrap();
    }
    // Then both at once: no leaf can take rows, the shipper gets 503 and retries.
    std::thread::sleep(Duration::from_millis(150));
    for leaf in &mut leaves {
        leaf.kill();
    }
    std::thread::sleep(Duration::from_millis(300));
    for leaf in 0..2 {
        leaves[leaf] = LeafProcess::try_start_on(&addresses[leaf], dirs[leaf].path(), &[]).unwrap();
    }
    restarted.store(true, Ordering::SeqCst);
    let (acknowledged, retries, sent) = shipper.join().unwrap();
    assert!(retries > 0, "the shipper never met a leafless moment");
    assert_eq!(acknowledged.len(), sent);

    // Both leaves back: every acknowledged id is there.
    let mut ids = HashSet::new();
    let mut last = None;
    for _ in 0..300 {
        let (status, answer) = http_query(http, "SELECT id FROM numbered", &[]);
        if status == 200 && answer["completeness"]["leaves_answered"] == 2 {
            ids = answer["rows"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| r[0].as_u64().unwrap() as usize)
                .collect();
            break;
        }
        last = Some((status, answer["completeness"].clone()));
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(
        !ids.is_empty(),
        "both leaves never answered; last: {last:?}"
    );
    for first in &acknowledged {
        for id in *first..first + ROWS {
            assert!(ids.contains(&id), "acknowledged id {id} is missing");
        }
    }
    eprintln!(
        "{} acknowledged rows all present after 4 leaf kills; {retries} retries on 503",
        acknowledged.len() * ROWS
    );
}

#[test]
fn rows_go_to_another_leaf_when_the_chosen_one_hangs() {
    let dirs = [shm_tempdir(), shm_tempdir()];
    // Routing prefers free memory: the leaf without a limit is always drawn
    // before the one with 1 GiB, so it is the one tried first.
    let hung = LeafProcess::start(dirs[0].path(), &[]);
    let healthy = LeafProcess::start(dirs[1].path(), &["--memory-limit", "1GiB"]);
    let addresses = [hung.address.to_string(), healthy.address.to_string()];
    let aggregator = AggregatorProcess::start(&addresses, &[]);

    stop_process(hung.pid());
    let body: String = (0..1_000).map(|id| format!("{{\"id\": {id}}}\n")).collect();
    let (code, _, answer) = http_request(
        aggregator.http,
        "POST",
        "/api/v1/ingest/patient",
        &[("content-type", "application/x-ndjson")],
        body.as_bytes(),
    );
    let answer: serde_json::Value = serde_json::from_slice(&answer).unwrap();
    assert_eq!(
        (code, answer["accepted"].as_u64()),
        (200, Some(1_000)),
        "{answer}"
    );

    let runtime = tokio::runtime::Runtime::new().unwrap();
    let held = runtime.block_on(async { status(&mut healthy.client().await).await.tables });
    let held: u64 = held.iter().map(|t| t.rows).sum();
    assert_eq!(held, 1_000, "the rows are on the leaf that answered");
    signal(hung.pid(), libc::SIGCONT);
}
