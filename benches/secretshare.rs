//! `cargo bench --bench secretshare`: SecretShareService figures on this
//! machine (the speed targets), one real party (party 0 of 2) over
//! loopback gRPC on an embedded PostgreSQL cluster with production settings
//! (durable), contributors authenticated by ES256 JWTs of a sandbox OIDC
//! issuer the party trusts (how Privacy Guardian's contributors come).
//!
//! - SubmitShare/s with 64 concurrent clients, vectors of length 10, and
//!   p50/p99 latency (target ≥ 5,000/s on 2 cores), twice:
//!   - an endpoint allowing unlimited submissions per contributor, each of
//!     the 64 clients its own contributor;
//!   - the default limit of one submission per contributor, every
//!     submission from a different contributor (the realistic case: the
//!     limit path serializes on the contributor and counts).
//! - SealBatch of exactly 100,000 pending submissions of distinct
//!   contributors (ids from ListPendingSubmissions, one SealBatch with all of
//!   them): wall time (target < 1 s). The aggregate must equal the sum,
//!   modulo p, of the shares sent to this party.
//!
//! `STEWARD_BENCH_SUBMISSIONS` sets the submissions per variant (default
//! 50,000), `STEWARD_BENCH_SEAL` the batch size (default 100,000).
//! Figures, not pass/fail; it fails only if a count or the aggregate is wrong.

// The integration-test harness starts servers and reaps clusters the same way.
#[path = "../tests/integration/common/mod.rs"]
mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use ring::rand::{SecureRandom as _, SystemRandom};
use steward::auth::jwt::sandbox::{MintOptions, SandboxIssuer};
use steward::crypto::Keyring;
use steward::proto::secretshare::v1 as pb;
use steward::proto::secretshare::v1::secret_share_service_client::SecretShareServiceClient;
use steward::secretshare::field::P;
use tonic::transport::Channel;

const CLIENTS: usize = 64;
const LENGTH: usize = 10;
const SUBMISSIONS: usize = 50_000;
const SEAL: usize = 100_000;
const DATABASE: &str = "steward";
const AUDIENCE: &str = "steward-secretshare";

type Client = SecretShareServiceClient<Channel>;

/// What one submission run measured.
struct Run {
    submissions: usize,
    took: Duration,
    latencies: Vec<Duration>,
    /// Σ of the shares sent, per element, not yet reduced.
    sums: Vec<u128>,
}

/// A cheap generator of share elements (uniform below p by rejection): the
/// server sees the same bytes whatever produced them.
struct Elements(u64);

impl Elements {
    fn next(&mut self) -> u64 {
        loop {
            // splitmix64
            self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = self.0;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^= z >> 31;
            if z < P {
                return z;
            }
        }
    }
}

/// 16 random bytes as 32 hex digits.
fn new_id(rng: &SystemRandom) -> String {
    let mut id = [0u8; 16];
    rng.fill(&mut id).unwrap();
    id.iter().map(|b| format!("{b:02x}")).collect()
}

/// `count` SubmitShare calls from [`CLIENTS`] concurrent tasks over one
/// connection; `token(k)` authenticates submission `k`.
async fn submit(
    client: &Client,
    endpoint: &pb::Endpoint,
    count: usize,
    first: usize,
    tokens: Arc<dyn Fn(usize, usize) -> String + Send + Sync>,
) -> Run {
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let tasks: Vec<_> = (0..CLIENTS)
        .map(|task| {
            let (mut client, next, tokens) = (client.clone(), next.clone(), tokens.clone());
            let (name, digest) = (endpoint.name.clone(), endpoint.config_digest.clone());
            tokio::spawn(async move {
                let rng = SystemRandom::new();
                let mut elements = Elements((first + task) as u64 * 0x1234_5678_9ABC_DEF1);
                let (mut latencies, mut sums) = (Vec::new(), vec![0u128; LENGTH]);
                loop {
                    let k = next.fetch_add(1, Ordering::Relaxed);
                    if k >= count {
                        return (latencies, sums);
                    }
                    let share: Vec<u64> = (0..LENGTH).map(|_| elements.next()).collect();
                    let request = pb::SubmitShareRequest {
                        endpoint: name.clone(),
                        submission_id: new_id(&rng),
                        party_index: 0,
                        config_digest: digest.clone(),
                        share: share.clone(),
                    };
                    let request = common::with_bearer(request, &tokens(task, first + k));
                    let sent = Instant::now();
                    let reply = client.submit_share(request).await.expect("SubmitShare").into_inner();
                    latencies.push(sent.elapsed());
                    assert!(!reply.duplicate, "a fresh id is no duplicate");
                    for (sum, e) in sums.iter_mut().zip(&share) {
                        *sum += u128::from(*e);
                    }
                }
            })
        })
        .collect();
    let (mut latencies, mut sums) = (Vec::with_capacity(count), vec![0u128; LENGTH]);
    for task in tasks {
        let (l, s) = task.await.unwrap();
        latencies.extend(l);
        for (sum, x) in sums.iter_mut().zip(s) {
            *sum += x;
        }
    }
    let took = started.elapsed();
    latencies.sort();
    assert_eq!(latencies.len(), count);
    Run { submissions: count, took, latencies, sums }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn env(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn endpoint(name: &str, limit: Option<u32>) -> pb::Endpoint {
    pb::Endpoint {
        name: name.into(),
        vector_length: LENGTH as u32,
        encoding: pb::ValueEncoding::Integer.into(),
        min_value: 0,
        max_value: 1_000_000,
        min_batch_size: Some(5),
        max_submissions_per_contributor: limit,
        ..Default::default()
    }
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        let submissions = env("STEWARD_BENCH_SUBMISSIONS", SUBMISSIONS).max(CLIENTS);
        let seal_size = env("STEWARD_BENCH_SEAL", SEAL).max(5);
        // The batch is every submission of the limit-1 endpoint, so the
        // expected aggregate is the sum of every share sent to it.
        assert!(seal_size >= submissions, "STEWARD_BENCH_SEAL must be at least STEWARD_BENCH_SUBMISSIONS");
        let root = common::scratch_root();
        let (mut pg, url) = common::durable_database(&root, DATABASE).await;

        let (issuer, _issuer_task) = SandboxIssuer::start_local(None).await.unwrap();
        let issuer = Arc::new(issuer);
        let data_dir = common::scratch_dir("data");
        let spec = Keyring::generate().to_spec();
        let vars = [
            ("DATABASE_URL", url.as_str()),
            ("STEWARD_DATA_DIR", data_dir.to_str().unwrap()),
            ("STEWARD_ENCRYPTION_KEYS", spec.as_str()),
            ("STEWARD_WORKERS", "0"),
            // Measure the party, not the per-contributor request limiter.
            ("STEWARD_RATE_LIMIT", "off"),
            ("STEWARD_SECRETSHARE_PARTY_INDEX", "0"),
            ("STEWARD_SECRETSHARE_PARTY_COUNT", "2"),
            ("STEWARD_JWT_ISSUER", issuer.issuer()),
            ("STEWARD_JWT_AUDIENCE", AUDIENCE),
        ];
        let (addr, _, stop, task) = common::spawn_server_with(&vars, false).await;
        let channel = Channel::from_shared(format!("http://{addr}")).unwrap().connect().await.unwrap();
        let client = SecretShareServiceClient::new(channel)
            .max_decoding_message_size(64 << 20)
            .max_encoding_message_size(64 << 20);
        let mint = {
            let issuer = issuer.clone();
            move |subject: &str, permissions: &[&str]| {
                let claims = serde_json::json!({"sub": subject, "aud": AUDIENCE, "permissions": permissions});
                issuer.mint(claims, MintOptions::default())
            }
        };
        let developer = mint("bench-developer", &["create:endpoint"]);
        let scientist = mint("bench-scientist", &["get:eta-data"]);
        let mut created = Vec::new();
        for config in [endpoint("bench_unlimited", Some(0)), endpoint("bench_one_each", None)] {
            let request = pb::CreateEndpointRequest { endpoint: Some(config) };
            let reply = client.clone().create_endpoint(common::with_bearer(request, &developer)).await.unwrap();
            created.push(reply.into_inner().endpoint.unwrap());
        }
        let (unlimited, one_each) = (created[0].clone(), created[1].clone());
        assert_eq!(one_each.max_submissions_per_contributor, Some(1));

        // Unlimited: 64 contributors, one per client.
        let per_client: Arc<Vec<String>> =
            Arc::new((0..CLIENTS).map(|t| mint(&format!("client-{t}"), &["post:eta-data"])).collect());
        let tokens = per_client.clone();
        let run_unlimited = submit(&client, &unlimited, submissions, 0, Arc::new(move |t: usize, _: usize| tokens[t].clone())).await;
        eprintln!("unlimited: {:.0} /s", run_unlimited.submissions as f64 / run_unlimited.took.as_secs_f64());

        // One each: a different contributor for every submission, enough for
        // the measured run and the batch to seal (minted beforehand).
        let people = submissions.max(seal_size);
        let started = Instant::now();
        let minted: Arc<Vec<String>> =
            Arc::new((0..people).map(|k| mint(&format!("person-{k}"), &["post:eta-data"])).collect());
        let minting = started.elapsed();
        let tokens = minted.clone();
        let person = Arc::new(move |_: usize, k: usize| tokens[k].clone());
        let run_one = submit(&client, &one_each, submissions, 0, person.clone()).await;
        eprintln!("limit 1: {:.0} /s", run_one.submissions as f64 / run_one.took.as_secs_f64());
        // Top up (not timed) to exactly the batch size.
        let mut batch_sums = run_one.sums.clone();
        if seal_size > submissions {
            let more = submit(&client, &one_each, seal_size - submissions, submissions, person).await;
            for (sum, x) in batch_sums.iter_mut().zip(more.sums) {
                *sum += x;
            }
        }
        let batch_sums: Vec<u64> = batch_sums.iter().map(|s| (s % u128::from(P)) as u64).collect();

        // The pending ids, oldest first, in pages of 10,000.
        let started = Instant::now();
        let (mut ids, mut page_token) = (Vec::new(), String::new());
        loop {
            let request = pb::ListPendingSubmissionsRequest {
                endpoint: one_each.name.clone(),
                page_size: 10_000,
                page_token,
                received_before: None,
            };
            let page =
                client.clone().list_pending_submissions(common::with_bearer(request, &scientist)).await.unwrap();
            let page = page.into_inner();
            ids.extend(page.submission_ids);
            if page.next_page_token.is_empty() {
                break;
            }
            page_token = page.next_page_token;
        }
        let listing = started.elapsed();
        assert_eq!(ids.len(), seal_size.max(submissions), "every submission is pending");
        ids.truncate(seal_size);
        assert_eq!(seal_size, ids.len());

        let request = pb::SealBatchRequest {
            endpoint: one_each.name.clone(),
            submission_ids: ids.clone(),
            config_digest: one_each.config_digest.clone(),
            expected_batch_digest: String::new(),
        };
        let started = Instant::now();
        let sealed = client.clone().seal_batch(common::with_bearer(request, &scientist)).await.expect("SealBatch");
        let seal = started.elapsed();
        let sealed = sealed.into_inner();
        let batch = sealed.batch.unwrap();
        assert!(!sealed.already_sealed);
        assert_eq!(batch.submission_count, seal_size as u64);
        assert_eq!(batch.contributor_count, seal_size as u64, "one contributor per submission");
        assert_eq!(batch.aggregate_share, batch_sums, "the aggregate is the sum of the shares sent, mod p");

        let _ = stop.send(());
        task.await.unwrap().unwrap();
        pg.stop().await.unwrap();

        println!(
            "steward secretshare benchmark ({} cores; one party, embedded PostgreSQL, durable; ES256 JWTs; load before: {})",
            std::thread::available_parallelism().map_or(0, |n| n.get()),
            std::fs::read_to_string("/proc/loadavg").unwrap_or_default().split(' ').take(3).collect::<Vec<_>>().join(" ")
        );
        for (label, run) in [
            ("SubmitShare, unlimited per contributor (64 contributors)", &run_unlimited),
            ("SubmitShare, limit 1 (a new contributor each)", &run_one),
        ] {
            println!(
                "{label}: {:>7.0} /s   target >= 5000   ({} submissions, L = {LENGTH}, {CLIENTS} clients, {:.1} s; p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms)",
                run.submissions as f64 / run.took.as_secs_f64(),
                run.submissions,
                run.took.as_secs_f64(),
                percentile(&run.latencies, 0.5).as_secs_f64() * 1e3,
                percentile(&run.latencies, 0.99).as_secs_f64() * 1e3,
                run.latencies.last().unwrap().as_secs_f64() * 1e3,
            );
        }
        println!(
            "ListPendingSubmissions, {} ids in pages of 10,000: {:.2} s; {} JWTs minted in {:.1} s",
            ids.len(),
            listing.as_secs_f64(),
            people,
            minting.as_secs_f64()
        );
        println!(
            "SealBatch of {seal_size} submissions ({seal_size} contributors): {:>7.3} s   target < 1 s   (aggregate checked)",
            seal.as_secs_f64()
        );
    });
}
