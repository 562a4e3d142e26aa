//! Services (spec §5.3): the names service-specific TOS documents are scoped
//! to (`celltyping`, `neuprint`, …). Global admins only; each change is one
//! transaction with its audit row, and deleting a service (which removes its
//! TOS documents) evicts every cached permission document.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncConnection as _, AsyncPgConnection, RunQueryDsl};
use serde_json::json;

use super::admin::{ALL, AdminCaller, record, replayed};
use crate::auth::store::notify_auth_change;
use crate::db::schema::services;
use crate::error::{Error, Result};

/// A row of `services`.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = services)]
pub struct ServiceRow {
    pub id: i64,
    pub name: String,
    pub display_name: String,
    pub base_url: String,
    pub created_at: DateTime<Utc>,
}

async fn named(conn: &mut AsyncPgConnection, name: &str) -> Result<ServiceRow> {
    services::table
        .filter(services::name.eq(name))
        .select(ServiceRow::as_select())
        .first(conn)
        .await
        .optional()?
        .ok_or_else(|| Error::NotFound(format!("Service not found: {name}")))
}

fn state(row: &ServiceRow) -> serde_json::Value {
    json!({"name": row.name, "display_name": row.display_name, "base_url": row.base_url})
}

/// Registers a service (`name` is a validated slug).
pub async fn create(
    conn: &mut AsyncPgConnection,
    caller: AdminCaller,
    name: &str,
    display_name: &str,
    base_url: &str,
    request_id: Option<&str>,
) -> Result<ServiceRow> {
    caller.require_admin()?;
    conn.transaction(async |conn| {
        if let Some(id) = replayed(conn, caller, "service_created", request_id).await? {
            return Ok(services::table.find(id).select(ServiceRow::as_select()).first(conn).await?);
        }
        if services::table.filter(services::name.eq(name)).count().get_result::<i64>(conn).await? > 0 {
            return Err(Error::AlreadyExists(format!("Service {name} already exists")));
        }
        let row: ServiceRow = diesel::insert_into(services::table)
            .values((services::name.eq(name), services::display_name.eq(display_name), services::base_url.eq(base_url)))
            .returning(ServiceRow::as_returning())
            .get_result(conn)
            .await?;
        record(conn, caller.actor(), "service_created", "Service", row.id, None, Some(state(&row)), request_id).await?;
        Ok(row)
    })
    .await
}

/// Every service by name.
pub async fn list(conn: &mut AsyncPgConnection, caller: AdminCaller) -> Result<Vec<ServiceRow>> {
    caller.require_admin()?;
    Ok(services::table.select(ServiceRow::as_select()).order(services::name).load(conn).await?)
}

/// Changes display name and/or base URL; no change writes nothing.
pub async fn update(
    conn: &mut AsyncPgConnection,
    caller: AdminCaller,
    name: &str,
    display_name: Option<&str>,
    base_url: Option<&str>,
) -> Result<ServiceRow> {
    caller.require_admin()?;
    conn.transaction(async |conn| {
        let old = named(conn, name).await?;
        let display_name = display_name.unwrap_or(&old.display_name);
        let base_url = base_url.unwrap_or(&old.base_url);
        if (display_name, base_url) == (old.display_name.as_str(), old.base_url.as_str()) {
            return Ok(old);
        }
        let new: ServiceRow = diesel::update(services::table.find(old.id))
            .set((services::display_name.eq(display_name), services::base_url.eq(base_url)))
            .returning(ServiceRow::as_returning())
            .get_result(conn)
            .await?;
        record(conn, caller.actor(), "service_updated", "Service", old.id, Some(state(&old)), Some(state(&new)), None)
            .await?;
        Ok(new)
    })
    .await
}

/// Deletes a service and its service-specific TOS documents.
pub async fn delete(conn: &mut AsyncPgConnection, caller: AdminCaller, name: &str) -> Result<()> {
    caller.require_admin()?;
    conn.transaction(async |conn| {
        let old = named(conn, name).await?;
        diesel::delete(services::table.find(old.id)).execute(conn).await?;
        record(conn, caller.actor(), "service_deleted", "Service", old.id, Some(state(&old)), None, None).await?;
        // Its TOS documents leave everyone's service filters.
        notify_auth_change(conn, ALL).await?;
        Ok(())
    })
    .await
}
