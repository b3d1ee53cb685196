//! The optional disk backup of sealed blocks (`--backup-dir`).
//!
//! Shared memory survives a process crash but not a machine reboot, which
//! empties tmpfs. With a backup directory on disk, every sealed block (and
//! its index) is copied there in the background after it is sealed, and
//! removed there when retention drops it. A leaf that starts on an empty data
//! directory copies the backup into shared memory first; a block that cannot
//! be read in shared memory is replaced by its backup copy.
//!
//! Rows of the open block are in the write-ahead segment only, which lives in
//! shared memory: a reboot loses at most the rows of the last seal age.
//!
//! Copies are queued in memory, so a crash loses the queue: blocks sealed
//! just before a SIGKILL would never reach the disk. A leaf therefore
//! *catches up* ([`Backup::catch_up`]) when it starts and after any copy
//! failed: every sealed block whose copy is missing from the backup
//! directory is queued again.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, Sender, channel};
use std::sync::{Arc, Mutex};

use tracing::warn;

use crate::block::{BlockId, SealedBlock, write_atomically};
use crate::error::{LeafError, Result};

enum Job {
    Copy {
        table: String,
        id: BlockId,
        from: PathBuf,
    },
    Remove {
        table: String,
        id: BlockId,
    },
    RemoveTable {
        table: String,
    },
    Flush(Sender<()>),
}

/// Handle to the backup directory and its copying thread.
#[derive(Debug, Clone)]
pub struct Backup {
    dir: PathBuf,
    jobs: Arc<Mutex<Sender<Job>>>,
    /// Set by the copying thread when a copy failed since the last catch-up.
    copy_failed: Arc<AtomicBool>,
    /// Copies queued and not yet done, so a catch-up queues none twice.
    queued: Arc<Mutex<HashSet<(String, BlockId)>>>,
}

impl Backup {
    /// Uses `dir` (created if missing) and starts the copying thread.
    pub fn start(dir: PathBuf) -> Result<Self> {
        std::fs::create_dir_all(&dir).map_err(|source| LeafError::DataDir {
            path: dir.clone(),
            reason: format!("cannot create the backup directory: {source}"),
        })?;
        let (sender, receiver) = channel();
        let copy_failed = Arc::new(AtomicBool::new(false));
        let queued: Arc<Mutex<HashSet<(String, BlockId)>>> = Arc::default();
        let worker = Worker {
            dir: dir.clone(),
            copy_failed: copy_failed.clone(),
            queued: queued.clone(),
        };
        std::thread::Builder::new()
            .name("shoal-backup".to_string())
            .spawn(move || worker.run(receiver))
            .map_err(|e| LeafError::io(&dir, e))?;
        Ok(Self {
            dir,
            jobs: Arc::new(Mutex::new(sender)),
            copy_failed,
            queued,
        })
    }

    /// Queues a copy of block `id` of `table` from the data directory `from`.
    pub fn copy_block(&self, table: &str, id: BlockId, from: &Path) {
        let mut queued = self.queued.lock().unwrap_or_else(|p| p.into_inner());
        if !queued.insert((table.to_string(), id)) {
            return;
        }
        drop(queued);
        self.send(Job::Copy {
            table: table.to_string(),
            id,
            from: from.to_path_buf(),
        });
    }

    /// Queues a copy of every block of `blocks` (in the data directory
    /// `from`) that the backup does not hold; returns how many were queued.
    pub fn catch_up(&self, table: &str, from: &Path, blocks: &[BlockId]) -> usize {
        let table_dir = self.dir.join(table);
        let mut queued = 0;
        for id in blocks {
            if !table_dir.join(id.file_name()).exists() {
                self.copy_block(table, *id, from);
                queued += 1;
            }
        }
        queued
    }

    /// Whether a copy failed since the last call (and clears the mark).
    pub fn take_copy_failed(&self) -> bool {
        self.copy_failed.swap(false, Ordering::SeqCst)
    }

    /// Queues the removal of block `id`'s backup copy.
    pub fn remove_block(&self, table: &str, id: BlockId) {
        self.send(Job::Remove {
            table: table.to_string(),
            id,
        });
    }

    /// Removes every backup copy of `table` now, and once more after the
    /// copies queued before (which could bring some back).
    pub fn remove_table(&self, table: &str) {
        let table_dir = self.dir.join(table);
        if let Err(error) = std::fs::remove_dir_all(&table_dir).or_else(ignore_missing) {
            warn!(path = %table_dir.display(), %error, "could not remove a dropped table's backup");
        }
        self.send(Job::RemoveTable {
            table: table.to_string(),
        });
    }

    /// Waits until every queued job is done.
    pub fn flush(&self) {
        let (done, wait) = channel();
        self.send(Job::Flush(done));
        let _ = wait.recv();
    }

    fn send(&self, job: Job) {
        let sender = self.jobs.lock().unwrap_or_else(|p| p.into_inner());
        if sender.send(job).is_err() {
            warn!("backup thread stopped; block not backed up");
        }
    }

    /// Copies block `id` of `table` from the backup into `to`.
    pub fn restore_block(&self, table: &str, id: BlockId, to: &Path) -> Result<()> {
        copy_block_files(&self.dir.join(table), id, to)
    }

    /// Tables in the backup, with the blocks each holds.
    pub fn tables(&self) -> Result<Vec<(String, Vec<BlockId>)>> {
        let mut tables = Vec::new();
        let entries = std::fs::read_dir(&self.dir).map_err(|e| LeafError::io(&self.dir, e))?;
        for entry in entries.flatten() {
            if !entry.path().is_dir() {
                continue;
            }
            let name = entry.file_name().to_string_lossy().to_string();
            let mut blocks: Vec<BlockId> = std::fs::read_dir(entry.path())
                .map_err(|e| LeafError::io(entry.path(), e))?
                .flatten()
                .filter_map(|f| BlockId::parse(&f.file_name().to_string_lossy()))
                .collect();
            blocks.sort_unstable();
            tables.push((name, blocks));
        }
        Ok(tables)
    }
}

/// The copying thread's side of a [`Backup`].
struct Worker {
    dir: PathBuf,
    copy_failed: Arc<AtomicBool>,
    queued: Arc<Mutex<HashSet<(String, BlockId)>>>,
}

impl Worker {
    fn run(self, jobs: Receiver<Job>) {
        for job in jobs {
            if let Err(error) = self.run_job(job) {
                warn!(%error, "backup job failed");
            }
        }
    }

    fn run_job(&self, job: Job) -> Result<()> {
        let dir = &self.dir;
        match job {
            Job::Copy { table, id, from } => {
                let to = dir.join(&table);
                let source_gone = !from.join(id.file_name()).exists();
                let copied = match source_gone {
                    // Dropped by retention or with its table: nothing to keep.
                    true => Ok(()),
                    false => std::fs::create_dir_all(&to)
                        .map_err(|e| LeafError::io(&to, e))
                        .and_then(|()| copy_block_files(&from, id, &to)),
                };
                self.queued
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .remove(&(table, id));
                if copied.is_err() {
                    self.copy_failed.store(true, Ordering::SeqCst);
                }
                copied
            }
            Job::Remove { table, id } => {
                let table_dir = dir.join(&table);
                let _ = std::fs::remove_file(table_dir.join(id.index_file_name()));
                let path = table_dir.join(id.file_name());
                std::fs::remove_file(&path)
                    .or_else(ignore_missing)
                    .map_err(|e| LeafError::io(&path, e))
            }
            Job::RemoveTable { table } => {
                let table_dir = dir.join(&table);
                std::fs::remove_dir_all(&table_dir)
                    .or_else(ignore_missing)
                    .map_err(|e| LeafError::io(&table_dir, e))
            }
            Job::Flush(done) => {
                let _ = done.send(());
                Ok(())
            }
        }
    }
}

fn ignore_missing(error: std::io::Error) -> std::io::Result<()> {
    match error.kind() {
        std::io::ErrorKind::NotFound => Ok(()),
        _ => Err(error),
    }
}

/// Copies a block and its index (if any), each through a rename, index
/// first. A block that fails its checksum is not copied: a backup copy is
/// only worth keeping when it is good.
fn copy_block_files(from: &Path, id: BlockId, to: &Path) -> Result<()> {
    let block = SealedBlock::open(&from.join(id.file_name()), id)?;
    let bytes = block.verified_bytes()?;
    let index = from.join(id.index_file_name());
    if index.exists() {
        let index_bytes = std::fs::read(&index).map_err(|e| LeafError::io(&index, e))?;
        write_atomically(&to.join(id.index_file_name()), &index_bytes)?;
    }
    write_atomically(&to.join(id.file_name()), bytes)
}
