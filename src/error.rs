//! The service-layer error: one enum whose variants follow gRPC codes, mapped to
//! `tonic::Status` in one exhaustive match. Internal causes are logged there once;
//! clients get a message without SQL, paths or secrets.

use diesel::result::{DatabaseErrorKind, Error as DieselError};
use tonic::{Code, Status};

/// What went wrong, in terms a caller can act on.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The request is malformed; the message names the field.
    #[error("{0}")]
    InvalidArgument(String),
    /// The thing asked for does not exist (or the caller may not know it exists).
    #[error("{0}")]
    NotFound(String),
    /// The thing to create exists already.
    #[error("{0}")]
    AlreadyExists(String),
    /// No valid credential was presented.
    #[error("{0}")]
    Unauthenticated(String),
    /// The caller is known but may not do this.
    #[error("{0}")]
    PermissionDenied(String),
    /// The system is not in a state that allows this (e.g. a donation not yet processed).
    #[error("{0}")]
    FailedPrecondition(String),
    /// A limit was reached (quota, size, rate).
    #[error("{0}")]
    ResourceExhausted(String),
    /// A concurrent change won; retrying may succeed.
    #[error("{0}")]
    Aborted(String),
    /// A dependency (the database) is not reachable right now.
    #[error("{0}")]
    Unavailable(String),
    /// A bug or an unexpected failure; details are logged, not returned.
    #[error("internal error: {0:#}")]
    Internal(anyhow::Error),
}

impl Error {
    /// An internal error from anything displayable.
    pub fn internal(err: impl Into<anyhow::Error>) -> Self {
        Self::Internal(err.into())
    }
}

/// Shorthand for service-layer results.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl From<DieselError> for Error {
    fn from(err: DieselError) -> Self {
        match err {
            DieselError::NotFound => Self::NotFound("not found".into()),
            DieselError::DatabaseError(kind, info) => match kind {
                DatabaseErrorKind::UniqueViolation => Self::AlreadyExists(
                    info.constraint_name().map_or_else(|| "already exists".into(), |c| format!("already exists ({c})")),
                ),
                DatabaseErrorKind::ForeignKeyViolation | DatabaseErrorKind::CheckViolation => Self::FailedPrecondition(
                    info.constraint_name()
                        .map_or_else(|| "violates a constraint".into(), |c| format!("violates constraint {c}")),
                ),
                DatabaseErrorKind::SerializationFailure => {
                    Self::Aborted("a concurrent change conflicted; retry the request".into())
                }
                DatabaseErrorKind::ClosedConnection => Self::Unavailable("database connection lost; retry".into()),
                _ => Self::Internal(anyhow::anyhow!("database error: {}", info.message())),
            },
            other => Self::Internal(other.into()),
        }
    }
}

impl From<crate::db::PoolError> for Error {
    fn from(err: crate::db::PoolError) -> Self {
        tracing::warn!(error = %err, "database pool unavailable");
        Self::Unavailable("the database is unavailable; retry shortly".into())
    }
}

impl From<Error> for Status {
    fn from(err: Error) -> Self {
        let (code, message) = match err {
            Error::InvalidArgument(m) => (Code::InvalidArgument, m),
            Error::NotFound(m) => (Code::NotFound, m),
            Error::AlreadyExists(m) => (Code::AlreadyExists, m),
            Error::Unauthenticated(m) => (Code::Unauthenticated, m),
            Error::PermissionDenied(m) => (Code::PermissionDenied, m),
            Error::FailedPrecondition(m) => (Code::FailedPrecondition, m),
            Error::ResourceExhausted(m) => (Code::ResourceExhausted, m),
            Error::Aborted(m) => (Code::Aborted, m),
            Error::Unavailable(m) => (Code::Unavailable, m),
            Error::Internal(e) => {
                tracing::error!(error = %format!("{e:#}"), "internal error");
                (Code::Internal, "internal error; it has been logged".into())
            }
        };
        Status::new(code, message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_follow_variants() {
        let cases = [
            (Error::InvalidArgument("x".into()), Code::InvalidArgument),
            (Error::NotFound("x".into()), Code::NotFound),
            (Error::AlreadyExists("x".into()), Code::AlreadyExists),
            (Error::Unauthenticated("x".into()), Code::Unauthenticated),
            (Error::PermissionDenied("x".into()), Code::PermissionDenied),
            (Error::FailedPrecondition("x".into()), Code::FailedPrecondition),
            (Error::ResourceExhausted("x".into()), Code::ResourceExhausted),
            (Error::Aborted("x".into()), Code::Aborted),
            (Error::Unavailable("x".into()), Code::Unavailable),
        ];
        for (err, code) in cases {
            let status = Status::from(err);
            assert_eq!(status.code(), code);
            assert_eq!(status.message(), "x");
        }
    }

    #[test]
    fn internal_errors_hide_their_cause() {
        let status = Status::from(Error::internal(anyhow::anyhow!("SELECT secret FROM keys failed")));
        assert_eq!(status.code(), Code::Internal);
        assert!(!status.message().contains("SELECT"));
    }

    #[test]
    fn diesel_not_found_is_not_found() {
        assert_eq!(Status::from(Error::from(DieselError::NotFound)).code(), Code::NotFound);
    }
}
