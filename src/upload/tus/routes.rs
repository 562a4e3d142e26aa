//! The tus routes (spec upload.md §3): `/files/`, `/files` and everything
//! below, every method. The request is read by [`super::protocol`], the
//! domain ([`crate::upload::ops::Uploads`]) does the work, and
//! [`super::reply`] answers. Bodies stream into staging and are never
//! buffered; axum's body limit is off here and the server's unary timeout
//! does not apply ([`super::layers`]).

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::response::Response;
use axum::routing::any;
use bytes::Bytes;
use futures_util::{Stream, StreamExt as _};

use super::protocol::{self, CodeHeader, Command, CreateCommand, PatchCommand, TusSettings, UploadLength};
use super::reply::{self, ReplyCtx, TusError, UploadInfo};
use super::status::{Addressed, tus_status};
use crate::app::AppState;
use crate::upload::error::UploadError;
use crate::upload::metadata::Metadata;
use crate::upload::ops::{BodyChecksum, NewUpload, Protocol, Uploader, WriteMode};
use crate::upload::space;
use crate::upload::store::FileRow;

/// A body that sends no byte for this long ends; what came is kept (§3.8).
pub const IDLE_READ_TIMEOUT: Duration = Duration::from_secs(60);

/// The routes, for `crate::http::router`.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/files", any(handle))
        .route("/files/", any(handle))
        .route("/files/{*rest}", any(handle))
        .layer(DefaultBodyLimit::disable())
}

async fn handle(State(state): State<AppState>, request: Request) -> Response {
    let settings = TusSettings::from_config(&state.config);
    let (parts, body) = request.into_parts();
    let parsed = protocol::parse(&settings, &parts.method, parts.uri.path(), &parts.headers);
    let ctx = parsed.ctx;
    let command = match parsed.command {
        Ok(command) => command,
        Err(err) => return reply::error(&ctx, &err),
    };
    let peer = parts
        .extensions
        .get::<tonic::transport::server::TcpConnectInfo>()
        .and_then(|info| info.remote_addr())
        .map_or(IpAddr::from([0, 0, 0, 0]), |a| a.ip());
    let address = crate::ratelimit::client_address(peer, &parts.headers, &state.config.trusted_proxies).to_string();
    let uploader = |code: Option<CodeHeader>| Uploader { code: code.map(|c| c.expose().to_owned()), address };
    let tus = Tus { state: &state, settings: &settings, ctx: &ctx };
    let result = match command {
        Command::Options => Ok(reply::options(&ctx, &settings)),
        Command::Create(create) => {
            let who = uploader(create.code.clone());
            tus.create(create, who, body).await
        }
        Command::Head { file_id, code } => tus.head(&file_id, &uploader(code)).await,
        Command::Patch(patch) => {
            let who = uploader(patch.code.clone());
            tus.patch(patch, &who, body).await
        }
        Command::Delete { file_id, code } => tus.delete(&file_id, &uploader(code)).await,
    };
    result.unwrap_or_else(|err| reply::error(&ctx, &err))
}

struct Tus<'a> {
    state: &'a AppState,
    settings: &'a TusSettings,
    ctx: &'a ReplyCtx,
}

/// The domain error as a tus one, logging what the client is not told.
fn refused(err: UploadError, addressed: Addressed) -> TusError {
    if let UploadError::Internal(e) = &err {
        tracing::error!(error = format!("{e:#}"), "tus request failed");
    }
    tus_status(&err, addressed)
}

/// `Upload-Expires` while the upload takes bytes; none once finished.
fn expires(file: &FileRow) -> Option<chrono::DateTime<chrono::Utc>> {
    (file.status == "uploading").then_some(file.expire_time)
}

fn offset(file: &FileRow) -> u64 {
    u64::try_from(file.committed_offset).unwrap_or(0)
}

/// The body as the domain reads it: bytes until the end, a network error or
/// [`IDLE_READ_TIMEOUT`] without a byte.
fn body_stream(body: Body) -> impl Stream<Item = Result<Bytes, String>> + Send {
    futures_util::stream::unfold(Some(body.into_data_stream()), |state| async move {
        let mut stream = state?;
        match tokio::time::timeout(IDLE_READ_TIMEOUT, stream.next()).await {
            Ok(Some(Ok(bytes))) => Some((Ok(bytes), Some(stream))),
            Ok(Some(Err(e))) => Some((Err(e.to_string()), None)),
            Ok(None) => None,
            Err(_) => Some((Err(format!("no data for {} s", IDLE_READ_TIMEOUT.as_secs())), None)),
        }
    })
}

fn write_mode(checksum: Option<&protocol::Checksum>, content_length: Option<u64>, declare: Option<u64>) -> WriteMode {
    WriteMode {
        exact_offset: true,
        declare_length: declare,
        checksum: checksum
            .map(|c| BodyChecksum { algorithm: c.algorithm.digest_algorithm(), digest: c.digest.clone() }),
        complete_when_full: true,
        body_len: content_length,
    }
}

fn new_upload(create: &CreateCommand) -> NewUpload {
    let m = &create.metadata;
    let first = |keys: [&str; 2]| keys.iter().find_map(|k| m.get(k).filter(|v| !v.is_empty())).unwrap_or_default();
    NewUpload {
        dropoff_id: create.dropoff_id.clone(),
        name: first(["filename", "name"]).to_owned(),
        relative_path: m.get("relativePath").map(str::to_owned),
        size: match create.length {
            UploadLength::Known(n) => Some(n),
            UploadLength::Deferred => None,
        },
        content_type: m.content_type(),
        metadata: m.iter().map(|(k, v)| (k.to_owned(), v.to_owned())).collect::<BTreeMap<_, _>>(),
        request_id: None,
        // Checked when the request was read.
        expected_sha256: m.expected_sha256().ok().flatten(),
        protocol: Protocol::Tus,
    }
}

impl Tus<'_> {
    fn uploads(&self) -> &crate::upload::ops::Uploads {
        &self.state.uploads
    }

    /// POST (§3.5): validation before the body is read, then the creation
    /// body (creation-with-upload) written as a PATCH at offset 0 would be.
    async fn create(&self, create: CreateCommand, uploader: Uploader, body: Body) -> Result<Response, TusError> {
        let file = self
            .uploads()
            .create_upload(new_upload(&create), &uploader)
            .await
            .map_err(|e| refused(e, Addressed::DropOff))?;
        let id = file.id.to_string();
        let empty = create.length == UploadLength::Known(0);
        if !(create.with_body || empty) {
            return Ok(reply::created(self.ctx, self.settings, &id, offset(&file), expires(&file)));
        }
        // `Upload-Length: 0` completes at once; a creation body is written
        // only with the tus media type (any other body is never read).
        let body = if create.with_body { body } else { Body::empty() };
        let mode =
            write_mode(create.checksum.as_ref(), if create.with_body { create.content_length } else { Some(0) }, None);
        match self.uploads().write(&id, &uploader, 0, body_stream(body), mode).await {
            Ok(outcome) => {
                let file = outcome.file;
                Ok(reply::created(self.ctx, self.settings, &id, offset(&file), expires(&file)))
            }
            Err(err) => {
                let err = refused(err, Addressed::Upload);
                if err == TusError::UploadSizeExceeded {
                    // No half-valid upload is left behind for a client that never got its Location.
                    if let Err(e) = self.uploads().cancel(&id, &uploader).await {
                        tracing::warn!(error = %e, file = %id, "terminating an oversized creation failed");
                    }
                }
                Err(err)
            }
        }
    }

    /// HEAD (§3.7): never takes the lease; a database hiccup is retried once,
    /// since tus-js-client starts a new upload after a 5xx here.
    async fn head(&self, file_id: &str, uploader: &Uploader) -> Result<Response, TusError> {
        let file = match self.uploads().get_upload(file_id, uploader).await {
            Err(UploadError::Unavailable(_)) => self.uploads().get_upload(file_id, uploader).await,
            other => other,
        }
        .map_err(|e| refused(e, Addressed::Upload))?;
        let finished = match file.status.as_str() {
            "uploading" => false,
            "processing" | "available" | "external" => true,
            other => return Err(TusError::UploadGone(format!("upload '{file_id}' is {other}"))),
        };
        let metadata = stored_metadata(&file);
        let length = file.size.and_then(|s| u64::try_from(s).ok());
        let offset = if finished { length.unwrap_or_else(|| offset(&file)) } else { offset(&file) };
        let info = UploadInfo { offset, length, metadata: &metadata, expires: expires(&file) };
        Ok(reply::head(self.ctx, &info))
    }

    /// PATCH (§3.8).
    async fn patch(&self, patch: PatchCommand, uploader: &Uploader, body: Body) -> Result<Response, TusError> {
        let empty_body = patch.content_length == Some(0)
            || (patch.content_length.is_none() && axum::body::HttpBody::is_end_stream(&body));
        if !empty_body {
            self.room_for_body(&patch, uploader).await?;
        }
        let mode = write_mode(patch.checksum.as_ref(), patch.content_length, patch.length);
        match self.uploads().write(&patch.file_id, uploader, patch.offset, body_stream(body), mode).await {
            Ok(outcome) => {
                let file = outcome.file;
                let expires = if outcome.completed { None } else { expires(&file) };
                Ok(reply::patched(self.ctx, offset(&file), expires))
            }
            Err(UploadError::Finished(_)) => {
                // A finished upload: the repeat of the final PATCH is answered
                // as it was, changing nothing; anything else is refused.
                let file = self
                    .uploads()
                    .get_upload(&patch.file_id, uploader)
                    .await
                    .map_err(|e| refused(e, Addressed::Upload))?;
                let length = file.size.and_then(|s| u64::try_from(s).ok()).unwrap_or_else(|| offset(&file));
                match (patch.offset == length, empty_body) {
                    (true, true) => Ok(reply::patched(self.ctx, length, None)),
                    (true, false) => Err(TusError::UploadSizeExceeded),
                    (false, _) => Err(TusError::MismatchedOffset { current: length }),
                }
            }
            Err(err) => Err(refused(err, Addressed::Upload)),
        }
    }

    /// Row 21: 507 before a PATCH body is written when the staging disk
    /// cannot take it (its `Content-Length`, 0 when unknown) plus the reserve.
    /// Short of space, the request's own refusals (lookup, code, a finished
    /// or gone upload) still come first (§3.3).
    async fn room_for_body(&self, patch: &PatchCommand, uploader: &Uploader) -> Result<(), TusError> {
        let settings = self.uploads().settings();
        let needed = patch.content_length.unwrap_or(0);
        let Err(refusal) = space::ensure_room(&settings.staging_dir, needed, settings.staging_reserve).await else {
            return Ok(());
        };
        let file =
            self.uploads().get_upload(&patch.file_id, uploader).await.map_err(|e| refused(e, Addressed::Upload))?;
        if file.status != "uploading" {
            // Nothing is written to it; the write path answers as it does for any finished or gone upload.
            return Ok(());
        }
        Err(refused(refusal, Addressed::Upload))
    }

    /// DELETE (§3.10): exactly 204.
    async fn delete(&self, file_id: &str, uploader: &Uploader) -> Result<Response, TusError> {
        self.uploads().cancel(file_id, uploader).await.map_err(|e| refused(e, Addressed::Upload))?;
        Ok(reply::terminated(self.ctx))
    }
}

/// The stored metadata pairs (a JSON object of strings) for HEAD's echo.
fn stored_metadata(file: &FileRow) -> Metadata {
    let pairs = file.metadata.as_object().into_iter().flatten().filter_map(|(k, v)| Some((k.as_str(), v.as_str()?)));
    Metadata::from_pairs(pairs.map(|(k, v)| (k, v.to_owned()))).unwrap_or_else(|e| {
        tracing::warn!(file = %file.id, error = %e, "stored metadata does not validate; HEAD omits it");
        Metadata::default()
    })
}
