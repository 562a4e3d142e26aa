//! `NgauthConfig`: Neuroglancer ngauth's variables (spec §7.8), read with the
//! rest of [`crate::config::Config`].
//!
//! | variable | default | meaning |
//! |---|---|---|
//! | `STEWARD_NGAUTH_ALLOWED_ORIGINS` | `https://([A-Za-z0-9-]+\.)*neuroglancer\.org\|https://neuroglancer-demo\.appspot\.com` | regex an viewer origin must match in full for `/token`, `/login?origin=`, `/gcs_token` and `/activate` |
//! | `STEWARD_NGAUTH_TOKEN_LIFETIME` | `3600s` | lifetime of the HMAC tokens `/token` and `/login` mint |
//! | `STEWARD_GCS_MODE` | `sandbox`, `real` in production | `real`: Google's STS and Steward's Google identity; `sandbox`: the in-repo STS and metadata server under `/sandbox/gcp/` (refused in production) |
//! | `STEWARD_GCS_STS_URL` | `https://sts.googleapis.com/v1/token` (sandbox: its own) | the token-exchange endpoint |
//! | `GOOGLE_APPLICATION_CREDENTIALS` | the metadata server | service-account key file (JSON) whose token is exchanged (real mode) |

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use crate::config::{ConfigError, Environment, invalid, parse_duration_var};

/// The default allowlist: every `*.neuroglancer.org` host and the public demo
/// (DSG's default missed the demo host; spec §3.6).
pub const DEFAULT_ALLOWED_ORIGINS: &str =
    r"https://([A-Za-z0-9-]+\.)*neuroglancer\.org|https://neuroglancer-demo\.appspot\.com";
/// Google's token-exchange endpoint.
pub const GOOGLE_STS_URL: &str = "https://sts.googleapis.com/v1/token";
/// The metadata server's token endpoint (on GCE, GKE, Cloud Run).
pub const METADATA_TOKEN_URL: &str =
    "http://metadata.google.internal/computeMetadata/v1/instance/service-accounts/default/token";

/// Where the downscoped tokens come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GcsMode {
    /// Google's STS exchanging Steward's own Google identity's token.
    Real,
    /// The in-repo sandbox STS and metadata server (development and tests).
    Sandbox,
}

/// Where Steward's own Google access token (the STS subject token) comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SourceCredential {
    /// A service-account key file: JWT-bearer grant at its `token_uri`.
    KeyFile(PathBuf),
    /// A metadata server's token endpoint (Google's, or the sandbox's).
    Metadata(String),
}

/// Neuroglancer ngauth's configuration.
#[derive(Debug, Clone)]
pub struct NgauthConfig {
    /// Viewer origins allowed, anchored so it matches whole origins only.
    pub allowed_origins: regex::Regex,
    /// Lifetime of a minted ngauth token.
    pub token_lifetime: Duration,
    /// Real Google or the sandbox.
    pub mode: GcsMode,
    /// The STS token endpoint.
    pub sts_url: String,
    /// Steward's own Google identity.
    pub source: SourceCredential,
}

impl NgauthConfig {
    pub(crate) fn from_lookup(
        get: &impl Fn(&str) -> Option<String>,
        env: Environment,
        listen: SocketAddr,
    ) -> Result<Self, ConfigError> {
        let pattern = get("STEWARD_NGAUTH_ALLOWED_ORIGINS").unwrap_or_else(|| DEFAULT_ALLOWED_ORIGINS.to_owned());
        // Full match even without ^…$ (DSG's prefix match let `x.neuroglancer.org.attacker.example` in).
        let allowed_origins = regex::Regex::new(&format!("^(?:{pattern})$"))
            .map_err(|e| invalid("STEWARD_NGAUTH_ALLOWED_ORIGINS", format!("not a regular expression: {e}")))?;
        let token_lifetime = parse_duration_var(get, "STEWARD_NGAUTH_TOKEN_LIFETIME", Duration::from_secs(3600))?;
        if token_lifetime.is_zero() || token_lifetime > Duration::from_secs(86_400) {
            return Err(invalid("STEWARD_NGAUTH_TOKEN_LIFETIME", "must be between 1 s and 24 h"));
        }
        let production = env == Environment::Production;
        let mode = match get("STEWARD_GCS_MODE").as_deref() {
            None if production => GcsMode::Real,
            None | Some("sandbox") => GcsMode::Sandbox,
            Some("real") => GcsMode::Real,
            Some(other) => {
                return Err(invalid("STEWARD_GCS_MODE", format!("'{other}' is neither 'real' nor 'sandbox'")));
            }
        };
        if production && mode == GcsMode::Sandbox {
            return Err(invalid("STEWARD_GCS_MODE", "the sandbox STS is for development and tests, not production"));
        }
        let (sts_url, source) = match mode {
            GcsMode::Real => {
                let source = match get("GOOGLE_APPLICATION_CREDENTIALS") {
                    Some(path) => SourceCredential::KeyFile(PathBuf::from(path)),
                    None => SourceCredential::Metadata(METADATA_TOKEN_URL.to_owned()),
                };
                (get("STEWARD_GCS_STS_URL").unwrap_or_else(|| GOOGLE_STS_URL.to_owned()), source)
            }
            GcsMode::Sandbox => {
                // Steward reaches its own sandbox over loopback, like the donation sandboxes.
                let base = get("STEWARD_SANDBOX_INTERNAL_URL")
                    .map(|u| u.trim_end_matches('/').to_owned())
                    .unwrap_or_else(|| format!("http://{}/sandbox", loopback(listen)));
                let sts = get("STEWARD_GCS_STS_URL").unwrap_or_else(|| format!("{base}/gcp/sts/v1/token"));
                let metadata = format!("{base}/gcp/computeMetadata/v1/instance/service-accounts/default/token");
                (sts, SourceCredential::Metadata(metadata))
            }
        };
        let plain_http_ok = mode == GcsMode::Sandbox && sts_url.starts_with("http://");
        if !(sts_url.starts_with("https://") || plain_http_ok) {
            return Err(invalid("STEWARD_GCS_STS_URL", format!("'{sts_url}' must be an https:// URL")));
        }
        Ok(Self { allowed_origins, token_lifetime, mode, sts_url, source })
    }
}

/// The address to reach our own listener at (`0.0.0.0` → loopback).
fn loopback(listen: SocketAddr) -> SocketAddr {
    match listen.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => SocketAddr::from(([127, 0, 0, 1], listen.port())),
        IpAddr::V6(ip) if ip.is_unspecified() => SocketAddr::from(([0, 0, 0, 0, 0, 0, 0, 1], listen.port())),
        _ => listen,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn config(env: Environment, vars: &[(&str, &str)]) -> Result<NgauthConfig, ConfigError> {
        let map: HashMap<String, String> = vars.iter().map(|(k, v)| ((*k).into(), (*v).into())).collect();
        NgauthConfig::from_lookup(&|k: &str| map.get(k).cloned(), env, SocketAddr::from(([0, 0, 0, 0], 8080)))
    }

    #[test]
    fn development_uses_the_sandbox_over_loopback() {
        let c = config(Environment::Development, &[]).unwrap();
        assert_eq!(c.mode, GcsMode::Sandbox);
        assert_eq!(c.sts_url, "http://127.0.0.1:8080/sandbox/gcp/sts/v1/token");
        assert_eq!(
            c.source,
            SourceCredential::Metadata(
                "http://127.0.0.1:8080/sandbox/gcp/computeMetadata/v1/instance/service-accounts/default/token".into()
            )
        );
        assert_eq!(c.token_lifetime, Duration::from_secs(3600));
    }

    #[test]
    fn production_uses_google_and_refuses_the_sandbox() {
        let c = config(Environment::Production, &[]).unwrap();
        assert_eq!((c.mode, c.sts_url.as_str()), (GcsMode::Real, GOOGLE_STS_URL));
        assert_eq!(c.source, SourceCredential::Metadata(METADATA_TOKEN_URL.into()));
        let c = config(Environment::Production, &[("GOOGLE_APPLICATION_CREDENTIALS", "/etc/sa.json")]).unwrap();
        assert_eq!(c.source, SourceCredential::KeyFile("/etc/sa.json".into()));
        let err = config(Environment::Production, &[("STEWARD_GCS_MODE", "sandbox")]).unwrap_err();
        assert_eq!(err.var, "STEWARD_GCS_MODE");
        let err = config(Environment::Production, &[("STEWARD_GCS_STS_URL", "http://sts.example")]).unwrap_err();
        assert_eq!(err.var, "STEWARD_GCS_STS_URL");
    }

    #[test]
    fn the_allowlist_matches_whole_origins() {
        let c = config(Environment::Development, &[]).unwrap();
        for ok in ["https://neuroglancer.org", "https://x.neuroglancer.org", "https://neuroglancer-demo.appspot.com"] {
            assert!(c.allowed_origins.is_match(ok), "{ok}");
        }
        for bad in ["https://x.neuroglancer.org.attacker.example", "http://x.neuroglancer.org", "https://evil.example"]
        {
            assert!(!c.allowed_origins.is_match(bad), "{bad}");
        }
        let c =
            config(Environment::Development, &[("STEWARD_NGAUTH_ALLOWED_ORIGINS", "http://localhost:\\d+")]).unwrap();
        assert!(c.allowed_origins.is_match("http://localhost:8000"));
        assert!(!c.allowed_origins.is_match("http://localhost:8000.evil"));
        let err = config(Environment::Development, &[("STEWARD_NGAUTH_ALLOWED_ORIGINS", "(")]).unwrap_err();
        assert_eq!(err.var, "STEWARD_NGAUTH_ALLOWED_ORIGINS");
    }
}
