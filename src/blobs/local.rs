//! The local backend: blobs as files under a root directory, written to
//! `.tmp/` and renamed into place when complete.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use ring::rand::{SecureRandom as _, SystemRandom};
use tokio::io::AsyncWriteExt as _;

use super::reader::Source;
use super::{BlobError, TMP_DIR};

/// A blob being written to a temporary file.
pub(super) struct Write {
    file: tokio::fs::File,
    tmp: TempFile,
    target: PathBuf,
}

impl Write {
    /// Creates the temporary file for blob `key` (already validated).
    pub(super) async fn start(root: &Path, key: &str) -> Result<Write, BlobError> {
        let tmp_dir = root.join(TMP_DIR);
        tokio::fs::create_dir_all(&tmp_dir).await.map_err(BlobError::Io)?;
        let mut name = [0u8; 16];
        SystemRandom::new().fill(&mut name).expect("system random source failed");
        let tmp = TempFile(Some(tmp_dir.join(name.iter().map(|b| format!("{b:02x}")).collect::<String>())));
        let file = tokio::fs::File::create(tmp.path()).await.map_err(BlobError::Io)?;
        Ok(Write { file, tmp, target: root.join(key) })
    }

    pub(super) async fn write(&mut self, bytes: &[u8]) -> Result<(), BlobError> {
        self.file.write_all(bytes).await.map_err(BlobError::Io)
    }

    /// Syncs the file and renames it into place.
    pub(super) async fn finish(self) -> Result<(), BlobError> {
        let Write { file, tmp, target } = self;
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
        Ok(())
    }
}

/// Opens blob `key` for the reader.
pub(super) fn open(root: &Path, key: &str) -> Result<Source, BlobError> {
    let file = std::fs::File::open(root.join(key)).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => BlobError::NotFound(key.to_owned()),
        _ => BlobError::Io(e),
    })?;
    let len = file.metadata().map_err(BlobError::Io)?.len();
    Ok(Source::File { file, len })
}

/// Removes blob `key` and the parent directories it leaves empty.
pub(super) async fn delete(root: &Path, key: &str) -> Result<bool, BlobError> {
    let path = root.join(key);
    match tokio::fs::remove_file(&path).await {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(BlobError::Io(e)),
    }
    let mut dir = path.parent();
    while let Some(d) = dir.filter(|d| *d != root) {
        // Fails (and stops) at the first directory that is not empty.
        if tokio::fs::remove_dir(d).await.is_err() {
            break;
        }
        dir = d.parent();
    }
    Ok(true)
}

/// Blob keys under `prefix` (validated, no trailing `/`) modified before `cutoff`.
pub(super) async fn list_older_than(root: &Path, prefix: String, cutoff: SystemTime) -> Result<Vec<String>, BlobError> {
    let dir = root.join(&prefix);
    tokio::task::spawn_blocking(move || {
        let mut keys = Vec::new();
        list_dir(&dir, &prefix, cutoff, &mut keys)?;
        Ok(keys)
    })
    .await
    .map_err(|e| BlobError::Io(std::io::Error::other(e)))?
}

/// Removes temporary files older than `age`.
pub(super) async fn purge_temp_older_than(root: &Path, age: Duration) -> Result<usize, BlobError> {
    let dir = root.join(TMP_DIR);
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
