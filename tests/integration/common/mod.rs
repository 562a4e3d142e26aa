//! The integration-test harness: one throwaway PostgreSQL cluster per test
//! binary (stopped and removed when the binary exits), a template database
//! migrated once, one fresh database per test cloned from it, and a `TestApp`
//! that runs the real server on `127.0.0.1:0` over that database.

#![allow(dead_code, reason = "each test binary uses a different part of the harness")]

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use steward::auth::Role;
use steward::auth::ops::{self, TokenRequest};
use steward::config::Config;
use steward::db::embedded::{ClusterOptions, EmbeddedPostgres, quote_ident};
use steward::db::{self, Pool, PoolOptions};
use steward::proto::authorization::v1::authorization_service_client::AuthorizationServiceClient;
use tokio::sync::{OnceCell, oneshot};
use tonic::transport::Channel;

pub mod archive;
pub mod donation;
pub mod http;
pub mod moto;
pub mod participant;
pub mod proxy;

const TEMPLATE: &str = "steward_template";

struct Cluster {
    pg: EmbeddedPostgres,
}

static CLUSTER: OnceCell<Cluster> = OnceCell::const_new();
static NEXT_DB: AtomicU32 = AtomicU32::new(0);

async fn cluster() -> &'static Cluster {
    CLUSTER
        .get_or_init(|| async {
            let dir = scratch_dir("cluster");
            let mut pg = EmbeddedPostgres::new(&dir, ClusterOptions { durable: false }).expect("locating PostgreSQL");
            pg.ensure_running().await.expect("starting the test cluster");
            reap_on_exit(&pg, &scratch_root());
            pg.create_database(TEMPLATE).await.expect("creating the template database");
            db::migrate(&pg.url(TEMPLATE)).await.expect("migrating the template database");
            Cluster { pg }
        })
        .await
}

/// This test process's directory under /tmp (reachable by the unprivileged
/// PostgreSQL user); removed with everything in it when the process exits.
pub fn scratch_root() -> PathBuf {
    std::env::temp_dir().join(format!("steward-test-{}", std::process::id()))
}

/// The `steward` binary ready to run a command against `db_url`: a scratch
/// data dir of its own (never the developer's), warnings only in its log.
pub fn steward_command(db_url: &str, purpose: &str) -> std::process::Command {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_steward"));
    command.env("DATABASE_URL", db_url).env("STEWARD_DATA_DIR", scratch_dir(purpose)).env("STEWARD_LOG", "warn");
    command
}

/// A fresh directory inside [`scratch_root`].
pub fn scratch_dir(purpose: &str) -> PathBuf {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let dir = scratch_root().join(format!("{}-{purpose}", NEXT.fetch_add(1, Ordering::Relaxed)));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("creating a scratch dir");
    dir
}

/// Statics are never dropped, so a detached watcher stops the cluster and
/// removes `dir` once this test process has exited.
pub fn reap_on_exit(pg: &EmbeddedPostgres, dir: &Path) {
    reap_cluster_on_exit(pg.cluster_dir(), dir);
}

/// [`reap_on_exit`] for a cluster this process set up itself in `cluster_dir`.
#[expect(clippy::zombie_processes, reason = "the watcher outlives this process by design")]
pub fn reap_cluster_on_exit(cluster_dir: &Path, dir: &Path) {
    let pid_file = cluster_dir.join("postmaster.pid");
    let script = format!(
        "while kill -0 {parent} 2>/dev/null; do sleep 0.5; done; \
         pid=$(head -n1 '{pid_file}' 2>/dev/null); [ -n \"$pid\" ] && kill -INT \"$pid\" 2>/dev/null; \
         for i in $(seq 1 40); do [ -e '{pid_file}' ] || break; sleep 0.25; done; rm -rf '{dir}'",
        parent = std::process::id(),
        pid_file = pid_file.display(),
        dir = dir.display(),
    );
    use std::os::unix::process::CommandExt as _;
    std::process::Command::new("sh")
        .args(["-c", &script])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .process_group(0)
        .spawn()
        .expect("spawning the cluster reaper");
}

/// A durable cluster (production settings, as the benches measure) under a
/// scratch dir, with database `name` created and migrated; it is stopped and
/// `root` removed once this process exits. Returns the cluster and the URL.
pub async fn durable_database(root: &Path, name: &str) -> (EmbeddedPostgres, String) {
    let mut pg =
        EmbeddedPostgres::new(&scratch_dir("cluster"), ClusterOptions { durable: true }).expect("locating PostgreSQL");
    pg.ensure_running().await.expect("starting PostgreSQL");
    reap_on_exit(&pg, root);
    pg.create_database(name).await.unwrap();
    let url = pg.url(name);
    db::migrate(&url).await.unwrap();
    (pg, url)
}

/// A fresh database cloned from the migrated template.
pub struct TestDb {
    url: String,
    pool: Pool,
    name: String,
}

impl TestDb {
    /// Clones the template into a new database.
    pub async fn new() -> TestDb {
        let cluster = cluster().await;
        let name = format!("test_{}", NEXT_DB.fetch_add(1, Ordering::Relaxed));
        let admin = cluster.pg.admin_client().await.expect("admin connection");
        let create =
            format!("CREATE DATABASE {} TEMPLATE {} STRATEGY FILE_COPY", quote_ident(&name), quote_ident(TEMPLATE));
        // The migrator's connection may still be closing: retry briefly.
        let mut attempt = 0;
        while let Err(e) = admin.batch_execute(&create).await {
            attempt += 1;
            assert!(attempt < 50, "cloning the template: {e}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let url = cluster.pg.url(&name);
        let pool = db::pool(&url, &pool_options()).expect("pool");
        TestDb { url, pool, name }
    }

    /// A new, empty database (no tables, not migrated): a restore target, or one with every migration pending.
    pub async fn empty() -> TestDb {
        let cluster = cluster().await;
        let name = format!("test_{}", NEXT_DB.fetch_add(1, Ordering::Relaxed));
        let admin = cluster.pg.admin_client().await.expect("admin connection");
        admin.batch_execute(&format!("CREATE DATABASE {}", quote_ident(&name))).await.expect("creating a database");
        let url = cluster.pg.url(&name);
        let pool = db::pool(&url, &pool_options()).expect("pool");
        TestDb { url, pool, name }
    }

    /// The connection string of this database.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Drops this database at once, closing every connection to it: the
    /// database is gone for a server running over it.
    pub async fn drop_database(&self) {
        let admin = cluster().await.pg.admin_client().await.expect("admin connection");
        let drop = format!("DROP DATABASE {} WITH (FORCE)", quote_ident(&self.name));
        admin.batch_execute(&drop).await.expect("dropping the test database");
    }

    /// A pool over this database.
    pub fn pool(&self) -> Pool {
        self.pool.clone()
    }

    /// One connection.
    pub async fn conn(&self) -> db::PooledConn {
        self.pool.get().await.expect("database connection")
    }

    /// Creates (or reuses) a user with `role` and returns a fresh API token.
    pub async fn token(&self, email: &str, role: Option<Role>) -> String {
        self.token_with(TokenRequest { email: email.into(), role, description: "test".into(), expires_in: None })
            .await
            .1
    }

    /// Creates a token; returns (token id, token).
    ///
    /// Fixtures are givens, not events under test: the audit rows this call
    /// writes are removed, so tests see only the audit trail of what they do.
    pub async fn token_with(&self, request: TokenRequest) -> (i64, String) {
        use diesel::{ExpressionMethods as _, QueryDsl as _};
        use diesel_async::RunQueryDsl as _;
        use steward::db::schema::audit_log;
        let mut conn = self.conn().await;
        let last: Option<i64> =
            audit_log::table.select(diesel::dsl::max(audit_log::id)).first(&mut conn).await.expect("audit log");
        let created = ops::create_user_token(&mut conn, request).await.expect("creating a token");
        diesel::delete(audit_log::table.filter(audit_log::id.gt(last.unwrap_or(0))))
            .execute(&mut conn)
            .await
            .expect("clearing the fixture's audit rows");
        (created.id, created.token)
    }
}

/// A PostgreSQL client program (`pg_dump`, `pg_restore`) of the test cluster's
/// own installation, so its version matches the server's.
pub async fn pg_program(name: &str) -> PathBuf {
    cluster().await.pg.bin_dir().join(name)
}

fn pool_options() -> PoolOptions {
    PoolOptions {
        max_size: 8,
        wait_timeout: Duration::from_secs(10),
        statement_timeout: Duration::from_secs(30),
        application_name: "steward-test",
    }
}

/// Configuration for a test server: loopback port 0, the given database.
pub fn test_config(extra: &[(&str, &str)]) -> Config {
    let mut vars: HashMap<String, String> = HashMap::from([
        ("STEWARD_LISTEN".into(), "127.0.0.1:0".into()),
        ("STEWARD_WORKERS".into(), "1".into()),
        ("STEWARD_LOG".into(), "warn".into()),
    ]);
    for (k, v) in extra {
        vars.insert((*k).into(), (*v).into());
    }
    Config::from_lookup(|k| vars.get(k).cloned()).expect("test configuration")
}

/// The real server, running in this process on a loopback port. Dropping it
/// drops the stop sender, which shuts the server down gracefully.
pub struct TestApp {
    pub db: TestDb,
    pub addr: SocketAddr,
    stop: oneshot::Sender<()>,
    task: tokio::task::JoinHandle<anyhow::Result<()>>,
}

impl TestApp {
    /// A server over a fresh database.
    pub async fn start() -> TestApp {
        Self::start_on(TestDb::new().await).await
    }

    /// A server over an existing test database (e.g. to restart over the same data).
    pub async fn start_on(db: TestDb) -> TestApp {
        let data_dir = scratch_dir("app");
        let vars = [("DATABASE_URL", db.url()), ("STEWARD_DATA_DIR", data_dir.to_str().unwrap())];
        let (addr, _, stop, task) = spawn_server_with(&vars, false).await;
        TestApp { db, addr, stop, task }
    }

    /// A server over `db` with extra configuration and `STEWARD_PUBLIC_URL`
    /// set to its real address; returns the configuration it runs with.
    pub async fn start_with(db: TestDb, extra: &[(&str, &str)]) -> (TestApp, Config) {
        let data_dir = scratch_dir("app");
        let mut vars = vec![("DATABASE_URL", db.url()), ("STEWARD_DATA_DIR", data_dir.to_str().unwrap())];
        vars.extend_from_slice(extra);
        let (addr, config, stop, task) = spawn_server_with(&vars, true).await;
        (TestApp { db, addr, stop, task }, config)
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// A gRPC channel to the server.
    pub async fn channel(&self) -> Channel {
        Channel::from_shared(self.url()).unwrap().connect().await.expect("connecting to the test server")
    }

    /// An AuthorizationService client.
    pub async fn authorization(&self) -> AuthorizationServiceClient<Channel> {
        AuthorizationServiceClient::new(self.channel().await)
    }

    /// Stops the server gracefully (asserting it exits cleanly) and returns its database.
    pub async fn stop(self) -> TestDb {
        let TestApp { db, stop, task, .. } = self;
        let _ = stop.send(());
        tokio::time::timeout(Duration::from_secs(40), task)
            .await
            .expect("server did not stop in time")
            .expect("server task panicked")
            .expect("server failed");
        db
    }
}

/// Runs `cli::serve_on` with `config` on a fresh loopback port; returns once health is SERVING.
pub async fn spawn_server(
    config: Config,
) -> (SocketAddr, oneshot::Sender<()>, tokio::task::JoinHandle<anyhow::Result<()>>) {
    let listener = tokio::net::TcpListener::bind(config.listen).await.expect("binding a test port");
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(steward::cli::serve_on(config, listener, async move {
        let _ = stopped.await;
    }));
    wait_until_serving(addr).await;
    (addr, stop, task)
}

/// Binds a loopback port first, then builds the configuration from `vars`
/// with that address as `STEWARD_LISTEN` (so URLs derived from it, like the
/// sandbox's server-to-server URLs, reach this server) and, with
/// `public_url`, as `STEWARD_PUBLIC_URL` too; runs `cli::serve_on` and
/// returns once health is SERVING. (Without `public_url` the default public
/// URL stays, which some tests assert.)
pub async fn spawn_server_with(
    vars: &[(&str, &str)],
    public_url: bool,
) -> (SocketAddr, Config, oneshot::Sender<()>, tokio::task::JoinHandle<anyhow::Result<()>>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("binding a test port");
    let addr = listener.local_addr().unwrap();
    let (listen, url) = (addr.to_string(), format!("http://{addr}"));
    let mut all = vec![("STEWARD_LISTEN", listen.as_str())];
    if public_url {
        all.push(("STEWARD_PUBLIC_URL", url.as_str()));
    }
    all.extend_from_slice(vars);
    let config = test_config(&all);
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(steward::cli::serve_on(config.clone(), listener, async move {
        let _ = stopped.await;
    }));
    wait_until_serving(addr).await;
    (addr, config, stop, task)
}

/// Polls `grpc.health.v1.Health/Check` until SERVING (60 s at most).
pub async fn wait_until_serving(addr: SocketAddr) {
    use tonic_health::pb::HealthCheckRequest;
    use tonic_health::pb::health_client::HealthClient;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok(channel) = Channel::from_shared(format!("http://{addr}")).unwrap().connect().await {
            let reply = HealthClient::new(channel).check(HealthCheckRequest { service: String::new() }).await;
            if reply.is_ok_and(|r| r.into_inner().status == 1) {
                return;
            }
        }
        assert!(tokio::time::Instant::now() < deadline, "server at {addr} did not become SERVING");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Waits until `WhoAmI` with `token` is refused (UNAUTHENTICATED) and returns
/// the refusal. Credential changes reach every replica by NOTIFY within
/// milliseconds; the bound is generous so a loaded CI machine is not flaky.
pub async fn eventually_refused(app: &TestApp, token: &str) -> tonic::Status {
    use steward::proto::authorization::v1::WhoAmIRequest;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        match app.authorization().await.who_am_i(with_bearer(WhoAmIRequest {}, token)).await {
            Err(status) => {
                assert_eq!(status.code(), tonic::Code::Unauthenticated, "{status:?}");
                return status;
            }
            Ok(_) => assert!(tokio::time::Instant::now() < deadline, "the change never took effect"),
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A request with `authorization: Bearer <token>`.
pub fn with_bearer<T>(message: T, token: &str) -> tonic::Request<T> {
    with_header(message, "authorization", &format!("Bearer {token}"))
}

/// A request with one metadata header.
pub fn with_header<T>(message: T, name: &'static str, value: &str) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    request.metadata_mut().insert(name, value.parse().expect("ascii header value"));
    request
}
