//! The tonic handlers of `AuthorizationService`: caller → convert → ops →
//! response. The DSG-compatible RPCs answer `google.api.HttpBody` JSON
//! rendered by [`super::compat`]; their permission answers come from the
//! per-principal cache.

use std::sync::Arc;

use chrono::Utc;
use tonic::{Request, Response, Status};

use super::compat;
use crate::app::AppState;
use crate::auth::{Caller, Principal, Resolver};
use crate::dataset::ops::{self, AccessRequest, Snapshot};
use crate::db::Pool;
use crate::error::Error;
use crate::proto::authorization::v1::authorization_service_server::AuthorizationService;
use crate::proto::authorization::v1::{
    CheckAccessRequest, GetDatasetVersionsRequest, GetUserCacheRequest, ListAccessibleDatasetsRequest, WhoAmIRequest,
    WhoAmIResponse,
};
use crate::proto::google::api::HttpBody;

/// The gRPC face of the authorization service.
#[derive(Clone)]
pub struct AuthorizationApi {
    pool: Pool,
    resolver: Arc<Resolver>,
}

impl std::fmt::Debug for AuthorizationApi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthorizationApi").finish_non_exhaustive()
    }
}

impl AuthorizationApi {
    /// The service over the shared state (pool, resolver and its permission cache).
    pub fn new(state: &AppState) -> Self {
        Self { pool: state.pool.clone(), resolver: state.resolver.clone() }
    }

    /// The principal for a DSG-compatible route, with DSG's 401 messages.
    /// `query_token` (user/cache's `dsg_token`) is tried only when no header
    /// or cookie credential was presented.
    async fn compat_principal(&self, caller: Caller, query_token: Option<&str>) -> Result<Arc<Principal>, Error> {
        let caller = match (caller, query_token) {
            (Caller::Anonymous, Some(token)) if !token.is_empty() => self.resolver.resolve_token(token).await,
            (caller, _) => caller,
        };
        match caller {
            Caller::Anonymous => Err(Error::Unauthenticated("Authentication credentials were not provided.".into())),
            caller => caller.require_principal().cloned(),
        }
    }

    async fn snapshot(&self, principal: &Principal) -> Result<Arc<Snapshot>, Error> {
        self.resolver.permissions().snapshot(&self.pool, principal.kind, principal.id).await
    }
}

#[tonic::async_trait]
impl AuthorizationService for AuthorizationApi {
    async fn who_am_i(&self, request: Request<WhoAmIRequest>) -> Result<Response<WhoAmIResponse>, Status> {
        let caller = Caller::of(&request);
        let principal = caller.require_principal()?;
        let WhoAmIRequest {} = request.into_inner();
        Ok(Response::new(principal.as_ref().into()))
    }

    async fn get_user_cache(&self, request: Request<GetUserCacheRequest>) -> Result<Response<HttpBody>, Status> {
        let caller = Caller::of(&request);
        let GetUserCacheRequest { service, dsg_token } = request.into_inner();
        let principal = self.compat_principal(caller, Some(&dsg_token)).await?;
        let snapshot = self.snapshot(&principal).await?;
        let service = Some(service.as_str()).filter(|s| !s.is_empty());
        Ok(Response::new(compat::json_body(compat::user_cache(&snapshot, service, Utc::now()))))
    }

    async fn check_access(&self, request: Request<CheckAccessRequest>) -> Result<Response<HttpBody>, Status> {
        let caller = Caller::of(&request);
        let principal = self.compat_principal(caller, None).await?;
        let question = AccessRequest::try_from(request.into_inner())?;
        let snapshot = self.snapshot(&principal).await?;
        let mut conn = self.pool.get().await.map_err(Error::from)?;
        let decision = ops::check_access(&mut conn, &snapshot, &question, Utc::now()).await?;
        Ok(Response::new(compat::json_body(compat::check_access(&decision))))
    }

    async fn list_accessible_datasets(
        &self,
        request: Request<ListAccessibleDatasetsRequest>,
    ) -> Result<Response<HttpBody>, Status> {
        let caller = Caller::of(&request);
        let ListAccessibleDatasetsRequest {} = request.into_inner();
        let principal = self.compat_principal(caller, None).await?;
        let snapshot = self.snapshot(&principal).await?;
        let mut conn = self.pool.get().await.map_err(Error::from)?;
        let rows = ops::accessible_datasets(&mut conn, &snapshot).await?;
        Ok(Response::new(compat::json_body(compat::datasets(&rows))))
    }

    async fn get_dataset_versions(
        &self,
        request: Request<GetDatasetVersionsRequest>,
    ) -> Result<Response<HttpBody>, Status> {
        let caller = Caller::of(&request);
        let GetDatasetVersionsRequest { dataset } = request.into_inner();
        // Public datasets' versions are visible to anyone; a presented but bad credential is still 401.
        let snapshot = match caller {
            Caller::Anonymous => None,
            caller => {
                let principal = self.compat_principal(caller, None).await?;
                Some(self.snapshot(&principal).await?)
            }
        };
        let mut conn = self.pool.get().await.map_err(Error::from)?;
        let rows = ops::dataset_versions(&mut conn, snapshot.as_deref(), &dataset).await?;
        Ok(Response::new(compat::json_body(compat::versions(&rows))))
    }
}
