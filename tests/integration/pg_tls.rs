//! TLS to PostgreSQL (`sslmode` and `sslrootcert` in `DATABASE_URL`) against
//! a real cluster of its own: `ssl=on` with a certificate for `localhost`
//! signed by a test CA (both made by the openssl CLI), listening on loopback
//! TCP, with a pg_hba.conf that admits TCP clients over TLS only (`hostssl`),
//! and one role that signs in with a SCRAM password.

use std::os::unix::fs::{MetadataExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};
use std::process::Command;

use diesel::sql_types::Bool;
use diesel_async::RunQueryDsl as _;
use steward::db::{self, PoolOptions};
use tokio::sync::OnceCell;

use crate::common::{pg_program, reap_cluster_on_exit, scratch_dir, scratch_root, spawn_server_with};

struct TlsCluster {
    port: u16,
    /// The CA that signed the server's certificate.
    ca: PathBuf,
    /// A CA that signed nothing the server shows.
    other_ca: PathBuf,
}

static CLUSTER: OnceCell<TlsCluster> = OnceCell::const_new();

impl TlsCluster {
    /// A connection string for `database` on `host` with the given query (`sslmode=…&…`).
    fn url(&self, host: &str, database: &str, query: &str) -> String {
        format!("postgres://steward@{host}:{}/{database}?{query}", self.port)
    }
}

async fn cluster() -> &'static TlsCluster {
    CLUSTER.get_or_init(start_cluster).await
}

async fn start_cluster() -> TlsCluster {
    let dir = scratch_dir("pg-tls");
    let owner = unprivileged_account();
    let ca = make_ca(&dir, "ca");
    let other_ca = make_ca(&dir, "other-ca");
    std::fs::write(
        dir.join("server.ext"),
        "subjectAltName=DNS:localhost\nbasicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\n\
         extendedKeyUsage=serverAuth\n",
    )
    .unwrap();
    openssl(
        &dir,
        &["req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"],
        &["-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=localhost"],
    );
    openssl(
        &dir,
        &["x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial"],
        &["-out", "server.pem", "-days", "2", "-extfile", "server.ext"],
    );
    // PostgreSQL insists on a private key file only its account can read.
    std::fs::set_permissions(dir.join("server.key"), std::fs::Permissions::from_mode(0o600)).unwrap();
    let cluster_dir = dir.join("pg");
    if let Some((uid, gid)) = owner {
        for name in [".", "server.key", "server.pem"] {
            std::os::unix::fs::chown(dir.join(name), Some(uid), Some(gid)).unwrap();
        }
    }
    let initdb = pg_program("initdb").await;
    run_as(owner, &initdb, &["-A", "trust", "-U", "steward", "--no-sync", "--no-instructions", "-D"], &cluster_dir);
    std::fs::write(
        cluster_dir.join("pg_hba.conf"),
        "local all all trust\nhostssl all scram_user 127.0.0.1/32 scram-sha-256\n\
         hostssl all all 127.0.0.1/32 trust\nhostssl all all ::1/128 trust\n",
    )
    .unwrap();
    let port = free_port();
    let options = format!(
        "-p {port} -c listen_addresses=127.0.0.1 -k {dir} -c unix_socket_permissions=0700 -c fsync=off \
         -c ssl=on -c ssl_cert_file={dir}/server.pem -c ssl_key_file={dir}/server.key",
        dir = dir.display()
    );
    let pg_ctl = pg_program("pg_ctl").await;
    let log = dir.join("postgres.log");
    run_as(
        owner,
        &pg_ctl,
        &["start", "-w", "-s", "-t", "60", "-l", &log.to_string_lossy(), "-o", &options, "-D"],
        &cluster_dir,
    );
    reap_cluster_on_exit(&cluster_dir, &scratch_root());
    TlsCluster { port, ca, other_ca }
}

/// A self-signed CA `<name>.pem` (key `<name>.key`) in `dir`.
fn make_ca(dir: &Path, name: &str) -> PathBuf {
    openssl(
        dir,
        &["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "2"],
        &[
            "-keyout",
            &format!("{name}.key"),
            "-out",
            &format!("{name}.pem"),
            "-subj",
            &format!("/CN=steward test {name}"),
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
        ],
    );
    dir.join(format!("{name}.pem"))
}

fn openssl(dir: &Path, args: &[&str], more: &[&str]) {
    let output = Command::new("openssl").args(args).args(more).current_dir(dir).output().expect("running openssl");
    assert!(output.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&output.stderr));
}

/// PostgreSQL will not run as root: as root, the `postgres` (else `nobody`) account.
fn unprivileged_account() -> Option<(u32, u32)> {
    if std::fs::metadata("/proc/self").unwrap().uid() != 0 {
        return None;
    }
    let passwd = std::fs::read_to_string("/etc/passwd").unwrap();
    let account = |wanted: &str| {
        passwd.lines().find_map(|line| match line.split(':').collect::<Vec<_>>().as_slice() {
            [name, _, uid, gid, ..] if *name == wanted => Some((uid.parse().unwrap(), gid.parse().unwrap())),
            _ => None,
        })
    };
    Some(account("postgres").or_else(|| account("nobody")).expect("an account to run PostgreSQL"))
}

fn run_as(owner: Option<(u32, u32)>, program: &Path, args: &[&str], last: &Path) {
    let mut command = match owner {
        Some((uid, gid)) => {
            let mut c = Command::new("setpriv");
            c.arg(format!("--reuid={uid}")).arg(format!("--regid={gid}")).arg("--clear-groups").arg("--").arg(program);
            c
        }
        None => Command::new(program),
    };
    let output = command.args(args).arg(last).current_dir("/").env("LC_ALL", "C").output().expect("running PostgreSQL");
    assert!(
        output.status.success(),
        "{} {args:?}: {}{}",
        program.display(),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// A loopback TCP port below 32768 that nothing listens on now.
fn free_port() -> u16 {
    let start = 20000 + u16::try_from(std::process::id() % 10000).unwrap();
    (start..32000)
        .find(|port| std::net::TcpListener::bind(("127.0.0.1", *port)).is_ok())
        .expect("a free port below 32768")
}

fn pool_options() -> PoolOptions {
    PoolOptions {
        max_size: 2,
        wait_timeout: std::time::Duration::from_secs(10),
        statement_timeout: std::time::Duration::from_secs(30),
        application_name: "steward-tls-test",
    }
}

/// Whether this connection's session is encrypted, as the server sees it.
async fn encrypted(conn: &mut diesel_async::AsyncPgConnection) -> bool {
    diesel::select(diesel::dsl::sql::<Bool>("(SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid())"))
        .get_result(conn)
        .await
        .expect("reading pg_stat_ssl")
}

/// The error of connecting to `url`, with its causes.
async fn refusal(url: &str) -> String {
    match db::connect(url).await {
        Ok(_) => panic!("connected to {url}"),
        Err(e) => format!("{e:#}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_full_with_the_ca_carries_the_server_its_pool_and_migrations_over_tls() {
    let pg = cluster().await;
    let query = format!("sslmode=verify-full&sslrootcert={}", pg.ca.display());
    let admin = db::connect_client(&pg.url("localhost", "postgres", &query)).await.unwrap();
    admin.batch_execute("CREATE DATABASE steward_tls").await.unwrap();

    // The real server: it migrates, checks its pool and LISTENs over this URL.
    let url = pg.url("localhost", "steward_tls", &query);
    let data_dir = scratch_dir("pg-tls-data");
    let (_addr, _config, stop, task) =
        spawn_server_with(&[("DATABASE_URL", &url), ("STEWARD_DATA_DIR", data_dir.to_str().unwrap())], false).await;
    let sessions = admin
        .query_one(
            "SELECT count(*), count(*) FILTER (WHERE s.ssl) FROM pg_stat_activity a JOIN pg_stat_ssl s USING (pid) \
             WHERE a.datname = 'steward_tls' AND a.backend_type = 'client backend'",
            &[],
        )
        .await
        .unwrap();
    let (all, tls): (i64, i64) = (sessions.get(0), sessions.get(1));
    assert!(all > 0, "the server holds no connection");
    assert_eq!(tls, all, "every session of the server is encrypted");
    assert_eq!(db::pending_migrations(&url).await.unwrap(), 0, "migrated over TLS");

    let pool = db::pool(&url, &pool_options()).unwrap();
    let mut conn = pool.get().await.unwrap();
    assert!(encrypted(&mut conn).await);
    let users: i64 = diesel::select(diesel::dsl::sql::<diesel::sql_types::BigInt>("(SELECT count(*) FROM users)"))
        .get_result(&mut conn)
        .await
        .unwrap();
    assert_eq!(users, 0);
    let direct = db::connect_client(&url).await.unwrap();
    let row = direct.query_one("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()", &[]).await.unwrap();
    assert!(row.get::<_, bool>(0), "the direct (COPY) connection is encrypted");

    stop.send(()).unwrap();
    task.await.unwrap().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_full_with_another_ca_is_refused_naming_the_certificate() {
    let pg = cluster().await;
    let url = pg.url("localhost", "postgres", &format!("sslmode=verify-full&sslrootcert={}", pg.other_ca.display()));
    let message = refusal(&url).await;
    assert!(message.contains("invalid peer certificate: UnknownIssuer"), "{message}");
    assert!(message.contains("sslmode=verify-full"), "{message}");
    let pool = db::pool(&url, &pool_options()).unwrap();
    let message = format!("{:#}", db::check(&pool).await.unwrap_err());
    assert!(message.contains("invalid peer certificate: UnknownIssuer"), "{message}");
    let verify_ca =
        pg.url("127.0.0.1", "postgres", &format!("sslmode=verify-ca&sslrootcert={}", pg.other_ca.display()));
    let message = refusal(&verify_ca).await;
    assert!(message.contains("invalid peer certificate: UnknownIssuer"), "{message}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn require_and_the_default_encrypt_without_a_root_certificate() {
    let pg = cluster().await;
    for query in ["sslmode=require", "application_name=default-prefers-tls", "sslmode=prefer"] {
        let mut conn = db::connect(&pg.url("localhost", "postgres", query)).await.unwrap();
        assert!(encrypted(&mut conn).await, "{query}");
    }
    // require checks no name either, as libpq.
    let mut conn = db::connect(&pg.url("127.0.0.1", "postgres", "sslmode=require")).await.unwrap();
    assert!(encrypted(&mut conn).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_full_refuses_a_host_the_certificate_does_not_name_and_verify_ca_takes_it() {
    let pg = cluster().await;
    let roots = format!("sslrootcert={}", pg.ca.display());
    let message = refusal(&pg.url("127.0.0.1", "postgres", &format!("sslmode=verify-full&{roots}"))).await;
    assert!(message.contains("invalid peer certificate"), "{message}");
    assert!(message.contains("certificate not valid for name \"127.0.0.1\""), "{message}");
    let mut conn = db::connect(&pg.url("127.0.0.1", "postgres", &format!("sslmode=verify-ca&{roots}"))).await.unwrap();
    assert!(encrypted(&mut conn).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scram_is_bound_to_the_tls_session() {
    let pg = cluster().await;
    let admin = db::connect_client(&pg.url("localhost", "postgres", "sslmode=require")).await.unwrap();
    admin.batch_execute("CREATE ROLE scram_user LOGIN PASSWORD 'a-scram-secret'").await.unwrap();
    // channel_binding=require refuses SCRAM without -PLUS, and the server
    // refuses binding data that is not the hash of the certificate it sent.
    let roots = format!("sslrootcert={}", pg.ca.display());
    for query in
        ["sslmode=require&channel_binding=require", &format!("sslmode=verify-full&{roots}&channel_binding=require")]
    {
        let url = format!("postgres://scram_user:a-scram-secret@localhost:{}/postgres?{query}", pg.port);
        let mut conn = db::connect(&url).await.unwrap();
        assert!(encrypted(&mut conn).await, "{query}");
    }
    let wrong = format!("postgres://scram_user:wrong@localhost:{}/postgres?sslmode=require", pg.port);
    let message = refusal(&wrong).await;
    assert!(message.contains("password authentication failed"), "{message}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disable_is_refused_by_a_server_that_admits_tls_only() {
    let pg = cluster().await;
    let message = refusal(&pg.url("localhost", "postgres", "sslmode=disable")).await;
    assert!(message.contains("no pg_hba.conf entry"), "{message}");
    assert!(message.contains("no encryption"), "{message}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_sslmode_is_a_configuration_error() {
    let url = "postgres://steward:hunter2@localhost:5432/x?sslmode=verify-everything";
    let message = format!("{:#}", db::pool(url, &pool_options()).err().expect("a pool over a bad sslmode"));
    assert!(message.contains("sslmode=\"verify-everything\""), "{message}");
    assert!(message.contains("disable, prefer, require, verify-ca and verify-full"), "{message}");
    let error = steward::config::Config::from_lookup(|k| (k == "DATABASE_URL").then(|| url.to_owned())).unwrap_err();
    assert_eq!(error.var, "DATABASE_URL");
    assert!(!error.to_string().contains("hunter2"), "{error}");
    let missing = "postgres://localhost/x?sslmode=verify-full&sslrootcert=/nonexistent/ca.pem";
    let message = format!("{:#}", db::connect(missing).await.err().expect("a connection without its CA file"));
    assert!(message.contains("/nonexistent/ca.pem"), "{message}");
}
