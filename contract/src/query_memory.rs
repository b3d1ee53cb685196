//! The memory one query may use, on a leaf (one fragment) or an aggregator
//! (its part of the plan): a DataFusion memory pool of its own, so a query
//! past its limit fails alone ("Resources exhausted") and no other query
//! is starved. Nothing spills to disk: Shoal's data and answers live in
//! memory, and a disk the operator did not plan for is no place for them.

use std::sync::Arc;

use datafusion::execution::TaskContext;
use datafusion::execution::disk_manager::{DiskManagerBuilder, DiskManagerMode};
use datafusion::execution::runtime_env::{RuntimeEnv, RuntimeEnvBuilder};

use crate::error::{ContractError, Result};

/// Default memory limit of one query: 1 GiB.
pub const DEFAULT_QUERY_MEMORY_BYTES: usize = 1024 * 1024 * 1024;

/// A runtime whose memory pool holds `bytes`.
pub fn query_runtime(bytes: usize) -> Result<Arc<RuntimeEnv>> {
    RuntimeEnvBuilder::new()
        .with_memory_limit(bytes, 1.0)
        .with_disk_manager_builder(
            DiskManagerBuilder::default().with_mode(DiskManagerMode::Disabled),
        )
        .build_arc()
        .map_err(|e| ContractError::Plan(format!("query runtime: {e}")))
}

/// `base` (functions and settings) with a memory pool of `bytes` of its own.
pub fn with_memory_limit(base: &TaskContext, bytes: usize) -> Result<Arc<TaskContext>> {
    Ok(Arc::new(TaskContext::new(
        base.task_id(),
        base.session_id(),
        base.session_config().clone(),
        base.scalar_functions().clone(),
        base.higher_order_functions().clone(),
        base.aggregate_functions().clone(),
        base.window_functions().clone(),
        query_runtime(bytes)?,
    )))
}
