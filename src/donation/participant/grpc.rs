//! The participant RPCs (spec §2.9, §3.1), authenticated by the visit
//! cookie `steward_visit` alone: a researcher's token does not help, and a
//! visit does not open the researcher RPCs. No or an unknown/expired visit
//! is `UNAUTHENTICATED`; a donation the visit does not hold is `NOT_FOUND`,
//! exactly as a donation that does not exist. Participants see a
//! [`pb::Donation`] without its `dataset`.

use std::pin::Pin;

use diesel_async::AsyncPgConnection;
use futures_util::Stream;
use tokio::sync::mpsc;
use tonic::{Request, Response, Status};

use super::identity;
use super::visit::{self, Visit};
use super::watch::{self, Pace};
use crate::donation::error::DonationError;
use crate::donation::grpc::{DonationApi, Reply_};
use crate::donation::{convert, ops, store};
use crate::proto::donation::v1 as pb;

/// The stream WatchMyDonation answers.
pub type WatchStream = Pin<Box<dyn Stream<Item = Result<pb::WatchMyDonationResponse, Status>> + Send>>;

/// QueryMyDonationData's page size when none is asked for, and its maximum.
pub const QUERY_PAGE: (i32, i32) = (50, 200);

fn no_visit() -> Status {
    Status::unauthenticated("no participant visit: open your donation link or participant link again in this browser")
}

/// The live visit of the request's `steward_visit` cookie.
async fn visit_of<T>(conn: &mut AsyncPgConnection, request: &Request<T>) -> Result<Visit, Status> {
    let headers = request.metadata().clone().into_headers();
    let value = visit::cookie_value(&headers).ok_or_else(no_visit)?;
    visit::find(conn, &value).await.map_err(DonationError::from)?.ok_or_else(no_visit)
}

/// The visit, when it holds donation `id`; else `NOT_FOUND`.
async fn holding<T>(conn: &mut AsyncPgConnection, request: &Request<T>, id: i32) -> Result<Visit, Status> {
    let visit = visit_of(conn, request).await?;
    if !visit::holds(conn, &visit, id).await.map_err(DonationError::from)? {
        return Err(DonationError::NotFound.into());
    }
    Ok(visit)
}

/// Donation `id` as a participant sees it; `None` once deleted.
async fn participant_view(conn: &mut AsyncPgConnection, id: i32) -> Result<Option<pb::Donation>, DonationError> {
    let Some(donation) = store::find(conn, id, false).await? else {
        return Ok(None);
    };
    let types = store::types(conn, id, &donation.requested_data_types).await?;
    let mut donation = convert::donation(donation, types);
    donation.dataset.clear();
    Ok(Some(donation))
}

/// GetMyDonation: one of the visit's donations.
pub async fn get_my_donation(
    api: &DonationApi,
    r: Request<pb::GetMyDonationRequest>,
) -> Reply_<pb::GetMyDonationResponse> {
    let id = convert::donation_id(r.get_ref().donation_id)?;
    let mut conn = api.conn().await?;
    holding(&mut conn, &r, id).await?;
    let donation = participant_view(&mut conn, id).await?.ok_or(DonationError::NotFound)?;
    Ok(Response::new(pb::GetMyDonationResponse { donation: Some(donation) }))
}

/// ListMyDonations: the visit's donations, newest first.
pub async fn list_my_donations(
    api: &DonationApi,
    r: Request<pb::ListMyDonationsRequest>,
) -> Reply_<pb::ListMyDonationsResponse> {
    let mut conn = api.conn().await?;
    let visit = visit_of(&mut conn, &r).await?;
    let ids = visit::donations(&mut conn, &visit).await.map_err(DonationError::from)?;
    let mut donations = Vec::with_capacity(ids.len());
    for id in ids {
        donations.extend(participant_view(&mut conn, id).await?);
    }
    Ok(Response::new(pb::ListMyDonationsResponse { donations }))
}

/// WatchMyDonation: the donation now, then on every change, with heartbeats,
/// for at most 10 minutes ([`Pace::SPEC`]).
pub async fn watch_my_donation(api: &DonationApi, r: Request<pb::WatchMyDonationRequest>) -> Reply_<WatchStream> {
    let id = convert::donation_id(r.get_ref().donation_id)?;
    {
        let mut conn = api.conn().await?;
        holding(&mut conn, &r, id).await?;
    }
    // Subscribed before the first read, so no change falls in between.
    let changes = api.changes.subscribe();
    let (tx, rx) = mpsc::channel(4);
    let pool = api.pool.clone();
    let read = async move || {
        let mut conn = pool.get().await.map_err(DonationError::from)?;
        Ok(participant_view(&mut conn, id).await?)
    };
    tokio::spawn(watch::feed(id, read, changes, Pace::SPEC, tx));
    Ok(Response::new(Box::pin(tokio_stream::wrappers::ReceiverStream::new(rx))))
}

/// QueryMyDonationData: a page of one type's rows, in the researcher query's shape.
pub async fn query_my_donation_data(
    api: &DonationApi,
    r: Request<pb::QueryMyDonationDataRequest>,
) -> Reply_<pb::QueryMyDonationDataResponse> {
    let id = convert::donation_id(r.get_ref().donation_id)?;
    let mut conn = api.conn().await?;
    holding(&mut conn, &r, id).await?;
    let pb::QueryMyDonationDataRequest { donation_id, data_type, start_date, end_date, page_size, page_token } =
        r.into_inner();
    let (default, max) = QUERY_PAGE;
    let page_size = if page_size == 0 { default } else { page_size.min(max) };
    let request = pb::QueryDonationDataRequest {
        donation_id,
        data_type,
        start_date,
        end_date,
        page_size,
        page_token,
        row_format: pb::RowFormat::Struct.into(),
    };
    let native = convert::data_query(request, max.unsigned_abs())?;
    let page = ops::read_rows(&mut conn, &api.keyring, native.id, &native.query).await?;
    // Same tokens as QueryDonationData: the next page is read from this one's last row.
    let next_page_token = native.next_page_token(&page);
    let rows = page.rows.iter().map(|r| convert::row(r)).collect::<Result<Vec<_>, _>>()?;
    Ok(Response::new(pb::QueryMyDonationDataResponse { rows, total_count: page.count, next_page_token }))
}

/// DeleteMyDonation: deletes as the participant and says where provider access stands.
pub async fn delete_my_donation(
    api: &DonationApi,
    r: Request<pb::DeleteMyDonationRequest>,
) -> Reply_<pb::DeleteMyDonationResponse> {
    let id = convert::donation_id(r.get_ref().donation_id)?;
    holding(&mut *api.conn().await?, &r, id).await?;
    let access = ops::delete_for_participant(&api.pool, id).await?;
    Ok(Response::new(pb::DeleteMyDonationResponse { provider_access: access.as_str().to_owned() }))
}

/// CreateParticipantLink: a new participant for this donation, its link shown once.
pub async fn create_participant_link(
    api: &DonationApi,
    r: Request<pb::CreateParticipantLinkRequest>,
) -> Reply_<pb::CreateParticipantLinkResponse> {
    let id = convert::donation_id(r.get_ref().donation_id)?;
    let mut conn = api.conn().await?;
    let visit = holding(&mut conn, &r, id).await?;
    let token = match identity::new_link_for_donation(&mut conn, id).await {
        Err(diesel::result::Error::NotFound) => return Err(DonationError::NotFound.into()),
        other => other.map_err(DonationError::from)?,
    };
    // The donation left the visit's participant (if it came through them):
    // this visit keeps it.
    visit::add_donation(&mut conn, &visit, id).await.map_err(DonationError::from)?;
    let participant_url = identity::participant_url(&api.config.public_url, &token);
    Ok(Response::new(pb::CreateParticipantLinkResponse { participant_url }))
}
