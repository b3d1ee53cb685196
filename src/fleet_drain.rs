//! `shoal fleet drain LEAF`: empties a leaf into the others, then has it
//! leave the fleet, while ingest and queries go on.
//!
//! The leaf is told to drain (it refuses ingest from then on, so the
//! aggregators send rows elsewhere, and seals its open blocks). Then, a
//! round of at most `--round-mib` at a time, its sealed blocks are copied
//! to the other ready leaves, each to the one with the most free memory
//! (the copy is `pending` there: counted by no query), and handed over at
//! a time `T` = now + `--lead`: the leaves taking blocks are told first,
//! then the draining leaf. A query planned before `T` counts the draining
//! leaf's copy, one planned at or after `T` the new one (see the leaf's
//! `table::handover`), so no query counts a block twice or not at all.
//! If a handover call fails before `T`, the round is cancelled on every
//! leaf and the command stops with the reason; run it again to go on.
//! When the leaf lists nothing left to move, it is told to leave: it says
//! `leaving` in the gossip (aggregators then stop counting it) and stops.
//!
//! The calls need the cluster secret (`--cluster-secret-file`), and go
//! over plain gRPC to the members' service addresses; the block bytes
//! pass through this command.

use std::time::{Duration, Instant};

use shoal_contract::{Member, MemberState, Role};
use shoal_proto::cluster_auth::ClusterSecretInterceptor;
use shoal_proto::{BlockChunk, BlockRef, DrainRequest, HandoverRequest, LeaveRequest};

use crate::error::CliError;
use crate::fleet_cli::{FleetArgs, LeafClient, leaf_client, observe};
use crate::security_flags::load_cluster_secret;

/// How long one block's copy or one handover call may take.
const CALL_TIMEOUT: Duration = Duration::from_secs(60);

#[derive(Debug, clap::Args)]
pub struct DrainArgs {
    /// The leaf's member name.
    name: String,
    #[command(flatten)]
    fleet: FleetArgs,
    /// Blocks copied per handover, in MiB: what the fleet holds twice at
    /// most while they move.
    #[arg(long, default_value_t = 256)]
    round_mib: u64,
    /// Time from the start of a handover to the moment queries switch to
    /// the new copies, e.g. `2s`; it must cover the handover calls and
    /// the skew between the members' clocks.
    #[arg(long, default_value = "2s")]
    lead: String,
}

/// A leaf blocks go to.
struct Target {
    member: Member,
    client: LeafClient,
    /// Free memory as last heard, less what this drain sent since.
    free: u64,
    full: bool,
}

/// A block copied in this round: where it was, where it went.
struct Copied {
    from: BlockRef,
    target: usize,
    to: BlockRef,
}

pub async fn drain(args: DrainArgs) -> Result<(), CliError> {
    let lead = crate::cli::parse_duration("--lead", &args.lead)?;
    let Some(secret) = load_cluster_secret(args.fleet.cluster_secret_file.as_ref())? else {
        return Err(CliError::Internal(
            "draining needs the fleet's cluster secret: pass --cluster-secret-file".to_string(),
        ));
    };
    let interceptor = ClusterSecretInterceptor::new(Some(&secret));
    let (gossip, roster) = observe(&args.fleet).await?;
    gossip.shutdown().await;
    let Some(source) = roster
        .members
        .iter()
        .find(|m| m.name == args.name && m.role == Role::Leaf)
        .cloned()
    else {
        return Err(CliError::Internal(format!(
            "no leaf named {:?} in the fleet",
            args.name
        )));
    };
    let mut targets = Vec::new();
    for member in roster.members.iter().filter(|m| {
        m.role == Role::Leaf
            && m.name != source.name
            && m.live
            && m.state == MemberState::Ready
            // A leaf of an older version may not read the blocks.
            && m.format_version >= source.format_version
    }) {
        targets.push(Target {
            client: leaf_client(member, &interceptor)
                .await
                .map_err(CliError::Internal)?,
            free: member.free_memory_bytes.unwrap_or(u64::MAX),
            member: member.clone(),
            full: false,
        });
    }
    if targets.is_empty() {
        return Err(CliError::Internal(format!(
            "no other ready leaf to take {:?}'s blocks",
            source.name
        )));
    }
    let mut drainer = Drainer {
        source: leaf_client(&source, &interceptor)
            .await
            .map_err(CliError::Internal)?,
        targets,
        lead,
        round_bytes: args.round_mib.max(1) * 1024 * 1024,
        started: Instant::now(),
        rows: 0,
        blocks: 0,
        bytes: 0,
    };
    drainer.run().await.map_err(CliError::Internal)?;
    let mut leave = tonic::Request::new(LeaveRequest {});
    leave.set_timeout(CALL_TIMEOUT + lead);
    let left = drainer.source.leave(leave).await.map_err(|s| {
        CliError::Internal(format!("{} did not leave: {}", source.name, s.message()))
    })?;
    let seconds = drainer.started.elapsed().as_secs_f64();
    println!(
        "drained {}: {} blocks, {} rows, {} MiB moved to {} leaves in {seconds:.2} s ({:.0} rows/s); {}",
        source.name,
        drainer.blocks,
        drainer.rows,
        drainer.bytes / (1024 * 1024),
        drainer.targets.len(),
        drainer.rows as f64 / seconds.max(1e-9),
        left.into_inner().message
    );
    Ok(())
}

struct Drainer {
    source: LeafClient,
    targets: Vec<Target>,
    lead: Duration,
    round_bytes: u64,
    started: Instant,
    rows: u64,
    blocks: u64,
    bytes: u64,
}

impl Drainer {
    async fn run(&mut self) -> Result<(), String> {
        loop {
            let mut request = tonic::Request::new(DrainRequest {});
            request.set_timeout(CALL_TIMEOUT);
            let blocks = self
                .source
                .drain(request)
                .await
                .map_err(|s| format!("drain refused: {}", s.message()))?
                .into_inner()
                .blocks;
            if blocks.is_empty() {
                return Ok(());
            }
            let mut round = Vec::new();
            let mut round_bytes = 0;
            for block in blocks {
                round_bytes += block.bytes;
                round.push(block);
                if round_bytes >= self.round_bytes {
                    self.move_round(std::mem::take(&mut round)).await?;
                    round_bytes = 0;
                }
            }
            if !round.is_empty() {
                self.move_round(round).await?;
            }
        }
    }

    /// Copies `blocks` and hands them over; on any failure undoes the round.
    async fn move_round(&mut self, blocks: Vec<BlockRef>) -> Result<(), String> {
        let mut copied = Vec::new();
        for block in blocks {
            match self.copy(&block).await {
                Ok((target, to)) => copied.push(Copied {
                    from: block,
                    target,
                    to,
                }),
                Err(error) => {
                    self.cancel_targets(&copied, 0).await;
                    return Err(error);
                }
            }
        }
        let at = shoal_leaf::store::now_micros() + self.lead.as_micros() as i64;
        if let Err(error) = self.hand_over(&copied, at).await {
            // The draining leaf first: only once it counts its blocks again
            // (and will refuse a give of this round that comes late) may
            // the copies go.
            if let Err(again) = self.cancel_source(&copied, at).await {
                return Err(format!(
                    "{error}; then the draining leaf did not take the round back ({again}): its blocks may count on both leaves or on neither from {at} µs on, so do not run the drain again before checking `shoal fleet status`"
                ));
            }
            self.cancel_targets(&copied, at).await;
            let late = shoal_leaf::store::now_micros() - at;
            if late > 0 {
                return Err(format!(
                    "{error}; the round was taken back {} ms after its handover time, so queries planned in that time may have counted its blocks twice",
                    late / 1000
                ));
            }
            return Err(error);
        }
        for block in &copied {
            self.rows += block.from.rows;
            self.bytes += block.from.bytes;
            self.blocks += 1;
        }
        let seconds = self.started.elapsed().as_secs_f64();
        println!(
            "moved {} blocks, {} rows so far ({:.0} rows/s); queries count them on their new leaves from {:.3} (s since the epoch)",
            self.blocks,
            self.rows,
            self.rows as f64 / seconds.max(1e-9),
            at as f64 / 1e6
        );
        Ok(())
    }

    /// Copies one block to the target with the most free memory (the next
    /// one if it refuses); answers the target and the copy's reference.
    async fn copy(&mut self, block: &BlockRef) -> Result<(usize, BlockRef), String> {
        let mut request = tonic::Request::new(block.clone());
        request.set_timeout(CALL_TIMEOUT);
        let mut stream = self
            .source
            .export_block(request)
            .await
            .map_err(|s| format!("export of {} refused: {}", describe(block), s.message()))?
            .into_inner();
        let mut chunks: Vec<BlockChunk> = Vec::new();
        while let Some(chunk) = stream
            .message()
            .await
            .map_err(|s| format!("export of {} failed: {}", describe(block), s.message()))?
        {
            chunks.push(chunk);
        }
        if let Some(first) = chunks.first_mut() {
            first.table = block.table.clone();
        }
        let mut refusals = Vec::new();
        loop {
            let Some(target) = (0..self.targets.len())
                .filter(|&i| !self.targets[i].full)
                .max_by_key(|&i| self.targets[i].free)
            else {
                return Err(format!(
                    "no leaf took {}: {}",
                    describe(block),
                    refusals.join("; ")
                ));
            };
            let mut request = tonic::Request::new(futures::stream::iter(chunks.clone()));
            request.set_timeout(CALL_TIMEOUT);
            let taken = self.targets[target].client.import_block(request).await;
            let target_state = &mut self.targets[target];
            match taken {
                Ok(copy) => {
                    target_state.free = target_state.free.saturating_sub(block.bytes);
                    return Ok((target, copy.into_inner()));
                }
                Err(status)
                    if matches!(
                        status.code(),
                        tonic::Code::ResourceExhausted | tonic::Code::FailedPrecondition
                    ) =>
                {
                    // Full, or draining itself: the others take the rest.
                    target_state.full = true;
                    refusals.push(format!(
                        "{}: {}",
                        target_state.member.name,
                        status.message()
                    ));
                }
                Err(status) => {
                    return Err(format!(
                        "{} did not take {}: {}",
                        target_state.member.name,
                        describe(block),
                        status.message()
                    ));
                }
            }
        }
    }

    /// Tells the targets to take their copies at `T`, then the source to
    /// give its blocks at `T`; every call must be done before `T`.
    async fn hand_over(&mut self, copied: &[Copied], at: i64) -> Result<(), String> {
        let deadline = Instant::now() + self.lead / 2;
        for (index, target) in self.targets.iter_mut().enumerate() {
            let take: Vec<BlockRef> = copied
                .iter()
                .filter(|c| c.target == index)
                .map(|c| c.to.clone())
                .collect();
            if take.is_empty() {
                continue;
            }
            let request = HandoverRequest {
                at_micros: at,
                take,
                ..Default::default()
            };
            call_before(&mut target.client, request, deadline)
                .await
                .map_err(|e| format!("{} refused the handover: {e}", target.member.name))?;
        }
        let request = HandoverRequest {
            at_micros: at,
            give: copied.iter().map(|c| c.from.clone()).collect(),
            ..Default::default()
        };
        call_before(&mut self.source, request, deadline)
            .await
            .map_err(|e| format!("the draining leaf refused the handover: {e}"))
    }

    /// Undoes the source's side of the handover at `at`: its blocks count
    /// again, and a give of that round arriving late is refused.
    async fn cancel_source(&mut self, copied: &[Copied], at: i64) -> Result<(), String> {
        let request = HandoverRequest {
            at_micros: at,
            cancel: copied.iter().map(|c| c.from.clone()).collect(),
            ..Default::default()
        };
        let deadline = Instant::now() + CALL_TIMEOUT;
        call_before(&mut self.source, request, deadline).await
    }

    /// Deletes the copies of a round (pending, or taken from `at`).
    async fn cancel_targets(&mut self, copied: &[Copied], at: i64) {
        let deadline = Instant::now() + CALL_TIMEOUT;
        for (index, target) in self.targets.iter_mut().enumerate() {
            let cancel: Vec<BlockRef> = copied
                .iter()
                .filter(|c| c.target == index)
                .map(|c| c.to.clone())
                .collect();
            if cancel.is_empty() {
                continue;
            }
            let request = HandoverRequest {
                at_micros: at,
                cancel,
                ..Default::default()
            };
            if let Err(error) = call_before(&mut target.client, request, deadline).await {
                eprintln!(
                    "could not delete the copies on {} ({error}): they stay pending there, counted by no query, until it restarts",
                    target.member.name
                );
            }
        }
    }
}

async fn call_before(
    client: &mut LeafClient,
    request: HandoverRequest,
    deadline: Instant,
) -> Result<(), String> {
    let left = deadline.saturating_duration_since(Instant::now());
    if left.is_zero() {
        return Err("no time left before the handover".to_string());
    }
    let mut request = tonic::Request::new(request);
    request.set_timeout(left);
    match tokio::time::timeout(left, client.handover(request)).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(status)) => Err(status.message().to_string()),
        Err(_) => Err(format!("no answer within {} ms", left.as_millis())),
    }
}

fn describe(block: &BlockRef) -> String {
    format!(
        "block {}-{} of table {:?}",
        block.segment, block.part, block.table
    )
}
