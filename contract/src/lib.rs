//! The contract between Shoal's tiers that is not a wire message: who is in
//! the fleet and what each member says about itself.
//!
//! Leaves and aggregators both depend on this crate; neither reaches into
//! the other for it. [`member`] is the record a member publishes (role,
//! service address, state, free memory, format version, tables) and how it
//! is read back; [`gossip`] runs the membership protocol (chitchat's
//! scuttlebutt gossip with a phi-accrual failure detector) that carries it.

pub mod error;
pub mod gossip;
pub mod member;
pub mod restart;
pub mod settings;
pub mod signed_udp;

pub use error::ContractError;
pub use gossip::{Gossip, GossipConfig};
pub use member::{Member, MemberState, Role};
pub use restart::RestartSignal;
pub use settings::GossipSettings;
