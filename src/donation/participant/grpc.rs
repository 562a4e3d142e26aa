//! The participant RPCs, authenticated by the visit cookie.

use std::pin::Pin;

use futures_util::Stream;
use tonic::{Request, Status};

use crate::donation::grpc::{DonationApi, Reply_};
use crate::proto::donation::v1 as pb;

/// The stream WatchMyDonation answers.
pub type WatchStream = Pin<Box<dyn Stream<Item = Result<pb::WatchMyDonationResponse, Status>> + Send>>;

fn building() -> Status {
    Status::unimplemented("participant RPCs are being built")
}

pub async fn get_my_donation(
    _api: &DonationApi,
    _r: Request<pb::GetMyDonationRequest>,
) -> Reply_<pb::GetMyDonationResponse> {
    Err(building())
}

pub async fn list_my_donations(
    _api: &DonationApi,
    _r: Request<pb::ListMyDonationsRequest>,
) -> Reply_<pb::ListMyDonationsResponse> {
    Err(building())
}

pub async fn watch_my_donation(_api: &DonationApi, _r: Request<pb::WatchMyDonationRequest>) -> Reply_<WatchStream> {
    Err(building())
}

pub async fn query_my_donation_data(
    _api: &DonationApi,
    _r: Request<pb::QueryMyDonationDataRequest>,
) -> Reply_<pb::QueryMyDonationDataResponse> {
    Err(building())
}

pub async fn delete_my_donation(
    _api: &DonationApi,
    _r: Request<pb::DeleteMyDonationRequest>,
) -> Reply_<pb::DeleteMyDonationResponse> {
    Err(building())
}

pub async fn create_participant_link(
    _api: &DonationApi,
    _r: Request<pb::CreateParticipantLinkRequest>,
) -> Reply_<pb::CreateParticipantLinkResponse> {
    Err(building())
}
