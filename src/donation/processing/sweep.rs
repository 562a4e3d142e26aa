//! The hourly `donation.sweep` job (spec §5.1, §5.8): removes raw archive
//! blobs that no committed part row references — a download that stored
//! its blob but lost the race to commit, a run that crashed between the two,
//! parts of a deleted donation that the purge missed — once they are older
//! than a day (so a download committing right now is never touched), and
//! blob writes left half-done by a crash. It also purges the blobs a donation
//! in `error` still holds for a researcher retry once the donation has been
//! in `error` longer than `STEWARD_DONATION_RAW_RETENTION` (§5.8); a retry
//! after that downloads the part again.

use std::time::Duration;

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{Integer, Timestamptz};
use diesel_async::{AsyncConnection as _, AsyncPgConnection, RunQueryDsl};

use super::{Error, Processing};
use crate::db::schema::{archive_parts, provider_exports};
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
    /// Part blobs of donations in `error` for longer than the raw retention.
    pub retention_blobs: usize,
}

/// Registers the periodic `donation.sweep`.
pub fn register(registry: &mut Registry, processing: std::sync::Arc<Processing>) {
    registry.periodic(SWEEP, SWEEP_EVERY, move |ctx| run(processing.clone(), ctx));
}

async fn run(processing: std::sync::Arc<Processing>, ctx: JobContext) -> anyhow::Result<()> {
    let mut conn = ctx.pool.get().await?;
    let swept = sweep(&processing, &mut conn, MIN_AGE).await?;
    if swept != Swept::default() {
        tracing::info!(
            orphan_blobs = swept.orphan_blobs,
            temp_files = swept.temp_files,
            retention_blobs = swept.retention_blobs,
            "swept raw archive storage"
        );
    }
    Ok(())
}

/// Deletes the blobs of donations in `error` past the raw retention (see
/// [`purge_past_retention`]), then part blobs (`donations/<id>/parts/<name>`)
/// older than `min_age` that no part row references while it still holds its
/// blob, and temporary files older than `min_age`.
pub async fn sweep(processing: &Processing, conn: &mut AsyncPgConnection, min_age: Duration) -> Result<Swept, Error> {
    let blobs = &processing.blobs;
    let retention_blobs = purge_past_retention(processing, conn).await?;
    let candidates: Vec<String> =
        blobs.list_older_than("donations", min_age).await?.into_iter().filter(|k| is_part_key(k)).collect();
    let mut swept = Swept { retention_blobs, ..Swept::default() };
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

/// Donations in `error` whose latest `failed` event (when they entered
/// `error`) is older than `$1` and that still hold a part blob. Locked, so a
/// RetryDonation (which takes the same lock) either sees the parts already
/// marked deleted or has moved the donation out of `error` first; a
/// donation busy in a job is left to the next sweep.
const PAST_RETENTION: &str = "\
    SELECT d.id FROM donations d \
    WHERE d.status = 'error' \
      AND (SELECT max(e.created_at) FROM donation_events e \
           WHERE e.donation_id = d.id AND e.kind = 'failed') < $1 \
      AND EXISTS (SELECT 1 FROM archive_parts p JOIN provider_exports x ON x.id = p.export_id \
                  WHERE x.donation_id = d.id AND p.deleted_at IS NULL AND p.object_key IS NOT NULL) \
    FOR UPDATE OF d SKIP LOCKED";

#[derive(QueryableByName)]
struct DonationId {
    #[diesel(sql_type = Integer)]
    id: i32,
}

/// Spec §5.8: a donation in `error` keeps the blobs of its unparsed parts
/// for a researcher retry only for `raw_retention`; then they go, recorded
/// on the part row (`deleted_at`) as after a parse, and a retry downloads
/// the part again. Returns how many blobs were deleted.
async fn purge_past_retention(processing: &Processing, conn: &mut AsyncPgConnection) -> Result<usize, Error> {
    let retention = chrono::TimeDelta::from_std(processing.config.raw_retention).unwrap_or(chrono::TimeDelta::MAX);
    let cutoff: DateTime<Utc> = Utc::now().checked_sub_signed(retention).unwrap_or(DateTime::<Utc>::MIN_UTC);
    // The rows stop referencing the blobs before the blobs go: a crash in
    // between leaves unreferenced blobs, which the orphan sweep removes.
    let keys: Vec<Option<String>> = conn
        .transaction(async |conn| {
            let donations: Vec<i32> = diesel::sql_query(PAST_RETENTION)
                .bind::<Timestamptz, _>(cutoff)
                .load::<DonationId>(conn)
                .await?
                .into_iter()
                .map(|d| d.id)
                .collect();
            let exports = provider_exports::table.filter(provider_exports::donation_id.eq_any(donations));
            diesel::update(
                archive_parts::table
                    .filter(archive_parts::export_id.eq_any(exports.select(provider_exports::id)))
                    .filter(archive_parts::deleted_at.is_null())
                    .filter(archive_parts::object_key.is_not_null()),
            )
            .set(archive_parts::deleted_at.eq(diesel::dsl::now))
            .returning(archive_parts::object_key)
            .get_results(conn)
            .await
        })
        .await?;
    let mut deleted = 0;
    for key in keys.iter().flatten() {
        if processing.blobs.delete(key).await? {
            deleted += 1;
        }
    }
    Ok(deleted)
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
