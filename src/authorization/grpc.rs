//! The tonic handlers of `AuthorizationService`: caller → convert → ops →
//! response. The DSG-compatible RPCs answer `google.api.HttpBody` JSON
//! rendered by [`super::compat`]; their permission answers come from the
//! per-principal cache. The token writes evict this replica's cached
//! credentials before answering (`evict_here`).

use std::sync::Arc;

use chrono::Utc;
use tonic::{Request, Response, Status};

use super::compat;
use crate::app::AppState;
use crate::auth::{Caller, Principal, PrincipalKind, Resolver, user_tokens};
use crate::crypto::Keyring;
use crate::dataset::lookup;
use crate::dataset::ops::{self, AccessRequest, Snapshot};
use crate::db::Pool;
use crate::error::Error;
use crate::proto::authorization::v1::authorization_service_server::AuthorizationService;
use crate::proto::authorization::v1::{
    CheckAccessRequest, CreateTokenRequest, GetDatasetVersionsRequest, GetGroupMembersRequest, GetGroupUsersRequest,
    GetLongLivedTokenRequest, GetRootIsPublicRequest, GetRootsArePublicRequest, GetTableDatasetRequest,
    GetTableHasPublicRequest, GetUserCacheRequest, GetUserPermissionsRequest, GetUsernamesRequest, GetUsersRequest,
    ListAccessibleDatasetsRequest, ListUserTokensRequest, RefreshTokenRequest, RevokeApiKeyRequest,
    RevokeApiKeyResponse, RotateLongLivedTokenRequest, WhoAmIJsonRequest, WhoAmIRequest, WhoAmIResponse,
};
use crate::proto::google::api::HttpBody;

/// The gRPC face of the authorization service.
#[derive(Clone)]
pub struct AuthorizationApi {
    pool: Pool,
    resolver: Arc<Resolver>,
    /// Derives the default long-lived tokens (spec §4.3).
    keyring: Arc<Keyring>,
}

impl std::fmt::Debug for AuthorizationApi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthorizationApi").finish_non_exhaustive()
    }
}

impl AuthorizationApi {
    /// The service over the shared state (pool, resolver and its permission cache).
    pub fn new(state: &AppState) -> Self {
        Self { pool: state.pool.clone(), resolver: state.resolver.clone(), keyring: state.keyring.clone() }
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

    /// The caller's snapshot if they are "some admin" (spec §2.4: global admin,
    /// dataset admin, group admin or service account), else PERMISSION_DENIED.
    async fn some_admin(&self, caller: Caller) -> Result<Arc<Snapshot>, Error> {
        let principal = self.compat_principal(caller, None).await?;
        let snapshot = self.snapshot(&principal).await?;
        let profile = &snapshot.profile;
        let some_admin = profile.kind == PrincipalKind::ServiceAccount
            || profile.admin
            || !profile.groups_admin.is_empty()
            || !snapshot.inputs.datasets_admin().is_empty();
        if some_admin { Ok(snapshot) } else { Err(denied()) }
    }

    /// Applies a write's eviction on this replica before the write answers, as
    /// `EvictAfterWrites` does for DatasetService: other replicas evict when
    /// the write's NOTIFY reaches them, which may be after the caller's next
    /// request here.
    fn evict_here(&self, payload: &str) {
        self.resolver.evict(payload);
    }

    /// The caller if it is a human user (DSG's `IsHumanUser`): service accounts get 403.
    async fn human(&self, caller: Caller) -> Result<Arc<Principal>, Error> {
        let principal = self.compat_principal(caller, None).await?;
        if principal.kind == PrincipalKind::User { Ok(principal) } else { Err(denied()) }
    }
}

/// DSG's 403 message.
fn denied() -> Error {
    Error::PermissionDenied("You do not have permission to perform this action.".into())
}

/// Public-root routes need no credential, but a presented bad one is still 401
/// (a bad credential is never silently downgraded to anonymous).
fn anyone(caller: &Caller) -> Result<(), Error> {
    match caller {
        Caller::Refused(_) => caller.require_principal().map(drop),
        Caller::Anonymous | Caller::Principal(_) => Ok(()),
    }
}

fn json(data: Vec<u8>) -> Result<Response<HttpBody>, Status> {
    Ok(Response::new(compat::json_body(data)))
}

/// The most root ids one `root_all_public` request may carry (spec §3.2.8, inferred).
const MAX_ROOT_IDS: usize = 100_000;

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
        let now = Utc::now();
        // A pool checkout costs a round trip (the pool verifies connections),
        // so take one only when the snapshot cannot answer.
        let decision = match ops::check_access_cached(&snapshot, &question, now) {
            Some(decision) => decision,
            None => {
                let mut conn = self.pool.get().await.map_err(Error::from)?;
                ops::check_access(&mut conn, &snapshot, &question, now).await?
            }
        };
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

    async fn who_am_i_json(&self, request: Request<WhoAmIJsonRequest>) -> Result<Response<HttpBody>, Status> {
        let caller = Caller::of(&request);
        let WhoAmIJsonRequest {} = request.into_inner();
        let principal = self.compat_principal(caller, None).await?;
        let snapshot = self.snapshot(&principal).await?;
        json(compat::who_am_i(&snapshot, &principal.description))
    }

    async fn get_user_permissions(
        &self,
        request: Request<GetUserPermissionsRequest>,
    ) -> Result<Response<HttpBody>, Status> {
        let caller = Caller::of(&request);
        let GetUserPermissionsRequest { user_id } = request.into_inner();
        self.some_admin(caller).await?;
        let not_found = || Error::NotFound("User not found".into());
        let mut conn = self.pool.get().await.map_err(Error::from)?;
        let kind = lookup::principal_kind(&mut conn, user_id).await.map_err(Error::from)?.ok_or_else(not_found)?;
        drop(conn);
        // A disabled target has no document (its snapshot load refuses it): not found, not the caller's 401.
        let snapshot = match self.resolver.permissions().snapshot(&self.pool, kind, user_id).await {
            Err(Error::Unauthenticated(_)) => return Err(not_found().into()),
            other => other?,
        };
        json(compat::user_cache(&snapshot, None, Utc::now()))
    }

    async fn get_usernames(&self, request: Request<GetUsernamesRequest>) -> Result<Response<HttpBody>, Status> {
        let caller = Caller::of(&request);
        let GetUsernamesRequest { id } = request.into_inner();
        self.compat_principal(caller, None).await?;
        let ids = lookup::parse_ids(&id).ok_or_else(|| Error::InvalidArgument("Invalid user IDs".into()))?;
        let mut conn = self.pool.get().await.map_err(Error::from)?;
        let rows = lookup::names(&mut conn, &ids).await.map_err(Error::from)?;
        json(compat::usernames(&rows))
    }

    async fn get_users(&self, request: Request<GetUsersRequest>) -> Result<Response<HttpBody>, Status> {
        let caller = Caller::of(&request);
        let GetUsersRequest { id } = request.into_inner();
        self.some_admin(caller).await?;
        let ids = lookup::parse_ids(&id).ok_or_else(|| Error::InvalidArgument("Invalid user IDs".into()))?;
        let mut conn = self.pool.get().await.map_err(Error::from)?;
        let rows = lookup::users(&mut conn, &ids).await.map_err(Error::from)?;
        json(compat::users(&rows))
    }

    async fn get_group_users(&self, request: Request<GetGroupUsersRequest>) -> Result<Response<HttpBody>, Status> {
        let caller = Caller::of(&request);
        let GetGroupUsersRequest { group_id } = request.into_inner();
        self.some_admin(caller).await?;
        let mut conn = self.pool.get().await.map_err(Error::from)?;
        let rows = lookup::group_users(&mut conn, group_id)
            .await
            .map_err(Error::from)?
            .ok_or_else(|| Error::NotFound("Group not found".into()))?;
        json(compat::group_users(&rows))
    }

    async fn get_group_members(&self, request: Request<GetGroupMembersRequest>) -> Result<Response<HttpBody>, Status> {
        let caller = Caller::of(&request);
        let GetGroupMembersRequest { group_name } = request.into_inner();
        let principal = self.compat_principal(caller, None).await?;
        let snapshot = self.snapshot(&principal).await?;
        let mut conn = self.pool.get().await.map_err(Error::from)?;
        let (_, emails) = lookup::group_member_emails(&mut conn, &group_name)
            .await
            .map_err(Error::from)?
            .ok_or_else(|| Error::NotFound("Group not found".into()))?;
        // Members (group admins are members), global admins and service accounts (Steward rule).
        let profile = &snapshot.profile;
        let allowed =
            profile.kind == PrincipalKind::ServiceAccount || profile.admin || profile.groups.contains(&group_name);
        if !allowed {
            return Err(denied().into());
        }
        json(compat::value(&emails))
    }

    async fn get_table_dataset(&self, request: Request<GetTableDatasetRequest>) -> Result<Response<HttpBody>, Status> {
        let caller = Caller::of(&request);
        let GetTableDatasetRequest { namespace, table_id } = request.into_inner();
        self.compat_principal(caller, None).await?;
        let mut conn = self.pool.get().await.map_err(Error::from)?;
        let dataset = lookup::table_dataset(&mut conn, &namespace, &table_id)
            .await
            .map_err(Error::from)?
            .ok_or_else(|| Error::NotFound("Table not found".into()))?;
        json(compat::value(&dataset))
    }

    async fn get_table_has_public(
        &self,
        request: Request<GetTableHasPublicRequest>,
    ) -> Result<Response<HttpBody>, Status> {
        anyone(&Caller::of(&request))?;
        let GetTableHasPublicRequest { table_id } = request.into_inner();
        let mut conn = self.pool.get().await.map_err(Error::from)?;
        let public = lookup::table_has_public(&mut conn, &table_id).await.map_err(Error::from)?;
        json(compat::value(&public))
    }

    async fn get_root_is_public(&self, request: Request<GetRootIsPublicRequest>) -> Result<Response<HttpBody>, Status> {
        anyone(&Caller::of(&request))?;
        let GetRootIsPublicRequest { table_id, root_id } = request.into_inner();
        let mut conn = self.pool.get().await.map_err(Error::from)?;
        let public = lookup::roots_public(&mut conn, &table_id, &[root_id]).await.map_err(Error::from)?;
        json(compat::value(&public.first().copied().unwrap_or(false)))
    }

    async fn get_roots_are_public(
        &self,
        request: Request<GetRootsArePublicRequest>,
    ) -> Result<Response<HttpBody>, Status> {
        anyone(&Caller::of(&request))?;
        let GetRootsArePublicRequest { table_id, body } = request.into_inner();
        let data = body.map(|b| b.data).unwrap_or_default();
        let roots = compat::parse_root_ids(&data, MAX_ROOT_IDS)
            .ok_or_else(|| Error::InvalidArgument("Expected JSON array of root IDs".into()))?;
        let mut conn = self.pool.get().await.map_err(Error::from)?;
        let public = lookup::roots_public(&mut conn, &table_id, &roots).await.map_err(Error::from)?;
        json(compat::value(&public))
    }

    async fn create_token(&self, request: Request<CreateTokenRequest>) -> Result<Response<HttpBody>, Status> {
        let caller = Caller::of(&request);
        let CreateTokenRequest { body } = request.into_inner();
        let principal = self.human(caller).await?;
        let description = body
            .and_then(|b| compat::token_description(&b.data))
            .unwrap_or_else(|| user_tokens::DEFAULT_DESCRIPTION.to_owned());
        let mut conn = self.pool.get().await.map_err(Error::from)?;
        let token = user_tokens::create_api_token(&mut conn, principal.id, &description).await?;
        json(compat::value(&token))
    }

    async fn get_long_lived_token(
        &self,
        request: Request<GetLongLivedTokenRequest>,
    ) -> Result<Response<HttpBody>, Status> {
        let caller = Caller::of(&request);
        let GetLongLivedTokenRequest {} = request.into_inner();
        let principal = self.human(caller).await?;
        let mut conn = self.pool.get().await.map_err(Error::from)?;
        let token = user_tokens::long_lived_token(&mut conn, &self.keyring, principal.id).await?;
        // It replaces (revokes) a token whose key left the keyring without
        // saying so: forget all of the caller's cached credentials (one re-lookup).
        self.evict_here(&format!("user:{}", principal.id));
        json(compat::token_object(&token))
    }

    async fn rotate_long_lived_token(
        &self,
        request: Request<RotateLongLivedTokenRequest>,
    ) -> Result<Response<HttpBody>, Status> {
        let caller = Caller::of(&request);
        let RotateLongLivedTokenRequest {} = request.into_inner();
        let principal = self.human(caller).await?;
        let mut conn = self.pool.get().await.map_err(Error::from)?;
        let (token, revoked) = user_tokens::rotate_long_lived_token(&mut conn, &self.keyring, principal.id).await?;
        if let Some(id) = revoked {
            self.evict_here(&format!("token:{id}"));
        }
        json(compat::token_object(&token))
    }

    async fn list_user_tokens(&self, request: Request<ListUserTokensRequest>) -> Result<Response<HttpBody>, Status> {
        let caller = Caller::of(&request);
        let ListUserTokensRequest {} = request.into_inner();
        let principal = self.human(caller).await?;
        let mut conn = self.pool.get().await.map_err(Error::from)?;
        let rows = user_tokens::live_tokens(&mut conn, principal.id, Utc::now()).await?;
        json(compat::tokens(&rows))
    }

    async fn revoke_api_key(
        &self,
        request: Request<RevokeApiKeyRequest>,
    ) -> Result<Response<RevokeApiKeyResponse>, Status> {
        let caller = Caller::of(&request);
        let RevokeApiKeyRequest { id } = request.into_inner();
        let principal = self.human(caller).await?;
        let mut conn = self.pool.get().await.map_err(Error::from)?;
        user_tokens::revoke_own_token(&mut conn, principal.id, id).await?;
        // Refused here at once, not only after this replica's NOTIFY arrives.
        self.evict_here(&format!("token:{id}"));
        Ok(Response::new(RevokeApiKeyResponse {}))
    }

    async fn refresh_token(&self, request: Request<RefreshTokenRequest>) -> Result<Response<HttpBody>, Status> {
        let caller = Caller::of(&request);
        let RefreshTokenRequest {} = request.into_inner();
        self.human(caller).await?;
        json(compat::REFRESH_TOKEN_DEPRECATED.as_bytes().to_vec())
    }
}
