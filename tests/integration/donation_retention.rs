//! Raw archive retention after an error (spec donation.md §5.8): a donation
//! in `error` keeps the blobs of its unparsed parts for a researcher retry
//! for `STEWARD_DONATION_RAW_RETENTION` (72 h by default), then the hourly
//! sweep purges them; a RetryDonation after that downloads the part again
//! from the sandbox Google provider and finishes the donation.

use std::sync::Arc;
use std::time::Duration;

use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use steward::auth::Role;
use steward::config::Config;
use steward::crypto::Keyring;
use steward::db::schema::{archive_parts, donation_events, donations, provider_exports};
use steward::donation::processing::sweep::{self, Swept};
use steward::donation::processing::{self, Authorized, Processing, download, export, finalize, parse, poll};
use steward::proto::donation::v1 as pb;
use steward::proto::donation::v1::donation_service_client::DonationServiceClient;

use crate::common::donation::{self, browser, fast_client, sign_in, tiny};
use crate::common::{TestApp, TestDb, with_bearer};

const YOUTUBE: &str = "myactivity.youtube";

/// Steward in sandbox mode without job workers: the test runs the jobs.
struct Env {
    app: TestApp,
    config: Config,
    keyring: Keyring,
    processing: Processing,
    token: String,
}

/// A part row: (id, state, object key, deleted_at).
type Part = (i64, String, Option<String>, Option<chrono::DateTime<chrono::Utc>>);

impl Env {
    async fn start() -> Env {
        let keyring = Keyring::generate();
        let (app, config) = donation::start_sandbox(TestDb::new().await, &keyring.to_spec(), "0", &[]).await;
        let processing = donation::google_processing(&config, &keyring);
        let token = app.db.token("res@example.org", Some(Role::Researcher)).await;
        Env { app, config, keyring, processing, token }
    }

    async fn grpc(&self) -> DonationServiceClient<tonic::transport::Channel> {
        DonationServiceClient::new(self.app.channel().await)
    }

    /// A youtube_history donation whose part was downloaded but whose parse
    /// ran out of attempts, as the worker gives it up: the donation ends in
    /// `error` (`internal`, which the researcher may retry) with the part's
    /// blob still stored. Returns the donation and part ids.
    async fn failed_with_stored_part(&self) -> (i32, i64) {
        let request = pb::CreateDonationRequest {
            source: pb::DonationSource::GooglePortability.into(),
            requested_data_types: vec!["youtube_history".into()],
            ..Default::default()
        };
        let created = self.grpc().await.create_donation(with_bearer(request, &self.token)).await.unwrap();
        let id = i32::try_from(created.into_inner().donation.unwrap().id).unwrap();
        let tokens = sign_in(&browser(), &self.app.url(), &fast_client(&self.config), &tiny(), &[YOUTUBE]).await;
        let stored = processing::store_grant(&mut *self.conn().await, &self.processing, id, &tokens).await.unwrap();
        assert_eq!(stored, Authorized::Authorized { declined: vec![] });

        export::start_export(&self.processing, &mut *self.conn().await, id, false).await.unwrap();
        for _ in 0..5 {
            if self.export_state(id).await == "complete" {
                break;
            }
            tokio::time::sleep(Duration::from_millis(1100)).await;
            let export_id = self.export_id(id).await;
            poll::poll(&self.processing, &mut *self.conn().await, export_id, false).await.unwrap();
        }
        assert_eq!(self.export_state(id).await, "complete");
        let part = self.parts(id).await[0].0;
        assert!(self.download(part).await);
        parse::give_up(&self.processing, &mut *self.conn().await, part).await.unwrap();
        assert!(finalize::finalize(&mut *self.conn().await, id).await.unwrap());
        assert_eq!(self.status(id).await, ("error".to_owned(), Some("internal".to_owned())));
        let key = self.parts(id).await[0].2.clone().expect("the part keeps its blob for a retry");
        assert!(self.blob_exists(&key));
        (id, part)
    }

    async fn conn(&self) -> steward::db::PooledConn {
        self.app.db.conn().await
    }

    async fn download(&self, part: i64) -> bool {
        download::download(&self.processing, &mut *self.conn().await, part, false).await.unwrap()
    }

    async fn export_id(&self, id: i32) -> i64 {
        provider_exports::table
            .filter(provider_exports::donation_id.eq(id))
            .select(provider_exports::id)
            .first(&mut self.conn().await)
            .await
            .unwrap()
    }

    async fn export_state(&self, id: i32) -> String {
        provider_exports::table
            .filter(provider_exports::donation_id.eq(id))
            .select(provider_exports::state)
            .first(&mut self.conn().await)
            .await
            .unwrap()
    }

    async fn parts(&self, id: i32) -> Vec<Part> {
        archive_parts::table
            .inner_join(provider_exports::table)
            .filter(provider_exports::donation_id.eq(id))
            .order(archive_parts::id)
            .select((archive_parts::id, archive_parts::state, archive_parts::object_key, archive_parts::deleted_at))
            .load(&mut self.conn().await)
            .await
            .unwrap()
    }

    /// (status, error code).
    async fn status(&self, id: i32) -> (String, Option<String>) {
        donations::table
            .find(id)
            .select((donations::status, donations::error_code))
            .first(&mut self.conn().await)
            .await
            .unwrap()
    }

    async fn rows(&self, id: i32) -> i64 {
        donation::rows(&self.app.db, id).await
    }

    async fn downloads(&self, id: i32) -> i64 {
        donation_events::table
            .filter(donation_events::donation_id.eq(id))
            .filter(donation_events::kind.eq("part_downloaded"))
            .count()
            .get_result(&mut self.conn().await)
            .await
            .unwrap()
    }

    fn blob_exists(&self, key: &str) -> bool {
        self.config.data_dir.join("blobs").join(key).exists()
    }

    async fn retry(&self, id: i32) -> pb::Donation {
        let request = pb::RetryDonationRequest { donation_id: i64::from(id) };
        let answer = self.grpc().await.retry_donation(with_bearer(request, &self.token)).await.unwrap();
        answer.into_inner().donation.unwrap()
    }

    async fn sweep(&self) -> Swept {
        sweep::sweep(&self.processing, &mut *self.conn().await, sweep::MIN_AGE).await.unwrap()
    }

    /// Moves the donation's entry into `error` (its `failed` events) `hours` back.
    async fn failed_hours_ago(&self, id: i32, hours: i64) {
        diesel::update(
            donation_events::table
                .filter(donation_events::donation_id.eq(id))
                .filter(donation_events::kind.eq("failed")),
        )
        .set(donation_events::created_at.eq(chrono::Utc::now() - chrono::TimeDelta::hours(hours)))
        .execute(&mut self.conn().await)
        .await
        .unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blobs_of_a_failed_donation_are_purged_after_the_retention_and_a_retry_downloads_them_again() {
    let env = Env::start().await;
    let (failed, part) = env.failed_with_stored_part().await;

    // Failed and retried, now processing with its part downloaded again but not parsed yet.
    let (busy, busy_part) = env.failed_with_stored_part().await;
    assert_eq!(env.retry(busy).await.status(), pb::DonationStatus::Processing);
    assert!(env.download(busy_part).await);
    let busy_key = env.parts(busy).await[0].2.clone().unwrap();

    // Failed, retried and processed: its part was parsed and its blob deleted then.
    let (done, done_part) = env.failed_with_stored_part().await;
    env.retry(done).await;
    assert!(env.download(done_part).await);
    assert!(parse::parse(&env.processing, &mut *env.conn().await, env.app.db.url(), done_part).await.unwrap());
    assert!(finalize::finalize(&mut *env.conn().await, done).await.unwrap());
    assert_eq!(env.status(done).await.0, "processed");
    let done_parts = env.parts(done).await;
    assert!(done_parts[0].3.is_some());

    // Within the retention (72 h by default) the failed donation's blob stays.
    assert_eq!(env.sweep().await, Swept::default());
    let key = env.parts(failed).await[0].2.clone().unwrap();
    assert!(env.blob_exists(&key));
    assert_eq!(env.parts(failed).await[0].3, None);

    // 73 hours after each entered `error`: only the donation still in `error` loses its blob.
    for id in [failed, busy, done] {
        env.failed_hours_ago(id, 73).await;
    }
    assert_eq!(env.sweep().await, Swept { retention_blobs: 1, ..Swept::default() });
    assert!(!env.blob_exists(&key), "the raw archive is gone from the blob store");
    let swept = &env.parts(failed).await[0];
    assert_eq!((swept.0, swept.2.as_deref()), (part, Some(key.as_str())));
    assert!(swept.3.is_some(), "the part row records the deletion");
    assert!(env.blob_exists(&busy_key), "a processing donation's part is needed for its parse");
    assert_eq!(env.parts(busy).await[0].3, None);
    assert_eq!(env.parts(done).await, done_parts, "a processed donation's parts are untouched");
    assert_eq!(env.rows(done).await, 5);
    assert_eq!(env.sweep().await, Swept::default(), "nothing is swept twice");

    // A retry downloads the part again and the workers take the donation to `processed`.
    let downloaded = env.downloads(failed).await;
    assert_eq!(env.retry(failed).await.status(), pb::DonationStatus::Processing);
    let registry =
        Arc::new(steward::cli::registry(&env.config, Arc::new(donation::google_processing(&env.config, &env.keyring))));
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let workers =
        steward::jobs::Workers::new(env.app.db.pool(), env.app.db.url().to_owned(), registry).count(1).spawn(stopped);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while env.status(failed).await.0 != "processed" {
        assert!(tokio::time::Instant::now() < deadline, "still {:?}", env.status(failed).await);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let _ = stop.send(true);
    let _ = workers.await;
    assert_eq!(env.downloads(failed).await, downloaded + 1, "the swept part was downloaded again");
    assert_eq!(env.rows(failed).await, 5, "the tiny persona's five records");
    let request = pb::GetDonationRequest { donation_id: i64::from(failed) };
    let donation = env.grpc().await.get_donation(with_bearer(request, &env.token)).await.unwrap().into_inner();
    let youtube = &donation.donation.unwrap().data_types["youtube_history"];
    assert_eq!((youtube.state(), youtube.rows), (pb::DataTypeState::Available, 5));
}
