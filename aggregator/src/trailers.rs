//! A tower layer that adds Shoal's completeness to the gRPC trailers of a
//! successful streaming response.
//!
//! tonic sends only `grpc-status` (and `grpc-message`) as trailers when a
//! stream ends well. A handler that wants more puts an [`ExtraTrailers`] in
//! its response's extensions; this layer merges those headers into the
//! trailers frame (or sends one, if the body ended without any).

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::HeaderMap;
use http_body::{Body, Frame, SizeHint};
use tower::{Layer, Service};

/// Headers to send as trailers at the end of a response body.
#[derive(Debug, Clone, Default)]
pub struct ExtraTrailers(pub HeaderMap);

/// Adds [`ExtraTrailers`] to responses; see the module docs.
#[derive(Debug, Clone, Copy, Default)]
pub struct TrailersLayer;

impl<S> Layer<S> for TrailersLayer {
    type Service = TrailersService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        TrailersService { inner }
    }
}

/// The service [`TrailersLayer`] wraps around.
#[derive(Debug, Clone)]
pub struct TrailersService<S> {
    inner: S,
}

impl<S, Request, ResponseBody> Service<Request> for TrailersService<S>
where
    S: Service<Request, Response = http::Response<ResponseBody>>,
    S::Future: Send + 'static,
{
    type Response = http::Response<WithTrailers<ResponseBody>>;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, context: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(context)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        let future = self.inner.call(request);
        Box::pin(async move {
            let response = future.await?;
            let extra = response.extensions().get::<ExtraTrailers>().cloned();
            Ok(response.map(|inner| WithTrailers { inner, extra }))
        })
    }
}

/// A response body whose trailers get the [`ExtraTrailers`].
#[derive(Debug, Default)]
pub struct WithTrailers<B> {
    inner: B,
    extra: Option<ExtraTrailers>,
}

impl<B> Body for WithTrailers<B>
where
    B: Body<Data = Bytes> + Unpin,
{
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        context: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(context);
        match polled {
            Poll::Ready(Some(Ok(frame))) if frame.is_trailers() => {
                let Some(extra) = self.extra.take() else {
                    return Poll::Ready(Some(Ok(frame)));
                };
                let mut trailers = frame.into_trailers().unwrap_or_default();
                for (name, value) in extra.0.iter() {
                    trailers.insert(name, value.clone());
                }
                Poll::Ready(Some(Ok(Frame::trailers(trailers))))
            }
            Poll::Ready(None) => match self.extra.take() {
                Some(extra) => Poll::Ready(Some(Ok(Frame::trailers(extra.0)))),
                None => Poll::Ready(None),
            },
            other => other,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.extra.is_none() && self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
