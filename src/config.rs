//! Typed configuration, read once from the environment (and an optional `.env`
//! file loaded by `main`) and validated before anything starts.
//!
//! | variable | default | meaning |
//! |---|---|---|
//! | `STEWARD_ENV` | `development` | `development` or `production`; production refuses unsafe defaults (below) |
//! | `STEWARD_LISTEN` | `127.0.0.1:8080` | the one address serving gRPC, gRPC-web and HTTP |
//! | `STEWARD_PUBLIC_URL` | `http://127.0.0.1:8080` | base of every link Steward hands out (never taken from `Host`) |
//! | `DATABASE_URL` | unset | PostgreSQL URL or `key=value` string, TLS by libpq's `sslmode`/`sslrootcert` ([`crate::db::tls`]); unset = embedded cluster under the data dir |
//! | `STEWARD_DATA_DIR` | `./var` | embedded PostgreSQL cluster, development keyring, local blobs |
//! | `STEWARD_OBJECT_STORE` | unset: files under `STEWARD_DATA_DIR/blobs` | `s3://bucket/prefix` stores sealed blobs in an S3-compatible bucket ([`crate::blobs::StoreConfig`]) |
//! | `STEWARD_S3_ENDPOINT`, `STEWARD_S3_REGION` | AWS S3; `AWS_DEFAULT_REGION`, else `us-east-1` | service URL of another S3-compatible store (MinIO, Ceph, …) and its region |
//! | `STEWARD_S3_ACCESS_KEY_ID`, `STEWARD_S3_SECRET_ACCESS_KEY` | the `AWS_*` variables, then container or instance credentials | the bucket's access key (secret) |
//! | `STEWARD_S3_ALLOW_HTTP` | `false` | `true` allows an `http://` endpoint (production: loopback only) |
//! | `STEWARD_ENCRYPTION_KEYS` | generated into the data dir (development only) | keyring `id:base64key,…`, first = current (secret) |
//! | `STEWARD_DB_POOL_SIZE` | `16` | maximum pooled database connections |
//! | `STEWARD_DB_POOL_TIMEOUT` | `5s` | how long a request waits for a pooled connection before UNAVAILABLE |
//! | `STEWARD_DB_STATEMENT_TIMEOUT` | `30s` | PostgreSQL `statement_timeout` for every pooled connection |
//! | `STEWARD_REQUEST_TIMEOUT` | `30s` | deadline for one unary request (server streams are not cut) |
//! | `STEWARD_MAX_CONCURRENT_REQUESTS` | `1024` | requests served at once; more wait, then are shed |
//! | `STEWARD_RATE_LIMIT` | `100` | sustained requests per second per caller (principal, else client address); `off` disables (not in production) |
//! | `STEWARD_RATE_LIMIT_BURST` | twice `STEWARD_RATE_LIMIT` | requests a caller may send at once after a quiet spell |
//! | `STEWARD_TRUSTED_PROXIES` | `127.0.0.1,::1` | proxies whose `X-Forwarded-For` names the client of a call without credential (rate limit key) |
//! | `STEWARD_MAX_MESSAGE_BYTES` | `4194304` | largest gRPC message accepted or sent |
//! | `STEWARD_CORS_ORIGINS` | the origin of `STEWARD_PUBLIC_URL` | comma-separated origins allowed to call gRPC-web with credentials |
//! | `STEWARD_WORKERS` | `2` | background job workers inside `serve` (`0` = none; run `steward worker`) |
//! | `STEWARD_PERMISSION_CACHE_MAX_ENTRIES` | `10000` | principals whose permission decisions are cached (least recently used go first) |
//! | `STEWARD_PERMISSION_CACHE_TTL` | `600s` | safety TTL of a cached decision; correctness rests on NOTIFY eviction, not on it |
//! | `STEWARD_OIDC_ISSUER`, `STEWARD_OIDC_CLIENT_ID`, `STEWARD_OIDC_CLIENT_SECRET` | unset: the sandbox provider (production: sign-in off); `GOOGLE_CLIENT_ID`/`_SECRET` mean Google | the OIDC provider people sign in with (details in [`crate::authorization::signin::config`]) |
//! | `STEWARD_OIDC_REDIRECT_PATH` | `/api/v1/oauth2callback` | callback path of the OAuth `redirect_uri` (`<STEWARD_PUBLIC_URL><path>`) |
//! | `STEWARD_OIDC_SANDBOX`, `STEWARD_OIDC_SANDBOX_ACCOUNTS`, `STEWARD_OIDC_SANDBOX_RSA_KEY` | `on` in development without an issuer; three example accounts; ES256 | the offline OIDC provider at `/sandbox/oidc` (refused in production) |
//! | `STEWARD_AUTH_COOKIE_NAME`, `STEWARD_AUTH_COOKIE_DOMAIN` | `dsg_token`, host-only | the sign-in cookie's name and `Domain` |
//! | `STEWARD_AUTH_COOKIE_MAX_AGE`, `STEWARD_AUTH_COOKIE_SAMESITE` | `604800` s; `none` when `Secure` (https or loopback), else `lax` | cookie and login-token lifetime; `SameSite` |
//! | `STEWARD_LOGIN_TOKENS_MAX` | `10` | live login tokens (signed-in browsers) per user; the oldest are revoked |
//! | `STEWARD_REDIRECT_ALLOWED_HOSTS` | the cookie domain | hosts (with subdomains) that `redirect`/`next` may name besides Steward's own |
//! | `STEWARD_TOKEN_HANDOFF_PARAM` | unset (off) | query parameter carrying the login token to an `https` redirect target outside the cookie domain after sign-in |
//! | `STEWARD_MIDDLEAUTH_ALLOWED_ORIGINS` | `STEWARD_NGAUTH_ALLOWED_ORIGINS` | viewer origins (regex, full match) the middleauth popup of `/api/v1/authorize` posts the login token to |
//! | `STEWARD_LOG` | `info` | tracing filter (`RUST_LOG` syntax) |
//! | `STEWARD_LOG_FORMAT` | `text`; `json` in production | `text` or `json` (one JSON object per line, for log collectors) |
//!
//! | `STEWARD_NGAUTH_ALLOWED_ORIGINS` | `*.neuroglancer.org` and the public demo | Neuroglancer origins (regex, full match) allowed at `/token`, `/login?origin=`, `/gcs_token`, `/activate` |
//! | `STEWARD_NGAUTH_TOKEN_LIFETIME` | `3600s` | lifetime of the ngauth HMAC tokens |
//! | `STEWARD_GCS_MODE` | `sandbox`, `real` in production | `/gcs_token` against Google's STS or the in-repo sandbox STS (refused in production) |
//! | `STEWARD_GCS_STS_URL` | `https://sts.googleapis.com/v1/token` (sandbox: its own) | the STS token-exchange endpoint |
//! | `GOOGLE_APPLICATION_CREDENTIALS` | the metadata server | Steward's Google identity whose token `/gcs_token` downscopes (details in [`crate::authorization::ngauth::config`]) |
//!
//! DonationService's variables (providers, sandbox, limits) are listed in
//! [`crate::donation::config`]; sandbox providers are on unless `STEWARD_ENV=production`.
//!
//! Durations accept a number with unit `ms`, `s`, `m`, `h` or `d` (`30s`, `5m`); a bare number means seconds.
//! Production (`STEWARD_ENV=production`) requires `STEWARD_ENCRYPTION_KEYS`, refuses sandbox
//! providers (`STEWARD_GOOGLE_MODE`/`STEWARD_TIKTOK_MODE`), and requires either `DATABASE_URL` or an explicitly set `STEWARD_DATA_DIR`.

use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use crate::donation::config::DonationConfig;

/// A configuration error: names the variable and what is wrong with it.
#[derive(Debug, thiserror::Error)]
#[error("{var}: {message}")]
pub struct ConfigError {
    /// The environment variable at fault.
    pub var: &'static str,
    /// What is wrong and how to fix it.
    pub message: String,
}

pub(crate) fn invalid(var: &'static str, message: impl Into<String>) -> ConfigError {
    ConfigError { var, message: message.into() }
}

/// A value that must never be printed (keys, passwords in URLs).
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret value.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The secret itself; call only where it is used, never to log it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret([redacted])")
    }
}

/// Where Steward runs: development allows conveniences production refuses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Environment {
    /// Embedded database, generated keys and sandbox providers allowed.
    Development,
    /// Every secret and external service must be configured explicitly.
    Production,
}

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line, for log collectors.
    Json,
}

/// Everything Steward reads from its environment, validated.
#[derive(Debug, Clone)]
pub struct Config {
    /// Development or production.
    pub env: Environment,
    /// The one listen address.
    pub listen: SocketAddr,
    /// Base URL of every link handed out, without a trailing slash.
    pub public_url: String,
    /// External PostgreSQL; `None` = embedded cluster under `data_dir`.
    pub database_url: Option<Secret>,
    /// Data directory (embedded cluster, development keyring, blobs).
    pub data_dir: PathBuf,
    /// Where sealed blobs are stored: under `data_dir`, or in an S3-compatible bucket.
    pub blob_store: crate::blobs::StoreConfig,
    /// Keyring spec from the environment; `None` = generated into the data dir (development).
    pub encryption_keys: Option<Secret>,
    /// Maximum pooled database connections.
    pub db_pool_size: usize,
    /// Wait for a pooled connection.
    pub db_pool_timeout: Duration,
    /// PostgreSQL `statement_timeout`.
    pub db_statement_timeout: Duration,
    /// Deadline of one unary request.
    pub request_timeout: Duration,
    /// Requests served at once.
    pub max_concurrent_requests: usize,
    /// Largest gRPC message accepted or sent.
    pub max_message_bytes: usize,
    /// Requests per caller; `None` = off.
    pub rate_limit: Option<crate::ratelimit::RateLimit>,
    /// Proxies (Envoy) whose `X-Forwarded-For` names the client for the rate limit.
    pub trusted_proxies: Vec<std::net::IpAddr>,
    /// Origins allowed to call gRPC-web with credentials.
    pub cors_origins: Vec<String>,
    /// In-process job workers.
    pub workers: usize,
    /// Principals whose permission decisions are cached.
    pub permission_cache_max_entries: usize,
    /// Safety TTL of a cached permission decision.
    pub permission_cache_ttl: Duration,
    /// DonationService: providers, sandbox, processing limits.
    pub donation: DonationConfig,
    /// SecretShareService: which party this is, batch limits.
    pub secretshare: crate::secretshare::config::SecretShareConfig,
    /// UploadService: limits, staging, e-mail.
    pub upload: crate::upload::config::UploadConfig,
    /// Neuroglancer ngauth: allowed origins, token lifetime, STS and Google identity.
    pub ngauth: crate::authorization::ngauth::NgauthConfig,
    /// Sign-in: OIDC provider, the login cookie, redirect allow-list.
    pub signin: crate::authorization::signin::SigninConfig,
    /// The external OIDC issuer whose bearer JWTs are accepted; `None`: none.
    pub jwt: Option<crate::auth::jwt::JwtSettings>,
    /// Tracing filter.
    pub log_filter: String,
    /// Log format.
    pub log_format: LogFormat,
}

impl Config {
    /// Reads and validates the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads and validates configuration from any lookup (tests pass a map).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let get = |name: &str| lookup(name).map(|v| v.trim().to_owned()).filter(|v| !v.is_empty());

        let env = match get("STEWARD_ENV").as_deref() {
            None | Some("development") => Environment::Development,
            Some("production") => Environment::Production,
            Some(other) => {
                return Err(invalid("STEWARD_ENV", format!("'{other}' is neither 'development' nor 'production'")));
            }
        };
        let listen = match get("STEWARD_LISTEN") {
            None => SocketAddr::from(([127, 0, 0, 1], 8080)),
            Some(v) => v
                .parse()
                .map_err(|_| invalid("STEWARD_LISTEN", format!("'{v}' is not an address like 127.0.0.1:8080")))?,
        };
        let public_url = parse_public_url(get("STEWARD_PUBLIC_URL"))?;
        let data_dir_set = get("STEWARD_DATA_DIR");
        let data_dir = PathBuf::from(data_dir_set.clone().unwrap_or_else(|| "./var".into()));
        let database_url = get("DATABASE_URL").map(Secret::new);
        if let Some(url) = &database_url {
            // A wrong sslmode stops the start here rather than at the first connection.
            crate::db::tls::TlsOptions::split(url.expose()).map_err(|e| invalid("DATABASE_URL", e.to_string()))?;
        }
        let encryption_keys = get("STEWARD_ENCRYPTION_KEYS").map(Secret::new);
        if get("STEWARD_SANDBOX_PROVIDERS").is_some() {
            return Err(invalid(
                "STEWARD_SANDBOX_PROVIDERS",
                "was replaced by STEWARD_GOOGLE_MODE and STEWARD_TIKTOK_MODE (real, sandbox or off)",
            ));
        }
        let donation = DonationConfig::from_lookup(&get, env, &public_url, listen)?;
        let cors_origins = match get("STEWARD_CORS_ORIGINS") {
            Some(v) => {
                v.split(',').map(|o| o.trim().trim_end_matches('/').to_owned()).filter(|o| !o.is_empty()).collect()
            }
            None => vec![origin_of(&public_url)],
        };
        if cors_origins.iter().any(|o| o == "*") {
            return Err(invalid(
                "STEWARD_CORS_ORIGINS",
                "'*' would let any site call Steward with the user's cookie; list the origins",
            ));
        }
        let log_format = match get("STEWARD_LOG_FORMAT").as_deref() {
            // Production logs go to collectors that parse lines: one JSON object each.
            None if env == Environment::Production => LogFormat::Json,
            None | Some("text") => LogFormat::Text,
            Some("json") => LogFormat::Json,
            Some(other) => {
                return Err(invalid("STEWARD_LOG_FORMAT", format!("'{other}' is neither 'text' nor 'json'")));
            }
        };

        let upload = crate::upload::config::UploadConfig::from_lookup(&get, &data_dir, &public_url)?;
        let signin = crate::authorization::signin::SigninConfig::from_lookup(&get, env, &public_url, listen)?;
        let config = Self {
            env,
            listen,
            public_url,
            database_url,
            data_dir,
            blob_store: crate::blobs::StoreConfig::from_lookup(&get, env)?,
            encryption_keys,
            db_pool_size: parse_count(&get, "STEWARD_DB_POOL_SIZE", 16, 1..=1000)?,
            db_pool_timeout: parse_duration_var(&get, "STEWARD_DB_POOL_TIMEOUT", Duration::from_secs(5))?,
            db_statement_timeout: parse_duration_var(&get, "STEWARD_DB_STATEMENT_TIMEOUT", Duration::from_secs(30))?,
            request_timeout: parse_duration_var(&get, "STEWARD_REQUEST_TIMEOUT", Duration::from_secs(30))?,
            max_concurrent_requests: parse_count(&get, "STEWARD_MAX_CONCURRENT_REQUESTS", 1024, 1..=1_000_000)?,
            max_message_bytes: parse_count(&get, "STEWARD_MAX_MESSAGE_BYTES", 4 << 20, 1024..=(256 << 20))?,
            rate_limit: parse_rate_limit(&get)?,
            trusted_proxies: parse_trusted_proxies(&get)?,
            cors_origins,
            workers: parse_count(&get, "STEWARD_WORKERS", 2, 0..=256)?,
            permission_cache_max_entries: parse_count(
                &get,
                "STEWARD_PERMISSION_CACHE_MAX_ENTRIES",
                crate::dataset::cache::DEFAULT_MAX_ENTRIES,
                1..=10_000_000,
            )?,
            permission_cache_ttl: parse_duration_var(
                &get,
                "STEWARD_PERMISSION_CACHE_TTL",
                crate::dataset::cache::DEFAULT_TTL,
            )?,
            donation,
            secretshare: crate::secretshare::config::SecretShareConfig::from_lookup(&get)?,
            upload,
            ngauth: crate::authorization::ngauth::NgauthConfig::from_lookup(&get, env, listen)?,
            signin,
            jwt: crate::auth::jwt::JwtSettings::from_lookup(&get).map_err(|m| invalid("STEWARD_JWT_ISSUER", m))?,
            log_filter: get("STEWARD_LOG").unwrap_or_else(|| "info".into()),
            log_format,
        };
        if config.env == Environment::Production {
            config.check_production(data_dir_set.is_some())?;
        }
        Ok(config)
    }

    fn check_production(&self, data_dir_set: bool) -> Result<(), ConfigError> {
        if self.encryption_keys.is_none() {
            return Err(invalid(
                "STEWARD_ENCRYPTION_KEYS",
                "production needs explicit keys (generate with `steward keys generate`); generated keys are for development",
            ));
        }
        if self.database_url.is_none() && !data_dir_set {
            return Err(invalid(
                "DATABASE_URL",
                "production needs DATABASE_URL, or an explicit STEWARD_DATA_DIR for the embedded cluster",
            ));
        }
        if self.rate_limit.is_none() {
            return Err(invalid(
                "STEWARD_RATE_LIMIT",
                "production keeps a per-caller rate limit; raise it (e.g. 10000) rather than turning it off",
            ));
        }
        Ok(())
    }

    /// Whether the sandbox providers (and their `/sandbox/` routes) are on.
    pub fn sandbox_providers(&self) -> bool {
        self.donation.sandbox_active()
    }

    /// Whether this is a development deployment.
    pub fn is_development(&self) -> bool {
        self.env == Environment::Development
    }
}

fn parse_public_url(value: Option<String>) -> Result<String, ConfigError> {
    let url = value.unwrap_or_else(|| "http://127.0.0.1:8080".into());
    let url = url.trim_end_matches('/').to_owned();
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))
        .ok_or_else(|| invalid("STEWARD_PUBLIC_URL", format!("'{url}' must start with http:// or https://")))?;
    if rest.is_empty() || rest.contains(['?', '#', ' ']) {
        return Err(invalid(
            "STEWARD_PUBLIC_URL",
            format!("'{url}' is not a base URL like https://steward.example.org"),
        ));
    }
    Ok(url)
}

/// `https://host:port/path` → `https://host:port`.
fn origin_of(url: &str) -> String {
    let scheme_end = url.find("://").map_or(0, |i| i + 3);
    match url[scheme_end..].find('/') {
        Some(i) => url[..scheme_end + i].to_owned(),
        None => url.to_owned(),
    }
}

pub(crate) fn parse_count(
    get: &impl Fn(&str) -> Option<String>,
    var: &'static str,
    default: usize,
    range: std::ops::RangeInclusive<usize>,
) -> Result<usize, ConfigError> {
    let Some(value) = get(var) else {
        return Ok(default);
    };
    value.parse::<usize>().ok().filter(|n| range.contains(n)).ok_or_else(|| {
        invalid(var, format!("'{value}' is not a whole number from {} to {}", range.start(), range.end()))
    })
}

/// `STEWARD_RATE_LIMIT` (requests per second, or `off`) and `STEWARD_RATE_LIMIT_BURST`.
fn parse_rate_limit(get: &impl Fn(&str) -> Option<String>) -> Result<Option<crate::ratelimit::RateLimit>, ConfigError> {
    use crate::ratelimit::{DEFAULT_BURST_SECONDS, DEFAULT_PER_SECOND, RateLimit};
    let per_second = match get("STEWARD_RATE_LIMIT") {
        None => DEFAULT_PER_SECOND,
        Some(v) if v.eq_ignore_ascii_case("off") => return Ok(None),
        Some(v) => v.parse::<u32>().ok().filter(|n| (1..=1_000_000).contains(n)).ok_or_else(|| {
            invalid("STEWARD_RATE_LIMIT", format!("'{v}' is neither requests per second from 1 to 1000000 nor 'off'"))
        })?,
    };
    let default_burst = (per_second * DEFAULT_BURST_SECONDS) as usize;
    let burst = parse_count(get, "STEWARD_RATE_LIMIT_BURST", default_burst, 1..=10_000_000)?;
    Ok(Some(RateLimit { per_second, burst: burst as u32 }))
}

/// `STEWARD_TRUSTED_PROXIES`: comma-separated addresses; default the loopback
/// addresses, where the Envoy of a single-host deployment connects from.
fn parse_trusted_proxies(get: &impl Fn(&str) -> Option<String>) -> Result<Vec<std::net::IpAddr>, ConfigError> {
    let value = get("STEWARD_TRUSTED_PROXIES").unwrap_or_else(|| "127.0.0.1,::1".to_owned());
    value
        .split(',')
        .map(str::trim)
        .filter(|a| !a.is_empty())
        .map(|a| a.parse().map_err(|_| invalid("STEWARD_TRUSTED_PROXIES", format!("'{a}' is not an IP address"))))
        .collect()
}

pub(crate) fn parse_duration_var(
    get: &impl Fn(&str) -> Option<String>,
    var: &'static str,
    default: Duration,
) -> Result<Duration, ConfigError> {
    match get(var) {
        None => Ok(default),
        Some(v) => parse_duration(&v).ok_or_else(|| invalid(var, format!("'{v}' is not a duration like 30s or 5m"))),
    }
}

/// Parses `250ms`, `30s`, `5m`, `2h`, `30d` or a bare number of seconds.
pub fn parse_duration(value: &str) -> Option<Duration> {
    let value = value.trim();
    let split = value.find(|c: char| !c.is_ascii_digit()).unwrap_or(value.len());
    let (number, unit) = value.split_at(split);
    let number: u64 = number.parse().ok()?;
    let seconds = |n: u64, unit: u64| n.checked_mul(unit).map(Duration::from_secs);
    match unit.trim() {
        "ms" => Some(Duration::from_millis(number)),
        "" | "s" => seconds(number, 1),
        "m" => seconds(number, 60),
        "h" => seconds(number, 3600),
        "d" => seconds(number, 86_400),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn config(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let map: HashMap<String, String> = vars.iter().map(|(k, v)| ((*k).into(), (*v).into())).collect();
        Config::from_lookup(|k| map.get(k).cloned())
    }

    #[test]
    fn defaults_are_a_working_development_setup() {
        let c = config(&[]).unwrap();
        assert_eq!(c.env, Environment::Development);
        assert_eq!(c.listen.to_string(), "127.0.0.1:8080");
        assert_eq!(c.public_url, "http://127.0.0.1:8080");
        assert_eq!(c.cors_origins, vec!["http://127.0.0.1:8080".to_owned()]);
        assert!(c.sandbox_providers());
        assert!(c.database_url.is_none());
    }

    #[test]
    fn production_refuses_unsafe_defaults() {
        let err = config(&[("STEWARD_ENV", "production")]).unwrap_err();
        assert_eq!(err.var, "STEWARD_ENCRYPTION_KEYS");
        let err = config(&[("STEWARD_ENV", "production"), ("STEWARD_GOOGLE_MODE", "sandbox")]).unwrap_err();
        assert_eq!(err.var, "STEWARD_GOOGLE_MODE");
        let keys = ("STEWARD_ENCRYPTION_KEYS", "k1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=");
        let err = config(&[("STEWARD_ENV", "production"), keys]).unwrap_err();
        assert_eq!(err.var, "DATABASE_URL");
        let ok = config(&[("STEWARD_ENV", "production"), keys, ("STEWARD_DATA_DIR", "/srv/steward")]).unwrap();
        assert!(!ok.sandbox_providers());
        let ok = config(&[("STEWARD_ENV", "production"), keys, ("DATABASE_URL", "postgres://db/steward")]).unwrap();
        assert!(ok.database_url.is_some());
    }

    #[test]
    fn an_unknown_sslmode_stops_the_start() {
        let err = config(&[("DATABASE_URL", "postgres://u:hunter2@db/x?sslmode=verify")]).unwrap_err();
        assert_eq!(err.var, "DATABASE_URL");
        assert!(err.message.contains("sslmode=\"verify\""), "{}", err.message);
        assert!(!err.to_string().contains("hunter2"), "{err}");
        assert!(config(&[("DATABASE_URL", "postgres://db/x?sslmode=verify-full&sslrootcert=/ca.pem")]).is_ok());
    }

    #[test]
    fn logs_are_json_in_production_unless_text_is_asked_for() {
        assert_eq!(config(&[]).unwrap().log_format, LogFormat::Text);
        assert_eq!(config(&[("STEWARD_LOG_FORMAT", "json")]).unwrap().log_format, LogFormat::Json);
        let keys = ("STEWARD_ENCRYPTION_KEYS", "k1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=");
        let production = [("STEWARD_ENV", "production"), keys, ("DATABASE_URL", "postgres://db/steward")];
        assert_eq!(config(&production).unwrap().log_format, LogFormat::Json);
        let text = [production.as_slice(), &[("STEWARD_LOG_FORMAT", "text")]].concat();
        assert_eq!(config(&text).unwrap().log_format, LogFormat::Text);
    }

    #[test]
    fn bad_values_name_the_variable() {
        assert_eq!(config(&[("STEWARD_LISTEN", "nowhere")]).unwrap_err().var, "STEWARD_LISTEN");
        assert_eq!(config(&[("STEWARD_ENV", "staging")]).unwrap_err().var, "STEWARD_ENV");
        assert_eq!(config(&[("STEWARD_PUBLIC_URL", "ftp://x")]).unwrap_err().var, "STEWARD_PUBLIC_URL");
        assert_eq!(config(&[("STEWARD_DB_POOL_SIZE", "0")]).unwrap_err().var, "STEWARD_DB_POOL_SIZE");
        assert_eq!(config(&[("STEWARD_REQUEST_TIMEOUT", "soon")]).unwrap_err().var, "STEWARD_REQUEST_TIMEOUT");
        assert_eq!(config(&[("STEWARD_CORS_ORIGINS", "*")]).unwrap_err().var, "STEWARD_CORS_ORIGINS");
    }

    #[test]
    fn secrets_never_print() {
        let c = config(&[("DATABASE_URL", "postgres://u:hunter2@db/x"), ("STEWARD_ENCRYPTION_KEYS", "k:c2VjcmV0")])
            .unwrap();
        let printed = format!("{c:?}");
        assert!(!printed.contains("hunter2"));
        assert!(!printed.contains("c2VjcmV0"));
    }

    #[test]
    fn the_permission_cache_is_sized_by_config() {
        let c = config(&[]).unwrap();
        assert_eq!((c.permission_cache_max_entries, c.permission_cache_ttl), (10_000, Duration::from_secs(600)));
        let c =
            config(&[("STEWARD_PERMISSION_CACHE_MAX_ENTRIES", "50"), ("STEWARD_PERMISSION_CACHE_TTL", "1m")]).unwrap();
        assert_eq!((c.permission_cache_max_entries, c.permission_cache_ttl), (50, Duration::from_secs(60)));
        assert_eq!(
            config(&[("STEWARD_PERMISSION_CACHE_MAX_ENTRIES", "0")]).unwrap_err().var,
            "STEWARD_PERMISSION_CACHE_MAX_ENTRIES"
        );
    }

    #[test]
    fn the_rate_limit_defaults_to_generous_and_can_be_turned_off_outside_production() {
        use crate::ratelimit::RateLimit;
        assert_eq!(config(&[]).unwrap().rate_limit, Some(RateLimit { per_second: 100, burst: 200 }));
        let c = config(&[("STEWARD_RATE_LIMIT", "5")]).unwrap();
        assert_eq!(c.rate_limit, Some(RateLimit { per_second: 5, burst: 10 }));
        let c = config(&[("STEWARD_RATE_LIMIT", "5"), ("STEWARD_RATE_LIMIT_BURST", "1")]).unwrap();
        assert_eq!(c.rate_limit, Some(RateLimit { per_second: 5, burst: 1 }));
        assert_eq!(config(&[("STEWARD_RATE_LIMIT", "off")]).unwrap().rate_limit, None);
        assert_eq!(config(&[("STEWARD_RATE_LIMIT", "0")]).unwrap_err().var, "STEWARD_RATE_LIMIT");
        assert_eq!(config(&[("STEWARD_RATE_LIMIT", "lots")]).unwrap_err().var, "STEWARD_RATE_LIMIT");
        assert_eq!(config(&[("STEWARD_RATE_LIMIT_BURST", "0")]).unwrap_err().var, "STEWARD_RATE_LIMIT_BURST");
        let keys = ("STEWARD_ENCRYPTION_KEYS", "k1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=");
        let production = [("STEWARD_ENV", "production"), keys, ("DATABASE_URL", "postgres://db/steward")];
        assert!(config(&production).unwrap().rate_limit.is_some());
        let off = [production.as_slice(), &[("STEWARD_RATE_LIMIT", "off")]].concat();
        assert_eq!(config(&off).unwrap_err().var, "STEWARD_RATE_LIMIT");
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("250ms"), Some(Duration::from_millis(250)));
        assert_eq!(parse_duration("30"), Some(Duration::from_secs(30)));
        assert_eq!(parse_duration("5m"), Some(Duration::from_secs(300)));
        assert_eq!(parse_duration("30d"), Some(Duration::from_secs(30 * 86_400)));
        assert_eq!(parse_duration("5 years"), None);
        assert_eq!(parse_duration(""), None);
        assert_eq!(origin_of("https://a.example:8443/base"), "https://a.example:8443");
    }
}
