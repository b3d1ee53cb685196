//! Who an aggregator's children are right now, as a snapshot each query
//! takes when it is planned.
//!
//! Children come from `--leaves` (fixed for the life of the process) or
//! from gossip ([`crate::fleet_gossip`]), which adds a member once it is
//! ready and takes it away only when it leaves on purpose or an admin
//! removes it. Either way a query plans against one [`Snapshot`]: members
//! that come or go while it runs change the next query, never this one,
//! so its partitions, its completeness denominator and its children stay
//! the same list from planning to answer.
//!
//! Every child gets a number of its own (never reused), which completeness
//! and progressive answers key their per-child counts by.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use shoal_proto::cluster_auth::{ClusterSecret, ClusterSecretInterceptor};
use tonic::transport::{ClientTlsConfig, Endpoint};

use crate::error::{AggregatorError, Result};
use crate::fleet::Child;

/// The children at one moment.
pub type Snapshot = Arc<Vec<Arc<Child>>>;

/// Why a member could not be removed.
#[derive(Debug, Clone, PartialEq)]
pub enum RemoveRefused {
    /// No child has that name.
    Unknown(String),
    /// The member answers its status calls: it must be drained, not removed.
    Live(String),
}

impl std::fmt::Display for RemoveRefused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Unknown(name) => {
                write!(f, "no member named {name:?} is a child of this aggregator")
            }
            Self::Live(name) => write!(
                f,
                "member {name:?} still answers: only a member that stopped answering can be removed (drain a live one with `shoal fleet drain`)"
            ),
        }
    }
}

/// The current children and how to reach a new one.
#[derive(Debug)]
pub struct Membership {
    current: RwLock<Snapshot>,
    next_index: AtomicUsize,
    cluster: ClusterSecretInterceptor,
    tls: Option<ClientTlsConfig>,
}

impl Membership {
    /// No children yet; new ones are called with `cluster_secret`, over TLS
    /// when `tls` is given.
    pub fn new(cluster_secret: Option<&ClusterSecret>, tls: Option<ClientTlsConfig>) -> Self {
        Self {
            current: RwLock::new(Arc::default()),
            next_index: AtomicUsize::new(0),
            cluster: ClusterSecretInterceptor::new(cluster_secret),
            tls,
        }
    }

    /// The children now (what a query plans against).
    pub fn snapshot(&self) -> Snapshot {
        self.current
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Adds a child called `name` at `address` (`host:port`), or moves
    /// the one of that name to `address`; returns it. A child whose
    /// address is unchanged is kept as it is (with its state). One address
    /// is one child: another child at `address` (a leaf renamed, an address
    /// reused, a `--leaves` entry gossip names) is replaced, so no leaf is
    /// ever queried, and counted, twice.
    pub fn add(&self, name: &str, address: &str) -> Result<Arc<Child>> {
        let mut current = self.current.write().unwrap_or_else(|p| p.into_inner());
        if let Some(child) = current
            .iter()
            .find(|c| c.name == name && c.address == address)
        {
            return Ok(child.clone());
        }
        let child = Arc::new(self.connect(name, address)?);
        let mut next: Vec<Arc<Child>> = current
            .iter()
            .filter(|c| c.name != name && c.address != address)
            .cloned()
            .collect();
        next.push(child.clone());
        *current = Arc::new(next);
        Ok(child)
    }

    /// Takes the child called `name` out; returns it if there was one.
    pub fn remove(&self, name: &str) -> Option<Arc<Child>> {
        let mut current = self.current.write().unwrap_or_else(|p| p.into_inner());
        let removed = current.iter().find(|c| c.name == name).cloned()?;
        *current = without(&current, name);
        Some(removed)
    }

    /// Takes out the child called `name` if it stopped answering (an
    /// admin's call: from then on queries neither wait for it nor count
    /// it). A child that answers is refused: drain it instead.
    pub fn remove_dead(&self, name: &str) -> std::result::Result<Arc<Child>, RemoveRefused> {
        let mut current = self.current.write().unwrap_or_else(|p| p.into_inner());
        let Some(child) = current.iter().find(|c| c.name == name).cloned() else {
            return Err(RemoveRefused::Unknown(name.to_string()));
        };
        if child.is_up() {
            return Err(RemoveRefused::Live(name.to_string()));
        }
        *current = without(&current, name);
        Ok(child)
    }

    fn connect(&self, name: &str, address: &str) -> Result<Child> {
        let scheme = if self.tls.is_some() { "https" } else { "http" };
        let invalid = |e: tonic::transport::Error| AggregatorError::InvalidOption {
            what: "leaf address",
            value: address.to_string(),
            reason: e.to_string(),
        };
        let mut endpoint =
            Endpoint::from_shared(format!("{scheme}://{address}")).map_err(invalid)?;
        if let Some(tls) = &self.tls {
            endpoint = endpoint.tls_config(tls.clone()).map_err(invalid)?;
        }
        let endpoint = endpoint
            .connect_timeout(Duration::from_millis(500))
            .tcp_nodelay(true)
            .http2_keep_alive_interval(Duration::from_secs(10));
        Ok(Child::new(
            self.next_index.fetch_add(1, Ordering::Relaxed),
            name.to_string(),
            address.to_string(),
            endpoint.connect_lazy(),
            self.cluster.clone(),
        ))
    }
}

/// `children` less the one called `name`.
fn without(children: &Snapshot, name: &str) -> Snapshot {
    Arc::new(
        children
            .iter()
            .filter(|c| c.name != name)
            .cloned()
            .collect(),
    )
}
