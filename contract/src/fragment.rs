//! Plan fragments: the part of a query the aggregator sends to each leaf.
//!
//! ```text
//!  aggregator                                   leaf
//!  ──────────                                   ────
//!  AggregateExec(Partial)                       AggregateExec(Partial)
//!    FilterExec            ── datafusion-proto ──►  FilterExec
//!      TableScanExec (placeholder)                  StreamingTableExec over blocks
//!        table, schema, projection, filters           (LeafTableProvider::plan_scan)
//! ```
//!
//! [`TableScanExec`] is what the aggregator plans against: it carries the
//! table name, the aggregator's schema of the table, the projection and the
//! pushed-down filters, and cannot run by itself. [`FragmentCodec`] encodes
//! it as a `TableScanNode` and, on the receiving side, asks a
//! [`ScanResolver`] what to put in its place: a leaf puts its real block scan
//! (so time pruning and bitmap indexes apply), an aggregator in the middle of
//! a tree puts the placeholder back and fans out again.

use std::fmt;
use std::sync::Arc;

use arrow::datatypes::{Schema, SchemaRef};
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::error::{DataFusionError, Result as DfResult};
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::logical_expr::Expr;
use datafusion::physical_expr::{EquivalenceProperties, PhysicalExpr};
use datafusion::physical_plan::coalesce_partitions::CoalescePartitionsExec;
use datafusion::physical_plan::execution_plan::{Boundedness, EmissionType};
use datafusion::physical_plan::sorts::sort_preserving_merge::SortPreservingMergeExec;
use datafusion::physical_plan::{
    DisplayAs, DisplayFormatType, ExecutionPlan, ExecutionPlanProperties, Partitioning,
    PlanProperties,
};
use datafusion_proto::bytes::Serializeable;
use datafusion_proto::physical_plan::{PhysicalExtensionCodec, PhysicalProtoConverterExtension};
use prost::Message;
use shoal_proto::{Projection, TableScanNode};

use crate::column_type::ColumnType;

/// Refuses a scan schema with a column type the aggregator never sends:
/// it sends every column as its logical type's
/// [`ColumnType::sealed_type`], and a leaf makes nulls of the asked type
/// for a column its rows lack, where arrow panics on some types (a
/// dictionary keyed by text, found by fuzzing).
pub fn check_scan_types(schema: &Schema) -> DfResult<()> {
    for field in schema.fields() {
        let sealed = ColumnType::of_arrow(field.data_type()).map(ColumnType::sealed_type);
        if sealed.as_ref() != Some(field.data_type()) {
            return Err(DataFusionError::Plan(format!(
                "table scan column {:?} has type {}, which no Shoal column is read as",
                field.name(),
                field.data_type()
            )));
        }
    }
    Ok(())
}

/// What a fragment's table scan asks for.
#[derive(Debug, Clone)]
pub struct TableScanSpec {
    pub table: String,
    /// The whole table's schema, as the aggregator sees it.
    pub schema: SchemaRef,
    pub projection: Option<Vec<usize>>,
    pub filters: Vec<Expr>,
    pub limit: Option<usize>,
}

impl TableScanSpec {
    /// The schema of the scan's output.
    pub fn output_schema(&self) -> DfResult<SchemaRef> {
        Ok(match &self.projection {
            Some(indices) => Arc::new(self.schema.project(indices)?),
            None => self.schema.clone(),
        })
    }
}

/// The placeholder scan node of a fragment; see the module docs.
#[derive(Debug)]
pub struct TableScanExec {
    spec: TableScanSpec,
    properties: Arc<PlanProperties>,
}

impl TableScanExec {
    /// A placeholder scan with `partitions` output partitions (so that
    /// DataFusion plans parallel partial aggregates above it).
    pub fn try_new(spec: TableScanSpec, partitions: usize) -> DfResult<Self> {
        let schema = spec.output_schema()?;
        let properties = PlanProperties::new(
            EquivalenceProperties::new(schema),
            Partitioning::UnknownPartitioning(partitions.max(1)),
            EmissionType::Incremental,
            Boundedness::Bounded,
        );
        Ok(Self {
            spec,
            properties: Arc::new(properties),
        })
    }

    /// What the scan asks for.
    pub fn spec(&self) -> &TableScanSpec {
        &self.spec
    }
}

impl DisplayAs for TableScanExec {
    fn fmt_as(&self, _format: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "ShoalTableScan: table={}", self.spec.table)?;
        if let Some(projection) = &self.spec.projection {
            let names: Vec<&str> = projection
                .iter()
                .filter_map(|&i| self.spec.schema.fields().get(i).map(|f| f.name().as_str()))
                .collect();
            write!(f, ", projection=[{}]", names.join(", "))?;
        }
        if !self.spec.filters.is_empty() {
            let filters: Vec<String> = self.spec.filters.iter().map(|e| e.to_string()).collect();
            write!(f, ", filters=[{}]", filters.join(", "))?;
        }
        Ok(())
    }
}

#[allow(deprecated)]
impl ExecutionPlan for TableScanExec {
    fn name(&self) -> &str {
        "ShoalTableScan"
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        &self.properties
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        Vec::new()
    }

    fn apply_expressions(
        &self,
        _f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> DfResult<TreeNodeRecursion>,
    ) -> DfResult<TreeNodeRecursion> {
        Ok(TreeNodeRecursion::Continue)
    }

    fn with_new_children(
        self: Arc<Self>,
        _children: Vec<Arc<dyn ExecutionPlan>>,
    ) -> DfResult<Arc<dyn ExecutionPlan>> {
        Ok(self)
    }

    fn execute(
        &self,
        _partition: usize,
        _context: Arc<TaskContext>,
    ) -> DfResult<SendableRecordBatchStream> {
        Err(DataFusionError::Internal(format!(
            "the scan of table {} runs on the leaves; it was not cut out of the plan",
            self.spec.table
        )))
    }
}

/// Decides what replaces a fragment's table scan where it is decoded.
pub trait ScanResolver: fmt::Debug + Send + Sync {
    fn resolve(&self, spec: TableScanSpec) -> DfResult<Arc<dyn ExecutionPlan>>;
}

/// A middle aggregator's resolver: keep the placeholder, to fan out again.
#[derive(Debug, Clone)]
pub struct PlaceholderResolver {
    pub partitions: usize,
}

impl ScanResolver for PlaceholderResolver {
    fn resolve(&self, spec: TableScanSpec) -> DfResult<Arc<dyn ExecutionPlan>> {
        Ok(Arc::new(TableScanExec::try_new(spec, self.partitions)?))
    }
}

/// Encodes [`TableScanExec`] nodes; decodes them through a [`ScanResolver`].
#[derive(Debug)]
pub struct FragmentCodec<R> {
    pub resolver: R,
}

impl<R: ScanResolver + 'static> PhysicalExtensionCodec for FragmentCodec<R> {
    fn try_decode(
        &self,
        buf: &[u8],
        _inputs: &[Arc<dyn ExecutionPlan>],
        ctx: &TaskContext,
        _proto_converter: &dyn PhysicalProtoConverterExtension,
    ) -> DfResult<Arc<dyn ExecutionPlan>> {
        let node = TableScanNode::decode(buf)
            .map_err(|e| DataFusionError::Plan(format!("bad table scan node: {e}")))?;
        let schema = datafusion_proto::protobuf::Schema::decode(node.schema.as_slice())
            .map_err(|e| DataFusionError::Plan(format!("bad table scan schema: {e}")))?;
        let schema: Schema = (&schema).try_into()?;
        check_scan_types(&schema)?;
        let filters = node
            .filters
            .iter()
            .map(|bytes| Expr::from_bytes_with_ctx(bytes, ctx))
            .collect::<DfResult<Vec<_>>>()?;
        let spec = TableScanSpec {
            table: node.table,
            schema: Arc::new(schema),
            projection: node
                .projection
                .map(|p| p.columns.into_iter().map(|c| c as usize).collect()),
            filters,
            limit: node.limit.map(|l| l as usize),
        };
        self.resolver.resolve(spec)
    }

    fn try_encode(
        &self,
        node: Arc<dyn ExecutionPlan>,
        buf: &mut Vec<u8>,
        _proto_converter: &dyn PhysicalProtoConverterExtension,
    ) -> DfResult<()> {
        let Some(scan) = node.downcast_ref::<TableScanExec>() else {
            return Err(DataFusionError::NotImplemented(format!(
                "{} cannot be sent to a leaf",
                node.name()
            )));
        };
        let spec = scan.spec();
        let schema: datafusion_proto::protobuf::Schema = spec.schema.as_ref().try_into()?;
        let filters = spec
            .filters
            .iter()
            .map(|f| f.to_bytes().map(|b| b.to_vec()))
            .collect::<DfResult<Vec<_>>>()?;
        let message = TableScanNode {
            table: spec.table.clone(),
            schema: schema.encode_to_vec(),
            projection: spec.projection.as_ref().map(|p| Projection {
                columns: p.iter().map(|&c| c as u32).collect(),
            }),
            filters,
            limit: spec.limit.map(|l| l as u64),
        };
        message
            .encode(buf)
            .map_err(|e| DataFusionError::Internal(e.to_string()))
    }
}

/// Table names a fragment scans.
pub fn scanned_tables(plan: &Arc<dyn ExecutionPlan>) -> Vec<String> {
    let mut tables = Vec::new();
    collect_tables(plan, &mut tables);
    tables.sort();
    tables.dedup();
    tables
}

fn collect_tables(plan: &Arc<dyn ExecutionPlan>, tables: &mut Vec<String>) {
    if let Some(scan) = plan.downcast_ref::<TableScanExec>() {
        tables.push(scan.spec().table.clone());
    }
    for child in plan.children() {
        collect_tables(child, tables);
    }
}

/// One output partition from `plan`'s partitions: a sort-preserving merge
/// when they are ordered, a coalesce otherwise, keeping at most `fetch` rows.
/// Leaves use it for a fragment's answer, aggregators for their children's.
pub fn merge_partitions(
    plan: Arc<dyn ExecutionPlan>,
    fetch: Option<usize>,
) -> Arc<dyn ExecutionPlan> {
    if plan.output_partitioning().partition_count() <= 1 {
        return plan;
    }
    match plan.output_ordering() {
        Some(ordering) => {
            Arc::new(SortPreservingMergeExec::new(ordering.clone(), plan).with_fetch(fetch))
        }
        None => Arc::new(CoalescePartitionsExec::new(plan).with_fetch(fetch)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::datatypes::{DataType, Field, UnionFields, UnionMode};

    fn one_column(data_type: DataType) -> Schema {
        Schema::new(vec![Field::new("c", data_type, true)])
    }

    /// Every type the aggregator sends passes; every other type (those a
    /// leaf could not make nulls of among them) is refused by name.
    #[test]
    fn scans_ask_only_for_sealed_types() {
        for column_type in [
            ColumnType::Integer,
            ColumnType::Float,
            ColumnType::Boolean,
            ColumnType::String,
            ColumnType::StringSet,
            ColumnType::Timestamp,
        ] {
            check_scan_types(&one_column(column_type.sealed_type())).unwrap();
        }
        let utf8 = Box::new(DataType::Utf8);
        let text_keyed = DataType::Dictionary(utf8.clone(), utf8.clone());
        for bad in [
            text_keyed.clone(),
            DataType::List(Arc::new(Field::new("item", text_keyed, true))),
            DataType::Union(UnionFields::empty(), UnionMode::Sparse),
            DataType::FixedSizeBinary(-1),
            DataType::Int32,
            DataType::Utf8,
            DataType::Dictionary(Box::new(DataType::UInt16), utf8),
        ] {
            let refused = check_scan_types(&one_column(bad.clone()))
                .unwrap_err()
                .to_string();
            assert!(
                refused.contains("no Shoal column is read as"),
                "{bad}: {refused}"
            );
        }
    }
}
