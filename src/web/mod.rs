//! Steward's browser pages and the assets they load, compiled into the binary:
//! the sign-in-free `/status` page, its stylesheet, and the gRPC-web bundle
//! built from `clients/web/` (`clients/web/generate` rebuilds it; CI fails when
//! the committed bundle is stale). `http.rs` serves [`ASSETS`] under `/static/`.

use std::sync::LazyLock;

use axum::Router;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;

use crate::app::AppState;
use crate::auth::{Caller, PrincipalKind};

mod datasets;
mod donations;

/// The page script: TypeScript in `clients/web/src/`, bundled by esbuild.
const STATUS_JS: &[u8] = include_bytes!("../../clients/web/dist/status.js");

/// Live progress on the participant's status page (`/donate/`): TypeScript
/// in `clients/web/src/donate.ts`, bundled by esbuild.
const DONATE_JS: &[u8] = include_bytes!("../../clients/web/dist/donate.js");

/// The private-aggregation page (`/secretshare`): TypeScript in
/// `clients/web/src/secretshare_page.ts`, bundled by esbuild.
const SECRETSHARE_PAGE_JS: &[u8] = include_bytes!("../../clients/web/dist/secretshare_page.js");

/// The uploader's page (`/upload/{id}`): TypeScript in
/// `clients/web/src/upload_page.ts` with tus-js-client and the gRPC-web chunk RPCs, bundled by esbuild.
const UPLOAD_PAGE_JS: &[u8] = include_bytes!("../../clients/web/dist/upload_page.js");

/// The owner's drop-off pages (`/dropoffs`, `/dropoffs/{id}`): TypeScript in
/// `clients/web/src/dropoffs_page.ts`, bundled by esbuild.
const DROPOFFS_PAGE_JS: &[u8] = include_bytes!("../../clients/web/dist/dropoffs_page.js");

/// The signed-in user's "My account" page (`/account`): TypeScript in
/// `clients/web/src/account_page.ts`, bundled by esbuild.
const ACCOUNT_PAGE_JS: &[u8] = include_bytes!("../../clients/web/dist/account_page.js");

/// The researcher's donation console (`/donations`, `/donations/{id}`):
/// TypeScript in `clients/web/src/donations_page.ts`, bundled by esbuild.
const DONATIONS_PAGE_JS: &[u8] = include_bytes!("../../clients/web/dist/donations_page.js");

/// The dataset console (`/datasets`, `/datasets/{name}`, `/audit`):
/// TypeScript in `clients/web/src/datasets_page.ts`, bundled by esbuild.
const DATASETS_PAGE_JS: &[u8] = include_bytes!("../../clients/web/dist/datasets_page.js");

/// Assets served under `/static/`: (path, content type, bytes).
pub const ASSETS: &[(&str, &str, &[u8])] = &[
    ("status.js", "text/javascript; charset=utf-8", STATUS_JS),
    ("donate.js", "text/javascript; charset=utf-8", DONATE_JS),
    ("secretshare_page.js", "text/javascript; charset=utf-8", SECRETSHARE_PAGE_JS),
    ("upload_page.js", "text/javascript; charset=utf-8", UPLOAD_PAGE_JS),
    ("dropoffs_page.js", "text/javascript; charset=utf-8", DROPOFFS_PAGE_JS),
    ("account_page.js", "text/javascript; charset=utf-8", ACCOUNT_PAGE_JS),
    ("donations_page.js", "text/javascript; charset=utf-8", DONATIONS_PAGE_JS),
    ("datasets_page.js", "text/javascript; charset=utf-8", DATASETS_PAGE_JS),
    ("steward.css", "text/css; charset=utf-8", STYLESHEET.as_bytes()),
];

/// The browser pages, for `http::router` to merge.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/status", get(status_page))
        .route("/secretshare", get(secretshare_page))
        .route("/upload/{dropoff_id}", get(upload_page))
        .route("/drop/{dropoff_id}", get(upload_page))
        .route("/dropoffs", get(dropoffs_page))
        .route("/dropoffs/{dropoff_id}", get(dropoff_page))
        .route("/account", get(account_page))
        .route("/signin", get(signin_page))
        .merge(donations::routes())
        .merge(datasets::routes())
}

/// The console's links atop every console page, `current` (a path of it) marked as the page shown.
fn console_nav(current: &str) -> String {
    let link = format!(r#"<a href="{current}">"#);
    CONSOLE_NAV.replacen(&link, &format!(r#"<a href="{current}" aria-current="page">"#), 1)
}

const CONSOLE_NAV: &str = r#"<nav class="console" aria-label="Console">
<a href="/donations">Donations</a>
<a href="/datasets">Datasets</a>
<a href="/groups">Groups</a>
<a href="/service-accounts">Service accounts</a>
<a href="/dropoffs">Drop-offs</a>
<a href="/secretshare">Private aggregation</a>
<a href="/audit">Audit log</a>
<a href="/account">My account</a>
</nav>"#;

/// Pages load only this server's scripts and styles and call only this server;
/// nothing else (no inline script, no third-party origin, no framing).
pub(crate) const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
     img-src 'self'; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

async fn status_page() -> Response {
    static PAGE: LazyLock<String> = LazyLock::new(|| {
        STATUS_HTML.replace("{steward.css}", &asset_url("steward.css")).replace("{status.js}", &asset_url("status.js"))
    });
    page(CONTENT_SECURITY_POLICY, PAGE.as_str())
}

/// The uploader's page for a drop-off link; the script reads the id from the
/// path. Anything that is not a drop-off id gets a page that says so.
async fn upload_page(Path(dropoff_id): Path<String>) -> Response {
    let (status, main) = if is_dropoff_id(&dropoff_id) {
        let script = format!(r#"<script type="module" src="{}"></script>"#, asset_url("upload_page.js"));
        (StatusCode::OK, UPLOAD_MAIN_HTML.replace("{script}", &script))
    } else {
        (StatusCode::NOT_FOUND, BAD_LINK_HTML.replace("{script}", ""))
    };
    (status, owner_or_upload_page("Upload files", &main)).into_response()
}

/// The owner's list of drop-offs and the form that creates one.
async fn dropoffs_page() -> Response {
    let main = DROPOFFS_MAIN_HTML.replace("{nav}", &console_nav("/dropoffs")).replace("{script}", &dropoffs_script());
    owner_or_upload_page("Drop-offs", &main)
}

/// One drop-off and its files, for its owner.
async fn dropoff_page(Path(dropoff_id): Path<String>) -> Response {
    if !is_dropoff_id(&dropoff_id) {
        return (StatusCode::NOT_FOUND, owner_or_upload_page("Drop-off", &BAD_LINK_HTML.replace("{script}", "")))
            .into_response();
    }
    let main = DROPOFF_MAIN_HTML.replace("{nav}", &console_nav("/dropoffs")).replace("{script}", &dropoffs_script());
    owner_or_upload_page("Drop-off", &main)
}

/// "My account" for the user the `dsg_token` cookie (or an `Authorization`
/// header) names; anyone else is sent to sign in and back. The script asks
/// the server over gRPC-web with the same cookie.
async fn account_page(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let script = format!(r#"<script type="module" src="{}"></script>"#, asset_url("account_page.js"));
    let main = ACCOUNT_MAIN_HTML.replace("{nav}", &console_nav("/account")).replace("{script}", &script);
    let html = shell("My account", &main);
    // Its sign-out form posts here.
    let csp = CONTENT_SECURITY_POLICY.replace("form-action 'none'", "form-action 'self'");
    signed_in_page(&state, &headers, "/account", &csp, &html).await
}

/// `html` for a signed-in user (the sign-in cookie or an `Authorization`
/// header names one), never cached: console pages show tokens and links once.
/// Anyone else is sent to sign in and back to `path`.
pub(crate) async fn signed_in_page(
    state: &AppState,
    headers: &HeaderMap,
    path: &str,
    csp: &str,
    html: &str,
) -> Response {
    match state.resolver.resolve(headers).await {
        Caller::Principal(p) if p.kind == PrincipalKind::User => {
            let mut response = page(csp, html);
            response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            response
        }
        _ => {
            let next: String = form_urlencoded::byte_serialize(path.as_bytes()).collect();
            let login = format!("/auth/login?next={next}");
            (StatusCode::FOUND, [(header::LOCATION, login.as_str()), (header::CACHE_CONTROL, "no-store")])
                .into_response()
        }
    }
}

/// `/signin?next=`: one button per configured provider, starting the
/// sign-in at `/auth/login` with `next` kept (it validates `next` itself).
async fn signin_page(State(state): State<AppState>, RawQuery(query): RawQuery) -> Response {
    let pairs = crate::http::form_pairs(query.as_deref().unwrap_or_default());
    let next = pairs.iter().find(|(k, _)| k == "next").map_or("/account", |(_, v)| v.as_str());
    let signin = &state.config.signin;
    let main = match &signin.provider {
        Some(provider) => {
            let start = format!("/auth/login?next={}", form_urlencoded::byte_serialize(next.as_bytes()).collect::<String>());
            let name = if signin.sandbox.is_some() {
                "the sandbox provider".to_owned()
            } else if provider.issuer.contains("accounts.google.com") {
                "Google".to_owned()
            } else {
                origin_of(&provider.issuer).unwrap_or_else(|| provider.issuer.clone())
            };
            format!(
                r#"<p>Steward has no passwords: you sign in with your organisation's account, and come back here.</p>
<p><a class="button" id="provider" href="{}">Sign in with {}</a></p>"#,
                crate::http::html_escape(&start),
                crate::http::html_escape(&name)
            )
        }
        None => r#"<p role="alert" class="error" id="signin-off"><span class="summary">Sign-in is not configured on this server.</span> Its operators can set <code>STEWARD_OIDC_ISSUER</code> and the client settings; until then, use an API token.</p>"#.to_owned(),
    };
    let main = format!("<main>\n<h1>Sign in</h1>\n{main}\n</main>");
    let mut response = owner_or_upload_page("Sign in", &main);
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

fn dropoffs_script() -> String {
    format!(r#"<script type="module" src="{}"></script>"#, asset_url("dropoffs_page.js"))
}

/// [`shell`] with its title and main part, under the common policy.
fn owner_or_upload_page(title: &str, main: &str) -> Response {
    page(CONTENT_SECURITY_POLICY, &shell(title, main))
}

/// A whole page around `main` with the shared stylesheet and icon; `title`
/// is HTML (callers escape what they did not write).
pub(crate) fn shell(title: &str, main: &str) -> String {
    format!(
        r#"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} · Steward</title>
<link rel="icon" href="/static/favicon.svg">
<link rel="stylesheet" href="{css}">
</head>
<body>
{main}
</body>
</html>
"#,
        css = asset_url("steward.css"),
    )
}

/// A lowercase hyphenated UUID, as drop-off ids are (spec upload.md §2.2); upper
/// case is accepted as people may retype a link.
fn is_dropoff_id(id: &str) -> bool {
    id.len() == 36
        && id.char_indices().all(|(i, c)| if matches!(i, 8 | 13 | 18 | 23) { c == '-' } else { c.is_ascii_hexdigit() })
}

/// A page with its content security policy and the headers every page sends.
pub(crate) fn page(csp: &str, html: &str) -> Response {
    (
        [
            (header::CONTENT_SECURITY_POLICY, csp),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            (header::REFERRER_POLICY, "no-referrer"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        Html(html.to_owned()),
    )
        .into_response()
}

/// The private-aggregation page. A party with its parties' URLs gets the page
/// with its script, allowed to connect to those origins; any other server
/// answers the same page with a message and no script.
async fn secretshare_page(State(state): State<AppState>) -> Response {
    let urls = state.config.secretshare.party.as_ref().map(|party| party.urls.as_slice()).unwrap_or_default();
    let (csp, script, main) = if urls.is_empty() {
        (CONTENT_SECURITY_POLICY.to_owned(), String::new(), SECRETSHARE_OFF_HTML)
    } else {
        let script = format!(r#"<script type="module" src="{}"></script>"#, asset_url("secretshare_page.js"));
        (secretshare_csp(urls), script, SECRETSHARE_MAIN_HTML)
    };
    let html = SECRETSHARE_HTML
        .replace("{steward.css}", &asset_url("steward.css"))
        .replace("{script}", &script)
        .replace("{main}", main);
    page(&csp, &html)
}

/// [`CONTENT_SECURITY_POLICY`] with `connect-src` widened to the parties'
/// origins, and nothing else.
fn secretshare_csp(urls: &[String]) -> String {
    let mut sources = vec!["'self'".to_owned()];
    for origin in urls.iter().filter_map(|url| origin_of(url)) {
        if !sources.contains(&origin) {
            sources.push(origin);
        }
    }
    CONTENT_SECURITY_POLICY.replace("connect-src 'self'", &format!("connect-src {}", sources.join(" ")))
}

/// `scheme://host[:port]` of an http(s) URL; `None` when it is not one a CSP
/// source may safely name (user info, or characters outside a host and port).
fn origin_of(url: &str) -> Option<String> {
    let (scheme, rest) = url.split_once("://")?;
    if scheme != "http" && scheme != "https" {
        return None;
    }
    let authority = rest.split(['/', '?', '#']).next()?.to_ascii_lowercase();
    let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '[' | ']');
    (!authority.is_empty() && authority.chars().all(allowed)).then(|| format!("{scheme}://{authority}"))
}

/// `/static/NAME?v=HASH`: assets are cached for an hour, so a new build must
/// change the URL the page asks for.
pub(crate) fn asset_url(name: &str) -> String {
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

/// The private-aggregation page around its `{main}`; `{script}` is empty on a
/// server that is not a party.
const SECRETSHARE_HTML: &str = r#"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Private aggregation · Steward</title>
<link rel="icon" href="/static/favicon.svg">
<link rel="stylesheet" href="{steward.css}">
{script}
</head>
<body>
{main}
</body>
</html>
"#;

/// Shown by a server that is not a secret-share party with its parties' URLs.
const SECRETSHARE_OFF_HTML: &str = r#"<main>
<h1>Private aggregation</h1>
<p role="status" id="secretshare-off">This server is not configured as a secret-share party with its parties' URLs, so this page cannot submit or sum anything here. Its operators can set <code>STEWARD_SECRETSHARE_PARTY_INDEX</code>, <code>STEWARD_SECRETSHARE_PARTY_COUNT</code> and <code>STEWARD_SECRETSHARE_PARTY_URLS</code>; the Python and R clients work with any party.</p>
</main>"#;

/// The page of a party. `clients/web/src/secretshare_page.ts` fills the
/// elements by id.
const SECRETSHARE_MAIN_HTML: &str = r#"<main>
<h1>Private aggregation</h1>
<section aria-labelledby="parties-heading">
<h2 id="parties-heading">Parties</h2>
<p>Each value is split in this page into random shares, one for each party below; no single party learns it. <strong>This page trusts the party serving it</strong>: it came from this server, and so did the list of parties. To depend on no single party, use the Python or R client with the parties' URLs configured yourself.</p>
<div id="parties" aria-live="polite"><p class="muted">Asking the parties…</p></div>
<label for="token">Token</label>
<p id="token-hint" class="hint">A bearer token every party accepts (a JWT of the issuer they trust), or one Steward token per party, separated by commas, in party order. It is sent only to the parties and is not stored.</p>
<input id="token" name="token" type="password" autocomplete="off" autocapitalize="off" spellcheck="false" aria-describedby="token-hint">
</section>

<section aria-labelledby="create-endpoint-heading">
<h2 id="create-endpoint-heading">New endpoint</h2>
<p class="hint">For developers: the same configuration is created on every party, with the token above.</p>
<form id="create-endpoint-form">
<label for="new-name">Name</label>
<input id="new-name" name="new-name" required maxlength="100" autocomplete="off" autocapitalize="off" spellcheck="false">
<label for="new-description">Description (optional)</label>
<input id="new-description" name="new-description" maxlength="1000" autocomplete="off">
<div class="date-pair">
<div><label for="new-length">Values per contribution</label><input id="new-length" name="new-length" type="number" min="1" value="1" required></div>
<div><label for="new-encoding">Values are</label><select id="new-encoding" name="new-encoding"><option value="integer" selected>integers</option><option value="fixed_point">decimals</option></select></div>
</div>
<div class="date-pair">
<div><label for="new-scale">Decimal places (decimals only)</label><input id="new-scale" name="new-scale" type="number" min="0" value="0"></div>
<div><label for="new-min-batch">Contributors before a sum (optional)</label><input id="new-min-batch" name="new-min-batch" type="number" min="1"></div>
</div>
<div class="date-pair">
<div><label for="new-min" id="new-min-label">Smallest value</label><input id="new-min" name="new-min" required value="0" inputmode="decimal" autocomplete="off"></div>
<div><label for="new-max" id="new-max-label">Largest value</label><input id="new-max" name="new-max" required value="100" inputmode="decimal" autocomplete="off"></div>
</div>
<button type="submit">Create on every party</button>
</form>
<div id="create-endpoint-status" role="status" aria-live="polite"></div>
</section>

<section aria-labelledby="contribute-heading">
<h2 id="contribute-heading">Contribute</h2>
<form id="endpoint-form">
<label for="endpoint">Endpoint</label>
<input id="endpoint" name="endpoint" autocomplete="off" autocapitalize="off" spellcheck="false" required>
<button type="submit">Load endpoint</button>
</form>
<form id="values-form" hidden>
<fieldset id="values"><legend id="values-legend">Values</legend></fieldset>
<button type="submit">Submit</button>
</form>
<div id="contribute-status" role="status" aria-live="polite"></div>
</section>

<section aria-labelledby="sums-heading">
<h2 id="sums-heading">Sealed batches</h2>
<form id="sums-form">
<label for="sums-endpoint">Endpoint</label>
<input id="sums-endpoint" name="sums-endpoint" autocomplete="off" autocapitalize="off" spellcheck="false" required>
<button type="submit">Show sums</button>
</form>
<div id="sums-status" role="status" aria-live="polite"></div>
<div id="sums"></div>
</section>
</main>
<noscript><p>This page needs JavaScript to split values and ask the parties.</p></noscript>"#;

/// A link whose id is not a drop-off id.
const BAD_LINK_HTML: &str = r#"<main>
<h1>Drop-off not found</h1>
<p role="status">This link does not name a drop-off. Check that you copied the whole link you were given.</p>
</main>{script}"#;

/// The uploader's page. `clients/web/src/upload_page.ts` fills the elements by id.
const UPLOAD_MAIN_HTML: &str = r#"<main>
<h1>Upload files</h1>
<section aria-labelledby="code-heading">
<h2 id="code-heading">Upload code</h2>
<form id="code-form">
<label for="code">Upload code</label>
<p id="code-hint" class="hint">The code you were given with this link, like <code>ABCDE-12345</code>. It goes only to this server and is not stored.</p>
<input id="code" name="code" autocomplete="off" autocapitalize="characters" spellcheck="false" aria-describedby="code-hint" required>
<button type="submit">Open drop-off</button>
</form>
<div id="code-status" role="status" aria-live="polite"></div>
</section>
<section id="dropoff" aria-labelledby="dropoff-title" hidden>
<h2 id="dropoff-title">Drop-off</h2>
<p id="dropoff-description"></p>
<dl class="identity" id="dropoff-limits"></dl>
<div id="drop-zone" class="drop-zone">
<label for="files">Files to upload</label>
<p id="files-hint" class="hint">Choose one or more files, or drop them here. If an upload is interrupted (even by closing this page), enter the code again and choose the same file: it continues where it stopped.</p>
<input id="files" name="files" type="file" multiple aria-describedby="files-hint">
</div>
<ul id="uploads" class="uploads" aria-label="Uploads"></ul>
<div id="upload-summary" role="status" aria-live="polite"></div>
</section>
</main>
<noscript><p>This page needs JavaScript to upload files.</p></noscript>
{script}"#;

/// The field for a pasted token, shared by the owner's pages.
macro_rules! token_field {
    () => {
        r#"<label for="token">API token</label>
<p id="token-hint" class="hint">Leave empty to use this browser's sign-in, or paste a token, for example from <code>steward token create</code>. It goes only to this server and is not stored.</p>
<input id="token" name="token" type="password" autocomplete="off" autocapitalize="off" spellcheck="false" aria-describedby="token-hint">"#
    };
}

/// `/dropoffs`. `clients/web/src/dropoffs_page.ts` fills the elements by id.
const DROPOFFS_MAIN_HTML: &str = concat!(
    r#"{nav}
<main>
<h1>Drop-offs</h1>
<p>A drop-off is a link and a code that let people send you files without an account.</p>
<section aria-labelledby="signin-heading">
<h2 id="signin-heading">Sign-in</h2>
"#,
    token_field!(),
    r#"
</section>
<section aria-labelledby="create-heading">
<h2 id="create-heading">New drop-off</h2>
<form id="create-form">
<label for="title">Title</label>
<input id="title" name="title" maxlength="200" required>
<label for="description">Description (optional)</label>
<textarea id="description" name="description" maxlength="4000" rows="3"></textarea>
<label for="allowed-types">Allowed types (optional)</label>
<p id="types-hint" class="hint">Separated by commas, such as <code>.csv, text/*, application/pdf</code>. Empty allows every type.</p>
<input id="allowed-types" name="allowed-types" aria-describedby="types-hint">
<label for="max-file">Largest file in MiB (optional)</label>
<p id="max-file-hint" class="hint">Empty means the server's largest.</p>
<input id="max-file" name="max-file" type="number" min="1" step="1" aria-describedby="max-file-hint">
<label for="max-total">Total space in MiB (optional)</label>
<p id="max-total-hint" class="hint">At least the largest file. Empty means the server's most.</p>
<input id="max-total" name="max-total" type="number" min="1" step="1" aria-describedby="max-total-hint">
<button type="submit">Create drop-off</button>
</form>
<div id="create-result" role="status" aria-live="polite"></div>
</section>
<section aria-labelledby="list-heading">
<h2 id="list-heading">Your drop-offs</h2>
<button type="button" id="list-refresh">Show my drop-offs</button>
<div id="dropoff-list" aria-live="polite"></div>
</section>
</main>
<noscript><p>This page needs JavaScript to ask the server.</p></noscript>
{script}"#
);

/// `/dropoffs/{id}`. `clients/web/src/dropoffs_page.ts` fills the elements by id.
const DROPOFF_MAIN_HTML: &str = concat!(
    r#"{nav}
<main>
<h1 id="heading">Drop-off</h1>
<p><a href="/dropoffs">All drop-offs</a></p>
<section aria-labelledby="signin-heading">
<h2 id="signin-heading">Sign-in</h2>
<form id="load-form">
"#,
    token_field!(),
    r#"
<button type="submit">Show drop-off</button>
</form>
</section>
<section aria-labelledby="details-heading">
<h2 id="details-heading">Details</h2>
<div id="dropoff-details" aria-live="polite"></div>
</section>
<section aria-labelledby="files-heading">
<h2 id="files-heading">Files</h2>
<div id="files" aria-live="polite"></div>
</section>
</main>
<noscript><p>This page needs JavaScript to ask the server.</p></noscript>
{script}"#
);

/// `/account`. `clients/web/src/account_page.ts` fills the elements by id.
const ACCOUNT_MAIN_HTML: &str = r#"{nav}
<main>
<h1>My account</h1>
<div id="account-status" role="status" aria-live="polite"><p class="muted">Asking the server…</p></div>
<section aria-labelledby="profile-heading">
<h2 id="profile-heading">Profile</h2>
<dl class="identity" id="profile"></dl>
<form method="post" action="/web/logout"><button type="submit" id="sign-out">Sign out</button></form>
</section>
<section aria-labelledby="groups-heading">
<h2 id="groups-heading">Groups</h2>
<div id="groups"></div>
</section>
<section aria-labelledby="access-heading">
<h2 id="access-heading">Dataset access</h2>
<div id="access"></div>
</section>
<section aria-labelledby="tos-heading">
<h2 id="tos-heading">Terms to accept</h2>
<div id="missing-tos"></div>
<div id="tos-result" role="status" aria-live="polite"></div>
</section>
<section aria-labelledby="tokens-heading">
<h2 id="tokens-heading">API tokens</h2>
<p class="hint">Tokens let scripts and clients act as you. Revoke any you no longer use.</p>
<form id="token-form">
<label for="token-description">Description</label>
<input id="token-description" name="token-description" maxlength="1000" required>
<button type="submit">Create token</button>
</form>
<div id="new-token" role="status" aria-live="polite"></div>
<div id="tokens"></div>
</section>
</main>
<noscript><p>This page needs JavaScript to ask the server.</p></noscript>
{script}"#;

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
input, textarea { display: block; width: 100%; box-sizing: border-box; font: inherit; font-family: ui-monospace, monospace;
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
fieldset { border: 1px solid var(--line); border-radius: 4px; margin: .6rem 0 0; padding: .4rem .8rem .8rem; }
fieldset label { margin-top: .5rem; }
table { border-collapse: collapse; width: 100%; margin: .6rem 0; }
th, td { border-bottom: 1px solid var(--line); padding: .3rem .5rem; text-align: left; vertical-align: top; }
td.number { font-family: ui-monospace, monospace; text-align: right; overflow-wrap: anywhere; }
ul.plain { list-style: none; padding-left: 0; }
.drop-zone { border: 2px dashed var(--muted); border-radius: 6px; padding: .8rem; margin: .8rem 0; }
.drop-zone.dragging { border-color: var(--accent); }
ul.uploads { list-style: none; padding-left: 0; }
li.upload { border-bottom: 1px solid var(--line); padding: .5rem 0; }
li.upload .file-name { font-weight: 600; overflow-wrap: anywhere; }
progress { width: 100%; height: 1.2rem; }
td.hash { font-family: ui-monospace, monospace; font-size: .85rem; overflow-wrap: anywhere; }
.code { font-family: ui-monospace, monospace; font-size: 1.3rem; }
.notice { border-left: 4px solid var(--accent); padding: .1rem .8rem; }
.document { border: 1px solid var(--line); border-radius: 4px; padding: .2rem 1rem; margin-top: 1rem; }
.document p { white-space: pre-line; }
body:has(main.wide) { max-width: 64rem; }
nav.console { display: flex; flex-wrap: wrap; gap: .3rem 1.2rem; padding-bottom: .5rem; border-bottom: 1px solid var(--line); }
nav.console a[aria-current="page"] { font-weight: 600; }
select { font: inherit; padding: .4rem .5rem; color: var(--fg); background: var(--bg); border: 1px solid var(--muted); border-radius: 4px; max-width: 100%; }
.check-line { display: flex; align-items: center; gap: .5rem; margin: .2rem 0; }
.check-line input { width: auto; display: inline; }
.check-line label { font-weight: normal; margin: 0; }
.date-pair { display: flex; flex-wrap: wrap; gap: 0 1rem; }
.date-pair > div { flex: 1 1 12rem; }
button.danger { border-color: var(--bad); background: var(--bad); color: var(--on-accent); }
button.secondary { border-color: var(--accent); background: transparent; color: var(--fg); margin-left: .5rem; }
.qr-box { margin-top: .8rem; }
svg.qr { width: 12rem; height: 12rem; display: block; }
.scroll { overflow-x: auto; }
form.rename input { min-width: 12rem; }
figure.chart { margin: 1rem 0; }
figure.chart figcaption { font-weight: 600; }
svg.chart-plot { width: 100%; height: auto; display: block; }
.chart-grid { stroke: var(--line); }
.chart-text { fill: var(--fg); font-size: 12px; }
.chart-series-0 { fill: #8c6d00; background: #8c6d00; }
.chart-series-1 { fill: #1f5f8b; background: #1f5f8b; }
.chart-series-2 { fill: #6a3d9a; background: #6a3d9a; }
.chart-series-3 { fill: #0b6b2e; background: #0b6b2e; }
.chart-series-4 { fill: #a4161a; background: #a4161a; }
.chart-series-5 { fill: #595959; background: #595959; }
ul.chart-legend { list-style: none; padding-left: 0; display: flex; flex-wrap: wrap; gap: .2rem 1rem; margin: .3rem 0; }
.chart-swatch { display: inline-block; width: .9rem; height: .9rem; margin-right: .35rem; vertical-align: -.1rem; border-radius: 2px; }
a.button { display: inline-block; margin-top: .6rem; padding: .4rem 1rem; border-radius: 4px; text-decoration: none;
  border: 1px solid var(--accent); background: var(--accent); color: var(--on-accent); }
"#;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_csp_names_only_the_parties_origins() {
        assert_eq!(origin_of("https://Party.Example.org:8443/steward"), Some("https://party.example.org:8443".into()));
        assert_eq!(origin_of("http://[::1]:8181"), Some("http://[::1]:8181".into()));
        // Nothing that could add a directive or a source, and no user info.
        for bad in ["https://a.example; script-src *", "https://u:p@a.example", "ftp://a.example", "https://", "x"] {
            assert_eq!(origin_of(bad), None, "{bad}");
        }
        let urls = ["https://a.example/x".to_owned(), "https://a.example/y".to_owned(), "http://b.example".to_owned()];
        let csp = secretshare_csp(&urls);
        assert!(csp.contains("; connect-src 'self' https://a.example http://b.example; "), "{csp}");
        assert_eq!(csp.replace(" https://a.example http://b.example", ""), CONTENT_SECURITY_POLICY);
    }

    #[test]
    fn only_a_uuid_names_a_drop_off_page() {
        assert!(is_dropoff_id("0f8e2a4c-1b3d-4e5f-8a9b-0c1d2e3f4a5b"));
        assert!(is_dropoff_id("0F8E2A4C-1B3D-4E5F-8A9B-0C1D2E3F4A5B"));
        for bad in [
            "",
            "x",
            "0f8e2a4c1b3d4e5f8a9b0c1d2e3f4a5b",
            "0f8e2a4c-1b3d-4e5f-8a9b-0c1d2e3f4a5",
            "0f8e2a4c-1b3d-4e5f-8a9b-0c1d2e3f4a5g",
        ] {
            assert!(!is_dropoff_id(bad), "{bad}");
        }
    }
}
