//! The TOS pages of spec authorization_dataset.md §3.5 beside the invite page
//! (scenarios 77, 78, 79): `/web/tos/service-check/` and
//! `/api/v1/tos/{tos_id}/accept` with its aliases, over plain HTTP with the
//! `dsg_token` cookie. Helpers are pages.rs's.

use steward::auth::Role;
use steward::dataset::audit::Actor;
use steward::dataset::ops;
use steward::proto::dataset::v1 as pb;
use steward::proto::dataset::v1::dataset_service_client::DatasetServiceClient;

use crate::common::{TestApp, with_bearer};
use crate::pages::{closed_dataset_granted_to, counts, get, post, post_form, start, user_id};

/// Where the service sends the user back to, with a query the page must keep as it is.
const NEXT: &str = "https://svc.janelia.org/x?dataset=hemibrain:v1.2.1";

fn encode(value: &str) -> String {
    form_urlencoded::byte_serialize(value.as_bytes()).collect()
}

/// A document created by the global admin `root`.
async fn document(app: &TestApp, root: &str, request: pb::CreateTosDocumentRequest) -> pb::TosDocument {
    let mut datasets = DatasetServiceClient::new(app.channel().await);
    let created = datasets.create_tos_document(with_bearer(request, root)).await.unwrap();
    created.into_inner().document.unwrap()
}

fn terms(name: &str, text: &str, dataset: &str) -> pb::CreateTosDocumentRequest {
    pb::CreateTosDocumentRequest { name: name.into(), text: text.into(), dataset: dataset.into(), ..Default::default() }
}

/// Scenario 77 and 79 on `/web/tos/service-check/`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn service_check_lists_accepts_all_and_goes_on_to_next() {
    let app = start().await;
    let own_origin = app.url();
    let own_origin = own_origin.as_str();
    let root = app.db.token("root@example.org", Some(Role::Admin)).await;
    let alice = app.db.token("alice@example.org", None).await;
    let mut conn = app.db.conn().await;
    ops::create_dataset(&mut conn, Actor::System, "hemibrain", "", true).await.unwrap();
    drop(conn);
    let text = "# Hemibrain data\n\nBe **kind** to the data.\n\n<script>alert(1)</script>";
    document(&app, &root, terms("Hemibrain terms", text, "hemibrain")).await;
    let service_terms = pb::CreateTosDocumentRequest {
        service: "celltyping".into(),
        ..terms("Cell typing terms", "Cite it.", "hemibrain")
    };
    document(&app, &root, service_terms).await;
    let query = format!("dataset=hemibrain&service=celltyping&next={}", encode(NEXT));
    let page = format!("/web/tos/service-check/?{query}");

    // Anonymous: sign in, then back here with the whole query.
    let anonymous = get(&app, &page, None).await;
    assert_eq!(anonymous.status, 302, "{anonymous:?}");
    assert_eq!(anonymous.header("location"), Some(format!("/auth/login?next={}", encode(&page)).as_str()));

    // Both pending documents, rendered, in one form that carries the parameters.
    let listed = get(&app, &page, Some(&alice)).await;
    assert_eq!(listed.status, 200, "{listed:?}");
    let body = &listed.body;
    assert!(body.contains("Hemibrain terms") && body.contains("Cell typing terms"), "{body}");
    assert!(body.contains("<h1>Hemibrain data</h1>") && body.contains("<strong>kind</strong>"), "{body}");
    assert!(body.contains("&lt;script&gt;alert(1)&lt;/script&gt;") && !body.contains("<script>alert"), "{body}");
    assert_eq!(body.matches("<form").count(), 1, "{body}");
    assert!(body.contains(r#"id="accept-all""#), "{body}");
    for field in [
        r#"<input type="hidden" name="dataset" value="hemibrain">"#,
        r#"<input type="hidden" name="service" value="celltyping">"#,
        &format!(r#"<input type="hidden" name="next" value="{NEXT}">"#),
    ] {
        assert!(body.contains(field), "{field} in {body}");
    }
    assert_eq!(listed.header("cache-control"), Some("no-store"));
    assert!(listed.header("content-security-policy").unwrap().contains("form-action 'self'"));
    // Without the service only the dataset's general TOS is pending.
    let general =
        get(&app, &format!("/web/tos/service-check/?dataset=hemibrain&next={}", encode(NEXT)), Some(&alice)).await;
    assert!(general.body.contains("Hemibrain terms") && !general.body.contains("Cell typing terms"), "{general:?}");

    // Scenario 79: a POST from elsewhere, or saying nowhere, records nothing.
    let before = counts(&app).await;
    for headers in [&[("origin", "https://evil.example")][..], &[("referer", "https://evil.example/x")], &[]] {
        let refused = post_form(&app, "/web/tos/service-check/", Some(&alice), headers, &query).await;
        assert_eq!(refused.status, 403, "{headers:?}: {refused:?}");
    }
    assert_eq!(counts(&app).await, before);

    // Accept all: two acceptances (plus the public dataset's self-service view
    // grant), then `next` exactly as the service gave it.
    let accepted = post_form(&app, "/web/tos/service-check/", Some(&alice), &[("origin", own_origin)], &query).await;
    assert_eq!(accepted.status, 302, "{accepted:?}");
    assert_eq!(accepted.header("location"), Some(NEXT));
    let after = counts(&app).await;
    assert_eq!(after.0, before.0 + 2);
    let alice_id = user_id(&app, "alice@example.org").await;
    let self_service: i64 = {
        use diesel::{ExpressionMethods as _, QueryDsl as _};
        use diesel_async::RunQueryDsl as _;
        use steward::db::schema::grants;
        grants::table
            .filter(grants::user_id.eq(alice_id))
            .filter(grants::source.eq("self_service"))
            .count()
            .get_result(&mut *app.db.conn().await)
            .await
            .unwrap()
    };
    assert_eq!(self_service, 1);

    // Nothing pending now: straight on to `next`, its escapes kept.
    let odd_next = "https://svc.janelia.org/x?dataset=hemibrain:v1.2.1&q=a%2Fb+c%20d#top";
    let check = format!("/web/tos/service-check/?dataset=hemibrain&service=celltyping&next={}", encode(odd_next));
    let passed = get(&app, &check, Some(&alice)).await;
    assert_eq!((passed.status, passed.header("location")), (302, Some(odd_next)));
    let again = post_form(&app, "/web/tos/service-check/", Some(&alice), &[("origin", own_origin)], &query).await;
    assert_eq!((again.status, again.header("location")), (302, Some(NEXT)));
    assert_eq!(counts(&app).await, after, "accepting again records nothing");
    // An unknown dataset has nothing pending; a `next` on another host, or none, goes home.
    let unknown = get(&app, &format!("/web/tos/service-check/?dataset=nope&next={}", encode(NEXT)), Some(&alice)).await;
    assert_eq!((unknown.status, unknown.header("location")), (302, Some(NEXT)));
    for next in ["&next=https%3A%2F%2Fevil.example%2Fsteal", "&next=%2F%2Fevil.example", ""] {
        let home = get(&app, &format!("/web/tos/service-check/?dataset=hemibrain{next}"), Some(&alice)).await;
        assert_eq!((home.status, home.header("location")), (302, Some("/")), "{next}");
    }
    // With documents pending, a bad `next` also ends at home.
    let bob = app.db.token("bob@example.org", None).await;
    let form = "dataset=hemibrain&next=https%3A%2F%2Fevil.example%2Fsteal";
    let home = post_form(&app, "/web/tos/service-check/", Some(&bob), &[("origin", own_origin)], form).await;
    assert_eq!((home.status, home.header("location")), (302, Some("/")));
    assert_eq!(get(&app, "/web/tos/service-check/", Some(&bob)).await.status, 400, "no dataset");
}

/// A closed dataset without grant is "Access Restricted" on the service-check page too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn service_check_on_a_closed_dataset_needs_a_grant() {
    let app = start().await;
    let own_origin = app.url();
    let root = app.db.token("root@example.org", Some(Role::Admin)).await;
    let stranger = app.db.token("stranger@example.org", None).await;
    ops::create_dataset(&mut *app.db.conn().await, Actor::System, "fish2", "", false).await.unwrap();
    document(&app, &root, terms("Fish terms", "Be nice.", "fish2")).await;
    let page = get(&app, "/web/tos/service-check/?dataset=fish2", Some(&stranger)).await;
    assert_eq!(page.status, 403);
    assert!(page.body.contains("Access Restricted"), "{page:?}");
    let before = counts(&app).await;
    let form = "dataset=fish2&next=%2Fdone";
    let refused = post_form(&app, "/web/tos/service-check/", Some(&stranger), &[("origin", &own_origin)], form).await;
    assert_eq!(refused.status, 403);
    assert!(refused.body.contains("Access Restricted"), "{refused:?}");
    assert_eq!(counts(&app).await, before);
}

/// Scenarios 78 and 79 on `/api/v1/tos/{tos_id}/accept` and its aliases.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_accept_page_by_id_shows_accepts_and_redirects() {
    let app = start().await;
    let own_origin = app.url();
    let own_origin = own_origin.as_str();
    let root = app.db.token("root@example.org", Some(Role::Admin)).await;
    let alice = app.db.token("alice@example.org", None).await;
    let stranger = app.db.token("stranger@example.org", None).await;
    closed_dataset_granted_to(&app, "fish2", "alice@example.org").await;
    let text = "Read [the rules](https://example.org/rules).\n\n<img src=x onerror=alert(1)>";
    let fish_terms = document(&app, &root, terms("Fish terms", text, "fish2")).await;
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64;
    let at = |seconds| Some(prost_types::Timestamp { seconds, nanos: 0 });
    let retired = pb::CreateTosDocumentRequest {
        service: "celltyping".into(),
        effective_time: at(now - 7200),
        retire_time: at(now - 3600),
        ..terms("Old cell typing terms", "Gone.", "fish2")
    };
    let retired = document(&app, &root, retired).await;
    let page = format!("/api/v1/tos/{}/accept?redirect={}", fish_terms.id, encode("https://svc.janelia.org/done?a=1"));

    // Unknown ids, on every route.
    for path in ["/api/v1/tos/999999/accept", "/web/tos/999999/accept", "/auth/api/v1/tos/abc/accept"] {
        let missing = get(&app, path, Some(&alice)).await;
        assert_eq!(missing.status, 404, "{path}");
        assert!(missing.body.contains("Terms not found"), "{missing:?}");
    }
    let missing = post(&app, "/api/v1/tos/999999/accept", Some(&alice), &[("origin", own_origin)]).await;
    assert_eq!(missing.status, 404);

    // Anonymous: the text and a sign-in link back to this very page.
    let anonymous = get(&app, &page, None).await;
    assert_eq!(anonymous.status, 200, "{anonymous:?}");
    assert!(anonymous.body.contains(r#"<a href="https://example.org/rules">the rules</a>"#), "{}", anonymous.body);
    assert!(anonymous.body.contains("&lt;img src=x") && !anonymous.body.contains("<img"), "{}", anonymous.body);
    let sign_in = format!(r#"href="/auth/login?next={}""#, encode(&page));
    assert!(anonymous.body.contains(&sign_in), "{sign_in} in {}", anonymous.body);
    assert!(!anonymous.body.contains("<form"));
    assert_eq!(anonymous.header("cache-control"), Some("no-store"));

    // Signed in with a grant: the form posts back here, `redirect` kept.
    let open = get(&app, &page, Some(&alice)).await;
    assert_eq!(open.status, 200);
    assert!(open.body.contains("I accept") && !open.body.contains("already accepted"), "{}", open.body);
    assert!(open.body.contains(&format!(r#"action="{}""#, page.replace('&', "&amp;"))), "{}", open.body);
    // Without grant: "Access Restricted", on the page and when posting.
    assert_eq!(get(&app, &page, Some(&stranger)).await.status, 403);
    let before = counts(&app).await;
    let refused = post(&app, &page, Some(&stranger), &[("origin", own_origin)]).await;
    assert_eq!(refused.status, 403);
    assert!(refused.body.contains("Access Restricted"), "{refused:?}");
    // Scenario 79: cross-site POSTs record nothing.
    for headers in [&[("origin", "https://evil.example")][..], &[("referer", "https://evil.example/x")], &[]] {
        assert_eq!(post(&app, &page, Some(&alice), headers).await.status, 403, "{headers:?}");
    }
    let anonymous_post = post(&app, &page, None, &[("origin", own_origin)]).await;
    assert_eq!(anonymous_post.status, 302);
    assert_eq!(anonymous_post.header("location"), Some(format!("/auth/login?next={}", encode(&page)).as_str()));
    assert_eq!(counts(&app).await, before);

    // Accepting: one acceptance and one audit row, then the validated redirect.
    let accepted = post(&app, &page, Some(&alice), &[("origin", own_origin)]).await;
    assert_eq!(accepted.status, 302, "{accepted:?}");
    assert_eq!(accepted.header("location"), Some("https://svc.janelia.org/done?a=1"));
    assert_eq!(counts(&app).await, (before.0 + 1, before.1 + 1));
    let after = get(&app, &page, Some(&alice)).await;
    assert!(after.body.contains("already accepted") && !after.body.contains("I accept"), "{}", after.body);
    // The aliases; a redirect elsewhere, or none, goes home; nothing more is recorded.
    let elsewhere = format!("/web/tos/{}/accept?redirect={}", fish_terms.id, encode("https://evil.example/"));
    let sticky = format!("/sticky_auth/api/v1/tos/{}/accept", fish_terms.id);
    for path in [elsewhere, sticky] {
        let home = post(&app, &path, Some(&alice), &[("referer", &format!("{own_origin}{path}"))]).await;
        assert_eq!((home.status, home.header("location")), (302, Some("/")), "{path}");
    }
    assert_eq!(counts(&app).await, (before.0 + 1, before.1 + 1));

    // A retired document: said so on the page, and 400 when posted.
    let old = format!("/api/v1/tos/{}/accept", retired.id);
    let shown = get(&app, &old, Some(&alice)).await;
    assert_eq!(shown.status, 200);
    assert!(shown.body.contains("not in force") && !shown.body.contains("<form"), "{}", shown.body);
    let not_in_force = post(&app, &old, Some(&alice), &[("origin", own_origin)]).await;
    assert_eq!(not_in_force.status, 400, "{not_in_force:?}");
    assert!(not_in_force.body.contains("This document is not in force"), "{}", not_in_force.body);
    assert_eq!(counts(&app).await, (before.0 + 1, before.1 + 1));
}
