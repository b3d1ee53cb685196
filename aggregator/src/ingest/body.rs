//! Reading an ingest request's body over HTTP: within the body limit,
//! holding room in the ingest buffer, with its `Content-Encoding` (gzip,
//! zstd) undone and the decompressed size bounded too (a gzip bomb is 413,
//! not an out-of-memory). Also the JSON answers the HTTP front ends share.

use std::io::Read;

use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures::StreamExt;
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

/// Why a body could not be read: the status to answer, and a sentence.
#[derive(Debug)]
pub struct BodyError {
    pub status: StatusCode,
    pub message: String,
    /// Seconds after which a retry may succeed (429 only).
    pub retry_after: Option<u32>,
}

impl BodyError {
    fn new(status: StatusCode, message: String) -> Self {
        Self {
            status,
            message,
            retry_after: None,
        }
    }

    /// The JSON answer of the NDJSON and `_bulk` front ends.
    pub fn into_response(self) -> Response {
        match self.retry_after {
            Some(seconds) => retry_later(self.status, seconds, self.message),
            None => answer(self.status, json!({ "error": self.message })),
        }
    }
}

/// The body's bytes, at most `limit` of them, in one buffer made at the
/// size the client declared (not grown and copied again as it arrives).
async fn collect(body: Body, limit: usize, declared: Option<usize>) -> Result<Bytes, ()> {
    let mut chunks = body.into_data_stream();
    let mut bytes = Vec::with_capacity(declared.unwrap_or(0).min(limit));
    while let Some(chunk) = chunks.next().await {
        let chunk = chunk.map_err(|_| ())?;
        if bytes.len() + chunk.len() > limit {
            return Err(());
        }
        bytes.extend_from_slice(&chunk);
    }
    Ok(Bytes::from(bytes))
}

/// Reads the body within the limit and undoes its `Content-Encoding`.
pub async fn read_body(
    state: &IngestState,
    headers: &HeaderMap,
    body: Body,
) -> Result<(Bytes, OwnedSemaphorePermit), BodyError> {
    let limit = state.max_body_bytes;
    let too_large = |what: &str| {
        BodyError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("the {what} is over the {limit}-byte limit"),
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
        return Err(BodyError {
            status: StatusCode::TOO_MANY_REQUESTS,
            message: "the ingest buffer is full; retry shortly".to_string(),
            retry_after: Some(1),
        });
    };
    // A client that declares a body and sends it slowly, or never, holds
    // room in the buffer: only for so long.
    let bytes = match tokio::time::timeout(state.body_timeout, collect(body, limit, declared)).await
    {
        Ok(read) => read.map_err(|_| too_large("body"))?,
        Err(_) => {
            return Err(BodyError::new(
                StatusCode::REQUEST_TIMEOUT,
                format!(
                    "the body did not arrive within {} s (--body-timeout)",
                    state.body_timeout.as_secs_f64()
                ),
            ));
        }
    };
    let encoding = headers
        .get(header::CONTENT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("identity")
        .trim()
        .to_ascii_lowercase();
    let decoder: Decompressor = match encoding.as_str() {
        "" | "identity" => return Ok((bytes, permit)),
        "gzip" | "x-gzip" => |bytes, limit, state| {
            decompress(
                flate2::read::MultiGzDecoder::new(bytes.as_ref()),
                limit,
                state,
            )
        },
        "zstd" => |bytes, limit, state| match zstd::stream::read::Decoder::new(bytes.as_ref()) {
            Ok(decoder) => decompress(decoder, limit, state),
            Err(error) => Err(error.to_string()),
        },
        other => {
            return Err(BodyError::new(
                StatusCode::BAD_REQUEST,
                format!("Content-Encoding {other:?} is not supported: use gzip or zstd"),
            ));
        }
    };
    // Decompressing up to the limit is CPU work: off the async runtime.
    let blocking_state = state.clone();
    let decoded = tokio::task::spawn_blocking(move || decoder(bytes, limit, &blocking_state))
        .await
        .unwrap_or_else(|e| Err(e.to_string()));
    match decoded {
        Ok(Decoded::Whole(decoded, room)) => {
            let mut permit = permit;
            permit.merge(room);
            Ok((decoded.into(), permit))
        }
        Ok(Decoded::TooLarge) => Err(too_large("decompressed body")),
        Ok(Decoded::BufferFull) => Err(BodyError {
            status: StatusCode::TOO_MANY_REQUESTS,
            message: "the ingest buffer is full; retry shortly".to_string(),
            retry_after: Some(1),
        }),
        Err(error) => Err(BodyError::new(
            StatusCode::BAD_REQUEST,
            format!("the {encoding} body could not be decompressed: {error}"),
        )),
    }
}

/// Decompresses a body, at most `limit` bytes of it, taking room in the
/// ingest buffer as it grows.
type Decompressor = fn(Bytes, usize, &IngestState) -> Result<Decoded, String>;

/// What decompressing gave.
enum Decoded {
    /// The body, and the room it holds in the ingest buffer.
    Whole(Vec<u8>, OwnedSemaphorePermit),
    /// Past the limit (a bomb).
    TooLarge,
    /// The ingest buffer has no room for more of it.
    BufferFull,
}

/// Bytes decompressed between two reservations in the ingest buffer.
const DECOMPRESS_STEP: usize = 1024 * 1024;

/// Decompresses at most `limit` bytes, a step at a time, reserving each
/// step in the buffer before it is written: a flood of small bombs is
/// turned away (429) instead of growing memory.
fn decompress(reader: impl Read, limit: usize, state: &IngestState) -> Result<Decoded, String> {
    let mut reader = reader.take(limit as u64 + 1);
    let mut out = Vec::new();
    let mut room: Option<OwnedSemaphorePermit> = None;
    loop {
        let Some(step) = state.reserve(DECOMPRESS_STEP) else {
            return Ok(Decoded::BufferFull);
        };
        match room.as_mut() {
            Some(room) => room.merge(step),
            None => room = Some(step),
        }
        let read = (&mut reader)
            .take(DECOMPRESS_STEP as u64)
            .read_to_end(&mut out)
            .map_err(|e| e.to_string())?;
        if out.len() > limit {
            return Ok(Decoded::TooLarge);
        }
        if read < DECOMPRESS_STEP {
            break;
        }
    }
    match room {
        Some(room) => Ok(Decoded::Whole(out, room)),
        None => Ok(Decoded::BufferFull),
    }
}
