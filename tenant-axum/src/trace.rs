//! A span per request with a `tenant` field that the extractor fills.

use std::task::{Context, Poll};

use axum::http::Request;
use tower::{Layer, Service};
use tracing::instrument::{Instrument, Instrumented};

/// Wraps each request in a `request` span with `method`, `path` and an empty
/// `tenant` field; [`RequestTenant`](crate::RequestTenant) records the id
/// there once resolved, so every event of the handler carries it.
///
/// With your own spans (tower-http's `TraceLayer`, say) declare
/// `tenant = tracing::field::Empty` in them instead: the extractor records
/// into whatever span is current.
#[derive(Clone, Copy, Debug, Default)]
pub struct TenantTraceLayer;

impl TenantTraceLayer {
    /// The layer.
    pub fn new() -> TenantTraceLayer {
        TenantTraceLayer
    }
}

impl<S> Layer<S> for TenantTraceLayer {
    type Service = TenantTrace<S>;

    fn layer(&self, inner: S) -> TenantTrace<S> {
        TenantTrace { inner }
    }
}

/// The service of [`TenantTraceLayer`].
#[derive(Clone, Debug)]
pub struct TenantTrace<S> {
    inner: S,
}

impl<S, B> Service<Request<B>> for TenantTrace<S>
where
    S: Service<Request<B>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Instrumented<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        let span = tracing::info_span!(
            "request",
            method = %request.method(),
            path = %request.uri().path(),
            tenant = tracing::field::Empty,
        );
        let future = span.in_scope(|| self.inner.call(request));
        future.instrument(span)
    }
}
