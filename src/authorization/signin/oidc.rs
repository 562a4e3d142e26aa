//! The OIDC client: the provider's discovery document, the authorization URL
//! and code exchange (oauth2 crate, PKCE S256), and ID-token verification
//! against the provider's JWKS (RS256 as Google signs, or ES256): signature,
//! `iss`, `aud` (and `azp`), `exp` with 60 s of skew, and `nonce`.
//!
//! Codes, verifiers and tokens are never logged.

use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use oauth2::basic::{
    BasicErrorResponse, BasicRevocationErrorResponse, BasicTokenIntrospectionResponse, BasicTokenType,
};
use oauth2::{
    AuthUrl, AuthorizationCode, ClientId, ClientSecret, CsrfToken, EndpointNotSet, EndpointSet, ExtraTokenFields,
    PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, Scope, StandardRevocableToken, StandardTokenResponse, TokenUrl,
};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::config::ProviderConfig;
use crate::auth::jwt::CLOCK_SKEW_SECS;
use crate::auth::jwt::jwks::{Algorithm, JwksCache};

/// How long a discovery document is trusted before it is fetched again.
const DISCOVERY_LIFETIME: Duration = Duration::from_secs(60 * 60);
/// Deadline of one request to the provider.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// Why a step with the provider failed. Messages never contain secrets.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OidcError {
    /// The discovery document could not be read or does not fit.
    #[error("discovery failed: {0}")]
    Discovery(String),
    /// The code exchange failed.
    #[error("token exchange failed: {0}")]
    Exchange(String),
    /// The ID token was refused.
    #[error("ID token refused: {0}")]
    IdToken(&'static str),
}

/// The fields of a discovery document Steward uses.
#[derive(Debug, Clone, Deserialize)]
struct Discovery {
    issuer: String,
    authorization_endpoint: String,
    token_endpoint: String,
    jwks_uri: String,
}

struct Discovered {
    document: Discovery,
    fetched_at: Instant,
    keys: Arc<JwksCache>,
}

/// The `id_token` field of the token response.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct IdTokenField {
    id_token: String,
}

impl ExtraTokenFields for IdTokenField {}

type TokenResponse = StandardTokenResponse<IdTokenField, BasicTokenType>;
type Client = oauth2::Client<
    BasicErrorResponse,
    TokenResponse,
    BasicTokenIntrospectionResponse,
    StandardRevocableToken,
    BasicRevocationErrorResponse,
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointSet,
>;

/// What a verified ID token says about the person.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// `iss`.
    pub issuer: String,
    /// `sub`.
    pub subject: String,
    /// `email`, if present.
    pub email: Option<String>,
    /// `email_verified` (`true` or `"true"`).
    pub email_verified: bool,
    /// `name`, if present and non-empty.
    pub name: Option<String>,
    /// `picture`, if present.
    pub picture: Option<String>,
}

/// A started sign-in: the URL to send the browser to and the secrets to keep.
#[derive(Debug)]
pub struct Start {
    /// The provider's authorization URL.
    pub url: String,
    /// The PKCE verifier (kept in the sealed cookie).
    pub verifier: String,
}

/// One provider's client, with its discovery document and key cache.
pub struct Oidc {
    config: ProviderConfig,
    redirect_uri: String,
    http: reqwest::Client,
    discovered: tokio::sync::Mutex<Option<Arc<Discovered>>>,
}

impl std::fmt::Debug for Oidc {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Oidc").field("issuer", &self.config.issuer).finish_non_exhaustive()
    }
}

impl Oidc {
    /// A client for `config` whose callback is `redirect_uri`.
    pub fn new(config: ProviderConfig, redirect_uri: String) -> Self {
        let http = reqwest::Client::builder()
            .user_agent(concat!("Steward/", env!("CARGO_PKG_VERSION")))
            // The token endpoint must answer itself: a redirect could carry the code elsewhere.
            .redirect(reqwest::redirect::Policy::none())
            .timeout(REQUEST_TIMEOUT)
            .build()
            .expect("the TLS backend initialises");
        Self { config, redirect_uri, http, discovered: tokio::sync::Mutex::new(None) }
    }

    /// The provider's issuer.
    pub fn issuer(&self) -> &str {
        &self.config.issuer
    }

    async fn discovered(&self) -> Result<Arc<Discovered>, OidcError> {
        let mut cached = self.discovered.lock().await;
        if let Some(d) = cached.as_ref()
            && d.fetched_at.elapsed() < DISCOVERY_LIFETIME
        {
            return Ok(d.clone());
        }
        match self.fetch_discovery().await {
            Ok(document) => {
                // Keep the key cache (and its keys) while the JWKS URL stays.
                let keys = match cached.as_ref() {
                    Some(old) if old.document.jwks_uri == document.jwks_uri => old.keys.clone(),
                    _ => Arc::new(JwksCache::new(
                        self.config.issuer.clone(),
                        Some(document.jwks_uri.clone()),
                        Arc::new(Instant::now),
                    )),
                };
                let fresh = Arc::new(Discovered { document, fetched_at: Instant::now(), keys });
                *cached = Some(fresh.clone());
                Ok(fresh)
            }
            // A provider hiccup does not stop sign-in while an older document exists.
            Err(e) => match cached.as_ref() {
                Some(old) => {
                    tracing::warn!(error = %e, oidc.issuer = %self.config.issuer, "discovery refresh failed; keeping the old document");
                    Ok(old.clone())
                }
                None => Err(e),
            },
        }
    }

    async fn fetch_discovery(&self) -> Result<Discovery, OidcError> {
        let url = &self.config.discovery_url;
        let fail = |m: String| OidcError::Discovery(format!("{url}: {m}"));
        let response = self.http.get(url).send().await.map_err(|e| fail(e.to_string()))?;
        if !response.status().is_success() {
            return Err(fail(format!("answered {}", response.status())));
        }
        let body = response.bytes().await.map_err(|e| fail(e.to_string()))?;
        let document: Discovery =
            serde_json::from_slice(&body).map_err(|e| fail(format!("not a discovery document: {e}")))?;
        // OIDC Discovery §4.3: the document must name the issuer it was fetched for.
        if document.issuer.trim_end_matches('/') != self.config.issuer.trim_end_matches('/') {
            return Err(fail(format!("names issuer {:?}, expected {:?}", document.issuer, self.config.issuer)));
        }
        Ok(document)
    }

    fn client(&self, document: &Discovery) -> Result<Client, OidcError> {
        let bad = |what: &str, e: oauth2::url::ParseError| OidcError::Discovery(format!("{what}: {e}"));
        Ok(oauth2::Client::new(ClientId::new(self.config.client_id.clone()))
            .set_client_secret(ClientSecret::new(self.config.client_secret.expose().to_owned()))
            .set_auth_uri(
                AuthUrl::new(document.authorization_endpoint.clone()).map_err(|e| bad("authorization_endpoint", e))?,
            )
            .set_token_uri(TokenUrl::new(document.token_endpoint.clone()).map_err(|e| bad("token_endpoint", e))?)
            .set_redirect_uri(RedirectUrl::new(self.redirect_uri.clone()).map_err(|e| bad("redirect_uri", e))?))
    }

    /// The authorization URL for a new sign-in with `state` and `nonce`
    /// (and `login_hint` when the browser's last user is known).
    pub async fn start(&self, state: &str, nonce: &str, login_hint: Option<&str>) -> Result<Start, OidcError> {
        let discovered = self.discovered().await?;
        let client = self.client(&discovered.document)?;
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let mut request = client
            .authorize_url(|| CsrfToken::new(state.to_owned()))
            .add_scope(Scope::new("openid".into()))
            .add_scope(Scope::new("email".into()))
            .add_scope(Scope::new("profile".into()))
            .add_extra_param("nonce", nonce)
            .set_pkce_challenge(challenge);
        if let Some(hint) = login_hint {
            request = request.add_extra_param("login_hint", hint);
        }
        let (url, _) = request.url();
        Ok(Start { url: url.to_string(), verifier: verifier.secret().clone() })
    }

    /// Exchanges `code` (with the PKCE `verifier`) for an ID token and verifies it.
    pub async fn finish(&self, code: &str, verifier: &str, nonce: &str) -> Result<Identity, OidcError> {
        let discovered = self.discovered().await?;
        let client = self.client(&discovered.document)?;
        let response = client
            .exchange_code(AuthorizationCode::new(code.to_owned()))
            .set_pkce_verifier(PkceCodeVerifier::new(verifier.to_owned()))
            .request_async(&self.http)
            .await
            .map_err(|e| {
                let detail = match &e {
                    oauth2::RequestTokenError::ServerResponse(r) => format!("provider answered {}", r.error()),
                    oauth2::RequestTokenError::Request(r) => format!("request failed: {r}"),
                    oauth2::RequestTokenError::Parse(p, _) => format!("unreadable answer: {p}"),
                    oauth2::RequestTokenError::Other(o) => o.clone(),
                };
                OidcError::Exchange(detail)
            })?;
        let id_token = &response.extra_fields().id_token;
        verify_id_token(&discovered.keys, id_token, &self.config.issuer, &self.config.client_id, nonce, now()).await
    }
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

fn decode_object(segment: &str) -> Option<Map<String, Value>> {
    match serde_json::from_slice(&URL_SAFE_NO_PAD.decode(segment).ok()?).ok()? {
        Value::Object(map) => Some(map),
        _ => None,
    }
}

fn numeric_date(value: Option<&Value>) -> Option<i64> {
    let n = value?.as_number()?;
    n.as_i64().or_else(|| n.as_f64().filter(|f| f.is_finite()).map(|f| f.floor() as i64))
}

/// Verifies an ID token (OIDC Core §3.1.3.7) with keys from `keys`.
pub async fn verify_id_token(
    keys: &JwksCache,
    token: &str,
    issuer: &str,
    client_id: &str,
    nonce: &str,
    now: i64,
) -> Result<Identity, OidcError> {
    let malformed = OidcError::IdToken("malformed");
    let mut segments = token.split('.');
    let (Some(header_b64), Some(payload_b64), Some(signature_b64), None) =
        (segments.next(), segments.next(), segments.next(), segments.next())
    else {
        return Err(malformed);
    };
    let header = decode_object(header_b64).ok_or(malformed.clone())?;
    let claims = decode_object(payload_b64).ok_or(malformed.clone())?;
    let signature = URL_SAFE_NO_PAD.decode(signature_b64).map_err(|_| malformed.clone())?;
    let alg = header
        .get("alg")
        .and_then(Value::as_str)
        .and_then(Algorithm::from_name)
        .ok_or(OidcError::IdToken("algorithm not allowed (RS256 or ES256)"))?;
    if header.contains_key("crit") {
        return Err(malformed);
    }
    let kid = match header.get("kid") {
        None | Some(Value::Null) => None,
        Some(Value::String(kid)) => Some(kid.as_str()),
        Some(_) => return Err(malformed),
    };
    let key = keys.key_for(kid, alg).await.map_err(|_| OidcError::IdToken("no matching signing key"))?;
    let signed = &token[..header_b64.len() + 1 + payload_b64.len()];
    if !key.verify(alg, signed.as_bytes(), &signature) {
        return Err(OidcError::IdToken("bad signature"));
    }

    let text = |name: &str| claims.get(name).and_then(Value::as_str);
    if text("iss").map(|i| i.trim_end_matches('/')) != Some(issuer.trim_end_matches('/')) {
        return Err(OidcError::IdToken("wrong issuer"));
    }
    let audience_ok = match claims.get("aud") {
        Some(Value::String(aud)) => aud == client_id,
        Some(Value::Array(auds)) => auds.iter().any(|a| a.as_str() == Some(client_id)),
        _ => false,
    };
    // With several audiences, `azp` says which party the token was issued to.
    if !audience_ok || text("azp").is_some_and(|azp| azp != client_id) {
        return Err(OidcError::IdToken("wrong audience"));
    }
    let exp = numeric_date(claims.get("exp")).ok_or(malformed.clone())?;
    if now >= exp.saturating_add(CLOCK_SKEW_SECS) {
        return Err(OidcError::IdToken("expired"));
    }
    if numeric_date(claims.get("iat")).is_some_and(|iat| iat > now.saturating_add(CLOCK_SKEW_SECS)) {
        return Err(OidcError::IdToken("issued in the future"));
    }
    // Hashes compared, so the comparison's timing says nothing about the nonce.
    let digest = |s: &str| ring::digest::digest(&ring::digest::SHA256, s.as_bytes()).as_ref().to_vec();
    if text("nonce").map(digest) != Some(digest(nonce)) {
        return Err(OidcError::IdToken("nonce mismatch"));
    }
    let subject = text("sub").filter(|s| !s.is_empty()).ok_or(malformed)?;
    let email_verified = match claims.get("email_verified") {
        Some(Value::Bool(b)) => *b,
        Some(Value::String(s)) => s == "true",
        _ => false,
    };
    Ok(Identity {
        issuer: issuer.to_owned(),
        subject: subject.to_owned(),
        email: text("email").map(str::trim).filter(|e| !e.is_empty()).map(str::to_owned),
        email_verified,
        name: text("name").map(str::trim).filter(|n| !n.is_empty()).map(str::to_owned),
        picture: text("picture").filter(|p| !p.is_empty()).map(str::to_owned),
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::auth::jwt::sandbox::{MintOptions, SandboxAlg, SandboxIssuer};

    const TEST_RSA: &[u8] = include_bytes!("../../../tests/fixtures/jwt/test-only-rsa2048.pk8.der");

    fn claims(issuer: &str) -> Value {
        json!({"iss": issuer, "aud": "client", "sub": "s1", "nonce": "n1", "email": "a@example.org", "email_verified": true, "name": "A"})
    }

    #[tokio::test]
    async fn rs256_and_es256_tokens_verify_and_every_check_bites() {
        let (issuer, _served) = SandboxIssuer::start_local(Some(TEST_RSA)).await.unwrap();
        let iss = issuer.issuer().to_owned();
        let keys = JwksCache::new(iss.clone(), Some(issuer.jwks_url()), Arc::new(Instant::now));
        let verify = |token: String| {
            let keys = &keys;
            let iss = iss.clone();
            async move { verify_id_token(keys, &token, &iss, "client", "n1", now()).await }
        };
        for alg in [SandboxAlg::Rs256, SandboxAlg::Es256] {
            let identity = verify(issuer.mint(claims(&iss), MintOptions { alg, kid: None })).await.unwrap();
            assert_eq!(identity.email.as_deref(), Some("a@example.org"));
            assert!(identity.email_verified);
        }
        let rs = |extra: Value| {
            let mut c = claims(&iss);
            for (k, v) in extra.as_object().unwrap() {
                c[k] = v.clone();
            }
            issuer.mint(c, MintOptions { alg: SandboxAlg::Rs256, kid: None })
        };
        let refused = |r: Result<Identity, OidcError>| r.unwrap_err();
        assert_eq!(
            refused(verify(rs(json!({"iss": "https://evil.example"}))).await),
            OidcError::IdToken("wrong issuer")
        );
        assert_eq!(refused(verify(rs(json!({"aud": "other"}))).await), OidcError::IdToken("wrong audience"));
        assert_eq!(
            refused(verify(rs(json!({"aud": ["client", "x"], "azp": "x"}))).await),
            OidcError::IdToken("wrong audience")
        );
        assert_eq!(refused(verify(rs(json!({"exp": now() - 120}))).await), OidcError::IdToken("expired"));
        assert_eq!(refused(verify(rs(json!({"nonce": "other"}))).await), OidcError::IdToken("nonce mismatch"));
        assert_eq!(refused(verify(rs(json!({"nonce": null}))).await), OidcError::IdToken("nonce mismatch"));
        let good = rs(json!({}));
        let (signed, signature) = good.rsplit_once('.').unwrap();
        let mut bytes = URL_SAFE_NO_PAD.decode(signature).unwrap();
        bytes[0] ^= 1;
        assert_eq!(
            refused(verify(format!("{signed}.{}", URL_SAFE_NO_PAD.encode(bytes))).await),
            OidcError::IdToken("bad signature")
        );
        let hs = issuer.mint(claims(&iss), MintOptions { alg: SandboxAlg::Hs256WithRsaModulus, kid: None });
        assert!(matches!(refused(verify(hs).await), OidcError::IdToken(_)));
        let none = issuer.mint(claims(&iss), MintOptions { alg: SandboxAlg::Unsigned, kid: None });
        assert!(matches!(refused(verify(none).await), OidcError::IdToken(_)));
        assert_eq!(refused(verify("a.b".into()).await), OidcError::IdToken("malformed"));
    }
}
