//! Rows and queries of the dataset domain: datasets, versions, buckets,
//! grants, groups as grantees, services, terms of service and acceptances,
//! and the loaders that gather one principal's permission inputs (§2.4).

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use super::permissions::{DatasetRef, GrantInput, Inputs, Level, ServiceTos, Subject, TosRef, Via};
use crate::db::schema::{
    affiliations, dataset_buckets, dataset_version_buckets, dataset_versions, datasets, grants, group_memberships,
    groups, service_accounts, services, tos_acceptances, tos_documents, users,
};

/// A row of `datasets`.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = datasets)]
pub struct DatasetRow {
    pub id: i64,
    pub name: String,
    pub description: String,
    pub tos_document_id: Option<i64>,
    pub access_mode: String,
}

impl DatasetRow {
    /// `access_mode = 'public'`.
    pub fn is_public(&self) -> bool {
        self.access_mode == "public"
    }
}

/// A new dataset.
#[derive(Debug, Insertable)]
#[diesel(table_name = datasets)]
pub struct NewDataset<'a> {
    pub name: &'a str,
    pub description: &'a str,
    pub access_mode: &'a str,
}

/// A row of `dataset_versions`.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = dataset_versions)]
pub struct VersionRow {
    pub id: i64,
    pub dataset_id: i64,
    pub version: String,
    pub prefix: String,
    pub is_public: bool,
}

/// A new grant; exactly one grantee is set (the database checks it).
#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = grants)]
pub struct NewGrant<'a> {
    pub dataset_id: i64,
    pub dataset_version_id: Option<i64>,
    pub level: &'a str,
    pub user_id: Option<i64>,
    pub group_id: Option<i64>,
    pub service_account_id: Option<i64>,
    pub team_group_id: Option<i64>,
    pub source: &'a str,
    pub granted_by_user_id: Option<i64>,
}

/// A new terms-of-service document (`text_sha256` is set by a trigger).
#[derive(Debug, Insertable)]
#[diesel(table_name = tos_documents)]
pub struct NewTosDocument<'a> {
    pub name: &'a str,
    pub text: &'a str,
    pub dataset_id: Option<i64>,
    pub dataset_version_id: Option<i64>,
    pub service_id: Option<i64>,
    pub invite_token: &'a str,
    pub effective_at: DateTime<Utc>,
    pub retired_at: Option<DateTime<Utc>>,
}

/// The profile fields a user's `user/cache` document shows.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = users)]
pub struct UserProfileRow {
    pub id: i64,
    pub email: String,
    pub name: String,
    pub display_name: String,
    pub pi: String,
    pub picture_url: String,
    pub is_active: bool,
    pub read_only: bool,
}

/// One group membership with the group's name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Membership {
    pub group_id: i64,
    pub name: String,
    pub is_admin: bool,
}

/// (dataset, service name, TOS id, TOS name, effective_at, retired_at).
type ServiceTosRow = (Option<i64>, String, i64, String, DateTime<Utc>, Option<DateTime<Utc>>);

/// Everything loaded about a user for their permission snapshot.
#[derive(Debug, Clone)]
pub struct LoadedUser {
    /// Profile fields.
    pub user: UserProfileRow,
    /// Affiliation names, sorted.
    pub affiliations: Vec<String>,
    /// Memberships by group id.
    pub memberships: Vec<Membership>,
    /// §2.4 inputs.
    pub inputs: Inputs,
}

/// The dataset with this name.
pub async fn dataset_by_name(conn: &mut AsyncPgConnection, name: &str) -> QueryResult<Option<DatasetRow>> {
    datasets::table.filter(datasets::name.eq(name)).select(DatasetRow::as_select()).first(conn).await.optional()
}

/// The dataset with this id.
pub async fn dataset_by_id(conn: &mut AsyncPgConnection, id: i64) -> QueryResult<Option<DatasetRow>> {
    datasets::table.find(id).select(DatasetRow::as_select()).first(conn).await.optional()
}

/// Datasets by id ascending: all of them, or those in `ids`.
pub async fn datasets_ordered(conn: &mut AsyncPgConnection, ids: Option<&[i64]>) -> QueryResult<Vec<DatasetRow>> {
    let mut query = datasets::table.select(DatasetRow::as_select()).order(datasets::id).into_boxed();
    if let Some(ids) = ids {
        query = query.filter(datasets::id.eq_any(ids.to_vec()));
    }
    query.load(conn).await
}

/// Inserts a dataset.
pub async fn insert_dataset(conn: &mut AsyncPgConnection, new: NewDataset<'_>) -> QueryResult<DatasetRow> {
    diesel::insert_into(datasets::table).values(new).returning(DatasetRow::as_returning()).get_result(conn).await
}

/// Points the dataset's general TOS at `tos_id` (or clears it).
pub async fn set_dataset_tos(conn: &mut AsyncPgConnection, dataset_id: i64, tos_id: Option<i64>) -> QueryResult<usize> {
    diesel::update(datasets::table.find(dataset_id)).set(datasets::tos_document_id.eq(tos_id)).execute(conn).await
}

/// The version `version` of a dataset.
pub async fn version_by_name(
    conn: &mut AsyncPgConnection,
    dataset_id: i64,
    version: &str,
) -> QueryResult<Option<VersionRow>> {
    dataset_versions::table
        .filter(dataset_versions::dataset_id.eq(dataset_id))
        .filter(dataset_versions::version.eq(version))
        .select(VersionRow::as_select())
        .first(conn)
        .await
        .optional()
}

/// Inserts a version.
pub async fn insert_version(
    conn: &mut AsyncPgConnection,
    dataset_id: i64,
    version: &str,
    prefix: &str,
    is_public: bool,
) -> QueryResult<VersionRow> {
    diesel::insert_into(dataset_versions::table)
        .values((
            dataset_versions::dataset_id.eq(dataset_id),
            dataset_versions::version.eq(version),
            dataset_versions::prefix.eq(prefix),
            dataset_versions::is_public.eq(is_public),
        ))
        .returning(VersionRow::as_returning())
        .get_result(conn)
        .await
}

/// The bucket `name` of a dataset, created if missing; returns its id.
pub async fn ensure_bucket(conn: &mut AsyncPgConnection, dataset_id: i64, name: &str) -> QueryResult<i64> {
    diesel::insert_into(dataset_buckets::table)
        .values((dataset_buckets::dataset_id.eq(dataset_id), dataset_buckets::name.eq(name)))
        .on_conflict_do_nothing()
        .execute(conn)
        .await?;
    dataset_buckets::table
        .filter(dataset_buckets::dataset_id.eq(dataset_id))
        .filter(dataset_buckets::name.eq(name))
        .select(dataset_buckets::id)
        .first(conn)
        .await
}

/// Links a version to a bucket of the same dataset (the foreign keys check it).
pub async fn link_version_bucket(
    conn: &mut AsyncPgConnection,
    dataset_id: i64,
    version_id: i64,
    bucket_id: i64,
) -> QueryResult<usize> {
    diesel::insert_into(dataset_version_buckets::table)
        .values((
            dataset_version_buckets::dataset_id.eq(dataset_id),
            dataset_version_buckets::version_id.eq(version_id),
            dataset_version_buckets::bucket_id.eq(bucket_id),
        ))
        .on_conflict_do_nothing()
        .execute(conn)
        .await
}

/// A dataset's versions by id, each with its bucket names ascending.
pub async fn versions_with_buckets(
    conn: &mut AsyncPgConnection,
    dataset_id: i64,
) -> QueryResult<Vec<(VersionRow, Vec<String>)>> {
    let versions: Vec<VersionRow> = dataset_versions::table
        .filter(dataset_versions::dataset_id.eq(dataset_id))
        .select(VersionRow::as_select())
        .order(dataset_versions::id)
        .load(conn)
        .await?;
    let links: Vec<(i64, String)> = dataset_version_buckets::table
        .inner_join(dataset_buckets::table.on(dataset_buckets::id.eq(dataset_version_buckets::bucket_id)))
        .filter(dataset_version_buckets::dataset_id.eq(dataset_id))
        .select((dataset_version_buckets::version_id, dataset_buckets::name))
        .order(dataset_buckets::name)
        .load(conn)
        .await?;
    Ok(versions
        .into_iter()
        .map(|v| {
            let buckets = links.iter().filter(|(id, _)| *id == v.id).map(|(_, name)| name.clone()).collect();
            (v, buckets)
        })
        .collect())
}

/// Inserts a grant; `None` when the identical grant exists already.
pub async fn insert_grant(conn: &mut AsyncPgConnection, grant: NewGrant<'_>) -> QueryResult<Option<i64>> {
    diesel::insert_into(grants::table)
        .values(grant)
        .on_conflict_do_nothing()
        .returning(grants::id)
        .get_result(conn)
        .await
        .optional()
}

/// The group with this name; returns its id.
pub async fn group_id_by_name(conn: &mut AsyncPgConnection, name: &str) -> QueryResult<Option<i64>> {
    groups::table.filter(groups::name.eq(name)).select(groups::id).first(conn).await.optional()
}

/// Inserts a group; returns its id.
pub async fn insert_group(conn: &mut AsyncPgConnection, name: &str) -> QueryResult<i64> {
    diesel::insert_into(groups::table).values(groups::name.eq(name)).returning(groups::id).get_result(conn).await
}

/// Adds a member (or updates the group-admin flag); `true` if anything changed.
pub async fn upsert_membership(
    conn: &mut AsyncPgConnection,
    user_id: i64,
    group_id: i64,
    is_admin: bool,
) -> QueryResult<bool> {
    let current: Option<bool> = group_memberships::table
        .find((user_id, group_id))
        .select(group_memberships::is_admin)
        .first(conn)
        .await
        .optional()?;
    match current {
        Some(flag) if flag == is_admin => Ok(false),
        Some(_) => diesel::update(group_memberships::table.find((user_id, group_id)))
            .set(group_memberships::is_admin.eq(is_admin))
            .execute(conn)
            .await
            .map(|n| n > 0),
        None => diesel::insert_into(group_memberships::table)
            .values((
                group_memberships::user_id.eq(user_id),
                group_memberships::group_id.eq(group_id),
                group_memberships::is_admin.eq(is_admin),
            ))
            .execute(conn)
            .await
            .map(|n| n > 0),
    }
}

/// The service with this name, created if missing; returns its id.
pub async fn ensure_service(conn: &mut AsyncPgConnection, name: &str) -> QueryResult<(i64, bool)> {
    let created: Option<i64> = diesel::insert_into(services::table)
        .values(services::name.eq(name))
        .on_conflict_do_nothing()
        .returning(services::id)
        .get_result(conn)
        .await
        .optional()?;
    match created {
        Some(id) => Ok((id, true)),
        None => {
            services::table.filter(services::name.eq(name)).select(services::id).first(conn).await.map(|id| (id, false))
        }
    }
}

/// Inserts a TOS document; returns its id.
pub async fn insert_tos_document(conn: &mut AsyncPgConnection, new: NewTosDocument<'_>) -> QueryResult<i64> {
    diesel::insert_into(tos_documents::table).values(new).returning(tos_documents::id).get_result(conn).await
}

/// TOS documents scoped to a version and to no service that are in force at
/// `now`, by id: a retired one can no longer be accepted (spec §3.5), so it
/// no longer holds access back either.
pub async fn version_tos(
    conn: &mut AsyncPgConnection,
    version_id: i64,
    now: DateTime<Utc>,
) -> QueryResult<Vec<TosRef>> {
    let rows: Vec<(i64, String)> = tos_documents::table
        .filter(tos_documents::dataset_version_id.eq(version_id))
        .filter(tos_documents::service_id.is_null())
        .filter(tos_documents::effective_at.le(now))
        .filter(tos_documents::retired_at.is_null().or(tos_documents::retired_at.gt(now)))
        .select((tos_documents::id, tos_documents::name))
        .order(tos_documents::id)
        .load(conn)
        .await?;
    Ok(rows.into_iter().map(|(id, name)| TosRef { id, name }).collect())
}

/// The document's (dataset, text hash), if it exists.
pub async fn tos_document(conn: &mut AsyncPgConnection, id: i64) -> QueryResult<Option<(Option<i64>, Vec<u8>)>> {
    tos_documents::table
        .find(id)
        .select((tos_documents::dataset_id, tos_documents::text_sha256))
        .first(conn)
        .await
        .optional()
}

/// Records an acceptance; `false` if the user had accepted already.
pub async fn insert_acceptance(
    conn: &mut AsyncPgConnection,
    user_id: i64,
    tos_id: i64,
    text_sha256: &[u8],
) -> QueryResult<bool> {
    let inserted = diesel::insert_into(tos_acceptances::table)
        .values((
            tos_acceptances::user_id.eq(user_id),
            tos_acceptances::tos_document_id.eq(tos_id),
            tos_acceptances::text_sha256.eq(text_sha256),
        ))
        .on_conflict_do_nothing()
        .execute(conn)
        .await?;
    Ok(inserted == 1)
}

/// Sets the profile fields a user's documents show.
pub async fn update_user_profile(
    conn: &mut AsyncPgConnection,
    user_id: i64,
    display_name: &str,
    pi: &str,
    read_only: bool,
) -> QueryResult<usize> {
    diesel::update(users::table.find(user_id))
        .set((users::display_name.eq(display_name), users::pi.eq(pi), users::read_only.eq(read_only)))
        .execute(conn)
        .await
}

/// Inserts a service account; returns its id.
pub async fn insert_service_account(conn: &mut AsyncPgConnection, name: &str, description: &str) -> QueryResult<i64> {
    diesel::insert_into(service_accounts::table)
        .values((service_accounts::name.eq(name), service_accounts::description.eq(description)))
        .returning(service_accounts::id)
        .get_result(conn)
        .await
}

/// A user's profile, affiliations, memberships and permission inputs.
pub async fn load_user(conn: &mut AsyncPgConnection, user_id: i64) -> QueryResult<Option<LoadedUser>> {
    let Some(user) = users::table.find(user_id).select(UserProfileRow::as_select()).first(conn).await.optional()?
    else {
        return Ok(None);
    };
    let affiliation_names: Vec<String> = affiliations::table
        .filter(affiliations::user_id.eq(user_id))
        .select(affiliations::name)
        .order(affiliations::name)
        .load(conn)
        .await?;
    let memberships: Vec<Membership> = group_memberships::table
        .inner_join(groups::table)
        .filter(group_memberships::user_id.eq(user_id))
        .select((groups::id, groups::name, group_memberships::is_admin))
        .order(groups::id)
        .load::<(i64, String, bool)>(conn)
        .await?
        .into_iter()
        .map(|(group_id, name, is_admin)| Membership { group_id, name, is_admin })
        .collect();
    let group_ids: Vec<i64> = memberships.iter().map(|m| m.group_id).collect();
    let rows: Vec<(i64, Option<i64>, String, Option<i64>)> = grants::table
        .filter(grants::user_id.eq(user_id).or(grants::group_id.eq_any(&group_ids)))
        .select((grants::dataset_id, grants::dataset_version_id, grants::level, grants::user_id))
        .load(conn)
        .await?;
    let grant_inputs = rows
        .into_iter()
        .filter_map(|(dataset_id, version_id, level, user)| {
            let via = if user.is_some() { Via::Direct } else { Via::Group };
            Some(GrantInput { dataset_id, version_id, level: Level::parse(&level)?, via })
        })
        .collect::<Vec<_>>();
    let accepted_tos: BTreeSet<i64> = tos_acceptances::table
        .filter(tos_acceptances::user_id.eq(user_id))
        .select(tos_acceptances::tos_document_id)
        .load::<i64>(conn)
        .await?
        .into_iter()
        .collect();
    let admin = memberships.iter().any(|m| m.name == crate::auth::Role::Admin.as_str());
    let subject = Subject::User { admin, read_only: user.read_only };
    let inputs = load_inputs(conn, subject, grant_inputs, accepted_tos, true).await?;
    Ok(Some(LoadedUser { user, affiliations: affiliation_names, memberships, inputs }))
}

/// A service account's (name, active) and permission inputs.
pub async fn load_service_account(
    conn: &mut AsyncPgConnection,
    id: i64,
) -> QueryResult<Option<(String, bool, Inputs)>> {
    let Some((name, is_active)) = service_accounts::table
        .find(id)
        .select((service_accounts::name, service_accounts::is_active))
        .first::<(String, bool)>(conn)
        .await
        .optional()?
    else {
        return Ok(None);
    };
    let rows: Vec<(i64, Option<i64>, String)> = grants::table
        .filter(grants::service_account_id.eq(id))
        .select((grants::dataset_id, grants::dataset_version_id, grants::level))
        .load(conn)
        .await?;
    let grant_inputs = rows
        .into_iter()
        .filter_map(|(dataset_id, version_id, level)| {
            Some(GrantInput { dataset_id, version_id, level: Level::parse(&level)?, via: Via::Direct })
        })
        .collect();
    let inputs = load_inputs(conn, Subject::ServiceAccount, grant_inputs, BTreeSet::new(), false).await?;
    Ok(Some((name, is_active, inputs)))
}

/// The datasets the grants name (plus every public one when `public`), their
/// general TOS, and their service TOS documents.
async fn load_inputs(
    conn: &mut AsyncPgConnection,
    subject: Subject,
    grants: Vec<GrantInput>,
    accepted_tos: BTreeSet<i64>,
    public: bool,
) -> QueryResult<Inputs> {
    let ids: Vec<i64> = grants.iter().map(|g| g.dataset_id).collect::<BTreeSet<_>>().into_iter().collect();
    let mut query = datasets::table.select(DatasetRow::as_select()).filter(datasets::id.eq_any(ids)).into_boxed();
    if public {
        query = query.or_filter(datasets::access_mode.eq("public"));
    }
    let rows: Vec<DatasetRow> = query.load(conn).await?;
    let dataset_ids: Vec<i64> = rows.iter().map(|d| d.id).collect();
    let general_ids: Vec<i64> = rows.iter().filter_map(|d| d.tos_document_id).collect();
    let general: BTreeMap<i64, String> = tos_documents::table
        .filter(tos_documents::id.eq_any(general_ids))
        .select((tos_documents::id, tos_documents::name))
        .load::<(i64, String)>(conn)
        .await?
        .into_iter()
        .collect();
    let service_rows: Vec<ServiceTosRow> = tos_documents::table
        .inner_join(services::table)
        .filter(tos_documents::dataset_id.eq_any(&dataset_ids))
        .select((
            tos_documents::dataset_id,
            services::name,
            tos_documents::id,
            tos_documents::name,
            tos_documents::effective_at,
            tos_documents::retired_at,
        ))
        .load(conn)
        .await?;
    let datasets = rows
        .into_iter()
        .map(|d| {
            let general_tos =
                d.tos_document_id.and_then(|id| general.get(&id).map(|name| TosRef { id, name: name.clone() }));
            let public = d.is_public();
            (d.id, DatasetRef { id: d.id, name: d.name, public, general_tos })
        })
        .collect();
    let service_tos = service_rows
        .into_iter()
        .filter_map(|(dataset_id, service, id, name, effective_at, retired_at)| {
            Some(ServiceTos { dataset_id: dataset_id?, service, tos: TosRef { id, name }, effective_at, retired_at })
        })
        .collect();
    Ok(Inputs { subject, grants, datasets, accepted_tos, service_tos })
}

/// The dataset as the permission rules see it (with its general TOS name).
pub async fn dataset_ref(conn: &mut AsyncPgConnection, row: &DatasetRow) -> QueryResult<DatasetRef> {
    let general_tos = match row.tos_document_id {
        None => None,
        Some(id) => tos_documents::table
            .find(id)
            .select(tos_documents::name)
            .first::<String>(conn)
            .await
            .optional()?
            .map(|name| TosRef { id, name }),
    };
    Ok(DatasetRef { id: row.id, name: row.name.clone(), public: row.is_public(), general_tos })
}

/// The fields the CLI importers read and fill on a user (spec §5.9).
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = users)]
pub struct ImportedUserRow {
    pub id: i64,
    pub email: String,
    pub name: String,
    pub notes: String,
    pub is_active: bool,
}

/// The user with this e-mail (compared case-insensitively), with the import fields.
pub async fn imported_user_by_email(conn: &mut AsyncPgConnection, email: &str) -> QueryResult<Option<ImportedUserRow>> {
    users::table
        .filter(diesel::dsl::sql::<diesel::sql_types::Text>("lower(users.email)").eq(email.to_lowercase()))
        .select(ImportedUserRow::as_select())
        .first(conn)
        .await
        .optional()
}

/// Inserts a user created by an import; returns its id.
pub async fn insert_imported_user(
    conn: &mut AsyncPgConnection,
    email: &str,
    name: &str,
    notes: &str,
    is_active: bool,
) -> QueryResult<i64> {
    diesel::insert_into(users::table)
        .values((users::email.eq(email), users::name.eq(name), users::notes.eq(notes), users::is_active.eq(is_active)))
        .returning(users::id)
        .get_result(conn)
        .await
}

/// Sets the import fields of a user.
pub async fn update_imported_user(
    conn: &mut AsyncPgConnection,
    id: i64,
    name: &str,
    notes: &str,
    is_active: bool,
) -> QueryResult<usize> {
    diesel::update(users::table.find(id))
        .set((users::name.eq(name), users::notes.eq(notes), users::is_active.eq(is_active)))
        .execute(conn)
        .await
}

/// Adds an affiliation to a user; `false` if they had it already.
pub async fn insert_affiliation(conn: &mut AsyncPgConnection, user_id: i64, name: &str) -> QueryResult<bool> {
    diesel::insert_into(affiliations::table)
        .values((affiliations::user_id.eq(user_id), affiliations::name.eq(name)))
        .on_conflict_do_nothing()
        .execute(conn)
        .await
        .map(|n| n == 1)
}

/// The dataset with this name, created (closed) if missing; `true` if created.
pub async fn ensure_dataset(conn: &mut AsyncPgConnection, name: &str) -> QueryResult<(DatasetRow, bool)> {
    let created = diesel::insert_into(datasets::table)
        .values(NewDataset { name, description: "", access_mode: "closed" })
        .on_conflict_do_nothing()
        .returning(DatasetRow::as_returning())
        .get_result(conn)
        .await
        .optional()?;
    match created {
        Some(row) => Ok((row, true)),
        None => datasets::table
            .filter(datasets::name.eq(name))
            .select(DatasetRow::as_select())
            .first(conn)
            .await
            .map(|row| (row, false)),
    }
}

/// The group with this name, created if missing; returns (id, created).
pub async fn ensure_group(conn: &mut AsyncPgConnection, name: &str) -> QueryResult<(i64, bool)> {
    let created: Option<i64> = diesel::insert_into(groups::table)
        .values(groups::name.eq(name))
        .on_conflict_do_nothing()
        .returning(groups::id)
        .get_result(conn)
        .await
        .optional()?;
    match created {
        Some(id) => Ok((id, true)),
        None => groups::table.filter(groups::name.eq(name)).select(groups::id).first(conn).await.map(|id| (id, false)),
    }
}
