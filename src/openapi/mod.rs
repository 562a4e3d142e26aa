//! `/api/docs/`: the OpenAPI 3 document of Steward's REST API, generated once
//! from the embedded descriptor set and its `google.api.http` rules, served as
//! JSON (`/api/docs/openapi.json`) and as an HTML page rendered from it. The
//! REST routes themselves are served by Envoy's transcoder in front of
//! Steward, so the document names a relative server (`/`): it works wherever
//! it is fetched from.
//!
//! - [`descriptor`]: the descriptor messages read, with the `google.api.http` extension.
//! - [`generate`]: descriptor set → document.
//! - [`html`]: document → page.

pub mod descriptor;
pub mod generate;
pub mod html;

use std::sync::LazyLock;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::get;
use serde_json::{Value, json};

use crate::app::AppState;

pub use generate::Error;

/// Built on first use; the descriptor set is compiled in, so it never changes.
static DOCUMENT: LazyLock<Result<Value, Error>> =
    LazyLock::new(|| generate::document(crate::proto::FILE_DESCRIPTOR_SET));

/// The document, with `servers` naming this deployment's public URL.
pub fn document(public_url: &str) -> Result<Value, &'static Error> {
    let mut doc = DOCUMENT.as_ref()?.clone();
    doc["servers"] = json!([{
        "url": "/",
        "description": format!(
            "The address this document was fetched from. REST calls go through Envoy in front of \
             Steward, which transcodes them to gRPC: fetch this document through Envoy. This \
             deployment's public URL is {public_url}."
        ),
    }]);
    Ok(doc)
}

/// `GET /api/docs`, `/api/docs/` and `/api/docs/openapi.json`; no credentials needed.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/docs", get(|| async { Redirect::permanent("/api/docs/") }))
        .route("/api/docs/", get(page))
        .route("/api/docs/openapi.json", get(openapi_json))
}

async fn openapi_json(State(state): State<AppState>) -> Response {
    match document(&state.config.public_url) {
        Ok(doc) => axum::Json(doc).into_response(),
        Err(e) => unavailable(e),
    }
}

async fn page(State(state): State<AppState>) -> Response {
    match document(&state.config.public_url) {
        Ok(doc) => Html(html::render(&doc)).into_response(),
        Err(e) => unavailable(e),
    }
}

/// Only a descriptor set the generator cannot read gets here; a unit test
/// builds the document from the embedded one, so CI catches that first.
fn unavailable(e: &Error) -> Response {
    tracing::error!(error = %e, "the OpenAPI document cannot be generated");
    (
        StatusCode::INTERNAL_SERVER_ERROR,
        [(header::CONTENT_TYPE, "application/json")],
        json!({"error": "the API description cannot be generated"}).to_string(),
    )
        .into_response()
}
