//! Subcommands and flags of `shoal`, as DESIGN.md fixes them.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, Subcommand};
use shoal_aggregator::{AggregatorConfig, run_aggregator};
use shoal_leaf::{LeafConfig, StoreConfig, run_leaf};

use crate::error::CliError;
use crate::fleet_cli::FleetCommand;
use crate::gossip_flags::GossipFlags;
use crate::local::{LocalConfig, run_local};
use crate::security_flags::{FrontEndFlags, TlsFlags, load_cluster_secret, refuse_exposed};
use crate::sql_client::SqlArgs;
use crate::token::TokenCommand;
use shoal_contract::RestartSignal;
use shoal_proto::cluster_auth::ClusterSecret;
use std::sync::Arc;

/// Shoal: a Scuba-style, fan-out, in-memory analytics store.
#[derive(Debug, Parser)]
#[command(name = "shoal", version, about)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
    /// How log lines on stderr look: `text` (coloured only on a terminal)
    /// or `json` (one object per line, for log collectors).
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
}

/// The values of `--log-format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run a leaf: holds tables in shared memory and executes scans.
    Leaf(LeafArgs),
    /// Run an aggregator: SQL over Flight SQL and HTTP, fanned out to leaves.
    Aggregator(AggregatorArgs),
    /// Run an aggregator and N leaves in one process.
    Local(LocalArgs),
    /// Manage the tokens of a token file (--auth-file).
    #[command(subcommand)]
    Token(TokenCommand),
    /// Run SQL against an aggregator over Flight SQL: one query, a prompt
    /// on a terminal, or the statements piped in.
    Sql(SqlArgs),
    /// The fleet as gossip sees it: members and their state; removing a
    /// dead member from the count.
    #[command(subcommand)]
    Fleet(FleetCommand),
}

/// `--query-memory-limit`, on every kind of process.
#[derive(Debug, clap::Args)]
struct QueryMemoryFlag {
    /// Memory one query may use in this process, e.g. `1GiB`; past it the
    /// query fails alone.
    #[arg(long, default_value = "1GiB")]
    query_memory_limit: String,
}

impl QueryMemoryFlag {
    fn bytes(&self) -> Result<usize, CliError> {
        Ok(parse_size("--query-memory-limit", &self.query_memory_limit)? as usize)
    }
}

#[derive(Debug, clap::Args)]
struct AggregatorArgs {
    /// Address for Flight SQL (and for a parent aggregator's fragment calls).
    #[arg(long, default_value = "127.0.0.1:50051")]
    flight: SocketAddr,
    /// Address for the HTTP API and the dashboard.
    #[arg(long, default_value = "127.0.0.1:8080")]
    http: SocketAddr,
    /// Children: leaves or aggregators, `host:port,host:port,...` (with
    /// `--gossip`, leaves are also found by gossip).
    #[arg(long, value_delimiter = ',', required_unless_present = "gossip")]
    leaves: Vec<String>,
    /// Default query deadline, e.g. `10s`.
    #[arg(long, default_value = "10s")]
    deadline: String,
    /// Largest ingest request body, e.g. `64MiB`.
    #[arg(long, default_value = "64MiB")]
    max_body: String,
    /// How long an ingest request's body may take to arrive, e.g. `30s`.
    #[arg(long, default_value = "30s")]
    body_timeout: String,
    /// File with the secret the fleet's processes share.
    #[arg(long)]
    cluster_secret_file: Option<PathBuf>,
    /// PEM CA certificate to trust for children over TLS (they are called
    /// over TLS when given).
    #[arg(long)]
    tls_ca: Option<PathBuf>,
    #[command(flatten)]
    front_end: FrontEndFlags,
    #[command(flatten)]
    query_memory: QueryMemoryFlag,
    #[command(flatten)]
    gossip: GossipFlags,
}

#[derive(Debug, clap::Args)]
struct LocalArgs {
    /// Number of leaves.
    #[arg(long, default_value_t = 4)]
    leaves: usize,
    /// Data directory; leaf i keeps its data under `leaf-<i>`.
    #[arg(long, default_value = "/dev/shm/shoal")]
    data_dir: PathBuf,
    #[arg(long, default_value = "127.0.0.1:50051")]
    flight: SocketAddr,
    #[arg(long, default_value = "127.0.0.1:8080")]
    http: SocketAddr,
    /// Default query deadline, e.g. `10s`.
    #[arg(long, default_value = "10s")]
    deadline: String,
    /// Fill a `requests` table with generated request logs when it is empty.
    #[arg(long)]
    demo: bool,
    /// Rows `--demo` generates.
    #[arg(long, default_value_t = 1_000_000)]
    demo_rows: u64,
    #[command(flatten)]
    store: StoreFlags,
    #[command(flatten)]
    front_end: FrontEndFlags,
    #[command(flatten)]
    query_memory: QueryMemoryFlag,
}

#[derive(Debug, clap::Args)]
struct LeafArgs {
    /// Address for the gRPC and Arrow Flight services.
    #[arg(long, default_value = "127.0.0.1:50061")]
    listen: SocketAddr,
    /// Directory on tmpfs for blocks and write-ahead segments.
    #[arg(long, default_value = "/dev/shm/shoal/leaf-1")]
    data_dir: PathBuf,
    /// Directory on disk where sealed blocks are copied, to survive reboots.
    #[arg(long)]
    backup_dir: Option<PathBuf>,
    /// File with the secret the fleet's processes share; calls without it
    /// are refused.
    #[arg(long)]
    cluster_secret_file: Option<PathBuf>,
    /// Listen beyond loopback without --cluster-secret-file: anyone who
    /// reaches the port may read and write this leaf's tables.
    #[arg(long)]
    insecure: bool,
    #[command(flatten)]
    tls: TlsFlags,
    #[command(flatten)]
    query_memory: QueryMemoryFlag,
    #[command(flatten)]
    store: StoreFlags,
    #[command(flatten)]
    gossip: GossipFlags,
}

/// How each leaf keeps its blocks (`shoal leaf` and `shoal local`).
#[derive(Debug, clap::Args)]
struct StoreFlags {
    /// Shared memory a leaf may hold, e.g. `4GiB`; oldest blocks go first.
    #[arg(long)]
    memory_limit: Option<String>,
    /// Drop blocks whose newest row is older than this, e.g. `7d`.
    #[arg(long)]
    retention: Option<String>,
    /// Seal an open block once it is this old, e.g. `5s`.
    #[arg(long, default_value = "5s")]
    seal_age: String,
}

/// The parsed [`StoreFlags`].
struct StoreLimits {
    memory_limit: Option<u64>,
    retention: Option<Duration>,
    seal_age: Duration,
}

impl StoreFlags {
    fn parse(&self) -> Result<StoreLimits, CliError> {
        Ok(StoreLimits {
            memory_limit: self
                .memory_limit
                .as_deref()
                .map(|v| parse_size("--memory-limit", v))
                .transpose()?,
            retention: self
                .retention
                .as_deref()
                .map(|v| parse_duration("--retention", v))
                .transpose()?,
            seal_age: parse_duration("--seal-age", &self.seal_age)?,
        })
    }
}

impl Cli {
    /// Runs the chosen subcommand until it ends or is interrupted.
    pub async fn run(self) -> Result<(), CliError> {
        match self.command {
            Command::Leaf(args) => {
                let restart = restart_signal()?;
                let mut config = args.into_config()?;
                config.restart = Some(restart.clone());
                let terminated = termination_watch();
                let running = run_leaf(config, terminated_future(&terminated), |address| {
                    println!("shoal leaf ready on {address}");
                });
                within_restart_limit(running, &restart).await?;
                exec_if_restarting(&restart, &terminated)
            }
            Command::Token(command) => command.run(),
            Command::Fleet(command) => command.run().await,
            Command::Sql(args) => crate::sql_client::run(args)
                .await
                .map_err(|error| CliError::Internal(error.to_string())),
            Command::Aggregator(args) => {
                args.front_end.check_exposure(&[args.flight, args.http])?;
                let cluster_secret = load_cluster_secret(args.cluster_secret_file.as_ref())?;
                let gossip = args
                    .gossip
                    .settings(cluster_secret.as_ref(), args.front_end.insecure)?;
                let restart = restart_signal()?;
                let config = AggregatorConfig {
                    flight: args.flight,
                    http: args.http,
                    leaves: args.leaves,
                    gossip,
                    restart: Some(restart.clone()),
                    deadline: parse_duration("--deadline", &args.deadline)?,
                    max_body_bytes: parse_size("--max-body", &args.max_body)? as usize,
                    body_timeout: parse_duration("--body-timeout", &args.body_timeout)?,
                    authenticator: args.front_end.authenticator(cluster_secret)?,
                    cors_origins: args.front_end.cors_origin.clone(),
                    tls: args.front_end.tls.files(),
                    tls_ca: args.tls_ca,
                    max_concurrent_queries: args.front_end.max_concurrent_queries,
                    query_memory_limit: args.query_memory.bytes()?,
                };
                let terminated = termination_watch();
                let running = run_aggregator(config, terminated_future(&terminated), |bound| {
                    println!(
                        "shoal aggregator ready: flight {} http {}",
                        bound.flight, bound.http
                    );
                });
                within_restart_limit(running, &restart).await?;
                exec_if_restarting(&restart, &terminated)
            }
            Command::Local(args) => {
                if args.leaves == 0 {
                    return Err(CliError::InvalidFlag {
                        flag: "--leaves",
                        value: "0".into(),
                        reason: "at least one leaf".into(),
                    });
                }
                args.front_end.check_exposure(&[args.flight, args.http])?;
                let limits = args.store.parse()?;
                let config = LocalConfig {
                    leaves: args.leaves,
                    data_dir: args.data_dir,
                    flight: args.flight,
                    http: args.http,
                    deadline: parse_duration("--deadline", &args.deadline)?,
                    seal_age: limits.seal_age,
                    memory_limit: limits.memory_limit,
                    retention: limits.retention,
                    demo_rows: args.demo.then_some(args.demo_rows),
                    // The in-process leaves and aggregator share a secret of
                    // their own, so the leaves' ports answer nobody else.
                    authenticator: args
                        .front_end
                        .authenticator(Some(ClusterSecret::generate()))?,
                    cors_origins: args.front_end.cors_origin.clone(),
                    tls: args.front_end.tls.files(),
                    max_concurrent_queries: args.front_end.max_concurrent_queries,
                    query_memory_limit: args.query_memory.bytes()?,
                };
                run_local(config, shutdown_signal()).await
            }
        }
    }
}

impl LeafArgs {
    fn into_config(self) -> Result<LeafConfig, CliError> {
        let limits = self.store.parse()?;
        if self.cluster_secret_file.is_none() && !self.insecure {
            refuse_exposed(
                &[self.listen],
                "--cluster-secret-file",
                "anyone who reaches the port could read and write this leaf's tables",
            )?;
        }
        let cluster_secret = load_cluster_secret(self.cluster_secret_file.as_ref())?;
        Ok(LeafConfig {
            listen: self.listen,
            query_memory_limit: self.query_memory.bytes()?,
            gossip: self
                .gossip
                .settings(cluster_secret.as_ref(), self.insecure)?,
            restart: None,
            cluster_secret,
            tls: self.tls.files(),
            store: StoreConfig {
                data_dir: self.data_dir,
                backup_dir: self.backup_dir,
                memory_limit: limits.memory_limit,
                retention: limits.retention,
                seal_age: limits.seal_age,
            },
        })
    }
}

fn parse_size(flag: &'static str, value: &str) -> Result<u64, CliError> {
    value
        .parse::<bytesize::ByteSize>()
        .map(|size| size.as_u64())
        .map_err(|reason| CliError::InvalidFlag {
            flag,
            value: value.to_string(),
            reason: format!("{reason} (e.g. 512MiB, 4GiB)"),
        })
}

pub(crate) fn parse_duration(flag: &'static str, value: &str) -> Result<Duration, CliError> {
    humantime::parse_duration(value).map_err(|reason| CliError::InvalidFlag {
        flag,
        value: value.to_string(),
        reason: format!("{reason} (e.g. 2s, 30m, 7d)"),
    })
}

/// How this process restarts in place: the `Restart` call, or SIGHUP.
fn restart_signal() -> Result<Arc<RestartSignal>, CliError> {
    let signal = RestartSignal::for_this_process().map_err(|e| {
        CliError::Internal(format!(
            "cannot find this program's own path, which a restart executes: {e}"
        ))
    })?;
    let signal = Arc::new(signal);
    let on_hangup = signal.clone();
    tokio::spawn(async move {
        use tokio::signal::unix::{SignalKind, signal};
        let Ok(mut hangup) = signal(SignalKind::hangup()) else {
            return;
        };
        if hangup.recv().await.is_some() {
            on_hangup.request();
        }
    });
    Ok(signal)
}

/// Longest a restarting process waits for the calls under way to finish.
const RESTART_DRAIN_LIMIT: Duration = Duration::from_secs(30);

/// Runs `serving` to its end, or, once a restart was asked for, for at
/// most [`RESTART_DRAIN_LIMIT`] more (a call that never ends does not
/// hold the restart back).
async fn within_restart_limit<E>(
    serving: impl std::future::Future<Output = Result<(), E>>,
    restart: &RestartSignal,
) -> Result<(), CliError>
where
    CliError: From<E>,
{
    let limit = async {
        restart.requested().await;
        tokio::time::sleep(RESTART_DRAIN_LIMIT).await;
    };
    tokio::select! {
        served = serving => Ok(served?),
        _ = limit => {
            tracing::warn!(limit = ?RESTART_DRAIN_LIMIT, "restarting with calls still under way");
            Ok(())
        }
    }
}

/// Whether SIGTERM or Ctrl-C has come, watched for the life of the process.
fn termination_watch() -> tokio::sync::watch::Receiver<bool> {
    let (sender, receiver) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        shutdown_signal().await;
        let _ = sender.send(true);
    });
    receiver
}

/// Resolves once SIGTERM or Ctrl-C has come.
fn terminated_future(
    terminated: &tokio::sync::watch::Receiver<bool>,
) -> impl std::future::Future<Output = ()> + Send + 'static {
    let mut terminated = terminated.clone();
    async move {
        let _ = terminated.wait_for(|t| *t).await;
    }
}

/// Once the servers have wound down: executes the binary again if a
/// restart was asked for and no termination signal came meanwhile
/// (returns only if that failed).
fn exec_if_restarting(
    restart: &RestartSignal,
    terminated: &tokio::sync::watch::Receiver<bool>,
) -> Result<(), CliError> {
    if !restart.is_requested() || *terminated.borrow() {
        return Ok(());
    }
    let error = restart.exec();
    Err(CliError::Internal(format!(
        "restart failed: cannot execute this program again: {error}"
    )))
}

async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut terminate =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(signal) => signal,
                Err(_) => {
                    let _ = interrupt.await;
                    return;
                }
            };
        tokio::select! {
            _ = interrupt => {},
            _ = terminate.recv() => {},
        }
    }
    #[cfg(not(unix))]
    let _ = interrupt.await;
}
