//! `steward doctor`: checks the configuration and every dependency Steward
//! needs (database, migrations, keyring, provider credentials, SMTP, object
//! store, upload staging) and prints one line per check, `ok`, `warn` or
//! `FAIL`, with what is wrong and what to do. It changes nothing but probes
//! it removes again (and the blob and staging directories `serve` would
//! create); no secret value is ever printed.
//!
//! Each check runs under its own timeout, so one hung dependency is reported
//! as such instead of hanging the command.

use std::fmt;
use std::time::Duration;

use diesel::sql_types::Text;
use diesel_async::RunQueryDsl as _;

use crate::blobs::{BlobStore, StoreConfig};
use crate::config::{Config, ConfigError, Environment};
use crate::crypto::Keyring;
use crate::donation::config::ProviderMode;

/// How long one check may take.
const CHECK_TIMEOUT: Duration = Duration::from_secs(10);
/// How long the SMTP conversation may take (connect, EHLO, NOOP, QUIT).
const SMTP_TIMEOUT: Duration = Duration::from_secs(5);

/// A check's verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Works.
    Ok,
    /// Works, but something deserves a look.
    Warn,
    /// Does not work: Steward will fail or misbehave.
    Fail,
}

/// One check's outcome: its name, verdict and a message saying what was
/// found and, when it is not ok, what to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// What was checked, e.g. `database`.
    pub check: &'static str,
    /// The verdict.
    pub status: Status,
    /// What was found; never a secret.
    pub message: String,
}

impl Outcome {
    fn new(check: &'static str, status: Status, message: impl Into<String>) -> Self {
        Self { check, status, message: message.into() }
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let status = match self.status {
            Status::Ok => "ok",
            Status::Warn => "warn",
            Status::Fail => "FAIL",
        };
        write!(f, "{status:<4} {}: {}", self.check, self.message)
    }
}

/// Runs every check over `config` (its loading error is itself the first
/// check's failure, after which nothing else can be checked), printing each
/// line as soon as it is known. True when nothing failed.
pub async fn run(config: Result<Config, ConfigError>) -> bool {
    let mut failed = false;
    let mut report = |outcome: Outcome| {
        failed |= outcome.status == Status::Fail;
        println!("{outcome}");
    };
    let config = match config {
        Ok(config) => {
            report(Outcome::new("configuration", Status::Ok, environment(&config)));
            config
        }
        Err(e) => {
            report(Outcome::new(
                "configuration",
                Status::Fail,
                format!("{e}; fix it (see the settings table in the README), then run doctor again"),
            ));
            return false;
        }
    };
    let (database, connected) = tokio::time::timeout(CHECK_TIMEOUT, check_database(&config))
        .await
        .unwrap_or_else(|_| (too_slow("database"), None));
    let embedded_down = database.status == Status::Warn;
    report(database);
    match connected {
        Some(url) => report(timed("migrations", check_migrations(url)).await),
        // `serve` applies them when it starts the embedded cluster.
        None if embedded_down => {
            report(Outcome::new("migrations", Status::Ok, "`steward serve` applies them at start"))
        }
        None => report(Outcome::new("migrations", Status::Warn, "not checked: the database is unreachable")),
    }
    report(check_keyring(&config));
    let (google, tiktok) = (&config.donation.google, &config.donation.tiktok);
    let vars = "GOOGLE_OAUTH_CLIENT_ID and GOOGLE_OAUTH_CLIENT_SECRET";
    report(check_provider("google", google.mode, &google.client_id, google.client_secret.expose(), vars));
    let vars = "TIKTOK_CLIENT_KEY and TIKTOK_CLIENT_SECRET";
    report(check_provider("tiktok", tiktok.mode, &tiktok.client_key, tiktok.client_secret.expose(), vars));
    report(timed("sign-in", check_signin(&config)).await);
    report(timed("smtp", check_smtp(&config)).await);
    report(timed("object store", check_blobs(&config)).await);
    report(timed("upload staging", check_staging(&config)).await);
    !failed
}

fn environment(config: &Config) -> String {
    match config.env {
        Environment::Production => "valid (production)".to_owned(),
        Environment::Development => "valid (development: sandbox providers and generated keys allowed)".to_owned(),
    }
}

/// `check` under [`CHECK_TIMEOUT`]; running out of time is a failure that says so.
async fn timed(name: &'static str, check: impl Future<Output = Outcome>) -> Outcome {
    tokio::time::timeout(CHECK_TIMEOUT, check).await.unwrap_or_else(|_| too_slow(name))
}

fn too_slow(name: &'static str) -> Outcome {
    Outcome::new(
        name,
        Status::Fail,
        format!("no answer within {} s: the service is hung or a firewall drops packets", CHECK_TIMEOUT.as_secs()),
    )
}

#[derive(diesel::QueryableByName)]
struct Version {
    #[diesel(sql_type = Text)]
    version: String,
}

/// Connects to `DATABASE_URL`. Without it `serve` runs an embedded cluster
/// under the data dir: doctor only looks whether one is running and does not
/// start one, since creating or starting a cluster is not what a read-only
/// check should do (a missing one is no fault: `serve` creates it). The
/// connection string is returned when a connection was made.
async fn check_database(config: &Config) -> (Outcome, Option<String>) {
    let (url, embedded) = match &config.database_url {
        Some(url) => (url.expose().to_owned(), false),
        None => match crate::db::Database::locate(config) {
            Ok(database) => (database.url, true),
            Err(e) => {
                let message = format!(
                    "DATABASE_URL is unset and the embedded PostgreSQL cannot be used: {e:#}; install PostgreSQL or \
                     set DATABASE_URL"
                );
                return (Outcome::new("database", Status::Fail, message), None);
            }
        },
    };
    let mut conn = match crate::db::connect(&url).await {
        Ok(conn) => conn,
        Err(_) if embedded => {
            let message = format!(
                "DATABASE_URL is unset: the embedded cluster under {} is not running now; `steward serve` creates \
                 and starts it",
                config.data_dir.display()
            );
            return (Outcome::new("database", Status::Warn, message), None);
        }
        Err(e) => {
            let message =
                format!("cannot connect: {}; check that PostgreSQL runs and DATABASE_URL names it", connect_error(&e));
            return (Outcome::new("database", Status::Fail, message), None);
        }
    };
    let version = diesel::sql_query("SELECT current_setting('server_version') AS version");
    match version.get_result::<Version>(&mut conn).await {
        Ok(row) => {
            let what = if embedded { "embedded cluster running" } else { "reachable" };
            (Outcome::new("database", Status::Ok, format!("{what} (PostgreSQL {})", row.version)), Some(url))
        }
        Err(e) => (Outcome::new("database", Status::Fail, format!("connected, but a query failed: {e}")), None),
    }
}

/// The causes of a connection error after the first (which names no cause).
fn connect_error(e: &anyhow::Error) -> String {
    let mut causes = e.chain();
    causes.next();
    causes.map(ToString::to_string).collect::<Vec<_>>().join(": ")
}

async fn check_migrations(url: String) -> Outcome {
    match crate::db::pending_migration_names(&url).await {
        Ok(pending) if pending.is_empty() => Outcome::new("migrations", Status::Ok, "all applied"),
        Ok(pending) => Outcome::new(
            "migrations",
            Status::Fail,
            format!("{} pending: {}; run `steward migrate` before serving", pending.len(), pending.join(", ")),
        ),
        Err(e) => Outcome::new("migrations", Status::Fail, format!("cannot read the applied migrations: {e:#}")),
    }
}

/// Loads the keyring as `serve` would, without generating one, and proves
/// it seals and opens.
fn check_keyring(config: &Config) -> Outcome {
    let keyring = match &config.encryption_keys {
        Some(spec) => match Keyring::parse(spec.expose()) {
            Ok(keyring) => keyring,
            Err(e) => {
                return Outcome::new(
                    "keyring",
                    Status::Fail,
                    format!("STEWARD_ENCRYPTION_KEYS is not a keyring: {e}; generate one with `steward keys generate`"),
                );
            }
        },
        None if config.env == Environment::Production => {
            return Outcome::new(
                "keyring",
                Status::Fail,
                "STEWARD_ENCRYPTION_KEYS is unset; production needs it (`steward keys generate`)",
            );
        }
        None => {
            let path = config.data_dir.join("keyring");
            if !path.exists() {
                return Outcome::new(
                    "keyring",
                    Status::Warn,
                    format!(
                        "no STEWARD_ENCRYPTION_KEYS and no {} yet: `steward serve` generates a development keyring",
                        path.display()
                    ),
                );
            }
            match Keyring::load_or_generate(&path) {
                Ok(keyring) => keyring,
                Err(e) => return Outcome::new("keyring", Status::Fail, format!("the development keyring: {e}")),
            }
        }
    };
    let probe = b"steward doctor";
    let sealed = keyring.seal(probe, b"doctor");
    if keyring.open(&sealed, b"doctor").as_deref().ok() != Some(probe.as_slice()) {
        return Outcome::new("keyring", Status::Fail, "a sealed probe did not open again");
    }
    let ids: Vec<&str> = keyring.key_ids().collect();
    Outcome::new(
        "keyring",
        Status::Ok,
        format!("keys {} (current {}); seal and open work", ids.join(", "), keyring.current_key_id()),
    )
}

/// A portability provider: real mode needs its client id and secret.
fn check_provider(name: &'static str, mode: ProviderMode, client_id: &str, client_secret: &str, vars: &str) -> Outcome {
    match mode {
        ProviderMode::Off => Outcome::new(name, Status::Ok, "off: donations from it are refused"),
        ProviderMode::Sandbox => Outcome::new(name, Status::Ok, "sandbox (development only)"),
        ProviderMode::Real if client_id.trim().is_empty() || client_secret.trim().is_empty() => {
            Outcome::new(name, Status::Fail, format!("real mode with an empty client id or secret; set {vars}"))
        }
        ProviderMode::Real => Outcome::new(name, Status::Ok, "real, client id and secret set"),
    }
}

/// Sign-in: the OIDC issuer's discovery document must be reachable.
async fn check_signin(config: &Config) -> Outcome {
    if config.signin.sandbox.is_some() {
        return Outcome::new("sign-in", Status::Ok, "sandbox OIDC provider (development), served by `steward serve`");
    }
    let Some(provider) = &config.signin.provider else {
        let status = if config.env == Environment::Production { Status::Warn } else { Status::Ok };
        return Outcome::new("sign-in", status, "off: set STEWARD_OIDC_ISSUER and its client to let people sign in");
    };
    let client = match reqwest::Client::builder().timeout(CHECK_TIMEOUT / 2).build() {
        Ok(client) => client,
        Err(e) => return Outcome::new("sign-in", Status::Fail, format!("cannot build an HTTP client: {e}")),
    };
    let fetched = async {
        let response = client.get(&provider.discovery_url).send().await?.error_for_status()?;
        response.bytes().await
    };
    match fetched.await {
        Ok(body) => match serde_json::from_slice::<serde_json::Value>(&body) {
            // As sign-in does: a trailing slash does not make another issuer.
            Ok(document)
                if document["issuer"].as_str().map(|i| i.trim_end_matches('/'))
                    == Some(provider.issuer.trim_end_matches('/')) =>
            {
                Outcome::new(
                    "sign-in",
                    Status::Ok,
                    format!("OIDC issuer {} answers its discovery document", provider.issuer),
                )
            }
            Ok(_) => Outcome::new(
                "sign-in",
                Status::Fail,
                format!(
                    "{}'s discovery document names another issuer; check STEWARD_OIDC_ISSUER",
                    provider.discovery_url
                ),
            ),
            Err(_) => Outcome::new(
                "sign-in",
                Status::Fail,
                format!("{} is not JSON; check STEWARD_OIDC_ISSUER", provider.discovery_url),
            ),
        },
        Err(e) => Outcome::new(
            "sign-in",
            Status::Fail,
            format!("cannot fetch {}: {e}; check STEWARD_OIDC_ISSUER and the network", provider.discovery_url),
        ),
    }
}

/// SMTP: connect, EHLO (and STARTTLS and login as configured), NOOP, QUIT.
/// No mail is sent.
async fn check_smtp(config: &Config) -> Outcome {
    use lettre::{AsyncSmtpTransport, Tokio1Executor};
    let Some(url) = &config.upload.smtp_url else {
        let status = if config.env == Environment::Production { Status::Warn } else { Status::Ok };
        let what = if config.env == Environment::Production {
            "STEWARD_SMTP_URL is unset: drop-offs cannot notify anyone by e-mail"
        } else {
            "STEWARD_SMTP_URL is unset: notifications are written under the data dir (development)"
        };
        return Outcome::new("smtp", status, what);
    };
    // Only the host is named: the URL may hold a password.
    let host = reqwest::Url::parse(url.expose())
        .ok()
        .and_then(|u| u.host_str().map(|h| format!("{h}:{}", u.port().map_or("default".to_owned(), |p| p.to_string()))))
        .unwrap_or_else(|| "the server".to_owned());
    let transport = match AsyncSmtpTransport::<Tokio1Executor>::from_url(url.expose()) {
        Ok(builder) => builder.timeout(Some(SMTP_TIMEOUT)).build::<Tokio1Executor>(),
        Err(e) => return Outcome::new("smtp", Status::Fail, format!("STEWARD_SMTP_URL is not usable: {e}")),
    };
    match tokio::time::timeout(SMTP_TIMEOUT, transport.test_connection()).await {
        Ok(Ok(true)) => Outcome::new("smtp", Status::Ok, format!("{host} answers (EHLO, NOOP, QUIT)")),
        Ok(Ok(false)) => Outcome::new("smtp", Status::Fail, format!("{host} accepted the connection but not NOOP")),
        Ok(Err(e)) => Outcome::new(
            "smtp",
            Status::Fail,
            format!("{host}: {e}; check STEWARD_SMTP_URL (host, port, tls, credentials)"),
        ),
        Err(_) => {
            Outcome::new("smtp", Status::Fail, format!("{host} did not answer within {} s", SMTP_TIMEOUT.as_secs()))
        }
    }
}

/// The blob store: a probe blob is written, read back and deleted.
async fn check_blobs(config: &Config) -> Outcome {
    let (store, place) = match &config.blob_store {
        StoreConfig::Local => {
            (BlobStore::in_data_dir(&config.data_dir), format!("{}", config.data_dir.join("blobs").display()))
        }
        StoreConfig::S3(settings) => match BlobStore::s3(settings) {
            Ok(store) => (store, format!("s3://{}", settings.bucket)),
            Err(e) => return Outcome::new("object store", Status::Fail, format!("STEWARD_OBJECT_STORE: {e}")),
        },
    };
    match probe_blob(&store).await {
        Ok(()) => {
            Outcome::new("object store", Status::Ok, format!("{place}: a probe blob was written, read and deleted"))
        }
        Err(e) => Outcome::new(
            "object store",
            Status::Fail,
            format!("{place}: {e:#}; make it writable by Steward (or fix STEWARD_OBJECT_STORE and its credentials)"),
        ),
    }
}

/// The upload staging directory: created if missing (as the first upload
/// would), a probe file written and removed, free space against the reserve.
async fn check_staging(config: &Config) -> Outcome {
    let dir = &config.upload.staging_dir;
    let probe = dir.join(".doctor-probe");
    let written = async {
        tokio::fs::create_dir_all(dir).await?;
        tokio::fs::write(&probe, b"steward doctor").await?;
        tokio::fs::remove_file(&probe).await
    };
    if let Err(e) = written.await {
        return Outcome::new(
            "upload staging",
            Status::Fail,
            format!("{}: {e}; make it writable by Steward or set STEWARD_UPLOAD_STAGING_DIR", dir.display()),
        );
    }
    let reserve = config.upload.staging_reserve;
    match crate::upload::space::free_bytes(dir).await {
        Ok(free) if free <= reserve => Outcome::new(
            "upload staging",
            Status::Warn,
            format!(
                "{}: writable, but only {} free, within the {} reserve: uploads are refused until space is freed",
                dir.display(),
                crate::upload::mail::human_size(free),
                crate::upload::mail::human_size(reserve)
            ),
        ),
        Ok(free) => Outcome::new(
            "upload staging",
            Status::Ok,
            format!("{}: writable, {} free", dir.display(), crate::upload::mail::human_size(free)),
        ),
        Err(e) => Outcome::new(
            "upload staging",
            Status::Warn,
            format!("{}: writable, free space unknown: {e}", dir.display()),
        ),
    }
}

async fn probe_blob(store: &BlobStore) -> anyhow::Result<()> {
    use anyhow::Context as _;
    use std::io::Read as _;
    let mut bytes = [0u8; 32];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut bytes)
        .map_err(|_| anyhow::anyhow!("the random source failed"))?;
    let data_key = crate::donation::keys::DataKey::from_bytes(&bytes);
    let key = format!("doctor/probe-{}", bytes[..8].iter().map(|b| format!("{b:02x}")).collect::<String>());
    let content = b"steward doctor probe".to_vec();
    let chunks = futures_util::stream::iter([Ok::<_, std::io::Error>(content.clone())]);
    store.put_stream(&key, &data_key, b"doctor", chunks).await.context("writing")?;
    let read = {
        let (store, key, data_key) = (store.clone(), key.clone(), data_key.clone());
        tokio::task::spawn_blocking(move || -> anyhow::Result<Vec<u8>> {
            let mut out = Vec::new();
            store.open_reader(&key, &data_key, b"doctor")?.read_to_end(&mut out)?;
            Ok(out)
        })
        .await
        .context("reading")?
    };
    let deleted = store.delete(&key).await.context("deleting");
    let read = read.context("reading")?;
    deleted?;
    anyhow::ensure!(read == content, "the probe read back differs from what was written");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_start_with_their_verdict() {
        let line = Outcome::new("smtp", Status::Fail, "refused").to_string();
        assert_eq!(line, "FAIL smtp: refused");
        assert_eq!(Outcome::new("keyring", Status::Ok, "fine").to_string(), "ok   keyring: fine");
    }

    #[test]
    fn a_real_provider_needs_both_credentials_and_never_shows_them() {
        let vars = "GOOGLE_OAUTH_CLIENT_ID and GOOGLE_OAUTH_CLIENT_SECRET";
        let ok = check_provider("google", ProviderMode::Real, "id", "s3cr3t-value", vars);
        assert_eq!(ok.status, Status::Ok);
        assert!(!ok.message.contains("s3cr3t-value"));
        let empty = check_provider("google", ProviderMode::Real, "id", " ", vars);
        assert_eq!(empty.status, Status::Fail);
        assert!(empty.message.contains("GOOGLE_OAUTH_CLIENT_SECRET"));
        assert_eq!(check_provider("google", ProviderMode::Off, "", "", vars).status, Status::Ok);
    }
}
