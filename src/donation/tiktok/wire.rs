//! TikTok's wire formats (spec §4.4): the token answers (flat, or nested
//! under `"data"`), the Data Portability API envelopes, the bodies Steward
//! sends, and how every error answer maps to an [`ErrorClass`]. Pure
//! functions, so the mapping is unit-tested against the documented bodies.
//!
//! `request_id` is an int64 on the wire: it is read and written as an exact
//! integer (`i64`), never through a float, and carried through Steward as its
//! decimal string (the export's job id).

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::config::Secret;
use crate::donation::catalogue::Source;
use crate::donation::provider::{
    Answer, ArchiveState, ErrorClass, Initiated, JobState, ProviderError, Step, TokenGrant, UNSUPPORTED_REGION,
};

/// The only category Steward ever asks for (spec §4.4.3).
pub const ACTIVITY: &str = "activity";

/// `fields` of an Add call.
pub const ADD_FIELDS: &str = "request_id";
/// `fields` of a Check call.
pub const CHECK_FIELDS: &str = "request_id,apply_time,collect_time,status,data_format,category_selection_list";

/// The Add body: JSON data of the requested categories.
#[derive(Serialize)]
pub(crate) struct AddBody<'a> {
    data_format: &'static str,
    category_selection_list: &'a [String],
}

impl<'a> AddBody<'a> {
    pub(crate) fn new(categories: &'a [String]) -> Self {
        Self { data_format: "json", category_selection_list: categories }
    }
}

/// The Check, Download and Cancel body.
#[derive(Serialize)]
pub(crate) struct RequestBody {
    request_id: i64,
}

impl RequestBody {
    pub(crate) fn new(request_id: i64) -> Self {
        Self { request_id }
    }
}

/// TikTok's API error envelope, `{"error": {"code", "message", "log_id"}}`.
#[derive(Deserialize, Default)]
struct ApiEnvelope {
    #[serde(default)]
    data: Option<Value>,
    #[serde(default)]
    error: Option<ApiError>,
}

#[derive(Deserialize, Default)]
struct ApiError {
    #[serde(default)]
    code: Option<String>,
    #[serde(default)]
    message: Option<String>,
    #[serde(default)]
    log_id: Option<String>,
}

#[derive(Deserialize)]
struct AddData {
    request_id: i64,
}

#[derive(Deserialize)]
struct CheckData {
    request_id: Option<i64>,
    status: Option<String>,
    apply_time: Option<i64>,
    collect_time: Option<i64>,
}

/// The fields of a token answer Steward reads. `open_id` is deliberately
/// not among them: it is never kept (spec §4.4.2).
#[derive(Deserialize)]
struct TokenFields {
    access_token: Option<String>,
    expires_in: Option<u64>,
    refresh_token: Option<String>,
    scope: Option<String>,
    token_type: Option<String>,
}

fn malformed(step: Step, answer: &Answer, what: &'static str) -> ProviderError {
    ProviderError::malformed(Source::TikTok, step, answer.status.as_u16(), what)
}

/// The class of an answer with no usable error code, by its status (spec §4.1).
fn by_status(status: u16) -> ErrorClass {
    match status {
        401 => ErrorClass::Auth,
        408 | 429 | 500..=599 => ErrorClass::Transient,
        _ => ErrorClass::Permanent,
    }
}

/// Logs what TikTok said about a failed call: its error code and `log_id`
/// (which its support asks for), never the message or the body.
fn log_refusal(step: Step, status: u16, code: Option<&str>, log_id: Option<&str>) {
    let plain = |s: Option<&str>| -> String {
        s.unwrap_or("").chars().filter(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.')).take(64).collect()
    };
    tracing::info!(
        provider = "TikTok",
        step = step.name(Source::TikTok),
        http_status = status,
        tiktok.error_code = %plain(code),
        tiktok.log_id = %plain(log_id),
        "TikTok refused a call"
    );
}

/// Whether an Add refusal says the account is outside the EEA and the UK
/// (spec §4.4.3 "Availability"; TikTok's exact code is not documented, so
/// the code and the message are both read).
fn is_region_refusal(code: Option<&str>, message: Option<&str>) -> bool {
    let code = code.unwrap_or("").to_ascii_lowercase();
    let message = message.unwrap_or("");
    code.contains("region")
        || message.contains("EEA")
        || message.contains(" UK")
        || message.to_ascii_lowercase().contains("region")
}

/// Data Portability API answers (spec §4.4.3): `ok` with a 2xx passes;
/// TikTok's error codes map by the spec's table, anything else by status.
pub(crate) fn classify_api(step: Step, answer: &Answer) -> Result<(), ProviderError> {
    let status = answer.status.as_u16();
    let envelope: Option<ApiEnvelope> = serde_json::from_slice(&answer.body).ok();
    let error = envelope.and_then(|e| e.error).unwrap_or_default();
    let code = error.code.as_deref().filter(|c| !c.is_empty());
    if answer.status.is_success() && code.is_none_or(|c| c == "ok") {
        return Ok(());
    }
    log_refusal(step, status, code, error.log_id.as_deref());
    if step == Step::Initiate && code != Some("ok") && is_region_refusal(code, error.message.as_deref()) {
        return Err(ProviderError::answered(
            Source::TikTok,
            step,
            ErrorClass::Permanent,
            status,
            Some(UNSUPPORTED_REGION),
        ));
    }
    let class = match code {
        Some("access_token_invalid") => ErrorClass::Auth,
        Some("scope_not_authorized" | "scope_permission_missed") => ErrorClass::NotGranted,
        Some("invalid_params") => ErrorClass::Permanent,
        Some("rate_limit_exceeded" | "internal_error") => ErrorClass::Transient,
        // An error code on a 2xx answer that this build does not know.
        _ if answer.status.is_success() => ErrorClass::Permanent,
        _ => by_status(status),
    };
    Err(ProviderError::answered(Source::TikTok, step, class, status, code))
}

/// The OAuth error code of a token or revoke answer: `"error": "<code>"`,
/// or TikTok's API envelope form `"error": {"code": "<code>"}`.
fn oauth_error(body: &Value) -> (Option<String>, Option<String>) {
    let log_id = body.get("log_id").and_then(Value::as_str).map(str::to_owned);
    match body.get("error") {
        Some(Value::String(code)) if !code.is_empty() && code != "ok" => (Some(code.clone()), log_id),
        Some(Value::Object(e)) => {
            let code = e.get("code").and_then(Value::as_str).filter(|c| !c.is_empty() && *c != "ok");
            let log_id = e.get("log_id").and_then(Value::as_str).map(str::to_owned).or(log_id);
            (code.map(str::to_owned), log_id)
        }
        _ => (None, log_id),
    }
}

/// Token endpoint and revoke answers (spec §4.4.2): `invalid_grant` on a
/// refresh means the grant is gone; a refused client is the operator's to
/// fix; on revoke, a token TikTok no longer knows means access is already
/// gone (spec §5.10), which the release counts as done.
pub(crate) fn classify_token(step: Step, answer: &Answer) -> Result<(), ProviderError> {
    let status = answer.status.as_u16();
    let body: Value = serde_json::from_slice(&answer.body).unwrap_or(Value::Null);
    let (code, log_id) = oauth_error(&body);
    if answer.status.is_success() && code.is_none() {
        return Ok(());
    }
    log_refusal(step, status, code.as_deref(), log_id.as_deref());
    let class = match (status, code.as_deref()) {
        (408 | 429 | 500..=599, _) => ErrorClass::Transient,
        (_, Some("rate_limit_exceeded" | "internal_error")) => ErrorClass::Transient,
        (_, Some("invalid_grant")) if step == Step::Refresh => ErrorClass::AccessLost,
        (_, Some("invalid_client" | "unauthorized_client" | "redirect_uri_mismatch")) => ErrorClass::Config,
        (_, Some("invalid_grant" | "invalid_token" | "access_token_invalid")) | (401, _) if step == Step::Reset => {
            ErrorClass::Auth
        }
        (401, _) => ErrorClass::Config,
        _ => ErrorClass::Permanent,
    };
    Err(ProviderError::answered(Source::TikTok, step, class, status, code.as_deref()))
}

/// The tokens of a successful token answer, flat (what TikTok documents) or
/// nested under `"data"` (what upstream assumed).
pub(crate) fn token_grant(step: Step, answer: &Answer) -> Result<TokenGrant, ProviderError> {
    let body: Value = serde_json::from_slice(&answer.body).map_err(|_| malformed(step, answer, "malformed_answer"))?;
    let fields = match body.get("data") {
        Some(data) if data.get("access_token").is_some() => data,
        _ => &body,
    };
    let token: TokenFields =
        serde_json::from_value(fields.clone()).map_err(|_| malformed(step, answer, "malformed_answer"))?;
    let Some(access_token) = token.access_token.filter(|t| !t.is_empty()) else {
        return Err(malformed(step, answer, "malformed_answer"));
    };
    if token.token_type.as_deref().is_some_and(|t| !matches!(t, "Bearer" | "bearer" | "BEARER")) {
        return Err(malformed(step, answer, "malformed_answer"));
    }
    let scopes = token.scope.as_deref().map(split_scopes);
    let resources = scopes.as_ref().map(|s| granted_resources(s));
    Ok(TokenGrant {
        access_token: Secret::new(access_token),
        refresh_token: token.refresh_token.filter(|t| !t.is_empty()).map(Secret::new),
        expires_in: token.expires_in.map(std::time::Duration::from_secs),
        scopes,
        resources,
    })
}

/// TikTok's scope lists are comma-separated (tolerating spaces).
pub fn split_scopes(scopes: &str) -> Vec<String> {
    scopes.split([',', ' ']).map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned).collect()
}

/// The categories among granted scopes that Steward uses: `activity` from
/// `portability.activity.*` or `portability.all.*` (spec §4.4.3); others,
/// such as `user.info.basic`, are passed over.
pub fn granted_resources(scopes: &[String]) -> Vec<String> {
    let activity = scopes.iter().any(|s| {
        let mut parts = s.split('.');
        parts.next() == Some("portability")
            && matches!(parts.next(), Some("activity" | "all"))
            && matches!(parts.next(), Some("single" | "ongoing"))
            && parts.next().is_none()
    });
    if activity { vec![ACTIVITY.to_owned()] } else { Vec::new() }
}

/// The `data` of an answer that [`classify_api`] passed.
fn data(step: Step, answer: &Answer) -> Result<Value, ProviderError> {
    let envelope: ApiEnvelope =
        serde_json::from_slice(&answer.body).map_err(|_| malformed(step, answer, "malformed_answer"))?;
    envelope.data.ok_or_else(|| malformed(step, answer, "malformed_answer"))
}

/// An Add answer: the new request's id.
pub(crate) fn added(answer: &Answer) -> Result<Initiated, ProviderError> {
    let data: AddData = serde_json::from_value(data(Step::Initiate, answer)?)
        .map_err(|_| malformed(Step::Initiate, answer, "no_request_id"))?;
    if data.request_id <= 0 {
        return Err(malformed(Step::Initiate, answer, "no_request_id"));
    }
    Ok(Initiated { job_id: data.request_id.to_string(), access_type: None })
}

/// A Check answer (spec §4.4.3): `pending` is in progress, `downloading`
/// ready with one part (located by the request id), `expired`, `cancelled`.
pub(crate) fn checked(request_id: i64, answer: &Answer) -> Result<ArchiveState, ProviderError> {
    let data: CheckData = serde_json::from_value(data(Step::State, answer)?)
        .map_err(|_| malformed(Step::State, answer, "malformed_answer"))?;
    if data.request_id.is_some_and(|id| id != request_id) {
        return Err(malformed(Step::State, answer, "other_request_id"));
    }
    let raw_state = data.status.unwrap_or_default();
    let state = match raw_state.as_str() {
        "pending" => JobState::InProgress,
        "downloading" => JobState::Complete,
        "expired" => JobState::Expired,
        "cancelled" => JobState::Cancelled,
        _ => JobState::Unspecified,
    };
    let urls = if state == JobState::Complete { vec![request_id.to_string()] } else { Vec::new() };
    let time = |t: Option<i64>| t.and_then(|t| chrono::DateTime::from_timestamp(t, 0));
    Ok(ArchiveState { state, raw_state, urls, start_time: time(data.apply_time), export_time: time(data.collect_time) })
}

/// A request id from Steward's records (decimal, positive int64); anything
/// else never reaches a request body.
pub(crate) fn request_id(step: Step, id: &str) -> Result<i64, ProviderError> {
    match id.parse::<i64>() {
        Ok(n) if n > 0 && id.bytes().all(|b| b.is_ascii_digit()) => Ok(n),
        _ => Err(ProviderError::not_sent(Source::TikTok, step, "bad_request_id")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::donation::provider::Reached;
    use axum::body::Bytes;
    use reqwest::StatusCode;

    fn answer(status: u16, body: &str) -> Answer {
        Answer { status: StatusCode::from_u16(status).unwrap(), body: Bytes::from(body.to_owned()) }
    }

    fn api(step: Step, status: u16, body: &str) -> (ErrorClass, Option<String>) {
        let e = classify_api(step, &answer(status, body)).unwrap_err();
        (e.class, e.code)
    }

    fn envelope(code: &str, message: &str) -> String {
        format!(
            r#"{{"data": {{}}, "error": {{"code": "{code}", "message": "{message}", "log_id": "20231221024913E1F5E4C5C5B1D0F09B6B"}}}}"#
        )
    }

    #[test]
    fn api_error_codes_map_to_the_spec_classes() {
        let cases = [
            (401, "access_token_invalid", ErrorClass::Auth),
            (401, "scope_not_authorized", ErrorClass::NotGranted),
            (403, "scope_permission_missed", ErrorClass::NotGranted),
            (400, "invalid_params", ErrorClass::Permanent),
            (429, "rate_limit_exceeded", ErrorClass::Transient),
            (500, "internal_error", ErrorClass::Transient),
            // Unknown codes fall back to the status (spec §4.1).
            (401, "something_new", ErrorClass::Auth),
            (503, "something_new", ErrorClass::Transient),
            (404, "something_new", ErrorClass::Permanent),
        ];
        for (status, code, class) in cases {
            assert_eq!(api(Step::State, status, &envelope(code, "m")), (class, Some(code.to_owned())), "{code}");
        }
        for status in [408, 500, 502, 503, 504] {
            assert_eq!(api(Step::State, status, "<html>gateway</html>"), (ErrorClass::Transient, None), "{status}");
        }
        assert_eq!(api(Step::State, 403, "not json"), (ErrorClass::Permanent, None));
        // A 200 carrying an error code is a refusal too.
        assert_eq!(api(Step::State, 200, &envelope("invalid_params", "m")).0, ErrorClass::Permanent);
        assert!(classify_api(Step::State, &answer(200, &envelope("ok", ""))).is_ok());
        assert!(
            classify_api(Step::CancelJob, &answer(200, r#"{"error": {"code": "ok", "message": "", "log_id": "x"}}"#))
                .is_ok()
        );
    }

    #[test]
    fn the_region_refusal_of_add_has_its_own_code() {
        let body =
            envelope("access_denied", "The Data Portability API is only available to users in the EEA and the UK.");
        let e = classify_api(Step::Initiate, &answer(403, &body)).unwrap_err();
        assert_eq!(
            (e.class, e.code.as_deref(), e.http_status),
            (ErrorClass::Permanent, Some(UNSUPPORTED_REGION), Some(403))
        );
        assert!(e.is_region_refusal());
        // The same answer to another call, and another refusal of Add, are not.
        assert_eq!(api(Step::State, 403, &body), (ErrorClass::Permanent, Some("access_denied".into())));
        let other = classify_api(Step::Initiate, &answer(400, &envelope("invalid_params", "bad"))).unwrap_err();
        assert!(!other.is_region_refusal());
    }

    #[test]
    fn token_errors_map_to_classes() {
        let class = |step, status, body: &str| classify_token(step, &answer(status, body)).unwrap_err().class;
        let err = |code: &str| format!(r#"{{"error": "{code}", "error_description": "d", "log_id": "l"}}"#);
        assert_eq!(class(Step::Refresh, 400, &err("invalid_grant")), ErrorClass::AccessLost);
        assert_eq!(class(Step::Exchange, 400, &err("invalid_grant")), ErrorClass::Permanent);
        assert_eq!(class(Step::Exchange, 401, &err("invalid_client")), ErrorClass::Config);
        assert_eq!(class(Step::Refresh, 400, &err("unauthorized_client")), ErrorClass::Config);
        assert_eq!(class(Step::Exchange, 400, &err("invalid_request")), ErrorClass::Permanent);
        assert_eq!(class(Step::Refresh, 503, ""), ErrorClass::Transient);
        // TikTok answers some errors with 200.
        assert_eq!(class(Step::Refresh, 200, &err("invalid_grant")), ErrorClass::AccessLost);
        // A revoke of a token TikTok no longer knows: access is already gone.
        assert_eq!(class(Step::Reset, 401, ""), ErrorClass::Auth);
        assert_eq!(class(Step::Reset, 400, &err("invalid_token")), ErrorClass::Auth);
        assert_eq!(
            class(Step::Reset, 200, r#"{"error": {"code": "access_token_invalid", "log_id": "l"}}"#),
            ErrorClass::Auth
        );
        assert!(classify_token(Step::Reset, &answer(200, "{}")).is_ok());
    }

    const FLAT: &str = r#"{"access_token": "act.example12345Example12345Example", "expires_in": 86400,
        "open_id": "afd97af1-b87b-48b9-ac98-410aghda5344", "refresh_expires_in": 31536000,
        "refresh_token": "rft.example12345Example12345Example",
        "scope": "user.info.basic,portability.activity.single", "token_type": "Bearer"}"#;

    #[test]
    fn flat_and_nested_token_answers_parse_the_same() {
        let nested = format!(r#"{{"data": {FLAT}, "message": "success"}}"#);
        for body in [FLAT, nested.as_str()] {
            let grant = token_grant(Step::Exchange, &answer(200, body)).unwrap();
            assert_eq!(grant.access_token.expose(), "act.example12345Example12345Example");
            assert_eq!(grant.refresh_token.as_ref().map(Secret::expose), Some("rft.example12345Example12345Example"));
            assert_eq!(grant.expires_in, Some(std::time::Duration::from_secs(86400)));
            assert_eq!(grant.resources.as_deref(), Some(&["activity".to_owned()][..]));
            let printed = format!("{grant:?}");
            assert!(!printed.contains("act.example") && !printed.contains("afd97af1"), "{printed}");
        }
        for bad in ["{}", "[]", r#"{"data": {}}"#, r#"{"access_token": "a", "token_type": "mac"}"#] {
            let e = token_grant(Step::Refresh, &answer(200, bad)).unwrap_err();
            assert_eq!((e.class, e.code.as_deref()), (ErrorClass::Permanent, Some("malformed_answer")), "{bad}");
        }
    }

    #[test]
    fn scopes_map_to_the_activity_category() {
        let r = |s: &str| granted_resources(&split_scopes(s));
        assert_eq!(r("user.info.basic,portability.activity.single"), ["activity"]);
        assert_eq!(r("portability.activity.ongoing"), ["activity"]);
        assert_eq!(r("portability.all.single, user.info.basic"), ["activity"]);
        assert!(r("user.info.basic").is_empty());
        assert!(r("portability.directmessages.single,portability.postsandprofile.ongoing").is_empty());
        assert!(r("portability.activity").is_empty());
    }

    #[test]
    fn request_ids_are_exact_int64s() {
        // Above 2^53, where a float would round it.
        for id in [123451234512345_i64, 9_007_199_254_740_993, i64::MAX] {
            let add = format!(
                r#"{{"data": {{"request_id": {id}}}, "error": {{"code": "ok", "message": "", "log_id": "l"}}}}"#
            );
            let initiated = added(&answer(200, &add)).unwrap();
            assert_eq!(initiated.job_id, id.to_string());
            let parsed = request_id(Step::State, &initiated.job_id).unwrap();
            assert_eq!(serde_json::to_string(&RequestBody::new(parsed)).unwrap(), format!(r#"{{"request_id":{id}}}"#));
        }
        for bad in [
            r#"{"data": {"request_id": 1.5e14}}"#,
            r#"{"data": {"request_id": "12"}}"#,
            r#"{"data": {}}"#,
            r#"{"data": {"request_id": -4}}"#,
        ] {
            assert_eq!(added(&answer(200, bad)).unwrap_err().code.as_deref(), Some("no_request_id"), "{bad}");
        }
        for bad in ["", "0", "-1", "+12", "12a", "99999999999999999999", "../x"] {
            assert_eq!(request_id(Step::State, bad).unwrap_err().reached, Reached::NotSent, "{bad}");
        }
    }

    #[test]
    fn check_answers_map_statuses_to_job_states() {
        let check = |status: &str| {
            let body = format!(
                r#"{{"data": {{"request_id": 123451234512345, "status": "{status}", "apply_time": 1703186989,
                "collect_time": 1703187862, "data_format": "json", "category_selection_list": ["activity"]}},
                "error": {{"code": "ok", "message": "", "log_id": "l"}}}}"#
            );
            checked(123451234512345, &answer(200, &body)).unwrap()
        };
        assert_eq!((check("pending").state, check("pending").urls.len()), (JobState::InProgress, 0));
        let ready = check("downloading");
        assert_eq!((ready.state, ready.urls.as_slice()), (JobState::Complete, &["123451234512345".to_owned()][..]));
        assert_eq!(ready.start_time.unwrap().timestamp(), 1703186989);
        assert_eq!(check("expired").state, JobState::Expired);
        assert_eq!(check("cancelled").state, JobState::Cancelled);
        let odd = check("paused");
        assert_eq!((odd.state, odd.raw_state.as_str()), (JobState::Unspecified, "paused"));
        let other = r#"{"data": {"request_id": 7, "status": "downloading"}, "error": {"code": "ok"}}"#;
        assert_eq!(checked(8, &answer(200, other)).unwrap_err().code.as_deref(), Some("other_request_id"));
    }

    #[test]
    fn the_add_body_asks_for_json_activity_only() {
        let categories = vec![ACTIVITY.to_owned()];
        assert_eq!(
            serde_json::to_string(&AddBody::new(&categories)).unwrap(),
            r#"{"data_format":"json","category_selection_list":["activity"]}"#
        );
    }
}
