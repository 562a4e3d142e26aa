//! The sandbox's Cloud Storage (spec §6.2): signed archive URLs and their
//! downloads. A URL is signed with HMAC-SHA256 under a key derived from the
//! keyring (the same on every replica) and expires after 6 hours, like
//! Google's; requests carrying `Authorization` are refused, as a real signed
//! URL refuses a second credential; `Range` is served; the zip is generated
//! while it is sent (a blocking task writes into a bounded channel), so even
//! a `huge` archive needs neither memory nor disk. Refusals are Cloud
//! Storage's XML errors.
//!
//! Failure modes staged here: `url_expired[:n=K]` (downloads 1..=K of a
//! grant answer 403 `ExpiredToken`), `truncated_download` (the first served
//! download breaks off halfway) and `latency`.

use std::io;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, NaiveDateTime, Utc};
use futures_util::StreamExt as _;
use ring::hmac;
use tokio::sync::mpsc;

use super::generate::{GoogleExport, google_part_count, write_google_part};
use super::http::{SandboxError, delay, form_pairs, scenario_of, single};
use super::scenario::{Failure, Scenario};
use super::store::{self, Job};
use super::stream::{CHUNKS_AHEAD, CUT_PAUSE, ChannelWriter};
use crate::app::AppState;
use crate::crypto::{Keyring, KeyringError};

/// How long a signed URL is valid (Google's documentation: 6 hours).
pub const URL_LIFETIME: Duration = Duration::from_secs(6 * 3600);
const ALGORITHM: &str = "GOOG4-HMAC-SHA256";
const DATE_FORMAT: &str = "%Y%m%dT%H%M%SZ";
/// The longest lifetime Cloud Storage accepts for a V4 signature (7 days).
const MAX_LIFETIME_SECS: u64 = 604_800;

/// The HMAC key of signed URLs.
pub fn signing_key(keyring: &Keyring) -> Result<hmac::Key, KeyringError> {
    let key = keyring.derive_key(keyring.current_key_id(), b"steward/sandbox/signed-urls/v1")?;
    Ok(hmac::Key::new(hmac::HMAC_SHA256, &key))
}

/// `archive-001.zip` for part 0.
fn file_name(part: u32) -> String {
    format!("archive-{:03}.zip", u64::from(part) + 1)
}

fn part_of(file: &str) -> Option<u32> {
    let n: u32 = file.strip_prefix("archive-")?.strip_suffix(".zip")?.parse().ok()?;
    n.checked_sub(1)
}

fn string_to_sign(job: &str, file: &str, credential: &str, date: &str, expires: &str) -> String {
    format!("GET\n/{job}/{file}\n{ALGORITHM}\n{credential}\n{date}\n{expires}\nhost")
}

/// The signed URL of part `part` of `job` under `base` (the sandbox's
/// server-to-server base, `…/sandbox`), signed at `signed_at`.
pub fn signed_url(
    key: &hmac::Key,
    base: &str,
    job: &str,
    part: u32,
    signed_at: DateTime<Utc>,
    lifetime: Duration,
) -> String {
    let file = file_name(part);
    let date = signed_at.format(DATE_FORMAT).to_string();
    let credential = format!(
        "sandbox-storage@steward.iam.gserviceaccount.com/{}/auto/storage/goog4_request",
        signed_at.format("%Y%m%d")
    );
    let expires = lifetime.as_secs().to_string();
    let signature = hmac::sign(key, string_to_sign(job, &file, &credential, &date, &expires).as_bytes());
    let hex = crate::auth::token::hex(signature.as_ref());
    let mut url = format!("{}/google/storage/{job}/{file}", base.trim_end_matches('/'));
    let query = [
        ("X-Goog-Algorithm", ALGORITHM),
        ("X-Goog-Credential", credential.as_str()),
        ("X-Goog-Date", date.as_str()),
        ("X-Goog-Expires", expires.as_str()),
        ("X-Goog-SignedHeaders", "host"),
        ("X-Goog-Signature", hex.as_str()),
    ];
    let mut encoded = reqwest::Url::parse("http://q.invalid/").expect("a valid base URL");
    encoded.query_pairs_mut().extend_pairs(query);
    url.push('?');
    url.push_str(encoded.query().unwrap_or(""));
    url
}

/// Why a signed request is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Refusal {
    /// No signature at all: an anonymous request.
    Anonymous,
    Malformed(&'static str),
    BadSignature,
    Expired(DateTime<Utc>),
}

fn verify(key: &hmac::Key, job: &str, file: &str, query: &str, now: DateTime<Utc>) -> Result<(), Refusal> {
    let pairs = form_pairs(query);
    let get = |name: &str| single(&pairs, name).map_err(|_| Refusal::Malformed("a signature parameter is repeated"));
    let (Some(algorithm), Some(credential), Some(date), Some(expires), Some(_), Some(signature)) = (
        get("X-Goog-Algorithm")?,
        get("X-Goog-Credential")?,
        get("X-Goog-Date")?,
        get("X-Goog-Expires")?,
        get("X-Goog-SignedHeaders")?,
        get("X-Goog-Signature")?,
    ) else {
        return Err(Refusal::Anonymous);
    };
    if algorithm != ALGORITHM {
        return Err(Refusal::Malformed("unsupported X-Goog-Algorithm"));
    }
    let lifetime: u64 = expires.parse().map_err(|_| Refusal::Malformed("X-Goog-Expires is not a number"))?;
    if lifetime > MAX_LIFETIME_SECS {
        return Err(Refusal::Malformed("X-Goog-Expires is more than 7 days"));
    }
    let signed_at = NaiveDateTime::parse_from_str(date, DATE_FORMAT)
        .map_err(|_| Refusal::Malformed("X-Goog-Date is not a date"))?
        .and_utc();
    let signature = decode_hex(signature).ok_or(Refusal::BadSignature)?;
    hmac::verify(key, string_to_sign(job, file, credential, date, expires).as_bytes(), &signature)
        .map_err(|_| Refusal::BadSignature)?;
    let expiry = signed_at + Duration::from_secs(lifetime);
    if now >= expiry {
        return Err(Refusal::Expired(expiry));
    }
    Ok(())
}

fn decode_hex(hex: &str) -> Option<Vec<u8>> {
    if !hex.len().is_multiple_of(2) {
        return None;
    }
    (0..hex.len()).step_by(2).map(|i| u8::from_str_radix(hex.get(i..i + 2)?, 16).ok()).collect()
}

/// A Cloud Storage XML error.
fn xml_error(status: StatusCode, code: &str, message: &str, details: &str) -> Response {
    let body = format!(
        "<?xml version='1.0' encoding='UTF-8'?><Error><Code>{code}</Code><Message>{message}</Message>\
         <Details>{details}</Details></Error>"
    );
    (status, [(header::CONTENT_TYPE, "application/xml; charset=UTF-8")], body).into_response()
}

fn no_such_key() -> Response {
    xml_error(StatusCode::NOT_FOUND, "NoSuchKey", "The specified key does not exist.", "No such object.")
}

fn expired(at: DateTime<Utc>) -> Response {
    xml_error(
        StatusCode::FORBIDDEN,
        "ExpiredToken",
        "Invalid argument.",
        &format!("The provided token has expired. Request signature expired at: {}", at.to_rfc3339()),
    )
}

fn refusal_response(refusal: Refusal) -> Response {
    match refusal {
        Refusal::Anonymous => xml_error(
            StatusCode::FORBIDDEN,
            "AccessDenied",
            "Access denied.",
            "Anonymous caller does not have storage.objects.get access to the Google Cloud Storage object.",
        ),
        Refusal::Malformed(why) => xml_error(StatusCode::BAD_REQUEST, "InvalidArgument", "Invalid argument.", why),
        Refusal::BadSignature => xml_error(
            StatusCode::FORBIDDEN,
            "SignatureDoesNotMatch",
            "Access denied.",
            "The request signature we calculated does not match the signature you provided.",
        ),
        Refusal::Expired(at) => expired(at),
    }
}

/// A `Range` header's single range.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Range {
    /// `bytes=N-` or `bytes=N-M`.
    From(u64, Option<u64>),
    /// `bytes=-N`: the last N bytes.
    Suffix(u64),
}

/// One byte range; anything else (several ranges, other units, nonsense) is
/// ignored and the whole file served, as RFC 9110 allows.
fn parse_range(value: Option<&HeaderValue>) -> Option<Range> {
    let spec = value?.to_str().ok()?.trim().strip_prefix("bytes=")?;
    if spec.contains(',') {
        return None;
    }
    let (start, end) = spec.split_once('-')?;
    match (start.trim(), end.trim()) {
        ("", n) => n.parse().ok().filter(|n| *n > 0).map(Range::Suffix),
        (s, "") => s.parse().ok().map(|s| Range::From(s, None)),
        (s, e) => {
            let (s, e): (u64, u64) = (s.parse().ok()?, e.parse().ok()?);
            (e >= s).then_some(Range::From(s, Some(e)))
        }
    }
}

/// `GET /sandbox/google/storage/{job}/{file}?X-Goog-…`.
pub(crate) async fn download(
    State(state): State<AppState>,
    Path((job_id, file)): Path<(String, String)>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Result<Response, SandboxError> {
    if headers.contains_key(header::AUTHORIZATION) {
        return Ok(xml_error(
            StatusCode::BAD_REQUEST,
            "InvalidArgument",
            "Invalid argument.",
            "Multiple authentication mechanisms are not allowed: a signed URL takes no Authorization header.",
        ));
    }
    let key = signing_key(&state.keyring)?;
    if let Err(refusal) = verify(&key, &job_id, &file, query.as_deref().unwrap_or(""), Utc::now()) {
        return Ok(refusal_response(refusal));
    }
    let Some(part) = part_of(&file) else {
        return Ok(no_such_key());
    };
    let mut conn = state.pool.get().await?;
    let Some((job, grant)) = store::find_job(&mut conn, &job_id).await? else {
        return Ok(no_such_key());
    };
    let scenario = scenario_of(&grant)?;
    if job.state != "COMPLETE" || part >= google_part_count(&scenario, &job.resources()) {
        return Ok(no_such_key());
    }
    delay(&scenario).await;
    let download = u32::try_from(store::count_download(&mut conn, grant.id).await?).unwrap_or(u32::MAX);
    let expiring = scenario
        .find_failure(|f| match f {
            Failure::UrlExpired { n } => Some(*n),
            _ => None,
        })
        .unwrap_or(0);
    if download <= expiring {
        return Ok(expired(Utc::now()));
    }
    let cut = scenario.has(&Failure::TruncatedDownload) && download == expiring + 1;
    let range = parse_range(headers.get(header::RANGE));
    let part_no = i32::try_from(part).unwrap_or(i32::MAX);
    let mut size = store::part_size(&mut conn, &job.id, part_no).await?.and_then(|s| u64::try_from(s).ok());
    drop(conn);
    if size.is_none() && (range.is_some() || cut) {
        let generated = measure(scenario.clone(), job.clone(), part).await?;
        let mut conn = state.pool.get().await?;
        store::record_part_size(&mut conn, &job.id, part_no, i64::try_from(generated).unwrap_or(i64::MAX)).await?;
        size = Some(generated);
    }

    let mut response = Response::builder()
        .header(header::CONTENT_TYPE, "application/zip")
        .header(header::ACCEPT_RANGES, "bytes")
        .header(header::CACHE_CONTROL, "private, max-age=0");
    let (skip, len) = match (range, size) {
        (Some(range), Some(size)) => {
            let (start, end) = match range {
                Range::From(start, end) => (start, end.unwrap_or(u64::MAX).min(size.saturating_sub(1))),
                Range::Suffix(n) => (size.saturating_sub(n), size.saturating_sub(1)),
            };
            if start >= size {
                let response = Response::builder()
                    .status(StatusCode::RANGE_NOT_SATISFIABLE)
                    .header(header::CONTENT_RANGE, format!("bytes */{size}"))
                    .body(Body::empty());
                return Ok(response.unwrap_or_else(|_| StatusCode::RANGE_NOT_SATISFIABLE.into_response()));
            }
            response = response
                .status(StatusCode::PARTIAL_CONTENT)
                .header(header::CONTENT_RANGE, format!("bytes {start}-{end}/{size}"));
            (start, Some(end - start + 1))
        }
        (_, size) => (0, size),
    };
    if let Some(len) = len {
        response = response.header(header::CONTENT_LENGTH, len);
    }
    // `truncated_download` sends half of what it announced, then breaks off.
    let take = if cut { len.map(|len| len / 2) } else { len.filter(|_| skip > 0 || range.is_some()) };
    let body = stream_part(&state, scenario, job, part, skip, take, cut);
    Ok(response.body(body).unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response()))
}

fn export_of<'a>(job: &Job, resources: &'a [&'a str]) -> GoogleExport<'a> {
    GoogleExport { resources, start_time: job.start_time, end_time: job.end_time, created_at: job.created_at }
}

/// The size of a part, by generating it once into nothing.
async fn measure(scenario: Scenario, job: Job, part: u32) -> Result<u64, SandboxError> {
    tokio::task::spawn_blocking(move || {
        let resources = job.resources();
        write_google_part(&scenario, &export_of(&job, &resources), part, io::sink())
    })
    .await
    .map_err(|e| SandboxError::Internal(format!("generating an archive part: {e}")))?
    .map_err(|e| SandboxError::Internal(format!("generating an archive part: {e}")))
}

/// The body of a part: generated on a blocking thread from byte `from` on,
/// `take` bytes (or to the end), through a bounded channel, so the client's
/// pace bounds the memory. With `cut` the body ends in an error (the
/// connection breaks). A whole part generated without a known size records it.
fn stream_part(
    state: &AppState,
    scenario: Scenario,
    job: Job,
    part: u32,
    from: u64,
    take: Option<u64>,
    cut: bool,
) -> Body {
    let (tx, rx) = mpsc::channel::<io::Result<Bytes>>(CHUNKS_AHEAD);
    let whole = from == 0 && take.is_none();
    let (pool, job_id) = (state.pool.clone(), job.id.clone());
    let task = tokio::task::spawn_blocking(move || {
        let mut out = ChannelWriter::new(tx, from, take);
        let resources = job.resources();
        let result = write_google_part(&scenario, &export_of(&job, &resources), part, &mut out);
        let ending = match result {
            Ok(size) => out.send().map(|()| Some(size)),
            Err(_) if out.done && !cut => Ok(None),
            Err(_) if out.done => {
                // Let the server flush the headers and the first half before
                // the connection breaks, or the client sees no answer at all.
                std::thread::sleep(CUT_PAUSE);
                Err(io::Error::other("truncated_download: the connection breaks off halfway"))
            }
            Err(e) => Err(e),
        };
        match ending {
            Ok(size) => size,
            Err(e) => {
                // The client sees a broken body, never a short one that looks whole.
                let _ = out.tx.blocking_send(Err(e));
                None
            }
        }
    });
    // The body ends only once the size is recorded, so a download that
    // follows this one finds it.
    let finish = futures_util::stream::once(async move {
        if let Ok(Some(size)) = task.await
            && whole
            && let Ok(mut conn) = pool.get().await
        {
            let part = i32::try_from(part).unwrap_or(i32::MAX);
            let size = i64::try_from(size).unwrap_or(i64::MAX);
            if let Err(e) = store::record_part_size(&mut conn, &job_id, part, size).await {
                tracing::warn!(error = %e, "could not record a sandbox part size");
            }
        }
        None
    })
    .filter_map(|end: Option<io::Result<Bytes>>| async move { end });
    Body::from_stream(tokio_stream::wrappers::ReceiverStream::new(rx).chain(finish))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> hmac::Key {
        hmac::Key::new(hmac::HMAC_SHA256, &[7u8; 32])
    }

    fn parts(url: &str) -> (String, String, String) {
        let url = reqwest::Url::parse(url).unwrap();
        let segments: Vec<&str> = url.path_segments().unwrap().collect();
        let n = segments.len();
        (segments[n - 2].to_owned(), segments[n - 1].to_owned(), url.query().unwrap().to_owned())
    }

    #[test]
    fn signed_urls_verify_until_they_expire() {
        let at = DateTime::parse_from_rfc3339("2024-01-15T10:00:00Z").unwrap().to_utc();
        let url = signed_url(&key(), "http://127.0.0.1:8080/sandbox/", "job-1", 0, at, URL_LIFETIME);
        assert!(url.starts_with("http://127.0.0.1:8080/sandbox/google/storage/job-1/archive-001.zip?X-Goog-Algorithm=GOOG4-HMAC-SHA256&X-Goog-Credential=sandbox-storage%40steward.iam.gserviceaccount.com%2F20240115%2F"), "{url}");
        assert!(url.contains(
            "&X-Goog-Date=20240115T100000Z&X-Goog-Expires=21600&X-Goog-SignedHeaders=host&X-Goog-Signature="
        ));
        let (job, file, query) = parts(&url);
        assert_eq!(verify(&key(), &job, &file, &query, at + Duration::from_secs(3600)), Ok(()));
        let expiry = at + URL_LIFETIME;
        assert_eq!(verify(&key(), &job, &file, &query, expiry), Err(Refusal::Expired(expiry)));
        // Another part, another job, a changed parameter or key: not this signature.
        assert_eq!(verify(&key(), &job, "archive-002.zip", &query, at), Err(Refusal::BadSignature));
        assert_eq!(verify(&key(), "job-2", &file, &query, at), Err(Refusal::BadSignature));
        let longer = query.replace("X-Goog-Expires=21600", "X-Goog-Expires=604800");
        assert_eq!(verify(&key(), &job, &file, &longer, at), Err(Refusal::BadSignature));
        let other = hmac::Key::new(hmac::HMAC_SHA256, &[8u8; 32]);
        assert_eq!(verify(&other, &job, &file, &query, at), Err(Refusal::BadSignature));
        assert_eq!(verify(&key(), &job, &file, "", at), Err(Refusal::Anonymous));
        let twice = format!("{query}&X-Goog-Date=20240115T100000Z");
        assert!(matches!(verify(&key(), &job, &file, &twice, at), Err(Refusal::Malformed(_))));
    }

    #[test]
    fn file_names_number_parts_from_one() {
        assert_eq!(file_name(0), "archive-001.zip");
        assert_eq!(part_of("archive-001.zip"), Some(0));
        assert_eq!(part_of("archive-012.zip"), Some(11));
        assert_eq!(part_of("archive-000.zip"), None);
        assert_eq!(part_of("other.zip"), None);
    }

    #[test]
    fn ranges_parse() {
        let range = |v: &str| parse_range(Some(&HeaderValue::from_str(v).unwrap()));
        assert_eq!(range("bytes=100-"), Some(Range::From(100, None)));
        assert_eq!(range("bytes=0-99"), Some(Range::From(0, Some(99))));
        assert_eq!(range("bytes=-20"), Some(Range::Suffix(20)));
        for ignored in ["bytes=5-1", "bytes=0-1,5-9", "items=0-1", "bytes=x-", "bytes=-0"] {
            assert_eq!(range(ignored), None, "{ignored}");
        }
    }
}
