//! The sandbox TikTok provider (spec donation.md §4.4, §6.2–§6.6) spoken to
//! on the wire with plain HTTP, the way TikTok's documentation describes the
//! calls: Login Kit consent with PKCE and state, the OAuth v2 token and
//! revoke endpoints (flat and nested answers, rotating refresh tokens), the
//! Data Portability API envelopes (`add`, `check`, `download`, `cancel`),
//! int64 request ids above 2^53, the staged failure modes, the archives and
//! the call log's redaction.

use std::io::Cursor;
use std::time::{Duration, Instant};

use futures_util::StreamExt as _;
use serde_json::{Value, json};
use steward::config::Config;
use steward::donation::provider::pkce_challenge;
use steward::donation::sandbox::{
    BAD_RECORDS, BadRecordCounts, Failure, Grant, Scenario, Span, TIKTOK_FILE_2025, TIKTOK_FILE_LEGACY, TikTokLayout,
    TokenShape, ZIP_BOMB_BYTES, tiktok_manifest, write_tiktok_archive,
};

use crate::common::archive::{read_all, zip_entries};
use crate::common::donation::{browser, hidden_inputs, pairs, random, tiny};
use crate::common::{TestApp, TestDb};

const ACTIVITY: &str = "portability.activity.single";
const BASIC: &str = "user.info.basic";
const CHECK_FIELDS: &str = "request_id,apply_time,collect_time,status,data_format,category_selection_list";
const REGION_BODY_MESSAGE: &str = "The Data Portability API is only available to users in the EEA and the UK.";

/// Steward with the TikTok provider in sandbox mode, and a browser that does
/// not follow redirects.
struct TikTok {
    app: TestApp,
    config: Config,
    http: reqwest::Client,
}

/// Where the consent screen sent the browser back to.
struct Consent {
    verifier: String,
    state: String,
    location: reqwest::Url,
}

impl Consent {
    fn param(&self, name: &str) -> Option<String> {
        self.location.query_pairs().find(|(k, _)| k == name).map(|(_, v)| v.into_owned())
    }
}

impl TikTok {
    async fn start() -> TikTok {
        Self::start_with(&[]).await
    }

    async fn start_with(extra: &[(&str, &str)]) -> TikTok {
        let (app, config) = TestApp::start_with(TestDb::new().await, extra).await;
        TikTok { app, config, http: browser() }
    }

    fn url(&self, path: &str) -> String {
        format!("{}/sandbox/tiktok{path}", self.app.url())
    }

    /// The Login Kit authorization URL Steward's configuration describes.
    fn authorize_url(&self, state: &str, challenge: &str, scopes: &[&str]) -> String {
        let tiktok = &self.config.donation.tiktok;
        let mut url = reqwest::Url::parse(&tiktok.auth_url).unwrap();
        url.query_pairs_mut()
            .append_pair("client_key", &tiktok.client_key)
            .append_pair("response_type", "code")
            .append_pair("scope", &scopes.join(","))
            .append_pair("redirect_uri", &tiktok.redirect_uri)
            .append_pair("state", state)
            .append_pair("code_challenge", challenge)
            .append_pair("code_challenge_method", "S256");
        url.to_string()
    }

    /// Opens the consent screen for `scopes` and submits `decision` with
    /// `scenario`, as a browser would.
    async fn consent_with(&self, scenario: &Scenario, scopes: &[&str], decision: &str, challenge: &str) -> Consent {
        let (state, verifier) = (random("state-"), String::new());
        let page = self.http.get(self.authorize_url(&state, challenge, scopes)).send().await.unwrap();
        assert_eq!(page.status(), 200);
        let mut form = hidden_inputs(&page.text().await.unwrap());
        if scenario.grant == Grant::All {
            form.extend(scopes.iter().map(|s| ("grant".to_owned(), (*s).to_owned())));
        }
        form.extend(pairs(&scenario.to_query()));
        form.push(("decision".into(), decision.into()));
        let answer = self.http.post(self.url("/v2/auth/authorize/decision")).form(&form).send().await.unwrap();
        assert_eq!(answer.status(), 302, "{}", answer.text().await.unwrap());
        let location = answer.headers()["location"].to_str().unwrap().to_owned();
        Consent { verifier, state, location: reqwest::Url::parse(&location).unwrap() }
    }

    async fn consent(&self, scenario: &Scenario, scopes: &[&str], decision: &str) -> Consent {
        let verifier = random("");
        let mut consent = self.consent_with(scenario, scopes, decision, &pkce_challenge(&verifier)).await;
        consent.verifier = verifier;
        consent
    }

    /// `POST /v2/oauth/token/` with `form` plus the client credentials.
    async fn token_call(&self, form: &[(&str, &str)]) -> (u16, Value) {
        let mut all = vec![("client_key", "sandbox-client"), ("client_secret", "sandbox-secret")];
        all.extend_from_slice(form);
        let answer = self
            .http
            .post(self.url("/v2/oauth/token/"))
            .header("cache-control", "no-cache")
            .form(&all)
            .send()
            .await
            .unwrap();
        let status = answer.status().as_u16();
        (status, serde_json::from_slice(&answer.bytes().await.unwrap()).unwrap())
    }

    async fn exchange(&self, consent: &Consent) -> (u16, Value) {
        let code = consent.param("code").expect("a code");
        let redirect = self.config.donation.tiktok.redirect_uri.clone();
        self.token_call(&[
            ("code", &code),
            ("grant_type", "authorization_code"),
            ("redirect_uri", &redirect),
            ("code_verifier", &consent.verifier),
        ])
        .await
    }

    /// Consents with `scenario` and exchanges the code; the flat token answer.
    async fn tokens(&self, scenario: &Scenario, scopes: &[&str]) -> Value {
        let consent = self.consent(scenario, scopes, "allow").await;
        let (status, body) = self.exchange(&consent).await;
        assert_eq!(status, 200, "{body}");
        match scenario.tiktok_token_shape {
            TokenShape::Flat => body,
            TokenShape::Nested => body["data"].clone(),
        }
    }

    async fn access(&self, scenario: &Scenario) -> String {
        self.tokens(scenario, &[BASIC, ACTIVITY]).await["access_token"].as_str().unwrap().to_owned()
    }

    async fn refresh(&self, refresh_token: &str) -> (u16, Value) {
        self.token_call(&[("grant_type", "refresh_token"), ("refresh_token", refresh_token)]).await
    }

    /// A Data Portability API call with a JSON body.
    async fn api(&self, token: &str, path_and_query: &str, body: &str) -> reqwest::Response {
        self.http
            .post(self.url(path_and_query))
            .bearer_auth(token)
            .header("content-type", "application/json")
            .body(body.to_owned())
            .send()
            .await
            .unwrap()
    }

    async fn api_json(&self, token: &str, path_and_query: &str, body: &str) -> (u16, Value, String) {
        let answer = self.api(token, path_and_query, body).await;
        let status = answer.status().as_u16();
        let text = answer.text().await.unwrap();
        let json = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"));
        (status, json, text)
    }

    /// Add for `activity`; the exact request id.
    async fn add(&self, token: &str) -> i64 {
        let (status, body, _) = self.api_json(token, "/v2/user/data/add/?fields=request_id", ADD_BODY).await;
        assert_eq!(status, 200, "{body}");
        ok_envelope(&body);
        body["data"]["request_id"].as_i64().unwrap()
    }

    async fn check(&self, token: &str, id: i64) -> Value {
        let path = format!("/v2/user/data/check/?fields={CHECK_FIELDS}");
        let (status, body, _) = self.api_json(token, &path, &id_body(id)).await;
        assert_eq!(status, 200, "{body}");
        ok_envelope(&body);
        body["data"].clone()
    }

    async fn download(&self, token: &str, id: i64) -> reqwest::Response {
        self.api(token, "/v2/user/data/download/", &id_body(id)).await
    }

    /// Adds, checks until `downloading` (at most `checks` times) and downloads.
    async fn archive(&self, token: &str, checks: usize) -> Vec<u8> {
        let id = self.add(token).await;
        for _ in 0..checks {
            if self.check(token, id).await["status"] == "downloading" {
                let answer = self.download(token, id).await;
                assert_eq!(answer.status(), 200);
                return answer.bytes().await.unwrap().to_vec();
            }
        }
        panic!("request {id} not ready after {checks} checks");
    }

    async fn calls(&self, since: i64) -> Vec<Value> {
        let answer = self.http.get(format!("{}/sandbox/_calls?since={since}", self.app.url())).send().await.unwrap();
        assert_eq!(answer.status(), 200);
        serde_json::from_slice(&answer.bytes().await.unwrap()).unwrap()
    }
}

const ADD_BODY: &str = r#"{"data_format": "json", "category_selection_list": ["activity"]}"#;

fn id_body(id: i64) -> String {
    format!("{{\"request_id\": {id}}}")
}

fn ok_envelope(body: &Value) {
    assert_eq!(body["error"]["code"], "ok", "{body}");
    assert_eq!(body["error"]["message"], "");
    assert!(!body["error"]["log_id"].as_str().unwrap().is_empty());
}

fn error_code(body: &Value) -> &str {
    body["error"]["code"].as_str().unwrap_or_else(|| panic!("no error code in {body}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_consent_screen_redirects_with_code_scopes_and_state_or_access_denied() {
    let tiktok = TikTok::start().await;
    let url = tiktok.authorize_url("state-1", &pkce_challenge(&random("")), &[BASIC, ACTIVITY]);
    let page = tiktok.http.get(&url).send().await.unwrap();
    assert_eq!(page.status(), 200);
    assert_eq!(page.headers()["cache-control"], "no-store");
    let html = page.text().await.unwrap();
    assert!(html.contains("SANDBOX — not a real TikTok account"), "{html}");
    assert!(html.contains("Alex Example") && html.contains("alex@example.test"));
    assert!(html.contains(r#"name="grant" value="user.info.basic" checked"#));
    assert!(html.contains(r#"name="grant" value="portability.activity.single" checked"#));
    assert!(html.contains(">Allow</button>") && html.contains(">Cancel</button>"));
    assert!(html.contains("Advanced (test scenario)") && html.contains(r#"name="tiktok_token_shape""#));
    assert!(html.contains(r#"<meta name="viewport""#));
    // Every visible input has a label.
    assert_eq!(html.matches("<input type=\"text\" id=\"f-").count(), html.matches("<label for=\"f-").count() - 3);

    let redirect = &tiktok.config.donation.tiktok.redirect_uri;
    let allowed = tiktok.consent(&tiny(), &[BASIC, ACTIVITY], "allow").await;
    assert!(allowed.location.as_str().starts_with(&format!("{redirect}?code=")), "{}", allowed.location);
    assert_eq!(allowed.param("scopes").as_deref(), Some("user.info.basic,portability.activity.single"));
    assert_eq!(allowed.param("state"), Some(allowed.state.clone()));

    // Unticking a box grants the rest.
    let only = tiny().grant(Grant::Only(vec![ACTIVITY.into()]));
    let partial = tiktok.consent(&only, &[BASIC, ACTIVITY], "allow").await;
    assert_eq!(partial.param("scopes").as_deref(), Some(ACTIVITY));

    for (scenario, decision) in [(tiny(), "cancel"), (tiny().failure(Failure::Deny), "allow")] {
        let denied = tiktok.consent(&scenario, &[BASIC, ACTIVITY], decision).await;
        assert_eq!(denied.param("error").as_deref(), Some("access_denied"));
        assert!(!denied.param("error_description").unwrap().is_empty());
        assert_eq!(denied.param("state"), Some(denied.state.clone()));
        assert_eq!(denied.param("code"), None);
    }

    // Bad requests get an error page and no redirect.
    let challenge = pkce_challenge(&random(""));
    let bad: Vec<(String, &str)> = vec![
        (url.replace("client_key=sandbox-client", "client_key=other"), "invalid_client"),
        (tiktok.authorize_url("s", &challenge, &["user.info.basic portability.activity.single"]), "invalid_scope"),
        (tiktok.authorize_url("s", &challenge, &["portability.photos.single"]), "invalid_scope"),
        (tiktok.authorize_url("", &challenge, &[ACTIVITY]), "invalid_request"),
        (tiktok.authorize_url("s", &"ab".repeat(32), &[ACTIVITY]), "invalid_request"),
        (url.replace("response_type=code", "response_type=token"), "unsupported_response_type"),
        (url.replace("code_challenge_method=S256", "code_challenge_method=plain"), "invalid_request"),
        (url.replace("%2Foauth%2Ftiktok%2Fcallback%2F", "%2Fother%2F"), "invalid_request"),
    ];
    for (url, error) in bad {
        let answer = tiktok.http.get(&url).send().await.unwrap();
        assert_eq!(answer.status(), 400, "{url}");
        assert!(answer.headers().get("location").is_none());
        let html = answer.text().await.unwrap();
        assert!(html.contains(&format!("<code>{error}</code>")), "{url}: {html}");
        assert!(html.contains("SANDBOX — not a real TikTok account"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_code_exchange_checks_client_redirect_pkce_and_single_use() {
    let tiktok = TikTok::start().await;
    let consent = tiktok.consent(&tiny(), &[BASIC, ACTIVITY], "allow").await;
    let code = consent.param("code").unwrap();
    let redirect = tiktok.config.donation.tiktok.redirect_uri.clone();
    let exchange = async |code: String, redirect: String, verifier: String| {
        tiktok
            .token_call(&[
                ("code", &code),
                ("grant_type", "authorization_code"),
                ("redirect_uri", &redirect),
                ("code_verifier", &verifier),
            ])
            .await
    };
    // PKCE mismatch.
    let (status, body) = exchange(code.clone(), redirect.clone(), random("")).await;
    assert_eq!((status, body["error"].as_str()), (400, Some("invalid_grant")), "{body}");
    assert!(!body["error_description"].as_str().unwrap().is_empty());
    assert!(!body["log_id"].as_str().unwrap().is_empty());
    // Another redirect URI.
    let (status, body) = exchange(code.clone(), format!("{redirect}x"), consent.verifier.clone()).await;
    assert_eq!((status, body["error"].as_str()), (400, Some("invalid_grant")), "{body}");
    // Another client secret.
    let answer = tiktok
        .http
        .post(tiktok.url("/v2/oauth/token/"))
        .form(&[
            ("client_key", "sandbox-client"),
            ("client_secret", "wrong"),
            ("code", &code),
            ("grant_type", "authorization_code"),
            ("redirect_uri", &redirect),
            ("code_verifier", &consent.verifier),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 401);
    let body: Value = serde_json::from_slice(&answer.bytes().await.unwrap()).unwrap();
    assert_eq!(body["error"], "invalid_client");

    // The right verifier: TikTok's flat answer with every field.
    let (status, body) = exchange(code.clone(), redirect.clone(), consent.verifier.clone()).await;
    assert_eq!(status, 200, "{body}");
    assert!(body["access_token"].as_str().unwrap().starts_with("act."));
    assert!(body["refresh_token"].as_str().unwrap().starts_with("rft."));
    assert_eq!(body["expires_in"], 86400);
    assert_eq!(body["refresh_expires_in"], 31_536_000);
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["scope"], "user.info.basic,portability.activity.single");
    assert_eq!(body["open_id"].as_str().unwrap().len(), 36);
    assert!(body.get("data").is_none());
    // The code is single use.
    let (status, body) = exchange(code, redirect, consent.verifier.clone()).await;
    assert_eq!((status, body["error"].as_str()), (400, Some("invalid_grant")), "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hex_pkce_is_checked_when_configured() {
    let tiktok = TikTok::start_with(&[("STEWARD_TIKTOK_PKCE_ENCODING", "hex")]).await;
    let verifier = random("");
    let digest = ring::digest::digest(&ring::digest::SHA256, verifier.as_bytes());
    let hex: String = digest.as_ref().iter().map(|b| format!("{b:02x}")).collect();
    // A base64url challenge is refused on the consent screen.
    let url = tiktok.authorize_url("s", &pkce_challenge(&verifier), &[ACTIVITY]);
    assert_eq!(tiktok.http.get(&url).send().await.unwrap().status(), 400);
    let mut consent = tiktok.consent_with(&tiny(), &[ACTIVITY], "allow", &hex).await;
    consent.verifier = verifier;
    let (status, body) = tiktok.exchange(&consent).await;
    assert_eq!(status, 200, "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_shapes_and_refresh_tokens_rotate() {
    let tiktok = TikTok::start().await;
    let nested = tiny().tiktok_token_shape(TokenShape::Nested);
    let consent = tiktok.consent(&nested, &[BASIC, ACTIVITY], "allow").await;
    let (status, body) = tiktok.exchange(&consent).await;
    assert_eq!(status, 200);
    assert!(body.get("access_token").is_none(), "{body}");
    let data = &body["data"];
    for field in ["access_token", "expires_in", "open_id", "refresh_expires_in", "refresh_token", "scope", "token_type"]
    {
        assert!(data.get(field).is_some(), "{field} missing from {body}");
    }

    let flat = tiktok.tokens(&tiny(), &[BASIC, ACTIVITY]).await;
    let first = flat["refresh_token"].as_str().unwrap();
    let (status, second) = tiktok.refresh(first).await;
    assert_eq!(status, 200, "{second}");
    let second_refresh = second["refresh_token"].as_str().unwrap();
    assert_ne!(second_refresh, first);
    assert_ne!(second["access_token"], flat["access_token"]);
    assert_eq!(second["scope"], flat["scope"]);
    // The used refresh token is dead; the new one works once.
    let (status, refused) = tiktok.refresh(first).await;
    assert_eq!((status, refused["error"].as_str()), (400, Some("invalid_grant")), "{refused}");
    let (status, third) = tiktok.refresh(second_refresh).await;
    assert_eq!(status, 200, "{third}");
    // The first access token still works until it expires; `.single` allows
    // one Add per grant, and the refreshed token belongs to the same grant.
    let id = tiktok.add(flat["access_token"].as_str().unwrap()).await;
    assert!(id > 1 << 53);
    let (status, body, _) = tiktok
        .api_json(third["access_token"].as_str().unwrap(), "/v2/user/data/add/?fields=request_id", ADD_BODY)
        .await;
    assert_eq!((status, error_code(&body)), (400, "invalid_params"), "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revoking_kills_every_token_of_the_grant() {
    let tiktok = TikTok::start().await;
    let tokens = tiktok.tokens(&tiny(), &[BASIC, ACTIVITY]).await;
    let access = tokens["access_token"].as_str().unwrap();
    let answer = tiktok
        .http
        .post(tiktok.url("/v2/oauth/revoke/"))
        .form(&[("client_key", "sandbox-client"), ("client_secret", "sandbox-secret"), ("token", access)])
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 200);
    assert_eq!(answer.json_value().await, json!({}));
    let (status, body, _) = tiktok.api_json(access, "/v2/user/data/add/?fields=request_id", ADD_BODY).await;
    assert_eq!((status, error_code(&body)), (401, "access_token_invalid"), "{body}");
    let (status, body) = tiktok.refresh(tokens["refresh_token"].as_str().unwrap()).await;
    assert_eq!((status, body["error"].as_str()), (400, Some("invalid_grant")));
}

/// `reqwest` without its `json` feature.
trait JsonValue {
    async fn json_value(self) -> Value;
}

impl JsonValue for reqwest::Response {
    async fn json_value(self) -> Value {
        serde_json::from_slice(&self.bytes().await.unwrap()).unwrap()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn add_check_download_and_cancel_speak_tiktoks_envelopes() {
    let tiktok = TikTok::start().await;
    let scenario = tiny();
    let token = tiktok.access(&scenario).await;

    // `fields` is required on Add and Check.
    let (status, body, _) = tiktok.api_json(&token, "/v2/user/data/add/", ADD_BODY).await;
    assert_eq!((status, error_code(&body)), (400, "invalid_params"), "{body}");
    assert!(body["error"]["message"].as_str().unwrap().contains("fields"));
    let (status, body, _) =
        tiktok.api_json(&token, "/v2/user/data/add/?fields=request_id", r#"{"data_format": "json"}"#).await;
    assert_eq!((status, error_code(&body)), (400, "invalid_params"), "{body}");

    let (status, body, text) = tiktok.api_json(&token, "/v2/user/data/add/?fields=request_id", ADD_BODY).await;
    assert_eq!(status, 200, "{text}");
    ok_envelope(&body);
    let id = body["data"]["request_id"].as_i64().unwrap();
    // An exact int64 above 2^53: the digits on the wire are the id, and a
    // float would have lost them.
    assert!(id > 1 << 53);
    assert!(text.contains(&format!("\"request_id\":{id}")), "{text}");
    assert_ne!(text.parse::<Value>().unwrap()["data"]["request_id"].as_f64().unwrap() as i64, id);
    // `.single`: a second Add with the same grant is refused.
    let (status, body, _) = tiktok.api_json(&token, "/v2/user/data/add/?fields=request_id", ADD_BODY).await;
    assert_eq!((status, error_code(&body)), (400, "invalid_params"), "{body}");

    let (status, body, _) = tiktok.api_json(&token, "/v2/user/data/check/", &id_body(id)).await;
    assert_eq!((status, error_code(&body)), (400, "invalid_params"), "{body}");
    // A request id sent through a float is not the request.
    let float_body = format!("{{\"request_id\": {:e}}}", id as f64);
    let (status, body, _) = tiktok.api_json(&token, "/v2/user/data/check/?fields=status", &float_body).await;
    assert_eq!((status, error_code(&body)), (400, "invalid_params"), "{body}");

    let first = tiktok.check(&token, id).await;
    assert_eq!(first["status"], "pending");
    assert_eq!(first["request_id"].as_i64(), Some(id));
    assert_eq!(first["data_format"], "json");
    assert_eq!(first["category_selection_list"], json!(["activity"]));
    assert!(first["apply_time"].as_i64().unwrap() > 1_700_000_000);
    assert!(first["collect_time"].as_i64().unwrap() >= first["apply_time"].as_i64().unwrap());
    let second = tiktok.check(&token, id).await;
    assert_eq!(second["status"], "downloading");
    // Only the fields asked for.
    let (_, body, _) = tiktok.api_json(&token, "/v2/user/data/check/?fields=status", &id_body(id)).await;
    assert_eq!(body["data"], json!({"status": "downloading"}));

    let answer = tiktok.download(&token, id).await;
    assert_eq!(answer.status(), 200);
    assert_eq!(answer.headers()["content-type"], "application/zip");
    let bytes = answer.bytes().await.unwrap();
    assert!(bytes.starts_with(b"PK\x03\x04"));
    let entries = zip_entries(&bytes);
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0].0, TIKTOK_FILE_2025);
    let doc: Value = serde_json::from_slice(&entries[0].1).unwrap();
    assert_eq!(doc["Your Activity"]["Watch History"]["VideoList"].as_array().unwrap().len(), 5);
    // Byte-identical when downloaded again.
    let again = tiktok.download(&token, id).await.bytes().await.unwrap();
    assert_eq!(again, bytes);

    // An unknown request id: TikTok's documented invalid_params body.
    let answer = tiktok.download(&token, id ^ 2).await;
    assert_eq!(answer.status(), 400);
    let body = answer.json_value().await;
    assert_eq!(error_code(&body), "invalid_params");
    assert_eq!(body["error"]["http_status_code"], 400);
    assert_eq!(body["error"]["message"], "Incorrect `request_id`. Please validate the request.");
    assert_eq!(body["data"], json!({}));

    // Cancel: `{"error": {"code": "ok", …}}` without data; the status follows.
    let (status, body, _) = tiktok.api_json(&token, "/v2/user/data/cancel/", &id_body(id)).await;
    assert_eq!(status, 200);
    ok_envelope(&body);
    assert!(body.get("data").is_none(), "{body}");
    assert_eq!(tiktok.check(&token, id).await["status"], "cancelled");
    let answer = tiktok.download(&token, id).await;
    assert_eq!(answer.status(), 400);

    // No bearer token at all.
    let answer = tiktok.http.post(tiktok.url("/v2/user/data/check/?fields=status")).body(id_body(id)).send().await;
    let answer = answer.unwrap();
    assert_eq!(answer.status(), 401);
    assert_eq!(error_code(&answer.json_value().await), "access_token_invalid");

    // `ongoing` scopes allow more than one Add.
    let ongoing = tiktok.tokens(&tiny(), &["portability.activity.ongoing"]).await;
    let token = ongoing["access_token"].as_str().unwrap();
    let (a, b) = (tiktok.add(token).await, tiktok.add(token).await);
    assert_ne!(a, b);
    // A grant without a portability scope may not Add.
    let basic = tiktok.tokens(&tiny(), &[BASIC]).await;
    let (status, body, _) = tiktok
        .api_json(basic["access_token"].as_str().unwrap(), "/v2/user/data/add/?fields=request_id", ADD_BODY)
        .await;
    assert_eq!((status, error_code(&body)), (401, "scope_not_authorized"), "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_status_follows_the_scenario() {
    let tiktok = TikTok::start().await;
    let statuses = async |scenario: Scenario, checks: usize| {
        let token = tiktok.access(&scenario).await;
        let id = tiktok.add(&token).await;
        let mut out = Vec::new();
        for _ in 0..checks {
            out.push(tiktok.check(&token, id).await["status"].as_str().unwrap().to_owned());
        }
        out
    };
    assert_eq!(
        statuses(tiny().failure(Failure::SlowArchive { polls: 3 }), 5).await,
        ["pending", "pending", "pending", "downloading", "downloading"]
    );
    assert_eq!(statuses(tiny().failure(Failure::NeverReady), 4).await, ["pending"; 4]);
    assert_eq!(statuses(tiny().failure(Failure::TikTokExpired), 3).await, ["pending", "expired", "expired"]);
    assert_eq!(statuses(tiny().failure(Failure::TikTokCancelled), 2).await, ["pending", "cancelled"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failure_modes_have_tiktoks_wire_behaviour() {
    let tiktok = TikTok::start().await;

    // Outside the EEA/UK: Add fails with TikTok's 403.
    let token = tiktok.access(&tiny().failure(Failure::TikTokRegion)).await;
    let (status, body, _) = tiktok.api_json(&token, "/v2/user/data/add/?fields=request_id", ADD_BODY).await;
    assert_eq!(status, 403);
    assert_eq!(body["data"], json!({}));
    assert_eq!(body["error"]["code"], "access_denied");
    assert_eq!(body["error"]["message"], REGION_BODY_MESSAGE);

    // Rate limits, then server errors, then the call goes through.
    let token =
        tiktok.access(&tiny().failure(Failure::RateLimited { n: 2 }).failure(Failure::ServerError { n: 1 })).await;
    for _ in 0..2 {
        let answer = tiktok.api(&token, "/v2/user/data/add/?fields=request_id", ADD_BODY).await;
        assert_eq!(answer.status(), 429);
        assert_eq!(answer.headers()["retry-after"], "1");
        assert_eq!(error_code(&answer.json_value().await), "rate_limit_exceeded");
    }
    let (status, body, _) = tiktok.api_json(&token, "/v2/user/data/add/?fields=request_id", ADD_BODY).await;
    assert_eq!((status, error_code(&body)), (503, "internal_error"));
    tiktok.add(&token).await;

    // Revoked consent from the second call: 401, and refreshing fails.
    let tokens = tiktok.tokens(&tiny().failure(Failure::RevokedConsent { after: 2 }), &[BASIC, ACTIVITY]).await;
    let token = tokens["access_token"].as_str().unwrap();
    let id = tiktok.add(token).await;
    let (status, body, _) = tiktok.api_json(token, "/v2/user/data/check/?fields=status", &id_body(id)).await;
    assert_eq!((status, error_code(&body)), (401, "access_token_invalid"));
    let (status, body) = tiktok.refresh(tokens["refresh_token"].as_str().unwrap()).await;
    assert_eq!((status, body["error"].as_str()), (400, Some("invalid_grant")));

    // Expired tokens: refreshing brings a working one.
    let tokens = tiktok.tokens(&tiny().failure(Failure::ExpiredToken), &[BASIC, ACTIVITY]).await;
    assert_eq!(tokens["expires_in"], 1);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let (status, body, _) = tiktok
        .api_json(tokens["access_token"].as_str().unwrap(), "/v2/user/data/add/?fields=request_id", ADD_BODY)
        .await;
    assert_eq!((status, error_code(&body)), (401, "access_token_invalid"));
    let (status, fresh) = tiktok.refresh(tokens["refresh_token"].as_str().unwrap()).await;
    assert_eq!(status, 200);
    tiktok.add(fresh["access_token"].as_str().unwrap()).await;

    // The refresh token dies once the export started.
    let tokens = tiktok.tokens(&tiny().failure(Failure::RefreshRevoked), &[BASIC, ACTIVITY]).await;
    let (status, refreshed) = tiktok.refresh(tokens["refresh_token"].as_str().unwrap()).await;
    assert_eq!(status, 200);
    tiktok.add(refreshed["access_token"].as_str().unwrap()).await;
    let (status, body) = tiktok.refresh(refreshed["refresh_token"].as_str().unwrap()).await;
    assert_eq!((status, body["error"].as_str()), (400, Some("invalid_grant")));

    // Latency.
    let token = tiktok.access(&tiny().failure(Failure::Latency { ms: 300 })).await;
    let started = Instant::now();
    tiktok.add(&token).await;
    assert!(started.elapsed() >= Duration::from_millis(300));

    // The first download breaks off halfway; the next one is whole.
    let token = tiktok.access(&tiny().failure(Failure::TruncatedDownload)).await;
    let id = tiktok.add(&token).await;
    assert_eq!(tiktok.check(&token, id).await["status"], "pending");
    assert_eq!(tiktok.check(&token, id).await["status"], "downloading");
    let answer = tiktok.download(&token, id).await;
    assert_eq!(answer.status(), 200);
    let announced: usize = answer.headers()["content-length"].to_str().unwrap().parse().unwrap();
    let mut body = answer.bytes_stream();
    let (mut received, mut broke) = (0, false);
    while let Some(chunk) = body.next().await {
        match chunk {
            Ok(chunk) => received += chunk.len(),
            Err(_) => {
                broke = true;
                break;
            }
        }
    }
    assert!(broke && received < announced, "{received} of {announced} bytes, broke: {broke}");
    let whole = tiktok.download(&token, id).await.bytes().await.unwrap();
    assert_eq!(whole.len(), announced);
    assert_eq!(zip_entries(&whole)[0].0, TIKTOK_FILE_2025);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn downloads_follow_the_layout_and_content_failures() {
    let tiktok = TikTok::start().await;
    // Legacy layout, and the archive is the generator's for the request's apply time.
    // A fixed span: the content then depends on the scenario alone.
    let span: Span = "2024-01-01..2024-12-31".parse().unwrap();
    let legacy = tiny().tiktok_layout(TikTokLayout::Legacy).seed(7).span(span);
    let token = tiktok.access(&legacy).await;
    let id = tiktok.add(&token).await;
    let check = tiktok.check(&token, id).await;
    assert_eq!(check["status"], "pending");
    let bytes = tiktok.archive_of(&token, id).await;
    let entries = zip_entries(&bytes);
    assert_eq!(entries[0].0, TIKTOK_FILE_LEGACY);
    let doc: Value = serde_json::from_slice(&entries[0].1).unwrap();
    let watched = doc["Activity"]["Video Browsing History"]["VideoList"].as_array().unwrap();
    assert_eq!(watched.len(), 5);
    assert_eq!(doc["Profile"]["Profile Information"]["ProfileMap"]["emailAddress"], "alex@example.test");
    let created = chrono::DateTime::from_timestamp(check["apply_time"].as_i64().unwrap(), 0).unwrap();
    // The generator gives the same document for the same scenario.
    let manifest = tiktok_manifest(&legacy, created);
    assert_eq!(manifest.records_of("watch_history"), Some(5));
    let mut local = Vec::new();
    write_tiktok_archive(&legacy, created, &mut local).unwrap();
    assert_eq!(zip_entries(&local)[0].1, entries[0].1);

    for (failure, check) in [
        (Failure::MalformedZip, "malformed_zip"),
        (Failure::malformed_json("likes"), "malformed_json"),
        (Failure::PathTraversal, "path_traversal"),
        (Failure::NestedArchive, "nested_archive"),
        (Failure::missing_type("watch_history"), "missing_type"),
        (Failure::BadRecords, "bad_records"),
        (Failure::ZipBomb, "zip_bomb"),
    ] {
        let token = tiktok.access(&tiny().failure(failure)).await;
        let bytes = tiktok.archive(&token, 3).await;
        match check {
            "malformed_zip" => assert!(zip::ZipArchive::new(Cursor::new(bytes.to_vec())).is_err()),
            "malformed_json" => assert!(serde_json::from_slice::<Value>(&zip_entries(&bytes)[0].1).is_err()),
            "path_traversal" => {
                let names: Vec<String> = zip_entries(&bytes).into_iter().map(|(n, _)| n).collect();
                assert!(names.contains(&"../../etc/passwd".to_owned()), "{names:?}");
            }
            "nested_archive" => assert_eq!(zip_entries(&bytes)[0].0, "nested.zip"),
            "bad_records" => {
                let doc: Value = serde_json::from_slice(&zip_entries(&bytes)[0].1).unwrap();
                let searches = doc["Your Activity"]["Searches"]["SearchList"].as_array().unwrap();
                let BadRecordCounts { non_object, oversized, bad_time } = BAD_RECORDS;
                assert_eq!(searches.len() as u64, 5 + non_object + oversized + bad_time);
                assert_eq!(searches.iter().filter(|r| !r.is_object()).count() as u64, non_object);
            }
            "zip_bomb" => {
                // Small on the wire, past the 8 GiB entry limit inflated.
                assert!(bytes.len() < 9 << 20, "{} bytes", bytes.len());
                let mut archive = zip::ZipArchive::new(Cursor::new(bytes.to_vec())).unwrap();
                assert_eq!(archive.by_name(TIKTOK_FILE_2025).unwrap().size(), ZIP_BOMB_BYTES);
            }
            _ => {
                let doc: Value = serde_json::from_slice(&zip_entries(&bytes)[0].1).unwrap();
                assert!(doc["Your Activity"].get("Watch History").is_none());
                assert!(doc["Your Activity"].get("Searches").is_some());
            }
        }
    }
}

impl TikTok {
    /// Checks until `downloading` and downloads request `id`.
    async fn archive_of(&self, token: &str, id: i64) -> Vec<u8> {
        for _ in 0..3 {
            if self.check(token, id).await["status"] == "downloading" {
                return self.download(token, id).await.bytes().await.unwrap().to_vec();
            }
        }
        panic!("request {id} not ready");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_call_log_redacts_secrets_tokens_codes_and_verifiers() {
    let tiktok = TikTok::start().await;
    let consent = tiktok.consent(&tiny(), &[BASIC, ACTIVITY], "allow").await;
    let code = consent.param("code").unwrap();
    let (_, tokens) = tiktok.exchange(&consent).await;
    let (access, refresh) = (tokens["access_token"].as_str().unwrap(), tokens["refresh_token"].as_str().unwrap());
    let id = tiktok.add(access).await;
    tiktok.check(access, id).await;
    let (_, rotated) = tiktok.refresh(refresh).await;
    let answer = tiktok
        .http
        .post(tiktok.url("/v2/oauth/revoke/"))
        .form(&[("client_key", "sandbox-client"), ("client_secret", "sandbox-secret"), ("token", access)])
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 200);

    let calls = tiktok.calls(0).await;
    let text = serde_json::to_string(&calls).unwrap();
    for secret in [
        "sandbox-secret",
        code.as_str(),
        consent.verifier.as_str(),
        consent.state.as_str(),
        access,
        refresh,
        rotated["refresh_token"].as_str().unwrap(),
    ] {
        assert!(!text.contains(secret), "{secret} is in the call log");
    }
    let tiktok_calls: Vec<&Value> = calls.iter().filter(|c| c["provider"] == "tiktok").collect();
    let paths: Vec<&str> = tiktok_calls.iter().map(|c| c["path"].as_str().unwrap()).collect();
    for path in [
        "/sandbox/tiktok/v2/auth/authorize/",
        "/sandbox/tiktok/v2/auth/authorize/decision",
        "/sandbox/tiktok/v2/oauth/token/",
        "/sandbox/tiktok/v2/user/data/add/",
        "/sandbox/tiktok/v2/user/data/check/",
        "/sandbox/tiktok/v2/oauth/revoke/",
    ] {
        assert!(paths.contains(&path), "{path} not logged: {paths:?}");
    }
    let exchange = tiktok_calls
        .iter()
        .find(|c| c["path"] == "/sandbox/tiktok/v2/oauth/token/" && c["body"]["grant_type"] == "authorization_code")
        .unwrap();
    for field in ["client_secret", "code", "code_verifier"] {
        assert_eq!(exchange["body"][field], "<redacted>", "{field}");
    }
    assert_eq!(exchange["body"]["client_key"], "sandbox-client");
    assert_eq!(exchange["status"], 200);
    let add = tiktok_calls.iter().find(|c| c["path"] == "/sandbox/tiktok/v2/user/data/add/").unwrap();
    assert_eq!(add["authorization"], "Bearer <redacted>");
    assert_eq!(add["query"]["fields"], "request_id");
    assert_eq!(add["body"]["category_selection_list"], json!(["activity"]));
    let revoke = tiktok_calls.iter().find(|c| c["path"] == "/sandbox/tiktok/v2/oauth/revoke/").unwrap();
    assert_eq!(revoke["body"]["token"], "<redacted>");
}

/// Spec §4.1: a download follows at most three redirects, and only to the
/// API host. The sandbox's `tiktok_redirect:n=K` answers the first K
/// downloads with a 307 to the download path of its own origin (the API
/// host here) and `tiktok_offsite_redirect` with one to another host;
/// Steward's TikTok client follows the first, re-sending the `POST` with
/// its body and token, and refuses the second without contacting that host.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn downloads_follow_redirects_only_to_the_api_host() {
    use steward::donation::provider::{ErrorClass, PortabilityProvider as _, Reached, Step};
    use steward::donation::sandbox::tiktok::OFFSITE_DOWNLOAD_HOST;
    use steward::donation::tiktok::TikTokClient;

    let tiktok = TikTok::start().await;
    let client = TikTokClient::new(&tiktok.config.donation.tiktok).unwrap();
    let download_path = "/sandbox/tiktok/v2/user/data/download/";
    // A ready request of a fresh grant with `failure`; its token and id.
    let ready = async |failure: Failure| {
        let token = tiktok.access(&tiny().failure(failure)).await;
        let id = tiktok.add(&token).await;
        assert_eq!(tiktok.check(&token, id).await["status"], "pending");
        assert_eq!(tiktok.check(&token, id).await["status"], "downloading");
        (token, id)
    };
    let seq = async || tiktok.calls(0).await.last().map_or(0, |c| c["seq"].as_i64().unwrap());
    // (method, status) of the downloads the sandbox answered after `since`.
    let downloads = async |since: i64| -> Vec<(String, i64)> {
        let calls = tiktok.calls(since).await;
        let hops = calls.iter().filter(|c| c["provider"] == "tiktok" && c["path"] == download_path);
        hops.map(|c| (c["method"].as_str().unwrap().to_owned(), c["status"].as_i64().unwrap())).collect()
    };

    // On the wire: a 307 to the same path on the API host.
    let (token, id) = ready(Failure::TikTokRedirect { n: 1 }).await;
    let answer = tiktok.download(&token, id).await;
    assert_eq!(answer.status(), 307);
    let api = &tiktok.config.donation.tiktok.api_url;
    assert_eq!(answer.headers()["location"].to_str().unwrap(), format!("{api}/v2/user/data/download/"));

    // Three hops on the API host are followed, each a POST with the body.
    let (token, id) = ready(Failure::TikTokRedirect { n: 3 }).await;
    let since = seq().await;
    let (bytes, error) = read_all(client.download(&token, &id.to_string(), 0).await.unwrap()).await;
    assert!(error.is_none(), "{error:?}");
    assert_eq!(zip_entries(&bytes)[0].0, TIKTOK_FILE_2025);
    let post = |status: i64| ("POST".to_owned(), status);
    assert_eq!(downloads(since).await, [post(307), post(307), post(307), post(200)]);

    // A fourth is one too many.
    let (token, id) = ready(Failure::TikTokRedirect { n: 4 }).await;
    let e = client.download(&token, &id.to_string(), 0).await.unwrap_err();
    assert_eq!(
        (e.step, e.class, e.http_status, e.code.as_deref()),
        (Step::Download, ErrorClass::Permanent, Some(307), Some("too_many_redirects"))
    );

    // Another host is refused at once, and the error says why.
    let (token, id) = ready(Failure::TikTokOffsiteRedirect).await;
    let since = seq().await;
    let answer = tiktok.download(&token, id).await;
    assert!(answer.headers()["location"].to_str().unwrap().starts_with(&format!("https://{OFFSITE_DOWNLOAD_HOST}/")));
    let e = client.download(&token, &id.to_string(), 0).await.unwrap_err();
    assert_eq!(
        (e.class, e.reached, e.http_status, e.code.as_deref()),
        (ErrorClass::Permanent, Reached::Answered, Some(307), Some("redirect_not_allowed"))
    );
    assert_eq!(e.to_string(), "TikTok download failed (permanent): HTTP 307 redirect_not_allowed");
    assert_eq!(downloads(since).await, [post(307), post(307)], "the raw call and the client's one call");
}
