//! Ingestion from log pipelines: JSON rows or OTLP log records in, Arrow
//! batches out, routed to leaves.
//!
//! ```text
//!  HTTP body ─► body: bounded, gzip/zstd undone
//!  NDJSON    ─► ndjson: cut into lines ─► decode_lines: chunks on all cores, each
//!  _bulk     ─► bulk: action lines read,    line by json_line (serde visitors, no
//!               documents kept as ranges    Value per row) into column_set's builders
//!                                           (type rules, bad rows rejected with their
//!                                           line) ─► merge: one batch
//!  OTLP      ─► otlp_view: the protobuf read in place (otlp_wire; prost for
//!               odd encodings) ─► otlp_columns: each log record a row (columns
//!               as otlp_rows describes them; records shaped like one before
//!               go by otlp_shape), into the same column_set builders
//!  JSON array ─► json_rows: a map per row ─► to_arrow: the same builders
//!  batch     ─► store ─► route_pieces: cut for several leaves at once, each
//!               piece sent by the power of two choices; answered once leaves
//!               hold it (a stale catalog: decoded again, once)
//! ```
//!
//! Front ends: `http_ingest` (`POST /api/v1/ingest/{table}`), `bulk`
//! (Elasticsearch `POST /_bulk` and the `GET /` probe, its answer in
//! `bulk_item`), `otlp_http` (`POST /v1/logs`) and `otlp_grpc`
//! (`LogsService/Export` on the gRPC port, the request as bytes by
//! `otlp_grpc_codec`, its over-limit answer in `otlp_grpc_limit`).

pub mod body;
pub mod buffer;
pub mod bulk;
pub mod bulk_item;
pub mod column_data;
pub mod column_set;
pub mod decode_lines;
pub mod http_ingest;
pub mod json_array;
pub mod json_discard;
pub mod json_fast;
pub mod json_line;
pub mod json_rows;
pub mod json_shape;
pub mod merge;
pub mod ndjson;
pub mod otlp_attributes;
pub mod otlp_columns;
pub mod otlp_export;
pub mod otlp_grpc;
pub mod otlp_grpc_codec;
pub mod otlp_grpc_limit;
pub mod otlp_http;
pub mod otlp_read;
pub mod otlp_rows;
pub mod otlp_shape;
pub mod otlp_view;
pub mod otlp_wire;
pub mod parallel;
pub mod route_pieces;
pub mod scalar;
pub mod state;
pub mod store;
pub mod time_text;
pub mod to_arrow;
pub mod utf8;
