//! SubmitShare's storing step, batched: concurrent submissions are gathered
//! and stored by one call of `store::insert_submissions_checked`, one round
//! trip and one commit for many, which is what lets one party take thousands
//! of submissions a second on two cores (the spec's target). Under light load
//! a batch is a single submission and nothing waits.
//!
//! A few workers share one queue. A worker takes what is queued (at most
//! [`MAX_BATCH`]), splits it into rounds the storing function accepts (no
//! (endpoint, id) twice, no contributor lock twice), and answers every
//! submission. If a round fails as a whole, each of its submissions is tried
//! on its own, so one bad row cannot fail its neighbours.

use std::collections::HashSet;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use tokio::sync::{Mutex, mpsc, oneshot};

use super::error::{Result, ShareError};
use super::store::{self, NewSubmission};
use crate::db::Pool;

/// Submissions stored by one call at most.
pub const MAX_BATCH: usize = 64;
/// Workers storing at once (each holds one pooled connection while it stores).
const WORKERS: usize = 4;
/// Submissions waiting at most; senders wait beyond that.
const QUEUE: usize = 4096;

struct Job {
    submission: NewSubmission,
    reply: oneshot::Sender<Result<Option<DateTime<Utc>>>>,
}

/// The queue into the storing workers.
#[derive(Debug, Clone)]
pub struct Intake {
    queue: mpsc::Sender<Job>,
}

impl std::fmt::Debug for Job {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Job").field("endpoint", &self.submission.endpoint).finish_non_exhaustive()
    }
}

impl Intake {
    /// Starts the workers on the current runtime.
    pub fn start(pool: Pool) -> Self {
        let (queue, jobs) = mpsc::channel(QUEUE);
        let jobs = Arc::new(Mutex::new(jobs));
        for _ in 0..WORKERS {
            tokio::spawn(work(pool.clone(), jobs.clone()));
        }
        Self { queue }
    }

    /// Stores `submission` if its checks pass: its receive time, or `None`
    /// when a check failed.
    pub async fn store(&self, submission: NewSubmission) -> Result<Option<DateTime<Utc>>> {
        let (reply, answer) = oneshot::channel();
        let stopped = || ShareError::Internal(anyhow::anyhow!("the submission workers stopped"));
        self.queue.send(Job { submission, reply }).await.map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?
    }
}

async fn work(pool: Pool, jobs: Arc<Mutex<mpsc::Receiver<Job>>>) {
    loop {
        let mut batch = Vec::new();
        {
            // One idle worker waits for the queue; the others wait for it.
            let mut jobs = jobs.lock().await;
            let Some(first) = jobs.recv().await else { return };
            batch.push(first);
            while batch.len() < MAX_BATCH
                && let Ok(job) = jobs.try_recv()
            {
                batch.push(job);
            }
        }
        while !batch.is_empty() {
            let (round, later) = split_round(batch);
            store_round(&pool, round).await;
            batch = later;
        }
    }
}

/// The jobs the storing function takes together (the first of each
/// (endpoint, id) and of each limited contributor lock), sorted by
/// (endpoint, id); and the rest, for a later round.
fn split_round(jobs: Vec<Job>) -> (Vec<Job>, Vec<Job>) {
    let mut ids = HashSet::new();
    let mut locks = HashSet::new();
    let (mut round, mut later) = (Vec::with_capacity(jobs.len()), Vec::new());
    for job in jobs {
        let s = &job.submission;
        let key = (s.endpoint.clone(), s.submission_id.clone());
        let fresh_lock = s.limit == 0 || !locks.contains(&s.lock);
        if !ids.contains(&key) && fresh_lock {
            ids.insert(key);
            if s.limit > 0 {
                locks.insert(s.lock);
            }
            round.push(job);
        } else {
            later.push(job);
        }
    }
    round.sort_by(|a, b| {
        (&a.submission.endpoint, &a.submission.submission_id)
            .cmp(&(&b.submission.endpoint, &b.submission.submission_id))
    });
    (round, later)
}

async fn store_round(pool: &Pool, round: Vec<Job>) {
    match store_together(pool, &round).await {
        Ok(stored) => {
            for (job, at) in round.into_iter().zip(stored) {
                // A caller that went away needs no answer.
                let _ = job.reply.send(Ok(at));
            }
        }
        Err(error) if round.len() == 1 => {
            let job = round.into_iter().next().expect("one job");
            let _ = job.reply.send(Err(error));
        }
        Err(_) => {
            for job in round {
                let result = store_together(pool, std::slice::from_ref(&job)).await.map(|mut at| at.remove(0));
                let _ = job.reply.send(result);
            }
        }
    }
}

async fn store_together(pool: &Pool, round: &[Job]) -> Result<Vec<Option<DateTime<Utc>>>> {
    let mut conn = pool.get().await?;
    let batch: Vec<&NewSubmission> = round.iter().map(|job| &job.submission).collect();
    Ok(store::insert_submissions_checked(&mut conn, &batch).await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(endpoint: &str, id: u8, limit: i64, lock: i64) -> Job {
        let submission = NewSubmission {
            endpoint: endpoint.into(),
            submission_id: vec![id; 16],
            contributor_key: vec![lock as u8; 32],
            share: vec![0; 8],
            share_sha256: vec![0; 32],
            limit,
            lock,
        };
        Job { submission, reply: oneshot::channel().0 }
    }

    fn ids(jobs: &[Job]) -> Vec<(String, u8)> {
        jobs.iter().map(|j| (j.submission.endpoint.clone(), j.submission.submission_id[0])).collect()
    }

    #[test]
    fn a_round_holds_each_id_and_each_limited_contributor_once_sorted_by_id() {
        let jobs = vec![
            job("b", 3, 0, 0),
            job("a", 9, 1, 7),
            job("a", 2, 1, 7), // the same contributor, limited: later
            job("b", 3, 0, 0), // the same id: later
            job("a", 5, 0, 7), // the same lock key, but unlimited: now
            job("b", 1, 2, 8),
        ];
        let (round, later) = split_round(jobs);
        assert_eq!(ids(&round), [("a".into(), 5), ("a".into(), 9), ("b".into(), 1), ("b".into(), 3)]);
        assert_eq!(ids(&later), [("a".into(), 2), ("b".into(), 3)]);
        let (round, later) = split_round(later);
        assert_eq!(ids(&round), [("a".into(), 2), ("b".into(), 3)]);
        assert!(later.is_empty());
    }
}
