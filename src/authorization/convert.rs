//! Domain → proto conversions for the authorization service.

use crate::auth::{Principal, PrincipalKind};
use crate::proto::authorization::v1::WhoAmIResponse;

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

#[cfg(test)]
mod tests {
    use super::*;
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
