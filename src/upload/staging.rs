//! The staging area of unfinished uploads (spec upload.md §2.7): the bytes
//! received so far, sealed on local disk under `STEWARD_UPLOAD_STAGING_DIR`,
//! until the finalize job moves them into the blob store ([`super::seal`]).
//! Nothing here is plaintext on disk.
//!
//! # Layout
//!
//! Each upload has a directory `<root>/<file_id>/` holding:
//!
//! - `segments`: the full 64 KiB plaintext segments 0…k−1, append-only, each
//!   as a fixed-size record `u32 BE sealed length ‖ sealed`, so record `i`
//!   starts at `i × RECORD_LEN`;
//! - `tail`: one record holding the partial last segment (number k, shorter
//!   than 64 KiB), replaced atomically (`tail.tmp`, fsync, rename, fsync of
//!   the directory); there is none while the offset is a multiple of 64 KiB.
//!
//! `sealed` is the data key's format (`0x01 ‖ nonce ‖ ciphertext ‖ tag`, see
//! [`DataKey`]; the spec's record has no version byte), with the associated
//! data `"steward-upload-staging/v1" ‖ file_id (16 bytes) ‖ u64 BE segment
//! number`, so a record moved to another position or another upload does not
//! open.
//!
//! # Offsets and recovery
//!
//! The database holds the committed offset and is the truth. A writer makes
//! its bytes durable in [`StagingWriter::sync`] (segments fsynced before the
//! tail is replaced) and only then may the caller record the offset, so the
//! disk never holds less than was committed. Opening a writer cuts the
//! staged data back to the committed offset: it rebuilds the tail (re-sealed,
//! with a fresh nonce) from the record that now holds the partial segment and
//! writes it before it truncates `segments`, so a crash in between loses
//! nothing committed and the next opening finishes the job.
//!
//! Within one process a file has at most one writer at a time: a writer
//! holds a per-file lock that its background writes keep until they have
//! finished, so a dropped writer's last batch cannot interleave with the
//! next writer's appends. Across replicas the database's writer lease
//! (§2.8) does this.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{self, IoSlice, Write as _};
use std::os::unix::fs::FileExt as _;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use bytes::Bytes;
use futures_util::Stream;
use tokio::sync::{OwnedMutexGuard, mpsc};
use tokio::task::JoinHandle;

use crate::blobs::SEAL_OVERHEAD;
use crate::donation::keys::DataKey;

/// Plaintext bytes per staged segment.
pub const SEGMENT_SIZE: usize = 64 * 1024;
/// A sealed full segment.
const SEALED_SEGMENT: usize = SEGMENT_SIZE + SEAL_OVERHEAD;
/// A record of a full segment in `segments`: length prefix and sealed segment.
const RECORD_LEN: usize = 4 + SEALED_SEGMENT;
/// Full segments sealed and written per blocking call (1 MiB of plaintext).
const BATCH_SEGMENTS: usize = 16;
const BATCH: usize = BATCH_SEGMENTS * SEGMENT_SIZE;
/// Segments a reader decrypts ahead of its consumer.
const READ_AHEAD: usize = 16;
/// How long opening a writer waits for the previous writer's last writes.
const LOCK_WAIT: Duration = Duration::from_secs(10);
/// Associated-data prefix of a staged segment.
const AAD_CONTEXT: &[u8] = b"steward-upload-staging/v1";
const SEGMENTS: &str = "segments";
const TAIL: &str = "tail";
const TAIL_TMP: &str = "tail.tmp";

/// An upload's id (a UUID), which names its staging directory.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FileId([u8; 16]);

impl FileId {
    /// The id with these 16 bytes.
    pub fn from_bytes(bytes: [u8; 16]) -> FileId {
        FileId(bytes)
    }

    /// The 16 bytes of the id (as bound into associated data).
    pub fn as_bytes(&self) -> &[u8; 16] {
        &self.0
    }

    /// Parses a hyphenated UUID (`8-4-4-4-12` hex digits, either case), as
    /// PostgreSQL prints a `uuid`.
    pub fn parse(s: &str) -> Option<FileId> {
        let s = s.as_bytes();
        if s.len() != 36 {
            return None;
        }
        const HYPHENS: [usize; 4] = [8, 13, 18, 23];
        if HYPHENS.iter().any(|&i| s[i] != b'-') {
            return None;
        }
        let mut digits = s.iter().enumerate().filter_map(|(i, &c)| (!HYPHENS.contains(&i)).then_some(c));
        let mut bytes = [0u8; 16];
        for byte in &mut bytes {
            let hi = char::from(digits.next()?).to_digit(16)?;
            let lo = char::from(digits.next()?).to_digit(16)?;
            *byte = u8::try_from((hi << 4) | lo).expect("two hex digits fit a byte");
        }
        Some(FileId(bytes))
    }
}

impl From<uuid::Uuid> for FileId {
    fn from(id: uuid::Uuid) -> FileId {
        FileId(*id.as_bytes())
    }
}

impl From<FileId> for uuid::Uuid {
    fn from(id: FileId) -> uuid::Uuid {
        uuid::Uuid::from_bytes(id.0)
    }
}

impl std::fmt::Display for FileId {
    /// Lowercase hyphenated, the name of the staging directory.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (i, byte) in self.0.iter().enumerate() {
            if matches!(i, 4 | 6 | 8 | 10) {
                f.write_str("-")?;
            }
            write!(f, "{byte:02x}")?;
        }
        Ok(())
    }
}

impl std::fmt::Debug for FileId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "FileId({self})")
    }
}

/// Why staged data cannot be written or read.
#[derive(Debug, thiserror::Error)]
pub enum StagingError {
    /// The upload has no staging directory here although bytes were
    /// committed: it was staged on another replica (answer UNAVAILABLE), or
    /// its staging was removed.
    #[error("the staged data of upload {0} is not on this server")]
    Missing(FileId),
    /// The staged data does not open, or holds less than was committed:
    /// altered or truncated files, or the wrong data key.
    #[error("the staged data of upload {file_id} is corrupt: {reason}")]
    Corrupt { file_id: FileId, reason: &'static str },
    /// The previous writer of this upload in this process is still
    /// finishing its writes (see the module docs).
    #[error("upload {0} is still being written by an earlier request")]
    Busy(FileId),
    /// An earlier `write` or `sync` of this writer failed or was cancelled;
    /// open a new writer, which cuts back to the committed offset.
    #[error("an earlier write to the staging of upload {0} did not complete")]
    WriterFailed(FileId),
    /// The file system failed.
    #[error("upload staging I/O failed")]
    Io(#[source] io::Error),
}

impl From<io::Error> for StagingError {
    fn from(err: io::Error) -> StagingError {
        StagingError::Io(err)
    }
}

/// The staging area: one directory per unfinished upload under a root.
#[derive(Debug, Clone)]
pub struct Staging {
    root: PathBuf,
    /// Per-file writer locks of this process (entries nobody holds are pruned).
    writers: Arc<Mutex<HashMap<FileId, Arc<tokio::sync::Mutex<()>>>>>,
}

impl Staging {
    /// The staging area under `root` (created on first use).
    pub fn new(root: PathBuf) -> Staging {
        Staging { root, writers: Arc::default() }
    }

    /// The root directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    fn dir(&self, file_id: FileId) -> PathBuf {
        self.root.join(file_id.to_string())
    }

    /// Creates the empty directory of a new upload (idempotent; data already
    /// staged is kept).
    pub async fn create(&self, file_id: FileId) -> Result<(), StagingError> {
        let (root, dir) = (self.root.clone(), self.dir(file_id));
        blocking(move || Ok(create_dir(&root, &dir)?)).await
    }

    /// Opens the writer of an upload at `committed`, the offset the database
    /// holds, after cutting the staged data back to exactly that many bytes
    /// (module docs). With `committed == 0` the directory is created if
    /// needed; with more, a missing directory is [`StagingError::Missing`]
    /// and fewer staged bytes [`StagingError::Corrupt`]. Waits (up to 10 s,
    /// then [`StagingError::Busy`]) while a previous writer of the same file
    /// in this process finishes its writes.
    pub async fn writer(&self, file_id: FileId, key: DataKey, committed: u64) -> Result<StagingWriter, StagingError> {
        let lock = Arc::new(self.lock(file_id).await?);
        let (root, dir) = (self.root.clone(), self.dir(file_id));
        let recovered = {
            let (lock, dir, key) = (lock.clone(), dir.clone(), key.clone());
            blocking(move || {
                let _lock = lock;
                recover(&root, &dir, file_id, &key, committed)
            })
            .await?
        };
        Ok(StagingWriter {
            file_id,
            dir,
            key,
            segments: Arc::new(recovered.segments),
            lock,
            sealed_segments: committed / SEGMENT_SIZE as u64,
            fill: recovered.partial,
            spare: Vec::new(),
            in_flight: None,
            appended: false,
            tail_on_disk: recovered.tail_on_disk,
            durable: committed,
            failed: false,
        })
    }

    /// Takes this process's writer lock of a file.
    async fn lock(&self, file_id: FileId) -> Result<OwnedMutexGuard<()>, StagingError> {
        let mutex = {
            let mut writers = self.writers.lock().unwrap_or_else(PoisonError::into_inner);
            writers.retain(|_, mutex| Arc::strong_count(mutex) > 1);
            writers.entry(file_id).or_default().clone()
        };
        tokio::time::timeout(LOCK_WAIT, mutex.lock_owned()).await.map_err(|_| StagingError::Busy(file_id))
    }

    /// The plaintext of the first `len` staged bytes, in order, for the
    /// finalize job. Every record is authenticated before its bytes are
    /// yielded; a record that does not open (altered, moved, wrong key) or
    /// missing data ends the stream with an error item. A background thread
    /// decrypts at most 16 segments (1 MiB) ahead of the consumer and stops
    /// when the stream is dropped. With `len == 0` the stream is empty and
    /// the disk is not read.
    pub fn read(
        &self,
        file_id: FileId,
        key: DataKey,
        len: u64,
    ) -> impl Stream<Item = Result<Bytes, StagingError>> + Send + 'static {
        let start = ReadState::Start { dir: self.dir(file_id), file_id, key, len };
        futures_util::stream::unfold(start, |state| async move {
            let mut items = match state {
                ReadState::Start { dir, file_id, key, len } => {
                    let (tx, rx) = mpsc::channel(READ_AHEAD);
                    tokio::task::spawn_blocking(move || {
                        if let Err(err) = read_plaintext(&dir, file_id, &key, len, &tx) {
                            // The consumer may be gone; then nobody needs the error.
                            let _ = tx.blocking_send(Err(err));
                        }
                    });
                    rx
                }
                ReadState::Reading(items) => items,
                ReadState::Done => return None,
            };
            let item = items.recv().await?;
            let next = if item.is_ok() { ReadState::Reading(items) } else { ReadState::Done };
            Some((item, next))
        })
    }

    /// Removes the staging of an upload (idempotent).
    pub async fn remove(&self, file_id: FileId) -> Result<(), StagingError> {
        let dir = self.dir(file_id);
        blocking(move || match std::fs::remove_dir_all(&dir) {
            Err(err) if err.kind() != io::ErrorKind::NotFound => Err(err.into()),
            _ => Ok(()),
        })
        .await
    }

    /// The uploads whose staging directory was last modified at least
    /// `min_age` ago, sorted (for the sweeper of directories no database row
    /// knows: a younger one may belong to a creation whose row is not
    /// committed yet). Other entries under the root are not listed.
    pub async fn list(&self, min_age: Duration) -> Result<Vec<FileId>, StagingError> {
        let root = self.root.clone();
        blocking(move || {
            let entries = match std::fs::read_dir(&root) {
                Ok(entries) => entries,
                Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
                Err(err) => return Err(err.into()),
            };
            let mut ids = Vec::new();
            for entry in entries {
                let entry = entry?;
                if !entry.file_type()?.is_dir() {
                    continue;
                }
                if let Some(name) = entry.file_name().to_str()
                    && let Some(id) = FileId::parse(name)
                    && id.to_string() == name
                    && entry.metadata()?.modified()?.elapsed().unwrap_or_default() >= min_age
                {
                    ids.push(id);
                }
            }
            ids.sort();
            Ok(ids)
        })
        .await
    }
}

/// The state of a [`Staging::read`] stream.
enum ReadState {
    Start { dir: PathBuf, file_id: FileId, key: DataKey, len: u64 },
    Reading(mpsc::Receiver<Result<Bytes, StagingError>>),
    Done,
}

/// Appends to one upload's staging; see [`Staging::writer`].
///
/// Bytes are buffered and sealed in batches of 1 MiB, written by blocking
/// tasks while the next batch fills (at most about 3 MiB per writer). They
/// are durable only after [`sync`](Self::sync); a writer dropped before
/// that loses them, and the next writer cuts back to the committed offset.
/// After a `write` or `sync` fails or is cancelled, the writer refuses
/// further use ([`StagingError::WriterFailed`]).
pub struct StagingWriter {
    file_id: FileId,
    dir: PathBuf,
    key: DataKey,
    segments: Arc<File>,
    /// This process's lock of the file; blocking writes hold clones.
    lock: Arc<OwnedMutexGuard<()>>,
    /// Full segments handed to batches (written, or being written).
    sealed_segments: u64,
    /// Plaintext after the last sealed segment: the next batch.
    fill: Vec<u8>,
    /// The batch buffer back from the last write, to fill next.
    spare: Vec<u8>,
    /// The batch being sealed and written; it hands its buffer back.
    in_flight: Option<JoinHandle<Result<Vec<u8>, StagingError>>>,
    /// Records were appended since `segments` was last fsynced.
    appended: bool,
    /// A `tail` file exists (it matches the durable offset).
    tail_on_disk: bool,
    durable: u64,
    failed: bool,
}

impl std::fmt::Debug for StagingWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StagingWriter")
            .field("file_id", &self.file_id)
            .field("offset", &self.offset())
            .field("durable", &self.durable)
            .finish_non_exhaustive()
    }
}

impl StagingWriter {
    /// Appends `data` (not yet durable).
    pub async fn write(&mut self, data: &[u8]) -> Result<(), StagingError> {
        self.begin()?;
        self.write_batches(data).await?;
        self.failed = false;
        Ok(())
    }

    /// Bytes written so far: committed and pending.
    pub fn offset(&self) -> u64 {
        self.sealed_segments * SEGMENT_SIZE as u64 + self.fill.len() as u64
    }

    /// Makes everything written durable: the remaining full segments are
    /// written and `segments` fsynced, then the tail is replaced atomically
    /// (or a stale one removed when the offset is a multiple of 64 KiB).
    /// Returns the durable offset; only now may the caller commit it.
    pub async fn sync(&mut self) -> Result<u64, StagingError> {
        self.begin()?;
        let offset = self.sync_all().await?;
        self.failed = false;
        Ok(offset)
    }

    /// Refuses a failed writer, and marks the writer failed until the
    /// operation completes (so a cancelled one counts as failed).
    fn begin(&mut self) -> Result<(), StagingError> {
        if self.failed {
            return Err(StagingError::WriterFailed(self.file_id));
        }
        self.failed = true;
        Ok(())
    }

    async fn write_batches(&mut self, mut data: &[u8]) -> Result<(), StagingError> {
        while !data.is_empty() {
            self.fill.reserve_exact(BATCH - self.fill.len());
            let take = data.len().min(BATCH - self.fill.len());
            self.fill.extend_from_slice(&data[..take]);
            data = &data[take..];
            if self.fill.len() == BATCH {
                self.seal_full_segments().await?;
            }
        }
        Ok(())
    }

    /// Hands the full segments of `fill` to a blocking task that seals and
    /// appends them, after the previous batch has finished.
    async fn seal_full_segments(&mut self) -> Result<(), StagingError> {
        let full = self.fill.len() / SEGMENT_SIZE * SEGMENT_SIZE;
        if full == 0 {
            return Ok(());
        }
        self.settle().await?;
        let mut next = std::mem::take(&mut self.spare);
        next.clear();
        next.extend_from_slice(&self.fill[full..]);
        let mut batch = std::mem::replace(&mut self.fill, next);
        batch.truncate(full);
        let first = self.sealed_segments;
        self.sealed_segments += (full / SEGMENT_SIZE) as u64;
        self.appended = true;
        let (segments, key, file_id, lock) = (self.segments.clone(), self.key.clone(), self.file_id, self.lock.clone());
        self.in_flight = Some(tokio::task::spawn_blocking(move || {
            let _lock = lock;
            append_segments(&segments, &key, file_id, first, &batch)?;
            Ok(batch)
        }));
        Ok(())
    }

    /// Waits for the batch in flight and keeps its buffer.
    async fn settle(&mut self) -> Result<(), StagingError> {
        if let Some(batch) = self.in_flight.take() {
            self.spare = joined(batch.await)?;
        }
        Ok(())
    }

    async fn sync_all(&mut self) -> Result<u64, StagingError> {
        let offset = self.offset();
        if offset == self.durable {
            return Ok(offset);
        }
        self.seal_full_segments().await?;
        self.settle().await?;
        let partial = self.fill.clone();
        let (fsync_segments, remove_tail) = (self.appended, partial.is_empty() && self.tail_on_disk);
        let (segments, dir, key, file_id, number, lock) = (
            self.segments.clone(),
            self.dir.clone(),
            self.key.clone(),
            self.file_id,
            self.sealed_segments,
            self.lock.clone(),
        );
        blocking(move || {
            let _lock = lock;
            if fsync_segments {
                segments.sync_data()?;
            }
            if !partial.is_empty() {
                write_tail(&dir, &key, file_id, number, &partial)?;
            } else if remove_tail {
                // A stale tail is harmless (an aligned offset never reads
                // it), so its removal needs no directory fsync.
                remove_file_if_exists(&dir.join(TAIL))?;
            }
            Ok(())
        })
        .await?;
        self.appended = false;
        self.tail_on_disk = !self.fill.is_empty();
        self.durable = offset;
        Ok(offset)
    }
}

/// Runs blocking file work off the runtime's threads.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, StagingError> + Send + 'static,
) -> Result<T, StagingError> {
    joined(tokio::task::spawn_blocking(work).await)
}

/// The result of a blocking task; its panic goes on to the caller.
fn joined<T>(result: Result<Result<T, StagingError>, tokio::task::JoinError>) -> Result<T, StagingError> {
    match result {
        Ok(result) => result,
        Err(err) if err.is_panic() => std::panic::resume_unwind(err.into_panic()),
        Err(err) => Err(StagingError::Io(io::Error::other(err))),
    }
}

/// Associated data of staged segment `number` of `file_id`.
fn segment_aad(file_id: FileId, number: u64) -> Vec<u8> {
    let mut aad = Vec::with_capacity(AAD_CONTEXT.len() + 16 + 8);
    aad.extend_from_slice(AAD_CONTEXT);
    aad.extend_from_slice(file_id.as_bytes());
    aad.extend_from_slice(&number.to_be_bytes());
    aad
}

fn corrupt(file_id: FileId, reason: &'static str) -> StagingError {
    StagingError::Corrupt { file_id, reason }
}

/// Creates the root, the upload's directory and its empty `segments`, durably.
fn create_dir(root: &Path, dir: &Path) -> io::Result<()> {
    std::fs::create_dir_all(root)?;
    match std::fs::create_dir(dir) {
        Err(err) if err.kind() != io::ErrorKind::AlreadyExists => return Err(err),
        _ => {}
    }
    OpenOptions::new().create(true).append(true).open(dir.join(SEGMENTS))?.sync_all()?;
    sync_dir(dir)?;
    sync_dir(root)
}

/// Makes the entries of a directory (creations, renames) durable.
fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

fn remove_file_if_exists(path: &Path) -> io::Result<()> {
    match std::fs::remove_file(path) {
        Err(err) if err.kind() != io::ErrorKind::NotFound => Err(err),
        _ => Ok(()),
    }
}

/// Writes all of `bufs`, continuing after short writes.
fn write_all_vectored(mut file: &File, mut bufs: &mut [IoSlice<'_>]) -> io::Result<()> {
    while !bufs.is_empty() {
        match file.write_vectored(bufs) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(written) => IoSlice::advance_slices(&mut bufs, written),
            Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
            Err(err) => return Err(err),
        }
    }
    Ok(())
}

/// Seals the full segments in `plaintext`, numbered from `first`, and
/// appends their records to `segments` in one vectored write.
fn append_segments(segments: &File, key: &DataKey, file_id: FileId, first: u64, plaintext: &[u8]) -> io::Result<()> {
    let items = plaintext
        .chunks_exact(SEGMENT_SIZE)
        .enumerate()
        .map(|(i, chunk)| (chunk, segment_aad(file_id, first + i as u64)));
    let sealed = key.seal_all(items);
    let prefix = u32::try_from(SEALED_SEGMENT).expect("a sealed segment fits u32").to_be_bytes();
    let mut slices = Vec::with_capacity(2 * sealed.len());
    for record in &sealed {
        assert_eq!(record.len(), SEALED_SEGMENT, "sealing adds a fixed overhead");
        slices.extend([IoSlice::new(&prefix), IoSlice::new(record)]);
    }
    write_all_vectored(segments, &mut slices)
}

/// Replaces the tail with `plaintext` as segment `number`: `tail.tmp`, fsync,
/// rename, fsync of the directory.
fn write_tail(dir: &Path, key: &DataKey, file_id: FileId, number: u64, plaintext: &[u8]) -> io::Result<()> {
    let sealed = key.seal(plaintext, &segment_aad(file_id, number));
    let prefix = u32::try_from(sealed.len()).expect("a sealed segment fits u32").to_be_bytes();
    let tmp = dir.join(TAIL_TMP);
    let file = File::create(&tmp)?;
    write_all_vectored(&file, &mut [IoSlice::new(&prefix), IoSlice::new(&sealed)])?;
    file.sync_data()?;
    drop(file);
    std::fs::rename(&tmp, dir.join(TAIL))?;
    sync_dir(dir)
}

/// Opens one record (`u32 BE length ‖ sealed`) as segment `number`.
fn open_record(record: &[u8], key: &DataKey, file_id: FileId, number: u64) -> Result<Vec<u8>, StagingError> {
    let (prefix, sealed) = record.split_first_chunk::<4>().ok_or_else(|| corrupt(file_id, "a record is truncated"))?;
    if u32::from_be_bytes(*prefix) as usize != sealed.len() {
        return Err(corrupt(file_id, "a record's length is wrong"));
    }
    key.open(sealed, &segment_aad(file_id, number))
        .map_err(|_| corrupt(file_id, "a staged segment does not open (altered, moved, or the wrong key)"))
}

/// Reads and opens full segment `number` from `segments`.
fn read_segment(segments: &File, key: &DataKey, file_id: FileId, number: u64) -> Result<Vec<u8>, StagingError> {
    let mut record = vec![0u8; RECORD_LEN];
    segments.read_exact_at(&mut record, number * RECORD_LEN as u64)?;
    let plaintext = open_record(&record, key, file_id, number)?;
    if plaintext.len() != SEGMENT_SIZE {
        return Err(corrupt(file_id, "a full segment is short"));
    }
    Ok(plaintext)
}

/// Reads and opens the tail as segment `number`; `None` when there is none.
fn read_tail(dir: &Path, key: &DataKey, file_id: FileId, number: u64) -> Result<Option<Vec<u8>>, StagingError> {
    let file = match File::open(dir.join(TAIL)) {
        Ok(file) => file,
        Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(err) => return Err(err.into()),
    };
    let len = file.metadata()?.len();
    if len >= RECORD_LEN as u64 {
        return Err(corrupt(file_id, "the tail is too long"));
    }
    let mut record = vec![0u8; len as usize];
    file.read_exact_at(&mut record, 0)?;
    open_record(&record, key, file_id, number).map(Some)
}

/// What a writer starts from after recovery.
struct Recovered {
    segments: File,
    /// The plaintext of the partial segment at the committed offset.
    partial: Vec<u8>,
    tail_on_disk: bool,
}

/// Cuts the staging of an upload back to `committed` bytes (module docs).
fn recover(root: &Path, dir: &Path, file_id: FileId, key: &DataKey, committed: u64) -> Result<Recovered, StagingError> {
    if committed == 0 {
        create_dir(root, dir)?;
    }
    let segments = match OpenOptions::new().read(true).append(true).open(dir.join(SEGMENTS)) {
        Ok(file) => file,
        Err(err) if err.kind() == io::ErrorKind::NotFound => {
            return Err(if dir.is_dir() {
                corrupt(file_id, "the segments file is missing")
            } else {
                StagingError::Missing(file_id)
            });
        }
        Err(err) => return Err(err.into()),
    };
    let full = committed / SEGMENT_SIZE as u64;
    let part = (committed % SEGMENT_SIZE as u64) as usize;
    let on_disk = segments.metadata()?.len();
    let records = on_disk / RECORD_LEN as u64;
    if records < full {
        return Err(corrupt(file_id, "fewer bytes are staged than were committed"));
    }
    let partial = if part == 0 {
        remove_file_if_exists(&dir.join(TAIL))?;
        Vec::new()
    } else if records > full {
        // Segment `full` was completed after the commit: its first bytes
        // are the committed partial segment. The tail is written before
        // the record is cut off below.
        let mut plaintext = read_segment(&segments, key, file_id, full)?;
        plaintext.truncate(part);
        write_tail(dir, key, file_id, full, &plaintext)?;
        plaintext
    } else {
        let mut plaintext = read_tail(dir, key, file_id, full)?
            .ok_or_else(|| corrupt(file_id, "the partial last segment is missing"))?;
        if plaintext.len() < part {
            return Err(corrupt(file_id, "fewer bytes are staged than were committed"));
        }
        if plaintext.len() > part {
            plaintext.truncate(part);
            write_tail(dir, key, file_id, full, &plaintext)?;
        }
        plaintext
    };
    let keep = full * RECORD_LEN as u64;
    if on_disk > keep {
        segments.set_len(keep)?;
        segments.sync_all()?;
    }
    Ok(Recovered { segments, partial, tail_on_disk: part > 0 })
}

/// Sends the plaintext of the first `len` staged bytes into `tx`, one
/// segment per item; returns early when the receiver is gone.
fn read_plaintext(
    dir: &Path,
    file_id: FileId,
    key: &DataKey,
    len: u64,
    tx: &mpsc::Sender<Result<Bytes, StagingError>>,
) -> Result<(), StagingError> {
    if len == 0 {
        return Ok(());
    }
    let segments = match File::open(dir.join(SEGMENTS)) {
        Ok(file) => file,
        Err(err) if err.kind() == io::ErrorKind::NotFound => {
            return Err(if dir.is_dir() {
                corrupt(file_id, "the segments file is missing")
            } else {
                StagingError::Missing(file_id)
            });
        }
        Err(err) => return Err(err.into()),
    };
    let full = len / SEGMENT_SIZE as u64;
    let part = (len % SEGMENT_SIZE as u64) as usize;
    let records = segments.metadata()?.len() / RECORD_LEN as u64;
    if records < full {
        return Err(corrupt(file_id, "fewer bytes are staged than requested"));
    }
    let mut batch = vec![0u8; BATCH_SEGMENTS.min(full as usize) * RECORD_LEN];
    let mut number = 0;
    while number < full {
        let count = (full - number).min(BATCH_SEGMENTS as u64);
        let raw = &mut batch[..count as usize * RECORD_LEN];
        segments.read_exact_at(raw, number * RECORD_LEN as u64)?;
        for record in raw.chunks_exact(RECORD_LEN) {
            let plaintext = open_record(record, key, file_id, number)?;
            if plaintext.len() != SEGMENT_SIZE {
                return Err(corrupt(file_id, "a full segment is short"));
            }
            if tx.blocking_send(Ok(Bytes::from(plaintext))).is_err() {
                return Ok(());
            }
            number += 1;
        }
    }
    if part > 0 {
        // As in recovery: a completed segment `full` holds the partial
        // segment's bytes when it was synced after them (never read beyond
        // `len`).
        let mut plaintext = if records > full {
            read_segment(&segments, key, file_id, full)?
        } else {
            read_tail(dir, key, file_id, full)?
                .ok_or_else(|| corrupt(file_id, "the partial last segment is missing"))?
        };
        if plaintext.len() < part {
            return Err(corrupt(file_id, "fewer bytes are staged than requested"));
        }
        plaintext.truncate(part);
        let _ = tx.blocking_send(Ok(Bytes::from(plaintext)));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use futures_util::StreamExt as _;
    use rand_chacha::ChaCha8Rng;
    use rand_chacha::rand_core::{RngCore as _, SeedableRng as _};

    use super::*;

    const SEG: usize = SEGMENT_SIZE;
    const ID: &str = "3f2504e0-4f89-11d3-9a0c-0305e82c3301";

    fn id() -> FileId {
        FileId::parse(ID).unwrap()
    }

    fn key() -> DataKey {
        DataKey::from_bytes(&[5; 32])
    }

    fn random_bytes(len: usize, seed: u64) -> Vec<u8> {
        let mut data = vec![0u8; len];
        ChaCha8Rng::seed_from_u64(seed).fill_bytes(&mut data);
        data
    }

    async fn read_all(staging: &Staging, file_id: FileId, key: DataKey, len: u64) -> Result<Vec<u8>, StagingError> {
        let mut stream = std::pin::pin!(staging.read(file_id, key, len));
        let mut out = Vec::new();
        while let Some(chunk) = stream.next().await {
            out.extend_from_slice(&chunk?);
        }
        Ok(out)
    }

    /// Writes `data` in uneven pieces (so segment and batch edges fall
    /// mid-write), syncing every third piece and at the end.
    async fn write_uneven(writer: &mut StagingWriter, data: &[u8]) {
        let sizes = [1, 7919, 65_537, 300_001, 13, 2 << 20];
        let mut rest = data;
        for (i, size) in sizes.iter().cycle().enumerate() {
            if rest.is_empty() {
                break;
            }
            let (piece, after) = rest.split_at((*size).min(rest.len()));
            let before = writer.offset();
            writer.write(piece).await.unwrap();
            assert_eq!(writer.offset(), before + piece.len() as u64);
            rest = after;
            if i % 3 == 2 {
                assert_eq!(writer.sync().await.unwrap(), writer.offset());
            }
        }
        assert_eq!(writer.sync().await.unwrap(), writer.offset());
    }

    fn file_len(dir: &Path, name: &str) -> Option<u64> {
        std::fs::metadata(dir.join(name)).ok().map(|m| m.len())
    }

    fn corrupt(result: Result<impl std::fmt::Debug, StagingError>) -> bool {
        matches!(result, Err(StagingError::Corrupt { .. }))
    }

    fn flip_byte(path: &Path, at: u64) {
        let file = OpenOptions::new().read(true).write(true).open(path).unwrap();
        let mut byte = [0u8];
        file.read_exact_at(&mut byte, at).unwrap();
        file.write_all_at(&[byte[0] ^ 0x40], at).unwrap();
    }

    #[test]
    fn file_ids_parse_and_print_as_hyphenated_uuids() {
        let id = id();
        assert_eq!(id.to_string(), ID);
        assert_eq!(FileId::parse(&ID.to_uppercase()), Some(id));
        assert_eq!(format!("{id:?}"), format!("FileId({ID})"));
        assert_eq!(FileId::from(uuid::Uuid::from(id)), id);
        for bad in [
            "",
            "3f2504e04f8911d39a0c0305e82c3301",
            "3f2504e0-4f89-11d3-9a0c-0305e82c330g",
            "3f2504e0+4f89-11d3-9a0c-0305e82c3301",
        ] {
            assert_eq!(FileId::parse(bad), None, "{bad}");
        }
    }

    #[tokio::test]
    async fn round_trips_sizes_around_segment_edges() {
        let root = tempfile::tempdir().unwrap();
        let staging = Staging::new(root.path().join("staging"));
        for (n, len) in [0, 1, SEG - 1, SEG, SEG + 1, (3 << 20) + 7].into_iter().enumerate() {
            let file_id = FileId::from_bytes([n as u8 + 1; 16]);
            let data = random_bytes(len, len as u64);
            staging.create(file_id).await.unwrap();
            let mut writer = staging.writer(file_id, key(), 0).await.unwrap();
            write_uneven(&mut writer, &data).await;
            assert_eq!(writer.offset(), len as u64);
            drop(writer);
            assert_eq!(read_all(&staging, file_id, key(), len as u64).await.unwrap(), data, "length {len}");

            // Full segments are fixed-size records; the rest is the tail.
            let dir = root.path().join("staging").join(file_id.to_string());
            assert_eq!(file_len(&dir, SEGMENTS), Some((len / SEG * RECORD_LEN) as u64));
            let part = len % SEG;
            assert_eq!(file_len(&dir, TAIL), (part > 0).then_some((4 + part + SEAL_OVERHEAD) as u64));

            // Reopening at the committed length changes nothing.
            let writer = staging.writer(file_id, key(), len as u64).await.unwrap();
            assert_eq!(writer.offset(), len as u64);
            drop(writer);
            assert_eq!(read_all(&staging, file_id, key(), len as u64).await.unwrap(), data, "length {len}");
        }
    }

    #[tokio::test]
    async fn a_writer_dropped_before_sync_loses_only_its_pending_bytes() {
        let root = tempfile::tempdir().unwrap();
        let staging = Staging::new(root.path().to_path_buf());
        let data = random_bytes(3 << 20, 1);
        let committed = 100_000;
        let mut writer = staging.writer(id(), key(), 0).await.unwrap();
        writer.write(&data[..committed]).await.unwrap();
        assert_eq!(writer.sync().await.unwrap(), committed as u64);
        // More than a batch, so some of it reached the disk unsynced.
        writer.write(&random_bytes(2 << 20, 2)).await.unwrap();
        drop(writer);

        let mut writer = staging.writer(id(), key(), committed as u64).await.unwrap();
        assert_eq!(writer.offset(), committed as u64);
        assert_eq!(read_all(&staging, id(), key(), committed as u64).await.unwrap(), &data[..committed]);
        write_uneven(&mut writer, &data[committed..]).await;
        drop(writer);
        assert_eq!(read_all(&staging, id(), key(), data.len() as u64).await.unwrap(), data);
    }

    #[tokio::test]
    async fn reopening_at_an_earlier_commit_cuts_back_synced_bytes() {
        let root = tempfile::tempdir().unwrap();
        let staging = Staging::new(root.path().to_path_buf());
        let dir = root.path().join(ID);
        let data = random_bytes(400_000, 3);
        let mut writer = staging.writer(id(), key(), 0).await.unwrap();
        writer.write(&data).await.unwrap();
        writer.sync().await.unwrap();
        drop(writer);

        // Committed mid-segment 2, while segments 2..5 are full on disk: the
        // tail is rebuilt from record 2 and the later records are cut off.
        let committed = 2 * SEG + 1234;
        let mut writer = staging.writer(id(), key(), committed as u64).await.unwrap();
        assert_eq!(writer.offset(), committed as u64);
        assert_eq!(file_len(&dir, SEGMENTS), Some(2 * RECORD_LEN as u64));
        assert_eq!(file_len(&dir, TAIL), Some((4 + 1234 + SEAL_OVERHEAD) as u64));
        assert_eq!(read_all(&staging, id(), key(), committed as u64).await.unwrap(), &data[..committed]);

        // Different bytes follow the commit from now on.
        let other = random_bytes(300_000, 4);
        writer.write(&other).await.unwrap();
        let end = writer.sync().await.unwrap();
        drop(writer);
        let mut expected = data[..committed].to_vec();
        expected.extend_from_slice(&other);
        assert_eq!(read_all(&staging, id(), key(), end).await.unwrap(), expected);

        // Cut back within the tail: the tail is rewritten shorter.
        let committed = 5 * SEG + 10;
        let mut writer = staging.writer(id(), key(), committed as u64).await.unwrap();
        assert_eq!(file_len(&dir, TAIL), Some((4 + 10 + SEAL_OVERHEAD) as u64));
        writer.write(b"0123456789").await.unwrap();
        writer.sync().await.unwrap();
        drop(writer);
        let writer = staging.writer(id(), key(), committed as u64).await.unwrap();
        drop(writer);
        assert_eq!(read_all(&staging, id(), key(), committed as u64).await.unwrap(), &expected[..committed]);

        // Cut back to a segment edge: no tail remains.
        let writer = staging.writer(id(), key(), 3 * SEG as u64).await.unwrap();
        assert_eq!(writer.offset(), 3 * SEG as u64);
        drop(writer);
        assert_eq!(file_len(&dir, TAIL), None);
        assert_eq!(file_len(&dir, SEGMENTS), Some(3 * RECORD_LEN as u64));
        assert_eq!(read_all(&staging, id(), key(), 3 * SEG as u64).await.unwrap(), &expected[..3 * SEG]);

        // Recovery is repeatable (a crash after the tail was written and
        // before the records were cut off is finished by the next opening).
        for _ in 0..2 {
            drop(staging.writer(id(), key(), SEG as u64 + 1).await.unwrap());
        }
        assert_eq!(read_all(&staging, id(), key(), SEG as u64 + 1).await.unwrap(), &expected[..SEG + 1]);
    }

    #[tokio::test]
    async fn a_crash_between_rebuilding_the_tail_and_cutting_records_loses_nothing() {
        let root = tempfile::tempdir().unwrap();
        let staging = Staging::new(root.path().to_path_buf());
        let dir = root.path().join(ID);
        let data = random_bytes(3 * SEG, 5);
        let mut writer = staging.writer(id(), key(), 0).await.unwrap();
        writer.write(&data).await.unwrap();
        writer.sync().await.unwrap();
        drop(writer);
        // The state such a crash leaves: the tail of the commit written,
        // the records after it still there.
        let committed = SEG + 77;
        write_tail(&dir, &key(), id(), 1, &data[SEG..committed]).unwrap();
        assert_eq!(read_all(&staging, id(), key(), committed as u64).await.unwrap(), &data[..committed]);
        let writer = staging.writer(id(), key(), committed as u64).await.unwrap();
        assert_eq!(writer.offset(), committed as u64);
        drop(writer);
        assert_eq!(read_all(&staging, id(), key(), committed as u64).await.unwrap(), &data[..committed]);
    }

    #[tokio::test]
    async fn altered_moved_or_missing_data_does_not_read() {
        let root = tempfile::tempdir().unwrap();
        let staging = Staging::new(root.path().to_path_buf());
        let dir = root.path().join(ID);
        let len = 2 * SEG + 500;
        let data = random_bytes(len, 6);
        let mut writer = staging.writer(id(), key(), 0).await.unwrap();
        writer.write(&data).await.unwrap();
        writer.sync().await.unwrap();
        drop(writer);
        let segments = std::fs::read(dir.join(SEGMENTS)).unwrap();
        let tail = std::fs::read(dir.join(TAIL)).unwrap();
        let len = len as u64;

        // A flipped byte in a segment or in the tail.
        for (file, at) in [(SEGMENTS, RECORD_LEN as u64 + 100), (TAIL, 50)] {
            flip_byte(&dir.join(file), at);
            assert!(corrupt(read_all(&staging, id(), key(), len).await), "{file}");
            flip_byte(&dir.join(file), at);
            assert_eq!(read_all(&staging, id(), key(), len).await.unwrap(), data);
        }
        flip_byte(&dir.join(TAIL), 50);
        assert!(corrupt(staging.writer(id(), key(), len).await));
        std::fs::write(dir.join(TAIL), &tail).unwrap();

        // Swapped records.
        let mut swapped = segments[RECORD_LEN..2 * RECORD_LEN].to_vec();
        swapped.extend_from_slice(&segments[..RECORD_LEN]);
        std::fs::write(dir.join(SEGMENTS), &swapped).unwrap();
        assert!(corrupt(read_all(&staging, id(), key(), len).await));
        std::fs::write(dir.join(SEGMENTS), &segments).unwrap();

        // The wrong key.
        let other = DataKey::from_bytes(&[6; 32]);
        assert!(corrupt(read_all(&staging, id(), other.clone(), len).await));
        assert!(corrupt(staging.writer(id(), other, len).await));

        // Another upload's data.
        let other_id = FileId::from_bytes([9; 16]);
        let other_dir = root.path().join(other_id.to_string());
        std::fs::create_dir(&other_dir).unwrap();
        std::fs::copy(dir.join(SEGMENTS), other_dir.join(SEGMENTS)).unwrap();
        std::fs::copy(dir.join(TAIL), other_dir.join(TAIL)).unwrap();
        assert!(corrupt(read_all(&staging, other_id, key(), len).await));

        // Truncated: fewer bytes than asked for, and a cut record.
        assert!(corrupt(read_all(&staging, id(), key(), len + SEG as u64).await));
        OpenOptions::new().write(true).open(dir.join(SEGMENTS)).unwrap().set_len(segments.len() as u64 - 1).unwrap();
        assert!(corrupt(read_all(&staging, id(), key(), len).await));
        assert!(corrupt(staging.writer(id(), key(), len).await));
        std::fs::remove_file(dir.join(TAIL)).unwrap();
        assert!(corrupt(read_all(&staging, id(), key(), SEG as u64 + 1).await));
        assert!(corrupt(staging.writer(id(), key(), SEG as u64 + 1).await));
    }

    #[tokio::test]
    async fn no_plaintext_reaches_the_disk() {
        let root = tempfile::tempdir().unwrap();
        let staging = Staging::new(root.path().to_path_buf());
        let mut marker = [0u8; 32];
        ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut marker).unwrap();
        // The marker in a full segment, across a segment edge and in the tail.
        let mut data = random_bytes(3 * SEG + 1000, 7);
        for at in [100, SEG - 10, 3 * SEG + 500] {
            data[at..at + 32].copy_from_slice(&marker);
        }
        let mut writer = staging.writer(id(), key(), 0).await.unwrap();
        write_uneven(&mut writer, &data).await;
        // Cut back (the tail is rebuilt from a record) and write again.
        drop(writer);
        let mut writer = staging.writer(id(), key(), SEG as u64 + 5).await.unwrap();
        writer.write(&data[SEG + 5..]).await.unwrap();
        writer.sync().await.unwrap();
        drop(writer);
        assert_eq!(read_all(&staging, id(), key(), data.len() as u64).await.unwrap(), data);
        let dir = root.path().join(ID);
        let mut scanned = 0;
        for entry in std::fs::read_dir(&dir).unwrap() {
            let bytes = std::fs::read(entry.unwrap().path()).unwrap();
            assert!(!bytes.windows(32).any(|w| w == marker));
            scanned += bytes.len();
        }
        assert!(scanned > data.len());
    }

    #[tokio::test]
    async fn staging_of_another_replica_is_missing() {
        let root = tempfile::tempdir().unwrap();
        let staging = Staging::new(root.path().to_path_buf());
        assert!(matches!(staging.writer(id(), key(), 10).await, Err(StagingError::Missing(i)) if i == id()));
        assert!(matches!(read_all(&staging, id(), key(), 10).await, Err(StagingError::Missing(_))));
        assert!(!root.path().join(ID).exists());
        // At offset 0 the writer creates it.
        let mut writer = staging.writer(id(), key(), 0).await.unwrap();
        writer.write(b"hello").await.unwrap();
        assert_eq!(writer.sync().await.unwrap(), 5);
        assert!(root.path().join(ID).is_dir());
    }

    #[tokio::test]
    async fn list_and_remove() {
        let root = tempfile::tempdir().unwrap();
        let staging = Staging::new(root.path().join("staging"));
        assert_eq!(staging.list(Duration::ZERO).await.unwrap(), []);
        let (a, b) = (FileId::from_bytes([0xaa; 16]), FileId::from_bytes([0x11; 16]));
        staging.create(a).await.unwrap();
        staging.create(a).await.unwrap();
        staging.create(b).await.unwrap();
        std::fs::create_dir(root.path().join("staging/not-an-upload")).unwrap();
        std::fs::create_dir(root.path().join("staging").join(a.to_string().to_uppercase())).unwrap();
        std::fs::write(root.path().join("staging/3f2504e0-4f89-11d3-9a0c-0305e82c3301"), b"").unwrap();
        assert_eq!(staging.list(Duration::ZERO).await.unwrap(), [b, a]);
        assert_eq!(staging.list(Duration::from_secs(3600)).await.unwrap(), [], "all are younger than an hour");

        let mut writer = staging.writer(a, key(), 0).await.unwrap();
        writer.write(b"data").await.unwrap();
        writer.sync().await.unwrap();
        drop(writer);
        staging.create(a).await.unwrap();
        assert_eq!(read_all(&staging, a, key(), 4).await.unwrap(), b"data", "create keeps staged data");

        staging.remove(a).await.unwrap();
        staging.remove(a).await.unwrap();
        assert_eq!(staging.list(Duration::ZERO).await.unwrap(), [b]);
        assert!(matches!(staging.writer(a, key(), 4).await, Err(StagingError::Missing(_))));
    }

    #[tokio::test]
    async fn a_failed_or_cancelled_write_retires_the_writer() {
        let root = tempfile::tempdir().unwrap();
        let staging = Staging::new(root.path().to_path_buf());
        let mut writer = staging.writer(id(), key(), 0).await.unwrap();
        writer.write(&[1; 1000]).await.unwrap();
        assert_eq!(writer.sync().await.unwrap(), 1000);
        // Dropped while it waits for a batch to be written (sealing 1 MiB
        // usually takes far longer than filling the next one; on a machine
        // where a write finished at once, the next, larger one is tried).
        let mut cancelled = false;
        for round in 0..8 {
            let data = random_bytes(8 << (20 + round.min(2)), 8 + round);
            let write = std::pin::pin!(writer.write(&data));
            if futures_util::poll!(write).is_pending() {
                cancelled = true;
                break;
            }
        }
        assert!(cancelled, "no write was ever in progress when polled once");
        assert!(matches!(writer.sync().await, Err(StagingError::WriterFailed(_))));
        assert!(matches!(writer.write(b"x").await, Err(StagingError::WriterFailed(_))));
        drop(writer);
        let writer = staging.writer(id(), key(), 1000).await.unwrap();
        assert_eq!(writer.offset(), 1000);
    }

    #[tokio::test]
    async fn a_second_writer_waits_for_the_first() {
        let root = tempfile::tempdir().unwrap();
        let staging = Staging::new(root.path().to_path_buf());
        let writer = staging.writer(id(), key(), 0).await.unwrap();
        let second = tokio::spawn({
            let staging = staging.clone();
            async move { staging.writer(id(), key(), 0).await.map(|w| w.offset()) }
        });
        tokio::task::yield_now().await;
        assert!(!second.is_finished());
        drop(writer);
        assert_eq!(second.await.unwrap().unwrap(), 0);
    }
}
