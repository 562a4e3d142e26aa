//! "Delete my data" (`/donate/revoke/`, spec §3.6): a confirmation page
//! (GET) and the deletion (POST, CSRF checked), which is the researcher's
//! deletion run as actor `participant` ([`ops::delete_for_participant`]):
//! local deletion at once, then up to 5 s of waiting for the provider access
//! to be given back. Works in every stage.

use axum::body::Bytes;
use axum::http::StatusCode;
use axum::response::Response;
use minijinja::context;

use super::pages::{Ctx, Fail, form};
use super::view::DonationView;
use crate::donation::catalogue::Source;
use crate::donation::error::DonationError;
use crate::donation::ops;
use crate::donation::release::ProviderAccess;

/// `GET /donate/revoke/`: what deleting means, and the button.
pub async fn revoke_form(ctx: Ctx) -> Response {
    let result = async {
        let mut conn = ctx.conn().await?;
        let (visit, donation) = ctx.current(&mut conn).await?;
        let view = DonationView::new(&donation, &[]);
        Ok(ctx.render(
            StatusCode::OK,
            "revoke.html",
            "Delete your donation?",
            Some(&visit),
            context! {
                done => false,
                provider => donation.source.provider_name(),
                description_first => view.description_first(),
            },
        ))
    }
    .await;
    ctx.finish(result)
}

/// `POST /donate/revoke/`: deletes the visit's current donation and says
/// whether provider access was given back (`released`), is still being
/// given back (`pending`) or was never held (`not_held`).
pub async fn revoke(ctx: Ctx, body: Bytes) -> Response {
    let result = async {
        let form = form(&body);
        let mut conn = ctx.conn().await?;
        let (visit, donation) = ctx.current(&mut conn).await?;
        ctx.check_csrf(&visit, &form)?;
        drop(conn);
        let release = match ops::delete_for_participant(&ctx.state.pool, donation.id).await {
            Ok(release) => release,
            Err(DonationError::NotFound) => return Err(Fail::NoDonation),
            Err(e) => return Err(Fail::Internal(anyhow::anyhow!("deleting a donation for its participant: {e}"))),
        };
        let release = match release {
            ProviderAccess::Released => "released",
            ProviderAccess::Pending => "pending",
            ProviderAccess::NotHeld => "not_held",
        };
        Ok(ctx.render(
            StatusCode::OK,
            "revoke.html",
            "Your donation has been deleted",
            Some(&visit),
            context! {
                done => true,
                release,
                provider => donation.source.provider_name(),
                self_service => self_service_removal(donation.source),
            },
        ))
    }
    .await;
    ctx.finish(result)
}

/// Where a participant removes Steward's access themselves (spec §3.3).
fn self_service_removal(source: Source) -> &'static str {
    match source {
        Source::Google => "at https://myaccount.google.com/permissions",
        // Unverified path (spec §3.3).
        Source::TikTok => "in the TikTok app under your privacy settings for apps and services",
    }
}
