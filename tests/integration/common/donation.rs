//! Signing in at the sandbox Google provider the way a participant's browser
//! does (spec donation.md §6.3): open the consent screen Steward's client
//! builds, submit its form with the ticked scopes, a scenario and a button,
//! and exchange the code from the redirect. Shared by the sandbox and
//! processing tests.

use std::time::Duration;

use base64::Engine as _;
use ring::rand::SecureRandom as _;
use steward::config::Config;
use steward::donation::google::GoogleClient;
use steward::donation::provider::{PortabilityProvider as _, RetryPolicy, TokenGrant, pkce_challenge};
use steward::donation::sandbox::{Grant, Persona, Scenario};

/// Steward's Google client for `config`'s (sandbox) endpoints, with short
/// immediate retries so staged failures do not slow tests down.
pub fn fast_client(config: &Config) -> GoogleClient {
    let fast = RetryPolicy {
        delays: vec![Duration::from_millis(50), Duration::from_millis(100)],
        jitter: 0.0,
        max_inline_wait: Duration::from_secs(5),
    };
    GoogleClient::with_retry_policy(&config.donation.google, fast).unwrap()
}

/// The `tiny` persona: 5 records per type.
pub fn tiny() -> Scenario {
    Scenario::default().persona(Persona::Tiny)
}

/// `prefix` and 32 random bytes, base64url.
pub fn random(prefix: &str) -> String {
    let mut bytes = [0u8; 32];
    ring::rand::SystemRandom::new().fill(&mut bytes).unwrap();
    format!("{prefix}{}", base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes))
}

/// The pairs of a form-encoded query.
pub fn pairs(query: &str) -> Vec<(String, String)> {
    let mut url = reqwest::Url::parse("http://x.invalid/").unwrap();
    url.set_query(Some(query));
    url.query_pairs().into_owned().collect()
}

/// The `<input type="hidden">` fields of a page.
pub fn hidden_inputs(html: &str) -> Vec<(String, String)> {
    let attr = |tag: &str, name: &str| {
        let start = tag.find(&format!("{name}=\""))? + name.len() + 2;
        let end = tag[start..].find('"')?;
        Some(
            tag[start..start + end]
                .replace("&quot;", "\"")
                .replace("&#x2f;", "/")
                .replace("&lt;", "<")
                .replace("&gt;", ">")
                .replace("&amp;", "&"),
        )
    };
    html.split("<input ")
        .skip(1)
        .filter_map(|rest| rest.split('>').next())
        .filter(|tag| tag.contains("type=\"hidden\""))
        .filter_map(|tag| Some((attr(tag, "name")?, attr(tag, "value")?)))
        .collect()
}

/// An HTTP client that does not follow redirects (the consent answer is one).
pub fn browser() -> reqwest::Client {
    reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap()
}

/// Where the consent screen sent the browser back to.
pub struct Consent {
    pub state: String,
    pub verifier: String,
    pub location: reqwest::Url,
}

impl Consent {
    /// A query parameter of the redirect.
    pub fn param(&self, name: &str) -> Option<String> {
        self.location.query_pairs().find(|(k, _)| k == name).map(|(_, v)| v.into_owned())
    }
}

/// Opens the consent screen of the server at `base` for `groups` and submits
/// `decision` (`allow`, `cancel`) with `scenario`: the page's hidden fields,
/// the ticked scopes (every one unless the scenario says which) and the
/// scenario fields, as a browser would.
pub async fn consent(
    http: &reqwest::Client,
    base: &str,
    client: &GoogleClient,
    scenario: &Scenario,
    groups: &[&str],
    decision: &str,
) -> Consent {
    let (state, verifier) = (random("state-"), random(""));
    let url = client.authorize_url(&state, &pkce_challenge(&verifier), groups);
    let page = http.get(&url).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let mut form = hidden_inputs(&page.text().await.unwrap());
    if scenario.grant == Grant::All {
        form.extend(groups.iter().map(|g| ("grant".to_owned(), (*g).to_owned())));
    }
    form.extend(pairs(&scenario.to_query()));
    form.push(("decision".into(), decision.into()));
    let answer =
        http.post(format!("{base}/sandbox/google/o/oauth2/v2/auth/decision")).form(&form).send().await.unwrap();
    assert_eq!(answer.status(), 302, "{}", answer.text().await.unwrap());
    let location = answer.headers()["location"].to_str().unwrap().to_owned();
    Consent { state, verifier, location: reqwest::Url::parse(&location).unwrap() }
}

/// Consents with `scenario` for `groups` and exchanges the code, as the OAuth callback does.
pub async fn sign_in(
    http: &reqwest::Client,
    base: &str,
    client: &GoogleClient,
    scenario: &Scenario,
    groups: &[&str],
) -> TokenGrant {
    let consent = consent(http, base, client, scenario, groups, "allow").await;
    let code = consent.param("code").expect("a code");
    client.exchange_code(&code, &consent.verifier).await.unwrap()
}
