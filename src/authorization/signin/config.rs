//! Sign-in settings (spec §3.5, §4.2, §4.5, §7.8), read once at startup.
//!
//! | variable | default | meaning |
//! |---|---|---|
//! | `STEWARD_OIDC_ISSUER` | unset: the sandbox provider (development), sign-in off (production) | issuer URL of the OIDC provider, e.g. `https://accounts.google.com`; its `/.well-known/openid-configuration` names the endpoints |
//! | `STEWARD_OIDC_CLIENT_ID`, `STEWARD_OIDC_CLIENT_SECRET` | `GOOGLE_CLIENT_ID`, `GOOGLE_CLIENT_SECRET` (then issuer Google) | the OAuth client registered at the provider (secret) |
//! | `STEWARD_OIDC_REDIRECT_PATH` | `/api/v1/oauth2callback` | callback path in the `redirect_uri`; `/accounts/google/login/callback/` for a client registered for DSG's other flow (both are served) |
//! | `STEWARD_OIDC_SANDBOX` | `on` in development without an issuer | `on`/`off`: the in-repo OIDC provider at `/sandbox/oidc` (refused in production) |
//! | `STEWARD_OIDC_SANDBOX_ACCOUNTS` | `alice@example.org:Alice Example,bob@example.org:Bob Example,carol@example.org:Carol Example` | the sandbox's account picker (`email[:name]`, comma-separated); any other e-mail can be typed |
//! | `STEWARD_OIDC_SANDBOX_RSA_KEY` | unset: ES256 | unencrypted PKCS#8 DER RSA key file: the sandbox signs ID tokens RS256 (as Google) |
//! | `STEWARD_AUTH_COOKIE_NAME` | `dsg_token` | the sign-in cookie's name (downstream services read `dsg_token`) |
//! | `STEWARD_AUTH_COOKIE_DOMAIN` | empty (host-only) | `Domain` of the cookie, e.g. `.janelia.org` to share it with sibling hosts |
//! | `STEWARD_AUTH_COOKIE_MAX_AGE` | `604800` (7 days) | cookie and login-token lifetime (seconds or a duration) |
//! | `STEWARD_AUTH_COOKIE_SAMESITE` | `none` when the cookie is `Secure`, else `lax` | `none`, `lax` or `strict`; `none` lets Neuroglancer's cross-site `POST /token` carry it |
//! | `STEWARD_LOGIN_TOKENS_MAX` | `10` | live login tokens (signed-in browsers) per user; the oldest go first |
//! | `STEWARD_REDIRECT_ALLOWED_HOSTS` | the cookie domain | hosts (and their subdomains) a `redirect`/`next` URL may name, comma-separated |
//! | `STEWARD_TOKEN_HANDOFF_PARAM` | unset (off) | query parameter that carries the login token to an `https` redirect target outside the cookie domain after sign-in (e.g. `dsg_token`, for CAVE services on another domain) |
//! | `STEWARD_MIDDLEAUTH_ALLOWED_ORIGINS` | `STEWARD_NGAUTH_ALLOWED_ORIGINS` (its default too) | regex a viewer origin (the `Referer` of `/api/v1/authorize` without `redirect`) must match in full to receive the login token from the middleauth popup |
//!
//! The cookie is `Secure` when `STEWARD_PUBLIC_URL` is `https`, names a
//! loopback host (browsers treat those as secure), or in production.

use std::path::PathBuf;
use std::time::Duration;

use crate::authorization::ngauth::config::DEFAULT_ALLOWED_ORIGINS;
use crate::config::{ConfigError, Environment, Secret, invalid, parse_count, parse_duration};

/// Google's issuer, used with the legacy `GOOGLE_CLIENT_*` variables.
pub const GOOGLE_ISSUER: &str = "https://accounts.google.com";
/// The callback path unless configured otherwise.
pub const DEFAULT_REDIRECT_PATH: &str = "/api/v1/oauth2callback";
/// DSG's second callback path, served too.
pub const LEGACY_REDIRECT_PATH: &str = "/accounts/google/login/callback/";
/// Where the sandbox provider is mounted.
pub const SANDBOX_PATH: &str = "/sandbox/oidc";
/// The client the sandbox provider registers for Steward.
pub const SANDBOX_CLIENT_ID: &str = "steward-sandbox-client";
/// Its secret (a sandbox value, not a credential).
pub const SANDBOX_CLIENT_SECRET: &str = "steward-sandbox-secret";
const DEFAULT_ACCOUNTS: &str =
    "alice@example.org:Alice Example,bob@example.org:Bob Example,carol@example.org:Carol Example";

/// `SameSite` of the sign-in cookie.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SameSite {
    /// Sent on cross-site requests too (needs `Secure`).
    None,
    /// Sent on top-level navigations from other sites.
    Lax,
    /// Sent only on same-site requests.
    Strict,
}

impl SameSite {
    /// The attribute value.
    pub fn as_str(self) -> &'static str {
        match self {
            SameSite::None => "None",
            SameSite::Lax => "Lax",
            SameSite::Strict => "Strict",
        }
    }
}

/// The OIDC provider Steward signs people in with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderConfig {
    /// The exact `iss` of its ID tokens.
    pub issuer: String,
    /// Where its discovery document is (normally under the issuer; the
    /// sandbox's is fetched over the listen address).
    pub discovery_url: String,
    /// The OAuth client id (also the ID token's audience).
    pub client_id: String,
    /// The OAuth client secret.
    pub client_secret: Secret,
}

/// The sandbox provider's own settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SandboxConfig {
    /// Browser-facing base, `<STEWARD_PUBLIC_URL>/sandbox/oidc` (also the issuer).
    pub public_base: String,
    /// Server-to-server base over the listen address.
    pub internal_base: String,
    /// The account picker's accounts: (e-mail, name).
    pub accounts: Vec<(String, String)>,
    /// RSA key for RS256 ID tokens; `None`: ES256 with a generated key.
    pub rsa_key: Option<PathBuf>,
}

/// A full-match origin pattern (compared by its text).
#[derive(Debug, Clone)]
pub struct OriginPattern(regex::Regex);

impl OriginPattern {
    /// `pattern` anchored so it matches whole origins only.
    pub fn new(pattern: &str) -> Result<Self, regex::Error> {
        regex::Regex::new(&format!("^(?:{pattern})$")).map(Self)
    }

    /// Whether `origin` matches in full.
    pub fn matches(&self, origin: &str) -> bool {
        self.0.is_match(origin)
    }
}

impl PartialEq for OriginPattern {
    fn eq(&self, other: &Self) -> bool {
        self.0.as_str() == other.0.as_str()
    }
}

impl Eq for OriginPattern {}

/// Everything sign-in needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SigninConfig {
    /// The provider; `None`: sign-in is off (its routes answer 503).
    pub provider: Option<ProviderConfig>,
    /// The sandbox provider, when it is on.
    pub sandbox: Option<SandboxConfig>,
    /// `STEWARD_PUBLIC_URL`, without a trailing slash.
    pub public_url: String,
    /// `<public_url><redirect path>`.
    pub redirect_uri: String,
    /// The cookie's name.
    pub cookie_name: String,
    /// Its `Domain`, if any.
    pub cookie_domain: Option<String>,
    /// Its lifetime and the login token's.
    pub cookie_max_age: Duration,
    /// Its `SameSite`.
    pub same_site: SameSite,
    /// Whether it is `Secure`.
    pub secure: bool,
    /// Live login tokens per user.
    pub login_tokens_max: usize,
    /// Hosts a redirect target may name (lowercase, no leading dot).
    pub redirect_hosts: Vec<String>,
    /// The query parameter of the token hand-off (spec §4.5); `None`: off.
    pub token_handoff_param: Option<String>,
    /// Viewer origins the middleauth popup posts the login token to (spec §3.5).
    pub middleauth_origins: OriginPattern,
}

/// Whether `host` is a loopback name or address.
fn is_loopback(host: &str) -> bool {
    host == "localhost" || host.ends_with(".localhost") || host.starts_with("127.") || host == "[::1]"
}

/// The host of an `http(s)://host[:port]` URL, lowercase.
pub fn host_of(url: &str) -> String {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host = if authority.starts_with('[') {
        authority.split_inclusive(']').next().unwrap_or_default()
    } else {
        authority.split(':').next().unwrap_or_default()
    };
    host.to_ascii_lowercase()
}

impl SigninConfig {
    /// Reads the settings through `get` (trimmed, empty = unset).
    pub fn from_lookup(
        get: &impl Fn(&str) -> Option<String>,
        env: Environment,
        public_url: &str,
        listen: std::net::SocketAddr,
    ) -> Result<Self, ConfigError> {
        let production = env == Environment::Production;
        let https = public_url.starts_with("https://");
        let secure = https || production || is_loopback(&host_of(public_url));

        let redirect_path = get("STEWARD_OIDC_REDIRECT_PATH").unwrap_or_else(|| DEFAULT_REDIRECT_PATH.to_owned());
        if redirect_path != DEFAULT_REDIRECT_PATH && redirect_path != LEGACY_REDIRECT_PATH {
            return Err(invalid(
                "STEWARD_OIDC_REDIRECT_PATH",
                format!("must be {DEFAULT_REDIRECT_PATH} or {LEGACY_REDIRECT_PATH}, got '{redirect_path}'"),
            ));
        }

        let issuer = get("STEWARD_OIDC_ISSUER").map(|i| i.trim_end_matches('/').to_owned());
        let client_id = get("STEWARD_OIDC_CLIENT_ID").or_else(|| get("GOOGLE_CLIENT_ID"));
        let client_secret = get("STEWARD_OIDC_CLIENT_SECRET").or_else(|| get("GOOGLE_CLIENT_SECRET"));
        let issuer = match issuer {
            Some(issuer) => Some(issuer),
            None if get("GOOGLE_CLIENT_ID").is_some() => Some(GOOGLE_ISSUER.to_owned()),
            None => None,
        };
        let sandbox_wanted = match get("STEWARD_OIDC_SANDBOX").as_deref() {
            None => issuer.is_none() && !production,
            Some("on") => true,
            Some("off") => false,
            Some(other) => return Err(invalid("STEWARD_OIDC_SANDBOX", format!("'{other}' is neither 'on' nor 'off'"))),
        };
        if sandbox_wanted && production {
            return Err(invalid("STEWARD_OIDC_SANDBOX", "the sandbox OIDC provider is refused in production"));
        }
        if sandbox_wanted && issuer.is_some() {
            return Err(invalid("STEWARD_OIDC_SANDBOX", "is on while STEWARD_OIDC_ISSUER names a real provider"));
        }

        let (provider, sandbox) = if sandbox_wanted {
            let local = match listen.ip() {
                std::net::IpAddr::V4(ip) if ip.is_unspecified() => format!("127.0.0.1:{}", listen.port()),
                std::net::IpAddr::V6(ip) if ip.is_unspecified() => format!("[::1]:{}", listen.port()),
                _ => listen.to_string(),
            };
            let sandbox = SandboxConfig {
                public_base: format!("{public_url}{SANDBOX_PATH}"),
                internal_base: format!("http://{local}{SANDBOX_PATH}"),
                accounts: parse_accounts(&get("STEWARD_OIDC_SANDBOX_ACCOUNTS").unwrap_or(DEFAULT_ACCOUNTS.into()))?,
                rsa_key: get("STEWARD_OIDC_SANDBOX_RSA_KEY").map(PathBuf::from),
            };
            let provider = ProviderConfig {
                issuer: sandbox.public_base.clone(),
                discovery_url: format!("{}/.well-known/openid-configuration", sandbox.internal_base),
                client_id: SANDBOX_CLIENT_ID.to_owned(),
                client_secret: Secret::new(SANDBOX_CLIENT_SECRET),
            };
            (Some(provider), Some(sandbox))
        } else {
            match issuer {
                None => (None, None),
                Some(issuer) => {
                    let allowed = issuer.starts_with("https://") || (issuer.starts_with("http://") && !production);
                    if !allowed {
                        return Err(invalid("STEWARD_OIDC_ISSUER", format!("'{issuer}' must be an https URL")));
                    }
                    let client_id = client_id.ok_or_else(|| {
                        invalid("STEWARD_OIDC_CLIENT_ID", "is required with an issuer (the OAuth client id)")
                    })?;
                    let client_secret = client_secret.ok_or_else(|| {
                        invalid("STEWARD_OIDC_CLIENT_SECRET", "is required with an issuer (the OAuth client secret)")
                    })?;
                    let provider = ProviderConfig {
                        discovery_url: format!("{issuer}/.well-known/openid-configuration"),
                        issuer,
                        client_id,
                        client_secret: Secret::new(client_secret),
                    };
                    (Some(provider), None)
                }
            }
        };

        let cookie_name = get("STEWARD_AUTH_COOKIE_NAME").unwrap_or_else(|| "dsg_token".to_owned());
        let token_char = |c: char| c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c);
        if !cookie_name.chars().all(token_char) {
            return Err(invalid("STEWARD_AUTH_COOKIE_NAME", format!("'{cookie_name}' is not a cookie name")));
        }
        let cookie_domain = get("STEWARD_AUTH_COOKIE_DOMAIN");
        if let Some(domain) = &cookie_domain
            && !domain.trim_start_matches('.').chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.')
        {
            return Err(invalid("STEWARD_AUTH_COOKIE_DOMAIN", format!("'{domain}' is not a domain like .janelia.org")));
        }
        let cookie_max_age = match get("STEWARD_AUTH_COOKIE_MAX_AGE") {
            None => Duration::from_secs(604_800),
            Some(v) => parse_duration(&v).filter(|d| d.as_secs() >= 60).ok_or_else(|| {
                invalid("STEWARD_AUTH_COOKIE_MAX_AGE", format!("'{v}' is not a lifetime of 60 s or more"))
            })?,
        };
        let same_site = match get("STEWARD_AUTH_COOKIE_SAMESITE").map(|v| v.to_ascii_lowercase()).as_deref() {
            None if secure => SameSite::None,
            None => SameSite::Lax,
            Some("none") if !secure => {
                return Err(invalid(
                    "STEWARD_AUTH_COOKIE_SAMESITE",
                    "'none' needs a Secure cookie (an https STEWARD_PUBLIC_URL); browsers drop it otherwise",
                ));
            }
            Some("none") => SameSite::None,
            Some("lax") => SameSite::Lax,
            Some("strict") => SameSite::Strict,
            Some(other) => {
                return Err(invalid("STEWARD_AUTH_COOKIE_SAMESITE", format!("'{other}' is not none, lax or strict")));
            }
        };
        let login_tokens_max = parse_count(get, "STEWARD_LOGIN_TOKENS_MAX", 10, 1..=1000)?;
        let redirect_hosts = match get("STEWARD_REDIRECT_ALLOWED_HOSTS") {
            Some(list) => list
                .split(',')
                .map(|h| h.trim().trim_start_matches('.').to_ascii_lowercase())
                .filter(|h| !h.is_empty())
                .collect(),
            None => cookie_domain.iter().map(|d| d.trim_start_matches('.').to_ascii_lowercase()).collect(),
        };
        let token_handoff_param = get("STEWARD_TOKEN_HANDOFF_PARAM");
        if let Some(param) = &token_handoff_param
            && !param.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
        {
            return Err(invalid(
                "STEWARD_TOKEN_HANDOFF_PARAM",
                format!("'{param}' is not a query parameter name (letters, digits, '-', '_', '.')"),
            ));
        }
        // The same viewers as ngauth unless told otherwise (spec §7.3).
        let (var, pattern) = match get("STEWARD_MIDDLEAUTH_ALLOWED_ORIGINS") {
            Some(pattern) => ("STEWARD_MIDDLEAUTH_ALLOWED_ORIGINS", pattern),
            None => (
                "STEWARD_NGAUTH_ALLOWED_ORIGINS",
                get("STEWARD_NGAUTH_ALLOWED_ORIGINS").unwrap_or_else(|| DEFAULT_ALLOWED_ORIGINS.to_owned()),
            ),
        };
        let middleauth_origins =
            OriginPattern::new(&pattern).map_err(|e| invalid(var, format!("not a regular expression: {e}")))?;
        Ok(SigninConfig {
            provider,
            sandbox,
            public_url: public_url.to_owned(),
            redirect_uri: format!("{public_url}{redirect_path}"),
            cookie_name,
            cookie_domain,
            cookie_max_age,
            same_site,
            secure,
            login_tokens_max,
            redirect_hosts,
            token_handoff_param,
            middleauth_origins,
        })
    }
}

fn parse_accounts(list: &str) -> Result<Vec<(String, String)>, ConfigError> {
    list.split(',')
        .map(str::trim)
        .filter(|a| !a.is_empty())
        .map(|account| {
            let (email, name) = account.split_once(':').unwrap_or((account, ""));
            let email = email.trim();
            if !email.contains('@') || email.contains(char::is_whitespace) {
                return Err(invalid("STEWARD_OIDC_SANDBOX_ACCOUNTS", format!("'{email}' is not an e-mail address")));
            }
            Ok((email.to_owned(), name.trim().to_owned()))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn config(env: Environment, public_url: &str, vars: &[(&str, &str)]) -> Result<SigninConfig, ConfigError> {
        let vars: HashMap<String, String> = vars.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
        let get = |k: &str| vars.get(k).cloned();
        SigninConfig::from_lookup(&get, env, public_url, "0.0.0.0:8080".parse().unwrap())
    }

    #[test]
    fn development_defaults_to_the_sandbox_and_a_secure_cross_site_cookie_on_loopback() {
        let c = config(Environment::Development, "http://127.0.0.1:8080", &[]).unwrap();
        let provider = c.provider.unwrap();
        assert_eq!(provider.issuer, "http://127.0.0.1:8080/sandbox/oidc");
        assert_eq!(provider.discovery_url, "http://127.0.0.1:8080/sandbox/oidc/.well-known/openid-configuration");
        assert_eq!(c.sandbox.unwrap().accounts.len(), 3);
        assert_eq!(c.redirect_uri, "http://127.0.0.1:8080/api/v1/oauth2callback");
        assert_eq!((c.cookie_name.as_str(), c.secure, c.same_site), ("dsg_token", true, SameSite::None));
        assert_eq!(c.cookie_max_age, Duration::from_secs(604_800));
        assert_eq!(c.login_tokens_max, 10);
    }

    #[test]
    fn plain_http_on_a_real_host_is_lax_without_secure() {
        let c = config(Environment::Development, "http://steward.lan:8080", &[]).unwrap();
        assert_eq!((c.secure, c.same_site), (false, SameSite::Lax));
        let err = config(Environment::Development, "http://steward.lan", &[("STEWARD_AUTH_COOKIE_SAMESITE", "none")]);
        assert_eq!(err.unwrap_err().var, "STEWARD_AUTH_COOKIE_SAMESITE");
    }

    #[test]
    fn production_refuses_the_sandbox_and_reads_a_real_provider() {
        let err = config(Environment::Production, "https://s.example.org", &[("STEWARD_OIDC_SANDBOX", "on")]);
        assert_eq!(err.unwrap_err().var, "STEWARD_OIDC_SANDBOX");
        let off = config(Environment::Production, "https://s.example.org", &[]).unwrap();
        assert!(off.provider.is_none() && off.sandbox.is_none());
        let google = config(
            Environment::Production,
            "https://s.example.org",
            &[
                ("GOOGLE_CLIENT_ID", "id"),
                ("GOOGLE_CLIENT_SECRET", "secret"),
                ("STEWARD_AUTH_COOKIE_DOMAIN", ".Janelia.org"),
            ],
        )
        .unwrap();
        let provider = google.provider.unwrap();
        assert_eq!(provider.issuer, GOOGLE_ISSUER);
        assert_eq!(provider.discovery_url, "https://accounts.google.com/.well-known/openid-configuration");
        assert_eq!(google.redirect_hosts, ["janelia.org"]);
        let half = config(
            Environment::Production,
            "https://s.example.org",
            &[("STEWARD_OIDC_ISSUER", "https://idp.example.org")],
        );
        assert_eq!(half.unwrap_err().var, "STEWARD_OIDC_CLIENT_ID");
    }

    #[test]
    fn bad_values_name_their_variable() {
        for (var, value) in [
            ("STEWARD_AUTH_COOKIE_NAME", "a b"),
            ("STEWARD_AUTH_COOKIE_DOMAIN", "evil;x"),
            ("STEWARD_AUTH_COOKIE_MAX_AGE", "5"),
            ("STEWARD_OIDC_REDIRECT_PATH", "/elsewhere"),
            ("STEWARD_OIDC_SANDBOX_ACCOUNTS", "not-an-email"),
        ] {
            let err = config(Environment::Development, "http://127.0.0.1:8080", &[(var, value)]).unwrap_err();
            assert_eq!(err.var, var);
        }
    }

    #[test]
    fn middleauth_origins_default_to_the_ngauth_list_and_handoff_is_off() {
        let c = config(Environment::Development, "http://127.0.0.1:8080", &[]).unwrap();
        assert!(c.middleauth_origins.matches("https://neuroglancer-demo.appspot.com"));
        assert!(!c.middleauth_origins.matches("https://neuroglancer-demo.appspot.com.evil.example"));
        assert_eq!(c.token_handoff_param, None);
        let ngauth = [("STEWARD_NGAUTH_ALLOWED_ORIGINS", "http://localhost:\\d+")];
        let c = config(Environment::Development, "http://127.0.0.1:8080", &ngauth).unwrap();
        assert!(c.middleauth_origins.matches("http://localhost:8000"));
        let own = [("STEWARD_MIDDLEAUTH_ALLOWED_ORIGINS", "https://viewer\\.example\\.org"), ngauth[0]];
        let c = config(Environment::Development, "http://127.0.0.1:8080", &own).unwrap();
        assert!(c.middleauth_origins.matches("https://viewer.example.org"));
        assert!(!c.middleauth_origins.matches("http://localhost:8000"));
        let c =
            config(Environment::Development, "http://127.0.0.1:8080", &[("STEWARD_TOKEN_HANDOFF_PARAM", "dsg_token")]);
        assert_eq!(c.unwrap().token_handoff_param.as_deref(), Some("dsg_token"));
        for (var, value) in [("STEWARD_MIDDLEAUTH_ALLOWED_ORIGINS", "("), ("STEWARD_TOKEN_HANDOFF_PARAM", "a&b")] {
            assert_eq!(
                config(Environment::Development, "http://127.0.0.1:8080", &[(var, value)]).unwrap_err().var,
                var
            );
        }
    }

    #[test]
    fn hosts_of_urls() {
        assert_eq!(host_of("https://Steward.Example.org:8443/x"), "steward.example.org");
        assert_eq!(host_of("http://[::1]:8080"), "[::1]");
        assert_eq!(host_of("http://127.0.0.1:8080"), "127.0.0.1");
    }
}
