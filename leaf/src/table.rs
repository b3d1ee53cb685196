//! One table on a leaf: its schema, its sealed blocks, its frozen blocks
//! (full, waiting for their seal: [`seal`]) and its open block.
//!
//! ```text
//!  ingest ──► coerce ──► write-ahead segment (wal-N.log) ──► open block (in memory)
//!                                                              │ 65,536 rows or seal age:
//!                                                              ▼ frozen ([`seal`]), off the lock
//!                    block-N-0.arrow (+ .idx), block-N-1.arrow ...  then wal-N.log removed
//! ```
//!
//! The manifest (`blocks.manifest`, see [`crate::manifest`]) records each
//! sealed block's row count and time range so that a restart need not open
//! every block.
//!
//! Exactly-once across crashes rests on one rule: a write-ahead segment that
//! still exists is the truth for its segment number. Sealing writes the block
//! files of segment N, then deletes `wal-N.log`; recovery deletes any block
//! of a segment whose write-ahead file is still present and replays that
//! file instead: the newest segment as the open block, older ones as
//! frozen blocks (a restart writes no block; the maintenance tick seals
//! them).
//!
//! All methods block (file I/O, sealing): call them from `spawn_blocking`.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use arrow::array::RecordBatch;
use tracing::warn;

use crate::backup::Backup;
use crate::block::{BlockId, BlockMeta, SealedBlock, block_file_stamp, time_range};
use crate::coerce::coerce_batch;
use crate::column_type::ColumnType;
use crate::error::{LeafError, Result};
use crate::manifest;
use crate::table_schema::{Storage, TableSchema};
use crate::wal::{WalWriter, replay};
use shoal_proto::TimeSpan;
use shoal_proto::time_spans::{MAX_TIME_SPANS, merge_neighbours};

mod handover;
mod repair;
mod seal;
pub use handover::{MOVED_OUT_KEPT, Move};
pub use repair::Repairs;

/// Rows at which the open block is frozen and sealed.
pub const BLOCK_ROWS: usize = 65_536;

/// A table and its blocks.
#[derive(Debug)]
pub struct Table {
    name: String,
    dir: PathBuf,
    state: Mutex<TableState>,
    /// Bad blocks waiting for an unreadable backup, and when to look again.
    repair_waits: Mutex<repair::RepairWaits>,
    /// Held by a repair pass: two passes (the check after a restart and a
    /// maintenance tick) must not stage the same block's backup at once.
    repairing: Mutex<()>,
    /// Held by the one sealer at work ([`seal`]); taken before `state`.
    sealing: Mutex<()>,
}

#[derive(Debug)]
struct TableState {
    /// Set by [`Table::mark_dropped`]; no row is taken after it.
    dropped: bool,
    schema: TableSchema,
    sealed: Vec<Arc<SealedBlock>>,
    open: OpenBlock,
    /// Full blocks waiting for their seal, oldest first ([`seal`]).
    frozen: Vec<seal::Frozen>,
    /// Blocks that failed their checksum and had no good backup copy.
    lost: Vec<BlockMeta>,
    /// Blocks moving to or from another leaf ([`handover`]).
    moves: HashMap<BlockId, Move>,
    /// Snapshot times before this (µs) would need a block given away and
    /// since deleted: such queries are refused.
    forgotten_before: i64,
    /// Handover times whose round was cancelled here: a give for one of
    /// them that arrives late is refused.
    cancelled: HashSet<i64>,
}

#[derive(Debug)]
struct OpenBlock {
    segment: u64,
    wal: WalWriter,
    batches: Vec<RecordBatch>,
    rows: usize,
    opened_at: Instant,
    time_range: Option<(i64, i64)>,
}

/// What [`Table::ingest_leaving_seal`] did.
#[derive(Debug, Default)]
pub struct Ingested {
    /// Columns the rows added.
    pub added: Vec<String>,
    /// This call froze a block: its seal ([`Table::seal_frozen`]) is the
    /// caller's, after the answer.
    pub seal: bool,
}

/// A consistent view of a table for one query.
#[derive(Debug, Clone)]
pub struct TableSnapshot {
    pub schema: TableSchema,
    pub sealed: Vec<Arc<SealedBlock>>,
    /// Batches of the blocks not sealed yet (frozen ones, then the open
    /// one), in open storage types.
    pub open: Vec<RecordBatch>,
    pub open_time_range: Option<(i64, i64)>,
    /// Rows in the blocks above, and rows lost to corruption, at the same
    /// moment (so an answer's completeness never counts a block twice).
    pub rows: u64,
    pub rows_lost: u64,
}

/// Counts for the leaf's status.
#[derive(Debug, Clone)]
pub struct TableStats {
    pub columns: Vec<(String, ColumnType)>,
    pub rows: u64,
    pub bytes: u64,
    pub time_range: Option<(i64, i64)>,
    pub sealed_blocks: u64,
    pub open_rows: u64,
    /// Rows of blocks lost to corruption (within retention).
    pub rows_lost: u64,
    /// One span per block, sealed and open (see [`shoal_proto::time_spans`]).
    pub spans: Vec<TimeSpan>,
}

impl TableSnapshot {
    /// The view of a table this leaf does not hold: no rows.
    pub fn empty() -> Self {
        Self {
            schema: TableSchema::new(),
            sealed: Vec::new(),
            open: Vec::new(),
            open_time_range: None,
            rows: 0,
            rows_lost: 0,
        }
    }
}

impl Table {
    /// Creates an empty table in `dir`.
    pub fn create(name: &str, dir: PathBuf) -> Result<Self> {
        std::fs::create_dir_all(&dir).map_err(|e| LeafError::io(&dir, e))?;
        let wal = WalWriter::create(&wal_path(&dir, 1))?;
        Ok(Self::from_state(
            name,
            dir,
            TableSchema::new(),
            Vec::new(),
            OpenBlock::new(1, wal),
            Vec::new(),
            HashMap::new(),
        ))
    }

    fn from_state(
        name: &str,
        dir: PathBuf,
        schema: TableSchema,
        sealed: Vec<Arc<SealedBlock>>,
        open: OpenBlock,
        lost: Vec<BlockMeta>,
        moves: HashMap<BlockId, Move>,
    ) -> Self {
        Self {
            name: name.to_string(),
            dir,
            state: Mutex::new(TableState {
                dropped: false,
                schema,
                sealed,
                open,
                frozen: Vec::new(),
                lost,
                moves,
                forgotten_before: 0,
                cancelled: HashSet::new(),
            }),
            repair_waits: Mutex::default(),
            repairing: Mutex::default(),
            sealing: Mutex::default(),
        }
    }

    /// The table's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The table's directory in the data directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Stores `batches`, all or none: when this returns `Ok` every row is in
    /// the write-ahead segment; on an error none is (a failed append cuts
    /// the segment back to where this call began). Returns the columns the
    /// batches added.
    pub fn ingest(
        &self,
        batches: &[RecordBatch],
        now_micros: i64,
        backup: Option<&Backup>,
    ) -> Result<Vec<String>> {
        let ingested = self.ingest_leaving_seal(batches, None, now_micros, backup)?;
        if ingested.seal {
            self.seal_frozen(backup);
        }
        Ok(ingested.added)
    }

    /// [`Self::ingest`], but the seal of a block these rows filled is left
    /// to the caller, who answers the sender first and then calls
    /// [`Self::seal_frozen`]. The full block is frozen here (a new
    /// write-ahead segment takes the rows that come next), so no ingest
    /// waits for a seal, unless [`seal::MAX_FROZEN`] blocks wait for theirs.
    ///
    /// `encoded` is the Arrow IPC stream `batches` were decoded from, if
    /// any: when coercing changed none of them (same columns, times all
    /// set), it is what the write-ahead segment holds, not the batches
    /// encoded again; replay decodes the same batches from it.
    pub fn ingest_leaving_seal(
        &self,
        batches: &[RecordBatch],
        encoded: Option<&[u8]>,
        now_micros: i64,
        backup: Option<&Backup>,
    ) -> Result<Ingested> {
        let mut state = self.lock_with_room(backup)?;
        if state.dropped {
            // Retryable: the aggregator tries another leaf (or, past them
            // all, answers 503), and the rows make the table anew.
            return Err(LeafError::Unavailable(format!(
                "table {:?} was dropped while these rows arrived; send them again",
                self.name
            )));
        }
        let mut schema = state.schema.clone();
        let mut coerced = Vec::with_capacity(batches.len());
        let mut added = Vec::new();
        for batch in batches.iter().filter(|b| b.num_rows() > 0) {
            let batch = coerce_batch(&self.name, &schema, batch, now_micros)?;
            for (column, column_type) in batch.new_columns {
                added.push(column.clone());
                schema.push(column, column_type);
            }
            coerced.push(batch.batch);
        }
        let rows: usize = coerced.iter().map(RecordBatch::num_rows).sum();
        if rows == 0 {
            return Ok(Ingested::default());
        }
        let ranges = coerced.iter().map(time_range).collect::<Result<Vec<_>>>()?;
        let mut froze = false;
        if state.open.rows > 0 && state.open.rows + rows > BLOCK_ROWS {
            self.freeze_locked(&mut state)?;
            froze = true;
        }
        let start = state.open.wal.bytes();
        let appended = match encoded.filter(|bytes| received_as_is(bytes, batches, &coerced)) {
            Some(encoded) => state.open.wal.append_encoded(encoded),
            None => coerced
                .iter()
                .try_for_each(|batch| state.open.wal.append(batch)),
        };
        if let Err(error) = appended {
            state.open.wal.rewind(start);
            return Err(error);
        }
        for (batch, range) in coerced.into_iter().zip(ranges) {
            state.open.push(batch, range);
        }
        state.schema = schema;
        // Frozen now rather than when the next rows like these arrive: the
        // block is full, or they would overfill it (at most one freeze a
        // call: a large batch in a fresh block is frozen by the next call).
        // The rows are stored: a freeze that fails is logged, not returned
        // (the sender would send them again), and tried again next call.
        if !froze && state.open.rows + rows > BLOCK_ROWS {
            match self.freeze_locked(&mut state) {
                Ok(()) => froze = true,
                Err(error) => {
                    warn!(table = %self.name, %error, "freezing the full block failed; it takes rows on");
                }
            }
        }
        // Only the call that froze a block has it sealed after its answer:
        // one whose seal failed is tried again by the maintenance tick (or
        // by an ingest that finds MAX_FROZEN blocks waiting).
        Ok(Ingested { added, seal: froze })
    }

    /// Refuses (or, after a failed drop, takes again) every row from now
    /// on; waits for an ingest or (when dropping) a seal under way.
    pub fn set_dropped(&self, dropped: bool) {
        let _sealer = dropped.then(|| self.sealer());
        self.lock().dropped = dropped;
    }

    /// Marks the table dropped and returns the rows it held: once this
    /// returns, no ingest or seal is under way and none will be, so its
    /// files can go. (A seal under way was waited for by
    /// [`Self::set_dropped`] already, and none starts on a dropped table.)
    pub fn mark_dropped(&self) -> u64 {
        let _sealer = self.sealer();
        let mut state = self.lock();
        state.dropped = true;
        let sealed: u64 = state.sealed.iter().map(|b| b.meta.rows).sum();
        let rows = sealed + state.unsealed_rows() as u64;
        state.sealed.clear();
        state.lost.clear();
        state.frozen.clear();
        state.open.batches.clear();
        state.open.rows = 0;
        rows
    }

    /// A consistent view for a query planned now.
    pub fn snapshot(&self) -> TableSnapshot {
        let state = self.lock();
        Self::snapshot_locked(&state, crate::store::now_micros())
    }

    /// A consistent view for a query whose snapshot time is `as_of` (µs
    /// since the epoch): blocks moving between leaves count as
    /// [`handover`] says. Refused when a block it would count was given
    /// away and is deleted.
    pub fn snapshot_at(&self, as_of: i64) -> Result<TableSnapshot> {
        let state = self.lock();
        if as_of < state.forgotten_before {
            return Err(LeafError::Unavailable(format!(
                "table {:?}: blocks this query's snapshot counts here have moved to another leaf; run it again",
                self.name
            )));
        }
        Ok(Self::snapshot_locked(&state, as_of))
    }

    fn snapshot_locked(state: &TableState, as_of: i64) -> TableSnapshot {
        let sealed: Vec<Arc<SealedBlock>> = state
            .sealed
            .iter()
            .filter(|b| state.counts(b.meta.id, as_of))
            .cloned()
            .collect();
        TableSnapshot {
            schema: state.schema.clone(),
            rows: sealed.iter().map(|b| b.meta.rows).sum::<u64>() + state.unsealed_rows() as u64,
            sealed,
            open: state.unsealed().flat_map(|b| b.batches.clone()).collect(),
            open_time_range: state.unsealed_time_range(),
            rows_lost: state.lost.iter().map(|b| b.rows).sum(),
        }
    }

    /// The table's schema now.
    pub fn schema(&self) -> TableSchema {
        self.lock().schema.clone()
    }

    /// Counts for status reports, with the blocks' time spans.
    pub fn stats(&self) -> TableStats {
        self.stats_with(true)
    }

    /// Counts without the time spans: what an ingest acknowledgement
    /// carries (sorting every block's span on each ingest call would slow
    /// ingest; the status poll brings them within a second).
    pub fn counts(&self) -> TableStats {
        self.stats_with(false)
    }

    fn stats_with(&self, with_spans: bool) -> TableStats {
        let now = crate::store::now_micros();
        let state = self.lock();
        // Blocks that count now; bytes are every block's (memory held).
        let counted: Vec<&Arc<SealedBlock>> = state
            .sealed
            .iter()
            .filter(|b| state.counts(b.meta.id, now))
            .collect();
        let sealed_rows: u64 = counted.iter().map(|b| b.meta.rows).sum();
        let sealed_bytes: u64 = state.sealed.iter().map(|b| b.meta.bytes).sum();
        let mut range = state.unsealed_time_range();
        let mut spans = Vec::with_capacity(if with_spans {
            state.sealed.len() + state.frozen.len() + 1
        } else {
            0
        });
        for block in state.unsealed().filter(|_| with_spans) {
            if let Some((low, high)) = block.time_range {
                spans.push(time_span(low, high, block.rows as u64));
            }
        }
        for block in &counted {
            let (low, high) = (block.meta.min_time_micros, block.meta.max_time_micros);
            if with_spans {
                spans.push(time_span(low, high, block.meta.rows));
            }
            range = Some(match range {
                Some((l, h)) => (l.min(low), h.max(high)),
                None => (low, high),
            });
        }
        let stats = TableStats {
            columns: state.schema.columns().to_vec(),
            rows: sealed_rows + state.unsealed_rows() as u64,
            bytes: sealed_bytes + state.unsealed_bytes(),
            time_range: range,
            sealed_blocks: counted.len() as u64,
            open_rows: state.unsealed_rows() as u64,
            rows_lost: state.lost.iter().map(|b| b.rows).sum(),
            spans: Vec::new(),
        };
        // Sorting and merging need not hold up ingest.
        drop(state);
        TableStats {
            spans: merge_neighbours(spans, MAX_TIME_SPANS),
            ..stats
        }
    }

    /// Bytes of shared memory the table holds.
    pub fn memory_bytes(&self) -> u64 {
        let state = self.lock();
        state.sealed.iter().map(|b| b.meta.bytes).sum::<u64>() + state.unsealed_bytes()
    }

    /// The sealed block with the oldest newest row, as `(id, max_time)`.
    pub fn oldest_block(&self) -> Option<(BlockId, i64)> {
        let now = crate::store::now_micros();
        let state = self.lock();
        // Not a block on its way in: dropping it would fail the move (or,
        // once taken over, lose rows the leaf giving it no longer counts).
        state
            .sealed
            .iter()
            .filter(|b| !state.moves.get(&b.meta.id).is_some_and(|m| m.incoming(now)))
            .min_by_key(|b| b.meta.max_time_micros)
            .map(|b| (b.meta.id, b.meta.max_time_micros))
    }

    /// Drops sealed block `id` (retention); returns the bytes freed.
    pub fn drop_block(&self, id: BlockId, backup: Option<&Backup>) -> Result<u64> {
        let mut state = self.lock();
        // Its directory may belong to a table of the same name made since.
        if state.dropped {
            return Ok(0);
        }
        let Some(position) = state.sealed.iter().position(|b| b.meta.id == id) else {
            return Ok(0);
        };
        let block = state.sealed.remove(position);
        state.moves.remove(&id);
        manifest::rewrite(&self.dir, state.sealed.iter().map(|b| &b.meta))?;
        remove_block_files(&self.dir, id)?;
        if let Some(backup) = backup {
            backup.remove_block(&self.name, id);
        }
        Ok(block.meta.bytes)
    }

    /// Drops every sealed block whose newest row is older than `cutoff`
    /// (and forgets lost blocks as old).
    pub fn drop_blocks_before(&self, cutoff_micros: i64, backup: Option<&Backup>) -> Result<u64> {
        let expired: Vec<BlockId> = {
            let mut state = self.lock();
            let lost = state.lost.len();
            state.lost.retain(|b| b.max_time_micros >= cutoff_micros);
            if state.lost.len() != lost && !state.dropped {
                manifest::rewrite_lost(&self.dir, &state.lost)?;
            }
            state
                .sealed
                .iter()
                .filter(|b| b.meta.max_time_micros < cutoff_micros)
                .map(|b| b.meta.id)
                .collect()
        };
        let mut freed = 0;
        for id in expired {
            freed += self.drop_block(id, backup)?;
        }
        Ok(freed)
    }

    fn lock(&self) -> MutexGuard<'_, TableState> {
        // A panic while holding the lock cannot leave the state half-updated
        // in a way that loses acknowledged rows (those are in the segment),
        // so a poisoned lock is still usable.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Recovers the table stored in `dir`: maps sealed blocks, undoes
    /// unfinished seals, replays the write-ahead segment.
    pub fn recover(name: &str, dir: PathBuf, backup: Option<&Backup>) -> Result<Self> {
        let mut blocks = BTreeMap::new();
        let mut markers = HashMap::new();
        let mut segments = Vec::new();
        let entries = std::fs::read_dir(&dir).map_err(|e| LeafError::io(&dir, e))?;
        for entry in entries {
            let entry = entry.map_err(|e| LeafError::io(&dir, e))?;
            let file_name = entry.file_name().to_string_lossy().to_string();
            if let Some(id) = BlockId::parse(&file_name) {
                blocks.insert(id, entry.path());
            } else if let Some(id) = handover::parse_marker_name(&file_name) {
                markers.insert(id, handover::read_marker(&entry.path())?);
            } else if let Some(segment) = parse_wal_name(&file_name) {
                segments.push(segment);
            } else if file_name.ends_with(".tmp") {
                remove_quietly(&entry.path());
            } else if file_name == repair::RESTORE_DIR {
                // A restore cut short: its copy is fetched again if needed.
                let _ = std::fs::remove_dir_all(entry.path());
            }
        }
        segments.sort_unstable();
        // A pending import was cut short (or never handed over): it goes.
        let mut moves = HashMap::new();
        for (id, marker) in markers {
            match marker {
                Move::Pending => {
                    blocks.remove(&id);
                    remove_block_files(&dir, id)?;
                }
                _ if !blocks.contains_key(&id) => {
                    remove_block_files(&dir, id)?;
                }
                marker => {
                    moves.insert(id, marker);
                }
            }
        }
        // Blocks of a segment whose write-ahead file survives are an
        // unfinished seal: the segment is replayed instead.
        for &segment in &segments {
            let unfinished: Vec<BlockId> = blocks
                .keys()
                .filter(|id| id.segment == segment)
                .copied()
                .collect();
            for id in unfinished {
                blocks.remove(&id);
                remove_block_files(&dir, id)?;
            }
        }

        // Blocks the manifest knows, with the size it recorded, are not
        // opened now; the others are opened and their footers read.
        let manifest = manifest::read(&dir);
        let mut manifest_stale = false;
        let mut sealed = Vec::with_capacity(blocks.len());
        for (id, path) in &blocks {
            if let Some(meta) = manifest.get(id)
                && block_file_stamp(&dir, *id) == Some((meta.bytes, meta.modified_nanos))
            {
                sealed.push(Arc::new(SealedBlock::deferred(path, *meta)));
                continue;
            }
            manifest_stale = true;
            if let Some(block) = open_block_or_backup(name, &dir, *id, path, backup) {
                sealed.push(Arc::new(block));
            }
        }
        // Best effort: a manifest that says too much or too little only
        // costs the next restart some footers read, and a restart on a
        // full disk must not fail for it.
        if (manifest_stale || manifest.len() != sealed.len())
            && let Err(error) = manifest::rewrite(&dir, sealed.iter().map(|b| &b.meta))
        {
            warn!(table = name, %error, "manifest not rewritten; the next restart reads more footers");
        }
        // Every block holds all columns the table had when it was sealed,
        // so the newest readable block knows every sealed column.
        let mut schema = TableSchema::new();
        for block in sealed.iter().rev() {
            match block.verify().and_then(|()| block.schema()) {
                Ok(block_schema) => {
                    schema.learn(&block_schema);
                    break;
                }
                Err(error) => warn!(table = name, %error, "block unreadable"),
            }
        }

        let next_segment = segments
            .last()
            .copied()
            .max(blocks.keys().map(|id| id.segment).max())
            .unwrap_or(0)
            + 1;
        let mut open = None;
        let mut frozen = Vec::new();
        for (position, &segment) in segments.iter().enumerate() {
            let path = wal_path(&dir, segment);
            let replayed = match replay(&path) {
                Ok(replayed) => replayed,
                Err(error) => {
                    warn!(table = name, %error, "write-ahead segment skipped");
                    continue;
                }
            };
            if replayed.torn_bytes > 0 {
                warn!(
                    table = name,
                    segment,
                    torn_bytes = replayed.torn_bytes,
                    "cut off a torn write at the end of the write-ahead segment"
                );
            }
            // A record kept as it was received has its sender's schema (its
            // nullability, metadata): given the one ingest gave it.
            let replayed_batches = replayed
                .batches
                .iter()
                .map(crate::coerce::coerced_schema)
                .collect::<Vec<_>>();
            for batch in &replayed_batches {
                schema.learn(&batch.schema());
            }
            let is_last = position + 1 == segments.len();
            if is_last && replayed.valid_len > 0 {
                let wal = WalWriter::reopen(&path, replayed.valid_len)?;
                open = Some(OpenBlock::replayed(segment, wal, replayed_batches)?);
            } else if replayed.valid_len > 0 && !replayed_batches.is_empty() {
                // An older segment: frozen, as it was, for the maintenance
                // tick (or the next ingest) to seal. A restart writes no
                // block, so it is as quick with a seal pending and works
                // on a full disk (where a seal would fail).
                let wal = WalWriter::reopen(&path, replayed.valid_len)?;
                let block = OpenBlock::replayed(segment, wal, replayed_batches)?;
                frozen.push(seal::Frozen::new(block, schema.clone()));
            } else {
                // A segment holding nothing (torn before its first record;
                // the newest, if so, is replaced by a new one): it goes.
                std::fs::remove_file(&path).map_err(|e| LeafError::io(&path, e))?;
            }
        }
        let open = match open {
            Some(open) => open,
            None => OpenBlock::new(
                next_segment,
                WalWriter::create(&wal_path(&dir, next_segment))?,
            ),
        };
        // A block recorded as lost whose file survived (a crash between the
        // record and the delete) is dropped again by the check that follows.
        let lost = manifest::read_lost(&dir)
            .into_iter()
            .filter(|meta| !sealed.iter().any(|b| b.meta.id == meta.id))
            .collect();
        moves.retain(|id, _| sealed.iter().any(|b| b.meta.id == *id));
        let table = Self::from_state(name, dir, schema, sealed, open, lost, moves);
        table.lock().frozen = frozen;
        Ok(table)
    }
}

impl OpenBlock {
    fn new(segment: u64, wal: WalWriter) -> Self {
        Self {
            segment,
            wal,
            batches: Vec::new(),
            rows: 0,
            opened_at: Instant::now(),
            time_range: None,
        }
    }

    /// The block of segment `segment`, holding `batches` replayed from it.
    fn replayed(segment: u64, wal: WalWriter, batches: Vec<RecordBatch>) -> Result<Self> {
        let mut block = Self::new(segment, wal);
        for batch in batches {
            let range = time_range(&batch)?;
            block.push(batch, range);
        }
        Ok(block)
    }

    /// Takes `batch` (in the write-ahead segment already), whose times
    /// span `range`.
    fn push(&mut self, batch: RecordBatch, range: (i64, i64)) {
        self.rows += batch.num_rows();
        self.time_range = Some(match self.time_range {
            Some((low, high)) => (low.min(range.0), high.max(range.1)),
            None => range,
        });
        self.batches.push(batch);
    }
}

/// Whether the IPC stream `encoded` that `batches` came from may stand in
/// the write-ahead segment for `coerced`: it is in this format's framing
/// (a continuation marker first), not much larger than the rows it holds
/// (bytes a sender put after the end of the stream, or padding the decoder
/// skips, are never kept), and [`unchanged`].
fn received_as_is(encoded: &[u8], batches: &[RecordBatch], coerced: &[RecordBatch]) -> bool {
    const SLACK: usize = 64 * 1024;
    let expected = shoal_contract::ipc::encoded_size_hint(coerced);
    encoded.starts_with(&[0xff; 4])
        && encoded.len() <= expected.saturating_mul(2).saturating_add(SLACK)
        && unchanged(batches, coerced)
}

/// Whether `coerced` are `batches` as they came: every batch has rows
/// (none was left out) and holds the very same column arrays, `time`
/// among them (none was added, cast or filled).
fn unchanged(batches: &[RecordBatch], coerced: &[RecordBatch]) -> bool {
    batches.len() == coerced.len()
        && batches.iter().zip(coerced).all(|(batch, coerced)| {
            batch.num_rows() > 0
                && batch.num_columns() == coerced.num_columns()
                && batch
                    .columns()
                    .iter()
                    .zip(coerced.columns())
                    .all(|(a, b)| Arc::ptr_eq(a, b))
        })
}

/// Writes the rows of `batches` as blocks of segment `segment`.
fn seal_batches(
    dir: &Path,
    segment: u64,
    schema: &TableSchema,
    batches: &[RecordBatch],
) -> Result<Vec<Arc<SealedBlock>>> {
    let aligned = batches
        .iter()
        .map(|batch| schema.align(batch, Storage::Open))
        .collect::<Result<Vec<_>>>()?;
    // Each block's strings are interned straight from its batches.
    (0_u32..)
        .zip(runs_of_block_rows(&aligned))
        .map(|(part, run)| {
            let sealed = crate::seal_strings::block_from_open(schema, &run)?;
            Ok(Arc::new(write_block(dir, segment, part, &sealed)?))
        })
        .collect()
}

/// `batches` cut into runs of [`BLOCK_ROWS`] rows (the last may be
/// shorter), a batch that straddles two runs sliced (no rows copied).
fn runs_of_block_rows(batches: &[RecordBatch]) -> Vec<Vec<RecordBatch>> {
    let mut runs = Vec::new();
    let mut run: Vec<RecordBatch> = Vec::new();
    let mut run_rows = 0;
    for batch in batches {
        let mut offset = 0;
        while offset < batch.num_rows() {
            let length = (BLOCK_ROWS - run_rows).min(batch.num_rows() - offset);
            run.push(batch.slice(offset, length));
            run_rows += length;
            offset += length;
            if run_rows == BLOCK_ROWS {
                runs.push(std::mem::take(&mut run));
                run_rows = 0;
            }
        }
    }
    if run_rows > 0 {
        runs.push(run);
    }
    runs
}

/// Narrows a block's columns and writes it as part `part` of `segment`.
fn write_block(dir: &Path, segment: u64, part: u32, sealed: &RecordBatch) -> Result<SealedBlock> {
    let sealed = crate::narrow::narrow_integers(sealed)?;
    let sealed = crate::narrow_strings::narrow_strings(&sealed)?;
    let sealed = crate::narrow_time::narrow_time(&sealed)?;
    SealedBlock::write(dir, BlockId { segment, part }, &sealed)
}

fn open_block_or_backup(
    table: &str,
    dir: &Path,
    id: BlockId,
    path: &Path,
    backup: Option<&Backup>,
) -> Option<SealedBlock> {
    let error = match SealedBlock::open(path, id) {
        Ok(block) => return Some(block),
        Err(error) => error,
    };
    if let Some(backup) = backup
        && backup.restore_block(table, id, dir).is_ok()
    {
        match SealedBlock::open(path, id) {
            Ok(block) => {
                warn!(table, %error, "block unreadable in shared memory, restored from backup");
                return Some(block);
            }
            Err(again) => warn!(table, error = %again, "backup copy unreadable too"),
        }
    }
    warn!(table, %error, "skipped a block this leaf cannot read; its file is left in place");
    None
}

fn time_span(min_time_micros: i64, max_time_micros: i64, rows: u64) -> TimeSpan {
    TimeSpan {
        min_time_micros,
        max_time_micros,
        rows,
    }
}

fn wal_path(dir: &Path, segment: u64) -> PathBuf {
    dir.join(format!("wal-{segment:012}.log"))
}

fn parse_wal_name(file_name: &str) -> Option<u64> {
    file_name
        .strip_prefix("wal-")?
        .strip_suffix(".log")?
        .parse()
        .ok()
}

/// Removes every block file of `segment` (an unfinished seal's).
fn remove_segment_blocks(dir: &Path, segment: u64) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        if let Some(id) = BlockId::parse(&entry.file_name().to_string_lossy())
            && id.segment == segment
        {
            let _ = remove_block_files(dir, id);
        }
    }
}

fn remove_block_files(dir: &Path, id: BlockId) -> Result<()> {
    remove_quietly(&dir.join(id.index_file_name()));
    let path = dir.join(id.file_name());
    match std::fs::remove_file(&path) {
        Err(error) if error.kind() != std::io::ErrorKind::NotFound => {
            return Err(LeafError::io(&path, error));
        }
        _ => {}
    }
    // The marker goes last: a pending block must never be left without it.
    remove_quietly(&handover::marker_path(dir, id));
    Ok(())
}

fn remove_quietly(path: &Path) {
    if let Err(error) = std::fs::remove_file(path)
        && error.kind() != std::io::ErrorKind::NotFound
    {
        warn!(path = %path.display(), %error, "could not remove file");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::Int64Array;

    fn numbers(from: i64, rows: usize) -> RecordBatch {
        let values = Int64Array::from_iter_values(from..from + rows as i64);
        RecordBatch::try_from_iter([("n", Arc::new(values) as arrow::array::ArrayRef)])
            .expect("batch")
    }

    /// Runs hold every row once, in order, each of BLOCK_ROWS rows but the
    /// last, whatever the batches' sizes (empty ones too).
    #[test]
    fn runs_cut_batches_at_block_boundaries() {
        let sizes = [40_000, 0, 40_000, 65_536, 3];
        let mut from = 0;
        let batches: Vec<RecordBatch> = sizes
            .iter()
            .map(|&rows| {
                let batch = numbers(from, rows);
                from += rows as i64;
                batch
            })
            .collect();
        let runs = runs_of_block_rows(&batches);
        let lengths: Vec<usize> = runs
            .iter()
            .map(|run| run.iter().map(RecordBatch::num_rows).sum())
            .collect();
        assert_eq!(lengths, [BLOCK_ROWS, BLOCK_ROWS, 145_539 - 2 * BLOCK_ROWS]);
        let values: Vec<i64> = runs
            .iter()
            .flatten()
            .flat_map(|batch| {
                let column = batch.column(0).as_any().downcast_ref::<Int64Array>();
                column.expect("integers").values().to_vec()
            })
            .collect();
        assert_eq!(values, (0..from).collect::<Vec<_>>());
        assert!(runs_of_block_rows(&[numbers(0, 0)]).is_empty());
    }
}
