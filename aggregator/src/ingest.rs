//! Ingestion from log pipelines: JSON rows in, Arrow batches out, routed to
//! leaves.
//!
//! ```text
//!  body ─► decompress (gzip, zstd; bounded) ─► json_rows: NDJSON lines or a JSON array,
//!          each line an object, flattened (`user.id`), time normalised
//!       ─► to_arrow: each row checked against the table's column types
//!          (bad rows rejected with their line), arrow-json decodes the rest
//!       ─► routing: power of two choices, answered once a leaf holds them
//! ```
//!
//! `http_ingest` serves `POST /api/v1/ingest/{table}`, the
//! Elasticsearch-compatible `POST /_bulk` and its `GET /` probe.

pub mod http_ingest;
pub mod json_rows;
pub mod to_arrow;
