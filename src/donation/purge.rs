//! The `purge` job (spec §5.1, §5.10 step 3): after a donation is deleted its
//! rows and archive blobs are already unreadable (the data key went with
//! it); this reclaims their space: rows in batches, so deleting a large
//! donation never holds one long transaction, then every blob under the
//! donation's `donations/<id>/` prefix. Idempotent: it only touches data of
//! a donation that no longer exists (ids are never reused), and a re-run
//! finds fewer or none.

use serde::Deserialize;
use serde_json::json;

use super::rows;
use crate::blobs::BlobStore;
use crate::db::schema::donations;
use crate::jobs::{JobContext, NewJob, Registry};

/// The job kind.
pub const KIND: &str = "donation.purge";

#[derive(Debug, Deserialize)]
struct Payload {
    donation_id: i32,
}

/// The purge job of a deleted donation (dedup key `purge:<id>`); enqueue it in the deleting transaction.
pub fn job(donation_id: i32) -> NewJob {
    NewJob::new(KIND, json!({ "donation_id": donation_id })).dedup_key(format!("purge:{donation_id}"))
}

/// Registers the purge job's handler; blobs are deleted from `blobs`.
pub fn register(registry: &mut Registry, blobs: BlobStore) {
    registry.register(KIND, move |ctx| run(blobs.clone(), ctx));
}

async fn run(blobs: BlobStore, ctx: JobContext) -> anyhow::Result<()> {
    let Payload { donation_id } = ctx.parse_payload()?;
    let mut conn = ctx.pool.get().await?;
    let rows = purge(&mut conn, donation_id).await?;
    drop(conn);
    let blobs = purge_blobs(&blobs, donation_id).await?;
    tracing::info!(donation.id = donation_id, rows, blobs, "purged a deleted donation's rows and blobs");
    Ok(())
}

/// Deletes every blob of deleted donation `donation_id` (its archive parts
/// live under `donations/<id>/`); returns how many went.
pub async fn purge_blobs(blobs: &BlobStore, donation_id: i32) -> anyhow::Result<usize> {
    let keys = blobs.list_older_than(&format!("donations/{donation_id}"), std::time::Duration::ZERO).await?;
    let mut deleted = 0;
    for key in keys {
        if blobs.delete(&key).await? {
            deleted += 1;
        }
    }
    Ok(deleted)
}

/// Deletes every row of deleted donation `donation_id`, a batch per statement;
/// returns how many went. Does nothing while the donation exists.
pub async fn purge(conn: &mut diesel_async::AsyncPgConnection, donation_id: i32) -> anyhow::Result<usize> {
    use diesel::prelude::*;
    use diesel_async::RunQueryDsl;
    let exists: bool = diesel::select(diesel::dsl::exists(donations::table.find(donation_id))).get_result(conn).await?;
    if exists {
        anyhow::bail!("donation {donation_id} still exists; refusing to purge its rows");
    }
    let mut total = 0;
    loop {
        let n = rows::purge_batch(conn, donation_id).await?;
        total += n;
        if n < rows::PURGE_BATCH as usize {
            return Ok(total);
        }
    }
}
