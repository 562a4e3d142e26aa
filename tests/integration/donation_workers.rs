//! Donation processing by real `steward worker` processes (spec donation.md
//! §5.1, §5.3; design §5 scale-out): one in-process server serves the API and
//! the sandbox Google provider with no workers of its own, and the jobs run
//! in `steward worker` child processes over the same database, data
//! directory and keys. Two workers share the queue without doing any step
//! twice; a worker killed with SIGKILL mid-download or mid-parse loses its
//! lease, and the next worker finishes the job with every row stored once.
//!
//! The helpers here ([`Deployment`]) are shared with `donation_faults`.

use std::io::BufRead as _;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use steward::auth::Role;
use steward::config::Config;
use steward::crypto::Keyring;
use steward::db::schema::{archive_parts, jobs, parse_progress, provider_exports, sandbox_calls, sandbox_jobs};
use steward::donation::processing::{self, Authorized, Processing};
use steward::donation::sandbox::{Failure, Persona, Scenario};
use steward::proto::donation::v1 as pb;
use steward::proto::donation::v1::donation_service_client::DonationServiceClient;
use tokio::time::Instant;

use crate::common::donation::{self, browser, fast_client, sign_in, tiny};
use crate::common::{TestApp, TestDb, with_bearer};

pub(crate) const YOUTUBE: &str = "myactivity.youtube";
pub(crate) const SEARCH: &str = "myactivity.search";

/// A test server over a fresh database with the sandbox providers, a
/// one-second poll schedule and `extra` settings, and a researcher.
pub(crate) struct Deployment {
    pub app: TestApp,
    pub config: Config,
    pub keyring: Keyring,
    /// Stores sign-ins as the OAuth callback does; runs single steps for a test.
    pub processing: Processing,
    http: reqwest::Client,
    /// The researcher's API token.
    pub researcher: String,
}

impl Deployment {
    /// `STEWARD_WORKERS` is 0 unless `extra` says otherwise.
    pub async fn start(extra: &[(&str, &str)]) -> Deployment {
        let keyring = Keyring::generate();
        let (app, config) = donation::start_sandbox(TestDb::new().await, &keyring.to_spec(), "0", extra).await;
        let processing = donation::google_processing(&config, &keyring);
        let researcher = app.db.token("researcher@example.org", Some(Role::Researcher)).await;
        Deployment { app, config, keyring, processing, http: browser(), researcher }
    }

    pub async fn grpc(&self) -> DonationServiceClient<tonic::transport::Channel> {
        DonationServiceClient::new(self.app.channel().await)
    }

    /// Creates a Google donation of `types` over gRPC; returns its id.
    pub async fn create(&self, types: &[&str]) -> i32 {
        let request = pb::CreateDonationRequest {
            source: pb::DonationSource::GooglePortability.into(),
            requested_data_types: types.iter().map(|t| (*t).to_owned()).collect(),
            description: "robustness".into(),
            ..Default::default()
        };
        let created =
            self.grpc().await.create_donation(with_bearer(request, &self.researcher)).await.unwrap().into_inner();
        i32::try_from(created.donation.unwrap().id).unwrap()
    }

    /// Consents at the sandbox with `scenario` for `groups` and stores the
    /// grant as the OAuth callback does (which enqueues `start_export`).
    pub async fn sign_in(&self, id: i32, scenario: &Scenario, groups: &[&str]) {
        let tokens = sign_in(&self.http, &self.app.url(), &fast_client(&self.config), scenario, groups).await;
        let mut conn = self.app.db.conn().await;
        let stored = processing::store_grant(&mut conn, &self.processing, id, &tokens).await.unwrap();
        assert_eq!(stored, Authorized::Authorized { declined: vec![] });
    }

    /// GetDonation as the researcher.
    pub async fn get(&self, id: i32) -> pb::Donation {
        let request = pb::GetDonationRequest { donation_id: i64::from(id) };
        let answer = self.grpc().await.get_donation(with_bearer(request, &self.researcher)).await.unwrap();
        answer.into_inner().donation.unwrap()
    }

    /// RetryDonation as the researcher.
    pub async fn retry(&self, id: i32) -> Result<pb::Donation, tonic::Status> {
        let request = pb::RetryDonationRequest { donation_id: i64::from(id) };
        let answer = self.grpc().await.retry_donation(with_bearer(request, &self.researcher)).await?;
        Ok(answer.into_inner().donation.unwrap())
    }

    /// Every row of `data_type` through QueryDonationData, as JSON text, 1000 at a time.
    pub async fn query(&self, id: i32, data_type: &str) -> Vec<String> {
        let rows = donation::query_rows(self.app.channel().await, &self.researcher, id, data_type).await;
        rows.iter().map(|r| format!("{r:?}")).collect()
    }

    /// (status, stage, error_code).
    pub async fn status(&self, id: i32) -> (String, String, Option<String>) {
        donation::status(&self.app.db, id).await
    }

    /// Waits (at most `secs`) until the donation has `status`, failing at
    /// once on another final status.
    pub async fn wait_for_status(&self, id: i32, status: &str, secs: u64) {
        donation::wait_for_status(&self.app.db, id, status, secs).await
    }

    /// Waits (at most `secs`) until `done` holds, saying `what` otherwise.
    pub async fn until(&self, what: &str, secs: u64, mut done: impl AsyncFnMut() -> bool) {
        let deadline = Instant::now() + Duration::from_secs(secs);
        while !done().await {
            assert!(Instant::now() < deadline, "{what} did not happen within {secs} s");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// (kind, failed-for-good error) of every dead job.
    pub async fn failed_jobs(&self) -> Vec<(String, Option<String>)> {
        donation::failed_jobs(&self.app.db).await
    }

    /// (kind, detail) of the donation's events, oldest first.
    pub async fn events(&self, id: i32) -> Vec<(String, serde_json::Value)> {
        donation::events(&self.app.db, id).await
    }

    /// How many events of `kind` the donation has.
    pub async fn count_events(&self, id: i32, kind: &str) -> usize {
        self.events(id).await.iter().filter(|e| e.0 == kind).count()
    }

    /// (type, rows stored) of `id`, by type.
    pub async fn row_counts(&self, id: i32) -> Vec<(String, i64)> {
        donation::row_counts(&self.app.db, id).await
    }

    /// The in-window records of `types` the sandbox generated for the exports of `id`, by type.
    pub async fn manifest(&self, id: i32, scenario: &Scenario, types: &[&str]) -> Vec<(String, i64)> {
        donation::manifest(&self.app.db, id, scenario, types).await
    }

    /// (part id, state) of every part of `id`.
    pub async fn parts(&self, id: i32) -> Vec<(i64, String)> {
        archive_parts::table
            .inner_join(provider_exports::table)
            .filter(provider_exports::donation_id.eq(id))
            .order(archive_parts::id)
            .select((archive_parts::id, archive_parts::state))
            .load(&mut self.app.db.conn().await)
            .await
            .unwrap()
    }

    /// The sandbox calls to paths starting with `prefix`: (path, status), oldest first.
    pub async fn calls(&self, prefix: &str) -> Vec<(String, i32)> {
        sandbox_calls::table
            .filter(sandbox_calls::path.like(format!("{prefix}%")))
            .order(sandbox_calls::seq)
            .select((sandbox_calls::path, sandbox_calls::status))
            .load(&mut self.app.db.conn().await)
            .await
            .unwrap()
    }

    /// The processing jobs still queued or running (periodic ones aside).
    pub async fn open_jobs(&self) -> Vec<(String, String)> {
        jobs::table
            .filter(jobs::state.ne("failed"))
            .filter(jobs::dedup_key.not_like("periodic:%"))
            .select((jobs::kind, jobs::state))
            .load(&mut self.app.db.conn().await)
            .await
            .unwrap()
    }

    /// Starts `steward worker` with `loops` job loops over this deployment.
    pub fn worker(&self, loops: &str) -> WorkerProcess {
        self.worker_with(loops, &[])
    }

    /// [`Deployment::worker`] with `extra` settings.
    pub fn worker_with(&self, loops: &str, extra: &[(&str, &str)]) -> WorkerProcess {
        let spec = self.keyring.to_spec();
        let mut command = Command::new(env!("CARGO_BIN_EXE_steward"));
        command
            .arg("worker")
            .env("DATABASE_URL", self.app.db.url())
            .env("STEWARD_DATA_DIR", &self.config.data_dir)
            .env("STEWARD_ENCRYPTION_KEYS", spec)
            .env("STEWARD_WORKERS", loops)
            .env("STEWARD_DONATION_POLL_SCHEDULE", "1s")
            .env("STEWARD_PUBLIC_URL", self.app.url())
            .env("STEWARD_SANDBOX_INTERNAL_URL", &self.config.donation.sandbox.internal_url)
            .env("STEWARD_LOG", "warn,steward::jobs=debug")
            .env("STEWARD_LOG_FORMAT", "json")
            .env_remove("STEWARD_ENV")
            .env_remove("STEWARD_OBJECT_STORE")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        for (name, value) in extra {
            command.env(name, value);
        }
        let mut child = command.spawn().expect("starting steward worker");
        let stderr = child.stderr.take().unwrap();
        let log = Arc::new(Mutex::new(Vec::<String>::new()));
        {
            // Read to the end, so the worker never writes into a full pipe.
            let log = log.clone();
            std::thread::spawn(move || {
                for line in std::io::BufReader::new(stderr).lines() {
                    let Ok(line) = line else { break };
                    log.lock().unwrap().push(line);
                }
            });
        }
        WorkerProcess { child, log }
    }
}

/// A running `steward worker`; killed (SIGKILL) when dropped.
pub(crate) struct WorkerProcess {
    child: Child,
    log: Arc<Mutex<Vec<String>>>,
}

impl WorkerProcess {
    /// Waits until its loops run (60 s at most).
    pub async fn started(&self) {
        let deadline = Instant::now() + Duration::from_secs(60);
        while !self.log.lock().unwrap().iter().any(|l| l.contains("job workers started")) {
            assert!(Instant::now() < deadline, "steward worker did not start; its log:\n{}", self.log_text());
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Donation jobs it finished.
    pub fn donation_jobs_done(&self) -> usize {
        let log = self.log.lock().unwrap();
        log.iter().filter(|l| l.contains("job done") && l.contains("\"job.kind\":\"donation.")).count()
    }

    /// SIGKILL, as a crash or the OOM killer would; waits until it is gone.
    pub fn kill(mut self) {
        self.child.kill().expect("SIGKILL");
        let status = self.child.wait().unwrap();
        assert!(!status.success(), "killed, so no clean exit: {status}");
    }

    pub fn log_text(&self) -> String {
        self.log.lock().unwrap().join("\n")
    }
}

impl Drop for WorkerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Design §5 scale-out: two `steward worker` processes (two loops each) take
/// three signed-in donations with two-part exports of a medium persona to
/// `processed`. Every provider call that must happen once does (each group
/// initiated once, each part downloaded once, access released once per
/// donation), every step's event appears once, and each donation holds
/// exactly the records the sandbox generated in its window.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_worker_processes_process_each_donation_once() {
    let env = Deployment::start(&[]).await;
    let first = env.worker("2");
    let second = env.worker("2");
    first.started().await;
    second.started().await;

    let types = ["youtube_history", "search", "google_lens"];
    let mut donations = Vec::new();
    for seed in 1..=3 {
        let id = env.create(&types).await;
        let scenario = Scenario::default()
            .persona(Persona::Medium)
            .seed(seed)
            .failure(Failure::SlowArchive { polls: 1 })
            .failure(Failure::MultiPart { parts: 2 });
        env.sign_in(id, &scenario, &[YOUTUBE, SEARCH]).await;
        donations.push((id, scenario));
    }
    for (id, _) in &donations {
        env.wait_for_status(*id, "processed", 300).await;
    }

    for (id, scenario) in &donations {
        let id = *id;
        let expected = env.manifest(id, scenario, &types).await;
        assert_eq!(expected.len(), 3, "{expected:?}");
        assert!(expected.iter().all(|(_, n)| *n > 100), "a medium persona: {expected:?}");
        assert_eq!(env.row_counts(id).await, expected, "donation {id}: every generated record once");
        let got = env.get(id).await;
        for (data_type, rows) in &expected {
            let status = &got.data_types[data_type];
            assert_eq!((status.state(), status.rows), (pb::DataTypeState::Available, *rows), "{data_type}");
        }
        let parts = env.parts(id).await;
        assert_eq!(parts.len(), 4, "two parts per group");
        assert!(parts.iter().all(|p| p.1 == "parsed"), "{parts:?}");
        for (kind, n) in [
            ("authorized", 1),
            ("export_requested", 2),
            ("export_ready", 2),
            ("part_downloaded", 4),
            ("type_parsed", 3),
            ("processed", 1),
            ("attempt_failed", 0),
        ] {
            assert_eq!(env.count_events(id, kind).await, n, "donation {id}: {kind} in {:?}", env.events(id).await);
        }
    }

    // The provider saw each non-repeatable step once.
    let initiates = env.calls("/sandbox/google/v1/portabilityArchive:initiate").await;
    assert_eq!(initiates.len(), 6, "one initiate per group of each donation: {initiates:?}");
    assert!(initiates.iter().all(|c| c.1 == 200));
    let sandbox_exports: i64 = sandbox_jobs::table.count().get_result(&mut env.app.db.conn().await).await.unwrap();
    assert_eq!(sandbox_exports, 6);
    // Each part is served whole once. On a loaded machine a transfer may
    // also be resumed (206) or an unanswered request repeated at once; a
    // part run by both workers, or a download whose commit failed and was
    // retried, would be served whole twice.
    let downloads = env.calls("/sandbox/google/storage/").await;
    let mut whole = std::collections::BTreeMap::<&str, usize>::new();
    for (path, status) in &downloads {
        *whole.entry(path.as_str()).or_default() += usize::from(*status == 200);
    }
    assert_eq!(whole.len(), 12, "every part was asked for: {downloads:?}");
    assert!(whole.values().all(|n| *n == 1), "each part served whole once: {downloads:?}");
    for (id, _) in &donations {
        env.until("access released", 60, async || env.count_events(*id, "provider_access_released").await == 1).await;
    }
    env.until("the queue drained", 60, async || env.open_jobs().await.is_empty()).await;
    assert_eq!(env.calls("/sandbox/google/v1/authorization:reset").await.len(), 3, "one release per donation");
    assert_eq!(env.failed_jobs().await, []);

    // Parts of one donation committed at the same moment take the donation's
    // lock in one order: no transaction was chosen as a deadlock victim.
    for worker in [&first, &second] {
        assert!(!worker.log_text().contains("deadlock detected"), "{}", worker.log_text());
    }

    // Both processes took part.
    assert!(first.donation_jobs_done() > 0, "the first worker ran no donation job:\n{}", first.log_text());
    assert!(second.donation_jobs_done() > 0, "the second worker ran no donation job:\n{}", second.log_text());
}

/// (part, done, rows committed so far) of every parse marker of `id`.
async fn markers(env: &Deployment, id: i32) -> Vec<(i64, bool, i64)> {
    parse_progress::table
        .inner_join(archive_parts::table.inner_join(provider_exports::table))
        .filter(provider_exports::donation_id.eq(id))
        .select((parse_progress::part_id, parse_progress::done, parse_progress::last_ordinal))
        .load(&mut env.app.db.conn().await)
        .await
        .unwrap()
}

/// The (state, attempts) of the job with `dedup_key`, while there is one.
async fn job(env: &Deployment, dedup_key: &str) -> Option<(String, i32)> {
    jobs::table
        .filter(jobs::dedup_key.eq(dedup_key))
        .select((jobs::state, jobs::attempts))
        .first(&mut env.app.db.conn().await)
        .await
        .optional()
        .unwrap()
}

/// Spec §5.3 and scenario 98: a worker killed with SIGKILL while it streams
/// a large part into storage leaves the part uncommitted and its job leased;
/// once the lease lapses the next worker downloads the part again and starts
/// parsing it. Killed in the middle of that parse too, the third worker
/// resumes after the committed batches. The part is committed once, and the
/// donation holds exactly the generated records, none twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn workers_killed_mid_download_and_mid_parse_leave_the_next_worker_every_row_once() {
    let env = Deployment::start(&[]).await;
    let id = env.create(&["search"]).await;
    let scenario = tiny().records("search", 60_000);
    let staging = env.config.data_dir.join("blobs").join(".tmp");

    let first = env.worker("1");
    env.sign_in(id, &scenario, &[SEARCH]).await;
    // Killed once sealed bytes of the part are being written.
    env.until("the download started writing", 120, async || {
        std::fs::read_dir(&staging).is_ok_and(|files| files.flatten().any(|f| f.metadata().is_ok_and(|m| m.len() > 0)))
    })
    .await;
    first.kill();
    let parts = env.parts(id).await;
    assert_eq!(parts.len(), 1);
    let part = parts[0].0;
    assert_eq!(parts[0].1, "pending", "killed before the part was committed");
    assert_eq!(env.count_events(id, "part_downloaded").await, 0);
    assert_eq!(job(&env, &format!("download:{part}")).await, Some(("running".into(), 1)), "leased to the dead worker");

    // The next worker re-claims the download once the lease lapses, and parses.
    let second = env.worker("1");
    env.until("the parse committed a batch", 240, async || markers(&env, id).await.iter().any(|m| !m.1 && m.2 >= 0))
        .await;
    second.kill();
    let stored_before: i64 = env.row_counts(id).await.iter().map(|c| c.1).sum();
    assert!(stored_before > 0, "some batches were committed");
    assert_eq!(env.parts(id).await, [(part, "stored".to_owned())], "killed before the parse finished");
    assert_eq!(job(&env, &format!("parse:{part}")).await.map(|j| j.0), Some("running".into()));
    assert_eq!(env.status(id).await.0, "processing");

    let third = env.worker("1");
    env.wait_for_status(id, "processed", 300).await;
    let expected = env.manifest(id, &scenario, &["search"]).await;
    assert_eq!(expected, [("search".to_owned(), 60_000)]);
    assert_eq!(env.row_counts(id).await, expected, "every record once, none twice");
    assert_eq!(env.query(id, "search").await.len(), 60_000, "and every one queryable");
    assert_eq!(env.parts(id).await, [(part, "parsed".to_owned())]);
    assert_eq!(env.count_events(id, "part_downloaded").await, 1, "the part was committed once");
    assert_eq!(env.count_events(id, "export_requested").await, 1);
    assert_eq!(env.count_events(id, "type_parsed").await, 1);
    assert_eq!(env.calls("/sandbox/google/v1/portabilityArchive:initiate").await.len(), 1);
    assert_eq!(env.failed_jobs().await, []);
    drop(third);
}
