//! Giving provider access back after a deletion or a normal completion
//! (spec §5.10): the `donation.release_provider_access` job.
//!
//! Deleting a donation moves its unreleased grant — the tokens still sealed
//! with the keyring, the export jobs still running — into a
//! `provider_releases` record in the deleting transaction ([`take_over`]),
//! because the grant row goes with the donation. The job then cancels those
//! exports (TikTok: `user/data/cancel/` for a pending request) and calls the
//! provider's reset (Google `authorization:reset`, TikTok `oauth/revoke/`),
//! refreshing an expired access token first. A refresh answered with
//! `invalid_grant` or a reset answered 401 means the access is already gone,
//! which counts as released. Any other failure is retried by the queue with
//! its backoff (1 s doubling to 1 h); after 7 days the record is abandoned
//! with an audit record, as the participant's deletion page already pointed
//! to the provider's own permission page. Either way the sealed tokens are
//! destroyed; the record keeps only codes and times.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncConnection as _, AsyncPgConnection, RunQueryDsl};
use serde::Deserialize;
use serde_json::json;

use super::catalogue::Source;
use super::error::DonationError;
use super::processing::Processing;
use super::processing::grant::token_aad;
use super::provider::{ErrorClass, ProviderError};
use super::store as donation_store;
use crate::dataset::audit::{self, Actor};
use crate::db::Pool;
use crate::db::schema::{provider_exports, provider_grants, provider_releases};
use crate::jobs::{JobContext, NewJob, Registry};

/// The job kind.
pub const KIND: &str = "donation.release_provider_access";

/// Attempts of one release: with the queue's backoff capped at an hour,
/// enough to keep trying for the 7 days after which it is abandoned.
const MAX_ATTEMPTS: i32 = 200;

/// How long a release is tried before it is abandoned (spec §5.10 step 2).
const GIVE_UP_AFTER: chrono::TimeDelta = chrono::TimeDelta::days(7);

/// An access token is refreshed before the reset when it expires within this.
const REFRESH_MARGIN: chrono::TimeDelta = chrono::TimeDelta::minutes(1);

/// Steward's access at the provider after a deletion (spec §3.6).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProviderAccess {
    /// Given back (or found already gone).
    Released,
    /// Still being given back in the background.
    Pending,
    /// Steward never held access (no sign-in), or had already given it back.
    NotHeld,
}

impl ProviderAccess {
    /// `released`, `pending` or `not_held`.
    pub fn as_str(self) -> &'static str {
        match self {
            ProviderAccess::Released => "released",
            ProviderAccess::Pending => "pending",
            ProviderAccess::NotHeld => "not_held",
        }
    }
}

#[derive(Debug, Deserialize)]
struct Payload {
    release_id: i64,
}

/// The job releasing record `release_id` (dedup key `release:<id>`).
pub fn job(release_id: i64) -> NewJob {
    NewJob::new(KIND, json!({ "release_id": release_id }))
        .dedup_key(format!("release:{release_id}"))
        .max_attempts(MAX_ATTEMPTS)
}

/// Registers the release job's handler.
pub fn register(registry: &mut Registry, processing: Arc<Processing>) {
    registry.register(KIND, move |ctx| run(processing.clone(), ctx));
}

/// What a release takes from a grant: provider, key id, sealed access
/// token and its expiry, sealed refresh token, and when it was released.
type GrantTokens = (String, String, Vec<u8>, Option<DateTime<Utc>>, Option<Vec<u8>>, Option<DateTime<Utc>>);

/// Inside the transaction deleting `donation_id`, before the donation row
/// goes: moves its grant into a release record and enqueues the release job.
/// `Pending` then; without a grant, where an earlier release (after the
/// donation completed) stands, or `NotHeld` when there was none.
pub async fn take_over(conn: &mut AsyncPgConnection, donation_id: i32) -> QueryResult<ProviderAccess> {
    let grant: Option<GrantTokens> = provider_grants::table
        .filter(provider_grants::donation_id.eq(donation_id))
        .select((
            provider_grants::provider,
            provider_grants::key_id,
            provider_grants::access_token_sealed,
            provider_grants::access_expires_at,
            provider_grants::refresh_token_sealed,
            provider_grants::released_at,
        ))
        .for_update()
        .first(conn)
        .await
        .optional()?;
    let Some((provider, key_id, access, access_expires_at, refresh, None)) = grant else {
        return Ok(state(conn, donation_id).await?.0);
    };
    let running: Vec<Option<String>> = provider_exports::table
        .filter(provider_exports::donation_id.eq(donation_id))
        .filter(provider_exports::state.eq("in_progress"))
        .filter(provider_exports::job_id.is_not_null())
        .order(provider_exports::id)
        .select(provider_exports::job_id)
        .load(conn)
        .await?;
    let running: Vec<String> = running.into_iter().flatten().collect();
    let id: i64 = diesel::insert_into(provider_releases::table)
        .values((
            provider_releases::donation_id.eq(donation_id),
            provider_releases::provider.eq(&provider),
            provider_releases::key_id.eq(&key_id),
            provider_releases::access_token_sealed.eq(Some(access)),
            provider_releases::access_expires_at.eq(access_expires_at),
            provider_releases::refresh_token_sealed.eq(refresh),
            provider_releases::cancel_job_ids.eq(&running),
        ))
        .returning(provider_releases::id)
        .get_result(conn)
        .await?;
    crate::jobs::enqueue(conn, job(id)).await?;
    Ok(ProviderAccess::Pending)
}

/// After donation `donation_id` was processed (spec §5.10 step 5), in the
/// finalizing transaction: the same release (there are no running exports to
/// cancel), and the grant row with its sealed tokens goes, so Steward keeps no
/// provider credentials it no longer needs.
pub async fn release_after_completion(conn: &mut AsyncPgConnection, donation_id: i32) -> QueryResult<()> {
    if take_over(conn, donation_id).await? == ProviderAccess::Pending {
        diesel::delete(provider_grants::table.filter(provider_grants::donation_id.eq(donation_id)))
            .execute(conn)
            .await?;
    }
    Ok(())
}

/// Where the release of deleted donation `donation_id` stands: `NotHeld`
/// when there was nothing to release; `Pending` also once abandoned.
pub async fn state(conn: &mut AsyncPgConnection, donation_id: i32) -> QueryResult<(ProviderAccess, i32)> {
    let row: Option<(String, i32)> = provider_releases::table
        .filter(provider_releases::donation_id.eq(donation_id))
        .select((provider_releases::state, provider_releases::attempts))
        .first(conn)
        .await
        .optional()?;
    Ok(match row {
        None => (ProviderAccess::NotHeld, 0),
        Some((state, attempts)) if state == "released" => (ProviderAccess::Released, attempts),
        Some((_, attempts)) => (ProviderAccess::Pending, attempts),
    })
}

/// Waits up to `timeout` for the first release attempt of deleted donation
/// `donation_id` to finish (spec §3.6: the participant page waits up to 5 s),
/// and says how it went: `Released`, or `Pending` when that attempt failed
/// or has not finished in time (it goes on in the background).
pub async fn wait(pool: &Pool, donation_id: i32, timeout: Duration) -> Result<ProviderAccess, DonationError> {
    let deadline = tokio::time::Instant::now() + timeout;
    let mut pause = Duration::from_millis(20);
    loop {
        let (access, attempts) = state(&mut *pool.get().await?, donation_id).await?;
        if access != ProviderAccess::Pending || attempts > 0 || tokio::time::Instant::now() + pause > deadline {
            return Ok(access);
        }
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(Duration::from_millis(200));
    }
}

async fn run(processing: Arc<Processing>, ctx: JobContext) -> anyhow::Result<()> {
    let Payload { release_id } = ctx.parse_payload()?;
    let mut conn = ctx.pool.get().await?;
    release(&processing, &mut conn, release_id).await
}

/// A `provider_releases` row (tokens still sealed; never printed).
#[derive(Queryable, Selectable)]
#[diesel(table_name = provider_releases)]
struct ReleaseRow {
    id: i64,
    donation_id: i32,
    provider: String,
    access_token_sealed: Option<Vec<u8>>,
    access_expires_at: Option<DateTime<Utc>>,
    refresh_token_sealed: Option<Vec<u8>>,
    cancel_job_ids: Vec<Option<String>>,
    state: String,
    attempts: i32,
    created_at: DateTime<Utc>,
}

/// How one attempt ended.
enum Outcome {
    Released { how: &'static str },
    Failed(ProviderError),
}

/// One attempt at releasing record `release_id`. Idempotent: a released or
/// abandoned record is left alone. Errors make the queue try again later.
pub async fn release(processing: &Processing, conn: &mut AsyncPgConnection, release_id: i64) -> anyhow::Result<()> {
    let row: Option<ReleaseRow> =
        provider_releases::table.find(release_id).select(ReleaseRow::as_select()).first(conn).await.optional()?;
    let Some(row) = row.filter(|r| r.state == "pending") else {
        return Ok(());
    };
    if row.created_at < Utc::now() - GIVE_UP_AFTER {
        return abandon(conn, &row).await;
    }
    let outcome = attempt(processing, &row).await?;
    match outcome {
        Outcome::Released { how } => {
            conn.transaction(async |conn| {
                let n = diesel::update(
                    provider_releases::table.find(row.id).filter(provider_releases::state.eq("pending")),
                )
                .set((
                    provider_releases::state.eq("released"),
                    provider_releases::released_at.eq(Utc::now()),
                    provider_releases::access_token_sealed.eq(None::<Vec<u8>>),
                    provider_releases::refresh_token_sealed.eq(None::<Vec<u8>>),
                    provider_releases::attempts.eq(row.attempts + 1),
                    provider_releases::last_error.eq(None::<String>),
                ))
                .execute(conn)
                .await?;
                if n == 1 {
                    let detail = json!({ "provider": row.provider, "attempts": row.attempts + 1, "how": how });
                    // A completed donation (not deleted) shows it in its event log.
                    if donation_store::find(conn, row.donation_id, false).await?.is_some() {
                        donation_store::add_event(
                            conn,
                            row.donation_id,
                            "provider_access_released",
                            None,
                            detail.clone(),
                        )
                        .await?;
                    }
                    audit::record(
                        conn,
                        Actor::System,
                        "provider_access_released",
                        "Donation",
                        row.donation_id,
                        None,
                        Some(detail),
                    )
                    .await?;
                }
                diesel::QueryResult::Ok(())
            })
            .await?;
            tracing::info!(donation.id = row.donation_id, how, "released provider access");
            Ok(())
        }
        Outcome::Failed(error) => {
            let code = format!("{}: {}", error.class, error.code.as_deref().unwrap_or("no code"));
            diesel::update(provider_releases::table.find(row.id))
                .set((
                    provider_releases::attempts.eq(row.attempts + 1),
                    provider_releases::last_error.eq(code.chars().take(200).collect::<String>()),
                ))
                .execute(conn)
                .await?;
            tracing::warn!(donation.id = row.donation_id, error = %error, "releasing provider access failed; will retry");
            Err(error.into())
        }
    }
}

/// Cancels the running exports, then resets the grant at the provider.
async fn attempt(processing: &Processing, row: &ReleaseRow) -> anyhow::Result<Outcome> {
    let source = Source::parse(&row.provider).ok_or_else(|| anyhow::anyhow!("unknown provider {}", row.provider))?;
    let provider = processing.provider(source)?;
    let open = |kind: &str, sealed: &Option<Vec<u8>>| -> anyhow::Result<Option<String>> {
        let Some(sealed) = sealed else { return Ok(None) };
        let plain = processing.keyring().open(sealed, &token_aad(row.donation_id, kind))?;
        Ok(Some(String::from_utf8(plain).map_err(|_| anyhow::anyhow!("a sealed token is not UTF-8"))?))
    };
    let refresh = open("refresh", &row.refresh_token_sealed)?;
    let mut access = open("access", &row.access_token_sealed)?;
    let expired = row.access_expires_at.is_some_and(|t| t < Utc::now() + REFRESH_MARGIN);
    if access.is_none() || expired {
        let Some(refresh) = refresh.as_deref() else {
            // Nothing usable is left: the access ends with the token's expiry.
            return Ok(Outcome::Released { how: "expired" });
        };
        match provider.refresh(refresh).await {
            Ok(grant) => access = Some(grant.access_token.expose().to_owned()),
            Err(e) if gone(&e) => return Ok(Outcome::Released { how: "already_gone" }),
            Err(e) => return Ok(Outcome::Failed(e)),
        }
    }
    let access = access.expect("set above or returned");
    for job_id in row.cancel_job_ids.iter().flatten() {
        match provider.cancel_job(&access, job_id).await {
            Ok(()) => {}
            // Access already gone: nothing left to cancel or reset.
            Err(e) if gone(&e) => return Ok(Outcome::Released { how: "already_gone" }),
            // A job that finished or failed meanwhile cannot be cancelled; fine.
            Err(e) if e.class != ErrorClass::Transient => {}
            Err(e) => return Ok(Outcome::Failed(e)),
        }
    }
    Ok(match provider.reset(&access).await {
        Ok(()) => Outcome::Released { how: "reset" },
        Err(e) if gone(&e) => Outcome::Released { how: "already_gone" },
        Err(e) => Outcome::Failed(e),
    })
}

/// Refresh `invalid_grant` or a 401 on the release: access is already gone
/// (spec §5.10 step 2).
fn gone(e: &ProviderError) -> bool {
    matches!(e.class, ErrorClass::Auth | ErrorClass::AccessLost)
}

/// Gives up a release after 7 days: destroys the tokens and records it.
async fn abandon(conn: &mut AsyncPgConnection, row: &ReleaseRow) -> anyhow::Result<()> {
    conn.transaction(async |conn| {
        diesel::update(provider_releases::table.find(row.id))
            .set((
                provider_releases::state.eq("abandoned"),
                provider_releases::access_token_sealed.eq(None::<Vec<u8>>),
                provider_releases::refresh_token_sealed.eq(None::<Vec<u8>>),
            ))
            .execute(conn)
            .await?;
        let detail = json!({ "provider": row.provider, "attempts": row.attempts });
        audit::record(
            conn,
            Actor::System,
            "provider_release_abandoned",
            "Donation",
            row.donation_id,
            None,
            Some(detail),
        )
        .await
    })
    .await?;
    tracing::warn!(donation.id = row.donation_id, "gave up releasing provider access after 7 days");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn access_states_are_spelled_as_the_api_says() {
        let all = [ProviderAccess::Released, ProviderAccess::Pending, ProviderAccess::NotHeld];
        assert_eq!(all.map(ProviderAccess::as_str), ["released", "pending", "not_held"]);
    }

    #[test]
    fn a_release_is_tried_for_seven_days() {
        let backoff = crate::jobs::Backoff::default();
        let total: Duration = (1..MAX_ATTEMPTS).map(|n| backoff.delay(n)).sum();
        assert!(total > GIVE_UP_AFTER.to_std().unwrap(), "{total:?}");
    }
}
