//! What every query's DataFusion session starts from, made once per engine.
//!
//! Building a session from nothing (`with_default_features`) makes every
//! built-in function, planner and optimizer rule again, and Shoal adds its
//! own functions: that was the largest single share of the aggregator's CPU
//! for a 1-row answer. A [`SessionTemplate`] holds all of it, built once; a
//! query's session is a copy (maps of shared functions and rules) given
//! the query's own [`QueryContext`], a catalog of the tables its caller may
//! see, and the table functions that answer per caller.
//!
//! A copy shares the template's runtime, so the memory pool a query runs
//! with is given to its task context instead ([`SessionTemplate::task`]):
//! one pool of `--query-memory-limit` bytes per query, as when every
//! session had a runtime of its own. The template's own pool holds nothing
//! (and it cannot spill to disk): a plan run in a task context taken from
//! the session instead fails at its first reservation, rather than sharing
//! one pool with every other query.

use std::sync::Arc;

use arrow::datatypes::SchemaRef;
use datafusion::catalog::information_schema::INFORMATION_SCHEMA;
use datafusion::catalog::{
    CatalogProvider, CatalogProviderList, MemoryCatalogProvider, MemoryCatalogProviderList,
    MemorySchemaProvider, SchemaProvider, TableFunctionImpl,
};
use datafusion::datasource::TableProvider;
use datafusion::execution::{SessionState, SessionStateBuilder, TaskContext};
use datafusion::prelude::{SessionConfig, SessionContext};

use crate::completeness::QueryContext;
use crate::dense_rule::DenseAggregates;
use crate::dictionary_aggregates::dictionary_aggregates;
use crate::error::{AggregatorError, Result};
use crate::fleet::Fleet;
use crate::information_schema;
use crate::query::ShoalOptions;
use crate::split::SplitForLeaves;
use shoal_contract::functions::register_functions;
use shoal_contract::query_memory::query_runtime;

/// The session every query's session is copied from.
#[derive(Debug)]
pub struct SessionTemplate {
    state: SessionState,
    memory_bytes: usize,
}

impl SessionTemplate {
    /// Settings, functions and rules for queries over `fleet`, each with
    /// `memory_bytes` of memory.
    pub fn new(fleet: Arc<Fleet>, target_partitions: usize, memory_bytes: usize) -> Result<Self> {
        let config = SessionConfig::new()
            .with_target_partitions(target_partitions)
            // Shoal registers its own: see `crate::information_schema`.
            .with_information_schema(false)
            .with_option_extension(ShoalOptions::default());
        let state = SessionStateBuilder::new()
            .with_config(config)
            .with_runtime_env(runtime(0)?)
            .with_default_features()
            .with_physical_optimizer_rule(Arc::new(SplitForLeaves::new(fleet)))
            .with_physical_optimizer_rule(Arc::new(DenseAggregates))
            .build();
        let context = SessionContext::new_with_state(state);
        register_functions(&context);
        for aggregate in dictionary_aggregates() {
            context.register_udaf(aggregate);
        }
        let state = context.state_ref().read().clone();
        Ok(Self {
            state,
            memory_bytes,
        })
    }

    /// A session for one query: `query` as its context, `tables` (name,
    /// provider) in the default schema beside an `information_schema` that
    /// lists them, and `functions` (name, table function) added.
    pub fn session(
        &self,
        query: Arc<QueryContext>,
        tables: Vec<(String, Arc<dyn TableProvider>)>,
        functions: Vec<(&str, Arc<dyn TableFunctionImpl>)>,
    ) -> Result<SessionState> {
        let mut state = self.state.clone();
        state.config_mut().set_extension(query);
        let names = state.config_options().catalog.clone();
        let public = Arc::new(MemorySchemaProvider::new());
        let mut schemas: Vec<(String, SchemaRef)> = Vec::with_capacity(tables.len());
        for (name, table) in tables {
            schemas.push((name.clone(), table.schema()));
            public.register_table(name, table)?;
        }
        let catalog = Arc::new(MemoryCatalogProvider::new());
        catalog.register_schema(&names.default_schema, public)?;
        catalog.register_schema(
            INFORMATION_SCHEMA,
            information_schema::provider(&names, schemas)?,
        )?;
        let catalogs = Arc::new(MemoryCatalogProviderList::new());
        catalogs.register_catalog(names.default_catalog.clone(), catalog);
        state.register_catalog_list(catalogs);
        for (name, function) in functions {
            state.register_udtf(name, function);
        }
        Ok(state)
    }

    /// A session for running a fragment a parent aggregator cut: `query` as
    /// its context and no tables (a fragment names its scans itself).
    pub fn bare(&self, query: Arc<QueryContext>) -> SessionState {
        let mut state = self.state.clone();
        state.config_mut().set_extension(query);
        state
    }

    /// The task context `state`'s plans run in, with a memory pool of the
    /// query's own.
    pub fn task(&self, state: &SessionState) -> Result<Arc<TaskContext>> {
        Ok(Arc::new(
            TaskContext::from(state).with_runtime(runtime(self.memory_bytes)?),
        ))
    }
}

fn runtime(memory_bytes: usize) -> Result<Arc<datafusion::execution::runtime_env::RuntimeEnv>> {
    query_runtime(memory_bytes).map_err(|e| AggregatorError::Internal(e.to_string()))
}
