//! `GET /api/v1/fleet`: who the members are and how this aggregator
//! counts them; `DELETE /api/v1/fleet/members/{name}`: an admin takes a
//! dead member out of the count.
//!
//! The answer has two lists. `members` is what gossip says (every member
//! whose record verifies, with its role, state, addresses, free memory,
//! format version, tables and whether the failure detector hears it);
//! empty for an aggregator without `--gossip`. `children` is what this
//! aggregator queries and counts in `leaves_queried`: a member that went
//! silent stays there (`up: false`) until it is back or removed.

use std::sync::Arc;

use axum::extract::{Extension, Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use shoal_contract::Member;

use crate::auth::{Caller, Role};
use crate::fleet::Fleet;
use crate::fleet_gossip::FleetGossip;
use crate::membership::RemoveRefused;

/// What the fleet routes read.
#[derive(Debug, Clone)]
pub struct FleetState {
    pub fleet: Arc<Fleet>,
    /// Present when the aggregator runs with `--gossip`.
    pub gossip: Option<Arc<FleetGossip>>,
}

/// `GET /api/v1/fleet` (role `read`).
pub async fn status(
    State(state): State<FleetState>,
    Extension(caller): Extension<Caller>,
) -> Response {
    if let Err(error) = caller.require(Role::Read) {
        return refuse(error.http_status(), &error.to_string());
    }
    let (members, refused) = match &state.gossip {
        Some(gossip) => {
            let roster = gossip.roster().await;
            (roster.members, roster.refused)
        }
        None => (Vec::new(), Vec::new()),
    };
    let children: Vec<Value> = state
        .fleet
        .children()
        .iter()
        .map(|child| {
            let status = child.status();
            json!({
                "name": child.name,
                "address": child.address,
                "up": child.is_up(),
                "leaves": child.leaf_count(),
                "rows": status.as_ref().map_or(0, |s| s.tables.iter().map(|t| t.rows).sum::<u64>()),
                "memory_used_bytes": status.as_ref().map(|s| s.memory_used_bytes),
                "format_version": status.as_ref().map(|s| s.format_version),
            })
        })
        .collect();
    let leaves_counted: u64 = state.fleet.children().iter().map(|c| c.leaf_count()).sum();
    let leaves_up: u64 = state
        .fleet
        .live_children()
        .iter()
        .map(|c| c.leaf_count())
        .sum();
    axum::Json(json!({
        "gossip": state.gossip.is_some(),
        "members": members.iter().map(member_json).collect::<Vec<_>>(),
        "refused": refused,
        "children": children,
        "leaves_counted": leaves_counted,
        "leaves_up": leaves_up,
    }))
    .into_response()
}

/// `DELETE /api/v1/fleet/members/{name}` (role `admin`).
pub async fn remove(
    State(state): State<FleetState>,
    Extension(caller): Extension<Caller>,
    Path(name): Path<String>,
) -> Response {
    if let Err(error) = caller.require(Role::Admin) {
        return refuse(error.http_status(), &error.to_string());
    }
    let removed = match &state.gossip {
        Some(gossip) => gossip.remove(&name).await,
        None => state.fleet.membership().remove_dead(&name),
    };
    match removed {
        Ok(child) => {
            tracing::warn!(member = %name, address = %child.address, by = %caller.name(), "dead member removed");
            axum::Json(json!({ "removed": name, "address": child.address })).into_response()
        }
        Err(refused @ RemoveRefused::Unknown(_)) => refuse(404, &refused.to_string()),
        Err(refused @ RemoveRefused::Live(_)) => refuse(409, &refused.to_string()),
    }
}

/// One gossip member as JSON.
pub fn member_json(member: &Member) -> Value {
    json!({
        "name": member.name,
        "generation": member.generation,
        "role": member.role.as_str(),
        "state": member.state.as_str(),
        "live": member.live,
        "service": member.service,
        "http": member.http,
        "gossip": member.gossip.to_string(),
        "free_memory_bytes": member.free_memory_bytes,
        "format_version": member.format_version,
        "tables": member.tables,
        "removed": member.removed.iter().map(|(name, generation)| json!({"name": name, "generation": generation})).collect::<Vec<_>>(),
    })
}

fn refuse(status: u16, message: &str) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST);
    (status, axum::Json(json!({ "error": message }))).into_response()
}
