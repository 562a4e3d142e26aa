//! The researcher's donation console: `/donations` (create, charts, list) and
//! `/donations/{id}` (progress, preview, export, events, retry, delete). The
//! pages are static HTML for signed-in users; `clients/web/src/donations_page.ts`
//! fills them over gRPC-web, where DonationService decides what the caller
//! may see and do.

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use super::{CONTENT_SECURITY_POLICY, asset_url, console_nav, page, shell, signed_in_page};
use crate::app::AppState;

pub(super) fn routes() -> Router<AppState> {
    Router::new().route("/donations", get(list_page)).route("/donations/{donation_id}", get(donation_page))
}

fn script() -> String {
    format!(r#"<script type="module" src="{}"></script>"#, asset_url("donations_page.js"))
}

async fn list_page(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let main = LIST_HTML.replace("{nav}", &console_nav("/donations")).replace("{script}", &script());
    signed_in_page(&state, &headers, "/donations", CONTENT_SECURITY_POLICY, &shell("Donations", &main)).await
}

async fn donation_page(State(state): State<AppState>, headers: HeaderMap, Path(id): Path<String>) -> Response {
    if !is_donation_id(&id) {
        let main = NOT_FOUND_HTML.replace("{nav}", &console_nav("/donations"));
        return (StatusCode::NOT_FOUND, page(CONTENT_SECURITY_POLICY, &shell("Donation", &main))).into_response();
    }
    let main = DONATION_HTML.replace("{nav}", &console_nav("/donations")).replace("{script}", &script());
    let path = format!("/donations/{id}");
    signed_in_page(&state, &headers, &path, CONTENT_SECURITY_POLICY, &shell("Donation", &main)).await
}

/// Donation ids are positive 64-bit integers written plainly; anything else names no page.
fn is_donation_id(id: &str) -> bool {
    !id.is_empty() && !id.starts_with('0') && id.bytes().all(|b| b.is_ascii_digit()) && id.parse::<i64>().is_ok()
}

const LIST_HTML: &str = r#"{nav}
<main class="wide">
<h1>Donations</h1>
<div id="page-status" role="status" aria-live="polite"><p class="muted">Asking the server…</p></div>
<section aria-labelledby="create-heading">
<h2 id="create-heading">New donation</h2>
<p class="hint">Each donation is one participant's: create one per participant and send them its link.</p>
<form id="create-form">
<label for="source">Source</label>
<select id="source" name="source" required></select>
<fieldset>
<legend>Data types</legend>
<div id="types"></div>
<p class="hint">Tick none to ask for every type of the source.</p>
</fieldset>
<div class="date-pair">
<div><label for="start-date">First day (optional)</label>
<input type="date" id="start-date" name="start-date"></div>
<div><label for="end-date">Last day (optional)</label>
<input type="date" id="end-date" name="end-date"></div>
</div>
<label for="dataset">Dataset (optional)</label>
<input id="dataset" name="dataset" maxlength="255" autocomplete="off">
<label for="description">Message to the participant (optional)</label>
<textarea id="description" name="description" maxlength="2000" rows="3"></textarea>
<button type="submit">Create donation</button>
</form>
<div id="create-result" role="status" aria-live="polite"></div>
</section>
<section aria-labelledby="overview-heading">
<h2 id="overview-heading">Overview</h2>
<div id="charts"></div>
</section>
<section aria-labelledby="list-heading">
<h2 id="list-heading">Your donations</h2>
<div id="donation-list"></div>
</section>
</main>
<noscript><p>This page needs JavaScript to ask the server.</p></noscript>
{script}"#;

const DONATION_HTML: &str = r#"{nav}
<main class="wide">
<p><a href="/donations">All donations</a></p>
<h1 id="donation-title">Donation</h1>
<div id="page-status" role="status" aria-live="polite"><p class="muted">Asking the server…</p></div>
<section class="needs-donation" aria-labelledby="status-heading">
<h2 id="status-heading">Status</h2>
<dl class="identity" id="summary"></dl>
<div id="retry"></div>
</section>
<section class="needs-donation" aria-labelledby="types-heading">
<h2 id="types-heading">Data types</h2>
<div id="types-progress"></div>
<div id="rows-chart"></div>
</section>
<section class="needs-donation" aria-labelledby="preview-heading">
<h2 id="preview-heading">Preview</h2>
<form id="preview-form">
<label for="preview-type">Data type</label>
<select id="preview-type" name="preview-type"></select>
<button type="submit" id="preview-button" disabled>Show the first rows</button>
</form>
<p class="hint" id="preview-hint"></p>
<div id="preview"></div>
</section>
<section class="needs-donation" aria-labelledby="export-heading">
<h2 id="export-heading">Export</h2>
<p class="hint">Every available row as JSON Lines, one object a line. For large donations, the Python and R clients stream to a file instead.</p>
<button type="button" id="export" disabled>Export as JSON Lines</button>
<div id="export-result" role="status" aria-live="polite"></div>
</section>
<section class="needs-donation" aria-labelledby="events-heading">
<h2 id="events-heading">Events</h2>
<div id="events"></div>
</section>
<section class="needs-donation" aria-labelledby="delete-heading">
<h2 id="delete-heading">Delete</h2>
<p class="hint">Deletes the donation's rows and archives and releases the provider's access.</p>
<button type="button" id="delete" class="danger">Delete donation</button>
<div id="delete-confirm" role="status" aria-live="polite"></div>
</section>
</main>
<noscript><p>This page needs JavaScript to ask the server.</p></noscript>
{script}"#;

const NOT_FOUND_HTML: &str = r#"{nav}
<main>
<h1>No such donation</h1>
<p>This address names no donation. <a href="/donations">See all donations</a>.</p>
</main>"#;

#[cfg(test)]
mod tests {
    use super::is_donation_id;

    #[test]
    fn only_a_plain_positive_integer_names_a_donation_page() {
        for id in ["1", "42", "9223372036854775807"] {
            assert!(is_donation_id(id), "{id}");
        }
        for id in ["", "0", "007", "+5", "-1", "1.0", "9223372036854775808", "abc", "1 "] {
            assert!(!is_donation_id(id), "{id:?}");
        }
    }
}
