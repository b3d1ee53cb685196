//! Tables as the aggregator's planner sees them: the fleet's union schema,
//! scanned by a placeholder that the split rule sends to the leaves.

use std::sync::Arc;

use arrow::datatypes::{Field, Schema, SchemaRef};
use async_trait::async_trait;
use datafusion::catalog::Session;
use datafusion::datasource::{TableProvider, TableType};
use datafusion::error::Result as DfResult;
use datafusion::logical_expr::{Expr, TableProviderFilterPushDown};
use datafusion::physical_plan::ExecutionPlan;
use shoal_contract::column_type::TIME_COLUMN;
use shoal_contract::fragment::{TableScanExec, TableScanSpec};
use shoal_contract::pushdown::filter_pushdown;

use crate::fleet::TableView;

/// One table across the fleet.
#[derive(Debug)]
pub struct RemoteTable {
    name: String,
    schema: SchemaRef,
}

impl RemoteTable {
    /// The table `name` with the columns the fleet reports for it.
    pub fn new(name: &str, view: &TableView) -> Self {
        let fields: Vec<Field> = view
            .columns
            .iter()
            .map(|(column, column_type)| {
                Field::new(column, column_type.sealed_type(), column != TIME_COLUMN)
            })
            .collect();
        Self {
            name: name.to_string(),
            schema: Arc::new(Schema::new(fields)),
        }
    }
}

#[async_trait]
impl TableProvider for RemoteTable {
    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    /// Every filter goes to the leaves for pruning. Bounds on `time` exact to
    /// the microsecond the leaves' scans apply to rows (`Exact`); the others
    /// DataFusion keeps in the plan, and they travel with the fragment.
    fn supports_filters_pushdown(
        &self,
        filters: &[&Expr],
    ) -> DfResult<Vec<TableProviderFilterPushDown>> {
        // The leaves' scans take filters as Shoal's own table provider does.
        Ok(filters.iter().map(|f| filter_pushdown(f)).collect())
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> DfResult<Arc<dyn ExecutionPlan>> {
        let spec = TableScanSpec {
            table: self.name.clone(),
            schema: self.schema.clone(),
            projection: projection.cloned(),
            filters: filters.to_vec(),
            limit,
        };
        Ok(Arc::new(TableScanExec::try_new(
            spec,
            state.config().target_partitions(),
        )?))
    }
}
