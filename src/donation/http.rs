//! portability-server's plain HTTP routes beside its REST API (spec §2.8),
//! which Envoy passes through: DRF's router root `GET /api/` and `GET /health/`.
//! `/health/` (with the slash) is portability-server's; DSG's `/health`
//! (without) is `authorization::http`'s and answers the same way, byte for byte.

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::json;

use crate::app::AppState;

/// The routes, for `crate::http::router` to merge.
pub fn routes() -> Router<AppState> {
    Router::new().route("/api/", get(api_root)).route("/health/", get(health))
}

/// 200 `{"donations": "<public URL>/api/donations/"}`: DRF's list of the router's routes.
async fn api_root(State(state): State<AppState>) -> Response {
    let donations = format!("{}/api/donations/", state.config.public_url.trim_end_matches('/'));
    compact(StatusCode::OK, &json!({ "donations": donations }))
}

/// 200 `{"status":"ok"}` when `/healthz` would answer healthy (database
/// reachable and migrated), else 503 `{"status":"unavailable"}`.
async fn health(State(state): State<AppState>) -> Response {
    if state.health.is_serving() {
        compact(StatusCode::OK, &json!({"status": "ok"}))
    } else {
        compact(StatusCode::SERVICE_UNAVAILABLE, &json!({"status": "unavailable"}))
    }
}

/// Compact JSON, as DRF's renderer prints it.
fn compact(status: StatusCode, body: &serde_json::Value) -> Response {
    (status, [(header::CONTENT_TYPE, "application/json")], body.to_string()).into_response()
}
