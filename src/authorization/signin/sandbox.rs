//! The sandbox OIDC provider at `/sandbox/oidc` (on unless production): a
//! real authorization-code provider with PKCE, so sign-in works offline, in
//! development and in tests, through the same client code as Google.
//!
//! | route | answer |
//! |---|---|
//! | `GET /.well-known/openid-configuration` | issuer (`<public URL>/sandbox/oidc`), endpoints, `S256` |
//! | `GET /jwks` | the signing keys |
//! | `GET /authorize` | the account picker: configured accounts, free e-mail entry, "Deny"; and a failure mode to stage |
//! | `POST /authorize/decision` | a single-use code (5 minutes), 302 back to the registered `redirect_uri` with `code` and `state` |
//! | `POST /token` | checks client, code, `redirect_uri` and PKCE S256; answers `id_token` (RS256 with `STEWARD_OIDC_SANDBOX_RSA_KEY`, else ES256) |
//!
//! Failure modes (`forge` on the decision) make the token endpoint answer an
//! ID token Steward must refuse: `wrong_issuer`, `wrong_audience`,
//! `bad_signature`, `expired`, `wrong_nonce`, `unverified_email`, `no_email`.
//! Keys live in memory: ring cannot generate RSA keys, so RS256 needs the
//! key file; a restart publishes new keys.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use serde_json::{Value, json};

use super::config::{
    DEFAULT_REDIRECT_PATH, LEGACY_REDIRECT_PATH, SANDBOX_CLIENT_ID, SANDBOX_CLIENT_SECRET, SANDBOX_PATH, SandboxConfig,
};
use crate::app::AppState;
use crate::auth::jwt::sandbox::{MintOptions, SandboxAlg, SandboxIssuer};
use crate::http::form_pairs;

/// How long a code may wait for its exchange.
const CODE_LIFETIME_SECS: i64 = 300;
/// ID token lifetime.
const ID_TOKEN_SECS: i64 = 3600;
/// Most codes waiting at once (abandoned sign-ins are forgotten beyond it).
const MAX_CODES: usize = 10_000;
/// The staged failure modes.
pub const FORGERIES: [&str; 7] =
    ["wrong_issuer", "wrong_audience", "bad_signature", "expired", "wrong_nonce", "unverified_email", "no_email"];

struct Code {
    redirect_uri: String,
    challenge: String,
    nonce: String,
    email: String,
    name: String,
    forge: Option<String>,
    expires_at: i64,
}

#[derive(Clone)]
struct Sandbox {
    issuer: SandboxIssuer,
    config: Arc<SandboxConfig>,
    redirect_uris: Arc<[String; 2]>,
    alg: SandboxAlg,
    codes: Arc<Mutex<HashMap<String, Code>>>,
}

/// The sandbox routes, empty unless the sandbox provider is on.
///
/// # Panics
/// When the RSA key file (validated at startup) cannot be read any more.
pub fn routes(app: &AppState) -> Router<AppState> {
    let signin = &app.config.signin;
    let Some(config) = signin.sandbox.clone() else { return Router::new() };
    let rsa = config.rsa_key.as_ref().map(|path| {
        std::fs::read(path).unwrap_or_else(|e| panic!("reading STEWARD_OIDC_SANDBOX_RSA_KEY {}: {e}", path.display()))
    });
    let issuer = SandboxIssuer::new(config.public_base.clone(), rsa.as_deref())
        .unwrap_or_else(|e| panic!("STEWARD_OIDC_SANDBOX_RSA_KEY: {e}"));
    let public = &signin.public_url;
    let state = Sandbox {
        issuer,
        alg: if rsa.is_some() { SandboxAlg::Rs256 } else { SandboxAlg::Es256 },
        config: Arc::new(config),
        redirect_uris: Arc::new([
            format!("{public}{DEFAULT_REDIRECT_PATH}"),
            format!("{public}{LEGACY_REDIRECT_PATH}"),
        ]),
        codes: Arc::default(),
    };
    Router::new()
        .route(&format!("{SANDBOX_PATH}/.well-known/openid-configuration"), get(discovery))
        .route(&format!("{SANDBOX_PATH}/jwks"), get(jwks))
        .route(&format!("{SANDBOX_PATH}/authorize"), get(authorize))
        .route(&format!("{SANDBOX_PATH}/authorize/decision"), post(decision))
        .route(&format!("{SANDBOX_PATH}/token"), post(token))
        .with_state(state)
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;").replace('\'', "&#39;")
}

fn value(pairs: &[(String, String)], name: &str) -> String {
    pairs.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone()).unwrap_or_default()
}

fn oauth_error(status: StatusCode, code: &str, description: &str) -> Response {
    (status, axum::Json(json!({ "error": code, "error_description": description }))).into_response()
}

fn page_error(message: &str) -> Response {
    let body = format!(
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Sandbox sign-in error</title></head>\
         <body><h1>Sandbox sign-in error</h1><p id=\"error\">{}</p></body></html>",
        escape(message)
    );
    (StatusCode::BAD_REQUEST, Html(body)).into_response()
}

async fn discovery(State(s): State<Sandbox>) -> Response {
    let (public, internal) = (&s.config.public_base, &s.config.internal_base);
    let alg = if s.alg == SandboxAlg::Rs256 { "RS256" } else { "ES256" };
    axum::Json(json!({
        "issuer": public,
        "authorization_endpoint": format!("{public}/authorize"),
        // Server-to-server endpoints over the listen address, as the donation sandboxes.
        "token_endpoint": format!("{internal}/token"),
        "jwks_uri": format!("{internal}/jwks"),
        "response_types_supported": ["code"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": [alg],
        "scopes_supported": ["openid", "email", "profile"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "code_challenge_methods_supported": ["S256"],
        "claims_supported": ["iss", "sub", "aud", "exp", "iat", "nonce", "email", "email_verified", "name"],
    }))
    .into_response()
}

async fn jwks(State(s): State<Sandbox>) -> Response {
    ([(header::CACHE_CONTROL, "max-age=3600")], axum::Json(s.issuer.jwks())).into_response()
}

/// The request parameters the picker carries into its forms.
const CARRIED: [&str; 7] =
    ["client_id", "redirect_uri", "response_type", "state", "nonce", "code_challenge", "code_challenge_method"];

/// Checks what a real provider checks before showing anything: the client,
/// the registered redirect URI, `code` flow, and a PKCE S256 challenge.
fn check_request(s: &Sandbox, pairs: &[(String, String)]) -> Result<(), String> {
    if value(pairs, "client_id") != SANDBOX_CLIENT_ID {
        return Err(format!("unknown client_id (the sandbox knows {SANDBOX_CLIENT_ID})"));
    }
    if !s.redirect_uris.contains(&value(pairs, "redirect_uri")) {
        return Err("redirect_uri is not registered for this client".into());
    }
    if value(pairs, "response_type") != "code" {
        return Err("response_type must be code".into());
    }
    if value(pairs, "code_challenge_method") != "S256" || value(pairs, "code_challenge").len() != 43 {
        return Err("a PKCE S256 code_challenge is required".into());
    }
    if value(pairs, "state").is_empty() {
        return Err("state is required".into());
    }
    Ok(())
}

async fn authorize(State(s): State<Sandbox>, RawQuery(query): RawQuery) -> Response {
    let pairs = form_pairs(query.as_deref().unwrap_or_default());
    if let Err(message) = check_request(&s, &pairs) {
        return page_error(&message);
    }
    let hidden: String = CARRIED
        .iter()
        .map(|name| format!("<input type=\"hidden\" name=\"{name}\" value=\"{}\">", escape(&value(&pairs, name))))
        .collect();
    let hint = value(&pairs, "login_hint");
    let accounts: String = s
        .config
        .accounts
        .iter()
        .map(|(email, name)| {
            let marked = if email.to_lowercase() == hint.to_lowercase() { " (last used)" } else { "" };
            format!(
                "<li><form method=\"post\" action=\"{SANDBOX_PATH}/authorize/decision\">{hidden}\
                 <input type=\"hidden\" name=\"email\" value=\"{e}\"><input type=\"hidden\" name=\"name\" value=\"{n}\">\
                 <button type=\"submit\" name=\"decision\" value=\"allow\" data-email=\"{e}\">{n} &lt;{e}&gt;{marked}</button></form></li>",
                e = escape(email),
                n = escape(if name.is_empty() { email } else { name }),
            )
        })
        .collect();
    let forgeries: String =
        FORGERIES.iter().map(|f| format!("<option value=\"{f}\">{}</option>", f.replace('_', " "))).collect();
    let body = format!(
        r#"<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>Sandbox sign-in</title>
<style>body{{font-family:system-ui,sans-serif;max-width:34rem;margin:3rem auto;padding:0 1rem;line-height:1.5}}li{{list-style:none;margin:.4rem 0}}button{{padding:.4rem .8rem}}</style></head>
<body><h1>Sandbox sign-in</h1>
<p>Steward's offline OIDC provider (development and tests; never on in production). Choose an account:</p>
<ul id="accounts">{accounts}</ul>
<h2>Another account</h2>
<form method="post" action="{SANDBOX_PATH}/authorize/decision" id="free-entry">{hidden}
<p><label>E-mail <input type="email" name="email" required value="{hint}"></label></p>
<p><label>Name <input type="text" name="name"></label></p>
<p><label>Failure mode <select name="forge"><option value="">none: a valid ID token</option>{forgeries}</select></label></p>
<p><button type="submit" name="decision" value="allow">Sign in</button></p></form>
<form method="post" action="{SANDBOX_PATH}/authorize/decision">{hidden}<button type="submit" name="decision" value="deny" id="deny">Deny</button></form>
</body></html>"#,
        hint = escape(&hint),
    );
    ([(header::CACHE_CONTROL, "no-store")], Html(body)).into_response()
}

async fn decision(State(s): State<Sandbox>, body: Bytes) -> Response {
    let pairs = form_pairs(&String::from_utf8_lossy(&body));
    if let Err(message) = check_request(&s, &pairs) {
        return page_error(&message);
    }
    let redirect_uri = value(&pairs, "redirect_uri");
    let state = form_urlencoded::byte_serialize(value(&pairs, "state").as_bytes()).collect::<String>();
    if value(&pairs, "decision") != "allow" {
        return redirect(&format!("{redirect_uri}?error=access_denied&state={state}"));
    }
    let email = value(&pairs, "email").trim().to_owned();
    if !email.contains('@') || email.contains(char::is_whitespace) {
        return page_error("enter an e-mail address");
    }
    let forge = Some(value(&pairs, "forge")).filter(|f| !f.is_empty());
    if forge.as_deref().is_some_and(|f| !FORGERIES.contains(&f)) {
        return page_error("unknown failure mode");
    }
    let code = crate::auth::token::random_url_safe();
    let entry = Code {
        redirect_uri: redirect_uri.clone(),
        challenge: value(&pairs, "code_challenge"),
        nonce: value(&pairs, "nonce"),
        name: value(&pairs, "name").trim().to_owned(),
        email,
        forge,
        expires_at: now() + CODE_LIFETIME_SECS,
    };
    {
        let mut codes = s.codes.lock().unwrap_or_else(|e| e.into_inner());
        codes.retain(|_, c| c.expires_at > now());
        if codes.len() >= MAX_CODES {
            codes.clear();
        }
        codes.insert(code.clone(), entry);
    }
    redirect(&format!("{redirect_uri}?code={code}&state={state}"))
}

fn redirect(location: &str) -> Response {
    (StatusCode::FOUND, [(header::LOCATION, location.to_owned()), (header::CACHE_CONTROL, "no-store".to_owned())])
        .into_response()
}

/// Client credentials from HTTP Basic (`client_secret_basic`) or the form (`client_secret_post`).
fn client_credentials(headers: &HeaderMap, pairs: &[(String, String)]) -> (String, String) {
    let basic = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        .and_then(|b| STANDARD.decode(b.trim()).ok())
        .and_then(|b| String::from_utf8(b).ok());
    match basic.as_deref().and_then(|b| b.split_once(':')) {
        // RFC 6749 §2.3.1: both parts are form-urlencoded inside Basic.
        Some((id, secret)) => {
            let decode = |s: &str| form_pairs(&format!("v={s}")).pop().map(|(_, v)| v).unwrap_or_default();
            (decode(id), decode(secret))
        }
        None => (value(pairs, "client_id"), value(pairs, "client_secret")),
    }
}

async fn token(State(s): State<Sandbox>, headers: HeaderMap, body: Bytes) -> Response {
    let pairs = form_pairs(&String::from_utf8_lossy(&body));
    let (client_id, client_secret) = client_credentials(&headers, &pairs);
    if client_id != SANDBOX_CLIENT_ID || client_secret != SANDBOX_CLIENT_SECRET {
        return oauth_error(StatusCode::UNAUTHORIZED, "invalid_client", "unknown client or wrong secret");
    }
    if value(&pairs, "grant_type") != "authorization_code" {
        return oauth_error(StatusCode::BAD_REQUEST, "unsupported_grant_type", "only authorization_code");
    }
    // Removed before any check: a code is tried once, right or wrong.
    let code = s.codes.lock().unwrap_or_else(|e| e.into_inner()).remove(&value(&pairs, "code"));
    let Some(code) = code.filter(|c| c.expires_at > now()) else {
        return oauth_error(StatusCode::BAD_REQUEST, "invalid_grant", "unknown, used or expired code");
    };
    if value(&pairs, "redirect_uri") != code.redirect_uri {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_grant",
            "redirect_uri differs from the authorization request",
        );
    }
    let verifier = value(&pairs, "code_verifier");
    let computed = URL_SAFE_NO_PAD.encode(ring::digest::digest(&ring::digest::SHA256, verifier.as_bytes()));
    if verifier.len() < 43 || computed != code.challenge {
        return oauth_error(StatusCode::BAD_REQUEST, "invalid_grant", "PKCE verification failed");
    }
    let id_token = s.id_token(&code);
    let access_token = crate::auth::token::random_url_safe();
    (
        [(header::CACHE_CONTROL, "no-store")],
        axum::Json(json!({
            "access_token": access_token,
            "token_type": "Bearer",
            "expires_in": ID_TOKEN_SECS,
            "scope": "openid email profile",
            "id_token": id_token,
        })),
    )
        .into_response()
}

impl Sandbox {
    /// The ID token for `code`, spoiled as its failure mode asks.
    fn id_token(&self, code: &Code) -> String {
        let iat = now();
        let subject = {
            let digest = ring::digest::digest(&ring::digest::SHA256, code.email.to_lowercase().as_bytes());
            format!("sandbox-{}", crate::auth::token::hex(&digest.as_ref()[..12]))
        };
        let mut claims = json!({
            "aud": SANDBOX_CLIENT_ID,
            "azp": SANDBOX_CLIENT_ID,
            "sub": subject,
            "email": code.email,
            "email_verified": true,
            "nonce": code.nonce,
            "iat": iat,
            "exp": iat + ID_TOKEN_SECS,
        });
        if !code.name.is_empty() {
            claims["name"] = json!(code.name);
        }
        match code.forge.as_deref() {
            Some("wrong_issuer") => claims["iss"] = json!("https://issuer.invalid"),
            Some("wrong_audience") => {
                claims["aud"] = json!("another-client");
                claims["azp"] = json!("another-client");
            }
            Some("expired") => {
                claims["iat"] = json!(iat - 2 * ID_TOKEN_SECS);
                claims["exp"] = json!(iat - ID_TOKEN_SECS);
            }
            Some("wrong_nonce") => claims["nonce"] = json!("not-the-nonce-of-this-sign-in"),
            Some("unverified_email") => claims["email_verified"] = json!(false),
            Some("no_email") => claims["email"] = Value::Null,
            _ => {}
        }
        let token = self.issuer.mint(claims, MintOptions { alg: self.alg, kid: None });
        if code.forge.as_deref() == Some("bad_signature") {
            // The header and claims stay; the signature no longer matches them.
            let (signed, signature) = token.rsplit_once('.').expect("a JWT has three segments");
            let mut bytes = URL_SAFE_NO_PAD.decode(signature).expect("base64url signature");
            bytes[0] ^= 0x55;
            return format!("{signed}.{}", URL_SAFE_NO_PAD.encode(bytes));
        }
        token
    }
}
