//! DatasetService admin operations on datasets, versions and buckets (spec
//! §5.3), and what every admin operation shares: the calling admin, the
//! caller's level on a dataset, paging, user pre-provisioning and audit rows
//! carrying the request id that makes creates safe to retry. Transport-free;
//! each write is one transaction with its audit row and its NOTIFY.

use std::collections::BTreeMap;

use base64::Engine as _;
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncConnection as _, AsyncPgConnection, RunQueryDsl};
use serde_json::{Value, json};

use super::audit::Actor;
use super::permissions::Level;
use super::store::{self, VersionRow};
use crate::auth::store::{self as auth_store, UserRow, notify_auth_change};
use crate::db::schema::{
    audit_log, dataset_buckets, dataset_version_buckets, dataset_versions, datasets, grants, group_memberships,
};
use crate::error::{Error, Result};

/// The eviction payload for every cached principal.
pub(crate) const ALL: &str = "all";

/// Groups created by the first migration; they cannot be renamed or deleted.
pub const RESERVED_GROUPS: [&str; 4] = ["admin", "sc", "team_lead", "user"];

/// The signed-in human calling an admin operation (service accounts never get here).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AdminCaller {
    /// The user's id.
    pub user_id: i64,
    /// Member of group `admin`.
    pub admin: bool,
    /// Member of group `sc` (may appoint dataset admins anywhere).
    pub sc: bool,
}

impl AdminCaller {
    /// The audit actor.
    pub fn actor(self) -> Actor {
        Actor::User(self.user_id)
    }

    /// PERMISSION_DENIED unless a global admin.
    pub fn require_admin(self) -> Result<()> {
        if self.admin { Ok(()) } else { Err(denied("Only global admins may do this.")) }
    }
}

/// PERMISSION_DENIED with `message`.
pub(crate) fn denied(message: &str) -> Error {
    Error::PermissionDenied(message.to_owned())
}

/// A user's levels on one dataset (any version).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CallerLevels {
    /// Highest level of the user's own grants.
    pub direct: Option<Level>,
    /// Highest level of the user's own and their groups' grants.
    pub effective: Option<Level>,
}

impl CallerLevels {
    /// Holds `manage` (or `admin`) on the dataset.
    pub fn manages(self) -> bool {
        self.effective >= Some(Level::Manage)
    }

    /// Dataset admin: a direct `admin` grant (as `datasets_admin` counts it).
    pub fn dataset_admin(self) -> bool {
        self.direct == Some(Level::Admin)
    }
}

/// The levels `user_id` holds on a dataset.
pub async fn caller_levels(conn: &mut AsyncPgConnection, user_id: i64, dataset_id: i64) -> QueryResult<CallerLevels> {
    let groups = group_memberships::table
        .filter(group_memberships::user_id.eq(user_id))
        .select(group_memberships::group_id.nullable());
    let rows: Vec<(String, Option<i64>)> = grants::table
        .filter(grants::dataset_id.eq(dataset_id))
        .filter(grants::user_id.eq(user_id).or(grants::group_id.eq_any(groups)))
        .select((grants::level, grants::user_id))
        .load(conn)
        .await?;
    let mut levels = CallerLevels::default();
    for (level, user) in rows {
        let Some(level) = Level::parse(&level) else { continue };
        levels.effective = levels.effective.max(Some(level));
        if user.is_some() {
            levels.direct = levels.direct.max(Some(level));
        }
    }
    Ok(levels)
}

/// A validated page request: rows `offset .. offset + size`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageRequest {
    /// Rows to skip.
    pub offset: i64,
    /// Rows to return (1–200).
    pub size: i64,
}

/// The page size when the caller gives none.
const DEFAULT_PAGE_SIZE: i64 = 50;
/// The largest page (spec §5).
const MAX_PAGE_SIZE: i64 = 200;

impl PageRequest {
    /// Parses `page_size` (clamped to 1–200, 0 = 50) and the opaque `page_token`.
    pub fn parse(page_size: i32, page_token: &str) -> Result<PageRequest> {
        if page_size < 0 {
            return Err(Error::InvalidArgument("page_size must not be negative".into()));
        }
        let size = if page_size == 0 { DEFAULT_PAGE_SIZE } else { i64::from(page_size).min(MAX_PAGE_SIZE) };
        let offset = if page_token.is_empty() {
            0
        } else {
            base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(page_token)
                .ok()
                .and_then(|b| String::from_utf8(b).ok())
                .and_then(|s| s.strip_prefix("offset:").and_then(|n| n.parse::<i64>().ok()))
                .filter(|n| *n >= 0)
                .ok_or_else(|| Error::InvalidArgument("page_token is not a token from a previous response".into()))?
        };
        Ok(PageRequest { offset, size })
    }

    /// How many rows to fetch: one more than the page, to know whether another follows.
    pub fn fetch(self) -> i64 {
        self.size + 1
    }

    /// Trims rows fetched with [`Self::fetch`] to the page; returns them and the next token.
    pub fn finish<T>(self, mut rows: Vec<T>) -> (Vec<T>, String) {
        let more = i64::try_from(rows.len()).unwrap_or(i64::MAX) > self.size;
        rows.truncate(usize::try_from(self.size).unwrap_or(usize::MAX));
        let next = if more {
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("offset:{}", self.offset + self.size))
        } else {
            String::new()
        };
        (rows, next)
    }

    /// The page of an in-memory list.
    pub fn slice<T>(self, rows: Vec<T>) -> (Vec<T>, String) {
        let start = usize::try_from(self.offset).unwrap_or(usize::MAX);
        let fetch = usize::try_from(self.fetch()).unwrap_or(usize::MAX);
        self.finish(rows.into_iter().skip(start).take(fetch).collect())
    }
}

/// Appends an audit row (as [`super::audit::record`]) that also carries the request id.
#[expect(clippy::too_many_arguments, reason = "one argument per audit column")]
pub(crate) async fn record(
    conn: &mut AsyncPgConnection,
    actor: Actor,
    action: &str,
    target_type: &str,
    target_id: impl ToString,
    before: Option<Value>,
    after: Option<Value>,
    request_id: Option<&str>,
) -> QueryResult<()> {
    super::audit::record_with_request(conn, actor, action, target_type, target_id, before, after, request_id).await
}

/// The target of an earlier `action` by the same user with this request id:
/// a retried create returns what the first attempt made.
pub(crate) async fn replayed(
    conn: &mut AsyncPgConnection,
    caller: AdminCaller,
    action: &str,
    request_id: Option<&str>,
) -> QueryResult<Option<i64>> {
    let Some(request_id) = request_id else { return Ok(None) };
    let target: Option<String> = audit_log::table
        .filter(audit_log::action.eq(action))
        .filter(audit_log::request_id.eq(request_id))
        .filter(audit_log::actor_user_id.eq(caller.user_id))
        .select(audit_log::target_id)
        .first(conn)
        .await
        .optional()?;
    Ok(target.and_then(|t| t.parse().ok()))
}

/// The user with this (validated) e-mail, pre-provisioned if unknown
/// (no OIDC subject: the first sign-in with that e-mail binds to it).
pub(crate) async fn find_or_provision_user(
    conn: &mut AsyncPgConnection,
    actor: Actor,
    email: &str,
) -> QueryResult<UserRow> {
    if let Some(user) = auth_store::user_by_email(conn, email).await? {
        return Ok(user);
    }
    let user = auth_store::insert_user(conn, email).await?;
    let after = json!({"email": user.email, "name": user.name, "admin": false});
    record(conn, actor, "user_created", "User", user.id, None, Some(after), None).await?;
    Ok(user)
}

/// The existing user with this e-mail, else NOT_FOUND "User not found: <email>".
pub(crate) async fn existing_user(conn: &mut AsyncPgConnection, email: &str) -> Result<UserRow> {
    auth_store::user_by_email(conn, email).await?.ok_or_else(|| Error::NotFound(format!("User not found: {email}")))
}

/// The dataset with this name, else NOT_FOUND.
pub(crate) async fn dataset_named(conn: &mut AsyncPgConnection, name: &str) -> Result<store::DatasetRow> {
    store::dataset_by_name(conn, name).await?.ok_or_else(|| Error::NotFound(format!("Dataset not found: {name}")))
}

/// A row of `datasets` with its timestamps.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = datasets)]
pub struct DatasetRecord {
    pub id: i64,
    pub name: String,
    pub description: String,
    pub tos_document_id: Option<i64>,
    pub access_mode: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A dataset with its bucket names, sorted.
#[derive(Debug, Clone)]
pub struct DatasetView {
    /// The row.
    pub row: DatasetRecord,
    /// Bucket names.
    pub buckets: Vec<String>,
}

/// A validated new dataset.
#[derive(Debug, Clone)]
pub struct NewDatasetSpec {
    /// Slug.
    pub name: String,
    /// Free text.
    pub description: String,
    /// `public` rather than `closed`.
    pub public: bool,
    /// Retry key.
    pub request_id: Option<String>,
}

/// Changes to a dataset; `None` keeps the value.
#[derive(Debug, Clone, Default)]
pub struct DatasetChanges {
    /// New description.
    pub description: Option<String>,
    /// New access mode (`true` = public).
    pub public: Option<bool>,
    /// New general TOS (`Some(None)` clears it).
    pub tos_document_id: Option<Option<i64>>,
}

fn access_mode(public: bool) -> &'static str {
    if public { "public" } else { "closed" }
}

async fn dataset_view(conn: &mut AsyncPgConnection, id: i64) -> Result<DatasetView> {
    let row = datasets::table
        .find(id)
        .select(DatasetRecord::as_select())
        .first(conn)
        .await
        .optional()?
        .ok_or_else(|| Error::NotFound("Dataset not found".into()))?;
    let mut views = with_buckets(conn, vec![row]).await?;
    Ok(views.remove(0))
}

async fn with_buckets(conn: &mut AsyncPgConnection, rows: Vec<DatasetRecord>) -> QueryResult<Vec<DatasetView>> {
    let ids: Vec<i64> = rows.iter().map(|r| r.id).collect();
    let mut buckets: BTreeMap<i64, Vec<String>> = BTreeMap::new();
    let pairs: Vec<(i64, String)> = dataset_buckets::table
        .filter(dataset_buckets::dataset_id.eq_any(ids))
        .select((dataset_buckets::dataset_id, dataset_buckets::name))
        .order(dataset_buckets::name)
        .load(conn)
        .await?;
    for (id, name) in pairs {
        buckets.entry(id).or_default().push(name);
    }
    Ok(rows
        .into_iter()
        .map(|row| {
            let buckets = buckets.remove(&row.id).unwrap_or_default();
            DatasetView { row, buckets }
        })
        .collect())
}

/// Creates a dataset (global admin). A retry with the same request id returns the first result.
pub async fn create_dataset(
    conn: &mut AsyncPgConnection,
    caller: AdminCaller,
    spec: NewDatasetSpec,
) -> Result<DatasetView> {
    caller.require_admin()?;
    conn.transaction(async |conn| {
        if let Some(id) = replayed(conn, caller, "dataset_created", spec.request_id.as_deref()).await? {
            return dataset_view(conn, id).await;
        }
        if store::dataset_by_name(conn, &spec.name).await?.is_some() {
            return Err(Error::AlreadyExists(format!("Dataset {} already exists", spec.name)));
        }
        let new = store::NewDataset {
            name: &spec.name,
            description: &spec.description,
            access_mode: access_mode(spec.public),
        };
        let row = store::insert_dataset(conn, new).await?;
        let after = json!({"name": spec.name});
        record(
            conn,
            caller.actor(),
            "dataset_created",
            "Dataset",
            row.id,
            None,
            Some(after),
            spec.request_id.as_deref(),
        )
        .await?;
        if spec.public {
            // A public dataset is an implicit view for every user.
            notify_auth_change(conn, ALL).await?;
        }
        dataset_view(conn, row.id).await
    })
    .await
}

/// Whether the caller may read the dataset: global admin, public, or any grant.
async fn may_read(conn: &mut AsyncPgConnection, caller: AdminCaller, dataset: &store::DatasetRow) -> Result<bool> {
    Ok(caller.admin
        || dataset.is_public()
        || caller_levels(conn, caller.user_id, dataset.id).await?.effective.is_some())
}

/// One dataset, if the caller may read it (NOT_FOUND otherwise, as for unknown names).
pub async fn get_dataset(conn: &mut AsyncPgConnection, caller: AdminCaller, name: &str) -> Result<DatasetView> {
    let dataset = dataset_named(conn, name).await?;
    if !may_read(conn, caller, &dataset).await? {
        return Err(Error::NotFound(format!("Dataset not found: {name}")));
    }
    dataset_view(conn, dataset.id).await
}

/// A page of every dataset by id (global admin).
pub async fn list_datasets(
    conn: &mut AsyncPgConnection,
    caller: AdminCaller,
    page: PageRequest,
) -> Result<(Vec<DatasetView>, String)> {
    caller.require_admin()?;
    let rows: Vec<DatasetRecord> = datasets::table
        .select(DatasetRecord::as_select())
        .order(datasets::id)
        .offset(page.offset)
        .limit(page.fetch())
        .load(conn)
        .await?;
    let (rows, next) = page.finish(rows);
    Ok((with_buckets(conn, rows).await?, next))
}

/// Changes a dataset (global admin); a change to nothing writes no audit row.
pub async fn update_dataset(
    conn: &mut AsyncPgConnection,
    caller: AdminCaller,
    name: &str,
    changes: DatasetChanges,
) -> Result<DatasetView> {
    caller.require_admin()?;
    conn.transaction(async |conn| {
        let dataset = dataset_named(conn, name).await?;
        if let Some(Some(tos_id)) = changes.tos_document_id {
            let (tos_dataset, _) = store::tos_document(conn, tos_id)
                .await?
                .ok_or_else(|| Error::NotFound(format!("TOS document not found: {tos_id}")))?;
            if tos_dataset.is_some_and(|d| d != dataset.id) {
                return Err(Error::FailedPrecondition(format!(
                    "tos_document_id: document {tos_id} belongs to another dataset"
                )));
            }
        }
        let mut before = serde_json::Map::new();
        let mut after = serde_json::Map::new();
        if let Some(description) = changes.description.as_ref().filter(|d| **d != dataset.description) {
            before.insert("description".into(), json!(dataset.description));
            after.insert("description".into(), json!(description));
            diesel::update(datasets::table.find(dataset.id))
                .set(datasets::description.eq(description))
                .execute(conn)
                .await?;
        }
        if let Some(public) = changes.public.filter(|p| *p != dataset.is_public()) {
            before.insert("access_mode".into(), json!(dataset.access_mode));
            after.insert("access_mode".into(), json!(access_mode(public)));
            diesel::update(datasets::table.find(dataset.id))
                .set(datasets::access_mode.eq(access_mode(public)))
                .execute(conn)
                .await?;
        }
        if let Some(tos) = changes.tos_document_id.filter(|t| *t != dataset.tos_document_id) {
            before.insert("tos_document".into(), json!(dataset.tos_document_id));
            after.insert("tos_document".into(), json!(tos));
            store::set_dataset_tos(conn, dataset.id, tos).await?;
        }
        if !after.is_empty() {
            diesel::update(datasets::table.find(dataset.id))
                .set(datasets::updated_at.eq(Utc::now()))
                .execute(conn)
                .await?;
            before.insert("name".into(), json!(dataset.name));
            after.insert("name".into(), json!(dataset.name));
            let (before, after) = (Some(Value::Object(before)), Some(Value::Object(after)));
            record(conn, caller.actor(), "dataset_updated", "Dataset", dataset.id, before, after, None).await?;
            // Access mode and general TOS change everyone's documents.
            notify_auth_change(conn, ALL).await?;
        }
        dataset_view(conn, dataset.id).await
    })
    .await
}

/// Deletes a dataset and everything below it (global admin).
pub async fn delete_dataset(conn: &mut AsyncPgConnection, caller: AdminCaller, name: &str) -> Result<()> {
    caller.require_admin()?;
    conn.transaction(async |conn| {
        let dataset = dataset_named(conn, name).await?;
        diesel::delete(datasets::table.find(dataset.id)).execute(conn).await?;
        let before = json!({"name": dataset.name});
        record(conn, caller.actor(), "dataset_deleted", "Dataset", dataset.id, Some(before), None, None).await?;
        notify_auth_change(conn, ALL).await?;
        Ok(())
    })
    .await
}

/// A version with its dataset's name and bucket names.
#[derive(Debug, Clone)]
pub struct VersionView {
    /// The row.
    pub row: VersionRow,
    /// The dataset's name.
    pub dataset: String,
    /// Bucket names, sorted.
    pub buckets: Vec<String>,
}

/// A validated new version.
#[derive(Debug, Clone)]
pub struct NewVersionSpec {
    /// 1–255 characters.
    pub version: String,
    /// Informational prefix.
    pub prefix: String,
    /// Informational public flag.
    pub is_public: bool,
    /// Bucket names (each 1–255 characters).
    pub buckets: Vec<String>,
    /// Retry key.
    pub request_id: Option<String>,
}

/// Changes to a version; `None` keeps the value.
#[derive(Debug, Clone, Default)]
pub struct VersionChanges {
    /// New prefix.
    pub prefix: Option<String>,
    /// New public flag.
    pub is_public: Option<bool>,
    /// New bucket set.
    pub buckets: Option<Vec<String>>,
}

async fn version_views(conn: &mut AsyncPgConnection, dataset: &store::DatasetRow) -> QueryResult<Vec<VersionView>> {
    Ok(store::versions_with_buckets(conn, dataset.id)
        .await?
        .into_iter()
        .map(|(row, buckets)| VersionView { row, dataset: dataset.name.clone(), buckets })
        .collect())
}

async fn version_view(conn: &mut AsyncPgConnection, dataset: &store::DatasetRow, id: i64) -> Result<VersionView> {
    version_views(conn, dataset)
        .await?
        .into_iter()
        .find(|v| v.row.id == id)
        .ok_or_else(|| Error::NotFound("Version not found".into()))
}

async fn version_named(conn: &mut AsyncPgConnection, dataset: &store::DatasetRow, version: &str) -> Result<VersionRow> {
    store::version_by_name(conn, dataset.id, version)
        .await?
        .ok_or_else(|| Error::NotFound(format!("Version not found: {}/{version}", dataset.name)))
}

/// Replaces a version's bucket set (buckets created on the dataset if missing).
async fn set_version_buckets(
    conn: &mut AsyncPgConnection,
    dataset_id: i64,
    version_id: i64,
    buckets: &[String],
) -> QueryResult<()> {
    let mut keep = Vec::new();
    for bucket in buckets {
        let bucket_id = store::ensure_bucket(conn, dataset_id, bucket).await?;
        store::link_version_bucket(conn, dataset_id, version_id, bucket_id).await?;
        keep.push(bucket_id);
    }
    diesel::delete(
        dataset_version_buckets::table
            .filter(dataset_version_buckets::version_id.eq(version_id))
            .filter(dataset_version_buckets::bucket_id.ne_all(keep)),
    )
    .execute(conn)
    .await
    .map(drop)
}

/// Adds a version to a dataset (global admin).
pub async fn create_version(
    conn: &mut AsyncPgConnection,
    caller: AdminCaller,
    dataset: &str,
    spec: NewVersionSpec,
) -> Result<VersionView> {
    caller.require_admin()?;
    conn.transaction(async |conn| {
        let dataset = dataset_named(conn, dataset).await?;
        if let Some(id) = replayed(conn, caller, "dataset_version_created", spec.request_id.as_deref()).await? {
            return version_view(conn, &dataset, id).await;
        }
        if store::version_by_name(conn, dataset.id, &spec.version).await?.is_some() {
            return Err(Error::AlreadyExists(format!("Version {}/{} already exists", dataset.name, spec.version)));
        }
        let row = store::insert_version(conn, dataset.id, &spec.version, &spec.prefix, spec.is_public).await?;
        set_version_buckets(conn, dataset.id, row.id, &spec.buckets).await?;
        let view = version_view(conn, &dataset, row.id).await?;
        let after = json!({"dataset": dataset.name, "version": spec.version, "prefix": spec.prefix,
            "is_public": spec.is_public, "buckets": view.buckets});
        let request_id = spec.request_id.as_deref();
        record(
            conn,
            caller.actor(),
            "dataset_version_created",
            "DatasetVersion",
            row.id,
            None,
            Some(after),
            request_id,
        )
        .await?;
        notify_auth_change(conn, ALL).await?;
        Ok(view)
    })
    .await
}

/// A dataset's versions, to whoever may read the dataset.
pub async fn list_versions(
    conn: &mut AsyncPgConnection,
    caller: AdminCaller,
    dataset: &str,
) -> Result<Vec<VersionView>> {
    let row = dataset_named(conn, dataset).await?;
    if !may_read(conn, caller, &row).await? {
        return Err(Error::NotFound(format!("Dataset not found: {dataset}")));
    }
    Ok(version_views(conn, &row).await?)
}

/// Changes a version (global admin); a change to nothing writes no audit row.
pub async fn update_version(
    conn: &mut AsyncPgConnection,
    caller: AdminCaller,
    dataset: &str,
    version: &str,
    changes: VersionChanges,
) -> Result<VersionView> {
    caller.require_admin()?;
    conn.transaction(async |conn| {
        let dataset = dataset_named(conn, dataset).await?;
        let row = version_named(conn, &dataset, version).await?;
        let old = version_view(conn, &dataset, row.id).await?;
        let prefix = changes.prefix.clone().unwrap_or_else(|| row.prefix.clone());
        let is_public = changes.is_public.unwrap_or(row.is_public);
        diesel::update(dataset_versions::table.find(row.id))
            .set((dataset_versions::prefix.eq(&prefix), dataset_versions::is_public.eq(is_public)))
            .execute(conn)
            .await?;
        if let Some(buckets) = &changes.buckets {
            set_version_buckets(conn, dataset.id, row.id, buckets).await?;
        }
        let new = version_view(conn, &dataset, row.id).await?;
        let state =
            |v: &VersionView| json!({"prefix": v.row.prefix, "is_public": v.row.is_public, "buckets": v.buckets});
        let (before, after) = (state(&old), state(&new));
        if before != after {
            diesel::update(dataset_versions::table.find(row.id))
                .set(dataset_versions::updated_at.eq(Utc::now()))
                .execute(conn)
                .await?;
            record(
                conn,
                caller.actor(),
                "dataset_version_updated",
                "DatasetVersion",
                row.id,
                Some(before),
                Some(after),
                None,
            )
            .await?;
            notify_auth_change(conn, ALL).await?;
        }
        Ok(new)
    })
    .await
}

/// Deletes a version, its bucket links, grants and TOS documents (global admin).
pub async fn delete_version(
    conn: &mut AsyncPgConnection,
    caller: AdminCaller,
    dataset: &str,
    version: &str,
) -> Result<()> {
    caller.require_admin()?;
    conn.transaction(async |conn| {
        let dataset = dataset_named(conn, dataset).await?;
        let row = version_named(conn, &dataset, version).await?;
        diesel::delete(dataset_versions::table.find(row.id)).execute(conn).await?;
        let before = json!({"dataset": dataset.name, "version": row.version});
        record(conn, caller.actor(), "dataset_version_deleted", "DatasetVersion", row.id, Some(before), None, None)
            .await?;
        notify_auth_change(conn, ALL).await?;
        Ok(())
    })
    .await
}

/// Attaches a bucket to a dataset (global admin); ALREADY_EXISTS if attached.
pub async fn add_bucket(
    conn: &mut AsyncPgConnection,
    caller: AdminCaller,
    dataset: &str,
    bucket: &str,
) -> Result<DatasetView> {
    caller.require_admin()?;
    conn.transaction(async |conn| {
        let dataset = dataset_named(conn, dataset).await?;
        let inserted: Option<i64> = diesel::insert_into(dataset_buckets::table)
            .values((dataset_buckets::dataset_id.eq(dataset.id), dataset_buckets::name.eq(bucket)))
            .on_conflict_do_nothing()
            .returning(dataset_buckets::id)
            .get_result(conn)
            .await
            .optional()?;
        let Some(id) = inserted else {
            return Err(Error::AlreadyExists(format!("Bucket {bucket} already belongs to {}", dataset.name)));
        };
        let after = json!({"dataset": dataset.name, "bucket": bucket});
        record(conn, caller.actor(), "dataset_bucket_added", "DatasetBucket", id, None, Some(after), None).await?;
        notify_auth_change(conn, ALL).await?;
        dataset_view(conn, dataset.id).await
    })
    .await
}

/// Detaches a bucket from a dataset and its versions (global admin).
pub async fn remove_bucket(
    conn: &mut AsyncPgConnection,
    caller: AdminCaller,
    dataset: &str,
    bucket: &str,
) -> Result<DatasetView> {
    caller.require_admin()?;
    conn.transaction(async |conn| {
        let dataset = dataset_named(conn, dataset).await?;
        let removed: Option<i64> = diesel::delete(
            dataset_buckets::table
                .filter(dataset_buckets::dataset_id.eq(dataset.id))
                .filter(dataset_buckets::name.eq(bucket)),
        )
        .returning(dataset_buckets::id)
        .get_result(conn)
        .await
        .optional()?;
        let Some(id) = removed else {
            return Err(Error::NotFound(format!("Bucket {bucket} does not belong to {}", dataset.name)));
        };
        let before = json!({"dataset": dataset.name, "bucket": bucket});
        record(conn, caller.actor(), "dataset_bucket_removed", "DatasetBucket", id, Some(before), None, None).await?;
        notify_auth_change(conn, ALL).await?;
        dataset_view(conn, dataset.id).await
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_clamp_and_round_trip() {
        let first = PageRequest::parse(0, "").unwrap();
        assert_eq!(first, PageRequest { offset: 0, size: 50 });
        assert_eq!(PageRequest::parse(1000, "").unwrap().size, 200);
        assert!(PageRequest::parse(-1, "").is_err());
        assert!(PageRequest::parse(10, "garbage").is_err());
        let page = PageRequest::parse(2, "").unwrap();
        let (rows, next) = page.finish(vec![1, 2, 3]);
        assert_eq!(rows, vec![1, 2]);
        let second = PageRequest::parse(2, &next).unwrap();
        assert_eq!(second.offset, 2);
        let (rows, next) = second.slice(vec![1, 2, 3]);
        assert_eq!((rows, next), (vec![3], String::new()));
    }

    #[test]
    fn levels_decide_manager_and_dataset_admin() {
        let manager = CallerLevels { direct: None, effective: Some(Level::Manage) };
        assert!(manager.manages() && !manager.dataset_admin());
        let admin = CallerLevels { direct: Some(Level::Admin), effective: Some(Level::Admin) };
        assert!(admin.manages() && admin.dataset_admin());
        assert!(!CallerLevels { direct: Some(Level::Edit), effective: Some(Level::Edit) }.manages());
    }
}
