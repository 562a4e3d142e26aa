//! The `donation.download` job (spec §5.1, §5.3, §5.4): fetches one archive
//! part from a freshly signed URL (TikTok: the authenticated download of the
//! request) and streams it, sealed with the donation's
//! data key, into the blob store; the part's object key, size and digest are
//! committed in one statement.

use diesel_async::{AsyncConnection as _, AsyncPgConnection};
use ring::rand::SecureRandom as _;
use serde_json::json;

use super::export::{Handled, failure};
use super::state::{self, EXPORT_COMPLETE, EXPORT_FAILED};
use super::{Error, Processing, store, with_token};
use crate::blobs::BlobError;
use crate::donation::catalogue::Source;
use crate::donation::keys;
use crate::donation::provider::{Download, ErrorClass, JobState, PortabilityProvider, ProviderError, Reached, Step};
use crate::donation::store as donation_store;
use futures_util::StreamExt as _;

/// Fresh URLs asked for after the first one was refused (400/403: its
/// signature expired) before the part fails with `provider_unavailable`.
pub const URL_REFRESHES: usize = 3;

/// Why a part could not be fetched even with fresh URLs.
const UNAVAILABLE: &str = "provider_unavailable";

/// The associated data that binds a stored part to its donation and part row,
/// so a blob moved to another donation or part does not open.
pub fn part_aad(donation_id: i32, part_id: i64) -> Vec<u8> {
    let mut aad = b"steward.archive_part\0".to_vec();
    aad.extend_from_slice(&i64::from(donation_id).to_be_bytes());
    aad.extend_from_slice(&part_id.to_be_bytes());
    aad
}

/// A fresh object key for a part of `donation_id`: a retried download never
/// overwrites a blob another run may have committed.
fn object_key(donation_id: i32) -> String {
    let mut name = [0u8; 16];
    ring::rand::SystemRandom::new().fill(&mut name).expect("system random source failed");
    let hex: String = name.iter().map(|b| format!("{b:02x}")).collect();
    format!("donations/{donation_id}/parts/{hex}")
}

/// Downloads part `part_id` unless it is already stored (or its donation is
/// gone). `last_attempt`: a transient failure now fails the part's group with
/// `provider_unavailable` instead of failing the job for a later retry.
/// Returns whether this run stored the part.
pub async fn download(
    processing: &Processing,
    conn: &mut AsyncPgConnection,
    part_id: i64,
    last_attempt: bool,
) -> Result<bool, Error> {
    let Some(part) = store::part(conn, part_id).await? else {
        return Ok(false);
    };
    let (Some(job_id), "pending", EXPORT_COMPLETE) =
        (part.job_id.clone(), part.state.as_str(), part.export_state.as_str())
    else {
        return Ok(false);
    };
    let donation_id = part.donation_id;
    let Some(donation) = donation_store::find(conn, donation_id, false).await? else {
        return Ok(false);
    };
    let provider = processing.provider(donation.source)?;
    let index = usize::try_from(part.part_no).unwrap_or(usize::MAX);

    let mut refused = None;
    let mut fetched: Option<(Download, String, String)> = None;
    for _ in 0..=URL_REFRESHES {
        let answer = with_token!(processing, conn, donation_id, |token| provider.archive_state(token, &job_id));
        let archive = match answer {
            Ok(archive) => archive,
            Err(e) => return handle(conn, &part, e, last_attempt).await,
        };
        let url = match (archive.state, archive.urls.get(index)) {
            (JobState::Complete, Some(url)) => url.clone(),
            // The provider no longer lists this part: nothing to fetch it from.
            _ => {
                let detail = json!({ "job_state": archive.raw_state, "urls": archive.urls.len() });
                return fail_part(conn, &part, UNAVAILABLE, detail).await.map(|()| false);
            }
        };
        // TikTok's download is an authenticated call (401: refresh and repeat
        // once); Google's signed URL does not use the token.
        let answer = with_token!(processing, conn, donation_id, |token| async {
            provider.download(token, &url, 0).await.map(|body| (body, token.to_owned()))
        });
        match answer {
            Ok((body, token)) => {
                fetched = Some((body, url, token));
                break;
            }
            Err(e) if e.is_url_expired() => refused = Some(e),
            Err(e) => return handle(conn, &part, e, last_attempt).await,
        }
    }
    let Some((body, url, token)) = fetched else {
        let status = refused.and_then(|e| e.http_status);
        let detail = json!({ "http_status": status, "url_refreshes": URL_REFRESHES });
        return fail_part(conn, &part, UNAVAILABLE, detail).await.map(|()| false);
    };
    let resuming = Resuming { provider, token: &token, url: &url, received: body.offset, resumed: 0 };
    store_body(processing, conn, &part, body, resuming, donation.source, last_attempt).await
}

/// Resumes of one transfer at most, each from the bytes received so far.
pub const MAX_RESUMES: u32 = 5;

/// Where an interrupted body resumes from (spec §4.2.7).
struct Resuming<'a> {
    provider: &'a dyn PortabilityProvider,
    /// The access token the transfer started with (TikTok; Google does not use it).
    token: &'a str,
    url: &'a str,
    /// Bytes of the file received so far.
    received: u64,
    resumed: u32,
}

/// The part's bytes as one stream: when the body breaks off (a transient
/// error) and the server accepts ranges, the rest is asked for with
/// `Range: bytes=<received>-` and streamed on, at most [`MAX_RESUMES`]
/// times; a server that starts over instead, or any other error, ends the
/// stream with the error (the attempt then restarts from scratch).
fn resumable<'a>(
    first: Download,
    resuming: Resuming<'a>,
    resumed: &'a std::sync::atomic::AtomicU32,
) -> impl futures_util::Stream<Item = Result<axum::body::Bytes, ProviderError>> + 'a {
    let state = (first.body, first.accepts_ranges, resuming);
    futures_util::stream::unfold(Some(state), move |state| async move {
        let (mut body, accepts_ranges, mut at) = state?;
        loop {
            match body.next().await {
                None => return None,
                Some(Ok(chunk)) => {
                    at.received += chunk.len() as u64;
                    return Some((Ok(chunk), Some((body, accepts_ranges, at))));
                }
                Some(Err(e)) if accepts_ranges && e.class == ErrorClass::Transient && at.resumed < MAX_RESUMES => {
                    at.resumed += 1;
                    resumed.store(at.resumed, std::sync::atomic::Ordering::Relaxed);
                    match at.provider.download(at.token, at.url, at.received).await {
                        Ok(rest) if rest.offset == at.received => body = rest.body,
                        // The server sent the whole file again: this attempt cannot resume.
                        Ok(_) => return Some((Err(e), None)),
                        Err(again) => return Some((Err(again), None)),
                    }
                }
                Some(Err(e)) => return Some((Err(e), None)),
            }
        }
    })
}

/// Streams the body into a fresh blob and commits it; a blob that lost the
/// race (another run stored the part, or the donation was deleted) is removed.
async fn store_body(
    processing: &Processing,
    conn: &mut AsyncPgConnection,
    part: &store::PartRow,
    body: Download,
    resuming: Resuming<'_>,
    body_source: Source,
    last_attempt: bool,
) -> Result<bool, Error> {
    let donation_id = part.donation_id;
    let data_key = match keys::load(conn, &processing.keyring, donation_id).await {
        Ok(key) => key,
        // Deleted meanwhile: its data key goes with it.
        Err(keys::KeyError::Missing(_)) => return Ok(false),
        Err(e) => return Err(Error::Other(e.into())),
    };
    let key = object_key(donation_id);
    let expected = body.total_len;
    let resumed = std::sync::atomic::AtomicU32::new(0);
    let stream = resumable(body, resuming, &resumed);
    let stored = processing.blobs.put_stream(&key, &data_key, &part_aad(donation_id, part.id), stream).await;
    let resumed = resumed.load(std::sync::atomic::Ordering::Relaxed);
    let info = match stored {
        // A body shorter than announced broke off without an error: never keep it.
        Ok(info) if expected.is_some_and(|len| len != info.bytes) => {
            processing.blobs.delete(&key).await?;
            return handle(conn, part, interrupted(body_source), last_attempt).await;
        }
        Ok(info) => info,
        Err(BlobError::Source(e)) => {
            // The body broke off: a transient failure of the download.
            let e = match e.downcast::<ProviderError>() {
                Ok(e) => *e,
                Err(other) => return Err(Error::Other(anyhow::anyhow!(other))),
            };
            return handle(conn, part, e, last_attempt).await;
        }
        Err(e) => return Err(e.into()),
    };
    let committed = conn
        .transaction(async |conn| {
            // Deleted meanwhile, or stored by another run: this blob is an orphan.
            if !donation_store::lock(conn, donation_id).await?
                || !store::part_stored(conn, part.id, &key, info.bytes, &info.sha256).await?
            {
                return Ok::<_, Error>(false);
            }
            let detail =
                json!({ "resource": part.resource, "part": part.part_no, "bytes": info.bytes, "resumed": resumed });
            donation_store::add_event(conn, donation_id, "part_downloaded", None, detail).await?;
            crate::jobs::enqueue(conn, super::parse_job(&processing.config, part.id)).await?;
            state::settle(conn, donation_id).await?;
            Ok(true)
        })
        .await?;
    if !committed {
        processing.blobs.delete(&key).await?;
    }
    Ok(committed)
}

/// A body that ended before its announced length (transient, like a reset).
fn interrupted(provider: Source) -> ProviderError {
    ProviderError {
        provider,
        step: Step::Download,
        class: ErrorClass::Transient,
        http_status: None,
        code: Some("short_body".into()),
        retry_after: None,
        reached: Reached::Unknown,
    }
}

/// Applies a provider failure to the part's group (spec §4.1).
async fn handle(
    conn: &mut AsyncPgConnection,
    part: &store::PartRow,
    e: ProviderError,
    last_attempt: bool,
) -> Result<bool, Error> {
    let handled = failure(conn, part.donation_id, &part.resource, part.export_id, e, last_attempt).await?;
    if let Handled::RetryLater(e) = handled {
        return Err(e.into());
    }
    conn.transaction(async |conn| {
        if !donation_store::lock(conn, part.donation_id).await? {
            return Ok(());
        }
        if store::part(conn, part.id).await?.is_some_and(|p| p.export_state == EXPORT_FAILED) {
            store::part_failed(conn, part.id).await?;
        }
        state::settle(conn, part.donation_id).await
    })
    .await?;
    Ok(false)
}

/// Fails the part and its group with `code`, records why and settles the donation.
async fn fail_part(
    conn: &mut AsyncPgConnection,
    part: &store::PartRow,
    code: &str,
    mut detail: serde_json::Value,
) -> Result<(), Error> {
    detail["resource"] = json!(part.resource);
    detail["part"] = json!(part.part_no);
    detail["code"] = json!(code);
    conn.transaction(async |conn| {
        if !donation_store::lock(conn, part.donation_id).await? {
            return Ok(());
        }
        store::part_failed(conn, part.id).await?;
        store::end_export(conn, part.export_id, EXPORT_FAILED, Some(code)).await?;
        donation_store::add_event(conn, part.donation_id, "export_failed", None, detail).await?;
        state::settle(conn, part.donation_id).await?;
        Ok::<_, Error>(())
    })
    .await
}
