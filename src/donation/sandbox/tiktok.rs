//! The sandbox TikTok (spec §4.4, §6.2, §6.3, §6.6): Login Kit for Web (the
//! consent screen and its decision), the OAuth v2 token and revoke endpoints
//! and the Data Portability API (`add`, `check`, `download`, `cancel`) under
//! `/sandbox/tiktok`, with TikTok's paths (trailing slashes included),
//! parameters, JSON envelopes, error codes and status codes, so Steward's real
//! TikTok client talks to it unchanged.
//!
//! The consent decision binds the scenario to a grant; its code, tokens,
//! requests and archives inherit it. Refresh tokens rotate: a refresh answers
//! a new one and the used one stops working. A data request is kept as a
//! `sandbox_jobs` row whose id is the decimal request id (an int64 above
//! 2^53, odd, so a client that parses it through a float loses it) and whose
//! state maps TikTok's status: `IN_PROGRESS` = `pending`, `COMPLETE` =
//! `downloading`, `FAILED` = `expired`, `CANCELLED` = `cancelled`.
//!
//! Failure modes staged here: `slow_archive:polls=N` (`pending` for N checks;
//! without it one), `never_ready`, `tiktok_expired`, `tiktok_cancelled`,
//! `tiktok_region` (Add answers 403 `access_denied` with TikTok's EEA/UK
//! message), `expired_token`, `refresh_revoked`, `revoked_consent[:after=N]`,
//! `deny`, `rate_limited[:n=K]` (API calls 1..=K answer 429
//! `rate_limit_exceeded` with `Retry-After: 1`), `server_error[:n=K]` (the K
//! calls after those answer 503 `internal_error`), `truncated_download` (the
//! first download that is not redirected breaks off halfway),
//! `tiktok_redirect[:n=K]` (the first K downloads answer 307 to the download
//! path on the sandbox's own origin, TikTok's API host here),
//! `tiktok_offsite_redirect` (every download answers 307 to another host) and
//! `latency`. The archive's content failures are the generator's
//! ([`super::write_tiktok_archive`]).

use std::io;
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use chrono::{DateTime, Utc};
use ring::rand::SecureRandom as _;
use serde_json::{Value, json};
use tokio::sync::mpsc;

use super::consent::{self, AuthRequest, ConsentScreen, Refusal};
use super::http::{
    SandboxError, Staged, bearer_token, delay, form_pairs, no_store, random_token, redirect_to, scenario_of, sha256,
    single, staged_refusal,
};
use super::scenario::{Failure, Scenario};
use super::store::{self, Grant, Job, NewJob, TokenKind};
use super::stream::{CHUNKS_AHEAD, CUT_PAUSE, ChannelWriter};
use super::write_tiktok_archive;
use crate::app::AppState;
use crate::donation::config::PkceEncoding;
use crate::donation::provider::pkce_challenge;

/// TikTok's access tokens live a day (`expires_in` 86400).
const ACCESS_LIFETIME: Duration = Duration::from_secs(86_400);
/// With `expired_token`.
const SHORT_ACCESS_LIFETIME: Duration = Duration::from_secs(1);
/// TikTok's refresh tokens live a year (`refresh_expires_in`).
const REFRESH_LIFETIME: Duration = Duration::from_secs(31_536_000);
const DECISION_PATH: &str = "/sandbox/tiktok/v2/auth/authorize/decision";
/// The scenario fields the TikTok consent screen offers (the grant is its checkboxes).
const ADVANCED_FIELDS: &[&str] = &[
    "persona",
    "records",
    "target_bytes",
    "seed",
    "span",
    "tz",
    "failure",
    "tiktok_layout",
    "tiktok_token_shape",
    "latency_ms",
];
/// Categories of the Data Portability API (TikTok's own check example
/// spells the last one `direct_messages`; both are accepted).
const CATEGORIES: &[&str] = &["all_data", "activity", "video", "profile", "direct_message", "direct_messages"];
/// Fields Check can answer.
const CHECK_FIELDS: &[&str] =
    &["request_id", "apply_time", "collect_time", "status", "data_format", "category_selection_list"];
/// Checks that answer `pending` without `slow_archive`.
const DEFAULT_PENDING_CHECKS: u32 = 1;
/// Where `tiktok_offsite_redirect` sends downloads: a host that is not the API's.
pub const OFFSITE_DOWNLOAD_HOST: &str = "tiktok-cdn.sandbox.invalid";
const DOWNLOAD_PATH: &str = "/v2/user/data/download/";
/// TikTok's answer to an Add outside the EEA and the UK (`tiktok_region`).
pub const REGION_MESSAGE: &str = "The Data Portability API is only available to users in the EEA and the UK.";

/// The sandbox TikTok's routes (the call log is layered on by the caller).
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/sandbox/tiktok/v2/auth/authorize/", get(authorize))
        .route(DECISION_PATH, post(decision))
        .route("/sandbox/tiktok/v2/oauth/token/", post(token))
        .route("/sandbox/tiktok/v2/oauth/revoke/", post(revoke))
        .route("/sandbox/tiktok/v2/user/data/add/", post(add))
        .route("/sandbox/tiktok/v2/user/data/check/", post(check))
        .route("/sandbox/tiktok/v2/user/data/download/", post(download))
        .route("/sandbox/tiktok/v2/user/data/cancel/", post(cancel))
}

// --- Login Kit: consent screen and decision.

/// Whether TikTok knows `scope` (Login Kit basics and the portability scopes).
fn known_scope(scope: &str) -> bool {
    matches!(scope, "user.info.basic" | "user.info.profile" | "user.info.stats")
        || scope.strip_prefix("portability.").and_then(|rest| rest.split_once('.')).is_some_and(|(cat, mode)| {
            ["all", "activity", "postsandprofile", "directmessages"].contains(&cat)
                && ["single", "ongoing"].contains(&mode)
        })
}

/// The PKCE challenge of `verifier` in the configured encoding.
fn challenge(encoding: PkceEncoding, verifier: &str) -> String {
    match encoding {
        PkceEncoding::Base64Url => pkce_challenge(verifier),
        PkceEncoding::Hex => crate::auth::token::hex(&sha256(verifier)),
    }
}

/// Checks an authorization request as TikTok would (spec §4.4.1, §6.2).
fn check_request(state: &AppState, pairs: &[(String, String)]) -> Result<AuthRequest, Refusal> {
    let tiktok = &state.config.donation.tiktok;
    let bad = |message: String| (StatusCode::BAD_REQUEST, "invalid_request", message);
    let get = |name: &str| single(pairs, name).map_err(bad);
    let client_key = get("client_key")?.unwrap_or_default();
    if client_key != tiktok.client_key {
        return Err((StatusCode::BAD_REQUEST, "invalid_client", format!("client_key `{client_key}` is unknown.")));
    }
    let redirect_uri = get("redirect_uri")?.unwrap_or_default();
    if redirect_uri != tiktok.redirect_uri {
        return Err((
            StatusCode::BAD_REQUEST,
            "invalid_request",
            format!("redirect_uri `{redirect_uri}` does not match the app's registered redirect URI."),
        ));
    }
    match get("response_type")? {
        Some("code") => {}
        Some(other) => {
            return Err((
                StatusCode::BAD_REQUEST,
                "unsupported_response_type",
                format!("response_type `{other}` is not supported; use `code`."),
            ));
        }
        None => return Err(bad("Missing required parameter: response_type".into())),
    }
    let scope = get("scope")?.unwrap_or_default();
    let mut scopes: Vec<String> = Vec::new();
    let mut invalid: Vec<&str> = Vec::new();
    for s in scope.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        if !known_scope(s) {
            invalid.push(s);
        } else if !scopes.iter().any(|k| k == s) {
            scopes.push(s.to_owned());
        }
    }
    if !invalid.is_empty() || scopes.is_empty() {
        let message = if scope.trim().is_empty() {
            "Missing required parameter: scope".to_owned()
        } else if scope.contains(' ') && !scope.contains(',') {
            "scope must be comma-separated (TikTok), not space-separated.".to_owned()
        } else {
            format!("Unknown scope(s): {}", invalid.join(", "))
        };
        return Err((StatusCode::BAD_REQUEST, "invalid_scope", message));
    }
    let state_param = get("state")?.unwrap_or_default();
    if state_param.is_empty() {
        return Err(bad("Missing required parameter: state".into()));
    }
    match get("code_challenge_method")? {
        Some("S256") => {}
        Some(other) => return Err(bad(format!("code_challenge_method `{other}` is not supported; use S256."))),
        None => return Err(bad("Missing required parameter: code_challenge_method".into())),
    }
    let code_challenge = get("code_challenge")?.unwrap_or_default();
    let well_formed = match tiktok.pkce_encoding {
        PkceEncoding::Base64Url => {
            code_challenge.len() == 43
                && code_challenge.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        }
        PkceEncoding::Hex => code_challenge.len() == 64 && code_challenge.bytes().all(|b| b.is_ascii_hexdigit()),
    };
    if !well_formed {
        let expected = match tiktok.pkce_encoding {
            PkceEncoding::Base64Url => "the base64url SHA-256 of the verifier (43 characters)",
            PkceEncoding::Hex => "the hex SHA-256 of the verifier (64 characters)",
        };
        return Err(bad(format!("Code verifier or code challenge is invalid: expected {expected}.")));
    }
    Ok(AuthRequest {
        client_id: client_key.to_owned(),
        redirect_uri: redirect_uri.to_owned(),
        scopes,
        state: state_param.to_owned(),
        code_challenge: code_challenge.to_owned(),
    })
}

/// TikTok's consent screen (spec §4.4.1, §6.2).
static SCREEN: ConsentScreen = ConsentScreen {
    provider: "TikTok",
    source: "tiktok",
    client_field: "client_key",
    decision_path: DECISION_PATH,
    fields: ADVANCED_FIELDS,
    access_type: false,
    code_prefix: "sandbox-code-",
    check: check_request,
    scope_param: |scopes| scopes.join(","),
    scope_text,
    allowed: |request, code, granted| {
        vec![("code", code.to_owned()), ("scopes", granted.join(",")), ("state", request.state.clone())]
    },
    denied: |request| {
        vec![
            ("error", "access_denied".to_owned()),
            ("error_description", "The user denied the authorization request.".to_owned()),
            ("state", request.state.clone()),
        ]
    },
};

/// `GET /sandbox/tiktok/v2/auth/authorize/`: the consent screen.
async fn authorize(State(state): State<AppState>, RawQuery(query): RawQuery) -> Response {
    consent::authorize(&SCREEN, &state, query.as_deref())
}

/// `POST …/authorize/decision`.
async fn decision(State(state): State<AppState>, body: Bytes) -> Result<Response, SandboxError> {
    consent::decision(&SCREEN, &state, &body).await
}

/// Plain descriptions of the scopes, as on TikTok's consent screen.
fn scope_text(scope: &str) -> (&'static str, &'static str) {
    let once = scope.ends_with(".single");
    match scope.split('.').nth(1) {
        Some("info") => ("Your profile info", "Your display name and avatar"),
        Some("activity") if once => (
            "Your TikTok activity (one copy)",
            "Videos you watched, liked, favorited and shared, your searches and comments",
        ),
        Some("activity") => (
            "Your TikTok activity (repeatedly)",
            "Videos you watched, liked, favorited and shared, your searches and comments",
        ),
        Some("all") => ("All your TikTok data", "Your activity, posts, profile and direct messages"),
        Some("postsandprofile") => ("Your posts and profile", "The videos you posted and your profile"),
        Some("directmessages") => ("Your direct messages", "Messages you sent and received"),
        _ => ("Other data", ""),
    }
}

// --- OAuth v2: token and revoke.

/// A TikTok log id: the time and 20 random hex digits.
fn log_id() -> String {
    let mut bytes = [0u8; 10];
    ring::rand::SystemRandom::new().fill(&mut bytes).expect("system random source failed");
    format!("{}{}", Utc::now().format("%Y%m%d%H%M%S"), crate::auth::token::hex(&bytes).to_ascii_uppercase())
}

/// A token endpoint error, `{"error", "error_description", "log_id"}`.
fn oauth_error(status: StatusCode, error: &str, description: &str) -> Response {
    let body = json!({"error": error, "error_description": description, "log_id": log_id()});
    (status, no_store(), axum::Json(body)).into_response()
}

/// The fake account's `open_id`: stable for a scenario seed, UUID-shaped.
fn open_id(scenario: &Scenario) -> String {
    let hex = crate::auth::token::hex(&sha256(&format!("steward.sandbox.tiktok.open_id/{}", scenario.seed)));
    format!("{}-{}-{}-{}-{}", &hex[..8], &hex[8..12], &hex[12..16], &hex[16..20], &hex[20..32])
}

/// Whether the form's client credentials are the sandbox's.
fn client_ok(state: &AppState, field: &dyn Fn(&str) -> Option<String>) -> bool {
    let tiktok = &state.config.donation.tiktok;
    field("client_key").as_deref() == Some(tiktok.client_key.as_str())
        && field("client_secret").as_deref() == Some(tiktok.client_secret.expose())
}

/// `POST /sandbox/tiktok/v2/oauth/token/`: `authorization_code` (client,
/// redirect URI, single-use code of at most 10 minutes, PKCE) and
/// `refresh_token` (rotating).
async fn token(State(state): State<AppState>, body: Bytes) -> Result<Response, SandboxError> {
    let pairs = form_pairs(std::str::from_utf8(&body).unwrap_or(""));
    let field = |name: &str| single(&pairs, name).ok().flatten().map(str::to_owned);
    if !client_ok(&state, &field) {
        return Ok(oauth_error(StatusCode::UNAUTHORIZED, "invalid_client", "Client key or secret is incorrect."));
    }
    let invalid_grant = |description: &str| oauth_error(StatusCode::BAD_REQUEST, "invalid_grant", description);
    let mut conn = state.pool.get().await?;
    match field("grant_type").as_deref() {
        Some("authorization_code") => {
            let Some(code) = field("code") else {
                return Ok(oauth_error(StatusCode::BAD_REQUEST, "invalid_request", "Missing required parameter: code"));
            };
            let hash = sha256(&code);
            let Some((stored, grant)) =
                store::find_code(&mut conn, &hash).await?.filter(|(_, g)| g.provider == "tiktok")
            else {
                return Ok(invalid_grant("Authorization code is invalid."));
            };
            let scenario = scenario_of(&grant)?;
            delay(&scenario).await;
            if stored.used_at.is_some() {
                return Ok(invalid_grant("Authorization code was already used."));
            }
            if stored.expires_at <= Utc::now() {
                return Ok(invalid_grant("Authorization code is expired."));
            }
            if field("redirect_uri").as_deref() != Some(stored.redirect_uri.as_str()) {
                return Ok(invalid_grant("redirect_uri does not match the one of the authorization request."));
            }
            let Some(verifier) = field("code_verifier") else {
                return Ok(oauth_error(
                    StatusCode::BAD_REQUEST,
                    "invalid_request",
                    "Missing required parameter: code_verifier",
                ));
            };
            // A wrong verifier leaves the code usable: only its holder with the
            // right verifier can redeem it.
            if challenge(state.config.donation.tiktok.pkce_encoding, &verifier) != stored.code_challenge {
                return Ok(invalid_grant("Code verifier or code challenge is invalid."));
            }
            if !store::consume_code(&mut conn, &hash).await? {
                return Ok(invalid_grant("Authorization code was already used."));
            }
            issue_tokens(&mut conn, &grant, &scenario).await
        }
        Some("refresh_token") => {
            let Some(refresh) = field("refresh_token") else {
                return Ok(oauth_error(
                    StatusCode::BAD_REQUEST,
                    "invalid_request",
                    "Missing required parameter: refresh_token",
                ));
            };
            let revoked = || invalid_grant("Refresh token is invalid or expired.");
            let hash = sha256(&refresh);
            let Some(grant) =
                store::token_grant(&mut conn, &hash, TokenKind::Refresh).await?.filter(|g| g.provider == "tiktok")
            else {
                return Ok(revoked());
            };
            let scenario = scenario_of(&grant)?;
            delay(&scenario).await;
            if scenario.has(&Failure::RefreshRevoked) && store::has_jobs(&mut conn, grant.id).await? {
                return Ok(revoked());
            }
            if !store::delete_token(&mut conn, &hash, TokenKind::Refresh).await? {
                return Ok(revoked());
            }
            issue_tokens(&mut conn, &grant, &scenario).await
        }
        Some(other) => Ok(oauth_error(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            &format!("grant_type `{other}` is not supported."),
        )),
        None => Ok(oauth_error(StatusCode::BAD_REQUEST, "invalid_request", "Missing required parameter: grant_type")),
    }
}

/// A new access and refresh token, in the scenario's answer shape.
async fn issue_tokens(
    conn: &mut diesel_async::AsyncPgConnection,
    grant: &Grant,
    scenario: &Scenario,
) -> Result<Response, SandboxError> {
    let lifetime = if scenario.has(&Failure::ExpiredToken) { SHORT_ACCESS_LIFETIME } else { ACCESS_LIFETIME };
    let access = random_token("act.sandbox-");
    let refresh = random_token("rft.sandbox-");
    let now = Utc::now();
    store::create_token(conn, &sha256(&access), grant.id, TokenKind::Access, Some(now + lifetime)).await?;
    store::create_token(conn, &sha256(&refresh), grant.id, TokenKind::Refresh, Some(now + REFRESH_LIFETIME)).await?;
    let scopes: Vec<&str> = grant.scopes().collect();
    let fields = json!({
        "access_token": access,
        "expires_in": lifetime.as_secs(),
        "open_id": open_id(scenario),
        "refresh_expires_in": REFRESH_LIFETIME.as_secs(),
        "refresh_token": refresh,
        "scope": scopes.join(","),
        "token_type": "Bearer",
    });
    let body = match scenario.tiktok_token_shape {
        super::TokenShape::Flat => fields,
        super::TokenShape::Nested => json!({"data": fields}),
    };
    Ok((no_store(), axum::Json(body)).into_response())
}

/// `POST /sandbox/tiktok/v2/oauth/revoke/`: every token of the grant stops
/// working. An unknown token is answered the same (RFC 7009).
async fn revoke(State(state): State<AppState>, body: Bytes) -> Result<Response, SandboxError> {
    let pairs = form_pairs(std::str::from_utf8(&body).unwrap_or(""));
    let field = |name: &str| single(&pairs, name).ok().flatten().map(str::to_owned);
    if !client_ok(&state, &field) {
        return Ok(oauth_error(StatusCode::UNAUTHORIZED, "invalid_client", "Client key or secret is incorrect."));
    }
    let Some(token) = field("token") else {
        return Ok(oauth_error(StatusCode::BAD_REQUEST, "invalid_request", "Missing required parameter: token"));
    };
    let mut conn = state.pool.get().await?;
    let hash = sha256(&token);
    for kind in [TokenKind::Access, TokenKind::Refresh] {
        if let Some(grant) = store::token_grant(&mut conn, &hash, kind).await?.filter(|g| g.provider == "tiktok") {
            store::revoke_grant(&mut conn, grant.id).await?;
        }
    }
    Ok((no_store(), axum::Json(json!({}))).into_response())
}

// --- Data Portability API.

/// An API answer in TikTok's envelope: `{"data": …, "error": {"code", "message", "log_id"}}`.
fn envelope(status: StatusCode, data: Option<Value>, code: &str, message: &str) -> Response {
    let mut body = serde_json::Map::new();
    if let Some(data) = data {
        body.insert("data".into(), data);
    }
    body.insert("error".into(), json!({"code": code, "message": message, "log_id": log_id()}));
    (status, no_store(), axum::Json(Value::Object(body))).into_response()
}

fn ok(data: Option<Value>) -> Response {
    envelope(StatusCode::OK, data, "ok", "")
}

fn api_error(status: StatusCode, code: &str, message: &str) -> Response {
    envelope(status, Some(json!({})), code, message)
}

fn invalid_params(message: &str) -> Response {
    api_error(StatusCode::BAD_REQUEST, "invalid_params", message)
}

/// The answer to a request id that is not the caller's (download's shape,
/// which TikTok documents, for every call).
fn unknown_request() -> Response {
    let body = json!({"data": {}, "error": {
        "code": "invalid_params",
        "http_status_code": 400,
        "log_id": log_id(),
        "message": "Incorrect `request_id`. Please validate the request.",
    }});
    (StatusCode::BAD_REQUEST, no_store(), axum::Json(body)).into_response()
}

fn token_invalid() -> Response {
    api_error(
        StatusCode::UNAUTHORIZED,
        "access_token_invalid",
        "The access token is invalid or not found in the request.",
    )
}

/// The grant behind an API call's bearer token and its scenario, after the
/// staged latency, revocation, rate limits and server errors; or the answer
/// that refuses the call.
async fn caller(
    conn: &mut diesel_async::AsyncPgConnection,
    headers: &HeaderMap,
) -> Result<Result<(Grant, Scenario), Response>, SandboxError> {
    let token = bearer_token(headers);
    let Some(token) = token else {
        return Ok(Err(token_invalid()));
    };
    let Some(grant) =
        store::token_grant(conn, &sha256(token), TokenKind::Access).await?.filter(|g| g.provider == "tiktok")
    else {
        return Ok(Err(token_invalid()));
    };
    let scenario = scenario_of(&grant)?;
    let refused = match staged_refusal(conn, &grant, &scenario).await? {
        None => return Ok(Ok((grant, scenario))),
        Some(Staged::Revoked) => token_invalid(),
        Some(Staged::RateLimited) => {
            let mut response = api_error(
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limit_exceeded",
                "The API rate limit was exceeded. Please try again later.",
            );
            response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
            response
        }
        Some(Staged::ServerError) => api_error(
            StatusCode::SERVICE_UNAVAILABLE,
            "internal_error",
            "Something went wrong. Please try again later.",
        ),
    };
    Ok(Err(refused))
}

/// The caller's grant and scenario, or returns the refusal from the handler.
macro_rules! authenticated {
    ($conn:expr, $headers:expr) => {
        match caller($conn, $headers).await? {
            Ok(found) => found,
            Err(refused) => return Ok(refused),
        }
    };
}

/// The `fields` query parameter: required, comma-separated, each in `known`.
/// `Err` is the `invalid_params` message.
fn fields(query: Option<&str>, known: &[&str]) -> Result<Vec<String>, String> {
    let pairs = form_pairs(query.unwrap_or(""));
    let value = match single(&pairs, "fields")? {
        Some(v) if !v.trim().is_empty() => v,
        _ => {
            return Err(format!("The `fields` query parameter is required, e.g. `?fields={}`.", known.join(",")));
        }
    };
    let mut out = Vec::new();
    for f in value.split(',').map(str::trim).filter(|f| !f.is_empty()) {
        if !known.contains(&f) {
            return Err(format!("Unknown field `{f}` in `fields`; known: {}.", known.join(", ")));
        }
        out.push(f.to_owned());
    }
    Ok(out)
}

/// `request_id` of a JSON body as an exact int64 (a float is refused);
/// `Err` is the `invalid_params` message.
fn request_id(body: &[u8]) -> Result<i64, &'static str> {
    let value: Value = serde_json::from_slice(body).map_err(|_| "The request body is not valid JSON.")?;
    match value.get("request_id") {
        Some(Value::Number(n)) => n.as_i64().ok_or("`request_id` must be an integer (int64), not a float."),
        Some(_) => Err("`request_id` must be an integer (int64)."),
        None => Err("Missing required field: request_id"),
    }
}

/// A new request id: odd and above 2^60, so above 2^53 and not a float.
fn new_request_id() -> i64 {
    let mut bytes = [0u8; 8];
    ring::rand::SystemRandom::new().fill(&mut bytes).expect("system random source failed");
    let r = u64::from_le_bytes(bytes) % ((i64::MAX as u64) - (1 << 60));
    ((1u64 << 60) + r) as i64 | 1
}

/// The caller's request `id`.
async fn own_request(
    conn: &mut diesel_async::AsyncPgConnection,
    id: i64,
    grant: &Grant,
) -> Result<Option<Job>, SandboxError> {
    Ok(store::find_job(conn, &id.to_string()).await?.filter(|(_, g)| g.id == grant.id).map(|(job, _)| job))
}

/// Whether the grant's scopes cover `category`.
fn category_granted(grant: &Grant, category: &str) -> bool {
    let needed: &[&str] = match category {
        "all_data" => &["all"],
        "activity" => &["all", "activity"],
        "video" | "profile" => &["all", "postsandprofile"],
        _ => &["all", "directmessages"],
    };
    grant.scopes().any(|s| {
        s.strip_prefix("portability.").and_then(|rest| rest.split_once('.')).is_some_and(|(c, _)| needed.contains(&c))
    })
}

/// `POST /v2/user/data/add/?fields=request_id`.
async fn add(
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, SandboxError> {
    let mut conn = state.pool.get().await?;
    let (grant, scenario) = authenticated!(&mut conn, &headers);
    let wanted = match fields(query.as_deref(), &["request_id"]) {
        Ok(f) => f,
        Err(message) => return Ok(invalid_params(&message)),
    };
    let Ok(request) = serde_json::from_slice::<Value>(&body) else {
        return Ok(invalid_params("The request body is not valid JSON."));
    };
    match request.get("data_format").and_then(Value::as_str) {
        Some("json") => {}
        Some(other) => {
            return Ok(invalid_params(&format!("`data_format` `{other}` is not offered by the sandbox; use `json`.")));
        }
        None => return Ok(invalid_params("Missing required field: data_format")),
    }
    let categories: Vec<&str> = match request.get("category_selection_list").and_then(Value::as_array) {
        Some(list) if !list.is_empty() => {
            let names: Option<Vec<&str>> = list.iter().map(Value::as_str).collect();
            match names {
                Some(names) if names.iter().all(|c| CATEGORIES.contains(c)) => names,
                _ => {
                    return Ok(invalid_params(&format!(
                        "`category_selection_list` holds an unknown category; known: {}.",
                        CATEGORIES.join(", ")
                    )));
                }
            }
        }
        _ => return Ok(invalid_params("`category_selection_list` must be a non-empty list.")),
    };
    if scenario.has(&Failure::TikTokRegion) {
        return Ok(api_error(StatusCode::FORBIDDEN, "access_denied", REGION_MESSAGE));
    }
    if let Some(missing) = categories.iter().find(|c| !category_granted(&grant, c)) {
        return Ok(api_error(
            StatusCode::UNAUTHORIZED,
            "scope_not_authorized",
            &format!(
                "The user did not authorize the scope required for completing this request (category `{missing}`)."
            ),
        ));
    }
    let single_only = !grant.scopes().any(|s| s.starts_with("portability.") && s.ends_with(".ongoing"));
    let id = new_request_id();
    let id_text = id.to_string();
    let job = NewJob {
        id: &id_text,
        grant_id: grant.id,
        resources: categories,
        start_time: None,
        end_time: None,
        generation: 0,
    };
    if store::add_request(&mut conn, &job, single_only).await?.is_none() {
        return Ok(invalid_params(
            "A data request was already made with this authorization: `.single` portability scopes allow one \
             request per authorization. Ask the user to authorize again.",
        ));
    }
    let data = if wanted.iter().any(|f| f == "request_id") { json!({"request_id": id}) } else { json!({}) };
    Ok(ok(Some(data)))
}

/// TikTok's status of a request kept in state `state`.
fn status_of(state: &str) -> &'static str {
    match state {
        "IN_PROGRESS" => "pending",
        "COMPLETE" => "downloading",
        "FAILED" => "expired",
        _ => "cancelled",
    }
}

/// The state a pending request moves to at this check, if any.
fn outcome(scenario: &Scenario, job: &Job) -> Option<&'static str> {
    if scenario.has(&Failure::NeverReady) {
        return None;
    }
    let pending = scenario
        .find_failure(|f| match f {
            Failure::SlowArchive { polls } => Some(*polls),
            _ => None,
        })
        .unwrap_or(DEFAULT_PENDING_CHECKS);
    if u32::try_from(job.polls).unwrap_or(0) <= pending {
        return None;
    }
    if scenario.has(&Failure::TikTokCancelled) {
        Some("CANCELLED")
    } else if scenario.has(&Failure::TikTokExpired) {
        Some("FAILED")
    } else {
        Some("COMPLETE")
    }
}

/// `POST /v2/user/data/check/?fields=…`.
async fn check(
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, SandboxError> {
    let mut conn = state.pool.get().await?;
    let (grant, scenario) = authenticated!(&mut conn, &headers);
    let wanted = match fields(query.as_deref(), CHECK_FIELDS) {
        Ok(f) => f,
        Err(message) => return Ok(invalid_params(&message)),
    };
    let id = match request_id(&body) {
        Ok(id) => id,
        Err(message) => return Ok(invalid_params(message)),
    };
    if own_request(&mut conn, id, &grant).await?.is_none() {
        return Ok(unknown_request());
    }
    let key = id.to_string();
    let mut job = store::count_poll(&mut conn, &key).await?;
    if job.state == "IN_PROGRESS"
        && let Some(next) = outcome(&scenario, &job)
    {
        if store::transition_job(&mut conn, &key, "IN_PROGRESS", next).await? {
            job.state = next.to_owned();
        } else if let Some(now) = own_request(&mut conn, id, &grant).await? {
            job = now;
        }
    }
    let apply_time = job.created_at.timestamp();
    let mut data = serde_json::Map::new();
    for field in &wanted {
        let value = match field.as_str() {
            "request_id" => json!(id),
            "apply_time" => json!(apply_time),
            // Collection is fast in the sandbox: a quarter of an hour after applying.
            "collect_time" => json!(apply_time + 900),
            "status" => json!(status_of(&job.state)),
            "data_format" => json!("json"),
            _ => json!(job.resources()),
        };
        data.insert(field.clone(), value);
    }
    Ok(ok(Some(Value::Object(data))))
}

/// `POST /v2/user/data/cancel/`: a pending or ready request becomes `cancelled`.
async fn cancel(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Result<Response, SandboxError> {
    let mut conn = state.pool.get().await?;
    let (grant, _) = authenticated!(&mut conn, &headers);
    let id = match request_id(&body) {
        Ok(id) => id,
        Err(message) => return Ok(invalid_params(message)),
    };
    if own_request(&mut conn, id, &grant).await?.is_none() {
        return Ok(unknown_request());
    }
    let key = id.to_string();
    for from in ["IN_PROGRESS", "COMPLETE"] {
        if store::transition_job(&mut conn, &key, from, "CANCELLED").await? {
            return Ok(ok(None));
        }
    }
    Ok(invalid_params("The request is already expired or cancelled."))
}

/// `POST /v2/user/data/download/`: the zip, generated while it is sent.
async fn download(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Result<Response, SandboxError> {
    let mut conn = state.pool.get().await?;
    let (grant, scenario) = authenticated!(&mut conn, &headers);
    let id = match request_id(&body) {
        Ok(id) => id,
        Err(message) => return Ok(invalid_params(message)),
    };
    let Some(job) = own_request(&mut conn, id, &grant).await? else {
        return Ok(unknown_request());
    };
    if job.state != "COMPLETE" {
        return Ok(invalid_params(&format!(
            "The data of this request cannot be downloaded: its status is `{}`.",
            status_of(&job.state)
        )));
    }
    let download = store::count_download(&mut conn, grant.id).await?;
    let redirected = scenario
        .find_failure(|f| match f {
            Failure::TikTokRedirect { n } => Some(*n),
            _ => None,
        })
        .unwrap_or(0);
    if let Some(location) = redirect_target(&state, &scenario, download, redirected) {
        return Ok(redirect_to(StatusCode::TEMPORARY_REDIRECT, &location));
    }
    let cut = scenario.has(&Failure::TruncatedDownload) && i64::from(download) == i64::from(redirected) + 1;
    let mut size = store::part_size(&mut conn, &job.id, 0).await?.and_then(|s| u64::try_from(s).ok());
    drop(conn);
    if size.is_none() && cut {
        let (s, created_at) = (scenario.clone(), job.created_at);
        let measured = tokio::task::spawn_blocking(move || write_tiktok_archive(&s, created_at, io::sink()))
            .await
            .map_err(|e| SandboxError::Internal(format!("generating a TikTok archive: {e}")))?
            .map_err(|e| SandboxError::Internal(format!("generating a TikTok archive: {e}")))?;
        let mut conn = state.pool.get().await?;
        store::record_part_size(&mut conn, &job.id, 0, i64::try_from(measured).unwrap_or(i64::MAX)).await?;
        size = Some(measured);
    }
    let mut response = Response::builder()
        .header(header::CONTENT_TYPE, "application/zip")
        .header(header::CACHE_CONTROL, "no-store")
        .header(header::CONTENT_DISPOSITION, format!("attachment; filename=\"tiktok-data-{id}.zip\""));
    if let Some(size) = size {
        response = response.header(header::CONTENT_LENGTH, size);
    }
    // `truncated_download` sends half of what it announced, then breaks off.
    let take = if cut { size.map(|s| s / 2) } else { None };
    let body = stream_archive(scenario, job.created_at, take);
    Ok(response.body(body).unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response()))
}

/// Where the `download`-th download of a grant is redirected (307, which
/// keeps the `POST` and its body), if anywhere: the first `redirected` go to
/// the same path on the sandbox's own origin, which is TikTok's API host
/// here; `tiktok_offsite_redirect` sends every one to another host.
fn redirect_target(state: &AppState, scenario: &Scenario, download: i32, redirected: u32) -> Option<String> {
    if scenario.has(&Failure::TikTokOffsiteRedirect) {
        return Some(format!("https://{OFFSITE_DOWNLOAD_HOST}{DOWNLOAD_PATH}"));
    }
    let internal = state.config.donation.sandbox.internal_url.trim_end_matches('/');
    (i64::from(download) <= i64::from(redirected)).then(|| format!("{internal}/tiktok{DOWNLOAD_PATH}"))
}

/// The archive generated on a blocking thread into a bounded channel, so the
/// client's pace bounds the memory. With `take`, the body breaks off (an
/// error, never a short body that looks whole) after that many bytes.
fn stream_archive(scenario: Scenario, created_at: DateTime<Utc>, take: Option<u64>) -> Body {
    let (tx, rx) = mpsc::channel::<io::Result<Bytes>>(CHUNKS_AHEAD);
    tokio::task::spawn_blocking(move || {
        let mut out = ChannelWriter::new(tx, 0, take);
        let ending = match write_tiktok_archive(&scenario, created_at, &mut out) {
            Ok(_) => out.send(),
            Err(_) if out.done => {
                // Let the server flush the headers and the first half before
                // the connection breaks, or the client sees no answer at all.
                std::thread::sleep(CUT_PAUSE);
                Err(io::Error::other("truncated_download: the connection breaks off halfway"))
            }
            Err(e) => Err(e),
        };
        if let Err(e) = ending {
            let _ = out.tx.blocking_send(Err(e));
        }
    });
    Body::from_stream(tokio_stream::wrappers::ReceiverStream::new(rx))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_ids_are_exact_int64s_above_2_53() {
        for _ in 0..1000 {
            let id = new_request_id();
            assert!(id > 1 << 53 && id % 2 == 1);
            // Not representable as a float: a float-parsing client loses it.
            assert_ne!(id as f64 as i64, id);
        }
        let id = 1_234_567_890_123_456_789_i64;
        assert_eq!(request_id(format!("{{\"request_id\": {id}}}").as_bytes()).ok(), Some(id));
        assert!(request_id(b"{\"request_id\": 1.2345678901234568e18}").is_err());
        assert!(request_id(b"{\"request_id\": \"1234\"}").is_err());
        assert!(request_id(b"{}").is_err());
    }

    #[test]
    fn scopes_and_categories() {
        for scope in ["user.info.basic", "portability.activity.single", "portability.all.ongoing"] {
            assert!(known_scope(scope), "{scope}");
        }
        for scope in ["portability.activity", "portability.photos.single", "video.list", ""] {
            assert!(!known_scope(scope), "{scope}");
        }
    }

    #[test]
    fn pkce_challenges_in_both_encodings() {
        let verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
        // RFC 7636 appendix B.
        assert_eq!(challenge(PkceEncoding::Base64Url, verifier), "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM");
        let hex = challenge(PkceEncoding::Hex, verifier);
        assert_eq!(hex, "13d31e961a1ad8ec2f16b10c4c982e0876a878ad6df144566ee1894acb70f9c3");
    }

    #[test]
    fn open_ids_are_stable_per_seed() {
        let a = open_id(&Scenario::default());
        assert_eq!(a, open_id(&Scenario::default()));
        assert_ne!(a, open_id(&Scenario::default().seed(2)));
        assert_eq!(a.len(), 36);
    }
}
