//! The Google Data Portability client (spec `donation.md` §4.2): Google
//! OAuth 2.0 (authorization URL with PKCE S256, code exchange, refresh) and
//! the Data Portability API v1 (`initiate`, state, `:retry`, `:cancel`,
//! `authorization:reset`, `accessType:check`), plus signed-URL downloads.
//!
//! Built from [`GoogleProvider`]'s base URLs, so the same code talks to
//! Google or to the sandbox (`/sandbox/google`, spec §6.2). Wire formats and
//! the error mapping live in [`wire`].

pub mod wire;

pub use wire::{export_request, granted_resources};

use std::time::Duration;

use anyhow::Context as _;
use futures_util::future::BoxFuture;
use reqwest::Url;

use crate::config::Secret;
use crate::donation::catalogue::{Source, google_scope};
use crate::donation::config::{GoogleProvider, ProviderMode};
use crate::donation::provider::{
    API_TIMEOUT, AccessTypes, Answer, ArchiveState, Download, ErrorClass, ExportRequest, Initiated,
    PortabilityProvider, ProviderError, ProviderHttp, Retries, RetryPolicy, Step, TokenGrant, post_json,
};

/// The code exchange runs while the participant waits (spec §3.4).
const EXCHANGE_TIMEOUT: Duration = Duration::from_secs(10);

/// Google's client for one Steward deployment.
#[derive(Debug, Clone)]
pub struct GoogleClient {
    http: ProviderHttp,
    client_id: String,
    client_secret: Secret,
    redirect_uri: String,
    auth_url: Url,
    token_url: String,
    /// `<dpa_url>/v1`.
    api_base: String,
}

impl GoogleClient {
    pub fn new(config: &GoogleProvider) -> anyhow::Result<Self> {
        Self::with_retry_policy(config, RetryPolicy::default())
    }

    /// With other immediate-retry waits (tests).
    pub fn with_retry_policy(config: &GoogleProvider, retry: RetryPolicy) -> anyhow::Result<Self> {
        let auth_url = Url::parse(&config.auth_url).context("the Google authorization URL")?;
        let sandbox = config.mode == ProviderMode::Sandbox;
        let http = ProviderHttp::new(Source::Google, config.download_hosts.clone(), sandbox, retry)
            .context("building the Google HTTP client")?;
        Ok(Self {
            http,
            client_id: config.client_id.clone(),
            client_secret: config.client_secret.clone(),
            redirect_uri: config.redirect_uri.clone(),
            auth_url,
            token_url: config.token_url.clone(),
            api_base: format!("{}/v1", config.dpa_url.trim_end_matches('/')),
        })
    }

    /// Downloads a part from its signed `url` at `offset`, without any
    /// `Authorization` header (signed URLs reject one).
    pub fn download<'a>(&'a self, url: &'a str, offset: u64) -> BoxFuture<'a, Result<Download, ProviderError>> {
        Box::pin(self.http.download(url, offset, wire::storage_error_code))
    }

    /// A token endpoint call with `form`.
    async fn token(&self, step: Step, form: &[(&str, &str)]) -> Result<TokenGrant, ProviderError> {
        let (retries, timeout) =
            if step == Step::Exchange { (Retries::Once, EXCHANGE_TIMEOUT) } else { (Retries::Idempotent, API_TIMEOUT) };
        let answer = self
            .http
            .call(step, retries, timeout, |c| c.post(&self.token_url).form(form), |a| wire::classify_token(step, a))
            .await?;
        wire::token_grant(step, &answer)
    }

    /// A Data Portability API call: `POST` with a JSON body, or `GET` without one.
    async fn api(
        &self,
        step: Step,
        retries: Retries,
        path: &str,
        token: &str,
        body: Option<Vec<u8>>,
    ) -> Result<Answer, ProviderError> {
        let url = format!("{}/{path}", self.api_base);
        let build = |c: &reqwest::Client| match &body {
            Some(body) => post_json(c, &url, token, body.clone()),
            None => c.get(&url).bearer_auth(token),
        };
        self.http.call(step, retries, API_TIMEOUT, build, |a| wire::classify_api(step, a)).await
    }

    /// `archiveJobs/{id}…`, refusing ids that are not safe in a path.
    fn job_path(&self, step: Step, job_id: &str, suffix: &str) -> Result<String, ProviderError> {
        if wire::valid_job_id(job_id) {
            Ok(format!("archiveJobs/{job_id}{suffix}"))
        } else {
            Err(ProviderError::not_sent(Source::Google, step, "bad_job_id"))
        }
    }
}

impl PortabilityProvider for GoogleClient {
    fn source(&self) -> Source {
        Source::Google
    }

    /// Exactly the parameters of spec §4.2.1.
    fn authorize_url(&self, state: &str, code_challenge: &str, resources: &[&str]) -> String {
        let scope: Vec<String> = resources.iter().map(|r| google_scope(r)).collect();
        let mut url = self.auth_url.clone();
        url.query_pairs_mut()
            .append_pair("client_id", &self.client_id)
            .append_pair("redirect_uri", &self.redirect_uri)
            .append_pair("response_type", "code")
            .append_pair("scope", &scope.join(" "))
            .append_pair("access_type", "offline")
            .append_pair("prompt", "consent")
            .append_pair("include_granted_scopes", "false")
            .append_pair("state", state)
            .append_pair("code_challenge", code_challenge)
            .append_pair("code_challenge_method", "S256");
        url.into()
    }

    fn exchange_code<'a>(
        &'a self,
        code: &'a str,
        code_verifier: &'a str,
    ) -> BoxFuture<'a, Result<TokenGrant, ProviderError>> {
        Box::pin(async move {
            let form = [
                ("code", code),
                ("client_id", self.client_id.as_str()),
                ("client_secret", self.client_secret.expose()),
                ("redirect_uri", self.redirect_uri.as_str()),
                ("grant_type", "authorization_code"),
                ("code_verifier", code_verifier),
            ];
            let grant = self.token(Step::Exchange, &form).await?;
            if grant.refresh_token.is_none() {
                // Exports can take days: without a refresh token Steward cannot
                // finish (should not happen with access_type=offline, prompt=consent).
                return Err(ProviderError::answered(
                    Source::Google,
                    Step::Exchange,
                    ErrorClass::Config,
                    200,
                    Some("no_refresh_token"),
                ));
            }
            Ok(grant)
        })
    }

    fn refresh<'a>(&'a self, refresh_token: &'a str) -> BoxFuture<'a, Result<TokenGrant, ProviderError>> {
        Box::pin(async move {
            let form = [
                ("refresh_token", refresh_token),
                ("client_id", self.client_id.as_str()),
                ("client_secret", self.client_secret.expose()),
                ("grant_type", "refresh_token"),
            ];
            self.token(Step::Refresh, &form).await
        })
    }

    fn initiate<'a>(
        &'a self,
        access_token: &'a str,
        request: &'a ExportRequest,
    ) -> BoxFuture<'a, Result<Initiated, ProviderError>> {
        Box::pin(async move {
            let body = serde_json::to_vec(&wire::InitiateBody::new(request)).expect("a request body serializes");
            let path = "portabilityArchive:initiate";
            let answer = self.api(Step::Initiate, Retries::NonIdempotent, path, access_token, Some(body)).await?;
            wire::initiated(&answer)
        })
    }

    fn archive_state<'a>(
        &'a self,
        access_token: &'a str,
        job_id: &'a str,
    ) -> BoxFuture<'a, Result<ArchiveState, ProviderError>> {
        Box::pin(async move {
            let path = self.job_path(Step::State, job_id, "/portabilityArchiveState")?;
            let answer = self.api(Step::State, Retries::Idempotent, &path, access_token, None).await?;
            wire::archive_state(&answer)
        })
    }

    fn retry_job<'a>(&'a self, access_token: &'a str, job_id: &'a str) -> BoxFuture<'a, Result<String, ProviderError>> {
        Box::pin(async move {
            let path = self.job_path(Step::RetryJob, job_id, ":retry")?;
            let answer =
                self.api(Step::RetryJob, Retries::NonIdempotent, &path, access_token, Some(b"{}".to_vec())).await?;
            wire::retried(&answer)
        })
    }

    fn cancel_job<'a>(&'a self, access_token: &'a str, job_id: &'a str) -> BoxFuture<'a, Result<(), ProviderError>> {
        Box::pin(async move {
            let path = self.job_path(Step::CancelJob, job_id, ":cancel")?;
            self.api(Step::CancelJob, Retries::NonIdempotent, &path, access_token, Some(b"{}".to_vec())).await?;
            Ok(())
        })
    }

    /// Signed URLs carry their own credential: the access token is never sent.
    fn download<'a>(
        &'a self,
        _access_token: &'a str,
        url: &'a str,
        offset: u64,
    ) -> BoxFuture<'a, Result<Download, ProviderError>> {
        GoogleClient::download(self, url, offset)
    }

    fn reset<'a>(&'a self, access_token: &'a str) -> BoxFuture<'a, Result<(), ProviderError>> {
        Box::pin(async move {
            let path = "authorization:reset";
            self.api(Step::Reset, Retries::NonIdempotent, path, access_token, Some(b"{}".to_vec())).await?;
            Ok(())
        })
    }

    fn access_types<'a>(&'a self, access_token: &'a str) -> BoxFuture<'a, Result<AccessTypes, ProviderError>> {
        Box::pin(async move {
            let path = "accessType:check";
            let answer =
                self.api(Step::AccessTypeCheck, Retries::Idempotent, path, access_token, Some(b"{}".to_vec())).await?;
            wire::access_types(&answer)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::donation::provider::Reached;

    fn config() -> GoogleProvider {
        GoogleProvider {
            mode: ProviderMode::Real,
            client_id: "123.apps.googleusercontent.com".into(),
            client_secret: Secret::new("s3cret"),
            redirect_uri: "https://donate.example.org/oauth/google/callback/".into(),
            auth_url: "https://accounts.google.com/o/oauth2/v2/auth".into(),
            token_url: "https://oauth2.googleapis.com/token".into(),
            dpa_url: "https://dataportability.googleapis.com".into(),
            download_hosts: vec!["storage.googleapis.com".into()],
        }
    }

    #[test]
    fn the_authorization_url_carries_exactly_the_spec_parameters() {
        let client = GoogleClient::new(&config()).unwrap();
        let url = client.authorize_url("st4te", "chall3nge", &["myactivity.youtube", "myactivity.search"]);
        assert!(
            url.starts_with("https://accounts.google.com/o/oauth2/v2/auth?client_id=123.apps.googleusercontent.com&")
        );
        // The redirect URI is url-encoded; scopes are full URLs, space-separated.
        assert!(
            url.contains("&redirect_uri=https%3A%2F%2Fdonate.example.org%2Foauth%2Fgoogle%2Fcallback%2F&"),
            "{url}"
        );
        let pairs: Vec<(String, String)> =
            Url::parse(&url).unwrap().query_pairs().map(|(k, v)| (k.into_owned(), v.into_owned())).collect();
        let expected = [
            ("client_id", "123.apps.googleusercontent.com"),
            ("redirect_uri", "https://donate.example.org/oauth/google/callback/"),
            ("response_type", "code"),
            (
                "scope",
                "https://www.googleapis.com/auth/dataportability.myactivity.youtube \
                 https://www.googleapis.com/auth/dataportability.myactivity.search",
            ),
            ("access_type", "offline"),
            ("prompt", "consent"),
            ("include_granted_scopes", "false"),
            ("state", "st4te"),
            ("code_challenge", "chall3nge"),
            ("code_challenge_method", "S256"),
        ];
        let expected: Vec<(String, String)> = expected.iter().map(|(k, v)| ((*k).into(), (*v).into())).collect();
        assert_eq!(pairs, expected);
    }

    #[test]
    fn unsafe_job_ids_never_reach_a_url() {
        let client = GoogleClient::new(&config()).unwrap();
        assert_eq!(client.job_path(Step::State, "a1b2-c3", ":retry").unwrap(), "archiveJobs/a1b2-c3:retry");
        let e = client.job_path(Step::State, "../authorization:reset", "").unwrap_err();
        assert_eq!((e.class, e.reached), (ErrorClass::Permanent, Reached::NotSent));
    }
}
