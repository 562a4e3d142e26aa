//! `/api/docs/`: the OpenAPI document and its page, served by the real server
//! without credentials; and portability-server's other plain routes (spec
//! donation.md §2.8): `/api/` and `/health/`, beside DSG's `/health`.

use bytes::Bytes;
use http_body_util::{BodyExt as _, Empty};
use serde_json::{Value, json};
use tower::ServiceExt as _;

use crate::common::{TestApp, TestDb, scratch_dir, test_config};

const WHOAMI: &str = "steward.authorization.v1.WhoAmIResponse";

/// `GET path` over HTTP/1.1 without credentials; returns status, headers and body.
async fn get(app: &TestApp, path: &str) -> (http::StatusCode, http::HeaderMap, Bytes) {
    get_accepting(app, path, "*/*").await
}

/// `GET path` with `Accept: accept`.
async fn get_accepting(app: &TestApp, path: &str, accept: &str) -> (http::StatusCode, http::HeaderMap, Bytes) {
    let stream = tokio::net::TcpStream::connect(app.addr).await.unwrap();
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream)).await.unwrap();
    tokio::spawn(connection);
    let request = http::Request::get(path)
        .header("host", app.addr.to_string())
        .header("accept", accept)
        .body(Empty::<Bytes>::new())
        .unwrap();
    let (parts, body) = sender.send_request(request).await.unwrap().into_parts();
    (parts.status, parts.headers, body.collect().await.unwrap().to_bytes())
}

fn content_type(headers: &http::HeaderMap) -> &str {
    headers.get(http::header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openapi_json_documents_whoami_with_its_fields() {
    let app = TestApp::start().await;
    let (status, headers, body) = get(&app, "/api/docs/openapi.json").await;
    assert_eq!(status, 200);
    assert_eq!(content_type(&headers), "application/json");
    let doc: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(doc["openapi"], "3.1.0");

    let op = &doc["paths"]["/v1/principal"]["get"];
    assert_eq!(op["x-grpc-method"], "/steward.authorization.v1.AuthorizationService/WhoAmI");
    assert_eq!(
        op["responses"]["200"]["content"]["application/json"]["schema"]["$ref"],
        format!("#/components/schemas/{WHOAMI}")
    );
    assert!(op["description"].as_str().unwrap().contains("UNAUTHENTICATED"));
    let fields = &doc["components"]["schemas"][WHOAMI]["properties"];
    assert_eq!(fields["id"]["type"], "string", "int64 as proto3 JSON prints it");
    assert_eq!(fields["roles"]["type"], "array");
    assert!(fields["email"]["description"].as_str().unwrap().contains("e-mail"));
    assert!(doc["components"]["schemas"]["google.rpc.Status"]["properties"]["code"].is_object());
    // Relative, because Envoy (not this port) serves the REST routes.
    assert_eq!(doc["servers"][0]["url"], "/");
    let servers = doc["servers"][0]["description"].as_str().unwrap();
    assert!(servers.contains("Envoy") && servers.contains("http://127.0.0.1:8080"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_docs_page_renders_the_same_document() {
    let app = TestApp::start().await;
    // What a browser sends.
    let browser = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8";
    let (status, headers, body) = get_accepting(&app, "/api/docs/", browser).await;
    assert_eq!(status, 200);
    assert!(content_type(&headers).starts_with("text/html"));
    assert_eq!(headers[http::header::VARY], "accept");
    let page = String::from_utf8(body.to_vec()).unwrap();
    assert!(page.contains(r#"<a href="/api/docs/openapi.json">"#));
    assert!(page.contains("<code>/api/v1/whoami</code>"));
    assert!(page.contains("The principal's numeric id"));
    assert!(page.contains(r##"href="#schema-steward.authorization.v1.WhoAmIResponse""##));
    assert!(!page.contains("<script"));

    let (status, headers, _) = get(&app, "/api/docs").await;
    assert!(status.is_redirection(), "{status}");
    assert_eq!(headers[http::header::LOCATION], "/api/docs/");
}

/// Scripts reading `/api/docs/` (portability-server served JSON there) get the document.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_docs_route_gives_scripts_the_json_document() {
    let app = TestApp::start().await;
    let (_, _, document) = get(&app, "/api/docs/openapi.json").await;
    for accept in ["*/*", "application/json"] {
        let (status, headers, body) = get_accepting(&app, "/api/docs/", accept).await;
        assert_eq!(status, 200);
        assert_eq!(content_type(&headers), "application/json", "{accept}");
        assert_eq!(body, document, "{accept}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn legacy_routes_are_documented_with_their_slash_and_compat_answers() {
    let app = TestApp::start().await;
    let (_, _, body) = get(&app, "/api/docs/openapi.json").await;
    let doc: Value = serde_json::from_slice(&body).unwrap();
    let delete = &doc["paths"]["/api/donations/{id}/"]["delete"];
    assert_eq!(delete["x-grpc-method"], "/steward.donation.v1.DonationService/LegacyDeleteDonation");
    assert_eq!(delete["responses"]["204"]["content"], Value::Null, "204 has no body: {delete}");
    assert_eq!(delete["security"][0], json!({"researcher_token": []}));
    let created = &doc["paths"]["/api/donations/"]["post"]["responses"]["201"]["content"]["application/json"];
    assert_eq!(created["schema"]["$ref"], "#/components/schemas/compat.CreatedDonation");
    let token = &doc["components"]["securitySchemes"]["researcher_token"];
    assert_eq!(
        (token["type"].as_str(), token["in"].as_str(), token["name"].as_str()),
        (Some("apiKey"), Some("header"), Some("Authorization"))
    );
    assert!(token["description"].as_str().unwrap().starts_with("`Authorization: Token <researcher_token>`"));
    assert!(doc["paths"].get("/api/donations/{id}").is_none(), "printed only with the slash");

    let (_, _, page) = get_accepting(&app, "/api/docs/", "text/html").await;
    let page = String::from_utf8(page.to_vec()).unwrap();
    assert!(page.contains("<code>/api/donations/{id}/data/</code>"));
    assert!(page.contains("Credentials: <b>researcher_token</b>, <b>bearer</b>, <b>cookie</b>"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_root_names_the_donations_route() {
    let app = TestApp::start().await;
    let (status, headers, body) = get(&app, "/api/").await;
    assert_eq!(status, 200);
    assert_eq!(content_type(&headers), "application/json");
    // STEWARD_PUBLIC_URL's default in the test configuration.
    assert_eq!(&body[..], br#"{"donations":"http://127.0.0.1:8080/api/donations/"}"#);
}

/// `/health/` (portability-server's) and `/health` (DSG's) both answer, and
/// both follow `/healthz`: 503 while the database is not serving.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_health_routes_follow_healthz() {
    let app = TestApp::start().await;
    for path in ["/health/", "/health"] {
        let (status, headers, body) = get(&app, path).await;
        assert_eq!((status.as_u16(), &body[..]), (200, &br#"{"status":"ok"}"#[..]), "{path}");
        assert_eq!(content_type(&headers), "application/json");
    }

    // The same routes over a state whose health never became SERVING.
    let db = TestDb::new().await;
    let data_dir = scratch_dir("health");
    let config = test_config(&[("DATABASE_URL", db.url()), ("STEWARD_DATA_DIR", data_dir.to_str().unwrap())]);
    let (health, _) = steward::server::health().await;
    let state = steward::app::AppState::new(config, db.pool(), steward::crypto::Keyring::generate(), health).unwrap();
    for path in ["/health/", "/health", "/healthz"] {
        let request = http::Request::get(path).body(axum::body::Body::empty()).unwrap();
        let response = steward::http::router(state.clone()).oneshot(request).await.unwrap();
        assert_eq!(response.status(), 503, "{path}");
        let body: Value = serde_json::from_slice(&response.into_body().collect().await.unwrap().to_bytes()).unwrap();
        assert_eq!(body["status"], "unavailable", "{path}");
    }
}
