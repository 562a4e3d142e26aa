//! Privacy Guardian's dropped paths (spec secretshare.md §3.4), served by
//! Steward directly (Envoy passes them through): running sums and clearing
//! them no longer exist, so both answer 410 Gone saying what replaces them.

use axum::Router;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::json;

use crate::app::AppState;

/// The routes, for `crate::http::router` to merge.
pub fn routes() -> Router<AppState> {
    Router::new().route("/api/scientist/{endpoint}", get(running_sums)).route("/api/admin/clear", post(clear))
}

async fn running_sums(axum::extract::Path(endpoint): axum::extract::Path<String>) -> Response {
    let endpoint: String =
        endpoint.chars().filter(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-')).take(64).collect();
    gone(&format!(
        "Running sums are no longer available. Seal a batch with SealBatch \
         (POST /api/secretshare/v1/endpoints/{endpoint}/batches) and add the parties' aggregate shares; see /api/docs/."
    ))
}

async fn clear() -> Response {
    gone("Clearing sums no longer exists; an admin may archive the endpoint (ArchiveEndpoint).")
}

fn gone(message: &str) -> Response {
    (StatusCode::GONE, [(header::CONTENT_TYPE, "application/json")], json!({ "message": message }).to_string())
        .into_response()
}
