//! The upload e-mail outbox (spec upload.md §2.10).
//!
//! - [`enqueue`] runs inside the transaction that makes a file `AVAILABLE`
//!   or `EXTERNAL`. It adds the file to the drop-off's unclaimed notification
//!   (creating it; the partial unique index `upload_notifications_open` keeps
//!   one per drop-off), adds a recipient row per address, and enqueues the
//!   [`KIND`] job for that notification, due after the notification delay.
//!   Rows and job commit with the file or not at all, so nothing is lost
//!   across restarts.
//! - The job claims its notification (files completing later start a new
//!   one), then sends **one message per pending recipient** and marks each
//!   `sent` once the server accepted it. SMTP 5xx marks that recipient
//!   `failed` at once; connection errors and 4xx count an attempt and the job
//!   is retried on its own schedule ([`retry_backoff`]: from
//!   `STEWARD_UPLOAD_NOTIFY_RETRY_BASE`, default 3 min, doubling, at most 8 h),
//!   up to [`MAX_ATTEMPTS`] over about a day, after which the rest are
//!   `failed` with the last error. A retried job (its worker crashed, say) resumes
//!   the recipients still pending, so claimed messages are never dropped.
//! - **No stranded notifications.** The job's dedup key names the
//!   notification, not the drop-off: a file completing while a message for
//!   its drop-off is being sent lands in a new notification with its own key,
//!   which the running job cannot swallow (the queue's dedup index covers
//!   running jobs). The periodic [`SWEEP`] re-enqueues, every minute, any
//!   notification left unclaimed past the delay or claimed with recipients
//!   pending and no live job (e.g. its job was lost to a crash on its last
//!   attempt); dedup makes that a no-op for notifications in hand.
//! - Delivery is at least once: a crash between the server's acceptance and
//!   the `sent` mark resends, with the same `Message-ID` (see [`mail`]).
//!
//! Transport: lettre's async SMTP transport from `STEWARD_SMTP_URL`; without
//! it, development writes `.eml` files into `<data dir>/mail/` and production
//! has no e-mail ([`email_configured`] is false, and `CreateDropOff` refuses
//! recipients). Logs name notifications and drop-offs, never addresses or the
//! SMTP URL.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use diesel::sql_types::{Array, Double, Int4, Int8, Nullable, Text};
use diesel::{ExpressionMethods as _, OptionalExtension as _, QueryDsl as _, QueryResult, QueryableByName};
use diesel_async::{AsyncPgConnection, RunQueryDsl as _};
use lettre::message::Mailbox;
use lettre::{AsyncFileTransport, AsyncSmtpTransport, AsyncTransport as _, Tokio1Executor};
use serde::Deserialize;
use serde_json::json;
use uuid::Uuid;

use super::mail::{self, Content, FileLine};
use crate::config::{Config, Environment};
use crate::db::schema::{upload_dropoffs, upload_files, upload_notification_recipients, upload_notifications, users};
use crate::jobs::{self, Backoff, Interrupted, JobContext, NewJob, Registry};

/// The sending job's kind.
pub const KIND: &str = "upload.notify";
/// The periodic job that re-enqueues notifications without a live job.
pub const SWEEP: &str = "upload.notify_sweep";
/// How often [`SWEEP`] runs.
pub const SWEEP_EVERY: Duration = Duration::from_secs(60);
/// Delivery attempts per recipient (and the job's attempt limit); with
/// [`retry_backoff`] they span about a day of SMTP trouble.
pub const MAX_ATTEMPTS: i32 = 10;
/// The longest wait between two attempts.
pub const RETRY_MAX: Duration = Duration::from_secs(8 * 3600);
/// Stored error texts are cut to this many characters.
const MAX_ERROR_CHARS: usize = 500;

#[derive(Debug, Deserialize)]
struct Payload {
    notification_id: i64,
}

/// The job sending notification `notification_id` (dedup key per notification).
pub fn job(notification_id: i64) -> NewJob {
    NewJob::new(KIND, json!({ "notification_id": notification_id }))
        .dedup_key(format!("{KIND}:{notification_id}"))
        .max_attempts(MAX_ATTEMPTS)
}

/// Whether notifications can go anywhere: an SMTP server is configured, or
/// (development) they are written to files. In production without
/// `STEWARD_SMTP_URL` this is false and drop-offs must not take recipients.
pub fn email_configured(config: &Config) -> bool {
    config.upload.smtp_url.is_some() || config.env != Environment::Production
}

/// Records that `file_id` of `dropoff_id` is complete, for an e-mail sent
/// `delay` later with every file completed meanwhile. Call it inside the
/// transaction that makes the file `AVAILABLE`/`EXTERNAL`. Recipients are the
/// drop-off's `recipient_emails`, or its owner's e-mail when that list is
/// empty; with neither, nothing is recorded.
pub async fn enqueue(
    conn: &mut AsyncPgConnection,
    dropoff_id: Uuid,
    file_id: Uuid,
    delay: Duration,
) -> QueryResult<()> {
    let (listed, owner): (Vec<Option<String>>, String) = upload_dropoffs::table
        .inner_join(users::table)
        .filter(upload_dropoffs::id.eq(dropoff_id))
        .select((upload_dropoffs::recipient_emails, users::email))
        .first(conn)
        .await?;
    let recipients = recipients(listed, owner);
    if recipients.is_empty() {
        return Ok(());
    }
    #[derive(QueryableByName)]
    struct Id {
        #[diesel(sql_type = Int8)]
        id: i64,
    }
    let Id { id } = diesel::sql_query(
        "INSERT INTO upload_notifications (dropoff_id, file_ids) VALUES ($1, ARRAY[$2]) \
         ON CONFLICT (dropoff_id) WHERE claimed_at IS NULL DO UPDATE SET file_ids = \
             CASE WHEN $2 = ANY (upload_notifications.file_ids) THEN upload_notifications.file_ids \
                  ELSE array_append(upload_notifications.file_ids, $2) END \
         RETURNING id",
    )
    .bind::<diesel::sql_types::Uuid, _>(dropoff_id)
    .bind::<diesel::sql_types::Uuid, _>(file_id)
    .get_result(conn)
    .await?;
    diesel::sql_query(
        "INSERT INTO upload_notification_recipients (notification_id, email) \
         SELECT $1, unnest($2::text[]) ON CONFLICT DO NOTHING",
    )
    .bind::<Int8, _>(id)
    .bind::<Array<Text>, _>(&recipients)
    .execute(conn)
    .await?;
    let mut job = job(id);
    if let Ok(delay) = chrono::Duration::from_std(delay)
        && !delay.is_zero()
    {
        job = job.run_at(Utc::now() + delay);
    }
    jobs::enqueue(conn, job).await?;
    Ok(())
}

/// The listed addresses without case-insensitive duplicates, else the owner's.
fn recipients(listed: Vec<Option<String>>, owner: String) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for email in listed.into_iter().flatten() {
        let email = email.trim();
        if !email.is_empty() && !out.iter().any(|e| e.to_lowercase() == email.to_lowercase()) {
            out.push(email.to_owned());
        }
    }
    if out.is_empty() && !owner.trim().is_empty() {
        out.push(owner.trim().to_owned());
    }
    out
}

/// Delivery counts of a drop-off's notifications, for `GetDropOff`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Summary {
    /// Messages not yet accepted by the server (including ones being retried).
    pub pending: i32,
    /// Messages the server accepted.
    pub sent: i32,
    /// Messages given up on.
    pub failed: i32,
    /// The error of the most recent notification that has one.
    pub last_error: Option<String>,
}

/// Counts `dropoff_id`'s messages by status, with the latest error.
pub async fn summary(conn: &mut AsyncPgConnection, dropoff_id: Uuid) -> QueryResult<Summary> {
    #[derive(QueryableByName)]
    struct Row {
        #[diesel(sql_type = Int4)]
        pending: i32,
        #[diesel(sql_type = Int4)]
        sent: i32,
        #[diesel(sql_type = Int4)]
        failed: i32,
        #[diesel(sql_type = Nullable<Text>)]
        last_error: Option<String>,
    }
    let row: Row = diesel::sql_query(
        "SELECT count(*) FILTER (WHERE r.status = 'pending')::int4 AS pending, \
                count(*) FILTER (WHERE r.status = 'sent')::int4 AS sent, \
                count(*) FILTER (WHERE r.status = 'failed')::int4 AS failed, \
                (array_agg(r.last_error ORDER BY n.id DESC, r.email) \
                     FILTER (WHERE r.last_error IS NOT NULL))[1] AS last_error \
         FROM upload_notifications n JOIN upload_notification_recipients r ON r.notification_id = n.id \
         WHERE n.dropoff_id = $1",
    )
    .bind::<diesel::sql_types::Uuid, _>(dropoff_id)
    .get_result(conn)
    .await?;
    Ok(Summary { pending: row.pending, sent: row.sent, failed: row.failed, last_error: row.last_error })
}

/// The retry schedule of [`KIND`] after a temporary failure: `base`
/// (`STEWARD_UPLOAD_NOTIFY_RETRY_BASE`), doubling per attempt, at most
/// [`RETRY_MAX`]. With the default 3 min the [`MAX_ATTEMPTS`] attempts
/// span about 21 h (up to a tenth more with jitter): an SMTP outage of most
/// of a day loses no message.
pub fn retry_backoff(base: Duration) -> Backoff {
    Backoff { base, max: RETRY_MAX }
}

/// Registers [`KIND`] (with its [`retry_backoff`]) and the periodic
/// [`SWEEP`], sending as `config` says.
pub fn register(registry: &mut Registry, config: &Config) {
    let mailer = Arc::new(Mailer::from_config(config));
    registry
        .register(KIND, move |ctx| run(mailer.clone(), ctx))
        .retry(KIND, retry_backoff(config.upload.notify_retry_base));
    let delay = config.upload.notify_delay;
    registry.periodic(SWEEP, SWEEP_EVERY, move |ctx| sweep(delay, ctx));
}

/// Where messages go.
enum Transport {
    Smtp(AsyncSmtpTransport<Tokio1Executor>),
    /// Development without SMTP: `.eml` files in this directory.
    File(AsyncFileTransport<Tokio1Executor>, PathBuf),
    /// Production without SMTP.
    Unconfigured,
    /// The settings are wrong; the text says which (without the URL).
    Invalid(String),
}

/// Builds and sends the messages.
pub struct Mailer {
    transport: Transport,
    from: Mailbox,
    public_url: String,
    host: String,
}

impl std::fmt::Debug for Mailer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // No transport: it holds the SMTP credentials.
        f.debug_struct("Mailer").field("from", &self.from).finish_non_exhaustive()
    }
}

/// How sending to one recipient failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SendError {
    /// Will not succeed on retry (SMTP 5xx, an unusable address).
    Permanent(String),
    /// May succeed later (connection, TLS, SMTP 4xx, a full disk).
    Transient(String),
}

impl Mailer {
    /// The transport `config` asks for. Never fails: wrong settings are
    /// logged once here and reported by every send (so they show in the
    /// drop-off's notification summary).
    pub fn from_config(config: &Config) -> Self {
        let host = host_of(&config.public_url).to_owned();
        let fallback_from = || {
            Mailbox::new(
                None,
                lettre::Address::new("steward", &host)
                    .unwrap_or_else(|_| lettre::Address::new("steward", "localhost").expect("a valid address")),
            )
        };
        let (from, from_error) = match config.upload.mail_from.parse::<Mailbox>() {
            Ok(from) => (from, None),
            Err(e) => (fallback_from(), Some(format!("STEWARD_MAIL_FROM is not a valid mailbox: {e}"))),
        };
        let transport = match (&config.upload.smtp_url, from_error) {
            (_, Some(error)) => Transport::Invalid(error),
            (Some(url), None) => match AsyncSmtpTransport::<Tokio1Executor>::from_url(url.expose()) {
                Ok(builder) => Transport::Smtp(builder.timeout(Some(Duration::from_secs(60))).build()),
                // lettre's error names the problem, not the URL.
                Err(e) => Transport::Invalid(format!("STEWARD_SMTP_URL is not usable: {e}")),
            },
            (None, None) if config.env == Environment::Production => Transport::Unconfigured,
            (None, None) => {
                let dir = config.data_dir.join("mail");
                tracing::info!(
                    dir = %dir.display(),
                    "STEWARD_SMTP_URL is not set: upload notifications are written as .eml files (development)"
                );
                Transport::File(AsyncFileTransport::<Tokio1Executor>::new(&dir), dir)
            }
        };
        if let Transport::Invalid(error) = &transport {
            tracing::error!(error, "upload notifications cannot be sent until this is fixed");
        }
        Self { transport, from, public_url: config.public_url.clone(), host }
    }

    /// Sends `content` to `email` alone.
    pub async fn send(&self, content: &Content, email: &str) -> Result<(), SendError> {
        let message = mail::build(content, &self.from, email, &self.public_url, &self.host)
            .map_err(|e| SendError::Permanent(e.to_string()))?;
        match &self.transport {
            Transport::Smtp(smtp) => smtp.send(message).await.map(drop).map_err(|e| {
                let text = truncate(&e.to_string());
                if e.is_permanent() { SendError::Permanent(text) } else { SendError::Transient(text) }
            }),
            Transport::File(file, dir) => {
                tokio::fs::create_dir_all(dir)
                    .await
                    .map_err(|e| SendError::Transient(format!("creating the mail directory failed: {e}")))?;
                file.send(message).await.map(drop).map_err(|e| SendError::Transient(truncate(&e.to_string())))
            }
            Transport::Unconfigured => {
                Err(SendError::Permanent("e-mail is not configured (STEWARD_SMTP_URL is not set)".to_owned()))
            }
            Transport::Invalid(error) => Err(SendError::Transient(error.clone())),
        }
    }
}

/// The host of `https://host:port/path`.
fn host_of(url: &str) -> &str {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    let authority = rest.split(['/', '?', '#']).next().unwrap_or(rest);
    let authority = authority.rsplit_once('@').map_or(authority, |(_, host)| host);
    if authority.starts_with('[') {
        return authority.split_once(']').map_or(authority, |(host, _)| host.trim_start_matches('['));
    }
    authority.rsplit_once(':').map_or(authority, |(host, _)| host)
}

fn truncate(text: &str) -> String {
    match text.char_indices().nth(MAX_ERROR_CHARS) {
        Some((end, _)) => format!("{}…", &text[..end]),
        None => text.to_owned(),
    }
}

/// Status updates of one recipient (only while still pending: a row that a
/// concurrent run already settled stays as it is).
async fn settle(
    conn: &mut AsyncPgConnection,
    notification_id: i64,
    email: &str,
    status: &str,
    error: Option<&str>,
) -> QueryResult<()> {
    use upload_notification_recipients::dsl as r;
    let target = r::upload_notification_recipients
        .filter(r::notification_id.eq(notification_id))
        .filter(r::email.eq(email))
        .filter(r::status.eq("pending"));
    let sent_at = (status == "sent").then(Utc::now);
    diesel::update(target)
        .set((r::status.eq(status), r::attempts.eq(r::attempts + 1), r::last_error.eq(error), r::sent_at.eq(sent_at)))
        .execute(conn)
        .await?;
    Ok(())
}

/// Gives up on every pending recipient of `notification_id` with `reason`.
async fn fail_pending(conn: &mut AsyncPgConnection, notification_id: i64, reason: &str) -> QueryResult<usize> {
    use upload_notification_recipients::dsl as r;
    diesel::update(
        r::upload_notification_recipients
            .filter(r::notification_id.eq(notification_id))
            .filter(r::status.eq("pending")),
    )
    .set((r::status.eq("failed"), r::last_error.eq(reason)))
    .execute(conn)
    .await
}

/// A file as a message lists it: name, size, SHA-256, completion time.
type FileRow = (String, Option<i64>, Option<String>, Option<DateTime<Utc>>);

/// The [`KIND`] job: claim, then send to each pending recipient.
async fn run(mailer: Arc<Mailer>, ctx: JobContext) -> anyhow::Result<()> {
    let Payload { notification_id: id } = ctx.parse_payload()?;
    let mut conn = ctx.pool.get().await?;
    {
        use upload_notifications::dsl as n;
        // A no-op on a retry: the files are fixed by the first claim.
        diesel::update(n::upload_notifications.find(id).filter(n::claimed_at.is_null()))
            .set(n::claimed_at.eq(diesel::dsl::now))
            .execute(&mut conn)
            .await?;
    }
    let Some((dropoff_id, file_ids)) = upload_notifications::table
        .find(id)
        .select((upload_notifications::dropoff_id, upload_notifications::file_ids))
        .first::<(Uuid, Vec<Option<Uuid>>)>(&mut conn)
        .await
        .optional()?
    else {
        return Ok(());
    };
    let pending: Vec<(String, i32)> = upload_notification_recipients::table
        .filter(upload_notification_recipients::notification_id.eq(id))
        .filter(upload_notification_recipients::status.eq("pending"))
        .order(upload_notification_recipients::email)
        .select((upload_notification_recipients::email, upload_notification_recipients::attempts))
        .load(&mut conn)
        .await?;
    if pending.is_empty() {
        return Ok(());
    }
    let (title, deleted_at): (String, Option<DateTime<Utc>>) = upload_dropoffs::table
        .find(dropoff_id)
        .select((upload_dropoffs::title, upload_dropoffs::deleted_at))
        .first(&mut conn)
        .await?;
    if deleted_at.is_some() {
        let n = fail_pending(&mut conn, id, "the drop-off was deleted before the message was sent").await?;
        tracing::info!(notification.id = id, dropoff.id = %dropoff_id, recipients = n, "drop-off deleted; not sending");
        return Ok(());
    }
    let file_ids: Vec<Uuid> = file_ids.into_iter().flatten().collect();
    let files: Vec<FileRow> = upload_files::table
        .filter(upload_files::id.eq_any(&file_ids))
        .filter(upload_files::status.eq_any(["available", "external"]))
        .order((upload_files::complete_time.asc(), upload_files::name.asc()))
        .select((upload_files::name, upload_files::size, upload_files::sha256, upload_files::complete_time))
        .load(&mut conn)
        .await?;
    if files.is_empty() {
        let n = fail_pending(&mut conn, id, "every file was deleted before the message was sent").await?;
        tracing::info!(notification.id = id, dropoff.id = %dropoff_id, recipients = n, "files deleted; not sending");
        return Ok(());
    }
    drop(conn);
    let content = Content {
        notification_id: id,
        dropoff_id,
        title,
        files: files
            .into_iter()
            .map(|(name, size, sha256, complete_time)| FileLine { name, size, sha256, complete_time })
            .collect(),
    };

    let last_attempt = ctx.attempt >= ctx.max_attempts;
    let (mut sent, mut failed, mut retrying) = (0, 0, 0);
    for (email, attempts) in pending {
        if ctx.stopping() {
            return Err(Interrupted.into());
        }
        let outcome = mailer.send(&content, &email).await;
        let mut conn = ctx.pool.get().await?;
        match outcome {
            Ok(()) => {
                settle(&mut conn, id, &email, "sent", None).await?;
                sent += 1;
            }
            Err(SendError::Permanent(error)) => {
                settle(&mut conn, id, &email, "failed", Some(&error)).await?;
                failed += 1;
            }
            Err(SendError::Transient(error)) if last_attempt || attempts + 1 >= MAX_ATTEMPTS => {
                let error = format!("gave up after {} attempts: {error}", attempts + 1);
                settle(&mut conn, id, &email, "failed", Some(&error)).await?;
                failed += 1;
            }
            Err(SendError::Transient(error)) => {
                settle(&mut conn, id, &email, "pending", Some(&error)).await?;
                retrying += 1;
            }
        }
    }
    tracing::info!(notification.id = id, dropoff.id = %dropoff_id, sent, failed, retrying, "upload notification");
    if retrying > 0 {
        // The SMTP text may quote an address: it stays in the outbox rows.
        anyhow::bail!("{retrying} recipient(s) of upload notification {id} not reached yet (temporary failure)");
    }
    Ok(())
}

/// The [`SWEEP`] job: a live job for every notification that needs one.
async fn sweep(delay: Duration, ctx: JobContext) -> anyhow::Result<()> {
    #[derive(QueryableByName)]
    struct Id {
        #[diesel(sql_type = Int8)]
        id: i64,
    }
    let mut conn = ctx.pool.get().await?;
    let due: Vec<Id> = diesel::sql_query(
        "SELECT n.id FROM upload_notifications n \
         WHERE (n.claimed_at IS NULL AND n.created_at <= now() - make_interval(secs => $1)) \
            OR (n.claimed_at IS NOT NULL AND EXISTS (SELECT 1 FROM upload_notification_recipients r \
                                                     WHERE r.notification_id = n.id AND r.status = 'pending')) \
         ORDER BY n.id LIMIT 1000",
    )
    .bind::<Double, _>(delay.as_secs_f64())
    .load(&mut conn)
    .await?;
    let mut enqueued = 0;
    for Id { id } in due {
        if jobs::enqueue(&mut conn, job(id)).await?.is_some() {
            enqueued += 1;
        }
    }
    if enqueued > 0 {
        tracing::info!(enqueued, "re-enqueued upload notifications without a live job");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recipients_default_to_the_owner_and_lose_duplicates() {
        let owner = "owner@example.org".to_owned();
        assert_eq!(recipients(vec![], owner.clone()), ["owner@example.org"]);
        assert_eq!(
            recipients(vec![Some("A@example.org".into()), None, Some("a@EXAMPLE.org".into())], owner.clone()),
            ["A@example.org"]
        );
        assert!(recipients(vec![], String::new()).is_empty());
    }

    #[test]
    fn temporary_failures_are_retried_over_about_a_day() {
        let config = Config::from_lookup(|_| None).unwrap();
        let backoff = retry_backoff(config.upload.notify_retry_base);
        // 3, 6, 12, 24, 48, 96, 192, 384 min, then capped at 8 h.
        let minutes: Vec<u64> = (1..MAX_ATTEMPTS).map(|a| backoff.delay(a).as_secs() / 60).collect();
        assert_eq!(minutes, [3, 6, 12, 24, 48, 96, 192, 384, 480]);
        let span = backoff.span(MAX_ATTEMPTS);
        assert_eq!(span, Duration::from_secs(1245 * 60), "about 20.75 h from the first attempt to the last");
        let hours = |d: Duration| d.as_secs_f64() / 3600.0;
        assert!((17.0..=24.0).contains(&hours(span)), "{span:?}");
        // Jitter adds at most a tenth: still within a day.
        assert!(hours(span.mul_f64(1.1)) <= 24.0, "{span:?}");

        let mut registry = Registry::new();
        register(&mut registry, &config);
        assert_eq!(registry.backoff(KIND), Some(backoff), "the job retries on this schedule");
        assert_eq!(registry.backoff(SWEEP), None, "the sweep keeps the workers' backoff");
    }

    #[test]
    fn hosts_come_from_the_public_url() {
        assert_eq!(host_of("https://data.example.org"), "data.example.org");
        assert_eq!(host_of("http://127.0.0.1:8080/steward"), "127.0.0.1");
        assert_eq!(host_of("http://[::1]:8080"), "::1");
    }

    #[test]
    fn production_without_smtp_has_no_email() {
        let dev = Config::from_lookup(|_| None).unwrap();
        assert!(email_configured(&dev), "development writes files");
        let mut production = dev.clone();
        production.env = Environment::Production;
        assert!(!email_configured(&production));
        production.upload.smtp_url = Some(crate::config::Secret::new("smtp://mail.example.org:587?tls=required"));
        assert!(email_configured(&production));
    }

    #[test]
    fn the_mailer_never_shows_the_smtp_password() {
        let mut config = Config::from_lookup(|_| None).unwrap();
        config.upload.smtp_url = Some(crate::config::Secret::new("smtps://user:hunter2@mail.example.org:465"));
        let mailer = Mailer::from_config(&config);
        assert!(matches!(mailer.transport, Transport::Smtp(_)));
        assert!(!format!("{mailer:?}").contains("hunter2"));
        config.upload.smtp_url = Some(crate::config::Secret::new("gopher://user:hunter2@mail.example.org"));
        match Mailer::from_config(&config).transport {
            Transport::Invalid(error) => assert!(!error.contains("hunter2"), "{error}"),
            _ => panic!("an unknown scheme is refused"),
        }
    }
}
