//! The tower layer that resolves every request's credential into a [`Caller`]
//! in the request extensions. It never refuses: handlers decide.

use std::sync::Arc;
use std::task::{Context, Poll};

use futures_util::future::BoxFuture;
use tower::{Layer, Service};

use super::resolver::Resolver;

/// Adds the [`super::Caller`] of each request to its extensions.
#[derive(Debug, Clone)]
pub struct AuthLayer {
    resolver: Arc<Resolver>,
}

impl AuthLayer {
    /// A layer resolving with `resolver`.
    pub fn new(resolver: Arc<Resolver>) -> Self {
        Self { resolver }
    }
}

impl<S> Layer<S> for AuthLayer {
    type Service = AuthService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        AuthService { inner, resolver: self.resolver.clone() }
    }
}

/// The service made by [`AuthLayer`].
#[derive(Debug, Clone)]
pub struct AuthService<S> {
    inner: S,
    resolver: Arc<Resolver>,
}

impl<S, B> Service<http::Request<B>> for AuthService<S>
where
    S: Service<http::Request<B>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    B: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = BoxFuture<'static, Result<S::Response, S::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: http::Request<B>) -> Self::Future {
        // The clone is the one that was not polled ready; use the ready one.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let resolver = self.resolver.clone();
        Box::pin(async move {
            let caller = resolver.resolve(request.headers()).await;
            request.extensions_mut().insert(caller);
            inner.call(request).await
        })
    }
}

/// What [`EvictAfterWrites`] calls after a successful write (the resolver's `evict`).
pub type Evict = Arc<dyn Fn(&str) + Send + Sync>;

/// Evicts this replica's caches after every successful write RPC of the
/// wrapped service, before the response leaves: the writer's own next read is
/// then fresh at once (spec §4.4), while other replicas evict when the write's
/// `NOTIFY` reaches them. Reads (`Get…`, `List…`) pass through untouched;
/// admin writes are rare, so evicting everything is cheap.
#[derive(Clone)]
pub struct EvictAfterWrites<S> {
    inner: S,
    evict: Evict,
}

impl<S: std::fmt::Debug> std::fmt::Debug for EvictAfterWrites<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EvictAfterWrites").field("inner", &self.inner).finish_non_exhaustive()
    }
}

impl<S> EvictAfterWrites<S> {
    /// Wraps `inner`; `evict` receives `"all"` after each successful write.
    pub fn new(inner: S, evict: Evict) -> Self {
        Self { inner, evict }
    }
}

impl<S: tonic::server::NamedService> tonic::server::NamedService for EvictAfterWrites<S> {
    const NAME: &'static str = S::NAME;
}

impl<S, B, RB> Service<http::Request<B>> for EvictAfterWrites<S>
where
    S: Service<http::Request<B>, Response = http::Response<RB>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    B: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = BoxFuture<'static, Result<S::Response, S::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let method = request.uri().path().rsplit('/').next().unwrap_or_default();
        let write = !(method.starts_with("Get") || method.starts_with("List"));
        let evict = self.evict.clone();
        Box::pin(async move {
            let response = inner.call(request).await?;
            // A failed call answers "trailers-only": its grpc-status is in the headers.
            if write && !response.headers().contains_key("grpc-status") {
                evict("all");
            }
            Ok(response)
        })
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;

    async fn call(path: &str, failed: bool) -> Vec<String> {
        let evicted = Arc::new(Mutex::new(Vec::new()));
        let log = evicted.clone();
        let inner = tower::service_fn(move |_: http::Request<()>| async move {
            let mut response = http::Response::new(());
            if failed {
                response.headers_mut().insert("grpc-status", http::HeaderValue::from_static("7"));
            }
            Ok::<_, std::convert::Infallible>(response)
        });
        let mut service =
            EvictAfterWrites::new(inner, Arc::new(move |payload: &str| log.lock().unwrap().push(payload.to_owned())));
        let request = http::Request::builder().uri(path).body(()).unwrap();
        tower::ServiceExt::oneshot(&mut service, request).await.unwrap();
        evicted.lock().unwrap().clone()
    }

    #[tokio::test]
    async fn successful_writes_evict_and_reads_or_failures_do_not() {
        assert_eq!(call("/steward.dataset.v1.DatasetService/CreateGrant", false).await, ["all"]);
        assert!(call("/steward.dataset.v1.DatasetService/CreateGrant", true).await.is_empty());
        assert!(call("/steward.dataset.v1.DatasetService/GetDataset", false).await.is_empty());
        assert!(call("/steward.dataset.v1.DatasetService/ListGrants", false).await.is_empty());
    }
}
