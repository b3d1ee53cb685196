//! Reading an ingest request's body over HTTP: within the body limit,
//! holding room in the ingest buffer, with its `Content-Encoding` (gzip,
//! zstd) undone and the decompressed size bounded too (a gzip bomb is 413,
//! not an out-of-memory). Also the JSON answers the HTTP front ends share.

use std::io::Read;

use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use tokio::sync::OwnedSemaphorePermit;

use crate::ingest::state::IngestState;

/// A JSON answer.
pub fn answer(status: StatusCode, body: Value) -> Response {
    (status, axum::Json(body)).into_response()
}

/// An answer telling the client to retry after `seconds`.
pub fn retry_later(status: StatusCode, seconds: u32, message: String) -> Response {
    let mut response = answer(status, json!({ "error": message }));
    if let Ok(value) = seconds.to_string().parse() {
        response.headers_mut().insert(header::RETRY_AFTER, value);
    }
    response
}

/// Reads the body within the limit and undoes its `Content-Encoding`.
pub async fn read_body(
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
    let decoder: Decompressor = match encoding.as_str() {
        "" | "identity" => return Ok((bytes, permit)),
        "gzip" | "x-gzip" => {
            |bytes, limit| decompress(flate2::read::MultiGzDecoder::new(bytes.as_ref()), limit)
        }
        "zstd" => |bytes, limit| match zstd::stream::read::Decoder::new(bytes.as_ref()) {
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
    // Decompressing up to the limit is CPU work: off the async runtime.
    let decoded = tokio::task::spawn_blocking(move || decoder(bytes, limit))
        .await
        .unwrap_or_else(|e| Err(e.to_string()));
    match decoded {
        Ok(Some(decoded)) => Ok((decoded.into(), permit)),
        Ok(None) => Err(too_large("decompressed body")),
        Err(error) => Err(answer(
            StatusCode::BAD_REQUEST,
            json!({"error": format!("the {encoding} body could not be decompressed: {error}")}),
        )),
    }
}

/// Decompresses a body, at most `limit` bytes of it (`None` past that).
type Decompressor = fn(Bytes, usize) -> Result<Option<Vec<u8>>, String>;

/// Decompresses at most `limit` bytes; `None` past that (a bomb).
fn decompress(reader: impl Read, limit: usize) -> Result<Option<Vec<u8>>, String> {
    let mut out = Vec::new();
    reader
        .take(limit as u64 + 1)
        .read_to_end(&mut out)
        .map_err(|e| e.to_string())?;
    Ok((out.len() <= limit).then_some(out))
}
