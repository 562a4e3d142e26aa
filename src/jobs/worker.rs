//! The worker loops: claim a job, run its handler under a heartbeat-extended
//! lease, then delete, re-queue or fail it. Idle loops sleep until a
//! `NOTIFY steward_jobs` arrives, the next delayed job or lease expiry is due,
//! or the polling interval passes, whichever comes first.

use std::any::Any;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use diesel_async::RunQueryDsl as _;
use futures_util::StreamExt as _;
use tokio::sync::{Notify, watch};
use tokio::task::{JoinHandle, JoinSet};
use tokio::time::Instant;
use tracing::Instrument as _;

use super::store::{self, CHANNEL, JobRow};
use super::{Backoff, JobContext, Registry, periodic_job, periodic_key};
use crate::db::Pool;

/// Numbers worker loops across every [`Workers::spawn`] in this process, so
/// worker ids (and so lease ownership) never collide.
static NEXT_WORKER: AtomicUsize = AtomicUsize::new(0);

/// A set of worker loops and how they behave. [`spawn`] is the shortcut with defaults.
#[derive(Clone)]
pub struct Workers {
    pool: Pool,
    database_url: String,
    registry: Arc<Registry>,
    count: usize,
    lease: Duration,
    poll_interval: Duration,
    backoff: Backoff,
    shutdown_grace: Duration,
}

impl std::fmt::Debug for Workers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // No database URL: it may carry a password.
        f.debug_struct("Workers")
            .field("count", &self.count)
            .field("lease", &self.lease)
            .field("poll_interval", &self.poll_interval)
            .field("backoff", &self.backoff)
            .field("shutdown_grace", &self.shutdown_grace)
            .finish_non_exhaustive()
    }
}

/// Starts `count` worker loops over `registry` with the default settings;
/// see [`Workers`].
pub fn spawn(
    pool: Pool,
    database_url: String,
    registry: Arc<Registry>,
    count: usize,
    shutdown: watch::Receiver<bool>,
) -> JoinHandle<()> {
    Workers::new(pool, database_url, registry).count(count).spawn(shutdown)
}

impl Workers {
    /// One worker loop, 60 s lease, 5 s polling, backoff from 1 s to 1 h, 25 s
    /// shutdown grace (so handing jobs back fits in the process's 30 s to stop).
    pub fn new(pool: Pool, database_url: String, registry: Arc<Registry>) -> Self {
        Self {
            pool,
            database_url,
            registry,
            count: 1,
            lease: Duration::from_secs(60),
            poll_interval: Duration::from_secs(5),
            backoff: Backoff::default(),
            shutdown_grace: Duration::from_secs(25),
        }
    }

    /// How many jobs run concurrently in this process.
    #[must_use]
    pub fn count(mut self, count: usize) -> Self {
        self.count = count;
        self
    }

    /// How long a claim lasts without a heartbeat (heartbeats come every third
    /// of it). A dead worker's job is re-claimed this long after its last heartbeat.
    #[must_use]
    pub fn lease(mut self, lease: Duration) -> Self {
        self.lease = lease.max(Duration::from_millis(300));
        self
    }

    /// The longest an idle loop sleeps without a notification.
    #[must_use]
    pub fn poll_interval(mut self, poll_interval: Duration) -> Self {
        self.poll_interval = poll_interval.max(Duration::from_millis(10));
        self
    }

    /// The retry delays after failed attempts, for kinds without their own
    /// ([`Registry::retry`]).
    #[must_use]
    pub fn backoff(mut self, backoff: Backoff) -> Self {
        self.backoff = backoff;
        self
    }

    /// How long running handlers get to finish after shutdown is signalled;
    /// after that they are cancelled and their jobs handed back to the queue.
    #[must_use]
    pub fn shutdown_grace(mut self, grace: Duration) -> Self {
        self.shutdown_grace = grace;
        self
    }

    /// Starts the loops, the `LISTEN` connection and the periodic-job
    /// scheduler. The handle completes once `shutdown` turns `true` (or its
    /// sender is dropped) and running handlers have finished or been handed
    /// back. Aborting the handle stops everything at once, as a crash would.
    pub fn spawn(self, shutdown: watch::Receiver<bool>) -> JoinHandle<()> {
        let count = self.count;
        let shared = Arc::new(Shared { workers: self, wake: Notify::new() });
        tokio::spawn(async move {
            if count == 0 {
                return;
            }
            // Dropping the set (the handle aborted) aborts every task in it.
            let mut tasks = JoinSet::new();
            tasks.spawn(shared.clone().listen(shutdown.clone()));
            if shared.workers.registry.periodic_kinds().next().is_some() {
                tasks.spawn(shared.clone().schedule_periodic(shutdown.clone()));
            }
            let host = hostname();
            let pid = std::process::id();
            for _ in 0..count {
                let worker = format!("{host}-{pid}-{}", NEXT_WORKER.fetch_add(1, Ordering::Relaxed));
                tasks.spawn(shared.clone().run_loop(worker, shutdown.clone()));
            }
            tracing::info!(workers = count, "job workers started");
            while let Some(joined) = tasks.join_next().await {
                if let Err(e) = joined {
                    tracing::error!(error = %e, "job worker task failed");
                }
            }
            tracing::info!("job workers stopped");
        })
    }
}

struct Shared {
    workers: Workers,
    /// Signalled by the listener on every notification (and on reconnecting).
    wake: Notify,
}

/// How an attempt ended.
enum Outcome {
    Succeeded,
    Failed(String),
    /// Not ours to finish any more: the lease was lost, or we shut down mid-job.
    Abandoned,
}

impl Shared {
    async fn run_loop(self: Arc<Self>, worker: String, mut shutdown: watch::Receiver<bool>) {
        let config = &self.workers;
        let mut error_backoff = Duration::from_millis(100);
        while !stopping(&shutdown) {
            // Registered before claiming, so a notification that arrives while
            // the claim finds nothing still wakes this loop.
            let wake = self.wake.notified();
            let mut wake = std::pin::pin!(wake);
            wake.as_mut().enable();
            let wait = match self.claim(&worker).await {
                Ok(Some(job)) => {
                    error_backoff = Duration::from_millis(100);
                    self.run(job, &worker, &mut shutdown).await;
                    continue;
                }
                Ok(None) => self.idle_wait().await,
                Err(e) => {
                    tracing::warn!(worker, error = %e, "claiming a job failed; retrying");
                    error_backoff = (error_backoff * 2).min(config.poll_interval);
                    error_backoff
                }
            };
            tokio::select! {
                () = wake => {}
                () = tokio::time::sleep(wait) => {}
                _ = shutdown.changed() => {}
            }
        }
        tracing::debug!(worker, "job worker stopped");
    }

    async fn claim(&self, worker: &str) -> anyhow::Result<Option<JobRow>> {
        let mut conn = self.workers.pool.get().await?;
        Ok(store::claim(&mut conn, worker, self.workers.lease).await?)
    }

    /// Until the next delayed job or lease expiry, at most the polling interval.
    async fn idle_wait(&self) -> Duration {
        let poll = self.workers.poll_interval;
        let next = match self.workers.pool.get().await {
            Ok(mut conn) => store::next_due_in(&mut conn).await.ok().flatten(),
            Err(_) => None,
        };
        match next {
            // A few ms late so the job is due (by the database's clock) when we look.
            Some(secs) if secs.is_finite() => {
                (Duration::from_secs_f64(secs.clamp(0.0, poll.as_secs_f64())) + Duration::from_millis(5)).min(poll)
            }
            _ => poll,
        }
    }

    async fn run(&self, job: JobRow, worker: &str, shutdown: &mut watch::Receiver<bool>) {
        let span = tracing::info_span!("job", job.id = job.id, job.kind = %job.kind, job.attempt = job.attempts);
        async {
            let started = Instant::now();
            let outcome = match self.workers.registry.handler(&job.kind) {
                // Re-claimed after its lease lapsed on the last attempt: the
                // worker died or hung running it, possibly because of it.
                _ if job.attempts > job.max_attempts => Outcome::Failed(
                    "the worker running the last attempt stopped before finishing (lease expired)".to_owned(),
                ),
                // Not a crash: a newer replica may know the kind, so this is an
                // ordinary failed attempt (retried with backoff, then failed).
                None => Outcome::Failed(format!("no handler is registered for job kind `{}`", job.kind)),
                Some(handler) => {
                    let ctx = JobContext {
                        id: job.id,
                        kind: job.kind.clone(),
                        attempt: job.attempts,
                        max_attempts: job.max_attempts,
                        payload: job.payload.clone(),
                        pool: self.workers.pool.clone(),
                        database_url: self.workers.database_url.clone(),
                        shutdown: shutdown.clone(),
                    };
                    // Its own task, so a panic is an error we can see, not a dead loop.
                    // In the job span, so the handler's own logs carry the job fields.
                    let task = AbortOnDrop(tokio::spawn(handler(ctx).in_current_span()));
                    self.supervise(task, &job, worker, shutdown).await
                }
            };
            self.finish(&job, worker, outcome, started.elapsed()).await;
        }
        .instrument(span)
        .await;
    }

    /// Waits for the handler while extending the lease; on shutdown, waits at
    /// most the grace period and then hands the job back.
    async fn supervise(
        &self,
        mut task: AbortOnDrop,
        job: &JobRow,
        worker: &str,
        shutdown: &mut watch::Receiver<bool>,
    ) -> Outcome {
        let config = &self.workers;
        let every = config.lease / 3;
        let mut heartbeat = tokio::time::interval_at(Instant::now() + every, every);
        heartbeat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut deadline: Option<Instant> = None;
        loop {
            tokio::select! {
                joined = &mut task.0 => return match joined {
                    Ok(Ok(())) => Outcome::Succeeded,
                    // Stopped at a checkpoint for the shutdown: hand it back now.
                    Ok(Err(e)) if e.is::<super::Interrupted>() => {
                        if let Err(e) = self.release(job.id, worker).await {
                            tracing::warn!(worker, error = %e, "handing the job back failed; its lease will lapse");
                        }
                        Outcome::Abandoned
                    }
                    Ok(Err(e)) => Outcome::Failed(format!("{e:#}")),
                    Err(e) if e.is_panic() => Outcome::Failed(format!("handler panicked: {}", panic_message(e.into_panic()))),
                    Err(_) => Outcome::Failed("handler task was cancelled".to_owned()),
                },
                _ = heartbeat.tick() => match self.extend_lease(job.id, worker).await {
                    Ok(true) => {}
                    // Someone else owns the job now; running on would only duplicate work.
                    Ok(false) => {
                        tracing::warn!(worker, "lease lost while running; abandoning the attempt");
                        return Outcome::Abandoned;
                    }
                    // The database is briefly unreachable: keep going, the next beat may land.
                    Err(e) => tracing::warn!(worker, error = %e, "extending the job lease failed"),
                },
                _ = shutdown.changed(), if deadline.is_none() => {
                    deadline = Some(Instant::now() + config.shutdown_grace);
                }
                () = tokio::time::sleep_until(deadline.unwrap_or_else(Instant::now)), if deadline.is_some() => {
                    drop(task);
                    tracing::warn!(worker, "shutdown grace period over; handing the job back");
                    if let Err(e) = self.release(job.id, worker).await {
                        tracing::warn!(worker, error = %e, "handing the job back failed; its lease will lapse");
                    }
                    return Outcome::Abandoned;
                }
            }
        }
    }

    async fn extend_lease(&self, id: i64, worker: &str) -> anyhow::Result<bool> {
        let mut conn = self.workers.pool.get().await?;
        Ok(store::heartbeat(&mut conn, id, worker, self.workers.lease).await?)
    }

    async fn release(&self, id: i64, worker: &str) -> anyhow::Result<bool> {
        let mut conn = self.workers.pool.get().await?;
        Ok(store::release(&mut conn, id, worker, "interrupted by worker shutdown").await?)
    }

    /// Records the outcome. If this fails the job stays leased, the lease
    /// lapses and the job runs again: safe, because handlers are idempotent.
    async fn finish(&self, job: &JobRow, worker: &str, outcome: Outcome, elapsed: Duration) {
        let elapsed_ms = u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX);
        let error = match outcome {
            Outcome::Abandoned => return,
            Outcome::Succeeded => None,
            Outcome::Failed(error) => Some(error),
        };
        let retry_in = match &error {
            Some(_) if job.attempts < job.max_attempts => {
                let backoff = self.workers.registry.backoff(&job.kind).unwrap_or(self.workers.backoff);
                Some(backoff.next_delay(job.attempts))
            }
            _ => None,
        };
        let recorded = async {
            let mut conn = self.workers.pool.get().await?;
            let periodic = self
                .workers
                .registry
                .interval(&job.kind)
                .filter(|_| job.dedup_key.as_deref() == Some(periodic_key(&job.kind).as_str()));
            anyhow::Ok(match (error.as_deref(), retry_in, periodic) {
                (Some(error), Some(delay), _) => store::retry(&mut conn, job.id, worker, delay, error).await?,
                (error, _, Some(every)) => {
                    let next = periodic_job(&job.kind, every);
                    store::finish_and_reschedule(&mut conn, job.id, worker, error, &next).await?
                }
                (None, _, None) => store::complete(&mut conn, job.id, worker).await?,
                (Some(error), None, None) => store::fail(&mut conn, job.id, worker, error).await?,
            })
        }
        .await;
        match (recorded, error, retry_in) {
            (Err(e), _, _) => {
                tracing::error!(worker, elapsed_ms, error = %e, "recording the job outcome failed; it will run again")
            }
            (Ok(false), _, _) => tracing::warn!(worker, elapsed_ms, "lease lost before the job finished; not recorded"),
            (Ok(true), None, _) => tracing::debug!(elapsed_ms, "job done"),
            (Ok(true), Some(error), Some(delay)) => {
                let retry_in_ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX);
                tracing::warn!(elapsed_ms, retry_in_ms, error, "job attempt failed; will retry");
            }
            (Ok(true), Some(error), None) => {
                tracing::error!(elapsed_ms, error, "job failed after its last attempt")
            }
        }
    }

    /// Keeps one `LISTEN steward_jobs` connection open, reconnecting with
    /// backoff, and wakes idle loops on each notification.
    async fn listen(self: Arc<Self>, mut shutdown: watch::Receiver<bool>) {
        let mut backoff = Duration::from_millis(100);
        while !stopping(&shutdown) {
            let session = async {
                let mut conn = crate::db::connect(&self.workers.database_url).await?;
                diesel::sql_query(format!("LISTEN {CHANNEL}")).execute(&mut conn).await?;
                // Jobs may have arrived while we were not listening.
                self.wake.notify_waiters();
                tracing::debug!("listening for new jobs");
                let mut notifications = std::pin::pin!(conn.notifications_stream());
                while let Some(notification) = notifications.next().await {
                    notification?;
                    self.wake.notify_waiters();
                }
                anyhow::Ok(())
            };
            tokio::select! {
                result = session => match result {
                    // Polling keeps jobs moving meanwhile, only slower.
                    Ok(()) => tracing::warn!("job listener disconnected; reconnecting"),
                    Err(e) => tracing::warn!(error = %e, "job listener failed; reconnecting"),
                },
                _ = shutdown.changed() => return,
            }
            tokio::select! {
                () = tokio::time::sleep(backoff) => {}
                _ = shutdown.changed() => return,
            }
            backoff = (backoff * 2).min(Duration::from_secs(10));
        }
    }

    /// Makes sure every periodic kind has its live job: at start, and again
    /// each polling interval in case one was removed by hand. Cheap: a
    /// conflicting insert does nothing.
    async fn schedule_periodic(self: Arc<Self>, mut shutdown: watch::Receiver<bool>) {
        while !stopping(&shutdown) {
            let result = async {
                let mut conn = self.workers.pool.get().await?;
                for (kind, _) in self.workers.registry.periodic_kinds() {
                    if let Some(id) = super::enqueue(&mut conn, periodic_job(kind, Duration::ZERO)).await? {
                        tracing::info!(job.id = id, job.kind = kind, "scheduled periodic job");
                    }
                }
                anyhow::Ok(())
            };
            if let Err(e) = result.await {
                tracing::warn!(error = %e, "scheduling periodic jobs failed; will retry");
            }
            tokio::select! {
                () = tokio::time::sleep(self.workers.poll_interval) => {}
                _ = shutdown.changed() => {}
            }
        }
    }
}

/// Whether shutdown was signalled (a dropped sender counts: nobody can signal any more).
fn stopping(shutdown: &watch::Receiver<bool>) -> bool {
    *shutdown.borrow() || shutdown.has_changed().is_err()
}

/// A handler task that is aborted if the worker stops waiting for it (the
/// worker was aborted, or the grace period ran out).
struct AbortOnDrop(JoinHandle<anyhow::Result<()>>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

fn panic_message(payload: Box<dyn Any + Send>) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "(non-string panic payload)".to_owned())
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn panic_messages_are_readable() {
        assert_eq!(panic_message(Box::new("boom")), "boom");
        assert_eq!(panic_message(Box::new(String::from("bang"))), "bang");
        assert_eq!(panic_message(Box::new(42)), "(non-string panic payload)");
    }
}
