//! The first processing steps (spec donation.md §5.1–§5.3, §4.1, §4.2.5–§4.2.6,
//! §4.6) against the sandbox Google provider: real tokens from the sandbox's
//! consent screen, the grant stored by `store_grant`, then `start_export`,
//! `schedule_due_polls`, `poll` and `download` run as their jobs run them.

use std::sync::Arc;
use std::time::Duration;

use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use ring::rand::SecureRandom as _;
use steward::blobs::BlobStore;
use steward::config::Config;
use steward::crypto::Keyring;
use steward::db::schema::{archive_parts, donation_types, donations, jobs, provider_exports, provider_grants};
use steward::donation::keys;
use steward::donation::processing::{self, Authorized, Processing, download, export, finalize, parse, poll};
use steward::donation::provider::TokenGrant;
use steward::donation::sandbox::{Failure, Grant, Persona, Scenario};

use crate::common::donation::{self, browser, fast_client, sign_in, tiny};
use crate::common::{TestApp, TestDb};
use steward::auth::Role;
use steward::proto::donation::v1 as pb;
use steward::proto::donation::v1::donation_service_client::DonationServiceClient;

const YOUTUBE: &str = "myactivity.youtube";
const SEARCH: &str = "myactivity.search";

/// Steward in sandbox mode with no job workers (the test drives the jobs)
/// and a one-second poll schedule.
struct Env {
    app: TestApp,
    config: Config,
    processing: Processing,
    keyring: Keyring,
    http: reqwest::Client,
}

impl Env {
    async fn start() -> Env {
        Self::start_with(&[]).await
    }

    async fn start_with(extra: &[(&str, &str)]) -> Env {
        let keyring = Keyring::generate();
        let (app, config) = donation::start_sandbox(TestDb::new().await, &keyring.to_spec(), "0", extra).await;
        let processing = donation::google_processing(&config, &keyring);
        Env { app, config, processing, keyring, http: browser() }
    }

    /// A donation of `types` whose participant accepted the terms.
    async fn donation(&self, types: &[&str]) -> i32 {
        let mut conn = self.app.db.conn().await;
        let mut hash = [0u8; 32];
        ring::rand::SystemRandom::new().fill(&mut hash).unwrap();
        let id: i32 = diesel::insert_into(donations::table)
            .values((
                donations::owner_id.eq(1_i64),
                donations::source.eq("google_portability"),
                donations::stage.eq("terms_accepted"),
                donations::requested_data_types.eq(types),
                donations::token_hash.eq(&hash[..]),
            ))
            .returning(donations::id)
            .get_result(&mut conn)
            .await
            .unwrap();
        steward::donation::store::insert_types(&mut conn, id, types).await.unwrap();
        keys::create(&mut conn, &self.keyring, id).await.unwrap();
        id
    }

    /// Consents at the sandbox with `scenario` for `groups` and exchanges
    /// the code, as the OAuth callback does.
    async fn tokens(&self, scenario: &Scenario, groups: &[&str]) -> TokenGrant {
        sign_in(&self.http, &self.app.url(), &fast_client(&self.config), scenario, groups).await
    }

    /// A donation of `types`, signed in with `scenario`, its grant stored.
    async fn authorized(&self, types: &[&str], scenario: &Scenario, groups: &[&str]) -> i32 {
        let id = self.donation(types).await;
        let tokens = self.tokens(scenario, groups).await;
        let mut conn = self.app.db.conn().await;
        let stored = processing::store_grant(&mut conn, &self.processing, id, &tokens).await.unwrap();
        assert_eq!(stored, Authorized::Authorized { declined: vec![] });
        id
    }

    async fn start_export(&self, id: i32) -> Result<(), processing::Error> {
        export::start_export(&self.processing, &mut *self.app.db.conn().await, id, false).await
    }

    /// Polls every in-progress export of `id` once the schedule says so.
    async fn poll_due(&self, id: i32) {
        tokio::time::sleep(Duration::from_millis(1100)).await;
        for (export_id, _, _, state) in self.exports(id).await {
            if state == "in_progress" {
                poll::poll(&self.processing, &mut *self.app.db.conn().await, export_id, false).await.unwrap();
            }
        }
    }

    /// Starts the exports of `id` and polls them until every one is complete.
    async fn exported(&self, id: i32) {
        self.start_export(id).await.unwrap();
        for _ in 0..5 {
            if self.exports(id).await.iter().all(|e| e.3 == "complete") {
                return;
            }
            self.poll_due(id).await;
        }
        panic!("exports not complete: {:?}", self.exports(id).await);
    }

    /// (part id, state, object key, bytes, sha256) of every part of `id`, by export and part number.
    async fn parts(&self, id: i32) -> Vec<(i64, String, Option<String>, Option<i64>, Option<Vec<u8>>)> {
        archive_parts::table
            .inner_join(provider_exports::table)
            .filter(provider_exports::donation_id.eq(id))
            .order((provider_exports::resource, archive_parts::part_no))
            .select((
                archive_parts::id,
                archive_parts::state,
                archive_parts::object_key,
                archive_parts::bytes,
                archive_parts::sha256,
            ))
            .load(&mut self.app.db.conn().await)
            .await
            .unwrap()
    }

    async fn download(&self, part_id: i64) -> Result<bool, processing::Error> {
        download::download(&self.processing, &mut *self.app.db.conn().await, part_id, false).await
    }

    async fn parse(&self, part_id: i64) -> Result<bool, processing::Error> {
        parse::parse(&self.processing, &mut *self.app.db.conn().await, self.app.db.url(), part_id).await
    }

    /// Downloads and parses every part of `id`, then finalizes it.
    async fn processed(&self, id: i32) {
        let parts = self.parts(id).await;
        for part in &parts {
            assert!(self.download(part.0).await.unwrap());
            assert!(self.queued(&format!("parse:{}", part.0)).await, "a stored part is queued for parsing");
        }
        for part in &parts {
            assert!(self.parse(part.0).await.unwrap());
        }
        assert!(self.queued(&format!("finalize:{id}")).await);
        assert!(finalize::finalize(&mut *self.app.db.conn().await, id).await.unwrap());
    }

    /// (type, rows stored) of `id`, by type.
    async fn row_counts(&self, id: i32) -> Vec<(String, i64)> {
        donation::row_counts(&self.app.db, id).await
    }

    /// Records of `types` that the sandbox put into the exports of `id` (its manifest), by type.
    async fn manifest(&self, id: i32, scenario: &Scenario, types: &[&str]) -> Vec<(String, i64)> {
        donation::manifest(&self.app.db, id, scenario, types).await
    }

    /// The plaintext of a stored part, opened with the donation's data key and `aad`.
    async fn blob(&self, id: i32, object_key: &str, aad: &[u8]) -> Result<Vec<u8>, steward::blobs::BlobError> {
        let data_key = keys::load(&mut *self.app.db.conn().await, &self.keyring, id).await.unwrap();
        let mut reader = BlobStore::in_data_dir(&self.config.data_dir).open_reader(object_key, &data_key, aad)?;
        let mut plain = Vec::new();
        std::io::Read::read_to_end(&mut reader, &mut plain)?;
        Ok(plain)
    }

    /// (status, stage, error_code).
    async fn status(&self, id: i32) -> (String, String, Option<String>) {
        donation::status(&self.app.db, id).await
    }

    /// (data type, state, reason) by type name.
    async fn types(&self, id: i32) -> Vec<(String, String, Option<String>)> {
        donation_types::table
            .filter(donation_types::donation_id.eq(id))
            .order(donation_types::data_type)
            .select((donation_types::data_type, donation_types::state, donation_types::reason_code))
            .load(&mut self.app.db.conn().await)
            .await
            .unwrap()
    }

    /// (id, resource, job id, state) by resource.
    async fn exports(&self, id: i32) -> Vec<(i64, String, Option<String>, String)> {
        provider_exports::table
            .filter(provider_exports::donation_id.eq(id))
            .order(provider_exports::resource)
            .select((
                provider_exports::id,
                provider_exports::resource,
                provider_exports::job_id,
                provider_exports::state,
            ))
            .load(&mut self.app.db.conn().await)
            .await
            .unwrap()
    }

    async fn event_details(&self, id: i32) -> Vec<(String, serde_json::Value)> {
        donation::events(&self.app.db, id).await
    }

    async fn events(&self, id: i32) -> Vec<String> {
        donation::event_kinds(&self.app.db, id).await
    }

    async fn queued(&self, key: &str) -> bool {
        let n: i64 = jobs::table
            .filter(jobs::dedup_key.eq(key))
            .count()
            .get_result(&mut self.app.db.conn().await)
            .await
            .unwrap();
        n == 1
    }
}

fn owned(v: &[(&str, &str, Option<&str>)]) -> Vec<(String, String, Option<String>)> {
    v.iter().map(|(a, b, c)| ((*a).to_owned(), (*b).to_owned(), c.map(str::to_owned))).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exports_are_requested_once_per_group_and_polled_until_their_parts_are_recorded() {
    let env = Env::start().await;
    // Three types, two groups: search and google_lens share myactivity.search.
    let id = env
        .authorized(
            &["youtube_history", "search", "google_lens"],
            &tiny().failure(Failure::SlowArchive { polls: 2 }),
            &[YOUTUBE, SEARCH],
        )
        .await;
    assert_eq!(env.status(id).await, ("authorized".into(), "authorized".into(), None));
    assert!(env.queued(&format!("start:{id}")).await, "the grant's transaction enqueues start_export");

    // The job runs twice (a retry after a crash): each group is initiated once.
    env.start_export(id).await.unwrap();
    let first = env.exports(id).await;
    env.start_export(id).await.unwrap();
    assert_eq!(env.exports(id).await, first);
    assert_eq!(
        first.iter().map(|e| (e.1.as_str(), e.3.as_str())).collect::<Vec<_>>(),
        [(SEARCH, "in_progress"), (YOUTUBE, "in_progress")]
    );
    assert!(first.iter().all(|e| e.2.is_some()));
    assert_eq!(env.events(id).await.iter().filter(|k| *k == "export_requested").count(), 2);
    assert_eq!(env.status(id).await, ("processing".into(), "export_requested".into(), None));
    let types = env.types(id).await;
    assert!(types.iter().all(|t| t.1 == "exporting"), "{types:?}");

    // The scheduler finds both exports due after the first delay, once.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let mut conn = env.app.db.conn().await;
    assert_eq!(poll::schedule_due_polls(&env.processing, &mut conn).await.unwrap(), 2);
    assert_eq!(poll::schedule_due_polls(&env.processing, &mut conn).await.unwrap(), 0, "queued polls are not doubled");
    assert!(env.queued(&format!("poll:{}", first[0].0)).await);
    drop(conn);

    env.poll_due(id).await;
    assert_eq!(env.status(id).await, ("processing".into(), "waiting_for_provider".into(), None));
    for _ in 0..5 {
        env.poll_due(id).await;
    }
    let exports = env.exports(id).await;
    assert!(exports.iter().all(|e| e.3 == "complete"), "{exports:?}");
    for (export_id, ..) in &exports {
        let parts: Vec<(i32, String)> = archive_parts::table
            .filter(archive_parts::export_id.eq(export_id))
            .order(archive_parts::part_no)
            .select((archive_parts::part_no, archive_parts::state))
            .load(&mut env.app.db.conn().await)
            .await
            .unwrap();
        assert_eq!(parts, [(0, "pending".to_owned())]);
    }
    assert_eq!(env.status(id).await, ("processing".into(), "downloading".into(), None));
    assert!(env.types(id).await.iter().all(|t| t.1 == "downloading"));
    assert_eq!(env.events(id).await.iter().filter(|k| *k == "export_ready").count(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_job_recovers_through_retry_and_a_cancelled_one_fails_the_donation() {
    let env = Env::start().await;
    let id = env.authorized(&["youtube_history"], &tiny().failure(Failure::JobFailed { again: 0 }), &[YOUTUBE]).await;
    env.start_export(id).await.unwrap();
    let before = env.exports(id).await[0].2.clone();
    env.poll_due(id).await;
    let after = env.exports(id).await;
    assert_eq!(after[0].3, "in_progress");
    assert_ne!(after[0].2, before, "`:retry` replaces the job id");
    assert!(env.events(id).await.contains(&"export_retried".to_owned()));
    for _ in 0..4 {
        env.poll_due(id).await;
    }
    assert_eq!(env.exports(id).await[0].3, "complete");
    assert_eq!(env.status(id).await.1, "downloading");

    let id = env.authorized(&["youtube_history"], &tiny().failure(Failure::JobCancelled), &[YOUTUBE]).await;
    env.start_export(id).await.unwrap();
    env.poll_due(id).await;
    assert_eq!(env.status(id).await, ("error".into(), "failed".into(), Some("export_failed".into())));
    assert_eq!(env.types(id).await, owned(&[("youtube_history", "failed", Some("export_failed"))]));
    let events = env.events(id).await;
    assert!(events.ends_with(&["export_failed".to_owned(), "failed".to_owned()]), "{events:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_access_tokens_are_refreshed_and_a_revoked_refresh_loses_access() {
    let env = Env::start().await;
    let env = &env;
    let sealed = |id: i32| async move {
        provider_grants::table
            .filter(provider_grants::donation_id.eq(id))
            .select(provider_grants::access_token_sealed)
            .first::<Vec<u8>>(&mut env.app.db.conn().await)
            .await
            .unwrap()
    };

    // The token expired, but the stored expiry says otherwise: the provider's
    // 401 makes Steward refresh once and repeat the call.
    let id = env.authorized(&["youtube_history"], &tiny().failure(Failure::ExpiredToken), &[YOUTUBE]).await;
    let original = sealed(id).await;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    diesel::update(provider_grants::table.filter(provider_grants::donation_id.eq(id)))
        .set(provider_grants::access_expires_at.eq(chrono::Utc::now() + chrono::TimeDelta::hours(1)))
        .execute(&mut env.app.db.conn().await)
        .await
        .unwrap();
    env.start_export(id).await.unwrap();
    assert_ne!(sealed(id).await, original, "the refreshed token is stored");
    assert_eq!(env.status(id).await.1, "export_requested");
    // A token known to expire soon is refreshed before the call.
    env.poll_due(id).await;
    assert_eq!(env.exports(id).await[0].3, "complete");

    // refresh_revoked: the refresh after the export started answers invalid_grant.
    let scenario = tiny().failure(Failure::ExpiredToken).failure(Failure::RefreshRevoked);
    let id = env.authorized(&["youtube_history"], &scenario, &[YOUTUBE]).await;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    env.start_export(id).await.unwrap();
    assert_eq!(env.status(id).await.0, "processing");
    env.poll_due(id).await;
    assert_eq!(env.status(id).await, ("error".into(), "failed".into(), Some("provider_access_lost".into())));
    assert_eq!(env.types(id).await, owned(&[("youtube_history", "failed", Some("provider_access_lost"))]));
    assert!(env.events(id).await.contains(&"provider_access_lost".to_owned()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scopes_left_unticked_decline_their_types() {
    let env = Env::start().await;
    let id = env.donation(&["youtube_history", "search"]).await;
    let tokens = env.tokens(&tiny().grant(Grant::Only(vec![SEARCH.into()])), &[YOUTUBE, SEARCH]).await;
    let mut conn = env.app.db.conn().await;
    let stored = processing::store_grant(&mut conn, &env.processing, id, &tokens).await.unwrap();
    drop(conn);
    assert_eq!(stored, Authorized::Authorized { declined: vec!["youtube_history".into()] });
    assert_eq!(
        env.types(id).await,
        owned(&[("search", "requested", None), ("youtube_history", "declined", Some("not_granted"))])
    );
    assert_eq!(env.events(id).await, ["authorized"]);

    env.start_export(id).await.unwrap();
    let exports = env.exports(id).await;
    assert_eq!(exports.iter().map(|e| e.1.as_str()).collect::<Vec<_>>(), [SEARCH], "only granted groups are exported");
    assert_eq!(env.status(id).await, ("processing".into(), "export_requested".into(), None));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_initiate_answer_then_an_exhausted_grant_loses_access() {
    let env = Env::start().await;
    let id = env.authorized(&["youtube_history"], &tiny().failure(Failure::OneTimeExhausted), &[YOUTUBE]).await;
    // The answer is lost after sending: the attempt fails, nothing is recorded.
    assert!(env.start_export(id).await.is_err());
    assert_eq!(env.exports(id).await[0].2, None);
    assert_eq!(env.status(id).await.1, "authorized");
    assert!(env.events(id).await.contains(&"attempt_failed".to_owned()));
    // The queue's retry meets 429 RESOURCE_EXHAUSTED with no job id recorded (§4.2.5).
    env.start_export(id).await.unwrap();
    assert_eq!(env.status(id).await, ("error".into(), "failed".into(), Some("provider_access_lost".into())));
    assert_eq!(env.types(id).await, owned(&[("youtube_history", "failed", Some("provider_access_lost"))]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_export_past_its_deadline_is_cancelled_and_times_out() {
    let env = Env::start_with(&[("STEWARD_EXPORT_MAX_WAIT", "2s")]).await;
    let id = env.authorized(&["youtube_history"], &tiny().failure(Failure::NeverReady), &[YOUTUBE]).await;
    env.start_export(id).await.unwrap();
    env.poll_due(id).await;
    assert_eq!(env.status(id).await, ("processing".into(), "waiting_for_provider".into(), None));
    env.poll_due(id).await;
    assert_eq!(env.status(id).await, ("error".into(), "failed".into(), Some("export_timeout".into())));
    assert_eq!(env.types(id).await, owned(&[("youtube_history", "failed", Some("export_timeout"))]));
    assert_eq!(env.exports(id).await[0].3, "failed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_window_entirely_in_the_future_requests_nothing() {
    let env = Env::start().await;
    let id = env.authorized(&["youtube_history"], &tiny(), &[YOUTUBE]).await;
    let tomorrow = chrono::Utc::now().date_naive() + chrono::Days::new(1);
    diesel::update(donations::table.find(id))
        .set(donations::data_start_date.eq(tomorrow))
        .execute(&mut env.app.db.conn().await)
        .await
        .unwrap();
    env.start_export(id).await.unwrap();
    assert_eq!(env.exports(id).await[0].2, None, "no export is requested");
    assert_eq!(env.types(id).await, owned(&[("youtube_history", "available", None)]));
    assert_eq!(env.status(id).await, ("processed".into(), "done".into(), None));
    assert_eq!(env.events(id).await, ["authorized", "export_skipped", "processed"]);
}

/// The server's own workers run `start_export` from the queue (the job kind
/// is registered with providers built from the configuration).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_workers_run_start_export_from_the_queue() {
    let env = Env::start_with(&[("STEWARD_WORKERS", "1")]).await;
    let id = env.authorized(&["search"], &tiny(), &[SEARCH]).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while env.status(id).await.1 != "export_requested" {
        assert!(tokio::time::Instant::now() < deadline, "start_export never ran: {:?}", env.status(id).await);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(env.exports(id).await[0].2.is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parts_are_downloaded_from_fresh_urls_sealed_to_their_part_and_committed_once() {
    let env = Env::start().await;
    // Two parts; the first two signed URLs are refused as expired.
    let scenario = tiny().failure(Failure::MultiPart { parts: 2 }).failure(Failure::UrlExpired { n: 2 });
    let id = env.authorized(&["search"], &scenario, &[SEARCH]).await;
    env.exported(id).await;
    let parts = env.parts(id).await;
    assert_eq!(parts.len(), 2);
    for part in &parts {
        assert!(env.queued(&format!("download:{}", part.0)).await, "poll enqueues the download of each part");
    }

    for part in &parts {
        let stored = env.download(part.0).await.unwrap();
        assert!(stored, "part {} stored: {:?} {:?}", part.0, env.parts(id).await, env.event_details(id).await);
    }
    let stored = env.parts(id).await;
    for (part_id, state, key, bytes, sha) in &stored {
        assert_eq!(state, "stored");
        let key = key.as_deref().unwrap();
        assert!(key.starts_with(&format!("donations/{id}/parts/")), "{key}");
        let plain = env.blob(id, key, &download::part_aad(id, *part_id)).await.unwrap();
        assert!(plain.starts_with(b"PK"), "a zip archive");
        assert_eq!(Some(plain.len() as i64), *bytes);
        assert_eq!(sha.as_deref(), Some(ring::digest::digest(&ring::digest::SHA256, &plain).as_ref()));
        // Bound to its own part: under another part's AAD it does not open.
        let other = stored.iter().find(|p| p.0 != *part_id).unwrap().0;
        assert!(env.blob(id, key, &download::part_aad(id, other)).await.is_err());
    }
    assert_eq!(env.events(id).await.iter().filter(|k| *k == "part_downloaded").count(), 2);

    // A repeated job changes nothing.
    for part in &stored {
        assert!(!env.download(part.0).await.unwrap());
    }
    assert_eq!(env.parts(id).await, stored);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broken_download_leaves_nothing_and_urls_refused_past_the_refreshes_fail_the_type() {
    let env = Env::start().await;
    let id = env.authorized(&["search"], &tiny().failure(Failure::TruncatedDownload), &[SEARCH]).await;
    env.exported(id).await;
    let part = env.parts(id).await[0].0;
    // The body breaks off halfway; the rest is asked for with `Range` in the same attempt (§4.2.7).
    assert!(env.download(part).await.unwrap(), "stored: {:?}", env.event_details(id).await);
    let (part_id, state, key, bytes, sha) = env.parts(id).await.remove(0);
    assert_eq!(state, "stored");
    let plain = env.blob(id, key.as_deref().unwrap(), &download::part_aad(id, part_id)).await.unwrap();
    assert!(plain.starts_with(b"PK") && Some(plain.len() as i64) == bytes);
    assert_eq!(sha.as_deref(), Some(ring::digest::digest(&ring::digest::SHA256, &plain).as_ref()));
    let events = env.event_details(id).await;
    let downloaded = events.iter().find(|e| e.0 == "part_downloaded").unwrap();
    assert_eq!(downloaded.1["resumed"], 1, "resumed once, not restarted");
    assert!(env.parse(part_id).await.unwrap(), "the resumed part is a whole archive");

    // One refusal more than the refreshes allow.
    let id = env.authorized(&["search"], &tiny().failure(Failure::UrlExpired { n: 4 }), &[SEARCH]).await;
    env.exported(id).await;
    let part = env.parts(id).await[0].0;
    assert!(!env.download(part).await.unwrap());
    assert_eq!(env.parts(id).await[0].1, "failed");
    assert_eq!(env.status(id).await, ("error".into(), "failed".into(), Some("provider_unavailable".into())));
    assert_eq!(env.types(id).await, owned(&[("search", "failed", Some("provider_unavailable"))]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stored_parts_are_parsed_into_rows_once_their_blobs_deleted_and_the_donation_processed() {
    let env = Env::start().await;
    let scenario = tiny().failure(Failure::MultiPart { parts: 2 });
    let id = env.authorized(&["youtube_history", "search"], &scenario, &[YOUTUBE, SEARCH]).await;
    env.exported(id).await;
    let parts = env.parts(id).await;
    for part in &parts {
        assert!(env.download(part.0).await.unwrap());
    }
    assert_eq!(env.status(id).await, ("processing".into(), "parsing".into(), None));
    assert!(env.types(id).await.iter().all(|t| t.1 == "parsing"));
    // Keep one sealed part aside to parse it again from scratch later.
    let (first, first_key) = {
        let stored = env.parts(id).await;
        (stored[0].0, stored[0].2.clone().unwrap())
    };
    let blob_path = env.config.data_dir.join("blobs").join(&first_key);
    let saved = std::fs::read(&blob_path).unwrap();
    for part in &parts {
        assert!(env.parse(part.0).await.unwrap());
        assert!(!env.parse(part.0).await.unwrap(), "a parsed part is not parsed again");
    }
    for (part_id, state, key, ..) in env.parts(id).await {
        assert_eq!(state, "parsed");
        let gone = env.blob(id, key.as_deref().unwrap(), &download::part_aad(id, part_id)).await;
        assert!(matches!(gone, Err(steward::blobs::BlobError::NotFound(_))), "the raw part is deleted once parsed");
    }
    assert!(finalize::finalize(&mut *env.app.db.conn().await, id).await.unwrap());
    assert_eq!(env.status(id).await, ("processed".into(), "done".into(), None));
    assert_eq!(env.types(id).await, owned(&[("search", "available", None), ("youtube_history", "available", None)]));
    let counts = env.row_counts(id).await;
    assert_eq!(counts.len(), 2, "{counts:?}");
    assert_eq!(
        counts,
        env.manifest(id, &scenario, &["search", "youtube_history"]).await,
        "every record the sandbox exported is a row"
    );
    let counters: Vec<(String, i64)> = donation_types::table
        .filter(donation_types::donation_id.eq(id))
        .order(donation_types::data_type)
        .select((donation_types::data_type, donation_types::rows))
        .load(&mut env.app.db.conn().await)
        .await
        .unwrap();
    assert_eq!(counters, counts, "counters are recomputed from the rows");
    assert_eq!(env.events(id).await.iter().filter(|k| *k == "type_parsed").count(), 2);

    // A crash before the markers: the part parsed again from scratch inserts nothing new.
    std::fs::create_dir_all(blob_path.parent().unwrap()).unwrap();
    std::fs::write(&blob_path, saved).unwrap();
    let mut conn = env.app.db.conn().await;
    diesel::update(archive_parts::table.find(first))
        .set(archive_parts::state.eq("stored"))
        .execute(&mut conn)
        .await
        .unwrap();
    diesel::delete(steward::db::schema::parse_progress::table).execute(&mut conn).await.unwrap();
    diesel::delete(steward::db::schema::part_type_results::table).execute(&mut conn).await.unwrap();
    drop(conn);
    assert!(env.parse(first).await.unwrap());
    assert_eq!(env.row_counts(id).await, counts);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_malformed_member_fails_only_its_type() {
    let env = Env::start().await;
    let search = steward::donation::catalogue::Source::Google.data_type("search").unwrap();
    let scenario = tiny().failure(Failure::MalformedJson { data_type: search });
    let id = env.authorized(&["youtube_history", "search"], &scenario, &[YOUTUBE, SEARCH]).await;
    env.exported(id).await;
    env.processed(id).await;
    let (status, _, code) = env.status(id).await;
    assert_eq!((status.as_str(), code.as_deref()), ("error", Some("archive_invalid")));
    assert_eq!(
        env.types(id).await,
        owned(&[("search", "failed", Some("archive_invalid")), ("youtube_history", "available", None)])
    );
    let counts = env.row_counts(id).await;
    assert!(counts.iter().any(|c| c.0 == "youtube_history" && c.1 > 0), "{counts:?}");
    // The parser handed over the member's first records before the broken
    // one; finalize purged them with the failed type.
    let parsed: i64 = steward::db::schema::part_type_results::table
        .filter(steward::db::schema::part_type_results::data_type.eq("search"))
        .select(steward::db::schema::part_type_results::rows)
        .first(&mut env.app.db.conn().await)
        .await
        .unwrap();
    assert!(parsed > 0);
    assert!(counts.iter().all(|c| c.0 != "search"), "no rows of a failed type are kept: {counts:?}");
    let message: Option<String> =
        donations::table.find(id).select(donations::error_message).first(&mut env.app.db.conn().await).await.unwrap();
    let message = message.unwrap();
    assert!(message.starts_with("search: archive_invalid ("), "{message}");
    assert!(message.contains("My Activity/Search/MyActivity.json"), "the member is named: {message}");
    let events = env.event_details(id).await;
    let kinds: Vec<&str> = events.iter().map(|e| e.0.as_str()).collect();
    assert!(!kinds.iter().any(|k| k.starts_with("part_") && *k != "part_downloaded"), "{kinds:?}");
    let search = events.iter().find(|e| e.0 == "type_parsed" && e.1["state"] == "failed").unwrap();
    assert_eq!(search.1["code"], "archive_invalid");
    assert!(kinds.ends_with(&["type_parsed", "type_parsed", "failed"]), "{kinds:?}");
}

/// A researcher's bearer request.
fn authed<T>(message: T, token: &str) -> tonic::Request<T> {
    crate::common::with_bearer(message, token)
}

/// Creates a Google donation of `types` over gRPC as `token`; returns its id.
async fn create_over_grpc(env: &Env, token: &str, types: &[&str]) -> i32 {
    let request = pb::CreateDonationRequest {
        source: pb::DonationSource::GooglePortability.into(),
        requested_data_types: types.iter().map(|t| (*t).to_owned()).collect(),
        description: "end to end".into(),
        ..Default::default()
    };
    let created = env.grpc().await.create_donation(authed(request, token)).await.unwrap().into_inner();
    i32::try_from(created.donation.unwrap().id).unwrap()
}

impl Env {
    async fn grpc(&self) -> DonationServiceClient<tonic::transport::Channel> {
        DonationServiceClient::new(self.app.channel().await)
    }

    /// Signs the donation in with `scenario` and stores the grant, as the OAuth callback does.
    async fn sign_in(&self, id: i32, scenario: &Scenario, groups: &[&str]) {
        let tokens = self.tokens(scenario, groups).await;
        let mut conn = self.app.db.conn().await;
        let stored = processing::store_grant(&mut conn, &self.processing, id, &tokens).await.unwrap();
        assert_eq!(stored, Authorized::Authorized { declined: vec![] });
    }

    /// Waits (at most `secs`) until the donation has `status`, failing on any other final one.
    async fn wait_for_status(&self, id: i32, status: &str, secs: u64) {
        donation::wait_for_status(&self.app.db, id, status, secs).await
    }

    /// Every row of `data_type` within `start`..=`end` through QueryDonationData, `page_size` at a time.
    async fn query_all(
        &self,
        token: &str,
        id: i32,
        data_type: &str,
        (start, end): (&str, &str),
        page_size: i32,
    ) -> (i64, Vec<serde_json::Value>) {
        let mut client = self.grpc().await;
        let (mut page_token, mut rows, mut total) = (String::new(), Vec::new(), None);
        loop {
            let request = pb::QueryDonationDataRequest {
                donation_id: i64::from(id),
                data_type: data_type.into(),
                start_date: start.into(),
                end_date: end.into(),
                page_size,
                page_token,
                ..Default::default()
            };
            let page = client.query_donation_data(authed(request, token)).await.unwrap().into_inner();
            assert!(page.rows.len() <= page_size as usize);
            assert_eq!(*total.get_or_insert(page.total_count), page.total_count, "the count is stable across pages");
            rows.extend(page.rows.iter().map(struct_json));
            if page.next_page_token.is_empty() {
                break;
            }
            page_token = page.next_page_token;
        }
        (total.unwrap_or(0), rows)
    }
}

/// A `google.protobuf.Struct` as JSON.
fn struct_json(s: &prost_types::Struct) -> serde_json::Value {
    fn value(v: &prost_types::Value) -> serde_json::Value {
        use prost_types::value::Kind;
        match &v.kind {
            Some(Kind::StringValue(s)) => serde_json::Value::String(s.clone()),
            Some(Kind::BoolValue(b)) => serde_json::Value::Bool(*b),
            Some(Kind::NumberValue(n)) => serde_json::json!(n),
            Some(Kind::StructValue(s)) => struct_json(s),
            Some(Kind::ListValue(l)) => serde_json::Value::Array(l.values.iter().map(value).collect()),
            Some(Kind::NullValue(_)) | None => serde_json::Value::Null,
        }
    }
    serde_json::Value::Object(s.fields.iter().map(|(k, v)| (k.clone(), value(v))).collect())
}

/// Asserts that QueryDonationData gives exactly `expected` rows per type,
/// pages through them without duplicates, and that a date window keeps
/// exactly the rows whose timestamps fall inside it.
async fn assert_queryable(env: &Env, token: &str, id: i32, expected: &[(String, i64)]) {
    for (data_type, count) in expected {
        // Several pages, however many rows.
        let page_size = i32::try_from(count / 5).unwrap().clamp(3, 10_000);
        let (total, rows) = env.query_all(token, id, data_type, ("", ""), page_size).await;
        assert_eq!((total, rows.len() as i64), (*count, *count), "{data_type}: every row, once");
        let distinct: std::collections::BTreeSet<String> = rows.iter().map(|r| r.to_string()).collect();
        assert_eq!(distinct.len(), rows.len(), "{data_type}: paging repeats no row");
        assert!(rows.iter().all(|r| r["data_type"] == data_type.as_str()));
        // A window without the rows' first and last days.
        let days: std::collections::BTreeSet<String> =
            rows.iter().filter_map(|r| r["timestamp"].as_str().map(|t| t[..10].to_owned())).collect();
        let days: Vec<String> = days.into_iter().collect();
        assert!(days.len() >= 3, "{data_type}: rows spread over a few days: {days:?}");
        let (start, end) = (days[1].clone(), days[days.len() - 2].clone());
        let inside: Vec<&serde_json::Value> = rows
            .iter()
            .filter(|r| r["timestamp"].as_str().is_some_and(|t| t[..10] >= *start && t[..10] <= *end))
            .collect();
        let (total, filtered) = env.query_all(token, id, data_type, (&start, &end), page_size - 1).await;
        assert_eq!((total, filtered.len()), (inside.len() as i64, inside.len()), "{data_type} in {start}..={end}");
        assert!(!inside.is_empty() && inside.len() < rows.len(), "the window leaves rows out");
        let got: std::collections::BTreeSet<String> = filtered.iter().map(|r| r.to_string()).collect();
        let want: std::collections::BTreeSet<String> = inside.iter().map(|r| r.to_string()).collect();
        assert_eq!(got, want);
    }
}

/// Spec §5.1 end to end: after the sign-in, only the server's own workers run
/// start_export, the scheduled polls, the downloads, the parses and finalize.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_workers_alone_take_a_signed_in_donation_to_processed_with_every_row_queryable() {
    let env = Env::start_with(&[("STEWARD_WORKERS", "2")]).await;
    let token = env.app.db.token("res@example.org", Some(Role::Researcher)).await;
    let types = ["youtube_history", "search", "google_lens"];
    let id = create_over_grpc(&env, &token, &types).await;
    let scenario = tiny()
        .persona(Persona::Small)
        .failure(Failure::SlowArchive { polls: 2 })
        .failure(Failure::MultiPart { parts: 2 });
    env.sign_in(id, &scenario, &[YOUTUBE, SEARCH]).await;
    env.wait_for_status(id, "processed", 90).await;

    let expected = env.manifest(id, &scenario, &types).await;
    assert_eq!(expected.len(), 3, "{expected:?}");
    assert_eq!(env.row_counts(id).await, expected);
    let events = env.events(id).await;
    for kind in ["export_requested", "export_ready", "part_downloaded", "type_parsed", "processed"] {
        assert!(events.iter().any(|e| e == kind), "{kind} missing from {events:?}");
    }
    assert_eq!(env.parts(id).await.len(), 4, "two parts per group");
    assert!(env.parts(id).await.iter().all(|p| p.1 == "parsed"));
    assert_queryable(&env, &token, id, &expected).await;
    let got = env
        .grpc()
        .await
        .get_donation(authed(pb::GetDonationRequest { donation_id: i64::from(id) }, &token))
        .await
        .unwrap()
        .into_inner()
        .donation
        .unwrap();
    assert_eq!((got.status(), got.stage()), (pb::DonationStatus::Processed, pb::DonationStage::Done));
    for (data_type, rows) in &expected {
        assert_eq!(got.data_types[data_type].rows, *rows);
    }

    // Spec §5.10 step 5: once processed, Steward gives the access back and
    // keeps no provider credentials.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while !env.events(id).await.iter().any(|e| e == "provider_access_released") {
        assert!(tokio::time::Instant::now() < deadline, "access never released: {:?}", env.events(id).await);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let grants = donation::grants(&env.app.db, id).await;
    assert_eq!(grants, 0, "the sealed tokens are gone");
    let calls = env.http.get(format!("{}/sandbox/_calls", env.app.url())).send().await.unwrap().text().await.unwrap();
    let calls: Vec<serde_json::Value> = serde_json::from_str(&calls).unwrap();
    let resets =
        calls.iter().filter(|c| c["path"].as_str().is_some_and(|p| p.ends_with("authorization:reset"))).count();
    assert_eq!(resets, 1, "Google's authorization:reset was called once");
}

/// The same pipeline with the blobs in an S3-compatible bucket (moto on
/// loopback, selected by `STEWARD_OBJECT_STORE`): the parts are uploaded to
/// the bucket and read back from it, deleted from it once parsed, and never
/// touch the data directory.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_workers_process_a_donation_with_its_blobs_in_an_s3_bucket() {
    let moto = crate::blobs_s3::moto().await;
    let s3 = crate::blobs_s3::s3_vars(&moto.endpoint);
    let mut vars = vec![("STEWARD_WORKERS", "2")];
    vars.extend(s3.iter().map(|(k, v)| (*k, v.as_str())));
    let env = Env::start_with(&vars).await;
    let token = env.app.db.token("res@example.org", Some(Role::Researcher)).await;
    let types = ["youtube_history", "search"];
    let id = create_over_grpc(&env, &token, &types).await;
    let scenario = tiny().persona(Persona::Small).failure(Failure::MultiPart { parts: 2 });
    env.sign_in(id, &scenario, &[YOUTUBE, SEARCH]).await;
    env.wait_for_status(id, "processed", 90).await;

    let expected = env.manifest(id, &scenario, &types).await;
    assert_eq!(expected.len(), 2, "{expected:?}");
    assert_eq!(env.row_counts(id).await, expected);
    let parts = env.parts(id).await;
    assert_eq!(parts.len(), 4, "two parts per group");
    assert!(parts.iter().all(|p| p.1 == "parsed"));
    let requests = moto.requests();
    for part in &parts {
        let object = format!("/steward-blobs/steward/blobs/{}", part.2.as_deref().unwrap());
        assert!(requests.contains(&format!("POST {object}?uploads")), "{object} was not uploaded:\n{requests}");
        assert!(requests.contains(&format!("GET {object} ")), "{object} was not read back:\n{requests}");
    }
    // A parse deletes its part after committing the rows, so possibly just after "processed".
    let part_keys: Vec<String> = parts.iter().map(|p| p.2.clone().unwrap()).collect();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    while moto.raw().keys().await.iter().any(|k| part_keys.contains(k)) {
        assert!(tokio::time::Instant::now() < deadline, "parsed parts stay in the bucket");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // A download retried after storing its blob (its commit failed) leaves an
    // orphan behind, in a bucket as in a directory: the sweep lists and removes it there.
    let processing = Processing::from_config(&env.config, env.keyring.clone()).unwrap();
    let swept = processing::sweep::sweep(&processing, &mut *env.app.db.conn().await, Duration::ZERO).await.unwrap();
    assert_eq!(moto.raw().keys().await, Vec::<String>::new(), "swept: {swept:?}");
    assert_eq!(moto.pending_uploads().await, 0);
    assert!(!env.config.data_dir.join("blobs").exists(), "nothing was written to local blob files");
}

impl Env {
    /// Stops the server gracefully and starts a new one on the same database,
    /// data directory and keys, with `STEWARD_WORKERS` workers.
    async fn restart(self, workers: &str) -> Env {
        let Env { app, config, keyring, http, .. } = self;
        let db = app.stop().await;
        let dir = config.data_dir.to_str().unwrap().to_owned();
        let extra = [("STEWARD_DATA_DIR", dir.as_str())];
        let (app, config) = donation::start_sandbox(db, &keyring.to_spec(), workers, &extra).await;
        let processing = donation::google_processing(&config, &keyring);
        Env { app, config, processing, keyring, http }
    }

    /// (part, data type, member, last ordinal, done) of every parse marker of `id`.
    async fn markers(&self, id: i32) -> Vec<(i64, String, i32, i64, bool)> {
        use steward::db::schema::parse_progress;
        parse_progress::table
            .inner_join(archive_parts::table.inner_join(provider_exports::table))
            .filter(provider_exports::donation_id.eq(id))
            .order((parse_progress::part_id, parse_progress::data_type, parse_progress::member_no))
            .select((
                parse_progress::part_id,
                parse_progress::data_type,
                parse_progress::member_no,
                parse_progress::last_ordinal,
                parse_progress::done,
            ))
            .load(&mut self.app.db.conn().await)
            .await
            .unwrap()
    }
}

/// Spec §5.3: a server stopped in the middle of a parse hands the job back at
/// its next batch; the next server resumes after the committed markers, and
/// every record ends up a row exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_stopped_while_parsing_resumes_after_a_restart_and_stores_every_row_once() {
    let env = Env::start_with(&[("STEWARD_WORKERS", "1")]).await;
    let token = env.app.db.token("res@example.org", Some(Role::Researcher)).await;
    let id = create_over_grpc(&env, &token, &["search"]).await;
    let scenario = tiny().records("search", 20_000).failure(Failure::MultiPart { parts: 2 });
    env.sign_in(id, &scenario, &[SEARCH]).await;

    // Stop as soon as a member is partly stored.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    loop {
        let markers = env.markers(id).await;
        if markers.iter().any(|m| !m.4 && m.3 >= 0) {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "parsing never started: {:?}", env.status(id).await);
        assert_ne!(env.status(id).await.0, "processed", "parsed before the test could stop it");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let env = env.restart("0").await;
    // Stopped mid-parse: some rows are stored, the part is not parsed, its job is queued again.
    let markers = env.markers(id).await;
    let (part, ..) = markers.iter().find(|m| !m.4).cloned().expect("a member left unfinished");
    let stored_before: i64 = env.row_counts(id).await.iter().map(|c| c.1).sum();
    assert!(stored_before > 0, "some batches were committed");
    let parts = env.parts(id).await;
    assert_eq!(parts.iter().find(|p| p.0 == part).unwrap().1, "stored", "{parts:?}");
    let (state, attempts): (String, i32) = jobs::table
        .filter(jobs::dedup_key.eq(format!("parse:{part}")))
        .select((jobs::state, jobs::attempts))
        .first(&mut env.app.db.conn().await)
        .await
        .unwrap();
    assert_eq!((state.as_str(), attempts), ("queued", 0), "handed back without using up an attempt");
    assert_eq!(env.status(id).await.0, "processing");

    let env = env.restart("1").await;
    env.wait_for_status(id, "processed", 120).await;
    let expected = env.manifest(id, &scenario, &["search"]).await;
    assert_eq!(expected, [("search".to_owned(), 20_000)]);
    assert_eq!(env.row_counts(id).await, expected, "every record once, none twice");
    assert_queryable(&env, &token, id, &expected).await;
}

/// A parse committing while its donation's finalize runs (and read the part
/// as unparsed) finds that finalize live, so its own enqueue is deduplicated
/// away; the scheduler's next run finalizes the donation all the same.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_finalize_lost_to_deduplication_is_made_up_by_the_scheduler() {
    let env = Env::start().await;
    let scenario = tiny().failure(Failure::MultiPart { parts: 2 });
    let id = env.authorized(&["search"], &scenario, &[SEARCH]).await;
    env.exported(id).await;
    let parts = env.parts(id).await;
    for part in &parts {
        assert!(env.download(part.0).await.unwrap());
    }
    assert!(env.parse(parts[0].0).await.unwrap());
    // A worker takes the finalize the first parse queued; the second part is not parsed yet.
    let key = format!("finalize:{id}");
    // (The jobs this test ran by hand are not left for the worker.)
    diesel::delete(jobs::table.filter(jobs::dedup_key.ne(&key))).execute(&mut env.app.db.conn().await).await.unwrap();
    let claimed = steward::jobs::claim(&mut *env.app.db.conn().await, "racer", Duration::from_secs(60))
        .await
        .unwrap()
        .expect("a queued job");
    assert_eq!(claimed.dedup_key.as_deref(), Some(key.as_str()));
    assert!(!finalize::finalize(&mut *env.app.db.conn().await, id).await.unwrap(), "not everything is parsed");
    // Meanwhile the second parse commits: its finalize is deduplicated against the running one.
    assert!(env.parse(parts[1].0).await.unwrap());
    let live: Vec<String> = jobs::table
        .filter(jobs::dedup_key.eq(&key))
        .select(jobs::state)
        .load(&mut env.app.db.conn().await)
        .await
        .unwrap();
    assert_eq!(live, ["running"], "no second finalize was queued");
    // The running finalize finishes (its row deleted, as a worker does).
    diesel::delete(jobs::table.find(claimed.id)).execute(&mut env.app.db.conn().await).await.unwrap();
    assert_eq!(env.status(id).await.1, "parsing", "stuck without another finalize");

    let n = poll::schedule_due_polls(&env.processing, &mut *env.app.db.conn().await).await.unwrap();
    assert_eq!(n, 1);
    assert!(env.queued(&key).await, "the scheduler queued the missing finalize");
    assert!(finalize::finalize(&mut *env.app.db.conn().await, id).await.unwrap());
    assert_eq!(env.status(id).await, ("processed".into(), "done".into(), None));
    // Nothing more to do: the next run queues nothing.
    diesel::delete(jobs::table.filter(jobs::dedup_key.eq(&key))).execute(&mut env.app.db.conn().await).await.unwrap();
    assert_eq!(poll::schedule_due_polls(&env.processing, &mut *env.app.db.conn().await).await.unwrap(), 0);
}

impl Env {
    /// RetryDonation as `token`.
    async fn retry(&self, token: &str, id: i32) -> Result<pb::Donation, tonic::Status> {
        let request = pb::RetryDonationRequest { donation_id: i64::from(id) };
        let answer = self.grpc().await.retry_donation(authed(request, token)).await?;
        Ok(answer.into_inner().donation.unwrap())
    }
}

/// Spec §5.9: RetryDonation re-runs exactly the failed steps — a provider job
/// that failed past its `:retry` budget is polled (and retried) again, and
/// the parts whose parse failed a type are fetched and parsed again for it
/// — while available types keep their rows; each retry is an event.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retry_donation_re_runs_the_failed_export_job_and_the_failed_parse() {
    let env = Env::start_with(&[("STEWARD_WORKERS", "2"), ("STEWARD_GOOGLE_JOB_RETRIES", "1")]).await;
    let token = env.app.db.token("res@example.org", Some(Role::Researcher)).await;

    // The job fails, and so does its one `:retry`; the retry after that would succeed.
    let id = create_over_grpc(&env, &token, &["youtube_history"]).await;
    env.sign_in(id, &tiny().failure(Failure::JobFailed { again: 1 }), &[YOUTUBE]).await;
    env.wait_for_status(id, "error", 60).await;
    assert_eq!(env.status(id).await.2.as_deref(), Some("export_failed"));
    let retried = env.retry(&token, id).await.unwrap();
    assert_eq!(retried.status(), pb::DonationStatus::Processing);
    assert!(retried.error.is_none());
    assert_eq!(retried.data_types["youtube_history"].state(), pb::DataTypeState::Exporting);
    env.wait_for_status(id, "processed", 60).await;
    let events = env.events(id).await;
    let at = events.iter().position(|e| e == "retried").expect("a retried event");
    assert!(events[..at].contains(&"failed".to_owned()) && events[at..].contains(&"processed".to_owned()));
    assert!(env.row_counts(id).await.iter().any(|c| c.0 == "youtube_history" && c.1 == 5));

    // A malformed member fails search only; the retry fetches and parses the part again for search.
    let search = steward::donation::catalogue::Source::Google.data_type("search").unwrap();
    let id = create_over_grpc(&env, &token, &["youtube_history", "search"]).await;
    env.sign_in(id, &tiny().failure(Failure::MalformedJson { data_type: search }), &[YOUTUBE, SEARCH]).await;
    env.wait_for_status(id, "error", 60).await;
    assert_eq!(env.status(id).await.2.as_deref(), Some("archive_invalid"));
    let before = env.row_counts(id).await;
    assert_eq!(before.iter().map(|c| c.0.as_str()).collect::<Vec<_>>(), ["youtube_history"]);
    let downloads = |events: &[String]| events.iter().filter(|e| *e == "part_downloaded").count();
    let downloaded = downloads(&env.events(id).await);
    let retried = env.retry(&token, id).await.unwrap();
    assert_eq!(retried.status(), pb::DonationStatus::Processing);
    assert_eq!(retried.data_types["youtube_history"].state(), pb::DataTypeState::Available, "untouched");
    assert_ne!(retried.data_types["search"].state(), pb::DataTypeState::Failed);
    // The same archive is as broken the second time.
    env.wait_for_status(id, "error", 60).await;
    let (_, _, code) = env.status(id).await;
    assert_eq!(code.as_deref(), Some("archive_invalid"));
    let events = env.events(id).await;
    assert_eq!(downloads(&events), downloaded + 1, "only the search group's part was fetched again: {events:?}");
    assert_eq!(env.row_counts(id).await, before, "available rows are kept once, failed ones purged again");
    assert_eq!(events.iter().filter(|e| *e == "retried").count(), 1);
}

/// Spec §2.9.3 and §5.9: who may retry, and which errors a retry cannot fix.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retry_donation_refuses_by_permission_and_by_state_with_what_would_help() {
    use steward::dataset::audit::Actor;
    use steward::dataset::ops::{self as dataset_ops, GrantSpec, Grantee};
    use steward::dataset::permissions::Level;
    use tonic::Code;

    let env = Env::start_with(&[("STEWARD_WORKERS", "2")]).await;
    let owner = env.app.db.token("owner@example.org", Some(Role::Researcher)).await;
    let viewer = env.app.db.token("viewer@example.org", None).await;
    let editor = env.app.db.token("editor@example.org", Some(Role::Researcher)).await;
    let outsider = env.app.db.token("outsider@example.org", Some(Role::Researcher)).await;
    {
        let mut conn = env.app.db.conn().await;
        let study = dataset_ops::create_dataset(&mut conn, Actor::System, "study", "", false).await.unwrap();
        for (user_id, level) in [(1, Level::Edit), (2, Level::View), (3, Level::Edit)] {
            let spec = GrantSpec {
                dataset_id: study.id,
                version_id: None,
                level,
                grantee: Grantee::User(user_id),
                source: "manual",
            };
            dataset_ops::grant(&mut conn, Actor::System, spec).await.unwrap();
        }
    }
    let request = pb::CreateDonationRequest {
        source: pb::DonationSource::GooglePortability.into(),
        requested_data_types: vec!["youtube_history".into()],
        dataset: "study".into(),
        ..Default::default()
    };
    let created = env.grpc().await.create_donation(authed(request, &owner)).await.unwrap().into_inner();
    let id = i32::try_from(created.donation.unwrap().id).unwrap();

    // Not failed: nothing to retry.
    let pending = env.retry(&owner, id).await.unwrap_err();
    assert_eq!(pending.code(), Code::FailedPrecondition);
    assert_eq!(
        pending.message(),
        format!("Donation {id} is pending, not error: only a failed donation can be retried.")
    );

    // Access used up before Steward had the archive: only the participant can fix it.
    env.sign_in(id, &tiny().failure(Failure::OneTimeExhausted), &[YOUTUBE]).await;
    env.wait_for_status(id, "error", 60).await;
    assert_eq!(env.status(id).await.2.as_deref(), Some("provider_access_lost"));
    let missing = pb::RetryDonationRequest { donation_id: 999 };
    let hidden = env.grpc().await.retry_donation(authed(missing, &owner)).await.unwrap_err();
    assert_eq!(hidden.code(), Code::NotFound);
    assert_eq!(env.retry(&outsider, id).await.unwrap_err().code(), Code::NotFound, "invisible to an outsider");
    assert_eq!(env.retry(&viewer, id).await.unwrap_err().code(), Code::PermissionDenied, "view is not enough");
    for token in [&owner, &editor] {
        let refused = env.retry(token, id).await.unwrap_err();
        assert_eq!(refused.code(), Code::FailedPrecondition);
        assert!(refused.message().contains("needs the participant to sign in again"), "{}", refused.message());
    }
    assert!(!env.events(id).await.contains(&"retried".to_owned()));
    assert_eq!(env.status(id).await.0, "error", "a refused retry changes nothing");

    // A donation that finished: nothing to retry either.
    let id = create_over_grpc(&env, &editor, &["youtube_history"]).await;
    env.sign_in(id, &tiny(), &[YOUTUBE]).await;
    env.wait_for_status(id, "processed", 60).await;
    let done = env.retry(&editor, id).await.unwrap_err();
    assert_eq!((done.code(), done.message().contains("is processed, not error")), (Code::FailedPrecondition, true));
}

/// Spec §5.8: the sweep deletes part blobs no committed part row references
/// once they are old enough, and stale temporary writes; referenced parts,
/// young blobs and other blobs stay.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sweep_removes_old_orphan_part_blobs_and_stale_temporary_files_only() {
    use steward::donation::processing::sweep::{self, Swept};
    let env = Env::start().await;
    let id = env.authorized(&["search"], &tiny(), &[SEARCH]).await;
    env.exported(id).await;
    let part = env.parts(id).await[0].0;
    assert!(env.download(part).await.unwrap());
    let stored = env.parts(id).await[0].2.clone().unwrap();
    let root = env.config.data_dir.join("blobs");
    let day_old = std::time::SystemTime::now() - Duration::from_secs(25 * 3600);
    let write = |key: &str, old: bool| {
        let path = root.join(key);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        if !path.exists() {
            std::fs::write(&path, b"sealed bytes").unwrap();
        }
        if old {
            std::fs::File::options().write(true).open(&path).unwrap().set_modified(day_old).unwrap();
        }
    };
    write(&stored, true); // committed: kept however old
    write(&format!("donations/{id}/parts/lost-the-race"), true);
    write("donations/999/parts/of-a-deleted-donation", true);
    write(&format!("donations/{id}/parts/being-committed"), false);
    write(&format!("donations/{id}/exports/not-a-part"), true);
    write(".tmp/crashed-write", true);
    write(".tmp/in-progress", false);

    let swept = sweep::sweep(&env.processing, &mut *env.app.db.conn().await, sweep::MIN_AGE).await.unwrap();
    assert_eq!(swept, Swept { orphan_blobs: 2, temp_files: 1, retention_blobs: 0 });
    let exists = |key: &str| root.join(key).exists();
    assert!(exists(&stored) && exists(&format!("donations/{id}/parts/being-committed")));
    assert!(exists(&format!("donations/{id}/exports/not-a-part")) && exists(".tmp/in-progress"));
    assert!(!exists(&format!("donations/{id}/parts/lost-the-race")) && !exists(".tmp/crashed-write"));
    assert!(!exists("donations/999"), "emptied directories go too");
    // The part is still readable and parses.
    assert!(env.parse(part).await.unwrap());
    // Once parsed, its blob is deleted with the part row's deleted_at set; nothing is left to sweep.
    let again = sweep::sweep(&env.processing, &mut *env.app.db.conn().await, Duration::ZERO).await.unwrap();
    assert_eq!(again.orphan_blobs, 1, "only the young orphan, once any age counts");
}

/// Spec §5.9: a parse whose attempts run out does not leave the donation
/// `processing` for ever. The job stays dead for inspection, the types that
/// waited for the part fail with `internal`, and the donation ends in `error`
/// (which RetryDonation can re-run).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_parse_out_of_attempts_fails_its_types_and_ends_the_donation() {
    let env = Env::start_with(&[("STEWARD_DONATION_MAX_ATTEMPTS", "1")]).await;
    let id = env.authorized(&["search", "youtube_history"], &tiny(), &[YOUTUBE, SEARCH]).await;
    env.exported(id).await;
    let parts = env.parts(id).await;
    for part in &parts {
        assert!(env.download(part.0).await.unwrap());
    }
    // The search part's sealed blob is lost: every parse attempt of it fails.
    let search_part: i64 = archive_parts::table
        .inner_join(provider_exports::table)
        .filter(provider_exports::donation_id.eq(id))
        .filter(provider_exports::resource.eq(SEARCH))
        .select(archive_parts::id)
        .first(&mut env.app.db.conn().await)
        .await
        .unwrap();
    let key = env.parts(id).await.into_iter().find(|p| p.0 == search_part).unwrap().2.unwrap();
    std::fs::remove_file(env.config.data_dir.join("blobs").join(&key)).unwrap();

    // The jobs the downloads queued now run as a server's workers run them.
    let processing = Processing::with_google(
        &env.config.donation,
        env.keyring.clone(),
        Arc::new(fast_client(&env.config)),
        BlobStore::in_data_dir(&env.config.data_dir),
    );
    let registry = Arc::new(steward::cli::registry(&env.config, Arc::new(processing)));
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let workers =
        steward::jobs::Workers::new(env.app.db.pool(), env.app.db.url().to_owned(), registry).count(1).spawn(stopped);
    env.wait_for_status(id, "error", 60).await;
    let _ = stop.send(true);
    let _ = workers.await;

    assert_eq!(env.status(id).await, ("error".into(), "failed".into(), Some("internal".into())));
    assert_eq!(
        env.types(id).await,
        owned(&[("search", "failed", Some("internal")), ("youtube_history", "available", None)])
    );
    let dead: Vec<String> = jobs::table
        .filter(jobs::dedup_key.eq(format!("parse:{search_part}")))
        .select(jobs::state)
        .load(&mut env.app.db.conn().await)
        .await
        .unwrap();
    assert_eq!(dead, ["failed"], "the job is kept dead for inspection");
    let message: Option<String> =
        donations::table.find(id).select(donations::error_message).first(&mut env.app.db.conn().await).await.unwrap();
    assert!(message.unwrap().starts_with("search: internal"), "the researcher reads which type failed and why");
}
