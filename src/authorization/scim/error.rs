//! The SCIM layer's one error type, answered in the SCIM error format
//! (RFC 7644 §3.12; key order as DSG, `status` a string).

use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::filter::FilterError;
use super::store::ListError;

/// A refusal or failure, as the SCIM client sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScimError {
    pub status: StatusCode,
    pub scim_type: Option<&'static str>,
    pub detail: String,
}

impl ScimError {
    /// Any status with a detail and no `scimType`.
    pub fn new(status: StatusCode, detail: impl Into<String>) -> Self {
        ScimError { status, scim_type: None, detail: detail.into() }
    }

    /// 400 with a `scimType`.
    pub fn bad(scim_type: &'static str, detail: impl Into<String>) -> Self {
        ScimError { status: StatusCode::BAD_REQUEST, scim_type: Some(scim_type), detail: detail.into() }
    }

    /// 400 `invalidValue`.
    pub fn invalid_value(detail: impl Into<String>) -> Self {
        Self::bad("invalidValue", detail)
    }

    /// 409 `uniqueness`.
    pub fn uniqueness(detail: impl Into<String>) -> Self {
        ScimError { status: StatusCode::CONFLICT, scim_type: Some("uniqueness"), detail: detail.into() }
    }

    /// 404 with the resource's detail ("User not found", …).
    pub fn not_found(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, detail)
    }

    /// The JSON body.
    pub fn body(&self) -> String {
        // serde_json keeps insertion order only with preserve_order, so the body is written by hand.
        let mut out = format!(
            r#"{{"schemas":["urn:ietf:params:scim:api:messages:2.0:Error"],"status":"{}""#,
            self.status.as_u16()
        );
        if let Some(t) = self.scim_type {
            out.push_str(&format!(r#","scimType":"{t}""#));
        }
        out.push_str(&format!(r#","detail":{}}}"#, serde_json::Value::String(self.detail.clone())));
        out
    }
}

impl IntoResponse for ScimError {
    fn into_response(self) -> Response {
        (self.status, [(header::CONTENT_TYPE, super::SCIM_JSON)], self.body()).into_response()
    }
}

impl From<FilterError> for ScimError {
    fn from(e: FilterError) -> Self {
        ScimError::bad("invalidFilter", e.0)
    }
}

impl From<crate::error::Error> for ScimError {
    fn from(e: crate::error::Error) -> Self {
        use crate::error::Error as E;
        match e {
            E::InvalidArgument(m) | E::FailedPrecondition(m) => ScimError::invalid_value(m),
            E::NotFound(m) => ScimError::not_found(m),
            E::AlreadyExists(m) => ScimError::uniqueness(m),
            E::Unauthenticated(m) => ScimError::new(StatusCode::UNAUTHORIZED, m),
            E::PermissionDenied(m) => ScimError::new(StatusCode::FORBIDDEN, m),
            E::ResourceExhausted(m) => ScimError::new(StatusCode::TOO_MANY_REQUESTS, m),
            E::Aborted(m) => ScimError::new(StatusCode::CONFLICT, m),
            E::Unavailable(m) => ScimError::new(StatusCode::SERVICE_UNAVAILABLE, m),
            E::Internal(e) => {
                tracing::error!(error = %format!("{e:#}"), "SCIM request failed");
                ScimError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal error")
            }
        }
    }
}

impl From<diesel::result::Error> for ScimError {
    fn from(e: diesel::result::Error) -> Self {
        crate::error::Error::from(e).into()
    }
}

impl From<ListError> for ScimError {
    fn from(e: ListError) -> Self {
        match e {
            ListError::Filter(f) => f.into(),
            ListError::Db(d) => d.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn body_has_dsg_key_order_and_string_status() {
        assert_eq!(
            ScimError::uniqueness("User already exists").body(),
            r#"{"schemas":["urn:ietf:params:scim:api:messages:2.0:Error"],"status":"409","scimType":"uniqueness","detail":"User already exists"}"#
        );
        assert_eq!(
            ScimError::not_found("a \"b\"").body(),
            r#"{"schemas":["urn:ietf:params:scim:api:messages:2.0:Error"],"status":"404","detail":"a \"b\""}"#
        );
    }
}
