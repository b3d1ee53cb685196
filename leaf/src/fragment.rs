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

use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Arc, Mutex};

use arrow::datatypes::{Schema, SchemaRef};
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::error::{DataFusionError, Result as DfResult};
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::logical_expr::Expr;
use datafusion::physical_expr::{EquivalenceProperties, PhysicalExpr};
use datafusion::physical_plan::execution_plan::{Boundedness, EmissionType};
use datafusion::physical_plan::{
    DisplayAs, DisplayFormatType, ExecutionPlan, Partitioning, PlanProperties,
};
use datafusion_proto::bytes::Serializeable;
use datafusion_proto::physical_plan::{PhysicalExtensionCodec, PhysicalProtoConverterExtension};
use prost::Message;
use shoal_proto::{Projection, TableScanNode};

use crate::provider::LeafTableProvider;
use crate::store::Store;
use crate::table::TableSnapshot;

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

/// A leaf's resolver: the real scan over its blocks (none when it does not
/// hold the table).
#[derive(Debug, Clone)]
pub struct StoreResolver {
    pub store: Arc<Store>,
    pub target_partitions: usize,
    /// The fragment's deadline: its scans stop there.
    pub deadline: std::time::Instant,
    /// Tables resolved so far, with their rows and rows lost when their
    /// snapshot was taken.
    pub scanned: Arc<Mutex<BTreeMap<String, (u64, u64)>>>,
    /// Rows of bad blocks the fragment's scans skipped.
    pub skipped_rows: Arc<std::sync::atomic::AtomicU64>,
    /// The query's snapshot time (µs): which copy of a block moving
    /// between leaves counts ([`crate::table::Move`]).
    pub as_of: i64,
}

impl StoreResolver {
    /// The tables this resolver has put scans in for, sorted.
    pub fn scanned_tables(&self) -> Vec<String> {
        self.scanned
            .lock()
            .map(|t| t.keys().cloned().collect())
            .unwrap_or_default()
    }

    /// Rows and rows lost of the scanned tables, each counted once.
    pub fn scanned_rows(&self) -> (u64, u64) {
        self.scanned
            .lock()
            .map(|t| {
                t.values()
                    .fold((0, 0), |(rows, lost), (r, l)| (rows + r, lost + l))
            })
            .unwrap_or_default()
    }
}

impl ScanResolver for StoreResolver {
    fn resolve(&self, spec: TableScanSpec) -> DfResult<Arc<dyn ExecutionPlan>> {
        let snapshot = match self.store.table(&spec.table, false) {
            Ok(table) => table
                .snapshot_at(self.as_of)
                .map_err(|e| DataFusionError::External(Box::new(e)))?,
            Err(_) => TableSnapshot::empty(),
        };
        if let Ok(mut scanned) = self.scanned.lock() {
            scanned
                .entry(spec.table.clone())
                .or_insert((snapshot.rows, snapshot.rows_lost));
        }
        LeafTableProvider::with_schema(snapshot, spec.schema.clone())
            .with_deadline(self.deadline)
            .counting_skipped(self.skipped_rows.clone())
            .plan_scan(
                self.target_partitions,
                spec.projection.as_ref(),
                &spec.filters,
            )
    }
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
