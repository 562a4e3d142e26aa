//! JSON Web Key Sets (spec §2.6): the signing keys a verifier can use (RSA
//! for RS256, P-256 for ES256), chosen by `kid` and algorithm, and the cache
//! of one issuer's key set.
//!
//! The cache keeps a downloaded set for the lifetime its `Cache-Control`
//! allows (clamped to 5 min … 24 h, 1 h without one). A token whose `kid` is
//! not in the set triggers at most one download per 60 s, so a flood of
//! forged tokens cannot turn into a flood of requests to the issuer. One
//! download runs at a time and callers that waited for it use its result.
//! A failed download never throws away keys already held. Time comes from an
//! injectable clock so these rules are tested without sleeping.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde_json::Value;

use super::JwtError;

/// Lifetime of a key set whose answer has no usable `max-age`.
pub const DEFAULT_LIFETIME: Duration = Duration::from_secs(60 * 60);
/// Shortest lifetime honoured, whatever the issuer says (also for `no-cache`).
pub const MIN_LIFETIME: Duration = Duration::from_secs(5 * 60);
/// Longest lifetime honoured, so a key removed by the issuer is dropped within a day.
pub const MAX_LIFETIME: Duration = Duration::from_secs(24 * 60 * 60);
/// An unknown `kid` causes at most one download per this interval.
pub const UNKNOWN_KID_INTERVAL: Duration = Duration::from_secs(60);
/// Time allowed for one download (discovery document or key set), body included.
pub const FETCH_TIMEOUT: Duration = Duration::from_secs(5);
/// After a failed download, the next attempt waits this long (stale keys stay in use meanwhile).
pub const RETRY_AFTER_FAILURE: Duration = Duration::from_secs(10);
/// Largest discovery document or key set accepted.
const BODY_LIMIT: usize = 1 << 20;

/// The source of "now" for cache lifetimes and throttling.
pub type Clock = Arc<dyn Fn() -> Instant + Send + Sync>;

/// The signature algorithms Steward accepts (the allow-list of spec §2.6).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Algorithm {
    /// RSASSA-PKCS1-v1_5 with SHA-256, keys of 2048 to 8192 bits.
    Rs256,
    /// ECDSA on P-256 with SHA-256, the signature as r‖s (64 bytes).
    Es256,
}

impl Algorithm {
    /// The algorithm named by a JOSE `alg` value, if it is allowed.
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "RS256" => Some(Self::Rs256),
            "ES256" => Some(Self::Es256),
            _ => None,
        }
    }

    /// The JOSE name.
    pub fn name(self) -> &'static str {
        match self {
            Self::Rs256 => "RS256",
            Self::Es256 => "ES256",
        }
    }
}

/// The public key inside a JWK.
#[derive(Clone, PartialEq, Eq)]
enum KeyMaterial {
    /// Modulus and exponent, big-endian.
    Rsa { n: Vec<u8>, e: Vec<u8> },
    /// The uncompressed point 0x04‖x‖y.
    P256 { point: Vec<u8> },
}

/// One usable public key from a key set.
#[derive(Clone)]
pub struct Jwk {
    /// The key id, if the issuer gave one.
    pub kid: Option<String>,
    /// `use`: absent is fine, anything but `sig` makes the key unsuitable.
    usage: Option<String>,
    /// `alg`: absent is fine, otherwise it must name the token's algorithm.
    alg: Option<String>,
    /// `key_ops`: absent is fine, otherwise it must contain `verify`.
    can_verify: bool,
    material: KeyMaterial,
}

impl std::fmt::Debug for Jwk {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kty = match self.material {
            KeyMaterial::Rsa { .. } => "RSA",
            KeyMaterial::P256 { .. } => "EC P-256",
        };
        f.debug_struct("Jwk").field("kid", &self.kid).field("kty", &kty).field("alg", &self.alg).finish_non_exhaustive()
    }
}

fn b64(value: Option<&Value>) -> Option<Vec<u8>> {
    let text = value?.as_str()?;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(text.trim_end_matches('=')).ok()
}

fn strip_leading_zeros(bytes: Vec<u8>) -> Vec<u8> {
    let first = bytes.iter().position(|b| *b != 0).unwrap_or(bytes.len());
    bytes[first..].to_vec()
}

impl Jwk {
    /// Reads one member of a key set. `None` for keys Steward cannot use
    /// (other key types or curves, missing or malformed parameters), which
    /// are skipped rather than spoiling the whole set.
    pub fn parse(value: &Value) -> Option<Self> {
        let object = value.as_object()?;
        let text = |name: &str| object.get(name).and_then(Value::as_str).map(str::to_owned);
        let material = match object.get("kty")?.as_str()? {
            "RSA" => {
                let n = strip_leading_zeros(b64(object.get("n"))?);
                let e = strip_leading_zeros(b64(object.get("e"))?);
                if n.is_empty() || e.is_empty() {
                    return None;
                }
                KeyMaterial::Rsa { n, e }
            }
            "EC" => {
                if object.get("crv")?.as_str()? != "P-256" {
                    return None;
                }
                let (x, y) = (b64(object.get("x"))?, b64(object.get("y"))?);
                if x.len() != 32 || y.len() != 32 {
                    return None;
                }
                let mut point = Vec::with_capacity(65);
                point.push(0x04);
                point.extend_from_slice(&x);
                point.extend_from_slice(&y);
                KeyMaterial::P256 { point }
            }
            _ => return None,
        };
        let can_verify = match object.get("key_ops") {
            None | Some(Value::Null) => true,
            Some(Value::Array(ops)) => ops.iter().any(|op| op.as_str() == Some("verify")),
            Some(_) => false,
        };
        Some(Self { kid: text("kid"), usage: text("use"), alg: text("alg"), can_verify, material })
    }

    /// Whether this key may verify a token signed with `alg`: a signing key
    /// (`use` absent or `sig`) of the matching type and curve, whose own
    /// `alg`, if given, is the token's.
    pub fn suits(&self, alg: Algorithm) -> bool {
        let type_matches = matches!(
            (alg, &self.material),
            (Algorithm::Rs256, KeyMaterial::Rsa { .. }) | (Algorithm::Es256, KeyMaterial::P256 { .. })
        );
        type_matches
            && self.can_verify
            && self.usage.as_deref().is_none_or(|u| u == "sig")
            && self.alg.as_deref().is_none_or(|a| a == alg.name())
    }

    /// Checks `signature` over `message` (the token's `header.payload`).
    pub fn verify(&self, alg: Algorithm, message: &[u8], signature: &[u8]) -> bool {
        use ring::signature;
        match (alg, &self.material) {
            (Algorithm::Rs256, KeyMaterial::Rsa { n, e }) => signature::RsaPublicKeyComponents { n, e }
                .verify(&signature::RSA_PKCS1_2048_8192_SHA256, message, signature)
                .is_ok(),
            (Algorithm::Es256, KeyMaterial::P256 { point }) => {
                signature::UnparsedPublicKey::new(&signature::ECDSA_P256_SHA256_FIXED, point)
                    .verify(message, signature)
                    .is_ok()
            }
            _ => false,
        }
    }

    /// The RSA modulus, for tests that forge HMAC tokens keyed with it.
    #[cfg(test)]
    pub(crate) fn rsa_modulus(&self) -> Option<&[u8]> {
        match &self.material {
            KeyMaterial::Rsa { n, .. } => Some(n),
            KeyMaterial::P256 { .. } => None,
        }
    }
}

/// The outcome of looking a token's key up in a set.
#[derive(Debug)]
pub enum Selection {
    /// The one key to check the signature with.
    Found(Arc<Jwk>),
    /// No suitable key has that `kid` (or, without `kid`, none suits at all):
    /// a newer set might have it.
    Missing,
    /// No `kid` and several suitable keys: refused, since guessing would let
    /// any published key stand in for any other.
    Ambiguous,
}

/// The usable keys of one downloaded set.
#[derive(Debug, Default)]
pub struct KeySet {
    keys: Vec<Arc<Jwk>>,
}

impl KeySet {
    /// Parses a JWKS document (`{"keys": [...]}`); keys Steward cannot use are skipped.
    pub fn parse(body: &[u8]) -> Result<Self, String> {
        let document: Value = serde_json::from_slice(body).map_err(|e| format!("not JSON: {e}"))?;
        let members = document.get("keys").and_then(Value::as_array).ok_or("no \"keys\" array")?;
        Ok(Self { keys: members.iter().filter_map(Jwk::parse).map(Arc::new).collect() })
    }

    /// Number of usable keys.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether no key is usable.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// The key for a token with this `kid` (if any) and algorithm.
    pub fn select(&self, kid: Option<&str>, alg: Algorithm) -> Selection {
        let mut suitable = self.keys.iter().filter(|k| k.suits(alg));
        match kid {
            Some(kid) => match suitable.find(|k| k.kid.as_deref() == Some(kid)) {
                Some(key) => Selection::Found(key.clone()),
                None => Selection::Missing,
            },
            None => match (suitable.next(), suitable.next()) {
                (Some(key), None) => Selection::Found(key.clone()),
                (None, _) => Selection::Missing,
                (Some(_), Some(_)) => Selection::Ambiguous,
            },
        }
    }
}

/// The lifetime granted by a `Cache-Control` header: its `max-age`, clamped
/// to [`MIN_LIFETIME`] … [`MAX_LIFETIME`]; [`DEFAULT_LIFETIME`] without one.
pub fn cache_lifetime(cache_control: Option<&str>) -> Duration {
    let Some(header) = cache_control else { return DEFAULT_LIFETIME };
    let mut lifetime = None;
    for directive in header.split(',') {
        let directive = directive.trim();
        let (name, value) = directive.split_once('=').unwrap_or((directive, ""));
        match name.trim().to_ascii_lowercase().as_str() {
            "max-age" => {
                if let Ok(seconds) = value.trim().trim_matches('"').parse::<u64>() {
                    lifetime = Some(Duration::from_secs(seconds));
                }
            }
            // "Do not reuse without checking" still gets the minimum: checking
            // on every request is exactly the load the cache exists to avoid.
            "no-cache" | "no-store" => return MIN_LIFETIME,
            _ => {}
        }
    }
    lifetime.unwrap_or(DEFAULT_LIFETIME).clamp(MIN_LIFETIME, MAX_LIFETIME)
}

/// Why a caller asks for a download.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Trigger {
    /// No set yet: callers wait for the download.
    NoKeys,
    /// The set outlived its lifetime: while one caller downloads, the others
    /// keep verifying with it rather than queue behind a slow issuer.
    Expired,
    /// The set has no key for the token's `kid`.
    UnknownKid,
}

#[derive(Default)]
struct CacheState {
    keys: Option<Arc<KeySet>>,
    fresh_until: Option<Instant>,
    /// Downloads attempted so far; a caller that waited for another's
    /// download sees this change and uses that result instead of downloading.
    attempts: u64,
    retry_not_before: Option<Instant>,
    last_unknown_kid_download: Option<Instant>,
    /// `jwks_uri` from the discovery document, when no JWKS URL is configured.
    discovered_url: Option<String>,
}

struct Snapshot {
    keys: Option<Arc<KeySet>>,
    stale: bool,
    attempts: u64,
}

/// One issuer's key set, downloaded on demand and cached.
pub struct JwksCache {
    issuer: String,
    jwks_url: Option<String>,
    client: reqwest::Client,
    clock: Clock,
    timeout: Duration,
    state: Mutex<CacheState>,
    /// Held for the length of a download: one at a time.
    download: tokio::sync::Mutex<()>,
}

impl std::fmt::Debug for JwksCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwksCache")
            .field("issuer", &self.issuer)
            .field("jwks_url", &self.jwks_url)
            .finish_non_exhaustive()
    }
}

impl JwksCache {
    /// A cache for `issuer`'s keys, read from `jwks_url` or, without one,
    /// from the `jwks_uri` of the issuer's OIDC discovery document.
    pub fn new(issuer: String, jwks_url: Option<String>, clock: Clock) -> Self {
        let client = reqwest::Client::builder()
            .user_agent(concat!("Steward/", env!("CARGO_PKG_VERSION")))
            .redirect(reqwest::redirect::Policy::limited(3))
            .build()
            .expect("the TLS backend initialises");
        Self {
            issuer,
            jwks_url,
            client,
            clock,
            timeout: FETCH_TIMEOUT,
            state: Mutex::default(),
            download: tokio::sync::Mutex::new(()),
        }
    }

    /// Overrides [`FETCH_TIMEOUT`] (tests use a short one against a silent server).
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    fn state(&self) -> MutexGuard<'_, CacheState> {
        // The state stays consistent across every panic point (plain field writes).
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn snapshot(&self) -> Snapshot {
        let now = (self.clock)();
        let state = self.state();
        Snapshot {
            keys: state.keys.clone(),
            stale: state.fresh_until.is_none_or(|until| now >= until),
            attempts: state.attempts,
        }
    }

    /// The cached set while it is fresh (no download).
    pub fn fresh(&self) -> Option<Arc<KeySet>> {
        let snapshot = self.snapshot();
        snapshot.keys.filter(|_| !snapshot.stale)
    }

    /// The key to verify a token with this `kid` and algorithm, downloading
    /// the set when it is missing, expired, or lacks the `kid` (throttled).
    pub async fn key_for(&self, kid: Option<&str>, alg: Algorithm) -> Result<Arc<Jwk>, JwtError> {
        let mut snapshot = self.snapshot();
        let mut downloaded = false;
        let trigger = match (&snapshot.keys, snapshot.stale) {
            (None, _) => Some(Trigger::NoKeys),
            (Some(_), true) => Some(Trigger::Expired),
            (Some(_), false) => None,
        };
        if let Some(trigger) = trigger {
            downloaded = self.refresh(snapshot.attempts, trigger).await;
            snapshot = self.snapshot();
        }
        let keys = snapshot.keys.ok_or(JwtError::KeysUnavailable)?;
        match keys.select(kid, alg) {
            Selection::Found(key) => Ok(key),
            Selection::Ambiguous => Err(JwtError::UnknownKey),
            // A set fetched for this very call is as new as it gets.
            Selection::Missing if downloaded => Err(JwtError::UnknownKey),
            Selection::Missing => {
                self.refresh(snapshot.attempts, Trigger::UnknownKid).await;
                match self.snapshot().keys.map(|keys| keys.select(kid, alg)) {
                    Some(Selection::Found(key)) => Ok(key),
                    _ => Err(JwtError::UnknownKey),
                }
            }
        }
    }

    /// Downloads the set unless another caller did since `seen_attempts`, the
    /// throttles forbid it, or (for an expired set) a download is under way.
    /// Returns whether this call downloaded.
    async fn refresh(&self, seen_attempts: u64, trigger: Trigger) -> bool {
        let _one_at_a_time = match trigger {
            Trigger::Expired => match self.download.try_lock() {
                Ok(guard) => guard,
                Err(_) => return false,
            },
            Trigger::NoKeys | Trigger::UnknownKid => self.download.lock().await,
        };
        {
            let now = (self.clock)();
            let mut state = self.state();
            if state.attempts != seen_attempts {
                return false;
            }
            match trigger {
                Trigger::NoKeys | Trigger::Expired => {
                    if state.retry_not_before.is_some_and(|t| now < t) {
                        return false;
                    }
                }
                Trigger::UnknownKid => {
                    if state.last_unknown_kid_download.is_some_and(|t| now.duration_since(t) < UNKNOWN_KID_INTERVAL) {
                        return false;
                    }
                    state.last_unknown_kid_download = Some(now);
                }
            }
        }
        let result = self.download().await;
        let now = (self.clock)();
        let mut state = self.state();
        state.attempts += 1;
        match result {
            Ok((keys, lifetime)) => {
                tracing::debug!(jwt.issuer = %self.issuer, jwks.keys = keys.len(), jwks.lifetime_s = lifetime.as_secs(), "JWKS downloaded");
                state.keys = Some(Arc::new(keys));
                state.fresh_until = Some(now + lifetime);
                state.retry_not_before = None;
            }
            Err(error) => {
                tracing::warn!(jwt.issuer = %self.issuer, error = %error, kept_keys = state.keys.is_some(), "JWKS download failed");
                state.retry_not_before = Some(now + RETRY_AFTER_FAILURE);
                // A moved discovery document is looked up again next time.
                state.discovered_url = None;
            }
        }
        true
    }

    async fn download(&self) -> Result<(KeySet, Duration), String> {
        let url = match &self.jwks_url {
            Some(url) => url.clone(),
            None => self.discover().await?,
        };
        let (body, cache_control) = self.get(&url).await?;
        let keys = KeySet::parse(&body).map_err(|e| format!("{url}: {e}"))?;
        Ok((keys, cache_lifetime(cache_control.as_deref())))
    }

    async fn discover(&self) -> Result<String, String> {
        if let Some(url) = self.state().discovered_url.clone() {
            return Ok(url);
        }
        let url = format!("{}/.well-known/openid-configuration", self.issuer.trim_end_matches('/'));
        let (body, _) = self.get(&url).await?;
        let document: Value = serde_json::from_slice(&body).map_err(|e| format!("{url}: not JSON: {e}"))?;
        let jwks_uri =
            document.get("jwks_uri").and_then(Value::as_str).ok_or_else(|| format!("{url}: no jwks_uri"))?.to_owned();
        self.state().discovered_url = Some(jwks_uri.clone());
        Ok(jwks_uri)
    }

    /// GETs `url` within the timeout: body (at most [`BODY_LIMIT`]) and `Cache-Control`.
    async fn get(&self, url: &str) -> Result<(Vec<u8>, Option<String>), String> {
        let fetch = async {
            let mut response = self.client.get(url).send().await.map_err(|e| format!("{url}: {e}"))?;
            if !response.status().is_success() {
                return Err(format!("{url} answered {}", response.status()));
            }
            let cache_control =
                response.headers().get(reqwest::header::CACHE_CONTROL).and_then(|v| v.to_str().ok()).map(str::to_owned);
            let mut body = Vec::new();
            while let Some(chunk) = response.chunk().await.map_err(|e| format!("{url}: {e}"))? {
                if body.len() + chunk.len() > BODY_LIMIT {
                    return Err(format!("{url}: answer larger than {BODY_LIMIT} bytes"));
                }
                body.extend_from_slice(&chunk);
            }
            Ok((body, cache_control))
        };
        tokio::time::timeout(self.timeout, fetch)
            .await
            .unwrap_or_else(|_| Err(format!("{url}: no answer within {} ms", self.timeout.as_millis())))
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::auth::jwt::sandbox::SandboxIssuer;

    #[tokio::test]
    async fn an_expired_set_stays_in_use_while_another_caller_downloads() {
        let (issuer, _served) = SandboxIssuer::start_local(None).await.unwrap();
        let base = Instant::now();
        let offset = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let clock_offset = offset.clone();
        let clock: Clock =
            Arc::new(move || base + Duration::from_secs(clock_offset.load(std::sync::atomic::Ordering::SeqCst)));
        let cache = JwksCache::new(issuer.issuer().to_owned(), Some(issuer.jwks_url()), clock);
        let kid = issuer.current_kid();
        cache.key_for(Some(&kid), Algorithm::Es256).await.unwrap();
        offset.store(DEFAULT_LIFETIME.as_secs(), std::sync::atomic::Ordering::SeqCst);

        // Another caller's download is under way (it holds the download lock).
        let in_flight = cache.download.lock().await;
        let key = cache.key_for(Some(&kid), Algorithm::Es256).await.expect("the expired set answers at once");
        assert_eq!(key.kid.as_deref(), Some(kid.as_str()));
        assert_eq!(issuer.jwks_downloads(), 1);
        drop(in_flight);

        cache.key_for(Some(&kid), Algorithm::Es256).await.unwrap();
        assert_eq!(issuer.jwks_downloads(), 2, "the next caller refreshes");
    }

    #[test]
    fn max_age_is_clamped_to_five_minutes_through_a_day() {
        assert_eq!(cache_lifetime(None), DEFAULT_LIFETIME);
        assert_eq!(cache_lifetime(Some("public, max-age=3600")), Duration::from_secs(3600));
        assert_eq!(cache_lifetime(Some("max-age=1800, must-revalidate")), Duration::from_secs(1800));
        assert_eq!(cache_lifetime(Some("Max-Age=\"7200\"")), Duration::from_secs(7200));
        assert_eq!(cache_lifetime(Some("max-age=60")), MIN_LIFETIME);
        assert_eq!(cache_lifetime(Some("max-age=0")), MIN_LIFETIME);
        assert_eq!(cache_lifetime(Some("no-cache")), MIN_LIFETIME);
        assert_eq!(cache_lifetime(Some("no-store, max-age=86400")), MIN_LIFETIME);
        assert_eq!(cache_lifetime(Some("max-age=31536000")), MAX_LIFETIME);
        assert_eq!(cache_lifetime(Some("max-age=soon")), DEFAULT_LIFETIME);
        assert_eq!(cache_lifetime(Some("public")), DEFAULT_LIFETIME);
    }

    fn ec(extra: serde_json::Value) -> serde_json::Value {
        let mut jwk = json!({ "kty": "EC", "crv": "P-256", "kid": "ec", "x": "A".repeat(43), "y": "A".repeat(43) });
        for (k, v) in extra.as_object().unwrap() {
            jwk[k] = v.clone();
        }
        jwk
    }

    fn rsa(extra: serde_json::Value) -> serde_json::Value {
        // 256 modulus bytes after a leading zero, as some issuers publish them.
        let mut n = vec![0u8];
        n.extend([0xC5; 256]);
        let n = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(n);
        let mut jwk = json!({ "kty": "RSA", "kid": "rsa", "n": n, "e": "AQAB" });
        for (k, v) in extra.as_object().unwrap() {
            jwk[k] = v.clone();
        }
        jwk
    }

    #[test]
    fn key_type_curve_alg_and_use_must_agree_with_the_token() {
        let suits = |jwk: serde_json::Value, alg| Jwk::parse(&jwk).is_some_and(|k| k.suits(alg));
        assert!(suits(ec(json!({})), Algorithm::Es256));
        assert!(suits(ec(json!({ "use": "sig", "alg": "ES256" })), Algorithm::Es256));
        assert!(!suits(ec(json!({})), Algorithm::Rs256));
        assert!(!suits(ec(json!({ "use": "enc" })), Algorithm::Es256));
        assert!(!suits(ec(json!({ "alg": "ES384" })), Algorithm::Es256));
        assert!(!suits(ec(json!({ "key_ops": ["encrypt"] })), Algorithm::Es256));
        assert!(suits(ec(json!({ "key_ops": ["verify"] })), Algorithm::Es256));
        assert!(Jwk::parse(&ec(json!({ "crv": "P-384" }))).is_none());
        assert!(Jwk::parse(&ec(json!({ "x": "AAAA" }))).is_none());

        assert!(suits(rsa(json!({})), Algorithm::Rs256));
        assert!(suits(rsa(json!({ "use": "sig", "alg": "RS256" })), Algorithm::Rs256));
        assert!(!suits(rsa(json!({})), Algorithm::Es256));
        assert!(!suits(rsa(json!({ "alg": "PS256" })), Algorithm::Rs256));
        assert!(!suits(rsa(json!({ "use": "enc" })), Algorithm::Rs256));
        assert!(Jwk::parse(&rsa(json!({ "n": "!!" }))).is_none());
        let modulus = Jwk::parse(&rsa(json!({}))).unwrap();
        assert_eq!(modulus.rsa_modulus().unwrap().len(), 256, "leading zero stripped");

        assert!(Jwk::parse(&json!({ "kty": "oct", "k": "c2VjcmV0" })).is_none());
        assert!(Jwk::parse(&json!({ "kty": "OKP", "crv": "Ed25519", "x": "AAAA" })).is_none());
    }

    #[test]
    fn a_key_set_skips_unusable_keys_and_selects_by_kid() {
        let body = json!({ "keys": [ec(json!({})), rsa(json!({})), { "kty": "oct", "k": "c2VjcmV0" }, "junk"] });
        let set = KeySet::parse(body.to_string().as_bytes()).unwrap();
        assert_eq!(set.len(), 2);
        assert!(
            matches!(set.select(Some("ec"), Algorithm::Es256), Selection::Found(k) if k.kid.as_deref() == Some("ec"))
        );
        assert!(matches!(set.select(Some("rsa"), Algorithm::Es256), Selection::Missing));
        assert!(matches!(set.select(Some("other"), Algorithm::Es256), Selection::Missing));
        assert!(matches!(set.select(None, Algorithm::Rs256), Selection::Found(k) if k.kid.as_deref() == Some("rsa")));

        let two = json!({ "keys": [ec(json!({})), ec(json!({ "kid": "ec2" }))] });
        let set = KeySet::parse(two.to_string().as_bytes()).unwrap();
        assert!(matches!(set.select(None, Algorithm::Es256), Selection::Ambiguous));
        assert!(matches!(set.select(None, Algorithm::Rs256), Selection::Missing));

        assert!(KeySet::parse(b"<html>").is_err());
        assert!(KeySet::parse(b"{\"keys\": {}}").is_err());
        assert!(KeySet::parse(b"{\"keys\": []}").unwrap().is_empty());
    }
}
