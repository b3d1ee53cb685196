//! Errors of the leaf, each naming what failed and where, and the one place
//! where they map onto gRPC statuses.

use std::path::PathBuf;

use arrow::datatypes::DataType;

/// Everything that can go wrong inside a leaf.
#[derive(Debug, thiserror::Error)]
pub enum LeafError {
    #[error("invalid table name {name:?}: {reason}")]
    InvalidTableName { name: String, reason: &'static str },

    #[error("table {table:?} does not exist on this leaf")]
    UnknownTable { table: String },

    #[error(
        "column {column:?} of table {table:?} is {table_type}, but the batch holds {batch_type}: {reason}"
    )]
    ColumnTypeConflict {
        table: String,
        column: String,
        table_type: String,
        batch_type: DataType,
        reason: String,
    },

    #[error("column {column:?} of table {table:?} has unsupported type {data_type}: {reason}")]
    UnsupportedColumnType {
        table: String,
        column: String,
        data_type: DataType,
        reason: &'static str,
    },

    #[error("the request's Arrow IPC stream for table {table:?} could not be read: {source}")]
    BadIpc {
        table: String,
        #[source]
        source: arrow::error::ArrowError,
    },

    #[error(
        "leaf is over its memory limit ({used} of {limit} bytes) and has no older block to drop"
    )]
    MemoryFull { used: u64, limit: u64 },

    #[error("I/O on {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("block file {path} is not usable: {reason}")]
    BadBlock { path: PathBuf, reason: String },

    #[error("the data directory {path} cannot be used: {reason}")]
    DataDir { path: PathBuf, reason: String },

    #[error("arrow: {0}")]
    Arrow(#[from] arrow::error::ArrowError),

    #[error("query: {0}")]
    DataFusion(#[from] datafusion::error::DataFusionError),

    #[error("bad request: {0}")]
    BadRequest(String),

    #[error("unavailable: {0}")]
    Unavailable(String),

    #[error("leaf worker stopped: {0}")]
    Join(#[from] tokio::task::JoinError),
}

impl LeafError {
    /// Builds an [`LeafError::Io`] for `path`.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Io {
            path: path.into(),
            source,
        }
    }
}

impl From<LeafError> for tonic::Status {
    fn from(error: LeafError) -> Self {
        let message = error.to_string();
        match error {
            LeafError::InvalidTableName { .. }
            | LeafError::ColumnTypeConflict { .. }
            | LeafError::UnsupportedColumnType { .. }
            | LeafError::BadIpc { .. }
            | LeafError::BadRequest(_) => tonic::Status::invalid_argument(message),
            LeafError::UnknownTable { .. } => tonic::Status::not_found(message),
            LeafError::MemoryFull { .. } => tonic::Status::resource_exhausted(message),
            // A full disk or a segment that must be sealed first: the same
            // rows can be taken later, so senders are told to retry.
            LeafError::Io { ref source, .. }
                if source.kind() == std::io::ErrorKind::StorageFull =>
            {
                tonic::Status::resource_exhausted(message)
            }
            LeafError::Unavailable(_) => tonic::Status::unavailable(message),
            LeafError::DataFusion(ref inner) if is_plan_error(inner) => {
                tonic::Status::invalid_argument(message)
            }
            _ => tonic::Status::internal(message),
        }
    }
}

fn is_plan_error(error: &datafusion::error::DataFusionError) -> bool {
    use datafusion::error::DataFusionError as E;
    matches!(
        error.find_root(),
        E::Plan(_) | E::SQL(..) | E::SchemaError(..) | E::NotImplemented(_)
    )
}

/// Result with a [`LeafError`].
pub type Result<T, E = LeafError> = std::result::Result<T, E>;

impl From<shoal_contract::ContractError> for LeafError {
    fn from(error: shoal_contract::ContractError) -> Self {
        use shoal_contract::ContractError;
        match error {
            ContractError::InvalidTableName { name, reason } => {
                LeafError::InvalidTableName { name, reason }
            }
            ContractError::DataFusion(inner) => LeafError::DataFusion(inner),
            // A bug, not a bad request: it must not read as the query's
            // fault (gRPC INTERNAL, see `shoal_contract::flight_answer`).
            ContractError::Panicked(message) => {
                LeafError::DataFusion(datafusion::error::DataFusionError::Internal(message))
            }
            other => LeafError::BadRequest(other.to_string()),
        }
    }
}
