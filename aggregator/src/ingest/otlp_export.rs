//! One OTLP logs export, whichever transport brought it (gRPC
//! `LogsService/Export` or HTTP `POST /v1/logs`): the records become rows
//! by table, each table's rows are stored, and the answer says how many
//! records were rejected and why (OTLP's partial success). Records with a
//! bad value are rejected one by one; the rest are stored. How the body is
//! read (in place, or by way of prost) is [`otlp_read`]'s.
//!
//! [`otlp_read`]: crate::ingest::otlp_read

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use bytes::Bytes;
use opentelemetry_proto::tonic::collector::logs::v1::{
    ExportLogsPartialSuccess, ExportLogsServiceResponse,
};

use crate::auth::{Caller, Role};
use crate::ingest::json_rows::RowError;
use crate::ingest::ndjson::DecodeError;
use crate::ingest::otlp_columns::{ConvertError, convert_table};
use crate::ingest::otlp_read::{Prepared, ReadError, check, prepare, reread};
use crate::ingest::otlp_view::RequestView;
use crate::ingest::state::IngestState;
use crate::ingest::store::{Convert, StoreError, store_with};

/// A record the view gave up on while converting (the export is then
/// read by way of prost), or a bug when it was read whole before.
const UNREAD: &str = "the export was not read in place";

/// Rejected records named in a partial success message, at most.
const MAX_NAMED_ERRORS: usize = 5;

/// Why an export was not stored.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// The body is not an `ExportLogsServiceRequest` (HTTP 400, gRPC
    /// `INVALID_ARGUMENT`): prost's reason.
    #[error("{0}")]
    NotRequest(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Stores the records of `body`, an `ExportLogsServiceRequest` in
/// protobuf; `table` (if given) takes them all. Records of a table the
/// leaves refuse are rejected in the partial success.
/// [`ExportError::NotRequest`] means prost refuses the body (nothing is
/// stored); a [`StoreError`] that a table could not be stored now
/// ([`StoreError::NoLeaf`], retryable), that the caller may not write it
/// ([`StoreError::Forbidden`]), or that the table name is invalid
/// ([`StoreError::Refused`]).
pub async fn export_logs(
    state: &IngestState,
    caller: &Caller,
    body: Bytes,
    table: Option<String>,
) -> Result<ExportLogsServiceResponse, ExportError> {
    if let Some(table) = &table {
        shoal_contract::table_names::validate_table_name(table)
            .map_err(|e| StoreError::refused(e.to_string()))?;
    }
    let named = table.clone();
    let prepared = blocking(move || prepare(body, named.as_deref())).await?;
    match store_export(state, caller, &prepared).await {
        Err(Stopped::Unread) => {
            // A record the view gave up on, before anything was stored.
            let (body, named) = (prepared.body.clone(), table.clone());
            let prepared = blocking(move || reread(&body, named.as_deref())).await?;
            store_export(state, caller, &prepared)
                .await
                .map_err(|stopped| match stopped {
                    Stopped::Store(error) => ExportError::Store(error),
                    Stopped::Unread => StoreError::Internal(UNREAD.to_string()).into(),
                })
        }
        // A table the caller may not write is found before an unchecked
        // export's records are read: one prost refuses is refused for that.
        Err(Stopped::Store(error @ StoreError::Forbidden(_))) if !prepared.checked => {
            let body = prepared.body.clone();
            blocking(move || check(&body)).await?;
            Err(error.into())
        }
        Err(Stopped::Store(error)) => Err(error.into()),
        Ok(response) => Ok(response),
    }
}

/// Runs `read` off the async workers.
async fn blocking<T: Send + 'static>(
    read: impl FnOnce() -> Result<T, ReadError> + Send + 'static,
) -> Result<T, ExportError> {
    let read = tokio::task::spawn_blocking(read)
        .await
        .map_err(|e| StoreError::Internal(e.to_string()))?;
    read.map_err(|error| match error {
        ReadError::NotRequest(reason) => ExportError::NotRequest(reason),
        ReadError::Unread => StoreError::Internal(error.to_string()).into(),
    })
}

/// Why storing a prepared export stopped.
enum Stopped {
    /// The view gave up on a record before anything was stored.
    Unread,
    Store(StoreError),
}

/// Stores each table of `prepared` and answers with the rejected records.
async fn store_export(
    state: &IngestState,
    caller: &Caller,
    prepared: &Prepared,
) -> Result<ExportLogsServiceResponse, Stopped> {
    let plan = &prepared.plan;
    // A table the caller may not write fails the whole export, before
    // anything is stored: retrying will not help, and nothing is half done.
    for table in &plan.tables {
        caller
            .require_table(Role::Ingest, table)
            .map_err(|e| Stopped::Store(StoreError::Forbidden(e.to_string())))?;
    }
    let gave_up = Arc::new(AtomicBool::new(false));
    let mut errors = plan.errors.clone();
    for table in &plan.tables {
        let (body, plan, name) = (prepared.body.clone(), plan.clone(), table.clone());
        let flag = gave_up.clone();
        let convert: Convert = Arc::new(move |known, resume| {
            let view = RequestView::read_records(&body)
                .map_err(|_| DecodeError::Internal(UNREAD.to_string()))?;
            match convert_table(&view, &plan, &name, known, resume) {
                Ok(decoded) => Ok(decoded),
                Err(ConvertError::Unread) => {
                    flag.store(true, Ordering::Relaxed);
                    Err(DecodeError::Internal(UNREAD.to_string()))
                }
                Err(ConvertError::Failed(reason)) => Err(DecodeError::Internal(reason)),
            }
        });
        match store_with(state, caller, table, convert).await {
            Ok(stored) => errors.extend(stored.errors),
            // Only an unchecked export (one table) can give up, and its
            // records are all read before its first rows are stored.
            Err(StoreError::Internal(_))
                if !prepared.checked && gave_up.load(Ordering::Relaxed) =>
            {
                return Err(Stopped::Unread);
            }
            // Refused rows would be refused again: reject them, store the
            // other tables. Anything retryable fails the export, so the
            // exporter sends it again (tables stored before may then be
            // stored twice: delivery is at least once).
            Err(StoreError::Refused { reason, partial }) => {
                let refused: Vec<RowError> = partial
                    .pending
                    .iter()
                    .map(|&line| RowError {
                        line,
                        reason: format!("table {table:?}: {reason}"),
                    })
                    .collect();
                errors.extend(partial.errors);
                errors.extend(refused);
            }
            Err(error) => return Err(Stopped::Store(error)),
        }
    }
    if errors.is_empty() {
        return Ok(ExportLogsServiceResponse {
            partial_success: None,
        });
    }
    errors.sort_by_key(|e| e.line);
    let named: Vec<String> = errors
        .iter()
        .take(MAX_NAMED_ERRORS)
        .map(|e| format!("log record {}: {}", e.line, e.reason))
        .collect();
    Ok(ExportLogsServiceResponse {
        partial_success: Some(ExportLogsPartialSuccess {
            rejected_log_records: errors.len() as i64,
            error_message: format!(
                "{} of {} log records rejected: {}",
                errors.len(),
                plan.records,
                named.join("; ")
            ),
        }),
    })
}
