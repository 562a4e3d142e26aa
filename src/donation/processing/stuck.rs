//! `donation.fail_stuck` (spec §1.4 "Steward never leaves a donation in
//! `authorized` or `processing` forever", §5.9): a periodic check that fails
//! every donation still `authorized` or `processing` longer than
//! `STEWARD_DONATION_MAX_PROCESSING` after its sign-in or its last
//! `RetryDonation`, whatever kept it there (jobs that died, a lost finalize,
//! a bug).
//!
//! The error code is `internal`. The processing deadline lies past every
//! export's own deadline (`STEWARD_EXPORT_MAX_WAIT`, after which a poll fails
//! the export with `export_timeout`), so a donation still open by then is
//! not waiting for the provider any more: Steward failed to move it on.
//! `export_timeout`'s participant message ("{Provider} did not finish
//! preparing your data in time") would blame the provider wrongly;
//! `internal`'s ("Something went wrong on our side.") is true, and the
//! researcher can retry it.
//!
//! For each such donation, in one transaction under its row lock: a type
//! whose groups all ended and whose parts are all parsed only waited for
//! `finalize`, which now gives it its final state (so its rows are not lost;
//! with no other type open, the donation ends as finalize decides). Every
//! other unfinished type fails with `internal` and a cause naming the state it
//! was stuck in, and its rows are deleted (as finalize does for a failed
//! type); the exports and parts still open are failed (so no late job writes
//! into the donation, and `RetryDonation` finds exactly these steps to
//! re-run); an event `processing_deadline_passed` lists the types and the
//! stage; and the donation enters `error` with an `error_message` naming the
//! stage and each failed type.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Integer, Timestamptz};
use diesel_async::{AsyncConnection as _, AsyncPgConnection, RunQueryDsl};
use serde_json::json;

use super::state::{self, EXPORT_COMPLETE, EXPORT_FAILED, EXPORT_IN_PROGRESS, EXPORT_PENDING, needed_resources};
use super::{Error, Processing, store};
use crate::db::schema::{archive_parts, donation_rows, donation_types, donations};
use crate::donation::model::TypeState;
use crate::donation::store as donation_store;
use crate::jobs::JobContext;

/// Job kind of the periodic check.
pub const KIND: &str = "donation.fail_stuck";

/// The error code of a donation failed by the check (see the module docs for why).
pub const CODE: &str = "internal";

/// Donations failed per run at most; the rest wait for the next run.
const BATCH: i64 = 100;

/// How often the check runs: every minute, or a quarter of the deadline when
/// that is shorter (tests shorten it), but at most once a second.
pub fn check_every(max_processing: Duration) -> Duration {
    (max_processing / 4).clamp(Duration::from_secs(1), Duration::from_secs(60))
}

/// The job handler.
pub async fn run(p: Arc<Processing>, ctx: JobContext) -> anyhow::Result<()> {
    let mut conn = ctx.pool.get().await?;
    fail_stuck(&p, &mut conn, Utc::now()).await?;
    Ok(())
}

#[derive(QueryableByName)]
struct Stuck {
    #[diesel(sql_type = Integer)]
    id: i32,
}

/// When processing (re)started: the last sign-in or retry, else the
/// authorization time, else creation.
const STARTED: &str = "COALESCE((SELECT max(e.created_at) FROM donation_events e \
                                 WHERE e.donation_id = d.id AND e.kind IN ('authorized', 'retried')), \
                                d.authorized_at, d.created_at)";

/// Fails every donation open past the deadline as of `now`; returns their ids.
pub async fn fail_stuck(
    processing: &Processing,
    conn: &mut AsyncPgConnection,
    now: DateTime<Utc>,
) -> Result<Vec<i32>, Error> {
    let deadline = processing.config.max_processing;
    let cutoff = now - chrono::TimeDelta::from_std(deadline).unwrap_or(chrono::TimeDelta::days(8));
    let candidates: Vec<Stuck> = diesel::sql_query(format!(
        "SELECT d.id FROM donations d WHERE d.status IN ('authorized', 'processing') AND {STARTED} < $1 \
         ORDER BY d.id LIMIT $2"
    ))
    .bind::<Timestamptz, _>(cutoff)
    .bind::<BigInt, _>(BATCH)
    .load(conn)
    .await?;
    let mut failed = Vec::new();
    for Stuck { id } in candidates {
        if fail_one(conn, id, cutoff, deadline).await? {
            failed.push(id);
        }
    }
    Ok(failed)
}

/// Fails donation `id` if, under its lock, it is still open and past the
/// cutoff (a retry or sign-in may have just restarted it); returns whether it did.
async fn fail_one(
    conn: &mut AsyncPgConnection,
    id: i32,
    cutoff: DateTime<Utc>,
    deadline: Duration,
) -> Result<bool, Error> {
    conn.transaction(async |conn| {
        let still: Option<Stuck> = diesel::sql_query(format!(
            "SELECT d.id FROM donations d WHERE d.id = $1 AND d.status IN ('authorized', 'processing') \
             AND {STARTED} < $2 FOR UPDATE OF d"
        ))
        .bind::<Integer, _>(id)
        .bind::<Timestamptz, _>(cutoff)
        .get_result(conn)
        .await
        .optional()?;
        if still.is_none() {
            return Ok(false);
        }
        let Some(donation) = donation_store::find(conn, id, false).await? else {
            return Ok(false);
        };
        let exports = store::exports(conn, id).await?;
        let ids: Vec<i64> = exports.iter().map(|e| e.id).collect();
        let unparsed: Vec<i64> = archive_parts::table
            .filter(archive_parts::export_id.eq_any(&ids))
            .filter(archive_parts::state.eq_any(["pending", "stored"]))
            .select(archive_parts::export_id)
            .distinct()
            .load(conn)
            .await?;
        // A type whose groups all ended and whose parts are all parsed only
        // waits for finalize (lost, or never queued): finalize settles it
        // below like any other. Every other open type is stuck.
        let ended = |resource: &&str| {
            exports.iter().any(|e| {
                e.resource == *resource
                    && !matches!(e.state.as_str(), EXPORT_PENDING | EXPORT_IN_PROGRESS)
                    && !unparsed.contains(&e.id)
            })
        };
        let types = donation_store::types(conn, id, &donation.requested_data_types).await?;
        let stuck: Vec<(String, &'static str)> = types
            .iter()
            .filter(|t| !matches!(t.state, TypeState::Available | TypeState::Declined | TypeState::Failed))
            .filter(|t| !needed_resources(donation.source, &t.data_type).iter().all(ended))
            .map(|t| (t.data_type.clone(), t.state.as_str()))
            .collect();
        if stuck.is_empty() && super::finalize::finalize(conn, id).await? {
            tracing::warn!(donation.id = id, "a donation past the processing deadline only waited for finalize");
            return Ok(true);
        }
        let stage = donation.stage.as_str();
        let limit = human(deadline);
        for (data_type, type_state) in &stuck {
            let why = format!("still {type_state} {limit} after the sign-in or last retry (processing deadline)");
            diesel::update(donation_types::table.find((id, data_type)))
                .set((
                    donation_types::state.eq(TypeState::Failed.as_str()),
                    donation_types::reason_code.eq(CODE),
                    donation_types::reason_detail.eq(&why),
                    donation_types::rows.eq(0_i64),
                ))
                .execute(conn)
                .await?;
            diesel::delete(
                donation_rows::table
                    .filter(donation_rows::donation_id.eq(id))
                    .filter(donation_rows::data_type.eq(data_type)),
            )
            .execute(conn)
            .await?;
        }

        // The steps still open: nothing may write into the donation after
        // this, and RetryDonation re-runs exactly these.
        let needed: Vec<&str> =
            stuck.iter().flat_map(|(t, _)| needed_resources(donation.source, t).iter().copied()).collect();
        if !needed.is_empty() {
            store::ensure_exports(conn, id, &needed).await?;
        }
        let (mut exports_failed, mut parts_failed) = (0, 0);
        for export in store::exports(conn, id).await? {
            match export.state.as_str() {
                EXPORT_PENDING | EXPORT_IN_PROGRESS => {
                    store::end_export(conn, export.id, EXPORT_FAILED, Some(CODE)).await?;
                    exports_failed += 1;
                }
                EXPORT_COMPLETE => {
                    parts_failed += diesel::update(
                        archive_parts::table
                            .filter(archive_parts::export_id.eq(export.id))
                            .filter(archive_parts::state.eq_any(["pending", "stored"])),
                    )
                    .set(archive_parts::state.eq("failed"))
                    .execute(conn)
                    .await?;
                }
                _ => {}
            }
        }

        let names: Vec<&str> = stuck.iter().map(|(t, _)| t.as_str()).collect();
        let states: HashMap<&str, &str> = stuck.iter().map(|(t, s)| (t.as_str(), *s)).collect();
        let detail = json!({ "code": CODE, "stage": stage, "types": names, "type_states": states,
            "deadline_seconds": deadline.as_secs(), "exports_failed": exports_failed, "parts_failed": parts_failed });
        donation_store::add_event(conn, id, "processing_deadline_passed", None, detail).await?;
        let prefix = format!("stuck at stage {stage} past the {limit} processing deadline");
        state::fail(conn, id, CODE, &prefix).await?;
        // The types that were only waiting for finalize get their final
        // state and counters (the donation stays `error`).
        super::finalize::finalize(conn, id).await?;

        let now: Vec<(String, TypeState, Option<String>)> =
            donation_store::types(conn, id, &donation.requested_data_types)
                .await?
                .into_iter()
                .map(|t| (t.data_type, t.state, t.reason_code))
                .collect();
        let details: HashMap<String, String> = donation_types::table
            .filter(donation_types::donation_id.eq(id))
            .filter(donation_types::reason_detail.is_not_null())
            .select((donation_types::data_type, donation_types::reason_detail.assume_not_null()))
            .load::<(String, String)>(conn)
            .await?
            .into_iter()
            .collect();
        let message = format!("{prefix}; {}", state::failure_message(&now, &details));
        diesel::update(donations::table.find(id)).set(donations::error_message.eq(&message)).execute(conn).await?;
        tracing::warn!(
            donation.id = id,
            stage,
            types = ?names,
            "a donation was still open past the processing deadline; failed it with `internal`"
        );
        Ok::<_, Error>(true)
    })
    .await
}

/// `8d`, `36h`, `90m` or `45s`: the deadline as configured.
fn human(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        0 => format!("{}ms", d.as_millis()),
        _ if s.is_multiple_of(86_400) => format!("{}d", s / 86_400),
        _ if s.is_multiple_of(3600) => format!("{}h", s / 3600),
        _ if s.is_multiple_of(60) => format!("{}m", s / 60),
        _ => format!("{s}s"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_check_runs_every_minute_or_more_often_for_short_deadlines() {
        assert_eq!(check_every(Duration::from_secs(8 * 86_400)), Duration::from_secs(60));
        assert_eq!(check_every(Duration::from_secs(8)), Duration::from_secs(2));
        assert_eq!(check_every(Duration::from_millis(500)), Duration::from_secs(1));
    }

    #[test]
    fn deadlines_read_as_configured() {
        assert_eq!(human(Duration::from_secs(8 * 86_400)), "8d");
        assert_eq!(human(Duration::from_secs(36 * 3600)), "36h");
        assert_eq!(human(Duration::from_secs(90 * 60)), "90m");
        assert_eq!(human(Duration::from_secs(45)), "45s");
        assert_eq!(human(Duration::from_millis(500)), "500ms");
    }
}
