//! An aggregator's children found by gossip (`--gossip`, `--seeds`).
//!
//! Every [`SYNC_EVERY`] the aggregator reads the gossip roster and brings
//! its [`Membership`](crate::membership::Membership) in line:
//!
//! - a leaf that is `ready` (or `draining`) becomes a child, live or not:
//!   an aggregator started after a leaf died still counts it as missing,
//!   from the record gossip keeps of it; a `starting` one does not count
//!   yet;
//! - a child that falls silent stays a child: it is still queried, and
//!   counted as queried and not answered, until it comes back or is taken
//!   out on purpose. A dead leaf never vanishes quietly from
//!   `leaves_queried`;
//! - a leaf that published `leaving` is taken out at once: it was drained
//!   (`shoal fleet drain`), so no query planned from then on counts any of
//!   its rows, and it stops a few seconds later;
//! - an admin takes out a dead member with `DELETE
//!   /api/v1/fleet/members/NAME` ([`FleetGossip::remove`]); a member that
//!   answers cannot be removed (drain it instead). The aggregator publishes
//!   the removal (name and generation) in its own record, and every
//!   aggregator honours the removals any aggregator publishes, including
//!   one started later. If a removed member comes back to life, it is a
//!   child again. (Were every aggregator restarted at once, the removals
//!   would be forgotten and the dead member counted as missing again: the
//!   safe side.)
//!
//! A starting aggregator syncs until its roster settles
//! ([`FleetGossip::settle`]) before it serves.
//!
//! The aggregator publishes itself too (role `aggregator`, its Flight and
//! HTTP addresses, `ready`), so `shoal fleet` finds it.

use std::sync::Arc;
use std::time::Duration;
use std::time::Instant;

use shoal_contract::gossip::Roster;
use shoal_contract::{Gossip, MemberState, Role};
use tracing::{info, warn};

use crate::fleet::{Child, Fleet};
use crate::membership::RemoveRefused;

/// How often the roster is read into the fleet.
pub const SYNC_EVERY: Duration = Duration::from_millis(250);
/// A starting aggregator's roster counts as settled once unchanged this long.
const SETTLED_AFTER: Duration = Duration::from_secs(1);
/// Longest a starting aggregator waits for its roster to settle.
const SETTLE_AT_MOST: Duration = Duration::from_secs(5);
/// Removals an aggregator publishes at most (the newest first).
const MAX_REMOVED: usize = 256;

/// See the module docs.
#[derive(Debug)]
pub struct FleetGossip {
    gossip: tokio::sync::Mutex<Gossip>,
    fleet: Arc<Fleet>,
    /// Held by a sync and by a removal: one at a time.
    syncing: tokio::sync::Mutex<()>,
}

impl FleetGossip {
    /// Starts keeping `fleet` in line with `gossip`'s roster.
    pub fn start(gossip: Gossip, fleet: Arc<Fleet>) -> Arc<Self> {
        let this = Arc::new(Self {
            gossip: tokio::sync::Mutex::new(gossip),
            fleet,
            syncing: tokio::sync::Mutex::new(()),
        });
        let weak = Arc::downgrade(&this);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(SYNC_EVERY);
            loop {
                tick.tick().await;
                let Some(this) = weak.upgrade() else { return };
                let _members = this.sync().await;
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

    /// Reads the roster into the fleet once (see the module docs); returns
    /// how many members the roster held.
    pub async fn sync(&self) -> usize {
        let _one_at_a_time = self.syncing.lock().await;
        let roster = self.roster().await;
        let mut added = false;
        for member in roster.members.iter().filter(|m| m.role == Role::Leaf) {
            let was_removed = roster
                .removed
                .get(&member.name)
                .is_some_and(|generation| *generation >= member.generation);
            let served = roster.served.contains(&member.name);
            let counts = match member.state {
                MemberState::Ready | MemberState::Draining => member.live || !was_removed,
                // Restarting, or died while it restarted: it served before.
                MemberState::Starting => served && !member.live && !was_removed,
                MemberState::Leaving => false,
            };
            if counts {
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
                        info!(member = %member.name, address = %member.service, live = member.live, "leaf counted");
                        added = true;
                    }
                    Err(error) => warn!(member = %member.name, %error, "leaf cannot be reached"),
                }
            } else if (member.state == MemberState::Leaving || (!member.live && was_removed))
                // A leaving leaf holds no row a query planned from now on
                // counts (it drained): it goes at once, before it stops.
                && self.fleet.membership().remove(&member.name).is_some()
            {
                info!(member = %member.name, state = %member.state, "leaf no longer counted: it left, or an admin removed it");
            }
        }
        if added {
            // Ask the new children for their tables now, not in a second.
            self.fleet.refresh().await;
        }
        let tables: Vec<String> = self.fleet.table_names().into_iter().collect();
        let members = roster.members.len();
        // Every removal any aggregator published is kept in this one's
        // record too, so it outlives the aggregator that took it.
        let mut removed: Vec<(String, u64)> = roster.removed.into_iter().collect();
        removed.truncate(MAX_REMOVED);
        self.publish(|me| {
            me.tables = tables;
            me.removed = removed;
        })
        .await;
        members
    }

    /// Syncs until the roster stops growing (up to [`SETTLE_AT_MOST`]), so
    /// a starting aggregator answers its first query with every member
    /// counted, not only the first it heard of; then says `ready`.
    pub async fn settle(&self) {
        let began = Instant::now();
        let mut seen = usize::MAX;
        let mut stable_since = Instant::now();
        while began.elapsed() < SETTLE_AT_MOST {
            let now = self.sync().await;
            if now != seen {
                seen = now;
                stable_since = Instant::now();
            } else if stable_since.elapsed() >= SETTLED_AFTER {
                break;
            }
            tokio::time::sleep(SYNC_EVERY).await;
        }
        self.publish(|me| me.state = MemberState::Ready).await;
    }

    /// Takes the dead member `name` out of this aggregator's children and
    /// tells every other aggregator by gossip (an admin's call). A member
    /// that answers its status calls is refused.
    pub async fn remove(&self, name: &str) -> Result<Arc<Child>, RemoveRefused> {
        let _one_at_a_time = self.syncing.lock().await;
        let roster = self.roster().await;
        if let Some(child) = self.fleet.children().iter().find(|c| c.name == name)
            && child.is_up()
        {
            return Err(RemoveRefused::Live(name.to_string()));
        }
        // Published first: a sync that runs next must not count it again.
        if let Some(member) = roster.members.iter().find(|m| m.name == name) {
            let entry = (member.name.clone(), member.generation);
            self.publish(|me| {
                me.removed.retain(|(n, _)| n != &entry.0);
                me.removed.insert(0, entry);
                me.removed.truncate(MAX_REMOVED);
            })
            .await;
        }
        self.fleet.membership().remove_dead(name)
    }
}
