//! `POST /api/v1/ingest/{table}`: NDJSON or a JSON array, optionally gzip
//! or zstd.
//!
//! | answer | when                                                        |
//! |--------|-------------------------------------------------------------|
//! | 200    | the accepted rows are held by leaves; bad rows listed by line |
//! | 400    | bad table name, unknown `Content-Encoding`                    |
//! | 413    | body (or its decompressed form) over the limit                |
//! | 422    | the body is not JSON at all (shippers drop, not retry)        |
//! | 429    | the ingest buffer is full; `Retry-After`                      |
//! | 503    | no leaf can take the rows; `Retry-After`                      |

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Extension, Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde::Deserialize;
use serde_json::json;

use crate::auth::Caller;
use crate::ingest::body::{answer, read_body, retry_later};
use crate::ingest::json_rows::RowError;
use crate::ingest::ndjson::decode_body;
use crate::ingest::state::IngestState;
use crate::ingest::store::{Convert, StoreError, store_with};

/// Errors listed in an ingest answer, at most.
const MAX_LISTED_ERRORS: usize = 10;

#[derive(Debug, Deserialize)]
pub struct IngestParams {
    time_field: Option<String>,
}

/// `POST /api/v1/ingest/{table}`.
pub async fn ingest(
    State(state): State<IngestState>,
    Extension(caller): Extension<Caller>,
    Path(table): Path<String>,
    Query(params): Query<IngestParams>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    if let Err(error) = shoal_contract::table_names::validate_table_name(&table) {
        return answer(
            StatusCode::BAD_REQUEST,
            json!({ "error": error.to_string() }),
        );
    }
    let (bytes, _permit) = match read_body(&state, &headers, body).await {
        Ok(read) => read,
        Err(error) => return error.into_response(),
    };
    let time_field = params.time_field.clone();
    let convert: Convert =
        Arc::new(move |known, resume| decode_body(&bytes, time_field.as_deref(), known, resume));
    let stored = match store_with(&state, &caller, &table, convert).await {
        Ok(stored) => stored,
        Err(error) => return store_error_response(&error),
    };
    let accepted = stored.accepted;
    let mut errors = stored.errors;
    errors.sort_by_key(|e| e.line);
    answer(
        StatusCode::OK,
        json!({
            "accepted": accepted,
            "rejected": errors.len(),
            "errors": errors.iter().take(MAX_LISTED_ERRORS).collect::<Vec<&RowError>>(),
        }),
    )
}

/// The HTTP answer to a failed call. A request cut into routing pieces may
/// have some of them held already: after `NoLeaf` the client's retry stores
/// them again (delivery is at least once); after a refusal the answer says
/// how many rows are held.
fn store_error_response(error: &StoreError) -> Response {
    match error {
        StoreError::NoLeaf { .. } => {
            retry_later(StatusCode::SERVICE_UNAVAILABLE, 5, error.to_string())
        }
        StoreError::Refused { partial, .. } => answer(
            StatusCode::BAD_REQUEST,
            json!({ "error": error.to_string(), "accepted": partial.accepted }),
        ),
        StoreError::Forbidden(_) => {
            answer(StatusCode::FORBIDDEN, json!({ "error": error.to_string() }))
        }
        StoreError::NotJson(reason) => {
            answer(StatusCode::UNPROCESSABLE_ENTITY, json!({ "error": reason }))
        }
        StoreError::Internal(_) => answer(
            StatusCode::INTERNAL_SERVER_ERROR,
            json!({ "error": error.to_string() }),
        ),
    }
}
