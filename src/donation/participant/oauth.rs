//! Provider sign-in (spec §3.4): the OAuth authorization-code flow with
//! `state` and PKCE (S256), at Google and TikTok (whose callback names the
//! granted scopes `scopes`, and whose PKCE challenge encoding is
//! configurable).
//!
//! `/donate/authorize/` creates a single-use attempt — the state's SHA-256,
//! the PKCE verifier sealed with the keyring, the donation, the visit, the
//! resources asked for, a 15-minute expiry — and redirects to the provider
//! with only the scopes the requested types need. The callback consumes the
//! attempt atomically, checks that it comes back to the visit that started
//! it, exchanges the code (10 s timeout, one retry, in the provider client),
//! and hands the tokens to [`processing::store_grant`], which moves the
//! donation to `authorized` and enqueues the export in one transaction with
//! the participant linking. The state, code and verifier are never logged.

use axum::body::Bytes;
use axum::extract::RawQuery;
use axum::http::StatusCode;
use axum::response::Response;
use chrono::Utc;
use diesel::prelude::*;
use diesel_async::{AsyncConnection as _, AsyncPgConnection, RunQueryDsl};
use serde_json::json;

use super::pages::{self, Ctx, Fail, PageResult, field, form, token_hash};
use super::view;
use super::visit::{self, Visit};
use crate::db::schema::{donations, oauth_attempts};
use crate::donation::catalogue::{Source, resources_for};
use crate::donation::model::{Donation, Stage, Status};
use crate::donation::processing::{self, Authorized};
use crate::donation::provider::ErrorClass;
use crate::donation::store;
use crate::donation::tiktok;

/// `GET /donate/authorize/`.
pub async fn authorize_get(ctx: Ctx) -> Response {
    let result = authorize(&ctx, None).await;
    ctx.finish(result)
}

/// `POST /donate/authorize/` (the status page's button; CSRF checked).
pub async fn authorize_post(ctx: Ctx, body: Bytes) -> Response {
    let form = form(&body);
    let result = authorize(&ctx, Some(&form)).await;
    ctx.finish(result)
}

fn random_token() -> String {
    crate::auth::token::random_url_safe()
}

/// Associated data of a sealed PKCE verifier: bound to its donation and state.
pub(crate) fn verifier_aad(donation_id: i32, state_hash: &[u8]) -> Vec<u8> {
    let mut aad = format!("steward.oauth.verifier.v1\0{donation_id}\0").into_bytes();
    aad.extend_from_slice(state_hash);
    aad
}

/// Spec §3.4 "Start": terms accepted (the current text) and a stage that can
/// sign in, else back to the terms or the status page.
async fn authorize(ctx: &Ctx, form: Option<&[(String, String)]>) -> PageResult {
    let mut conn = ctx.conn().await?;
    let (visit, donation) = ctx.current(&mut conn).await?;
    if let Some(form) = form {
        ctx.check_csrf(&visit, form)?;
    }
    let (view, _) = pages::donation_view(&mut conn, &donation).await?;
    if !pages::terms_current(ctx, &mut conn, &visit, &donation, &view).await? {
        return Ok(ctx.redirect(StatusCode::FOUND, "/donate/terms/"));
    }
    let can_sign_in =
        donation.stage == Stage::TermsAccepted || donation.status == Status::Error && view::can_fix(&donation);
    if !can_sign_in {
        return Ok(ctx.redirect(StatusCode::FOUND, "/donate/"));
    }
    let provider = ctx.state.processing.provider(donation.source).map_err(|_| Fail::NotFound)?;
    let types = donation.requested_data_types.iter().filter_map(|name| donation.source.data_type(name));
    let resources = resources_for(types);
    let (state, verifier) = (random_token(), random_token());
    let state_hash = token_hash(&state);
    let sealed = ctx.state.keyring.seal(verifier.as_bytes(), &verifier_aad(donation.id, &state_hash));
    let ttl = chrono::TimeDelta::from_std(ctx.state.config.donation.oauth_attempt_ttl)
        .unwrap_or(chrono::TimeDelta::minutes(15));
    conn.transaction(async |conn| -> Result<(), Fail> {
        // Attempts expired a day ago are only noise now (consumed ones too).
        diesel::delete(
            oauth_attempts::table.filter(oauth_attempts::expires_at.lt(Utc::now() - chrono::TimeDelta::days(1))),
        )
        .execute(conn)
        .await?;
        diesel::insert_into(oauth_attempts::table)
            .values((
                oauth_attempts::state_hash.eq(&state_hash),
                oauth_attempts::provider.eq(donation.source.as_str()),
                oauth_attempts::donation_id.eq(donation.id),
                oauth_attempts::visit_id.eq(visit.id),
                oauth_attempts::code_verifier_sealed.eq(&sealed),
                oauth_attempts::scopes.eq(&resources),
                oauth_attempts::expires_at.eq(Utc::now() + ttl),
            ))
            .execute(conn)
            .await?;
        store::add_event(conn, donation.id, "authorize_started", None, json!({ "scopes": resources.len() })).await?;
        Ok(())
    })
    .await?;
    let url = provider.authorize_url(&state, &provider.pkce_challenge(&verifier), &resources);
    Ok(ctx.redirect(StatusCode::FOUND, &url))
}

/// A consumed attempt.
#[derive(Debug, Queryable)]
struct Attempt {
    donation_id: i32,
    visit_id: Option<i64>,
    code_verifier_sealed: Vec<u8>,
}

/// Consumes the attempt of `state_hash` for `source` once (spec §3.4 steps
/// 1–3): unused, unexpired, and — when the request carries a visit — started
/// by that visit. A request from another visit does not use it up.
async fn consume(
    conn: &mut AsyncPgConnection,
    source: Source,
    state_hash: &[u8],
    visit: Option<&Visit>,
) -> QueryResult<Option<Attempt>> {
    let mut query = diesel::update(oauth_attempts::table)
        .filter(oauth_attempts::state_hash.eq(state_hash))
        .filter(oauth_attempts::provider.eq(source.as_str()))
        .filter(oauth_attempts::consumed_at.is_null())
        .filter(oauth_attempts::expires_at.gt(diesel::dsl::now))
        .into_boxed();
    if let Some(visit) = visit {
        query = query.filter(oauth_attempts::visit_id.eq(visit.id));
    }
    query
        .set(oauth_attempts::consumed_at.eq(diesel::dsl::now))
        .returning((oauth_attempts::donation_id, oauth_attempts::visit_id, oauth_attempts::code_verifier_sealed))
        .get_result(conn)
        .await
        .optional()
}

/// `GET /oauth/google/callback/`.
pub async fn google_callback(ctx: Ctx, RawQuery(query): RawQuery) -> Response {
    let result = callback(&ctx, Source::Google, query.as_deref().unwrap_or("")).await;
    ctx.finish(result)
}

/// `GET /oauth/tiktok/callback/`.
pub async fn tiktok_callback(ctx: Ctx, RawQuery(query): RawQuery) -> Response {
    let result = callback(&ctx, Source::TikTok, query.as_deref().unwrap_or("")).await;
    ctx.finish(result)
}

/// A sign-in that stored nothing: event, stage back to `terms_accepted`
/// (a pending donation only), and the status page with `outcome`'s message.
async fn nothing_stored(
    ctx: &Ctx,
    conn: &mut AsyncPgConnection,
    donation: &Donation,
    kind: &str,
    detail: serde_json::Value,
    outcome: &str,
) -> PageResult {
    conn.transaction(async |conn| -> Result<(), Fail> {
        store::add_event(conn, donation.id, kind, None, detail).await?;
        if donation.status == Status::Pending {
            diesel::update(donations::table.find(donation.id))
                .set(donations::stage.eq(Stage::TermsAccepted.as_str()))
                .execute(conn)
                .await?;
        }
        Ok(())
    })
    .await?;
    Ok(ctx.redirect(StatusCode::FOUND, &format!("/donate/?signin={outcome}")))
}

/// A provider's error code, kept short and plain for logs and events.
fn plain_code(code: &str) -> String {
    code.chars().filter(|c| c.is_ascii_alphanumeric() || *c == '_').take(64).collect()
}

async fn callback(ctx: &Ctx, source: Source, query: &str) -> PageResult {
    let params = crate::http::form_pairs(query);
    let state = field(&params, "state").filter(|s| !s.is_empty()).ok_or(Fail::SignInExpired)?;
    let mut conn = ctx.conn().await?;
    let carried = ctx.visit(&mut conn).await?;
    let attempt = consume(&mut conn, source, &token_hash(state), carried.as_ref()).await?.ok_or(Fail::SignInExpired)?;
    let donation = store::find(&mut conn, attempt.donation_id, false).await?.ok_or(Fail::SignInExpired)?;

    // Step 3: the attempt's own visit, or — without any visit — a new one
    // for this donation only, which does not show a participant link.
    let (visit, cookie, own_visit) = match carried {
        Some(visit) => (visit, None, true),
        None => {
            let config = &ctx.state.config.donation;
            let (visit, value) = visit::open(&mut conn, config.visit_idle_ttl, config.visit_max_ttl).await?;
            visit::add_donation(&mut conn, &visit, donation.id).await?;
            (visit, Some(value), false)
        }
    };
    debug_assert!(!own_visit || attempt.visit_id == Some(visit.id));
    let finish = |response: Response| ctx.with_cookie(response, cookie.clone());

    // Steps 4–5: refused or incomplete at the provider.
    if let Some(error) = field(&params, "error") {
        let code = plain_code(error);
        let outcome = if code == "access_denied" { "declined" } else { "incomplete" };
        if outcome == "incomplete" {
            tracing::info!(donation.id = donation.id, provider = source.as_str(), error = %code, "sign-in did not complete");
        }
        let response =
            nothing_stored(ctx, &mut conn, &donation, "consent_declined", json!({ "error": code }), outcome).await?;
        return Ok(finish(response));
    }
    let Some(code) = field(&params, "code").filter(|c| !c.is_empty()) else {
        let response =
            nothing_stored(ctx, &mut conn, &donation, "consent_declined", json!({ "error": "no_code" }), "incomplete")
                .await?;
        return Ok(finish(response));
    };

    // Step 6: the code exchange (the client holds the 10 s timeout and the one retry).
    let verifier =
        ctx.state.keyring.open(&attempt.code_verifier_sealed, &verifier_aad(donation.id, &token_hash(state)))?;
    let verifier = String::from_utf8(verifier).map_err(|e| Fail::Internal(e.into()))?;
    let provider = ctx.state.processing.provider(source).map_err(|_| Fail::SignInExpired)?;
    let grant = match provider.exchange_code(code, &verifier).await {
        // TikTok names the granted scopes in the callback (`scopes`); its
        // token answer's `scope` wins when present.
        Ok(mut grant) if source == Source::TikTok && grant.scopes.is_none() => {
            if let Some(scopes) = field(&params, "scopes") {
                let scopes = tiktok::split_scopes(scopes);
                grant.resources = Some(tiktok::granted_resources(&scopes));
                grant.scopes = Some(scopes);
            }
            grant
        }
        Ok(grant) => grant,
        Err(e) => {
            if e.class == ErrorClass::Config {
                tracing::error!(donation.id = donation.id, error = %e, "the provider refused Steward's OAuth client");
            } else {
                tracing::warn!(donation.id = donation.id, error = %e, "code exchange failed");
            }
            let detail = json!({ "class": e.class.as_str(), "http_status": e.http_status, "code": e.code });
            let response = nothing_stored(ctx, &mut conn, &donation, "sign_in_failed", detail, "failed").await?;
            return Ok(finish(response));
        }
    };

    // Step 7: tokens, states, the export job and the participant, in one transaction.
    let processing = ctx.state.processing.clone();
    let stored = conn
        .transaction(async |conn| -> Result<Result<Authorized, processing::Error>, Fail> {
            let stored = processing::store_grant(conn, &processing, donation.id, &grant).await;
            if matches!(stored, Ok(Authorized::Authorized { .. })) {
                pages::link_after_sign_in(ctx, conn, &visit, donation.id, own_visit).await?;
            }
            Ok(stored)
        })
        .await?;
    let to = match stored {
        Ok(Authorized::Authorized { .. }) | Ok(Authorized::NoRefreshToken) => "/donate/".to_owned(),
        Ok(Authorized::NothingGranted) => "/donate/?signin=nothing".to_owned(),
        // Signed in twice: the first sign-in already took.
        Err(processing::Error::WrongState(_)) => "/donate/".to_owned(),
        Err(processing::Error::Gone) => return Err(Fail::SignInExpired),
        Err(e) => return Err(Fail::Internal(e.into())),
    };
    Ok(finish(ctx.redirect(StatusCode::FOUND, &to)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn provider_codes_are_kept_plain() {
        assert_eq!(plain_code("access_denied"), "access_denied");
        assert_eq!(plain_code("<script>x</script>"), "scriptxscript");
        assert_eq!(plain_code(&"a".repeat(100)).len(), 64);
    }

    #[test]
    fn states_and_verifiers_are_43_characters_of_base64url() {
        let (a, b) = (random_token(), random_token());
        assert_eq!(a.len(), 43);
        assert_ne!(a, b);
        assert!(a.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_'));
    }
}
