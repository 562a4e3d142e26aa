//! The participant pages (spec donation.md §3, §8 "Participant flow and
//! pages") against the real server and the sandbox Google provider: a
//! browser-like HTTP client that keeps the visit cookie opens the donation
//! link, accepts the terms, follows `/donate/authorize/` to the sandbox's
//! consent screen, submits its form as a browser would, follows the redirect
//! to the callback, and watches the server's own workers finish the donation.

use std::time::Duration;

use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use reqwest::header::{CONTENT_TYPE, SET_COOKIE};
use steward::auth::Role;
use steward::crypto::Keyring;
use steward::db::schema::{donation_events, donations, oauth_attempts, provider_grants, visits};

use crate::common::donation;
use crate::common::participant::{Browser, Page, hidden, shown_link};
use crate::common::{TestApp, TestDb};

/// Steward in sandbox mode with its own workers, tiny sandbox archives and a
/// one-second poll schedule.
struct Env {
    app: TestApp,
    researcher: String,
}

impl Env {
    async fn start() -> Env {
        Self::start_with(TestDb::new().await, &Keyring::generate().to_spec(), &[]).await
    }

    async fn start_with(db: TestDb, keyring: &str, extra: &[(&str, &str)]) -> Env {
        let mut vars = vec![("STEWARD_SANDBOX_DEFAULT_SCENARIO", "persona=tiny")];
        vars.extend_from_slice(extra);
        let (app, _config) = donation::start_sandbox(db, keyring, "1", &vars).await;
        let researcher = app.db.token("res@example.org", Some(Role::Researcher)).await;
        Env { app, researcher }
    }

    async fn participant_of(&self, id: i32) -> Option<i64> {
        donations::table.find(id).select(donations::participant_id).first(&mut self.app.db.conn().await).await.unwrap()
    }

    /// A new donation of `types` for 2023; its id and raw token.
    async fn donation(&self, types: &[&str]) -> (i32, String) {
        let body = serde_json::json!({
            "source_type": "google_portability",
            "data_start_date": "2020-01-01",
            "data_end_date": "2030-12-31",
            "requested_data_types": types,
            "description": "How people use YouTube.\nSecond line.",
        });
        let (id, link, _) = donation::legacy_create(self.app.channel().await, &self.researcher, &body).await;
        (id, link)
    }

    fn browser(&self) -> Browser {
        Browser::new(self.app.url())
    }

    async fn stage(&self, id: i32) -> (String, String) {
        donations::table
            .find(id)
            .select((donations::status, donations::stage))
            .first(&mut self.app.db.conn().await)
            .await
            .unwrap()
    }

    async fn events(&self, id: i32) -> Vec<String> {
        donation_events::table
            .filter(donation_events::donation_id.eq(id))
            .order(donation_events::id)
            .select(donation_events::kind)
            .load(&mut self.app.db.conn().await)
            .await
            .unwrap()
    }
}

fn sha256_hex(text: &str) -> String {
    ring::digest::digest(&ring::digest::SHA256, text.as_bytes()).as_ref().iter().map(|b| format!("{b:02x}")).collect()
}

/// The headers every participant page carries (spec §3.1).
fn assert_participant_headers(page: &Page, sandbox_origin: &str) {
    let header = |name: &str| page.headers.get(name).map(|v| v.to_str().unwrap()).unwrap_or("");
    assert_eq!(header("referrer-policy"), "no-referrer");
    assert_eq!(header("cache-control"), "no-store");
    assert_eq!(header("x-content-type-options"), "nosniff");
    let csp = header("content-security-policy");
    assert!(csp.starts_with("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:"), "{csp}");
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
    assert!(
        csp.contains(&format!(
            "form-action 'self' https://accounts.google.com https://www.tiktok.com {sandbox_origin}"
        )),
        "{csp}"
    );
}

/// Spec §8 51–54: the link opens a visit with the spec's cookie, records
/// `link_opened` once and leaves the address bar; the status page lists the
/// requested types in plain words with the window and offers the terms;
/// invalid links and pages without a visit are friendly 404s; no page holds
/// the token or its hash.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_donation_link_opens_a_visit_and_the_status_page_says_what_will_be_shared() {
    let env = Env::start().await;
    let (id, token) = env.donation(&["youtube_history", "search"]).await;
    let mut browser = env.browser();

    let opened = browser.get(&format!("/donate/{token}/")).await;
    assert_eq!((opened.status, opened.location()), (302, "/donate/"));
    let cookie = opened.headers[SET_COOKIE].to_str().unwrap();
    // Plain-HTTP loopback outside production: no Secure.
    assert!(cookie.ends_with("; HttpOnly; SameSite=Lax; Path=/"), "{cookie}");
    assert_participant_headers(&opened, &env.app.url());
    assert_eq!(env.stage(id).await, ("pending".into(), "link_opened".into()));
    // Opening it again (same or another browser) records nothing new.
    assert_eq!(browser.get(&format!("/donate/{token}/")).await.status, 302);
    assert_eq!(env.browser().get(&format!("/donate/{token}/")).await.status, 302);
    assert_eq!(env.events(id).await, ["created", "link_opened"]);
    // Only the cookie's hash is stored.
    let hashes: Vec<Vec<u8>> =
        visits::table.select(visits::cookie_hash).load(&mut env.app.db.conn().await).await.unwrap();
    assert_eq!(hashes.len(), 2);
    let cookie_hash = ring::digest::digest(&ring::digest::SHA256, browser.cookie.as_ref().unwrap().as_bytes());
    assert!(hashes.iter().any(|h| h[..] == *cookie_hash.as_ref()));

    let page = browser.get("/donate/").await;
    assert_eq!(page.status, 200);
    assert_participant_headers(&page, &env.app.url());
    for text in [
        "<html lang=\"en\">",
        "Donate your Google data for research",
        "About this study",
        "How people use YouTube.",
        "YouTube history",
        "Google Search history",
        "from 1 January 2020 to 31 December 2030",
        "Everything else in your Google export is discarded",
        "href=\"/donate/terms/\">Review the terms</a>",
        "aria-current=\"step\">Read and accept the terms",
        "Delete my data",
        "Have a participant link from an earlier donation?",
    ] {
        assert!(page.body.contains(text), "{text} missing from:\n{}", page.body);
    }
    let hash = sha256_hex(&token);
    for page in [&opened, &page] {
        assert!(!page.body.contains(&token) && !page.body.contains(&hash));
    }

    // Invalid link, no visit: friendly 404 pages in the participant layout.
    let invalid = env.browser().get("/donate/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA/").await;
    assert_eq!(invalid.status, 404);
    assert!(invalid.body.contains("It may have been mistyped or the donation was deleted."), "{}", invalid.body);
    assert_participant_headers(&invalid, &env.app.url());
    let no_visit = env.browser().get("/donate/").await;
    assert_eq!(no_visit.status, 404);
    assert!(no_visit.body.contains("Open the link you received again"));
    let mut forged = env.browser();
    forged.cookie = Some("not-a-visit".into());
    assert_eq!(forged.get("/donate/").await.status, 404);

    // Authorize before consent goes to the terms.
    let early = browser.get("/donate/authorize/").await;
    assert_eq!((early.status, early.location()), (302, "/donate/terms/"));
    assert_eq!(oauth_attempts::table.count().get_result::<i64>(&mut env.app.db.conn().await).await.unwrap(), 0);

    // The legal pages and the stylesheet.
    for path in ["/terms/", "/privacy/"] {
        let legal = env.browser().get(path).await;
        assert_eq!(legal.status, 200, "{path}");
        assert!(legal.body.contains("Google Lens searches"), "the catalogue is listed on {path}");
        assert!(!legal.body.contains("STEWARD-EXAMPLE-TEMPLATE"), "the marker is a comment");
    }
    let css = env.browser().get("/donate/style.css").await;
    assert_eq!(css.status, 200);
    assert!(css.body.contains("@media (max-width: 39.99rem)"), "the data table becomes cards below 640 px");
}

/// Spec §8 55–57, 60–63, 73, 75: consent with CSRF, the versioned terms, the
/// authorize redirect with PKCE and only the needed scopes, the sandbox
/// consent, the callback, the participant link shown once, the server's own
/// workers finishing the donation, and the data page.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_participant_signs_in_at_the_sandbox_and_the_workers_finish_the_donation() {
    let env = Env::start().await;
    let (id, token) = env.donation(&["youtube_history"]).await;
    let mut browser = env.browser();
    assert_eq!(browser.get(&format!("/donate/{token}/")).await.status, 302);

    // The consent page; POSTs without this visit's CSRF token are refused.
    let terms = browser.get("/donate/terms/").await;
    assert_eq!(terms.status, 200);
    assert_participant_headers(&terms, &env.app.url());
    for text in ["Before you donate", "I agree — continue", "No thanks", "stored encrypted", "YouTube history"] {
        assert!(terms.body.contains(text), "{text}");
    }
    let version = hidden(&terms.body, "terms_version").unwrap();
    assert_eq!(browser.post("/donate/terms/", &[("terms_version", &version)]).await.status, 400);
    let mut other = env.browser();
    other.get(&format!("/donate/{token}/")).await;
    let foreign = other.post("/donate/terms/", &[("csrf", &Browser::csrf(&terms)), ("terms_version", &version)]).await;
    assert_eq!(foreign.status, 400, "another visit's CSRF token");
    assert_eq!(env.stage(id).await.1, "link_opened");
    let page = browser.consent(&token).await;
    assert_eq!(env.stage(id).await, ("pending".into(), "terms_accepted".into()));
    let (accepted_at, stored_version): (Option<chrono::DateTime<chrono::Utc>>, Option<Vec<u8>>) = donations::table
        .find(id)
        .select((donations::terms_accepted_at, donations::terms_version))
        .first(&mut env.app.db.conn().await)
        .await
        .unwrap();
    assert!(accepted_at.is_some());
    assert_eq!(steward::auth::token::hex(&stored_version.unwrap()), version);
    assert!(page.body.contains("Continue to Google"), "{}", page.body);

    // Authorize: a 302 to the (sandbox) Google endpoint with §4.2.1's parameters.
    let url = browser.authorize(&page).await;
    assert!(url.as_str().starts_with(&format!("{}/sandbox/google/o/oauth2/v2/auth?", env.app.url())), "{url}");
    let params: std::collections::HashMap<String, String> = url.query_pairs().into_owned().collect();
    assert_eq!(params["redirect_uri"], format!("{}/oauth/google/callback/", env.app.url()));
    assert!(url.as_str().contains("redirect_uri=http%3A%2F%2F127.0.0.1"), "url-encoded redirect_uri: {url}");
    assert_eq!(params["scope"], "https://www.googleapis.com/auth/dataportability.myactivity.youtube");
    assert_eq!((params["access_type"].as_str(), params["prompt"].as_str()), ("offline", "consent"));
    assert_eq!(params["code_challenge_method"], "S256");
    assert_eq!(params["code_challenge"].len(), 43);
    assert_eq!(params["state"].len(), 43);
    // Only the state's hash is stored, and the verifier is sealed.
    let (state_hash, sealed): (Vec<u8>, Vec<u8>) = oauth_attempts::table
        .select((oauth_attempts::state_hash, oauth_attempts::code_verifier_sealed))
        .first(&mut env.app.db.conn().await)
        .await
        .unwrap();
    assert_eq!(steward::auth::token::hex(&state_hash), sha256_hex(&params["state"]));
    assert!(sealed.len() > 43);

    // Allow at the sandbox; the browser follows the redirect to the callback.
    let callback = browser.at_google(&url, "allow", &[]).await;
    assert!(callback.starts_with(&format!("{}/oauth/google/callback/?", env.app.url())), "{callback}");
    // A callback from another visit is refused and does not use the attempt up.
    assert_eq!(other.get(&callback).await.status, 404);
    let done = browser.get(&callback).await;
    assert_eq!((done.status, done.location()), (302, "/donate/"), "{}", done.body);
    assert_participant_headers(&done, &env.app.url());
    let (status, _) = env.stage(id).await;
    assert!(["authorized", "processing", "processed"].contains(&status.as_str()), "{status}");
    assert!(env.events(id).await.contains(&"authorized".to_owned()));
    let grants = donation::grants(&env.app.db, id).await;
    assert_eq!(grants, 1);
    // Replayed, unknown and state-less callbacks are 404 pages.
    for replay in [callback.clone(), format!("{}/oauth/google/callback/?state=nope&code=x", env.app.url())] {
        let refused = browser.get(&replay).await;
        assert_eq!(refused.status, 404, "{replay}");
        assert!(refused.body.contains("expired or was already used"));
    }
    assert_eq!(browser.get("/oauth/google/callback/?code=x").await.status, 404);

    // The participant link is shown once, until the participant saved it.
    let page = browser.get("/donate/").await;
    assert!(page.body.contains("Keep this link private."), "{}", page.body);
    let marker = "id=\"participant-link\" type=\"text\" readonly value=\"";
    let participant_link = page.body.split(marker).nth(1).expect("the link box").split('"').next().unwrap();
    let participant_link = participant_link.replace("&#x2f;", "/");
    assert!(participant_link.starts_with(&format!("{}/participant/", env.app.url())), "{participant_link}");
    let saved = browser.post("/donate/participant-link-saved/", &[("csrf", &Browser::csrf(&page))]).await;
    assert_eq!((saved.status, saved.location()), (303, "/donate/"));

    // The server's workers export, download and parse; the page follows.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(90);
    while env.stage(id).await.0 != "processed" {
        assert!(
            tokio::time::Instant::now() < deadline,
            "never processed: {:?} {:?}",
            env.stage(id).await,
            env.events(id).await
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let page = browser.get("/donate/").await;
    assert!(!page.body.contains("Keep this link private."), "the link is not shown again");
    assert!(page.body.contains("Create a new participant link"));
    assert!(page.body.contains("href=\"/donate/data/\">See my data</a>"), "{}", page.body);
    assert!(page.body.contains("id=\"progress\" aria-live=\"polite\""), "{}", page.body);
    assert!(page.body.contains("data-type=\"youtube_history\""));
    let rows: i64 = steward::db::schema::donation_types::table
        .filter(steward::db::schema::donation_types::donation_id.eq(id))
        .select(steward::db::schema::donation_types::rows)
        .first(&mut env.app.db.conn().await)
        .await
        .unwrap();
    assert!(rows > 0);
    assert!(
        page.body.contains(&format!("YouTube history</span> — <span class=\"state\">ready ({rows} items kept)")),
        "{}",
        page.body
    );

    // See my data: the rows, at most 50 a page, with a date filter.
    let data = browser.get("/donate/data/").await;
    assert_eq!(data.status, 200);
    assert!(data.body.contains(&format!("YouTube history ({rows} items)")), "{}", data.body);
    assert!(data.body.contains("<caption>YouTube history"));
    assert_eq!(data.body.matches("<tr>").count() as i64, rows.min(50) + 1, "header row plus one per row");
    let none = browser.get("/donate/data/?type=youtube_history&from=2099-01-01").await;
    assert!(none.body.contains("0 items"), "{}", none.body);
    let bad = browser.get("/donate/data/?from=yesterday").await;
    assert!(bad.body.contains("Use dates like 2024-01-31"));

    // The participant link opens the donation in a new browser.
    let mut phone = env.browser();
    let path = participant_link.trim_start_matches(&env.app.url()).to_owned();
    let entered = phone.get(&path).await;
    assert_eq!((entered.status, entered.location()), (302, "/participant/"));
    let home = phone.get("/participant/").await;
    assert_eq!(home.status, 200);
    assert!(home.body.contains(&format!("href=\"/participant/select/{id}/\"")), "{}", home.body);
    let selected = phone.get(&format!("/participant/select/{id}/?next=data")).await;
    assert_eq!((selected.status, selected.location()), (302, "/donate/data/"));
    assert_eq!(phone.get("/donate/data/").await.status, 200);
    for page in [&home, &data] {
        assert!(!page.body.contains(&token) && !page.body.contains(&sha256_hex(&token)));
    }
}

/// Spec §8 61, 65: a refusal at the provider stores nothing and says so; a
/// callback without any visit completes into a new visit for that donation
/// only, which shows no participant link.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn declined_consent_stores_nothing_and_a_cookieless_callback_opens_its_own_visit() {
    let env = Env::start().await;
    let (id, token) = env.donation(&["search"]).await;
    let mut browser = env.browser();
    let page = browser.consent(&token).await;

    let url = browser.authorize(&page).await;
    let callback = browser.at_google(&url, "cancel", &[]).await;
    assert!(callback.contains("error=access_denied"), "{callback}");
    let back = browser.get(&callback).await;
    assert_eq!((back.status, back.location()), (302, "/donate/?signin=declined"));
    let page = browser.get(back.location()).await;
    assert!(page.body.contains("You did not allow access. Nothing was shared. You can try again."));
    assert!(page.body.contains("Continue to Google"));
    assert_eq!(env.stage(id).await, ("pending".into(), "terms_accepted".into()));
    assert!(env.events(id).await.ends_with(&["authorize_started".to_owned(), "consent_declined".to_owned()]));
    let grants: i64 = provider_grants::table.count().get_result(&mut env.app.db.conn().await).await.unwrap();
    assert_eq!(grants, 0);

    // A code the provider refuses at the exchange: nothing stored, try again.
    let url = browser.authorize(&page).await;
    let callback = browser.at_google(&url, "allow", &[]).await;
    let mut forged = reqwest::Url::parse(&callback).unwrap();
    let pairs: Vec<(String, String)> = forged.query_pairs().into_owned().collect();
    forged
        .query_pairs_mut()
        .clear()
        .extend_pairs(pairs.iter().map(|(k, v)| (k, if k == "code" { "bogus" } else { v })));
    let failed = browser.get(forged.as_str()).await;
    assert_eq!((failed.status, failed.location()), (302, "/donate/?signin=failed"), "{}", failed.body);
    let page = browser.get(failed.location()).await;
    assert!(page.body.contains("We could not finish signing you in. Please try again."));
    assert_eq!(env.stage(id).await, ("pending".into(), "terms_accepted".into()));
    assert_eq!(env.events(id).await.last().map(String::as_str), Some("sign_in_failed"));

    // Again, but the provider hands the redirect to another browser without the cookie.
    let url = browser.authorize(&page).await;
    let callback = browser.at_google(&url, "allow", &[]).await;
    let mut elsewhere = env.browser();
    let done = elsewhere.get(&callback).await;
    assert_eq!((done.status, done.location()), (302, "/donate/"), "{}", done.body);
    assert!(elsewhere.cookie.is_some(), "a new visit was opened");
    assert_ne!(env.stage(id).await.0, "pending");
    let page = elsewhere.get("/donate/").await;
    assert_eq!(page.status, 200);
    assert!(!page.body.contains("Keep this link private."));
    assert!(page.body.contains("Create a new participant link"));
}

/// Spec §8 63–64, 67–71, 76: participant links — shown once, pasted to link
/// another donation (an unknown one creates nothing), replaced by a new one
/// that takes only this donation, opened in another browser, selected, logged
/// out of — and "Delete my data" in any stage.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn participant_links_link_move_and_list_donations_and_participants_delete_them() {
    let env = Env::start().await;
    let (a, token_a) = env.donation(&["youtube_history"]).await;
    let mut first = env.browser();
    let page = first.consent(&token_a).await;
    let callback = {
        let url = first.authorize(&page).await;
        first.at_google(&url, "allow", &[]).await
    };
    assert_eq!(first.get(&callback).await.status, 302);
    let page = first.get("/donate/").await;
    let link_p1 = shown_link(&page).expect("the first sign-in shows a participant link");
    let p1 = env.participant_of(a).await.expect("a participant was created");

    // A second donation, in another browser: an unknown pasted link creates nothing.
    let (b, token_b) = env.donation(&["search"]).await;
    let mut second = env.browser();
    let page = second.consent(&token_b).await;
    let csrf = Browser::csrf(&page);
    let participants = || async {
        steward::db::schema::participants::table.count().get_result::<i64>(&mut env.app.db.conn().await).await.unwrap()
    };
    let before = participants().await;
    let unknown = format!("{}/participant/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA/", env.app.url());
    let pasted = second.post("/donate/link-participant/", &[("csrf", &csrf), ("participant_link", &unknown)]).await;
    assert_eq!(pasted.status, 303);
    let page = second.get(pasted.location()).await;
    assert!(page.body.contains("We could not find that participant link."), "{}", page.body);
    assert_eq!((participants().await, env.participant_of(b).await), (before, None));
    let pasted = second.post("/donate/link-participant/", &[("csrf", &csrf), ("participant_link", &link_p1)]).await;
    assert_eq!((pasted.status, pasted.location()), (303, "/donate/?linked=1"));
    assert_eq!(env.participant_of(b).await, Some(p1));

    // A visit that knows a participant links a newly signed-in donation to it.
    let (c, token_c) = env.donation(&["search"]).await;
    let page = second.consent(&token_c).await;
    let url = second.authorize(&page).await;
    let callback = second.at_google(&url, "allow", &[]).await;
    assert_eq!(second.get(&callback).await.location(), "/donate/");
    assert_eq!(env.participant_of(c).await, Some(p1));
    assert_eq!(participants().await, before, "no participant was created");
    assert!(shown_link(&second.get("/donate/").await).is_none());

    // A new participant link moves only this donation; GET is 405, no visit 404.
    assert_eq!(first.get("/donate/generate-participant/").await.status, 405);
    assert_eq!(env.browser().post("/donate/generate-participant/", &[("csrf", "x")]).await.status, 404);
    let page = first.get("/donate/").await;
    assert!(shown_link(&page).is_none() || shown_link(&page) == Some(link_p1.clone()));
    let created = first.post("/donate/generate-participant/", &[("csrf", &Browser::csrf(&page))]).await;
    assert_eq!((created.status, created.location()), (303, "/donate/"));
    let page = first.get("/donate/").await;
    let link_p2 = shown_link(&page).expect("the new link is shown once");
    assert_ne!(link_p2, link_p1);
    let p2 = env.participant_of(a).await.unwrap();
    assert_ne!(p2, p1);
    assert_eq!(env.participant_of(b).await, Some(p1), "the old participant keeps its other donation");
    assert!(!page.body.contains(&link_p1));

    // The first participant's link in a third browser lists only their donation.
    let mut phone = env.browser();
    assert_eq!(phone.get("/participant/").await.status, 404, "no visit");
    let path = link_p1.trim_start_matches(&env.app.url()).to_owned();
    assert_eq!(phone.get(&path).await.location(), "/participant/");
    let home = phone.get("/participant/").await;
    assert!(home.body.contains(&format!("/participant/select/{b}/")), "{}", home.body);
    assert!(home.body.contains(&format!("/participant/select/{c}/")));
    assert!(!home.body.contains(&format!("/participant/select/{a}/")));
    assert_eq!(phone.get(&format!("/participant/select/{a}/")).await.status, 404, "another participant's");
    assert_eq!(phone.get(&format!("/participant/select/{b}/")).await.location(), "/donate/");
    assert_eq!(phone.get("/participant/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA/").await.status, 404);
    assert_eq!(second.get("/donate/switch-to-participant/").await.location(), "/participant/");

    // Logging out forgets the participant: back to the donation opened by its own link.
    let page = second.get("/donate/").await;
    let out = second.post("/participant/logout/", &[("csrf", &Browser::csrf(&page))]).await;
    assert_eq!((out.status, out.location()), (303, "/donate/"));
    assert_eq!(second.get("/participant/").await.status, 404);
    assert_eq!(second.get("/donate/switch-to-participant/").await.status, 404);
    let out = phone.post("/participant/logout/", &[("csrf", &Browser::csrf(&home))]).await;
    assert_eq!((out.status, out.location()), (303, "/terms/"), "no donation link was used there");

    // Delete my data, before sign-in (b) and after it (a).
    assert_eq!(second.get(&format!("/donate/{token_b}/")).await.location(), "/donate/");
    let confirm = second.get("/donate/revoke/").await;
    assert_eq!(confirm.status, 200);
    assert!(confirm.body.contains("It cannot be undone."));
    assert_eq!(second.post("/donate/revoke/", &[]).await.status, 400, "no CSRF token");
    let deleted = second.post("/donate/revoke/", &[("csrf", &Browser::csrf(&confirm))]).await;
    assert_eq!(deleted.status, 200, "{}", deleted.body);
    assert!(deleted.body.contains("Your donation has been deleted"));
    assert!(!deleted.body.contains("still removing our access"), "never held access");
    assert_eq!(env.browser().get(&format!("/donate/{token_b}/")).await.status, 404);
    assert_eq!(second.get("/donate/").await.status, 404);
    let confirm = first.get("/donate/revoke/").await;
    let deleted = first.post("/donate/revoke/", &[("csrf", &Browser::csrf(&confirm))]).await;
    assert_eq!(deleted.status, 200, "{}", deleted.body);
    assert!(deleted.body.contains("Your donation has been deleted"));
    let left: Vec<i32> = donations::table.select(donations::id).load(&mut env.app.db.conn().await).await.unwrap();
    assert_eq!(left, [c]);
    assert_eq!(env.browser().get(&format!("/donate/{token_a}/")).await.status, 404);
}

/// Spec §8 56 and §3.1: an edited consent template asks a participant who
/// has not signed in yet to agree again; idle visits end.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_changed_consent_text_is_asked_again_and_idle_visits_end() {
    let dir = crate::common::scratch_dir("consent-templates");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("consent.html"), "<p>We study {{ donation.provider }} use. Version one.</p>").unwrap();
    let finnish = "{% extends \"layout.html\" %}{% block content %}<h1>Lahjoita {{ donation.provider }}-tietosi</h1>{% endblock %}";
    std::fs::write(dir.join("status.fi.html"), finnish).unwrap();
    let keyring = Keyring::generate().to_spec();
    let template_dir = ("STEWARD_TEMPLATE_DIR", dir.to_str().unwrap());
    let env = Env::start_with(TestDb::new().await, &keyring, &[template_dir]).await;
    let (id, token) = env.donation(&["search"]).await;
    let mut browser = env.browser();
    let page = browser.consent(&token).await;
    assert!(page.body.contains("Continue to Google"));
    let terms = browser.get("/donate/terms/").await;
    assert!(terms.body.contains("Version one."), "the override is used");

    // The institution edits the text; the server restarts with it.
    std::fs::write(dir.join("consent.html"), "<p>We study {{ donation.provider }} use. Version two.</p>").unwrap();
    let db = env.app.stop().await;
    let env = Env::start_with(db, &keyring, &[template_dir, ("STEWARD_VISIT_IDLE_TTL", "2s")]).await;
    browser.base = env.app.url();
    let page = browser.get("/donate/").await;
    assert!(page.body.contains("href=\"/donate/terms/\">Review the terms</a>"), "{}", page.body);
    let again = browser.get("/donate/authorize/").await;
    assert_eq!((again.status, again.location()), (302, "/donate/terms/"));
    let terms = browser.get("/donate/terms/").await;
    assert!(terms.body.contains("Version two.") && terms.body.contains("The terms changed"), "{}", terms.body);
    let version = hidden(&terms.body, "terms_version").unwrap();
    let stale = hidden(&page.body, "csrf").unwrap();
    let accepted = browser.post("/donate/terms/", &[("csrf", &stale), ("terms_version", &version)]).await;
    assert_eq!(accepted.status, 303);
    assert!(browser.get("/donate/").await.body.contains("Continue to Google"));
    assert!(env.events(id).await.iter().filter(|e| *e == "terms_accepted").count() == 2);

    // A language with templates is chosen from Accept-Language; the footer switches it for the visit.
    browser.accept_language = Some("fi-FI, en;q=0.5");
    let page = browser.get("/donate/").await;
    assert!(page.body.contains("<html lang=\"fi\">") && page.body.contains("Lahjoita Google-tietosi"), "{}", page.body);
    assert!(page.body.contains(">Suomi</option>") && page.body.contains(">English</option>"));
    let csrf = hidden(&page.body, "csrf").unwrap();
    let switched = browser.post("/donate/language/", &[("csrf", &csrf), ("next", "/donate/"), ("lang", "en")]).await;
    assert_eq!((switched.status, switched.location()), (303, "/donate/"));
    let page = browser.get("/donate/").await;
    assert!(page.body.contains("<html lang=\"en\">") && page.body.contains("Donate your Google data"));
    let elsewhere =
        browser.post("/donate/language/", &[("csrf", &csrf), ("next", "https://evil.example/"), ("lang", "fi")]).await;
    assert_eq!(elsewhere.location(), "/donate/", "only this site's pages");

    // A visit idle longer than STEWARD_VISIT_IDLE_TTL (here 2 s) is over.
    let mut fresh = env.browser();
    assert_eq!(fresh.get(&format!("/donate/{token}/")).await.status, 302);
    assert_eq!(fresh.get("/donate/").await.status, 200);
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(fresh.get("/donate/").await.status, 404);
}

/// Spec §3.4 "Start" 1 and §5.9: access lost at the provider stops the
/// donation with a message the participant can act on, and signing in again
/// from the status page finishes it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn access_lost_at_the_provider_is_fixed_by_signing_in_again() {
    let env = Env::start().await;
    let (id, token) = env.donation(&["search"]).await;
    let mut browser = env.browser();
    let page = browser.consent(&token).await;
    let url = browser.authorize(&page).await;
    let callback = browser.at_google(&url, "allow", &[("failure", "revoked_consent:after=1")]).await;
    assert_eq!(browser.get(&callback).await.location(), "/donate/");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while env.stage(id).await.0 != "error" {
        assert!(
            tokio::time::Instant::now() < deadline,
            "never failed: {:?} {:?}",
            env.stage(id).await,
            env.events(id).await
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let page = browser.get("/donate/").await;
    assert!(
        page.body
            .contains("Access to your Google account ended before we could collect your data. Please sign in again."),
        "{}",
        page.body
    );
    assert!(page.body.contains("Sign in again"));

    let url = browser.authorize(&page).await;
    let callback = browser.at_google(&url, "allow", &[]).await;
    assert_eq!(browser.get(&callback).await.location(), "/donate/");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(90);
    while env.stage(id).await.0 != "processed" {
        assert!(
            tokio::time::Instant::now() < deadline,
            "never processed: {:?} {:?}",
            env.stage(id).await,
            env.events(id).await
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert!(browser.get("/donate/").await.body.contains("See my data"));
}

#[tokio::test]
async fn unknown_addresses_under_the_participant_pages_get_the_friendly_page() {
    let env = Env::start().await;
    let mut browser = env.browser();
    // A link cut or pasted with extra path segments, and made-up addresses.
    for path in ["/donate/abc/def/", "/donate/abc", "/participant/x/y/z/", "/donate/a/b/c/d"] {
        let page = browser.get(path).await;
        assert_eq!(page.status, 404, "{path}");
        assert!(page.headers[CONTENT_TYPE].to_str().unwrap().starts_with("text/html"), "{path}");
        assert!(page.body.contains("Page not found"), "{path}: {}", page.body);
        assert_participant_headers(&page, &env.app.url());
    }
    let posted = browser.post("/donate/no/such/form/", &[("csrf", "x")]).await;
    assert_eq!(posted.status, 404);
    assert!(posted.body.contains("There is nothing to see at this address."), "{}", posted.body);
    // Known routes answer as before, and the API's unknown paths stay JSON.
    assert_eq!(browser.get("/donate/not-a-token/").await.status, 404);
    assert_eq!(browser.get("/privacy/").await.status, 200);
    let api = browser.get("/api/nothing-here/").await;
    assert_eq!((api.status, api.body.as_str()), (404, r#"{"error":"not found"}"#));
}
