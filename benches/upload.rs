//! `cargo bench --bench upload`: UploadService figures on this machine (the
//! issue's targets), the real `steward serve` binary as a child process over
//! loopback, on an embedded PostgreSQL cluster with production settings
//! (durable), with staging, blobs and the `dd` baseline in one directory on the
//! same disk. Encryption at rest (AES-256-GCM segments) and the server's SHA-256
//! are always on; nothing can turn them off.
//!
//! For each size (100 MiB and 2 GiB):
//! - `dd if=/dev/zero bs=4M conv=fsync` of the same number of bytes: MB/s;
//! - gRPC: CreateUpload, WriteChunk of 4 MiB chunks one after another,
//!   FinalizeUpload with the client's SHA-256, GetUpload until AVAILABLE:
//!   MB/s until the last chunk is acknowledged (committed) and until
//!   AVAILABLE, each as a ratio to `dd` (target ≥ 0.7);
//! - tus: `POST /files/`, then one `PATCH` streaming the whole body, then
//!   GetUpload until AVAILABLE: the same figures;
//! - the server's peak RSS (`VmHWM` from `/proc/<pid>/status`) after the size,
//!   and its growth from the small to the large size (target < 100 MiB, flat).
//!
//! Then 100 concurrent uploads of 64 KiB (CreateUpload, WriteChunk,
//! FinalizeUpload, GetUpload until AVAILABLE): all complete, p50/p99 latency.
//!
//! `STEWARD_BENCH_UPLOAD_BYTES` sets the large size (default 2 GiB); the small
//! one is 100 MiB or that, whichever is smaller. The bytes are one random 4 MiB
//! buffer repeated (the server seals each segment with a fresh nonce, so
//! repetition saves it nothing). Figures, not pass/fail; it fails only if a
//! digest, an offset or a count is wrong.

// The integration-test harness starts clusters and waits for servers the same way.
#[path = "../tests/integration/common/mod.rs"]
mod common;

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use bytes::Bytes;
use ring::digest::{Context, SHA256};
use ring::rand::{SecureRandom as _, SystemRandom};
use steward::auth::Role;
use steward::auth::ops::TokenRequest;
use steward::crypto::Keyring;
use steward::proto::upload::v1 as pb;
use steward::proto::upload::v1::upload_service_client::UploadServiceClient;
use tonic::transport::Channel;

const MIB: u64 = 1 << 20;
const CHUNK: usize = 4 << 20;
const SMALL: u64 = 100 * MIB;
const LARGE: u64 = 2048 * MIB;
const CONCURRENT: usize = 100;
const SMALL_FILE: usize = 64 << 10;
const DATABASE: &str = "steward";

type Client = UploadServiceClient<Channel>;

/// The bytes of a file of `size`: `block` repeated, the last piece cut short.
struct Content {
    block: Bytes,
    size: u64,
    sha256: String,
}

impl Content {
    fn new(block: &Bytes, size: u64) -> Content {
        let mut context = Context::new(&SHA256);
        let mut content = Content { block: block.clone(), size, sha256: String::new() };
        for (_, chunk) in content.chunks() {
            context.update(&chunk);
        }
        content.sha256 = hex(context.finish().as_ref());
        content
    }

    /// (offset, bytes) of each chunk of at most [`CHUNK`] bytes.
    fn chunks(&self) -> impl Iterator<Item = (u64, Bytes)> + Send + 'static {
        let (block, size) = (self.block.clone(), self.size);
        (0..size.div_ceil(CHUNK as u64)).map(move |i| {
            let offset = i * CHUNK as u64;
            (offset, block.slice(..(size - offset).min(CHUNK as u64) as usize))
        })
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// What one upload measured.
struct Upload {
    /// Until the last byte was acknowledged as committed.
    sent: Duration,
    /// Until the file was AVAILABLE.
    available: Duration,
}

/// One size's figures.
struct SizeRun {
    size: u64,
    dd_mbps: f64,
    grpc: Upload,
    tus: Upload,
    hwm_kib: u64,
}

fn mbps(bytes: u64, took: Duration) -> f64 {
    bytes as f64 / 1e6 / took.as_secs_f64()
}

/// `VmHWM` (peak resident set) of process `pid`, in KiB.
fn peak_rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("/proc/<pid>/status");
    let line = status.lines().find(|l| l.starts_with("VmHWM:")).expect("VmHWM");
    line.split_whitespace().nth(1).and_then(|v| v.parse().ok()).expect("VmHWM in kB")
}

/// Writes `size` bytes of zeros to `dir/dd.bin` with `dd … conv=fsync`, in
/// 4 MiB blocks (the last one short); MB/s from the wall time of `dd`.
fn dd(dir: &Path, size: u64) -> f64 {
    let target = dir.join("dd.bin");
    let full = size / CHUNK as u64;
    let started = Instant::now();
    let status = std::process::Command::new("dd")
        .args(["if=/dev/zero", &format!("of={}", target.display()), "bs=4M", &format!("count={full}"), "conv=fsync"])
        .stderr(Stdio::null())
        .status()
        .expect("running dd");
    assert!(status.success(), "dd failed");
    let rest = size % CHUNK as u64;
    if rest > 0 {
        let status = std::process::Command::new("dd")
            .args([
                "if=/dev/zero",
                &format!("of={}", target.display()),
                &format!("bs={rest}"),
                "count=1",
                &format!("seek={}", full * CHUNK as u64),
                "oflag=seek_bytes",
                "conv=fsync,notrunc",
            ])
            .stderr(Stdio::null())
            .status()
            .expect("running dd");
        assert!(status.success(), "dd failed");
    }
    let took = started.elapsed();
    assert_eq!(std::fs::metadata(&target).unwrap().len(), size, "dd wrote the wrong length");
    std::fs::remove_file(&target).unwrap();
    mbps(size, took)
}

/// Polls GetUpload until the file is AVAILABLE and checks its digest and size.
async fn until_available(client: &mut Client, upload_id: &str, code: &str, content: &Content, every: Duration) {
    loop {
        let request = pb::GetUploadRequest { upload_id: upload_id.into(), upload_code: code.into() };
        let file = client.get_upload(request).await.expect("GetUpload").into_inner().file.expect("file");
        match file.status() {
            pb::FileStatus::Available => {
                assert_eq!(file.sha256, content.sha256, "the server's SHA-256 differs from the bytes sent");
                assert_eq!(file.offset as u64, content.size, "committed offset");
                return;
            }
            pb::FileStatus::Uploading | pb::FileStatus::Processing => tokio::time::sleep(every).await,
            other => panic!("upload {upload_id} ended {other:?}: {}", file.failure_reason),
        }
    }
}

/// The chunk RPCs: CreateUpload, WriteChunk… (one after another), FinalizeUpload, until AVAILABLE.
async fn grpc_upload(
    client: &mut Client,
    dropoff: &str,
    code: &str,
    content: &Content,
    poll: Duration,
) -> (String, Upload) {
    let started = Instant::now();
    let request = pb::CreateUploadRequest {
        dropoff_id: dropoff.into(),
        upload_code: code.into(),
        name: "bench.bin".into(),
        size: content.size as i64,
        content_type: "application/octet-stream".into(),
        ..Default::default()
    };
    let created = client.create_upload(request).await.expect("CreateUpload").into_inner();
    assert_eq!(created.max_chunk_bytes, CHUNK as i64, "the spec's chunk size");
    let id = created.upload_id;
    for (offset, data) in content.chunks() {
        let end = offset + data.len() as u64;
        let request =
            pb::WriteChunkRequest { upload_id: id.clone(), upload_code: code.into(), offset: offset as i64, data };
        let reply = client.write_chunk(request).await.expect("WriteChunk").into_inner();
        assert_eq!(reply.offset as u64, end, "WriteChunk committed offset");
    }
    let sent = started.elapsed();
    let request =
        pb::FinalizeUploadRequest { upload_id: id.clone(), upload_code: code.into(), sha256: content.sha256.clone() };
    client.finalize_upload(request).await.expect("FinalizeUpload");
    until_available(client, &id, code, content, poll).await;
    (id, Upload { sent, available: started.elapsed() })
}

/// tus: `POST /files/`, one `PATCH` streaming the whole body, then GetUpload until AVAILABLE.
async fn tus_upload(
    http: &reqwest::Client,
    base: &str,
    client: &mut Client,
    dropoff: &str,
    code: &str,
    content: &Content,
) -> (String, Upload) {
    let started = Instant::now();
    let metadata = format!("dropoff {},filename {}", B64.encode(dropoff), B64.encode("bench.bin"));
    let created = http
        .post(format!("{base}/files/"))
        .header("Tus-Resumable", "1.0.0")
        .header("Upload-Length", content.size.to_string())
        .header("Upload-Metadata", metadata)
        .header("Dropoff-Code", code)
        .send()
        .await
        .expect("tus POST");
    let status = created.status();
    assert_eq!(status, reqwest::StatusCode::CREATED, "tus POST: {}", created.text().await.unwrap_or_default());
    let location = created.headers()["location"].to_str().unwrap().to_owned();
    let id = location.rsplit('/').next().unwrap().to_owned();
    let body = futures_util::stream::iter(content.chunks().map(|(_, data)| Ok::<_, std::io::Error>(data)));
    let patched = http
        .patch(&location)
        .header("Tus-Resumable", "1.0.0")
        .header("Upload-Offset", "0")
        .header("Content-Type", "application/offset+octet-stream")
        .header("Content-Length", content.size.to_string())
        .header("Dropoff-Code", code)
        .body(reqwest::Body::wrap_stream(body))
        .send()
        .await
        .expect("tus PATCH");
    let status = patched.status();
    let offset = patched.headers().get("upload-offset").and_then(|v| v.to_str().ok()).map(str::to_owned);
    assert_eq!(status, reqwest::StatusCode::NO_CONTENT, "tus PATCH: {}", patched.text().await.unwrap_or_default());
    assert_eq!(offset, Some(content.size.to_string()), "tus PATCH Upload-Offset");
    let sent = started.elapsed();
    until_available(client, &id, code, content, Duration::from_millis(20)).await;
    (id, Upload { sent, available: started.elapsed() })
}

/// Deletes a measured file (the disk holds only so much) and checks its object is gone.
async fn delete(client: &mut Client, owner: &str, data_dir: &Path, file_id: &str) {
    let request = common::with_bearer(pb::DeleteFileRequest { file_id: file_id.into() }, owner);
    client.delete_file(request).await.expect("DeleteFile");
    let object = data_dir.join("blobs").join("uploads").join(file_id);
    assert!(!object.exists(), "DeleteFile left {}", object.display());
}

/// [`CONCURRENT`] uploads of [`SMALL_FILE`] bytes at once; their latencies, sorted.
async fn concurrent(client: &Client, dropoff: &str, code: &str, block: &Bytes) -> (Duration, Vec<Duration>) {
    let content = std::sync::Arc::new(Content::new(&block.slice(..SMALL_FILE), SMALL_FILE as u64));
    let started = Instant::now();
    let tasks: Vec<_> = (0..CONCURRENT)
        .map(|_| {
            let (mut client, dropoff, code, content) =
                (client.clone(), dropoff.to_owned(), code.to_owned(), content.clone());
            tokio::spawn(async move {
                let started = Instant::now();
                grpc_upload(&mut client, &dropoff, &code, &content, Duration::from_millis(10)).await;
                started.elapsed()
            })
        })
        .collect();
    let mut latencies = Vec::with_capacity(CONCURRENT);
    for task in tasks {
        latencies.push(task.await.expect("an upload failed"));
    }
    let took = started.elapsed();
    latencies.sort();
    assert_eq!(latencies.len(), CONCURRENT);
    (took, latencies)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        let large: u64 = std::env::var("STEWARD_BENCH_UPLOAD_BYTES")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(LARGE)
            .max(SMALL_FILE as u64);
        let sizes = if large > SMALL { vec![SMALL, large] } else { vec![large] };

        let root = common::scratch_root();
        let (_pg, url) = common::durable_database(&root, DATABASE).await;
        let mut conn = steward::db::connect(&url).await.unwrap();
        let request = TokenRequest {
            email: "bench@example.org".into(),
            role: Some(Role::Researcher),
            description: "bench".into(),
            expires_in: None,
        };
        let owner = steward::auth::ops::create_user_token(&mut conn, request).await.unwrap().token;
        drop(conn);

        // Staging, blobs and the dd target share this directory (one disk).
        let data_dir = common::scratch_dir("data");
        let port = (18700..32000).find(|p| std::net::TcpListener::bind(("127.0.0.1", *p)).is_ok()).expect("a port");
        let addr: std::net::SocketAddr = ([127, 0, 0, 1], port).into();
        let base = format!("http://{addr}");
        let keys = Keyring::generate().to_spec();
        let max_file = (large + MIB).max(3 << 30).to_string();
        let mut server = tokio::process::Command::new(env!("CARGO_BIN_EXE_steward"))
            .arg("serve")
            // No `.env` of the checkout is read.
            .current_dir(&data_dir)
            .env("DATABASE_URL", &url)
            .env("STEWARD_DATA_DIR", &data_dir)
            .env("STEWARD_LISTEN", addr.to_string())
            .env("STEWARD_PUBLIC_URL", &base)
            .env("STEWARD_ENCRYPTION_KEYS", &keys)
            .env("STEWARD_LOG", "warn")
            // 100 uploaders share one address: measure uploads, not the limiter.
            .env("STEWARD_RATE_LIMIT", "off")
            .env("STEWARD_UPLOAD_NOTIFY_DELAY", "0")
            .env("STEWARD_UPLOAD_MAX_FILE_BYTES", &max_file)
            .env("STEWARD_UPLOAD_MAX_DROPOFF_BYTES", (64u64 << 30).to_string())
            .env_remove("STEWARD_SMTP_URL") // mail goes to .eml files in the data dir
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(root.join("serve.log")).unwrap())
            .stderr(std::fs::File::create(root.join("serve.err")).unwrap())
            .kill_on_drop(true)
            .spawn()
            .expect("starting steward serve");
        let pid = server.id().expect("server pid");
        common::wait_until_serving(addr).await;
        let started_kib = peak_rss_kib(pid);

        let channel = Channel::from_shared(base.clone()).unwrap().connect().await.unwrap();
        let mut client =
            UploadServiceClient::new(channel).max_decoding_message_size(8 << 20).max_encoding_message_size(8 << 20);
        let request = pb::CreateDropOffRequest {
            dropoff: Some(pb::DropOff { title: "Benchmark".into(), ..Default::default() }),
        };
        let created = client.create_drop_off(common::with_bearer(request, &owner)).await.unwrap().into_inner();
        let (dropoff, code) = (created.dropoff.unwrap().dropoff_id, created.upload_code);
        let http = reqwest::Client::builder().no_proxy().build().unwrap();

        let mut block = vec![0u8; CHUNK];
        SystemRandom::new().fill(&mut block).unwrap();
        let block = Bytes::from(block);

        let mut runs = Vec::new();
        for &size in &sizes {
            let content = Content::new(&block, size);
            let dd_mbps = dd(&data_dir, size);
            let (id, grpc) = grpc_upload(&mut client, &dropoff, &code, &content, Duration::from_millis(20)).await;
            delete(&mut client, &owner, &data_dir, &id).await;
            let (id, tus) = tus_upload(&http, &base, &mut client, &dropoff, &code, &content).await;
            delete(&mut client, &owner, &data_dir, &id).await;
            runs.push(SizeRun { size, dd_mbps, grpc, tus, hwm_kib: peak_rss_kib(pid) });
        }
        let (took, latencies) = concurrent(&client, &dropoff, &code, &block).await;
        let final_kib = peak_rss_kib(pid);

        assert!(server.try_wait().unwrap().is_none(), "steward serve exited; see {}", root.display());
        server.kill().await.unwrap();

        let mib = |kib: u64| kib as f64 / 1024.0;
        println!(
            "steward upload benchmark ({} cores, load {}; real `steward serve` over loopback, durable PostgreSQL, \
             AES-256-GCM + SHA-256 on)",
            std::thread::available_parallelism().map_or(0, |n| n.get()),
            std::fs::read_to_string("/proc/loadavg").unwrap_or_default().split(' ').take(3).collect::<Vec<_>>().join(" ")
        );
        println!("server peak RSS (VmHWM) after start         {:>9.1} MiB", mib(started_kib));
        for run in &runs {
            let ratio = |u: &Upload, which: fn(&Upload) -> Duration| mbps(run.size, which(u)) / run.dd_mbps;
            println!("{} MiB file", run.size / MIB);
            println!("  dd bs=4M conv=fsync, same bytes, same disk {:>9.1} MB/s", run.dd_mbps);
            for (name, upload) in [("gRPC WriteChunk", &run.grpc), ("tus PATCH      ", &run.tus)] {
                println!(
                    "  {name} until last byte committed {:>9.1} MB/s  {:>5.2} x dd  target >= 0.70",
                    mbps(run.size, upload.sent),
                    ratio(upload, |u| u.sent)
                );
                println!(
                    "  {name} until AVAILABLE           {:>9.1} MB/s  {:>5.2} x dd",
                    mbps(run.size, upload.available),
                    ratio(upload, |u| u.available)
                );
            }
            println!("  server peak RSS (VmHWM) after              {:>9.1} MiB   target < 100 MiB", mib(run.hwm_kib));
        }
        if let [small, large] = &runs[..] {
            println!(
                "server peak RSS growth, {} MiB -> {} MiB      {:>9.1} MiB   target: flat",
                small.size / MIB,
                large.size / MIB,
                mib(large.hwm_kib) - mib(small.hwm_kib)
            );
        }
        println!(
            "{CONCURRENT} concurrent uploads of {} KiB (create, write, finalize, until AVAILABLE): all complete in {:.2} s",
            SMALL_FILE >> 10,
            took.as_secs_f64()
        );
        println!(
            "  latency p50 {:.0} ms, p99 {:.0} ms, max {:.0} ms",
            percentile(&latencies, 0.5).as_secs_f64() * 1e3,
            percentile(&latencies, 0.99).as_secs_f64() * 1e3,
            latencies.last().unwrap().as_secs_f64() * 1e3
        );
        println!("server peak RSS (VmHWM) at the end           {:>9.1} MiB", mib(final_kib));
    });
}
