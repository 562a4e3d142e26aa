//! Upload jobs (spec upload.md §2.7, §2.9, §4.7): `upload.finalize` hashes
//! and seals a complete upload into the blob store; `upload.import_tusd`
//! does the same for a file tusd received (see [`super::hooks::import`]);
//! `upload.expire` ends abandoned uploads and removes bytes nobody may read
//! any more.

use std::sync::Arc;
use std::time::Duration;

use diesel_async::AsyncConnection as _;
use serde::Deserialize;
use uuid::Uuid;

use super::ops::{FINALIZE_JOB, fid};
use super::seal::{SealError, object_key, seal_staged};
use super::staging::Staging;
use super::store;
use crate::auth::token::hex;
use crate::blobs::BlobStore;
use crate::crypto::Keyring;
use crate::dataset::audit::{self, Actor};
use crate::jobs::{JobContext, Registry};

/// The periodic cleanup.
pub const EXPIRE_JOB: &str = "upload.expire";
const EXPIRE_EVERY: Duration = Duration::from_secs(600);
/// Code failures are kept this long (beyond the longest limit window).
const FAILURES_KEPT: Duration = Duration::from_secs(2 * 3600);
/// Objects of files no longer readable are removed after this long.
const ORPHAN_GRACE: Duration = Duration::from_secs(3600);

/// What the upload jobs need.
#[derive(Clone)]
pub struct Storage {
    pub keyring: Arc<Keyring>,
    pub staging: Staging,
    pub blobs: BlobStore,
    pub notify_delay: Duration,
    /// Where tusd keeps the files it received (imports).
    pub tusd: super::config::TusdConfig,
}

impl std::fmt::Debug for Storage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Storage").field("staging", &self.staging.root()).finish_non_exhaustive()
    }
}

impl Storage {
    pub fn from_config(config: &crate::config::Config, keyring: Keyring, blobs: BlobStore) -> Storage {
        Storage {
            keyring: Arc::new(keyring),
            staging: Staging::new(config.upload.staging_dir.clone()),
            blobs,
            notify_delay: config.upload.notify_delay,
            tusd: config.upload.tusd.clone(),
        }
    }
}

pub fn register(registry: &mut Registry, storage: Storage) {
    let finalize = storage.clone();
    registry.register(FINALIZE_JOB, move |ctx| finalize_job(finalize.clone(), ctx));
    let import = storage.clone();
    registry.register(super::hooks::import::IMPORT_JOB, move |ctx| super::hooks::import::job(import.clone(), ctx));
    registry.periodic(EXPIRE_JOB, EXPIRE_EVERY, move |ctx| expire_job(storage.clone(), ctx));
}

#[derive(Deserialize)]
struct Payload {
    file_id: String,
}

/// Seals a processing file (idempotent: a re-run overwrites the same object
/// and sets the same values; a file no longer processing is left alone).
async fn finalize_job(storage: Storage, ctx: JobContext) -> anyhow::Result<()> {
    let Payload { file_id } = ctx.parse_payload()?;
    let id = Uuid::parse_str(&file_id)?;
    let mut conn = ctx.pool.get().await?;
    let Some(file) = store::file(&mut conn, id).await? else {
        return Ok(());
    };
    if file.status != "processing" {
        return Ok(());
    }
    drop(conn);
    let wrapped = file.wrapped_key.as_deref().ok_or_else(|| anyhow::anyhow!("a processing file without a key"))?;
    let key = super::ops::open_data_key(&storage.keyring, id, wrapped)?;
    let len = file.committed_offset as u64;
    let sealed = seal_staged(&storage.staging, &storage.blobs, fid(id), &key, len).await;
    let outcome = match sealed {
        Ok(info) => {
            let digest = hex(&info.sha256);
            match file.expected_sha256.as_deref() {
                Some(expected) if expected != digest => Err("SHA256_MISMATCH"),
                _ => Ok(digest),
            }
        }
        Err(SealError::SizeMismatch { .. }) => Err("SIZE_MISMATCH"),
        Err(SealError::Staging(super::staging::StagingError::Corrupt { .. })) => Err("STORAGE_ERROR"),
        // I/O and the object store: retried by the queue.
        Err(e) => return Err(e.into()),
    };
    let delay = storage.notify_delay;
    let mut conn = ctx.pool.get().await?;
    let failed = outcome.as_ref().err().copied();
    let ended = conn
        .transaction::<_, anyhow::Error, _>(async move |conn| {
            match outcome {
                Ok(digest) => {
                    if store::mark_available(conn, id, &digest).await? {
                        let after = serde_json::json!({"sha256": digest, "size": file.committed_offset});
                        audit::record(conn, Actor::System, "upload_completed", "upload_file", id, None, Some(after))
                            .await?;
                        super::notify::enqueue(conn, file.dropoff_id, id, delay).await?;
                    }
                }
                Err(reason) => {
                    store::set_status(conn, id, &["processing"], "failed", Some(reason)).await?;
                }
            }
            Ok(())
        })
        .await;
    ended?;
    drop(conn);
    if let Some(reason) = failed {
        tracing::info!(file = %id, reason, "an upload failed verification; its bytes are removed");
        storage.blobs.delete(&object_key(fid(id))).await?;
    }
    storage.staging.remove(fid(id)).await?;
    Ok(())
}

/// Ends expired uploads, removes their staging, orphaned staging
/// directories, and the objects of erased files; forgets old code failures.
async fn expire_job(storage: Storage, ctx: JobContext) -> anyhow::Result<()> {
    let mut conn = ctx.pool.get().await?;
    let expired = store::expired_uploads(&mut conn, 1000).await?;
    for id in &expired {
        store::set_status(&mut conn, *id, &["uploading"], "expired", None).await?;
        storage.staging.remove(fid(*id)).await?;
    }
    // Directories younger than the grace may belong to a creation whose row
    // is not committed yet.
    let staged: Vec<Uuid> =
        storage.staging.list(ORPHAN_GRACE).await?.iter().map(|f| Uuid::from_bytes(*f.as_bytes())).collect();
    let live = store::ids_in_status(&mut conn, &staged, &["uploading", "processing"]).await?;
    let mut orphans = 0;
    for id in staged.iter().filter(|id| !live.contains(id)) {
        storage.staging.remove(fid(*id)).await?;
        orphans += 1;
    }
    // Objects of deleted or failed files (their removal failed at the time),
    // older than a finalize could take to mark its file available.
    let objects = storage.blobs.list_older_than("uploads", ORPHAN_GRACE).await?;
    let object_ids: Vec<Uuid> = objects
        .iter()
        .filter_map(|key| key.strip_prefix("uploads/"))
        .filter_map(|id| Uuid::parse_str(id).ok())
        .collect();
    let kept = store::ids_in_status(&mut conn, &object_ids, &["processing", "available"]).await?;
    let mut erased = Vec::new();
    for id in object_ids.into_iter().filter(|id| !kept.contains(id)) {
        storage.blobs.delete(&object_key(fid(id))).await?;
        erased.push(id);
    }
    let failures = store::prune_code_failures(&mut conn, FAILURES_KEPT).await?;
    if !expired.is_empty() || orphans > 0 || !erased.is_empty() {
        tracing::info!(expired = expired.len(), orphans, erased = erased.len(), failures, "upload cleanup");
    }
    Ok(())
}
