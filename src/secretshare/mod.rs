//! SecretShareService (spec `secretshare.md`, design §4): one party of a
//! private aggregation by additive secret sharing modulo p = 2^64 − 2^32 + 1.
//! Each party is its own Steward deployment; parties never talk to each other.
//!
//! - [`config`]: which party this is, limits and defaults.
//! - [`field`]: field elements, shares as stored, submission ids, aggregates, batch digests.
//! - [`endpoint`]: endpoint validation and the config digest.
//! - [`caller`]: roles from Steward groups or an external JWT's permission claim.
//! - [`ops`]: the rules of each operation; [`store`]: the tables; [`intake`]:
//!   submissions stored in batches; [`error`]: reasons and codes.
//! - [`grpc`]: the handlers; [`http`]: Privacy Guardian's dropped paths, answering 410.

pub mod caller;
pub mod config;
pub mod endpoint;
pub mod error;
pub mod field;
pub mod grpc;
pub mod http;
pub mod intake;
pub mod ops;
pub mod store;
