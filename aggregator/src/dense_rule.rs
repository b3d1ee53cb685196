//! The aggregator's own aggregates made dense
//! ([`shoal_contract::dense_aggregate`]): the final aggregates that merge
//! the leaves' partial states, and any partial one the aggregator runs
//! itself (the outer aggregate of `count(DISTINCT ...)`). Runs after
//! [`crate::split::SplitForLeaves`], so what goes to the leaves is already
//! cut off (the leaves make their own partial aggregates dense).

use std::sync::Arc;

use datafusion::common::config::ConfigOptions;
use datafusion::error::Result;
use datafusion::physical_optimizer::PhysicalOptimizerRule;
use datafusion::physical_plan::ExecutionPlan;
use shoal_contract::dense_aggregate::dense_aggregates;

/// Puts dense aggregates in place of eligible ones in the aggregator's plan.
#[derive(Debug, Default)]
pub struct DenseAggregates;

impl PhysicalOptimizerRule for DenseAggregates {
    fn optimize(
        &self,
        plan: Arc<dyn ExecutionPlan>,
        _config: &ConfigOptions,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        dense_aggregates(plan)
    }

    fn name(&self) -> &str {
        "shoal_dense_aggregates"
    }

    fn schema_check(&self) -> bool {
        true
    }
}
