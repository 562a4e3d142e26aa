//! Steward's browser pages and the assets they load, compiled into the binary:
//! the sign-in-free `/status` page, its stylesheet, and the gRPC-web bundle
//! built from `clients/web/` (`clients/web/generate` rebuilds it; CI fails when
//! the committed bundle is stale). `http.rs` serves [`ASSETS`] under `/static/`.

use std::sync::LazyLock;

use axum::Router;
use axum::http::header;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;

use crate::app::AppState;

/// The page script: TypeScript in `clients/web/src/`, bundled by esbuild.
const STATUS_JS: &[u8] = include_bytes!("../clients/web/dist/status.js");

/// Live progress on the participant's status page (`/donate/`): TypeScript
/// in `clients/web/src/donate.ts`, bundled by esbuild.
const DONATE_JS: &[u8] = include_bytes!("../clients/web/dist/donate.js");

/// Assets served under `/static/`: (path, content type, bytes).
pub const ASSETS: &[(&str, &str, &[u8])] = &[
    ("status.js", "text/javascript; charset=utf-8", STATUS_JS),
    ("donate.js", "text/javascript; charset=utf-8", DONATE_JS),
    ("steward.css", "text/css; charset=utf-8", STYLESHEET.as_bytes()),
];

/// The browser pages, for `http::router` to merge.
pub fn routes() -> Router<AppState> {
    Router::new().route("/status", get(status_page))
}

/// Pages load only this server's scripts and styles and call only this server;
/// nothing else (no inline script, no third-party origin, no framing).
const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
     img-src 'self'; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

async fn status_page() -> Response {
    static PAGE: LazyLock<String> = LazyLock::new(|| {
        STATUS_HTML.replace("{steward.css}", &asset_url("steward.css")).replace("{status.js}", &asset_url("status.js"))
    });
    (
        [
            (header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            (header::REFERRER_POLICY, "no-referrer"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        Html(PAGE.as_str()),
    )
        .into_response()
}

/// `/static/NAME?v=HASH`: assets are cached for an hour, so a new build must
/// change the URL the page asks for.
fn asset_url(name: &str) -> String {
    let bytes = ASSETS.iter().find(|(n, _, _)| *n == name).map(|(_, _, bytes)| *bytes).unwrap_or_default();
    let digest = ring::digest::digest(&ring::digest::SHA256, bytes);
    let version: String = digest.as_ref()[..6].iter().map(|b| format!("{b:02x}")).collect();
    format!("/static/{name}?v={version}")
}

/// The status page. `clients/web/src/status.ts` fills the elements by id.
const STATUS_HTML: &str = r#"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>API status · Steward</title>
<link rel="icon" href="/static/favicon.svg">
<link rel="stylesheet" href="{steward.css}">
<script type="module" src="{status.js}"></script>
</head>
<body>
<main>
<h1>Steward API status</h1>

<section aria-labelledby="health-heading">
<h2 id="health-heading">Server health</h2>
<div role="status" aria-live="polite">
<p>Status: <strong id="health-state" class="state" data-state="checking">Checking…</strong></p>
<div id="health-detail"></div>
</div>
<button type="button" id="health-refresh">Check again</button>
<p class="hint">Asked with <code>grpc.health.v1.Health/Check</code> over gRPC-web, every 15 seconds while this page is open.</p>
</section>

<section aria-labelledby="whoami-heading">
<h2 id="whoami-heading">Who am I?</h2>
<form id="whoami-form">
<label for="token">API token</label>
<p id="token-hint" class="hint">Paste a token, for example from <code>steward token create</code>. It goes only to this server and is not stored. Leave the field empty to use this browser's sign-in.</p>
<input id="token" name="token" type="password" autocomplete="off" autocapitalize="off" spellcheck="false" aria-describedby="token-hint">
<button type="submit">Show my identity</button>
</form>
<div id="whoami-result" aria-live="polite"></div>
</section>
</main>
<noscript><p>This page needs JavaScript to ask the server.</p></noscript>
</body>
</html>
"#;

/// Plain, readable and accessible: system fonts, high contrast in light and
/// dark schemes, visible focus, state in words and not colour alone.
const STYLESHEET: &str = r#":root {
  color-scheme: light dark;
  --fg: #1b1b1b; --bg: #fff; --muted: #595959; --line: #d0d0d0;
  --ok: #0b6b2e; --bad: #a4161a; --accent: #1f5f8b; --on-accent: #fff;
}
@media (prefers-color-scheme: dark) {
  :root {
    --fg: #ececec; --bg: #161616; --muted: #ababab; --line: #444;
    --ok: #73d38f; --bad: #ff8f8f; --accent: #7fb8e0; --on-accent: #111;
  }
}
body { font: 1rem/1.5 system-ui, sans-serif; color: var(--fg); background: var(--bg);
  max-width: 42rem; margin: 2rem auto; padding: 0 1rem; }
h1 { font-size: 1.6rem; margin-bottom: .5rem; }
h2 { font-size: 1.2rem; margin: 0 0 .5rem; }
section { border-top: 1px solid var(--line); padding-top: 1rem; margin-top: 1.5rem; }
code { font-family: ui-monospace, monospace; background: rgb(127 127 127 / .15); padding: 0 .2rem; border-radius: 3px; }
p { margin: .4rem 0; }
.hint, .muted { color: var(--muted); font-size: .95rem; }
.state { font-size: 1.2rem; }
.state[data-state="ok"] { color: var(--ok); }
.state[data-state="bad"] { color: var(--bad); }
.state[data-state="ok"]::before { content: "✔ "; }
.state[data-state="bad"]::before { content: "✘ "; }
.ok { color: var(--ok); font-weight: 600; }
label { display: block; font-weight: 600; }
input { display: block; width: 100%; box-sizing: border-box; font: inherit; font-family: ui-monospace, monospace;
  padding: .45rem .5rem; color: var(--fg); background: var(--bg); border: 1px solid var(--muted); border-radius: 4px; }
button { font: inherit; margin-top: .6rem; padding: .4rem 1rem; border-radius: 4px; cursor: pointer;
  border: 1px solid var(--accent); background: var(--accent); color: var(--on-accent); }
button:disabled { opacity: .6; cursor: progress; }
:focus-visible { outline: 3px solid var(--accent); outline-offset: 2px; }
.error { border-left: 4px solid var(--bad); padding: .1rem .8rem; margin: .6rem 0; }
.error .summary { color: var(--bad); font-weight: 600; overflow-wrap: anywhere; }
dl.identity { display: grid; grid-template-columns: max-content 1fr; gap: .25rem 1rem; margin: .5rem 0; }
dl.identity dt { font-weight: 600; }
dl.identity dd { margin: 0; overflow-wrap: anywhere; }
"#;
