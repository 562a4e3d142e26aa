//! The TikTok Data Portability client (spec `donation.md` §4.4): Login Kit
//! for Web (authorization URL with PKCE, code exchange, refresh with rotating
//! refresh tokens, revoke) and the Data Portability API (`add`, `check`,
//! `download`, `cancel`).
//!
//! Built from [`TikTokProvider`]'s base URLs, so the same code talks to
//! TikTok or to the sandbox (`/sandbox/tiktok`, spec §6.2). Wire formats and
//! the error mapping live in [`wire`]. In [`PortabilityProvider`]'s terms a
//! TikTok data request is an export job whose id is the request id, `check`
//! is its state, its one part is located by the request id, and `revoke` is
//! the reset.
//!
//! Never logged: tokens, codes, verifiers, bodies. Logged for a refusal:
//! TikTok's `error.code` and `log_id`.

pub mod wire;

pub use wire::{granted_resources, split_scopes};

use std::time::Duration;

use anyhow::Context as _;
use futures_util::future::BoxFuture;
use reqwest::Url;

use crate::config::Secret;
use crate::donation::catalogue::Source;
use crate::donation::config::{PkceEncoding, ProviderMode, TikTokProvider};
use crate::donation::provider::{
    API_TIMEOUT, AccessTypes, Answer, ArchiveState, Download, ExportRequest, Initiated, PortabilityProvider,
    ProviderError, ProviderHttp, Retries, RetryPolicy, Step, TokenGrant, post_json,
};

/// The code exchange runs while the participant waits (spec §3.4).
const EXCHANGE_TIMEOUT: Duration = Duration::from_secs(10);

/// The export request of a TikTok donation (spec §4.4.3): the `activity`
/// category, never a window (the study window is applied to the rows).
pub fn export_request(resource: &str) -> ExportRequest {
    ExportRequest { resources: vec![resource.to_owned()], start_time: None, end_time: None }
}

/// TikTok's client for one Steward deployment.
#[derive(Debug, Clone)]
pub struct TikTokClient {
    http: ProviderHttp,
    client_key: String,
    client_secret: Secret,
    redirect_uri: String,
    auth_url: Url,
    /// `<api_url>/v2`.
    api_base: String,
    ongoing: bool,
    extra_scopes: Vec<String>,
    pkce: PkceEncoding,
}

impl TikTokClient {
    pub fn new(config: &TikTokProvider) -> anyhow::Result<Self> {
        Self::with_retry_policy(config, RetryPolicy::default())
    }

    /// With other immediate-retry waits (tests).
    pub fn with_retry_policy(config: &TikTokProvider, retry: RetryPolicy) -> anyhow::Result<Self> {
        let auth_url = Url::parse(&config.auth_url).context("the TikTok authorization URL")?;
        let api = Url::parse(&config.api_url).context("the TikTok API URL")?;
        // Downloads are API calls: the API host is the allowlist (spec §4.1).
        let host = api.host_str().context("the TikTok API URL has no host")?;
        let host = match api.port() {
            Some(port) => format!("{host}:{port}"),
            None => host.to_owned(),
        };
        let sandbox = config.mode == ProviderMode::Sandbox;
        let http =
            ProviderHttp::new(Source::TikTok, vec![host], sandbox, retry).context("building the TikTok HTTP client")?;
        Ok(Self {
            http,
            client_key: config.client_key.clone(),
            client_secret: config.client_secret.clone(),
            redirect_uri: config.redirect_uri.clone(),
            auth_url,
            api_base: format!("{}/v2", config.api_url.trim_end_matches('/')),
            ongoing: config.ongoing_scope,
            extra_scopes: config.extra_scopes.clone(),
            pkce: config.pkce_encoding,
        })
    }

    /// `https://open.tiktokapis.com/v2/<path>`.
    fn url(&self, path: &str) -> String {
        format!("{}/{path}", self.api_base)
    }

    /// A call of the OAuth endpoints (token, revoke) with `form`.
    async fn oauth(&self, step: Step, path: &str, form: &[(&str, &str)]) -> Result<Answer, ProviderError> {
        let (retries, timeout) = match step {
            Step::Exchange => (Retries::Once, EXCHANGE_TIMEOUT),
            Step::Refresh => (Retries::Idempotent, API_TIMEOUT),
            _ => (Retries::NonIdempotent, API_TIMEOUT),
        };
        let url = self.url(path);
        let build = |c: &reqwest::Client| c.post(&url).header(reqwest::header::CACHE_CONTROL, "no-cache").form(form);
        self.http.call(step, retries, timeout, build, |a| wire::classify_token(step, a)).await
    }

    async fn token(&self, step: Step, form: &[(&str, &str)]) -> Result<TokenGrant, ProviderError> {
        let answer = self.oauth(step, "oauth/token/", form).await?;
        wire::token_grant(step, &answer)
    }

    /// A Data Portability API call: `POST` with the Bearer token and a JSON body.
    async fn api(
        &self,
        step: Step,
        retries: Retries,
        path: &str,
        token: &str,
        body: Vec<u8>,
    ) -> Result<Answer, ProviderError> {
        let url = self.url(path);
        let build = |c: &reqwest::Client| post_json(c, &url, token, body.clone());
        self.http.call(step, retries, API_TIMEOUT, build, |a| wire::classify_api(step, a)).await
    }

    /// The portability scope of the configured mode for `resource`.
    fn scope(&self, resource: &str) -> String {
        format!("portability.{resource}.{}", if self.ongoing { "ongoing" } else { "single" })
    }
}

/// The request id of `job_id` and the JSON body naming it (Check, Cancel, Download).
fn request_body(step: Step, job_id: &str) -> Result<(i64, Vec<u8>), ProviderError> {
    let id = wire::request_id(step, job_id)?;
    Ok((id, serde_json::to_vec(&wire::RequestBody::new(id)).expect("a request body serializes")))
}

impl PortabilityProvider for TikTokClient {
    fn source(&self) -> Source {
        Source::TikTok
    }

    /// Exactly the parameters of spec §4.4.1; scopes comma-separated, the
    /// configured extra scopes first.
    fn authorize_url(&self, state: &str, code_challenge: &str, resources: &[&str]) -> String {
        let scopes: Vec<String> =
            self.extra_scopes.iter().cloned().chain(resources.iter().map(|r| self.scope(r))).collect();
        let mut url = self.auth_url.clone();
        url.query_pairs_mut()
            .append_pair("client_key", &self.client_key)
            .append_pair("response_type", "code")
            .append_pair("scope", &scopes.join(","))
            .append_pair("redirect_uri", &self.redirect_uri)
            .append_pair("state", state)
            .append_pair("code_challenge", code_challenge)
            .append_pair("code_challenge_method", "S256");
        url.into()
    }

    fn pkce_challenge(&self, verifier: &str) -> String {
        match self.pkce {
            PkceEncoding::Base64Url => crate::donation::provider::pkce_challenge(verifier),
            PkceEncoding::Hex => {
                crate::auth::token::hex(ring::digest::digest(&ring::digest::SHA256, verifier.as_bytes()).as_ref())
            }
        }
    }

    fn exchange_code<'a>(
        &'a self,
        code: &'a str,
        code_verifier: &'a str,
    ) -> BoxFuture<'a, Result<TokenGrant, ProviderError>> {
        Box::pin(async move {
            let form = [
                ("client_key", self.client_key.as_str()),
                ("client_secret", self.client_secret.expose()),
                ("code", code),
                ("grant_type", "authorization_code"),
                ("redirect_uri", self.redirect_uri.as_str()),
                ("code_verifier", code_verifier),
            ];
            self.token(Step::Exchange, &form).await
        })
    }

    /// TikTok rotates refresh tokens: the answer's new one is always stored
    /// (by the caller, in the transaction holding the grant row's lock).
    fn refresh<'a>(&'a self, refresh_token: &'a str) -> BoxFuture<'a, Result<TokenGrant, ProviderError>> {
        Box::pin(async move {
            let form = [
                ("client_key", self.client_key.as_str()),
                ("client_secret", self.client_secret.expose()),
                ("grant_type", "refresh_token"),
                ("refresh_token", refresh_token),
            ];
            self.token(Step::Refresh, &form).await
        })
    }

    /// Add (`/v2/user/data/add/?fields=request_id`).
    fn initiate<'a>(
        &'a self,
        access_token: &'a str,
        request: &'a ExportRequest,
    ) -> BoxFuture<'a, Result<Initiated, ProviderError>> {
        Box::pin(async move {
            let body = serde_json::to_vec(&wire::AddBody::new(&request.resources)).expect("a request body serializes");
            let path = format!("user/data/add/?fields={}", wire::ADD_FIELDS);
            let answer = self.api(Step::Initiate, Retries::NonIdempotent, &path, access_token, body).await?;
            wire::added(&answer)
        })
    }

    /// Check (`/v2/user/data/check/?fields=…`).
    fn archive_state<'a>(
        &'a self,
        access_token: &'a str,
        job_id: &'a str,
    ) -> BoxFuture<'a, Result<ArchiveState, ProviderError>> {
        Box::pin(async move {
            let (id, body) = request_body(Step::State, job_id)?;
            let path = format!("user/data/check/?fields={}", wire::CHECK_FIELDS);
            let answer = self.api(Step::State, Retries::Idempotent, &path, access_token, body).await?;
            wire::checked(id, &answer)
        })
    }

    /// TikTok has no retry of a request; a new Add is the export job's business.
    fn retry_job<'a>(
        &'a self,
        _access_token: &'a str,
        _job_id: &'a str,
    ) -> BoxFuture<'a, Result<String, ProviderError>> {
        Box::pin(async move { Err(ProviderError::not_sent(Source::TikTok, Step::RetryJob, "not_supported")) })
    }

    /// Cancel (`/v2/user/data/cancel/`).
    fn cancel_job<'a>(&'a self, access_token: &'a str, job_id: &'a str) -> BoxFuture<'a, Result<(), ProviderError>> {
        Box::pin(async move {
            let (_, body) = request_body(Step::CancelJob, job_id)?;
            self.api(Step::CancelJob, Retries::NonIdempotent, "user/data/cancel/", access_token, body).await?;
            Ok(())
        })
    }

    /// Download (`/v2/user/data/download/`): the whole zip, from the start
    /// (no `Range`: `offset` is always answered from 0). Up to three
    /// redirects are followed, only on the API host (spec §4.1), so the
    /// access token never goes anywhere else.
    fn download<'a>(
        &'a self,
        access_token: &'a str,
        locator: &'a str,
        _offset: u64,
    ) -> BoxFuture<'a, Result<Download, ProviderError>> {
        Box::pin(async move {
            let (_, body) = request_body(Step::Download, locator)?;
            let url = self.url("user/data/download/");
            self.http.post_download(&url, access_token, body, |a| wire::classify_api(Step::Download, a)).await
        })
    }

    /// Revoke (`/v2/oauth/revoke/`), form `client_key`, `client_secret`, `token`.
    fn reset<'a>(&'a self, access_token: &'a str) -> BoxFuture<'a, Result<(), ProviderError>> {
        Box::pin(async move {
            let form = [
                ("client_key", self.client_key.as_str()),
                ("client_secret", self.client_secret.expose()),
                ("token", access_token),
            ];
            self.oauth(Step::Reset, "oauth/revoke/", &form).await?;
            Ok(())
        })
    }

    /// TikTok has no access-type check; its grants are `single` or `ongoing` by scope.
    fn access_types<'a>(&'a self, _access_token: &'a str) -> BoxFuture<'a, Result<AccessTypes, ProviderError>> {
        Box::pin(async move {
            let resources = vec![wire::ACTIVITY.to_owned()];
            Ok(if self.ongoing {
                AccessTypes { one_time: Vec::new(), time_based: resources }
            } else {
                AccessTypes { one_time: resources, time_based: Vec::new() }
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::donation::provider::{ErrorClass, Reached};
    use axum::body::Body;
    use axum::http::{HeaderMap, StatusCode};
    use axum::response::IntoResponse as _;
    use axum::routing::post;
    use futures_util::StreamExt as _;

    fn config(api_url: &str, mode: ProviderMode) -> TikTokProvider {
        TikTokProvider {
            mode,
            client_key: "awkey123".into(),
            client_secret: Secret::new("s3cret"),
            redirect_uri: "https://donate.example.org/oauth/tiktok/callback/".into(),
            auth_url: "https://www.tiktok.com/v2/auth/authorize/".into(),
            api_url: api_url.into(),
            ongoing_scope: false,
            extra_scopes: vec!["user.info.basic".into()],
            pkce_encoding: PkceEncoding::Base64Url,
        }
    }

    fn pairs(url: &str) -> Vec<(String, String)> {
        Url::parse(url).unwrap().query_pairs().map(|(k, v)| (k.into_owned(), v.into_owned())).collect()
    }

    #[test]
    fn the_authorization_url_carries_exactly_the_spec_parameters() {
        let mut c = config("https://open.tiktokapis.com", ProviderMode::Real);
        let client = TikTokClient::new(&c).unwrap();
        let url = client.authorize_url("st4te", "chall3nge", &["activity"]);
        assert!(url.starts_with("https://www.tiktok.com/v2/auth/authorize/?client_key=awkey123&"), "{url}");
        let expected = [
            ("client_key", "awkey123"),
            ("response_type", "code"),
            ("scope", "user.info.basic,portability.activity.single"),
            ("redirect_uri", "https://donate.example.org/oauth/tiktok/callback/"),
            ("state", "st4te"),
            ("code_challenge", "chall3nge"),
            ("code_challenge_method", "S256"),
        ];
        let expected: Vec<(String, String)> = expected.iter().map(|(k, v)| ((*k).into(), (*v).into())).collect();
        assert_eq!(pairs(&url), expected);
        // Ongoing scopes, and no extra scopes when configured so.
        c.ongoing_scope = true;
        c.extra_scopes = Vec::new();
        let url = TikTokClient::new(&c).unwrap().authorize_url("s", "c", &["activity"]);
        assert!(pairs(&url).contains(&("scope".into(), "portability.activity.ongoing".into())));
    }

    #[test]
    fn the_pkce_challenge_is_encoded_as_configured() {
        let mut c = config("https://open.tiktokapis.com", ProviderMode::Real);
        let verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
        let client = TikTokClient::new(&c).unwrap();
        assert_eq!(client.pkce_challenge(verifier), "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM");
        c.pkce_encoding = PkceEncoding::Hex;
        let client = TikTokClient::new(&c).unwrap();
        assert_eq!(client.pkce_challenge(verifier), "13d31e961a1ad8ec2f16b10c4c982e0876a878ad6df144566ee1894acb70f9c3");
    }

    /// What the fake TikTok below was sent.
    #[derive(Clone, Default)]
    struct Seen(std::sync::Arc<std::sync::Mutex<Vec<Call>>>);

    /// One call: what was called, its `Authorization` and `Cache-Control` headers, and its body.
    type Call = (String, Option<String>, Option<String>, String);

    /// A listener answering TikTok's paths with canned bodies: the zip for
    /// request 123451234512345, the `invalid_params` envelope for others.
    async fn fake_tiktok(seen: Seen) -> String {
        let record = |seen: Seen, path: &'static str| {
            move |headers: HeaderMap, body: String| {
                let seen = seen.clone();
                async move {
                    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_owned);
                    seen.0.lock().unwrap().push((
                        path.to_owned(),
                        header("authorization"),
                        header("cache-control"),
                        body.clone(),
                    ));
                    let answer = if path == "cancel" {
                        r#"{"error": {"code": "ok", "message": "", "log_id": "l4"}}"#
                    } else {
                        "{}"
                    };
                    (StatusCode::OK, answer)
                }
            }
        };
        let download = {
            let seen = seen.clone();
            move |headers: HeaderMap, body: String| {
                let seen = seen.clone();
                async move {
                    let auth = headers.get("authorization").and_then(|v| v.to_str().ok()).map(str::to_owned);
                    seen.0.lock().unwrap().push(("download".into(), auth.clone(), None, body.clone()));
                    if auth.as_deref() != Some("Bearer act.good") {
                        let e = r#"{"data": {}, "error": {"code": "access_token_invalid", "message": "The access token is invalid or not found in the request.", "log_id": "l1"}}"#;
                        return (StatusCode::UNAUTHORIZED, Body::from(e)).into_response();
                    }
                    if body == r#"{"request_id":123451234512345}"# {
                        // The zip in small chunks, labelled as JSON: the first bytes decide.
                        let chunks: Vec<Result<Vec<u8>, std::io::Error>> =
                            vec![Ok(b"PK".to_vec()), Ok(b"\x03\x04rest-of-zip".to_vec())];
                        return (StatusCode::OK, Body::from_stream(futures_util::stream::iter(chunks))).into_response();
                    }
                    // 303: fetch the zip elsewhere on this host, with a GET.
                    if body == r#"{"request_id":303}"# {
                        return moved(StatusCode::SEE_OTHER, "/v2/user/data/fetch/".into());
                    }
                    // 307 to this very listener under another name: not the API host.
                    if body == r#"{"request_id":307}"# {
                        let host = headers.get("host").and_then(|v| v.to_str().ok()).unwrap_or_default();
                        let elsewhere = host.replace("127.0.0.1", "localhost");
                        return moved(
                            StatusCode::TEMPORARY_REDIRECT,
                            format!("http://{elsewhere}/v2/user/data/fetch/"),
                        );
                    }
                    let e = r#"{"data": {}, "error": {"code": "invalid_params", "http_status_code": 400, "log_id": "l2", "message": "Incorrect `request_id`. Please validate the request."}}"#;
                    (StatusCode::OK, Body::from(e)).into_response()
                }
            }
        };
        let fetch = {
            let seen = seen.clone();
            move |headers: HeaderMap| {
                let seen = seen.clone();
                async move {
                    let auth = headers.get("authorization").and_then(|v| v.to_str().ok()).map(str::to_owned);
                    seen.0.lock().unwrap().push(("fetch".into(), auth, None, String::new()));
                    (StatusCode::OK, Body::from(&b"PK\x03\x04fetched"[..]))
                }
            }
        };
        let token = |form: String| async move {
            if form.contains("grant_type=refresh_token") && form.contains("refresh_token=rft.revoked") {
                return (StatusCode::BAD_REQUEST, r#"{"error": "invalid_grant", "error_description": "Refresh token is invalid or expired.", "log_id": "l3"}"#.to_owned());
            }
            let nested = form.contains("refresh_token=rft.nested");
            let flat = r#"{"access_token": "act.new", "expires_in": 86400, "open_id": "afd97af1", "refresh_expires_in": 31536000, "refresh_token": "rft.rotated", "scope": "user.info.basic,portability.activity.single", "token_type": "Bearer"}"#;
            (StatusCode::OK, if nested { format!(r#"{{"data": {flat}}}"#) } else { flat.to_owned() })
        };
        let app = axum::Router::new()
            .route("/v2/user/data/download/", post(download))
            .route("/v2/user/data/fetch/", axum::routing::get(fetch))
            .route("/v2/user/data/cancel/", post(record(seen.clone(), "cancel")))
            .route("/v2/oauth/revoke/", post(record(seen.clone(), "revoke")))
            .route("/v2/oauth/token/", post(token));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        format!("http://{addr}")
    }

    /// A redirect to `location`, with an empty body.
    fn moved(status: StatusCode, location: String) -> axum::response::Response {
        (status, [(axum::http::header::LOCATION, location)]).into_response()
    }

    async fn client(seen: Seen) -> TikTokClient {
        let base = fake_tiktok(seen).await;
        let fast = RetryPolicy {
            delays: vec![Duration::from_millis(10)],
            jitter: 0.0,
            max_inline_wait: Duration::from_secs(1),
        };
        TikTokClient::with_retry_policy(&config(&base, ProviderMode::Sandbox), fast).unwrap()
    }

    #[tokio::test]
    async fn downloads_are_told_apart_by_their_first_bytes() {
        let seen = Seen::default();
        let client = client(seen.clone()).await;
        let download = client.download("act.good", "123451234512345", 0).await.unwrap();
        assert_eq!((download.offset, download.accepts_ranges), (0, false));
        let bytes: Vec<u8> = download.body.map(|c| c.unwrap().to_vec()).concat().await;
        assert_eq!(bytes, b"PK\x03\x04rest-of-zip");
        let e = client.download("act.good", "7", 0).await.unwrap_err();
        assert_eq!(
            (e.class, e.code.as_deref(), e.step),
            (ErrorClass::Permanent, Some("invalid_params"), Step::Download)
        );
        let e = client.download("act.stale", "123451234512345", 0).await.unwrap_err();
        assert_eq!((e.class, e.http_status), (ErrorClass::Auth, Some(401)));
        let e = client.download("act.good", "not-a-number", 0).await.unwrap_err();
        assert_eq!(e.reached, Reached::NotSent);
        let calls = seen.0.lock().unwrap().clone();
        assert_eq!(calls.len(), 3, "the malformed id never left Steward");
        assert_eq!(calls[0].1.as_deref(), Some("Bearer act.good"));
    }

    #[tokio::test]
    async fn downloads_follow_redirects_on_the_api_host_only() {
        let seen = Seen::default();
        let client = client(seen.clone()).await;
        // 303: the same host, continued with a GET that still carries the token.
        let download = client.download("act.good", "303", 0).await.unwrap();
        let bytes: Vec<u8> = download.body.map(|c| c.unwrap().to_vec()).concat().await;
        assert_eq!(bytes, b"PK\x03\x04fetched");
        // 307 to `localhost`: the same listener, but not the configured API host.
        let e = client.download("act.good", "307", 0).await.unwrap_err();
        assert_eq!(
            (e.class, e.http_status, e.code.as_deref()),
            (ErrorClass::Permanent, Some(307), Some("redirect_not_allowed"))
        );
        let calls = seen.0.lock().unwrap().clone();
        let calls: Vec<(&str, Option<&str>)> = calls.iter().map(|c| (c.0.as_str(), c.1.as_deref())).collect();
        let bearer = Some("Bearer act.good");
        assert_eq!(calls, [("download", bearer), ("fetch", bearer), ("download", bearer)]);
    }

    #[tokio::test]
    async fn refreshes_rotate_the_refresh_token_in_both_shapes_and_invalid_grant_loses_access() {
        let client = client(Seen::default()).await;
        for old in ["rft.flat", "rft.nested"] {
            let grant = client.refresh(old).await.unwrap();
            assert_eq!(grant.access_token.expose(), "act.new");
            assert_eq!(grant.refresh_token.as_ref().map(Secret::expose), Some("rft.rotated"));
            assert_eq!(grant.resources.as_deref(), Some(&["activity".to_owned()][..]));
        }
        let e = client.refresh("rft.revoked").await.unwrap_err();
        assert_eq!((e.class, e.code.as_deref()), (ErrorClass::AccessLost, Some("invalid_grant")));
    }

    #[tokio::test]
    async fn cancel_and_revoke_send_the_documented_bodies() {
        let seen = Seen::default();
        let client = client(seen.clone()).await;
        client.cancel_job("act.good", "9007199254740993").await.unwrap();
        client.reset("act.good").await.unwrap();
        let calls = seen.0.lock().unwrap().clone();
        assert_eq!(calls[0].0, "cancel");
        assert_eq!(calls[0].1.as_deref(), Some("Bearer act.good"));
        assert_eq!(calls[0].3, r#"{"request_id":9007199254740993}"#);
        assert_eq!(calls[1].0, "revoke");
        assert_eq!(calls[1].1, None, "revoke carries the token in its form");
        assert_eq!(calls[1].2.as_deref(), Some("no-cache"));
        assert_eq!(calls[1].3, "client_key=awkey123&client_secret=s3cret&token=act.good");
    }
}
