//! UploadService's domain error (spec upload.md §2.12): each refusal carries
//! its reason as `google.rpc.ErrorInfo` (domain `upload.steward`). The tus
//! routes map the same values to HTTP statuses (`tus` module).

use std::collections::HashMap;
use std::time::Duration;

use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt};

/// The error domain of every reason.
pub const DOMAIN: &str = "upload.steward";

/// Why an upload operation did not happen.
#[derive(Debug, thiserror::Error)]
pub enum UploadError {
    /// No valid credential (owner RPCs).
    #[error("{0}")]
    Unauthenticated(String),
    /// The caller may not do this (owner RPCs, to someone who can view the drop-off).
    #[error("{0}")]
    PermissionDenied(String),
    /// No such drop-off or upload (or one the caller may not see).
    #[error("{0}")]
    NotFound(String),
    /// The upload expired, was cancelled or deleted (UPLOAD_GONE; tus 410).
    #[error("{0}")]
    Gone(String),
    /// The drop-off is closed or expired (DROPOFF_CLOSED; tus 410).
    #[error("{0}")]
    DropOffClosed(String),
    /// No upload code was sent.
    #[error("this request needs the drop-off's upload code")]
    CodeMissing,
    /// The upload code is wrong (CODE_INVALID).
    #[error("the upload code is not valid for this drop-off")]
    CodeInvalid,
    /// Too many wrong codes (TOO_MANY_ATTEMPTS).
    #[error("too many wrong upload codes; try again in {} s", retry_after.as_secs())]
    TooManyAttempts { retry_after: Duration },
    /// A malformed request: the field and why.
    #[error("{message}")]
    Invalid { field: &'static str, message: String },
    /// The file is larger than the drop-off allows (tus 413).
    #[error("{0}")]
    TooLarge(String),
    /// The file's type is not allowed here (tus 415).
    #[error("{0}")]
    TypeNotAllowed(String),
    /// The drop-off's total would be exceeded (QUOTA_EXCEEDED; tus 413).
    #[error("{0}")]
    QuotaExceeded(String),
    /// The staging disk is too full for the file (INSUFFICIENT_STORAGE; tus
    /// 507): the message says how much is free and how much was needed.
    #[error("{0}")]
    InsufficientStorage(String),
    /// Data does not start at the committed offset (OFFSET_MISMATCH; tus 409).
    #[error("the upload is at byte {current}, not {sent}; continue from {current}")]
    OffsetMismatch { current: u64, sent: u64 },
    /// Data beyond the declared size (SIZE_EXCEEDED; tus 413).
    #[error("{0}")]
    SizeExceeded(String),
    /// Another request holds the writer lease (UPLOAD_LOCKED; tus 423).
    #[error("another request is writing this upload; retry shortly")]
    Locked,
    /// A newer request for the same upload took over (UPLOAD_INTERRUPTED; tus 400).
    #[error("a newer request for this upload took over; the bytes before byte {committed} are kept")]
    Interrupted { committed: u64 },
    /// Finalize before all bytes (UPLOAD_INCOMPLETE).
    #[error("the upload has {current} of {size} bytes; send the rest before finalizing")]
    Incomplete { current: u64, size: u64 },
    /// The request's checksum does not match its body (tus 460).
    #[error("the checksum does not match the data; nothing was written")]
    ChecksumMismatch,
    /// The upload is complete, so it cannot be written or cancelled (UPLOAD_FINISHED; tus 403).
    #[error("{0}")]
    Finished(String),
    /// A rule refused it in the current state (e.g. a different digest on a second finalize).
    #[error("{message}")]
    Precondition { reason: &'static str, message: String },
    /// The staged bytes of this upload are not on this replica (tus 503).
    #[error("this upload's data is not reachable from this server; retry shortly")]
    StagingUnavailable,
    /// A stored file does not open: it was altered or truncated.
    #[error("the stored file is damaged: {0}")]
    DataLoss(String),
    /// A dependency (the database) is unreachable right now.
    #[error("{0}")]
    Unavailable(String),
    /// A bug or unexpected failure; logged, never sent.
    #[error("internal error: {0:#}")]
    Internal(anyhow::Error),
}

/// Shorthand for upload results.
pub type Result<T, E = UploadError> = std::result::Result<T, E>;

impl UploadError {
    /// INVALID_ARGUMENT naming `field`.
    pub fn invalid(field: &'static str, message: impl Into<String>) -> Self {
        let message = message.into();
        let message = if message.starts_with(field) { message } else { format!("{field}: {message}") };
        Self::Invalid { field, message }
    }

    /// The reserved end-to-end encryption field, refused until that feature
    /// exists, so nobody believes their files are end-to-end encrypted.
    pub fn reserved_public_key() -> Self {
        Self::invalid(
            "recipient_public_key",
            "is reserved for end-to-end encryption, which Steward does not offer yet; leave it empty \
             (files are encrypted at rest by the server)",
        )
    }

    /// The database is unreachable.
    pub fn unavailable() -> Self {
        Self::Unavailable("the database is unavailable; retry shortly".into())
    }

    /// Wraps any unexpected failure.
    pub fn internal(err: impl Into<anyhow::Error>) -> Self {
        Self::Internal(err.into())
    }
}

impl From<diesel::result::Error> for UploadError {
    fn from(err: diesel::result::Error) -> Self {
        use diesel::result::{DatabaseErrorKind, Error as E};
        match err {
            E::DatabaseError(DatabaseErrorKind::ClosedConnection, _) => Self::unavailable(),
            other => Self::Internal(other.into()),
        }
    }
}

impl From<crate::db::PoolError> for UploadError {
    fn from(err: crate::db::PoolError) -> Self {
        tracing::warn!(error = %err, "database pool unavailable");
        Self::unavailable()
    }
}

impl From<crate::error::Error> for UploadError {
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

fn with_reason(code: Code, message: String, reason: &str, metadata: HashMap<String, String>) -> Status {
    let mut details = ErrorDetails::new();
    details.set_error_info(reason, DOMAIN, metadata);
    Status::with_error_details(code, message, details)
}

fn offset_metadata(current: u64) -> HashMap<String, String> {
    HashMap::from([("current_offset".to_owned(), current.to_string())])
}

impl From<UploadError> for Status {
    fn from(err: UploadError) -> Self {
        use UploadError as E;
        let message = err.to_string();
        let none = HashMap::new;
        match err {
            E::Unauthenticated(m) => crate::error::Error::Unauthenticated(m).into(),
            E::PermissionDenied(m) => Status::permission_denied(m),
            E::NotFound(m) => Status::not_found(m),
            E::Gone(_) => with_reason(Code::NotFound, message, "UPLOAD_GONE", none()),
            E::DropOffClosed(_) => with_reason(Code::FailedPrecondition, message, "DROPOFF_CLOSED", none()),
            E::CodeMissing => Status::unauthenticated(message),
            E::CodeInvalid => with_reason(Code::PermissionDenied, message, "CODE_INVALID", none()),
            E::TooManyAttempts { retry_after } => {
                let mut details = ErrorDetails::new();
                details.set_error_info("TOO_MANY_ATTEMPTS", DOMAIN, HashMap::new());
                details.set_retry_info(Some(retry_after));
                Status::with_error_details(Code::ResourceExhausted, message, details)
            }
            E::Invalid { field, message } => {
                let details = ErrorDetails::with_bad_request_violation(field, message.clone());
                Status::with_error_details(Code::InvalidArgument, message, details)
            }
            E::TooLarge(_) => {
                let details = ErrorDetails::with_bad_request_violation("size", message.clone());
                Status::with_error_details(Code::InvalidArgument, message, details)
            }
            E::TypeNotAllowed(_) => {
                let details = ErrorDetails::with_bad_request_violation("content_type", message.clone());
                Status::with_error_details(Code::InvalidArgument, message, details)
            }
            E::QuotaExceeded(_) => with_reason(Code::ResourceExhausted, message, "QUOTA_EXCEEDED", none()),
            E::InsufficientStorage(_) => with_reason(Code::ResourceExhausted, message, "INSUFFICIENT_STORAGE", none()),
            E::OffsetMismatch { current, .. } => {
                with_reason(Code::Aborted, message, "OFFSET_MISMATCH", offset_metadata(current))
            }
            E::SizeExceeded(_) => with_reason(Code::OutOfRange, message, "SIZE_EXCEEDED", none()),
            E::Locked => with_reason(Code::Aborted, message, "UPLOAD_LOCKED", none()),
            E::Interrupted { committed } => {
                with_reason(Code::Aborted, message, "UPLOAD_INTERRUPTED", offset_metadata(committed))
            }
            E::Incomplete { current, .. } => {
                with_reason(Code::FailedPrecondition, message, "UPLOAD_INCOMPLETE", offset_metadata(current))
            }
            E::ChecksumMismatch => with_reason(Code::InvalidArgument, message, "CHECKSUM_MISMATCH", none()),
            E::Finished(_) => with_reason(Code::FailedPrecondition, message, "UPLOAD_FINISHED", none()),
            E::Precondition { reason, .. } => with_reason(Code::FailedPrecondition, message, reason, none()),
            E::StagingUnavailable => Status::unavailable(message),
            E::DataLoss(_) => Status::data_loss(message),
            E::Unavailable(m) => Status::unavailable(m),
            E::Internal(e) => crate::error::Error::Internal(e).into(),
        }
    }
}
