//! What an operator does about jobs (`steward jobs`): look at them, run
//! failed ones again, and clear failed ones away. Only failed jobs are ever
//! re-queued or deleted: a queued or running job is live work that a
//! donation, upload or e-mail waits on.
//!
//! Re-running a failed job is safe because every handler is idempotent and
//! checks that its work is still wanted: a donation deleted or retried by its
//! researcher since makes its old job a no-op.

use std::fmt;

use chrono::{DateTime, Utc};
use diesel::QueryResult;
use diesel_async::AsyncPgConnection;

use super::store::{self, JobRow};

/// Longest last error [`describe`] shows; the row keeps it whole.
const SHOWN_ERROR_CHARS: usize = 300;

/// What became of one job an operator named.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Queued again, due now, with all its attempts.
    Requeued,
    /// Deleted.
    Deleted,
    /// No job has this id (it finished, or was deleted).
    NotFound,
    /// The job is `queued` or `running`, not failed.
    NotFailed { state: String },
    /// A live job already holds the failed job's dedup key.
    KeyTaken { key: String, live: i64 },
    /// Another process changed the job while this ran.
    Changed,
}

impl Outcome {
    /// Whether the operator's request was carried out.
    pub fn done(&self) -> bool {
        matches!(self, Self::Requeued | Self::Deleted)
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Requeued => f.write_str("queued again"),
            Self::Deleted => f.write_str("deleted"),
            Self::NotFound => f.write_str("no such job (finished jobs leave no row)"),
            Self::NotFailed { state } => write!(f, "not failed but {state}; only failed jobs can be changed"),
            Self::KeyTaken { key, live } => {
                write!(f, "job {live} already does this work ({key}); delete this one instead")
            }
            Self::Changed => f.write_str("changed by another process meanwhile; look again"),
        }
    }
}

/// A job for an operator's terminal: what, in which state, on what, and its
/// last error (cut short, on one line).
pub fn describe(job: &JobRow) -> String {
    let time = |t: DateTime<Utc>| t.format("%Y-%m-%d %H:%M:%S UTC");
    let (attempts, max) = (job.attempts, job.max_attempts);
    let state = match job.state.as_str() {
        "queued" if attempts == 0 => format!("queued, due {}", time(job.run_at)),
        "queued" => format!("queued after {attempts} of {max} attempts, next at {}", time(job.run_at)),
        "running" => format!(
            "running attempt {attempts} of {max} on {}",
            job.locked_by.as_deref().unwrap_or("an unknown worker")
        ),
        "failed" => format!("failed after {attempts} of {max} attempts at {}", time(job.updated_at)),
        other => other.to_owned(),
    };
    let mut text = format!("job {} · {} · {state}\n  payload {}", job.id, job.kind, job.payload);
    if let Some(error) = &job.last_error {
        let line = error.split_whitespace().collect::<Vec<_>>().join(" ");
        let shown: String = line.chars().take(SHOWN_ERROR_CHARS).collect();
        let more = if shown.len() < line.len() { " …" } else { "" };
        text += &format!("\n  last error: {shown}{more}");
    }
    text
}

/// Re-queues each failed job of `ids`; idle workers wake when it commits.
pub async fn retry(conn: &mut AsyncPgConnection, ids: &[i64]) -> QueryResult<Vec<(i64, Outcome)>> {
    let outcomes = each(conn, ids, Action::Requeue).await?;
    if outcomes.iter().any(|(_, outcome)| *outcome == Outcome::Requeued) {
        store::notify(conn).await?;
    }
    Ok(outcomes)
}

/// Re-queues every failed job, oldest failure first (of two failed jobs with
/// one dedup key, the older one runs and the newer one is reported).
pub async fn retry_all_failed(conn: &mut AsyncPgConnection) -> QueryResult<Vec<(i64, Outcome)>> {
    let mut ids: Vec<i64> = store::failed_jobs(conn).await?.into_iter().map(|job| job.id).collect();
    ids.reverse();
    retry(conn, &ids).await
}

/// Deletes each failed job of `ids`.
pub async fn delete(conn: &mut AsyncPgConnection, ids: &[i64]) -> QueryResult<Vec<(i64, Outcome)>> {
    each(conn, ids, Action::Delete).await
}

#[derive(Clone, Copy, PartialEq)]
enum Action {
    Requeue,
    Delete,
}

/// Applies `action` to each failed job of `ids`, saying why where it could not.
async fn each(conn: &mut AsyncPgConnection, ids: &[i64], action: Action) -> QueryResult<Vec<(i64, Outcome)>> {
    let mut outcomes = Vec::with_capacity(ids.len());
    for &id in ids {
        let outcome = match action {
            Action::Requeue if store::requeue_failed(conn, id).await? => Outcome::Requeued,
            Action::Delete if store::delete_failed(conn, id).await? => Outcome::Deleted,
            _ => why_not(conn, id, action).await?,
        };
        outcomes.push((id, outcome));
    }
    Ok(outcomes)
}

/// Deletes the failed jobs that last changed before `before`; how many went.
pub async fn delete_failed_before(conn: &mut AsyncPgConnection, before: DateTime<Utc>) -> QueryResult<usize> {
    store::delete_failed_before(conn, before).await
}

/// Why `action` left job `id` as it was.
async fn why_not(conn: &mut AsyncPgConnection, id: i64, action: Action) -> QueryResult<Outcome> {
    let Some(job) = store::find(conn, id).await? else {
        return Ok(Outcome::NotFound);
    };
    if job.state != "failed" {
        return Ok(Outcome::NotFailed { state: job.state });
    }
    let live = match (&job.dedup_key, action) {
        (Some(key), Action::Requeue) => store::live_with_key(conn, key).await?,
        _ => None,
    };
    Ok(match (job.dedup_key, live) {
        (Some(key), Some(live)) => Outcome::KeyTaken { key, live },
        // Still failed, yet untouched: it failed again, or the live job ended, in between.
        _ => Outcome::Changed,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(state: &str, attempts: i32, last_error: Option<&str>) -> JobRow {
        let at = DateTime::parse_from_rfc3339("2026-11-23T10:00:00Z").unwrap().with_timezone(&Utc);
        JobRow {
            id: 12,
            kind: "upload.notify".to_owned(),
            payload: serde_json::json!({"notification_id": 5}),
            priority: 0,
            state: state.to_owned(),
            attempts,
            max_attempts: 8,
            run_at: at,
            locked_by: (state == "running").then(|| "host-1/3".to_owned()),
            locked_until: None,
            last_error: last_error.map(str::to_owned),
            dedup_key: None,
            created_at: at,
            updated_at: at,
        }
    }

    #[test]
    fn a_failed_job_shows_its_attempts_payload_and_error_on_one_line() {
        let text = describe(&job("failed", 8, Some("smtp said:\n  550 no such mailbox")));
        assert_eq!(
            text,
            "job 12 · upload.notify · failed after 8 of 8 attempts at 2026-11-23 10:00:00 UTC\n  \
             payload {\"notification_id\":5}\n  last error: smtp said: 550 no such mailbox"
        );
    }

    #[test]
    fn queued_and_running_jobs_say_when_and_where() {
        assert!(describe(&job("queued", 0, None)).contains("· queued, due 2026-11-23 10:00:00 UTC\n"));
        assert!(describe(&job("queued", 2, Some("timeout"))).contains("queued after 2 of 8 attempts, next at"));
        assert!(describe(&job("running", 3, None)).contains("running attempt 3 of 8 on host-1/3"));
    }

    #[test]
    fn a_long_error_is_cut_short() {
        let text = describe(&job("failed", 8, Some(&"é".repeat(1000))));
        let shown = text.rsplit("last error: ").next().unwrap();
        assert_eq!(shown.chars().count(), SHOWN_ERROR_CHARS + 2);
        assert!(shown.ends_with(" …"));
    }
}
