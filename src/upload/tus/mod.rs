//! tus 1.0 at `/files/` (spec upload.md §3): the protocol layer between HTTP
//! and the upload domain.
//!
//! - [`protocol`]: reads a request (method, path, headers) into a typed
//!   [`Command`] after the processing order of §3.3, steps 1–6:
//!   `X-HTTP-Method-Override`, the CORS origin, OPTIONS, `Tus-Resumable`, the
//!   method for the path, and each method's header syntax.
//! - [`reply`]: the responses: common headers on every answer, the error
//!   matrix of §3.13 as [`TusError`], and each method's success answer.
//! - [`status`]: the domain's refusals ([`crate::upload::error::UploadError`]) as tus answers.
//! - [`routes`]: the axum routes calling the domain ([`crate::upload::ops`]).
//! - [`layers`]: how the server's tower stack exempts `/files/` from the
//!   unary timeout and from the shared CORS layer.
//!
//! The code (`Dropoff-Code`) is carried in the command, redacted from
//! `Debug`, and checked by the domain after the lookup (§3.3 steps 7–8).

pub mod layers;
pub mod protocol;
pub mod reply;
pub mod routes;
pub mod status;

pub use protocol::{Command, Parsed, TusSettings, parse};
pub use reply::{ReplyCtx, TusError};

#[cfg(test)]
mod tests;
