//! The embedded PostgreSQL default: first start creates the cluster, a
//! restart keeps the data, and a stale pid file from a crash does not stop it.

use std::time::{Duration, Instant};

use steward::auth::ops::{self, TokenRequest};
use steward::config::Config;
use steward::db::Database;
use steward::proto::authorization::v1::WhoAmIRequest;

use crate::common::{scratch_dir, spawn_server, test_config, with_bearer};

async fn who_am_i(addr: std::net::SocketAddr, token: &str) -> String {
    let channel = tonic::transport::Channel::from_shared(format!("http://{addr}")).unwrap().connect().await.unwrap();
    let mut client =
        steward::proto::authorization::v1::authorization_service_client::AuthorizationServiceClient::new(channel);
    client.who_am_i(with_bearer(WhoAmIRequest {}, token)).await.unwrap().into_inner().email
}

async fn stop(stop: tokio::sync::oneshot::Sender<()>, task: tokio::task::JoinHandle<anyhow::Result<()>>) {
    stop.send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(60), task).await.unwrap().unwrap().unwrap();
}

fn postmaster_running(config: &Config) -> bool {
    config.data_dir.join("postgres/postmaster.pid").exists()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embedded_cluster_starts_restarts_and_survives_a_stale_pid_file() {
    let data_dir = scratch_dir("embedded");
    let config = || test_config(&[("STEWARD_DATA_DIR", data_dir.to_str().unwrap())]);
    assert!(config().database_url.is_none());

    // First start: initdb, start, migrate, serve.
    let first = Instant::now();
    let (addr, stop_tx, task) = spawn_server(config()).await;
    eprintln!("first start ready in {:?}", first.elapsed());
    assert!(data_dir.join("postgres/PG_VERSION").exists());
    assert!(data_dir.join("keyring").exists(), "the development keyring is generated into the data dir");

    let database = Database::locate(&config()).unwrap();
    let mut conn = steward::db::connect(&database.url).await.unwrap();
    let created = ops::create_user_token(
        &mut conn,
        TokenRequest { email: "embedded@example.org".into(), role: None, description: String::new(), expires_in: None },
    )
    .await
    .unwrap();
    drop(conn);
    assert_eq!(who_am_i(addr, &created.token).await, "embedded@example.org");
    stop(stop_tx, task).await;
    assert!(!postmaster_running(&config()), "serve stops the cluster it started");

    // With no server running, a CLI command starts the cluster briefly and stops it again.
    let cli = std::process::Command::new(env!("CARGO_BIN_EXE_steward"))
        .args(["token", "create", "--email", "offline@example.org"])
        .env("STEWARD_DATA_DIR", &data_dir)
        .env_remove("DATABASE_URL")
        .env("STEWARD_LOG", "warn")
        .output()
        .unwrap();
    assert!(cli.status.success(), "{}", String::from_utf8_lossy(&cli.stderr));
    let offline_token = String::from_utf8(cli.stdout).unwrap().lines().last().unwrap().to_owned();
    assert!(!postmaster_running(&config()), "the CLI stops the cluster it started");

    // A crash leaves postmaster.pid behind, naming a pid that is now another process.
    let pid_file = data_dir.join("postgres/postmaster.pid");
    std::fs::write(&pid_file, format!("{}\n{}\n", std::process::id(), data_dir.join("postgres").display())).unwrap();

    // Restart: the existing cluster starts quickly and the data is still there.
    let second = Instant::now();
    let (addr, stop_tx, task) = spawn_server(config()).await;
    eprintln!("restart ready in {:?}", second.elapsed());
    assert_eq!(who_am_i(addr, &created.token).await, "embedded@example.org");
    assert_eq!(who_am_i(addr, &offline_token).await, "offline@example.org");
    stop(stop_tx, task).await;
    assert!(!postmaster_running(&config()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_data_dir_gets_a_short_socket_directory() {
    use steward::db::embedded::{ClusterOptions, DATABASE, EmbeddedPostgres};
    // Unix socket paths are capped at 107 bytes; this data dir alone is longer.
    let data_dir = scratch_dir("long").join("d".repeat(60)).join("e".repeat(60));
    let mut pg = EmbeddedPostgres::new(&data_dir, ClusterOptions { durable: false }).unwrap();
    pg.ensure_running().await.unwrap();
    let mut conn = steward::db::connect(&pg.url(DATABASE)).await.unwrap();
    diesel_async::SimpleAsyncConnection::batch_execute(&mut conn, "SELECT 1").await.unwrap();
    drop(conn);
    assert!(pg.started_here());
    pg.stop().await.unwrap();
    assert!(!data_dir.join("postgres/postmaster.pid").exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_during_initdb_lets_it_finish_then_exits_cleanly() {
    let data_dir = scratch_dir("early-stop");
    let mut serve = std::process::Command::new(env!("CARGO_BIN_EXE_steward"))
        .arg("serve")
        .env("STEWARD_DATA_DIR", &data_dir)
        .env("STEWARD_LISTEN", "127.0.0.1:0")
        .env_remove("DATABASE_URL")
        .env("STEWARD_LOG", "warn")
        .spawn()
        .unwrap();
    // initdb works in a scratch directory: once it exists, initdb is running.
    let deadline = Instant::now() + Duration::from_secs(30);
    while !data_dir.join("postgres.initdb").exists() {
        assert!(Instant::now() < deadline, "initdb never started");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let killed = std::process::Command::new("kill").args(["-TERM", &serve.id().to_string()]).status().unwrap();
    assert!(killed.success());
    let status = tokio::task::spawn_blocking(move || serve.wait()).await.unwrap().unwrap();
    assert!(status.success(), "steward serve exit status {status}");
    assert!(data_dir.join("postgres/PG_VERSION").exists(), "initdb ran to completion");
    assert!(!data_dir.join("postgres.initdb").exists(), "no half-made cluster is left behind");
    assert!(!data_dir.join("postgres/postmaster.pid").exists(), "the cluster it started is stopped again");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_private_data_dir_made_by_the_keyring_still_hosts_the_cluster() {
    use std::os::unix::fs::PermissionsExt as _;
    use steward::db::embedded::{ClusterOptions, DATABASE, EmbeddedPostgres};
    // A run with DATABASE_URL creates the data dir for the development keyring only, 0700.
    let data_dir = scratch_dir("private").join("var");
    steward::crypto::Keyring::load_or_generate(&data_dir.join("keyring")).unwrap();
    assert_eq!(std::fs::metadata(&data_dir).unwrap().permissions().mode() & 0o777, 0o700);
    let mut pg = EmbeddedPostgres::new(&data_dir, ClusterOptions { durable: false }).unwrap();
    pg.ensure_running().await.unwrap();
    steward::db::connect(&pg.url(DATABASE)).await.unwrap();
    pg.stop().await.unwrap();
    assert_eq!(std::fs::metadata(data_dir.join("keyring")).unwrap().permissions().mode() & 0o777, 0o600);
}
