//! Where the server-wide tower stack must treat `/files/` differently
//! (spec upload.md §3.1, §3.12, §5 item 4):
//!
//! - [`UnaryTimeoutLayer`]: the deadline of one unary request, except for tus,
//!   whose single whole-file PATCH may stream for hours (idle reads are bounded
//!   by the tus routes instead), and the client-streaming UploadFile. It replaces tonic's server-wide timeout and
//!   answers an expired request exactly as tonic does (CANCELLED, "Timeout
//!   expired"); a client's `grpc-timeout` is still honoured by tonic.
//! - [`ExceptTus`]: the shared CORS layer answers every OPTIONS itself and
//!   allows credentials; tus has its own CORS answers (no credentials, its
//!   own allowed and exposed headers), so `/files` requests go around it.

use std::task::{Context, Poll};
use std::time::Duration;

use futures_util::future::BoxFuture;
use http::Request;
use tower::{BoxError, Layer, Service, ServiceExt as _};

/// Whether a path belongs to the tus routes.
pub fn is_tus_path(path: &str) -> bool {
    path == "/files" || path.starts_with("/files/")
}

/// The client-streaming upload: a large file streams for longer than a unary deadline.
const UPLOAD_FILE: &str = "/steward.upload.v1.UploadService/UploadFile";

/// Whether a request streams an upload (tus, or UploadFile): no unary deadline.
fn streams_uploads(path: &str) -> bool {
    is_tus_path(path) || path == UPLOAD_FILE
}

/// Applies a request deadline to everything but streamed uploads.
#[derive(Debug, Clone, Copy)]
pub struct UnaryTimeoutLayer {
    timeout: Duration,
}

impl UnaryTimeoutLayer {
    /// Requests other than tus get `timeout` to produce their response.
    pub fn new(timeout: Duration) -> Self {
        Self { timeout }
    }
}

impl<S> Layer<S> for UnaryTimeoutLayer {
    type Service = UnaryTimeout<S>;

    fn layer(&self, inner: S) -> Self::Service {
        UnaryTimeout { inner, timeout: self.timeout }
    }
}

/// The service made by [`UnaryTimeoutLayer`].
#[derive(Debug, Clone)]
pub struct UnaryTimeout<S> {
    inner: S,
    timeout: Duration,
}

impl<S, B> Service<Request<B>> for UnaryTimeout<S>
where
    S: Service<Request<B>>,
    S::Error: Into<BoxError>,
    S::Future: Send + 'static,
{
    type Response = S::Response;
    type Error = BoxError;
    type Future = BoxFuture<'static, Result<S::Response, BoxError>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        let exempt = streams_uploads(request.uri().path());
        let timeout = self.timeout;
        let future = self.inner.call(request);
        Box::pin(async move {
            if exempt {
                return future.await.map_err(Into::into);
            }
            match tokio::time::timeout(timeout, future).await {
                Ok(result) => result.map_err(Into::into),
                Err(_) => Err(Box::new(tonic::Status::cancelled("Timeout expired")) as BoxError),
            }
        })
    }
}

/// Wraps a layer so that tus requests go around it.
#[derive(Debug, Clone)]
pub struct ExceptTus<L>(pub L);

impl<L: Layer<S>, S: Clone> Layer<S> for ExceptTus<L> {
    type Service = ExceptTusService<L::Service, S>;

    fn layer(&self, inner: S) -> Self::Service {
        ExceptTusService { wrapped: self.0.layer(inner.clone()), bare: inner }
    }
}

/// The service made by [`ExceptTus`].
#[derive(Debug, Clone)]
pub struct ExceptTusService<W, S> {
    wrapped: W,
    bare: S,
}

impl<W, S, B, R> Service<Request<B>> for ExceptTusService<W, S>
where
    W: Service<Request<B>, Response = R> + Clone + Send + 'static,
    S: Service<Request<B>, Response = R, Error = W::Error> + Clone + Send + 'static,
    W::Future: Send + 'static,
    S::Future: Send + 'static,
    B: Send + 'static,
{
    type Response = R;
    type Error = W::Error;
    type Future = BoxFuture<'static, Result<R, W::Error>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        // Each call drives a clone to readiness itself (`oneshot`).
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        // ngauth's two routes answer their own CORS too (exact headers, readable 403s).
        let path = request.uri().path();
        if is_tus_path(path) || crate::authorization::ngauth::answers_own_cors(path) {
            Box::pin(self.bare.clone().oneshot(request))
        } else {
            Box::pin(self.wrapped.clone().oneshot(request))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tus_paths() {
        for path in ["/files", "/files/", "/files/7d444840-9dc0-11d1-b245-5ffdce74fad2", "/files/x/y"] {
            assert!(is_tus_path(path), "{path}");
        }
        for path in ["/filesx", "/", "/api/files/", "/static/files/a", UPLOAD_FILE] {
            assert!(!is_tus_path(path), "{path}");
            assert_eq!(streams_uploads(path), path == UPLOAD_FILE, "{path}");
        }
    }

    #[tokio::test(start_paused = true)]
    async fn unary_requests_time_out_and_tus_does_not() {
        let slow = tower::service_fn(|_: Request<()>| async {
            tokio::time::sleep(Duration::from_secs(3600)).await;
            Ok::<_, std::convert::Infallible>("done")
        });
        let service = UnaryTimeoutLayer::new(Duration::from_secs(30)).layer(slow);
        let request = |path: &str| Request::builder().uri(path).body(()).unwrap();
        let err = service.clone().oneshot(request("/pkg.Svc/Method")).await.unwrap_err();
        let status = err.downcast::<tonic::Status>().expect("a gRPC status");
        assert_eq!((status.code(), status.message()), (tonic::Code::Cancelled, "Timeout expired"));
        assert_eq!(service.oneshot(request("/files/x")).await.unwrap(), "done");
    }

    #[tokio::test]
    async fn tus_requests_go_around_the_wrapped_layer() {
        let inner = tower::service_fn(|r: Request<()>| async move { Ok::<_, BoxError>(r.uri().path().to_owned()) });
        let marking = tower::util::MapResponseLayer::new(|s: String| format!("wrapped {s}"));
        let service = ExceptTus(marking).layer(inner);
        let call = |path: &str| service.clone().oneshot(Request::builder().uri(path).body(()).unwrap());
        assert_eq!(call("/files/").await.unwrap(), "/files/");
        assert_eq!(call("/secretshare").await.unwrap(), "wrapped /secretshare");
    }
}
