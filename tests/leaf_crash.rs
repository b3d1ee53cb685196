//! A leaf SIGKILLed at random moments while it ingests loses no acknowledged
//! row, duplicates none, and never shows half of a batch.
//!
//! Each round starts a leaf on the same data directory (tmpfs), ingests
//! numbered rows in batches of random size from a client task while the test
//! kills the process after a random delay, then restarts and reads every id
//! back. Seal age is short so kills also land in the middle of seals.

mod common;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use arrow::array::{AsArray, Int64Array, RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Int64Type, Schema};
use common::*;
use rand::{Rng, SeedableRng};

const KILLS: usize = 24;

fn numbered_batch(first: i64, rows: usize) -> RecordBatch {
    let schema = Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, false),
        Field::new("payload", DataType::Utf8, false),
    ]));
    let ids = Int64Array::from_iter_values(first..first + rows as i64);
    let payload =
        StringArray::from_iter_values((0..rows).map(|i| format!("p{}", (first as usize + i) % 97)));
    RecordBatch::try_new(schema, vec![Arc::new(ids), Arc::new(payload)]).unwrap()
}

/// Ids present in the table, with how often each appears.
async fn stored_ids(leaf: &LeafProcess) -> HashMap<i64, u32> {
    let mut counts = HashMap::new();
    let batches = match scan(&leaf.endpoint(), scan_request("events", &["id"], "")).await {
        Ok(batches) => batches,
        // Killed before its first row: the table was never created.
        Err(error) if error.contains("does not exist") => return counts,
        Err(error) => panic!("scan: {error}"),
    };
    for batch in &batches {
        for id in batch.column(0).as_primitive::<Int64Type>().values() {
            *counts.entry(*id).or_insert(0) += 1;
        }
    }
    counts
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_during_ingest_loses_no_acknowledged_row() {
    let data_dir = shm_tempdir();
    let mut rng = rand::rngs::StdRng::seed_from_u64(0x5_0a1);
    let mut acknowledged: Vec<(i64, usize)> = Vec::new();
    let mut unacknowledged: Vec<(i64, usize)> = Vec::new();
    let mut next_id = 0i64;
    let mut cut_short_found_whole = 0;

    for round in 0..KILLS {
        let mut leaf = LeafProcess::start(data_dir.path(), &["--seal-age", "150ms"]);
        let mut client = leaf.client().await;

        // Everything acknowledged so far is there exactly once; of the
        // requests that were cut short, each is there whole or not at all.
        let counts = stored_ids(&leaf).await;
        check_ids(&counts, &acknowledged, &unacknowledged, round);
        // A cut-short request that made it in must stay from now on.
        let now_present: Vec<_> = unacknowledged
            .drain(..)
            .filter(|(first, _)| counts.contains_key(first))
            .collect();
        cut_short_found_whole += now_present.len();
        acknowledged.extend(now_present);

        let kill_after = Duration::from_millis(rng.random_range(30..400));
        // Mostly small batches, now and then one that fills a block; bounded
        // so that checking every id each round stays cheap.
        let sizes: Vec<usize> = (0..200)
            .map(|_| match rng.random_range(0..40) {
                0 => rng.random_range(20_000..70_000),
                _ => rng.random_range(1..1_000),
            })
            .collect();
        let start_id = next_id;
        let ingest = tokio::spawn(async move {
            let mut results = Vec::new();
            let mut id = start_id;
            for rows in sizes {
                let outcome = ingest(&mut client, "events", &[numbered_batch(id, rows)]).await;
                let ok = outcome.is_ok();
                results.push((id, rows, ok));
                id += rows as i64;
                if !ok {
                    break;
                }
            }
            results
        });
        tokio::time::sleep(kill_after).await;
        leaf.kill();
        let results = ingest.await.unwrap();
        for (first, rows, ok) in results {
            next_id = first + rows as i64;
            if ok {
                acknowledged.push((first, rows));
            } else {
                unacknowledged.push((first, rows));
            }
        }
    }

    let leaf = LeafProcess::start(data_dir.path(), &[]);
    let counts = stored_ids(&leaf).await;
    check_ids(&counts, &acknowledged, &unacknowledged, KILLS);
    let acknowledged_rows: usize = acknowledged.iter().map(|(_, rows)| rows).sum();
    assert!(
        acknowledged_rows > 100_000,
        "too little was ingested to mean anything: {acknowledged_rows}"
    );
    eprintln!(
        "{KILLS} kills: {acknowledged_rows} acknowledged rows all present once; \
         {cut_short_found_whole} cut-short requests found whole after restart"
    );
}

fn check_ids(
    counts: &HashMap<i64, u32>,
    acknowledged: &[(i64, usize)],
    unacknowledged: &[(i64, usize)],
    round: usize,
) {
    let mut expected = 0usize;
    for &(first, rows) in acknowledged {
        for id in first..first + rows as i64 {
            assert_eq!(
                counts.get(&id),
                Some(&1),
                "round {round}: acknowledged id {id} seen {:?} times",
                counts.get(&id)
            );
        }
        expected += rows;
    }
    for &(first, rows) in unacknowledged {
        let present = (first..first + rows as i64)
            .filter(|id| counts.contains_key(id))
            .count();
        assert!(
            present == 0 || present == rows,
            "round {round}: request at {first} is half there ({present} of {rows})"
        );
        for id in first..first + rows as i64 {
            assert!(
                counts.get(&id).is_none_or(|&n| n == 1),
                "round {round}: id {id} duplicated"
            );
        }
        expected += present;
    }
    assert_eq!(
        counts.len(),
        expected,
        "round {round}: ids that were never sent are present"
    );
}
