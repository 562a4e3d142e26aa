//! `GET|POST /web/tos/{invite_token}/` (spec §3.5): the document for anyone
//! holding the link; accepting sends the browser home.

use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::Response;

use super::super::tos::TosKey;
use crate::app::AppState;

pub(super) async fn page(State(state): State<AppState>, headers: HeaderMap, Path(invite): Path<String>) -> Response {
    let here = format!("/web/tos/{invite}/");
    super::document_page(&state, &headers, &TosKey::InviteToken(invite), &here).await
}

pub(super) async fn accept(State(state): State<AppState>, headers: HeaderMap, Path(invite): Path<String>) -> Response {
    let here = format!("/web/tos/{invite}/");
    super::accept_document(&state, &headers, &TosKey::InviteToken(invite), &here, "/").await
}
