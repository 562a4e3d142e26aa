//! The `donation.start_export` job (spec §4.2.5, §4.4.3, §5.1, §5.3): one
//! `initiate` (TikTok: Add) per needed resource group that has no recorded
//! job id, each answer committed in its own statement right after the call.

use chrono::Utc;
use diesel::prelude::*;
use diesel_async::{AsyncConnection as _, AsyncPgConnection, RunQueryDsl};
use serde_json::json;

use super::state::{
    self, EXPORT_FAILED, EXPORT_IN_PROGRESS, EXPORT_PENDING, EXPORT_SKIPPED, NOT_GRANTED, WINDOW_IN_FUTURE,
};
use super::{Error, Processing, grant, store, with_token};
use crate::db::schema::donation_types;
use crate::donation::catalogue::{DataType, Source, resources_for};
use crate::donation::google;
use crate::donation::model::{Status, TypeState};
use crate::donation::provider::{ErrorClass, ProviderError};
use crate::donation::store as donation_store;
use crate::donation::tiktok;

/// Requests the exports a donation still needs. `last_attempt`: a transient
/// failure now ends the group with `provider_unavailable` instead of failing
/// the job for a later retry.
pub async fn start_export(
    processing: &Processing,
    conn: &mut AsyncPgConnection,
    donation_id: i32,
    last_attempt: bool,
) -> Result<(), Error> {
    let Some(donation) = donation_store::find(conn, donation_id, false).await? else {
        return Ok(());
    };
    if !matches!(donation.status, Status::Authorized | Status::Processing) {
        return Ok(());
    }
    match store::grant(conn, donation_id, false).await? {
        Some(g) if g.released_at.is_none() => {}
        _ => return Ok(()),
    }
    let provider = processing.provider(donation.source)?;
    let types = donation_store::types(conn, donation_id, &donation.requested_data_types).await?;
    let wanted: Vec<&DataType> = types
        .iter()
        .filter(|t| matches!(t.state, TypeState::Requested | TypeState::Exporting))
        .filter_map(|t| donation.source.data_type(&t.data_type))
        .collect();
    let resources = resources_for(wanted);
    store::ensure_exports(conn, donation_id, &resources).await?;

    let mut retry_later = None;
    for export in store::exports(conn, donation_id).await? {
        if export.job_id.is_some() || export.state != EXPORT_PENDING || !resources.contains(&export.resource.as_str()) {
            continue;
        }
        let now = Utc::now();
        let request = match donation.source {
            Source::Google => {
                google::export_request(&export.resource, donation.data_start_date, donation.data_end_date, now)
            }
            // No date range at TikTok: the window is applied to the rows (§4.4.3).
            Source::TikTok => Some(tiktok::export_request(&export.resource)),
        };
        let Some(request) = request else {
            store::end_export(conn, export.id, EXPORT_SKIPPED, Some(WINDOW_IN_FUTURE)).await?;
            let detail = json!({ "resource": export.resource, "reason": WINDOW_IN_FUTURE });
            donation_store::add_event(conn, donation_id, "export_skipped", None, detail).await?;
            continue;
        };
        let answer = with_token!(processing, conn, donation_id, |token| provider.initiate(token, &request));
        match answer {
            Ok(initiated) => {
                let (next, deadline) = (now + processing.poll_delay(0), now + processing.max_wait());
                if store::record_job(conn, export.id, &initiated.job_id, next, deadline).await? {
                    if let Some(access_type) = &initiated.access_type {
                        grant::record_access_type(conn, donation_id, access_type).await?;
                    }
                    let detail = json!({ "resource": export.resource, "access_type": initiated.access_type });
                    donation_store::add_event(conn, donation_id, "export_requested", None, detail).await?;
                }
            }
            // The lost-answer window (§4.2.5): no job id is recorded for this
            // group, yet the one-time grant is used up.
            Err(e) if e.is_grant_exhausted() => {
                end_group(conn, donation_id, &export.resource, export.id, EXPORT_FAILED, "provider_access_lost", &e)
                    .await?
            }
            Err(e) if e.is_region_refusal() => region_refused(conn, &donation, &export.resource, export.id, &e).await?,
            Err(mut e) => {
                if e.is_repeat_too_soon() {
                    // A time-based grant initiated again within 24 h: try later (§4.2.4).
                    e.class = ErrorClass::Transient;
                }
                match failure(conn, donation_id, &export.resource, export.id, e, last_attempt).await? {
                    Handled::Continue => {}
                    Handled::Stop => return Ok(()),
                    Handled::RetryLater(e) => retry_later = Some(e),
                }
            }
        }
    }
    conn.transaction(async |conn| state::settle(conn, donation_id).await).await?;
    match retry_later {
        Some(e) => Err(e.into()),
        None => Ok(()),
    }
}

/// Why the types of a group failed when TikTok refused the account's region;
/// the participant page says so in its own words (spec §4.4.3, §5.9).
pub const REGION_DETAIL: &str = "TikTok offers the Data Portability API only for accounts in the EEA and the UK";

/// TikTok refused the Add because the account is outside the EEA and the
/// UK: the group fails with `export_failed`, and its types carry
/// [`REGION_DETAIL`] so the researcher's message and the participant's page
/// say why.
async fn region_refused(
    conn: &mut AsyncPgConnection,
    donation: &crate::donation::model::Donation,
    resource: &str,
    export_id: i64,
    e: &ProviderError,
) -> Result<(), Error> {
    let types: Vec<&str> = donation
        .requested_data_types
        .iter()
        .filter(|t| state::needed_resources(donation.source, t).contains(&resource))
        .map(String::as_str)
        .collect();
    conn.transaction(async |conn| {
        end_group(conn, donation.id, resource, export_id, EXPORT_FAILED, "export_failed", e).await?;
        diesel::update(
            donation_types::table
                .filter(donation_types::donation_id.eq(donation.id))
                .filter(donation_types::data_type.eq_any(&types)),
        )
        .set(donation_types::reason_detail.eq(REGION_DETAIL))
        .execute(conn)
        .await?;
        Ok::<_, Error>(())
    })
    .await
}

/// What a provider failure meant for the job.
pub(crate) enum Handled {
    /// Recorded on the group; go on with the others.
    Continue,
    /// The donation failed as a whole; nothing more to do.
    Stop,
    /// Transient: fail this attempt so the queue retries it.
    RetryLater(ProviderError),
}

/// Applies a failed call's class to its group or the donation (spec §4.1).
pub(crate) async fn failure(
    conn: &mut AsyncPgConnection,
    donation_id: i32,
    resource: &str,
    export_id: i64,
    e: ProviderError,
    last_attempt: bool,
) -> Result<Handled, Error> {
    match e.class {
        ErrorClass::AccessLost => {
            lose_access(conn, donation_id, "provider_access_lost", &e).await?;
            Ok(Handled::Stop)
        }
        ErrorClass::Config => {
            tracing::error!(donation.id = donation_id, error = %e, "the provider refused Steward's client credentials");
            lose_access(conn, donation_id, "provider_auth_failed", &e).await?;
            Ok(Handled::Stop)
        }
        ErrorClass::NotGranted => {
            end_group(conn, donation_id, resource, export_id, EXPORT_SKIPPED, NOT_GRANTED, &e).await?;
            Ok(Handled::Continue)
        }
        ErrorClass::Permanent => {
            end_group(conn, donation_id, resource, export_id, EXPORT_FAILED, "export_failed", &e).await?;
            Ok(Handled::Continue)
        }
        ErrorClass::Transient | ErrorClass::Auth if last_attempt => {
            end_group(conn, donation_id, resource, export_id, EXPORT_FAILED, "provider_unavailable", &e).await?;
            Ok(Handled::Continue)
        }
        ErrorClass::Transient | ErrorClass::Auth => {
            let detail = json!({ "resource": resource, "class": e.class.as_str(), "step": e.step_name() });
            donation_store::add_event(conn, donation_id, "attempt_failed", None, detail).await?;
            Ok(Handled::RetryLater(e))
        }
    }
}

/// Ends one group's export with `code` and records why.
pub(crate) async fn end_group(
    conn: &mut AsyncPgConnection,
    donation_id: i32,
    resource: &str,
    export_id: i64,
    state: &str,
    code: &str,
    e: &ProviderError,
) -> Result<(), Error> {
    store::end_export(conn, export_id, state, Some(code)).await?;
    let kind = if code == NOT_GRANTED { "export_not_granted" } else { "export_failed" };
    let detail = json!({ "resource": resource, "code": code, "step": e.step_name(), "http_status": e.http_status,
        "provider_code": e.code });
    donation_store::add_event(conn, donation_id, kind, None, detail).await?;
    Ok(())
}

/// A donation-level failure (access lost, credentials refused): every group
/// that still needs the provider fails with `code`, then the donation settles.
pub(crate) async fn lose_access(
    conn: &mut AsyncPgConnection,
    donation_id: i32,
    code: &str,
    e: &ProviderError,
) -> Result<(), Error> {
    conn.transaction(async |conn| {
        // Under the donation's lock, so of two jobs losing access at once
        // only the first ends the exports and records the event.
        if donation_store::find(conn, donation_id, true).await?.is_none() {
            return Ok(());
        }
        let mut ended = 0;
        for export in store::exports(conn, donation_id).await? {
            let needs_provider = match export.state.as_str() {
                EXPORT_PENDING | EXPORT_IN_PROGRESS => true,
                // Parts are fetched from URLs the state call signs anew.
                state::EXPORT_COMPLETE => store::parts(conn, export.id).await?.iter().any(|(_, s)| s == "pending"),
                _ => false,
            };
            if needs_provider {
                store::end_export(conn, export.id, EXPORT_FAILED, Some(code)).await?;
                ended += 1;
            }
        }
        if ended == 0 {
            return Ok(());
        }
        let detail = json!({ "code": code, "step": e.step_name(), "provider_code": e.code });
        let kind = if code == "provider_access_lost" { "provider_access_lost" } else { "provider_auth_failed" };
        donation_store::add_event(conn, donation_id, kind, None, detail).await?;
        state::settle(conn, donation_id).await?;
        Ok::<_, Error>(())
    })
    .await
}
