//! What a member of the fleet publishes about itself, and how it is read
//! back from gossip.
//!
//! Each member's gossip state is a set of keys ([`KEYS`]): its role, the
//! address its gRPC/Flight service answers on, its HTTP address (an
//! aggregator's), its state, free memory, block format version and table
//! names. With a cluster secret every value is signed: `value` is stored as
//! `<mac>~<value>`, the MAC (HMAC-SHA256, 16 bytes in hex) covering the
//! member's name, generation, key and value. Gossip runs over UDP that
//! anyone on the network can send to; a reader drops a member whose keys do
//! not verify, so nobody without the secret can add a "leaf" that an
//! aggregator would then send plan fragments (and the cluster secret) to,
//! or move a real member's address.

use std::fmt;
use std::net::SocketAddr;

use shoal_proto::cluster_auth::ClusterSecret;

/// Version of the block layout leaves write and publish (see the leaf's
/// `block` module for what each version is and which ones it reads).
pub const BLOCK_FORMAT_VERSION: u32 = 4;

/// The keys a member publishes.
pub const KEYS: [&str; 7] = [
    "role",
    "service",
    "http",
    "state",
    "free_memory",
    "format_version",
    "tables",
];

/// The optional key an aggregator lists the members an admin removed in
/// (`name:generation,...`), so every aggregator stops counting them.
pub const REMOVED_KEY: &str = "removed";

/// Table names published at most (the rest are in the member's status).
pub const MAX_TABLE_NAMES: usize = 64;

/// Bytes of a value's MAC kept (as hex, twice as many characters).
const MAC_BYTES: usize = 16;

/// What a member is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Role {
    Leaf,
    Aggregator,
    /// `shoal fleet ...`: reads the fleet, never queried.
    Observer,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Leaf => "leaf",
            Self::Aggregator => "aggregator",
            Self::Observer => "observer",
        }
    }

    fn parse(text: &str) -> Option<Self> {
        [Self::Leaf, Self::Aggregator, Self::Observer]
            .into_iter()
            .find(|role| role.as_str() == text)
    }
}

/// Where a member is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum MemberState {
    /// Opening its data; not queried yet, not counted.
    Starting,
    /// Serving: queried, and counted in completeness from now on.
    Ready,
    /// Emptying itself onto other members; still queried.
    Draining,
    /// Gone on purpose (drained): no longer counted once silent.
    Leaving,
}

impl MemberState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Starting => "starting",
            Self::Ready => "ready",
            Self::Draining => "draining",
            Self::Leaving => "leaving",
        }
    }

    fn parse(text: &str) -> Option<Self> {
        [Self::Starting, Self::Ready, Self::Draining, Self::Leaving]
            .into_iter()
            .find(|state| state.as_str() == text)
    }
}

impl fmt::Display for MemberState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One member as gossip tells of it.
#[derive(Debug, Clone, PartialEq)]
pub struct Member {
    /// Stable across restarts (`--name`); a restart bumps `generation`.
    pub name: String,
    pub generation: u64,
    /// Where it gossips.
    pub gossip: SocketAddr,
    pub role: Role,
    /// `host:port` of its gRPC and Arrow Flight services.
    pub service: String,
    /// `host:port` of an aggregator's HTTP API.
    pub http: Option<String>,
    pub state: MemberState,
    /// Shared memory it may still fill; `None` without a memory limit.
    pub free_memory_bytes: Option<u64>,
    pub format_version: u32,
    /// Up to [`MAX_TABLE_NAMES`] of the tables it holds.
    pub tables: Vec<String>,
    /// Members an admin removed through this aggregator: name and the
    /// generation removed ([`REMOVED_KEY`]).
    pub removed: Vec<(String, u64)>,
    /// Whether the failure detector hears it (set by [`crate::Gossip`]).
    pub live: bool,
}

impl Member {
    /// A `role` member serving at `service`, in `state`; its name,
    /// generation and gossip address are set when it joins.
    pub fn new(role: Role, service: String, state: MemberState, format_version: u32) -> Self {
        Self {
            name: String::new(),
            generation: 0,
            gossip: SocketAddr::from(([0, 0, 0, 0], 0)),
            role,
            service,
            http: None,
            state,
            free_memory_bytes: None,
            format_version,
            tables: Vec::new(),
            removed: Vec::new(),
            live: false,
        }
    }

    /// Its keys and values as published, signed with `secret` when given.
    pub fn to_pairs(&self, secret: Option<&ClusterSecret>) -> Vec<(String, String)> {
        let values = [
            self.role.as_str().to_string(),
            self.service.clone(),
            self.http.clone().unwrap_or_default(),
            self.state.as_str().to_string(),
            self.free_memory_bytes
                .map_or_else(String::new, |b| b.to_string()),
            self.format_version.to_string(),
            self.tables
                .iter()
                .take(MAX_TABLE_NAMES)
                .cloned()
                .collect::<Vec<_>>()
                .join(","),
        ];
        let removed = self
            .removed
            .iter()
            .map(|(name, generation)| format!("{name}:{generation}"))
            .collect::<Vec<_>>()
            .join(",");
        KEYS.iter()
            .copied()
            .zip(values)
            .chain((!removed.is_empty()).then_some((REMOVED_KEY, removed)))
            .map(|(key, value)| {
                let stored = self.sign(secret, key, &value);
                (key.to_string(), stored)
            })
            .collect()
    }

    /// `value` of `key` as stored in gossip.
    pub fn sign(&self, secret: Option<&ClusterSecret>, key: &str, value: &str) -> String {
        sign(secret, &self.name, self.generation, key, value)
    }

    /// Reads a member from its gossip keys; `get` looks a key up. Fails
    /// naming the first key that is missing, malformed or not signed with
    /// `secret`.
    pub fn read<'a>(
        name: &str,
        generation: u64,
        gossip: SocketAddr,
        get: impl Fn(&str) -> Option<&'a str>,
        secret: Option<&ClusterSecret>,
    ) -> Result<Self, String> {
        let value = |key: &'static str| -> Result<&'a str, String> {
            let stored = get(key).ok_or_else(|| format!("{name}: no {key:?} published"))?;
            verify(secret, name, generation, key, stored)
                .ok_or_else(|| format!("{name}: {key:?} is not signed with this cluster's secret"))
        };
        let bad = |key: &str, text: &str| format!("{name}: {key:?} is {text:?}");
        let role = value("role")?;
        let state = value("state")?;
        let free = value("free_memory")?;
        let format = value("format_version")?;
        let http = value("http")?;
        let tables = value("tables")?;
        let removed = match get(REMOVED_KEY) {
            None => Vec::new(),
            Some(_) => value(REMOVED_KEY)?
                .split(',')
                .filter_map(|entry| {
                    let (name, generation) = entry.rsplit_once(':')?;
                    Some((name.to_string(), generation.parse().ok()?))
                })
                .collect(),
        };
        Ok(Self {
            name: name.to_string(),
            generation,
            gossip,
            role: Role::parse(role).ok_or_else(|| bad("role", role))?,
            service: value("service")?.to_string(),
            http: (!http.is_empty()).then(|| http.to_string()),
            state: MemberState::parse(state).ok_or_else(|| bad("state", state))?,
            free_memory_bytes: match free {
                "" => None,
                text => Some(text.parse().map_err(|_| bad("free_memory", text))?),
            },
            format_version: format.parse().map_err(|_| bad("format_version", format))?,
            tables: tables
                .split(',')
                .filter(|t| !t.is_empty())
                .map(str::to_string)
                .collect(),
            removed,
            live: false,
        })
    }
}

/// The cluster id gossip runs under: members with different secrets never
/// exchange state (chitchat drops messages of another cluster id).
pub fn cluster_id(secret: Option<&ClusterSecret>) -> String {
    match secret {
        None => "shoal".to_string(),
        Some(secret) => format!("shoal-{}", hex(&secret.mac(b"shoal gossip cluster")[..8])),
    }
}

fn sign(
    secret: Option<&ClusterSecret>,
    name: &str,
    generation: u64,
    key: &str,
    value: &str,
) -> String {
    match secret {
        None => value.to_string(),
        Some(secret) => format!("{}~{value}", mac(secret, name, generation, key, value)),
    }
}

/// The value under a stored one, if its MAC is right.
fn verify<'a>(
    secret: Option<&ClusterSecret>,
    name: &str,
    generation: u64,
    key: &str,
    stored: &'a str,
) -> Option<&'a str> {
    let Some(secret) = secret else {
        return Some(stored);
    };
    let (given, value) = stored.split_once('~')?;
    let expected = mac(secret, name, generation, key, value);
    shoal_proto::cluster_auth::constant_time_eq(given.as_bytes(), expected.as_bytes())
        .then_some(value)
}

fn mac(secret: &ClusterSecret, name: &str, generation: u64, key: &str, value: &str) -> String {
    let message = format!("shoal member\0{name}\0{generation}\0{key}\0{value}");
    hex(&secret.mac(message.as_bytes())[..MAC_BYTES])
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn leaf() -> Member {
        Member {
            name: "leaf-a".into(),
            generation: 7,
            gossip: "127.0.0.1:7000".parse().unwrap(),
            role: Role::Leaf,
            service: "127.0.0.1:50061".into(),
            http: None,
            state: MemberState::Ready,
            free_memory_bytes: Some(1 << 30),
            format_version: 3,
            tables: vec!["requests".into(), "logs".into()],
            removed: vec![("leaf-b@10.0.0.2:50061".into(), 42)],
            live: false,
        }
    }

    fn read_back(
        member: &Member,
        pairs: &BTreeMap<String, String>,
        secret: Option<&ClusterSecret>,
    ) -> Result<Member, String> {
        Member::read(
            &member.name,
            member.generation,
            member.gossip,
            |key| pairs.get(key).map(String::as_str),
            secret,
        )
    }

    #[test]
    fn a_member_reads_back_as_published() {
        let secret = ClusterSecret::new("0123456789abcdef0123").unwrap();
        for secret in [None, Some(&secret)] {
            let member = leaf();
            let pairs: BTreeMap<_, _> = member.to_pairs(secret).into_iter().collect();
            assert_eq!(read_back(&member, &pairs, secret).unwrap(), member);
        }
    }

    #[test]
    fn values_not_signed_with_the_secret_are_refused() {
        let secret = ClusterSecret::new("0123456789abcdef0123").unwrap();
        let other = ClusterSecret::new("another-secret-of-this-fleet").unwrap();
        let member = leaf();
        // Signed with another secret, or not at all.
        let forged: BTreeMap<_, _> = member.to_pairs(Some(&other)).into_iter().collect();
        let error = read_back(&member, &forged, Some(&secret)).unwrap_err();
        assert!(error.contains("not signed"), "{error}");
        let plain: BTreeMap<_, _> = member.to_pairs(None).into_iter().collect();
        assert!(read_back(&member, &plain, Some(&secret)).is_err());
        // A signed value moved to another generation (a replay) fails too.
        let mut pairs: BTreeMap<_, _> = member.to_pairs(Some(&secret)).into_iter().collect();
        let mut later = member.clone();
        later.generation += 1;
        assert!(read_back(&later, &pairs, Some(&secret)).is_err());
        // So does a value changed under its MAC.
        let service = pairs.get_mut("service").unwrap();
        *service = service.replace("50061", "50062");
        assert!(read_back(&member, &pairs, Some(&secret)).is_err());
    }

    #[test]
    fn malformed_values_are_named() {
        let member = leaf();
        let mut pairs: BTreeMap<_, _> = member.to_pairs(None).into_iter().collect();
        pairs.insert("state".into(), "sleeping".into());
        let error = read_back(&member, &pairs, None).unwrap_err();
        assert!(
            error.contains("\"state\"") && error.contains("sleeping"),
            "{error}"
        );
        pairs.remove("state");
        assert!(
            read_back(&member, &pairs, None)
                .unwrap_err()
                .contains("no \"state\"")
        );
    }

    #[test]
    fn cluster_ids_differ_by_secret() {
        let a = ClusterSecret::new("0123456789abcdef0123").unwrap();
        let b = ClusterSecret::new("0123456789abcdef0124").unwrap();
        assert_ne!(cluster_id(Some(&a)), cluster_id(Some(&b)));
        assert_eq!(cluster_id(None), "shoal");
    }
}
