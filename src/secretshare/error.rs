//! SecretShareService's domain error (spec secretshare.md §3.2): each refusal
//! carries its reason as `google.rpc.ErrorInfo` (domain `secretshare.steward`)
//! and offending fields, ids or positions as `BadRequest` field violations.

use std::collections::HashMap;

use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt};

/// The error domain of every reason.
pub const DOMAIN: &str = "secretshare.steward";

/// At most this many offending ids are listed in an error.
pub const LISTED_IDS: usize = 100;

/// Why a secret-share operation did not happen.
#[derive(Debug, thiserror::Error)]
pub enum ShareError {
    /// No party configuration (PARTY_NOT_CONFIGURED).
    #[error("this server is not configured as a secret-share party")]
    NotConfigured,
    /// No valid credential.
    #[error("{0}")]
    Unauthenticated(String),
    /// The caller may not do this.
    #[error("{0}")]
    PermissionDenied(String),
    /// No such endpoint, batch or (own) submission.
    #[error("{0}")]
    NotFound(String),
    /// A malformed request: the field (or position) and why; `reason` for the named ones.
    #[error("{message}")]
    Invalid { field: String, message: String, reason: Option<&'static str> },
    /// A rule of the protocol refused it (WRONG_PARTY, BATCH_OVERLAP, ...);
    /// `ids` lists offending submission ids.
    #[error("{message}")]
    Precondition { reason: &'static str, message: String, ids: Vec<String> },
    /// ENDPOINT_EXISTS, SUBMISSION_ID_REUSED, CONTRIBUTION_LIMIT_REACHED.
    #[error("{message}")]
    AlreadyExists { reason: &'static str, message: String },
    /// A concurrent transaction won; retrying is safe.
    #[error("{0}")]
    Aborted(String),
    /// A dependency (the database, the issuer's keys) is unreachable right now.
    #[error("{0}")]
    Unavailable(String),
    /// A bug or unexpected failure; logged, never sent.
    #[error("internal error: {0:#}")]
    Internal(anyhow::Error),
}

/// Shorthand for secret-share results.
pub type Result<T, E = ShareError> = std::result::Result<T, E>;

impl ShareError {
    /// INVALID_ARGUMENT naming `field`, in the message too (REST callers see only the message).
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        let (field, message) = (field.into(), message.into());
        let message = if message.contains(field.as_str()) { message } else { format!("{field}: {message}") };
        Self::Invalid { field, message, reason: None }
    }

    /// The database is unreachable.
    pub fn unavailable() -> Self {
        Self::Unavailable("the database is unavailable; retry shortly".into())
    }

    /// FAILED_PRECONDITION with `reason` and no ids.
    pub fn precondition(reason: &'static str, message: impl Into<String>) -> Self {
        Self::Precondition { reason, message: message.into(), ids: Vec::new() }
    }
}

impl From<diesel::result::Error> for ShareError {
    fn from(err: diesel::result::Error) -> Self {
        use diesel::result::{DatabaseErrorKind, Error as E};
        match err {
            E::DatabaseError(DatabaseErrorKind::ClosedConnection, _) => Self::unavailable(),
            E::DatabaseError(DatabaseErrorKind::SerializationFailure, _) => {
                Self::Aborted("a concurrent change to the same submissions won; retry".into())
            }
            other => Self::Internal(other.into()),
        }
    }
}

impl From<crate::db::PoolError> for ShareError {
    fn from(err: crate::db::PoolError) -> Self {
        tracing::warn!(error = %err, "database pool unavailable");
        Self::unavailable()
    }
}

impl From<crate::error::Error> for ShareError {
    fn from(err: crate::error::Error) -> Self {
        use crate::error::Error as E;
        match err {
            E::Unauthenticated(m) => Self::Unauthenticated(m),
            E::PermissionDenied(m) => Self::PermissionDenied(m),
            E::Unavailable(m) => Self::Unavailable(m),
            other => Self::Internal(anyhow::anyhow!("{other}")),
        }
    }
}

fn with_reason(code: Code, message: String, reason: &str, violations: Vec<(String, String)>) -> Status {
    let mut details = ErrorDetails::new();
    details.set_error_info(reason, DOMAIN, HashMap::new());
    for (field, description) in violations {
        details.add_bad_request_violation(field, description);
    }
    Status::with_error_details(code, message, details)
}

impl From<ShareError> for Status {
    fn from(err: ShareError) -> Self {
        let message = err.to_string();
        match err {
            ShareError::NotConfigured => with_reason(Code::FailedPrecondition, message, "PARTY_NOT_CONFIGURED", vec![]),
            ShareError::Unauthenticated(m) => crate::error::Error::Unauthenticated(m).into(),
            ShareError::PermissionDenied(m) => Status::permission_denied(m),
            ShareError::NotFound(m) => Status::not_found(m),
            ShareError::Invalid { field, message, reason } => {
                let violation = vec![(field, message.clone())];
                match reason {
                    Some(reason) => with_reason(Code::InvalidArgument, message, reason, violation),
                    None => {
                        let details = ErrorDetails::with_bad_request(
                            violation
                                .into_iter()
                                .map(|(f, d)| tonic_types::FieldViolation::new(f, d))
                                .collect::<Vec<_>>(),
                        );
                        Status::with_error_details(Code::InvalidArgument, message, details)
                    }
                }
            }
            ShareError::Precondition { reason, message, ids } => {
                let violations = ids.into_iter().map(|id| ("submission_ids".to_owned(), id)).collect();
                with_reason(Code::FailedPrecondition, message, reason, violations)
            }
            ShareError::AlreadyExists { reason, message } => with_reason(Code::AlreadyExists, message, reason, vec![]),
            ShareError::Aborted(m) => Status::aborted(m),
            ShareError::Unavailable(m) => Status::unavailable(m),
            ShareError::Internal(e) => crate::error::Error::Internal(e).into(),
        }
    }
}
