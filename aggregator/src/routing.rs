//! Routing ingested batches to leaves by the power of two choices.
//!
//! For each batch, two random live children are drawn and the one with more
//! free memory (by its last status) gets it. A child that fails, or does
//! not answer within [`INGEST_TIMEOUT`], is skipped and the batch goes to
//! another; the caller is answered only once a child has acknowledged (its
//! rows are then in that leaf's shared memory). When no child takes the
//! batch the caller gets [`AggregatorError::NoLeafForIngest`] (503, retry
//! later). A batch a leaf refuses as invalid is not retried elsewhere:
//! every leaf would refuse it.
//!
//! Before sending, each column's type is checked against the type the fleet
//! already has for it, so one column never holds two types on two leaves.

use std::sync::Arc;
use std::time::{Duration, Instant};

use arrow::array::RecordBatch;
use bytes::Bytes;
use rand::seq::SliceRandom;
use shoal_contract::column_type::ColumnType;
use shoal_contract::ipc::encode_stream;
use shoal_proto::{IngestRequest, IngestResponse};
use tracing::warn;

use crate::error::{AggregatorError, Result};
use crate::fleet::{Child, Fleet};

/// How long a child may take to acknowledge a batch before another is
/// tried. A child that hangs (stopped, swapping) and then stores the batch
/// after all makes it stored twice: delivery is at least once. The time is
/// sent along (`grpc-timeout`), and an aggregator that is itself a child
/// routes within what its parent gave it ([`IngestRouter::route_ipc_within`]),
/// so a tree's lower tier gives up before the one above it does.
const INGEST_TIMEOUT: Duration = Duration::from_secs(10);

/// Sends ingested rows to children.
#[derive(Debug, Clone)]
pub struct IngestRouter {
    fleet: Arc<Fleet>,
}

impl IngestRouter {
    pub fn new(fleet: Arc<Fleet>) -> Self {
        Self { fleet }
    }

    /// Stores `batches` in `table` on one child; answers once it holds them.
    pub async fn route_batches(&self, table: &str, batches: &[RecordBatch]) -> Result<u64> {
        let Some(first) = batches.first() else {
            return Ok(0);
        };
        self.check_types(table, first)?;
        let bytes =
            encode_stream(batches).map_err(|e| AggregatorError::BadIngest(e.to_string()))?;
        Ok(self.route_ipc(table, bytes.into()).await?.rows_accepted)
    }

    /// Sends one Arrow IPC stream to a child chosen by two random choices.
    pub async fn route_ipc(&self, table: &str, arrow_ipc: Bytes) -> Result<IngestResponse> {
        self.route_ipc_within(table, arrow_ipc, None, None).await
    }

    /// The children `pieces` pieces of one batch, sent at once, are tried
    /// on first: different ones (so no piece waits for another's leaf),
    /// each the better of two random live children not taken yet (by free
    /// memory: never all to the same few, which would herd); `None` for
    /// the pieces past the live children.
    pub fn spread(&self, pieces: usize) -> Vec<Option<Arc<Child>>> {
        let mut live = self.fleet.live_children();
        (0..pieces)
            .map(|_| match live.is_empty() {
                true => None,
                false => {
                    let chosen = choose_two(&mut live);
                    Some(live.swap_remove(chosen))
                }
            })
            .collect()
    }

    /// [`Self::route_ipc`], tried on `first` before any other child, and
    /// giving up at `deadline` (a parent's timeout).
    pub async fn route_ipc_within(
        &self,
        table: &str,
        arrow_ipc: Bytes,
        first: Option<Arc<Child>>,
        deadline: Option<Instant>,
    ) -> Result<IngestResponse> {
        let mut candidates = self.fleet.live_children();
        if candidates.is_empty() {
            // Statuses may be stale (just started): try everyone.
            candidates = self.fleet.children().to_vec();
        }
        let mut first = first.and_then(|first| {
            let at = candidates.iter().position(|c| Arc::ptr_eq(c, &first))?;
            Some(at)
        });
        let mut failures = Vec::new();
        while !candidates.is_empty() {
            let chosen = first.take().unwrap_or_else(|| choose_two(&mut candidates));
            let child = candidates.swap_remove(chosen);
            let left = deadline.map(|d| d.saturating_duration_since(Instant::now()));
            let timeout = left.map_or(INGEST_TIMEOUT, |left| left.min(INGEST_TIMEOUT));
            if timeout.is_zero() {
                failures.push("the parent's timeout ran out".to_string());
                break;
            }
            let mut request = tonic::Request::new(IngestRequest {
                table: table.to_string(),
                arrow_ipc: arrow_ipc.clone(),
            });
            request.set_timeout(timeout);
            let mut client = child.leaf_client();
            let call = tokio::time::timeout(timeout, client.ingest(request));
            let outcome = call.await.unwrap_or_else(|_| {
                Err(tonic::Status::deadline_exceeded(format!(
                    "no answer within {} ms",
                    timeout.as_millis()
                )))
            });
            match outcome {
                Ok(response) => {
                    let response = response.into_inner();
                    if let Some(table) = &response.table {
                        child.absorb_table(table.clone());
                    }
                    return Ok(response);
                }
                Err(status) if status.code() == tonic::Code::InvalidArgument => {
                    return Err(AggregatorError::BadIngest(status.message().to_string()));
                }
                Err(status) => {
                    warn!(leaf = %child.address, error = %status.message(), "ingest failed; trying another leaf");
                    failures.push(format!("{}: {}", child.address, status.message()));
                }
            }
        }
        Err(AggregatorError::NoLeafForIngest(
            match failures.is_empty() {
                true => "no leaves configured".to_string(),
                false => failures.join("; "),
            },
        ))
    }

    /// Checks `batch`'s column types against those the fleet has for
    /// `table`.
    pub fn check_types(&self, table: &str, batch: &RecordBatch) -> Result<()> {
        let Some(view) = self.fleet.table(table) else {
            return Ok(());
        };
        for field in batch.schema().fields() {
            let Some((_, existing)) = view.columns.iter().find(|(name, _)| name == field.name())
            else {
                continue;
            };
            let incoming = ColumnType::of_arrow(field.data_type());
            let fits = incoming == Some(*existing)
                || (*existing == ColumnType::Float && incoming == Some(ColumnType::Integer));
            if !fits {
                return Err(AggregatorError::BadIngest(format!(
                    "column {:?} of table {table:?} is {existing}, but the batch holds {}",
                    field.name(),
                    field.data_type()
                )));
            }
        }
        Ok(())
    }
}

/// Index of the better of two random candidates (more free memory).
fn choose_two(candidates: &mut [Arc<Child>]) -> usize {
    if candidates.len() == 1 {
        return 0;
    }
    candidates.shuffle(&mut rand::rng());
    match candidates[0].free_memory() >= candidates[1].free_memory() {
        true => 0,
        false => 1,
    }
}
