//! `GET|POST /api/v1/tos/{tos_id}/accept?redirect=…` and its aliases (spec
//! §3.5): where middle-auth-client and the sign-in callback send users with
//! a document to accept; accepting sends the browser on to the validated
//! `redirect` (or home).

use axum::extract::{Path, State};
use axum::http::{HeaderMap, Uri};
use axum::response::Response;

use super::super::tos::TosKey;
use crate::app::AppState;
use crate::error::Error;

pub(super) async fn page(
    State(state): State<AppState>,
    headers: HeaderMap,
    uri: Uri,
    Path(tos_id): Path<String>,
) -> Response {
    let Some(key) = key(&tos_id) else { return super::failure(&not_found()) };
    super::document_page(&state, &headers, &key, &here(&uri)).await
}

pub(super) async fn accept(
    State(state): State<AppState>,
    headers: HeaderMap,
    uri: Uri,
    Path(tos_id): Path<String>,
) -> Response {
    let Some(key) = key(&tos_id) else { return super::failure(&not_found()) };
    let redirect = uri
        .query()
        .map(crate::http::form_pairs)
        .and_then(|pairs| pairs.into_iter().find(|(name, _)| name == "redirect").map(|(_, value)| value));
    let then = super::redirect_policy(&state).or_root(redirect.as_deref());
    super::accept_document(&state, &headers, &key, &here(&uri), &then).await
}

/// An id is a positive integer; anything else names no document.
fn key(tos_id: &str) -> Option<TosKey> {
    tos_id.parse::<i64>().ok().filter(|id| *id > 0).map(TosKey::Id)
}

fn not_found() -> Error {
    Error::NotFound("TOS document not found".into())
}

/// The page's own path and query, as the browser asked for it: the form
/// posts there and sign-in comes back there, `redirect` kept.
fn here(uri: &Uri) -> String {
    uri.path_and_query().map_or_else(|| uri.path().to_owned(), |pq| pq.as_str().to_owned())
}
