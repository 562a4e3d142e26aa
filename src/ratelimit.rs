//! Request rate per caller (design §7): a token bucket per principal, or per
//! client address for calls without a valid credential, kept in memory.
//!
//! The bucket is the generic cell rate algorithm: one instant per key (the
//! "theoretical arrival time"), so a check is a hash lookup under a short
//! lock on one of [`SHARDS`] maps. A key whose instant has passed holds a
//! full bucket, so forgetting it changes nothing: a shard that reaches its
//! share of [`MAX_KEYS`] drops those idle keys first, and only if every key
//! is busy the one closest to full.
//!
//! [`RateLimitLayer`] runs after the credential layer, so the principal is
//! known. Health checks, reflection, `/healthz`, `/metrics` and static assets
//! are never limited, nor the development sandbox providers under `/sandbox/`
//! (they stand in for Google and TikTok, whose limits they simulate
//! themselves, and Steward's own workers call them). A refusal says when to come back, in the caller's terms:
//! gRPC and gRPC-web get RESOURCE_EXHAUSTED with `retry-after` metadata; plain
//! HTTP gets 429 with `Retry-After` and DRF's throttled body; the legacy
//! donation RPCs answer like every legacy refusal (gRPC OK, the DRF body, and
//! `x-steward-http-status: 429`, which Envoy turns into the HTTP status).

use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};
use std::net::IpAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use futures_util::future::BoxFuture;
use tower::{Layer, Service};

use crate::auth::Caller;
use crate::donation::legacy::{self, Reply};
use crate::proto::donation::v1::LegacyListDonationsResponse;

/// Sustained requests per second per caller unless `STEWARD_RATE_LIMIT` says otherwise.
pub const DEFAULT_PER_SECOND: u32 = 100;
/// The burst is this many seconds' worth of requests unless `STEWARD_RATE_LIMIT_BURST` says otherwise.
pub const DEFAULT_BURST_SECONDS: u32 = 2;
/// Locks the key map is split over.
pub const SHARDS: usize = 16;
/// Callers tracked at once, over all shards.
pub const MAX_KEYS: usize = 65_536;

/// The legacy donation RPCs (REST only, answered with an HTTP status in a header).
const LEGACY_PREFIX: &str = "/steward.donation.v1.DonationService/Legacy";

/// How many requests a caller may make.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    /// Sustained requests per second.
    pub per_second: u32,
    /// Requests allowed at once after a quiet spell.
    pub burst: u32,
}

/// Whose bucket a request draws from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Key {
    /// A caller with a valid credential.
    Principal(i64),
    /// Anyone else, by the address the connection comes from.
    Address(IpAddr),
}

/// The buckets of every caller.
#[derive(Debug)]
pub struct Limiter {
    limit: RateLimit,
    /// Time one request uses up.
    interval: Duration,
    /// How far ahead of now a caller may run: a full bucket.
    capacity: Duration,
    max_keys_per_shard: usize,
    hasher: RandomState,
    shards: Box<[Mutex<HashMap<Key, Instant>>]>,
}

impl Limiter {
    /// Buckets of `limit`, tracking at most [`MAX_KEYS`] callers.
    pub fn new(limit: RateLimit) -> Self {
        Self::with_max_keys(limit, MAX_KEYS)
    }

    /// Buckets of `limit`, tracking at most about `max_keys` callers.
    pub fn with_max_keys(limit: RateLimit, max_keys: usize) -> Self {
        let interval = Duration::from_secs(1) / limit.per_second.max(1);
        Self {
            limit,
            interval,
            capacity: interval * limit.burst.max(1),
            max_keys_per_shard: max_keys.div_ceil(SHARDS).max(1),
            hasher: RandomState::new(),
            shards: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
        }
    }

    /// The limit applied.
    pub fn limit(&self) -> RateLimit {
        self.limit
    }

    /// Takes one request from `key`'s bucket now, or says how long until one is there.
    pub fn check(&self, key: Key) -> Result<(), Duration> {
        self.check_at(key, Instant::now())
    }

    /// Takes one request from `key`'s bucket at `now`, or says how long until one is there.
    /// A refused request takes nothing.
    pub fn check_at(&self, key: Key, now: Instant) -> Result<(), Duration> {
        let shard = &self.shards[(self.hasher.hash_one(key) % SHARDS as u64) as usize];
        let mut keys = shard.lock().unwrap_or_else(PoisonError::into_inner);
        let known = keys.get(&key).copied();
        let next = known.filter(|t| *t > now).unwrap_or(now) + self.interval;
        let allowed_until = now + self.capacity;
        if next > allowed_until {
            return Err(next - allowed_until);
        }
        if known.is_none() && keys.len() >= self.max_keys_per_shard {
            evict(&mut keys, now, self.max_keys_per_shard);
        }
        keys.insert(key, next);
        Ok(())
    }

    /// Callers currently tracked.
    pub fn tracked(&self) -> usize {
        self.shards.iter().map(|s| s.lock().unwrap_or_else(PoisonError::into_inner).len()).sum()
    }
}

/// Makes room for one key: drops every idle key (full bucket), and if none
/// was idle the one closest to full.
fn evict(keys: &mut HashMap<Key, Instant>, now: Instant, max: usize) {
    keys.retain(|_, next| *next > now);
    if keys.len() >= max
        && let Some(oldest) = keys.iter().min_by_key(|(_, next)| **next).map(|(key, _)| *key)
    {
        keys.remove(&oldest);
    }
}

/// Whole seconds to wait, as `Retry-After` and DRF count them (rounded up, at least 1).
pub fn retry_seconds(wait: Duration) -> u64 {
    let whole = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    whole.max(1)
}

fn seconds(n: u64) -> &'static str {
    if n == 1 { "second" } else { "seconds" }
}

/// The gRPC message of a refusal.
pub fn grpc_message(limit: RateLimit, retry: u64) -> String {
    let requests = if limit.per_second == 1 { "request" } else { "requests" };
    format!(
        "rate limit exceeded: at most {} {requests} per second per caller; retry in {retry} {}",
        limit.per_second,
        seconds(retry)
    )
}

/// DRF's throttled detail (`Throttled` in rest_framework.exceptions).
pub fn drf_detail(retry: u64) -> String {
    format!("Request was throttled. Expected available in {retry} {}.", seconds(retry))
}

/// Paths never limited: health, reflection, metrics, static assets, sandbox providers.
fn exempt(path: &str) -> bool {
    path == "/healthz"
        || path == "/metrics"
        || path == "/favicon.ico"
        || path.starts_with("/static/")
        || path.starts_with("/sandbox/")
        || path.starts_with("/grpc.health.v1.Health/")
        || path.starts_with("/grpc.reflection.")
}

/// The bucket of a request: its principal, else the client's address.
fn key_of<B>(request: &http::Request<B>, trusted: &[IpAddr]) -> Option<Key> {
    if let Some(Caller::Principal(principal)) = request.extensions().get::<Caller>() {
        return Some(Key::Principal(principal.id));
    }
    let peer = request.extensions().get::<tonic::transport::server::TcpConnectInfo>()?.remote_addr()?;
    Some(Key::Address(client_address(peer.ip(), request.headers(), trusted)))
}

/// The client behind `peer`: a trusted proxy (Envoy, which appends the address
/// it saw to `X-Forwarded-For`) is looked through to the rightmost address it
/// did not add itself; anyone else could write any `X-Forwarded-For`, so an
/// untrusted peer is the client.
pub(crate) fn client_address(peer: IpAddr, headers: &http::HeaderMap, trusted: &[IpAddr]) -> IpAddr {
    if !trusted.contains(&peer) {
        return peer;
    }
    let forwarded = headers.get_all("x-forwarded-for").iter().filter_map(|v| v.to_str().ok());
    let hops: Vec<&str> = forwarded.flat_map(|v| v.split(',')).map(str::trim).collect();
    hops.iter()
        .rev()
        .map_while(|hop| hop.parse::<IpAddr>().ok())
        .find(|address| !trusted.contains(address))
        .unwrap_or(peer)
}

/// Limits each caller's request rate; `None` limits nothing.
#[derive(Debug, Clone)]
pub struct RateLimitLayer {
    limiter: Option<Arc<Limiter>>,
    trusted: Arc<[IpAddr]>,
}

impl RateLimitLayer {
    /// A layer applying `limit` (`None`: off).
    /// A layer applying `limit` (`None`: off), looking through the `trusted` proxies.
    pub fn new(limit: Option<RateLimit>, trusted: &[IpAddr]) -> Self {
        Self { limiter: limit.map(|l| Arc::new(Limiter::new(l))), trusted: trusted.into() }
    }
}

impl<S> Layer<S> for RateLimitLayer {
    type Service = RateLimitService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        RateLimitService { inner, limiter: self.limiter.clone(), trusted: self.trusted.clone() }
    }
}

/// The service made by [`RateLimitLayer`].
#[derive(Debug, Clone)]
pub struct RateLimitService<S> {
    inner: S,
    limiter: Option<Arc<Limiter>>,
    trusted: Arc<[IpAddr]>,
}

impl<S, B> Service<http::Request<B>> for RateLimitService<S>
where
    S: Service<http::Request<B>, Response = http::Response<tonic::body::Body>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
    B: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = BoxFuture<'static, Result<S::Response, S::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        if let Some(limiter) = &self.limiter
            && !exempt(request.uri().path())
            && let Some(key) = key_of(&request, &self.trusted)
            && let Err(wait) = limiter.check(key)
        {
            let limit = limiter.limit();
            let retry = retry_seconds(wait);
            let kind = Kind::of(&request);
            return Box::pin(async move { Ok(refusal(kind, limit, retry).await) });
        }
        // The clone is the one that was not polled ready; use the ready one.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        Box::pin(inner.call(request))
    }
}

/// How a refused request wants its answer.
enum Kind {
    /// gRPC or gRPC-web, with the request's content type.
    Grpc(http::HeaderValue),
    /// A legacy donation RPC in plain gRPC (as Envoy's transcoder sends it).
    Legacy,
    /// SCIM, whose clients read every error in the SCIM error format.
    Scim,
    /// Anything else.
    Http,
}

impl Kind {
    fn of<B>(request: &http::Request<B>) -> Kind {
        if request.uri().path().starts_with(crate::authorization::scim::PREFIX) {
            return Kind::Scim;
        }
        let Some(content_type) = request.headers().get(http::header::CONTENT_TYPE) else {
            return Kind::Http;
        };
        let grpc = content_type.to_str().unwrap_or_default();
        if !grpc.starts_with("application/grpc") {
            return Kind::Http;
        }
        if request.uri().path().starts_with(LEGACY_PREFIX)
            && (grpc == "application/grpc" || grpc == "application/grpc+proto")
        {
            return Kind::Legacy;
        }
        Kind::Grpc(content_type.clone())
    }
}

async fn refusal(kind: Kind, limit: RateLimit, retry: u64) -> http::Response<tonic::body::Body> {
    let retry_after = http::HeaderValue::from(retry);
    let mut response = match kind {
        Kind::Grpc(content_type) => {
            let mut response: http::Response<tonic::body::Body> =
                tonic::Status::resource_exhausted(grpc_message(limit, retry)).into_http();
            // Trailers-only: the status is in the headers, so gRPC-web reads it as is.
            response.headers_mut().insert(http::header::CONTENT_TYPE, content_type);
            response
        }
        Kind::Legacy => legacy_refusal(retry).await,
        Kind::Scim => {
            let refusal =
                crate::authorization::scim::ScimError::new(http::StatusCode::TOO_MANY_REQUESTS, drf_detail(retry));
            axum::response::IntoResponse::into_response(refusal).map(tonic::body::Body::new)
        }
        Kind::Http => {
            let body = Reply::detail(429, &drf_detail(retry)).body;
            let mut response = http::Response::new(tonic::body::Body::new(axum::body::Body::from(body)));
            *response.status_mut() = http::StatusCode::TOO_MANY_REQUESTS;
            response
                .headers_mut()
                .insert(http::header::CONTENT_TYPE, http::HeaderValue::from_static(legacy::CONTENT_TYPE));
            response
        }
    };
    response.headers_mut().insert(http::header::RETRY_AFTER, retry_after);
    response
}

/// A legacy RPC's 429: gRPC OK carrying DRF's body, the status in
/// `x-steward-http-status`. Every legacy response has the same shape (one
/// `HttpBody` in field 1), so one message type encodes them all.
async fn legacy_refusal(retry: u64) -> http::Response<tonic::body::Body> {
    let reply = Reply::detail(429, &drf_detail(retry));
    let answer = tower::service_fn(move |_: tonic::Request<()>| {
        let reply = reply.clone();
        async move { Ok::<_, tonic::Status>(reply.into_response(|body| LegacyListDonationsResponse { body: Some(body) })) }
    });
    // An empty request message: the original is not needed to answer.
    let request = http::Request::builder()
        .header(http::header::CONTENT_TYPE, "application/grpc")
        .body(axum::body::Body::from(vec![0u8; 5]))
        .expect("a static request is valid");
    tonic::server::Grpc::new(tonic_prost::ProstCodec::<LegacyListDonationsResponse, ()>::default())
        .unary(answer, request)
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn callers_behind_a_trusted_proxy_are_told_apart_by_x_forwarded_for() {
        let envoy: IpAddr = "127.0.0.1".parse().unwrap();
        let trusted = [envoy];
        let headers = |value: &str| {
            let mut h = http::HeaderMap::new();
            h.insert("x-forwarded-for", value.parse().unwrap());
            h
        };
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        // Envoy appended the address it saw; what the client wrote before it is not believed.
        assert_eq!(client_address(envoy, &headers("198.51.100.7"), &trusted), ip("198.51.100.7"));
        assert_eq!(client_address(envoy, &headers("10.9.9.9, 203.0.113.4"), &trusted), ip("203.0.113.4"));
        assert_eq!(client_address(envoy, &headers("203.0.113.4, 127.0.0.1"), &trusted), ip("203.0.113.4"));
        assert_eq!(client_address(envoy, &http::HeaderMap::new(), &trusted), envoy);
        assert_eq!(client_address(envoy, &headers("not an address"), &trusted), envoy);
        // A caller that is not a trusted proxy cannot pick its bucket.
        let direct = ip("203.0.113.9");
        assert_eq!(client_address(direct, &headers("198.51.100.7"), &trusted), direct);
    }

    fn limiter(per_second: u32, burst: u32) -> Limiter {
        Limiter::new(RateLimit { per_second, burst })
    }

    const ALICE: Key = Key::Principal(1);
    const BOB: Key = Key::Principal(2);

    #[test]
    fn a_full_bucket_allows_the_burst_then_says_when_the_next_request_fits() {
        let limiter = limiter(10, 5);
        let now = Instant::now();
        for _ in 0..5 {
            assert_eq!(limiter.check_at(ALICE, now), Ok(()));
        }
        // One request refills every 100 ms.
        assert_eq!(limiter.check_at(ALICE, now), Err(Duration::from_millis(100)));
        assert_eq!(limiter.check_at(ALICE, now + Duration::from_millis(40)), Err(Duration::from_millis(60)));
        // A refused request took nothing: the next one fits exactly when promised.
        assert_eq!(limiter.check_at(ALICE, now + Duration::from_millis(100)), Ok(()));
        assert!(limiter.check_at(ALICE, now + Duration::from_millis(100)).is_err());
    }

    #[test]
    fn the_bucket_refills_at_the_rate_and_never_above_the_burst() {
        let limiter = limiter(10, 5);
        let now = Instant::now();
        for _ in 0..5 {
            limiter.check_at(ALICE, now).unwrap();
        }
        // After 300 ms three requests fit, the fourth does not.
        let later = now + Duration::from_millis(300);
        for _ in 0..3 {
            assert_eq!(limiter.check_at(ALICE, later), Ok(()));
        }
        assert!(limiter.check_at(ALICE, later).is_err());
        // After a long pause the bucket is full again, but holds only the burst.
        let much_later = later + Duration::from_secs(60);
        for _ in 0..5 {
            assert_eq!(limiter.check_at(ALICE, much_later), Ok(()));
        }
        assert!(limiter.check_at(ALICE, much_later).is_err());
    }

    #[test]
    fn callers_do_not_share_a_bucket() {
        let limiter = limiter(1, 2);
        let now = Instant::now();
        limiter.check_at(ALICE, now).unwrap();
        limiter.check_at(ALICE, now).unwrap();
        assert!(limiter.check_at(ALICE, now).is_err());
        assert_eq!(limiter.check_at(BOB, now), Ok(()));
        let address = Key::Address("192.0.2.7".parse().unwrap());
        assert_eq!(limiter.check_at(address, now), Ok(()));
    }

    #[test]
    fn idle_callers_are_forgotten_when_the_map_is_full() {
        let limiter = Limiter::with_max_keys(RateLimit { per_second: 1, burst: 3 }, SHARDS);
        let now = Instant::now();
        // One key per shard at most; thousands of callers never grow it past that.
        for id in 0..5_000 {
            limiter.check_at(Key::Principal(id), now + Duration::from_secs(id as u64 * 10)).unwrap();
        }
        assert!(limiter.tracked() <= SHARDS, "tracked {}", limiter.tracked());
    }

    #[test]
    fn a_busy_caller_outlives_idle_ones() {
        let limiter = Limiter::with_max_keys(RateLimit { per_second: 1, burst: 3 }, 4 * SHARDS);
        let now = Instant::now();
        // ALICE empties her bucket; then many callers come and go long before she refills.
        for _ in 0..3 {
            limiter.check_at(ALICE, now).unwrap();
        }
        for id in 100..2_000 {
            let at = now + Duration::from_millis(id as u64 / 1000);
            limiter.check_at(Key::Principal(id), at).unwrap();
        }
        // Busy keys are dropped closest-to-full first; ALICE was furthest from full.
        assert!(limiter.check_at(ALICE, now + Duration::from_millis(10)).is_err());
    }

    #[test]
    fn waits_round_up_to_whole_seconds_and_read_like_drf() {
        assert_eq!(retry_seconds(Duration::from_millis(10)), 1);
        assert_eq!(retry_seconds(Duration::from_secs(12)), 12);
        assert_eq!(retry_seconds(Duration::from_millis(11_001)), 12);
        assert_eq!(drf_detail(12), "Request was throttled. Expected available in 12 seconds.");
        assert_eq!(drf_detail(1), "Request was throttled. Expected available in 1 second.");
        let limit = RateLimit { per_second: 100, burst: 200 };
        assert_eq!(
            grpc_message(limit, 3),
            "rate limit exceeded: at most 100 requests per second per caller; retry in 3 seconds"
        );
    }

    #[test]
    fn health_reflection_metrics_and_assets_are_exempt() {
        for path in [
            "/healthz",
            "/metrics",
            "/static/app.js",
            "/favicon.ico",
            "/sandbox/google/v1/portabilityArchive:initiate",
            "/grpc.health.v1.Health/Check",
            "/grpc.health.v1.Health/Watch",
            "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo",
            "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
        ] {
            assert!(exempt(path), "{path}");
        }
        for path in ["/", "/api/donations/", "/steward.authorization.v1.AuthorizationService/WhoAmI", "/donate/x/"] {
            assert!(!exempt(path), "{path}");
        }
    }

    #[tokio::test]
    async fn a_scim_refusal_is_a_scim_error() {
        use http_body_util::BodyExt as _;
        let request = http::Request::builder().uri("/auth/scim/v2/Users").body(()).unwrap();
        assert!(matches!(Kind::of(&request), Kind::Scim));
        let response = refusal(Kind::Scim, RateLimit { per_second: 1, burst: 1 }, 2).await;
        assert_eq!(response.status(), http::StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(response.headers()[http::header::CONTENT_TYPE], "application/scim+json");
        assert_eq!(response.headers()[http::header::RETRY_AFTER], "2");
        let body: serde_json::Value =
            serde_json::from_slice(&response.into_body().collect().await.unwrap().to_bytes()).unwrap();
        assert_eq!(body["schemas"][0], "urn:ietf:params:scim:api:messages:2.0:Error");
        assert_eq!((body["status"].as_str(), body["scimType"].as_str()), (Some("429"), None));
    }

    #[tokio::test]
    async fn a_legacy_refusal_is_grpc_ok_with_the_drf_body_and_status_header() {
        use http_body_util::BodyExt as _;
        let response = refusal(Kind::Legacy, RateLimit { per_second: 1, burst: 1 }, 12).await;
        assert_eq!(response.headers()[legacy::STATUS_HEADER], "429");
        assert_eq!(response.headers()[http::header::RETRY_AFTER], "12");
        let collected = response.into_body().collect().await.unwrap();
        assert_eq!(collected.trailers().unwrap()["grpc-status"], "0");
        let frame = collected.to_bytes();
        let message: LegacyListDonationsResponse = prost::Message::decode(&frame[5..]).unwrap();
        let body = message.body.unwrap();
        assert_eq!(body.data, br#"{"detail":"Request was throttled. Expected available in 12 seconds."}"#);
    }
}
