//! The S3-compatible backend through the `object_store` crate, and the
//! settings that select it.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::SystemTime;

use futures_util::StreamExt as _;
use object_store::aws::AmazonS3Builder;
use object_store::path::Path;
use object_store::{GetOptions, GetRange, ObjectStore, ObjectStoreExt as _, WriteMultipart};

use super::reader::Source;
use super::{BlobError, validate_key};
use crate::config::{ConfigError, Environment, Secret, invalid};

/// Bytes per uploaded part (S3's smallest part but the last is 5 MiB).
const PART_SIZE: usize = 5 << 20;
/// Parts uploading at once; with the part being filled, what a write holds.
const PARTS_IN_FLIGHT: usize = 2;

/// Where blobs are stored (`STEWARD_OBJECT_STORE`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreConfig {
    /// Files under `<STEWARD_DATA_DIR>/blobs` (the variable unset).
    Local,
    /// An S3-compatible bucket.
    S3(S3Settings),
}

/// An S3-compatible bucket and how to reach it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S3Settings {
    /// The bucket's name.
    pub bucket: String,
    /// Key prefix inside the bucket (no leading or trailing `/`; may be empty).
    pub prefix: String,
    /// Service URL (`STEWARD_S3_ENDPOINT`); `None`: AWS S3 of the region.
    pub endpoint: Option<String>,
    /// Region (`STEWARD_S3_REGION`); `None`: `AWS_DEFAULT_REGION`, else `us-east-1`.
    pub region: Option<String>,
    /// Access key (`STEWARD_S3_ACCESS_KEY_ID` and `STEWARD_S3_SECRET_ACCESS_KEY`);
    /// `None`: the standard `AWS_*` variables, then container or instance credentials.
    pub credentials: Option<(String, Secret)>,
    /// Whether a plain `http://` endpoint is allowed (`STEWARD_S3_ALLOW_HTTP`).
    pub allow_http: bool,
}

const STORE_VAR: &str = "STEWARD_OBJECT_STORE";
const TUSD_VAR: &str = "STEWARD_TUSD_OBJECT_STORE_URL";

impl StoreConfig {
    /// Reads `STEWARD_OBJECT_STORE` and the `STEWARD_S3_*` settings.
    pub(crate) fn from_lookup(get: &impl Fn(&str) -> Option<String>, env: Environment) -> Result<Self, ConfigError> {
        let s3_vars = [
            "STEWARD_S3_ENDPOINT",
            "STEWARD_S3_REGION",
            "STEWARD_S3_ACCESS_KEY_ID",
            "STEWARD_S3_SECRET_ACCESS_KEY",
            "STEWARD_S3_ALLOW_HTTP",
        ];
        let Some(url) = get(STORE_VAR) else {
            // tusd's bucket (STEWARD_TUSD_OBJECT_STORE_URL) is reached with the same settings.
            if let Some(var) = s3_vars.into_iter().find(|v| get(v).is_some())
                && get(TUSD_VAR).is_none()
            {
                return Err(invalid(
                    var,
                    format!(
                        "is set but {STORE_VAR} is not: set {STORE_VAR}=s3://bucket/prefix to store blobs in S3, or unset {var}"
                    ),
                ));
            }
            return Ok(StoreConfig::Local);
        };
        let usage = "use s3://bucket or s3://bucket/prefix (unset: files under STEWARD_DATA_DIR/blobs)";
        Ok(StoreConfig::S3(S3Settings::from_url(STORE_VAR, &url, usage, get, env)?))
    }
}

impl S3Settings {
    /// The bucket and prefix of `url` (`s3://bucket` or `s3://bucket/prefix`,
    /// read from `var`; `usage` says what to write instead), reached with the
    /// `STEWARD_S3_*` settings.
    pub(crate) fn from_url(
        var: &'static str,
        url: &str,
        usage: &str,
        get: &impl Fn(&str) -> Option<String>,
        env: Environment,
    ) -> Result<S3Settings, ConfigError> {
        let rest = url.strip_prefix("s3://").ok_or_else(|| invalid(var, format!("'{url}': {usage}")))?;
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        let prefix = prefix.trim_matches('/');
        let bucket_ok = (3..=63).contains(&bucket.len())
            && bucket.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'-');
        if !bucket_ok {
            return Err(invalid(var, format!("'{bucket}' is not a bucket name (3-63 of a-z, 0-9, '.', '-'); {usage}")));
        }
        if !prefix.is_empty() && validate_key(prefix).is_err() {
            return Err(invalid(
                var,
                format!("prefix '{prefix}' must be /-separated parts of A-Z a-z 0-9 . _ - (none starting with '.')"),
            ));
        }

        let allow_http = match get("STEWARD_S3_ALLOW_HTTP").as_deref() {
            None | Some("false") => false,
            Some("true") => true,
            Some(other) => {
                return Err(invalid("STEWARD_S3_ALLOW_HTTP", format!("'{other}' is neither 'true' nor 'false'")));
            }
        };
        let endpoint = get("STEWARD_S3_ENDPOINT").map(|e| e.trim_end_matches('/').to_owned());
        if let Some(endpoint) = &endpoint {
            let Some((scheme, host)) = endpoint.split_once("://").filter(|(s, _)| *s == "http" || *s == "https") else {
                return Err(invalid(
                    "STEWARD_S3_ENDPOINT",
                    format!("'{endpoint}' is not a URL like https://s3.example.org or http://127.0.0.1:9000"),
                ));
            };
            if scheme == "http" && !allow_http {
                return Err(invalid(
                    "STEWARD_S3_ENDPOINT",
                    "is plain http: set STEWARD_S3_ALLOW_HTTP=true to allow it (development, or a server on loopback)",
                ));
            }
            if scheme == "http" && env == Environment::Production && !is_loopback(host) {
                return Err(invalid(
                    "STEWARD_S3_ENDPOINT",
                    "production sends blobs over plain http only to loopback (127.0.0.1, [::1], localhost); use https",
                ));
            }
        }
        let credentials = match (get("STEWARD_S3_ACCESS_KEY_ID"), get("STEWARD_S3_SECRET_ACCESS_KEY")) {
            (Some(id), Some(secret)) => Some((id, Secret::new(secret))),
            (None, None) => None,
            (Some(_), None) => {
                return Err(invalid("STEWARD_S3_SECRET_ACCESS_KEY", "is needed with STEWARD_S3_ACCESS_KEY_ID"));
            }
            (None, Some(_)) => {
                return Err(invalid("STEWARD_S3_ACCESS_KEY_ID", "is needed with STEWARD_S3_SECRET_ACCESS_KEY"));
            }
        };
        Ok(S3Settings {
            bucket: bucket.to_owned(),
            prefix: prefix.to_owned(),
            endpoint,
            region: get("STEWARD_S3_REGION"),
            credentials,
            allow_http,
        })
    }

    /// A client for the bucket and its key prefix; nothing is contacted yet.
    pub fn client(&self) -> Result<(Arc<dyn ObjectStore>, Path), BlobError> {
        build(self)
    }
}

/// Whether the host part of an endpoint (`host[:port][/path]`) is loopback.
fn is_loopback(host_port: &str) -> bool {
    let authority = host_port.split('/').next().unwrap_or_default();
    let host = match authority.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or_default(),
        None => authority.rsplit_once(':').map_or(authority, |(h, _)| h),
    };
    host == "localhost" || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// The client and the key prefix for `settings`; nothing is contacted yet.
pub(super) fn build(settings: &S3Settings) -> Result<(Arc<dyn ObjectStore>, Path), BlobError> {
    let mut builder =
        AmazonS3Builder::from_env().with_bucket_name(&settings.bucket).with_allow_http(settings.allow_http);
    if let Some(endpoint) = &settings.endpoint {
        builder = builder.with_endpoint(endpoint);
    }
    if let Some(region) = &settings.region {
        builder = builder.with_region(region);
    }
    if let Some((id, secret)) = &settings.credentials {
        builder = builder.with_access_key_id(id).with_secret_access_key(secret.expose());
    }
    let store = builder.build().map_err(io)?;
    Ok((Arc::new(store), Path::from(settings.prefix.as_str())))
}

/// The object path of a validated key.
pub(super) fn path(prefix: &Path, key: &str) -> Path {
    key.split('/').fold(prefix.clone(), |path, part| path.join(part))
}

fn io(err: object_store::Error) -> BlobError {
    BlobError::Io(std::io::Error::from(err))
}

/// A blob being written as a multipart upload; aborted unless finished
/// (also when dropped: the abort then runs as a task of its own).
pub(super) struct Write {
    upload: Option<WriteMultipart>,
}

impl Write {
    pub(super) async fn start(store: &Arc<dyn ObjectStore>, path: Path) -> Result<Write, BlobError> {
        let upload = store.put_multipart(&path).await.map_err(io)?;
        Ok(Write { upload: Some(WriteMultipart::new_with_chunk_size(upload, PART_SIZE)) })
    }

    /// Queues `bytes`, first waiting until fewer than [`PARTS_IN_FLIGHT`] parts upload.
    pub(super) async fn write(&mut self, bytes: Vec<u8>) -> Result<(), BlobError> {
        let upload = self.upload.as_mut().expect("present until finished");
        upload.wait_for_capacity(PARTS_IN_FLIGHT).await.map_err(io)?;
        upload.put(bytes.into());
        Ok(())
    }

    /// Uploads the rest and completes the upload: only now is the blob visible.
    pub(super) async fn finish(mut self) -> Result<(), BlobError> {
        let upload = self.upload.take().expect("present until finished");
        // `finish` aborts the upload itself when completing fails.
        upload.finish().await.map_err(io)?;
        Ok(())
    }

    /// Aborts the upload, discarding the parts sent.
    pub(super) async fn abort(mut self) {
        if let Some(upload) = self.upload.take()
            && let Err(err) = upload.abort().await
        {
            tracing::warn!(error = %err, "aborting a blob upload failed; the bucket's lifecycle rule removes it");
        }
    }
}

impl Drop for Write {
    fn drop(&mut self) {
        if let Some(upload) = self.upload.take()
            && let Ok(runtime) = tokio::runtime::Handle::try_current()
        {
            runtime.spawn(async move {
                if let Err(err) = upload.abort().await {
                    tracing::warn!(error = %err, "aborting a dropped blob upload failed");
                }
            });
        }
    }
}

/// An opened object: its length and ETag from the first request, then ranged
/// reads that fail if the object changed since.
pub(super) struct Ranges {
    store: Arc<dyn ObjectStore>,
    path: Path,
    key: String,
    len: u64,
    e_tag: Option<String>,
    runtime: tokio::runtime::Handle,
}

/// Opens blob `key` at `path` for the reader (blocking, inside a runtime's context).
pub(super) fn open(store: &Arc<dyn ObjectStore>, path: Path, key: &str) -> Result<Source, BlobError> {
    let runtime = tokio::runtime::Handle::try_current().map_err(|_| {
        BlobError::Io(std::io::Error::other("reading a blob from S3 needs a Tokio runtime (call it in spawn_blocking)"))
    })?;
    let head = {
        let (store, path) = (store.clone(), path.clone());
        runtime.block_on(async move { store.head(&path).await })
    };
    let meta = head.map_err(|e| match e {
        object_store::Error::NotFound { .. } => BlobError::NotFound(key.to_owned()),
        other => io(other),
    })?;
    Ok(Source::Object(Ranges {
        store: store.clone(),
        path,
        key: key.to_owned(),
        len: meta.size,
        e_tag: meta.e_tag,
        runtime,
    }))
}

impl Ranges {
    pub(super) fn len(&self) -> u64 {
        self.len
    }

    /// One ranged GET filling `buf` from `offset`.
    pub(super) fn read_exact_at(&mut self, offset: u64, buf: &mut [u8]) -> std::io::Result<()> {
        if buf.is_empty() {
            return Ok(());
        }
        if offset + buf.len() as u64 > self.len {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        let options = GetOptions {
            if_match: self.e_tag.clone(),
            range: Some(GetRange::Bounded(offset..offset + buf.len() as u64)),
            ..GetOptions::default()
        };
        let (store, path) = (self.store.clone(), self.path.clone());
        let got = self.runtime.block_on(async move { store.get_opts(&path, options).await?.bytes().await });
        let bytes = got.map_err(|e| match e {
            object_store::Error::NotFound { .. } => std::io::Error::other(BlobError::NotFound(self.key.clone())),
            object_store::Error::Precondition { .. } => {
                std::io::Error::other(format!("blob {} was replaced while being read", self.key))
            }
            other => std::io::Error::from(other),
        })?;
        if bytes.len() != buf.len() {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        buf.copy_from_slice(&bytes);
        Ok(())
    }
}

/// Deletes the object at `path`; `false` when there was none.
pub(super) async fn delete(store: &Arc<dyn ObjectStore>, path: &Path) -> Result<bool, BlobError> {
    match store.head(path).await {
        Ok(_) => {}
        Err(object_store::Error::NotFound { .. }) => return Ok(false),
        Err(e) => return Err(io(e)),
    }
    match store.delete(path).await {
        Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(true),
        Err(e) => Err(io(e)),
    }
}

/// Keys under `prefix` (validated, no trailing `/`), or `prefix` itself, last
/// modified before `cutoff`. Objects whose names are no valid key are left out.
pub(super) async fn list_older_than(
    store: &Arc<dyn ObjectStore>,
    root: &Path,
    prefix: &str,
    cutoff: SystemTime,
) -> Result<Vec<String>, BlobError> {
    let cutoff = chrono::DateTime::<chrono::Utc>::from(cutoff);
    let base = path(root, prefix);
    let key_of = |location: &Path| {
        let parts: Vec<_> = location.prefix_match(root)?.map(|p| p.as_ref().to_owned()).collect();
        let key = parts.join("/");
        validate_key(&key).is_ok().then_some(key)
    };
    let mut keys = Vec::new();
    let mut listing = store.list(Some(&base));
    while let Some(meta) = listing.next().await {
        let meta = meta.map_err(io)?;
        if meta.last_modified < cutoff
            && let Some(key) = key_of(&meta.location)
        {
            keys.push(key);
        }
    }
    if keys.is_empty() {
        // The prefix may itself name a blob.
        match store.head(&base).await {
            Ok(meta) if meta.last_modified < cutoff => keys.push(prefix.to_owned()),
            Ok(_) | Err(object_store::Error::NotFound { .. }) => {}
            Err(e) => return Err(io(e)),
        }
    }
    Ok(keys)
}
