//! The ngauth routes (spec §3.6): `POST /token`, `GET /login[?origin=]`,
//! `POST /gcs_token`, `POST /activate`, and the two preflights. Handlers check
//! the origin, resolve the credential and call into [`super::token`],
//! [`super::bucket`] and [`super::gcs`]; every refusal is a small JSON body a
//! browser can read (or, for disallowed origins at `/gcs_token`, cannot).

use axum::Router;
use axum::body::Body;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use chrono::Utc;
use ring::rand::SecureRandom as _;
use serde_json::json;

use super::Ngauth;
use super::bucket::{self, Decision};
use super::gcs::MintError;
use super::origin::{self, OriginCheck};
use super::token;
use crate::auth::credentials::{self, Source};
use crate::auth::{AuthError, Caller, Principal, PrincipalKind};
use crate::dataset::admin::AdminCaller;
use crate::dataset::tos::{self, TosKey};
use crate::error::Error;
use crate::http::{html_escape, script_json};

/// Largest `/gcs_token` and `/activate` body read.
const MAX_BODY: usize = 4 << 10;

/// The routes, over ngauth's own state.
pub(super) fn routes(ngauth: Ngauth) -> Router<()> {
    Router::new()
        .route("/token", post(token_route).options(preflight))
        .route("/gcs_token", post(gcs_token).options(preflight))
        .route("/login", get(login))
        .route("/activate", post(activate))
        .with_state(ngauth)
}

fn json_reply(status: StatusCode, body: serde_json::Value) -> Response {
    (status, [(header::CONTENT_TYPE, "application/json")], body.to_string()).into_response()
}

fn error(status: StatusCode, message: &str) -> Response {
    json_reply(status, json!({"error": message}))
}

/// The `Origin` header: `None` when absent, `Some(None)` when not text.
fn origin_header(headers: &HeaderMap) -> Option<Option<&str>> {
    headers.get(header::ORIGIN).map(|v| v.to_str().ok())
}

/// `Access-Control-Allow-Origin: <origin>`, `…-Credentials: true`, `Vary: Origin`.
fn add_cors(response: &mut Response, origin: &str) {
    let headers = response.headers_mut();
    if let Ok(value) = HeaderValue::from_str(origin) {
        headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, value);
        headers.insert(header::ACCESS_CONTROL_ALLOW_CREDENTIALS, HeaderValue::from_static("true"));
        headers.insert(header::VARY, HeaderValue::from_static("Origin"));
    }
}

fn no_store(response: &mut Response) {
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
}

/// The active user behind the request's credential (header, else cookie), or
/// the refusal to send. Service accounts and JWTs are not ngauth users.
async fn signed_in_user(ngauth: &Ngauth, headers: &HeaderMap) -> Result<(std::sync::Arc<Principal>, Source), Response> {
    let not_logged_in = || error(StatusCode::UNAUTHORIZED, "Not logged in");
    let credential = match credentials::from_headers(headers) {
        Ok(Some(c)) => c,
        Ok(None) | Err(_) => return Err(not_logged_in()),
    };
    match ngauth.app.resolver.resolve_token(&credential.token).await {
        Caller::Principal(p) if p.kind == PrincipalKind::User => Ok((p, credential.source)),
        Caller::Refused(AuthError::Unavailable) => {
            Err(error(StatusCode::SERVICE_UNAVAILABLE, "cannot check credentials right now; retry shortly"))
        }
        _ => Err(not_logged_in()),
    }
}

/// A fresh ngauth token for `principal`.
fn mint_for(ngauth: &Ngauth, principal: &Principal) -> String {
    let lifetime = i64::try_from(ngauth.app.config.ngauth.token_lifetime.as_secs()).unwrap_or(3600);
    token::mint(&ngauth.app.keyring, principal.id, principal.token_id, Utc::now().timestamp() + lifetime)
}

async fn token_route(State(ngauth): State<Ngauth>, headers: HeaderMap) -> Response {
    let origin = match origin_header(&headers) {
        None => None,
        Some(value) => match value.map(|o| (o, origin::check(&ngauth.app.config.ngauth, o))) {
            None | Some((_, OriginCheck::Invalid)) => {
                return framed(error(StatusCode::BAD_REQUEST, "Invalid Origin"));
            }
            // Readable by the browser, so Neuroglancer can say the origin is refused.
            Some((o, OriginCheck::NotAllowed)) => {
                let mut response = framed(error(StatusCode::FORBIDDEN, "Origin not allowed"));
                add_cors(&mut response, o);
                return response;
            }
            Some((o, OriginCheck::Allowed)) => Some(o),
        },
    };
    let mut response = match signed_in_user(&ngauth, &headers).await {
        Ok((principal, _)) => {
            ([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], mint_for(&ngauth, &principal)).into_response()
        }
        Err(refusal) => refusal,
    };
    if let Some(o) = origin {
        add_cors(&mut response, o);
    }
    framed(response)
}

/// `X-Frame-Options: deny` and `Cache-Control: no-store` (every `/token` answer).
fn framed(mut response: Response) -> Response {
    response.headers_mut().insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("deny"));
    no_store(&mut response);
    response
}

/// `OPTIONS /token` and `/gcs_token`: the five CORS headers for an allowed
/// origin, none otherwise; never touches the database.
async fn preflight(State(ngauth): State<Ngauth>, headers: HeaderMap) -> Response {
    let mut response = StatusCode::OK.into_response();
    if let Some(Some(o)) = origin_header(&headers)
        && origin::check(&ngauth.app.config.ngauth, o) == OriginCheck::Allowed
        && let Ok(value) = HeaderValue::from_str(o)
    {
        let h = response.headers_mut();
        h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, value);
        h.insert(header::ACCESS_CONTROL_ALLOW_METHODS, HeaderValue::from_static("POST, OPTIONS"));
        h.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, HeaderValue::from_static("Content-Type"));
        h.insert(header::ACCESS_CONTROL_ALLOW_CREDENTIALS, HeaderValue::from_static("true"));
        h.insert(header::ACCESS_CONTROL_MAX_AGE, HeaderValue::from_static("86400"));
    }
    response
}

/// `GET /login[?origin=…]`: the status page, or the popup handshake.
async fn login(State(ngauth): State<Ngauth>, RawQuery(query): RawQuery, headers: HeaderMap) -> Response {
    let pairs = crate::http::form_pairs(query.as_deref().unwrap_or_default());
    let Some(origin) = pairs.into_iter().find(|(k, _)| k == "origin").map(|(_, v)| v) else {
        return status_page(&ngauth, &headers).await;
    };
    match origin::check(&ngauth.app.config.ngauth, &origin) {
        OriginCheck::Invalid => {
            let mut response =
                (StatusCode::BAD_REQUEST, [(header::CONTENT_TYPE, "text/plain; charset=utf-8")], "Invalid origin\n")
                    .into_response();
            no_store(&mut response);
            response
        }
        // Nothing secret is sent, so no sign-in is needed to say so.
        OriginCheck::NotAllowed => popup(&json!("badorigin"), &origin),
        OriginCheck::Allowed => match signed_in_user(&ngauth, &headers).await {
            Ok((principal, _)) => popup(&json!({"token": mint_for(&ngauth, &principal)}), &origin),
            Err(_) => {
                let back = format!("/login?origin={}", encode(&origin));
                let mut response =
                    (StatusCode::FOUND, [(header::LOCATION, format!("/auth/login?next={}", encode(&back)))])
                        .into_response();
                no_store(&mut response);
                response
            }
        },
    }
}

fn encode(value: &str) -> String {
    form_urlencoded::byte_serialize(value.as_bytes()).collect()
}

fn nonce() -> String {
    use base64::Engine as _;
    let mut bytes = [0u8; 16];
    ring::rand::SystemRandom::new().fill(&mut bytes).expect("system random source");
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// An HTML page with a per-response script nonce in its CSP, uncached, and
/// with `window.opener` kept (COOP `unsafe-none`) for the popup handshake.
fn page(status: StatusCode, nonce: &str, html: String) -> Response {
    let csp = format!(
        "default-src 'none'; script-src 'nonce-{nonce}'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    );
    let mut response = (status, [(header::CONTENT_TYPE, "text/html; charset=utf-8")], html).into_response();
    let h = response.headers_mut();
    if let Ok(csp) = HeaderValue::from_str(&csp) {
        h.insert(header::CONTENT_SECURITY_POLICY, csp);
    }
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(HeaderName::from_static("cross-origin-opener-policy"), HeaderValue::from_static("unsafe-none"));
    response
}

/// The popup page: posts `payload` to `origin` (the opener) and closes.
fn popup(payload: &serde_json::Value, origin: &str) -> Response {
    let nonce = nonce();
    let html = format!(
        r#"<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>Completing login</title></head>
<body><h2>Completing login</h2><p>You may close this window.</p>
<script id="ngauth-payload" type="application/json">{payload}</script>
<script id="ngauth-origin" type="application/json">{origin}</script>
<script nonce="{nonce}">(function(){{var p=JSON.parse(document.getElementById('ngauth-payload').textContent);
var o=JSON.parse(document.getElementById('ngauth-origin').textContent);
if(window.opener){{window.opener.postMessage(p,o);}}window.close();}}());</script></body></html>
"#,
        payload = script_json(payload),
        origin = script_json(&json!(origin)),
    );
    page(StatusCode::OK, &nonce, html)
}

/// `GET /login` without `origin`: who is signed in.
async fn status_page(ngauth: &Ngauth, headers: &HeaderMap) -> Response {
    let body = match signed_in_user(ngauth, headers).await {
        Ok((principal, _)) => format!(
            r#"<p>Logged in as {}</p><form method="post" action="/logout"><button type="submit">Log out</button></form>"#,
            html_escape(&principal.email)
        ),
        Err(_) => r#"<p>Not logged in</p><p><a href="/auth/login?next=%2Flogin">Log in</a></p>"#.to_owned(),
    };
    let html = format!(
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Steward login</title></head><body>\
         <h2>Steward</h2>{body}</body></html>\n"
    );
    page(StatusCode::OK, &nonce(), html)
}

/// `POST /gcs_token` (spec §3.6): `{token, bucket}` → `{token}`.
async fn gcs_token(State(ngauth): State<Ngauth>, headers: HeaderMap, body: Body) -> Response {
    let origin = match origin_header(&headers) {
        None => None,
        Some(value) => match value.map(|o| (o, origin::check(&ngauth.app.config.ngauth, o))) {
            Some((o, OriginCheck::Allowed)) => Some(o),
            // No CORS headers: a disallowed page cannot even read the refusal.
            _ => return error(StatusCode::FORBIDDEN, "Origin not allowed"),
        },
    };
    let mut response = gcs_token_reply(&ngauth, body).await;
    no_store(&mut response);
    if let Some(o) = origin {
        add_cors(&mut response, o);
    }
    response
}

async fn gcs_token_reply(ngauth: &Ngauth, body: Body) -> Response {
    let Ok(bytes) = axum::body::to_bytes(body, MAX_BODY).await else {
        return error(StatusCode::BAD_REQUEST, "Invalid request body");
    };
    // JSON whatever the Content-Type: Neuroglancer sends text/plain (a CORS simple request).
    let Ok(serde_json::Value::Object(fields)) = serde_json::from_slice::<serde_json::Value>(&bytes) else {
        return error(StatusCode::BAD_REQUEST, "Invalid request body");
    };
    let text = |name: &str| fields.get(name).and_then(|v| v.as_str()).filter(|s| !s.is_empty());
    let (Some(presented), Some(bucket)) = (text("token"), text("bucket")) else {
        return error(StatusCode::BAD_REQUEST, "Missing token or bucket");
    };
    let invalid = || error(StatusCode::UNAUTHORIZED, "Invalid authentication token");
    let Ok(claims) = token::verify(&ngauth.app.keyring, presented, Utc::now().timestamp()) else {
        return invalid();
    };
    let user = claims.user_id;
    let decision = match authorize(ngauth, &claims, bucket).await {
        Ok(Some(decision)) => decision,
        Ok(None) => return invalid(),
        Err(e) => return internal(e),
    };
    let log = |decision: &str, reason: &str| tracing::info!(user, bucket, decision, reason, "gcs_token");
    match decision {
        Decision::UnknownBucket => {
            log("denied", "unknown_bucket");
            error(StatusCode::FORBIDDEN, "Access denied")
        }
        Decision::NoCoverage => {
            log("denied", "no_coverage");
            error(StatusCode::FORBIDDEN, "Access denied")
        }
        Decision::TosRequired { dataset, version } => {
            log("denied", "missing_tos");
            let mut url =
                format!("{}/web/tos/service-check/?dataset={}", ngauth.app.config.public_url, encode(&dataset));
            if let Some(v) = &version {
                url.push_str(&format!("&version={}", encode(v)));
            }
            let message = format!("Accept the terms of service for dataset {dataset} at {url}");
            json_reply(StatusCode::FORBIDDEN, json!({"error": "tos_required", "message": message, "tos_url": url}))
        }
        Decision::Issue(issue) => match ngauth.minter.token_for(bucket).await {
            Ok(token) => {
                log("issued", issue.reason());
                json_reply(StatusCode::OK, json!({"token": token.expose()}))
            }
            Err(e) => {
                let (status, message, reason) = match &e {
                    MintError::SourceUnavailable(_) => {
                        (StatusCode::SERVICE_UNAVAILABLE, "Credential service unavailable", "source_unavailable")
                    }
                    MintError::StsUnreachable(_) => {
                        (StatusCode::SERVICE_UNAVAILABLE, "Credential service unavailable", "sts_failed")
                    }
                    MintError::StsFailed(_) => (StatusCode::BAD_GATEWAY, "Credential exchange failed", "sts_failed"),
                };
                tracing::warn!(user, bucket, decision = "denied", reason, error = %e, "gcs_token");
                error(status, message)
            }
        },
    }
}

/// The bucket decision for the token's user; `None` when the login token it
/// came from no longer stands or the user is gone or disabled.
async fn authorize(ngauth: &Ngauth, claims: &token::Claims, bucket: &str) -> Result<Option<Decision>, Error> {
    let credential = bucket::Credential { id: claims.credential_id, user_id: claims.user_id };
    let candidates = {
        let mut conn = ngauth.app.pool.get().await?;
        match bucket::candidates(&mut conn, credential, bucket).await? {
            Some(candidates) => candidates,
            None => return Ok(None),
        }
    };
    let permissions = ngauth.app.resolver.permissions();
    let snapshot = match permissions.snapshot(&ngauth.app.pool, PrincipalKind::User, claims.user_id).await {
        Ok(s) => s,
        Err(Error::Unauthenticated(_)) => return Ok(None),
        Err(e) => return Err(e),
    };
    Ok(Some(bucket::decide(&snapshot.inputs, &candidates)))
}

fn internal(e: Error) -> Response {
    match e {
        Error::Unavailable(_) => error(StatusCode::SERVICE_UNAVAILABLE, "Service unavailable; retry shortly"),
        other => {
            tracing::error!(error = %other, "ngauth request failed");
            error(StatusCode::INTERNAL_SERVER_ERROR, "Internal error")
        }
    }
}

/// Whether a cookie-authenticated POST comes from Steward's own pages or an
/// allowed viewer (`Origin`, else `Referer`): the cookie is `SameSite=None`,
/// so any site could otherwise make the browser send it (spec §4.2).
fn same_site_post(ngauth: &Ngauth, headers: &HeaderMap) -> bool {
    let public = &ngauth.app.config.public_url;
    let public_origin =
        public.find("://").and_then(|i| public[i + 3..].find('/').map(|j| &public[..i + 3 + j])).unwrap_or(public);
    let from = match headers.get(header::ORIGIN) {
        Some(o) => o.to_str().ok().map(str::to_owned),
        None => headers.get(header::REFERER).and_then(|r| r.to_str().ok()).map(|r| {
            let end = r.find("://").and_then(|i| r[i + 3..].find('/').map(|j| i + 3 + j)).unwrap_or(r.len());
            r[..end].to_owned()
        }),
    };
    from.is_some_and(|o| o == public_origin || origin::check(&ngauth.app.config.ngauth, &o) == OriginCheck::Allowed)
}

/// `POST /activate`: accept a TOS document (`{"tos_id":…}` or `tos_id=…`).
/// A `bucket` field is read by nobody: Steward never edits bucket IAM (DSG let
/// any signed-in user add themselves to any bucket's policy this way).
async fn activate(State(ngauth): State<Ngauth>, headers: HeaderMap, body: Body) -> Response {
    let mut response = activate_reply(&ngauth, &headers, body).await;
    no_store(&mut response);
    response
}

async fn activate_reply(ngauth: &Ngauth, headers: &HeaderMap, body: Body) -> Response {
    let (principal, source) = match signed_in_user(ngauth, headers).await {
        Ok(signed_in) => signed_in,
        Err(refusal) => return refusal,
    };
    if source == Source::Cookie && !same_site_post(ngauth, headers) {
        return error(StatusCode::FORBIDDEN, "Origin not allowed");
    }
    let Ok(bytes) = axum::body::to_bytes(body, MAX_BODY).await else {
        return error(StatusCode::BAD_REQUEST, "Invalid request body");
    };
    let Some(tos_id) = tos_id_of(&bytes) else {
        return error(StatusCode::BAD_REQUEST, "Missing tos_id");
    };
    let caller = AdminCaller {
        user_id: principal.id,
        admin: principal.is_admin(),
        sc: principal.groups.iter().any(|g| g == "sc"),
    };
    let user_agent = headers.get(header::USER_AGENT).and_then(|v| v.to_str().ok());
    let accepted = match ngauth.app.pool.get().await {
        Ok(mut conn) => tos::accept(&mut conn, caller, &TosKey::Id(tos_id), user_agent).await,
        Err(e) => Err(e.into()),
    };
    match accepted {
        Ok(_) => {
            // This replica's next answer sees the acceptance at once; others on NOTIFY.
            ngauth.app.resolver.evict(&format!("user:{}", principal.id));
            json_reply(StatusCode::OK, json!({"status": "activated"}))
        }
        Err(Error::NotFound(_)) => error(StatusCode::NOT_FOUND, "TOS document not found"),
        Err(Error::PermissionDenied(_)) => error(StatusCode::FORBIDDEN, "Access denied"),
        Err(Error::FailedPrecondition(message)) => error(StatusCode::BAD_REQUEST, &message),
        Err(e) => internal(e),
    }
}

/// `tos_id` from a JSON object (number or numeric string) or a form body.
fn tos_id_of(body: &[u8]) -> Option<i64> {
    if let Ok(serde_json::Value::Object(fields)) = serde_json::from_slice::<serde_json::Value>(body) {
        return match fields.get("tos_id")? {
            serde_json::Value::Number(n) => n.as_i64(),
            serde_json::Value::String(s) => s.trim().parse().ok(),
            _ => None,
        };
    }
    let pairs = crate::http::form_pairs(&String::from_utf8_lossy(body));
    pairs.into_iter().find(|(k, _)| k == "tos_id").and_then(|(_, v)| v.trim().parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tos_ids_from_json_or_forms() {
        assert_eq!(tos_id_of(br#"{"tos_id":12}"#), Some(12));
        assert_eq!(tos_id_of(br#"{"tos_id":"12"}"#), Some(12));
        assert_eq!(tos_id_of(b"tos_id=12&bucket=x"), Some(12));
        assert_eq!(tos_id_of(br#"{"bucket":"x"}"#), None);
        assert_eq!(tos_id_of(b"bucket=x"), None);
        assert_eq!(tos_id_of(b""), None);
    }
}
