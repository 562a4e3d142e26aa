//! Sign-in (spec §3.5, §4.2, §4.5): the OIDC authorization-code flow with
//! PKCE, `state` and `nonce` against Google or any OIDC provider named by its
//! issuer, ending in a per-browser login token carried by the `dsg_token`
//! cookie; and logout.
//!
//! - [`config`]: `SigninConfig` from `STEWARD_OIDC_*`, `STEWARD_AUTH_COOKIE_*`,
//!   `STEWARD_LOGIN_TOKENS_MAX`, `STEWARD_REDIRECT_ALLOWED_HOSTS`,
//!   `STEWARD_TOKEN_HANDOFF_PARAM` and `STEWARD_MIDDLEAUTH_ALLOWED_ORIGINS`;
//! - [`routes`]: `/api/v1/authorize`, `/auth/login`, the callback, logout;
//! - [`oidc`]: discovery, authorization URL, code exchange, ID-token checks;
//! - [`cookie`]: the login cookie and the sealed pending sign-in;
//! - [`redirect`]: the redirect allow-list (no open redirects) and the token hand-off;
//! - [`store`]: users, login tokens (capped per user, expired ones deleted)
//!   and single-use states;
//! - [`sandbox`]: the offline provider with an account picker.

pub mod config;
pub mod cookie;
pub mod oidc;
pub mod redirect;
pub mod routes;
pub mod sandbox;
pub mod store;

pub use config::SigninConfig;

/// Sign-in's routes and, unless production, the sandbox provider's.
pub fn routes(app: &crate::app::AppState) -> axum::Router<crate::app::AppState> {
    routes::routes(app).merge(sandbox::routes(app))
}
