//! Restart time of a leaf, from exec to ready, by rows held: reattaching
//! shared memory, and recovering from the disk backup after tmpfs is wiped.
//! Also prints the shared memory held per row.
//!
//! Needs the shared data set as an Arrow IPC file (`gen_logs.py`, then
//! converted with pyarrow, see the README):
//!
//! ```text
//! SHOAL_BENCH_ARROW=/tmp/logs20m.arrow SHOAL_BENCH_ROWS=1000000,5000000,20000000 \
//!     cargo bench --bench leaf_restart
//! ```
//!
//! Without `SHOAL_BENCH_ARROW` it prints how to run and exits.

#[path = "../tests/common/mod.rs"]
mod common;

use std::fs::File;
use std::path::Path;
use std::time::Duration;

use arrow::array::RecordBatch;
use arrow::ipc::reader::FileReader;
use common::{LeafProcess, ingest, shm_tempdir, status};

const RESTARTS: usize = 3;

fn main() {
    let Ok(data) = std::env::var("SHOAL_BENCH_ARROW") else {
        eprintln!(
            "leaf_restart: set SHOAL_BENCH_ARROW to an Arrow IPC file of the shared data set"
        );
        return;
    };
    let sizes: Vec<usize> = std::env::var("SHOAL_BENCH_ROWS")
        .unwrap_or_else(|_| "1000000,5000000,20000000".to_string())
        .split(',')
        .map(|n| {
            n.trim()
                .parse()
                .expect("SHOAL_BENCH_ROWS: comma-separated row counts")
        })
        .collect();
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    println!("rows,blocks,shm_bytes_per_row,shm_restart_ms(min/median/max),backup_restart_ms");
    for rows in sizes {
        runtime.block_on(measure(Path::new(&data), rows));
    }
}

async fn measure(data: &Path, rows: usize) {
    let data_dir = shm_tempdir();
    let _ = rows;
    let backup_dir = tempfile::tempdir_in("/var/tmp").expect("backup dir");
    let backup_flag = backup_dir.path().to_str().expect("utf-8 path").to_string();
    let flags = ["--seal-age", "1s", "--backup-dir", backup_flag.as_str()];
    let mut leaf = LeafProcess::start(data_dir.path(), &flags);
    let mut client = leaf.client().await;
    let reader =
        FileReader::try_new(File::open(data).expect("data file"), None).expect("arrow file");
    let mut sent = 0;
    for batch in reader {
        let batch: RecordBatch = batch.expect("batch");
        let take = batch.num_rows().min(rows - sent);
        ingest(&mut client, "logs", &[batch.slice(0, take)])
            .await
            .expect("ingest");
        sent += take;
        if sent == rows {
            break;
        }
    }
    assert_eq!(sent, rows, "the data file holds fewer rows than asked for");
    // Wait until everything is sealed and copied to the backup.
    let blocks = loop {
        let status = status(&mut client).await;
        let table = &status.tables[0];
        let backed_up = std::fs::read_dir(backup_dir.path().join("logs"))
            .map(|d| {
                d.flatten()
                    .filter(|f| f.path().extension().is_some_and(|e| e == "arrow"))
                    .count()
            })
            .unwrap_or(0) as u64;
        if table.open_rows == 0 && backed_up == table.sealed_blocks {
            break table.sealed_blocks;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let memory = status(&mut client).await.memory_used_bytes;
    leaf.kill();

    let mut shm_restarts = Vec::new();
    for _ in 0..RESTARTS {
        let mut leaf = LeafProcess::start(data_dir.path(), &flags);
        shm_restarts.push(leaf.ready_after.as_secs_f64() * 1000.0);
        let held = status(&mut leaf.client().await).await.tables[0].rows;
        assert_eq!(held as usize, rows);
        leaf.kill();
    }
    shm_restarts.sort_by(f64::total_cmp);

    std::fs::remove_dir_all(data_dir.path()).expect("wipe tmpfs");
    // Best effort: make the backup come from disk, not the page cache.
    let _ = std::fs::write("/proc/sys/vm/drop_caches", "3");
    let mut leaf = LeafProcess::start(data_dir.path(), &flags);
    let backup_ms = leaf.ready_after.as_secs_f64() * 1000.0;
    let held = status(&mut leaf.client().await).await.tables[0].rows;
    assert_eq!(held as usize, rows);
    leaf.kill();

    println!(
        "{rows},{blocks},{:.1},{:.0}/{:.0}/{:.0},{:.0}",
        memory as f64 / rows as f64,
        shm_restarts[0],
        shm_restarts[RESTARTS / 2],
        shm_restarts[RESTARTS - 1],
        backup_ms
    );
}
