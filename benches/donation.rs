//! `cargo bench --bench donation`: donation processing and query figures on
//! this machine (the targets).
//!
//! - Ingest: a sandbox Google export of 10,000 and of 1,000,000 My Activity
//!   entries across seven types (one part per resource group, as Google
//!   sends them), each generated into a file while it is written, sealed
//!   into the blob store as a download stores it, then parsed by the real
//!   `donation.parse` job (unzip, JSON, normalize, window, seal, insert with
//!   its resume markers) into an embedded PostgreSQL cluster with production
//!   settings (durable). Prints rows/s of the parse jobs (target ≥ 200,000
//!   on 2 cores) and the process's peak RSS (`VmHWM`) after each size, and
//!   its growth from the small to the large archive (target < 64 MiB). The
//!   baseline beside it: PostgreSQL alone inserting the same sealed rows into
//!   the same table and indexes (`INSERT … SELECT`, one statement).
//! - Query, against a real server over loopback gRPC on the large donation:
//!   p50/p95 of QueryDonationData pages of 1,000 rows, paging through the
//!   largest type from start to end (target p50 < 10 ms), and
//!   ExportDonationData rows/s for the whole donation; each with JSON rows
//!   (ROW_FORMAT_JSON, what the Python and R clients ask for) and with
//!   `google.protobuf.Struct` rows.
//!
//! - TikTok ingest: a sandbox TikTok export (one `user_data_tiktok.json`
//!   with every section, 2025 layout) of 10,000 and of 1,000,000 records
//!   across the six types, stored and parsed by the same job. Prints rows/s
//!   (target ≥ 200,000) and the peak RSS after each size, counted from a
//!   reset of the peak (`/proc/self/clear_refs`) so the Google runs before
//!   it do not hide its growth.
//!
//! `STEWARD_BENCH_ENTRIES` sets the large size of both exports (e.g. 100000
//! while developing); `STEWARD_BENCH_SOURCES=tiktok` (or `google`) runs one
//! provider's figures only. Figures, not pass/fail; it fails only if a
//! count is wrong.

// The integration-test harness starts servers and reaps clusters the same way.
#[path = "../tests/integration/common/mod.rs"]
mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use chrono::{TimeZone as _, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use steward::auth::Role;
use steward::auth::ops::TokenRequest;
use steward::blobs::BlobStore;
use steward::crypto::Keyring;
use steward::db::schema::{archive_parts, donations, provider_exports};
use steward::donation::catalogue::Source;
use steward::donation::keys::{self, DataKey};
use steward::donation::processing::download::part_aad;
use steward::donation::processing::{Processing, finalize, parse};
use steward::donation::sandbox::{GoogleExport, Persona, Scenario, write_google_part, write_tiktok_archive};
use steward::proto::donation::v1 as pb;
use steward::proto::donation::v1::donation_service_client::DonationServiceClient;
use tokio::io::AsyncReadExt as _;

const SMALL: u64 = 10_000;
const LARGE: u64 = 1_000_000;
const DATABASE: &str = "steward";

/// The seven My Activity types and their share of the entries, with the
/// resource group (one export, one zip) each comes in.
const MIX: [(&str, u64, &str); 7] = [
    ("youtube_history", 40, "myactivity.youtube"),
    ("search", 30, "myactivity.search"),
    ("image_search", 6, "myactivity.search"),
    ("video_search", 6, "myactivity.search"),
    ("google_lens", 6, "myactivity.search"),
    ("google_play_games", 6, "myactivity.play"),
    ("google_play_store", 6, "myactivity.play"),
];
const GROUPS: [&str; 3] = ["myactivity.youtube", "myactivity.search", "myactivity.play"];

/// The six TikTok types and their share of the records (one export, one zip).
const TIKTOK_MIX: [(&str, u64); 6] =
    [("watch_history", 50), ("likes", 20), ("search_history", 10), ("favorites", 8), ("comments", 6), ("shares", 6)];

/// `VmHWM` and `VmRSS` of this process, in KiB.
fn memory() -> (u64, u64) {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(0)
    };
    (field("VmHWM:"), field("VmRSS:"))
}

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

/// `entries` spread over `mix` (the remainder goes to the first type).
fn scenario(entries: u64, mix: &[(&str, u64)]) -> Scenario {
    let mut scenario = Scenario::default().persona(Persona::Tiny).seed(2026);
    let mut given = 0;
    for (data_type, share) in mix.iter().rev() {
        let n = if *data_type == mix[0].0 { entries - given } else { entries * share / 100 };
        given += n;
        scenario = scenario.records(data_type, n);
    }
    scenario
}

/// What one ingest run measured.
struct Ingest {
    donation_id: i32,
    rows: i64,
    zip_bytes: u64,
    generate: Duration,
    parse: Duration,
    hwm_kib: u64,
    /// TikTok: the parser alone, and with sealing (see [`parser_stages`]).
    stages: Option<(Duration, Duration)>,
}

/// A donation of the [`MIX`] types owned by `owner`, its export parts
/// generated and stored, then parsed by the parse job.
async fn ingest(conn: &mut AsyncPgConnection, env: &Env<'_>, entries: u64) -> Ingest {
    let Env { keyring, blobs, work, owner, .. } = *env;
    let types: Vec<&str> = MIX.iter().map(|m| m.0).collect();
    let (id, data_key) = donation(conn, keyring, owner, "google_portability", &types, entries).await;

    let mix: Vec<(&str, u64)> = MIX.iter().map(|(t, share, _)| (*t, *share)).collect();
    let scenario = scenario(entries, &mix);
    let (mut parts, mut zip_bytes, started) = (Vec::new(), 0, Instant::now());
    for (n, group) in GROUPS.iter().enumerate() {
        let part_id = export_part(conn, id, group, n).await;
        let file = work.join(format!("part-{part_id}.zip"));
        let (s, path) = (scenario.clone(), file.clone());
        let group = *group;
        zip_bytes += tokio::task::spawn_blocking(move || {
            let export =
                GoogleExport { resources: &[group], start_time: None, end_time: None, created_at: created_at() };
            let out = std::io::BufWriter::with_capacity(1 << 20, std::fs::File::create(&path).unwrap());
            write_google_part(&s, &export, 0, out).unwrap()
        })
        .await
        .unwrap();
        store_part(conn, blobs, &data_key, id, part_id, &file).await;
        std::fs::remove_file(&file).unwrap();
        parts.push(part_id);
    }
    let generate = started.elapsed();
    parse_parts(conn, env, id, &parts, entries, zip_bytes, generate).await
}

/// A TikTok donation of the [`TIKTOK_MIX`] types owned by `owner`, its one
/// export part generated and stored, then parsed by the parse job.
async fn ingest_tiktok(conn: &mut AsyncPgConnection, env: &Env<'_>, entries: u64) -> Ingest {
    let Env { keyring, blobs, work, owner, .. } = *env;
    let types: Vec<&str> = TIKTOK_MIX.iter().map(|m| m.0).collect();
    let (id, data_key) = donation(conn, keyring, owner, "tiktok_portability", &types, entries).await;
    let started = Instant::now();
    let part_id = export_part(conn, id, "activity", 0).await;
    let file = work.join(format!("part-{part_id}.zip"));
    let (scenario, path) = (scenario(entries, &TIKTOK_MIX), file.clone());
    let zip_bytes = tokio::task::spawn_blocking(move || {
        let out = std::io::BufWriter::with_capacity(1 << 20, std::fs::File::create(&path).unwrap());
        write_tiktok_archive(&scenario, created_at(), out).unwrap()
    })
    .await
    .unwrap();
    let generate = started.elapsed();
    let (path, key) = (file.clone(), data_key.clone());
    let stages = tokio::task::spawn_blocking(move || parser_stages(&path, &key, id, part_id, entries)).await.unwrap();
    store_part(conn, blobs, &data_key, id, part_id, &file).await;
    std::fs::remove_file(&file).unwrap();
    let mut run = parse_parts(conn, env, id, &[part_id], entries, zip_bytes, generate).await;
    run.stages = Some(stages);
    run
}

/// Where the job's parser thread spends its time: `parse_tiktok_part` over
/// the plain zip file with a sink that drops rows (unzip, both walks, rows),
/// and again sealing each batch of 1,000 as the job does.
fn parser_stages(file: &Path, key: &DataKey, id: i32, part_id: i64, entries: u64) -> (Duration, Duration) {
    use steward::donation::archive::{Limits, PartRequest, Window, parse_tiktok_part};
    use steward::donation::rows::{NewRow, seal_batch};
    let types: Vec<_> = TIKTOK_MIX.iter().map(|(t, _)| Source::TikTok.data_type(t).unwrap()).collect();
    let limits = Limits::default();
    let request =
        PartRequest { donation_id: i64::from(id), data_types: &types, window: Window::default(), limits: &limits };
    let open = || std::io::BufReader::with_capacity(1 << 20, std::fs::File::open(file).unwrap());
    let started = Instant::now();
    let mut n = 0u64;
    parse_tiktok_part(
        open(),
        &request,
        |_, _| None,
        |_| {
            n += 1;
            Ok::<_, ()>(())
        },
    )
    .unwrap();
    let parse = started.elapsed();
    assert_eq!(n, entries);
    let started = Instant::now();
    let mut rows = Vec::with_capacity(1000);
    let seal = |rows: &mut Vec<steward::donation::archive::Row>| {
        let new: Vec<NewRow<'_>> = rows.iter().map(NewRow::from).collect();
        std::hint::black_box(seal_batch(key, id, part_id, &new).unwrap());
        rows.clear();
    };
    parse_tiktok_part(
        open(),
        &request,
        |_, _| None,
        |row| {
            rows.push(row);
            if rows.len() == 1000 {
                seal(&mut rows);
            }
            Ok::<_, ()>(())
        },
    )
    .unwrap();
    seal(&mut rows);
    (parse, started.elapsed())
}

/// When the sandbox exports are made (their records lie before it).
fn created_at() -> chrono::DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 1, 12, 0, 0).unwrap()
}

/// A donation of `types` from `source`, ready for its parts, with its data key.
async fn donation(
    conn: &mut AsyncPgConnection,
    keyring: &Keyring,
    owner: i64,
    source: &str,
    types: &[&str],
    entries: u64,
) -> (i32, DataKey) {
    let id: i32 = diesel::insert_into(donations::table)
        .values((
            donations::owner_id.eq(owner),
            donations::source.eq(source),
            donations::stage.eq("terms_accepted"),
            donations::requested_data_types.eq(types),
            donations::token_hash.eq(&[entries as u8 ^ source.as_bytes()[0]; 32][..]),
        ))
        .returning(donations::id)
        .get_result(conn)
        .await
        .unwrap();
    steward::donation::store::insert_types(conn, id, types).await.unwrap();
    (id, keys::create(conn, keyring, id).await.unwrap())
}

/// A completed export of `resource` for donation `id` and its part 0.
async fn export_part(conn: &mut AsyncPgConnection, id: i32, resource: &str, n: usize) -> i64 {
    let export_id: i64 = diesel::insert_into(provider_exports::table)
        .values((
            provider_exports::donation_id.eq(id),
            provider_exports::resource.eq(resource),
            provider_exports::job_id.eq(format!("bench-{id}-{n}")),
            provider_exports::state.eq("complete"),
        ))
        .returning(provider_exports::id)
        .get_result(conn)
        .await
        .unwrap();
    diesel::insert_into(archive_parts::table)
        .values((archive_parts::export_id.eq(export_id), archive_parts::part_no.eq(0)))
        .returning(archive_parts::id)
        .get_result(conn)
        .await
        .unwrap()
}

/// Runs the parse job over the stored `parts` of donation `id`, then
/// finalize, and checks every entry became a row.
async fn parse_parts(
    conn: &mut AsyncPgConnection,
    env: &Env<'_>,
    id: i32,
    parts: &[i64],
    entries: u64,
    zip_bytes: u64,
    generate: Duration,
) -> Ingest {
    let started = Instant::now();
    for part_id in parts {
        assert!(parse::parse(env.processing, conn, env.url, *part_id).await.unwrap(), "part {part_id} parsed");
    }
    let parse = started.elapsed();
    let hwm_kib = memory().0;
    assert!(finalize::finalize(conn, id).await.unwrap());
    let rows =
        diesel::sql_query("SELECT COALESCE(SUM(rows), 0)::bigint AS n FROM part_type_results WHERE part_id = ANY($1)")
            .bind::<diesel::sql_types::Array<diesel::sql_types::BigInt>, _>(parts)
            .get_result::<Count>(conn)
            .await
            .unwrap()
            .n;
    assert_eq!(rows as u64, entries, "every generated entry became a row");
    Ingest { donation_id: id, rows, zip_bytes, generate, parse, hwm_kib, stages: None }
}

#[derive(diesel::QueryableByName)]
struct Float {
    #[diesel(sql_type = diesel::sql_types::Double)]
    v: f64,
}

#[derive(diesel::QueryableByName)]
struct Lsn {
    #[diesel(sql_type = diesel::sql_types::Text)]
    lsn: String,
}

/// The cluster's current write-ahead-log position.
async fn wal_position(conn: &mut AsyncPgConnection) -> String {
    diesel::sql_query("SELECT pg_current_wal_lsn()::text AS lsn").get_result::<Lsn>(conn).await.unwrap().lsn
}

/// Bytes of write-ahead log written since `from`.
async fn wal_since(conn: &mut AsyncPgConnection, from: &str) -> f64 {
    diesel::sql_query("SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), $1::pg_lsn)::float8 AS v")
        .bind::<diesel::sql_types::Text, _>(from)
        .get_result::<Float>(conn)
        .await
        .unwrap()
        .v
}

#[derive(diesel::QueryableByName)]
struct Count {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    n: i64,
}

/// Seals the zip at `file` into the blob store and commits the part, as a download does.
async fn store_part(
    conn: &mut AsyncPgConnection,
    blobs: &BlobStore,
    data_key: &DataKey,
    donation_id: i32,
    part_id: i64,
    file: &Path,
) {
    let file = tokio::fs::File::open(file).await.unwrap();
    let chunks = futures_util::stream::unfold(Some(file), |file| async move {
        let mut file = file?;
        let mut buf = vec![0u8; 1 << 20];
        match file.read(&mut buf).await {
            Ok(0) => None,
            Ok(n) => {
                buf.truncate(n);
                Some((Ok(buf), Some(file)))
            }
            Err(e) => Some((Err::<Vec<u8>, _>(e), None)),
        }
    });
    let key = format!("donations/{donation_id}/parts/bench-{part_id}");
    let info = blobs.put_stream(&key, data_key, &part_aad(donation_id, part_id), chunks).await.unwrap();
    let stored = steward::donation::processing::store::part_stored(conn, part_id, &key, info.bytes, &info.sha256);
    assert!(stored.await.unwrap());
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        let large: u64 = std::env::var("STEWARD_BENCH_ENTRIES").ok().and_then(|v| v.parse().ok()).unwrap_or(LARGE);
        let small = SMALL.min(large);
        let root = common::scratch_root();
        let (mut pg, url) = common::durable_database(&root, DATABASE).await;

        let keyring = Keyring::generate();
        let data_dir = common::scratch_dir("data");
        let blobs = BlobStore::in_data_dir(&data_dir);
        let config = common::test_config(&[("DATABASE_URL", &url), ("STEWARD_DATA_DIR", data_dir.to_str().unwrap())]);
        let processing = Processing::new(&config.donation, keyring.clone(), blobs.clone()).unwrap();
        let work = common::scratch_dir("work");

        let mut conn = steward::db::connect(&url).await.unwrap();
        let request = TokenRequest {
            email: "bench@example.org".into(),
            role: Some(Role::Researcher),
            description: "bench".into(),
            expires_in: None,
        };
        let created = steward::auth::ops::create_user_token(&mut conn, request).await.unwrap();
        let (owner, token) = (created.user_id, created.token);

        let sources = std::env::var("STEWARD_BENCH_SOURCES").unwrap_or_else(|_| "google,tiktok".into());
        let env = Env { processing: &processing, url: &url, keyring: &keyring, blobs: &blobs, work: &work, owner };
        if sources.contains("google") {
            google_figures(conn, &env, &data_dir, &token, small, large).await;
        } else {
            drop(conn);
        }
        if sources.contains("tiktok") {
            let mut conn = steward::db::connect(&url).await.unwrap();
            tiktok_figures(&mut conn, &env, small, large).await;
        }
        pg.stop().await.unwrap();
    });
}

/// What every ingest needs.
struct Env<'a> {
    processing: &'a Processing,
    /// The database the parse job copies its rows into.
    url: &'a str,
    keyring: &'a Keyring,
    blobs: &'a BlobStore,
    work: &'a Path,
    owner: i64,
}

/// Google ingest at both sizes, PostgreSQL's baseline, then queries against
/// a real server; prints the figures.
async fn google_figures(
    mut conn: AsyncPgConnection,
    env: &Env<'_>,
    data_dir: &Path,
    token: &str,
    small: u64,
    large: u64,
) {
    let Env { url, keyring, .. } = *env;
    let baseline = memory();
    let small_run = ingest(&mut conn, env, small).await;
    let wal_before = wal_position(&mut conn).await;
    let large_run = ingest(&mut conn, env, large).await;
    let wal_bytes = wal_since(&mut conn, &wal_before).await;
    let (baseline_rate, row_bytes) = postgres_alone(&mut conn, large_run.donation_id).await;
    drop(conn);

    // The query side: a real server over the same database.
    let spec = keyring.to_spec();
    let vars = [
        ("DATABASE_URL", url),
        ("STEWARD_DATA_DIR", data_dir.to_str().unwrap()),
        ("STEWARD_ENCRYPTION_KEYS", spec.as_str()),
        ("STEWARD_WORKERS", "0"),
        // One token pages as fast as the server answers: measure the server, not the limiter.
        ("STEWARD_RATE_LIMIT", "off"),
    ];
    let (addr, _, stop, task) = common::spawn_server_with(&vars, false).await;
    let channel = tonic::transport::Channel::from_shared(format!("http://{addr}")).unwrap().connect().await.unwrap();
    let mut client = DonationServiceClient::new(channel);

    let (largest, largest_rows) = (MIX[0].0, large - (1..MIX.len()).map(|i| large * MIX[i].1 / 100).sum::<u64>());
    let id = i64::from(large_run.donation_id);
    let mut paging = Vec::new();
    let mut exports = Vec::new();
    // JSON rows are what the Python and R clients ask for; Structs for scale.
    for format in [pb::RowFormat::Json, pb::RowFormat::Struct] {
        let mut latencies = Vec::new();
        let (mut page_token, mut paged) = (String::new(), 0u64);
        loop {
            let request = pb::QueryDonationDataRequest {
                donation_id: id,
                data_type: largest.into(),
                page_size: 1_000,
                page_token,
                row_format: format.into(),
                ..Default::default()
            };
            let started = Instant::now();
            let page = client.query_donation_data(common::with_bearer(request, token)).await.unwrap().into_inner();
            latencies.push(started.elapsed());
            paged += (page.rows.len() + page.json_rows.len()) as u64;
            if page.next_page_token.is_empty() {
                break;
            }
            page_token = page.next_page_token;
        }
        assert_eq!(paged, largest_rows, "paging returned every {largest} row once");
        latencies.sort();
        paging.push((format, latencies));

        let started = Instant::now();
        let request =
            pb::ExportDonationDataRequest { donation_id: id, row_format: format.into(), ..Default::default() };
        let mut stream = client.export_donation_data(common::with_bearer(request, token)).await.unwrap().into_inner();
        let (mut exported, mut batches) = (0u64, 0u64);
        while let Some(batch) = stream.message().await.unwrap() {
            exported += (batch.rows.len() + batch.json_rows.len()) as u64;
            batches += 1;
        }
        assert_eq!(exported, large, "the export streamed every row");
        exports.push((format, exported, batches, started.elapsed()));
    }

    let _ = stop.send(());
    task.await.unwrap().unwrap();

    let rate = |run: &Ingest| run.rows as f64 / run.parse.as_secs_f64();
    let growth = large_run.hwm_kib.saturating_sub(small_run.hwm_kib);
    println!(
        "steward donation benchmark ({} cores; embedded PostgreSQL, durable; load before: {})",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        std::fs::read_to_string("/proc/loadavg").unwrap_or_default().split(' ').take(3).collect::<Vec<_>>().join(" ")
    );
    println!("RSS at start                               {:>9.1} MiB", mib(baseline.1));
    for (label, run) in [("small", &small_run), ("large", &large_run)] {
        println!(
            "{label}: {:>9} entries, zip {:>7.1} MiB, generated+stored in {:>6.1} s",
            run.rows,
            run.zip_bytes as f64 / (1 << 20) as f64,
            run.generate.as_secs_f64()
        );
        println!(
            "  parse jobs (unzip+parse+filter+seal+insert) {:>7.1} s  {:>9.0} rows/s   target >= 200000",
            run.parse.as_secs_f64(),
            rate(run)
        );
        println!("  peak RSS (VmHWM) after                   {:>9.1} MiB", mib(run.hwm_kib));
    }
    println!(
        "PostgreSQL alone, INSERT..SELECT of the large rows {:>9.0} rows/s (parse jobs reach {:.2} of it)",
        baseline_rate,
        rate(&large_run) / baseline_rate
    );
    println!(
        "large ingest wrote {:.0} MiB of WAL ({:.0} bytes a row; sealed rows average {:.0} bytes): {:.0} MiB/s",
        wal_bytes / f64::from(1 << 20),
        wal_bytes / large_run.rows as f64,
        row_bytes,
        wal_bytes / f64::from(1 << 20) / large_run.parse.as_secs_f64()
    );
    println!("peak RSS growth, small -> large            {:>9.1} MiB   target < 64 MiB", mib(growth));
    for (format, latencies) in &paging {
        println!(
            "QueryDonationData, 1,000-row pages through {largest} ({} pages, {}): p50 {:.1} ms, p95 {:.1} ms, max {:.1} ms   target p50 < 10 ms",
            latencies.len(),
            format.as_str_name(),
            percentile(latencies, 0.5).as_secs_f64() * 1e3,
            percentile(latencies, 0.95).as_secs_f64() * 1e3,
            latencies.last().unwrap().as_secs_f64() * 1e3,
        );
    }
    for (format, exported, batches, took) in &exports {
        println!(
            "ExportDonationData, whole donation ({}) {:>9.0} rows/s ({exported} rows, {batches} batches, {:.1} s)",
            format.as_str_name(),
            *exported as f64 / took.as_secs_f64(),
            took.as_secs_f64()
        );
    }
}

/// The baseline: PostgreSQL alone inserting the sealed rows of donation
/// `id` again (same table and index, plain INSERT as the job's batches), in
/// archive order, in one statement; rows/s, and the rows' average sealed size.
async fn postgres_alone(conn: &mut AsyncPgConnection, id: i32) -> (f64, f64) {
    let row_bytes = diesel::sql_query(
        "SELECT COALESCE(AVG(octet_length(sealed)), 0)::float8 AS v FROM donation_rows WHERE donation_id = $1",
    )
    .bind::<diesel::sql_types::Integer, _>(id)
    .get_result::<Float>(conn)
    .await
    .unwrap()
    .v;
    let copy = "INSERT INTO donation_rows (donation_id, data_type, part_id, member_no, ordinal, ts, sealed) \
             SELECT -donation_id, data_type, part_id, member_no, ordinal, ts, sealed FROM donation_rows \
             WHERE donation_id = $1 ORDER BY part_id, member_no, ordinal";
    let started = Instant::now();
    let copied = diesel::sql_query(copy).bind::<diesel::sql_types::Integer, _>(id).execute(conn).await.unwrap();
    let rate = copied as f64 / started.elapsed().as_secs_f64();
    diesel::sql_query("DELETE FROM donation_rows WHERE donation_id < 0").execute(conn).await.unwrap();
    diesel::sql_query("VACUUM ANALYZE donation_rows").execute(conn).await.unwrap();
    (rate, row_bytes)
}

/// TikTok ingest at both sizes; prints the figures. The peak RSS is reset
/// first, so it shows this provider's parse alone.
async fn tiktok_figures(conn: &mut AsyncPgConnection, env: &Env<'_>, small: u64, large: u64) {
    let reset = std::fs::write("/proc/self/clear_refs", "5").is_ok();
    let start = memory();
    let mut runs = Vec::new();
    for entries in [small, large] {
        runs.push(ingest_tiktok(conn, env, entries).await);
    }
    let now = memory();
    let (baseline_rate, row_bytes) = postgres_alone(conn, runs[1].donation_id).await;
    println!(
        "TikTok ingest (one user_data_tiktok.json, six types; load before: {})",
        std::fs::read_to_string("/proc/loadavg").unwrap_or_default().split(' ').take(3).collect::<Vec<_>>().join(" ")
    );
    println!(
        "RSS before                                 {:>9.1} MiB{}",
        mib(start.1),
        if reset { " (peak reset here)" } else { " (peak not resettable: figures include earlier runs)" }
    );
    for (label, run) in [("small", &runs[0]), ("large", &runs[1])] {
        println!(
            "{label}: {:>9} records, zip {:>7.1} MiB, generated+stored in {:>6.1} s",
            run.rows,
            run.zip_bytes as f64 / (1 << 20) as f64,
            run.generate.as_secs_f64()
        );
        println!(
            "  parse job (unzip+walk+parse+filter+seal+insert) {:>7.1} s  {:>9.0} rows/s   target >= 200000",
            run.parse.as_secs_f64(),
            run.rows as f64 / run.parse.as_secs_f64()
        );
        if let Some((parse, sealed)) = run.stages {
            let rate = |d: Duration| run.rows as f64 / d.as_secs_f64();
            println!(
                "  its parser alone, plain zip: walk+rows {:>9.0} rows/s, with sealing {:>9.0} rows/s",
                rate(parse),
                rate(sealed)
            );
        }
        println!("  peak RSS (VmHWM) after                   {:>9.1} MiB", mib(run.hwm_kib));
    }
    println!(
        "PostgreSQL alone, INSERT..SELECT of the large rows {:>9.0} rows/s (the job reaches {:.2} of it; sealed rows average {:.0} bytes)",
        baseline_rate,
        runs[1].rows as f64 / runs[1].parse.as_secs_f64() / baseline_rate,
        row_bytes
    );
    println!(
        "peak RSS growth, small -> large            {:>9.1} MiB   target < 64 MiB (RSS now {:.1} MiB)",
        mib(runs[1].hwm_kib.saturating_sub(runs[0].hwm_kib)),
        mib(now.1)
    );
}
