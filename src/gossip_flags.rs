//! `--gossip`, `--seeds`, `--advertise` and `--name`: how `shoal leaf` and
//! `shoal aggregator` join the fleet's gossip.

use std::net::{IpAddr, SocketAddr};

use shoal_contract::GossipSettings;
use shoal_proto::cluster_auth::ClusterSecret;

use crate::error::CliError;
use crate::security_flags::refuse_exposed;

/// The gossip flags of a process.
#[derive(Debug, clap::Args)]
pub struct GossipFlags {
    /// UDP address to gossip on, e.g. `0.0.0.0:7946`: members find each
    /// other and notice who went silent with no list to keep.
    #[arg(long)]
    pub gossip: Option<SocketAddr>,
    /// Members to start gossip from, `host:port,...` (any live member's
    /// gossip address; none for the first).
    #[arg(long, value_delimiter = ',', requires = "gossip")]
    pub seeds: Vec<String>,
    /// The IP others reach this process at, when it listens on `0.0.0.0`.
    #[arg(long, requires = "gossip")]
    pub advertise: Option<IpAddr>,
    /// This member's name, the same across restarts (default
    /// `<role>@<address>`).
    #[arg(long, requires = "gossip")]
    pub name: Option<String>,
}

impl GossipFlags {
    /// The settings, if `--gossip` was given. Gossip beyond loopback needs
    /// the cluster secret (it signs every member's record) unless
    /// `insecure`.
    pub fn settings(
        &self,
        secret: Option<&ClusterSecret>,
        insecure: bool,
    ) -> Result<Option<GossipSettings>, CliError> {
        let Some(listen) = self.gossip else {
            return Ok(None);
        };
        if secret.is_none() && !insecure {
            refuse_exposed(
                &[listen],
                "--cluster-secret-file",
                "anyone who reaches the gossip port could add a member that aggregators send queries to",
            )?;
        }
        Ok(Some(GossipSettings {
            listen,
            seeds: self.seeds.clone(),
            advertise: self.advertise,
            name: self.name.clone(),
        }))
    }
}
