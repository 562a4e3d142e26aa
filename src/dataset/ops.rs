//! Dataset operations, transport-free: loading a principal's permission
//! snapshot, the `check-access` / `datasets` / `versions` questions, and the
//! writes that change permission inputs. Every write runs in one transaction
//! that also writes its audit record and sends the cache-eviction NOTIFY
//! (delivered on commit only, so a rolled-back change evicts nothing).

use chrono::{DateTime, Utc};
use diesel_async::{AsyncConnection as _, AsyncPgConnection};
use serde_json::json;

use super::audit::{self, Actor};
use super::permissions::{self, AccessQuery, Decision, Inputs, Level, Subject};
use super::store::{self, DatasetRow, NewDataset, NewGrant, NewTosDocument, VersionRow};
use crate::auth::PrincipalKind;
use crate::auth::ops::SERVICE_ACCOUNT_DOMAIN;
use crate::auth::store::{self as auth_store, notify_auth_change};
use crate::error::{Error, Result};

/// The profile part of a principal's `user/cache` document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Profile {
    /// User or service-account id (one id space).
    pub id: i64,
    /// User or service account.
    pub kind: PrincipalKind,
    /// `public_name` for users, the account name for service accounts.
    pub name: String,
    /// E-mail (service accounts: the synthetic one).
    pub email: String,
    /// Global admin.
    pub admin: bool,
    /// Principal investigator.
    pub pi: String,
    /// Avatar URL.
    pub picture_url: String,
    /// Affiliation names, sorted.
    pub affiliations: Vec<String>,
    /// Group names by group id.
    pub groups: Vec<String>,
    /// Names of groups the user administers, by group id.
    pub groups_admin: Vec<String>,
}

/// Everything the compat routes need about one principal; what the permission cache holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    /// Who.
    pub profile: Profile,
    /// §2.4 inputs.
    pub inputs: Inputs,
}

impl Snapshot {
    /// Names of datasets where the principal is dataset admin, by dataset id.
    pub fn datasets_admin(&self) -> Vec<String> {
        self.inputs.datasets_admin().into_iter().filter_map(|id| self.dataset_name(id)).collect()
    }

    /// The name of a dataset among the inputs.
    pub fn dataset_name(&self, id: i64) -> Option<String> {
        self.inputs.datasets.get(&id).map(|d| d.name.clone())
    }
}

/// Loads a principal's snapshot from the database (the cache's miss path).
pub async fn load_snapshot(conn: &mut AsyncPgConnection, kind: PrincipalKind, id: i64) -> Result<Snapshot> {
    let gone = || Error::Unauthenticated("Invalid or expired token.".into());
    match kind {
        PrincipalKind::User => {
            let store::LoadedUser { user, affiliations, memberships, inputs } =
                store::load_user(conn, id).await?.ok_or_else(gone)?;
            if !user.is_active {
                return Err(Error::Unauthenticated("User account is disabled.".into()));
            }
            let name = public_name(&user.display_name, &user.name, &user.email);
            let admin = matches!(inputs.subject, Subject::User { admin: true, .. });
            Ok(Snapshot {
                profile: Profile {
                    id: user.id,
                    kind,
                    name,
                    email: user.email,
                    admin,
                    pi: user.pi,
                    picture_url: user.picture_url,
                    affiliations,
                    groups: memberships.iter().map(|m| m.name.clone()).collect(),
                    groups_admin: memberships.iter().filter(|m| m.is_admin).map(|m| m.name.clone()).collect(),
                },
                inputs,
            })
        }
        PrincipalKind::ServiceAccount => {
            let (name, is_active, inputs) = store::load_service_account(conn, id).await?.ok_or_else(gone)?;
            if !is_active {
                return Err(Error::Unauthenticated("Service account is disabled.".into()));
            }
            Ok(Snapshot {
                profile: Profile {
                    id,
                    kind,
                    email: format!("{name}@{SERVICE_ACCOUNT_DOMAIN}"),
                    name,
                    admin: false,
                    pi: String::new(),
                    picture_url: String::new(),
                    affiliations: Vec::new(),
                    groups: Vec::new(),
                    groups_admin: Vec::new(),
                },
                inputs,
            })
        }
    }
}

/// `display_name`, else `name`, else the e-mail's local part (spec §2.2).
pub fn public_name(display_name: &str, name: &str, email: &str) -> String {
    [display_name, name]
        .into_iter()
        .find(|s| !s.is_empty())
        .unwrap_or_else(|| email.split('@').next().unwrap_or_default())
        .to_owned()
}

/// A validated `check-access` question.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessRequest {
    /// Dataset name (non-empty).
    pub dataset: String,
    /// Version name, if asked.
    pub version: Option<String>,
    /// The level asked for.
    pub level: Level,
    /// The service, if any.
    pub service: Option<String>,
}

/// Answers `check-access` from the snapshot alone when it can: no version
/// asked and the dataset among the snapshot's (granted or public). These are
/// the facts `user/cache` serves, kept coherent by the same evictions, so the
/// hot path needs no database round trip. `None`: ask [`check_access`].
pub fn check_access_cached(snapshot: &Snapshot, request: &AccessRequest, now: DateTime<Utc>) -> Option<Decision> {
    if request.version.is_some() {
        return None;
    }
    let dataset = snapshot.inputs.datasets.values().find(|d| d.name == request.dataset)?;
    let query = AccessQuery {
        dataset,
        version: None,
        version_tos: &[],
        level: request.level,
        service: request.service.as_deref(),
    };
    Some(permissions::check_access(&snapshot.inputs, &query, now))
}

/// Answers `check-access` for a principal's snapshot (NOT_FOUND for unknown datasets).
pub async fn check_access(
    conn: &mut AsyncPgConnection,
    snapshot: &Snapshot,
    request: &AccessRequest,
    now: DateTime<Utc>,
) -> Result<Decision> {
    if let Some(decision) = check_access_cached(snapshot, request, now) {
        return Ok(decision);
    }
    let row = store::dataset_by_name(conn, &request.dataset)
        .await?
        .ok_or_else(|| Error::NotFound("Dataset not found".into()))?;
    let dataset = store::dataset_ref(conn, &row).await?;
    let (version, version_tos) = match &request.version {
        None => (None, Vec::new()),
        Some(name) => match store::version_by_name(conn, row.id, name).await? {
            Some(v) => (Some(Some(v.id)), store::version_tos(conn, v.id, now).await?),
            None => (Some(None), Vec::new()),
        },
    };
    let query = AccessQuery {
        dataset: &dataset,
        version,
        version_tos: &version_tos,
        level: request.level,
        service: request.service.as_deref(),
    };
    Ok(permissions::check_access(&snapshot.inputs, &query, now))
}

/// The datasets a principal can see, by id (`None` = anonymous).
pub async fn accessible_datasets(conn: &mut AsyncPgConnection, snapshot: &Snapshot) -> Result<Vec<DatasetRow>> {
    if snapshot.profile.admin {
        return Ok(store::datasets_ordered(conn, None).await?);
    }
    let ids: Vec<i64> = snapshot.inputs.datasets.keys().copied().collect();
    Ok(store::datasets_ordered(conn, Some(&ids)).await?)
}

/// A dataset's versions with buckets, if `snapshot` (or anyone, for public
/// datasets) may see the dataset; NOT_FOUND otherwise, as for unknown names.
pub async fn dataset_versions(
    conn: &mut AsyncPgConnection,
    snapshot: Option<&Snapshot>,
    dataset: &str,
) -> Result<Vec<(VersionRow, Vec<String>)>> {
    let not_found = || Error::NotFound("Dataset not found".into());
    let row = store::dataset_by_name(conn, dataset).await?.ok_or_else(not_found)?;
    let visible = row.is_public()
        || snapshot.is_some_and(|s| s.profile.admin || s.inputs.grants.iter().any(|g| g.dataset_id == row.id));
    if !visible {
        return Err(not_found());
    }
    Ok(store::versions_with_buckets(conn, row.id).await?)
}

/// The eviction payload for everyone (`all`).
const ALL: &str = "all";

/// Creates a dataset (`closed` unless `public`).
pub async fn create_dataset(
    conn: &mut AsyncPgConnection,
    actor: Actor,
    name: &str,
    description: &str,
    public: bool,
) -> Result<DatasetRow> {
    validate_slug("dataset name", name)?;
    conn.transaction(async |conn| {
        let access_mode = if public { "public" } else { "closed" };
        let row = store::insert_dataset(conn, NewDataset { name, description, access_mode }).await?;
        audit::record(conn, actor, "dataset_created", "Dataset", row.id, None, Some(json!({"name": name}))).await?;
        if public {
            // A public dataset is an implicit view for every user.
            notify_auth_change(conn, ALL).await?;
        }
        Ok(row)
    })
    .await
}

/// Creates a version of a dataset with its buckets (created if missing).
pub async fn create_version(
    conn: &mut AsyncPgConnection,
    actor: Actor,
    dataset_id: i64,
    version: &str,
    buckets: &[&str],
    is_public: bool,
) -> Result<VersionRow> {
    if version.is_empty() || version.len() > 255 {
        return Err(Error::InvalidArgument("version must be 1 to 255 characters".into()));
    }
    conn.transaction(async |conn| {
        let row = store::insert_version(conn, dataset_id, version, "", is_public).await?;
        for bucket in buckets {
            let bucket_id = store::ensure_bucket(conn, dataset_id, bucket).await?;
            store::link_version_bucket(conn, dataset_id, row.id, bucket_id).await?;
        }
        let after = json!({"version": version, "buckets": buckets, "is_public": is_public});
        audit::record(conn, actor, "dataset_version_created", "DatasetVersion", row.id, None, Some(after)).await?;
        notify_auth_change(conn, ALL).await?;
        Ok(row)
    })
    .await
}

/// Creates a group; returns its id.
pub async fn create_group(conn: &mut AsyncPgConnection, actor: Actor, name: &str) -> Result<i64> {
    if name.is_empty() || name.len() > 255 || name.contains('/') {
        return Err(Error::InvalidArgument("group name must be 1 to 255 characters without '/'".into()));
    }
    conn.transaction(async |conn| {
        let id = store::insert_group(conn, name).await?;
        audit::record(conn, actor, "group_created", "Group", id, None, Some(json!({"name": name}))).await?;
        Ok(id)
    })
    .await
}

/// Adds a user to a group (or changes their group-admin flag); a no-op writes nothing.
pub async fn add_member(
    conn: &mut AsyncPgConnection,
    actor: Actor,
    user_id: i64,
    group: &str,
    is_admin: bool,
) -> Result<bool> {
    conn.transaction(async |conn| {
        let user =
            auth_store::user_by_id(conn, user_id).await?.ok_or_else(|| Error::NotFound("User not found".into()))?;
        let group_id =
            store::group_id_by_name(conn, group).await?.ok_or_else(|| Error::NotFound("Group not found".into()))?;
        if !store::upsert_membership(conn, user_id, group_id, is_admin).await? {
            return Ok(false);
        }
        let state = json!({"user": user.email, "group": group, "is_admin": is_admin});
        audit::record(conn, actor, "member_added", "UserGroup", format!("{user_id}:{group_id}"), None, Some(state))
            .await?;
        notify_auth_change(conn, &format!("user:{user_id}")).await?;
        Ok(true)
    })
    .await
}

/// Who a grant is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Grantee {
    /// A user (id).
    User(i64),
    /// A group (id).
    Group(i64),
    /// A service account (id).
    ServiceAccount(i64),
}

/// A grant to create.
#[derive(Debug, Clone)]
pub struct GrantSpec {
    /// The dataset.
    pub dataset_id: i64,
    /// A version, or all versions.
    pub version_id: Option<i64>,
    /// The level.
    pub level: Level,
    /// The grantee.
    pub grantee: Grantee,
    /// `manual`, `self_service` or `import`.
    pub source: &'static str,
}

/// Creates a grant; `None` when the identical grant exists already (no audit row then).
pub async fn grant(conn: &mut AsyncPgConnection, actor: Actor, spec: GrantSpec) -> Result<Option<i64>> {
    conn.transaction(async |conn| {
        let dataset = store::dataset_by_id(conn, spec.dataset_id)
            .await?
            .ok_or_else(|| Error::NotFound("Dataset not found".into()))?;
        let (user_id, group_id, service_account_id) = match spec.grantee {
            Grantee::User(id) => (Some(id), None, None),
            Grantee::Group(id) => (None, Some(id), None),
            Grantee::ServiceAccount(id) => (None, None, Some(id)),
        };
        let granted_by_user_id = match actor {
            Actor::User(id) => Some(id),
            _ => None,
        };
        let new = NewGrant {
            dataset_id: spec.dataset_id,
            dataset_version_id: spec.version_id,
            level: spec.level.as_str(),
            user_id,
            group_id,
            service_account_id,
            team_group_id: None,
            source: spec.source,
            granted_by_user_id,
        };
        let Some(id) = store::insert_grant(conn, new).await? else {
            return Ok(None);
        };
        let version = match spec.version_id {
            Some(v) => store::versions_with_buckets(conn, spec.dataset_id)
                .await?
                .into_iter()
                .find(|(row, _)| row.id == v)
                .map(|(row, _)| row.version),
            None => None,
        };
        let (action, target_type, state, payload) = match spec.grantee {
            Grantee::User(uid) => {
                let email = auth_store::user_by_id(conn, uid).await?.map(|u| u.email);
                let state = json!({"user": email, "dataset": dataset.name, "permission": spec.level.as_str(),
                    "version": version, "source": spec.source});
                ("grant_created", "Grant", state, format!("user:{uid}"))
            }
            Grantee::Group(_) => {
                let state = json!({"group_id": group_id, "dataset": dataset.name, "permission": spec.level.as_str()});
                ("group_permission_created", "GroupDatasetPermission", state, ALL.to_owned())
            }
            Grantee::ServiceAccount(sid) => {
                let name = auth_store::service_account_by_id(conn, sid).await?.map(|s| s.name);
                let state = json!({"service_account": name, "dataset": dataset.name,
                    "permission": spec.level.as_str(), "version": version});
                ("sa_grant_created", "ServiceAccountGrant", state, format!("sa:{sid}"))
            }
        };
        audit::record(conn, actor, action, target_type, id, None, Some(state)).await?;
        notify_auth_change(conn, &payload).await?;
        Ok(Some(id))
    })
    .await
}

/// A terms-of-service document to create.
#[derive(Debug, Clone)]
pub struct TosSpec<'a> {
    /// Its name (`tos_name`).
    pub name: &'a str,
    /// Markdown text.
    pub text: &'a str,
    /// The dataset it guards, if any.
    pub dataset_id: Option<i64>,
    /// A version it is scoped to, if any.
    pub version_id: Option<i64>,
    /// A service name (created if missing): required only through that service.
    pub service: Option<&'a str>,
    /// Active from (service TOS); `None` = now.
    pub effective_at: Option<DateTime<Utc>>,
    /// Retired at, if any.
    pub retired_at: Option<DateTime<Utc>>,
}

/// Creates a TOS document; one with a dataset and no service or version
/// becomes the dataset's general TOS (DSG's admin save hook). Returns its id.
pub async fn create_tos_document(conn: &mut AsyncPgConnection, actor: Actor, spec: TosSpec<'_>) -> Result<i64> {
    if spec.name.is_empty() || spec.name.len() > 255 {
        return Err(Error::InvalidArgument("TOS name must be 1 to 255 characters".into()));
    }
    let invite_token = invite_token()?;
    conn.transaction(async |conn| {
        let service_id = match spec.service {
            Some(name) => Some(store::ensure_service(conn, name).await?.0),
            None => None,
        };
        let id = store::insert_tos_document(
            conn,
            NewTosDocument {
                name: spec.name,
                text: spec.text,
                dataset_id: spec.dataset_id,
                dataset_version_id: spec.version_id,
                service_id,
                invite_token: &invite_token,
                effective_at: spec.effective_at.unwrap_or_else(Utc::now),
                retired_at: spec.retired_at,
            },
        )
        .await?;
        if let (Some(dataset_id), None, None) = (spec.dataset_id, service_id, spec.version_id) {
            store::set_dataset_tos(conn, dataset_id, Some(id)).await?;
        }
        let dataset = match spec.dataset_id {
            Some(d) => store::dataset_by_id(conn, d).await?.map(|d| d.name),
            None => None,
        };
        let state = json!({"name": spec.name, "dataset": dataset, "service": spec.service});
        audit::record(conn, actor, "tos_document_created", "TOSDocument", id, None, Some(state)).await?;
        notify_auth_change(conn, ALL).await?;
        Ok(id)
    })
    .await
}

/// Records that a user accepted a TOS document; `false` if already accepted.
pub async fn accept_tos(conn: &mut AsyncPgConnection, user_id: i64, tos_id: i64) -> Result<bool> {
    conn.transaction(async |conn| {
        let (dataset_id, sha) =
            store::tos_document(conn, tos_id).await?.ok_or_else(|| Error::NotFound("TOS document not found".into()))?;
        if !store::insert_acceptance(conn, user_id, tos_id, &sha).await? {
            return Ok(false);
        }
        let email = auth_store::user_by_id(conn, user_id).await?.map(|u| u.email);
        let dataset = match dataset_id {
            Some(d) => store::dataset_by_id(conn, d).await?.map(|d| d.name),
            None => None,
        };
        let state = json!({"user": email, "tos_document": tos_id, "dataset": dataset});
        audit::record(
            conn,
            Actor::User(user_id),
            "tos_accepted",
            "TOSAcceptance",
            format!("{user_id}:{tos_id}"),
            None,
            Some(state),
        )
        .await?;
        notify_auth_change(conn, &format!("user:{user_id}")).await?;
        Ok(true)
    })
    .await
}

/// Sets a user's display name, PI and `read_only` flag.
pub async fn update_user_profile(
    conn: &mut AsyncPgConnection,
    actor: Actor,
    user_id: i64,
    display_name: &str,
    pi: &str,
    read_only: bool,
) -> Result<()> {
    conn.transaction(async |conn| {
        if store::update_user_profile(conn, user_id, display_name, pi, read_only).await? == 0 {
            return Err(Error::NotFound("User not found".into()));
        }
        let after = json!({"display_name": display_name, "pi": pi, "read_only": read_only});
        audit::record(conn, actor, "user_updated", "User", user_id, None, Some(after)).await?;
        notify_auth_change(conn, &format!("user:{user_id}")).await?;
        Ok(())
    })
    .await
}

/// Creates a service account and mints its first token; returns (id, plain token).
pub async fn create_service_account(
    conn: &mut AsyncPgConnection,
    actor: Actor,
    name: &str,
    description: &str,
) -> Result<(i64, String)> {
    validate_slug("service account name", name)?;
    conn.transaction(async |conn| {
        let id = store::insert_service_account(conn, name, description).await?;
        let after = json!({"name": name, "description": description});
        audit::record(conn, actor, "service_account_created", "ServiceAccount", id, None, Some(after)).await?;
        let (plain, hash) = crate::auth::token::generate();
        let created_by_user_id = match actor {
            Actor::User(id) => Some(id),
            _ => None,
        };
        let token_id = auth_store::insert_token(
            conn,
            auth_store::NewToken {
                token_hash: &hash.0,
                kind: "service_account",
                user_id: None,
                service_account_id: Some(id),
                description,
                expires_at: None,
                created_by_user_id,
            },
        )
        .await?;
        let after = json!({"service_account": name, "description": description});
        audit::record(conn, actor, "sa_token_created", "ServiceAccountToken", token_id, None, Some(after)).await?;
        Ok((id, plain))
    })
    .await
}

fn validate_slug(what: &str, value: &str) -> Result<()> {
    let ok = !value.is_empty()
        && value.len() <= 255
        && value.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if ok { Ok(()) } else { Err(Error::InvalidArgument(format!("{what} must match ^[A-Za-z0-9_-]{{1,255}}$"))) }
}

/// 32 random bytes, base64url without padding (43 characters).
fn invite_token() -> Result<String> {
    use base64::Engine as _;
    use ring::rand::SecureRandom as _;
    let mut bytes = [0u8; 32];
    ring::rand::SystemRandom::new().fill(&mut bytes).map_err(|_| Error::internal(anyhow::anyhow!("no randomness")))?;
    Ok(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn public_name_falls_back_in_order() {
        assert_eq!(public_name("Frozen", "Frozen User", "f@example.org"), "Frozen");
        assert_eq!(public_name("", "Frozen User", "f@example.org"), "Frozen User");
        assert_eq!(public_name("", "", "frozen@example.org"), "frozen");
    }

    #[test]
    fn slugs_and_invite_tokens() {
        assert!(validate_slug("x", "fish2_v-1").is_ok());
        for bad in ["", "a b", "a/b", &"x".repeat(256)] {
            assert!(validate_slug("x", bad).is_err(), "{bad}");
        }
        let t = invite_token().unwrap();
        assert_eq!(t.len(), 43);
        assert_ne!(t, invite_token().unwrap());
    }
}
