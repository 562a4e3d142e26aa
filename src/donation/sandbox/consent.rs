//! The consent screen both sandbox providers show (spec §6.2): the page for a
//! checked authorization request and its Allow / Cancel decision. What
//! differs between Google and TikTok (request checks, field names, scope
//! texts and the redirect's parameters) is a [`ConsentScreen`].

use std::time::Duration;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use super::http::{
    Decision, SandboxError, consent_decision, default_scenario, form_pairs, issue_code, page, redirect_to,
};
use super::pages;
use super::scenario::Scenario;
use super::store::NewGrant;
use crate::app::AppState;

/// Authorization codes live 10 minutes (both providers).
const CODE_LIFETIME: Duration = Duration::from_secs(600);

/// A checked authorization request.
pub struct AuthRequest {
    /// Google's `client_id`, TikTok's `client_key`.
    pub client_id: String,
    pub redirect_uri: String,
    /// Requested scopes (Google: resource groups), in request order.
    pub scopes: Vec<String>,
    pub state: String,
    pub code_challenge: String,
}

/// Why an authorization request is refused: (status, OAuth error, message).
pub type Refusal = (StatusCode, &'static str, String);

/// Query parameters added to the redirect back to the client.
type RedirectParams = Vec<(&'static str, String)>;

/// An authorization request's form or query pairs.
type Pairs = [(String, String)];

/// One provider's consent screen.
pub struct ConsentScreen {
    /// The name shown, e.g. "Google".
    pub provider: &'static str,
    /// The grant's provider, e.g. "google".
    pub source: &'static str,
    /// The form field carrying the client id.
    pub client_field: &'static str,
    /// Where the form posts.
    pub decision_path: &'static str,
    /// The scenario fields offered under "Advanced".
    pub fields: &'static [&'static str],
    /// Whether the screen offers Google's access types.
    pub access_type: bool,
    /// What issued codes start with.
    pub code_prefix: &'static str,
    /// Checks an authorization request as the provider would.
    pub check: fn(&AppState, &Pairs) -> Result<AuthRequest, Refusal>,
    /// The `scope` parameter the provider's own screen would post.
    pub scope_param: fn(&[String]) -> String,
    /// A scope's label and description.
    pub scope_text: fn(&str) -> (&'static str, &'static str),
    /// The redirect's parameters after Allow: `(request, code, granted)`.
    pub allowed: fn(&AuthRequest, &str, &[&str]) -> RedirectParams,
    /// The redirect's parameters after Cancel.
    pub denied: fn(&AuthRequest) -> RedirectParams,
}

/// `GET` of the authorization endpoint: the consent screen.
pub fn authorize(screen: &ConsentScreen, state: &AppState, query: Option<&str>) -> Response {
    let pairs = form_pairs(query.unwrap_or(""));
    let request = match (screen.check)(state, &pairs) {
        Ok(request) => request,
        Err(refusal) => return refusal_page(screen, refusal),
    };
    match default_scenario(&state.config.donation) {
        Ok(scenario) => consent_page(screen, &request, &scenario, None),
        Err(e) => SandboxError::Internal(e.to_string()).into_response(),
    }
}

/// `POST` of the consent form: Allow issues a code bound to the scenario and
/// the PKCE challenge; Cancel (or `deny`) answers `access_denied`.
pub async fn decision(screen: &ConsentScreen, state: &AppState, body: &[u8]) -> Result<Response, SandboxError> {
    let pairs = form_pairs(std::str::from_utf8(body).unwrap_or(""));
    let request = match (screen.check)(state, &pairs) {
        Ok(request) => request,
        Err(refusal) => return Ok(refusal_page(screen, refusal)),
    };
    let (scenario, mut location) = match consent_decision(&state.config.donation, &pairs, &request.redirect_uri)? {
        Decision::Allow(scenario, location) => (scenario, location),
        Decision::Deny(mut location) => {
            location.query_pairs_mut().extend_pairs((screen.denied)(&request));
            return Ok(found(location.as_str()));
        }
        Decision::Unclear(refusal) => return Ok(refusal_page(screen, refusal)),
        Decision::BadScenario(defaults, message) => {
            return Ok(consent_page(screen, &request, &defaults, Some(&message)));
        }
    };
    let granted: Vec<&str> = request.scopes.iter().map(String::as_str).filter(|s| scenario.grant.allows(s)).collect();
    let query = scenario.to_query();
    let grant =
        NewGrant { provider: screen.source, client_id: &request.client_id, scenario: &query, scopes: granted.clone() };
    let code =
        issue_code(state, &grant, &request.redirect_uri, &request.code_challenge, screen.code_prefix, CODE_LIFETIME)
            .await?;
    location.query_pairs_mut().extend_pairs((screen.allowed)(&request, &code, &granted));
    Ok(found(location.as_str()))
}

fn consent_page(screen: &ConsentScreen, request: &AuthRequest, scenario: &Scenario, error: Option<&str>) -> Response {
    let scope = (screen.scope_param)(&request.scopes);
    let hidden = [
        (screen.client_field, request.client_id.as_str()),
        ("redirect_uri", request.redirect_uri.as_str()),
        ("response_type", "code"),
        ("scope", scope.as_str()),
        ("state", request.state.as_str()),
        ("code_challenge", request.code_challenge.as_str()),
        ("code_challenge_method", "S256"),
    ];
    let choices: Vec<pages::ScopeChoice<'_>> = request
        .scopes
        .iter()
        .map(|scope| {
            let (label, description) = (screen.scope_text)(scope);
            pages::ScopeChoice { value: scope, label, description, checked: scenario.grant.allows(scope) }
        })
        .collect();
    let html = pages::consent(&pages::ConsentPage {
        provider: screen.provider,
        app_name: "Steward",
        action: screen.decision_path,
        hidden: &hidden,
        scopes: &choices,
        access_type: screen.access_type.then_some(scenario.access_type),
        scenario,
        fields: screen.fields,
        error,
    });
    page(if error.is_some() { StatusCode::BAD_REQUEST } else { StatusCode::OK }, html)
}

fn refusal_page(screen: &ConsentScreen, (status, error, message): Refusal) -> Response {
    page(status, pages::error_page(screen.provider, error, &message))
}

/// `302 Found` (both providers' redirect status).
pub fn found(location: &str) -> Response {
    redirect_to(StatusCode::FOUND, location)
}
