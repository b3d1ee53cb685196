//! Executing a [`ScanRequest`] on this leaf with DataFusion.
//!
//! The request becomes a DataFusion plan over [`LeafTableProvider`]: time
//! bounds and the SQL filter (parsed by DataFusion, never by hand) are pushed
//! into the provider for pruning; exact time bounds the provider applies to
//! rows itself, everything else DataFusion applies again above it;
//! projection and limit follow. Plan fragments from an aggregator ([`execute_fragment`])
//! run over the same provider.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use datafusion::common::ScalarValue;
use datafusion::common::tree_node::TreeNode;
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::prelude::{SessionConfig, SessionContext, col, ident, lit};
use shoal_proto::{FragmentCompleteness, FragmentRequest, ScanRequest};

use crate::panic_guard::{catching, catching_stream};

use crate::fragment::FragmentCodec;
pub use crate::fragment::merge_partitions;
use crate::store_resolver::StoreResolver;

use crate::column_type::TIME_COLUMN;
use crate::dense_aggregate::dense_aggregates;
use crate::dictionary_groups::views_for_dictionary_groups;
use crate::error::{LeafError, Result};
use crate::fragment_decode::decode_fragment;
use crate::fragment_policy::admit_fragment;
use crate::functions::register_functions;
use crate::provider::LeafTableProvider;
use crate::query_memory::with_memory_limit;
use crate::sql_guard::check_operator_count;
use crate::store::Store;
use shoal_contract::row_count::row_counts;
use shoal_contract::value_types::{check_expr_types, check_plan_types};

/// Plans `request` against the current contents of its table and starts it.
pub async fn execute_scan(
    store: &Store,
    request: &ScanRequest,
) -> Result<SendableRecordBatchStream> {
    let table = store.table(&request.table, false)?;
    let provider = Arc::new(LeafTableProvider::new(table.snapshot()));
    let context = SessionContext::new_with_config(scan_config());
    register_functions(&context);
    let mut frame = context.read_table(provider)?;
    let timestamp = |micros| {
        lit(ScalarValue::TimestampMicrosecond(
            Some(micros),
            Some("UTC".into()),
        ))
    };
    if let Some(min) = request.min_time_micros {
        frame = frame.filter(col(TIME_COLUMN).gt_eq(timestamp(min)))?;
    }
    if let Some(max) = request.max_time_micros {
        frame = frame.filter(col(TIME_COLUMN).lt(timestamp(max)))?;
    }
    if !request.filter.trim().is_empty() {
        check_operator_count(&request.filter).map_err(LeafError::BadRequest)?;
        let filter = frame.parse_sql_expr(&request.filter)?;
        // A filter is an expression over the table's columns: a subquery
        // could reach table functions (`generate_series`) and run unbounded.
        let has_subquery = filter.exists(|e| {
            Ok(matches!(
                e,
                datafusion::logical_expr::Expr::ScalarSubquery(_)
                    | datafusion::logical_expr::Expr::Exists(_)
                    | datafusion::logical_expr::Expr::InSubquery(_)
            ))
        })?;
        check_expr_types(&filter).map_err(LeafError::BadRequest)?;
        if has_subquery {
            return Err(LeafError::BadRequest(format!(
                "a scan filter may not hold a subquery: {}",
                request.filter
            )));
        }
        frame = frame.filter(filter)?;
    }
    if !request.columns.is_empty() {
        frame = frame.select(request.columns.iter().map(ident).collect::<Vec<_>>())?;
    }
    if let Some(limit) = request.limit {
        frame = frame.limit(0, Some(limit as usize))?;
    }
    // What `execute_stream` does, with the constants the optimizer folded
    // checked (a `concat(service, repeat('x', 10000000))` holds 10 MB).
    let (state, plan) = frame.into_parts();
    let optimized = state.optimize(&plan)?;
    check_plan_types(&optimized).map_err(LeafError::BadRequest)?;
    let physical = state
        .query_planner()
        .create_physical_plan(&optimized, &state)
        .await?;
    Ok(datafusion::physical_plan::execute_stream(
        physical,
        state.task_ctx(),
    )?)
}

/// DataFusion settings for leaf-local execution.
pub fn scan_config() -> SessionConfig {
    SessionConfig::new()
        .with_target_partitions(std::thread::available_parallelism().map_or(2, |n| n.get()))
        .with_information_schema(false)
}

/// The context every fragment is decoded and run in. Made once: building a
/// session registers every built-in function (about 100 µs, per leaf per
/// query), and nothing in it differs between fragments.
fn fragment_task_context() -> Arc<TaskContext> {
    static TASK: OnceLock<Arc<TaskContext>> = OnceLock::new();
    TASK.get_or_init(|| {
        let context = SessionContext::new_with_config(scan_config());
        register_functions(&context);
        context.task_ctx()
    })
    .clone()
}

/// A decoded plan fragment, started, with what it covers.
pub struct RunningFragment {
    pub stream: SendableRecordBatchStream,
    /// Rows this leaf holds of the tables the fragment scans.
    pub rows: u64,
    /// Rows of those tables lost to corruption.
    pub rows_lost: u64,
    /// Rows of bad blocks the scans skipped (final once the stream ends).
    pub skipped_rows: Arc<std::sync::atomic::AtomicU64>,
}

impl RunningFragment {
    /// What the answer covers; call it when the stream has ended.
    pub fn completeness(rows: u64, rows_lost: u64, skipped: u64) -> FragmentCompleteness {
        FragmentCompleteness {
            leaves_queried: 1,
            leaves_answered: 1,
            rows_queried: rows + rows_lost,
            rows_answered: rows.saturating_sub(skipped),
        }
    }
}

/// Decodes a fragment against this leaf's blocks and starts it, merging its
/// partitions into one stream (keeping any order the fragment produces).
/// The fragment gets a memory pool of `memory_bytes` and stops with an
/// error at its deadline (its scans read the clock: [`crate::yielding`]).
pub async fn execute_fragment(
    store: Arc<Store>,
    request: &FragmentRequest,
    memory_bytes: usize,
) -> Result<RunningFragment> {
    let node = admit_fragment(&request.plan).map_err(|e| LeafError::BadRequest(e.to_string()))?;
    wait_for_snapshot_time(request.as_of_micros).await?;
    let deadline = fragment_deadline(request.deadline_millis);
    let task = with_memory_limit(&fragment_task_context(), memory_bytes)?;
    let codec = FragmentCodec {
        resolver: StoreResolver {
            store: store.clone(),
            target_partitions: task.session_config().target_partitions(),
            deadline,
            scanned: Default::default(),
            skipped_rows: Default::default(),
            as_of: match request.as_of_micros {
                0 => crate::store::now_micros(),
                as_of => as_of,
            },
        },
    };
    let plan = catching::<_, LeafError>(|| {
        let plan = decode_fragment(&node, &task, &codec)?;
        Ok(views_for_dictionary_groups(dense_aggregates(row_counts(
            plan,
        )?)?)?)
    })?;
    let (rows, rows_lost) = codec.resolver.scanned_rows();
    let fetch = plan.fetch();
    let plan = merge_partitions(plan, fetch);
    let stream = catching::<_, LeafError>(|| Ok(plan.execute(0, task)?))?;
    Ok(RunningFragment {
        stream: catching_stream(stream),
        rows,
        rows_lost,
        skipped_rows: codec.resolver.skipped_rows.clone(),
    })
}

/// Snapshot times ahead of this leaf's clock by more than this are refused.
const MAX_SNAPSHOT_AHEAD: Duration = Duration::from_secs(1);

/// Waits until this leaf's clock reaches a fragment's snapshot time (its
/// aggregator's clock may run ahead): a handover step is refused here once
/// its time has come, so from then on every step at or before the snapshot
/// time is either made or never will be, and the blocks counted are the
/// ones the snapshot time says, whatever the skew between clocks.
async fn wait_for_snapshot_time(as_of: i64) -> Result<()> {
    let ahead = as_of.saturating_sub(crate::store::now_micros());
    if ahead <= 0 {
        return Ok(());
    }
    let ahead = Duration::from_micros(ahead as u64);
    if ahead > MAX_SNAPSHOT_AHEAD {
        return Err(LeafError::Unavailable(format!(
            "the query's snapshot time is {} ms ahead of this leaf's clock: are the members' clocks in sync?",
            ahead.as_millis()
        )));
    }
    tokio::time::sleep(ahead).await;
    Ok(())
}

/// When a fragment must be done: its aggregator stops waiting then.
fn fragment_deadline(deadline_millis: u64) -> std::time::Instant {
    let wait = Duration::from_millis(deadline_millis).min(MAX_FRAGMENT_WAIT);
    std::time::Instant::now() + wait
}

/// Longest a fragment may run, whatever its request says.
pub const MAX_FRAGMENT_WAIT: Duration = Duration::from_secs(3_600);
