//! `cargo bench --bench scim`: issue 9's SCIM figure on this machine.
//!
//! `GET /auth/scim/v2/Users?filter=userName eq "…"` over 100,000 users, one
//! call at a time over HTTP/1.1 keep-alive, each for a different random user:
//! p50/p90/p99 (target p50 < 10 ms). Beside it, in the same run: `GET /healthz`
//! (the HTTP floor of this machine) and a filter on an unindexed attribute
//! (`name.givenName`), which shows what the index on `lower(email)` saves.
//!
//! Figures, not pass/fail; it fails only if an answer is wrong.

// The integration-test harness starts servers and clones databases the same way.
#[path = "../tests/integration/common/mod.rs"]
mod common;

use std::time::{Duration, Instant};

use diesel_async::RunQueryDsl as _;
use steward::auth::Role;

const USERS: usize = 100_000;
const CALLS: usize = 1_000;
const UNINDEXED_CALLS: usize = 50;

fn percentiles(mut samples: Vec<Duration>) -> [f64; 3] {
    samples.sort_unstable();
    let at = |p: f64| samples[((samples.len() as f64 * p).ceil() as usize).clamp(1, samples.len()) - 1];
    [at(0.50), at(0.90), at(0.99)].map(|d| d.as_secs_f64() * 1e3)
}

/// A small deterministic generator (no crate needed for picking users).
struct Lcg(u64);

impl Lcg {
    fn below(&mut self, n: usize) -> usize {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        ((self.0 >> 33) % n as u64) as usize
    }
}

async fn timed(http: &reqwest::Client, url: &str, token: &str, want_user: Option<&str>) -> Duration {
    let start = Instant::now();
    let reply = http.get(url).bearer_auth(token).send().await.unwrap();
    assert_eq!(reply.status(), 200, "{url}");
    let body = reply.text().await.unwrap();
    let elapsed = start.elapsed();
    if let Some(user) = want_user {
        let doc: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(doc["totalResults"], 1, "{body}");
        assert_eq!(doc["Resources"][0]["userName"], user, "{body}");
    }
    elapsed
}

fn filter_url(base: &str, filter: &str) -> String {
    let encoded: String = form_urlencoded::byte_serialize(filter.as_bytes()).collect();
    format!("{base}/auth/scim/v2/Users?filter={encoded}")
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        let (app, _) = common::TestApp::start_with(common::TestDb::new().await, &[("STEWARD_RATE_LIMIT", "off")]).await;
        let token = app.db.token("root@example.org", Some(Role::Admin)).await;
        let setup = Instant::now();
        {
            let mut conn = app.db.conn().await;
            // Every row gets its SCIM id from the insert trigger, as on any other path.
            diesel::sql_query(format!(
                "INSERT INTO users (email, name) SELECT 'user' || g || '@example.org', 'User ' || g \
                 FROM generate_series(1, {USERS}) g"
            ))
            .execute(&mut conn)
            .await
            .unwrap();
            diesel::sql_query("ANALYZE users").execute(&mut conn).await.unwrap();
        }
        let setup = setup.elapsed();

        let http = reqwest::Client::new();
        let base = app.url();
        let mut rng = Lcg(9);
        // Warm the connection, the credential cache and PostgreSQL's buffers.
        for _ in 0..100 {
            let n = rng.below(USERS) + 1;
            let user = format!("user{n}@example.org");
            timed(&http, &filter_url(&base, &format!("userName eq \"{user}\"")), &token, Some(&user)).await;
        }
        let mut indexed = Vec::with_capacity(CALLS);
        let mut healthz = Vec::with_capacity(CALLS);
        for _ in 0..CALLS {
            let n = rng.below(USERS) + 1;
            // Upper case on purpose: userName compares case-insensitively.
            let user = format!("user{n}@example.org");
            let url = filter_url(&base, &format!("userName eq \"USER{n}@example.org\""));
            indexed.push(timed(&http, &url, &token, Some(&user)).await);
            healthz.push(timed(&http, &format!("{base}/healthz"), &token, None).await);
        }
        let mut unindexed = Vec::with_capacity(UNINDEXED_CALLS);
        for _ in 0..UNINDEXED_CALLS {
            let n = rng.below(USERS) + 1;
            let url = filter_url(&base, &format!("name.givenName eq \"User {n}\""));
            unindexed.push(timed(&http, &url, &token, Some(&format!("user{n}@example.org"))).await);
        }
        app.stop().await;

        let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
        println!("SCIM benchmark ({cores} cores shared by client, Steward and PostgreSQL)");
        println!("fixture: {USERS} users inserted in {:.1} s", setup.as_secs_f64());
        let row = |label: &str, samples: Vec<Duration>| {
            let [p50, p90, p99] = percentiles(samples);
            println!("  {label:<44} p50 {p50:>7.2} ms  p90 {p90:>7.2} ms  p99 {p99:>7.2} ms");
            p50
        };
        println!("sequential calls over one keep-alive connection:");
        let floor = row("GET /healthz", healthz);
        let p50 = row(&format!("GET /Users?filter=userName eq (x{CALLS})"), indexed);
        let slow = row(&format!("GET /Users?filter=name.givenName eq (x{UNINDEXED_CALLS})"), unindexed);
        println!("userName lookup: p50 {p50:.2} ms (target < 10 ms), {:.1}x /healthz", p50 / floor);
        println!("the unindexed attribute takes {:.0}x the indexed lookup", slow / p50);
    });
}
