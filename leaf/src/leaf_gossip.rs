//! A leaf's place in the fleet's gossip (`--gossip`, `--seeds`): it joins
//! as `starting` before it opens its data, says `ready` once it serves, and
//! from then on publishes its free memory and tables every
//! [`PUBLISH_EVERY`]; a leaf being drained says `draining`, then
//! `leaving`. Aggregators query a leaf once it is ready; see
//! `shoal_aggregator::fleet_gossip`.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use shoal_contract::{Gossip, GossipSettings, Member, MemberState, Role};
use shoal_proto::cluster_auth::ClusterSecret;

use crate::block::BLOCK_FORMAT_VERSION;
use crate::drain::DrainState;
use crate::error::{LeafError, Result};
use crate::store::Store;

/// How often a leaf publishes its free memory and tables.
pub const PUBLISH_EVERY: Duration = Duration::from_secs(1);

/// Joins the fleet as a `starting` leaf serving at `listen`.
pub async fn join(
    settings: &GossipSettings,
    listen: SocketAddr,
    secret: Option<ClusterSecret>,
) -> Result<Gossip> {
    let invalid = |error: shoal_contract::ContractError| LeafError::BadRequest(error.to_string());
    let service = settings.advertised(listen).map_err(invalid)?;
    let me = Member::new(
        Role::Leaf,
        service.to_string(),
        MemberState::Starting,
        BLOCK_FORMAT_VERSION,
    );
    let config = settings
        .config(Role::Leaf, service, secret)
        .map_err(invalid)?;
    Gossip::join(config, me).await.map_err(invalid)
}

/// Says `ready` (`draining`, `leaving` once `drain` says so) and keeps
/// publishing what `store` holds, for as long as the process runs.
pub fn serve(mut gossip: Gossip, store: Arc<Store>, drain: Arc<DrainState>) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(PUBLISH_EVERY);
        loop {
            tick.tick().await;
            let free = store
                .memory_limit()
                .map(|limit| limit.saturating_sub(store.memory_used()));
            let mut tables: Vec<String> = store
                .tables()
                .iter()
                .map(|table| table.name().to_string())
                .collect();
            tables.sort();
            gossip
                .publish(|me| {
                    // Still `ready` while it restarts: it is gone only for
                    // a moment, and counted as missing meanwhile.
                    me.state = match (drain.is_leaving(), drain.is_draining()) {
                        (true, _) => MemberState::Leaving,
                        (false, true) => MemberState::Draining,
                        (false, false) => MemberState::Ready,
                    };
                    me.free_memory_bytes = free;
                    me.tables = tables;
                })
                .await;
        }
    });
}
