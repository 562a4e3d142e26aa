//! tusd 2.x's gRPC hooks: `proto.HookHandler/InvokeHook` (spec upload.md §4.5).
//!
//! tusd cannot authenticate itself over gRPC, so callers are allowed by
//! their direct peer address (`STEWARD_TUSD_HOOK_PEERS`), never by a
//! forwarded one; others get PERMISSION_DENIED. With hooks off the service
//! answers UNIMPLEMENTED. Refusals are `OK` with `rejectUpload`; only
//! Steward's own failures are UNAVAILABLE (tusd retries those).

use tonic::{Request, Response, Status};

use super::{Answer, Format, Hook, HookRequest, HookType, HookUpload};
use crate::upload::ops::Uploads;
use crate::upload::tus::TusError;
use crate::upload::tus::reply::error_body;

/// tusd's hook messages (vendored `proto/tusd/hook.proto`, package `proto`).
pub mod pb {
    tonic::include_proto!("proto");
}

/// The descriptor set of tusd's hook service, for reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] = tonic::include_file_descriptor_set!("tusd_descriptor");

use pb::hook_handler_server::{HookHandler, HookHandlerServer};

/// The service tusd calls.
#[derive(Debug, Clone)]
pub struct HookApi {
    uploads: Uploads,
}

/// The server for `crate::server`.
pub fn service(uploads: Uploads) -> HookHandlerServer<HookApi> {
    HookHandlerServer::new(HookApi { uploads })
}

impl From<pb::HookRequest> for Hook {
    fn from(request: pb::HookRequest) -> Hook {
        let event = request.event.unwrap_or_default();
        let upload = event.upload.unwrap_or_default();
        let http = event.http_request.unwrap_or_default();
        Hook {
            kind: HookType::parse(&request.r#type),
            upload: HookUpload {
                id: upload.id,
                size: (!upload.size_is_deferred).then_some(upload.size),
                offset: upload.offset,
                metadata: upload.meta_data.into_iter().collect(),
                is_partial: upload.is_partial,
                is_final: upload.is_final,
                storage: (!upload.storage.is_empty()).then(|| upload.storage.into_iter().collect()),
            },
            request: HookRequest { remote_addr: http.remote_addr, headers: http.header.into_iter().collect() },
        }
    }
}

fn http_response(err: &TusError) -> pb::HttpResponse {
    let mut header =
        std::collections::HashMap::from([("Content-Type".to_owned(), "text/plain; charset=utf-8".to_owned())]);
    if let TusError::TooManyAttempts { retry_after_secs } = err {
        header.insert("Retry-After".into(), retry_after_secs.to_string());
    }
    pb::HttpResponse { status_code: i64::from(err.status().as_u16()), header, body: error_body(err) }
}

/// The answer in tusd's message; gRPC has no termination veto.
pub fn response(answer: &Answer) -> pb::HookResponse {
    match answer {
        Answer::Continue | Answer::RejectTermination(_) => pb::HookResponse::default(),
        Answer::Created { id } => pb::HookResponse {
            change_file_info: Some(pb::FileInfoChanges { id: id.to_string(), ..Default::default() }),
            ..Default::default()
        },
        Answer::Reject(err) => {
            pb::HookResponse { reject_upload: true, http_response: Some(http_response(err)), ..Default::default() }
        }
        Answer::Stop(err) => {
            pb::HookResponse { stop_upload: true, http_response: Some(http_response(err)), ..Default::default() }
        }
    }
}

#[tonic::async_trait]
impl HookHandler for HookApi {
    async fn invoke_hook(&self, request: Request<pb::HookRequest>) -> Result<Response<pb::HookResponse>, Status> {
        let settings = &self.uploads.settings().tusd;
        if !settings.enabled {
            return Err(Status::unimplemented("tusd hooks are off on this server (STEWARD_TUSD_HOOKS)"));
        }
        let allowed = request.remote_addr().is_some_and(|peer| settings.peer_allowed(peer.ip()));
        if !allowed {
            return Err(Status::permission_denied(
                "this address may not call tusd hooks; list tusd's address in STEWARD_TUSD_HOOK_PEERS",
            ));
        }
        let hook = Hook::from(request.into_inner());
        match super::handle(&self.uploads, Format::Grpc, hook).await {
            Ok(answer) => Ok(Response::new(response(&answer))),
            Err(_) => Err(Status::unavailable("Steward could not handle the hook; retry")),
        }
    }
}
