//! The HTTP front end: `POST /api/v1/query` (streamed as it improves with
//! `"progressive"`: [`progressive`]), `GET /api/v1/tables`,
//! `GET /healthz`, `GET /metrics`, the browser app's pages (`/`,
//! `/explore`, `/dashboards`, `/dashboards/{name}`) and files (`/assets/`,
//! [`assets`]), saved dashboards ([`dashboards`]), the ingest routes of
//! [`crate::ingest::http_ingest`], the fleet's members ([`fleet`]), and the probes Elasticsearch clients
//! make around `_bulk` ([`es_probes`]).

pub mod assets;
pub mod dashboards;
mod es_probes;
pub mod fleet;
mod progressive;

use std::sync::Arc;

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Extension, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::map_response;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::auth::browser::{self, CorsOrigins};
use crate::auth::{Authenticator, Caller, http_layer};
use crate::error::{AggregatorError, Result};
use crate::ingest::state::IngestState;
use crate::ingest::{bulk, http_ingest, otlp_http};
use crate::metrics::Metrics;
use crate::query::{QueryEngine, QueryOptions, QueryOutcome};
use crate::time_completeness::{self, BucketRequest};

/// What the HTTP handlers share.
#[derive(Debug, Clone)]
pub struct HttpState {
    pub engine: QueryEngine,
    pub metrics: Arc<Metrics>,
}

/// The HTTP routes of an aggregator, behind the browser guard and
/// authentication (outermost first).
pub fn router(
    state: HttpState,
    fleet_state: fleet::FleetState,
    ingest: IngestState,
    authenticator: Arc<Authenticator>,
    cors: CorsOrigins,
) -> Router {
    let dashboard_routes = dashboards::routes(state.engine.clone(), ingest.clone());
    let ingest_routes = Router::new()
        .route("/api/v1/ingest/{table}", post(http_ingest::ingest))
        .route(
            "/_bulk",
            post(bulk::bulk).layer(map_response(es_probes::elastic_product_header)),
        )
        .route(
            "/{index}/_bulk",
            post(bulk::bulk).layer(map_response(es_probes::elastic_product_header)),
        )
        .route("/v1/logs", post(otlp_http::export))
        .with_state(ingest);
    let fleet_routes = Router::new()
        .route("/api/v1/fleet", get(fleet::status))
        .route(
            "/api/v1/fleet/members/{name}",
            axum::routing::delete(fleet::remove),
        )
        .with_state(fleet_state);
    Router::new()
        .route("/", get(es_probes::root).head(es_probes::root_head))
        .route("/_cluster/health", get(es_probes::cluster_health))
        .route("/_license", get(es_probes::license))
        .route("/explore", get(app_page))
        .route("/dashboards", get(app_page))
        .route("/dashboards/{name}", get(app_page))
        .route("/assets/{*path}", get(assets::asset))
        .route("/api/v1/query", post(query))
        .route("/api/v1/tables", get(tables))
        .route("/healthz", get(health))
        .route("/metrics", get(metrics))
        .with_state(state)
        .merge(dashboard_routes)
        .merge(ingest_routes)
        .merge(fleet_routes)
        .layer(axum::middleware::from_fn_with_state(
            authenticator,
            http_layer::authenticate,
        ))
        .layer(axum::middleware::from_fn_with_state(cors, browser::guard))
}

/// A page of the browser app: the shell, which routes in the page.
async fn app_page() -> Response {
    assets::index()
}

#[derive(Debug, Deserialize)]
struct QueryRequest {
    sql: String,
    /// Buckets for `time_completeness` ([`BucketRequest`]).
    #[serde(default)]
    time_buckets: Option<Value>,
    /// Stream NDJSON answers as children answer ([`progressive`]).
    #[serde(default)]
    progressive: bool,
}

fn error_response(error: &AggregatorError) -> Response {
    let status =
        StatusCode::from_u16(error.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (status, axum::Json(json!({ "error": error.to_string() }))).into_response()
}

async fn query(
    State(state): State<HttpState>,
    Extension(caller): Extension<Caller>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let request: QueryRequest = match serde_json::from_slice(&body) {
        Ok(request) => request,
        Err(error) => {
            return error_response(&AggregatorError::Query(format!(
                "the body must be JSON like {{\"sql\": \"SELECT ...\"}}: {error}"
            )));
        }
    };
    let time_buckets = match request.time_buckets.as_ref().map(BucketRequest::parse) {
        None => None,
        Some(Ok(buckets)) => Some(buckets),
        Some(Err(error)) => return error_response(&error),
    };
    let mut options = match QueryOptions::from_headers(&headers) {
        Ok(options) => options,
        Err(error) => return error_response(&error),
    };
    options.caller = Some(caller);
    if request.progressive {
        return progressive::answer(state, request.sql, options, time_buckets).await;
    }
    let outcome = state.engine.run(&request.sql, options).await;
    state.metrics.observe(&outcome);
    let outcome = match outcome {
        Ok(outcome) => outcome,
        Err(error) => return error_response(&error),
    };
    let answer = match answer_json(&outcome, time_buckets.as_ref()) {
        Ok(answer) => answer,
        Err(error) => return error_response(&error),
    };
    let mut response = axum::Json(answer).into_response();
    response
        .headers_mut()
        .extend(outcome.completeness.headers());
    response
}

/// The JSON answer to `POST /api/v1/query` (also each line of a
/// progressive one).
fn answer_json(outcome: &QueryOutcome, time_buckets: Option<&BucketRequest>) -> Result<Value> {
    let rows = rows_as_json(&outcome.schema, &outcome.batches)?;
    let columns: Vec<&str> = outcome
        .schema
        .fields()
        .iter()
        .map(|f| f.name().as_str())
        .collect();
    let time_completeness = time_completeness::for_answer(outcome, time_buckets)?;
    let mut answer = json!({
        "columns": columns,
        "rows": rows,
        "completeness": outcome.completeness,
        "elapsed_ms": outcome.elapsed.as_secs_f64() * 1000.0,
        "query_id": outcome.query_id,
    });
    if let Some(time_completeness) = time_completeness {
        answer["time_completeness"] = time_completeness;
    }
    Ok(answer)
}

/// Rows as JSON arrays, in column order (arrow-json does the values).
fn rows_as_json(schema: &SchemaRef, batches: &[RecordBatch]) -> Result<Vec<Vec<Value>>> {
    let mut writer = arrow::json::WriterBuilder::new()
        .with_explicit_nulls(true)
        .build::<_, arrow::json::writer::JsonArray>(Vec::new());
    let encode_error =
        |e: arrow::error::ArrowError| AggregatorError::Internal(format!("encoding rows: {e}"));
    for batch in batches {
        writer.write(batch).map_err(encode_error)?;
    }
    writer.finish().map_err(encode_error)?;
    let bytes = writer.into_inner();
    if bytes.is_empty() {
        return Ok(Vec::new());
    }
    let objects: Vec<serde_json::Map<String, Value>> = serde_json::from_slice(&bytes)
        .map_err(|e| AggregatorError::Internal(format!("encoding rows: {e}")))?;
    Ok(objects
        .into_iter()
        .map(|mut object| {
            schema
                .fields()
                .iter()
                .map(|field| object.remove(field.name()).unwrap_or(Value::Null))
                .collect()
        })
        .collect())
}

async fn tables(State(state): State<HttpState>, Extension(caller): Extension<Caller>) -> Response {
    let tables: Vec<Value> = state
        .engine
        .fleet()
        .tables()
        .into_iter()
        // System tables (saved dashboards) are Shoal's own state, not
        // data to explore; SQL still reads them, with the usual rights.
        .filter(|(name, _)| !shoal_contract::table_names::is_system_table(name))
        .filter(|(name, _)| caller.sees_table(name))
        .map(|(name, view)| {
            json!({
                "sql_name": crate::client_types::sql_identifier(&name),
                "name": name,
                "rows": view.rows,
                "rows_lost": view.rows_lost,
                "columns": view.columns.iter().map(|(column, column_type)| json!({"name": column, "type": column_type.name()})).collect::<Vec<_>>(),
                "min_time_micros": view.min_time_micros,
                "max_time_micros": view.max_time_micros,
            })
        })
        .collect();
    let names = tables.iter().filter_map(|table| table["name"].as_str());
    let groups: Vec<Value> = crate::table_pattern::daily_groups(names)
        .into_iter()
        .map(|group| {
            let sql = format!(
                "{}('{}')",
                crate::table_pattern::FUNCTION,
                group.glob.replace('\'', "''")
            );
            json!({ "label": group.label, "pattern": group.glob, "sql_name": sql, "tables": group.tables })
        })
        .collect();
    axum::Json(json!({ "tables": tables, "groups": groups })).into_response()
}

async fn health(State(state): State<HttpState>) -> Response {
    let fleet = state.engine.fleet();
    let up = fleet.live_children().len();
    let configured = fleet.children().len();
    let status = if up > 0 || configured == 0 {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (
        status,
        axum::Json(json!({ "leaves_up": up, "leaves_configured": configured })),
    )
        .into_response()
}

async fn metrics(State(state): State<HttpState>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        state.metrics.render(),
    )
        .into_response()
}
