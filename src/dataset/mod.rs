//! The dataset domain (DatasetGateway's model, spec authorization_dataset.md
//! §2): datasets, versions, buckets, grants, terms of service, the effective
//! permission computation every authorization answer uses, the per-principal
//! permission cache, and the audit log. Transport-free: the compat routes of
//! `AuthorizationService` (and later `DatasetService`) call into it.

pub mod audit;
pub mod cache;
pub mod ops;
pub mod permissions;
pub mod store;

pub use cache::PermissionCache;
