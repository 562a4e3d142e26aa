//! Turns request headers into a [`Caller`]. Validated tokens are cached in
//! process so an authenticated call costs no database round trip; every write
//! that could change a cached answer (revocation, disabling, role changes)
//! sends `NOTIFY steward_auth` in its transaction, and each replica's listener
//! evicts on receipt. While the listener is not connected the cache is off, so
//! correctness never rests on the safety TTL. The same notifications evict
//! the per-principal permission cache ([`PermissionCache`]) it owns.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::Utc;
use diesel_async::SimpleAsyncConnection as _;
use futures_util::StreamExt as _;
use http::HeaderMap;

use super::credentials::{self, CredentialError};
use super::ops::{self, LAST_USED_RESOLUTION};
use super::principal::{AuthError, Caller, Principal};
use super::store::{self, AUTH_CHANNEL};
use super::token::{self, TokenHash};
use crate::dataset::PermissionCache;
use crate::db::Pool;

/// Bound on cached tokens; beyond it the cache is emptied and refilled.
const MAX_ENTRIES: usize = 10_000;
/// Safety net against a missed eviction bug; correctness rests on NOTIFY.
const TTL: Duration = Duration::from_secs(300);

struct Entry {
    principal: Arc<Principal>,
    cached_at: Instant,
    last_used_written: Instant,
}

/// Resolves credentials; shared by every request.
pub struct Resolver {
    pool: Pool,
    entries: Mutex<HashMap<TokenHash, Entry>>,
    /// Bumped on every eviction; a lookup that raced with one does not insert.
    epoch: AtomicU64,
    /// The cache is used only while the NOTIFY listener is connected.
    listening: AtomicBool,
    /// Per-principal permission snapshots, evicted by the same notifications.
    permissions: Arc<PermissionCache>,
    /// The browser cookie carrying a token.
    cookie_name: String,
}

impl std::fmt::Debug for Resolver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Resolver").field("listening", &self.listening).finish_non_exhaustive()
    }
}

impl Resolver {
    /// A resolver over `pool` with the default permission cache; call
    /// [`Resolver::listen`] to enable caching.
    pub fn new(pool: Pool) -> Self {
        Self::with_permission_cache(pool, PermissionCache::default())
    }

    /// A resolver whose listener also keeps `permissions` coherent.
    pub fn with_permission_cache(pool: Pool, permissions: PermissionCache) -> Self {
        Self {
            pool,
            entries: Mutex::new(HashMap::new()),
            epoch: AtomicU64::new(0),
            listening: AtomicBool::new(false),
            permissions: Arc::new(permissions),
            cookie_name: credentials::COOKIE_NAME.to_owned(),
        }
    }

    /// Reads the browser's token from the cookie `name` instead of `dsg_token`.
    pub fn with_cookie_name(mut self, name: &str) -> Self {
        name.clone_into(&mut self.cookie_name);
        self
    }

    /// The permission cache that this resolver's listener keeps coherent.
    pub fn permissions(&self) -> &Arc<PermissionCache> {
        &self.permissions
    }

    /// The caller presenting `headers`. Never fails: refusals are a `Caller`.
    pub async fn resolve(&self, headers: &HeaderMap) -> Caller {
        match credentials::from_headers_named(headers, &self.cookie_name) {
            Ok(None) => Caller::Anonymous,
            Ok(Some(credential)) => self.resolve_token(&credential.token).await,
            Err(CredentialError::BadScheme) => {
                Caller::Refused(AuthError::Malformed(CredentialError::BadScheme.to_string()))
            }
            Err(CredentialError::TooLong) => Caller::Refused(AuthError::Invalid),
        }
    }

    /// The caller presenting the plain `token`.
    pub async fn resolve_token(&self, token: &str) -> Caller {
        if !token::is_well_formed(token) {
            return Caller::Refused(AuthError::Malformed(
                "Invalid token format: a Steward token is 64 hexadecimal characters.".into(),
            ));
        }
        let hash = token::hash(token);
        if let Some(principal) = self.cached(&hash) {
            return Caller::Principal(principal);
        }
        let epoch = self.epoch.load(Ordering::Acquire);
        let resolved = match self.pool.get().await {
            Ok(mut conn) => ops::resolve_token(&mut conn, &hash).await,
            Err(e) => Err(e.into()),
        };
        match resolved {
            Ok(Ok(principal)) => {
                let principal = Arc::new(principal);
                self.insert(hash, principal.clone(), epoch);
                Caller::Principal(principal)
            }
            Ok(Err(refusal)) => Caller::Refused(refusal),
            Err(e) => {
                tracing::warn!(error = %e, "credential lookup failed");
                Caller::Refused(AuthError::Unavailable)
            }
        }
    }

    fn cached(&self, hash: &TokenHash) -> Option<Arc<Principal>> {
        if !self.listening.load(Ordering::Acquire) {
            return None;
        }
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        let entry = entries.get_mut(hash)?;
        let expired = entry.principal.token_expires_at.is_some_and(|t| t <= Utc::now());
        if expired || entry.cached_at.elapsed() > TTL {
            entries.remove(hash);
            return None;
        }
        if entry.last_used_written.elapsed() >= LAST_USED_RESOLUTION {
            entry.last_used_written = Instant::now();
            let (pool, id) = (self.pool.clone(), entry.principal.token_id);
            tokio::spawn(async move {
                if let Ok(mut conn) = pool.get().await
                    && let Err(e) = store::touch_token(&mut conn, id).await
                {
                    tracing::debug!(error = %e, "recording token use failed");
                }
            });
        }
        Some(entry.principal.clone())
    }

    fn insert(&self, hash: TokenHash, principal: Arc<Principal>, epoch_before: u64) {
        if !self.listening.load(Ordering::Acquire) {
            return;
        }
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        // Checked under the lock that evictions also take: no stale insert after an eviction.
        if self.epoch.load(Ordering::Acquire) != epoch_before {
            return;
        }
        if entries.len() >= MAX_ENTRIES {
            entries.clear();
        }
        let now = Instant::now();
        entries.insert(hash, Entry { principal, cached_at: now, last_used_written: now });
    }

    /// Applies one eviction message: `all`, `token:<id>`, `user:<id>` or `sa:<id>`.
    pub fn evict(&self, message: &str) {
        self.permissions.evict(message);
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        self.epoch.fetch_add(1, Ordering::AcqRel);
        let id = |prefix: &str| message.strip_prefix(prefix).and_then(|v| v.parse::<i64>().ok());
        if let Some(token_id) = id("token:") {
            entries.retain(|_, e| e.principal.token_id != token_id);
        } else if let Some(principal_id) = id("user:").or_else(|| id("sa:")) {
            entries.retain(|_, e| e.principal.id != principal_id);
        } else {
            entries.clear();
        }
    }

    /// Keeps a `LISTEN steward_auth` connection open until `shutdown`,
    /// reconnecting with backoff; the cache is off whenever it is down.
    pub async fn listen(self: Arc<Self>, database_url: String, mut shutdown: tokio::sync::watch::Receiver<bool>) {
        let mut backoff = Duration::from_millis(100);
        loop {
            let session = async {
                let mut conn = crate::db::connect(&database_url).await?;
                conn.batch_execute(&format!("LISTEN {AUTH_CHANNEL}")).await?;
                // Anything may have changed while we were not listening.
                self.evict("all");
                self.listening.store(true, Ordering::Release);
                self.permissions.set_listening(true);
                tracing::debug!("listening for credential changes");
                let mut notifications = std::pin::pin!(conn.notifications_stream());
                while let Some(notification) = notifications.next().await {
                    self.evict(&notification?.payload);
                }
                anyhow::Ok(())
            };
            tokio::select! {
                result = session => {
                    self.listening.store(false, Ordering::Release);
                    self.permissions.set_listening(false);
                    self.evict("all");
                    match result {
                        Ok(()) => tracing::warn!("credential-change listener disconnected; reconnecting"),
                        Err(e) => tracing::warn!(error = %e, "credential-change listener failed; reconnecting"),
                    }
                }
                _ = shutdown.changed() => {
                    self.listening.store(false, Ordering::Release);
                    self.permissions.set_listening(false);
                    return;
                }
            }
            tokio::select! {
                () = tokio::time::sleep(backoff) => {}
                _ = shutdown.changed() => return,
            }
            backoff = (backoff * 2).min(Duration::from_secs(10));
        }
    }

    /// Whether cached answers are being served (the listener is connected).
    pub fn is_caching(&self) -> bool {
        self.listening.load(Ordering::Acquire)
    }
}
