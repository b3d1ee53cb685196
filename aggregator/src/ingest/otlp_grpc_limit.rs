//! The answer to an OTLP gRPC export over the body limit (`--max-body`).
//!
//! tonic refuses a message over its decoding limit before the service sees
//! it, with `OUT_OF_RANGE` (or `RESOURCE_EXHAUSTED` when the limit is hit
//! while decompressing). OTLP exporters retry both, so a batch that can never
//! fit would be sent again and again. [`SizeLimitAnswer`] wraps the logs
//! service and turns those refusals into `INVALID_ARGUMENT`, which exporters
//! do not retry, naming the limit: the gRPC counterpart of HTTP's 413.

use std::pin::Pin;
use std::task::{Context, Poll};

use tonic::server::NamedService;
use tonic::{Code, Status};
use tower::Service;

/// A gRPC service whose decoding-limit refusals say so without inviting a
/// retry; see the module docs.
#[derive(Debug, Clone)]
pub struct SizeLimitAnswer<S> {
    inner: S,
    limit: usize,
}

impl<S> SizeLimitAnswer<S> {
    /// Wraps `inner`, whose decoding limit is `limit` bytes.
    pub fn new(inner: S, limit: usize) -> Self {
        Self { inner, limit }
    }
}

impl<S: NamedService> NamedService for SizeLimitAnswer<S> {
    const NAME: &'static str = S::NAME;
}

impl<S, Request, ResponseBody> Service<Request> for SizeLimitAnswer<S>
where
    S: Service<Request, Response = http::Response<ResponseBody>>,
    S::Future: Send + 'static,
    ResponseBody: Default,
{
    type Response = http::Response<ResponseBody>;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, context: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(context)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        let future = self.inner.call(request);
        let limit = self.limit;
        Box::pin(async move {
            let response = future.await?;
            Ok(match over_limit(&response, limit) {
                Some(status) => status.into_http(),
                None => response,
            })
        })
    }
}

/// The `INVALID_ARGUMENT` status for a response that is tonic's refusal of
/// a message over the decoding limit, if it is one.
fn over_limit<B>(response: &http::Response<B>, limit: usize) -> Option<Status> {
    let status = response.extensions().get::<Status>()?;
    let refused = match status.code() {
        Code::OutOfRange => status.message().contains("too large"),
        Code::ResourceExhausted => status.message().contains("size limit"),
        _ => false,
    };
    refused.then(|| {
        Status::invalid_argument(format!(
            "the export request is over the aggregator's limit of {limit} bytes \
             (--max-body); send smaller batches ({})",
            status.message()
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_decoding_limit_refusals_are_turned_into_invalid_argument() {
        let too_large = Status::out_of_range(
            "Error, decoded message length too large: found 9 bytes, the limit is: 8 bytes",
        )
        .into_http::<()>();
        let answer = over_limit(&too_large, 8).expect("a limit refusal");
        assert_eq!(answer.code(), Code::InvalidArgument);
        assert!(answer.message().contains("limit of 8 bytes (--max-body)"));
        assert!(answer.message().contains("found 9 bytes"));

        let decompressed = Status::resource_exhausted(
            "Error decompressing: size limit, of 8 bytes, exceeded while decompressing message",
        )
        .into_http::<()>();
        assert_eq!(
            over_limit(&decompressed, 8).map(|s| s.code()),
            Some(Code::InvalidArgument)
        );

        let unavailable = Status::unavailable("the ingest buffer is full").into_http::<()>();
        assert!(over_limit(&unavailable, 8).is_none());
        assert!(over_limit(&http::Response::new(()), 8).is_none());
    }
}
