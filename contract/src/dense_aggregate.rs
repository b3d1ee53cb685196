//! A leaf's partial aggregate for the GROUP BYs dashboards run: a time
//! bucket, dictionary strings (service, region) and small integers
//! (status), in any mix.
//!
//! DataFusion's `AggregateExec` finds each row's group by hashing and
//! comparing the whole key (`GroupValuesColumn`); for `GROUP BY
//! date_bin(...), service` over a week of 10M rows that was a third of the
//! query. [`DenseAggregateExec`] finds it through small per-column ids
//! ([`crate::group_ids`]) and then feeds DataFusion's own group
//! accumulators exactly as `AggregateExec` does, so its output (the partial
//! states the aggregator merges) is the same, rows in another order.
//!
//! [`dense_aggregates`] puts it in place of partial and final aggregates
//! that group by supported columns only (but not by one integer alone,
//! which DataFusion groups faster), without grouping sets, limits, DISTINCT
//! or ordered aggregates, and whose every aggregate has a group
//! accumulator. Leaves use it for their partial aggregates; the aggregator
//! for the final ones too, which merge the leaves' partial states (for
//! `count(DISTINCT host) ... GROUP BY service`, hundreds of thousands of
//! (service, host) pairs, which DataFusion compared as encoded rows). It
//! emits once its input ends, in batches of the session's batch size, and
//! counts what it holds against the query's memory pool; when that is full
//! a partial aggregate emits the groups so far and starts again, as
//! DataFusion's does, and a final one fails, as DataFusion's does when it
//! cannot spill (Shoal never spills).

use std::fmt;
use std::sync::Arc;

use arrow::array::{ArrayRef, AsArray, RecordBatch};
use arrow::datatypes::{DataType, SchemaRef};
use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::common::{Result, internal_err};
use datafusion::execution::memory_pool::{MemoryConsumer, MemoryReservation};
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::logical_expr::{EmitTo, GroupsAccumulator};
use datafusion::physical_expr::PhysicalExpr;
use datafusion::physical_expr::expressions::Literal;
use datafusion::physical_plan::aggregates::{AggregateExec, AggregateMode, aggregate_expressions};
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::{DisplayAs, DisplayFormatType, ExecutionPlan, InputOrderMode};
use futures::{StreamExt, TryStreamExt, stream};

use crate::group_ids::{ColumnIds, GroupIds, supported};

/// Most group columns a dense aggregate takes.
pub const MAX_GROUP_COLUMNS: usize = 4;

/// `plan` with every eligible partial aggregate made dense; see the module
/// docs.
pub fn dense_aggregates(plan: Arc<dyn ExecutionPlan>) -> Result<Arc<dyn ExecutionPlan>> {
    plan.transform_up(|node| {
        let Some(aggregate) = node.downcast_ref::<AggregateExec>() else {
            return Ok(Transformed::no(node));
        };
        match eligible(aggregate)? {
            true => {
                let inner = Arc::new(aggregate.clone());
                Ok(Transformed::yes(Arc::new(DenseAggregateExec { inner }) as _))
            }
            false => Ok(Transformed::no(node)),
        }
    })
    .map(|transformed| transformed.data)
}

fn eligible(aggregate: &AggregateExec) -> Result<bool> {
    let group_by = aggregate.group_expr();
    let columns = group_by.expr().len();
    // One grouping set of every column, as a plain GROUP BY plans it (a
    // fragment could carry others, which this aggregate would not honour).
    let plain = !group_by.has_grouping_set()
        && group_by.null_expr().is_empty()
        && group_by.groups() == [vec![false; columns]];
    let mode_taken = matches!(
        aggregate.mode(),
        AggregateMode::Partial | AggregateMode::Final | AggregateMode::FinalPartitioned
    );
    if !mode_taken
        || !plain
        || !(1..=MAX_GROUP_COLUMNS).contains(&columns)
        || aggregate.limit_options().is_some()
        || *aggregate.input_order_mode() != InputOrderMode::Linear
    {
        return Ok(false);
    }
    let schema = aggregate.input().schema();
    let types = group_by
        .expr()
        .iter()
        .map(|(expr, _)| expr.data_type(&schema))
        .collect::<Result<Vec<_>>>()?;
    // One integer column is DataFusion's fastest grouping already.
    let one_integer =
        matches!(types.as_slice(), [only] if !matches!(only, DataType::Dictionary(..)));
    if one_integer || !types.iter().all(supported) {
        return Ok(false);
    }
    Ok(aggregate.aggr_expr().iter().all(|aggregate| {
        aggregate.groups_accumulator_supported()
            && !aggregate.is_distinct()
            && aggregate.order_bys().is_empty()
    }))
}

/// A partial or final aggregate grouping through column ids; see the
/// module docs.
#[derive(Debug)]
pub struct DenseAggregateExec {
    /// The aggregate it replaces: its expressions, schema and properties.
    inner: Arc<AggregateExec>,
}

impl DisplayAs for DenseAggregateExec {
    fn fmt_as(&self, format: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "Dense")?;
        self.inner.fmt_as(format, f)
    }
}

#[allow(deprecated)]
impl ExecutionPlan for DenseAggregateExec {
    fn name(&self) -> &str {
        "DenseAggregateExec"
    }

    crate::aggregate_stand_in_methods!();

    fn execute(
        &self,
        partition: usize,
        context: Arc<TaskContext>,
    ) -> Result<SendableRecordBatchStream> {
        let input = self.inner.input().execute(partition, context.clone())?;
        let state = DenseState::try_new(&self.inner, partition, &context)?;
        let batch_size = state.batch_size;
        let schema = self.inner.schema();
        let batches = stream::try_unfold(Some((state, input)), next_output)
            .map_ok(move |batch| {
                let slices = (0..batch.num_rows())
                    .step_by(batch_size)
                    .map(
                        |offset| Ok(batch.slice(offset, batch_size.min(batch.num_rows() - offset))),
                    )
                    .collect::<Vec<_>>();
                stream::iter(slices)
            })
            .try_flatten();
        Ok(Box::pin(RecordBatchStreamAdapter::new(schema, batches)))
    }
}

/// Whether an aggregate in `mode` merges partial states.
fn merges(mode: &AggregateMode) -> bool {
    matches!(mode, AggregateMode::Final | AggregateMode::FinalPartitioned)
}

/// A running partition: its state and input, `None` once it has ended.
type Running = Option<(DenseState, SendableRecordBatchStream)>;

/// The partition's next output: groups emitted early, or all of them at
/// the end of its input.
async fn next_output(running: Running) -> Result<Option<(RecordBatch, Running)>> {
    let Some((mut state, mut input)) = running else {
        return Ok(None);
    };
    while let Some(batch) = input.next().await {
        if let Some(early) = state.update(&batch?)? {
            return Ok(Some((early, Some((state, input)))));
        }
    }
    Ok(Some((state.emit()?, None)))
}

/// One partition's groups and accumulators.
struct DenseState {
    group_exprs: Vec<Arc<dyn PhysicalExpr>>,
    group_types: Vec<DataType>,
    columns: Vec<ColumnIds>,
    groups: GroupIds,
    /// Per aggregate: its accumulator, argument expressions and filter.
    aggregates: Vec<DenseAggregate>,
    schema: SchemaRef,
    /// Whether the inputs are partial states to merge (a final aggregate),
    /// not rows.
    merging: bool,
    reservation: MemoryReservation,
    /// Fewest groups handed on early.
    batch_size: usize,
    /// Per batch: one column's ids, and each row's group.
    scratch_ids: Vec<u32>,
    scratch_indices: Vec<usize>,
}

struct DenseAggregate {
    accumulator: Box<dyn GroupsAccumulator>,
    arguments: Vec<Arc<dyn PhysicalExpr>>,
    /// Per argument that is a constant (`count(1)`): its array at the
    /// length of the longest batch so far, sliced for each batch no
    /// longer rather than filled again (scans cut batches of every
    /// length).
    constants: Vec<Option<Option<ArrayRef>>>,
    filter: Option<Arc<dyn PhysicalExpr>>,
}

impl DenseState {
    fn try_new(aggregate: &AggregateExec, partition: usize, context: &TaskContext) -> Result<Self> {
        let input_schema = aggregate.input().schema();
        let group_exprs: Vec<_> = aggregate
            .group_expr()
            .expr()
            .iter()
            .map(|(expr, _)| expr.clone())
            .collect();
        let group_types = group_exprs
            .iter()
            .map(|expr| expr.data_type(&input_schema))
            .collect::<Result<Vec<_>>>()?;
        let merging = merges(aggregate.mode());
        // Raw arguments, or (when merging) the columns of each aggregate's
        // partial state, after the group columns.
        let inputs =
            aggregate_expressions(aggregate.aggr_expr(), aggregate.mode(), group_exprs.len())?;
        let aggregates = aggregate
            .aggr_expr()
            .iter()
            .zip(aggregate.filter_expr())
            .zip(inputs)
            .map(|((expr, filter), arguments)| {
                let constants = arguments
                    .iter()
                    .map(|argument| argument.downcast_ref::<Literal>().map(|_| None))
                    .collect();
                Ok(DenseAggregate {
                    accumulator: expr.create_groups_accumulator()?,
                    arguments,
                    constants,
                    // Filters apply where rows are read, not to states.
                    filter: filter.clone().filter(|_| !merging),
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let reservation = MemoryConsumer::new(format!("DenseAggregateExec[{partition}]"))
            .register(context.memory_pool());
        Ok(Self {
            columns: group_types.iter().map(ColumnIds::new).collect(),
            groups: GroupIds::new(group_exprs.len()),
            group_exprs,
            group_types,
            aggregates,
            schema: aggregate.schema(),
            merging,
            reservation,
            batch_size: context.session_config().batch_size().max(1),
            scratch_ids: Vec::new(),
            scratch_indices: Vec::new(),
        })
    }

    /// Takes `batch` in; when what it holds no longer fits the query's
    /// memory, a partial aggregate gives the groups so far (as DataFusion's partial aggregate
    /// does: the aggregator merges partial states however they are cut)
    /// and starts again empty.
    fn update(&mut self, batch: &RecordBatch) -> Result<Option<RecordBatch>> {
        let rows = batch.num_rows();
        if rows == 0 {
            return Ok(None);
        }
        self.scratch_indices.clear();
        self.scratch_indices.resize(rows, 0);
        for (column, expr) in self.group_exprs.iter().enumerate() {
            let values = expr.evaluate(batch)?.into_array(rows)?;
            self.columns[column].ids(&values, &mut self.scratch_ids)?;
            self.groups
                .fold(column, &mut self.scratch_indices, &self.scratch_ids);
        }
        let total = self.groups.len();
        for aggregate in &mut self.aggregates {
            let arguments = aggregate
                .arguments
                .iter()
                .zip(aggregate.constants.iter_mut())
                .map(|(expr, constant)| match constant {
                    Some(Some(kept)) if kept.len() >= rows => Ok(kept.slice(0, rows)),
                    Some(kept) => {
                        let array = expr.evaluate(batch)?.into_array(rows)?;
                        *kept = Some(array.clone());
                        Ok(array)
                    }
                    None => expr.evaluate(batch)?.into_array(rows),
                })
                .collect::<Result<Vec<ArrayRef>>>()?;
            let filter = match &aggregate.filter {
                Some(filter) => Some(filter.evaluate(batch)?.into_array(rows)?),
                None => None,
            };
            let filter = match &filter {
                Some(filter) => match filter.as_boolean_opt() {
                    Some(filter) => Some(filter),
                    None => return internal_err!("an aggregate filter that is not boolean"),
                },
                None => None,
            };
            match self.merging {
                true => {
                    aggregate
                        .accumulator
                        .merge_batch(&arguments, &self.scratch_indices, total)?
                }
                false => aggregate.accumulator.update_batch(
                    &arguments,
                    &self.scratch_indices,
                    filter,
                    total,
                )?,
            }
        }
        let held = self.held();
        match self.reservation.try_resize(held) {
            Ok(()) => return Ok(None),
            // A final aggregate cannot hand on part of its groups (nor can
            // DataFusion's, with nothing to spill to).
            Err(error) if self.merging => return Err(error),
            // Fewer groups than a batch: too little to hand on (as
            // DataFusion's partial aggregate, it reports the limit).
            Err(error) if self.groups.len() < self.batch_size => return Err(error),
            Err(_) => {}
        }
        let early = self.emit()?;
        self.reservation.try_resize(self.held())?;
        Ok(Some(early))
    }

    fn held(&self) -> usize {
        self.groups.size()
            + self.columns.iter().map(ColumnIds::size).sum::<usize>()
            + self
                .aggregates
                .iter()
                .map(|aggregate| aggregate.accumulator.size())
                .sum::<usize>()
    }

    /// Every group so far, as the aggregate's output (partial states, or
    /// final values when merging); leaves no group behind.
    fn emit(&mut self) -> Result<RecordBatch> {
        if self.groups.is_empty() {
            // As DataFusion's: accumulators without groups are not asked.
            return Ok(RecordBatch::new_empty(self.schema.clone()));
        }
        let mut columns = Vec::with_capacity(self.schema.fields().len());
        for ((ids, column), data_type) in self
            .groups
            .column_ids()
            .iter()
            .zip(&self.columns)
            .zip(&self.group_types)
        {
            columns.push(column.values(ids, data_type)?);
        }
        for aggregate in &mut self.aggregates {
            match self.merging {
                true => columns.push(aggregate.accumulator.evaluate(EmitTo::All)?),
                false => columns.extend(aggregate.accumulator.state(EmitTo::All)?),
            }
        }
        self.groups = GroupIds::new(self.group_types.len());
        self.columns = self.group_types.iter().map(ColumnIds::new).collect();
        Ok(RecordBatch::try_new(self.schema.clone(), columns)?)
    }
}

#[cfg(test)]
#[path = "dense_aggregate_tests.rs"]
mod tests;
