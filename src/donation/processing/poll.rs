//! `donation.schedule_due_polls` and `donation.poll` (spec §4.2.6, §4.4.3,
//! §5.1, §5.9): ask the provider how an export is going, on the configured
//! schedule, until it is complete, failed for good or past its deadline.

use chrono::Utc;
use diesel_async::{AsyncConnection as _, AsyncPgConnection};
use serde_json::json;

use super::export::{Handled, failure};
use super::state::{self, EXPORT_COMPLETE, EXPORT_FAILED, EXPORT_IN_PROGRESS};
use super::{Error, Processing, store, with_token};
use crate::donation::provider::JobState;
use crate::donation::store as donation_store;
use crate::donation::tiktok;

/// Exports scheduled per run at most; the rest wait for the next run.
const SCHEDULE_BATCH: i64 = 1000;

/// Enqueues a `poll` for every in-progress export whose next poll is due,
/// and a `finalize` for every donation that waits only for it; returns how
/// many jobs were enqueued (one already queued is not doubled).
///
/// The second half closes a race of the finalize job's dedup key: a parse
/// that commits while a finalize of its donation runs (and read the part as
/// unparsed) finds that job live, so its own enqueue is a no-op, and the
/// running one finishes without finalizing. The next run here finalizes it.
pub async fn schedule_due_polls(processing: &Processing, conn: &mut AsyncPgConnection) -> Result<usize, Error> {
    let mut n = 0;
    for export_id in store::due_exports(conn, Utc::now(), SCHEDULE_BATCH).await? {
        if crate::jobs::enqueue(conn, super::poll_job(&processing.config, export_id)).await?.is_some() {
            n += 1;
        }
    }
    for donation_id in store::unfinalized(conn, SCHEDULE_BATCH).await? {
        if crate::jobs::enqueue(conn, super::finalize_job(&processing.config, donation_id)).await?.is_some() {
            tracing::info!(donation.id = donation_id, "finalizing a donation whose parts are all parsed");
            n += 1;
        }
    }
    Ok(n)
}

/// Polls one export and applies the answer (spec §4.2.6).
pub async fn poll(
    processing: &Processing,
    conn: &mut AsyncPgConnection,
    export_id: i64,
    last_attempt: bool,
) -> Result<(), Error> {
    let Some(export) = store::export(conn, export_id).await? else {
        return Ok(());
    };
    let (Some(job_id), EXPORT_IN_PROGRESS) = (export.job_id.clone(), export.state.as_str()) else {
        return Ok(());
    };
    let donation_id = export.donation_id;
    let Some(donation) = donation_store::find(conn, donation_id, false).await? else {
        return Ok(());
    };
    let provider = processing.provider(donation.source)?;
    let now = Utc::now();

    if export.deadline_at.is_some_and(|deadline| now >= deadline) {
        // Best effort: the export fails either way.
        let cancelled = with_token!(processing, conn, donation_id, |token| provider.cancel_job(token, &job_id));
        if let Err(e) = cancelled {
            tracing::warn!(donation.id = donation_id, error = %e, "cancelling a timed-out export failed");
        }
        return end(conn, donation_id, &export.resource, export.id, "export_timeout", json!({})).await;
    }

    // The next poll is set before asking, so the scheduler never piles up
    // polls of an export whose answer is slow or failing.
    let polls = export.polls + 1;
    store::polled(conn, export.id, polls, now + processing.poll_delay(polls)).await?;
    let answer = with_token!(processing, conn, donation_id, |token| provider.archive_state(token, &job_id));
    let archive = match answer {
        Ok(archive) => archive,
        Err(e) => return handle(conn, donation_id, &export, e, last_attempt).await,
    };
    match archive.state {
        JobState::InProgress | JobState::Unspecified => {
            if archive.state == JobState::Unspecified && polls == 1 {
                tracing::warn!(donation.id = donation_id, state = %archive.raw_state, "unknown export state; polling on");
            }
            settle(conn, donation_id).await
        }
        JobState::Complete if archive.urls.is_empty() => {
            end(
                conn,
                donation_id,
                &export.resource,
                export.id,
                "export_failed",
                json!({"job_state": "COMPLETE", "parts": 0}),
            )
            .await
        }
        JobState::Complete => {
            let (resource, parts) = (export.resource.clone(), archive.urls.len());
            conn.transaction(async |conn| {
                if !donation_store::lock(conn, donation_id).await? {
                    return Ok(());
                }
                store::record_parts(conn, export_id, parts).await?;
                for part_id in store::pending_parts(conn, export_id).await? {
                    crate::jobs::enqueue(conn, super::download_job(&processing.config, part_id)).await?;
                }
                store::end_export(conn, export_id, EXPORT_COMPLETE, None).await?;
                let detail = json!({ "resource": resource, "parts": parts, "polls": polls });
                donation_store::add_event(conn, donation_id, "export_ready", None, detail).await?;
                state::settle(conn, donation_id).await?;
                Ok::<_, Error>(())
            })
            .await
        }
        JobState::Failed if export.retries < i32::try_from(processing.config.google_job_retries).unwrap_or(0) => {
            let retried = with_token!(processing, conn, donation_id, |token| provider.retry_job(token, &job_id));
            let new_job = match retried {
                Ok(id) => id,
                Err(e) => return handle(conn, donation_id, &export, e, last_attempt).await,
            };
            let retries = export.retries + 1;
            store::retried(conn, export.id, &new_job, retries, Utc::now() + processing.poll_delay(0)).await?;
            let detail = json!({ "resource": export.resource, "retry": retries });
            donation_store::add_event(conn, donation_id, "export_retried", None, detail).await?;
            Ok(())
        }
        JobState::Failed => {
            let detail = json!({ "job_state": "FAILED", "retries": export.retries });
            end(conn, donation_id, &export.resource, export.id, "export_failed", detail).await
        }
        // TikTok's request expired before it was downloaded (spec §4.4.3):
        // with repeatable (`ongoing`) scopes, one new Add; else the
        // participant signs in again.
        JobState::Expired if processing.config.tiktok.ongoing_scope && export.retries < 1 => {
            let request = tiktok::export_request(&export.resource);
            let added = with_token!(processing, conn, donation_id, |token| provider.initiate(token, &request));
            let new_job = match added {
                Ok(initiated) => initiated.job_id,
                Err(e) => return handle(conn, donation_id, &export, e, last_attempt).await,
            };
            let retries = export.retries + 1;
            store::retried(conn, export.id, &new_job, retries, Utc::now() + processing.poll_delay(0)).await?;
            let detail = json!({ "resource": export.resource, "retry": retries, "job_state": "expired" });
            donation_store::add_event(conn, donation_id, "export_retried", None, detail).await?;
            Ok(())
        }
        JobState::Expired => {
            end(conn, donation_id, &export.resource, export.id, "export_expired", json!({ "job_state": "expired" }))
                .await
        }
        JobState::Cancelled => {
            end(conn, donation_id, &export.resource, export.id, "export_failed", json!({ "job_state": "CANCELLED" }))
                .await
        }
    }
}

async fn handle(
    conn: &mut AsyncPgConnection,
    donation_id: i32,
    export: &store::ExportRow,
    e: crate::donation::provider::ProviderError,
    last_attempt: bool,
) -> Result<(), Error> {
    match failure(conn, donation_id, &export.resource, export.id, e, last_attempt).await? {
        Handled::Continue => settle(conn, donation_id).await,
        Handled::Stop => Ok(()),
        Handled::RetryLater(e) => Err(e.into()),
    }
}

/// Fails the export with `code`, records it and settles the donation, in one transaction.
async fn end(
    conn: &mut AsyncPgConnection,
    donation_id: i32,
    resource: &str,
    export_id: i64,
    code: &'static str,
    mut detail: serde_json::Value,
) -> Result<(), Error> {
    detail["resource"] = json!(resource);
    detail["code"] = json!(code);
    conn.transaction(async |conn| {
        if !donation_store::lock(conn, donation_id).await? {
            return Ok(());
        }
        store::end_export(conn, export_id, EXPORT_FAILED, Some(code)).await?;
        donation_store::add_event(conn, donation_id, "export_failed", None, detail).await?;
        state::settle(conn, donation_id).await?;
        Ok::<_, Error>(())
    })
    .await
}

async fn settle(conn: &mut AsyncPgConnection, donation_id: i32) -> Result<(), Error> {
    conn.transaction(async |conn| state::settle(conn, donation_id).await).await?;
    Ok(())
}
