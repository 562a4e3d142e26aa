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
//! # Backends
//!
//! [`BlobStore`] is the storage boundary; the sealing and the reader do not
//! depend on where the bytes live. `STEWARD_OBJECT_STORE` picks the backend
//! (see [`StoreConfig`]):
//!
//! - unset: files under `<STEWARD_DATA_DIR>/blobs/`. Writes go to `.tmp/`, are
//!   synced, and are renamed into place only when complete. This keeps its own
//!   file code rather than `object_store`'s `LocalFileSystem` (its `fs`
//!   feature stays off): that one never syncs a file before renaming it into
//!   place, so a power loss could leave a committed key with missing bytes,
//!   and it would send every segment read of the (blocking) reader through
//!   the runtime, where a positioned file read does.
//! - `s3://bucket/prefix`: any S3-compatible service through the
//!   `object_store` crate. A write is a multipart upload of 5 MiB parts (at
//!   most two in flight), completed only after the last segment, and aborted
//!   when the input fails or the write is dropped; the reader fetches one
//!   sealed segment per ranged GET, pinned to the ETag it opened, so a blob
//!   replaced mid-read is an error, never a mix of two versions.
//!
//! Either way a crash or an aborted stream never leaves a partial blob under a
//! key. What a crash leaves is cleaned up later: `.tmp/` files by
//! [`BlobStore::purge_temp_older_than`], unfinished multipart uploads by the
//! bucket's lifecycle rule (`AbortIncompleteMultipartUpload`; S3's API lists
//! them per bucket, which `object_store` does not expose).

mod local;
mod object;
mod reader;
#[cfg(test)]
mod tests;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use futures_util::{Stream, StreamExt as _};
use ring::aead::NONCE_LEN;

pub use object::{S3Settings, StoreConfig};
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

/// Sealed blobs in a local directory or an S3-compatible bucket (see the
/// module docs for the boundary).
#[derive(Debug, Clone)]
pub struct BlobStore {
    backend: Backend,
}

#[derive(Debug, Clone)]
enum Backend {
    /// Files under a root directory.
    Local(PathBuf),
    /// Objects under `prefix` in a bucket.
    Object { store: Arc<dyn object_store::ObjectStore>, prefix: object_store::path::Path },
}

impl BlobStore {
    /// A store rooted at `root`, normally `<STEWARD_DATA_DIR>/blobs`. The
    /// directory is created on first write.
    pub fn new(root: impl Into<PathBuf>) -> BlobStore {
        BlobStore { backend: Backend::Local(root.into()) }
    }

    /// The store for a data directory: `<data_dir>/blobs`.
    pub fn in_data_dir(data_dir: &Path) -> BlobStore {
        BlobStore::new(data_dir.join("blobs"))
    }

    /// The store the configuration names: `STEWARD_OBJECT_STORE`'s bucket, else
    /// `<STEWARD_DATA_DIR>/blobs`. Nothing is contacted until first use.
    pub fn from_config(config: &crate::config::Config) -> Result<BlobStore, BlobError> {
        match &config.blob_store {
            StoreConfig::Local => Ok(BlobStore::in_data_dir(&config.data_dir)),
            StoreConfig::S3(settings) => BlobStore::s3(settings),
        }
    }

    /// A store in an S3-compatible bucket.
    pub fn s3(settings: &S3Settings) -> Result<BlobStore, BlobError> {
        let (store, prefix) = object::build(settings)?;
        Ok(BlobStore { backend: Backend::Object { store, prefix } })
    }

    /// Seals `stream` into the blob `key`, replacing any blob there once the
    /// stream has ended. Bytes and SHA-256 of the plaintext are counted on
    /// the way; one segment and its sealed copy are buffered (plus, for S3,
    /// the part being filled and two parts in flight). If the stream fails or the
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
        validate_key(key)?;
        let mut sink = match &self.backend {
            Backend::Local(root) => Sink::Local(local::Write::start(root, key).await?),
            Backend::Object { store, prefix } => {
                Sink::Object(object::Write::start(store, object::path(prefix, key)).await?)
            }
        };
        match seal_into(&mut sink, data_key, aad, stream).await {
            Ok(info) => {
                match sink {
                    Sink::Local(write) => write.finish().await?,
                    Sink::Object(write) => write.finish().await?,
                }
                Ok(info)
            }
            Err(err) => {
                if let Sink::Object(write) = sink {
                    write.abort().await;
                }
                Err(err)
            }
        }
    }

    /// A seekable reader over the plaintext of blob `key` (blocking: use it in
    /// `spawn_blocking`; for S3 it needs to run inside a Tokio runtime's
    /// context, which `spawn_blocking` gives). It opens single segments on
    /// demand and keeps the 4 most recently used; the final segment is
    /// verified before this returns, so truncation is reported here.
    pub fn open_reader<K: SegmentKey + Clone>(
        &self,
        key: &str,
        data_key: &K,
        aad: &[u8],
    ) -> Result<BlobReader<K>, BlobError> {
        validate_key(key)?;
        let source = match &self.backend {
            Backend::Local(root) => local::open(root, key)?,
            Backend::Object { store, prefix } => object::open(store, object::path(prefix, key), key)?,
        };
        BlobReader::new(source, key, data_key.clone(), aad)
    }

    /// Deletes blob `key`; `false` when there was none (deleting is idempotent).
    /// Emptied parent directories are removed too.
    pub async fn delete(&self, key: &str) -> Result<bool, BlobError> {
        validate_key(key)?;
        match &self.backend {
            Backend::Local(root) => local::delete(root, key).await,
            Backend::Object { store, prefix } => object::delete(store, &object::path(prefix, key)).await,
        }
    }

    /// Keys under `prefix` (a key or key prefix ending at a `/` boundary)
    /// last written more than `age` ago, sorted; for the sweeper (§5.8).
    pub async fn list_older_than(&self, prefix: &str, age: Duration) -> Result<Vec<String>, BlobError> {
        let prefix = prefix.trim_end_matches('/').to_owned();
        validate_key(&prefix)?;
        let cutoff = std::time::SystemTime::now().checked_sub(age).unwrap_or(std::time::SystemTime::UNIX_EPOCH);
        let mut keys = match &self.backend {
            Backend::Local(root) => local::list_older_than(root, prefix, cutoff).await?,
            Backend::Object { store, prefix: root } => object::list_older_than(store, root, &prefix, cutoff).await?,
        };
        keys.sort();
        Ok(keys)
    }

    /// Removes writes in progress older than `age`: leftovers of a crash
    /// (a dropped write removes its own). S3 has none to remove here: an
    /// unfinished upload is no object, and the bucket's lifecycle rule
    /// aborts those of a crash (module docs).
    pub async fn purge_temp_older_than(&self, age: Duration) -> Result<usize, BlobError> {
        match &self.backend {
            Backend::Local(root) => local::purge_temp_older_than(root, age).await,
            Backend::Object { .. } => Ok(0),
        }
    }
}

/// Where a blob being written goes.
enum Sink {
    Local(local::Write),
    Object(object::Write),
}

impl Sink {
    async fn write(&mut self, bytes: Vec<u8>) -> Result<(), BlobError> {
        match self {
            Sink::Local(write) => write.write(&bytes).await,
            Sink::Object(write) => write.write(bytes).await,
        }
    }
}

/// Writes the header and the sealed segments of `stream` into `sink`.
async fn seal_into<K, S, B, E>(sink: &mut Sink, data_key: &K, aad: &[u8], stream: S) -> Result<BlobInfo, BlobError>
where
    K: SegmentKey + ?Sized,
    S: Stream<Item = Result<B, E>>,
    B: AsRef<[u8]>,
    E: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let segment_size = u32::try_from(SEGMENT_SIZE).expect("segment size fits u32");
    let header = header(segment_size);
    let mut prefix = header.to_vec();
    prefix.extend_from_slice(aad);
    sink.write(header.to_vec()).await?;

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
                sink.write(seal(data_key, &prefix, index, false, &buf)).await?;
                index += 1;
                buf.clear();
            }
            let take = rest.len().min(SEGMENT_SIZE - buf.len());
            buf.extend_from_slice(&rest[..take]);
            rest = &rest[take..];
        }
    }
    sink.write(seal(data_key, &prefix, index, true, &buf)).await?;
    Ok(BlobInfo { bytes, sha256: sha.finish().as_ref().try_into().expect("SHA-256 is 32 bytes") })
}

/// Seals one segment of the blob being written.
fn seal<K: SegmentKey + ?Sized>(data_key: &K, prefix: &[u8], index: u64, last: bool, plaintext: &[u8]) -> Vec<u8> {
    let sealed = data_key.seal_segment(plaintext, &segment_aad(prefix, index, last));
    assert_eq!(sealed.len(), plaintext.len() + SEAL_OVERHEAD, "SegmentKey contract: fixed overhead");
    sealed
}
