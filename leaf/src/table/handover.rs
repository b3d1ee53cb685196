//! Sealed blocks moving between leaves (`shoal fleet drain`), and which
//! copy of one a query counts.
//!
//! A block goes from leaf A to leaf B in three steps. B stores a copy as
//! [`Move::Pending`]: held, counted by no query. Then, before a time `T`
//! chosen by the drain, B is told [`Move::Since`]`(T)` and A
//! [`Move::Until`]`(T)`. Every query carries its snapshot time (the
//! aggregator's clock when it was planned, `FragmentRequest.as_of_micros`):
//! one before `T` counts A's copy, one at or after `T` counts B's, so each
//! query counts the block exactly once, however its fragments interleave
//! with the move. A drops its copy [`MOVED_OUT_KEPT`] after `T`; a query
//! whose snapshot is older than a copy dropped that way is refused (the
//! leaf answers an error, counted as not answered) rather than answered
//! without the block.
//!
//! A block taken over can move on again: it is then counted between the
//! two times ([`Move::Held`]).
//!
//! Each state is kept in a marker file next to the block
//! (`block-S-P.move`: `pending`, `since T`, `until T` or `held T1 T2`),
//! written before it
//! takes effect, so a restart keeps it; a pending block found at recovery
//! is an import cut short and is deleted. Imported blocks are numbered in
//! segment 0, which no write-ahead segment uses (those start at 1), so
//! recovery never takes them for an unfinished seal.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use crate::backup::Backup;
use crate::block::{BlockId, BlockMeta, SealedBlock, write_atomically};
use crate::error::{LeafError, Result};
use crate::manifest;

use super::{Table, TableState, remove_block_files};

/// How long a leaf keeps a block it gave away after the handover time, for
/// queries planned before it whose fragments arrive late.
pub const MOVED_OUT_KEPT: Duration = Duration::from_secs(60);

/// Where a block stands in a move between leaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Move {
    /// Copied in, not yet counted by any query.
    Pending,
    /// Taken over: counted by snapshots at or after this time (µs).
    Since(i64),
    /// Given away: counted by snapshots before this time (µs).
    Until(i64),
    /// Taken over at `since`, then given away at `until`: counted by
    /// snapshots in between (a block moved on again).
    Held { since: i64, until: i64 },
}

impl Move {
    /// Whether a query with snapshot time `as_of` (µs) counts the block.
    pub fn counts_at(self, as_of: i64) -> bool {
        match self {
            Self::Pending => false,
            Self::Since(at) => as_of >= at,
            Self::Until(at) => as_of < at,
            Self::Held { since, until } => since <= as_of && as_of < until,
        }
    }

    /// Whether the block is on its way in at `now`: pending, or taken over
    /// from a time still to come.
    pub fn incoming(self, now: i64) -> bool {
        match self {
            Self::Pending => true,
            Self::Since(at) => at > now,
            Self::Until(_) | Self::Held { .. } => false,
        }
    }

    /// When the block is given away, if it is.
    pub fn given_at(self) -> Option<i64> {
        match self {
            Self::Until(at) | Self::Held { until: at, .. } => Some(at),
            _ => None,
        }
    }

    fn encode(self) -> String {
        match self {
            Self::Pending => "pending\n".to_string(),
            Self::Since(at) => format!("since {at}\n"),
            Self::Until(at) => format!("until {at}\n"),
            Self::Held { since, until } => format!("held {since} {until}\n"),
        }
    }

    fn decode(text: &str) -> Option<Self> {
        let text = text.strip_suffix('\n')?;
        if text == "pending" {
            return Some(Self::Pending);
        }
        let (word, at) = text.split_once(' ')?;
        if word == "held" {
            let (since, until) = at.split_once(' ')?;
            return Some(Self::Held {
                since: since.parse().ok()?,
                until: until.parse().ok()?,
            });
        }
        let at = at.parse().ok()?;
        match word {
            "since" => Some(Self::Since(at)),
            "until" => Some(Self::Until(at)),
            _ => None,
        }
    }
}

/// The marker file of block `id`.
pub fn marker_path(dir: &Path, id: BlockId) -> PathBuf {
    dir.join(format!("block-{:012}-{:04}.move", id.segment, id.part))
}

/// The block a marker file name belongs to.
pub fn parse_marker_name(file_name: &str) -> Option<BlockId> {
    let stem = file_name.strip_suffix(".move")?;
    BlockId::parse(&format!("{stem}.arrow"))
}

/// Reads a marker. One that cannot be read, or does not say a state, is
/// an error: guessing could count a block twice or lose it.
pub fn read_marker(path: &Path) -> Result<Move> {
    let text = std::fs::read_to_string(path).map_err(|e| LeafError::io(path, e))?;
    Move::decode(&text).ok_or_else(|| LeafError::BadBlock {
        path: path.to_path_buf(),
        reason: format!("a move marker that says {text:?}"),
    })
}

/// A fresh part number for an imported block: random, so that it never
/// names a block an earlier import (since deleted) had, whatever restarts
/// happened in between.
fn random_part() -> u32 {
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u64(crate::store::now_micros() as u64);
    hasher.finish() as u32
}

fn write_marker(dir: &Path, id: BlockId, state: Move) -> Result<()> {
    write_atomically(&marker_path(dir, id), state.encode().as_bytes())
}

impl Table {
    /// Sealed blocks that count now and are not on their way out: what a
    /// drain still has to move.
    pub fn blocks_to_move(&self, now: i64) -> Vec<BlockMeta> {
        let state = self.lock();
        state
            .sealed
            .iter()
            .filter(|b| state.settled(b.meta.id, now))
            .map(|b| b.meta)
            .collect()
    }

    /// Sealed blocks this leaf keeps (neither pending nor given away):
    /// what its backup holds.
    pub fn kept_blocks(&self) -> Vec<BlockId> {
        let state = self.lock();
        state
            .sealed
            .iter()
            .filter(|b| state.settled(b.meta.id, i64::MAX))
            .map(|b| b.meta.id)
            .collect()
    }

    /// Whether a block is on its way in: pending, or taken over from a
    /// time still to come. A leaf holding one must not leave.
    pub fn has_incoming(&self, now: i64) -> bool {
        let state = self.lock();
        state.moves.values().any(|m| m.incoming(now))
    }

    /// The files of sealed block `id` (block, index), for a copy.
    pub fn block_files(&self, id: BlockId) -> Result<(PathBuf, PathBuf)> {
        let state = self.lock();
        match state.sealed.iter().find(|b| b.meta.id == id) {
            Some(block) => Ok((block.path.clone(), self.dir.join(id.index_file_name()))),
            None => Err(LeafError::BadRequest(format!(
                "table {:?} has no block {}",
                self.name,
                id.file_name()
            ))),
        }
    }

    /// Stores another leaf's block (its file and index bytes, the index
    /// empty when it has none) as pending; returns what it holds.
    pub fn adopt(&self, block: &[u8], index: &[u8]) -> Result<BlockMeta> {
        let id = {
            let state = self.lock();
            if state.dropped {
                return Err(LeafError::Unavailable(format!(
                    "table {:?} is being dropped",
                    self.name
                )));
            }
            loop {
                let id = BlockId {
                    segment: 0,
                    part: random_part(),
                };
                let taken = state.sealed.iter().any(|b| b.meta.id == id)
                    || marker_path(&self.dir, id).exists()
                    || self.dir.join(id.file_name()).exists();
                if !taken {
                    break id;
                }
            }
        };
        // The marker goes first: a crash from here on leaves a pending
        // block, which recovery deletes.
        let written = write_marker(&self.dir, id, Move::Pending)
            .and_then(|()| match index.is_empty() {
                true => Ok(()),
                false => write_atomically(&self.dir.join(id.index_file_name()), index),
            })
            .and_then(|()| write_atomically(&self.dir.join(id.file_name()), block))
            .and_then(|()| SealedBlock::open(&self.dir.join(id.file_name()), id))
            .and_then(|sealed| {
                sealed.verify()?;
                Ok(sealed)
            });
        let sealed = match written {
            Ok(sealed) => sealed,
            Err(error) => {
                let _ = remove_block_files(&self.dir, id);
                return Err(error);
            }
        };
        let mut state = self.lock();
        let adopted = sealed
            .schema()
            .and_then(|schema| self.check_columns(&state, &schema))
            .and_then(|schema| {
                manifest::append(&self.dir, &sealed.meta)?;
                Ok(schema)
            });
        match adopted {
            Ok(schema) if !state.dropped => {
                state.schema.learn(&schema);
                state.moves.insert(id, Move::Pending);
                let meta = sealed.meta;
                state.sealed.push(Arc::new(sealed));
                Ok(meta)
            }
            Ok(_) => {
                let _ = remove_block_files(&self.dir, id);
                Err(LeafError::Unavailable(format!(
                    "table {:?} was dropped during the copy",
                    self.name
                )))
            }
            Err(error) => {
                let _ = remove_block_files(&self.dir, id);
                Err(error)
            }
        }
    }

    /// The block's schema, if every column it shares with the table has
    /// the table's type.
    fn check_columns(
        &self,
        state: &TableState,
        schema: &arrow::datatypes::Schema,
    ) -> Result<arrow::datatypes::Schema> {
        for field in schema.fields() {
            let (Some(ours), Some(theirs)) = (
                state.schema.column_type(field.name()),
                crate::narrow_time::stored_column_type(field),
            ) else {
                continue;
            };
            if ours != theirs {
                return Err(LeafError::BadRequest(format!(
                    "column {:?} of table {:?} is {ours} here but {theirs} in the block sent",
                    field.name(),
                    self.name
                )));
            }
        }
        Ok(schema.clone())
    }

    /// Counts pending block `id`, which must hold `rows` rows in `bytes`
    /// bytes, from `at` on (µs); copies it to the backup. Refused once `at`
    /// has come.
    pub fn take_over(
        &self,
        id: BlockId,
        (rows, bytes): (u64, u64),
        at: i64,
        backup: Option<&Backup>,
    ) -> Result<()> {
        let mut state = self.lock();
        check_before(at)?;
        let Some(block) = state.sealed.iter().find(|b| b.meta.id == id) else {
            return Err(self.cannot(id, "take over", None));
        };
        if (block.meta.rows, block.meta.bytes) != (rows, bytes) {
            return Err(LeafError::BadRequest(format!(
                "block {} of table {:?} holds {} rows in {} bytes, not the {rows} in {bytes} named",
                id.file_name(),
                self.name,
                block.meta.rows,
                block.meta.bytes
            )));
        }
        match state.moves.get(&id) {
            Some(Move::Pending) => {}
            Some(Move::Since(since)) if *since == at => return Ok(()),
            other => return Err(self.cannot(id, "take over", other.copied())),
        }
        write_marker(&self.dir, id, Move::Since(at))?;
        state.moves.insert(id, Move::Since(at));
        if let Some(backup) = backup {
            backup.copy_block(&self.name, id, &self.dir);
        }
        Ok(())
    }

    /// Counts block `id` only before `at` (µs); its backup copy goes (the
    /// leaf taking it over keeps one).
    pub fn give_away(&self, id: BlockId, at: i64, backup: Option<&Backup>) -> Result<()> {
        let mut state = self.lock();
        let Some(given) = self.give_state(&state, id, at)? else {
            return Ok(());
        };
        write_marker(&self.dir, id, given)?;
        state.moves.insert(id, given);
        if let Some(backup) = backup {
            backup.remove_block(&self.name, id);
        }
        Ok(())
    }

    /// Whether block `id` can be given away at `at` (what
    /// [`Self::give_away`] checks first).
    pub fn check_give(&self, id: BlockId, at: i64) -> Result<()> {
        let state = self.lock();
        self.give_state(&state, id, at).map(|_| ())
    }

    /// The state giving block `id` away at `at` makes (`None`: it is
    /// given at `at` already).
    fn give_state(&self, state: &TableState, id: BlockId, at: i64) -> Result<Option<Move>> {
        check_before(at)?;
        if state.cancelled.contains(&at) {
            return Err(LeafError::BadRequest(format!(
                "the handover at {at} was cancelled"
            )));
        }
        if !state.sealed.iter().any(|b| b.meta.id == id) {
            return Err(self.cannot(id, "give away", None));
        }
        Ok(Some(match state.moves.get(&id).copied() {
            Some(given) if given.given_at() == Some(at) => return Ok(None),
            // Taken over before: counted here from then on, until `at`.
            Some(Move::Since(since)) if since <= crate::store::now_micros() => {
                Move::Held { since, until: at }
            }
            None => Move::Until(at),
            other => return Err(self.cannot(id, "give away", other)),
        }))
    }

    /// Undoes a move of block `id` in the handover at `round` whose time
    /// has not come, or a pending import: a give counts the block again (and
    /// a give for that handover that arrives later is refused), a take or a
    /// pending import deletes the copy.
    pub fn cancel_move(&self, id: BlockId, round: i64, backup: Option<&Backup>) -> Result<()> {
        let mut state = self.lock();
        let now = crate::store::now_micros();
        if round > now {
            state.cancelled.insert(round);
        }
        match state.moves.get(&id).copied() {
            None => Ok(()),
            // Taken in an earlier round: not this one's to undo.
            Some(Move::Since(at)) if at != round => Ok(()),
            Some(given @ (Move::Until(_) | Move::Held { .. }))
                if given.given_at() != Some(round) || round <= now =>
            {
                Err(self.cannot(id, "cancel the move of", Some(given)))
            }
            Some(Move::Held { since, .. }) => {
                write_marker(&self.dir, id, Move::Since(since))?;
                state.moves.insert(id, Move::Since(since));
                if let Some(backup) = backup {
                    backup.copy_block(&self.name, id, &self.dir);
                }
                Ok(())
            }
            Some(Move::Until(_)) => {
                std::fs::remove_file(marker_path(&self.dir, id))
                    .map_err(|e| LeafError::io(marker_path(&self.dir, id), e))?;
                state.moves.remove(&id);
                if let Some(backup) = backup {
                    backup.copy_block(&self.name, id, &self.dir);
                }
                Ok(())
            }
            Some(Move::Pending) => self.delete_locked(&mut state, id, None),
            Some(Move::Since(_)) => {
                // Pending again first: a crash before the files are gone
                // must not leave a copy that counts.
                write_marker(&self.dir, id, Move::Pending)?;
                state.moves.insert(id, Move::Pending);
                self.delete_locked(&mut state, id, backup)
            }
        }
    }

    /// Deletes blocks given away more than [`MOVED_OUT_KEPT`] before `now`.
    pub fn forget_moved_out(&self, now: i64, backup: Option<&Backup>) -> Result<()> {
        let kept = MOVED_OUT_KEPT.as_micros() as i64;
        let mut state = self.lock();
        let expired: Vec<(BlockId, i64)> = state
            .moves
            .iter()
            .filter_map(|(id, state)| match state.given_at() {
                Some(at) if at.saturating_add(kept) < now => Some((*id, at)),
                _ => None,
            })
            .collect();
        for (id, at) in expired {
            self.delete_locked(&mut state, id, backup)?;
            state.forgotten_before = state.forgotten_before.max(at);
        }
        Ok(())
    }

    /// The latest handover time of a block given away, if any.
    pub fn latest_give(&self) -> Option<i64> {
        let state = self.lock();
        state.moves.values().filter_map(|m| m.given_at()).max()
    }

    fn delete_locked(
        &self,
        state: &mut TableState,
        id: BlockId,
        backup: Option<&Backup>,
    ) -> Result<()> {
        state.sealed.retain(|b| b.meta.id != id);
        state.moves.remove(&id);
        manifest::rewrite(&self.dir, state.sealed.iter().map(|b| &b.meta))?;
        remove_block_files(&self.dir, id)?;
        if let Some(backup) = backup {
            backup.remove_block(&self.name, id);
        }
        Ok(())
    }

    fn cannot(&self, id: BlockId, what: &str, state: Option<Move>) -> LeafError {
        LeafError::BadRequest(format!(
            "cannot {what} block {} of table {:?}: it is {}",
            id.file_name(),
            self.name,
            match state {
                None => "not moving (or not here)".to_string(),
                Some(state) => format!("{state:?}"),
            }
        ))
    }
}

impl TableState {
    /// Whether a query with snapshot time `as_of` counts block `id`.
    pub(super) fn counts(&self, id: BlockId, as_of: i64) -> bool {
        self.moves.get(&id).is_none_or(|m| m.counts_at(as_of))
    }

    /// Whether block `id` is this leaf's alone at `now`: never moved, or
    /// taken over from a time that has passed.
    pub(super) fn settled(&self, id: BlockId, now: i64) -> bool {
        match self.moves.get(&id) {
            None => true,
            Some(Move::Since(at)) => *at <= now,
            Some(_) => false,
        }
    }
}

/// Refuses a handover step once its time has come (read under the
/// table's lock, so no query snapshot of the table falls between).
fn check_before(at: i64) -> Result<()> {
    let now = crate::store::now_micros();
    match at > now {
        true => Ok(()),
        false => Err(LeafError::BadRequest(format!(
            "handover time {at} has come (this leaf's clock reads {now})"
        ))),
    }
}
