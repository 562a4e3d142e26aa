//! The dataset console: `/datasets` (create, list), `/datasets/{name}`
//! (versions, buckets, grants, admins, terms of service), `/groups` (create,
//! rename and delete groups; their members), `/service-accounts` (accounts and
//! their tokens) and `/audit` (the audit log with filters). Static HTML for
//! signed-in users; `clients/web/src/datasets_page.ts` fills it over gRPC-web,
//! where DatasetService applies the authorization rules.

use axum::Router;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::Response;
use axum::routing::get;

use super::{CONTENT_SECURITY_POLICY, asset_url, console_nav, shell, signed_in_page};
use crate::app::AppState;
use crate::http::html_escape;

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/datasets", get(list_page))
        .route("/datasets/{name}", get(dataset_page))
        .route("/groups", get(groups_page))
        .route("/service-accounts", get(service_accounts_page))
        .route("/audit", get(audit_page))
}

fn script() -> String {
    format!(r#"<script type="module" src="{}"></script>"#, asset_url("datasets_page.js"))
}

async fn list_page(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let main = LIST_HTML.replace("{nav}", &console_nav("/datasets")).replace("{script}", &script());
    signed_in_page(&state, &headers, "/datasets", CONTENT_SECURITY_POLICY, &shell("Datasets", &main)).await
}

/// Any name: the script reads it from the path and the server says whether it exists.
async fn dataset_page(State(state): State<AppState>, headers: HeaderMap, Path(name): Path<String>) -> Response {
    let main = DATASET_HTML.replace("{nav}", &console_nav("/datasets")).replace("{script}", &script());
    let path = format!("/datasets/{}", percent_encoding_path(&name));
    let title = format!("Dataset {}", html_escape(&name));
    signed_in_page(&state, &headers, &path, CONTENT_SECURITY_POLICY, &shell(&title, &main)).await
}

async fn groups_page(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let main = GROUPS_HTML.replace("{nav}", &console_nav("/groups")).replace("{script}", &script());
    signed_in_page(&state, &headers, "/groups", CONTENT_SECURITY_POLICY, &shell("Groups", &main)).await
}

async fn service_accounts_page(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let main = SERVICE_ACCOUNTS_HTML.replace("{nav}", &console_nav("/service-accounts")).replace("{script}", &script());
    let html = shell("Service accounts", &main);
    signed_in_page(&state, &headers, "/service-accounts", CONTENT_SECURITY_POLICY, &html).await
}

async fn audit_page(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let main = AUDIT_HTML.replace("{nav}", &console_nav("/audit")).replace("{script}", &script());
    signed_in_page(&state, &headers, "/audit", CONTENT_SECURITY_POLICY, &shell("Audit log", &main)).await
}

/// `name` as one path segment (the sign-in round trip comes back to the same page).
fn percent_encoding_path(name: &str) -> String {
    form_urlencoded::byte_serialize(name.as_bytes()).collect::<String>().replace('+', "%20")
}

const LIST_HTML: &str = r#"{nav}
<main class="wide">
<h1>Datasets</h1>
<div id="page-status" role="status" aria-live="polite"><p class="muted">Asking the server…</p></div>
<section aria-labelledby="list-heading">
<h2 id="list-heading">Datasets you see</h2>
<div id="dataset-list"></div>
</section>
<section aria-labelledby="create-heading">
<h2 id="create-heading">New dataset</h2>
<p class="hint">Global admins create datasets; their admins then manage versions, grants and terms.</p>
<form id="dataset-form">
<label for="dataset-name">Name</label>
<input id="dataset-name" name="name" required maxlength="255" autocomplete="off">
<label for="dataset-description">Description (optional)</label>
<input id="dataset-description" name="description" maxlength="2000" autocomplete="off">
<label for="access-mode">Access</label>
<select id="access-mode" name="access-mode">
<option value="1" selected>closed: only grantees</option>
<option value="2">public: every signed-in user may view</option>
</select>
<button type="submit">Create dataset</button>
</form>
<div id="dataset-result" role="status" aria-live="polite"></div>
</section>
</main>
<noscript><p>This page needs JavaScript to ask the server.</p></noscript>
{script}"#;

const DATASET_HTML: &str = r#"{nav}
<main class="wide">
<p><a href="/datasets">All datasets</a></p>
<h1 id="dataset-title">Dataset</h1>
<div id="page-status" role="status" aria-live="polite"><p class="muted">Asking the server…</p></div>
<dl class="identity" id="summary"></dl>
<section aria-labelledby="versions-heading">
<h2 id="versions-heading">Versions</h2>
<div id="versions"></div>
<form id="version-form">
<fieldset>
<legend>New version</legend>
<label for="version-name">Version</label>
<input id="version-name" name="version" required maxlength="255" autocomplete="off">
<label for="version-prefix">Path prefix in the buckets (optional)</label>
<input id="version-prefix" name="prefix" maxlength="1024" autocomplete="off">
<label for="version-buckets">Buckets (optional, separated by commas)</label>
<input id="version-buckets" name="buckets" autocomplete="off">
<div class="check-line"><input type="checkbox" id="version-public" name="is-public"><label for="version-public">Public: anyone may read it</label></div>
<button type="submit">Add version</button>
</fieldset>
</form>
<div id="version-result" role="status" aria-live="polite"></div>
</section>
<section aria-labelledby="buckets-heading">
<h2 id="buckets-heading">Buckets</h2>
<div id="buckets"></div>
<form id="bucket-form">
<label for="bucket-name">Bucket</label>
<input id="bucket-name" name="bucket" required maxlength="255" autocomplete="off">
<button type="submit">Add bucket</button>
</form>
<div id="bucket-result" role="status" aria-live="polite"></div>
</section>
<section aria-labelledby="grants-heading">
<h2 id="grants-heading">Grants</h2>
<p class="hint">View reads the data, edit changes it, manage grants to others, admin does everything on this dataset.</p>
<div id="grants"></div>
<form id="grant-form">
<fieldset>
<legend>New grant</legend>
<label for="grantee-kind">To</label>
<select id="grantee-kind" name="grantee-kind">
<option value="user" selected>a user (e-mail)</option>
<option value="group">a group</option>
<option value="service-account">a service account</option>
</select>
<label for="grantee">E-mail or name</label>
<input id="grantee" name="grantee" required maxlength="255" autocomplete="off">
<label for="grant-level">Level</label>
<select id="grant-level" name="level">
<option value="1" selected>view</option>
<option value="2">edit</option>
<option value="3">manage</option>
<option value="4">admin</option>
</select>
<label for="grant-version">Only this version (optional)</label>
<input id="grant-version" name="version" maxlength="255" autocomplete="off">
<button type="submit">Grant</button>
</fieldset>
</form>
<div id="grant-result" role="status" aria-live="polite"></div>
</section>
<section aria-labelledby="admins-heading">
<h2 id="admins-heading">Dataset admins</h2>
<div id="admins"></div>
<form id="admin-form">
<label for="admin-email">E-mail</label>
<input id="admin-email" name="email" type="email" required maxlength="255" autocomplete="off">
<button type="submit">Make admin</button>
</form>
<div id="admin-result" role="status" aria-live="polite"></div>
</section>
<section aria-labelledby="terms-heading">
<h2 id="terms-heading">Terms of service</h2>
<div id="terms"></div>
<form id="tos-form">
<fieldset>
<legend>New terms</legend>
<label for="tos-name">Name</label>
<input id="tos-name" name="name" required maxlength="255" autocomplete="off">
<label for="tos-text">Text (Markdown)</label>
<textarea id="tos-text" name="text" required rows="5"></textarea>
<label for="tos-version">Only for this version (optional)</label>
<input id="tos-version" name="version" maxlength="255" autocomplete="off">
<button type="submit">Add terms</button>
</fieldset>
</form>
<div id="tos-result" role="status" aria-live="polite"></div>
</section>
</main>
<noscript><p>This page needs JavaScript to ask the server.</p></noscript>
{script}"#;

const GROUPS_HTML: &str = r#"{nav}
<main class="wide">
<h1>Groups</h1>
<p class="hint">Grant a dataset to a group on the dataset's page; its members then have that access. Global admins create, rename and delete groups; group admins manage members.</p>
<div id="page-status" role="status" aria-live="polite"><p class="muted">Asking the server…</p></div>
<div id="group-list"></div>
<div id="group-confirm" role="status" aria-live="polite"></div>
<form id="group-form">
<label for="group-name">New group</label>
<input id="group-name" name="name" required maxlength="150" autocomplete="off">
<button type="submit">Create group</button>
</form>
<div id="group-result" role="status" aria-live="polite"></div>
<section id="members" aria-labelledby="members-heading" hidden>
<h2 id="members-heading">Members</h2>
<div id="member-list"></div>
<form id="member-form">
<label for="member-email">E-mail of the person to add</label>
<input id="member-email" name="email" type="email" required maxlength="255" autocomplete="off">
<button type="submit">Add member</button>
</form>
<div id="member-result" role="status" aria-live="polite"></div>
</section>
</main>
<noscript><p>This page needs JavaScript to ask the server.</p></noscript>
{script}"#;

const SERVICE_ACCOUNTS_HTML: &str = r#"{nav}
<main class="wide">
<h1>Service accounts</h1>
<p class="hint">Pipelines and services call Steward as a service account with its own tokens; grant it access on a dataset's page. Global admins only.</p>
<div id="page-status" role="status" aria-live="polite"><p class="muted">Asking the server…</p></div>
<div id="sa-list"></div>
<form id="sa-form">
<fieldset>
<legend>New service account</legend>
<label for="sa-name">Name (letters, digits and hyphens)</label>
<input id="sa-name" name="name" required maxlength="100" autocomplete="off">
<label for="sa-description">Description (optional)</label>
<input id="sa-description" name="description" maxlength="1000" autocomplete="off">
<button type="submit">Create service account</button>
</fieldset>
</form>
<div id="sa-result" role="status" aria-live="polite"></div>
<section id="sa-tokens" aria-labelledby="sa-tokens-heading" hidden>
<h2 id="sa-tokens-heading">Tokens</h2>
<div id="sa-token-list"></div>
<form id="sa-token-form">
<label for="sa-token-description">What the token is for</label>
<input id="sa-token-description" name="description" required maxlength="1000" autocomplete="off">
<button type="submit">Create token</button>
</form>
<div id="sa-token-result" role="status" aria-live="polite"></div>
</section>
</main>
<noscript><p>This page needs JavaScript to ask the server.</p></noscript>
{script}"#;

const AUDIT_HTML: &str = r#"{nav}
<main class="wide">
<h1>Audit log</h1>
<p class="hint">Every change to datasets, grants, groups, tokens and terms, newest first. Global admins only.</p>
<form id="audit-form">
<fieldset>
<legend>Filters</legend>
<div class="date-pair">
<div><label for="audit-actor">Who (e-mail)</label><input id="audit-actor" name="actor" autocomplete="off"></div>
<div><label for="audit-action">Action</label><input id="audit-action" name="action" autocomplete="off"></div>
</div>
<div class="date-pair">
<div><label for="audit-target-type">Target type</label><input id="audit-target-type" name="target-type" autocomplete="off"></div>
<div><label for="audit-target-id">Target</label><input id="audit-target-id" name="target-id" autocomplete="off"></div>
</div>
<div class="date-pair">
<div><label for="audit-since">From</label><input id="audit-since" name="since" type="datetime-local"></div>
<div><label for="audit-until">Until</label><input id="audit-until" name="until" type="datetime-local"></div>
</div>
<button type="submit">Show entries</button>
</fieldset>
</form>
<div id="audit-result" role="status" aria-live="polite"></div>
<div id="audit-list"></div>
</main>
<noscript><p>This page needs JavaScript to ask the server.</p></noscript>
{script}"#;
