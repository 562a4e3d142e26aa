//! Donation changes for WatchMyDonation (spec §2.9): one `LISTEN
//! donation_changed` connection per process, shared by every open watch.
//!
//! The trigger of migration `2026-11-24-000001_participants` sends the
//! donation's id whenever the donation or one of its types changes or goes.
//! [`Changes::subscribe`] starts the listener on first use; it runs while
//! anyone is subscribed, reconnects with backoff when its connection drops,
//! and after each (re)connect tells every watcher to [`Change::Resync`],
//! because notifications sent while nobody listened are lost. The connection
//! is taken out of the pool for good, so it never returns to the pool still
//! listening.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use diesel_async::SimpleAsyncConnection as _;
use futures_util::StreamExt as _;
use tokio::sync::broadcast;

use crate::db::Pool;

/// The channel the trigger notifies.
pub const CHANNEL: &str = "donation_changed";

/// Notifications buffered per watcher; one that falls behind resyncs.
const CAPACITY: usize = 256;

/// How often an idle listener checks whether anyone still watches.
const IDLE_CHECK: Duration = Duration::from_secs(30);

/// What watchers hear.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// This donation (or one of its types) changed or was deleted.
    Donation(i32),
    /// Notifications may have been missed: re-read what you show.
    Resync,
}

/// The process's donation-change listener.
pub struct Changes {
    pool: Pool,
    /// The live listener's sender; `None` while no listener runs.
    slot: Mutex<Option<broadcast::Sender<Change>>>,
}

impl std::fmt::Debug for Changes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Changes").finish_non_exhaustive()
    }
}

impl Changes {
    /// A listener over `pool`, started on first [`Changes::subscribe`].
    pub fn new(pool: Pool) -> Arc<Changes> {
        Arc::new(Changes { pool, slot: Mutex::new(None) })
    }

    /// Every change from now on (subscribe before reading the state you
    /// watch, so nothing falls between).
    pub fn subscribe(self: &Arc<Self>) -> broadcast::Receiver<Change> {
        let mut slot = self.slot.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(tx) = slot.as_ref() {
            return tx.subscribe();
        }
        let (tx, rx) = broadcast::channel(CAPACITY);
        *slot = Some(tx.clone());
        tokio::spawn(self.clone().listen(tx));
        rx
    }

    /// Ends the listener's turn when nobody is subscribed (checked under the
    /// lock `subscribe` takes, so no subscriber is left without a listener).
    fn retire_if_unused(&self, tx: &broadcast::Sender<Change>) -> bool {
        let mut slot = self.slot.lock().unwrap_or_else(|e| e.into_inner());
        if tx.receiver_count() == 0 {
            *slot = None;
            true
        } else {
            false
        }
    }

    async fn listen(self: Arc<Self>, tx: broadcast::Sender<Change>) {
        let mut backoff = Duration::from_millis(100);
        loop {
            let session = async {
                let conn = self.pool.get().await.map_err(|e| anyhow::anyhow!("database pool: {e}"))?;
                let mut conn = diesel_async::pooled_connection::deadpool::Object::take(conn);
                conn.batch_execute(&format!("LISTEN {CHANNEL}")).await?;
                // Anything may have changed while nobody listened.
                let _ = tx.send(Change::Resync);
                let mut notifications = std::pin::pin!(conn.notifications_stream());
                let mut idle = tokio::time::interval(IDLE_CHECK);
                idle.tick().await;
                loop {
                    tokio::select! {
                        notification = notifications.next() => {
                            let Some(notification) = notification else { return anyhow::Ok(false) };
                            if let Ok(id) = notification?.payload.parse::<i32>() {
                                let _ = tx.send(Change::Donation(id));
                            }
                        }
                        _ = idle.tick() => {
                            if self.retire_if_unused(&tx) {
                                return Ok(true);
                            }
                        }
                    }
                }
            };
            match session.await {
                Ok(true) => return,
                Ok(false) => tracing::warn!("donation-change listener disconnected; reconnecting"),
                Err(e) => tracing::warn!(error = %e, "donation-change listener failed; reconnecting"),
            }
            let _ = tx.send(Change::Resync);
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(Duration::from_secs(10));
            if self.retire_if_unused(&tx) {
                return;
            }
        }
    }
}
