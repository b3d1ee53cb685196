//! What Shoal's tiers agree on, beyond the wire messages of `shoal-proto`.
//! Leaves and aggregators both depend on this crate; neither reaches into
//! the other.
//!
//! - Who is in the fleet: [`member`] is the record a member publishes
//!   (role, service address, state, free memory, format version, tables);
//!   [`gossip`] runs the membership protocol (chitchat's scuttlebutt gossip
//!   with a phi-accrual failure detector) that carries it; [`restart`] is
//!   a process's restart in place.
//! - What a plan fragment is: [`fragment`] (the table scan placeholder and
//!   its codec), [`fragment_decode`] and [`fragment_policy`] (what a
//!   receiver decodes and admits), [`pushdown`] (which filters a scan
//!   applies exactly), [`flight_answer`] (how an answer and its
//!   completeness travel back).
//! - What both tiers execute the same way: the column types
//!   ([`column_type`]), the functions registered in every session
//!   ([`functions`]: `date_trunc`, `date_bin`, `approx_percentile`), the
//!   dense and dictionary group-by rewrites ([`dense_aggregate`],
//!   [`dictionary_groups`]), query memory pools ([`query_memory`]), the
//!   SQL size guard ([`sql_guard`]), the panic guard ([`panic_guard`]),
//!   Arrow IPC framing ([`ipc`]) and table names ([`table_names`]).

pub mod aggregate_wrapper;
pub mod approx_percentile;
pub mod bounded_functions;
pub mod column_type;
pub mod dense_aggregate;
pub mod dictionary_groups;
pub mod error;
pub mod flight_answer;
pub mod fragment;
pub mod fragment_decode;
pub mod fragment_policy;
pub mod functions;
pub mod gossip;
pub mod group_ids;
pub mod growth;
pub mod ipc;
pub mod member;
pub mod net;
pub mod panic_guard;
pub mod pushdown;
pub mod quantile_sketch;
pub mod query_memory;
pub mod restart;
pub mod row_count;
pub mod row_sizes;
pub mod settings;
pub mod signed_udp;
pub mod sql_guard;
pub mod table_names;
pub mod utc_date_bin;
pub mod utc_date_trunc;
pub mod value_types;

pub use error::ContractError;
pub use gossip::{Gossip, GossipConfig};
pub use member::{Member, MemberState, Role};
pub use restart::RestartSignal;
pub use settings::GossipSettings;
