//! UploadService settings (spec upload.md §2.13).
//!
//! | variable | default | meaning |
//! |---|---|---|
//! | `STEWARD_UPLOAD_STAGING_DIR` | `<data dir>/staging` | sealed chunks of unfinished uploads (shared by all replicas) |
//! | `STEWARD_UPLOAD_MAX_FILE_BYTES` | 10 GiB | the largest file any drop-off accepts |
//! | `STEWARD_UPLOAD_MAX_DROPOFF_BYTES` | 100 GiB | the most one drop-off holds |
//! | `STEWARD_UPLOAD_MAX_EXPIRY_DAYS` | 365 | how far ahead a drop-off's expiry may lie |
//! | `STEWARD_UPLOAD_INCOMPLETE_TTL` | 24h | an unfinished upload expires this long after its last write |
//! | `STEWARD_UPLOAD_NOTIFY_DELAY` | 2m | files completed within it share one e-mail |
//! | `STEWARD_SMTP_URL` | none | `smtp://host:587?tls=required` or `smtps://user:pass@host:465` (secret) |
//! | `STEWARD_MAIL_FROM` | `Steward <steward@{public host}>` | the notifications' sender |
//!
//! Without `STEWARD_SMTP_URL`, development writes messages to
//! `<data dir>/mail/`; production refuses recipients.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::config::{ConfigError, Secret, invalid, parse_duration_var};

const GIB: u64 = 1 << 30;

/// UploadService settings.
#[derive(Debug, Clone)]
pub struct UploadConfig {
    /// Staging directory for unfinished uploads.
    pub staging_dir: PathBuf,
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
    /// SMTP server URL; `None`: file transport in development, no e-mail in production.
    pub smtp_url: Option<Secret>,
    /// `From` of the notifications.
    pub mail_from: String,
}

impl UploadConfig {
    /// Reads `STEWARD_UPLOAD_*`, `STEWARD_SMTP_URL` and `STEWARD_MAIL_FROM`.
    pub fn from_lookup(
        get: &impl Fn(&str) -> Option<String>,
        data_dir: &Path,
        public_url: &str,
    ) -> Result<Self, ConfigError> {
        let staging_dir = get("STEWARD_UPLOAD_STAGING_DIR").map_or_else(|| data_dir.join("staging"), PathBuf::from);
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
        let smtp_url = get("STEWARD_SMTP_URL").map(Secret::new);
        let mail_from =
            get("STEWARD_MAIL_FROM").unwrap_or_else(|| format!("Steward <steward@{}>", host_of(public_url)));
        Ok(Self {
            staging_dir,
            max_file_bytes,
            max_dropoff_bytes,
            max_expiry_days,
            incomplete_ttl,
            notify_delay,
            smtp_url,
            mail_from,
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
    fn the_smtp_url_is_never_printed() {
        let c = read(&[("STEWARD_SMTP_URL", "smtps://user:hunter2@mail.example.org:465")]).unwrap();
        assert!(!format!("{c:?}").contains("hunter2"));
    }
}
