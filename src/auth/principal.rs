//! Who is calling: the resolved principal with its roles, and the `Caller` put
//! in every request's extensions. Resolution never refuses a request by itself:
//! each RPC states what it needs (`require_principal`, `require_role`), so public
//! RPCs, participant-token RPCs and legacy routes with their own errors all work.

use std::sync::Arc;

use chrono::{DateTime, Utc};

use crate::error::Error;

/// The global roles; each is membership of the group with the same name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Role {
    /// Manages everything.
    Admin,
    /// Creates donations and reads donated data.
    Researcher,
    /// Creates secret-share aggregation endpoints.
    Developer,
    /// Reads secret-share aggregates.
    Scientist,
    /// Submits secret shares.
    Contributor,
}

impl Role {
    /// Every role, in a fixed order.
    pub const ALL: [Role; 5] = [Role::Admin, Role::Researcher, Role::Developer, Role::Scientist, Role::Contributor];

    /// The role's name, which is also its group's name.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Researcher => "researcher",
            Role::Developer => "developer",
            Role::Scientist => "scientist",
            Role::Contributor => "contributor",
        }
    }

    /// The role a group name stands for, if any.
    pub fn from_group(name: &str) -> Option<Role> {
        Self::ALL.into_iter().find(|r| r.as_str() == name)
    }
}

impl std::str::FromStr for Role {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Role::from_group(s).ok_or_else(|| {
            format!("unknown role '{s}'; expected one of admin, researcher, developer, scientist, contributor")
        })
    }
}

/// A user or a service account.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PrincipalKind {
    /// A person, from sign-in or provisioning.
    User,
    /// A machine identity created by an admin.
    ServiceAccount,
}

/// An authenticated caller.
#[derive(Debug, Clone)]
pub struct Principal {
    /// Users and service accounts share one id space.
    pub id: i64,
    /// User or service account.
    pub kind: PrincipalKind,
    /// E-mail (service accounts: `<name>@service-account.dsg.local`).
    pub email: String,
    /// The name to show.
    pub name: String,
    /// Avatar URL or empty.
    pub picture_url: String,
    /// Service-account description; empty for users.
    pub description: String,
    /// Group names, sorted.
    pub groups: Vec<String>,
    /// Global roles, sorted.
    pub roles: Vec<Role>,
    /// The token that authenticated this request.
    pub token_id: i64,
    /// When that token stops working.
    pub token_expires_at: Option<DateTime<Utc>>,
}

impl Principal {
    /// Whether the principal holds `role`; admins hold every role.
    pub fn has_role(&self, role: Role) -> bool {
        self.roles.contains(&Role::Admin) || self.roles.contains(&role)
    }

    /// Whether the principal is a global admin.
    pub fn is_admin(&self) -> bool {
        self.roles.contains(&Role::Admin)
    }
}

/// Why a presented credential was not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// The credential cannot be a token (bad scheme, wrong shape, too long).
    #[error("{0}")]
    Malformed(String),
    /// Unknown, expired or revoked (deliberately not told apart).
    #[error("Invalid or expired token.")]
    Invalid,
    /// The user account is disabled.
    #[error("User account is disabled.")]
    UserDisabled,
    /// The service account is disabled.
    #[error("Service account is disabled.")]
    ServiceAccountDisabled,
    /// The database could not be asked.
    #[error("cannot check credentials right now; retry shortly")]
    Unavailable,
}

/// The caller of a request, as resolved by the auth layer.
#[derive(Debug, Clone)]
pub enum Caller {
    /// No credential was presented.
    Anonymous,
    /// A valid credential was presented.
    Principal(Arc<Principal>),
    /// A credential was presented and refused.
    Refused(AuthError),
}

impl Caller {
    /// The caller of a tonic request (anonymous if the auth layer did not run).
    pub fn of<T>(request: &tonic::Request<T>) -> Caller {
        request.extensions().get::<Caller>().cloned().unwrap_or(Caller::Anonymous)
    }

    /// The principal, or UNAUTHENTICATED with a message saying what to send.
    pub fn require_principal(&self) -> Result<&Arc<Principal>, Error> {
        match self {
            Caller::Principal(p) => Ok(p),
            Caller::Anonymous => Err(Error::Unauthenticated(
                "Authentication credentials were not provided: send 'authorization: Bearer <token>' or the dsg_token cookie."
                    .into(),
            )),
            Caller::Refused(AuthError::Unavailable) => Err(Error::Unavailable(AuthError::Unavailable.to_string())),
            Caller::Refused(e) => Err(Error::Unauthenticated(e.to_string())),
        }
    }

    /// The principal if it holds `role`, else PERMISSION_DENIED naming the role.
    pub fn require_role(&self, role: Role) -> Result<&Arc<Principal>, Error> {
        let principal = self.require_principal()?;
        if principal.has_role(role) {
            Ok(principal)
        } else {
            Err(Error::PermissionDenied(format!("this needs the '{}' role", role.as_str())))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn principal(roles: Vec<Role>) -> Principal {
        Principal {
            id: 1,
            kind: PrincipalKind::User,
            email: "a@example.org".into(),
            name: "a".into(),
            picture_url: String::new(),
            description: String::new(),
            groups: vec![],
            roles,
            token_id: 1,
            token_expires_at: None,
        }
    }

    #[test]
    fn roles_round_trip_and_admin_holds_all() {
        for r in Role::ALL {
            assert_eq!(r.as_str().parse::<Role>().unwrap(), r);
        }
        assert!("wizard".parse::<Role>().is_err());
        let admin = principal(vec![Role::Admin]);
        assert!(Role::ALL.iter().all(|r| admin.has_role(*r)));
        let researcher = principal(vec![Role::Researcher]);
        assert!(researcher.has_role(Role::Researcher) && !researcher.has_role(Role::Developer));
    }

    #[test]
    fn refusals_map_to_codes() {
        use tonic::Code;
        let code = |c: &Caller| tonic::Status::from(c.require_principal().unwrap_err()).code();
        assert_eq!(code(&Caller::Anonymous), Code::Unauthenticated);
        assert_eq!(code(&Caller::Refused(AuthError::Invalid)), Code::Unauthenticated);
        assert_eq!(code(&Caller::Refused(AuthError::Unavailable)), Code::Unavailable);
        let caller = Caller::Principal(Arc::new(principal(vec![Role::Contributor])));
        let status = tonic::Status::from(caller.require_role(Role::Researcher).unwrap_err());
        assert_eq!(status.code(), Code::PermissionDenied);
        assert!(status.message().contains("researcher"));
    }
}
