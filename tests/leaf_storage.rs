//! A real leaf process: types fixed on first sight, scans with filters,
//! restart by reattaching, backup, unknown block versions, retention, memory
//! limit, and an unusable data directory.

mod common;

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use arrow::array::{
    ArrayRef, AsArray, Float64Array, Int64Array, RecordBatch, StringArray,
    TimestampMillisecondArray,
};
use arrow::datatypes::{DataType, Field, Float64Type, Int64Type, Schema, TimeUnit};
use common::*;

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// `rows` request rows: time (ms, starting at `start_ms`, one per ms),
/// service (svc-0..svc-4), status (200 or 500), latency.
fn requests(start_ms: i64, rows: usize) -> RecordBatch {
    let schema = Arc::new(Schema::new(vec![
        Field::new(
            "time",
            DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into())),
            false,
        ),
        Field::new("service", DataType::Utf8, false),
        Field::new("status", DataType::Int32, false),
        Field::new("latency_ms", DataType::Float64, false),
    ]));
    let columns: Vec<ArrayRef> = vec![
        Arc::new(
            TimestampMillisecondArray::from_iter_values((0..rows as i64).map(|i| start_ms + i))
                .with_timezone("UTC"),
        ),
        Arc::new(StringArray::from_iter_values(
            (0..rows).map(|i| format!("svc-{}", i % 5)),
        )),
        Arc::new(arrow::array::Int32Array::from_iter_values(
            (0..rows).map(|i| if i % 10 == 0 { 500 } else { 200 }),
        )),
        Arc::new(Float64Array::from_iter_values(
            (0..rows).map(|i| i as f64 / 10.0),
        )),
    ];
    RecordBatch::try_new(schema, columns).unwrap()
}

fn one_column(name: &str, column: ArrayRef) -> RecordBatch {
    let schema = Arc::new(Schema::new(vec![Field::new(
        name,
        column.data_type().clone(),
        true,
    )]));
    RecordBatch::try_new(schema, vec![column]).unwrap()
}

async fn wait_until_sealed(leaf: &LeafProcess, table: &str) {
    wait_for_table(leaf, table, "sealed whole", |t| {
        t.open_rows == 0 && t.sealed_blocks > 0
    })
    .await;
}

/// Waits until the backup holds a copy of every sealed block of `table`
/// (copies run on a background thread, each through an fsync and a rename).
async fn wait_for_backup(leaf: &LeafProcess, backup: &std::path::Path, table: &str) {
    let mut client = leaf.client().await;
    let sealed = status(&mut client)
        .await
        .tables
        .iter()
        .find(|t| t.name == table)
        .map_or(0, |t| t.sealed_blocks) as usize;
    let copied = || {
        std::fs::read_dir(backup.join(table)).map_or(0, |entries| {
            entries
                .flatten()
                .filter(|e| {
                    let name = e.file_name().to_string_lossy().into_owned();
                    name.starts_with("block-") && name.ends_with(".arrow")
                })
                .count()
        })
    };
    for _ in 0..600 {
        if sealed > 0 && copied() >= sealed {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{} of {sealed} blocks of {table} backed up", copied());
}

/// Waits until `table` has `blocks` sealed blocks: a full block is sealed
/// after the answer to the rows that filled it, off the table's lock.
async fn wait_for_sealed_blocks(leaf: &LeafProcess, table: &str, blocks: u64) {
    let what = format!("{blocks} sealed blocks");
    wait_for_table(leaf, table, &what, |t| t.sealed_blocks >= blocks).await;
}

/// A leaf that seals only full blocks, holding 150,000 `requests` rows 1 ms
/// apart from `first` in batches of 10,000: a batch after which another
/// would overflow the open block's 65,536 rows freezes it, so two sealed
/// blocks of 60,000 rows (once their seals are done) and an open block of
/// 30,000.
async fn leaf_with_three_blocks(dir: &std::path::Path, first: i64) -> LeafProcess {
    let leaf = LeafProcess::start(dir, &["--seal-age", "1h"]);
    let mut client = leaf.client().await;
    for chunk in 0..15 {
        ingest(
            &mut client,
            "requests",
            &[requests(first + chunk * 10_000, 10_000)],
        )
        .await
        .unwrap();
    }
    wait_for_sealed_blocks(&leaf, "requests", 2).await;
    leaf
}

#[tokio::test]
async fn scans_filter_by_time_and_strings_in_open_and_sealed_blocks() {
    let dir = shm_tempdir();
    let start = 1_700_000_000_000;
    let leaf = leaf_with_three_blocks(dir.path(), start).await;
    let mut client = leaf.client().await;
    let status = status(&mut client).await;
    let table = &status.tables[0];
    assert_eq!(table.rows, 150_000);
    assert_eq!(table.sealed_blocks, 2);
    assert_eq!(table.open_rows, 30_000);
    let types: Vec<(&str, &str)> = table
        .columns
        .iter()
        .map(|c| (c.name.as_str(), c.r#type.as_str()))
        .collect();
    assert_eq!(
        types,
        vec![
            ("time", "timestamp"),
            ("service", "string"),
            ("status", "integer"),
            ("latency_ms", "float")
        ]
    );

    // Every fifth row is svc-3; ten rows per ms-range of 10 hold status 500.
    let endpoint = leaf.endpoint();
    let svc3 = scan(
        &endpoint,
        scan_request("requests", &["service"], "service = 'svc-3'"),
    )
    .await
    .unwrap();
    assert_eq!(row_count(&svc3), 30_000);
    let errors_in = scan(
        &endpoint,
        scan_request(
            "requests",
            &["status"],
            "status >= 500 AND service IN ('svc-0', 'svc-1')",
        ),
    )
    .await
    .unwrap();
    assert_eq!(row_count(&errors_in), 15_000);

    let mut windowed = scan_request("requests", &["time", "latency_ms"], "service = 'svc-2'");
    windowed.min_time_micros = Some((start + 60_000) * 1000);
    windowed.max_time_micros = Some((start + 140_000) * 1000);
    let rows = scan(&endpoint, windowed).await.unwrap();
    assert_eq!(row_count(&rows), 80_000 / 5);

    // Time bounds are applied by the scan itself (DataFusion does not check
    // them again): bounds inside both sealed blocks and the open one, a
    // strict and an inclusive one, with and without an indexed string.
    let ms = |offset: i64| format!("to_timestamp_millis({})", start + offset);
    for (filter, expected) in [
        (
            format!("time >= {} AND time < {}", ms(30_000), ms(90_000)),
            60_000,
        ),
        (
            format!("time > {} AND time <= {}", ms(30_000), ms(130_000)),
            100_000,
        ),
        (format!("time BETWEEN {} AND {}", ms(59_999), ms(60_000)), 2),
        (
            format!("{} <= time AND service = 'svc-2'", ms(100_000)),
            10_000,
        ),
        // A bound through a cast to seconds only prunes blocks: the whole
        // second matches, not only its first row.
        (
            format!(
                "arrow_cast(time, 'Timestamp(Second, None)') = to_timestamp_seconds({})",
                (start + 30_000) / 1000
            ),
            1_000,
        ),
    ] {
        let rows = scan(&endpoint, scan_request("requests", &["service"], &filter))
            .await
            .unwrap();
        assert_eq!(row_count(&rows), expected, "{filter}");
    }

    let none = scan(&endpoint, scan_request("requests", &[], "service = 'nope'"))
        .await
        .unwrap();
    assert_eq!(row_count(&none), 0);

    let bad = scan(
        &endpoint,
        scan_request("requests", &[], "no_such_column = 1"),
    )
    .await
    .unwrap_err();
    assert!(bad.contains("no_such_column"), "{bad}");
    let missing = scan(&endpoint, scan_request("nothing_here", &[], ""))
        .await
        .unwrap_err();
    assert!(missing.contains("nothing_here"), "{missing}");
}

#[tokio::test]
async fn a_column_keeps_its_first_type_and_conflicts_are_refused_with_both_types() {
    let dir = shm_tempdir();
    let leaf = LeafProcess::start(dir.path(), &[]);
    let mut client = leaf.client().await;

    ingest(
        &mut client,
        "t",
        &[one_column("n", Arc::new(Int64Array::from(vec![1, 2])))],
    )
    .await
    .unwrap();
    ingest(
        &mut client,
        "t",
        &[one_column("f", Arc::new(Float64Array::from(vec![0.5])))],
    )
    .await
    .unwrap();

    let refused = ingest(
        &mut client,
        "t",
        &[one_column("n", Arc::new(StringArray::from(vec!["x"])))],
    )
    .await
    .unwrap_err();
    let message = refused.message();
    assert_eq!(refused.code(), tonic::Code::InvalidArgument);
    assert!(
        message.contains("\"n\"") && message.contains("integer") && message.contains("Utf8"),
        "{message}"
    );

    let refused = ingest(
        &mut client,
        "t",
        &[one_column("n", Arc::new(Float64Array::from(vec![1.5])))],
    )
    .await
    .unwrap_err();
    assert!(
        refused.message().contains("Float64"),
        "{}",
        refused.message()
    );

    // Integers go into a float column when no value changes...
    ingest(
        &mut client,
        "t",
        &[one_column("f", Arc::new(Int64Array::from(vec![3, -4])))],
    )
    .await
    .unwrap();
    // ...and are refused when one would.
    let refused = ingest(
        &mut client,
        "t",
        &[one_column(
            "f",
            Arc::new(Int64Array::from(vec![1i64 << 60])),
        )],
    )
    .await
    .unwrap_err();
    assert!(refused.message().contains("2^53"), "{}", refused.message());

    // Smaller integer widths are integers.
    ingest(
        &mut client,
        "t",
        &[one_column(
            "n",
            Arc::new(arrow::array::Int8Array::from(vec![7])),
        )],
    )
    .await
    .unwrap();

    let batches = scan(&leaf.endpoint(), scan_request("t", &["n", "f"], ""))
        .await
        .unwrap();
    assert_eq!(batches[0].schema().field(0).data_type(), &DataType::Int64);
    assert_eq!(batches[0].schema().field(1).data_type(), &DataType::Float64);
    let mut floats: Vec<f64> = batches
        .iter()
        .flat_map(|b| {
            b.column(1)
                .as_primitive::<Float64Type>()
                .iter()
                .flatten()
                .collect::<Vec<_>>()
        })
        .collect();
    floats.sort_by(f64::total_cmp);
    assert_eq!(floats, vec![-4.0, 0.5, 3.0]);
    let ints: i64 = batches
        .iter()
        .map(|b| {
            b.column(0)
                .as_primitive::<Int64Type>()
                .iter()
                .flatten()
                .sum::<i64>()
        })
        .sum();
    assert_eq!(ints, 10);
    assert_eq!(row_count(&batches), 6, "refused batches stored nothing");

    let bad_name = ingest(
        &mut client,
        "../etc",
        &[one_column("n", Arc::new(Int64Array::from(vec![1])))],
    )
    .await
    .unwrap_err();
    assert!(
        bad_name.message().contains("invalid table name"),
        "{}",
        bad_name.message()
    );
    let garbage = client
        .ingest(shoal_proto::IngestRequest {
            table: "t".into(),
            arrow_ipc: b"not arrow".to_vec().into(),
        })
        .await
        .unwrap_err();
    assert_eq!(garbage.code(), tonic::Code::InvalidArgument);
    assert!(
        status(&mut client).await.ready,
        "the leaf is still up after bad input"
    );
}

#[tokio::test]
async fn a_restart_reattaches_sealed_blocks_and_replays_the_open_block() {
    let dir = shm_tempdir();
    let start = now_ms() - 60_000;
    let mut leaf = LeafProcess::start(dir.path(), &["--seal-age", "1h"]);
    let mut client = leaf.client().await;
    ingest(&mut client, "requests", &[requests(start, 70_000)])
        .await
        .unwrap();
    // The full block is sealed after the answer, not before it.
    wait_until_sealed(&leaf, "requests").await;
    ingest(&mut client, "requests", &[requests(start + 70_000, 1_234)])
        .await
        .unwrap();
    let before = status(&mut client).await;
    assert_eq!(before.tables[0].open_rows, 1_234);
    leaf.kill();

    let leaf = LeafProcess::start(dir.path(), &["--seal-age", "1h"]);
    let mut client = leaf.client().await;
    let after = status(&mut client).await;
    assert_eq!(after.tables, before.tables);
    assert_eq!(after.tables[0].rows, 71_234);
    let all = scan(
        &leaf.endpoint(),
        scan_request("requests", &["service"], "service = 'svc-4'"),
    )
    .await
    .unwrap();
    assert_eq!(row_count(&all), 71_234 / 5);
}

/// [`requests`] already in the table's own types (microsecond times, 64-bit
/// status), so the leaf keeps them as they came: its write-ahead segment
/// holds the Arrow IPC received, not the rows encoded again.
fn native_requests(start_ms: i64, rows: usize) -> RecordBatch {
    let batch = requests(start_ms, rows);
    let time = arrow::compute::cast(
        batch.column(0),
        &DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
    )
    .unwrap();
    let status = arrow::compute::cast(batch.column(2), &DataType::Int64).unwrap();
    let schema = Arc::new(Schema::new(vec![
        Field::new("time", time.data_type().clone(), false),
        Field::new("service", DataType::Utf8, true),
        Field::new("status", DataType::Int64, true),
        Field::new("latency_ms", DataType::Float64, true),
    ]));
    let columns = vec![
        time,
        batch.column(1).clone(),
        status,
        batch.column(3).clone(),
    ];
    RecordBatch::try_new(schema, columns).unwrap()
}

#[tokio::test]
async fn rows_kept_as_they_came_and_rows_converted_are_both_replayed_after_a_kill() {
    let dir = shm_tempdir();
    let start = now_ms() - 60_000;
    let mut leaf = LeafProcess::start(dir.path(), &["--seal-age", "1h"]);
    let mut client = leaf.client().await;
    // Converted (millisecond times, 32-bit status), then as they came (two
    // batches in one stream, one record), then converted again: records of
    // both kinds in one write-ahead segment.
    ingest(&mut client, "requests", &[requests(start, 1_000)])
        .await
        .unwrap();
    let native = [
        native_requests(start + 1_000, 1_500),
        native_requests(start + 2_500, 500),
    ];
    ingest(&mut client, "requests", &native).await.unwrap();
    ingest(&mut client, "requests", &[requests(start + 3_000, 1_000)])
        .await
        .unwrap();
    // The stream as it was sent is in the segment (not encoded again)...
    let segment = wal_segment(dir.path(), "requests");
    let sent = ipc_bytes(&native);
    assert!(
        segment.windows(sent.len()).any(|w| w == sent.as_slice()),
        "the received stream is kept as it is"
    );
    // ...but not bytes a sender put after the end of its stream: those
    // rows are encoded again, without them.
    let mut padded = ipc_bytes(&[native_requests(start + 4_000, 10)]);
    padded.extend(vec![0x5a_u8; 1 << 20]);
    client
        .ingest(shoal_proto::IngestRequest {
            table: "requests".to_string(),
            arrow_ipc: padded.into(),
        })
        .await
        .unwrap();
    let grown = wal_segment(dir.path(), "requests").len() - segment.len();
    assert!(grown < 64 * 1024, "the segment grew by {grown} bytes");
    let before = status(&mut client).await;
    assert_eq!(before.tables[0].open_rows, 4_010);
    leaf.kill();

    let leaf = LeafProcess::start(dir.path(), &["--seal-age", "1h"]);
    let mut client = leaf.client().await;
    let after = status(&mut client).await;
    assert_eq!(after.tables, before.tables);
    let svc4 = scan(
        &leaf.endpoint(),
        scan_request("requests", &["service"], "service = 'svc-4'"),
    )
    .await
    .unwrap();
    assert_eq!(row_count(&svc4), 200 + 300 + 100 + 200 + 2);
    let late = scan(
        &leaf.endpoint(),
        scan_request("requests", &["status"], "status = 500 AND latency_ms >= 0"),
    )
    .await
    .unwrap();
    assert_eq!(row_count(&late), 100 + 150 + 50 + 100 + 1);
}

/// The bytes of table `table`'s (only) write-ahead segment.
fn wal_segment(data_dir: &std::path::Path, table: &str) -> Vec<u8> {
    let dir = std::fs::read_dir(data_dir.join("tables").join(table)).unwrap();
    let segments: Vec<_> = dir
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|e| e == "log"))
        .collect();
    assert_eq!(segments.len(), 1, "{segments:?}");
    std::fs::read(&segments[0]).unwrap()
}

#[tokio::test]
async fn an_empty_data_directory_recovers_from_the_backup() {
    let dir = shm_tempdir();
    let backup = tempfile::tempdir().unwrap();
    let backup_flag = backup.path().to_str().unwrap();
    let start = now_ms() - 60_000;
    let mut leaf = LeafProcess::start(
        dir.path(),
        &["--seal-age", "100ms", "--backup-dir", backup_flag],
    );
    let mut client = leaf.client().await;
    ingest(&mut client, "requests", &[requests(start, 100_000)])
        .await
        .unwrap();
    wait_until_sealed(&leaf, "requests").await;
    wait_for_backup(&leaf, backup.path(), "requests").await;
    leaf.kill();

    // A reboot empties tmpfs.
    std::fs::remove_dir_all(dir.path()).unwrap();
    let leaf = LeafProcess::start(dir.path(), &["--backup-dir", backup_flag]);
    let mut client = leaf.client().await;
    let status = status(&mut client).await;
    assert_eq!(status.tables[0].rows, 100_000);
    let rows = scan(
        &leaf.endpoint(),
        scan_request("requests", &["status"], "status = 500"),
    )
    .await
    .unwrap();
    assert_eq!(row_count(&rows), 10_000);
}

/// A SIGKILL right after a load loses the backup thread's queue: blocks
/// sealed but not yet copied. The restarted leaf copies every block its
/// backup lacks, and seals and copies the replayed open block, so a wipe
/// of shared memory (a reboot) after `--seal-age` loses nothing.
#[tokio::test]
async fn blocks_not_backed_up_before_a_kill_are_copied_after_the_restart() {
    let dir = shm_tempdir();
    let backup = tempfile::tempdir().unwrap();
    let backup_flag = backup.path().to_str().unwrap();
    let flags = ["--seal-age", "200ms", "--backup-dir", backup_flag];
    let start = now_ms() - 600_000;
    let mut leaf = LeafProcess::start(dir.path(), &flags);
    let mut client = leaf.client().await;
    let mut loaded = 0;
    for chunk in 0..4 {
        let rows = if chunk == 3 { 10_000 } else { 65_536 };
        ingest(&mut client, "requests", &[requests(start + loaded, rows)])
            .await
            .unwrap();
        loaded += rows as i64;
    }
    leaf.kill();
    // What a kill before the copies leaves: some sealed blocks missing
    // from the backup (here made certain by removing every other copy).
    let table_backup = backup.path().join("requests");
    let mut copies: Vec<_> = std::fs::read_dir(&table_backup)
        .map(|entries| entries.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    copies.retain(|path| path.extension().is_some_and(|e| e == "arrow"));
    copies.sort();
    for path in copies.iter().step_by(2) {
        std::fs::remove_file(path).unwrap();
    }

    let mut leaf = LeafProcess::start(dir.path(), &flags);
    wait_until_sealed(&leaf, "requests").await;
    wait_for_backup(&leaf, backup.path(), "requests").await;
    leaf.kill();
    std::fs::remove_dir_all(dir.path()).unwrap();

    let leaf = LeafProcess::start(dir.path(), &flags);
    let mut client = leaf.client().await;
    let status = status(&mut client).await;
    assert_eq!(status.tables[0].rows, loaded as u64);
    let rows = scan(&leaf.endpoint(), scan_request("requests", &["status"], ""))
        .await
        .unwrap();
    assert_eq!(row_count(&rows), loaded as usize);
    println!(
        "{} of {loaded} rows back after a kill, {} lost backup copies, a restart and a wipe",
        row_count(&rows),
        copies.len().div_ceil(2)
    );
}

/// Rewrites every block of `table` as a valid Arrow file that claims format
/// version 99.
fn make_blocks_unknown_version(data_dir: &std::path::Path, table: &str) -> usize {
    let mut rewritten = 0;
    for entry in std::fs::read_dir(data_dir.join("tables").join(table)).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "arrow") {
            let file = std::fs::File::open(&path).unwrap();
            let reader = arrow::ipc::reader::FileReader::try_new(file, None).unwrap();
            let mut metadata = reader.schema().metadata().clone();
            metadata.insert("shoal.format_version".into(), "99".into());
            let schema = Arc::new(reader.schema().as_ref().clone().with_metadata(metadata));
            let batches: Vec<RecordBatch> = reader
                .map(|b| {
                    RecordBatch::try_new(schema.clone(), b.unwrap().columns().to_vec()).unwrap()
                })
                .collect();
            let mut bytes = Vec::new();
            let mut writer = arrow::ipc::writer::FileWriter::try_new(&mut bytes, &schema).unwrap();
            for batch in &batches {
                writer.write(batch).unwrap();
            }
            writer.finish().unwrap();
            drop(writer);
            std::fs::write(&path, bytes).unwrap();
            rewritten += 1;
        }
    }
    rewritten
}

#[tokio::test]
async fn a_block_of_an_unknown_version_is_never_misread() {
    let dir = shm_tempdir();
    let backup = tempfile::tempdir().unwrap();
    let backup_flag = backup.path().to_str().unwrap();
    let mut leaf = LeafProcess::start(
        dir.path(),
        &["--seal-age", "100ms", "--backup-dir", backup_flag],
    );
    let mut client = leaf.client().await;
    ingest(&mut client, "requests", &[requests(now_ms(), 5_000)])
        .await
        .unwrap();
    wait_until_sealed(&leaf, "requests").await;
    wait_for_backup(&leaf, backup.path(), "requests").await;
    leaf.kill();

    // With a backup, the leaf falls back to the backup copy.
    assert_eq!(make_blocks_unknown_version(dir.path(), "requests"), 1);
    let mut leaf = LeafProcess::start(dir.path(), &["--backup-dir", backup_flag]);
    let mut client = leaf.client().await;
    assert_eq!(status(&mut client).await.tables[0].rows, 5_000);
    leaf.wait_for_stderr("restored from backup");
    leaf.kill();

    // Without one, it skips the block and says which and why.
    assert_eq!(make_blocks_unknown_version(dir.path(), "requests"), 1);
    let leaf = LeafProcess::start(dir.path(), &[]);
    let mut client = leaf.client().await;
    assert_eq!(status(&mut client).await.tables[0].rows, 0);
    let printed = leaf.wait_for_stderr("skipped a block");
    assert!(printed.contains("version 99"), "{printed}");
}

#[tokio::test]
async fn retention_and_the_memory_limit_drop_the_oldest_blocks() {
    let dir = shm_tempdir();
    let leaf = LeafProcess::start(
        dir.path(),
        &[
            "--seal-age",
            "100ms",
            "--retention",
            "1h",
            "--memory-limit",
            "8MiB",
        ],
    );
    let mut client = leaf.client().await;
    let now = now_ms();
    // Two days old: past retention once sealed.
    ingest(&mut client, "old", &[requests(now - 48 * 3_600_000, 1_000)])
        .await
        .unwrap();
    // Recent rows in many blocks, more than the memory limit holds.
    for i in 0..12 {
        ingest(
            &mut client,
            "recent",
            &[requests(now - 600_000 + i * 65_536, 65_536)],
        )
        .await
        .unwrap();
    }
    // Maintenance (sealing, then dropping) runs once a second.
    let mut current = status(&mut client).await;
    for _ in 0..200 {
        let old_rows = current
            .tables
            .iter()
            .find(|t| t.name == "old")
            .unwrap()
            .rows;
        if old_rows == 0 && current.memory_used_bytes <= 8 << 20 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        current = status(&mut client).await;
    }
    let status = current;
    let old = status.tables.iter().find(|t| t.name == "old").unwrap();
    assert_eq!(old.rows, 0, "expired rows are dropped");
    let recent = status.tables.iter().find(|t| t.name == "recent").unwrap();
    assert!(
        status.memory_used_bytes <= 8 << 20,
        "{} bytes used",
        status.memory_used_bytes
    );
    assert!(
        recent.rows < 12 * 65_536 && recent.rows > 0,
        "{} rows kept",
        recent.rows
    );
    // What is kept is the newest.
    assert_eq!(
        recent.max_time_micros,
        Some((now - 600_000 + 12 * 65_536 - 1) * 1000)
    );
    assert!(recent.min_time_micros.unwrap() > (now - 600_000) * 1000);
}

#[tokio::test]
async fn an_unusable_data_directory_is_reported_and_the_leaf_exits() {
    let file = tempfile::NamedTempFile::new().unwrap();
    let error = LeafProcess::try_start(file.path(), &[])
        .err()
        .expect("must not start");
    assert!(error.contains("exit Some(1)"), "{error}");
    assert!(
        error.contains(file.path().to_str().unwrap()) && error.contains("cannot be used"),
        "{error}"
    );

    let dir = shm_tempdir();
    let _first = LeafProcess::start(dir.path(), &[]);
    let error = LeafProcess::try_start(dir.path(), &[])
        .err()
        .expect("second leaf on one directory");
    assert!(error.contains("another leaf process"), "{error}");
}

#[tokio::test]
async fn a_cast_of_time_to_seconds_finds_a_second_split_over_two_blocks() {
    let dir = shm_tempdir();
    // From half a second past a whole second: the first sealed block ends
    // at 60,499 ms and the second starts at 60,500 ms.
    let start = 1_700_000_000_000;
    let leaf = leaf_with_three_blocks(dir.path(), start + 500).await;
    let mut client = leaf.client().await;
    assert_eq!(status(&mut client).await.tables[0].sealed_blocks, 2);
    let filter = format!(
        "arrow_cast(time, 'Timestamp(Second, None)') = to_timestamp_seconds({})",
        start / 1000 + 60
    );
    let rows = scan(
        &leaf.endpoint(),
        scan_request("requests", &["service"], &filter),
    )
    .await
    .unwrap();
    assert_eq!(row_count(&rows), 1_000, "{filter}");
}
