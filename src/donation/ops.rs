//! Researcher operations on donations, transport-free: both the native and the
//! legacy RPCs call these. Who may do what (spec §2.9.3) is decided here from
//! a [`Viewer`]: global roles plus the dataset levels of the caller's
//! permission snapshot (terms of service applied).
//!
//! Writes run in one transaction with their event, audit record and jobs.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncConnection as _, AsyncPgConnection, RunQueryDsl};
use serde_json::json;

use super::catalogue::{DATA_TYPES, Source};
use super::error::{DonationError, Result};
use super::model::{self, Donation, Event, FieldErrors, RawCreate, Stage, TypeStatus};
use super::store::{self, NewDonation, Visible};
use super::{keys, purge, release, rows};
use crate::auth::{Principal, PrincipalKind, Role};
use crate::crypto::Keyring;
use crate::dataset::audit::{self, Actor};
use crate::dataset::ops::Snapshot;
use crate::dataset::permissions::{self, Level, LevelSet};
use crate::db::schema::donations;
use crate::jobs;

/// How long a `request_id` makes a create idempotent (spec §2.3).
const REQUEST_ID_WINDOW: chrono::TimeDelta = chrono::TimeDelta::hours(24);

/// The caller as the donation rules see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Viewer {
    pub principal_id: i64,
    pub kind: PrincipalKind,
    /// Global admin: sees and may delete every donation.
    pub admin: bool,
    /// Global `researcher` (or admin): may create donations.
    pub researcher: bool,
    /// Expanded levels by dataset id, terms of service applied.
    pub levels: BTreeMap<i64, LevelSet>,
}

/// What a viewer may do with one donation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Access {
    /// Not even that it exists.
    Hidden,
    /// Read it and its data.
    View,
    /// Also delete (and retry) it.
    Edit,
}

impl Viewer {
    /// The viewer for `principal`; `snapshot` is needed unless the principal is a global admin.
    pub fn new(principal: &Principal, snapshot: Option<&Snapshot>, now: DateTime<Utc>) -> Viewer {
        // Donated data is personal: a public dataset's implicit `view` for
        // every user does not extend to its donations; a grant (direct, group
        // or service account) is needed.
        let levels = snapshot
            .map(|s| {
                let mut levels = permissions::effective(&s.inputs, None, now).tos;
                levels.retain(|dataset, _| s.inputs.grants.iter().any(|g| g.dataset_id == *dataset));
                levels
            })
            .unwrap_or_default();
        Viewer {
            principal_id: principal.id,
            kind: principal.kind,
            admin: principal.is_admin(),
            researcher: principal.has_role(Role::Researcher),
            levels,
        }
    }

    fn actor(&self) -> Actor {
        match self.kind {
            PrincipalKind::User => Actor::User(self.principal_id),
            PrincipalKind::ServiceAccount => Actor::ServiceAccount(self.principal_id),
        }
    }

    fn level(&self, dataset_id: i64) -> LevelSet {
        self.levels.get(&dataset_id).copied().unwrap_or_default()
    }

    /// Which donations list queries may return.
    pub fn visible(&self) -> Visible {
        if self.admin {
            return Visible::All;
        }
        let dataset_ids =
            self.levels.iter().filter(|(_, levels)| levels.contains(Level::View)).map(|(id, _)| *id).collect();
        Visible::Some { owner_id: self.principal_id, dataset_ids }
    }

    /// Spec §2.9.3: the creator (no dataset), `view`/`edit` on the dataset, or admin.
    pub fn access(&self, donation: &Donation) -> Access {
        if self.admin {
            return Access::Edit;
        }
        match donation.dataset_id {
            None if donation.owner_id == self.principal_id => Access::Edit,
            None => Access::Hidden,
            Some(dataset) => {
                let levels = self.level(dataset);
                if levels.contains(Level::Edit) {
                    Access::Edit
                } else if levels.contains(Level::View) {
                    Access::View
                } else {
                    Access::Hidden
                }
            }
        }
    }
}

/// A created donation and its raw token (shown once).
#[derive(Debug, Clone)]
pub struct Created {
    pub donation: Donation,
    pub token: String,
}

/// Creates a donation (spec §2.3). `errors` carries transport-level field
/// errors found while reading the request; `enabled` says which sources this
/// server accepts.
pub async fn create(
    conn: &mut AsyncPgConnection,
    keyring: &Keyring,
    viewer: &Viewer,
    raw: RawCreate,
    mut errors: FieldErrors,
    enabled: impl Fn(Source) -> bool,
) -> Result<Created> {
    if !viewer.researcher {
        return Err(DonationError::PermissionDenied);
    }
    let (source, start, end, request_id) = model::check_fields(&raw, enabled, &mut errors);
    let mut dataset_id = None;
    if let Some(name) = raw.dataset.as_deref() {
        // A dataset the caller cannot see is "unknown" too.
        let id = store::dataset_id(conn, name).await?;
        match id.filter(|id| viewer.admin || viewer.level(*id).contains(Level::View)) {
            Some(id) => dataset_id = Some(id),
            None => errors.add("dataset", format!("Unknown dataset \"{name}\".")),
        }
    }
    let Some(source) = source.filter(|_| errors.is_empty()) else {
        return Err(DonationError::Invalid(errors));
    };
    let spec = model::check_combination(&raw, source, start, end, request_id).map_err(DonationError::Invalid)?;
    if let Some(id) = dataset_id
        && !viewer.admin
        && !viewer.level(id).contains(Level::Edit)
    {
        return Err(DonationError::PermissionDenied);
    }
    // A concurrent create with the same request_id makes the insert a no-op;
    // the next round then finds that donation.
    for _ in 0..3 {
        let spec = &spec;
        let created = conn
            .transaction(async |conn| -> Result<Option<Created>> {
                if let Some(request_id) = spec.request_id.as_deref()
                    && let Some(created) = retried_create(conn, viewer, request_id).await?
                {
                    return Ok(Some(created));
                }
                insert_donation(conn, keyring, viewer, spec, dataset_id).await
            })
            .await?;
        if let Some(created) = created {
            return Ok(created);
        }
    }
    Err(DonationError::Internal(anyhow::anyhow!("create kept conflicting on its request_id")))
}

/// The answer to a create repeating a recent `request_id`: the same donation
/// with a new token while its link is unopened, else [`DonationError::RequestIdUsed`].
/// An older use releases the id for a new donation.
async fn retried_create(conn: &mut AsyncPgConnection, viewer: &Viewer, request_id: &str) -> Result<Option<Created>> {
    let Some(row) = store::find_by_request(conn, viewer.principal_id, request_id).await? else {
        return Ok(None);
    };
    if row.created_at < Utc::now() - REQUEST_ID_WINDOW {
        diesel::update(donations::table.find(row.id))
            .set(donations::request_id.eq(None::<String>))
            .execute(conn)
            .await?;
        return Ok(None);
    }
    if row.stage != Stage::Created.as_str() {
        return Err(DonationError::RequestIdUsed);
    }
    // Only the hash is stored, so the token cannot be shown again: issue a
    // new one, which retires the earlier link.
    let (token, crate::auth::token::TokenHash(hash)) = crate::auth::token::generate_url_safe();
    diesel::update(donations::table.find(row.id)).set(donations::token_hash.eq(&hash[..])).execute(conn).await?;
    store::add_event(conn, row.id, "link_reissued", None, json!({})).await?;
    let donation = store::find(conn, row.id, false).await?.ok_or(DonationError::NotFound)?;
    Ok(Some(Created { donation, token }))
}

async fn insert_donation(
    conn: &mut AsyncPgConnection,
    keyring: &Keyring,
    viewer: &Viewer,
    spec: &model::CreateSpec,
    dataset_id: Option<i64>,
) -> Result<Option<Created>> {
    let (token, crate::auth::token::TokenHash(hash)) = crate::auth::token::generate_url_safe();
    let names: Vec<&str> = spec.data_types.iter().map(|t| t.name).collect();
    let new = NewDonation {
        owner_id: viewer.principal_id,
        dataset_id,
        source: spec.source.as_str(),
        data_start_date: spec.data_start_date,
        data_end_date: spec.data_end_date,
        requested_data_types: names.clone(),
        description: &spec.description,
        token_hash: &hash,
        request_id: spec.request_id.as_deref(),
    };
    let id: Option<i32> = diesel::insert_into(donations::table)
        .values(&new)
        .on_conflict_do_nothing()
        .returning(donations::id)
        .get_result(conn)
        .await
        .optional()?;
    let Some(id) = id else {
        return Ok(None);
    };
    keys::create(conn, keyring, id).await?;
    store::insert_types(conn, id, &names).await?;
    store::add_event(conn, id, "created", None, json!({"source": spec.source.as_str(), "data_types": names.len()}))
        .await?;
    let after = json!({
        "source": spec.source.as_str(),
        "dataset_id": dataset_id,
        "data_types": names,
    });
    audit::record_with_request(
        conn,
        viewer.actor(),
        "donation_created",
        "Donation",
        id,
        None,
        Some(after),
        spec.request_id.as_deref(),
    )
    .await?;
    let donation = store::find(conn, id, false).await?.ok_or(DonationError::NotFound)?;
    Ok(Some(Created { donation, token }))
}

/// The donation `id` if the viewer has at least `need` on it; NotFound when
/// hidden, PermissionDenied when visible but not enough.
async fn accessible(
    conn: &mut AsyncPgConnection,
    viewer: &Viewer,
    id: i32,
    need: Access,
    lock: bool,
) -> Result<Donation> {
    let donation = store::find(conn, id, lock).await?.ok_or(DonationError::NotFound)?;
    match viewer.access(&donation) {
        Access::Hidden => Err(DonationError::NotFound),
        access if access < need => Err(DonationError::PermissionDenied),
        _ => Ok(donation),
    }
}

/// One donation the viewer may see.
pub async fn get(conn: &mut AsyncPgConnection, viewer: &Viewer, id: i32) -> Result<Donation> {
    accessible(conn, viewer, id, Access::View, false).await
}

/// One donation with its types' states, in request order.
pub async fn get_with_types(
    conn: &mut AsyncPgConnection,
    viewer: &Viewer,
    id: i32,
) -> Result<(Donation, Vec<TypeStatus>)> {
    let donation = get(conn, viewer, id).await?;
    let types = store::types(conn, id, &donation.requested_data_types).await?;
    Ok((donation, types))
}

/// Up to `limit` donations the viewer may see with ids above `after`, by id;
/// `dataset` (a name) narrows them to one dataset, an unknown one to none.
pub async fn list(
    conn: &mut AsyncPgConnection,
    viewer: &Viewer,
    dataset: Option<&str>,
    after: i32,
    limit: i64,
) -> Result<Vec<Donation>> {
    let dataset_id = match dataset {
        None => None,
        Some(name) => match store::dataset_id(conn, name).await? {
            Some(id) => Some(id),
            None => return Ok(Vec::new()),
        },
    };
    Ok(store::list(conn, &viewer.visible(), dataset_id, after, limit).await?)
}

/// [`list`] with each donation's types' states.
pub async fn list_with_types(
    conn: &mut AsyncPgConnection,
    viewer: &Viewer,
    dataset: Option<&str>,
    after: i32,
    limit: i64,
) -> Result<Vec<(Donation, Vec<TypeStatus>)>> {
    let donations = list(conn, viewer, dataset, after, limit).await?;
    let ids: Vec<i32> = donations.iter().map(|d| d.id).collect();
    let mut types = store::types_of(conn, &ids).await?;
    Ok(donations
        .into_iter()
        .map(|d| {
            let mut t = types.remove(&d.id).unwrap_or_default();
            t.sort_by_key(|s| d.requested_data_types.iter().position(|r| *r == s.data_type).unwrap_or(usize::MAX));
            (d, t)
        })
        .collect())
}

/// Who deletes a donation, as the audit record names it (spec §3.6).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ActorKind {
    /// Through a visit holding the donation (DeleteMyDonation, `/donate/revoke/`).
    Participant,
    /// The creator or an `edit` holder on the dataset.
    Researcher,
    /// A global admin.
    Admin,
}

impl ActorKind {
    /// `participant`, `researcher` or `admin`.
    pub fn as_str(self) -> &'static str {
        match self {
            ActorKind::Participant => "participant",
            ActorKind::Researcher => "researcher",
            ActorKind::Admin => "admin",
        }
    }
}

/// What a deletion did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Deleted {
    /// Sealed rows made unreadable (purged in the background).
    pub rows: i64,
    /// Archive blobs made unreadable (purged in the background).
    pub blobs: i64,
    /// Steward's provider access at commit: `Pending` while the release job
    /// has it, `NotHeld` when there was none.
    pub provider_access: release::ProviderAccess,
}

/// Deletes a donation for a researcher or admin (spec §2.6): `NotFound` when
/// the viewer cannot see it, `PermissionDenied` without `edit`.
pub async fn delete(conn: &mut AsyncPgConnection, viewer: &Viewer, id: i32) -> Result<()> {
    conn.transaction(async |conn| -> Result<Deleted> {
        let donation = accessible(conn, viewer, id, Access::Edit, true).await?;
        let kind = if viewer.admin { ActorKind::Admin } else { ActorKind::Researcher };
        remove(conn, &donation, viewer.actor(), kind).await
    })
    .await
    .map(drop)
}

/// Deletes a donation for a participant (spec §3.6). The caller has checked
/// that the participant's visit holds `id` (`visit::holds`); `NotFound` when
/// it is gone already.
pub async fn delete_as_participant(conn: &mut AsyncPgConnection, id: i32) -> Result<Deleted> {
    conn.transaction(async |conn| -> Result<Deleted> {
        let donation = store::find(conn, id, true).await?.ok_or(DonationError::NotFound)?;
        // The audit record names no participant (§3.6): the system acted for one.
        remove(conn, &donation, Actor::System, ActorKind::Participant).await
    })
    .await
}

/// How long the participant's deletion waits for the provider release (§3.6).
pub const RELEASE_WAIT: std::time::Duration = std::time::Duration::from_secs(5);

/// "Delete my data" for the participant page (`POST /donate/revoke/`) and
/// DeleteMyDonation: deletes donation `id` as the participant (the caller
/// has checked that the visit holds it), then waits up to [`RELEASE_WAIT`]
/// for the first attempt to release provider access. Answers `Released`,
/// `Pending` (retried in the background; point the participant to the
/// provider's permission page) or `NotHeld` (Steward never had access, or
/// had already given it back). `NotFound` when the donation is gone.
pub async fn delete_for_participant(pool: &crate::db::Pool, id: i32) -> Result<release::ProviderAccess> {
    let deleted = delete_as_participant(&mut *pool.get().await?, id).await?;
    if deleted.provider_access != release::ProviderAccess::Pending {
        return Ok(deleted.provider_access);
    }
    release::wait(pool, id, RELEASE_WAIT).await
}

/// The deletion itself (spec §5.10 step 1), inside the caller's transaction
/// with `donation` locked: writes the audit record (counts and codes, no
/// tokens, participant or data), moves the provider grant to a release
/// record and enqueues its job, deletes the donation with its data key
/// (every sealed row and blob is unreadable at commit) and metadata, and
/// enqueues the purge of its rows and blobs.
async fn remove(conn: &mut AsyncPgConnection, donation: &Donation, actor: Actor, kind: ActorKind) -> Result<Deleted> {
    use crate::db::schema::{archive_parts, donation_rows, provider_exports};
    let id = donation.id;
    let rows: i64 = donation_rows::table.filter(donation_rows::donation_id.eq(id)).count().get_result(conn).await?;
    let blobs: i64 = archive_parts::table
        .inner_join(provider_exports::table)
        .filter(provider_exports::donation_id.eq(id))
        .filter(archive_parts::object_key.is_not_null())
        .filter(archive_parts::deleted_at.is_null())
        .count()
        .get_result(conn)
        .await?;
    let provider_access = release::take_over(conn, id).await?;
    let before = json!({
        "source": donation.source.as_str(),
        "status": donation.status.as_str(),
        "stage": donation.stage.as_str(),
        "owner_id": donation.owner_id,
        "dataset_id": donation.dataset_id,
    });
    let after = json!({
        "actor_kind": kind.as_str(),
        "rows": rows,
        "blobs": blobs,
        "provider_access": provider_access.as_str(),
    });
    audit::record(conn, actor, "donation_deleted", "Donation", id, Some(before), Some(after)).await?;
    diesel::delete(donations::table.find(id)).execute(conn).await?;
    jobs::enqueue(conn, purge::job(id)).await?;
    Ok(Deleted { rows, blobs, provider_access })
}

/// The viewer's donation's types that can be queried, in catalogue order.
pub async fn available_types(conn: &mut AsyncPgConnection, viewer: &Viewer, id: i32) -> Result<Vec<&'static str>> {
    get(conn, viewer, id).await?;
    let available = store::available_types(conn, id).await?;
    Ok(DATA_TYPES.iter().map(|t| t.name).filter(|name| available.iter().any(|a| a == name)).collect())
}

/// Which rows of a donation to read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataQuery {
    pub data_type: String,
    pub start: Option<NaiveDate>,
    pub end: Option<NaiveDate>,
    /// 0 reads the count only.
    pub limit: i64,
    pub offset: i64,
    /// From the previous page's token: its count and last row, so this page
    /// is read from there instead of counting and skipping `offset` rows.
    pub seek: Option<rows::Seek>,
}

/// Rows of one type: how many match, and the page's JSON texts.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DataPage {
    pub count: i64,
    pub rows: Vec<String>,
    /// The last row's order key when the page is full (for the next page's token).
    pub next: Option<rows::Cursor>,
}

/// Reads rows of an available type (spec §2.7). A type that is unknown or
/// not available has no rows.
pub async fn query(
    conn: &mut AsyncPgConnection,
    keyring: &Keyring,
    viewer: &Viewer,
    id: i32,
    query: &DataQuery,
) -> Result<DataPage> {
    get(conn, viewer, id).await?;
    read_rows(conn, keyring, id, query).await
}

/// [`query`] without the viewer check, for callers that checked access
/// their own way (the participant RPCs check the visit).
pub async fn read_rows(
    conn: &mut AsyncPgConnection,
    keyring: &Keyring,
    id: i32,
    query: &DataQuery,
) -> Result<DataPage> {
    let available = store::available_types(conn, id).await?;
    if !available.contains(&query.data_type) {
        return Ok(DataPage::default());
    }
    let filter = rows::RowFilter { donation_id: id, data_type: &query.data_type, start: query.start, end: query.end };
    let count = match query.seek {
        Some(seek) => seek.count,
        None => rows::count(conn, &filter).await?,
    };
    if query.limit == 0 || query.offset >= count {
        return Ok(DataPage { count, ..DataPage::default() });
    }
    let key = keys::load(conn, keyring, id).await?;
    let page = match query.seek {
        Some(seek) => rows::page_after(conn, &key, &filter, Some(seek.after), query.limit).await?,
        None => rows::page_at(conn, &key, &filter, query.limit, query.offset).await?,
    };
    Ok(DataPage { count, rows: page.rows, next: page.next })
}

/// Up to `limit` events of the viewer's donation after event `after`.
pub async fn events(
    conn: &mut AsyncPgConnection,
    viewer: &Viewer,
    id: i32,
    after: i64,
    limit: i64,
) -> Result<Vec<Event>> {
    get(conn, viewer, id).await?;
    Ok(store::events(conn, id, after, limit).await?)
}
