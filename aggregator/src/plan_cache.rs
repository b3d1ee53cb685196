//! Plans of recent queries, so a query asked again (a dashboard refreshing,
//! a prepared statement executed after it was prepared) is not parsed,
//! planned and optimized again: only its physical plan is made anew (that
//! one holds the query's deadline, snapshot time and leaves).
//!
//! An entry is the optimized logical plan of one SQL text, for one caller
//! (what they may read shapes the plan) and one catalog: the key holds a
//! fingerprint of every table's name and columns, so a new table or
//! column plans afresh. Only plans that mean the same whenever they run
//! are kept: a single query statement (no `SET` before it), without
//! parameters, DDL, `EXPLAIN` or `DESCRIBE`, and whose every function is
//! immutable (the optimizer folds `now()` into a constant, so a plan with
//! it would keep answering for the time it was made), reading only the
//! fleet's tables (no table functions: their arguments are evaluated while
//! planning), from a text of at most [`MAX_KEPT_SQL_BYTES`]. At most
//! [`MAX_PLANS`] plans are kept, each for at most [`PLAN_TTL`].

use std::collections::{BTreeMap, HashMap};
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use datafusion::common::tree_node::{TreeNode, TreeNodeRecursion};
use datafusion::logical_expr::{Expr, LogicalPlan, Volatility};

use crate::auth::Caller;
use crate::client_types::ColumnSource;
use crate::fleet::TableView;
use crate::query::ShoalOptions;

/// Plans kept at most.
pub const MAX_PLANS: usize = 256;
/// How long a plan is kept after it was made.
pub const PLAN_TTL: Duration = Duration::from_secs(300);
/// Longest query text whose plan is kept (a long `IN` list plans afresh),
/// so the plans kept take little memory whatever clients send.
pub const MAX_KEPT_SQL_BYTES: usize = 16 * 1024;

/// What one query text planned to.
#[derive(Debug)]
pub struct CachedPlan {
    /// As planned, before optimization (what a prepared statement shows).
    pub logical: LogicalPlan,
    pub optimized: LogicalPlan,
    pub options: ShoalOptions,
    pub sources: Vec<ColumnSource>,
}

/// Which plan a query may reuse.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PlanKey {
    sql: String,
    caller: String,
    catalog: u64,
}

impl PlanKey {
    /// The key of `sql` asked by `caller` over `tables` (the snapshot its
    /// session is made from).
    pub fn new(sql: &str, caller: &Caller, tables: &BTreeMap<String, TableView>) -> Self {
        let mut hasher = DefaultHasher::new();
        for (name, view) in tables {
            if caller.sees_table(name) {
                name.hash(&mut hasher);
                for (column, column_type) in &view.columns {
                    column.hash(&mut hasher);
                    column_type.hash(&mut hasher);
                }
            }
        }
        Self {
            sql: sql.to_string(),
            caller: format!("{caller:?}"),
            catalog: hasher.finish(),
        }
    }

    /// The query text.
    pub fn sql(&self) -> &str {
        &self.sql
    }

    /// Whether the text is short enough to keep its plan.
    pub fn small(&self) -> bool {
        self.sql.len() <= MAX_KEPT_SQL_BYTES
    }
}

/// The plans of recent queries.
#[derive(Debug, Default)]
pub struct PlanCache {
    plans: Mutex<HashMap<PlanKey, (Instant, Arc<CachedPlan>)>>,
}

impl PlanCache {
    /// The plan kept for `key`, if it is still fresh.
    pub fn get(&self, key: &PlanKey) -> Option<Arc<CachedPlan>> {
        let plans = self.plans.lock().unwrap_or_else(|p| p.into_inner());
        plans
            .get(key)
            .filter(|(made, _)| made.elapsed() < PLAN_TTL)
            .map(|(_, plan)| plan.clone())
    }

    /// Keeps `plan` for `key`, dropping the oldest plans past the limit.
    pub fn insert(&self, key: PlanKey, plan: CachedPlan) -> Arc<CachedPlan> {
        let mut plans = self.plans.lock().unwrap_or_else(|p| p.into_inner());
        plans.retain(|_, (made, _)| made.elapsed() < PLAN_TTL);
        while plans.len() >= MAX_PLANS {
            let oldest = plans
                .iter()
                .min_by_key(|(_, (made, _))| *made)
                .map(|(key, _)| key.clone());
            match oldest {
                Some(key) => plans.remove(&key),
                None => break,
            };
        }
        let plan = Arc::new(plan);
        plans.insert(key, (Instant::now(), plan.clone()));
        plan
    }

    /// Plans kept now.
    pub fn len(&self) -> usize {
        self.plans.lock().unwrap_or_else(|p| p.into_inner()).len()
    }

    /// Whether no plan is kept.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Whether `plan` (one statement's, unoptimized) means the same whenever it
/// runs, so its optimized form may be kept: besides the rules above, it
/// reads only tables of the fleet (`fleet_table`), not table functions,
/// whose arguments are evaluated while planning (`generate_series(now()
/// - INTERVAL '1 hour', now(), ...)` would keep its first hour).
pub fn reusable(plan: &LogicalPlan, fleet_table: &dyn Fn(&str) -> bool) -> bool {
    if matches!(
        plan,
        LogicalPlan::Ddl(_)
            | LogicalPlan::Statement(_)
            | LogicalPlan::Explain(_)
            | LogicalPlan::Analyze(_)
            | LogicalPlan::DescribeTable(_)
            | LogicalPlan::Dml(_)
            | LogicalPlan::Copy(_)
    ) {
        return false;
    }
    let mut stable = true;
    let _ = plan.apply_with_subqueries(|node| {
        if let LogicalPlan::TableScan(scan) = node {
            let bare = scan
                .table_name
                .schema()
                .is_none_or(|schema| schema == "public");
            stable &= bare && fleet_table(scan.table_name.table());
        }
        if !stable {
            return Ok(TreeNodeRecursion::Stop);
        }
        node.apply_expressions(|expr| {
            expr.apply(|e| {
                stable &= immutable(e);
                Ok(match stable {
                    true => TreeNodeRecursion::Continue,
                    false => TreeNodeRecursion::Stop,
                })
            })
        })
    });
    stable
}

fn immutable(expr: &Expr) -> bool {
    match expr {
        Expr::ScalarFunction(f) => f.func.signature().volatility == Volatility::Immutable,
        Expr::AggregateFunction(f) => f.func.signature().volatility == Volatility::Immutable,
        Expr::WindowFunction(_) => true,
        Expr::Placeholder(_) => false,
        _ => true,
    }
}
