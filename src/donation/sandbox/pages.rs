//! The sandbox's HTML (spec §6.3, §6.7): the provider-like consent screen
//! with its "Advanced (test scenario)" fields, the error page for refused
//! authorization requests, and the `/sandbox/` page describing personas and
//! failure modes. Same rules as the participant pages (§3.8): semantic,
//! labelled, usable with a keyboard, on a phone and without JavaScript; every
//! page carries the sandbox banner.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use super::http::form_pairs;
use super::scenario::{AccessType, Persona, Scenario};

const STYLE: &str = "body{font-family:system-ui,sans-serif;max-width:34rem;margin:0 auto;padding:0 1rem 2rem;\
line-height:1.5;color:#1f1f1f}.banner{background:#7a1f00;color:#fff;padding:.5rem 1rem;margin:0 -1rem 1rem;\
font-weight:600}fieldset{border:1px solid #c4c4c4;border-radius:.5rem;margin:1rem 0;padding:.5rem 1rem}\
label{display:block;padding:.4rem 0;min-height:44px}input[type=text],select{font:inherit;padding:.5rem;\
width:100%;box-sizing:border-box;min-height:44px;border:1px solid #747474}button{font:inherit;min-height:44px;\
min-width:44px;padding:.5rem 1.5rem;margin:.5rem .5rem .5rem 0;border-radius:.3rem;border:2px solid #0b57d0}\
.primary{background:#0b57d0;color:#fff}.secondary{background:#fff;color:#0b57d0}:focus-visible{outline:3px solid \
#e37400;outline-offset:2px}.error{border-left:4px solid #b3261e;padding:.5rem 1rem;background:#fce8e6}\
.hint{color:#474747;font-size:.95rem}table{border-collapse:collapse;width:100%}th,td{text-align:left;\
padding:.3rem;border-bottom:1px solid #ddd;vertical-align:top}code{background:#f1f1f1;padding:0 .2rem}";

/// The full page around `main`.
fn layout(title: &str, provider: &str, main: &str) -> String {
    format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{title} – sandbox</title><style>{STYLE}</style></head><body>\
         <p class=\"banner\" role=\"note\">SANDBOX — not a real {provider} account</p>\
         <main>{main}</main></body></html>",
        title = esc(title),
        provider = esc(provider),
    )
}

/// One scope checkbox of the consent screen.
#[derive(Debug)]
pub struct ScopeChoice<'a> {
    /// The value the form sends as `grant` (a Google resource group).
    pub value: &'a str,
    pub label: &'a str,
    pub description: &'a str,
    pub checked: bool,
}

/// The consent screen of one provider.
#[derive(Debug)]
pub struct ConsentPage<'a> {
    pub provider: &'static str,
    pub app_name: &'a str,
    /// Where the decision form posts.
    pub action: &'a str,
    /// The authorization request's parameters, carried through the form.
    pub hidden: &'a [(&'a str, &'a str)],
    pub scopes: &'a [ScopeChoice<'a>],
    /// Google's access choice, preselected.
    pub access_type: Option<AccessType>,
    /// The scenario the advanced fields start from.
    pub scenario: &'a Scenario,
    /// Which scenario fields the advanced section offers.
    pub fields: &'a [&'a str],
    /// A scenario the person typed and the sandbox refused.
    pub error: Option<&'a str>,
}

/// The consent screen: account, scopes, access choice, Allow / Cancel, and
/// the scenario fields, prefilled so an unchanged submit keeps the defaults.
pub fn consent(page: &ConsentPage<'_>) -> String {
    let mut main = String::new();
    let _ = write!(
        main,
        "<h1>{app} wants access to your {provider} Account</h1>\
         <p>Signed in as <strong>Alex Example</strong> (alex@example.test)</p>",
        app = esc(page.app_name),
        provider = esc(page.provider),
    );
    if let Some(error) = page.error {
        let _ = write!(
            main,
            "<div class=\"error\" role=\"alert\"><h2>The test scenario was refused</h2><p>{}</p></div>",
            esc(error)
        );
    }
    let _ = write!(main, "<form method=\"post\" action=\"{}\">", esc(page.action));
    for (name, value) in page.hidden {
        let _ = write!(main, "<input type=\"hidden\" name=\"{}\" value=\"{}\">", esc(name), esc(value));
    }
    main.push_str(
        "<fieldset><legend>Select what the app can access</legend>\
         <input type=\"hidden\" name=\"grant\" value=\"none\">",
    );
    for scope in page.scopes {
        let _ = write!(
            main,
            "<label><input type=\"checkbox\" name=\"grant\" value=\"{value}\"{checked}> <strong>{label}</strong>\
             <br><span class=\"hint\">{description}</span></label>",
            value = esc(scope.value),
            checked = if scope.checked { " checked" } else { "" },
            label = esc(scope.label),
            description = esc(scope.description),
        );
    }
    main.push_str("</fieldset>");
    if let Some(selected) = page.access_type {
        main.push_str("<fieldset><legend>How long can the app access this data?</legend>");
        for (access, label) in [
            (AccessType::OneTime, "One time"),
            (AccessType::TimeBased30, "30 days"),
            (AccessType::TimeBased180, "180 days"),
        ] {
            let _ = write!(
                main,
                "<label><input type=\"radio\" name=\"access_type\" value=\"{}\"{}> {label}</label>",
                access.as_str(),
                if access == selected { " checked" } else { "" },
            );
        }
        main.push_str("</fieldset>");
    }
    main.push_str(
        "<button class=\"primary\" type=\"submit\" name=\"decision\" value=\"allow\">Allow</button>\
         <button class=\"secondary\" type=\"submit\" name=\"decision\" value=\"cancel\">Cancel</button>",
    );
    let open = if page.error.is_some() { " open" } else { "" };
    let _ = write!(
        main,
        "<details{open}><summary>Advanced (test scenario)</summary>\
         <p class=\"hint\">What the fake account holds and which failures to stage. Every field has a default; \
         see <a href=\"/sandbox/\">the sandbox page</a> for the values.</p>"
    );
    let values = field_values(page.scenario);
    for field in page.fields {
        main.push_str(&scenario_field(field, values.get(*field).map_or("", String::as_str)));
    }
    main.push_str("</details></form>");
    layout(&format!("Sign in – {}", page.provider), page.provider, &main)
}

/// The scenario's fields as the form shows them: the values that differ
/// from the built-in defaults (repeatable fields joined with commas).
fn field_values(scenario: &Scenario) -> BTreeMap<String, String> {
    let mut values: BTreeMap<String, String> = BTreeMap::new();
    for (key, value) in form_pairs(&scenario.to_query()) {
        values.entry(key).and_modify(|v| *v = format!("{v},{value}")).or_insert(value);
    }
    values
}

/// One labelled input of the advanced section.
fn scenario_field(field: &str, value: &str) -> String {
    let select = |options: &[(&str, &str)], current: &str| {
        let mut html = String::new();
        for (option, label) in options {
            let selected = if *option == current { " selected" } else { "" };
            let _ = write!(html, "<option value=\"{option}\"{selected}>{label}</option>");
        }
        html
    };
    let (label, hint) = match field {
        "persona" => {
            let personas: Vec<(&str, &str)> = Persona::ALL.iter().map(|p| (p.as_str(), p.as_str())).collect();
            let current = if value.is_empty() { Persona::Small.as_str() } else { value };
            return format!(
                "<label for=\"f-persona\">Persona (how much data)</label><select id=\"f-persona\" name=\"persona\">{}</select>",
                select(&personas, current)
            );
        }
        "tiktok_layout" => {
            let current = if value.is_empty() { "2025" } else { value };
            return format!(
                "<label for=\"f-tiktok_layout\">TikTok archive layout</label>\
                 <select id=\"f-tiktok_layout\" name=\"tiktok_layout\">{}</select>",
                select(&[("2025", "2025"), ("legacy", "legacy")], current)
            );
        }
        "tiktok_token_shape" => {
            let current = if value.is_empty() { "flat" } else { value };
            return format!(
                "<label for=\"f-tiktok_token_shape\">TikTok token answer</label>\
                 <select id=\"f-tiktok_token_shape\" name=\"tiktok_token_shape\">{}</select>",
                select(&[("flat", "flat"), ("nested", "nested")], current)
            );
        }
        "records" => ("Records per type", "e.g. youtube_history:5000,search:200"),
        "target_bytes" => ("Target size (huge persona)", "default 2GiB"),
        "seed" => ("Seed", "default 1"),
        "span" => ("Activity span", "YYYY-MM-DD..YYYY-MM-DD or YYYY-MM-DD..now; default three years back to now"),
        "tz" => ("Time zone", "default Europe/Helsinki, or an offset such as +02:00"),
        "failure" => ("Failures", "comma-separated, e.g. slow_archive:polls=3,rate_limited:n=2"),
        "latency_ms" => ("Added latency (ms)", "default 0"),
        other => (other, ""),
    };
    format!(
        "<label for=\"f-{field}\">{label}</label>\
         <input type=\"text\" id=\"f-{field}\" name=\"{field}\" value=\"{value}\" aria-describedby=\"h-{field}\" \
         autocomplete=\"off\"><p class=\"hint\" id=\"h-{field}\">{hint}</p>",
        field = esc(field),
        label = esc(label),
        value = esc(value),
        hint = esc(hint),
    )
}

/// A refused authorization request, like the provider's own error screen:
/// nothing is sent back to the app.
pub fn error_page(provider: &str, error: &str, message: &str) -> String {
    let main = format!(
        "<h1>Access blocked: this app's request is invalid</h1>\
         <p>{message}</p><p>Error: <code>{error}</code></p>\
         <p class=\"hint\">The app that sent you here made a mistake. You can close this page.</p>",
        message = esc(message),
        error = esc(error),
    );
    layout(&format!("Error – {provider}"), provider, &main)
}

/// What each failure mode does (spec §6.6), for the `/sandbox/` page.
const FAILURES: &[(&str, &str)] = &[
    (
        "slow_archive[:polls=N]",
        "IN_PROGRESS for N state polls (default 3), then COMPLETE; TikTok: pending for N checks (without it, one)",
    ),
    ("never_ready", "always IN_PROGRESS (TikTok: pending)"),
    ("job_failed[:again=K]", "FAILED; each :retry job fails K more times (default 0)"),
    ("job_cancelled", "CANCELLED"),
    (
        "one_time_exhausted",
        "the first initiate of a group creates the job but its answer is lost; a repeat answers 429 RESOURCE_EXHAUSTED",
    ),
    ("expired_token", "access tokens expire 1 s after issue"),
    ("refresh_revoked", "refreshing answers invalid_grant once an export was started"),
    ("revoked_consent[:after=N]", "from the N-th API call on (default 2), every call 401 and refresh invalid_grant"),
    ("deny", "the decision behaves as Cancel"),
    ("rate_limited[:n=K]", "the first K API calls answer 429 with Retry-After: 1"),
    ("server_error[:n=K]", "the next K API calls answer 503 (TikTok: internal_error)"),
    ("url_expired[:n=K]", "the first K downloads answer 403 (signature expired)"),
    ("truncated_download", "the first served download closes the connection halfway"),
    ("multi_part:N", "N zips per Google export"),
    ("split_member", "one member's records split across two parts"),
    ("missing_type:<type>", "that type's member left out"),
    ("html_only:<type>", "MyActivity.html instead of JSON"),
    ("malformed_zip", "truncated central directory"),
    ("malformed_json:<type>", "invalid JSON in that member"),
    ("bad_records", "non-object elements, a 2 MiB record, garbled time values"),
    ("zip_bomb", "a member inflating past the entry limit"),
    ("too_many_entries", "200,000 tiny entries"),
    ("path_traversal", "entries with unsafe names"),
    ("nested_archive", "members only inside an inner .zip"),
    ("duplicate_member", "the same normalized path twice"),
    ("ignore_time_filter", "My Activity records outside the requested window included"),
    ("tiktok_expired", "TikTok Check answers expired"),
    ("tiktok_cancelled", "TikTok Check answers cancelled"),
    ("tiktok_region", "TikTok Add fails as outside the EEA/UK"),
    ("tiktok_redirect[:n=K]", "the first K TikTok downloads answer 307 to the API host"),
    ("tiktok_offsite_redirect", "every TikTok download answers 307 to another host"),
    ("latency:<ms>", "added to every API answer"),
];

/// `GET /sandbox/`: what the sandbox is and how to steer it.
pub fn index(default_scenario: &Scenario, google: bool, tiktok: bool) -> String {
    let mut main = String::from(
        "<h1>Sandbox portability providers</h1>\
         <p>This server runs fake portability providers that speak the real wire formats and generate \
         realistic archives, so the whole donation flow works without a real account. Nothing here touches \
         real people's data.</p>",
    );
    let active: Vec<&str> =
        [(google, "Google"), (tiktok, "TikTok")].iter().filter(|(on, _)| *on).map(|(_, n)| *n).collect();
    let _ = write!(main, "<p>Active: {}.</p>", esc(&active.join(", ")));
    let defaults = default_scenario.to_query();
    let _ = write!(
        main,
        "<h2>Choosing a scenario</h2><p>The consent screen has an <em>Advanced (test scenario)</em> section; its \
         fields use the same syntax as <code>STEWARD_SANDBOX_DEFAULT_SCENARIO</code>, e.g. \
         <code>persona=medium&amp;failure=slow_archive:polls=3</code>. Current defaults: <code>{}</code>.</p>",
        if defaults.is_empty() { "(built-in)".to_owned() } else { esc(&defaults) }
    );
    main.push_str("<h2>Personas</h2><table><caption>Records per data type</caption><thead><tr><th scope=\"col\">Persona</th><th scope=\"col\">Records</th></tr></thead><tbody>");
    for persona in Persona::ALL {
        let records =
            persona.records_per_type().map_or("until target_bytes (default 2 GiB)".to_owned(), |n| n.to_string());
        let _ = write!(main, "<tr><td><code>{}</code></td><td>{}</td></tr>", persona.as_str(), esc(&records));
    }
    main.push_str("</tbody></table><h2>Failure modes</h2><table><caption>Values of the repeatable <code>failure</code> field</caption><thead><tr><th scope=\"col\">failure</th><th scope=\"col\">What the sandbox does</th></tr></thead><tbody>");
    for (name, what) in FAILURES {
        let _ = write!(main, "<tr><td><code>{}</code></td><td>{}</td></tr>", esc(name), esc(what));
    }
    main.push_str(
        "</tbody></table><h2>For tests</h2><ul><li><a href=\"/sandbox/_calls\">/sandbox/_calls?since=N</a>: every \
         call the sandbox received, secrets redacted</li><li><code>POST /sandbox/_reset</code>: forget everything \
         the sandbox issued</li></ul>",
    );
    let provider = match (google, tiktok) {
        (true, true) => "Google/TikTok",
        (false, true) => "TikTok",
        _ => "Google",
    };
    layout("Sandbox providers", provider, &main)
}

/// HTML-escapes text and attribute values.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::donation::sandbox::Failure;

    #[test]
    fn the_consent_form_carries_the_request_and_prefills_the_scenario() {
        let scenario = Scenario::default()
            .persona(Persona::Medium)
            .failure(Failure::SlowArchive { polls: 2 })
            .failure(Failure::Deny);
        let scopes = [
            ScopeChoice { value: "myactivity.youtube", label: "YouTube", description: "Videos", checked: true },
            ScopeChoice { value: "myactivity.search", label: "Search", description: "Searches", checked: false },
        ];
        let html = consent(&ConsentPage {
            provider: "Google",
            app_name: "Steward <test>",
            action: "/sandbox/google/o/oauth2/v2/auth/decision",
            hidden: &[("state", "a\"b")],
            scopes: &scopes,
            access_type: Some(AccessType::TimeBased30),
            scenario: &scenario,
            fields: &["persona", "failure", "seed"],
            error: None,
        });
        assert!(html.contains("SANDBOX — not a real Google account"));
        assert!(html.contains("Steward &lt;test&gt; wants access"));
        assert!(html.contains(r#"<input type="hidden" name="state" value="a&quot;b">"#));
        assert!(html.contains(r#"name="grant" value="myactivity.youtube" checked>"#));
        assert!(html.contains(r#"name="grant" value="myactivity.search">"#));
        assert!(html.contains(r#"value="time_based_30" checked>"#));
        assert!(html.contains(r#"<option value="medium" selected>"#));
        assert!(html.contains(r#"name="failure" value="slow_archive:polls=2,deny""#), "{html}");
        assert!(html.contains(r#"name="seed" value="""#));
        // Every input has a label.
        assert_eq!(html.matches("<input type=\"text\"").count(), html.matches("<label for=\"f-").count() - 1);
    }

    #[test]
    fn the_index_lists_every_failure_mode() {
        let html = index(&Scenario::default(), true, false);
        for name in crate::donation::sandbox::scenario::FAILURE_NAMES {
            assert!(html.contains(&format!("<code>{name}")), "{name}");
        }
        assert!(html.contains("SANDBOX — not a real Google account"));
    }
}
