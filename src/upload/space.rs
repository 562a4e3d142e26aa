//! Free space on the staging disk (spec upload.md §2.7 "Disk space", §3.5
//! step 9, §3.13 row 21).
//!
//! Creation refuses an upload whose `size` plus a reserve
//! (`STEWARD_UPLOAD_STAGING_RESERVE`, default 1 GiB) would not fit in the
//! staging directory's free space; a deferred length counts as 0, so the
//! reserve alone must fit. A tus PATCH is refused the same way for its
//! `Content-Length` (0 when unknown) before any body byte is written. The
//! answer is `RESOURCE_EXHAUSTED` `INSUFFICIENT_STORAGE` / tus 507
//! `ERR_INSUFFICIENT_STORAGE`, saying how much is free and how much is needed.
//!
//! The check is advisory: concurrent uploads can still fill the disk between
//! the check and the write, which then fails as any write on a full disk does.

use std::io;
use std::path::{Path, PathBuf};

use super::error::{Result, UploadError};
use super::mail::human_size;

/// Bytes available to this (unprivileged) process on the file system holding
/// `dir`. A staging directory not created yet (it appears with the first
/// upload) is measured at its nearest existing parent.
pub async fn free_bytes(dir: &Path) -> io::Result<u64> {
    let dir = dir.to_owned();
    tokio::task::spawn_blocking(move || free_bytes_blocking(dir)).await.map_err(io::Error::other)?
}

fn free_bytes_blocking(mut dir: PathBuf) -> io::Result<u64> {
    loop {
        match rustix::fs::statvfs(&dir) {
            Ok(stats) => return Ok(stats.f_bavail.saturating_mul(stats.f_frsize)),
            Err(rustix::io::Errno::NOENT) => {
                dir = match dir.parent() {
                    Some(parent) if !parent.as_os_str().is_empty() => parent.to_owned(),
                    // A relative path's last parent is the working directory.
                    _ if dir != Path::new(".") => PathBuf::from("."),
                    _ => return Err(io::ErrorKind::NotFound.into()),
                };
            }
            Err(e) => return Err(e.into()),
        }
    }
}

/// INSUFFICIENT_STORAGE unless `needed` bytes plus `reserve` fit in `free`.
pub fn check(free: u64, needed: u64, reserve: u64) -> Result<()> {
    let total = needed.saturating_add(reserve);
    if total <= free {
        return Ok(());
    }
    Err(UploadError::InsufficientStorage(format!(
        "the server's upload disk has {} ({free} bytes) free, but this needs {} ({total} bytes: {needed} for \
         the data plus {reserve} kept free); try again later, or ask the drop-off's owner to have space freed",
        human_size(free),
        human_size(total),
    )))
}

/// [`check`] against the staging directory `dir`. When the free space cannot
/// be read, the upload goes ahead (logged): the check guards against a full
/// disk, and a staging directory that is truly unusable fails on its own.
pub async fn ensure_room(dir: &Path, needed: u64, reserve: u64) -> Result<()> {
    match free_bytes(dir).await {
        Ok(free) => check(free, needed, reserve),
        Err(e) => {
            tracing::warn!(dir = %dir.display(), error = %e, "reading the staging disk's free space failed");
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GIB: u64 = 1 << 30;

    #[test]
    fn size_and_reserve_must_both_fit() {
        assert!(check(11 * GIB, 10 * GIB, GIB).is_ok(), "exactly enough");
        assert!(check(11 * GIB - 1, 10 * GIB, GIB).is_err());
        // A deferred length: the reserve alone.
        assert!(check(GIB, 0, GIB).is_ok());
        assert!(check(GIB - 1, 0, GIB).is_err());
        // No overflow at the extremes.
        assert!(check(u64::MAX - 1, u64::MAX, GIB).is_err());
    }

    #[test]
    fn the_refusal_says_what_is_free_and_what_is_needed() {
        let err = check(512 << 20, 100 << 20, GIB).unwrap_err();
        assert!(matches!(err, UploadError::InsufficientStorage(_)), "{err:?}");
        let text = err.to_string();
        assert!(text.contains("512.0 MiB") && text.contains(&(512u64 << 20).to_string()), "{text}");
        assert!(text.contains("1.1 GiB") && text.contains(&((100u64 << 20) + GIB).to_string()), "{text}");
        let status = tonic::Status::from(err);
        assert_eq!(status.code(), tonic::Code::ResourceExhausted);
        assert_eq!(status.message(), text);
    }

    #[tokio::test]
    async fn free_space_is_read_from_the_nearest_existing_directory() {
        let root = tempfile::tempdir().unwrap();
        let free = free_bytes(root.path()).await.unwrap();
        assert!(free > 0);
        // Not created yet: measured at its parent, the same disk.
        let later = free_bytes(&root.path().join("staging/not/yet")).await.unwrap();
        assert!(later.abs_diff(free) < 64 << 20, "{later} vs {free}");
        assert!(ensure_room(root.path(), 0, 1).await.is_ok());
        let err = ensure_room(root.path(), free, 1 << 40).await.unwrap_err();
        assert!(matches!(err, UploadError::InsufficientStorage(_)), "{err:?}");
    }
}
