//! The job queue over a real PostgreSQL: exactly-once under concurrency,
//! retry after a dead worker, backoff to `failed`, transactional enqueue,
//! dedup, periodic jobs, NOTIFY wake-ups and graceful shutdown.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::common::TestDb;
use diesel::{ExpressionMethods as _, QueryDsl as _, QueryableByName};
use diesel_async::{AsyncConnection as _, RunQueryDsl as _};
use serde_json::json;
use steward::db::schema::jobs as jobs_table;
use steward::jobs::{self, Backoff, JobContext, NewJob, Registry, Workers};
use tokio::sync::{Notify, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;

/// Workers tuned for tests: quick polling, short backoff, a lease that still
/// outlives scheduling hiccups on a busy 2-core machine.
pub(crate) fn workers(db: &TestDb, registry: Registry) -> Workers {
    Workers::new(db.pool(), db.url().to_owned(), Arc::new(registry))
        .lease(Duration::from_secs(3))
        .poll_interval(Duration::from_millis(100))
        .backoff(Backoff { base: Duration::from_millis(200), max: Duration::from_secs(5) })
        .shutdown_grace(Duration::from_secs(5))
}

/// Running workers with their shutdown switch.
pub(crate) struct Running {
    stop: watch::Sender<bool>,
    handle: JoinHandle<()>,
}

pub(crate) fn start(workers: Workers) -> Running {
    let (stop, shutdown) = watch::channel(false);
    Running { stop, handle: workers.spawn(shutdown) }
}

impl Running {
    /// Signals shutdown and waits (bounded) for the workers to return.
    pub(crate) async fn stop(self) {
        self.stop.send(true).unwrap();
        tokio::time::timeout(Duration::from_secs(15), self.handle)
            .await
            .expect("workers did not stop in time")
            .expect("worker task panicked");
    }
}

/// Polls `check` every 25 ms until it holds; panics with `what` after `limit`.
pub(crate) async fn wait_for<F, Fut>(limit: Duration, what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = Instant::now() + limit;
    while !check().await {
        assert!(Instant::now() < deadline, "timed out after {limit:?} waiting for {what}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

async fn pending(db: &TestDb) -> i64 {
    jobs::pending_count(&mut *db.conn().await).await.unwrap()
}

pub(crate) async fn enqueue(db: &TestDb, job: NewJob) -> i64 {
    jobs::enqueue(&mut *db.conn().await, job).await.unwrap().expect("a new job id")
}

pub(crate) async fn find(db: &TestDb, id: i64) -> Option<jobs::JobRow> {
    jobs::find(&mut *db.conn().await, id).await.unwrap()
}

type Runs = Arc<Mutex<HashMap<i64, Vec<i32>>>>;

/// A handler that records (job id → attempts seen) and succeeds.
fn recording(runs: &Runs) -> impl Fn(JobContext) -> std::future::Ready<anyhow::Result<()>> + Send + Sync + 'static {
    let runs = runs.clone();
    move |ctx| {
        runs.lock().unwrap().entry(ctx.id).or_default().push(ctx.attempt);
        std::future::ready(Ok(()))
    }
}

fn runs_of(runs: &Runs, id: i64) -> Vec<i32> {
    runs.lock().unwrap().get(&id).cloned().unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_runs_once_and_is_deleted() {
    let db = TestDb::new().await;
    let runs = Runs::default();
    let mut registry = Registry::new();
    registry.register("test.record", recording(&runs));
    let running = start(workers(&db, registry));

    let id = enqueue(&db, NewJob::new("test.record", json!({"thing_id": 7}))).await;
    wait_for(Duration::from_secs(10), "the job to run", || async { !runs_of(&runs, id).is_empty() }).await;
    wait_for(Duration::from_secs(5), "the row to go", || async { find(&db, id).await.is_none() }).await;
    // Give a wrongly re-queued job the chance to run again.
    tokio::time::sleep(Duration::from_millis(500)).await;

    assert_eq!(runs_of(&runs, id), vec![1], "ran exactly once, on the first attempt");
    assert_eq!(pending(&db).await, 0);
    assert!(jobs::failed_jobs(&mut *db.conn().await).await.unwrap().is_empty());
    running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_worker_processes_never_run_a_job_twice() {
    const JOBS: usize = 200;
    let db = TestDb::new().await;
    let runs = Runs::default();
    // Two "processes": separate registries and listeners, two loops each.
    let processes: Vec<Running> = (0..2)
        .map(|_| {
            let runs = runs.clone();
            let mut registry = Registry::new();
            registry.register("test.count", move |ctx: JobContext| {
                let runs = runs.clone();
                async move {
                    runs.lock().unwrap().entry(ctx.id).or_default().push(ctx.attempt);
                    // Long enough for the loops to overlap.
                    tokio::time::sleep(Duration::from_millis(2)).await;
                    Ok(())
                }
            });
            start(workers(&db, registry).count(2))
        })
        .collect();

    let mut ids = Vec::with_capacity(JOBS);
    let mut conn = db.conn().await;
    for n in 0..JOBS {
        ids.push(jobs::enqueue(&mut conn, NewJob::new("test.count", json!({"n": n}))).await.unwrap().unwrap());
    }
    drop(conn);
    wait_for(Duration::from_secs(60), "the queue to drain", || async { pending(&db).await == 0 }).await;
    tokio::time::sleep(Duration::from_millis(300)).await;

    let runs = runs.lock().unwrap().clone();
    let twice: Vec<_> = runs.iter().filter(|(_, attempts)| attempts.len() > 1).collect();
    assert!(twice.is_empty(), "jobs ran more than once: {twice:?}");
    let missed: Vec<_> = ids.iter().filter(|id| !runs.contains_key(id)).collect();
    assert!(missed.is_empty(), "jobs never ran: {missed:?}");
    assert_eq!(runs.len(), JOBS);
    assert!(runs.values().all(|attempts| attempts == &[1]), "no job needed a retry");
    for process in processes {
        process.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_workers_job_is_retried_after_its_lease_lapses() {
    let db = TestDb::new().await;
    let id = enqueue(&db, NewJob::new("test.record", json!({}))).await;
    // A worker claims the job with a 1 s lease and then dies: no heartbeat, no result.
    let claimed = jobs::claim(&mut *db.conn().await, "dead-worker", Duration::from_secs(1)).await.unwrap();
    let claimed_at = Instant::now();
    assert_eq!(claimed.as_ref().map(|j| (j.id, j.attempts)), Some((id, 1)));

    let runs = Runs::default();
    let mut registry = Registry::new();
    registry.register("test.record", recording(&runs));
    let running = start(workers(&db, registry));

    // While the lease holds, nobody else may take the job.
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert!(runs_of(&runs, id).is_empty(), "a live lease was stolen");
    wait_for(Duration::from_secs(10), "the job to be retried", || async { !runs_of(&runs, id).is_empty() }).await;
    assert!(claimed_at.elapsed() >= Duration::from_millis(900), "re-claimed before the lease lapsed");
    assert_eq!(runs_of(&runs, id), vec![2], "the retry is attempt 2");
    wait_for(Duration::from_secs(5), "the row to go", || async { find(&db, id).await.is_none() }).await;
    running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_whose_worker_dies_on_the_last_attempt_fails_instead_of_looping() {
    let db = TestDb::new().await;
    // A job that (say) crashes its worker: the last attempt's lease lapses.
    let id = enqueue(&db, NewJob::new("test.record", json!({})).max_attempts(1)).await;
    jobs::claim(&mut *db.conn().await, "dead-worker", Duration::from_secs(1)).await.unwrap().expect("claimed");

    let runs = Runs::default();
    let mut registry = Registry::new();
    registry.register("test.record", recording(&runs));
    let running = start(workers(&db, registry));
    wait_for(Duration::from_secs(10), "the job to fail", || async {
        find(&db, id).await.is_some_and(|row| row.state == "failed")
    })
    .await;
    let row = find(&db, id).await.unwrap();
    assert_eq!(row.attempts, 1, "attempts counts real attempts");
    assert!(row.last_error.is_some_and(|e| e.contains("lease expired")));
    assert!(runs_of(&runs, id).is_empty(), "no attempt beyond max_attempts");
    running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_of_an_aborted_worker_runs_again_elsewhere() {
    let db = TestDb::new().await;
    let started = Arc::new(Notify::new());
    let cancelled = Arc::new(Mutex::new(false));
    let mut registry = Registry::new();
    registry.register("test.hang", {
        let (started, cancelled) = (started.clone(), cancelled.clone());
        move |_ctx| {
            let (started, cancelled) = (started.clone(), cancelled.clone());
            async move {
                // Records cancellation when the future is dropped mid-await.
                struct OnDrop(Arc<Mutex<bool>>);
                impl Drop for OnDrop {
                    fn drop(&mut self) {
                        *self.0.lock().unwrap() = true;
                    }
                }
                let _guard = OnDrop(cancelled);
                started.notify_one();
                std::future::pending::<()>().await;
                Ok(())
            }
        }
    });
    let doomed = start(workers(&db, registry).lease(Duration::from_secs(1)));
    let id = enqueue(&db, NewJob::new("test.hang", json!({}))).await;
    tokio::time::timeout(Duration::from_secs(10), started.notified()).await.expect("the handler started");
    // The worker process "crashes" mid-job.
    doomed.handle.abort();
    assert!(doomed.handle.await.unwrap_err().is_cancelled());
    wait_for(Duration::from_secs(2), "the handler to be cancelled", || async { *cancelled.lock().unwrap() }).await;
    let row = find(&db, id).await.expect("the job is still there");
    assert_eq!((row.state.as_str(), row.attempts), ("running", 1));

    let runs = Runs::default();
    let mut registry = Registry::new();
    registry.register("test.hang", recording(&runs));
    let survivor = start(workers(&db, registry));
    wait_for(Duration::from_secs(10), "another worker to finish it", || async { !runs_of(&runs, id).is_empty() }).await;
    assert_eq!(runs_of(&runs, id), vec![2]);
    wait_for(Duration::from_secs(5), "the row to go", || async { find(&db, id).await.is_none() }).await;
    survivor.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_job_keeps_its_lease_with_heartbeats() {
    let db = TestDb::new().await;
    let runs = Runs::default();
    // Two processes with a 600 ms lease; the job takes 2 s, so without
    // heartbeats the other process would re-claim it mid-run.
    let processes: Vec<Running> = (0..2)
        .map(|_| {
            let runs = runs.clone();
            let mut registry = Registry::new();
            registry.register("test.slow", move |ctx: JobContext| {
                let runs = runs.clone();
                async move {
                    runs.lock().unwrap().entry(ctx.id).or_default().push(ctx.attempt);
                    tokio::time::sleep(Duration::from_secs(2)).await;
                    Ok(())
                }
            });
            start(workers(&db, registry).lease(Duration::from_millis(600)))
        })
        .collect();
    let id = enqueue(&db, NewJob::new("test.slow", json!({}))).await;
    wait_for(Duration::from_secs(15), "the job to finish", || async {
        find(&db, id).await.is_none() || runs_of(&runs, id).len() > 1
    })
    .await;
    assert_eq!(runs_of(&runs, id), vec![1], "ran once, never re-claimed");
    wait_for(Duration::from_secs(5), "the row to go", || async { find(&db, id).await.is_none() }).await;
    for process in processes {
        process.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_job_backs_off_then_stays_failed() {
    let db = TestDb::new().await;
    let attempts: Arc<Mutex<Vec<(i32, Instant)>>> = Arc::default();
    let mut registry = Registry::new();
    registry.register("test.fail", {
        let attempts = attempts.clone();
        move |ctx: JobContext| {
            attempts.lock().unwrap().push((ctx.attempt, Instant::now()));
            std::future::ready(
                Err(anyhow::anyhow!("upstream said no")).map_err(|e| e.context(format!("job {}", ctx.id))),
            )
        }
    });
    let base = Duration::from_millis(400);
    let running = start(workers(&db, registry).backoff(Backoff { base, max: Duration::from_secs(10) }));
    let id = enqueue(&db, NewJob::new("test.fail", json!({})).max_attempts(3)).await;

    // After the first failure the job waits, queued, with the error recorded.
    wait_for(Duration::from_secs(10), "the first attempt", || async { !attempts.lock().unwrap().is_empty() }).await;
    wait_for(Duration::from_secs(5), "the retry to be scheduled", || async {
        find(&db, id).await.is_some_and(|row| row.state == "queued" && row.attempts == 1)
    })
    .await;
    let after_first = find(&db, id).await.unwrap();
    assert!(after_first.run_at > after_first.created_at, "run_at moved forward");
    assert!(after_first.last_error.as_deref().is_some_and(|e| e.contains("upstream said no")));

    wait_for(Duration::from_secs(15), "the job to fail for good", || async {
        find(&db, id).await.is_some_and(|row| row.state == "failed")
    })
    .await;
    let row = find(&db, id).await.unwrap();
    assert_eq!(row.attempts, 3);
    assert_eq!(row.locked_by, None);
    let error = row.last_error.as_deref().unwrap_or_default();
    assert!(error.contains("upstream said no") && error.contains(&format!("job {id}")), "last_error: {error}");
    // Two backoffs (base, then 2 × base) separate the three attempts.
    assert!(row.run_at - after_first.run_at >= chrono::Duration::from_std(base * 2).unwrap());

    let seen = attempts.lock().unwrap().clone();
    assert_eq!(seen.iter().map(|(n, _)| *n).collect::<Vec<_>>(), vec![1, 2, 3]);
    let first_gap = seen[1].1 - seen[0].1;
    let second_gap = seen[2].1 - seen[1].1;
    assert!(first_gap >= base, "first retry after {first_gap:?}, before the {base:?} backoff");
    assert!(second_gap >= base * 2, "second retry after {second_gap:?}, before the doubled backoff");

    // Failed jobs are kept for inspection, and nothing runs them again.
    let failed = jobs::failed_jobs(&mut *db.conn().await).await.unwrap();
    assert_eq!(failed.iter().map(|j| j.id).collect::<Vec<_>>(), vec![id]);
    assert_eq!(pending(&db).await, 0);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(attempts.lock().unwrap().len(), 3);
    running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_handler_is_a_failed_attempt_and_the_worker_goes_on() {
    let db = TestDb::new().await;
    let runs = Runs::default();
    let mut registry = Registry::new();
    registry.register("test.panic", |_ctx| async { panic!("kaboom in the handler") });
    registry.register("test.record", recording(&runs));
    // One loop: if the panic killed it, the second job would never run.
    let running = start(workers(&db, registry).count(1));

    let bad = enqueue(&db, NewJob::new("test.panic", json!({})).max_attempts(1)).await;
    wait_for(Duration::from_secs(10), "the job to fail", || async {
        find(&db, bad).await.is_some_and(|row| row.state == "failed")
    })
    .await;
    let row = find(&db, bad).await.unwrap();
    assert!(row.last_error.as_deref().is_some_and(|e| e.contains("panicked") && e.contains("kaboom in the handler")));

    let good = enqueue(&db, NewJob::new("test.record", json!({}))).await;
    wait_for(Duration::from_secs(10), "the next job", || async { !runs_of(&runs, good).is_empty() }).await;
    running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_kind_fails_with_a_clear_error() {
    let db = TestDb::new().await;
    let runs = Runs::default();
    let mut registry = Registry::new();
    registry.register("test.record", recording(&runs));
    let running = start(workers(&db, registry).count(1));

    let unknown = enqueue(&db, NewJob::new("test.nobody_handles_this", json!({})).max_attempts(1)).await;
    wait_for(Duration::from_secs(10), "the job to fail", || async {
        find(&db, unknown).await.is_some_and(|row| row.state == "failed")
    })
    .await;
    let row = find(&db, unknown).await.unwrap();
    let error = row.last_error.unwrap_or_default();
    assert!(error.contains("no handler") && error.contains("test.nobody_handles_this"), "last_error: {error}");

    let known = enqueue(&db, NewJob::new("test.record", json!({}))).await;
    wait_for(Duration::from_secs(10), "the next job", || async { !runs_of(&runs, known).is_empty() }).await;
    running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn enqueue_commits_or_rolls_back_with_the_callers_transaction() {
    let db = TestDb::new().await;
    let pool = db.pool();
    let mut conn = db.conn().await;

    let rolled_back = conn
        .transaction::<(), diesel::result::Error, _>(async |conn| {
            let id = jobs::enqueue(conn, NewJob::new("test.record", json!({"donation_id": 1}))).await?;
            assert!(id.is_some());
            Err(diesel::result::Error::RollbackTransaction)
        })
        .await;
    assert!(rolled_back.is_err());
    assert_eq!(pending(&db).await, 0, "a rolled-back enqueue left a phantom job");

    // Committed: invisible to workers until the commit, then claimable.
    let committed = conn
        .transaction::<i64, diesel::result::Error, _>(async |conn| {
            let id = jobs::enqueue(conn, NewJob::new("test.record", json!({"donation_id": 2}))).await?.unwrap();
            let seen = jobs::claim(&mut pool.get().await.unwrap(), "w", Duration::from_secs(5)).await?;
            assert!(seen.is_none(), "a job was claimable before its transaction committed");
            Ok(id)
        })
        .await
        .unwrap();
    let claimed = jobs::claim(&mut conn, "w", Duration::from_secs(5)).await.unwrap();
    assert_eq!(claimed.map(|j| j.id), Some(committed));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dedup_key_allows_one_live_job() {
    let db = TestDb::new().await;
    let key = "donation:42:process";
    let first = jobs::enqueue(&mut *db.conn().await, NewJob::new("test.gate", json!({})).dedup_key(key)).await.unwrap();
    let second =
        jobs::enqueue(&mut *db.conn().await, NewJob::new("test.gate", json!({})).dedup_key(key)).await.unwrap();
    assert!(first.is_some());
    assert_eq!(second, None, "a duplicate was enqueued");
    assert_eq!(pending(&db).await, 1);

    // Still deduplicated while it runs; free again once it is done.
    let started = Arc::new(Notify::new());
    let release = Arc::new(Notify::new());
    let mut registry = Registry::new();
    registry.register("test.gate", {
        let (started, release) = (started.clone(), release.clone());
        move |_ctx| {
            let (started, release) = (started.clone(), release.clone());
            async move {
                started.notify_one();
                release.notified().await;
                Ok(())
            }
        }
    });
    let running = start(workers(&db, registry).count(1));
    tokio::time::timeout(Duration::from_secs(10), started.notified()).await.expect("the job started");
    let while_running =
        jobs::enqueue(&mut *db.conn().await, NewJob::new("test.gate", json!({})).dedup_key(key)).await.unwrap();
    assert_eq!(while_running, None, "a duplicate was enqueued while the job ran");
    release.notify_one();
    wait_for(Duration::from_secs(5), "the job to finish", || async { pending(&db).await == 0 }).await;
    let after = jobs::enqueue(&mut *db.conn().await, NewJob::new("test.gate", json!({})).dedup_key(key)).await.unwrap();
    assert!(after.is_some_and(|id| Some(id) != first), "the key is free once the job is done");
    running.stop().await;
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    n: i64,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notify_wakes_idle_workers_without_polling() {
    let db = TestDb::new().await;
    let runs = Runs::default();
    let mut registry = Registry::new();
    registry.register("test.record", recording(&runs));
    // Polling so slow that only a notification can explain a prompt run.
    let running = start(workers(&db, registry).count(2).poll_interval(Duration::from_secs(60)));
    wait_for(Duration::from_secs(10), "the LISTEN connection", || async {
        diesel::sql_query(
            "SELECT count(*) AS n FROM pg_stat_activity \
             WHERE datname = current_database() AND query = 'LISTEN steward_jobs'",
        )
        .get_result::<Count>(&mut *db.conn().await)
        .await
        .unwrap()
        .n == 1
    })
    .await;
    // Let the loops settle into their (60 s) idle wait.
    tokio::time::sleep(Duration::from_millis(500)).await;

    let enqueued = Instant::now();
    let id = enqueue(&db, NewJob::new("test.record", json!({}))).await;
    wait_for(Duration::from_secs(2), "a notified worker to run the job", || async { !runs_of(&runs, id).is_empty() })
        .await;
    assert!(enqueued.elapsed() < Duration::from_secs(2));
    running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn higher_priority_runs_first_and_future_jobs_wait() {
    let db = TestDb::new().await;
    let order: Arc<Mutex<Vec<String>>> = Arc::default();
    let mut conn = db.conn().await;
    for (name, priority) in [("low", 0), ("high", 10), ("middle", 5)] {
        jobs::enqueue(&mut conn, NewJob::new("test.order", json!({ "name": name })).priority(priority)).await.unwrap();
    }
    let later = chrono::Utc::now() + chrono::Duration::hours(1);
    jobs::enqueue(&mut conn, NewJob::new("test.order", json!({ "name": "later" })).priority(100).run_at(later))
        .await
        .unwrap();
    drop(conn);

    let mut registry = Registry::new();
    registry.register("test.order", {
        let order = order.clone();
        move |ctx: JobContext| {
            #[derive(serde::Deserialize)]
            struct Payload {
                name: String,
            }
            let result = ctx.parse_payload::<Payload>().map(|p| order.lock().unwrap().push(p.name));
            std::future::ready(result)
        }
    });
    let running = start(workers(&db, registry).count(1));
    wait_for(Duration::from_secs(10), "the due jobs", || async { order.lock().unwrap().len() == 3 }).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(*order.lock().unwrap(), ["high", "middle", "low"]);
    assert_eq!(pending(&db).await, 1, "the future job waits for its time");
    running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_periodic_job_runs_once_per_interval_across_replicas() {
    let db = TestDb::new().await;
    let every = Duration::from_millis(500);
    let starts: Arc<Mutex<Vec<Instant>>> = Arc::default();
    // Two replicas, each registering the same periodic job.
    let replicas: Vec<Running> = (0..2)
        .map(|_| {
            let starts = starts.clone();
            let mut registry = Registry::new();
            registry.periodic("test.tick", every, move |_ctx| {
                starts.lock().unwrap().push(Instant::now());
                std::future::ready(Ok(()))
            });
            start(workers(&db, registry).count(2))
        })
        .collect();

    wait_for(Duration::from_secs(15), "four runs", || async { starts.lock().unwrap().len() >= 4 }).await;
    let starts = starts.lock().unwrap().clone();
    for pair in starts.windows(2) {
        let gap = pair[1] - pair[0];
        assert!(gap >= every.mul_f64(0.9), "two runs {gap:?} apart: the job is scheduled more than once");
    }
    let live: i64 = jobs_table::table
        .filter(jobs_table::dedup_key.eq("periodic:test.tick"))
        .filter(jobs_table::state.ne("failed"))
        .count()
        .get_result(&mut *db.conn().await)
        .await
        .unwrap();
    assert_eq!(live, 1, "exactly one next run is scheduled");
    for replica in replicas {
        replica.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_lets_a_running_job_finish() {
    let db = TestDb::new().await;
    let started = Arc::new(Notify::new());
    let finished = Arc::new(Mutex::new(false));
    let mut registry = Registry::new();
    registry.register("test.slow", {
        let (started, finished) = (started.clone(), finished.clone());
        move |_ctx| {
            let (started, finished) = (started.clone(), finished.clone());
            async move {
                started.notify_one();
                tokio::time::sleep(Duration::from_millis(800)).await;
                *finished.lock().unwrap() = true;
                Ok(())
            }
        }
    });
    let running = start(workers(&db, registry));
    let id = enqueue(&db, NewJob::new("test.slow", json!({}))).await;
    tokio::time::timeout(Duration::from_secs(10), started.notified()).await.expect("the job started");
    running.stop().await;
    assert!(*finished.lock().unwrap(), "shutdown cut the running job short");
    assert!(find(&db, id).await.is_none(), "the finished job was recorded as done");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_hands_back_a_job_that_overruns_the_grace_period() {
    let db = TestDb::new().await;
    let started = Arc::new(Notify::new());
    let mut registry = Registry::new();
    registry.register("test.hang", {
        let started = started.clone();
        move |_ctx| {
            let started = started.clone();
            async move {
                started.notify_one();
                std::future::pending::<()>().await;
                Ok(())
            }
        }
    });
    let running = start(workers(&db, registry).shutdown_grace(Duration::from_millis(300)));
    let id = enqueue(&db, NewJob::new("test.hang", json!({})).max_attempts(1)).await;
    tokio::time::timeout(Duration::from_secs(10), started.notified()).await.expect("the job started");
    let stopping = Instant::now();
    running.stop().await;
    assert!(stopping.elapsed() < Duration::from_secs(3), "shutdown waited past its grace period");

    // Back in the queue at once, and the interrupted attempt does not count
    // (else this single-attempt job could never run again).
    let row = find(&db, id).await.expect("the job is kept");
    assert_eq!((row.state.as_str(), row.attempts, row.locked_by), ("queued", 0, None));
    assert!(row.last_error.is_some_and(|e| e.contains("shutdown")));
    let runs = Runs::default();
    let mut registry = Registry::new();
    registry.register("test.hang", recording(&runs));
    let next = start(workers(&db, registry));
    wait_for(Duration::from_secs(10), "the job to run again", || async { !runs_of(&runs, id).is_empty() }).await;
    assert_eq!(runs_of(&runs, id), vec![1]);
    next.stop().await;
}
