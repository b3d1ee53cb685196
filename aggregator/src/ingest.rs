//! Ingestion from log pipelines: JSON rows or OTLP log records in, Arrow
//! batches out, routed to leaves.
//!
//! ```text
//!  HTTP body ─► body: bounded, gzip/zstd undone ─► json_rows: NDJSON lines or a JSON
//!               array, each an object, flattened (`user.id`), time normalised
//!  OTLP      ─► otlp_rows: each log record a row, grouped into tables
//!  rows      ─► store: to_arrow checks each row against the table's column types
//!               (bad rows rejected with their line), arrow-json decodes the rest,
//!               routing sends them by the power of two choices; answered once a
//!               leaf holds them
//! ```
//!
//! Front ends: `http_ingest` (`POST /api/v1/ingest/{table}`), `bulk`
//! (Elasticsearch `POST /_bulk` and the `GET /` probe), `otlp_http`
//! (`POST /v1/logs`) and `otlp_grpc` (`LogsService/Export` on the gRPC port, its over-limit
//! answer in `otlp_grpc_limit`).

pub mod body;
pub mod buffer;
pub mod bulk;
pub mod http_ingest;
pub mod json_rows;
pub mod otlp_export;
pub mod otlp_grpc;
pub mod otlp_grpc_limit;
pub mod otlp_http;
pub mod otlp_rows;
pub mod state;
pub mod store;
pub mod to_arrow;
