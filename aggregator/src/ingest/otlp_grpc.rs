//! OTLP logs over gRPC: `opentelemetry.proto.collector.logs.v1.LogsService/Export`,
//! served on the aggregator's gRPC (`--flight`) port beside Flight SQL, so an
//! OpenTelemetry SDK or Collector needs only that address as its endpoint.
//!
//! Codes, as the OTLP specification reads them: `OK` (with partial success
//! when some records were rejected), `UNAVAILABLE` when the ingest buffer is
//! full or no leaf can take rows now (retried by exporters),
//! `INVALID_ARGUMENT` for an invalid `x-shoal-table` (not retried); records
//! the leaves refuse are rejected in the partial success. A message over
//! `--max-body` (before or after decompression) gets `INVALID_ARGUMENT`
//! naming the limit ([`SizeLimitAnswer`]), so exporters drop it rather than
//! retry a batch that can never fit.

use opentelemetry_proto::tonic::collector::logs::v1::logs_service_server::{
    LogsService, LogsServiceServer,
};
use opentelemetry_proto::tonic::collector::logs::v1::{
    ExportLogsServiceRequest, ExportLogsServiceResponse,
};
use prost::Message;
use tonic::codec::CompressionEncoding;
use tonic::{Request, Response, Status};

use crate::auth::grpc_layer::caller_of;
use crate::ingest::otlp_export::export_logs;
use crate::ingest::otlp_grpc_limit::SizeLimitAnswer;
use crate::ingest::otlp_rows::TABLE_HEADER;
use crate::ingest::state::IngestState;

/// The gRPC logs service.
#[derive(Debug, Clone)]
pub struct OtlpLogs {
    state: IngestState,
}

impl OtlpLogs {
    /// The service, taking gzip- or zstd-compressed requests up to the
    /// ingest body limit and answering larger ones as the module docs say.
    pub fn server(state: IngestState) -> SizeLimitAnswer<LogsServiceServer<Self>> {
        let limit = state.max_body_bytes;
        let server = LogsServiceServer::new(Self { state })
            .accept_compressed(CompressionEncoding::Gzip)
            .accept_compressed(CompressionEncoding::Zstd)
            .max_decoding_message_size(limit);
        SizeLimitAnswer::new(server, limit)
    }
}

#[tonic::async_trait]
impl LogsService for OtlpLogs {
    async fn export(
        &self,
        request: Request<ExportLogsServiceRequest>,
    ) -> Result<Response<ExportLogsServiceResponse>, Status> {
        let table = request
            .metadata()
            .get(TABLE_HEADER)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let caller = caller_of(&request);
        let request = request.into_inner();
        let Some(_permit) = self.state.reserve(request.encoded_len()) else {
            return Err(Status::unavailable(
                "the ingest buffer is full; retry shortly",
            ));
        };
        let response = export_logs(&self.state, &caller, request, table).await?;
        Ok(Response::new(response))
    }
}
