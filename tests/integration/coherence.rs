//! Cache coherence across replicas (issue 4; spec §4.4, scenarios 20, 21 and
//! 26): two `steward serve` instances on ONE database, each with its own
//! permission cache and `LISTEN` connection. A change written once must reach
//! the other replica's `GetUserCache`, `CheckAccess` and credential checks
//! within one second, measured from commit — after first proving that the
//! caches really serve (a change written without a NOTIFY stays invisible), so
//! the timings measure eviction, not cache misses. Once with two in-process
//! servers and changes written through the ops layer; once with two real
//! `steward serve` processes and changes written through one's RPCs.
//!
//! The replica that serves a write must not wait for its own NOTIFY: its next
//! answer is fresh the moment the write returns. That is tested on a replica
//! whose listener is connected to a different database, so its cache is on
//! but no notification ever reaches it — only the writer's own eviction can.

use std::net::SocketAddr;
use std::time::Duration;

use steward::auth::ops as auth_ops;
use steward::auth::store::user_by_email;
use steward::dataset::admin::AdminCaller;
use steward::dataset::audit::Actor;
use steward::dataset::ops::{self, GrantSpec, Grantee};
use steward::dataset::permissions::Level;
use steward::dataset::{grants, store};
use steward::proto::authorization::v1::authorization_service_client::AuthorizationServiceClient;
use steward::proto::authorization::v1::{
    CheckAccessRequest, GetLongLivedTokenRequest, GetUserCacheRequest, RotateLongLivedTokenRequest, WhoAmIRequest,
};
use steward::proto::dataset::v1 as pb;
use steward::proto::dataset::v1::dataset_service_client::DatasetServiceClient;
use steward::proto::google::api::HttpBody;
use tokio::sync::oneshot;
use tokio::time::Instant;
use tonic::{Code, Status};

use crate::common::{TestDb, scratch_dir, spawn_server, test_config, with_bearer};

/// The bound the issue sets for a change to reach every replica.
const LIMIT: Duration = Duration::from_secs(1);
const READER: &str = "reader@example.org";

struct Replica {
    name: &'static str,
    addr: SocketAddr,
    stop: oneshot::Sender<()>,
    task: tokio::task::JoinHandle<anyhow::Result<()>>,
}

async fn replica(name: &'static str, db: &TestDb) -> Replica {
    let data_dir = scratch_dir("replica");
    let config = test_config(&[("DATABASE_URL", db.url()), ("STEWARD_DATA_DIR", data_dir.to_str().unwrap())]);
    let (addr, stop, task) = spawn_server(config).await;
    Replica { name, addr, stop, task }
}

async fn client(addr: SocketAddr) -> AuthorizationServiceClient<tonic::transport::Channel> {
    AuthorizationServiceClient::connect(format!("http://{addr}")).await.expect("connecting to a replica")
}

async fn user_cache(addr: SocketAddr, token: &str) -> Result<String, Status> {
    let request = GetUserCacheRequest { service: String::new(), dsg_token: String::new() };
    let reply = client(addr).await.get_user_cache(with_bearer(request, token)).await?;
    Ok(String::from_utf8(reply.into_inner().data).expect("utf-8 JSON"))
}

async fn check_access(addr: SocketAddr, token: &str, dataset: &str) -> Result<String, Status> {
    let json = format!(r#"{{"dataset":"{dataset}","permission":"view"}}"#);
    let body = HttpBody { content_type: "application/json".into(), data: json.into_bytes(), extensions: vec![] };
    let reply = client(addr).await.check_access(with_bearer(CheckAccessRequest { body: Some(body) }, token)).await?;
    Ok(String::from_utf8(reply.into_inner().data).expect("utf-8 JSON"))
}

/// Polls `holds` on each replica until it is true; asserts that each got
/// there within [`LIMIT`] of `since` (the commit of the change).
async fn everywhere_within_limit(
    replicas: &[(&str, SocketAddr)],
    since: Instant,
    what: &str,
    holds: impl AsyncFn(SocketAddr) -> bool,
) {
    for &(name, addr) in replicas {
        loop {
            if holds(addr).await {
                let took = since.elapsed();
                println!("{what}: replica {name} after {} ms", took.as_millis());
                assert!(took < LIMIT, "{what}: replica {name} took {took:?} (limit {LIMIT:?})");
                break;
            }
            assert!(since.elapsed() < Duration::from_secs(5), "{what}: replica {name} never changed");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
}

/// Proves both permission caches serve: after warming them, a grant written
/// straight to the store (no NOTIFY) must stay invisible. Retried while a
/// replica's listener is still connecting (its cache is off until then).
async fn caches_are_serving(db: &TestDb, replicas: &[SocketAddr], token: &str, user_id: i64) {
    let mut conn = db.conn().await;
    for attempt in 0..50 {
        for &addr in replicas {
            user_cache(addr, token).await.expect("warming the cache");
        }
        let name = format!("probe{attempt}");
        let dataset = ops::create_dataset(&mut conn, Actor::System, &name, "", false).await.unwrap();
        let grant = store::NewGrant {
            dataset_id: dataset.id,
            dataset_version_id: None,
            level: "view",
            user_id: Some(user_id),
            group_id: None,
            service_account_id: None,
            team_group_id: None,
            source: "manual",
            granted_by_user_id: None,
        };
        store::insert_grant(&mut conn, grant).await.unwrap().expect("a new grant");
        let mut stale = true;
        for &addr in replicas {
            stale &= !user_cache(addr, token).await.unwrap().contains(&format!("\"{name}\""));
        }
        if stale {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the replicas never served from their permission caches");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn changes_reach_the_other_replica_within_a_second() {
    let db = TestDb::new().await;
    let token = db.token(READER, None).await;
    db.token("admin@example.org", Some(steward::auth::Role::Admin)).await;
    let mut conn = db.conn().await;
    let reader = user_by_email(&mut conn, READER).await.unwrap().unwrap().id;
    let admin = user_by_email(&mut conn, "admin@example.org").await.unwrap().unwrap().id;
    let caller = AdminCaller { user_id: admin, admin: true, sc: false };
    let fish = ops::create_dataset(&mut conn, Actor::System, "fish2", "", false).await.unwrap();
    let servers = [replica("A", &db).await, replica("B", &db).await];
    let replicas = servers.each_ref().map(|r| (r.name, r.addr));

    // One database: a grant in the store is what both replicas answer.
    let view =
        |grantee| GrantSpec { dataset_id: fish.id, version_id: None, level: Level::View, grantee, source: "manual" };
    let grant = ops::grant(&mut conn, Actor::System, view(Grantee::User(reader))).await.unwrap().expect("new grant");
    for (name, addr) in replicas {
        assert!(user_cache(addr, &token).await.unwrap().contains(r#""fish2":["view"]"#), "{name}");
    }
    grants::delete_grant(&mut conn, caller, "fish2", grant).await.unwrap();
    caches_are_serving(&db, &replicas.map(|(_, addr)| addr), &token, reader).await;
    for (_, addr) in replicas {
        let doc = user_cache(addr, &token).await.unwrap();
        assert!(!doc.contains("fish2"), "both replicas cached the user without fish2: {doc}");
    }
    let shows_fish = async |addr| user_cache(addr, &token).await.unwrap().contains(r#""fish2":["#);
    let lacks_fish = async |addr| !user_cache(addr, &token).await.unwrap().contains("fish2");
    let refused = async |addr| check_access(addr, &token, "fish2").await.unwrap().contains(r#""allowed":false"#);

    // Scenario 20: a grant appears in both cached documents.
    let grant = ops::grant(&mut conn, Actor::System, view(Grantee::User(reader))).await.unwrap().expect("new grant");
    let since = Instant::now();
    everywhere_within_limit(&replicas, since, "grant in user/cache", shows_fish).await;
    let allowed = async |addr| {
        check_access(addr, &token, "fish2").await.unwrap() == r#"{"allowed":true,"reason":"direct_grant"}"#
    };
    everywhere_within_limit(&replicas, since, "grant in check-access", allowed).await;

    // Scenario 21: revoking it (the admin ops, as DeleteGrant runs them) is refused everywhere.
    grants::delete_grant(&mut conn, caller, "fish2", grant).await.unwrap();
    let since = Instant::now();
    everywhere_within_limit(&replicas, since, "revoked grant refused by check-access", refused).await;
    everywhere_within_limit(&replicas, since, "revoked grant gone from user/cache", lacks_fish).await;

    // Scenario 21: a group grant goes with the membership, and with the group.
    let team = ops::create_group(&mut conn, Actor::System, "team").await.unwrap();
    ops::add_member(&mut conn, Actor::System, reader, "team", false).await.unwrap();
    ops::grant(&mut conn, Actor::System, view(Grantee::Group(team))).await.unwrap();
    everywhere_within_limit(&replicas, Instant::now(), "group grant in user/cache", shows_fish).await;
    grants::remove_member(&mut conn, caller, "team", READER).await.unwrap();
    let since = Instant::now();
    everywhere_within_limit(&replicas, since, "membership removed: check-access", refused).await;
    everywhere_within_limit(&replicas, since, "membership removed: user/cache", lacks_fish).await;
    ops::add_member(&mut conn, Actor::System, reader, "team", false).await.unwrap();
    everywhere_within_limit(&replicas, Instant::now(), "member again", shows_fish).await;
    grants::delete_group(&mut conn, caller, "team").await.unwrap();
    let since = Instant::now();
    everywhere_within_limit(&replicas, since, "group deleted: check-access", refused).await;
    everywhere_within_limit(&replicas, since, "group deleted: user/cache", lacks_fish).await;

    // Scenario 26: a disabled user is refused by both replicas.
    auth_ops::set_user_active(&mut conn, READER, false).await.unwrap();
    let since = Instant::now();
    let disabled = |r: Result<String, Status>| {
        r.is_err_and(|s| (s.code(), s.message()) == (Code::Unauthenticated, "User account is disabled."))
    };
    everywhere_within_limit(&replicas, since, "disabled: user/cache", async |addr| {
        disabled(user_cache(addr, &token).await)
    })
    .await;
    everywhere_within_limit(&replicas, since, "disabled: check-access", async |addr| {
        disabled(check_access(addr, &token, "fish2").await)
    })
    .await;

    for Replica { name, stop, task, .. } in servers {
        let _ = stop.send(());
        let result = tokio::time::timeout(Duration::from_secs(40), task).await.expect("replica did not stop");
        result.expect("replica panicked").unwrap_or_else(|e| panic!("replica {name} failed: {e:#}"));
    }
}

// ---------------------------------------------------------------------------
// Two real `steward serve` processes.

/// A `steward serve` child process on the test database. Dropping it stops
/// the process (SIGTERM, then SIGKILL), so a failing test leaves nothing behind.
struct ServeProcess {
    name: &'static str,
    addr: SocketAddr,
    child: Option<std::process::Child>,
    log: std::path::PathBuf,
}

impl ServeProcess {
    /// Starts `steward serve` and waits until it reports SERVING. `keys` is
    /// the keyring both replicas share, as a real deployment's would.
    async fn start(name: &'static str, db: &TestDb, keys: &str) -> ServeProcess {
        for _ in 0..5 {
            let addr = SocketAddr::from(([127, 0, 0, 1], free_port()));
            let dir = scratch_dir("serve");
            let log = dir.join("serve.log");
            let child = std::process::Command::new(env!("CARGO_BIN_EXE_steward"))
                .arg("serve")
                // No `.env` above a scratch dir under /tmp.
                .current_dir(&dir)
                .env("DATABASE_URL", db.url())
                .env("STEWARD_LISTEN", addr.to_string())
                .env("STEWARD_DATA_DIR", dir.join("var"))
                .env("STEWARD_ENCRYPTION_KEYS", keys)
                .env("STEWARD_WORKERS", "0")
                .env("STEWARD_LOG", "warn")
                .stdin(std::process::Stdio::null())
                .stdout(std::process::Stdio::null())
                .stderr(std::fs::File::create(&log).expect("creating the log file"))
                .spawn()
                .expect("starting steward serve");
            let mut process = ServeProcess { name, addr, child: Some(child), log };
            match process.wait_until_serving().await {
                Ok(()) => return process,
                // Someone took the port between our probe and its bind: another port.
                Err(log) if log.contains("cannot listen on") => continue,
                Err(log) => panic!("steward serve ({name}) exited before serving:\n{log}"),
            }
        }
        panic!("steward serve ({name}) found no free port");
    }

    /// Polls gRPC health until SERVING; the process's log if it exits first.
    async fn wait_until_serving(&mut self) -> Result<(), String> {
        use tonic_health::pb::HealthCheckRequest;
        use tonic_health::pb::health_client::HealthClient;
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let child = self.child.as_mut().expect("running");
            if child.try_wait().expect("polling the child").is_some() {
                self.child = None;
                return Err(std::fs::read_to_string(&self.log).unwrap_or_default());
            }
            if let Ok(channel) =
                tonic::transport::Channel::from_shared(format!("http://{}", self.addr)).unwrap().connect().await
            {
                let reply = HealthClient::new(channel).check(HealthCheckRequest { service: String::new() }).await;
                if reply.is_ok_and(|r| r.into_inner().status == 1) {
                    return Ok(());
                }
            }
            assert!(Instant::now() < deadline, "steward serve ({}) did not become SERVING", self.name);
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Stops the process with SIGTERM and asserts it shut down cleanly.
    async fn stop(mut self) {
        let mut child = self.child.take().expect("running");
        terminate(&child);
        let status = tokio::task::spawn_blocking(move || child.wait()).await.unwrap().unwrap();
        let log = std::fs::read_to_string(&self.log).unwrap_or_default();
        assert!(status.success(), "steward serve ({}) exit status {status}:\n{log}", self.name);
    }
}

impl Drop for ServeProcess {
    fn drop(&mut self) {
        let Some(mut child) = self.child.take() else { return };
        terminate(&child);
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while child.try_wait().ok().flatten().is_none() {
            if std::time::Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

fn terminate(child: &std::process::Child) {
    let _ = std::process::Command::new("kill").args(["-TERM", &child.id().to_string()]).status();
}

/// A free loopback port below 32768, outside Linux's ephemeral range, so no
/// outgoing connection is handed it between this probe and the child's bind.
fn free_port() -> u16 {
    use std::sync::atomic::{AtomicU32, Ordering};
    static NEXT: AtomicU32 = AtomicU32::new(0);
    // Spread by process id, so concurrent test runs probe different ports first.
    let base = std::process::id().wrapping_mul(7919);
    loop {
        let offset = base.wrapping_add(NEXT.fetch_add(1, Ordering::Relaxed)) % 12_000;
        let port = 20_000 + u16::try_from(offset).expect("below 12000");
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}

async fn datasets(addr: SocketAddr) -> DatasetServiceClient<tonic::transport::Channel> {
    DatasetServiceClient::connect(format!("http://{addr}")).await.expect("connecting to a replica")
}

async fn who_am_i(addr: SocketAddr, token: &str) -> Result<String, Status> {
    Ok(client(addr).await.who_am_i(with_bearer(WhoAmIRequest {}, token)).await?.into_inner().email)
}

fn unauthenticated<T: std::fmt::Debug>(result: Result<T, Status>) -> bool {
    result.is_err_and(|s| s.code() == Code::Unauthenticated)
}

/// A service account with `n` fresh tokens, made through `addr`'s DatasetService.
async fn service_account(addr: SocketAddr, admin: &str, name: &str, n: usize) -> Vec<(i64, String)> {
    let mut datasets = datasets(addr).await;
    let create =
        pb::CreateServiceAccountRequest { name: name.into(), description: String::new(), request_id: String::new() };
    datasets.create_service_account(with_bearer(create, admin)).await.expect("CreateServiceAccount");
    let mut tokens = Vec::new();
    for _ in 0..n {
        let mint = pb::CreateServiceAccountTokenRequest { name: name.into(), description: "coherence".into() };
        let minted = datasets.create_service_account_token(with_bearer(mint, admin)).await.unwrap().into_inner();
        tokens.push((minted.token_info.unwrap().id, minted.token));
    }
    tokens
}

async fn create_grant(addr: SocketAddr, admin: &str, dataset: &str, email: &str) -> i64 {
    let request = pb::CreateGrantRequest {
        dataset: dataset.into(),
        grantee: Some(pb::create_grant_request::Grantee::UserEmail(email.into())),
        level: pb::AccessLevel::View as i32,
        version: String::new(),
        request_id: String::new(),
    };
    let reply = datasets(addr).await.create_grant(with_bearer(request, admin)).await.expect("CreateGrant");
    reply.into_inner().grant.unwrap().id
}

async fn delete_grant(addr: SocketAddr, admin: &str, dataset: &str, grant_id: i64) {
    let request = pb::DeleteGrantRequest { dataset: dataset.into(), grant_id };
    datasets(addr).await.delete_grant(with_bearer(request, admin)).await.expect("DeleteGrant");
}

async fn revoke_service_account_token(addr: SocketAddr, admin: &str, name: &str, token_id: i64) {
    let request = pb::RevokeServiceAccountTokenRequest { name: name.into(), token_id };
    datasets(addr).await.revoke_service_account_token(with_bearer(request, admin)).await.expect("RevokeToken");
}

async fn disable_service_account(addr: SocketAddr, admin: &str, name: &str) {
    let request = pb::SetServiceAccountActiveRequest { name: name.into(), is_active: false };
    datasets(addr).await.set_service_account_active(with_bearer(request, admin)).await.expect("SetActive");
}

/// The issue's test: a grant revoked through one `steward serve` is refused
/// through the other within 1 s; so are a revoked token, a disabled service
/// account (both through A's DatasetService) and a disabled user (the CLI:
/// no RPC disables a user).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_serve_processes_refuse_what_the_other_revoked_within_a_second() {
    let db = TestDb::new().await;
    let reader = db.token(READER, None).await;
    let admin = db.token("admin@example.org", Some(steward::auth::Role::Admin)).await;
    let mut conn = db.conn().await;
    let reader_id = user_by_email(&mut conn, READER).await.unwrap().unwrap().id;
    ops::create_dataset(&mut conn, Actor::System, "fish2", "", false).await.unwrap();
    let keys = steward::crypto::Keyring::generate().to_spec();
    let a = ServeProcess::start("A", &db, &keys).await;
    let b = ServeProcess::start("B", &db, &keys).await;
    let on_b = [("B", b.addr)];

    // Both caches serve (B's listener connects after it reports SERVING).
    caches_are_serving(&db, &[a.addr, b.addr], &reader, reader_id).await;
    let robot = service_account(a.addr, &admin, "robot", 2).await;

    // A grant written through A appears on B.
    let grant = create_grant(a.addr, &admin, "fish2", READER).await;
    let allowed = async |addr| check_access(addr, &reader, "fish2").await.unwrap().contains(r#""allowed":true"#);
    everywhere_within_limit(&on_b, Instant::now(), "grant through A: check-access on B", allowed).await;

    // B caches the allowed answer and the credentials; A revokes; B refuses within 1 s.
    assert!(user_cache(b.addr, &reader).await.unwrap().contains(r#""fish2":["view"]"#));
    assert!(allowed(b.addr).await);
    for (_, token) in &robot {
        who_am_i(b.addr, token).await.expect("a live service-account token");
    }
    delete_grant(a.addr, &admin, "fish2", grant).await;
    let since = Instant::now();
    let refused = async |addr| check_access(addr, &reader, "fish2").await.unwrap().contains(r#""allowed":false"#);
    everywhere_within_limit(&on_b, since, "grant revoked through A: check-access on B", refused).await;
    let lacks_fish = async |addr| !user_cache(addr, &reader).await.unwrap().contains("fish2");
    everywhere_within_limit(&on_b, since, "grant revoked through A: user/cache on B", lacks_fish).await;

    let (revoked_id, revoked) = &robot[0];
    revoke_service_account_token(a.addr, &admin, "robot", *revoked_id).await;
    let since = Instant::now();
    everywhere_within_limit(&on_b, since, "token revoked through A: B", async |addr| {
        unauthenticated(who_am_i(addr, revoked).await)
    })
    .await;
    let other = &robot[1].1;
    who_am_i(b.addr, other).await.expect("the account's other token still works");

    disable_service_account(a.addr, &admin, "robot").await;
    let since = Instant::now();
    everywhere_within_limit(&on_b, since, "service account disabled through A: B", async |addr| {
        unauthenticated(who_am_i(addr, other).await)
    })
    .await;

    user_cache(b.addr, &reader).await.expect("the reader is cached on B");
    let cli_dir = scratch_dir("cli");
    let disable = std::process::Command::new(env!("CARGO_BIN_EXE_steward"))
        .args(["user", "disable", READER])
        .current_dir(&cli_dir)
        .env("DATABASE_URL", db.url())
        .env("STEWARD_DATA_DIR", cli_dir.join("var"))
        .env("STEWARD_ENCRYPTION_KEYS", &keys)
        .env("STEWARD_LOG", "warn")
        .output()
        .expect("running steward user disable");
    assert!(disable.status.success(), "{}", String::from_utf8_lossy(&disable.stderr));
    let since = Instant::now();
    everywhere_within_limit(&[("A", a.addr), ("B", b.addr)], since, "user disabled by the CLI", async |addr| {
        unauthenticated(user_cache(addr, &reader).await)
    })
    .await;

    a.stop().await;
    b.stop().await;
}

// ---------------------------------------------------------------------------
// The writer's own freshness.

/// An in-process replica on `db` whose `LISTEN` connection is on another
/// database: it caches (the listener is connected) but never hears a NOTIFY
/// of `db`'s, as if delivery were slower than the caller's next request.
struct DeafReplica {
    addr: SocketAddr,
    stop: tokio::sync::watch::Sender<bool>,
    server: tokio::task::JoinHandle<anyhow::Result<()>>,
    _elsewhere: TestDb,
}

impl DeafReplica {
    async fn start(db: &TestDb, keyring: steward::crypto::Keyring) -> DeafReplica {
        let elsewhere = TestDb::new().await;
        let data_dir = scratch_dir("deaf");
        let config = test_config(&[("DATABASE_URL", db.url()), ("STEWARD_DATA_DIR", data_dir.to_str().unwrap())]);
        let listener = tokio::net::TcpListener::bind(config.listen).await.expect("binding a test port");
        let addr = listener.local_addr().unwrap();
        let (health, health_service) = steward::server::health().await;
        health.set_serving(true).await;
        let state = steward::app::AppState::new(config, db.pool(), keyring, health).unwrap();
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let mut shutdown = stopped.clone();
        let shutdown = async move {
            let _ = shutdown.changed().await;
        };
        let server = tokio::spawn(steward::server::serve(state.clone(), health_service, listener, shutdown));
        tokio::spawn(state.resolver.clone().listen(elsewhere.url().to_owned(), stopped));
        let deadline = Instant::now() + Duration::from_secs(10);
        while !state.resolver.is_caching() {
            assert!(Instant::now() < deadline, "the listener never connected");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        DeafReplica { addr, stop, server, _elsewhere: elsewhere }
    }

    async fn stop(self) {
        let _ = self.stop.send(true);
        let result = tokio::time::timeout(Duration::from_secs(40), self.server).await.expect("server did not stop");
        result.expect("server panicked").expect("server failed");
    }
}

/// DatasetService writes (`EvictAfterWrites`): the next request to the same
/// replica is answered fresh, with no polling. The controls show that the
/// same changes written without the replica's own eviction stay invisible
/// there, so these assertions fail if the eviction is missing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_writer_answers_fresh_as_soon_as_its_dataset_write_returns() {
    let db = TestDb::new().await;
    let reader = db.token(READER, None).await;
    let admin = db.token("admin@example.org", Some(steward::auth::Role::Admin)).await;
    let mut conn = db.conn().await;
    let reader_id = user_by_email(&mut conn, READER).await.unwrap().unwrap().id;
    let admin_id = user_by_email(&mut conn, "admin@example.org").await.unwrap().unwrap().id;
    let fish = ops::create_dataset(&mut conn, Actor::System, "fish2", "", false).await.unwrap();
    let server = DeafReplica::start(&db, steward::crypto::Keyring::generate()).await;
    let at = server.addr;
    let robot = service_account(at, &admin, "robot", 3).await;
    let shows_fish = async || user_cache(at, &reader).await.unwrap().contains(r#""fish2":["view"]"#);
    let allowed = async || check_access(at, &reader, "fish2").await.unwrap().contains(r#""allowed":true"#);

    // Control: a revocation with its NOTIFY but without this replica's own
    // eviction (the ops `DeleteGrant` runs) leaves its cached answers stale.
    let spec = GrantSpec {
        dataset_id: fish.id,
        version_id: None,
        level: Level::View,
        grantee: Grantee::User(reader_id),
        source: "manual",
    };
    let grant = ops::grant(&mut conn, Actor::System, spec).await.unwrap().expect("new grant");
    assert!(shows_fish().await && allowed().await);
    let caller = AdminCaller { user_id: admin_id, admin: true, sc: false };
    grants::delete_grant(&mut conn, caller, "fish2", grant).await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(shows_fish().await && allowed().await, "the control must be stale: is the listener really deaf?");
    let (control_id, control) = &robot[0];
    who_am_i(at, control).await.expect("caching the control token");
    auth_ops::revoke_token(&mut conn, *control_id).await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    who_am_i(at, control).await.expect("the control token must be stale");

    // The same revocation through this replica's DatasetService: refused at once.
    let grant = create_grant(at, &admin, "fish2", READER).await;
    assert!(shows_fish().await && allowed().await);
    delete_grant(at, &admin, "fish2", grant).await;
    assert!(!allowed().await, "check-access on the writer right after DeleteGrant");
    assert!(!shows_fish().await, "user/cache on the writer right after DeleteGrant");

    // Credentials likewise: a revoked token and a disabled account.
    let ((revoked_id, revoked), (_, other)) = (&robot[1], &robot[2]);
    who_am_i(at, revoked).await.expect("caching the token");
    who_am_i(at, other).await.expect("caching the token");
    revoke_service_account_token(at, &admin, "robot", *revoked_id).await;
    assert!(unauthenticated(who_am_i(at, revoked).await), "a token revoked through the writer");
    who_am_i(at, other).await.expect("caching the token again");
    disable_service_account(at, &admin, "robot").await;
    assert!(unauthenticated(who_am_i(at, other).await), "an account disabled through the writer");

    server.stop().await;
}

/// AuthorizationService's token writes: the replica that revoked a token
/// refuses it on the next request, not when its NOTIFY arrives.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_writer_refuses_a_token_its_compat_route_replaced_at_once() {
    use steward::auth::user_tokens;
    let db = TestDb::new().await;
    let email = "longlived@example.org";
    let api = db.token(email, None).await;
    let mut conn = db.conn().await;
    let user_id = user_by_email(&mut conn, email).await.unwrap().unwrap().id;
    // A long-lived token derived from a key this replica's keyring no longer holds.
    let retired_keyring = steward::crypto::Keyring::generate();
    let orphan = user_tokens::long_lived_token(&mut conn, &retired_keyring, user_id).await.unwrap();
    let server = DeafReplica::start(&db, steward::crypto::Keyring::generate()).await;
    let at = server.addr;
    let token_of = |reply: tonic::Response<HttpBody>| {
        let json: serde_json::Value = serde_json::from_slice(&reply.into_inner().data).unwrap();
        json["token"].as_str().expect("a token").to_owned()
    };

    // Control: a revocation with its NOTIFY but without this replica's own eviction stays unseen.
    let (control_id, control) = db
        .token_with(steward::auth::ops::TokenRequest {
            email: email.into(),
            role: None,
            description: "control".into(),
            expires_in: None,
        })
        .await;
    who_am_i(at, &control).await.expect("caching the control token");
    auth_ops::revoke_token(&mut conn, control_id).await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    who_am_i(at, &control).await.expect("the control token must be stale: is the listener really deaf?");

    // GetLongLivedToken replaces a token whose key left the keyring.
    who_am_i(at, &orphan).await.expect("caching the orphaned long-lived token");
    let reply = client(at).await.get_long_lived_token(with_bearer(GetLongLivedTokenRequest {}, &api)).await;
    let current = token_of(reply.expect("GetLongLivedToken"));
    assert_ne!(current, orphan);
    assert!(unauthenticated(who_am_i(at, &orphan).await), "the replaced token, right after GetLongLivedToken");

    // RotateLongLivedToken revokes the current one.
    who_am_i(at, &current).await.expect("caching the long-lived token");
    let reply = client(at).await.rotate_long_lived_token(with_bearer(RotateLongLivedTokenRequest {}, &api)).await;
    let rotated = token_of(reply.expect("RotateLongLivedToken"));
    assert!(unauthenticated(who_am_i(at, &current).await), "the rotated-out token, right after the rotation");
    assert_eq!(who_am_i(at, &rotated).await.unwrap(), email);
    assert_eq!(who_am_i(at, &api).await.unwrap(), email, "other tokens keep working");

    server.stop().await;
}
