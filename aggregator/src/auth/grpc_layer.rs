//! Authentication of gRPC calls (Flight SQL, OTLP, the child's
//! `shoal.v1.Leaf`): a check in front of every service of the aggregator's
//! gRPC port ([`shoal_proto::check_layer`]).
//!
//! It reads the credentials once ([`Authenticator::caller`]), refuses what
//! the method alone rules out (`shoal.v1.Leaf` without the cluster secret,
//! OTLP export without the `ingest` role), and puts the [`Caller`] in the
//! request's extensions, where Flight SQL handlers find it: one service
//! serves queries, ingest and fragments, so they check the rest.

use std::sync::Arc;

use shoal_proto::check_layer::CheckLayer;

use crate::auth::{AuthError, Authenticator, Caller, Role};

const LEAF_SERVICE: &str = "/shoal.v1.Leaf/";
const OTLP_LOGS_SERVICE: &str = "/opentelemetry.proto.collector.logs.v1.LogsService/";

/// The layer; see the module docs.
pub fn grpc_auth(
    authenticator: Arc<Authenticator>,
) -> CheckLayer<impl Fn(&mut http::request::Parts) -> Result<(), tonic::Status> + Clone> {
    CheckLayer::new(move |request: &mut http::request::Parts| {
        let caller = check(&authenticator, request)?;
        request.extensions.insert(caller);
        Ok(())
    })
}

fn check(
    authenticator: &Authenticator,
    request: &http::request::Parts,
) -> Result<Caller, AuthError> {
    let caller = authenticator.caller(&request.headers)?;
    let path = request.uri.path();
    if path.starts_with(LEAF_SERVICE) {
        caller.require_cluster()?;
    } else if path.starts_with(OTLP_LOGS_SERVICE) {
        caller.require(Role::Ingest)?;
    }
    Ok(caller)
}

/// The caller a gRPC handler was called by (the layer always sets one; a
/// request that somehow lacks it gets no rights).
pub fn caller_of<T>(request: &tonic::Request<T>) -> Caller {
    request
        .extensions()
        .get::<Caller>()
        .cloned()
        .unwrap_or(Caller {
            access: crate::auth::Access::Nothing,
            cluster: false,
        })
}
