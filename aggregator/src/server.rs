//! Wiring of one aggregator process: the fleet, the query engine, the Flight
//! SQL (+ child) gRPC server with its trailers layer, and the HTTP server.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use arrow_flight::flight_service_server::FlightServiceServer;
use futures::FutureExt;
use shoal_leaf::server::incoming_without_delay;
use shoal_proto::LeafServer;
use tokio::net::TcpListener;

use crate::child::ChildService;
use crate::error::{AggregatorError, Result};
use crate::fleet::{Fleet, MAX_MESSAGE_BYTES};
use crate::flight_sql::FlightSqlFrontEnd;
use crate::http::{HttpState, router};
use crate::ingest::otlp_grpc::OtlpLogs;
use crate::ingest::state::IngestState;
use crate::metrics::Metrics;
use crate::query::QueryEngine;
use crate::routing::IngestRouter;
use crate::trailers::TrailersLayer;

/// How an aggregator process is set up.
#[derive(Debug, Clone)]
pub struct AggregatorConfig {
    /// Flight SQL, and the leaf-like calls of a child aggregator.
    pub flight: SocketAddr,
    pub http: SocketAddr,
    /// Children: leaves or other aggregators (`host:port`).
    pub leaves: Vec<String>,
    /// Default query deadline.
    pub deadline: Duration,
    /// Largest ingest body, compressed or not.
    pub max_body_bytes: usize,
}

/// Default `--max-body`: 64 MiB.
pub const DEFAULT_MAX_BODY_BYTES: usize = 64 * 1024 * 1024;
/// Bytes of ingest requests being decoded and routed at once (429 past it).
const INGEST_BUFFER_BYTES: usize = 256 * 1024 * 1024;

/// Addresses an aggregator listens on (useful when asked for port 0).
#[derive(Debug, Clone, Copy)]
pub struct BoundAddresses {
    pub flight: SocketAddr,
    pub http: SocketAddr,
}

/// Serves until `shutdown` resolves; `ready` gets the bound addresses.
pub async fn run_aggregator(
    config: AggregatorConfig,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ready: impl FnOnce(BoundAddresses) + Send,
) -> Result<()> {
    let fleet = Fleet::new(&config.leaves)?;
    fleet.refresh().await;
    fleet.spawn_refresh(Duration::from_secs(1));
    let engine = QueryEngine::new(fleet.clone(), config.deadline);
    let router_for_ingest = IngestRouter::new(fleet.clone());
    let metrics = Arc::new(Metrics::new(fleet.clone()));

    let bind = |address: SocketAddr| async move {
        TcpListener::bind(address)
            .await
            .map_err(|e| AggregatorError::InvalidOption {
                what: "listen address",
                value: address.to_string(),
                reason: e.to_string(),
            })
    };
    let flight_listener = bind(config.flight).await?;
    let http_listener = bind(config.http).await?;
    let addresses = BoundAddresses {
        flight: flight_listener
            .local_addr()
            .map_err(|e| AggregatorError::Internal(e.to_string()))?,
        http: http_listener
            .local_addr()
            .map_err(|e| AggregatorError::Internal(e.to_string()))?,
    };

    let flight_sql =
        FlightSqlFrontEnd::new(engine.clone(), router_for_ingest.clone(), metrics.clone())?;
    let child = ChildService::new(fleet.clone(), router_for_ingest);
    let shutdown = shutdown.shared();
    let ingest = IngestState::new(
        fleet.clone(),
        IngestRouter::new(fleet.clone()),
        metrics.clone(),
        config.max_body_bytes,
        INGEST_BUFFER_BYTES.max(config.max_body_bytes),
    );
    let grpc = tonic::transport::Server::builder()
        .layer(TrailersLayer)
        .add_service(
            FlightServiceServer::new(flight_sql)
                .max_decoding_message_size(MAX_MESSAGE_BYTES)
                .max_encoding_message_size(MAX_MESSAGE_BYTES),
        )
        .add_service(
            LeafServer::new(child)
                .max_decoding_message_size(MAX_MESSAGE_BYTES)
                .max_encoding_message_size(MAX_MESSAGE_BYTES),
        )
        .add_service(OtlpLogs::server(ingest.clone()))
        .serve_with_incoming_shutdown(incoming_without_delay(flight_listener), shutdown.clone());
    let http_listener = axum::serve::ListenerExt::tap_io(http_listener, |stream| {
        let _ = stream.set_nodelay(true);
    });
    let http = axum::serve(http_listener, router(HttpState { engine, metrics }, ingest))
        .with_graceful_shutdown(shutdown);
    ready(addresses);
    let (grpc, http) = tokio::join!(grpc, http);
    grpc.map_err(|e| AggregatorError::Internal(format!("gRPC server: {e}")))?;
    http.map_err(|e| AggregatorError::Internal(format!("HTTP server: {e}")))?;
    Ok(())
}
