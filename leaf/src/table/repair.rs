//! Mending sealed blocks that fail their checks (see [`crate::block`] for
//! the checksums): a block is replaced by its backup copy when that copy
//! verifies, or else dropped and its rows recorded as lost.
//!
//! The order keeps every failure on the safe side:
//! - one repair pass runs at a time per table (they stage backup copies
//!   under fixed names);
//! - a block that failed once is first looked at afresh (mapping can fail
//!   for a moment; a good file is never deleted for it);
//! - the backup copy is staged in `.restore/` beside the table and verified
//!   there, outside the table lock, then renamed into place under it;
//! - a backup that cannot be read now (an I/O error other than "no such
//!   file") leaves the block as it is, skipped by queries, to try again
//!   later: after 1 s, then twice as long each time, at most every
//!   [`MAX_REPAIR_WAIT`] (each try reads the block and its backup whole);
//! - a dropped block goes into `lost.manifest` before its files are deleted.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tracing::warn;

use super::{Table, remove_block_files, remove_quietly};
use crate::backup::Backup;
use crate::block::{BlockId, SealedBlock};
use crate::error::LeafError;
use crate::manifest;

/// Directory in a table's directory where backup copies are verified.
pub const RESTORE_DIR: &str = ".restore";

/// Longest wait between two tries of a backup that could not be read.
pub const MAX_REPAIR_WAIT: Duration = Duration::from_secs(300);
const FIRST_REPAIR_WAIT: Duration = Duration::from_secs(1);

/// Bad blocks whose backup could not be read: when each may be tried again,
/// and how long it waited last.
#[derive(Debug, Default)]
pub struct RepairWaits(HashMap<BlockId, (Instant, Duration)>);

impl RepairWaits {
    fn due(&self, id: BlockId) -> bool {
        self.0
            .get(&id)
            .is_none_or(|(next, _)| Instant::now() >= *next)
    }

    fn wait_longer(&mut self, id: BlockId) {
        let wait = self.0.get(&id).map_or(FIRST_REPAIR_WAIT, |(_, last)| {
            (*last * 2).min(MAX_REPAIR_WAIT)
        });
        self.0.insert(id, (Instant::now() + wait, wait));
    }

    fn forget(&mut self, id: BlockId) {
        self.0.remove(&id);
    }
}

/// What [`Table::repair_blocks`] did.
#[derive(Debug, Clone, Copy, Default)]
pub struct Repairs {
    pub verified: u64,
    pub restored: u64,
    pub dropped: u64,
    pub rows_lost: u64,
}

/// Where a replacement for a bad block comes from.
enum Replacement {
    /// The file in place reads well after all.
    InPlace(Box<SealedBlock>),
    /// A verified backup copy, staged in the restore directory.
    Staged,
    /// No good copy exists: drop the block.
    None,
    /// The backup cannot be read now: keep the block and try later.
    Later,
}

impl Table {
    /// Checks sealed blocks and mends those that fail: every block when
    /// `verify_all` (the background check after a restart), otherwise only
    /// those already found bad. Never called with the table lock held.
    pub fn repair_blocks(&self, backup: Option<&Backup>, verify_all: bool) -> Repairs {
        let mut repairs = Repairs::default();
        // One pass at a time. The full check after a restart waits for a
        // tick's pass; a tick skips while the full check runs (it would
        // stall the tick's seals and retention for as long).
        let _turn = match verify_all {
            true => self.repairing.lock().unwrap_or_else(|p| p.into_inner()),
            false => match self.repairing.try_lock() {
                Ok(turn) => turn,
                Err(std::sync::TryLockError::Poisoned(p)) => p.into_inner(),
                Err(std::sync::TryLockError::WouldBlock) => return repairs,
            },
        };
        for block in self.snapshot().sealed {
            repairs.verified += u64::from(verify_all);
            // `batch` verifies first; its answer is cached, so asking a
            // block already found bad costs nothing.
            if !verify_all && !block.failed() {
                continue;
            }
            let id = block.meta.id;
            if !verify_all && !self.waits().due(id) {
                continue;
            }
            let Err(error) = block.batch() else {
                continue;
            };
            warn!(table = %self.name, %error, "sealed block failed its check");
            let replacement = self.find_replacement(&block, backup);
            match replacement {
                Replacement::Later => self.waits().wait_longer(id),
                _ => self.waits().forget(id),
            }
            self.replace_bad_block(&block, replacement, &mut repairs);
        }
        repairs
    }

    fn waits(&self) -> std::sync::MutexGuard<'_, RepairWaits> {
        self.repair_waits.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn find_replacement(&self, block: &SealedBlock, backup: Option<&Backup>) -> Replacement {
        let id = block.meta.id;
        if let Ok(fresh) = SealedBlock::open(&self.dir.join(id.file_name()), id)
            && fresh.batch().is_ok()
        {
            return Replacement::InPlace(Box::new(fresh));
        }
        let Some(backup) = backup else {
            return Replacement::None;
        };
        let staging = self.dir.join(RESTORE_DIR);
        let restored = std::fs::create_dir_all(&staging)
            .map_err(|e| LeafError::io(&staging, e))
            .and_then(|()| backup.restore_block(&self.name, id, &staging));
        match restored {
            Ok(()) => match SealedBlock::open(&staging.join(id.file_name()), id) {
                Ok(copy) if copy.batch().is_ok() => Replacement::Staged,
                _ => {
                    backup.remove_block(&self.name, id);
                    Replacement::None
                }
            },
            Err(LeafError::BadBlock { .. }) => {
                // The backup's copy is bad too: it must not come back.
                backup.remove_block(&self.name, id);
                Replacement::None
            }
            Err(LeafError::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {
                Replacement::None
            }
            Err(error) => {
                warn!(table = %self.name, %error, "backup unreadable now; the bad block waits for it");
                Replacement::Later
            }
        }
    }

    fn replace_bad_block(
        &self,
        block: &Arc<SealedBlock>,
        replacement: Replacement,
        repairs: &mut Repairs,
    ) {
        let id = block.meta.id;
        let staging = self.dir.join(RESTORE_DIR);
        let mut state = self.lock();
        let position = state.sealed.iter().position(|b| Arc::ptr_eq(b, block));
        let (Some(position), false) = (position, state.dropped) else {
            // Dropped by retention or with its table meanwhile.
            drop(state);
            let _ = std::fs::remove_dir_all(&staging);
            return;
        };
        let result = match replacement {
            Replacement::Later => return,
            Replacement::InPlace(fresh) => {
                state.sealed[position] = Arc::new(*fresh);
                Ok(())
            }
            Replacement::Staged => {
                let moved = [id.index_file_name(), id.file_name()]
                    .iter()
                    .filter(|name| staging.join(name).exists())
                    .try_for_each(|name| {
                        std::fs::rename(staging.join(name), self.dir.join(name))
                            .map_err(|e| LeafError::io(self.dir.join(name), e))
                    })
                    .and_then(|()| SealedBlock::open(&self.dir.join(id.file_name()), id));
                match moved {
                    Ok(copy) => {
                        state.sealed[position] = Arc::new(copy);
                        repairs.restored += 1;
                        warn!(table = %self.name, segment = id.segment, part = id.part, "bad block restored from the backup");
                        Ok(())
                    }
                    Err(error) => Err(error),
                }
            }
            Replacement::None => {
                state.lost.push(block.meta);
                // Recorded as lost before its files go, so a crash between
                // the two cannot lose rows without counting them.
                match manifest::rewrite_lost(&self.dir, &state.lost) {
                    Ok(()) => {
                        state.sealed.remove(position);
                        repairs.dropped += 1;
                        repairs.rows_lost += block.meta.rows;
                        warn!(table = %self.name, segment = id.segment, part = id.part, rows = block.meta.rows, "bad block dropped: no good backup copy; its rows count as lost");
                        remove_block_files(&self.dir, id)
                    }
                    Err(error) => {
                        state.lost.pop();
                        Err(error)
                    }
                }
            }
        };
        let recorded = result
            .and_then(|()| manifest::rewrite(&self.dir, state.sealed.iter().map(|b| &b.meta)));
        drop(state);
        remove_quietly(&staging.join(id.index_file_name()));
        remove_quietly(&staging.join(id.file_name()));
        if let Err(error) = recorded {
            warn!(table = %self.name, %error, "could not record a repaired block");
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use super::{FIRST_REPAIR_WAIT, MAX_REPAIR_WAIT, RepairWaits};
    use crate::block::BlockId;

    #[test]
    fn an_unreadable_backup_is_tried_again_less_and_less_often() {
        let id = BlockId {
            segment: 3,
            part: 0,
        };
        let mut waits = RepairWaits::default();
        assert!(waits.due(id));
        waits.wait_longer(id);
        assert!(!waits.due(id));
        assert_eq!(waits.0[&id].1, FIRST_REPAIR_WAIT);
        for _ in 0..20 {
            waits.wait_longer(id);
        }
        assert_eq!(waits.0[&id].1, MAX_REPAIR_WAIT);
        assert!(waits.0[&id].0 > Instant::now());
        waits.forget(id);
        assert!(waits.due(id));
    }
}
