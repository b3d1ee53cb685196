//! HTTP/2 flow control of a leaf's gRPC server, sized for what it
//! receives: ingest sends each leaf Arrow IPC pieces of 1 to 8 MiB. (A
//! receiver's settings govern what is sent to it; the aggregator's channels
//! to leaves, which receive answers, keep hyper's client settings.)
//!
//! With hyper's defaults (16 KiB frames, and a 1 MiB window on a server)
//! a 1 MiB piece took about 5.5 ms from sending to the answer, of which the
//! leaf spent 1.3 ms storing it: 64 frames, each handled on its own, and a
//! window update to wait for. With 1 MiB frames and windows larger than a
//! piece it took 3.7 to 4.0 ms (`shoal local --leaves 4`, one client
//! sending 8 MiB NDJSON requests; the README's "Lines read by their shape,
//! and HTTP/2 windows" has the figures).
//!
//! The costs. A peer may have a connection's window of bytes (16 MiB here,
//! 1 MiB before) and one frame of up to 1 MiB buffered by the leaf, even on
//! calls that will be refused (a call without the `--cluster-secret-file`
//! secret is refused on its headers, but what arrives meanwhile waits until
//! the stream is reset), and more with more connections: a leaf's port must
//! not be reachable from clients. And a small call (a fragment, a status)
//! sharing the connection with an ingest may wait behind one whole frame:
//! 1 MiB is under a millisecond on loopback or 10 Gbit/s, 8 ms at 1 Gbit/s.
//! Clients' gRPC server on an aggregator (Flight SQL, bulk ingest, OTLP)
//! keeps hyper's settings: a larger frame there would let any peer hold a
//! megabyte more per connection before any check. (An aggregator below
//! another one takes its rows through that server, with hyper's settings.)

use tonic::transport::Server;

/// Bytes one stream may have in flight before its receiver reads them.
const STREAM_WINDOW_BYTES: u32 = 8 << 20;
/// Bytes all the streams of one connection may have in flight.
const CONNECTION_WINDOW_BYTES: u32 = 16 << 20;
/// The largest frame a peer may send (h2's default is 16 KiB).
const MAX_FRAME_BYTES: u32 = 1 << 20;

/// A leaf's gRPC server with the cluster's windows and frames.
pub fn cluster_server<L>(server: Server<L>) -> Server<L> {
    server
        .initial_stream_window_size(STREAM_WINDOW_BYTES)
        .initial_connection_window_size(CONNECTION_WINDOW_BYTES)
        .max_frame_size(MAX_FRAME_BYTES)
}
