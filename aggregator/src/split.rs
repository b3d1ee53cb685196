//! The physical optimizer rule that cuts a plan between aggregator and
//! leaves.
//!
//! ```text
//!  before                                   after
//!  ProjectionExec                           ProjectionExec
//!    AggregateExec(FinalPartitioned)          AggregateExec(FinalPartitioned)
//!      RepartitionExec(Hash)                    RepartitionExec(Hash)
//!        AggregateExec(Partial)      ──►          FanOutExec ─ each leaf runs:
//!          FilterExec                                 AggregateExec(Partial)
//!            ShoalTableScan                             FilterExec
//!                                                         (its block scan)
//! ```
//!
//! Walking down from the root, the first subtree made only of operators a
//! leaf can run on its own share of the rows (scans, filters, projections,
//! partial aggregates, sorts and top-k, local limits, round-robin
//! repartitions) becomes one [`FanOutExec`]. Everything above it (final
//! aggregates, merges, global limits, joins) stays on the aggregator, so only
//! aggregate states and top-k rows cross the network.

use std::sync::Arc;

use datafusion::common::config::ConfigOptions;
use datafusion::common::tree_node::{TreeNode, TreeNodeRecursion};
use datafusion::error::Result as DfResult;
use datafusion::physical_expr::scalar_subquery::ScalarSubqueryExpr;
use datafusion::physical_optimizer::PhysicalOptimizerRule;
use datafusion::physical_plan::aggregates::{AggregateExec, AggregateMode};
use datafusion::physical_plan::filter::FilterExec;
use datafusion::physical_plan::limit::LocalLimitExec;
use datafusion::physical_plan::projection::ProjectionExec;
use datafusion::physical_plan::repartition::RepartitionExec;
use datafusion::physical_plan::sorts::sort::SortExec;
use datafusion::physical_plan::{ExecutionPlan, ExecutionPlanProperties, Partitioning};
use shoal_contract::fragment::TableScanExec;
use shoal_contract::fragment::merge_partitions;

use crate::fanout::FanOutExec;
use crate::fleet::Fleet;
use crate::membership::Snapshot;

/// Cuts plans for the leaves of `fleet`; see the module docs.
#[derive(Debug)]
pub struct SplitForLeaves {
    fleet: Arc<Fleet>,
}

impl SplitForLeaves {
    pub fn new(fleet: Arc<Fleet>) -> Self {
        Self { fleet }
    }

    /// Cuts `plan`, every fan-out of it over the same `children` (a join
    /// or union planned while a member joins sees one list throughout).
    fn cut(
        &self,
        plan: Arc<dyn ExecutionPlan>,
        children: &Snapshot,
    ) -> DfResult<Arc<dyn ExecutionPlan>> {
        if runs_on_leaves(&plan) {
            let fan_out: Arc<dyn ExecutionPlan> =
                Arc::new(FanOutExec::try_new(plan.clone(), children.clone())?);
            // The operator above expected one partition (a sort that merged
            // its input, say): merge the children's answers back into one.
            if plan.output_partitioning().partition_count() == 1 {
                return Ok(merge_partitions(fan_out, plan.fetch()));
            }
            return Ok(fan_out);
        }
        let inputs: Vec<Arc<dyn ExecutionPlan>> = plan.children().into_iter().cloned().collect();
        if inputs.is_empty() {
            return Ok(plan);
        }
        let cut_children = inputs
            .into_iter()
            .map(|input| self.cut(input, children))
            .collect::<DfResult<Vec<_>>>()?;
        #[allow(deprecated)]
        plan.with_new_children(cut_children)
    }
}

impl PhysicalOptimizerRule for SplitForLeaves {
    fn optimize(
        &self,
        plan: Arc<dyn ExecutionPlan>,
        _config: &ConfigOptions,
    ) -> DfResult<Arc<dyn ExecutionPlan>> {
        self.cut(plan, &self.fleet.children())
    }

    fn name(&self) -> &str {
        "shoal_split_for_leaves"
    }

    fn schema_check(&self) -> bool {
        true
    }
}

/// Whether a leaf can run `plan` over its own rows, with every child.
pub fn runs_on_leaves(plan: &Arc<dyn ExecutionPlan>) -> bool {
    if plan.downcast_ref::<TableScanExec>().is_some() {
        return true;
    }
    let operator_runs_locally = if let Some(aggregate) = plan.downcast_ref::<AggregateExec>() {
        *aggregate.mode() == AggregateMode::Partial
    } else if let Some(repartition) = plan.downcast_ref::<RepartitionExec>() {
        matches!(repartition.partitioning(), Partitioning::RoundRobinBatch(_))
    } else {
        plan.downcast_ref::<FilterExec>().is_some()
            || plan.downcast_ref::<ProjectionExec>().is_some()
            || plan.downcast_ref::<SortExec>().is_some()
            || plan.downcast_ref::<LocalLimitExec>().is_some()
    };
    let children = plan.children();
    operator_runs_locally
        && !reads_scalar_subquery(plan)
        && !children.is_empty()
        && children.iter().all(|c| runs_on_leaves(c))
}

/// Whether an expression of `plan` (this node's own) reads the result of an
/// uncorrelated scalar subquery (`WHERE x > (SELECT avg(x) ...)`). The
/// result lives in the aggregator's `ScalarSubqueryExec` above, so such a
/// node stays on the aggregator; the subtree below it still goes to the
/// leaves (a leaf cannot even decode the expression without it).
fn reads_scalar_subquery(plan: &Arc<dyn ExecutionPlan>) -> bool {
    let mut found = false;
    // Neither closure fails: the walk's result says nothing more.
    let _ = plan.apply_expressions(&mut |expression| {
        expression.apply(|node| {
            if node.downcast_ref::<ScalarSubqueryExpr>().is_some() {
                found = true;
                return Ok(TreeNodeRecursion::Stop);
            }
            Ok(TreeNodeRecursion::Continue)
        })
    });
    found
}
