//! Signing in at the sandbox Google provider the way a participant's browser
//! does (spec donation.md §6.3): open the consent screen Steward's client
//! builds, submit its form with the ticked scopes, a scenario and a button,
//! and exchange the code from the redirect; and what the donation tests read
//! back from the database (status, events, rows, the sandbox's manifest).
//! Shared by the sandbox, processing, worker, fault and TikTok tests.

use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use ring::rand::SecureRandom as _;
use steward::blobs::BlobStore;
use steward::config::Config;
use steward::crypto::Keyring;
use steward::db::schema::{donation_events, donation_rows, donations, provider_exports, provider_grants, sandbox_jobs};
use steward::donation::google::GoogleClient;
use steward::donation::processing::Processing;
use steward::donation::provider::{PortabilityProvider as _, RetryPolicy, TokenGrant, pkce_challenge};
use steward::donation::sandbox::{GoogleExport, Grant, Persona, Scenario, google_manifest};
use tokio::time::Instant;

use steward::proto::donation::v1 as pb;
use steward::proto::donation::v1::donation_service_client::DonationServiceClient;
use steward::proto::google::api::HttpBody;
use tonic::transport::Channel;

use crate::common::{TestApp, TestDb, with_bearer};

/// Steward in sandbox mode over `db`: data keys sealed with the keyring of
/// `keyring_spec`, exports polled on a one-second schedule, `workers` job
/// workers, then the `extra` settings (a later setting wins).
pub async fn start_sandbox(db: TestDb, keyring_spec: &str, workers: &str, extra: &[(&str, &str)]) -> (TestApp, Config) {
    let mut vars = vec![
        ("STEWARD_ENCRYPTION_KEYS", keyring_spec),
        ("STEWARD_WORKERS", workers),
        ("STEWARD_DONATION_POLL_SCHEDULE", "1s"),
    ];
    vars.extend_from_slice(extra);
    TestApp::start_with(db, &vars).await
}

/// The processing steps over the sandbox Google of `config`, with
/// [`fast_client`] and the data directory's blob store, for a test to store
/// grants and run single steps.
pub fn google_processing(config: &Config, keyring: &Keyring) -> Processing {
    let blobs = BlobStore::in_data_dir(&config.data_dir);
    Processing::with_google(&config.donation, keyring.clone(), Arc::new(fast_client(config)), blobs)
}

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

/// (status, stage, error_code) of donation `id`.
pub async fn status(db: &TestDb, id: i32) -> (String, String, Option<String>) {
    donations::table
        .find(id)
        .select((donations::status, donations::stage, donations::error_code))
        .first(&mut db.conn().await)
        .await
        .unwrap()
}

/// Waits (at most `secs`) until donation `id` has `status`, failing at once
/// on another final status with its events and the dead jobs.
pub async fn wait_for_status(db: &TestDb, id: i32, status: &str, secs: u64) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        let now = self::status(db, id).await;
        if now.0 == status {
            return;
        }
        assert!(
            Instant::now() < deadline && !(now.0 == "processed" || now.0 == "error"),
            "donation {id} is {now:?}, not {status}; events {:?}; failed jobs {:?}",
            events(db, id).await,
            failed_jobs(db).await
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// (kind, failed-for-good error) of every dead job.
pub async fn failed_jobs(db: &TestDb) -> Vec<(String, Option<String>)> {
    steward::jobs::failed_jobs(&mut *db.conn().await)
        .await
        .unwrap()
        .into_iter()
        .map(|j| (j.kind, j.last_error))
        .collect()
}

/// (kind, detail) of the donation's events, oldest first.
pub async fn events(db: &TestDb, id: i32) -> Vec<(String, serde_json::Value)> {
    donation_events::table
        .filter(donation_events::donation_id.eq(id))
        .order(donation_events::id)
        .select((donation_events::kind, donation_events::detail))
        .load(&mut db.conn().await)
        .await
        .unwrap()
}

/// The kinds of the donation's events, oldest first.
pub async fn event_kinds(db: &TestDb, id: i32) -> Vec<String> {
    events(db, id).await.into_iter().map(|(kind, _)| kind).collect()
}

/// How many provider grants donation `id` has (released or not).
pub async fn grants(db: &TestDb, id: i32) -> i64 {
    provider_grants::table
        .filter(provider_grants::donation_id.eq(id))
        .count()
        .get_result(&mut db.conn().await)
        .await
        .unwrap()
}

/// How many rows donation `id` has stored.
pub async fn rows(db: &TestDb, id: i32) -> i64 {
    donation_rows::table
        .filter(donation_rows::donation_id.eq(id))
        .count()
        .get_result(&mut db.conn().await)
        .await
        .unwrap()
}

/// (type, rows stored) of `id`, by type.
pub async fn row_counts(db: &TestDb, id: i32) -> Vec<(String, i64)> {
    donation_rows::table
        .filter(donation_rows::donation_id.eq(id))
        .group_by(donation_rows::data_type)
        .order(donation_rows::data_type)
        .select((donation_rows::data_type, diesel::dsl::count_star()))
        .load(&mut db.conn().await)
        .await
        .unwrap()
}

/// The in-window records of `types` that the sandbox Google put into the
/// exports of `id` (its manifest for `scenario`), by type; types without
/// records are left out.
pub async fn manifest(db: &TestDb, id: i32, scenario: &Scenario, types: &[&str]) -> Vec<(String, i64)> {
    let mut counts = std::collections::BTreeMap::new();
    let job_ids: Vec<Option<String>> = provider_exports::table
        .filter(provider_exports::donation_id.eq(id))
        .select(provider_exports::job_id)
        .load(&mut db.conn().await)
        .await
        .unwrap();
    for job_id in job_ids.into_iter().flatten() {
        let (resources, start_time, end_time, created_at): (Vec<Option<String>>, _, _, _) = sandbox_jobs::table
            .find(job_id)
            .select((
                sandbox_jobs::resources,
                sandbox_jobs::start_time,
                sandbox_jobs::end_time,
                sandbox_jobs::created_at,
            ))
            .first(&mut db.conn().await)
            .await
            .unwrap();
        let resources: Vec<&str> = resources.iter().flatten().map(String::as_str).collect();
        let export = GoogleExport { resources: &resources, start_time, end_time, created_at };
        for entry in google_manifest(scenario, &export).unwrap() {
            if let (Some(data_type), Some(records)) = (entry.data_type, entry.records)
                && types.contains(&data_type)
            {
                *counts.entry(data_type.to_owned()).or_insert(0) += records as i64;
            }
        }
    }
    counts.into_iter().filter(|c| c.1 > 0).collect()
}

/// Every row of `data_type` of donation `id` through QueryDonationData as
/// the holder of `token`, 1000 at a time.
pub async fn query_rows(channel: Channel, token: &str, id: i32, data_type: &str) -> Vec<prost_types::Struct> {
    let mut client = DonationServiceClient::new(channel);
    let (mut page_token, mut rows) = (String::new(), Vec::new());
    loop {
        let request = pb::QueryDonationDataRequest {
            donation_id: i64::from(id),
            data_type: data_type.into(),
            page_size: 1000,
            page_token,
            ..Default::default()
        };
        let page = client.query_donation_data(with_bearer(request, token)).await.unwrap().into_inner();
        rows.extend(page.rows);
        if page.next_page_token.is_empty() {
            return rows;
        }
        page_token = page.next_page_token;
    }
}

/// Creates a donation through the legacy REST create (`POST /api/donations/`
/// as transcoded to LegacyCreateDonation) with the JSON `body` as the holder
/// of the API `token`; asserts the 201 and returns the answer's id and link
/// token, with the whole answer object.
pub async fn legacy_create(
    channel: Channel,
    token: &str,
    body: &serde_json::Value,
) -> (i32, String, serde_json::Value) {
    let mut request = tonic::Request::new(pb::LegacyCreateDonationRequest {
        body: Some(HttpBody {
            content_type: "application/json".into(),
            data: body.to_string().into_bytes(),
            extensions: vec![],
        }),
    });
    request.metadata_mut().insert("authorization", format!("Token {token}").parse().unwrap());
    let answer = DonationServiceClient::new(channel).legacy_create_donation(request).await.unwrap();
    assert_eq!(answer.metadata().get("x-steward-http-status").unwrap(), "201");
    let object: serde_json::Value = serde_json::from_slice(&answer.into_inner().body.unwrap().data).unwrap();
    let (id, link) = (object["id"].as_i64().unwrap() as i32, object["token"].as_str().unwrap().to_owned());
    (id, link, object)
}
