//! SCIM writes (spec §3.7 "Create, replace, patch, delete"): each request
//! loads the resource into an editable state under a row lock, applies the
//! body (POST/PUT objects, PATCH operations) to that state, then writes the
//! difference in the same transaction with its audit rows and cache
//! evictions. A request that changes nothing writes nothing.

use std::collections::{BTreeMap, BTreeSet};

use diesel::prelude::*;
use diesel_async::{AsyncConnection as _, AsyncPgConnection, RunQueryDsl};
use serde_json::{Map, Value, json};
use uuid::Uuid;

use super::error::ScimError;
use super::filter::{Filter, caseless_eq};
use super::resources::{self, USER_EXTENSION, etag_matches, version};
use super::store::{self, DatasetRow, GroupRow, UserRow};
use crate::auth::store::notify_auth_change;
use crate::dataset::audit::{Actor, record};
use crate::db::schema::{datasets, groups, tos_documents, users};

type Result<T> = std::result::Result<T, ScimError>;

/// Who writes, and the base URL of rendered resources.
#[derive(Debug, Clone)]
pub struct Ctx {
    pub actor: Actor,
    pub base: String,
}

/// A rendered resource and its version (the `ETag`).
#[derive(Debug, Clone)]
pub struct Rendered {
    pub body: Value,
    pub version: String,
}

fn check_if_match(if_match: Option<&str>, current: &str) -> Result<()> {
    match if_match {
        Some(tag) if !etag_matches(tag, current) => {
            Err(ScimError::new(http::StatusCode::PRECONDITION_FAILED, "Resource version mismatch"))
        }
        _ => Ok(()),
    }
}

fn user_not_found() -> ScimError {
    ScimError::not_found("User not found")
}
fn group_not_found() -> ScimError {
    ScimError::not_found("Group not found")
}
fn dataset_not_found() -> ScimError {
    ScimError::not_found("Dataset not found")
}

/// One PATCH operation.
#[derive(Debug, Clone)]
pub struct PatchOp {
    pub op: OpKind,
    pub path: Option<String>,
    pub value: Option<Value>,
}

/// `add`, `remove` or `replace`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpKind {
    Add,
    Remove,
    Replace,
}

/// The operations of a PatchOp body.
pub fn patch_ops(body: &Value) -> Result<Vec<PatchOp>> {
    let ops = body
        .as_object()
        .and_then(|o| o.iter().find(|(k, _)| caseless_eq(k, "operations")).map(|(_, v)| v))
        .and_then(Value::as_array)
        .ok_or_else(|| ScimError::bad("invalidSyntax", "a PatchOp body needs an Operations array"))?;
    ops.iter()
        .map(|op| {
            let get =
                |name: &str| op.as_object().and_then(|o| o.iter().find(|(k, _)| caseless_eq(k, name))).map(|(_, v)| v);
            let kind = match get("op").and_then(Value::as_str).map(str::to_ascii_lowercase).as_deref() {
                Some("add") => OpKind::Add,
                Some("remove") => OpKind::Remove,
                Some("replace") => OpKind::Replace,
                _ => return Err(ScimError::bad("invalidSyntax", "op must be add, remove or replace")),
            };
            let path = match get("path") {
                None | Some(Value::Null) => None,
                Some(Value::String(p)) if !p.trim().is_empty() => Some(p.trim().to_owned()),
                Some(_) => return Err(ScimError::bad("invalidPath", "path must be a non-empty string")),
            };
            Ok(PatchOp { op: kind, path, value: get("value").cloned() })
        })
        .collect()
}

/// A path split into its attribute and optional value filter: `members[value eq "x"]`.
fn split_path(path: &str) -> Result<(String, Option<Filter>)> {
    let Some((attr, rest)) = path.split_once('[') else {
        return Ok((path.to_owned(), None));
    };
    let Some(inner) = rest.strip_suffix(']') else {
        return Err(ScimError::bad("invalidPath", format!("unsupported path '{path}'")));
    };
    let filter = Filter::parse(inner).map_err(|e| ScimError::bad("invalidPath", e.0))?;
    Ok((attr.to_owned(), Some(filter)))
}

/// Lower-cased path without the core schema prefix; extension attributes become `ext:<name>`.
fn normalise(path: &str, core: &str) -> String {
    let lower = path.to_ascii_lowercase();
    let ext = USER_EXTENSION.to_ascii_lowercase();
    if lower == ext {
        return "ext".into();
    }
    if let Some(rest) = lower.strip_prefix(&format!("{ext}:")) {
        return format!("ext:{rest}");
    }
    lower.strip_prefix(&format!("{}:", core.to_ascii_lowercase())).map_or(lower.clone(), str::to_owned)
}

fn as_string(value: Option<&Value>, what: &str) -> Result<Option<String>> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(ScimError::invalid_value(format!("{what} must be a string"))),
    }
}

fn as_bool(value: Option<&Value>, what: &str) -> Result<bool> {
    match value {
        Some(Value::Bool(b)) => Ok(*b),
        // Some provisioners (Azure AD) send booleans as strings.
        Some(Value::String(s)) if caseless_eq(s, "true") => Ok(true),
        Some(Value::String(s)) if caseless_eq(s, "false") => Ok(false),
        _ => Err(ScimError::invalid_value(format!("{what} must be true or false"))),
    }
}

/// The `value`s of a multi-valued reference attribute: `[{"value": id}]`, bare ids, or one object.
fn reference_ids(value: Option<&Value>, what: &str) -> Result<Vec<Uuid>> {
    let items: Vec<&Value> = match value {
        None | Some(Value::Null) => vec![],
        Some(Value::Array(items)) => items.iter().collect(),
        Some(other) => vec![other],
    };
    items
        .into_iter()
        .map(|item| {
            let text = match item {
                Value::String(s) => Some(s.as_str()),
                Value::Object(o) => o.get("value").and_then(Value::as_str),
                _ => None,
            };
            text.and_then(|t| Uuid::parse_str(t).ok())
                .ok_or_else(|| ScimError::invalid_value(format!("unknown {what} id {}", text.unwrap_or("(none)"))))
        })
        .collect()
}

// ---------------------------------------------------------------- users

#[derive(Debug, Clone, PartialEq)]
struct UserState {
    email: String,
    name: String,
    display_name: String,
    is_active: bool,
    external_id: Option<String>,
    pi: String,
    gdpr_consent: bool,
    groups: BTreeSet<i64>,
}

impl UserState {
    fn audit(&self, admin_group: i64) -> BTreeMap<&'static str, Value> {
        BTreeMap::from([
            ("email", json!(self.email)),
            ("name", json!(self.name)),
            ("display_name", json!(self.display_name)),
            ("is_active", json!(self.is_active)),
            ("external_id", json!(self.external_id)),
            ("pi", json!(self.pi)),
            ("gdpr_consent", json!(self.gdpr_consent)),
            ("admin", json!(self.groups.contains(&admin_group))),
        ])
    }
}

/// Group names by id, for audit rows and value-path filters.
type GroupNames = BTreeMap<i64, (Uuid, String)>;

struct UserEdit {
    state: UserState,
    admin_group: i64,
    known_groups: GroupNames,
}

impl UserEdit {
    /// Sets one attribute; `false` when the attribute is not one a user has.
    fn set(&mut self, path: &str, value: Option<&Value>) -> Result<bool> {
        let s = &mut self.state;
        match normalise(path, resources::USER_SCHEMA).as_str() {
            "username" => {
                let email =
                    as_string(value, "userName")?.ok_or_else(|| ScimError::invalid_value("userName is required"))?;
                s.email = crate::auth::ops::validate_email(&email).map_err(ScimError::from)?;
            }
            "displayname" => s.display_name = as_string(value, "displayName")?.unwrap_or_default(),
            "name.givenname" | "name.formatted" => s.name = as_string(value, "name")?.unwrap_or_default(),
            "name.familyname" | "name.middlename" | "name.honorificprefix" | "name.honorificsuffix" => {}
            "name" => match value {
                None | Some(Value::Null) => s.name.clear(),
                Some(Value::Object(o)) => {
                    let given = o.iter().find(|(k, _)| caseless_eq(k, "givenName")).map(|(_, v)| v);
                    let formatted = o.iter().find(|(k, _)| caseless_eq(k, "formatted")).map(|(_, v)| v);
                    if let Some(v) = given.or(formatted) {
                        s.name = as_string(Some(v), "name")?.unwrap_or_default();
                    }
                }
                Some(_) => return Err(ScimError::invalid_value("name must be an object")),
            },
            "active" => s.is_active = if value.is_none() { true } else { as_bool(value, "active")? },
            "externalid" => s.external_id = as_string(value, "externalId")?,
            "ext" => match value {
                None | Some(Value::Null) => {
                    for attr in ["admin", "pi", "gdprconsent"] {
                        self.set(&format!("{USER_EXTENSION}:{attr}"), None)?;
                    }
                }
                Some(Value::Object(o)) => {
                    for (k, v) in o {
                        self.set(&format!("{USER_EXTENSION}:{k}"), Some(v))?;
                    }
                }
                Some(_) => return Err(ScimError::invalid_value("the extension must be an object")),
            },
            "ext:admin" => {
                if value.is_some() && as_bool(value, "admin")? {
                    s.groups.insert(self.admin_group);
                } else {
                    s.groups.remove(&self.admin_group);
                }
            }
            "ext:pi" => s.pi = as_string(value, "pi")?.unwrap_or_default(),
            "ext:gdprconsent" => s.gdpr_consent = value.is_some() && as_bool(value, "gdprConsent")?,
            "ext:serviceaccount" => {
                if value.is_some() && as_bool(value, "serviceAccount")? {
                    return Err(ScimError::bad("mutability", "serviceAccount is read-only"));
                }
            }
            _ => return Ok(false),
        }
        Ok(true)
    }

    /// A POST/PUT body or a PATCH value without a path: attributes present change, others stay.
    fn apply_object(&mut self, object: &Map<String, Value>, id: Option<Uuid>) -> Result<()> {
        for (key, value) in object {
            match key.to_ascii_lowercase().as_str() {
                "schemas" | "meta" | "groups" | "emails" => {}
                "id" => {
                    if let (Some(id), Some(given)) = (id, value.as_str())
                        && given != id.to_string()
                    {
                        return Err(ScimError::bad("mutability", "id cannot be changed"));
                    }
                }
                _ => {
                    // Attributes a user does not have are passed over (provisioners send many).
                    self.set(key, Some(value))?;
                }
            }
        }
        Ok(())
    }

    async fn patch(&mut self, conn: &mut AsyncPgConnection, op: &PatchOp, id: Uuid) -> Result<()> {
        let Some(path) = &op.path else {
            return match (op.op, &op.value) {
                (OpKind::Remove, _) => Err(ScimError::bad("noTarget", "remove needs a path")),
                (_, Some(Value::Object(o))) => self.apply_object(o, Some(id)),
                _ => Err(ScimError::invalid_value("an operation without a path needs an object value")),
            };
        };
        let (attr, filter) = split_path(path)?;
        if normalise(&attr, resources::USER_SCHEMA) == "groups" {
            let removing_all = op.op == OpKind::Remove && filter.is_none();
            if op.op == OpKind::Replace || removing_all {
                self.state.groups.clear();
            }
            if op.op == OpKind::Remove {
                if let Some(filter) = filter {
                    let mut keep = BTreeSet::new();
                    for g in &self.state.groups {
                        let (scim, name) = self.known_groups.get(g).cloned().unwrap_or_default();
                        let item = |a: &str| match a {
                            "value" => Some(Some(scim.to_string())),
                            "display" => Some(Some(name.clone())),
                            _ => None,
                        };
                        if !filter.matches(&item).map_err(|e| ScimError::bad("invalidFilter", e.0))? {
                            keep.insert(*g);
                        }
                    }
                    self.state.groups = keep;
                }
                return Ok(());
            }
            let ids = reference_ids(op.value.as_ref(), "group")?;
            for (group_id, scim, name) in resolve_groups(conn, &ids).await? {
                self.known_groups.insert(group_id, (scim, name));
                self.state.groups.insert(group_id);
            }
            return Ok(());
        }
        if filter.is_some() {
            return Err(ScimError::bad("invalidPath", format!("unsupported path '{path}'")));
        }
        let value = if op.op == OpKind::Remove { None } else { op.value.as_ref() };
        if op.op != OpKind::Remove && value.is_none() {
            return Err(ScimError::invalid_value(format!("{path} needs a value")));
        }
        if !self.set(path, value)? {
            return Err(ScimError::bad("invalidPath", format!("unsupported path '{path}'")));
        }
        Ok(())
    }
}

async fn resolve_groups(conn: &mut AsyncPgConnection, ids: &[Uuid]) -> Result<Vec<(i64, Uuid, String)>> {
    let found = store::groups_by_scim_id(conn, ids).await?;
    if let Some(missing) = ids.iter().find(|id| !found.iter().any(|(_, s, _)| s == *id)) {
        return Err(ScimError::invalid_value(format!("unknown group id {missing}")));
    }
    Ok(found)
}

async fn admin_group(conn: &mut AsyncPgConnection) -> Result<i64> {
    store::group_id_named(conn, "admin")
        .await?
        .ok_or_else(|| ScimError::from(crate::error::Error::internal(anyhow::anyhow!("the admin group is missing"))))
}

async fn user_edit(conn: &mut AsyncPgConnection, row: &UserRow) -> Result<UserEdit> {
    let groups = store::groups_of(conn, &[row.id]).await?;
    let known_groups: GroupNames = groups.iter().map(|(_, (g, s, n))| (*g, (*s, n.clone()))).collect();
    Ok(UserEdit {
        state: UserState {
            email: row.email.clone(),
            name: row.name.clone(),
            display_name: row.display_name.clone(),
            is_active: row.is_active,
            external_id: row.external_id.clone(),
            pi: row.pi.clone(),
            gdpr_consent: row.gdpr_consent,
            groups: known_groups.keys().copied().collect(),
        },
        admin_group: admin_group(conn).await?,
        known_groups,
    })
}

async fn email_taken(conn: &mut AsyncPgConnection, email: &str, other_than: i64) -> QueryResult<bool> {
    diesel::select(diesel::dsl::exists(
        users::table
            .filter(
                diesel::dsl::sql::<diesel::sql_types::Bool>("lower(users.email) = lower(")
                    .bind::<diesel::sql_types::Text, _>(email.to_owned())
                    .sql(")"),
            )
            .filter(users::id.ne(other_than)),
    ))
    .get_result(conn)
    .await
}

/// Renders the user with this SCIM id.
pub async fn get_user(conn: &mut AsyncPgConnection, base: &str, id: Uuid) -> Result<Rendered> {
    let row = store::user(conn, id, false).await?.ok_or_else(user_not_found)?;
    render_user(conn, base, &row).await
}

async fn render_user(conn: &mut AsyncPgConnection, base: &str, row: &UserRow) -> Result<Rendered> {
    let groups: Vec<_> = store::groups_of(conn, &[row.id]).await?.into_iter().map(|(_, g)| g).collect();
    Ok(Rendered { body: resources::user(base, row, &groups), version: version(row.updated_at) })
}

/// Renders a page of users with their groups (one query for all groups).
pub async fn render_users(conn: &mut AsyncPgConnection, base: &str, rows: &[UserRow]) -> Result<Vec<Value>> {
    let ids: Vec<i64> = rows.iter().map(|r| r.id).collect();
    let mut by_user: BTreeMap<i64, Vec<store::GroupRef>> = BTreeMap::new();
    for (user, group) in store::groups_of(conn, &ids).await? {
        by_user.entry(user).or_default().push(group);
    }
    Ok(rows.iter().map(|r| resources::user(base, r, by_user.get(&r.id).map_or(&[], Vec::as_slice))).collect())
}

/// POST /Users.
pub async fn create_user(conn: &mut AsyncPgConnection, ctx: &Ctx, body: &Value) -> Result<Rendered> {
    let object = body.as_object().ok_or_else(|| ScimError::bad("invalidSyntax", "the body must be a JSON object"))?;
    conn.transaction(async |conn| {
        let mut edit = UserEdit {
            state: UserState {
                email: String::new(),
                name: String::new(),
                display_name: String::new(),
                is_active: true,
                external_id: None,
                pi: String::new(),
                gdpr_consent: false,
                groups: BTreeSet::new(),
            },
            admin_group: admin_group(conn).await?,
            known_groups: BTreeMap::new(),
        };
        edit.apply_object(object, None)?;
        if edit.state.email.is_empty() {
            return Err(ScimError::invalid_value("userName is required"));
        }
        if email_taken(conn, &edit.state.email, 0).await? {
            return Err(ScimError::uniqueness("User already exists"));
        }
        let s = &edit.state;
        let id: i64 = diesel::insert_into(users::table)
            .values((
                users::email.eq(&s.email),
                users::name.eq(&s.name),
                users::display_name.eq(&s.display_name),
                users::is_active.eq(s.is_active),
                users::external_id.eq(&s.external_id),
                users::pi.eq(&s.pi),
                users::gdpr_consent.eq(s.gdpr_consent),
            ))
            .returning(users::id)
            .get_result(conn)
            .await?;
        let admin = s.groups.contains(&edit.admin_group);
        let after = json!({"email": s.email, "name": s.name, "admin": admin});
        record(conn, ctx.actor, "user_created", "User", id, None, Some(after)).await?;
        let groups: Vec<i64> = s.groups.iter().copied().collect();
        add_user_groups(conn, ctx, id, &s.email, &groups).await?;
        let row = users::table.find(id).select(UserRow::as_select()).first(conn).await?;
        render_user(conn, &ctx.base, &row).await
    })
    .await
}

async fn group_names(conn: &mut AsyncPgConnection, ids: &[i64]) -> QueryResult<BTreeMap<i64, String>> {
    Ok(groups::table
        .filter(groups::id.eq_any(ids))
        .select((groups::id, groups::name))
        .load::<(i64, String)>(conn)
        .await?
        .into_iter()
        .collect())
}

async fn add_user_groups(
    conn: &mut AsyncPgConnection,
    ctx: &Ctx,
    user_id: i64,
    email: &str,
    group_ids: &[i64],
) -> Result<()> {
    if group_ids.is_empty() {
        return Ok(());
    }
    let pairs: Vec<(i64, i64)> = group_ids.iter().map(|g| (user_id, *g)).collect();
    store::add_memberships(conn, &pairs).await?;
    let names = group_names(conn, group_ids).await?;
    for g in group_ids {
        let after = json!({"user": email, "group": names.get(g)});
        record(conn, ctx.actor, "member_added", "UserGroup", format!("{user_id}:{g}"), None, Some(after)).await?;
    }
    store::touch_groups(conn, group_ids).await?;
    notify_auth_change(conn, &format!("user:{user_id}")).await?;
    Ok(())
}

async fn remove_user_groups(
    conn: &mut AsyncPgConnection,
    ctx: &Ctx,
    user_id: i64,
    email: &str,
    group_ids: &[i64],
) -> Result<()> {
    if group_ids.is_empty() {
        return Ok(());
    }
    let names = group_names(conn, group_ids).await?;
    for g in group_ids {
        store::remove_membership(conn, user_id, *g).await?;
        let before = json!({"user": email, "group": names.get(g)});
        record(conn, ctx.actor, "member_removed", "UserGroup", format!("{user_id}:{g}"), Some(before), None).await?;
    }
    store::touch_groups(conn, group_ids).await?;
    notify_auth_change(conn, &format!("user:{user_id}")).await?;
    Ok(())
}

/// How a user write changes its resource.
pub enum UserChange<'a> {
    Replace(&'a Value),
    Patch(Vec<PatchOp>),
}

/// PUT or PATCH /Users/{id}.
pub async fn update_user(
    conn: &mut AsyncPgConnection,
    ctx: &Ctx,
    id: Uuid,
    if_match: Option<&str>,
    change: UserChange<'_>,
) -> Result<Rendered> {
    conn.transaction(async |conn| {
        let row = store::user(conn, id, true).await?.ok_or_else(user_not_found)?;
        check_if_match(if_match, &version(row.updated_at))?;
        let mut edit = user_edit(conn, &row).await?;
        let before = edit.state.clone();
        match &change {
            UserChange::Replace(body) => {
                let object = body
                    .as_object()
                    .ok_or_else(|| ScimError::bad("invalidSyntax", "the body must be a JSON object"))?;
                edit.apply_object(object, Some(id))?;
            }
            UserChange::Patch(ops) => {
                for op in ops {
                    edit.patch(conn, op, id).await?;
                }
            }
        }
        let after = &edit.state;
        if *after != before {
            write_user(conn, ctx, &row, &before, after, edit.admin_group).await?;
        }
        let row = users::table.find(row.id).select(UserRow::as_select()).first(conn).await?;
        render_user(conn, &ctx.base, &row).await
    })
    .await
}

async fn write_user(
    conn: &mut AsyncPgConnection,
    ctx: &Ctx,
    row: &UserRow,
    before: &UserState,
    after: &UserState,
    admin_group: i64,
) -> Result<()> {
    if after.email.to_lowercase() != before.email.to_lowercase() && email_taken(conn, &after.email, row.id).await? {
        return Err(ScimError::uniqueness("User already exists"));
    }
    let columns_changed = UserState { groups: BTreeSet::new(), ..before.clone() }
        != UserState { groups: BTreeSet::new(), ..after.clone() };
    if columns_changed {
        diesel::update(users::table.find(row.id))
            .set((
                users::email.eq(&after.email),
                users::name.eq(&after.name),
                users::display_name.eq(&after.display_name),
                users::is_active.eq(after.is_active),
                users::external_id.eq(&after.external_id),
                users::pi.eq(&after.pi),
                users::gdpr_consent.eq(after.gdpr_consent),
            ))
            .execute(conn)
            .await?;
    } else {
        store::touch_users(conn, &[row.id]).await?;
    }
    let (old, new) = (before.audit(admin_group), after.audit(admin_group));
    let changed: Vec<&str> = old.iter().filter(|(k, v)| new.get(*k) != Some(*v)).map(|(k, _)| *k).collect();
    if !changed.is_empty() {
        let pick = |m: &BTreeMap<&str, Value>| {
            Value::Object(changed.iter().map(|k| ((*k).to_owned(), m[k].clone())).collect())
        };
        record(conn, ctx.actor, "user_updated", "User", row.id, Some(pick(&old)), Some(pick(&new))).await?;
    }
    // Admin membership is audited as user_updated above; other groups per membership.
    let added: Vec<i64> = after.groups.difference(&before.groups).copied().filter(|g| *g != admin_group).collect();
    let removed: Vec<i64> = before.groups.difference(&after.groups).copied().filter(|g| *g != admin_group).collect();
    add_user_groups(conn, ctx, row.id, &after.email, &added).await?;
    remove_user_groups(conn, ctx, row.id, &after.email, &removed).await?;
    let admin_now = after.groups.contains(&admin_group);
    if admin_now != before.groups.contains(&admin_group) {
        if admin_now {
            store::add_memberships(conn, &[(row.id, admin_group)]).await?;
        } else {
            store::remove_membership(conn, row.id, admin_group).await?;
        }
        store::touch_groups(conn, &[admin_group]).await?;
    }
    notify_auth_change(conn, &format!("user:{}", row.id)).await?;
    Ok(())
}

/// DELETE /Users/{id}: a hard delete, so every credential of the user ends at once.
pub async fn delete_user(conn: &mut AsyncPgConnection, ctx: &Ctx, id: Uuid, if_match: Option<&str>) -> Result<()> {
    conn.transaction(async |conn| {
        let row = store::user(conn, id, true).await?.ok_or_else(user_not_found)?;
        check_if_match(if_match, &version(row.updated_at))?;
        let admin = admin_group(conn).await?;
        let groups: Vec<i64> = store::groups_of(conn, &[row.id]).await?.into_iter().map(|(_, (g, _, _))| g).collect();
        diesel::delete(users::table.find(row.id)).execute(conn).await?;
        store::touch_groups(conn, &groups).await?;
        let before = json!({"email": row.email, "name": row.name, "admin": groups.contains(&admin)});
        record(conn, ctx.actor, "user_deleted", "User", row.id, Some(before), None).await?;
        notify_auth_change(conn, &format!("user:{}", row.id)).await?;
        Ok(())
    })
    .await
}

// ---------------------------------------------------------------- groups

#[derive(Debug, Clone, PartialEq)]
struct GroupState {
    name: String,
    external_id: Option<String>,
    members: BTreeSet<i64>,
}

struct GroupEdit {
    state: GroupState,
    /// Users by id: (SCIM id, e-mail), for value-path filters and audit rows.
    known_users: BTreeMap<i64, (Uuid, String)>,
}

fn valid_group_name(name: Option<String>) -> Result<String> {
    let name = name.ok_or_else(|| ScimError::invalid_value("displayName is required"))?;
    if name.is_empty() || name.len() > 255 || name.contains('/') {
        return Err(ScimError::invalid_value("displayName must be 1 to 255 characters without '/'"));
    }
    Ok(name)
}

impl GroupEdit {
    async fn set_members(&mut self, conn: &mut AsyncPgConnection, value: Option<&Value>, replace: bool) -> Result<()> {
        let ids = reference_ids(value, "member")?;
        let found = store::users_by_scim_id(conn, &ids).await?;
        if let Some(missing) = ids.iter().find(|id| !found.iter().any(|(_, s, _)| s == *id)) {
            return Err(ScimError::invalid_value(format!("unknown member id {missing}")));
        }
        if replace {
            self.state.members.clear();
        }
        for (user, scim, email) in found {
            self.known_users.insert(user, (scim, email));
            self.state.members.insert(user);
        }
        Ok(())
    }

    async fn apply_object(
        &mut self,
        conn: &mut AsyncPgConnection,
        object: &Map<String, Value>,
        id: Option<Uuid>,
        add: bool,
    ) -> Result<()> {
        for (key, value) in object {
            match normalise(key, resources::GROUP_SCHEMA).as_str() {
                "displayname" => self.state.name = valid_group_name(as_string(Some(value), "displayName")?)?,
                "externalid" => self.state.external_id = as_string(Some(value), "externalId")?,
                "members" => self.set_members(conn, Some(value), !add).await?,
                "id" => {
                    if let (Some(id), Some(given)) = (id, value.as_str())
                        && given != id.to_string()
                    {
                        return Err(ScimError::bad("mutability", "id cannot be changed"));
                    }
                }
                _ => {}
            }
        }
        Ok(())
    }

    async fn patch(&mut self, conn: &mut AsyncPgConnection, op: &PatchOp, id: Uuid) -> Result<()> {
        let Some(path) = &op.path else {
            return match (op.op, &op.value) {
                (OpKind::Remove, _) => Err(ScimError::bad("noTarget", "remove needs a path")),
                (kind, Some(Value::Object(o))) => self.apply_object(conn, o, Some(id), kind == OpKind::Add).await,
                _ => Err(ScimError::invalid_value("an operation without a path needs an object value")),
            };
        };
        let (attr, filter) = split_path(path)?;
        match (normalise(&attr, resources::GROUP_SCHEMA).as_str(), op.op, filter) {
            ("members", OpKind::Remove, None) => self.state.members.clear(),
            ("members", OpKind::Remove, Some(filter)) => {
                let mut keep = BTreeSet::new();
                for m in &self.state.members {
                    let (scim, email) = self.known_users.get(m).cloned().unwrap_or_default();
                    let item = |a: &str| match a {
                        "value" => Some(Some(scim.to_string())),
                        "display" => Some(Some(email.clone())),
                        _ => None,
                    };
                    if !filter.matches(&item).map_err(|e| ScimError::bad("invalidFilter", e.0))? {
                        keep.insert(*m);
                    }
                }
                self.state.members = keep;
            }
            ("members", kind, None) => self.set_members(conn, op.value.as_ref(), kind == OpKind::Replace).await?,
            ("displayname", OpKind::Remove, None) => return Err(ScimError::invalid_value("displayName is required")),
            ("displayname", _, None) => {
                self.state.name = valid_group_name(as_string(op.value.as_ref(), "displayName")?)?
            }
            ("externalid", OpKind::Remove, None) => self.state.external_id = None,
            ("externalid", _, None) => self.state.external_id = as_string(op.value.as_ref(), "externalId")?,
            _ => return Err(ScimError::bad("invalidPath", format!("unsupported path '{path}'"))),
        }
        Ok(())
    }
}

/// Renders the group with this SCIM id.
pub async fn get_group(conn: &mut AsyncPgConnection, base: &str, id: Uuid) -> Result<Rendered> {
    let row = store::group(conn, id, false).await?.ok_or_else(group_not_found)?;
    render_group(conn, base, &row).await
}

async fn render_group(conn: &mut AsyncPgConnection, base: &str, row: &GroupRow) -> Result<Rendered> {
    let members: Vec<_> = store::members_of(conn, &[row.id]).await?.into_iter().map(|(_, m)| m).collect();
    Ok(Rendered { body: resources::group(base, row, &members), version: version(row.updated_at) })
}

/// Renders a page of groups with their members.
pub async fn render_groups(conn: &mut AsyncPgConnection, base: &str, rows: &[GroupRow]) -> Result<Vec<Value>> {
    let ids: Vec<i64> = rows.iter().map(|r| r.id).collect();
    let mut by_group: BTreeMap<i64, Vec<store::MemberRef>> = BTreeMap::new();
    for (group, member) in store::members_of(conn, &ids).await? {
        by_group.entry(group).or_default().push(member);
    }
    Ok(rows.iter().map(|r| resources::group(base, r, by_group.get(&r.id).map_or(&[], Vec::as_slice))).collect())
}

async fn group_name_taken(conn: &mut AsyncPgConnection, name: &str, other_than: i64) -> QueryResult<bool> {
    diesel::select(diesel::dsl::exists(groups::table.filter(groups::name.eq(name)).filter(groups::id.ne(other_than))))
        .get_result(conn)
        .await
}

/// POST /Groups.
pub async fn create_group(conn: &mut AsyncPgConnection, ctx: &Ctx, body: &Value) -> Result<Rendered> {
    let object = body.as_object().ok_or_else(|| ScimError::bad("invalidSyntax", "the body must be a JSON object"))?;
    conn.transaction(async |conn| {
        let mut edit = GroupEdit {
            state: GroupState { name: String::new(), external_id: None, members: BTreeSet::new() },
            known_users: BTreeMap::new(),
        };
        edit.apply_object(conn, object, None, true).await?;
        let name = valid_group_name(Some(edit.state.name.clone()).filter(|n| !n.is_empty()))?;
        if group_name_taken(conn, &name, 0).await? {
            return Err(ScimError::uniqueness("Group already exists"));
        }
        let id: i64 = diesel::insert_into(groups::table)
            .values((groups::name.eq(&name), groups::external_id.eq(&edit.state.external_id)))
            .returning(groups::id)
            .get_result(conn)
            .await?;
        record(conn, ctx.actor, "group_created", "Group", id, None, Some(json!({"name": name}))).await?;
        write_members(conn, ctx, id, &name, &BTreeSet::new(), &edit.state.members, &edit.known_users).await?;
        let row = groups::table.find(id).select(GroupRow::as_select()).first(conn).await?;
        render_group(conn, &ctx.base, &row).await
    })
    .await
}

async fn write_members(
    conn: &mut AsyncPgConnection,
    ctx: &Ctx,
    group_id: i64,
    group_name: &str,
    before: &BTreeSet<i64>,
    after: &BTreeSet<i64>,
    users: &BTreeMap<i64, (Uuid, String)>,
) -> Result<()> {
    let added: Vec<i64> = after.difference(before).copied().collect();
    let removed: Vec<i64> = before.difference(after).copied().collect();
    if added.is_empty() && removed.is_empty() {
        return Ok(());
    }
    let email = |u: &i64| users.get(u).map(|(_, e)| e.clone()).unwrap_or_default();
    store::add_memberships(conn, &added.iter().map(|u| (*u, group_id)).collect::<Vec<_>>()).await?;
    for u in &added {
        let after = json!({"user": email(u), "group": group_name});
        record(conn, ctx.actor, "member_added", "UserGroup", format!("{u}:{group_id}"), None, Some(after)).await?;
        notify_auth_change(conn, &format!("user:{u}")).await?;
    }
    for u in &removed {
        store::remove_membership(conn, *u, group_id).await?;
        let before = json!({"user": email(u), "group": group_name});
        record(conn, ctx.actor, "member_removed", "UserGroup", format!("{u}:{group_id}"), Some(before), None).await?;
        notify_auth_change(conn, &format!("user:{u}")).await?;
    }
    let changed: Vec<i64> = added.into_iter().chain(removed).collect();
    store::touch_users(conn, &changed).await?;
    store::touch_groups(conn, &[group_id]).await?;
    Ok(())
}

/// How a group write changes its resource.
pub enum GroupChange<'a> {
    Replace(&'a Value),
    Patch(Vec<PatchOp>),
}

/// PUT or PATCH /Groups/{id}.
pub async fn update_group(
    conn: &mut AsyncPgConnection,
    ctx: &Ctx,
    id: Uuid,
    if_match: Option<&str>,
    change: GroupChange<'_>,
) -> Result<Rendered> {
    conn.transaction(async |conn| {
        let row = store::group(conn, id, true).await?.ok_or_else(group_not_found)?;
        check_if_match(if_match, &version(row.updated_at))?;
        let members = store::members_of(conn, &[row.id]).await?;
        let mut edit = GroupEdit {
            state: GroupState {
                name: row.name.clone(),
                external_id: row.external_id.clone(),
                members: members.iter().map(|(_, m)| m.0).collect(),
            },
            known_users: members.into_iter().map(|(_, (u, s, _, e))| (u, (s, e))).collect(),
        };
        let before = edit.state.clone();
        match &change {
            GroupChange::Replace(body) => {
                let object = body
                    .as_object()
                    .ok_or_else(|| ScimError::bad("invalidSyntax", "the body must be a JSON object"))?;
                edit.apply_object(conn, object, Some(id), false).await?;
            }
            GroupChange::Patch(ops) => {
                for op in ops {
                    edit.patch(conn, op, id).await?;
                }
            }
        }
        let after = edit.state.clone();
        if after != before {
            if after.name != before.name {
                if crate::dataset::admin::RESERVED_GROUPS.contains(&before.name.as_str())
                    || crate::auth::Role::from_group(&before.name).is_some()
                {
                    return Err(ScimError::bad(
                        "mutability",
                        format!("the reserved group '{}' cannot be renamed", before.name),
                    ));
                }
                if group_name_taken(conn, &after.name, row.id).await? {
                    return Err(ScimError::uniqueness("Group already exists"));
                }
            }
            if (&after.name, &after.external_id) != (&before.name, &before.external_id) {
                diesel::update(groups::table.find(row.id))
                    .set((groups::name.eq(&after.name), groups::external_id.eq(&after.external_id)))
                    .execute(conn)
                    .await?;
                let old = json!({"name": before.name, "external_id": before.external_id});
                let new = json!({"name": after.name, "external_id": after.external_id});
                record(conn, ctx.actor, "group_updated", "Group", row.id, Some(old), Some(new)).await?;
                notify_auth_change(conn, crate::dataset::admin::ALL).await?;
            }
            write_members(conn, ctx, row.id, &after.name, &before.members, &after.members, &edit.known_users).await?;
        }
        let row = groups::table.find(row.id).select(GroupRow::as_select()).first(conn).await?;
        render_group(conn, &ctx.base, &row).await
    })
    .await
}

/// DELETE /Groups/{id}: memberships and group grants go with it; reserved groups stay.
pub async fn delete_group(conn: &mut AsyncPgConnection, ctx: &Ctx, id: Uuid, if_match: Option<&str>) -> Result<()> {
    conn.transaction(async |conn| {
        let row = store::group(conn, id, true).await?.ok_or_else(group_not_found)?;
        check_if_match(if_match, &version(row.updated_at))?;
        if crate::dataset::admin::RESERVED_GROUPS.contains(&row.name.as_str())
            || crate::auth::Role::from_group(&row.name).is_some()
        {
            return Err(ScimError::bad("mutability", format!("the reserved group '{}' cannot be deleted", row.name)));
        }
        let members = store::members_of(conn, &[row.id]).await?;
        diesel::delete(groups::table.find(row.id)).execute(conn).await?;
        let user_ids: Vec<i64> = members.iter().map(|(_, m)| m.0).collect();
        store::touch_users(conn, &user_ids).await?;
        let emails: Vec<&str> = members.iter().map(|(_, m)| m.3.as_str()).collect();
        record(
            conn,
            ctx.actor,
            "group_deleted",
            "Group",
            row.id,
            Some(json!({"name": row.name, "members": emails})),
            None,
        )
        .await?;
        notify_auth_change(conn, crate::dataset::admin::ALL).await?;
        Ok(())
    })
    .await
}

// ---------------------------------------------------------------- datasets

#[derive(Debug, Clone, PartialEq)]
struct DatasetState {
    name: String,
    description: String,
    tos_id: Option<i64>,
    external_id: Option<String>,
    tables: Vec<(String, String)>,
}

fn valid_dataset_name(name: Option<String>) -> Result<String> {
    let name = name.filter(|n| !n.is_empty()).ok_or_else(|| ScimError::invalid_value("name is required"))?;
    let ok = name.len() <= 255 && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if !ok {
        return Err(ScimError::invalid_value("name must be 1 to 255 letters, digits, '_' or '-'"));
    }
    Ok(name)
}

fn tables_of(value: Option<&Value>) -> Result<Vec<(String, String)>> {
    let items: Vec<&Value> = match value {
        None | Some(Value::Null) => vec![],
        Some(Value::Array(items)) => items.iter().collect(),
        Some(other) => vec![other],
    };
    items
        .into_iter()
        .map(|item| {
            let field = |k: &str| {
                item.get(k).and_then(Value::as_str).map(str::trim).filter(|s| !s.is_empty() && s.len() <= 255)
            };
            match (field("serviceName"), field("tableName")) {
                (Some(s), Some(t)) => Ok((s.to_owned(), t.to_owned())),
                _ => Err(ScimError::invalid_value("a service table needs serviceName and tableName")),
            }
        })
        .collect()
}

fn as_tos(value: Option<&Value>) -> Result<Option<i64>> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => {
            n.as_i64().map(Some).ok_or_else(|| ScimError::invalid_value("tosId must be an integer"))
        }
        Some(Value::String(s)) => s.parse().map(Some).map_err(|_| ScimError::invalid_value("tosId must be an integer")),
        Some(_) => Err(ScimError::invalid_value("tosId must be an integer")),
    }
}

impl DatasetState {
    fn add_tables(&mut self, tables: Vec<(String, String)>, replace: bool) {
        if replace {
            self.tables.clear();
        }
        for t in tables {
            if !self.tables.contains(&t) {
                self.tables.push(t);
            }
        }
    }

    fn apply_object(&mut self, object: &Map<String, Value>, id: Option<Uuid>, add: bool) -> Result<()> {
        for (key, value) in object {
            match normalise(key, resources::DATASET_SCHEMA).as_str() {
                "name" => self.name = valid_dataset_name(as_string(Some(value), "name")?)?,
                "description" => self.description = as_string(Some(value), "description")?.unwrap_or_default(),
                "tosid" => self.tos_id = as_tos(Some(value))?,
                "externalid" => self.external_id = as_string(Some(value), "externalId")?,
                "servicetables" => self.add_tables(tables_of(Some(value))?, !add),
                "id" => {
                    if let (Some(id), Some(given)) = (id, value.as_str())
                        && given != id.to_string()
                    {
                        return Err(ScimError::bad("mutability", "id cannot be changed"));
                    }
                }
                _ => {}
            }
        }
        Ok(())
    }

    fn patch(&mut self, op: &PatchOp, id: Uuid) -> Result<()> {
        let Some(path) = &op.path else {
            return match (op.op, &op.value) {
                (OpKind::Remove, _) => Err(ScimError::bad("noTarget", "remove needs a path")),
                (kind, Some(Value::Object(o))) => self.apply_object(o, Some(id), kind == OpKind::Add),
                _ => Err(ScimError::invalid_value("an operation without a path needs an object value")),
            };
        };
        let (attr, filter) = split_path(path)?;
        let value = op.value.as_ref();
        match (normalise(&attr, resources::DATASET_SCHEMA).as_str(), op.op, filter) {
            ("servicetables", OpKind::Remove, None) => self.tables.clear(),
            ("servicetables", OpKind::Remove, Some(filter)) => {
                let mut keep = vec![];
                for (s, t) in &self.tables {
                    let item = |a: &str| match a {
                        "servicename" => Some(Some(s.clone())),
                        "tablename" => Some(Some(t.clone())),
                        _ => None,
                    };
                    if !filter.matches(&item).map_err(|e| ScimError::bad("invalidFilter", e.0))? {
                        keep.push((s.clone(), t.clone()));
                    }
                }
                self.tables = keep;
            }
            ("servicetables", kind, None) => self.add_tables(tables_of(value)?, kind == OpKind::Replace),
            ("name", OpKind::Remove, None) => return Err(ScimError::invalid_value("name is required")),
            ("name", _, None) => self.name = valid_dataset_name(as_string(value, "name")?)?,
            ("description", OpKind::Remove, None) => self.description.clear(),
            ("description", _, None) => self.description = as_string(value, "description")?.unwrap_or_default(),
            ("tosid", OpKind::Remove, None) => self.tos_id = None,
            ("tosid", _, None) => self.tos_id = as_tos(value)?,
            ("externalid", OpKind::Remove, None) => self.external_id = None,
            ("externalid", _, None) => self.external_id = as_string(value, "externalId")?,
            _ => return Err(ScimError::bad("invalidPath", format!("unsupported path '{path}'"))),
        }
        Ok(())
    }
}

/// Renders the dataset with this SCIM id.
pub async fn get_dataset(conn: &mut AsyncPgConnection, base: &str, id: Uuid) -> Result<Rendered> {
    let row = store::dataset(conn, id, false).await?.ok_or_else(dataset_not_found)?;
    render_dataset(conn, base, &row).await
}

async fn render_dataset(conn: &mut AsyncPgConnection, base: &str, row: &DatasetRow) -> Result<Rendered> {
    let tables: Vec<_> = store::tables_of(conn, &[row.id]).await?.into_iter().map(|(_, s, t)| (s, t)).collect();
    Ok(Rendered { body: resources::dataset(base, row, &tables), version: version(row.updated_at) })
}

/// Renders a page of datasets with their service tables.
pub async fn render_datasets(conn: &mut AsyncPgConnection, base: &str, rows: &[DatasetRow]) -> Result<Vec<Value>> {
    let ids: Vec<i64> = rows.iter().map(|r| r.id).collect();
    let mut by_dataset: BTreeMap<i64, Vec<(String, String)>> = BTreeMap::new();
    for (d, s, t) in store::tables_of(conn, &ids).await? {
        by_dataset.entry(d).or_default().push((s, t));
    }
    Ok(rows.iter().map(|r| resources::dataset(base, r, by_dataset.get(&r.id).map_or(&[], Vec::as_slice))).collect())
}

async fn check_dataset(conn: &mut AsyncPgConnection, state: &DatasetState, id: i64) -> Result<()> {
    let taken: bool = diesel::select(diesel::dsl::exists(
        datasets::table.filter(datasets::name.eq(&state.name)).filter(datasets::id.ne(id)),
    ))
    .get_result(conn)
    .await?;
    if taken {
        return Err(ScimError::uniqueness("Dataset already exists"));
    }
    if let Some(tos) = state.tos_id {
        let exists: bool = diesel::select(diesel::dsl::exists(tos_documents::table.find(tos))).get_result(conn).await?;
        if !exists {
            return Err(ScimError::invalid_value(format!("no terms of service document with id {tos}")));
        }
    }
    Ok(())
}

async fn write_tables(
    conn: &mut AsyncPgConnection,
    ctx: &Ctx,
    dataset_id: i64,
    dataset_name: &str,
    before: &[(String, String)],
    after: &[(String, String)],
) -> Result<()> {
    for (s, t) in before.iter().filter(|t| !after.contains(t)) {
        if let Some(table_id) = store::delete_table(conn, dataset_id, s, t).await? {
            let before = json!({"service_name": s, "table_name": t, "dataset": dataset_name});
            record(conn, ctx.actor, "service_table_removed", "ServiceTable", table_id, Some(before), None).await?;
        }
    }
    for (s, t) in after.iter().filter(|t| !before.contains(t)) {
        if store::table_owner(conn, s, t).await?.is_some_and(|owner| owner != dataset_id) {
            return Err(ScimError::uniqueness(format!("Service table {s}/{t} belongs to another dataset")));
        }
        let table_id = store::insert_table(conn, dataset_id, s, t).await?;
        let after = json!({"service_name": s, "table_name": t, "dataset": dataset_name});
        record(conn, ctx.actor, "service_table_added", "ServiceTable", table_id, None, Some(after)).await?;
    }
    Ok(())
}

/// POST /Datasets.
pub async fn create_dataset(conn: &mut AsyncPgConnection, ctx: &Ctx, body: &Value) -> Result<Rendered> {
    let object = body.as_object().ok_or_else(|| ScimError::bad("invalidSyntax", "the body must be a JSON object"))?;
    let mut state = DatasetState {
        name: String::new(),
        description: String::new(),
        tos_id: None,
        external_id: None,
        tables: vec![],
    };
    state.apply_object(object, None, true)?;
    state.name = valid_dataset_name(Some(state.name.clone()))?;
    conn.transaction(async |conn| {
        check_dataset(conn, &state, 0).await?;
        let id: i64 = diesel::insert_into(datasets::table)
            .values((
                datasets::name.eq(&state.name),
                datasets::description.eq(&state.description),
                datasets::tos_document_id.eq(state.tos_id),
                datasets::external_id.eq(&state.external_id),
            ))
            .returning(datasets::id)
            .get_result(conn)
            .await?;
        record(conn, ctx.actor, "dataset_created", "Dataset", id, None, Some(json!({"name": state.name}))).await?;
        write_tables(conn, ctx, id, &state.name, &[], &state.tables).await?;
        notify_auth_change(conn, crate::dataset::admin::ALL).await?;
        let row = datasets::table.find(id).select(DatasetRow::as_select()).first(conn).await?;
        render_dataset(conn, &ctx.base, &row).await
    })
    .await
}

/// How a dataset write changes its resource.
pub enum DatasetChange<'a> {
    Replace(&'a Value),
    Patch(Vec<PatchOp>),
}

/// PUT or PATCH /Datasets/{id}.
pub async fn update_dataset(
    conn: &mut AsyncPgConnection,
    ctx: &Ctx,
    id: Uuid,
    if_match: Option<&str>,
    change: DatasetChange<'_>,
) -> Result<Rendered> {
    conn.transaction(async |conn| {
        let row = store::dataset(conn, id, true).await?.ok_or_else(dataset_not_found)?;
        check_if_match(if_match, &version(row.updated_at))?;
        let tables = store::tables_of(conn, &[row.id]).await?.into_iter().map(|(_, s, t)| (s, t)).collect();
        let before = DatasetState {
            name: row.name.clone(),
            description: row.description.clone(),
            tos_id: row.tos_document_id,
            external_id: row.external_id.clone(),
            tables,
        };
        let mut after = before.clone();
        match &change {
            DatasetChange::Replace(body) => {
                let object = body.as_object().ok_or_else(|| ScimError::bad("invalidSyntax", "the body must be a JSON object"))?;
                after.apply_object(object, Some(id), false)?;
            }
            DatasetChange::Patch(ops) => {
                for op in ops {
                    after.patch(op, id)?;
                }
            }
        }
        if after != before {
            check_dataset(conn, &after, row.id).await?;
            let fields = |s: &DatasetState| {
                json!({"name": s.name, "description": s.description, "tos_id": s.tos_id, "external_id": s.external_id})
            };
            let (old, new) = (fields(&before), fields(&after));
            if old != new {
                diesel::update(datasets::table.find(row.id))
                    .set((
                        datasets::name.eq(&after.name),
                        datasets::description.eq(&after.description),
                        datasets::tos_document_id.eq(after.tos_id),
                        datasets::external_id.eq(&after.external_id),
                    ))
                    .execute(conn)
                    .await?;
                record(conn, ctx.actor, "dataset_updated", "Dataset", row.id, Some(old), Some(new)).await?;
            } else {
                diesel::update(datasets::table.find(row.id)).set(datasets::updated_at.eq(diesel::dsl::now)).execute(conn).await?;
            }
            write_tables(conn, ctx, row.id, &after.name, &before.tables, &after.tables).await?;
            notify_auth_change(conn, crate::dataset::admin::ALL).await?;
        }
        let row = datasets::table.find(row.id).select(DatasetRow::as_select()).first(conn).await?;
        render_dataset(conn, &ctx.base, &row).await
    })
    .await
}

/// DELETE /Datasets/{id}: versions, grants, tables and TOS documents go with it.
pub async fn delete_dataset(conn: &mut AsyncPgConnection, ctx: &Ctx, id: Uuid, if_match: Option<&str>) -> Result<()> {
    conn.transaction(async |conn| {
        let row = store::dataset(conn, id, true).await?.ok_or_else(dataset_not_found)?;
        check_if_match(if_match, &version(row.updated_at))?;
        diesel::delete(datasets::table.find(row.id)).execute(conn).await?;
        record(conn, ctx.actor, "dataset_deleted", "Dataset", row.id, Some(json!({"name": row.name})), None).await?;
        notify_auth_change(conn, crate::dataset::admin::ALL).await?;
        Ok(())
    })
    .await
}
