//! The tonic handlers of `DatasetService`: caller → convert → admin/grant
//! operations → response. Only signed-in users reach the operations; each
//! operation checks spec §5.1's rule for its caller.

use tonic::{Request, Response, Status};

use super::admin::{self, AdminCaller, PageRequest};
use super::{audit_log, convert, grants, middleauth, service_accounts, services, tables, tos};
use crate::app::AppState;
use crate::auth::{Caller, PrincipalKind};
use crate::db::{Pool, PooledConn};
use crate::error::Error;
use crate::proto::dataset::v1 as pb;
use crate::proto::dataset::v1::dataset_service_server::DatasetService;

/// The gRPC face of the dataset admin service.
#[derive(Clone)]
pub struct DatasetApi {
    pool: Pool,
    /// Outside production, middleauth app URLs may be plain `http`.
    allow_http: bool,
}

impl std::fmt::Debug for DatasetApi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DatasetApi").finish_non_exhaustive()
    }
}

impl DatasetApi {
    /// The service over the shared pool.
    pub fn new(state: &AppState) -> Self {
        Self { pool: state.pool.clone(), allow_http: state.config.env != crate::config::Environment::Production }
    }

    async fn conn(&self) -> Result<PooledConn, Error> {
        Ok(self.pool.get().await?)
    }
}

/// The signed-in user behind a request; service accounts may not administer (spec §5.5).
fn admin_caller<T>(request: &Request<T>) -> Result<AdminCaller, Error> {
    admin_caller_of(&Caller::of(request))
}

fn admin_caller_of(caller: &Caller) -> Result<AdminCaller, Error> {
    let principal = caller.require_principal()?;
    if principal.kind != PrincipalKind::User {
        return Err(Error::PermissionDenied("Service accounts cannot use dataset admin operations.".into()));
    }
    Ok(AdminCaller {
        user_id: principal.id,
        admin: principal.is_admin(),
        sc: principal.groups.iter().any(|g| g == "sc"),
    })
}

type Reply<T> = Result<Response<T>, Status>;

#[tonic::async_trait]
impl DatasetService for DatasetApi {
    async fn create_dataset(&self, request: Request<pb::CreateDatasetRequest>) -> Reply<pb::CreateDatasetResponse> {
        let caller = admin_caller(&request)?;
        let spec = request.into_inner().try_into()?;
        let view = admin::create_dataset(&mut *self.conn().await?, caller, spec).await?;
        Ok(Response::new(pb::CreateDatasetResponse { dataset: Some(view.into()) }))
    }

    async fn get_dataset(&self, request: Request<pb::GetDatasetRequest>) -> Reply<pb::GetDatasetResponse> {
        let caller = admin_caller(&request)?;
        let pb::GetDatasetRequest { name } = request.into_inner();
        let view = admin::get_dataset(&mut *self.conn().await?, caller, &name).await?;
        Ok(Response::new(pb::GetDatasetResponse { dataset: Some(view.into()) }))
    }

    async fn list_datasets(&self, request: Request<pb::ListDatasetsRequest>) -> Reply<pb::ListDatasetsResponse> {
        let caller = admin_caller(&request)?;
        let pb::ListDatasetsRequest { page_size, page_token } = request.into_inner();
        let page = PageRequest::parse(page_size, &page_token)?;
        let (rows, next_page_token) = admin::list_datasets(&mut *self.conn().await?, caller, page).await?;
        Ok(Response::new(pb::ListDatasetsResponse {
            datasets: rows.into_iter().map(Into::into).collect(),
            next_page_token,
        }))
    }

    async fn update_dataset(&self, request: Request<pb::UpdateDatasetRequest>) -> Reply<pb::UpdateDatasetResponse> {
        let caller = admin_caller(&request)?;
        let (name, changes): (String, _) = request.into_inner().try_into()?;
        let view = admin::update_dataset(&mut *self.conn().await?, caller, &name, changes).await?;
        Ok(Response::new(pb::UpdateDatasetResponse { dataset: Some(view.into()) }))
    }

    async fn delete_dataset(&self, request: Request<pb::DeleteDatasetRequest>) -> Reply<pb::DeleteDatasetResponse> {
        let caller = admin_caller(&request)?;
        let pb::DeleteDatasetRequest { name } = request.into_inner();
        admin::delete_dataset(&mut *self.conn().await?, caller, &name).await?;
        Ok(Response::new(pb::DeleteDatasetResponse {}))
    }

    async fn create_dataset_version(
        &self,
        request: Request<pb::CreateDatasetVersionRequest>,
    ) -> Reply<pb::CreateDatasetVersionResponse> {
        let caller = admin_caller(&request)?;
        let (dataset, spec): (String, _) = request.into_inner().try_into()?;
        let view = admin::create_version(&mut *self.conn().await?, caller, &dataset, spec).await?;
        Ok(Response::new(pb::CreateDatasetVersionResponse { version: Some(view.into()) }))
    }

    async fn list_dataset_versions(
        &self,
        request: Request<pb::ListDatasetVersionsRequest>,
    ) -> Reply<pb::ListDatasetVersionsResponse> {
        let caller = admin_caller(&request)?;
        let pb::ListDatasetVersionsRequest { dataset } = request.into_inner();
        let rows = admin::list_versions(&mut *self.conn().await?, caller, &dataset).await?;
        Ok(Response::new(pb::ListDatasetVersionsResponse { versions: rows.into_iter().map(Into::into).collect() }))
    }

    async fn update_dataset_version(
        &self,
        request: Request<pb::UpdateDatasetVersionRequest>,
    ) -> Reply<pb::UpdateDatasetVersionResponse> {
        let caller = admin_caller(&request)?;
        let (dataset, version, changes): (String, String, _) = request.into_inner().try_into()?;
        let view = admin::update_version(&mut *self.conn().await?, caller, &dataset, &version, changes).await?;
        Ok(Response::new(pb::UpdateDatasetVersionResponse { version: Some(view.into()) }))
    }

    async fn delete_dataset_version(
        &self,
        request: Request<pb::DeleteDatasetVersionRequest>,
    ) -> Reply<pb::DeleteDatasetVersionResponse> {
        let caller = admin_caller(&request)?;
        let pb::DeleteDatasetVersionRequest { dataset, version } = request.into_inner();
        admin::delete_version(&mut *self.conn().await?, caller, &dataset, &version).await?;
        Ok(Response::new(pb::DeleteDatasetVersionResponse {}))
    }

    async fn add_dataset_bucket(
        &self,
        request: Request<pb::AddDatasetBucketRequest>,
    ) -> Reply<pb::AddDatasetBucketResponse> {
        let caller = admin_caller(&request)?;
        let pb::AddDatasetBucketRequest { dataset, bucket } = request.into_inner();
        let bucket = convert::bucket(&bucket)?;
        let view = admin::add_bucket(&mut *self.conn().await?, caller, &dataset, &bucket).await?;
        Ok(Response::new(pb::AddDatasetBucketResponse { dataset: Some(view.into()) }))
    }

    async fn remove_dataset_bucket(
        &self,
        request: Request<pb::RemoveDatasetBucketRequest>,
    ) -> Reply<pb::RemoveDatasetBucketResponse> {
        let caller = admin_caller(&request)?;
        let pb::RemoveDatasetBucketRequest { dataset, bucket } = request.into_inner();
        let view = admin::remove_bucket(&mut *self.conn().await?, caller, &dataset, &bucket).await?;
        Ok(Response::new(pb::RemoveDatasetBucketResponse { dataset: Some(view.into()) }))
    }

    async fn create_grant(&self, request: Request<pb::CreateGrantRequest>) -> Reply<pb::CreateGrantResponse> {
        let caller = admin_caller(&request)?;
        let spec = request.into_inner().try_into()?;
        let (grant, created) = grants::create_grant(&mut *self.conn().await?, caller, spec).await?;
        Ok(Response::new(pb::CreateGrantResponse { grant: Some(grant.into()), created }))
    }

    async fn delete_grant(&self, request: Request<pb::DeleteGrantRequest>) -> Reply<pb::DeleteGrantResponse> {
        let caller = admin_caller(&request)?;
        let pb::DeleteGrantRequest { dataset, grant_id } = request.into_inner();
        grants::delete_grant(&mut *self.conn().await?, caller, &dataset, grant_id).await?;
        Ok(Response::new(pb::DeleteGrantResponse {}))
    }

    async fn list_grants(&self, request: Request<pb::ListGrantsRequest>) -> Reply<pb::ListGrantsResponse> {
        let caller = admin_caller(&request)?;
        let pb::ListGrantsRequest { dataset, page_size, page_token } = request.into_inner();
        let page = PageRequest::parse(page_size, &page_token)?;
        let (rows, next_page_token) = grants::list_grants(&mut *self.conn().await?, caller, &dataset, page).await?;
        Ok(Response::new(pb::ListGrantsResponse {
            grants: rows.into_iter().map(Into::into).collect(),
            next_page_token,
        }))
    }

    async fn add_dataset_admin(
        &self,
        request: Request<pb::AddDatasetAdminRequest>,
    ) -> Reply<pb::AddDatasetAdminResponse> {
        let caller = admin_caller(&request)?;
        let pb::AddDatasetAdminRequest { dataset, user_email } = request.into_inner();
        let email = convert::user_email(&user_email)?;
        let (grant, created) = grants::add_dataset_admin(&mut *self.conn().await?, caller, &dataset, &email).await?;
        Ok(Response::new(pb::AddDatasetAdminResponse { grant: Some(grant.into()), created }))
    }

    async fn remove_dataset_admin(
        &self,
        request: Request<pb::RemoveDatasetAdminRequest>,
    ) -> Reply<pb::RemoveDatasetAdminResponse> {
        let caller = admin_caller(&request)?;
        let pb::RemoveDatasetAdminRequest { dataset, user_email } = request.into_inner();
        grants::remove_dataset_admin(&mut *self.conn().await?, caller, &dataset, &user_email).await?;
        Ok(Response::new(pb::RemoveDatasetAdminResponse {}))
    }

    async fn list_dataset_admins(
        &self,
        request: Request<pb::ListDatasetAdminsRequest>,
    ) -> Reply<pb::ListDatasetAdminsResponse> {
        let caller = admin_caller(&request)?;
        let pb::ListDatasetAdminsRequest { dataset } = request.into_inner();
        let user_emails = grants::list_dataset_admins(&mut *self.conn().await?, caller, &dataset).await?;
        Ok(Response::new(pb::ListDatasetAdminsResponse { user_emails }))
    }

    async fn create_group(&self, request: Request<pb::CreateGroupRequest>) -> Reply<pb::CreateGroupResponse> {
        let caller = admin_caller(&request)?;
        let pb::CreateGroupRequest { name, request_id } = request.into_inner();
        let name = convert::new_group_name("name", &name)?;
        let request_id = Some(request_id).filter(|r| !r.is_empty());
        let group = grants::create_group(&mut *self.conn().await?, caller, &name, request_id.as_deref()).await?;
        Ok(Response::new(pb::CreateGroupResponse { group: Some(group.into()) }))
    }

    async fn get_group(&self, request: Request<pb::GetGroupRequest>) -> Reply<pb::GetGroupResponse> {
        let caller = admin_caller(&request)?;
        let pb::GetGroupRequest { name } = request.into_inner();
        let group = grants::get_group(&mut *self.conn().await?, caller, &name).await?;
        Ok(Response::new(pb::GetGroupResponse { group: Some(group.into()) }))
    }

    async fn list_groups(&self, request: Request<pb::ListGroupsRequest>) -> Reply<pb::ListGroupsResponse> {
        let caller = admin_caller(&request)?;
        let pb::ListGroupsRequest { page_size, page_token } = request.into_inner();
        let page = PageRequest::parse(page_size, &page_token)?;
        let (rows, next_page_token) = grants::list_groups(&mut *self.conn().await?, caller, page).await?;
        Ok(Response::new(pb::ListGroupsResponse {
            groups: rows.into_iter().map(Into::into).collect(),
            next_page_token,
        }))
    }

    async fn update_group(&self, request: Request<pb::UpdateGroupRequest>) -> Reply<pb::UpdateGroupResponse> {
        let caller = admin_caller(&request)?;
        let pb::UpdateGroupRequest { name, new_name } = request.into_inner();
        let new_name = convert::new_group_name("new_name", &new_name)?;
        let group = grants::rename_group(&mut *self.conn().await?, caller, &name, &new_name).await?;
        Ok(Response::new(pb::UpdateGroupResponse { group: Some(group.into()) }))
    }

    async fn delete_group(&self, request: Request<pb::DeleteGroupRequest>) -> Reply<pb::DeleteGroupResponse> {
        let caller = admin_caller(&request)?;
        let pb::DeleteGroupRequest { name } = request.into_inner();
        grants::delete_group(&mut *self.conn().await?, caller, &name).await?;
        Ok(Response::new(pb::DeleteGroupResponse {}))
    }

    async fn add_group_member(&self, request: Request<pb::AddGroupMemberRequest>) -> Reply<pb::AddGroupMemberResponse> {
        let caller = admin_caller(&request)?;
        let pb::AddGroupMemberRequest { group, user_email } = request.into_inner();
        let email = convert::user_email(&user_email)?;
        let (member, created) = grants::add_member(&mut *self.conn().await?, caller, &group, &email).await?;
        Ok(Response::new(pb::AddGroupMemberResponse { member: Some(member.into()), created }))
    }

    async fn remove_group_member(
        &self,
        request: Request<pb::RemoveGroupMemberRequest>,
    ) -> Reply<pb::RemoveGroupMemberResponse> {
        let caller = admin_caller(&request)?;
        let pb::RemoveGroupMemberRequest { group, user_email } = request.into_inner();
        let revoked = grants::remove_member(&mut *self.conn().await?, caller, &group, &user_email).await?;
        Ok(Response::new(pb::RemoveGroupMemberResponse {
            revoked_team_grants: i64::try_from(revoked).unwrap_or(i64::MAX),
        }))
    }

    async fn list_group_members(
        &self,
        request: Request<pb::ListGroupMembersRequest>,
    ) -> Reply<pb::ListGroupMembersResponse> {
        let caller = admin_caller(&request)?;
        let pb::ListGroupMembersRequest { group } = request.into_inner();
        let members = grants::list_members(&mut *self.conn().await?, caller, &group).await?;
        Ok(Response::new(pb::ListGroupMembersResponse { members: members.into_iter().map(Into::into).collect() }))
    }

    async fn set_group_admin(&self, request: Request<pb::SetGroupAdminRequest>) -> Reply<pb::SetGroupAdminResponse> {
        let caller = admin_caller(&request)?;
        let pb::SetGroupAdminRequest { group, user_email, is_admin } = request.into_inner();
        let member = grants::set_group_admin(&mut *self.conn().await?, caller, &group, &user_email, is_admin).await?;
        Ok(Response::new(pb::SetGroupAdminResponse { member: Some(member.into()) }))
    }

    async fn create_team_grant(
        &self,
        request: Request<pb::CreateTeamGrantRequest>,
    ) -> Reply<pb::CreateTeamGrantResponse> {
        let caller = admin_caller(&request)?;
        let spec = request.into_inner().try_into()?;
        let (grant, created) = grants::create_team_grant(&mut *self.conn().await?, caller, spec).await?;
        Ok(Response::new(pb::CreateTeamGrantResponse { grant: Some(grant.into()), created }))
    }

    async fn delete_team_grant(
        &self,
        request: Request<pb::DeleteTeamGrantRequest>,
    ) -> Reply<pb::DeleteTeamGrantResponse> {
        let caller = admin_caller(&request)?;
        let pb::DeleteTeamGrantRequest { group, grant_id } = request.into_inner();
        grants::delete_team_grant(&mut *self.conn().await?, caller, &group, grant_id).await?;
        Ok(Response::new(pb::DeleteTeamGrantResponse {}))
    }

    async fn list_team_grants(&self, request: Request<pb::ListTeamGrantsRequest>) -> Reply<pb::ListTeamGrantsResponse> {
        let caller = admin_caller(&request)?;
        let pb::ListTeamGrantsRequest { group } = request.into_inner();
        let rows = grants::list_team_grants(&mut *self.conn().await?, caller, &group).await?;
        Ok(Response::new(pb::ListTeamGrantsResponse { grants: rows.into_iter().map(Into::into).collect() }))
    }

    async fn create_service_account(
        &self,
        request: Request<pb::CreateServiceAccountRequest>,
    ) -> Reply<pb::CreateServiceAccountResponse> {
        let caller = admin_caller(&request)?;
        let pb::CreateServiceAccountRequest { name, description, request_id } = request.into_inner();
        let name = convert::service_account_name(&name)?;
        let request_id = convert::optional_request_id(request_id)?;
        let account =
            service_accounts::create(&mut *self.conn().await?, caller, &name, &description, request_id.as_deref())
                .await?;
        Ok(Response::new(pb::CreateServiceAccountResponse { service_account: Some(account.into()) }))
    }

    async fn get_service_account(
        &self,
        request: Request<pb::GetServiceAccountRequest>,
    ) -> Reply<pb::GetServiceAccountResponse> {
        let caller = admin_caller(&request)?;
        let pb::GetServiceAccountRequest { name } = request.into_inner();
        let account = service_accounts::get(&mut *self.conn().await?, caller, &name).await?;
        Ok(Response::new(pb::GetServiceAccountResponse { service_account: Some(account.into()) }))
    }

    async fn list_service_accounts(
        &self,
        request: Request<pb::ListServiceAccountsRequest>,
    ) -> Reply<pb::ListServiceAccountsResponse> {
        let caller = admin_caller(&request)?;
        let pb::ListServiceAccountsRequest { page_size, page_token } = request.into_inner();
        let page = PageRequest::parse(page_size, &page_token)?;
        let (rows, next_page_token) = service_accounts::list(&mut *self.conn().await?, caller, page).await?;
        Ok(Response::new(pb::ListServiceAccountsResponse {
            service_accounts: rows.into_iter().map(Into::into).collect(),
            next_page_token,
        }))
    }

    async fn update_service_account(
        &self,
        request: Request<pb::UpdateServiceAccountRequest>,
    ) -> Reply<pb::UpdateServiceAccountResponse> {
        let caller = admin_caller(&request)?;
        let pb::UpdateServiceAccountRequest { name, description } = request.into_inner();
        let account = service_accounts::update(&mut *self.conn().await?, caller, &name, description.as_deref()).await?;
        Ok(Response::new(pb::UpdateServiceAccountResponse { service_account: Some(account.into()) }))
    }

    async fn set_service_account_active(
        &self,
        request: Request<pb::SetServiceAccountActiveRequest>,
    ) -> Reply<pb::SetServiceAccountActiveResponse> {
        let caller = admin_caller(&request)?;
        let pb::SetServiceAccountActiveRequest { name, is_active } = request.into_inner();
        let account = service_accounts::set_active(&mut *self.conn().await?, caller, &name, is_active).await?;
        Ok(Response::new(pb::SetServiceAccountActiveResponse { service_account: Some(account.into()) }))
    }

    async fn delete_service_account(
        &self,
        request: Request<pb::DeleteServiceAccountRequest>,
    ) -> Reply<pb::DeleteServiceAccountResponse> {
        let caller = admin_caller(&request)?;
        let pb::DeleteServiceAccountRequest { name, confirm_name } = request.into_inner();
        service_accounts::delete(&mut *self.conn().await?, caller, &name, &confirm_name).await?;
        Ok(Response::new(pb::DeleteServiceAccountResponse {}))
    }

    async fn create_service_account_token(
        &self,
        request: Request<pb::CreateServiceAccountTokenRequest>,
    ) -> Reply<pb::CreateServiceAccountTokenResponse> {
        let caller = admin_caller(&request)?;
        let pb::CreateServiceAccountTokenRequest { name, description } = request.into_inner();
        let description = convert::token_description(&description)?;
        let (info, token) =
            service_accounts::create_token(&mut *self.conn().await?, caller, &name, &description).await?;
        Ok(Response::new(pb::CreateServiceAccountTokenResponse { token_info: Some(info.into()), token }))
    }

    async fn list_service_account_tokens(
        &self,
        request: Request<pb::ListServiceAccountTokensRequest>,
    ) -> Reply<pb::ListServiceAccountTokensResponse> {
        let caller = admin_caller(&request)?;
        let pb::ListServiceAccountTokensRequest { name } = request.into_inner();
        let tokens = service_accounts::list_tokens(&mut *self.conn().await?, caller, &name).await?;
        Ok(Response::new(pb::ListServiceAccountTokensResponse { tokens: tokens.into_iter().map(Into::into).collect() }))
    }

    async fn revoke_service_account_token(
        &self,
        request: Request<pb::RevokeServiceAccountTokenRequest>,
    ) -> Reply<pb::RevokeServiceAccountTokenResponse> {
        let caller = admin_caller(&request)?;
        let pb::RevokeServiceAccountTokenRequest { name, token_id } = request.into_inner();
        service_accounts::revoke_token(&mut *self.conn().await?, caller, &name, token_id).await?;
        Ok(Response::new(pb::RevokeServiceAccountTokenResponse {}))
    }

    async fn create_tos_document(
        &self,
        request: Request<pb::CreateTosDocumentRequest>,
    ) -> Reply<pb::CreateTosDocumentResponse> {
        let caller = admin_caller(&request)?;
        let spec = request.into_inner().try_into()?;
        let document = tos::create(&mut *self.conn().await?, caller, spec).await?;
        Ok(Response::new(pb::CreateTosDocumentResponse { document: Some(document.into()) }))
    }

    async fn get_tos_document(&self, request: Request<pb::GetTosDocumentRequest>) -> Reply<pb::GetTosDocumentResponse> {
        let caller = Caller::of(&request);
        let pb::GetTosDocumentRequest { document } = request.into_inner();
        let key = convert::tos_key_get(document)?;
        // An invite token is enough to read the document, as on the landing page.
        let caller = match (&key, &caller) {
            (tos::TosKey::InviteToken(_), Caller::Anonymous) => None,
            _ => Some(admin_caller_of(&caller)?),
        };
        let document = tos::get(&mut *self.conn().await?, caller, &key).await?;
        Ok(Response::new(pb::GetTosDocumentResponse { document: Some(document.into()) }))
    }

    async fn list_tos_documents(
        &self,
        request: Request<pb::ListTosDocumentsRequest>,
    ) -> Reply<pb::ListTosDocumentsResponse> {
        let caller = admin_caller(&request)?;
        let pb::ListTosDocumentsRequest { dataset, page_size, page_token } = request.into_inner();
        let page = PageRequest::parse(page_size, &page_token)?;
        let dataset = Some(dataset.as_str()).filter(|d| !d.is_empty());
        let (rows, next_page_token) = tos::list(&mut *self.conn().await?, caller, dataset, page).await?;
        Ok(Response::new(pb::ListTosDocumentsResponse {
            documents: rows.into_iter().map(Into::into).collect(),
            next_page_token,
        }))
    }

    async fn update_tos_document(
        &self,
        request: Request<pb::UpdateTosDocumentRequest>,
    ) -> Reply<pb::UpdateTosDocumentResponse> {
        let caller = admin_caller(&request)?;
        let (id, changes): (i64, _) = request.into_inner().try_into()?;
        let document = tos::update(&mut *self.conn().await?, caller, id, changes).await?;
        Ok(Response::new(pb::UpdateTosDocumentResponse { document: Some(document.into()) }))
    }

    async fn rotate_tos_invite_token(
        &self,
        request: Request<pb::RotateTosInviteTokenRequest>,
    ) -> Reply<pb::RotateTosInviteTokenResponse> {
        let caller = admin_caller(&request)?;
        let pb::RotateTosInviteTokenRequest { id } = request.into_inner();
        let document = tos::rotate_invite(&mut *self.conn().await?, caller, id).await?;
        Ok(Response::new(pb::RotateTosInviteTokenResponse { document: Some(document.into()) }))
    }

    async fn accept_tos(&self, request: Request<pb::AcceptTosRequest>) -> Reply<pb::AcceptTosResponse> {
        let caller = admin_caller(&request)?;
        let user_agent = request.metadata().get("user-agent").and_then(|v| v.to_str().ok()).map(str::to_owned);
        let pb::AcceptTosRequest { document } = request.into_inner();
        let key = convert::tos_key_accept(document)?;
        let accepted = tos::accept(&mut *self.conn().await?, caller, &key, user_agent.as_deref()).await?;
        Ok(Response::new(pb::AcceptTosResponse {
            document: Some(accepted.document.into()),
            newly_accepted: accepted.newly_accepted,
            view_granted: accepted.view_granted,
        }))
    }

    async fn list_tos_acceptances(
        &self,
        request: Request<pb::ListTosAcceptancesRequest>,
    ) -> Reply<pb::ListTosAcceptancesResponse> {
        let caller = admin_caller(&request)?;
        let pb::ListTosAcceptancesRequest { id, page_size, page_token } = request.into_inner();
        let page = PageRequest::parse(page_size, &page_token)?;
        let (rows, next_page_token) = tos::acceptances(&mut *self.conn().await?, caller, id, page).await?;
        Ok(Response::new(pb::ListTosAcceptancesResponse {
            acceptances: rows.into_iter().map(Into::into).collect(),
            next_page_token,
        }))
    }

    async fn list_pending_tos(&self, request: Request<pb::ListPendingTosRequest>) -> Reply<pb::ListPendingTosResponse> {
        let caller = admin_caller(&request)?;
        let pb::ListPendingTosRequest { dataset, service, version } = request.into_inner();
        if dataset.is_empty() {
            return Err(Error::InvalidArgument("dataset is required".into()).into());
        }
        let service = Some(service.as_str()).filter(|s| !s.is_empty());
        let version = Some(version.as_str()).filter(|v| !v.is_empty());
        let rows = tos::pending(&mut *self.conn().await?, caller, &dataset, service, version).await?;
        Ok(Response::new(pb::ListPendingTosResponse { documents: rows.into_iter().map(Into::into).collect() }))
    }

    async fn add_service_table(
        &self,
        request: Request<pb::AddServiceTableRequest>,
    ) -> Reply<pb::AddServiceTableResponse> {
        let caller = admin_caller(&request)?;
        let pb::AddServiceTableRequest { dataset, service_name, table_name } = request.into_inner();
        let table = tables::add_table(&mut *self.conn().await?, caller, &dataset, &service_name, &table_name).await?;
        Ok(Response::new(pb::AddServiceTableResponse { service_table: Some(table.into()) }))
    }

    async fn remove_service_table(
        &self,
        request: Request<pb::RemoveServiceTableRequest>,
    ) -> Reply<pb::RemoveServiceTableResponse> {
        let caller = admin_caller(&request)?;
        let pb::RemoveServiceTableRequest { dataset, service_table_id } = request.into_inner();
        tables::remove_table(&mut *self.conn().await?, caller, &dataset, service_table_id).await?;
        Ok(Response::new(pb::RemoveServiceTableResponse {}))
    }

    async fn list_service_tables(
        &self,
        request: Request<pb::ListServiceTablesRequest>,
    ) -> Reply<pb::ListServiceTablesResponse> {
        let caller = admin_caller(&request)?;
        let pb::ListServiceTablesRequest { dataset } = request.into_inner();
        let rows = tables::list_tables(&mut *self.conn().await?, caller, &dataset).await?;
        Ok(Response::new(pb::ListServiceTablesResponse { service_tables: rows.into_iter().map(Into::into).collect() }))
    }

    async fn add_public_root(&self, request: Request<pb::AddPublicRootRequest>) -> Reply<pb::AddPublicRootResponse> {
        let caller = admin_caller(&request)?;
        let pb::AddPublicRootRequest { dataset, service_table_id, root_id } = request.into_inner();
        let created = tables::add_root(&mut *self.conn().await?, caller, &dataset, service_table_id, root_id).await?;
        Ok(Response::new(pb::AddPublicRootResponse { created }))
    }

    async fn remove_public_root(
        &self,
        request: Request<pb::RemovePublicRootRequest>,
    ) -> Reply<pb::RemovePublicRootResponse> {
        let caller = admin_caller(&request)?;
        let pb::RemovePublicRootRequest { dataset, service_table_id, root_id } = request.into_inner();
        tables::remove_root(&mut *self.conn().await?, caller, &dataset, service_table_id, root_id).await?;
        Ok(Response::new(pb::RemovePublicRootResponse {}))
    }

    async fn list_public_roots(
        &self,
        request: Request<pb::ListPublicRootsRequest>,
    ) -> Reply<pb::ListPublicRootsResponse> {
        let caller = admin_caller(&request)?;
        let pb::ListPublicRootsRequest { dataset, service_table_id, page_size, page_token } = request.into_inner();
        let page = PageRequest::parse(page_size, &page_token)?;
        let (root_ids, next_page_token) =
            tables::list_roots(&mut *self.conn().await?, caller, &dataset, service_table_id, page).await?;
        Ok(Response::new(pb::ListPublicRootsResponse { root_ids, next_page_token }))
    }

    async fn list_audit_log(&self, request: Request<pb::ListAuditLogRequest>) -> Reply<pb::ListAuditLogResponse> {
        let caller = admin_caller(&request)?;
        let (filter, page) = request.into_inner().try_into()?;
        let (entries, next_page_token) = audit_log::list(&mut *self.conn().await?, caller, filter, page).await?;
        Ok(Response::new(pb::ListAuditLogResponse {
            entries: entries.into_iter().map(Into::into).collect(),
            next_page_token,
        }))
    }

    async fn create_service(&self, request: Request<pb::CreateServiceRequest>) -> Reply<pb::CreateServiceResponse> {
        let caller = admin_caller(&request)?;
        let pb::CreateServiceRequest { name, display_name, base_url, request_id } = request.into_inner();
        let name = convert::slug("name", &name)?;
        let request_id = convert::optional_request_id(request_id)?;
        let service =
            services::create(&mut *self.conn().await?, caller, &name, &display_name, &base_url, request_id.as_deref())
                .await?;
        Ok(Response::new(pb::CreateServiceResponse { service: Some(service.into()) }))
    }

    async fn list_services(&self, request: Request<pb::ListServicesRequest>) -> Reply<pb::ListServicesResponse> {
        let caller = admin_caller(&request)?;
        let pb::ListServicesRequest {} = request.into_inner();
        let rows = services::list(&mut *self.conn().await?, caller).await?;
        Ok(Response::new(pb::ListServicesResponse { services: rows.into_iter().map(Into::into).collect() }))
    }

    async fn update_service(&self, request: Request<pb::UpdateServiceRequest>) -> Reply<pb::UpdateServiceResponse> {
        let caller = admin_caller(&request)?;
        let pb::UpdateServiceRequest { name, display_name, base_url } = request.into_inner();
        let service =
            services::update(&mut *self.conn().await?, caller, &name, display_name.as_deref(), base_url.as_deref())
                .await?;
        Ok(Response::new(pb::UpdateServiceResponse { service: Some(service.into()) }))
    }

    async fn delete_service(&self, request: Request<pb::DeleteServiceRequest>) -> Reply<pb::DeleteServiceResponse> {
        let caller = admin_caller(&request)?;
        let pb::DeleteServiceRequest { name } = request.into_inner();
        services::delete(&mut *self.conn().await?, caller, &name).await?;
        Ok(Response::new(pb::DeleteServiceResponse {}))
    }

    async fn create_middleauth_app(
        &self,
        request: Request<pb::CreateMiddleauthAppRequest>,
    ) -> Reply<pb::CreateMiddleauthAppResponse> {
        let caller = admin_caller(&request)?;
        let pb::CreateMiddleauthAppRequest { name, url, request_id } = request.into_inner();
        let name = convert::app_name(&name)?;
        let url = convert::app_url(&url, self.allow_http)?;
        let request_id = convert::optional_request_id(request_id)?;
        let app = middleauth::create(&mut *self.conn().await?, caller, &name, &url, request_id.as_deref()).await?;
        Ok(Response::new(pb::CreateMiddleauthAppResponse { app: Some(app.into()) }))
    }

    async fn list_middleauth_apps(
        &self,
        request: Request<pb::ListMiddleauthAppsRequest>,
    ) -> Reply<pb::ListMiddleauthAppsResponse> {
        let caller = admin_caller(&request)?;
        let pb::ListMiddleauthAppsRequest { page_size, page_token } = request.into_inner();
        let page = PageRequest::parse(page_size, &page_token)?;
        let (rows, next_page_token) = middleauth::list(&mut *self.conn().await?, caller, page).await?;
        Ok(Response::new(pb::ListMiddleauthAppsResponse {
            apps: rows.into_iter().map(Into::into).collect(),
            next_page_token,
        }))
    }

    async fn delete_middleauth_app(
        &self,
        request: Request<pb::DeleteMiddleauthAppRequest>,
    ) -> Reply<pb::DeleteMiddleauthAppResponse> {
        let caller = admin_caller(&request)?;
        let pb::DeleteMiddleauthAppRequest { id } = request.into_inner();
        middleauth::delete(&mut *self.conn().await?, caller, id).await?;
        Ok(Response::new(pb::DeleteMiddleauthAppResponse {}))
    }
}
