//! `shoal fleet status|remove --seeds ...`: reads the fleet from gossip.
//!
//! The command joins the fleet's gossip for a moment as an `observer` (a
//! member no aggregator queries), waits until the roster stops growing,
//! then prints it (`status`) or asks every live aggregator it found to
//! take a dead member out of its count (`remove`, through each one's
//! `DELETE /api/v1/fleet/members/NAME`, plain HTTP; with TLS, call that
//! route with curl). It leaves the gossip when done; the others forget an
//! observer once it is silent.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use shoal_contract::gossip::Roster;
use shoal_contract::{Gossip, GossipSettings, Member, MemberState, Role};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use shoal_aggregator::http::fleet::member_json;

use crate::error::CliError;
use crate::security_flags::load_cluster_secret;

/// `shoal fleet ...`
#[derive(Debug, clap::Subcommand)]
pub enum FleetCommand {
    /// Print every member: role, state, whether it is heard, addresses,
    /// free memory, format version, tables.
    Status(FleetArgs),
    /// Take a dead member out of every aggregator's count (it stays
    /// counted as missing until then).
    Remove(RemoveArgs),
    /// Restart every leaf, a batch at a time, then every aggregator,
    /// waiting for each to be ready again (a rolling restart or upgrade).
    Roll(crate::fleet_roll::RollArgs),
    /// Move a leaf's blocks to the other leaves while ingest and queries
    /// go on, then have it leave the fleet.
    Drain(crate::fleet_drain::DrainArgs),
}

#[derive(Debug, clap::Args)]
pub struct FleetArgs {
    /// Gossip addresses of members to ask, `host:port,...`.
    #[arg(long, value_delimiter = ',', required = true)]
    seeds: Vec<String>,
    /// The fleet's cluster secret (members' records are signed with it).
    #[arg(long)]
    pub cluster_secret_file: Option<PathBuf>,
    /// The IP this command gossips from (the one the seeds reach it at).
    #[arg(long, default_value = "127.0.0.1")]
    bind: IpAddr,
    /// Longest time to wait for the roster to settle, e.g. `5s`.
    #[arg(long, default_value = "5s")]
    wait: String,
    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, clap::Args)]
pub struct RemoveArgs {
    /// The member's name.
    name: String,
    #[command(flatten)]
    fleet: FleetArgs,
    /// An admin token of the aggregators (`--auth-file`), if they need one.
    #[arg(long)]
    token: Option<String>,
}

impl FleetCommand {
    pub async fn run(self) -> Result<(), CliError> {
        match self {
            Self::Status(args) => {
                let roster = read_roster(&args).await?;
                match args.json {
                    true => println!("{}", roster_json(&roster)),
                    false => print_table(&roster),
                }
                Ok(())
            }
            Self::Remove(args) => remove(args).await,
            Self::Roll(args) => crate::fleet_roll::roll(args).await,
            Self::Drain(args) => crate::fleet_drain::drain(args).await,
        }
    }
}

/// A `Leaf` service client of a member, sending the cluster secret.
pub type LeafClient = shoal_proto::LeafClient<
    tonic::codegen::InterceptedService<
        tonic::transport::Channel,
        shoal_proto::cluster_auth::ClusterSecretInterceptor,
    >,
>;

/// Connects to `member`'s gRPC service (plain HTTP/2), within 5 s.
pub async fn leaf_client(
    member: &Member,
    interceptor: &shoal_proto::cluster_auth::ClusterSecretInterceptor,
) -> Result<LeafClient, String> {
    let failed = |e: tonic::transport::Error| format!("{} at {}: {e}", member.name, member.service);
    let channel = tonic::transport::Endpoint::from_shared(format!("http://{}", member.service))
        .map_err(failed)?
        .connect_timeout(Duration::from_secs(5))
        .connect()
        .await
        .map_err(failed)?;
    Ok(shoal_proto::LeafClient::with_interceptor(
        channel,
        interceptor.clone(),
    ))
}

/// Joins as an observer, waits for the roster to settle, leaves.
async fn read_roster(args: &FleetArgs) -> Result<Roster, CliError> {
    let (gossip, roster) = observe(args).await?;
    gossip.shutdown().await;
    Ok(roster)
}

/// Joins as an observer and waits for the roster to settle; the caller
/// leaves the gossip when done with it.
pub async fn observe(args: &FleetArgs) -> Result<(Gossip, Roster), CliError> {
    let wait = crate::cli::parse_duration("--wait", &args.wait)?;
    let secret = load_cluster_secret(args.cluster_secret_file.as_ref())?;
    let listen = std::net::UdpSocket::bind(SocketAddr::new(args.bind, 0))
        .and_then(|socket| socket.local_addr())
        .map_err(|e| CliError::InvalidFlag {
            flag: "--bind",
            value: args.bind.to_string(),
            reason: e.to_string(),
        })?;
    let settings = GossipSettings {
        listen,
        seeds: args.seeds.clone(),
        advertise: None,
        name: Some(format!("observer@{listen}")),
    };
    let gossip_error = |e: shoal_contract::ContractError| CliError::Internal(e.to_string());
    let config = settings
        .config(Role::Observer, listen, secret)
        .map_err(gossip_error)?;
    let me = Member::new(Role::Observer, String::new(), MemberState::Ready, 0);
    let gossip = Gossip::join(config, me).await.map_err(gossip_error)?;
    let started = Instant::now();
    let mut seen = 0;
    let mut settled_since = Instant::now();
    let roster = loop {
        let roster = gossip.roster().await;
        let others = roster.members.len() + roster.refused.len();
        if others != seen {
            seen = others;
            settled_since = Instant::now();
        }
        let settled = others > 1 && settled_since.elapsed() >= Duration::from_secs(1);
        if settled || started.elapsed() >= wait {
            break roster;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let mut roster = roster;
    roster.members.retain(|m| m.role != Role::Observer);
    if roster.members.is_empty() {
        gossip.shutdown().await;
        return Err(CliError::Internal(format!(
            "no member answered at {} within {wait:?} (are these gossip addresses, and is the cluster secret the fleet's?)",
            args.seeds.join(",")
        )));
    }
    Ok((gossip, roster))
}

fn print_table(roster: &Roster) {
    println!(
        "{:<28} {:<10} {:<9} {:<5} {:<22} {:<22} {:>12} {:>6}  tables",
        "name", "role", "state", "live", "service", "http", "free_memory", "format"
    );
    for m in &roster.members {
        println!(
            "{:<28} {:<10} {:<9} {:<5} {:<22} {:<22} {:>12} {:>6}  {}",
            m.name,
            m.role.as_str(),
            m.state.as_str(),
            if m.live { "yes" } else { "NO" },
            m.service,
            m.http.as_deref().unwrap_or("-"),
            m.free_memory_bytes.map_or_else(
                || "unlimited".to_string(),
                |b| bytesize::ByteSize(b).to_string()
            ),
            m.format_version,
            m.tables.join(",")
        );
    }
    let leaves = roster.members.iter().filter(|m| m.role == Role::Leaf);
    let (live, dead): (Vec<&Member>, Vec<&Member>) = leaves.partition(|m| m.live);
    println!(
        "{} leaves heard, {} silent; {} aggregators",
        live.len(),
        dead.len(),
        roster
            .members
            .iter()
            .filter(|m| m.role == Role::Aggregator)
            .count()
    );
    for refused in &roster.refused {
        println!("refused: {refused}");
    }
}

/// The roster as JSON, each member as `GET /api/v1/fleet` gives it.
fn roster_json(roster: &Roster) -> serde_json::Value {
    let members: Vec<serde_json::Value> = roster.members.iter().map(member_json).collect();
    serde_json::json!({ "members": members, "refused": roster.refused })
}

async fn remove(args: RemoveArgs) -> Result<(), CliError> {
    let roster = read_roster(&args.fleet).await?;
    let aggregators: Vec<&Member> = roster
        .members
        .iter()
        .filter(|m| m.role == Role::Aggregator && m.live && m.http.is_some())
        .collect();
    if aggregators.is_empty() {
        return Err(CliError::Internal(
            "no live aggregator in the fleet to remove the member from".to_string(),
        ));
    }
    let mut failed = 0;
    for aggregator in aggregators {
        let http = aggregator.http.as_deref().unwrap_or_default();
        let path = format!("/api/v1/fleet/members/{}", percent_encode(&args.name));
        match delete(http, &path, args.token.as_deref()).await {
            Ok((200, _)) => println!("{}: removed {:?}", aggregator.name, args.name),
            Ok((status, body)) => {
                failed += 1;
                println!("{}: {status} {}", aggregator.name, body.trim());
            }
            Err(error) => {
                failed += 1;
                println!("{}: {error}", aggregator.name);
            }
        }
    }
    match failed {
        0 => Ok(()),
        n => Err(CliError::Internal(format!(
            "{n} aggregators did not remove {:?}",
            args.name
        ))),
    }
}

/// One `DELETE` over plain HTTP/1.1: the status and body.
async fn delete(address: &str, path: &str, token: Option<&str>) -> Result<(u16, String), String> {
    let exchange = async {
        let mut stream = tokio::net::TcpStream::connect(address)
            .await
            .map_err(|e| format!("cannot connect to {address}: {e}"))?;
        let authorization = token
            .map(|t| format!("authorization: Bearer {t}\r\n"))
            .unwrap_or_default();
        let request = format!(
            "DELETE {path} HTTP/1.1\r\nhost: {address}\r\n{authorization}connection: close\r\ncontent-length: 0\r\n\r\n"
        );
        stream
            .write_all(request.as_bytes())
            .await
            .map_err(|e| e.to_string())?;
        let mut response = Vec::new();
        stream
            .take(1 << 20)
            .read_to_end(&mut response)
            .await
            .map_err(|e| e.to_string())?;
        let text = String::from_utf8_lossy(&response).to_string();
        let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
        let status = head
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| format!("{address} did not answer HTTP"))?;
        Ok((status, body.to_string()))
    };
    tokio::time::timeout(Duration::from_secs(10), exchange)
        .await
        .map_err(|_| format!("{address}: no answer within 10 s"))?
}

/// A member name as one path segment.
fn percent_encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}
