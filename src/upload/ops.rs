//! The rules of UploadService (spec upload.md §2), shared by the gRPC
//! handlers and the tus routes: who may do what with a drop-off, how upload
//! codes are checked and limited, and how bytes reach staging under the
//! writer lease.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use diesel_async::{AsyncConnection as _, AsyncPgConnection};
use futures_util::{Stream, StreamExt as _};
use ring::rand::{SecureRandom as _, SystemRandom};
use tokio::sync::{Notify, OnceCell};
use uuid::Uuid;

use super::code::{CodeHash, Pepper, UploadCode};
use super::config::UploadConfig;
use super::error::{Result, UploadError};
use super::names::{self, AllowedTypes};
use super::staging::{FileId, Staging, StagingError};
use super::store::{self, DropOffRow, DropOffView, FileRow, NewDropOff, NewFile};
use crate::auth::principal::Principal;
use crate::auth::token::hex;
use crate::blobs::BlobStore;
use crate::config::Environment;
use crate::crypto::Keyring;
use crate::dataset::audit::{self, Actor};
use crate::dataset::permissions::{self, Level, LevelSet};
use crate::db::{Pool, PooledConn};
use crate::donation::keys::DataKey;

/// The largest chunk of one WriteChunk call.
pub const MAX_CHUNK_BYTES: usize = 4 << 20;
/// A lease not refreshed for this long may be taken over (§2.8).
pub const LEASE_STALE: Duration = Duration::from_secs(15);
/// How long a newcomer waits for the lease holder to let go.
pub const LEASE_WAIT: Duration = Duration::from_secs(3);
/// A writer renews its lease when it is older than this (§2.8: every 5 s).
const LEASE_RENEW: Duration = Duration::from_secs(4);
/// Commit at least every this many bytes and this often while receiving (§2.7).
const COMMIT_BYTES: u64 = 8 << 20;
const COMMIT_EVERY: Duration = Duration::from_secs(5);
/// Code guessing limits (§2.3).
const PAIR_FAILURES: i64 = 10;
const PAIR_WINDOW: Duration = Duration::from_secs(15 * 60);
const DROPOFF_FAILURES: i64 = 1000;
const DROPOFF_WINDOW: Duration = Duration::from_secs(3600);
/// Incomplete uploads never outlive their drop-off by more than this.
const AFTER_DROPOFF_EXPIRY: chrono::Duration = chrono::Duration::hours(24);
/// The sealed-secret name and AAD of the code pepper.
const PEPPER_SECRET: &str = "upload_code_pepper";
/// AAD prefix of a file's wrapped data key.
const DEK_CONTEXT: &[u8] = b"steward-upload-dek/v1";
/// The NOTIFY channel asking a lease holder on any replica to let go.
pub const RELEASE_CHANNEL: &str = "steward_upload_release";
/// Job kinds.
pub const FINALIZE_JOB: &str = "upload.finalize";

/// What a drop-off needs from its caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    /// Read it, its files and their bytes.
    View,
    /// Change it, rotate its code, close it, delete files.
    Edit,
    /// Delete it.
    Manage,
}

/// The drop-off fields an owner sets.
#[derive(Debug, Clone, Default)]
pub struct DropOffInput {
    pub dataset: Option<String>,
    pub title: String,
    pub description: String,
    pub recipient_emails: Vec<String>,
    pub max_file_bytes: Option<i64>,
    pub max_total_bytes: Option<i64>,
    pub allowed_types: Vec<String>,
    pub expire_time: Option<DateTime<Utc>>,
    pub recipient_public_key_set: bool,
}

/// Which fields an update changes.
#[derive(Debug, Clone, Default)]
pub struct DropOffUpdate {
    pub title: Option<String>,
    pub description: Option<String>,
    pub recipient_emails: Option<Vec<String>>,
    pub max_file_bytes: Option<i64>,
    pub max_total_bytes: Option<i64>,
    pub allowed_types: Option<Vec<String>>,
    pub expire_time: Option<DateTime<Utc>>,
    pub reopen: bool,
}

/// What an uploader learns from a valid code.
#[derive(Debug, Clone)]
pub struct Opened {
    pub row: DropOffRow,
    pub remaining_bytes: i64,
}

/// A new upload, from CreateUpload or a tus POST.
#[derive(Debug, Clone, Default)]
pub struct NewUpload {
    pub dropoff_id: String,
    pub name: String,
    pub relative_path: Option<String>,
    /// `None`: tus deferred length.
    pub size: Option<u64>,
    pub content_type: String,
    pub metadata: BTreeMap<String, String>,
    pub request_id: Option<String>,
    pub expected_sha256: Option<String>,
    pub protocol: Protocol,
}

/// How an upload arrives.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Protocol {
    #[default]
    Grpc,
    Tus,
}

impl Protocol {
    fn as_str(self) -> &'static str {
        match self {
            Protocol::Grpc => "grpc",
            Protocol::Tus => "tus",
        }
    }
}

/// Who is uploading: the code they presented and where they are.
#[derive(Debug, Clone)]
pub struct Uploader {
    /// The code as typed; `None` when none was sent.
    pub code: Option<String>,
    /// The client address for the guessing limits.
    pub address: String,
}

/// A tus checksum of one request body (§3.8).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BodyChecksum {
    pub algorithm: &'static ring::digest::Algorithm,
    pub digest: Vec<u8>,
}

/// How a write treats its offset and its end.
#[derive(Debug, Clone, Default)]
pub struct WriteMode {
    /// tus: the offset must equal the committed one (else 409); RPC writes
    /// accept retries of bytes already committed.
    pub exact_offset: bool,
    /// tus: the length given on a PATCH of a deferred-length upload.
    pub declare_length: Option<u64>,
    /// tus: the body's checksum; nothing is committed unless it matches.
    pub checksum: Option<BodyChecksum>,
    /// tus: the upload completes when its last byte is committed.
    pub complete_when_full: bool,
    /// The body's length when known up front (WriteChunk): a body past the
    /// declared size is refused before anything is written.
    pub body_len: Option<u64>,
}

/// What a write achieved.
#[derive(Debug, Clone)]
pub struct WriteOutcome {
    pub file: FileRow,
    /// The upload completed with this write (tus).
    pub completed: bool,
}

/// The upload service's shared state.
#[derive(Clone)]
pub struct Uploads {
    inner: Arc<Inner>,
}

struct Inner {
    pool: Pool,
    keyring: Arc<Keyring>,
    resolver: Arc<crate::auth::resolver::Resolver>,
    settings: UploadConfig,
    env: Environment,
    public_url: String,
    staging: Staging,
    blobs: BlobStore,
    pepper: OnceCell<Pepper>,
    /// This process's writer id for leases.
    writer_id: String,
    /// Lease holders in this process, woken when a newcomer asks them to let go.
    holders: Mutex<HashMap<Uuid, Arc<Notify>>>,
    /// Set once the `LISTEN` for newcomers on other replicas is running.
    listening: std::sync::OnceLock<()>,
}

impl std::fmt::Debug for Uploads {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Uploads").field("writer_id", &self.inner.writer_id).finish_non_exhaustive()
    }
}

impl Uploads {
    pub fn new(
        pool: Pool,
        keyring: Arc<Keyring>,
        resolver: Arc<crate::auth::resolver::Resolver>,
        config: &crate::config::Config,
        blobs: BlobStore,
    ) -> Self {
        let settings = config.upload.clone();
        let staging = Staging::new(settings.staging_dir.clone());
        let mut id = [0u8; 8];
        SystemRandom::new().fill(&mut id).expect("the system RNG works");
        let writer_id = format!("{}-{}", std::process::id(), hex(&id));
        Self {
            inner: Arc::new(Inner {
                pool,
                keyring,
                resolver,
                settings,
                env: config.env,
                public_url: config.public_url.clone(),
                staging,
                blobs,
                pepper: OnceCell::new(),
                writer_id,
                holders: Mutex::new(HashMap::new()),
                listening: std::sync::OnceLock::new(),
            }),
        }
    }

    pub fn settings(&self) -> &UploadConfig {
        &self.inner.settings
    }

    pub fn public_url(&self) -> &str {
        &self.inner.public_url
    }

    pub fn staging(&self) -> &Staging {
        &self.inner.staging
    }

    pub fn blobs(&self) -> &BlobStore {
        &self.inner.blobs
    }

    pub async fn conn(&self) -> Result<PooledConn> {
        Ok(self.inner.pool.get().await?)
    }

    /// The uploader page of a drop-off.
    pub fn upload_url(&self, id: Uuid) -> String {
        format!("{}/upload/{id}", self.inner.public_url)
    }

    /// The tus creation URL.
    pub fn tus_endpoint(&self) -> String {
        format!("{}/files/", self.inner.public_url)
    }

    // ---- owners ----

    /// CreateDropOff: researchers and admins; with a dataset, `edit` on it.
    pub async fn create_dropoff(&self, caller: &Principal, input: DropOffInput) -> Result<(DropOffView, UploadCode)> {
        if !caller.has_role(crate::auth::principal::Role::Researcher) {
            return Err(UploadError::PermissionDenied(
                "creating a drop-off needs the researcher role (ask an admin to add you to the researcher group)"
                    .into(),
            ));
        }
        if input.recipient_public_key_set {
            return Err(UploadError::reserved_public_key());
        }
        let mut conn = self.conn().await?;
        let dataset_id = match input.dataset.as_deref().filter(|d| !d.is_empty()) {
            None => None,
            Some(name) => {
                let id = store::dataset_id(&mut conn, name)
                    .await?
                    .ok_or_else(|| UploadError::invalid("dataset", format!("there is no dataset '{name}'")))?;
                if !caller.is_admin() && !self.levels(caller).await?.get(&id).is_some_and(|l| l.contains(Level::Edit)) {
                    return Err(UploadError::PermissionDenied(format!(
                        "a drop-off for dataset '{name}' needs edit on that dataset"
                    )));
                }
                Some(id)
            }
        };
        let title = check_title(&input.title)?;
        let description = check_description(&input.description)?;
        let recipients = self.check_recipients(&input.recipient_emails)?;
        let (max_file, max_total) = self.check_limits(input.max_file_bytes, input.max_total_bytes)?;
        let allowed = check_allowed_types(&input.allowed_types)?;
        let expire_time =
            self.check_expiry(input.expire_time.unwrap_or_else(|| Utc::now() + chrono::Duration::days(30)))?;
        let code = UploadCode::generate();
        let pepper = self.pepper().await?;
        let new = NewDropOff {
            id: new_uuid(),
            owner_user_id: caller.id,
            dataset_id,
            title,
            description,
            recipient_emails: recipients.into_iter().map(Some).collect(),
            max_file_bytes: max_file,
            max_total_bytes: max_total,
            allowed_types: allowed.into_iter().map(Some).collect(),
            expire_time,
            code_hash: code.hash(pepper).as_bytes().to_vec(),
        };
        let actor = Actor::User(caller.id);
        let row = conn
            .transaction::<_, UploadError, _>(async move |conn| {
                let row = store::insert_dropoff(conn, &new).await?;
                let after = serde_json::json!({"title": row.title, "dataset_id": row.dataset_id});
                audit::record(conn, actor, "dropoff_created", "upload_dropoff", row.id, None, Some(after)).await?;
                Ok(row)
            })
            .await?;
        Ok((store::view(&mut conn, row).await?, code))
    }

    /// The drop-off if `caller` may `need` it: NOT_FOUND when they cannot
    /// even view it (ids cannot be probed), PERMISSION_DENIED otherwise.
    pub async fn dropoff_for(&self, caller: &Principal, dropoff_id: &str, need: Need) -> Result<DropOffRow> {
        let not_found = || UploadError::NotFound(format!("no drop-off '{}' that you can see", shown(dropoff_id)));
        let id = parse_id(dropoff_id).ok_or_else(not_found)?;
        let row = store::dropoff(&mut *self.conn().await?, id).await?.ok_or_else(not_found)?;
        let level = self.level_on(caller, &row).await?;
        if !level.contains(Level::View) {
            return Err(not_found());
        }
        let (wanted, what) = match need {
            Need::View => (Level::View, "view"),
            Need::Edit => (Level::Edit, "change"),
            Need::Manage => (Level::Manage, "delete"),
        };
        if !level.contains(wanted) {
            return Err(UploadError::PermissionDenied(format!(
                "you may view this drop-off but not {what} it (that needs {} on its dataset)",
                wanted.as_str()
            )));
        }
        Ok(row)
    }

    /// The caller's level on a drop-off: everything for admins and (without a
    /// dataset) its owner; the dataset's grants otherwise.
    async fn level_on(&self, caller: &Principal, row: &DropOffRow) -> Result<LevelSet> {
        if caller.is_admin() {
            return Ok(LevelSet::expanded(Level::Admin));
        }
        match row.dataset_id {
            None if row.owner_user_id == caller.id => Ok(LevelSet::expanded(Level::Admin)),
            None => Ok(LevelSet::default()),
            Some(dataset) => Ok(self.levels(caller).await?.get(&dataset).copied().unwrap_or_default()),
        }
    }

    /// The caller's granted levels per dataset (a public dataset's implicit
    /// `view` for everyone does not count: uploads are not public data).
    async fn levels(&self, caller: &Principal) -> Result<BTreeMap<i64, LevelSet>> {
        let snapshot =
            self.inner.resolver.permissions().snapshot(&self.inner.pool, caller.kind, caller.id).await.map_err(
                |e| match e {
                    crate::error::Error::Unavailable(m) => UploadError::Unavailable(m),
                    other => UploadError::internal(anyhow::anyhow!("{other}")),
                },
            )?;
        let mut levels = permissions::effective(&snapshot.inputs, None, Utc::now()).tos;
        levels.retain(|id, _| snapshot.inputs.grants.iter().any(|g| g.dataset_id == *id));
        Ok(levels)
    }

    pub async fn get_dropoff(&self, caller: &Principal, dropoff_id: &str) -> Result<DropOffView> {
        let row = self.dropoff_for(caller, dropoff_id, Need::View).await?;
        Ok(store::view(&mut *self.conn().await?, row).await?)
    }

    /// A page of the drop-offs the caller can view (every one with `all`, admins only).
    pub async fn list_dropoffs(
        &self,
        caller: &Principal,
        all: bool,
        after: Option<(DateTime<Utc>, Uuid)>,
        limit: i64,
    ) -> Result<Vec<DropOffView>> {
        if all && !caller.is_admin() {
            return Err(UploadError::PermissionDenied("only admins may list every drop-off (all = true)".into()));
        }
        let datasets: Vec<i64> = if all {
            Vec::new()
        } else {
            self.levels(caller).await?.into_iter().filter(|(_, l)| l.contains(Level::View)).map(|(id, _)| id).collect()
        };
        let mut conn = self.conn().await?;
        let owner = if all { None } else { Some(caller.id) };
        let rows = store::list_dropoffs(&mut conn, owner, Some(&datasets), after, limit).await?;
        let mut views = Vec::with_capacity(rows.len());
        for row in rows {
            // An owner's drop-off bound to a dataset they lost access to is not theirs to see.
            if !all && row.dataset_id.is_some_and(|d| !datasets.contains(&d)) {
                continue;
            }
            views.push(store::view(&mut conn, row).await?);
        }
        Ok(views)
    }

    pub async fn update_dropoff(
        &self,
        caller: &Principal,
        dropoff_id: &str,
        update: DropOffUpdate,
    ) -> Result<DropOffView> {
        let row = self.dropoff_for(caller, dropoff_id, Need::Edit).await?;
        let title = update.title.as_deref().map(check_title).transpose()?;
        let description = update.description.as_deref().map(check_description).transpose()?;
        let recipients = update.recipient_emails.as_deref().map(|r| self.check_recipients(r)).transpose()?;
        let (max_file, max_total) = self.check_limits(
            Some(update.max_file_bytes.unwrap_or(row.max_file_bytes)),
            Some(update.max_total_bytes.unwrap_or(row.max_total_bytes)),
        )?;
        let allowed = update.allowed_types.as_deref().map(check_allowed_types).transpose()?;
        let expire_time = update.expire_time.map(|t| self.check_expiry(t)).transpose()?;
        let id = row.id;
        let actor = Actor::User(caller.id);
        let reopen = update.reopen;
        let mut conn = self.conn().await?;
        let row = conn
            .transaction::<_, UploadError, _>(async move |conn| {
                use crate::db::schema::upload_dropoffs as d;
                use diesel::{ExpressionMethods as _, QueryDsl as _};
                use diesel_async::RunQueryDsl as _;
                let row = store::dropoff_for_update(conn, id)
                    .await?
                    .ok_or_else(|| UploadError::NotFound("the drop-off was deleted meanwhile".into()))?;
                let new_closed = if reopen { None } else { row.closed_at };
                diesel::update(d::table.find(id))
                    .set((
                        d::title.eq(title.unwrap_or(row.title.clone())),
                        d::description.eq(description.unwrap_or(row.description.clone())),
                        d::recipient_emails
                            .eq(recipients.map_or(row.recipient_emails.clone(), |r| r.into_iter().map(Some).collect())),
                        d::max_file_bytes.eq(max_file),
                        d::max_total_bytes.eq(max_total),
                        d::allowed_types
                            .eq(allowed.map_or(row.allowed_types.clone(), |a| a.into_iter().map(Some).collect())),
                        d::expire_time.eq(expire_time.unwrap_or(row.expire_time)),
                        d::closed_at.eq(new_closed),
                    ))
                    .execute(conn)
                    .await?;
                let after = serde_json::json!({"reopened": reopen && row.closed_at.is_some()});
                audit::record(conn, actor, "dropoff_updated", "upload_dropoff", id, None, Some(after)).await?;
                Ok(store::dropoff(conn, id).await?.expect("updated in this transaction"))
            })
            .await?;
        Ok(store::view(&mut conn, row).await?)
    }

    /// RotateUploadCode: the new code, shown once; the old one stops at once.
    pub async fn rotate_code(&self, caller: &Principal, dropoff_id: &str) -> Result<UploadCode> {
        let row = self.dropoff_for(caller, dropoff_id, Need::Edit).await?;
        let code = UploadCode::generate();
        let hash = code.hash(self.pepper().await?).as_bytes().to_vec();
        let actor = Actor::User(caller.id);
        self.conn()
            .await?
            .transaction::<_, UploadError, _>(async move |conn| {
                use crate::db::schema::upload_dropoffs as d;
                use diesel::{ExpressionMethods as _, QueryDsl as _};
                use diesel_async::RunQueryDsl as _;
                diesel::update(d::table.find(row.id)).set(d::code_hash.eq(hash)).execute(conn).await?;
                audit::record(conn, actor, "dropoff_code_rotated", "upload_dropoff", row.id, None, None).await?;
                Ok(())
            })
            .await?;
        Ok(code)
    }

    pub async fn close_dropoff(&self, caller: &Principal, dropoff_id: &str) -> Result<DropOffView> {
        let row = self.dropoff_for(caller, dropoff_id, Need::Edit).await?;
        let actor = Actor::User(caller.id);
        let mut conn = self.conn().await?;
        let row = conn
            .transaction::<_, UploadError, _>(async move |conn| {
                use crate::db::schema::upload_dropoffs as d;
                use diesel::{ExpressionMethods as _, QueryDsl as _};
                use diesel_async::RunQueryDsl as _;
                diesel::update(d::table.find(row.id).filter(d::closed_at.is_null()))
                    .set(d::closed_at.eq(Utc::now()))
                    .execute(conn)
                    .await?;
                audit::record(conn, actor, "dropoff_closed", "upload_dropoff", row.id, None, None).await?;
                Ok(store::dropoff(conn, row.id).await?.expect("closed in this transaction"))
            })
            .await?;
        Ok(store::view(&mut conn, row).await?)
    }

    /// DeleteDropOff: every upload stops, every file's key is erased now and
    /// its bytes by the expiry job.
    pub async fn delete_dropoff(&self, caller: &Principal, dropoff_id: &str) -> Result<()> {
        let row = self.dropoff_for(caller, dropoff_id, Need::Manage).await?;
        let actor = Actor::User(caller.id);
        let files = self
            .conn()
            .await?
            .transaction::<_, UploadError, _>(async move |conn| {
                use crate::db::schema::{upload_dropoffs as d, upload_files as f};
                use diesel::{ExpressionMethods as _, QueryDsl as _};
                use diesel_async::RunQueryDsl as _;
                diesel::update(d::table.find(row.id)).set(d::deleted_at.eq(Utc::now())).execute(conn).await?;
                let files: Vec<Uuid> =
                    diesel::update(f::table.filter(f::dropoff_id.eq(row.id)).filter(f::status.ne_all(vec![
                        "deleted".to_owned(),
                        "failed".to_owned(),
                        "expired".to_owned(),
                        "terminated".to_owned(),
                    ])))
                    .set((f::status.eq("deleted"), f::wrapped_key.eq(None::<Vec<u8>>), f::writer_id.eq(None::<String>)))
                    .returning(f::id)
                    .get_results(conn)
                    .await?;
                let after = serde_json::json!({"files_erased": files.len()});
                audit::record(conn, actor, "dropoff_deleted", "upload_dropoff", row.id, None, Some(after)).await?;
                Ok(files)
            })
            .await?;
        for id in files {
            self.interrupt_local(id);
            self.remove_bytes(id).await;
        }
        Ok(())
    }

    pub async fn list_files(
        &self,
        caller: &Principal,
        dropoff_id: &str,
        status: Option<&str>,
        after: Option<(DateTime<Utc>, Uuid)>,
        limit: i64,
    ) -> Result<Vec<FileRow>> {
        let row = self.dropoff_for(caller, dropoff_id, Need::View).await?;
        Ok(store::list_files(&mut *self.conn().await?, row.id, status, after, limit).await?)
    }

    /// The file and its drop-off if the caller may `need` it (NOT_FOUND otherwise).
    pub async fn file_for(&self, caller: &Principal, file_id: &str, need: Need) -> Result<(FileRow, DropOffRow)> {
        let not_found = || UploadError::NotFound(format!("no file '{}' that you can see", shown(file_id)));
        let id = parse_id(file_id).ok_or_else(not_found)?;
        let file = store::file(&mut *self.conn().await?, id).await?.ok_or_else(not_found)?;
        let dropoff = match self.dropoff_for(caller, &file.dropoff_id.to_string(), need).await {
            Err(UploadError::NotFound(_)) => return Err(not_found()),
            other => other?,
        };
        Ok((file, dropoff))
    }

    /// DeleteFile: the key is erased in the same transaction; bytes follow.
    pub async fn delete_file(&self, caller: &Principal, file_id: &str) -> Result<()> {
        let (file, _) = self.file_for(caller, file_id, Need::Edit).await?;
        if file.status == "deleted" {
            return Err(UploadError::NotFound(format!("file '{}' is already deleted", file.id)));
        }
        let actor = Actor::User(caller.id);
        self.conn()
            .await?
            .transaction::<_, UploadError, _>(async move |conn| {
                let from = ["uploading", "processing", "available", "external", "failed", "expired", "terminated"];
                store::set_status(conn, file.id, &from, "deleted", None).await?;
                let before = serde_json::json!({"status": file.status, "name": file.name});
                audit::record(conn, actor, "file_deleted", "upload_file", file.id, Some(before), None).await?;
                Ok(())
            })
            .await?;
        self.interrupt_local(file.id);
        self.remove_bytes(file.id).await;
        Ok(())
    }

    /// Removes a file's staging and stored object; failures are left to the
    /// expiry job's sweep (the key is already gone, so nothing is readable).
    pub async fn remove_bytes(&self, id: Uuid) {
        if let Err(e) = self.inner.staging.remove(fid(id)).await {
            tracing::warn!(file = %id, error = %e, "removing staged upload failed; the sweep retries");
        }
        if let Err(e) = self.inner.blobs.delete(&super::seal::object_key(fid(id))).await {
            tracing::warn!(file = %id, error = %e, "removing stored upload failed; the sweep retries");
        }
    }

    /// The plaintext reader of an available file (DownloadFile and the HTTP route).
    pub async fn open_file(
        &self,
        caller: &Principal,
        file_id: &str,
    ) -> Result<(FileRow, crate::blobs::BlobReader<DataKey>)> {
        let (file, _) = self.file_for(caller, file_id, Need::View).await?;
        if file.status == "deleted" {
            return Err(UploadError::NotFound(format!("file '{}' was deleted", file.id)));
        }
        if file.status != "available" {
            return Err(UploadError::Precondition {
                reason: "FILE_NOT_AVAILABLE",
                message: format!("file '{}' is {}, not available for download", file.id, file.status),
            });
        }
        let key = self.data_key(&file)?;
        let blobs = self.inner.blobs.clone();
        let id = file.id;
        let reader = tokio::task::spawn_blocking(move || {
            blobs.open_reader(&super::seal::object_key(fid(id)), &key, &super::seal::object_aad(fid(id)))
        })
        .await
        .map_err(UploadError::internal)?
        .map_err(|e| match e {
            crate::blobs::BlobError::Corrupt { reason, .. } => UploadError::DataLoss(reason.to_owned()),
            other => UploadError::internal(other),
        })?;
        let actor = Actor::User(caller.id);
        audit::record(&mut *self.conn().await?, actor, "file_downloaded", "upload_file", id, None, None).await?;
        Ok((file, reader))
    }

    // ---- uploaders ----

    /// Checks `uploader`'s code for the drop-off `row` (§2.3): missing →
    /// UNAUTHENTICATED; too many recent failures → RESOURCE_EXHAUSTED; wrong →
    /// PERMISSION_DENIED, counted.
    async fn check_code(&self, conn: &mut AsyncPgConnection, row: &DropOffRow, uploader: &Uploader) -> Result<()> {
        let Some(typed) = uploader.code.as_deref().filter(|c| !c.trim().is_empty()) else {
            return Err(UploadError::CodeMissing);
        };
        let (pair, total) = store::code_failures(conn, row.id, &uploader.address, PAIR_WINDOW, DROPOFF_WINDOW).await?;
        if pair >= PAIR_FAILURES {
            return Err(UploadError::TooManyAttempts { retry_after: PAIR_WINDOW });
        }
        if total >= DROPOFF_FAILURES {
            return Err(UploadError::TooManyAttempts { retry_after: DROPOFF_WINDOW });
        }
        let pepper = self.pepper().await?;
        let stored = CodeHash::from_slice(&row.code_hash)
            .ok_or_else(|| UploadError::internal(anyhow::anyhow!("a stored code hash of the wrong length")))?;
        if UploadCode::parse(typed).is_some_and(|code| code.verify(pepper, &stored)) {
            return Ok(());
        }
        store::record_code_failure(conn, row.id, &uploader.address).await?;
        Err(UploadError::CodeInvalid)
    }

    /// The drop-off an uploader names, with their code checked.
    async fn dropoff_with_code(
        &self,
        conn: &mut AsyncPgConnection,
        dropoff_id: &str,
        uploader: &Uploader,
    ) -> Result<DropOffRow> {
        let not_found = || UploadError::NotFound(format!("there is no drop-off '{}'", shown(dropoff_id)));
        let id = parse_id(dropoff_id).ok_or_else(not_found)?;
        let row = store::dropoff(conn, id).await?.ok_or_else(not_found)?;
        self.check_code(conn, &row, uploader).await?;
        Ok(row)
    }

    /// OpenDropOff: the drop-off's uploader view, if the code is right.
    pub async fn open(&self, dropoff_id: &str, uploader: &Uploader) -> Result<Opened> {
        let mut conn = self.conn().await?;
        let row = self.dropoff_with_code(&mut conn, dropoff_id, uploader).await?;
        check_open(&row)?;
        let (used, _) = store::usage(&mut conn, row.id).await?;
        Ok(Opened { remaining_bytes: (row.max_total_bytes - used).max(0), row })
    }

    /// The drop-off of an upload (not deleted), with the code checked;
    /// an upload the code does not open is NOT_FOUND... after the check, so
    /// the code is counted and guessing stays limited.
    pub async fn upload_with_code(&self, upload_id: &str, uploader: &Uploader) -> Result<(FileRow, DropOffRow)> {
        let not_found = || UploadError::NotFound(format!("there is no upload '{}'", shown(upload_id)));
        let id = parse_id(upload_id).ok_or_else(not_found)?;
        let mut conn = self.conn().await?;
        let file = store::file(&mut conn, id).await?.ok_or_else(not_found)?;
        let row = store::dropoff(&mut conn, file.dropoff_id)
            .await?
            .ok_or_else(|| UploadError::Gone(format!("upload '{id}' belonged to a deleted drop-off")))?;
        self.check_code(&mut conn, &row, uploader).await?;
        Ok((file, row))
    }

    /// CreateUpload / tus POST: checks the drop-off, code, size, type,
    /// quota (under the drop-off's row lock) and staging space, then creates
    /// the row and staging.
    pub async fn create_upload(&self, new: NewUpload, uploader: &Uploader) -> Result<FileRow> {
        let mut conn = self.conn().await?;
        let row = self.dropoff_with_code(&mut conn, &new.dropoff_id, uploader).await?;
        if let Some(request_id) = new.request_id.as_deref()
            && let Some(existing) = store::file_by_request(&mut conn, row.id, request_id).await?
        {
            return Ok(existing);
        }
        check_open(&row)?;
        let size = new.size.map(|s| i64::try_from(s).unwrap_or(i64::MAX));
        if let Some(size) = size
            && size > row.max_file_bytes
        {
            return Err(UploadError::TooLarge(format!(
                "size: the file has {size} bytes; this drop-off takes files of at most {} bytes",
                row.max_file_bytes
            )));
        }
        let id = new_uuid();
        let name = names::sanitize_file_name(&new.name, &id.to_string());
        let content_type = names::content_type(Some(&new.content_type));
        let allowed = AllowedTypes::parse(&row.allowed())
            .map_err(|e| UploadError::internal(anyhow::anyhow!("stored allowed types do not parse: {e:?}")))?;
        if !allowed.allows(&name, &content_type) {
            return Err(UploadError::TypeNotAllowed(format!(
                "content_type: '{content_type}' files like '{name}' are not accepted here; allowed: {}",
                row.allowed().join(", ")
            )));
        }
        let relative_path = new.relative_path.as_deref().and_then(names::sanitize_relative_path).unwrap_or_default();
        let mut dek = [0u8; 32];
        SystemRandom::new().fill(&mut dek).map_err(|_| UploadError::internal(anyhow::anyhow!("system RNG failed")))?;
        let wrapped = self.inner.keyring.seal(&dek, &dek_aad(&id));
        let expire_time = self.upload_expiry(&row);
        let record = NewFile {
            id,
            dropoff_id: row.id,
            name,
            relative_path,
            size,
            content_type,
            metadata: serde_json::to_value(&new.metadata).map_err(UploadError::internal)?,
            protocol: new.protocol.as_str().to_owned(),
            expected_sha256: new.expected_sha256.clone(),
            wrapped_key: Some(wrapped),
            key_id: self.inner.keyring.current_key_id().to_owned(),
            request_id: new.request_id.clone(),
            expire_time,
        };
        self.inner.staging.create(fid(id)).await.map_err(staging_error)?;
        let dropoff_id = row.id;
        let created = conn
            .transaction::<_, UploadError, _>(async move |conn| {
                let row = store::dropoff_for_update(conn, dropoff_id)
                    .await?
                    .ok_or_else(|| UploadError::NotFound("the drop-off was deleted meanwhile".into()))?;
                let (used, _) = store::usage(conn, dropoff_id).await?;
                let adding = record.size.unwrap_or(0);
                if used.saturating_add(adding) > row.max_total_bytes {
                    return Err(UploadError::QuotaExceeded(format!(
                        "this drop-off holds at most {} bytes and {used} are used; the file has {adding}",
                        row.max_total_bytes
                    )));
                }
                // A deferred length reserves nothing: the reserve alone must fit.
                let settings = &self.inner.settings;
                super::space::ensure_room(&settings.staging_dir, adding as u64, settings.staging_reserve).await?;
                Ok(store::insert_file(conn, &record).await?)
            })
            .await;
        match created {
            Ok(file) => Ok(file),
            Err(err) => {
                let _ = self.inner.staging.remove(fid(id)).await;
                // A concurrent retry with the same request id won the insert.
                if let Some(request_id) = new.request_id.as_deref()
                    && let Some(existing) = store::file_by_request(&mut conn, row.id, request_id).await?
                {
                    return Ok(existing);
                }
                Err(err)
            }
        }
    }

    /// GetUpload / tus HEAD: the upload's state; never takes the lease.
    pub async fn get_upload(&self, upload_id: &str, uploader: &Uploader) -> Result<FileRow> {
        Ok(self.upload_with_code(upload_id, uploader).await?.0)
    }

    /// Writes `body` at `offset` under the writer lease and commits it to
    /// staging (synced before the database records the offset).
    ///
    /// The write runs in its own task: a client that disconnects makes the
    /// server drop its request, and what it sent until then must still be
    /// committed.
    pub async fn write<S, E>(
        &self,
        upload_id: &str,
        uploader: &Uploader,
        offset: u64,
        body: S,
        mode: WriteMode,
    ) -> Result<WriteOutcome>
    where
        S: Stream<Item = std::result::Result<Bytes, E>> + Send + 'static,
        E: std::fmt::Display + Send + 'static,
    {
        let (file, dropoff) = self.upload_with_code(upload_id, uploader).await?;
        check_writable(&file)?;
        if let Some(len) = mode.body_len.filter(|len| *len > 0) {
            let settings = &self.inner.settings;
            super::space::ensure_room(&settings.staging_dir, len, settings.staging_reserve).await?;
        }
        self.listen_for_newcomers();
        let this = self.clone();
        let task = tokio::spawn(async move {
            let (file, notify) = this.take_lease(file.id).await?;
            let result = this.write_leased(&file, &dropoff, offset, body, mode, &notify).await;
            // A write that ends well gave the lease up with its last commit.
            // Released while still registered, so that no newer request of
            // this process (the same writer id) has taken it meanwhile.
            if result.is_err()
                && let Ok(mut conn) = this.conn().await
            {
                let _ = store::release_lease(&mut conn, file.id, &this.inner.writer_id).await;
            }
            this.unregister_holder(file.id, &notify);
            result
        });
        task.await.map_err(UploadError::internal)?
    }

    async fn write_leased<S, E>(
        &self,
        file: &FileRow,
        dropoff: &DropOffRow,
        offset: u64,
        body: S,
        mode: WriteMode,
        interrupted: &Notify,
    ) -> Result<WriteOutcome>
    where
        S: Stream<Item = std::result::Result<Bytes, E>> + Send,
        E: std::fmt::Display,
    {
        let committed = file.committed_offset as u64;
        if offset > committed || (mode.exact_offset && offset != committed) {
            return Err(UploadError::OffsetMismatch { current: committed, sent: offset });
        }
        let size = match (file.size, mode.declare_length) {
            (Some(size), Some(declared)) if size as u64 != declared => {
                return Err(UploadError::invalid(
                    "Upload-Length",
                    format!("the upload's length is already {size}; it cannot change to {declared}"),
                ));
            }
            (Some(size), _) => Some(size as u64),
            (None, Some(declared)) => {
                if declared > dropoff.max_file_bytes as u64 {
                    return Err(UploadError::TooLarge(format!(
                        "the file has {declared} bytes; this drop-off takes files of at most {} bytes",
                        dropoff.max_file_bytes
                    )));
                }
                if declared < committed {
                    return Err(UploadError::invalid(
                        "Upload-Length",
                        format!("{declared} is less than the {committed} bytes already received"),
                    ));
                }
                Some(declared)
            }
            (None, None) => None,
        };
        if let (Some(size), Some(len)) = (size, mode.body_len)
            && offset.saturating_add(len) > size
        {
            return Err(UploadError::SizeExceeded(format!(
                "bytes {offset}..{} go past the upload's declared size of {size} bytes",
                offset.saturating_add(len)
            )));
        }
        // Deferred uploads are bounded by the file limit and what is left of the quota.
        let limit = match size {
            Some(size) => size,
            None => {
                let (used, _) = store::usage(&mut *self.conn().await?, dropoff.id).await?;
                let others = used - file.committed_offset;
                (dropoff.max_file_bytes as u64).min((dropoff.max_total_bytes - others).max(0) as u64)
            }
        };
        let key = self.data_key(file)?;
        let mut writer = self.inner.staging.writer(fid(file.id), key, committed).await.map_err(staging_error)?;
        let mut hasher = mode.checksum.as_ref().map(|c| ring::digest::Context::new(c.algorithm));
        let mut position = offset;
        let mut since_commit = 0u64;
        let mut last_commit = tokio::time::Instant::now();
        // When this writer last made sure it holds the lease (taking it did).
        let mut renewed = last_commit;
        let mut tick = tokio::time::interval(COMMIT_EVERY);
        tick.tick().await;
        let mut body = std::pin::pin!(body);
        let mut failure: Option<UploadError> = None;
        let interruption = interrupted.notified();
        let mut interruption = std::pin::pin!(interruption);
        loop {
            let chunk = tokio::select! {
                biased;
                _ = &mut interruption => {
                    // A newcomer continues from the committed offset; what we did not commit is dropped.
                    let committed = self.committed(file.id).await?;
                    return Err(UploadError::Interrupted { committed });
                }
                _ = tick.tick() => {
                    self.renew_lease(file.id, &mut renewed).await?;
                    if hasher.is_none() && since_commit > 0 {
                        self.commit(file, dropoff, &mut writer, size).await?;
                        since_commit = 0;
                    }
                    continue;
                }
                chunk = body.next() => chunk,
            };
            let chunk = match chunk {
                None => break,
                Some(Ok(chunk)) => chunk,
                Some(Err(e)) => {
                    tracing::debug!(file = %file.id, error = %e, "upload body ended early");
                    failure = Some(UploadError::invalid(
                        "body",
                        "the request body ended early; resume from the offset HEAD or GetUpload reports",
                    ));
                    break;
                }
            };
            if let Some(h) = hasher.as_mut() {
                h.update(&chunk);
            }
            let end = position + chunk.len() as u64;
            // Bytes below the committed offset were written by an earlier try.
            let already = writer.offset().saturating_sub(position).min(chunk.len() as u64) as usize;
            position = end;
            let fresh = &chunk[already..];
            if fresh.is_empty() {
                continue;
            }
            self.renew_lease(file.id, &mut renewed).await?;
            let room = limit.saturating_sub(writer.offset());
            if fresh.len() as u64 > room {
                writer.write(&fresh[..room as usize]).await.map_err(staging_error)?;
                failure = Some(match size {
                    Some(size) => UploadError::SizeExceeded(format!(
                        "the data goes past the upload's declared size of {size} bytes"
                    )),
                    None => UploadError::TooLarge(format!(
                        "the upload would exceed {limit} bytes (the drop-off's file limit or what is left of its quota)"
                    )),
                });
                break;
            }
            writer.write(fresh).await.map_err(staging_error)?;
            since_commit += fresh.len() as u64;
            if hasher.is_none() && (since_commit >= COMMIT_BYTES || last_commit.elapsed() >= COMMIT_EVERY) {
                self.commit(file, dropoff, &mut writer, size).await?;
                since_commit = 0;
                last_commit = tokio::time::Instant::now();
                renewed = last_commit;
            }
        }
        if let (Some(h), Some(expected)) = (hasher, mode.checksum.as_ref()) {
            // A checksummed body is all or nothing: an incomplete or wrong one commits nothing.
            if let Some(err) = failure {
                return Err(err);
            }
            if h.finish().as_ref() != expected.digest.as_slice() {
                return Err(UploadError::ChecksumMismatch);
            }
        }
        self.renew_lease(file.id, &mut renewed).await?;
        let complete = mode.complete_when_full && failure.is_none() && size.is_some_and(|s| writer.offset() == s);
        let file = self.commit_final(file, dropoff, &mut writer, size, complete).await?;
        match failure {
            Some(err) => Err(err),
            None => Ok(WriteOutcome { completed: complete, file }),
        }
    }

    /// Syncs staging and records the offset; INTERRUPTED when the lease was lost.
    async fn commit(
        &self,
        file: &FileRow,
        dropoff: &DropOffRow,
        writer: &mut super::staging::StagingWriter,
        size: Option<u64>,
    ) -> Result<()> {
        let commit = self.commit_of(writer, dropoff, size, false).await?;
        match store::commit_offset(&mut *self.conn().await?, file.id, &self.inner.writer_id, commit).await? {
            Some(_) => Ok(()),
            None => Err(self.lost(file.id).await),
        }
    }

    /// The last commit of a request, which also gives up the lease; with
    /// `complete`, the file moves to processing and its finalize job is
    /// queued in the same transaction.
    async fn commit_final(
        &self,
        file: &FileRow,
        dropoff: &DropOffRow,
        writer: &mut super::staging::StagingWriter,
        size: Option<u64>,
        complete: bool,
    ) -> Result<FileRow> {
        let commit = self.commit_of(writer, dropoff, size, true).await?;
        let (id, writer_id) = (file.id, self.inner.writer_id.clone());
        let mut conn = self.conn().await?;
        if !complete {
            // One statement, no transaction around it: the common WriteChunk.
            return match store::commit_offset(&mut conn, id, &writer_id, commit).await? {
                Some(file) => Ok(file),
                None => Err(self.lost(id).await),
            };
        }
        let expected = file.expected_sha256.clone();
        conn.transaction::<_, UploadError, _>(async move |conn| {
            if store::commit_offset(conn, id, &writer_id, commit).await?.is_none() {
                return Err(lost(store::file(conn, id).await?));
            }
            store::mark_processing(conn, id, expected.as_deref()).await?;
            enqueue_finalize(conn, id).await?;
            Ok(store::file(conn, id).await?.expect("updated in this transaction"))
        })
        .await
    }

    /// Makes the staged bytes durable and says what to record of them.
    async fn commit_of(
        &self,
        writer: &mut super::staging::StagingWriter,
        dropoff: &DropOffRow,
        size: Option<u64>,
        release: bool,
    ) -> Result<store::Commit> {
        let offset = writer.sync().await.map_err(staging_error)?;
        Ok(store::Commit {
            offset: offset as i64,
            size: size.map(|s| s as i64),
            expire_time: self.upload_expiry(dropoff),
            release,
        })
    }

    /// Why a commit found the lease gone: the upload ended (cancelled,
    /// expired, its drop-off deleted) or another writer took over.
    async fn lost(&self, id: Uuid) -> UploadError {
        match self.conn().await {
            Ok(mut conn) => match store::file(&mut conn, id).await {
                Ok(file) => lost(file),
                Err(err) => err.into(),
            },
            Err(err) => err,
        }
    }

    /// Renews the writer lease of `id` unless that was done within
    /// [`LEASE_RENEW`], so it never goes stale while the request lives. After
    /// a longer gap (this process was paused past [`LEASE_STALE`], say) it
    /// also finds out whether another writer took over before anything more
    /// reaches staging: INTERRUPTED when one did, or the upload ended.
    async fn renew_lease(&self, id: Uuid, renewed: &mut tokio::time::Instant) -> Result<()> {
        use crate::db::schema::upload_files as f;
        use diesel::{ExpressionMethods as _, QueryDsl as _};
        use diesel_async::RunQueryDsl as _;
        if renewed.elapsed() < LEASE_RENEW {
            return Ok(());
        }
        let held = diesel::update(f::table.find(id))
            .filter(f::writer_id.eq(&self.inner.writer_id))
            .filter(f::status.eq("uploading"))
            .set(f::writer_seen_at.eq(Utc::now()))
            .execute(&mut *self.conn().await?)
            .await?;
        if held == 0 {
            // Another writer took over (and may have finished the upload), or the upload ended.
            let file = store::file(&mut *self.conn().await?, id).await?;
            let live = ["uploading", "processing", "available", "external"];
            return Err(match file {
                Some(file) if !live.contains(&file.status.as_str()) => gone(&file),
                file => UploadError::Interrupted { committed: file.map_or(0, |f| f.committed_offset as u64) },
            });
        }
        *renewed = tokio::time::Instant::now();
        Ok(())
    }

    async fn committed(&self, id: Uuid) -> Result<u64> {
        Ok(store::file(&mut *self.conn().await?, id).await?.map_or(0, |f| f.committed_offset as u64))
    }

    /// FinalizeUpload: all bytes in, digest given → processing + finalize job.
    pub async fn finalize(&self, upload_id: &str, uploader: &Uploader, sha256: &str) -> Result<FileRow> {
        let digest = sha256.trim().to_ascii_lowercase();
        if digest.len() != 64 || !digest.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(UploadError::invalid("sha256", "must be the file's SHA-256 as 64 hex digits"));
        }
        let (file, _) = self.upload_with_code(upload_id, uploader).await?;
        match file.status.as_str() {
            "uploading" => {}
            "processing" | "available" | "failed" if file.expected_sha256.as_deref() == Some(digest.as_str()) => {
                return Ok(file);
            }
            "processing" | "available" => {
                return Err(UploadError::Precondition {
                    reason: "UPLOAD_FINALIZED",
                    message: "the upload was already finalized with a different SHA-256".into(),
                });
            }
            _ => return Err(gone(&file)),
        }
        let size = file.size.unwrap_or(-1);
        if file.committed_offset != size {
            return Err(UploadError::Incomplete { current: file.committed_offset as u64, size: size.max(0) as u64 });
        }
        let id = file.id;
        self.conn()
            .await?
            .transaction::<_, UploadError, _>(async move |conn| {
                if store::mark_processing(conn, id, Some(&digest)).await? {
                    enqueue_finalize(conn, id).await?;
                }
                Ok(store::file(conn, id).await?.expect("exists"))
            })
            .await
    }

    /// CancelUpload / tus DELETE: only while uploading; staging goes, quota returns.
    pub async fn cancel(&self, upload_id: &str, uploader: &Uploader) -> Result<()> {
        let (file, _) = self.upload_with_code(upload_id, uploader).await?;
        match file.status.as_str() {
            "uploading" => {}
            "processing" | "available" | "external" => {
                return Err(UploadError::Finished(
                    "the upload is complete; only the drop-off's owner can delete it".into(),
                ));
            }
            _ => return Err(gone(&file)),
        }
        let (file, notify) = self.take_lease(file.id).await?;
        let mut conn = self.conn().await?;
        let ended = store::set_status(&mut conn, file.id, &["uploading"], "terminated", None).await;
        self.unregister_holder(file.id, &notify);
        ended?;
        drop(conn);
        self.remove_bytes(file.id).await;
        Ok(())
    }

    // ---- lease ----

    /// Takes the writer lease (in the database for other replicas, in
    /// `holders` for this process), asking a holder to let go and waiting up
    /// to [`LEASE_WAIT`]; UPLOAD_LOCKED when it does not.
    async fn take_lease(&self, id: Uuid) -> Result<(FileRow, Arc<Notify>)> {
        let deadline = tokio::time::Instant::now() + LEASE_WAIT;
        let mut asked = false;
        loop {
            let mut conn = self.conn().await?;
            if let Some(file) = store::take_lease(&mut conn, id, &self.inner.writer_id, LEASE_STALE).await? {
                // Our own process may hold it for an older request: that one must stop first.
                if let Some(notify) = self.register_holder(id) {
                    return Ok((file, notify));
                }
            } else if let Some(file) = store::file(&mut conn, id).await?
                && file.status != "uploading"
            {
                return Err(gone(&file));
            }
            if !asked {
                asked = true;
                self.interrupt_local(id);
                let _ = diesel_async::SimpleAsyncConnection::batch_execute(
                    &mut *conn,
                    &format!("NOTIFY {RELEASE_CHANNEL}, '{id} {}'", self.inner.writer_id),
                )
                .await;
            }
            drop(conn);
            if tokio::time::Instant::now() >= deadline {
                return Err(UploadError::Locked);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Registers this request as the writer of `id`; `None` while another
    /// request of this process still is.
    fn register_holder(&self, id: Uuid) -> Option<Arc<Notify>> {
        let mut holders = self.inner.holders.lock().unwrap_or_else(|e| e.into_inner());
        if holders.contains_key(&id) {
            return None;
        }
        let notify = Arc::new(Notify::new());
        holders.insert(id, notify.clone());
        Some(notify)
    }

    fn unregister_holder(&self, id: Uuid, notify: &Arc<Notify>) {
        let mut holders = self.inner.holders.lock().unwrap_or_else(|e| e.into_inner());
        if holders.get(&id).is_some_and(|n| Arc::ptr_eq(n, notify)) {
            holders.remove(&id);
        }
    }

    /// Asks this process's writer of `id`, if any, to let go.
    pub fn interrupt_local(&self, id: Uuid) {
        if let Some(notify) = self.inner.holders.lock().unwrap_or_else(|e| e.into_inner()).get(&id) {
            notify.notify_one();
        }
    }

    /// Starts (once) the `LISTEN` through which newcomers on other replicas
    /// ask this process's writers to let go. Only writers need it, so it
    /// starts with the first write; it ends when the service is dropped.
    fn listen_for_newcomers(&self) {
        if self.inner.listening.set(()).is_err() {
            return;
        }
        let weak = Arc::downgrade(&self.inner);
        let pool = self.inner.pool.clone();
        tokio::spawn(async move {
            let mut backoff = Duration::from_millis(100);
            loop {
                let session = async {
                    let conn = pool.get().await.map_err(|e| anyhow::anyhow!("database pool: {e}"))?;
                    let mut conn = diesel_async::pooled_connection::deadpool::Object::take(conn);
                    diesel_async::SimpleAsyncConnection::batch_execute(&mut conn, &format!("LISTEN {RELEASE_CHANNEL}"))
                        .await?;
                    let mut notifications = std::pin::pin!(conn.notifications_stream());
                    let mut idle = tokio::time::interval(Duration::from_secs(30));
                    loop {
                        tokio::select! {
                            notification = notifications.next() => {
                                let Some(notification) = notification else { return anyhow::Ok(false) };
                                let Some(inner) = weak.upgrade() else { return Ok(true) };
                                // `<file id> <writer id>`; this process already woke its own writer.
                                let payload = notification?.payload;
                                let (id, from) = payload.split_once(' ').unwrap_or((payload.as_str(), ""));
                                if let Ok(id) = Uuid::parse_str(id)
                                    && from != inner.writer_id
                                {
                                    Uploads { inner }.interrupt_local(id);
                                }
                            }
                            _ = idle.tick() => {
                                if weak.strong_count() == 0 {
                                    return Ok(true);
                                }
                            }
                        }
                    }
                };
                match session.await {
                    Ok(true) => return,
                    Ok(false) => tracing::warn!("upload release listener disconnected; reconnecting"),
                    Err(e) => tracing::warn!(error = %e, "upload release listener failed; reconnecting"),
                }
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(10));
                if weak.strong_count() == 0 {
                    return;
                }
            }
        });
    }

    // ---- keys, pepper, limits ----

    /// The file's data key, unwrapped.
    pub fn data_key(&self, file: &FileRow) -> Result<DataKey> {
        let wrapped =
            file.wrapped_key.as_deref().ok_or_else(|| UploadError::Gone(format!("file '{}' was erased", file.id)))?;
        open_data_key(&self.inner.keyring, file.id, wrapped).map_err(UploadError::Internal)
    }

    async fn pepper(&self) -> Result<&Pepper> {
        self.inner
            .pepper
            .get_or_try_init(|| async {
                let aad = crate::secretshare::store::sealed_secret_aad(PEPPER_SECRET);
                let sealed = crate::secretshare::store::sealed_secret(&mut *self.conn().await?, PEPPER_SECRET, || {
                    self.inner.keyring.seal(Pepper::generate().as_bytes(), &aad)
                })
                .await?;
                let bytes = self.inner.keyring.open(&sealed, &aad).map_err(UploadError::internal)?;
                let bytes: [u8; 32] = bytes
                    .try_into()
                    .map_err(|_| UploadError::internal(anyhow::anyhow!("a pepper of the wrong length")))?;
                Ok(Pepper::from_bytes(bytes))
            })
            .await
    }

    fn upload_expiry(&self, dropoff: &DropOffRow) -> DateTime<Utc> {
        let ttl = chrono::Duration::from_std(self.inner.settings.incomplete_ttl).unwrap_or(chrono::Duration::days(1));
        (Utc::now() + ttl).min(dropoff.expire_time + AFTER_DROPOFF_EXPIRY)
    }

    fn check_recipients(&self, emails: &[String]) -> Result<Vec<String>> {
        if emails.len() > 20 {
            return Err(UploadError::invalid("recipient_emails", "at most 20 recipients"));
        }
        let mut seen = Vec::<String>::new();
        for email in emails {
            let email = email.trim();
            if !valid_email(email) {
                return Err(UploadError::invalid(
                    "recipient_emails",
                    format!("'{}' is not an e-mail address", shown(email)),
                ));
            }
            if !seen.iter().any(|s| s.eq_ignore_ascii_case(email)) {
                seen.push(email.to_owned());
            }
        }
        if !seen.is_empty() && self.inner.env == Environment::Production && self.inner.settings.smtp_url.is_none() {
            return Err(UploadError::Precondition {
                reason: "EMAIL_NOT_CONFIGURED",
                message: "e-mail is not configured on this server (STEWARD_SMTP_URL); leave recipient_emails empty"
                    .into(),
            });
        }
        Ok(seen)
    }

    fn check_limits(&self, max_file: Option<i64>, max_total: Option<i64>) -> Result<(i64, i64)> {
        let file_cap = self.inner.settings.max_file_bytes as i64;
        let total_cap = self.inner.settings.max_dropoff_bytes as i64;
        let max_file = max_file.filter(|n| *n != 0).unwrap_or(file_cap);
        if !(1..=file_cap).contains(&max_file) {
            return Err(UploadError::invalid(
                "max_file_bytes",
                format!("must be from 1 to {file_cap} (this server's largest file)"),
            ));
        }
        let max_total = max_total.filter(|n| *n != 0).unwrap_or(total_cap);
        if max_total < max_file || max_total > total_cap {
            return Err(UploadError::invalid(
                "max_total_bytes",
                format!("must be from max_file_bytes ({max_file}) to {total_cap} (this server's largest drop-off)"),
            ));
        }
        Ok((max_file, max_total))
    }

    fn check_expiry(&self, expire_time: DateTime<Utc>) -> Result<DateTime<Utc>> {
        let now = Utc::now();
        let latest = now + chrono::Duration::days(i64::from(self.inner.settings.max_expiry_days));
        if expire_time <= now || expire_time > latest {
            return Err(UploadError::invalid(
                "expire_time",
                format!("must lie in the future and at most {} days ahead", self.inner.settings.max_expiry_days),
            ));
        }
        Ok(expire_time)
    }
}

/// Queues the finalize job of a file (idempotent per file).
pub async fn enqueue_finalize(conn: &mut AsyncPgConnection, id: Uuid) -> diesel::QueryResult<()> {
    let job = crate::jobs::NewJob::new(FINALIZE_JOB, serde_json::json!({"file_id": id.to_string()}))
        .dedup_key(format!("{FINALIZE_JOB}:{id}"))
        .max_attempts(10);
    crate::jobs::enqueue(conn, job).await?;
    Ok(())
}

/// Whether a drop-off takes new uploads.
fn check_open(row: &DropOffRow) -> Result<()> {
    if row.closed_at.is_some() {
        return Err(UploadError::DropOffClosed("the drop-off is closed: its owner stopped new uploads".into()));
    }
    if row.expire_time <= Utc::now() {
        return Err(UploadError::DropOffClosed(format!(
            "the drop-off expired at {}; ask its owner to extend it",
            row.expire_time.to_rfc3339()
        )));
    }
    Ok(())
}

/// An upload that can take bytes.
fn check_writable(file: &FileRow) -> Result<()> {
    match file.status.as_str() {
        "uploading" => Ok(()),
        "processing" | "available" | "external" => {
            Err(UploadError::Finished(format!("upload '{}' is complete; it takes no more data", file.id)))
        }
        _ => Err(gone(file)),
    }
}

/// UPLOAD_GONE for a tombstone.
/// A lost lease: [`gone`] when the upload was ended (cancelled, expired,
/// deleted), else interrupted, also when another writer finished it (§2.8).
fn lost(file: Option<FileRow>) -> UploadError {
    match file {
        Some(file) if !matches!(file.status.as_str(), "uploading" | "processing" | "available") => gone(&file),
        Some(file) => UploadError::Interrupted { committed: file.committed_offset as u64 },
        None => UploadError::Gone("the upload no longer exists".into()),
    }
}

fn gone(file: &FileRow) -> UploadError {
    UploadError::Gone(format!("upload '{}' is {}", file.id, file.status))
}

fn staging_error(err: StagingError) -> UploadError {
    match err {
        StagingError::Missing(_) => UploadError::StagingUnavailable,
        StagingError::Busy(_) => UploadError::Locked,
        other => UploadError::internal(other),
    }
}

fn check_title(title: &str) -> Result<String> {
    let title = title.trim();
    let len = title.chars().count();
    if len == 0 || len > 200 {
        return Err(UploadError::invalid("title", "must be 1 to 200 characters"));
    }
    // One line of text; PostgreSQL cannot store a NUL at all.
    if title.chars().any(char::is_control) {
        return Err(UploadError::invalid("title", "must not contain control characters (line breaks, tabs, NUL)"));
    }
    Ok(title.to_owned())
}

fn check_description(description: &str) -> Result<String> {
    if description.chars().count() > 4000 {
        return Err(UploadError::invalid("description", "must be at most 4000 characters"));
    }
    if description.chars().any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t')) {
        return Err(UploadError::invalid(
            "description",
            "must not contain control characters other than line breaks and tabs",
        ));
    }
    Ok(description.to_owned())
}

fn check_allowed_types(entries: &[String]) -> Result<Vec<String>> {
    AllowedTypes::parse(entries).map_err(|e| UploadError::invalid("allowed_types", format!("{e}")))?;
    Ok(entries.iter().map(|e| e.trim().to_owned()).collect())
}

/// A plain `local@domain` address without spaces, controls or brackets (the
/// transport re-checks with lettre's parser before sending).
fn valid_email(email: &str) -> bool {
    let Some((local, domain)) = email.rsplit_once('@') else {
        return false;
    };
    !local.is_empty()
        && local.len() <= 64
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && email.len() <= 254
        && email.chars().all(|c| {
            c.is_ascii_graphic() && !matches!(c, '<' | '>' | '(' | ')' | ',' | ';' | ':' | '\\' | '"' | '[' | ']')
        })
        && !domain.contains('@')
}

/// Unwraps a file's data key with the keyring.
pub fn open_data_key(keyring: &Keyring, id: Uuid, wrapped: &[u8]) -> anyhow::Result<DataKey> {
    let bytes = keyring.open(wrapped, &dek_aad(&id))?;
    let bytes: [u8; 32] = bytes.try_into().map_err(|_| anyhow::anyhow!("a data key of the wrong length"))?;
    Ok(DataKey::from_bytes(&bytes))
}

/// The staging and object id of a file.
pub fn fid(id: Uuid) -> FileId {
    FileId::from_bytes(*id.as_bytes())
}

/// AAD of a file's wrapped data key.
pub(crate) fn dek_aad(id: &Uuid) -> Vec<u8> {
    let mut aad = DEK_CONTEXT.to_vec();
    aad.extend_from_slice(id.as_bytes());
    aad
}

/// A random (version 4) UUID from ring's generator.
pub fn new_uuid() -> Uuid {
    let mut bytes = [0u8; 16];
    SystemRandom::new().fill(&mut bytes).expect("the system RNG works");
    uuid::Builder::from_random_bytes(bytes).into_uuid()
}

/// A lowercase hyphenated UUID (other spellings are accepted and normalised).
pub fn parse_id(id: &str) -> Option<Uuid> {
    crate::donation::model::normalize_uuid(id.trim()).and_then(|s| Uuid::parse_str(&s).ok())
}

/// An identifier as it may appear in a message: at most 64 printable characters.
fn shown(id: &str) -> String {
    id.chars().filter(|c| !c.is_control()).take(64).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Control characters are refused as bad input, never left for the
    /// database to fail on (a NUL made CreateDropoff answer INTERNAL).
    #[test]
    fn titles_and_descriptions_refuse_control_characters() {
        assert_eq!(check_title("  Scans 2026 ").unwrap(), "Scans 2026");
        for bad in ["a\u{0}b", "two\nlines", "tab\there"] {
            assert!(matches!(check_title(bad), Err(UploadError::Invalid { .. })), "{bad:?}");
        }
        assert!(check_description("line one\nline two\twith a tab\r\n").is_ok());
        assert!(matches!(check_description("nul \u{0} here"), Err(UploadError::Invalid { .. })));
    }

    #[test]
    fn ids_are_version_4_and_parse_back() {
        let id = new_uuid();
        assert_eq!(id.get_version_num(), 4);
        assert_eq!(parse_id(&id.to_string().to_uppercase()), Some(id));
        assert_eq!(parse_id("../etc"), None);
    }

    #[test]
    fn recipients_are_plain_addresses() {
        assert!(valid_email("a.b+c@example.org"));
        assert!(!valid_email("a@b"));
        assert!(!valid_email("Alice <a@example.org>"));
        assert!(!valid_email("a@example.org\r\nBcc: x@evil.test"));
        assert!(!valid_email("@example.org"));
    }
}
