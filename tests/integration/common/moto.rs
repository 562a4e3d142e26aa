//! A real S3 server for tests: moto's server mode (from PyPI, installed into
//! the test venv when missing) on a loopback port, with clients of its own
//! to look at and alter what Steward stored.

use std::process::Stdio;
use std::sync::atomic::{AtomicU16, Ordering};
use std::time::{Duration, Instant};

use futures_util::StreamExt as _;
use object_store::{ObjectStore as _, ObjectStoreExt as _};

use super::scratch_dir;

/// The moto release installed for this test (tests/run-all installs the same).
const MOTO_VERSION: &str = "5.2.5";
/// The bucket Steward's blobs go to with [`s3_vars`] (created by [`moto`]).
pub(crate) const BUCKET: &str = "steward-blobs";
/// The access key moto is signed with (any key works with moto).
const ACCESS_KEY: (&str, &str) = ("steward-test", "steward-test-secret");
const REGION: &str = "eu-central-1";

/// A moto S3 server on 127.0.0.1, killed when dropped.
pub(crate) struct Moto {
    pub(crate) endpoint: String,
    logs: std::path::PathBuf,
    _process: tokio::process::Child,
}

impl Moto {
    /// A client of its own for the bucket, signed with the same access key:
    /// the tests look at and alter what Steward stored through it, as anyone
    /// holding the bucket's credentials could.
    pub(crate) fn raw(&self) -> Raw {
        Raw(self.bucket(BUCKET))
    }

    /// A client of its own for `bucket`, signed like Steward's.
    pub(crate) fn bucket(&self, bucket: &str) -> object_store::aws::AmazonS3 {
        object_store::aws::AmazonS3Builder::new()
            .with_bucket_name(bucket)
            .with_endpoint(&self.endpoint)
            .with_region(REGION)
            .with_access_key_id(ACCESS_KEY.0)
            .with_secret_access_key(ACCESS_KEY.1)
            .with_allow_http(true)
            .build()
            .unwrap()
    }

    /// Creates another bucket (as tusd's operator would).
    pub(crate) async fn create_bucket(&self, bucket: &str) {
        let created = reqwest::Client::new().put(format!("{}/{bucket}", self.endpoint)).send().await.unwrap();
        assert_eq!(created.status(), 200, "creating the bucket {bucket}");
    }

    /// The requests moto has served so far, one line each (its access log).
    pub(crate) fn requests(&self) -> String {
        std::fs::read_to_string(self.logs.join("moto.err")).unwrap()
    }

    /// Multipart uploads started and neither completed nor aborted (moto
    /// answers S3's ListMultipartUploads, which `object_store` does not send).
    pub(crate) async fn pending_uploads(&self) -> usize {
        let listing = reqwest::get(format!("{}/{BUCKET}?uploads", self.endpoint)).await.unwrap();
        assert_eq!(listing.status(), 200);
        listing.text().await.unwrap().matches("<UploadId>").count()
    }
}

/// The bucket seen directly, keys relative to Steward's prefix.
pub(crate) struct Raw(object_store::aws::AmazonS3);

impl Raw {
    pub(crate) fn path(key: &str) -> object_store::path::Path {
        object_store::path::Path::from(format!("steward/blobs/{key}"))
    }

    pub(crate) async fn get(&self, key: &str) -> Option<Vec<u8>> {
        match self.0.get(&Self::path(key)).await {
            Ok(got) => Some(got.bytes().await.unwrap().to_vec()),
            Err(object_store::Error::NotFound { .. }) => None,
            Err(e) => panic!("GET {key}: {e}"),
        }
    }

    pub(crate) async fn put(&self, key: &str, body: Vec<u8>) {
        self.0.put(&Self::path(key), body.into()).await.unwrap();
    }

    /// Every key under Steward's prefix.
    pub(crate) async fn keys(&self) -> Vec<String> {
        let prefix = object_store::path::Path::from("steward/blobs");
        let listed: Vec<_> = self.0.list(Some(&prefix)).map(|m| m.unwrap().location.to_string()).collect().await;
        listed.into_iter().map(|k| k.trim_start_matches("steward/blobs/").to_owned()).collect()
    }
}

/// The venv's `moto_server`, installed with pip when missing.
fn moto_server() -> std::path::PathBuf {
    static INSTALL: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _one_at_a_time = INSTALL.lock().unwrap_or_else(|e| e.into_inner());
    let venv = std::env::var_os("STEWARD_VENV").map(std::path::PathBuf::from).unwrap_or_else(|| {
        std::path::PathBuf::from(std::env::var_os("HOME").expect("HOME is set")).join(".cache/steward/venv")
    });
    let server = venv.join("bin/moto_server");
    let installed = || {
        std::process::Command::new(venv.join("bin/python"))
            .args(["-c", &format!("import moto, flask_cors; assert moto.__version__ == '{MOTO_VERSION}'")])
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    if !installed() {
        if !venv.join("bin/python").exists() {
            let status = std::process::Command::new("python3").arg("-m").arg("venv").arg(&venv).status().unwrap();
            assert!(status.success(), "creating the venv {} failed (Debian needs python3-venv)", venv.display());
        }
        let status = std::process::Command::new(venv.join("bin/pip"))
            .args(["install", "--quiet", "--disable-pip-version-check", &format!("moto[server]=={MOTO_VERSION}")])
            .status()
            .unwrap();
        assert!(
            status.success() && installed(),
            "installing moto[server]=={MOTO_VERSION} into {} failed",
            venv.display()
        );
    }
    server
}

/// Starts moto on a free port below 32768 and creates the bucket.
pub(crate) async fn moto() -> Moto {
    static NEXT_PORT: AtomicU16 = AtomicU16::new(0);
    let server = tokio::task::spawn_blocking(moto_server).await.unwrap();
    let offset = (std::process::id() % 2000) as u16 * 4;
    let free_port = || {
        std::iter::from_fn(|| Some(21000 + offset + NEXT_PORT.fetch_add(1, Ordering::Relaxed) % 2000))
            .take(2000)
            .find(|p| std::net::TcpListener::bind(("127.0.0.1", *p)).is_ok())
            .expect("a free port")
    };
    // A port found free may be taken before moto binds it: then the next one.
    let mut attempts = 0;
    let (endpoint, logs, process) = 'start: loop {
        attempts += 1;
        let port = free_port();
        let logs = scratch_dir("moto");
        let mut process = tokio::process::Command::new(&server)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(logs.join("moto.log")).unwrap())
            .stderr(std::fs::File::create(logs.join("moto.err")).unwrap())
            .kill_on_drop(true)
            .spawn()
            .expect("starting moto_server");
        let endpoint = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if reqwest::get(format!("{endpoint}/")).await.is_ok_and(|r| r.status() == 200) {
                break 'start (endpoint, logs, process);
            }
            if process.try_wait().unwrap().is_some() {
                assert!(attempts < 5, "moto_server exited; see {}", logs.display());
                continue 'start;
            }
            assert!(Instant::now() < deadline, "moto_server did not come up; see {}", logs.display());
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    };
    let created = reqwest::Client::new().put(format!("{endpoint}/{BUCKET}")).send().await.unwrap();
    assert_eq!(created.status(), 200, "creating the bucket");
    Moto { endpoint, logs, _process: process }
}

/// The settings that put Steward's blobs into moto's bucket at `endpoint`.
pub(crate) fn s3_vars(endpoint: &str) -> [(&'static str, String); 6] {
    [
        ("STEWARD_OBJECT_STORE", format!("s3://{BUCKET}/steward/blobs/")),
        ("STEWARD_S3_ENDPOINT", endpoint.to_owned()),
        ("STEWARD_S3_REGION", REGION.to_owned()),
        ("STEWARD_S3_ACCESS_KEY_ID", ACCESS_KEY.0.to_owned()),
        ("STEWARD_S3_SECRET_ACCESS_KEY", ACCESS_KEY.1.to_owned()),
        ("STEWARD_S3_ALLOW_HTTP", "true".to_owned()),
    ]
}
