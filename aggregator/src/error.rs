//! Errors of the aggregator, and the one place where they map onto gRPC
//! statuses and HTTP status codes.

use datafusion::error::DataFusionError;

use crate::auth::AuthError;

/// Everything that can go wrong in an aggregator.
#[derive(Debug, thiserror::Error)]
pub enum AggregatorError {
    /// The SQL was rejected by DataFusion; its message names the position or
    /// the table.
    #[error("{0}")]
    Query(String),

    #[error(
        "completeness {reached:.3} is below the minimum {minimum:.3} asked for: {answered} of {queried} leaves answered ({rows_ratio:.3} of the rows)"
    )]
    BelowMinimumCompleteness {
        reached: f64,
        minimum: f64,
        answered: u64,
        queried: u64,
        rows_ratio: f64,
    },

    #[error("no leaf answered: {0}")]
    NoLeafAnswered(String),

    #[error("invalid {what} {value:?}: {reason}")]
    InvalidOption {
        what: &'static str,
        value: String,
        reason: String,
    },

    #[error("no leaf can take rows: {0}")]
    NoLeafForIngest(String),

    #[error("bad ingest: {0}")]
    BadIngest(String),

    #[error(transparent)]
    Auth(#[from] AuthError),

    /// The query needs more memory than its limit (HTTP 400, gRPC
    /// `RESOURCE_EXHAUSTED`): retrying will not help.
    #[error("{0}")]
    OverMemoryLimit(String),

    /// The query's own work ran past its deadline (HTTP 504, gRPC
    /// `DEADLINE_EXCEEDED`).
    #[error("{0}")]
    DeadlinePassed(String),

    /// Too many queries at once (HTTP 429, gRPC `RESOURCE_EXHAUSTED`).
    #[error("{0}")]
    Busy(String),

    #[error("internal error: {0}")]
    Internal(String),
}

impl AggregatorError {
    /// The HTTP status this error answers with.
    pub fn http_status(&self) -> u16 {
        match self {
            Self::Query(_) | Self::InvalidOption { .. } | Self::BadIngest(_) => 400,
            Self::BelowMinimumCompleteness { .. } | Self::NoLeafAnswered(_) => 503,
            Self::NoLeafForIngest(_) => 503,
            Self::Auth(error) => error.http_status(),
            Self::Busy(_) => 429,
            Self::DeadlinePassed(_) => 504,
            Self::OverMemoryLimit(_) => 400,
            Self::Internal(_) => 500,
        }
    }
}

impl From<DataFusionError> for AggregatorError {
    fn from(error: DataFusionError) -> Self {
        match error.find_root() {
            DataFusionError::External(inner) => match inner.downcast_ref::<AggregatorError>() {
                Some(AggregatorError::NoLeafAnswered(reason)) => {
                    Self::NoLeafAnswered(reason.clone())
                }
                _ => Self::Internal(error.to_string()),
            },
            DataFusionError::Plan(_)
            | DataFusionError::SQL(..)
            | DataFusionError::SchemaError(..)
            | DataFusionError::NotImplemented(_)
            | DataFusionError::Configuration(_)
            // Errors of evaluating the query's own expressions: a division
            // by zero, a string that does not cast. Retrying will not help.
            | DataFusionError::ArrowError(..)
            | DataFusionError::Execution(_) => Self::Query(strip_prefixes(&error)),
            DataFusionError::ResourcesExhausted(reason) => Self::OverMemoryLimit(format!(
                "the query needs more memory than its limit (--query-memory-limit): {reason}"
            )),
            _ => Self::Internal(error.to_string()),
        }
    }
}

/// DataFusion's message without its nesting ("Error during planning: ...").
fn strip_prefixes(error: &DataFusionError) -> String {
    error.find_root().to_string()
}

impl From<AggregatorError> for tonic::Status {
    fn from(error: AggregatorError) -> Self {
        let message = error.to_string();
        match error {
            AggregatorError::Query(_)
            | AggregatorError::InvalidOption { .. }
            | AggregatorError::BadIngest(_) => tonic::Status::invalid_argument(message),
            AggregatorError::BelowMinimumCompleteness { .. }
            | AggregatorError::NoLeafAnswered(_)
            | AggregatorError::NoLeafForIngest(_) => tonic::Status::unavailable(message),
            AggregatorError::Auth(error) => error.into(),
            AggregatorError::DeadlinePassed(_) => tonic::Status::deadline_exceeded(message),
            AggregatorError::Busy(_) | AggregatorError::OverMemoryLimit(_) => {
                tonic::Status::resource_exhausted(message)
            }
            AggregatorError::Internal(_) => tonic::Status::internal(message),
        }
    }
}

/// Result with an [`AggregatorError`].
pub type Result<T, E = AggregatorError> = std::result::Result<T, E>;
