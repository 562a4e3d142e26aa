//! `AppState`: what every handler, route and worker shares.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use tonic_health::ServingStatus;
use tonic_health::server::HealthReporter;

use crate::auth::Resolver;
use crate::config::Config;
use crate::crypto::Keyring;
use crate::dataset::PermissionCache;
use crate::db::Pool;
use crate::donation::processing::Processing;
use crate::observe::Metrics;

/// Shared state; cheap to clone.
#[derive(Clone)]
pub struct AppState {
    /// Validated configuration.
    pub config: Arc<Config>,
    /// Database connections.
    pub pool: Pool,
    /// Encryption keys for data at rest.
    pub keyring: Arc<Keyring>,
    /// Credential → caller.
    pub resolver: Arc<Resolver>,
    /// Request metrics.
    pub metrics: Arc<Metrics>,
    /// Serving status, as `grpc.health.v1` and `/healthz` report it.
    pub health: Health,
    /// Donation providers and blobs, shared by the participant pages and the jobs.
    pub processing: Arc<Processing>,
    /// Drop-offs and uploads, shared by the gRPC service and the tus routes.
    pub uploads: crate::upload::ops::Uploads,
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState")
            .field("config", &self.config)
            .field("keyring", &self.keyring)
            .field("health", &self.health)
            .finish_non_exhaustive()
    }
}

impl AppState {
    /// Assembles the state; health starts NOT_SERVING. Fails when a provider
    /// client cannot be built from the configuration.
    pub fn new(config: Config, pool: Pool, keyring: Keyring, health: Health) -> anyhow::Result<Self> {
        let processing = Arc::new(Processing::from_config(&config, keyring.clone())?);
        let resolver = Arc::new(
            Resolver::with_permission_cache(
                pool.clone(),
                PermissionCache::new(config.permission_cache_max_entries, config.permission_cache_ttl),
            )
            .with_cookie_name(&config.signin.cookie_name),
        );
        let keyring = Arc::new(keyring);
        let uploads = crate::upload::ops::Uploads::new(
            pool.clone(),
            keyring.clone(),
            resolver.clone(),
            &config,
            processing.blobs().clone(),
        );
        Ok(Self {
            resolver,
            config: Arc::new(config),
            pool,
            keyring,
            metrics: Arc::new(Metrics::default()),
            health,
            processing,
            uploads,
        })
    }
}

/// Whether Steward can serve: the database is reachable and migrated.
#[derive(Clone)]
pub struct Health {
    reporter: HealthReporter,
    services: Arc<Vec<&'static str>>,
    serving: Arc<AtomicBool>,
}

impl std::fmt::Debug for Health {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Health").field("serving", &self.is_serving()).finish()
    }
}

impl Health {
    /// Health over `reporter` for the named gRPC services (and the server as a whole, "").
    pub fn new(reporter: HealthReporter, services: Vec<&'static str>) -> Self {
        Self { reporter, services: Arc::new(services), serving: Arc::new(AtomicBool::new(false)) }
    }

    /// Whether the server reports SERVING.
    pub fn is_serving(&self) -> bool {
        self.serving.load(Ordering::Acquire)
    }

    /// Reports SERVING or NOT_SERVING for the server and every service.
    pub async fn set_serving(&self, serving: bool) {
        let was = self.serving.swap(serving, Ordering::AcqRel);
        let status = if serving { ServingStatus::Serving } else { ServingStatus::NotServing };
        if was != serving {
            tracing::info!(serving, "health changed");
        }
        self.reporter.set_service_status("", status).await;
        for service in self.services.iter() {
            self.reporter.set_service_status(*service, status).await;
        }
    }
}
