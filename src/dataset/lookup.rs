//! Read-only lookups behind DSG's CAVE-compatible routes (spec §3.2.2–3.2.8):
//! names and profiles by id, group members, the dataset of a service table and
//! public roots. Ids come back in the order asked, so callers can keep DSG's
//! request order; who may ask is decided by the caller of these functions.

use std::collections::HashMap;

use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use super::ops::public_name;
use crate::auth::PrincipalKind;
use crate::db::schema::{datasets, group_memberships, groups, public_roots, service_accounts, service_tables, users};

/// The most ids one `username`/`user` request may name (spec §3.2.3, inferred).
pub const MAX_IDS: usize = 1_000;

/// Parses DSG's `?id=1,2` list: elements trimmed, empty ones skipped, duplicates
/// dropped (first occurrence wins). `None` for a non-integer element or too many ids.
pub fn parse_ids(list: &str) -> Option<Vec<i64>> {
    let mut ids = Vec::new();
    for part in list.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let id: i64 = part.parse().ok()?;
        if !ids.contains(&id) {
            ids.push(id);
        }
    }
    (ids.len() <= MAX_IDS).then_some(ids)
}

/// One user as `GET /api/v1/user` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserInfo {
    pub id: i64,
    pub name: String,
    pub email: String,
    pub admin: bool,
    pub pi: String,
    pub picture_url: String,
}

/// Public names of users and service accounts for `ids`, in the order of `ids`, unknown ones omitted.
pub async fn names(conn: &mut AsyncPgConnection, ids: &[i64]) -> QueryResult<Vec<(i64, String)>> {
    let people: Vec<(i64, String, String, String)> = users::table
        .filter(users::id.eq_any(ids))
        .select((users::id, users::display_name, users::name, users::email))
        .load(conn)
        .await?;
    let accounts: Vec<(i64, String)> = service_accounts::table
        .filter(service_accounts::id.eq_any(ids))
        .select((service_accounts::id, service_accounts::name))
        .load(conn)
        .await?;
    let mut by_id: HashMap<i64, String> =
        people.into_iter().map(|(id, display, name, email)| (id, public_name(&display, &name, &email))).collect();
    by_id.extend(accounts);
    Ok(ids.iter().filter_map(|id| Some((*id, by_id.remove(id)?))).collect())
}

/// Users (not service accounts) for `ids`, in the order of `ids`, unknown ones omitted.
pub async fn users(conn: &mut AsyncPgConnection, ids: &[i64]) -> QueryResult<Vec<UserInfo>> {
    let rows: Vec<(i64, String, String, String, String, String)> = users::table
        .filter(users::id.eq_any(ids))
        .select((users::id, users::display_name, users::name, users::email, users::pi, users::picture_url))
        .load(conn)
        .await?;
    let admins: Vec<i64> = group_memberships::table
        .inner_join(groups::table)
        .filter(groups::name.eq("admin"))
        .filter(group_memberships::user_id.eq_any(ids))
        .select(group_memberships::user_id)
        .load(conn)
        .await?;
    let mut by_id: HashMap<i64, UserInfo> = rows
        .into_iter()
        .map(|(id, display, name, email, pi, picture_url)| {
            let info = UserInfo {
                id,
                name: public_name(&display, &name, &email),
                admin: admins.contains(&id),
                email,
                pi,
                picture_url,
            };
            (id, info)
        })
        .collect();
    Ok(ids.iter().filter_map(|id| by_id.remove(id)).collect())
}

/// Whether `id` is a user, a service account, or nobody.
pub async fn principal_kind(conn: &mut AsyncPgConnection, id: i64) -> QueryResult<Option<PrincipalKind>> {
    let user: Option<i64> = users::table.find(id).select(users::id).first(conn).await.optional()?;
    if user.is_some() {
        return Ok(Some(PrincipalKind::User));
    }
    let account: Option<i64> =
        service_accounts::table.find(id).select(service_accounts::id).first(conn).await.optional()?;
    Ok(account.map(|_| PrincipalKind::ServiceAccount))
}

/// A group's members as (user id, public name, group admin), by user id; `None` for an unknown group.
pub async fn group_users(conn: &mut AsyncPgConnection, group_id: i64) -> QueryResult<Option<Vec<(i64, String, bool)>>> {
    let exists: Option<i64> = groups::table.find(group_id).select(groups::id).first(conn).await.optional()?;
    if exists.is_none() {
        return Ok(None);
    }
    let rows: Vec<(i64, String, String, String, bool)> = group_memberships::table
        .inner_join(users::table)
        .filter(group_memberships::group_id.eq(group_id))
        .select((users::id, users::display_name, users::name, users::email, group_memberships::is_admin))
        .order(users::id)
        .load(conn)
        .await?;
    Ok(Some(rows.into_iter().map(|(id, d, n, e, admin)| (id, public_name(&d, &n, &e), admin)).collect()))
}

/// A group's id and its members' e-mails ascending; `None` for an unknown group.
pub async fn group_member_emails(conn: &mut AsyncPgConnection, name: &str) -> QueryResult<Option<(i64, Vec<String>)>> {
    let id: Option<i64> =
        groups::table.filter(groups::name.eq(name)).select(groups::id).first(conn).await.optional()?;
    let Some(id) = id else { return Ok(None) };
    let emails = group_memberships::table
        .inner_join(users::table)
        .filter(group_memberships::group_id.eq(id))
        .select(users::email)
        .order(users::email)
        .load(conn)
        .await?;
    Ok(Some((id, emails)))
}

/// The dataset name of service table (`namespace`, `table`).
pub async fn table_dataset(conn: &mut AsyncPgConnection, namespace: &str, table: &str) -> QueryResult<Option<String>> {
    service_tables::table
        .inner_join(datasets::table)
        .filter(service_tables::service_name.eq(namespace))
        .filter(service_tables::table_name.eq(table))
        .select(datasets::name)
        .first(conn)
        .await
        .optional()
}

/// Whether any service table named `table` (any namespace) has a public root.
pub async fn table_has_public(conn: &mut AsyncPgConnection, table: &str) -> QueryResult<bool> {
    diesel::select(diesel::dsl::exists(
        public_roots::table.inner_join(service_tables::table).filter(service_tables::table_name.eq(table)),
    ))
    .get_result(conn)
    .await
}

/// For each of `roots`, in order: whether it is public in a service table named `table`.
pub async fn roots_public(conn: &mut AsyncPgConnection, table: &str, roots: &[i64]) -> QueryResult<Vec<bool>> {
    if roots.is_empty() {
        return Ok(Vec::new());
    }
    let public: std::collections::HashSet<i64> = public_roots::table
        .inner_join(service_tables::table)
        .filter(service_tables::table_name.eq(table))
        .filter(public_roots::root_id.eq_any(roots))
        .select(public_roots::root_id)
        .load::<i64>(conn)
        .await?
        .into_iter()
        .collect();
    Ok(roots.iter().map(|r| public.contains(r)).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn id_lists_parse_like_dsg() {
        assert_eq!(parse_ids(""), Some(vec![]));
        assert_eq!(parse_ids("2,1"), Some(vec![2, 1]));
        assert_eq!(parse_ids(" 2 , ,1,2,"), Some(vec![2, 1]));
        assert_eq!(parse_ids("1,abc"), None);
        assert_eq!(parse_ids("1.5"), None);
        let many = (0..=MAX_IDS).map(|i| i.to_string()).collect::<Vec<_>>().join(",");
        assert_eq!(parse_ids(&many), None);
    }
}
