//! The domain's refusals as tus answers (spec upload.md §3.13).

use super::reply::TusError;
use crate::upload::error::UploadError;

/// What a request addressed, which decides what "not found" means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Addressed {
    /// POST: the drop-off named in the metadata.
    DropOff,
    /// HEAD, PATCH, DELETE: the upload URL.
    Upload,
}

/// The tus answer to a domain error. Internal errors are logged by the
/// caller; their details never reach the client.
pub fn tus_status(err: &UploadError, addressed: Addressed) -> TusError {
    use UploadError as E;
    match err {
        E::NotFound(_) => match addressed {
            Addressed::DropOff => TusError::DropoffNotFound,
            Addressed::Upload => TusError::UploadNotFound,
        },
        E::Gone(what) => TusError::UploadGone(what.clone()),
        E::DropOffClosed(message) => TusError::DropoffClosed(message.clone()),
        E::CodeMissing | E::Unauthenticated(_) => TusError::CodeRequired,
        E::CodeInvalid | E::PermissionDenied(_) => TusError::CodeInvalid,
        E::TooManyAttempts { retry_after } => {
            // Round up: a client waiting the whole number of seconds is let in.
            let secs = retry_after.as_secs() + u64::from(retry_after.subsec_nanos() > 0);
            TusError::TooManyAttempts { retry_after_secs: secs.max(1) }
        }
        E::Invalid { field, message } => match *field {
            "Upload-Length" => TusError::InvalidUploadLength(message.clone()),
            "metadata" => TusError::InvalidMetadata(message.clone()),
            _ => TusError::Invalid(message.clone()),
        },
        E::TooLarge(message) => TusError::MaxSizeExceeded(message.clone()),
        E::TypeNotAllowed(message) => TusError::FileTypeNotAllowed(message.clone()),
        E::QuotaExceeded(message) => TusError::QuotaExceeded(message.clone()),
        E::InsufficientStorage(message) => TusError::InsufficientStorage(message.clone()),
        E::OffsetMismatch { current, .. } => TusError::MismatchedOffset { current: *current },
        E::SizeExceeded(_) => TusError::UploadSizeExceeded,
        E::Locked => TusError::UploadLocked,
        E::Interrupted { .. } => TusError::UploadInterrupted,
        E::ChecksumMismatch => TusError::ChecksumMismatch,
        E::Finished(_) => TusError::UploadFinished,
        E::StagingUnavailable => TusError::StagingUnavailable,
        E::Unavailable(_) => TusError::Unavailable,
        // Not produced by the tus operations; a bug if they ever are.
        E::Incomplete { .. } | E::Precondition { .. } | E::DataLoss(_) | E::Internal(_) => TusError::Internal,
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn both(err: UploadError) -> (TusError, TusError) {
        (tus_status(&err, Addressed::DropOff), tus_status(&err, Addressed::Upload))
    }

    fn row(err: UploadError, addressed: Addressed) -> (u16, &'static str) {
        let t = tus_status(&err, addressed);
        (t.status().as_u16(), t.code())
    }

    #[test]
    fn not_found_depends_on_what_was_addressed() {
        let (dropoff, upload) = both(UploadError::NotFound("x".into()));
        assert_eq!((dropoff.status().as_u16(), dropoff.code()), (404, "ERR_DROPOFF_NOT_FOUND"));
        assert_eq!((upload.status().as_u16(), upload.code()), (404, "ERR_UPLOAD_NOT_FOUND"));
    }

    #[test]
    fn every_domain_refusal_has_its_row() {
        use Addressed::*;
        use UploadError as E;
        let cases: Vec<(UploadError, Addressed, (u16, &str))> = vec![
            (E::Gone("upload 'x' is terminated".into()), Upload, (410, "ERR_UPLOAD_GONE")),
            (E::DropOffClosed("the drop-off is closed".into()), DropOff, (410, "ERR_DROPOFF_CLOSED")),
            (E::CodeMissing, Upload, (401, "ERR_DROPOFF_CODE_REQUIRED")),
            (E::CodeInvalid, DropOff, (403, "ERR_DROPOFF_CODE_INVALID")),
            (E::TooManyAttempts { retry_after: Duration::from_secs(60) }, Upload, (429, "ERR_TOO_MANY_ATTEMPTS")),
            (E::invalid("Upload-Length", "cannot change"), Upload, (400, "ERR_INVALID_UPLOAD_LENGTH")),
            (E::invalid("body", "ended early"), Upload, (400, "ERR_INVALID_REQUEST")),
            (E::TooLarge("big".into()), DropOff, (413, "ERR_MAX_SIZE_EXCEEDED")),
            (E::TypeNotAllowed("allowed: .csv".into()), DropOff, (415, "ERR_FILE_TYPE_NOT_ALLOWED")),
            (E::QuotaExceeded("full".into()), DropOff, (413, "ERR_QUOTA_EXCEEDED")),
            (E::InsufficientStorage("full".into()), DropOff, (507, "ERR_INSUFFICIENT_STORAGE")),
            (E::OffsetMismatch { current: 5, sent: 7 }, Upload, (409, "ERR_MISMATCHED_OFFSET")),
            (E::SizeExceeded("past".into()), Upload, (413, "ERR_UPLOAD_SIZE_EXCEEDED")),
            (E::Locked, Upload, (423, "ERR_UPLOAD_LOCKED")),
            (E::Interrupted { committed: 3 }, Upload, (400, "ERR_UPLOAD_INTERRUPTED")),
            (E::ChecksumMismatch, Upload, (460, "ERR_CHECKSUM_MISMATCH")),
            (E::Finished("done".into()), Upload, (403, "ERR_UPLOAD_FINISHED")),
            (E::StagingUnavailable, Upload, (503, "ERR_STAGING_UNAVAILABLE")),
            (E::unavailable(), Upload, (503, "ERR_UNAVAILABLE")),
            (E::internal(anyhow::anyhow!("secret detail")), Upload, (500, "ERR_INTERNAL")),
        ];
        for (err, addressed, expected) in cases {
            let shown = format!("{err:?}");
            assert_eq!(row(err, addressed), expected, "{shown}");
        }
    }

    #[test]
    fn the_domain_message_reaches_the_client_where_it_helps() {
        let (t, _) = both(UploadError::DropOffClosed("the drop-off expired at 2026-01-01; ask its owner".into()));
        assert!(t.message().contains("expired"), "{t}");
        let (t, _) = both(UploadError::TypeNotAllowed("allowed: .csv, text/*".into()));
        assert!(t.message().contains(".csv, text/*"), "{t}");
        let (_, t) = both(UploadError::OffsetMismatch { current: 5, sent: 7 });
        assert_eq!(t, TusError::MismatchedOffset { current: 5 });
        // Internal details stay in the log.
        let (t, _) = both(UploadError::internal(anyhow::anyhow!("password=hunter2")));
        assert!(!t.message().contains("hunter2"));
        // Retry-After is whole seconds, rounded up, at least 1.
        let (t, _) = both(UploadError::TooManyAttempts { retry_after: Duration::from_millis(1500) });
        assert_eq!(t, TusError::TooManyAttempts { retry_after_secs: 2 });
        let (t, _) = both(UploadError::TooManyAttempts { retry_after: Duration::ZERO });
        assert_eq!(t, TusError::TooManyAttempts { retry_after_secs: 1 });
    }
}
