//! Steward: one gRPC server that collects and guards research data.
//!
//! Five services share one process, one PostgreSQL database and one identity
//! core: donations from data-portability archives, authorization, datasets,
//! secret-share aggregation and secure uploads. `docs/ARCHITECTURE.md` is the map.
//!
//! - [`config`]: typed configuration from the environment.
//! - [`db`]: the connection pool, migrations and the embedded PostgreSQL.
//! - [`auth`]: credentials, tokens, principals and roles.
//! - [`crypto`]: the AES-256-GCM keyring for data at rest.
//! - [`blobs`]: sealed, segmented blob storage (archives, uploads).
//! - [`jobs`]: the PostgreSQL job queue and its workers.
//! - [`doctor`]: `steward doctor`, checks of the configuration and every dependency.
//! - [`observe`]: request ids, tracing spans and Prometheus metrics.
//! - [`server`]: the one listener serving gRPC, gRPC-web and HTTP.
//! - [`web`]: the browser pages (`/status`) and their embedded gRPC-web bundle.
//! - [`openapi`]: the OpenAPI document and page at `/api/docs/`.
//! - [`dataset`]: datasets, grants, terms of service, effective permissions and their cache.
//! - [`donation`]: data donations from portability archives.
//! - one module per service, e.g. [`authorization`].

pub mod app;
pub mod auth;
pub mod authorization;
pub mod blobs;
pub mod cli;
pub mod codec;
pub mod config;
pub mod crypto;
pub mod dataset;
pub mod db;
pub mod doctor;
pub mod donation;
pub mod error;
pub mod http;
pub mod jobs;
pub mod observe;
pub mod openapi;
pub mod proto;
pub mod ratelimit;
pub mod rotation;
pub mod secretshare;
pub mod server;
pub mod upload;
pub mod web;
