//! Saved dashboards over HTTP: `/api/v1/dashboards`.
//!
//! | call                               | answer                                              |
//! |------------------------------------|-----------------------------------------------------|
//! | `GET /api/v1/dashboards`           | `{"dashboards": [{"name", "title", "panels", "updated_ms"}], "completeness"}`, by name |
//! | `GET /api/v1/dashboards/{name}`    | `{"name", "updated_ms", "spec", "completeness"}`, or 404 |
//! | `PUT /api/v1/dashboards/{name}`    | the spec (JSON) in the body; `{"name", "updated_ms"}` once a leaf holds it |
//! | `DELETE /api/v1/dashboards/{name}` | `{"name", "deleted": true, "updated_ms"}`, or 404    |
//!
//! Names, sizes and the spec's shape are checked in [`spec`]; where the
//! dashboards are kept, and which save wins, is [`table`]'s. The role
//! `read` suffices for every call, saving and deleting too
//! ([`crate::auth::http_layer`]): a dashboard holds no rows, only the
//! queries its panels run, and those are checked against the caller's
//! rights when they run. A dashboard's answers carry the completeness of
//! the read (`completeness`, and the `x-shoal-*` headers): with a leaf
//! down, a dashboard it holds may be missing or older.
//!
//! Errors are `{"error": "..."}`: 400 for a bad name or spec (too big,
//! not JSON, too many panels: the sentence says which), 404 for no such
//! dashboard (with the completeness of the read), 408 for a body that does
//! not arrive, 429/503 with `Retry-After` when the rows cannot be stored
//! now, and the query's own status when the table cannot be read.

pub mod spec;
pub mod table;

use axum::Router;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::Response;
use axum::routing::get;
use serde_json::{Value, json};

use crate::completeness::Completeness;
use crate::error::AggregatorError;
use crate::ingest::body::{answer, retry_later};
use crate::ingest::state::IngestState;
use crate::query::QueryEngine;

use self::spec::{MAX_SPEC_BYTES, check_name, check_spec, too_big};
use self::table::DashboardTable;

/// Why a dashboard call failed.
#[derive(Debug, thiserror::Error)]
pub enum DashboardError {
    /// A bad name or spec (HTTP 400); the sentence says what is wrong.
    #[error("{0}")]
    Invalid(String),
    /// No dashboard by that name (HTTP 404).
    #[error("no dashboard named {name:?}")]
    NotFound {
        name: String,
        completeness: Completeness,
    },
    /// The body did not arrive in time (HTTP 408).
    #[error("{0}")]
    SlowBody(String),
    /// The ingest buffer is full (HTTP 429, `Retry-After`).
    #[error("{0}")]
    Busy(String),
    /// No leaf could take the row (HTTP 503, `Retry-After`).
    #[error("no leaf can store the dashboard now: {0}")]
    NoLeaf(String),
    /// Reading the table failed; its status is the query's.
    #[error("reading the saved dashboards failed: {0}")]
    Query(AggregatorError),
    #[error("{0}")]
    Internal(String),
}

impl DashboardError {
    fn into_response(self) -> Response {
        let message = self.to_string();
        match self {
            Self::Invalid(_) => answer(StatusCode::BAD_REQUEST, json!({ "error": message })),
            Self::NotFound { completeness, .. } => with_completeness(
                answer(
                    StatusCode::NOT_FOUND,
                    json!({ "error": message, "completeness": completeness }),
                ),
                &completeness,
            ),
            Self::SlowBody(_) => answer(StatusCode::REQUEST_TIMEOUT, json!({ "error": message })),
            Self::Busy(_) => retry_later(StatusCode::TOO_MANY_REQUESTS, 1, message),
            Self::NoLeaf(_) => retry_later(StatusCode::SERVICE_UNAVAILABLE, 5, message),
            Self::Query(error) => {
                let status = StatusCode::from_u16(error.http_status())
                    .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
                answer(status, json!({ "error": message }))
            }
            Self::Internal(_) => answer(
                StatusCode::INTERNAL_SERVER_ERROR,
                json!({ "error": message }),
            ),
        }
    }
}

/// The routes, over `engine` (reads) and `ingest` (writes).
pub fn routes(engine: QueryEngine, ingest: IngestState) -> Router {
    Router::new()
        .route("/api/v1/dashboards", get(list))
        .route(
            "/api/v1/dashboards/{name}",
            get(fetch).put(save).delete(delete),
        )
        .with_state(DashboardTable::new(engine, ingest))
}

async fn list(State(table): State<DashboardTable>) -> Response {
    let (versions, completeness) = match table.list().await {
        Ok(listed) => listed,
        Err(error) => return error.into_response(),
    };
    let dashboards: Vec<Value> = versions
        .iter()
        .map(|version| {
            json!({
                "name": version.name,
                "title": version.title,
                "panels": version.panels,
                "updated_ms": version.updated_ms(),
            })
        })
        .collect();
    with_completeness(
        answer(
            StatusCode::OK,
            json!({ "dashboards": dashboards, "completeness": completeness }),
        ),
        &completeness,
    )
}

async fn fetch(State(table): State<DashboardTable>, Path(name): Path<String>) -> Response {
    match fetch_spec(&table, &name).await {
        Ok(response) => response,
        Err(error) => error.into_response(),
    }
}

async fn fetch_spec(table: &DashboardTable, name: &str) -> Result<Response, DashboardError> {
    check_name(name).map_err(DashboardError::Invalid)?;
    let (found, completeness) = table.latest(name, true).await?;
    let Some(version) = found.filter(|v| !v.deleted) else {
        return Err(DashboardError::NotFound {
            name: name.to_string(),
            completeness,
        });
    };
    let spec: Value = serde_json::from_str(&version.spec).map_err(|error| {
        DashboardError::Internal(format!(
            "the stored spec of dashboard {name:?} is not JSON: {error}"
        ))
    })?;
    Ok(with_completeness(
        answer(
            StatusCode::OK,
            json!({
                "name": version.name,
                "updated_ms": version.updated_ms(),
                "spec": spec,
                "completeness": completeness,
            }),
        ),
        &completeness,
    ))
}

async fn save(
    State(table): State<DashboardTable>,
    Path(name): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let saved = async {
        check_name(&name).map_err(DashboardError::Invalid)?;
        let bytes = read_spec(&table, &headers, body).await?;
        let spec = check_spec(&bytes).map_err(DashboardError::Invalid)?;
        table.save(&name, &spec).await
    };
    match saved.await {
        Ok(version) => answer(
            StatusCode::OK,
            json!({ "name": version.name, "updated_ms": version.updated_ms() }),
        ),
        Err(error) => error.into_response(),
    }
}

async fn delete(State(table): State<DashboardTable>, Path(name): Path<String>) -> Response {
    let deleted = async {
        check_name(&name).map_err(DashboardError::Invalid)?;
        table.delete(&name).await
    };
    match deleted.await {
        Ok(tombstone) => answer(
            StatusCode::OK,
            json!({ "name": tombstone.name, "deleted": true, "updated_ms": tombstone.updated_ms() }),
        ),
        Err(error) => error.into_response(),
    }
}

/// The body of a save, within [`MAX_SPEC_BYTES`] and the body timeout.
async fn read_spec(
    table: &DashboardTable,
    headers: &HeaderMap,
    body: Body,
) -> Result<axum::body::Bytes, DashboardError> {
    let encoding = headers
        .get(header::CONTENT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("identity")
        .trim();
    if !encoding.is_empty() && !encoding.eq_ignore_ascii_case("identity") {
        return Err(DashboardError::Invalid(format!(
            "Content-Encoding {encoding} is not taken for a dashboard: send the spec uncompressed"
        )));
    }
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if let Some(length) = declared.filter(|length| *length > MAX_SPEC_BYTES) {
        return Err(DashboardError::Invalid(too_big(length)));
    }
    let timeout = table.body_timeout();
    match tokio::time::timeout(timeout, axum::body::to_bytes(body, MAX_SPEC_BYTES)).await {
        Ok(Ok(bytes)) => Ok(bytes),
        Ok(Err(_)) => Err(DashboardError::Invalid(format!(
            "the spec is over the {MAX_SPEC_BYTES}-byte (256 KiB) limit of a dashboard"
        ))),
        Err(_) => Err(DashboardError::SlowBody(format!(
            "the spec did not arrive within {} s (--body-timeout)",
            timeout.as_secs_f64()
        ))),
    }
}

/// Adds the `x-shoal-*` completeness headers to `response`.
fn with_completeness(mut response: Response, completeness: &Completeness) -> Response {
    response.headers_mut().extend(completeness.headers());
    response
}
