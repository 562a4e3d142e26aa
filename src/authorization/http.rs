//! The authorization service's plain HTTP routes: DSG's `GET /health`
//! (spec §3.8), which Docker health checks poll — unlike DSG it answers 503
//! until the database is reachable and migrated, like `/healthz`; and DSG's
//! dataset-context prefix `/{dataset}/{service}/api/v1/…` (spec §3.0), answered
//! with a 308 to the path without the prefix (the prefix never influenced
//! authorization; Python `requests` and Go follow 308 keeping method and body).

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};

use crate::app::AppState;

/// The routes, for `crate::http::router` to merge.
pub fn routes() -> Router<AppState> {
    Router::new().route("/health", get(health)).route("/{dataset}/{service}/api/v1/{*rest}", any(strip_dataset_prefix))
}

/// First segments DSG never treated as a dataset (its own top-level routes).
const NOT_DATASETS: &[&str] = &[
    "accounts",
    "admin",
    "api",
    "auth",
    "web",
    "static",
    "health",
    "login",
    "logout",
    "activate",
    "success",
    "token",
    "gcs_token",
];

/// 308 to the same path without `/{dataset}/{service}`, query kept byte for byte.
async fn strip_dataset_prefix(uri: Uri) -> Response {
    // The raw path (still percent-encoded): "", dataset, service, "api/v1/…".
    let mut parts = uri.path().splitn(4, '/');
    let (Some(""), Some(first), Some(_), Some(rest)) = (parts.next(), parts.next(), parts.next(), parts.next()) else {
        return not_found();
    };
    if NOT_DATASETS.contains(&first) {
        return not_found();
    }
    // `rest` starts with "api/v1/", so the target is always a path on this host.
    let location = match uri.query() {
        Some(query) => format!("/{rest}?{query}"),
        None => format!("/{rest}"),
    };
    (StatusCode::PERMANENT_REDIRECT, [(header::LOCATION, location)]).into_response()
}

/// DSG's 404 for unknown `/api/v1` paths.
fn not_found() -> Response {
    (StatusCode::NOT_FOUND, [(header::CONTENT_TYPE, "application/json")], r#"{"detail":"Not found."}"#).into_response()
}

/// 200 `{"status":"ok"}` or 503 `{"status":"unavailable"}`, byte for byte.
async fn health(State(state): State<AppState>) -> Response {
    let (status, body) = if state.health.is_serving() {
        (StatusCode::OK, r#"{"status":"ok"}"#)
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, r#"{"status":"unavailable"}"#)
    };
    (status, [(header::CONTENT_TYPE, "application/json")], body).into_response()
}
