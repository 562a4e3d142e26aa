//! The `donation.finalize` job (spec §1.4, §5.1): once no export or part of a
//! donation is unfinished, each open type gets its final state from what its
//! parts gave it, its counters are recomputed from the stored rows and the
//! parse results, and the donation settles to `processed` or `error`.

use diesel::dsl::count_star;
use diesel::prelude::*;
use diesel_async::{AsyncConnection as _, AsyncPgConnection, RunQueryDsl};
use serde_json::json;

use super::state::{self, EXPORT_COMPLETE, EXPORT_IN_PROGRESS, EXPORT_PENDING, needed_resources};
use super::{Error, store};
use crate::db::schema::{archive_parts, donation_rows, donation_types, part_type_results};
use crate::donation::model::TypeState;
use crate::donation::store as donation_store;

/// (outcome, reason, outside window, without timestamp, skipped records, reason in words) of one part for one type.
type PartResult = (String, Option<String>, i64, i64, i64, Option<String>);

/// Finalizes the donation if nothing is left to fetch or parse; returns
/// whether it did.
pub async fn finalize(conn: &mut AsyncPgConnection, donation_id: i32) -> Result<bool, Error> {
    conn.transaction(async |conn| {
        let Some(donation) = donation_store::find(conn, donation_id, true).await? else {
            return Ok(false);
        };
        let exports = store::exports(conn, donation_id).await?;
        if exports.iter().any(|e| matches!(e.state.as_str(), EXPORT_PENDING | EXPORT_IN_PROGRESS)) {
            return Ok(false);
        }
        let complete: Vec<i64> = exports.iter().filter(|e| e.state == EXPORT_COMPLETE).map(|e| e.id).collect();
        let unfinished: i64 = archive_parts::table
            .filter(archive_parts::export_id.eq_any(&complete))
            .filter(archive_parts::state.eq_any(["pending", "stored"]))
            .select(count_star())
            .first(conn)
            .await?;
        if unfinished > 0 {
            return Ok(false);
        }
        for t in donation_store::types(conn, donation_id, &donation.requested_data_types).await? {
            if matches!(t.state, TypeState::Available | TypeState::Declined | TypeState::Failed) {
                continue;
            }
            let groups: Vec<_> = needed_resources(donation.source, &t.data_type)
                .iter()
                .filter_map(|r| exports.iter().find(|e| e.resource == *r))
                .collect();
            // A failed or declined group is settled from the exports below.
            if groups.iter().any(|e| e.state != EXPORT_COMPLETE && e.state != state::EXPORT_SKIPPED) {
                continue;
            }
            let ids: Vec<i64> = groups.iter().map(|e| e.id).collect();
            let results: Vec<PartResult> = part_type_results::table
                .inner_join(archive_parts::table)
                .filter(archive_parts::export_id.eq_any(&ids))
                .filter(part_type_results::data_type.eq(&t.data_type))
                .order(archive_parts::id)
                .select((
                    part_type_results::outcome,
                    part_type_results::reason_code,
                    part_type_results::outside_window,
                    part_type_results::no_timestamp,
                    part_type_results::skipped_records,
                    part_type_results::reason_detail,
                ))
                .load(conn)
                .await?;
            let failure = results.iter().find(|r| r.0 == "failed");
            let (new_state, reason, why) = match failure {
                Some(r) => (TypeState::Failed, r.1.clone(), r.5.clone()),
                // A member missing from every part: available with 0 rows.
                None => (TypeState::Available, None, None),
            };
            let rows: i64 = donation_rows::table
                .filter(donation_rows::donation_id.eq(donation_id))
                .filter(donation_rows::data_type.eq(&t.data_type))
                .select(count_star())
                .first(conn)
                .await?;
            let total = |f: fn(&PartResult) -> i64| results.iter().map(f).sum::<i64>();
            let (outside, untimed, skipped) = (total(|r| r.2), total(|r| r.3), total(|r| r.4));
            diesel::update(donation_types::table.find((donation_id, &t.data_type)))
                .set((
                    donation_types::state.eq(new_state.as_str()),
                    donation_types::reason_code.eq(&reason),
                    donation_types::reason_detail.eq(&why),
                    donation_types::rows.eq(rows),
                    donation_types::outside_window.eq(outside),
                    donation_types::no_timestamp.eq(untimed),
                    donation_types::skipped_records.eq(skipped),
                ))
                .execute(conn)
                .await?;
            let detail = json!({ "state": new_state.as_str(), "code": reason, "reason": why, "rows": rows,
                "outside_window": outside, "no_timestamp": untimed, "skipped_records": skipped, "parts": results.len() });
            donation_store::add_event(conn, donation_id, "type_parsed", Some(&t.data_type), detail).await?;
        }
        state::settle(conn, donation_id).await?;
        purge_failed_types(conn, donation_id).await?;
        let settled = donation_store::find(conn, donation_id, false).await?;
        if settled.is_some_and(|d| d.status == crate::donation::model::Status::Processed) {
            crate::donation::release::release_after_completion(conn, donation_id).await?;
        }
        Ok::<_, Error>(true)
    })
    .await
}

/// Deletes the rows of the donation's failed types (some parts may have
/// given rows before another failed): queries never show them, and a retry
/// parses the type again from the start.
async fn purge_failed_types(conn: &mut AsyncPgConnection, donation_id: i32) -> Result<(), Error> {
    let failed: Vec<String> = donation_types::table
        .filter(donation_types::donation_id.eq(donation_id))
        .filter(donation_types::state.eq(TypeState::Failed.as_str()))
        .select(donation_types::data_type)
        .load(conn)
        .await?;
    if failed.is_empty() {
        return Ok(());
    }
    diesel::delete(
        donation_rows::table
            .filter(donation_rows::donation_id.eq(donation_id))
            .filter(donation_rows::data_type.eq_any(&failed)),
    )
    .execute(conn)
    .await?;
    diesel::update(
        donation_types::table
            .filter(donation_types::donation_id.eq(donation_id))
            .filter(donation_types::data_type.eq_any(&failed)),
    )
    .set(donation_types::rows.eq(0_i64))
    .execute(conn)
    .await?;
    Ok(())
}
