//! The sandbox STS (on unless `STEWARD_ENV=production`, like the donation
//! sandboxes): Google's token-exchange endpoint and the metadata server's
//! token route, enough of each for `/gcs_token` to run offline, in tests and
//! in the embedded default. Routes under `/sandbox/gcp/`:
//!
//! - `GET computeMetadata/v1/instance/service-accounts/default/token`
//!   (`Metadata-Flavor: Google` required): issues Steward's source token.
//! - `POST sts/v1/token`: checks the exchange as STS would (grant and token
//!   types, a Credential Access Boundary on one bucket, a subject token this
//!   sandbox issued) and answers with a downscoped token naming the bucket.
//! - `GET _calls`: every call received, body byte for byte (the tokens here
//!   are the sandbox's own, so nothing is redacted), for tests to assert.
//! - `POST _fail?metadata=<status>&sts=<status>`: answer those routes with
//!   that status until `POST _reset` (which also forgets the calls).
//!
//! State lives in this process (one sandbox per server), unlike the donation
//! sandboxes' tables: nothing here must survive a restart.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use ring::rand::SecureRandom as _;
use serde::{Deserialize, Serialize};

/// The sandbox's memory.
#[derive(Debug, Default)]
pub struct Sandbox {
    state: Mutex<SandboxState>,
}

#[derive(Debug, Default)]
struct SandboxState {
    calls: Vec<Call>,
    issued_source_tokens: HashSet<String>,
    fail_metadata: Option<u16>,
    fail_sts: Option<u16>,
}

/// One call received, as `GET /sandbox/gcp/_calls` lists it.
#[derive(Debug, Clone, Serialize)]
pub struct Call {
    /// `metadata` or `sts`.
    pub route: &'static str,
    /// The request's `Content-Type`, if any.
    pub content_type: Option<String>,
    /// The request body, byte for byte (UTF-8, lossy).
    pub body: String,
    /// The status answered.
    pub status: u16,
    /// The token issued, if any.
    pub issued: Option<String>,
}

/// Keeps the answer list bounded on a long-running development server.
const MAX_CALLS: usize = 10_000;
const TOKEN_TYPE: &str = "urn:ietf:params:oauth:token-type:access_token";
const BUCKET_PREFIX: &str = "//storage.googleapis.com/projects/_/buckets/";

/// The `/sandbox/gcp` routes over a fresh sandbox.
pub fn routes<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new()
        .route("/sandbox/gcp/computeMetadata/v1/instance/service-accounts/default/token", get(metadata_token))
        .route("/sandbox/gcp/sts/v1/token", post(sts_token))
        .route("/sandbox/gcp/_calls", get(calls))
        .route("/sandbox/gcp/_fail", post(fail))
        .route("/sandbox/gcp/_reset", post(reset))
        .with_state(Arc::new(Sandbox::default()))
}

impl Sandbox {
    fn record(&self, call: Call) {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if state.calls.len() >= MAX_CALLS {
            state.calls.clear();
        }
        state.calls.push(call);
    }
}

fn random_hex() -> String {
    let mut bytes = [0u8; 16];
    ring::rand::SystemRandom::new().fill(&mut bytes).expect("system random source");
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn json(status: StatusCode, body: serde_json::Value) -> Response {
    (status, axum::Json(body)).into_response()
}

fn content_type(headers: &HeaderMap) -> Option<String> {
    headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).map(str::to_owned)
}

async fn metadata_token(State(sandbox): State<Arc<Sandbox>>, headers: HeaderMap) -> Response {
    let staged = sandbox.state.lock().unwrap_or_else(|e| e.into_inner()).fail_metadata;
    let flavored = headers.get("metadata-flavor").is_some_and(|v| v == "Google");
    let (status, issued, response) = if let Some(code) = staged {
        let status = StatusCode::from_u16(code).unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
        (status, None, (status, "staged failure").into_response())
    } else if !flavored {
        // The real metadata server refuses requests without the header (SSRF guard).
        let status = StatusCode::FORBIDDEN;
        (status, None, (status, "Missing Metadata-Flavor:Google header.").into_response())
    } else {
        let token = format!("sandbox-source.{}", random_hex());
        sandbox.state.lock().unwrap_or_else(|e| e.into_inner()).issued_source_tokens.insert(token.clone());
        let body = serde_json::json!({"access_token": token, "expires_in": 3599, "token_type": "Bearer"});
        (StatusCode::OK, Some(token), json(StatusCode::OK, body))
    };
    sandbox.record(Call {
        route: "metadata",
        content_type: content_type(&headers),
        body: String::new(),
        status: status.as_u16(),
        issued,
    });
    response
}

/// STS's error body.
fn sts_error(error: &str, description: &str) -> (StatusCode, serde_json::Value) {
    (StatusCode::BAD_REQUEST, serde_json::json!({"error": error, "error_description": description}))
}

/// Validates an exchange as STS does; the bucket on success.
fn check_exchange(
    sandbox: &Sandbox,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<String, (StatusCode, serde_json::Value)> {
    if content_type(headers).as_deref() != Some("application/x-www-form-urlencoded") {
        return Err(sts_error("invalid_request", "Content-Type must be application/x-www-form-urlencoded"));
    }
    let pairs = crate::http::form_pairs(&String::from_utf8_lossy(body));
    let field = |name: &str| pairs.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str());
    if field("grant_type") != Some("urn:ietf:params:oauth:grant-type:token-exchange") {
        return Err(sts_error("unsupported_grant_type", "grant_type must be token-exchange"));
    }
    if field("subject_token_type") != Some(TOKEN_TYPE) || field("requested_token_type") != Some(TOKEN_TYPE) {
        return Err(sts_error("invalid_request", "subject_token_type and requested_token_type must be access_token"));
    }
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Options {
        access_boundary: Boundary,
    }
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Boundary {
        access_boundary_rules: Vec<Rule>,
    }
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Rule {
        available_resource: String,
        available_permissions: Vec<String>,
    }
    let options: Options = field("options")
        .and_then(|o| serde_json::from_str(o).ok())
        .ok_or_else(|| sts_error("invalid_request", "options must hold an accessBoundary"))?;
    let [rule] = options.access_boundary.access_boundary_rules.as_slice() else {
        return Err(sts_error("invalid_request", "the sandbox expects exactly one access boundary rule"));
    };
    let bucket = rule.available_resource.strip_prefix(BUCKET_PREFIX).filter(|b| !b.is_empty() && !b.contains('/'));
    let Some(bucket) = bucket else {
        return Err(sts_error("invalid_request", "availableResource must name one bucket"));
    };
    if rule.available_permissions.is_empty() || rule.available_permissions.iter().any(|p| !p.starts_with("inRole:")) {
        return Err(sts_error("invalid_request", "availablePermissions must be inRole: roles"));
    }
    let subject = field("subject_token").unwrap_or_default();
    if !sandbox.state.lock().unwrap_or_else(|e| e.into_inner()).issued_source_tokens.contains(subject) {
        return Err(sts_error("invalid_grant", "The subject token is invalid or expired."));
    }
    Ok(bucket.to_owned())
}

async fn sts_token(State(sandbox): State<Arc<Sandbox>>, headers: HeaderMap, body: Bytes) -> Response {
    let staged = sandbox.state.lock().unwrap_or_else(|e| e.into_inner()).fail_sts;
    let (status, issued, reply) = match staged {
        Some(code) => {
            let status = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            (status, None, serde_json::json!({"error": "staged_failure"}))
        }
        None => match check_exchange(&sandbox, &headers, &body) {
            Ok(bucket) => {
                let token = format!("sandbox-gcs.{bucket}.{}", random_hex());
                let reply = serde_json::json!({
                    "access_token": token, "issued_token_type": TOKEN_TYPE, "token_type": "Bearer", "expires_in": 3599,
                });
                (StatusCode::OK, Some(token), reply)
            }
            Err((status, reply)) => (status, None, reply),
        },
    };
    let body = String::from_utf8_lossy(&body).into_owned();
    sandbox.record(Call { route: "sts", content_type: content_type(&headers), body, status: status.as_u16(), issued });
    json(status, reply)
}

async fn calls(State(sandbox): State<Arc<Sandbox>>) -> Response {
    let calls = sandbox.state.lock().unwrap_or_else(|e| e.into_inner()).calls.clone();
    json(StatusCode::OK, serde_json::json!({"calls": calls}))
}

#[derive(Deserialize)]
struct Failures {
    metadata: Option<u16>,
    sts: Option<u16>,
}

async fn fail(State(sandbox): State<Arc<Sandbox>>, Query(failures): Query<Failures>) -> Response {
    let mut state = sandbox.state.lock().unwrap_or_else(|e| e.into_inner());
    state.fail_metadata = failures.metadata;
    state.fail_sts = failures.sts;
    StatusCode::NO_CONTENT.into_response()
}

async fn reset(State(sandbox): State<Arc<Sandbox>>) -> Response {
    let mut state = sandbox.state.lock().unwrap_or_else(|e| e.into_inner());
    state.calls.clear();
    state.fail_metadata = None;
    state.fail_sts = None;
    StatusCode::NO_CONTENT.into_response()
}
