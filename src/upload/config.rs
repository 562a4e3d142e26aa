//! UploadService settings (spec upload.md §2.13).
//!
//! | variable | default | meaning |
//! |---|---|---|
//! | `STEWARD_UPLOAD_STAGING_DIR` | `<data dir>/staging` | sealed chunks of unfinished uploads (shared by all replicas) |
//! | `STEWARD_UPLOAD_STAGING_RESERVE` | 1 GiB (bytes) | staging free space kept beyond an upload's size: creation (and a tus PATCH) is refused with `INSUFFICIENT_STORAGE` / 507 when size + reserve would not fit |
//! | `STEWARD_UPLOAD_MAX_FILE_BYTES` | 10 GiB | the largest file any drop-off accepts |
//! | `STEWARD_UPLOAD_MAX_DROPOFF_BYTES` | 100 GiB | the most one drop-off holds |
//! | `STEWARD_UPLOAD_MAX_EXPIRY_DAYS` | 365 | how far ahead a drop-off's expiry may lie |
//! | `STEWARD_UPLOAD_INCOMPLETE_TTL` | 24h | an unfinished upload expires this long after its last write |
//! | `STEWARD_UPLOAD_NOTIFY_DELAY` | 2m | files completed within it share one e-mail |
//! | `STEWARD_UPLOAD_NOTIFY_RETRY_BASE` | 3m | wait after a notification's first temporary SMTP failure; it doubles per attempt (at most 8 h), so the 10 attempts span about a day |
//! | `STEWARD_SMTP_URL` | none | `smtp://host:587?tls=required` or `smtps://user:pass@host:465` (secret) |
//! | `STEWARD_MAIL_FROM` | `Steward <steward@{public host}>` | the notifications' sender |
//! | `STEWARD_TUSD_HOOKS` | `off` | `on` serves tusd's hooks: `/datadrops/webhook/` and gRPC `proto.HookHandler` (§4) |
//! | `STEWARD_TUSD_HOOK_ACCOUNT` | `tusd` | the service account whose token the HTTP hooks carry |
//! | `STEWARD_TUSD_HOOK_PEERS` | none | CIDRs (comma-separated) allowed to call `proto.HookHandler` directly |
//! | `STEWARD_TUSD_DROPOFF_KEY` | `dropoff` | the upload-metadata key holding the drop-off id |
//! | `STEWARD_TUSD_FILESTORE_DIR` | none | tusd's `-upload-dir` as mounted here: finished uploads are imported from it |
//! | `STEWARD_TUSD_OBJECT_STORE_URL` | none | tusd's s3store bucket (`s3://bucket`, or `s3://bucket/prefix` to take only keys under the prefix): finished uploads are imported from it, reached with the `STEWARD_S3_*` settings |
//! | `STEWARD_TUSD_DELETE_AFTER_IMPORT` | `false` | delete tusd's copy (and `.info`) once imported |
//!
//! Without `STEWARD_SMTP_URL`, development writes messages to
//! `<data dir>/mail/`; production refuses recipients.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::config::{ConfigError, Secret, invalid, parse_duration_var};

const GIB: u64 = 1 << 30;

/// UploadService settings.
#[derive(Debug, Clone)]
pub struct UploadConfig {
    /// Staging directory for unfinished uploads.
    pub staging_dir: PathBuf,
    /// Free staging space kept beyond an upload's size (spec §2.7 "Disk space").
    pub staging_reserve: u64,
    /// Upper bound (and default) of a drop-off's `max_file_bytes`.
    pub max_file_bytes: u64,
    /// Upper bound (and default) of a drop-off's `max_total_bytes`.
    pub max_dropoff_bytes: u64,
    /// How far ahead a drop-off's expiry may lie, in days.
    pub max_expiry_days: u32,
    /// Sliding expiry of an unfinished upload.
    pub incomplete_ttl: Duration,
    /// Delay before a notification is sent, gathering files completed meanwhile.
    pub notify_delay: Duration,
    /// The first retry delay of a notification after a temporary failure (§2.10).
    pub notify_retry_base: Duration,
    /// SMTP server URL; `None`: file transport in development, no e-mail in production.
    pub smtp_url: Option<Secret>,
    /// `From` of the notifications.
    pub mail_from: String,
    /// tusd hook compatibility (§4).
    pub tusd: TusdConfig,
}

/// tusd hook settings (spec upload.md §4).
#[derive(Debug, Clone, Default)]
pub struct TusdConfig {
    /// `STEWARD_TUSD_HOOKS=on`.
    pub enabled: bool,
    /// The service account whose token authenticates HTTP hooks.
    pub account: String,
    /// Peers allowed to call the gRPC hook service.
    pub peers: Vec<Cidr>,
    /// The metadata key naming the drop-off.
    pub dropoff_key: String,
    /// tusd's filestore directory, for imports.
    pub filestore_dir: Option<PathBuf>,
    /// tusd's s3store bucket (`STEWARD_TUSD_OBJECT_STORE_URL`), for imports.
    pub object_store: Option<crate::blobs::S3Settings>,
    /// Delete tusd's copy after an import.
    pub delete_after_import: bool,
}

/// An address block `ip/prefix` (a bare address is a /32 or /128).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    pub addr: IpAddr,
    pub prefix: u8,
}

impl Cidr {
    /// Parses `10.0.0.0/8`, `::1/128` or a bare address.
    pub fn parse(text: &str) -> Option<Cidr> {
        let (addr, prefix) = match text.split_once('/') {
            Some((addr, prefix)) => (addr.parse::<IpAddr>().ok()?, Some(prefix.parse::<u8>().ok()?)),
            None => (text.parse::<IpAddr>().ok()?, None),
        };
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = prefix.unwrap_or(max);
        (prefix <= max).then_some(Cidr { addr, prefix })
    }

    /// Whether `ip` lies in the block (IPv4-mapped IPv6 peers count as IPv4).
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 => v4,
        };
        match (self.addr, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX.checked_shl(32 - u32::from(self.prefix)).unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX.checked_shl(128 - u32::from(self.prefix)).unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

impl TusdConfig {
    /// Reads `STEWARD_TUSD_*`.
    pub fn from_lookup(get: &impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let enabled = flag(get, "STEWARD_TUSD_HOOKS", &["on", "true", "1"], &["off", "false", "0"])?;
        let account = get("STEWARD_TUSD_HOOK_ACCOUNT").unwrap_or_else(|| "tusd".to_owned());
        if account.trim().is_empty() {
            return Err(invalid("STEWARD_TUSD_HOOK_ACCOUNT", "must name a service account"));
        }
        let peers = get("STEWARD_TUSD_HOOK_PEERS")
            .unwrap_or_default()
            .split(',')
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .map(|p| {
                Cidr::parse(p).ok_or_else(|| {
                    invalid("STEWARD_TUSD_HOOK_PEERS", format!("'{p}' is not an address or CIDR like 10.0.0.0/8"))
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let dropoff_key = get("STEWARD_TUSD_DROPOFF_KEY").unwrap_or_else(|| "dropoff".to_owned());
        if dropoff_key.is_empty() || dropoff_key.contains([' ', ',']) {
            return Err(invalid("STEWARD_TUSD_DROPOFF_KEY", "must be a metadata key without spaces or commas"));
        }
        let filestore_dir = get("STEWARD_TUSD_FILESTORE_DIR").filter(|d| !d.is_empty()).map(PathBuf::from);
        if let Some(dir) = &filestore_dir
            && !dir.is_absolute()
        {
            return Err(invalid("STEWARD_TUSD_FILESTORE_DIR", format!("'{}' must be an absolute path", dir.display())));
        }
        // STEWARD_ENV was checked by the caller; production allows plain http only to loopback.
        let env = match get("STEWARD_ENV").as_deref() {
            Some("production") => crate::config::Environment::Production,
            _ => crate::config::Environment::Development,
        };
        let object_store = get("STEWARD_TUSD_OBJECT_STORE_URL")
            .filter(|u| !u.is_empty())
            .map(|url| {
                let usage = "use s3://bucket, tusd's -s3-bucket (or s3://bucket/prefix to import only keys under it)";
                crate::blobs::S3Settings::from_url("STEWARD_TUSD_OBJECT_STORE_URL", &url, usage, get, env)
            })
            .transpose()?;
        let delete_after_import =
            flag(get, "STEWARD_TUSD_DELETE_AFTER_IMPORT", &["true", "on", "1"], &["false", "off", "0"])?;
        Ok(Self { enabled, account, peers, dropoff_key, filestore_dir, object_store, delete_after_import })
    }

    /// Whether `ip` may call the gRPC hook service.
    pub fn peer_allowed(&self, ip: IpAddr) -> bool {
        self.peers.iter().any(|c| c.contains(ip))
    }

    /// Whether finished uploads are imported from tusd's storage (§4.7).
    pub fn imports(&self) -> bool {
        self.filestore_dir.is_some() || self.object_store.is_some()
    }
}

/// An on/off setting (default off).
fn flag(
    get: &impl Fn(&str) -> Option<String>,
    var: &'static str,
    yes: &[&str],
    no: &[&str],
) -> Result<bool, ConfigError> {
    let Some(value) = get(var) else {
        return Ok(false);
    };
    let lower = value.trim().to_ascii_lowercase();
    if yes.contains(&lower.as_str()) {
        Ok(true)
    } else if no.contains(&lower.as_str()) || lower.is_empty() {
        Ok(false)
    } else {
        Err(invalid(var, format!("'{value}' is neither {} nor {}", yes[0], no[0])))
    }
}

impl UploadConfig {
    /// Reads `STEWARD_UPLOAD_*`, `STEWARD_SMTP_URL` and `STEWARD_MAIL_FROM`.
    pub fn from_lookup(
        get: &impl Fn(&str) -> Option<String>,
        data_dir: &Path,
        public_url: &str,
    ) -> Result<Self, ConfigError> {
        let staging_dir = get("STEWARD_UPLOAD_STAGING_DIR").map_or_else(|| data_dir.join("staging"), PathBuf::from);
        let staging_reserve = bytes(get, "STEWARD_UPLOAD_STAGING_RESERVE", GIB)?;
        let max_file_bytes = bytes(get, "STEWARD_UPLOAD_MAX_FILE_BYTES", 10 * GIB)?;
        let max_dropoff_bytes = bytes(get, "STEWARD_UPLOAD_MAX_DROPOFF_BYTES", 100 * GIB)?;
        if max_dropoff_bytes < max_file_bytes {
            return Err(invalid(
                "STEWARD_UPLOAD_MAX_DROPOFF_BYTES",
                format!("{max_dropoff_bytes} is below STEWARD_UPLOAD_MAX_FILE_BYTES ({max_file_bytes})"),
            ));
        }
        let max_expiry_days = crate::config::parse_count(get, "STEWARD_UPLOAD_MAX_EXPIRY_DAYS", 365, 1..=3650)? as u32;
        let incomplete_ttl = parse_duration_var(get, "STEWARD_UPLOAD_INCOMPLETE_TTL", Duration::from_secs(86_400))?;
        if incomplete_ttl < Duration::from_secs(1) {
            return Err(invalid("STEWARD_UPLOAD_INCOMPLETE_TTL", "must be at least 1s"));
        }
        let notify_delay = parse_duration_var(get, "STEWARD_UPLOAD_NOTIFY_DELAY", Duration::from_secs(120))?;
        let notify_retry_base = parse_duration_var(get, "STEWARD_UPLOAD_NOTIFY_RETRY_BASE", Duration::from_secs(180))?;
        if notify_retry_base.is_zero() {
            return Err(invalid("STEWARD_UPLOAD_NOTIFY_RETRY_BASE", "must be more than 0, e.g. 3m"));
        }
        let smtp_url = get("STEWARD_SMTP_URL").map(Secret::new);
        let mail_from =
            get("STEWARD_MAIL_FROM").unwrap_or_else(|| format!("Steward <steward@{}>", host_of(public_url)));
        let tusd = TusdConfig::from_lookup(get)?;
        Ok(Self {
            staging_dir,
            staging_reserve,
            max_file_bytes,
            max_dropoff_bytes,
            max_expiry_days,
            incomplete_ttl,
            notify_delay,
            notify_retry_base,
            smtp_url,
            mail_from,
            tusd,
        })
    }
}

/// A byte count from 1 to 2^62.
fn bytes(get: &impl Fn(&str) -> Option<String>, var: &'static str, default: u64) -> Result<u64, ConfigError> {
    let Some(value) = get(var) else {
        return Ok(default);
    };
    value
        .parse::<u64>()
        .ok()
        .filter(|n| (1..=(1 << 62)).contains(n))
        .ok_or_else(|| invalid(var, format!("'{value}' is not a whole number of bytes from 1 to 2^62")))
}

/// The host of a URL like `https://host:port/path` (for the default sender).
fn host_of(url: &str) -> &str {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    let authority = rest.split('/').next().unwrap_or(rest);
    authority.rsplit_once(':').map_or(authority, |(host, _)| host)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn read(vars: &[(&str, &str)]) -> Result<UploadConfig, ConfigError> {
        let map: HashMap<String, String> = vars.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
        UploadConfig::from_lookup(&|name| map.get(name).cloned(), Path::new("/srv/steward"), "https://data.example.org")
    }

    #[test]
    fn defaults_follow_the_spec() {
        let c = read(&[]).unwrap();
        assert_eq!(c.staging_dir, Path::new("/srv/steward/staging"));
        assert_eq!(c.max_file_bytes, 10 * GIB);
        assert_eq!(c.max_dropoff_bytes, 100 * GIB);
        assert_eq!(c.max_expiry_days, 365);
        assert_eq!(c.incomplete_ttl, Duration::from_secs(86_400));
        assert_eq!(c.notify_delay, Duration::from_secs(120));
        assert_eq!(c.notify_retry_base, Duration::from_secs(180));
        assert_eq!(c.staging_reserve, GIB);
        assert!(c.smtp_url.is_none());
        assert_eq!(c.mail_from, "Steward <steward@data.example.org>");
    }

    #[test]
    fn limits_are_checked() {
        let err = read(&[("STEWARD_UPLOAD_MAX_FILE_BYTES", "0")]).unwrap_err();
        assert!(err.to_string().contains("STEWARD_UPLOAD_MAX_FILE_BYTES"), "{err}");
        let err =
            read(&[("STEWARD_UPLOAD_MAX_FILE_BYTES", "100"), ("STEWARD_UPLOAD_MAX_DROPOFF_BYTES", "99")]).unwrap_err();
        assert!(err.to_string().contains("below"), "{err}");
        let c = read(&[("STEWARD_UPLOAD_NOTIFY_DELAY", "0"), ("STEWARD_UPLOAD_STAGING_DIR", "/fast/staging")]).unwrap();
        assert_eq!(c.notify_delay, Duration::ZERO);
        assert_eq!(c.staging_dir, Path::new("/fast/staging"));
    }

    #[test]
    fn the_staging_reserve_and_the_retry_base_can_be_tuned() {
        let c = read(&[("STEWARD_UPLOAD_STAGING_RESERVE", "5368709120"), ("STEWARD_UPLOAD_NOTIFY_RETRY_BASE", "1m")])
            .unwrap();
        assert_eq!(c.staging_reserve, 5 * GIB);
        assert_eq!(c.notify_retry_base, Duration::from_secs(60));
        for (var, value) in [
            ("STEWARD_UPLOAD_STAGING_RESERVE", "0"),
            ("STEWARD_UPLOAD_STAGING_RESERVE", "1GiB"),
            ("STEWARD_UPLOAD_NOTIFY_RETRY_BASE", "0"),
            ("STEWARD_UPLOAD_NOTIFY_RETRY_BASE", "soon"),
        ] {
            let err = read(&[(var, value)]).unwrap_err();
            assert!(err.to_string().contains(var), "{var}={value}: {err}");
        }
    }

    #[test]
    fn the_smtp_url_is_never_printed() {
        let c = read(&[("STEWARD_SMTP_URL", "smtps://user:hunter2@mail.example.org:465")]).unwrap();
        assert!(!format!("{c:?}").contains("hunter2"));
    }

    #[test]
    fn tusd_hooks_are_off_by_default() {
        let t = read(&[]).unwrap().tusd;
        assert!(!t.enabled);
        assert_eq!(t.account, "tusd");
        assert_eq!(t.dropoff_key, "dropoff");
        assert!(t.peers.is_empty() && t.filestore_dir.is_none() && t.object_store.is_none());
        assert!(!t.imports());
        assert!(!t.delete_after_import);
        assert!(!t.peer_allowed("127.0.0.1".parse().unwrap()));
    }

    #[test]
    fn tusd_settings_are_read_and_checked() {
        let t = read(&[
            ("STEWARD_TUSD_HOOKS", "on"),
            ("STEWARD_TUSD_HOOK_ACCOUNT", "vre-tusd"),
            ("STEWARD_TUSD_HOOK_PEERS", "10.1.0.0/16, ::1, 192.0.2.7"),
            ("STEWARD_TUSD_DROPOFF_KEY", "datadrop"),
            ("STEWARD_TUSD_FILESTORE_DIR", "/srv/tusd/data"),
            ("STEWARD_TUSD_DELETE_AFTER_IMPORT", "true"),
        ])
        .unwrap()
        .tusd;
        assert!(t.enabled && t.delete_after_import);
        assert_eq!((t.account.as_str(), t.dropoff_key.as_str()), ("vre-tusd", "datadrop"));
        assert_eq!(t.filestore_dir.as_deref(), Some(Path::new("/srv/tusd/data")));
        for (ip, allowed) in [
            ("10.1.200.3", true),
            ("10.2.0.1", false),
            ("::1", true),
            ("192.0.2.7", true),
            ("192.0.2.8", false),
            ("::ffff:10.1.0.9", true),
        ] {
            assert_eq!(t.peer_allowed(ip.parse().unwrap()), allowed, "{ip}");
        }
        for (var, value) in [
            ("STEWARD_TUSD_HOOKS", "yes please"),
            ("STEWARD_TUSD_HOOK_PEERS", "10.0.0.0/33"),
            ("STEWARD_TUSD_HOOK_PEERS", "tusd.internal"),
            ("STEWARD_TUSD_FILESTORE_DIR", "relative/dir"),
            ("STEWARD_TUSD_OBJECT_STORE_URL", "https://tusd-uploads"),
            ("STEWARD_TUSD_OBJECT_STORE_URL", "s3://Tusd_Uploads"),
            ("STEWARD_TUSD_DROPOFF_KEY", "drop off"),
            ("STEWARD_TUSD_DELETE_AFTER_IMPORT", "maybe"),
        ] {
            let err = read(&[(var, value)]).unwrap_err();
            assert!(err.to_string().contains(var), "{var}={value}: {err}");
        }
        let t = read(&[
            ("STEWARD_TUSD_OBJECT_STORE_URL", "s3://tusd-uploads"),
            ("STEWARD_S3_ENDPOINT", "http://127.0.0.1:9000"),
            ("STEWARD_S3_ALLOW_HTTP", "true"),
        ])
        .unwrap()
        .tusd;
        let bucket = t.object_store.as_ref().unwrap();
        assert_eq!((bucket.bucket.as_str(), bucket.prefix.as_str()), ("tusd-uploads", ""));
        assert_eq!(bucket.endpoint.as_deref(), Some("http://127.0.0.1:9000"));
        assert!(t.imports() && t.filestore_dir.is_none());
        let err = read(&[
            ("STEWARD_ENV", "production"),
            ("STEWARD_TUSD_OBJECT_STORE_URL", "s3://tusd-uploads"),
            ("STEWARD_S3_ENDPOINT", "http://minio.internal:9000"),
            ("STEWARD_S3_ALLOW_HTTP", "true"),
        ])
        .unwrap_err();
        assert!(err.to_string().contains("STEWARD_S3_ENDPOINT"), "{err}");
        assert!(Cidr::parse("0.0.0.0/0").unwrap().contains("203.0.113.9".parse().unwrap()));
    }
}
