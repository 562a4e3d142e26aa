//! The tonic handlers of `AuthorizationService`: caller → convert → response.

use tonic::{Request, Response, Status};

use crate::auth::Caller;
use crate::proto::authorization::v1::authorization_service_server::AuthorizationService;
use crate::proto::authorization::v1::{WhoAmIRequest, WhoAmIResponse};

/// The gRPC face of the authorization service.
#[derive(Debug, Clone, Default)]
pub struct AuthorizationApi;

#[tonic::async_trait]
impl AuthorizationService for AuthorizationApi {
    async fn who_am_i(&self, request: Request<WhoAmIRequest>) -> Result<Response<WhoAmIResponse>, Status> {
        let caller = Caller::of(&request);
        let principal = caller.require_principal()?;
        let WhoAmIRequest {} = request.into_inner();
        Ok(Response::new(principal.as_ref().into()))
    }
}
