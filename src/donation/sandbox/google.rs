//! The sandbox Google (spec §6.2, §6.3, §6.6): Google OAuth 2.0 (consent
//! screen, its decision, the token endpoint) and the Data Portability API v1
//! under `/sandbox/google`, with Google's paths, parameters, JSON, error
//! envelopes and status codes, so Steward's real client talks to it
//! unchanged. Archive downloads are [`super::storage`]'s.
//!
//! The consent decision binds the scenario to a grant; its codes, tokens,
//! jobs and archives inherit it. Failure modes staged by the HTTP side:
//! `slow_archive`, `never_ready`, `job_failed`, `job_cancelled`,
//! `one_time_exhausted` (the first initiate of a group creates the job but
//! its answer is cut off, so the repeat meets the exhausted grant: the
//! lost-answer path of §4.2.5), `expired_token`, `refresh_revoked`,
//! `revoked_consent`, `deny`, `rate_limited` (API calls 1..=K), then
//! `server_error` (the K' calls after those), and `latency`.

use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine as _;
use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};

use super::consent::{self, AuthRequest, ConsentScreen, Refusal};
use super::http::{
    SandboxError, Staged, bearer_token, delay, form_pairs, no_store, random_job_id, random_token, scenario_of, sha256,
    single, staged_refusal,
};
use super::scenario::{AccessType, Failure, Scenario};
use super::store::{self, Grant, Job, NewJob, Repeat, TokenKind};
use super::{GOOGLE_RESOURCES, google_part_count, storage};
use crate::app::AppState;
use crate::donation::catalogue::{GOOGLE_SCOPE_PREFIX, google_scope};
use crate::donation::provider::pkce_challenge;

/// Google's access tokens live an hour (`expires_in` 3599).
const ACCESS_LIFETIME: Duration = Duration::from_secs(3599);
/// With `expired_token`.
const SHORT_ACCESS_LIFETIME: Duration = Duration::from_secs(1);
const DECISION_PATH: &str = "/sandbox/google/o/oauth2/v2/auth/decision";
/// The scenario fields the Google consent screen offers (grant and access
/// type are its checkboxes and radio buttons).
const ADVANCED_FIELDS: &[&str] = &["persona", "records", "target_bytes", "seed", "span", "tz", "failure", "latency_ms"];

/// The sandbox Google's routes (the call log is layered on by the caller).
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/sandbox/google/o/oauth2/v2/auth", get(authorize))
        .route(DECISION_PATH, post(decision))
        .route("/sandbox/google/token", post(token))
        .route("/sandbox/google/v1/portabilityArchive:initiate", post(initiate))
        .route("/sandbox/google/v1/authorization:reset", post(reset))
        .route("/sandbox/google/v1/accessType:check", post(access_type_check))
        .route("/sandbox/google/v1/archiveJobs/{*rest}", get(job_get).post(job_post))
        .route("/sandbox/google/storage/{job}/{file}", get(storage::download))
}

/// Checks an authorization request as Google would (spec §6.2), plus the
/// PKCE and `state` Steward always sends.
fn check_request(state: &AppState, pairs: &[(String, String)]) -> Result<AuthRequest, Refusal> {
    let google = &state.config.donation.google;
    let bad = |message: String| (StatusCode::BAD_REQUEST, "invalid_request", message);
    let get = |name: &str| single(pairs, name).map_err(bad);
    let client_id = get("client_id")?.unwrap_or_default();
    if client_id != google.client_id {
        return Err((StatusCode::UNAUTHORIZED, "invalid_client", "The OAuth client was not found.".into()));
    }
    let redirect_uri = get("redirect_uri")?.unwrap_or_default();
    if redirect_uri != google.redirect_uri {
        return Err((
            StatusCode::BAD_REQUEST,
            "redirect_uri_mismatch",
            format!("This app's request doesn't match its registered redirect URI: {redirect_uri}"),
        ));
    }
    match get("response_type")? {
        Some("code") => {}
        Some(other) => {
            return Err((
                StatusCode::BAD_REQUEST,
                "unsupported_response_type",
                format!("Invalid response_type: {other}"),
            ));
        }
        None => return Err(bad("Missing required parameter: response_type".into())),
    }
    let scope = get("scope")?.unwrap_or_default();
    let mut groups: Vec<String> = Vec::new();
    let mut invalid: Vec<&str> = Vec::new();
    for s in scope.split_whitespace() {
        match s.strip_prefix(GOOGLE_SCOPE_PREFIX).filter(|g| GOOGLE_RESOURCES.contains(g)) {
            Some(group) if !groups.iter().any(|g| g == group) => groups.push(group.to_owned()),
            Some(_) => {}
            None => invalid.push(s),
        }
    }
    if !invalid.is_empty() || groups.is_empty() {
        let message = if scope.trim().is_empty() {
            "Missing required parameter: scope".to_owned()
        } else {
            format!("Some requested scopes were invalid. {{invalid=[{}]}}", invalid.join(", "))
        };
        return Err((StatusCode::BAD_REQUEST, "invalid_scope", message));
    }
    match get("code_challenge_method")? {
        Some("S256") => {}
        Some(other) => return Err(bad(format!("Invalid code_challenge_method: {other} (only S256 is allowed)"))),
        None => return Err(bad("Missing required parameter: code_challenge_method".into())),
    }
    let code_challenge = get("code_challenge")?.unwrap_or_default();
    let pkce_chars = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_' | '~');
    if !(43..=128).contains(&code_challenge.len()) || !code_challenge.chars().all(pkce_chars) {
        return Err(bad("Invalid code_challenge: 43 to 128 characters of [A-Za-z0-9-._~] expected".into()));
    }
    let state_param = get("state")?.unwrap_or_default();
    if state_param.is_empty() {
        return Err(bad("Missing required parameter: state".into()));
    }
    Ok(AuthRequest {
        client_id: client_id.to_owned(),
        redirect_uri: redirect_uri.to_owned(),
        scopes: groups,
        state: state_param.to_owned(),
        code_challenge: code_challenge.to_owned(),
    })
}

/// Google's consent screen (spec §6.2).
static SCREEN: ConsentScreen = ConsentScreen {
    provider: "Google",
    source: "google",
    client_field: "client_id",
    decision_path: DECISION_PATH,
    fields: ADVANCED_FIELDS,
    access_type: true,
    code_prefix: "4/0Asandbox-",
    check: check_request,
    scope_param: |groups| groups.iter().map(|g| google_scope(g)).collect::<Vec<_>>().join(" "),
    scope_text,
    allowed: |request, code, granted| {
        let scopes: Vec<String> = granted.iter().map(|g| google_scope(g)).collect();
        vec![("state", request.state.clone()), ("code", code.to_owned()), ("scope", scopes.join(" "))]
    },
    denied: |request| vec![("error", "access_denied".to_owned()), ("state", request.state.clone())],
};

/// `GET /sandbox/google/o/oauth2/v2/auth`: the consent screen.
async fn authorize(State(state): State<AppState>, RawQuery(query): RawQuery) -> Response {
    consent::authorize(&SCREEN, &state, query.as_deref())
}

/// `POST …/auth/decision`.
async fn decision(State(state): State<AppState>, body: Bytes) -> Result<Response, SandboxError> {
    consent::decision(&SCREEN, &state, &body).await
}

/// Plain descriptions of the scopes, as on Google's consent screen.
fn scope_text(group: &str) -> (&'static str, &'static str) {
    match group {
        "myactivity.youtube" => ("YouTube activity", "Videos you watched, searched for, liked and subscribed to"),
        "myactivity.search" => {
            ("Search activity", "Your Search, Image Search, Video Search, Google Lens and Discover activity")
        }
        "myactivity.play" => ("Google Play activity", "Apps and games you used and installed"),
        "discover.likes" => ("Discover likes", "Content you liked in Discover"),
        "discover.follows" => ("Discover follows", "Topics you follow in Discover"),
        "discover.not_interested" => ("Discover preferences", "Topics you marked as not interesting"),
        _ => ("Other data", ""),
    }
}

/// A token endpoint error, `{"error", "error_description"}`.
fn oauth_error(status: StatusCode, error: &str, description: &str) -> Response {
    let body = serde_json::json!({"error": error, "error_description": description});
    (status, no_store(), axum::Json(body)).into_response()
}

/// Google's token answer, fields in Google's order.
#[derive(Serialize)]
struct TokenAnswer {
    access_token: String,
    expires_in: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    refresh_token: Option<String>,
    scope: String,
    token_type: &'static str,
}

/// `POST /sandbox/google/token`: `authorization_code` (client, redirect URI,
/// single-use code of at most 10 minutes, PKCE) and `refresh_token`.
async fn token(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Result<Response, SandboxError> {
    let pairs = form_pairs(std::str::from_utf8(&body).unwrap_or(""));
    let field = |name: &str| single(&pairs, name).ok().flatten();
    let (client_id, client_secret) = match basic_credentials(&headers) {
        Some((id, secret)) => (Some(id), Some(secret)),
        None => (field("client_id").map(str::to_owned), field("client_secret").map(str::to_owned)),
    };
    let sandbox = &state.config.donation.sandbox;
    if client_id.as_deref() != Some(sandbox.client_id.as_str())
        || client_secret.as_deref() != Some(sandbox.client_secret.expose())
    {
        return Ok(oauth_error(StatusCode::UNAUTHORIZED, "invalid_client", "Unauthorized"));
    }
    let mut conn = state.pool.get().await?;
    match field("grant_type") {
        Some("authorization_code") => {
            let Some(code) = field("code") else {
                return Ok(oauth_error(StatusCode::BAD_REQUEST, "invalid_request", "Missing required parameter: code"));
            };
            let hash = sha256(code);
            let Some((stored, grant)) = store::find_code(&mut conn, &hash).await? else {
                return Ok(oauth_error(StatusCode::BAD_REQUEST, "invalid_grant", "Malformed auth code."));
            };
            let scenario = scenario_of(&grant)?;
            delay(&scenario).await;
            if stored.used_at.is_some() {
                return Ok(oauth_error(
                    StatusCode::BAD_REQUEST,
                    "invalid_grant",
                    "Authorization code was already redeemed.",
                ));
            }
            if stored.expires_at <= Utc::now() {
                return Ok(oauth_error(StatusCode::BAD_REQUEST, "invalid_grant", "Authorization code has expired."));
            }
            if field("redirect_uri") != Some(stored.redirect_uri.as_str()) {
                return Ok(oauth_error(StatusCode::BAD_REQUEST, "redirect_uri_mismatch", "Bad Request"));
            }
            let Some(verifier) = field("code_verifier") else {
                return Ok(oauth_error(StatusCode::BAD_REQUEST, "invalid_grant", "Missing code verifier."));
            };
            // A wrong verifier leaves the code usable: only its holder with the
            // right verifier can redeem it.
            if pkce_challenge(verifier) != stored.code_challenge {
                return Ok(oauth_error(StatusCode::BAD_REQUEST, "invalid_grant", "Invalid code verifier."));
            }
            if !store::consume_code(&mut conn, &hash).await? {
                return Ok(oauth_error(
                    StatusCode::BAD_REQUEST,
                    "invalid_grant",
                    "Authorization code was already redeemed.",
                ));
            }
            issue_tokens(&mut conn, &grant, &scenario, true).await
        }
        Some("refresh_token") => {
            let Some(refresh) = field("refresh_token") else {
                return Ok(oauth_error(
                    StatusCode::BAD_REQUEST,
                    "invalid_request",
                    "Missing required parameter: refresh_token",
                ));
            };
            let revoked =
                || oauth_error(StatusCode::BAD_REQUEST, "invalid_grant", "Token has been expired or revoked.");
            let Some(grant) = store::token_grant(&mut conn, &sha256(refresh), TokenKind::Refresh).await? else {
                return Ok(revoked());
            };
            let scenario = scenario_of(&grant)?;
            delay(&scenario).await;
            if scenario.has(&Failure::RefreshRevoked) && store::has_jobs(&mut conn, grant.id).await? {
                return Ok(revoked());
            }
            issue_tokens(&mut conn, &grant, &scenario, false).await
        }
        Some(other) => {
            Ok(oauth_error(StatusCode::BAD_REQUEST, "unsupported_grant_type", &format!("Invalid grant_type: {other}")))
        }
        None => Ok(oauth_error(StatusCode::BAD_REQUEST, "unsupported_grant_type", "Invalid grant_type: ")),
    }
}

/// `Authorization: Basic base64(id:secret)`, which Google accepts too.
fn basic_credentials(headers: &HeaderMap) -> Option<(String, String)> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let encoded = value.strip_prefix("Basic ").or_else(|| value.strip_prefix("basic "))?;
    let decoded = base64::engine::general_purpose::STANDARD.decode(encoded.trim()).ok()?;
    let (id, secret) = std::str::from_utf8(&decoded).ok()?.split_once(':')?;
    Some((id.to_owned(), secret.to_owned()))
}

async fn issue_tokens(
    conn: &mut diesel_async::AsyncPgConnection,
    grant: &Grant,
    scenario: &Scenario,
    with_refresh: bool,
) -> Result<Response, SandboxError> {
    let lifetime = if scenario.has(&Failure::ExpiredToken) { SHORT_ACCESS_LIFETIME } else { ACCESS_LIFETIME };
    let access = random_token("ya29.sandbox-");
    store::create_token(conn, &sha256(&access), grant.id, TokenKind::Access, Some(Utc::now() + lifetime)).await?;
    let refresh = if with_refresh {
        let refresh = random_token("1//sandbox-");
        store::create_token(conn, &sha256(&refresh), grant.id, TokenKind::Refresh, None).await?;
        Some(refresh)
    } else {
        None
    };
    let scopes: Vec<String> = grant.scopes().map(google_scope).collect();
    let answer = TokenAnswer {
        access_token: access,
        expires_in: lifetime.as_secs(),
        refresh_token: refresh,
        scope: scopes.join(" "),
        token_type: "Bearer",
    };
    Ok((no_store(), axum::Json(answer)).into_response())
}

/// A Data Portability API error in Google's envelope.
pub(crate) fn api_error(status: StatusCode, google_status: &str, message: &str) -> Response {
    let body = serde_json::json!({"error": {"code": status.as_u16(), "message": message, "status": google_status}});
    (status, no_store(), axum::Json(body)).into_response()
}

fn unauthenticated(message: &str) -> Response {
    let mut response = api_error(StatusCode::UNAUTHORIZED, "UNAUTHENTICATED", message);
    response.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static("Bearer realm=\"https://accounts.google.com/\", error=\"invalid_token\""),
    );
    response
}

fn not_found() -> Response {
    api_error(StatusCode::NOT_FOUND, "NOT_FOUND", "Requested entity was not found.")
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
        return Ok(Err(unauthenticated(
            "Request is missing required authentication credential. Expected OAuth 2 access token, login cookie or \
             other valid authentication credential.",
        )));
    };
    let invalid = || {
        unauthenticated(
            "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other \
             valid authentication credential.",
        )
    };
    let Some(grant) = store::token_grant(conn, &sha256(token), TokenKind::Access).await? else {
        return Ok(Err(invalid()));
    };
    let scenario = scenario_of(&grant)?;
    let refused = match staged_refusal(conn, &grant, &scenario).await? {
        None => return Ok(Ok((grant, scenario))),
        Some(Staged::Revoked) => invalid(),
        Some(Staged::RateLimited) => {
            let mut response = api_error(
                StatusCode::TOO_MANY_REQUESTS,
                "RESOURCE_EXHAUSTED",
                "Quota exceeded for quota metric 'Requests' of service 'dataportability.googleapis.com'.",
            );
            response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
            response
        }
        Some(Staged::ServerError) => {
            api_error(StatusCode::SERVICE_UNAVAILABLE, "UNAVAILABLE", "The service is currently unavailable.")
        }
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

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct InitiateRequest {
    #[serde(default)]
    resources: Vec<String>,
    #[serde(rename = "startTime")]
    start_time: Option<String>,
    #[serde(rename = "endTime")]
    end_time: Option<String>,
}

/// `POST /v1/portabilityArchive:initiate`.
async fn initiate(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Result<Response, SandboxError> {
    let mut conn = state.pool.get().await?;
    let (grant, scenario) = authenticated!(&mut conn, &headers);
    let invalid = |message: &str| api_error(StatusCode::BAD_REQUEST, "INVALID_ARGUMENT", message);
    let Ok(request) = serde_json::from_slice::<InitiateRequest>(&body) else {
        return Ok(invalid("Invalid JSON payload received."));
    };
    if request.resources.is_empty() {
        return Ok(invalid("Request contains an invalid argument: resources must not be empty."));
    }
    if let Some(unknown) = request.resources.iter().find(|r| !GOOGLE_RESOURCES.contains(&r.as_str())) {
        return Ok(invalid(&format!("Request contains an invalid argument: unknown resource {unknown}.")));
    }
    let time = |value: &Option<String>| -> Result<Option<DateTime<Utc>>, ()> {
        value.as_deref().map(|t| DateTime::parse_from_rfc3339(t).map(|t| t.to_utc()).map_err(drop)).transpose()
    };
    let (Ok(start_time), Ok(end_time)) = (time(&request.start_time), time(&request.end_time)) else {
        return Ok(invalid("Request contains an invalid argument: startTime and endTime must be RFC 3339 timestamps."));
    };
    if let (Some(start), Some(end)) = (start_time, end_time)
        && start >= end
    {
        return Ok(invalid("Request contains an invalid argument: startTime must be before endTime."));
    }
    if request.resources.iter().any(|r| !grant.allows(r)) {
        let body = serde_json::json!({"error": {
            "code": 403,
            "message": "Request had insufficient authentication scopes.",
            "status": "PERMISSION_DENIED",
            "details": [{
                "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                "reason": "ACCESS_TOKEN_SCOPE_INSUFFICIENT",
                "domain": "googleapis.com",
                "metadata": {"service": "dataportability.googleapis.com",
                             "method": "google.dataportability.v1.PortabilityArchiveService.InitiatePortabilityArchive"}
            }]
        }});
        return Ok((StatusCode::FORBIDDEN, no_store(), axum::Json(body)).into_response());
    }
    let id = random_job_id();
    let job = NewJob {
        id: &id,
        grant_id: grant.id,
        resources: request.resources.iter().map(String::as_str).collect(),
        start_time,
        end_time,
        generation: 0,
    };
    let one_time = scenario.access_type == AccessType::OneTime;
    match store::initiate_job(&mut conn, &job, one_time).await? {
        Err(Repeat::Exhausted) => Ok(api_error(
            StatusCode::TOO_MANY_REQUESTS,
            "RESOURCE_EXHAUSTED",
            "Resource has been exhausted: the one-time access to these resources was already used.",
        )),
        Err(Repeat::TooSoon) => Ok(api_error(
            StatusCode::BAD_REQUEST,
            "FAILED_PRECONDITION",
            "Precondition check failed: an archive of these resources was requested less than 24 hours ago.",
        )),
        Ok(_) => {
            let answer = serde_json::json!({"archiveJobId": id, "accessType": scenario.access_type.api_value()});
            if scenario.has(&Failure::OneTimeExhausted) {
                return Ok(lost_answer(answer));
            }
            Ok((no_store(), axum::Json(answer)).into_response())
        }
    }
}

/// A 200 whose body breaks off halfway: the job exists, the caller never
/// learns its id (`one_time_exhausted`).
fn lost_answer(answer: serde_json::Value) -> Response {
    let bytes = answer.to_string().into_bytes();
    let half = Bytes::from(bytes[..bytes.len() / 2].to_vec());
    let chunks: Vec<Result<Bytes, std::io::Error>> =
        vec![Ok(half), Err(std::io::Error::other("one_time_exhausted: the answer is lost"))];
    Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::CONTENT_LENGTH, bytes.len())
        .body(Body::from_stream(futures_util::stream::iter(chunks)))
        .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
}

/// The caller's own job, or the answer refusing it.
async fn own_job(
    conn: &mut diesel_async::AsyncPgConnection,
    id: &str,
    grant: &Grant,
) -> Result<Option<Job>, SandboxError> {
    Ok(store::find_job(conn, id).await?.filter(|(_, g)| g.id == grant.id).map(|(job, _)| job))
}

/// Google's `portabilityArchiveState`, fields in Google's order.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct StateAnswer {
    name: String,
    state: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    urls: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    start_time: Option<String>,
    export_time: String,
}

/// `GET /v1/archiveJobs/{id}/portabilityArchiveState`.
async fn job_get(
    State(state): State<AppState>,
    Path(rest): Path<String>,
    headers: HeaderMap,
) -> Result<Response, SandboxError> {
    let Some(id) = rest.strip_suffix("/portabilityArchiveState") else {
        return Ok(not_found());
    };
    let mut conn = state.pool.get().await?;
    let (grant, scenario) = authenticated!(&mut conn, &headers);
    if own_job(&mut conn, id, &grant).await?.is_none() {
        return Ok(not_found());
    }
    let mut job = store::count_poll(&mut conn, id).await?;
    if job.state == "IN_PROGRESS"
        && let Some(next) = outcome(&scenario, &job)
    {
        if store::transition_job(&mut conn, id, "IN_PROGRESS", next).await? {
            job.state = next.to_owned();
        } else {
            // Cancelled meanwhile: answer what it is now.
            job = own_job(&mut conn, id, &grant).await?.ok_or_else(|| SandboxError::Internal("job vanished".into()))?;
        }
    }
    let urls = if job.state == "COMPLETE" {
        let key = storage::signing_key(&state.keyring)?;
        let base = &state.config.donation.sandbox.internal_url;
        let parts = google_part_count(&scenario, &job.resources());
        (0..parts)
            .map(|part| storage::signed_url(&key, base, &job.id, part, Utc::now(), storage::URL_LIFETIME))
            .collect()
    } else {
        Vec::new()
    };
    let rfc3339 = |t: DateTime<Utc>| t.to_rfc3339_opts(SecondsFormat::Secs, true);
    let answer = StateAnswer {
        name: format!("archiveJobs/{}/portabilityArchiveState", job.id),
        state: job.state.clone(),
        urls,
        start_time: job.start_time.map(rfc3339),
        export_time: rfc3339(job.end_time.unwrap_or(job.created_at)),
    };
    Ok((no_store(), axum::Json(answer)).into_response())
}

/// The state an in-progress job moves to at this poll, if any.
fn outcome(scenario: &Scenario, job: &Job) -> Option<&'static str> {
    if scenario.has(&Failure::NeverReady) {
        return None;
    }
    let slow = scenario.find_failure(|f| match f {
        Failure::SlowArchive { polls } => Some(*polls),
        _ => None,
    });
    if u32::try_from(job.polls).unwrap_or(0) <= slow.unwrap_or(0) {
        return None;
    }
    let fails_again = scenario.find_failure(|f| match f {
        Failure::JobFailed { again } => Some(*again),
        _ => None,
    });
    if scenario.has(&Failure::JobCancelled) {
        Some("CANCELLED")
    } else if fails_again.is_some_and(|again| u32::try_from(job.generation).unwrap_or(0) <= again) {
        Some("FAILED")
    } else {
        Some("COMPLETE")
    }
}

/// `POST /v1/archiveJobs/{id}:retry` and `…:cancel`.
async fn job_post(
    State(state): State<AppState>,
    Path(rest): Path<String>,
    headers: HeaderMap,
) -> Result<Response, SandboxError> {
    let (id, retry) = match (rest.strip_suffix(":retry"), rest.strip_suffix(":cancel")) {
        (Some(id), _) => (id, true),
        (_, Some(id)) => (id, false),
        _ => return Ok(not_found()),
    };
    let mut conn = state.pool.get().await?;
    let (grant, _) = authenticated!(&mut conn, &headers);
    let Some(job) = own_job(&mut conn, id, &grant).await? else {
        return Ok(not_found());
    };
    let precondition = |message: &str| api_error(StatusCode::BAD_REQUEST, "FAILED_PRECONDITION", message);
    if retry {
        if job.state != "FAILED" {
            return Ok(precondition("Precondition check failed: only a FAILED archive job can be retried."));
        }
        let new_id = random_job_id();
        let new = NewJob {
            id: &new_id,
            grant_id: grant.id,
            resources: job.resources(),
            start_time: job.start_time,
            end_time: job.end_time,
            generation: job.generation + 1,
        };
        store::insert_job(&mut conn, &new).await?;
        return Ok((no_store(), axum::Json(serde_json::json!({"archiveJobId": new_id}))).into_response());
    }
    if !store::transition_job(&mut conn, id, "IN_PROGRESS", "CANCELLED").await? {
        return Ok(precondition("Precondition check failed: only an IN_PROGRESS archive job can be cancelled."));
    }
    Ok((no_store(), axum::Json(serde_json::json!({}))).into_response())
}

/// `POST /v1/authorization:reset`: every token of the grant stops working.
async fn reset(State(state): State<AppState>, headers: HeaderMap) -> Result<Response, SandboxError> {
    let mut conn = state.pool.get().await?;
    let (grant, _) = authenticated!(&mut conn, &headers);
    store::revoke_grant(&mut conn, grant.id).await?;
    Ok((no_store(), axum::Json(serde_json::json!({}))).into_response())
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct AccessTypeAnswer {
    one_time_resources: Vec<String>,
    time_based_resources: Vec<String>,
}

/// `POST /v1/accessType:check`.
async fn access_type_check(State(state): State<AppState>, headers: HeaderMap) -> Result<Response, SandboxError> {
    let mut conn = state.pool.get().await?;
    let (grant, scenario) = authenticated!(&mut conn, &headers);
    let granted: Vec<String> = grant.scopes().map(str::to_owned).collect();
    let answer = if scenario.access_type == AccessType::OneTime {
        AccessTypeAnswer { one_time_resources: granted, time_based_resources: Vec::new() }
    } else {
        AccessTypeAnswer { one_time_resources: Vec::new(), time_based_resources: granted }
    };
    Ok((no_store(), axum::Json(answer)).into_response())
}
