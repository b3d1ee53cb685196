//! OTLP logs over gRPC: `opentelemetry.proto.collector.logs.v1.LogsService/Export`,
//! served on the aggregator's gRPC (`--flight`) port beside Flight SQL, so an
//! OpenTelemetry SDK or Collector needs only that address as its endpoint.
//! The request reaches the service as bytes ([`RawRequests`]) and is read
//! in place as `POST /v1/logs` reads it.
//!
//! Codes, as the OTLP specification reads them: `OK` (with partial success
//! when some records were rejected), `UNAVAILABLE` when the ingest buffer is
//! full or no leaf can take rows now (retried by exporters),
//! `INVALID_ARGUMENT` for a message that is not an `ExportLogsServiceRequest`
//! or an invalid `x-shoal-table` (not retried), `PERMISSION_DENIED` when
//! the caller may not write a table the records go to (a message prost
//! refuses gets `INVALID_ARGUMENT` first); records the leaves refuse are
//! rejected in the partial success. A message over `--max-body` (before
//! or after decompression) gets `INVALID_ARGUMENT` naming the limit
//! ([`SizeLimitAnswer`]), so exporters drop it rather than retry a batch
//! that can never fit.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceResponse;
use tonic::body::Body;
use tonic::codec::CompressionEncoding;
use tonic::server::{Grpc, NamedService, UnaryService};
use tonic::{Request, Response, Status};

use crate::auth::grpc_layer::caller_of;
use crate::ingest::otlp_export::{ExportError, export_logs};
use crate::ingest::otlp_grpc_codec::RawRequests;
use crate::ingest::otlp_grpc_limit::SizeLimitAnswer;
use crate::ingest::otlp_rows::TABLE_HEADER;
use crate::ingest::state::IngestState;

/// The service's one method.
const EXPORT_PATH: &str = "/opentelemetry.proto.collector.logs.v1.LogsService/Export";

type Boxed<T, E> = Pin<Box<dyn Future<Output = Result<T, E>> + Send>>;

/// The gRPC logs service.
#[derive(Debug, Clone)]
pub struct OtlpLogs {
    state: IngestState,
}

impl OtlpLogs {
    /// The service, taking gzip- or zstd-compressed requests up to the
    /// ingest body limit and answering larger ones as the module docs say.
    pub fn server(state: IngestState) -> SizeLimitAnswer<Self> {
        let limit = state.max_body_bytes;
        SizeLimitAnswer::new(Self { state }, limit)
    }
}

impl NamedService for OtlpLogs {
    const NAME: &'static str = "opentelemetry.proto.collector.logs.v1.LogsService";
}

impl<B> tower::Service<http::Request<B>> for OtlpLogs
where
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>> + Send + 'static,
{
    type Response = http::Response<Body>;
    type Error = Infallible;
    type Future = Boxed<Self::Response, Infallible>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        let state = self.state.clone();
        Box::pin(async move {
            if request.uri().path() != EXPORT_PATH {
                return Ok(Status::unimplemented("no such method").into_http());
            }
            let mut grpc = Grpc::new(RawRequests)
                .accept_compressed(CompressionEncoding::Gzip)
                .accept_compressed(CompressionEncoding::Zstd)
                .max_decoding_message_size(state.max_body_bytes);
            Ok(grpc.unary(Export { state }, request).await)
        })
    }
}

/// `Export`, on the request's bytes.
struct Export {
    state: IngestState,
}

impl UnaryService<Bytes> for Export {
    type Response = ExportLogsServiceResponse;
    type Future = Boxed<Response<ExportLogsServiceResponse>, Status>;

    fn call(&mut self, request: Request<Bytes>) -> Self::Future {
        let state = self.state.clone();
        Box::pin(async move {
            let table = request
                .metadata()
                .get(TABLE_HEADER)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string);
            let caller = caller_of(&request);
            let body = request.into_inner();
            let Some(_permit) = state.reserve(body.len()) else {
                return Err(Status::unavailable(
                    "the ingest buffer is full; retry shortly",
                ));
            };
            match export_logs(&state, &caller, body, table).await {
                Ok(response) => Ok(Response::new(response)),
                Err(ExportError::NotRequest(reason)) => Err(Status::invalid_argument(format!(
                    "the message is not an ExportLogsServiceRequest: {reason}"
                ))),
                Err(ExportError::Store(error)) => Err(error.into()),
            }
        })
    }
}
