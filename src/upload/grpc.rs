//! The tonic handlers of `UploadService`: caller → request checks → `ops` →
//! response.

use std::collections::BTreeMap;
use std::io::{Read as _, Seek as _, SeekFrom};
use std::net::IpAddr;
use std::pin::Pin;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use futures_util::{Stream, StreamExt as _};
use tonic::{Request, Response, Status, Streaming};
use uuid::Uuid;

use super::error::UploadError;
use super::ops::{DropOffInput, DropOffUpdate, MAX_CHUNK_BYTES, NewUpload, Protocol, Uploader, Uploads, WriteMode};
use super::store::{DropOffView, FileRow};
use crate::app::AppState;
use crate::auth::Caller;
use crate::auth::principal::Principal;
use crate::proto::google::api::HttpBody;
use crate::proto::timestamp;
use crate::proto::upload::v1 as pb;
use crate::proto::upload::v1::upload_service_server::UploadService;

/// Plaintext bytes per DownloadFile message.
const DOWNLOAD_MESSAGE_BYTES: usize = 1 << 20;
/// Page sizes (default, max).
const DROPOFF_PAGE: (i32, i32) = (50, 200);
const FILE_PAGE: (i32, i32) = (100, 1000);

/// The gRPC face of the upload service.
#[derive(Debug, Clone)]
pub struct UploadApi {
    uploads: Uploads,
    trusted_proxies: Vec<IpAddr>,
}

type Reply<T> = Result<Response<T>, Status>;

impl UploadApi {
    pub fn new(state: &AppState, uploads: Uploads) -> Self {
        Self { uploads, trusted_proxies: state.config.trusted_proxies.clone() }
    }

    fn principal<T>(request: &Request<T>) -> Result<std::sync::Arc<Principal>, Status> {
        Ok(Caller::of(request).require_principal()?.clone())
    }

    /// The uploader: the code from the request and the client's address.
    fn uploader<T>(&self, request: &Request<T>, code: &str) -> Uploader {
        let peer = request.remote_addr().map_or(IpAddr::from([0, 0, 0, 0]), |a| a.ip());
        let headers = request.metadata().clone().into_headers();
        let address = crate::ratelimit::client_address(peer, &headers, &self.trusted_proxies);
        Uploader { code: Some(code.to_owned()).filter(|c| !c.is_empty()), address: address.to_string() }
    }

    fn dropoff_message(&self, view: DropOffView) -> pb::DropOff {
        let row = &view.row;
        let state = if row.closed_at.is_some() {
            pb::DropOffState::Closed
        } else if row.expire_time <= Utc::now() {
            pb::DropOffState::Expired
        } else {
            pb::DropOffState::Open
        };
        pb::DropOff {
            dropoff_id: row.id.to_string(),
            owner: view.owner_email.clone(),
            dataset: view.dataset.clone().unwrap_or_default(),
            title: row.title.clone(),
            description: row.description.clone(),
            recipient_emails: row.recipients(),
            max_file_bytes: row.max_file_bytes,
            max_total_bytes: row.max_total_bytes,
            allowed_types: row.allowed(),
            expire_time: Some(timestamp(row.expire_time)),
            recipient_public_key: Vec::new(),
            state: state.into(),
            upload_url: self.uploads.upload_url(row.id),
            tus_endpoint: self.uploads.tus_endpoint(),
            used_bytes: view.used_bytes,
            file_count: view.file_count,
            notification_summary: Some(pb::NotificationSummary {
                pending: view.notifications.pending,
                sent: view.notifications.sent,
                failed: view.notifications.failed,
                last_error: view.notifications.last_error.clone().unwrap_or_default(),
            }),
            create_time: Some(timestamp(row.created_at)),
            update_time: Some(timestamp(row.updated_at)),
        }
    }
}

/// A file as the API shows it.
pub fn file_message(file: &FileRow) -> pb::File {
    let metadata: BTreeMap<String, String> = serde_json::from_value(file.metadata.clone()).unwrap_or_default();
    pb::File {
        file_id: file.id.to_string(),
        dropoff_id: file.dropoff_id.to_string(),
        name: file.name.clone(),
        relative_path: file.relative_path.clone(),
        size: file.size,
        offset: file.committed_offset,
        content_type: file.content_type.clone(),
        sha256: file.sha256.clone().unwrap_or_default(),
        expected_sha256: file.expected_sha256.clone().unwrap_or_default(),
        status: file_status(&file.status).into(),
        failure_reason: file.failure_reason.clone().unwrap_or_default(),
        metadata: metadata.into_iter().collect(),
        protocol: match file.protocol.as_str() {
            "grpc" => pb::UploadProtocol::Grpc,
            "tus" => pb::UploadProtocol::Tus,
            "tusd_hook" => pb::UploadProtocol::TusdHook,
            _ => pb::UploadProtocol::Unspecified,
        }
        .into(),
        create_time: Some(timestamp(file.created_at)),
        complete_time: file.complete_time.map(timestamp),
        expire_time: (file.status == "uploading").then(|| timestamp(file.expire_time)),
    }
}

fn file_status(status: &str) -> pb::FileStatus {
    match status {
        "uploading" => pb::FileStatus::Uploading,
        "processing" => pb::FileStatus::Processing,
        "available" => pb::FileStatus::Available,
        "external" => pb::FileStatus::External,
        "failed" => pb::FileStatus::Failed,
        "expired" => pb::FileStatus::Expired,
        "terminated" => pb::FileStatus::Terminated,
        "deleted" => pb::FileStatus::Deleted,
        _ => pb::FileStatus::Unspecified,
    }
}

fn status_name(status: pb::FileStatus) -> Option<&'static str> {
    Some(match status {
        pb::FileStatus::Unspecified => return None,
        pb::FileStatus::Uploading => "uploading",
        pb::FileStatus::Processing => "processing",
        pb::FileStatus::Available => "available",
        pb::FileStatus::External => "external",
        pb::FileStatus::Failed => "failed",
        pb::FileStatus::Expired => "expired",
        pb::FileStatus::Terminated => "terminated",
        pb::FileStatus::Deleted => "deleted",
    })
}

fn from_timestamp(field: &'static str, t: prost_types::Timestamp) -> Result<DateTime<Utc>, UploadError> {
    DateTime::from_timestamp(t.seconds, u32::try_from(t.nanos).unwrap_or(u32::MAX))
        .ok_or_else(|| UploadError::invalid(field, "is not a valid time"))
}

/// A page size within `(default, max)`.
fn page_size(size: i32, (default, max): (i32, i32)) -> Result<i64, UploadError> {
    match size {
        0 => Ok(i64::from(default)),
        n if (1..=max).contains(&n) => Ok(i64::from(n)),
        _ => Err(UploadError::invalid("page_size", format!("must be from 1 to {max}"))),
    }
}

/// `<kind>.<created micros>.<id>` in URL-safe base64: where the next page starts.
fn page_token(kind: &str, created: DateTime<Utc>, id: Uuid) -> String {
    URL_SAFE_NO_PAD.encode(format!("{kind}.{}.{id}", created.timestamp_micros()))
}

fn parse_page_token(kind: &str, token: &str) -> Result<Option<(DateTime<Utc>, Uuid)>, UploadError> {
    if token.is_empty() {
        return Ok(None);
    }
    let bad = || UploadError::invalid("page_token", "not a page token of this list: pass next_page_token as it came");
    let text = String::from_utf8(URL_SAFE_NO_PAD.decode(token).map_err(|_| bad())?).map_err(|_| bad())?;
    let mut parts = text.splitn(3, '.');
    if parts.next() != Some(kind) {
        return Err(bad());
    }
    let micros: i64 = parts.next().and_then(|m| m.parse().ok()).ok_or_else(bad)?;
    let id = parts.next().and_then(|i| Uuid::parse_str(i).ok()).ok_or_else(bad)?;
    Ok(Some((DateTime::from_timestamp_micros(micros).ok_or_else(bad)?, id)))
}

fn dropoff_input(dropoff: pb::DropOff) -> Result<DropOffInput, UploadError> {
    Ok(DropOffInput {
        dataset: Some(dropoff.dataset).filter(|d| !d.is_empty()),
        title: dropoff.title,
        description: dropoff.description,
        recipient_emails: dropoff.recipient_emails,
        max_file_bytes: Some(dropoff.max_file_bytes).filter(|n| *n != 0),
        max_total_bytes: Some(dropoff.max_total_bytes).filter(|n| *n != 0),
        allowed_types: dropoff.allowed_types,
        expire_time: dropoff.expire_time.map(|t| from_timestamp("expire_time", t)).transpose()?,
        recipient_public_key_set: !dropoff.recipient_public_key.is_empty(),
    })
}

fn dropoff_update(
    dropoff: pb::DropOff,
    mask: Option<prost_types::FieldMask>,
    reopen: bool,
) -> Result<DropOffUpdate, UploadError> {
    if !dropoff.recipient_public_key.is_empty() {
        return Err(UploadError::reserved_public_key());
    }
    let mut update = DropOffUpdate { reopen, ..DropOffUpdate::default() };
    let paths = mask.map(|m| m.paths).unwrap_or_default();
    if paths.is_empty() && !reopen {
        return Err(UploadError::invalid("update_mask", "name the fields to change (e.g. \"title,expire_time\")"));
    }
    for path in paths {
        match path.as_str() {
            "title" => update.title = Some(dropoff.title.clone()),
            "description" => update.description = Some(dropoff.description.clone()),
            "recipient_emails" => update.recipient_emails = Some(dropoff.recipient_emails.clone()),
            "max_file_bytes" => update.max_file_bytes = Some(dropoff.max_file_bytes),
            "max_total_bytes" => update.max_total_bytes = Some(dropoff.max_total_bytes),
            "allowed_types" => update.allowed_types = Some(dropoff.allowed_types.clone()),
            "expire_time" => {
                let t = dropoff.expire_time.ok_or_else(|| UploadError::invalid("expire_time", "is required"))?;
                update.expire_time = Some(from_timestamp("expire_time", t)?);
            }
            other => {
                return Err(UploadError::invalid(
                    "update_mask",
                    format!(
                        "'{other}' cannot be changed; use title, description, recipient_emails, max_file_bytes, \
                         max_total_bytes, allowed_types or expire_time"
                    ),
                ));
            }
        }
    }
    Ok(update)
}

type ByteStream = Pin<Box<dyn Stream<Item = Result<HttpBody, Status>> + Send>>;

#[tonic::async_trait]
impl UploadService for UploadApi {
    async fn create_drop_off(&self, request: Request<pb::CreateDropOffRequest>) -> Reply<pb::CreateDropOffResponse> {
        let caller = Self::principal(&request)?;
        let dropoff = request.into_inner().dropoff.unwrap_or_default();
        let (view, code) = self.uploads.create_dropoff(&caller, dropoff_input(dropoff)?).await?;
        Ok(Response::new(pb::CreateDropOffResponse {
            dropoff: Some(self.dropoff_message(view)),
            upload_code: code.reveal_once(),
        }))
    }

    async fn get_drop_off(&self, request: Request<pb::GetDropOffRequest>) -> Reply<pb::GetDropOffResponse> {
        let caller = Self::principal(&request)?;
        let view = self.uploads.get_dropoff(&caller, &request.into_inner().dropoff_id).await?;
        Ok(Response::new(pb::GetDropOffResponse { dropoff: Some(self.dropoff_message(view)) }))
    }

    async fn list_drop_offs(&self, request: Request<pb::ListDropOffsRequest>) -> Reply<pb::ListDropOffsResponse> {
        let caller = Self::principal(&request)?;
        let pb::ListDropOffsRequest { page_size: size, page_token: token, all } = request.into_inner();
        let limit = page_size(size, DROPOFF_PAGE)?;
        let after = parse_page_token("d", &token)?;
        let views = self.uploads.list_dropoffs(&caller, all, after, limit).await?;
        let next_page_token = match views.last() {
            Some(last) if views.len() as i64 == limit => page_token("d", last.row.created_at, last.row.id),
            _ => String::new(),
        };
        let dropoffs = views.into_iter().map(|v| self.dropoff_message(v)).collect();
        Ok(Response::new(pb::ListDropOffsResponse { dropoffs, next_page_token }))
    }

    async fn update_drop_off(&self, request: Request<pb::UpdateDropOffRequest>) -> Reply<pb::UpdateDropOffResponse> {
        let caller = Self::principal(&request)?;
        let pb::UpdateDropOffRequest { dropoff, update_mask, reopen, dropoff_id } = request.into_inner();
        let dropoff = dropoff.unwrap_or_default();
        let id = if dropoff_id.is_empty() { dropoff.dropoff_id.clone() } else { dropoff_id };
        let update = dropoff_update(dropoff, update_mask, reopen)?;
        let view = self.uploads.update_dropoff(&caller, &id, update).await?;
        Ok(Response::new(pb::UpdateDropOffResponse { dropoff: Some(self.dropoff_message(view)) }))
    }

    async fn rotate_upload_code(
        &self,
        request: Request<pb::RotateUploadCodeRequest>,
    ) -> Reply<pb::RotateUploadCodeResponse> {
        let caller = Self::principal(&request)?;
        let code = self.uploads.rotate_code(&caller, &request.into_inner().dropoff_id).await?;
        Ok(Response::new(pb::RotateUploadCodeResponse { upload_code: code.reveal_once() }))
    }

    async fn close_drop_off(&self, request: Request<pb::CloseDropOffRequest>) -> Reply<pb::CloseDropOffResponse> {
        let caller = Self::principal(&request)?;
        let view = self.uploads.close_dropoff(&caller, &request.into_inner().dropoff_id).await?;
        Ok(Response::new(pb::CloseDropOffResponse { dropoff: Some(self.dropoff_message(view)) }))
    }

    async fn delete_drop_off(&self, request: Request<pb::DeleteDropOffRequest>) -> Reply<pb::DeleteDropOffResponse> {
        let caller = Self::principal(&request)?;
        self.uploads.delete_dropoff(&caller, &request.into_inner().dropoff_id).await?;
        Ok(Response::new(pb::DeleteDropOffResponse {}))
    }

    async fn list_files(&self, request: Request<pb::ListFilesRequest>) -> Reply<pb::ListFilesResponse> {
        let caller = Self::principal(&request)?;
        let pb::ListFilesRequest { dropoff_id, page_size: size, page_token: token, status } = request.into_inner();
        let limit = page_size(size, FILE_PAGE)?;
        let after = parse_page_token("f", &token)?;
        let status = pb::FileStatus::try_from(status).map_err(|_| UploadError::invalid("status", "unknown status"))?;
        let files = self.uploads.list_files(&caller, &dropoff_id, status_name(status), after, limit).await?;
        let next_page_token = match files.last() {
            Some(last) if files.len() as i64 == limit => page_token("f", last.created_at, last.id),
            _ => String::new(),
        };
        Ok(Response::new(pb::ListFilesResponse { files: files.iter().map(file_message).collect(), next_page_token }))
    }

    async fn get_file(&self, request: Request<pb::GetFileRequest>) -> Reply<pb::GetFileResponse> {
        let caller = Self::principal(&request)?;
        let (file, _) = self.uploads.file_for(&caller, &request.into_inner().file_id, super::ops::Need::View).await?;
        Ok(Response::new(pb::GetFileResponse { file: Some(file_message(&file)) }))
    }

    type DownloadFileStream = ByteStream;

    async fn download_file(&self, request: Request<pb::DownloadFileRequest>) -> Reply<Self::DownloadFileStream> {
        let caller = Self::principal(&request)?;
        let pb::DownloadFileRequest { file_id, offset } = request.into_inner();
        let offset = u64::try_from(offset).map_err(|_| UploadError::invalid("offset", "must not be negative"))?;
        let (file, mut reader) = self.uploads.open_file(&caller, &file_id).await?;
        if offset > reader.len() {
            return Err(UploadError::invalid("offset", format!("the file has {} bytes", reader.len())).into());
        }
        let (tx, rx) = tokio::sync::mpsc::channel::<Result<HttpBody, Status>>(2);
        let id = file.id;
        tokio::task::spawn_blocking(move || {
            let send = |item| tx.blocking_send(item).is_ok();
            if let Err(e) = reader.seek(SeekFrom::Start(offset)) {
                send(Err(read_status(id, e)));
                return;
            }
            let mut first = true;
            let mut buf = vec![0u8; DOWNLOAD_MESSAGE_BYTES];
            loop {
                let mut filled = 0;
                while filled < buf.len() {
                    match reader.read(&mut buf[filled..]) {
                        Ok(0) => break,
                        Ok(n) => filled += n,
                        Err(e) => {
                            send(Err(read_status(id, e)));
                            return;
                        }
                    }
                }
                if filled == 0 && !first {
                    return;
                }
                let content_type = if first { "application/octet-stream".to_owned() } else { String::new() };
                first = false;
                let message = HttpBody { content_type, data: buf[..filled].to_vec(), extensions: Vec::new() };
                if !send(Ok(message)) || filled < buf.len() {
                    return;
                }
            }
        });
        Ok(Response::new(Box::pin(tokio_stream::wrappers::ReceiverStream::new(rx)) as ByteStream))
    }

    async fn delete_file(&self, request: Request<pb::DeleteFileRequest>) -> Reply<pb::DeleteFileResponse> {
        let caller = Self::principal(&request)?;
        self.uploads.delete_file(&caller, &request.into_inner().file_id).await?;
        Ok(Response::new(pb::DeleteFileResponse {}))
    }

    async fn open_drop_off(&self, request: Request<pb::OpenDropOffRequest>) -> Reply<pb::OpenDropOffResponse> {
        let uploader = self.uploader(&request, &request.get_ref().upload_code);
        let opened = self.uploads.open(&request.get_ref().dropoff_id, &uploader).await?;
        let row = opened.row;
        Ok(Response::new(pb::OpenDropOffResponse {
            dropoff_id: row.id.to_string(),
            title: row.title.clone(),
            description: row.description.clone(),
            max_file_bytes: row.max_file_bytes,
            max_total_bytes: row.max_total_bytes,
            remaining_bytes: opened.remaining_bytes,
            allowed_types: row.allowed(),
            expire_time: Some(timestamp(row.expire_time)),
            tus_endpoint: self.uploads.tus_endpoint(),
            max_chunk_bytes: MAX_CHUNK_BYTES as i64,
        }))
    }

    async fn create_upload(&self, request: Request<pb::CreateUploadRequest>) -> Reply<pb::CreateUploadResponse> {
        let uploader = self.uploader(&request, &request.get_ref().upload_code);
        let new = new_upload(request.into_inner())?;
        let file = self.uploads.create_upload(new, &uploader).await?;
        Ok(Response::new(pb::CreateUploadResponse {
            upload_id: file.id.to_string(),
            offset: file.committed_offset,
            max_chunk_bytes: MAX_CHUNK_BYTES as i64,
            expire_time: Some(timestamp(file.expire_time)),
            tus_url: format!("{}{}", self.uploads.tus_endpoint(), file.id),
        }))
    }

    async fn write_chunk(&self, request: Request<pb::WriteChunkRequest>) -> Reply<pb::WriteChunkResponse> {
        let uploader = self.uploader(&request, &request.get_ref().upload_code);
        let pb::WriteChunkRequest { upload_id, offset, data, .. } = request.into_inner();
        let offset = u64::try_from(offset).map_err(|_| UploadError::invalid("offset", "must not be negative"))?;
        if data.len() > MAX_CHUNK_BYTES {
            return Err(UploadError::invalid("data", format!("a chunk holds at most {MAX_CHUNK_BYTES} bytes")).into());
        }
        let mode = WriteMode { body_len: Some(data.len() as u64), ..WriteMode::default() };
        let body = futures_util::stream::iter([Ok::<_, std::convert::Infallible>(data)]);
        let outcome = self.uploads.write(&upload_id, &uploader, offset, body, mode).await?;
        Ok(Response::new(pb::WriteChunkResponse {
            offset: outcome.file.committed_offset,
            expire_time: Some(timestamp(outcome.file.expire_time)),
        }))
    }

    async fn get_upload(&self, request: Request<pb::GetUploadRequest>) -> Reply<pb::GetUploadResponse> {
        let uploader = self.uploader(&request, &request.get_ref().upload_code);
        let file = self.uploads.get_upload(&request.get_ref().upload_id, &uploader).await?;
        Ok(Response::new(pb::GetUploadResponse { file: Some(file_message(&file)) }))
    }

    async fn finalize_upload(&self, request: Request<pb::FinalizeUploadRequest>) -> Reply<pb::FinalizeUploadResponse> {
        let uploader = self.uploader(&request, &request.get_ref().upload_code);
        let pb::FinalizeUploadRequest { upload_id, sha256, .. } = request.into_inner();
        let file = self.uploads.finalize(&upload_id, &uploader, &sha256).await?;
        Ok(Response::new(pb::FinalizeUploadResponse { file: Some(file_message(&file)) }))
    }

    async fn cancel_upload(&self, request: Request<pb::CancelUploadRequest>) -> Reply<pb::CancelUploadResponse> {
        let uploader = self.uploader(&request, &request.get_ref().upload_code);
        self.uploads.cancel(&request.get_ref().upload_id, &uploader).await?;
        Ok(Response::new(pb::CancelUploadResponse {}))
    }

    async fn upload_file(&self, request: Request<Streaming<pb::UploadFileRequest>>) -> Reply<pb::UploadFileResponse> {
        let peer = self.uploader(&request, "");
        let mut stream = request.into_inner();
        let header = match stream.message().await? {
            Some(pb::UploadFileRequest { part: Some(pb::upload_file_request::Part::Header(header)) }) => header,
            _ => return Err(UploadError::invalid("header", "the first message must be the header").into()),
        };
        let (upload_id, code, offset) = match header.target {
            Some(pb::upload_file_header::Target::Create(create)) => {
                let uploader = Uploader { code: Some(create.upload_code.clone()), address: peer.address.clone() };
                let file = self.uploads.create_upload(new_upload(create)?, &uploader).await?;
                (file.id.to_string(), uploader.code, file.committed_offset as u64)
            }
            Some(pb::upload_file_header::Target::Resume(resume)) => {
                let offset =
                    u64::try_from(resume.offset).map_err(|_| UploadError::invalid("offset", "must not be negative"))?;
                (resume.upload_id, Some(resume.upload_code), offset)
            }
            None => return Err(UploadError::invalid("header", "set create (a new upload) or resume").into()),
        };
        let uploader = Uploader { code, address: peer.address };
        let body = stream.map(|message| match message {
            Ok(pb::UploadFileRequest { part: Some(pb::upload_file_request::Part::Data(data)) }) => Ok(data),
            Ok(_) => Err(Status::invalid_argument("only the first message may be a header")),
            Err(status) => Err(status),
        });
        let outcome = self.uploads.write(&upload_id, &uploader, offset, body, WriteMode::default()).await?;
        let file = if header.sha256.is_empty() {
            outcome.file
        } else {
            self.uploads.finalize(&upload_id, &uploader, &header.sha256).await?
        };
        Ok(Response::new(pb::UploadFileResponse { file: Some(file_message(&file)) }))
    }
}

fn new_upload(request: pb::CreateUploadRequest) -> Result<NewUpload, UploadError> {
    let size = u64::try_from(request.size).map_err(|_| UploadError::invalid("size", "must not be negative"))?;
    if request.request_id.len() > 128 {
        return Err(UploadError::invalid("request_id", "must be at most 128 characters"));
    }
    let metadata: BTreeMap<String, String> = request.metadata.into_iter().collect();
    let metadata_bytes: usize = metadata.iter().map(|(k, v)| k.len() + v.len()).sum();
    if metadata.len() > super::metadata::MAX_PAIRS || metadata_bytes > super::metadata::MAX_HEADER_BYTES {
        return Err(UploadError::invalid("metadata", "at most 32 pairs and 8 KiB in all"));
    }
    Ok(NewUpload {
        dropoff_id: request.dropoff_id,
        name: request.name,
        relative_path: Some(request.relative_path).filter(|p| !p.is_empty()),
        size: Some(size),
        content_type: request.content_type,
        metadata,
        request_id: Some(request.request_id).filter(|r| !r.is_empty()),
        expected_sha256: None,
        protocol: Protocol::Grpc,
    })
}

/// DATA_LOSS for a stored file that does not open; other read failures are internal.
fn read_status(id: Uuid, err: std::io::Error) -> Status {
    match crate::blobs::BlobError::from(err) {
        crate::blobs::BlobError::Corrupt { reason, .. } => {
            tracing::error!(file = %id, reason, "a stored upload failed authentication");
            UploadError::DataLoss(reason.to_owned()).into()
        }
        other => UploadError::internal(other).into(),
    }
}
