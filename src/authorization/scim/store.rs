//! Rows behind the SCIM resources and the queries that read and write them:
//! users with their groups, groups with their members, datasets with their
//! service tables. Every row already carries its `scim_id` (assigned by a
//! trigger on every insert path, spec §2.1).

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use super::filter::{Filter, FilterError};
use super::query::{self, Predicate};
use crate::db::schema::{datasets, grants, group_memberships, groups, service_tables, users};

/// A user as SCIM shows it.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = users)]
pub struct UserRow {
    pub id: i64,
    pub email: String,
    pub name: String,
    pub display_name: String,
    pub is_active: bool,
    pub pi: String,
    pub gdpr_consent: bool,
    pub scim_id: Uuid,
    pub external_id: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl UserRow {
    /// `display_name`, else `name`, else the e-mail's local part (spec §2.2).
    pub fn public_name(&self) -> String {
        public_name(&self.display_name, &self.name, &self.email)
    }
}

/// The derived name shown for a user.
pub fn public_name(display_name: &str, name: &str, email: &str) -> String {
    [display_name, name]
        .into_iter()
        .find(|s| !s.is_empty())
        .map_or_else(|| email.split('@').next().unwrap_or_default().to_owned(), str::to_owned)
}

/// A group as SCIM shows it.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = groups)]
pub struct GroupRow {
    pub id: i64,
    pub name: String,
    pub scim_id: Uuid,
    pub external_id: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A dataset as SCIM shows it.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = datasets)]
pub struct DatasetRow {
    pub id: i64,
    pub name: String,
    pub description: String,
    pub tos_document_id: Option<i64>,
    pub scim_id: Uuid,
    pub external_id: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// One group of a user: (group id, SCIM id, name).
pub type GroupRef = (i64, Uuid, String);
/// One member of a group: (user id, SCIM id, public name, e-mail).
pub type MemberRef = (i64, Uuid, String, String);

/// One page of rows matching a filter, and how many match in all.
pub struct Page<T> {
    pub total: i64,
    pub rows: Vec<T>,
}

/// Paging of a list request: 1-based `start`, at most `count` rows.
#[derive(Debug, Clone, Copy)]
pub struct Window {
    pub start: i64,
    pub count: i64,
}

/// Failures of a list query.
#[derive(Debug)]
pub enum ListError {
    Filter(FilterError),
    Db(diesel::result::Error),
}

impl From<diesel::result::Error> for ListError {
    fn from(e: diesel::result::Error) -> Self {
        ListError::Db(e)
    }
}

impl From<FilterError> for ListError {
    fn from(e: FilterError) -> Self {
        ListError::Filter(e)
    }
}

fn filtered<T: 'static>(
    filter: Option<&Filter>,
    attrs: fn(&str) -> Option<query::Attr>,
) -> Result<Option<Predicate<T>>, FilterError> {
    filter.map(|f| query::predicate::<T>(f, attrs)).transpose()
}

/// Users matching `filter`, ordered by id.
pub async fn list_users(
    conn: &mut AsyncPgConnection,
    filter: Option<&Filter>,
    window: Window,
) -> Result<Page<UserRow>, ListError> {
    let mut count = users::table.into_boxed();
    if let Some(p) = filtered(filter, query::user_attr)? {
        count = count.filter(p);
    }
    let total: i64 = count.count().get_result(conn).await?;
    if window.count == 0 || window.start > total {
        return Ok(Page { total, rows: vec![] });
    }
    let mut rows = users::table.into_boxed();
    if let Some(p) = filtered(filter, query::user_attr)? {
        rows = rows.filter(p);
    }
    let rows = rows
        .order(users::id)
        .offset(window.start - 1)
        .limit(window.count)
        .select(UserRow::as_select())
        .load(conn)
        .await?;
    Ok(Page { total, rows })
}

/// Groups matching `filter`, ordered by id.
pub async fn list_groups(
    conn: &mut AsyncPgConnection,
    filter: Option<&Filter>,
    window: Window,
) -> Result<Page<GroupRow>, ListError> {
    let mut count = groups::table.into_boxed();
    if let Some(p) = filtered(filter, query::group_attr)? {
        count = count.filter(p);
    }
    let total: i64 = count.count().get_result(conn).await?;
    if window.count == 0 || window.start > total {
        return Ok(Page { total, rows: vec![] });
    }
    let mut rows = groups::table.into_boxed();
    if let Some(p) = filtered(filter, query::group_attr)? {
        rows = rows.filter(p);
    }
    let rows = rows
        .order(groups::id)
        .offset(window.start - 1)
        .limit(window.count)
        .select(GroupRow::as_select())
        .load(conn)
        .await?;
    Ok(Page { total, rows })
}

/// Datasets matching `filter`, ordered by id.
pub async fn list_datasets(
    conn: &mut AsyncPgConnection,
    filter: Option<&Filter>,
    window: Window,
) -> Result<Page<DatasetRow>, ListError> {
    let mut count = datasets::table.into_boxed();
    if let Some(p) = filtered(filter, query::dataset_attr)? {
        count = count.filter(p);
    }
    let total: i64 = count.count().get_result(conn).await?;
    if window.count == 0 || window.start > total {
        return Ok(Page { total, rows: vec![] });
    }
    let mut rows = datasets::table.into_boxed();
    if let Some(p) = filtered(filter, query::dataset_attr)? {
        rows = rows.filter(p);
    }
    let rows = rows
        .order(datasets::id)
        .offset(window.start - 1)
        .limit(window.count)
        .select(DatasetRow::as_select())
        .load(conn)
        .await?;
    Ok(Page { total, rows })
}

/// The user with this SCIM id, locked for update when `lock`.
pub async fn user(conn: &mut AsyncPgConnection, scim_id: Uuid, lock: bool) -> QueryResult<Option<UserRow>> {
    let q = users::table.filter(users::scim_id.eq(scim_id)).select(UserRow::as_select());
    if lock { q.for_update().first(conn).await.optional() } else { q.first(conn).await.optional() }
}

/// The group with this SCIM id, locked for update when `lock`.
pub async fn group(conn: &mut AsyncPgConnection, scim_id: Uuid, lock: bool) -> QueryResult<Option<GroupRow>> {
    let q = groups::table.filter(groups::scim_id.eq(scim_id)).select(GroupRow::as_select());
    if lock { q.for_update().first(conn).await.optional() } else { q.first(conn).await.optional() }
}

/// The dataset with this SCIM id, locked for update when `lock`.
pub async fn dataset(conn: &mut AsyncPgConnection, scim_id: Uuid, lock: bool) -> QueryResult<Option<DatasetRow>> {
    let q = datasets::table.filter(datasets::scim_id.eq(scim_id)).select(DatasetRow::as_select());
    if lock { q.for_update().first(conn).await.optional() } else { q.first(conn).await.optional() }
}

/// The groups of each of `user_ids`, by group id: (user id, group).
pub async fn groups_of(conn: &mut AsyncPgConnection, user_ids: &[i64]) -> QueryResult<Vec<(i64, GroupRef)>> {
    let rows: Vec<(i64, i64, Uuid, String)> = group_memberships::table
        .inner_join(groups::table)
        .filter(group_memberships::user_id.eq_any(user_ids))
        .select((group_memberships::user_id, groups::id, groups::scim_id, groups::name))
        .order((group_memberships::user_id, groups::id))
        .load(conn)
        .await?;
    Ok(rows.into_iter().map(|(u, g, s, n)| (u, (g, s, n))).collect())
}

/// The members of each of `group_ids`, by user id: (group id, member).
pub async fn members_of(conn: &mut AsyncPgConnection, group_ids: &[i64]) -> QueryResult<Vec<(i64, MemberRef)>> {
    let rows: Vec<(i64, i64, Uuid, String, String, String)> = group_memberships::table
        .inner_join(users::table)
        .filter(group_memberships::group_id.eq_any(group_ids))
        .select((
            group_memberships::group_id,
            users::id,
            users::scim_id,
            users::display_name,
            users::name,
            users::email,
        ))
        .order((group_memberships::group_id, users::id))
        .load(conn)
        .await?;
    Ok(rows.into_iter().map(|(g, u, s, d, n, e)| (g, (u, s, public_name(&d, &n, &e), e))).collect())
}

/// The service tables of each of `dataset_ids`: (dataset id, service, table), by id.
pub async fn tables_of(conn: &mut AsyncPgConnection, dataset_ids: &[i64]) -> QueryResult<Vec<(i64, String, String)>> {
    service_tables::table
        .filter(service_tables::dataset_id.eq_any(dataset_ids))
        .select((service_tables::dataset_id, service_tables::service_name, service_tables::table_name))
        .order(service_tables::id)
        .load(conn)
        .await
}

/// Group ids and names for SCIM ids; unknown ids are left out.
pub async fn groups_by_scim_id(conn: &mut AsyncPgConnection, ids: &[Uuid]) -> QueryResult<Vec<(i64, Uuid, String)>> {
    groups::table
        .filter(groups::scim_id.eq_any(ids))
        .select((groups::id, groups::scim_id, groups::name))
        .load(conn)
        .await
}

/// User ids and e-mails for SCIM ids; unknown ids are left out.
pub async fn users_by_scim_id(conn: &mut AsyncPgConnection, ids: &[Uuid]) -> QueryResult<Vec<(i64, Uuid, String)>> {
    users::table.filter(users::scim_id.eq_any(ids)).select((users::id, users::scim_id, users::email)).load(conn).await
}

/// The id of the group named `name`.
pub async fn group_id_named(conn: &mut AsyncPgConnection, name: &str) -> QueryResult<Option<i64>> {
    groups::table.filter(groups::name.eq(name)).select(groups::id).first(conn).await.optional()
}

/// Adds memberships; returns how many were new.
pub async fn add_memberships(conn: &mut AsyncPgConnection, pairs: &[(i64, i64)]) -> QueryResult<usize> {
    let rows: Vec<_> =
        pairs.iter().map(|(u, g)| (group_memberships::user_id.eq(*u), group_memberships::group_id.eq(*g))).collect();
    diesel::insert_into(group_memberships::table).values(rows).on_conflict_do_nothing().execute(conn).await
}

/// Removes one membership and the team grants it carried (spec §2.2 `team_group_id`).
pub async fn remove_membership(conn: &mut AsyncPgConnection, user_id: i64, group_id: i64) -> QueryResult<usize> {
    diesel::delete(grants::table.filter(grants::user_id.eq(user_id)).filter(grants::team_group_id.eq(group_id)))
        .execute(conn)
        .await?;
    diesel::delete(group_memberships::table.find((user_id, group_id))).execute(conn).await
}

/// Moves `updated_at` (hence the ETag) of users whose groups changed.
pub async fn touch_users(conn: &mut AsyncPgConnection, ids: &[i64]) -> QueryResult<usize> {
    diesel::update(users::table.filter(users::id.eq_any(ids)))
        .set(users::updated_at.eq(diesel::dsl::now))
        .execute(conn)
        .await
}

/// Moves `updated_at` (hence the ETag) of groups whose members changed.
pub async fn touch_groups(conn: &mut AsyncPgConnection, ids: &[i64]) -> QueryResult<usize> {
    diesel::update(groups::table.filter(groups::id.eq_any(ids)))
        .set(groups::updated_at.eq(diesel::dsl::now))
        .execute(conn)
        .await
}

/// The dataset owning the service table `(service, table)`, if any.
pub async fn table_owner(conn: &mut AsyncPgConnection, service: &str, table: &str) -> QueryResult<Option<i64>> {
    service_tables::table
        .filter(service_tables::service_name.eq(service))
        .filter(service_tables::table_name.eq(table))
        .select(service_tables::dataset_id)
        .first(conn)
        .await
        .optional()
}

/// Adds a service table to a dataset; returns its id.
pub async fn insert_table(
    conn: &mut AsyncPgConnection,
    dataset_id: i64,
    service: &str,
    table: &str,
) -> QueryResult<i64> {
    diesel::insert_into(service_tables::table)
        .values((
            service_tables::dataset_id.eq(dataset_id),
            service_tables::service_name.eq(service),
            service_tables::table_name.eq(table),
        ))
        .returning(service_tables::id)
        .get_result(conn)
        .await
}

/// Removes a dataset's service table (and its public roots); returns its id.
pub async fn delete_table(
    conn: &mut AsyncPgConnection,
    dataset_id: i64,
    service: &str,
    table: &str,
) -> QueryResult<Option<i64>> {
    diesel::delete(
        service_tables::table
            .filter(service_tables::dataset_id.eq(dataset_id))
            .filter(service_tables::service_name.eq(service))
            .filter(service_tables::table_name.eq(table)),
    )
    .returning(service_tables::id)
    .get_result(conn)
    .await
    .optional()
}
