//! The per-principal permission cache (spec §4.4): each principal's
//! [`Snapshot`] (profile + §2.4 inputs) in process, bounded (least recently
//! used entries go first) with a safety TTL. Correctness rests on eviction,
//! not on the TTL: every write that changes an input sends `NOTIFY` on the
//! credential channel (`user:<id>`, `sa:<id>` or `all`), and the resolver's
//! listener forwards each message here on every replica. While that listener
//! is down the cache is bypassed. Token validation is never cached here.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::ops::{self, Snapshot};
use crate::auth::PrincipalKind;
use crate::db::Pool;
use crate::error::Result;

/// Default bound on cached principals.
pub const DEFAULT_MAX_ENTRIES: usize = 10_000;
/// Default safety TTL; bounds the damage of a missed-eviction bug only.
pub const DEFAULT_TTL: Duration = Duration::from_secs(600);

struct Entry {
    snapshot: Arc<Snapshot>,
    cached_at: Instant,
    used_at: Instant,
}

/// Cached permission snapshots keyed by principal id (users and service
/// accounts share one id space, so the id alone names the principal).
pub struct PermissionCache {
    entries: Mutex<HashMap<i64, Entry>>,
    /// Bumped on every eviction; a load that raced with one is not inserted,
    /// so a slow reader cannot re-insert a pre-change snapshot.
    epoch: AtomicU64,
    listening: AtomicBool,
    max_entries: usize,
    ttl: Duration,
}

impl std::fmt::Debug for PermissionCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PermissionCache").field("listening", &self.listening).finish_non_exhaustive()
    }
}

impl Default for PermissionCache {
    fn default() -> Self {
        Self::new(DEFAULT_MAX_ENTRIES, DEFAULT_TTL)
    }
}

impl PermissionCache {
    /// An empty cache, off until [`PermissionCache::set_listening`] turns it on.
    pub fn new(max_entries: usize, ttl: Duration) -> Self {
        Self {
            entries: Mutex::new(HashMap::new()),
            epoch: AtomicU64::new(0),
            listening: AtomicBool::new(false),
            max_entries: max_entries.max(1),
            ttl,
        }
    }

    /// The principal's snapshot, from the cache or loaded from the database.
    pub async fn snapshot(&self, pool: &Pool, kind: PrincipalKind, id: i64) -> Result<Arc<Snapshot>> {
        if let Some(hit) = self.cached(id) {
            return Ok(hit);
        }
        let epoch = self.epoch.load(Ordering::Acquire);
        let mut conn = pool.get().await?;
        let snapshot = Arc::new(ops::load_snapshot(&mut conn, kind, id).await?);
        self.insert(id, snapshot.clone(), epoch);
        Ok(snapshot)
    }

    fn cached(&self, id: i64) -> Option<Arc<Snapshot>> {
        if !self.listening.load(Ordering::Acquire) {
            return None;
        }
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        let entry = entries.get_mut(&id)?;
        if entry.cached_at.elapsed() > self.ttl {
            entries.remove(&id);
            return None;
        }
        entry.used_at = Instant::now();
        Some(entry.snapshot.clone())
    }

    fn insert(&self, id: i64, snapshot: Arc<Snapshot>, epoch_before: u64) {
        if !self.listening.load(Ordering::Acquire) {
            return;
        }
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        // Evictions bump the epoch under this same lock: checked here, no stale insert.
        if self.epoch.load(Ordering::Acquire) != epoch_before {
            return;
        }
        if entries.len() >= self.max_entries && !entries.contains_key(&id) {
            // Drop the least recently used tenth in one pass rather than one per insert.
            let mut by_use: Vec<(Instant, i64)> = entries.iter().map(|(k, e)| (e.used_at, *k)).collect();
            by_use.sort_unstable();
            for (_, key) in by_use.into_iter().take((self.max_entries / 10).max(1)) {
                entries.remove(&key);
            }
        }
        let now = Instant::now();
        entries.insert(id, Entry { snapshot, cached_at: now, used_at: now });
    }

    /// Applies one eviction message: `user:<id>`, `sa:<id>`, `token:<id>`
    /// (a token change; permissions unaffected) or anything else = everything.
    pub fn evict(&self, message: &str) {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        self.epoch.fetch_add(1, Ordering::AcqRel);
        let id = |prefix: &str| message.strip_prefix(prefix).and_then(|v| v.parse::<i64>().ok());
        if id("token:").is_some() {
            return;
        }
        match id("user:").or_else(|| id("sa:")) {
            Some(principal) => {
                entries.remove(&principal);
            }
            None => entries.clear(),
        }
    }

    /// Turns caching on (the listener is connected) or off (it is not: everything is dropped).
    pub fn set_listening(&self, listening: bool) {
        self.listening.store(listening, Ordering::Release);
        if !listening {
            self.evict("all");
        }
    }

    /// How many principals are cached.
    pub fn len(&self) -> usize {
        self.entries.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    /// Whether nothing is cached.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dataset::permissions::{Inputs, Subject};

    fn snapshot(id: i64) -> Arc<Snapshot> {
        Arc::new(Snapshot {
            profile: ops::Profile {
                id,
                kind: PrincipalKind::User,
                name: "n".into(),
                email: "n@example.org".into(),
                admin: false,
                pi: String::new(),
                picture_url: String::new(),
                affiliations: vec![],
                groups: vec![],
                groups_admin: vec![],
            },
            inputs: Inputs {
                subject: Subject::User { admin: false, read_only: false },
                grants: vec![],
                datasets: Default::default(),
                accepted_tos: Default::default(),
                service_tos: vec![],
            },
        })
    }

    fn listening(max: usize) -> PermissionCache {
        let cache = PermissionCache::new(max, DEFAULT_TTL);
        cache.set_listening(true);
        cache
    }

    #[test]
    fn evictions_are_per_principal_or_all() {
        let cache = listening(10);
        for id in [1, 2, 3] {
            cache.insert(id, snapshot(id), cache.epoch.load(Ordering::Acquire));
        }
        cache.evict("user:1");
        cache.evict("sa:2");
        cache.evict("token:3");
        assert!(cache.cached(1).is_none() && cache.cached(2).is_none());
        assert!(cache.cached(3).is_some());
        cache.evict("all");
        assert!(cache.is_empty());
    }

    #[test]
    fn a_load_that_raced_with_an_eviction_is_not_inserted() {
        let cache = listening(10);
        let before = cache.epoch.load(Ordering::Acquire);
        cache.evict("user:1");
        cache.insert(1, snapshot(1), before);
        assert!(cache.cached(1).is_none());
    }

    #[test]
    fn off_while_not_listening_and_bounded() {
        let cache = PermissionCache::new(10, DEFAULT_TTL);
        cache.insert(1, snapshot(1), 0);
        assert!(cache.is_empty(), "no caching without a listener");
        let cache = listening(10);
        for id in 0..25 {
            cache.insert(id, snapshot(id), cache.epoch.load(Ordering::Acquire));
            assert!(cache.len() <= 10);
        }
        assert!(cache.cached(24).is_some(), "the newest entry stays");
        assert!(cache.cached(0).is_none(), "the least recently used went first");
        cache.set_listening(false);
        assert!(cache.is_empty());
    }
}
