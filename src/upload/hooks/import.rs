//! Importing a finished upload from tusd's filestore (spec upload.md §4.7).
//!
//! The source is checked before anything is opened: `Storage.Type` must be
//! `filestore` and the canonicalised `Storage.Path` (symlinks resolved, so
//! `..` cannot remain) must be a regular file inside
//! `STEWARD_TUSD_FILESTORE_DIR`. Otherwise the file becomes `FAILED` with
//! `IMPORT_REFUSED` and nothing is read: a forged hook cannot make Steward
//! read arbitrary files. An accepted source streams through the staging
//! writer (sealed like any upload) under the file's writer lease, and the
//! upload moves to `PROCESSING` with its finalize job, which hashes, seals,
//! marks it `AVAILABLE` and notifies, as for every other upload.

use std::path::{Path, PathBuf};

use diesel::prelude::*;
use diesel_async::{AsyncConnection as _, RunQueryDsl};
use ring::rand::{SecureRandom as _, SystemRandom};
use tokio::io::AsyncReadExt as _;

use super::HookUpload;
use crate::db::schema::upload_files;
use crate::upload::config::TusdConfig;
use crate::upload::error::{Result, UploadError};
use crate::upload::ops::{LEASE_STALE, Uploads, enqueue_finalize, fid};
use crate::upload::store::{self, FileRow};

/// Why an import was refused (the file's `failure_reason`).
pub const IMPORT_REFUSED: &str = "IMPORT_REFUSED";
/// The copied bytes did not match the declared size.
const SIZE_MISMATCH: &str = "SIZE_MISMATCH";
/// The lease is refreshed (and staging synced) at least this often, in bytes.
const COMMIT_BYTES: u64 = 64 << 20;
const READ_BYTES: usize = 1 << 20;

/// The file inside `dir` that `storage` names, canonicalised; `Err` says
/// why not (for the log). Nothing is opened.
pub fn source_in(dir: &Path, storage: Option<&std::collections::BTreeMap<String, String>>) -> Result<PathBuf, String> {
    let storage = storage.ok_or("the hook names no storage")?;
    let kind = storage.get("Type").map(String::as_str).unwrap_or_default();
    if kind != "filestore" {
        return Err(format!("storage type '{}' is not tusd's filestore", kind.chars().take(40).collect::<String>()));
    }
    let path = Path::new(storage.get("Path").ok_or("the storage has no Path")?);
    if !path.is_absolute() {
        return Err("the storage Path is not absolute".into());
    }
    let root = std::fs::canonicalize(dir).map_err(|e| format!("the filestore directory does not resolve: {e}"))?;
    let real = std::fs::canonicalize(path).map_err(|e| format!("the storage Path does not resolve: {e}"))?;
    if real == root || !real.starts_with(&root) {
        return Err("the storage Path lies outside the filestore directory".into());
    }
    // symlink_metadata of the resolved path: no link is followed here.
    let meta = std::fs::symlink_metadata(&real).map_err(|e| format!("the storage Path cannot be read: {e}"))?;
    if !meta.is_file() {
        return Err("the storage Path is not a regular file".into());
    }
    Ok(real)
}

/// Imports `file` (still `uploading`) from tusd's filestore: refused →
/// `FAILED IMPORT_REFUSED`; copied → `PROCESSING` + finalize job. A
/// concurrent delivery of the same hook finds the lease taken and leaves.
pub async fn import(
    uploads: &Uploads,
    settings: &TusdConfig,
    dir: &Path,
    file: &FileRow,
    upload: &HookUpload,
    size: i64,
) -> Result<()> {
    let storage = upload.storage.as_ref().map(|s| serde_json::json!(s));
    let source = {
        let (dir, storage) = (dir.to_owned(), upload.storage.clone());
        tokio::task::spawn_blocking(move || source_in(&dir, storage.as_ref())).await.map_err(UploadError::internal)?
    };
    let source = match source {
        Ok(source) => source,
        Err(why) => {
            tracing::warn!(file = %file.id, reason = %why, "a tusd import was refused; the file is marked failed");
            return fail(uploads, file, IMPORT_REFUSED, storage).await;
        }
    };
    let mut id = [0u8; 8];
    SystemRandom::new().fill(&mut id).map_err(|_| UploadError::internal(anyhow::anyhow!("system RNG failed")))?;
    let writer_id = format!("tusd-import-{}", id.iter().map(|b| format!("{b:02x}")).collect::<String>());
    let Some(leased) = store::take_lease(&mut *uploads.conn().await?, file.id, &writer_id, LEASE_STALE).await? else {
        // Another delivery is importing (or the upload ended meanwhile).
        return Ok(());
    };
    let copied = copy(uploads, &leased, &writer_id, &source, size).await;
    let copied = match copied {
        Ok(n) => n,
        Err(e) => {
            let _ = store::release_lease(&mut *uploads.conn().await?, file.id, &writer_id).await;
            return Err(e);
        }
    };
    if copied != size as u64 {
        tracing::warn!(file = %file.id, copied, size, "a tusd import found a different size than declared");
        return fail(uploads, file, SIZE_MISMATCH, storage).await;
    }
    let (fid_, expected) = (file.id, leased.expected_sha256.clone());
    let expire = leased.expire_time;
    uploads
        .conn()
        .await?
        .transaction::<_, UploadError, _>(async move |conn| {
            if !store::commit_offset(conn, fid_, &writer_id, size, Some(size), expire).await? {
                return Err(UploadError::Locked);
            }
            if let Some(storage) = storage {
                diesel::update(upload_files::table.find(fid_))
                    .set(upload_files::external_ref.eq(storage))
                    .execute(conn)
                    .await?;
            }
            if store::mark_processing(conn, fid_, expected.as_deref()).await? {
                enqueue_finalize(conn, fid_).await?;
            }
            Ok(())
        })
        .await?;
    if settings.delete_after_import {
        for path in [source.clone(), PathBuf::from(format!("{}.info", source.display()))] {
            if let Err(e) = tokio::fs::remove_file(&path).await
                && e.kind() != std::io::ErrorKind::NotFound
            {
                tracing::warn!(file = %file.id, error = %e, "deleting tusd's copy after the import failed");
            }
        }
    }
    Ok(())
}

/// Streams `source` into staging; returns the bytes read (stops one past `size`).
async fn copy(uploads: &Uploads, file: &FileRow, writer_id: &str, source: &Path, size: i64) -> Result<u64> {
    let key = uploads.data_key(file)?;
    let staging = uploads.staging();
    // A retried import starts over: the writer cuts staging back to 0.
    let mut writer = match staging.writer(fid(file.id), key.clone(), 0).await {
        Ok(writer) => writer,
        Err(crate::upload::staging::StagingError::Missing(_)) => {
            staging.create(fid(file.id)).await.map_err(UploadError::internal)?;
            staging.writer(fid(file.id), key, 0).await.map_err(UploadError::internal)?
        }
        Err(e) => return Err(UploadError::internal(e)),
    };
    let mut input = tokio::fs::File::open(source).await.map_err(UploadError::internal)?;
    let mut buf = vec![0u8; READ_BYTES];
    let limit = size.max(0) as u64;
    let mut since_commit = 0u64;
    loop {
        let n = input.read(&mut buf).await.map_err(UploadError::internal)?;
        if n == 0 {
            break;
        }
        let room = limit - writer.offset().min(limit);
        if n as u64 > room {
            return Ok(limit + 1);
        }
        writer.write(&buf[..n]).await.map_err(UploadError::internal)?;
        since_commit += n as u64;
        if since_commit >= COMMIT_BYTES {
            // Keep the lease fresh so that no retry takes over a long copy.
            let offset = writer.sync().await.map_err(UploadError::internal)?;
            let mut conn = uploads.conn().await?;
            if !store::commit_offset(&mut conn, file.id, writer_id, offset as i64, Some(size), file.expire_time).await?
            {
                return Err(UploadError::Locked);
            }
            since_commit = 0;
        }
    }
    writer.sync().await.map_err(UploadError::internal)
}

/// Marks the file failed with `reason` and removes whatever was staged.
async fn fail(uploads: &Uploads, file: &FileRow, reason: &str, storage: Option<serde_json::Value>) -> Result<()> {
    let id = file.id;
    let reason = reason.to_owned();
    let ended = uploads
        .conn()
        .await?
        .transaction::<_, UploadError, _>(async move |conn| {
            let ended = store::set_status(conn, id, &["uploading"], "failed", Some(&reason)).await?;
            if ended && let Some(storage) = storage {
                diesel::update(upload_files::table.find(id))
                    .set(upload_files::external_ref.eq(storage))
                    .execute(conn)
                    .await?;
            }
            Ok(ended)
        })
        .await?;
    if ended {
        uploads.remove_bytes(id).await;
    }
    Ok(())
}
