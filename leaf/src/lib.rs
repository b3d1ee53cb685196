//! The Shoal leaf: tables as row blocks in shared memory, ingest, retention,
//! restart by reattaching, and scans executed with DataFusion.
//!
//! Where things live:
//! - [`column_type`], [`table_schema`], [`coerce`]: the data model (types fixed
//!   on first sight, batches coerced or refused).
//! - [`wal`]: the write-ahead segment of the open block (crash safety).
//! - [`block`], [`bitmap_index`]: sealed blocks, mapped zero-copy, and their
//!   roaring bitmap indexes.
//! - [`table`], [`manifest`]: one table's open and sealed blocks, sealing and
//!   recovery.
//! - [`store`]: all tables of a leaf, the data directory, retention.
//! - [`backup`]: the optional disk copy of sealed blocks.
//! - [`pruning`], [`provider`], [`scan`]: DataFusion over the blocks.
//! - [`fragment`]: plan fragments from aggregators, and their table scans;
//!   [`dictionary_groups`]: their partial aggregates made faster on strings.
//! - [`server`]: the gRPC and Arrow Flight services; [`ipc`]: IPC stream bytes.

pub mod approx_percentile;
pub mod backup;
pub mod bitmap_index;
pub mod block;
pub mod coerce;
pub mod column_type;
pub mod dense_aggregate;
pub mod dictionary_groups;
pub mod drain;
mod drain_rpc;
pub mod error;
pub mod fragment;
pub mod fragment_decode;
pub mod fragment_policy;
pub mod functions;
pub mod group_ids;
pub mod ipc;
pub mod leaf_gossip;
pub mod manifest;
pub mod panic_guard;
pub mod provider;
pub mod pruning;
pub mod quantile_sketch;
pub mod query_memory;
pub mod scan;
pub mod server;
pub mod sql_guard;
pub mod store;
pub mod table;
pub mod table_schema;
pub mod utc_date_bin;
pub mod utc_date_trunc;
pub mod wal;
pub mod yielding;

pub use error::{LeafError, Result};
pub use server::{LeafConfig, LeafService, run_leaf};
pub use store::{Store, StoreConfig};
