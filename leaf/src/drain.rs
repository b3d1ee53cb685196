//! A leaf's side of `shoal fleet drain`: refusing ingest, listing what is
//! left to move, copying blocks out and in, the handover, and leaving.
//!
//! The drain command drives it (see `shoal fleet drain` in the README);
//! which copy of a moving block a query counts is
//! [`crate::table::Move`]'s business.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use shoal_proto::{BlockRef, HandoverRequest};
use tokio::sync::{Notify, OwnedRwLockReadGuard, RwLock};

use crate::block::BlockId;
use crate::error::{LeafError, Result};
use crate::store::{Store, now_micros};

/// Largest block (file and index together) a leaf takes in.
pub const MAX_IMPORT_BYTES: usize = 1 << 30;

/// Furthest ahead a handover time may be.
pub const MAX_HANDOVER_LEAD: std::time::Duration = std::time::Duration::from_secs(600);

/// File in the data directory that says the leaf is draining, so that a
/// restart (or a crash) mid-drain does not take ingest again.
pub const DRAINING_FILE: &str = "DRAINING";

/// Whether this leaf drains or leaves; shared by its services and gossip.
#[derive(Debug, Default)]
pub struct DrainState {
    draining: AtomicBool,
    leaving: AtomicBool,
    /// Held (read) by every ingest under way, until its rows are stored; a
    /// drain takes it (write) once, so no ingest that passed the check is
    /// still writing when the open blocks are sealed.
    ingest_gate: Arc<RwLock<()>>,
    /// Woken when the leaf has said `leaving` long enough to stop.
    stop: Notify,
    /// Where [`DRAINING_FILE`] goes (none for a service without a data
    /// directory of its own, as in tests).
    marker: Option<PathBuf>,
}

impl DrainState {
    /// The state of the leaf whose data directory is `data_dir`: draining
    /// if it was when it stopped.
    pub fn open(data_dir: &Path) -> Self {
        let marker = data_dir.join(DRAINING_FILE);
        Self {
            draining: AtomicBool::new(marker.exists()),
            marker: Some(marker),
            ..Self::default()
        }
    }

    pub fn is_draining(&self) -> bool {
        self.draining.load(Ordering::SeqCst)
    }

    pub fn is_leaving(&self) -> bool {
        self.leaving.load(Ordering::SeqCst)
    }

    /// An ingest's pass: `None` once the leaf drains (the rows go to
    /// another leaf).
    pub async fn admit_ingest(&self) -> Option<OwnedRwLockReadGuard<()>> {
        let guard = self.ingest_gate.clone().read_owned().await;
        (!self.is_draining()).then_some(guard)
    }

    /// Refuses ingest from now on (across restarts) and waits for every
    /// ingest under way.
    pub async fn start(&self) -> Result<()> {
        if let Some(marker) = &self.marker
            && !marker.exists()
        {
            crate::block::write_atomically(marker, b"draining\n")?;
        }
        self.draining.store(true, Ordering::SeqCst);
        drop(self.ingest_gate.write().await);
        Ok(())
    }

    /// Says `leaving` (gossip publishes it) and, after `announce`, wakes
    /// [`Self::stopped`].
    pub fn leave(self: &Arc<Self>, announce: std::time::Duration) {
        self.leaving.store(true, Ordering::SeqCst);
        let state = self.clone();
        tokio::spawn(async move {
            tokio::time::sleep(announce).await;
            state.stop.notify_one();
        });
    }

    /// Resolves once the leaf has left.
    pub async fn stopped(&self) {
        self.stop.notified().await;
    }
}

fn block_id(block: &BlockRef) -> BlockId {
    BlockId {
        segment: block.segment,
        part: block.part,
    }
}

/// Seals every open block and lists the sealed blocks still to move.
pub fn blocks_to_move(store: &Store) -> Result<Vec<BlockRef>> {
    store.seal_all()?;
    let now = now_micros();
    let mut blocks = Vec::new();
    for table in store.tables() {
        for meta in table.blocks_to_move(now) {
            blocks.push(BlockRef {
                table: table.name().to_string(),
                segment: meta.id.segment,
                part: meta.id.part,
                rows: meta.rows,
                bytes: meta.bytes,
            });
        }
    }
    Ok(blocks)
}

/// The bytes of a block's file and of its index (empty without one).
pub fn export(store: &Store, block: &BlockRef) -> Result<(Vec<u8>, Vec<u8>)> {
    let table = store.table(&block.table, false)?;
    let (path, index_path) = table.block_files(block_id(block))?;
    let bytes = std::fs::read(&path).map_err(|e| LeafError::io(&path, e))?;
    let index = match std::fs::read(&index_path) {
        Ok(index) => index,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(error) => return Err(LeafError::io(&index_path, error)),
    };
    Ok((bytes, index))
}

/// Stores another leaf's block in `table` as pending (see
/// [`crate::table::Move`]); refused when it would pass the memory limit
/// (a drain must not push out this leaf's own rows).
pub fn import(store: &Store, table: &str, block: &[u8], index: &[u8]) -> Result<BlockRef> {
    let incoming = (block.len() + index.len()) as u64;
    if let Some(limit) = store.memory_limit() {
        let used = store.memory_used();
        if used + incoming > limit {
            return Err(LeafError::MemoryFull { used, limit });
        }
    }
    let meta = store.table(table, true)?.adopt(block, index)?;
    Ok(BlockRef {
        table: table.to_string(),
        segment: meta.id.segment,
        part: meta.id.part,
        rows: meta.rows,
        bytes: meta.bytes,
    })
}

/// Applies a handover: cancels (of the handover at `at_micros`), takes
/// and gives. Each step checks the time under its table's lock.
pub fn handover(store: &Store, request: &HandoverRequest) -> Result<()> {
    let at = request.at_micros;
    let latest = now_micros().saturating_add(MAX_HANDOVER_LEAD.as_micros() as i64);
    if at > latest {
        // A give that far ahead would keep the block counted here, and
        // the leaf from leaving, for as long.
        return Err(LeafError::BadRequest(format!(
            "handover time {at} is more than {} s ahead",
            MAX_HANDOVER_LEAD.as_secs()
        )));
    }
    let mut named = std::collections::HashSet::new();
    for block in request.take.iter().chain(&request.give) {
        if !named.insert((&block.table, block.segment, block.part)) {
            return Err(LeafError::BadRequest(format!(
                "block {}-{} of table {:?} is named twice",
                block.segment, block.part, block.table
            )));
        }
    }
    let backup = store.backup();
    for block in &request.cancel {
        let Ok(table) = store.table(&block.table, false) else {
            continue;
        };
        table.cancel_move(block_id(block), at, backup)?;
    }
    for block in &request.take {
        let table = store.table(&block.table, false)?;
        table.take_over(block_id(block), (block.rows, block.bytes), at, backup)?;
    }
    // Every give is checked before any is made, so that a request is not
    // left half applied by a block it cannot give.
    let mut gives = Vec::with_capacity(request.give.len());
    for block in &request.give {
        let table = store.table(&block.table, false)?;
        let id = block_id(block);
        table.check_give(id, at)?;
        gives.push((table, id));
    }
    for (table, id) in gives {
        table.give_away(id, at, backup)?;
    }
    Ok(())
}

/// Why this leaf may not leave yet, if it may not: it must drain first,
/// and hold no row any query from now on counts.
pub fn leave_refusal(store: &Store, drain: &DrainState) -> Option<String> {
    if !drain.is_draining() {
        return Some("this leaf is not draining: run `shoal fleet drain` for it".to_string());
    }
    let now = now_micros();
    if store.tables().iter().any(|t| t.has_incoming(now)) {
        return Some("blocks are still on their way in from another leaf".to_string());
    }
    let holding: Vec<String> = store
        .stats()
        .into_iter()
        .filter(|(_, stats)| stats.rows > 0)
        .map(|(name, stats)| format!("{name} ({} rows)", stats.rows))
        .collect();
    (!holding.is_empty()).then(|| format!("rows still count here: {}", holding.join(", ")))
}

/// The latest handover time of any block this leaf gave away.
pub fn latest_give(store: &Store) -> Option<i64> {
    store.tables().iter().filter_map(|t| t.latest_give()).max()
}

#[cfg(test)]
#[path = "drain_tests.rs"]
mod tests;
