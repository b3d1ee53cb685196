//! Storage unhappy paths on a real leaf: sealed blocks whose bytes changed
//! (restored from the backup, or dropped and counted, never served), and a
//! data directory that runs out of space (writes fail cleanly, seals wait,
//! no acknowledged row is lost).

mod common;

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use arrow::array::{
    ArrayRef, AsArray, Int64Array, RecordBatch, StringArray, TimestampMillisecondArray,
};
use arrow::datatypes::{DataType, Field, Int64Type, Schema, TimeUnit};
use common::*;

const TABLE: &str = "events";

/// `rows` rows with ids from `first_id`: time (now), id, a payload string.
fn events(first_id: i64, rows: usize) -> RecordBatch {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let schema = Arc::new(Schema::new(vec![
        Field::new(
            "time",
            DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into())),
            false,
        ),
        Field::new("id", DataType::Int64, false),
        Field::new("payload", DataType::Utf8, false),
    ]));
    let ids = first_id..first_id + rows as i64;
    let columns: Vec<ArrayRef> = vec![
        Arc::new(
            TimestampMillisecondArray::from_iter_values(ids.clone().map(|_| now))
                .with_timezone("UTC"),
        ),
        Arc::new(Int64Array::from_iter_values(ids.clone())),
        Arc::new(StringArray::from_iter_values(
            ids.map(|id| format!("payload {id:>12} of an event")),
        )),
    ];
    RecordBatch::try_new(schema, columns).unwrap()
}

fn sum_of(range: std::ops::Range<i64>) -> i64 {
    range.sum()
}

/// Block files of the table in `dir`, in order.
fn block_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir.join("tables").join(TABLE))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "arrow"))
        .collect();
    files.sort();
    files
}

fn flip_middle_byte(path: &Path) {
    let mut bytes = std::fs::read(path).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x10;
    std::fs::write(path, bytes).unwrap();
}

/// Every id the leaf holds, in a scan.
async fn ids_on(leaf: &LeafProcess) -> Vec<i64> {
    let batches = scan(&leaf.endpoint(), scan_request(TABLE, &["id"], ""))
        .await
        .unwrap();
    let mut ids: Vec<i64> = batches
        .iter()
        .flat_map(|b| b.column(0).as_primitive::<Int64Type>().values().to_vec())
        .collect();
    ids.sort_unstable();
    ids
}

async fn rows_lost(leaf: &LeafProcess) -> u64 {
    let mut client = leaf.client().await;
    status(&mut client)
        .await
        .tables
        .iter()
        .find(|t| t.name == TABLE)
        .map_or(0, |t| t.rows_lost)
}

#[tokio::test]
async fn a_corrupt_block_is_restored_from_the_backup_or_dropped_and_counted_never_served() {
    let dir = shm_tempdir();
    let backup = tempfile::tempdir().unwrap();
    let flags = [
        "--seal-age",
        "1h",
        "--backup-dir",
        backup.path().to_str().unwrap(),
    ];
    // Four batches of 40,000: each of the first three has its block sealed
    // after its answer (another 40,000 would overflow 65,536 rows), so
    // blocks [0, 40k), [40k, 80k), [80k, 120k) and an open block
    // [120k, 160k) once the last seal is done.
    let mut leaf = LeafProcess::start(dir.path(), &flags);
    let mut client = leaf.client().await;
    for part in 0..3 {
        ingest(&mut client, TABLE, &[events(part * 40_000, 40_000)])
            .await
            .unwrap();
    }
    // The third block's seal, then rows that fill no block.
    for _ in 0..200 {
        if block_files(dir.path()).len() == 3 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    ingest(&mut client, TABLE, &[events(120_000, 20_000)])
        .await
        .unwrap();
    ingest(&mut client, TABLE, &[events(140_000, 20_000)])
        .await
        .unwrap();
    let blocks = block_files(dir.path());
    assert_eq!(blocks.len(), 3, "{blocks:?}");
    let backup_table = backup.path().join(TABLE);
    let backed_up = || {
        blocks
            .iter()
            .all(|b| backup_table.join(b.file_name().unwrap()).exists())
    };
    for _ in 0..1200 {
        if backed_up() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(backed_up(), "every block is backed up before the kill");
    leaf.kill();

    // The second block changes in shared memory only: the backup has it.
    // The third changes in both places: it is lost.
    flip_middle_byte(&blocks[1]);
    flip_middle_byte(&blocks[2]);
    let third_backup = backup_table.join(blocks[2].file_name().unwrap());
    flip_middle_byte(&third_backup);

    let leaf = LeafProcess::start(dir.path(), &flags);
    let aggregator = AggregatorProcess::start(&[leaf.address.to_string()], &[]);
    let served = [0..40_000, 40_000..80_000, 80_000..120_000, 120_000..160_000];
    let mut last = None;
    for _ in 0..200 {
        let (code, answer) = http_query(
            aggregator.http,
            &format!("SELECT count(*) AS n, sum(id) AS s FROM {TABLE}"),
            &[],
        );
        assert_eq!(code, 200, "{answer}");
        let count = answer["rows"][0][0].as_i64().unwrap();
        let sum = answer["rows"][0][1].as_i64().unwrap();
        // Whatever moment the query met, it served whole blocks only: the
        // count and the sum are those of a set of the four id ranges.
        let whole = (0..16u32).any(|set| {
            let chosen = served
                .iter()
                .enumerate()
                .filter(|(i, _)| set & (1 << i) != 0);
            let (n, s) = chosen.fold((0, 0), |(n, s), (_, r)| {
                (n + r.end - r.start, s + sum_of(r.clone()))
            });
            (n, s) == (count, sum)
        });
        assert!(whole, "count {count} and sum {sum} mix in changed bytes");
        let rows_ratio = answer["completeness"]["rows_ratio"].as_f64().unwrap();
        last = Some((count, sum, rows_ratio));
        if count == 120_000 && rows_lost(&leaf).await == 40_000 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (count, sum, rows_ratio) = last.unwrap();
    assert_eq!(
        count, 120_000,
        "the restored block is back, the lost one gone"
    );
    assert_eq!(
        sum,
        sum_of(0..80_000) + sum_of(120_000..160_000),
        "exactly the ids of the good blocks"
    );
    assert!((rows_ratio - 0.75).abs() < 1e-6, "rows ratio {rows_ratio}");
    assert_eq!(
        std::fs::read(&blocks[1]).unwrap(),
        std::fs::read(backup_table.join(blocks[1].file_name().unwrap())).unwrap(),
        "the second block was restored from its backup copy"
    );
    assert!(!blocks[2].exists(), "the lost block's file is gone");
    assert!(!third_backup.exists(), "and so is its bad backup copy");
    let printed = leaf.stderr();
    assert!(printed.contains("restored from the backup"), "{printed}");
    assert!(printed.contains("bad block dropped"), "{printed}");

    // The loss is remembered across a restart.
    drop(aggregator);
    drop(leaf);
    let leaf = LeafProcess::start(dir.path(), &flags);
    assert_eq!(rows_lost(&leaf).await, 40_000);
    let ids = ids_on(&leaf).await;
    let expected: Vec<i64> = (0..80_000).chain(120_000..160_000).collect();
    assert_eq!(ids, expected);
}

/// A mount namespace holding a small tmpfs, kept alive by a sleeping
/// process; leaves enter it with nsenter.
struct SmallDisk {
    holder: Child,
    mount_point: tempfile::TempDir,
}

impl SmallDisk {
    fn new(size: &str) -> Self {
        let mount_point = tempfile::tempdir().unwrap();
        let mut holder = Command::new("unshare")
            .args(["--mount", "--propagation", "private", "sh", "-c"])
            .arg(format!(
                "mount -t tmpfs -o size={size} shoal-enospc \"$0\" && echo mounted && exec sleep 900"
            ))
            .arg(mount_point.path())
            .stdout(Stdio::piped())
            .spawn()
            .expect("unshare");
        let mut line = String::new();
        BufReader::new(holder.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        assert_eq!(line.trim(), "mounted", "tmpfs in a mount namespace");
        Self {
            holder,
            mount_point,
        }
    }

    fn nsenter(&self) -> Vec<String> {
        ["nsenter", "-t", &self.holder.id().to_string(), "-m", "--"]
            .map(str::to_string)
            .to_vec()
    }

    /// `program` run inside the namespace.
    fn inside(&self, program: &str) -> Command {
        let nsenter = self.nsenter();
        let mut command = Command::new(&nsenter[0]);
        command.args(&nsenter[1..]).arg(program);
        command
    }

    /// The write-ahead segments of `table` on the disk.
    fn segments(&self, table: &str) -> usize {
        let dir = self.mount_point.path().join("tables").join(table);
        let listed = self.inside("ls").arg(dir).output().unwrap();
        assert!(listed.status.success(), "{listed:?}");
        let names = String::from_utf8_lossy(&listed.stdout).into_owned();
        names
            .lines()
            .filter(|name| name.starts_with("wal-"))
            .count()
    }

    fn resize(&self, size: &str) {
        let status = self
            .inside("mount")
            .args(["-o", &format!("remount,size={size}")])
            .arg(self.mount_point.path())
            .status()
            .unwrap();
        assert!(status.success());
    }

    fn start_leaf(&self) -> LeafProcess {
        let wrapper = self.nsenter();
        let wrapper: Vec<&str> = wrapper.iter().map(String::as_str).collect();
        LeafProcess::try_start_wrapped(
            &wrapper,
            "127.0.0.1:0",
            self.mount_point.path(),
            &["--seal-age", "1s"],
        )
        .unwrap()
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = self.holder.kill();
        let _ = self.holder.wait();
    }
}

#[tokio::test]
async fn a_full_disk_fails_writes_cleanly_and_loses_no_acknowledged_row() {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        assert!(
            std::env::var_os("SHOAL_REQUIRE_CLIENTS").is_none(),
            "a tmpfs in a mount namespace needs root, and this run requires every test"
        );
        eprintln!("skipped: a tmpfs in a mount namespace needs root (CI runs as root)");
        return;
    }
    let disk = SmallDisk::new("3m");
    let mut leaf = disk.start_leaf();
    let mut client = leaf.client().await;
    let mut acknowledged: BTreeSet<i64> = BTreeSet::new();
    let mut refusals = Vec::new();
    let mut next_id = 0i64;
    // Fill the disk: write-ahead appends and seals start failing.
    for _ in 0..400 {
        let batch = events(next_id, 2_000);
        next_id += 2_000;
        match ingest(&mut client, TABLE, &[batch]).await {
            Ok(_) => acknowledged.extend(next_id - 2_000..next_id),
            Err(status) => {
                assert!(
                    matches!(
                        status.code(),
                        tonic::Code::ResourceExhausted | tonic::Code::Unavailable
                    ),
                    "a full disk is a reason to retry: {status:?}"
                );
                refusals.push(status.message().to_string());
                if refusals.len() >= 25 {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
    assert!(
        !acknowledged.is_empty() && refusals.len() >= 25,
        "{refusals:?}"
    );
    assert!(
        refusals.iter().any(|r| r.contains("No space left")),
        "{refusals:?}"
    );
    let printed = leaf.wait_for_stderr("maintenance failed");
    assert!(
        printed.contains("No space left"),
        "a seal failed: {printed}"
    );

    // A crash on the full disk, full blocks waiting for their seal: the
    // restart writes no block, so it comes back with every row. (The tick
    // freezes the open block at the seal age, and its seal fails.)
    let mut frozen = false;
    for _ in 0..200 {
        if disk.segments(TABLE) >= 2 {
            frozen = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(frozen, "no block waits for its seal on the full disk");
    leaf.kill();
    let mut leaf = disk.start_leaf();
    let mut client = leaf.client().await;
    let frozen = status(&mut client).await;
    let table = frozen.tables.iter().find(|t| t.name == TABLE).unwrap();
    assert!(table.open_rows > 0, "{table:?}");
    let ids = ids_on(&leaf).await;
    assert_eq!(ids, acknowledged.iter().copied().collect::<Vec<_>>());

    // Room again: the same table takes rows and seals what it holds.
    disk.resize("64m");
    for _ in 0..20 {
        let batch = events(next_id, 2_000);
        next_id += 2_000;
        let mut stored = false;
        for _ in 0..50 {
            if ingest(&mut client, TABLE, std::slice::from_ref(&batch))
                .await
                .is_ok()
            {
                stored = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        assert!(stored, "rows are taken once there is room");
        acknowledged.extend(next_id - 2_000..next_id);
    }
    let what = "the open block sealed once there is room";
    wait_for_table(&leaf, TABLE, what, |t| {
        t.open_rows == 0 && t.sealed_blocks > 0
    })
    .await;

    // A crash now: exactly the acknowledged rows come back.
    leaf.kill();
    let leaf = disk.start_leaf();
    let ids = ids_on(&leaf).await;
    let expected: Vec<i64> = acknowledged.into_iter().collect();
    assert_eq!(ids.len(), expected.len(), "no row lost, none doubled");
    assert_eq!(ids, expected);
}
