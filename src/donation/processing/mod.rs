//! The first processing steps (spec §5.1): from a stored provider grant to
//! an export per resource group, polled until the provider has the archive
//! ready and its parts are recorded.
//!
//! - [`grant`]: storing a sign-in's tokens (sealed) and refreshing them under the row lock.
//! - [`export`]: the `donation.start_export` job (`initiate` per resource group).
//! - [`poll`]: `donation.schedule_due_polls` and `donation.poll` (archive state, `:retry`, deadline).
//! - [`download`]: `donation.download` (one part, from a freshly signed URL, into the blob store).
//! - [`parse`]: `donation.parse` (one stored part into rows, resumable; the blob deleted after).
//! - [`finalize`]: `donation.finalize` (types' final states and counters, then the donation's).
//! - [`retry`]: `RetryDonation`'s re-run of a failed donation's failed steps.
//! - [`state`]: type and donation states derived from the exports (§1.4, §5.2).
//! - [`store`]: the grant, export and part tables.
//! - [`sweep`]: the hourly `donation.sweep` (orphan part blobs, stale temporary files).
//!
//! Jobs carry ids only and are idempotent (§5.3). A provider error is handled
//! by its class (§4.1): `transient` fails the attempt (the queue retries it;
//! the last attempt records `provider_unavailable`), `auth` refreshes and
//! repeats once, `access_lost` and `config` fail the donation, `not_granted`
//! declines, `permanent` fails the group.

pub mod download;
pub mod export;
pub mod finalize;
pub mod grant;
pub mod parse;
pub mod poll;
pub mod retry;
pub mod state;
pub mod store;
pub mod stuck;
pub mod sweep;

use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;
use serde_json::json;

use crate::blobs::BlobStore;
use crate::crypto::{Keyring, KeyringError};
use crate::donation::catalogue::Source;
use crate::donation::config::{DonationConfig, ProviderMode};
use crate::donation::google::GoogleClient;
use crate::donation::provider::{ErrorClass, PortabilityProvider, ProviderError};
use crate::donation::tiktok::TikTokClient;
use crate::jobs::{Backoff, JobContext, NewJob, Registry};

pub use grant::{Authorized, store_grant};

/// Job kinds.
pub const START_EXPORT: &str = "donation.start_export";
pub const SCHEDULE_DUE_POLLS: &str = "donation.schedule_due_polls";
pub const POLL: &str = "donation.poll";
pub const DOWNLOAD: &str = "donation.download";
pub const PARSE: &str = "donation.parse";
pub const FINALIZE: &str = "donation.finalize";

/// How often due polls are scheduled (spec §5.1: every 60 s), unless the
/// poll schedule is shorter (see [`schedule_every`]).
pub const SCHEDULE_EVERY: Duration = Duration::from_secs(60);

/// How often `schedule_due_polls` runs: every [`SCHEDULE_EVERY`], or as often
/// as the shortest poll interval when the schedule is shorter (tests and the
/// sandbox shorten it, §5.9), but at most once a second.
pub fn schedule_every(config: &DonationConfig) -> Duration {
    let shortest = config.poll_schedule.iter().map(|(interval, _)| *interval).min().unwrap_or(SCHEDULE_EVERY);
    shortest.clamp(Duration::from_secs(1), SCHEDULE_EVERY)
}

/// What processing jobs need besides the database.
pub struct Processing {
    pub config: DonationConfig,
    keyring: Keyring,
    google: Option<Arc<dyn PortabilityProvider>>,
    tiktok: Option<Arc<dyn PortabilityProvider>>,
    /// Where downloaded parts are kept until parsed.
    blobs: BlobStore,
}

impl std::fmt::Debug for Processing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Processing").field("google", &self.google).field("tiktok", &self.tiktok).finish_non_exhaustive()
    }
}

impl Processing {
    /// The providers as configured (a source in mode `off` has none).
    pub fn new(config: &DonationConfig, keyring: Keyring, blobs: BlobStore) -> anyhow::Result<Self> {
        let google: Option<Arc<dyn PortabilityProvider>> = match config.google.mode {
            ProviderMode::Off => None,
            _ => Some(Arc::new(GoogleClient::new(&config.google)?)),
        };
        let tiktok: Option<Arc<dyn PortabilityProvider>> = match config.tiktok.mode {
            ProviderMode::Off => None,
            _ => Some(Arc::new(TikTokClient::new(&config.tiktok)?)),
        };
        Ok(Self { config: config.clone(), keyring, google, tiktok, blobs })
    }

    /// The providers of `config`, with blobs kept where it says (data directory or bucket).
    pub fn from_config(config: &crate::config::Config, keyring: Keyring) -> anyhow::Result<Self> {
        Self::new(&config.donation, keyring, BlobStore::from_config(config)?)
    }

    /// With a given Google client (tests: shorter immediate retries).
    pub fn with_google(
        config: &DonationConfig,
        keyring: Keyring,
        google: Arc<dyn PortabilityProvider>,
        blobs: BlobStore,
    ) -> Self {
        let tiktok: Option<Arc<dyn PortabilityProvider>> = match config.tiktok.mode {
            ProviderMode::Off => None,
            _ => TikTokClient::new(&config.tiktok).ok().map(|c| Arc::new(c) as Arc<dyn PortabilityProvider>),
        };
        Self { config: config.clone(), keyring, google: Some(google), tiktok, blobs }
    }

    /// With given clients for both providers (tests: shorter immediate retries).
    pub fn with_providers(
        config: &DonationConfig,
        keyring: Keyring,
        google: Arc<dyn PortabilityProvider>,
        tiktok: Arc<dyn PortabilityProvider>,
        blobs: BlobStore,
    ) -> Self {
        Self { config: config.clone(), keyring, google: Some(google), tiktok: Some(tiktok), blobs }
    }

    /// The client of `source`.
    pub fn provider(&self, source: Source) -> Result<&dyn PortabilityProvider, Error> {
        match source {
            Source::Google => self.google.as_deref().ok_or(Error::ProviderOff(source.as_str())),
            Source::TikTok => self.tiktok.as_deref().ok_or(Error::ProviderOff(source.as_str())),
        }
    }

    fn provider_named(&self, name: &str) -> Result<&dyn PortabilityProvider, Error> {
        self.provider(Source::parse(name).ok_or(Error::ProviderOff("unknown"))?)
    }

    /// The keyring sealing provider tokens: the release job opens the tokens
    /// of a deleted donation with it (src/donation/release.rs).
    pub fn keyring(&self) -> &Keyring {
        &self.keyring
    }

    /// Where archive parts are kept: the purge job deletes a deleted
    /// donation's leftovers there (src/donation/purge.rs).
    pub fn blobs(&self) -> &BlobStore {
        &self.blobs
    }

    /// The delay before poll number `polls + 1` of an export.
    fn poll_delay(&self, polls: i32) -> chrono::TimeDelta {
        let delay = self.config.poll_delay(u32::try_from(polls).unwrap_or(0));
        chrono::TimeDelta::from_std(delay).unwrap_or(chrono::TimeDelta::hours(1))
    }

    fn max_wait(&self) -> chrono::TimeDelta {
        chrono::TimeDelta::from_std(self.config.export_max_wait).unwrap_or(chrono::TimeDelta::days(7))
    }
}

/// A failed processing step.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Provider(#[from] ProviderError),
    #[error("database: {0}")]
    Db(#[from] diesel::result::Error),
    #[error("database pool: {0}")]
    Pool(#[from] diesel_async::pooled_connection::deadpool::PoolError),
    #[error("blob storage: {0}")]
    Blob(#[from] crate::blobs::BlobError),
    #[error("opening a sealed token: {0}")]
    Sealed(#[from] KeyringError),
    #[error("the donation has no usable provider grant")]
    NoGrant,
    #[error("the donation no longer exists")]
    Gone,
    #[error("the donation is {0}; it cannot take a new sign-in")]
    WrongState(&'static str),
    #[error("provider {0} is not available in this deployment")]
    ProviderOff(&'static str),
    /// Stopped at a checkpoint because the worker is shutting down.
    #[error("stopped at a checkpoint for the worker's shutdown")]
    Interrupted,
    #[error(transparent)]
    Other(#[from] anyhow::Error),
}

/// Calls the provider with the donation's access token; on an `auth` error
/// refreshes it (unless another worker did) and repeats once. A second `auth`
/// means access is lost (spec §4.1).
macro_rules! with_token {
    ($processing:expr, $conn:expr, $donation:expr, |$token:ident| $call:expr) => {{
        use $crate::donation::processing::{Error, auth_twice, grant::access_token};
        // A refresh's own failure (`invalid_grant`, …) is the call's failure.
        match access_token($conn, $processing, $donation, None).await {
            Err(Error::Provider(e)) => Err(e),
            Err(other) => return Err(other),
            Ok(first) => {
                let $token = first.as_str();
                match $call.await {
                    Err(e) if e.class == $crate::donation::provider::ErrorClass::Auth => {
                        match access_token($conn, $processing, $donation, Some(&first)).await {
                            Err(Error::Provider(e)) => Err(e),
                            Err(other) => return Err(other),
                            Ok(again) => {
                                let $token = again.as_str();
                                $call.await.map_err(auth_twice)
                            }
                        }
                    }
                    other => other,
                }
            }
        }
    }};
}
pub(crate) use with_token;

/// `auth` after a refresh is `access_lost`.
pub(crate) fn auth_twice(mut e: ProviderError) -> ProviderError {
    if e.class == ErrorClass::Auth {
        e.class = ErrorClass::AccessLost;
    }
    e
}

/// The `start_export` job of a donation (dedup `start:<donation>`).
pub fn start_export_job(config: &DonationConfig, donation_id: i32) -> NewJob {
    NewJob::new(START_EXPORT, json!({ "donation_id": donation_id }))
        .dedup_key(format!("start:{donation_id}"))
        .max_attempts(attempts(config))
}

/// The `poll` job of an export (dedup `poll:<export>`).
pub fn poll_job(config: &DonationConfig, export_id: i64) -> NewJob {
    NewJob::new(POLL, json!({ "export_id": export_id }))
        .dedup_key(format!("poll:{export_id}"))
        .max_attempts(attempts(config))
}

/// The `download` job of an archive part (dedup `download:<part>`).
pub fn download_job(config: &DonationConfig, part_id: i64) -> NewJob {
    NewJob::new(DOWNLOAD, json!({ "part_id": part_id }))
        .dedup_key(format!("download:{part_id}"))
        .max_attempts(attempts(config))
}

/// The `parse` job of a stored part (dedup `parse:<part>`).
pub fn parse_job(config: &DonationConfig, part_id: i64) -> NewJob {
    NewJob::new(PARSE, json!({ "part_id": part_id }))
        .dedup_key(format!("parse:{part_id}"))
        .max_attempts(attempts(config))
}

/// The `finalize` job of a donation (dedup `finalize:<donation>`).
pub fn finalize_job(config: &DonationConfig, donation_id: i32) -> NewJob {
    NewJob::new(FINALIZE, json!({ "donation_id": donation_id }))
        .dedup_key(format!("finalize:{donation_id}"))
        .max_attempts(attempts(config))
}

fn attempts(config: &DonationConfig) -> i32 {
    i32::try_from(config.max_attempts).unwrap_or(i32::MAX)
}

/// The longest wait between two attempts of a processing job (spec §4.1).
pub const RETRY_MAX: Duration = Duration::from_secs(3600);

/// Registers `start_export`, `poll`, `download`, `parse`, `finalize` with
/// the donation backoff, and the periodic `schedule_due_polls` and `fail_stuck`.
pub fn register(registry: &mut Registry, processing: Arc<Processing>) {
    let p = processing.clone();
    registry.register(START_EXPORT, move |ctx| run_start_export(p.clone(), ctx));
    let p = processing.clone();
    registry.register(POLL, move |ctx| run_poll(p.clone(), ctx));
    let p = processing.clone();
    registry.register(DOWNLOAD, move |ctx| run_download(p.clone(), ctx));
    let p = processing.clone();
    registry.register(PARSE, move |ctx| run_parse(p.clone(), ctx));
    registry.register(FINALIZE, run_finalize);
    // Spec §4.1: a failed job waits `min(base × 2^(attempt−1), 1 h)`.
    let backoff = Backoff { base: processing.config.retry_base, max: RETRY_MAX };
    for kind in [START_EXPORT, POLL, DOWNLOAD, PARSE, FINALIZE] {
        registry.retry(kind, backoff);
    }
    let (p, every) = (processing.clone(), stuck::check_every(processing.config.max_processing));
    registry.periodic(stuck::KIND, every, move |ctx| stuck::run(p.clone(), ctx));
    let every = schedule_every(&processing.config);
    registry.periodic(SCHEDULE_DUE_POLLS, every, move |ctx| run_schedule(processing.clone(), ctx));
}

#[derive(Deserialize)]
struct DonationPayload {
    donation_id: i32,
}

#[derive(Deserialize)]
struct ExportPayload {
    export_id: i64,
}

async fn run_start_export(p: Arc<Processing>, ctx: JobContext) -> anyhow::Result<()> {
    let DonationPayload { donation_id } = ctx.parse_payload()?;
    let mut conn = ctx.pool.get().await?;
    export::start_export(&p, &mut conn, donation_id, ctx.attempt >= ctx.max_attempts).await?;
    Ok(())
}

async fn run_poll(p: Arc<Processing>, ctx: JobContext) -> anyhow::Result<()> {
    let ExportPayload { export_id } = ctx.parse_payload()?;
    let mut conn = ctx.pool.get().await?;
    poll::poll(&p, &mut conn, export_id, ctx.attempt >= ctx.max_attempts).await?;
    Ok(())
}

#[derive(Deserialize)]
struct PartPayload {
    part_id: i64,
}

async fn run_download(p: Arc<Processing>, ctx: JobContext) -> anyhow::Result<()> {
    let PartPayload { part_id } = ctx.parse_payload()?;
    let mut conn = ctx.pool.get().await?;
    download::download(&p, &mut conn, part_id, ctx.attempt >= ctx.max_attempts).await?;
    Ok(())
}

async fn run_parse(p: Arc<Processing>, ctx: JobContext) -> anyhow::Result<()> {
    let PartPayload { part_id } = ctx.parse_payload()?;
    let mut conn = ctx.pool.get().await?;
    match parse::parse_until(&p, &mut conn, &ctx.database_url, part_id, &|| ctx.stopping()).await {
        // Resumed after the last committed batch by the next worker (§5.3).
        Err(Error::Interrupted) => Err(crate::jobs::Interrupted.into()),
        Err(e) if ctx.attempt >= ctx.max_attempts => {
            parse::give_up(&p, &mut conn, part_id).await?;
            Err(e.into())
        }
        other => other.map(drop).map_err(Into::into),
    }
}

async fn run_finalize(ctx: JobContext) -> anyhow::Result<()> {
    let DonationPayload { donation_id } = ctx.parse_payload()?;
    let mut conn = ctx.pool.get().await?;
    finalize::finalize(&mut conn, donation_id).await?;
    Ok(())
}

async fn run_schedule(p: Arc<Processing>, ctx: JobContext) -> anyhow::Result<()> {
    let mut conn = ctx.pool.get().await?;
    let n = poll::schedule_due_polls(&p, &mut conn).await?;
    if n > 0 {
        tracing::debug!(polls = n, "scheduled due export polls");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn due_polls_are_scheduled_as_often_as_the_shortest_poll_interval_within_bounds() {
        let mut config = crate::config::Config::from_lookup(|_| None).unwrap().donation;
        config.poll_schedule = vec![(Duration::from_secs(300), Some(12)), (Duration::from_secs(3600), None)];
        assert_eq!(schedule_every(&config), SCHEDULE_EVERY);
        config.poll_schedule = vec![(Duration::from_secs(2), Some(3)), (Duration::from_secs(60), None)];
        assert_eq!(schedule_every(&config), Duration::from_secs(2));
        config.poll_schedule = vec![(Duration::from_millis(10), None)];
        assert_eq!(schedule_every(&config), Duration::from_secs(1));
    }

    #[test]
    fn processing_jobs_back_off_from_the_configured_base_up_to_an_hour() {
        let mut config = crate::config::Config::from_lookup(|_| None).unwrap().donation;
        config.google.mode = ProviderMode::Off;
        config.tiktok.mode = ProviderMode::Off;
        config.retry_base = Duration::from_secs(30);
        let blobs = BlobStore::new(std::env::temp_dir().join("steward-backoff-test"));
        let processing = Arc::new(Processing::new(&config, Keyring::generate(), blobs).unwrap());
        let mut registry = Registry::new();
        register(&mut registry, processing);
        for kind in [START_EXPORT, POLL, DOWNLOAD, PARSE, FINALIZE] {
            let backoff = registry.backoff(kind).unwrap_or_else(|| panic!("{kind} has no backoff"));
            assert_eq!(backoff.delay(1), Duration::from_secs(30), "{kind}");
            assert_eq!(backoff.delay(4), Duration::from_secs(240), "{kind}");
            assert_eq!(backoff.delay(9), Duration::from_secs(3600), "{kind}: capped at an hour");
        }
    }
}
