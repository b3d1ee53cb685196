//! `shoal fleet roll`: restarts every leaf a batch at a time, then every
//! aggregator one at a time, each in place (the `Restart` call: the
//! process finishes what it answers and executes its binary again, so a
//! new binary at the same path makes this an upgrade).
//!
//! Before each batch the roll checks what completeness would fall to with
//! the batch down (leaves heard and ready, less the batch, over all
//! leaves, silent ones included) and stops with a report if that is below
//! `--min-completeness`. After each batch it waits for every leaf of it to
//! come back (a newer generation of the same name, heard and ready); one
//! that does not within `--timeout` stops the roll, with a report of what
//! was restarted and what was not.

use std::time::{Duration, Instant};

use shoal_contract::{Gossip, Member, MemberState, Role};
use shoal_proto::RestartRequest;
use shoal_proto::cluster_auth::ClusterSecretInterceptor;

use crate::error::CliError;
use crate::fleet_cli::{FleetArgs, leaf_client, observe};
use crate::security_flags::load_cluster_secret;

#[derive(Debug, clap::Args)]
pub struct RollArgs {
    #[command(flatten)]
    fleet: FleetArgs,
    /// Leaves restarted at once.
    #[arg(long, conflicts_with = "percent")]
    batch: Option<usize>,
    /// Leaves restarted at once, as a share of the fleet (rounded up).
    #[arg(long)]
    percent: Option<f64>,
    /// Stop rather than let the share of leaves answering fall below this
    /// (0 to 1).
    #[arg(long, default_value_t = 0.0)]
    min_completeness: f64,
    /// How long a restarted member may take to be ready again, e.g. `60s`.
    #[arg(long, default_value = "60s")]
    timeout: String,
    /// Pause after each batch is back, so aggregators have asked it for
    /// its status, e.g. `1s`.
    #[arg(long, default_value = "1s")]
    settle: String,
}

pub async fn roll(args: RollArgs) -> Result<(), CliError> {
    let duration = crate::cli::parse_duration;
    let timeout = duration("--timeout", &args.timeout)?;
    let settle = duration("--settle", &args.settle)?;
    if !(0.0..=1.0).contains(&args.min_completeness) {
        return Err(CliError::InvalidFlag {
            flag: "--min-completeness",
            value: args.min_completeness.to_string(),
            reason: "a share between 0 and 1".to_string(),
        });
    }
    let secret = load_cluster_secret(args.fleet.cluster_secret_file.as_ref())?;
    let interceptor = ClusterSecretInterceptor::new(secret.as_ref());
    let (gossip, roster) = observe(&args.fleet).await?;
    let started = Instant::now();
    let of_role = |role: Role| -> Vec<Member> {
        roster
            .members
            .iter()
            .filter(|m| m.role == role)
            .cloned()
            .collect()
    };
    let leaves = of_role(Role::Leaf);
    let aggregators = of_role(Role::Aggregator);
    let total = leaves.len();
    let batch = match (args.batch, args.percent) {
        (Some(batch), _) => batch.max(1),
        (None, Some(percent)) => ((total as f64 * percent / 100.0).ceil() as usize).max(1),
        (None, None) => 1,
    };
    let mut roller = Roller {
        gossip,
        interceptor,
        timeout,
        restarted: Vec::new(),
    };
    let outcome = async {
        let live: Vec<Member> = leaves.iter().filter(|m| m.live).cloned().collect();
        for group in live.chunks(batch) {
            let serving = roller.serving_leaves().await;
            let during = serving.saturating_sub(group.len());
            let share = during as f64 / total.max(1) as f64;
            if share < args.min_completeness {
                return Err(format!(
                    "stopped before restarting {}: {during}/{total} leaves would answer ({share:.3}), below --min-completeness {}",
                    names(group),
                    args.min_completeness
                ));
            }
            roller.restart_all(group).await?;
            tokio::time::sleep(settle).await;
        }
        if aggregators.len() == 1 {
            println!("only one aggregator: queries to it fail while it restarts");
        }
        for aggregator in aggregators.iter().filter(|m| m.live) {
            roller.restart_all(std::slice::from_ref(aggregator)).await?;
            tokio::time::sleep(settle).await;
        }
        Ok(())
    }
    .await;
    let Roller {
        gossip, restarted, ..
    } = roller;
    gossip.shutdown().await;
    let elapsed = started.elapsed();
    match outcome {
        Ok(()) => {
            println!(
                "rolled {} members ({} leaves in batches of {batch}, then {} aggregators) in {:.1} s",
                restarted.len(),
                leaves.iter().filter(|m| m.live).count(),
                aggregators.iter().filter(|m| m.live).count(),
                elapsed.as_secs_f64()
            );
            Ok(())
        }
        Err(reason) => Err(CliError::Internal(format!(
            "roll stopped after {:.1} s with {} members restarted ({}): {reason}",
            elapsed.as_secs_f64(),
            restarted.len(),
            match restarted.is_empty() {
                true => "none".to_string(),
                false => restarted.join(", "),
            }
        ))),
    }
}

struct Roller {
    gossip: Gossip,
    interceptor: ClusterSecretInterceptor,
    timeout: Duration,
    restarted: Vec<String>,
}

impl Roller {
    /// Leaves heard and ready now.
    async fn serving_leaves(&self) -> usize {
        let roster = self.gossip.roster().await;
        roster
            .members
            .iter()
            .filter(|m| m.role == Role::Leaf && m.live && m.state == MemberState::Ready)
            .count()
    }

    /// Restarts `group` and waits until each is back.
    async fn restart_all(&mut self, group: &[Member]) -> Result<(), String> {
        let began = Instant::now();
        for member in group {
            self.ask_restart(member).await?;
        }
        for member in group {
            self.wait_back(member).await?;
            self.restarted.push(member.name.clone());
        }
        println!(
            "restarted {} in {:.2} s",
            names(group),
            began.elapsed().as_secs_f64()
        );
        Ok(())
    }

    async fn ask_restart(&self, member: &Member) -> Result<(), String> {
        let failed = |e: String| {
            format!(
                "{} at {}: restart refused: {e}",
                member.name, member.service
            )
        };
        let mut client = leaf_client(member, &self.interceptor)
            .await
            .map_err(|e| format!("restart refused: {e}"))?;
        let mut request = tonic::Request::new(RestartRequest {});
        request.set_timeout(Duration::from_secs(10));
        client
            .restart(request)
            .await
            .map_err(|status| failed(status.message().to_string()))?;
        Ok(())
    }

    /// Waits for a newer generation of `member` to be heard and ready.
    async fn wait_back(&self, member: &Member) -> Result<(), String> {
        let began = Instant::now();
        while began.elapsed() < self.timeout {
            let roster = self.gossip.roster().await;
            let back = roster.members.iter().any(|m| {
                m.name == member.name
                    && m.generation > member.generation
                    && m.live
                    && m.state == MemberState::Ready
            });
            if back {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Err(format!(
            "{} did not come back ready within {:?}",
            member.name, self.timeout
        ))
    }
}

fn names(group: &[Member]) -> String {
    group
        .iter()
        .map(|m| m.name.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}
