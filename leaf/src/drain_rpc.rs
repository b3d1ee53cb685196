//! The drain calls of the `Leaf` service (`Drain`, `ExportBlock`,
//! `ImportBlock`, `Handover`, `Leave`): checks and async plumbing around
//! [`crate::drain`], whose file work runs in `spawn_blocking`.

use std::time::Duration;

use futures::StreamExt;
use futures::stream::BoxStream;
use shoal_proto::{
    BlockChunk, BlockRef, DrainResponse, HandoverRequest, HandoverResponse, LeaveResponse,
};
use tonic::{Status, Streaming};
use tracing::info;

use crate::drain::{self, MAX_IMPORT_BYTES};
use crate::error::LeafError;
use crate::server::LeafService;
use crate::store::now_micros;

/// Bytes of a block sent per message.
const CHUNK_BYTES: usize = 1 << 20;
/// How long a leaf says `leaving` before it stops, so gossip carries it.
const LEAVE_ANNOUNCE: Duration = Duration::from_secs(3);
/// How long after its last handover a leaf waits before it says `leaving`
/// (aggregators then stop asking it): a query whose snapshot time is
/// before the handover counts the blocks here, and must have chosen the
/// leaves it asks by then (its planning, a hop to a child aggregator,
/// clock skew between members).
const LEAVE_AFTER_HANDOVER: Duration = Duration::from_secs(2);

type Answer<T> = std::result::Result<T, Status>;

fn secured(service: &LeafService) -> Answer<()> {
    match service.secured {
        true => Ok(()),
        // Without a secret anyone could empty the leaf.
        false => Err(Status::failed_precondition(
            "draining needs a cluster secret (--cluster-secret-file on every process)",
        )),
    }
}

async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> crate::error::Result<T> + Send + 'static,
) -> Answer<T> {
    Ok(tokio::task::spawn_blocking(work)
        .await
        .map_err(LeafError::from)??)
}

pub async fn drain(service: &LeafService) -> Answer<DrainResponse> {
    secured(service)?;
    if !service.drain.is_draining() {
        info!("draining: ingest refused from now on");
    }
    service.drain.start().await?;
    let store = service.store().clone();
    let blocks = blocking(move || drain::blocks_to_move(&store)).await?;
    Ok(DrainResponse { blocks })
}

pub async fn export_block(
    service: &LeafService,
    block: BlockRef,
) -> Answer<BoxStream<'static, Answer<BlockChunk>>> {
    secured(service)?;
    let store = service.store().clone();
    let (bytes, index) = blocking(move || drain::export(&store, &block)).await?;
    let chunks = |data: Vec<u8>, index: bool| {
        data.chunks(CHUNK_BYTES)
            .map(|chunk| {
                Ok(BlockChunk {
                    table: String::new(),
                    index,
                    data: chunk.to_vec(),
                })
            })
            .collect::<Vec<_>>()
    };
    let mut all = chunks(bytes, false);
    all.extend(chunks(index, true));
    Ok(futures::stream::iter(all).boxed())
}

/// A draining leaf takes no blocks: it would have to move them again, and
/// could leave while they are on their way in.
fn taking(service: &LeafService) -> Answer<()> {
    match service.drain.is_draining() {
        true => Err(Status::failed_precondition(
            "this leaf is draining: it takes no blocks",
        )),
        false => Ok(()),
    }
}

pub async fn import_block(
    service: &LeafService,
    mut chunks: Streaming<BlockChunk>,
) -> Answer<BlockRef> {
    secured(service)?;
    taking(service)?;
    // What the copy may take, checked as it arrives: a sender cannot make
    // the leaf hold more than its free memory (or MAX_IMPORT_BYTES).
    let store = service.store().clone();
    let allowance = blocking(move || {
        Ok(match store.memory_limit() {
            Some(limit) => limit.saturating_sub(store.memory_used()),
            None => u64::MAX,
        })
    })
    .await?
    .min(MAX_IMPORT_BYTES as u64);
    let mut table = None;
    let (mut block, mut index) = (Vec::new(), Vec::new());
    while let Some(chunk) = chunks.next().await {
        let chunk = chunk?;
        if table.is_none() {
            table = Some(chunk.table.clone());
        }
        if (block.len() + index.len() + chunk.data.len()) as u64 > allowance {
            return Err(Status::resource_exhausted(format!(
                "the block does not fit: this leaf takes at most {allowance} bytes now"
            )));
        }
        let into = match chunk.index {
            true => &mut index,
            false if !index.is_empty() => {
                return Err(Status::invalid_argument(
                    "a block chunk came after its index",
                ));
            }
            false => &mut block,
        };
        into.extend_from_slice(&chunk.data);
    }
    let Some(table) = table.filter(|t: &String| !t.is_empty()) else {
        return Err(Status::invalid_argument(
            "an imported block's first chunk names its table",
        ));
    };
    let store = service.store().clone();
    blocking(move || drain::import(&store, &table, &block, &index)).await
}

pub async fn handover(service: &LeafService, request: HandoverRequest) -> Answer<HandoverResponse> {
    secured(service)?;
    if !request.take.is_empty() {
        taking(service)?;
    }
    let store = service.store().clone();
    let drain_state = service.drain.clone();
    blocking(move || {
        // Again, now: a drain may have begun since the check above.
        if !request.take.is_empty() && drain_state.is_draining() {
            return Err(LeafError::BadRequest(
                "this leaf is draining: it takes no blocks".to_string(),
            ));
        }
        drain::handover(&store, &request)
    })
    .await?;
    Ok(HandoverResponse {})
}

pub async fn leave(service: &LeafService) -> Answer<LeaveResponse> {
    secured(service)?;
    // Blocks given away count here for snapshots before their handover
    // time: wait until that has passed.
    let store = service.store().clone();
    let latest = blocking(move || Ok(drain::latest_give(&store))).await?;
    if let Some(at) = latest {
        let wait = at.saturating_sub(now_micros()).max(0) as u64;
        tokio::time::sleep(Duration::from_micros(wait) + LEAVE_AFTER_HANDOVER).await;
    }
    let store = service.store().clone();
    let drain_state = service.drain.clone();
    if let Some(reason) = blocking(move || Ok(drain::leave_refusal(&store, &drain_state))).await? {
        return Err(Status::failed_precondition(format!(
            "cannot leave: {reason}"
        )));
    }
    // Queued backup removals of the blocks given away must be done before
    // the process stops, or a reboot would restore them here.
    let store = service.store().clone();
    blocking(move || {
        store.flush_backup();
        Ok(())
    })
    .await?;
    service.drain.leave(LEAVE_ANNOUNCE);
    info!("drained: leaving the fleet");
    Ok(LeaveResponse {
        message: format!(
            "leaving: says so in the gossip, stops in {} s",
            LEAVE_ANNOUNCE.as_secs()
        ),
    })
}
