//! Sealing without holding up ingest or queries. A full open block is
//! *frozen* under the table's lock: a new write-ahead segment and open
//! block take the rows that come next (a file made on tmpfs, nothing
//! more). One sealer at a time then writes the frozen block's blocks
//! without the lock, and takes it again only to commit them: the manifest
//! entries, the old segment removed, the blocks in. Until the commit,
//! queries read a frozen block's rows as open batches, so each row is
//! counted once in every snapshot.
//!
//! ```text
//!  ingest ─► open (wal-N+1) ◄─ freeze ─ frozen (wal-N) ─► sealer writes block-N-* ─► commit
//! ```
//!
//! Exactly-once across crashes is as before: a frozen block's write-ahead
//! segment exists until its blocks are committed, and recovery replays
//! every segment it finds, oldest first: all but the newest come back
//! frozen (sealed by the maintenance tick), the newest is the open block.
//!
//! Before this, a seal (about 30 ms for a block of the shared data set)
//! held the table's lock, so every ingest call for the table (and with it
//! the request of every client whose rows went to this leaf) waited for
//! it. Frozen blocks are few (an ingest freezes at most one): when
//! [`MAX_FROZEN`] wait, an ingest seals them first (or waits for the sealer
//! at work), and refuses its rows (retryably) if a seal fails, as a full
//! disk or a slow seal must slow the senders down.
//!
//! Lock order: `Table::sealing`, then `Table::state`.

use std::sync::MutexGuard;
use std::time::{Duration, Instant};

use arrow::array::RecordBatch;
use tracing::{info, warn};

use super::{
    OpenBlock, Table, TableState, remove_quietly, remove_segment_blocks, seal_batches, wal_path,
};
use crate::backup::Backup;
use crate::error::{LeafError, Result};
use crate::manifest;
use crate::table_schema::TableSchema;
use crate::wal::WalWriter;

/// Frozen blocks at which an ingest seals them before it goes on (and
/// refuses its rows if a seal fails).
pub const MAX_FROZEN: usize = 2;

/// A full block waiting for its seal.
#[derive(Debug)]
pub struct Frozen {
    pub(super) block: OpenBlock,
    /// The table's schema when it was frozen: the block's columns, as a
    /// seal under the lock would have given it.
    schema: TableSchema,
}

impl Frozen {
    /// A frozen block, with the table's schema when it was frozen.
    pub(super) fn new(block: OpenBlock, schema: TableSchema) -> Self {
        Self { block, schema }
    }
}

impl TableState {
    /// The blocks not sealed yet, oldest first: the frozen ones, then the
    /// open one.
    pub(super) fn unsealed(&self) -> impl Iterator<Item = &OpenBlock> {
        self.frozen
            .iter()
            .map(|frozen| &frozen.block)
            .chain(std::iter::once(&self.open))
    }

    pub(super) fn unsealed_rows(&self) -> usize {
        self.unsealed().map(|block| block.rows).sum()
    }

    /// Bytes of the write-ahead segments of the blocks not sealed yet.
    pub(super) fn unsealed_bytes(&self) -> u64 {
        self.unsealed().map(|block| block.wal.bytes()).sum()
    }

    pub(super) fn unsealed_time_range(&self) -> Option<(i64, i64)> {
        self.unsealed()
            .filter_map(|block| block.time_range)
            .reduce(|(l1, h1), (l2, h2)| (l1.min(l2), h1.max(h2)))
    }
}

impl Table {
    /// Seals the open block now, if it holds rows (and every frozen one).
    pub fn seal(&self, backup: Option<&Backup>) -> Result<()> {
        let _sealer = self.sealer();
        // Frozen blocks first: their seals free the space a freeze needs.
        self.seal_held(backup)?;
        self.freeze_locked(&mut self.lock())?;
        self.seal_held(backup)
    }

    /// Seals the open block if it holds rows and is older than `age`, and
    /// every frozen block (one whose seal failed before, too).
    pub fn seal_if_older(&self, age: Duration, backup: Option<&Backup>) -> Result<()> {
        let _sealer = self.sealer();
        self.seal_held(backup)?;
        {
            let mut state = self.lock();
            if state.open.rows > 0 && state.open.opened_at.elapsed() >= age {
                self.freeze_locked(&mut state)?;
            }
        }
        self.seal_held(backup)
    }

    /// Seals every frozen block, oldest first. The rows are stored
    /// already: a seal that fails (a full disk) is logged, not returned, so
    /// it never turns into an error a sender would retry (and duplicate);
    /// the block stays frozen, and the maintenance tick seals it again
    /// (as does an ingest that finds [`MAX_FROZEN`] blocks waiting).
    pub fn seal_frozen(&self, backup: Option<&Backup>) {
        let _sealer = self.sealer();
        if let Err(error) = self.seal_held(backup) {
            warn!(table = %self.name, %error, "seal failed; the block keeps its rows and is sealed later");
        }
    }

    /// Whether blocks wait for their seal (frozen: their rows are held,
    /// but they cannot be dropped until sealed).
    pub fn has_frozen(&self) -> bool {
        !self.lock().frozen.is_empty()
    }

    /// The state's lock, once fewer than [`MAX_FROZEN`] blocks wait for
    /// their seal: while that many wait, they are sealed first (by this
    /// caller, or by the sealer it waits for). A seal that fails refuses
    /// the caller's rows (retryable: nothing of them is stored), as more
    /// rows would only pile up unsealed on a full disk.
    pub(super) fn lock_with_room(
        &self,
        backup: Option<&Backup>,
    ) -> Result<MutexGuard<'_, TableState>> {
        loop {
            let state = self.lock();
            if state.frozen.len() < MAX_FROZEN || state.dropped {
                return Ok(state);
            }
            drop(state);
            let _sealer = self.sealer();
            self.seal_held(backup).map_err(|error| {
                LeafError::Unavailable(format!(
                    "table {:?}: full blocks wait for a seal that failed ({error}); send the rows again later",
                    self.name
                ))
            })?;
        }
    }

    /// The sealer's turn (before the state's lock, never after it).
    pub(super) fn sealer(&self) -> MutexGuard<'_, ()> {
        self.sealing
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Freezes the open block, if it holds rows: a new segment and open
    /// block take the next rows. Nothing changes when this fails.
    pub(super) fn freeze_locked(&self, state: &mut TableState) -> Result<()> {
        if state.open.rows == 0 || state.dropped {
            return Ok(());
        }
        let next = state.open.segment + 1;
        let path = wal_path(&self.dir, next);
        let wal = WalWriter::create(&path).inspect_err(|_| {
            // A segment cut short would refuse to be created again.
            remove_quietly(&path);
        })?;
        let block = std::mem::replace(&mut state.open, OpenBlock::new(next, wal));
        let schema = state.schema.clone();
        state.frozen.push(Frozen { block, schema });
        Ok(())
    }

    /// Seals the frozen blocks, oldest first; the caller is the sealer.
    fn seal_held(&self, backup: Option<&Backup>) -> Result<()> {
        loop {
            let (segment, schema, batches) = {
                let state = self.lock();
                match state.frozen.first() {
                    Some(frozen) if !state.dropped => (
                        frozen.block.segment,
                        frozen.schema.clone(),
                        frozen.block.batches.clone(),
                    ),
                    _ => return Ok(()),
                }
            };
            self.seal_one(segment, &schema, &batches, backup)?;
        }
    }

    /// Writes the blocks of frozen segment `segment` without the lock, then
    /// commits them under it. Until the old segment is removed nothing is
    /// committed: a failure (ENOSPC) removes what this attempt wrote, so the
    /// space is free again and the block stays frozen, to be sealed later.
    fn seal_one(
        &self,
        segment: u64,
        schema: &TableSchema,
        batches: &[RecordBatch],
        backup: Option<&Backup>,
    ) -> Result<()> {
        let started = Instant::now();
        let blocks = seal_batches(&self.dir, segment, schema, batches).inspect_err(|_| {
            remove_segment_blocks(&self.dir, segment);
        })?;
        let mut state = self.lock();
        let first = state.frozen.first().map(|frozen| frozen.block.segment);
        if state.dropped || first != Some(segment) {
            // Not while this caller is the sealer (a drop waits for it, and
            // only the sealer takes frozen blocks): a guard, so a later
            // change cannot commit a block that is not the oldest frozen one.
            remove_segment_blocks(&self.dir, segment);
            return Ok(());
        }
        let old_wal = state.frozen[0].block.wal.path().to_path_buf();
        let committed = blocks
            .iter()
            .try_for_each(|block| manifest::append(&self.dir, &block.meta))
            .and_then(|()| {
                std::fs::remove_file(&old_wal).map_err(|error| LeafError::io(&old_wal, error))
            });
        if let Err(error) = committed {
            remove_segment_blocks(&self.dir, segment);
            return Err(error);
        }
        state.frozen.remove(0);
        let rows: u64 = blocks.iter().map(|b| b.meta.rows).sum();
        if let Some(backup) = backup {
            for block in &blocks {
                backup.copy_block(&self.name, block.meta.id, &self.dir);
            }
        }
        state.sealed.extend(blocks);
        drop(state);
        info!(table = %self.name, segment, rows, elapsed_ms = started.elapsed().as_millis() as u64, "sealed block");
        Ok(())
    }
}

#[cfg(test)]
#[path = "seal_tests.rs"]
mod tests;
