//! The Shoal aggregator: SQL planned with DataFusion, cut between aggregator
//! and leaves, fanned out with a deadline, merged, and answered with its
//! completeness.
//!
//! Where things live:
//! - [`fleet`], [`child_state`]: the children (leaves or aggregators) and
//!   their last status.
//! - [`remote_table`], [`split`], [`fanout`]: planning over the fleet, the
//!   cut between tiers, and the fan-out with deadlines.
//! - [`completeness`]: how much of the data an answer covers;
//!   [`time_completeness`]: which part of its time range is missing.
//! - [`query`]: one SQL request end to end; [`answers_so_far`]: the
//!   intermediate answers of a progressive one.
//! - [`child`]: the aggregator as another aggregator's child (a tree).
//! - [`ingest`], [`routing`]: JSON from log shippers to Arrow, and batches to
//!   leaves by the power of two choices.
//! - [`flight_sql`], [`trailers`], [`http`], [`metrics`]: the front ends.
//! - [`server`]: wiring of one aggregator process.

pub mod answers_so_far;
pub mod auth;
pub mod child;
pub mod child_state;
pub mod client_types;
pub mod completeness;
pub mod dense_rule;
pub mod dictionary_aggregates;
pub mod error;
pub mod fanout;
pub mod fleet;
pub mod fleet_gossip;
pub mod flight_sql;
pub mod http;
pub mod https;
pub mod information_schema;
pub mod ingest;
pub mod membership;
pub mod metrics;
pub mod placeholders;
pub mod plan_cache;
pub mod query;
pub mod query_options;
pub mod query_results;
pub mod query_statements;
pub mod remote_table;
pub mod routing;
pub mod server;
pub mod session_template;
pub mod split;
pub mod statement_policy;
pub mod table_pattern;
pub mod time_completeness;
pub mod trailers;

pub use error::{AggregatorError, Result};
pub use server::{AggregatorConfig, BoundAddresses, run_aggregator};
