//! A block moved between two stores: which copy each snapshot time
//! counts, what a restart keeps, and what happens to a copy cut short.

use std::sync::Arc;
use std::time::Duration;

use arrow::array::{Int64Array, RecordBatch};
use arrow::datatypes::{DataType, Field, Schema};
use shoal_proto::{BlockRef, HandoverRequest};

use crate::drain::{blocks_to_move, export, handover, import};
use crate::store::{Store, StoreConfig, now_micros};

fn open(dir: &std::path::Path) -> Store {
    Store::open(StoreConfig {
        data_dir: dir.to_path_buf(),
        backup_dir: None,
        memory_limit: None,
        retention: None,
        seal_age: Duration::from_secs(3600),
    })
    .unwrap()
    .0
}

fn ids(range: std::ops::Range<i64>) -> RecordBatch {
    let schema = Arc::new(Schema::new(vec![Field::new("id", DataType::Int64, false)]));
    RecordBatch::try_new(schema, vec![Arc::new(Int64Array::from_iter_values(range))]).unwrap()
}

fn rows_at(store: &Store, as_of: i64) -> u64 {
    match store.table("t", false) {
        Ok(table) => table.snapshot_at(as_of).unwrap().rows,
        Err(_) => 0,
    }
}

#[test]
fn each_snapshot_counts_one_copy_and_restarts_keep_the_handover() {
    let (dir_a, dir_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let a = open(dir_a.path());
    let b = open(dir_b.path());
    a.ingest("t", &[ids(0..1_000)], 0).unwrap();
    b.ingest("t", &[ids(1_000..1_500)], 0).unwrap();

    let blocks = blocks_to_move(&a).unwrap();
    assert_eq!(blocks.len(), 1);
    assert_eq!(blocks[0].rows, 1_000);
    let (bytes, index) = export(&a, &blocks[0]).unwrap();
    let copy = import(&b, "t", &bytes, &index).unwrap();
    assert_eq!(copy.segment, 0);
    // Pending: counted by no snapshot, however late.
    assert_eq!(rows_at(&b, i64::MAX), 500);

    let at = now_micros() + 60_000_000;
    let take = HandoverRequest {
        at_micros: at,
        take: vec![copy.clone()],
        ..Default::default()
    };
    handover(&b, &take).unwrap();
    let give = HandoverRequest {
        at_micros: at,
        give: blocks.clone(),
        ..Default::default()
    };
    handover(&a, &give).unwrap();
    for as_of in [at - 1, at, at + 1] {
        assert_eq!(
            rows_at(&a, as_of) + rows_at(&b, as_of),
            1_500,
            "snapshot {as_of} (handover at {at})"
        );
    }
    assert_eq!(rows_at(&a, at - 1), 1_000);
    assert_eq!(rows_at(&a, at), 0);
    assert_eq!(rows_at(&b, at), 1_500);
    // Nothing left to move; a give in the past is refused.
    assert!(blocks_to_move(&a).unwrap().is_empty());
    let late = HandoverRequest {
        at_micros: now_micros() - 1,
        give: blocks.clone(),
        ..Default::default()
    };
    assert!(handover(&a, &late).is_err());

    // Restarted, both keep their side of the handover.
    drop((a, b));
    let a = open(dir_a.path());
    let b = open(dir_b.path());
    assert_eq!((rows_at(&a, at - 1), rows_at(&b, at - 1)), (1_000, 500));
    assert_eq!((rows_at(&a, at), rows_at(&b, at)), (0, 1_500));

    // Cancelled before its time, the move is undone on both sides, the
    // giving side first; a give of that round arriving late is refused.
    let cancel_a = HandoverRequest {
        at_micros: at,
        cancel: blocks.clone(),
        ..Default::default()
    };
    handover(&a, &cancel_a).unwrap();
    let cancel_b = HandoverRequest {
        at_micros: at,
        cancel: vec![copy.clone()],
        ..Default::default()
    };
    handover(&b, &cancel_b).unwrap();
    assert_eq!((rows_at(&a, at), rows_at(&b, at)), (1_000, 500));
    assert!(
        handover(&a, &give).is_err(),
        "a late give of a cancelled round"
    );
    // The copy's id is gone; a take naming it is refused.
    assert!(handover(&b, &take).is_err());
}

#[test]
fn a_block_taken_over_moves_on_again_and_a_take_must_name_it_exactly() {
    let dirs: Vec<_> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let stores: Vec<Store> = dirs.iter().map(|d| open(d.path())).collect();
    stores[0].ingest("t", &[ids(0..300)], 0).unwrap();
    // 0 -> 1, with a take that names the wrong size refused first.
    let from = blocks_to_move(&stores[0]).unwrap();
    let (bytes, index) = export(&stores[0], &from[0]).unwrap();
    let copy = import(&stores[1], "t", &bytes, &index).unwrap();
    let at = now_micros() + 200_000;
    let mut wrong = copy.clone();
    wrong.rows += 1;
    let take = |block: BlockRef| HandoverRequest {
        at_micros: at,
        take: vec![block],
        ..Default::default()
    };
    assert!(handover(&stores[1], &take(wrong)).is_err());
    let twice = HandoverRequest {
        at_micros: at,
        take: vec![copy.clone(), copy.clone()],
        ..Default::default()
    };
    assert!(handover(&stores[1], &twice).is_err());
    handover(&stores[1], &take(copy.clone())).unwrap();
    let give = HandoverRequest {
        at_micros: at,
        give: from,
        ..Default::default()
    };
    handover(&stores[0], &give).unwrap();
    // While it is on its way in, leaf 1 does not list it to move on.
    assert!(blocks_to_move(&stores[1]).unwrap().is_empty());
    std::thread::sleep(Duration::from_millis(250));
    // Then 1 -> 2: a block taken over is this leaf's like any other.
    let onward = blocks_to_move(&stores[1]).unwrap();
    assert_eq!(onward.len(), 1);
    let (bytes, index) = export(&stores[1], &onward[0]).unwrap();
    let again = import(&stores[2], "t", &bytes, &index).unwrap();
    assert_ne!((again.segment, again.part), (0, 0));
    let later = now_micros() + 200_000;
    handover(
        &stores[2],
        &HandoverRequest {
            at_micros: later,
            take: vec![again],
            ..Default::default()
        },
    )
    .unwrap();
    handover(
        &stores[1],
        &HandoverRequest {
            at_micros: later,
            give: onward,
            ..Default::default()
        },
    )
    .unwrap();
    let total = |as_of| stores.iter().map(|s| rows_at(s, as_of)).sum::<u64>();
    for as_of in [at - 1, at, later - 1, later] {
        assert_eq!(total(as_of), 300, "snapshot {as_of}");
    }
    assert_eq!(rows_at(&stores[2], later), 300);
}

#[test]
fn an_unreadable_marker_stops_recovery_instead_of_guessing() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    store.ingest("t", &[ids(0..10)], 0).unwrap();
    let block = blocks_to_move(&store).unwrap().remove(0);
    drop(store);
    let marker = dir.path().join(format!(
        "tables/t/block-{:012}-{:04}.move",
        block.segment, block.part
    ));
    std::fs::write(&marker, "half a word").unwrap();
    let error = Store::open(StoreConfig {
        data_dir: dir.path().to_path_buf(),
        backup_dir: None,
        memory_limit: None,
        retention: None,
        seal_age: Duration::from_secs(3600),
    })
    .unwrap_err();
    assert!(error.to_string().contains("half a word"), "{error}");
}

#[test]
fn a_copy_cut_short_is_gone_after_a_restart_and_an_old_snapshot_is_refused() {
    let (dir_a, dir_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let a = open(dir_a.path());
    let b = open(dir_b.path());
    a.ingest("t", &[ids(0..100)], 0).unwrap();
    let blocks = blocks_to_move(&a).unwrap();
    let (bytes, index) = export(&a, &blocks[0]).unwrap();
    import(&b, "t", &bytes, &index).unwrap();
    // A block that is not one is refused, and leaves nothing behind.
    assert!(import(&b, "t", b"not a block", b"").is_err());
    drop(b);
    let b = open(dir_b.path());
    assert_eq!(rows_at(&b, i64::MAX), 0);
    let files: Vec<String> = std::fs::read_dir(dir_b.path().join("tables/t"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        .filter(|name| name.starts_with("block-"))
        .collect();
    assert!(files.is_empty(), "{files:?}");

    // A block given away is deleted once kept long enough; a snapshot
    // from before its handover is then refused, not answered without it.
    let at = now_micros() + 1_000;
    handover(
        &a,
        &HandoverRequest {
            at_micros: at,
            give: blocks,
            ..Default::default()
        },
    )
    .unwrap();
    let table = a.table("t", false).unwrap();
    let later = at + crate::table::MOVED_OUT_KEPT.as_micros() as i64 + 1;
    table.forget_moved_out(later, None).unwrap();
    assert!(table.snapshot_at(at - 1).is_err());
    assert_eq!(table.snapshot_at(at).unwrap().rows, 0);
}

#[test]
fn a_handover_time_far_ahead_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    store.ingest("t", &[ids(0..10)], 0).unwrap();
    let give = HandoverRequest {
        at_micros: now_micros() + 3_600_000_000,
        give: blocks_to_move(&store).unwrap(),
        ..Default::default()
    };
    let error = handover(&store, &give).unwrap_err();
    assert!(error.to_string().contains("ahead"), "{error}");
    assert_eq!(rows_at(&store, i64::MAX), 10);
}
