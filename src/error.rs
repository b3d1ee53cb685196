//! Errors of the `shoal` command line.

/// What can stop a `shoal` command.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error("invalid {flag} {value:?}: {reason}")]
    InvalidFlag {
        flag: &'static str,
        value: String,
        reason: String,
    },

    #[error("leaf: {0}")]
    Leaf(#[from] shoal_leaf::LeafError),

    #[error("aggregator: {0}")]
    Aggregator(#[from] shoal_aggregator::AggregatorError),

    #[error("{0}")]
    Internal(String),
}
