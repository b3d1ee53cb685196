//! The aggregator as another aggregator's child: it answers the same calls
//! a leaf does, so `--leaves` can name it and one query fans out as a tree.
//!
//! ```text
//!   root: AggregateExec(Final) ◄─ FanOutExec ─┬─ leaf
//!                                             └─ this aggregator:
//!                                                  AggregateExec(PartialReduce)
//!                                                    FanOutExec ─┬─ leaf
//!                                                                └─ leaf
//! ```
//!
//! A fragment whose root is a partial aggregate is sent on unchanged, and
//! the children's partial states are merged into partial states
//! (`AggregateMode::PartialReduce`); any other fragment's answers are merged
//! (in order, up to its limit). The completeness passed up is the sum over
//! this aggregator's children. Status is the fleet's, summed; ingest is
//! routed on to a child.

use std::sync::Arc;
use std::time::{Duration, Instant};

use datafusion::error::Result as DfResult;
use datafusion::execution::SendableRecordBatchStream;
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_plan::aggregates::{AggregateExec, AggregateMode};
use datafusion::physical_plan::coalesce_partitions::CoalescePartitionsExec;
use shoal_contract::RestartSignal;
use shoal_contract::fragment::merge_partitions;
use shoal_contract::fragment::{FragmentCodec, PlaceholderResolver};
use shoal_contract::fragment_decode::decode_fragment;
use shoal_contract::fragment_policy::admit_fragment;
use shoal_contract::panic_guard::catching;
use shoal_proto::{
    BlockChunk, BlockRef, DrainRequest, DrainResponse, DropTableRequest, DropTableResponse,
    FragmentCompleteness, FragmentRequest, HandoverRequest, HandoverResponse, IngestRequest,
    IngestResponse, Leaf, LeafStatus, LeaveRequest, LeaveResponse, RestartRequest, RestartResponse,
    StatusRequest,
};
use tonic::{Request, Response, Status};

use crate::completeness::QueryContext;
use crate::error::{AggregatorError, Result};
use crate::fanout::FanOutExec;
use crate::fleet::Fleet;
use crate::query::{MAX_DEADLINE, QueryEngine};
use crate::routing::IngestRouter;

/// A fragment running on this aggregator's children.
pub struct ChildFragment {
    pub stream: SendableRecordBatchStream,
    pub query: Arc<QueryContext>,
}

/// Runs a parent's fragment across this aggregator's children.
pub async fn run_fragment(engine: &QueryEngine, request: FragmentRequest) -> Result<ChildFragment> {
    // A parent's deadline is bounded like a client's, so it cannot overflow.
    let deadline =
        Instant::now() + Duration::from_millis(request.deadline_millis).min(MAX_DEADLINE);
    let node = admit_fragment(&request.plan).map_err(|e| AggregatorError::Query(e.to_string()))?;
    let query =
        Arc::new(QueryContext::new(request.query_id.clone(), deadline).as_of(request.as_of_micros));
    // A parent's fragment names its tables itself; the parent checked them.
    let state = engine.fragment_session(query.clone());
    let codec = FragmentCodec {
        resolver: PlaceholderResolver {
            partitions: state.config().target_partitions(),
        },
    };
    // Decoded under the leaf's panic guard: a fragment that still trips
    // DataFusion fails this request, not the process.
    let task = engine.task(&state)?;
    let fragment =
        catching::<_, shoal_contract::ContractError>(|| Ok(decode_fragment(&node, &task, &codec)?))
            .map_err(|e| match e {
                shoal_contract::ContractError::Panicked(message) => {
                    AggregatorError::Internal(message)
                }
                other => AggregatorError::Query(other.to_string()),
            })?;
    let plan = reduce_for_parent(fragment, engine.fleet().clone())?;
    let stream = plan.execute(0, task)?;
    Ok(ChildFragment { stream, query })
}

/// This aggregator's plan for a parent's fragment; see the module docs.
pub fn reduce_for_parent(
    fragment: Arc<dyn ExecutionPlan>,
    fleet: Arc<Fleet>,
) -> DfResult<Arc<dyn ExecutionPlan>> {
    let fan_out: Arc<dyn ExecutionPlan> =
        Arc::new(FanOutExec::try_new(fragment.clone(), fleet.children())?);
    if let Some(partial) = fragment.downcast_ref::<AggregateExec>()
        && *partial.mode() == AggregateMode::Partial
    {
        let states: Arc<dyn ExecutionPlan> = Arc::new(CoalescePartitionsExec::new(fan_out));
        return Ok(Arc::new(AggregateExec::try_new(
            AggregateMode::PartialReduce,
            partial.group_expr().as_final(),
            partial.aggr_expr().to_vec(),
            partial.filter_expr().to_vec(),
            states,
            partial.input_schema(),
        )?));
    }
    Ok(merge_partitions(fan_out, fragment.fetch()))
}

/// What an aggregator answers the drain calls: only leaves hold blocks.
fn holds_no_blocks() -> Status {
    Status::unimplemented("an aggregator holds no blocks: drain its leaves")
}

/// The timeout a caller sent in `grpc-timeout` (`<digits><H|M|S|m|u|n>`).
fn parent_timeout(metadata: &tonic::metadata::MetadataMap) -> Option<Duration> {
    let value = metadata.get("grpc-timeout")?.to_str().ok()?;
    let (digits, unit) = value.split_at(value.len().checked_sub(1)?);
    // At most 8 digits, as the gRPC specification says (and tonic reads).
    if digits.len() > 8 {
        return None;
    }
    let amount: u64 = digits.parse().ok()?;
    Some(match unit {
        "H" => Duration::from_secs(amount.checked_mul(3_600)?),
        "M" => Duration::from_secs(amount.checked_mul(60)?),
        "S" => Duration::from_secs(amount),
        "m" => Duration::from_millis(amount),
        "u" => Duration::from_micros(amount),
        "n" => Duration::from_nanos(amount),
        _ => return None,
    })
}

/// What this aggregator's subtree covered, once its stream has ended.
pub fn subtree_completeness(query: &QueryContext) -> FragmentCompleteness {
    query.collector.counts()
}

/// The `shoal.v1.Leaf` service of an aggregator.
#[derive(Debug, Clone)]
pub struct ChildService {
    fleet: Arc<Fleet>,
    router: IngestRouter,
    restart: Option<Arc<RestartSignal>>,
}

impl ChildService {
    pub fn new(fleet: Arc<Fleet>, router: IngestRouter) -> Self {
        Self {
            fleet,
            router,
            restart: None,
        }
    }

    /// The same service, answering `Restart` by asking `restart`.
    pub fn with_restart(mut self, restart: Option<Arc<RestartSignal>>) -> Self {
        self.restart = restart;
        self
    }
}

#[tonic::async_trait]
impl Leaf for ChildService {
    async fn ingest(
        &self,
        request: Request<IngestRequest>,
    ) -> std::result::Result<Response<IngestResponse>, Status> {
        // Route within the parent's timeout, less a tenth for the answer's
        // way back, so this tier gives up before the parent does.
        let deadline = parent_timeout(request.metadata())
            .and_then(|timeout| Instant::now().checked_add(timeout - timeout / 10));
        let request = request.into_inner();
        let mut response = self
            .router
            .route_ipc_within(&request.table, request.arrow_ipc, None, deadline)
            .await?;
        // The parent keeps this aggregator's status as the sum over its
        // leaves, so it gets the table across them, not the one leaf's.
        response.table = self.fleet.table_status(&request.table);
        Ok(Response::new(response))
    }

    async fn drop_table(
        &self,
        request: Request<DropTableRequest>,
    ) -> std::result::Result<Response<DropTableResponse>, Status> {
        let dropped = self.fleet.drop_table(&request.into_inner().table).await?;
        Ok(Response::new(dropped))
    }

    async fn restart(
        &self,
        _request: Request<RestartRequest>,
    ) -> std::result::Result<Response<RestartResponse>, Status> {
        RestartSignal::answer_call(self.restart.as_deref(), "aggregator")
            .map(|message| Response::new(RestartResponse { message }))
            .map_err(Status::failed_precondition)
    }

    type ExportBlockStream = futures::stream::Empty<std::result::Result<BlockChunk, Status>>;

    async fn drain(
        &self,
        _request: Request<DrainRequest>,
    ) -> std::result::Result<Response<DrainResponse>, Status> {
        Err(holds_no_blocks())
    }

    async fn export_block(
        &self,
        _request: Request<BlockRef>,
    ) -> std::result::Result<Response<Self::ExportBlockStream>, Status> {
        Err(holds_no_blocks())
    }

    async fn import_block(
        &self,
        _request: Request<tonic::Streaming<BlockChunk>>,
    ) -> std::result::Result<Response<BlockRef>, Status> {
        Err(holds_no_blocks())
    }

    async fn handover(
        &self,
        _request: Request<HandoverRequest>,
    ) -> std::result::Result<Response<HandoverResponse>, Status> {
        Err(holds_no_blocks())
    }

    async fn leave(
        &self,
        _request: Request<LeaveRequest>,
    ) -> std::result::Result<Response<LeaveResponse>, Status> {
        Err(holds_no_blocks())
    }

    async fn status(
        &self,
        _request: Request<StatusRequest>,
    ) -> std::result::Result<Response<LeafStatus>, Status> {
        Ok(Response::new(self.fleet.combined_status()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_parent_timeout_is_read_in_every_unit() {
        let read = |value: &str| {
            let mut metadata = tonic::metadata::MetadataMap::new();
            metadata.insert("grpc-timeout", value.parse().unwrap());
            parent_timeout(&metadata)
        };
        assert_eq!(read("10S"), Some(Duration::from_secs(10)));
        assert_eq!(read("9999m"), Some(Duration::from_millis(9_999)));
        assert_eq!(read("2M"), Some(Duration::from_secs(120)));
        assert_eq!(read("1H"), Some(Duration::from_secs(3_600)));
        assert_eq!(read("500u"), Some(Duration::from_micros(500)));
        assert_eq!(read("7n"), Some(Duration::from_nanos(7)));
        assert_eq!(read("10x"), None);
        assert_eq!(read("123456789S"), None);
        assert_eq!(read("S"), None);
        assert_eq!(parent_timeout(&tonic::metadata::MetadataMap::new()), None);
    }
}
