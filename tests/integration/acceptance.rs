//! Acceptance scenarios of the dataset spec (§8) that no other test covered
//! (see docs/ACCEPTANCE.md): permission levels as names and numbers in the
//! user cache, `read_only` stripping, closed TOS datasets staying out of
//! `missing_tos`, and grants never crossing between users and service
//! accounts — each through the real server's `user/cache`.

use steward::dataset::audit::Actor;
use steward::dataset::ops::{self, GrantSpec, Grantee, TosSpec};
use steward::dataset::permissions::Level;
use steward::proto::authorization::v1::GetUserCacheRequest;

use crate::common::{TestApp, with_bearer};

async fn cache_for(app: &TestApp, token: &str) -> String {
    let request = GetUserCacheRequest { service: String::new(), dsg_token: String::new() };
    let reply = app.authorization().await.get_user_cache(with_bearer(request, token)).await.expect("user/cache");
    String::from_utf8(reply.into_inner().data).expect("utf-8 JSON")
}

fn grant(dataset_id: i64, level: Level, grantee: Grantee) -> GrantSpec {
    GrantSpec { dataset_id, version_id: None, level, grantee, source: "manual" }
}

fn tos<'a>(name: &'a str, dataset_id: i64) -> TosSpec<'a> {
    TosSpec {
        name,
        text: "Be nice.",
        dataset_id: Some(dataset_id),
        version_id: None,
        service: None,
        effective_at: None,
        retired_at: None,
    }
}

async fn user_id(app: &TestApp, email: &str) -> i64 {
    let mut conn = app.db.conn().await;
    steward::auth::store::user_by_email(&mut conn, email).await.unwrap().unwrap().id
}

/// Scenarios 1, 2 and 4: each level's names and number; `read_only` keeps
/// `manage` but strips `edit` (an `edit`-only holder is left with `view`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn levels_show_as_names_and_numbers_and_read_only_strips_edit() {
    let app = TestApp::start().await;
    let alice = app.db.token("alice@example.org", None).await;
    let bob = app.db.token("bob@example.org", None).await;
    let (alice_id, bob_id) = (user_id(&app, "alice@example.org").await, user_id(&app, "bob@example.org").await);
    let mut conn = app.db.conn().await;
    let a = Actor::System;
    for (name, level) in
        [("d-view", Level::View), ("d-edit", Level::Edit), ("d-manage", Level::Manage), ("d-admin", Level::Admin)]
    {
        let dataset = ops::create_dataset(&mut conn, a, name, "", false).await.unwrap();
        ops::grant(&mut conn, a, grant(dataset.id, level, Grantee::User(alice_id))).await.unwrap();
        if matches!(level, Level::Edit | Level::Manage) {
            ops::grant(&mut conn, a, grant(dataset.id, level, Grantee::User(bob_id))).await.unwrap();
        }
    }
    ops::update_user_profile(&mut conn, a, bob_id, "Bob", "", true).await.unwrap();

    let doc = cache_for(&app, &alice).await;
    let numbers = r#""permissions":{"d-view":1,"d-edit":2,"d-manage":3,"d-admin":4}"#;
    let names = concat!(
        r#""permissions_v2":{"d-view":["view"],"d-edit":["edit","view"],"d-manage":["edit","manage","view"],"#,
        r#""d-admin":["admin","edit","manage","view"]}"#,
    );
    assert!(doc.contains(numbers) && doc.contains(names), "{doc}");

    let doc = cache_for(&app, &bob).await;
    let numbers = r#""permissions":{"d-edit":1,"d-manage":3}"#;
    let names = r#""permissions_v2":{"d-edit":["view"],"d-manage":["manage","view"]}"#;
    assert!(doc.contains(numbers) && doc.contains(names), "read_only: {doc}");
}

/// Scenarios 10 and 19 (and the first half of 8): a closed dataset's TOS is
/// not pending for a user without a grant while a public one's is; user and
/// service-account grants never show in each other's cache.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pending_tos_and_grants_stay_with_their_principal() {
    let app = TestApp::start().await;
    let carol = app.db.token("carol@example.org", None).await;
    let carol_id = user_id(&app, "carol@example.org").await;
    let mut conn = app.db.conn().await;
    let a = Actor::System;
    let closed = ops::create_dataset(&mut conn, a, "closed-tos", "", false).await.unwrap();
    let open = ops::create_dataset(&mut conn, a, "open-tos", "", true).await.unwrap();
    let mine = ops::create_dataset(&mut conn, a, "user-only", "", false).await.unwrap();
    let bots = ops::create_dataset(&mut conn, a, "sa-only", "", false).await.unwrap();
    ops::create_tos_document(&mut conn, a, tos("Closed terms", closed.id)).await.unwrap();
    let open_terms = ops::create_tos_document(&mut conn, a, tos("Open terms", open.id)).await.unwrap();
    let (sa, sa_token) = ops::create_service_account(&mut conn, a, "bot", "").await.unwrap();
    ops::grant(&mut conn, a, grant(mine.id, Level::View, Grantee::User(carol_id))).await.unwrap();
    ops::grant(&mut conn, a, grant(bots.id, Level::Edit, Grantee::ServiceAccount(sa))).await.unwrap();

    let doc = cache_for(&app, &carol).await;
    let pending = format!(
        r#""missing_tos":[{{"dataset_id":{},"dataset_name":"open-tos","tos_id":{open_terms},"tos_name":"Open terms"}}]"#,
        open.id
    );
    assert!(doc.contains(&pending), "{doc}");
    assert!(doc.contains(r#""permissions_v2":{"user-only":["view"]}"#), "{doc}");
    assert!(!doc.contains("sa-only") && !doc.contains("closed-tos"), "{doc}");

    let doc = cache_for(&app, &sa_token).await;
    assert!(doc.contains(r#""permissions_v2":{"sa-only":["edit","view"]}"#), "{doc}");
    assert!(!doc.contains("user-only") && !doc.contains("open-tos"), "{doc}");
}
