//! Terms-of-service documents and their acceptance (spec §5.4, §3.5
//! `accept_tos`): global admins create, update, retire and re-link
//! documents; text is immutable once anyone accepted it; users accept by id
//! or invite token, closed datasets needing a grant first and public ones
//! recording a self-service `view` grant. One transaction per write with its
//! audit rows and NOTIFY.

use std::collections::BTreeMap;

use base64::Engine as _;
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncConnection as _, AsyncPgConnection, RunQueryDsl};
use serde_json::json;

use super::admin::{ALL, AdminCaller, PageRequest, caller_levels, dataset_named, denied, record, replayed};
use super::grants::insert_or_existing;
use super::permissions::Level;
use super::store;
use crate::db::schema::{dataset_versions, datasets, services, tos_acceptances, tos_documents, users};
use crate::error::{Error, Result};

/// A row of `tos_documents`.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = tos_documents)]
pub struct TosRow {
    pub id: i64,
    pub name: String,
    pub text: String,
    pub text_sha256: Vec<u8>,
    pub dataset_id: Option<i64>,
    pub dataset_version_id: Option<i64>,
    pub service_id: Option<i64>,
    pub invite_token: String,
    pub effective_at: DateTime<Utc>,
    pub retired_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

impl TosRow {
    /// Not yet effective, or retired.
    fn in_force(&self, now: DateTime<Utc>) -> bool {
        self.effective_at <= now && self.retired_at.is_none_or(|r| r > now)
    }
}

/// A document with its names resolved.
#[derive(Debug, Clone)]
pub struct TosView {
    /// The row.
    pub row: TosRow,
    /// Its dataset's name.
    pub dataset: Option<String>,
    /// Its version's name.
    pub version: Option<String>,
    /// Its service's name.
    pub service: Option<String>,
    /// Its dataset's general TOS.
    pub is_current: bool,
    /// Number of acceptances.
    pub acceptance_count: i64,
}

/// One acceptance (selected as e-mail, time, hash, user agent).
#[derive(Debug, Clone, Queryable)]
pub struct AcceptanceView {
    /// The user's e-mail.
    pub user_email: String,
    /// When.
    pub accepted_at: DateTime<Utc>,
    /// Hash of the accepted text.
    pub text_sha256: Vec<u8>,
    /// The user agent, if recorded.
    pub user_agent: Option<String>,
}

/// A validated new document.
#[derive(Debug, Clone)]
pub struct NewTosSpec {
    /// 1–255 characters.
    pub name: String,
    /// Markdown (non-empty).
    pub text: String,
    /// Dataset name.
    pub dataset: Option<String>,
    /// Version name (needs a dataset).
    pub version: Option<String>,
    /// Service name (needs a dataset).
    pub service: Option<String>,
    /// In force from (`None` = now).
    pub effective_at: Option<DateTime<Utc>>,
    /// Retired at.
    pub retired_at: Option<DateTime<Utc>>,
    /// Make it the dataset's general TOS (`None` = the default).
    pub make_current: Option<bool>,
    /// Retry key.
    pub request_id: Option<String>,
}

/// Changes to a document; `None` keeps the value.
#[derive(Debug, Clone, Default)]
pub struct TosChanges {
    /// New name.
    pub name: Option<String>,
    /// New text (only while unaccepted).
    pub text: Option<String>,
    /// New start of force.
    pub effective_at: Option<DateTime<Utc>>,
    /// New retirement time.
    pub retired_at: Option<DateTime<Utc>>,
}

/// A document by id or by invite token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TosKey {
    /// Its id.
    Id(i64),
    /// Its invite token.
    InviteToken(String),
}

/// 32 random bytes, base64url without padding (43 characters).
fn invite_token() -> Result<String> {
    use ring::rand::SecureRandom as _;
    let mut bytes = [0u8; 32];
    ring::rand::SystemRandom::new().fill(&mut bytes).map_err(|_| Error::internal(anyhow::anyhow!("no randomness")))?;
    Ok(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes))
}

async fn row(conn: &mut AsyncPgConnection, key: &TosKey) -> Result<TosRow> {
    let query = tos_documents::table.select(TosRow::as_select()).into_boxed();
    let query = match key {
        TosKey::Id(id) => query.filter(tos_documents::id.eq(*id)),
        TosKey::InviteToken(token) => query.filter(tos_documents::invite_token.eq(token.clone())),
    };
    query.first(conn).await.optional()?.ok_or_else(|| Error::NotFound("TOS document not found".into()))
}

async fn views(conn: &mut AsyncPgConnection, rows: Vec<TosRow>) -> QueryResult<Vec<TosView>> {
    let dataset_ids: Vec<i64> = rows.iter().filter_map(|r| r.dataset_id).collect();
    let version_ids: Vec<i64> = rows.iter().filter_map(|r| r.dataset_version_id).collect();
    let service_ids: Vec<i64> = rows.iter().filter_map(|r| r.service_id).collect();
    let doc_ids: Vec<i64> = rows.iter().map(|r| r.id).collect();
    let datasets: BTreeMap<i64, (String, Option<i64>)> = datasets::table
        .filter(datasets::id.eq_any(dataset_ids))
        .select((datasets::id, datasets::name, datasets::tos_document_id))
        .load::<(i64, String, Option<i64>)>(conn)
        .await?
        .into_iter()
        .map(|(id, name, tos)| (id, (name, tos)))
        .collect();
    let versions: BTreeMap<i64, String> = dataset_versions::table
        .filter(dataset_versions::id.eq_any(version_ids))
        .select((dataset_versions::id, dataset_versions::version))
        .load::<(i64, String)>(conn)
        .await?
        .into_iter()
        .collect();
    let service_names: BTreeMap<i64, String> = services::table
        .filter(services::id.eq_any(service_ids))
        .select((services::id, services::name))
        .load::<(i64, String)>(conn)
        .await?
        .into_iter()
        .collect();
    let counts: BTreeMap<i64, i64> = tos_acceptances::table
        .filter(tos_acceptances::tos_document_id.eq_any(doc_ids))
        .group_by(tos_acceptances::tos_document_id)
        .select((tos_acceptances::tos_document_id, diesel::dsl::count_star()))
        .load::<(i64, i64)>(conn)
        .await?
        .into_iter()
        .collect();
    Ok(rows
        .into_iter()
        .map(|row| {
            let dataset = row.dataset_id.and_then(|id| datasets.get(&id));
            TosView {
                dataset: dataset.map(|d| d.0.clone()),
                is_current: dataset.is_some_and(|d| d.1 == Some(row.id)),
                version: row.dataset_version_id.and_then(|id| versions.get(&id).cloned()),
                service: row.service_id.and_then(|id| service_names.get(&id).cloned()),
                acceptance_count: counts.get(&row.id).copied().unwrap_or(0),
                row,
            }
        })
        .collect())
}

async fn view(conn: &mut AsyncPgConnection, row: TosRow) -> QueryResult<TosView> {
    Ok(views(conn, vec![row]).await?.remove(0))
}

fn audit_state(view: &TosView) -> serde_json::Value {
    json!({"name": view.row.name, "dataset": view.dataset, "service": view.service})
}

/// Creates a document (global admin).
pub async fn create(conn: &mut AsyncPgConnection, caller: AdminCaller, spec: NewTosSpec) -> Result<TosView> {
    caller.require_admin()?;
    if spec.dataset.is_none() && (spec.version.is_some() || spec.service.is_some()) {
        return Err(Error::InvalidArgument("dataset is required with a version or a service".into()));
    }
    let token = invite_token()?;
    conn.transaction(async |conn| {
        let request_id = spec.request_id.as_deref();
        if let Some(id) = replayed(conn, caller, "tos_document_created", request_id).await? {
            let existing = row(conn, &TosKey::Id(id)).await?;
            return Ok(view(conn, existing).await?);
        }
        let dataset = match &spec.dataset {
            Some(name) => Some(dataset_named(conn, name).await?),
            None => None,
        };
        let version_id = match (&dataset, &spec.version) {
            (Some(d), Some(v)) => Some(
                store::version_by_name(conn, d.id, v)
                    .await?
                    .ok_or_else(|| Error::NotFound(format!("Version not found: {}/{v}", d.name)))?
                    .id,
            ),
            _ => None,
        };
        let service_id = match &spec.service {
            Some(name) => {
                let (id, created) = store::ensure_service(conn, name).await?;
                if created {
                    record(
                        conn,
                        caller.actor(),
                        "service_created",
                        "Service",
                        id,
                        None,
                        Some(json!({"name": name})),
                        None,
                    )
                    .await?;
                }
                Some(id)
            }
            None => None,
        };
        let new = store::NewTosDocument {
            name: &spec.name,
            text: &spec.text,
            dataset_id: dataset.as_ref().map(|d| d.id),
            dataset_version_id: version_id,
            service_id,
            invite_token: &token,
            effective_at: spec.effective_at.unwrap_or_else(Utc::now),
            retired_at: spec.retired_at,
        };
        let id = store::insert_tos_document(conn, new).await?;
        // DSG's admin save hook: a dataset-level document becomes the dataset's general TOS.
        let general = service_id.is_none() && version_id.is_none();
        if let Some(d) = dataset.as_ref().filter(|_| spec.make_current.unwrap_or(general)) {
            store::set_dataset_tos(conn, d.id, Some(id)).await?;
        }
        let fresh = row(conn, &TosKey::Id(id)).await?;
        let created = view(conn, fresh).await?;
        record(
            conn,
            caller.actor(),
            "tos_document_created",
            "TOSDocument",
            id,
            None,
            Some(audit_state(&created)),
            request_id,
        )
        .await?;
        notify_if_dataset(conn, &created).await?;
        Ok(created)
    })
    .await
}

/// Documents on a dataset change its permission documents for everyone.
async fn notify_if_dataset(conn: &mut AsyncPgConnection, view: &TosView) -> QueryResult<()> {
    if view.row.dataset_id.is_some() {
        crate::auth::store::notify_auth_change(conn, ALL).await?;
    }
    Ok(())
}

/// Whether the caller administers the document's dataset (or is a global admin).
async fn administers(conn: &mut AsyncPgConnection, caller: AdminCaller, doc: &TosRow) -> QueryResult<bool> {
    Ok(caller.admin
        || match doc.dataset_id {
            Some(d) => caller_levels(conn, caller.user_id, d).await?.dataset_admin(),
            None => false,
        })
}

/// A document by id (global admin or dataset admin of its dataset) or by
/// invite token (anyone, `caller` may be `None`).
pub async fn get(conn: &mut AsyncPgConnection, caller: Option<AdminCaller>, key: &TosKey) -> Result<TosView> {
    let doc = row(conn, key).await?;
    if let TosKey::Id(_) = key {
        let caller =
            caller.ok_or_else(|| Error::Unauthenticated("Authentication credentials were not provided.".into()))?;
        if !administers(conn, caller, &doc).await? {
            return Err(denied("Only global admins and the dataset's admins may read documents by id."));
        }
    }
    Ok(view(conn, doc).await?)
}

/// A document as the TOS pages show it, by id or invite token, to anyone
/// (spec §3.5: the text is no secret, accepting is what needs a grant).
pub async fn shown(conn: &mut AsyncPgConnection, key: &TosKey) -> Result<TosView> {
    let doc = row(conn, key).await?;
    Ok(view(conn, doc).await?)
}

/// A page of documents by id, optionally of one dataset (global admin).
pub async fn list(
    conn: &mut AsyncPgConnection,
    caller: AdminCaller,
    dataset: Option<&str>,
    page: PageRequest,
) -> Result<(Vec<TosView>, String)> {
    caller.require_admin()?;
    let mut query = tos_documents::table.select(TosRow::as_select()).order(tos_documents::id).into_boxed();
    if let Some(name) = dataset {
        let d = dataset_named(conn, name).await?;
        query = query.filter(tos_documents::dataset_id.eq(d.id));
    }
    let rows = query.offset(page.offset).limit(page.fetch()).load(conn).await?;
    let (rows, next) = page.finish(rows);
    Ok((views(conn, rows).await?, next))
}

/// Changes a document (global admin); text only while nobody accepted it.
pub async fn update(
    conn: &mut AsyncPgConnection,
    caller: AdminCaller,
    id: i64,
    changes: TosChanges,
) -> Result<TosView> {
    caller.require_admin()?;
    conn.transaction(async |conn| {
        let fresh = row(conn, &TosKey::Id(id)).await?;
        let old = view(conn, fresh).await?;
        if changes.text.as_ref().is_some_and(|t| *t != old.row.text) && old.acceptance_count > 0 {
            return Err(Error::FailedPrecondition(
                "text: the document has been accepted; create a new document and make it current instead".into(),
            ));
        }
        let name = changes.name.clone().unwrap_or_else(|| old.row.name.clone());
        let text = changes.text.clone().unwrap_or_else(|| old.row.text.clone());
        let effective_at = changes.effective_at.unwrap_or(old.row.effective_at);
        let retired_at = changes.retired_at.or(old.row.retired_at);
        if (&name, &text, effective_at, retired_at)
            == (&old.row.name, &old.row.text, old.row.effective_at, old.row.retired_at)
        {
            return Ok(old);
        }
        diesel::update(tos_documents::table.find(id))
            .set((
                tos_documents::name.eq(&name),
                tos_documents::text.eq(&text),
                tos_documents::effective_at.eq(effective_at),
                tos_documents::retired_at.eq(retired_at),
            ))
            .execute(conn)
            .await?;
        let fresh = row(conn, &TosKey::Id(id)).await?;
        let new = view(conn, fresh).await?;
        let state = |v: &TosView| {
            let mut s = audit_state(v);
            s["effective_at"] = json!(v.row.effective_at.to_rfc3339());
            s["retired_at"] = json!(v.row.retired_at.map(|t| t.to_rfc3339()));
            s["text_sha256"] = json!(crate::auth::token::hex(&v.row.text_sha256));
            s
        };
        record(
            conn,
            caller.actor(),
            "tos_document_updated",
            "TOSDocument",
            id,
            Some(state(&old)),
            Some(state(&new)),
            None,
        )
        .await?;
        notify_if_dataset(conn, &new).await?;
        Ok(new)
    })
    .await
}

/// Replaces the invite token (global admin).
pub async fn rotate_invite(conn: &mut AsyncPgConnection, caller: AdminCaller, id: i64) -> Result<TosView> {
    caller.require_admin()?;
    let token = invite_token()?;
    conn.transaction(async |conn| {
        row(conn, &TosKey::Id(id)).await?;
        diesel::update(tos_documents::table.find(id)).set(tos_documents::invite_token.eq(&token)).execute(conn).await?;
        let fresh = row(conn, &TosKey::Id(id)).await?;
        let new = view(conn, fresh).await?;
        record(conn, caller.actor(), "tos_invite_rotated", "TOSDocument", id, None, Some(audit_state(&new)), None)
            .await?;
        Ok(new)
    })
    .await
}

/// What accepting did.
#[derive(Debug, Clone)]
pub struct Accepted {
    /// The document.
    pub document: TosView,
    /// False when accepted before.
    pub newly_accepted: bool,
    /// A self-service view grant was recorded.
    pub view_granted: bool,
}

/// `accept_tos` (spec §3.5) for the calling user.
pub async fn accept(
    conn: &mut AsyncPgConnection,
    caller: AdminCaller,
    key: &TosKey,
    user_agent: Option<&str>,
) -> Result<Accepted> {
    let now = Utc::now();
    conn.transaction(async |conn| {
        let doc = row(conn, key).await?;
        let dataset = match doc.dataset_id {
            Some(id) => store::dataset_by_id(conn, id).await?,
            None => None,
        };
        let current = dataset.as_ref().is_some_and(|d| d.tos_document_id == Some(doc.id));
        if !doc.in_force(now) && !current {
            return Err(Error::FailedPrecondition("This document is not in force".into()));
        }
        let mut view_granted = false;
        if let Some(d) = &dataset {
            if d.is_public() {
                let new = store::NewGrant {
                    dataset_id: d.id,
                    dataset_version_id: None,
                    level: Level::View.as_str(),
                    user_id: Some(caller.user_id),
                    group_id: None,
                    service_account_id: None,
                    team_group_id: None,
                    source: "self_service",
                    granted_by_user_id: Some(caller.user_id),
                };
                view_granted = insert_or_existing(conn, caller.actor(), new, None).await?.1;
            } else if restricted(conn, caller, d).await? {
                return Err(denied("Access Restricted — ask the dataset administrator for access first."));
            }
        }
        let inserted = diesel::insert_into(tos_acceptances::table)
            .values((
                tos_acceptances::user_id.eq(caller.user_id),
                tos_acceptances::tos_document_id.eq(doc.id),
                tos_acceptances::text_sha256.eq(&doc.text_sha256),
                tos_acceptances::user_agent.eq(user_agent),
            ))
            .on_conflict_do_nothing()
            .execute(conn)
            .await?;
        let document = view(conn, doc).await?;
        if inserted == 1 {
            let email: String = users::table.find(caller.user_id).select(users::email).first(conn).await?;
            let mut state = json!({"user": email, "tos_document": document.row.id, "dataset": document.dataset});
            if let Some(service) = &document.service {
                state["service"] = json!(service);
            }
            let target = format!("{}:{}", caller.user_id, document.row.id);
            record(conn, caller.actor(), "tos_accepted", "TOSAcceptance", target, None, Some(state), None).await?;
            crate::auth::store::notify_auth_change(conn, &format!("user:{}", caller.user_id)).await?;
        }
        Ok(Accepted { document, newly_accepted: inserted == 1, view_granted })
    })
    .await
}

/// Step (2) of `accept_tos`: a closed dataset needs a grant (direct or
/// group, any version) unless the caller is a global admin.
async fn restricted(conn: &mut AsyncPgConnection, caller: AdminCaller, d: &store::DatasetRow) -> QueryResult<bool> {
    Ok(!d.is_public() && !caller.admin && caller_levels(conn, caller.user_id, d.id).await?.effective.is_none())
}

/// Where the caller stands with a document, as the TOS pages show it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Standing {
    /// Closed dataset and no grant: accepting would be refused.
    Restricted,
    /// Accepted before.
    Accepted,
    /// Not in force and not its dataset's general TOS: accepting would be refused.
    NotInForce,
    /// May accept.
    Open,
}

/// The caller's [`Standing`] with a document, by the rules [`accept`] applies.
pub async fn standing(conn: &mut AsyncPgConnection, caller: AdminCaller, doc: &TosRow) -> Result<Standing> {
    let dataset = match doc.dataset_id {
        Some(id) => store::dataset_by_id(conn, id).await?,
        None => None,
    };
    if let Some(d) = &dataset
        && restricted(conn, caller, d).await?
    {
        return Ok(Standing::Restricted);
    }
    let accepted: i64 = tos_acceptances::table
        .filter(tos_acceptances::user_id.eq(caller.user_id))
        .filter(tos_acceptances::tos_document_id.eq(doc.id))
        .count()
        .get_result(conn)
        .await?;
    let current = dataset.as_ref().is_some_and(|d| d.tos_document_id == Some(doc.id));
    Ok(if accepted > 0 {
        Standing::Accepted
    } else if !doc.in_force(Utc::now()) && !current {
        Standing::NotInForce
    } else {
        Standing::Open
    })
}

/// Who accepted a document, oldest first (global admin or dataset admin of its dataset).
pub async fn acceptances(
    conn: &mut AsyncPgConnection,
    caller: AdminCaller,
    id: i64,
    page: PageRequest,
) -> Result<(Vec<AcceptanceView>, String)> {
    let doc = row(conn, &TosKey::Id(id)).await?;
    if !administers(conn, caller, &doc).await? {
        return Err(denied("Only global admins and the dataset's admins may list acceptances."));
    }
    let rows: Vec<AcceptanceView> = tos_acceptances::table
        .inner_join(users::table)
        .filter(tos_acceptances::tos_document_id.eq(id))
        .select((users::email, tos_acceptances::accepted_at, tos_acceptances::text_sha256, tos_acceptances::user_agent))
        .order(tos_acceptances::id)
        .offset(page.offset)
        .limit(page.fetch())
        .load(conn)
        .await?;
    Ok(page.finish(rows))
}

/// The documents the caller has still to accept for a dataset (through a
/// service, at a version); an unknown dataset has nothing pending.
pub async fn pending(
    conn: &mut AsyncPgConnection,
    caller: AdminCaller,
    dataset: &str,
    service: Option<&str>,
    version: Option<&str>,
) -> Result<Vec<TosView>> {
    let Some(d) = store::dataset_by_name(conn, dataset).await? else { return Ok(Vec::new()) };
    let now = Utc::now();
    let accepted: Vec<i64> = tos_acceptances::table
        .filter(tos_acceptances::user_id.eq(caller.user_id))
        .select(tos_acceptances::tos_document_id)
        .load(conn)
        .await?;
    let version_id = match version {
        Some(v) => store::version_by_name(conn, d.id, v).await?.map(|v| v.id),
        None => None,
    };
    let service_id: Option<i64> = match service {
        Some(s) => services::table.filter(services::name.eq(s)).select(services::id).first(conn).await.optional()?,
        None => None,
    };
    let candidates: Vec<TosRow> = tos_documents::table
        .filter(tos_documents::dataset_id.eq(d.id))
        .select(TosRow::as_select())
        .order(tos_documents::id)
        .load(conn)
        .await?;
    let pending: Vec<TosRow> = candidates
        .into_iter()
        .filter(|doc| !accepted.contains(&doc.id))
        .filter(|doc| {
            let general = d.tos_document_id == Some(doc.id);
            let of_service = service_id.is_some() && doc.service_id == service_id && doc.in_force(now);
            let of_version = version_id.is_some()
                && doc.dataset_version_id == version_id
                && doc.service_id.is_none()
                && doc.in_force(now);
            general || of_service || of_version
        })
        .collect();
    Ok(views(conn, pending).await?)
}

/// The service-check page's "Accept all" (spec §3.5): [`accept`] for each of
/// the [`pending`] documents, all or none.
pub async fn accept_pending(
    conn: &mut AsyncPgConnection,
    caller: AdminCaller,
    dataset: &str,
    service: Option<&str>,
    version: Option<&str>,
    user_agent: Option<&str>,
) -> Result<Vec<Accepted>> {
    conn.transaction(async |conn| {
        let mut accepted = Vec::new();
        for doc in pending(conn, caller, dataset, service, version).await? {
            accepted.push(accept(conn, caller, &TosKey::Id(doc.row.id), user_agent).await?);
        }
        Ok(accepted)
    })
    .await
}
