//! `shoal local`: an aggregator and N leaves in one process, for a laptop or
//! a demo. Leaves keep their data under `<data-dir>/leaf-<i>` and reattach it
//! on the next start; `--demo` fills the `requests` table when it is empty.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use futures::FutureExt;
use shoal_aggregator::auth::Authenticator;
use shoal_aggregator::fleet::Fleet;
use shoal_aggregator::routing::IngestRouter;
use shoal_aggregator::{AggregatorConfig, run_aggregator};
use shoal_leaf::{LeafConfig, StoreConfig, run_leaf};
use shoal_proto::cluster_auth::ClusterSecret;
use shoal_proto::tls::TlsFiles;
use tokio::sync::oneshot;
use tracing::info;

use crate::demo::{DEMO_TABLE, demo_batch};
use crate::error::CliError;

/// What `shoal local` runs.
#[derive(Debug, Clone)]
pub struct LocalConfig {
    pub leaves: usize,
    pub data_dir: PathBuf,
    pub flight: SocketAddr,
    pub http: SocketAddr,
    pub deadline: Duration,
    pub seal_age: Duration,
    pub memory_limit: Option<u64>,
    pub retention: Option<Duration>,
    pub demo_rows: Option<u64>,
    /// Tokens and the cluster secret the leaves share with the aggregator.
    pub authenticator: Authenticator,
    pub cors_origins: Vec<String>,
    pub tls: Option<TlsFiles>,
    pub max_concurrent_queries: usize,
    pub query_memory_limit: usize,
}

/// Runs until `shutdown` resolves.
pub async fn run_local(
    config: LocalConfig,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<(), CliError> {
    let shutdown = shutdown.shared();
    let mut addresses = Vec::with_capacity(config.leaves);
    let mut leaves = Vec::with_capacity(config.leaves);
    for index in 1..=config.leaves {
        let leaf = LeafConfig {
            listen: "127.0.0.1:0"
                .parse()
                .map_err(|_| CliError::Internal("address".into()))?,
            store: StoreConfig {
                data_dir: config.data_dir.join(format!("leaf-{index}")),
                backup_dir: None,
                memory_limit: config.memory_limit,
                retention: config.retention,
                seal_age: config.seal_age,
            },
            query_memory_limit: config.query_memory_limit,
            cluster_secret: config.authenticator.cluster_secret.clone(),
            tls: None,
            gossip: None,
            restart: None,
        };
        let (sender, receiver) = oneshot::channel();
        let stop = shutdown.clone();
        leaves.push(tokio::spawn(async move {
            run_leaf(leaf, stop, move |address| {
                let _ = sender.send(address);
            })
            .await
        }));
        match receiver.await {
            Ok(address) => addresses.push(address.to_string()),
            Err(_) => {
                let failed = leaves.pop().map(|task| task.now_or_never());
                return Err(match failed {
                    Some(Some(Ok(Err(error)))) => CliError::Leaf(error),
                    _ => CliError::Internal(format!("leaf {index} did not start")),
                });
            }
        }
    }

    let aggregator = AggregatorConfig {
        flight: config.flight,
        http: config.http,
        leaves: addresses.clone(),
        gossip: None,
        restart: None,
        deadline: config.deadline,
        max_body_bytes: shoal_aggregator::server::DEFAULT_MAX_BODY_BYTES,
        body_timeout: shoal_aggregator::ingest::state::DEFAULT_BODY_TIMEOUT,
        authenticator: config.authenticator.clone(),
        cors_origins: config.cors_origins.clone(),
        tls: config.tls.clone(),
        tls_ca: None,
        max_concurrent_queries: config.max_concurrent_queries,
        query_memory_limit: config.query_memory_limit,
    };
    let (ready_sender, ready) = oneshot::channel();
    let serving = tokio::spawn(run_aggregator(aggregator, shutdown.clone(), move |bound| {
        let _ = ready_sender.send(bound);
    }));
    let Ok(bound) = ready.await else {
        return match serving.await {
            Ok(Err(error)) => Err(CliError::Aggregator(error)),
            _ => Err(CliError::Internal("the aggregator did not start".into())),
        };
    };
    if let Some(rows) = config.demo_rows {
        load_demo(
            &addresses,
            config.authenticator.cluster_secret.clone(),
            rows,
        )
        .await?;
    }
    println!(
        "shoal local ready: {} leaves, Flight SQL on grpc://{}, HTTP and dashboard on http://{}",
        config.leaves, bound.flight, bound.http
    );
    serving
        .await
        .map_err(|e| CliError::Internal(e.to_string()))??;
    for leaf in leaves {
        leaf.await
            .map_err(|e| CliError::Internal(e.to_string()))??;
    }
    Ok(())
}

/// Fills the demo table through the same routing as real ingest, unless it
/// already holds rows (a restart reattached them).
async fn load_demo(
    addresses: &[String],
    cluster_secret: Option<ClusterSecret>,
    rows: u64,
) -> Result<(), CliError> {
    let fleet = Fleet::new(addresses, cluster_secret)?;
    fleet.refresh().await;
    if fleet.table(DEMO_TABLE).is_some_and(|t| t.rows > 0) {
        info!("demo table {DEMO_TABLE} already holds rows; not loading again");
        return Ok(());
    }
    let started = Instant::now();
    let router = IngestRouter::new(fleet);
    const BATCH_ROWS: u64 = 65_536;
    let batches = rows.div_ceil(BATCH_ROWS);
    for index in 0..batches {
        let size = BATCH_ROWS.min(rows - index * BATCH_ROWS) as usize;
        let batch = tokio::task::spawn_blocking(move || demo_batch(index, size, rows))
            .await
            .map_err(|e| CliError::Internal(e.to_string()))?;
        router.route_batches(DEMO_TABLE, &[batch]).await?;
    }
    println!(
        "shoal local: loaded {rows} demo rows into table {DEMO_TABLE} in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}
