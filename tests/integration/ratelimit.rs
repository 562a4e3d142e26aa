//! Request rate per caller (design §7): a real server with a low limit, called
//! over native gRPC, gRPC-web, plain HTTP, and REST through a real Envoy.

use std::process::Stdio;
use std::time::{Duration, Instant};

use steward::auth::Role;
use steward::proto::authorization::v1::WhoAmIRequest;
use steward::proto::donation::v1::LegacyListDonationsRequest;
use steward::proto::donation::v1::donation_service_client::DonationServiceClient;
use tonic::Code;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_client::HealthClient;

use crate::common::{TestApp, TestDb, scratch_dir, with_bearer};

/// Three requests at once, then one a second.
const LIMIT: &[(&str, &str)] = &[("STEWARD_RATE_LIMIT", "1"), ("STEWARD_RATE_LIMIT_BURST", "3")];
/// The burst, plus a few refills should a loaded machine take seconds for it.
const MAX_SERVED: usize = 8;
const THROTTLED: &str = r#"{"detail":"Request was throttled. Expected available in 1 second."}"#;

async fn start() -> (TestApp, String, String) {
    let db = TestDb::new().await;
    let alice = db.token("alice@example.org", Some(Role::Researcher)).await;
    let bob = db.token("bob@example.org", Some(Role::Researcher)).await;
    let (app, _) = TestApp::start_with(db, LIMIT).await;
    (app, alice, bob)
}

#[tokio::test]
async fn a_grpc_caller_over_the_limit_gets_resource_exhausted_saying_when_to_retry() {
    let (app, alice, bob) = start().await;
    let mut client = app.authorization().await;
    let mut served = 0;
    let refused = loop {
        match client.who_am_i(with_bearer(WhoAmIRequest {}, &alice)).await {
            Ok(_) => served += 1,
            Err(status) => break status,
        }
        assert!(served <= MAX_SERVED, "never refused");
    };
    assert!(served >= 3, "refused within the burst");
    assert_eq!(refused.code(), Code::ResourceExhausted, "{refused:?}");
    assert_eq!(refused.message(), "rate limit exceeded: at most 1 request per second per caller; retry in 1 second");
    assert_eq!(refused.metadata().get("retry-after").unwrap(), "1");

    // Another principal has a bucket of its own.
    client.who_am_i(with_bearer(WhoAmIRequest {}, &bob)).await.expect("bob is not alice");

    // And after the wait it said, alice gets through again.
    tokio::time::sleep(Duration::from_millis(1000)).await;
    client.who_am_i(with_bearer(WhoAmIRequest {}, &alice)).await.expect("one request refilled");
}

#[tokio::test]
async fn a_grpc_web_caller_reads_the_same_refusal() {
    let (app, alice, _) = start().await;
    let http = reqwest::Client::new();
    let url = format!("{}/steward.authorization.v1.AuthorizationService/WhoAmI", app.url());
    let call = || {
        http.post(&url)
            .header("content-type", "application/grpc-web+proto")
            .header("x-grpc-web", "1")
            .header("origin", app.url())
            .header("authorization", format!("Bearer {alice}"))
            .body(vec![0u8; 5])
            .send()
    };
    let mut served = 0;
    let refused = loop {
        let response = call().await.unwrap();
        assert_eq!(response.status(), 200);
        if response.headers().get("grpc-status").is_some_and(|s| s != "0") {
            break response;
        }
        served += 1;
        assert!(served <= MAX_SERVED, "never refused");
    };
    assert!(served >= 3, "refused within the burst");
    assert_eq!(refused.headers()["content-type"], "application/grpc-web+proto");
    assert_eq!(refused.headers()["grpc-status"], "8");
    assert_eq!(refused.headers()["retry-after"], "1");
    // A browser page may read it.
    let exposed = refused.headers()["access-control-expose-headers"].to_str().unwrap().to_ascii_lowercase();
    assert!(exposed.split(',').any(|h| h.trim() == "retry-after"), "{exposed}");
}

#[tokio::test]
async fn health_checks_and_health_pages_are_never_limited() {
    let (app, _, _) = start().await;
    let mut health = HealthClient::new(app.channel().await);
    for _ in 0..20 {
        let reply = health.check(HealthCheckRequest { service: String::new() }).await.expect("health is exempt");
        assert_eq!(reply.into_inner().status, 1);
    }
    let http = reqwest::Client::new();
    for path in ["/healthz", "/metrics"] {
        for _ in 0..10 {
            let response = http.get(format!("{}{path}", app.url())).send().await.unwrap();
            assert_eq!(response.status(), 200, "{path}");
        }
    }
}

#[tokio::test]
async fn a_plain_http_caller_over_the_limit_gets_429_with_drf_body_and_retry_after() {
    let (app, _, _) = start().await;
    let http = reqwest::Client::new();
    // Anonymous: keyed by the client address.
    let mut served = 0;
    let refused = loop {
        let response = http.get(format!("{}/", app.url())).send().await.unwrap();
        if response.status() != 200 {
            break response;
        }
        served += 1;
        assert!(served <= MAX_SERVED, "never refused");
    };
    assert!(served >= 3, "refused within the burst");
    assert_eq!(refused.status(), 429);
    assert_eq!(refused.headers()["retry-after"], "1");
    assert_eq!(refused.headers()["content-type"], "application/json; charset=utf-8");
    assert_eq!(refused.text().await.unwrap(), THROTTLED);
}

#[tokio::test]
async fn a_legacy_rpc_over_the_limit_answers_like_every_legacy_refusal() {
    let (app, alice, _) = start().await;
    let mut client = DonationServiceClient::new(app.channel().await);
    let list = || with_bearer(LegacyListDonationsRequest::default(), &alice);
    let mut served = 0;
    let refused = loop {
        let reply = client.legacy_list_donations(list()).await.expect("legacy RPCs always complete OK");
        if reply.metadata().get("x-steward-http-status").unwrap() != "200" {
            break reply;
        }
        served += 1;
        assert!(served <= MAX_SERVED, "never refused");
    };
    assert!(served >= 3, "refused within the burst");
    assert_eq!(refused.metadata().get("x-steward-http-status").unwrap(), "429");
    assert_eq!(refused.metadata().get("retry-after").unwrap(), "1");
    let body = refused.into_inner().body.unwrap();
    assert_eq!(body.content_type, "application/json; charset=utf-8");
    assert_eq!(String::from_utf8(body.data).unwrap(), THROTTLED);
}

/// Envoy (`envoy/run`) in front of `app`, killed when dropped.
struct Envoy {
    url: String,
    _process: tokio::process::Child,
}

async fn envoy(app: &TestApp) -> Envoy {
    let port = (18700..32000).find(|p| std::net::TcpListener::bind(("127.0.0.1", *p)).is_ok()).expect("a free port");
    let logs = scratch_dir("envoy");
    let mut process = tokio::process::Command::new(concat!(env!("CARGO_MANIFEST_DIR"), "/envoy/run"))
        .env("ENVOY_PORT", port.to_string())
        .env("ENVOY_BASE_ID", port.to_string())
        .env("STEWARD_UPSTREAM", app.addr.to_string())
        .env("STEWARD_BIN", env!("CARGO_BIN_EXE_steward"))
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(logs.join("envoy.log")).unwrap())
        .stderr(std::fs::File::create(logs.join("envoy.err")).unwrap())
        .kill_on_drop(true)
        .spawn()
        .expect("starting envoy/run");
    let url = format!("http://127.0.0.1:{port}");
    // The first run installs Envoy into the project venv.
    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        if reqwest::get(format!("{url}/healthz")).await.is_ok_and(|r| r.status() == 200) {
            return Envoy { url, _process: process };
        }
        assert!(process.try_wait().unwrap().is_none(), "envoy/run exited; see {}", logs.display());
        assert!(Instant::now() < deadline, "Envoy did not come up; see {}", logs.display());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn rest_callers_through_envoy_get_429_the_legacy_routes_with_drf_body_and_retry_after() {
    let (app, alice, bob) = start().await;
    let envoy = envoy(&app).await;
    let http = reqwest::Client::new();

    // portability-server's route: DRF's throttled answer, as upstream's scripts saw it.
    let list = || http.get(format!("{}/api/donations/", envoy.url)).header("authorization", format!("Token {alice}"));
    let mut served = 0;
    let refused = loop {
        let response = list().send().await.unwrap();
        if response.status() != 200 {
            break response;
        }
        assert_eq!(response.text().await.unwrap(), "[]");
        served += 1;
        assert!(served <= MAX_SERVED, "never refused");
    };
    assert!(served >= 3, "refused within the burst");
    assert_eq!(refused.status(), 429);
    assert_eq!(refused.headers()["retry-after"], "1");
    assert!(refused.headers().get("x-steward-http-status").is_none());
    assert_eq!(refused.text().await.unwrap(), THROTTLED);

    // A transcoded native route: Envoy's mapping of RESOURCE_EXHAUSTED.
    let whoami = || http.get(format!("{}/v1/principal", envoy.url)).header("authorization", format!("Bearer {bob}"));
    let mut served = 0;
    let refused = loop {
        let response = whoami().send().await.unwrap();
        if response.status() != 200 {
            break response;
        }
        served += 1;
        assert!(served <= MAX_SERVED, "never refused");
    };
    assert!(served >= 3, "refused within the burst");
    assert_eq!(refused.status(), 429);
    let body: serde_json::Value = serde_json::from_str(&refused.text().await.unwrap()).unwrap();
    assert_eq!(body["code"], 8);
    assert_eq!(body["message"], "rate limit exceeded: at most 1 request per second per caller; retry in 1 second");
}
