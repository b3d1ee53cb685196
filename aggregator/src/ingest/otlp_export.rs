//! One OTLP logs export, whichever transport brought it (gRPC
//! `LogsService/Export` or HTTP `POST /v1/logs`): the records become rows
//! by table, each table's rows are stored, and the answer says how many
//! records were rejected and why (OTLP's partial success). Records with a
//! bad value are rejected one by one; the rest are stored.

use std::sync::Arc;

use bytes::Bytes;
use opentelemetry_proto::tonic::collector::logs::v1::{
    ExportLogsPartialSuccess, ExportLogsServiceResponse,
};

use crate::auth::{Caller, Role};
use crate::ingest::json_rows::RowError;
use crate::ingest::ndjson::DecodeError;
use crate::ingest::otlp_columns::{convert_table, plan};
use crate::ingest::otlp_view::RequestView;
use crate::ingest::state::IngestState;
use crate::ingest::store::{Convert, StoreError, store_with};

/// A request not in the form `canonical` hands on (a bug, not a client's).
const UNREAD: &str = "the export was not read in place";

/// Rejected records named in a partial success message, at most.
const MAX_NAMED_ERRORS: usize = 5;

/// Stores the records of `request` (an `ExportLogsServiceRequest` as
/// `otlp_view::canonical` hands it on); `table` (if given) takes them all.
/// Records of a table the leaves refuse are rejected in the partial
/// success. `Err` means a table could not be stored now ([`StoreError::NoLeaf`],
/// retryable) or the table name is invalid ([`StoreError::Refused`]).
pub async fn export_logs(
    state: &IngestState,
    caller: &Caller,
    request: Bytes,
    table: Option<String>,
) -> Result<ExportLogsServiceResponse, StoreError> {
    if let Some(table) = &table {
        shoal_contract::table_names::validate_table_name(table)
            .map_err(|e| StoreError::refused(e.to_string()))?;
    }
    let (body, named) = (request.clone(), table.clone());
    let planned = tokio::task::spawn_blocking(move || {
        RequestView::read(&body).map(|view| plan(&view, named.as_deref()))
    })
    .await
    .map_err(|e| StoreError::Internal(e.to_string()))?;
    let plan = Arc::new(planned.map_err(|_| StoreError::Internal(UNREAD.to_string()))?);
    // A table the caller may not write fails the whole export, before
    // anything is stored: retrying will not help, and nothing is half done.
    for table in &plan.tables {
        caller
            .require_table(Role::Ingest, table)
            .map_err(|e| StoreError::Forbidden(e.to_string()))?;
    }
    let mut errors = plan.errors.clone();
    for table in &plan.tables {
        let (request, plan, name) = (request.clone(), plan.clone(), table.clone());
        let convert: Convert = Arc::new(move |known, resume| {
            let view = RequestView::read_records(&request)
                .map_err(|_| DecodeError::Internal(UNREAD.to_string()))?;
            convert_table(&view, &plan, &name, known, resume).map_err(DecodeError::Internal)
        });
        match store_with(state, caller, table, convert).await {
            Ok(stored) => errors.extend(stored.errors),
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
            Err(error) => return Err(error),
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
