//! Reading a tus request (spec upload.md §3.3–§3.12) into a typed
//! [`Command`], transport-free: the method, the path and the headers decide
//! everything up to and including step 6 of §3.3 (header syntax). Lookup,
//! the code and the upload's state (steps 7–9) need the database and belong
//! to the domain; the values they need travel in the command.

use base64::Engine as _;
use base64::engine::DecodePaddingMode;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
use http::{HeaderMap, HeaderName, HeaderValue, Method};

use super::reply::{ReplyCtx, TusError};
use crate::upload::metadata::Metadata;

/// The one protocol version spoken.
pub const TUS_VERSION: &str = "1.0.0";
/// The extensions advertised on `OPTIONS` (§3.4); concatenation is not among them.
pub const TUS_EXTENSIONS: &str = "creation,creation-with-upload,creation-defer-length,expiration,checksum,termination";
/// The checksum algorithms advertised and accepted.
pub const TUS_CHECKSUM_ALGORITHMS: &str = "sha1,sha256,sha512";
/// The media type of a PATCH body (and of a creation body that is written).
pub const OFFSET_OCTET_STREAM: &str = "application/offset+octet-stream";
/// `Allow` on the creation URL.
pub const ALLOW_COLLECTION: &str = "OPTIONS, POST";
/// `Allow` on an upload URL.
pub const ALLOW_UPLOAD: &str = "OPTIONS, HEAD, PATCH, DELETE";
/// The request header carrying the drop-off's upload code (§3.2).
pub const DROPOFF_CODE: HeaderName = HeaderName::from_static("dropoff-code");

const TUS_RESUMABLE: &str = "tus-resumable";
const UPLOAD_LENGTH: &str = "upload-length";
const UPLOAD_DEFER_LENGTH: &str = "upload-defer-length";
const UPLOAD_OFFSET: &str = "upload-offset";
const UPLOAD_METADATA: &str = "upload-metadata";
const UPLOAD_CONCAT: &str = "upload-concat";
const UPLOAD_CHECKSUM: &str = "upload-checksum";
const METHOD_OVERRIDE: &str = "x-http-method-override";
const REQUEST_ID: &str = "x-request-id";
const ACCESS_CONTROL_REQUEST_METHOD: &str = "access-control-request-method";

/// Longest client request id that is echoed (§3.3).
pub const MAX_REQUEST_ID_LEN: usize = 128;

/// What the tus layer needs from the configuration.
#[derive(Debug, Clone)]
pub struct TusSettings {
    /// `STEWARD_PUBLIC_URL` without a trailing slash; `Location`s start with it.
    pub public_url: String,
    /// Origins allowed to call from a browser, lower-cased, Steward's own included.
    pub allowed_origins: Vec<String>,
    /// `Tus-Max-Size`: `STEWARD_UPLOAD_MAX_FILE_BYTES`.
    pub max_size: u64,
}

impl TusSettings {
    /// The settings from Steward's configuration: the shared CORS list plus
    /// the public URL's own origin (browsers send `Origin` on same-origin POST).
    pub fn from_config(config: &crate::config::Config) -> Self {
        Self::new(&config.public_url, &config.cors_origins, config.upload.max_file_bytes)
    }

    /// Settings from their parts.
    pub fn new(public_url: &str, cors_origins: &[String], max_size: u64) -> Self {
        let public_url = public_url.trim_end_matches('/').to_owned();
        let mut allowed_origins: Vec<String> =
            cors_origins.iter().map(|o| o.trim().trim_end_matches('/').to_ascii_lowercase()).collect();
        allowed_origins.push(origin_of(&public_url).to_ascii_lowercase());
        allowed_origins.sort();
        allowed_origins.dedup();
        Self { public_url, allowed_origins, max_size }
    }

    /// The absolute upload URL of `file_id` (§3.1).
    pub fn location(&self, file_id: &str) -> String {
        format!("{}/files/{file_id}", self.public_url)
    }

    fn origin_allowed(&self, origin: &[u8]) -> bool {
        std::str::from_utf8(origin)
            .is_ok_and(|o| self.allowed_origins.iter().any(|allowed| allowed.eq_ignore_ascii_case(o)))
    }
}

/// `scheme://authority` of a URL.
fn origin_of(url: &str) -> &str {
    let authority_start = url.find("://").map_or(0, |i| i + 3);
    match url[authority_start..].find('/') {
        Some(i) => &url[..authority_start + i],
        None => url,
    }
}

/// The tus methods, after `X-HTTP-Method-Override` (§3.11).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TusMethod {
    Options,
    Post,
    Head,
    Patch,
    Delete,
}

/// What a request addresses (§3.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// `/files/` or `/files`: the creation URL.
    Collection,
    /// `/files/{file_id}`, the id a lowercase hyphenated UUID.
    Upload(String),
    /// Anything else under `/files/` (404).
    Unknown,
}

impl Target {
    /// Classifies a request path.
    pub fn of_path(path: &str) -> Self {
        match path.strip_prefix("/files") {
            Some("" | "/") => Target::Collection,
            Some(rest) => match rest.strip_prefix('/') {
                Some(id) if is_lowercase_uuid(id) => Target::Upload(id.to_owned()),
                _ => Target::Unknown,
            },
            None => Target::Unknown,
        }
    }
}

/// `8-4-4-4-12` lowercase hex digits.
fn is_lowercase_uuid(s: &str) -> bool {
    s.len() == 36
        && s.bytes().enumerate().all(|(i, b)| match i {
            8 | 13 | 18 | 23 => b == b'-',
            _ => b.is_ascii_digit() || (b'a'..=b'f').contains(&b),
        })
}

/// The `Dropoff-Code` header as sent. Never printed: `Debug` is redacted.
#[derive(Clone, PartialEq, Eq)]
pub struct CodeHeader(String);

impl CodeHeader {
    /// The code as typed (normalise it with `UploadCode::parse`; a value that
    /// does not parse is a wrong code, 403).
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for CodeHeader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CodeHeader(<redacted>)")
    }
}

/// A checksum algorithm of the checksum extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChecksumAlgorithm {
    Sha1,
    Sha256,
    Sha512,
}

impl ChecksumAlgorithm {
    /// The digest algorithm to compute it with.
    pub fn digest_algorithm(self) -> &'static ring::digest::Algorithm {
        match self {
            ChecksumAlgorithm::Sha1 => &ring::digest::SHA1_FOR_LEGACY_USE_ONLY,
            ChecksumAlgorithm::Sha256 => &ring::digest::SHA256,
            ChecksumAlgorithm::Sha512 => &ring::digest::SHA512,
        }
    }

    /// Its name in `Upload-Checksum`.
    pub fn name(self) -> &'static str {
        match self {
            ChecksumAlgorithm::Sha1 => "sha1",
            ChecksumAlgorithm::Sha256 => "sha256",
            ChecksumAlgorithm::Sha512 => "sha512",
        }
    }
}

/// An `Upload-Checksum`: the digest the bytes of this one request must have.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checksum {
    pub algorithm: ChecksumAlgorithm,
    pub digest: Vec<u8>,
}

impl Checksum {
    /// Parses `<algorithm> SP <base64 digest>` (§3.8 step 3).
    pub fn parse(value: &[u8]) -> Result<Self, TusError> {
        let value = std::str::from_utf8(value)
            .map_err(|_| TusError::InvalidChecksum("Upload-Checksum is not ASCII".into()))?
            .trim_matches([' ', '\t']);
        let Some((name, digest)) = value.split_once(' ') else {
            return Err(TusError::InvalidChecksum(
                "Upload-Checksum must be '<algorithm> <Base64 digest>', e.g. 'sha1 Kq5sNclPz7QV2+lfQIuc6R7oRu0='"
                    .into(),
            ));
        };
        let algorithm = match name.to_ascii_lowercase().as_str() {
            "sha1" => ChecksumAlgorithm::Sha1,
            "sha256" => ChecksumAlgorithm::Sha256,
            "sha512" => ChecksumAlgorithm::Sha512,
            _ if name.is_empty() || !name.bytes().all(is_tchar) => {
                return Err(TusError::InvalidChecksum("Upload-Checksum names no algorithm".into()));
            }
            _ => return Err(TusError::UnsupportedChecksumAlgorithm(name.chars().take(32).collect())),
        };
        const DIGEST: GeneralPurpose = GeneralPurpose::new(
            &base64::alphabet::STANDARD,
            GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
        );
        let expected_len = algorithm.digest_algorithm().output_len();
        let digest =
            DIGEST.decode(digest.trim_matches([' ', '\t'])).ok().filter(|d| d.len() == expected_len).ok_or_else(
                || {
                    TusError::InvalidChecksum(format!(
                        "the {} digest must be {expected_len} bytes in standard Base64",
                        algorithm.name()
                    ))
                },
            )?;
        Ok(Checksum { algorithm, digest })
    }

    /// Whether `actual` (the digest over exactly this request's bytes) matches.
    pub fn matches(&self, actual: &ring::digest::Digest) -> bool {
        actual.algorithm() == self.algorithm.digest_algorithm() && actual.as_ref() == self.digest.as_slice()
    }
}

/// RFC 9110 `tchar`.
fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// How long the upload is to be, from `Upload-Length` / `Upload-Defer-Length`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UploadLength {
    Known(u64),
    Deferred,
}

/// POST /files/ (§3.5).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreateCommand {
    pub length: UploadLength,
    pub metadata: Metadata,
    /// The `dropoff` key, canonical UUID.
    pub dropoff_id: String,
    pub code: Option<CodeHeader>,
    /// creation-with-upload: whether the body is to be written (its
    /// `Content-Type` is `application/offset+octet-stream`); otherwise it is
    /// never read.
    pub with_body: bool,
    /// `Upload-Checksum` of the creation body (only with a body).
    pub checksum: Option<Checksum>,
    /// `Content-Length`, when sent.
    pub content_length: Option<u64>,
}

/// PATCH /files/{id} (§3.8).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PatchCommand {
    pub file_id: String,
    pub offset: u64,
    /// `Upload-Length` sent on the PATCH (sets a deferred length).
    pub length: Option<u64>,
    pub checksum: Option<Checksum>,
    pub content_length: Option<u64>,
    pub code: Option<CodeHeader>,
}

/// A request that passed §3.3 steps 1–6.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// Discovery or preflight: answered at once, no credentials.
    Options,
    Create(CreateCommand),
    Head {
        file_id: String,
        code: Option<CodeHeader>,
    },
    Patch(PatchCommand),
    Delete {
        file_id: String,
        code: Option<CodeHeader>,
    },
}

/// A request read up to step 6, with what every response to it needs.
#[derive(Debug)]
pub struct Parsed {
    /// Request id, CORS origin, and whether the answer has a body.
    pub ctx: ReplyCtx,
    /// The command, or the first failing step's error.
    pub command: Result<Command, TusError>,
}

/// Reads a request after the processing order of §3.3, steps 1–6.
pub fn parse(settings: &TusSettings, method: &Method, path: &str, headers: &HeaderMap) -> Parsed {
    let request_id = request_id(headers.get(REQUEST_ID));
    let origin = headers.get(http::header::ORIGIN);
    let cors_origin = origin.filter(|o| settings.origin_allowed(o.as_bytes())).cloned();
    let preflight = *method == Method::OPTIONS && headers.contains_key(ACCESS_CONTROL_REQUEST_METHOD);
    let mut ctx = ReplyCtx { request_id, cors_origin, no_body: *method == Method::HEAD, preflight };

    // 1. X-HTTP-Method-Override (never on OPTIONS: that stays a preflight).
    let method = match effective_method(method, headers) {
        Ok(m) => m,
        Err(e) => return Parsed { ctx, command: Err(e) },
    };
    if let Some(m) = method {
        ctx.no_body = m == TusMethod::Head;
    }
    // 2. CORS: a request from a browser on another site is refused before any effect.
    if origin.is_some() && ctx.cors_origin.is_none() {
        return Parsed { ctx, command: Err(TusError::OriginNotAllowed) };
    }
    let command = command(method, path, headers);
    Parsed { ctx, command }
}

fn command(method: Option<TusMethod>, path: &str, headers: &HeaderMap) -> Result<Command, TusError> {
    // 3. OPTIONS.
    if method == Some(TusMethod::Options) {
        return Ok(Command::Options);
    }
    // 4. Tus-Resumable: required on POST/PATCH/DELETE; optional on HEAD (and
    //    on methods refused at step 5), but never a different version.
    let version = single(headers, TUS_RESUMABLE);
    let required = matches!(method, Some(TusMethod::Post | TusMethod::Patch | TusMethod::Delete));
    match version {
        Single::One(v) if v.as_bytes() == TUS_VERSION.as_bytes() => {}
        Single::Absent if !required => {}
        _ => return Err(TusError::UnsupportedVersion),
    }
    // 5. The method for the path.
    let target = Target::of_path(path);
    let file_id = match (&target, method) {
        (Target::Unknown, _) => return Err(TusError::UploadNotFound),
        (Target::Collection, Some(TusMethod::Post)) => None,
        (Target::Collection, _) => return Err(TusError::MethodNotAllowed { allow: ALLOW_COLLECTION }),
        (Target::Upload(id), Some(TusMethod::Head | TusMethod::Patch | TusMethod::Delete)) => Some(id.clone()),
        (Target::Upload(_), _) => return Err(TusError::MethodNotAllowed { allow: ALLOW_UPLOAD }),
    };
    // 6. Header syntax for the method.
    let code = code_header(headers);
    match (method, file_id) {
        (Some(TusMethod::Post), _) => create_command(headers, code).map(Command::Create),
        (Some(TusMethod::Head), Some(file_id)) => Ok(Command::Head { file_id, code }),
        (Some(TusMethod::Delete), Some(file_id)) => Ok(Command::Delete { file_id, code }),
        (Some(TusMethod::Patch), Some(file_id)) => patch_command(headers, file_id, code).map(Command::Patch),
        _ => unreachable!("step 5 admits only these method and path pairs"),
    }
}

/// The tus method: `X-HTTP-Method-Override` if present (any method but
/// OPTIONS), else the real one; `None` for a method tus does not have (GET,
/// PUT, …), refused at step 5.
fn effective_method(real: &Method, headers: &HeaderMap) -> Result<Option<TusMethod>, TusError> {
    if *real == Method::OPTIONS {
        return Ok(Some(TusMethod::Options));
    }
    let from_name = |name: &[u8]| -> Option<TusMethod> {
        Some(match name.to_ascii_uppercase().as_slice() {
            b"POST" => TusMethod::Post,
            b"HEAD" => TusMethod::Head,
            b"PATCH" => TusMethod::Patch,
            b"DELETE" => TusMethod::Delete,
            _ => return None,
        })
    };
    match single(headers, METHOD_OVERRIDE) {
        Single::Absent => Ok(from_name(real.as_str().as_bytes())),
        Single::One(value) => {
            from_name(value.as_bytes()).map(Some).ok_or_else(|| TusError::MethodOverrideNotSupported {
                value: String::from_utf8_lossy(value.as_bytes()).chars().take(32).collect(),
            })
        }
        Single::Repeated => Err(TusError::MethodOverrideNotSupported { value: "(sent more than once)".into() }),
    }
}

fn create_command(headers: &HeaderMap, code: Option<CodeHeader>) -> Result<CreateCommand, TusError> {
    if headers.contains_key(UPLOAD_CONCAT) {
        return Err(TusError::ConcatenationUnsupported);
    }
    let length = match (single(headers, UPLOAD_LENGTH), single(headers, UPLOAD_DEFER_LENGTH)) {
        (Single::Absent, Single::Absent) => {
            return Err(TusError::InvalidUploadLength(
                "send Upload-Length (the file's size in bytes) or Upload-Defer-Length: 1".into(),
            ));
        }
        (Single::Absent, Single::One(v)) if v.as_bytes() == b"1" => UploadLength::Deferred,
        (Single::Absent, _) => return Err(TusError::InvalidUploadLengthDefer),
        (length, Single::Absent) => UploadLength::Known(length_value(length)?),
        _ => return Err(TusError::AmbiguousUploadLength),
    };
    let metadata = match single(headers, UPLOAD_METADATA) {
        Single::Absent => Metadata::default(),
        Single::One(v) => Metadata::parse_header(v.as_bytes()).map_err(|e| TusError::InvalidMetadata(e.to_string()))?,
        Single::Repeated => {
            return Err(TusError::InvalidMetadata("send Upload-Metadata once, with all pairs in one header".into()));
        }
    };
    metadata.expected_sha256().map_err(|e| TusError::InvalidMetadata(e.to_string()))?;
    let dropoff_id =
        metadata.dropoff_id().ok_or(TusError::DropoffRequired { present: metadata.get("dropoff").is_some() })?;
    let with_body = is_offset_octet_stream(headers);
    let checksum = if with_body { checksum(headers)? } else { None };
    Ok(CreateCommand {
        length,
        metadata,
        dropoff_id,
        code,
        with_body,
        checksum,
        content_length: content_length(headers),
    })
}

fn patch_command(headers: &HeaderMap, file_id: String, code: Option<CodeHeader>) -> Result<PatchCommand, TusError> {
    if !is_offset_octet_stream(headers) {
        return Err(TusError::InvalidContentType);
    }
    let offset = decimal(single(headers, UPLOAD_OFFSET)).ok_or(TusError::InvalidOffset)?;
    let checksum = checksum(headers)?;
    let length = match single(headers, UPLOAD_LENGTH) {
        Single::Absent => None,
        other => Some(length_value(other)?),
    };
    Ok(PatchCommand { file_id, offset, length, checksum, content_length: content_length(headers), code })
}

fn length_value(value: Single<'_>) -> Result<u64, TusError> {
    decimal(value).ok_or_else(|| {
        TusError::InvalidUploadLength(
            "Upload-Length must be sent once, as 1 to 19 decimal digits up to 9223372036854775807".into(),
        )
    })
}

fn checksum(headers: &HeaderMap) -> Result<Option<Checksum>, TusError> {
    match single(headers, UPLOAD_CHECKSUM) {
        Single::Absent => Ok(None),
        Single::One(v) => Checksum::parse(v.as_bytes()).map(Some),
        Single::Repeated => Err(TusError::InvalidChecksum("send Upload-Checksum once".into())),
    }
}

/// Whether `Content-Type`'s media type is `application/offset+octet-stream`
/// (case-insensitive, parameters not considered).
fn is_offset_octet_stream(headers: &HeaderMap) -> bool {
    let Single::One(value) = single(headers, http::header::CONTENT_TYPE.as_str()) else {
        return false;
    };
    let media_type = value.as_bytes().split(|b| *b == b';').next().unwrap_or_default();
    std::str::from_utf8(media_type).is_ok_and(|t| t.trim().eq_ignore_ascii_case(OFFSET_OCTET_STREAM))
}

fn content_length(headers: &HeaderMap) -> Option<u64> {
    decimal(single(headers, http::header::CONTENT_LENGTH.as_str()))
}

fn code_header(headers: &HeaderMap) -> Option<CodeHeader> {
    let mut values = headers.get_all(DROPOFF_CODE).iter().peekable();
    values.peek()?;
    // Repeated headers are joined with ',', which no code contains: a wrong code.
    let joined: Vec<String> = values.map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned()).collect();
    Some(CodeHeader(joined.join(",")))
}

/// A header that must appear at most once.
enum Single<'a> {
    Absent,
    One(&'a HeaderValue),
    Repeated,
}

fn single<'a>(headers: &'a HeaderMap, name: &str) -> Single<'a> {
    let mut values = headers.get_all(name).iter();
    match (values.next(), values.next()) {
        (None, _) => Single::Absent,
        (Some(v), None) => Single::One(v),
        (Some(_), Some(_)) => Single::Repeated,
    }
}

/// 1–19 decimal digits, no sign or spaces, at most 2^63−1; sent once.
fn decimal(value: Single<'_>) -> Option<u64> {
    let Single::One(value) = value else {
        return None;
    };
    let digits = value.as_bytes();
    if digits.is_empty() || digits.len() > 19 || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(digits).ok()?.parse::<u64>().ok().filter(|n| *n <= i64::MAX as u64)
}

/// The client's `X-Request-ID` if it is a token of at most 128 characters,
/// else a fresh random one.
pub fn request_id(sent: Option<&HeaderValue>) -> HeaderValue {
    sent.filter(|v| !v.is_empty() && v.len() <= MAX_REQUEST_ID_LEN && v.as_bytes().iter().all(|b| is_tchar(*b)))
        .cloned()
        .unwrap_or_else(|| {
            let mut bytes = [0u8; 16];
            // Only uniqueness matters; a failed generator leaves zeros, still a valid id.
            let _ = ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut bytes);
            let hex = crate::auth::token::hex(&bytes);
            HeaderValue::from_str(&hex).expect("hex is a valid header value")
        })
}

/// The size decision made from headers alone, before any body byte is read,
/// so that a client sending `Expect: 100-continue` gets its 413 without
/// sending the body (§3.5 step 8, §3.8 step 9). `length` is the upload's
/// length (`None` while deferred); `limit` is the file limit that applies
/// (min of the drop-off's and the global `max_file_bytes`).
pub fn check_declared_size(
    offset: u64,
    content_length: Option<u64>,
    length: Option<u64>,
    limit: u64,
) -> Result<(), TusError> {
    if let Some(length) = length
        && length > limit
    {
        return Err(too_large(limit));
    }
    let Some(body) = content_length else {
        return Ok(());
    };
    let end = offset.saturating_add(body);
    match length {
        Some(length) if end > length => Err(TusError::UploadSizeExceeded),
        None if end > limit => Err(too_large(limit)),
        _ => Ok(()),
    }
}

fn too_large(limit: u64) -> TusError {
    TusError::MaxSizeExceeded(format!("the file is larger than this drop-off accepts ({limit} bytes at most)"))
}
