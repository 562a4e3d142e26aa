//! tus responses (spec upload.md §3.3, §3.4, §3.9, §3.12, §3.13): the common
//! headers every answer carries, errors included, the error matrix as a
//! typed [`TusError`], and the success answers of each method.

use axum::body::Body;
use chrono::{DateTime, Utc};
use http::{HeaderMap, HeaderName, HeaderValue, Response, StatusCode, header};

use super::protocol::{TUS_CHECKSUM_ALGORITHMS, TUS_EXTENSIONS, TUS_VERSION, TusSettings};
use crate::upload::metadata::Metadata;

/// `Access-Control-Allow-Methods` of a preflight.
pub const CORS_ALLOW_METHODS: &str = "POST, HEAD, PATCH, DELETE, OPTIONS";
/// `Access-Control-Allow-Headers` of a preflight: everything a tus client sends.
pub const CORS_ALLOW_HEADERS: &str = "Authorization, Origin, X-Requested-With, X-Request-ID, X-HTTP-Method-Override, \
     Content-Type, Upload-Length, Upload-Offset, Tus-Resumable, Upload-Metadata, Upload-Defer-Length, Upload-Concat, \
     Upload-Checksum, Dropoff-Code";
/// `Access-Control-Expose-Headers` of actual responses: what browser clients read.
pub const CORS_EXPOSE_HEADERS: &str = "Location, Upload-Offset, Upload-Length, Upload-Defer-Length, Upload-Metadata, \
     Upload-Expires, Upload-Concat, Tus-Version, Tus-Resumable, Tus-Max-Size, Tus-Extension, Tus-Checksum-Algorithm, \
     X-Request-ID, Retry-After";
/// `Access-Control-Max-Age` of a preflight.
pub const CORS_MAX_AGE: &str = "86400";

const ERROR_CONTENT_TYPE: &str = "text/plain; charset=utf-8";

fn name(n: &'static str) -> HeaderName {
    HeaderName::from_static(n)
}

/// What every response to one request needs, decided before any step can fail.
#[derive(Debug, Clone)]
pub struct ReplyCtx {
    /// `X-Request-ID` to echo.
    pub request_id: HeaderValue,
    /// The request's `Origin` when it is allowed; `None` sends no CORS headers.
    pub cors_origin: Option<HeaderValue>,
    /// HEAD (also by override): no body, even on errors.
    pub no_body: bool,
    /// OPTIONS with `Access-Control-Request-Method`.
    pub preflight: bool,
}

/// Every tus refusal (§3.13), with its status, `ERR_` code and headers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TusError {
    /// Row 1.
    OriginNotAllowed,
    /// Row 3.
    UnsupportedVersion,
    /// Row 4: the `X-HTTP-Method-Override` value.
    MethodOverrideNotSupported { value: String },
    /// Row 5: `Allow`.
    MethodNotAllowed { allow: &'static str },
    /// Rows 6 and 23.
    UploadNotFound,
    /// Row 7.
    ConcatenationUnsupported,
    /// Row 8.
    AmbiguousUploadLength,
    /// Rows 9 and 32: what is wrong.
    InvalidUploadLength(String),
    /// Row 10.
    InvalidUploadLengthDefer,
    /// Row 11: the parser's message, naming the key.
    InvalidMetadata(String),
    /// Row 12: whether a `dropoff` key was sent (then it is not a UUID).
    DropoffRequired { present: bool },
    /// Row 13.
    DropoffNotFound,
    /// Row 14.
    CodeRequired,
    /// Row 15.
    CodeInvalid,
    /// Row 16: seconds until the next attempt.
    TooManyAttempts { retry_after_secs: u64 },
    /// Row 17: the message, stating "closed" or "expired on <date>".
    DropoffClosed(String),
    /// Row 18: the message, listing the allowed types.
    FileTypeNotAllowed(String),
    /// Row 19: the message, naming the limit.
    MaxSizeExceeded(String),
    /// Row 20: the message, naming what is left.
    QuotaExceeded(String),
    /// Row 21: the message, naming what is free and what is needed.
    InsufficientStorage(String),
    /// Row 24: what happened to it.
    UploadGone(String),
    /// Row 26.
    InvalidContentType,
    /// Row 27.
    InvalidOffset,
    /// Row 28: what is wrong.
    InvalidChecksum(String),
    /// Row 29: the algorithm named.
    UnsupportedChecksumAlgorithm(String),
    /// Row 30.
    UploadLocked,
    /// Row 31: the committed offset.
    MismatchedOffset { current: u64 },
    /// Row 33.
    UploadSizeExceeded,
    /// Any other malformed request (the domain's field and message).
    Invalid(String),
    /// Row 34.
    ChecksumMismatch,
    /// Row 37.
    UploadInterrupted,
    /// Row 38.
    ServerShutdown,
    /// Row 40.
    UploadFinished,
    /// Row 41.
    StagingUnavailable,
    /// Row 42: the database is unreachable.
    Unavailable,
    /// Row 42: anything else; details go to the log, never to the client.
    Internal,
}

impl TusError {
    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        use TusError::*;
        match self {
            OriginNotAllowed | CodeInvalid | UploadFinished => StatusCode::FORBIDDEN,
            UnsupportedVersion => StatusCode::PRECONDITION_FAILED,
            MethodOverrideNotSupported { .. } | MethodNotAllowed { .. } => StatusCode::METHOD_NOT_ALLOWED,
            UploadNotFound | DropoffNotFound => StatusCode::NOT_FOUND,
            ConcatenationUnsupported
            | AmbiguousUploadLength
            | InvalidUploadLength(_)
            | InvalidUploadLengthDefer
            | InvalidMetadata(_)
            | DropoffRequired { .. }
            | InvalidOffset
            | InvalidChecksum(_)
            | UnsupportedChecksumAlgorithm(_)
            | UploadInterrupted
            | Invalid(_) => StatusCode::BAD_REQUEST,
            CodeRequired => StatusCode::UNAUTHORIZED,
            TooManyAttempts { .. } => StatusCode::TOO_MANY_REQUESTS,
            DropoffClosed(_) | UploadGone(_) => StatusCode::GONE,
            FileTypeNotAllowed(_) | InvalidContentType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            MaxSizeExceeded(_) | QuotaExceeded(_) | UploadSizeExceeded => StatusCode::PAYLOAD_TOO_LARGE,
            InsufficientStorage(_) => StatusCode::INSUFFICIENT_STORAGE,
            UploadLocked => StatusCode::LOCKED,
            MismatchedOffset { .. } => StatusCode::CONFLICT,
            ChecksumMismatch => StatusCode::from_u16(460).expect("460 is a valid status"),
            ServerShutdown | StagingUnavailable | Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The body's `ERR_` code (tusd's where one exists).
    pub fn code(&self) -> &'static str {
        use TusError::*;
        match self {
            OriginNotAllowed => "ERR_ORIGIN_NOT_ALLOWED",
            UnsupportedVersion => "ERR_UNSUPPORTED_VERSION",
            MethodOverrideNotSupported { .. } | MethodNotAllowed { .. } => "ERR_METHOD_NOT_ALLOWED",
            UploadNotFound => "ERR_UPLOAD_NOT_FOUND",
            ConcatenationUnsupported => "ERR_CONCATENATION_UNSUPPORTED",
            AmbiguousUploadLength => "ERR_AMBIGUOUS_UPLOAD_LENGTH",
            InvalidUploadLength(_) => "ERR_INVALID_UPLOAD_LENGTH",
            InvalidUploadLengthDefer => "ERR_INVALID_UPLOAD_LENGTH_DEFER",
            InvalidMetadata(_) => "ERR_INVALID_METADATA",
            DropoffRequired { .. } => "ERR_DROPOFF_REQUIRED",
            DropoffNotFound => "ERR_DROPOFF_NOT_FOUND",
            CodeRequired => "ERR_DROPOFF_CODE_REQUIRED",
            CodeInvalid => "ERR_DROPOFF_CODE_INVALID",
            TooManyAttempts { .. } => "ERR_TOO_MANY_ATTEMPTS",
            DropoffClosed(_) => "ERR_DROPOFF_CLOSED",
            FileTypeNotAllowed(_) => "ERR_FILE_TYPE_NOT_ALLOWED",
            MaxSizeExceeded(_) => "ERR_MAX_SIZE_EXCEEDED",
            QuotaExceeded(_) => "ERR_QUOTA_EXCEEDED",
            InsufficientStorage(_) => "ERR_INSUFFICIENT_STORAGE",
            UploadGone(_) => "ERR_UPLOAD_GONE",
            InvalidContentType => "ERR_INVALID_CONTENT_TYPE",
            InvalidOffset => "ERR_INVALID_OFFSET",
            InvalidChecksum(_) => "ERR_INVALID_CHECKSUM",
            UnsupportedChecksumAlgorithm(_) => "ERR_UNSUPPORTED_CHECKSUM_ALGORITHM",
            UploadLocked => "ERR_UPLOAD_LOCKED",
            MismatchedOffset { .. } => "ERR_MISMATCHED_OFFSET",
            UploadSizeExceeded => "ERR_UPLOAD_SIZE_EXCEEDED",
            Invalid(_) => "ERR_INVALID_REQUEST",
            ChecksumMismatch => "ERR_CHECKSUM_MISMATCH",
            UploadInterrupted => "ERR_UPLOAD_INTERRUPTED",
            ServerShutdown => "ERR_SERVER_SHUTDOWN",
            UploadFinished => "ERR_UPLOAD_FINISHED",
            StagingUnavailable => "ERR_STAGING_UNAVAILABLE",
            Unavailable => "ERR_UNAVAILABLE",
            Internal => "ERR_INTERNAL",
        }
    }

    /// A message a person can act on (one line).
    pub fn message(&self) -> String {
        use TusError::*;
        match self {
            OriginNotAllowed => {
                "this site is not allowed to upload here (its Origin is not in Steward's CORS list)".into()
            }
            UnsupportedVersion => format!("this server speaks tus {TUS_VERSION}; send Tus-Resumable: {TUS_VERSION}"),
            MethodOverrideNotSupported { value } => {
                format!("X-HTTP-Method-Override {value:?} is not supported; use PATCH, DELETE, HEAD or POST")
            }
            MethodNotAllowed { allow } => format!("method not allowed here; allowed: {allow}"),
            UploadNotFound => "no upload at this URL; upload URLs are /files/<id> as returned in Location".into(),
            ConcatenationUnsupported => {
                "concatenation (parallel uploads) is not supported; upload each file in one upload (parallelUploads: 1)"
                    .into()
            }
            AmbiguousUploadLength => "send either Upload-Length or Upload-Defer-Length: 1, not both".into(),
            InvalidUploadLength(why) => why.clone(),
            InvalidUploadLengthDefer => "Upload-Defer-Length must be 1".into(),
            InvalidMetadata(why) => format!("invalid Upload-Metadata: {why}"),
            DropoffRequired { present: false } => "name the drop-off in the upload's metadata under the key \
                 'dropoff' (its id, shown with the drop-off link): tus-js-client and Uppy: \
                 metadata: {dropoff: '<id>', filename: ...}; tuspy: uploader(..., metadata={'dropoff': '<id>', \
                 'filename': name}); and send the upload code in the Dropoff-Code header"
                .into(),
            DropoffRequired { present: true } => {
                "the metadata key 'dropoff' must be the drop-off's id, a UUID such as \
                 0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d, as shown with the drop-off link"
                    .into()
            }
            DropoffNotFound => "no such drop-off; check the id in the drop-off link".into(),
            CodeRequired => "send the drop-off's upload code in the Dropoff-Code header".into(),
            CodeInvalid => "the upload code is not right for this drop-off; check it with the drop-off's owner".into(),
            TooManyAttempts { retry_after_secs } => {
                format!("too many wrong upload codes; try again in {retry_after_secs} seconds")
            }
            DropoffClosed(message)
            | FileTypeNotAllowed(message)
            | MaxSizeExceeded(message)
            | QuotaExceeded(message)
            | InsufficientStorage(message) => message.clone(),
            UploadGone(what) => format!("{what}; start a new upload"),
            InvalidContentType => "a PATCH body must have Content-Type: application/offset+octet-stream".into(),
            InvalidOffset => "send Upload-Offset once, as 1 to 19 decimal digits (the offset from HEAD)".into(),
            InvalidChecksum(why) => format!("invalid Upload-Checksum: {why}"),
            UnsupportedChecksumAlgorithm(name) => {
                format!("checksum algorithm {name:?} is not supported; use one of {TUS_CHECKSUM_ALGORITHMS}")
            }
            UploadLocked => "another request is writing to this upload; retry shortly".into(),
            MismatchedOffset { current } => {
                format!("Upload-Offset does not match the upload's offset {current}; resume from {current}")
            }
            UploadSizeExceeded => "the body runs past the upload's length".into(),
            Invalid(message) => message.clone(),
            ChecksumMismatch => "the body does not match Upload-Checksum; nothing of it was kept, send it again".into(),
            UploadInterrupted => "a newer request for this upload took over".into(),
            ServerShutdown => "the server is restarting; the bytes received were kept, resume from HEAD".into(),
            UploadFinished => "finished files can only be deleted by the drop-off owner".into(),
            StagingUnavailable => "this upload's data is not reachable from this server right now; retry".into(),
            Unavailable => "the service is unavailable; retry shortly".into(),
            Internal => "internal error; the request id identifies it in the server log".into(),
        }
    }

    /// Headers this error adds.
    fn headers(&self, headers: &mut HeaderMap) {
        match self {
            TusError::UnsupportedVersion => {
                headers.insert(name("tus-version"), HeaderValue::from_static(TUS_VERSION));
            }
            TusError::MethodNotAllowed { allow } => {
                headers.insert(header::ALLOW, HeaderValue::from_static(allow));
            }
            TusError::CodeRequired => {
                headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Dropoff-Code"));
            }
            TusError::TooManyAttempts { retry_after_secs } => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from(*retry_after_secs));
            }
            TusError::MismatchedOffset { current } => {
                headers.insert(name("upload-offset"), HeaderValue::from(*current));
            }
            _ => {}
        }
    }
}

impl std::fmt::Display for TusError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code(), self.message())
    }
}

impl std::error::Error for TusError {}

/// The error body line: `ERR_<CODE>: <message>\n`, control characters
/// replaced so that the message stays one line.
pub fn error_body(err: &TusError) -> String {
    let message: String = err.message().chars().map(|c| if c.is_control() { ' ' } else { c }).collect();
    format!("{}: {message}\n", err.code())
}

/// An RFC 9110 IMF-fixdate, e.g. `Wed, 25 Jun 2025 16:00:00 GMT`.
pub fn imf_fixdate(at: DateTime<Utc>) -> String {
    at.format("%a, %d %b %Y %H:%M:%S GMT").to_string()
}

/// The common headers (§3.3): on every response, errors included.
fn common(ctx: &ReplyCtx, status: StatusCode, body: Body) -> Response<Body> {
    let mut response = Response::new(body);
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(name("tus-resumable"), HeaderValue::from_static(TUS_VERSION));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(name("x-request-id"), ctx.request_id.clone());
    if let Some(origin) = &ctx.cors_origin {
        headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin.clone());
        headers.insert(header::VARY, HeaderValue::from_static("Origin"));
        if ctx.preflight {
            headers.insert(header::ACCESS_CONTROL_ALLOW_METHODS, HeaderValue::from_static(CORS_ALLOW_METHODS));
            headers.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, HeaderValue::from_static(CORS_ALLOW_HEADERS));
            headers.insert(header::ACCESS_CONTROL_MAX_AGE, HeaderValue::from_static(CORS_MAX_AGE));
        } else {
            headers.insert(header::ACCESS_CONTROL_EXPOSE_HEADERS, HeaderValue::from_static(CORS_EXPOSE_HEADERS));
        }
    }
    response
}

/// An error answer: its status, headers and `text/plain` body (none for HEAD).
pub fn error(ctx: &ReplyCtx, err: &TusError) -> Response<Body> {
    let body = if ctx.no_body { Body::empty() } else { Body::from(error_body(err)) };
    let mut response = common(ctx, err.status(), body);
    err.headers(response.headers_mut());
    if !ctx.no_body {
        response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(ERROR_CONTENT_TYPE));
    }
    response
}

/// OPTIONS: discovery, and the preflight when asked (§3.4, §3.12).
pub fn options(ctx: &ReplyCtx, settings: &TusSettings) -> Response<Body> {
    let mut response = common(ctx, StatusCode::OK, Body::empty());
    let headers = response.headers_mut();
    headers.insert(name("tus-version"), HeaderValue::from_static(TUS_VERSION));
    headers.insert(name("tus-extension"), HeaderValue::from_static(TUS_EXTENSIONS));
    headers.insert(name("tus-max-size"), HeaderValue::from(settings.max_size));
    headers.insert(name("tus-checksum-algorithm"), HeaderValue::from_static(TUS_CHECKSUM_ALGORITHMS));
    response
}

fn set_expires(headers: &mut HeaderMap, expires: Option<DateTime<Utc>>) {
    if let Some(at) = expires {
        headers.insert(name("upload-expires"), HeaderValue::from_str(&imf_fixdate(at)).expect("a date is ASCII"));
    }
}

/// 201 Created (§3.5): `Location`, the committed offset, and `Upload-Expires`
/// while the upload is incomplete (`expires` is `None` once it is finished).
pub fn created(
    ctx: &ReplyCtx,
    settings: &TusSettings,
    file_id: &str,
    offset: u64,
    expires: Option<DateTime<Utc>>,
) -> Response<Body> {
    let mut response = common(ctx, StatusCode::CREATED, Body::empty());
    let headers = response.headers_mut();
    let location = HeaderValue::from_str(&settings.location(file_id)).unwrap_or_else(|_| {
        // STEWARD_PUBLIC_URL was validated as a URL; fall back to the relative path.
        HeaderValue::from_str(&format!("/files/{file_id}")).expect("a UUID is ASCII")
    });
    headers.insert(header::LOCATION, location);
    headers.insert(name("upload-offset"), HeaderValue::from(offset));
    set_expires(headers, expires);
    response
}

/// What HEAD reports about an upload (§3.7).
#[derive(Debug, Clone)]
pub struct UploadInfo<'a> {
    /// Committed bytes (= the length once finished).
    pub offset: u64,
    /// `None` while the length is deferred.
    pub length: Option<u64>,
    pub metadata: &'a Metadata,
    /// While incomplete.
    pub expires: Option<DateTime<Utc>>,
}

/// HEAD 200 (§3.7), without a body.
pub fn head(ctx: &ReplyCtx, info: &UploadInfo<'_>) -> Response<Body> {
    let mut response = common(ctx, StatusCode::OK, Body::empty());
    let headers = response.headers_mut();
    headers.insert(name("upload-offset"), HeaderValue::from(info.offset));
    match info.length {
        Some(length) => headers.insert(name("upload-length"), HeaderValue::from(length)),
        None => headers.insert(name("upload-defer-length"), HeaderValue::from_static("1")),
    };
    if !info.metadata.is_empty()
        && let Ok(value) = HeaderValue::from_str(&info.metadata.to_header())
    {
        headers.insert(name("upload-metadata"), value);
    }
    set_expires(headers, info.expires);
    response
}

/// PATCH 204 (§3.8): the new offset, and `Upload-Expires` while incomplete.
/// Also the idempotent repeat of the final PATCH (row 35).
pub fn patched(ctx: &ReplyCtx, offset: u64, expires: Option<DateTime<Utc>>) -> Response<Body> {
    let mut response = common(ctx, StatusCode::NO_CONTENT, Body::empty());
    response.headers_mut().insert(name("upload-offset"), HeaderValue::from(offset));
    set_expires(response.headers_mut(), expires);
    response
}

/// DELETE 204 (§3.10): exactly 204, nothing else.
pub fn terminated(ctx: &ReplyCtx) -> Response<Body> {
    common(ctx, StatusCode::NO_CONTENT, Body::empty())
}
