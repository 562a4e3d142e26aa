//! TikTok donations end to end (spec donation.md §4.4, §4.5, §4.6, §5.10 and
//! §8 3, 5, 58, 107–111) against the real server and the sandbox TikTok: a
//! browser-like client keeps the visit cookie, opens the donation link,
//! accepts the terms, follows `/donate/authorize/` to the sandbox consent
//! screen, submits it with a scenario, follows the redirect to
//! `/oauth/tiktok/callback/`, and the server's own workers Add, Check,
//! Download, parse, finalize and release. What Steward sent is read from
//! `/sandbox/_calls`.

use std::collections::BTreeMap;
use std::time::Duration;

use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use serde_json::Value;
use steward::auth::Role;
use steward::crypto::Keyring;
use steward::db::schema::{donation_types, donations, provider_releases};

use crate::common::donation;
use crate::common::participant::Browser;
use crate::common::{TestApp, TestDb};

/// The six TikTok types, in catalogue order.
const TYPES: [&str; 6] = ["watch_history", "search_history", "likes", "favorites", "comments", "shares"];

/// What the sandbox archive holds that Steward must never keep (spec §4.5.2,
/// §6.4): profile e-mail, phone and birth date, a direct message, login IPs.
const NEVER_KEPT: [&str; 5] = ["alex@example.test", "+358 40 0000000", "01-Jan-1990", "hello friend", "192.0.2."];

/// Steward in sandbox mode with one worker, tiny sandbox archives of a fixed
/// span (so two archives of the same seed hold the same records whenever
/// they are made) and a one-second poll schedule.
struct Env {
    app: TestApp,
    researcher: String,
    config: steward::config::Config,
    keyring: Keyring,
}

impl Env {
    async fn start() -> Env {
        Self::start_with(&[]).await
    }

    async fn start_with(extra: &[(&str, &str)]) -> Env {
        let keyring = Keyring::generate();
        let mut vars = vec![("STEWARD_SANDBOX_DEFAULT_SCENARIO", "persona=tiny&span=2023-01-01..2024-12-31")];
        vars.extend_from_slice(extra);
        let (app, config) = donation::start_sandbox(TestDb::new().await, &keyring.to_spec(), "1", &vars).await;
        let researcher = app.db.token("res@example.org", Some(Role::Researcher)).await;
        Env { app, researcher, config, keyring }
    }

    /// A TikTok donation of `types` through the legacy create; its id and link token.
    async fn donation(&self, types: &[&str]) -> (i32, String) {
        let body = serde_json::json!({
            "source_type": "tiktok_portability",
            "data_start_date": "2020-01-01",
            "data_end_date": "2030-12-31",
            "requested_data_types": types,
            "description": "How people use TikTok.",
        });
        let (id, link, object) = donation::legacy_create(self.app.channel().await, &self.researcher, &body).await;
        assert_eq!(object["source_type"], "tiktok_portability");
        (id, link)
    }

    fn browser(&self) -> Browser {
        Browser::new(self.app.url())
    }

    /// A donation of `types` whose participant signed in at the sandbox with
    /// `scenario`; its id and the participant's browser.
    async fn signed_in(&self, types: &[&str], scenario: &[(&str, &str)]) -> (i32, Browser) {
        let (id, token) = self.donation(types).await;
        let mut browser = self.browser();
        let page = browser.consent(&token).await;
        let url = browser.authorize(&page).await;
        let callback = browser.at_tiktok(&url, "allow", scenario).await;
        let done = browser.get(&callback).await;
        assert_eq!((done.status, done.location()), (302, "/donate/"), "{}", done.body);
        (id, browser)
    }

    async fn status(&self, id: i32) -> (String, Option<String>, Option<String>) {
        donations::table
            .find(id)
            .select((donations::status, donations::error_code, donations::error_message))
            .first(&mut self.app.db.conn().await)
            .await
            .unwrap()
    }

    /// Waits (at most `secs`) for `status`, failing on another final one.
    async fn wait_for(&self, id: i32, status: &str, secs: u64) {
        donation::wait_for_status(&self.app.db, id, status, secs).await
    }

    /// (kind, detail) of every event of `id`.
    async fn events(&self, id: i32) -> Vec<(String, Value)> {
        donation::events(&self.app.db, id).await
    }

    /// (type, state, reason, rows) of `id`'s types.
    async fn types(&self, id: i32) -> BTreeMap<String, (String, Option<String>, i64)> {
        donation_types::table
            .filter(donation_types::donation_id.eq(id))
            .select((
                donation_types::data_type,
                donation_types::state,
                donation_types::reason_code,
                donation_types::rows,
            ))
            .load::<(String, String, Option<String>, i64)>(&mut self.app.db.conn().await)
            .await
            .unwrap()
            .into_iter()
            .map(|(t, s, r, n)| (t, (s, r, n)))
            .collect()
    }

    /// Every call the sandbox TikTok received so far.
    async fn calls(&self) -> Vec<Value> {
        let url = format!("{}/sandbox/_calls?since=0", self.app.url());
        let calls: Value = serde_json::from_slice(&reqwest::get(url).await.unwrap().bytes().await.unwrap()).unwrap();
        calls.as_array().expect("a call list").iter().filter(|c| c["provider"] == "tiktok").cloned().collect()
    }

    /// The calls whose path ends with `path_end`.
    async fn calls_to(&self, path_end: &str) -> Vec<Value> {
        self.calls().await.into_iter().filter(|c| c["path"].as_str().is_some_and(|p| p.ends_with(path_end))).collect()
    }

    /// Waits (at most `secs`) until the sandbox saw a call to `path_end`.
    async fn wait_for_call(&self, path_end: &str, secs: u64) -> Vec<Value> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
        loop {
            let calls = self.calls_to(path_end).await;
            if !calls.is_empty() {
                return calls;
            }
            assert!(tokio::time::Instant::now() < deadline, "no call to {path_end}: {:?}", self.calls().await);
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Every row of `data_type` through QueryDonationData, as JSON.
    async fn rows(&self, id: i32, data_type: &str) -> Vec<Value> {
        let rows = donation::query_rows(self.app.channel().await, &self.researcher, id, data_type).await;
        rows.iter().map(struct_json).collect()
    }
}

/// A `google.protobuf.Struct` as JSON.
fn struct_json(s: &prost_types::Struct) -> Value {
    fn value(v: &prost_types::Value) -> Value {
        use prost_types::value::Kind;
        match &v.kind {
            Some(Kind::StringValue(s)) => Value::String(s.clone()),
            Some(Kind::BoolValue(b)) => Value::Bool(*b),
            Some(Kind::NumberValue(n)) => serde_json::json!(n),
            Some(Kind::StructValue(s)) => struct_json(s),
            Some(Kind::ListValue(l)) => Value::Array(l.values.iter().map(value).collect()),
            Some(Kind::NullValue(_)) | None => Value::Null,
        }
    }
    Value::Object(s.fields.iter().map(|(k, v)| (k.clone(), value(v))).collect())
}

/// A `request_id` in a call's JSON body, exactly.
fn request_id(call: &Value) -> u64 {
    call["body"]["request_id"].as_u64().unwrap_or_else(|| panic!("no integer request_id in {call}"))
}

/// Rows of a type without the donation-specific key, sorted, for comparing donations.
fn comparable(rows: &[Value]) -> Vec<String> {
    let mut out: Vec<String> = rows
        .iter()
        .map(|r| {
            let mut r = r.clone();
            r.as_object_mut().unwrap().remove("device_id");
            r.to_string()
        })
        .collect();
    out.sort();
    out
}

/// Spec §8 3, 5, 58, 107, 108, 109 (flat), 111: a TikTok donation is created,
/// its authorize URL carries Login Kit's parameters, Steward Adds one request
/// for `activity`, Checks until `downloading`, Downloads it, keeps rows of all
/// six types and nothing of the profile, messages or login history, and after
/// `processed` revokes the access and deletes the sealed tokens. `open_id`
/// has no column anywhere outside the sandbox's own tables.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tiktok_donation_is_added_checked_downloaded_parsed_and_its_access_revoked() {
    let env = Env::start().await;
    let (id, token) = env.donation(&[]).await;
    let mut browser = env.browser();
    let page = browser.consent(&token).await;
    assert!(page.body.contains("Continue to TikTok"), "{}", page.body);

    let url = browser.authorize(&page).await;
    let base = env.app.url();
    assert!(url.as_str().starts_with(&format!("{base}/sandbox/tiktok/v2/auth/authorize/?")), "{url}");
    let params: BTreeMap<String, String> = url.query_pairs().into_owned().collect();
    assert_eq!(params["client_key"], "sandbox-client");
    assert_eq!(params["response_type"], "code");
    assert_eq!(params["scope"], "user.info.basic,portability.activity.single");
    assert_eq!(params["redirect_uri"], format!("{base}/oauth/tiktok/callback/"));
    assert_eq!((params["code_challenge_method"].as_str(), params["code_challenge"].len()), ("S256", 43));
    assert_eq!(params["state"].len(), 43);

    let callback = browser.at_tiktok(&url, "allow", &[]).await;
    assert!(callback.starts_with(&format!("{base}/oauth/tiktok/callback/?")), "{callback}");
    assert!(callback.contains("scopes="), "{callback}");
    let done = browser.get(&callback).await;
    assert_eq!((done.status, done.location()), (302, "/donate/"), "{}", done.body);
    env.wait_for(id, "processed", 90).await;

    // One Add for the activity category; Checks and the Download name its
    // request id exactly (above 2^53, where a float would have rounded it).
    let adds = env.calls_to("/v2/user/data/add/").await;
    assert_eq!(adds.len(), 1, "{adds:?}");
    assert_eq!(adds[0]["method"], "POST");
    assert!(adds[0]["query"].to_string().contains("request_id"), "{}", adds[0]);
    assert_eq!(adds[0]["body"], serde_json::json!({"data_format": "json", "category_selection_list": ["activity"]}));
    let checks = env.calls_to("/v2/user/data/check/").await;
    let downloads = env.calls_to("/v2/user/data/download/").await;
    assert!(checks.len() >= 2 && !downloads.is_empty(), "{checks:?} {downloads:?}");
    let request = request_id(&checks[0]);
    assert!(request > 1 << 53, "{request}");
    assert!(checks.iter().chain(&downloads).all(|c| request_id(c) == request));
    assert!(checks[0]["query"].to_string().contains("collect_time"), "{}", checks[0]);

    let types = env.types(id).await;
    assert_eq!(types.keys().map(String::as_str).collect::<Vec<_>>().len(), 6);
    for t in TYPES {
        let (state, reason, rows) = &types[t];
        assert_eq!((state.as_str(), reason), ("available", &None), "{t}");
        assert!(*rows > 0, "{t} has rows");
        let got = env.rows(id, t).await;
        assert_eq!(got.len() as i64, *rows, "{t}");
        assert!(got.iter().all(|r| r["platform"] == "TikTok" && r["data_type"] == t), "{t}");
        let text = serde_json::to_string(&got).unwrap();
        for secret in NEVER_KEPT {
            assert!(!text.contains(secret), "{t} rows hold {secret}");
        }
    }
    let events = serde_json::to_string(&env.events(id).await).unwrap();
    for secret in NEVER_KEPT {
        assert!(!events.contains(secret), "an event holds {secret}");
    }

    // After processing: oauth/revoke/, the grant and its sealed tokens gone.
    let revokes = env.wait_for_call("/v2/oauth/revoke/", 30).await;
    assert_eq!(revokes.len(), 1);
    assert!(env.calls_to("/v2/user/data/cancel/").await.is_empty(), "nothing to cancel after completion");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let release: Option<(String, bool)> = provider_releases::table
            .filter(provider_releases::donation_id.eq(id))
            .select((provider_releases::state, provider_releases::access_token_sealed.is_not_null()))
            .first(&mut env.app.db.conn().await)
            .await
            .optional()
            .unwrap();
        if release == Some(("released".into(), false)) {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "not released: {release:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let grants = donation::grants(&env.app.db, id).await;
    assert_eq!(grants, 0);

    // open_id: no table of Steward's own has a place for it.
    let columns: Vec<String> = diesel::sql_query(
        "SELECT table_name || '.' || column_name AS name FROM information_schema.columns \
         WHERE table_schema = 'public' AND column_name ILIKE '%open_id%' AND table_name NOT LIKE 'sandbox\\_%'",
    )
    .load::<Name>(&mut env.app.db.conn().await)
    .await
    .unwrap()
    .into_iter()
    .map(|n| n.name)
    .collect();
    assert!(columns.is_empty(), "{columns:?}");
}

#[derive(QueryableByName)]
struct Name {
    #[diesel(sql_type = diesel::sql_types::Text)]
    name: String,
}

/// Spec §8 108 (legacy layout), 109 (nested token shape): the older
/// `user_data.json` layout signed in with the token answer nested under
/// `"data"` gives exactly the rows of the 2025 layout with the flat answer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_legacy_layout_and_the_nested_token_answer_give_the_same_rows() {
    let env = Env::start().await;
    let (current, _) = env.signed_in(&[], &[("seed", "7")]).await;
    let legacy_scenario = [("seed", "7"), ("tiktok_layout", "legacy"), ("tiktok_token_shape", "nested")];
    let (legacy, _) = env.signed_in(&[], &legacy_scenario).await;
    env.wait_for(current, "processed", 90).await;
    env.wait_for(legacy, "processed", 90).await;
    for t in TYPES {
        let (a, b) = (env.rows(current, t).await, env.rows(legacy, t).await);
        assert!(!a.is_empty(), "{t}");
        assert_eq!(comparable(&a), comparable(&b), "{t}");
    }
}

/// Spec §8 110: an expired request asks the participant to sign in again,
/// which recovers it; a refusal for the account's region says so in the
/// spec's words, and the researcher's message names it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_request_is_fixed_by_signing_in_again_and_a_refused_region_says_why() {
    let env = Env::start().await;
    let (expired, mut browser) = env.signed_in(&["search_history"], &[("failure", "tiktok_expired")]).await;
    let (region, mut elsewhere) = env.signed_in(&["likes", "shares"], &[("failure", "tiktok_region")]).await;

    env.wait_for(expired, "error", 60).await;
    assert_eq!(env.status(expired).await.1.as_deref(), Some("export_expired"));
    let page = browser.get("/donate/").await;
    assert!(
        page.body.contains("Your prepared data expired before we could collect it. Please sign in again."),
        "{}",
        page.body
    );
    assert!(page.body.contains("Sign in again"));
    let url = browser.authorize(&page).await;
    let callback = browser.at_tiktok(&url, "allow", &[]).await;
    assert_eq!(browser.get(&callback).await.location(), "/donate/");
    env.wait_for(expired, "processed", 90).await;
    assert_eq!(env.types(expired).await["search_history"].0, "available");

    env.wait_for(region, "error", 60).await;
    let (_, code, message) = env.status(region).await;
    assert_eq!(code.as_deref(), Some("export_failed"));
    assert!(message.as_deref().is_some_and(|m| m.contains("EEA and the UK")), "{message:?}");
    let page = elsewhere.get("/donate/").await;
    assert!(page.body.contains("TikTok offers this only for accounts in the EEA and the UK."), "{}", page.body);
    assert!(!page.body.contains("Sign in again"), "the participant cannot fix this");
    let failed: Vec<(String, Value)> =
        env.events(region).await.into_iter().filter(|(k, _)| k == "export_failed").collect();
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0].1["provider_code"], "unsupported_region");
    assert_eq!(failed[0].1["step"], "add", "TikTok's name for the call, not Google's `initiate`");
}

/// Spec §4.1, §4.6, §8 88–89 for TikTok: with access tokens that expire at
/// once every call refreshes first, and each refresh uses the refresh token
/// the previous one rotated in (the sandbox refuses a used one), so the
/// donation still completes; a refresh refused with `invalid_grant`, and
/// consent revoked at TikTok, end in `provider_access_lost` with a message the
/// participant and the researcher can act on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expiring_tokens_rotate_and_lost_access_asks_to_sign_in_again() {
    let env = Env::start().await;
    let (rotating, _) = env.signed_in(&["comments"], &[("failure", "expired_token")]).await;
    env.wait_for(rotating, "processed", 90).await;
    // The code exchange, then a refresh before each later call.
    let refreshes = env.calls_to("/v2/oauth/token/").await.len() - 1;
    assert!(refreshes >= 2, "each call refreshed with the rotated token: {refreshes}");

    let scenario = [("failure", "expired_token"), ("failure", "refresh_revoked")];
    let (revoked, mut browser) = env.signed_in(&["comments"], &scenario).await;
    let (withdrawn, _) = env.signed_in(&["likes"], &[("failure", "revoked_consent:after=1")]).await;
    for id in [revoked, withdrawn] {
        env.wait_for(id, "error", 60).await;
        let (_, code, message) = env.status(id).await;
        assert_eq!(code.as_deref(), Some("provider_access_lost"));
        assert!(message.as_deref().is_some_and(|m| m.contains("sign in again")), "{message:?}");
    }
    let page = browser.get("/donate/").await;
    assert!(
        page.body
            .contains("Access to your TikTok account ended before we could collect your data. Please sign in again."),
        "{}",
        page.body
    );
}

/// Spec §4.1, §4.4.3, §8 91, 93, 103: 503s and `rate_limit_exceeded` 429s
/// (with `Retry-After`) on the first calls are retried and
/// a download broken off halfway is fetched again from the start (TikTok
/// has no `Range`), each row stored once; a corrupt archive is
/// `archive_invalid`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_errors_and_a_broken_download_are_retried_and_a_corrupt_archive_is_invalid() {
    let env = Env::start().await;
    let scenario = [("failure", "server_error:n=2"), ("failure", "truncated_download")];
    let (flaky, _) = env.signed_in(&["watch_history"], &scenario).await;
    let (corrupt, _) = env.signed_in(&["watch_history"], &[("failure", "malformed_zip")]).await;
    let (limited, _) = env.signed_in(&["search_history"], &[("failure", "rate_limited:n=2")]).await;
    env.wait_for(flaky, "processed", 120).await;
    env.wait_for(limited, "processed", 120).await;
    assert_eq!(env.rows(limited, "search_history").await.len(), 5);
    let rows = env.rows(flaky, "watch_history").await;
    assert_eq!(rows.len(), 5, "the tiny persona's records, each once");
    let statuses: Vec<i64> = env.calls().await.iter().filter_map(|c| c["status"].as_i64()).collect();
    assert!(statuses.iter().filter(|s| **s == 503).count() >= 2, "{statuses:?}");
    assert!(env.calls_to("/v2/user/data/download/").await.len() >= 3, "the broken download was fetched again");

    env.wait_for(corrupt, "error", 60).await;
    assert_eq!(env.status(corrupt).await.1.as_deref(), Some("archive_invalid"));
}

/// Spec §8 87 for TikTok: a request that stays `pending` past the deadline is
/// cancelled at TikTok and ends in `export_timeout`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_never_ready_is_cancelled_at_the_deadline() {
    let env = Env::start_with(&[("STEWARD_EXPORT_MAX_WAIT", "4s")]).await;
    let (id, _) = env.signed_in(&["shares"], &[("failure", "never_ready")]).await;
    env.wait_for(id, "error", 60).await;
    assert_eq!(env.status(id).await.1.as_deref(), Some("export_timeout"));
    let checks = env.calls_to("/v2/user/data/check/").await;
    let cancels = env.calls_to("/v2/user/data/cancel/").await;
    assert_eq!(cancels.len(), 1, "{cancels:?}");
    assert_eq!(request_id(&cancels[0]), request_id(&checks[0]));
}

/// Spec §5.10, §8 76 for TikTok: deleting a donation whose request is still
/// pending cancels that request and revokes the access (seen by the sandbox).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_a_tiktok_donation_cancels_its_request_and_revokes_access() {
    let env = Env::start().await;
    let (id, mut browser) = env.signed_in(&["search_history"], &[("failure", "never_ready")]).await;
    let checked = env.wait_for_call("/v2/user/data/check/", 30).await;
    let request = request_id(&checked[0]);
    let form = browser.get("/donate/revoke/").await;
    assert_eq!(form.status, 200);
    let deleted = browser.post("/donate/revoke/", &[("csrf", &Browser::csrf(&form))]).await;
    assert_eq!(deleted.status, 200, "{}", deleted.body);
    assert!(deleted.body.contains("Your donation has been deleted"));
    let revokes = env.wait_for_call("/v2/oauth/revoke/", 30).await;
    let cancels = env.calls_to("/v2/user/data/cancel/").await;
    assert_eq!(cancels.len(), 1, "{cancels:?}");
    assert_eq!(request_id(&cancels[0]), request);
    assert!(cancels[0]["seq"].as_i64() < revokes[0]["seq"].as_i64(), "cancel, then revoke");
    let left: i64 = donations::table.find(id).count().get_result(&mut env.app.db.conn().await).await.unwrap();
    assert_eq!(left, 0);
}

/// Spec §4.1 "Tokens": two workers that need a fresh TikTok token at once
/// refresh one after the other under the grant row's lock, the second with
/// the refresh token the first rotated in, so neither loses the access.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_refreshes_take_turns_with_the_rotated_refresh_token() {
    let env = Env::start_with(&[("STEWARD_WORKERS", "0")]).await;
    let (id, _) = env.signed_in(&["likes"], &[("failure", "expired_token")]).await;
    let processing = steward::donation::processing::Processing::from_config(&env.config, env.keyring.clone()).unwrap();
    let token = |processing| {
        let db = &env.app.db;
        async move {
            let mut conn = db.conn().await;
            steward::donation::processing::grant::access_token(&mut conn, processing, id, None).await
        }
    };
    let (a, b) = tokio::join!(token(&processing), token(&processing));
    let (a, b) = (a.unwrap(), b.unwrap());
    assert_ne!(a, b, "each refresh got its own access token");
    let again = token(&processing).await.unwrap();
    assert_ne!(again, b);
    let refreshes = env.calls_to("/v2/oauth/token/").await;
    assert_eq!(refreshes.len(), 4, "the code exchange and three refreshes: {refreshes:?}");
    assert!(refreshes.iter().all(|c| c["status"] == 200), "no refresh was refused: {refreshes:?}");
}

/// Spec §4.1 for TikTok downloads: redirects on the API host are followed
/// (here two, each re-sending the `POST`), and the rows are kept as without
/// them; a redirect to another host is refused, so the access token never
/// leaves TikTok, and the researcher sees why the export failed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn downloads_follow_redirects_on_the_api_host_and_refuse_others() {
    let env = Env::start().await;
    let (moved, _) = env.signed_in(&["watch_history"], &[("failure", "tiktok_redirect:n=2")]).await;
    let (offsite, _) = env.signed_in(&["likes"], &[("failure", "tiktok_offsite_redirect")]).await;

    env.wait_for(moved, "processed", 120).await;
    assert_eq!(env.rows(moved, "watch_history").await.len(), 5, "the tiny persona's records, each once");

    env.wait_for(offsite, "error", 60).await;
    let (_, code, message) = env.status(offsite).await;
    assert_eq!(code.as_deref(), Some("export_failed"));
    assert!(message.as_deref().is_some_and(|m| m.starts_with("likes: export_failed")), "{message:?}");
    let failed: Vec<(String, Value)> =
        env.events(offsite).await.into_iter().filter(|(k, _)| k == "export_failed").collect();
    assert_eq!(failed.len(), 1, "{failed:?}");
    assert_eq!(
        (&failed[0].1["step"], &failed[0].1["http_status"], &failed[0].1["provider_code"]),
        (&"download".into(), &307.into(), &"redirect_not_allowed".into())
    );

    // Per request, in order: the second donation's one download answered
    // 307 and was not followed; the first's went 307, 307, 200 (the sandbox
    // redirects a grant's first two downloads only).
    let mut by_request: BTreeMap<u64, Vec<i64>> = BTreeMap::new();
    for call in env.calls_to("/v2/user/data/download/").await {
        by_request.entry(request_id(&call)).or_default().push(call["status"].as_i64().unwrap());
    }
    let mut hops: Vec<Vec<i64>> = by_request.into_values().collect();
    hops.sort();
    assert_eq!(hops.len(), 2, "{hops:?}");
    assert_eq!(hops[0], [307]);
    assert!(hops[1].starts_with(&[307, 307, 200]) && hops[1][3..].iter().all(|s| *s == 200), "{hops:?}");
}
