//! The DataFusion [`TableProvider`] over one table's blocks on a leaf.
//!
//! A scan is planned against a [`TableSnapshot`] (sealed blocks plus the
//! batches of the open block at that moment):
//!
//! ```text
//!   filters ──► Pruning ──► skip blocks outside the time range
//!                       └─► per sealed block: rows of the bitmap index for
//!                           `col = 'v'` / `col IN (...)`, block skipped if none;
//!                           per open batch: the same rows found by comparing
//!                           the text ([`crate::string_match`])
//!   each remaining slice ──► rows outside the time range dropped (unless the
//!                            block lies wholly inside), and rows outside
//!                            bounds on integer columns (on the stored,
//!                            narrow values), project, take the selected
//!                            rows, conform types
//! ```
//!
//! When the index chose few rows of a block (at most one in eight), the
//! time and integer bounds are checked on those rows alone, not on every
//! row of the block. A dictionary that holds more than four values for
//! each row chosen is cut down to the values those rows use.
//!
//! Slices are spread over DataFusion's target partitions and read lazily in
//! each partition's stream. Bounds on `time` exact to the microsecond are
//! reported `Exact` (the scan applies the time range to rows); every other
//! filter `Inexact`: DataFusion applies it above the scan, so pruning can
//! only drop rows that could not match.
//!
//! A sealed block that fails its checksum or cannot be decoded is never
//! served: a fragment's scan skips it and counts its rows as unanswered
//! (see [`LeafTableProvider::counting_skipped`]); any other scan fails.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use arrow::array::{
    AnyDictionaryArray, ArrayRef, AsArray, BooleanArray, BooleanBufferBuilder, RecordBatch,
    RecordBatchOptions, UInt32Array,
};
use arrow::compute::kernels::boolean::and;
use arrow::compute::{filter_record_batch, take};
use arrow::datatypes::SchemaRef;
use arrow_select::dictionary::garbage_collect_any_dictionary;
use async_trait::async_trait;
use datafusion::catalog::Session;
use datafusion::datasource::{TableProvider, TableType};
use datafusion::error::Result as DfResult;
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::logical_expr::{Expr, TableProviderFilterPushDown};
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::streaming::{PartitionStream, StreamingTableExec};
pub use shoal_contract::pushdown::filter_pushdown;

use std::time::Instant;

use crate::yielding::Yielding;
use roaring::RoaringBitmap;

use crate::block::SealedBlock;
use crate::error::{LeafError, Result};
use crate::pruning::{Pruning, both};
use crate::string_match::rows_holding;
use crate::table::TableSnapshot;
use crate::table_schema::{Storage, conform};

/// A table of a leaf as DataFusion sees it.
#[derive(Debug)]
pub struct LeafTableProvider {
    snapshot: Arc<TableSnapshot>,
    schema: SchemaRef,
    use_indexes: bool,
    /// Scans fail once this has passed (a fragment's deadline).
    deadline: Option<Instant>,
    /// Where rows of bad blocks are counted when they are skipped.
    skipped_rows: Option<Arc<AtomicU64>>,
}

impl LeafTableProvider {
    /// A provider reading `snapshot`.
    pub fn new(snapshot: TableSnapshot) -> Self {
        let schema = snapshot.schema.arrow_schema(Storage::Sealed);
        Self::with_schema(snapshot, schema)
    }

    /// A provider reading `snapshot` as `schema` (the aggregator's view of the
    /// table across leaves): columns this leaf lacks read as nulls.
    /// `schema`'s types must be the types Shoal's columns are read as
    /// (`ColumnType::sealed_type`), as a decoded fragment's are checked to
    /// be (`shoal_contract::fragment::check_scan_types`): arrow panics
    /// making nulls of some others.
    pub fn with_schema(snapshot: TableSnapshot, schema: SchemaRef) -> Self {
        Self {
            snapshot: Arc::new(snapshot),
            schema,
            use_indexes: true,
            deadline: None,
            skipped_rows: None,
        }
    }

    /// Scans that stop with an error at `deadline`.
    pub fn with_deadline(mut self, deadline: Instant) -> Self {
        self.deadline = Some(deadline);
        self
    }

    /// Scans that skip bad blocks, adding their rows to `counter`, instead
    /// of failing.
    pub fn counting_skipped(mut self, counter: Arc<AtomicU64>) -> Self {
        self.skipped_rows = Some(counter);
        self
    }

    /// Turns the bitmap indexes off (for benchmarks that compare).
    pub fn without_indexes(mut self) -> Self {
        self.use_indexes = false;
        self
    }
}

#[async_trait]
impl TableProvider for LeafTableProvider {
    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    fn supports_filters_pushdown(
        &self,
        filters: &[&Expr],
    ) -> DfResult<Vec<TableProviderFilterPushDown>> {
        Ok(filters.iter().map(|f| filter_pushdown(f)).collect())
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        _limit: Option<usize>,
    ) -> DfResult<Arc<dyn ExecutionPlan>> {
        self.plan_scan(state.config().target_partitions(), projection, filters)
    }
}

impl LeafTableProvider {
    /// The scan plan, without a session: what [`TableProvider::scan`] returns,
    /// and what a decoded plan fragment puts in place of its table scan.
    pub fn plan_scan(
        &self,
        target_partitions: usize,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
    ) -> DfResult<Arc<dyn ExecutionPlan>> {
        let pruning = Pruning::for_scan(filters, &self.schema);
        let mut slices = Vec::new();
        for block in &self.snapshot.sealed {
            if pruning.time_overlaps(block.meta.min_time_micros, block.meta.max_time_micros) {
                slices.push(Slice::Sealed(block.clone()));
            }
        }
        if let Some((low, high)) = self.snapshot.open_time_range
            && pruning.time_overlaps(low, high)
        {
            slices.extend(self.snapshot.open.iter().cloned().map(Slice::Open));
        }

        let output_schema = match projection {
            Some(indices) => Arc::new(self.schema.project(indices)?),
            None => self.schema.clone(),
        };
        let partition_count = target_partitions.clamp(1, slices.len().max(1));
        let mut partitions: Vec<Vec<Slice>> = vec![Vec::new(); partition_count];
        for (position, slice) in slices.into_iter().enumerate() {
            partitions[position % partition_count].push(slice);
        }
        let pruning = Arc::new(pruning);
        let streams: Vec<Arc<dyn PartitionStream>> = partitions
            .into_iter()
            .map(|slices| {
                Arc::new(BlockPartition {
                    schema: output_schema.clone(),
                    slices,
                    pruning: pruning.clone(),
                    use_indexes: self.use_indexes,
                    deadline: self.deadline,
                    skipped_rows: self.skipped_rows.clone(),
                }) as Arc<dyn PartitionStream>
            })
            .collect();
        Ok(Arc::new(StreamingTableExec::try_new(
            output_schema,
            streams,
            None,
            [],
            false,
            None,
        )?))
    }
}

/// A piece of a table a partition reads.
#[derive(Debug, Clone)]
enum Slice {
    Sealed(Arc<SealedBlock>),
    Open(RecordBatch),
}

/// The slices of one output partition.
#[derive(Debug)]
struct BlockPartition {
    schema: SchemaRef,
    slices: Vec<Slice>,
    pruning: Arc<Pruning>,
    use_indexes: bool,
    deadline: Option<Instant>,
    skipped_rows: Option<Arc<AtomicU64>>,
}

impl PartitionStream for BlockPartition {
    fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    fn execute(&self, _context: Arc<TaskContext>) -> SendableRecordBatchStream {
        let schema = self.schema.clone();
        let pruning = self.pruning.clone();
        let use_indexes = self.use_indexes;
        let skipped_rows = self.skipped_rows.clone();
        let batches = self.slices.clone().into_iter().filter_map(move |slice| {
            match (
                read_slice(&slice, &schema, &pruning, use_indexes),
                &skipped_rows,
                &slice,
            ) {
                (Err(LeafError::BadBlock { .. }), Some(skipped), Slice::Sealed(block)) => {
                    skipped.fetch_add(block.meta.rows, Ordering::Relaxed);
                    None
                }
                (read, _, _) => read
                    .map_err(|error| datafusion::error::DataFusionError::External(Box::new(error)))
                    .transpose(),
            }
        });
        Box::pin(RecordBatchStreamAdapter::new(
            self.schema.clone(),
            Yielding::new(futures::stream::iter(batches), self.deadline),
        ))
    }
}

/// The rows of `slice` that may match, with the columns of `schema`; `None`
/// when the index shows that none can.
fn read_slice(
    slice: &Slice,
    schema: &SchemaRef,
    pruning: &Pruning,
    use_indexes: bool,
) -> Result<Option<RecordBatch>> {
    let (batch, selection, strings, time_covered) = match slice {
        Slice::Open(batch) => {
            let strings = match use_indexes {
                true => open_rows_holding(batch, pruning)?,
                false => None,
            };
            (batch.clone(), None, strings, false)
        }
        Slice::Sealed(block) => {
            let batch = block.batch()?;
            let selection = match use_indexes {
                true => indexed_rows(block, &batch, pruning),
                false => None,
            };
            // The index names rows of this block (checked here: a batch
            // without columns would take any row number).
            if let Some(last) = selection.as_ref().and_then(RoaringBitmap::max)
                && last as usize >= batch.num_rows()
            {
                return Err(LeafError::BadBlock {
                    path: block.path.clone(),
                    reason: format!("its string index names row {last} of {}", batch.num_rows()),
                });
            }
            let covered =
                pruning.time_covers(block.meta.min_time_micros, block.meta.max_time_micros);
            (batch, selection, None, covered)
        }
    };
    // Rows are chosen on the stored (for a block, narrow) columns, and only
    // the chosen rows of the columns asked for are widened.
    let chosen = match selection {
        Some(rows) if rows.is_empty() => return Ok(None),
        // A few rows from the index: the time and integer bounds are
        // checked on those rows alone, and only the rows inside them are
        // taken of the columns asked for.
        Some(rows) if rows.len().saturating_mul(FEW_ROWS) <= batch.num_rows() as u64 => {
            let rows: Vec<u32> = rows.iter().collect();
            let bounded = columns_bounded(&batch, pruning)?;
            let bounded = take_rows(&bounded, &UInt32Array::from(rows.clone()))?;
            let kept: Vec<u32> = match pruning.rows_mask(&bounded, time_covered)? {
                // A null (a null time or integer) is outside every bound.
                Some(in_range) => rows
                    .iter()
                    .zip(in_range.iter())
                    .filter(|(_, inside)| *inside == Some(true))
                    .map(|(row, _)| *row)
                    .collect(),
                None => rows,
            };
            take_rows(&columns_named(&batch, schema)?, &UInt32Array::from(kept))?
        }
        selection => {
            let in_range = both(pruning.rows_mask(&batch, time_covered)?, strings)?;
            let stored = columns_named(&batch, schema)?;
            match (selection, in_range) {
                (None, in_range) => filter_by(stored, in_range)?,
                (Some(rows), None) if rows.len() == batch.num_rows() as u64 => stored,
                (Some(rows), None) => {
                    take_rows(&stored, &UInt32Array::from_iter_values(rows.iter()))?
                }
                (Some(rows), Some(in_range)) => {
                    let mut selected = BooleanBufferBuilder::new(batch.num_rows());
                    selected.append_n(batch.num_rows(), false);
                    for row in rows.iter() {
                        selected.set_bit(row as usize, true);
                    }
                    let mask = and(&in_range, &BooleanArray::new(selected.finish(), None))?;
                    filter_record_batch(&stored, &mask)?
                }
            }
        }
    };
    match chosen.num_rows() {
        0 => Ok(None),
        _ => Ok(Some(conform(&compact_dictionaries(chosen)?, schema)?)),
    }
}

/// A dictionary is cut down to the values its rows use when it holds more
/// than this many values for each row.
const SPARSE_DICTIONARY: usize = 4;

/// `batch` with each dictionary that holds far more values than the batch
/// has rows (a few rows chosen from a block of thousands of hosts) cut
/// down to the values its rows use: every kernel above the scan compares,
/// hashes or sends a dictionary's values, not just the rows' (arrow's
/// `=` on a dictionary compares each of its values once).
fn compact_dictionaries(batch: RecordBatch) -> Result<RecordBatch> {
    let rows = batch.num_rows();
    fn sparse(column: &ArrayRef, rows: usize) -> Option<&dyn AnyDictionaryArray> {
        column
            .as_any_dictionary_opt()
            .filter(|dictionary| dictionary.values().len() > rows.saturating_mul(SPARSE_DICTIONARY))
    }
    if !batch
        .columns()
        .iter()
        .any(|column| sparse(column, rows).is_some())
    {
        return Ok(batch);
    }
    let columns = batch
        .columns()
        .iter()
        .map(|column| match sparse(column, rows) {
            Some(dictionary) => garbage_collect_any_dictionary(dictionary),
            None => Ok(column.clone()),
        })
        .collect::<std::result::Result<Vec<_>, _>>()?;
    with_columns(&batch, columns, batch.num_rows())
}

/// The bounds are checked on an index selection of at most one row in
/// this many alone (instead of on every row of the block).
const FEW_ROWS: u64 = 8;

/// The columns of `batch` the time and integer bounds read, as stored.
fn columns_bounded(batch: &RecordBatch, pruning: &Pruning) -> Result<RecordBatch> {
    let indices: Vec<usize> = batch
        .schema()
        .fields()
        .iter()
        .enumerate()
        .filter(|(_, field)| pruning.mask_reads(field.name()))
        .map(|(at, _)| at)
        .collect();
    Ok(batch.project(&indices)?)
}

/// The rows of `batch` the mask keeps (all of them without one).
fn filter_by(batch: RecordBatch, mask: Option<BooleanArray>) -> Result<RecordBatch> {
    Ok(match mask {
        Some(mask) => filter_record_batch(&batch, &mask)?,
        None => batch,
    })
}

/// Rows of an open batch whose text columns hold one of the values the
/// filters allow (what a sealed block's index gives), or `None` when no
/// filter names a text column of the batch. DataFusion applies the
/// filters again above the scan, so this only saves it the rows that
/// cannot match.
fn open_rows_holding(batch: &RecordBatch, pruning: &Pruning) -> Result<Option<BooleanArray>> {
    let mut mask: Option<BooleanArray> = None;
    for (column, values) in &pruning.string_values {
        let Some(text) = batch
            .column_by_name(column)
            .and_then(|c| c.as_string_opt::<i32>())
        else {
            continue;
        };
        mask = both(mask, Some(rows_holding(text, values)))?;
    }
    Ok(mask)
}

/// The columns of `batch` that `schema` names, as stored.
fn columns_named(batch: &RecordBatch, schema: &SchemaRef) -> Result<RecordBatch> {
    let stored = batch.schema();
    let indices: Vec<usize> = schema
        .fields()
        .iter()
        .filter_map(|field| stored.column_with_name(field.name()).map(|(at, _)| at))
        .collect();
    Ok(batch.project(&indices)?)
}

/// The rows `indices` of `batch`, also when it has no columns.
fn take_rows(batch: &RecordBatch, indices: &UInt32Array) -> Result<RecordBatch> {
    let columns = batch
        .columns()
        .iter()
        .map(|column| take(column, indices, None))
        .collect::<std::result::Result<Vec<_>, _>>()?;
    with_columns(batch, columns, indices.len())
}

/// `columns` (of `rows` rows) in the schema of `batch`, also when there
/// are none.
fn with_columns(batch: &RecordBatch, columns: Vec<ArrayRef>, rows: usize) -> Result<RecordBatch> {
    let options = RecordBatchOptions::new().with_row_count(Some(rows));
    Ok(RecordBatch::try_new_with_options(
        batch.schema(),
        columns,
        &options,
    )?)
}

/// Rows that satisfy every indexed string filter, or `None` when no filter
/// could use this block's index.
fn indexed_rows(
    block: &SealedBlock,
    batch: &RecordBatch,
    pruning: &Pruning,
) -> Option<RoaringBitmap> {
    let index = block.index()?;
    let mut selection: Option<RoaringBitmap> = None;
    for (column, values) in &pruning.string_values {
        if !index.has_column(column) {
            continue;
        }
        let Some(dictionary) = batch
            .column_by_name(column)
            .and_then(|c| c.as_any_dictionary_opt())
        else {
            continue;
        };
        let Some(rows) = index.rows_matching(column, dictionary, values) else {
            continue;
        };
        selection = Some(match selection {
            Some(current) => current & rows,
            None => rows,
        });
    }
    selection
}

#[cfg(test)]
#[path = "provider_tests.rs"]
mod provider_tests;
