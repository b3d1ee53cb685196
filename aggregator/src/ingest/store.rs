//! Storing rows of one table, whatever front end they came through: decode
//! them for the table's column types (bad rows rejected with their line),
//! and route them to leaves in leaf-sized pieces. Answers only once every
//! accepted row is held by a leaf.
//!
//! The catalog learns a table's columns from every acknowledged ingest (and
//! from status calls every second), but rows sent through another
//! aggregator can still make it stale: a leaf that refuses a column's type
//! knows better, so on a refusal the catalog is refreshed once and the rows
//! not held yet decoded again.

use std::sync::Arc;

use arrow::array::RecordBatch;
use tokio::sync::OwnedSemaphorePermit;

use crate::auth::{Caller, Role};
use crate::fleet::TableView;
use crate::ingest::buffer::NoRoom;
use crate::ingest::decode_lines::{Decoded, Resume};
use crate::ingest::json_rows::{JsonRow, RowError};
use crate::ingest::ndjson::DecodeError;
use crate::ingest::route_pieces::{Failure, lines_not_held, route};
use crate::ingest::state::{BULK_RESERVE_WAIT, IngestState, batch_bytes};
use crate::ingest::to_arrow::rows_to_decoded;

/// Rows held by leaves, and those rejected (with their line or position).
#[derive(Debug, Default)]
pub struct Stored {
    pub accepted: u64,
    pub errors: Vec<RowError>,
    /// After a failure: the lines of the good rows not held by leaves.
    pub pending: Vec<usize>,
}

/// Why no row of a call was stored.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// No leaf could take the rows now: the caller should retry later.
    /// `partial` says what was done: `accepted` good rows are held by
    /// leaves (pieces of the request, not always its first rows), which
    /// rows were rejected for a bad value, and which good rows are not held
    /// (`pending`), for a front end that answers row by row (`_bulk`).
    #[error("no leaf can take rows: {reason}")]
    NoLeaf { reason: String, partial: Stored },
    /// The leaves refused the rows; retrying will not help. `partial` says
    /// what was done before, as for `NoLeaf`.
    #[error("{reason}")]
    Refused { reason: String, partial: Stored },
    /// The caller may not write this table (HTTP 403, gRPC
    /// `PERMISSION_DENIED`); nothing was stored.
    #[error("{0}")]
    Forbidden(String),
    /// The body is not JSON at all (HTTP 422); nothing was stored.
    #[error("{0}")]
    NotJson(String),
    #[error("{0}")]
    Internal(String),
}

/// The gRPC status a bulk or OTLP ingest's client sees.
impl From<StoreError> for tonic::Status {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::NoLeaf { .. } => Self::unavailable(error.to_string()),
            StoreError::Refused { .. } => Self::invalid_argument(error.to_string()),
            StoreError::Forbidden(_) => Self::permission_denied(error.to_string()),
            StoreError::NotJson(_) => Self::invalid_argument(error.to_string()),
            StoreError::Internal(_) => Self::internal(error.to_string()),
        }
    }
}

/// Whether `caller` may write `table`: its rights, and system tables
/// (`_shoal_*`, such as the saved dashboards) only through their own API,
/// whose rows Shoal writes itself: rows of another shape would break them.
fn may_write(caller: &Caller, table: &str) -> Result<(), StoreError> {
    caller
        .require_table(Role::Ingest, table)
        .map_err(|e| StoreError::Forbidden(e.to_string()))?;
    if shoal_contract::table_names::is_system_table(table) && !caller.cluster {
        return Err(StoreError::Forbidden(format!(
            "table {table:?} is a system table (its name starts with {:?}): it is written through its own API, not ingested",
            shoal_contract::table_names::SYSTEM_TABLE_PREFIX
        )));
    }
    Ok(())
}

/// Decodes a request's rows of one table for the columns the fleet knows
/// (if any), only the lines [`Resume`] wants.
pub type Convert =
    Arc<dyn Fn(Option<&TableView>, &Resume) -> Result<Decoded, DecodeError> + Send + Sync>;

/// Stores `rows` in `table` for `caller`, who must be allowed to write it.
pub async fn store_rows(
    state: &IngestState,
    caller: &Caller,
    table: &str,
    rows: Arc<Vec<JsonRow>>,
) -> Result<Stored, StoreError> {
    let convert: Convert = Arc::new(move |known, resume| {
        rows_to_decoded(known, rows.iter().filter(|row| resume.wants(row.line)))
            .map_err(DecodeError::Internal)
    });
    store_with(state, caller, table, convert).await
}

/// Stores the rows `convert` decodes in `table` for `caller`, who must be
/// allowed to write it. Decoding runs off the async runtime.
pub async fn store_with(
    state: &IngestState,
    caller: &Caller,
    table: &str,
    convert: Convert,
) -> Result<Stored, StoreError> {
    may_write(caller, table)?;
    // What earlier passes did: good rows held (the first ones, in order),
    // rows rejected for a bad value.
    let mut done = Stored::default();
    let mut resume = Resume::default();
    let mut refreshed = false;
    loop {
        let known = state.fleet.table(table);
        let pass_convert = convert.clone();
        let pass_resume = resume.clone();
        let decoded =
            tokio::task::spawn_blocking(move || pass_convert(known.as_ref(), &pass_resume))
                .await
                .map_err(|e| StoreError::Internal(e.to_string()))?
                .map_err(|error| match error {
                    DecodeError::NotJson(reason) => StoreError::NotJson(reason),
                    DecodeError::Internal(reason) => StoreError::Internal(reason),
                })?;
        let Some(batch) = decoded.batch else {
            done.errors.extend(decoded.errors);
            return Ok(done);
        };
        let routed = route(state, table, &batch).await;
        done.accepted += routed.rows();
        done.errors.extend(decoded.errors);
        let Some(failure) = routed.failure else {
            return Ok(done);
        };
        // Pieces are stored at once: those held need not come first.
        let pending = lines_not_held(&decoded.lines, &routed.held);
        match failure {
            // A stale catalog can make the rows' types wrong: refresh it once
            // and decode again the rows not held yet (held ones would be
            // stored twice), not those rejected already.
            Failure::Refused(_) if !refreshed && !pending.is_empty() => {
                refreshed = true;
                let held = routed
                    .held
                    .iter()
                    .flat_map(|range| decoded.lines.get(range.clone()).unwrap_or_default());
                resume = Resume {
                    from_line: pending[0],
                    skip: done
                        .errors
                        .iter()
                        .map(|e| e.line)
                        .chain(held.copied())
                        .collect(),
                };
                state.fleet.refresh().await;
            }
            Failure::NoLeaf(reason) => {
                done.pending = pending;
                return Err(StoreError::NoLeaf {
                    reason,
                    partial: done,
                });
            }
            Failure::Refused(reason) => {
                done.pending = pending;
                return Err(StoreError::Refused {
                    reason,
                    partial: done,
                });
            }
        }
    }
}

/// Admits an Arrow `batch` (Flight SQL bulk ingest) into `table` for
/// `caller`: the same rights and checks as rows that came as JSON, then
/// room in the ingest buffer, waited for up to [`BULK_RESERVE_WAIT`]. The
/// room is the batch's until [`store_admitted`] is done with it; a stream
/// admits its batches one at a time, so it never waits for room against
/// itself.
pub async fn admit_batch(
    state: &IngestState,
    caller: &Caller,
    table: &str,
    batch: &RecordBatch,
) -> Result<OwnedSemaphorePermit, StoreError> {
    may_write(caller, table)?;
    shoal_contract::table_names::validate_table_name(table)
        .map_err(|e| StoreError::refused(e.to_string()))?;
    if batch.num_columns() == 0 {
        return Err(StoreError::refused(format!(
            "a batch of {} rows without columns: Shoal stores columns",
            batch.num_rows()
        )));
    }
    state
        .reserve_within(batch_bytes(batch), BULK_RESERVE_WAIT)
        .await
        .map_err(|no_room| match no_room {
            NoRoom::TooLarge { .. } => StoreError::refused(no_room.to_string()),
            NoRoom::TooManyWaiting | NoRoom::TimedOut(_) => StoreError::NoLeaf {
                reason: no_room.to_string(),
                partial: Stored::default(),
            },
        })
}

/// Stores an admitted `batch` in `table`: routing in leaf-sized pieces and
/// counters, as for rows that came as JSON; `_room` is given back at the end.
pub async fn store_admitted(
    state: &IngestState,
    table: &str,
    batch: &RecordBatch,
    _room: OwnedSemaphorePermit,
) -> Result<u64, StoreError> {
    let routed = route(state, table, batch).await;
    let partial = Stored {
        accepted: routed.rows(),
        ..Stored::default()
    };
    match routed.failure {
        None => Ok(partial.accepted),
        Some(Failure::NoLeaf(reason)) => Err(StoreError::NoLeaf { reason, partial }),
        Some(Failure::Refused(reason)) => Err(StoreError::Refused { reason, partial }),
    }
}

impl StoreError {
    /// A refusal before anything was stored.
    pub fn refused(reason: impl Into<String>) -> Self {
        Self::Refused {
            reason: reason.into(),
            partial: Stored::default(),
        }
    }
}
