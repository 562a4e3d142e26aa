//! The sandbox's HTTP routes (spec §6.1, §6.2, §6.7), mounted only while a
//! provider runs in sandbox mode: `/sandbox/` (the page describing personas
//! and failure modes), `GET /sandbox/_calls` (every call received, secrets
//! redacted), `POST /sandbox/_reset`, and each sandboxed provider's routes
//! ([`super::google`], [`super::tiktok`]). Shared by those: the call-log middleware and its
//! redaction, the error type, and small helpers.

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::Utc;
use ring::rand::SecureRandom as _;
use serde::{Deserialize, Serialize};

use super::scenario::{Failure, Scenario};
use super::{pages, store};
use crate::app::AppState;
use crate::donation::config::{DonationConfig, ProviderMode};
pub(crate) use crate::http::form_pairs;

/// Request bodies the sandbox accepts (forms and small JSON).
const MAX_BODY: usize = 64 << 10;
/// Most calls one `_calls` answer lists.
const MAX_CALLS: i64 = 10_000;
/// Field names whose values never reach the call log.
const SECRET_FIELDS: &[&str] = &[
    "access_token",
    "refresh_token",
    "id_token",
    "token",
    "code",
    "code_verifier",
    "client_secret",
    "state",
    "x-goog-signature",
];
pub(crate) const REDACTED: &str = "<redacted>";

/// The `/sandbox` routes for `state`'s configuration; empty unless a
/// provider runs in sandbox mode (refused at startup in production).
pub fn routes(state: &AppState) -> Router<AppState> {
    let config: &DonationConfig = &state.config.donation;
    if !config.sandbox_active() {
        return Router::new();
    }
    let mut router = Router::new()
        .route("/sandbox", get(|| async { Redirect::permanent("/sandbox/") }))
        .route("/sandbox/", get(index))
        .route("/sandbox/_calls", get(calls))
        .route("/sandbox/_reset", post(reset));
    if config.google.mode == ProviderMode::Sandbox {
        router = router.merge(
            super::google::routes().layer(middleware::from_fn_with_state((state.clone(), "google"), record_call)),
        );
    }
    if config.tiktok.mode == ProviderMode::Sandbox {
        router = router.merge(
            super::tiktok::routes().layer(middleware::from_fn_with_state((state.clone(), "tiktok"), record_call)),
        );
    }
    router
}

async fn index(State(state): State<AppState>) -> Response {
    let config = &state.config.donation;
    let scenario = match default_scenario(config) {
        Ok(s) => s,
        Err(e) => return SandboxError::Internal(e.to_string()).into_response(),
    };
    let html = pages::index(
        &scenario,
        config.google.mode == ProviderMode::Sandbox,
        config.tiktok.mode == ProviderMode::Sandbox,
    );
    page(StatusCode::OK, html)
}

/// `STEWARD_SANDBOX_DEFAULT_SCENARIO` over the built-in defaults.
pub(crate) fn default_scenario(config: &DonationConfig) -> Result<Scenario, super::ScenarioError> {
    match &config.sandbox.default_scenario {
        Some(query) => Scenario::parse_query(query),
        None => Ok(Scenario::default()),
    }
}

#[derive(Deserialize)]
struct Since {
    since: Option<i64>,
}

/// One `_calls` entry.
#[derive(Serialize)]
struct CallEntry {
    seq: i64,
    at: String,
    provider: String,
    method: String,
    path: String,
    query: Option<serde_json::Value>,
    body: Option<serde_json::Value>,
    /// The `Authorization` scheme with the credential redacted, or null.
    authorization: Option<String>,
    status: i32,
}

/// `GET /sandbox/_calls?since=<seq>`: the calls after `since`, oldest first.
async fn calls(State(state): State<AppState>, Query(since): Query<Since>) -> Result<Response, SandboxError> {
    let mut conn = state.pool.get().await?;
    let calls = store::calls_since(&mut conn, since.since.unwrap_or(0), MAX_CALLS).await?;
    let entries: Vec<CallEntry> = calls
        .into_iter()
        .map(|c| CallEntry {
            seq: c.seq,
            at: c.at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            provider: c.provider,
            method: c.method,
            path: c.path,
            query: c.query,
            body: c.body,
            authorization: c.auth_header,
            status: c.status,
        })
        .collect();
    Ok((no_store(), axum::Json(entries)).into_response())
}

/// `POST /sandbox/_reset`: forgets every grant, token, job and call.
async fn reset(State(state): State<AppState>) -> Result<Response, SandboxError> {
    let mut conn = state.pool.get().await?;
    store::reset(&mut conn).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// Records every call of a provider's routes with secrets redacted, after
/// the answer is known (its status) and before it is sent, so a test that
/// reads `_calls` after a call finds it.
async fn record_call(
    State((state, provider)): State<(AppState, &'static str)>,
    request: Request,
    next: Next,
) -> Response {
    let (parts, body) = request.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, MAX_BODY).await else {
        return (StatusCode::PAYLOAD_TOO_LARGE, "request body too large").into_response();
    };
    let query = parts.uri.query().map(|q| redacted_pairs(&form_pairs(q)));
    let body = redacted_body(&parts.headers, &bytes);
    let auth = parts.headers.get(header::AUTHORIZATION).map(|v| {
        let scheme = v.to_str().ok().and_then(|v| v.split_whitespace().next()).unwrap_or("?");
        format!("{scheme} {REDACTED}")
    });
    let (method, path) = (parts.method.to_string(), parts.uri.path().to_owned());
    let response = next.run(Request::from_parts(parts, Body::from(bytes))).await;
    let call = store::NewCall {
        provider,
        method: &method,
        path: &path,
        query,
        body,
        auth_header: auth.as_deref(),
        status: i32::from(response.status().as_u16()),
    };
    match state.pool.get().await {
        Ok(mut conn) => {
            if let Err(e) = store::record_call(&mut conn, &call).await {
                tracing::warn!(error = %e, "could not record a sandbox call");
            }
        }
        Err(e) => tracing::warn!(error = %e, "could not record a sandbox call"),
    }
    response
}

/// A form or query as a JSON object; a field given twice becomes an array.
fn redacted_pairs(pairs: &[(String, String)]) -> serde_json::Value {
    let mut object = serde_json::Map::new();
    for (key, value) in pairs {
        let value = if is_secret(key) { REDACTED.to_owned() } else { value.clone() };
        match object.get_mut(key) {
            Some(serde_json::Value::Array(values)) => values.push(value.into()),
            Some(first) => *first = serde_json::Value::Array(vec![first.take(), value.into()]),
            None => {
                object.insert(key.clone(), value.into());
            }
        }
    }
    serde_json::Value::Object(object)
}

/// A request body for the log: forms and JSON with secret fields redacted,
/// anything else by size only.
fn redacted_body(headers: &HeaderMap, bytes: &Bytes) -> Option<serde_json::Value> {
    if bytes.is_empty() {
        return None;
    }
    let content_type = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    let text = std::str::from_utf8(bytes).ok();
    if content_type.starts_with("application/x-www-form-urlencoded")
        && let Some(text) = text
    {
        return Some(redacted_pairs(&form_pairs(text)));
    }
    if let Ok(mut json) = serde_json::from_slice::<serde_json::Value>(bytes) {
        redact_json(&mut json);
        return Some(json);
    }
    Some(format!("<{} bytes>", bytes.len()).into())
}

fn redact_json(value: &mut serde_json::Value) {
    match value {
        serde_json::Value::Object(object) => {
            for (key, value) in object.iter_mut() {
                if is_secret(key) {
                    *value = REDACTED.into();
                } else {
                    redact_json(value);
                }
            }
        }
        serde_json::Value::Array(values) => values.iter_mut().for_each(redact_json),
        _ => {}
    }
}

fn is_secret(field: &str) -> bool {
    SECRET_FIELDS.iter().any(|s| s.eq_ignore_ascii_case(field))
}

/// The only value of `name` in `pairs`; `Err` when it is given twice.
pub(crate) fn single<'a>(pairs: &'a [(String, String)], name: &str) -> Result<Option<&'a str>, String> {
    let mut values = pairs.iter().filter(|(k, _)| k == name).map(|(_, v)| v.as_str());
    let first = values.next();
    if values.next().is_some() {
        return Err(format!("Parameter given more than once: {name}"));
    }
    Ok(first)
}

/// `prefix` + 32 random bytes, base64url (codes and tokens).
pub(crate) fn random_token(prefix: &str) -> String {
    let mut bytes = [0u8; 32];
    ring::rand::SystemRandom::new().fill(&mut bytes).expect("system random source failed");
    format!("{prefix}{}", URL_SAFE_NO_PAD.encode(bytes))
}

/// A Google-style job id (`a1b2c3d4-5e6f-…`).
pub(crate) fn random_job_id() -> String {
    let mut b = [0u8; 16];
    ring::rand::SystemRandom::new().fill(&mut b).expect("system random source failed");
    let hex = crate::auth::token::hex(&b);
    format!("{}-{}-{}-{}-{}", &hex[..8], &hex[8..12], &hex[12..16], &hex[16..20], &hex[20..])
}

pub(crate) fn sha256(text: &str) -> Vec<u8> {
    ring::digest::digest(&ring::digest::SHA256, text.as_bytes()).as_ref().to_vec()
}

/// The bearer token of an API call's `Authorization` header, if any.
pub(crate) fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")))
        .map(str::trim)
}

/// The scenario a grant was consented with.
pub(crate) fn scenario_of(grant: &store::Grant) -> Result<Scenario, SandboxError> {
    Scenario::parse_query(&grant.scenario)
        .map_err(|e| SandboxError::Internal(format!("sandbox grant {} has an unreadable scenario: {e}", grant.id)))
}

/// `latency_ms` / `latency:<ms>`.
pub(crate) async fn delay(scenario: &Scenario) {
    let ms = scenario.latency_ms_effective();
    if ms > 0 {
        tokio::time::sleep(Duration::from_millis(ms)).await;
    }
}

/// A refusal the scenario stages for an authenticated API call; each provider
/// answers it in its own wire format.
pub(crate) enum Staged {
    /// `revoked_consent:<after>`: the grant is now revoked, the token invalid.
    Revoked,
    /// `rate_limited:<n>`: one of the first `n` calls.
    RateLimited,
    /// `server_error:<n>`: one of the `n` calls after the rate-limited ones.
    ServerError,
}

/// After the staged latency, counts this API call against `grant` and returns
/// the refusal its scenario stages for it, revoking the grant when consent is
/// withdrawn from this call on.
pub(crate) async fn staged_refusal(
    conn: &mut diesel_async::AsyncPgConnection,
    grant: &store::Grant,
    scenario: &Scenario,
) -> Result<Option<Staged>, SandboxError> {
    delay(scenario).await;
    let call = u32::try_from(store::count_api_call(conn, grant.id).await?).unwrap_or(u32::MAX);
    let revoke_from = scenario.find_failure(|f| match f {
        Failure::RevokedConsent { after } => Some(*after),
        _ => None,
    });
    if revoke_from.is_some_and(|after| call >= after) {
        store::revoke_grant(conn, grant.id).await?;
        return Ok(Some(Staged::Revoked));
    }
    let limited = scenario
        .find_failure(|f| match f {
            Failure::RateLimited { n } => Some(*n),
            _ => None,
        })
        .unwrap_or(0);
    let failing = scenario
        .find_failure(|f| match f {
            Failure::ServerError { n } => Some(*n),
            _ => None,
        })
        .unwrap_or(0);
    if call <= limited {
        return Ok(Some(Staged::RateLimited));
    }
    if call <= limited.saturating_add(failing) {
        return Ok(Some(Staged::ServerError));
    }
    Ok(None)
}

/// Headers of every sandbox page and answer: nothing here may be cached.
pub(crate) fn no_store() -> [(header::HeaderName, &'static str); 1] {
    [(header::CACHE_CONTROL, "no-store")]
}

/// An HTML page with the participant pages' safety headers.
pub(crate) fn page(status: StatusCode, html: String) -> Response {
    (
        status,
        [
            (header::CACHE_CONTROL, "no-store"),
            (header::REFERRER_POLICY, "no-referrer"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            (
                header::CONTENT_SECURITY_POLICY,
                "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; \
                 base-uri 'none'",
            ),
        ],
        Html(html),
    )
        .into_response()
}

/// A redirect (`302 Found` for the consent screens, `307` where a `POST`
/// must be repeated) to `location`.
pub(crate) fn redirect_to(status: StatusCode, location: &str) -> Response {
    match HeaderValue::from_str(location) {
        Ok(value) => (status, no_store(), [(header::LOCATION, value)]).into_response(),
        Err(_) => SandboxError::Internal("a redirect URI that is not a header value".into()).into_response(),
    }
}

/// What the participant chose on a sandbox consent screen (Google's and
/// TikTok's read it alike; only their redirects differ).
pub(crate) enum Decision {
    /// Allow: the scenario the grant is bound to, and the redirect URI the code goes to.
    Allow(Scenario, reqwest::Url),
    /// Cancel, or Allow with `deny` staged: the redirect URI `access_denied` goes to.
    Deny(reqwest::Url),
    /// Neither Allow nor Cancel: the provider's refusal (status, error, message).
    Unclear((StatusCode, &'static str, String)),
    /// Scenario fields that do not parse: the consent screen again over
    /// these defaults, with the message.
    BadScenario(Scenario, String),
}

/// Reads the `decision` and the scenario fields of a consent form whose
/// authorization request (redirecting to `redirect_uri`) was checked.
pub(crate) fn consent_decision(
    config: &DonationConfig,
    pairs: &[(String, String)],
    redirect_uri: &str,
) -> Result<Decision, SandboxError> {
    let defaults = default_scenario(config).map_err(|e| SandboxError::Internal(e.to_string()))?;
    let allow = match single(pairs, "decision") {
        Ok(Some("allow")) => true,
        Ok(Some("cancel")) => false,
        _ => {
            let refusal = (StatusCode::BAD_REQUEST, "invalid_request", "Choose Allow or Cancel.".to_owned());
            return Ok(Decision::Unclear(refusal));
        }
    };
    let fields = pairs.iter().filter(|(k, _)| Scenario::FIELDS.contains(&k.as_str()));
    let scenario = match defaults.apply_pairs(fields.map(|(k, v)| (k.as_str(), v.as_str()))) {
        Ok(scenario) => scenario,
        Err(e) => return Ok(Decision::BadScenario(defaults, e.to_string())),
    };
    let location = reqwest::Url::parse(redirect_uri)
        .map_err(|_| SandboxError::Internal("the configured redirect URI is not a URL".into()))?;
    Ok(if !allow || scenario.has(&Failure::Deny) {
        Decision::Deny(location)
    } else {
        Decision::Allow(scenario, location)
    })
}

/// Stores `grant` with a single-use authorization code for it, bound to
/// `redirect_uri` and the PKCE `code_challenge` and valid for `lifetime`;
/// returns the code (`prefix` and random characters).
pub(crate) async fn issue_code(
    state: &AppState,
    grant: &store::NewGrant<'_>,
    redirect_uri: &str,
    code_challenge: &str,
    prefix: &str,
    lifetime: Duration,
) -> Result<String, SandboxError> {
    let code = random_token(prefix);
    let code_hash = sha256(&code);
    let code_row = store::NewCode {
        code_hash: &code_hash,
        grant_id: 0,
        redirect_uri,
        code_challenge,
        expires_at: Utc::now() + lifetime,
    };
    let mut conn = state.pool.get().await?;
    store::create_grant_with_code(&mut conn, grant, code_row).await?;
    Ok(code)
}

/// What a sandbox handler can fail with besides the answers it stages.
#[derive(Debug, thiserror::Error)]
pub(crate) enum SandboxError {
    #[error("database: {0}")]
    Database(#[from] diesel::result::Error),
    #[error("database pool: {0}")]
    Pool(#[from] crate::db::PoolError),
    #[error("signed-URL key: {0}")]
    Keyring(#[from] crate::crypto::KeyringError),
    #[error("{0}")]
    Internal(String),
}

impl IntoResponse for SandboxError {
    /// Logged once here; the answer has Google's error shape.
    fn into_response(self) -> Response {
        tracing::error!(error = %self, "sandbox provider failed");
        let status = match self {
            SandboxError::Pool(_) => StatusCode::SERVICE_UNAVAILABLE,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        };
        let body =
            serde_json::json!({"error": {"code": status.as_u16(), "message": "Internal error.", "status": "INTERNAL"}});
        (status, no_store(), axum::Json(body)).into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms_decode_and_secrets_are_redacted() {
        let pairs =
            form_pairs("code=4%2Fabc&client_secret=s&grant_type=authorization_code&scope=a+b&failure=x&failure=y");
        assert_eq!(pairs[0], ("code".into(), "4/abc".into()));
        assert_eq!(pairs[3], ("scope".into(), "a b".into()));
        let logged = redacted_pairs(&pairs);
        assert_eq!(
            logged,
            serde_json::json!({"code": REDACTED, "client_secret": REDACTED, "grant_type": "authorization_code",
                "scope": "a b", "failure": ["x", "y"]})
        );
        assert_eq!(single(&pairs, "failure"), Err("Parameter given more than once: failure".into()));
        assert_eq!(single(&pairs, "scope"), Ok(Some("a b")));
        assert_eq!(single(&pairs, "nope"), Ok(None));
    }

    #[test]
    fn json_bodies_are_redacted_at_any_depth() {
        let mut headers = HeaderMap::new();
        headers.insert(header::CONTENT_TYPE, "application/json".parse().unwrap());
        let body = Bytes::from_static(br#"{"resources": ["myactivity.youtube"], "nested": {"access_token": "ya29"}}"#);
        assert_eq!(
            redacted_body(&headers, &body),
            Some(serde_json::json!({"resources": ["myactivity.youtube"], "nested": {"access_token": REDACTED}}))
        );
        assert_eq!(redacted_body(&headers, &Bytes::from_static(b"\x00\x01")), Some("<2 bytes>".into()));
        assert_eq!(redacted_body(&headers, &Bytes::new()), None);
    }

    #[test]
    fn ids_and_tokens_look_like_googles() {
        let id = random_job_id();
        assert_eq!(id.len(), 36);
        assert_eq!(id.matches('-').count(), 4);
        let token = random_token("ya29.");
        assert!(token.starts_with("ya29.") && token.len() == 5 + 43);
        assert_ne!(random_token(""), random_token(""));
    }
}
