//! HTTP ingest: `POST /api/v1/ingest/{table}` (NDJSON or a JSON array,
//! optionally gzip or zstd), the Elasticsearch-compatible `POST /_bulk` and
//! `POST /{index}/_bulk`, and the `GET /` probe Elasticsearch clients make.
//!
//! | answer | when                                                        |
//! |--------|-------------------------------------------------------------|
//! | 200    | the accepted rows are held by leaves; bad rows listed by line |
//! | 400    | bad table name, unknown `Content-Encoding`                    |
//! | 413    | body (or its decompressed form) over the limit                |
//! | 422    | the body is not JSON at all (shippers drop, not retry)        |
//! | 429    | the ingest buffer is full; `Retry-After`                      |
//! | 503    | no leaf can take the rows; `Retry-After`                      |
//!
//! The buffer is a semaphore over the bytes of requests being decoded and
//! routed, so a flood of requests waits outside instead of growing memory.

use std::io::Read;
use std::sync::Arc;
use std::time::Instant;

use axum::body::{Body, Bytes};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::error::AggregatorError;
use crate::fleet::Fleet;
use crate::ingest::json_rows::{RowError, parse_body, row_from_object};
use crate::ingest::to_arrow::rows_to_batch;
use crate::metrics::Metrics;
use crate::routing::IngestRouter;

/// Errors listed in an ingest answer, at most.
const MAX_LISTED_ERRORS: usize = 10;
/// Rows sent to one leaf in one call.
const ROUTE_ROWS: usize = 65_536;

/// What the ingest handlers share.
#[derive(Debug, Clone)]
pub struct IngestState {
    pub fleet: Arc<Fleet>,
    pub router: IngestRouter,
    pub metrics: Arc<Metrics>,
    pub max_body_bytes: usize,
    buffer: Arc<Semaphore>,
    buffer_kib: u32,
}

impl IngestState {
    pub fn new(
        fleet: Arc<Fleet>,
        router: IngestRouter,
        metrics: Arc<Metrics>,
        max_body_bytes: usize,
        buffer_bytes: usize,
    ) -> Self {
        let buffer_kib = u32::try_from(buffer_bytes / 1024)
            .unwrap_or(u32::MAX)
            .max(1);
        Self {
            fleet,
            router,
            metrics,
            max_body_bytes,
            buffer: Arc::new(Semaphore::new(buffer_kib as usize)),
            buffer_kib,
        }
    }

    /// Room in the buffer for `bytes`, or `None` when it is full.
    fn reserve(&self, bytes: usize) -> Option<OwnedSemaphorePermit> {
        let kib = u32::try_from(bytes / 1024 + 1)
            .unwrap_or(u32::MAX)
            .min(self.buffer_kib);
        self.buffer.clone().try_acquire_many_owned(kib).ok()
    }
}

fn answer(status: StatusCode, body: Value) -> Response {
    (status, axum::Json(body)).into_response()
}

fn retry_later(status: StatusCode, seconds: u32, message: String) -> Response {
    let mut response = answer(status, json!({ "error": message }));
    if let Ok(value) = seconds.to_string().parse() {
        response.headers_mut().insert(header::RETRY_AFTER, value);
    }
    response
}

/// Reads the body within the limit and undoes its `Content-Encoding`.
async fn read_body(
    state: &IngestState,
    headers: &HeaderMap,
    body: Body,
) -> Result<(Bytes, OwnedSemaphorePermit), Response> {
    let limit = state.max_body_bytes;
    let too_large = |what: &str| {
        answer(
            StatusCode::PAYLOAD_TOO_LARGE,
            json!({"error": format!("the {what} is over the {limit}-byte limit")}),
        )
    };
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|length| length > limit) {
        return Err(too_large("body"));
    }
    let Some(permit) = state.reserve(declared.unwrap_or(limit)) else {
        return Err(retry_later(
            StatusCode::TOO_MANY_REQUESTS,
            1,
            "the ingest buffer is full; retry shortly".to_string(),
        ));
    };
    let bytes = axum::body::to_bytes(body, limit)
        .await
        .map_err(|_| too_large("body"))?;
    let encoding = headers
        .get(header::CONTENT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("identity")
        .trim()
        .to_ascii_lowercase();
    let decoded = match encoding.as_str() {
        "" | "identity" => return Ok((bytes, permit)),
        "gzip" | "x-gzip" => decompress(flate2::read::MultiGzDecoder::new(bytes.as_ref()), limit),
        "zstd" => match zstd::stream::read::Decoder::new(bytes.as_ref()) {
            Ok(decoder) => decompress(decoder, limit),
            Err(error) => Err(error.to_string()),
        },
        other => {
            return Err(answer(
                StatusCode::BAD_REQUEST,
                json!({"error": format!("Content-Encoding {other:?} is not supported: use gzip or zstd")}),
            ));
        }
    };
    match decoded {
        Ok(Some(decoded)) => Ok((decoded.into(), permit)),
        Ok(None) => Err(too_large("decompressed body")),
        Err(error) => Err(answer(
            StatusCode::BAD_REQUEST,
            json!({"error": format!("the {encoding} body could not be decompressed: {error}")}),
        )),
    }
}

/// Decompresses at most `limit` bytes; `None` past that (a bomb).
fn decompress(reader: impl Read, limit: usize) -> Result<Option<Vec<u8>>, String> {
    let mut out = Vec::new();
    reader
        .take(limit as u64 + 1)
        .read_to_end(&mut out)
        .map_err(|e| e.to_string())?;
    Ok((out.len() <= limit).then_some(out))
}

#[derive(Debug, Deserialize)]
pub struct IngestParams {
    time_field: Option<String>,
}

/// `POST /api/v1/ingest/{table}`.
pub async fn ingest(
    State(state): State<IngestState>,
    Path(table): Path<String>,
    Query(params): Query<IngestParams>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    if let Err(error) = shoal_leaf::store::validate_table_name(&table) {
        return answer(
            StatusCode::BAD_REQUEST,
            json!({ "error": error.to_string() }),
        );
    }
    let (bytes, _permit) = match read_body(&state, &headers, body).await {
        Ok(read) => read,
        Err(response) => return response,
    };
    let time_field = params.time_field.clone();
    let parsed =
        tokio::task::spawn_blocking(move || parse_body(&bytes, time_field.as_deref())).await;
    let parsed = match parsed {
        Ok(Ok(parsed)) => parsed,
        Ok(Err(reason)) => {
            return answer(StatusCode::UNPROCESSABLE_ENTITY, json!({ "error": reason }));
        }
        Err(error) => {
            return answer(
                StatusCode::INTERNAL_SERVER_ERROR,
                json!({ "error": error.to_string() }),
            );
        }
    };
    // The catalog is refreshed every second; a leaf that refuses a column's
    // type knows better, so refresh once and convert again.
    let mut attempt = 0;
    let (accepted, mut errors) = loop {
        attempt += 1;
        let known = state.fleet.table(&table);
        let rows = parsed.rows.clone();
        let converted =
            match tokio::task::spawn_blocking(move || rows_to_batch(known.as_ref(), rows)).await {
                Ok(Ok(converted)) => converted,
                Ok(Err(reason)) => {
                    return answer(
                        StatusCode::INTERNAL_SERVER_ERROR,
                        json!({ "error": reason }),
                    );
                }
                Err(error) => {
                    return answer(
                        StatusCode::INTERNAL_SERVER_ERROR,
                        json!({ "error": error.to_string() }),
                    );
                }
            };
        let Some(batch) = converted.batch else {
            break (0, converted.errors);
        };
        match route(&state, &table, batch).await {
            Ok(rows) => break (rows, converted.errors),
            Err(response) if attempt == 1 && response.status() == StatusCode::BAD_REQUEST => {
                state.fleet.refresh().await;
            }
            Err(response) => return response,
        }
    };
    errors.extend(parsed.errors);
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

/// Routes `batch` in leaf-sized pieces; answers 503/400 on failure.
async fn route(
    state: &IngestState,
    table: &str,
    batch: arrow::array::RecordBatch,
) -> Result<u64, Response> {
    let mut stored = 0;
    let mut offset = 0;
    while offset < batch.num_rows() {
        let length = ROUTE_ROWS.min(batch.num_rows() - offset);
        let piece = batch.slice(offset, length);
        match state
            .router
            .route_batches(table, std::slice::from_ref(&piece))
            .await
        {
            Ok(rows) => stored += rows,
            Err(AggregatorError::NoLeafForIngest(reason)) => {
                return Err(retry_later(
                    StatusCode::SERVICE_UNAVAILABLE,
                    5,
                    format!("no leaf can take rows: {reason}"),
                ));
            }
            Err(error) => {
                return Err(answer(
                    StatusCode::BAD_REQUEST,
                    json!({ "error": error.to_string() }),
                ));
            }
        }
        offset += length;
    }
    state.metrics.ingested(stored);
    Ok(stored)
}

/// `POST /_bulk` and `POST /{index}/_bulk`: Elasticsearch's bulk format,
/// the index naming the table. Only `index` and `create` actions store rows.
pub async fn bulk(
    State(state): State<IngestState>,
    index: Option<Path<String>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let started = Instant::now();
    let default_index = index.map(|Path(index)| index);
    let (bytes, _permit) = match read_body(&state, &headers, body).await {
        Ok(read) => read,
        Err(response) => return response,
    };
    let mut items: Vec<Value> = Vec::new();
    // index → (item positions, rows)
    let mut tables: std::collections::BTreeMap<
        String,
        (Vec<usize>, Vec<crate::ingest::json_rows::JsonRow>),
    > = Default::default();
    let mut lines = bytes
        .split(|&b| b == b'\n')
        .filter(|l| !l.trim_ascii().is_empty());
    while let Some(action_line) = lines.next() {
        let action: Value = match serde_json::from_slice(action_line) {
            Ok(action) => action,
            Err(error) => {
                return answer(
                    StatusCode::BAD_REQUEST,
                    json!({"error": {"type": "parse_exception", "reason": format!("bad action line: {error}")}, "status": 400}),
                );
            }
        };
        let Some((kind, meta)) = action.as_object().and_then(|o| o.iter().next()) else {
            return answer(
                StatusCode::BAD_REQUEST,
                json!({"error": {"type": "parse_exception", "reason": "an action line must be an object like {\"index\": {}}"}, "status": 400}),
            );
        };
        let kind = kind.clone();
        let table = meta
            .get("_index")
            .and_then(Value::as_str)
            .map(str::to_string)
            .or_else(|| default_index.clone());
        let id = meta.get("_id").cloned().unwrap_or(Value::Null);
        let position = items.len();
        if kind == "delete" {
            items.push(bulk_item(
                &kind,
                table.as_deref().unwrap_or(""),
                &id,
                400,
                Some("delete is not supported"),
            ));
            continue;
        }
        let document = lines.next();
        if !matches!(kind.as_str(), "index" | "create") {
            items.push(bulk_item(
                &kind,
                table.as_deref().unwrap_or(""),
                &id,
                400,
                Some("only index and create actions are supported"),
            ));
            continue;
        }
        let Some(table) = table.filter(|t| shoal_leaf::store::validate_table_name(t).is_ok())
        else {
            items.push(bulk_item(
                &kind,
                "",
                &id,
                400,
                Some("no valid _index for this document"),
            ));
            continue;
        };
        let parsed = document
            .ok_or_else(|| "the action has no document line".to_string())
            .and_then(|line| {
                serde_json::from_slice::<Value>(line).map_err(|e| format!("not JSON: {e}"))
            })
            .and_then(|value| match value {
                Value::Object(object) => row_from_object(object, None),
                _ => Err("the document is not a JSON object".to_string()),
            });
        items.push(bulk_item(&kind, &table, &id, 201, None));
        match parsed {
            Ok(fields) => {
                let entry = tables.entry(table).or_default();
                entry.0.push(position);
                entry.1.push(crate::ingest::json_rows::JsonRow {
                    line: position,
                    fields,
                });
            }
            Err(reason) => items[position] = bulk_item(&kind, &table, &id, 400, Some(&reason)),
        }
    }
    for (table, (positions, rows)) in tables {
        let known = state.fleet.table(&table);
        let converted = match rows_to_batch(known.as_ref(), rows) {
            Ok(converted) => converted,
            Err(reason) => {
                for &position in &positions {
                    set_status(&mut items[position], 400, Some(&reason));
                }
                continue;
            }
        };
        for error in &converted.errors {
            set_status(&mut items[error.line], 400, Some(&error.reason));
        }
        let Some(batch) = converted.batch else {
            continue;
        };
        if let Err(response) = route(&state, &table, batch).await {
            let status = response.status().as_u16();
            let retryable = if status == 503 { 429 } else { status };
            for &position in &positions {
                if item_status(&items[position]) == 201 {
                    set_status(
                        &mut items[position],
                        retryable,
                        Some("the store is overloaded; retry"),
                    );
                }
            }
        }
    }
    let errors = items.iter().any(|item| item_status(item) >= 300);
    answer(
        StatusCode::OK,
        json!({ "took": started.elapsed().as_millis() as u64, "errors": errors, "items": items }),
    )
}

fn bulk_item(kind: &str, index: &str, id: &Value, status: u16, error: Option<&str>) -> Value {
    let mut item = json!({ "_index": index, "_id": id, "status": status });
    if let Some(reason) = error {
        item["error"] = json!({ "type": "mapper_parsing_exception", "reason": reason });
    } else {
        item["result"] = json!("created");
    }
    json!({ kind: item })
}

fn item_status(item: &Value) -> u16 {
    item.as_object()
        .and_then(|o| o.values().next())
        .and_then(|inner| inner["status"].as_u64())
        .unwrap_or(500) as u16
}

fn set_status(item: &mut Value, status: u16, reason: Option<&str>) {
    if let Some(inner) = item.as_object_mut().and_then(|o| o.values_mut().next()) {
        inner["status"] = json!(status);
        if let Some(reason) = reason {
            let kind = if status == 429 {
                "es_rejected_execution_exception"
            } else {
                "mapper_parsing_exception"
            };
            inner["error"] = json!({ "type": kind, "reason": reason });
            if let Some(object) = inner.as_object_mut() {
                object.remove("result");
            }
        }
    }
}

/// What `GET /` tells an Elasticsearch client, which probes before sending.
pub fn elasticsearch_probe() -> Value {
    json!({
        "name": "shoal",
        "cluster_name": "shoal",
        "version": {
            "number": "8.11.0",
            "build_flavor": "default",
            "lucene_version": "9.8.0",
            "minimum_wire_compatibility_version": "7.17.0",
            "minimum_index_compatibility_version": "7.0.0"
        },
        "tagline": "You Know, for Search"
    })
}
