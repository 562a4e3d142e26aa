//! The one listener: tonic services (the Steward services, `grpc.health.v1`,
//! reflection v1 and v1alpha), gRPC-web with CORS, and the plain HTTP routes,
//! all on one port behind one tower stack, with graceful shutdown.
//!
//! Stack, outermost first: request id + tracing span + metrics → CORS →
//! global concurrency limit → credential resolution → request rate per caller
//! → routes, where each gRPC service is wrapped in gRPC-web translation. tonic
//! adds the per-request timeout and message-size limits.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use http::{HeaderName, Method};
use tonic::codec::CompressionEncoding;
use tonic::service::Routes;
use tonic::transport::server::TcpIncoming;
use tonic_health::pb::health_server::HealthServer;
use tonic_health::server::{HealthReporter, HealthService};
use tonic_web::GrpcWebLayer;
use tower::limit::GlobalConcurrencyLimitLayer;
use tower::{Layer as _, ServiceBuilder};
use tower_http::cors::{AllowOrigin, CorsLayer};

use crate::app::{AppState, Health};
use crate::auth::AuthLayer;
use crate::auth::layer::{Evict, EvictAfterWrites};
use crate::authorization::AuthorizationApi;
use crate::dataset::grpc::DatasetApi;
use crate::donation::grpc::DonationApi;
use crate::observe::ObserveLayer;
use crate::proto::authorization::v1::authorization_service_server::AuthorizationServiceServer;
use crate::proto::dataset::v1::dataset_service_server::DatasetServiceServer;
use crate::proto::donation::v1::donation_service_server::DonationServiceServer;
use crate::proto::secretshare::v1::secret_share_service_server::SecretShareServiceServer;
use crate::proto::upload::v1::upload_service_server::UploadServiceServer;
use crate::ratelimit::RateLimitLayer;
use crate::secretshare::grpc::SecretShareApi;
use crate::upload::grpc::UploadApi;

/// The fully qualified names of Steward's own gRPC services (for health).
pub const SERVICE_NAMES: &[&str] = &[
    "steward.authorization.v1.AuthorizationService",
    "steward.dataset.v1.DatasetService",
    "steward.donation.v1.DonationService",
    "steward.secretshare.v1.SecretShareService",
    "steward.upload.v1.UploadService",
];

/// Largest DonationService answer (spec §2.1): a page of 10,000 rows outgrows
/// the general message limit.
const DONATION_MAX_ENCODING_BYTES: usize = 32 * 1024 * 1024;

/// SealBatch and SubmitShare take up to 8 MiB (spec secretshare.md §3.1):
/// 100,000 hex submission ids are about 3.5 MB.
const SECRETSHARE_MAX_DECODING_BYTES: usize = 8 * 1024 * 1024;

/// A WriteChunk of 4 MiB plus its other fields.
const UPLOAD_MAX_DECODING_BYTES: usize = (4 << 20) + (64 << 10);

/// A health reporter for the server and every service, starting NOT_SERVING,
/// and the `grpc.health.v1.Health` service that reports it.
pub async fn health() -> (Health, HealthServer<HealthService>) {
    let reporter = HealthReporter::new();
    let service = HealthServer::new(HealthService::from_health_reporter(reporter.clone()));
    let health = Health::new(reporter, SERVICE_NAMES.to_vec());
    // The reporter starts the server as a whole at SERVING; we are not, yet.
    health.set_serving(false).await;
    (health, service)
}

/// Serves every route on `listener` until `shutdown` resolves, then stops
/// accepting and lets in-flight requests finish.
/// HTTP/2 flow-control window per stream: a largest upload chunk (4 MiB) and
/// its framing.
const STREAM_WINDOW: u32 = (4 << 20) + (64 << 10);
/// The largest HTTP/2 frame a client may send.
const MAX_FRAME: u32 = 256 << 10;

pub async fn serve(
    state: AppState,
    health_service: HealthServer<HealthService>,
    listener: tokio::net::TcpListener,
    shutdown: impl Future<Output = ()> + Send,
) -> anyhow::Result<()> {
    let config = state.config.clone();
    let limit = config.max_message_bytes;

    // Each reflection service describes every service, both reflection versions included.
    let reflection = || {
        tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(crate::proto::FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(tonic_reflection::pb::v1::FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(tonic_reflection::pb::v1alpha::FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(crate::upload::hooks::grpc::FILE_DESCRIPTOR_SET)
    };
    let reflection_v1 = reflection().build_v1().context("building reflection v1")?;
    let reflection_v1alpha = reflection().build_v1alpha().context("building reflection v1alpha")?;

    let authorization = AuthorizationServiceServer::new(AuthorizationApi::new(&state))
        .max_decoding_message_size(limit)
        .max_encoding_message_size(limit)
        .accept_compressed(CompressionEncoding::Gzip)
        .send_compressed(CompressionEncoding::Gzip);
    let dataset = DatasetServiceServer::new(DatasetApi::new(&state))
        .max_decoding_message_size(limit)
        .max_encoding_message_size(limit)
        .accept_compressed(CompressionEncoding::Gzip)
        .send_compressed(CompressionEncoding::Gzip);
    let donation = DonationServiceServer::new(DonationApi::new(&state))
        .max_decoding_message_size(limit)
        .max_encoding_message_size(limit.max(DONATION_MAX_ENCODING_BYTES))
        .accept_compressed(CompressionEncoding::Gzip)
        .send_compressed(CompressionEncoding::Gzip);

    let secretshare = SecretShareServiceServer::new(SecretShareApi::new(&state))
        .max_decoding_message_size(limit.max(SECRETSHARE_MAX_DECODING_BYTES))
        .max_encoding_message_size(limit)
        .accept_compressed(CompressionEncoding::Gzip)
        .send_compressed(CompressionEncoding::Gzip);

    // WriteChunk carries up to 4 MiB of data (spec upload.md §2.5).
    let upload = UploadServiceServer::new(UploadApi::new(&state, state.uploads.clone()))
        .max_decoding_message_size(limit.max(UPLOAD_MAX_DECODING_BYTES))
        .max_encoding_message_size(limit.max(UPLOAD_MAX_DECODING_BYTES))
        .accept_compressed(CompressionEncoding::Gzip)
        .send_compressed(CompressionEncoding::Gzip);

    let resolver = state.resolver.clone();
    let evict_locally: Evict = Arc::new(move |payload: &str| resolver.evict(payload));

    // gRPC-web translation wraps each gRPC service only: it answers plain
    // HTTP/1.1 requests with 400, and the HTTP routes must see those.
    let web = GrpcWebLayer::new();
    // The legacy donation paths answer the methods Envoy's transcoder does not take (405).
    let http = crate::http::router(state.clone())
        .merge(crate::donation::legacy::routes().with_state(state.clone()))
        .merge(crate::upload::http::routes().with_state(state.clone()))
        .merge(crate::upload::hooks::http::routes().with_state(state.clone()))
        .route_layer(axum::middleware::map_response(crate::observe::mark_routed));
    let routes = Routes::from(http)
        .add_service(web.layer(authorization))
        .add_service(web.layer(EvictAfterWrites::new(dataset, evict_locally)))
        .add_service(web.layer(donation))
        .add_service(web.layer(secretshare))
        .add_service(web.layer(upload))
        // tusd calls it directly, by peer address (spec upload.md §4.5): no grpc-web.
        .add_service(crate::upload::hooks::grpc::service(state.uploads.clone()))
        .add_service(web.layer(health_service))
        .add_service(web.layer(reflection_v1))
        .add_service(web.layer(reflection_v1alpha))
        .prepare();

    let stack = ServiceBuilder::new()
        .layer(ObserveLayer::new(state.metrics.clone()))
        // tus has its own CORS answers and no unary deadline (spec upload.md §3.12, §5).
        .layer(crate::upload::tus::layers::UnaryTimeoutLayer::new(config.request_timeout))
        .layer(crate::upload::tus::layers::ExceptTus(cors(&config.cors_origins)?))
        .layer(GlobalConcurrencyLimitLayer::new(config.max_concurrent_requests))
        .layer(AuthLayer::new(state.resolver.clone()))
        .layer(RateLimitLayer::new(config.rate_limit, &config.trusted_proxies))
        .map_response(size_limit_is_resource_exhausted)
        .map_response(challenge_unauthenticated)
        .into_inner();

    let incoming = TcpIncoming::from(listener).with_nodelay(Some(true)).with_keepalive(Some(Duration::from_secs(60)));
    tonic::transport::Server::builder()
        .accept_http1(true)
        .http2_keepalive_interval(Some(Duration::from_secs(30)))
        // hyper's 1 MiB windows and 16 KiB frames make a 4 MiB WriteChunk wait
        // for several window updates and cross hundreds of frames; one window
        // holds a whole message. It buffers no more than the message size limit
        // already allows a request.
        .initial_stream_window_size(STREAM_WINDOW)
        .initial_connection_window_size(2 * STREAM_WINDOW)
        .max_frame_size(MAX_FRAME)
        .layer(stack)
        .add_routes(routes)
        .serve_with_incoming_shutdown(incoming, shutdown)
        .await
        .context("serving")
}

/// tonic reports a message over the size limit as OUT_OF_RANGE; gRPC's status
/// code guide names RESOURCE_EXHAUSTED for it, which is what clients expect.
fn size_limit_is_resource_exhausted(
    mut response: http::Response<tonic::body::Body>,
) -> http::Response<tonic::body::Body> {
    let headers = response.headers_mut();
    let too_large = headers.get("grpc-status").is_some_and(|s| s == "11")
        && headers
            .get("grpc-message")
            .and_then(|m| m.to_str().ok())
            .is_some_and(|m| m.contains("message%20length%20too%20large") || m.contains("message length too large"));
    if too_large {
        headers.insert("grpc-status", http::HeaderValue::from_static("8"));
    }
    response
}

/// Every refusal for missing or bad credentials names the scheme to use
/// (RFC 6750 §3): a 401 from a page or compat route, and a gRPC UNAUTHENTICATED
/// sent trailers-only, which Envoy's transcoder turns into a 401 keeping the
/// header. (tonic sends handler errors trailers-only, so every refusal has it.)
fn challenge_unauthenticated(mut response: http::Response<tonic::body::Body>) -> http::Response<tonic::body::Body> {
    let unauthenticated = response.status() == http::StatusCode::UNAUTHORIZED
        || response.headers().get("grpc-status").is_some_and(|s| s == "16");
    if unauthenticated && !response.headers().contains_key(http::header::WWW_AUTHENTICATE) {
        response.headers_mut().insert(http::header::WWW_AUTHENTICATE, http::HeaderValue::from_static("Bearer"));
    }
    response
}

/// Browser pages on the listed origins may call gRPC-web with credentials.
fn cors(origins: &[String]) -> anyhow::Result<CorsLayer> {
    let origins = origins
        .iter()
        .map(|o| o.parse().with_context(|| format!("STEWARD_CORS_ORIGINS: '{o}' is not a valid origin")))
        .collect::<anyhow::Result<Vec<http::HeaderValue>>>()?;
    let header = HeaderName::from_static;
    Ok(CorsLayer::new()
        .allow_origin(AllowOrigin::list(origins))
        .allow_credentials(true)
        .allow_methods([Method::GET, Method::POST, Method::OPTIONS])
        .allow_headers([
            http::header::CONTENT_TYPE,
            http::header::AUTHORIZATION,
            header("x-grpc-web"),
            header("x-user-agent"),
            header("grpc-timeout"),
            header("x-request-id"),
        ])
        .expose_headers([
            header("grpc-status"),
            header("grpc-message"),
            header("grpc-status-details-bin"),
            header("x-request-id"),
            // When a rate-limited browser page may call again.
            http::header::RETRY_AFTER,
        ])
        .max_age(Duration::from_secs(86_400)))
}
