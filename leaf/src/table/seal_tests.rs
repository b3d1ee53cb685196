//! Frozen blocks: read until their seal commits, kept across a crash at
//! any step of the seal, never counted twice while ingest, seals and
//! snapshots run at once, and never written for a dropped table.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use arrow::array::{Int64Array, RecordBatch};
use arrow::datatypes::{DataType, Field, Schema};

use super::super::{BLOCK_ROWS, Table, seal_batches, wal_path};

fn ids(range: std::ops::Range<i64>) -> RecordBatch {
    let schema = Arc::new(Schema::new(vec![Field::new("id", DataType::Int64, false)]));
    RecordBatch::try_new(schema, vec![Arc::new(Int64Array::from_iter_values(range))]).unwrap()
}

/// The ids a snapshot reads, sealed and open, sorted.
fn ids_read(table: &Table) -> Vec<i64> {
    let snapshot = table.snapshot();
    let mut ids: Vec<i64> = Vec::new();
    for block in &snapshot.sealed {
        let batch = block.batch().unwrap();
        let column = batch.column_by_name("id").unwrap();
        let column = arrow::compute::cast(column, &DataType::Int64).unwrap();
        let values = column.as_any().downcast_ref::<Int64Array>().unwrap();
        ids.extend(values.values().iter());
    }
    for batch in &snapshot.open {
        let column = batch.column_by_name("id").unwrap();
        let values = column.as_any().downcast_ref::<Int64Array>().unwrap();
        ids.extend(values.values().iter());
    }
    assert_eq!(ids.len() as u64, snapshot.rows, "rows counted as read");
    ids.sort_unstable();
    ids
}

fn block_files(dir: &Path) -> usize {
    std::fs::read_dir(dir)
        .unwrap()
        .filter(|entry| {
            let name = entry.as_ref().unwrap().file_name();
            name.to_string_lossy().ends_with(".arrow")
        })
        .count()
}

/// Fills block 1 (frozen, not sealed) and puts `more` rows in block 2.
fn frozen_and_open(dir: &Path, more: i64) -> Table {
    let table = Table::create("t", dir.to_path_buf()).unwrap();
    let full = BLOCK_ROWS as i64;
    let ingested = table.ingest_leaving_seal(&[ids(0..full)], None, 1, None);
    assert!(ingested.unwrap().seal, "a full block waits for its seal");
    let ingested = table.ingest_leaving_seal(&[ids(full..full + more)], None, 1, None);
    assert!(!ingested.unwrap().seal, "this call froze nothing");
    assert_eq!(table.lock().frozen.len(), 1, "block 1 still waits");
    table
}

#[test]
fn a_frozen_block_is_read_as_open_rows_until_its_seal_commits() {
    let dir = tempfile::tempdir().unwrap();
    let full = BLOCK_ROWS as i64;
    let table = frozen_and_open(dir.path(), 10);
    assert!(table.snapshot().sealed.is_empty());
    assert_eq!(ids_read(&table), (0..full + 10).collect::<Vec<_>>());
    assert_eq!(table.stats().open_rows, BLOCK_ROWS as u64 + 10);
    assert_eq!(table.stats().spans.len(), 2, "one span per unsealed block");
    assert!(wal_path(dir.path(), 1).exists() && wal_path(dir.path(), 2).exists());

    table.seal_frozen(None);
    let snapshot = table.snapshot();
    assert_eq!(snapshot.sealed.len(), 1);
    assert_eq!(snapshot.sealed[0].meta.rows, BLOCK_ROWS as u64);
    assert_eq!(ids_read(&table), (0..full + 10).collect::<Vec<_>>());
    assert!(!wal_path(dir.path(), 1).exists(), "the frozen segment went");
    assert_eq!(table.stats().open_rows, 10);
    // Nothing waits now: the next ingest leaves no seal.
    let ingested = table.ingest_leaving_seal(&[ids(full + 10..full + 20)], None, 1, None);
    assert!(!ingested.unwrap().seal);
}

#[test]
fn a_crash_before_or_during_the_seal_of_a_frozen_block_loses_no_row() {
    let full = BLOCK_ROWS as i64;
    let expected: Vec<i64> = (0..full + 500).collect();
    // Killed with the block frozen, nothing written.
    let dir = tempfile::tempdir().unwrap();
    drop(frozen_and_open(dir.path(), 500));
    let recovered = Table::recover("t", dir.path().to_path_buf(), None).unwrap();
    assert_eq!(ids_read(&recovered), expected);
    // The older segment is frozen again, not sealed by the restart.
    assert!(recovered.has_frozen());
    assert_eq!(block_files(dir.path()), 0);
    assert_eq!(recovered.stats().open_rows, full as u64 + 500);
    recovered.seal_frozen(None);
    assert!(!recovered.has_frozen());
    assert_eq!(recovered.snapshot().sealed.len(), 1);
    assert_eq!(recovered.stats().open_rows, 500);
    assert_eq!(ids_read(&recovered), expected);
    drop(recovered);
    let again = Table::recover("t", dir.path().to_path_buf(), None).unwrap();
    assert!(!again.has_frozen());
    assert_eq!(ids_read(&again), expected);

    // Killed after the blocks were written, before the commit.
    let dir = tempfile::tempdir().unwrap();
    let table = frozen_and_open(dir.path(), 500);
    {
        let state = table.lock();
        let frozen = &state.frozen[0];
        seal_batches(dir.path(), 1, &frozen.schema, &frozen.block.batches).unwrap();
    }
    assert_eq!(block_files(dir.path()), 1);
    drop(table);
    let recovered = Table::recover("t", dir.path().to_path_buf(), None).unwrap();
    assert_eq!(ids_read(&recovered), expected, "each row once");
    assert_eq!(block_files(dir.path()), 0, "the unfinished seal is undone");
    // Its seal after the restart, then a restart again.
    recovered.seal_frozen(None);
    assert_eq!(block_files(dir.path()), 1);
    drop(recovered);
    let again = Table::recover("t", dir.path().to_path_buf(), None).unwrap();
    assert!(!again.has_frozen());
    assert_eq!(ids_read(&again), expected);
}

#[test]
fn ingest_seals_and_snapshots_at_once_count_every_row_once() {
    let dir = tempfile::tempdir().unwrap();
    let table = Arc::new(Table::create("t", dir.path().to_path_buf()).unwrap());
    let (batches, rows) = (120_i64, 3_000_i64);
    let done = Arc::new(AtomicBool::new(false));
    let reader = {
        let (table, done) = (table.clone(), done.clone());
        std::thread::spawn(move || {
            let mut last = 0;
            let mut looks = 0;
            while !done.load(Ordering::Relaxed) {
                let ids = ids_read(&table);
                let distinct = ids.windows(2).all(|w| w[0] < w[1]);
                assert!(distinct, "a row counted twice");
                assert!(ids.len() >= last, "rows went missing");
                last = ids.len();
                looks += 1;
            }
            looks
        })
    };
    let mut sealers = Vec::new();
    for i in 0..batches {
        let from = i * rows;
        let ingested = table.ingest_leaving_seal(&[ids(from..from + rows)], None, 1, None);
        if ingested.unwrap().seal {
            let table = table.clone();
            sealers.push(std::thread::spawn(move || table.seal_frozen(None)));
        }
    }
    for sealer in sealers {
        sealer.join().unwrap();
    }
    done.store(true, Ordering::Relaxed);
    assert!(reader.join().unwrap() > 0);
    let expected: Vec<i64> = (0..batches * rows).collect();
    assert_eq!(ids_read(&table), expected);
    // A block takes 21 batches: the 22nd would overfill it.
    let sealed = table.snapshot().sealed.len() as i64;
    assert_eq!(sealed, batches / (BLOCK_ROWS as i64 / rows));
    drop(table);
    let recovered = Table::recover("t", dir.path().to_path_buf(), None).unwrap();
    assert_eq!(ids_read(&recovered), expected);
}

#[test]
fn a_dropped_table_writes_no_block_for_its_frozen_rows() {
    let dir = tempfile::tempdir().unwrap();
    let table = frozen_and_open(dir.path(), 10);
    assert_eq!(table.mark_dropped(), BLOCK_ROWS as u64 + 10);
    table.seal_frozen(None);
    table.seal(None).unwrap();
    assert_eq!(block_files(dir.path()), 0);
}

/// Makes the seal of `segment` fail: a directory where its block's
/// temporary file would go.
fn block_seal_fails(dir: &Path, segment: u64) -> std::path::PathBuf {
    let id = crate::block::BlockId { segment, part: 0 };
    let path = dir.join(id.file_name()).with_extension("tmp");
    std::fs::create_dir(&path).unwrap();
    path
}

#[test]
fn seals_that_fail_keep_the_rows_and_refuse_more_until_they_succeed() {
    let dir = tempfile::tempdir().unwrap();
    let table = Table::create("t", dir.path().to_path_buf()).unwrap();
    let full = BLOCK_ROWS as i64;
    let blockers = [
        block_seal_fails(dir.path(), 1),
        block_seal_fails(dir.path(), 2),
    ];
    for part in 0..2 {
        let from = part * full;
        let ingested = table.ingest_leaving_seal(&[ids(from..from + full)], None, 1, None);
        assert!(ingested.unwrap().seal, "this call froze a block");
        table.seal_frozen(None);
    }
    assert!(table.snapshot().sealed.is_empty(), "both seals failed");
    // Two blocks wait: the next rows are refused, none of them stored.
    let refused = table.ingest_leaving_seal(&[ids(2 * full..2 * full + 5)], None, 1, None);
    assert!(
        matches!(refused, Err(crate::error::LeafError::Unavailable(_))),
        "{refused:?}"
    );
    assert!(table.seal(None).is_err(), "the seals fail again");
    assert_eq!(ids_read(&table), (0..2 * full).collect::<Vec<_>>());
    for blocker in blockers {
        std::fs::remove_dir(blocker).unwrap();
    }
    // The maintenance tick seals them; rows are taken again.
    table
        .seal_if_older(std::time::Duration::from_secs(3600), None)
        .unwrap();
    assert_eq!(table.snapshot().sealed.len(), 2);
    let ingested = table.ingest_leaving_seal(&[ids(2 * full..2 * full + 5)], None, 1, None);
    assert!(!ingested.unwrap().seal);
    assert_eq!(ids_read(&table), (0..2 * full + 5).collect::<Vec<_>>());
    drop(table);
    let recovered = Table::recover("t", dir.path().to_path_buf(), None).unwrap();
    assert_eq!(ids_read(&recovered), (0..2 * full + 5).collect::<Vec<_>>());
}

#[test]
fn clients_at_once_with_healthy_seals_are_never_refused() {
    let dir = tempfile::tempdir().unwrap();
    let table = Arc::new(Table::create("t", dir.path().to_path_buf()).unwrap());
    let (clients, batches, rows) = (4_i64, 12_i64, 35_000_i64);
    let senders: Vec<_> = (0..clients)
        .map(|client| {
            let table = table.clone();
            std::thread::spawn(move || {
                let mut sealers = Vec::new();
                for i in 0..batches {
                    let from = (client * batches + i) * rows;
                    let batch = ids(from..from + rows);
                    let ingested = table.ingest_leaving_seal(&[batch], None, 1, None);
                    // As the server does: the seal after the answer.
                    if ingested.expect("healthy seals refuse nothing").seal {
                        let table = table.clone();
                        sealers.push(std::thread::spawn(move || table.seal_frozen(None)));
                    }
                }
                sealers.into_iter().for_each(|s| s.join().unwrap());
            })
        })
        .collect();
    senders.into_iter().for_each(|s| s.join().unwrap());
    // Each freeze spawned a seal after it, and every seal is done.
    assert!(table.lock().frozen.is_empty());
    let expected: Vec<i64> = (0..clients * batches * rows).collect();
    assert_eq!(ids_read(&table), expected);
}
