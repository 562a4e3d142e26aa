//! The boundary to data portability providers (spec `donation.md` §4.1): the
//! [`PortabilityProvider`] trait that the Google and TikTok clients
//! implement, the error classes every provider answer is mapped to
//! ([`ErrorClass`], [`ProviderError`]), and [`ProviderHttp`], the one HTTP
//! client with the timeouts, redirect and download-allowlist rules and the
//! immediate retries every provider call shares.
//!
//! The processing jobs hold an `Arc<dyn PortabilityProvider>` built from the
//! configured base URLs, so the same code talks to the real provider or to
//! the in-repo sandbox. What a job does with an error (refresh and repeat on
//! `auth`, re-poll on an expired URL, back off on `transient`) is the job's
//! business; this layer only classifies, and retries at once where §4.1 says.
//!
//! Logging never includes tokens, authorization codes, PKCE verifiers,
//! request or response bodies, or more of a signed URL than scheme, host and
//! path.

use std::fmt;
use std::time::{Duration, Instant};

use axum::body::Bytes;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use futures_util::StreamExt as _;
use futures_util::future::BoxFuture;
use futures_util::stream::BoxStream;
use reqwest::header::{self, HeaderMap};
use reqwest::{StatusCode, Url};

use super::catalogue::Source;
use crate::config::Secret;

/// What Steward does about a failed provider call (spec §4.1); every provider
/// answer maps to exactly one class.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorClass {
    /// Connect errors, timeouts, 408, 429, 5xx: retried with backoff.
    Transient,
    /// 401 / `UNAUTHENTICATED`: refresh the access token once and repeat once.
    Auth,
    /// The grant is gone (refresh answered `invalid_grant`, or `auth` twice).
    AccessLost,
    /// The participant did not grant the scope the call needs.
    NotGranted,
    /// Any other refusal or a malformed answer: the step fails.
    Permanent,
    /// The provider refused Steward's own client credentials or redirect URI.
    Config,
}

impl ErrorClass {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorClass::Transient => "transient",
            ErrorClass::Auth => "auth",
            ErrorClass::AccessLost => "access_lost",
            ErrorClass::NotGranted => "not_granted",
            ErrorClass::Permanent => "permanent",
            ErrorClass::Config => "config",
        }
    }
}

impl fmt::Display for ErrorClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which provider call failed. Each provider's calls carry its own names
/// ([`Step::name`]): Google's `initiate` is TikTok's Add.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Step {
    Exchange,
    Refresh,
    Initiate,
    State,
    RetryJob,
    CancelJob,
    Reset,
    AccessTypeCheck,
    Download,
}

impl Step {
    /// The step in `provider`'s words, as events (`step`), error messages and
    /// logs show it: TikTok's Data Portability calls are Add, Check, Download
    /// and Cancel (spec §4.4.3) and its reset is the revoke. Google's names
    /// are unchanged, so its events read as before.
    pub fn name(self, provider: Source) -> &'static str {
        match (provider, self) {
            (Source::TikTok, Step::Initiate) => "add",
            (Source::TikTok, Step::State) => "check status",
            (Source::TikTok, Step::CancelJob) => "cancel",
            (Source::TikTok, Step::Reset) => "revoke",
            (_, Step::Exchange) => "code exchange",
            (_, Step::Refresh) => "token refresh",
            (Source::Google, Step::Initiate) => "initiate",
            (Source::Google, Step::State) => "archive state",
            (_, Step::RetryJob) => "job retry",
            (Source::Google, Step::CancelJob) => "job cancel",
            (Source::Google, Step::Reset) => "authorization reset",
            (_, Step::AccessTypeCheck) => "access type check",
            (_, Step::Download) => "download",
        }
    }
}

/// Whether a failed request reached the provider. Non-idempotent calls
/// (`initiate`) may be repeated at once only when it provably did not.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reached {
    /// The connection was never made.
    NotSent,
    /// Sent, but the answer was lost (timeout, connection closed mid-answer).
    Unknown,
    /// The provider answered with an HTTP status.
    Answered,
}

/// A failed provider call, classified. Its `Display` is safe to log and to
/// put in an event: it holds the HTTP status and the provider's error code,
/// never a body, token or URL query.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ProviderError {
    pub provider: Source,
    pub step: Step,
    pub class: ErrorClass,
    /// The HTTP status, when the provider answered.
    pub http_status: Option<u16>,
    /// The provider's error code: Google's `error.status`
    /// (`RESOURCE_EXHAUSTED`), OAuth's `error` (`invalid_grant`), Cloud
    /// Storage's XML `Code` (`ExpiredToken`), or Steward's own for answers it
    /// refused (`malformed_answer`, `url_not_allowed`, …).
    pub code: Option<String>,
    /// The provider's `Retry-After`, capped at one hour.
    pub retry_after: Option<Duration>,
    pub reached: Reached,
}

impl fmt::Display for ProviderError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {} failed ({})", self.provider.provider_name(), self.step_name(), self.class)?;
        match self.http_status {
            Some(status) => write!(f, ": HTTP {status}")?,
            None => match self.reached {
                Reached::NotSent => f.write_str(": could not connect")?,
                Reached::Unknown => f.write_str(": no complete answer")?,
                Reached::Answered => {}
            },
        }
        if let Some(code) = &self.code {
            write!(f, " {code}")?;
        }
        if let Some(wait) = self.retry_after {
            write!(f, " (retry after {} s)", wait.as_secs())?;
        }
        Ok(())
    }
}

impl ProviderError {
    /// The failed step in the provider's words ([`Step::name`]).
    pub fn step_name(&self) -> &'static str {
        self.step.name(self.provider)
    }

    /// An error for an answer with `status`.
    pub fn answered(provider: Source, step: Step, class: ErrorClass, status: u16, code: Option<&str>) -> Self {
        Self {
            provider,
            step,
            class,
            http_status: Some(status),
            code: code.map(sanitize_code),
            retry_after: None,
            reached: Reached::Answered,
        }
    }

    /// A request Steward refused to send (an id or URL unsafe for it, a call
    /// the provider does not have): permanent, and the provider saw nothing.
    pub fn not_sent(provider: Source, step: Step, code: &str) -> Self {
        Self {
            provider,
            step,
            class: ErrorClass::Permanent,
            http_status: None,
            code: Some(code.to_owned()),
            retry_after: None,
            reached: Reached::NotSent,
        }
    }

    /// A download body that broke off after its answer began: transient, and
    /// whether the provider counted the call is unknown.
    fn interrupted(provider: Source) -> Self {
        Self {
            provider,
            step: Step::Download,
            class: ErrorClass::Transient,
            http_status: None,
            code: Some("interrupted".into()),
            retry_after: None,
            reached: Reached::Unknown,
        }
    }

    /// A successful HTTP answer Steward cannot use (malformed JSON, a missing field).
    pub fn malformed(provider: Source, step: Step, status: u16, what: &'static str) -> Self {
        Self::answered(provider, step, ErrorClass::Permanent, status, Some(what))
    }

    /// A Google download URL that answered 400 or 403: its signature expired
    /// (spec §4.2.6); poll the state again for fresh URLs. (TikTok downloads
    /// are authenticated API calls, not signed URLs.)
    pub fn is_url_expired(&self) -> bool {
        self.provider == Source::Google && self.step == Step::Download && matches!(self.http_status, Some(400 | 403))
    }

    /// TikTok refused the export because the account is outside the EEA and
    /// the UK (spec §4.4.3 "Availability").
    pub fn is_region_refusal(&self) -> bool {
        self.provider == Source::TikTok && self.code.as_deref() == Some(UNSUPPORTED_REGION)
    }

    /// `initiate` answered 429 `RESOURCE_EXHAUSTED` without a `Retry-After`:
    /// the one-time grant of the group is used up (a rate limit carries a
    /// `Retry-After`). The job decides what that means (spec §4.2.5).
    pub fn is_grant_exhausted(&self) -> bool {
        self.step == Step::Initiate
            && self.http_status == Some(429)
            && self.code.as_deref() == Some("RESOURCE_EXHAUSTED")
            && self.retry_after.is_none()
    }

    /// `initiate` answered 400 `FAILED_PRECONDITION`: a time-based grant was
    /// initiated again within 24 hours (spec §4.2.4).
    pub fn is_repeat_too_soon(&self) -> bool {
        self.step == Step::Initiate
            && self.http_status == Some(400)
            && self.code.as_deref() == Some("FAILED_PRECONDITION")
    }
}

/// Steward's code for TikTok's refusal of accounts outside the EEA and the UK.
pub const UNSUPPORTED_REGION: &str = "unsupported_region";

/// Provider error codes go into logs and events: keep them short and plain.
fn sanitize_code(code: &str) -> String {
    code.chars().filter(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.')).take(64).collect()
}

/// Tokens from a code exchange or a refresh.
#[derive(Debug, Clone)]
pub struct TokenGrant {
    pub access_token: Secret,
    /// Absent on a refresh (keep the old one).
    pub refresh_token: Option<Secret>,
    /// Lifetime of the access token from the moment of the answer.
    pub expires_in: Option<Duration>,
    /// The granted scopes as the provider spelled them; `None` when the
    /// answer did not say (RFC 6749: then as requested).
    pub scopes: Option<Vec<String>>,
    /// The catalogue resources those scopes cover (Google resource groups,
    /// TikTok categories).
    pub resources: Option<Vec<String>>,
}

/// What one export is asked for (Google: one resource group per call;
/// TikTok: the `activity` category, never with a window).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportRequest {
    pub resources: Vec<String>,
    pub start_time: Option<DateTime<Utc>>,
    pub end_time: Option<DateTime<Utc>>,
}

/// A provider's answer to an export request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Initiated {
    pub job_id: String,
    /// Google's `accessType` (`ACCESS_TYPE_ONE_TIME`, …), for the event log.
    pub access_type: Option<String>,
}

/// Where an export job stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobState {
    /// `STATE_UNSPECIFIED` or a state this build does not know: treat as in progress.
    Unspecified,
    InProgress,
    Complete,
    Failed,
    Cancelled,
    /// TikTok's `expired`: ready, but not downloaded within 4 days.
    Expired,
}

/// An export job's state; `urls` are set when complete, one per part, in
/// part order: what [`PortabilityProvider::download`] takes (Google: signed
/// URLs; TikTok: the request id, its one part).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArchiveState {
    pub state: JobState,
    /// The provider's spelling of the state (for the log when unknown).
    pub raw_state: String,
    pub urls: Vec<String>,
    pub start_time: Option<DateTime<Utc>>,
    pub export_time: Option<DateTime<Utc>>,
}

/// Which resources a grant allows once and which repeatedly.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AccessTypes {
    pub one_time: Vec<String>,
    pub time_based: Vec<String>,
}

/// An archive part being downloaded.
pub struct Download {
    /// Position of the body's first byte in the whole file: the requested
    /// offset when the server honoured the `Range`, else 0 (start over).
    pub offset: u64,
    /// Size of the whole file, when the server said.
    pub total_len: Option<u64>,
    /// Whether the server accepts `Range` requests, so an interrupted
    /// transfer can resume instead of starting over.
    pub accepts_ranges: bool,
    /// The bytes; an interrupted transfer ends with a `transient` error.
    pub body: BoxStream<'static, Result<Bytes, ProviderError>>,
}

impl fmt::Debug for Download {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Download")
            .field("offset", &self.offset)
            .field("total_len", &self.total_len)
            .field("accepts_ranges", &self.accepts_ranges)
            .finish_non_exhaustive()
    }
}

/// One portability provider, real or sandbox (spec §4.1). Tokens are passed
/// in the clear for the call only; callers keep them sealed otherwise.
pub trait PortabilityProvider: Send + Sync + fmt::Debug {
    /// Which source this provider serves.
    fn source(&self) -> Source;

    /// The browser URL of the provider's consent screen for `resources`, with
    /// the attempt's `state` and PKCE `code_challenge` (S256).
    fn authorize_url(&self, state: &str, code_challenge: &str, resources: &[&str]) -> String;

    /// Exchanges an authorization code with its PKCE verifier.
    fn exchange_code<'a>(
        &'a self,
        code: &'a str,
        code_verifier: &'a str,
    ) -> BoxFuture<'a, Result<TokenGrant, ProviderError>>;

    /// A fresh access token; `invalid_grant` is [`ErrorClass::AccessLost`].
    fn refresh<'a>(&'a self, refresh_token: &'a str) -> BoxFuture<'a, Result<TokenGrant, ProviderError>>;

    /// Requests an export (Google: `portabilityArchive:initiate` for one group).
    fn initiate<'a>(
        &'a self,
        access_token: &'a str,
        request: &'a ExportRequest,
    ) -> BoxFuture<'a, Result<Initiated, ProviderError>>;

    /// The state of an export job.
    fn archive_state<'a>(
        &'a self,
        access_token: &'a str,
        job_id: &'a str,
    ) -> BoxFuture<'a, Result<ArchiveState, ProviderError>>;

    /// Retries a failed job; returns the new job id that replaces it.
    fn retry_job<'a>(&'a self, access_token: &'a str, job_id: &'a str) -> BoxFuture<'a, Result<String, ProviderError>>;

    /// Cancels an in-progress job.
    fn cancel_job<'a>(&'a self, access_token: &'a str, job_id: &'a str) -> BoxFuture<'a, Result<(), ProviderError>>;

    /// Starts downloading a part from `locator` (an entry of
    /// [`ArchiveState::urls`]) at `offset` (0: from the start). Google's
    /// signed URLs are fetched without the access token; TikTok's download
    /// is an authenticated call.
    fn download<'a>(
        &'a self,
        access_token: &'a str,
        locator: &'a str,
        offset: u64,
    ) -> BoxFuture<'a, Result<Download, ProviderError>>;

    /// Releases Steward's access (Google `authorization:reset`, TikTok `oauth/revoke/`).
    fn reset<'a>(&'a self, access_token: &'a str) -> BoxFuture<'a, Result<(), ProviderError>>;

    /// Which granted resources are one-time and which time-based (for the log only).
    fn access_types<'a>(&'a self, access_token: &'a str) -> BoxFuture<'a, Result<AccessTypes, ProviderError>>;

    /// The PKCE challenge this provider expects for `verifier`: RFC 7636's
    /// S256 unless the provider reads it otherwise (TikTok, configurable).
    fn pkce_challenge(&self, verifier: &str) -> String {
        pkce_challenge(verifier)
    }
}

/// `BASE64URL(SHA-256(verifier))`, PKCE's S256 challenge (RFC 7636).
pub fn pkce_challenge(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(ring::digest::digest(&ring::digest::SHA256, verifier.as_bytes()))
}

/// The immediate retries of one provider (spec §4.1); tests shorten them.
#[derive(Debug, Clone)]
pub struct RetryPolicy {
    /// Waits before each immediate retry of a `transient` failure.
    pub delays: Vec<Duration>,
    /// Jitter around each wait, as a fraction (0.2: ±20 %).
    pub jitter: f64,
    /// The longest `Retry-After` waited for in place; a longer one is left
    /// to the job queue (it is in the error).
    pub max_inline_wait: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            delays: vec![Duration::from_secs(1), Duration::from_secs(4)],
            jitter: 0.2,
            max_inline_wait: Duration::from_secs(30),
        }
    }
}

/// How a call may be repeated at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Retries {
    /// State polls, refreshes, downloads: every `transient` failure.
    Idempotent,
    /// `initiate`, `:retry`, `:cancel`, reset: only when the request provably
    /// did not reach the provider, or was refused with 503 or a rate-limit
    /// 429 (one with `Retry-After`). A timeout after sending goes back to the
    /// job, which first checks what was recorded.
    NonIdempotent,
    /// The code exchange (spec §3.4): one retry on a network error or a 5xx.
    Once,
}

/// A `POST` of the JSON `body` with the Bearer `access_token`: how both
/// portability APIs take a request (Google's `initiate`, `:retry`, …;
/// TikTok's Add, Check, Cancel, Download).
pub(crate) fn post_json(
    client: &reqwest::Client,
    url: impl reqwest::IntoUrl,
    access_token: &str,
    body: Vec<u8>,
) -> reqwest::RequestBuilder {
    client.post(url).bearer_auth(access_token).header(header::CONTENT_TYPE, "application/json").body(body)
}

/// Total timeout of an API call (spec §4.1).
pub const API_TIMEOUT: Duration = Duration::from_secs(30);
/// A download that receives nothing for this long is interrupted.
pub const DOWNLOAD_IDLE_TIMEOUT: Duration = Duration::from_secs(120);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
const MAX_REDIRECTS: usize = 3;
/// API answers are small; a larger one is refused rather than buffered.
const API_BODY_LIMIT: usize = 1 << 20;
/// Error bodies of downloads are read only this far (for the error code).
const ERROR_BODY_LIMIT: usize = 64 << 10;
const MAX_RETRY_AFTER: Duration = Duration::from_secs(3600);

/// A provider's HTTP answer, read whole (API calls only).
#[derive(Debug)]
pub(crate) struct Answer {
    pub status: StatusCode,
    pub body: Bytes,
}

/// The HTTP client of one provider: one `reqwest` client (rustls, connect
/// timeout 10 s, no automatic redirects, `User-Agent: Steward/<version>`),
/// the download allowlist and the retry policy.
#[derive(Debug, Clone)]
pub struct ProviderHttp {
    client: reqwest::Client,
    provider: Source,
    download_hosts: Vec<String>,
    /// Plain `http` downloads are allowed only from the sandbox.
    allow_http: bool,
    retry: RetryPolicy,
}

impl ProviderHttp {
    /// `download_hosts` are `host` or `host:port` entries; `allow_http` only
    /// for the sandbox, whose origin is Steward's own listener.
    pub fn new(
        provider: Source,
        download_hosts: Vec<String>,
        allow_http: bool,
        retry: RetryPolicy,
    ) -> anyhow::Result<Self> {
        let client = reqwest::Client::builder()
            .user_agent(concat!("Steward/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(CONNECT_TIMEOUT)
            // Idle-read timeout for downloads; API calls also carry a total timeout.
            .read_timeout(DOWNLOAD_IDLE_TIMEOUT)
            // Redirects are followed by hand, for downloads only, so each hop
            // is checked against the allowlist.
            .redirect(reqwest::redirect::Policy::none())
            .build()?;
        Ok(Self { client, provider, download_hosts, allow_http, retry })
    }

    /// Sends an API call built by `build` (once per attempt), retrying at
    /// once as `retries` allows, and returns the answer `classify` accepted.
    pub(crate) async fn call(
        &self,
        step: Step,
        retries: Retries,
        timeout: Duration,
        build: impl Fn(&reqwest::Client) -> reqwest::RequestBuilder,
        classify: impl Fn(&Answer) -> Result<(), ProviderError>,
    ) -> Result<Answer, ProviderError> {
        let mut attempt = 0;
        loop {
            let started = Instant::now();
            let error = match build(&self.client).timeout(timeout).send().await {
                Err(e) => self.network_error(step, &e),
                Ok(response) => {
                    let status = response.status();
                    let retry_after = retry_after(response.headers());
                    match read_limited(response, API_BODY_LIMIT).await {
                        Err(ReadError::Network(e)) => self.network_error(step, &e),
                        Err(ReadError::TooLarge) => {
                            ProviderError::malformed(self.provider, step, status.as_u16(), "answer_too_large")
                        }
                        Ok(body) => {
                            let answer = Answer { status, body };
                            match classify(&answer) {
                                Ok(()) => {
                                    tracing::debug!(
                                        provider = self.provider.provider_name(),
                                        step = step.name(self.provider),
                                        http_status = status.as_u16(),
                                        elapsed_ms = started.elapsed().as_millis() as u64,
                                        "provider call"
                                    );
                                    return Ok(answer);
                                }
                                Err(mut e) => {
                                    e.retry_after = e.retry_after.or(retry_after);
                                    e
                                }
                            }
                        }
                    }
                }
            };
            let Some(wait) = self.retry_wait(&error, retries, attempt) else {
                tracing::debug!(
                    provider = self.provider.provider_name(),
                    step = step.name(self.provider),
                    error = %error,
                    elapsed_ms = started.elapsed().as_millis() as u64,
                    "provider call failed"
                );
                return Err(error);
            };
            tracing::info!(error = %error, wait_ms = wait.as_millis() as u64, "retrying a provider call");
            tokio::time::sleep(wait).await;
            attempt += 1;
        }
    }

    /// `GET url` without credentials, from `offset`, following at most three
    /// redirects, each to an allowed host; transient failures before the
    /// body starts are retried at once. `error_code` reads the provider's
    /// error code from an error body.
    pub(crate) async fn download(
        &self,
        url: &str,
        offset: u64,
        error_code: fn(&[u8]) -> Option<String>,
    ) -> Result<Download, ProviderError> {
        let request = |client: &reqwest::Client, target: Url, _first_method: bool| {
            let request = client.get(target);
            if offset > 0 { request.header(header::RANGE, format!("bytes={offset}-")) } else { request }
        };
        let answer = |response: reqwest::Response| async move {
            let status = response.status();
            if status == StatusCode::OK || status == StatusCode::PARTIAL_CONTENT {
                return self.body(response, offset);
            }
            let retry_after = retry_after(response.headers());
            let body = read_limited(response, ERROR_BODY_LIMIT).await.unwrap_or_default();
            let class = match status.as_u16() {
                408 | 429 | 500..=599 => ErrorClass::Transient,
                401 => ErrorClass::Auth,
                _ => ErrorClass::Permanent,
            };
            let mut e = ProviderError::answered(self.provider, Step::Download, class, status.as_u16(), None);
            e.code = error_code(&body).map(|c| sanitize_code(&c));
            e.retry_after = retry_after;
            Err(e)
        };
        self.fetch(url, request, answer).await
    }

    /// `POST url` with the access token and a JSON `body`, answered with a
    /// streamed archive (TikTok's download, spec §4.4.3). Whether the answer
    /// is the zip or an error envelope is decided by its first bytes
    /// (`PK\x03\x04` or `{`), never by `Content-Type`; `classify` maps an
    /// error answer (any status) to its class. No `Range` is assumed: the
    /// body always starts at byte 0, and an interrupted one is fetched again
    /// whole. At most three redirects are followed, each to an allowed host
    /// (for TikTok only the API host, so the token never leaves it): 307 and
    /// 308 repeat the `POST` with its body, 301, 302 and 303 continue with a
    /// `GET` (RFC 9110 §15.4). Transient failures before the body starts are
    /// retried at once, from the first URL.
    pub(crate) async fn post_download(
        &self,
        url: &str,
        access_token: &str,
        body: Vec<u8>,
        classify: impl Fn(&Answer) -> Result<(), ProviderError>,
    ) -> Result<Download, ProviderError> {
        let request = |client: &reqwest::Client, target: Url, first_method: bool| {
            if first_method {
                post_json(client, target, access_token, body.clone())
            } else {
                client.get(target).bearer_auth(access_token)
            }
        };
        let classify = &classify;
        let answer = |response: reqwest::Response| async move {
            let status = response.status();
            let retry_after = retry_after(response.headers());
            let mut e = if status == StatusCode::OK {
                match self.sniff(response, classify).await {
                    Ok(download) => return Ok(download),
                    Err(e) => e,
                }
            } else {
                // An unreadable error body still has its status to classify by.
                let body = read_limited(response, ERROR_BODY_LIMIT).await.unwrap_or_default();
                match classify(&Answer { status, body }) {
                    Err(e) => e,
                    Ok(()) => self.refused(Step::Download, status.as_u16(), "unexpected_status"),
                }
            };
            e.retry_after = e.retry_after.or(retry_after);
            Err(e)
        };
        self.fetch(url, request, answer).await
    }

    /// The redirect and retry loop of both downloads. `request` builds the
    /// request to a target, with the first method while `first_method` holds
    /// (it ends at a 301, 302 or 303); `answer` turns a final answer into the
    /// download or the error that decides on a retry.
    async fn fetch<Answered>(
        &self,
        url: &str,
        request: impl Fn(&reqwest::Client, Url, bool) -> reqwest::RequestBuilder,
        answer: impl Fn(reqwest::Response) -> Answered,
    ) -> Result<Download, ProviderError>
    where
        Answered: Future<Output = Result<Download, ProviderError>>,
    {
        let step = Step::Download;
        let first = self.allowed(url)?;
        let mut attempt = 0;
        loop {
            let (mut target, mut first_method, mut redirects) = (first.clone(), true, 0);
            let error = loop {
                let response = match request(&self.client, target.clone(), first_method).send().await {
                    Err(e) => break self.network_error(step, &e),
                    Ok(response) => response,
                };
                let status = response.status();
                tracing::debug!(url = %loggable_url(&target), http_status = status.as_u16(), "download answered");
                if status.is_redirection() {
                    redirects += 1;
                    target = self.redirect(&target, &response, redirects)?;
                    first_method = first_method && matches!(status.as_u16(), 307 | 308);
                    continue;
                }
                match answer(response).await {
                    Ok(download) => return Ok(download),
                    Err(e) => break e,
                }
            };
            let Some(wait) = self.retry_wait(&error, Retries::Idempotent, attempt) else {
                return Err(error);
            };
            tracing::info!(error = %error, wait_ms = wait.as_millis() as u64, "retrying a download");
            tokio::time::sleep(wait).await;
            attempt += 1;
        }
    }

    /// Where the `redirects`-th redirect of a download from `from` leads, if
    /// it may be followed: a `Location` (relative to `from`), at most
    /// [`MAX_REDIRECTS`] hops, and a target that passes [`Self::allowed`].
    /// Refusals are permanent and carry the redirect's status.
    fn redirect(&self, from: &Url, response: &reqwest::Response, redirects: usize) -> Result<Url, ProviderError> {
        let status = response.status().as_u16();
        let next = response
            .headers()
            .get(header::LOCATION)
            .and_then(|l| l.to_str().ok())
            .and_then(|l| from.join(l).ok())
            .ok_or_else(|| self.refused(Step::Download, status, "bad_redirect"))?;
        if redirects > MAX_REDIRECTS {
            return Err(self.refused(Step::Download, status, "too_many_redirects"));
        }
        self.allowed(next.as_str()).map_err(|_| self.refused(Step::Download, status, "redirect_not_allowed"))
    }

    /// A 200 answer to [`Self::post_download`]: the archive when its first
    /// bytes are a zip's, else the error envelope `classify` reads.
    async fn sniff(
        &self,
        response: reqwest::Response,
        classify: &impl Fn(&Answer) -> Result<(), ProviderError>,
    ) -> Result<Download, ProviderError> {
        const ZIP_MAGIC: &[u8] = b"PK\x03\x04";
        let step = Step::Download;
        let total_len = response.content_length();
        let provider = self.provider;
        let mut stream = response.bytes_stream();
        let mut head = Vec::new();
        while head.len() < ZIP_MAGIC.len() {
            match stream.next().await {
                Some(Ok(chunk)) => head.extend_from_slice(&chunk),
                Some(Err(e)) => return Err(self.network_error(step, &e)),
                None => break,
            }
        }
        if head.starts_with(ZIP_MAGIC) {
            let rest = stream.map(move |chunk| chunk.map_err(|_| ProviderError::interrupted(provider)));
            let body = futures_util::stream::once(async move { Ok(Bytes::from(head)) }).chain(rest).boxed();
            return Ok(Download { offset: 0, total_len, accepts_ranges: false, body });
        }
        if head.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{') {
            while let Some(chunk) = stream.next().await {
                let chunk = chunk.map_err(|e| self.network_error(step, &e))?;
                if head.len() + chunk.len() > ERROR_BODY_LIMIT {
                    return Err(self.refused(step, 200, "not_a_zip"));
                }
                head.extend_from_slice(&chunk);
            }
            return Err(match classify(&Answer { status: StatusCode::OK, body: Bytes::from(head) }) {
                Err(e) => e,
                Ok(()) => self.refused(step, 200, "not_a_zip"),
            });
        }
        Err(self.refused(step, 200, "not_a_zip"))
    }

    /// The body of a 200 or 206 answer to a download from `offset`.
    fn body(&self, response: reqwest::Response, offset: u64) -> Result<Download, ProviderError> {
        let status = response.status();
        let headers = response.headers();
        let accepts_ranges = headers
            .get(header::ACCEPT_RANGES)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.split(',').any(|unit| unit.trim().eq_ignore_ascii_case("bytes")));
        let (start, total_len) = if status == StatusCode::PARTIAL_CONTENT {
            let range = headers.get(header::CONTENT_RANGE).and_then(|v| v.to_str().ok()).and_then(parse_content_range);
            match range {
                Some((start, total)) if start == offset => (start, total),
                _ => return Err(self.refused(Step::Download, 206, "unexpected_content_range")),
            }
        } else {
            // A 200 to a Range request: the server starts over.
            (0, response.content_length())
        };
        let provider = self.provider;
        let body =
            response.bytes_stream().map(move |chunk| chunk.map_err(|_| ProviderError::interrupted(provider))).boxed();
        Ok(Download { offset: start, total_len, accepts_ranges, body })
    }

    /// `url` if downloads may go there: `https` (or `http` for the sandbox)
    /// on an allowlisted host.
    fn allowed(&self, url: &str) -> Result<Url, ProviderError> {
        let parsed = Url::parse(url).map_err(|_| self.refused(Step::Download, 0, "bad_url"))?;
        let scheme_ok = parsed.scheme() == "https" || (self.allow_http && parsed.scheme() == "http");
        if scheme_ok && host_allowed(&parsed, &self.download_hosts) {
            Ok(parsed)
        } else {
            tracing::warn!(url = %loggable_url(&parsed), "refused a download URL outside the allowlist");
            Err(self.refused(Step::Download, 0, "url_not_allowed"))
        }
    }

    /// A refusal decided by Steward (nothing, or nothing useful, was received).
    fn refused(&self, step: Step, status: u16, code: &str) -> ProviderError {
        ProviderError {
            provider: self.provider,
            step,
            class: ErrorClass::Permanent,
            http_status: (status != 0).then_some(status),
            code: Some(code.to_owned()),
            retry_after: None,
            reached: if status == 0 { Reached::NotSent } else { Reached::Answered },
        }
    }

    fn network_error(&self, step: Step, e: &reqwest::Error) -> ProviderError {
        let (reached, code) = if e.is_connect() {
            (Reached::NotSent, "connect")
        } else if e.is_timeout() {
            (Reached::Unknown, "timeout")
        } else {
            (Reached::Unknown, "connection")
        };
        ProviderError {
            provider: self.provider,
            step,
            class: ErrorClass::Transient,
            http_status: None,
            code: Some(code.into()),
            retry_after: None,
            reached,
        }
    }

    /// How long to wait before repeating a failed call, if it may be repeated now.
    fn retry_wait(&self, e: &ProviderError, retries: Retries, attempt: usize) -> Option<Duration> {
        if e.class != ErrorClass::Transient {
            return None;
        }
        let allowed = match retries {
            Retries::Idempotent => attempt < self.retry.delays.len(),
            Retries::NonIdempotent => {
                attempt < self.retry.delays.len()
                    && (e.reached == Reached::NotSent
                        || e.http_status == Some(503)
                        || (e.http_status == Some(429) && e.retry_after.is_some()))
            }
            Retries::Once => attempt < 1 && e.http_status.is_none_or(|s| s >= 500),
        };
        if !allowed {
            return None;
        }
        match e.retry_after {
            Some(wait) if wait > self.retry.max_inline_wait => None,
            Some(wait) => Some(wait),
            None => {
                let base = self.retry.delays.get(attempt).or(self.retry.delays.last()).copied()?;
                Some(jittered(base, self.retry.jitter))
            }
        }
    }
}

/// `base` ± `fraction`, uniformly.
fn jittered(base: Duration, fraction: f64) -> Duration {
    use ring::rand::SecureRandom as _;
    let mut bytes = [0u8; 4];
    if fraction <= 0.0 || ring::rand::SystemRandom::new().fill(&mut bytes).is_err() {
        return base;
    }
    let unit = f64::from(u32::from_le_bytes(bytes)) / f64::from(u32::MAX);
    base.mul_f64(1.0 + fraction * (2.0 * unit - 1.0))
}

/// `Retry-After` in seconds (the HTTP-date form is not used by these
/// providers), capped at an hour.
fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let secs: u64 = headers.get(header::RETRY_AFTER)?.to_str().ok()?.trim().parse().ok()?;
    Some(Duration::from_secs(secs).min(MAX_RETRY_AFTER))
}

/// `bytes 100-199/1000` → (100, Some(1000)); `bytes 100-199/*` → (100, None).
fn parse_content_range(value: &str) -> Option<(u64, Option<u64>)> {
    let rest = value.trim().strip_prefix("bytes ")?;
    let (range, total) = rest.split_once('/')?;
    let (start, end) = range.split_once('-')?;
    let (start, end): (u64, u64) = (start.trim().parse().ok()?, end.trim().parse().ok()?);
    if end < start {
        return None;
    }
    let total = match total.trim() {
        "*" => None,
        t => Some(t.parse::<u64>().ok().filter(|t| *t > end)?),
    };
    Some((start, total))
}

/// Whether `url`'s host is an allowlist entry: `host` (default port only) or `host:port`.
fn host_allowed(url: &Url, hosts: &[String]) -> bool {
    let Some(host) = url.host_str() else {
        return false;
    };
    let with_port = url.port().map(|port| format!("{host}:{port}"));
    hosts.iter().any(|entry| match &with_port {
        Some(hp) => entry.eq_ignore_ascii_case(hp),
        None => entry.eq_ignore_ascii_case(host),
    })
}

/// A URL as it may be logged: scheme, host and path, never the query (a
/// signed URL's query is a credential).
pub fn loggable_url(url: &Url) -> String {
    format!("{}://{}{}", url.scheme(), url.host_str().unwrap_or(""), url.path())
}

enum ReadError {
    Network(reqwest::Error),
    TooLarge,
}

/// The body, refused past `limit` bytes instead of buffering it.
async fn read_limited(mut response: reqwest::Response, limit: usize) -> Result<Bytes, ReadError> {
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(ReadError::Network)? {
        if body.len() + chunk.len() > limit {
            return Err(ReadError::TooLarge);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(Bytes::from(body))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn http(hosts: &[&str], allow_http: bool) -> ProviderHttp {
        let hosts = hosts.iter().map(|h| (*h).to_owned()).collect();
        ProviderHttp::new(Source::Google, hosts, allow_http, RetryPolicy::default()).unwrap()
    }

    #[test]
    fn pkce_challenge_matches_rfc7636_appendix_b() {
        assert_eq!(
            pkce_challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
    }

    #[test]
    fn downloads_go_only_to_allowlisted_https_hosts() {
        let google = http(&["storage.googleapis.com"], false);
        assert!(google.allowed("https://storage.googleapis.com/b/archive-001.zip?X-Goog-Signature=x").is_ok());
        for url in [
            "http://storage.googleapis.com/b/a.zip",
            "https://storage.googleapis.com.evil.example/a.zip",
            "https://evil.example/a.zip",
            "https://storage.googleapis.com:8443/a.zip",
            "not a url",
        ] {
            let e = google.allowed(url).unwrap_err();
            let code = if url == "not a url" { "bad_url" } else { "url_not_allowed" };
            assert_eq!((e.class, e.reached, e.code.as_deref()), (ErrorClass::Permanent, Reached::NotSent, Some(code)));
        }
        let sandbox = http(&["127.0.0.1:8080"], true);
        assert!(sandbox.allowed("http://127.0.0.1:8080/sandbox/google/storage/j/archive-001.zip").is_ok());
        assert!(sandbox.allowed("http://127.0.0.1:9090/x").is_err());
    }

    #[test]
    fn content_range_and_retry_after_parse() {
        assert_eq!(parse_content_range("bytes 100-199/1000"), Some((100, Some(1000))));
        assert_eq!(parse_content_range("bytes 0-0/*"), Some((0, None)));
        assert_eq!(parse_content_range("bytes 100-99/1000"), None);
        assert_eq!(parse_content_range("bytes 100-1000/1000"), None);
        assert_eq!(parse_content_range("items 1-2/3"), None);
        let mut headers = HeaderMap::new();
        headers.insert(header::RETRY_AFTER, "7".parse().unwrap());
        assert_eq!(retry_after(&headers), Some(Duration::from_secs(7)));
        headers.insert(header::RETRY_AFTER, "86400".parse().unwrap());
        assert_eq!(retry_after(&headers), Some(Duration::from_secs(3600)));
        headers.insert(header::RETRY_AFTER, "Wed, 21 Oct 2015 07:28:00 GMT".parse().unwrap());
        assert_eq!(retry_after(&headers), None);
    }

    fn failure(status: Option<u16>, reached: Reached, retry_after: Option<u64>) -> ProviderError {
        ProviderError {
            provider: Source::Google,
            step: Step::Initiate,
            class: ErrorClass::Transient,
            http_status: status,
            code: None,
            retry_after: retry_after.map(Duration::from_secs),
            reached,
        }
    }

    #[test]
    fn non_idempotent_calls_repeat_only_when_the_provider_did_not_act() {
        let h = http(&[], false);
        let not_sent = failure(None, Reached::NotSent, None);
        let lost = failure(None, Reached::Unknown, None);
        let unavailable = failure(Some(503), Reached::Answered, None);
        let limited = failure(Some(429), Reached::Answered, Some(1));
        let exhausted = failure(Some(429), Reached::Answered, None);
        let bad_gateway = failure(Some(502), Reached::Answered, None);
        for e in [&not_sent, &unavailable, &limited] {
            assert!(h.retry_wait(e, Retries::NonIdempotent, 0).is_some(), "{e}");
        }
        for e in [&lost, &exhausted, &bad_gateway] {
            assert!(h.retry_wait(e, Retries::NonIdempotent, 0).is_none(), "{e}");
            assert!(h.retry_wait(e, Retries::Idempotent, 0).is_some(), "{e}");
        }
        // Two immediate retries, then the job queue takes over.
        assert!(h.retry_wait(&lost, Retries::Idempotent, 1).is_some());
        assert!(h.retry_wait(&lost, Retries::Idempotent, 2).is_none());
        // The code exchange: once, on a network error or a 5xx.
        assert!(h.retry_wait(&lost, Retries::Once, 0).is_some());
        assert!(h.retry_wait(&bad_gateway, Retries::Once, 0).is_some());
        assert!(h.retry_wait(&limited, Retries::Once, 0).is_none());
        assert!(h.retry_wait(&lost, Retries::Once, 1).is_none());
        // Retry-After is honoured; a long one goes back to the queue.
        assert_eq!(h.retry_wait(&limited, Retries::Idempotent, 0), Some(Duration::from_secs(1)));
        let long = failure(Some(429), Reached::Answered, Some(600));
        assert_eq!(h.retry_wait(&long, Retries::Idempotent, 0), None);
        // Other classes never repeat here.
        let auth = ProviderError { class: ErrorClass::Auth, ..unavailable };
        assert!(h.retry_wait(&auth, Retries::Idempotent, 0).is_none());
    }

    #[test]
    fn backoff_is_jittered_within_twenty_percent() {
        for _ in 0..100 {
            let d = jittered(Duration::from_secs(4), 0.2);
            assert!(d >= Duration::from_millis(3200) && d <= Duration::from_millis(4800), "{d:?}");
        }
    }

    #[test]
    fn errors_print_codes_not_bodies_and_recognise_google_cases() {
        let mut e = ProviderError::answered(
            Source::Google,
            Step::Initiate,
            ErrorClass::Transient,
            429,
            Some("RESOURCE_EXHAUSTED"),
        );
        assert_eq!(e.to_string(), "Google initiate failed (transient): HTTP 429 RESOURCE_EXHAUSTED");
        assert!(e.is_grant_exhausted());
        e.retry_after = Some(Duration::from_secs(1));
        assert!(!e.is_grant_exhausted(), "a rate limit carries Retry-After");
        let weird =
            ProviderError::answered(Source::Google, Step::State, ErrorClass::Permanent, 400, Some("<script>\n x"));
        assert_eq!(weird.code.as_deref(), Some("scriptx"));
        let expired = ProviderError::answered(Source::Google, Step::Download, ErrorClass::Permanent, 403, None);
        assert!(expired.is_url_expired());
        let lost = ProviderError { http_status: None, reached: Reached::NotSent, ..expired };
        assert_eq!(lost.to_string(), "Google download failed (permanent): could not connect");
        assert!(!lost.is_url_expired());
    }

    #[test]
    fn each_provider_names_its_steps_in_its_own_words() {
        let steps = [Step::Initiate, Step::State, Step::Download, Step::CancelJob, Step::Reset];
        let names = |p: Source| steps.map(|s| s.name(p));
        assert_eq!(names(Source::TikTok), ["add", "check status", "download", "cancel", "revoke"]);
        assert_eq!(
            names(Source::Google),
            ["initiate", "archive state", "download", "job cancel", "authorization reset"]
        );
        let e =
            ProviderError::answered(Source::TikTok, Step::State, ErrorClass::Transient, 503, Some("internal_error"));
        assert_eq!(e.to_string(), "TikTok check status failed (transient): HTTP 503 internal_error");
        let e =
            ProviderError::answered(Source::TikTok, Step::Initiate, ErrorClass::Permanent, 403, Some("access_denied"));
        assert_eq!(e.to_string(), "TikTok add failed (permanent): HTTP 403 access_denied");
    }

    #[test]
    fn only_scheme_host_and_path_are_logged() {
        let url = Url::parse("https://storage.googleapis.com/b/archive-001.zip?X-Goog-Signature=secret").unwrap();
        assert_eq!(loggable_url(&url), "https://storage.googleapis.com/b/archive-001.zip");
    }
}
