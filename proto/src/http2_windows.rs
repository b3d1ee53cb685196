//! HTTP/2 flow control of the gRPC links inside a cluster (aggregator to
//! leaf, both ways), sized for what they carry: ingest sends each leaf
//! Arrow IPC pieces of 1 to 8 MiB, and leaves answer scans with batches of
//! that order.
//!
//! With h2's defaults (16 KiB frames, and a 1 MiB window on a tonic
//! server) a 1 MiB piece crossed loopback in about 5.5 ms where the leaf
//! took 1.3 ms to store it: 64 frames, each handled on its own, and a
//! window update to wait for. With 1 MiB frames and windows larger than a
//! piece it took 3.7 ms (`shoal local --leaves 4`, one client sending
//! 8 MiB NDJSON requests; the README's "HTTP/2 windows" has the figures).
//!
//! The cost: a peer may have a connection's window of bytes buffered by the
//! receiver before the receiver reads them, 16 MiB here where it was 1 MiB.
//! Leaves serve only their cluster (their port should not be reachable from
//! clients, and every call must carry the cluster secret); the aggregator's
//! public gRPC server keeps h2's windows and takes only the larger frames.

use tonic::transport::{Endpoint, Server};

/// Bytes one stream may have in flight before its receiver reads them.
pub const STREAM_WINDOW_BYTES: u32 = 8 << 20;
/// Bytes all the streams of one connection may have in flight.
pub const CONNECTION_WINDOW_BYTES: u32 = 16 << 20;
/// The largest DATA frame a peer may send (h2's default is 16 KiB).
pub const MAX_FRAME_BYTES: u32 = 1 << 20;

/// A leaf's gRPC server with the cluster's windows and frames.
pub fn cluster_server<L>(server: Server<L>) -> Server<L> {
    server
        .initial_stream_window_size(STREAM_WINDOW_BYTES)
        .initial_connection_window_size(CONNECTION_WINDOW_BYTES)
        .max_frame_size(MAX_FRAME_BYTES)
}

/// An aggregator's channel to a leaf with the cluster's windows and frames.
pub fn cluster_endpoint(endpoint: Endpoint) -> Endpoint {
    endpoint
        .initial_stream_window_size(STREAM_WINDOW_BYTES)
        .initial_connection_window_size(CONNECTION_WINDOW_BYTES)
        .max_frame_size(MAX_FRAME_BYTES)
}

/// A public gRPC server (clients' Flight SQL, bulk ingest and OTLP): the
/// larger frames only, which buffer nothing more than h2's windows allow.
pub fn public_server<L>(server: Server<L>) -> Server<L> {
    server.max_frame_size(MAX_FRAME_BYTES)
}
