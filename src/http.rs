//! Plain HTTP routes served beside gRPC on the same port: `/healthz`,
//! `/metrics`, the landing page, static assets (including `web`'s), and the
//! fallback that answers unknown paths (404 JSON, or the participant pages'
//! own page under theirs) and unknown gRPC methods (UNIMPLEMENTED).

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{StatusCode, Uri, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;

use crate::app::AppState;
use crate::donation::participant::pages;

/// Assets compiled into the binary: (path under `/static/`, content type, bytes).
const STATIC_ASSETS: &[(&str, &str, &[u8])] = &[("favicon.svg", "image/svg+xml", include_bytes!("static/favicon.svg"))];

/// The HTTP routes, with their state applied.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/", get(landing))
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
        .route("/static/{*path}", get(static_asset))
        .route("/favicon.ico", get(|| static_asset(Path("favicon.svg".to_owned()))))
        .merge(crate::openapi::routes())
        .merge(crate::web::routes())
        .merge(crate::dataset::tos_page::routes())
        .merge(crate::authorization::http::routes())
        .merge(crate::authorization::signin::routes(&state))
        .merge(crate::authorization::ngauth::routes(&state))
        .merge(crate::authorization::scim::routes())
        .merge(crate::donation::http::routes())
        .merge(crate::secretshare::http::routes())
        .merge(crate::upload::tus::routes::routes())
        .merge(crate::donation::sandbox::http::routes(&state))
        .merge(crate::donation::participant::pages::routes(&state))
        .fallback(fallback)
        .with_state(state)
}

async fn healthz(State(state): State<AppState>) -> Response {
    if state.health.is_serving() {
        (StatusCode::OK, axum::Json(serde_json::json!({"status": "ok"}))).into_response()
    } else {
        let body =
            serde_json::json!({"status": "unavailable", "detail": "the database is not reachable or not migrated"});
        (StatusCode::SERVICE_UNAVAILABLE, axum::Json(body)).into_response()
    }
}

async fn metrics(State(state): State<AppState>) -> Response {
    let operations = state.metrics.operations(&state.pool).await;
    let text = state.metrics.render_with_operations(operations.as_ref());
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], text).into_response()
}

async fn static_asset(Path(path): Path<String>) -> Response {
    let mut assets = STATIC_ASSETS.iter().chain(crate::web::ASSETS);
    match assets.find(|(name, _, _)| *name == path) {
        Some((_, content_type, bytes)) => {
            ([(header::CONTENT_TYPE, *content_type), (header::CACHE_CONTROL, "public, max-age=3600")], *bytes)
                .into_response()
        }
        None => not_found().into_response(),
    }
}

async fn landing(State(state): State<AppState>) -> Html<String> {
    let public_url = html_escape(&state.config.public_url);
    Html(format!(
        r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Steward</title>
<link rel="icon" href="/static/favicon.svg">
<style>body{{font-family:system-ui,sans-serif;max-width:40rem;margin:3rem auto;padding:0 1rem;line-height:1.5}}code{{background:#f3f3f3;padding:0 .2rem}}</style>
</head><body>
<h1>Steward</h1>
<p>This server collects and guards research data. It speaks gRPC and gRPC-web at <code>{public_url}</code>.</p>
<ul>
<li><a href="/status">/status</a>: API status page (health, and who a token belongs to)</li>
<li><a href="/secretshare">/secretshare</a>: private aggregation: contribute a value, or see sealed batches' sums</li>
<li><a href="/account">/account</a>: My account: your groups and dataset access, terms to accept, API tokens</li>
<li><a href="/dropoffs">/dropoffs</a>: drop-offs: create a link and a code that let people send you files</li>
<li><a href="/api/docs/">/api/docs/</a>: the REST routes (served through Envoy), as OpenAPI</li>
<li><a href="/healthz">/healthz</a>: whether the server can serve</li>
<li><a href="/metrics">/metrics</a>: Prometheus metrics</li>
<li>gRPC reflection lists every service: <code>grpcurl -plaintext HOST:PORT list</code></li>
</ul>
</body></html>"#
    ))
}

/// Unknown paths: UNIMPLEMENTED for gRPC callers (what they expect), the
/// participant pages' own "Page not found" under theirs (a mistyped or cut
/// link; a catch-all route there would clash with `/donate/{token}/`), 404
/// JSON for the rest.
async fn fallback(uri: Uri, page: pages::Ctx) -> Response {
    let grpc = page
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/grpc"));
    if grpc {
        tonic::Status::unimplemented("unknown service or method; list them with gRPC reflection").into_http()
    } else if pages::is_page_path(uri.path()) {
        page.fail(pages::Fail::NotFound)
    } else {
        not_found().into_response()
    }
}

fn not_found() -> (StatusCode, axum::Json<serde_json::Value>) {
    (StatusCode::NOT_FOUND, axum::Json(serde_json::json!({"error": "not found"})))
}

pub(crate) fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// JSON for a non-executed `<script type="application/json">` block: `<`,
/// `>` and `&` escaped, so no value can close the element.
pub(crate) fn script_json(value: &serde_json::Value) -> String {
    value.to_string().replace('<', "\\u003c").replace('>', "\\u003e").replace('&', "\\u0026")
}

/// Decoded `application/x-www-form-urlencoded` pairs (a body or a query), in
/// order, by the WHATWG rules browsers and `requests` follow: `+` is a space,
/// a bad escape stays as written, invalid UTF-8 is replaced.
pub fn form_pairs(encoded: &str) -> Vec<(String, String)> {
    form_urlencoded::parse(encoded.as_bytes()).into_owned().collect()
}

#[cfg(test)]
mod form_tests {
    use super::{form_pairs, script_json};

    #[test]
    fn script_json_cannot_close_the_script_block() {
        let s = script_json(&serde_json::json!("</script><b>&"));
        assert!(!s.contains('<') && !s.contains('>') && !s.contains('&'), "{s}");
        assert_eq!(serde_json::from_str::<String>(&s).unwrap(), "</script><b>&");
    }

    #[test]
    fn form_pairs_decode_like_browsers() {
        let pairs = form_pairs("a=1+2&b=%21&&c&a=100%&d=%zz%4");
        let expected = [("a", "1 2"), ("b", "!"), ("c", ""), ("a", "100%"), ("d", "%zz%4")];
        assert_eq!(pairs, expected.map(|(k, v)| (k.to_owned(), v.to_owned())));
    }
}
