//! HTTP/2 flow control of the gRPC links inside a cluster (aggregator to
//! leaf, both ways), sized for what they carry: ingest sends each leaf
//! Arrow IPC pieces of 1 to 8 MiB, and leaves answer scans with batches of
//! that order.
//!
//! With h2's defaults (16 KiB frames, and a 1 MiB window on a tonic
//! server) a 1 MiB piece took about 5.5 ms from sending to the answer, of
//! which the leaf spent 1.3 ms storing it: 64 frames, each handled on its
//! own, and a window update to wait for. With 1 MiB frames and windows
//! larger than a piece it took 3.7 to 4.0 ms (`shoal local --leaves 4`, one client sending
//! 8 MiB NDJSON requests; the README's "Lines read by their shape, and
//! HTTP/2 windows" has the figures).
//!
//! The cost: a peer may have a connection's window of bytes buffered by the
//! receiver before the receiver reads them, 16 MiB here where it was 1 MiB,
//! and a frame of up to 1 MiB held until it is whole. Leaves serve only
//! their cluster: their port must not be reachable from clients, and with
//! `--cluster-secret-file` a caller without it is refused on its headers (its
//! buffered body dropped). Clients' gRPC server on an aggregator (Flight
//! SQL, bulk ingest, OTLP) keeps h2's frames and windows: a larger frame
//! there would let any peer, before any check, hold a megabyte per
//! connection. (An aggregator below another one takes its rows through
//! that server, with h2's settings.)

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

/// An aggregator's channel to a leaf with the cluster's windows. Its
/// frames stay h2's 16 KiB: a leaf's answers to queries then reach the
/// aggregator as they are sent, where 1 MiB frames, each held until
/// whole, made scans of a week 10% slower in the query suite.
pub fn cluster_endpoint(endpoint: Endpoint) -> Endpoint {
    endpoint
        .initial_stream_window_size(STREAM_WINDOW_BYTES)
        .initial_connection_window_size(CONNECTION_WINDOW_BYTES)
}
