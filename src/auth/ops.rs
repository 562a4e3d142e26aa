//! Identity operations, transport-free: resolving a token to a principal, and
//! the token and role administration the CLI (and later RPCs) perform.

use std::time::Duration;

use chrono::{DateTime, Utc};
use diesel_async::{AsyncConnection as _, AsyncPgConnection};
use serde_json::json;

use super::principal::{AuthError, Principal, PrincipalKind, Role};
use super::store::{self, NewToken, TokenRow};
use super::token::{self, TokenHash};
use crate::dataset::audit::{self, Actor};
use crate::error::{Error, Result};

/// Synthetic e-mail domain of service accounts (downstream services recognise it).
pub const SERVICE_ACCOUNT_DOMAIN: &str = "service-account.dsg.local";
/// `last_used_at` is written at most once a minute per token.
pub const LAST_USED_RESOLUTION: Duration = Duration::from_secs(60);

/// The principal behind a token hash, or why it is refused. Also records the
/// token's use when the stored `last_used_at` is older than a minute.
pub async fn resolve_token(
    conn: &mut AsyncPgConnection,
    hash: &TokenHash,
) -> Result<std::result::Result<Principal, AuthError>> {
    let Some(token) = store::find_token(conn, &hash.0).await? else {
        return Ok(Err(AuthError::Invalid));
    };
    let now = Utc::now();
    if token.revoked_at.is_some() || token.expires_at.is_some_and(|t| t <= now) {
        return Ok(Err(AuthError::Invalid));
    }
    let principal = match (token.user_id, token.service_account_id) {
        (Some(user_id), _) => {
            let Some(user) = store::user_by_id(conn, user_id).await? else {
                return Ok(Err(AuthError::Invalid));
            };
            if !user.is_active {
                return Ok(Err(AuthError::UserDisabled));
            }
            let groups = store::user_group_names(conn, user_id).await?;
            let mut roles: Vec<Role> = groups.iter().filter_map(|g| Role::from_group(g)).collect();
            roles.sort();
            Principal {
                id: user.id,
                kind: PrincipalKind::User,
                name: user.public_name(),
                email: user.email,
                picture_url: user.picture_url,
                description: String::new(),
                groups,
                roles,
                token_id: token.id,
                token_expires_at: token.expires_at,
            }
        }
        (None, Some(sa_id)) => {
            let Some(sa) = store::service_account_by_id(conn, sa_id).await? else {
                return Ok(Err(AuthError::Invalid));
            };
            if !sa.is_active {
                return Ok(Err(AuthError::ServiceAccountDisabled));
            }
            Principal {
                id: sa.id,
                kind: PrincipalKind::ServiceAccount,
                email: format!("{}@{SERVICE_ACCOUNT_DOMAIN}", sa.name),
                name: sa.name,
                picture_url: String::new(),
                description: sa.description,
                groups: Vec::new(),
                roles: Vec::new(),
                token_id: token.id,
                token_expires_at: token.expires_at,
            }
        }
        (None, None) => return Ok(Err(AuthError::Invalid)),
    };
    if needs_touch(token.last_used_at, now) {
        store::touch_token(conn, token.id).await?;
    }
    Ok(Ok(principal))
}

fn needs_touch(last_used: Option<DateTime<Utc>>, now: DateTime<Utc>) -> bool {
    last_used.is_none_or(|t| (now - t).to_std().is_ok_and(|age| age >= LAST_USED_RESOLUTION))
}

/// What to create with [`create_user_token`].
#[derive(Debug, Clone)]
pub struct TokenRequest {
    /// The user's e-mail; the user is created if missing.
    pub email: String,
    /// A global role to add, if any.
    pub role: Option<Role>,
    /// Shown in token lists.
    pub description: String,
    /// Lifetime; `None` = never expires.
    pub expires_in: Option<Duration>,
}

/// A freshly created token. `token` is the only copy of the plain text.
#[derive(Debug)]
pub struct CreatedToken {
    /// The token's id (for revocation).
    pub id: i64,
    /// The user it belongs to.
    pub user_id: i64,
    /// Whether the user was created by this call.
    pub user_created: bool,
    /// Whether the role was newly added.
    pub role_added: bool,
    /// The plain token: print once, store nowhere.
    pub token: String,
    /// When it stops working.
    pub expires_at: Option<DateTime<Utc>>,
}

/// Creates the user if missing, adds the role, and mints an `api` token, in one transaction.
pub async fn create_user_token(conn: &mut AsyncPgConnection, request: TokenRequest) -> Result<CreatedToken> {
    let email = validate_email(&request.email)?;
    let expires_at = match request.expires_in {
        None => None,
        Some(d) => Some(
            Utc::now()
                + chrono::Duration::from_std(d)
                    .map_err(|_| Error::InvalidArgument("expiry is too far in the future".into()))?,
        ),
    };
    conn.transaction(async move |conn| {
        let (user, user_created) = match store::user_by_email(conn, &email).await? {
            Some(user) => (user, false),
            None => {
                let user = store::insert_user(conn, &email).await?;
                let after = json!({"email": user.email, "name": user.name, "admin": false});
                audit::record(conn, Actor::System, "user_created", "User", user.id, None, Some(after)).await?;
                (user, true)
            }
        };
        let role_added = match request.role {
            Some(role) => store::add_to_group(conn, user.id, role.as_str()).await?,
            None => false,
        };
        let (plain, hash) = token::generate();
        let id = store::insert_token(
            conn,
            NewToken {
                token_hash: &hash.0,
                kind: "api",
                user_id: Some(user.id),
                service_account_id: None,
                description: &request.description,
                expires_at,
                created_by_user_id: None,
            },
        )
        .await?;
        let after = json!({"user": user.email, "description": request.description});
        audit::record(conn, Actor::System, "api_token_created", "APIKey", id, None, Some(after)).await?;
        if role_added {
            store::notify_auth_change(conn, &format!("user:{}", user.id)).await?;
        }
        Ok(CreatedToken { id, user_id: user.id, user_created, role_added, token: plain, expires_at })
    })
    .await
}

/// Revokes a token; every replica stops accepting it at once.
pub async fn revoke_token(conn: &mut AsyncPgConnection, id: i64) -> Result<TokenRow> {
    conn.transaction(async move |conn| {
        let token =
            store::revoke_token(conn, id).await?.ok_or_else(|| Error::NotFound(format!("no token with id {id}")))?;
        let owner = match token.user_id {
            Some(user_id) => store::user_by_id(conn, user_id).await?.map(|u| u.email),
            None => None,
        };
        let before = json!({"user": owner, "description": token.description});
        audit::record(conn, Actor::System, "api_token_revoked", "APIKey", id, Some(before), None).await?;
        store::notify_auth_change(conn, &format!("token:{id}")).await?;
        Ok(token)
    })
    .await
}

/// The outcome of [`set_admin`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AdminChange {
    /// A new user was created as admin.
    CreatedAdmin,
    /// An existing user became admin.
    Promoted,
    /// The user was admin already.
    AlreadyAdmin,
    /// Admin membership was removed.
    Revoked,
    /// The user was not an admin.
    NotAdmin,
    /// No such user (only when removing).
    UserNotFound,
}

/// Adds (or with `remove`, takes away) global admin for `email`.
pub async fn set_admin(conn: &mut AsyncPgConnection, email: &str, remove: bool) -> Result<AdminChange> {
    let email = validate_email(email)?;
    conn.transaction(async move |conn| {
        let existing = store::user_by_email(conn, &email).await?;
        let change = match (existing, remove) {
            (None, true) => return Ok(AdminChange::UserNotFound),
            (None, false) => {
                let user = store::insert_user(conn, &email).await?;
                store::add_to_group(conn, user.id, Role::Admin.as_str()).await?;
                let after = json!({"email": user.email, "name": user.name, "admin": true});
                audit::record(conn, Actor::System, "user_created", "User", user.id, None, Some(after)).await?;
                return Ok(AdminChange::CreatedAdmin);
            }
            (Some(user), false) => {
                let added = store::add_to_group(conn, user.id, Role::Admin.as_str()).await?;
                (user.id, if added { AdminChange::Promoted } else { AdminChange::AlreadyAdmin })
            }
            (Some(user), true) => {
                let removed = store::remove_from_group(conn, user.id, Role::Admin.as_str()).await?;
                (user.id, if removed { AdminChange::Revoked } else { AdminChange::NotAdmin })
            }
        };
        if matches!(change.1, AdminChange::Promoted | AdminChange::Revoked) {
            let admin = change.1 == AdminChange::Promoted;
            let (before, after) = (json!({"admin": !admin}), json!({"admin": admin}));
            audit::record(conn, Actor::System, "user_updated", "User", change.0, Some(before), Some(after)).await?;
            store::notify_auth_change(conn, &format!("user:{}", change.0)).await?;
        }
        Ok(change.1)
    })
    .await
}

/// Enables or disables a user by e-mail; every credential of a disabled user is refused.
pub async fn set_user_active(conn: &mut AsyncPgConnection, email: &str, active: bool) -> Result<()> {
    let email = validate_email(email)?;
    conn.transaction(async move |conn| {
        let user = store::user_by_email(conn, &email)
            .await?
            .ok_or_else(|| Error::NotFound(format!("no user with e-mail {email}")))?;
        if user.is_active == active {
            return Ok(());
        }
        store::set_user_active(conn, user.id, active).await?;
        let (before, after) = (json!({"is_active": !active}), json!({"is_active": active}));
        audit::record(conn, Actor::System, "user_updated", "User", user.id, Some(before), Some(after)).await?;
        store::notify_auth_change(conn, &format!("user:{}", user.id)).await?;
        Ok(())
    })
    .await
}

/// Trims and checks an e-mail address's shape (one `@`, non-empty parts, no spaces).
pub fn validate_email(email: &str) -> Result<String> {
    let email = email.trim();
    let valid = email.len() <= 320
        && email.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty() && domain.contains('.') && !domain.contains('@') && !domain.starts_with('.')
        })
        && !email.contains(char::is_whitespace);
    if !valid {
        return Err(Error::InvalidArgument(format!("'{email}' is not an e-mail address like alice@example.org")));
    }
    if email.to_ascii_lowercase().ends_with(&format!("@{SERVICE_ACCOUNT_DOMAIN}")) {
        return Err(Error::InvalidArgument(format!("@{SERVICE_ACCOUNT_DOMAIN} is reserved for service accounts")));
    }
    Ok(email.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails() {
        assert_eq!(validate_email(" alice@example.org ").unwrap(), "alice@example.org");
        for bad in
            ["", "alice", "@example.org", "alice@", "a b@example.org", "a@b@c.org", "bot@service-account.dsg.local"]
        {
            assert!(validate_email(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn last_used_is_written_at_most_once_a_minute() {
        let now = Utc::now();
        assert!(needs_touch(None, now));
        assert!(!needs_touch(Some(now - chrono::Duration::seconds(10)), now));
        assert!(needs_touch(Some(now - chrono::Duration::seconds(61)), now));
    }
}
