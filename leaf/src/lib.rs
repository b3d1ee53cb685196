//! The Shoal leaf: tables as row blocks in shared memory, ingest, retention,
//! restart by reattaching, and scans executed with DataFusion.
//!
//! Where things live (what aggregators share, the tier contract, is in
//! `shoal-contract` and re-exported here):
//! - [`table_schema`], [`coerce`]: the data model (types fixed on first
//!   sight, batches coerced or refused).
//! - [`wal`]: the write-ahead segment of the open block (crash safety).
//! - [`block`], [`bitmap_index`]: sealed blocks, mapped zero-copy, and their
//!   roaring bitmap indexes.
//! - [`table`], [`manifest`]: one table's open and sealed blocks, sealing and
//!   recovery.
//! - [`store`]: all tables of a leaf, the data directory, retention.
//! - [`backup`]: the optional disk copy of sealed blocks.
//! - [`pruning`], [`provider`], [`scan`]: DataFusion over the blocks.
//! - [`store_resolver`]: a plan fragment's table scans resolved to this
//!   leaf's blocks at the query's snapshot time.
//! - [`drain`]: this leaf's side of `shoal fleet drain`.
//! - [`server`]: the gRPC and Arrow Flight services; [`ipc`]: IPC stream bytes.

pub mod backup;
pub mod bitmap_index;
pub mod block;
pub mod checksummed_file;
pub mod coerce;
pub mod drain;
mod drain_rpc;
pub mod error;
pub mod integer_bounds;
pub mod leaf_gossip;
pub mod manifest;
pub mod narrow;
pub mod narrow_strings;
pub mod narrow_time;
pub mod provider;
pub mod pruning;
pub mod scan;
pub mod seal_strings;
pub mod server;
pub mod store;
pub mod store_resolver;
pub mod string_match;
pub mod table;
pub mod table_schema;
pub mod wal;
pub mod yielding;

pub use error::{LeafError, Result};
// The tier contract (shared with aggregators, in `shoal-contract`), where
// leaf code and tests have always found it.
pub use server::{LeafConfig, LeafService, run_leaf};
pub use shoal_contract::{
    approx_percentile, column_type, dense_aggregate, dictionary_groups, fragment, fragment_decode,
    fragment_policy, functions, group_ids, ipc, panic_guard, quantile_sketch, query_memory,
    sql_guard, utc_date_bin, utc_date_trunc,
};
pub use store::{Store, StoreConfig};
