//! Service accounts and their tokens (spec §5.5), global admins only: create,
//! update, enable/disable, delete behind a name confirmation, and tokens whose
//! plain text is returned once and stored only as a hash. Disabling, deleting
//! and revoking evict the credential caches of every replica in the same
//! transaction that writes the audit row.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncConnection as _, AsyncPgConnection, RunQueryDsl};
use serde_json::json;

use super::admin::{AdminCaller, PageRequest, record, replayed};
use crate::auth::ops::SERVICE_ACCOUNT_DOMAIN;
use crate::auth::store::{self as auth_store, NewToken, notify_auth_change};
use crate::db::schema::{api_tokens, grants, service_accounts, users};
use crate::error::{Error, Result};

/// A service account with its counts.
#[derive(Debug, Clone)]
pub struct ServiceAccountView {
    /// Its id.
    pub id: i64,
    /// Its slug name.
    pub name: String,
    /// Free text.
    pub description: String,
    /// Enabled.
    pub is_active: bool,
    /// Live tokens.
    pub token_count: i64,
    /// Grants held.
    pub grant_count: i64,
    /// The creating admin's e-mail.
    pub created_by: Option<String>,
    /// When it was created.
    pub created_at: DateTime<Utc>,
}

impl ServiceAccountView {
    /// `<name>@service-account.dsg.local`.
    pub fn email(&self) -> String {
        format!("{}@{SERVICE_ACCOUNT_DOMAIN}", self.name)
    }
}

/// A token's metadata (never its text).
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = api_tokens)]
pub struct TokenView {
    pub id: i64,
    pub description: String,
    pub created_at: DateTime<Utc>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub expires_at: Option<DateTime<Utc>>,
}

/// (id, name, description, is_active, created_by_user_id, created_at).
type AccountRow = (i64, String, String, bool, Option<i64>, DateTime<Utc>);

fn live_tokens() -> diesel::dsl::IsNull<api_tokens::revoked_at> {
    api_tokens::revoked_at.is_null()
}

async fn views(conn: &mut AsyncPgConnection, rows: Vec<AccountRow>) -> QueryResult<Vec<ServiceAccountView>> {
    let mut out = Vec::with_capacity(rows.len());
    for (id, name, description, is_active, created_by_user_id, created_at) in rows {
        let token_count: i64 = api_tokens::table
            .filter(api_tokens::service_account_id.eq(id))
            .filter(live_tokens())
            .count()
            .get_result(conn)
            .await?;
        let grant_count: i64 = grants::table.filter(grants::service_account_id.eq(id)).count().get_result(conn).await?;
        let created_by = match created_by_user_id {
            Some(uid) => users::table.find(uid).select(users::email).first(conn).await.optional()?,
            None => None,
        };
        out.push(ServiceAccountView {
            id,
            name,
            description,
            is_active,
            token_count,
            grant_count,
            created_by,
            created_at,
        });
    }
    Ok(out)
}

fn columns() -> (
    service_accounts::id,
    service_accounts::name,
    service_accounts::description,
    service_accounts::is_active,
    service_accounts::created_by_user_id,
    service_accounts::created_at,
) {
    (
        service_accounts::id,
        service_accounts::name,
        service_accounts::description,
        service_accounts::is_active,
        service_accounts::created_by_user_id,
        service_accounts::created_at,
    )
}

/// The account with this name, else NOT_FOUND.
async fn named(conn: &mut AsyncPgConnection, name: &str) -> Result<ServiceAccountView> {
    let row: AccountRow = service_accounts::table
        .filter(service_accounts::name.eq(name))
        .select(columns())
        .first(conn)
        .await
        .optional()?
        .ok_or_else(|| Error::NotFound(format!("Service account not found: {name}")))?;
    Ok(views(conn, vec![row]).await?.remove(0))
}

async fn by_id(conn: &mut AsyncPgConnection, id: i64) -> Result<ServiceAccountView> {
    let row: AccountRow = service_accounts::table.find(id).select(columns()).first(conn).await?;
    Ok(views(conn, vec![row]).await?.remove(0))
}

/// Creates a service account (no token yet); `name` is a validated slug.
pub async fn create(
    conn: &mut AsyncPgConnection,
    caller: AdminCaller,
    name: &str,
    description: &str,
    request_id: Option<&str>,
) -> Result<ServiceAccountView> {
    caller.require_admin()?;
    conn.transaction(async |conn| {
        if let Some(id) = replayed(conn, caller, "service_account_created", request_id).await? {
            return by_id(conn, id).await;
        }
        let exists: bool =
            diesel::select(diesel::dsl::exists(service_accounts::table.filter(service_accounts::name.eq(name))))
                .get_result(conn)
                .await?;
        if exists {
            return Err(Error::AlreadyExists(format!("Service account {name} already exists")));
        }
        let id: i64 = diesel::insert_into(service_accounts::table)
            .values((
                service_accounts::name.eq(name),
                service_accounts::description.eq(description),
                service_accounts::created_by_user_id.eq(caller.user_id),
            ))
            .returning(service_accounts::id)
            .get_result(conn)
            .await?;
        let after = json!({"name": name, "description": description});
        record(conn, caller.actor(), "service_account_created", "ServiceAccount", id, None, Some(after), request_id)
            .await?;
        by_id(conn, id).await
    })
    .await
}

/// One service account.
pub async fn get(conn: &mut AsyncPgConnection, caller: AdminCaller, name: &str) -> Result<ServiceAccountView> {
    caller.require_admin()?;
    named(conn, name).await
}

/// A page of service accounts by name.
pub async fn list(
    conn: &mut AsyncPgConnection,
    caller: AdminCaller,
    page: PageRequest,
) -> Result<(Vec<ServiceAccountView>, String)> {
    caller.require_admin()?;
    let rows: Vec<AccountRow> = service_accounts::table
        .select(columns())
        .order(service_accounts::name)
        .offset(page.offset)
        .limit(page.fetch())
        .load(conn)
        .await?;
    let (rows, next) = page.finish(rows);
    Ok((views(conn, rows).await?, next))
}

/// Changes the description; an unchanged one writes nothing.
pub async fn update(
    conn: &mut AsyncPgConnection,
    caller: AdminCaller,
    name: &str,
    description: Option<&str>,
) -> Result<ServiceAccountView> {
    caller.require_admin()?;
    conn.transaction(async |conn| {
        let account = named(conn, name).await?;
        let Some(description) = description.filter(|d| *d != account.description) else {
            return Ok(account);
        };
        diesel::update(service_accounts::table.find(account.id))
            .set((service_accounts::description.eq(description), service_accounts::updated_at.eq(Utc::now())))
            .execute(conn)
            .await?;
        let (before, after) = (json!({"description": account.description}), json!({"description": description}));
        record(
            conn,
            caller.actor(),
            "service_account_updated",
            "ServiceAccount",
            account.id,
            Some(before),
            Some(after),
            None,
        )
        .await?;
        by_id(conn, account.id).await
    })
    .await
}

/// Enables or disables; disabling refuses every token of the account on the next request.
pub async fn set_active(
    conn: &mut AsyncPgConnection,
    caller: AdminCaller,
    name: &str,
    is_active: bool,
) -> Result<ServiceAccountView> {
    caller.require_admin()?;
    conn.transaction(async |conn| {
        let account = named(conn, name).await?;
        if account.is_active == is_active {
            return Ok(account);
        }
        diesel::update(service_accounts::table.find(account.id))
            .set((service_accounts::is_active.eq(is_active), service_accounts::updated_at.eq(Utc::now())))
            .execute(conn)
            .await?;
        let action = if is_active { "service_account_enabled" } else { "service_account_disabled" };
        let after = json!({"is_active": is_active});
        record(conn, caller.actor(), action, "ServiceAccount", account.id, None, Some(after), None).await?;
        notify_auth_change(conn, &format!("sa:{}", account.id)).await?;
        by_id(conn, account.id).await
    })
    .await
}

/// Deletes the account with its tokens and grants, if `confirm_name` repeats its name.
pub async fn delete(conn: &mut AsyncPgConnection, caller: AdminCaller, name: &str, confirm_name: &str) -> Result<()> {
    caller.require_admin()?;
    conn.transaction(async |conn| {
        let account = named(conn, name).await?;
        if confirm_name != account.name {
            return Err(Error::FailedPrecondition(
                "Confirmation name did not match. Service account NOT deleted.".into(),
            ));
        }
        // Tokens reference the account; delete them explicitly rather than rely on the FK action.
        diesel::delete(api_tokens::table.filter(api_tokens::service_account_id.eq(account.id))).execute(conn).await?;
        diesel::delete(service_accounts::table.find(account.id)).execute(conn).await?;
        let before = json!({"name": account.name, "description": account.description,
            "token_count": account.token_count, "grant_count": account.grant_count});
        record(conn, caller.actor(), "service_account_deleted", "ServiceAccount", account.id, Some(before), None, None)
            .await?;
        notify_auth_change(conn, &format!("sa:{}", account.id)).await?;
        Ok(())
    })
    .await
}

/// Mints a token; returns its metadata and its plain text (shown once).
pub async fn create_token(
    conn: &mut AsyncPgConnection,
    caller: AdminCaller,
    name: &str,
    description: &str,
) -> Result<(TokenView, String)> {
    caller.require_admin()?;
    conn.transaction(async |conn| {
        let account = named(conn, name).await?;
        let (plain, hash) = crate::auth::token::generate();
        let new = NewToken {
            token_hash: &hash.0,
            kind: "service_account",
            user_id: None,
            service_account_id: Some(account.id),
            description,
            expires_at: None,
            created_by_user_id: Some(caller.user_id),
        };
        let id = auth_store::insert_token(conn, new).await?;
        let after = json!({"service_account": account.name, "description": description});
        record(conn, caller.actor(), "sa_token_created", "ServiceAccountToken", id, None, Some(after), None).await?;
        let view = api_tokens::table.find(id).select(TokenView::as_select()).first(conn).await?;
        Ok((view, plain))
    })
    .await
}

/// The account's live tokens by id.
pub async fn list_tokens(conn: &mut AsyncPgConnection, caller: AdminCaller, name: &str) -> Result<Vec<TokenView>> {
    caller.require_admin()?;
    let account = named(conn, name).await?;
    Ok(api_tokens::table
        .filter(api_tokens::service_account_id.eq(account.id))
        .filter(live_tokens())
        .select(TokenView::as_select())
        .order(api_tokens::id)
        .load(conn)
        .await?)
}

/// Revokes one live token of the account.
pub async fn revoke_token(conn: &mut AsyncPgConnection, caller: AdminCaller, name: &str, token_id: i64) -> Result<()> {
    caller.require_admin()?;
    conn.transaction(async |conn| {
        let account = named(conn, name).await?;
        let description: String = diesel::update(
            api_tokens::table
                .find(token_id)
                .filter(api_tokens::service_account_id.eq(account.id))
                .filter(live_tokens()),
        )
        .set(api_tokens::revoked_at.eq(Utc::now()))
        .returning(api_tokens::description)
        .get_result(conn)
        .await
        .optional()?
        .ok_or_else(|| Error::NotFound(format!("Token not found: {token_id}")))?;
        let before = json!({"service_account": account.name, "description": description});
        record(conn, caller.actor(), "sa_token_revoked", "ServiceAccountToken", token_id, Some(before), None, None)
            .await?;
        notify_auth_change(conn, &format!("token:{token_id}")).await?;
        Ok(())
    })
    .await
}
