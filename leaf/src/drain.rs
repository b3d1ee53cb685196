//! A leaf's side of `shoal fleet drain`: refusing ingest, listing what is
//! left to move, copying blocks out and in, the handover, and leaving.
//!
//! The drain command drives it (see `shoal fleet drain` in the README);
//! which copy of a moving block a query counts is
//! [`crate::table::Move`]'s business.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use shoal_proto::{BlockRef, HandoverRequest};
use tokio::sync::{Notify, RwLock, RwLockReadGuard};

use crate::block::BlockId;
use crate::error::{LeafError, Result};
use crate::store::{Store, now_micros};

/// Largest block (file and index together) a leaf takes in.
pub const MAX_IMPORT_BYTES: usize = 1 << 30;

/// Whether this leaf drains or leaves; shared by its services and gossip.
#[derive(Debug, Default)]
pub struct DrainState {
    draining: AtomicBool,
    leaving: AtomicBool,
    /// Held (read) by every ingest under way; a drain takes it (write)
    /// once, so that no ingest that passed the check is still writing.
    ingest_gate: RwLock<()>,
    /// Woken when the leaf has said `leaving` long enough to stop.
    stop: Notify,
}

impl DrainState {
    pub fn is_draining(&self) -> bool {
        self.draining.load(Ordering::SeqCst)
    }

    pub fn is_leaving(&self) -> bool {
        self.leaving.load(Ordering::SeqCst)
    }

    /// An ingest's pass: `None` once the leaf drains (the rows go to
    /// another leaf).
    pub async fn admit_ingest(&self) -> Option<RwLockReadGuard<'_, ()>> {
        let guard = self.ingest_gate.read().await;
        (!self.is_draining()).then_some(guard)
    }

    /// Refuses ingest from now on and waits for every ingest under way.
    pub async fn start(&self) {
        self.draining.store(true, Ordering::SeqCst);
        drop(self.ingest_gate.write().await);
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

fn block_id(block: &BlockRef) -> Result<BlockId> {
    Ok(BlockId {
        segment: block.segment,
        part: block.part,
    })
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
    let (path, index_path) = table.block_files(block_id(block)?)?;
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

/// Applies a handover: gives, takes and cancels.
pub fn handover(store: &Store, request: &HandoverRequest) -> Result<()> {
    let now = now_micros();
    let at = request.at_micros;
    if (!request.give.is_empty() || !request.take.is_empty()) && at <= now {
        return Err(LeafError::BadRequest(format!(
            "handover time {at} is not in the future (this leaf's clock reads {now})"
        )));
    }
    let backup = store.backup();
    for block in &request.cancel {
        let table = store.table(&block.table, false)?;
        table.cancel_move(block_id(block)?, now, backup)?;
    }
    for block in &request.take {
        let table = store.table(&block.table, false)?;
        table.take_over(block_id(block)?, at, backup)?;
    }
    for block in &request.give {
        let table = store.table(&block.table, false)?;
        table.give_away(block_id(block)?, at, backup)?;
    }
    Ok(())
}

/// Why this leaf may not leave yet, if it may not: it must drain first,
/// and hold no row any query from now on counts.
pub fn leave_refusal(store: &Store, drain: &DrainState) -> Option<String> {
    if !drain.is_draining() {
        return Some("this leaf is not draining: run `shoal fleet drain` for it".to_string());
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
