//! All tables of one leaf under its data directory, and what happens to them
//! as a whole: recovery at start, retention by age and by memory limit.
//!
//! System tables (names starting with [`SYSTEM_TABLE_PREFIX`], such as the
//! aggregators' saved dashboards) hold Shoal's own state, not data: neither
//! retention nor the memory limit drops their blocks. So that rows nothing
//! drops cannot take the leaf's memory (a `read` token may save dashboards),
//! together they hold at most a share of it ([`SYSTEM_TABLES_MAX_BYTES`],
//! and a quarter of the memory limit); past that, their rows are refused.
//!
//! ```text
//! <data-dir>/LOCK                      held while a leaf process uses the directory
//! <data-dir>/tables/<table>/wal-N.log  the open (or a frozen) block's write-ahead segment
//! <data-dir>/tables/<table>/block-N-P.arrow, .idx   sealed blocks
//! ```
//!
//! Every method blocks (file I/O); async callers use `spawn_blocking`.

use std::collections::HashMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use tracing::{info, warn};

use crate::backup::Backup;
use crate::error::{LeafError, Result};
use crate::table::{Repairs, Table, TableStats};
pub use shoal_contract::table_names::{
    MAX_TABLES, SYSTEM_TABLE_PREFIX, is_system_table, now_micros,
};

/// Checks that `name` can be a table (and a directory) name.
pub fn validate_table_name(name: &str) -> Result<()> {
    Ok(shoal_contract::table_names::validate_table_name(name)?)
}

/// Directories of dropped tables, until they are deleted.
const TOMBSTONE_PREFIX: &str = ".dropped-";

fn remove_tombstone(path: &Path) {
    if let Err(error) = std::fs::remove_dir_all(path) {
        warn!(path = %path.display(), %error, "could not delete a dropped table's files");
    }
}

/// Bytes the system tables of one leaf hold at most, together; a quarter
/// of the memory limit when that is less.
pub const SYSTEM_TABLES_MAX_BYTES: u64 = 64 * 1024 * 1024;

/// A seal an ingest left to be made after its answer: the table's frozen
/// blocks.
#[derive(Debug)]
pub struct PendingSeal {
    table: Arc<Table>,
}

/// How a leaf's storage is set up.
#[derive(Debug, Clone)]
pub struct StoreConfig {
    pub data_dir: PathBuf,
    pub backup_dir: Option<PathBuf>,
    /// Bytes of shared memory the leaf may hold; oldest blocks go first past it.
    pub memory_limit: Option<u64>,
    /// Blocks whose newest row is older than this are dropped.
    pub retention: Option<Duration>,
    /// An open block older than this is sealed even if not full.
    pub seal_age: Duration,
}

/// What recovery found, for logs and for the restart benchmark.
#[derive(Debug, Clone, Default)]
pub struct RecoveryReport {
    pub tables: usize,
    pub blocks: usize,
    pub rows: u64,
    pub restored_from_backup: bool,
    pub elapsed: Duration,
}

/// The tables of one leaf.
#[derive(Debug)]
pub struct Store {
    config: StoreConfig,
    tables_dir: PathBuf,
    tables: RwLock<HashMap<String, Arc<Table>>>,
    backup: Option<Backup>,
    _lock: File,
}

impl Store {
    /// Opens the data directory, takes its lock, and recovers every table.
    pub fn open(config: StoreConfig) -> Result<(Self, RecoveryReport)> {
        let started = Instant::now();
        let data_dir = config.data_dir.clone();
        let unusable = |reason: String| LeafError::DataDir {
            path: data_dir.clone(),
            reason,
        };
        std::fs::create_dir_all(&data_dir)
            .map_err(|e| unusable(format!("cannot create it: {e}")))?;
        if !data_dir.is_dir() {
            return Err(unusable("it is not a directory".to_string()));
        }
        let lock_path = data_dir.join("LOCK");
        let lock =
            File::create(&lock_path).map_err(|e| unusable(format!("cannot write in it: {e}")))?;
        lock.try_lock()
            .map_err(|_| unusable("another leaf process is using it (LOCK is held)".to_string()))?;
        let tables_dir = data_dir.join("tables");
        std::fs::create_dir_all(&tables_dir)
            .map_err(|e| unusable(format!("cannot create {}: {e}", tables_dir.display())))?;

        let backup = config.backup_dir.clone().map(Backup::start).transpose()?;
        let mut report = RecoveryReport::default();
        if let Some(backup) = &backup
            && is_empty_dir(&tables_dir)?
        {
            report.restored_from_backup = restore_from_backup(backup, &tables_dir)?;
        }

        let mut tables = HashMap::new();
        let entries = std::fs::read_dir(&tables_dir).map_err(|e| LeafError::io(&tables_dir, e))?;
        for entry in entries {
            let entry = entry.map_err(|e| LeafError::io(&tables_dir, e))?;
            if !entry.path().is_dir() {
                continue;
            }
            let name = entry.file_name().to_string_lossy().to_string();
            if name.starts_with(TOMBSTONE_PREFIX) {
                remove_tombstone(&entry.path());
                continue;
            }
            if validate_table_name(&name).is_err() {
                warn!(directory = %entry.path().display(), "skipped a directory that is not a table");
                continue;
            }
            let table = Table::recover(&name, entry.path(), backup.as_ref())?;
            let stats = table.stats();
            report.tables += 1;
            report.blocks += stats.sealed_blocks as usize;
            report.rows += stats.rows;
            tables.insert(name, Arc::new(table));
        }
        if let Some(backup) = &backup {
            for (name, table) in &tables {
                catch_up(backup, name, table);
            }
        }
        report.elapsed = started.elapsed();
        info!(
            tables = report.tables,
            blocks = report.blocks,
            rows = report.rows,
            from_backup = report.restored_from_backup,
            elapsed_ms = report.elapsed.as_millis() as u64,
            "recovered data directory"
        );
        Ok((
            Self {
                config,
                tables_dir,
                tables: RwLock::new(tables),
                backup,
                _lock: lock,
            },
            report,
        ))
    }

    /// The table called `name`, created if `create` and missing.
    pub fn table(&self, name: &str, create: bool) -> Result<Arc<Table>> {
        validate_table_name(name)?;
        if let Some(table) = self.read_tables().get(name) {
            return Ok(table.clone());
        }
        if !create {
            return Err(LeafError::UnknownTable {
                table: name.to_string(),
            });
        }
        let mut tables = self.tables.write().unwrap_or_else(|p| p.into_inner());
        if let Some(table) = tables.get(name) {
            return Ok(table.clone());
        }
        if tables.len() >= MAX_TABLES {
            return Err(LeafError::BadRequest(format!(
                "table {name:?} would be this leaf's table number {}, over the limit of {MAX_TABLES}",
                tables.len() + 1
            )));
        }
        let table = Arc::new(Table::create(name, self.tables_dir.join(name))?);
        tables.insert(name.to_string(), table.clone());
        Ok(table)
    }

    /// Stores `batches` in table `name`, first making room under the memory
    /// limit for `incoming_bytes` (the size of the request). Returns the rows
    /// stored and the columns added.
    pub fn ingest(
        &self,
        name: &str,
        batches: &[arrow::array::RecordBatch],
        incoming_bytes: u64,
    ) -> Result<(u64, Vec<String>)> {
        let (rows, added, seal) = self.ingest_leaving_seal(name, batches, None, incoming_bytes)?;
        // Here a block these rows filled is sealed within the call.
        if let Some(seal) = seal {
            self.seal_pending(seal);
        }
        Ok((rows, added))
    }

    /// [`Self::ingest`], leaving a seal the table needs to the caller
    /// ([`Self::seal_pending`] once the sender is answered). Returns the
    /// rows stored, the columns added and the seal to make.
    pub fn ingest_leaving_seal(
        &self,
        name: &str,
        batches: &[arrow::array::RecordBatch],
        encoded: Option<&[u8]>,
        incoming_bytes: u64,
    ) -> Result<(u64, Vec<String>, Option<PendingSeal>)> {
        if is_system_table(name) {
            self.check_system_room(name, incoming_bytes)?;
        }
        self.make_room(incoming_bytes)?;
        let table = self.table(name, true)?;
        let backup = self.backup.as_ref();
        let ingested = table.ingest_leaving_seal(batches, encoded, now_micros(), backup)?;
        let rows = batches.iter().map(|b| b.num_rows() as u64).sum();
        let seal = ingested.seal.then_some(PendingSeal { table });
        Ok((rows, ingested.added, seal))
    }

    /// Makes a seal [`Self::ingest_leaving_seal`] left: the frozen blocks
    /// of that very table (not one made since under its name), see
    /// [`Table::seal_frozen`].
    pub fn seal_pending(&self, seal: PendingSeal) {
        seal.table.seal_frozen(self.backup.as_ref());
    }

    /// Deletes table `name` (its directory and its backup copies); returns
    /// the rows it held, 0 when there is no such table.
    pub fn drop_table(&self, name: &str) -> Result<u64> {
        validate_table_name(name)?;
        let Some(table) = self.read_tables().get(name).cloned() else {
            return Ok(0);
        };
        // Its rows are refused from here on. This waits for an ingest or a
        // seal under way on this table, so it comes before the store lock:
        // other tables go on meanwhile.
        table.set_dropped(true);
        // Held until the files are gone, so an ingest cannot create the
        // table anew in the directory being deleted.
        let mut tables = self.tables.write().unwrap_or_else(|p| p.into_inner());
        if !tables.get(name).is_some_and(|t| Arc::ptr_eq(t, &table)) {
            return Ok(0); // dropped by another call meanwhile
        }
        // Again: another drop that failed meanwhile takes its mark back.
        // Quick: the table refuses work, and no seal starts on it (only
        // after such a failed drop may this wait for one under way).
        table.set_dropped(true);
        // One rename takes the table away whole (a crash mid-delete leaves
        // a tombstone, which the next start removes, not half a table).
        let dir = table.dir().to_path_buf();
        let tombstone = self
            .tables_dir
            .join(format!("{TOMBSTONE_PREFIX}{name}-{}", now_micros()));
        if let Err(error) = std::fs::rename(&dir, &tombstone) {
            // The table stays, whole, and takes rows again.
            table.set_dropped(false);
            return Err(LeafError::io(&dir, error));
        }
        tables.remove(name);
        let rows = table.mark_dropped();
        if let Some(backup) = &self.backup {
            backup.remove_table(name);
        }
        drop(tables);
        remove_tombstone(&tombstone);
        info!(table = name, rows, "dropped table");
        Ok(rows)
    }

    /// Every table, sorted by name.
    pub fn tables(&self) -> Vec<Arc<Table>> {
        let mut tables: Vec<_> = self.read_tables().values().cloned().collect();
        tables.sort_by(|a, b| a.name().cmp(b.name()));
        tables
    }

    /// Statistics of every table.
    pub fn stats(&self) -> Vec<(String, TableStats)> {
        self.tables()
            .into_iter()
            .map(|t| (t.name().to_string(), t.stats()))
            .collect()
    }

    /// Bytes of shared memory held.
    pub fn memory_used(&self) -> u64 {
        // Not under the store's lock: a table's lock may be held by an
        // ingest, and a queued writer (DROP TABLE) would then stall every
        // reader.
        self.tables().iter().map(|t| t.memory_bytes()).sum()
    }

    /// The configured memory limit.
    pub fn memory_limit(&self) -> Option<u64> {
        self.config.memory_limit
    }

    /// The backup, if the leaf has one.
    pub fn backup(&self) -> Option<&Backup> {
        self.backup.as_ref()
    }

    /// Periodic upkeep: seal aged open blocks, drop blocks past retention,
    /// drop the oldest blocks while over the memory limit (system tables
    /// are only sealed).
    pub fn maintain(&self) -> Result<()> {
        if let Some(backup) = &self.backup
            && backup.take_copy_failed()
        {
            for table in self.tables() {
                catch_up(backup, table.name(), &table);
            }
        }
        self.repair_blocks(false);
        let now = now_micros();
        for table in self.tables() {
            if let Err(error) = table.forget_moved_out(now, self.backup.as_ref()) {
                warn!(table = table.name(), %error, "could not delete blocks given away");
            }
        }
        // A table that cannot seal (a full disk) must not stop retention
        // and the memory limit, which free space, nor the other tables.
        for table in self.tables() {
            if let Err(error) = table.seal_if_older(self.config.seal_age, self.backup.as_ref()) {
                warn!(table = table.name(), %error, "maintenance failed: could not seal");
            }
        }
        if let Some(retention) = self.config.retention {
            let cutoff = now_micros() - retention.as_micros() as i64;
            for table in self.tables() {
                if is_system_table(table.name()) {
                    continue;
                }
                let freed = table.drop_blocks_before(cutoff, self.backup.as_ref())?;
                if freed > 0 {
                    info!(
                        table = table.name(),
                        freed_bytes = freed,
                        "retention dropped expired blocks"
                    );
                }
            }
        }
        self.make_room(0)
    }

    /// Mends bad sealed blocks of every table (checking all of them when
    /// `verify_all`); see [`Table::repair_blocks`].
    pub fn repair_blocks(&self, verify_all: bool) -> Repairs {
        let mut total = Repairs::default();
        for table in self.tables() {
            let repairs = table.repair_blocks(self.backup.as_ref(), verify_all);
            total.verified += repairs.verified;
            total.restored += repairs.restored;
            total.dropped += repairs.dropped;
            total.rows_lost += repairs.rows_lost;
        }
        total
    }

    /// Seals every open block now (used on shutdown and by tests).
    pub fn seal_all(&self) -> Result<()> {
        for table in self.tables() {
            table.seal(self.backup.as_ref())?;
        }
        Ok(())
    }

    /// Waits for queued backup copies.
    pub fn flush_backup(&self) {
        if let Some(backup) = &self.backup {
            backup.flush();
        }
    }

    /// Drops oldest blocks (of other than system tables) until `incoming`
    /// more bytes fit under the limit. When no sealed block is left to
    /// drop, blocks waiting for their seal are sealed once (only a sealed
    /// block can be dropped), so a leaf whose seals lag behind its answers
    /// does not refuse rows while all it holds is frozen. Only then: a
    /// leaf at its limit makes room on every ingest, which must not wait
    /// for seals it could drop its way past.
    fn make_room(&self, incoming: u64) -> Result<()> {
        let Some(limit) = self.config.memory_limit else {
            return Ok(());
        };
        let mut sealed_frozen = false;
        loop {
            let used = self.memory_used();
            if used + incoming <= limit {
                return Ok(());
            }
            let droppable = || {
                self.tables()
                    .into_iter()
                    .filter(|t| !is_system_table(t.name()))
            };
            let oldest = droppable()
                .filter_map(|t| t.oldest_block().map(|(id, max_time)| (max_time, id, t)))
                .min_by_key(|(max_time, _, _)| *max_time);
            let Some((_, id, table)) = oldest else {
                let frozen: Vec<_> = droppable().filter(|t| t.has_frozen()).collect();
                if sealed_frozen || frozen.is_empty() {
                    return Err(LeafError::MemoryFull { used, limit });
                }
                sealed_frozen = true;
                for table in frozen {
                    table.seal_frozen(self.backup.as_ref());
                }
                continue;
            };
            let freed = table.drop_block(id, self.backup.as_ref())?;
            info!(
                table = table.name(),
                freed_bytes = freed,
                used,
                limit,
                "over the memory limit: dropped the oldest block"
            );
        }
    }

    /// Refuses `incoming` more bytes for system table `name` when the
    /// system tables would pass their share ([`SYSTEM_TABLES_MAX_BYTES`]):
    /// nothing drops their blocks, so past it they would push out data and
    /// then fill the leaf. `Unavailable`, so that the rows are tried on
    /// another leaf.
    fn check_system_room(&self, name: &str, incoming: u64) -> Result<()> {
        let share = self
            .config
            .memory_limit
            .map_or(SYSTEM_TABLES_MAX_BYTES, |limit| {
                (limit / 4).min(SYSTEM_TABLES_MAX_BYTES)
            });
        let used: u64 = self
            .tables()
            .iter()
            .filter(|t| is_system_table(t.name()))
            .map(|t| t.memory_bytes())
            .sum();
        if used.saturating_add(incoming) <= share {
            return Ok(());
        }
        Err(LeafError::Unavailable(format!(
            "this leaf's system tables hold {used} bytes and {incoming} more would pass their \
             {share}-byte share, so table {name:?} takes no more rows here (system tables are \
             never dropped by retention or the memory limit; DROP TABLE {name} empties it)"
        )))
    }

    fn read_tables(&self) -> std::sync::RwLockReadGuard<'_, HashMap<String, Arc<Table>>> {
        self.tables.read().unwrap_or_else(|p| p.into_inner())
    }
}

/// Queues backup copies of `table`'s sealed blocks that the backup lacks.
fn catch_up(backup: &Backup, name: &str, table: &Table) {
    let blocks = table.kept_blocks();
    let queued = backup.catch_up(name, table.dir(), &blocks);
    if queued > 0 {
        info!(
            table = name,
            blocks = queued,
            "backup catching up on sealed blocks"
        );
    }
}

fn is_empty_dir(dir: &Path) -> Result<bool> {
    Ok(std::fs::read_dir(dir)
        .map_err(|e| LeafError::io(dir, e))?
        .next()
        .is_none())
}

fn restore_from_backup(backup: &Backup, tables_dir: &Path) -> Result<bool> {
    let tables = backup.tables()?;
    let mut restored = false;
    for (table, blocks) in tables {
        if validate_table_name(&table).is_err() || blocks.is_empty() {
            continue;
        }
        let dir = tables_dir.join(&table);
        std::fs::create_dir_all(&dir).map_err(|e| LeafError::io(&dir, e))?;
        for id in blocks {
            match backup.restore_block(&table, id, &dir) {
                Err(error @ LeafError::BadBlock { .. }) => {
                    warn!(table, %error, "backup copy not restored: it fails its checks");
                }
                other => other?,
            }
        }
        restored = true;
    }
    if restored {
        info!("data directory was empty: restored sealed blocks from the backup");
    }
    Ok(restored)
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{RecordBatch, StringArray};
    use arrow::datatypes::{DataType, Field, Schema};

    /// `rows` rows of a 1 KiB string each.
    fn kib_rows(rows: usize) -> RecordBatch {
        let schema = Arc::new(Schema::new(vec![Field::new("spec", DataType::Utf8, false)]));
        let values = StringArray::from_iter_values((0..rows).map(|_| "x".repeat(1024)));
        RecordBatch::try_new(schema, vec![Arc::new(values)]).unwrap()
    }

    /// A store in `dir` with a memory limit and no seals by age.
    fn store_with_limit(dir: &Path, limit: u64) -> Store {
        let (store, _) = Store::open(StoreConfig {
            data_dir: dir.to_path_buf(),
            backup_dir: None,
            memory_limit: Some(limit),
            retention: None,
            seal_age: Duration::from_secs(3600),
        })
        .unwrap();
        store
    }

    #[test]
    fn system_tables_take_rows_up_to_their_share_and_never_push_out_data() {
        let dir = tempfile::tempdir().unwrap();
        let limit = 4 * 1024 * 1024;
        let store = store_with_limit(dir.path(), limit);
        store.ingest("data", &[kib_rows(1024)], 1 << 20).unwrap();
        let data_bytes = store.table("data", false).unwrap().memory_bytes();

        // 64 KiB at a time into a system table: refused once the system
        // tables would pass a quarter of the limit, and only then.
        let mut taken = 0;
        let refusal = loop {
            match store.ingest("_shoal_dashboards", &[kib_rows(64)], 64 * 1024) {
                Ok(_) => taken += 1,
                Err(error) => break error,
            }
            assert!(taken < 100, "the system table took {taken} batches");
        };
        assert!(matches!(refusal, LeafError::Unavailable(_)), "{refusal}");
        assert!(
            refusal.to_string().contains("_shoal_dashboards"),
            "{refusal}"
        );
        let system = store.table("_shoal_dashboards", false).unwrap();
        assert!(
            system.memory_bytes() <= limit / 4,
            "{}",
            system.memory_bytes()
        );
        assert!(
            system.memory_bytes() + 2 * 64 * 1024 > limit / 4,
            "refused early"
        );
        // Another system table shares the same room.
        assert!(
            store
                .ingest("_shoal_other", &[kib_rows(64)], 64 * 1024)
                .is_err()
        );
        // The data stayed, and still takes rows.
        assert_eq!(
            store.table("data", false).unwrap().memory_bytes(),
            data_bytes
        );
        store.ingest("data", &[kib_rows(64)], 64 * 1024).unwrap();
    }

    #[test]
    fn the_memory_limit_seals_frozen_blocks_to_make_room() {
        let dir = tempfile::tempdir().unwrap();
        let limit = 2 * 1024 * 1024;
        let store = store_with_limit(dir.path(), limit);
        let schema = Arc::new(Schema::new(vec![Field::new("id", DataType::Utf8, false)]));
        let batch = |from: usize| {
            let values =
                StringArray::from_iter_values((from..from + 40_000).map(|i| format!("{i:016}")));
            RecordBatch::try_new(schema.clone(), vec![Arc::new(values)]).unwrap()
        };
        // Each batch freezes its block (the next would overfill it); the
        // seals are left undone, as when those after answers have not run.
        for from in [0, 40_000] {
            let (_, _, seal) = store
                .ingest_leaving_seal("t", &[batch(from)], None, 0)
                .unwrap();
            assert!(seal.is_some());
        }
        let table = store.table("t", false).unwrap();
        assert!(table.has_frozen());
        assert!(
            table.memory_bytes() + (1 << 20) > limit,
            "{}",
            table.memory_bytes()
        );
        // Over the limit with no sealed block to drop: the frozen one is
        // sealed, then dropped as the oldest, and the rows are taken.
        store.ingest("t", &[batch(80_000)], 1 << 20).unwrap();
        assert!(!table.has_frozen());
        assert_eq!(table.stats().rows, 80_000);
    }
}
