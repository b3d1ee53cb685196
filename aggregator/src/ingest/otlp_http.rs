//! OTLP logs over HTTP: `POST /v1/logs` with an `ExportLogsServiceRequest`
//! as protobuf (`application/x-protobuf`) or as OTLP's JSON
//! (`application/json`), optionally gzip or zstd. The answer is in the
//! request's encoding.
//!
//! | answer | when                                                          |
//! |--------|---------------------------------------------------------------|
//! | 200    | stored; partial success counts and names rejected records (a bad value, or a table the leaves refuse) |
//! | 400    | the body does not decode, or `x-shoal-table` is not a table name |
//! | 403    | the caller may not write a table the records go to (a body that does not decode gets 400 first) |
//! | 413    | the body (or its decompressed form) is over the limit          |
//! | 415    | neither protobuf nor JSON                                      |
//! | 429    | the ingest buffer is full; `Retry-After`                       |
//! | 503    | no leaf can take rows now; `Retry-After`                       |
//!
//! Failures carry a `google.rpc.Status` (code and message) as the OTLP
//! specification asks; exporters retry 429 and 503 and drop the others.

use axum::body::Body;
use axum::extract::{Extension, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use prost::Message;
use serde::Serialize;

use crate::auth::Caller;
use crate::ingest::body::read_body;
use crate::ingest::otlp_export::{ExportError, export_logs};
use crate::ingest::otlp_rows::TABLE_HEADER;
use crate::ingest::state::IngestState;
use crate::ingest::store::StoreError;

/// How the request (and so the answer) is encoded.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Encoding {
    Protobuf,
    Json,
}

impl Encoding {
    fn content_type(self) -> &'static str {
        match self {
            Self::Protobuf => "application/x-protobuf",
            Self::Json => "application/json",
        }
    }

    fn encode<M: Message + Serialize>(self, message: &M) -> Vec<u8> {
        match self {
            Self::Protobuf => message.encode_to_vec(),
            Self::Json => serde_json::to_vec(message).unwrap_or_default(),
        }
    }
}

/// `google.rpc.Status`, the body of a failed OTLP/HTTP answer.
#[derive(Clone, PartialEq, Message, Serialize)]
struct RpcStatus {
    #[prost(int32, tag = "1")]
    code: i32,
    #[prost(string, tag = "2")]
    message: String,
}

fn reply<M: Message + Serialize>(status: StatusCode, encoding: Encoding, message: &M) -> Response {
    let mut response = (status, encoding.encode(message)).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(encoding.content_type()),
    );
    if matches!(
        status,
        StatusCode::TOO_MANY_REQUESTS | StatusCode::SERVICE_UNAVAILABLE
    ) {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
    }
    response
}

fn failure(status: StatusCode, encoding: Encoding, message: String) -> Response {
    let code = match status {
        StatusCode::TOO_MANY_REQUESTS | StatusCode::SERVICE_UNAVAILABLE => tonic::Code::Unavailable,
        StatusCode::PAYLOAD_TOO_LARGE => tonic::Code::ResourceExhausted,
        StatusCode::INTERNAL_SERVER_ERROR => tonic::Code::Internal,
        _ => tonic::Code::InvalidArgument,
    };
    let status_message = RpcStatus {
        code: code as i32,
        message,
    };
    reply(status, encoding, &status_message)
}

/// `POST /v1/logs`.
pub async fn export(
    State(state): State<IngestState>,
    Extension(caller): Extension<Caller>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    let encoding = if content_type.starts_with("application/json") {
        Encoding::Json
    } else if content_type.starts_with("application/x-protobuf")
        || content_type.starts_with("application/protobuf")
    {
        Encoding::Protobuf
    } else {
        return failure(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Encoding::Json,
            format!(
                "Content-Type {content_type:?} is not supported: send application/x-protobuf or application/json"
            ),
        );
    };
    let (bytes, _permit) = match read_body(&state, &headers, body).await {
        Ok(read) => read,
        Err(error) => return failure(error.status, encoding, error.message),
    };
    let body = match encoding {
        Encoding::Protobuf => Ok(bytes),
        // JSON is stored as its protobuf encoding: one nested deeper than
        // prost decodes is refused as the same protobuf would be.
        Encoding::Json => tokio::task::spawn_blocking(move || {
            serde_json::from_slice::<ExportLogsServiceRequest>(&bytes)
                .map(|request| bytes::Bytes::from(request.encode_to_vec()))
                .map_err(|e| e.to_string())
        })
        .await
        .unwrap_or_else(|e| Err(e.to_string())),
    };
    let not_request = |reason: String| {
        let what = match encoding {
            Encoding::Protobuf => "protobuf",
            Encoding::Json => "OTLP JSON",
        };
        failure(
            StatusCode::BAD_REQUEST,
            encoding,
            format!("the body is not an ExportLogsServiceRequest in {what}: {reason}"),
        )
    };
    let request = match body {
        Ok(request) => request,
        Err(reason) => return not_request(reason),
    };
    let table = headers
        .get(TABLE_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    match export_logs(&state, &caller, request, table).await {
        Ok(response) => reply(StatusCode::OK, encoding, &response),
        Err(ExportError::NotRequest(reason)) => not_request(reason),
        Err(ExportError::Store(error)) => store_failure(encoding, error),
    }
}

/// The answer to an export no leaf stored.
fn store_failure(encoding: Encoding, error: StoreError) -> Response {
    match error {
        error @ StoreError::NoLeaf { .. } => {
            failure(StatusCode::SERVICE_UNAVAILABLE, encoding, error.to_string())
        }
        error @ StoreError::Refused { .. } => {
            failure(StatusCode::BAD_REQUEST, encoding, error.to_string())
        }
        error @ StoreError::Forbidden(_) => {
            failure(StatusCode::FORBIDDEN, encoding, error.to_string())
        }
        error @ (StoreError::Internal(_) | StoreError::NotJson(_)) => failure(
            StatusCode::INTERNAL_SERVER_ERROR,
            encoding,
            error.to_string(),
        ),
    }
}
