//! Membership by gossip: joining the fleet, publishing this member's
//! record, and reading everyone else's.
//!
//! Built on chitchat (the crate Quickwit's cluster runs on): every
//! [`GossipConfig::interval`] a member exchanges digests with a few others
//! over UDP (scuttlebutt anti-entropy), so each one's keys reach everyone
//! without a central directory, and a phi-accrual failure detector, fed by
//! the heartbeats that ride along, marks a member that falls silent as
//! dead within a few seconds. Seeds are only where to start: any live
//! member will do, and host names are resolved again as they change (a
//! Kubernetes headless service).
//!
//! A member's chitchat id is its stable name plus a generation (the time
//! it joined, in milliseconds), so a restarted member is told apart from
//! its earlier life and the earlier one's state is not mistaken for its own.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::net::SocketAddr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use chitchat::transport::UdpTransport;
use chitchat::{ChitchatConfig, ChitchatHandle, ChitchatId, FailureDetectorConfig, spawn_chitchat};
use shoal_proto::cluster_auth::ClusterSecret;

use crate::error::ContractError;
use crate::member::{Member, MemberState, Role, cluster_id};
use crate::signed_udp::SignedUdp;

/// How a member joins the fleet's gossip.
#[derive(Debug, Clone)]
pub struct GossipConfig {
    /// Stable across restarts (a leaf's `--name`).
    pub name: String,
    /// UDP address to listen on (`--gossip`).
    pub listen: SocketAddr,
    /// Address the others reach this member's gossip at (the listen
    /// address unless it is unspecified, e.g. `0.0.0.0`).
    pub advertise: SocketAddr,
    /// `host:port` of members to start from (`--seeds`).
    pub seeds: Vec<String>,
    /// Signs what this member publishes and checks what others do.
    pub secret: Option<ClusterSecret>,
    /// Time between gossip rounds.
    pub interval: Duration,
}

/// Default time between gossip rounds.
pub const GOSSIP_INTERVAL: Duration = Duration::from_millis(200);

/// What gossip says of the fleet at one moment.
#[derive(Debug, Clone, Default)]
pub struct Roster {
    /// Every member whose record verifies, live or not; of several
    /// generations of one name, the newest.
    pub members: Vec<Member>,
    /// Members whose record did not verify or parse, with why.
    pub refused: Vec<String>,
    /// Removals any aggregator published, in any of its generations:
    /// name and the newest generation removed.
    pub removed: BTreeMap<String, u64>,
    /// Leaves whose record said `ready` or `draining` in some generation
    /// (a leaf that died while restarting is still one that served).
    pub served: BTreeSet<String>,
}

/// This process's place in the fleet's gossip.
pub struct Gossip {
    handle: ChitchatHandle,
    secret: Option<ClusterSecret>,
    me: Member,
}

impl std::fmt::Debug for Gossip {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gossip").field("me", &self.me).finish()
    }
}

impl Gossip {
    /// Joins the fleet as `me` (its name, generation and gossip address are
    /// set from `config`) and starts gossiping in the background.
    pub async fn join(config: GossipConfig, mut me: Member) -> Result<Self, ContractError> {
        me.name = config.name.clone();
        me.generation = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        me.gossip = config.advertise;
        let id = ChitchatId::new(config.name.clone(), me.generation, config.advertise);
        let chitchat_config = ChitchatConfig {
            chitchat_id: id,
            cluster_id: cluster_id(config.secret.as_ref()),
            gossip_interval: config.interval,
            listen_addr: config.listen,
            seed_nodes: config.seeds.clone(),
            failure_detector_config: FailureDetectorConfig {
                phi_threshold: 8.0,
                sampling_window_size: 100,
                max_interval: Duration::from_secs(5),
                initial_interval: config.interval * 5,
                dead_node_grace_period: Duration::from_secs(24 * 60 * 60),
            },
            marked_for_deletion_grace_period: Duration::from_secs(60 * 60),
            catchup_callback: None,
            extra_liveness_predicate: None,
            protocol_version: chitchat::ProtocolVersion::V0,
        };
        let pairs = me.to_pairs(config.secret.as_ref());
        let spawned = match &config.secret {
            Some(secret) => {
                let transport = SignedUdp {
                    secret: secret.clone(),
                };
                spawn_chitchat(chitchat_config, pairs, &transport).await
            }
            None => spawn_chitchat(chitchat_config, pairs, &UdpTransport).await,
        };
        let handle = spawned.map_err(|e| ContractError::Gossip {
            address: config.listen.to_string(),
            reason: format!("{e:#}"),
        })?;
        Ok(Self {
            handle,
            secret: config.secret,
            me,
        })
    }

    /// This member as last published.
    pub fn me(&self) -> &Member {
        &self.me
    }

    /// Publishes `me` again after a change (state, free memory, tables,
    /// removed members); only keys whose value changed travel.
    pub async fn publish(&mut self, update: impl FnOnce(&mut Member)) {
        update(&mut self.me);
        let pairs = self.me.to_pairs(self.secret.as_ref());
        self.handle
            .with_chitchat(|chitchat| {
                let state = chitchat.self_node_state();
                for (key, value) in &pairs {
                    if state.get(key) != Some(value.as_str()) {
                        state.set(key.clone(), value.clone());
                    }
                }
            })
            .await;
    }

    /// Every member gossip knows of, with whether it is live now.
    pub async fn roster(&self) -> Roster {
        let secret = self.secret.clone();
        self.handle
            .with_chitchat(|chitchat| {
                let live: HashSet<ChitchatId> = chitchat.live_nodes().cloned().collect();
                let mut roster = Roster::default();
                for (id, state) in chitchat.node_states() {
                    let read = Member::read(
                        &id.node_id,
                        id.generation_id,
                        id.gossip_advertise_addr,
                        |key| state.get(key),
                        secret.as_ref(),
                    );
                    match read {
                        Ok(mut member) => {
                            member.live = live.contains(id);
                            // A `shoal fleet` command that has left is of
                            // no interest to anyone.
                            if member.live || member.role != Role::Observer {
                                roster.members.push(member);
                            }
                        }
                        // A member that has not yet published its keys
                        // (first gossip round) is not refused, only unknown.
                        Err(_) if state.num_key_values() == 0 => {}
                        Err(reason) => roster.refused.push(reason),
                    }
                }
                for member in &roster.members {
                    if member.role == Role::Aggregator {
                        for (name, generation) in &member.removed {
                            let newest = roster.removed.entry(name.clone()).or_default();
                            *newest = (*newest).max(*generation);
                        }
                    }
                    if member.role == Role::Leaf
                        && matches!(member.state, MemberState::Ready | MemberState::Draining)
                    {
                        roster.served.insert(member.name.clone());
                    }
                }
                newest_generations(&mut roster.members);
                roster
            })
            .await
    }

    /// Leaves the gossip (the others mark this member dead within seconds).
    pub async fn shutdown(self) {
        let _ = self.handle.shutdown().await;
    }
}

/// Keeps, of several generations of one name, the newest; a live one wins
/// over any dead one.
fn newest_generations(members: &mut Vec<Member>) {
    members.sort_by(|a, b| {
        a.name
            .cmp(&b.name)
            .then(b.live.cmp(&a.live))
            .then(b.generation.cmp(&a.generation))
    });
    members.dedup_by(|later, kept| later.name == kept.name);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn member(name: &str, generation: u64, live: bool) -> Member {
        Member {
            name: name.into(),
            generation,
            gossip: "127.0.0.1:1".parse().unwrap(),
            role: Role::Leaf,
            service: String::new(),
            http: None,
            state: MemberState::Ready,
            free_memory_bytes: None,
            format_version: 1,
            tables: Vec::new(),
            removed: Vec::new(),
            live,
        }
    }

    #[test]
    fn the_live_and_newest_generation_of_a_name_is_kept() {
        let mut members = vec![
            member("a", 1, false),
            member("a", 3, false),
            member("b", 5, false),
            member("b", 2, true),
        ];
        newest_generations(&mut members);
        let kept: Vec<_> = members
            .iter()
            .map(|m| (m.name.as_str(), m.generation))
            .collect();
        assert_eq!(kept, [("a", 3), ("b", 2)]);
    }

    fn free_udp_port() -> SocketAddr {
        std::net::UdpSocket::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
    }

    #[tokio::test]
    async fn members_find_each_other_and_a_silent_one_goes_dead() {
        let secret = ClusterSecret::new("0123456789abcdef0123").unwrap();
        let mut joined = Vec::new();
        let first = free_udp_port();
        for i in 0..3 {
            let address = if i == 0 { first } else { free_udp_port() };
            let config = GossipConfig {
                name: format!("leaf-{i}"),
                listen: address,
                advertise: address,
                seeds: vec![first.to_string()],
                secret: Some(secret.clone()),
                interval: Duration::from_millis(50),
            };
            joined.push(Gossip::join(config, member("", 0, false)).await.unwrap());
        }
        let all_live =
            |roster: &Roster| roster.members.len() == 3 && roster.members.iter().all(|m| m.live);
        let mut roster = Roster::default();
        for _ in 0..200 {
            roster = joined[0].roster().await;
            if all_live(&roster) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert!(all_live(&roster), "{roster:?}");
        assert!(roster.refused.is_empty());

        // A member publishing a change is seen with it.
        joined[2]
            .publish(|me| me.state = MemberState::Draining)
            .await;
        for _ in 0..200 {
            roster = joined[0].roster().await;
            let drained = roster.members.iter().find(|m| m.name == "leaf-2");
            if drained.is_some_and(|m| m.state == MemberState::Draining) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let silent = joined.pop().unwrap();
        silent.shutdown().await;
        for _ in 0..400 {
            roster = joined[0].roster().await;
            let gone = roster.members.iter().find(|m| m.name == "leaf-2");
            if gone.is_some_and(|m| !m.live) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let gone = roster.members.iter().find(|m| m.name == "leaf-2").unwrap();
        assert!(!gone.live, "{roster:?}");
        assert_eq!(gone.state, MemberState::Draining);
    }

    #[tokio::test]
    async fn a_member_of_another_secret_is_never_seen() {
        let ours = ClusterSecret::new("0123456789abcdef0123").unwrap();
        let theirs = ClusterSecret::new("another-secret-of-this-fleet").unwrap();
        let first = free_udp_port();
        let second = free_udp_port();
        let join = |name: &str, address, secret: &ClusterSecret| {
            Gossip::join(
                GossipConfig {
                    name: name.into(),
                    listen: address,
                    advertise: address,
                    seeds: vec![first.to_string()],
                    secret: Some(secret.clone()),
                    interval: Duration::from_millis(50),
                },
                member("", 0, false),
            )
        };
        let a = join("a", first, &ours).await.unwrap();
        let _b = join("b", second, &theirs).await.unwrap();
        tokio::time::sleep(Duration::from_millis(600)).await;
        let roster = a.roster().await;
        let names: Vec<_> = roster.members.iter().map(|m| m.name.as_str()).collect();
        assert_eq!(names, ["a"]);
    }
}
