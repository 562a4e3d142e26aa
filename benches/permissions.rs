//! `cargo bench --bench permissions`: issue 4's permission figures on this machine.
//!
//! - Hot path (the principal's snapshot is cached): `AuthorizationService/
//!   GetUserCache` and `CheckAccess` over gRPC, 64 concurrent streams on one
//!   channel, alternating in the same run with `grpc.health.v1.Health/Check`
//!   from the same client; ratio to Health (target ≥ 0.7). Measured for a
//!   typical user (one group, three grants) and for the large user below.
//! - The same two routes as REST through Envoy (`envoy/run`), h2load with 64
//!   HTTP/1.1 connections; ratio to the gRPC figure of the same route.
//! - Cold `user/cache` for a user in 50 groups with 500 grants (250 datasets,
//!   20 with a general TOS, half accepted): p50/p90/p99 of 200 sequential
//!   calls, each right after a profile write whose NOTIFY evicts the user.
//!   Every measured answer must carry that write's value, which only a fresh
//!   database load can produce (target p50 < 5 ms). The database part alone
//!   (`ops::load_snapshot`) is printed beside it, to show where the time goes.
//!
//! Figures, not pass/fail; it fails only if an answer is wrong.

// The integration-test harness starts servers and clones databases the same way.
#[path = "../tests/integration/common/mod.rs"]
mod common;

use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use steward::auth::PrincipalKind;
use steward::auth::ops::TokenRequest;
use steward::dataset::audit::Actor;
use steward::dataset::ops::{self, GrantSpec, Grantee, TosSpec};
use steward::dataset::permissions::Level;
use steward::dataset::store;
use steward::proto::authorization::v1::authorization_service_client::AuthorizationServiceClient;
use steward::proto::authorization::v1::{CheckAccessRequest, GetUserCacheRequest};
use steward::proto::google::api::HttpBody;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tonic::metadata::MetadataValue;
use tonic::transport::Channel;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_client::HealthClient;

const STREAMS: usize = 64;
const WARMUP: Duration = Duration::from_secs(2);
const WINDOW: Duration = Duration::from_secs(5);
const ROUNDS: usize = 2;
const COLD_CALLS: usize = 200;
const GROUPS: usize = 50;
const DATASETS: usize = 250;
const DIRECT_GRANTS: usize = 200;
const GROUP_GRANTS_EACH: usize = 6; // 50 × 6 = 300 group grants; 500 in all
const TOS_DATASETS: usize = 20;
const NGHTTP2_CLIENT_VERSION: &str = "1.52.0-1+deb12u3";

/// A principal the bench calls as, with the check-access question it asks.
struct Caller {
    user_id: i64,
    bearer: MetadataValue<tonic::metadata::Ascii>,
    token: String,
    question: String,
}

/// The typical user: one group, three grants (one through the group), on
/// datasets without a TOS.
async fn typical_user(conn: &mut diesel_async::AsyncPgConnection, datasets: &[i64]) -> Caller {
    let (user_id, token) = user(conn, "typical@example.org").await;
    let group = ops::create_group(conn, Actor::System, "typical-lab").await.unwrap();
    ops::add_member(conn, Actor::System, user_id, "typical-lab", false).await.unwrap();
    for (dataset, level, grantee) in [
        (datasets[DATASETS - 3], Level::View, Grantee::User(user_id)),
        (datasets[DATASETS - 2], Level::Edit, Grantee::Group(group)),
        (datasets[DATASETS - 1], Level::View, Grantee::User(user_id)),
    ] {
        grant(conn, dataset, level, grantee).await;
    }
    caller(user_id, token, r#"{"dataset":"ds-248","permission":"edit"}"#)
}

/// The large user: member of 50 groups, 200 direct and 300 group grants over
/// 250 datasets; 20 datasets have a general TOS, of which the user accepted 10.
async fn large_user(conn: &mut diesel_async::AsyncPgConnection, datasets: &[i64]) -> Caller {
    let (user_id, token) = user(conn, "large@example.org").await;
    for (i, &dataset) in datasets.iter().take(TOS_DATASETS).enumerate() {
        let name = format!("TOS {i}");
        let spec = TosSpec {
            name: &name,
            text: "Cite the dataset.",
            dataset_id: Some(dataset),
            version_id: None,
            service: None,
            effective_at: None,
            retired_at: None,
        };
        let tos = ops::create_tos_document(conn, Actor::System, spec).await.unwrap();
        if i % 2 == 0 {
            ops::accept_tos(conn, user_id, tos).await.unwrap();
        }
    }
    let levels = [Level::View, Level::Edit, Level::Manage, Level::View, Level::Admin];
    for (i, &dataset) in datasets.iter().take(DIRECT_GRANTS).enumerate() {
        grant(conn, dataset, levels[i % levels.len()], Grantee::User(user_id)).await;
    }
    for g in 0..GROUPS {
        let name = format!("large-group-{g:02}");
        let group = ops::create_group(conn, Actor::System, &name).await.unwrap();
        ops::add_member(conn, Actor::System, user_id, &name, g == 0).await.unwrap();
        for k in 0..GROUP_GRANTS_EACH {
            // Distinct datasets per group; spills past the direct grants' 200.
            let dataset = datasets[(g * GROUP_GRANTS_EACH + k) % DATASETS];
            grant(conn, dataset, levels[(g + k) % 3], Grantee::Group(group)).await;
        }
    }
    caller(user_id, token, r#"{"dataset":"ds-241","permission":"view"}"#)
}

async fn user(conn: &mut diesel_async::AsyncPgConnection, email: &str) -> (i64, String) {
    let request = TokenRequest { email: email.into(), role: None, description: "bench".into(), expires_in: None };
    let created = steward::auth::ops::create_user_token(conn, request).await.unwrap();
    (created.user_id, created.token)
}

async fn grant(conn: &mut diesel_async::AsyncPgConnection, dataset_id: i64, level: Level, grantee: Grantee) {
    let spec = GrantSpec { dataset_id, version_id: None, level, grantee, source: "manual" };
    assert!(ops::grant(conn, Actor::System, spec).await.unwrap().is_some(), "duplicate fixture grant");
}

fn caller(user_id: i64, token: String, question: &str) -> Caller {
    let bearer = format!("Bearer {token}").parse().unwrap();
    Caller { user_id, bearer, token, question: question.to_owned() }
}

fn user_cache_request(caller: &Caller) -> tonic::Request<GetUserCacheRequest> {
    let mut request = tonic::Request::new(GetUserCacheRequest::default());
    request.metadata_mut().insert("authorization", caller.bearer.clone());
    request
}

fn check_access_request(
    bearer: &MetadataValue<tonic::metadata::Ascii>,
    question: &str,
) -> tonic::Request<CheckAccessRequest> {
    let body =
        HttpBody { content_type: "application/json".into(), data: question.as_bytes().to_vec(), extensions: vec![] };
    let mut request = tonic::Request::new(CheckAccessRequest { body: Some(body) });
    request.metadata_mut().insert("authorization", bearer.clone());
    request
}

const ALLOWED: &[u8] = br#"{"allowed":true"#;

/// Calls per second of `call` from `STREAMS` concurrent tasks over one connection.
async fn throughput<F, Fut>(call: F) -> f64
where
    F: Fn() -> Fut + Clone + Send + 'static,
    Fut: Future<Output = bool> + Send,
{
    let counting = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicBool::new(false));
    let count = Arc::new(AtomicU64::new(0));
    let failures = Arc::new(AtomicU64::new(0));
    let tasks: Vec<_> = (0..STREAMS)
        .map(|_| {
            let (call, counting, done, count, failures) =
                (call.clone(), counting.clone(), done.clone(), count.clone(), failures.clone());
            tokio::spawn(async move {
                while !done.load(Ordering::Relaxed) {
                    let ok = call().await;
                    if counting.load(Ordering::Relaxed) {
                        let counter = if ok { &count } else { &failures };
                        counter.fetch_add(1, Ordering::Relaxed);
                    }
                }
            })
        })
        .collect();
    tokio::time::sleep(WARMUP).await;
    counting.store(true, Ordering::Relaxed);
    let started = Instant::now();
    tokio::time::sleep(WINDOW).await;
    counting.store(false, Ordering::Relaxed);
    let elapsed = started.elapsed().as_secs_f64();
    done.store(true, Ordering::Relaxed);
    for task in tasks {
        task.await.unwrap();
    }
    assert_eq!(failures.load(Ordering::Relaxed), 0, "calls failed or answered wrongly during the measurement");
    count.load(Ordering::Relaxed) as f64 / elapsed
}

async fn user_cache_rate(client: &AuthorizationServiceClient<Channel>, caller: &Caller) -> f64 {
    let (client, bearer) = (client.clone(), caller.bearer.clone());
    throughput(move || {
        let (mut client, bearer) = (client.clone(), bearer.clone());
        async move {
            let mut request = tonic::Request::new(GetUserCacheRequest::default());
            request.metadata_mut().insert("authorization", bearer);
            client.get_user_cache(request).await.is_ok_and(|r| r.get_ref().data.starts_with(b"{\"id\":"))
        }
    })
    .await
}

async fn check_access_rate(client: &AuthorizationServiceClient<Channel>, caller: &Caller) -> f64 {
    let (client, bearer, question) = (client.clone(), caller.bearer.clone(), Arc::new(caller.question.clone()));
    throughput(move || {
        let (mut client, bearer, question) = (client.clone(), bearer.clone(), question.clone());
        async move {
            let request = check_access_request(&bearer, &question);
            client.check_access(request).await.is_ok_and(|r| r.get_ref().data.starts_with(ALLOWED))
        }
    })
    .await
}

async fn health_rate(client: &HealthClient<Channel>) -> f64 {
    let client = client.clone();
    throughput(move || {
        let mut client = client.clone();
        async move { client.check(HealthCheckRequest { service: String::new() }).await.is_ok() }
    })
    .await
}

/// The answer's `pi`, as a marker of which snapshot served it.
async fn user_cache_body(client: &mut AuthorizationServiceClient<Channel>, caller: &Caller) -> String {
    let reply = client.get_user_cache(user_cache_request(caller)).await.expect("user/cache").into_inner();
    String::from_utf8(reply.data).unwrap()
}

/// Proves the hot path is cached: a profile change written without its NOTIFY
/// stays invisible, then the proper write (with NOTIFY) shows up.
async fn assert_cached(pool: &steward::db::Pool, client: &mut AuthorizationServiceClient<Channel>, caller: &Caller) {
    let mut conn = pool.get().await.unwrap();
    ops::update_user_profile(&mut conn, Actor::System, caller.user_id, "", "cached", false).await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    while !user_cache_body(client, caller).await.contains(r#""pi":"cached""#) {
        assert!(Instant::now() < deadline, "the profile write never showed up");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    store::update_user_profile(&mut conn, caller.user_id, "", "silent", false).await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(
        user_cache_body(client, caller).await.contains(r#""pi":"cached""#),
        "user/cache read the database: the permission cache is not in use"
    );
    ops::update_user_profile(&mut conn, Actor::System, caller.user_id, "", "", false).await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
}

/// p50/p90/p99 in milliseconds.
fn percentiles(mut samples: Vec<Duration>) -> [f64; 3] {
    samples.sort_unstable();
    let at = |p: f64| samples[((samples.len() as f64 * p).ceil() as usize).clamp(1, samples.len()) - 1];
    [at(0.50), at(0.90), at(0.99)].map(|d| d.as_secs_f64() * 1e3)
}

/// Cold `user/cache` latencies: each call follows a write that evicts the user
/// and must return that write's value. Returns the samples and how many calls
/// still saw the previous snapshot (eviction not yet delivered; not counted).
async fn cold_user_cache(
    pool: &steward::db::Pool,
    client: &mut AuthorizationServiceClient<Channel>,
    caller: &Caller,
) -> (Vec<Duration>, usize) {
    let mut conn = pool.get().await.unwrap();
    let (mut samples, mut stale) = (Vec::with_capacity(COLD_CALLS), 0);
    for round in 0..COLD_CALLS + 10 {
        let pi = format!("round-{round}");
        ops::update_user_profile(&mut conn, Actor::System, caller.user_id, "", &pi, false).await.unwrap();
        // NOTIFY is delivered on commit; give the listener a moment to evict.
        tokio::time::sleep(Duration::from_millis(5)).await;
        let marker = format!(r#""pi":"{pi}""#);
        loop {
            let started = Instant::now();
            let body = user_cache_body(client, caller).await;
            let took = started.elapsed();
            if body.contains(&marker) {
                if round >= 10 {
                    samples.push(took);
                }
                break;
            }
            stale += 1;
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    }
    (samples, stale)
}

/// The database part alone: `ops::load_snapshot` on one pooled connection.
async fn cold_load(pool: &steward::db::Pool, caller: &Caller) -> Vec<Duration> {
    let mut conn = pool.get().await.unwrap();
    let mut samples = Vec::with_capacity(COLD_CALLS);
    for round in 0..COLD_CALLS + 10 {
        let started = Instant::now();
        let snapshot = ops::load_snapshot(&mut conn, PrincipalKind::User, caller.user_id).await.unwrap();
        let took = started.elapsed();
        assert_eq!(snapshot.inputs.grants.len(), DIRECT_GRANTS + GROUPS * GROUP_GRANTS_EACH);
        if round >= 10 {
            samples.push(took);
        }
    }
    samples
}

/// One HTTP/1.1 exchange over a fresh connection: (status, body).
async fn http(port: u16, method: &str, path: &str, headers: &[(&str, &str)], body: &str) -> Option<(u16, String)> {
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port)).await.ok()?;
    let mut request = format!("{method} {path} HTTP/1.1\r\nhost: 127.0.0.1\r\nconnection: close\r\n");
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str(&format!("content-length: {}\r\n\r\n{body}", body.len()));
    stream.write_all(request.as_bytes()).await.ok()?;
    let mut response = Vec::new();
    stream.read_to_end(&mut response).await.ok()?;
    let response = String::from_utf8_lossy(&response).into_owned();
    let status = response.split(' ').nth(1)?.parse().ok()?;
    let body = response.split_once("\r\n\r\n").map(|(_, b)| b.to_owned()).unwrap_or_default();
    Some((status, body))
}

/// A free loopback port below the ephemeral range, from `from` up.
fn free_port(from: u16) -> u16 {
    (from..32000).find(|p| std::net::TcpListener::bind(("127.0.0.1", *p)).is_ok()).expect("a free port")
}

/// Installs h2load (Debian nghttp2-client, pinned) when it is missing.
fn ensure_h2load() {
    if std::process::Command::new("h2load").arg("--version").output().is_ok_and(|o| o.status.success()) {
        return;
    }
    let script = format!(
        "set -e; s=; [ \"$(id -u)\" = 0 ] || s=sudo; $s apt-get update -qq; \
         $s env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
         nghttp2-client={NGHTTP2_CLIENT_VERSION} >/dev/null"
    );
    let status = std::process::Command::new("sh").args(["-c", &script]).status().expect("running apt-get");
    assert!(status.success(), "installing nghttp2-client failed");
}

/// Requests/s from h2load over `connections` HTTP/1.1 connections; panics
/// unless every request finished with a 2xx.
async fn h2load(url: &str, headers: &[String], body: Option<&std::path::Path>) -> f64 {
    let mut command = tokio::process::Command::new("h2load");
    command.args(["--h1", "-t", "1", "-c", &STREAMS.to_string()]);
    command.args(["-D", &(WINDOW.as_secs() * 2).to_string(), "--warm-up-time", &WARMUP.as_secs().to_string()]);
    for header in headers {
        command.args(["-H", header]);
    }
    if let Some(body) = body {
        command.arg("-d").arg(body);
    }
    let output = command.arg(url).stdin(Stdio::null()).output().await.expect("running h2load");
    let out = String::from_utf8_lossy(&output.stdout);
    let rate = out
        .lines()
        .find_map(|l| l.strip_prefix("finished in ")?.split(", ").nth(1)?.strip_suffix(" req/s")?.parse::<f64>().ok());
    let all_ok = out.lines().any(|l| l.starts_with("status codes: ") && l.contains(" 0 3xx, 0 4xx, 0 5xx"))
        && out.lines().any(|l| l.starts_with("requests: ") && l.contains(" 0 failed, 0 errored"));
    match rate {
        Some(rate) if output.status.success() && all_ok => rate,
        _ => panic!("h2load {url}: not every request succeeded\n{out}{}", String::from_utf8_lossy(&output.stderr)),
    }
}

/// REST through Envoy: (user/cache req/s, check-access req/s, /healthz pass-through req/s).
async fn rest(upstream: std::net::SocketAddr, caller: &Caller, scratch: &std::path::Path) -> (f64, f64, f64) {
    ensure_h2load();
    let port = free_port(18600);
    let repo = env!("CARGO_MANIFEST_DIR");
    // Envoy exits with its parent: this process stays alive while it is needed.
    let mut envoy = tokio::process::Command::new(format!("{repo}/envoy/run"))
        .env("ENVOY_PORT", port.to_string())
        .env("ENVOY_BASE_ID", port.to_string())
        .env("STEWARD_UPSTREAM", upstream.to_string())
        .env("STEWARD_BIN", env!("CARGO_BIN_EXE_steward"))
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(scratch.join("envoy.log")).unwrap())
        .stderr(std::fs::File::create(scratch.join("envoy.err")).unwrap())
        .kill_on_drop(true)
        .spawn()
        .expect("starting envoy/run");
    let deadline = Instant::now() + Duration::from_secs(300); // the first run installs Envoy
    while http(port, "GET", "/healthz", &[], "").await.is_none_or(|(status, _)| status != 200) {
        assert!(envoy.try_wait().unwrap().is_none(), "envoy/run exited; see {}", scratch.display());
        assert!(Instant::now() < deadline, "Envoy did not come up");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let auth = format!("Bearer {}", caller.token);
    let headers = [("authorization", auth.as_str()), ("content-type", "application/json")];
    let (status, body) = http(port, "GET", "/api/v1/user/cache", &headers, "").await.unwrap();
    assert!(status == 200 && body.contains(r#""email":"typical@example.org""#), "REST user/cache: {status} {body}");
    let (status, body) = http(port, "POST", "/api/v1/check-access", &headers, &caller.question).await.unwrap();
    assert!(status == 200 && body.contains(r#""allowed":true"#), "REST check-access: {status} {body}");

    let question = scratch.join("question.json");
    std::fs::write(&question, &caller.question).unwrap();
    let base = format!("http://127.0.0.1:{port}");
    let auth = vec![format!("authorization: {auth}")];
    let user_cache = h2load(&format!("{base}/api/v1/user/cache"), &auth, None).await;
    let mut json = auth.clone();
    json.push("content-type: application/json".into());
    let check_access = h2load(&format!("{base}/api/v1/check-access"), &json, Some(&question)).await;
    let healthz = h2load(&format!("{base}/healthz"), &[], None).await;
    envoy.kill().await.unwrap();
    (user_cache, check_access, healthz)
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        // One token drives tens of thousands of calls a second: measure the server, not the limiter.
        let (app, _) = common::TestApp::start_with(common::TestDb::new().await, &[("STEWARD_RATE_LIMIT", "off")]).await;
        let pool = app.db.pool();
        let mut conn = pool.get().await.unwrap();
        let setup = Instant::now();
        let mut datasets = Vec::with_capacity(DATASETS);
        for i in 0..DATASETS {
            let row = ops::create_dataset(&mut conn, Actor::System, &format!("ds-{i:03}"), "", false).await.unwrap();
            datasets.push(row.id);
        }
        let typical = typical_user(&mut conn, &datasets).await;
        let large = large_user(&mut conn, &datasets).await;
        drop(conn);
        let setup = setup.elapsed();

        let channel = app.channel().await;
        let health = HealthClient::new(channel.clone());
        let mut authorization = AuthorizationServiceClient::new(channel);
        let body = user_cache_body(&mut authorization, &large).await;
        let document: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(document["groups"].as_array().unwrap().len(), GROUPS);
        assert_eq!(document["permissions_v2_ignore_tos"].as_object().unwrap().len(), DATASETS);
        assert_eq!(document["missing_tos"].as_array().unwrap().len(), TOS_DATASETS / 2);
        for caller in [&typical, &large] {
            let reply = authorization.check_access(check_access_request(&caller.bearer, &caller.question)).await;
            assert!(reply.unwrap().get_ref().data.starts_with(ALLOWED), "the bench question must be allowed");
            assert_cached(&pool, &mut authorization, caller).await;
        }

        let (cold, stale) = cold_user_cache(&pool, &mut authorization, &large).await;
        let load = cold_load(&pool, &large).await;

        let mut rates: [Vec<f64>; 5] = Default::default();
        for _ in 0..ROUNDS {
            rates[0].push(health_rate(&health).await);
            rates[1].push(user_cache_rate(&authorization, &typical).await);
            rates[2].push(check_access_rate(&authorization, &typical).await);
            rates[3].push(user_cache_rate(&authorization, &large).await);
            rates[4].push(check_access_rate(&authorization, &large).await);
        }
        let scratch = common::scratch_dir("envoy");
        let (rest_cache, rest_check, rest_healthz) = rest(app.addr, &typical, &scratch).await;
        app.stop().await;

        let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
        let [health, cache_typ, check_typ, cache_large, check_large] = rates.map(|r| mean(&r));
        let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
        println!("permission benchmark ({cores} cores shared by client, Steward, PostgreSQL and Envoy)");
        println!(
            "fixture: {DATASETS} datasets; large user in {GROUPS} groups with {} grants, built in {:.1} s",
            DIRECT_GRANTS + GROUPS * GROUP_GRANTS_EACH,
            setup.as_secs_f64()
        );
        println!("gRPC, cached principal, {STREAMS} streams, {ROUNDS} alternating rounds of {}s:", WINDOW.as_secs());
        println!("  grpc.health.v1.Health/Check             {health:>8.0} calls/s");
        for (label, rate) in [
            ("GetUserCache, typical user", cache_typ),
            ("CheckAccess,  typical user", check_typ),
            ("GetUserCache, large user", cache_large),
            ("CheckAccess,  large user", check_large),
        ] {
            println!("  {label:<40}{rate:>8.0} calls/s   {:.2} x Health   target >= 0.70", rate / health);
        }
        println!("REST through Envoy, typical user, h2load, {STREAMS} HTTP/1.1 connections, {}s:", WINDOW.as_secs() * 2);
        println!("  GET  /api/v1/user/cache                  {rest_cache:>8.0} req/s     {:.2} x gRPC", rest_cache / cache_typ);
        println!("  POST /api/v1/check-access                {rest_check:>8.0} req/s     {:.2} x gRPC", rest_check / check_typ);
        println!("  (for scale: GET /healthz passed through  {rest_healthz:>8.0} req/s)");
        let [p50, p90, p99] = percentiles(cold);
        println!("cold GetUserCache, large user, {COLD_CALLS} sequential calls, each after an evicting write:");
        println!("  p50 {p50:.2} ms   p90 {p90:.2} ms   p99 {p99:.2} ms   target p50 < 5 ms   ({stale} calls still cached, not counted)");
        let [p50, p90, p99] = percentiles(load);
        println!("  of which the database load (ops::load_snapshot): p50 {p50:.2} ms   p90 {p90:.2} ms   p99 {p99:.2} ms");
    });
}
