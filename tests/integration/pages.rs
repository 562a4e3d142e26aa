//! The issue-9 browser pages over plain HTTP (spec authorization_dataset.md
//! §3.5 invite page, §5.6 own tokens; scenarios 74, 76, 79): the TOS invite
//! page's 404, sign-in link, 403 and accept, its refusal of cross-site POSTs;
//! `/account`'s redirect of anonymous visitors; `/signin`; and
//! `RevokeApiKey`. The Chromium run is tests/e2e/browser/account.test.mjs.

use diesel::{ExpressionMethods as _, QueryDsl as _};
use diesel_async::RunQueryDsl as _;
use steward::auth::Role;
use steward::dataset::audit::Actor;
use steward::dataset::ops::{self, GrantSpec, Grantee};
use steward::dataset::permissions::Level;
use steward::db::schema::{audit_log, tos_acceptances};
use steward::proto::authorization::v1::{CreateTokenRequest, RevokeApiKeyRequest, WhoAmIRequest};
use steward::proto::dataset::v1 as pb;
use steward::proto::dataset::v1::dataset_service_client::DatasetServiceClient;
use steward::proto::google::api::HttpBody;
use tonic::Code;

use crate::common::http::Reply;
use crate::common::{TestApp, TestDb, with_bearer};

/// The server, with `janelia.org` on the redirect allow-list (spec §4.5).
pub(crate) async fn start() -> TestApp {
    let env = [("STEWARD_RATE_LIMIT", "off"), ("STEWARD_REDIRECT_ALLOWED_HOSTS", "janelia.org")];
    TestApp::start_with(TestDb::new().await, &env).await.0
}

/// A request with the `dsg_token` cookie (when given), more headers and a form body.
async fn send(
    app: &TestApp,
    method: reqwest::Method,
    path: &str,
    cookie: Option<&str>,
    headers: &[(&str, &str)],
    form: Option<&str>,
) -> Reply {
    let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let mut request = http.request(method, format!("{}{path}", app.url()));
    if let Some(token) = cookie {
        request = request.header("cookie", format!("dsg_token={token}"));
    }
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    if let Some(form) = form {
        request = request.header("content-type", "application/x-www-form-urlencoded").body(form.to_owned());
    }
    Reply::read(request.send().await.unwrap()).await
}

pub(crate) async fn get(app: &TestApp, path: &str, cookie: Option<&str>) -> Reply {
    send(app, reqwest::Method::GET, path, cookie, &[], None).await
}

pub(crate) async fn post(app: &TestApp, path: &str, cookie: Option<&str>, headers: &[(&str, &str)]) -> Reply {
    send(app, reqwest::Method::POST, path, cookie, headers, None).await
}

/// A POST of the form `form` (already encoded).
pub(crate) async fn post_form(
    app: &TestApp,
    path: &str,
    cookie: Option<&str>,
    headers: &[(&str, &str)],
    form: &str,
) -> Reply {
    send(app, reqwest::Method::POST, path, cookie, headers, Some(form)).await
}

pub(crate) async fn user_id(app: &TestApp, email: &str) -> i64 {
    steward::auth::store::user_by_email(&mut *app.db.conn().await, email).await.unwrap().unwrap().id
}

/// (acceptances, audit rows) in the whole database.
pub(crate) async fn counts(app: &TestApp) -> (i64, i64) {
    let mut conn = app.db.conn().await;
    let acceptances = tos_acceptances::table.count().get_result(&mut conn).await.unwrap();
    let audit = audit_log::table.count().get_result(&mut conn).await.unwrap();
    (acceptances, audit)
}

/// A closed dataset `name` on which the existing user `email` holds a direct `view` grant.
pub(crate) async fn closed_dataset_granted_to(app: &TestApp, name: &str, email: &str) {
    let user = user_id(app, email).await;
    let mut conn = app.db.conn().await;
    let dataset = ops::create_dataset(&mut conn, Actor::System, name, "", false).await.unwrap();
    let spec = GrantSpec {
        dataset_id: dataset.id,
        version_id: None,
        level: Level::View,
        grantee: Grantee::User(user),
        source: "manual",
    };
    ops::grant(&mut conn, Actor::System, spec).await.unwrap();
}

/// Scenarios 74, 76 and 79 on `/web/tos/<invite_token>/`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_invite_page_shows_signs_in_refuses_and_accepts_once() {
    let app = start().await;
    // STEWARD_PUBLIC_URL is the test server's own address.
    let own_origin = app.url();
    let own_origin = own_origin.as_str();
    let root = app.db.token("root@example.org", Some(Role::Admin)).await;
    let grantee = app.db.token("grantee@example.org", None).await;
    let stranger = app.db.token("stranger@example.org", None).await;
    closed_dataset_granted_to(&app, "fish2", "grantee@example.org").await;
    let create = pb::CreateTosDocumentRequest {
        name: "Fish terms".into(),
        text: "Be nice.\n\n<script>alert(1)</script>".into(),
        dataset: "fish2".into(),
        ..Default::default()
    };
    let mut datasets = DatasetServiceClient::new(app.channel().await);
    let document = datasets.create_tos_document(with_bearer(create, &root)).await.unwrap();
    let document = document.into_inner().document.unwrap();
    let page = format!("/web/tos/{}/", document.invite_token);

    // Scenario 76: unknown link, anonymous visitor.
    assert_eq!(get(&app, "/web/tos/no-such-invite/", None).await.status, 404);
    let anonymous = get(&app, &page, None).await;
    assert_eq!(anonymous.status, 200, "{anonymous:?}");
    let next = format!("/auth/login?next=%2Fweb%2Ftos%2F{}%2F", document.invite_token);
    assert!(anonymous.body.contains(&next), "{}", anonymous.body);
    assert!(anonymous.body.contains("Be nice.") && !anonymous.body.contains("<script>alert"), "raw HTML escaped");
    assert_eq!(anonymous.header("cache-control"), Some("no-store"));
    // So that the browser's POST carries this origin (not `Origin: null`).
    assert_eq!(anonymous.header("referrer-policy"), Some("same-origin"));
    assert!(anonymous.header("content-security-policy").unwrap().contains("form-action 'self'"));

    // Scenario 74: no grant → 403 "Access Restricted"; a grantee sees the form.
    let refused = get(&app, &page, Some(&stranger)).await;
    assert_eq!(refused.status, 403);
    assert!(refused.body.contains("Access Restricted"), "{}", refused.body);
    let open = get(&app, &page, Some(&grantee)).await;
    assert_eq!(open.status, 200);
    assert!(open.body.contains("I accept") && !open.body.contains("already accepted"), "{}", open.body);

    // Scenario 79: cross-site or origin-less POSTs record nothing.
    let before = counts(&app).await;
    for headers in [&[("origin", "https://evil.example")][..], &[("referer", "https://evil.example/x")], &[]] {
        let reply = post(&app, &page, Some(&grantee), headers).await;
        assert_eq!(reply.status, 403, "{headers:?}: {reply:?}");
    }
    let stranger_post = post(&app, &page, Some(&stranger), &[("origin", own_origin)]).await;
    assert_eq!(stranger_post.status, 403);
    assert!(stranger_post.body.contains("Access Restricted"));
    let anonymous_post = post(&app, &page, None, &[("origin", own_origin)]).await;
    assert_eq!(anonymous_post.status, 302);
    assert_eq!(anonymous_post.header("location"), Some(next.as_str()));
    assert_eq!(get(&app, "/web/tos/no-such-invite/", Some(&grantee)).await.status, 404);
    assert_eq!(post(&app, "/web/tos/no-such-invite/", Some(&grantee), &[("origin", own_origin)]).await.status, 404);
    assert_eq!(counts(&app).await, before, "refusals record nothing");

    // Accepting: one acceptance, one audit row, home; the page then says so.
    let accepted = post(&app, &page, Some(&grantee), &[("origin", own_origin)]).await;
    assert_eq!(accepted.status, 302, "{accepted:?}");
    assert_eq!(accepted.header("location"), Some("/"));
    assert_eq!(counts(&app).await, (before.0 + 1, before.1 + 1));
    let again = post(&app, &page, Some(&grantee), &[("referer", &format!("{own_origin}{page}"))]).await;
    assert_eq!(again.status, 302);
    assert_eq!(counts(&app).await, (before.0 + 1, before.1 + 1), "accepting again records nothing");
    let after = get(&app, &page, Some(&grantee)).await;
    assert!(after.body.contains("already accepted") && !after.body.contains("I accept"), "{}", after.body);
}

/// `/account` sends anonymous visitors (and refused credentials) to sign in
/// and back; a signed-in user gets the page and its script, uncached.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_account_page_needs_a_signed_in_user() {
    let app = start().await;
    let alice = app.db.token("alice@example.org", None).await;
    for cookie in [None, Some("0".repeat(64).as_str()), Some("not-a-token")] {
        let reply = get(&app, "/account", cookie).await;
        assert_eq!(reply.status, 302, "{cookie:?}");
        assert_eq!(reply.header("location"), Some("/auth/login?next=%2Faccount"));
    }
    let page = get(&app, "/account", Some(&alice)).await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("/static/account_page.js?v="), "{}", page.body);
    assert_eq!(page.header("cache-control"), Some("no-store"));
    let script = page.body.split("/static/account_page.js").nth(1).unwrap().split('"').next().unwrap();
    let js = get(&app, &format!("/static/account_page.js{script}"), None).await;
    assert_eq!(js.status, 200);
    assert!(js.body.contains("revokeApiKey") || js.body.contains("RevokeApiKey"), "the bundle calls RevokeApiKey");
}

/// The donation console (`/donations`, `/donations/{id}`) sends anonymous
/// visitors to sign in and back to the same page; a signed-in user gets the
/// page with the console's links and its script, uncached; a path that names
/// no donation is a 404 page. The Chromium run is console_donations.test.mjs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_donation_console_needs_a_signed_in_user() {
    let app = start().await;
    let alice = app.db.token("alice@example.org", None).await;
    for (path, next) in [("/donations", "%2Fdonations"), ("/donations/12", "%2Fdonations%2F12")] {
        let reply = get(&app, path, None).await;
        assert_eq!(reply.status, 302, "{path}");
        assert_eq!(reply.header("location"), Some(format!("/auth/login?next={next}").as_str()));
        let page = get(&app, path, Some(&alice)).await;
        assert_eq!(page.status, 200, "{path}");
        assert_eq!(page.header("cache-control"), Some("no-store"));
        assert!(page.body.contains("/static/donations_page.js?v="), "{}", page.body);
        assert!(page.body.contains(r#"<a href="/donations" aria-current="page">"#), "{}", page.body);
    }
    for path in ["/donations/0", "/donations/007", "/donations/abc", "/donations/99999999999999999999"] {
        let reply = get(&app, path, Some(&alice)).await;
        assert_eq!(reply.status, 404, "{path}");
        assert!(reply.body.contains("No such donation") && !reply.body.contains("donations_page.js"), "{}", reply.body);
    }
}

/// The dataset console (`/datasets`, `/datasets/{name}`, `/groups`, `/service-accounts`, `/audit`) sends
/// anonymous visitors to sign in and back to the same page (a dataset name
/// percent-encoded); a signed-in user gets the page and its script, uncached.
/// The Chromium runs are console_datasets.test.mjs and console_groups.test.mjs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dataset_console_needs_a_signed_in_user() {
    let app = start().await;
    let alice = app.db.token("alice@example.org", None).await;
    let pages = [
        ("/datasets", "%2Fdatasets", "/datasets"),
        ("/datasets/fish%20v1", "%2Fdatasets%2Ffish%2520v1", "/datasets"),
        ("/groups", "%2Fgroups", "/groups"),
        ("/service-accounts", "%2Fservice-accounts", "/service-accounts"),
        ("/audit", "%2Faudit", "/audit"),
    ];
    for (path, next, current) in pages {
        let reply = get(&app, path, None).await;
        assert_eq!(reply.status, 302, "{path}");
        assert_eq!(reply.header("location"), Some(format!("/auth/login?next={next}").as_str()));
        let page = get(&app, path, Some(&alice)).await;
        assert_eq!(page.status, 200, "{path}");
        assert_eq!(page.header("cache-control"), Some("no-store"));
        assert!(page.body.contains("/static/datasets_page.js?v="), "{}", page.body);
        assert!(page.body.contains(&format!(r#"<a href="{current}" aria-current="page">"#)), "{}", page.body);
    }
    let named = get(&app, "/datasets/%3Cb%3E", Some(&alice)).await;
    assert!(named.body.contains("<title>Dataset &lt;b&gt; · Steward</title>"), "{}", named.body);
}

/// `/signin` keeps `next` in its link to `/auth/login`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_signin_page_keeps_next() {
    let app = start().await;
    let page = get(&app, "/signin?next=%2Fweb%2Ftos%2Fabc%2F", None).await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("<h1>Sign in</h1>"), "{}", page.body);
    assert!(
        page.body.contains("/auth/login?next=%2Fweb%2Ftos%2Fabc%2F") || page.body.contains("signin-off"),
        "{}",
        page.body
    );
}

/// `RevokeApiKey` (spec §5.6): one's own api token is refused at once after;
/// someone else's id, and an id already revoked, are NOT_FOUND.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn users_revoke_their_own_api_tokens_only() {
    let app = start().await;
    let alice = app.db.token("alice@example.org", None).await;
    let bob = app.db.token("bob@example.org", None).await;
    let mut client = app.authorization().await;
    let body = HttpBody {
        content_type: "application/json".into(),
        data: br#"{"description":"script"}"#.to_vec(),
        ..Default::default()
    };
    let created = client.create_token(with_bearer(CreateTokenRequest { body: Some(body) }, &alice)).await.unwrap();
    let minted: String = serde_json::from_slice(&created.into_inner().data).unwrap();
    client.who_am_i(with_bearer(WhoAmIRequest {}, &minted)).await.unwrap();
    let id: i64 = steward::db::schema::api_tokens::table
        .filter(steward::db::schema::api_tokens::description.eq("script"))
        .select(steward::db::schema::api_tokens::id)
        .first(&mut *app.db.conn().await)
        .await
        .unwrap();

    let stolen = client.revoke_api_key(with_bearer(RevokeApiKeyRequest { id }, &bob)).await.unwrap_err();
    assert_eq!((stolen.code(), stolen.message()), (Code::NotFound, "Token not found."));
    client.who_am_i(with_bearer(WhoAmIRequest {}, &minted)).await.unwrap();

    client.revoke_api_key(with_bearer(RevokeApiKeyRequest { id }, &alice)).await.unwrap();
    // Refused on the very next call: the serving replica evicts without waiting for its NOTIFY.
    let refused = client.who_am_i(with_bearer(WhoAmIRequest {}, &minted)).await.unwrap_err();
    assert_eq!(refused.code(), Code::Unauthenticated);
    let again = client.revoke_api_key(with_bearer(RevokeApiKeyRequest { id }, &alice)).await.unwrap_err();
    assert_eq!(again.code(), Code::NotFound);
    let revoked: i64 = audit_log::table
        .filter(audit_log::action.eq("api_token_revoked"))
        .count()
        .get_result(&mut *app.db.conn().await)
        .await
        .unwrap();
    assert_eq!(revoked, 1);
}
