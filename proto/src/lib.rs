//! The wire between Shoal aggregators and leaves: protobuf messages and the
//! `Leaf` gRPC service, generated from `proto/shoal.proto`.
//!
//! This crate owns message shapes only. Arrow data is never encoded here row
//! by row: it travels as Arrow IPC bytes (ingest) or Arrow Flight (scans).

#![allow(clippy::derive_partial_eq_without_eq)]

/// Generated messages and the `Leaf` service of package `shoal.v1`.
pub mod v1 {
    tonic::include_proto!("shoal.v1");
}

pub use v1::leaf_client::LeafClient;
pub use v1::leaf_server::{Leaf, LeafServer};
pub use v1::{
    ColumnStatus, FragmentCompleteness, FragmentRequest, IngestRequest, IngestResponse, LeafStatus,
    LeafTicket, Projection, ScanRequest, StatusRequest, TableScanNode, TableStatus, leaf_ticket,
};
