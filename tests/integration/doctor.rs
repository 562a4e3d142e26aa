//! `steward doctor` as a user runs it: the built binary over a clean
//! environment, a good configuration passing and each broken one failing
//! with the problem named and no secret printed.

use std::path::Path;
use std::process::{Command, Output};

use steward::crypto::Keyring;

use crate::common::{TestDb, scratch_dir};
use crate::upload_notify::Sink;

/// `steward doctor` with only `vars` (and PATH, HOME) in its environment, in
/// an empty directory (no `.env`); returns its output and stdout.
fn doctor(vars: &[(&str, &str)]) -> (Output, String) {
    let cwd = scratch_dir("doctor-cwd");
    let mut command = Command::new(env!("CARGO_BIN_EXE_steward"));
    command.arg("doctor").current_dir(&cwd).env_clear().env("STEWARD_LOG", "warn");
    for name in ["PATH", "HOME"] {
        if let Some(value) = std::env::var_os(name) {
            command.env(name, value);
        }
    }
    command.envs(vars.iter().copied());
    let output = command.output().expect("running steward doctor");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    (output, stdout)
}

/// The line of check `name`, which must be there.
fn line<'a>(stdout: &'a str, name: &str) -> &'a str {
    stdout
        .lines()
        .find(|l| l.split_once(' ').is_some_and(|(_, rest)| rest.trim_start().starts_with(&format!("{name}:"))))
        .unwrap_or_else(|| panic!("no {name} line in:\n{stdout}"))
}

/// The keyring spec and, separately, its key material (what must never show).
fn keyring() -> (String, String) {
    let spec = Keyring::generate().to_spec();
    let key = spec.split_once(':').unwrap().1.to_owned();
    (spec, key)
}

/// A good development configuration over `db`, blobs under a fresh data dir.
fn good_vars<'a>(db: &'a TestDb, spec: &'a str, data_dir: &'a Path, smtp: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("DATABASE_URL", db.url()),
        ("STEWARD_DATA_DIR", data_dir.to_str().unwrap()),
        ("STEWARD_ENCRYPTION_KEYS", spec),
        ("STEWARD_SMTP_URL", smtp),
    ]
}

fn assert_failed(output: &Output, stdout: &str, check: &str, says: &str) {
    assert_eq!(output.status.code(), Some(1), "{stdout}\n{}", String::from_utf8_lossy(&output.stderr));
    let line = line(stdout, check);
    assert!(line.starts_with("FAIL "), "{line}");
    assert!(line.contains(says), "{line:?} should say {says:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_good_configuration_passes() {
    let db = TestDb::new().await;
    let sink = Sink::start(&[], None).await;
    let (spec, key) = keyring();
    let data_dir = scratch_dir("doctor-good");
    let smtp = sink.url();
    let (output, stdout) = doctor(&good_vars(&db, &spec, &data_dir, &smtp));
    assert!(output.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&output.stderr));
    for check in ["configuration", "database", "migrations", "keyring", "smtp", "object store", "upload staging"] {
        assert!(line(&stdout, check).starts_with("ok "), "{check}:\n{stdout}");
    }
    assert!(line(&stdout, "migrations").contains("all applied"));
    let current = Keyring::parse(&spec).unwrap().current_key_id().to_owned();
    assert!(line(&stdout, "keyring").contains(&format!("current {current}")), "{stdout}");
    assert!(!stdout.contains(&key), "the key must not be printed");
    assert!(!stdout.contains("FAIL"), "{stdout}");
    // The probe blob is gone again; no message was sent.
    let blobs: Vec<_> = walk(&data_dir.join("blobs"));
    assert!(blobs.is_empty(), "{blobs:?}");
    assert!(sink.messages().is_empty());
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else { return Vec::new() };
    entries
        .flat_map(|e| {
            let path = e.unwrap().path();
            if path.is_dir() { walk(&path) } else { vec![path] }
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_database_fails_without_showing_its_password() {
    let (spec, _) = keyring();
    let data_dir = scratch_dir("doctor-nodb");
    let (output, stdout) = doctor(&[
        // Port 1: nothing listens there, so the connection is refused at once.
        ("DATABASE_URL", "postgres://steward:pg-Secret-42@127.0.0.1:1/steward"),
        ("STEWARD_DATA_DIR", data_dir.to_str().unwrap()),
        ("STEWARD_ENCRYPTION_KEYS", &spec),
    ]);
    assert_failed(&output, &stdout, "database", "cannot connect");
    assert!(line(&stdout, "migrations").starts_with("warn "), "{stdout}");
    // The other checks still ran.
    assert!(line(&stdout, "keyring").starts_with("ok "), "{stdout}");
    assert!(!stdout.contains("pg-Secret-42"), "{stdout}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pending_migrations_are_listed() {
    let db = TestDb::empty().await;
    let (spec, _) = keyring();
    let data_dir = scratch_dir("doctor-fresh");
    let (output, stdout) = doctor(&[
        ("DATABASE_URL", db.url()),
        ("STEWARD_DATA_DIR", data_dir.to_str().unwrap()),
        ("STEWARD_ENCRYPTION_KEYS", &spec),
    ]);
    assert_failed(&output, &stdout, "migrations", "steward migrate");
    let first = std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/migrations"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|name| name.starts_with("20"))
        .min()
        .unwrap();
    assert!(line(&stdout, "migrations").contains(&first), "{first} not named:\n{stdout}");
    assert!(line(&stdout, "database").starts_with("ok "), "{stdout}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_keyring_fails() {
    let db = TestDb::new().await;
    let data_dir = scratch_dir("doctor-keys");
    // A 16-byte key where 32 are needed.
    let bad = "k1:AAAAAAAAAAAAAAAAAAAAAA==";
    let (output, stdout) = doctor(&[
        ("DATABASE_URL", db.url()),
        ("STEWARD_DATA_DIR", data_dir.to_str().unwrap()),
        ("STEWARD_ENCRYPTION_KEYS", bad),
    ]);
    assert_failed(&output, &stdout, "keyring", "STEWARD_ENCRYPTION_KEYS");
    assert!(!stdout.contains("AAAAAAAAAAAAAAAAAAAAAA=="), "{stdout}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_smtp_server_that_refuses_fails_without_showing_its_password() {
    let db = TestDb::new().await;
    let (spec, _) = keyring();
    let data_dir = scratch_dir("doctor-smtp");
    let smtp = "smtp://mailer:smtp-Secret-42@127.0.0.1:1";
    let (output, stdout) = doctor(&good_vars(&db, &spec, &data_dir, smtp));
    assert_failed(&output, &stdout, "smtp", "127.0.0.1:1");
    assert!(!stdout.contains("smtp-Secret-42"), "{stdout}");
    assert!(line(&stdout, "database").starts_with("ok "), "{stdout}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unwritable_blob_and_staging_dirs_fail() {
    let db = TestDb::new().await;
    let (spec, _) = keyring();
    let data_dir = scratch_dir("doctor-blobs");
    // A file where the blob directory should be: no permission bits (tests
    // may run as root, who writes anywhere) let it be written into.
    std::fs::write(data_dir.join("blobs"), b"not a directory").unwrap();
    let sink = Sink::start(&[], None).await;
    let smtp = sink.url();
    let (output, stdout) = doctor(&good_vars(&db, &spec, &data_dir, &smtp));
    assert_failed(&output, &stdout, "object store", "writable");
    assert!(line(&stdout, "object store").contains(data_dir.join("blobs").to_str().unwrap()), "{stdout}");
    // The same for the upload staging directory.
    let data_dir = scratch_dir("doctor-staging");
    std::fs::write(data_dir.join("staging"), b"not a directory").unwrap();
    let (output, stdout) = doctor(&good_vars(&db, &spec, &data_dir, &smtp));
    assert_failed(&output, &stdout, "upload staging", "STEWARD_UPLOAD_STAGING_DIR");
    assert!(line(&stdout, "object store").starts_with("ok "), "{stdout}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn production_with_real_google_and_no_secret_fails() {
    let db = TestDb::new().await;
    let (spec, key) = keyring();
    let data_dir = scratch_dir("doctor-prod");
    let (output, stdout) = doctor(&[
        ("STEWARD_ENV", "production"),
        ("DATABASE_URL", db.url()),
        ("STEWARD_DATA_DIR", data_dir.to_str().unwrap()),
        ("STEWARD_ENCRYPTION_KEYS", &spec),
        ("STEWARD_GOOGLE_MODE", "real"),
        ("GOOGLE_OAUTH_CLIENT_ID", "doctor-client.apps.example.org"),
    ]);
    assert_failed(&output, &stdout, "configuration", "GOOGLE_OAUTH_CLIENT_SECRET");
    assert!(line(&stdout, "configuration").contains("STEWARD_GOOGLE_MODE"), "{stdout}");
    assert!(!stdout.contains(&key), "{stdout}");

    // Without keys, production names that too.
    let (output, stdout) = doctor(&[
        ("STEWARD_ENV", "production"),
        ("DATABASE_URL", db.url()),
        ("STEWARD_DATA_DIR", data_dir.to_str().unwrap()),
    ]);
    assert_failed(&output, &stdout, "configuration", "STEWARD_ENCRYPTION_KEYS");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_s3_bucket_is_probed_and_a_missing_one_fails() {
    use crate::common::moto::{moto, s3_vars};
    let moto = moto().await;
    let db = TestDb::new().await;
    let (spec, _) = keyring();
    let data_dir = scratch_dir("doctor-s3");
    let s3 = s3_vars(&moto.endpoint);
    let secret = s3.iter().find(|(name, _)| *name == "STEWARD_S3_SECRET_ACCESS_KEY").unwrap().1.clone();
    let mut vars = vec![
        ("DATABASE_URL", db.url()),
        ("STEWARD_DATA_DIR", data_dir.to_str().unwrap()),
        ("STEWARD_ENCRYPTION_KEYS", spec.as_str()),
    ];
    vars.extend(s3.iter().map(|(name, value)| (*name, value.as_str())));
    let (output, stdout) = doctor(&vars);
    assert!(output.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&output.stderr));
    assert!(line(&stdout, "object store").starts_with("ok "), "{stdout}");
    assert!(moto.raw().keys().await.is_empty(), "the probe object is deleted again");

    vars.retain(|(name, _)| *name != "STEWARD_OBJECT_STORE");
    vars.push(("STEWARD_OBJECT_STORE", "s3://no-such-bucket/blobs/"));
    let (output, stdout) = doctor(&vars);
    assert_failed(&output, &stdout, "object store", "s3://no-such-bucket");
    assert!(!stdout.contains(&secret), "{stdout}");
}

/// Without DATABASE_URL: no embedded cluster running is no fault (`serve`
/// starts it), and while `serve` runs it, doctor checks it like any database.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_embedded_cluster_is_checked_while_serve_runs_it() {
    let data_dir = scratch_dir("doctor-embedded");
    let dir = data_dir.to_str().unwrap();
    let (output, stdout) = doctor(&[("STEWARD_DATA_DIR", dir)]);
    let database = line(&stdout, "database");
    assert!(database.starts_with("warn ") && database.contains("is not running now"), "{database}");
    assert!(line(&stdout, "migrations").contains("`steward serve` applies them at start"), "{stdout}");
    assert!(!data_dir.join("postgres/PG_VERSION").exists(), "doctor creates no cluster");
    assert_eq!(output.status.code(), Some(0), "{stdout}");

    let (_, stop, task) = crate::common::spawn_server(crate::common::test_config(&[("STEWARD_DATA_DIR", dir)])).await;
    let (output, stdout) = doctor(&[("STEWARD_DATA_DIR", dir)]);
    let database = line(&stdout, "database");
    assert!(database.starts_with("ok ") && database.contains("embedded cluster running (PostgreSQL "), "{database}");
    assert!(line(&stdout, "migrations").starts_with("ok ") && line(&stdout, "migrations").contains("all applied"));
    assert!(line(&stdout, "keyring").starts_with("ok "), "the development keyring serve generated: {stdout}");
    assert_eq!(output.status.code(), Some(0), "{stdout}");
    stop.send(()).unwrap();
    tokio::time::timeout(std::time::Duration::from_secs(60), task).await.unwrap().unwrap().unwrap();
}

/// A real OIDC provider's discovery document is fetched and its issuer
/// checked, against the in-repo issuer that speaks the same discovery format.
/// Its issuer ends in a slash, as some providers' do: that is the same issuer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_oidc_issuer_is_asked_for_its_discovery_document() {
    let (provider, _served) = steward::auth::jwt::sandbox::SandboxIssuer::start_local(None).await.unwrap();
    let issuer = provider.issuer().to_owned();
    assert!(issuer.starts_with("http://127.0.0.1:") && issuer.ends_with('/'), "{issuer}");
    let db = TestDb::new().await;
    let (spec, _) = keyring();
    let data_dir = scratch_dir("doctor-oidc");
    let signin = |issuer: &str| {
        let mut vars: Vec<(String, String)> = good_vars(&db, &spec, &data_dir, "")
            .into_iter()
            .filter(|(name, _)| *name != "STEWARD_SMTP_URL")
            .map(|(name, value)| (name.to_owned(), value.to_owned()))
            .collect();
        vars.push(("STEWARD_OIDC_ISSUER".into(), issuer.to_owned()));
        vars.push(("STEWARD_OIDC_CLIENT_ID".into(), "steward".into()));
        vars.push(("STEWARD_OIDC_CLIENT_SECRET".into(), "s3cret-value".into()));
        let vars: Vec<(&str, &str)> = vars.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
        let (output, stdout) = doctor(&vars);
        assert!(!stdout.contains("s3cret-value"), "{stdout}");
        (output, stdout)
    };

    let (_, stdout) = signin(&issuer);
    let line_ok = line(&stdout, "sign-in");
    assert!(line_ok.starts_with("ok ") && line_ok.contains("answers its discovery document"), "{line_ok}");

    // The same provider under another name: its document names the issuer it
    // signs tokens as, not the one configured (a proxied URL, say).
    let (output, stdout) = signin(&issuer.replace("127.0.0.1", "localhost"));
    assert_failed(&output, &stdout, "sign-in", "names another issuer");

    // No provider at that address.
    let (output, stdout) = signin(&format!("{issuer}no-such-issuer"));
    assert_failed(&output, &stdout, "sign-in", "cannot fetch");
}
