//! The gossip flags every process takes (`--gossip ADDR`, `--seeds
//! HOST:PORT,...`, `--advertise IP`, `--name NAME`) and what they make.

use std::net::{IpAddr, SocketAddr};

use shoal_proto::cluster_auth::ClusterSecret;

use crate::error::ContractError;
use crate::gossip::{GOSSIP_INTERVAL, GossipConfig};
use crate::member::Role;

/// A process's gossip flags.
#[derive(Debug, Clone)]
pub struct GossipSettings {
    /// UDP address to gossip on.
    pub listen: SocketAddr,
    /// Members to start from; empty for the first member of a fleet.
    pub seeds: Vec<String>,
    /// The IP others reach this process at, when it listens on an
    /// unspecified address (`0.0.0.0`, `::`).
    pub advertise: Option<IpAddr>,
    /// Stable name; `<role>@<service address>` when not given.
    pub name: Option<String>,
}

impl GossipSettings {
    /// Where others reach a service this process listens on at `listen`.
    pub fn advertised(&self, listen: SocketAddr) -> Result<SocketAddr, ContractError> {
        match self.advertise {
            Some(ip) => Ok(SocketAddr::new(ip, listen.port())),
            None if listen.ip().is_unspecified() => Err(ContractError::Invalid {
                what: "--advertise",
                value: String::new(),
                reason: format!(
                    "this process listens on {listen}, which names no host others can reach: give --advertise IP"
                ),
            }),
            None => Ok(listen),
        }
    }

    /// The gossip configuration of a `role` member whose service answers
    /// at `service` (already advertised).
    pub fn config(
        &self,
        role: Role,
        service: SocketAddr,
        secret: Option<ClusterSecret>,
    ) -> Result<GossipConfig, ContractError> {
        if self.listen.port() == 0 {
            return Err(ContractError::Invalid {
                what: "--gossip",
                value: self.listen.to_string(),
                reason: "give a port: others find this member at it".to_string(),
            });
        }
        let name = match &self.name {
            Some(name) if !valid_name(name) => {
                return Err(ContractError::Invalid {
                    what: "--name",
                    value: name.clone(),
                    reason: "a name is 1 to 128 letters, digits and . _ - @ : [ ]".to_string(),
                });
            }
            Some(name) => name.clone(),
            None => format!("{}@{service}", role.as_str()),
        };
        Ok(GossipConfig {
            name,
            listen: self.listen,
            advertise: self.advertised(self.listen)?,
            seeds: self.seeds.clone(),
            secret,
            interval: GOSSIP_INTERVAL,
        })
    }
}

/// Whether `name` can name a member (it travels in comma-separated lists).
pub fn valid_name(name: &str) -> bool {
    (1..=128).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-@:[]".contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(listen: &str, advertise: Option<&str>) -> GossipSettings {
        GossipSettings {
            listen: listen.parse().unwrap(),
            seeds: Vec::new(),
            advertise: advertise.map(|ip| ip.parse().unwrap()),
            name: None,
        }
    }

    #[test]
    fn an_unspecified_address_needs_advertise() {
        let service: SocketAddr = "0.0.0.0:50061".parse().unwrap();
        let error = settings("0.0.0.0:7946", None)
            .advertised(service)
            .unwrap_err();
        assert!(error.to_string().contains("--advertise"), "{error}");
        let given = settings("0.0.0.0:7946", Some("10.0.0.5"));
        assert_eq!(
            given.advertised(service).unwrap().to_string(),
            "10.0.0.5:50061"
        );
        let config = given
            .config(Role::Leaf, "10.0.0.5:50061".parse().unwrap(), None)
            .unwrap();
        assert_eq!(config.name, "leaf@10.0.0.5:50061");
        assert_eq!(config.advertise.to_string(), "10.0.0.5:7946");
    }

    #[test]
    fn names_are_checked() {
        assert!(valid_name("leaf@10.0.0.5:50061"));
        assert!(valid_name("leaf@[::1]:50061"));
        for bad in ["", "a,b", "a b", "a~b", &"x".repeat(129)] {
            let mut named = settings("127.0.0.1:7946", None);
            named.name = Some(bad.to_string());
            let error = named
                .config(Role::Leaf, "127.0.0.1:1".parse().unwrap(), None)
                .unwrap_err();
            assert!(error.to_string().contains("--name"), "{error}");
        }
    }

    #[test]
    fn a_gossip_port_is_required() {
        let error = settings("127.0.0.1:0", None)
            .config(Role::Leaf, "127.0.0.1:1".parse().unwrap(), None)
            .unwrap_err();
        assert!(error.to_string().contains("give a port"), "{error}");
    }
}
