//! Bearer JWTs from an external OIDC issuer (spec secretshare.md §2.6),
//! independent of the provider: any issuer that signs with RS256 or ES256 and
//! publishes its keys as a JWKS works.
//!
//! - [`JwtSettings`]: issuer, audience, JWKS URL and permissions claim, from
//!   `STEWARD_JWT_*` or the legacy `OAUTH2_PROVIDER_*` variables.
//! - [`JwtVerifier`]: checks a token (shape, algorithm allow-list, key,
//!   signature, `iss`, `aud`, `exp`/`nbf` with 60 s of skew) and returns its
//!   [`JwtClaims`]; every refusal is a [`JwtError`] naming the cause.
//! - [`jwks`]: key sets and their cache; [`sandbox`]: an OIDC-shaped issuer
//!   for tests and offline development; `verified`: tokens whose signature
//!   was already checked.
//!
//! Tokens are never logged, echoed in errors or printed by `Debug`.

pub mod jwks;
pub mod sandbox;
mod verified;

use std::sync::Arc;
use std::time::Instant;

use base64::Engine as _;
use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

use jwks::{Algorithm, Clock, JwksCache};
use verified::VerifiedTokens;

/// Clock skew allowed on `exp` and `nbf`, in seconds.
pub const CLOCK_SKEW_SECS: i64 = 60;

/// Default name of the claim holding permissions (Auth0's RBAC claim).
pub const DEFAULT_PERMISSIONS_CLAIM: &str = "permissions";

/// What a deployment trusts: one issuer, one audience.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JwtSettings {
    /// The exact `iss` value tokens must carry.
    pub issuer: String,
    /// The value `aud` must be or contain.
    pub audience: String,
    /// Where the key set is; `None` means the issuer's OIDC discovery document says.
    pub jwks_url: Option<String>,
    /// The claim holding permissions (array of strings, or a space-separated string).
    pub permissions_claim: String,
}

impl JwtSettings {
    /// Reads the settings through `get` (the environment, or a map in tests):
    ///
    /// - `STEWARD_JWT_ISSUER`, `STEWARD_JWT_AUDIENCE`: both or neither;
    /// - `STEWARD_JWT_JWKS_URL`: optional; without it the issuer's
    ///   `<issuer>/.well-known/openid-configuration` gives `jwks_uri`;
    /// - `STEWARD_JWT_PERMISSIONS_CLAIM`: default `permissions`;
    /// - legacy, used when `STEWARD_JWT_ISSUER` is unset:
    ///   `OAUTH2_PROVIDER_DOMAIN` + `OAUTH2_PROVIDER_AUDIENCE` → issuer
    ///   `https://{domain}/`, JWKS `https://{domain}/.well-known/jwks.json`.
    ///
    /// `Ok(None)` when nothing is configured (JWTs are then not accepted);
    /// `Err` with a message naming the missing variable when half-configured.
    pub fn from_lookup(get: &dyn Fn(&str) -> Option<String>) -> Result<Option<JwtSettings>, String> {
        let var = |name: &str| get(name).map(|v| v.trim().to_owned()).filter(|v| !v.is_empty());
        let issuer = var("STEWARD_JWT_ISSUER");
        let audience = var("STEWARD_JWT_AUDIENCE");
        let jwks_url = var("STEWARD_JWT_JWKS_URL");
        let permissions_claim = var("STEWARD_JWT_PERMISSIONS_CLAIM");
        let domain = var("OAUTH2_PROVIDER_DOMAIN");
        let legacy_audience = var("OAUTH2_PROVIDER_AUDIENCE");

        let settings = match (issuer, audience) {
            (Some(issuer), Some(audience)) => {
                check_url("STEWARD_JWT_ISSUER", &issuer)?;
                if let Some(url) = &jwks_url {
                    check_url("STEWARD_JWT_JWKS_URL", url)?;
                }
                JwtSettings { issuer, audience, jwks_url, permissions_claim: String::new() }
            }
            (Some(_), None) => return Err("STEWARD_JWT_ISSUER is set but STEWARD_JWT_AUDIENCE is not".into()),
            (None, Some(_)) => return Err("STEWARD_JWT_AUDIENCE is set but STEWARD_JWT_ISSUER is not".into()),
            (None, None) => {
                if jwks_url.is_some() {
                    return Err(
                        "STEWARD_JWT_JWKS_URL is set but STEWARD_JWT_ISSUER and STEWARD_JWT_AUDIENCE are not".into()
                    );
                }
                match (domain, legacy_audience) {
                    (Some(domain), Some(audience)) => {
                        // The old .env held a bare host; tolerate a pasted URL.
                        let domain = domain.trim_start_matches("https://").trim_end_matches('/');
                        if domain.is_empty() || domain.contains(['/', ' ']) {
                            return Err(format!("OAUTH2_PROVIDER_DOMAIN must be a host name, got {domain:?}"));
                        }
                        JwtSettings {
                            issuer: format!("https://{domain}/"),
                            audience,
                            jwks_url: Some(format!("https://{domain}/.well-known/jwks.json")),
                            permissions_claim: String::new(),
                        }
                    }
                    (Some(_), None) => {
                        return Err("OAUTH2_PROVIDER_DOMAIN is set but OAUTH2_PROVIDER_AUDIENCE is not".into());
                    }
                    (None, Some(_)) => {
                        return Err("OAUTH2_PROVIDER_AUDIENCE is set but OAUTH2_PROVIDER_DOMAIN is not".into());
                    }
                    (None, None) if permissions_claim.is_some() => {
                        return Err(
                            "STEWARD_JWT_PERMISSIONS_CLAIM is set but no issuer is (STEWARD_JWT_ISSUER and STEWARD_JWT_AUDIENCE)"
                                .into(),
                        );
                    }
                    (None, None) => return Ok(None),
                }
            }
        };
        Ok(Some(JwtSettings {
            permissions_claim: permissions_claim.unwrap_or_else(|| DEFAULT_PERMISSIONS_CLAIM.to_owned()),
            ..settings
        }))
    }
}

fn check_url(name: &str, value: &str) -> Result<(), String> {
    if value.starts_with("https://") || value.starts_with("http://") {
        Ok(())
    } else {
        Err(format!("{name} must be an http(s) URL, got {value:?}"))
    }
}

/// Why a token was refused. Every variant means `UNAUTHENTICATED`; the
/// message names the cause and never contains the token.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum JwtError {
    /// Not three base64url segments with JSON header and payload, or a required
    /// claim (`exp`, `sub`) missing or of the wrong type.
    #[error("malformed token")]
    Malformed,
    /// `exp` is more than the allowed skew in the past.
    #[error("token expired")]
    Expired,
    /// `nbf` is more than the allowed skew in the future.
    #[error("token not yet valid (nbf is in the future)")]
    NotYetValid,
    /// `iss` is not the configured issuer.
    #[error("wrong issuer: expected {expected}")]
    WrongIssuer { expected: String },
    /// `aud` does not contain the configured audience.
    #[error("wrong audience: expected {expected}")]
    WrongAudience { expected: String },
    /// No key in the issuer's set matches the token's `kid` and algorithm
    /// (or the token has no `kid` and several keys would fit).
    #[error("unknown signing key")]
    UnknownKey,
    /// The signature does not verify with the selected key.
    #[error("bad signature")]
    BadSignature,
    /// `alg` is not RS256 or ES256 (the value, sanitised and shortened).
    #[error("algorithm {0} is not allowed (RS256 or ES256)")]
    DisallowedAlgorithm(String),
    /// The issuer's key set could not be downloaded and none is cached.
    #[error("cannot fetch the issuer's keys; retry shortly")]
    KeysUnavailable,
}

/// What a verified token says about its holder.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JwtClaims {
    /// `iss` (equal to the configured issuer).
    pub issuer: String,
    /// `sub`: with the issuer, the holder's identity.
    pub subject: String,
    /// The configured permissions claim; empty when missing.
    pub permissions: Vec<String>,
    /// `exp`.
    pub expires_at: DateTime<Utc>,
    /// `email`, when the issuer puts it into access tokens.
    pub email: Option<String>,
}

fn decode_segment(segment: &str) -> Option<Vec<u8>> {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(segment).ok()
}

fn decode_object(segment: &str) -> Option<Map<String, Value>> {
    match serde_json::from_slice(&decode_segment(segment)?).ok()? {
        Value::Object(map) => Some(map),
        _ => None,
    }
}

/// Cheap shape test used to route a bearer credential: three base64url
/// segments whose first decodes to a JSON object with `alg`. Says nothing
/// about validity.
pub fn looks_like_jwt(token: &str) -> bool {
    let mut segments = token.split('.');
    let (Some(header), Some(_), Some(_), None) = (segments.next(), segments.next(), segments.next(), segments.next())
    else {
        return false;
    };
    decode_object(header).is_some_and(|header| header.contains_key("alg"))
}

/// An `alg` value fit to appear in a message: at most 16 characters of `[A-Za-z0-9+_-]`.
fn printable_alg(alg: &Value) -> String {
    let text = match alg {
        Value::String(s) => s.as_str(),
        _ => "(not a string)",
    };
    let clean: String = text
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '_' | '-' | '(' | ')' | ' '))
        .take(16)
        .collect();
    if clean.is_empty() { "(empty)".to_owned() } else { clean }
}

/// A numeric date claim (seconds since the epoch, possibly fractional).
fn numeric_date(value: &Value) -> Option<i64> {
    match value {
        Value::Number(n) => n.as_i64().or_else(|| n.as_f64().filter(|f| f.is_finite()).map(|f| f.floor() as i64)),
        _ => None,
    }
}

fn permissions_from(value: Option<&Value>) -> Vec<String> {
    match value {
        Some(Value::Array(items)) => {
            items.iter().filter_map(Value::as_str).filter(|p| !p.is_empty()).map(str::to_owned).collect()
        }
        Some(Value::String(text)) => text.split_whitespace().map(str::to_owned).collect(),
        _ => Vec::new(),
    }
}

struct Inner {
    settings: JwtSettings,
    keys: JwksCache,
    verified: VerifiedTokens,
}

/// Verifies bearer JWTs of one issuer. Cheap to clone (one shared key cache).
#[derive(Clone)]
pub struct JwtVerifier {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for JwtVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let settings = &self.inner.settings;
        f.debug_struct("JwtVerifier")
            .field("issuer", &settings.issuer)
            .field("audience", &settings.audience)
            .field("jwks_url", &settings.jwks_url)
            .finish_non_exhaustive()
    }
}

impl JwtVerifier {
    /// A verifier with its own key cache on the system clock.
    pub fn new(settings: JwtSettings) -> Self {
        Self::with_clock(settings, Arc::new(Instant::now))
    }

    /// A verifier whose key cache reads time from `clock` (tests and
    /// simulations move it forward instead of sleeping). Token dates
    /// (`exp`, `nbf`) are always checked against the wall clock.
    pub fn with_clock(settings: JwtSettings, clock: Clock) -> Self {
        let keys = JwksCache::new(settings.issuer.clone(), settings.jwks_url.clone(), clock);
        Self { inner: Arc::new(Inner { settings, keys, verified: VerifiedTokens::default() }) }
    }

    /// A verifier over a prepared cache (tests with a short download timeout).
    #[cfg(test)]
    fn with_cache(settings: JwtSettings, keys: JwksCache) -> Self {
        Self { inner: Arc::new(Inner { settings, keys, verified: VerifiedTokens::default() }) }
    }

    /// The settings this verifier enforces.
    pub fn settings(&self) -> &JwtSettings {
        &self.inner.settings
    }

    /// Checks `token` and returns its claims. A token already verified
    /// against the current key set is answered from memory until it expires.
    pub async fn verify(&self, token: &str) -> Result<JwtClaims, JwtError> {
        let digest = VerifiedTokens::digest(token);
        // The set before the check: if a download replaces it meanwhile, the
        // entry never answers.
        let keys = self.inner.keys.fresh();
        if let Some(keys) = &keys
            && let Some(claims) = self.inner.verified.get(&digest, keys, Utc::now().timestamp())
        {
            return Ok(claims);
        }
        let claims = self.verify_signed(token).await?;
        if let Some(keys) = keys {
            self.inner.verified.insert(digest, keys, claims.clone(), Utc::now().timestamp());
        }
        Ok(claims)
    }

    /// The full check. The algorithm is checked before any key is looked up,
    /// and the claims only after the signature verified.
    async fn verify_signed(&self, token: &str) -> Result<JwtClaims, JwtError> {
        let mut segments = token.split('.');
        let (Some(header_b64), Some(payload_b64), Some(signature_b64), None) =
            (segments.next(), segments.next(), segments.next(), segments.next())
        else {
            return Err(JwtError::Malformed);
        };
        let header = decode_object(header_b64).ok_or(JwtError::Malformed)?;
        let payload = decode_object(payload_b64).ok_or(JwtError::Malformed)?;
        let signature = decode_segment(signature_b64).ok_or(JwtError::Malformed)?;

        let alg_value = header.get("alg").ok_or(JwtError::Malformed)?;
        let alg = alg_value
            .as_str()
            .and_then(Algorithm::from_name)
            .ok_or_else(|| JwtError::DisallowedAlgorithm(printable_alg(alg_value)))?;
        // No JWS extension is understood, so a header demanding one is refused
        // (RFC 7515 §4.1.11); `b64: false` would otherwise change what is signed.
        if header.contains_key("crit") {
            return Err(JwtError::Malformed);
        }
        let kid = match header.get("kid") {
            None | Some(Value::Null) => None,
            Some(Value::String(kid)) => Some(kid.as_str()),
            Some(_) => return Err(JwtError::Malformed),
        };

        let key = self.inner.keys.key_for(kid, alg).await?;
        let signed = &token[..header_b64.len() + 1 + payload_b64.len()];
        if !key.verify(alg, signed.as_bytes(), &signature) {
            return Err(JwtError::BadSignature);
        }
        self.check_claims(&payload, Utc::now().timestamp())
    }

    fn check_claims(&self, claims: &Map<String, Value>, now: i64) -> Result<JwtClaims, JwtError> {
        let settings = &self.inner.settings;
        let issuer = claims.get("iss").and_then(Value::as_str);
        if issuer != Some(settings.issuer.as_str()) {
            return Err(JwtError::WrongIssuer { expected: settings.issuer.clone() });
        }
        let audience_ok = match claims.get("aud") {
            Some(Value::String(aud)) => *aud == settings.audience,
            Some(Value::Array(auds)) => auds.iter().any(|aud| aud.as_str() == Some(settings.audience.as_str())),
            _ => false,
        };
        if !audience_ok {
            return Err(JwtError::WrongAudience { expected: settings.audience.clone() });
        }
        let exp = claims.get("exp").and_then(numeric_date).ok_or(JwtError::Malformed)?;
        if now >= exp.saturating_add(CLOCK_SKEW_SECS) {
            return Err(JwtError::Expired);
        }
        match claims.get("nbf") {
            None | Some(Value::Null) => {}
            Some(nbf) => {
                let nbf = numeric_date(nbf).ok_or(JwtError::Malformed)?;
                if nbf > now.saturating_add(CLOCK_SKEW_SECS) {
                    return Err(JwtError::NotYetValid);
                }
            }
        }
        let subject = claims.get("sub").and_then(Value::as_str).filter(|s| !s.is_empty()).ok_or(JwtError::Malformed)?;
        let expires_at = DateTime::from_timestamp(exp, 0).ok_or(JwtError::Malformed)?;
        Ok(JwtClaims {
            issuer: settings.issuer.clone(),
            subject: subject.to_owned(),
            permissions: permissions_from(claims.get(&settings.permissions_claim)),
            expires_at,
            email: claims.get("email").and_then(Value::as_str).map(str::to_owned),
        })
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::time::Duration;

    use futures_util::future::join_all;
    use serde_json::json;

    use super::jwks::{JwksCache, KeySet, MAX_LIFETIME, RETRY_AFTER_FAILURE, UNKNOWN_KID_INTERVAL};
    use super::sandbox::{MintOptions, SandboxAlg, SandboxIssuer};
    use super::*;

    /// A test-only RSA key (never used outside tests), PKCS#8 DER.
    const TEST_RSA: &[u8] = include_bytes!("../../../tests/fixtures/jwt/test-only-rsa2048.pk8.der");
    const AUDIENCE: &str = "https://api.steward.test";

    /// A clock the test moves by hand: `advance` adds seconds.
    #[derive(Clone)]
    struct TestClock {
        offset: Arc<AtomicU64>,
    }

    impl TestClock {
        fn new() -> (Self, Clock) {
            let base = Instant::now();
            let clock = Self { offset: Arc::new(AtomicU64::new(0)) };
            let offset = clock.offset.clone();
            (clock, Arc::new(move || base + Duration::from_secs(offset.load(Ordering::SeqCst))))
        }

        fn advance(&self, by: Duration) {
            self.offset.fetch_add(by.as_secs(), Ordering::SeqCst);
        }
    }

    fn settings(issuer: &SandboxIssuer) -> JwtSettings {
        JwtSettings {
            issuer: issuer.issuer().to_owned(),
            audience: AUDIENCE.to_owned(),
            // Through the discovery document, as an issuer without a configured JWKS URL.
            jwks_url: None,
            permissions_claim: DEFAULT_PERMISSIONS_CLAIM.to_owned(),
        }
    }

    /// A sandbox issuer served on 127.0.0.1 and a verifier for it on a test clock.
    async fn start(rsa: bool) -> (SandboxIssuer, JwtVerifier, TestClock) {
        let (issuer, _served) = SandboxIssuer::start_local(rsa.then_some(TEST_RSA)).await.unwrap();
        let (clock, clock_fn) = TestClock::new();
        let verifier = JwtVerifier::with_clock(settings(&issuer), clock_fn);
        (issuer, verifier, clock)
    }

    fn claims(sub: &str) -> Value {
        json!({ "sub": sub, "aud": AUDIENCE, "permissions": ["post:eta-data"] })
    }

    fn es256(issuer: &SandboxIssuer, claims: Value) -> String {
        issuer.mint(claims, MintOptions::default())
    }

    fn b64(bytes: &[u8]) -> String {
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    }

    #[tokio::test]
    async fn a_valid_token_gives_its_claims() {
        let (issuer, verifier, _) = start(false).await;
        let token = es256(
            &issuer,
            json!({ "sub": "auth0|42", "aud": AUDIENCE, "permissions": ["post:eta-data", "get:eta-data"], "email": "a@example.org", "exp": 2_000_000_000 }),
        );
        let claims = verifier.verify(&token).await.unwrap();
        assert_eq!(claims.issuer, issuer.issuer());
        assert_eq!(claims.subject, "auth0|42");
        assert_eq!(claims.permissions, ["post:eta-data", "get:eta-data"]);
        assert_eq!(claims.email.as_deref(), Some("a@example.org"));
        assert_eq!(claims.expires_at, DateTime::from_timestamp(2_000_000_000, 0).unwrap());
    }

    #[tokio::test]
    async fn permissions_come_from_an_array_a_spaced_string_or_nothing() {
        let (issuer, verifier, _) = start(false).await;
        let with =
            |permissions: Value| es256(&issuer, json!({ "sub": "u", "aud": AUDIENCE, "permissions": permissions }));
        let spaced = verifier.verify(&with(json!(" create:endpoint  get:eta-data "))).await.unwrap();
        assert_eq!(spaced.permissions, ["create:endpoint", "get:eta-data"]);
        assert!(verifier.verify(&with(json!([]))).await.unwrap().permissions.is_empty());
        assert!(verifier.verify(&with(json!(""))).await.unwrap().permissions.is_empty());
        // A missing claim is "no permissions", not an error (spec scenario 37).
        let missing = es256(&issuer, json!({ "sub": "u", "aud": AUDIENCE }));
        assert!(verifier.verify(&missing).await.unwrap().permissions.is_empty());

        // A configured claim name.
        let custom = JwtVerifier::new(JwtSettings {
            permissions_claim: "https://steward/roles".into(),
            ..verifier.settings().clone()
        });
        let token = es256(&issuer, json!({ "sub": "u", "aud": AUDIENCE, "https://steward/roles": ["scientist"] }));
        assert_eq!(custom.verify(&token).await.unwrap().permissions, ["scientist"]);
    }

    /// Scenario 30.
    #[tokio::test]
    async fn malformed_tokens_are_refused_without_fetching_keys() {
        let (issuer, verifier, _) = start(false).await;
        let good = es256(&issuer, claims("u"));
        let (header, rest) = good.split_once('.').unwrap();
        let (payload, signature) = rest.split_once('.').unwrap();
        let not_json = b64(b"{not json");
        let not_object = b64(b"[1,2]");
        let cases = [
            format!("{header}.{payload}"),
            format!("{header}.{payload}.{signature}.{signature}"),
            format!("!!!.{payload}.{signature}"),
            format!("{header}.{payload}.sig*nature"),
            format!("{not_json}.{payload}.{signature}"),
            format!("{header}.{not_json}.{signature}"),
            format!("{not_object}.{payload}.{signature}"),
            format!("{}.{payload}.{signature}", b64(br#"{"kid":"x"}"#)),
            format!("{}.{payload}.{signature}", b64(br#"{"alg":"ES256","kid":7}"#)),
            format!("{}.{payload}.{signature}", b64(br#"{"alg":"ES256","crit":["b64"],"b64":false}"#)),
            String::new(),
        ];
        for token in &cases {
            let error = verifier.verify(token).await.unwrap_err();
            assert_eq!(error, JwtError::Malformed, "{token}");
            assert_eq!(error.to_string(), "malformed token");
        }
        assert_eq!(issuer.jwks_downloads(), 0);
    }

    /// Scenario 31.
    #[tokio::test]
    async fn exp_and_nbf_allow_sixty_seconds_of_skew() {
        let (issuer, verifier, _) = start(false).await;
        let now = Utc::now().timestamp();
        let with = |extra: Value| {
            let mut claims = claims("u");
            for (k, v) in extra.as_object().unwrap() {
                claims[k] = v.clone();
            }
            es256(&issuer, claims)
        };
        let expired = verifier.verify(&with(json!({ "exp": now - 90 }))).await.unwrap_err();
        assert_eq!(expired, JwtError::Expired);
        assert_eq!(expired.to_string(), "token expired");
        verifier.verify(&with(json!({ "exp": now - 30 }))).await.expect("within the skew");

        let early = verifier.verify(&with(json!({ "nbf": now + 120 }))).await.unwrap_err();
        assert_eq!(early, JwtError::NotYetValid);
        assert!(early.to_string().contains("not yet valid"));
        verifier.verify(&with(json!({ "nbf": now + 30 }))).await.expect("within the skew");

        // exp is required.
        assert_eq!(verifier.verify(&with(json!({ "exp": null }))).await.unwrap_err(), JwtError::Malformed);
        assert_eq!(verifier.verify(&with(json!({ "exp": "tomorrow" }))).await.unwrap_err(), JwtError::Malformed);
    }

    /// Scenario 32.
    #[tokio::test]
    async fn wrong_audience_or_issuer_names_the_expected_value() {
        let (issuer, verifier, _) = start(false).await;
        let aud = |aud: Value| es256(&issuer, json!({ "sub": "u", "aud": aud }));
        let wrong = verifier.verify(&aud(json!("https://other.api"))).await.unwrap_err();
        assert_eq!(wrong.to_string(), format!("wrong audience: expected {AUDIENCE}"));
        let listed = verifier.verify(&aud(json!(["https://other.api", AUDIENCE]))).await.unwrap();
        assert_eq!(listed.subject, "u");
        assert!(matches!(
            verifier.verify(&aud(json!(["https://other.api"]))).await,
            Err(JwtError::WrongAudience { .. })
        ));
        assert!(matches!(verifier.verify(&aud(json!(null))).await, Err(JwtError::WrongAudience { .. })));

        // iss must match exactly: the trailing slash counts.
        let other_iss =
            es256(&issuer, json!({ "sub": "u", "aud": AUDIENCE, "iss": issuer.issuer().trim_end_matches('/') }));
        let wrong = verifier.verify(&other_iss).await.unwrap_err();
        assert_eq!(wrong.to_string(), format!("wrong issuer: expected {}", issuer.issuer()));
    }

    /// Scenario 33: the key-confusion attack and unsigned tokens.
    #[tokio::test]
    async fn hs256_and_none_are_refused_before_any_key_lookup() {
        let (issuer, verifier, _) = start(true).await;
        let forged = issuer.mint(claims("u"), MintOptions { alg: SandboxAlg::Hs256WithRsaModulus, kid: None });

        // The forgery is a valid HMAC keyed with the published modulus bytes.
        let published = KeySet::parse(issuer.jwks().to_string().as_bytes()).unwrap();
        let super::jwks::Selection::Found(rsa) = published.select(issuer.rsa_kid().as_deref(), Algorithm::Rs256) else {
            panic!("the RSA key is published");
        };
        let (signed, signature) = forged.rsplit_once('.').unwrap();
        let hmac = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, rsa.rsa_modulus().unwrap());
        ring::hmac::verify(&hmac, signed.as_bytes(), &decode_segment(signature).unwrap()).expect("a valid HMAC");

        let refused = verifier.verify(&forged).await.unwrap_err();
        assert_eq!(refused, JwtError::DisallowedAlgorithm("HS256".into()));
        assert_eq!(refused.to_string(), "algorithm HS256 is not allowed (RS256 or ES256)");

        let unsigned = issuer.mint(claims("u"), MintOptions { alg: SandboxAlg::Unsigned, kid: None });
        let refused = verifier.verify(&unsigned).await.unwrap_err();
        assert_eq!(refused.to_string(), "algorithm none is not allowed (RS256 or ES256)");
        assert!(looks_like_jwt(&unsigned), "routed to the JWT verifier, to be refused there");

        for alg in ["HS384", "HS512", "RS384", "PS256", "ES384", "EdDSA"] {
            let token = format!("{}.{}.", b64(json!({ "alg": alg }).to_string().as_bytes()), b64(b"{}"));
            assert_eq!(verifier.verify(&token).await.unwrap_err(), JwtError::DisallowedAlgorithm(alg.into()));
        }
        // An attacker's alg is shortened and stripped before it reaches a message.
        let odd = format!(
            "{}.{}.",
            b64(json!({ "alg": "HS256<script>\"\n0123456789abcdef" }).to_string().as_bytes()),
            b64(b"{}")
        );
        assert_eq!(verifier.verify(&odd).await.unwrap_err(), JwtError::DisallowedAlgorithm("HS256script01234".into()));

        assert_eq!(issuer.jwks_downloads(), 0, "refused before any key lookup");
    }

    /// Scenario 34.
    #[tokio::test]
    async fn unknown_keys_are_refused_and_refresh_at_most_once_a_minute() {
        let (issuer, verifier, clock) = start(false).await;
        verifier.verify(&es256(&issuer, claims("u"))).await.unwrap();
        assert_eq!(issuer.jwks_downloads(), 1);

        // Signed by a key the issuer never published (same issuer name, other keys).
        let stranger = SandboxIssuer::new(issuer.issuer(), None).unwrap();
        let foreign = es256(&stranger, claims("u"));
        let refused = verifier.verify(&foreign).await.unwrap_err();
        assert_eq!(refused, JwtError::UnknownKey);
        assert_eq!(refused.to_string(), "unknown signing key");
        let results = join_all((0..49).map(|_| verifier.verify(&foreign))).await;
        assert!(results.iter().all(|r| *r == Err(JwtError::UnknownKey)));
        assert_eq!(issuer.jwks_downloads(), 2, "50 unknown-kid tokens: one extra download");

        clock.advance(UNKNOWN_KID_INTERVAL - Duration::from_secs(1));
        assert_eq!(verifier.verify(&foreign).await.unwrap_err(), JwtError::UnknownKey);
        assert_eq!(issuer.jwks_downloads(), 2);
        clock.advance(Duration::from_secs(1));
        assert_eq!(verifier.verify(&foreign).await.unwrap_err(), JwtError::UnknownKey);
        assert_eq!(issuer.jwks_downloads(), 3, "the next minute allows one more");

        // Valid tokens kept verifying from the cache throughout.
        verifier.verify(&es256(&issuer, claims("u"))).await.unwrap();
        assert_eq!(issuer.jwks_downloads(), 3);
    }

    /// Scenario 35, first half: 200 first requests at once, on several
    /// threads, share one download (no stampede).
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn two_hundred_verifications_download_the_keys_once() {
        let (issuer, verifier, _) = start(false).await;
        let tasks = (0..200).map(|i| {
            let (verifier, token) = (verifier.clone(), es256(&issuer, claims(&format!("user-{i}"))));
            tokio::spawn(async move { verifier.verify(&token).await })
        });
        for (i, result) in join_all(tasks.collect::<Vec<_>>()).await.into_iter().enumerate() {
            assert_eq!(result.unwrap().unwrap().subject, format!("user-{i}"));
        }
        assert_eq!(issuer.jwks_downloads(), 1);
    }

    /// Scenario 35, second half.
    #[tokio::test]
    async fn tokens_of_a_rotated_key_verify_without_restart() {
        let (issuer, verifier, clock) = start(false).await;
        let old = es256(&issuer, claims("u"));
        verifier.verify(&old).await.unwrap();

        let answer = reqwest::Client::new().post(format!("{}_rotate", issuer.issuer())).send().await.unwrap();
        let new_kid = serde_json::from_slice::<Value>(&answer.bytes().await.unwrap()).unwrap()["kid"]
            .as_str()
            .unwrap()
            .to_owned();
        assert_eq!(issuer.current_kid(), new_kid);
        let new = es256(&issuer, claims("u"));
        verifier.verify(&new).await.expect("the new key is fetched on first sight");
        verifier.verify(&old).await.expect("the old key is still published");
        assert_eq!(issuer.jwks_downloads(), 2);

        // Dropping the old key: once the set is downloaded again, old tokens fail.
        let answer =
            reqwest::Client::new().post(format!("{}_rotate?drop_old=1", issuer.issuer())).send().await.unwrap();
        assert!(answer.status().is_success());
        clock.advance(UNKNOWN_KID_INTERVAL);
        verifier.verify(&es256(&issuer, claims("u"))).await.unwrap();
        assert_eq!(verifier.verify(&old).await.unwrap_err(), JwtError::UnknownKey);
        assert_eq!(verifier.verify(&new).await.unwrap_err(), JwtError::UnknownKey);
    }

    /// Scenario 36.
    #[tokio::test]
    async fn a_token_without_kid_needs_exactly_one_suitable_key() {
        let (issuer, verifier, _) = start(false).await;
        let no_kid =
            |issuer: &SandboxIssuer| issuer.mint(claims("u"), MintOptions { kid: Some(None), ..Default::default() });
        verifier.verify(&no_kid(&issuer)).await.expect("one key in the set");

        // A JWK without "use" is fine.
        issuer.set_publish_use(false);
        assert!(issuer.jwks()["keys"][0].get("use").is_none());
        let fresh = JwtVerifier::new(settings(&issuer));
        fresh.verify(&no_kid(&issuer)).await.expect("no use, no kid");
        fresh.verify(&es256(&issuer, claims("u"))).await.expect("no use, with kid");

        // Two ES256 keys: which one is meant cannot be told.
        issuer.rotate(false);
        let fresh = JwtVerifier::new(settings(&issuer));
        let refused = fresh.verify(&no_kid(&issuer)).await.unwrap_err();
        assert_eq!(refused, JwtError::UnknownKey);
        fresh.verify(&es256(&issuer, claims("u"))).await.expect("with kid the key is clear");

        // An RSA key beside one EC key: each algorithm has exactly one suitable key.
        let (issuer, verifier, _) = start(true).await;
        verifier.verify(&no_kid(&issuer)).await.expect("one EC key");
        let rs = issuer.mint(claims("u"), MintOptions { alg: SandboxAlg::Rs256, kid: Some(None) });
        verifier.verify(&rs).await.expect("one RSA key");
    }

    #[tokio::test]
    async fn rs256_and_es256_both_verify_and_key_types_must_match() {
        let (issuer, verifier, _) = start(true).await;
        let rs = issuer.mint(claims("rsa-user"), MintOptions { alg: SandboxAlg::Rs256, kid: None });
        assert_eq!(verifier.verify(&rs).await.unwrap().subject, "rsa-user");
        let es = es256(&issuer, claims("ec-user"));
        assert_eq!(verifier.verify(&es).await.unwrap().subject, "ec-user");

        // An ES256 header naming the RSA key's kid: kty/alg disagree, no key fits.
        let crossed = es256_with_kid(&issuer, issuer.rsa_kid());
        assert_eq!(verifier.verify(&crossed).await.unwrap_err(), JwtError::UnknownKey);
        let crossed =
            issuer.mint(claims("u"), MintOptions { alg: SandboxAlg::Rs256, kid: Some(Some(issuer.current_kid())) });
        assert_eq!(verifier.verify(&crossed).await.unwrap_err(), JwtError::UnknownKey);
    }

    fn es256_with_kid(issuer: &SandboxIssuer, kid: Option<String>) -> String {
        issuer.mint(claims("u"), MintOptions { alg: SandboxAlg::Es256, kid: Some(kid) })
    }

    #[tokio::test]
    async fn a_bad_signature_is_refused() {
        let (issuer, verifier, _) = start(true).await;
        for alg in [SandboxAlg::Es256, SandboxAlg::Rs256] {
            let token = issuer.mint(claims("alice"), MintOptions { alg, kid: None });
            let other = issuer.mint(claims("mallory"), MintOptions { alg, kid: None });
            let (signed, _) = token.rsplit_once('.').unwrap();
            let (_, other_signature) = other.rsplit_once('.').unwrap();
            let swapped = format!("{signed}.{other_signature}");
            assert_eq!(verifier.verify(&swapped).await.unwrap_err(), JwtError::BadSignature);

            // The payload changed under a valid signature.
            let (header, rest) = token.split_once('.').unwrap();
            let (_, signature) = rest.split_once('.').unwrap();
            let tampered = format!("{header}.{}.{signature}", b64(claims("mallory").to_string().as_bytes()));
            let error = verifier.verify(&tampered).await.unwrap_err();
            assert_eq!(error, JwtError::BadSignature);
            assert_eq!(error.to_string(), "bad signature");
        }
    }

    #[tokio::test]
    async fn the_key_set_lives_as_long_as_its_max_age() {
        let (issuer, verifier, clock) = start(false).await;
        verifier.verify(&es256(&issuer, claims("u"))).await.unwrap();
        // The sandbox says max-age=3600.
        clock.advance(Duration::from_secs(3599));
        verifier.verify(&es256(&issuer, claims("u"))).await.unwrap();
        assert_eq!(issuer.jwks_downloads(), 1);
        clock.advance(Duration::from_secs(1));
        verifier.verify(&es256(&issuer, claims("u"))).await.unwrap();
        assert_eq!(issuer.jwks_downloads(), 2);
    }

    #[tokio::test]
    async fn a_failed_refresh_keeps_the_cached_keys() {
        let (issuer, verifier, clock) = start(false).await;
        let token = es256(&issuer, claims("u"));
        verifier.verify(&token).await.unwrap();

        issuer.set_jwks_failing(true);
        clock.advance(Duration::from_secs(3600));
        verifier.verify(&token).await.expect("the expired set is still used");
        assert_eq!(issuer.jwks_downloads(), 2, "one failed attempt");
        verifier.verify(&token).await.unwrap();
        assert_eq!(issuer.jwks_downloads(), 2, "no retry before RETRY_AFTER_FAILURE");

        issuer.set_jwks_failing(false);
        clock.advance(RETRY_AFTER_FAILURE);
        verifier.verify(&token).await.unwrap();
        assert_eq!(issuer.jwks_downloads(), 3);
        verifier.verify(&token).await.unwrap();
        assert_eq!(issuer.jwks_downloads(), 3, "fresh again");
    }

    #[tokio::test]
    async fn no_keys_at_all_is_keys_unavailable_then_recovers() {
        let (issuer, verifier, clock) = start(false).await;
        let token = es256(&issuer, claims("u"));
        issuer.set_jwks_failing(true);
        let error = verifier.verify(&token).await.unwrap_err();
        assert_eq!(error, JwtError::KeysUnavailable);
        assert_eq!(error.to_string(), "cannot fetch the issuer's keys; retry shortly");

        issuer.set_jwks_failing(false);
        clock.advance(RETRY_AFTER_FAILURE);
        verifier.verify(&token).await.expect("keys fetched once the issuer is back");
    }

    #[tokio::test]
    async fn a_silent_issuer_times_out() {
        // Accepts connections and never answers.
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await.unwrap();
        let address = listener.local_addr().unwrap();
        let _silent = tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((socket, _)) = listener.accept().await {
                held.push(socket);
            }
        });
        let settings = JwtSettings {
            issuer: format!("http://{address}/"),
            audience: AUDIENCE.into(),
            jwks_url: Some(format!("http://{address}/jwks.json")),
            permissions_claim: DEFAULT_PERMISSIONS_CLAIM.into(),
        };
        let cache = JwksCache::new(settings.issuer.clone(), settings.jwks_url.clone(), Arc::new(Instant::now))
            .with_timeout(Duration::from_millis(300));
        let verifier = JwtVerifier::with_cache(settings, cache);
        let issuer = SandboxIssuer::new(format!("http://{address}/"), None).unwrap();
        let started = Instant::now();
        assert_eq!(verifier.verify(&es256(&issuer, claims("u"))).await.unwrap_err(), JwtError::KeysUnavailable);
        assert!(started.elapsed() < Duration::from_secs(3), "gave up after the timeout: {:?}", started.elapsed());
    }

    #[tokio::test]
    async fn a_configured_jwks_url_skips_discovery() {
        let (issuer, _, _) = start(false).await;
        let verifier = JwtVerifier::new(JwtSettings { jwks_url: Some(issuer.jwks_url()), ..settings(&issuer) });
        verifier.verify(&es256(&issuer, claims("u"))).await.unwrap();
        assert_eq!(issuer.jwks_downloads(), 1);
    }

    #[test]
    fn debug_output_holds_no_token_or_key() {
        let verifier = JwtVerifier::new(JwtSettings {
            issuer: "https://issuer.test/".into(),
            audience: AUDIENCE.into(),
            jwks_url: None,
            permissions_claim: "permissions".into(),
        });
        let debug = format!("{verifier:?}");
        assert!(debug.contains("https://issuer.test/") && !debug.contains("keys"), "{debug}");
        assert_eq!(MAX_LIFETIME, Duration::from_secs(86_400));
    }

    fn lookup(vars: &[(&str, &str)]) -> Result<Option<JwtSettings>, String> {
        let vars: std::collections::HashMap<String, String> =
            vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        JwtSettings::from_lookup(&|name| vars.get(name).cloned())
    }

    #[test]
    fn settings_from_steward_variables() {
        assert_eq!(lookup(&[]), Ok(None));
        let settings =
            lookup(&[("STEWARD_JWT_ISSUER", "https://id.example.org/"), ("STEWARD_JWT_AUDIENCE", "steward")])
                .unwrap()
                .unwrap();
        assert_eq!(
            settings,
            JwtSettings {
                issuer: "https://id.example.org/".into(),
                audience: "steward".into(),
                jwks_url: None,
                permissions_claim: "permissions".into(),
            }
        );
        let settings = lookup(&[
            ("STEWARD_JWT_ISSUER", "https://id.example.org/"),
            ("STEWARD_JWT_AUDIENCE", "steward"),
            ("STEWARD_JWT_JWKS_URL", "https://id.example.org/keys"),
            ("STEWARD_JWT_PERMISSIONS_CLAIM", "roles"),
            // The new variables win over the legacy ones.
            ("OAUTH2_PROVIDER_DOMAIN", "old.auth0.com"),
            ("OAUTH2_PROVIDER_AUDIENCE", "old"),
        ])
        .unwrap()
        .unwrap();
        assert_eq!(settings.jwks_url.as_deref(), Some("https://id.example.org/keys"));
        assert_eq!(settings.permissions_claim, "roles");
        assert_eq!(settings.audience, "steward");
    }

    #[test]
    fn settings_from_legacy_variables() {
        for domain in ["dev-abc.us.auth0.com", "https://dev-abc.us.auth0.com/"] {
            let settings =
                lookup(&[("OAUTH2_PROVIDER_DOMAIN", domain), ("OAUTH2_PROVIDER_AUDIENCE", "https://pg.api")])
                    .unwrap()
                    .unwrap();
            assert_eq!(settings.issuer, "https://dev-abc.us.auth0.com/");
            assert_eq!(settings.jwks_url.as_deref(), Some("https://dev-abc.us.auth0.com/.well-known/jwks.json"));
            assert_eq!(settings.audience, "https://pg.api");
            assert_eq!(settings.permissions_claim, "permissions");
        }
    }

    #[test]
    fn half_configured_settings_name_what_is_missing() {
        let cases: &[(&[(&str, &str)], &str)] = &[
            (&[("STEWARD_JWT_ISSUER", "https://id/")], "STEWARD_JWT_AUDIENCE is not"),
            (&[("STEWARD_JWT_AUDIENCE", "a")], "STEWARD_JWT_ISSUER is not"),
            (&[("STEWARD_JWT_JWKS_URL", "https://id/keys")], "STEWARD_JWT_ISSUER and STEWARD_JWT_AUDIENCE are not"),
            (&[("STEWARD_JWT_PERMISSIONS_CLAIM", "roles")], "no issuer"),
            (&[("OAUTH2_PROVIDER_DOMAIN", "x.auth0.com")], "OAUTH2_PROVIDER_AUDIENCE is not"),
            (&[("OAUTH2_PROVIDER_AUDIENCE", "a"), ("STEWARD_JWT_AUDIENCE", " ")], "OAUTH2_PROVIDER_DOMAIN is not"),
            (&[("STEWARD_JWT_ISSUER", "id.example.org"), ("STEWARD_JWT_AUDIENCE", "a")], "http(s) URL"),
        ];
        for (vars, message) in cases {
            let error = lookup(vars).unwrap_err();
            assert!(error.contains(message), "{vars:?}: {error}");
        }
    }

    #[test]
    fn looks_like_jwt_checks_only_the_shape() {
        let header = b64(br#"{"alg":"RS256","kid":"k"}"#);
        assert!(looks_like_jwt(&format!("{header}.e30.c2ln")));
        assert!(looks_like_jwt(&format!("{header}.anything.")));
        assert!(!looks_like_jwt(&format!("{header}.e30")));
        assert!(!looks_like_jwt(&format!("{header}.e30.c2ln.c2ln")));
        assert!(!looks_like_jwt(&format!("{}.e30.c2ln", b64(br#"{"typ":"JWT"}"#))));
        assert!(!looks_like_jwt(&format!("{}.e30.c2ln", b64(b"[\"alg\"]"))));
        assert!(!looks_like_jwt("not.a.jwt"));
        // A Steward API token: 64 hex characters, no dots.
        assert!(!looks_like_jwt(&"ab".repeat(32)));
    }
}
