//! Importing a finished upload from tusd's storage (spec upload.md §4.7):
//! the job `upload.import_tusd`, keyed by file id.
//!
//! post-finish moves the file to `PROCESSING` and enqueues this job in the
//! same transaction, so the hook is answered at once. The job:
//!
//! 1. checks the source before anything is opened or fetched: `filestore`
//!    needs the canonicalised `Storage.Path` (symlinks resolved, so `..`
//!    cannot remain) to be a regular file inside `STEWARD_TUSD_FILESTORE_DIR`;
//!    `s3store` needs `Storage.Bucket` to be the bucket of
//!    `STEWARD_TUSD_OBJECT_STORE_URL` (and `Storage.Key` under its prefix).
//!    Otherwise the file becomes `FAILED` with `IMPORT_REFUSED` and nothing is
//!    read: a forged hook cannot make Steward read arbitrary files;
//! 2. streams the bytes (never the whole file in memory) straight into the
//!    file's sealed object, exactly as the finalize job seals staged bytes
//!    (same key, associated data and format), counting them against `Size`
//!    and hashing them; a count that differs stores nothing (`SIZE_MISMATCH`);
//! 3. marks the file `AVAILABLE` and enqueues its notification in one
//!    transaction;
//! 4. with `STEWARD_TUSD_DELETE_AFTER_IMPORT`, deletes tusd's copy and its
//!    `.info`.
//!
//! It is idempotent: a file no longer `PROCESSING` (already `AVAILABLE`,
//! failed, deleted) is left alone, and a run cut off by a crash is retried by
//! the queue; the blob store never leaves a partial object under a key, and
//! the retry writes the whole object again, replacing any earlier one.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use diesel::prelude::*;
use diesel_async::{AsyncConnection as _, AsyncPgConnection, RunQueryDsl};
use futures_util::stream::BoxStream;
use futures_util::{StreamExt as _, TryStreamExt as _};
use object_store::{ObjectStore, ObjectStoreExt as _};
use serde::Deserialize;
use tokio::io::AsyncReadExt as _;
use uuid::Uuid;

use crate::auth::token::hex;
use crate::blobs::BlobError;
use crate::dataset::audit::{self, Actor};
use crate::db::schema::upload_files;
use crate::jobs::{JobContext, NewJob};
use crate::upload::config::TusdConfig;
use crate::upload::jobs::Storage;
use crate::upload::ops::{fid, open_data_key};
use crate::upload::seal::{object_aad, object_key};
use crate::upload::store;

/// The import job's kind.
pub const IMPORT_JOB: &str = "upload.import_tusd";
/// Why an import was refused (the file's `failure_reason`).
pub const IMPORT_REFUSED: &str = "IMPORT_REFUSED";
/// The copied bytes did not match the declared size.
const SIZE_MISMATCH: &str = "SIZE_MISMATCH";
/// The bytes did not match the digest the uploader declared.
const SHA256_MISMATCH: &str = "SHA256_MISMATCH";
/// Bytes read from tusd's filestore at a time.
const READ_BYTES: usize = 1 << 20;

/// Enqueues the import of `id` on the connection of the transaction that
/// moved it to `PROCESSING` (at most one live job per file).
pub async fn enqueue(conn: &mut AsyncPgConnection, id: Uuid) -> QueryResult<()> {
    let job = NewJob::new(IMPORT_JOB, serde_json::json!({"file_id": id.to_string()}))
        .dedup_key(format!("{IMPORT_JOB}:{id}"))
        .max_attempts(10);
    crate::jobs::enqueue(conn, job).await?;
    Ok(())
}

/// Where tusd keeps the bytes, checked; nothing of it was opened.
pub enum Source {
    /// A regular file inside the filestore directory (canonical path).
    File(PathBuf),
    /// An object in tusd's bucket.
    Object { store: Arc<dyn ObjectStore>, path: object_store::path::Path },
}

impl std::fmt::Debug for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Source::File(path) => f.debug_tuple("File").field(path).finish(),
            Source::Object { path, .. } => f.debug_struct("Object").field("path", path).finish_non_exhaustive(),
        }
    }
}

impl Source {
    /// The bytes, as a stream of chunks (at most [`READ_BYTES`] each for a file).
    async fn open(&self) -> Result<BoxStream<'static, std::io::Result<Bytes>>, Opened> {
        match self {
            Source::File(path) => {
                let file = tokio::fs::File::open(path).await.map_err(|e| match e.kind() {
                    std::io::ErrorKind::NotFound => Opened::Missing,
                    _ => Opened::Failed(e.into()),
                })?;
                let chunks = futures_util::stream::try_unfold(file, |mut file| async move {
                    let mut buf = vec![0u8; READ_BYTES];
                    let n = file.read(&mut buf).await?;
                    buf.truncate(n);
                    Ok((n > 0).then(|| (Bytes::from(buf), file)))
                });
                Ok(chunks.boxed())
            }
            Source::Object { store, path } => match store.get(path).await {
                Ok(got) => Ok(got.into_stream().map_err(std::io::Error::from).boxed()),
                Err(object_store::Error::NotFound { .. }) => Err(Opened::Missing),
                Err(e) => Err(Opened::Failed(e.into())),
            },
        }
    }

    /// Deletes tusd's copy and its `.info` companion.
    async fn delete(&self) -> anyhow::Result<()> {
        match self {
            Source::File(path) => {
                for path in [path.clone(), PathBuf::from(format!("{}.info", path.display()))] {
                    match tokio::fs::remove_file(&path).await {
                        Ok(()) => {}
                        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                        Err(e) => return Err(e.into()),
                    }
                }
            }
            Source::Object { store, path } => {
                let info = object_store::path::Path::parse(format!("{path}.info"))?;
                for path in [path, &info] {
                    match store.delete(path).await {
                        Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
                        Err(e) => return Err(e.into()),
                    }
                }
            }
        }
        Ok(())
    }
}

/// Why the source did not open.
enum Opened {
    /// It is not there (any more): nothing to import.
    Missing,
    /// Steward's own failure: the job is retried.
    Failed(anyhow::Error),
}

/// The file inside `dir` that `storage` names, canonicalised; `Err` says
/// why not (for the log). Nothing is opened.
pub fn source_in(dir: &Path, storage: &BTreeMap<String, String>) -> Result<PathBuf, String> {
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

/// The object in tusd's bucket that `storage` names; `Err` says why not.
/// Nothing is contacted.
pub fn object_in(
    bucket: &crate::blobs::S3Settings,
    storage: &BTreeMap<String, String>,
) -> Result<(Arc<dyn ObjectStore>, object_store::path::Path), String> {
    let named = storage.get("Bucket").map(String::as_str).unwrap_or_default();
    if named != bucket.bucket {
        return Err(format!(
            "the storage Bucket '{}' is not STEWARD_TUSD_OBJECT_STORE_URL's",
            named.chars().filter(|c| !c.is_control()).take(64).collect::<String>()
        ));
    }
    let key = storage.get("Key").map(String::as_str).unwrap_or_default();
    let path = object_store::path::Path::parse(key)
        .ok()
        .filter(|p| !key.is_empty() && !key.starts_with('/') && !key.ends_with('/') && p.as_ref() == key)
        .ok_or("the storage Key is not an object key")?;
    if !bucket.prefix.is_empty() && !key.starts_with(&format!("{}/", bucket.prefix)) {
        return Err("the storage Key lies outside STEWARD_TUSD_OBJECT_STORE_URL's prefix".into());
    }
    let (store, _) = bucket.client().map_err(|e| format!("tusd's bucket cannot be reached: {e}"))?;
    Ok((store, path))
}

/// The checked source `storage` names under `settings`; `Err` says why it is refused.
async fn source(settings: &TusdConfig, storage: Option<BTreeMap<String, String>>) -> Result<Source, String> {
    let storage = storage.ok_or("the hook named no storage")?;
    let kind = storage.get("Type").map(String::as_str).unwrap_or_default();
    match (kind, &settings.filestore_dir, &settings.object_store) {
        ("filestore", Some(dir), _) => {
            let dir = dir.clone();
            let checked = tokio::task::spawn_blocking(move || source_in(&dir, &storage))
                .await
                .map_err(|e| format!("checking the path failed: {e}"))?;
            checked.map(Source::File)
        }
        ("s3store", _, Some(bucket)) => object_in(bucket, &storage).map(|(store, path)| Source::Object { store, path }),
        _ => Err(format!(
            "storage type '{}' is not one Steward imports from here",
            kind.chars().filter(|c| !c.is_control()).take(40).collect::<String>()
        )),
    }
}

#[derive(Deserialize)]
struct Payload {
    file_id: String,
}

/// The job: imports a `PROCESSING` tusd file (see the module documentation).
pub async fn job(storage: Storage, ctx: JobContext) -> anyhow::Result<()> {
    let Payload { file_id } = ctx.parse_payload()?;
    let id = Uuid::parse_str(&file_id)?;
    let mut conn = ctx.pool.get().await?;
    let Some(file) = store::file(&mut conn, id).await? else {
        return Ok(());
    };
    if file.status != "processing" || file.protocol != super::PROTOCOL {
        // Already imported (or failed, deleted): nothing to do again.
        return Ok(());
    }
    let recorded: Option<serde_json::Value> =
        upload_files::table.find(id).select(upload_files::external_ref).first(&mut conn).await?;
    drop(conn);
    let tusd_storage = recorded.and_then(|v| serde_json::from_value::<BTreeMap<String, String>>(v).ok());
    let size = file.size.unwrap_or(file.committed_offset).max(0) as u64;

    let source = match source(&storage.tusd, tusd_storage).await {
        Ok(source) => source,
        Err(why) => {
            tracing::warn!(file = %id, reason = %why, "a tusd import was refused; the file is marked failed");
            return fail(&storage, &ctx, id, IMPORT_REFUSED).await;
        }
    };
    let wrapped = file.wrapped_key.as_deref().ok_or_else(|| anyhow::anyhow!("a processing file without a key"))?;
    let key = open_data_key(&storage.keyring, id, wrapped)?;
    let bytes = match source.open().await {
        Ok(bytes) => bytes,
        Err(Opened::Missing) => {
            tracing::warn!(file = %id, "tusd's copy of a finished upload is gone; the file is marked failed");
            return fail(&storage, &ctx, id, IMPORT_REFUSED).await;
        }
        Err(Opened::Failed(e)) => return Err(e.context("opening tusd's copy")),
    };

    // Counted on the way; a count other than `size` fails the stream before
    // its end is sealed, so nothing is stored under the key.
    let counted = Arc::new(AtomicU64::new(0));
    let counter = counted.clone();
    let bytes = bytes.map_err(ImportError::Read).and_then(move |chunk| {
        let total = counter.fetch_add(chunk.len() as u64, Ordering::Relaxed) + chunk.len() as u64;
        futures_util::future::ready(if total > size { Err(ImportError::Size) } else { Ok(chunk) })
    });
    let length_check = futures_util::stream::once(async move {
        if AtomicU64::load(&counted, Ordering::Relaxed) == size { Ok(Bytes::new()) } else { Err(ImportError::Size) }
    });
    let oid = fid(id);
    let sealed = storage.blobs.put_stream(&object_key(oid), &key, &object_aad(oid), bytes.chain(length_check)).await;
    let digest = match sealed {
        Ok(info) => hex(&info.sha256),
        Err(BlobError::Source(source)) if matches!(source.downcast_ref::<ImportError>(), Some(ImportError::Size)) => {
            tracing::warn!(file = %id, size, "a tusd import found a different size than declared");
            return fail(&storage, &ctx, id, SIZE_MISMATCH).await;
        }
        // Reading tusd's copy or the object store failed: retried by the queue.
        Err(e) => return Err(anyhow::Error::new(e).context("copying tusd's copy into the blob store")),
    };
    if file.expected_sha256.as_deref().is_some_and(|expected| expected != digest) {
        tracing::info!(file = %id, "a tusd import does not match the declared SHA-256");
        return fail(&storage, &ctx, id, SHA256_MISMATCH).await;
    }

    let delay = storage.notify_delay;
    let size_i64 = size as i64;
    let marked = ctx
        .pool
        .get()
        .await?
        .transaction::<_, anyhow::Error, _>(async move |conn| {
            if !store::mark_available(conn, id, &digest).await? {
                return Ok(false);
            }
            let after = serde_json::json!({"sha256": digest, "size": size_i64, "stored_by": "tusd import"});
            audit::record(conn, Actor::System, "upload_completed", "upload_file", id, None, Some(after)).await?;
            super::super::notify::enqueue(conn, file.dropoff_id, id, delay).await?;
            Ok(true)
        })
        .await?;
    if !marked {
        // Deleted (or ended) meanwhile: the object must not outlive the file.
        let status = store::file(&mut *ctx.pool.get().await?, id).await?.map(|f| f.status);
        if status.as_deref() != Some("available") {
            storage.blobs.delete(&object_key(oid)).await?;
        }
        return Ok(());
    }
    if storage.tusd.delete_after_import
        && let Err(e) = source.delete().await
    {
        tracing::warn!(file = %id, error = format!("{e:#}"), "deleting tusd's copy after the import failed");
    }
    Ok(())
}

/// Why the copied stream stopped.
#[derive(Debug, thiserror::Error)]
enum ImportError {
    #[error("reading tusd's copy failed")]
    Read(#[source] std::io::Error),
    #[error("tusd's copy does not have the declared size")]
    Size,
}

/// Marks a processing file failed with `reason` and removes any object of it.
async fn fail(storage: &Storage, ctx: &JobContext, id: Uuid, reason: &str) -> anyhow::Result<()> {
    store::set_status(&mut *ctx.pool.get().await?, id, &["processing"], "failed", Some(reason)).await?;
    storage.blobs.delete(&object_key(fid(id))).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bucket(prefix: &str) -> crate::blobs::S3Settings {
        crate::blobs::S3Settings {
            bucket: "tusd-uploads".into(),
            prefix: prefix.into(),
            endpoint: Some("http://127.0.0.1:9".into()),
            region: Some("eu-central-1".into()),
            credentials: None,
            allow_http: true,
        }
    }

    fn storage(bucket: &str, key: &str) -> BTreeMap<String, String> {
        [("Type", "s3store"), ("Bucket", bucket), ("Key", key)].into_iter().map(|(k, v)| (k.into(), v.into())).collect()
    }

    #[test]
    fn only_keys_in_the_configured_bucket_are_taken() {
        let (_, path) = object_in(&bucket(""), &storage("tusd-uploads", "3f2a9c")).unwrap();
        assert_eq!(path.as_ref(), "3f2a9c");
        let refused = object_in(&bucket(""), &storage("other-bucket", "3f2a9c")).unwrap_err();
        assert!(refused.contains("STEWARD_TUSD_OBJECT_STORE_URL"), "{refused}");
        assert!(object_in(&bucket(""), &BTreeMap::new()).is_err(), "no Bucket at all");
        for key in ["", "/3f2a9c", "a//b", "a/../b", "a/./b", "dir/"] {
            assert!(object_in(&bucket(""), &storage("tusd-uploads", key)).is_err(), "{key:?}");
        }
        // With a prefix, only keys below it.
        assert!(object_in(&bucket("tusd/uploads"), &storage("tusd-uploads", "tusd/uploads/3f2a9c")).is_ok());
        for key in ["3f2a9c", "tusd/uploadsX/3f2a9c", "tusd/3f2a9c"] {
            assert!(object_in(&bucket("tusd/uploads"), &storage("tusd-uploads", key)).is_err(), "{key:?}");
        }
    }
}
