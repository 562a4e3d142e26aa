//! portability-server's REST surface (spec §2.1–§2.7), byte for byte: reading
//! the legacy requests (JSON, URL-encoded and multipart create bodies; path
//! and query values as the strings sent) and rendering the compat JSON —
//! the donation object in upstream's key order, the two data shapes, and
//! DRF's error bodies — with the HTTP status each answer needs. The gRPC
//! handlers wrap a [`Reply`] in `google.api.HttpBody` and put its status in
//! the `x-steward-http-status` header for Envoy's Lua filter to apply.
//!
//! Also the plain HTTP answers for methods the routes do not have (405 with
//! DRF's body), which Envoy passes through to Steward.

use std::sync::Arc;

use axum::Router;
use axum::extract::Request;
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use chrono::{DateTime, Utc};
use serde::Serialize;

use super::error::DonationError;
use super::model::{self, Donation, FieldErrors, NON_FIELD_ERRORS, RawCreate};
use super::ops::{DataPage, DataQuery};
use crate::app::AppState;
use crate::auth::{AuthError, Caller, Principal};
use crate::proto::google::api::HttpBody;

/// The response header carrying the intended HTTP status.
pub const STATUS_HEADER: &str = "x-steward-http-status";
/// Set on a list capped at `STEWARD_LEGACY_LIST_MAX`.
pub const TRUNCATED_HEADER: &str = "x-steward-truncated";
/// The content type of every compat body.
pub const CONTENT_TYPE: &str = "application/json; charset=utf-8";
/// Largest create body (spec §2.3).
pub const MAX_BODY_BYTES: usize = 64 * 1024;
/// `limit` when the query names none.
pub const DEFAULT_LIMIT: i64 = 1000;

const NOT_FOUND: &str = "No Donation matches the given query.";
const NOT_PROVIDED: &str = "Authentication credentials were not provided.";
const BAD_HEADER: &str = "Invalid token header.";
const BAD_TOKEN: &str = "Invalid token.";
const DENIED: &str = "You do not have permission to perform this action.";
const UNAVAILABLE: &str = "Service temporarily unavailable, try again later.";

/// A compat answer: HTTP status, exact body, and whether a list was capped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub status: u16,
    pub body: Vec<u8>,
    pub truncated: bool,
}

impl Reply {
    /// `status` with `body`.
    pub fn new(status: u16, body: Vec<u8>) -> Reply {
        Reply { status, body: escape_line_separators(body), truncated: false }
    }

    /// DRF's `{"detail": "…"}`.
    pub fn detail(status: u16, message: &str) -> Reply {
        #[derive(Serialize)]
        struct Detail<'a> {
            detail: &'a str,
        }
        Reply::new(status, to_json(&Detail { detail: message }))
    }

    /// 204 without a body.
    pub fn no_content() -> Reply {
        Reply { status: 204, body: Vec::new(), truncated: false }
    }

    /// The body as the legacy RPCs return it.
    pub fn http_body(&self) -> HttpBody {
        HttpBody { content_type: CONTENT_TYPE.into(), data: self.body.clone(), extensions: Vec::new() }
    }

    /// A tonic response carrying `message` and this reply's status headers.
    pub fn into_response<T>(self, wrap: impl FnOnce(HttpBody) -> T) -> tonic::Response<T> {
        let mut response = tonic::Response::new(wrap(self.http_body()));
        let metadata = response.metadata_mut();
        metadata.insert(STATUS_HEADER, self.status.to_string().parse().expect("digits are valid metadata"));
        if self.truncated {
            metadata.insert(TRUNCATED_HEADER, tonic::metadata::MetadataValue::from_static("true"));
        }
        response
    }
}

fn to_json(value: &impl Serialize) -> Vec<u8> {
    serde_json::to_vec(value).expect("compat documents always serialize")
}

/// DRF's JSON renderer escapes U+2028 and U+2029 (invalid in JavaScript strings).
fn escape_line_separators(body: Vec<u8>) -> Vec<u8> {
    // Both encode as E2 80 A8 / E2 80 A9 in UTF-8.
    if !body.windows(3).any(|w| w[0] == 0xE2 && w[1] == 0x80 && (w[2] == 0xA8 || w[2] == 0xA9)) {
        return body;
    }
    String::from_utf8(body)
        .map(|s| s.replace('\u{2028}', "\\u2028").replace('\u{2029}', "\\u2029").into_bytes())
        .unwrap_or_else(|e| e.into_bytes())
}

// --- credentials -------------------------------------------------------------

/// The caller of a legacy route, or DRF's 403 (503 when credentials cannot be
/// checked). The keyword is `Token` or `Bearer` (any case) with exactly one
/// value; another keyword is "not provided", as DRF's TokenAuthentication
/// ignores it.
pub fn principal(authorization: Option<&str>, caller: &Caller) -> Result<Arc<Principal>, Reply> {
    if let Some(value) = authorization {
        let parts: Vec<&str> = value.split_whitespace().collect();
        let keyword_ok =
            parts.first().is_some_and(|k| k.eq_ignore_ascii_case("token") || k.eq_ignore_ascii_case("bearer"));
        if !keyword_ok {
            return Err(Reply::detail(403, NOT_PROVIDED));
        }
        if parts.len() != 2 {
            return Err(Reply::detail(403, BAD_HEADER));
        }
    }
    match caller {
        Caller::Principal(p) => Ok(p.clone()),
        Caller::Anonymous => Err(Reply::detail(403, NOT_PROVIDED)),
        Caller::Refused(AuthError::Unavailable) => Err(Reply::detail(503, UNAVAILABLE)),
        Caller::Refused(_) => Err(Reply::detail(403, BAD_TOKEN)),
    }
}

/// 403 "You do not have permission to perform this action."
pub fn denied() -> Reply {
    Reply::detail(403, DENIED)
}

/// The compat answer for a failed operation. Internal failures are logged
/// once here with the request id the body names.
pub fn error(err: DonationError, request_id: &str) -> Reply {
    match err {
        DonationError::Invalid(errors) => field_errors(&errors),
        DonationError::Unauthenticated(_) => Reply::detail(403, BAD_TOKEN),
        DonationError::NotFound => not_found(),
        DonationError::PermissionDenied => denied(),
        DonationError::RequestIdUsed => Reply::detail(409, &DonationError::RequestIdUsed.to_string()),
        DonationError::Unavailable => Reply::detail(503, UNAVAILABLE),
        DonationError::Internal(e) => {
            tracing::error!(error = %format!("{e:#}"), request_id, "internal error on a legacy donation route");
            Reply::detail(500, &format!("A server error occurred. Reference: {request_id}"))
        }
    }
}

/// 404 "No Donation matches the given query."
pub fn not_found() -> Reply {
    Reply::detail(404, NOT_FOUND)
}

/// 400 `{"field": ["message", …], …}` in field order.
pub fn field_errors(errors: &FieldErrors) -> Reply {
    struct Body<'a>(&'a FieldErrors);
    impl Serialize for Body<'_> {
        fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
            use serde::ser::SerializeMap as _;
            let mut map = serializer.serialize_map(None)?;
            for (field, messages) in self.0.iter() {
                map.serialize_entry(field, messages)?;
            }
            map.end()
        }
    }
    Reply::new(400, to_json(&Body(errors)))
}

/// A path id: digits only (as Django's `<pk>` lookup would find), else none.
pub fn parse_id(id: &str) -> Option<i32> {
    if id.is_empty() || !id.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    id.parse().ok().filter(|id| *id > 0)
}

// --- the donation object ---------------------------------------------------

/// Upstream's `DonationSerializer` fields, then Steward's flat additions (spec §2.2).
#[derive(Serialize)]
struct CompatDonation<'a> {
    id: i32,
    token: Option<&'a str>,
    source_type: &'static str,
    status: &'static str,
    created_at: String,
    data_start_date: Option<String>,
    data_end_date: Option<String>,
    requested_data_types: &'a [String],
    donation_url: Option<String>,
    dataset: Option<&'a str>,
    description: &'a str,
    stage: &'static str,
    error_code: Option<&'a str>,
    error_message: Option<&'a str>,
    updated_at: String,
}

/// RFC 3339 UTC with microseconds and `Z`, as DRF renders `created_at`.
pub fn timestamp(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
}

fn compat<'a>(d: &'a Donation, link: Option<(&'a str, String)>) -> CompatDonation<'a> {
    let (token, donation_url) = match link {
        Some((token, url)) => (Some(token), Some(url)),
        None => (None, None),
    };
    CompatDonation {
        id: d.id,
        token,
        source_type: d.source.as_str(),
        status: d.status.as_str(),
        created_at: timestamp(d.created_at),
        data_start_date: d.data_start_date.map(model::format_date),
        data_end_date: d.data_end_date.map(model::format_date),
        requested_data_types: &d.requested_data_types,
        donation_url,
        dataset: d.dataset.as_deref(),
        description: &d.description,
        stage: d.stage.as_str(),
        error_code: d.error_code.as_deref(),
        error_message: d.error_message.as_deref(),
        updated_at: timestamp(d.updated_at),
    }
}

/// `<public URL>/donate/<token>/`.
pub fn donation_url(public_url: &str, token: &str) -> String {
    format!("{}/donate/{token}/", public_url.trim_end_matches('/'))
}

/// 201 with the new donation, its token and link (spec §2.3).
pub fn created(d: &Donation, token: &str, public_url: &str) -> Reply {
    Reply::new(201, to_json(&compat(d, Some((token, donation_url(public_url, token))))))
}

/// 200 with one donation (no token, no link).
pub fn donation(d: &Donation) -> Reply {
    Reply::new(200, to_json(&compat(d, None)))
}

/// 200 with a bare array of donations; `truncated` sets `X-Steward-Truncated`.
pub fn donations(list: &[Donation], truncated: bool) -> Reply {
    let items: Vec<CompatDonation<'_>> = list.iter().map(|d| compat(d, None)).collect();
    Reply { truncated, ..Reply::new(200, to_json(&items)) }
}

/// 200 `{"data_types": […]}`.
pub fn data_types(types: &[&str]) -> Reply {
    #[derive(Serialize)]
    struct Body<'a> {
        data_types: &'a [&'a str],
    }
    Reply::new(200, to_json(&Body { data_types: types }))
}

/// 200 `{"count": n, "data": [rows]}`, each row's stored JSON spliced in as is.
pub fn data(page: &DataPage) -> Reply {
    let size: usize = page.rows.iter().map(|r| r.len() + 1).sum();
    let mut body = Vec::with_capacity(size + 32);
    body.extend_from_slice(b"{\"count\":");
    body.extend_from_slice(page.count.to_string().as_bytes());
    body.extend_from_slice(b",\"data\":[");
    for (i, row) in page.rows.iter().enumerate() {
        if i > 0 {
            body.push(b',');
        }
        body.extend_from_slice(row.as_bytes());
    }
    body.extend_from_slice(b"]}");
    Reply::new(200, body)
}

// --- the create body -----------------------------------------------------------

/// The fields of a create body, plus errors only the wire format can cause
/// (a list sent as a string). Refusals of the body as a whole are a [`Reply`].
pub fn create_body(body: Option<&HttpBody>) -> Result<(RawCreate, FieldErrors), Reply> {
    let (content_type, data) = body.map_or(("", &[][..]), |b| (b.content_type.trim(), b.data.as_slice()));
    if data.len() > MAX_BODY_BYTES {
        return Err(Reply::detail(400, "Request body too large."));
    }
    // DRF reads an empty body (or one without a content type) as no data.
    if data.is_empty() || content_type.is_empty() {
        return Ok((RawCreate::default(), FieldErrors::default()));
    }
    let media_type = content_type.split(';').next().unwrap_or_default().trim().to_ascii_lowercase();
    match media_type.as_str() {
        "application/json" => json_fields(data),
        "application/x-www-form-urlencoded" => {
            let text = String::from_utf8_lossy(data);
            Ok((form_fields(&crate::http::form_pairs(&text)), FieldErrors::default()))
        }
        "multipart/form-data" => {
            let pairs = parse_multipart(content_type, data)
                .map_err(|e| Reply::detail(400, &format!("Multipart form parse error - {e}")))?;
            Ok((form_fields(&pairs), FieldErrors::default()))
        }
        _ => Err(Reply::detail(415, &format!("Unsupported media type \"{content_type}\" in request."))),
    }
}

/// Python's name for a JSON value's type, as DRF's messages print it.
fn python_type(value: &serde_json::Value) -> &'static str {
    use serde_json::Value;
    match value {
        Value::Null => "NoneType",
        Value::Bool(_) => "bool",
        Value::Number(n) if n.is_f64() => "float",
        Value::Number(_) => "int",
        Value::String(_) => "str",
        Value::Array(_) => "list",
        Value::Object(_) => "dict",
    }
}

/// A JSON scalar as the text DRF's fields would see (`str(value)`).
fn text(value: &serde_json::Value) -> String {
    use serde_json::Value;
    match value {
        Value::String(s) => s.clone(),
        Value::Bool(true) => "True".into(),
        Value::Bool(false) => "False".into(),
        other => other.to_string(),
    }
}

fn json_fields(data: &[u8]) -> Result<(RawCreate, FieldErrors), Reply> {
    use serde_json::Value;
    let value: Value =
        serde_json::from_slice(data).map_err(|e| Reply::detail(400, &format!("JSON parse error - {e}")))?;
    let Value::Object(object) = value else {
        let message = format!("Invalid data. Expected a dictionary, but got {}.", python_type(&value));
        return Err(field_errors(&FieldErrors::one(NON_FIELD_ERRORS, message)));
    };
    let mut errors = FieldErrors::default();
    // Absent, null and "" mean "not given" for the optional fields.
    let optional = |name: &str| object.get(name).filter(|v| !v.is_null()).map(text).filter(|s| !s.is_empty());
    let requested_data_types = match object.get("requested_data_types") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(items)) => items.iter().map(text).collect(),
        Some(other) => {
            errors.add(
                "requested_data_types",
                format!("Expected a list of items but got type \"{}\".", python_type(other)),
            );
            Vec::new()
        }
    };
    let raw = RawCreate {
        source_type: object.get("source_type").filter(|v| !v.is_null()).map(text),
        data_start_date: optional("data_start_date"),
        data_end_date: optional("data_end_date"),
        requested_data_types,
        dataset: optional("dataset"),
        description: optional("description").unwrap_or_default(),
        request_id: optional("request_id"),
    };
    Ok((raw, errors))
}

/// Form fields (URL-encoded or multipart) as DRF's `QueryDict` reads them:
/// the last value of a key wins; the list is the repeated key's values, or
/// the numbered keys `requested_data_types[0]`, `[1]`, … in index order.
fn form_fields(pairs: &[(String, String)]) -> RawCreate {
    let last = |name: &str| pairs.iter().rev().find(|(k, _)| k == name).map(|(_, v)| v.clone());
    let optional = |name: &str| last(name).filter(|v| !v.is_empty());
    let mut types: Vec<String> =
        pairs.iter().filter(|(k, _)| k == "requested_data_types").map(|(_, v)| v.clone()).collect();
    if types.is_empty() {
        let mut numbered: Vec<(u64, String)> = pairs
            .iter()
            .filter_map(|(k, v)| {
                let index = k.strip_prefix("requested_data_types[")?.strip_suffix(']')?;
                Some((index.parse().ok()?, v.clone()))
            })
            .collect();
        numbered.sort_by_key(|(i, _)| *i);
        types = numbered.into_iter().map(|(_, v)| v).collect();
    }
    types.retain(|t| !t.is_empty());
    RawCreate {
        source_type: last("source_type"),
        data_start_date: optional("data_start_date"),
        data_end_date: optional("data_end_date"),
        requested_data_types: types,
        dataset: optional("dataset"),
        description: last("description").unwrap_or_default(),
        request_id: optional("request_id"),
    }
}

/// The text fields of a `multipart/form-data` body (file parts are not
/// fields, as in Django). The error says what is malformed.
pub fn parse_multipart(content_type: &str, data: &[u8]) -> Result<Vec<(String, String)>, String> {
    let boundary = content_type
        .split(';')
        .skip(1)
        .filter_map(|p| p.trim().split_once('='))
        .find(|(k, _)| k.trim().eq_ignore_ascii_case("boundary"))
        .map(|(_, v)| v.trim().trim_matches('"').to_owned())
        .filter(|b| !b.is_empty() && b.len() <= 200)
        .ok_or_else(|| format!("Invalid boundary in multipart: {}", "None"))?;
    let delimiter = format!("--{boundary}").into_bytes();
    let mut fields = Vec::new();
    let mut rest = match find(data, &delimiter) {
        Some(at) => &data[at + delimiter.len()..],
        None => return Err("no opening boundary".into()),
    };
    loop {
        if rest.starts_with(b"--") {
            return Ok(fields);
        }
        rest = rest.strip_prefix(b"\r\n").ok_or("malformed boundary line")?;
        let next = find(rest, &[b"\r\n".as_slice(), &delimiter].concat()).ok_or("missing closing boundary")?;
        let part = &rest[..next];
        rest = &rest[next + 2 + delimiter.len()..];
        let split = find(part, b"\r\n\r\n").ok_or("a part without headers")?;
        let (headers, value) = (&part[..split], &part[split + 4..]);
        let headers = String::from_utf8_lossy(headers);
        let disposition = headers
            .split("\r\n")
            .filter_map(|line| line.split_once(':'))
            .find(|(name, _)| name.trim().eq_ignore_ascii_case("content-disposition"))
            .map(|(_, v)| v.to_owned())
            .ok_or("a part without Content-Disposition")?;
        let params: Vec<(String, String)> = disposition
            .split(';')
            .skip(1)
            .filter_map(|p| p.trim().split_once('='))
            .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().trim_matches('"').to_owned()))
            .collect();
        let is_file = params.iter().any(|(k, _)| k == "filename");
        let name = params.iter().find(|(k, _)| k == "name").map(|(_, v)| v.clone());
        if let (Some(name), false) = (name, is_file) {
            fields.push((name, String::from_utf8_lossy(value).into_owned()));
        }
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

// --- the data query ------------------------------------------------------------

/// The data route's query values, as sent.
#[derive(Debug, Clone, Copy)]
pub struct QueryParams<'a> {
    pub data_type: &'a str,
    pub start_date: &'a str,
    pub end_date: &'a str,
    pub limit: &'a str,
    pub offset: &'a str,
}

/// `None` for form 1 (no `data_type`); else the validated query, or DRF's
/// errors for the parameters (spec §2.7). Empty values count as absent.
pub fn data_query(params: QueryParams<'_>, max_limit: u32) -> Result<Option<DataQuery>, FieldErrors> {
    if params.data_type.is_empty() {
        return Ok(None);
    }
    let mut errors = FieldErrors::default();
    let start = model::filter_date(&mut errors, "start_date", params.start_date);
    let end = model::filter_date(&mut errors, "end_date", params.end_date);
    let limit = integer(&mut errors, "limit", params.limit, DEFAULT_LIMIT, Some(i64::from(max_limit)));
    let offset = integer(&mut errors, "offset", params.offset, 0, None);
    if !errors.is_empty() {
        return Err(errors);
    }
    model::check_date_order(start, end)?;
    Ok(Some(DataQuery { data_type: params.data_type.to_owned(), start, end, limit, offset, seek: None }))
}

/// An integer as DRF's `IntegerField` reads it (surrounding space and a
/// `.0` suffix allowed), at least 0 and at most `max`.
fn integer(errors: &mut FieldErrors, field: &str, value: &str, default: i64, max: Option<i64>) -> i64 {
    if value.is_empty() {
        return default;
    }
    let trimmed = value.trim();
    let trimmed = match trimmed.find('.') {
        Some(dot) if trimmed[dot + 1..].bytes().all(|b| b == b'0') => &trimmed[..dot],
        _ => trimmed,
    };
    let (negative, digits) = match trimmed.strip_prefix('-') {
        Some(d) => (true, d),
        None => (false, trimmed.strip_prefix('+').unwrap_or(trimmed)),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        errors.add(field, "A valid integer is required.");
        return default;
    }
    let all_zero = digits.bytes().all(|b| b == b'0');
    if negative && !all_zero {
        errors.add(field, "Ensure this value is greater than or equal to 0.");
        return default;
    }
    // Beyond i64 only matters as "too large" (or, for offset, "past the end").
    let n = digits.parse::<i64>().unwrap_or(i64::MAX);
    if let Some(max) = max
        && n > max
    {
        errors.add(field, format!("Ensure this value is less than or equal to {max}."));
        return default;
    }
    n
}

// --- 405 for methods the routes do not have --------------------------------------

/// The methods each legacy path serves (through Envoy's transcoder), for `Allow`.
fn allowed(path: &str) -> &'static str {
    let rest = path.trim_start_matches("/api/donations").trim_matches('/');
    if rest.is_empty() {
        "GET, POST, HEAD, OPTIONS"
    } else if rest.ends_with("data") {
        "GET, HEAD, OPTIONS"
    } else {
        "GET, DELETE, HEAD, OPTIONS"
    }
}

/// Steward's answers on the legacy paths for requests the transcoder did not
/// take (spec §2.1): after DRF's credential check, 405 with DRF's body.
pub fn routes() -> Router<AppState> {
    let paths = [
        "/api/donations",
        "/api/donations/",
        "/api/donations/{id}",
        "/api/donations/{id}/",
        "/api/donations/{id}/data",
        "/api/donations/{id}/data/",
    ];
    paths.into_iter().fold(Router::new(), |router, path| router.route(path, any(method_not_allowed)))
}

async fn method_not_allowed(request: Request) -> Response {
    let caller = request.extensions().get::<Caller>().cloned().unwrap_or(Caller::Anonymous);
    let headers: &HeaderMap = request.headers();
    let authorization = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok());
    let method: &Method = request.method();
    let reply = match principal(authorization, &caller) {
        Err(reply) => reply,
        Ok(_) => Reply::detail(405, &format!("Method \"{method}\" not allowed.")),
    };
    let status = StatusCode::from_u16(reply.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut response = (status, [(header::CONTENT_TYPE, CONTENT_TYPE)], reply.body).into_response();
    if status == StatusCode::METHOD_NOT_ALLOWED
        && let Ok(value) = allowed(request.uri().path()).parse()
    {
        response.headers_mut().insert(header::ALLOW, value);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(content_type: &str, data: &[u8]) -> HttpBody {
        HttpBody { content_type: content_type.into(), data: data.to_vec(), extensions: Vec::new() }
    }

    fn text_of(reply: &Reply) -> &str {
        std::str::from_utf8(&reply.body).unwrap()
    }

    #[test]
    fn credentials_follow_drf() {
        let anonymous = Caller::Anonymous;
        let refused = Caller::Refused(AuthError::Invalid);
        let detail = |r: Result<Arc<Principal>, Reply>| String::from_utf8(r.unwrap_err().body).unwrap();
        assert_eq!(
            detail(principal(None, &anonymous)),
            r#"{"detail":"Authentication credentials were not provided."}"#
        );
        assert_eq!(
            detail(principal(Some("Basic abc"), &refused)),
            r#"{"detail":"Authentication credentials were not provided."}"#
        );
        assert_eq!(detail(principal(Some("Token"), &refused)), r#"{"detail":"Invalid token header."}"#);
        assert_eq!(detail(principal(Some("Token a b"), &refused)), r#"{"detail":"Invalid token header."}"#);
        assert_eq!(detail(principal(Some("token abc"), &refused)), r#"{"detail":"Invalid token."}"#);
        assert_eq!(principal(None, &Caller::Refused(AuthError::Unavailable)).unwrap_err().status, 503);
    }

    #[test]
    fn ids_are_positive_decimal_integers() {
        assert_eq!(parse_id("42"), Some(42));
        assert_eq!(parse_id("0042"), Some(42));
        for bad in ["", "abc", "-1", "0", "4 2", "99999999999", "4.0"] {
            assert_eq!(parse_id(bad), None, "{bad}");
        }
    }

    #[test]
    fn json_bodies_map_to_fields_with_drf_type_errors() {
        let (raw, errors) = create_body(Some(&body(
            "application/json",
            br#"{"source_type":"google_portability","requested_data_types":"search","data_end_date":null,"x":1}"#,
        )))
        .unwrap();
        assert_eq!(raw.source_type.as_deref(), Some("google_portability"));
        assert_eq!(raw.data_end_date, None);
        assert_eq!(
            text_of(&field_errors(&errors)),
            r#"{"requested_data_types":["Expected a list of items but got type \"str\"."]}"#
        );
        let array = create_body(Some(&body("application/json", b"[1]"))).unwrap_err();
        assert_eq!(text_of(&array), r#"{"non_field_errors":["Invalid data. Expected a dictionary, but got list."]}"#);
        let broken = create_body(Some(&body("application/json; charset=utf-8", b"{"))).unwrap_err();
        assert!(text_of(&broken).starts_with(r#"{"detail":"JSON parse error - "#), "{}", text_of(&broken));
        let plain = create_body(Some(&body("text/plain", b"hi"))).unwrap_err();
        assert_eq!(
            (plain.status, text_of(&plain)),
            (415, r#"{"detail":"Unsupported media type \"text/plain\" in request."}"#)
        );
        let large = create_body(Some(&body("application/json", &vec![b' '; MAX_BODY_BYTES + 1]))).unwrap_err();
        assert_eq!((large.status, text_of(&large)), (400, r#"{"detail":"Request body too large."}"#));
        let (empty, errors) = create_body(None).unwrap();
        assert!(empty.source_type.is_none() && errors.is_empty());
    }

    #[test]
    fn form_bodies_build_lists_from_repeated_or_numbered_keys() {
        let repeated = "source_type=google_portability&requested_data_types=search&requested_data_types=youtube_history&description=a+b%21";
        let (raw, _) = create_body(Some(&body("application/x-www-form-urlencoded", repeated.as_bytes()))).unwrap();
        assert_eq!(raw.requested_data_types, ["search", "youtube_history"]);
        assert_eq!(raw.description, "a b!");
        let numbered = "requested_data_types%5B1%5D=youtube_history&requested_data_types%5B0%5D=search&source_type=x&source_type=google_portability";
        let (raw, _) = create_body(Some(&body("application/x-www-form-urlencoded", numbered.as_bytes()))).unwrap();
        assert_eq!(raw.requested_data_types, ["search", "youtube_history"]);
        assert_eq!(raw.source_type.as_deref(), Some("google_portability"), "the last value wins");
    }

    #[test]
    fn multipart_bodies_read_text_fields_and_skip_files() {
        let data = b"--XyZ\r\nContent-Disposition: form-data; name=\"source_type\"\r\n\r\ngoogle_portability\r\n\
--XyZ\r\nContent-Disposition: form-data; name=\"requested_data_types\"\r\n\r\nsearch\r\n\
--XyZ\r\nContent-Disposition: form-data; name=\"upload\"; filename=\"a.txt\"\r\nContent-Type: text/plain\r\n\r\nfile\r\n\
--XyZ--\r\n";
        let (raw, _) = create_body(Some(&body("multipart/form-data; boundary=XyZ", data))).unwrap();
        assert_eq!(raw.source_type.as_deref(), Some("google_portability"));
        assert_eq!(raw.requested_data_types, ["search"]);
        let bad = create_body(Some(&body("multipart/form-data", data))).unwrap_err();
        assert!(text_of(&bad).starts_with(r#"{"detail":"Multipart form parse error - "#));
        assert!(
            parse_multipart(
                "multipart/form-data; boundary=XyZ",
                b"--XyZ\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nx"
            )
            .is_err()
        );
    }

    #[test]
    fn query_parameters_follow_drf() {
        let params = |limit: &'static str, offset: &'static str| QueryParams {
            data_type: "search",
            start_date: "",
            end_date: "",
            limit,
            offset,
        };
        let q = data_query(params("", ""), 10_000).unwrap().unwrap();
        assert_eq!((q.limit, q.offset), (1000, 0));
        assert_eq!(data_query(params(" 5.0 ", "+3"), 10_000).unwrap().unwrap().limit, 5);
        let message =
            |limit, offset| text_of(&field_errors(&data_query(params(limit, offset), 10_000).unwrap_err())).to_owned();
        assert_eq!(message("abc", "0"), r#"{"limit":["A valid integer is required."]}"#);
        assert_eq!(message("-1", "0"), r#"{"limit":["Ensure this value is greater than or equal to 0."]}"#);
        assert_eq!(message("10001", "0"), r#"{"limit":["Ensure this value is less than or equal to 10000."]}"#);
        assert_eq!(message("1", "-1"), r#"{"offset":["Ensure this value is greater than or equal to 0."]}"#);
        assert_eq!(data_query(params("", "99999999999999999999999"), 10).unwrap().unwrap().offset, i64::MAX);
        let window = QueryParams { start_date: "2023-06-16", end_date: "2023-06-15", ..params("", "") };
        assert_eq!(
            text_of(&field_errors(&data_query(window, 10).unwrap_err())),
            r#"{"non_field_errors":["start_date must not be after end_date."]}"#
        );
        let bad_date = QueryParams { start_date: "2023/06/16", ..params("", "") };
        assert_eq!(
            text_of(&field_errors(&data_query(bad_date, 10).unwrap_err())),
            r#"{"start_date":["Date has wrong format. Use one of these formats instead: YYYY-MM-DD."]}"#
        );
        assert!(data_query(QueryParams { data_type: "", ..params("abc", "") }, 10).unwrap().is_none());
    }

    #[test]
    fn data_bodies_splice_rows_and_line_separators_are_escaped() {
        let page = DataPage { count: 3, rows: vec![r#"{"a":"x"}"#.into(), r#"{"a":null}"#.into()], next: None };
        assert_eq!(text_of(&data(&page)), r#"{"count":3,"data":[{"a":"x"},{"a":null}]}"#);
        assert_eq!(text_of(&data(&DataPage::default())), r#"{"count":0,"data":[]}"#);
        assert_eq!(text_of(&Reply::detail(400, "a\u{2028}b")), r#"{"detail":"a\u2028b"}"#);
        assert_eq!(allowed("/api/donations/"), "GET, POST, HEAD, OPTIONS");
        assert_eq!(allowed("/api/donations/4/data/"), "GET, HEAD, OPTIONS");
        assert_eq!(allowed("/api/donations/4"), "GET, DELETE, HEAD, OPTIONS");
    }
}
