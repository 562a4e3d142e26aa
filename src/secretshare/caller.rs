//! Who calls, as the secret-share rules see them (spec secretshare.md §2.6):
//! the roles from Steward groups (or, for external JWTs, from the permission
//! claim), the identity that keys the contributor pseudonym, and a name to
//! record as creator or sealer.

use std::sync::Arc;

use crate::auth::{Principal, PrincipalKind, Role};

/// Privacy Guardian's permission strings and the roles they grant here.
pub const CREATE_ENDPOINT: &str = "create:endpoint";
pub const POST_DATA: &str = "post:eta-data";
pub const GET_DATA: &str = "get:eta-data";
pub const ADMIN_TASKS: &str = "admin:tasks";

/// A caller's identity and secret-share roles.
#[derive(Debug, Clone)]
pub struct ShareCaller {
    /// Input of the contributor pseudonym: `steward:<id>` or `jwt:<issuer>\n<subject>`.
    pub identity: String,
    /// Recorded as an endpoint's creator or a batch's sealer.
    pub display: String,
    pub developer: bool,
    pub contributor: bool,
    pub scientist: bool,
    /// `admin:tasks`: may archive endpoints, nothing more.
    pub archiver: bool,
    /// Global admin: everything here.
    pub admin: bool,
    /// The Steward principal, whose dataset grants count for dataset-bound endpoints.
    pub principal: Option<Arc<Principal>>,
    /// The legacy permission strings (GetPermissions).
    pub permissions: Vec<String>,
}

impl ShareCaller {
    /// A Steward user or service account: roles from its groups.
    pub fn steward(principal: Arc<Principal>) -> Self {
        let has = |role| principal.has_role(role);
        let admin = principal.is_admin();
        let mut permissions = Vec::new();
        for (granted, permission) in [
            (has(Role::Developer), CREATE_ENDPOINT),
            (has(Role::Scientist), GET_DATA),
            (has(Role::Contributor), POST_DATA),
            (admin, ADMIN_TASKS),
        ] {
            if granted {
                permissions.push(permission.to_owned());
            }
        }
        let kind = match principal.kind {
            PrincipalKind::User => "user",
            PrincipalKind::ServiceAccount => "service_account",
        };
        Self {
            identity: format!("steward:{kind}:{}", principal.id),
            display: principal.email.clone(),
            developer: has(Role::Developer),
            contributor: has(Role::Contributor),
            scientist: has(Role::Scientist),
            archiver: admin,
            admin,
            principal: Some(principal),
            permissions,
        }
    }

    /// An external JWT's subject: roles from its permission claim (legacy
    /// strings or role names). `admin:tasks` archives; only `admin` is everything.
    pub fn external(issuer: &str, subject: &str, permissions: Vec<String>) -> Self {
        let has = |p: &str| permissions.iter().any(|x| x == p);
        let admin = has("admin");
        Self {
            identity: format!("jwt:{issuer}\n{subject}"),
            display: subject.to_owned(),
            developer: admin || has(CREATE_ENDPOINT) || has("developer"),
            contributor: admin || has(POST_DATA) || has("contributor"),
            scientist: admin || has(GET_DATA) || has("scientist"),
            archiver: admin || has(ADMIN_TASKS),
            admin,
            principal: None,
            permissions,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn legacy_permissions_grant_their_roles_and_admin_tasks_only_archives() {
        let caller = ShareCaller::external("https://issuer/", "u1", vec![POST_DATA.into()]);
        assert!(caller.contributor && !caller.scientist && !caller.developer && !caller.archiver);
        let tasks = ShareCaller::external("https://issuer/", "u2", vec![ADMIN_TASKS.into()]);
        assert!(tasks.archiver && !tasks.admin && !tasks.scientist);
        let admin = ShareCaller::external("https://issuer/", "u3", vec!["admin".into()]);
        assert!(admin.developer && admin.contributor && admin.scientist && admin.archiver && admin.admin);
        let none = ShareCaller::external("https://issuer/", "u4", vec![]);
        assert!(!none.contributor && none.permissions.is_empty());
        assert_ne!(caller.identity, ShareCaller::external("https://other/", "u1", vec![]).identity);
    }
}
