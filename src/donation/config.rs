//! DonationService configuration (spec `donation.md`, Appendix), read with the
//! rest of [`crate::config::Config`] and reachable as `config.donation`.
//!
//! | variable | default | meaning |
//! |---|---|---|
//! | `STEWARD_GOOGLE_MODE`, `STEWARD_TIKTOK_MODE` | `sandbox` (production: `real` with credentials, else `off`) | `real`, `sandbox` or `off` |
//! | `GOOGLE_OAUTH_CLIENT_ID`, `GOOGLE_OAUTH_CLIENT_SECRET` | — | Google OAuth client (secret) |
//! | `GOOGLE_REDIRECT_URI` | `<public>/oauth/google/callback/` | must equal the Google Cloud console entry |
//! | `TIKTOK_CLIENT_KEY`, `TIKTOK_CLIENT_SECRET` | — | TikTok app credentials (secret) |
//! | `TIKTOK_REDIRECT_URI` | `<public>/oauth/tiktok/callback/` | must equal the registered URI |
//! | `STEWARD_GOOGLE_AUTH_URL`, `_TOKEN_URL`, `_DPA_URL`, `_DOWNLOAD_HOSTS` | Google's (sandbox: Steward's `/sandbox/google`) | endpoint overrides |
//! | `STEWARD_TIKTOK_AUTH_URL`, `STEWARD_TIKTOK_API_URL` | TikTok's (sandbox: `/sandbox/tiktok`) | endpoint overrides |
//! | `STEWARD_TIKTOK_SCOPE_MODE` | `single` | `single` or `ongoing` portability scopes |
//! | `STEWARD_TIKTOK_EXTRA_SCOPES` | `user.info.basic` | extra Login Kit scopes, comma-separated |
//! | `STEWARD_TIKTOK_PKCE_ENCODING` | `base64url` | `base64url` or `hex` |
//! | `STEWARD_DONATION_MAX_ATTEMPTS` | `10` | attempts per processing job |
//! | `STEWARD_DONATION_RETRY_BASE` | `30s` (sandbox: `1s`) | wait after a processing job's first failed attempt; it doubles per attempt, at most 1 h (spec §4.1: `min(30 s × 2^(n−1), 1 h)`), so the 10 attempts of a job outlast a provider outage of about 4.5 h |
//! | `STEWARD_GOOGLE_JOB_RETRIES` | `2` | `archiveJobs:retry` calls per failed export |
//! | `STEWARD_DONATION_POLL_SCHEDULE` | `5m×12,15m×20,60m` (sandbox: `2s×30,10s×30,60s`) | export state poll cadence (`x` works for `×`) |
//! | `STEWARD_EXPORT_MAX_WAIT` | `7d` | deadline per export |
//! | `STEWARD_DONATION_MAX_PROCESSING` | export deadline + 1 day (`8d`) | a donation still `authorized` or `processing` this long after its sign-in (or last retry) is failed with `internal`; must exceed `STEWARD_EXPORT_MAX_WAIT` |
//! | `STEWARD_DONATION_QUERY_MAX_LIMIT` | `10000` | largest `limit` / `page_size` of a data query |
//! | `STEWARD_LEGACY_LIST_MAX` | `20000` | cap of the unpaged legacy donation list |
//! | `STEWARD_DONATION_RAW_RETENTION` | `72h` | how long raw archive parts survive a terminal error |
//! | `STEWARD_ARCHIVE_MAX_PART_BYTES`, `_MAX_ENTRIES`, `_MAX_ENTRY_BYTES`, `_MAX_TOTAL_BYTES`, `_MAX_RATIO` | 16 GiB, 100000, 8 GiB, 32 GiB, 200 | zip limits (sizes take `KiB`/`MiB`/`GiB` suffixes) |
//! | `STEWARD_VISIT_IDLE_TTL`, `STEWARD_VISIT_MAX_TTL`, `STEWARD_OAUTH_ATTEMPT_TTL` | `24h`, `7d`, `15m` | participant visit and sign-in attempt lifetimes |
//! | `STEWARD_TEMPLATE_DIR` | — | directory overriding the participant page templates |
//! | `STEWARD_INSTITUTION_NAME`, `_URL`, `_LOGO`, `STEWARD_CONTACT_EMAIL`, `STEWARD_DPO_EMAIL`, `STEWARD_DONATION_MIN_AGE`, `STEWARD_HOSTING_REGION` | — | template variables for the terms and privacy notice |
//! | `STEWARD_SANDBOX_INTERNAL_URL` | `http://<STEWARD_LISTEN>/sandbox` | server-to-server base of the sandbox providers |
//! | `STEWARD_SANDBOX_DEFAULT_SCENARIO` | — | default sandbox scenario (query-string syntax) |
//! | `STEWARD_SANDBOX_CLIENT_ID`, `STEWARD_SANDBOX_CLIENT_SECRET` | `sandbox-client`, `sandbox-secret` | credentials the sandbox expects |
//!
//! Upstream's `TIKTOK_SANDBOX_MODE` is refused with an explanation; its
//! `ENCRYPTION_KEY` is ignored (keys come from `STEWARD_ENCRYPTION_KEYS`) and
//! `serve` warns about it.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use super::catalogue::Source;
use crate::config::{ConfigError, Environment, Secret, invalid, parse_count, parse_duration, parse_duration_var};

/// How Steward talks to one portability provider.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProviderMode {
    /// The real provider, with registered client credentials.
    Real,
    /// The in-repo sandbox provider (development and tests).
    Sandbox,
    /// Donations from this source cannot be created.
    Off,
}

/// Endpoints and credentials of Google Data Portability.
#[derive(Debug, Clone)]
pub struct GoogleProvider {
    pub mode: ProviderMode,
    pub client_id: String,
    pub client_secret: Secret,
    pub redirect_uri: String,
    /// Browser-facing authorization endpoint.
    pub auth_url: String,
    /// Server-to-server token endpoint.
    pub token_url: String,
    /// Server-to-server Data Portability API base (`…/v1` is appended by the client).
    pub dpa_url: String,
    /// Hosts signed download URLs may point at.
    pub download_hosts: Vec<String>,
}

/// How TikTok's PKCE challenge is encoded (TikTok's web docs disagree with RFC 7636).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PkceEncoding {
    Base64Url,
    Hex,
}

/// Endpoints and credentials of TikTok's Login Kit and Data Portability API.
#[derive(Debug, Clone)]
pub struct TikTokProvider {
    pub mode: ProviderMode,
    pub client_key: String,
    pub client_secret: Secret,
    pub redirect_uri: String,
    /// Browser-facing authorization endpoint.
    pub auth_url: String,
    /// Server-to-server API base (`/v2/…` is appended by the client).
    pub api_url: String,
    /// `ongoing` asks for repeatable exports; `single` for one.
    pub ongoing_scope: bool,
    pub extra_scopes: Vec<String>,
    pub pkce_encoding: PkceEncoding,
}

/// Zip safety limits (spec §5.5).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ArchiveLimits {
    pub max_part_bytes: u64,
    pub max_entries: u64,
    pub max_entry_bytes: u64,
    pub max_total_bytes: u64,
    pub max_ratio: u64,
}

impl Default for ArchiveLimits {
    fn default() -> Self {
        const GIB: u64 = 1 << 30;
        Self {
            max_part_bytes: 16 * GIB,
            max_entries: 100_000,
            max_entry_bytes: 8 * GIB,
            max_total_bytes: 32 * GIB,
            max_ratio: 200,
        }
    }
}

/// Texts the participant pages, terms and privacy notice are filled with.
#[derive(Debug, Clone, Default)]
pub struct Institution {
    pub name: Option<String>,
    pub url: Option<String>,
    pub logo: Option<String>,
    pub contact_email: Option<String>,
    pub dpo_email: Option<String>,
    pub min_age: Option<u32>,
    pub hosting_region: Option<String>,
}

/// The sandbox providers' own settings.
#[derive(Debug, Clone)]
pub struct SandboxConfig {
    /// Server-to-server base, e.g. `http://127.0.0.1:8080/sandbox`.
    pub internal_url: String,
    /// Browser-facing base, `<STEWARD_PUBLIC_URL>/sandbox`.
    pub public_url: String,
    pub default_scenario: Option<String>,
    pub client_id: String,
    pub client_secret: Secret,
}

/// Everything DonationService reads from the environment.
#[derive(Debug, Clone)]
pub struct DonationConfig {
    pub google: GoogleProvider,
    pub tiktok: TikTokProvider,
    pub max_attempts: u32,
    /// Backoff of a failed processing job before its second attempt (then doubling).
    pub retry_base: Duration,
    pub google_job_retries: u32,
    /// Poll intervals in order: `(interval, times)`; the last repeats forever (`times` = `None`).
    pub poll_schedule: Vec<(Duration, Option<u32>)>,
    pub export_max_wait: Duration,
    /// How long a donation may stay `authorized` or `processing` after its
    /// sign-in or last retry before the stuck check fails it (spec §1.4:
    /// never `processing` forever); longer than [`Self::export_max_wait`].
    pub max_processing: Duration,
    pub query_max_limit: u32,
    pub legacy_list_max: usize,
    pub raw_retention: Duration,
    pub archive_limits: ArchiveLimits,
    pub visit_idle_ttl: Duration,
    pub visit_max_ttl: Duration,
    pub oauth_attempt_ttl: Duration,
    pub template_dir: Option<PathBuf>,
    pub institution: Institution,
    pub sandbox: SandboxConfig,
    /// Upstream's `ENCRYPTION_KEY` is set (ignored; `serve` warns).
    pub legacy_encryption_key_set: bool,
}

impl DonationConfig {
    /// Whether donations from `source` can be created on this server.
    pub fn source_enabled(&self, source: Source) -> bool {
        self.mode(source) != ProviderMode::Off
    }

    /// The mode of `source`'s provider.
    pub fn mode(&self, source: Source) -> ProviderMode {
        match source {
            Source::Google => self.google.mode,
            Source::TikTok => self.tiktok.mode,
        }
    }

    /// Whether any provider runs in sandbox mode (the `/sandbox/` routes are served).
    pub fn sandbox_active(&self) -> bool {
        self.google.mode == ProviderMode::Sandbox || self.tiktok.mode == ProviderMode::Sandbox
    }

    /// The poll delay after `polls` earlier polls of one export.
    pub fn poll_delay(&self, polls: u32) -> Duration {
        let mut seen = 0u32;
        for (interval, times) in &self.poll_schedule {
            match times {
                Some(n) if polls >= seen.saturating_add(*n) => seen = seen.saturating_add(*n),
                _ => return *interval,
            }
        }
        self.poll_schedule.last().map_or(Duration::from_secs(3600), |(interval, _)| *interval)
    }

    pub(crate) fn from_lookup(
        get: &impl Fn(&str) -> Option<String>,
        env: Environment,
        public_url: &str,
        listen: SocketAddr,
    ) -> Result<Self, ConfigError> {
        if get("TIKTOK_SANDBOX_MODE").is_some() {
            return Err(invalid(
                "TIKTOK_SANDBOX_MODE",
                "is not supported: a TikTok developer sandbox app is STEWARD_TIKTOK_MODE=real with that app's \
                 TIKTOK_CLIENT_KEY/TIKTOK_CLIENT_SECRET; Steward's own sandbox is STEWARD_TIKTOK_MODE=sandbox",
            ));
        }
        let production = env == Environment::Production;
        let sandbox_public = format!("{public_url}/sandbox");
        let sandbox_internal = get("STEWARD_SANDBOX_INTERNAL_URL")
            .map(|u| u.trim_end_matches('/').to_owned())
            .unwrap_or_else(|| format!("http://{}/sandbox", local_address(listen)));
        let sandbox = SandboxConfig {
            internal_url: sandbox_internal.clone(),
            public_url: sandbox_public.clone(),
            default_scenario: get("STEWARD_SANDBOX_DEFAULT_SCENARIO"),
            client_id: get("STEWARD_SANDBOX_CLIENT_ID").unwrap_or_else(|| "sandbox-client".into()),
            client_secret: Secret::new(get("STEWARD_SANDBOX_CLIENT_SECRET").unwrap_or_else(|| "sandbox-secret".into())),
        };

        let google_credentials = (get("GOOGLE_OAUTH_CLIENT_ID"), get("GOOGLE_OAUTH_CLIENT_SECRET"));
        let google_mode = provider_mode(get, "STEWARD_GOOGLE_MODE", production, &google_credentials)?;
        let google = match google_mode {
            ProviderMode::Sandbox => GoogleProvider {
                mode: google_mode,
                client_id: sandbox.client_id.clone(),
                client_secret: sandbox.client_secret.clone(),
                redirect_uri: format!("{public_url}/oauth/google/callback/"),
                auth_url: format!("{sandbox_public}/google/o/oauth2/v2/auth"),
                token_url: format!("{sandbox_internal}/google/token"),
                dpa_url: format!("{sandbox_internal}/google"),
                download_hosts: vec![host_of(&sandbox_internal)],
            },
            _ => GoogleProvider {
                mode: google_mode,
                client_id: google_credentials.0.unwrap_or_default(),
                client_secret: Secret::new(google_credentials.1.unwrap_or_default()),
                redirect_uri: get("GOOGLE_REDIRECT_URI")
                    .unwrap_or_else(|| format!("{public_url}/oauth/google/callback/")),
                auth_url: endpoint(
                    get,
                    "STEWARD_GOOGLE_AUTH_URL",
                    "https://accounts.google.com/o/oauth2/v2/auth",
                    production,
                )?,
                token_url: endpoint(
                    get,
                    "STEWARD_GOOGLE_TOKEN_URL",
                    "https://oauth2.googleapis.com/token",
                    production,
                )?,
                dpa_url: endpoint(get, "STEWARD_GOOGLE_DPA_URL", "https://dataportability.googleapis.com", production)?,
                download_hosts: get("STEWARD_GOOGLE_DOWNLOAD_HOSTS")
                    .map(|v| v.split(',').map(|h| h.trim().to_owned()).filter(|h| !h.is_empty()).collect())
                    .unwrap_or_else(|| vec!["storage.googleapis.com".into()]),
            },
        };

        let tiktok_credentials = (get("TIKTOK_CLIENT_KEY"), get("TIKTOK_CLIENT_SECRET"));
        let tiktok_mode = provider_mode(get, "STEWARD_TIKTOK_MODE", production, &tiktok_credentials)?;
        let ongoing_scope = match get("STEWARD_TIKTOK_SCOPE_MODE").as_deref() {
            None | Some("single") => false,
            Some("ongoing") => true,
            Some(other) => {
                return Err(invalid(
                    "STEWARD_TIKTOK_SCOPE_MODE",
                    format!("'{other}' is neither 'single' nor 'ongoing'"),
                ));
            }
        };
        let pkce_encoding = match get("STEWARD_TIKTOK_PKCE_ENCODING").as_deref() {
            None | Some("base64url") => PkceEncoding::Base64Url,
            Some("hex") => PkceEncoding::Hex,
            Some(other) => {
                return Err(invalid(
                    "STEWARD_TIKTOK_PKCE_ENCODING",
                    format!("'{other}' is neither 'base64url' nor 'hex'"),
                ));
            }
        };
        let extra_scopes = get("STEWARD_TIKTOK_EXTRA_SCOPES")
            .unwrap_or_else(|| "user.info.basic".into())
            .split(',')
            .map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty())
            .collect();
        let (auth_url, api_url, client_key, client_secret) = match tiktok_mode {
            ProviderMode::Sandbox => (
                format!("{sandbox_public}/tiktok/v2/auth/authorize/"),
                format!("{sandbox_internal}/tiktok"),
                sandbox.client_id.clone(),
                sandbox.client_secret.clone(),
            ),
            _ => (
                endpoint(get, "STEWARD_TIKTOK_AUTH_URL", "https://www.tiktok.com/v2/auth/authorize/", production)?,
                endpoint(get, "STEWARD_TIKTOK_API_URL", "https://open.tiktokapis.com", production)?,
                tiktok_credentials.0.unwrap_or_default(),
                Secret::new(tiktok_credentials.1.unwrap_or_default()),
            ),
        };
        let tiktok = TikTokProvider {
            mode: tiktok_mode,
            client_key,
            client_secret,
            redirect_uri: get("TIKTOK_REDIRECT_URI").unwrap_or_else(|| format!("{public_url}/oauth/tiktok/callback/")),
            auth_url,
            api_url,
            ongoing_scope,
            extra_scopes,
            pkce_encoding,
        };

        let defaults = ArchiveLimits::default();
        let archive_limits = ArchiveLimits {
            max_part_bytes: parse_bytes(get, "STEWARD_ARCHIVE_MAX_PART_BYTES", defaults.max_part_bytes)?,
            max_entries: parse_count(get, "STEWARD_ARCHIVE_MAX_ENTRIES", defaults.max_entries as usize, 1..=10_000_000)?
                as u64,
            max_entry_bytes: parse_bytes(get, "STEWARD_ARCHIVE_MAX_ENTRY_BYTES", defaults.max_entry_bytes)?,
            max_total_bytes: parse_bytes(get, "STEWARD_ARCHIVE_MAX_TOTAL_BYTES", defaults.max_total_bytes)?,
            max_ratio: parse_count(get, "STEWARD_ARCHIVE_MAX_RATIO", defaults.max_ratio as usize, 2..=100_000)? as u64,
        };
        let min_age =
            match get("STEWARD_DONATION_MIN_AGE") {
                None => None,
                Some(v) => Some(v.parse::<u32>().ok().filter(|n| (1..=120).contains(n)).ok_or_else(|| {
                    invalid("STEWARD_DONATION_MIN_AGE", format!("'{v}' is not an age from 1 to 120"))
                })?),
            };
        let template_dir = get("STEWARD_TEMPLATE_DIR").map(PathBuf::from);
        if production && (google.mode != ProviderMode::Off || tiktok.mode != ProviderMode::Off) {
            refuse_example_templates(template_dir.as_deref())?;
        }
        let any_sandbox = google.mode == ProviderMode::Sandbox || tiktok.mode == ProviderMode::Sandbox;
        let poll_schedule = parse_poll_schedule(get("STEWARD_DONATION_POLL_SCHEDULE").as_deref(), any_sandbox)?;
        // The sandbox answers at once, so its demo and tests retry as quickly
        // as its polls run.
        let retry_base = Duration::from_secs(if any_sandbox { 1 } else { 30 });
        let retry_base = parse_duration_var(get, "STEWARD_DONATION_RETRY_BASE", retry_base)?;
        if retry_base.is_zero() {
            return Err(invalid("STEWARD_DONATION_RETRY_BASE", "must be more than 0, e.g. 30s"));
        }
        let export_max_wait = parse_duration_var(get, "STEWARD_EXPORT_MAX_WAIT", Duration::from_secs(7 * 86_400))?;
        // A day past the export deadline by default, so a provider still
        // preparing the archive times out as `export_timeout` first.
        let max_processing = parse_duration_var(
            get,
            "STEWARD_DONATION_MAX_PROCESSING",
            export_max_wait.saturating_add(Duration::from_secs(86_400)),
        )?;
        if max_processing <= export_max_wait {
            return Err(invalid(
                "STEWARD_DONATION_MAX_PROCESSING",
                format!(
                    "must be longer than STEWARD_EXPORT_MAX_WAIT ({}s): a donation waiting for its export would \
                     otherwise be failed as stuck before the export deadline",
                    export_max_wait.as_secs()
                ),
            ));
        }
        Ok(Self {
            google,
            tiktok,
            max_attempts: parse_count(get, "STEWARD_DONATION_MAX_ATTEMPTS", 10, 1..=100)? as u32,
            retry_base,
            google_job_retries: parse_count(get, "STEWARD_GOOGLE_JOB_RETRIES", 2, 0..=20)? as u32,
            poll_schedule,
            export_max_wait,
            max_processing,
            query_max_limit: parse_count(get, "STEWARD_DONATION_QUERY_MAX_LIMIT", 10_000, 1..=1_000_000)? as u32,
            legacy_list_max: parse_count(get, "STEWARD_LEGACY_LIST_MAX", 20_000, 1..=10_000_000)?,
            raw_retention: parse_duration_var(get, "STEWARD_DONATION_RAW_RETENTION", Duration::from_secs(72 * 3600))?,
            archive_limits,
            visit_idle_ttl: parse_duration_var(get, "STEWARD_VISIT_IDLE_TTL", Duration::from_secs(24 * 3600))?,
            visit_max_ttl: parse_duration_var(get, "STEWARD_VISIT_MAX_TTL", Duration::from_secs(7 * 86_400))?,
            oauth_attempt_ttl: parse_duration_var(get, "STEWARD_OAUTH_ATTEMPT_TTL", Duration::from_secs(15 * 60))?,
            template_dir,
            institution: Institution {
                name: get("STEWARD_INSTITUTION_NAME"),
                url: get("STEWARD_INSTITUTION_URL"),
                logo: get("STEWARD_INSTITUTION_LOGO"),
                contact_email: get("STEWARD_CONTACT_EMAIL"),
                dpo_email: get("STEWARD_DPO_EMAIL"),
                min_age,
                hosting_region: get("STEWARD_HOSTING_REGION"),
            },
            sandbox,
            legacy_encryption_key_set: get("ENCRYPTION_KEY").is_some(),
        })
    }
}

/// Production with a donation source on serves the participant pages, so
/// its legal templates must be the institution's own: refuses a shipped
/// example (or an override still carrying the example marker), naming the
/// file (spec §3.7).
fn refuse_example_templates(dir: Option<&std::path::Path>) -> Result<(), ConfigError> {
    use crate::donation::participant::templates::example_template_in_use;
    match example_template_in_use(dir) {
        Ok(None) => Ok(()),
        Ok(Some(file)) => Err(invalid(
            "STEWARD_TEMPLATE_DIR",
            format!(
                "{file} is still Steward's example legal text (it carries the STEWARD-EXAMPLE-TEMPLATE marker); \
                 edit it for your institution and remove the marker before running in production"
            ),
        )),
        Err(e) => Err(invalid("STEWARD_TEMPLATE_DIR", e.to_string())),
    }
}

/// The mode from `var`, or the default: sandbox in development; in
/// production real with credentials, else off. Sandbox is refused in
/// production, and real needs both credentials.
fn provider_mode(
    get: &impl Fn(&str) -> Option<String>,
    var: &'static str,
    production: bool,
    credentials: &(Option<String>, Option<String>),
) -> Result<ProviderMode, ConfigError> {
    let has_credentials = credentials.0.is_some() && credentials.1.is_some();
    let mode = match get(var).as_deref() {
        None if production && has_credentials => ProviderMode::Real,
        None if production => ProviderMode::Off,
        None => ProviderMode::Sandbox,
        Some("real") => ProviderMode::Real,
        Some("sandbox") => ProviderMode::Sandbox,
        Some("off") => ProviderMode::Off,
        Some(other) => return Err(invalid(var, format!("'{other}' is not real, sandbox or off"))),
    };
    if production && mode == ProviderMode::Sandbox {
        return Err(invalid(
            var,
            "sandbox providers are refused when STEWARD_ENV=production; set STEWARD_GOOGLE_MODE/STEWARD_TIKTOK_MODE \
             to real (with credentials) or off",
        ));
    }
    if mode == ProviderMode::Real && !has_credentials {
        let names = if var == "STEWARD_GOOGLE_MODE" {
            "GOOGLE_OAUTH_CLIENT_ID and GOOGLE_OAUTH_CLIENT_SECRET"
        } else {
            "TIKTOK_CLIENT_KEY and TIKTOK_CLIENT_SECRET"
        };
        return Err(invalid(var, format!("real mode needs {names}")));
    }
    Ok(mode)
}

/// An endpoint override; in production it must be https and must not point
/// at the sandbox, loopback or a private address.
fn endpoint(
    get: &impl Fn(&str) -> Option<String>,
    var: &'static str,
    default: &str,
    production: bool,
) -> Result<String, ConfigError> {
    let Some(url) = get(var) else {
        return Ok(default.to_owned());
    };
    let url = url.trim_end_matches('/').to_owned();
    if !url.starts_with("https://") && !url.starts_with("http://") {
        return Err(invalid(var, format!("'{url}' is not an http(s) URL")));
    }
    if production {
        let host = host_of(&url);
        let bare = host.trim_start_matches('[').split(']').next().unwrap_or(&host);
        let bare = bare.rsplit_once(':').filter(|_| !host.starts_with('[')).map_or(bare, |(h, _)| h);
        let private = bare == "localhost"
            || bare.parse::<IpAddr>().is_ok_and(|ip| match ip {
                IpAddr::V4(v4) => v4.is_loopback() || v4.is_private() || v4.is_link_local() || v4.is_unspecified(),
                IpAddr::V6(v6) => v6.is_loopback() || v6.is_unspecified() || (v6.segments()[0] & 0xfe00) == 0xfc00,
            });
        if !url.starts_with("https://") || url.contains("/sandbox") || private {
            return Err(invalid(
                var,
                format!("'{url}' is refused in production: it must be https and not the sandbox or a private address"),
            ));
        }
    }
    Ok(url)
}

/// `http://host:port/path` → `host:port`.
fn host_of(url: &str) -> String {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    rest.split('/').next().unwrap_or(rest).to_owned()
}

/// The address to reach our own listener at (`0.0.0.0` → loopback).
fn local_address(listen: SocketAddr) -> SocketAddr {
    match listen.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => SocketAddr::from(([127, 0, 0, 1], listen.port())),
        IpAddr::V6(ip) if ip.is_unspecified() => SocketAddr::from(([0, 0, 0, 0, 0, 0, 0, 1], listen.port())),
        _ => listen,
    }
}

/// `5m×12,15m×20,60m`: intervals with repeat counts; the last repeats forever.
/// With a sandbox provider the default polls every few seconds: sandbox
/// exports finish in seconds, and a newcomer trying the flow should not wait
/// five minutes for the first poll.
fn parse_poll_schedule(value: Option<&str>, sandbox: bool) -> Result<Vec<(Duration, Option<u32>)>, ConfigError> {
    const VAR: &str = "STEWARD_DONATION_POLL_SCHEDULE";
    let value = value.unwrap_or(if sandbox { "2s×30,10s×30,60s" } else { "5m×12,15m×20,60m" });
    let bad = || invalid(VAR, format!("'{value}' is not a schedule like 5m×12,15m×20,60m"));
    let steps: Vec<&str> = value.split(',').map(str::trim).collect();
    let mut schedule = Vec::with_capacity(steps.len());
    for (i, step) in steps.iter().enumerate() {
        let last = i + 1 == steps.len();
        let (interval, times) = match step.split_once(['×', 'x']) {
            Some((interval, times)) if !last => (interval, Some(times.trim().parse::<u32>().map_err(|_| bad())?)),
            None if last => (*step, None),
            _ => return Err(bad()),
        };
        let interval = parse_duration(interval).filter(|d| !d.is_zero()).ok_or_else(bad)?;
        schedule.push((interval, times));
    }
    Ok(schedule)
}

/// A byte size: a number with an optional `KiB`, `MiB`, `GiB` or `TiB` suffix.
fn parse_bytes(get: &impl Fn(&str) -> Option<String>, var: &'static str, default: u64) -> Result<u64, ConfigError> {
    let Some(value) = get(var) else {
        return Ok(default);
    };
    let split = value.find(|c: char| !c.is_ascii_digit()).unwrap_or(value.len());
    let (number, unit) = value.split_at(split);
    let factor: u64 = match unit.trim() {
        "" | "B" => 1,
        "KiB" => 1 << 10,
        "MiB" => 1 << 20,
        "GiB" => 1 << 30,
        "TiB" => 1 << 40,
        _ => 0,
    };
    number
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(factor))
        .filter(|n| *n > 0)
        .ok_or_else(|| invalid(var, format!("'{value}' is not a size like 16GiB or 1048576")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn config(env: Environment, vars: &[(&str, &str)]) -> Result<DonationConfig, ConfigError> {
        let map: HashMap<String, String> = vars.iter().map(|(k, v)| ((*k).into(), (*v).into())).collect();
        let listen = SocketAddr::from(([0, 0, 0, 0], 8080));
        DonationConfig::from_lookup(&|k: &str| map.get(k).cloned(), env, "https://donate.example.org", listen)
    }

    #[test]
    fn development_defaults_to_working_sandboxes() {
        let c = config(Environment::Development, &[]).unwrap();
        assert_eq!((c.google.mode, c.tiktok.mode), (ProviderMode::Sandbox, ProviderMode::Sandbox));
        assert!(c.sandbox_active() && c.source_enabled(Source::Google) && c.source_enabled(Source::TikTok));
        // The browser goes to the public URL; Steward calls itself on its own address.
        assert_eq!(c.google.auth_url, "https://donate.example.org/sandbox/google/o/oauth2/v2/auth");
        assert_eq!(c.google.token_url, "http://127.0.0.1:8080/sandbox/google/token");
        assert_eq!(c.google.redirect_uri, "https://donate.example.org/oauth/google/callback/");
        assert_eq!(c.google.download_hosts, ["127.0.0.1:8080"]);
        assert_eq!(c.google.client_id, "sandbox-client");
        assert_eq!((c.query_max_limit, c.legacy_list_max, c.max_attempts), (10_000, 20_000, 10));
        assert_eq!(c.archive_limits, ArchiveLimits::default());
    }

    #[test]
    fn production_refuses_sandboxes_and_picks_real_only_with_credentials() {
        let err = config(Environment::Production, &[("STEWARD_GOOGLE_MODE", "sandbox")]).unwrap_err();
        assert!(err.message.contains("refused when STEWARD_ENV=production"), "{err}");
        let c = config(Environment::Production, &[]).unwrap();
        assert_eq!((c.google.mode, c.tiktok.mode), (ProviderMode::Off, ProviderMode::Off));
        assert!(!c.source_enabled(Source::Google) && !c.sandbox_active());
        let creds = [("GOOGLE_OAUTH_CLIENT_ID", "id"), ("GOOGLE_OAUTH_CLIENT_SECRET", "s")];
        // A source on serves the participant pages: the example legal texts are refused, by name.
        let err = config(Environment::Production, &creds).unwrap_err();
        assert_eq!(err.var, "STEWARD_TEMPLATE_DIR");
        assert!(err.message.contains("terms_of_service.html"), "{err}");
        let dir = std::env::temp_dir().join(format!("steward-legal-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        for legal in crate::donation::participant::templates::LEGAL {
            std::fs::write(dir.join(legal), "Our institution's own text").unwrap();
        }
        let mut creds = creds.to_vec();
        creds.push(("STEWARD_TEMPLATE_DIR", dir.to_str().unwrap()));
        let c = config(Environment::Production, &creds).unwrap();
        assert_eq!(c.google.mode, ProviderMode::Real);
        assert_eq!(c.google.token_url, "https://oauth2.googleapis.com/token");
        let err = config(Environment::Development, &[("STEWARD_GOOGLE_MODE", "real")]).unwrap_err();
        assert!(err.message.contains("GOOGLE_OAUTH_CLIENT_ID"), "{err}");
        // Overrides pointing at the sandbox or a private address are refused in production.
        for url in
            ["https://steward.example.org/sandbox/google/token", "https://10.0.0.5/token", "http://oauth.example"]
        {
            let mut vars = creds.to_vec();
            vars.push(("STEWARD_GOOGLE_TOKEN_URL", url));
            assert!(config(Environment::Production, &vars).is_err(), "{url}");
        }
    }

    #[test]
    fn upstream_variables_are_explained() {
        let err = config(Environment::Development, &[("TIKTOK_SANDBOX_MODE", "true")]).unwrap_err();
        assert_eq!(err.var, "TIKTOK_SANDBOX_MODE");
        assert!(config(Environment::Development, &[("ENCRYPTION_KEY", "x")]).unwrap().legacy_encryption_key_set);
    }

    #[test]
    fn poll_schedule_and_sizes_parse() {
        let c = config(Environment::Development, &[]).unwrap();
        assert!(c.sandbox_active());
        assert_eq!(c.poll_delay(0), Duration::from_secs(2));
        assert_eq!(c.poll_delay(30), Duration::from_secs(10));
        let no_sandbox = [("STEWARD_GOOGLE_MODE", "off"), ("STEWARD_TIKTOK_MODE", "off")];
        let c = config(Environment::Development, &no_sandbox).unwrap();
        assert_eq!(c.poll_delay(0), Duration::from_secs(300));
        assert_eq!(c.poll_delay(11), Duration::from_secs(300));
        assert_eq!(c.poll_delay(12), Duration::from_secs(900));
        assert_eq!(c.poll_delay(31), Duration::from_secs(900));
        assert_eq!(c.poll_delay(32), Duration::from_secs(3600));
        assert_eq!(c.poll_delay(1000), Duration::from_secs(3600));
        let c = config(Environment::Development, &[("STEWARD_DONATION_POLL_SCHEDULE", "1s x 2, 2s")]).unwrap();
        assert_eq!(c.poll_schedule, [(Duration::from_secs(1), Some(2)), (Duration::from_secs(2), None)]);
        assert!(config(Environment::Development, &[("STEWARD_DONATION_POLL_SCHEDULE", "5m×12")]).is_err());
        assert!(config(Environment::Development, &[("STEWARD_DONATION_POLL_SCHEDULE", "0s")]).is_err());
        let c = config(Environment::Development, &[("STEWARD_ARCHIVE_MAX_ENTRY_BYTES", "64MiB")]).unwrap();
        assert_eq!(c.archive_limits.max_entry_bytes, 64 << 20);
        assert!(config(Environment::Development, &[("STEWARD_ARCHIVE_MAX_PART_BYTES", "lots")]).is_err());
    }

    #[test]
    fn jobs_back_off_from_30_seconds_or_from_1_second_in_the_sandbox() {
        let no_sandbox = [("STEWARD_GOOGLE_MODE", "off"), ("STEWARD_TIKTOK_MODE", "off")];
        assert_eq!(config(Environment::Development, &no_sandbox).unwrap().retry_base, Duration::from_secs(30));
        assert_eq!(config(Environment::Development, &[]).unwrap().retry_base, Duration::from_secs(1));
        let tuned = config(Environment::Development, &[("STEWARD_DONATION_RETRY_BASE", "2m")]).unwrap();
        assert_eq!(tuned.retry_base, Duration::from_secs(120));
        for bad in ["0s", "soon"] {
            let err = config(Environment::Development, &[("STEWARD_DONATION_RETRY_BASE", bad)]).unwrap_err();
            assert_eq!(err.var, "STEWARD_DONATION_RETRY_BASE", "{bad}");
        }
    }

    #[test]
    fn the_processing_deadline_follows_the_export_deadline_and_must_exceed_it() {
        let day = Duration::from_secs(86_400);
        let c = config(Environment::Development, &[]).unwrap();
        assert_eq!((c.export_max_wait, c.max_processing), (7 * day, 8 * day));
        let c = config(Environment::Development, &[("STEWARD_EXPORT_MAX_WAIT", "10d")]).unwrap();
        assert_eq!(c.max_processing, 11 * day, "a day past a raised export deadline");
        let short = [("STEWARD_EXPORT_MAX_WAIT", "2s"), ("STEWARD_DONATION_MAX_PROCESSING", "3s")];
        assert_eq!(config(Environment::Development, &short).unwrap().max_processing, Duration::from_secs(3));
        let err = config(Environment::Development, &[("STEWARD_DONATION_MAX_PROCESSING", "7d")]).unwrap_err();
        assert_eq!(err.var, "STEWARD_DONATION_MAX_PROCESSING");
        assert!(err.message.contains("longer than STEWARD_EXPORT_MAX_WAIT"), "{err}");
        assert!(config(Environment::Development, &[("STEWARD_DONATION_MAX_PROCESSING", "soon")]).is_err());
    }
}
