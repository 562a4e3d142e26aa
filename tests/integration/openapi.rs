//! `/api/docs/`: the OpenAPI document and its page, served by the real server
//! without credentials.

use bytes::Bytes;
use http_body_util::{BodyExt as _, Empty};
use serde_json::Value;

use crate::common::TestApp;

const WHOAMI: &str = "steward.authorization.v1.WhoAmIResponse";

/// `GET path` over HTTP/1.1 without credentials; returns status, headers and body.
async fn get(app: &TestApp, path: &str) -> (http::StatusCode, http::HeaderMap, Bytes) {
    let stream = tokio::net::TcpStream::connect(app.addr).await.unwrap();
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream)).await.unwrap();
    tokio::spawn(connection);
    let request = http::Request::get(path).header("host", app.addr.to_string()).body(Empty::<Bytes>::new()).unwrap();
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
    assert!(doc["openapi"].as_str().unwrap().starts_with("3.0"));

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
    let (status, headers, body) = get(&app, "/api/docs/").await;
    assert_eq!(status, 200);
    assert!(content_type(&headers).starts_with("text/html"));
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
