//! No acknowledged row is lost while leaves die and come back: a shipper-like
//! client posts numbered rows over HTTP, retrying on 429/503 and on
//! connection errors as Vector and Fluent Bit do, while each leaf is
//! SIGKILLed and restarted on its address. Every id whose request got 200 is
//! then present.

mod common;

use std::collections::HashSet;
use std::time::Duration;

use common::*;

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

    let shipper = std::thread::spawn(move || {
        let mut acknowledged = Vec::new();
        let mut retries = 0;
        for request in 0..REQUESTS {
            let first = request * ROWS;
            let body: String = (first..first + ROWS)
                .map(|id| format!("{{\"id\": {id}, \"request\": {request}}}\n"))
                .collect();
            loop {
                let (status, _, answer) = http_request(
                    http,
                    "POST",
                    "/api/v1/ingest/numbered",
                    &[],
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
        }
        (acknowledged, retries)
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
    let (acknowledged, retries) = shipper.join().unwrap();
    assert!(retries > 0, "the shipper never met a leafless moment");
    assert_eq!(acknowledged.len(), REQUESTS);

    // Both leaves back: every acknowledged id is there.
    let mut ids = HashSet::new();
    for _ in 0..50 {
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
        std::thread::sleep(Duration::from_millis(100));
    }
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
