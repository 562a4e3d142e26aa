//! The hourly `donation.sweep` job (spec §5.1, §5.8): removes raw archive
//! blobs that no committed part row references — a download that stored
//! its blob but lost the race to commit, a run that crashed between the two,
//! parts of a deleted donation that the purge missed — once they are older
//! than a day (so a download committing right now is never touched), and
//! blob writes left half-done by a crash.

use std::time::Duration;

use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use super::{Error, Processing};
use crate::db::schema::archive_parts;
use crate::jobs::{JobContext, Registry};

/// Job kind.
pub const SWEEP: &str = "donation.sweep";

/// How often it runs (spec §5.1: every hour).
pub const SWEEP_EVERY: Duration = Duration::from_secs(3600);

/// Blobs and temporary files younger than this are never swept (spec §5.8: 24 h).
pub const MIN_AGE: Duration = Duration::from_secs(24 * 3600);

/// Keys checked against the database per query.
const CHUNK: usize = 500;

/// What one sweep removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Swept {
    /// Part blobs no committed part row references.
    pub orphan_blobs: usize,
    /// Blob writes a crash left behind.
    pub temp_files: usize,
}

/// Registers the periodic `donation.sweep`.
pub fn register(registry: &mut Registry, processing: std::sync::Arc<Processing>) {
    registry.periodic(SWEEP, SWEEP_EVERY, move |ctx| run(processing.clone(), ctx));
}

async fn run(processing: std::sync::Arc<Processing>, ctx: JobContext) -> anyhow::Result<()> {
    let mut conn = ctx.pool.get().await?;
    let swept = sweep(&processing, &mut conn, MIN_AGE).await?;
    if swept != Swept::default() {
        tracing::info!(orphan_blobs = swept.orphan_blobs, temp_files = swept.temp_files, "swept raw archive storage");
    }
    Ok(())
}

/// Deletes part blobs (`donations/<id>/parts/<name>`) older than `min_age`
/// that no part row references while it still holds its blob, and temporary
/// files older than `min_age`.
pub async fn sweep(processing: &Processing, conn: &mut AsyncPgConnection, min_age: Duration) -> Result<Swept, Error> {
    let blobs = &processing.blobs;
    let candidates: Vec<String> =
        blobs.list_older_than("donations", min_age).await?.into_iter().filter(|k| is_part_key(k)).collect();
    let mut swept = Swept::default();
    for chunk in candidates.chunks(CHUNK) {
        let referenced: Vec<Option<String>> = archive_parts::table
            .filter(archive_parts::object_key.eq_any(chunk))
            .filter(archive_parts::deleted_at.is_null())
            .select(archive_parts::object_key)
            .load(conn)
            .await?;
        for key in chunk {
            if !referenced.iter().flatten().any(|r| r == key) && blobs.delete(key).await? {
                swept.orphan_blobs += 1;
            }
        }
    }
    swept.temp_files = blobs.purge_temp_older_than(min_age).await?;
    Ok(swept)
}

/// `donations/<id>/parts/<name>`: where downloads put parts (other blobs are not ours to sweep).
fn is_part_key(key: &str) -> bool {
    let parts: Vec<&str> = key.split('/').collect();
    matches!(parts.as_slice(), ["donations", id, "parts", name]
        if !id.is_empty() && id.bytes().all(|b| b.is_ascii_digit()) && !name.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_part_blobs_are_swept() {
        assert!(is_part_key("donations/12/parts/0a1b"));
        assert!(!is_part_key("donations/12/exports/0a1b"));
        assert!(!is_part_key("donations/x/parts/0a1b"));
        assert!(!is_part_key("donations/12/parts/a/b"));
        assert!(!is_part_key("other/12/parts/a"));
    }
}
