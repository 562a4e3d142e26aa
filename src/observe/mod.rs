//! Per-request observability in one tower layer: a request id (taken from
//! `x-request-id` or generated, echoed in the response), a tracing span that
//! every log line of the request inherits, and Prometheus metrics (requests by
//! route and code, latency histogram, requests in flight) rendered at `/metrics`,
//! beside the operations gauges read from the database at scrape time
//! (job queue, donations by status, upload bytes; queries in [`store`]).

pub mod store;

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::fmt::Write as _;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

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
    /// The last read of the operations gauges and when it was made.
    operations: tokio::sync::Mutex<Option<(Instant, Option<Operations>)>>,
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
            operations: tokio::sync::Mutex::new(None),
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

    /// The Prometheus text exposition of the in-process metrics.
    pub fn render(&self) -> String {
        let mut out = String::new();
        self.render_requests(&mut out);
        out
    }

    /// The operations gauges, read again only when the last read is older
    /// than [`OPERATIONS_TTL`]; concurrent scrapes wait for one read.
    pub async fn operations(&self, pool: &crate::db::Pool) -> Option<Operations> {
        let mut last = self.operations.lock().await;
        if let Some((read_at, operations)) = &*last
            && read_at.elapsed() < OPERATIONS_TTL
        {
            return operations.clone();
        }
        let operations = Operations::read(pool).await;
        *last = Some((Instant::now(), operations.clone()));
        operations
    }

    /// [`Metrics::render`] followed by the operations gauges: `operations` as
    /// read from the database, or only `steward_database_up 0` when it could
    /// not be read (`None`).
    pub fn render_with_operations(&self, operations: Option<&Operations>) -> String {
        let mut out = self.render();
        render_operations(&mut out, operations);
        out
    }

    fn render_requests(&self, out: &mut String) {
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
    }
}

/// Job states as `steward_jobs` labels them (a queued job is `due` or `scheduled`).
const JOB_STATES: [&str; 4] = ["due", "scheduled", "running", "failed"];
/// `donations.status` values (its CHECK constraint): each rendered, at 0 too.
const DONATION_STATUSES: [&str; 5] = ["pending", "authorized", "processing", "processed", "error"];
/// `upload_files.status` values (its CHECK constraint).
const UPLOAD_STATUSES: [&str; 8] =
    ["uploading", "processing", "available", "external", "failed", "expired", "terminated", "deleted"];
/// How long a read of the operations gauges is reused: `/metrics` is open and
/// not rate limited, so however often it is fetched the database sees at most
/// one aggregate query per this interval (scrapers ask every 10 s or so).
const OPERATIONS_TTL: Duration = Duration::from_secs(2);
/// How long a scrape waits for the database before answering without it.
const OPERATIONS_TIMEOUT: Duration = Duration::from_secs(3);

/// The operations gauges, as the database has them at scrape time.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Operations {
    /// Jobs by (kind, state).
    pub jobs: BTreeMap<(String, String), i64>,
    /// Queued jobs whose last attempt failed, by kind.
    pub jobs_retrying: BTreeMap<String, i64>,
    /// Donations by status.
    pub donations: BTreeMap<String, i64>,
    /// Bytes received by uploads, by upload status.
    pub upload_bytes: BTreeMap<String, i64>,
    /// Upload files by status.
    pub upload_files: BTreeMap<String, i64>,
}

impl Operations {
    /// Collects the rows of [`store::operations`].
    pub fn from_rows(rows: Vec<store::GaugeRow>) -> Self {
        let mut operations = Self::default();
        for row in rows {
            let map = match row.gauge.as_str() {
                "jobs" => {
                    *operations.jobs.entry((row.first, row.second)).or_default() += row.value;
                    continue;
                }
                "jobs_retrying" => &mut operations.jobs_retrying,
                "donations" => &mut operations.donations,
                "upload_bytes" => &mut operations.upload_bytes,
                "upload_files" => &mut operations.upload_files,
                _ => continue,
            };
            *map.entry(row.first).or_default() += row.value;
        }
        operations
    }

    /// Reads the gauges over a pooled connection, within a few seconds; an
    /// unreachable or slow database is logged and gives `None`, so `/metrics`
    /// still answers with the in-process metrics.
    pub async fn read(pool: &crate::db::Pool) -> Option<Self> {
        let read = async {
            let mut conn = pool.get().await.map_err(|e| e.to_string())?;
            store::operations(&mut conn).await.map_err(|e| e.to_string())
        };
        match tokio::time::timeout(OPERATIONS_TIMEOUT, read).await {
            Ok(Ok(rows)) => Some(Self::from_rows(rows)),
            Ok(Err(error)) => {
                tracing::warn!(%error, "metrics: reading the operations gauges failed");
                None
            }
            Err(_) => {
                tracing::warn!(
                    timeout_s = OPERATIONS_TIMEOUT.as_secs(),
                    "metrics: the database did not answer in time"
                );
                None
            }
        }
    }
}

/// A label value escaped for the text exposition format.
fn label(value: &str) -> String {
    value.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

fn gauge_header(out: &mut String, name: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} gauge");
}

/// One gauge labelled by `label_name`: every value of `known`, then any other the database has.
fn render_by_status(out: &mut String, name: &str, label_name: &str, known: &[&str], values: &BTreeMap<String, i64>) {
    for status in known {
        let _ = writeln!(out, "{name}{{{label_name}=\"{status}\"}} {}", values.get(*status).copied().unwrap_or(0));
    }
    for (status, value) in values.iter().filter(|(status, _)| !known.contains(&status.as_str())) {
        let _ = writeln!(out, "{name}{{{label_name}=\"{}\"}} {value}", label(status));
    }
}

fn render_operations(out: &mut String, operations: Option<&Operations>) {
    gauge_header(out, "steward_database_up", "Whether the database answered this scrape's queries (1) or not (0).");
    let Some(operations) = operations else {
        out.push_str("steward_database_up 0\n");
        return;
    };
    out.push_str("steward_database_up 1\n");

    gauge_header(
        out,
        "steward_jobs",
        "Jobs in the queue by kind and state: due (queued, run_at passed), scheduled (queued for later), running, failed (attempts used up).",
    );
    let kinds: BTreeSet<&str> = operations
        .jobs
        .keys()
        .map(|(kind, _)| kind.as_str())
        .chain(operations.jobs_retrying.keys().map(String::as_str))
        .collect();
    for kind in &kinds {
        for state in JOB_STATES {
            let value = operations.jobs.get(&((*kind).to_owned(), state.to_owned())).copied().unwrap_or(0);
            let _ = writeln!(out, "steward_jobs{{kind=\"{}\",state=\"{state}\"}} {value}", label(kind));
        }
    }
    gauge_header(
        out,
        "steward_jobs_retrying",
        "Queued jobs whose last attempt failed and that will be tried again, by kind.",
    );
    for kind in &kinds {
        let value = operations.jobs_retrying.get(*kind).copied().unwrap_or(0);
        let _ = writeln!(out, "steward_jobs_retrying{{kind=\"{}\"}} {value}", label(kind));
    }
    gauge_header(out, "steward_donations", "Donations by status.");
    render_by_status(out, "steward_donations", "status", &DONATION_STATUSES, &operations.donations);
    gauge_header(
        out,
        "steward_upload_bytes",
        "Bytes received by upload files (synced to staging or stored), by upload status.",
    );
    render_by_status(out, "steward_upload_bytes", "status", &UPLOAD_STATUSES, &operations.upload_bytes);
    gauge_header(out, "steward_upload_files", "Upload files by status.");
    render_by_status(out, "steward_upload_files", "status", &UPLOAD_STATUSES, &operations.upload_files);
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

/// Marks a response of one of the HTTP routes (set by [`mark_routed`] as a
/// route layer). Responses without it (the fallback's, and those of layers
/// that answer before routing: CORS preflights, rate limits, load shedding)
/// are counted as `unmatched`, so made-up paths cannot add labels.
#[derive(Debug, Clone, Copy)]
pub struct Routed;

/// The route layer that marks responses of the HTTP routes; see [`Routed`].
pub async fn mark_routed(mut response: axum::response::Response) -> axum::response::Response {
    response.extensions_mut().insert(Routed);
    response
}

/// `/package.Service/Method` of every gRPC method the server has (its own,
/// health, reflection, the tusd hooks), from their descriptor sets.
fn grpc_methods() -> &'static HashSet<String> {
    static METHODS: OnceLock<HashSet<String>> = OnceLock::new();
    METHODS.get_or_init(|| {
        let sets = [
            crate::proto::FILE_DESCRIPTOR_SET,
            tonic_health::pb::FILE_DESCRIPTOR_SET,
            tonic_reflection::pb::v1::FILE_DESCRIPTOR_SET,
            tonic_reflection::pb::v1alpha::FILE_DESCRIPTOR_SET,
            crate::upload::hooks::grpc::FILE_DESCRIPTOR_SET,
        ];
        let mut methods = HashSet::new();
        for set in sets {
            // The sets are compiled in: one that does not decode names no method.
            let Ok(set) = <prost_types::FileDescriptorSet as prost::Message>::decode(set) else { continue };
            for file in set.file {
                let package = file.package.map(|p| format!("{p}.")).unwrap_or_default();
                for service in file.service {
                    let service_name = service.name.unwrap_or_default();
                    for method in service.method {
                        methods.insert(format!("/{package}{service_name}/{}", method.name.unwrap_or_default()));
                    }
                }
            }
        }
        methods
    })
}

/// The label a request is counted under. gRPC methods the server has are named
/// in full, any other gRPC path is `unmatched` (an auth or rate-limit refusal
/// answers before routing, so the status code cannot tell); plain HTTP paths
/// are named only by their first segment. Scanners cannot blow up the label set.
fn route_label(path: &str, is_grpc: bool) -> String {
    if is_grpc {
        return if grpc_methods().contains(path) { path.to_owned() } else { "unmatched".to_owned() };
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
                        // Unknown gRPC methods, HTTP 404s and plain HTTP answered outside the routes share one label.
                        let routed = grpc || response.extensions().get::<Routed>().is_some();
                        let route =
                            if code == "12" || code == "404" || !routed { "unmatched".to_owned() } else { route };
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
        let create = "/steward.donation.v1.DonationService/CreateDonation";
        assert_eq!(route_label(create, true), create);
        assert_eq!(route_label("/grpc.health.v1.Health/Check", true), "/grpc.health.v1.Health/Check");
        for unknown in ["/pkg.Svc/Method", "/steward.donation.v1.DonationService/NoSuch", "/donate/t0k3n/"] {
            assert_eq!(route_label(unknown, true), "unmatched", "{unknown}");
        }
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

    fn row(gauge: &str, first: &str, second: &str, value: i64) -> store::GaugeRow {
        store::GaugeRow { gauge: gauge.into(), first: first.into(), second: second.into(), value }
    }

    #[test]
    fn operations_render_as_labelled_gauges() {
        let operations = Operations::from_rows(vec![
            row("jobs", "donation.process", "due", 2),
            row("jobs", "donation.process", "failed", 1),
            row("jobs", "upload.\"odd\"", "scheduled", 4),
            row("jobs_retrying", "donation.process", "", 1),
            row("donations", "pending", "", 3),
            row("upload_bytes", "available", "", 1_048_576),
            row("upload_files", "available", "", 2),
        ]);
        let text = Metrics::default().render_with_operations(Some(&operations));
        for line in [
            "# TYPE steward_database_up gauge",
            "steward_database_up 1",
            "# TYPE steward_jobs gauge",
            "steward_jobs{kind=\"donation.process\",state=\"due\"} 2",
            "steward_jobs{kind=\"donation.process\",state=\"scheduled\"} 0",
            "steward_jobs{kind=\"donation.process\",state=\"failed\"} 1",
            "steward_jobs{kind=\"upload.\\\"odd\\\"\",state=\"scheduled\"} 4",
            "steward_jobs_retrying{kind=\"donation.process\"} 1",
            "steward_jobs_retrying{kind=\"upload.\\\"odd\\\"\"} 0",
            "# HELP steward_donations Donations by status.",
            "steward_donations{status=\"pending\"} 3",
            "steward_donations{status=\"error\"} 0",
            "steward_upload_bytes{status=\"available\"} 1048576",
            "steward_upload_bytes{status=\"uploading\"} 0",
            "steward_upload_files{status=\"available\"} 2",
        ] {
            assert!(text.lines().any(|l| l == line), "{line:?} missing from:\n{text}");
        }
        // The request metrics come first, and every sample has its TYPE line before it.
        assert!(text.starts_with("# HELP steward_requests_total"));
        for name in ["steward_jobs", "steward_jobs_retrying", "steward_donations", "steward_upload_bytes"] {
            let typed = text.find(&format!("# TYPE {name} gauge\n")).unwrap();
            assert!(text.find(&format!("\n{name}{{")).unwrap() > typed, "{name}");
        }
    }

    #[test]
    fn an_unreadable_database_leaves_only_its_up_gauge() {
        let m = Metrics::default();
        m.record("/healthz".into(), "200".into(), 0.003);
        let text = m.render_with_operations(None);
        assert!(text.contains("steward_requests_total{route=\"/healthz\",code=\"200\"} 1"));
        assert!(text.ends_with("steward_database_up 0\n"), "{text}");
        assert!(!text.contains("steward_jobs"));
        assert!(!text.contains("steward_donations"));
    }
}
