//! Sending a plan fragment to every child and gathering what comes back by
//! the query's deadline.
//!
//! ```text
//!                 FanOutExec (one output partition per child)
//!        ┌──────────────┬──────────────┬──────────────┐
//!   partition 0     partition 1    partition 2     ...
//!   DoGet(fragment) DoGet(fragment) DoGet(fragment)
//!   leaf A          leaf B          aggregator C (a subtree)
//!     │ batches + completeness          │
//!     ▼                                 ▼
//!   buffered until the child's stream ends; emitted only then.
//!   At the deadline, a child still streaming is cut off and left out.
//! ```
//!
//! A child's answer is used whole or not at all: partial aggregate states
//! from half a leaf would be a wrong answer that looks right. Each child's
//! outcome goes to the query's [`CompletenessCollector`](crate::completeness::CompletenessCollector),
//! and for a progressive query also to its
//! [`AnswersSoFar`](crate::answers_so_far::AnswersSoFar).

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use arrow::array::RecordBatch;
use arrow::compute::cast;
use arrow::datatypes::SchemaRef;
use arrow_flight::Ticket;
use arrow_flight::decode::{DecodedPayload, FlightDataDecoder};
use arrow_flight::error::FlightError;
use bytes::Bytes;
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::error::{DataFusionError, Result as DfResult};
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::physical_expr::PhysicalExpr;
use datafusion::physical_plan::execution_plan::{Boundedness, EmissionType};
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::{
    DisplayAs, DisplayFormatType, ExecutionPlan, ExecutionPlanProperties, Partitioning,
    PlanProperties,
};
use datafusion_proto::bytes::physical_plan_to_bytes_with_extension_codec;
use futures::{StreamExt, TryStreamExt};
use prost::Message;
use shoal_contract::fragment::{FragmentCodec, PlaceholderResolver, scanned_tables};
use shoal_proto::{FragmentCompleteness, FragmentRequest, TicketRequest};
use tracing::{debug, warn};

use crate::completeness::{ChildFailure, QueryContext};
use crate::fleet::Child;
use crate::membership::Snapshot;

/// Time kept back from a child's deadline for the way back.
const DEADLINE_MARGIN: Duration = Duration::from_millis(20);

/// Tells fan-outs apart within a query's
/// [`AnswersSoFar`](crate::answers_so_far::AnswersSoFar).
static NEXT_FAN_OUT_ID: AtomicU64 = AtomicU64::new(0);

/// Runs `fragment` on every child; see the module docs.
pub struct FanOutExec {
    id: u64,
    fragment: Arc<dyn ExecutionPlan>,
    encoded: Bytes,
    tables: Vec<String>,
    /// The children when the query was planned: they stay its children
    /// until it answers, whoever joins or leaves meanwhile.
    children: Snapshot,
    properties: Arc<PlanProperties>,
}

impl FanOutExec {
    /// Serializes `fragment` once for all `children` (the query's snapshot).
    pub fn try_new(fragment: Arc<dyn ExecutionPlan>, children: Snapshot) -> DfResult<Self> {
        let codec = FragmentCodec {
            resolver: PlaceholderResolver { partitions: 1 },
        };
        let encoded = physical_plan_to_bytes_with_extension_codec(fragment.clone(), &codec)?;
        let tables = scanned_tables(&fragment);
        let partitions = children.len().max(1);
        let properties = PlanProperties::new(
            fragment.equivalence_properties().clone(),
            Partitioning::UnknownPartitioning(partitions),
            EmissionType::Final,
            Boundedness::Bounded,
        );
        Ok(Self {
            id: NEXT_FAN_OUT_ID.fetch_add(1, Ordering::Relaxed),
            fragment,
            encoded,
            tables,
            children,
            properties: Arc::new(properties),
        })
    }

    /// The plan every child runs.
    pub fn fragment(&self) -> &Arc<dyn ExecutionPlan> {
        &self.fragment
    }

    /// Names this fan-out in [`AnswersSoFar`](crate::answers_so_far::AnswersSoFar).
    pub fn id(&self) -> u64 {
        self.id
    }

    /// The tables the fragment reads.
    pub fn tables(&self) -> &[String] {
        &self.tables
    }

    /// Per output partition, its child's index and the counts it adds
    /// while it has not answered (as [`CompletenessCollector::record_failure`]
    /// would count it).
    ///
    /// [`CompletenessCollector::record_failure`]: crate::completeness::CompletenessCollector::record_failure
    pub fn unanswered_children(&self) -> Vec<(usize, FragmentCompleteness)> {
        self.children
            .iter()
            .map(|child| {
                (
                    child.index,
                    unanswered(child, child.table_rows(&self.tables)),
                )
            })
            .collect()
    }
}

impl fmt::Debug for FanOutExec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FanOutExec")
            .field("children", &self.children.len())
            .field("tables", &self.tables)
            .finish()
    }
}

impl DisplayAs for FanOutExec {
    fn fmt_as(&self, _format: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        write!(
            f,
            "FanOutExec: children={}, fragment_bytes={}, tables=[{}]",
            self.children.len(),
            self.encoded.len(),
            self.tables.join(", ")
        )
    }
}

#[allow(deprecated)]
impl ExecutionPlan for FanOutExec {
    fn name(&self) -> &str {
        "FanOutExec"
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        &self.properties
    }

    /// The fragment runs elsewhere: to DataFusion this is a source.
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
        partition: usize,
        context: Arc<TaskContext>,
    ) -> DfResult<SendableRecordBatchStream> {
        let query = context
            .session_config()
            .get_extension::<QueryContext>()
            .ok_or_else(|| DataFusionError::Internal("query context missing".to_string()))?;
        let schema = self.schema();
        let Some(child) = self.children.get(partition).cloned() else {
            // No children at all (an aggregator whose gossip found no leaf
            // yet): one empty partition, nobody queried.
            if self.children.is_empty() {
                query.collector.record_tables(&self.tables);
                return Ok(Box::pin(RecordBatchStreamAdapter::new(
                    schema,
                    futures::stream::empty(),
                )));
            }
            return Err(DataFusionError::Internal(format!(
                "FanOutExec has no child {partition}"
            )));
        };
        query.collector.record_tables(&self.tables);
        let deadline = query.deadline();
        let remaining = deadline.saturating_duration_since(std::time::Instant::now());
        let request = FragmentRequest {
            plan: self.encoded.to_vec(),
            deadline_millis: remaining.saturating_sub(DEADLINE_MARGIN).as_millis() as u64,
            query_id: query.query_id.clone(),
            as_of_micros: query.as_of_micros,
        };
        let tables = self.tables.clone();
        let output_schema = schema.clone();
        let fan_out = self.id;
        let answer = async move {
            let fetch = fetch_from_child(&child, request, &output_schema, &tables);
            let outcome = tokio::time::timeout_at(deadline.into(), fetch).await;
            let failure = match outcome {
                Ok(Ok((batches, counts))) => {
                    debug!(leaf = %child.address, batches = batches.len(), "child answered");
                    query.collector.record_answer(child.index, counts);
                    if let Some(answers) = query.answers() {
                        answers.record(fan_out, partition, child.index, &batches, counts);
                    }
                    return batches;
                }
                Ok(Err(failure)) => failure,
                Err(_) => ChildFailure::other(format!(
                    "leaf {} did not answer within the deadline ({} ms)",
                    child.address,
                    remaining.as_millis()
                )),
            };
            warn!(leaf = %child.address, reason = %failure.reason, "left out of the answer");
            let rows = child.table_rows(&tables);
            query
                .collector
                .record_failure(child.index, child.leaf_count(), rows, failure);
            if let Some(answers) = query.answers() {
                let counts = unanswered(&child, rows);
                answers.record(fan_out, partition, child.index, &[], counts);
            }
            Vec::new()
        };
        let stream = futures::stream::once(answer)
            .flat_map(|batches| futures::stream::iter(batches.into_iter().map(Ok)));
        Ok(Box::pin(RecordBatchStreamAdapter::new(schema, stream)))
    }
}

/// What `child`, holding `rows` of the tables read, counts while it has
/// not answered.
fn unanswered(child: &Child, rows: u64) -> FragmentCompleteness {
    FragmentCompleteness {
        leaves_queried: child.leaf_count(),
        leaves_answered: 0,
        rows_queried: rows,
        rows_answered: 0,
    }
}

/// Runs the fragment on one child: its batches (in `schema`) and the
/// completeness it reports.
async fn fetch_from_child(
    child: &Child,
    request: FragmentRequest,
    schema: &SchemaRef,
    tables: &[String],
) -> Result<(Vec<RecordBatch>, FragmentCompleteness), ChildFailure> {
    let ticket = Ticket {
        ticket: TicketRequest::Fragment(request).encode_ticket().into(),
    };
    let response = child
        .flight_client()
        .do_get(ticket)
        .await
        .map_err(|status| ChildFailure::from_status(&child.address, &status))?;
    let mut decoder = FlightDataDecoder::new(response.into_inner().map_err(FlightError::from));
    let mut batches = Vec::new();
    let mut counts = None;
    while let Some(item) = decoder.next().await {
        let data = item.map_err(|error| match error {
            FlightError::Tonic(status) => ChildFailure::from_status(&child.address, &status),
            other => ChildFailure::other(format!("leaf {}: {other}", child.address)),
        })?;
        if !data.inner.app_metadata.is_empty() {
            counts = FragmentCompleteness::decode(data.inner.app_metadata.as_ref()).ok();
        }
        if let DecodedPayload::RecordBatch(batch) = data.payload {
            batches.push(
                in_schema(batch, schema)
                    .map_err(|e| ChildFailure::other(format!("leaf {}: {e}", child.address)))?,
            );
        }
    }
    let counts = counts.unwrap_or_else(|| {
        let rows = child.table_rows(tables);
        FragmentCompleteness {
            leaves_queried: 1,
            leaves_answered: 1,
            rows_queried: rows,
            rows_answered: rows,
        }
    });
    Ok((batches, counts))
}

/// `batch` relabelled with `schema`, casting columns whose encoding differs
/// (a dictionary sent as plain values, say).
fn in_schema(
    batch: RecordBatch,
    schema: &SchemaRef,
) -> Result<RecordBatch, arrow::error::ArrowError> {
    let columns = batch
        .columns()
        .iter()
        .zip(schema.fields())
        .map(
            |(column, field)| match column.data_type() == field.data_type() {
                true => Ok(column.clone()),
                false => cast(column, field.data_type()),
            },
        )
        .collect::<Result<Vec<_>, _>>()?;
    let options = arrow::array::RecordBatchOptions::new().with_row_count(Some(batch.num_rows()));
    RecordBatch::try_new_with_options(schema.clone(), columns, &options)
}
