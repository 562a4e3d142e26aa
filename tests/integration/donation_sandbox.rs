//! The sandbox Google provider (spec donation.md §6.2–§6.7) driven by
//! Steward's real Google client (§4.1, §4.2) over HTTP: OAuth with PKCE and
//! state, the Data Portability API, signed downloads with `Range`, the staged
//! failure modes, the call log and its redaction.

use std::time::{Duration, Instant};

use steward::config::Config;
use steward::crypto::Keyring;
use steward::donation::google::GoogleClient;
use steward::donation::provider::{
    ErrorClass, ExportRequest, JobState, PortabilityProvider, Reached, Step, TokenGrant, pkce_challenge,
};
use steward::donation::sandbox::{AccessType, Failure, Grant, Persona, Scenario, storage};
use tokio::sync::oneshot;

use crate::common::archive::{read_all, zip_names};
use crate::common::donation::{self, Consent, browser, fast_client, hidden_inputs, random, tiny};
use crate::common::{TestDb, scratch_dir, test_config, wait_until_serving};

const YOUTUBE: &str = "myactivity.youtube";
const SEARCH: &str = "myactivity.search";
const PLAY: &str = "myactivity.play";

/// Steward in sandbox mode on a port known before its configuration is
/// built, so the sandbox's server-to-server URLs point at this server.
struct Sandbox {
    db: TestDb,
    url: String,
    config: Config,
    keyring: Keyring,
    http: reqwest::Client,
    _stop: oneshot::Sender<()>,
}

impl Sandbox {
    async fn start() -> Sandbox {
        Self::start_with(&[]).await
    }

    async fn start_with(extra: &[(&str, &str)]) -> Sandbox {
        let db = TestDb::new().await;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let url = format!("http://{addr}");
        let keyring = Keyring::generate();
        let (keys, listen, data_dir) = (keyring.to_spec(), addr.to_string(), scratch_dir("sandbox"));
        let mut vars = vec![
            ("DATABASE_URL", db.url()),
            ("STEWARD_DATA_DIR", data_dir.to_str().unwrap()),
            ("STEWARD_LISTEN", listen.as_str()),
            ("STEWARD_PUBLIC_URL", url.as_str()),
            ("STEWARD_ENCRYPTION_KEYS", keys.as_str()),
        ];
        vars.extend_from_slice(extra);
        let config = test_config(&vars);
        let (stop, stopped) = oneshot::channel::<()>();
        tokio::spawn(steward::cli::serve_on(config.clone(), listener, async move {
            let _ = stopped.await;
        }));
        wait_until_serving(addr).await;
        let http = browser();
        Sandbox { db, url, config, keyring, http, _stop: stop }
    }

    /// Steward's Google client for this server, with short immediate retries.
    fn client(&self) -> GoogleClient {
        fast_client(&self.config)
    }

    /// Opens the consent screen for `groups` and submits `decision` with
    /// `scenario`; returns the redirect and the PKCE verifier.
    async fn consent(&self, scenario: &Scenario, groups: &[&str], decision: &str) -> Consent {
        donation::consent(&self.http, &self.url, &self.client(), scenario, groups, decision).await
    }

    /// Consents with `scenario` and exchanges the code.
    async fn tokens(&self, scenario: &Scenario, groups: &[&str]) -> TokenGrant {
        let consent = self.consent(scenario, groups, "allow").await;
        self.client().exchange_code(&consent.param("code").unwrap(), &consent.verifier).await.unwrap()
    }

    /// Initiates one group and polls until the job leaves IN_PROGRESS (at most `polls` times).
    async fn complete(&self, token: &str, group: &str, polls: usize) -> (String, Vec<String>) {
        let client = self.client();
        let job = client.initiate(token, &export(group)).await.unwrap().job_id;
        for _ in 0..polls {
            let state = client.archive_state(token, &job).await.unwrap();
            if state.state == JobState::Complete {
                return (job, state.urls);
            }
            assert_eq!(state.state, JobState::InProgress);
        }
        panic!("job {job} not complete after {polls} polls");
    }

    /// `GET /sandbox/_calls?since=…`.
    async fn calls(&self, since: i64) -> Vec<serde_json::Value> {
        let answer = self.http.get(format!("{}/sandbox/_calls?since={since}", self.url)).send().await.unwrap();
        assert_eq!(answer.status(), 200);
        serde_json::from_slice(&answer.bytes().await.unwrap()).unwrap()
    }
}

fn export(group: &str) -> ExportRequest {
    ExportRequest { resources: vec![group.into()], start_time: None, end_time: None }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_consent_screen_redirects_with_code_state_and_scope_or_access_denied() {
    let sandbox = Sandbox::start().await;
    let client = sandbox.client();
    let verifier = random("");
    let url = client.authorize_url("state-1", &pkce_challenge(&verifier), &[YOUTUBE, SEARCH]);
    let page = sandbox.http.get(&url).send().await.unwrap();
    assert_eq!(page.status(), 200);
    assert_eq!(page.headers()["cache-control"], "no-store");
    let html = page.text().await.unwrap();
    assert!(html.contains("SANDBOX — not a real Google account"));
    assert!(html.contains("Alex Example"));
    assert!(html.contains(r#"name="grant" value="myactivity.youtube" checked"#));
    assert!(html.contains(r#"name="grant" value="myactivity.search" checked"#));
    assert!(html.contains("Advanced (test scenario)"));

    // The page's own form: its hidden fields plus the Allow button.
    let decision = format!("{}/sandbox/google/o/oauth2/v2/auth/decision", sandbox.url);
    let mut form = hidden_inputs(&html);
    assert!(form.contains(&("state".into(), "state-1".into())), "{form:?}");
    form.extend([
        ("grant".into(), YOUTUBE.into()),
        ("grant".into(), SEARCH.into()),
        ("decision".into(), "allow".into()),
    ]);
    let answer = sandbox.http.post(&decision).form(&form).send().await.unwrap();
    assert_eq!(answer.status(), 302);
    let location = reqwest::Url::parse(answer.headers()["location"].to_str().unwrap()).unwrap();
    assert_eq!(location.path(), "/oauth/google/callback/");
    let got: Vec<(String, String)> = location.query_pairs().into_owned().collect();
    assert_eq!(got.iter().map(|(k, _)| k.as_str()).collect::<Vec<_>>(), ["state", "code", "scope"]);
    assert_eq!(got[0].1, "state-1");
    assert_eq!(
        got[2].1,
        "https://www.googleapis.com/auth/dataportability.myactivity.youtube \
         https://www.googleapis.com/auth/dataportability.myactivity.search"
    );

    // Unticking a scope grants the rest; Cancel and `deny` answer access_denied.
    let partial = Scenario::default().grant(Grant::Only(vec![SEARCH.into()]));
    let consent = sandbox.consent(&partial, &[YOUTUBE, SEARCH], "allow").await;
    assert_eq!(consent.param("scope").unwrap(), "https://www.googleapis.com/auth/dataportability.myactivity.search");
    for (scenario, button) in [(Scenario::default(), "cancel"), (Scenario::default().failure(Failure::Deny), "allow")] {
        let consent = sandbox.consent(&scenario, &[YOUTUBE], button).await;
        let got: Vec<(String, String)> = consent.location.query_pairs().into_owned().collect();
        assert_eq!(got, [("error".into(), "access_denied".into()), ("state".into(), consent.state.clone())]);
    }

    // A scenario the sandbox cannot read re-renders the page with the reason.
    form.push(("persona".into(), "giant".into()));
    let answer = sandbox.http.post(&decision).form(&form).send().await.unwrap();
    assert_eq!(answer.status(), 400);
    assert!(answer.text().await.unwrap().contains("unknown persona `giant`"));

    // Bad authorization requests get Google's error page and no redirect.
    let good: Vec<(String, String)> = reqwest::Url::parse(&url).unwrap().query_pairs().into_owned().collect();
    for (name, value, status, error) in [
        ("client_id", Some("someone-else"), 401, "invalid_client"),
        ("redirect_uri", Some("https://evil.example/cb"), 400, "redirect_uri_mismatch"),
        ("scope", Some("https://www.googleapis.com/auth/drive"), 400, "invalid_scope"),
        ("code_challenge_method", Some("plain"), 400, "invalid_request"),
        ("code_challenge", Some("short"), 400, "invalid_request"),
        ("state", None, 400, "invalid_request"),
    ] {
        let query: Vec<(String, String)> = good
            .iter()
            .filter(|(k, _)| k != name || value.is_some())
            .map(|(k, v)| (k.clone(), if k == name { value.unwrap().to_owned() } else { v.clone() }))
            .collect();
        let base = format!("{}/sandbox/google/o/oauth2/v2/auth", sandbox.url);
        let answer = sandbox.http.get(&base).query(&query).send().await.unwrap();
        assert_eq!(answer.status(), status, "{name}");
        assert!(answer.headers().get("location").is_none());
        assert!(answer.text().await.unwrap().contains(error), "{name}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn code_exchange_needs_the_pkce_verifier_and_works_once_then_refresh_works() {
    let sandbox = Sandbox::start().await;
    let client = sandbox.client();
    let consent = sandbox.consent(&tiny(), &[YOUTUBE, SEARCH], "allow").await;
    let code = consent.param("code").unwrap();

    let wrong = client.exchange_code(&code, &random("")).await.unwrap_err();
    assert_eq!(
        (wrong.step, wrong.class, wrong.code.as_deref()),
        (Step::Exchange, ErrorClass::Permanent, Some("invalid_grant"))
    );
    let grant = client.exchange_code(&code, &consent.verifier).await.unwrap();
    assert!(grant.refresh_token.is_some());
    assert_eq!(grant.expires_in, Some(Duration::from_secs(3599)));
    assert_eq!(grant.resources.as_deref(), Some(&[YOUTUBE.to_owned(), SEARCH.to_owned()][..]));
    let again = client.exchange_code(&code, &consent.verifier).await.unwrap_err();
    assert_eq!(again.code.as_deref(), Some("invalid_grant"), "a code works once");

    // Codes expire (10 minutes; here the clock is moved by editing the row).
    let late = sandbox.consent(&tiny(), &[YOUTUBE], "allow").await;
    {
        use diesel_async::RunQueryDsl as _;
        let mut conn = sandbox.db.conn().await;
        diesel::sql_query("UPDATE sandbox_codes SET expires_at = now() - interval '1 second'")
            .execute(&mut conn)
            .await
            .unwrap();
    }
    let expired = client.exchange_code(&late.param("code").unwrap(), &late.verifier).await.unwrap_err();
    assert_eq!(expired.code.as_deref(), Some("invalid_grant"));

    // A wrong client secret is the operator's problem.
    let mut config = sandbox.config.donation.google.clone();
    config.client_secret = steward::config::Secret::new("not-the-secret");
    let misconfigured = GoogleClient::new(&config).unwrap();
    let fresh = sandbox.consent(&tiny(), &[YOUTUBE], "allow").await;
    let refused = misconfigured.exchange_code(&fresh.param("code").unwrap(), &fresh.verifier).await.unwrap_err();
    assert_eq!((refused.class, refused.http_status), (ErrorClass::Config, Some(401)));

    // A refresh gives a new access token and keeps the refresh token.
    let refresh = grant.refresh_token.as_ref().unwrap().expose();
    let refreshed = client.refresh(refresh).await.unwrap();
    assert!(refreshed.refresh_token.is_none());
    assert_ne!(refreshed.access_token.expose(), grant.access_token.expose());
    assert_eq!(refreshed.resources, grant.resources);
    let types = client.access_types(refreshed.access_token.expose()).await.unwrap();
    assert_eq!(types.one_time, [YOUTUBE, SEARCH]);
    let unknown = client.refresh("1//not-a-token").await.unwrap_err();
    assert_eq!((unknown.step, unknown.class), (Step::Refresh, ErrorClass::AccessLost));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exports_are_initiated_per_group_and_polled_to_signed_urls() {
    let sandbox = Sandbox::start().await;
    let client = sandbox.client();
    let scenario =
        tiny().grant(Grant::Only(vec![YOUTUBE.into(), SEARCH.into()])).failure(Failure::SlowArchive { polls: 2 });
    let grant = sandbox.tokens(&scenario, &[YOUTUBE, SEARCH, PLAY]).await;
    assert_eq!(grant.resources.as_deref(), Some(&[YOUTUBE.to_owned(), SEARCH.to_owned()][..]));
    let token = grant.access_token.expose();

    let refused = client.initiate(token, &export(PLAY)).await.unwrap_err();
    assert_eq!((refused.class, refused.code.as_deref()), (ErrorClass::NotGranted, Some("PERMISSION_DENIED")));

    let start = chrono::DateTime::parse_from_rfc3339("2024-01-01T00:00:00Z").unwrap().to_utc();
    let end = chrono::DateTime::parse_from_rfc3339("2025-01-01T00:00:00Z").unwrap().to_utc();
    let window = ExportRequest { resources: vec![YOUTUBE.into()], start_time: Some(start), end_time: Some(end) };
    let initiated = client.initiate(token, &window).await.unwrap();
    assert_eq!(initiated.access_type.as_deref(), Some("ACCESS_TYPE_ONE_TIME"));
    let repeat = client.initiate(token, &window).await.unwrap_err();
    assert!(repeat.is_grant_exhausted(), "{repeat}");

    for _ in 0..2 {
        let state = client.archive_state(token, &initiated.job_id).await.unwrap();
        assert_eq!((state.state, state.urls.len()), (JobState::InProgress, 0));
    }
    let state = client.archive_state(token, &initiated.job_id).await.unwrap();
    assert_eq!(state.state, JobState::Complete);
    assert_eq!((state.start_time, state.export_time), (Some(start), Some(end)));
    assert_eq!(state.urls.len(), 1);
    let url = &state.urls[0];
    assert!(url.starts_with(&format!("{}/sandbox/google/storage/{}/archive-001.zip?", sandbox.url, initiated.job_id)));

    let first = client.download(url, 0).await.unwrap();
    assert!(first.accepts_ranges && first.offset == 0);
    let (bytes, error) = read_all(first).await;
    assert!(error.is_none());
    assert!(
        zip_names(&bytes).iter().any(|n| n == "Portability/My Activity/YouTube/MyActivity.json"),
        "{:?}",
        zip_names(&bytes)
    );
    // The same part again: byte-identical, now with its size announced.
    let second = client.download(url, 0).await.unwrap();
    assert_eq!(second.total_len, Some(bytes.len() as u64));
    assert_eq!(read_all(second).await, (bytes, None));

    let missing = client.archive_state(token, "00000000-0000-0000-0000-000000000000").await.unwrap_err();
    assert_eq!((missing.class, missing.http_status), (ErrorClass::Permanent, Some(404)));

    // A time-based grant may not repeat within 24 hours.
    let timed = sandbox.tokens(&tiny().access_type(AccessType::TimeBased30), &[SEARCH]).await;
    let timed = timed.access_token.expose();
    assert_eq!(
        client.initiate(timed, &export(SEARCH)).await.unwrap().access_type.as_deref(),
        Some("ACCESS_TYPE_TIME_BASED")
    );
    let soon = client.initiate(timed, &export(SEARCH)).await.unwrap_err();
    assert!(soon.is_repeat_too_soon(), "{soon}");
    assert_eq!(client.access_types(timed).await.unwrap().time_based, [SEARCH]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signed_urls_refuse_tampering_expiry_and_credentials() {
    let sandbox = Sandbox::start().await;
    let client = sandbox.client();
    let token = sandbox.tokens(&tiny(), &[YOUTUBE]).await.access_token.expose().to_owned();
    let (job, urls) = sandbox.complete(&token, YOUTUBE, 1).await;
    let url = &urls[0];

    let signature = url.rsplit_once("X-Goog-Signature=").unwrap().1;
    let flipped = if signature.starts_with('0') { "1" } else { "0" };
    let tampered =
        format!("{}X-Goog-Signature={flipped}{}", url.rsplit_once("X-Goog-Signature=").unwrap().0, &signature[1..]);
    let internal = &sandbox.config.donation.sandbox.internal_url;
    let key = storage::signing_key(&sandbox.keyring).unwrap();
    let seven_hours_ago = chrono::Utc::now() - Duration::from_secs(7 * 3600);
    let expired = storage::signed_url(&key, internal, &job, 0, seven_hours_ago, storage::URL_LIFETIME);
    let unsigned = url.split_once('?').unwrap().0.to_owned();
    for (url, status, code) in
        [(&tampered, 403, "SignatureDoesNotMatch"), (&expired, 403, "ExpiredToken"), (&unsigned, 403, "AccessDenied")]
    {
        let answer = sandbox.http.get(url).send().await.unwrap();
        assert_eq!(answer.status(), status, "{code}");
        assert!(answer.headers()["content-type"].to_str().unwrap().starts_with("application/xml"));
        assert!(answer.text().await.unwrap().contains(&format!("<Code>{code}</Code>")));
        let e = client.download(url, 0).await.unwrap_err();
        assert!(e.is_url_expired(), "{e}");
        assert_eq!(e.code.as_deref(), Some(code));
    }
    // A signed URL takes no second credential.
    let answer = sandbox.http.get(url).bearer_auth(&token).send().await.unwrap();
    assert_eq!(answer.status(), 400);
    assert!(answer.text().await.unwrap().contains("<Code>InvalidArgument</Code>"));
    // The client never leaves the allowlist, and the valid URL still works.
    let elsewhere = client.download("https://storage.googleapis.com/bucket/archive-001.zip", 0).await.unwrap_err();
    assert_eq!((elsewhere.code.as_deref(), elsewhere.reached), (Some("url_not_allowed"), Reached::NotSent));
    assert!(read_all(client.download(url, 0).await.unwrap()).await.1.is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_urls_are_refreshed_by_polling_and_broken_downloads_resume_with_range() {
    let sandbox = Sandbox::start().await;
    let client = sandbox.client();
    let scenario = Scenario::default()
        .persona(Persona::Small)
        .failure(Failure::UrlExpired { n: 1 })
        .failure(Failure::TruncatedDownload);
    let token = sandbox.tokens(&scenario, &[SEARCH]).await.access_token.expose().to_owned();
    let (job, urls) = sandbox.complete(&token, SEARCH, 1).await;

    let expired = client.download(&urls[0], 0).await.unwrap_err();
    assert!(expired.is_url_expired() && expired.code.as_deref() == Some("ExpiredToken"), "{expired}");
    // Polling again signs the URLs anew.
    let fresh = client.archive_state(&token, &job).await.unwrap().urls;
    let first = client.download(&fresh[0], 0).await.unwrap();
    let total = first.total_len.expect("the size is announced");
    assert!(first.accepts_ranges);
    let (head, error) = read_all(first).await;
    let error = error.unwrap_or_else(|| panic!("the first served download breaks off: got {} of {total}", head.len()));
    assert_eq!((error.class, error.step), (ErrorClass::Transient, Step::Download));
    assert!(!head.is_empty() && (head.len() as u64) < total, "{} of {total}", head.len());

    let rest = client.download(&fresh[0], head.len() as u64).await.unwrap();
    assert_eq!((rest.offset, rest.total_len), (head.len() as u64, Some(total)));
    let (tail, error) = read_all(rest).await;
    assert!(error.is_none());
    let resumed = [head, tail].concat();
    let (whole, _) = read_all(client.download(&fresh[0], 0).await.unwrap()).await;
    assert_eq!(resumed.len() as u64, total);
    assert!(resumed == whole, "the resumed bytes equal a whole download");
    assert!(zip_names(&resumed).iter().any(|n| n.ends_with("Search/MyActivity.json")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_jobs_are_retried_and_jobs_can_be_cancelled() {
    let sandbox = Sandbox::start().await;
    let client = sandbox.client();
    let token = sandbox.tokens(&tiny().failure(Failure::JobFailed { again: 1 }), &[YOUTUBE]).await;
    let token = token.access_token.expose();
    let mut job = client.initiate(token, &export(YOUTUBE)).await.unwrap().job_id;
    for _ in 0..2 {
        assert_eq!(client.archive_state(token, &job).await.unwrap().state, JobState::Failed);
        let retried = client.retry_job(token, &job).await.unwrap();
        assert_ne!(retried, job);
        job = retried;
    }
    let state = client.archive_state(token, &job).await.unwrap();
    assert_eq!((state.state, state.urls.len()), (JobState::Complete, 1));
    let not_failed = client.retry_job(token, &job).await.unwrap_err();
    assert_eq!((not_failed.class, not_failed.code.as_deref()), (ErrorClass::Permanent, Some("FAILED_PRECONDITION")));
    let not_running = client.cancel_job(token, &job).await.unwrap_err();
    assert_eq!(not_running.code.as_deref(), Some("FAILED_PRECONDITION"));

    let waiting = sandbox.tokens(&tiny().failure(Failure::NeverReady), &[YOUTUBE]).await;
    let waiting = waiting.access_token.expose();
    let job = client.initiate(waiting, &export(YOUTUBE)).await.unwrap().job_id;
    for _ in 0..3 {
        assert_eq!(client.archive_state(waiting, &job).await.unwrap().state, JobState::InProgress);
    }
    client.cancel_job(waiting, &job).await.unwrap();
    assert_eq!(client.archive_state(waiting, &job).await.unwrap().state, JobState::Cancelled);
    assert!(client.cancel_job(waiting, &job).await.is_err());

    let cancelled = sandbox.tokens(&tiny().failure(Failure::JobCancelled), &[YOUTUBE]).await;
    let cancelled = cancelled.access_token.expose();
    let job = client.initiate(cancelled, &export(YOUTUBE)).await.unwrap().job_id;
    assert_eq!(client.archive_state(cancelled, &job).await.unwrap().state, JobState::Cancelled);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limits_server_errors_and_latency_are_absorbed_in_place() {
    let sandbox = Sandbox::start().await;
    let client = sandbox.client();

    // 429 with Retry-After: 1 is waited out, even for initiate.
    let limited = sandbox.tokens(&tiny().failure(Failure::RateLimited { n: 1 }), &[YOUTUBE]).await;
    let since = sandbox.calls(0).await.last().unwrap()["seq"].as_i64().unwrap();
    let started = Instant::now();
    client.initiate(limited.access_token.expose(), &export(YOUTUBE)).await.unwrap();
    assert!(started.elapsed() >= Duration::from_millis(950), "{:?}", started.elapsed());
    let statuses: Vec<i64> = sandbox.calls(since).await.iter().map(|c| c["status"].as_i64().unwrap()).collect();
    assert_eq!(statuses, [429, 200]);

    // 503s within the two immediate retries end in success …
    let flaky = sandbox.tokens(&tiny().failure(Failure::ServerError { n: 2 }), &[YOUTUBE]).await;
    let job = client.initiate(flaky.access_token.expose(), &export(YOUTUBE)).await.unwrap().job_id;
    assert_eq!(client.archive_state(flaky.access_token.expose(), &job).await.unwrap().state, JobState::Complete);
    // … and beyond them go back to the job as transient.
    let down = sandbox.tokens(&tiny().failure(Failure::ServerError { n: 3 }), &[YOUTUBE]).await;
    let down = down.access_token.expose();
    let e = client.access_types(down).await.unwrap_err();
    assert_eq!((e.class, e.http_status, e.code.as_deref()), (ErrorClass::Transient, Some(503), Some("UNAVAILABLE")));
    assert!(client.access_types(down).await.is_ok(), "calls 1 to 3 failed, call 4 answers");

    let slow = tiny().failure(Failure::Latency { ms: 300 });
    let consent = sandbox.consent(&slow, &[YOUTUBE], "allow").await;
    let started = Instant::now();
    let grant = client.exchange_code(&consent.param("code").unwrap(), &consent.verifier).await.unwrap();
    client.access_types(grant.access_token.expose()).await.unwrap();
    assert!(started.elapsed() >= Duration::from_millis(600), "{:?}", started.elapsed());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_tokens_refresh_and_revoked_grants_are_lost() {
    let sandbox = Sandbox::start().await;
    let client = sandbox.client();

    let short = sandbox.tokens(&tiny().failure(Failure::ExpiredToken), &[YOUTUBE]).await;
    assert_eq!(short.expires_in, Some(Duration::from_secs(1)));
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let e = client.initiate(short.access_token.expose(), &export(YOUTUBE)).await.unwrap_err();
    assert_eq!((e.class, e.http_status, e.code.as_deref()), (ErrorClass::Auth, Some(401), Some("UNAUTHENTICATED")));
    let renewed = client.refresh(short.refresh_token.as_ref().unwrap().expose()).await.unwrap();
    client.initiate(renewed.access_token.expose(), &export(YOUTUBE)).await.unwrap();

    // refresh_revoked: refreshing works until an export was started.
    let grant = sandbox.tokens(&tiny().failure(Failure::RefreshRevoked), &[YOUTUBE]).await;
    let refresh = grant.refresh_token.as_ref().unwrap().expose();
    client.refresh(refresh).await.unwrap();
    client.initiate(grant.access_token.expose(), &export(YOUTUBE)).await.unwrap();
    let lost = client.refresh(refresh).await.unwrap_err();
    assert_eq!((lost.class, lost.code.as_deref()), (ErrorClass::AccessLost, Some("invalid_grant")));

    // revoked_consent: the first API call works, the second and refresh do not.
    let grant = sandbox.tokens(&tiny().failure(Failure::RevokedConsent { after: 2 }), &[YOUTUBE]).await;
    let job = client.initiate(grant.access_token.expose(), &export(YOUTUBE)).await.unwrap().job_id;
    assert_eq!(client.archive_state(grant.access_token.expose(), &job).await.unwrap_err().class, ErrorClass::Auth);
    assert_eq!(
        client.refresh(grant.refresh_token.as_ref().unwrap().expose()).await.unwrap_err().class,
        ErrorClass::AccessLost
    );

    // authorization:reset ends every token of the grant.
    let grant = sandbox.tokens(&tiny(), &[YOUTUBE]).await;
    client.reset(grant.access_token.expose()).await.unwrap();
    assert_eq!(client.access_types(grant.access_token.expose()).await.unwrap_err().class, ErrorClass::Auth);
    assert_eq!(
        client.refresh(grant.refresh_token.as_ref().unwrap().expose()).await.unwrap_err().class,
        ErrorClass::AccessLost
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_initiate_answer_is_not_repeated_and_the_repeat_meets_the_used_grant() {
    let sandbox = Sandbox::start().await;
    let client = sandbox.client();
    let grant = sandbox.tokens(&tiny().failure(Failure::OneTimeExhausted), &[YOUTUBE]).await;
    let token = grant.access_token.expose();
    let since = sandbox.calls(0).await.last().unwrap()["seq"].as_i64().unwrap();
    let lost = client.initiate(token, &export(YOUTUBE)).await.unwrap_err();
    assert_eq!((lost.class, lost.reached), (ErrorClass::Transient, Reached::Unknown), "{lost}");
    assert_eq!(sandbox.calls(since).await.len(), 1, "an answer lost after sending is not repeated in place");
    let repeat = client.initiate(token, &export(YOUTUBE)).await.unwrap_err();
    assert!(repeat.is_grant_exhausted(), "{repeat}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_call_log_redacts_secrets_and_reset_forgets_everything() {
    let sandbox = Sandbox::start().await;
    let client = sandbox.client();
    let consent = sandbox.consent(&tiny(), &[YOUTUBE], "allow").await;
    let code = consent.param("code").unwrap();
    let grant = client.exchange_code(&code, &consent.verifier).await.unwrap();
    let token = grant.access_token.expose();
    let (_, urls) = sandbox.complete(token, YOUTUBE, 1).await;
    read_all(client.download(&urls[0], 0).await.unwrap()).await;
    client.refresh(grant.refresh_token.as_ref().unwrap().expose()).await.unwrap();

    let calls = sandbox.calls(0).await;
    let text = serde_json::to_string(&calls).unwrap();
    let signature = urls[0].rsplit_once("X-Goog-Signature=").unwrap().1;
    for secret in [
        code.as_str(),
        consent.verifier.as_str(),
        consent.state.as_str(),
        token,
        grant.refresh_token.as_ref().unwrap().expose(),
        "sandbox-secret",
        signature,
    ] {
        assert!(!text.contains(secret), "{secret} leaked into {text}");
    }
    let find = |method: &str, path: &str| {
        calls.iter().find(|c| c["method"] == method && c["path"].as_str().unwrap().ends_with(path)).cloned().unwrap()
    };
    let authorize = find("GET", "/o/oauth2/v2/auth");
    assert_eq!((authorize["provider"].as_str(), authorize["status"].as_i64()), (Some("google"), Some(200)));
    assert_eq!(authorize["query"]["state"], "<redacted>");
    assert_eq!(authorize["query"]["code_challenge"], pkce_challenge(&consent.verifier));
    let exchange = calls.iter().find(|c| c["body"]["grant_type"] == "authorization_code").unwrap();
    for field in ["code", "code_verifier", "client_secret"] {
        assert_eq!(exchange["body"][field], "<redacted>", "{field}");
    }
    assert_eq!(exchange["body"]["client_id"], "sandbox-client");
    let refresh = calls.iter().find(|c| c["body"]["grant_type"] == "refresh_token").unwrap();
    assert_eq!(refresh["body"]["refresh_token"], "<redacted>");
    let initiate = find("POST", "/v1/portabilityArchive:initiate");
    assert_eq!(initiate["authorization"], "Bearer <redacted>");
    assert_eq!(initiate["body"], serde_json::json!({"resources": [YOUTUBE]}));
    let download = find("GET", "/archive-001.zip");
    assert_eq!(download["authorization"], serde_json::Value::Null, "signed-URL downloads carry no Authorization");
    assert_eq!(download["query"]["X-Goog-Signature"], "<redacted>");
    assert_eq!(download["query"]["X-Goog-Expires"], "21600");
    let last = calls.last().unwrap()["seq"].as_i64().unwrap();
    assert!(sandbox.calls(last).await.is_empty());

    let answer = sandbox.http.post(format!("{}/sandbox/_reset", sandbox.url)).send().await.unwrap();
    assert_eq!(answer.status(), 204);
    assert!(sandbox.calls(0).await.is_empty());
    assert_eq!(client.access_types(token).await.unwrap_err().class, ErrorClass::Auth);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sandbox_routes_exist_only_while_a_provider_is_sandboxed() {
    let sandbox = Sandbox::start().await;
    let page = sandbox.http.get(format!("{}/sandbox/", sandbox.url)).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    for expected in ["SANDBOX — not a real", "huge", "slow_archive", "truncated_download", "/sandbox/_calls"] {
        assert!(html.contains(expected), "{expected}");
    }

    let real = Sandbox::start_with(&[
        ("STEWARD_GOOGLE_MODE", "real"),
        ("GOOGLE_OAUTH_CLIENT_ID", "id.apps.googleusercontent.com"),
        ("GOOGLE_OAUTH_CLIENT_SECRET", "secret"),
        ("STEWARD_TIKTOK_MODE", "off"),
    ])
    .await;
    for path in ["/sandbox/", "/sandbox/_calls", "/sandbox/google/o/oauth2/v2/auth", "/sandbox/google/token"] {
        let answer = real.http.get(format!("{}{path}", real.url)).send().await.unwrap();
        assert_eq!(answer.status(), 404, "{path}");
    }
}
