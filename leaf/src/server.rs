//! The leaf's gRPC server: the `Leaf` control service (ingest, status) and
//! the Arrow Flight data plane (`DoGet` runs a scan), on one address.
//!
//! Handlers never block the runtime: decoding and storing a batch, and
//! status reads that take table locks, run in `spawn_blocking`.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use arrow_flight::flight_service_server::{FlightService, FlightServiceServer};
use arrow_flight::{
    Action, ActionType, Criteria, Empty, FlightData, FlightDescriptor, FlightInfo,
    HandshakeRequest, HandshakeResponse, PollInfo, PutResult, SchemaResult, Ticket,
};
use futures::stream::BoxStream;
use shoal_contract::{GossipSettings, RestartSignal};
use shoal_proto::cluster_auth::{ClusterSecret, require_cluster_secret};
use shoal_proto::http2_windows;
use shoal_proto::tls::TlsFiles;
use shoal_proto::{
    BlockChunk, BlockRef, DrainRequest, DrainResponse, DropTableRequest, DropTableResponse,
    HandoverRequest, HandoverResponse, IngestRequest, IngestResponse, Leaf, LeafServer, LeafStatus,
    LeaveRequest, LeaveResponse, RestartRequest, RestartResponse, StatusRequest, TableStatus,
    TicketRequest,
};
use tonic::{Request, Response, Status, Streaming};
use tracing::{info, warn};

use crate::block::BLOCK_FORMAT_VERSION;
use crate::drain::DrainState;
use crate::error::{LeafError, Result};
use crate::scan::{RunningFragment, execute_fragment, execute_scan};
use crate::store::{Store, StoreConfig};
use crate::table::TableStats;
pub use shoal_contract::column_type::column_statuses;
pub use shoal_contract::flight_answer::encode_batches;
pub use shoal_contract::net::incoming_without_delay;

/// Largest gRPC message a leaf takes or sends (an ingest request).
pub const MAX_MESSAGE_BYTES: usize = 256 * 1024 * 1024;

/// How a leaf process is set up.
#[derive(Debug, Clone)]
pub struct LeafConfig {
    pub listen: SocketAddr,
    pub store: StoreConfig,
    /// Memory one fragment may use, in bytes.
    pub query_memory_limit: usize,
    /// Calls without it are refused ([`shoal_proto::cluster_auth`]).
    pub cluster_secret: Option<ClusterSecret>,
    /// Serve over TLS with this certificate and key.
    pub tls: Option<TlsFiles>,
    /// Join the fleet's gossip (`--gossip`, `--seeds`).
    pub gossip: Option<GossipSettings>,
    /// Set for a process that can restart itself in place (`shoal leaf`):
    /// the `Restart` call asks for it, and the server then winds down.
    pub restart: Option<Arc<RestartSignal>>,
}

/// The services of one leaf.
#[derive(Debug, Clone)]
pub struct LeafService {
    store: Arc<Store>,
    query_memory_bytes: usize,
    /// Answers `Restart` (only with a cluster secret).
    restart: Option<Arc<RestartSignal>>,
    /// A restart asked for by any means (the call or SIGHUP): ingest is
    /// refused once it is.
    restarting: Option<Arc<RestartSignal>>,
    pub(crate) drain: Arc<DrainState>,
    /// Whether calls carry the cluster secret: the drain calls need it.
    pub(crate) secured: bool,
}

impl LeafService {
    /// Serves `store`, each fragment with a memory pool of `query_memory_bytes`.
    pub fn new(store: Arc<Store>, query_memory_bytes: usize) -> Self {
        Self {
            store,
            query_memory_bytes,
            restart: None,
            restarting: None,
            drain: Arc::default(),
            secured: false,
        }
    }

    /// The same service, answering `Restart` by asking `restart`.
    pub fn with_restart(mut self, restart: Option<Arc<RestartSignal>>) -> Self {
        self.restart = restart;
        self
    }

    /// The same service, refusing ingest once `signal` is asked for (by
    /// the call or SIGHUP), and taking the drain calls when `secured`.
    pub fn with_signals(
        mut self,
        signal: Option<Arc<RestartSignal>>,
        drain: Arc<DrainState>,
        secured: bool,
    ) -> Self {
        self.restarting = signal;
        self.drain = drain;
        self.secured = secured;
        self
    }

    /// The store behind the service.
    pub fn store(&self) -> &Arc<Store> {
        &self.store
    }
}

/// Recovers the data directory, then serves until `shutdown` resolves;
/// `ready` gets the address once the leaf takes calls.
pub async fn run_leaf(
    config: LeafConfig,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ready: impl FnOnce(SocketAddr) + Send,
) -> Result<()> {
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .map_err(|e| LeafError::BadRequest(format!("cannot listen on {}: {e}", config.listen)))?;
    let address = listener
        .local_addr()
        .map_err(|e| LeafError::BadRequest(e.to_string()))?;
    // In the fleet as `starting` while the data opens: seen, not counted.
    let gossip = match &config.gossip {
        Some(settings) => {
            Some(crate::leaf_gossip::join(settings, address, config.cluster_secret.clone()).await?)
        }
        None => None,
    };
    let store_config = config.store.clone();
    let (store, report) = tokio::task::spawn_blocking(move || Store::open(store_config)).await??;
    let store = Arc::new(store);
    info!(%address, rows = report.rows, blocks = report.blocks, recovery_ms = report.elapsed.as_millis() as u64, "leaf ready");
    ready(address);
    // Mapping blocks takes the process's memory-map lock: start it once the
    // leaf has said it is ready, not while it gets there.
    spawn_warm_up(store.clone());
    spawn_maintenance(store.clone());
    let drain = Arc::new(DrainState::open(&config.store.data_dir));
    if let Some(gossip) = gossip {
        crate::leaf_gossip::serve(gossip, store.clone(), drain.clone());
    }

    let secured = config.cluster_secret.is_some();
    let service = LeafService::new(store, config.query_memory_limit)
        // Without a cluster secret anyone could call Restart.
        .with_restart(config.restart.clone().filter(|_| secured))
        .with_signals(config.restart.clone(), drain.clone(), secured);
    let restart = config.restart.clone();
    let shutdown = async move {
        let restarting = async {
            match restart {
                Some(restart) => restart.requested().await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            _ = shutdown => {},
            _ = restarting => info!("restarting: no new calls; finishing those under way"),
            _ = drain.stopped() => info!("drained and left the fleet: stopping"),
        }
    };
    let mut server = http2_windows::cluster_server(tonic::transport::Server::builder());
    if let Some(tls) = &config.tls {
        let tls = tls.server_config().map_err(LeafError::BadRequest)?;
        server = server
            .tls_config(tls)
            .map_err(|e| LeafError::BadRequest(format!("TLS: {e}")))?;
    }
    server
        .layer(require_cluster_secret(config.cluster_secret.clone()))
        .add_service(
            LeafServer::new(service.clone())
                .max_decoding_message_size(MAX_MESSAGE_BYTES)
                .max_encoding_message_size(MAX_MESSAGE_BYTES),
        )
        .add_service(
            FlightServiceServer::new(service)
                .max_decoding_message_size(MAX_MESSAGE_BYTES)
                .max_encoding_message_size(MAX_MESSAGE_BYTES),
        )
        .serve_with_incoming_shutdown(incoming_without_delay(listener), shutdown)
        .await
        .map_err(|e| LeafError::BadRequest(format!("gRPC server failed: {e}")))
}

fn spawn_maintenance(store: Arc<Store>) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        loop {
            tick.tick().await;
            let store = store.clone();
            match tokio::task::spawn_blocking(move || store.maintain()).await {
                Ok(Ok(())) => {}
                Ok(Err(error)) => warn!(%error, "maintenance failed"),
                Err(error) => warn!(%error, "maintenance task failed"),
            }
        }
    });
}

/// Verifies and decodes every sealed block in the background after a
/// restart (so the first queries do not pay for it), mending bad ones.
fn spawn_warm_up(store: Arc<Store>) {
    tokio::task::spawn_blocking(move || {
        let repairs = store.repair_blocks(true);
        info!(
            verified = repairs.verified,
            restored = repairs.restored,
            dropped = repairs.dropped,
            rows_lost = repairs.rows_lost,
            "sealed blocks verified"
        );
    });
}

#[tonic::async_trait]
impl Leaf for LeafService {
    async fn ingest(
        &self,
        request: Request<IngestRequest>,
    ) -> std::result::Result<Response<IngestResponse>, Status> {
        if self.restarting.as_ref().is_some_and(|r| r.is_requested()) {
            return Err(Status::unavailable(
                "this leaf is restarting: send the rows to another leaf",
            ));
        }
        let Some(admitted) = self.drain.admit_ingest().await else {
            return Err(Status::unavailable(
                "this leaf is draining: send the rows to another leaf",
            ));
        };
        let IngestRequest { table, arrow_ipc } = request.into_inner();
        let store = self.store.clone();
        let incoming_bytes = arrow_ipc.len() as u64;
        let sealer = self.store.clone();
        let (rows, new_columns, table, seal) = tokio::task::spawn_blocking(move || {
            // Held until the rows are stored, even if the caller gives up.
            let _admitted = admitted;
            let batches = crate::ipc::decode_stream(&arrow_ipc, None).map_err(|reason| {
                LeafError::BadIpc {
                    table: table.clone(),
                    source: arrow::error::ArrowError::IpcError(reason),
                }
            })?;
            let (rows, new_columns, seal) =
                store.ingest_leaving_seal(&table, &batches, Some(&arrow_ipc), incoming_bytes)?;
            let stats = store.table(&table, false)?.counts();
            Ok::<_, LeafError>((rows, new_columns, table_status(table, stats), seal))
        })
        .await
        .map_err(LeafError::from)??;
        // The rows are held (in the write-ahead segment): the block they
        // filled is sealed after the answer, while the sender goes on.
        if let Some(seal) = seal {
            tokio::task::spawn_blocking(move || sealer.seal_pending(seal));
        }
        Ok(Response::new(IngestResponse {
            rows_accepted: rows,
            new_columns,
            table: Some(table),
        }))
    }

    async fn drop_table(
        &self,
        request: Request<DropTableRequest>,
    ) -> std::result::Result<Response<DropTableResponse>, Status> {
        let table = request.into_inner().table;
        let store = self.store.clone();
        let rows_dropped = tokio::task::spawn_blocking(move || store.drop_table(&table))
            .await
            .map_err(LeafError::from)??;
        Ok(Response::new(DropTableResponse {
            rows_dropped,
            leaves: 1,
        }))
    }

    async fn restart(
        &self,
        _request: Request<RestartRequest>,
    ) -> std::result::Result<Response<RestartResponse>, Status> {
        RestartSignal::answer_call(self.restart.as_deref(), "leaf")
            .map(|message| Response::new(RestartResponse { message }))
            .map_err(Status::failed_precondition)
    }

    type ExportBlockStream = FlightStream<BlockChunk>;

    async fn drain(
        &self,
        _request: Request<DrainRequest>,
    ) -> std::result::Result<Response<DrainResponse>, Status> {
        crate::drain_rpc::drain(self).await.map(Response::new)
    }

    async fn export_block(
        &self,
        request: Request<BlockRef>,
    ) -> std::result::Result<Response<Self::ExportBlockStream>, Status> {
        crate::drain_rpc::export_block(self, request.into_inner())
            .await
            .map(Response::new)
    }

    async fn import_block(
        &self,
        request: Request<Streaming<BlockChunk>>,
    ) -> std::result::Result<Response<BlockRef>, Status> {
        crate::drain_rpc::import_block(self, request.into_inner())
            .await
            .map(Response::new)
    }

    async fn handover(
        &self,
        request: Request<HandoverRequest>,
    ) -> std::result::Result<Response<HandoverResponse>, Status> {
        crate::drain_rpc::handover(self, request.into_inner())
            .await
            .map(Response::new)
    }

    async fn leave(
        &self,
        _request: Request<LeaveRequest>,
    ) -> std::result::Result<Response<LeaveResponse>, Status> {
        crate::drain_rpc::leave(self).await.map(Response::new)
    }

    async fn status(
        &self,
        _request: Request<StatusRequest>,
    ) -> std::result::Result<Response<LeafStatus>, Status> {
        let store = self.store.clone();
        let status = tokio::task::spawn_blocking(move || leaf_status(&store))
            .await
            .map_err(LeafError::from)?;
        Ok(Response::new(status))
    }
}

fn table_status(name: String, stats: TableStats) -> TableStatus {
    TableStatus {
        name,
        columns: column_statuses(&stats.columns),
        rows: stats.rows,
        bytes: stats.bytes,
        min_time_micros: stats.time_range.map(|r| r.0),
        max_time_micros: stats.time_range.map(|r| r.1),
        sealed_blocks: stats.sealed_blocks,
        open_rows: stats.open_rows,
        rows_lost: stats.rows_lost,
        spans: stats.spans,
    }
}

fn leaf_status(store: &Store) -> LeafStatus {
    let mut tables: Vec<TableStatus> = store
        .stats()
        .into_iter()
        .map(|(name, stats)| table_status(name, stats))
        .collect();
    shoal_proto::time_spans::keep_within(&mut tables, shoal_proto::time_spans::MAX_STATUS_SPANS);
    LeafStatus {
        ready: true,
        memory_used_bytes: store.memory_used(),
        memory_limit_bytes: store.memory_limit().unwrap_or(0),
        tables,
        format_version: BLOCK_FORMAT_VERSION,
        leaf_count: 1,
    }
}

type FlightStream<T> = BoxStream<'static, std::result::Result<T, Status>>;

fn not_served(call: &str) -> Status {
    Status::unimplemented(format!(
        "a Shoal leaf serves Flight DoGet (scans) only, not {call}; ingest and status use the shoal.v1.Leaf service"
    ))
}

#[tonic::async_trait]
impl FlightService for LeafService {
    type HandshakeStream = FlightStream<HandshakeResponse>;
    type ListFlightsStream = FlightStream<FlightInfo>;
    type DoGetStream = FlightStream<FlightData>;
    type DoPutStream = FlightStream<PutResult>;
    type DoExchangeStream = FlightStream<FlightData>;
    type DoActionStream = FlightStream<arrow_flight::Result>;
    type ListActionsStream = FlightStream<ActionType>;

    async fn do_get(
        &self,
        request: Request<Ticket>,
    ) -> std::result::Result<Response<Self::DoGetStream>, Status> {
        let ticket = TicketRequest::decode_ticket(&request.into_inner().ticket)
            .map_err(Status::invalid_argument)?;
        match ticket {
            TicketRequest::Scan(scan) => {
                let batches = execute_scan(&self.store, &scan).await?;
                Ok(Response::new(encode_batches(batches, || None)))
            }
            TicketRequest::Fragment(fragment) => {
                let running =
                    execute_fragment(self.store.clone(), &fragment, self.query_memory_bytes)
                        .await?;
                let (rows, rows_lost) = (running.rows, running.rows_lost);
                let skipped = running.skipped_rows.clone();
                Ok(Response::new(encode_batches(running.stream, move || {
                    let skipped = skipped.load(std::sync::atomic::Ordering::Relaxed);
                    Some(RunningFragment::completeness(rows, rows_lost, skipped))
                })))
            }
        }
    }

    async fn handshake(
        &self,
        _request: Request<Streaming<HandshakeRequest>>,
    ) -> std::result::Result<Response<Self::HandshakeStream>, Status> {
        Err(not_served("Handshake"))
    }

    async fn list_flights(
        &self,
        _request: Request<Criteria>,
    ) -> std::result::Result<Response<Self::ListFlightsStream>, Status> {
        Err(not_served("ListFlights"))
    }

    async fn get_flight_info(
        &self,
        _request: Request<FlightDescriptor>,
    ) -> std::result::Result<Response<FlightInfo>, Status> {
        Err(not_served("GetFlightInfo"))
    }

    async fn poll_flight_info(
        &self,
        _request: Request<FlightDescriptor>,
    ) -> std::result::Result<Response<PollInfo>, Status> {
        Err(not_served("PollFlightInfo"))
    }

    async fn get_schema(
        &self,
        _request: Request<FlightDescriptor>,
    ) -> std::result::Result<Response<SchemaResult>, Status> {
        Err(not_served("GetSchema"))
    }

    async fn do_put(
        &self,
        _request: Request<Streaming<FlightData>>,
    ) -> std::result::Result<Response<Self::DoPutStream>, Status> {
        Err(not_served("DoPut"))
    }

    async fn do_exchange(
        &self,
        _request: Request<Streaming<FlightData>>,
    ) -> std::result::Result<Response<Self::DoExchangeStream>, Status> {
        Err(not_served("DoExchange"))
    }

    async fn do_action(
        &self,
        _request: Request<Action>,
    ) -> std::result::Result<Response<Self::DoActionStream>, Status> {
        Err(not_served("DoAction"))
    }

    async fn list_actions(
        &self,
        _request: Request<Empty>,
    ) -> std::result::Result<Response<Self::ListActionsStream>, Status> {
        Err(not_served("ListActions"))
    }
}
