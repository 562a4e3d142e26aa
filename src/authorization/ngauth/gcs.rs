//! Minting a downscoped Cloud Storage token (spec §3.6 "Minting"): Steward's
//! own Google access token (the source) exchanged at STS for one restricted to
//! `roles/storage.objectViewer` on one bucket by a Credential Access Boundary.
//!
//! The source token comes from a service-account key file (JWT-bearer grant,
//! RS256 signed with ring) or from the metadata server; in sandbox mode the
//! sandbox's metadata route issues it. Both the source token and each
//! bucket's downscoped token are cached until 5 minutes before they expire:
//! the downscoped token names no user (who may have it is decided on every
//! request before the cache is consulted), so one per bucket serves everyone.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use serde::Deserialize;

use super::config::{NgauthConfig, SourceCredential};
use crate::config::Secret;

/// The scope of the source token.
const CLOUD_PLATFORM: &str = "https://www.googleapis.com/auth/cloud-platform";
/// Tokens are dropped from the caches this long before they expire.
const EARLY: Duration = Duration::from_secs(300);
/// Bound on cached bucket tokens; beyond it the cache is emptied.
const MAX_BUCKETS: usize = 10_000;
/// Per outbound call.
const TIMEOUT: Duration = Duration::from_secs(10);

/// Why no token could be minted (spec §3.6 step 5).
#[derive(Debug, thiserror::Error)]
pub enum MintError {
    /// The source token could not be obtained (503).
    #[error("source credential unavailable: {0}")]
    SourceUnavailable(String),
    /// STS could not be reached (503).
    #[error("STS unreachable: {0}")]
    StsUnreachable(String),
    /// STS answered without a token (502).
    #[error("STS refused the exchange: {0}")]
    StsFailed(String),
}

struct Cached {
    token: Secret,
    until: Instant,
}

impl Cached {
    fn fresh(&self) -> Option<Secret> {
        (Instant::now() < self.until).then(|| self.token.clone())
    }

    fn new(token: String, expires_in: u64) -> Self {
        let until = Instant::now() + Duration::from_secs(expires_in).saturating_sub(EARLY);
        Self { token: Secret::new(token), until }
    }
}

/// The STS client with its two caches; one per server.
pub struct Minter {
    http: reqwest::Client,
    sts_url: String,
    source: SourceCredential,
    source_token: Mutex<Option<Cached>>,
    buckets: Mutex<HashMap<String, Cached>>,
}

impl std::fmt::Debug for Minter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Minter").field("sts_url", &self.sts_url).field("source", &self.source).finish_non_exhaustive()
    }
}

/// STS's and the token endpoints' success body.
#[derive(Deserialize)]
struct TokenResponse {
    access_token: Option<String>,
    expires_in: Option<u64>,
}

/// The fields of a service-account key file Steward uses.
#[derive(Deserialize)]
struct KeyFile {
    client_email: String,
    private_key: String,
    token_uri: String,
}

impl Minter {
    /// A minter for `config` (no network yet).
    pub fn new(config: &NgauthConfig) -> Self {
        // Building fails only if the TLS backend cannot start; the default client then.
        let http = reqwest::Client::builder().timeout(TIMEOUT).build().unwrap_or_default();
        Self {
            http,
            sts_url: config.sts_url.clone(),
            source: config.source.clone(),
            source_token: Mutex::new(None),
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// A read-only token for `bucket`, from the cache or a new exchange.
    pub async fn token_for(&self, bucket: &str) -> Result<Secret, MintError> {
        if let Some(token) = self.buckets.lock().unwrap_or_else(|e| e.into_inner()).get(bucket).and_then(Cached::fresh)
        {
            return Ok(token);
        }
        let source = self.source_token().await?;
        let (token, expires_in) = self.exchange(&source, bucket).await?;
        let mut buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        if buckets.len() >= MAX_BUCKETS {
            buckets.clear();
        }
        buckets.insert(bucket.to_owned(), Cached::new(token.expose().to_owned(), expires_in));
        Ok(token)
    }

    /// The STS form body for `bucket`, fields in the order the spec gives.
    pub fn exchange_form(source_token: &str, bucket: &str) -> String {
        // Structs, not `json!`: the spec's key order (a map would sort them).
        #[derive(serde::Serialize)]
        #[serde(rename_all = "camelCase")]
        struct Options<'a> {
            access_boundary: Boundary<'a>,
        }
        #[derive(serde::Serialize)]
        #[serde(rename_all = "camelCase")]
        struct Boundary<'a> {
            access_boundary_rules: [Rule<'a>; 1],
        }
        #[derive(serde::Serialize)]
        #[serde(rename_all = "camelCase")]
        struct Rule<'a> {
            available_resource: String,
            available_permissions: [&'a str; 1],
        }
        let options = Options {
            access_boundary: Boundary {
                access_boundary_rules: [Rule {
                    available_resource: format!("//storage.googleapis.com/projects/_/buckets/{bucket}"),
                    available_permissions: ["inRole:roles/storage.objectViewer"],
                }],
            },
        };
        let options = serde_json::to_string(&options).expect("options serialize");
        form_urlencoded::Serializer::new(String::new())
            .append_pair("grant_type", "urn:ietf:params:oauth:grant-type:token-exchange")
            .append_pair("options", &options)
            .append_pair("requested_token_type", "urn:ietf:params:oauth:token-type:access_token")
            .append_pair("subject_token", source_token)
            .append_pair("subject_token_type", "urn:ietf:params:oauth:token-type:access_token")
            .finish()
    }

    async fn exchange(&self, source: &Secret, bucket: &str) -> Result<(Secret, u64), MintError> {
        let response = self
            .http
            .post(&self.sts_url)
            .header(reqwest::header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(Self::exchange_form(source.expose(), bucket))
            .send()
            .await
            .map_err(|e| MintError::StsUnreachable(e.without_url().to_string()))?;
        let status = response.status();
        if !status.is_success() {
            return Err(MintError::StsFailed(format!("HTTP {status}")));
        }
        let body: TokenResponse =
            read_json(response).await.ok_or_else(|| MintError::StsFailed("unreadable body".into()))?;
        match body.access_token.filter(|t| !t.is_empty()) {
            Some(token) => Ok((Secret::new(token), body.expires_in.unwrap_or(3600))),
            None => Err(MintError::StsFailed("no access_token".into())),
        }
    }

    async fn source_token(&self) -> Result<Secret, MintError> {
        if let Some(token) =
            self.source_token.lock().unwrap_or_else(|e| e.into_inner()).as_ref().and_then(Cached::fresh)
        {
            return Ok(token);
        }
        let unavailable = |e: String| MintError::SourceUnavailable(e);
        let request = match &self.source {
            SourceCredential::Metadata(url) => self.http.get(url).header("Metadata-Flavor", "Google"),
            SourceCredential::KeyFile(path) => {
                let (token_uri, assertion) = jwt_assertion(path).await.map_err(unavailable)?;
                let form = form_urlencoded::Serializer::new(String::new())
                    .append_pair("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer")
                    .append_pair("assertion", &assertion)
                    .finish();
                self.http
                    .post(token_uri)
                    .header(reqwest::header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                    .body(form)
            }
        };
        let response = request.send().await.map_err(|e| unavailable(e.without_url().to_string()))?;
        if !response.status().is_success() {
            return Err(unavailable(format!("HTTP {}", response.status())));
        }
        let body: TokenResponse = read_json(response).await.ok_or_else(|| unavailable("unreadable body".into()))?;
        let token = body.access_token.filter(|t| !t.is_empty()).ok_or_else(|| unavailable("no access_token".into()))?;
        let cached = Cached::new(token, body.expires_in.unwrap_or(3600));
        let secret = cached.token.clone();
        *self.source_token.lock().unwrap_or_else(|e| e.into_inner()) = Some(cached);
        Ok(secret)
    }
}

/// A small JSON body (token endpoints answer a few hundred bytes).
async fn read_json<T: serde::de::DeserializeOwned>(response: reqwest::Response) -> Option<T> {
    let bytes = response.bytes().await.ok()?;
    serde_json::from_slice(&bytes).ok()
}

/// Reads the key file and signs the JWT-bearer assertion; returns (token_uri, assertion).
async fn jwt_assertion(path: &PathBuf) -> Result<(String, String), String> {
    let text = tokio::fs::read_to_string(path).await.map_err(|e| format!("reading {}: {e}", path.display()))?;
    let key: KeyFile =
        serde_json::from_str(&text).map_err(|_| format!("{} is not a service-account key file", path.display()))?;
    let iat = chrono::Utc::now().timestamp();
    let assertion = sign_assertion(&key.private_key, &key.client_email, &key.token_uri, iat)?;
    Ok((key.token_uri, assertion))
}

/// `header.claims.signature` (RS256) of the JWT-bearer grant.
pub fn sign_assertion(private_key_pem: &str, client_email: &str, token_uri: &str, iat: i64) -> Result<String, String> {
    let der = pem_body(private_key_pem).ok_or("the key file's private_key is not a PEM key")?;
    let pair = ring::signature::RsaKeyPair::from_pkcs8(&der)
        .map_err(|_| "the key file's private_key is not an RSA PKCS#8 key")?;
    let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"RS256","typ":"JWT"}"#);
    let claims = serde_json::json!({
        "iss": client_email, "scope": CLOUD_PLATFORM, "aud": token_uri, "iat": iat, "exp": iat + 3600,
    });
    let signing_input = format!("{header}.{}", URL_SAFE_NO_PAD.encode(claims.to_string()));
    let mut signature = vec![0; pair.public().modulus_len()];
    pair.sign(
        &ring::signature::RSA_PKCS1_SHA256,
        &ring::rand::SystemRandom::new(),
        signing_input.as_bytes(),
        &mut signature,
    )
    .map_err(|_| "signing the assertion failed")?;
    Ok(format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(signature)))
}

/// The DER bytes between the `-----BEGIN …-----` and `-----END …-----` lines.
fn pem_body(pem: &str) -> Option<Vec<u8>> {
    let body: String = pem.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with("-----")).collect();
    STANDARD.decode(body).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_exchange_body_is_byte_for_byte_the_spec_s() {
        let expected = "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Atoken-exchange&options=%7B%22accessBoundary%22%3A%7B%22accessBoundaryRules%22%3A%5B%7B%22availableResource%22%3A%22%2F%2Fstorage.googleapis.com%2Fprojects%2F_%2Fbuckets%2Fmy-bucket%22%2C%22availablePermissions%22%3A%5B%22inRole%3Aroles%2Fstorage.objectViewer%22%5D%7D%5D%7D%7D&requested_token_type=urn%3Aietf%3Aparams%3Aoauth%3Atoken-type%3Aaccess_token&subject_token=SOURCE_TOKEN&subject_token_type=urn%3Aietf%3Aparams%3Aoauth%3Atoken-type%3Aaccess_token";
        assert_eq!(Minter::exchange_form("SOURCE_TOKEN", "my-bucket"), expected);
    }

    #[test]
    fn pem_bodies_decode_and_junk_keys_are_refused() {
        assert_eq!(pem_body("-----BEGIN X-----\nAAEC\nAw==\n-----END X-----\n"), Some(vec![0, 1, 2, 3]));
        assert!(
            sign_assertion("-----BEGIN PRIVATE KEY-----\nAAEC\n-----END PRIVATE KEY-----", "a@b", "https://t", 0)
                .is_err()
        );
    }
}
