//! The dataset domain (DatasetGateway's model, spec authorization_dataset.md
//! §2): datasets, versions, buckets, grants, terms of service, the effective
//! permission computation every authorization answer uses, the per-principal
//! permission cache, and the audit log. Transport-free: the compat routes of
//! `AuthorizationService` and the admin RPCs of `DatasetService` (`grpc`) call into it.

pub mod admin;
pub mod audit;
pub mod audit_log;
pub mod cache;
pub mod convert;
pub mod grants;
pub mod grpc;
pub mod import;
pub mod lookup;
pub mod middleauth;
pub mod ops;
pub mod permissions;
pub mod service_accounts;
pub mod services;
pub mod store;
pub mod tables;
pub mod tos;
pub mod tos_page;

pub use cache::PermissionCache;
