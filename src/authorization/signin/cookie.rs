//! The cookies of sign-in: the login token's (`dsg_token`, spec §4.2) and
//! `steward_login`, which carries the pending sign-in from `/authorize` to
//! the callback.
//!
//! The pending sign-in is a sealed cookie rather than a database row (spec
//! §3.5, §4.2): `/authorize` then writes nothing, so anonymous visitors and
//! crawlers cannot fill a table, and the state is bound to the browser that
//! started the flow (a stolen `state` is useless without that browser's
//! cookie). AES-GCM with the keyring makes it unreadable and tamper-proof;
//! it expires after ten minutes, and the callback records its state's hash
//! so it is used once (`super::store::consume_state`).

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::config::SigninConfig;
use crate::crypto::Keyring;

/// The pending sign-in cookie.
pub const PENDING_COOKIE: &str = "steward_login";
/// How long a started sign-in may take.
pub const PENDING_MAX_AGE_SECS: i64 = 600;
/// Associated data of the sealed cookie: nothing else sealed by the keyring opens as one.
const PENDING_AAD: &[u8] = b"steward.signin.pending.v1";

/// What `/authorize` hands to the callback.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pending {
    /// The OAuth `state`.
    pub state: String,
    /// The OIDC `nonce` the ID token must carry.
    pub nonce: String,
    /// The PKCE verifier.
    pub verifier: String,
    /// The validated redirect target, when one was given.
    pub redirect: Option<String>,
    /// A TOS document to offer after sign-in.
    pub tos_id: Option<i64>,
    /// A service whose TOS may be pending.
    pub service: Option<String>,
    /// The dataset that service is about.
    pub dataset: Option<String>,
    /// The allowlisted viewer origin that opened the middleauth popup (no
    /// `redirect` given): the callback posts the login token to it.
    #[serde(default)]
    pub opener_origin: Option<String>,
    /// When the sign-in started (unix seconds).
    pub started_at: i64,
}

impl Pending {
    /// The sealed, base64url cookie value.
    pub fn seal(&self, keyring: &Keyring) -> String {
        let json = serde_json::to_vec(self).expect("a pending sign-in serialises");
        URL_SAFE_NO_PAD.encode(keyring.seal(&json, PENDING_AAD))
    }

    /// The pending sign-in in `value`, if it was sealed by this keyring and is
    /// at most ten minutes old.
    pub fn open(keyring: &Keyring, value: &str, now: DateTime<Utc>) -> Option<Pending> {
        let sealed = URL_SAFE_NO_PAD.decode(value).ok()?;
        let pending: Pending = serde_json::from_slice(&keyring.open(&sealed, PENDING_AAD).ok()?).ok()?;
        let age = now.timestamp() - pending.started_at;
        (0..=PENDING_MAX_AGE_SECS).contains(&age).then_some(pending)
    }
}

/// `Set-Cookie` for the pending sign-in (`SameSite=Lax`: it must come back
/// on the provider's top-level redirect to the callback).
pub fn pending_cookie(config: &SigninConfig, value: &str) -> String {
    let secure = if config.secure { "; Secure" } else { "" };
    format!("{PENDING_COOKIE}={value}; Max-Age={PENDING_MAX_AGE_SECS}; Path=/; HttpOnly{secure}; SameSite=Lax")
}

/// `Set-Cookie` removing the pending sign-in.
pub fn clear_pending_cookie(config: &SigninConfig) -> String {
    let secure = if config.secure { "; Secure" } else { "" };
    format!(
        "{PENDING_COOKIE}=; Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT; Path=/; HttpOnly{secure}; SameSite=Lax"
    )
}

fn domain(config: &SigninConfig) -> String {
    config.cookie_domain.as_deref().map(|d| format!("; Domain={d}")).unwrap_or_default()
}

fn tail(config: &SigninConfig) -> String {
    let secure = if config.secure { "; Secure" } else { "" };
    format!("; Path=/; HttpOnly{secure}; SameSite={}", config.same_site.as_str())
}

/// `Set-Cookie` for a login token issued at `now` (spec §4.2):
/// `dsg_token=<token>; Domain=…; Max-Age=…; Expires=…; Path=/; HttpOnly; Secure; SameSite=None`.
pub fn token_cookie(config: &SigninConfig, token: &str, now: DateTime<Utc>) -> String {
    let max_age = config.cookie_max_age.as_secs();
    let expires = now + chrono::Duration::seconds(max_age as i64);
    format!(
        "{}={token}{}; Max-Age={max_age}; Expires={}{}",
        config.cookie_name,
        domain(config),
        expires.format("%a, %d %b %Y %H:%M:%S GMT"),
        tail(config)
    )
}

/// `Set-Cookie` deleting the login cookie, with the same `Domain`, `Path`,
/// `Secure` and `SameSite` as when it was set (browsers match on them).
pub fn clear_token_cookie(config: &SigninConfig) -> String {
    format!(
        "{}=\"\"{}; Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT{}",
        config.cookie_name,
        domain(config),
        tail(config)
    )
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::authorization::signin::config::SameSite;

    fn config() -> SigninConfig {
        SigninConfig {
            provider: None,
            sandbox: None,
            public_url: "https://steward.example.org".into(),
            redirect_uri: "https://steward.example.org/api/v1/oauth2callback".into(),
            cookie_name: "dsg_token".into(),
            cookie_domain: Some(".janelia.org".into()),
            cookie_max_age: Duration::from_secs(604_800),
            same_site: SameSite::None,
            secure: true,
            login_tokens_max: 10,
            redirect_hosts: vec!["janelia.org".into()],
            token_handoff_param: None,
            middleauth_origins: crate::authorization::signin::config::OriginPattern::new("https://viewer\\.example")
                .unwrap(),
        }
    }

    #[test]
    fn the_token_cookie_has_the_spec_attributes_in_order() {
        let now = DateTime::parse_from_rfc3339("2026-06-23T04:05:06Z").unwrap().with_timezone(&Utc);
        assert_eq!(
            token_cookie(&config(), "ab", now),
            "dsg_token=ab; Domain=.janelia.org; Max-Age=604800; Expires=Tue, 30 Jun 2026 04:05:06 GMT; Path=/; HttpOnly; Secure; SameSite=None"
        );
        assert_eq!(
            clear_token_cookie(&config()),
            "dsg_token=\"\"; Domain=.janelia.org; Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT; Path=/; HttpOnly; Secure; SameSite=None"
        );
        let plain = SigninConfig { cookie_domain: None, secure: false, same_site: SameSite::Lax, ..config() };
        assert!(token_cookie(&plain, "ab", now).ends_with("GMT; Path=/; HttpOnly; SameSite=Lax"));
        assert!(!token_cookie(&plain, "ab", now).contains("Domain"));
    }

    #[test]
    fn a_pending_sign_in_opens_only_untampered_and_fresh() {
        let keyring = Keyring::generate();
        let now = Utc::now();
        let pending = Pending {
            state: "s".repeat(43),
            nonce: "n".into(),
            verifier: "v".into(),
            redirect: Some("/x".into()),
            tos_id: Some(5),
            service: None,
            dataset: None,
            opener_origin: Some("https://viewer.example".into()),
            started_at: now.timestamp(),
        };
        let sealed = pending.seal(&keyring);
        assert_eq!(Pending::open(&keyring, &sealed, now), Some(pending.clone()));
        assert_eq!(Pending::open(&keyring, &sealed, now + chrono::Duration::seconds(601)), None);
        assert_eq!(Pending::open(&Keyring::generate(), &sealed, now), None);
        let mut bytes = URL_SAFE_NO_PAD.decode(&sealed).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        assert_eq!(Pending::open(&keyring, &URL_SAFE_NO_PAD.encode(bytes), now), None);
        assert_eq!(Pending::open(&keyring, "not base64!", now), None);
    }
}
