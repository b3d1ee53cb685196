//! What a request asks of its query besides the SQL: `SET shoal.*`
//! options, the `x-shoal-*` headers, parameters and the caller, and the
//! limits an aggregator puts on every query.

use std::time::Duration;

use datafusion::common::config::ConfigExtension;
use datafusion::common::{ScalarValue, extensions_options};

use crate::answers_so_far::IntermediateSender;
use crate::auth::Caller;
use crate::error::{AggregatorError, Result};

extensions_options! {
    /// Per-query options under `SET shoal.*`.
    pub struct ShoalOptions {
        /// How long to wait for leaves, e.g. `2s`; empty means the server's default.
        pub deadline: String, default = String::new()
        /// Fail the query when fewer than this share of the leaves answer.
        pub min_completeness: f64, default = 0.0
    }
}

impl ConfigExtension for ShoalOptions {
    const PREFIX: &'static str = "shoal";
}

/// Options a caller gives with the request (headers).
#[derive(Debug, Clone, Default)]
pub struct QueryOptions {
    pub deadline: Option<Duration>,
    pub min_completeness: Option<f64>,
    /// Values for the query's placeholders (`?`, `$1`, `:name`; see
    /// [`crate::placeholders`]), each with the name of its column.
    pub parameters: Vec<(String, ScalarValue)>,
    /// Who asks; `None` has no rights (every front end sets it).
    pub caller: Option<Caller>,
    /// Where intermediate answers go while the query runs (a progressive
    /// query, see [`crate::answers_so_far`]).
    pub progress: Option<IntermediateSender>,
}

impl QueryOptions {
    /// Reads `x-shoal-deadline` and `x-shoal-min-completeness` from HTTP
    /// headers or gRPC metadata (`MetadataMap::into_headers`).
    pub fn from_headers(headers: &http::HeaderMap) -> Result<Self> {
        let text = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
        Ok(Self {
            deadline: text("x-shoal-deadline").map(parse_deadline).transpose()?,
            min_completeness: text("x-shoal-min-completeness")
                .map(parse_min_completeness)
                .transpose()?,
            parameters: Vec::new(),
            caller: None,
            progress: None,
        })
    }
}

/// What queries may take of an aggregator.
#[derive(Debug, Clone, Copy)]
pub struct QueryLimits {
    /// Queries running at once; as many more may wait up to
    /// [`QUEUE_WAIT`], the rest are turned away at once.
    pub max_concurrent: usize,
    /// Memory one query may use here.
    pub memory_bytes: usize,
}

/// Default `--max-concurrent-queries`.
pub const DEFAULT_MAX_CONCURRENT_QUERIES: usize = 32;
/// How long a query waits for a turn before it is turned away.
pub const QUEUE_WAIT: Duration = Duration::from_secs(2);

impl Default for QueryLimits {
    fn default() -> Self {
        Self {
            max_concurrent: DEFAULT_MAX_CONCURRENT_QUERIES,
            memory_bytes: shoal_contract::query_memory::DEFAULT_QUERY_MEMORY_BYTES,
        }
    }
}

/// The longest deadline a query may ask for.
pub const MAX_DEADLINE: Duration = Duration::from_secs(3_600);

/// Parses a deadline such as `2s` or `500ms` (at most [`MAX_DEADLINE`]).
pub fn parse_deadline(value: &str) -> Result<Duration> {
    let deadline =
        humantime::parse_duration(value.trim()).map_err(|e| AggregatorError::InvalidOption {
            what: "deadline",
            value: value.to_string(),
            reason: format!("{e} (e.g. 2s, 500ms)"),
        })?;
    if deadline.is_zero() {
        return Err(AggregatorError::InvalidOption {
            what: "deadline",
            value: value.to_string(),
            reason: "must be longer than zero".to_string(),
        });
    }
    if deadline > MAX_DEADLINE {
        return Err(AggregatorError::InvalidOption {
            what: "deadline",
            value: value.to_string(),
            reason: "must be at most 1h".to_string(),
        });
    }
    Ok(deadline)
}

/// Parses and checks a minimum completeness such as `0.9`.
pub fn parse_min_completeness(value: &str) -> Result<f64> {
    let minimum: f64 = value
        .trim()
        .parse()
        .map_err(|_| AggregatorError::InvalidOption {
            what: "minimum completeness",
            value: value.to_string(),
            reason: "not a number between 0 and 1".to_string(),
        })?;
    check_min_completeness(minimum)?;
    Ok(minimum)
}

pub(crate) fn check_min_completeness(minimum: f64) -> Result<()> {
    if (0.0..=1.0).contains(&minimum) {
        return Ok(());
    }
    Err(AggregatorError::InvalidOption {
        what: "minimum completeness",
        value: minimum.to_string(),
        reason: "must be between 0 and 1".to_string(),
    })
}
