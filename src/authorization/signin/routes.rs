//! The sign-in and logout routes (spec §3.5, §3.6 `/auth/login`):
//!
//! | route | what it does |
//! |---|---|
//! | `GET\|POST /api/v1/authorize` | seals the pending sign-in into `steward_login`, then 302 to the provider (or `{"authorization_url"}` with `X-Requested-With`) |
//! | `GET /auth/login?next=` | the same with `redirect = next` (ngauth and TOS pages send people here) |
//! | `GET /api/v1/oauth2callback` (also `/accounts/google/login/callback/`) | checks state, exchanges the code, verifies the ID token, signs the user in, sets the cookie, sends the browser on (token hand-off to other domains, or the middleauth popup's `postMessage`) |
//! | `GET\|POST /api/v1/logout`, `POST /web/logout`, `POST /logout` | revokes presented login tokens and clears the cookie; never fails |
//!
//! Every `/api/v1/…` route is also served under `/auth/api/v1/…` and
//! `/sticky_auth/api/v1/…` (spec §3.0).

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use chrono::Utc;
use serde_json::json;

use super::config::{DEFAULT_REDIRECT_PATH, LEGACY_REDIRECT_PATH, SigninConfig};
use super::cookie::{self, PENDING_COOKIE, Pending};
use super::oidc::{Oidc, OidcError};
use super::redirect::{RedirectPolicy, TokenHandoff};
use super::store::{self, SignIn};
use crate::app::AppState;
use crate::auth::credentials::cookie_value;
use crate::auth::token;
use crate::dataset::admin::AdminCaller;
use crate::http::{form_pairs, html_escape, script_json};

/// Largest `POST /api/v1/authorize` body read (a redirect URL).
const MAX_BODY: usize = 16 << 10;
/// Prefixes under which DSG clients call `/api/v1/…` routes.
const API_PREFIXES: [&str; 3] = ["/api/v1", "/auth/api/v1", "/sticky_auth/api/v1"];

/// What the handlers share.
#[derive(Clone)]
pub struct Signin {
    app: AppState,
    config: Arc<SigninConfig>,
    oidc: Option<Arc<Oidc>>,
    policy: Arc<RedirectPolicy>,
    handoff: Option<Arc<TokenHandoff>>,
}

/// The routes, with their own state applied.
pub fn routes(app: &AppState) -> Router<AppState> {
    let config = Arc::new(app.config.signin.clone());
    let oidc = config.provider.clone().map(|p| Arc::new(Oidc::new(p, config.redirect_uri.clone())));
    let policy = Arc::new(RedirectPolicy::new(&config.public_url, &config.redirect_hosts));
    let handoff = config
        .token_handoff_param
        .as_deref()
        .map(|param| Arc::new(TokenHandoff::new(param, &config.public_url, config.cookie_domain.as_deref())));
    let state = Signin { app: app.clone(), config, oidc, policy, handoff };
    let mut router = Router::new()
        .route("/auth/login", get(auth_login))
        .route(LEGACY_REDIRECT_PATH, get(callback))
        .route("/web/logout", post(web_logout))
        .route("/logout", post(ngauth_logout));
    for prefix in API_PREFIXES {
        router = router
            .route(&format!("{prefix}/authorize"), get(authorize).post(authorize_post))
            .route(&format!("{prefix}{}", &DEFAULT_REDIRECT_PATH["/api/v1".len()..]), get(callback))
            .route(&format!("{prefix}/logout"), get(api_logout).post(api_logout));
    }
    router.with_state(state)
}

fn json_response(status: StatusCode, body: serde_json::Value) -> Response {
    (status, [(header::CONTENT_TYPE, "application/json")], body.to_string()).into_response()
}

fn error(status: StatusCode, message: &str) -> Response {
    json_response(status, json!({ "error": message }))
}

/// Headers every sign-in response carries: nothing cached, and the opener
/// kept across the provider round trip (Neuroglancer's popups need it).
fn finish(mut response: Response, cookies: &[String]) -> Response {
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert("cross-origin-opener-policy", HeaderValue::from_static("unsafe-none"));
    for c in cookies {
        if let Ok(value) = HeaderValue::from_str(c) {
            headers.append(header::SET_COOKIE, value);
        }
    }
    response
}

fn found(location: &str) -> Response {
    match HeaderValue::from_str(location) {
        Ok(value) => (StatusCode::FOUND, [(header::LOCATION, value)]).into_response(),
        Err(_) => (StatusCode::FOUND, [(header::LOCATION, HeaderValue::from_static("/"))]).into_response(),
    }
}

fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get_all(header::COOKIE).iter().filter_map(|v| v.to_str().ok()).find_map(|v| cookie_value(v, name))
}

fn query_value(pairs: &[(String, String)], name: &str) -> Option<String> {
    pairs.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone())
}

/// The parameters of a sign-in start.
#[derive(Debug, Default)]
struct StartRequest {
    /// `None`: no redirect given; `Some(v)`: given (possibly invalid).
    redirect: Option<String>,
    tos_id: Option<i64>,
    service: Option<String>,
    dataset: Option<String>,
}

impl StartRequest {
    fn from_query(query: Option<&str>) -> Self {
        let pairs = form_pairs(query.unwrap_or_default());
        let non_empty = |name: &str| query_value(&pairs, name).filter(|v| !v.is_empty());
        StartRequest {
            redirect: non_empty("redirect"),
            tos_id: non_empty("tos_id").and_then(|v| v.parse().ok()),
            service: non_empty("service"),
            dataset: non_empty("dataset"),
        }
    }
}

/// `GET /api/v1/authorize`.
async fn authorize(State(s): State<Signin>, headers: HeaderMap, RawQuery(query): RawQuery) -> Response {
    start(&s, &headers, StartRequest::from_query(query.as_deref())).await
}

/// `POST /api/v1/authorize`: `redirect` from the query, else from a JSON or form body.
async fn authorize_post(
    State(s): State<Signin>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> Response {
    let mut request = StartRequest::from_query(query.as_deref());
    if request.redirect.is_none() && body.len() <= MAX_BODY {
        let json = serde_json::from_slice::<serde_json::Value>(&body).ok();
        request.redirect = match json {
            Some(value) => value.get("redirect").and_then(|r| r.as_str()).map(str::to_owned),
            None => query_value(&form_pairs(&String::from_utf8_lossy(&body)), "redirect"),
        }
        .filter(|v| !v.is_empty());
    }
    start(&s, &headers, request).await
}

/// `GET /auth/login?next=`.
async fn auth_login(State(s): State<Signin>, headers: HeaderMap, RawQuery(query): RawQuery) -> Response {
    let pairs = form_pairs(query.as_deref().unwrap_or_default());
    let request =
        StartRequest { redirect: Some(query_value(&pairs, "next").unwrap_or_default()), ..Default::default() };
    start(&s, &headers, request).await
}

/// The origin of the `Referer` when it is an allowlisted viewer's (the
/// middleauth popup's opener, spec §3.5 step 2).
fn opener_origin(s: &Signin, headers: &HeaderMap) -> Option<String> {
    let referer = headers.get(header::REFERER)?.to_str().ok()?;
    let url = reqwest::Url::parse(referer).ok().filter(|u| matches!(u.scheme(), "http" | "https"))?;
    let origin = url.origin().ascii_serialization();
    s.config.middleauth_origins.matches(&origin).then_some(origin)
}

/// Spec §3.5 `/authorize`: nothing is written to the database.
async fn start(s: &Signin, headers: &HeaderMap, request: StartRequest) -> Response {
    let Some(oidc) = &s.oidc else {
        return finish(error(StatusCode::SERVICE_UNAVAILABLE, "Sign-in is not configured"), &[]);
    };
    let redirect = request.redirect.as_deref().map(|r| s.policy.or_root(Some(r)));
    let opener_origin = if redirect.is_none() { opener_origin(s, headers) } else { None };
    let login_hint = match cookie(headers, &s.config.cookie_name) {
        Some(presented) => match s.app.pool.get().await {
            Ok(mut conn) => store::hint_for(&mut conn, presented).await.unwrap_or_else(|e| {
                tracing::warn!(error = %e, "looking up the login hint failed");
                None
            }),
            Err(_) => None,
        },
        None => None,
    };
    let (state, nonce) = (token::random_url_safe(), token::random_url_safe());
    let started = match oidc.start(&state, &nonce, login_hint.as_deref()).await {
        Ok(started) => started,
        Err(e) => {
            tracing::warn!(error = %e, oidc.issuer = %oidc.issuer(), "cannot start a sign-in");
            return finish(error(StatusCode::SERVICE_UNAVAILABLE, "Sign-in provider unavailable"), &[]);
        }
    };
    let pending = Pending {
        state,
        nonce,
        verifier: started.verifier,
        redirect,
        tos_id: request.tos_id,
        service: request.service,
        dataset: request.dataset,
        opener_origin,
        started_at: Utc::now().timestamp(),
    };
    let sealed = cookie::pending_cookie(&s.config, &pending.seal(&s.app.keyring));
    let ajax = headers.get("x-requested-with").is_some_and(|v| !v.is_empty());
    let response = if ajax {
        json_response(StatusCode::OK, json!({ "authorization_url": started.url }))
    } else {
        found(&started.url)
    };
    finish(response, &[sealed])
}

/// `GET /api/v1/oauth2callback?code=…&state=…`.
async fn callback(State(s): State<Signin>, headers: HeaderMap, RawQuery(query): RawQuery) -> Response {
    let clear = cookie::clear_pending_cookie(&s.config);
    let response = match complete(&s, &headers, query.as_deref()).await {
        Ok((response, token_cookie)) => return finish(response, &[clear, token_cookie]),
        Err(response) => response,
    };
    finish(response, &[clear])
}

/// Spec §3.5 callback, errors as DSG renders them.
async fn complete(s: &Signin, headers: &HeaderMap, query: Option<&str>) -> Result<(Response, String), Response> {
    let pairs = form_pairs(query.unwrap_or_default());
    if let Some(e) = query_value(&pairs, "error") {
        return Err(error(StatusCode::BAD_REQUEST, &e));
    }
    let Some(code) = query_value(&pairs, "code").filter(|c| !c.is_empty()) else {
        return Err(error(StatusCode::BAD_REQUEST, "Missing authorization code"));
    };
    let invalid_state = || error(StatusCode::BAD_REQUEST, "Invalid state parameter");
    let now = Utc::now();
    let pending = cookie(headers, PENDING_COOKIE)
        .and_then(|value| Pending::open(&s.app.keyring, value, now))
        .ok_or_else(invalid_state)?;
    let returned = query_value(&pairs, "state").unwrap_or_default();
    // Hashes compared, so the comparison's timing says nothing about the state.
    let (expected_hash, returned_hash) = (token::hash(&pending.state), token::hash(&returned));
    if expected_hash != returned_hash {
        return Err(invalid_state());
    }
    let oidc = s.oidc.as_ref().ok_or_else(|| error(StatusCode::SERVICE_UNAVAILABLE, "Sign-in is not configured"))?;
    let unavailable = |e: &dyn std::fmt::Display| {
        tracing::warn!(error = %e, "sign-in: database unavailable");
        error(StatusCode::SERVICE_UNAVAILABLE, "Service unavailable")
    };
    let mut conn = s.app.pool.get().await.map_err(|e| unavailable(&e))?;
    let expires =
        chrono::DateTime::from_timestamp(pending.started_at + cookie::PENDING_MAX_AGE_SECS + 60, 0).unwrap_or(now);
    if !store::consume_state(&mut conn, &expected_hash.0, expires).await.map_err(|e| unavailable(&e))? {
        return Err(invalid_state());
    }

    let identity = match oidc.finish(&code, &pending.verifier, &pending.nonce).await {
        Ok(identity) => identity,
        Err(e @ (OidcError::Exchange(_) | OidcError::Discovery(_))) => {
            tracing::warn!(error = %e, "sign-in: token exchange failed");
            return Err(error(StatusCode::INTERNAL_SERVER_ERROR, "Token exchange failed"));
        }
        Err(e @ OidcError::IdToken(_)) => {
            tracing::warn!(error = %e, "sign-in: ID token refused");
            return Err(error(StatusCode::INTERNAL_SERVER_ERROR, "ID token verification failed"));
        }
    };
    let email = identity
        .email
        .as_deref()
        .and_then(|e| crate::auth::ops::validate_email(e).ok())
        .ok_or_else(|| error(StatusCode::BAD_REQUEST, "No email in token"))?;
    if !identity.email_verified {
        return Err(error(StatusCode::BAD_REQUEST, "Email not verified"));
    }

    let presented = cookie(headers, &s.config.cookie_name);
    let lifetime = chrono::Duration::seconds(s.config.cookie_max_age.as_secs() as i64);
    let outcome = store::sign_in(&mut conn, &identity, &email, presented, lifetime, s.config.login_tokens_max)
        .await
        .map_err(|e| {
            tracing::error!(error = %e, "sign-in: storing the sign-in failed");
            error(StatusCode::INTERNAL_SERVER_ERROR, "Sign-in failed")
        })?;
    let (user_id, plain, revoked) = match outcome {
        SignIn::Issued { user_id, token, revoked, .. } => (user_id, token, revoked),
        SignIn::Disabled => {
            tracing::info!(
                user.email_domain = email.rsplit('@').next().unwrap_or_default(),
                "sign-in refused: account disabled"
            );
            let page = "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Account disabled</title></head>\
                        <body><h1>Account disabled</h1><p>This account is disabled. Ask an administrator.</p></body></html>";
            return Err(
                (StatusCode::FORBIDDEN, [(header::CONTENT_TYPE, "text/html; charset=utf-8")], page).into_response()
            );
        }
    };
    for id in revoked {
        s.app.resolver.evict(&format!("token:{id}"));
    }
    s.app.resolver.evict(&format!("user:{user_id}"));
    tracing::info!(user.id = user_id, "signed in");
    let token_cookie = cookie::token_cookie(&s.config, &plain, Utc::now());
    let next = next_hop(s, &mut conn, user_id, &pending, &email, &plain).await;
    Ok((next, token_cookie))
}

/// Spec §3.5 step 4: TOS first, then the redirect (with the token hand-off,
/// §4.5), else the middleauth popup's page or a small page.
async fn next_hop(
    s: &Signin,
    conn: &mut diesel_async::AsyncPgConnection,
    user_id: i64,
    pending: &Pending,
    email: &str,
    token: &str,
) -> Response {
    let redirect = pending.redirect.as_deref().unwrap_or("/");
    let encode = |v: &str| form_urlencoded::byte_serialize(v.as_bytes()).collect::<String>();
    if let Some(tos_id) = pending.tos_id
        && store::tos_unaccepted(conn, user_id, tos_id).await.unwrap_or(false)
    {
        return found(&format!("/api/v1/tos/{tos_id}/accept?redirect={}", encode(redirect)));
    }
    if let (Some(service), Some(dataset)) = (&pending.service, &pending.dataset) {
        let caller = AdminCaller { user_id, admin: false, sc: false };
        let pending_tos = crate::dataset::tos::pending(conn, caller, dataset, Some(service), None).await;
        if pending_tos.is_ok_and(|docs| !docs.is_empty()) {
            return found(&format!(
                "/web/tos/service-check/?service={}&dataset={}&next={}",
                encode(service),
                encode(dataset),
                encode(redirect)
            ));
        }
    }
    if let Some(redirect) = &pending.redirect {
        let handed = s.handoff.as_ref().and_then(|h| h.apply(redirect, token));
        return found(handed.as_deref().unwrap_or(redirect));
    }
    if let Some(origin) = &pending.opener_origin {
        return match crate::dataset::middleauth::urls(conn).await {
            Ok(app_urls) => middleauth_page(origin, token, &app_urls),
            Err(e) => {
                tracing::error!(error = %e, "sign-in: reading the middleauth apps failed");
                error(StatusCode::SERVICE_UNAVAILABLE, "Service unavailable")
            }
        };
    }
    let email = html_escape(email);
    let page = format!(
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Signed in</title></head>\
         <body><h1>Signed in</h1><p>You are signed in as <strong id=\"signed-in-as\">{email}</strong>.</p>\
         <p><a href=\"/\">Continue</a></p></body></html>"
    );
    (StatusCode::OK, [(header::CONTENT_TYPE, "text/html; charset=utf-8")], page).into_response()
}

/// Spec §3.5 step 5: hands `{token, app_urls}` to the viewer that opened the
/// popup, only at its allowlisted origin, then closes; without an opener it
/// goes home. The script runs under a per-response nonce.
fn middleauth_page(origin: &str, token: &str, app_urls: &[String]) -> Response {
    let nonce = token::random_url_safe();
    let html = format!(
        r#"<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>Signed in</title></head>
<body><h1>Signed in</h1><p>You may close this window.</p>
<script id="middleauth-message" type="application/json">{message}</script>
<script id="middleauth-origin" type="application/json">{origin}</script>
<script nonce="{nonce}">(function(){{var m=JSON.parse(document.getElementById('middleauth-message').textContent);
var o=JSON.parse(document.getElementById('middleauth-origin').textContent);
if(window.opener){{window.opener.postMessage(m,o);window.close();}}else{{window.location.replace('/');}}}}());</script></body></html>
"#,
        message = script_json(&json!({ "token": token, "app_urls": app_urls })),
        origin = script_json(&json!(origin)),
    );
    let csp = format!(
        "default-src 'none'; script-src 'nonce-{nonce}'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    );
    let mut response = (StatusCode::OK, [(header::CONTENT_TYPE, "text/html; charset=utf-8")], html).into_response();
    if let Ok(csp) = HeaderValue::from_str(&csp) {
        response.headers_mut().insert(header::CONTENT_SECURITY_POLICY, csp);
    }
    response
}

/// Revokes the presented login tokens (cookie and `Authorization` header);
/// failures are logged, never answered (spec §3.5: logout never fails).
async fn revoke_presented(s: &Signin, headers: &HeaderMap) {
    let mut presented: Vec<String> = Vec::new();
    if let Some(value) = cookie(headers, &s.config.cookie_name) {
        presented.push(value.to_owned());
    }
    if let Some((scheme, value)) =
        headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).and_then(|v| v.split_once(' '))
        && matches!(scheme.to_ascii_lowercase().as_str(), "bearer" | "token")
    {
        presented.push(value.trim().to_owned());
    }
    if presented.is_empty() {
        return;
    }
    let revoked = match s.app.pool.get().await {
        Ok(mut conn) => store::revoke_login_tokens(&mut conn, &presented).await,
        Err(e) => {
            tracing::warn!(error = %e, "logout: database unavailable; the cookie is cleared anyway");
            return;
        }
    };
    match revoked {
        Ok(ids) => {
            for id in ids {
                s.app.resolver.evict(&format!("token:{id}"));
            }
        }
        Err(e) => tracing::warn!(error = %e, "logout: revoking the login token failed"),
    }
}

/// `GET|POST /api/v1/logout[?redirect=]`.
async fn api_logout(State(s): State<Signin>, headers: HeaderMap, RawQuery(query): RawQuery) -> Response {
    revoke_presented(&s, &headers).await;
    let pairs = form_pairs(query.as_deref().unwrap_or_default());
    let response = match query_value(&pairs, "redirect").filter(|r| !r.is_empty()) {
        Some(redirect) => found(&s.policy.or_root(Some(&redirect))),
        None => json_response(StatusCode::OK, json!({ "status": "logged out" })),
    };
    finish(response, &[cookie::clear_token_cookie(&s.config)])
}

/// `POST /web/logout`: like `/api/v1/logout`, then home.
async fn web_logout(State(s): State<Signin>, headers: HeaderMap) -> Response {
    revoke_presented(&s, &headers).await;
    finish(found("/"), &[cookie::clear_token_cookie(&s.config)])
}

/// `POST /logout` (ngauth's): revokes too (DSG only cleared the cookie).
async fn ngauth_logout(State(s): State<Signin>, headers: HeaderMap) -> Response {
    revoke_presented(&s, &headers).await;
    finish(json_response(StatusCode::OK, json!({ "status": "logged out" })), &[cookie::clear_token_cookie(&s.config)])
}
