//! Per-request observability in one tower layer: a request id (taken from
//! `x-request-id` or generated, echoed in the response), a tracing span that
//! every log line of the request inherits, and Prometheus metrics (requests by
//! route and code, latency histogram, requests in flight) rendered at `/metrics`.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Instant;

use futures_util::future::BoxFuture;
use http::{HeaderValue, Request, Response};
use tower::{Layer, Service};
use tracing::Instrument as _;

/// Latency histogram bucket bounds, in seconds.
const BUCKETS: [f64; 12] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0];

#[derive(Default)]
struct Series {
    count: u64,
    sum: f64,
    buckets: [u64; BUCKETS.len()],
}

/// Counters and histograms of the process, shared by every request.
pub struct Metrics {
    series: Mutex<HashMap<(String, String), Series>>,
    in_flight: AtomicI64,
    started: Instant,
    id_seed: u64,
    id_counter: AtomicU64,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        let mut seed = [0u8; 8];
        // Only uniqueness matters for request ids; a failed RNG just gives a fixed seed.
        let _ = ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut seed);
        Self {
            series: Mutex::new(HashMap::new()),
            in_flight: AtomicI64::new(0),
            started: Instant::now(),
            id_seed: u64::from_le_bytes(seed),
            id_counter: AtomicU64::new(0),
        }
    }
}

impl Metrics {
    fn next_request_id(&self) -> String {
        let n = self.id_counter.fetch_add(1, Ordering::Relaxed);
        format!("{:016x}", self.id_seed.wrapping_add(n.wrapping_mul(0x9e37_79b9_7f4a_7c15)))
    }

    fn record(&self, route: String, code: String, seconds: f64) {
        let mut series = self.series.lock().unwrap_or_else(|e| e.into_inner());
        let s = series.entry((route, code)).or_default();
        s.count += 1;
        s.sum += seconds;
        for (bucket, bound) in s.buckets.iter_mut().zip(BUCKETS) {
            if seconds <= bound {
                *bucket += 1;
            }
        }
    }

    /// The Prometheus text exposition of every metric.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let series = self.series.lock().unwrap_or_else(|e| e.into_inner());
        let mut keys: Vec<_> = series.keys().collect();
        keys.sort();
        out.push_str("# HELP steward_requests_total Requests served, by route and gRPC or HTTP status code.\n");
        out.push_str("# TYPE steward_requests_total counter\n");
        for key in &keys {
            let (route, code) = key;
            let _ = writeln!(out, "steward_requests_total{{route=\"{route}\",code=\"{code}\"}} {}", series[*key].count);
        }
        out.push_str("# HELP steward_request_duration_seconds Time to response headers.\n");
        out.push_str("# TYPE steward_request_duration_seconds histogram\n");
        for key in &keys {
            let (route, code) = key;
            let s = &series[*key];
            for (count, bound) in s.buckets.iter().zip(BUCKETS) {
                let _ = writeln!(
                    out,
                    "steward_request_duration_seconds_bucket{{route=\"{route}\",code=\"{code}\",le=\"{bound}\"}} {count}"
                );
            }
            let labels = format!("route=\"{route}\",code=\"{code}\"");
            let _ = writeln!(out, "steward_request_duration_seconds_bucket{{{labels},le=\"+Inf\"}} {}", s.count);
            let _ = writeln!(out, "steward_request_duration_seconds_sum{{{labels}}} {}", s.sum);
            let _ = writeln!(out, "steward_request_duration_seconds_count{{{labels}}} {}", s.count);
        }
        out.push_str("# HELP steward_requests_in_flight Requests being served now.\n");
        out.push_str("# TYPE steward_requests_in_flight gauge\n");
        let _ = writeln!(out, "steward_requests_in_flight {}", self.in_flight.load(Ordering::Relaxed));
        out.push_str("# HELP steward_uptime_seconds Seconds since the process started.\n");
        out.push_str("# TYPE steward_uptime_seconds gauge\n");
        let _ = writeln!(out, "steward_uptime_seconds {:.3}", self.started.elapsed().as_secs_f64());
        out
    }
}

/// Counts a request in flight until dropped, so a request whose client went
/// away (its future dropped mid-way) still leaves the gauge.
struct InFlight(std::sync::Arc<Metrics>);

impl InFlight {
    fn enter(metrics: std::sync::Arc<Metrics>) -> Self {
        metrics.in_flight.fetch_add(1, Ordering::Relaxed);
        Self(metrics)
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

/// The label a request is counted under. gRPC methods are named in full; plain
/// HTTP paths only by their first segment, so scanners cannot blow up the label set.
fn route_label(path: &str, is_grpc: bool) -> String {
    if is_grpc {
        return path.to_owned();
    }
    match path.split('/').nth(1) {
        Some("") | None => "/".to_owned(),
        Some(first) => format!("/{first}"),
    }
}

/// Participant pages whose path segment after `/donate/` or `/participant/`
/// names a page, not a credential.
const PARTICIPANT_PAGES: [&str; 12] = [
    "terms",
    "language",
    "authorize",
    "data",
    "revoke",
    "generate-participant",
    "participant-link-saved",
    "link-participant",
    "switch-to-participant",
    "style.css",
    "select",
    "logout",
];

/// The request path as logs show it: the segment after `/donate/` and
/// `/participant/` is a donation or participant token (spec donation.md §3.1)
/// unless it names a page, so it is logged as `<redacted>`.
pub fn loggable_path(path: &str) -> String {
    let segments: Vec<&str> = path.split('/').collect();
    let credential_route = matches!(segments.get(1), Some(&"donate" | &"participant"));
    segments
        .iter()
        .enumerate()
        .map(|(i, segment)| {
            if i == 2 && credential_route && !segment.is_empty() && !PARTICIPANT_PAGES.contains(segment) {
                "<redacted>"
            } else {
                segment
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}

fn is_grpc(headers: &http::HeaderMap) -> bool {
    headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/grpc"))
}

/// The longest client request id kept: tus clients may send up to 128
/// characters (spec upload.md §3.3), and the tus routes echo what is kept here.
const MAX_REQUEST_ID_LEN: usize = 128;

/// A request id from the client is kept if it is a well-formed token (RFC
/// 9110 `tchar`s: no spaces, quotes or control characters) of at most
/// [`MAX_REQUEST_ID_LEN`] characters.
fn usable_request_id(value: &HeaderValue) -> Option<String> {
    let s = value.to_str().ok()?;
    let tchar = |b: u8| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b);
    (!s.is_empty() && s.len() <= MAX_REQUEST_ID_LEN && s.bytes().all(tchar)).then(|| s.to_owned())
}

/// The layer; see the module docs.
#[derive(Debug, Clone)]
pub struct ObserveLayer {
    metrics: std::sync::Arc<Metrics>,
}

impl ObserveLayer {
    /// A layer recording into `metrics`.
    pub fn new(metrics: std::sync::Arc<Metrics>) -> Self {
        Self { metrics }
    }
}

impl<S> Layer<S> for ObserveLayer {
    type Service = Observe<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Observe { inner, metrics: self.metrics.clone() }
    }
}

/// The service made by [`ObserveLayer`].
#[derive(Debug, Clone)]
pub struct Observe<S> {
    inner: S,
    metrics: std::sync::Arc<Metrics>,
}

impl<S, B, RB> Service<Request<B>> for Observe<S>
where
    S: Service<Request<B>, Response = Response<RB>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: std::fmt::Display,
    B: Send + 'static,
{
    type Response = Response<RB>;
    type Error = S::Error;
    type Future = BoxFuture<'static, Result<Response<RB>, S::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<B>) -> Self::Future {
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let metrics = self.metrics.clone();
        let request_id = request
            .headers()
            .get("x-request-id")
            .and_then(usable_request_id)
            .unwrap_or_else(|| metrics.next_request_id());
        if let Ok(value) = HeaderValue::from_str(&request_id) {
            request.headers_mut().insert("x-request-id", value);
        }
        let grpc = is_grpc(request.headers());
        let route = route_label(request.uri().path(), grpc);
        let path = loggable_path(request.uri().path());
        let span = tracing::info_span!(
            "request",
            request_id = %request_id,
            method = %request.method(),
            route = %route,
            path = %path
        );
        let started = Instant::now();
        let in_flight = InFlight::enter(metrics.clone());
        Box::pin(
            async move {
                let result = inner.call(request).await;
                drop(in_flight);
                let seconds = started.elapsed().as_secs_f64();
                match result {
                    Ok(mut response) => {
                        // A gRPC error comes back "trailers-only": its status is in the headers.
                        let code = match response.headers().get("grpc-status") {
                            Some(status) => status.to_str().unwrap_or("?").to_owned(),
                            None if grpc => "0".to_owned(),
                            None => response.status().as_u16().to_string(),
                        };
                        // Unknown gRPC methods and HTTP 404s share one label.
                        let route = if code == "12" || code == "404" { "unmatched".to_owned() } else { route };
                        tracing::debug!(code = %code, elapsed_ms = seconds * 1e3, "served");
                        metrics.record(route, code, seconds);
                        if let Ok(value) = HeaderValue::from_str(&request_id) {
                            response.headers_mut().insert("x-request-id", value);
                        }
                        Ok(response)
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "request failed");
                        metrics.record(route, "error".to_owned(), seconds);
                        Err(e)
                    }
                }
            }
            .instrument(span),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_bounded() {
        assert_eq!(route_label("/pkg.Svc/Method", true), "/pkg.Svc/Method");
        assert_eq!(route_label("/static/app.js", false), "/static");
        assert_eq!(route_label("/", false), "/");
        assert_eq!(route_label("/healthz", false), "/healthz");
    }

    #[test]
    fn donation_and_participant_tokens_are_redacted_from_logged_paths() {
        let token = "q8m3Zr2Vx0aLk7Hn4Ws9Ty1Bc6Dp5Ef3Gh8Jk2Lm0N";
        assert_eq!(loggable_path(&format!("/donate/{token}/")), "/donate/<redacted>/");
        assert_eq!(loggable_path(&format!("/participant/{token}/")), "/participant/<redacted>/");
        assert_eq!(loggable_path(&format!("/donate/{token}")), "/donate/<redacted>");
        // Pages keep their names; other paths are untouched.
        assert_eq!(loggable_path("/donate/"), "/donate/");
        assert_eq!(loggable_path("/donate/terms/"), "/donate/terms/");
        assert_eq!(loggable_path("/participant/select/12/"), "/participant/select/12/");
        assert_eq!(loggable_path("/oauth/google/callback/"), "/oauth/google/callback/");
        assert_eq!(loggable_path("/api/donations/7/"), "/api/donations/7/");
    }

    #[test]
    fn request_ids_are_unique_and_client_ids_are_sanitised() {
        let m = Metrics::default();
        assert_ne!(m.next_request_id(), m.next_request_id());
        assert_eq!(usable_request_id(&HeaderValue::from_static("abc-123")), Some("abc-123".into()));
        assert_eq!(usable_request_id(&HeaderValue::from_static("a b")), None);
    }

    #[test]
    fn client_request_ids_of_up_to_128_token_characters_are_kept() {
        // tus-js-client's addRequestId sends a UUID; other clients send longer tokens.
        let uuid = "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d";
        assert_eq!(usable_request_id(&HeaderValue::from_static(uuid)).as_deref(), Some(uuid));
        let longest = "r".repeat(64) + &"e.q~1".repeat(12) + "abcd";
        assert_eq!(longest.len(), 128);
        assert_eq!(usable_request_id(&HeaderValue::from_str(&longest).unwrap()), Some(longest.clone()));
        let too_long = longest + "x";
        assert_eq!(usable_request_id(&HeaderValue::from_str(&too_long).unwrap()), None);
        for bad in ["", "a\"b", "a,b", "a;b", "(a)", "a/b", "a@b"] {
            assert_eq!(usable_request_id(&HeaderValue::from_str(bad).unwrap()), None, "{bad:?}");
        }
    }

    #[test]
    fn in_flight_is_left_when_a_request_is_dropped() {
        let metrics = std::sync::Arc::new(Metrics::default());
        let guard = InFlight::enter(metrics.clone());
        assert_eq!(metrics.in_flight.load(Ordering::Relaxed), 1);
        drop(guard);
        assert_eq!(metrics.in_flight.load(Ordering::Relaxed), 0);
    }

    #[test]
    fn render_is_prometheus_text() {
        let m = Metrics::default();
        m.record("/healthz".into(), "200".into(), 0.003);
        let text = m.render();
        assert!(text.contains("steward_requests_total{route=\"/healthz\",code=\"200\"} 1"));
        assert!(
            text.contains("steward_request_duration_seconds_bucket{route=\"/healthz\",code=\"200\",le=\"0.0025\"} 0")
        );
        assert!(
            text.contains("steward_request_duration_seconds_bucket{route=\"/healthz\",code=\"200\",le=\"0.005\"} 1")
        );
        assert!(text.contains("# TYPE steward_requests_in_flight gauge"));
    }
}
