//! The owner's plain download route (spec upload.md §2.6): grpc-web buffers
//! a whole stream in the browser, so browsers download a file here, with the
//! same authorization as DownloadFile (cookie or bearer).

use std::io::{Read as _, Seek as _, SeekFrom};

use axum::Router;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use bytes::Bytes;

use super::error::UploadError;
use crate::app::AppState;
use crate::auth::Caller;

/// Bytes read from the sealed file per body chunk.
const CHUNK: usize = 256 << 10;

pub fn routes() -> Router<AppState> {
    Router::new().route("/dropoffs/{dropoff_id}/files/{file_id}/content", get(download))
}

async fn download(
    State(state): State<AppState>,
    Path((dropoff_id, file_id)): Path<(String, String)>,
    caller: Option<axum::Extension<Caller>>,
    headers: HeaderMap,
) -> Response {
    let caller = caller.map_or(Caller::Anonymous, |c| c.0);
    let principal = match caller.require_principal() {
        Ok(p) => p.clone(),
        Err(_) => return refusal(UploadError::Unauthenticated("sign in, or send a bearer token".into())),
    };
    let (file, mut reader) = match state.uploads.open_file(&principal, &file_id).await {
        Ok(opened) => opened,
        Err(e) => return refusal(e),
    };
    if file.dropoff_id.to_string() != dropoff_id.to_ascii_lowercase() {
        return refusal(UploadError::NotFound(format!("no file '{file_id}' in drop-off '{dropoff_id}'")));
    }
    let len = reader.len();
    let start = match headers.get(header::RANGE).and_then(|v| v.to_str().ok()).map(|r| range_start(r, len)) {
        None | Some(RangeStart::Whole) => None,
        Some(RangeStart::From(start)) => Some(start),
        Some(RangeStart::Unsatisfiable) => {
            return (StatusCode::RANGE_NOT_SATISFIABLE, [(header::CONTENT_RANGE, format!("bytes */{len}"))])
                .into_response();
        }
    };
    let offset = start.unwrap_or(0);
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(2);
    let id = file.id;
    tokio::task::spawn_blocking(move || {
        if let Err(e) = reader.seek(SeekFrom::Start(offset)) {
            let _ = tx.blocking_send(Err(e));
            return;
        }
        let mut buf = vec![0u8; CHUNK];
        loop {
            match reader.read(&mut buf) {
                Ok(0) => return,
                Ok(n) => {
                    if tx.blocking_send(Ok(Bytes::copy_from_slice(&buf[..n]))).is_err() {
                        return;
                    }
                }
                Err(e) => {
                    // The response is cut off: a browser shows a failed download, not a wrong file.
                    tracing::error!(file = %id, error = %e, "a stored upload failed while downloading");
                    let _ = tx.blocking_send(Err(e));
                    return;
                }
            }
        }
    });
    let body = Body::from_stream(tokio_stream::wrappers::ReceiverStream::new(rx));
    let mut response = Response::new(body);
    *response.status_mut() = if start.is_some() { StatusCode::PARTIAL_CONTENT } else { StatusCode::OK };
    let h = response.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/octet-stream"));
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(len - offset));
    h.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    if start.is_some() {
        let range = format!("bytes {offset}-{}/{len}", len.saturating_sub(1));
        h.insert(header::CONTENT_RANGE, HeaderValue::from_str(&range).expect("ASCII"));
    }
    if let Ok(value) = HeaderValue::from_str(&content_disposition(&file.name)) {
        h.insert(header::CONTENT_DISPOSITION, value);
    }
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static("sandbox"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

#[derive(Debug, PartialEq, Eq)]
enum RangeStart {
    /// No usable range: send the whole file (RFC 9110 lets a server do so).
    Whole,
    From(u64),
    Unsatisfiable,
}

/// `bytes=N-` (or `bytes=N-M`, served from N to the end): where to start.
fn range_start(value: &str, len: u64) -> RangeStart {
    let Some(spec) = value.trim().strip_prefix("bytes=") else {
        return RangeStart::Whole;
    };
    if spec.contains(',') {
        return RangeStart::Whole;
    }
    let Some((first, _)) = spec.split_once('-') else {
        return RangeStart::Whole;
    };
    match first.trim().parse::<u64>() {
        Ok(start) if start < len || (start == 0 && len == 0) => RangeStart::From(start),
        Ok(_) => RangeStart::Unsatisfiable,
        Err(_) => RangeStart::Whole,
    }
}

/// `attachment; filename="<ASCII fallback>"; filename*=UTF-8''<percent-encoded>`.
fn content_disposition(name: &str) -> String {
    let fallback: String =
        name.chars().map(|c| if c.is_ascii_graphic() && c != '"' && c != '\\' || c == ' ' { c } else { '_' }).collect();
    let mut encoded = String::new();
    for byte in name.bytes() {
        if byte.is_ascii_alphanumeric() || b"!#$&+-.^_`|~".contains(&byte) {
            encoded.push(byte as char);
        } else {
            encoded.push_str(&format!("%{byte:02X}"));
        }
    }
    format!("attachment; filename=\"{fallback}\"; filename*=UTF-8''{encoded}")
}

fn refusal(err: UploadError) -> Response {
    let status = match &err {
        UploadError::Unauthenticated(_) => StatusCode::UNAUTHORIZED,
        UploadError::PermissionDenied(_) => StatusCode::FORBIDDEN,
        UploadError::NotFound(_) | UploadError::Gone(_) => StatusCode::NOT_FOUND,
        UploadError::Precondition { .. } => StatusCode::CONFLICT,
        UploadError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
        UploadError::DataLoss(_) | UploadError::Internal(_) => {
            tracing::error!(error = %err, "download failed");
            return (StatusCode::INTERNAL_SERVER_ERROR, "the file could not be read\n").into_response();
        }
        _ => StatusCode::BAD_REQUEST,
    };
    (status, [(header::CACHE_CONTROL, "no-store")], format!("{err}\n")).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_start_where_asked() {
        assert_eq!(range_start("bytes=100-", 1000), RangeStart::From(100));
        assert_eq!(range_start("bytes=100-199", 1000), RangeStart::From(100));
        assert_eq!(range_start("bytes=1000-", 1000), RangeStart::Unsatisfiable);
        assert_eq!(range_start("bytes=-100", 1000), RangeStart::Whole);
        assert_eq!(range_start("bytes=0-1,5-6", 1000), RangeStart::Whole);
        assert_eq!(range_start("items=0-", 1000), RangeStart::Whole);
    }

    #[test]
    fn names_are_quoted_safely() {
        assert_eq!(content_disposition("data.csv"), "attachment; filename=\"data.csv\"; filename*=UTF-8''data.csv");
        let tricky = content_disposition("grüße \"x\".txt");
        assert!(tricky.starts_with("attachment; filename=\"gr__e _x_.txt\""), "{tricky}");
        assert!(tricky.ends_with("filename*=UTF-8''gr%C3%BC%C3%9Fe%20%22x%22.txt"), "{tricky}");
    }
}
