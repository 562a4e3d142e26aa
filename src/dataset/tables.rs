//! Service tables and public roots (spec §5.3): which dataset a CAVE table
//! belongs to, and which of its root ids anyone may read. Dataset admins
//! manage tables; managers also manage public roots. Each change is one
//! transaction with its audit row (the lookups read the tables directly, so
//! no permission cache is involved).

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncConnection as _, AsyncPgConnection, RunQueryDsl};
use serde_json::json;

use super::admin::{AdminCaller, PageRequest, caller_levels, dataset_named, denied, record};
use super::store::DatasetRow;
use crate::db::schema::{public_roots, service_tables};
use crate::error::{Error, Result};

/// A service table with its public-root count.
#[derive(Debug, Clone)]
pub struct ServiceTableView {
    /// Its id.
    pub id: i64,
    /// The dataset's name.
    pub dataset: String,
    /// Service namespace.
    pub service_name: String,
    /// Table name.
    pub table_name: String,
    /// Public roots.
    pub public_root_count: i64,
    /// When it was added.
    pub created_at: DateTime<Utc>,
}

/// (id, service_name, table_name, created_at).
type TableRow = (i64, String, String, DateTime<Utc>);

async fn table_views(
    conn: &mut AsyncPgConnection,
    dataset: &DatasetRow,
    rows: Vec<TableRow>,
) -> QueryResult<Vec<ServiceTableView>> {
    let mut out = Vec::with_capacity(rows.len());
    for (id, service_name, table_name, created_at) in rows {
        let public_root_count: i64 =
            public_roots::table.filter(public_roots::service_table_id.eq(id)).count().get_result(conn).await?;
        out.push(ServiceTableView {
            id,
            dataset: dataset.name.clone(),
            service_name,
            table_name,
            public_root_count,
            created_at,
        });
    }
    Ok(out)
}

/// The dataset, if the caller is its dataset admin (or a global admin).
async fn as_dataset_admin(conn: &mut AsyncPgConnection, caller: AdminCaller, dataset: &str) -> Result<DatasetRow> {
    let row = dataset_named(conn, dataset).await?;
    if !caller.admin && !caller_levels(conn, caller.user_id, row.id).await?.dataset_admin() {
        return Err(denied("Only dataset administrators can manage service tables"));
    }
    Ok(row)
}

/// The dataset, if the caller manages it (or is a global admin).
async fn as_manager(conn: &mut AsyncPgConnection, caller: AdminCaller, dataset: &str) -> Result<DatasetRow> {
    let row = dataset_named(conn, dataset).await?;
    if !caller.admin && !caller_levels(conn, caller.user_id, row.id).await?.manages() {
        return Err(denied("You do not have manage permission on this dataset"));
    }
    Ok(row)
}

/// The table `id` of `dataset`, else NOT_FOUND.
async fn table_of(conn: &mut AsyncPgConnection, dataset: &DatasetRow, id: i64) -> Result<TableRow> {
    service_tables::table
        .find(id)
        .filter(service_tables::dataset_id.eq(dataset.id))
        .select((
            service_tables::id,
            service_tables::service_name,
            service_tables::table_name,
            service_tables::created_at,
        ))
        .first(conn)
        .await
        .optional()?
        .ok_or_else(|| Error::NotFound(format!("Service table {id} not found in {}", dataset.name)))
}

/// Maps `service/table` to the dataset (dataset admins).
pub async fn add_table(
    conn: &mut AsyncPgConnection,
    caller: AdminCaller,
    dataset: &str,
    service_name: &str,
    table_name: &str,
) -> Result<ServiceTableView> {
    if service_name.trim().is_empty() || table_name.trim().is_empty() {
        return Err(Error::InvalidArgument("Service name and table name are required".into()));
    }
    if service_name.len() > 255 || table_name.len() > 255 {
        return Err(Error::InvalidArgument("service_name and table_name must be at most 255 characters".into()));
    }
    conn.transaction(async |conn| {
        let dataset = as_dataset_admin(conn, caller, dataset).await?;
        let exists: bool = diesel::select(diesel::dsl::exists(
            service_tables::table
                .filter(service_tables::service_name.eq(service_name))
                .filter(service_tables::table_name.eq(table_name)),
        ))
        .get_result(conn)
        .await?;
        if exists {
            return Err(Error::AlreadyExists(format!("Service table {service_name}/{table_name} already exists")));
        }
        let row: TableRow = diesel::insert_into(service_tables::table)
            .values((
                service_tables::service_name.eq(service_name),
                service_tables::table_name.eq(table_name),
                service_tables::dataset_id.eq(dataset.id),
            ))
            .returning((
                service_tables::id,
                service_tables::service_name,
                service_tables::table_name,
                service_tables::created_at,
            ))
            .get_result(conn)
            .await?;
        let after = json!({"service_name": service_name, "table_name": table_name, "dataset": dataset.name});
        record(conn, caller.actor(), "service_table_added", "ServiceTable", row.0, None, Some(after), None).await?;
        Ok(table_views(conn, &dataset, vec![row]).await?.remove(0))
    })
    .await
}

/// Removes a mapping and its public roots (dataset admins).
pub async fn remove_table(conn: &mut AsyncPgConnection, caller: AdminCaller, dataset: &str, id: i64) -> Result<()> {
    conn.transaction(async |conn| {
        let dataset = as_dataset_admin(conn, caller, dataset).await?;
        let (id, service_name, table_name, _) = table_of(conn, &dataset, id).await?;
        diesel::delete(service_tables::table.find(id)).execute(conn).await?;
        let before = json!({"service_name": service_name, "table_name": table_name, "dataset": dataset.name});
        record(conn, caller.actor(), "service_table_removed", "ServiceTable", id, Some(before), None, None).await?;
        Ok(())
    })
    .await
}

/// The dataset's service tables by service and table name (dataset admins).
pub async fn list_tables(
    conn: &mut AsyncPgConnection,
    caller: AdminCaller,
    dataset: &str,
) -> Result<Vec<ServiceTableView>> {
    let dataset = as_dataset_admin(conn, caller, dataset).await?;
    let rows: Vec<TableRow> = service_tables::table
        .filter(service_tables::dataset_id.eq(dataset.id))
        .select((
            service_tables::id,
            service_tables::service_name,
            service_tables::table_name,
            service_tables::created_at,
        ))
        .order((service_tables::service_name, service_tables::table_name))
        .load(conn)
        .await?;
    Ok(table_views(conn, &dataset, rows).await?)
}

fn root_state(service_name: &str, table_name: &str, root_id: i64, dataset: &str) -> serde_json::Value {
    json!({"service_table": format!("{service_name}/{table_name}"), "root_id": root_id, "dataset": dataset})
}

/// Marks a root public; `false` if it was already (managers).
pub async fn add_root(
    conn: &mut AsyncPgConnection,
    caller: AdminCaller,
    dataset: &str,
    table_id: i64,
    root_id: i64,
) -> Result<bool> {
    conn.transaction(async |conn| {
        let dataset = as_manager(conn, caller, dataset).await?;
        let (table_id, service_name, table_name, _) = table_of(conn, &dataset, table_id).await?;
        let inserted: Option<i64> = diesel::insert_into(public_roots::table)
            .values((public_roots::service_table_id.eq(table_id), public_roots::root_id.eq(root_id)))
            .on_conflict_do_nothing()
            .returning(public_roots::id)
            .get_result(conn)
            .await
            .optional()?;
        let Some(id) = inserted else { return Ok(false) };
        let after = root_state(&service_name, &table_name, root_id, &dataset.name);
        record(conn, caller.actor(), "public_root_added", "PublicRoot", id, None, Some(after), None).await?;
        Ok(true)
    })
    .await
}

/// Unmarks a public root (managers); NOT_FOUND if it was not public.
pub async fn remove_root(
    conn: &mut AsyncPgConnection,
    caller: AdminCaller,
    dataset: &str,
    table_id: i64,
    root_id: i64,
) -> Result<()> {
    conn.transaction(async |conn| {
        let dataset = as_manager(conn, caller, dataset).await?;
        let (table_id, service_name, table_name, _) = table_of(conn, &dataset, table_id).await?;
        let removed: Option<i64> = diesel::delete(
            public_roots::table
                .filter(public_roots::service_table_id.eq(table_id))
                .filter(public_roots::root_id.eq(root_id)),
        )
        .returning(public_roots::id)
        .get_result(conn)
        .await
        .optional()?;
        let id = removed.ok_or_else(|| Error::NotFound(format!("Root {root_id} is not public")))?;
        let before = root_state(&service_name, &table_name, root_id, &dataset.name);
        record(conn, caller.actor(), "public_root_removed", "PublicRoot", id, Some(before), None, None).await?;
        Ok(())
    })
    .await
}

/// A page of a table's public roots, ascending (managers).
pub async fn list_roots(
    conn: &mut AsyncPgConnection,
    caller: AdminCaller,
    dataset: &str,
    table_id: i64,
    page: PageRequest,
) -> Result<(Vec<i64>, String)> {
    let dataset = as_manager(conn, caller, dataset).await?;
    let (table_id, ..) = table_of(conn, &dataset, table_id).await?;
    let roots: Vec<i64> = public_roots::table
        .filter(public_roots::service_table_id.eq(table_id))
        .select(public_roots::root_id)
        .order(public_roots::root_id)
        .offset(page.offset)
        .limit(page.fetch())
        .load(conn)
        .await?;
    Ok(page.finish(roots))
}
