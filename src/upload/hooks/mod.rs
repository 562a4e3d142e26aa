//! tusd hook compatibility (spec upload.md §4): an existing tusd (v1.x or
//! v2.x) keeps receiving the bytes while Steward checks drop-offs and codes,
//! records the files, optionally imports the bytes and notifies recipients.
//!
//! - this module: the hook, whatever its transport, as [`Hook`], and what
//!   Steward does for each type (§4.6) as an [`Answer`];
//! - [`http`]: `POST /datadrops/webhook/`, tusd's v1 and v2 JSON formats (§4.2–4.4);
//! - [`grpc`]: tusd 2.x's `proto.HookHandler/InvokeHook` (§4.5);
//! - [`import`]: the job copying a finished upload out of tusd's filestore
//!   or bucket into sealed storage (§4.7).
//!
//! Every handler is idempotent and keyed by tusd's upload id: tusd retries
//! hooks and may deliver them out of order (pre-create always comes first).

pub mod grpc;
pub mod http;
pub mod import;

use std::collections::BTreeMap;

use chrono::Utc;
use diesel::prelude::*;
use diesel_async::{AsyncConnection as _, AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use super::config::TusdConfig;
use super::error::{Result, UploadError};
use super::metadata::Metadata;
use super::names::{self, AllowedTypes};
use super::ops::{NewUpload, Protocol, Uploader, Uploads, fid, parse_id};
use super::store::{self, FileRow};
use super::tus::TusError;
use super::tus::status::{Addressed, tus_status};
use crate::db::schema::upload_files;

/// The `protocol` of files recorded from hooks.
pub const PROTOCOL: &str = "tusd_hook";
/// The header carrying the upload code in the client's request to tusd.
pub const CODE_HEADER: &str = "Dropoff-Code";

/// Which hook fired.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HookType {
    PreCreate,
    PostCreate,
    PostReceive,
    PreFinish,
    PostFinish,
    PreTerminate,
    PostTerminate,
    /// A type this version does not know; answered with "continue".
    Other(String),
}

impl HookType {
    pub fn parse(name: &str) -> HookType {
        match name.trim() {
            "pre-create" => HookType::PreCreate,
            "post-create" => HookType::PostCreate,
            "post-receive" => HookType::PostReceive,
            "pre-finish" => HookType::PreFinish,
            "post-finish" => HookType::PostFinish,
            "pre-terminate" => HookType::PreTerminate,
            "post-terminate" => HookType::PostTerminate,
            other => HookType::Other(other.chars().filter(|c| !c.is_control()).take(40).collect()),
        }
    }
}

/// Which tusd sent the hook: v1 creates the row in post-create (tusd picks
/// the id), v2 and gRPC in pre-create (Steward picks it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    V1,
    V2,
    Grpc,
}

/// The upload as tusd describes it.
#[derive(Debug, Clone, Default)]
pub struct HookUpload {
    /// tusd's id; empty in pre-create.
    pub id: String,
    /// `None` while the length is deferred.
    pub size: Option<i64>,
    pub offset: i64,
    pub metadata: BTreeMap<String, String>,
    pub is_partial: bool,
    pub is_final: bool,
    /// Where tusd keeps the bytes (`Type`, `Path`, `Bucket`, `Key`…).
    pub storage: Option<BTreeMap<String, String>>,
}

/// The uploading client's request to tusd, as the hook forwards it.
#[derive(Clone, Default)]
pub struct HookRequest {
    /// `host:port` of the client as tusd saw it.
    pub remote_addr: String,
    /// Header names (any case) with their values.
    pub headers: Vec<(String, String)>,
}

impl std::fmt::Debug for HookRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Headers carry the upload code: never printed.
        f.debug_struct("HookRequest").field("remote_addr", &self.remote_addr).finish_non_exhaustive()
    }
}

impl HookRequest {
    /// The first value of `name`, looked up case-insensitively.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    /// The uploader: the `Dropoff-Code` and the client's address (without port).
    fn uploader(&self) -> Uploader {
        let addr = self.remote_addr.trim();
        let host = match addr.parse::<std::net::SocketAddr>() {
            Ok(socket) => socket.ip().to_string(),
            Err(_) => addr.trim_start_matches('[').trim_end_matches(']').to_owned(),
        };
        Uploader {
            code: self.header(CODE_HEADER).map(str::to_owned),
            address: if host.is_empty() { "tusd".to_owned() } else { host },
        }
    }
}

/// One hook delivery.
#[derive(Debug, Clone)]
pub struct Hook {
    pub kind: HookType,
    pub upload: HookUpload,
    pub request: HookRequest,
}

/// What Steward answers; each transport renders it (§4.3–4.5).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// Go on (`{}`).
    Continue,
    /// v2/gRPC pre-create accepted: tusd must use this id.
    Created { id: Uuid },
    /// pre-create refused with this tus error.
    Reject(TusError),
    /// post-receive: stop the PATCH (v2/gRPC).
    Stop(TusError),
    /// pre-terminate refused (v2 JSON only).
    RejectTermination(TusError),
}

/// Handles one hook. `Err` is Steward's own failure (tusd retries it).
pub async fn handle(uploads: &Uploads, format: Format, hook: Hook) -> Result<Answer> {
    let settings = &uploads.settings().tusd;
    let outcome = match &hook.kind {
        HookType::PreCreate => pre_create(uploads, settings, format, &hook).await,
        HookType::PostCreate => post_create(uploads, settings, format, &hook).await,
        HookType::PostReceive => post_receive(uploads, settings, &hook).await,
        HookType::PreFinish => Ok(Answer::Continue),
        HookType::PostFinish => post_finish(uploads, settings, &hook).await,
        HookType::PreTerminate => pre_terminate(uploads, settings, &hook).await,
        HookType::PostTerminate => post_terminate(uploads, settings, &hook).await,
        HookType::Other(name) => {
            tracing::info!(hook = %name, "an unknown tusd hook type; answered with an empty object");
            Ok(Answer::Continue)
        }
    };
    match outcome {
        Err(UploadError::Internal(e)) => {
            tracing::error!(error = format!("{e:#}"), hook = ?hook.kind, "a tusd hook failed");
            Err(UploadError::Internal(e))
        }
        other => other,
    }
}

/// The upload as Steward's domain reads it, or the tus refusal.
fn new_upload(settings: &TusdConfig, upload: &HookUpload) -> std::result::Result<NewUpload, TusError> {
    if upload.is_partial || upload.is_final {
        return Err(TusError::ConcatenationUnsupported);
    }
    let metadata = Metadata::from_pairs(upload.metadata.iter().map(|(k, v)| (k.as_str(), v.clone())))
        .map_err(|e| TusError::InvalidMetadata(e.to_string()))?;
    let dropoff = metadata.get(&settings.dropoff_key).unwrap_or_default();
    if parse_id(dropoff).is_none() {
        return Err(TusError::DropoffRequired { present: metadata.get(&settings.dropoff_key).is_some() });
    }
    let size = match upload.size {
        Some(n) if n < 0 => return Err(TusError::InvalidUploadLength(format!("{n} is negative"))),
        Some(n) => Some(n as u64),
        None => None,
    };
    let first = |keys: [&str; 2]| keys.iter().find_map(|k| metadata.get(k).filter(|v| !v.is_empty()));
    Ok(NewUpload {
        dropoff_id: dropoff.to_owned(),
        name: first(["filename", "name"]).unwrap_or_default().to_owned(),
        relative_path: metadata.get("relativePath").map(str::to_owned),
        size,
        content_type: metadata.content_type(),
        metadata: metadata.iter().map(|(k, v)| (k.to_owned(), v.to_owned())).collect(),
        request_id: None,
        expected_sha256: metadata.expected_sha256().map_err(|e| TusError::InvalidMetadata(e.to_string()))?,
        protocol: Protocol::Tus,
    })
}

/// A domain refusal as the tus answer tusd forwards; own failures stay errors.
fn refusal(err: UploadError, addressed: Addressed) -> Result<Answer> {
    match err {
        UploadError::Internal(_) | UploadError::Unavailable(_) | UploadError::StagingUnavailable => Err(err),
        other => Ok(Answer::Reject(tus_status(&other, addressed))),
    }
}

/// pre-create (§4.6): the checks of a tus POST; v2/gRPC also create the row.
async fn pre_create(uploads: &Uploads, settings: &TusdConfig, format: Format, hook: &Hook) -> Result<Answer> {
    let new = match new_upload(settings, &hook.upload) {
        Ok(new) => new,
        Err(refused) => return Ok(Answer::Reject(refused)),
    };
    let uploader = hook.request.uploader();
    if format == Format::V1 {
        // tusd v1 picks the id after this hook: only check now, record in post-create.
        return match check(uploads, &new, &uploader).await {
            Ok(()) => Ok(Answer::Continue),
            Err(err) => refusal(err, Addressed::DropOff),
        };
    }
    match create(uploads, new, &uploader).await {
        Ok(file) => Ok(Answer::Created { id: file.id }),
        Err(err) => refusal(err, Addressed::DropOff),
    }
}

/// Creates the row as a tus POST would, marked as recorded from a hook.
async fn create(uploads: &Uploads, new: NewUpload, uploader: &Uploader) -> Result<FileRow> {
    let file = uploads.create_upload(new, uploader).await?;
    let mut conn = uploads.conn().await?;
    diesel::update(upload_files::table.find(file.id))
        .set(upload_files::protocol.eq(PROTOCOL))
        .execute(&mut conn)
        .await?;
    Ok(store::file(&mut conn, file.id).await?.unwrap_or(file))
}

/// The checks of `create_upload` without creating anything (v1 pre-create).
async fn check(uploads: &Uploads, new: &NewUpload, uploader: &Uploader) -> Result<()> {
    let opened = uploads.open(&new.dropoff_id, uploader).await?;
    let row = &opened.row;
    if let Some(size) = new.size.map(|s| i64::try_from(s).unwrap_or(i64::MAX)) {
        if size > row.max_file_bytes {
            return Err(UploadError::TooLarge(format!(
                "the file has {size} bytes; this drop-off takes files of at most {} bytes",
                row.max_file_bytes
            )));
        }
        if size > opened.remaining_bytes {
            return Err(UploadError::QuotaExceeded(format!(
                "this drop-off has {} bytes left; the file has {size}",
                opened.remaining_bytes
            )));
        }
    }
    let name = names::sanitize_file_name(&new.name, "tusd-upload");
    let content_type = names::content_type(Some(&new.content_type));
    let allowed = AllowedTypes::parse(&row.allowed())
        .map_err(|e| UploadError::internal(anyhow::anyhow!("stored allowed types do not parse: {e:?}")))?;
    if !allowed.allows(&name, &content_type) {
        return Err(UploadError::TypeNotAllowed(format!(
            "'{content_type}' files like '{name}' are not accepted here; allowed: {}",
            row.allowed().join(", ")
        )));
    }
    Ok(())
}

/// The `request_id` of a v1 row: tusd's id.
fn request_id(tusd_id: &str) -> String {
    format!("tusd:{tusd_id}")
}

/// The file a hook is about: a v1 row by tusd's id within the named
/// drop-off, else a v2 row whose id tusd took from pre-create (s3store adds
/// `+<multipart id>`).
async fn find(conn: &mut AsyncPgConnection, settings: &TusdConfig, upload: &HookUpload) -> Result<Option<FileRow>> {
    if upload.id.is_empty() {
        return Ok(None);
    }
    if let Some(dropoff) = upload.metadata.get(&settings.dropoff_key).and_then(|d| parse_id(d))
        && let Some(file) = store::file_by_request(conn, dropoff, &request_id(&upload.id)).await?
    {
        return Ok(Some(file));
    }
    let base = upload.id.split('+').next().unwrap_or_default();
    let Some(id) = parse_id(base) else {
        return Ok(None);
    };
    Ok(store::file(conn, id).await?.filter(|f| f.protocol == PROTOCOL))
}

/// `find`, logging an upload Steward does not know.
async fn known(uploads: &Uploads, settings: &TusdConfig, hook: &Hook) -> Result<Option<FileRow>> {
    let file = find(&mut *uploads.conn().await?, settings, &hook.upload).await?;
    if file.is_none() {
        tracing::info!(hook = ?hook.kind, "a tusd hook for an upload Steward does not know; nothing to do");
    }
    Ok(file)
}

/// The storage map as stored in `external_ref`.
fn storage_json(upload: &HookUpload) -> Option<serde_json::Value> {
    upload.storage.as_ref().map(|s| serde_json::json!(s))
}

async fn record_storage(conn: &mut AsyncPgConnection, id: Uuid, upload: &HookUpload) -> Result<()> {
    if let Some(storage) = storage_json(upload) {
        diesel::update(upload_files::table.find(id)).set(upload_files::external_ref.eq(storage)).execute(conn).await?;
    }
    Ok(())
}

/// post-create (§4.6): v1 re-checks and creates the row keyed by tusd's id;
/// v2 records where tusd keeps the bytes.
async fn post_create(uploads: &Uploads, settings: &TusdConfig, format: Format, hook: &Hook) -> Result<Answer> {
    let file = if format == Format::V1 {
        let mut new = match new_upload(settings, &hook.upload) {
            Ok(new) => new,
            Err(refused) => {
                tracing::info!(error = %refused, "a tusd v1 post-create names no valid drop-off; no file recorded");
                return Ok(Answer::Continue);
            }
        };
        if hook.upload.id.is_empty() {
            return Ok(Answer::Continue);
        }
        new.request_id = Some(request_id(&hook.upload.id));
        match create(uploads, new, &hook.request.uploader()).await {
            Ok(file) => file,
            Err(err @ (UploadError::Internal(_) | UploadError::Unavailable(_) | UploadError::StagingUnavailable)) => {
                return Err(err);
            }
            Err(err) => {
                // tusd v1 ignores post-create answers: the refusal is only logged.
                tracing::info!(error = %err, "a tusd v1 post-create was refused; the upload is not recorded");
                return Ok(Answer::Continue);
            }
        }
    } else {
        match known(uploads, settings, hook).await? {
            Some(file) => file,
            None => return Ok(Answer::Continue),
        }
    };
    record_storage(&mut *uploads.conn().await?, file.id, &hook.upload).await?;
    Ok(Answer::Continue)
}

/// post-receive (§4.6): the offset moves on; an upload whose file or
/// drop-off is gone is stopped.
async fn post_receive(uploads: &Uploads, settings: &TusdConfig, hook: &Hook) -> Result<Answer> {
    let Some(file) = known(uploads, settings, hook).await? else {
        return Ok(Answer::Continue);
    };
    let mut conn = uploads.conn().await?;
    let dropoff = store::dropoff(&mut conn, file.dropoff_id).await?;
    if dropoff.as_ref().is_none_or(|d| d.deleted_at.is_some()) {
        return Ok(Answer::Stop(TusError::UploadGone(format!("the drop-off of upload '{}' was deleted", file.id))));
    }
    match file.status.as_str() {
        "uploading" => {
            let ttl =
                chrono::Duration::from_std(uploads.settings().incomplete_ttl).unwrap_or(chrono::Duration::days(1));
            diesel::update(upload_files::table.find(file.id))
                .filter(upload_files::status.eq("uploading"))
                .filter(upload_files::committed_offset.lt(hook.upload.offset))
                .set((
                    upload_files::committed_offset.eq(hook.upload.offset),
                    upload_files::last_write_at.eq(Utc::now()),
                    upload_files::expire_time.eq(Utc::now() + ttl),
                ))
                .execute(&mut conn)
                .await?;
            Ok(Answer::Continue)
        }
        "processing" | "available" | "external" => Ok(Answer::Continue),
        other => Ok(Answer::Stop(TusError::UploadGone(format!("upload '{}' is {other}", file.id)))),
    }
}

/// post-finish (§4.6): once, the file is recorded as finished. With import
/// configured (§4.7) it becomes `PROCESSING` with its import job, enqueued in
/// the same transaction (the hook is answered at once; the job copies the
/// bytes); otherwise `EXTERNAL` with its notification. Later deliveries find
/// it no longer uploading and change nothing.
async fn post_finish(uploads: &Uploads, settings: &TusdConfig, hook: &Hook) -> Result<Answer> {
    let Some(file) = known(uploads, settings, hook).await? else {
        return Ok(Answer::Continue);
    };
    if file.status != "uploading" {
        return Ok(Answer::Continue);
    }
    let size = hook.upload.size.or(file.size).unwrap_or(hook.upload.offset).max(0);
    let storage = storage_json(&hook.upload);
    let delay = uploads.settings().notify_delay;
    let import = settings.imports();
    let (id, dropoff_id) = (file.id, file.dropoff_id);
    let mut conn = uploads.conn().await?;
    conn.transaction::<_, UploadError, _>(async move |conn| {
        let updated = diesel::update(upload_files::table.find(id))
            .filter(upload_files::status.eq("uploading"))
            .set((
                upload_files::status.eq(if import { "processing" } else { "external" }),
                upload_files::size.eq(size),
                upload_files::committed_offset.eq(size),
                upload_files::writer_id.eq(None::<String>),
                upload_files::writer_seen_at.eq(None::<chrono::DateTime<Utc>>),
            ))
            .execute(conn)
            .await?;
        if updated != 1 {
            return Ok(());
        }
        if let Some(storage) = storage {
            diesel::update(upload_files::table.find(id))
                .set(upload_files::external_ref.eq(storage))
                .execute(conn)
                .await?;
        }
        if import {
            import::enqueue(conn, id).await?;
            return Ok(());
        }
        diesel::update(upload_files::table.find(id))
            .set(upload_files::complete_time.eq(Utc::now()))
            .execute(conn)
            .await?;
        let after = serde_json::json!({"size": size, "stored_by": "tusd"});
        crate::dataset::audit::record(
            conn,
            crate::dataset::audit::Actor::System,
            "upload_recorded_external",
            "upload_file",
            id,
            None,
            Some(after),
        )
        .await?;
        super::notify::enqueue(conn, dropoff_id, id, delay).await?;
        Ok(())
    })
    .await?;
    // The bytes are with tusd (an import reads them from there): nothing of
    // this upload is staged here.
    let _ = uploads.staging().remove(fid(id)).await;
    Ok(Answer::Continue)
}

/// pre-terminate (§4.6): a finished upload may not be deleted through tusd.
async fn pre_terminate(uploads: &Uploads, settings: &TusdConfig, hook: &Hook) -> Result<Answer> {
    let Some(file) = known(uploads, settings, hook).await? else {
        return Ok(Answer::Continue);
    };
    match file.status.as_str() {
        "processing" | "available" | "external" => Ok(Answer::RejectTermination(TusError::UploadFinished)),
        _ => Ok(Answer::Continue),
    }
}

/// post-terminate (§4.6): `TERMINATED`, quota released, staging removed.
async fn post_terminate(uploads: &Uploads, settings: &TusdConfig, hook: &Hook) -> Result<Answer> {
    let Some(file) = known(uploads, settings, hook).await? else {
        return Ok(Answer::Continue);
    };
    let ended = store::set_status(&mut *uploads.conn().await?, file.id, &["uploading"], "terminated", None).await?;
    if ended {
        uploads.remove_bytes(file.id).await;
    }
    Ok(Answer::Continue)
}
