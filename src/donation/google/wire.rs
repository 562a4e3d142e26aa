//! Google's wire formats (spec §4.2): the answers Steward reads, the bodies it
//! sends, how every error answer maps to an [`ErrorClass`], and the
//! `initiate` window rules. Pure functions, so the mapping is unit-tested.

use chrono::{DateTime, Days, NaiveDate, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};

use crate::config::Secret;
use crate::donation::catalogue::{GOOGLE_SCOPE_PREFIX, Source};
use crate::donation::provider::{
    AccessTypes, Answer, ArchiveState, ErrorClass, ExportRequest, Initiated, JobState, ProviderError, Step, TokenGrant,
};

/// Reason Google puts in `error.details[]` when the token lacks the scope.
const SCOPE_INSUFFICIENT: &str = "ACCESS_TOKEN_SCOPE_INSUFFICIENT";

#[derive(Deserialize)]
struct TokenAnswer {
    access_token: String,
    expires_in: Option<u64>,
    refresh_token: Option<String>,
    scope: Option<String>,
    token_type: Option<String>,
}

#[derive(Deserialize)]
struct OAuthError {
    error: String,
}

#[derive(Deserialize)]
struct ApiErrorEnvelope {
    error: ApiError,
}

#[derive(Deserialize)]
struct ApiError {
    message: Option<String>,
    status: Option<String>,
    #[serde(default)]
    details: Vec<ApiErrorDetail>,
}

#[derive(Deserialize)]
struct ApiErrorDetail {
    reason: Option<String>,
}

/// The `portabilityArchive:initiate` body.
#[derive(Serialize)]
pub(crate) struct InitiateBody<'a> {
    resources: &'a [String],
    #[serde(rename = "startTime", skip_serializing_if = "Option::is_none")]
    start_time: Option<String>,
    #[serde(rename = "endTime", skip_serializing_if = "Option::is_none")]
    end_time: Option<String>,
}

impl<'a> InitiateBody<'a> {
    pub(crate) fn new(request: &'a ExportRequest) -> Self {
        Self {
            resources: &request.resources,
            start_time: request.start_time.map(rfc3339),
            end_time: request.end_time.map(rfc3339),
        }
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct InitiateAnswer {
    archive_job_id: Option<String>,
    access_type: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct StateAnswer {
    state: Option<String>,
    #[serde(default)]
    urls: Vec<String>,
    start_time: Option<String>,
    export_time: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct AccessTypeAnswer {
    #[serde(default)]
    one_time_resources: Vec<String>,
    #[serde(default)]
    time_based_resources: Vec<String>,
}

fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

fn malformed(step: Step, answer: &Answer, what: &'static str) -> ProviderError {
    ProviderError::malformed(Source::Google, step, answer.status.as_u16(), what)
}

/// Token endpoint errors, `{"error": "invalid_grant", "error_description": …}`
/// (spec §4.2.2): `invalid_grant` on a refresh means the grant is gone; a
/// refused client or redirect URI is the operator's to fix.
pub(crate) fn classify_token(step: Step, answer: &Answer) -> Result<(), ProviderError> {
    if answer.status.is_success() {
        return Ok(());
    }
    let status = answer.status.as_u16();
    let error = serde_json::from_slice::<OAuthError>(&answer.body).ok().map(|e| e.error);
    let class = match (status, error.as_deref()) {
        (408 | 429 | 500..=599, _) => ErrorClass::Transient,
        (_, Some("invalid_grant")) if step == Step::Refresh => ErrorClass::AccessLost,
        (_, Some("invalid_client" | "unauthorized_client" | "redirect_uri_mismatch")) | (401, _) => ErrorClass::Config,
        _ => ErrorClass::Permanent,
    };
    Err(ProviderError::answered(Source::Google, step, class, status, error.as_deref()))
}

/// Data Portability API errors, `{"error": {"code", "message", "status"}}`
/// (spec §4.2.5).
pub(crate) fn classify_api(step: Step, answer: &Answer) -> Result<(), ProviderError> {
    if answer.status.is_success() {
        return Ok(());
    }
    let status = answer.status.as_u16();
    let error = serde_json::from_slice::<ApiErrorEnvelope>(&answer.body).ok().map(|e| e.error);
    let code = error.as_ref().and_then(|e| e.status.as_deref());
    let scope_missing = error.as_ref().is_some_and(|e| {
        e.details.iter().any(|d| d.reason.as_deref() == Some(SCOPE_INSUFFICIENT))
            || e.message.as_deref().is_some_and(|m| m.contains("insufficient authentication scopes"))
    });
    let class = match (status, code) {
        (401, _) | (_, Some("UNAUTHENTICATED")) => ErrorClass::Auth,
        (403, _) if scope_missing => ErrorClass::NotGranted,
        (408 | 429 | 500..=599, _) => ErrorClass::Transient,
        _ => ErrorClass::Permanent,
    };
    Err(ProviderError::answered(Source::Google, step, class, status, code))
}

/// The tokens of a successful token answer.
pub(crate) fn token_grant(step: Step, answer: &Answer) -> Result<TokenGrant, ProviderError> {
    let token: TokenAnswer =
        serde_json::from_slice(&answer.body).map_err(|_| malformed(step, answer, "malformed_answer"))?;
    if token.access_token.is_empty() || token.token_type.as_deref().is_some_and(|t| !t.eq_ignore_ascii_case("bearer")) {
        return Err(malformed(step, answer, "malformed_answer"));
    }
    let scopes: Option<Vec<String>> = token.scope.map(|s| s.split_whitespace().map(str::to_owned).collect());
    let resources = scopes.as_ref().map(|scopes| granted_resources(scopes));
    Ok(TokenGrant {
        access_token: Secret::new(token.access_token),
        refresh_token: token.refresh_token.filter(|t| !t.is_empty()).map(Secret::new),
        expires_in: token.expires_in.map(std::time::Duration::from_secs),
        scopes,
        resources,
    })
}

/// The resource groups among granted scopes (others, such as `openid`, are ignored).
pub fn granted_resources(scopes: &[String]) -> Vec<String> {
    scopes.iter().filter_map(|s| s.strip_prefix(GOOGLE_SCOPE_PREFIX)).map(str::to_owned).collect()
}

pub(crate) fn initiated(answer: &Answer) -> Result<Initiated, ProviderError> {
    let body: InitiateAnswer =
        serde_json::from_slice(&answer.body).map_err(|_| malformed(Step::Initiate, answer, "malformed_answer"))?;
    match body.archive_job_id.filter(|id| valid_job_id(id)) {
        Some(job_id) => Ok(Initiated { job_id, access_type: body.access_type }),
        None => Err(malformed(Step::Initiate, answer, "no_archive_job_id")),
    }
}

pub(crate) fn retried(answer: &Answer) -> Result<String, ProviderError> {
    let body: InitiateAnswer =
        serde_json::from_slice(&answer.body).map_err(|_| malformed(Step::RetryJob, answer, "malformed_answer"))?;
    body.archive_job_id
        .filter(|id| valid_job_id(id))
        .ok_or_else(|| malformed(Step::RetryJob, answer, "no_archive_job_id"))
}

pub(crate) fn archive_state(answer: &Answer) -> Result<ArchiveState, ProviderError> {
    let body: StateAnswer =
        serde_json::from_slice(&answer.body).map_err(|_| malformed(Step::State, answer, "malformed_answer"))?;
    let raw_state = body.state.unwrap_or_default();
    let state = match raw_state.as_str() {
        "IN_PROGRESS" => JobState::InProgress,
        "COMPLETE" => JobState::Complete,
        "FAILED" => JobState::Failed,
        "CANCELLED" => JobState::Cancelled,
        _ => JobState::Unspecified,
    };
    let time = |t: Option<String>| t.and_then(|t| DateTime::parse_from_rfc3339(&t).ok()).map(|t| t.to_utc());
    Ok(ArchiveState {
        state,
        raw_state,
        urls: body.urls,
        start_time: time(body.start_time),
        export_time: time(body.export_time),
    })
}

pub(crate) fn access_types(answer: &Answer) -> Result<AccessTypes, ProviderError> {
    let body: AccessTypeAnswer = serde_json::from_slice(&answer.body)
        .map_err(|_| malformed(Step::AccessTypeCheck, answer, "malformed_answer"))?;
    Ok(AccessTypes { one_time: body.one_time_resources, time_based: body.time_based_resources })
}

/// Job ids go into URL paths: letters, digits, `-` and `_` only.
pub(crate) fn valid_job_id(id: &str) -> bool {
    (1..=128).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Cloud Storage's XML error code (`<Code>ExpiredToken</Code>`).
pub fn storage_error_code(body: &[u8]) -> Option<String> {
    let text = std::str::from_utf8(body).ok()?;
    let start = text.find("<Code>")? + "<Code>".len();
    let len = text[start..].find("</Code>")?;
    Some(text[start..start + len].to_owned())
}

/// The `initiate` request for one resource group (spec §4.2.5): `startTime`
/// is the first day at 00:00Z and `endTime` the day after the last at 00:00Z,
/// clamped to `now`; either is left out without its date, and both are left
/// out for groups other than `myactivity.*` (not documented as filtered; the
/// local filter applies anyway). `None` when the window lies entirely in the
/// future: nothing is requested.
pub fn export_request(
    group: &str,
    start: Option<NaiveDate>,
    end: Option<NaiveDate>,
    now: DateTime<Utc>,
) -> Option<ExportRequest> {
    let midnight = |d: NaiveDate| d.and_hms_opt(0, 0, 0).map(|t| t.and_utc());
    let start_time = start.and_then(midnight);
    let end_time = end.and_then(|d| d.checked_add_days(Days::new(1))).and_then(midnight).map(|t| t.min(now));
    if start_time.is_some_and(|s| s >= end_time.unwrap_or(now)) {
        return None;
    }
    let filtered = group.starts_with("myactivity.");
    Some(ExportRequest {
        resources: vec![group.to_owned()],
        start_time: start_time.filter(|_| filtered),
        end_time: end_time.filter(|_| filtered),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Bytes;
    use reqwest::StatusCode;

    fn answer(status: u16, body: &str) -> Answer {
        Answer { status: StatusCode::from_u16(status).unwrap(), body: Bytes::from(body.to_owned()) }
    }

    fn api_class(status: u16, body: &str) -> (ErrorClass, Option<String>) {
        let e = classify_api(Step::Initiate, &answer(status, body)).unwrap_err();
        (e.class, e.code)
    }

    #[test]
    fn api_errors_map_to_classes() {
        let scope = r#"{"error": {"code": 403, "message": "Request had insufficient authentication scopes.",
            "status": "PERMISSION_DENIED", "details": [{"@type": "type.googleapis.com/google.rpc.ErrorInfo",
            "reason": "ACCESS_TOKEN_SCOPE_INSUFFICIENT"}]}}"#;
        assert_eq!(api_class(403, scope), (ErrorClass::NotGranted, Some("PERMISSION_DENIED".into())));
        let other = r#"{"error": {"code": 403, "message": "The caller does not have permission", "status": "PERMISSION_DENIED"}}"#;
        assert_eq!(api_class(403, other).0, ErrorClass::Permanent);
        let unauthenticated = r#"{"error": {"code": 401, "message": "x", "status": "UNAUTHENTICATED"}}"#;
        assert_eq!(api_class(401, unauthenticated).0, ErrorClass::Auth);
        let exhausted = r#"{"error": {"code": 429, "message": "x", "status": "RESOURCE_EXHAUSTED"}}"#;
        assert_eq!(api_class(429, exhausted), (ErrorClass::Transient, Some("RESOURCE_EXHAUSTED".into())));
        let precondition = r#"{"error": {"code": 400, "message": "x", "status": "FAILED_PRECONDITION"}}"#;
        assert_eq!(api_class(400, precondition).0, ErrorClass::Permanent);
        for status in [408, 500, 502, 503, 504] {
            assert_eq!(api_class(status, "<html>gateway</html>").0, ErrorClass::Transient, "{status}");
        }
        assert_eq!(api_class(404, "not json"), (ErrorClass::Permanent, None));
        assert!(classify_api(Step::State, &answer(200, "{}")).is_ok());
    }

    #[test]
    fn token_errors_map_to_classes() {
        let class = |step, status, body: &str| classify_token(step, &answer(status, body)).unwrap_err().class;
        let revoked = r#"{"error": "invalid_grant", "error_description": "Token has been expired or revoked."}"#;
        assert_eq!(class(Step::Refresh, 400, revoked), ErrorClass::AccessLost);
        assert_eq!(class(Step::Exchange, 400, revoked), ErrorClass::Permanent, "the participant signs in again");
        assert_eq!(class(Step::Exchange, 401, r#"{"error": "invalid_client"}"#), ErrorClass::Config);
        assert_eq!(class(Step::Exchange, 400, r#"{"error": "redirect_uri_mismatch"}"#), ErrorClass::Config);
        assert_eq!(class(Step::Refresh, 503, ""), ErrorClass::Transient);
        assert_eq!(class(Step::Refresh, 400, r#"{"error": "invalid_request"}"#), ErrorClass::Permanent);
    }

    #[test]
    fn token_answers_parse_scopes_into_resource_groups() {
        let body = r#"{"access_token": "ya29.a0Af", "expires_in": 3599, "refresh_token": "1//0g",
            "scope": "https://www.googleapis.com/auth/dataportability.myactivity.youtube openid https://www.googleapis.com/auth/dataportability.myactivity.search",
            "token_type": "Bearer"}"#;
        let grant = token_grant(Step::Exchange, &answer(200, body)).unwrap();
        assert_eq!(grant.access_token.expose(), "ya29.a0Af");
        assert_eq!(grant.refresh_token.as_ref().map(Secret::expose), Some("1//0g"));
        assert_eq!(grant.expires_in, Some(std::time::Duration::from_secs(3599)));
        assert_eq!(
            grant.resources.as_deref(),
            Some(&["myactivity.youtube".to_owned(), "myactivity.search".to_owned()][..])
        );
        assert!(format!("{grant:?}").contains("redacted") && !format!("{grant:?}").contains("ya29"));
        let refresh = token_grant(Step::Refresh, &answer(200, r#"{"access_token": "a", "expires_in": 1}"#)).unwrap();
        assert!(refresh.refresh_token.is_none() && refresh.scopes.is_none());
        for bad in ["{}", "[]", r#"{"access_token": "a", "token_type": "mac"}"#] {
            let e = token_grant(Step::Refresh, &answer(200, bad)).unwrap_err();
            assert_eq!((e.class, e.code.as_deref()), (ErrorClass::Permanent, Some("malformed_answer")), "{bad}");
        }
    }

    #[test]
    fn state_answers_parse() {
        let body = r#"{"name": "archiveJobs/a1/portabilityArchiveState", "state": "COMPLETE",
            "urls": ["https://storage.googleapis.com/x/archive-001.zip?sig", "https://storage.googleapis.com/x/archive-002.zip?sig"],
            "startTime": "2023-01-01T00:00:00Z", "exportTime": "2024-01-01T00:00:00Z"}"#;
        let state = archive_state(&answer(200, body)).unwrap();
        assert_eq!(state.state, JobState::Complete);
        assert_eq!(state.urls.len(), 2);
        assert_eq!(state.start_time.unwrap().to_rfc3339(), "2023-01-01T00:00:00+00:00");
        let odd = archive_state(&answer(200, r#"{"state": "PAUSED_FOR_LUNCH"}"#)).unwrap();
        assert_eq!((odd.state, odd.raw_state.as_str()), (JobState::Unspecified, "PAUSED_FOR_LUNCH"));
        assert!(archive_state(&answer(200, "nope")).is_err());
    }

    #[test]
    fn initiate_answers_need_a_usable_job_id() {
        let ok =
            initiated(&answer(200, r#"{"archiveJobId": "a1b2-c3", "accessType": "ACCESS_TYPE_ONE_TIME"}"#)).unwrap();
        assert_eq!((ok.job_id.as_str(), ok.access_type.as_deref()), ("a1b2-c3", Some("ACCESS_TYPE_ONE_TIME")));
        for bad in [r#"{"accessType": "ACCESS_TYPE_ONE_TIME"}"#, r#"{"archiveJobId": "../reset?x"}"#] {
            let e = initiated(&answer(200, bad)).unwrap_err();
            assert_eq!(e.code.as_deref(), Some("no_archive_job_id"), "{bad}");
        }
    }

    #[test]
    fn initiate_windows_follow_the_study_dates() {
        let d = |s: &str| NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap();
        let now = DateTime::parse_from_rfc3339("2024-06-15T12:00:00Z").unwrap().to_utc();
        let r = export_request("myactivity.youtube", Some(d("2023-01-01")), Some(d("2023-12-31")), now).unwrap();
        let body = serde_json::to_string(&InitiateBody::new(&r)).unwrap();
        assert_eq!(
            body,
            r#"{"resources":["myactivity.youtube"],"startTime":"2023-01-01T00:00:00Z","endTime":"2024-01-01T00:00:00Z"}"#
        );
        // The end is clamped to now; discover groups get no times; no window, no times.
        let r = export_request("myactivity.search", None, Some(d("2024-12-31")), now).unwrap();
        assert_eq!((r.start_time, r.end_time.map(rfc3339)), (None, Some("2024-06-15T12:00:00Z".into())));
        let r = export_request("discover.likes", Some(d("2023-01-01")), Some(d("2023-12-31")), now).unwrap();
        assert_eq!(serde_json::to_string(&InitiateBody::new(&r)).unwrap(), r#"{"resources":["discover.likes"]}"#);
        let r = export_request("myactivity.play", None, None, now).unwrap();
        assert_eq!((r.start_time, r.end_time), (None, None));
        // A window entirely in the future requests nothing, whatever the group.
        assert_eq!(export_request("myactivity.play", Some(d("2024-06-16")), None, now), None);
        assert_eq!(export_request("discover.follows", Some(d("2025-01-01")), Some(d("2025-02-01")), now), None);
    }

    #[test]
    fn storage_error_codes_are_read_from_xml() {
        let body =
            b"<?xml version='1.0' encoding='UTF-8'?><Error><Code>ExpiredToken</Code><Message>m</Message></Error>";
        assert_eq!(storage_error_code(body).as_deref(), Some("ExpiredToken"));
        assert_eq!(storage_error_code(b"plain"), None);
    }
}
