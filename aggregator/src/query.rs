//! Running one SQL request: options, planning with DataFusion, fan-out,
//! completeness.
//!
//! A request may hold `SET` statements before its one query; `SET
//! shoal.deadline = '2s'` and `SET shoal.min_completeness = 0.9` apply to that
//! query (HTTP and Flight SQL calls are stateless, so a `SET` lasts for the
//! request it is in; the `x-shoal-deadline` and `x-shoal-min-completeness`
//! headers do the same per call). Other `SET`s are DataFusion's own options.
//!
//! Beside it: [`crate::query_options`] (what a request asks besides the
//! SQL, and the engine's limits), [`crate::query_statements`] (parsing,
//! checking and planning the request's statements) and
//! [`crate::query_results`] (collecting the answer).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use datafusion::catalog::TableFunctionImpl;
use datafusion::datasource::TableProvider;
use datafusion::execution::{SessionState, TaskContext};
use datafusion::logical_expr::LogicalPlan;
use datafusion::prelude::SessionContext;
use tracing::{Instrument, info, info_span};

use crate::answers_so_far::{Intermediates, alongside};
use crate::auth::{Caller, Role};
use crate::client_types::ColumnSource;
use crate::completeness::{Completeness, QueryContext};
use crate::error::{AggregatorError, Result};
use crate::fleet::{Fleet, TableView};
use crate::placeholders;
use crate::plan_cache::{CachedPlan, PlanCache, PlanKey, reusable};
use crate::remote_table::RemoteTable;
use crate::session_template::SessionTemplate;
use crate::statement_policy::DropTable;
use crate::table_pattern::{self, TablesMatching};
use crate::time_completeness::QueryReach;
use shoal_contract::sql_guard::check_operator_count;
use shoal_contract::value_types::check_plan_types;

use crate::query_options::check_min_completeness;
pub use crate::query_options::{
    DEFAULT_MAX_CONCURRENT_QUERIES, MAX_DEADLINE, QUEUE_WAIT, QueryLimits, QueryOptions,
    ShoalOptions, parse_deadline, parse_min_completeness,
};
pub use crate::query_results::{LOCAL_WORK_GRACE, MAX_RESULT_BYTES};
pub(crate) use crate::query_results::{collect_within, deadline_passed, hydrate_dictionaries};
use crate::query_statements::plan_statements;
pub use crate::query_statements::{column_sources, drop_table_schema, dropped_table};

/// The answer to one request.
#[derive(Debug, Clone)]
pub struct QueryOutcome {
    pub query_id: String,
    pub schema: SchemaRef,
    pub batches: Vec<RecordBatch>,
    pub completeness: Completeness,
    pub elapsed: Duration,
    /// The table each result column comes from, where it is one column of
    /// one table (for the Flight SQL column metadata).
    pub sources: Vec<ColumnSource>,
    /// The children and tables the query reached, for
    /// [`crate::time_completeness`] (`None` for a `DROP TABLE`).
    pub reach: Option<QueryReach>,
    /// Whether the query's plan was kept from an earlier one (see
    /// [`crate::plan_cache`]).
    pub plan_reused: bool,
}

/// Plans and runs SQL over the fleet.
#[derive(Debug, Clone)]
pub struct QueryEngine {
    fleet: Arc<Fleet>,
    default_deadline: Duration,
    target_partitions: usize,
    limits: QueryLimits,
    template: Arc<SessionTemplate>,
    running: Arc<tokio::sync::Semaphore>,
    waiting: Arc<std::sync::atomic::AtomicUsize>,
    plans: Arc<PlanCache>,
}

impl QueryEngine {
    pub fn new(fleet: Arc<Fleet>, default_deadline: Duration) -> Result<Self> {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        // At least two, so DataFusion plans partial and final aggregates.
        let target_partitions = cores.max(2);
        let limits = QueryLimits::default();
        let template = SessionTemplate::new(fleet.clone(), target_partitions, limits.memory_bytes)?;
        Ok(Self {
            fleet,
            default_deadline,
            target_partitions,
            limits,
            template: Arc::new(template),
            running: Arc::new(tokio::sync::Semaphore::new(DEFAULT_MAX_CONCURRENT_QUERIES)),
            waiting: Arc::default(),
            plans: Arc::default(),
        })
    }

    /// The same engine with other limits.
    pub fn with_limits(mut self, limits: QueryLimits) -> Result<Self> {
        let limits = QueryLimits {
            max_concurrent: limits.max_concurrent.max(1),
            ..limits
        };
        self.running = Arc::new(tokio::sync::Semaphore::new(limits.max_concurrent));
        if limits.memory_bytes != self.limits.memory_bytes {
            self.template = Arc::new(SessionTemplate::new(
                self.fleet.clone(),
                self.target_partitions,
                limits.memory_bytes,
            )?);
        }
        self.limits = limits;
        Ok(self)
    }

    /// A turn to run a query: at once, after a short wait in the queue, or
    /// [`AggregatorError::Busy`].
    async fn admit(&self) -> Result<tokio::sync::OwnedSemaphorePermit> {
        use std::sync::atomic::Ordering::SeqCst;
        if let Ok(permit) = self.running.clone().try_acquire_owned() {
            return Ok(permit);
        }
        let busy = || {
            AggregatorError::Busy(format!(
                "{} queries are running and as many waiting (--max-concurrent-queries); retry shortly",
                self.limits.max_concurrent
            ))
        };
        // Counted out when this call ends, also when its caller goes away
        // while it waits (the future is dropped).
        struct InQueue<'a>(&'a std::sync::atomic::AtomicUsize);
        impl Drop for InQueue<'_> {
            fn drop(&mut self) {
                self.0.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
            }
        }
        let before = self.waiting.fetch_add(1, SeqCst);
        let _in_queue = InQueue(&self.waiting);
        if before >= self.limits.max_concurrent {
            return Err(busy());
        }
        let waited = tokio::time::timeout(QUEUE_WAIT, self.running.clone().acquire_owned()).await;
        match waited {
            Ok(Ok(permit)) => Ok(permit),
            _ => Err(busy()),
        }
    }

    /// The fleet queries run on.
    pub fn fleet(&self) -> &Arc<Fleet> {
        &self.fleet
    }

    /// A DataFusion session over the fleet's tables that `caller` may read,
    /// for one query. Its plans run in [`Self::task`]: a task context taken
    /// from the session itself has a memory pool that holds nothing.
    pub fn session(&self, query: Arc<QueryContext>, caller: &Caller) -> Result<SessionState> {
        self.session_over(query, caller, &self.fleet.tables())
    }

    /// A session for a parent's fragment: no tables, which the fragment
    /// names itself (see [`SessionTemplate::bare`]).
    pub fn fragment_session(&self, query: Arc<QueryContext>) -> SessionState {
        self.template.bare(query)
    }

    /// The task context a plan of `state` runs in, with the query's own
    /// memory pool (see [`crate::session_template`]).
    pub fn task(&self, state: &SessionState) -> Result<Arc<TaskContext>> {
        self.template.task(state)
    }

    /// [`Self::session`] over a given snapshot of the fleet's tables (the
    /// one a kept plan's key is made from).
    fn session_over(
        &self,
        query: Arc<QueryContext>,
        caller: &Caller,
        tables: &BTreeMap<String, TableView>,
    ) -> Result<SessionState> {
        let tables = tables
            .iter()
            .filter(|(name, _)| caller.sees_table(name))
            .map(|(name, view)| {
                let table: Arc<dyn TableProvider> = Arc::new(RemoteTable::new(name, view));
                (name.clone(), table)
            })
            .collect();
        let matching: Arc<dyn TableFunctionImpl> =
            Arc::new(TablesMatching::new(self.fleet.clone(), caller.clone()));
        self.template
            .session(query, tables, vec![(table_pattern::FUNCTION, matching)])
    }

    /// Plans the request's query (after its `SET`s) without running it.
    pub async fn plan(&self, sql: &str, caller: &Caller) -> Result<LogicalPlan> {
        // One snapshot of the tables for the session and the plan's key.
        let tables = self.fleet.tables();
        let key = PlanKey::new(sql, caller, &tables);
        // A kept plan needs no session (preparing what was asked before).
        if let Some(kept) = self.plans.get(&key) {
            return Ok(kept.logical.clone());
        }
        let query = Arc::new(QueryContext::new(String::new(), Instant::now()));
        let context = SessionContext::new_with_state(self.session_over(query, caller, &tables)?);
        Ok(
            match self.planned(&context, key, &tables, caller, true).await? {
                Planned::Kept(kept, _) => kept.logical.clone(),
                Planned::Fresh { plan, .. } => plan,
            },
        )
    }

    /// Plans kept for queries asked again (see [`crate::plan_cache`]).
    pub fn plans(&self) -> &PlanCache {
        &self.plans
    }

    /// The plan of `sql`, made now (callers look for a kept one first) and
    /// kept when it may be reused. With `reuse` false (a query with
    /// parameters to bind) it is not kept.
    async fn planned(
        &self,
        context: &SessionContext,
        key: PlanKey,
        tables: &BTreeMap<String, TableView>,
        caller: &Caller,
        reuse: bool,
    ) -> Result<Planned> {
        let sql = key.sql();
        let (options, plan, statements) =
            plan_statements(context, sql, caller, &self.fleet).await?;
        let fleet_table = |name: &str| tables.contains_key(name) && caller.sees_table(name);
        if !reuse || statements > 1 || !key.small() || !reusable(&plan, &fleet_table) {
            return Ok(Planned::Fresh { options, plan });
        }
        let optimized = context.state().optimize(&plan)?;
        check_plan_types(&optimized).map_err(AggregatorError::Query)?;
        let sources = column_sources(&plan, &self.fleet, caller);
        let kept = CachedPlan {
            logical: plan,
            optimized,
            options,
            sources,
        };
        Ok(Planned::Kept(self.plans.insert(key, kept), false))
    }

    /// Runs `sql` to completion.
    pub async fn run(&self, sql: &str, options: QueryOptions) -> Result<QueryOutcome> {
        // Before anything parses it (the DROP check below does).
        check_operator_count(sql).map_err(AggregatorError::Query)?;
        let _turn = self.admit().await?;
        let query_id = format!("{:016x}", rand::random::<u64>());
        if let Some(dropped) = dropped_table(sql) {
            let caller = options.caller.clone().unwrap_or_else(Caller::nobody);
            return self.drop_table(&dropped, &caller, query_id).await;
        }
        let span = info_span!("query", query_id = %query_id);
        let outcome = self
            .run_in_span(sql, options.clone(), query_id.clone())
            .instrument(span.clone())
            .await;
        // A table created since the last status poll (every second) is not
        // in the catalog yet: ask the children once more before saying so.
        match outcome {
            Err(AggregatorError::Query(message)) if message.contains("not found") => {
                self.fleet.refresh().await;
                self.run_in_span(sql, options, query_id)
                    .instrument(span)
                    .await
            }
            other => other,
        }
    }

    /// `DROP TABLE t`: an admin's way to delete a table on every leaf.
    async fn drop_table(
        &self,
        statement: &DropTable,
        caller: &Caller,
        query_id: String,
    ) -> Result<QueryOutcome> {
        let started = Instant::now();
        let table = statement.table.as_str();
        caller.require_table(Role::Admin, table)?;
        let dropped = match self.fleet.table(table) {
            Some(_) => self.fleet.drop_table(table).await?,
            None if statement.if_exists => Default::default(),
            None => return Err(AggregatorError::Query(format!("table {table:?} not found"))),
        };
        info!(
            table,
            caller = caller.name(),
            rows = dropped.rows_dropped,
            "table dropped"
        );
        let schema = drop_table_schema();
        let batch = RecordBatch::try_new(
            schema.clone(),
            vec![
                Arc::new(arrow::array::StringArray::from(vec![table])),
                Arc::new(arrow::array::UInt64Array::from(vec![dropped.leaves])),
                Arc::new(arrow::array::UInt64Array::from(vec![dropped.rows_dropped])),
            ],
        )
        .map_err(|e| AggregatorError::Internal(e.to_string()))?;
        Ok(QueryOutcome {
            query_id,
            schema,
            batches: vec![batch],
            completeness: Completeness::from_counts(&shoal_proto::FragmentCompleteness {
                leaves_queried: dropped.leaves,
                leaves_answered: dropped.leaves,
                rows_queried: dropped.rows_dropped,
                rows_answered: dropped.rows_dropped,
            }),
            elapsed: started.elapsed(),
            sources: Vec::new(),
            reach: None,
            plan_reused: false,
        })
    }

    async fn run_in_span(
        &self,
        sql: &str,
        options: QueryOptions,
        query_id: String,
    ) -> Result<QueryOutcome> {
        let started = Instant::now();
        let query = Arc::new(
            QueryContext::new(
                query_id.clone(),
                started + options.deadline.unwrap_or(self.default_deadline),
            )
            .keeping_answers(options.progress.is_some()),
        );
        let caller = options.caller.clone().unwrap_or_else(Caller::nobody);
        caller.require(Role::Read)?;
        let tables = self.fleet.tables();
        let key = PlanKey::new(sql, &caller, &tables);
        let state = self.session_over(query.clone(), &caller, &tables)?;
        let reuse = options.parameters.is_empty();
        // A kept plan is run from the session as made; planning anew goes
        // through a context (it applies the request's `SET`s).
        let (planned, session) = match self.plans.get(&key).filter(|_| reuse) {
            Some(kept) => (Planned::Kept(kept, true), Session::Made(Box::new(state))),
            None => {
                let context = SessionContext::new_with_state(state);
                let planned = self.planned(&context, key, &tables, &caller, reuse).await?;
                (planned, Session::Planned(context))
            }
        };
        let plan_reused = matches!(planned, Planned::Kept(_, true));
        let (shoal_options, sources, physical, task) = match planned {
            Planned::Kept(kept, _) => {
                let mut state = session.state();
                state.mark_start_execution();
                let physical = state
                    .query_planner()
                    .create_physical_plan(&kept.optimized, &state)
                    .await?;
                let task = self.task(&state)?;
                (kept.options.clone(), kept.sources.clone(), physical, task)
            }
            Planned::Fresh { options: set, plan } => {
                let context = session.context();
                let sources = column_sources(&plan, &self.fleet, &caller);
                let plan = placeholders::bind(plan, &options.parameters)
                    .map_err(AggregatorError::Query)?;
                let frame = context.execute_logical_plan(plan).await?;
                // What `create_physical_plan` does, with the constants the
                // optimizer folded (and bound parameters) checked between.
                let (state, plan) = frame.into_parts();
                let optimized = state.optimize(&plan)?;
                check_plan_types(&optimized).map_err(AggregatorError::Query)?;
                let physical = state
                    .query_planner()
                    .create_physical_plan(&optimized, &state)
                    .await?;
                let task = self.task(&context.state_ref().read())?;
                (set, sources, physical, task)
            }
        };
        if !shoal_options.deadline.is_empty() {
            query.set_deadline(started + parse_deadline(&shoal_options.deadline)?);
        }
        let min_completeness = options
            .min_completeness
            .unwrap_or(shoal_options.min_completeness);
        check_min_completeness(min_completeness)?;
        // The deadline bounds waiting for children; work done here alone
        // (a `generate_series`, a final merge) gets [`LOCAL_WORK_GRACE`] more.
        let cut_off = query.deadline() + LOCAL_WORK_GRACE;
        let intermediates = options.progress.clone().map(|sink| Intermediates {
            sink,
            plan: physical.clone(),
            task: task.clone(),
            query: query.clone(),
            fleet: self.fleet.clone(),
            memory_bytes: self.limits.memory_bytes,
            min_completeness,
            started,
            cut_off,
        });
        let work = collect_within(physical.clone(), task, cut_off);
        let batches = tokio::time::timeout_at(cut_off.into(), alongside(work, intermediates))
            .await
            .map_err(|_| deadline_passed(started, cut_off))??;
        let (schema, batches) = hydrate_dictionaries(&physical.schema(), batches)?;
        let completeness = query.collector.summary();
        let elapsed = started.elapsed();
        info!(
            leaves_queried = completeness.leaves_queried,
            leaves_answered = completeness.leaves_answered,
            elapsed_ms = elapsed.as_millis() as u64,
            "query answered"
        );
        if completeness.leaves_queried > 0 && completeness.leaves_answered == 0 {
            // Every leaf refused the query itself: it is the query's fault.
            if let Some(refusal) = query.collector.refused_by_all() {
                return Err(AggregatorError::Query(refusal));
            }
            return Err(AggregatorError::NoLeafAnswered(
                query.collector.failures().join("; "),
            ));
        }
        if completeness.ratio < min_completeness {
            return Err(AggregatorError::BelowMinimumCompleteness {
                reached: completeness.ratio,
                minimum: min_completeness,
                answered: completeness.leaves_answered,
                queried: completeness.leaves_queried,
                rows_ratio: completeness.rows_ratio,
            });
        }
        Ok(QueryOutcome {
            query_id,
            schema,
            batches,
            completeness,
            elapsed,
            sources,
            reach: Some(QueryReach::new(self.fleet.clone(), &query.collector)),
            plan_reused,
        })
    }
}

/// A query's session: as made from the template, or the context a new plan
/// was made in.
enum Session {
    Made(Box<SessionState>),
    Planned(SessionContext),
}

impl Session {
    fn state(self) -> SessionState {
        match self {
            Session::Made(state) => *state,
            Session::Planned(context) => context.state(),
        }
    }

    fn context(self) -> SessionContext {
        match self {
            Session::Made(state) => SessionContext::new_with_state(*state),
            Session::Planned(context) => context,
        }
    }
}

/// A query's plan: kept (optimized, reusable; `true` when an earlier query
/// made it) or made for this run only.
enum Planned {
    Kept(Arc<CachedPlan>, bool),
    Fresh {
        options: ShoalOptions,
        plan: LogicalPlan,
    },
}
