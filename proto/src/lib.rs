//! The wire between Shoal aggregators and leaves: protobuf messages and the
//! `Leaf` gRPC service, generated from `proto/shoal.proto`.
//!
//! This crate owns message shapes only. Arrow data is never encoded here row
//! by row: it travels as Arrow IPC bytes (ingest) or Arrow Flight (scans).

#![allow(clippy::derive_partial_eq_without_eq)]

pub mod check_layer;
pub mod cluster_auth;
pub mod http2_windows;
pub mod time_spans;
pub mod tls;

/// Generated messages and the `Leaf` service of package `shoal.v1`.
pub mod v1 {
    tonic::include_proto!("shoal.v1");
}

pub use v1::leaf_client::LeafClient;
pub use v1::leaf_server::{Leaf, LeafServer};
pub use v1::{
    BlockChunk, BlockRef, ColumnStatus, DrainRequest, DrainResponse, DropTableRequest,
    DropTableResponse, FragmentCompleteness, FragmentRequest, HandoverRequest, HandoverResponse,
    IngestRequest, IngestResponse, LeafStatus, LeaveRequest, LeaveResponse, Projection,
    RestartRequest, RestartResponse, ScanRequest, StatusRequest, TableScanNode, TableStatus,
    Ticket, TimeSpan,
};

use prost::Message;

/// `type_url` of a ticket holding a [`ScanRequest`].
pub const SCAN_TICKET_TYPE: &str = "type.googleapis.com/shoal.v1.ScanRequest";
/// `type_url` of a ticket holding a [`FragmentRequest`].
pub const FRAGMENT_TICKET_TYPE: &str = "type.googleapis.com/shoal.v1.FragmentRequest";

/// What a leaf ticket asks for.
#[derive(Debug, Clone)]
pub enum TicketRequest {
    Scan(ScanRequest),
    Fragment(FragmentRequest),
}

impl TicketRequest {
    /// Encodes the request as Flight ticket bytes.
    pub fn encode_ticket(&self) -> Vec<u8> {
        let (type_url, value) = match self {
            Self::Scan(scan) => (SCAN_TICKET_TYPE, scan.encode_to_vec()),
            Self::Fragment(fragment) => (FRAGMENT_TICKET_TYPE, fragment.encode_to_vec()),
        };
        Ticket {
            type_url: type_url.to_string(),
            value,
        }
        .encode_to_vec()
    }

    /// Decodes ticket `value` bytes of type `type_url`.
    pub fn decode_any(type_url: &str, value: &[u8]) -> Result<Self, String> {
        let bad = |e: prost::DecodeError| format!("bad {type_url} ticket: {e}");
        match type_url {
            SCAN_TICKET_TYPE => ScanRequest::decode(value).map(Self::Scan).map_err(bad),
            FRAGMENT_TICKET_TYPE => FragmentRequest::decode(value)
                .map(Self::Fragment)
                .map_err(bad),
            other => Err(format!("unknown ticket type {other:?}")),
        }
    }

    /// Decodes Flight ticket bytes.
    pub fn decode_ticket(bytes: &[u8]) -> Result<Self, String> {
        let ticket =
            Ticket::decode(bytes).map_err(|e| format!("ticket is not a Shoal ticket: {e}"))?;
        Self::decode_any(&ticket.type_url, &ticket.value)
    }
}
