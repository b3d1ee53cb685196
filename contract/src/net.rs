//! Accepting connections for the tiers' gRPC servers.

use futures::StreamExt;

/// Accepted connections with `TCP_NODELAY` set: tonic sets it only on
/// listeners it binds itself, and small responses held back by Nagle's
/// algorithm meet the peer's delayed ACK (40 ms a call).
pub fn incoming_without_delay(
    listener: tokio::net::TcpListener,
) -> impl futures::Stream<Item = std::io::Result<tokio::net::TcpStream>> {
    tokio_stream::wrappers::TcpListenerStream::new(listener).map(|stream| {
        let stream = stream?;
        stream.set_nodelay(true)?;
        Ok(stream)
    })
}
