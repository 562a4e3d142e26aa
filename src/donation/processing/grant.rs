//! Provider credentials (spec §4.1 "Tokens", §3.4 step 7): storing what a
//! sign-in gave, and handing out a usable access token, refreshed under the
//! grant row's lock.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncConnection as _, AsyncPgConnection, RunQueryDsl};
use serde_json::json;

use super::state::{self, EXPORT_FAILED, EXPORT_SKIPPED, NOT_GRANTED};
use super::{Error, Processing, store};
use crate::db::schema::{donation_types, donations, provider_exports, provider_grants};
use crate::donation::model::{Stage, Status, TypeState, error_remedies};
use crate::donation::provider::TokenGrant;
use crate::donation::store as donation_store;

/// A token is refreshed when it expires within this margin (spec §4.1).
const REFRESH_MARGIN: chrono::TimeDelta = chrono::TimeDelta::minutes(5);

/// Failure codes a new sign-in recovers from (spec §5.9 "participant can
/// fix"): their groups are asked for again under the new grant.
const SIGN_IN_AGAIN: [&str; 2] = ["provider_access_lost", "export_expired"];

/// What storing a sign-in's tokens did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Authorized {
    /// Tokens stored, `start_export` enqueued; these types were declined.
    Authorized { declined: Vec<String> },
    /// No requested type was granted: back to `terms_accepted`, nothing stored.
    NothingGranted,
    /// The provider sent no refresh token: the donation failed with `provider_auth_failed`.
    NoRefreshToken,
}

/// Stores the tokens of a successful code exchange for `donation_id`, in one
/// transaction (spec §3.4 step 7): seals them, marks types whose scopes were
/// not granted `declined`, moves the donation to `authorized`, appends the
/// `authorized` event and enqueues `start_export`. A new sign-in after a
/// `participant_can_fix` error replaces the grant and re-requests only the
/// groups that did not finish.
pub async fn store_grant(
    conn: &mut AsyncPgConnection,
    processing: &Processing,
    donation_id: i32,
    grant: &TokenGrant,
) -> Result<Authorized, Error> {
    conn.transaction(async |conn| {
        let donation = donation_store::find(conn, donation_id, true).await?.ok_or(Error::Gone)?;
        let can_fix = donation.error_code.as_deref().is_some_and(|c| error_remedies(c).0);
        if !(donation.status == Status::Pending || donation.status == Status::Error && can_fix) {
            return Err(Error::WrongState(donation.status.as_str()));
        }
        let Some(refresh_token) = &grant.refresh_token else {
            state::fail(conn, donation_id, "provider_auth_failed", "the provider sent no refresh token").await?;
            return Ok(Authorized::NoRefreshToken);
        };
        // A sign-in that does not say what it granted granted what was asked (RFC 6749 §5.1).
        let granted = |resource: &str| grant.resources.as_ref().is_none_or(|g| g.iter().any(|r| r == resource));

        // Groups that must be asked for again under the new grant.
        diesel::delete(
            provider_exports::table.filter(provider_exports::donation_id.eq(donation_id)).filter(
                (provider_exports::state.eq(EXPORT_FAILED).and(provider_exports::reason_code.eq_any(SIGN_IN_AGAIN)))
                    .or(provider_exports::state.eq(EXPORT_SKIPPED).and(provider_exports::reason_code.eq(NOT_GRANTED))),
            ),
        )
        .execute(conn)
        .await?;

        let types = donation_store::types(conn, donation_id, &donation.requested_data_types).await?;
        let (mut declined, mut wanted) = (Vec::new(), 0);
        for t in &types {
            let redo = match t.state {
                TypeState::Available => continue,
                TypeState::Failed => t.reason_code.as_deref().is_some_and(|c| SIGN_IN_AGAIN.contains(&c)),
                _ => true,
            };
            if !redo {
                continue;
            }
            let needs = state::needed_resources(donation.source, &t.data_type);
            let (state, reason) = if needs.iter().all(|r| granted(r)) {
                wanted += 1;
                (TypeState::Requested, None)
            } else {
                declined.push(t.data_type.clone());
                (TypeState::Declined, Some(NOT_GRANTED))
            };
            state::set_type(conn, donation_id, &t.data_type, state, reason).await?;
        }
        if wanted == 0 {
            donation_store::add_event(
                conn,
                donation_id,
                "consent_declined",
                None,
                json!({"reason": "nothing_granted"}),
            )
            .await?;
            if donation.status == Status::Pending {
                // Types go back to requested: the participant may sign in again.
                diesel::update(donation_types::table.filter(donation_types::donation_id.eq(donation_id)))
                    .set((
                        donation_types::state.eq(TypeState::Requested.as_str()),
                        donation_types::reason_code.eq(None::<String>),
                    ))
                    .execute(conn)
                    .await?;
                diesel::update(donations::table.find(donation_id))
                    .set(donations::stage.eq(Stage::TermsAccepted.as_str()))
                    .execute(conn)
                    .await?;
            }
            return Ok(Authorized::NothingGranted);
        }

        let resources: Vec<String> = match &grant.resources {
            Some(r) => r.clone(),
            None => types
                .iter()
                .flat_map(|t| state::needed_resources(donation.source, &t.data_type))
                .map(|r| (*r).to_owned())
                .collect(),
        };
        let aad_access = token_aad(donation_id, "access");
        let aad_refresh = token_aad(donation_id, "refresh");
        let sealed_access = processing.keyring.seal(grant.access_token.expose().as_bytes(), &aad_access);
        let sealed_refresh = processing.keyring.seal(refresh_token.expose().as_bytes(), &aad_refresh);
        let expires = expiry(grant);
        let key_id = processing.keyring.current_key_id().to_owned();
        let values = (
            provider_grants::donation_id.eq(donation_id),
            provider_grants::provider.eq(donation.source.as_str()),
            provider_grants::key_id.eq(&key_id),
            provider_grants::access_token_sealed.eq(&sealed_access),
            provider_grants::access_expires_at.eq(expires),
            provider_grants::refresh_token_sealed.eq(Some(&sealed_refresh)),
            provider_grants::granted_resources.eq(&resources),
            provider_grants::access_type.eq(None::<String>),
            provider_grants::released_at.eq(None::<DateTime<Utc>>),
        );
        diesel::insert_into(provider_grants::table)
            .values(values.clone())
            .on_conflict(provider_grants::donation_id)
            .do_update()
            .set(values)
            .execute(conn)
            .await?;
        diesel::update(donations::table.find(donation_id))
            .set((
                donations::status.eq(Status::Authorized.as_str()),
                donations::stage.eq(Stage::Authorized.as_str()),
                donations::error_code.eq(None::<String>),
                donations::error_message.eq(None::<String>),
                donations::authorized_at.eq(Utc::now()),
            ))
            .execute(conn)
            .await?;
        donation_store::add_event(
            conn,
            donation_id,
            "authorized",
            None,
            json!({ "granted": resources, "declined": declined }),
        )
        .await?;
        crate::jobs::enqueue(conn, super::start_export_job(&processing.config, donation_id)).await?;
        Ok(Authorized::Authorized { declined })
    })
    .await
}

/// An access token for the donation's grant that is valid for at least five
/// more minutes. With `failed` (the token a call was just refused with as
/// `auth`) the token is refreshed unless another worker already did. The
/// refresh runs under `SELECT … FOR UPDATE` of the grant row and writes the new
/// token in the same transaction (spec §4.1), so concurrent refreshes never
/// invalidate each other.
pub async fn access_token(
    conn: &mut AsyncPgConnection,
    processing: &Processing,
    donation_id: i32,
    failed: Option<&str>,
) -> Result<String, Error> {
    let grant = store::grant(conn, donation_id, false).await?.ok_or(Error::NoGrant)?;
    if failed.is_none()
        && fresh(grant.access_expires_at)
        && let Some(token) = open(processing, &grant, "access")?
    {
        return Ok(token);
    }
    conn.transaction(async |conn| {
        let grant = store::grant(conn, donation_id, true).await?.ok_or(Error::NoGrant)?;
        if grant.released_at.is_some() {
            return Err(Error::NoGrant);
        }
        let current = open(processing, &grant, "access")?.ok_or(Error::NoGrant)?;
        let refreshed_meanwhile = failed.is_some_and(|f| f != current);
        if refreshed_meanwhile || failed.is_none() && fresh(grant.access_expires_at) {
            return Ok(current);
        }
        let refresh_token = open(processing, &grant, "refresh")?.ok_or(Error::NoGrant)?;
        let provider = processing.provider_named(&grant.provider)?;
        let new = provider.refresh(&refresh_token).await?;
        let sealed = processing.keyring.seal(new.access_token.expose().as_bytes(), &token_aad(donation_id, "access"));
        let sealed_refresh = new
            .refresh_token
            .as_ref()
            .map(|r| processing.keyring.seal(r.expose().as_bytes(), &token_aad(donation_id, "refresh")));
        diesel::update(provider_grants::table.find(grant.id))
            .set((
                provider_grants::access_token_sealed.eq(sealed),
                provider_grants::access_expires_at.eq(expiry(&new)),
                provider_grants::key_id.eq(processing.keyring.current_key_id()),
            ))
            .execute(conn)
            .await?;
        if let Some(sealed_refresh) = sealed_refresh {
            // Providers that rotate refresh tokens (TikTok) send a new one.
            diesel::update(provider_grants::table.find(grant.id))
                .set(provider_grants::refresh_token_sealed.eq(sealed_refresh))
                .execute(conn)
                .await?;
        }
        tracing::info!(donation.id = donation_id, "refreshed the provider access token");
        Ok(new.access_token.expose().to_owned())
    })
    .await
}

/// Records Google's `accessType` the first time an export reports it.
pub async fn record_access_type(conn: &mut AsyncPgConnection, donation_id: i32, access_type: &str) -> QueryResult<()> {
    diesel::update(
        provider_grants::table
            .filter(provider_grants::donation_id.eq(donation_id))
            .filter(provider_grants::access_type.is_null()),
    )
    .set(provider_grants::access_type.eq(access_type))
    .execute(conn)
    .await
    .map(drop)
}

fn fresh(expires_at: Option<DateTime<Utc>>) -> bool {
    expires_at.is_none_or(|t| t > Utc::now() + REFRESH_MARGIN)
}

fn expiry(grant: &TokenGrant) -> Option<DateTime<Utc>> {
    grant.expires_in.and_then(|d| chrono::TimeDelta::from_std(d).ok()).map(|d| Utc::now() + d)
}

/// Associated data of a sealed token: it cannot be moved to another donation
/// or swapped between access and refresh token undetected. The release job
/// opens them with it after the grant moved to `provider_releases`.
pub(crate) fn token_aad(donation_id: i32, kind: &str) -> Vec<u8> {
    format!("steward.donation.grant.v1\0{donation_id}\0{kind}").into_bytes()
}

/// Opens the grant's `kind` token (`None`: no refresh token stored).
fn open(processing: &Processing, grant: &store::GrantRow, kind: &str) -> Result<Option<String>, Error> {
    let sealed = match kind {
        "access" => Some(&grant.access_token_sealed),
        _ => grant.refresh_token_sealed.as_ref(),
    };
    let Some(sealed) = sealed else { return Ok(None) };
    let plain = processing.keyring.open(sealed, &token_aad(grant.donation_id, kind))?;
    let token = String::from_utf8(plain).map_err(|_| Error::Other(anyhow::anyhow!("a sealed token is not UTF-8")))?;
    Ok(Some(token))
}
