//! Wiring of one aggregator process: the fleet, the query engine, the Flight
//! SQL (+ child) gRPC server with its trailers layer, and the HTTP server.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use arrow_flight::flight_service_server::FlightServiceServer;
use futures::FutureExt;
use shoal_contract::net::incoming_without_delay;
use shoal_contract::{Gossip, GossipSettings, Member, MemberState, RestartSignal, Role};
use shoal_proto::LeafServer;
use tokio::net::TcpListener;

use crate::auth::Authenticator;
use crate::auth::browser::CorsOrigins;
use crate::auth::grpc_layer::grpc_auth;
use crate::child::ChildService;
use crate::error::{AggregatorError, Result};
use crate::fleet::{Fleet, MAX_MESSAGE_BYTES};
use crate::fleet_gossip::FleetGossip;
use crate::flight_sql::FlightSqlFrontEnd;
use crate::http::fleet::FleetState;
use crate::http::{HttpState, router};
use crate::https::{http_acceptor, serve_https};
use crate::ingest::otlp_grpc::OtlpLogs;
use crate::ingest::state::IngestState;
use crate::metrics::Metrics;
use crate::query::QueryEngine;
use crate::query::QueryLimits;
use crate::routing::IngestRouter;
use crate::trailers::TrailersLayer;
use shoal_proto::tls::{TlsFiles, client_tls};

/// How an aggregator process is set up.
#[derive(Debug, Clone)]
pub struct AggregatorConfig {
    /// Flight SQL, and the leaf-like calls of a child aggregator.
    pub flight: SocketAddr,
    pub http: SocketAddr,
    /// Children: leaves or other aggregators (`host:port`).
    pub leaves: Vec<String>,
    /// Find leaves by gossip too (`--gossip`, `--seeds`).
    pub gossip: Option<GossipSettings>,
    /// Set for a process that can restart itself in place (`shoal
    /// aggregator`): the `Restart` call asks for it, and the servers then
    /// wind down.
    pub restart: Option<Arc<RestartSignal>>,
    /// Default query deadline.
    pub deadline: Duration,
    /// Largest ingest body, compressed or not.
    pub max_body_bytes: usize,
    /// Tokens and cluster secret: who may call (see [`crate::auth`]).
    pub authenticator: Authenticator,
    /// Origins allowed to call across origins (`--cors-origin`).
    pub cors_origins: Vec<String>,
    /// Certificate and key to serve HTTP and gRPC over TLS.
    pub tls: Option<TlsFiles>,
    /// CA certificate (PEM) to trust for children over TLS; children are
    /// called over plain HTTP/2 without it.
    pub tls_ca: Option<PathBuf>,
    /// How long an ingest body may take to arrive.
    pub body_timeout: Duration,
    /// Queries run at once; a short queue waits, past it callers get 429.
    pub max_concurrent_queries: usize,
    /// Memory one query may use on this aggregator, in bytes.
    pub query_memory_limit: usize,
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
    let child_tls = config
        .tls_ca
        .as_deref()
        .map(client_tls)
        .transpose()
        .map_err(|reason| AggregatorError::InvalidOption {
            what: "--tls-ca",
            value: config
                .tls_ca
                .as_ref()
                .map(|p| p.display().to_string())
                .unwrap_or_default(),
            reason,
        })?;
    let fleet = Fleet::with_tls(
        &config.leaves,
        config.authenticator.cluster_secret.clone(),
        child_tls,
    )?;
    fleet.refresh().await;
    fleet.spawn_refresh(Duration::from_secs(1));
    let engine = QueryEngine::new(fleet.clone(), config.deadline)?.with_limits(QueryLimits {
        max_concurrent: config.max_concurrent_queries,
        memory_bytes: config.query_memory_limit,
    })?;
    let authenticator = Arc::new(config.authenticator.clone());
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

    let fleet_gossip = match &config.gossip {
        Some(settings) => Some(join_gossip(settings, &config, addresses, fleet.clone()).await?),
        None => None,
    };

    let ingest = IngestState::new(
        fleet.clone(),
        IngestRouter::new(fleet.clone()),
        metrics.clone(),
        config.max_body_bytes,
        INGEST_BUFFER_BYTES.max(config.max_body_bytes),
    )
    .with_body_timeout(config.body_timeout);
    let flight_sql = FlightSqlFrontEnd::new(engine.clone(), ingest.clone(), metrics.clone())?;
    let child = ChildService::new(fleet.clone(), router_for_ingest).with_restart(
        // Without a cluster secret anyone could call Restart.
        config
            .restart
            .clone()
            .filter(|_| config.authenticator.cluster_secret.is_some()),
    );
    let restart = config.restart.clone();
    let shutdown = async move {
        match restart {
            Some(restart) => tokio::select! {
                _ = shutdown => {},
                _ = restart.requested() => tracing::info!("restarting: no new calls; finishing those under way"),
            },
            None => shutdown.await,
        }
    }
    .boxed()
    .shared();
    let mut grpc = tonic::transport::Server::builder();
    if let Some(tls) = &config.tls {
        grpc =
            grpc.tls_config(tls.server_config().map_err(|reason| {
                AggregatorError::InvalidOption {
                    what: "--tls-cert/--tls-key",
                    value: tls.cert.display().to_string(),
                    reason,
                }
            })?)
            .map_err(|e| AggregatorError::Internal(format!("TLS: {e}")))?;
    }
    let grpc = grpc
        .layer(grpc_auth(authenticator.clone()))
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
    let routes = router(
        HttpState { engine, metrics },
        FleetState {
            fleet: fleet.clone(),
            gossip: fleet_gossip.clone(),
        },
        ingest,
        authenticator,
        CorsOrigins {
            origins: Arc::new(config.cors_origins.clone()),
            tokens_required: config.authenticator.requires_tokens(),
        },
    );
    let http = match &config.tls {
        None => {
            let serving = axum::serve(
                axum::serve::ListenerExt::tap_io(http_listener, |stream| {
                    let _ = stream.set_nodelay(true);
                }),
                routes,
            )
            .with_graceful_shutdown(shutdown);
            async move {
                serving
                    .await
                    .map_err(|e| AggregatorError::Internal(format!("HTTP server: {e}")))
            }
            .boxed()
        }
        Some(tls) => {
            let acceptor = http_acceptor(tls).map_err(|reason| AggregatorError::InvalidOption {
                what: "--tls-cert/--tls-key",
                value: tls.cert.display().to_string(),
                reason,
            })?;
            serve_https(http_listener, acceptor, routes, shutdown).boxed()
        }
    };
    ready(addresses);
    let (grpc, http) = tokio::join!(grpc, http);
    grpc.map_err(|e| AggregatorError::Internal(format!("gRPC server: {e}")))?;
    http?;
    Ok(())
}

/// Joins the fleet's gossip as a `ready` aggregator and starts finding
/// leaves by it.
async fn join_gossip(
    settings: &GossipSettings,
    config: &AggregatorConfig,
    bound: BoundAddresses,
    fleet: Arc<Fleet>,
) -> Result<Arc<FleetGossip>> {
    let invalid = |error: shoal_contract::ContractError| AggregatorError::InvalidOption {
        what: "--gossip",
        value: settings.listen.to_string(),
        reason: error.to_string(),
    };
    let service = settings.advertised(bound.flight).map_err(invalid)?;
    let mut me = Member::new(
        Role::Aggregator,
        service.to_string(),
        // `ready` once its roster has settled (FleetGossip::settle).
        MemberState::Starting,
        shoal_contract::member::BLOCK_FORMAT_VERSION,
    );
    me.http = Some(
        settings
            .advertised(bound.http)
            .map_err(invalid)?
            .to_string(),
    );
    let gossip_config = settings
        .config(
            Role::Aggregator,
            service,
            config.authenticator.cluster_secret.clone(),
        )
        .map_err(invalid)?;
    let gossip = Gossip::join(gossip_config, me).await.map_err(invalid)?;
    let fleet_gossip = FleetGossip::start(gossip, fleet);
    fleet_gossip.settle().await;
    Ok(fleet_gossip)
}
