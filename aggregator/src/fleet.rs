//! The children of an aggregator (leaves, or aggregators below it) and what
//! each last said about itself.
//!
//! Every second each child is asked for its status (with a short timeout).
//! The answers make the catalog the planner sees (the union of every child's
//! tables and columns) and the row counts that completeness is measured in.
//! A child that stops answering keeps its last status, so the rows it held
//! still count as rows a query could not reach. Between status calls, each
//! acknowledged ingest brings the child's new state of that one table
//! ([`Child::absorb_table`]), so rows just acknowledged are in the catalog
//! (and in `GET /api/v1/tables`) at once; how the two sources merge, and
//! when a child counts as down, is [`ChildState`]'s.

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use arrow_flight::flight_service_client::FlightServiceClient;
use shoal_contract::column_type::ColumnType;
use shoal_contract::column_type::column_statuses;
use shoal_proto::cluster_auth::{ClusterSecret, ClusterSecretInterceptor};
use shoal_proto::time_spans::{MAX_STATUS_SPANS, MAX_TIME_SPANS, keep_within, merge_neighbours};
use shoal_proto::{
    DropTableRequest, DropTableResponse, LeafClient, LeafStatus, StatusRequest, TableStatus,
    TimeSpan,
};
use tonic::service::interceptor::InterceptedService;
use tonic::transport::{Channel, ClientTlsConfig};

/// The channel to a child, with the cluster secret added to every call.
pub type ChildChannel = InterceptedService<Channel, ClusterSecretInterceptor>;
use tracing::{info, warn};

use crate::child_state::{ChildState, MISSES_BEFORE_DOWN};
use crate::error::{AggregatorError, Result};
use crate::membership::{Membership, Snapshot};

/// Largest gRPC message exchanged with a child.
pub const MAX_MESSAGE_BYTES: usize = 256 * 1024 * 1024;
const STATUS_TIMEOUT: Duration = Duration::from_millis(1_000);
const DROP_TIMEOUT: Duration = Duration::from_secs(10);

/// One child address.
#[derive(Debug)]
pub struct Child {
    /// This child's own number (see [`crate::membership`]).
    pub index: usize,
    /// Its member name (its address when it came from `--leaves`).
    pub name: String,
    pub address: String,
    channel: Channel,
    /// Adds the cluster secret to every call.
    cluster: ClusterSecretInterceptor,
    state: RwLock<ChildState>,
}

/// A table as the fleet holds it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TableView {
    /// Columns in first-seen order across children, with their types.
    pub columns: Vec<(String, ColumnType)>,
    /// Rows across all children.
    pub rows: u64,
    pub min_time_micros: Option<i64>,
    pub max_time_micros: Option<i64>,
    /// Rows lost to corrupt blocks across children (see the leaf's status).
    pub rows_lost: u64,
}

impl TableView {
    /// Adds one child's share of the table.
    fn add(&mut self, table: &TableStatus) {
        self.rows += table.rows;
        self.rows_lost += table.rows_lost;
        for column in &table.columns {
            let Some(column_type) = ColumnType::from_name(&column.r#type) else {
                continue;
            };
            if !self.columns.iter().any(|(name, _)| name == &column.name) {
                self.columns.push((column.name.clone(), column_type));
            }
        }
        self.min_time_micros = min_option(self.min_time_micros, table.min_time_micros);
        self.max_time_micros = max_option(self.max_time_micros, table.max_time_micros);
    }
}

/// All children of this aggregator.
#[derive(Debug)]
pub struct Fleet {
    members: Membership,
    /// Held while the children are asked for their status: one round at a
    /// time, so answers are taken in the order they were asked for.
    refreshing: tokio::sync::Mutex<()>,
    /// Rounds begun; a caller that waited while a round began after its
    /// call shares that round's answers instead of queueing another.
    rounds: std::sync::atomic::AtomicU64,
}

impl Fleet {
    /// Children at `addresses` (`host:port`), connected lazily, called with
    /// `cluster_secret`.
    pub fn new(addresses: &[String], cluster_secret: Option<ClusterSecret>) -> Result<Arc<Self>> {
        Self::with_tls(addresses, cluster_secret, None)
    }

    /// As [`Fleet::new`], over TLS when `tls` is given. Each child is
    /// named by its address; gossip adds more ([`Fleet::membership`]).
    pub fn with_tls(
        addresses: &[String],
        cluster_secret: Option<ClusterSecret>,
        tls: Option<ClientTlsConfig>,
    ) -> Result<Arc<Self>> {
        let members = Membership::new(cluster_secret.as_ref(), tls);
        for address in addresses {
            members.add(address, address)?;
        }
        Ok(Arc::new(Self {
            members,
            refreshing: tokio::sync::Mutex::new(()),
            rounds: std::sync::atomic::AtomicU64::new(0),
        }))
    }

    /// Who the children are, and how they come and go.
    pub fn membership(&self) -> &Membership {
        &self.members
    }

    /// The children now, in the order they joined (`--leaves` first): the
    /// snapshot a query plans against.
    pub fn children(&self) -> Snapshot {
        self.members.snapshot()
    }

    /// Asks every child for its status once: waits for any round in
    /// flight, then runs one, unless another caller's round began after this
    /// call and has ended (its answers are as new as this call needs).
    pub async fn refresh(&self) {
        use std::sync::atomic::Ordering::SeqCst;
        let seen = self.rounds.load(SeqCst);
        let _round = self.refreshing.lock().await;
        if self.rounds.load(SeqCst) != seen {
            return;
        }
        self.rounds.fetch_add(1, SeqCst);
        let children = self.children();
        let calls = children.iter().map(|child| child.refresh());
        futures::future::join_all(calls).await;
    }

    /// Drops `table` on every child (each leaf deletes its blocks and backup
    /// copies), then refreshes the catalog. Fails naming the children that
    /// did not drop it; dropping again is harmless.
    pub async fn drop_table(&self, table: &str) -> Result<DropTableResponse> {
        let children = self.children();
        let calls = children.iter().map(|child| async move {
            let mut request = tonic::Request::new(DropTableRequest {
                table: table.to_string(),
            });
            request.set_timeout(DROP_TIMEOUT);
            let mut client = child.leaf_client();
            match tokio::time::timeout(DROP_TIMEOUT, client.drop_table(request)).await {
                Ok(Ok(response)) => Ok(response.into_inner()),
                Ok(Err(status)) => Err(format!("{}: {}", child.address, status.message())),
                Err(_) => Err(format!(
                    "{}: no answer within {DROP_TIMEOUT:?}",
                    child.address
                )),
            }
        });
        let answers = futures::future::join_all(calls).await;
        self.refresh().await;
        let mut dropped = DropTableResponse::default();
        let mut failures = Vec::new();
        for answer in answers {
            match answer {
                Ok(answer) => {
                    dropped.rows_dropped += answer.rows_dropped;
                    dropped.leaves += answer.leaves;
                }
                Err(failure) => failures.push(failure),
            }
        }
        match failures.is_empty() {
            true => Ok(dropped),
            false => Err(AggregatorError::NoLeafAnswered(format!(
                "table {table:?} was dropped by {} leaves, but not by: {}; run DROP TABLE again once they are back",
                dropped.leaves,
                failures.join("; ")
            ))),
        }
    }

    /// Refreshes every `every` in the background, for as long as the fleet lives.
    pub fn spawn_refresh(self: &Arc<Self>, every: Duration) {
        let fleet = Arc::downgrade(self);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            loop {
                tick.tick().await;
                let Some(fleet) = fleet.upgrade() else { return };
                fleet.refresh().await;
            }
        });
    }

    /// Tables across the fleet, by name.
    pub fn tables(&self) -> BTreeMap<String, TableView> {
        let mut tables: BTreeMap<String, TableView> = BTreeMap::new();
        for child in self.children().iter() {
            child.with_status(|status| {
                for table in status.map_or(&[][..], |s| &s.tables) {
                    tables.entry(table.name.clone()).or_default().add(table);
                }
            });
        }
        tables
    }

    /// The names of the tables across the fleet (what an aggregator
    /// publishes by gossip, without building every table's view).
    pub fn table_names(&self) -> std::collections::BTreeSet<String> {
        let mut names = std::collections::BTreeSet::new();
        for child in self.children().iter() {
            child.with_status(|status| {
                let tables = status.map_or(&[][..], |s| &s.tables);
                names.extend(tables.iter().map(|t| t.name.clone()));
            });
        }
        names
    }

    /// One table across the fleet, if any child holds it (what ingest
    /// checks per request, without building every table's view).
    pub fn table(&self, name: &str) -> Option<TableView> {
        let mut view: Option<TableView> = None;
        for child in self.children().iter() {
            child.with_status(|status| {
                let tables = status.map_or(&[][..], |s| &s.tables);
                if let Some(table) = tables.iter().find(|t| t.name == name) {
                    view.get_or_insert_with(TableView::default).add(table);
                }
            });
        }
        view
    }

    /// The fleet's status as one child's, for an aggregator that is itself
    /// a child: rows and memory add up, leaves are counted.
    pub fn combined_status(&self) -> LeafStatus {
        let mut combined = LeafStatus {
            ready: true,
            format_version: shoal_contract::member::BLOCK_FORMAT_VERSION,
            ..Default::default()
        };
        for child in self.children().iter() {
            combined.leaf_count += child.leaf_count() as u32;
            if let Some(status) = child.status() {
                combined.memory_used_bytes += status.memory_used_bytes;
                combined.memory_limit_bytes += status.memory_limit_bytes;
            }
        }
        let mut spans = self.spans_by_table();
        combined.tables = self
            .tables()
            .into_iter()
            .map(|(name, view)| {
                let spans = spans.remove(&name).unwrap_or_default();
                table_status(name, &view, spans)
            })
            .collect();
        keep_within(&mut combined.tables, MAX_STATUS_SPANS);
        combined
    }

    /// One table across the fleet, as a child's ingest acknowledgement
    /// gives it: counts without time spans (the parent keeps those of its
    /// last status call, as it does for a leaf's acknowledgement).
    pub fn table_status(&self, name: &str) -> Option<TableStatus> {
        let view = self.table(name)?;
        Some(table_status(name.to_string(), &view, Vec::new()))
    }

    /// Every child's time spans, joined per table and kept to
    /// [`MAX_TIME_SPANS`] (what a parent aggregator reads of this subtree).
    fn spans_by_table(&self) -> BTreeMap<String, Vec<TimeSpan>> {
        let mut spans: BTreeMap<String, Vec<TimeSpan>> = BTreeMap::new();
        for child in self.children().iter() {
            child.with_status(|status| {
                for table in status.map_or(&[][..], |s| &s.tables) {
                    let joined = spans.entry(table.name.clone()).or_default();
                    joined.extend_from_slice(&table.spans);
                }
            });
        }
        spans
            .into_iter()
            .map(|(name, joined)| (name, merge_neighbours(joined, MAX_TIME_SPANS)))
            .collect()
    }

    /// Children that answered their last status call.
    pub fn live_children(&self) -> Vec<Arc<Child>> {
        self.children()
            .iter()
            .filter(|c| c.is_up())
            .cloned()
            .collect()
    }
}

impl Child {
    /// A child reached over `channel`, not asked anything yet.
    pub fn new(
        index: usize,
        name: String,
        address: String,
        channel: Channel,
        cluster: ClusterSecretInterceptor,
    ) -> Self {
        Self {
            index,
            name,
            address,
            channel,
            cluster,
            state: RwLock::new(ChildState::default()),
        }
    }

    async fn refresh(&self) {
        let sent_at = self.read_state().absorbed();
        let mut client = self.leaf_client();
        let outcome = tokio::time::timeout(STATUS_TIMEOUT, client.status(StatusRequest {})).await;
        let mut state = self.state.write().unwrap_or_else(|p| p.into_inner());
        match outcome {
            Ok(Ok(response)) => {
                if state.answered(response.into_inner(), sent_at) {
                    info!(leaf = %self.address, "leaf is up");
                }
            }
            Ok(Err(error)) => {
                if state.failed() {
                    warn!(leaf = %self.address, error = %error.message(), "leaf is down");
                }
            }
            Err(_) => {
                let was_up = state.up;
                if state.missed() {
                    warn!(
                        leaf = %self.address,
                        misses = MISSES_BEFORE_DOWN,
                        "leaf is down: status calls did not answer in time"
                    );
                } else if was_up {
                    warn!(leaf = %self.address, "leaf did not answer its status call in time");
                }
            }
        }
    }

    /// Takes in what an acknowledged ingest said of `table`, so the
    /// catalog knows a new table or column now, not at the next status call.
    pub fn absorb_table(&self, table: TableStatus) {
        self.state
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .absorb(table);
    }

    fn read_state(&self) -> std::sync::RwLockReadGuard<'_, ChildState> {
        self.state.read().unwrap_or_else(|p| p.into_inner())
    }

    /// The last status the child gave.
    pub fn status(&self) -> Option<LeafStatus> {
        self.with_status(|status| status.cloned())
    }

    /// Reads the last status without copying it.
    pub fn with_status<T>(&self, read: impl FnOnce(Option<&LeafStatus>) -> T) -> T {
        read(self.read_state().status.as_ref())
    }

    /// Whether the child answered its last status call.
    pub fn is_up(&self) -> bool {
        self.read_state().up
    }

    /// Leaves behind this child (1 for a leaf).
    pub fn leaf_count(&self) -> u64 {
        self.with_status(|status| status.map_or(1, |s| u64::from(s.leaf_count.max(1))))
    }

    /// Rows the child held of `tables` by its last status.
    pub fn table_rows(&self, tables: &[String]) -> u64 {
        self.with_status(|status| {
            status.map_or(0, |status| {
                status
                    .tables
                    .iter()
                    .filter(|t| tables.contains(&t.name))
                    .map(|t| t.rows)
                    .sum()
            })
        })
    }

    /// Free memory by the last status; a child without a limit counts as
    /// having all the memory it does not use, one that never answered a
    /// status call (only ingests) as having none.
    pub fn free_memory(&self) -> u64 {
        let state = self.read_state();
        match (&state.status, state.has_answered()) {
            (Some(status), true) => match status.memory_limit_bytes {
                0 => u64::MAX - status.memory_used_bytes,
                limit => limit.saturating_sub(status.memory_used_bytes),
            },
            _ => 0,
        }
    }

    /// A client of the child's control service.
    pub fn leaf_client(&self) -> LeafClient<ChildChannel> {
        LeafClient::with_interceptor(self.channel.clone(), self.cluster.clone())
            .max_decoding_message_size(MAX_MESSAGE_BYTES)
            .max_encoding_message_size(MAX_MESSAGE_BYTES)
    }

    /// A client of the child's Arrow Flight service.
    pub fn flight_client(&self) -> FlightServiceClient<ChildChannel> {
        FlightServiceClient::with_interceptor(self.channel.clone(), self.cluster.clone())
            .max_decoding_message_size(MAX_MESSAGE_BYTES)
            .max_encoding_message_size(MAX_MESSAGE_BYTES)
    }
}

fn table_status(name: String, view: &TableView, spans: Vec<TimeSpan>) -> TableStatus {
    TableStatus {
        name,
        columns: column_statuses(&view.columns),
        rows: view.rows,
        min_time_micros: view.min_time_micros,
        max_time_micros: view.max_time_micros,
        rows_lost: view.rows_lost,
        spans,
        ..Default::default()
    }
}

fn min_option(a: Option<i64>, b: Option<i64>) -> Option<i64> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

fn max_option(a: Option<i64>, b: Option<i64>) -> Option<i64> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.max(b)),
        (a, b) => a.or(b),
    }
}
