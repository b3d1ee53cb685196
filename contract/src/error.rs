//! Errors of joining and reading the fleet's gossip.

use thiserror::Error;

/// What can go wrong with gossip membership.
#[derive(Debug, Error)]
pub enum ContractError {
    /// A flag or value that cannot be used, named with why.
    #[error("{what} {value:?}: {reason}")]
    Invalid {
        what: &'static str,
        value: String,
        reason: String,
    },
    /// The gossip socket could not be opened or the protocol failed.
    #[error("gossip on {address}: {reason}")]
    Gossip { address: String, reason: String },
}
