//! The upload e-mail outbox (spec upload.md §2.10, scenarios 60–65) against
//! a real SMTP server on loopback (aiosmtpd from PyPI, in the test venv;
//! tests/integration/smtp_sink.py), with the server's own job workers doing
//! the sending. Drop-offs and available files are inserted as rows; the
//! outbox is fed by `notify::enqueue` in a transaction, as completing a file does.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use diesel::sql_types::{Array, BigInt, Integer, Nullable, Text};
use diesel::{ExpressionMethods as _, QueryDsl as _, QueryableByName};
use diesel_async::{AsyncConnection as _, RunQueryDsl as _};
use serde_json::Value;
use steward::auth::Role;
use steward::db::schema::{upload_notification_recipients as r, upload_notifications as n, users};
use steward::upload::notify;
use uuid::Uuid;

use crate::common::{TestApp, TestDb, scratch_dir};

/// The aiosmtpd release the sink runs on (tests/run-all installs the same).
const AIOSMTPD_VERSION: &str = "1.4.6";

/// The venv's python with aiosmtpd, installed with pip when missing.
fn python() -> PathBuf {
    static INSTALL: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _one_at_a_time = INSTALL.lock().unwrap_or_else(|e| e.into_inner());
    let venv = std::env::var_os("STEWARD_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(std::env::var_os("HOME").expect("HOME is set")).join(".cache/steward/venv"));
    let python = venv.join("bin/python");
    let installed = || {
        std::process::Command::new(&python)
            .args(["-c", &format!("import aiosmtpd; assert aiosmtpd.__version__ == '{AIOSMTPD_VERSION}'")])
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    if !installed() {
        if !python.exists() {
            let status = std::process::Command::new("python3").arg("-m").arg("venv").arg(&venv).status().unwrap();
            assert!(status.success(), "creating the venv {} failed (Debian needs python3-venv)", venv.display());
        }
        let status = std::process::Command::new(venv.join("bin/pip"))
            .args(["install", "--quiet", "--disable-pip-version-check", &format!("aiosmtpd=={AIOSMTPD_VERSION}")])
            .status()
            .unwrap();
        assert!(status.success() && installed(), "installing aiosmtpd=={AIOSMTPD_VERSION} failed");
    }
    python
}

/// The SMTP sink: a real server on 127.0.0.1 that stores what it accepts.
pub(crate) struct Sink {
    port: u16,
    dir: PathBuf,
    args: Vec<String>,
    process: Option<tokio::process::Child>,
}

impl Sink {
    /// A sink on a free port, not yet running; `reject` get 550, `slow`
    /// delays each DATA answer.
    fn new(reject: &[&str], slow: Option<f64>) -> Sink {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let mut args: Vec<String> = reject.iter().flat_map(|a| ["--reject".to_owned(), (*a).to_owned()]).collect();
        if let Some(slow) = slow {
            args.extend(["--slow".to_owned(), slow.to_string()]);
        }
        Sink { port, dir: scratch_dir("smtp-sink"), args, process: None }
    }

    /// A running sink.
    pub(crate) async fn start(reject: &[&str], slow: Option<f64>) -> Sink {
        let mut sink = Sink::new(reject, slow);
        sink.up().await;
        sink
    }

    pub(crate) fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    /// Starts the server (again) and waits until it accepts connections.
    async fn up(&mut self) {
        let python = tokio::task::spawn_blocking(python).await.unwrap();
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/integration/smtp_sink.py");
        let mut process = tokio::process::Command::new(python)
            .arg(script)
            .args(["--port", &self.port.to_string(), "--dir", self.dir.to_str().unwrap()])
            .args(&self.args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("starting the SMTP sink");
        let deadline = Instant::now() + Duration::from_secs(30);
        while tokio::net::TcpStream::connect(("127.0.0.1", self.port)).await.is_err() {
            assert!(process.try_wait().unwrap().is_none(), "the SMTP sink exited");
            assert!(Instant::now() < deadline, "the SMTP sink did not come up");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        self.process = Some(process);
    }

    /// The accepted messages, oldest first, as the sink's parser read them.
    pub(crate) fn messages(&self) -> Vec<Value> {
        let mut numbered: Vec<(u64, Value)> = std::fs::read_dir(&self.dir)
            .unwrap()
            .filter_map(|e| {
                let name = e.unwrap().file_name().into_string().unwrap();
                let n = name.strip_suffix(".json")?.parse().ok()?;
                let text = std::fs::read_to_string(self.dir.join(&name)).unwrap();
                Some((n, serde_json::from_str(&text).unwrap()))
            })
            .collect();
        numbered.sort_by_key(|(n, _)| *n);
        numbered.into_iter().map(|(_, m)| m).collect()
    }

    /// The raw bytes of every accepted message.
    fn raw(&self) -> Vec<String> {
        let mut files: Vec<PathBuf> = std::fs::read_dir(&self.dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|x| x == "eml"))
            .collect();
        files.sort();
        files.into_iter().map(|p| String::from_utf8(std::fs::read(p).unwrap()).unwrap()).collect()
    }
}

pub(crate) fn rcpt(message: &Value) -> Vec<&str> {
    message["rcpt_tos"].as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect()
}

fn headers(message: &Value, name: &str) -> Vec<String> {
    message["headers"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|h| h[0].as_str().unwrap().eq_ignore_ascii_case(name))
        .map(|h| h[1].as_str().unwrap().to_owned())
        .collect()
}

fn header_names(message: &Value) -> Vec<String> {
    message["headers"].as_array().unwrap().iter().map(|h| h[0].as_str().unwrap().to_owned()).collect()
}

fn body(message: &Value) -> &str {
    message["body"].as_str().unwrap()
}

/// A drop-off of a researcher `owner` with `recipients`; its id.
async fn dropoff(db: &TestDb, owner: &str, title: &str, recipients: &[&str]) -> Uuid {
    db.token(owner, Some(Role::Researcher)).await;
    let mut conn = db.conn().await;
    let owner_id: i64 = users::table.filter(users::email.eq(owner)).select(users::id).first(&mut conn).await.unwrap();
    #[derive(QueryableByName)]
    struct Id {
        #[diesel(sql_type = diesel::sql_types::Uuid)]
        id: Uuid,
    }
    let recipients: Vec<String> = recipients.iter().map(|s| (*s).to_owned()).collect();
    let Id { id } = diesel::sql_query(
        "INSERT INTO upload_dropoffs (id, owner_user_id, title, recipient_emails, max_file_bytes, max_total_bytes, \
                                      expire_time, code_hash) \
         VALUES (gen_random_uuid(), $1, $2, $3, 1000000000, 1000000000, now() + interval '30 days', \
                 decode(repeat('ab', 32), 'hex')) RETURNING id",
    )
    .bind::<BigInt, _>(owner_id)
    .bind::<Text, _>(title)
    .bind::<Array<Text>, _>(&recipients)
    .get_result(&mut conn)
    .await
    .unwrap();
    id
}

/// An available file of `size` bytes in `dropoff`; its id and SHA-256.
async fn file(db: &TestDb, dropoff: Uuid, name: &str, size: i64) -> (Uuid, String) {
    #[derive(QueryableByName)]
    struct Row {
        #[diesel(sql_type = diesel::sql_types::Uuid)]
        id: Uuid,
        #[diesel(sql_type = Text)]
        sha256: String,
    }
    let row: Row = diesel::sql_query(
        "INSERT INTO upload_files (id, dropoff_id, name, size, committed_offset, content_type, protocol, status, \
                                   sha256, wrapped_key, key_id, expire_time, complete_time) \
         VALUES (gen_random_uuid(), $1, $2, $3, $3, 'text/csv', 'grpc', 'available', \
                 encode(sha256(convert_to($2, 'UTF8')), 'hex'), '\\x00', 'k1', now() + interval '1 day', now()) \
         RETURNING id, sha256",
    )
    .bind::<diesel::sql_types::Uuid, _>(dropoff)
    .bind::<Text, _>(name)
    .bind::<BigInt, _>(size)
    .get_result(&mut db.conn().await)
    .await
    .unwrap();
    (row.id, row.sha256)
}

/// Completes `file` as the finalize transaction does: the outbox rows and the
/// job commit together.
async fn complete(db: &TestDb, dropoff: Uuid, file: Uuid, delay: Duration) {
    let mut conn = db.conn().await;
    conn.transaction(async move |conn| notify::enqueue(conn, dropoff, file, delay).await).await.unwrap();
}

#[derive(Debug, QueryableByName)]
struct Recipient {
    #[diesel(sql_type = BigInt)]
    notification_id: i64,
    #[diesel(sql_type = Text)]
    email: String,
    #[diesel(sql_type = Text)]
    status: String,
    #[diesel(sql_type = Integer)]
    attempts: i32,
    #[diesel(sql_type = Nullable<Text>)]
    last_error: Option<String>,
}

async fn recipients(db: &TestDb, dropoff: Uuid) -> Vec<Recipient> {
    diesel::sql_query(
        "SELECT r.notification_id, r.email, r.status, r.attempts, r.last_error \
         FROM upload_notification_recipients r JOIN upload_notifications n ON n.id = r.notification_id \
         WHERE n.dropoff_id = $1 ORDER BY r.notification_id, r.email",
    )
    .bind::<diesel::sql_types::Uuid, _>(dropoff)
    .load(&mut db.conn().await)
    .await
    .unwrap()
}

/// Polls the outbox until `check` holds (30 s at most).
async fn wait_for(db: &TestDb, dropoff: Uuid, what: &str, check: impl Fn(&[Recipient]) -> bool) -> Vec<Recipient> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let rows = recipients(db, dropoff).await;
        if check(&rows) {
            return rows;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}: {rows:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn settled(rows: &[Recipient]) -> bool {
    !rows.is_empty() && rows.iter().all(|r| r.status != "pending")
}

async fn start(db: TestDb, smtp: Option<&str>) -> (TestApp, steward::config::Config) {
    // Retries a second apart, not the production minutes (§2.10).
    let mut vars = vec![("STEWARD_UPLOAD_NOTIFY_DELAY", "0"), ("STEWARD_UPLOAD_NOTIFY_RETRY_BASE", "1s")];
    if let Some(url) = smtp {
        vars.push(("STEWARD_SMTP_URL", url));
    }
    TestApp::start_with(db, &vars).await
}

/// Scenarios 60, 61 and 65: three files completed within the delay make one
/// message per recipient, listing all three with size and SHA-256; nobody
/// sees another recipient; CR/LF in the title and names add no header.
#[tokio::test]
async fn each_recipient_gets_one_message_listing_the_files() {
    let sink = Sink::start(&[], None).await;
    let db = TestDb::new().await;
    let title = "Survey 2026\r\nBcc: intruder@example.net";
    let id = dropoff(&db, "owner@example.org", title, &["ann@example.org", "bob@example.org"]).await;
    let a = file(&db, id, "answers.csv", 1536).await;
    let b = file(&db, id, "notes\r\nX-Injected: yes.txt", 0).await;
    let c = file(&db, id, "scan.pdf", 5 * 1024 * 1024 + 1).await;
    let (app, config) = start(db, Some(&sink.url())).await;

    // Within the 3 s delay of the first, all three join one notification.
    for f in [&a, &b, &c] {
        complete(&app.db, id, f.0, Duration::from_secs(3)).await;
    }
    let rows = wait_for(&app.db, id, "both messages sent", settled).await;
    assert!(rows.iter().all(|r| r.status == "sent" && r.attempts == 1 && r.last_error.is_none()), "{rows:?}");
    assert_eq!(rows[0].notification_id, rows[1].notification_id, "one notification");

    let messages = sink.messages();
    assert_eq!(messages.len(), 2, "one message per recipient: {messages:#?}");
    let mut seen = Vec::new();
    for message in &messages {
        let to = rcpt(message);
        assert_eq!(to.len(), 1, "one envelope recipient each");
        let other = if to[0] == "ann@example.org" { "bob@example.org" } else { "ann@example.org" };
        seen.push(to[0].to_owned());
        assert_eq!(headers(message, "To"), [to[0]]);
        let raw = serde_json::to_string(message).unwrap();
        assert!(!raw.contains(other), "{} must not see {other}: {raw}", to[0]);
        assert!(!raw.contains("owner@example.org"), "{raw}");

        assert_eq!(headers(message, "Subject"), ["[Steward] 3 new files in \"Survey 2026Bcc: intruder@example.net\""]);
        assert_eq!(headers(message, "Auto-Submitted"), ["auto-generated"]);
        assert_eq!(headers(message, "From"), [config.upload.mail_from.as_str()]);
        let message_id = headers(message, "Message-ID");
        assert_eq!(message_id.len(), 1);
        assert!(
            message_id[0].starts_with(&format!("<upload-notification-{}-", rows[0].notification_id))
                && message_id[0].ends_with("@127.0.0.1>"),
            "{message_id:?}"
        );
        let names = header_names(message);
        for forbidden in ["Bcc", "Cc", "X-Injected"] {
            assert!(!names.iter().any(|n| n.eq_ignore_ascii_case(forbidden)), "{forbidden} in {names:?}");
        }

        let text = body(message);
        assert!(text.contains("Survey 2026Bcc: intruder@example.net"), "{text}");
        assert!(text.contains("* answers.csv"), "{text}");
        assert!(text.contains("1.5 KiB (1536 bytes)"), "{text}");
        assert!(text.contains(&a.1), "{text}");
        assert!(text.contains("* notesX-Injected: yes.txt"), "{text}");
        assert!(text.contains("0 B (0 bytes)"), "{text}");
        assert!(text.contains(&b.1), "{text}");
        assert!(text.contains("* scan.pdf"), "{text}");
        assert!(text.contains("5.0 MiB (5242881 bytes)"), "{text}");
        assert!(text.contains(&c.1), "{text}");
        assert!(text.contains("Completed: "), "{text}");
        assert!(text.contains(&format!("{}/dropoffs/{id}", config.public_url)), "{text}");
    }
    seen.sort();
    assert_eq!(seen, ["ann@example.org", "bob@example.org"]);
    for raw in sink.raw() {
        let (head, _) = raw.split_once("\r\n\r\n").unwrap();
        assert!(!head.contains("\r\nBcc:") && !head.contains("\r\nX-Injected:"), "{head}");
    }

    let summary = notify::summary(&mut *app.db.conn().await, id).await.unwrap();
    assert_eq!(summary, notify::Summary { pending: 0, sent: 2, failed: 0, last_error: None });
    app.stop().await;
}

/// Scenario 63: a 550 for one recipient fails that one with the server's
/// words; the others are sent; the summary says so.
#[tokio::test]
async fn a_refused_recipient_fails_and_the_others_are_sent() {
    let sink = Sink::start(&["gone@example.org"], None).await;
    let db = TestDb::new().await;
    let id = dropoff(&db, "owner@example.org", "Interviews", &["ann@example.org", "gone@example.org"]).await;
    let (f, _) = file(&db, id, "a.wav", 10).await;
    let (app, _) = start(db, Some(&sink.url())).await;
    complete(&app.db, id, f, Duration::ZERO).await;
    let rows = wait_for(&app.db, id, "delivery settled", settled).await;
    assert_eq!((rows[0].email.as_str(), rows[0].status.as_str()), ("ann@example.org", "sent"));
    assert_eq!((rows[1].email.as_str(), rows[1].status.as_str()), ("gone@example.org", "failed"));
    let error = rows[1].last_error.as_deref().unwrap();
    assert!(error.contains("550") && error.contains("mailbox unavailable"), "{error}");
    assert_eq!(rows[1].attempts, 1, "a permanent failure is not retried");
    assert_eq!(sink.messages().len(), 1);

    let summary = notify::summary(&mut *app.db.conn().await, id).await.unwrap();
    assert_eq!((summary.pending, summary.sent, summary.failed), (0, 1, 1));
    assert!(summary.last_error.as_deref().is_some_and(|e| e.contains("550")), "{summary:?}");
    app.stop().await;
}

/// Scenario 62: with SMTP down the message stays pending and is retried
/// with backoff; once SMTP is back it is delivered, exactly once.
#[tokio::test]
async fn smtp_down_keeps_the_message_pending_until_it_is_back() {
    let mut sink = Sink::new(&[], None);
    let db = TestDb::new().await;
    let id = dropoff(&db, "owner@example.org", "Field notes", &[]).await;
    let (f, _) = file(&db, id, "day1.txt", 100).await;
    let (app, _) = start(db, Some(&sink.url())).await;
    complete(&app.db, id, f, Duration::ZERO).await;

    let rows = wait_for(&app.db, id, "two failed attempts", |rows| rows.first().is_some_and(|r| r.attempts >= 2)).await;
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].email, "owner@example.org", "no recipients: the owner is told");
    assert_eq!(rows[0].status, "pending");
    assert!(rows[0].last_error.as_deref().is_some_and(|e| !e.is_empty()), "{rows:?}");
    let summary = notify::summary(&mut *app.db.conn().await, id).await.unwrap();
    assert_eq!((summary.pending, summary.sent, summary.failed), (1, 0, 0));
    assert!(summary.last_error.is_some());

    sink.up().await;
    let rows = wait_for(&app.db, id, "delivery once SMTP is back", settled).await;
    assert_eq!(rows[0].status, "sent", "{rows:?}");
    assert!(rows[0].last_error.is_none());
    // Nothing else is still queued to send it again.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let messages = sink.messages();
    assert_eq!(messages.len(), 1, "delivered exactly once");
    assert_eq!(rcpt(&messages[0]), ["owner@example.org"]);
    app.stop().await;
}

/// A file completing while the drop-off's previous message is being sent
/// (the queue drops duplicates of running jobs) still gets its message.
#[tokio::test]
async fn a_file_completed_during_a_send_is_not_stranded() {
    let sink = Sink::start(&[], Some(2.0)).await;
    let db = TestDb::new().await;
    let id = dropoff(&db, "owner@example.org", "Batch", &["ann@example.org"]).await;
    let (first, _) = file(&db, id, "first.csv", 1).await;
    let (second, _) = file(&db, id, "second.csv", 2).await;
    let (app, _) = start(db, Some(&sink.url())).await;
    complete(&app.db, id, first, Duration::ZERO).await;
    // The first notification is claimed and its message is in flight (DATA is slow).
    let mut conn = app.db.conn().await;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let claimed: Vec<Option<chrono::DateTime<chrono::Utc>>> =
            n::table.filter(n::dropoff_id.eq(id)).select(n::claimed_at).load(&mut conn).await.unwrap();
        if claimed.iter().any(Option::is_some) {
            break;
        }
        assert!(Instant::now() < deadline, "the first notification was never claimed");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    drop(conn);
    complete(&app.db, id, second, Duration::ZERO).await;

    let rows = wait_for(&app.db, id, "both notifications sent", |rows| rows.len() == 2 && settled(rows)).await;
    assert!(rows.iter().all(|r| r.status == "sent"), "{rows:?}");
    let messages = sink.messages();
    assert_eq!(messages.len(), 2, "{messages:#?}");
    assert!(body(&messages[0]).contains("first.csv") && !body(&messages[0]).contains("second.csv"));
    assert!(body(&messages[1]).contains("second.csv") && !body(&messages[1]).contains("first.csv"));
    assert_eq!(headers(&messages[1], "Subject"), ["[Steward] 1 new file in \"Batch\""]);
    app.stop().await;
}

/// Scenario 64: a notification written before a crash (here: claimed by a
/// worker that died before sending) is sent once the server runs again.
#[tokio::test]
async fn a_notification_claimed_before_a_crash_is_sent_after_restart() {
    let sink = Sink::start(&[], None).await;
    let db = TestDb::new().await;
    let id = dropoff(&db, "owner@example.org", "Restart", &["ann@example.org"]).await;
    let (f, _) = file(&db, id, "kept.csv", 3).await;
    complete(&db, id, f, Duration::ZERO).await;
    {
        let mut conn = db.conn().await;
        let claimed = diesel::update(n::table.filter(n::dropoff_id.eq(id)))
            .set(n::claimed_at.eq(diesel::dsl::now))
            .execute(&mut conn)
            .await
            .unwrap();
        assert_eq!(claimed, 1);
        let pending: i64 = r::table.filter(r::status.eq("pending")).count().get_result(&mut conn).await.unwrap();
        assert_eq!(pending, 1);
    }
    let (app, _) = start(db, Some(&sink.url())).await;
    let rows = wait_for(&app.db, id, "the claimed message sent", settled).await;
    assert_eq!(rows[0].status, "sent");
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(sink.messages().len(), 1, "sent once");
    app.stop().await;
}

/// Development without `STEWARD_SMTP_URL`: messages are `.eml` files under
/// `<data dir>/mail/`.
#[tokio::test]
async fn development_without_smtp_writes_eml_files() {
    let db = TestDb::new().await;
    let id = dropoff(&db, "owner@example.org", "Local", &["ann@example.org"]).await;
    let (f, sha256) = file(&db, id, "local.csv", 42).await;
    let (app, config) = start(db, None).await;
    complete(&app.db, id, f, Duration::ZERO).await;
    let rows = wait_for(&app.db, id, "the message written", settled).await;
    assert_eq!(rows[0].status, "sent", "{rows:?}");
    let dir = config.data_dir.join("mail");
    let files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "eml"))
        .collect();
    assert_eq!(files.len(), 1, "{files:?}");
    let raw = std::fs::read_to_string(&files[0]).unwrap();
    assert!(raw.contains("To: ann@example.org\r\n"), "{raw}");
    assert!(raw.contains("Auto-Submitted: auto-generated\r\n"), "{raw}");
    assert!(raw.contains("Subject: [Steward] 1 new file in \"Local\"\r\n"), "{raw}");
    // The body is quoted-printable (lettre's choice for long lines): undo the soft breaks.
    assert!(raw.replace("=\r\n", "").contains(&format!("SHA-256:   {sha256}\r\n")), "{raw}");
    app.stop().await;
}

#[derive(QueryableByName, Debug)]
struct NotifyJob {
    #[diesel(sql_type = Text)]
    state: String,
    #[diesel(sql_type = Integer)]
    attempts: i32,
    #[diesel(sql_type = diesel::sql_types::Double)]
    due_in_secs: f64,
}

/// The `upload.notify` job once it is back in the queue after `attempts` tries.
async fn queued_notify_job(db: &TestDb, attempts: i32) -> NotifyJob {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let jobs: Vec<NotifyJob> = diesel::sql_query(
            "SELECT state, attempts, EXTRACT(EPOCH FROM run_at - now())::float8 AS due_in_secs \
             FROM jobs WHERE kind = $1",
        )
        .bind::<Text, _>(notify::KIND)
        .load(&mut db.conn().await)
        .await
        .unwrap();
        if let [job] = jobs.as_slice()
            && job.state == "queued"
            && job.attempts == attempts
        {
            return jobs.into_iter().next().unwrap();
        }
        assert!(
            Instant::now() < deadline,
            "the notification job was not re-queued after {attempts} attempt(s): {jobs:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A server whose SMTP server is down (never started), with notifications
/// retried from `retry_base`, and one file of a drop-off just completed.
async fn one_file_while_smtp_is_down(retry_base: &str) -> (TestApp, Uuid) {
    let sink = Sink::new(&[], None);
    let db = TestDb::new().await;
    let id = dropoff(&db, "owner@example.org", "Field notes", &[]).await;
    let (f, _) = file(&db, id, "day1.txt", 100).await;
    let url = sink.url();
    let vars = [
        ("STEWARD_UPLOAD_NOTIFY_DELAY", "0"),
        ("STEWARD_SMTP_URL", url.as_str()),
        ("STEWARD_UPLOAD_NOTIFY_RETRY_BASE", retry_base),
    ];
    let (app, _) = TestApp::start_with(db, &vars).await;
    complete(&app.db, id, f, Duration::ZERO).await;
    (app, id)
}

/// §2.10: a temporary failure is retried on the notifications' own schedule
/// (`STEWARD_UPLOAD_NOTIFY_RETRY_BASE`, doubling per attempt, up to 10
/// attempts over about a day), not within the queue's default seconds.
#[tokio::test]
async fn a_temporary_failure_is_retried_on_the_notification_schedule() {
    let (app, id) = one_file_while_smtp_is_down("10m").await;

    let job = queued_notify_job(&app.db, 1).await;
    // Ten minutes, plus at most a tenth of jitter.
    assert!((590.0..=661.0).contains(&job.due_in_secs), "{job:?}");
    let rows = recipients(&app.db, id).await;
    assert_eq!((rows[0].status.as_str(), rows[0].attempts), ("pending", 1), "{rows:?}");
    app.stop().await;
}

/// §2.10: after the 10th failed attempt the recipient is `failed` with the
/// last error, and nothing is retried any more.
#[tokio::test]
async fn a_recipient_fails_after_ten_temporary_failures() {
    // 10 ms doubling: the ten attempts within about 5 s.
    let (app, id) = one_file_while_smtp_is_down("10ms").await;

    let rows = wait_for(&app.db, id, "the recipient given up on", settled).await;
    assert_eq!((rows[0].status.as_str(), rows[0].attempts), ("failed", notify::MAX_ATTEMPTS), "{rows:?}");
    let error = rows[0].last_error.as_deref().unwrap_or_default();
    assert!(error.starts_with("gave up after 10 attempts: "), "{error}");
    let summary = notify::summary(&mut *app.db.conn().await, id).await.unwrap();
    assert_eq!((summary.pending, summary.sent, summary.failed), (0, 0, 1));
    assert_eq!(summary.last_error.as_deref(), Some(error));
    app.stop().await;
}
