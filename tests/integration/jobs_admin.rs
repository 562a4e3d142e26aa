//! What an operator does about failed jobs (`steward jobs`, `jobs::admin`):
//! re-queue them to run again with all their attempts, or delete them; and
//! what must never happen: a live job deleted or run twice, or a failed job
//! re-queued beside a live one doing the same work.

use std::process::Output;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use serde_json::json;
use steward::jobs::admin::{self, Outcome};
use steward::jobs::{self, JobContext, NewJob, Registry};

use crate::common::{TestDb, steward_command};
use crate::jobs::{enqueue, find, start, wait_for, workers};

const KIND: &str = "test.flaky";

/// A handler that fails while `failing` is set and records each attempt.
fn flaky(failing: &Arc<AtomicBool>, attempts: &Arc<std::sync::Mutex<Vec<(i64, i32)>>>) -> Registry {
    let (failing, attempts) = (failing.clone(), attempts.clone());
    let mut registry = Registry::new();
    registry.register(KIND, move |ctx: JobContext| {
        attempts.lock().unwrap().push((ctx.id, ctx.attempt));
        let failing = failing.load(Ordering::SeqCst);
        async move { if failing { anyhow::bail!("the mail server is down") } else { Ok(()) } }
    });
    registry
}

/// Runs `jobs` through workers whose handler fails until each is `failed`.
async fn fail_for_good(db: &TestDb, new: Vec<NewJob>) -> Vec<i64> {
    let (failing, attempts) = (Arc::new(AtomicBool::new(true)), Arc::default());
    let running = start(workers(db, flaky(&failing, &attempts)));
    let mut ids = Vec::new();
    for job in new {
        ids.push(enqueue(db, job.max_attempts(1)).await);
    }
    for &id in &ids {
        wait_for(Duration::from_secs(10), "the job to fail", || async {
            find(db, id).await.is_some_and(|job| job.state == "failed")
        })
        .await;
    }
    running.stop().await;
    ids
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_requeues_and_deletes_failed_jobs_and_nothing_else() {
    let db = TestDb::new().await;
    let [plain, keyed, old]: [i64; 3] = fail_for_good(
        &db,
        vec![
            NewJob::new(KIND, json!({"n": 1})),
            NewJob::new(KIND, json!({"n": 2})).dedup_key("notify:7"),
            NewJob::new(KIND, json!({"n": 3})),
        ],
    )
    .await
    .try_into()
    .unwrap();
    // The same work was enqueued again since (as a researcher's retry does);
    // it waits an hour so that it stays live throughout.
    let later = chrono::Utc::now() + chrono::TimeDelta::hours(1);
    let live = enqueue(&db, NewJob::new(KIND, json!({"n": 2})).dedup_key("notify:7").run_at(later)).await;

    let failed = jobs::list(&mut *db.conn().await, Some("failed"), None, 10).await.unwrap();
    let mut ids: Vec<i64> = failed.iter().map(|job| job.id).collect();
    ids.sort_unstable();
    assert_eq!(ids, [plain, keyed, old]);
    assert!(failed.iter().all(|job| job.last_error.as_deref().is_some_and(|e| e.contains("mail server is down"))));
    let queued = jobs::list(&mut *db.conn().await, Some("queued"), Some(KIND), 10).await.unwrap();
    assert_eq!(queued.iter().map(|job| job.id).collect::<Vec<_>>(), [live]);

    let outcomes = admin::retry(&mut *db.conn().await, &[plain, keyed, live, 999_999]).await.unwrap();
    assert_eq!(
        outcomes,
        [
            (plain, Outcome::Requeued),
            (keyed, Outcome::KeyTaken { key: "notify:7".to_owned(), live }),
            (live, Outcome::NotFailed { state: "queued".to_owned() }),
            (999_999, Outcome::NotFound),
        ]
    );
    let requeued = find(&db, plain).await.unwrap();
    assert_eq!((requeued.state.as_str(), requeued.attempts), ("queued", 0), "all its attempts again");
    assert!(requeued.run_at <= chrono::Utc::now());

    // Once the cause is fixed, the re-queued job runs (as attempt 1) and is done.
    let (failing, attempts) = (Arc::new(AtomicBool::new(false)), Arc::default());
    let running = start(workers(&db, flaky(&failing, &attempts)));
    wait_for(Duration::from_secs(10), "the re-queued job to finish", || async { find(&db, plain).await.is_none() })
        .await;
    running.stop().await;
    assert_eq!(*attempts.lock().unwrap(), [(plain, 1)], "only the re-queued job ran; the live one waits");

    // Only failed jobs are deleted; a live job is work somebody waits on.
    let outcomes = admin::delete(&mut *db.conn().await, &[keyed, live, plain]).await.unwrap();
    assert_eq!(
        outcomes,
        [
            (keyed, Outcome::Deleted),
            (live, Outcome::NotFailed { state: "queued".to_owned() }),
            (plain, Outcome::NotFound),
        ]
    );
    assert!(find(&db, live).await.is_some_and(|job| job.state == "queued"));

    // By age: nothing failed an hour ago; everything failed before now.
    let hour_ago = chrono::Utc::now() - chrono::TimeDelta::hours(1);
    assert_eq!(admin::delete_failed_before(&mut *db.conn().await, hour_ago).await.unwrap(), 0);
    assert_eq!(admin::delete_failed_before(&mut *db.conn().await, chrono::Utc::now()).await.unwrap(), 1);
    assert_eq!(find(&db, old).await, None);
    assert!(find(&db, live).await.is_some(), "the live job stays");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retrying_all_failed_jobs_runs_one_of_each_dedup_key() {
    let db = TestDb::new().await;
    let periodic = |n| NewJob::new(KIND, json!({ "n": n })).dedup_key("periodic:test.flaky");
    let first = fail_for_good(&db, vec![periodic(1)]).await[0];
    let second = fail_for_good(&db, vec![periodic(2)]).await[0];

    let outcomes = admin::retry_all_failed(&mut *db.conn().await).await.unwrap();
    let key = "periodic:test.flaky".to_owned();
    assert_eq!(outcomes, [(first, Outcome::Requeued), (second, Outcome::KeyTaken { key, live: first })]);
    assert_eq!(jobs::pending_count(&mut *db.conn().await).await.unwrap(), 1);
}

fn steward(db: &TestDb, args: &[&str]) -> Output {
    steward_command(db.url(), "jobs-cli").arg("jobs").args(args).output().expect("running steward")
}

fn text(output: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn steward_jobs_lists_retries_and_deletes_on_the_command_line() {
    let db = TestDb::new().await;
    let [failed, gone]: [i64; 2] = fail_for_good(
        &db,
        vec![NewJob::new(KIND, json!({"notification_id": 5})), NewJob::new(KIND, json!({"notification_id": 6}))],
    )
    .await
    .try_into()
    .unwrap();

    let list = steward(&db, &["list", "--state", "failed"]);
    let listed = text(&list);
    assert!(list.status.success(), "{listed}");
    assert!(listed.contains(&format!("job {failed} · test.flaky · failed after 1 of 1 attempts at ")), "{listed}");
    assert!(listed.contains("payload {\"notification_id\":5}"), "{listed}");
    assert!(listed.contains("last error: ") && listed.contains("the mail server is down"), "{listed}");
    assert!(listed.ends_with("2 jobs.\n"), "{listed}");
    let none = text(&steward(&db, &["list", "--state", "running"]));
    assert_eq!(none, "No jobs match.\n");
    let bad = steward(&db, &["list", "--state", "done"]);
    assert_eq!(bad.status.code(), Some(2), "{}", text(&bad));
    assert!(text(&bad).contains("possible values: queued, running, failed"), "{}", text(&bad));

    let retry = steward(&db, &["retry", &failed.to_string()]);
    assert!(retry.status.success(), "{}", text(&retry));
    assert_eq!(text(&retry), format!("job {failed}: queued again\n"));
    assert!(find(&db, failed).await.is_some_and(|job| job.state == "queued" && job.attempts == 0));
    let retry_none = steward(&db, &["retry"]);
    assert_eq!(retry_none.status.code(), Some(2), "naming no job is a usage error: {}", text(&retry_none));

    // A queued job is not deleted; the command says so and fails.
    let refused = steward(&db, &["delete", &failed.to_string(), &gone.to_string()]);
    assert_eq!(refused.status.code(), Some(1));
    let said = text(&refused);
    assert!(said.contains(&format!("job {failed}: not failed but queued; only failed jobs can be changed")), "{said}");
    assert!(said.contains(&format!("job {gone}: deleted")), "{said}");
    assert!(said.contains("steward: 1 of 2 jobs were not deleted"), "{said}");
    assert!(find(&db, failed).await.is_some() && find(&db, gone).await.is_none());

    let by_age = steward(&db, &["delete", "--older-than", "1d"]);
    assert!(by_age.status.success(), "{}", text(&by_age));
    assert!(text(&by_age).starts_with("Deleted 0 failed jobs last changed before "), "{}", text(&by_age));
}
