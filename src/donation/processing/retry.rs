//! Re-running a failed donation's failed steps (spec §5.9 `RetryDonation`,
//! §5.2 "error / failed, researcher_can_retry → processing"), in one
//! transaction under the donation lock:
//!
//! - an export whose `initiate` never succeeded is requested again (`start_export`);
//! - an export whose provider job failed, was cancelled or timed out is
//!   polled again with its `:retry` budget and deadline renewed (`poll`
//!   retries a `FAILED` job);
//! - a completed export's failed parts are downloaded again from fresh URLs,
//!   and parts whose parse failed a type are downloaded and parsed again for
//!   that type (the raw blob is gone once parsed, §5.8; Google keeps archives 14 days).
//!   A part is never parsed again from its old blob, so a blob the sweep
//!   purged after the raw retention changes nothing here.
//!
//! Types already `available` or `declined` are untouched.

use chrono::Utc;
use diesel::prelude::*;
use diesel_async::{AsyncConnection as _, AsyncPgConnection, RunQueryDsl};
use serde_json::json;

use super::state::{self, EXPORT_COMPLETE, EXPORT_FAILED, EXPORT_IN_PROGRESS, EXPORT_PENDING, needed_resources};
use super::{download_job, finalize_job, poll_job, start_export_job, store};
use crate::db::schema::{
    archive_parts, donation_types, donations, parse_progress, part_type_results, provider_exports,
};
use crate::donation::config::DonationConfig;
use crate::donation::model::{Stage, Status, TypeState, error_remedies};
use crate::donation::store as donation_store;

/// Why a retry was refused, or failed.
#[derive(Debug, thiserror::Error)]
pub enum RetryError {
    /// The donation is not in a state a retry can help; the message says what would.
    #[error("{0}")]
    Refused(String),
    #[error("database: {0}")]
    Db(#[from] diesel::result::Error),
}

/// Puts the failed steps of donation `donation_id` back in the queue; see the module docs.
pub async fn retry(conn: &mut AsyncPgConnection, config: &DonationConfig, donation_id: i32) -> Result<(), RetryError> {
    conn.transaction(async |conn| {
        let Some(donation) = donation_store::find(conn, donation_id, true).await? else {
            return Err(RetryError::Refused(format!("Donation {donation_id} no longer exists.")));
        };
        if donation.status != Status::Error {
            return Err(RetryError::Refused(format!(
                "Donation {donation_id} is {}, not error: only a failed donation can be retried.",
                donation.status.as_str()
            )));
        }
        let code = donation.error_code.clone().unwrap_or_else(|| "internal".into());
        let (participant_can_fix, researcher_can_retry) = error_remedies(&code);
        if !researcher_can_retry {
            let why = if participant_can_fix {
                "it needs the participant to sign in again (their donation link offers \"Sign in again\")"
            } else {
                "a retry cannot fix it"
            };
            return Err(RetryError::Refused(format!("Donation {donation_id} failed with {code}: {why}.")));
        }
        let grant_usable = store::grant(conn, donation_id, false).await?.is_some_and(|g| g.released_at.is_none());
        if !grant_usable {
            return Err(RetryError::Refused(format!(
                "Donation {donation_id} no longer holds access to the provider: it needs the participant to sign in \
                 again."
            )));
        }

        let types = donation_store::types(conn, donation_id, &donation.requested_data_types).await?;
        let failed: Vec<String> =
            types.iter().filter(|t| t.state == TypeState::Failed).map(|t| t.data_type.clone()).collect();
        let exports = store::exports(conn, donation_id).await?;
        let now = Utc::now();
        let (mut start, mut polls, mut downloads) = (false, Vec::new(), Vec::new());
        for export in &exports {
            let wanted =
                failed.iter().any(|t| needed_resources(donation.source, t).contains(&export.resource.as_str()));
            if !wanted {
                continue;
            }
            match (export.state.as_str(), &export.job_id) {
                (EXPORT_FAILED, None) => {
                    reset_export(conn, export.id, EXPORT_PENDING).await?;
                    start = true;
                }
                (EXPORT_FAILED, Some(_)) if store::parts(conn, export.id).await?.is_empty() => {
                    // The provider's job failed, was cancelled or timed out: ask again.
                    diesel::update(provider_exports::table.find(export.id))
                        .set((
                            provider_exports::state.eq(EXPORT_IN_PROGRESS),
                            provider_exports::reason_code.eq(None::<String>),
                            provider_exports::retries.eq(0),
                            provider_exports::polls.eq(0),
                            provider_exports::next_poll_at.eq(now),
                            provider_exports::deadline_at.eq(now + max_wait(config)),
                        ))
                        .execute(conn)
                        .await?;
                    polls.push(export.id);
                }
                (EXPORT_FAILED | EXPORT_COMPLETE, Some(_)) => {
                    // Parts that never arrived, or whose parse failed a type: fetch them again.
                    reset_export(conn, export.id, EXPORT_COMPLETE).await?;
                    downloads.extend(reset_parts(conn, export.id, &failed).await?);
                }
                _ => {}
            }
        }
        if !start && polls.is_empty() && downloads.is_empty() {
            return Err(RetryError::Refused(format!(
                "Donation {donation_id} failed with {code} but has no failed step Steward can run again; it needs \
                 the participant to sign in again."
            )));
        }
        diesel::update(
            donation_types::table
                .filter(donation_types::donation_id.eq(donation_id))
                .filter(donation_types::data_type.eq_any(&failed)),
        )
        .set((
            donation_types::state.eq(TypeState::Requested.as_str()),
            donation_types::reason_code.eq(None::<String>),
            donation_types::reason_detail.eq(None::<String>),
        ))
        .execute(conn)
        .await?;
        diesel::update(donations::table.find(donation_id))
            .set((
                donations::status.eq(Status::Processing.as_str()),
                donations::stage.eq(Stage::ExportRequested.as_str()),
                donations::error_code.eq(None::<String>),
                donations::error_message.eq(None::<String>),
            ))
            .execute(conn)
            .await?;
        let detail = json!({ "code": code, "types": failed, "exports_requested": start, "exports_polled": polls.len(),
            "parts_downloaded": downloads.len() });
        donation_store::add_event(conn, donation_id, "retried", None, detail).await?;
        if start {
            crate::jobs::enqueue(conn, start_export_job(config, donation_id)).await?;
        }
        for export_id in polls {
            crate::jobs::enqueue(conn, poll_job(config, export_id)).await?;
        }
        for part_id in downloads {
            crate::jobs::enqueue(conn, download_job(config, part_id)).await?;
        }
        state::settle(conn, donation_id).await?;
        // Settling may already find nothing left to do (e.g. every part failed to parse only other types).
        crate::jobs::enqueue(conn, finalize_job(config, donation_id).run_at(now + chrono::TimeDelta::seconds(1)))
            .await?;
        Ok(())
    })
    .await
}

fn max_wait(config: &DonationConfig) -> chrono::TimeDelta {
    chrono::TimeDelta::from_std(config.export_max_wait).unwrap_or(chrono::TimeDelta::days(7))
}

async fn reset_export(conn: &mut AsyncPgConnection, export_id: i64, state: &str) -> QueryResult<()> {
    diesel::update(provider_exports::table.find(export_id))
        .set((provider_exports::state.eq(state), provider_exports::reason_code.eq(None::<String>)))
        .execute(conn)
        .await
        .map(drop)
}

/// Makes the export's failed parts, and parts whose parse failed one of
/// `types`, pending downloads again, forgetting what they gave those types;
/// returns their ids.
async fn reset_parts(conn: &mut AsyncPgConnection, export_id: i64, types: &[String]) -> QueryResult<Vec<i64>> {
    let parts: Vec<(i64, String, Option<chrono::DateTime<Utc>>)> = archive_parts::table
        .filter(archive_parts::export_id.eq(export_id))
        .select((archive_parts::id, archive_parts::state, archive_parts::deleted_at))
        .load(conn)
        .await?;
    let mut again = Vec::new();
    for (part_id, part_state, deleted_at) in parts {
        let failed_types: i64 = part_type_results::table
            .filter(part_type_results::part_id.eq(part_id))
            .filter(part_type_results::data_type.eq_any(types))
            .filter(part_type_results::outcome.eq("failed"))
            .count()
            .get_result(conn)
            .await?;
        // A part stored but never parsed whose blob the sweep purged (§5.8)
        // can only be parsed after downloading it again.
        let blob_gone = part_state == "stored" && deleted_at.is_some();
        if part_state != "failed" && failed_types == 0 && !blob_gone {
            continue;
        }
        diesel::delete(
            part_type_results::table
                .filter(part_type_results::part_id.eq(part_id))
                .filter(part_type_results::data_type.eq_any(types)),
        )
        .execute(conn)
        .await?;
        diesel::delete(
            parse_progress::table
                .filter(parse_progress::part_id.eq(part_id))
                .filter(parse_progress::data_type.eq_any(types)),
        )
        .execute(conn)
        .await?;
        diesel::update(archive_parts::table.find(part_id))
            .set((
                archive_parts::state.eq("pending"),
                archive_parts::object_key.eq(None::<String>),
                archive_parts::bytes.eq(None::<i64>),
                archive_parts::sha256.eq(None::<Vec<u8>>),
                archive_parts::deleted_at.eq(None::<chrono::DateTime<Utc>>),
            ))
            .execute(conn)
            .await?;
        again.push(part_id);
    }
    Ok(again)
}
