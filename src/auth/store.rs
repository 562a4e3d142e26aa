//! Rows and queries of the identity core: users, service accounts, groups and
//! API tokens.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use crate::db::schema::{api_tokens, group_memberships, groups, service_accounts, users};

diesel::define_sql_function!(fn lower(x: diesel::sql_types::Text) -> diesel::sql_types::Text);

/// The channel whose notifications evict cached credentials on every replica.
pub const AUTH_CHANNEL: &str = "steward_auth";

/// A row of `api_tokens` (without the hash).
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = api_tokens)]
pub struct TokenRow {
    pub id: i64,
    pub kind: String,
    pub user_id: Option<i64>,
    pub service_account_id: Option<i64>,
    pub description: String,
    pub expires_at: Option<DateTime<Utc>>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

/// A new API token.
#[derive(Debug, Insertable)]
#[diesel(table_name = api_tokens)]
pub struct NewToken<'a> {
    pub token_hash: &'a [u8],
    pub kind: &'a str,
    pub user_id: Option<i64>,
    pub service_account_id: Option<i64>,
    pub description: &'a str,
    pub expires_at: Option<DateTime<Utc>>,
    pub created_by_user_id: Option<i64>,
}

/// A row of `users`.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = users)]
pub struct UserRow {
    pub id: i64,
    pub email: String,
    pub name: String,
    pub display_name: String,
    pub picture_url: String,
    pub is_active: bool,
}

impl UserRow {
    /// `display_name`, else `name`, else the e-mail's local part.
    pub fn public_name(&self) -> String {
        [&self.display_name, &self.name]
            .into_iter()
            .find(|s| !s.is_empty())
            .cloned()
            .unwrap_or_else(|| self.email.split('@').next().unwrap_or_default().to_owned())
    }
}

/// A row of `service_accounts`.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = service_accounts)]
pub struct ServiceAccountRow {
    pub id: i64,
    pub name: String,
    pub description: String,
    pub is_active: bool,
}

/// The token with this hash, if any (revoked and expired ones included).
pub async fn find_token(conn: &mut AsyncPgConnection, hash: &[u8]) -> QueryResult<Option<TokenRow>> {
    api_tokens::table.filter(api_tokens::token_hash.eq(hash)).select(TokenRow::as_select()).first(conn).await.optional()
}

/// The token with this id.
pub async fn token_by_id(conn: &mut AsyncPgConnection, id: i64) -> QueryResult<Option<TokenRow>> {
    api_tokens::table.find(id).select(TokenRow::as_select()).first(conn).await.optional()
}

/// Records that a token was used now.
pub async fn touch_token(conn: &mut AsyncPgConnection, id: i64) -> QueryResult<()> {
    diesel::update(api_tokens::table.find(id))
        .set(api_tokens::last_used_at.eq(diesel::dsl::now))
        .execute(conn)
        .await
        .map(drop)
}

/// Inserts a token and returns its id.
pub async fn insert_token(conn: &mut AsyncPgConnection, token: NewToken<'_>) -> QueryResult<i64> {
    diesel::insert_into(api_tokens::table).values(token).returning(api_tokens::id).get_result(conn).await
}

/// Marks a token revoked; returns it, or `None` if no such token exists.
pub async fn revoke_token(conn: &mut AsyncPgConnection, id: i64) -> QueryResult<Option<TokenRow>> {
    diesel::update(api_tokens::table.find(id))
        .set(api_tokens::revoked_at.eq(Some(Utc::now())))
        .returning(TokenRow::as_returning())
        .get_result(conn)
        .await
        .optional()
}

/// The user with this id.
pub async fn user_by_id(conn: &mut AsyncPgConnection, id: i64) -> QueryResult<Option<UserRow>> {
    users::table.find(id).select(UserRow::as_select()).first(conn).await.optional()
}

/// The user with this e-mail (compared case-insensitively).
pub async fn user_by_email(conn: &mut AsyncPgConnection, email: &str) -> QueryResult<Option<UserRow>> {
    users::table
        .filter(lower(users::email).eq(email.to_lowercase()))
        .select(UserRow::as_select())
        .first(conn)
        .await
        .optional()
}

/// Creates a user whose name is the e-mail's local part.
pub async fn insert_user(conn: &mut AsyncPgConnection, email: &str) -> QueryResult<UserRow> {
    let name = email.split('@').next().unwrap_or_default();
    diesel::insert_into(users::table)
        .values((users::email.eq(email), users::name.eq(name)))
        .returning(UserRow::as_returning())
        .get_result(conn)
        .await
}

/// Enables or disables a user.
pub async fn set_user_active(conn: &mut AsyncPgConnection, id: i64, active: bool) -> QueryResult<usize> {
    diesel::update(users::table.find(id)).set(users::is_active.eq(active)).execute(conn).await
}

/// The service account with this id.
pub async fn service_account_by_id(conn: &mut AsyncPgConnection, id: i64) -> QueryResult<Option<ServiceAccountRow>> {
    service_accounts::table.find(id).select(ServiceAccountRow::as_select()).first(conn).await.optional()
}

/// The names of the user's groups, sorted.
pub async fn user_group_names(conn: &mut AsyncPgConnection, user_id: i64) -> QueryResult<Vec<String>> {
    group_memberships::table
        .inner_join(groups::table)
        .filter(group_memberships::user_id.eq(user_id))
        .select(groups::name)
        .order(groups::name)
        .load(conn)
        .await
}

/// Adds the user to the named group; `false` if already a member.
pub async fn add_to_group(conn: &mut AsyncPgConnection, user_id: i64, group: &str) -> QueryResult<bool> {
    let group_id: i64 = groups::table.filter(groups::name.eq(group)).select(groups::id).first(conn).await?;
    let inserted = diesel::insert_into(group_memberships::table)
        .values((group_memberships::user_id.eq(user_id), group_memberships::group_id.eq(group_id)))
        .on_conflict_do_nothing()
        .execute(conn)
        .await?;
    Ok(inserted == 1)
}

/// Removes the user from the named group; `false` if not a member.
pub async fn remove_from_group(conn: &mut AsyncPgConnection, user_id: i64, group: &str) -> QueryResult<bool> {
    let group_ids = groups::table.filter(groups::name.eq(group)).select(groups::id);
    let deleted = diesel::delete(
        group_memberships::table
            .filter(group_memberships::user_id.eq(user_id))
            .filter(group_memberships::group_id.eq_any(group_ids)),
    )
    .execute(conn)
    .await?;
    Ok(deleted > 0)
}

/// Sends `payload` on [`AUTH_CHANNEL`]; PostgreSQL delivers it on commit only.
pub async fn notify_auth_change(conn: &mut AsyncPgConnection, payload: &str) -> QueryResult<()> {
    diesel::sql_query("SELECT pg_notify($1, $2)")
        .bind::<diesel::sql_types::Text, _>(AUTH_CHANNEL)
        .bind::<diesel::sql_types::Text, _>(payload)
        .execute(conn)
        .await
        .map(drop)
}

/// Deletes tokens revoked or expired more than `days` days ago; returns how many.
pub async fn purge_dead_tokens(conn: &mut AsyncPgConnection, days: i32) -> QueryResult<usize> {
    let cutoff = Utc::now() - chrono::Duration::days(i64::from(days));
    diesel::delete(api_tokens::table.filter(api_tokens::revoked_at.lt(cutoff).or(api_tokens::expires_at.lt(cutoff))))
        .execute(conn)
        .await
}
