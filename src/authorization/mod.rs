//! `steward.authorization.v1.AuthorizationService`: who the caller is and what
//! they may do (DatasetGateway's authorization API).

pub mod compat;
mod convert;
pub mod grpc;
pub mod http;
pub mod ngauth;
pub mod scim;
pub mod signin;

pub use grpc::AuthorizationApi;
