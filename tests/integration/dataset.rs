//! DatasetGateway's compat routes over gRPC against the real server: the
//! golden `user/cache` documents byte for byte, the service-account shape,
//! every `check-access` row in order, `datasets` and `versions` visibility,
//! refusals, cache eviction on writes, audit rows and SCIM ids.

use std::time::Duration;

use diesel::dsl::sql;
use diesel::sql_types::Text;
use diesel::{ExpressionMethods as _, QueryDsl as _};
use diesel_async::RunQueryDsl as _;
use steward::auth::Role;
use steward::auth::ops as auth_ops;
use steward::dataset::audit::{self, Actor};
use steward::dataset::ops::{self, GrantSpec, Grantee, TosSpec};
use steward::dataset::permissions::Level;
use steward::db::schema::users;
use steward::proto::authorization::v1::{
    CheckAccessRequest, GetDatasetVersionsRequest, GetUserCacheRequest, ListAccessibleDatasetsRequest,
};
use steward::proto::google::api::HttpBody;
use tonic::{Code, Status};

use crate::common::{TestApp, with_bearer, with_header};

const GOLDEN: &str = r#"{"id":1,"parent_id":null,"service_account":false,"name":"Frozen","email":"frozen@example.org","admin":false,"pi":"PI","picture_url":"","affiliations":[],"groups":["frozen-group"],"groups_admin":["frozen-group"],"permissions":{"frozen":2,"svc-ds":1},"permissions_v2":{"frozen":["edit","view"],"svc-ds":["view"]},"permissions_v2_ignore_tos":{"frozen":["edit","view"],"tos-ds":["view"],"svc-ds":["view"]},"missing_tos":[{"dataset_id":2,"dataset_name":"tos-ds","tos_id":1,"tos_name":"Dataset TOS"}],"datasets_admin":[]}"#;
const GOLDEN_CELLTYPING: &str = r#"{"id":1,"parent_id":null,"service_account":false,"name":"Frozen","email":"frozen@example.org","admin":false,"pi":"PI","picture_url":"","affiliations":[],"groups":["frozen-group"],"groups_admin":["frozen-group"],"permissions":{"frozen":2},"permissions_v2":{"frozen":["edit","view"]},"permissions_v2_ignore_tos":{"frozen":["edit","view"],"tos-ds":["view"],"svc-ds":["view"]},"missing_tos":[{"dataset_id":2,"dataset_name":"tos-ds","tos_id":1,"tos_name":"Dataset TOS"},{"dataset_id":3,"dataset_name":"svc-ds","tos_id":2,"tos_name":"Service TOS","service":"celltyping"}],"datasets_admin":[]}"#;

fn body(reply: tonic::Response<HttpBody>) -> String {
    let reply = reply.into_inner();
    assert_eq!(reply.content_type, "application/json");
    String::from_utf8(reply.data).expect("utf-8 JSON")
}

async fn user_cache(app: &TestApp, request: tonic::Request<GetUserCacheRequest>) -> Result<String, Status> {
    app.authorization().await.get_user_cache(request).await.map(body)
}

async fn cache_for(app: &TestApp, token: &str, service: &str) -> String {
    let request = GetUserCacheRequest { service: service.into(), dsg_token: String::new() };
    user_cache(app, with_bearer(request, token)).await.expect("user/cache")
}

fn access_request(json: &str) -> CheckAccessRequest {
    CheckAccessRequest {
        body: Some(HttpBody { content_type: "application/json".into(), data: json.into(), extensions: vec![] }),
    }
}

async fn check_access(app: &TestApp, token: &str, json: &str) -> Result<String, Status> {
    app.authorization().await.check_access(with_bearer(access_request(json), token)).await.map(body)
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

/// The spec's golden fixture (§3.2.1); returns the user's token.
async fn golden_fixture(app: &TestApp) -> String {
    let token = app.db.token("frozen@example.org", None).await;
    let mut conn = app.db.conn().await;
    let user_id = 1;
    let a = Actor::System;
    ops::update_user_profile(&mut conn, a, user_id, "Frozen", "PI", false).await.unwrap();
    let group = ops::create_group(&mut conn, a, "frozen-group").await.unwrap();
    assert!(ops::add_member(&mut conn, a, user_id, "frozen-group", true).await.unwrap());
    let frozen = ops::create_dataset(&mut conn, a, "frozen", "", false).await.unwrap();
    let tos_ds = ops::create_dataset(&mut conn, a, "tos-ds", "", false).await.unwrap();
    let svc_ds = ops::create_dataset(&mut conn, a, "svc-ds", "", false).await.unwrap();
    assert_eq!((frozen.id, tos_ds.id, svc_ds.id), (1, 2, 3));
    let v1 = ops::create_version(&mut conn, a, frozen.id, "v1", &["frozen-v1"], false).await.unwrap();
    ops::grant(&mut conn, a, grant(frozen.id, Level::View, Grantee::Group(group))).await.unwrap();
    let scoped = GrantSpec { version_id: Some(v1.id), ..grant(frozen.id, Level::Edit, Grantee::User(user_id)) };
    ops::grant(&mut conn, a, scoped).await.unwrap();
    assert_eq!(ops::create_tos_document(&mut conn, a, tos("Dataset TOS", tos_ds.id)).await.unwrap(), 1);
    ops::grant(&mut conn, a, grant(tos_ds.id, Level::View, Grantee::User(user_id))).await.unwrap();
    ops::grant(&mut conn, a, grant(svc_ds.id, Level::View, Grantee::User(user_id))).await.unwrap();
    let service_tos = TosSpec { service: Some("celltyping"), ..tos("Service TOS", svc_ds.id) };
    assert_eq!(ops::create_tos_document(&mut conn, a, service_tos).await.unwrap(), 2);
    token
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn user_cache_matches_the_golden_documents_byte_for_byte() {
    let app = TestApp::start().await;
    let token = golden_fixture(&app).await;
    assert_eq!(cache_for(&app, &token, "").await, GOLDEN);
    assert_eq!(cache_for(&app, &token, "celltyping").await, GOLDEN_CELLTYPING);
    // Served again from the cache: the same bytes.
    assert_eq!(cache_for(&app, &token, "").await, GOLDEN);
    assert_eq!(cache_for(&app, &token, "no-such-service").await, GOLDEN, "unknown services match nothing");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_evict_the_cached_document() {
    let app = TestApp::start().await;
    let token = golden_fixture(&app).await;
    assert_eq!(cache_for(&app, &token, "").await, GOLDEN);
    let mut conn = app.db.conn().await;
    // Accepting the dataset TOS makes tos-ds appear and empties missing_tos.
    assert!(ops::accept_tos(&mut conn, 1, 1).await.unwrap());
    assert!(!ops::accept_tos(&mut conn, 1, 1).await.unwrap(), "a repeat is a no-op");
    let expected = r#""permissions":{"frozen":2,"tos-ds":1,"svc-ds":1}"#;
    eventually(&app, &token, |doc| doc.contains(expected) && doc.contains(r#""missing_tos":[]"#)).await;
    // An identical grant (NULL version included: UNIQUE NULLS NOT DISTINCT) is a no-op.
    assert_eq!(ops::grant(&mut conn, Actor::System, grant(2, Level::View, Grantee::User(1))).await.unwrap(), None);
    // A new direct admin grant shows up in datasets_admin.
    ops::grant(&mut conn, Actor::System, grant(3, Level::Admin, Grantee::User(1))).await.unwrap();
    eventually(&app, &token, |doc| doc.contains(r#""datasets_admin":["svc-ds"]"#)).await;
    // Every change left an audit row, newest first.
    let actions: Vec<String> = audit::list(&mut conn).await.unwrap().into_iter().map(|r| r.action).collect();
    assert_eq!(actions[..2], ["grant_created", "tos_accepted"]);
    assert_eq!(actions.iter().filter(|a| *a == "tos_accepted").count(), 1);
    for expected in ["dataset_created", "group_created", "member_added", "group_permission_created", "user_updated"] {
        assert!(actions.iter().any(|a| a == expected), "{expected} missing from {actions:?}");
    }
}

async fn eventually(app: &TestApp, token: &str, done: impl Fn(&str) -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        let doc = cache_for(app, token, "").await;
        if done(&doc) {
            return;
        }
        assert!(tokio::time::Instant::now() < deadline, "the change never showed: {doc}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn service_accounts_get_their_own_shape() {
    let app = TestApp::start().await;
    let mut conn = app.db.conn().await;
    let a = Actor::System;
    let fish = ops::create_dataset(&mut conn, a, "fish2", "", false).await.unwrap();
    let fly = ops::create_dataset(&mut conn, a, "fly", "", false).await.unwrap();
    ops::create_dataset(&mut conn, a, "open", "", true).await.unwrap();
    ops::create_tos_document(&mut conn, a, tos("Fly TOS", fly.id)).await.unwrap();
    let (sa, token) = ops::create_service_account(&mut conn, a, "ci-bot", "CI pipeline").await.unwrap();
    ops::grant(&mut conn, a, grant(fish.id, Level::View, Grantee::ServiceAccount(sa))).await.unwrap();
    ops::grant(&mut conn, a, grant(fly.id, Level::Manage, Grantee::ServiceAccount(sa))).await.unwrap();
    let expected = format!(
        r#"{{"id":{sa},"parent_id":null,"service_account":true,"name":"ci-bot","email":"ci-bot@service-account.dsg.local","admin":false,"pi":"","picture_url":"","affiliations":[],"groups":[],"groups_admin":[],"permissions":{{"fish2":1,"fly":3}},"permissions_v2":{{"fish2":["view"],"fly":["edit","manage","view"]}},"permissions_v2_ignore_tos":{{"fish2":["view"],"fly":["edit","manage","view"]}},"missing_tos":[],"datasets_admin":[]}}"#
    );
    assert_eq!(cache_for(&app, &token, "").await, expected);
    assert_eq!(cache_for(&app, &token, "celltyping").await, expected, "service is ignored");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_access_follows_the_table_in_order() {
    let app = TestApp::start().await;
    let mut conn = app.db.conn().await;
    let a = Actor::System;
    let fish = ops::create_dataset(&mut conn, a, "fish2", "", false).await.unwrap();
    let open = ops::create_dataset(&mut conn, a, "open", "", true).await.unwrap();
    let v1 = ops::create_version(&mut conn, a, fish.id, "v1", &[], false).await.unwrap();
    let terms = ops::create_tos_document(&mut conn, a, tos("Terms v1", fish.id)).await.unwrap();
    let version_terms = TosSpec { version_id: Some(v1.id), ..tos("V1 terms", fish.id) };
    let version_terms = ops::create_tos_document(&mut conn, a, version_terms).await.unwrap();
    let service_terms = TosSpec { service: Some("celltyping"), ..tos("Service TOS", fish.id) };
    let service_terms = ops::create_tos_document(&mut conn, a, service_terms).await.unwrap();

    let (sa, sa_token) = ops::create_service_account(&mut conn, a, "bot", "").await.unwrap();
    ops::grant(&mut conn, a, grant(fish.id, Level::Edit, Grantee::ServiceAccount(sa))).await.unwrap();
    let admin = app.db.token("admin@example.org", Some(Role::Admin)).await;
    let owner = app.db.token("owner@example.org", None).await;
    let reader = app.db.token("reader@example.org", None).await;
    let team = app.db.token("team@example.org", None).await;
    let nobody = app.db.token("nobody@example.org", None).await;
    let mut ids = Vec::new();
    for email in ["owner@example.org", "reader@example.org", "team@example.org"] {
        ids.push(steward::auth::store::user_by_email(&mut conn, email).await.unwrap().unwrap().id);
    }
    let (owner_id, reader_id, team_id) = (ids[0], ids[1], ids[2]);
    ops::grant(&mut conn, a, grant(fish.id, Level::Admin, Grantee::User(owner_id))).await.unwrap();
    ops::grant(&mut conn, a, grant(fish.id, Level::Manage, Grantee::User(reader_id))).await.unwrap();
    let group = ops::create_group(&mut conn, a, "team").await.unwrap();
    ops::add_member(&mut conn, a, team_id, "team", false).await.unwrap();
    ops::grant(&mut conn, a, grant(fish.id, Level::Edit, Grantee::Group(group))).await.unwrap();

    let ask = |token: &str, json: &str| {
        let (token, json) = (token.to_owned(), json.to_owned());
        let app = &app;
        async move { check_access(app, &token, &json).await }
    };
    let refused = |r: Result<String, Status>, code: Code, message: &str| {
        let status = r.unwrap_err();
        assert_eq!((status.code(), status.message()), (code, message));
    };
    // Rows, in order.
    refused(ask(&reader, r#"{"permission":"view"}"#).await, Code::InvalidArgument, "dataset is required");
    refused(ask(&reader, r#"{"dataset":"nope"}"#).await, Code::NotFound, "Dataset not found");
    refused(
        ask(&reader, r#"{"dataset":"fish2","permission":"own"}"#).await,
        Code::InvalidArgument,
        "invalid permission",
    );
    let ok = |reason: &str| format!(r#"{{"allowed":true,"reason":"{reason}"}}"#);
    let no = r#"{"allowed":false,"reason":"no_permission"}"#;
    assert_eq!(
        ask(&sa_token, r#"{"dataset":"fish2","permission":"view"}"#).await.unwrap(),
        ok("service_account_grant")
    );
    assert_eq!(ask(&sa_token, r#"{"dataset":"fish2","permission":"admin"}"#).await.unwrap(), no);
    assert_eq!(ask(&admin, r#"{"dataset":"fish2","permission":"admin"}"#).await.unwrap(), ok("admin"));
    assert_eq!(ask(&owner, r#"{"dataset":"fish2","permission":"admin"}"#).await.unwrap(), ok("dataset_admin"));
    let general = format!(r#"{{"allowed":false,"reason":"tos_required","tos_id":{terms},"tos_name":"Terms v1"}}"#);
    assert_eq!(ask(&reader, r#"{"dataset":"fish2"}"#).await.unwrap(), general);
    // No access at all is no_permission, not tos_required (DSG's defect fixed).
    assert_eq!(ask(&nobody, r#"{"dataset":"fish2"}"#).await.unwrap(), no);
    ops::accept_tos(&mut conn, reader_id, terms).await.unwrap();
    ops::accept_tos(&mut conn, team_id, terms).await.unwrap();
    let version =
        format!(r#"{{"allowed":false,"reason":"tos_required","tos_id":{version_terms},"tos_name":"V1 terms"}}"#);
    eventually_answers(&app, &reader, r#"{"dataset":"fish2","version":"v1"}"#, &version).await;
    let service = format!(
        r#"{{"allowed":false,"reason":"tos_required","tos_id":{service_terms},"tos_name":"Service TOS","service":"celltyping"}}"#
    );
    assert_eq!(ask(&reader, r#"{"dataset":"fish2","service":"celltyping"}"#).await.unwrap(), service);
    eventually_answers(&app, &team, r#"{"dataset":"fish2","permission":"edit"}"#, &ok("group_permission")).await;
    // The hierarchy applies: manage includes edit and view.
    assert_eq!(ask(&reader, r#"{"dataset":"fish2","permission":"edit"}"#).await.unwrap(), ok("direct_grant"));
    assert_eq!(ask(&reader, r#"{"dataset":"fish2","permission":"admin"}"#).await.unwrap(), no);
    assert_eq!(ask(&nobody, r#"{"dataset":"open"}"#).await.unwrap(), ok("public"));
    assert_eq!(ask(&nobody, r#"{"dataset":"open","permission":"edit"}"#).await.unwrap(), no);
    let _ = open;
}

async fn eventually_answers(app: &TestApp, token: &str, json: &str, expected: &str) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        let answer = check_access(app, token, json).await.unwrap();
        if answer == expected {
            return;
        }
        assert!(tokio::time::Instant::now() < deadline, "still {answer}, expected {expected}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn datasets_and_versions_show_only_what_the_caller_may_see() {
    let app = TestApp::start().await;
    let mut conn = app.db.conn().await;
    let a = Actor::System;
    let fish = ops::create_dataset(&mut conn, a, "fish2", "Fish", false).await.unwrap();
    let open = ops::create_dataset(&mut conn, a, "open", "", true).await.unwrap();
    let secret = ops::create_dataset(&mut conn, a, "secret", "", false).await.unwrap();
    ops::create_tos_document(&mut conn, a, tos("T", fish.id)).await.unwrap();
    let v1 = ops::create_version(&mut conn, a, fish.id, "v1", &["fish2-v1b", "fish2-v1a"], false).await.unwrap();
    let v2 = ops::create_version(&mut conn, a, fish.id, "v2", &[], true).await.unwrap();
    ops::create_version(&mut conn, a, secret.id, "s1", &["s"], false).await.unwrap();
    let user = app.db.token("user@example.org", None).await;
    let user_id = steward::auth::store::user_by_email(&mut conn, "user@example.org").await.unwrap().unwrap().id;
    ops::grant(&mut conn, a, grant(fish.id, Level::View, Grantee::User(user_id))).await.unwrap();
    let admin = app.db.token("admin@example.org", Some(Role::Admin)).await;

    let list = |token: String| {
        let app = &app;
        async move {
            let request = with_bearer(ListAccessibleDatasetsRequest {}, &token);
            app.authorization().await.list_accessible_datasets(request).await.map(body)
        }
    };
    let fish_json = format!(r#"{{"id":{},"name":"fish2","description":"Fish","has_tos":true}}"#, fish.id);
    let open_json = format!(r#"{{"id":{},"name":"open","description":"","has_tos":false}}"#, open.id);
    let secret_json = format!(r#"{{"id":{},"name":"secret","description":"","has_tos":false}}"#, secret.id);
    assert_eq!(list(user.clone()).await.unwrap(), format!("[{fish_json},{open_json}]"));
    assert_eq!(list(admin.clone()).await.unwrap(), format!("[{fish_json},{open_json},{secret_json}]"));
    let unauthenticated = list(String::new()).await.unwrap_err();
    assert_eq!(unauthenticated.code(), Code::Unauthenticated);

    let versions = |request: tonic::Request<GetDatasetVersionsRequest>| {
        let app = &app;
        async move { app.authorization().await.get_dataset_versions(request).await.map(body) }
    };
    let named = |dataset: &str| GetDatasetVersionsRequest { dataset: dataset.into() };
    let expected = format!(
        r#"[{{"id":{},"version":"v1","buckets":["fish2-v1a","fish2-v1b"],"is_public":false}},{{"id":{},"version":"v2","buckets":[],"is_public":true}}]"#,
        v1.id, v2.id
    );
    assert_eq!(versions(with_bearer(named("fish2"), &user)).await.unwrap(), expected);
    assert_eq!(versions(with_bearer(named("open"), &user)).await.unwrap(), "[]");
    assert_eq!(versions(tonic::Request::new(named("open"))).await.unwrap(), "[]", "public: anyone");
    assert!(versions(with_bearer(named("secret"), &admin)).await.unwrap().contains(r#""version":"s1""#));
    for (request, what) in [
        (with_bearer(named("secret"), &user), "no grant"),
        (with_bearer(named("nope"), &user), "unknown"),
        (tonic::Request::new(named("fish2")), "anonymous on a closed dataset"),
    ] {
        let status = versions(request).await.unwrap_err();
        assert_eq!((status.code(), status.message()), (Code::NotFound, "Dataset not found"), "{what}");
    }
    let bad = versions(with_bearer(named("open"), &"0".repeat(64))).await.unwrap_err();
    assert_eq!(bad.code(), Code::Unauthenticated, "a bad credential is never downgraded to anonymous");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn user_cache_refusals_and_the_query_token() {
    let app = TestApp::start().await;
    let token = app.db.token("alice@example.org", None).await;
    let plain = || GetUserCacheRequest { service: String::new(), dsg_token: String::new() };
    let refused = |r: Result<String, Status>, message: &str| {
        let status = r.unwrap_err();
        assert_eq!((status.code(), status.message()), (Code::Unauthenticated, message));
    };
    refused(user_cache(&app, tonic::Request::new(plain())).await, "Authentication credentials were not provided.");
    refused(user_cache(&app, with_bearer(plain(), &"0".repeat(64))).await, "Invalid or expired token.");

    // dsg_token works as a query credential, but only when no header or cookie is sent.
    let query = GetUserCacheRequest { service: String::new(), dsg_token: token.clone() };
    let doc = user_cache(&app, tonic::Request::new(query.clone())).await.unwrap();
    assert!(doc.contains(r#""email":"alice@example.org""#), "{doc}");
    refused(user_cache(&app, with_bearer(query.clone(), &"0".repeat(64))).await, "Invalid or expired token.");
    let cookie = with_header(query, "cookie", &format!("dsg_token={}", "1".repeat(64)));
    refused(user_cache(&app, cookie).await, "Invalid or expired token.");
    let bad_query = GetUserCacheRequest { service: String::new(), dsg_token: "2".repeat(64) };
    refused(user_cache(&app, tonic::Request::new(bad_query)).await, "Invalid or expired token.");

    let mut conn = app.db.conn().await;
    auth_ops::set_user_active(&mut conn, "alice@example.org", false).await.unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        match user_cache(&app, with_bearer(plain(), &token)).await {
            Err(status) => {
                assert_eq!((status.code(), status.message()), (Code::Unauthenticated, "User account is disabled."));
                break;
            }
            Ok(_) => assert!(tokio::time::Instant::now() < deadline, "disabling never took effect"),
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let check = app.authorization().await.check_access(tonic::Request::new(access_request(r#"{"dataset":"x"}"#))).await;
    assert_eq!(check.unwrap_err().code(), Code::Unauthenticated);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scim_ids_are_uuid5_of_type_and_id() {
    let db = crate::common::TestDb::new().await;
    db.token("first@example.org", None).await;
    let mut conn = db.conn().await;
    let scim: String =
        users::table.filter(users::id.eq(1)).select(sql::<Text>("scim_id::text")).first(&mut conn).await.unwrap();
    assert_eq!(scim, "9758580c-ec91-5fa7-a75c-563a2786f558");
}
