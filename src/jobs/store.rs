//! Rows and queries of the `jobs` table. Every state change after a claim is
//! guarded by `locked_by = <worker>`, so a worker whose lease lapsed (and whose
//! job another worker re-claimed) cannot delete or re-queue the job under the
//! new owner's feet.

use std::time::Duration;

use chrono::{DateTime, Utc};
use diesel::data_types::PgInterval;
use diesel::prelude::*;
use diesel::sql_types::{Double, Int8, Interval, Nullable, Text};
use diesel_async::{AsyncConnection as _, AsyncPgConnection, RunQueryDsl};

use super::NewJob;
use crate::db::schema::jobs;

/// The channel whose notifications wake idle workers.
pub const CHANNEL: &str = "steward_jobs";

/// Error texts longer than this are cut: a row is for diagnosis, not a log archive.
const MAX_ERROR_CHARS: usize = 4000;
/// Longest interval ever bound: keeps `now() + interval` inside PostgreSQL's timestamp range.
const MAX_INTERVAL: Duration = Duration::from_secs(366 * 24 * 3600);

/// A row of `jobs`.
#[derive(Debug, Clone, PartialEq, Queryable, QueryableByName, Selectable)]
#[diesel(table_name = jobs)]
pub struct JobRow {
    pub id: i64,
    pub kind: String,
    pub payload: serde_json::Value,
    pub priority: i16,
    /// `queued`, `running` or `failed`.
    pub state: String,
    /// Attempts started so far, the running one included.
    pub attempts: i32,
    pub max_attempts: i32,
    /// Not before this time (the next attempt's time after a failure).
    pub run_at: DateTime<Utc>,
    pub locked_by: Option<String>,
    pub locked_until: Option<DateTime<Utc>>,
    pub last_error: Option<String>,
    pub dedup_key: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Insertable)]
#[diesel(table_name = jobs)]
struct InsertJob<'a> {
    kind: &'a str,
    payload: &'a serde_json::Value,
    priority: i16,
    max_attempts: i32,
    // `None` leaves the column to its default (`now()`).
    run_at: Option<DateTime<Utc>>,
    dedup_key: Option<&'a str>,
}

/// Inserts `job` unless a live job has its dedup key; the new id, or `None`.
pub async fn insert(conn: &mut AsyncPgConnection, job: &NewJob) -> QueryResult<Option<i64>> {
    diesel::insert_into(jobs::table)
        .values(InsertJob {
            kind: &job.kind,
            payload: &job.payload,
            priority: job.priority,
            max_attempts: job.max_attempts,
            run_at: job.run_at,
            dedup_key: job.dedup_key.as_deref(),
        })
        // The only unique constraints are the primary key and the partial
        // dedup index, so "do nothing" means "a live duplicate exists".
        .on_conflict_do_nothing()
        .returning(jobs::id)
        .get_result(conn)
        .await
        .optional()
}

/// Wakes idle workers; inside a transaction PostgreSQL delivers it on commit
/// (and not at all on rollback), folding duplicates into one.
pub async fn notify(conn: &mut AsyncPgConnection) -> QueryResult<()> {
    diesel::sql_query("SELECT pg_notify($1, '')").bind::<Text, _>(CHANNEL).execute(conn).await.map(drop)
}

/// Atomically claims the most urgent runnable job for `worker`, leasing it
/// for `lease`: a queued job whose time has come, or a running job whose
/// worker let its lease lapse (it died or hung). `SKIP LOCKED` lets
/// concurrent workers pass over each other's candidates instead of queueing.
pub async fn claim(conn: &mut AsyncPgConnection, worker: &str, lease: Duration) -> QueryResult<Option<JobRow>> {
    diesel::sql_query(
        "UPDATE jobs SET state = 'running', attempts = attempts + 1, \
                locked_by = $1, locked_until = now() + $2 \
         WHERE id = ( \
             SELECT id FROM jobs \
             WHERE (state = 'queued' AND run_at <= now()) \
                OR (state = 'running' AND locked_until < now()) \
             ORDER BY priority DESC, run_at, id \
             FOR UPDATE SKIP LOCKED \
             LIMIT 1) \
         RETURNING id, kind, payload, priority, state, attempts, max_attempts, run_at, \
                   locked_by, locked_until, last_error, dedup_key, created_at, updated_at",
    )
    .bind::<Text, _>(worker)
    .bind::<Interval, _>(interval(lease))
    .get_result(conn)
    .await
    .optional()
}

/// Extends `worker`'s lease on job `id`; `false` when it no longer holds it.
pub async fn heartbeat(conn: &mut AsyncPgConnection, id: i64, worker: &str, lease: Duration) -> QueryResult<bool> {
    diesel::sql_query(
        "UPDATE jobs SET locked_until = now() + $3 \
         WHERE id = $1 AND locked_by = $2 AND state = 'running'",
    )
    .bind::<Int8, _>(id)
    .bind::<Text, _>(worker)
    .bind::<Interval, _>(interval(lease))
    .execute(conn)
    .await
    .map(|n| n == 1)
}

/// Deletes a finished job; `false` when `worker` no longer held it.
pub async fn complete(conn: &mut AsyncPgConnection, id: i64, worker: &str) -> QueryResult<bool> {
    diesel::delete(
        jobs::table.filter(jobs::id.eq(id)).filter(jobs::locked_by.eq(worker)).filter(jobs::state.eq("running")),
    )
    .execute(conn)
    .await
    .map(|n| n == 1)
}

/// Puts a failed attempt back in the queue to run after `delay`.
pub async fn retry(
    conn: &mut AsyncPgConnection,
    id: i64,
    worker: &str,
    delay: Duration,
    error: &str,
) -> QueryResult<bool> {
    diesel::sql_query(
        "UPDATE jobs SET state = 'queued', run_at = now() + $3, last_error = $4, \
                locked_by = NULL, locked_until = NULL \
         WHERE id = $1 AND locked_by = $2 AND state = 'running'",
    )
    .bind::<Int8, _>(id)
    .bind::<Text, _>(worker)
    .bind::<Interval, _>(interval(delay))
    .bind::<Text, _>(truncate(error))
    .execute(conn)
    .await
    .map(|n| n == 1)
}

/// Marks a job failed for good; the row stays for inspection and no longer
/// blocks its dedup key.
pub async fn fail(conn: &mut AsyncPgConnection, id: i64, worker: &str, error: &str) -> QueryResult<bool> {
    diesel::sql_query(
        // A job re-claimed after its worker died on the last attempt was
        // counted once more than it ran; record the attempts it really had.
        "UPDATE jobs SET state = 'failed', attempts = LEAST(attempts, max_attempts), last_error = $3, \
                locked_by = NULL, locked_until = NULL \
         WHERE id = $1 AND locked_by = $2 AND state = 'running'",
    )
    .bind::<Int8, _>(id)
    .bind::<Text, _>(worker)
    .bind::<Text, _>(truncate(error))
    .execute(conn)
    .await
    .map(|n| n == 1)
}

/// Finishes a periodic job (deleting it, or with `error` marking it failed)
/// and enqueues its next run in the same transaction, so the dedup key is
/// never free for a second chain to start.
pub async fn finish_and_reschedule(
    conn: &mut AsyncPgConnection,
    id: i64,
    worker: &str,
    error: Option<&str>,
    next: &NewJob,
) -> QueryResult<bool> {
    conn.transaction(async |conn| {
        let finished = match error {
            None => complete(conn, id, worker).await?,
            Some(error) => fail(conn, id, worker, error).await?,
        };
        if finished {
            insert(conn, next).await?;
            notify(conn).await?;
        }
        Ok(finished)
    })
    .await
}

/// Hands a job back to the queue at once (worker shutting down mid-job). The
/// interrupted attempt does not count: it was not the job's fault.
pub async fn release(conn: &mut AsyncPgConnection, id: i64, worker: &str, reason: &str) -> QueryResult<bool> {
    diesel::sql_query(
        "UPDATE jobs SET state = 'queued', attempts = GREATEST(attempts - 1, 0), run_at = now(), \
                last_error = $3, locked_by = NULL, locked_until = NULL \
         WHERE id = $1 AND locked_by = $2 AND state = 'running'",
    )
    .bind::<Int8, _>(id)
    .bind::<Text, _>(worker)
    .bind::<Text, _>(reason)
    .execute(conn)
    .await
    .map(|n| n == 1)
}

#[derive(QueryableByName)]
struct NextDue {
    #[diesel(sql_type = Nullable<Double>)]
    seconds: Option<f64>,
}

/// Seconds until the next queued job is due or the next lease lapses
/// (negative when already due); `None` when nothing is waiting.
pub async fn next_due_in(conn: &mut AsyncPgConnection) -> QueryResult<Option<f64>> {
    diesel::sql_query(
        "SELECT EXTRACT(EPOCH FROM LEAST( \
             (SELECT min(run_at) FROM jobs WHERE state = 'queued'), \
             (SELECT min(locked_until) FROM jobs WHERE state = 'running') \
         ) - now())::float8 AS seconds",
    )
    .get_result::<NextDue>(conn)
    .await
    .map(|row| row.seconds)
}

/// Jobs that used up their attempts, newest first.
pub async fn failed_jobs(conn: &mut AsyncPgConnection) -> QueryResult<Vec<JobRow>> {
    jobs::table
        .filter(jobs::state.eq("failed"))
        .order((jobs::updated_at.desc(), jobs::id.desc()))
        .select(JobRow::as_select())
        .load(conn)
        .await
}

/// Jobs not yet done: queued (due or not) or running.
pub async fn pending_count(conn: &mut AsyncPgConnection) -> QueryResult<i64> {
    jobs::table.filter(jobs::state.ne("failed")).count().get_result(conn).await
}

/// One job by id, in any state.
pub async fn find(conn: &mut AsyncPgConnection, id: i64) -> QueryResult<Option<JobRow>> {
    jobs::table.find(id).select(JobRow::as_select()).first(conn).await.optional()
}

/// Up to `limit` jobs, in `state` and of `kind` where given, most recently
/// changed first.
pub async fn list(
    conn: &mut AsyncPgConnection,
    state: Option<&str>,
    kind: Option<&str>,
    limit: i64,
) -> QueryResult<Vec<JobRow>> {
    let mut query = jobs::table.select(JobRow::as_select()).into_boxed();
    if let Some(state) = state {
        query = query.filter(jobs::state.eq(state.to_owned()));
    }
    if let Some(kind) = kind {
        query = query.filter(jobs::kind.eq(kind.to_owned()));
    }
    query.order((jobs::updated_at.desc(), jobs::id.desc())).limit(limit).load(conn).await
}

/// Puts failed job `id` back in the queue, due now with all its attempts,
/// unless a live job holds its dedup key (a periodic job's next run, a
/// donation retried meanwhile); `false` when it was not re-queued.
pub async fn requeue_failed(conn: &mut AsyncPgConnection, id: i64) -> QueryResult<bool> {
    diesel::sql_query(
        "UPDATE jobs SET state = 'queued', attempts = 0, run_at = now() \
         WHERE id = $1 AND state = 'failed' \
           AND (dedup_key IS NULL OR NOT EXISTS ( \
               SELECT 1 FROM jobs live WHERE live.dedup_key = jobs.dedup_key AND live.state <> 'failed'))",
    )
    .bind::<Int8, _>(id)
    .execute(conn)
    .await
    .map(|n| n == 1)
}

/// The live (queued or running) job holding `dedup_key`, if any.
pub async fn live_with_key(conn: &mut AsyncPgConnection, dedup_key: &str) -> QueryResult<Option<i64>> {
    jobs::table
        .filter(jobs::dedup_key.eq(dedup_key))
        .filter(jobs::state.ne("failed"))
        .select(jobs::id)
        .first(conn)
        .await
        .optional()
}

/// Deletes failed job `id`; `false` when there is no such failed job.
pub async fn delete_failed(conn: &mut AsyncPgConnection, id: i64) -> QueryResult<bool> {
    diesel::delete(jobs::table.filter(jobs::id.eq(id)).filter(jobs::state.eq("failed")))
        .execute(conn)
        .await
        .map(|n| n == 1)
}

/// Deletes the failed jobs that last changed before `before`; how many went.
pub async fn delete_failed_before(conn: &mut AsyncPgConnection, before: DateTime<Utc>) -> QueryResult<usize> {
    diesel::delete(jobs::table.filter(jobs::state.eq("failed")).filter(jobs::updated_at.lt(before))).execute(conn).await
}

fn interval(d: Duration) -> PgInterval {
    let micros = d.min(MAX_INTERVAL).as_micros();
    PgInterval::from_microseconds(i64::try_from(micros).unwrap_or(i64::MAX))
}

fn truncate(error: &str) -> &str {
    match error.char_indices().nth(MAX_ERROR_CHARS) {
        Some((end, _)) => &error[..end],
        None => error,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncates_on_a_char_boundary() {
        assert_eq!(truncate("short"), "short");
        let long = "é".repeat(MAX_ERROR_CHARS + 10);
        assert_eq!(truncate(&long).chars().count(), MAX_ERROR_CHARS);
    }

    #[test]
    fn intervals_are_capped() {
        assert_eq!(interval(Duration::from_millis(1500)), PgInterval::from_microseconds(1_500_000));
        assert_eq!(interval(Duration::MAX), interval(MAX_INTERVAL));
    }
}
