//! Background jobs of the identity core.

use std::time::Duration;

use crate::jobs::{JobContext, Registry};

/// Revoked or expired tokens are kept this long (for audit questions), then deleted.
pub const DEAD_TOKEN_RETENTION_DAYS: i32 = 30;

/// Registers the identity core's jobs.
pub fn register(registry: &mut Registry) {
    registry.periodic("auth.purge_dead_tokens", Duration::from_secs(6 * 3600), purge_dead_tokens);
}

/// Deletes tokens revoked or expired more than [`DEAD_TOKEN_RETENTION_DAYS`] ago.
async fn purge_dead_tokens(ctx: JobContext) -> anyhow::Result<()> {
    let mut conn = ctx.pool.get().await?;
    let deleted = super::store::purge_dead_tokens(&mut conn, DEAD_TOKEN_RETENTION_DAYS).await?;
    if deleted > 0 {
        tracing::info!(deleted, "purged dead API tokens");
    }
    Ok(())
}
