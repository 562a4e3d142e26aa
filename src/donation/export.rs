//! ExportDonationData: a donation's rows streamed in batches.

use std::pin::Pin;

use futures_util::Stream;
use tonic::{Request, Status};

use super::grpc::{DonationApi, Reply_};
use crate::proto::donation::v1 as pb;

/// The stream of export batches.
pub type ExportStream = Pin<Box<dyn Stream<Item = Result<pb::ExportDonationDataResponse, Status>> + Send>>;

/// Streams the rows of the donation's available types.
pub async fn export_donation_data(
    _api: &DonationApi,
    _request: Request<pb::ExportDonationDataRequest>,
) -> Reply_<ExportStream> {
    Err(Status::unimplemented("ExportDonationData is being built"))
}
