//! An aggregator's children found by gossip (`--gossip`, `--seeds`).
//!
//! Every [`SYNC_EVERY`] the aggregator reads the gossip roster and brings
//! its [`Membership`](crate::membership::Membership) in line:
//!
//! - a leaf that is `ready` (or `draining`) and live becomes a child; a
//!   `starting` one does not count yet;
//! - a child that falls silent stays a child: it is still queried, and
//!   counted as queried and not answered, until it comes back or is taken
//!   out on purpose. A dead leaf never vanishes quietly from
//!   `leaves_queried`;
//! - a leaf that published `leaving` (drained) and then fell silent is
//!   taken out: it left on purpose;
//! - an admin takes out a dead member with `DELETE
//!   /api/v1/fleet/members/NAME` ([`Membership::remove_dead`]); a member
//!   that answers cannot be removed (drain it instead). If a removed member
//!   comes back to life, gossip makes it a child again; a dead member is
//!   never added (an aggregator started after a leaf died does not count
//!   that leaf: it never saw it ready).
//!
//! [`Membership::remove_dead`]: crate::membership::Membership::remove_dead
//!
//! The aggregator publishes itself too (role `aggregator`, its Flight and
//! HTTP addresses, `ready`), so `shoal fleet` finds it.

use std::sync::Arc;
use std::time::Duration;

use shoal_contract::gossip::Roster;
use shoal_contract::{Gossip, MemberState, Role};
use tracing::{info, warn};

use crate::fleet::Fleet;

/// How often the roster is read into the fleet.
pub const SYNC_EVERY: Duration = Duration::from_millis(250);

/// See the module docs.
#[derive(Debug)]
pub struct FleetGossip {
    gossip: tokio::sync::Mutex<Gossip>,
    fleet: Arc<Fleet>,
}

impl FleetGossip {
    /// Starts keeping `fleet` in line with `gossip`'s roster.
    pub fn start(gossip: Gossip, fleet: Arc<Fleet>) -> Arc<Self> {
        let this = Arc::new(Self {
            gossip: tokio::sync::Mutex::new(gossip),
            fleet,
        });
        let weak = Arc::downgrade(&this);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(SYNC_EVERY);
            loop {
                tick.tick().await;
                let Some(this) = weak.upgrade() else { return };
                this.sync().await;
            }
        });
        this
    }

    /// What gossip says now.
    pub async fn roster(&self) -> Roster {
        self.gossip.lock().await.roster().await
    }

    /// Publishes a change of this aggregator's own record.
    pub async fn publish(&self, update: impl FnOnce(&mut shoal_contract::Member)) {
        self.gossip.lock().await.publish(update).await;
    }

    /// Reads the roster into the fleet once (see the module docs).
    pub async fn sync(&self) {
        let roster = self.roster().await;
        let mut added = false;
        for member in roster.members.iter().filter(|m| m.role == Role::Leaf) {
            match member.state {
                MemberState::Ready | MemberState::Draining if member.live => {
                    let known = self
                        .fleet
                        .children()
                        .iter()
                        .any(|c| c.name == member.name && c.address == member.service);
                    if known {
                        continue;
                    }
                    match self.fleet.membership().add(&member.name, &member.service) {
                        Ok(_) => {
                            info!(member = %member.name, address = %member.service, "leaf joined");
                            added = true;
                        }
                        Err(error) => {
                            warn!(member = %member.name, %error, "leaf cannot be reached")
                        }
                    }
                }
                MemberState::Leaving
                    if !member.live && self.fleet.membership().remove(&member.name).is_some() =>
                {
                    info!(member = %member.name, "leaf left the fleet");
                }
                _ => {}
            }
        }
        if added {
            // Ask the new children for their tables now, not in a second.
            self.fleet.refresh().await;
        }
        let tables: Vec<String> = self.fleet.tables().into_keys().collect();
        self.publish(|me| me.tables = tables).await;
    }
}
