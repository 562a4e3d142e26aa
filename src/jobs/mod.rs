//! The background job queue, stored in PostgreSQL.
//!
//! - **Enqueue** with [`enqueue`] on the connection of the transaction that
//!   needs the job: it commits with the data it refers to or not at all (no
//!   lost and no phantom jobs). Payloads carry ids, never the data itself
//!   (rows may be sealed; the payload column is not). A [`NewJob::dedup_key`]
//!   makes enqueueing idempotent: at most one live (queued or running) job per key.
//! - **Handlers** are registered per job kind in a [`Registry`]. A handler may
//!   run more than once for one job (its worker died after the work but before
//!   deleting the row; a lease lapsed), so **every handler must be
//!   idempotent**: re-running it must not duplicate rows or side effects.
//! - **Workers** ([`Workers`], [`spawn`]) claim one job at a time with
//!   `FOR UPDATE SKIP LOCKED` and hold a lease on it that a heartbeat extends;
//!   a worker that dies lets the lease lapse and another worker re-claims the
//!   job. Success deletes the row; an error (or panic) re-queues it after an
//!   exponential [`Backoff`] until `max_attempts`, then leaves it `failed` with
//!   its last error for inspection ([`failed_jobs`]; operators re-queue or
//!   delete such jobs with `steward jobs`, see [`admin`]). The backoff is the
//!   workers' ([`Workers::backoff`]) unless the kind has its own
//!   ([`Registry::retry`]), e.g. e-mail retried over a day, not minutes.
//! - **Wake-ups**: [`enqueue`] sends `NOTIFY steward_jobs`; one `LISTEN`
//!   connection per process wakes idle workers on commit. Polling covers
//!   delayed jobs, expired leases and a lost listener connection.
//! - **Periodic work** ([`Registry::periodic`]) is a job with dedup key
//!   `periodic:<kind>`: however many workers and replicas run, one instance is
//!   live, and finishing it enqueues the next one `every` later.
//!
//! `store` holds the SQL; `worker` the claim/run/finish loop.

pub mod admin;
mod backoff;
mod store;
mod worker;

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use diesel::QueryResult;
use diesel_async::AsyncPgConnection;
use futures_util::FutureExt as _;
use futures_util::future::BoxFuture;
use serde::de::DeserializeOwned;

pub use backoff::Backoff;
pub use store::{CHANNEL, JobRow, claim, failed_jobs, find, list, pending_count};
pub use worker::{Workers, spawn};

use crate::db::Pool;

/// Attempts a job gets unless [`NewJob::max_attempts`] says otherwise.
pub const DEFAULT_MAX_ATTEMPTS: i32 = 5;

/// A job to enqueue.
#[derive(Debug, Clone, PartialEq)]
pub struct NewJob {
    /// Which handler runs it (see [`Registry::register`]); 1 to 100 characters.
    pub kind: String,
    /// What it works on: ids, not data.
    pub payload: serde_json::Value,
    /// Higher runs first among due jobs. Default 0.
    pub priority: i16,
    /// Attempts before the job is left `failed`. Default [`DEFAULT_MAX_ATTEMPTS`].
    pub max_attempts: i32,
    /// Not before this time; `None` means now.
    pub run_at: Option<DateTime<Utc>>,
    /// At most one live job per key; enqueueing a duplicate is a no-op.
    pub dedup_key: Option<String>,
}

impl NewJob {
    /// A job of `kind` over `payload`, due now, priority 0.
    pub fn new(kind: impl Into<String>, payload: serde_json::Value) -> Self {
        Self {
            kind: kind.into(),
            payload,
            priority: 0,
            max_attempts: DEFAULT_MAX_ATTEMPTS,
            run_at: None,
            dedup_key: None,
        }
    }

    /// Sets the priority (higher first).
    #[must_use]
    pub fn priority(mut self, priority: i16) -> Self {
        self.priority = priority;
        self
    }

    /// Sets the number of attempts; at least 1.
    #[must_use]
    pub fn max_attempts(mut self, max_attempts: i32) -> Self {
        self.max_attempts = max_attempts.max(1);
        self
    }

    /// Delays the first attempt until `run_at`.
    #[must_use]
    pub fn run_at(mut self, run_at: DateTime<Utc>) -> Self {
        self.run_at = Some(run_at);
        self
    }

    /// Makes the job unique among live jobs with this key.
    #[must_use]
    pub fn dedup_key(mut self, key: impl Into<String>) -> Self {
        self.dedup_key = Some(key.into());
        self
    }
}

/// Enqueues `job` on `conn`, inside the caller's transaction if there is one.
/// Returns the new job's id, or `None` when a live job already has its dedup
/// key. Idle workers are woken when the transaction commits.
pub async fn enqueue(conn: &mut AsyncPgConnection, job: NewJob) -> QueryResult<Option<i64>> {
    let id = store::insert(conn, &job).await?;
    if id.is_some() {
        store::notify(conn).await?;
    }
    Ok(id)
}

/// What a handler gets: the job and a pool for its own connections.
#[derive(Clone)]
pub struct JobContext {
    /// The job's id (stable across attempts).
    pub id: i64,
    /// The job's kind.
    pub kind: String,
    /// This attempt's number, from 1.
    pub attempt: i32,
    /// The job's attempt limit; `attempt == max_attempts` is the last try.
    pub max_attempts: i32,
    /// The payload as enqueued.
    pub payload: serde_json::Value,
    /// The database pool.
    pub pool: Pool,
    /// The pool's database, for a direct connection beside it (may hold a
    /// password: never log it).
    pub database_url: String,
    /// Turns `true` when the worker starts shutting down.
    pub(crate) shutdown: tokio::sync::watch::Receiver<bool>,
}

impl JobContext {
    /// Whether the worker is shutting down. A long handler checks this at its
    /// checkpoints and, once it is true, returns [`Interrupted`]: the job goes
    /// back to the queue at once (the attempt not counted) instead of
    /// running on until the shutdown grace period cuts it off.
    pub fn stopping(&self) -> bool {
        *self.shutdown.borrow() || self.shutdown.has_changed().is_err()
    }

    /// The payload as `T`; an error (and so a failed attempt) if it does not fit.
    pub fn parse_payload<T: DeserializeOwned>(&self) -> anyhow::Result<T> {
        serde_json::from_value(self.payload.clone()).map_err(|e| {
            anyhow::anyhow!("job {} ({}): malformed payload: {}", self.id, self.kind, redact_serde_error(&e))
        })
    }
}

/// serde's "invalid type/value" messages quote the offending value; keep only
/// what was expected, so an error (logged, stored in `last_error`) never
/// carries payload contents. "missing field `x`" and the like are kept whole.
fn redact_serde_error(e: &serde_json::Error) -> String {
    let message = e.to_string();
    if message.starts_with("invalid type")
        || message.starts_with("invalid value")
        || message.starts_with("invalid length")
    {
        match message.split_once(", expected ") {
            Some((_, expected)) => format!("wrong type or value, expected {expected}"),
            None => "wrong type or value".to_owned(),
        }
    } else {
        message
    }
}

// Hand-written so the payload never reaches a log line.
impl std::fmt::Debug for JobContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JobContext")
            .field("id", &self.id)
            .field("kind", &self.kind)
            .field("attempt", &self.attempt)
            .field("max_attempts", &self.max_attempts)
            .finish_non_exhaustive()
    }
}

/// The error a handler returns when it stopped at a checkpoint because the
/// worker is shutting down ([`JobContext::stopping`]): the job is handed back
/// to the queue, due at once, without counting the attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("stopped at a checkpoint because the worker is shutting down")]
pub struct Interrupted;

/// A type-erased job handler.
pub type Handler = Arc<dyn Fn(JobContext) -> BoxFuture<'static, anyhow::Result<()>> + Send + Sync>;

/// Job kinds and their handlers, plus which kinds recur and which retry on
/// their own schedule.
#[derive(Default)]
pub struct Registry {
    handlers: HashMap<String, Handler>,
    periodic: HashMap<String, Duration>,
    retry: HashMap<String, Backoff>,
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut kinds: Vec<_> = self.handlers.keys().collect();
        kinds.sort();
        f.debug_struct("Registry")
            .field("kinds", &kinds)
            .field("periodic", &self.periodic)
            .field("retry", &self.retry)
            .finish()
    }
}

impl Registry {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// Runs `handler` for jobs of `kind`. The handler must be idempotent.
    ///
    /// # Panics
    /// If `kind` is already registered or is not 1 to 100 characters: both are
    /// programming errors, better caught at startup than at enqueue time.
    pub fn register<F, Fut>(&mut self, kind: impl Into<String>, handler: F) -> &mut Self
    where
        F: Fn(JobContext) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = anyhow::Result<()>> + Send + 'static,
    {
        let kind = kind.into();
        assert!((1..=100).contains(&kind.chars().count()), "job kind `{kind}` must be 1 to 100 characters");
        let handler: Handler = Arc::new(move |ctx| handler(ctx).boxed());
        let previous = self.handlers.insert(kind.clone(), handler);
        assert!(previous.is_none(), "job kind `{kind}` registered twice");
        self
    }

    /// Registers `handler` for `kind` and runs it every `every`: one live job
    /// (dedup key `periodic:<kind>`) across all workers and replicas, due at
    /// once when workers start and none is scheduled, then `every` after each
    /// run finishes (succeeded or failed for good).
    ///
    /// # Panics
    /// As [`Registry::register`], and if `every` is zero.
    pub fn periodic<F, Fut>(&mut self, kind: impl Into<String>, every: Duration, handler: F) -> &mut Self
    where
        F: Fn(JobContext) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = anyhow::Result<()>> + Send + 'static,
    {
        assert!(!every.is_zero(), "a periodic job needs a non-zero interval");
        let kind = kind.into();
        self.register(kind.clone(), handler);
        self.periodic.insert(kind, every);
        self
    }

    /// Retries failed attempts of `kind` after `backoff`'s delays instead of
    /// the workers' default backoff (the attempt limit stays the job's
    /// `max_attempts`).
    ///
    /// # Panics
    /// If `kind` is not registered: a policy for no handler is a programming error.
    pub fn retry(&mut self, kind: &str, backoff: Backoff) -> &mut Self {
        assert!(self.handlers.contains_key(kind), "job kind `{kind}` must be registered before its retry policy");
        self.retry.insert(kind.to_owned(), backoff);
        self
    }

    /// The backoff of `kind`, if it has its own ([`Registry::retry`]).
    pub fn backoff(&self, kind: &str) -> Option<Backoff> {
        self.retry.get(kind).copied()
    }

    /// The handler for `kind`.
    pub fn handler(&self, kind: &str) -> Option<&Handler> {
        self.handlers.get(kind)
    }

    /// Registered kinds, in no particular order.
    pub fn kinds(&self) -> impl Iterator<Item = &str> {
        self.handlers.keys().map(String::as_str)
    }

    /// The interval of periodic `kind`, if it is one.
    pub fn interval(&self, kind: &str) -> Option<Duration> {
        self.periodic.get(kind).copied()
    }

    /// The periodic kinds and their intervals.
    pub fn periodic_kinds(&self) -> impl Iterator<Item = (&str, Duration)> {
        self.periodic.iter().map(|(kind, every)| (kind.as_str(), *every))
    }
}

/// The dedup key of periodic `kind`.
pub fn periodic_key(kind: &str) -> String {
    format!("periodic:{kind}")
}

/// The job that schedules periodic `kind`, due after `delay`.
fn periodic_job(kind: &str, delay: Duration) -> NewJob {
    let job = NewJob::new(kind, serde_json::Value::Object(Default::default())).dedup_key(periodic_key(kind));
    match chrono::Duration::from_std(delay) {
        Ok(delay) if !delay.is_zero() => job.run_at(Utc::now() + delay),
        _ => job,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builder_sets_fields_and_clamps_attempts() {
        let job = NewJob::new("k", serde_json::json!({"id": 1})).priority(3).max_attempts(0).dedup_key("d");
        assert_eq!((job.priority, job.max_attempts, job.dedup_key.as_deref()), (3, 1, Some("d")));
        assert_eq!(NewJob::new("k", serde_json::Value::Null).max_attempts, DEFAULT_MAX_ATTEMPTS);
    }

    #[test]
    fn payload_errors_do_not_quote_the_payload() {
        #[derive(Debug, serde::Deserialize)]
        #[expect(dead_code, reason = "only deserialised")]
        struct Payload {
            donation_id: i64,
        }
        let parse = |v| redact_serde_error(&serde_json::from_value::<Payload>(v).unwrap_err());
        let wrong = parse(serde_json::json!({"donation_id": "secret-value"}));
        assert_eq!(wrong, "wrong type or value, expected i64");
        let missing = parse(serde_json::json!({}));
        assert_eq!(missing, "missing field `donation_id`");
    }

    #[test]
    #[should_panic(expected = "registered twice")]
    fn duplicate_kinds_are_refused() {
        let mut registry = Registry::new();
        registry.register("k", |_| async { Ok(()) });
        registry.register("k", |_| async { Ok(()) });
    }

    #[test]
    fn kinds_may_have_their_own_retry_schedule() {
        let mut registry = Registry::new();
        let slow = Backoff { base: Duration::from_secs(60), max: Duration::from_secs(3600) };
        registry.register("mail", |_| async { Ok(()) }).retry("mail", slow);
        registry.register("other", |_| async { Ok(()) });
        assert_eq!(registry.backoff("mail"), Some(slow));
        assert_eq!(registry.backoff("other"), None, "other kinds keep the workers' backoff");
        assert_eq!(registry.backoff("unknown"), None);
    }

    #[test]
    #[should_panic(expected = "must be registered before")]
    fn a_retry_policy_needs_a_handler() {
        Registry::new().retry("nothing", Backoff::default());
    }

    #[test]
    fn periodic_jobs_carry_their_key() {
        let mut registry = Registry::new();
        registry.periodic("tick", Duration::from_secs(60), |_| async { Ok(()) });
        assert_eq!(registry.interval("tick"), Some(Duration::from_secs(60)));
        assert!(registry.handler("tick").is_some());
        let job = periodic_job("tick", Duration::ZERO);
        assert_eq!(job.dedup_key.as_deref(), Some("periodic:tick"));
        assert_eq!(job.run_at, None);
        assert!(periodic_job("tick", Duration::from_secs(5)).run_at.is_some_and(|t| t > Utc::now()));
    }
}
