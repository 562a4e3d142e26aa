//! Sealed, segmented blob storage: raw donation archives now, uploaded files
//! later (design §2 "Encryption at rest", donation spec §5.4 and §5.8).
//!
//! A blob is written from a stream into fixed-size segments (1 MiB), each
//! sealed with AES-256-GCM under the caller's 256-bit data key with a fresh
//! random 96-bit nonce. Plaintext never touches the disk, and neither writing
//! nor reading holds more than a few segments in memory.
//!
//! # Format (version 1)
//!
//! ```text
//! header (16 bytes): "STWDBLOB" ‖ version 0x01 ‖ 3 zero bytes ‖ segment size (u32 BE)
//! segment i:         sealed(plaintext_i)   = 0x01 ‖ nonce (12) ‖ ciphertext ‖ tag (16)
//! ```
//!
//! Every segment but the last holds exactly one segment size of plaintext; the
//! last holds 0..=segment size bytes and is sealed with the final flag. The
//! associated data of segment `i` is `header ‖ caller AAD ‖ i (u64 BE) ‖
//! final (1 byte)`, so a swapped or moved segment, a dropped tail (the new
//! last segment was not sealed as final) and a blob moved to another owner
//! (the caller's AAD names it, e.g. donation and part) all fail to open. The
//! plaintext length follows from the file size and is authenticated by the
//! final segment, which [`BlobStore::open_reader`] verifies before returning.
//!
//! # Backend
//!
//! [`BlobStore`] is the storage boundary: blobs live as files under
//! `<STEWARD_DATA_DIR>/blobs/`. The design names the `object_store` crate for
//! S3/GCS; it is not added yet. A backend would replace the file operations
//! behind these same methods (put a stream, read a byte range, delete, list
//! by prefix and age); the sealing and the reader do not depend on files.
//! Writes go to `.tmp/` and are renamed into place only when complete, so a
//! crash or an aborted stream never leaves a partial blob under a key.

mod reader;
#[cfg(test)]
mod tests;

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use futures_util::{Stream, StreamExt as _};
use ring::aead::NONCE_LEN;
use ring::rand::{SecureRandom as _, SystemRandom};
use tokio::io::AsyncWriteExt as _;

pub use reader::BlobReader;

/// Plaintext bytes per segment.
pub const SEGMENT_SIZE: usize = 1 << 20;
/// Bytes a sealed segment adds to its plaintext: version, nonce and tag.
pub const SEAL_OVERHEAD: usize = 1 + NONCE_LEN + TAG_LEN;

const TAG_LEN: usize = 16;
const MAGIC: &[u8; 8] = b"STWDBLOB";
const VERSION: u8 = 1;
const HEADER_LEN: usize = 16;
/// Segment sizes a reader accepts from a header (a bound on what one read allocates).
const SEGMENT_SIZES: std::ops::RangeInclusive<u32> = 4096..=(16 << 20);
/// Directory (under the root) for writes in progress; keys cannot name it.
const TMP_DIR: &str = ".tmp";
const MAX_KEY_LEN: usize = 512;

/// Why a blob operation failed.
#[derive(Debug, thiserror::Error)]
pub enum BlobError {
    /// The key is not a relative path of safe segments.
    #[error("invalid blob key {0:?}")]
    InvalidKey(String),
    /// No blob is stored under the key.
    #[error("blob {0} not found")]
    NotFound(String),
    /// The blob does not open: altered, truncated, reordered, or read with
    /// the wrong data key or associated data.
    #[error("blob {key} is corrupt or was tampered with: {reason}")]
    Corrupt { key: String, reason: &'static str },
    /// The caller's input stream failed; nothing was stored.
    #[error("the input stream failed")]
    Source(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// The storage backend failed.
    #[error("blob storage I/O failed")]
    Io(#[source] std::io::Error),
}

impl From<std::io::Error> for BlobError {
    /// Unwraps a [`BlobError`] carried through `std::io::Read`/`Seek` (as
    /// [`BlobReader`] reports it), so corruption stays distinct from I/O.
    fn from(err: std::io::Error) -> BlobError {
        if err.get_ref().is_some_and(|inner| inner.is::<BlobError>()) {
            let inner = err.into_inner().expect("checked above");
            return *inner.downcast::<BlobError>().expect("checked above");
        }
        BlobError::Io(err)
    }
}

/// What a completed write stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlobInfo {
    /// Plaintext bytes.
    pub bytes: u64,
    /// SHA-256 of the plaintext.
    pub sha256: [u8; 32],
}

/// A 256-bit AES-GCM key that seals segments.
///
/// Contract: `seal_segment` uses a fresh random 96-bit nonce and returns
/// exactly `plaintext.len() + SEAL_OVERHEAD` bytes; `open_segment` returns
/// `None` for anything it did not seal with the same `aad`. Implemented by
/// the donation's `DataKey` (also built from raw bytes with `DataKey::from_bytes`).
pub trait SegmentKey {
    /// Seals one segment bound to `aad`.
    fn seal_segment(&self, plaintext: &[u8], aad: &[u8]) -> Vec<u8>;
    /// Opens one sealed segment, or `None` when it does not authenticate.
    fn open_segment(&self, sealed: &[u8], aad: &[u8]) -> Option<Vec<u8>>;
}

impl SegmentKey for crate::donation::keys::DataKey {
    fn seal_segment(&self, plaintext: &[u8], aad: &[u8]) -> Vec<u8> {
        self.seal(plaintext, aad)
    }

    fn open_segment(&self, sealed: &[u8], aad: &[u8]) -> Option<Vec<u8>> {
        self.open(sealed, aad).ok()
    }
}

/// The blob header for a segment size.
fn header(segment_size: u32) -> [u8; HEADER_LEN] {
    let mut header = [0u8; HEADER_LEN];
    header[..8].copy_from_slice(MAGIC);
    header[8] = VERSION;
    header[12..].copy_from_slice(&segment_size.to_be_bytes());
    header
}

/// Associated data of one segment: `header ‖ caller AAD ‖ index ‖ final`.
fn segment_aad(prefix: &[u8], index: u64, last: bool) -> Vec<u8> {
    let mut aad = Vec::with_capacity(prefix.len() + 9);
    aad.extend_from_slice(prefix);
    aad.extend_from_slice(&index.to_be_bytes());
    aad.push(u8::from(last));
    aad
}

/// Checks that `key` is a relative path of non-empty segments of
/// `[A-Za-z0-9._-]`, none starting with `.` (so no `.`, `..` or `.tmp`).
fn validate_key(key: &str) -> Result<(), BlobError> {
    let ok = !key.is_empty()
        && key.len() <= MAX_KEY_LEN
        && key.split('/').all(|segment| {
            !segment.is_empty()
                && !segment.starts_with('.')
                && segment.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
        });
    if ok { Ok(()) } else { Err(BlobError::InvalidKey(key.to_owned())) }
}

/// Sealed blobs on the local file system (see the module docs for the boundary).
#[derive(Debug, Clone)]
pub struct BlobStore {
    root: PathBuf,
}

impl BlobStore {
    /// A store rooted at `root`, normally `<STEWARD_DATA_DIR>/blobs`. The
    /// directory is created on first write.
    pub fn new(root: impl Into<PathBuf>) -> BlobStore {
        BlobStore { root: root.into() }
    }

    /// The store for a data directory: `<data_dir>/blobs`.
    pub fn in_data_dir(data_dir: &Path) -> BlobStore {
        BlobStore::new(data_dir.join("blobs"))
    }

    fn path(&self, key: &str) -> Result<PathBuf, BlobError> {
        validate_key(key)?;
        Ok(self.root.join(key))
    }

    /// Seals `stream` into the blob `key`, replacing any blob there once the
    /// stream has ended. Bytes and SHA-256 of the plaintext are counted on
    /// the way; one segment and its sealed copy are buffered. If the stream fails or the
    /// future is dropped, nothing is stored under `key`.
    pub async fn put_stream<K, S, B, E>(
        &self,
        key: &str,
        data_key: &K,
        aad: &[u8],
        stream: S,
    ) -> Result<BlobInfo, BlobError>
    where
        K: SegmentKey + ?Sized,
        S: Stream<Item = Result<B, E>>,
        B: AsRef<[u8]>,
        E: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let target = self.path(key)?;
        let tmp_dir = self.root.join(TMP_DIR);
        tokio::fs::create_dir_all(&tmp_dir).await.map_err(BlobError::Io)?;
        let mut name = [0u8; 16];
        SystemRandom::new().fill(&mut name).expect("system random source failed");
        let tmp = TempFile(Some(tmp_dir.join(name.iter().map(|b| format!("{b:02x}")).collect::<String>())));
        let mut file = tokio::fs::File::create(tmp.path()).await.map_err(BlobError::Io)?;

        let segment_size = u32::try_from(SEGMENT_SIZE).expect("segment size fits u32");
        let header = header(segment_size);
        let mut prefix = header.to_vec();
        prefix.extend_from_slice(aad);
        file.write_all(&header).await.map_err(BlobError::Io)?;

        let mut sha = ring::digest::Context::new(&ring::digest::SHA256);
        let mut bytes = 0u64;
        let mut index = 0u64;
        let mut buf = Vec::with_capacity(SEGMENT_SIZE);
        let mut stream = std::pin::pin!(stream);
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| BlobError::Source(e.into()))?;
            let mut rest = chunk.as_ref();
            sha.update(rest);
            bytes += rest.len() as u64;
            while !rest.is_empty() {
                // A full segment is sealed only once more data arrives: the
                // last segment must carry the final flag.
                if buf.len() == SEGMENT_SIZE {
                    write_segment(&mut file, data_key, &prefix, index, false, &buf).await?;
                    index += 1;
                    buf.clear();
                }
                let take = rest.len().min(SEGMENT_SIZE - buf.len());
                buf.extend_from_slice(&rest[..take]);
                rest = &rest[take..];
            }
        }
        write_segment(&mut file, data_key, &prefix, index, true, &buf).await?;
        file.sync_all().await.map_err(BlobError::Io)?;
        drop(file);

        let parent = target.parent().expect("a validated key has a parent under the root");
        tokio::fs::create_dir_all(parent).await.map_err(BlobError::Io)?;
        if let Err(err) = tokio::fs::rename(tmp.path(), &target).await {
            // A concurrent delete may have pruned the (then empty) parent.
            if err.kind() != std::io::ErrorKind::NotFound {
                return Err(BlobError::Io(err));
            }
            tokio::fs::create_dir_all(parent).await.map_err(BlobError::Io)?;
            tokio::fs::rename(tmp.path(), &target).await.map_err(BlobError::Io)?;
        }
        tmp.keep();
        Ok(BlobInfo { bytes, sha256: sha.finish().as_ref().try_into().expect("SHA-256 is 32 bytes") })
    }

    /// A seekable reader over the plaintext of blob `key` (blocking: use it in
    /// `spawn_blocking`). It opens single segments on demand and keeps the 4
    /// most recently used; the final segment is verified before this returns,
    /// so truncation is reported here.
    pub fn open_reader<K: SegmentKey + Clone>(
        &self,
        key: &str,
        data_key: &K,
        aad: &[u8],
    ) -> Result<BlobReader<K>, BlobError> {
        let path = self.path(key)?;
        let file = std::fs::File::open(&path).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => BlobError::NotFound(key.to_owned()),
            _ => BlobError::Io(e),
        })?;
        BlobReader::new(file, key, data_key.clone(), aad)
    }

    /// Deletes blob `key`; `false` when there was none (deleting is idempotent).
    /// Emptied parent directories are removed too.
    pub async fn delete(&self, key: &str) -> Result<bool, BlobError> {
        let path = self.path(key)?;
        match tokio::fs::remove_file(&path).await {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
            Err(e) => return Err(BlobError::Io(e)),
        }
        let mut dir = path.parent();
        while let Some(d) = dir.filter(|d| *d != self.root) {
            // Fails (and stops) at the first directory that is not empty.
            if tokio::fs::remove_dir(d).await.is_err() {
                break;
            }
            dir = d.parent();
        }
        Ok(true)
    }

    /// Keys under `prefix` (a key or key prefix ending at a `/` boundary)
    /// last written more than `age` ago, sorted; for the sweeper (§5.8).
    pub async fn list_older_than(&self, prefix: &str, age: Duration) -> Result<Vec<String>, BlobError> {
        let prefix = prefix.trim_end_matches('/').to_owned();
        let dir = self.path(&prefix)?;
        let cutoff = SystemTime::now().checked_sub(age).unwrap_or(SystemTime::UNIX_EPOCH);
        tokio::task::spawn_blocking(move || {
            let mut keys = Vec::new();
            list_dir(&dir, &prefix, cutoff, &mut keys)?;
            keys.sort();
            Ok(keys)
        })
        .await
        .map_err(|e| BlobError::Io(std::io::Error::other(e)))?
    }

    /// Removes writes in progress older than `age`: leftovers of a crash
    /// (a dropped write removes its own).
    pub async fn purge_temp_older_than(&self, age: Duration) -> Result<usize, BlobError> {
        let dir = self.root.join(TMP_DIR);
        let cutoff = SystemTime::now().checked_sub(age).unwrap_or(SystemTime::UNIX_EPOCH);
        let mut entries = match tokio::fs::read_dir(&dir).await {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
            Err(e) => return Err(BlobError::Io(e)),
        };
        let mut removed = 0;
        while let Some(entry) = entries.next_entry().await.map_err(BlobError::Io)? {
            let modified = entry.metadata().await.and_then(|m| m.modified()).map_err(BlobError::Io)?;
            if modified < cutoff && tokio::fs::remove_file(entry.path()).await.is_ok() {
                removed += 1;
            }
        }
        Ok(removed)
    }
}

/// Seals one segment and appends it to the blob being written.
async fn write_segment<K: SegmentKey + ?Sized>(
    file: &mut tokio::fs::File,
    data_key: &K,
    prefix: &[u8],
    index: u64,
    last: bool,
    plaintext: &[u8],
) -> Result<(), BlobError> {
    let sealed = data_key.seal_segment(plaintext, &segment_aad(prefix, index, last));
    assert_eq!(sealed.len(), plaintext.len() + SEAL_OVERHEAD, "SegmentKey contract: fixed overhead");
    file.write_all(&sealed).await.map_err(BlobError::Io)
}

/// Collects blob files under `dir` (key `prefix`) modified before `cutoff`.
fn list_dir(dir: &Path, prefix: &str, cutoff: SystemTime, keys: &mut Vec<String>) -> Result<(), BlobError> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if matches!(e.kind(), std::io::ErrorKind::NotFound | std::io::ErrorKind::NotADirectory) => {
            // The prefix may itself name a blob.
            return match std::fs::metadata(dir) {
                Ok(m) if m.is_file() && m.modified()? < cutoff => {
                    keys.push(prefix.to_owned());
                    Ok(())
                }
                _ => Ok(()),
            };
        }
        Err(e) => return Err(BlobError::Io(e)),
    };
    for entry in entries {
        let entry = entry?;
        let Some(name) = entry.file_name().to_str().map(str::to_owned) else { continue };
        let key = format!("{prefix}/{name}");
        let file_type = entry.file_type()?;
        if file_type.is_dir() {
            list_dir(&entry.path(), &key, cutoff, keys)?;
        } else if file_type.is_file() && entry.metadata()?.modified()? < cutoff {
            keys.push(key);
        }
    }
    Ok(())
}

/// A write in progress, removed unless kept (also when the future is dropped).
struct TempFile(Option<PathBuf>);

impl TempFile {
    fn path(&self) -> &Path {
        self.0.as_deref().expect("present until kept")
    }

    fn keep(mut self) {
        self.0 = None;
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        if let Some(path) = self.0.take() {
            let _ = std::fs::remove_file(path);
        }
    }
}
