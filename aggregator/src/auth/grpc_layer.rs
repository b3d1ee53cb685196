//! Authentication of gRPC calls (Flight SQL, OTLP, the child's
//! `shoal.v1.Leaf`): a tower layer in front of every service of the
//! aggregator's gRPC port.
//!
//! It reads the credentials once ([`Authenticator::caller`]), refuses what
//! the method alone rules out (`shoal.v1.Leaf` without the cluster secret,
//! OTLP export without the `ingest` role), and puts the [`Caller`] in the
//! request's extensions, where Flight SQL handlers find it: one service
//! serves queries, ingest and fragments, so they check the rest.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use tower::{Layer, Service};

use crate::auth::{AuthError, Authenticator, Caller, Role};

const LEAF_SERVICE: &str = "/shoal.v1.Leaf/";
const OTLP_LOGS_SERVICE: &str = "/opentelemetry.proto.collector.logs.v1.LogsService/";

/// Adds the [`Caller`] to every gRPC call; see the module docs.
#[derive(Debug, Clone)]
pub struct GrpcAuthLayer {
    pub authenticator: Arc<Authenticator>,
}

impl<S> Layer<S> for GrpcAuthLayer {
    type Service = GrpcAuth<S>;

    fn layer(&self, inner: S) -> Self::Service {
        GrpcAuth {
            inner,
            authenticator: self.authenticator.clone(),
        }
    }
}

/// The service [`GrpcAuthLayer`] wraps around.
#[derive(Debug, Clone)]
pub struct GrpcAuth<S> {
    inner: S,
    authenticator: Arc<Authenticator>,
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

type BoxFuture<T, E> = Pin<Box<dyn Future<Output = Result<T, E>> + Send>>;

impl<S, RequestBody, ResponseBody> Service<http::Request<RequestBody>> for GrpcAuth<S>
where
    S: Service<http::Request<RequestBody>, Response = http::Response<ResponseBody>>,
    S::Future: Send + 'static,
    ResponseBody: Default + Send + 'static,
{
    type Response = http::Response<ResponseBody>;
    type Error = S::Error;
    type Future = BoxFuture<Self::Response, Self::Error>;

    fn poll_ready(&mut self, context: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(context)
    }

    fn call(&mut self, request: http::Request<RequestBody>) -> Self::Future {
        let (mut parts, body) = request.into_parts();
        match check(&self.authenticator, &parts) {
            Ok(caller) => {
                parts.extensions.insert(caller);
                Box::pin(self.inner.call(http::Request::from_parts(parts, body)))
            }
            Err(error) => {
                let refused = tonic::Status::from(error).into_http();
                Box::pin(async move { Ok(refused) })
            }
        }
    }
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
