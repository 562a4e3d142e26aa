//! `/api/docs/`: the OpenAPI 3.1 document of Steward's REST API, generated once
//! from the embedded descriptor set and its `google.api.http` rules, with
//! portability-server's routes completed by hand-written compat schemas,
//! served as JSON (`/api/docs/openapi.json`, and `/api/docs/` itself for
//! scripts, as portability-server answered JSON there) and as an HTML page
//! rendered from it (`/api/docs/` for browsers). The REST routes themselves are
//! served by Envoy's transcoder in front of Steward, so the document names a
//! relative server (`/`): it works wherever it is fetched from.
//!
//! - [`descriptor`]: the descriptor messages read, with the `google.api.http` extension.
//! - [`generate`]: descriptor set → document.
//! - [`overlay`]: the hand-written parts (`proto/steward/donation/v1/legacy_schemas.json`).
//! - [`html`]: document → page.

pub mod descriptor;
pub mod generate;
pub mod html;
pub mod overlay;

use std::sync::LazyLock;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::get;
use serde_json::{Value, json};

use crate::app::AppState;

pub use generate::Error;

/// Built on first use; the descriptor set and overlay are compiled in, so it never changes.
static DOCUMENT: LazyLock<Result<Value, Error>> = LazyLock::new(|| {
    let overlay = overlay::Overlay::parse(overlay::LEGACY_SCHEMAS).map_err(Error::Overlay)?;
    generate::document(crate::proto::FILE_DESCRIPTOR_SET, &overlay)
});

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
        .route("/api/docs/", get(docs))
        .route("/api/docs/openapi.json", get(openapi_json))
}

/// The page for a browser (its `Accept` names `text/html`), the JSON document
/// for anything else (curl, `requests`, R), as portability-server's scripts expect.
async fn docs(state: State<AppState>, headers: HeaderMap) -> Response {
    let browser = headers.get_all(header::ACCEPT).iter().any(|v| v.to_str().is_ok_and(|v| v.contains("text/html")));
    let mut response = if browser { page(state).await } else { openapi_json(state).await };
    response.headers_mut().insert(header::VARY, header::HeaderValue::from_static("accept"));
    response
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

/// Only a descriptor set or overlay the generator cannot read gets here; unit
/// tests build the document from the embedded ones, so CI catches that first.
fn unavailable(e: &Error) -> Response {
    tracing::error!(error = %e, "the OpenAPI document cannot be generated");
    (
        StatusCode::INTERNAL_SERVER_ERROR,
        [(header::CONTENT_TYPE, "application/json")],
        json!({"error": "the API description cannot be generated"}).to_string(),
    )
        .into_response()
}
