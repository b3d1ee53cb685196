//! A tower layer that checks each gRPC request's head before the service
//! sees it: the check may refuse the call (its `Status` is the answer) or
//! let it through, having added what it learnt to the request's
//! extensions. Leaves check the cluster secret with it
//! ([`crate::cluster_auth`]); aggregators check callers' credentials.

use std::pin::Pin;
use std::task::{Context, Poll};

use tonic::Status;
use tower::{Layer, Service};

/// Runs `check` on every request; see the module docs.
#[derive(Debug, Clone)]
pub struct CheckLayer<C> {
    check: C,
}

impl<C> CheckLayer<C> {
    pub fn new(check: C) -> Self {
        Self { check }
    }
}

impl<S, C: Clone> Layer<S> for CheckLayer<C> {
    type Service = Checked<S, C>;

    fn layer(&self, inner: S) -> Self::Service {
        Checked {
            inner,
            check: self.check.clone(),
        }
    }
}

/// The service [`CheckLayer`] wraps around.
#[derive(Debug, Clone)]
pub struct Checked<S, C> {
    inner: S,
    check: C,
}

type BoxFuture<T, E> = Pin<Box<dyn Future<Output = Result<T, E>> + Send>>;

impl<S, C, RequestBody, ResponseBody> Service<http::Request<RequestBody>> for Checked<S, C>
where
    S: Service<http::Request<RequestBody>, Response = http::Response<ResponseBody>>,
    S::Future: Send + 'static,
    C: Fn(&mut http::request::Parts) -> Result<(), Status>,
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
        match (self.check)(&mut parts) {
            Ok(()) => Box::pin(self.inner.call(http::Request::from_parts(parts, body))),
            Err(status) => {
                let refused = status.into_http();
                Box::pin(async move { Ok(refused) })
            }
        }
    }
}
