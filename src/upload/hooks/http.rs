//! `POST /datadrops/webhook/` (spec upload.md §4.1–4.4): tusd's HTTP hooks,
//! v1 (`Hook-Name` header, tusd ≤ 1.13) and v2 (`{"Type", "Event"}`).
//!
//! Off unless `STEWARD_TUSD_HOOKS=on` (404). The caller presents the token of
//! the hook service account (`STEWARD_TUSD_HOOK_ACCOUNT`) as `?token=` in the
//! hook URL, or as `Authorization: Bearer`; anything else → 401.

use std::collections::BTreeMap;

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use serde::Deserialize;
use serde_json::{Value, json};

use super::{Answer, Format, Hook, HookRequest, HookType, HookUpload};
use crate::app::AppState;
use crate::auth::{Caller, PrincipalKind};
use crate::upload::tus::TusError;
use crate::upload::tus::reply::error_body;

/// The largest hook body read.
pub const MAX_BODY_BYTES: usize = 1 << 20;

/// The routes, for the server's HTTP router.
pub fn routes() -> Router<AppState> {
    Router::new().route("/datadrops/webhook/", any(handle)).route("/datadrops/webhook", any(handle))
}

fn text(status: StatusCode, body: impl Into<String>) -> Response {
    (status, [(header::CONTENT_TYPE, "text/plain; charset=utf-8")], body.into()).into_response()
}

async fn handle(State(state): State<AppState>, request: Request) -> Response {
    let settings = &state.config.upload.tusd;
    if !settings.enabled {
        return (StatusCode::NOT_FOUND, axum::Json(json!({"error": "not found"}))).into_response();
    }
    if request.method() != Method::POST {
        let mut response = text(StatusCode::METHOD_NOT_ALLOWED, "tusd hooks are POSTed\n");
        response.headers_mut().insert(header::ALLOW, header::HeaderValue::from_static("POST"));
        return response;
    }
    let (parts, body) = request.into_parts();
    if let Err(refused) = authenticate(&state, parts.uri.query(), &parts.headers).await {
        return refused;
    }
    let bytes = match axum::body::to_bytes(Body::new(body), MAX_BODY_BYTES).await {
        Ok(bytes) => bytes,
        Err(_) => return text(StatusCode::BAD_REQUEST, format!("the hook body is over {MAX_BODY_BYTES} bytes\n")),
    };
    let hook_name = parts.headers.get("hook-name").and_then(|v| v.to_str().ok()).map(str::to_owned);
    let (format, hook) = match read(&bytes, hook_name.as_deref()) {
        Ok(read) => read,
        Err(message) => return text(StatusCode::BAD_REQUEST, format!("{message}\n")),
    };
    match super::handle(&state.uploads, format, hook).await {
        Ok(answer) => match format {
            Format::V1 => v1_answer(&answer),
            _ => axum::Json(v2_answer(&answer)).into_response(),
        },
        // tusd retries a failed hook; the client then gets 500 from tusd.
        Err(_) => text(StatusCode::SERVICE_UNAVAILABLE, "Steward could not handle the hook; retry\n"),
    }
}

/// The hook account's token from `?token=` or `Authorization: Bearer`.
async fn authenticate(state: &AppState, query: Option<&str>, headers: &HeaderMap) -> Result<(), Response> {
    let unauthorized = |why: &str| text(StatusCode::UNAUTHORIZED, format!("{why}\n"));
    let from_query =
        query.into_iter().flat_map(|q| q.split('&')).find_map(|pair| pair.strip_prefix("token=")).map(percent_decode);
    let caller = match from_query {
        Some(token) => state.resolver.resolve_token(&token).await,
        None => state.resolver.resolve(headers).await,
    };
    let account = format!("{}@{}", state.config.upload.tusd.account, crate::auth::ops::SERVICE_ACCOUNT_DOMAIN);
    match caller {
        Caller::Principal(p) if p.kind == PrincipalKind::ServiceAccount && p.email.eq_ignore_ascii_case(&account) => {
            Ok(())
        }
        Caller::Principal(_) => Err(unauthorized("this token does not belong to the tusd hook account")),
        Caller::Anonymous => {
            Err(unauthorized("tusd hooks need the hook account's token: add ?token=<token> to the hook URL"))
        }
        Caller::Refused(_) => Err(unauthorized("the token is not valid")),
    }
}

/// `%XX` decoding for the token in the query (tokens are hex; this is tolerance).
fn percent_decode(value: &str) -> String {
    let bytes = value.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes.get(i + 1..i + 3).and_then(|h| std::str::from_utf8(h).ok());
        if bytes[i] == b'%'
            && let Some(b) = hex.and_then(|h| u8::from_str_radix(h, 16).ok())
        {
            out.push(b);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "PascalCase")]
struct JsonUpload {
    #[serde(rename = "ID")]
    id: String,
    size: i64,
    size_is_deferred: bool,
    offset: i64,
    meta_data: Option<BTreeMap<String, Value>>,
    is_partial: bool,
    is_final: bool,
    storage: Option<BTreeMap<String, Value>>,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "PascalCase")]
struct JsonRequest {
    remote_addr: String,
    header: Option<BTreeMap<String, Value>>,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "PascalCase")]
struct JsonEvent {
    upload: JsonUpload,
    #[serde(rename = "HTTPRequest")]
    http_request: JsonRequest,
}

/// A JSON value as a string (tusd's maps hold strings; numbers are tolerated).
fn string_of(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Null => None,
        other => Some(other.to_string()),
    }
}

fn strings(map: Option<BTreeMap<String, Value>>) -> Option<BTreeMap<String, String>> {
    map.map(|m| m.into_iter().filter_map(|(k, v)| Some((k, string_of(&v)?))).collect())
}

impl JsonEvent {
    fn into_hook(self, kind: HookType) -> Hook {
        let u = self.upload;
        let headers = self
            .http_request
            .header
            .unwrap_or_default()
            .into_iter()
            .filter_map(|(name, value)| {
                // Go's http.Header: each value is an array; the first counts.
                let first = match value {
                    Value::Array(values) => values.first().and_then(string_of),
                    other => string_of(&other),
                };
                Some((name, first?))
            })
            .collect();
        Hook {
            kind,
            upload: HookUpload {
                id: u.id,
                size: (!u.size_is_deferred).then_some(u.size),
                offset: u.offset,
                metadata: strings(u.meta_data).unwrap_or_default(),
                is_partial: u.is_partial,
                is_final: u.is_final,
                storage: strings(u.storage),
            },
            request: HookRequest { remote_addr: self.http_request.remote_addr, headers },
        }
    }
}

/// Recognises the version (§4.2) and reads the payload.
pub fn read(body: &[u8], hook_name: Option<&str>) -> Result<(Format, Hook), String> {
    let value: Value = serde_json::from_slice(body).map_err(|e| format!("the hook body is not JSON: {e}"))?;
    let object = value.as_object().ok_or("the hook body is not a JSON object")?;
    if let Some(kind) = object.get("Type") {
        let kind = kind.as_str().ok_or("\"Type\" must be a string")?;
        let event = object.get("Event").cloned().ok_or("a tusd v2 hook needs \"Event\" beside \"Type\"")?;
        let event: JsonEvent = serde_json::from_value(event).map_err(|e| format!("\"Event\" does not read: {e}"))?;
        return Ok((Format::V2, event.into_hook(HookType::parse(kind))));
    }
    if let Some(name) = hook_name {
        let event: JsonEvent = serde_json::from_value(value).map_err(|e| format!("the v1 hook does not read: {e}"))?;
        return Ok((Format::V1, event.into_hook(HookType::parse(name))));
    }
    Err("not a tusd hook request: no \"Type\" in the body and no Hook-Name header".into())
}

/// The tus refusal as tusd v2's `HTTPResponse`.
fn http_response(err: &TusError) -> Value {
    let mut headers = serde_json::Map::new();
    headers.insert("Content-Type".into(), json!("text/plain; charset=utf-8"));
    if let TusError::TooManyAttempts { retry_after_secs } = err {
        headers.insert("Retry-After".into(), json!(retry_after_secs.to_string()));
    }
    json!({"StatusCode": err.status().as_u16(), "Body": error_body(err), "Header": headers})
}

/// The v2 answer: always 200 JSON (§4.4).
pub fn v2_answer(answer: &Answer) -> Value {
    match answer {
        Answer::Continue => json!({}),
        Answer::Created { id } => json!({"ChangeFileInfo": {"ID": id.to_string()}}),
        Answer::Reject(err) => json!({"RejectUpload": true, "HTTPResponse": http_response(err)}),
        Answer::Stop(err) => json!({"StopUpload": true, "HTTPResponse": http_response(err)}),
        Answer::RejectTermination(err) => json!({"RejectTermination": true, "HTTPResponse": http_response(err)}),
    }
}

/// The v1 answer: 200 `{}`, or the refusal's status with its text (§4.3).
fn v1_answer(answer: &Answer) -> Response {
    match answer {
        Answer::Reject(err) => {
            let mut response = text(err.status(), error_body(err));
            if let TusError::TooManyAttempts { retry_after_secs } = err
                && let Ok(value) = header::HeaderValue::from_str(&retry_after_secs.to_string())
            {
                response.headers_mut().insert(header::RETRY_AFTER, value);
            }
            response
        }
        _ => axum::Json(json!({})).into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_version_is_recognised() {
        let v2 = br#"{"Type":"post-finish","Event":{"Upload":{"ID":"abc","Size":3,"Offset":3,"MetaData":{"dropoff":"x"},"Storage":{"Type":"filestore","Path":"/d/abc"}},"HTTPRequest":{"Method":"PATCH","URI":"/files/abc","RemoteAddr":"192.0.2.1:4000","Header":{"Dropoff-Code":["K7M2Q-9XH4D"]}}},"Future":1}"#;
        let (format, hook) = read(v2, Some("pre-create")).unwrap();
        assert_eq!(format, Format::V2);
        assert_eq!(hook.kind, HookType::PostFinish);
        assert_eq!(hook.upload.size, Some(3));
        assert_eq!(hook.upload.storage.unwrap()["Path"], "/d/abc");
        assert_eq!(hook.request.header("dropoff-code"), Some("K7M2Q-9XH4D"));
        assert_eq!(hook.request.uploader().address, "192.0.2.1");

        // v1 as in tusd's docs: no SizeIsDeferred, no Header.
        let v1 = br#"{"Upload":{"ID":"","Size":10,"Offset":0,"MetaData":{"filename":"a.csv"},"IsPartial":false,"IsFinal":false,"PartialUploads":null,"Storage":null},"HTTPRequest":{"Method":"POST","URI":"/files/","RemoteAddr":"[2001:db8::1]:5000"}}"#;
        let (format, hook) = read(v1, Some("pre-create")).unwrap();
        assert_eq!((format, hook.kind.clone()), (Format::V1, HookType::PreCreate));
        assert!(hook.upload.storage.is_none());
        assert_eq!(hook.request.uploader().address, "2001:db8::1");
        assert!(hook.request.uploader().code.is_none());

        let deferred = br#"{"Type":"pre-create","Event":{"Upload":{"Size":0,"SizeIsDeferred":true}}}"#;
        assert_eq!(read(deferred, None).unwrap().1.upload.size, None);
        assert!(matches!(read(br#"{"Type":"x-new","Event":{}}"#, None).unwrap().1.kind, HookType::Other(_)));
    }

    #[test]
    fn malformed_bodies_are_named() {
        assert!(read(b"{not json", Some("pre-create")).unwrap_err().contains("not JSON"));
        assert!(read(br#"{"Upload":{}}"#, None).unwrap_err().contains("not a tusd hook request"));
        assert!(read(br#"[1]"#, None).unwrap_err().contains("object"));
        assert!(read(br#"{"Type":"pre-create"}"#, None).unwrap_err().contains("Event"));
    }

    #[test]
    fn v2_answers_follow_tusd() {
        let id = uuid::Uuid::nil();
        assert_eq!(v2_answer(&Answer::Created { id })["ChangeFileInfo"]["ID"], id.to_string());
        let rejected = v2_answer(&Answer::Reject(TusError::CodeInvalid));
        assert_eq!(rejected["RejectUpload"], true);
        assert_eq!(rejected["HTTPResponse"]["StatusCode"], 403);
        assert!(rejected["HTTPResponse"]["Body"].as_str().unwrap().starts_with("ERR_DROPOFF_CODE_INVALID: "));
        assert!(rejected.get("ChangeFileInfo").is_none(), "metadata is never replaced");
        let limited = v2_answer(&Answer::Reject(TusError::TooManyAttempts { retry_after_secs: 900 }));
        assert_eq!(limited["HTTPResponse"]["Header"]["Retry-After"], "900");
        assert_eq!(v2_answer(&Answer::Continue), json!({}));
        assert!(v2_answer(&Answer::Created { id }).to_string().len() < 5 * 1024);
    }

    #[test]
    fn query_tokens_are_decoded() {
        assert_eq!(percent_decode("ab%63d"), "abcd");
        assert_eq!(percent_decode("abc%"), "abc%");
        assert_eq!(percent_decode("%zz"), "%zz");
    }
}
