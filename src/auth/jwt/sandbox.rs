//! A real OIDC-shaped token issuer for tests and offline development: it
//! signs JWTs (ES256 with a generated key, RS256 with a PKCS#8 key given at
//! construction) and serves what a verifier needs over HTTP:
//!
//! | Route | Answer |
//! |---|---|
//! | `GET /.well-known/openid-configuration` | `issuer`, `jwks_uri`, `token_endpoint` |
//! | `GET /.well-known/jwks.json` | the published keys, `Cache-Control: max-age=3600`; each request counted |
//! | `POST /_rotate[?drop_old=1]` | a fresh ES256 key signs from now on; the old ones stay published unless `drop_old=1` → `{"kid"}` |
//! | `POST /_fail?on=1` / `?on=0` | the JWKS answers 503 (an issuer outage) / normally again |
//! | `GET /_calls` | `{"jwks_downloads": n}` |
//! | `POST /token` | form or JSON `sub`, `aud`, `permissions` (space-separated), `ttl` (seconds, default 3600, may be negative), `email`, `alg` → `{"access_token", "token_type", "expires_in"}` |
//!
//! Rust tests mint directly with [`SandboxIssuer::mint`], including tokens a
//! verifier must refuse (HS256 keyed with the RSA modulus, `alg: none`, no `kid`).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine as _;
use ring::rand::{SecureRandom as _, SystemRandom};
use ring::signature::{
    ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair as _, RSA_PKCS1_SHA256, RsaKeyPair, RsaPublicKeyComponents,
};
use serde_json::{Map, Value, json};

/// How [`SandboxIssuer::mint`] signs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum SandboxAlg {
    /// ES256 with the current signing key.
    #[default]
    Es256,
    /// RS256 with the RSA key (the issuer must have one).
    Rs256,
    /// The key-confusion attack: `alg: HS256` with an HMAC keyed by the
    /// published RSA modulus bytes (`kid` of the RSA key by default).
    Hs256WithRsaModulus,
    /// `alg: none` and an empty signature.
    Unsigned,
}

/// Options of [`SandboxIssuer::mint`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MintOptions {
    /// The signature algorithm.
    pub alg: SandboxAlg,
    /// `None`: the signing key's `kid`; `Some(None)`: no `kid` in the header;
    /// `Some(Some(k))`: `k` whatever key signs.
    pub kid: Option<Option<String>>,
}

struct EsKey {
    kid: String,
    pair: EcdsaKeyPair,
}

struct RsKey {
    kid: String,
    pair: RsaKeyPair,
}

struct Keys {
    /// Published ES256 keys; the last one signs.
    es: Vec<EsKey>,
    rsa: Option<RsKey>,
}

struct Shared {
    issuer: String,
    rng: SystemRandom,
    keys: Mutex<Keys>,
    jwks_downloads: AtomicU64,
    jwks_failing: AtomicBool,
    publish_use: AtomicBool,
}

/// A token issuer with its keys, served by [`SandboxIssuer::router`]. Cheap to clone.
#[derive(Clone)]
pub struct SandboxIssuer {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for SandboxIssuer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SandboxIssuer").field("issuer", &self.shared.issuer).finish_non_exhaustive()
    }
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

fn random_kid(rng: &SystemRandom) -> String {
    let mut bytes = [0u8; 8];
    rng.fill(&mut bytes).expect("the operating system's random number generator failed");
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn generate_es(rng: &SystemRandom) -> EsKey {
    let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, rng)
        .expect("the operating system's random number generator failed");
    let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref(), rng)
        .expect("ring reads the key it generated");
    EsKey { kid: random_kid(rng), pair }
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

impl SandboxIssuer {
    /// An issuer named `issuer` (the URL it is served on, e.g.
    /// `http://127.0.0.1:4711/`) with a fresh ES256 key and, given an
    /// unencrypted PKCS#8 RSA key, an RS256 key.
    pub fn new(issuer: impl Into<String>, rsa_pkcs8: Option<&[u8]>) -> Result<Self, String> {
        let rng = SystemRandom::new();
        let rsa = match rsa_pkcs8 {
            Some(der) => {
                let pair = RsaKeyPair::from_pkcs8(der).map_err(|e| format!("RSA key rejected: {e}"))?;
                Some(RsKey { kid: random_kid(&rng), pair })
            }
            None => None,
        };
        let keys = Keys { es: vec![generate_es(&rng)], rsa };
        Ok(Self {
            shared: Arc::new(Shared {
                issuer: issuer.into(),
                rng,
                keys: Mutex::new(keys),
                jwks_downloads: AtomicU64::new(0),
                jwks_failing: AtomicBool::new(false),
                publish_use: AtomicBool::new(true),
            }),
        })
    }

    /// Binds `127.0.0.1:0`, names the issuer after the address
    /// (`http://127.0.0.1:<port>/`) and serves [`Self::router`] until the
    /// returned task is aborted or the runtime ends.
    pub async fn start_local(rsa_pkcs8: Option<&[u8]>) -> std::io::Result<(Self, tokio::task::JoinHandle<()>)> {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await?;
        let issuer = Self::new(format!("http://{}/", listener.local_addr()?), rsa_pkcs8)
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
        let router = issuer.router();
        let task = tokio::spawn(async move {
            if let Err(error) = axum::serve(listener, router).await {
                tracing::warn!(%error, "sandbox issuer stopped");
            }
        });
        Ok((issuer, task))
    }

    fn keys(&self) -> MutexGuard<'_, Keys> {
        self.shared.keys.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The issuer URL (`iss` of every minted token).
    pub fn issuer(&self) -> &str {
        &self.shared.issuer
    }

    fn base_url(&self) -> &str {
        self.shared.issuer.trim_end_matches('/')
    }

    /// The JWKS URL.
    pub fn jwks_url(&self) -> String {
        format!("{}/.well-known/jwks.json", self.base_url())
    }

    /// `kid` of the ES256 key that signs now.
    pub fn current_kid(&self) -> String {
        self.keys().es.last().expect("one ES256 key at least").kid.clone()
    }

    /// `kid` of the RSA key, if there is one.
    pub fn rsa_kid(&self) -> Option<String> {
        self.keys().rsa.as_ref().map(|k| k.kid.clone())
    }

    /// How many times the JWKS was requested (failed answers included).
    pub fn jwks_downloads(&self) -> u64 {
        self.shared.jwks_downloads.load(Ordering::SeqCst)
    }

    /// While `true`, the JWKS answers 503 (simulates an issuer outage).
    pub fn set_jwks_failing(&self, failing: bool) {
        self.shared.jwks_failing.store(failing, Ordering::SeqCst);
    }

    /// Whether published keys carry `"use": "sig"` (default `true`).
    pub fn set_publish_use(&self, publish: bool) {
        self.shared.publish_use.store(publish, Ordering::SeqCst);
    }

    /// Adds a fresh ES256 key that signs from now on and returns its `kid`.
    /// Older ES256 keys stay published unless `drop_old`; the RSA key stays.
    pub fn rotate(&self, drop_old: bool) -> String {
        let key = generate_es(&self.shared.rng);
        let kid = key.kid.clone();
        let mut keys = self.keys();
        if drop_old {
            keys.es.clear();
        }
        keys.es.push(key);
        kid
    }

    /// The published key set.
    pub fn jwks(&self) -> Value {
        let keys = self.keys();
        let with_use = self.shared.publish_use.load(Ordering::SeqCst);
        let mut published = Vec::new();
        for key in &keys.es {
            let point = key.pair.public_key().as_ref();
            let mut jwk = json!({
                "kty": "EC", "crv": "P-256", "alg": "ES256", "kid": key.kid,
                "x": b64(&point[1..33]), "y": b64(&point[33..65]),
            });
            if with_use {
                jwk["use"] = json!("sig");
            }
            published.push(jwk);
        }
        if let Some(key) = &keys.rsa {
            let public = RsaPublicKeyComponents::<Vec<u8>>::from(key.pair.public());
            let mut jwk =
                json!({ "kty": "RSA", "alg": "RS256", "kid": key.kid, "n": b64(&public.n), "e": b64(&public.e) });
            if with_use {
                jwk["use"] = json!("sig");
            }
            published.push(jwk);
        }
        json!({ "keys": published })
    }

    /// A signed token. `claims` are laid over the defaults `iss` (this
    /// issuer), `iat` (now) and `exp` (now + 300 s); a `null` claim removes
    /// the default. Panics if RS256 (or the HS256 attack) is asked of an
    /// issuer without an RSA key.
    pub fn mint(&self, claims: Value, options: MintOptions) -> String {
        self.try_mint(claims, &options).unwrap_or_else(|e| panic!("{e}"))
    }

    fn try_mint(&self, claims: Value, options: &MintOptions) -> Result<String, String> {
        let mut payload = Map::new();
        payload.insert("iss".into(), json!(self.shared.issuer));
        payload.insert("iat".into(), json!(now()));
        payload.insert("exp".into(), json!(now() + 300));
        if let Value::Object(given) = claims {
            for (name, value) in given {
                if value.is_null() {
                    payload.remove(&name);
                } else {
                    payload.insert(name, value);
                }
            }
        }
        let keys = self.keys();
        let no_rsa = || "the sandbox issuer has no RSA key (construct it with one)".to_owned();
        let (alg, default_kid) = match options.alg {
            SandboxAlg::Es256 => ("ES256", keys.es.last().map(|k| k.kid.clone())),
            SandboxAlg::Rs256 => ("RS256", Some(keys.rsa.as_ref().ok_or_else(no_rsa)?.kid.clone())),
            SandboxAlg::Hs256WithRsaModulus => ("HS256", Some(keys.rsa.as_ref().ok_or_else(no_rsa)?.kid.clone())),
            SandboxAlg::Unsigned => ("none", None),
        };
        let mut header = json!({ "alg": alg, "typ": "JWT" });
        if let Some(kid) = options.kid.clone().unwrap_or(default_kid) {
            header["kid"] = json!(kid);
        }
        let signed =
            format!("{}.{}", b64(header.to_string().as_bytes()), b64(Value::Object(payload).to_string().as_bytes()));
        let signature = match options.alg {
            SandboxAlg::Es256 => {
                let key = keys.es.last().expect("one ES256 key at least");
                key.pair
                    .sign(&self.shared.rng, signed.as_bytes())
                    .map_err(|_| "ES256 signing failed")?
                    .as_ref()
                    .to_vec()
            }
            SandboxAlg::Rs256 => {
                let key = keys.rsa.as_ref().ok_or_else(no_rsa)?;
                let mut signature = vec![0; key.pair.public().modulus_len()];
                key.pair
                    .sign(&RSA_PKCS1_SHA256, &self.shared.rng, signed.as_bytes(), &mut signature)
                    .map_err(|_| "RS256 signing failed")?;
                signature
            }
            SandboxAlg::Hs256WithRsaModulus => {
                let key = keys.rsa.as_ref().ok_or_else(no_rsa)?;
                let modulus = RsaPublicKeyComponents::<Vec<u8>>::from(key.pair.public()).n;
                let hmac = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &modulus);
                ring::hmac::sign(&hmac, signed.as_bytes()).as_ref().to_vec()
            }
            SandboxAlg::Unsigned => Vec::new(),
        };
        Ok(format!("{signed}.{}", b64(&signature)))
    }

    /// The issuer's HTTP routes (see the module documentation).
    pub fn router(&self) -> Router {
        Router::new()
            .route("/.well-known/openid-configuration", get(discovery))
            .route("/.well-known/jwks.json", get(jwks))
            .route("/_rotate", post(rotate))
            .route("/_fail", post(fail))
            .route("/_calls", get(calls))
            .route("/token", post(token))
            .with_state(self.clone())
    }
}

async fn discovery(State(issuer): State<SandboxIssuer>) -> Response {
    axum::Json(json!({
        "issuer": issuer.issuer(),
        "jwks_uri": issuer.jwks_url(),
        "token_endpoint": format!("{}/token", issuer.base_url()),
        "response_types_supported": ["token"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["ES256", "RS256"],
    }))
    .into_response()
}

async fn jwks(State(issuer): State<SandboxIssuer>) -> Response {
    issuer.shared.jwks_downloads.fetch_add(1, Ordering::SeqCst);
    if issuer.shared.jwks_failing.load(Ordering::SeqCst) {
        return (StatusCode::SERVICE_UNAVAILABLE, "the sandbox issuer is failing on purpose").into_response();
    }
    ([(header::CACHE_CONTROL, "public, max-age=3600")], axum::Json(issuer.jwks())).into_response()
}

fn flag(query: &std::collections::HashMap<String, String>, name: &str) -> bool {
    query.get(name).is_some_and(|v| matches!(v.as_str(), "1" | "true" | "yes"))
}

async fn rotate(
    State(issuer): State<SandboxIssuer>,
    Query(query): Query<std::collections::HashMap<String, String>>,
) -> Response {
    axum::Json(json!({ "kid": issuer.rotate(flag(&query, "drop_old")) })).into_response()
}

async fn fail(
    State(issuer): State<SandboxIssuer>,
    Query(query): Query<std::collections::HashMap<String, String>>,
) -> Response {
    let on = flag(&query, "on");
    issuer.set_jwks_failing(on);
    axum::Json(json!({ "failing": on })).into_response()
}

async fn calls(State(issuer): State<SandboxIssuer>) -> Response {
    axum::Json(json!({ "jwks_downloads": issuer.jwks_downloads() })).into_response()
}

fn bad_request(description: String) -> Response {
    (StatusCode::BAD_REQUEST, axum::Json(json!({ "error": "invalid_request", "error_description": description })))
        .into_response()
}

/// A field of a `/token` request as text (JSON numbers and arrays accepted where they make sense).
fn field_text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Array(items) => Some(items.iter().filter_map(Value::as_str).collect::<Vec<_>>().join(" ")),
        _ => None,
    }
}

async fn token(State(issuer): State<SandboxIssuer>, headers: HeaderMap, body: Bytes) -> Response {
    let is_json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim_start().starts_with("application/json"));
    let fields: Map<String, Value> = if is_json {
        match serde_json::from_slice(&body) {
            Ok(Value::Object(map)) => map,
            _ => return bad_request("the body must be a JSON object".into()),
        }
    } else {
        form_urlencoded::parse(&body).map(|(k, v)| (k.into_owned(), Value::String(v.into_owned()))).collect()
    };
    let text = |name: &str| fields.get(name).and_then(field_text).filter(|v| !v.is_empty());
    let Some(sub) = text("sub") else { return bad_request("sub is required".into()) };
    let Some(aud) = text("aud") else { return bad_request("aud is required".into()) };
    let ttl = match text("ttl").map(|t| t.trim().parse::<i64>()) {
        None => 3600,
        Some(Ok(ttl)) if ttl.abs() <= 366 * 24 * 3600 => ttl,
        Some(_) => return bad_request("ttl must be a whole number of seconds within a year".into()),
    };
    let alg = match text("alg").as_deref() {
        None | Some("ES256") => SandboxAlg::Es256,
        Some("RS256") => SandboxAlg::Rs256,
        Some(_) => return bad_request("alg must be ES256 or RS256".into()),
    };
    let permissions: Vec<String> =
        text("permissions").unwrap_or_default().split_whitespace().map(str::to_owned).collect();
    let mut claims = json!({ "sub": sub, "aud": aud, "permissions": permissions, "exp": now() + ttl });
    if let Some(email) = text("email") {
        claims["email"] = json!(email);
    }
    match issuer.try_mint(claims, &MintOptions { alg, kid: None }) {
        Ok(token) => {
            axum::Json(json!({ "access_token": token, "token_type": "Bearer", "expires_in": ttl })).into_response()
        }
        Err(e) => bad_request(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::jwt::{JwtSettings, JwtVerifier};

    async fn post(url: String, content_type: &str, body: String) -> (u16, Value) {
        let answer = reqwest::Client::new()
            .post(url)
            .header(header::CONTENT_TYPE, content_type)
            .body(body)
            .send()
            .await
            .unwrap();
        let status = answer.status().as_u16();
        (status, serde_json::from_slice(&answer.bytes().await.unwrap()).unwrap())
    }

    async fn get_json(url: String) -> (Option<String>, Value) {
        let answer = reqwest::get(url).await.unwrap();
        assert!(answer.status().is_success());
        let cache_control = answer.headers().get(header::CACHE_CONTROL).map(|v| v.to_str().unwrap().to_owned());
        (cache_control, serde_json::from_slice(&answer.bytes().await.unwrap()).unwrap())
    }

    #[tokio::test]
    async fn discovery_jwks_and_call_counter() {
        let (issuer, _served) = SandboxIssuer::start_local(None).await.unwrap();
        let (_, discovery) = get_json(format!("{}.well-known/openid-configuration", issuer.issuer())).await;
        assert_eq!(discovery["issuer"], issuer.issuer());
        assert_eq!(discovery["jwks_uri"], issuer.jwks_url());
        assert_eq!(issuer.jwks_downloads(), 0, "discovery is not a JWKS download");

        let (cache_control, jwks) = get_json(issuer.jwks_url()).await;
        assert_eq!(cache_control.as_deref(), Some("public, max-age=3600"));
        assert_eq!(jwks["keys"][0]["kid"], issuer.current_kid());
        assert_eq!(jwks["keys"][0]["use"], "sig");
        let (_, calls) = get_json(format!("{}_calls", issuer.issuer())).await;
        assert_eq!(calls, json!({ "jwks_downloads": 1 }));

        // The outage switch.
        post(format!("{}_fail?on=1", issuer.issuer()), "text/plain", String::new()).await;
        assert_eq!(reqwest::get(issuer.jwks_url()).await.unwrap().status().as_u16(), 503);
        post(format!("{}_fail?on=0", issuer.issuer()), "text/plain", String::new()).await;
        assert!(reqwest::get(issuer.jwks_url()).await.unwrap().status().is_success());
        assert_eq!(issuer.jwks_downloads(), 3);
    }

    #[tokio::test]
    async fn the_token_endpoint_issues_verifiable_tokens_from_form_or_json() {
        let rsa = include_bytes!("../../../tests/fixtures/jwt/test-only-rsa2048.pk8.der");
        let (issuer, _served) = SandboxIssuer::start_local(Some(rsa)).await.unwrap();
        let verifier = JwtVerifier::new(JwtSettings {
            issuer: issuer.issuer().to_owned(),
            audience: "https://api.test".into(),
            jwks_url: None,
            permissions_claim: "permissions".into(),
        });
        let url = format!("{}token", issuer.issuer());

        let form = "sub=auth0%7C7&aud=https%3A%2F%2Fapi.test&permissions=post%3Aeta-data+get%3Aeta-data&ttl=120&email=r%40example.org";
        let (status, answer) = post(url.clone(), "application/x-www-form-urlencoded", form.into()).await;
        assert_eq!(status, 200, "{answer}");
        assert_eq!(answer["expires_in"], 120);
        let claims = verifier.verify(answer["access_token"].as_str().unwrap()).await.unwrap();
        assert_eq!(claims.subject, "auth0|7");
        assert_eq!(claims.permissions, ["post:eta-data", "get:eta-data"]);
        assert_eq!(claims.email.as_deref(), Some("r@example.org"));
        let ttl = claims.expires_at.timestamp() - now();
        assert!((115..=120).contains(&ttl), "{ttl}");

        let body = json!({ "sub": "u", "aud": "https://api.test", "permissions": "create:endpoint", "alg": "RS256" });
        let (status, answer) = post(url.clone(), "application/json", body.to_string()).await;
        assert_eq!(status, 200, "{answer}");
        let token = answer["access_token"].as_str().unwrap();
        assert!(token.starts_with(&b64(br#"{"alg":"RS256""#)[..16]));
        assert_eq!(verifier.verify(token).await.unwrap().permissions, ["create:endpoint"]);

        // A negative ttl gives an expired token, for expiry tests in other languages.
        let (_, answer) = post(
            url.clone(),
            "application/json",
            json!({ "sub": "u", "aud": "https://api.test", "ttl": -600 }).to_string(),
        )
        .await;
        assert_eq!(
            verifier.verify(answer["access_token"].as_str().unwrap()).await.unwrap_err(),
            crate::auth::jwt::JwtError::Expired
        );

        for (body, message) in [
            ("aud=x", "sub is required"),
            ("sub=u", "aud is required"),
            ("sub=u&aud=x&ttl=soon", "ttl"),
            ("sub=u&aud=x&alg=HS256", "alg"),
        ] {
            let (status, answer) = post(url.clone(), "application/x-www-form-urlencoded", body.into()).await;
            assert_eq!(status, 400);
            assert!(answer["error_description"].as_str().unwrap().contains(message), "{body}: {answer}");
        }
    }

    #[tokio::test]
    async fn rotation_publishes_the_new_key_and_can_drop_the_old() {
        let issuer = SandboxIssuer::new("http://127.0.0.1:1/", None).unwrap();
        let first = issuer.current_kid();
        let second = issuer.rotate(false);
        assert_ne!(first, second);
        let kids = |issuer: &SandboxIssuer| -> Vec<String> {
            issuer.jwks()["keys"].as_array().unwrap().iter().map(|k| k["kid"].as_str().unwrap().to_owned()).collect()
        };
        assert_eq!(kids(&issuer), [first, second.clone()]);
        let third = issuer.rotate(true);
        assert_eq!(kids(&issuer), std::slice::from_ref(&third));
        let token = issuer.mint(json!({ "sub": "u" }), MintOptions::default());
        let header = token.split('.').next().unwrap();
        let header: Value =
            serde_json::from_slice(&base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(header).unwrap()).unwrap();
        assert_eq!(header["kid"], third);
    }
}
