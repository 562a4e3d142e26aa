//! Proto ↔ domain conversions for the authorization service: principals to
//! `WhoAmIResponse`, and the lenient parsing of DSG-compatible JSON bodies.

use crate::auth::{Principal, PrincipalKind};
use crate::dataset::ops::AccessRequest;
use crate::dataset::permissions::Level;
use crate::error::Error;
use crate::proto::authorization::v1::{CheckAccessRequest, WhoAmIResponse};

impl From<&Principal> for WhoAmIResponse {
    fn from(p: &Principal) -> Self {
        let Principal {
            id,
            kind,
            email,
            name,
            picture_url,
            description,
            groups,
            roles,
            token_id: _,
            token_expires_at: _,
        } = p;
        WhoAmIResponse {
            id: *id,
            email: email.clone(),
            name: name.clone(),
            admin: p.is_admin(),
            roles: roles.iter().map(|r| r.as_str().to_owned()).collect(),
            picture_url: picture_url.clone(),
            // Disabled principals are refused before any handler runs.
            is_active: true,
            groups: groups.clone(),
            service_account: *kind == PrincipalKind::ServiceAccount,
            description: description.clone(),
        }
    }
}

impl TryFrom<CheckAccessRequest> for AccessRequest {
    type Error = Error;

    /// Parses the JSON body as DSG did: unknown keys ignored, a body that is
    /// not a JSON object treated as empty; `permission` defaults to `view`.
    fn try_from(request: CheckAccessRequest) -> Result<Self, Error> {
        let CheckAccessRequest { body } = request;
        let data = body.map(|b| b.data).unwrap_or_default();
        let json: serde_json::Value = serde_json::from_slice(&data).unwrap_or(serde_json::Value::Null);
        let text = |key: &str| json.get(key).and_then(|v| v.as_str()).filter(|s| !s.is_empty()).map(str::to_owned);
        let dataset = text("dataset").ok_or_else(|| Error::InvalidArgument("dataset is required".into()))?;
        let level = match json.get("permission") {
            None | Some(serde_json::Value::Null) => Level::View,
            Some(value) => value
                .as_str()
                .and_then(Level::parse)
                .ok_or_else(|| Error::InvalidArgument("invalid permission".into()))?,
        };
        Ok(AccessRequest { dataset, version: text("version"), level, service: text("service") })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::google::api::HttpBody;

    fn parse(body: &str) -> Result<AccessRequest, Error> {
        let body =
            HttpBody { content_type: "application/json".into(), data: body.as_bytes().to_vec(), extensions: vec![] };
        AccessRequest::try_from(CheckAccessRequest { body: Some(body) })
    }

    #[test]
    fn check_access_bodies_parse_leniently() {
        let r = parse(r#"{"dataset":"fish2","version":"v1","permission":"edit","service":"ct","extra":1}"#).unwrap();
        assert_eq!(
            r,
            AccessRequest {
                dataset: "fish2".into(),
                version: Some("v1".into()),
                level: Level::Edit,
                service: Some("ct".into())
            }
        );
        assert_eq!(parse(r#"{"dataset":"fish2"}"#).unwrap().level, Level::View);
        for missing in ["", "[]", "not json", r#"{"dataset":""}"#, r#"{"dataset":3}"#] {
            assert!(
                matches!(parse(missing), Err(Error::InvalidArgument(m)) if m == "dataset is required"),
                "{missing}"
            );
        }
        for bad in [r#"{"dataset":"d","permission":"owner"}"#, r#"{"dataset":"d","permission":2}"#] {
            assert!(matches!(parse(bad), Err(Error::InvalidArgument(m)) if m == "invalid permission"), "{bad}");
        }
    }
    use crate::auth::Role;

    #[test]
    fn who_am_i_lists_roles_and_admin() {
        let p = Principal {
            id: 7,
            kind: PrincipalKind::User,
            email: "a@example.org".into(),
            name: "a".into(),
            picture_url: String::new(),
            description: String::new(),
            groups: vec!["admin".into(), "researcher".into()],
            roles: vec![Role::Admin, Role::Researcher],
            token_id: 1,
            token_expires_at: None,
        };
        let r = WhoAmIResponse::from(&p);
        assert!(r.admin && r.is_active && !r.service_account);
        assert_eq!(r.roles, vec!["admin", "researcher"]);
        assert_eq!(r.id, 7);
    }
}
