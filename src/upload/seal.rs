//! Moving a finished upload from staging into the blob store (spec upload.md
//! §2.7, finalize job steps 1–2): the staged records are authenticated and
//! decrypted one by one and re-sealed into the object `uploads/{file_id}`,
//! while the blob store counts the bytes and hashes the plaintext.
//!
//! The final object uses the blob store's `STWDBLOB` format (1 MiB segments,
//! the last sealed with a final flag; see [`crate::blobs`]) instead of the
//! spec's `STWUPLD1`: it gives the same guarantees (reordered, truncated,
//! appended or swapped data does not open) with one format and one S3 code
//! path for donations and uploads. Its associated data is
//! `"steward-upload/v1" ‖ file_id (16 bytes)`; downloads open it with
//! `blobs.open_reader(&object_key(id), &data_key, &object_aad(id))`.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use futures_util::{StreamExt as _, TryStreamExt as _};

use super::staging::{FileId, Staging, StagingError};
use crate::blobs::{BlobError, BlobInfo, BlobStore};
use crate::donation::keys::DataKey;

/// Associated-data prefix of an upload's object.
const OBJECT_CONTEXT: &[u8] = b"steward-upload/v1";

/// Why a staged upload could not be sealed into its object. Nothing is
/// stored under the object key when this is returned.
#[derive(Debug, thiserror::Error)]
pub enum SealError {
    /// The staged plaintext is not `len` bytes long (`SIZE_MISMATCH`).
    #[error("upload {file_id} has {actual} staged bytes, not the {expected} expected")]
    SizeMismatch { file_id: FileId, expected: u64, actual: u64 },
    /// The staging is missing, corrupt or unreadable.
    #[error(transparent)]
    Staging(StagingError),
    /// The blob store failed.
    #[error(transparent)]
    Blob(BlobError),
}

/// The blob key of an upload's object (it never contains names).
pub fn object_key(file_id: FileId) -> String {
    format!("uploads/{file_id}")
}

/// The associated data binding an object to its upload.
pub fn object_aad(file_id: FileId) -> Vec<u8> {
    let mut aad = OBJECT_CONTEXT.to_vec();
    aad.extend_from_slice(file_id.as_bytes());
    aad
}

/// Seals the first `len` staged bytes of an upload into its object
/// ([`object_key`]), replacing any object there (a re-run after a crash
/// writes the same plaintext again). Returns the size and the SHA-256 of the
/// plaintext; the staging is left in place for the caller to remove.
pub async fn seal_staged(
    staging: &Staging,
    blobs: &BlobStore,
    file_id: FileId,
    key: &DataKey,
    len: u64,
) -> Result<BlobInfo, SealError> {
    let counted = Arc::new(AtomicU64::new(0));
    let counter = counted.clone();
    let plaintext = staging
        .read(file_id, key.clone(), len)
        .map_err(SealError::Staging)
        .inspect_ok(move |chunk| _ = counter.fetch_add(chunk.len() as u64, Ordering::Relaxed));
    // Fails the stream before its end is sealed, so a wrong length stores nothing.
    let length_check = futures_util::stream::once(async move {
        match counted.load(Ordering::Relaxed) {
            actual if actual == len => Ok(Bytes::new()),
            actual => Err(SealError::SizeMismatch { file_id, expected: len, actual }),
        }
    });
    match blobs.put_stream(&object_key(file_id), key, &object_aad(file_id), plaintext.chain(length_check)).await {
        Ok(info) => Ok(info),
        Err(BlobError::Source(source)) => match source.downcast::<SealError>() {
            Ok(err) => Err(*err),
            Err(source) => Err(SealError::Blob(BlobError::Source(source))),
        },
        Err(err) => Err(SealError::Blob(err)),
    }
}

#[cfg(test)]
mod tests {
    use std::io::Read as _;

    use rand_chacha::ChaCha8Rng;
    use rand_chacha::rand_core::{RngCore as _, SeedableRng as _};

    use super::*;

    fn key() -> DataKey {
        DataKey::from_bytes(&[3; 32])
    }

    async fn stage(staging: &Staging, file_id: FileId, data: &[u8]) {
        let mut writer = staging.writer(file_id, key(), 0).await.unwrap();
        for piece in data.chunks(1_000_003) {
            writer.write(piece).await.unwrap();
        }
        assert_eq!(writer.sync().await.unwrap(), data.len() as u64);
    }

    fn download(blobs: &BlobStore, file_id: FileId, aad: &[u8]) -> Result<Vec<u8>, BlobError> {
        let mut reader = blobs.open_reader(&object_key(file_id), &key(), aad)?;
        let mut out = Vec::new();
        reader.read_to_end(&mut out)?;
        Ok(out)
    }

    #[tokio::test]
    async fn staged_uploads_become_objects_with_their_size_and_digest() {
        let dir = tempfile::tempdir().unwrap();
        let staging = Staging::new(dir.path().join("staging"));
        let blobs = BlobStore::new(dir.path().join("blobs"));
        for (n, len) in [0usize, 1, (3 << 20) + 7].into_iter().enumerate() {
            let file_id = FileId::from_bytes([n as u8; 16]);
            let mut data = vec![0u8; len];
            ChaCha8Rng::seed_from_u64(len as u64).fill_bytes(&mut data);
            stage(&staging, file_id, &data).await;

            let info = seal_staged(&staging, &blobs, file_id, &key(), len as u64).await.unwrap();
            assert_eq!(info.bytes, len as u64);
            assert_eq!(info.sha256.as_slice(), ring::digest::digest(&ring::digest::SHA256, &data).as_ref());
            assert_eq!(object_key(file_id), format!("uploads/{file_id}"));
            assert_eq!(download(&blobs, file_id, &object_aad(file_id)).unwrap(), data, "length {len}");
            // Sealing again (a re-run after a crash) stores the same plaintext.
            assert_eq!(seal_staged(&staging, &blobs, file_id, &key(), len as u64).await.unwrap(), info);
        }
        // An object does not open as another upload's.
        let other = object_aad(FileId::from_bytes([9; 16]));
        assert!(matches!(download(&blobs, FileId::from_bytes([2; 16]), &other), Err(BlobError::Corrupt { .. })));
    }

    #[tokio::test]
    async fn nothing_is_stored_when_the_staging_is_short_or_altered() {
        let dir = tempfile::tempdir().unwrap();
        let staging = Staging::new(dir.path().join("staging"));
        let blobs = BlobStore::new(dir.path().join("blobs"));
        let file_id = FileId::from_bytes([7; 16]);
        stage(&staging, file_id, &[42; 200_000]).await;

        let short = seal_staged(&staging, &blobs, file_id, &key(), 300_000).await;
        assert!(matches!(short, Err(SealError::Staging(StagingError::Corrupt { .. }))), "{short:?}");
        let wrong_key = seal_staged(&staging, &blobs, file_id, &DataKey::from_bytes(&[4; 32]), 200_000).await;
        assert!(matches!(wrong_key, Err(SealError::Staging(StagingError::Corrupt { .. }))), "{wrong_key:?}");
        let missing = seal_staged(&staging, &blobs, FileId::from_bytes([8; 16]), &key(), 10).await;
        assert!(matches!(missing, Err(SealError::Staging(StagingError::Missing(_)))), "{missing:?}");
        assert!(matches!(download(&blobs, file_id, &object_aad(file_id)), Err(BlobError::NotFound(_))));
    }
}
