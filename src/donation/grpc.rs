//! The tonic handlers of `DonationService`: caller → convert → ops → response.
//! Native RPCs answer typed messages and gRPC errors; the Legacy* RPCs answer
//! [`legacy::Reply`]s (compat JSON plus the HTTP status header) and always
//! complete with gRPC status OK, so their errors reach REST callers exactly
//! as portability-server's.

use std::sync::Arc;

use chrono::Utc;
use tonic::{Request, Response, Status};

use super::catalogue::Source;
use super::error::DonationError;
use super::legacy::{self, Reply};
use super::ops::{self, Viewer};
use super::{convert, model};
use crate::app::AppState;
use crate::auth::{Caller, Principal, Resolver};
use crate::config::Config;
use crate::crypto::Keyring;
use crate::db::{Pool, PooledConn};
use crate::proto::donation::v1 as pb;
use crate::proto::donation::v1::donation_service_server::DonationService;

/// The gRPC face of the donation service.
#[derive(Clone)]
pub struct DonationApi {
    pub(super) pool: Pool,
    pub(super) keyring: Arc<Keyring>,
    pub(super) resolver: Arc<Resolver>,
    pub(super) config: Arc<Config>,
    /// Donation changes for WatchMyDonation (one listener per process).
    pub(super) changes: Arc<super::participant::watch::Changes>,
}

impl std::fmt::Debug for DonationApi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DonationApi").finish_non_exhaustive()
    }
}

pub(super) type Reply_<T> = Result<Response<T>, Status>;

impl DonationApi {
    /// The service over the shared state.
    pub fn new(state: &AppState) -> Self {
        Self {
            pool: state.pool.clone(),
            keyring: state.keyring.clone(),
            resolver: state.resolver.clone(),
            config: state.config.clone(),
            changes: super::participant::watch::Changes::new(state.pool.clone()),
        }
    }

    pub(super) async fn conn(&self) -> Result<PooledConn, DonationError> {
        Ok(self.pool.get().await?)
    }

    /// The donation rules' view of `principal`: global roles, plus the dataset
    /// levels of its (cached) permission snapshot unless it is an admin.
    pub(super) async fn viewer(&self, principal: &Principal) -> Result<Viewer, DonationError> {
        let snapshot = if principal.is_admin() {
            None
        } else {
            Some(self.resolver.permissions().snapshot(&self.pool, principal.kind, principal.id).await?)
        };
        Ok(Viewer::new(principal, snapshot.as_deref(), Utc::now()))
    }

    /// A native caller: UNAUTHENTICATED without a valid credential.
    pub(super) async fn native_viewer<T>(&self, request: &Request<T>) -> Result<Viewer, Status> {
        let caller = Caller::of(request);
        let principal = caller.require_principal()?;
        Ok(self.viewer(principal).await?)
    }

    /// A legacy caller, or the DRF answer refusing it.
    async fn legacy_viewer<T>(&self, request: &Request<T>) -> Result<Viewer, Reply> {
        let authorization = request.metadata().get("authorization").and_then(|v| v.to_str().ok());
        let principal = legacy::principal(authorization, &Caller::of(request))?;
        self.viewer(&principal).await.map_err(|e| legacy::error(e, &request_id(request)))
    }

    fn enabled(&self) -> impl Fn(Source) -> bool + '_ {
        |source| self.config.donation.source_enabled(source)
    }

    async fn legacy_create(&self, request: Request<pb::LegacyCreateDonationRequest>, request_id: &str) -> Reply {
        let viewer = match self.legacy_viewer(&request).await {
            Ok(viewer) => viewer,
            Err(reply) => return reply,
        };
        if !viewer.researcher {
            return legacy::denied();
        }
        let pb::LegacyCreateDonationRequest { body } = request.into_inner();
        let (raw, errors) = match legacy::create_body(body.as_ref()) {
            Ok(fields) => fields,
            Err(reply) => return reply,
        };
        let created = async {
            let mut conn = self.conn().await?;
            ops::create(&mut conn, &self.keyring, &viewer, raw, errors, self.enabled()).await
        };
        match created.await {
            Ok(created) => legacy::created(&created.donation, &created.token, &self.config.public_url),
            Err(e) => legacy::error(e, request_id),
        }
    }

    async fn legacy_list(&self, request: Request<pb::LegacyListDonationsRequest>, request_id: &str) -> Reply {
        let viewer = match self.legacy_viewer(&request).await {
            Ok(viewer) => viewer,
            Err(reply) => return reply,
        };
        let pb::LegacyListDonationsRequest { dataset } = request.into_inner();
        let max = self.config.donation.legacy_list_max;
        let listed = async {
            let mut conn = self.conn().await?;
            let dataset = Some(dataset.as_str()).filter(|d| !d.is_empty());
            let limit = i64::try_from(max).unwrap_or(i64::MAX - 1) + 1;
            ops::list(&mut conn, &viewer, dataset, 0, limit).await
        };
        match listed.await {
            Ok(mut donations) => {
                let truncated = donations.len() > max;
                donations.truncate(max);
                legacy::donations(&donations, truncated)
            }
            Err(e) => legacy::error(e, request_id),
        }
    }

    async fn legacy_get(&self, request: Request<pb::LegacyGetDonationRequest>, request_id: &str) -> Reply {
        let viewer = match self.legacy_viewer(&request).await {
            Ok(viewer) => viewer,
            Err(reply) => return reply,
        };
        let Some(id) = legacy::parse_id(&request.get_ref().id) else {
            return legacy::not_found();
        };
        let found = async { ops::get(&mut *self.conn().await?, &viewer, id).await };
        match found.await {
            Ok(donation) => legacy::donation(&donation),
            Err(e) => legacy::error(e, request_id),
        }
    }

    async fn legacy_delete(&self, request: Request<pb::LegacyDeleteDonationRequest>, request_id: &str) -> Reply {
        let viewer = match self.legacy_viewer(&request).await {
            Ok(viewer) => viewer,
            Err(reply) => return reply,
        };
        let Some(id) = legacy::parse_id(&request.get_ref().id) else {
            return legacy::not_found();
        };
        let deleted = async { ops::delete(&mut *self.conn().await?, &viewer, id).await };
        match deleted.await {
            Ok(()) => Reply::no_content(),
            Err(e) => legacy::error(e, request_id),
        }
    }

    async fn legacy_query(&self, request: Request<pb::LegacyQueryDonationDataRequest>, request_id: &str) -> Reply {
        let viewer = match self.legacy_viewer(&request).await {
            Ok(viewer) => viewer,
            Err(reply) => return reply,
        };
        let pb::LegacyQueryDonationDataRequest { id, data_type, start_date, end_date, limit, offset } =
            request.into_inner();
        let Some(id) = legacy::parse_id(&id) else {
            return legacy::not_found();
        };
        let params = legacy::QueryParams {
            data_type: &data_type,
            start_date: &start_date,
            end_date: &end_date,
            limit: &limit,
            offset: &offset,
        };
        let answered = async {
            let mut conn = self.conn().await?;
            // Not visible is 404 before any parameter is judged.
            ops::get(&mut conn, &viewer, id).await?;
            let query = match legacy::data_query(params, self.config.donation.query_max_limit) {
                Ok(query) => query,
                Err(errors) => return Ok(legacy::field_errors(&errors)),
            };
            Ok(match query {
                None => legacy::data_types(&ops::available_types(&mut conn, &viewer, id).await?),
                Some(query) => legacy::data(&ops::query(&mut conn, &self.keyring, &viewer, id, &query).await?),
            })
        };
        answered.await.unwrap_or_else(|e: DonationError| legacy::error(e, request_id))
    }
}

/// The request id Steward assigned (or took from the caller), for 500 bodies.
fn request_id<T>(request: &Request<T>) -> String {
    request.metadata().get("x-request-id").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned()
}

#[tonic::async_trait]
impl DonationService for DonationApi {
    type ExportDonationDataStream = super::export::ExportStream;
    type WatchMyDonationStream = super::participant::grpc::WatchStream;

    async fn export_donation_data(
        &self,
        request: Request<pb::ExportDonationDataRequest>,
    ) -> Reply_<Self::ExportDonationDataStream> {
        super::export::export_donation_data(self, request).await
    }

    async fn retry_donation(&self, request: Request<pb::RetryDonationRequest>) -> Reply_<pb::RetryDonationResponse> {
        super::retry::retry_donation(self, request).await
    }

    async fn get_my_donation(&self, request: Request<pb::GetMyDonationRequest>) -> Reply_<pb::GetMyDonationResponse> {
        super::participant::grpc::get_my_donation(self, request).await
    }

    async fn list_my_donations(
        &self,
        request: Request<pb::ListMyDonationsRequest>,
    ) -> Reply_<pb::ListMyDonationsResponse> {
        super::participant::grpc::list_my_donations(self, request).await
    }

    async fn watch_my_donation(
        &self,
        request: Request<pb::WatchMyDonationRequest>,
    ) -> Reply_<Self::WatchMyDonationStream> {
        super::participant::grpc::watch_my_donation(self, request).await
    }

    async fn query_my_donation_data(
        &self,
        request: Request<pb::QueryMyDonationDataRequest>,
    ) -> Reply_<pb::QueryMyDonationDataResponse> {
        super::participant::grpc::query_my_donation_data(self, request).await
    }

    async fn delete_my_donation(
        &self,
        request: Request<pb::DeleteMyDonationRequest>,
    ) -> Reply_<pb::DeleteMyDonationResponse> {
        super::participant::grpc::delete_my_donation(self, request).await
    }

    async fn create_participant_link(
        &self,
        request: Request<pb::CreateParticipantLinkRequest>,
    ) -> Reply_<pb::CreateParticipantLinkResponse> {
        super::participant::grpc::create_participant_link(self, request).await
    }

    async fn create_donation(&self, request: Request<pb::CreateDonationRequest>) -> Reply_<pb::CreateDonationResponse> {
        let viewer = self.native_viewer(&request).await?;
        let raw = convert::create_request(request.into_inner());
        let mut conn = self.conn().await?;
        let created =
            ops::create(&mut conn, &self.keyring, &viewer, raw, model::FieldErrors::default(), self.enabled()).await?;
        let types = super::store::types(&mut conn, created.donation.id, &created.donation.requested_data_types)
            .await
            .map_err(DonationError::from)?;
        let donation_url = legacy::donation_url(&self.config.public_url, &created.token);
        Ok(Response::new(pb::CreateDonationResponse {
            donation: Some(convert::donation(created.donation, types)),
            token: created.token,
            donation_url,
        }))
    }

    async fn list_donations(&self, request: Request<pb::ListDonationsRequest>) -> Reply_<pb::ListDonationsResponse> {
        let viewer = self.native_viewer(&request).await?;
        let pb::ListDonationsRequest { page_size, page_token, dataset } = request.into_inner();
        let (default, max) = convert::LIST_PAGE;
        let limit = convert::page_size(page_size, default, max)?;
        let after = convert::list_after(&page_token, &dataset)?;
        let filter = Some(dataset.as_str()).filter(|d| !d.is_empty());
        let mut conn = self.conn().await?;
        let mut page = ops::list_with_types(&mut conn, &viewer, filter, after, limit + 1).await?;
        let more = page.len() > usize::try_from(limit).unwrap_or(usize::MAX);
        page.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
        let next_page_token = match (more, page.last()) {
            (true, Some((last, _))) => convert::list_token(last.id, &dataset),
            _ => String::new(),
        };
        Ok(Response::new(pb::ListDonationsResponse {
            donations: page.into_iter().map(|(d, t)| convert::donation(d, t)).collect(),
            next_page_token,
        }))
    }

    async fn get_donation(&self, request: Request<pb::GetDonationRequest>) -> Reply_<pb::GetDonationResponse> {
        let viewer = self.native_viewer(&request).await?;
        let pb::GetDonationRequest { donation_id } = request.into_inner();
        let id = convert::donation_id(donation_id)?;
        let (donation, types) = ops::get_with_types(&mut *self.conn().await?, &viewer, id).await?;
        Ok(Response::new(pb::GetDonationResponse { donation: Some(convert::donation(donation, types)) }))
    }

    async fn delete_donation(&self, request: Request<pb::DeleteDonationRequest>) -> Reply_<pb::DeleteDonationResponse> {
        let viewer = self.native_viewer(&request).await?;
        let pb::DeleteDonationRequest { donation_id } = request.into_inner();
        let id = convert::donation_id(donation_id)?;
        ops::delete(&mut *self.conn().await?, &viewer, id).await?;
        Ok(Response::new(pb::DeleteDonationResponse {}))
    }

    async fn list_donation_data_types(
        &self,
        request: Request<pb::ListDonationDataTypesRequest>,
    ) -> Reply_<pb::ListDonationDataTypesResponse> {
        let viewer = self.native_viewer(&request).await?;
        let pb::ListDonationDataTypesRequest { donation_id } = request.into_inner();
        let id = convert::donation_id(donation_id)?;
        let types = ops::available_types(&mut *self.conn().await?, &viewer, id).await?;
        Ok(Response::new(pb::ListDonationDataTypesResponse {
            data_types: types.into_iter().map(str::to_owned).collect(),
        }))
    }

    async fn query_donation_data(
        &self,
        request: Request<pb::QueryDonationDataRequest>,
    ) -> Reply_<pb::QueryDonationDataResponse> {
        let viewer = self.native_viewer(&request).await?;
        let native = convert::data_query(request.into_inner(), self.config.donation.query_max_limit)?;
        let mut conn = self.conn().await?;
        let page = ops::query(&mut conn, &self.keyring, &viewer, native.id, &native.query).await?;
        drop(conn);
        let next_page_token = native.next_page_token(&page);
        let (rows, json_rows) = native.format.render(page.rows)?;
        Ok(Response::new(pb::QueryDonationDataResponse { rows, total_count: page.count, next_page_token, json_rows }))
    }

    async fn list_donation_events(
        &self,
        request: Request<pb::ListDonationEventsRequest>,
    ) -> Reply_<pb::ListDonationEventsResponse> {
        let viewer = self.native_viewer(&request).await?;
        let pb::ListDonationEventsRequest { donation_id, page_size, page_token } = request.into_inner();
        let id = convert::donation_id(donation_id)?;
        let (default, max) = convert::LIST_PAGE;
        let limit = convert::page_size(page_size, default, max)?;
        let after = convert::events_after(&page_token, id)?;
        let mut events = ops::events(&mut *self.conn().await?, &viewer, id, after, limit + 1).await?;
        let more = events.len() > usize::try_from(limit).unwrap_or(usize::MAX);
        events.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
        let next_page_token = match (more, events.last()) {
            (true, Some(last)) => convert::events_token(last.id, id),
            _ => String::new(),
        };
        Ok(Response::new(pb::ListDonationEventsResponse {
            events: events.into_iter().map(convert::event).collect(),
            next_page_token,
        }))
    }

    async fn list_data_sources(
        &self,
        request: Request<pb::ListDataSourcesRequest>,
    ) -> Reply_<pb::ListDataSourcesResponse> {
        // Public, but a presented bad credential is still refused.
        let caller = Caller::of(&request);
        if let Caller::Refused(_) = &caller {
            caller.require_principal()?;
        }
        let pb::ListDataSourcesRequest {} = request.into_inner();
        Ok(Response::new(pb::ListDataSourcesResponse { sources: convert::sources(self.enabled()) }))
    }

    async fn legacy_create_donation(
        &self,
        request: Request<pb::LegacyCreateDonationRequest>,
    ) -> Reply_<pb::LegacyCreateDonationResponse> {
        let request_id = request_id(&request);
        let reply = self.legacy_create(request, &request_id).await;
        Ok(reply.into_response(|body| pb::LegacyCreateDonationResponse { body: Some(body) }))
    }

    async fn legacy_list_donations(
        &self,
        request: Request<pb::LegacyListDonationsRequest>,
    ) -> Reply_<pb::LegacyListDonationsResponse> {
        let request_id = request_id(&request);
        let reply = self.legacy_list(request, &request_id).await;
        Ok(reply.into_response(|body| pb::LegacyListDonationsResponse { body: Some(body) }))
    }

    async fn legacy_get_donation(
        &self,
        request: Request<pb::LegacyGetDonationRequest>,
    ) -> Reply_<pb::LegacyGetDonationResponse> {
        let request_id = request_id(&request);
        let reply = self.legacy_get(request, &request_id).await;
        Ok(reply.into_response(|body| pb::LegacyGetDonationResponse { body: Some(body) }))
    }

    async fn legacy_delete_donation(
        &self,
        request: Request<pb::LegacyDeleteDonationRequest>,
    ) -> Reply_<pb::LegacyDeleteDonationResponse> {
        let request_id = request_id(&request);
        let reply = self.legacy_delete(request, &request_id).await;
        Ok(reply.into_response(|body| pb::LegacyDeleteDonationResponse { body: Some(body) }))
    }

    async fn legacy_query_donation_data(
        &self,
        request: Request<pb::LegacyQueryDonationDataRequest>,
    ) -> Reply_<pb::LegacyQueryDonationDataResponse> {
        let request_id = request_id(&request);
        let reply = self.legacy_query(request, &request_id).await;
        Ok(reply.into_response(|body| pb::LegacyQueryDonationDataResponse { body: Some(body) }))
    }
}
