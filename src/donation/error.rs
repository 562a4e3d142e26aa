//! DonationService's domain error: what an operation can refuse, in terms both
//! faces can render — the native RPCs as a `tonic::Status` (through
//! [`crate::error::Error`]), the legacy RPCs as DRF's status and JSON body.

use super::keys::KeyError;
use super::model::FieldErrors;
use super::rows::RowError;
use crate::error::Error;

/// Why a donation operation did not happen.
#[derive(Debug, thiserror::Error)]
pub enum DonationError {
    /// Input failed validation, by field.
    #[error("invalid request: {}", .0.summary(|f| f))]
    Invalid(FieldErrors),
    /// The caller's credential stopped working (disabled since it was cached).
    #[error("{0}")]
    Unauthenticated(String),
    /// No such donation, or the caller may not see it (never told apart).
    #[error("No Donation matches the given query.")]
    NotFound,
    /// The caller may not do this.
    #[error("You do not have permission to perform this action.")]
    PermissionDenied,
    /// A repeated `request_id` whose donation's link was opened already.
    #[error("This request_id was already used for a donation whose link has been opened.")]
    RequestIdUsed,
    /// The database is unreachable right now.
    #[error("the database is unavailable; retry shortly")]
    Unavailable,
    /// A bug or an unexpected failure; logged where it is rendered, never sent.
    #[error("internal error: {0:#}")]
    Internal(anyhow::Error),
}

/// Shorthand for donation results.
pub type Result<T, E = DonationError> = std::result::Result<T, E>;

impl DonationError {
    /// A validation failure of one field.
    pub fn invalid(field: &str, message: impl Into<String>) -> Self {
        Self::Invalid(FieldErrors::one(field, message))
    }
}

impl From<diesel::result::Error> for DonationError {
    fn from(err: diesel::result::Error) -> Self {
        use diesel::result::{DatabaseErrorKind, Error as E};
        match err {
            E::DatabaseError(DatabaseErrorKind::ClosedConnection, _) => Self::Unavailable,
            other => Self::Internal(other.into()),
        }
    }
}

impl From<crate::db::PoolError> for DonationError {
    fn from(err: crate::db::PoolError) -> Self {
        tracing::warn!(error = %err, "database pool unavailable");
        Self::Unavailable
    }
}

impl From<KeyError> for DonationError {
    fn from(err: KeyError) -> Self {
        match err {
            // Deleted while we read: from here on it does not exist.
            KeyError::Missing(_) => Self::NotFound,
            KeyError::Database(e) => e.into(),
            other => Self::Internal(other.into()),
        }
    }
}

impl From<RowError> for DonationError {
    fn from(err: RowError) -> Self {
        match err {
            RowError::Key(e) => e.into(),
            RowError::Database(e) => e.into(),
            other => Self::Internal(other.into()),
        }
    }
}

impl From<Error> for DonationError {
    fn from(err: Error) -> Self {
        match err {
            Error::Unavailable(_) => Self::Unavailable,
            Error::NotFound(_) => Self::NotFound,
            Error::Unauthenticated(m) => Self::Unauthenticated(m),
            Error::PermissionDenied(_) => Self::PermissionDenied,
            other => Self::Internal(anyhow::anyhow!("{other}")),
        }
    }
}

/// The native face: compat field names become the proto's (`source_type` → `source`).
impl From<DonationError> for Error {
    fn from(err: DonationError) -> Self {
        match err {
            DonationError::Invalid(errors) => {
                Error::InvalidArgument(errors.summary(|f| if f == "source_type" { "source" } else { f }))
            }
            DonationError::Unauthenticated(m) => Error::Unauthenticated(m),
            DonationError::NotFound => Error::NotFound("donation not found".into()),
            DonationError::PermissionDenied => {
                Error::PermissionDenied("You do not have permission to perform this action.".into())
            }
            DonationError::RequestIdUsed => Error::AlreadyExists(DonationError::RequestIdUsed.to_string()),
            DonationError::Unavailable => Error::Unavailable("the database is unavailable; retry shortly".into()),
            DonationError::Internal(e) => Error::Internal(e),
        }
    }
}

impl From<DonationError> for tonic::Status {
    fn from(err: DonationError) -> Self {
        Error::from(err).into()
    }
}

#[cfg(test)]
mod tests {
    use tonic::Code;

    use super::*;

    #[test]
    fn native_codes() {
        let code = |e: DonationError| tonic::Status::from(e).code();
        assert_eq!(code(DonationError::invalid("source_type", "This field is required.")), Code::InvalidArgument);
        assert_eq!(code(DonationError::NotFound), Code::NotFound);
        assert_eq!(code(DonationError::PermissionDenied), Code::PermissionDenied);
        assert_eq!(code(DonationError::RequestIdUsed), Code::AlreadyExists);
        assert_eq!(code(DonationError::Unavailable), Code::Unavailable);
        let status = tonic::Status::from(DonationError::invalid("source_type", "This field is required."));
        assert_eq!(status.message(), "source: This field is required.");
    }
}
