//! Crashes, restarts and replicas with the real `steward` binary (spec
//! upload.md §2.7, §2.8, §2.10; §6 scenarios 38–42 and 64): `steward serve`
//! runs as a child process over a test database, with its data and staging
//! directories in a scratch dir shared by its replicas. It is killed with
//! SIGKILL, paused with SIGSTOP and resumed with SIGCONT, and started again
//! over the same database and directories. Uploads go over tus with slowly
//! streamed bodies; files are checked through GetUpload and DownloadFile.

use std::io::BufRead as _;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use bytes::Bytes;
use diesel::{ExpressionMethods as _, OptionalExtension as _, QueryDsl as _};
use reqwest::{Method, StatusCode};
use ring::digest::{SHA256, digest};
use steward::auth::Role;
use steward::db::schema::{audit_log, jobs, upload_files, upload_notification_recipients, upload_notifications};
use steward::proto::upload::v1 as pb;
use steward::proto::upload::v1::upload_service_client::UploadServiceClient;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tonic::transport::Channel;
use uuid::Uuid;

use crate::common::{TestDb, scratch_dir, with_bearer};
use crate::upload_notify::{Sink, rcpt};

const OWNER: &str = "restart-owner@example.org";
const KIB: usize = 1024;
const MIB: usize = 1024 * KIB;
/// A HEAD answers at once, whatever a writer is doing (scenario 42); the
/// bound leaves room for a loaded machine.
const HEAD_AT_ONCE: Duration = Duration::from_secs(1);

/// Bytes from a xorshift generator: no run repeats, so a lost or doubled
/// piece changes the digest.
fn random_bytes(len: usize, seed: u64) -> Arc<Vec<u8>> {
    let mut state = seed | 1;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        out.extend_from_slice(&state.to_le_bytes());
    }
    out.truncate(len);
    Arc::new(out)
}

fn sha256_hex(data: &[u8]) -> String {
    digest(&SHA256, data).as_ref().iter().map(|b| format!("{b:02x}")).collect()
}

/// One deployment: a database, and the data and staging directories every
/// replica shares.
struct Deployment {
    db: TestDb,
    data_dir: PathBuf,
    staging_dir: PathBuf,
    owner: String,
    http: reqwest::Client,
}

impl Deployment {
    async fn new() -> Deployment {
        let db = TestDb::new().await;
        let owner = db.token(OWNER, Some(Role::Researcher)).await;
        let root = scratch_dir("restart");
        let (data_dir, staging_dir) = (root.join("data"), root.join("staging"));
        std::fs::create_dir_all(&data_dir).unwrap();
        std::fs::create_dir_all(&staging_dir).unwrap();
        Deployment { db, data_dir, staging_dir, owner, http: reqwest::Client::new() }
    }

    /// Starts `steward serve` over this deployment (with `extra` settings)
    /// and returns once it serves.
    async fn serve(&self, extra: &[(&str, &str)]) -> Server {
        let mut command = Command::new(env!("CARGO_BIN_EXE_steward"));
        command
            .arg("serve")
            .env("DATABASE_URL", self.db.url())
            .env("STEWARD_DATA_DIR", &self.data_dir)
            .env("STEWARD_UPLOAD_STAGING_DIR", &self.staging_dir)
            .env("STEWARD_LISTEN", "127.0.0.1:0")
            .env("STEWARD_LOG", "info")
            .env("STEWARD_LOG_FORMAT", "json")
            .env("STEWARD_WORKERS", "1")
            .env("STEWARD_RATE_LIMIT", "off")
            .env("STEWARD_UPLOAD_NOTIFY_DELAY", "0")
            .env_remove("STEWARD_ENV")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        for (name, value) in extra {
            command.env(name, value);
        }
        let mut child = command.spawn().expect("starting steward serve");
        // The log is read to the end, so the server never writes into a full pipe.
        let stderr = child.stderr.take().unwrap();
        let log = Arc::new(Mutex::new(Vec::<String>::new()));
        let (found, address) = tokio::sync::oneshot::channel();
        {
            let log = log.clone();
            std::thread::spawn(move || {
                let mut found = Some(found);
                for line in std::io::BufReader::new(stderr).lines() {
                    let Ok(line) = line else { break };
                    if let Some(addr) = serving_address(&line)
                        && let Some(found) = found.take()
                    {
                        let _ = found.send(addr);
                    }
                    log.lock().unwrap().push(line);
                }
            });
        }
        let mut server = Server { child, addr: "127.0.0.1:0".parse().unwrap(), log };
        match tokio::time::timeout(Duration::from_secs(60), address).await {
            Ok(Ok(addr)) => server.addr = addr,
            _ => panic!("steward serve did not start; its log:\n{}", server.log_text()),
        }
        server
    }

    async fn conn(&self) -> steward::db::PooledConn {
        self.db.conn().await
    }

    /// The file's status and committed offset, as the database holds them.
    async fn file_row(&self, id: Uuid) -> (String, i64) {
        use diesel_async::RunQueryDsl as _;
        upload_files::table
            .find(id)
            .select((upload_files::status, upload_files::committed_offset))
            .first(&mut *self.conn().await)
            .await
            .unwrap()
    }

    /// The state of the finalize job of `id`, while there is one.
    async fn finalize_job(&self, id: Uuid) -> Option<String> {
        use diesel_async::RunQueryDsl as _;
        jobs::table
            .filter(jobs::dedup_key.eq(format!("upload.finalize:{id}")))
            .select(jobs::state)
            .first(&mut *self.conn().await)
            .await
            .optional()
            .unwrap()
    }

    /// Every recipient row of the drop-off's notifications: (e-mail, status, attempts).
    async fn recipients(&self, dropoff: Uuid) -> Vec<(String, String, i32)> {
        use diesel_async::RunQueryDsl as _;
        upload_notification_recipients::table
            .inner_join(upload_notifications::table)
            .filter(upload_notifications::dropoff_id.eq(dropoff))
            .select((
                upload_notification_recipients::email,
                upload_notification_recipients::status,
                upload_notification_recipients::attempts,
            ))
            .order(upload_notification_recipients::email)
            .load(&mut *self.conn().await)
            .await
            .unwrap()
    }

    /// A tus request with `Tus-Resumable: 1.0.0` and the code.
    fn tus(&self, method: Method, url: String, code: &str) -> reqwest::RequestBuilder {
        self.http.request(method, url).header("Tus-Resumable", "1.0.0").header("Dropoff-Code", code)
    }

    /// Creates an upload of `length` bytes on `server`; returns its id.
    async fn create(&self, server: &Server, dropoff: &str, code: &str, length: usize) -> String {
        let metadata = format!("dropoff {},filename {}", STANDARD.encode(dropoff), STANDARD.encode("data.bin"));
        let response = self
            .tus(Method::POST, server.url("/files/"), code)
            .header("Upload-Metadata", metadata)
            .header("Upload-Length", length)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::CREATED, "{:?}", response.headers());
        let location = response.headers()["location"].to_str().unwrap();
        location.rsplit('/').next().unwrap().to_owned()
    }

    /// HEAD on `server`: the committed offset, asserting the answer came at once.
    async fn offset(&self, server: &Server, id: &str, code: &str) -> u64 {
        let started = Instant::now();
        let response = tokio::time::timeout(
            Duration::from_secs(10),
            self.tus(Method::HEAD, server.url(&format!("/files/{id}")), code).send(),
        )
        .await
        .expect("HEAD never waits for a writer")
        .unwrap();
        let took = started.elapsed();
        assert_eq!(response.status(), StatusCode::OK, "HEAD is never 423");
        assert!(took < HEAD_AT_ONCE, "HEAD took {took:?}");
        response.headers()["upload-offset"].to_str().unwrap().parse().unwrap()
    }

    /// Polls HEAD until the committed offset exceeds `above` (30 s at most).
    async fn offset_above(&self, server: &Server, id: &str, code: &str, above: u64) -> u64 {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let offset = self.offset(server, id, code).await;
            if offset > above {
                return offset;
            }
            assert!(Instant::now() < deadline, "nothing was committed beyond {above}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// A PATCH at `offset` with `body`.
    fn patch(
        &self,
        server: &Server,
        id: &str,
        code: &str,
        offset: u64,
        body: reqwest::Body,
    ) -> reqwest::RequestBuilder {
        self.tus(Method::PATCH, server.url(&format!("/files/{id}")), code)
            .header("Content-Type", "application/offset+octet-stream")
            .header("Upload-Offset", offset)
            .body(body)
    }

    /// Sends the rest of `data` from HEAD's offset as tus clients do:
    /// again after 423 (a lease held by a writer that is gone until it goes
    /// stale) or a connection closed by such a refusal. Returns the final
    /// offset; fails after 60 s.
    async fn resume(&self, server: &Server, id: &str, code: &str, data: &[u8]) -> u64 {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let offset = self.offset(server, id, code).await;
            match self.patch(server, id, code, offset, whole(data, offset)).send().await {
                Ok(response) if response.status() == StatusCode::NO_CONTENT => return upload_offset(&response),
                Ok(response) if response.status() == StatusCode::LOCKED => {}
                Ok(response) => panic!("resuming at {offset}: {} {:?}", response.status(), response.text().await),
                Err(e) => assert!(!e.is_timeout(), "{e}"),
            }
            assert!(Instant::now() < deadline, "the upload could not be resumed");
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    }

    /// A PATCH running in its own task; its status and body, or the
    /// transport error when the connection closed first.
    fn spawn_patch(
        &self,
        server: &Server,
        id: &str,
        code: &str,
        offset: u64,
        body: reqwest::Body,
    ) -> JoinHandle<Result<(StatusCode, String), reqwest::Error>> {
        let request = self.patch(server, id, code, offset, body);
        tokio::spawn(async move {
            let response = request.send().await?;
            let status = response.status();
            Ok((status, response.text().await.unwrap_or_default()))
        })
    }

    /// A drop-off with these recipients, made through `server`; its id and code.
    async fn dropoff(&self, server: &Server, recipients: &[&str]) -> (String, String) {
        let dropoff = pb::DropOff {
            title: "Field recordings".into(),
            recipient_emails: recipients.iter().map(|r| (*r).to_owned()).collect(),
            ..Default::default()
        };
        let request = pb::CreateDropOffRequest { dropoff: Some(dropoff) };
        let created =
            server.grpc().await.create_drop_off(with_bearer(request, &self.owner)).await.unwrap().into_inner();
        (created.dropoff.unwrap().dropoff_id, created.upload_code)
    }

    /// GetUpload on `server` until the file has left UPLOADING and PROCESSING.
    async fn settled(&self, server: &Server, id: &str, code: &str) -> pb::File {
        let mut grpc = server.grpc().await;
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let request = pb::GetUploadRequest { upload_id: id.into(), upload_code: code.into() };
            let file = grpc.get_upload(request).await.unwrap().into_inner().file.unwrap();
            if !matches!(file.status(), pb::FileStatus::Processing | pb::FileStatus::Uploading) {
                return file;
            }
            assert!(Instant::now() < deadline, "{id} stayed {:?}", file.status());
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The stored file, as its owner downloads it through `server`.
    async fn download(&self, server: &Server, id: &str) -> Vec<u8> {
        let request = pb::DownloadFileRequest { file_id: id.into(), offset: 0 };
        let mut stream =
            server.grpc().await.download_file(with_bearer(request, &self.owner)).await.unwrap().into_inner();
        let mut out = Vec::new();
        while let Some(message) = stream.message().await.unwrap() {
            out.extend_from_slice(&message.data);
        }
        out
    }

    /// The file is AVAILABLE with the SHA-256 of `data` (GetUpload and
    /// ListFiles agree), and downloads byte for byte.
    async fn assert_stored(&self, server: &Server, dropoff: &str, id: &str, code: &str, data: &[u8]) {
        let file = self.settled(server, id, code).await;
        assert_eq!(file.status(), pb::FileStatus::Available, "{file:?}");
        let expected = sha256_hex(data);
        assert_eq!(file.sha256, expected);
        assert_eq!((file.size, file.offset), (Some(data.len() as i64), data.len() as i64));
        let request = pb::ListFilesRequest { dropoff_id: dropoff.into(), ..Default::default() };
        let listed = server.grpc().await.list_files(with_bearer(request, &self.owner)).await.unwrap().into_inner();
        let listed = listed.files.iter().find(|f| f.file_id == id).expect("the file is listed");
        assert_eq!(listed.sha256, expected);
        let downloaded = self.download(server, id).await;
        assert_eq!(downloaded.len(), data.len());
        assert!(downloaded == data, "the downloaded bytes differ from the uploaded ones");
    }
}

/// The address in the `Steward is serving` log line (JSON format).
fn serving_address(line: &str) -> Option<SocketAddr> {
    let event: serde_json::Value = serde_json::from_str(line).ok()?;
    let fields = event.get("fields")?;
    if fields.get("message")?.as_str()? != "Steward is serving" {
        return None;
    }
    fields.get("address")?.as_str()?.parse().ok()
}

/// A running `steward serve`; killed (SIGKILL) when dropped.
struct Server {
    child: Child,
    addr: SocketAddr,
    log: Arc<Mutex<Vec<String>>>,
}

impl Server {
    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    async fn grpc(&self) -> UploadServiceClient<Channel> {
        let channel = Channel::from_shared(self.url("")).unwrap().connect().await.expect("connecting to steward");
        UploadServiceClient::new(channel)
    }

    /// Sends `signal` (`STOP`, `CONT`) with `kill`.
    fn signal(&self, signal: &str) {
        let sent = Command::new("kill").arg(format!("-{signal}")).arg(self.child.id().to_string()).status().unwrap();
        assert!(sent.success(), "kill -{signal} failed");
    }

    /// SIGKILL, and waits for the process to be gone.
    fn kill(mut self) {
        self.child.kill().expect("SIGKILL");
        let status = self.child.wait().unwrap();
        assert!(!status.success(), "killed, so no clean exit: {status}");
    }

    fn log_text(&self) -> String {
        self.log.lock().unwrap().join("\n")
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A request body streaming `data[from..]` slowly: `chunk` bytes every
/// `every`. `sent` holds the end offset of what was handed to the client so
/// far (all the server can have received); the body ends early once `stop`
/// is set.
fn paced(
    data: Arc<Vec<u8>>,
    from: usize,
    chunk: usize,
    every: Duration,
    sent: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
) -> reqwest::Body {
    let pieces = futures_util::stream::unfold(from, move |at| {
        let (data, sent, stop) = (data.clone(), sent.clone(), stop.clone());
        async move {
            tokio::time::sleep(every).await;
            if at >= data.len() || stop.load(Ordering::SeqCst) {
                return None;
            }
            let end = (at + chunk).min(data.len());
            sent.store(end as u64, Ordering::SeqCst);
            Some((Ok::<_, std::io::Error>(Bytes::copy_from_slice(&data[at..end])), end))
        }
    });
    reqwest::Body::wrap_stream(pieces)
}

fn whole(data: &[u8], from: u64) -> reqwest::Body {
    reqwest::Body::from(data[from as usize..].to_vec())
}

fn upload_offset(response: &reqwest::Response) -> u64 {
    response.headers()["upload-offset"].to_str().unwrap().parse().unwrap()
}

/// How a PATCH that a newcomer took over ended: 400 ERR_UPLOAD_INTERRUPTED
/// when its client was still there, or a closed connection.
async fn assert_interrupted(patch: JoinHandle<Result<(StatusCode, String), reqwest::Error>>) {
    let ended = tokio::time::timeout(Duration::from_secs(60), patch).await.expect("the old PATCH ended").unwrap();
    if let Ok((status, body)) = ended {
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert!(body.starts_with("ERR_UPLOAD_INTERRUPTED"), "{body}");
    }
}

/// Scenario 38: the server is killed with SIGKILL mid-PATCH and started
/// again over the same database and staging. HEAD reports an offset at
/// least the last one seen before the kill and at most what was sent; the
/// upload resumes from it and the stored file is the local one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_killed_mid_patch_resumes_from_the_committed_offset() {
    let deployment = Deployment::new().await;
    let server = deployment.serve(&[]).await;
    let (dropoff, code) = deployment.dropoff(&server, &[]).await;
    let data = random_bytes(64 * MIB + 4321, 38);
    let id = deployment.create(&server, &dropoff, &code, data.len()).await;

    // About 6 MiB/s: commits every 8 MiB or 5 s.
    let (sent, stop) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicBool::new(false)));
    let body = paced(data.clone(), 0, 256 * KIB, Duration::from_millis(40), sent.clone(), stop.clone());
    let patch = deployment.spawn_patch(&server, &id, &code, 0, body);
    let first = deployment.offset_above(&server, &id, &code, 0).await;
    // More is on its way, not all of it committed, when the server dies.
    while sent.load(Ordering::SeqCst) < first + 3 * MIB as u64 {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let last_seen = deployment.offset(&server, &id, &code).await;
    assert!(last_seen >= first);
    server.kill();
    let sent_at_kill = sent.load(Ordering::SeqCst);
    stop.store(true, Ordering::SeqCst);
    let cut = tokio::time::timeout(Duration::from_secs(30), patch).await.expect("the PATCH ended").unwrap();
    assert!(cut.is_err(), "the connection died with the server: {cut:?}");
    assert!(sent_at_kill < data.len() as u64, "the body was still being sent");

    let server = deployment.serve(&[]).await;
    let resumed = deployment.offset(&server, &id, &code).await;
    assert!(
        (last_seen..=sent_at_kill).contains(&resumed),
        "HEAD after the restart says {resumed}; before the kill it said {last_seen}, and {sent_at_kill} bytes were sent"
    );
    assert_eq!(deployment.file_row(Uuid::parse_str(&id).unwrap()).await, ("uploading".to_owned(), resumed as i64));

    // The killed process's lease is still in the row: the resume gets 423
    // until it is stale (15 s), and a tus client retries.
    let completed = deployment.resume(&server, &id, &code, &data).await;
    assert_eq!(completed, data.len() as u64);
    deployment.assert_stored(&server, &dropoff, &id, &code, &data).await;
}

/// Scenarios 39 and 64: the server is killed while the finalize job runs,
/// and again after the file became AVAILABLE but before the notification
/// delay let the e-mail go. The job is taken up again once its lease
/// lapses; the file becomes AVAILABLE once, and each recipient gets one
/// message from the restarted server.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restarts_during_finalize_and_before_the_email_make_one_file_and_one_message_each() {
    let sink = Sink::start(&[], None).await;
    let smtp = sink.url();
    let deployment = Deployment::new().await;
    // The delay keeps the e-mail back long enough to stop the server after
    // completion and before sending, without racing the sender.
    let settings = [("STEWARD_SMTP_URL", smtp.as_str()), ("STEWARD_UPLOAD_NOTIFY_DELAY", "8s")];
    let server = deployment.serve(&settings).await;
    let (dropoff, code) = deployment.dropoff(&server, &["ann@example.org", "bob@example.org"]).await;
    let dropoff_id = Uuid::parse_str(&dropoff).unwrap();
    let data = random_bytes(96 * MIB + 17, 39);
    let id = deployment.create(&server, &dropoff, &code, data.len()).await;
    let file_id = Uuid::parse_str(&id).unwrap();

    // The last byte queues the finalize job; the server is paused as soon as
    // its worker has claimed it, then killed.
    let patch = deployment.spawn_patch(&server, &id, &code, 0, whole(&data, 0));
    let deadline = Instant::now() + Duration::from_secs(120);
    while deployment.finalize_job(file_id).await.as_deref() != Some("running") {
        assert!(Instant::now() < deadline, "the finalize job never ran");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    server.signal("STOP");
    assert_eq!(
        deployment.file_row(file_id).await,
        ("processing".to_owned(), data.len() as i64),
        "the server stopped while the finalize job ran"
    );
    server.kill();
    // The PATCH was answered, or its connection died with the server after the commit.
    let patched = tokio::time::timeout(Duration::from_secs(30), patch).await.unwrap().unwrap();
    if let Ok((status, body)) = patched {
        assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    }

    // The restarted server's worker takes the job up once the dead worker's
    // lease (60 s) has lapsed.
    let server = deployment.serve(&settings).await;
    let deadline = Instant::now() + Duration::from_secs(150);
    loop {
        let (status, _) = deployment.file_row(file_id).await;
        if status == "available" {
            break;
        }
        assert_eq!(status, "processing");
        assert!(Instant::now() < deadline, "the finalize job was not run again");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    server.kill();
    let pending = deployment.recipients(dropoff_id).await;
    assert_eq!(
        pending,
        [
            ("ann@example.org".to_owned(), "pending".to_owned(), 0),
            ("bob@example.org".to_owned(), "pending".to_owned(), 0)
        ],
        "the outbox was written with the file, and nothing was sent yet"
    );
    assert!(sink.messages().is_empty(), "killed before the delay let the e-mail go");

    let server = deployment.serve(&settings).await;
    let deadline = Instant::now() + Duration::from_secs(60);
    while deployment.recipients(dropoff_id).await.iter().any(|(_, status, _)| status == "pending") {
        assert!(Instant::now() < deadline, "the e-mail was not sent after the restart");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let sent = deployment.recipients(dropoff_id).await;
    assert!(sent.iter().all(|(_, status, attempts)| status == "sent" && *attempts == 1), "{sent:?}");
    // Anything sent twice would arrive within this wait.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let messages = sink.messages();
    let mut to: Vec<Vec<&str>> = messages.iter().map(rcpt).collect();
    to.sort();
    assert_eq!(to, [["ann@example.org"], ["bob@example.org"]], "one message per recipient");

    use diesel_async::RunQueryDsl as _;
    let mut conn = deployment.conn().await;
    let completed: i64 = audit_log::table
        .filter(audit_log::action.eq("upload_completed"))
        .filter(audit_log::target_id.eq(&id))
        .count()
        .get_result(&mut conn)
        .await
        .unwrap();
    assert_eq!(completed, 1, "the file became AVAILABLE once");
    let notifications: Vec<Vec<Option<Uuid>>> = upload_notifications::table
        .filter(upload_notifications::dropoff_id.eq(dropoff_id))
        .select(upload_notifications::file_ids)
        .load(&mut conn)
        .await
        .unwrap();
    assert_eq!(notifications, [vec![Some(file_id)]]);
    drop(conn);
    deployment.assert_stored(&server, &dropoff, &id, &code, &data).await;
}

/// Scenario 40, within one replica and across two: while a slow PATCH A is
/// in flight, PATCH B at HEAD's offset makes A let go (in-process, and by
/// `NOTIFY steward_upload_release` from the other replica). A ends with
/// ERR_UPLOAD_INTERRUPTED or a closed connection; B completes the upload,
/// and the stored file has no byte lost or doubled.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_newcomer_interrupts_a_slow_patch_on_either_replica() {
    let deployment = Deployment::new().await;
    let first = deployment.serve(&[]).await;
    let second = deployment.serve(&[]).await;
    let (dropoff, code) = deployment.dropoff(&first, &[]).await;

    for (seed, newcomer) in [(40, &first), (41, &second)] {
        let data = random_bytes(24 * MIB + 999, seed);
        let id = deployment.create(&first, &dropoff, &code, data.len()).await;
        let (sent, stop) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicBool::new(false)));
        let body = paced(data.clone(), 0, 64 * KIB, Duration::from_millis(25), sent, stop.clone());
        let patch_a = deployment.spawn_patch(&first, &id, &code, 0, body);
        let mut offset = deployment.offset_above(newcomer, &id, &code, 0).await;

        // B starts where HEAD said; should A commit once more before it lets
        // go, B learns the new offset from the 409, as tus clients do.
        let mut answered = None;
        for _ in 0..3 {
            let response = deployment.patch(newcomer, &id, &code, offset, whole(&data, offset)).send().await.unwrap();
            match response.status() {
                StatusCode::NO_CONTENT => {
                    answered = Some(upload_offset(&response));
                    break;
                }
                StatusCode::CONFLICT => offset = upload_offset(&response),
                other => panic!("PATCH B: {other} {:?}", response.text().await),
            }
        }
        assert_eq!(answered, Some(data.len() as u64), "PATCH B completed the upload");
        stop.store(true, Ordering::SeqCst);
        assert_interrupted(patch_a).await;
        deployment.assert_stored(newcomer, &dropoff, &id, &code, &data).await;
    }
}

/// Scenarios 41 and 42 with two replicas: the replica holding the lease is
/// paused with SIGSTOP mid-PATCH. On the other replica HEAD answers at once,
/// and a PATCH gets 423 ERR_UPLOAD_LOCKED after its short wait until the
/// lease goes stale (15 s without a refresh); then it is taken over and the
/// upload completes there. Resumed with SIGCONT, the paused replica's
/// writer finds its lease gone and its late bytes do not reach the file.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paused_lease_holder_locks_out_others_until_its_lease_is_stale() {
    let deployment = Deployment::new().await;
    let paused = deployment.serve(&[]).await;
    let other = deployment.serve(&[]).await;
    let (dropoff, code) = deployment.dropoff(&paused, &[]).await;
    // Not a multiple of the 64 KiB segment, so the staging has a tail.
    let data = random_bytes(32 * MIB + 777, 42);
    let id = deployment.create(&paused, &dropoff, &code, data.len()).await;

    let stop = Arc::new(AtomicBool::new(false));
    let body = paced(data.clone(), 0, 64 * KIB, Duration::from_millis(20), Arc::default(), stop.clone());
    let patch_a = deployment.spawn_patch(&paused, &id, &code, 0, body);
    // Scenario 42: HEAD on either replica during the PATCH answers at once.
    let committed = deployment.offset_above(&other, &id, &code, 0).await;
    assert!(deployment.offset(&paused, &id, &code).await >= committed);
    // Bytes received since the last commit are pending when the replica stops.
    tokio::time::sleep(Duration::from_millis(500)).await;

    paused.signal("STOP");
    let stopped_at = Instant::now();
    let offset = deployment.offset(&other, &id, &code).await;

    // A PATCH on the other replica waits for the stopped holder, then 423;
    // HEAD meanwhile answers at once.
    let piece = 64 * KIB as u64;
    let probe = |at: u64| {
        deployment.spawn_patch(
            &other,
            &id,
            &code,
            at,
            reqwest::Body::from(data[at as usize..(at + piece) as usize].to_vec()),
        )
    };
    let started = Instant::now();
    let locked = probe(offset);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(deployment.offset(&other, &id, &code).await, offset);
    let (status, body) = locked.await.unwrap().unwrap();
    let waited = started.elapsed();
    assert_eq!(status, StatusCode::LOCKED, "{body}");
    assert!(body.starts_with("ERR_UPLOAD_LOCKED"), "{body}");
    assert!(waited < Duration::from_secs(10), "423 came after {waited:?}");

    // Retried as tus-js-client does, the PATCH succeeds once the lease is stale.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (status, body) = probe(offset).await.unwrap().unwrap();
        if status == StatusCode::NO_CONTENT {
            break;
        }
        assert_eq!(status, StatusCode::LOCKED, "{body}");
        assert_eq!(deployment.offset(&other, &id, &code).await, offset, "nothing moves while locked");
        assert!(Instant::now() < deadline, "the lease of the stopped replica never went stale");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    // The holder refreshed its lease at most 5 s before it stopped.
    let stale_after = stopped_at.elapsed();
    assert!(stale_after >= Duration::from_secs(9), "taken over after only {stale_after:?}");
    let rest = offset + piece;
    let response = deployment.patch(&other, &id, &code, rest, whole(&data, rest)).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::NO_CONTENT, "{:?}", response.text().await);
    assert_eq!(upload_offset(&response), data.len() as u64);

    // The stopped replica resumes while the file is being finalized.
    paused.signal("CONT");
    stop.store(true, Ordering::SeqCst);
    assert_interrupted(patch_a).await;
    deployment.assert_stored(&other, &dropoff, &id, &code, &data).await;
    assert_eq!(deployment.offset(&paused, &id, &code).await, data.len() as u64);
    deployment.assert_stored(&paused, &dropoff, &id, &code, &data).await;
}
