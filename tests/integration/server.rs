//! The listener: health, reflection, gRPC-web over HTTP/1.1, CORS, plain HTTP
//! routes, limits.

use bytes::{Buf as _, BufMut as _, Bytes, BytesMut};
use http_body_util::{BodyExt as _, Full};
use prost::Message as _;
use steward::auth::Role;
use steward::proto::authorization::v1::WhoAmIResponse;
use tokio_stream::StreamExt as _;
use tonic::Code;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_client::HealthClient;
use tonic_reflection::pb::v1::ServerReflectionRequest;
use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;

use crate::common::{TestApp, with_bearer};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_reports_serving_for_the_server_and_each_service() {
    let app = TestApp::start().await;
    let mut health = HealthClient::new(app.channel().await);
    for service in ["", "steward.authorization.v1.AuthorizationService"] {
        let reply = health.check(HealthCheckRequest { service: service.into() }).await.unwrap().into_inner();
        assert_eq!(reply.status, 1, "{service:?} should be SERVING");
    }
    let unknown = health.check(HealthCheckRequest { service: "no.such.Service".into() }).await.unwrap_err();
    assert_eq!(unknown.code(), Code::NotFound);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reflection_lists_every_service() {
    let app = TestApp::start().await;
    let mut reflection = ServerReflectionClient::new(app.channel().await);
    let request = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let mut replies = reflection.server_reflection_info(tokio_stream::iter([request])).await.unwrap().into_inner();
    let reply = replies.next().await.unwrap().unwrap();
    let Some(MessageResponse::ListServicesResponse(list)) = reply.message_response else {
        panic!("expected a service list, got {reply:?}");
    };
    let names: Vec<String> = list.service.into_iter().map(|s| s.name).collect();
    for expected in [
        "steward.authorization.v1.AuthorizationService",
        "grpc.health.v1.Health",
        "grpc.reflection.v1.ServerReflection",
    ] {
        assert!(names.iter().any(|n| n == expected), "{expected} missing from {names:?}");
    }
}

/// One HTTP/1.1 request on a fresh connection; returns status, headers and body.
async fn http1(app: &TestApp, request: http::Request<Full<Bytes>>) -> (http::StatusCode, http::HeaderMap, Bytes) {
    let stream = tokio::net::TcpStream::connect(app.addr).await.unwrap();
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream)).await.unwrap();
    tokio::spawn(connection);
    let response = sender.send_request(request).await.unwrap();
    let (parts, body) = response.into_parts();
    (parts.status, parts.headers, body.collect().await.unwrap().to_bytes())
}

fn grpc_web_request(app: &TestApp, path: &str, message: &[u8], token: Option<&str>) -> http::Request<Full<Bytes>> {
    let mut frame = BytesMut::new();
    frame.put_u8(0);
    frame.put_u32(u32::try_from(message.len()).unwrap());
    frame.put_slice(message);
    let mut builder = http::Request::post(format!("{}{path}", app.url()))
        .header("host", app.addr.to_string())
        .header("content-type", "application/grpc-web+proto")
        .header("x-grpc-web", "1");
    if let Some(token) = token {
        builder = builder.header("authorization", format!("Bearer {token}"));
    }
    builder.body(Full::new(frame.freeze())).unwrap()
}

/// Splits a gRPC-web body into its message frames and its trailer text.
fn grpc_web_frames(mut body: Bytes) -> (Vec<Bytes>, String) {
    let (mut messages, mut trailers) = (Vec::new(), String::new());
    while body.has_remaining() {
        let flag = body.get_u8();
        let len = body.get_u32() as usize;
        let payload = body.split_to(len);
        if flag & 0x80 != 0 {
            trailers.push_str(&String::from_utf8_lossy(&payload));
        } else {
            messages.push(payload);
        }
    }
    (messages, trailers)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_web_over_http1_answers_who_am_i() {
    let app = TestApp::start().await;
    let token = app.db.token("web@example.org", Some(Role::Researcher)).await;
    let path = "/steward.authorization.v1.AuthorizationService/WhoAmI";

    let (status, headers, body) = http1(&app, grpc_web_request(&app, path, &[], Some(&token))).await;
    assert_eq!(status, 200);
    assert!(headers["content-type"].to_str().unwrap().starts_with("application/grpc-web"));
    let (messages, trailers) = grpc_web_frames(body);
    assert!(trailers.contains("grpc-status:0"), "trailers: {trailers}");
    let reply = WhoAmIResponse::decode(messages[0].clone()).unwrap();
    assert_eq!(reply.email, "web@example.org");
    assert_eq!(reply.roles, vec!["researcher"]);

    // Without a token: UNAUTHENTICATED (16), as trailers-only headers or a trailer frame.
    let (status, headers, body) = http1(&app, grpc_web_request(&app, path, &[], None)).await;
    assert_eq!(status, 200);
    let (_, trailers) = grpc_web_frames(body);
    let in_headers = headers.get("grpc-status").is_some_and(|v| v == "16");
    assert!(in_headers || trailers.contains("grpc-status:16"), "headers {headers:?} trailers {trailers}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cors_allows_the_public_origin_with_credentials_and_no_other() {
    let app = TestApp::start().await;
    let preflight = |origin: &str| {
        http::Request::builder()
            .method("OPTIONS")
            .uri(format!("{}/steward.authorization.v1.AuthorizationService/WhoAmI", app.url()))
            .header("host", app.addr.to_string())
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header("access-control-request-headers", "content-type,x-grpc-web,authorization")
            .body(Full::new(Bytes::new()))
            .unwrap()
    };
    // The default allowed origin is that of STEWARD_PUBLIC_URL.
    let (_, headers, _) = http1(&app, preflight("http://127.0.0.1:8080")).await;
    assert_eq!(headers["access-control-allow-origin"], "http://127.0.0.1:8080");
    assert_eq!(headers["access-control-allow-credentials"], "true");
    let (_, headers, _) = http1(&app, preflight("https://evil.example")).await;
    assert!(headers.get("access-control-allow-origin").is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plain_http_routes() {
    let app = TestApp::start().await;
    let get = |path: &str| {
        http::Request::get(format!("{}{path}", app.url()))
            .header("host", app.addr.to_string())
            .body(Full::new(Bytes::new()))
            .unwrap()
    };
    let (status, _, body) = http1(&app, get("/healthz")).await;
    assert_eq!(status, 200);
    assert_eq!(serde_json::from_slice::<serde_json::Value>(&body).unwrap()["status"], "ok");

    // A gRPC call first, so the metrics have something to count.
    let mut client = app.authorization().await;
    let _ = client.who_am_i(steward::proto::authorization::v1::WhoAmIRequest {}).await;
    let (status, headers, body) = http1(&app, get("/metrics")).await;
    assert_eq!(status, 200);
    assert!(headers["content-type"].to_str().unwrap().starts_with("text/plain"));
    let text = String::from_utf8(body.to_vec()).unwrap();
    assert!(
        text.contains(
            r#"steward_requests_total{route="/steward.authorization.v1.AuthorizationService/WhoAmI",code="16"} 1"#
        ),
        "{text}"
    );
    assert!(text.contains("steward_request_duration_seconds_bucket"));

    let (status, headers, _) = http1(&app, get("/static/favicon.svg")).await;
    assert_eq!(status, 200);
    assert_eq!(headers["content-type"], "image/svg+xml");
    assert!(headers.contains_key("x-request-id"));

    let (status, _, body) = http1(&app, get("/no/such/page")).await;
    assert_eq!(status, 404);
    assert_eq!(serde_json::from_slice::<serde_json::Value>(&body).unwrap()["error"], "not found");
}

/// The `/status` page and the assets it names are served from the binary: the
/// bundle is the committed `clients/web/dist/status.js`, and every element the
/// page script looks up by id is in the HTML.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_page_and_its_bundle_are_served() {
    let app = TestApp::start().await;
    let get = |path: &str| {
        http::Request::get(format!("{}{path}", app.url()))
            .header("host", app.addr.to_string())
            .body(Full::new(Bytes::new()))
            .unwrap()
    };
    let (status, headers, body) = http1(&app, get("/status")).await;
    assert_eq!(status, 200);
    assert_eq!(headers["content-type"], "text/html; charset=utf-8");
    let csp = headers["content-security-policy"].to_str().unwrap();
    assert!(csp.contains("script-src 'self'") && csp.contains("connect-src 'self'"));
    let html = String::from_utf8(body.to_vec()).unwrap();
    assert!(html.contains("<title>API status · Steward</title>"));

    // The URL after `attr="` that starts with `prefix`.
    let url_in = |attr: &str, prefix: &str| {
        let start = html.find(&format!(r#"{attr}="{prefix}"#)).unwrap() + attr.len() + 2;
        html[start..start + html[start..].find('"').unwrap()].to_owned()
    };
    let manifest = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let (status, headers, bundle) = http1(&app, get(&url_in("src", "/static/status.js?v="))).await;
    assert_eq!(status, 200);
    assert_eq!(headers["content-type"], "text/javascript; charset=utf-8");
    let committed = std::fs::read(manifest.join("clients/web/dist/status.js")).unwrap();
    assert!(bundle == committed, "the served bundle is not clients/web/dist/status.js");
    let (status, headers, _) = http1(&app, get(&url_in("href", "/static/steward.css?v="))).await;
    assert_eq!(status, 200);
    assert_eq!(headers["content-type"], "text/css; charset=utf-8");

    let script = std::fs::read_to_string(manifest.join("clients/web/src/status.ts")).unwrap();
    let ids: Vec<&str> = script
        .split("byId<")
        .skip(1)
        .filter_map(|s| s.split_once(">(\"")?.1.split_once('"').map(|(id, _)| id))
        .collect();
    assert!(ids.len() >= 5, "found only {ids:?} in status.ts");
    for id in ids {
        assert!(html.contains(&format!(r#"id="{id}""#)), "#{id} missing from /status");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_methods_and_oversized_messages_get_clear_statuses() {
    let app = TestApp::start().await;
    let mut grpc = tonic::client::Grpc::new(app.channel().await);
    grpc.ready().await.unwrap();

    /// A message WhoAmIRequest does not know, with room for a large payload.
    #[derive(Clone, PartialEq, prost::Message)]
    struct Padding {
        #[prost(bytes = "vec", tag = "15")]
        data: Vec<u8>,
    }
    let codec = tonic_prost::ProstCodec::<Padding, WhoAmIResponse>::default();
    let path = http::uri::PathAndQuery::from_static("/steward.authorization.v1.AuthorizationService/WhoAmI");
    let huge = Padding { data: vec![7; 5 << 20] };
    let err = grpc.unary(tonic::Request::new(huge), path, codec).await.unwrap_err();
    assert_eq!(err.code(), Code::ResourceExhausted, "{err:?}");

    // Bytes that are not a protobuf message: a field claiming 5 bytes, with 1 there.
    grpc.ready().await.unwrap();
    let path = http::uri::PathAndQuery::from_static("/steward.authorization.v1.AuthorizationService/WhoAmI");
    let err = grpc.unary(tonic::Request::new(vec![0x0a, 0x05, 0x01]), path, RawCodec).await.unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument, "{err:?}");
    assert!(err.message().contains("malformed"), "{err:?}");

    grpc.ready().await.unwrap();
    let codec = tonic_prost::ProstCodec::<Padding, WhoAmIResponse>::default();
    let path = http::uri::PathAndQuery::from_static("/steward.authorization.v1.AuthorizationService/NoSuchMethod");
    let err = grpc.unary(tonic::Request::new(Padding::default()), path, codec).await.unwrap_err();
    assert_eq!(err.code(), Code::Unimplemented);

    grpc.ready().await.unwrap();
    let codec = tonic_prost::ProstCodec::<Padding, WhoAmIResponse>::default();
    let path = http::uri::PathAndQuery::from_static("/no.such.Service/Method");
    let err = grpc.unary(tonic::Request::new(Padding::default()), path, codec).await.unwrap_err();
    assert_eq!(err.code(), Code::Unimplemented);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_keeps_data() {
    let app = TestApp::start().await;
    let token = app.db.token("keep@example.org", None).await;
    let db = app.stop().await;
    let app = TestApp::start_on(db).await;
    let mut client = app.authorization().await;
    let reply = client
        .who_am_i(with_bearer(steward::proto::authorization::v1::WhoAmIRequest {}, &token))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(reply.email, "keep@example.org");
}

/// Sends raw bytes as the request message; decodes the reply with prost.
struct RawCodec;

impl tonic::codec::Codec for RawCodec {
    type Encode = Vec<u8>;
    type Decode = WhoAmIResponse;
    type Encoder = RawEncoder;
    type Decoder = tonic_prost::ProstDecoder<WhoAmIResponse>;

    fn encoder(&mut self) -> RawEncoder {
        RawEncoder
    }

    fn decoder(&mut self) -> Self::Decoder {
        tonic_prost::ProstDecoder::new(tonic::codec::BufferSettings::default())
    }
}

struct RawEncoder;

impl tonic::codec::Encoder for RawEncoder {
    type Item = Vec<u8>;
    type Error = tonic::Status;

    fn encode(&mut self, item: Vec<u8>, dst: &mut tonic::codec::EncodeBuf<'_>) -> Result<(), tonic::Status> {
        dst.put_slice(&item);
        Ok(())
    }
}
