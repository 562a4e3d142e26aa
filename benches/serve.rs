//! `cargo bench --bench serve`: prints Steward's headline figures on this machine.
//!
//! - first `serve` start on an empty data dir (runs `initdb`) until SERVING;
//! - cold `serve` start with an existing embedded cluster until SERVING;
//! - throughput of authenticated `WhoAmI` against unauthenticated
//!   `grpc.health.v1.Health/Check`, same client, same 64 concurrent streams,
//!   measured alternately in the same run, and their ratio (target ≥ 0.8).
//!
//! Figures, not pass/fail: record them in the README's performance section.

// The integration-test harness starts and waits for servers the same way.
#[path = "../tests/integration/common/mod.rs"]
mod common;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use steward::auth::ops::{self, TokenRequest};
use steward::config::Config;
use steward::db::Database;
use steward::proto::authorization::v1::WhoAmIRequest;
use steward::proto::authorization::v1::authorization_service_client::AuthorizationServiceClient;
use tonic::transport::Channel;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_client::HealthClient;

const STREAMS: usize = 64;
const WARMUP: Duration = Duration::from_secs(2);
const WINDOW: Duration = Duration::from_secs(5);
const ROUNDS: usize = 2;

fn config(data_dir: &std::path::Path) -> Config {
    let vars = [
        ("STEWARD_LISTEN", "127.0.0.1:0".to_owned()),
        ("STEWARD_DATA_DIR", data_dir.display().to_string()),
        ("STEWARD_LOG", "warn".to_owned()),
        // One token drives tens of thousands of calls a second: measure the server, not the limiter.
        ("STEWARD_RATE_LIMIT", "off".to_owned()),
    ];
    Config::from_lookup(|k| vars.iter().find(|(name, _)| *name == k).map(|(_, v)| v.clone())).expect("configuration")
}

/// Starts `serve` and returns once health is SERVING, with the time that took.
async fn start(config: Config) -> (Running, Duration) {
    let started = Instant::now();
    let (addr, stop, task) = common::spawn_server(config).await;
    (Running { addr, stop, task }, started.elapsed())
}

struct Running {
    addr: SocketAddr,
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<anyhow::Result<()>>,
}

async fn stop(running: Running) {
    let _ = running.stop.send(());
    running.task.await.expect("serve panicked").expect("serve failed");
}

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
                        if ok {
                            count.fetch_add(1, Ordering::Relaxed);
                        } else {
                            failures.fetch_add(1, Ordering::Relaxed);
                        }
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
    assert_eq!(failures.load(Ordering::Relaxed), 0, "calls failed during the measurement");
    count.load(Ordering::Relaxed) as f64 / elapsed
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        // Under /tmp: the unprivileged PostgreSQL account must reach it when run as root.
        let data_dir = std::env::temp_dir().join(format!("steward-bench-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&data_dir);

        let (running, first) = start(config(&data_dir)).await;
        stop(running).await;
        let (running, cold) = start(config(&data_dir)).await;

        let database = Database::locate(&config(&data_dir)).unwrap();
        let mut conn = steward::db::connect(&database.url).await.unwrap();
        let token = ops::create_user_token(
            &mut conn,
            TokenRequest {
                email: "bench@example.org".into(),
                role: None,
                description: "bench".into(),
                expires_in: None,
            },
        )
        .await
        .unwrap()
        .token;
        drop(conn);

        let channel = Channel::from_shared(format!("http://{}", running.addr)).unwrap().connect().await.unwrap();
        let health = HealthClient::new(channel.clone());
        let authorization = AuthorizationServiceClient::new(channel);
        let bearer: tonic::metadata::MetadataValue<_> = format!("Bearer {token}").parse().unwrap();

        let (mut health_rates, mut whoami_rates) = (Vec::new(), Vec::new());
        for _ in 0..ROUNDS {
            let client = health.clone();
            health_rates.push(
                throughput(move || {
                    let mut client = client.clone();
                    async move { client.check(HealthCheckRequest { service: String::new() }).await.is_ok() }
                })
                .await,
            );
            let (client, bearer) = (authorization.clone(), bearer.clone());
            whoami_rates.push(
                throughput(move || {
                    let (mut client, bearer) = (client.clone(), bearer.clone());
                    async move {
                        let mut request = tonic::Request::new(WhoAmIRequest {});
                        request.metadata_mut().insert("authorization", bearer);
                        client.who_am_i(request).await.is_ok()
                    }
                })
                .await,
            );
        }
        stop(running).await;
        let _ = std::fs::remove_dir_all(&data_dir);

        let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
        let (health_rps, whoami_rps) = (mean(&health_rates), mean(&whoami_rates));
        println!(
            "steward serve benchmark ({} cores, {STREAMS} concurrent streams, {ROUNDS} alternating rounds of {}s)",
            std::thread::available_parallelism().map_or(0, |n| n.get()),
            WINDOW.as_secs()
        );
        println!("first start (initdb) until SERVING    {:>8.0} ms   target < 15000 ms", first.as_secs_f64() * 1e3);
        println!("cold start, existing cluster          {:>8.0} ms   target < 2000 ms", cold.as_secs_f64() * 1e3);
        println!("grpc.health.v1.Health/Check           {health_rps:>8.0} calls/s");
        println!("AuthorizationService/WhoAmI (token)   {whoami_rps:>8.0} calls/s");
        println!("WhoAmI / Health ratio                 {:>8.2}      target >= 0.80", whoami_rps / health_rps);
    });
}
