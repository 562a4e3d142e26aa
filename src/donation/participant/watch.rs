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
//!
//! [`feed`] paces one watch (heartbeats, end) apart from where the state is
//! read, so its timing is tested with tokio's paused clock.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use diesel_async::SimpleAsyncConnection as _;
use futures_util::StreamExt as _;
use tokio::sync::{broadcast, mpsc};
use tokio::time::{Instant, sleep_until};
use tonic::Status;

use crate::db::Pool;
use crate::proto::donation::v1 as pb;

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

/// How a watch is paced (spec §2.9).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pace {
    /// A heartbeat goes out after this long without a message, so the page
    /// (and any proxy between) sees the stream is alive.
    pub heartbeat: Duration,
    /// The watch ends after this long; the page reconnects, which bounds how
    /// long a stream outlives a visit that expired meanwhile.
    pub watch_for: Duration,
}

impl Pace {
    /// The spec's pace: a heartbeat every 25 s, the end after 10 minutes.
    pub const SPEC: Pace = Pace { heartbeat: Duration::from_secs(25), watch_for: Duration::from_secs(600) };
}

/// What one watch sends: the donation's state, a heartbeat (no donation), or the error that ends it.
pub type Sink = mpsc::Sender<Result<pb::WatchMyDonationResponse, Status>>;

/// Feeds one watch of donation `id` into `tx`: the state `read` gives at
/// once, again after each change of the donation (when it differs), a
/// heartbeat whenever `pace.heartbeat` passed without a message; ends after
/// `pace.watch_for`, when `read` finds the donation deleted or fails, or
/// when the client goes. Subscribe `changes` before calling, so no change
/// falls between the subscription and the first read.
pub async fn feed(
    id: i32,
    mut read: impl AsyncFnMut() -> Result<Option<pb::Donation>, Status>,
    mut changes: broadcast::Receiver<Change>,
    pace: Pace,
    tx: Sink,
) {
    let end = Instant::now() + pace.watch_for;
    // Counted from the last message sent, so changes of other donations
    // (which wake this loop too) never hold a heartbeat back.
    let mut heartbeat_at = Instant::now() + pace.heartbeat;
    let mut last: Option<pb::Donation> = None;
    let mut stale = true;
    loop {
        if stale {
            stale = false;
            match read().await {
                // Deleted: the watch is over.
                Ok(None) => return,
                Ok(Some(donation)) if last.as_ref() != Some(&donation) => {
                    last = Some(donation.clone());
                    if tx.send(Ok(pb::WatchMyDonationResponse { donation: Some(donation) })).await.is_err() {
                        return;
                    }
                    heartbeat_at = Instant::now() + pace.heartbeat;
                }
                Ok(Some(_)) => {}
                Err(status) => {
                    let _ = tx.send(Err(status)).await;
                    return;
                }
            }
        }
        tokio::select! {
            // The end wins over a heartbeat due at the same instant.
            biased;
            () = sleep_until(end) => return,
            () = tx.closed() => return,
            () = sleep_until(heartbeat_at) => {
                if tx.send(Ok(pb::WatchMyDonationResponse { donation: None })).await.is_err() {
                    return;
                }
                heartbeat_at = Instant::now() + pace.heartbeat;
            }
            change = changes.recv() => match change {
                Ok(Change::Donation(changed)) => stale = changed == id,
                Ok(Change::Resync) | Err(broadcast::error::RecvError::Lagged(_)) => stale = true,
                Err(broadcast::error::RecvError::Closed) => return,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: i32 = 7;

    /// A watch of donation [`ID`] at the spec's pace over `state` (what the
    /// database would hold); returns the change sender and the client's end.
    fn watch(
        state: &Arc<Mutex<pb::Donation>>,
    ) -> (broadcast::Sender<Change>, mpsc::Receiver<Result<pb::WatchMyDonationResponse, Status>>) {
        let (changes_tx, changes) = broadcast::channel(16);
        let (tx, rx) = mpsc::channel(4);
        let state = state.clone();
        let read = async move || Ok(Some(state.lock().unwrap().clone()));
        tokio::spawn(feed(ID, read, changes, Pace::SPEC, tx));
        (changes_tx, rx)
    }

    fn donation(status: pb::DonationStatus) -> pb::Donation {
        pb::Donation { id: ID.into(), status: status.into(), ..Default::default() }
    }

    /// What the client receives next: `Some(state)` or `None` for a heartbeat.
    async fn next(rx: &mut mpsc::Receiver<Result<pb::WatchMyDonationResponse, Status>>) -> Option<pb::Donation> {
        rx.recv().await.expect("the watch is open").expect("no error").donation
    }

    #[tokio::test(start_paused = true)]
    async fn a_quiet_watch_heartbeats_every_25_seconds_and_ends_after_10_minutes() {
        let state = Arc::new(Mutex::new(donation(pb::DonationStatus::Processing)));
        let start = Instant::now();
        let (_changes, mut rx) = watch(&state);
        // The paused clock jumps to each timer; the timeout fails a watch that never ends.
        let received = tokio::time::timeout(Duration::from_secs(601), async {
            let mut received = Vec::new();
            while let Some(message) = rx.recv().await {
                received.push((start.elapsed().as_secs(), message.unwrap().donation.is_some()));
            }
            received
        })
        .await
        .expect("the watch ends after 10 minutes");
        assert_eq!(start.elapsed(), Duration::from_secs(600));
        assert_eq!(received[0], (0, true), "the state at once");
        let heartbeats: Vec<(u64, bool)> = (1..24).map(|n| (n * 25, false)).collect();
        assert_eq!(received[1..], heartbeats, "a heartbeat every 25 s until the end at 600 s");
    }

    #[tokio::test(start_paused = true)]
    async fn heartbeats_count_from_the_last_message_whatever_else_changes() {
        let state = Arc::new(Mutex::new(donation(pb::DonationStatus::Processing)));
        let start = Instant::now();
        let (changes, mut rx) = watch(&state);
        assert_eq!(next(&mut rx).await, Some(donation(pb::DonationStatus::Processing)));
        let at = |secs| start + Duration::from_secs(secs);

        // Other donations changing every 10 s do not hold the heartbeat back.
        for secs in [10, 20] {
            sleep_until(at(secs)).await;
            changes.send(Change::Donation(ID + 1)).unwrap();
        }
        assert_eq!(next(&mut rx).await, None);
        assert_eq!(start.elapsed(), Duration::from_secs(25));

        // This donation changes at 30 s: its new state goes out then…
        sleep_until(at(30)).await;
        *state.lock().unwrap() = donation(pb::DonationStatus::Processed);
        changes.send(Change::Donation(ID)).unwrap();
        assert_eq!(next(&mut rx).await, Some(donation(pb::DonationStatus::Processed)));
        assert_eq!(start.elapsed(), Duration::from_secs(30));
        // …a notification that leaves it as it was sends nothing, and the
        // next heartbeat comes 25 s after the last message.
        sleep_until(at(40)).await;
        changes.send(Change::Resync).unwrap();
        assert_eq!(next(&mut rx).await, None);
        assert_eq!(start.elapsed(), Duration::from_secs(55));
    }
}
