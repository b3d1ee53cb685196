//! Errors of the contract's pieces: gossip, table names, plans.

use thiserror::Error;

/// What can go wrong in the contract's pieces.
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
    #[error("invalid table name {name:?}: {reason}")]
    InvalidTableName { name: String, reason: &'static str },
    /// A plan or fragment that cannot be used.
    #[error("{0}")]
    Plan(String),
    /// DataFusion panicked on a plan (a bug, reported as such).
    #[error("{0}")]
    Panicked(String),
    #[error(transparent)]
    DataFusion(#[from] datafusion::error::DataFusionError),
}

/// The contract's results.
pub type Result<T> = std::result::Result<T, ContractError>;
