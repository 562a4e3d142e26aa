//! RetryDonation (spec §5.9, §2.9.3): re-running a failed donation's failed
//! steps. The creator, `edit` on its dataset, or an admin may; a viewer with
//! `view` only is refused with PERMISSION_DENIED, anyone else sees NOT_FOUND.
//! A donation that is not in `error`, or whose error a retry cannot fix,
//! is refused with FAILED_PRECONDITION and what would help instead.

use tonic::{Request, Response, Status};

use super::convert;
use super::error::DonationError;
use super::grpc::{DonationApi, Reply_};
use super::ops::{self, Access};
use super::processing::retry::{self, RetryError};
use crate::proto::donation::v1 as pb;

/// Re-runs the failed steps when the researcher may retry; returns the donation as it is then.
pub async fn retry_donation(
    api: &DonationApi,
    request: Request<pb::RetryDonationRequest>,
) -> Reply_<pb::RetryDonationResponse> {
    let viewer = api.native_viewer(&request).await?;
    let pb::RetryDonationRequest { donation_id } = request.into_inner();
    let id = convert::donation_id(donation_id)?;
    let mut conn = api.conn().await?;
    let donation = ops::get(&mut conn, &viewer, id).await?;
    if viewer.access(&donation) < Access::Edit {
        return Err(DonationError::PermissionDenied.into());
    }
    match retry::retry(&mut conn, &api.config.donation, id).await {
        Ok(()) => {}
        Err(RetryError::Refused(reason)) => return Err(Status::failed_precondition(reason)),
        Err(RetryError::Db(e)) => return Err(DonationError::from(e).into()),
    }
    let (donation, types) = ops::get_with_types(&mut conn, &viewer, id).await?;
    Ok(Response::new(pb::RetryDonationResponse { donation: Some(convert::donation(donation, types)) }))
}
