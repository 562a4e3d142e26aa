//! The identity core shared by all five services: credentials from headers
//! (`Bearer`/`Token` header, then the `dsg_token` cookie), API tokens stored as
//! SHA-256 hashes, principals with global roles (memberships of groups named
//! after the roles), and the tower layer that puts the resolved [`Caller`] in
//! every request's extensions.

pub mod credentials;
pub mod jobs;
pub mod jwt;
pub mod layer;
pub mod ops;
pub mod principal;
pub mod resolver;
pub mod store;
pub mod token;
pub mod user_tokens;

pub use layer::AuthLayer;
pub use principal::{AuthError, Caller, Principal, PrincipalKind, Role};
pub use resolver::Resolver;
