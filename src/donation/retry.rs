//! RetryDonation: re-running a failed donation's steps.

use tonic::{Request, Status};

use super::grpc::{DonationApi, Reply_};
use crate::proto::donation::v1 as pb;

/// Re-runs the failed steps when the researcher may retry.
pub async fn retry_donation(
    _api: &DonationApi,
    _request: Request<pb::RetryDonationRequest>,
) -> Reply_<pb::RetryDonationResponse> {
    Err(Status::unimplemented("RetryDonation is being built"))
}
