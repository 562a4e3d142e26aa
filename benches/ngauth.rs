//! `cargo bench --bench ngauth`: issue 9's `/gcs_token` latency on this machine.
//!
//! - Hot path, the STS round trip excluded: `POST /gcs_token` for a bucket
//!   whose downscoped token is cached (the first call exchanged it at the
//!   sandbox STS), so each call is what Steward does itself — HMAC check, the
//!   credential's row, the permission snapshot, the bucket's datasets, the
//!   decision — over HTTP/1.1 keep-alive, sequentially. p50/p90/p99 (target
//!   p99 < 5 ms), beside `/healthz` from the same client as the baseline.
//! - For scale, the uncached path: a new bucket every call, so each one also
//!   makes the sandbox STS exchange over loopback.
//!
//! Figures, not pass/fail; it fails only if an answer is wrong.

// The integration-test harness starts servers and clones databases the same way.
#[path = "../tests/integration/common/mod.rs"]
mod common;

use std::time::{Duration, Instant};

use steward::dataset::audit::Actor;
use steward::dataset::ops::{self, GrantSpec, Grantee, TosSpec};
use steward::dataset::permissions::Level;

const ORIGIN: &str = "https://viewer.neuroglancer.org";
const WARMUP: usize = 300;
const CALLS: usize = 3000;
const UNCACHED: usize = 300;
const DATASETS: usize = 50;

/// p50/p90/p99 in milliseconds.
fn percentiles(mut samples: Vec<Duration>) -> [f64; 3] {
    samples.sort_unstable();
    let at = |p: f64| samples[((samples.len() as f64 * p).ceil() as usize).clamp(1, samples.len()) - 1];
    [at(0.50), at(0.90), at(0.99)].map(|d| d.as_secs_f64() * 1e3)
}

async fn gcs(client: &reqwest::Client, base: &str, token: &str, bucket: &str) -> Duration {
    let body = serde_json::json!({"token": token, "bucket": bucket}).to_string();
    let started = Instant::now();
    let response = client.post(format!("{base}/gcs_token")).header("origin", ORIGIN).body(body).send().await.unwrap();
    let status = response.status();
    let text = response.text().await.unwrap();
    let took = started.elapsed();
    assert_eq!(status, 200, "{text}");
    assert!(text.contains(&format!("sandbox-gcs.{bucket}.")), "{text}");
    took
}

async fn healthz(client: &reqwest::Client, base: &str) -> Duration {
    let started = Instant::now();
    let response = client.get(format!("{base}/healthz")).send().await.unwrap();
    assert_eq!(response.status(), 200);
    response.bytes().await.unwrap();
    started.elapsed()
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        let vars = [("STEWARD_RATE_LIMIT", "off"), ("STEWARD_LOG", "error")];
        let (app, _) = common::TestApp::start_with(common::TestDb::new().await, &vars).await;
        let base = app.url();
        let login = app.db.token("viewer@example.org", None).await;
        let mut conn = app.db.conn().await;
        let user_id = {
            use diesel::{ExpressionMethods as _, QueryDsl as _};
            use diesel_async::RunQueryDsl as _;
            use steward::db::schema::users;
            users::table.filter(users::email.eq("viewer@example.org")).select(users::id).first::<i64>(&mut conn).await.unwrap()
        };
        // A realistic user: grants on a fifth of 50 datasets, each with a general TOS she accepted.
        let mut hot_dataset = 0;
        for i in 0..DATASETS {
            let dataset = ops::create_dataset(&mut conn, Actor::System, &format!("ds-{i:02}"), "", false).await.unwrap().id;
            let buckets: Vec<String> = if i == 0 {
                (0..=UNCACHED).map(|b| format!("bucket-{b:04}")).collect()
            } else {
                vec![format!("other-{i:02}")]
            };
            let buckets: Vec<&str> = buckets.iter().map(String::as_str).collect();
            ops::create_version(&mut conn, Actor::System, dataset, "v1", &buckets, false).await.unwrap();
            if i % 5 == 0 {
                let spec = GrantSpec { dataset_id: dataset, version_id: None, level: Level::View, grantee: Grantee::User(user_id), source: "manual" };
                ops::grant(&mut conn, Actor::System, spec).await.unwrap();
                let tos = TosSpec { name: "Terms", text: "Be nice.", dataset_id: Some(dataset), version_id: None, service: None, effective_at: None, retired_at: None };
                let tos = ops::create_tos_document(&mut conn, Actor::System, tos).await.unwrap();
                ops::accept_tos(&mut conn, user_id, tos).await.unwrap();
            }
            if i == 0 {
                hot_dataset = dataset;
            }
        }
        assert!(hot_dataset > 0);
        drop(conn);

        let client = reqwest::Client::builder().pool_max_idle_per_host(1).build().unwrap();
        let response = client
            .post(format!("{base}/token"))
            .header("origin", ORIGIN)
            .header("cookie", format!("dsg_token={login}"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        let token = response.text().await.unwrap();

        // The first call exchanges at the sandbox STS; the rest find the bucket's token cached.
        for _ in 0..WARMUP {
            gcs(&client, &base, &token, "bucket-0000").await;
            healthz(&client, &base).await;
        }
        let (mut hot, mut baseline) = (Vec::with_capacity(CALLS), Vec::with_capacity(CALLS));
        for _ in 0..CALLS {
            hot.push(gcs(&client, &base, &token, "bucket-0000").await);
            baseline.push(healthz(&client, &base).await);
        }
        let mut uncached = Vec::with_capacity(UNCACHED);
        for b in 1..=UNCACHED {
            uncached.push(gcs(&client, &base, &token, &format!("bucket-{b:04}")).await);
        }
        app.stop().await;

        let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
        println!("ngauth /gcs_token benchmark ({cores} cores shared by client, Steward and PostgreSQL)");
        println!("fixture: {DATASETS} datasets, the user granted on {} with accepted TOS; sequential HTTP/1.1 keep-alive", DATASETS / 5);
        let [p50, p90, p99] = percentiles(hot);
        println!("POST /gcs_token, STS round trip excluded (token cached), {CALLS} calls:");
        println!("  p50 {p50:.2} ms   p90 {p90:.2} ms   p99 {p99:.2} ms   target p99 < 5 ms");
        let [b50, b90, b99] = percentiles(baseline);
        println!("GET /healthz, same client, interleaved (baseline):");
        println!("  p50 {b50:.2} ms   p90 {b90:.2} ms   p99 {b99:.2} ms   (/gcs_token p50 = {:.1}× /healthz)", p50 / b50);
        let [u50, u90, u99] = percentiles(uncached);
        println!("POST /gcs_token with a new bucket each call (sandbox STS exchange over loopback included), {UNCACHED} calls:");
        println!("  p50 {u50:.2} ms   p90 {u90:.2} ms   p99 {u99:.2} ms");
    });
}
