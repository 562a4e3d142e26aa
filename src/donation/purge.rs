//! The `purge` job (spec §5.1, §5.10 step 3): after a donation is deleted its
//! rows are already unreadable (the data key went with it); this reclaims
//! their space in batches, so deleting a large donation never holds one long
//! transaction. Idempotent: it only touches rows of a donation that no longer
//! exists (ids are never reused), and a re-run finds fewer or none.

use serde::Deserialize;
use serde_json::json;

use super::rows;
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

/// Registers the purge job's handler.
pub fn register(registry: &mut Registry) {
    registry.register(KIND, run);
}

async fn run(ctx: JobContext) -> anyhow::Result<()> {
    let Payload { donation_id } = ctx.parse_payload()?;
    let mut conn = ctx.pool.get().await?;
    let deleted = purge(&mut conn, donation_id).await?;
    tracing::info!(donation.id = donation_id, rows = deleted, "purged a deleted donation's rows");
    Ok(())
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
