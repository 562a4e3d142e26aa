//! The participant RPCs (spec donation.md §2.9, §3.1, §3.5, §3.6) and
//! deletion with provider release (§2.6, §5.10) against the real server, its
//! own job workers and the sandbox Google provider. A participant is a
//! `steward_visit` cookie holding donations; tokens come from the sandbox's
//! consent screen, submitted as a browser would.

use std::sync::Arc;
use std::time::Duration;

use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use steward::auth::Role;
use steward::blobs::BlobStore;
use steward::config::Config;
use steward::crypto::Keyring;
use steward::db::schema::{audit_log, donations, provider_grants, provider_releases};
use steward::donation::google::GoogleClient;
use steward::donation::participant::{identity, visit};
use steward::donation::processing::{self, Authorized, Processing};
use steward::donation::provider::{PortabilityProvider as _, pkce_challenge};
use steward::proto::donation::v1 as pb;
use steward::proto::donation::v1::donation_service_client::DonationServiceClient;
use tonic::Code;
use tonic::transport::Channel;

use crate::common::donation::{self, hidden_inputs};
use crate::common::{TestApp, TestDb, with_bearer, with_header};

const YOUTUBE: &str = "youtube_history";

/// Steward in sandbox mode with its own workers, tiny archives and a
/// one-second poll schedule.
struct Env {
    app: TestApp,
    config: Config,
    keyring: Keyring,
    processing: Processing,
    researcher: String,
}

impl Env {
    async fn start() -> Env {
        let keyring = Keyring::generate();
        let spec = keyring.to_spec();
        let vars = [
            ("STEWARD_ENCRYPTION_KEYS", spec.as_str()),
            ("STEWARD_WORKERS", "2"),
            ("STEWARD_DONATION_POLL_SCHEDULE", "1s"),
            ("STEWARD_SANDBOX_DEFAULT_SCENARIO", "persona=tiny"),
        ];
        let (app, config) = TestApp::start_with(TestDb::new().await, &vars).await;
        let google = Arc::new(GoogleClient::new(&config.donation.google).unwrap());
        let blobs = BlobStore::in_data_dir(&config.data_dir);
        let processing = Processing::with_google(&config.donation, keyring.clone(), google, blobs);
        let researcher = app.db.token("res@example.org", Some(Role::Researcher)).await;
        Env { app, config, keyring, processing, researcher }
    }

    async fn client(&self) -> DonationServiceClient<Channel> {
        DonationServiceClient::new(self.app.channel().await)
    }

    /// A new YouTube donation; its id.
    async fn donation(&self) -> i32 {
        let request = pb::CreateDonationRequest {
            source: pb::DonationSource::GooglePortability.into(),
            requested_data_types: vec![YOUTUBE.into()],
            ..Default::default()
        };
        let created = self.client().await.create_donation(with_bearer(request, &self.researcher)).await.unwrap();
        created.into_inner().donation.unwrap().id as i32
    }

    /// A new donation whose participant signed in at the sandbox with the
    /// staged `failure` (none when empty); the server's workers take it from there.
    async fn authorized(&self, failure: &str) -> i32 {
        let id = self.donation().await;
        let mut conn = self.app.db.conn().await;
        diesel::update(donations::table.find(id))
            .set(donations::stage.eq("terms_accepted"))
            .execute(&mut conn)
            .await
            .unwrap();
        let tokens = self.sign_in(&["myactivity.youtube"], failure).await;
        let stored = processing::store_grant(&mut conn, &self.processing, id, &tokens).await.unwrap();
        assert_eq!(stored, Authorized::Authorized { declined: vec![] });
        id
    }

    /// Consents at the sandbox for `groups` with the staged `failure` (none
    /// when empty) as a browser would, and exchanges the code.
    async fn sign_in(&self, groups: &[&str], failure: &str) -> steward::donation::provider::TokenGrant {
        let client = GoogleClient::new(&self.config.donation.google).unwrap();
        let verifier = "v".repeat(43);
        let url = client.authorize_url("state-of-this-test", &pkce_challenge(&verifier), groups);
        let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
        let page = http.get(&url).send().await.unwrap().text().await.unwrap();
        let mut form = hidden_inputs(&page);
        form.extend(groups.iter().map(|g| ("grant".to_owned(), (*g).to_owned())));
        if !failure.is_empty() {
            form.push(("failure".into(), failure.into()));
        }
        form.push(("decision".into(), "allow".into()));
        let answer = http
            .post(format!("{}/sandbox/google/o/oauth2/v2/auth/decision", self.app.url()))
            .form(&form)
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), 302);
        let location = reqwest::Url::parse(answer.headers()["location"].to_str().unwrap()).unwrap();
        let code = location.query_pairs().find(|(k, _)| k == "code").expect("a code").1.into_owned();
        client.exchange_code(&code, &verifier).await.unwrap()
    }

    /// A visit holding `donations`; its cookie header value.
    async fn visit(&self, donations: &[i32]) -> String {
        let mut conn = self.app.db.conn().await;
        let (visit, value) =
            visit::open(&mut conn, Duration::from_secs(3600), Duration::from_secs(86400)).await.unwrap();
        for id in donations {
            visit::add_donation(&mut conn, &visit, *id).await.unwrap();
        }
        format!("{}={value}", visit::COOKIE)
    }

    async fn stage(&self, id: i32) -> Option<String> {
        donations::table
            .find(id)
            .select(donations::stage)
            .first(&mut self.app.db.conn().await)
            .await
            .optional()
            .unwrap()
    }

    /// Waits (up to a minute) until `check` holds.
    async fn until<F: AsyncFn() -> bool>(&self, what: &str, check: F) {
        for _ in 0..600 {
            if check().await {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("timed out waiting until {what}");
    }

    /// The sandbox calls to `path` so far.
    async fn calls_to(&self, path_end: &str) -> usize {
        let calls: serde_json::Value = serde_json::from_slice(
            &reqwest::get(format!("{}/sandbox/_calls?since=0", self.app.url())).await.unwrap().bytes().await.unwrap(),
        )
        .unwrap();
        let calls = calls.as_array().or_else(|| calls["calls"].as_array()).expect("a call list").clone();
        calls.iter().filter(|c| c["path"].as_str().is_some_and(|p| p.ends_with(path_end))).count()
    }

    /// (state, tokens still sealed there) of the release record of `id`.
    async fn release(&self, id: i32) -> Option<(String, bool)> {
        provider_releases::table
            .filter(provider_releases::donation_id.eq(id))
            .select((provider_releases::state, provider_releases::access_token_sealed.is_not_null()))
            .first(&mut self.app.db.conn().await)
            .await
            .optional()
            .unwrap()
    }
}

fn cookie<T>(message: T, cookie: &str) -> tonic::Request<T> {
    with_header(message, "cookie", cookie)
}

/// A request carrying `metadata`.
fn with<T>(message: T, metadata: &tonic::metadata::MetadataMap) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    *request.metadata_mut() = metadata.clone();
    request
}

fn code_of<R>(answer: Result<tonic::Response<R>, tonic::Status>) -> Code {
    answer.err().map_or(Code::Ok, |s| s.code())
}

/// Every participant RPC on donation `id` with `metadata`; their codes.
async fn codes(env: &Env, id: i64, metadata: &tonic::metadata::MetadataMap) -> Vec<(&'static str, Code)> {
    let mut client = env.client().await;
    let query = pb::QueryMyDonationDataRequest { donation_id: id, data_type: YOUTUBE.into(), ..Default::default() };
    vec![
        ("get", code_of(client.get_my_donation(with(pb::GetMyDonationRequest { donation_id: id }, metadata)).await)),
        (
            "watch",
            code_of(client.watch_my_donation(with(pb::WatchMyDonationRequest { donation_id: id }, metadata)).await),
        ),
        ("query", code_of(client.query_my_donation_data(with(query, metadata)).await)),
        (
            "link",
            code_of(
                client
                    .create_participant_link(with(pb::CreateParticipantLinkRequest { donation_id: id }, metadata))
                    .await,
            ),
        ),
        (
            "delete",
            code_of(client.delete_my_donation(with(pb::DeleteMyDonationRequest { donation_id: id }, metadata)).await),
        ),
    ]
}

#[tokio::test]
async fn participant_rpcs_answer_only_for_the_visits_donations() {
    let env = Env::start().await;
    let (mine, other) = (env.donation().await, env.donation().await);
    let visit = env.visit(&[mine]).await;
    let researcher = format!("Bearer {}", env.researcher);

    // No cookie, a researcher's token, or an unknown visit: UNAUTHENTICATED.
    for (what, add) in [
        ("no credential", None),
        ("researcher token", Some(("authorization", researcher.as_str()))),
        ("unknown visit", Some(("cookie", "steward_visit=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"))),
    ] {
        let mut metadata = tonic::metadata::MetadataMap::new();
        if let Some((name, value)) = add {
            metadata.insert(name, value.parse().unwrap());
        }
        let answered = codes(&env, i64::from(mine), &metadata).await;
        assert!(answered.iter().all(|(_, c)| *c == Code::Unauthenticated), "{what}: {answered:?}");
        let list = with(pb::ListMyDonationsRequest {}, &metadata);
        let listed = env.client().await.list_my_donations(list).await;
        assert_eq!(listed.unwrap_err().code(), Code::Unauthenticated, "{what}");
    }

    // Another donation, or one that does not exist: NOT_FOUND, nothing deleted.
    for id in [other, 999_999] {
        let mut metadata = tonic::metadata::MetadataMap::new();
        metadata.insert("cookie", visit.parse().unwrap());
        let answered = codes(&env, i64::from(id), &metadata).await;
        assert!(answered.iter().all(|(_, c)| *c == Code::NotFound), "donation {id}: {answered:?}");
    }
    assert!(env.stage(other).await.is_some(), "a refused delete deletes nothing");

    // The visit opens no researcher RPC.
    let refused =
        env.client().await.get_donation(cookie(pb::GetDonationRequest { donation_id: mine.into() }, &visit)).await;
    assert_eq!(refused.unwrap_err().code(), Code::Unauthenticated);
    let refused = env
        .client()
        .await
        .delete_donation(cookie(pb::DeleteDonationRequest { donation_id: mine.into() }, &visit))
        .await;
    assert_eq!(refused.unwrap_err().code(), Code::Unauthenticated);

    // Its own donation: the participant's view, without the dataset.
    let mut client = env.client().await;
    let got = client.get_my_donation(cookie(pb::GetMyDonationRequest { donation_id: mine.into() }, &visit)).await;
    let got = got.unwrap().into_inner().donation.unwrap();
    assert_eq!(
        (got.id, got.requested_data_types.clone(), got.dataset.as_str()),
        (i64::from(mine), vec![YOUTUBE.to_owned()], "")
    );
    assert_eq!(got.stage(), pb::DonationStage::Created);
    let listed = client.list_my_donations(cookie(pb::ListMyDonationsRequest {}, &visit)).await.unwrap().into_inner();
    assert_eq!(listed.donations.iter().map(|d| d.id).collect::<Vec<_>>(), vec![i64::from(mine)]);

    // Nothing available yet: no rows, and the usual validation.
    let query = |data_type: &str, page_size| pb::QueryMyDonationDataRequest {
        donation_id: mine.into(),
        data_type: data_type.into(),
        page_size,
        ..Default::default()
    };
    let empty = client.query_my_donation_data(cookie(query(YOUTUBE, 0), &visit)).await.unwrap().into_inner();
    assert_eq!((empty.rows.len(), empty.total_count, empty.next_page_token.as_str()), (0, 0, ""));
    let missing = client.query_my_donation_data(cookie(query("", 0), &visit)).await.unwrap_err();
    assert_eq!(missing.code(), Code::InvalidArgument);
    assert!(missing.message().contains("data_type"), "{}", missing.message());

    // A new participant link: shown once, its participant owns the donation,
    // and this visit keeps the donation.
    let link = client
        .create_participant_link(cookie(pb::CreateParticipantLinkRequest { donation_id: mine.into() }, &visit))
        .await
        .unwrap()
        .into_inner()
        .participant_url;
    let prefix = format!("{}/participant/", env.config.public_url.trim_end_matches('/'));
    assert!(link.starts_with(&prefix) && link.ends_with('/'), "{link}");
    let mut conn = env.app.db.conn().await;
    let participant = identity::find_by_token(&mut conn, &link).await.unwrap().expect("the link's participant");
    assert_eq!(identity::donations_of(&mut conn, participant).await.unwrap(), vec![mine]);
    let token = link.trim_end_matches('/').rsplit('/').next().unwrap();
    assert_eq!(identity::find_by_token(&mut conn, token).await.unwrap(), Some(participant));
    let stored: Vec<Vec<u8>> = steward::db::schema::participants::table
        .select(steward::db::schema::participants::token_hash)
        .load(&mut conn)
        .await
        .unwrap();
    assert!(stored.iter().all(|h| h.len() == 32 && h != token.as_bytes()), "only the hash is stored");
    client.get_my_donation(cookie(pb::GetMyDonationRequest { donation_id: mine.into() }, &visit)).await.unwrap();

    // A second link moves only this donation; the first participant keeps the rest.
    let elsewhere = env.donation().await;
    identity::link(&mut conn, elsewhere, participant).await.unwrap();
    let second = client
        .create_participant_link(cookie(pb::CreateParticipantLinkRequest { donation_id: mine.into() }, &visit))
        .await
        .unwrap()
        .into_inner()
        .participant_url;
    assert_ne!(second, link);
    assert_eq!(identity::donations_of(&mut conn, participant).await.unwrap(), vec![elsewhere]);
    let new = identity::find_by_token(&mut conn, &second).await.unwrap().unwrap();
    assert_eq!(identity::donations_of(&mut conn, new).await.unwrap(), vec![mine]);

    // Deleting a donation nobody signed in for: no provider access was held.
    let deleted =
        client.delete_my_donation(cookie(pb::DeleteMyDonationRequest { donation_id: mine.into() }, &visit)).await;
    assert_eq!(deleted.unwrap().into_inner().provider_access, "not_held");
    assert_eq!(env.stage(mine).await, None);
    let again = client.get_my_donation(cookie(pb::GetMyDonationRequest { donation_id: mine.into() }, &visit)).await;
    assert_eq!(again.unwrap_err().code(), Code::NotFound);
}

#[tokio::test]
async fn a_participant_watches_processing_reads_the_rows_and_deletes_everything() {
    let env = Env::start().await;
    let id = env.donation().await;
    let visit = env.visit(&[id]).await;
    let mut client = env.client().await;
    let mut watch = client
        .watch_my_donation(cookie(pb::WatchMyDonationRequest { donation_id: id.into() }, &visit))
        .await
        .unwrap()
        .into_inner();
    let first = tokio::time::timeout(Duration::from_secs(5), watch.message()).await.unwrap().unwrap().unwrap();
    assert_eq!(first.donation.unwrap().stage(), pb::DonationStage::Created, "the current state comes at once");

    // The participant signs in; the server's workers process the donation.
    // Every change reaches the watch without polling, until `done`.
    let mut conn = env.app.db.conn().await;
    diesel::update(donations::table.find(id))
        .set(donations::stage.eq("terms_accepted"))
        .execute(&mut conn)
        .await
        .unwrap();
    let changed = tokio::time::timeout(Duration::from_secs(2), watch.message()).await;
    assert_eq!(changed.unwrap().unwrap().unwrap().donation.unwrap().stage(), pb::DonationStage::TermsAccepted);
    let tokens = env.sign_in(&["myactivity.youtube"], "").await;
    processing::store_grant(&mut conn, &env.processing, id, &tokens).await.unwrap();
    let mut stages = Vec::new();
    let watched = tokio::time::timeout(Duration::from_secs(60), async {
        loop {
            let message = watch.message().await.unwrap().expect("the watch stays open");
            let Some(donation) = message.donation else { continue };
            stages.push(donation.stage());
            if donation.stage() == pb::DonationStage::Done {
                return donation;
            }
        }
    })
    .await;
    let Ok(done) = watched else {
        panic!("not done; stages seen: {stages:?}; in the database: {:?}", env.stage(id).await);
    };
    assert!(stages.contains(&pb::DonationStage::Authorized), "{stages:?}");
    let rows = done.data_types[YOUTUBE].rows;
    assert!(rows >= 2, "the tiny persona has YouTube rows: {rows}");
    assert_eq!(done.data_types[YOUTUBE].state(), pb::DataTypeState::Available);

    // The rows, 50 a page by default, in pages that visit each row once.
    let query = |page_size, page_token: &str| pb::QueryMyDonationDataRequest {
        donation_id: id.into(),
        data_type: YOUTUBE.into(),
        page_size,
        page_token: page_token.into(),
        ..Default::default()
    };
    let all = client.query_my_donation_data(cookie(query(0, ""), &visit)).await.unwrap().into_inner();
    assert_eq!((all.total_count, all.rows.len() as i64, all.next_page_token.as_str()), (rows, rows, ""));
    let capped = client.query_my_donation_data(cookie(query(100_000, ""), &visit)).await.unwrap().into_inner();
    assert_eq!(capped.rows, all.rows, "page sizes above 200 are capped, not refused");
    let mut paged = Vec::new();
    let mut token = String::new();
    loop {
        let page = client.query_my_donation_data(cookie(query(1, &token), &visit)).await.unwrap().into_inner();
        paged.extend(page.rows);
        token = page.next_page_token;
        if token.is_empty() {
            break;
        }
    }
    assert_eq!(paged, all.rows);
    let researcher_rows = client
        .query_donation_data(with_bearer(
            pb::QueryDonationDataRequest { donation_id: id.into(), data_type: YOUTUBE.into(), ..Default::default() },
            &env.researcher,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(researcher_rows.rows, all.rows, "the researcher API's row shape");
    let mut bad = query(1, &token);
    bad.page_token =
        client.query_my_donation_data(cookie(query(1, ""), &visit)).await.unwrap().into_inner().next_page_token;
    bad.start_date = "2020-01-01".into();
    let refused = client.query_my_donation_data(cookie(bad, &visit)).await.unwrap_err();
    assert_eq!(refused.code(), Code::InvalidArgument, "a page token of another filter");

    // Steward still holds the grant unless it released it after completion;
    // a blob is left over as from a retained raw part.
    let held: bool = provider_grants::table
        .filter(provider_grants::donation_id.eq(id))
        .filter(provider_grants::released_at.is_null())
        .count()
        .get_result::<i64>(&mut conn)
        .await
        .unwrap()
        > 0;
    let resets_before = env.calls_to("authorization:reset").await;
    let blob_dir = env.config.data_dir.join("blobs").join("donations").join(id.to_string());
    std::fs::create_dir_all(blob_dir.join("parts")).unwrap();
    std::fs::write(blob_dir.join("parts").join("leftover"), b"sealed bytes").unwrap();

    let deleted =
        client.delete_my_donation(cookie(pb::DeleteMyDonationRequest { donation_id: id.into() }, &visit)).await;
    let access = deleted.unwrap().into_inner().provider_access;
    let grants: i64 =
        provider_grants::table.filter(provider_grants::donation_id.eq(id)).count().get_result(&mut conn).await.unwrap();
    assert_eq!(grants, 0, "the grant went with the donation");
    if held {
        assert_eq!(access, "released", "the sandbox answers at once, within the 5 s wait");
        assert_eq!(env.release(id).await, Some(("released".to_owned(), false)), "released, its tokens destroyed");
        assert_eq!(env.calls_to("authorization:reset").await, resets_before + 1);
    } else {
        // Released after completion (spec §5.10 step 5); the deletion reports
        // that release, waiting for it if it had not run yet.
        assert_eq!(access, "released");
        assert_eq!(env.release(id).await, Some(("released".to_owned(), false)));
        assert_eq!(env.calls_to("authorization:reset").await, 1, "one reset, after completion");
    }

    // The watch ends with the deletion; the donation is gone for everyone.
    let ended = tokio::time::timeout(Duration::from_secs(5), async {
        while let Some(message) = watch.message().await.unwrap() {
            assert!(message.donation.is_none_or(|d| d.id == i64::from(id)));
        }
    })
    .await;
    assert!(ended.is_ok(), "the watch ends when the donation is deleted");
    let gone = client
        .get_donation(with_bearer(pb::GetDonationRequest { donation_id: id.into() }, &env.researcher))
        .await
        .unwrap_err();
    assert_eq!(gone.code(), Code::NotFound);
    let again = client.get_my_donation(cookie(pb::GetMyDonationRequest { donation_id: id.into() }, &visit)).await;
    assert_eq!(again.unwrap_err().code(), Code::NotFound);

    // The purge job removes the rows and blobs.
    env.until("the rows are purged", async || donation::rows(&env.app.db, id).await == 0).await;
    env.until("the blobs are purged", async || !blob_dir.join("parts").join("leftover").exists()).await;

    // The audit record: who and how much, without tokens, participant or data.
    let (before, after): (Option<serde_json::Value>, Option<serde_json::Value>) = audit_log::table
        .filter(audit_log::action.eq("donation_deleted"))
        .filter(audit_log::target_id.eq(id.to_string()))
        .select((audit_log::before_state, audit_log::after_state))
        .first(&mut conn)
        .await
        .unwrap();
    let after = after.unwrap();
    assert_eq!(after["actor_kind"], "participant");
    assert_eq!(after["rows"], rows);
    // At deletion a held grant is still to be released; one released after
    // completion is `released`, or `pending` if its job had not run yet.
    let recorded = after["provider_access"].as_str().unwrap();
    if held {
        assert_eq!(recorded, "pending");
    } else {
        assert!(["pending", "released"].contains(&recorded), "{recorded}");
    }
    let text = format!("{before:?}{after}");
    assert!(!text.contains("participant_id") && !text.contains("token"), "{text}");
}

#[tokio::test]
async fn a_researcher_deleting_a_processing_donation_cancels_its_export_and_releases_access() {
    let env = Env::start().await;
    let id = env.authorized("never_ready").await;
    env.until("the export is running at Google", async || {
        env.stage(id).await.is_some_and(|s| s == "export_requested" || s == "waiting_for_provider")
    })
    .await;
    let mut client = env.client().await;
    client
        .delete_donation(with_bearer(pb::DeleteDonationRequest { donation_id: id.into() }, &env.researcher))
        .await
        .unwrap();
    let gone = client
        .get_donation(with_bearer(pb::GetDonationRequest { donation_id: id.into() }, &env.researcher))
        .await
        .unwrap_err();
    assert_eq!(gone.code(), Code::NotFound);
    env.until("access is released", async || env.release(id).await.is_some_and(|(s, _)| s == "released")).await;
    assert_eq!(env.release(id).await, Some(("released".to_owned(), false)), "its tokens destroyed");
    assert_eq!(env.calls_to(":cancel").await, 1, "the running export was cancelled");
    assert_eq!(env.calls_to("authorization:reset").await, 1);

    let mut conn = env.app.db.conn().await;
    let deleted: Option<serde_json::Value> = audit_log::table
        .filter(audit_log::action.eq("donation_deleted"))
        .filter(audit_log::target_id.eq(id.to_string()))
        .select(audit_log::after_state)
        .first(&mut conn)
        .await
        .unwrap();
    let deleted = deleted.unwrap();
    assert_eq!(
        (deleted["actor_kind"].as_str(), deleted["provider_access"].as_str()),
        (Some("researcher"), Some("pending"))
    );
    let released: Vec<Option<serde_json::Value>> = audit_log::table
        .filter(audit_log::action.eq("provider_access_released"))
        .filter(audit_log::target_id.eq(id.to_string()))
        .select(audit_log::after_state)
        .load(&mut conn)
        .await
        .unwrap();
    assert_eq!(released.len(), 1);
    assert_eq!(released[0].as_ref().unwrap()["how"], "reset");
}

#[tokio::test]
async fn a_failed_release_is_retried_and_the_participant_hears_it_is_pending() {
    let env = Env::start().await;
    let id = env.donation().await;
    // A grant stored as a sign-in stores it, without starting the export, so
    // the resets are the grant's first API calls: the first attempt's three
    // (the client repeats a 503 twice in place) meet the staged 503s.
    let tokens = env.sign_in(&["myactivity.youtube"], "server_error:n=3").await;
    let seal = |token: &str, kind: &str| {
        env.keyring.seal(token.as_bytes(), format!("steward.donation.grant.v1\0{id}\0{kind}").as_bytes())
    };
    let refresh = tokens.refresh_token.as_ref().unwrap().expose().to_owned();
    diesel::insert_into(provider_grants::table)
        .values((
            provider_grants::donation_id.eq(id),
            provider_grants::provider.eq("google_portability"),
            provider_grants::key_id.eq(env.keyring.current_key_id()),
            provider_grants::access_token_sealed.eq(seal(tokens.access_token.expose(), "access")),
            provider_grants::access_expires_at.eq(chrono::Utc::now() + chrono::TimeDelta::hours(1)),
            provider_grants::refresh_token_sealed.eq(Some(seal(&refresh, "refresh"))),
        ))
        .execute(&mut env.app.db.conn().await)
        .await
        .unwrap();
    let visit = env.visit(&[id]).await;
    let started = std::time::Instant::now();
    let deleted = env
        .client()
        .await
        .delete_my_donation(cookie(pb::DeleteMyDonationRequest { donation_id: id.into() }, &visit))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(deleted.provider_access, "pending", "the first attempt met 503s");
    assert!(started.elapsed() < Duration::from_secs(6), "the deletion waits at most 5 s for the release");
    assert_eq!(env.stage(id).await, None, "deleted locally at once");
    env.until("the retry releases access", async || env.release(id).await.is_some_and(|(s, _)| s == "released")).await;
    assert_eq!(env.calls_to("authorization:reset").await, 4);
    let (attempts, last_error): (i32, Option<String>) = provider_releases::table
        .filter(provider_releases::donation_id.eq(id))
        .select((provider_releases::attempts, provider_releases::last_error))
        .first(&mut env.app.db.conn().await)
        .await
        .unwrap();
    assert_eq!((attempts, last_error), (2, None));
}

#[tokio::test]
async fn the_status_page_script_watches_over_grpc_web_with_the_visit_cookie() {
    use prost::Message as _;
    let env = Env::start().await;
    let id = env.donation().await;
    let visit = env.visit(&[id]).await;

    // The bundle the status page loads.
    let script = reqwest::get(format!("{}/static/donate.js", env.app.url())).await.unwrap();
    assert_eq!(script.status(), 200);
    assert!(script.headers()["content-type"].to_str().unwrap().starts_with("text/javascript"));
    let committed = std::fs::read(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("clients/web/dist/donate.js"));
    assert!(script.bytes().await.unwrap() == committed.unwrap(), "the served bundle is clients/web/dist/donate.js");

    // WatchMyDonation as the browser calls it: gRPC-web over HTTP/1.1, the cookie as credential.
    let message = pb::WatchMyDonationRequest { donation_id: id.into() }.encode_to_vec();
    let mut body = vec![0u8];
    body.extend_from_slice(&u32::try_from(message.len()).unwrap().to_be_bytes());
    body.extend_from_slice(&message);
    let mut response = reqwest::Client::new()
        .post(format!("{}/steward.donation.v1.DonationService/WatchMyDonation", env.app.url()))
        .header("content-type", "application/grpc-web+proto")
        .header("x-grpc-web", "1")
        .header("cookie", &visit)
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let mut buffer = Vec::new();
    let mut next = async || -> pb::WatchMyDonationResponse {
        loop {
            if buffer.len() >= 5 {
                let len = u32::from_be_bytes(buffer[1..5].try_into().unwrap()) as usize;
                if buffer.len() >= 5 + len {
                    assert_eq!(buffer[0], 0, "a message frame, not trailers: {:?}", String::from_utf8_lossy(&buffer));
                    let frame: Vec<u8> = buffer.drain(..5 + len).collect();
                    return pb::WatchMyDonationResponse::decode(&frame[5..]).unwrap();
                }
            }
            let chunk = response.chunk().await.unwrap().expect("the stream stays open");
            buffer.extend_from_slice(&chunk);
        }
    };
    let first = tokio::time::timeout(Duration::from_secs(5), next()).await.unwrap();
    assert_eq!(first.donation.unwrap().stage(), pb::DonationStage::Created);
    diesel::update(donations::table.find(id))
        .set(donations::stage.eq("link_opened"))
        .execute(&mut env.app.db.conn().await)
        .await
        .unwrap();
    let changed = tokio::time::timeout(Duration::from_secs(2), next()).await.expect("a change within 2 s");
    assert_eq!(changed.donation.unwrap().stage(), pb::DonationStage::LinkOpened);

    // A second watch shares the process's one listening connection.
    let mut client = env.client().await;
    let mut second = client
        .watch_my_donation(cookie(pb::WatchMyDonationRequest { donation_id: id.into() }, &visit))
        .await
        .unwrap()
        .into_inner();
    second.message().await.unwrap().unwrap();
    let listeners: i64 = diesel::sql_query(
        "SELECT count(*) AS n FROM pg_stat_activity WHERE datname = current_database() AND query = 'LISTEN donation_changed'",
    )
    .get_result::<Count>(&mut env.app.db.conn().await)
    .await
    .unwrap()
    .n;
    assert_eq!(listeners, 1);
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    n: i64,
}
