//! Middleauth apps (spec §3.5, §5.7): the CAVE apps whose URLs the
//! middleauth popup sends to Neuroglancer as `app_urls` beside the login
//! token; the viewer refuses apps not on that list. Global admins manage
//! them; each change is one transaction with its audit row.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncConnection as _, AsyncPgConnection, RunQueryDsl};
use serde_json::json;

use super::admin::{AdminCaller, PageRequest, record, replayed};
use crate::db::schema::middleauth_apps;
use crate::error::{Error, Result};

/// A row of `middleauth_apps`.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = middleauth_apps)]
pub struct MiddleauthAppRow {
    pub id: i64,
    pub name: String,
    pub url: String,
    pub created_at: DateTime<Utc>,
}

fn state(row: &MiddleauthAppRow) -> serde_json::Value {
    json!({"name": row.name, "url": row.url})
}

/// Registers an app (`name` and `url` validated by the caller); a URL already
/// registered is ALREADY_EXISTS.
pub async fn create(
    conn: &mut AsyncPgConnection,
    caller: AdminCaller,
    name: &str,
    url: &str,
    request_id: Option<&str>,
) -> Result<MiddleauthAppRow> {
    caller.require_admin()?;
    conn.transaction(async |conn| {
        if let Some(id) = replayed(conn, caller, "middleauth_app_created", request_id).await? {
            return Ok(middleauth_apps::table.find(id).select(MiddleauthAppRow::as_select()).first(conn).await?);
        }
        if middleauth_apps::table.filter(middleauth_apps::url.eq(url)).count().get_result::<i64>(conn).await? > 0 {
            return Err(Error::AlreadyExists(format!("Middleauth app {url} already exists")));
        }
        let row: MiddleauthAppRow = diesel::insert_into(middleauth_apps::table)
            .values((middleauth_apps::name.eq(name), middleauth_apps::url.eq(url)))
            .returning(MiddleauthAppRow::as_returning())
            .get_result(conn)
            .await?;
        record(
            conn,
            caller.actor(),
            "middleauth_app_created",
            "MiddleauthApp",
            row.id,
            None,
            Some(state(&row)),
            request_id,
        )
        .await?;
        Ok(row)
    })
    .await
}

/// A page of apps by id.
pub async fn list(
    conn: &mut AsyncPgConnection,
    caller: AdminCaller,
    page: PageRequest,
) -> Result<(Vec<MiddleauthAppRow>, String)> {
    caller.require_admin()?;
    let rows = middleauth_apps::table
        .select(MiddleauthAppRow::as_select())
        .order(middleauth_apps::id)
        .offset(page.offset)
        .limit(page.fetch())
        .load(conn)
        .await?;
    Ok(page.finish(rows))
}

/// Removes an app; an unknown id is NOT_FOUND.
pub async fn delete(conn: &mut AsyncPgConnection, caller: AdminCaller, id: i64) -> Result<()> {
    caller.require_admin()?;
    conn.transaction(async |conn| {
        let old: MiddleauthAppRow = diesel::delete(middleauth_apps::table.find(id))
            .returning(MiddleauthAppRow::as_returning())
            .get_result(conn)
            .await
            .optional()?
            .ok_or_else(|| Error::NotFound(format!("Middleauth app not found: {id}")))?;
        record(conn, caller.actor(), "middleauth_app_deleted", "MiddleauthApp", old.id, Some(state(&old)), None, None)
            .await?;
        Ok(())
    })
    .await
}

/// Every app's URL, for the popup's `app_urls` (no caller: the signed-in
/// user receives them with their own token).
pub async fn urls(conn: &mut AsyncPgConnection) -> QueryResult<Vec<String>> {
    middleauth_apps::table.select(middleauth_apps::url).order(middleauth_apps::id).load(conn).await
}
