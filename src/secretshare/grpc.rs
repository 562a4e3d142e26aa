//! The tonic handlers of `SecretShareService`: caller → request checks →
//! `ops` → response. Privacy Guardian's three kept routes (GetPermissions,
//! CreateLegacyEndpoint, SubmitLegacyShare) call the same operations.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::DateTime;
use tonic::{Request, Response, Status};

use super::caller::ShareCaller;
use super::config::MAX_VECTOR_LENGTH;
use super::endpoint::{Encoding, RawEndpoint, max_decodable_batch_size};
use super::error::ShareError;
use super::field::{self, P};
use super::ops::{Endpoint, SecretShare, Submission};
use super::store::BatchRow;
use crate::app::AppState;
use crate::auth::Caller;
use crate::auth::jwt::{JwtError, JwtVerifier, looks_like_jwt};
use crate::proto::google::api::HttpBody;
use crate::proto::secretshare::v1 as pb;
use crate::proto::secretshare::v1::secret_share_service_server::SecretShareService;
use crate::proto::timestamp;

/// The protocol name parties report.
pub const PROTOCOL: &str = "steward-secretshare/v1";

/// Page sizes (default, max): endpoints and batches, pending ids.
const LIST_PAGE: (i32, i32) = (50, 100);
const PENDING_PAGE: (i32, i32) = (1_000, 10_000);

/// The gRPC face of one secret-share party.
#[derive(Debug, Clone)]
pub struct SecretShareApi {
    share: SecretShare,
    /// Verifies bearer JWTs of the configured external issuer, if any.
    jwt: Option<JwtVerifier>,
}

type Reply<T> = Result<Response<T>, Status>;

impl SecretShareApi {
    pub fn new(state: &AppState) -> Self {
        let share = SecretShare::new(
            state.pool.clone(),
            state.keyring.clone(),
            state.resolver.clone(),
            state.config.secretshare.clone(),
        );
        Self { share, jwt: state.config.jwt.clone().map(JwtVerifier::new) }
    }

    /// The authenticated caller: a bearer JWT of the configured issuer (roles
    /// from its permission claim), or a Steward credential (roles from
    /// groups); UNAUTHENTICATED without a valid one.
    async fn caller<T>(&self, request: &Request<T>) -> Result<ShareCaller, ShareError> {
        self.share.party()?;
        let bearer = request
            .metadata()
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split_once(' '))
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, token)| token.trim());
        if let Some(token) = bearer.filter(|t| looks_like_jwt(t)) {
            let Some(verifier) = &self.jwt else {
                return Err(ShareError::Unauthenticated(
                    "this party accepts no external JWTs (STEWARD_JWT_ISSUER is not configured); use a Steward token"
                        .into(),
                ));
            };
            return match verifier.verify(token).await {
                Ok(claims) => Ok(ShareCaller::external(&claims.issuer, &claims.subject, claims.permissions)),
                Err(e @ JwtError::KeysUnavailable) => Err(ShareError::Unavailable(e.to_string())),
                Err(e) => Err(ShareError::Unauthenticated(format!("JWT refused: {e}"))),
            };
        }
        let caller = Caller::of(request);
        let principal = caller.require_principal().map_err(ShareError::from)?;
        Ok(ShareCaller::steward(principal.clone()))
    }

    fn endpoint_message(&self, endpoint: &Endpoint) -> pb::Endpoint {
        let (config, row) = (&endpoint.config, &endpoint.row);
        pb::Endpoint {
            name: config.name.clone(),
            description: row.description.clone(),
            vector_length: config.vector_length,
            field: pb::Field::Field64.into(),
            encoding: match config.encoding {
                Encoding::Integer => pb::ValueEncoding::Integer,
                Encoding::FixedPoint => pb::ValueEncoding::FixedPoint,
            }
            .into(),
            decimal_scale: config.decimal_scale,
            min_value: config.min_value,
            max_value: config.max_value,
            min_batch_size: Some(config.min_batch_size),
            max_submissions_per_contributor: Some(config.max_submissions_per_contributor),
            dataset: row.dataset.clone().unwrap_or_default(),
            config_digest: row.config_digest.clone(),
            state: if endpoint.archived() { pb::EndpointState::Archived } else { pb::EndpointState::Active }.into(),
            max_decodable_batch_size: max_decodable_batch_size(config.min_value, config.max_value),
            create_time: Some(timestamp(row.created_at)),
            creator: row.creator.clone(),
        }
    }

    fn batch_message(&self, endpoint: &Endpoint, batch: BatchRow) -> Result<pb::Batch, ShareError> {
        let party = self.share.party()?;
        let aggregate_share = field::share_elements(&batch.aggregate_share, endpoint.config.vector_length as usize)
            .ok_or_else(|| ShareError::Internal(anyhow::anyhow!("a stored aggregate of the wrong length")))?;
        Ok(pb::Batch {
            endpoint: batch.endpoint,
            batch_digest: batch.batch_digest,
            submission_count: batch.submission_count as u64,
            contributor_count: batch.contributor_count as u64,
            party_index: party.index,
            party_count: party.count,
            config_digest: endpoint.row.config_digest.clone(),
            aggregate_share,
            seal_time: Some(timestamp(batch.sealed_at)),
            sealed_by: batch.sealed_by,
        })
    }
}

/// `size` clamped to 1..=max; 0 or less takes the default.
fn page_size(size: i32, (default, max): (i32, i32)) -> i64 {
    i64::from(if size <= 0 { default } else { size.min(max) })
}

/// An opaque page token: what kind of list, which endpoint, where the page ends.
fn page_token(kind: &str, endpoint: &str, position: &str) -> String {
    URL_SAFE_NO_PAD.encode(format!("{kind}\n{endpoint}\n{position}"))
}

fn read_token(kind: &str, endpoint: &str, token: &str) -> Result<Option<String>, ShareError> {
    if token.is_empty() {
        return Ok(None);
    }
    let invalid =
        || ShareError::invalid("page_token", "not a page token of this list: pass next_page_token as it came");
    let text = URL_SAFE_NO_PAD.decode(token).ok().and_then(|b| String::from_utf8(b).ok()).ok_or_else(invalid)?;
    let mut parts = text.splitn(3, '\n');
    match (parts.next(), parts.next(), parts.next()) {
        (Some(k), Some(e), Some(position)) if k == kind && e == endpoint => Ok(Some(position.to_owned())),
        _ => Err(invalid()),
    }
}

fn read_seq_token(kind: &str, endpoint: &str, token: &str) -> Result<i64, ShareError> {
    match read_token(kind, endpoint, token)? {
        None => Ok(0),
        Some(position) => {
            position.parse().map_err(|_| ShareError::invalid("page_token", "not a page token of this list"))
        }
    }
}

/// An endpoint to create from its message.
fn raw_endpoint(endpoint: pb::Endpoint) -> RawEndpoint {
    let field = pb::Field::try_from(endpoint.field).ok();
    RawEndpoint {
        name: endpoint.name,
        description: endpoint.description,
        vector_length: endpoint.vector_length,
        encoding: match pb::ValueEncoding::try_from(endpoint.encoding) {
            Ok(pb::ValueEncoding::Integer) => Some(Encoding::Integer),
            Ok(pb::ValueEncoding::FixedPoint) => Some(Encoding::FixedPoint),
            _ => None,
        },
        field_supported: matches!(field, Some(pb::Field::Unspecified | pb::Field::Field64)),
        decimal_scale: endpoint.decimal_scale,
        min_value: endpoint.min_value,
        max_value: endpoint.max_value,
        min_batch_size: endpoint.min_batch_size,
        max_submissions_per_contributor: endpoint.max_submissions_per_contributor,
    }
}

#[tonic::async_trait]
impl SecretShareService for SecretShareApi {
    async fn get_party_info(&self, _: Request<pb::GetPartyInfoRequest>) -> Reply<pb::GetPartyInfoResponse> {
        let party = self.share.party()?;
        Ok(Response::new(pb::GetPartyInfoResponse {
            party_index: party.index,
            party_count: party.count,
            party_name: party.name.clone(),
            protocol: PROTOCOL.into(),
            field: pb::Field::Field64.into(),
            modulus: P.to_string(),
            max_vector_length: MAX_VECTOR_LENGTH,
            max_batch_size: self.share.settings.max_batch_size,
            party_urls: party.urls.clone(),
        }))
    }

    async fn create_endpoint(&self, request: Request<pb::CreateEndpointRequest>) -> Reply<pb::CreateEndpointResponse> {
        let caller = self.caller(&request).await?;
        let endpoint = request
            .into_inner()
            .endpoint
            .ok_or_else(|| ShareError::invalid("endpoint", "is required: the endpoint's configuration"))?;
        let dataset = endpoint.dataset.clone();
        let (created, _) = self.share.create_endpoint(&caller, raw_endpoint(endpoint), &dataset).await?;
        Ok(Response::new(pb::CreateEndpointResponse { endpoint: Some(self.endpoint_message(&created)) }))
    }

    async fn get_endpoint(&self, request: Request<pb::GetEndpointRequest>) -> Reply<pb::GetEndpointResponse> {
        self.caller(&request).await?;
        let endpoint = self.share.get_endpoint(&request.get_ref().name).await?;
        Ok(Response::new(pb::GetEndpointResponse {
            endpoint: Some(self.endpoint_message(&endpoint)),
            party_index: self.share.party()?.index,
        }))
    }

    async fn list_endpoints(&self, request: Request<pb::ListEndpointsRequest>) -> Reply<pb::ListEndpointsResponse> {
        self.caller(&request).await?;
        let pb::ListEndpointsRequest { page_size: size, page_token: token, include_archived } = request.into_inner();
        let limit = page_size(size, LIST_PAGE);
        let after = read_token("endpoints", "", &token)?.unwrap_or_default();
        let endpoints = self.share.list_endpoints(&after, limit, include_archived).await?;
        let next_page_token = match endpoints.last() {
            Some(last) if endpoints.len() as i64 == limit => page_token("endpoints", "", &last.config.name),
            _ => String::new(),
        };
        let endpoints = endpoints.iter().map(|e| self.endpoint_message(e)).collect();
        Ok(Response::new(pb::ListEndpointsResponse { endpoints, next_page_token }))
    }

    async fn archive_endpoint(
        &self,
        request: Request<pb::ArchiveEndpointRequest>,
    ) -> Reply<pb::ArchiveEndpointResponse> {
        let caller = self.caller(&request).await?;
        let endpoint = self.share.archive_endpoint(&caller, &request.get_ref().name).await?;
        Ok(Response::new(pb::ArchiveEndpointResponse { endpoint: Some(self.endpoint_message(&endpoint)) }))
    }

    async fn submit_share(&self, request: Request<pb::SubmitShareRequest>) -> Reply<pb::SubmitShareResponse> {
        let caller = self.caller(&request).await?;
        let pb::SubmitShareRequest { endpoint, submission_id, party_index, config_digest, share } =
            request.into_inner();
        if config_digest.is_empty() {
            return Err(ShareError::invalid(
                "config_digest",
                "is required: the endpoint's digest as checked on every party",
            )
            .into());
        }
        let submission = Submission {
            endpoint,
            id: submission_id,
            party_index: Some(party_index),
            config_digest,
            share,
            share_field: "share",
        };
        let received = self.share.submit(&caller, submission).await?;
        Ok(Response::new(pb::SubmitShareResponse {
            submission_id: received.id.to_string(),
            receive_time: Some(timestamp(received.received_at)),
            duplicate: received.duplicate,
        }))
    }

    async fn delete_submission(
        &self,
        request: Request<pb::DeleteSubmissionRequest>,
    ) -> Reply<pb::DeleteSubmissionResponse> {
        let caller = self.caller(&request).await?;
        let pb::DeleteSubmissionRequest { endpoint, submission_id } = request.into_inner();
        self.share.withdraw(&caller, &endpoint, &submission_id).await?;
        Ok(Response::new(pb::DeleteSubmissionResponse {}))
    }

    async fn list_pending_submissions(
        &self,
        request: Request<pb::ListPendingSubmissionsRequest>,
    ) -> Reply<pb::ListPendingSubmissionsResponse> {
        let caller = self.caller(&request).await?;
        let pb::ListPendingSubmissionsRequest { endpoint, page_size: size, page_token: token, received_before } =
            request.into_inner();
        let limit = page_size(size, PENDING_PAGE);
        let after = read_seq_token("pending", &endpoint, &token)?;
        let before = match received_before {
            None => None,
            Some(t) => Some(
                DateTime::from_timestamp(t.seconds, u32::try_from(t.nanos).unwrap_or(0))
                    .ok_or_else(|| ShareError::invalid("received_before", "is not a valid time"))?,
            ),
        };
        let (ids, total) = self.share.pending(&caller, &endpoint, after, before, limit).await?;
        let next_page_token = match ids.last() {
            Some((seq, _)) if ids.len() as i64 == limit => page_token("pending", &endpoint, &seq.to_string()),
            _ => String::new(),
        };
        Ok(Response::new(pb::ListPendingSubmissionsResponse {
            submission_ids: ids.into_iter().map(|(_, id)| id.to_string()).collect(),
            next_page_token,
            total_pending: total as u64,
        }))
    }

    async fn seal_batch(&self, request: Request<pb::SealBatchRequest>) -> Reply<pb::SealBatchResponse> {
        let caller = self.caller(&request).await?;
        let pb::SealBatchRequest { endpoint, submission_ids, config_digest, expected_batch_digest } =
            request.into_inner();
        let sealed =
            self.share.seal(&caller, &endpoint, &submission_ids, &config_digest, &expected_batch_digest).await?;
        let endpoint = self.share.get_endpoint(&endpoint).await?;
        Ok(Response::new(pb::SealBatchResponse {
            batch: Some(self.batch_message(&endpoint, sealed.batch)?),
            already_sealed: sealed.already_sealed,
        }))
    }

    async fn get_batch(&self, request: Request<pb::GetBatchRequest>) -> Reply<pb::GetBatchResponse> {
        let caller = self.caller(&request).await?;
        let pb::GetBatchRequest { endpoint, batch_digest } = request.into_inner();
        let (endpoint, batch) = self.share.batch(&caller, &endpoint, &batch_digest).await?;
        Ok(Response::new(pb::GetBatchResponse { batch: Some(self.batch_message(&endpoint, batch)?) }))
    }

    async fn list_batches(&self, request: Request<pb::ListBatchesRequest>) -> Reply<pb::ListBatchesResponse> {
        let caller = self.caller(&request).await?;
        let pb::ListBatchesRequest { endpoint, page_size: size, page_token: token } = request.into_inner();
        let limit = page_size(size, LIST_PAGE);
        let after = read_seq_token("batches", &endpoint, &token)?;
        let (endpoint, batches) = self.share.batches(&caller, &endpoint, after, limit).await?;
        let next_page_token = match batches.last() {
            Some((seq, _)) if batches.len() as i64 == limit => {
                page_token("batches", &endpoint.config.name, &seq.to_string())
            }
            _ => String::new(),
        };
        let batches =
            batches.into_iter().map(|(_, b)| self.batch_message(&endpoint, b)).collect::<Result<Vec<_>, _>>()?;
        Ok(Response::new(pb::ListBatchesResponse { batches, next_page_token }))
    }

    async fn get_permissions(&self, request: Request<pb::GetPermissionsRequest>) -> Reply<pb::GetPermissionsResponse> {
        let caller = self.caller(&request).await?;
        Ok(Response::new(pb::GetPermissionsResponse {
            message: "Successful".into(),
            permissions: caller.permissions,
            status: 200,
        }))
    }

    async fn create_legacy_endpoint(&self, request: Request<pb::CreateLegacyEndpointRequest>) -> Reply<HttpBody> {
        let caller = self.caller(&request).await?;
        let pb::CreateLegacyEndpointRequest { endpoint, task } = request.into_inner();
        if !matches!(task.as_str(), "post_eta_data" | "get_eta_data") {
            return Err(ShareError::invalid(
                "task",
                "Invalid task or no task provided in the request: use post_eta_data or get_eta_data",
            )
            .into());
        }
        // Privacy Guardian's defaults, configured identically on every party.
        let raw = RawEndpoint {
            name: endpoint,
            description: String::new(),
            vector_length: self.share.settings.legacy_vector_length,
            encoding: Some(Encoding::Integer),
            field_supported: true,
            decimal_scale: 0,
            min_value: 0,
            max_value: 4_294_967_295,
            min_batch_size: None,
            max_submissions_per_contributor: None,
        };
        let (_, created) = self.share.create_endpoint(&caller, raw, "").await?;
        let html = if created { "<h1> Success </h1>" } else { "<h1> This endpoint already exists </h1>" };
        Ok(Response::new(HttpBody {
            content_type: "text/html; charset=utf-8".into(),
            data: html.into(),
            extensions: vec![],
        }))
    }

    async fn submit_legacy_share(
        &self,
        request: Request<pb::SubmitLegacyShareRequest>,
    ) -> Reply<pb::SubmitLegacyShareResponse> {
        let caller = self.caller(&request).await?;
        let pb::SubmitLegacyShareRequest { endpoint, data, submission_id, client_id: _, party_index, config_digest } =
            request.into_inner();
        if submission_id.is_empty() {
            return Err(ShareError::invalid(
                "submission_id",
                "is required: 32 hex digits of random bytes, the same on every party, so the parties' shares can be matched",
            )
            .into());
        }
        let submission =
            Submission { endpoint, id: submission_id, party_index, config_digest, share: data, share_field: "data" };
        let received = self.share.submit(&caller, submission).await?;
        Ok(Response::new(pb::SubmitLegacyShareResponse {
            message: "Data received successfully".into(),
            submission_id: received.id.to_string(),
            duplicate: received.duplicate,
        }))
    }
}
