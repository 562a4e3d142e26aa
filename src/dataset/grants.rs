//! DatasetService operations on grants, dataset admins, groups, members and
//! team grants (spec §5.2), with §5.1's rules on who may do what: managers
//! grant below `admin`, dataset admins grant `admin`, nobody revokes their own
//! grant, `sc` appoints dataset admins, group admins manage their team within
//! their own level, and removing a member revokes that member's team grants.
//! Transport-free; each write is one transaction with its audit rows and NOTIFY.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncConnection as _, AsyncPgConnection, RunQueryDsl};
use serde_json::{Value, json};

use super::admin::{
    ALL, AdminCaller, PageRequest, RESERVED_GROUPS, caller_levels, dataset_named, denied, existing_user,
    find_or_provision_user, record, replayed,
};
use super::audit::Actor;
use super::permissions::Level;
use super::store::{self, DatasetRow};
use crate::auth::store::notify_auth_change;
use crate::db::schema::{dataset_versions, datasets, grants, group_memberships, groups, service_accounts, users};
use crate::error::{Error, Result};

/// A row of `grants`.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = grants)]
pub struct GrantRow {
    pub id: i64,
    pub dataset_id: i64,
    pub dataset_version_id: Option<i64>,
    pub level: String,
    pub user_id: Option<i64>,
    pub group_id: Option<i64>,
    pub service_account_id: Option<i64>,
    pub team_group_id: Option<i64>,
    pub source: String,
    pub granted_by_user_id: Option<i64>,
    pub created_at: DateTime<Utc>,
}

/// Who holds a grant, by name.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum GranteeName {
    /// A user's e-mail.
    User(String),
    /// A group's name.
    Group(String),
    /// A service account's name.
    ServiceAccount(String),
}

impl GranteeName {
    fn sort_key(&self) -> String {
        match self {
            GranteeName::User(s) | GranteeName::Group(s) | GranteeName::ServiceAccount(s) => s.to_lowercase(),
        }
    }
}

/// A grant with every id resolved to a name.
#[derive(Debug, Clone)]
pub struct GrantView {
    /// Its id.
    pub id: i64,
    /// The dataset's name.
    pub dataset: String,
    /// The version's name, if version-scoped.
    pub version: Option<String>,
    /// The level.
    pub level: Level,
    /// The grantee.
    pub grantee: GranteeName,
    /// The team group's name, for team grants.
    pub team_group: Option<String>,
    /// `manual`, `self_service` or `import`.
    pub source: String,
    /// E-mail of the user who made it.
    pub granted_by: Option<String>,
    /// When it was made.
    pub created_at: DateTime<Utc>,
}

impl GrantView {
    /// The §2.5 action, target type and state of this grant, for `created` or revoked.
    fn audit(&self, created: bool) -> (&'static str, &'static str, Value) {
        let level = self.level.as_str();
        match &self.grantee {
            GranteeName::User(email) => {
                let mut state = json!({"user": email, "dataset": self.dataset, "permission": level,
                    "version": self.version, "source": self.source});
                if let Some(group) = &self.team_group {
                    state["group"] = json!(group);
                }
                (if created { "grant_created" } else { "grant_revoked" }, "Grant", state)
            }
            GranteeName::Group(group) => {
                let state =
                    json!({"group": group, "dataset": self.dataset, "permission": level, "version": self.version});
                let action = if created { "group_permission_created" } else { "group_permission_deleted" };
                (action, "GroupDatasetPermission", state)
            }
            GranteeName::ServiceAccount(name) => {
                let state = json!({"service_account": name, "dataset": self.dataset, "permission": level,
                    "version": self.version});
                (if created { "sa_grant_created" } else { "sa_grant_revoked" }, "ServiceAccountGrant", state)
            }
        }
    }
}

/// The cache-eviction payload for a grant's holder.
fn payload(row: &GrantRow) -> String {
    match (row.user_id, row.service_account_id) {
        (Some(id), _) => format!("user:{id}"),
        (_, Some(id)) => format!("sa:{id}"),
        // A group grant changes every member's document.
        _ => ALL.to_owned(),
    }
}

/// Resolves the names of `rows`, keeping their order.
pub async fn views(conn: &mut AsyncPgConnection, rows: Vec<GrantRow>) -> QueryResult<Vec<GrantView>> {
    let user_ids: BTreeSet<i64> = rows.iter().flat_map(|r| [r.user_id, r.granted_by_user_id]).flatten().collect();
    let group_ids: BTreeSet<i64> = rows.iter().flat_map(|r| [r.group_id, r.team_group_id]).flatten().collect();
    let sa_ids: BTreeSet<i64> = rows.iter().filter_map(|r| r.service_account_id).collect();
    let version_ids: BTreeSet<i64> = rows.iter().filter_map(|r| r.dataset_version_id).collect();
    let dataset_ids: BTreeSet<i64> = rows.iter().map(|r| r.dataset_id).collect();
    let emails: BTreeMap<i64, String> = users::table
        .filter(users::id.eq_any(user_ids))
        .select((users::id, users::email))
        .load::<(i64, String)>(conn)
        .await?
        .into_iter()
        .collect();
    let group_names: BTreeMap<i64, String> = groups::table
        .filter(groups::id.eq_any(group_ids))
        .select((groups::id, groups::name))
        .load::<(i64, String)>(conn)
        .await?
        .into_iter()
        .collect();
    let sa_names: BTreeMap<i64, String> = service_accounts::table
        .filter(service_accounts::id.eq_any(sa_ids))
        .select((service_accounts::id, service_accounts::name))
        .load::<(i64, String)>(conn)
        .await?
        .into_iter()
        .collect();
    let versions: BTreeMap<i64, String> = dataset_versions::table
        .filter(dataset_versions::id.eq_any(version_ids))
        .select((dataset_versions::id, dataset_versions::version))
        .load::<(i64, String)>(conn)
        .await?
        .into_iter()
        .collect();
    let dataset_names: BTreeMap<i64, String> = datasets::table
        .filter(datasets::id.eq_any(dataset_ids))
        .select((datasets::id, datasets::name))
        .load::<(i64, String)>(conn)
        .await?
        .into_iter()
        .collect();
    let name = |map: &BTreeMap<i64, String>, id: i64| map.get(&id).cloned().unwrap_or_default();
    Ok(rows
        .into_iter()
        .map(|r| {
            let grantee = match (r.user_id, r.group_id, r.service_account_id) {
                (Some(id), _, _) => GranteeName::User(name(&emails, id)),
                (_, Some(id), _) => GranteeName::Group(name(&group_names, id)),
                (_, _, id) => GranteeName::ServiceAccount(name(&sa_names, id.unwrap_or_default())),
            };
            GrantView {
                id: r.id,
                dataset: name(&dataset_names, r.dataset_id),
                version: r.dataset_version_id.map(|id| name(&versions, id)),
                // The column's CHECK allows only the four names.
                level: Level::parse(&r.level).unwrap_or(Level::View),
                grantee,
                team_group: r.team_group_id.map(|id| name(&group_names, id)),
                source: r.source,
                granted_by: r.granted_by_user_id.map(|id| name(&emails, id)),
                created_at: r.created_at,
            }
        })
        .collect())
}

async fn view(conn: &mut AsyncPgConnection, row: GrantRow) -> QueryResult<GrantView> {
    Ok(views(conn, vec![row]).await?.remove(0))
}

/// A validated grantee named by the caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GranteeSpec {
    /// A user by (validated) e-mail; pre-provisioned if unknown.
    UserEmail(String),
    /// A group by name.
    Group(String),
    /// A service account by name.
    ServiceAccount(String),
}

/// A validated `CreateGrant`.
#[derive(Debug, Clone)]
pub struct GrantRequest {
    /// The dataset's name.
    pub dataset: String,
    /// Who.
    pub grantee: GranteeSpec,
    /// The level.
    pub level: Level,
    /// A version name, or every version.
    pub version: Option<String>,
    /// Retry key, recorded in the audit row.
    pub request_id: Option<String>,
}

/// The grant with exactly these columns, if any (the table's unique key).
async fn identical(conn: &mut AsyncPgConnection, new: &store::NewGrant<'_>) -> QueryResult<Option<GrantRow>> {
    let mut query = grants::table
        .select(GrantRow::as_select())
        .filter(grants::dataset_id.eq(new.dataset_id))
        .filter(grants::level.eq(new.level))
        .into_boxed();
    query = match new.dataset_version_id {
        Some(v) => query.filter(grants::dataset_version_id.eq(v)),
        None => query.filter(grants::dataset_version_id.is_null()),
    };
    query = match new.user_id {
        Some(v) => query.filter(grants::user_id.eq(v)),
        None => query.filter(grants::user_id.is_null()),
    };
    query = match new.group_id {
        Some(v) => query.filter(grants::group_id.eq(v)),
        None => query.filter(grants::group_id.is_null()),
    };
    query = match new.service_account_id {
        Some(v) => query.filter(grants::service_account_id.eq(v)),
        None => query.filter(grants::service_account_id.is_null()),
    };
    query = match new.team_group_id {
        Some(v) => query.filter(grants::team_group_id.eq(v)),
        None => query.filter(grants::team_group_id.is_null()),
    };
    query.first(conn).await.optional()
}

/// Inserts a grant, or returns the identical one with `false` (no audit row then).
pub(crate) async fn insert_or_existing(
    conn: &mut AsyncPgConnection,
    actor: Actor,
    new: store::NewGrant<'_>,
    request_id: Option<&str>,
) -> Result<(GrantView, bool)> {
    if let Some(row) = identical(conn, &new).await? {
        return Ok((view(conn, row).await?, false));
    }
    let id = store::insert_grant(conn, new.clone())
        .await?
        .ok_or_else(|| Error::Aborted("a concurrent identical grant won; retry the request".into()))?;
    let row = grants::table.find(id).select(GrantRow::as_select()).first(conn).await?;
    let payload = payload(&row);
    let view = view(conn, row).await?;
    let (action, target_type, state) = view.audit(true);
    record(conn, actor, action, target_type, id, None, Some(state), request_id).await?;
    notify_auth_change(conn, &payload).await?;
    Ok((view, true))
}

/// Deletes a grant with its audit row (`reason` added to the state when given) and NOTIFY.
async fn delete_with_audit(
    conn: &mut AsyncPgConnection,
    actor: Actor,
    row: GrantRow,
    reason: Option<&str>,
) -> Result<()> {
    diesel::delete(grants::table.find(row.id)).execute(conn).await?;
    let payload = payload(&row);
    let id = row.id;
    let view = view(conn, row).await?;
    let (action, target_type, mut state) = view.audit(false);
    if let Some(reason) = reason {
        state["reason"] = json!(reason);
    }
    record(conn, actor, action, target_type, id, Some(state), None, None).await?;
    notify_auth_change(conn, &payload).await?;
    Ok(())
}

/// Grants a level on a dataset (spec §5.2 `CreateGrant`).
pub async fn create_grant(
    conn: &mut AsyncPgConnection,
    caller: AdminCaller,
    request: GrantRequest,
) -> Result<(GrantView, bool)> {
    conn.transaction(async |conn| {
        let dataset = dataset_named(conn, &request.dataset).await?;
        let levels = caller_levels(conn, caller.user_id, dataset.id).await?;
        if !caller.admin {
            if matches!(request.grantee, GranteeSpec::Group(_)) {
                return Err(denied("Only global admins may grant to groups."));
            }
            if !levels.manages() {
                return Err(denied("You do not have manage permission on this dataset"));
            }
            if request.level == Level::Admin && !levels.dataset_admin() {
                return Err(denied("You cannot grant admin permission"));
            }
        }
        let version_id = match &request.version {
            None => None,
            Some(v) => Some(
                store::version_by_name(conn, dataset.id, v)
                    .await?
                    .ok_or_else(|| Error::NotFound(format!("Version not found: {}/{v}", dataset.name)))?
                    .id,
            ),
        };
        let (mut user_id, mut group_id, mut service_account_id) = (None, None, None);
        match &request.grantee {
            GranteeSpec::UserEmail(email) => {
                user_id = Some(find_or_provision_user(conn, caller.actor(), email).await?.id);
            }
            GranteeSpec::Group(name) => group_id = Some(group_named(conn, name).await?.0),
            GranteeSpec::ServiceAccount(name) => {
                let id: Option<i64> = service_accounts::table
                    .filter(service_accounts::name.eq(name))
                    .select(service_accounts::id)
                    .first(conn)
                    .await
                    .optional()?;
                service_account_id =
                    Some(id.ok_or_else(|| Error::NotFound(format!("Service account not found: {name}")))?);
            }
        }
        let new = store::NewGrant {
            dataset_id: dataset.id,
            dataset_version_id: version_id,
            level: request.level.as_str(),
            user_id,
            group_id,
            service_account_id,
            team_group_id: None,
            source: "manual",
            granted_by_user_id: Some(caller.user_id),
        };
        insert_or_existing(conn, caller.actor(), new, request.request_id.as_deref()).await
    })
    .await
}

async fn grant_on(conn: &mut AsyncPgConnection, dataset: &DatasetRow, grant_id: i64) -> Result<GrantRow> {
    grants::table
        .find(grant_id)
        .filter(grants::dataset_id.eq(dataset.id))
        .select(GrantRow::as_select())
        .first(conn)
        .await
        .optional()?
        .ok_or_else(|| Error::NotFound(format!("Grant not found: {grant_id}")))
}

fn refuse_own(caller: AdminCaller, row: &GrantRow) -> Result<()> {
    if row.user_id == Some(caller.user_id) {
        return Err(Error::FailedPrecondition("You cannot revoke your own grants".into()));
    }
    Ok(())
}

/// Revokes a grant (spec §5.2 `DeleteGrant`).
pub async fn delete_grant(
    conn: &mut AsyncPgConnection,
    caller: AdminCaller,
    dataset: &str,
    grant_id: i64,
) -> Result<()> {
    conn.transaction(async |conn| {
        let dataset = dataset_named(conn, dataset).await?;
        let row = grant_on(conn, &dataset, grant_id).await?;
        if !caller.admin {
            let levels = caller_levels(conn, caller.user_id, dataset.id).await?;
            if row.group_id.is_some() {
                return Err(denied("Only global admins may revoke group grants."));
            }
            if !levels.manages() {
                return Err(denied("You do not have manage permission on this dataset"));
            }
            if row.level == Level::Admin.as_str() && !levels.dataset_admin() {
                return Err(denied("You cannot revoke admin permission"));
            }
        }
        refuse_own(caller, &row)?;
        delete_with_audit(conn, caller.actor(), row, None).await
    })
    .await
}

/// A page of a dataset's grants, ordered by grantee (managers, dataset admins, global admins).
pub async fn list_grants(
    conn: &mut AsyncPgConnection,
    caller: AdminCaller,
    dataset: &str,
    page: PageRequest,
) -> Result<(Vec<GrantView>, String)> {
    let dataset = dataset_named(conn, dataset).await?;
    if !caller.admin && !caller_levels(conn, caller.user_id, dataset.id).await?.manages() {
        return Err(denied("You do not have manage permission on this dataset"));
    }
    let rows: Vec<GrantRow> = grants::table
        .filter(grants::dataset_id.eq(dataset.id))
        .select(GrantRow::as_select())
        .order(grants::id)
        .load(conn)
        .await?;
    let mut all = views(conn, rows).await?;
    all.sort_by_key(|g| (g.grantee.sort_key(), g.id));
    Ok(page.slice(all))
}

fn require_admin_or_sc(caller: AdminCaller) -> Result<()> {
    if caller.admin || caller.sc {
        Ok(())
    } else {
        Err(denied("Only global admins and members of group 'sc' may manage dataset admins."))
    }
}

/// Gives an existing user a dataset-wide `admin` grant (global admin or `sc`).
pub async fn add_dataset_admin(
    conn: &mut AsyncPgConnection,
    caller: AdminCaller,
    dataset: &str,
    email: &str,
) -> Result<(GrantView, bool)> {
    require_admin_or_sc(caller)?;
    conn.transaction(async |conn| {
        let dataset = dataset_named(conn, dataset).await?;
        let user = existing_user(conn, email).await?;
        let new = store::NewGrant {
            dataset_id: dataset.id,
            dataset_version_id: None,
            level: Level::Admin.as_str(),
            user_id: Some(user.id),
            group_id: None,
            service_account_id: None,
            team_group_id: None,
            source: "manual",
            granted_by_user_id: Some(caller.user_id),
        };
        if let Some(row) = identical(conn, &new).await? {
            return Ok((view(conn, row).await?, false));
        }
        let id = store::insert_grant(conn, new)
            .await?
            .ok_or_else(|| Error::Aborted("a concurrent identical grant won; retry the request".into()))?;
        let row = grants::table.find(id).select(GrantRow::as_select()).first(conn).await?;
        let after = json!({"user": user.email, "dataset": dataset.name, "permission": "admin", "source": "manual"});
        record(conn, caller.actor(), "dataset_admin_added", "Grant", id, None, Some(after), None).await?;
        notify_auth_change(conn, &format!("user:{}", user.id)).await?;
        Ok((view(conn, row).await?, true))
    })
    .await
}

/// Deletes a user's `admin` grants on a dataset (global admin or `sc`; not oneself).
pub async fn remove_dataset_admin(
    conn: &mut AsyncPgConnection,
    caller: AdminCaller,
    dataset: &str,
    email: &str,
) -> Result<()> {
    require_admin_or_sc(caller)?;
    conn.transaction(async |conn| {
        let dataset = dataset_named(conn, dataset).await?;
        let user = existing_user(conn, email).await?;
        if user.id == caller.user_id {
            return Err(Error::FailedPrecondition("You cannot remove yourself as dataset admin".into()));
        }
        let removed: Vec<i64> = diesel::delete(
            grants::table
                .filter(grants::dataset_id.eq(dataset.id))
                .filter(grants::user_id.eq(user.id))
                .filter(grants::level.eq(Level::Admin.as_str())),
        )
        .returning(grants::id)
        .get_results(conn)
        .await?;
        if removed.is_empty() {
            return Err(Error::NotFound(format!("{} is not an admin of {}", user.email, dataset.name)));
        }
        for id in removed {
            let before = json!({"user": user.email, "dataset": dataset.name, "permission": "admin"});
            record(conn, caller.actor(), "dataset_admin_removed", "Grant", id, Some(before), None, None).await?;
        }
        notify_auth_change(conn, &format!("user:{}", user.id)).await?;
        Ok(())
    })
    .await
}

/// E-mails of a dataset's admins, sorted (global admin or `sc`).
pub async fn list_dataset_admins(
    conn: &mut AsyncPgConnection,
    caller: AdminCaller,
    dataset: &str,
) -> Result<Vec<String>> {
    require_admin_or_sc(caller)?;
    let dataset = dataset_named(conn, dataset).await?;
    let emails: Vec<String> = grants::table
        .inner_join(users::table.on(grants::user_id.eq(users::id.nullable())))
        .filter(grants::dataset_id.eq(dataset.id))
        .filter(grants::level.eq(Level::Admin.as_str()))
        .select(users::email)
        .distinct()
        .order(users::email)
        .load(conn)
        .await?;
    Ok(emails)
}

/// A group with its member count.
#[derive(Debug, Clone)]
pub struct GroupView {
    /// Its id.
    pub id: i64,
    /// Its name.
    pub name: String,
    /// Number of members.
    pub member_count: i64,
    /// When it was created.
    pub created_at: DateTime<Utc>,
}

/// A member of a group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberView {
    /// The user's id.
    pub user_id: i64,
    /// The user's e-mail.
    pub email: String,
    /// Group admin.
    pub is_admin: bool,
}

/// (id, name) of the group with this name, else NOT_FOUND.
async fn group_named(conn: &mut AsyncPgConnection, name: &str) -> Result<(i64, String)> {
    let id = store::group_id_by_name(conn, name)
        .await?
        .ok_or_else(|| Error::NotFound(format!("Group not found: {name}")))?;
    Ok((id, name.to_owned()))
}

async fn group_views(
    conn: &mut AsyncPgConnection,
    ids: Option<Vec<i64>>,
    page: Option<PageRequest>,
) -> QueryResult<Vec<GroupView>> {
    let mut query = groups::table.select((groups::id, groups::name, groups::created_at)).order(groups::id).into_boxed();
    if let Some(ids) = ids {
        query = query.filter(groups::id.eq_any(ids));
    }
    if let Some(page) = page {
        query = query.offset(page.offset).limit(page.fetch());
    }
    let rows: Vec<(i64, String, DateTime<Utc>)> = query.load(conn).await?;
    let ids: Vec<i64> = rows.iter().map(|r| r.0).collect();
    let counts: BTreeMap<i64, i64> = group_memberships::table
        .filter(group_memberships::group_id.eq_any(ids))
        .group_by(group_memberships::group_id)
        .select((group_memberships::group_id, diesel::dsl::count_star()))
        .load::<(i64, i64)>(conn)
        .await?
        .into_iter()
        .collect();
    Ok(rows
        .into_iter()
        .map(|(id, name, created_at)| GroupView {
            id,
            member_count: counts.get(&id).copied().unwrap_or(0),
            name,
            created_at,
        })
        .collect())
}

async fn group_view(conn: &mut AsyncPgConnection, id: i64) -> QueryResult<GroupView> {
    Ok(group_views(conn, Some(vec![id]), None).await?.remove(0))
}

/// Whether `user_id` administers group `group_id`.
async fn is_group_admin(conn: &mut AsyncPgConnection, user_id: i64, group_id: i64) -> QueryResult<bool> {
    Ok(group_memberships::table
        .find((user_id, group_id))
        .select(group_memberships::is_admin)
        .first::<bool>(conn)
        .await
        .optional()?
        .unwrap_or(false))
}

/// PERMISSION_DENIED unless global admin or admin of the group.
async fn require_group_admin(conn: &mut AsyncPgConnection, caller: AdminCaller, group_id: i64) -> Result<()> {
    if caller.admin || is_group_admin(conn, caller.user_id, group_id).await? {
        Ok(())
    } else {
        Err(denied("You are not an admin of this group"))
    }
}

/// Creates a group (global admin); a retry with the same request id returns the first result.
pub async fn create_group(
    conn: &mut AsyncPgConnection,
    caller: AdminCaller,
    name: &str,
    request_id: Option<&str>,
) -> Result<GroupView> {
    caller.require_admin()?;
    conn.transaction(async |conn| {
        if let Some(id) = replayed(conn, caller, "group_created", request_id).await? {
            return Ok(group_view(conn, id).await?);
        }
        if store::group_id_by_name(conn, name).await?.is_some() {
            return Err(Error::AlreadyExists(format!("Group {name} already exists")));
        }
        let id = store::insert_group(conn, name).await?;
        record(conn, caller.actor(), "group_created", "Group", id, None, Some(json!({"name": name})), request_id)
            .await?;
        Ok(group_view(conn, id).await?)
    })
    .await
}

/// One group (global admin or its group admins).
pub async fn get_group(conn: &mut AsyncPgConnection, caller: AdminCaller, name: &str) -> Result<GroupView> {
    let (id, _) = group_named(conn, name).await?;
    require_group_admin(conn, caller, id).await?;
    Ok(group_view(conn, id).await?)
}

/// A page of groups by id (global admin).
pub async fn list_groups(
    conn: &mut AsyncPgConnection,
    caller: AdminCaller,
    page: PageRequest,
) -> Result<(Vec<GroupView>, String)> {
    caller.require_admin()?;
    let rows = group_views(conn, None, Some(page)).await?;
    Ok(page.finish(rows))
}

/// The reserved groups, and the groups that carry a global role: renaming or
/// deleting one would silently take the role from every member (as SCIM refuses too).
fn refuse_reserved(name: &str) -> Result<()> {
    if RESERVED_GROUPS.contains(&name) {
        return Err(Error::FailedPrecondition(format!("Group {name} is reserved and cannot be renamed or deleted")));
    }
    if crate::auth::Role::from_group(name).is_some() {
        return Err(Error::FailedPrecondition(format!(
            "Group {name} is reserved: its members hold the {name} role, so it cannot be renamed or deleted"
        )));
    }
    Ok(())
}

/// Renames a group (global admin; not a reserved group).
pub async fn rename_group(
    conn: &mut AsyncPgConnection,
    caller: AdminCaller,
    name: &str,
    new_name: &str,
) -> Result<GroupView> {
    caller.require_admin()?;
    conn.transaction(async |conn| {
        let (id, _) = group_named(conn, name).await?;
        refuse_reserved(name)?;
        if name == new_name {
            return Ok(group_view(conn, id).await?);
        }
        if store::group_id_by_name(conn, new_name).await?.is_some() {
            return Err(Error::AlreadyExists(format!("Group {new_name} already exists")));
        }
        diesel::update(groups::table.find(id))
            .set((groups::name.eq(new_name), groups::updated_at.eq(Utc::now())))
            .execute(conn)
            .await?;
        let (before, after) = (json!({"name": name}), json!({"name": new_name}));
        record(conn, caller.actor(), "group_updated", "Group", id, Some(before), Some(after), None).await?;
        // Group names appear in every member's document.
        notify_auth_change(conn, ALL).await?;
        Ok(group_view(conn, id).await?)
    })
    .await
}

/// Deletes a group with its memberships, group grants and team grants (global admin; not reserved).
pub async fn delete_group(conn: &mut AsyncPgConnection, caller: AdminCaller, name: &str) -> Result<()> {
    caller.require_admin()?;
    conn.transaction(async |conn| {
        let (id, _) = group_named(conn, name).await?;
        refuse_reserved(name)?;
        let members = members(conn, id).await?;
        diesel::delete(groups::table.find(id)).execute(conn).await?;
        let emails: Vec<&str> = members.iter().map(|m| m.email.as_str()).collect();
        let before = json!({"name": name, "members": emails});
        record(conn, caller.actor(), "group_deleted", "Group", id, Some(before), None, None).await?;
        notify_auth_change(conn, ALL).await?;
        Ok(())
    })
    .await
}

async fn members(conn: &mut AsyncPgConnection, group_id: i64) -> QueryResult<Vec<MemberView>> {
    Ok(group_memberships::table
        .inner_join(users::table)
        .filter(group_memberships::group_id.eq(group_id))
        .select((users::id, users::email, group_memberships::is_admin))
        .order(users::email)
        .load::<(i64, String, bool)>(conn)
        .await?
        .into_iter()
        .map(|(user_id, email, is_admin)| MemberView { user_id, email, is_admin })
        .collect())
}

/// Adds `user_id` to the group with its audit row; `false` if a member already.
async fn add_membership(
    conn: &mut AsyncPgConnection,
    actor: Actor,
    user: &crate::auth::store::UserRow,
    group: &(i64, String),
) -> QueryResult<bool> {
    let inserted = diesel::insert_into(group_memberships::table)
        .values((group_memberships::user_id.eq(user.id), group_memberships::group_id.eq(group.0)))
        .on_conflict_do_nothing()
        .execute(conn)
        .await?;
    if inserted == 0 {
        return Ok(false);
    }
    let after = json!({"user": user.email, "group": group.1});
    record(conn, actor, "member_added", "UserGroup", format!("{}:{}", user.id, group.0), None, Some(after), None)
        .await?;
    notify_auth_change(conn, &format!("user:{}", user.id)).await?;
    Ok(true)
}

/// Adds a user (pre-provisioned if unknown) to a group (its group admins, global admins).
pub async fn add_member(
    conn: &mut AsyncPgConnection,
    caller: AdminCaller,
    group: &str,
    email: &str,
) -> Result<(MemberView, bool)> {
    conn.transaction(async |conn| {
        let group = group_named(conn, group).await?;
        require_group_admin(conn, caller, group.0).await?;
        let user = find_or_provision_user(conn, caller.actor(), email).await?;
        let created = add_membership(conn, caller.actor(), &user, &group).await?;
        let is_admin = is_group_admin(conn, user.id, group.0).await?;
        Ok((MemberView { user_id: user.id, email: user.email, is_admin }, created))
    })
    .await
}

/// Removes a member after revoking each of their team grants of the group
/// (audited with `reason: "member_removed"`); returns how many were revoked.
pub async fn remove_member(
    conn: &mut AsyncPgConnection,
    caller: AdminCaller,
    group: &str,
    email: &str,
) -> Result<usize> {
    conn.transaction(async |conn| {
        let group = group_named(conn, group).await?;
        require_group_admin(conn, caller, group.0).await?;
        let user = existing_user(conn, email).await?;
        let team_grants: Vec<GrantRow> = grants::table
            .filter(grants::user_id.eq(user.id))
            .filter(grants::team_group_id.eq(group.0))
            .select(GrantRow::as_select())
            .order(grants::id)
            .load(conn)
            .await?;
        let removed = diesel::delete(group_memberships::table.find((user.id, group.0))).execute(conn).await?;
        if removed == 0 {
            return Err(Error::NotFound(format!("{} is not a member of {}", user.email, group.1)));
        }
        let revoked = team_grants.len();
        for row in team_grants {
            delete_with_audit(conn, caller.actor(), row, Some("member_removed")).await?;
        }
        let before = json!({"user": user.email, "group": group.1});
        let target = format!("{}:{}", user.id, group.0);
        record(conn, caller.actor(), "member_removed", "UserGroup", target, Some(before), None, None).await?;
        notify_auth_change(conn, &format!("user:{}", user.id)).await?;
        Ok(revoked)
    })
    .await
}

/// A group's members by e-mail (its group admins, global admins).
pub async fn list_members(conn: &mut AsyncPgConnection, caller: AdminCaller, group: &str) -> Result<Vec<MemberView>> {
    let (id, _) = group_named(conn, group).await?;
    require_group_admin(conn, caller, id).await?;
    Ok(members(conn, id).await?)
}

/// Sets a member's group-admin flag (global admin); an unchanged flag writes nothing.
pub async fn set_group_admin(
    conn: &mut AsyncPgConnection,
    caller: AdminCaller,
    group: &str,
    email: &str,
    is_admin: bool,
) -> Result<MemberView> {
    caller.require_admin()?;
    conn.transaction(async |conn| {
        let group = group_named(conn, group).await?;
        let user = existing_user(conn, email).await?;
        let current: bool = group_memberships::table
            .find((user.id, group.0))
            .select(group_memberships::is_admin)
            .first(conn)
            .await
            .optional()?
            .ok_or_else(|| Error::NotFound(format!("{} is not a member of {}", user.email, group.1)))?;
        if current != is_admin {
            diesel::update(group_memberships::table.find((user.id, group.0)))
                .set(group_memberships::is_admin.eq(is_admin))
                .execute(conn)
                .await?;
            let state = |flag: bool| json!({"user": user.email, "group": group.1, "is_admin": flag});
            let target = format!("{}:{}", user.id, group.0);
            record(
                conn,
                caller.actor(),
                "group_admin_set",
                "UserGroup",
                target,
                Some(state(current)),
                Some(state(is_admin)),
                None,
            )
            .await?;
            notify_auth_change(conn, &format!("user:{}", user.id)).await?;
        }
        Ok(MemberView { user_id: user.id, email: user.email, is_admin })
    })
    .await
}

/// A validated `CreateTeamGrant`.
#[derive(Debug, Clone)]
pub struct TeamGrantRequest {
    /// The group's name.
    pub group: String,
    /// The member's (validated) e-mail.
    pub user_email: String,
    /// The dataset's name.
    pub dataset: String,
    /// The level.
    pub level: Level,
    /// Retry key, recorded in the audit row.
    pub request_id: Option<String>,
}

/// Grants a member a level "for the team" (spec §5.2): the user is
/// pre-provisioned and joins the group if needed.
pub async fn create_team_grant(
    conn: &mut AsyncPgConnection,
    caller: AdminCaller,
    request: TeamGrantRequest,
) -> Result<(GrantView, bool)> {
    conn.transaction(async |conn| {
        let group = group_named(conn, &request.group).await?;
        require_group_admin(conn, caller, group.0).await?;
        let dataset = dataset_named(conn, &request.dataset).await?;
        let own = if caller.admin {
            Some(Level::Admin)
        } else {
            let levels = caller_levels(conn, caller.user_id, dataset.id).await?;
            if !levels.manages() {
                return Err(denied("You do not have manage permission on this dataset"));
            }
            levels.direct
        };
        // The cap comes first, so a `manage` lead asking `admin` gets this message (as in DSG).
        if Some(request.level) > own {
            return Err(Error::FailedPrecondition("Cannot grant a permission level higher than your own".into()));
        }
        if request.level == Level::Admin {
            return Err(Error::InvalidArgument("level: Team grants are limited to view, edit and manage".into()));
        }
        let user = find_or_provision_user(conn, caller.actor(), &request.user_email).await?;
        add_membership(conn, caller.actor(), &user, &group).await?;
        let new = store::NewGrant {
            dataset_id: dataset.id,
            dataset_version_id: None,
            level: request.level.as_str(),
            user_id: Some(user.id),
            group_id: None,
            service_account_id: None,
            team_group_id: Some(group.0),
            source: "manual",
            granted_by_user_id: Some(caller.user_id),
        };
        insert_or_existing(conn, caller.actor(), new, request.request_id.as_deref()).await
    })
    .await
}

/// Revokes a team grant of the group (its group admins who manage the dataset, global admins).
pub async fn delete_team_grant(
    conn: &mut AsyncPgConnection,
    caller: AdminCaller,
    group: &str,
    grant_id: i64,
) -> Result<()> {
    conn.transaction(async |conn| {
        let group = group_named(conn, group).await?;
        require_group_admin(conn, caller, group.0).await?;
        let row = grants::table
            .find(grant_id)
            .filter(grants::team_group_id.eq(group.0))
            .select(GrantRow::as_select())
            .first(conn)
            .await
            .optional()?
            .ok_or_else(|| Error::NotFound(format!("Team grant not found: {grant_id}")))?;
        if !caller.admin && !caller_levels(conn, caller.user_id, row.dataset_id).await?.manages() {
            return Err(denied("You do not have manage permission on this dataset"));
        }
        refuse_own(caller, &row)?;
        delete_with_audit(conn, caller.actor(), row, None).await
    })
    .await
}

/// The group's team grants on datasets the caller manages (global admins: all), by grantee.
pub async fn list_team_grants(
    conn: &mut AsyncPgConnection,
    caller: AdminCaller,
    group: &str,
) -> Result<Vec<GrantView>> {
    let group = group_named(conn, group).await?;
    require_group_admin(conn, caller, group.0).await?;
    let rows: Vec<GrantRow> = grants::table
        .filter(grants::team_group_id.eq(group.0))
        .select(GrantRow::as_select())
        .order(grants::id)
        .load(conn)
        .await?;
    let mut visible = Vec::new();
    let mut managed: BTreeMap<i64, bool> = BTreeMap::new();
    for row in rows {
        let manages = match managed.get(&row.dataset_id) {
            Some(m) => *m,
            None => {
                let m = caller.admin || caller_levels(conn, caller.user_id, row.dataset_id).await?.manages();
                managed.insert(row.dataset_id, m);
                m
            }
        };
        if manages {
            visible.push(row);
        }
    }
    let mut all = views(conn, visible).await?;
    all.sort_by_key(|g| (g.grantee.sort_key(), g.id));
    Ok(all)
}
