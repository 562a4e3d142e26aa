//! What each `steward` subcommand does. `main.rs` parses arguments and calls
//! these; they report failures as `anyhow` errors with context.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use tokio::sync::watch;

use crate::app::AppState;
use crate::auth::ops::{self, AdminChange, TokenRequest};
use crate::config::Config;
use crate::crypto::Keyring;
use crate::db::{self, Database, PoolOptions};
use crate::{jobs, server};

/// How long in-flight requests and running jobs get to finish on shutdown.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(30);
/// How often `serve` re-checks that the database answers.
const HEALTH_INTERVAL: Duration = Duration::from_secs(5);

/// `steward serve`: the API and background workers until SIGINT/SIGTERM.
pub async fn serve(config: Config) -> anyhow::Result<()> {
    // Bind first: a port in use fails at once, before any database work.
    let listener = tokio::net::TcpListener::bind(config.listen).await.with_context(|| {
        format!("cannot listen on {} (in use, or not an address of this machine); set STEWARD_LISTEN", config.listen)
    })?;
    serve_on(config, listener, shutdown_signal()).await
}

/// Serves on `listener` until `shutdown` resolves: brings the database up
/// (health NOT_SERVING meanwhile), migrates, runs workers, then shuts down
/// gracefully. Tests call this with their own listener and shutdown future.
pub async fn serve_on(
    config: Config,
    listener: tokio::net::TcpListener,
    shutdown: impl Future<Output = ()>,
) -> anyhow::Result<()> {
    let started = Instant::now();
    // Polled from the start, so signal handlers are installed before the slow start-up.
    let mut shutdown = std::pin::pin!(shutdown);
    let address = listener.local_addr()?;
    let mut database = Database::locate(&config)?;
    let keyring = load_keyring(&config)?;
    let pool = db::pool(&database.url, &pool_options(&config, "steward"))?;
    let workers = config.workers;
    warn_about_donation_config(&config);
    let (health, health_service) = server::health().await;
    let state = AppState::new(config, pool.clone(), keyring, health.clone())?;
    let registry = std::sync::Arc::new(registry(&state.config, state.processing.clone()));
    let (shutdown_tx, shutdown_rx) = watch::channel(false);

    // The port answers (NOT_SERVING) while the database comes up.
    let mut server =
        tokio::spawn(server::serve(state.clone(), health_service, listener, signalled(shutdown_rx.clone())));
    // A signal during start-up is honoured once start-up is done: interrupting
    // initdb or a migration would leave them half-finished.
    let mut stop_early = false;
    let ready = {
        let mut ready = std::pin::pin!(async {
            database.start().await?;
            let applied = db::migrate(&database.url).await?;
            if !applied.is_empty() {
                tracing::info!(migrations = ?applied, "applied migrations");
            }
            db::check(&pool).await
        });
        loop {
            tokio::select! {
                // Shutdown first: its first poll installs the signal handlers.
                biased;
                () = &mut shutdown, if !stop_early => stop_early = true,
                result = &mut ready => break result,
            }
        }
    };
    if ready.is_err() || stop_early {
        let _ = shutdown_tx.send(true);
        let _ = server.await;
        database.stop().await;
        return ready;
    }
    health.set_serving(true).await;
    tracing::info!(%address, ready_ms = started.elapsed().as_millis() as u64, "Steward is serving");

    let listener_task = tokio::spawn(state.resolver.clone().listen(database.url.clone(), shutdown_rx.clone()));
    let monitor = tokio::spawn(monitor_health(state.clone(), shutdown_rx.clone()));
    let worker_task = jobs::spawn(pool, database.url.clone(), registry, workers, shutdown_rx);

    let server_result = tokio::select! {
        () = &mut shutdown => None,
        result = &mut server => Some(result),
    };
    tracing::info!("shutting down: finishing in-flight requests and jobs");
    health.set_serving(false).await;
    let _ = shutdown_tx.send(true);
    let server_result = match server_result {
        Some(result) => result,
        None => tokio::time::timeout(SHUTDOWN_GRACE, server)
            .await
            .unwrap_or_else(|_| Ok(Err(anyhow::anyhow!("in-flight requests did not finish in time")))),
    };
    let _ = tokio::time::timeout(SHUTDOWN_GRACE, worker_task).await;
    listener_task.abort();
    monitor.abort();
    database.stop().await;
    server_result.context("server task panicked")?
}

/// `steward worker`: background jobs only, for scaling out.
pub async fn worker(config: Config) -> anyhow::Result<()> {
    let mut database = Database::locate(&config)?;
    database.start().await?;
    let pending = db::pending_migrations(&database.url).await?;
    if pending > 0 {
        database.stop().await;
        anyhow::bail!(
            "the database has {pending} pending migrations: run `steward migrate` (or start `steward serve`) first"
        );
    }
    let pool = db::pool(&database.url, &pool_options(&config, "steward-worker"))?;
    let processing = crate::donation::processing::Processing::from_config(&config, load_keyring(&config)?)?;
    let registry = std::sync::Arc::new(registry(&config, std::sync::Arc::new(processing)));
    let (shutdown_tx, shutdown_rx) = watch::channel(false);
    let workers = jobs::spawn(pool, database.url.clone(), registry, config.workers.max(1), shutdown_rx);
    tracing::info!(workers = config.workers.max(1), "workers running");
    shutdown_signal().await;
    let _ = shutdown_tx.send(true);
    let _ = tokio::time::timeout(SHUTDOWN_GRACE, workers).await;
    database.stop().await;
    Ok(())
}

/// `steward migrate`: applies pending migrations and lists them.
pub async fn migrate(config: Config) -> anyhow::Result<()> {
    with_database(&config, |url| async move {
        let applied = db::migrate(&url).await?;
        if applied.is_empty() {
            println!("No pending migrations.");
        }
        for version in applied {
            println!("Applied migration {version}");
        }
        Ok(())
    })
    .await
}

/// `steward token create`: prints the token alone on the last line.
pub async fn token_create(config: Config, request: TokenRequest) -> anyhow::Result<()> {
    with_migrated_connection(&config, |mut conn| async move {
        let created = ops::create_user_token(&mut conn, request.clone()).await?;
        if created.user_created {
            println!("Created user {} (id {}).", request.email, created.user_id);
        }
        if let Some(role) = request.role {
            if created.role_added {
                println!("Added role {} to {}.", role.as_str(), request.email);
            } else {
                println!("{} already has role {}.", request.email, role.as_str());
            }
        }
        let expiry = created.expires_at.map_or_else(|| "never".to_owned(), |t| t.to_rfc3339());
        println!("Token {} for {} (expires: {expiry}). It is shown once; store it now:", created.id, request.email);
        println!("{}", created.token);
        Ok(())
    })
    .await
}

/// `steward token revoke ID`.
pub async fn token_revoke(config: Config, id: i64) -> anyhow::Result<()> {
    with_migrated_connection(&config, |mut conn| async move {
        let token = ops::revoke_token(&mut conn, id).await?;
        println!("Revoked token {} ({}).", token.id, token.description);
        Ok(())
    })
    .await
}

/// `steward user make-admin EMAIL [--remove]`; DatasetGateway's messages.
pub async fn user_make_admin(config: Config, email: String, remove: bool) -> anyhow::Result<()> {
    with_migrated_connection(&config, |mut conn| async move {
        match ops::set_admin(&mut conn, &email, remove).await? {
            AdminChange::CreatedAdmin => println!("Created new admin user: {email}"),
            AdminChange::Promoted => println!("Promoted {email} to admin."),
            AdminChange::AlreadyAdmin => println!("User {email} is already an admin."),
            AdminChange::Revoked => println!("Revoked admin status from {email}."),
            AdminChange::NotAdmin => println!("User {email} is not an admin."),
            AdminChange::UserNotFound => anyhow::bail!("User not found: {email}"),
        }
        Ok(())
    })
    .await
}

/// `steward user disable|enable EMAIL`.
pub async fn user_set_active(config: Config, email: String, active: bool) -> anyhow::Result<()> {
    with_migrated_connection(&config, |mut conn| async move {
        ops::set_user_active(&mut conn, &email, active).await?;
        println!("{} {email}.", if active { "Enabled" } else { "Disabled" });
        Ok(())
    })
    .await
}

/// `steward user seed [GROUP …]`.
pub async fn user_seed(config: Config, groups: Vec<String>) -> anyhow::Result<()> {
    with_migrated_connection(&config, |mut conn| async move {
        print_report(crate::dataset::import::seed(&mut conn, &groups).await?);
        Ok(())
    })
    .await
}

/// Which bulk import `steward user import-…` runs.
#[derive(Debug, Clone)]
pub enum Import {
    /// `import-csv FILE --dataset DS`.
    Csv {
        /// The dataset the users get view on.
        dataset: String,
    },
    /// `import-clio-auth FILE`.
    ClioAuth,
    /// `import-neuprint-auth FILE --datasets DS…`.
    NeuprintAuth {
        /// The datasets to grant on.
        datasets: Vec<String>,
    },
}

/// `steward user import-csv|import-clio-auth|import-neuprint-auth FILE … [--dry-run]`.
pub async fn user_import(config: Config, file: PathBuf, import: Import, dry_run: bool) -> anyhow::Result<()> {
    use crate::dataset::import;
    // Read before touching the database: a missing file needs no PostgreSQL.
    let text = std::fs::read_to_string(&file).with_context(|| format!("reading {}", file.display()))?;
    let source = file.display().to_string();
    with_migrated_connection(&config, |mut conn| async move {
        let conn = &mut conn;
        let report = match import {
            Import::Csv { dataset } => import::import_csv(conn, &source, &text, &dataset, dry_run).await?,
            Import::ClioAuth => import::import_clio_auth(conn, &source, &text, dry_run).await?,
            Import::NeuprintAuth { datasets } => {
                import::import_neuprint_auth(conn, &source, &text, &datasets, dry_run).await?
            }
        };
        print_report(report);
        Ok(())
    })
    .await
}

fn print_report(report: crate::dataset::import::Report) {
    for line in report.stderr {
        eprintln!("{line}");
    }
    for line in report.stdout {
        println!("{line}");
    }
}

/// `steward descriptor [-o FILE]`: the embedded descriptor set plus
/// `grpc.health.v1` (for Envoy, whose transcoder maps `Health/Check` to
/// `POST /grpc.health.v1.Health/Check`).
pub fn descriptor(out: Option<PathBuf>) -> anyhow::Result<()> {
    use prost::Message as _;
    use std::io::Write as _;

    /// A `FileDescriptorSet` whose files stay raw bytes: decoding them into
    /// `prost_types` would drop the `google.api.http` options (extensions
    /// are unknown fields to prost), and those are the REST routes.
    #[derive(Clone, PartialEq, prost::Message)]
    struct RawSet {
        #[prost(bytes = "vec", repeated, tag = "1")]
        file: Vec<Vec<u8>>,
    }
    let name =
        |file: &[u8]| prost_types::FileDescriptorProto::decode(file).map(|f| f.name).context("decoding a descriptor");

    let mut set = RawSet::decode(crate::proto::FILE_DESCRIPTOR_SET).context("decoding the embedded descriptor set")?;
    let mut names = set.file.iter().map(|f| name(f)).collect::<anyhow::Result<Vec<_>>>()?;
    let health = RawSet::decode(tonic_health::pb::FILE_DESCRIPTOR_SET).context("decoding the health descriptor set")?;
    for file in health.file {
        // A file twice in one set is an error for protoc-style consumers.
        let file_name = name(&file)?;
        if !names.contains(&file_name) {
            names.push(file_name);
            set.file.push(file);
        }
    }
    let bytes = set.encode_to_vec();
    match out {
        Some(path) => std::fs::write(&path, bytes).with_context(|| format!("writing {}", path.display())),
        None => std::io::stdout().write_all(&bytes).context("writing to stdout"),
    }
}

/// `steward keys generate`: a fresh keyring spec for `STEWARD_ENCRYPTION_KEYS`.
pub fn keys_generate() {
    println!("{}", Keyring::generate().to_spec());
}

/// `steward keys usage`: the values each key seals, and what removing each
/// old key would mean.
pub async fn keys_usage(config: Config) -> anyhow::Result<()> {
    let keyring = load_keyring(&config)?;
    with_migrated_connection(&config, |mut conn| async move {
        let usage = crate::rotation::usage(&mut conn).await.context("counting sealed values")?;
        print_usage(&keyring, &usage, config.ngauth.token_lifetime);
        Ok(())
    })
    .await
}

/// `steward keys reseal`: everything onto the current key, then the usage.
pub async fn keys_reseal(config: Config) -> anyhow::Result<()> {
    let keyring = load_keyring(&config)?;
    with_migrated_connection(&config, |mut conn| async move {
        println!("Re-sealing with key {}.", keyring.current_key_id());
        let report = crate::rotation::reseal(&mut conn, &keyring).await.context("re-sealing")?;
        let mut unreadable = 0;
        for place in &report {
            let mut line = format!("{}: {} re-sealed", place.place, place.resealed);
            if place.changed_meanwhile > 0 {
                line += &format!(", {} changed by a server meanwhile (kept)", place.changed_meanwhile);
            }
            println!("{line}");
            for (pk, error) in &place.unreadable {
                println!("  {pk}: cannot be opened: {error}");
            }
            unreadable += place.unreadable.len();
        }
        println!();
        let usage = crate::rotation::usage(&mut conn).await.context("counting sealed values")?;
        print_usage(&keyring, &usage, config.ngauth.token_lifetime);
        if unreadable > 0 {
            anyhow::bail!("{unreadable} rows do not open with this keyring and were left as they are");
        }
        Ok(())
    })
    .await
}

/// `steward jobs list`: each job as [`jobs::admin::describe`] puts it.
pub async fn jobs_list(config: Config, state: Option<String>, kind: Option<String>, limit: u32) -> anyhow::Result<()> {
    with_migrated_connection(&config, |mut conn| async move {
        let found =
            jobs::list(&mut conn, state.as_deref(), kind.as_deref(), i64::from(limit)).await.context("listing jobs")?;
        for job in &found {
            println!("{}", jobs::admin::describe(job));
        }
        match found.len() {
            0 => println!("No jobs match."),
            n if n == limit as usize => println!("{n} jobs shown; there may be more (--limit)."),
            n => println!("{n} jobs."),
        }
        Ok(())
    })
    .await
}

/// `steward jobs retry`: re-queues the failed jobs `ids` (or every failed
/// job), a line per job; fails when any of them was not re-queued.
pub async fn jobs_retry(config: Config, ids: Vec<i64>, all_failed: bool) -> anyhow::Result<()> {
    with_migrated_connection(&config, |mut conn| async move {
        let outcomes = if all_failed {
            jobs::admin::retry_all_failed(&mut conn).await
        } else {
            jobs::admin::retry(&mut conn, &ids).await
        };
        report_outcomes(&outcomes.context("re-queueing jobs")?, "re-queued")
    })
    .await
}

/// `steward jobs delete`: deletes the failed jobs `ids`, or every failed job
/// last changed longer than `older_than` ago.
pub async fn jobs_delete(config: Config, ids: Vec<i64>, older_than: Option<Duration>) -> anyhow::Result<()> {
    with_migrated_connection(&config, |mut conn| async move {
        let Some(age) = older_than else {
            return report_outcomes(&jobs::admin::delete(&mut conn, &ids).await.context("deleting jobs")?, "deleted");
        };
        let before = chrono::Utc::now() - chrono::TimeDelta::from_std(age).context("--older-than is too long")?;
        let deleted = jobs::admin::delete_failed_before(&mut conn, before).await.context("deleting jobs")?;
        println!("Deleted {deleted} failed jobs last changed before {}.", before.format("%Y-%m-%d %H:%M:%S UTC"));
        Ok(())
    })
    .await
}

fn report_outcomes(outcomes: &[(i64, jobs::admin::Outcome)], done: &str) -> anyhow::Result<()> {
    for (id, outcome) in outcomes {
        println!("job {id}: {outcome}");
    }
    let left = outcomes.iter().filter(|(_, outcome)| !outcome.done()).count();
    match left {
        0 => Ok(()),
        _ => anyhow::bail!("{left} of {} jobs were not {done}", outcomes.len()),
    }
}

/// The usage table, then one verdict per key.
fn print_usage(keyring: &Keyring, usage: &crate::rotation::Usage, ngauth_lifetime: Duration) {
    let name = |key: &Option<String>| key.clone().unwrap_or_else(|| "(no key id)".to_owned());
    let counts = |counts: &std::collections::BTreeMap<Option<String>, i64>| {
        let parts: Vec<String> = counts.iter().map(|(key, n)| format!("{} {n}", name(key))).collect();
        if parts.is_empty() { "none".to_owned() } else { parts.join(", ") }
    };
    let ids: Vec<&str> = keyring.key_ids().collect();
    println!("Keyring: {} (current){}", ids[0], ids[1..].iter().map(|id| format!(", {id}")).collect::<String>());
    println!("Values sealed, by key:");
    for (place, by_key) in &usage.places {
        println!("  {place:<30} {}", counts(by_key));
    }
    let totals = usage.totals();
    println!("  {:<30} {}", "in all", counts(&totals));
    println!("Long-lived API tokens, by the key they derive from: {}", counts(&usage.long_lived_tokens));
    for id in &ids[1..] {
        let key = Some((*id).to_owned());
        match totals.get(&key) {
            Some(n) => println!("{id} still seals {n} values: run `steward keys reseal` before removing it."),
            None => println!(
                "{id} seals nothing in the database. Remove it once no backup you may restore needs it and \
                 ngauth tokens minted before the rotation have expired ({} s).",
                ngauth_lifetime.as_secs()
            ),
        }
        if let Some(n) = usage.long_lived_tokens.get(&key) {
            println!(
                "  {n} long-lived API tokens derive from {id}: they keep working after it is removed, \
                 but a user who asks for theirs again then gets a new one and the old one stops."
            );
        }
    }
    for (key, n) in &totals {
        if key.as_deref().is_none_or(|id| !ids.contains(&id)) {
            println!(
                "{n} values are sealed with {}, which is not in the keyring: they cannot be opened. \
                 Add that key back from the keyring of their time.",
                name(key)
            );
        }
    }
}

/// `steward sandbox-issuer`: an OIDC-shaped issuer (discovery, JWKS and a
/// `/token` route minting ES256 JWTs for any `sub`, `aud` and `permissions`)
/// until SIGINT/SIGTERM, so parties can trust JWTs offline (README, private
/// aggregation). It mints for anyone who asks, hence never in production.
pub async fn sandbox_issuer(listen: std::net::SocketAddr, production: bool) -> anyhow::Result<()> {
    if production {
        anyhow::bail!(
            "the sandbox issuer mints tokens for anyone who asks and is for development only (STEWARD_ENV=production)"
        );
    }
    let listener = tokio::net::TcpListener::bind(listen).await.with_context(|| format!("cannot listen on {listen}"))?;
    let url = format!("http://{}/", listener.local_addr()?);
    let issuer = crate::auth::jwt::sandbox::SandboxIssuer::new(url.clone(), None).map_err(anyhow::Error::msg)?;
    println!("sandbox OIDC issuer (development only: it signs tokens for anyone who asks): {url}");
    println!("parties trust it with: STEWARD_JWT_ISSUER={url} STEWARD_JWT_AUDIENCE=<audience>");
    println!("a token: curl -s -d sub=alice -d aud=<audience> -d 'permissions=post:eta-data' {url}token");
    axum::serve(listener, issuer.router()).with_graceful_shutdown(shutdown_signal()).await.context("serving")
}

/// Said once at start-up, so nobody mistakes a demo for a real deployment.
fn warn_about_donation_config(config: &Config) {
    if config.sandbox_providers() {
        tracing::warn!(
            google = ?config.donation.google.mode,
            tiktok = ?config.donation.tiktok.mode,
            "sandbox portability providers are active (fake Google/TikTok under /sandbox/); \
             set STEWARD_GOOGLE_MODE/STEWARD_TIKTOK_MODE to real or off for a real deployment"
        );
    }
    if config.donation.legacy_encryption_key_set {
        tracing::warn!("ENCRYPTION_KEY (portability-server's) is ignored; keys come from STEWARD_ENCRYPTION_KEYS");
    }
}

/// The job handlers this build knows.
pub fn registry(
    config: &Config,
    processing: std::sync::Arc<crate::donation::processing::Processing>,
) -> jobs::Registry {
    let mut registry = jobs::Registry::new();
    crate::auth::jobs::register(&mut registry);
    crate::donation::purge::register(&mut registry, processing.blobs().clone());
    crate::donation::release::register(&mut registry, processing.clone());
    crate::donation::processing::sweep::register(&mut registry, processing.clone());
    let storage =
        crate::upload::jobs::Storage::from_config(config, processing.keyring().clone(), processing.blobs().clone());
    crate::upload::jobs::register(&mut registry, storage);
    crate::donation::processing::register(&mut registry, processing);
    crate::upload::notify::register(&mut registry, config);
    registry
}

/// Pool settings from the configuration.
pub fn pool_options(config: &Config, application_name: &'static str) -> PoolOptions {
    PoolOptions {
        max_size: config.db_pool_size,
        wait_timeout: config.db_pool_timeout,
        statement_timeout: config.db_statement_timeout,
        application_name,
    }
}

/// The keyring from `STEWARD_ENCRYPTION_KEYS`, or (development) generated once into the data dir.
pub fn load_keyring(config: &Config) -> anyhow::Result<Keyring> {
    match &config.encryption_keys {
        Some(spec) => Keyring::parse(spec.expose()).context("STEWARD_ENCRYPTION_KEYS"),
        None => {
            let path = config.data_dir.join("keyring");
            Keyring::load_or_generate(&path)
                .with_context(|| format!("loading the development keyring {}", path.display()))
        }
    }
}

/// Runs `work` with the database up (started briefly if embedded and not running).
async fn with_database<F, Fut>(config: &Config, work: F) -> anyhow::Result<()>
where
    F: FnOnce(String) -> Fut,
    Fut: Future<Output = anyhow::Result<()>>,
{
    let mut database = Database::locate(config)?;
    database.start().await?;
    let result = work(database.url.clone()).await;
    database.stop().await;
    result
}

/// Runs `work` on one connection to a migrated database.
async fn with_migrated_connection<F, Fut>(config: &Config, work: F) -> anyhow::Result<()>
where
    F: FnOnce(diesel_async::AsyncPgConnection) -> Fut,
    Fut: Future<Output = anyhow::Result<()>>,
{
    with_database(config, |url| async move {
        // A fresh embedded cluster has no tables yet: migrate, as `serve` would.
        db::migrate(&url).await?;
        work(db::connect(&url).await?).await
    })
    .await
}

/// Keeps the database health current while serving.
async fn monitor_health(state: AppState, mut shutdown: watch::Receiver<bool>) {
    loop {
        tokio::select! {
            () = tokio::time::sleep(HEALTH_INTERVAL) => {}
            _ = shutdown.changed() => return,
        }
        let ok = tokio::time::timeout(HEALTH_INTERVAL, db::check(&state.pool)).await.is_ok_and(|r| r.is_ok());
        if ok != state.health.is_serving() {
            if !ok {
                tracing::error!("database unreachable: reporting NOT_SERVING");
            }
            state.health.set_serving(ok).await;
        }
    }
}

/// Resolves when the watch flips to true (or its sender is gone).
async fn signalled(mut shutdown: watch::Receiver<bool>) {
    let _ = shutdown.wait_for(|stop| *stop).await;
}

/// SIGINT (Ctrl-C) or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("installing the SIGTERM handler");
    tokio::select! {
        _ = ctrl_c => {}
        _ = term.recv() => {}
    }
}

#[cfg(test)]
mod tests {
    /// `serve` and `worker` run every job the services enqueue; a kind
    /// missing here would fail its jobs with "no handler" in production.
    #[test]
    fn the_registry_handles_every_enqueued_job_kind() {
        let config = crate::config::Config::from_lookup(|_| None).unwrap();
        let processing =
            crate::donation::processing::Processing::from_config(&config, crate::crypto::Keyring::generate()).unwrap();
        let registry = super::registry(&config, std::sync::Arc::new(processing));
        let kinds: Vec<&str> = registry.kinds().collect();
        use crate::donation::processing::{DOWNLOAD, FINALIZE, PARSE, POLL, SCHEDULE_DUE_POLLS, START_EXPORT};
        for kind in [crate::donation::purge::KIND, START_EXPORT, POLL, SCHEDULE_DUE_POLLS, DOWNLOAD, PARSE, FINALIZE] {
            assert!(kinds.contains(&kind), "{kind} missing from {kinds:?}");
        }
        assert!(kinds.contains(&crate::donation::release::KIND), "the release job is missing from {kinds:?}");
        assert!(registry.interval(SCHEDULE_DUE_POLLS).is_some(), "due polls are scheduled periodically");
        use crate::donation::processing::sweep::{SWEEP, SWEEP_EVERY};
        assert_eq!(registry.interval(SWEEP), Some(SWEEP_EVERY), "raw storage is swept hourly");
        assert!(kinds.contains(&crate::upload::notify::KIND), "upload notifications are missing from {kinds:?}");
        let sweep = crate::upload::notify::SWEEP;
        assert_eq!(registry.interval(sweep), Some(crate::upload::notify::SWEEP_EVERY), "the outbox is swept");
    }
}
