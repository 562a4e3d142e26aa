//! Acceptance scenarios of the dataset spec (§8) that other tests covered
//! only in part (see docs/ACCEPTANCE.md), each end to end through the real
//! server: general and service TOS together, retired and future service TOS,
//! `datasets_admin`, groups and the global-admin flag in `user/cache`,
//! refused credentials on `user/cache`, minted tokens nowhere in the
//! database, `create_token`'s default description, `datasets` for every kind
//! of caller, version-scoped, `read_only` and public-TOS `check-access`
//! answers, and `AcceptTos` on closed and public datasets. Each test names
//! its scenarios.

use std::time::Duration;

use chrono::Utc;
use diesel::sql_types::Text;
use diesel::{ExpressionMethods as _, QueryDsl as _};
use diesel_async::RunQueryDsl as _;
use steward::auth::Role;
use steward::auth::ops as auth_ops;
use steward::auth::token;
use steward::dataset::audit::{self, Actor, AuditRow};
use steward::dataset::ops::{self, GrantSpec, Grantee, TosSpec};
use steward::dataset::permissions::Level;
use steward::db::schema::{audit_log, grants, tos_acceptances};
use steward::proto::authorization::v1::{
    CheckAccessRequest, CreateTokenRequest, GetLongLivedTokenRequest, GetUserCacheRequest,
    ListAccessibleDatasetsRequest, ListUserTokensRequest, RotateLongLivedTokenRequest, WhoAmIJsonRequest,
};
use steward::proto::dataset::v1 as pb;
use steward::proto::dataset::v1::dataset_service_client::DatasetServiceClient;
use steward::proto::google::api::HttpBody;
use tonic::transport::Channel;
use tonic::{Code, Status};

use crate::common::{TestApp, with_bearer};

const NO_PERMISSION: &str = r#"{"allowed":false,"reason":"no_permission"}"#;
const INVALID: &str = "Invalid or expired token.";

fn text(reply: tonic::Response<HttpBody>) -> String {
    let reply = reply.into_inner();
    assert_eq!(reply.content_type, "application/json");
    String::from_utf8(reply.data).expect("utf-8 JSON")
}

fn json_body(json: &str) -> Option<HttpBody> {
    Some(HttpBody { content_type: "application/json".into(), data: json.as_bytes().to_vec(), extensions: vec![] })
}

fn cache_request(service: &str) -> GetUserCacheRequest {
    GetUserCacheRequest { service: service.into(), dsg_token: String::new() }
}

async fn user_cache(app: &TestApp, request: tonic::Request<GetUserCacheRequest>) -> Result<String, Status> {
    app.authorization().await.get_user_cache(request).await.map(text)
}

/// `GET /api/v1/user/cache[?service=…]` with a Bearer token.
async fn cache(app: &TestApp, token: &str, service: &str) -> String {
    user_cache(app, with_bearer(cache_request(service), token)).await.expect("user/cache")
}

/// Polls `user/cache` until it is exactly `expected`: writes reach the
/// permission cache by NOTIFY, within milliseconds.
async fn eventually_cache(app: &TestApp, token: &str, service: &str, expected: &str) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        let doc = cache(app, token, service).await;
        if doc == expected {
            return;
        }
        assert!(tokio::time::Instant::now() < deadline, "still\n{doc}\nexpected\n{expected}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The whole `user/cache` document of a user without profile, affiliations
/// or groups (name = the e-mail's local part); `rest` starts at `permissions`.
fn plain_user(id: i64, email: &str, rest: &str) -> String {
    let name = email.split('@').next().unwrap();
    format!(
        r#"{{"id":{id},"parent_id":null,"service_account":false,"name":"{name}","email":"{email}","admin":false,"pi":"","picture_url":"","affiliations":[],"groups":[],"groups_admin":[],{rest}}}"#
    )
}

/// `POST /api/v1/check-access` with a JSON body.
async fn check_access(app: &TestApp, token: &str, json: &str) -> String {
    let request = CheckAccessRequest { body: json_body(json) };
    app.authorization().await.check_access(with_bearer(request, token)).await.map(text).expect("check-access")
}

async fn eventually_answers(app: &TestApp, token: &str, json: &str, expected: &str) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        let answer = check_access(app, token, json).await;
        if answer == expected {
            return;
        }
        assert!(tokio::time::Instant::now() < deadline, "still {answer}, expected {expected}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn allowed(reason: &str) -> String {
    format!(r#"{{"allowed":true,"reason":"{reason}"}}"#)
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

async fn datasets_client(app: &TestApp) -> DatasetServiceClient<Channel> {
    DatasetServiceClient::new(app.channel().await)
}

/// `AcceptTos` as the holder of `token`.
async fn accept(
    app: &TestApp,
    token: &str,
    document: pb::accept_tos_request::Document,
) -> Result<pb::AcceptTosResponse, Status> {
    let request = with_bearer(pb::AcceptTosRequest { document: Some(document) }, token);
    datasets_client(app).await.accept_tos(request).await.map(tonic::Response::into_inner)
}

async fn audit_rows(app: &TestApp) -> Vec<AuditRow> {
    audit::list(&mut *app.db.conn().await).await.unwrap()
}

/// (acceptances, grants, audit rows) in the whole database.
async fn row_counts(app: &TestApp) -> (i64, i64, i64) {
    let mut conn = app.db.conn().await;
    let acceptances = tos_acceptances::table.count().get_result(&mut conn).await.unwrap();
    let grants = grants::table.count().get_result(&mut conn).await.unwrap();
    let audit = audit_log::table.count().get_result(&mut conn).await.unwrap();
    (acceptances, grants, audit)
}

async fn acceptances_of(app: &TestApp, user: i64, document: i64) -> i64 {
    tos_acceptances::table
        .filter(tos_acceptances::user_id.eq(user))
        .filter(tos_acceptances::tos_document_id.eq(document))
        .count()
        .get_result(&mut *app.db.conn().await)
        .await
        .unwrap()
}

fn timestamp(at: chrono::DateTime<Utc>) -> Option<prost_types::Timestamp> {
    Some(prost_types::Timestamp { seconds: at.timestamp(), nanos: 0 })
}

/// Scenario 13: with `?service=celltyping`, a dataset with both a general and
/// a celltyping TOS stays out of `permissions_v2` until both are accepted,
/// whichever is accepted first; `missing_tos` lists what is still pending.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn general_and_service_terms_both_gate_a_dataset_until_both_are_accepted() {
    let app = TestApp::start().await;
    let alice = app.db.token("alice@example.org", None).await;
    let bob = app.db.token("bob@example.org", None).await;
    let (alice_id, bob_id) = (user_id(&app, "alice@example.org").await, user_id(&app, "bob@example.org").await);
    let mut conn = app.db.conn().await;
    let a = Actor::System;
    let fish = ops::create_dataset(&mut conn, a, "fish2", "", false).await.unwrap();
    ops::grant(&mut conn, a, grant(fish.id, Level::View, Grantee::User(alice_id))).await.unwrap();
    ops::grant(&mut conn, a, grant(fish.id, Level::View, Grantee::User(bob_id))).await.unwrap();
    let general = ops::create_tos_document(&mut conn, a, tos("Fish terms", fish.id)).await.unwrap();
    let service_spec = TosSpec { service: Some("celltyping"), ..tos("Celltyping terms", fish.id) };
    let service = ops::create_tos_document(&mut conn, a, service_spec).await.unwrap();

    let general_entry =
        format!(r#"{{"dataset_id":{},"dataset_name":"fish2","tos_id":{general},"tos_name":"Fish terms"}}"#, fish.id);
    let service_entry = format!(
        r#"{{"dataset_id":{},"dataset_name":"fish2","tos_id":{service},"tos_name":"Celltyping terms","service":"celltyping"}}"#,
        fish.id
    );
    let hidden = |id: i64, email: &str, missing: &str| {
        let rest = format!(
            r#""permissions":{{}},"permissions_v2":{{}},"permissions_v2_ignore_tos":{{"fish2":["view"]}},"missing_tos":[{missing}],"datasets_admin":[]"#
        );
        plain_user(id, email, &rest)
    };
    let shown = |id: i64, email: &str| {
        let rest = r#""permissions":{"fish2":1},"permissions_v2":{"fish2":["view"]},"permissions_v2_ignore_tos":{"fish2":["view"]},"missing_tos":[],"datasets_admin":[]"#;
        plain_user(id, email, rest)
    };
    let both = format!("{general_entry},{service_entry}");
    for (id, email, token) in [(alice_id, "alice@example.org", &alice), (bob_id, "bob@example.org", &bob)] {
        assert_eq!(cache(&app, token, "celltyping").await, hidden(id, email, &both));
        assert_eq!(cache(&app, token, "").await, hidden(id, email, &general_entry));
    }

    // Alice accepts the general TOS first: visible without the service, still hidden through it.
    accept(&app, &alice, pb::accept_tos_request::Document::Id(general)).await.unwrap();
    eventually_cache(&app, &alice, "", &shown(alice_id, "alice@example.org")).await;
    assert_eq!(cache(&app, &alice, "celltyping").await, hidden(alice_id, "alice@example.org", &service_entry));
    accept(&app, &alice, pb::accept_tos_request::Document::Id(service)).await.unwrap();
    eventually_cache(&app, &alice, "celltyping", &shown(alice_id, "alice@example.org")).await;

    // Bob accepts the service TOS first: still hidden both ways until the general one.
    accept(&app, &bob, pb::accept_tos_request::Document::Id(service)).await.unwrap();
    eventually_cache(&app, &bob, "celltyping", &hidden(bob_id, "bob@example.org", &general_entry)).await;
    assert_eq!(cache(&app, &bob, "").await, hidden(bob_id, "bob@example.org", &general_entry));
    accept(&app, &bob, pb::accept_tos_request::Document::Id(general)).await.unwrap();
    eventually_cache(&app, &bob, "celltyping", &shown(bob_id, "bob@example.org")).await;
    assert_eq!(cache(&app, &bob, "").await, shown(bob_id, "bob@example.org"));
}

/// Scenario 12: a celltyping TOS that is not yet effective, or that an admin
/// retires, hides nothing and is not listed with `?service=celltyping`, in
/// `user/cache` and in `check-access`; an active one on another dataset
/// (the control) still hides its dataset.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retired_and_future_service_terms_hide_nothing() {
    let app = TestApp::start().await;
    let carol = app.db.token("carol@example.org", None).await;
    let root = app.db.token("root@example.org", Some(Role::Admin)).await;
    let carol_id = user_id(&app, "carol@example.org").await;
    let mut conn = app.db.conn().await;
    let a = Actor::System;
    let mut ids = Vec::new();
    for name in ["retired-ds", "future-ds", "active-ds"] {
        let dataset = ops::create_dataset(&mut conn, a, name, "", false).await.unwrap();
        ops::grant(&mut conn, a, grant(dataset.id, Level::View, Grantee::User(carol_id))).await.unwrap();
        ids.push(dataset.id);
    }
    let mut admin = datasets_client(&app).await;
    let service_terms = |name: &str, dataset: &str, effective_time| pb::CreateTosDocumentRequest {
        name: name.into(),
        text: "Be nice.".into(),
        dataset: dataset.into(),
        service: "celltyping".into(),
        effective_time,
        ..Default::default()
    };
    let mut create = async |request: pb::CreateTosDocumentRequest| {
        let reply = admin.create_tos_document(with_bearer(request, &root)).await.unwrap();
        reply.into_inner().document.unwrap().id
    };
    let retired = create(service_terms("Old terms", "retired-ds", None)).await;
    let tomorrow = timestamp(Utc::now() + chrono::Duration::days(1));
    create(service_terms("Future terms", "future-ds", tomorrow)).await;
    let active = create(service_terms("Active terms", "active-ds", None)).await;

    let entry = |dataset_id: i64, name: &str, tos_id: i64, tos_name: &str| {
        format!(
            r#"{{"dataset_id":{dataset_id},"dataset_name":"{name}","tos_id":{tos_id},"tos_name":"{tos_name}","service":"celltyping"}}"#
        )
    };
    let retired_entry = entry(ids[0], "retired-ds", retired, "Old terms");
    let active_entry = entry(ids[2], "active-ds", active, "Active terms");
    let ignore_tos = r#""permissions_v2_ignore_tos":{"retired-ds":["view"],"future-ds":["view"],"active-ds":["view"]}"#;
    let email = "carol@example.org";
    let before = plain_user(
        carol_id,
        email,
        &format!(
            r#""permissions":{{"future-ds":1}},"permissions_v2":{{"future-ds":["view"]}},{ignore_tos},"missing_tos":[{retired_entry},{active_entry}],"datasets_admin":[]"#
        ),
    );
    assert_eq!(cache(&app, &carol, "celltyping").await, before);
    let everything = plain_user(
        carol_id,
        email,
        &format!(
            r#""permissions":{{"retired-ds":1,"future-ds":1,"active-ds":1}},"permissions_v2":{{"retired-ds":["view"],"future-ds":["view"],"active-ds":["view"]}},{ignore_tos},"missing_tos":[],"datasets_admin":[]"#
        ),
    );
    assert_eq!(cache(&app, &carol, "").await, everything, "no effect without ?service=");

    // An admin retires the old terms: they stop hiding their dataset at once.
    let retire = pb::UpdateTosDocumentRequest {
        id: retired,
        retire_time: timestamp(Utc::now() - chrono::Duration::minutes(1)),
        ..Default::default()
    };
    datasets_client(&app).await.update_tos_document(with_bearer(retire, &root)).await.unwrap();
    let after = plain_user(
        carol_id,
        email,
        &format!(
            r#""permissions":{{"retired-ds":1,"future-ds":1}},"permissions_v2":{{"retired-ds":["view"],"future-ds":["view"]}},{ignore_tos},"missing_tos":[{active_entry}],"datasets_admin":[]"#
        ),
    );
    eventually_cache(&app, &carol, "celltyping", &after).await;
    assert_eq!(cache(&app, &carol, "").await, everything);

    for dataset in ["retired-ds", "future-ds"] {
        let ask = format!(r#"{{"dataset":"{dataset}","service":"celltyping"}}"#);
        assert_eq!(check_access(&app, &carol, &ask).await, allowed("direct_grant"), "{dataset}");
    }
    let ask = r#"{"dataset":"active-ds","service":"celltyping"}"#;
    let required = format!(
        r#"{{"allowed":false,"reason":"tos_required","tos_id":{active},"tos_name":"Active terms","service":"celltyping"}}"#
    );
    assert_eq!(check_access(&app, &carol, ask).await, required);
}

/// Scenario 16: `datasets_admin` lists the datasets of direct `admin` user
/// grants (any version scope, TOS not applied, in dataset-id order), and not
/// a dataset where `admin` comes only from a group grant nor one managed;
/// `whoami` agrees.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn datasets_admin_lists_direct_admin_grants_and_never_group_ones() {
    let app = TestApp::start().await;
    let dana = app.db.token("dana@example.org", None).await;
    let dana_id = user_id(&app, "dana@example.org").await;
    let mut conn = app.db.conn().await;
    let a = Actor::System;
    let lab = ops::create_group(&mut conn, a, "lab").await.unwrap();
    ops::add_member(&mut conn, a, dana_id, "lab", false).await.unwrap();
    let mut ids = Vec::new();
    for name in ["group-admin", "direct-admin", "scoped-admin", "terms-admin", "managed"] {
        ids.push(ops::create_dataset(&mut conn, a, name, "", false).await.unwrap().id);
    }
    ops::grant(&mut conn, a, grant(ids[0], Level::Admin, Grantee::Group(lab))).await.unwrap();
    ops::grant(&mut conn, a, grant(ids[1], Level::Admin, Grantee::User(dana_id))).await.unwrap();
    let v1 = ops::create_version(&mut conn, a, ids[2], "v1", &[], false).await.unwrap();
    let scoped = GrantSpec { version_id: Some(v1.id), ..grant(ids[2], Level::Admin, Grantee::User(dana_id)) };
    ops::grant(&mut conn, a, scoped).await.unwrap();
    ops::grant(&mut conn, a, grant(ids[3], Level::Admin, Grantee::User(dana_id))).await.unwrap();
    let terms = ops::create_tos_document(&mut conn, a, tos("Admin terms", ids[3])).await.unwrap();
    ops::grant(&mut conn, a, grant(ids[4], Level::Manage, Grantee::User(dana_id))).await.unwrap();

    let all = r#"["admin","edit","manage","view"]"#;
    let expected = format!(
        concat!(
            r#"{{"id":{id},"parent_id":null,"service_account":false,"name":"dana","email":"dana@example.org","admin":false,"pi":"","picture_url":"","affiliations":[],"groups":["lab"],"groups_admin":[],"#,
            r#""permissions":{{"group-admin":4,"direct-admin":4,"scoped-admin":4,"managed":3}},"#,
            r#""permissions_v2":{{"group-admin":{all},"direct-admin":{all},"scoped-admin":{all},"managed":["edit","manage","view"]}},"#,
            r#""permissions_v2_ignore_tos":{{"group-admin":{all},"direct-admin":{all},"scoped-admin":{all},"terms-admin":{all},"managed":["edit","manage","view"]}},"#,
            r#""missing_tos":[{{"dataset_id":{terms_ds},"dataset_name":"terms-admin","tos_id":{terms},"tos_name":"Admin terms"}}],"#,
            r#""datasets_admin":["direct-admin","scoped-admin","terms-admin"]}}"#,
        ),
        id = dana_id,
        all = all,
        terms_ds = ids[3],
        terms = terms,
    );
    assert_eq!(cache(&app, &dana, "").await, expected);
    let whoami = app.authorization().await.who_am_i_json(with_bearer(WhoAmIJsonRequest {}, &dana)).await;
    let whoami = text(whoami.unwrap());
    assert!(whoami.ends_with(r#""datasets_admin":["direct-admin","scoped-admin","terms-admin"]}"#), "{whoami}");
}

/// Scenario 17: `groups` lists every membership and `groups_admin` the ones
/// flagged group admin, both in group-id order and following changes; a
/// member of group `admin` gets `"admin":true` (and `admin` among `groups`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn user_cache_shows_groups_group_admin_flags_and_global_admins() {
    let app = TestApp::start().await;
    let erin = app.db.token("erin@example.org", None).await;
    let root = app.db.token("root@example.org", Some(Role::Admin)).await;
    let erin_id = user_id(&app, "erin@example.org").await;
    let mut conn = app.db.conn().await;
    let a = Actor::System;
    // Created in this order so that id order differs from name order.
    for group in ["zeta", "alpha", "mid"] {
        ops::create_group(&mut conn, a, group).await.unwrap();
    }
    ops::add_member(&mut conn, a, erin_id, "zeta", false).await.unwrap();
    ops::add_member(&mut conn, a, erin_id, "alpha", true).await.unwrap();

    let head = |admin: bool, groups: &str, groups_admin: &str| {
        format!(
            r#"{{"id":{erin_id},"parent_id":null,"service_account":false,"name":"erin","email":"erin@example.org","admin":{admin},"pi":"","picture_url":"","affiliations":[],"groups":[{groups}],"groups_admin":[{groups_admin}],"permissions":{{}},"permissions_v2":{{}},"permissions_v2_ignore_tos":{{}},"missing_tos":[],"datasets_admin":[]}}"#
        )
    };
    assert_eq!(cache(&app, &erin, "").await, head(false, r#""zeta","alpha""#, r#""alpha""#));

    // Becoming group admin of zeta and joining mid show on the next documents.
    ops::add_member(&mut conn, a, erin_id, "zeta", true).await.unwrap();
    ops::add_member(&mut conn, a, erin_id, "mid", false).await.unwrap();
    eventually_cache(&app, &erin, "", &head(false, r#""zeta","alpha","mid""#, r#""zeta","alpha""#)).await;

    // Joining group admin makes a global admin.
    app.db.token("erin@example.org", Some(Role::Admin)).await;
    eventually_cache(&app, &erin, "", &head(true, r#""admin","zeta","alpha","mid""#, r#""zeta","alpha""#)).await;
    let doc = cache(&app, &root, "").await;
    assert!(
        doc.contains(r#""admin":true,"pi":"","picture_url":"","affiliations":[],"groups":["admin"],"groups_admin":[]"#),
        "{doc}"
    );
}

/// Scenario 25: `user/cache` answers 401 (UNAUTHENTICATED) to no credential,
/// an unknown token, an expired login token (never used, or used and cached
/// before it expired, also as `?dsg_token=`), and a revoked token (unused, or
/// used and cached); the user's other tokens keep working.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn user_cache_refuses_missing_unknown_expired_and_revoked_tokens() {
    let app = TestApp::start().await;
    let (kept_id, kept) = app
        .db
        .token_with(auth_ops::TokenRequest {
            email: "frank@example.org".into(),
            role: None,
            description: "kept".into(),
            expires_in: None,
        })
        .await;
    let frank_id = user_id(&app, "frank@example.org").await;
    let refused = |result: Result<String, Status>, message: &str, what: &str| {
        let status = result.expect_err(what);
        assert_eq!((status.code(), status.message()), (Code::Unauthenticated, message), "{what}");
    };

    refused(
        user_cache(&app, tonic::Request::new(cache_request(""))).await,
        "Authentication credentials were not provided.",
        "no credential",
    );
    refused(user_cache(&app, with_bearer(cache_request(""), &"c".repeat(64))).await, INVALID, "unknown token");

    // Login tokens come from sign-in (issue 9); written here as sign-in writes them.
    let login_token = |expires_at: chrono::DateTime<Utc>| {
        let app = &app;
        async move {
            let (plain, hash) = token::generate();
            let new = steward::auth::store::NewToken {
                token_hash: &hash.0,
                kind: "login",
                user_id: Some(frank_id),
                service_account_id: None,
                description: "OAuth login token",
                expires_at: Some(expires_at),
                created_by_user_id: None,
            };
            steward::auth::store::insert_token(&mut *app.db.conn().await, new).await.unwrap();
            plain
        }
    };
    let stale = login_token(Utc::now() - chrono::Duration::seconds(1)).await;
    refused(user_cache(&app, with_bearer(cache_request(""), &stale)).await, INVALID, "expired login token");

    // Used while valid, so cached; refused once its time is up, with no write to evict it.
    let expires_at = Utc::now() + chrono::Duration::seconds(3);
    let expiring = login_token(expires_at).await;
    let doc = cache(&app, &expiring, "").await;
    assert!(doc.starts_with(&format!(r#"{{"id":{frank_id},"#)), "{doc}");
    tokio::time::sleep((expires_at - Utc::now()).to_std().unwrap_or_default() + Duration::from_millis(200)).await;
    refused(user_cache(&app, with_bearer(cache_request(""), &expiring)).await, INVALID, "expired after use");
    let query = GetUserCacheRequest { service: String::new(), dsg_token: expiring.clone() };
    refused(user_cache(&app, tonic::Request::new(query)).await, INVALID, "expired, as ?dsg_token=");

    // Revoked: one never used, one used (and cached) before the revocation.
    let (unused_id, unused) = app
        .db
        .token_with(auth_ops::TokenRequest {
            email: "frank@example.org".into(),
            role: None,
            description: "unused".into(),
            expires_in: None,
        })
        .await;
    let (used_id, used) = app
        .db
        .token_with(auth_ops::TokenRequest {
            email: "frank@example.org".into(),
            role: None,
            description: "used".into(),
            expires_in: None,
        })
        .await;
    cache(&app, &used, "").await;
    let mut conn = app.db.conn().await;
    auth_ops::revoke_token(&mut conn, unused_id).await.unwrap();
    auth_ops::revoke_token(&mut conn, used_id).await.unwrap();
    refused(user_cache(&app, with_bearer(cache_request(""), &unused)).await, INVALID, "revoked, never used");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        match user_cache(&app, with_bearer(cache_request(""), &used)).await {
            Err(status) => {
                assert_eq!((status.code(), status.message()), (Code::Unauthenticated, INVALID));
                break;
            }
            Ok(_) => assert!(tokio::time::Instant::now() < deadline, "the revocation never took effect"),
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    let doc = cache(&app, &kept, "").await;
    assert!(doc.contains(r#""email":"frank@example.org""#), "token {kept_id} still works: {doc}");
}

#[derive(diesel::QueryableByName)]
struct Value {
    #[diesel(sql_type = Text)]
    value: String,
}

/// Every row of every table in the database as text (`row::text`, which
/// shows `bytea` as hex), plus every `bytea` value decoded as text: what a
/// dump of the database would show. Returns the tables read and the dump.
async fn dump_database(app: &TestApp) -> (Vec<String>, String) {
    let mut conn = app.db.conn().await;
    let user_schemas = "table_schema NOT IN ('pg_catalog', 'information_schema')";
    let tables: Vec<Value> = diesel::sql_query(format!(
        "SELECT table_schema || '.' || table_name AS value FROM information_schema.tables \
         WHERE table_type = 'BASE TABLE' AND {user_schemas} ORDER BY 1"
    ))
    .load(&mut conn)
    .await
    .unwrap();
    let queries: Vec<Value> = diesel::sql_query(format!(
        "SELECT format('SELECT t::text AS value FROM %I.%I t', table_schema, table_name) AS value \
           FROM information_schema.tables WHERE table_type = 'BASE TABLE' AND {user_schemas} \
         UNION ALL \
         SELECT format('SELECT encode(%I, ''escape'') AS value FROM %I.%I WHERE %I IS NOT NULL', \
                       column_name, table_schema, table_name, column_name) \
           FROM information_schema.columns WHERE data_type = 'bytea' AND {user_schemas}"
    ))
    .load(&mut conn)
    .await
    .unwrap();
    let mut dump = String::new();
    for query in queries {
        let rows: Vec<Value> = diesel::sql_query(&query.value).load(&mut conn).await.expect(&query.value);
        for row in rows {
            dump.push_str(&row.value);
            dump.push('\n');
        }
    }
    (tables.into_iter().map(|t| t.value).collect(), dump)
}

/// Scenario 28: tokens of every kind a user or an admin can mint (API
/// tokens from the CLI and `create_token`, the derived long-lived token
/// before and after rotation, service-account tokens), each 64 lowercase hex
/// characters and each used, occur nowhere in the database: not in any
/// column of any table (audit log, job payloads included), in neither case,
/// nor as the text of a `bytea`. Their SHA-256 is there (the dump is real).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn minted_tokens_occur_nowhere_in_a_dump_of_the_database() {
    use steward::proto::authorization::v1::WhoAmIRequest;
    let app = TestApp::start().await;
    let gina = app.db.token("gina@example.org", None).await;
    let root = app.db.token("root@example.org", Some(Role::Admin)).await;
    let mut authorization = app.authorization().await;
    let mut tokens = vec![gina.clone(), root.clone()];

    let created = authorization.create_token(with_bearer(CreateTokenRequest { body: None }, &gina)).await.unwrap();
    tokens.push(serde_json::from_str(&text(created)).unwrap());
    let long_lived = |response: tonic::Response<HttpBody>| {
        let value: serde_json::Value = serde_json::from_str(&text(response)).unwrap();
        value["token"].as_str().unwrap().to_owned()
    };
    let first = authorization.get_long_lived_token(with_bearer(GetLongLivedTokenRequest {}, &gina)).await.unwrap();
    tokens.push(long_lived(first));
    let rotated =
        authorization.rotate_long_lived_token(with_bearer(RotateLongLivedTokenRequest {}, &gina)).await.unwrap();
    tokens.push(long_lived(rotated));

    let mut datasets = datasets_client(&app).await;
    let account = pb::CreateServiceAccountRequest {
        name: "pipeline".into(),
        description: "Nightly".into(),
        request_id: String::new(),
    };
    datasets.create_service_account(with_bearer(account, &root)).await.unwrap();
    let mint = pb::CreateServiceAccountTokenRequest { name: "pipeline".into(), description: "ci".into() };
    tokens.push(datasets.create_service_account_token(with_bearer(mint, &root)).await.unwrap().into_inner().token);
    let (_, bot) = ops::create_service_account(&mut *app.db.conn().await, Actor::System, "ci-bot", "CI").await.unwrap();
    tokens.push(bot);

    for (i, token) in tokens.iter().enumerate() {
        assert!(token::is_well_formed(token), "token {i} is not 64 lowercase hex characters");
        // Used, so every table that records use (last_used, caches, audit) has seen it.
        if i != 3 {
            cache(&app, token, "").await;
            authorization.who_am_i(with_bearer(WhoAmIRequest {}, token)).await.unwrap();
        }
    }

    let (tables, dump) = dump_database(&app).await;
    for table in ["public.api_tokens", "public.audit_log", "public.jobs", "public.users"] {
        assert!(tables.iter().any(|t| t == table), "{table} not dumped: {tables:?}");
    }
    assert!(dump.contains("gina@example.org") && dump.contains("pipeline"), "the dump has the data");
    for (i, token) in tokens.iter().enumerate() {
        assert!(dump.contains(&token::hex(&token::hash(token).0)), "token {i}'s hash is stored");
        assert!(!dump.contains(token.as_str()), "token {i} occurs in the database");
        assert!(!dump.contains(&token.to_uppercase()), "token {i} occurs in the database (upper case)");
    }
}

/// Scenario 29: `create_token` without a description (no body, an empty
/// body, `{}`) names the token `API token`, in `user/token` and in the audit
/// log; each call returns a different bare JSON string that works as a
/// Bearer token.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_token_defaults_the_description_to_api_token() {
    use steward::proto::authorization::v1::WhoAmIRequest;
    let app = TestApp::start().await;
    let hank = app.db.token("hank@example.org", None).await;
    let mut client = app.authorization().await;
    let mut minted = Vec::new();
    for body in [None, json_body(""), json_body("{}"), json_body(r#"{"description":"laptop"}"#)] {
        let reply = text(client.create_token(with_bearer(CreateTokenRequest { body }, &hank)).await.unwrap());
        assert!(reply.starts_with('"') && reply.ends_with('"'), "a bare JSON string: {reply}");
        let token: String = serde_json::from_str(&reply).unwrap();
        assert!(token::is_well_formed(&token));
        let me = client.who_am_i(with_bearer(WhoAmIRequest {}, &token)).await.unwrap().into_inner();
        assert_eq!(me.email, "hank@example.org");
        assert!(!minted.contains(&token), "every call mints a new token");
        minted.push(token);
    }

    let list = text(client.list_user_tokens(with_bearer(ListUserTokensRequest {}, &hank)).await.unwrap());
    let rows: Vec<serde_json::Value> = serde_json::from_str(&list).unwrap();
    let descriptions: Vec<&str> = rows.iter().map(|r| r["description"].as_str().unwrap()).collect();
    assert_eq!(descriptions, ["laptop", "API token", "API token", "API token", "test"], "newest first: {list}");
    let audited: Vec<serde_json::Value> = audit_rows(&app)
        .await
        .into_iter()
        .rev()
        .filter(|r| r.action == "api_token_created")
        .map(|r| r.after_state.unwrap())
        .collect();
    let expected = |description: &str| serde_json::json!({"user": "hank@example.org", "description": description});
    assert_eq!(audited, [expected("API token"), expected("API token"), expected("API token"), expected("laptop")]);
}

/// Scenario 48: `datasets` lists, in id order with `has_tos`, a user's
/// group-grant datasets (version-scoped too, TOS not applied) and public
/// ones; a dataset admin's dataset; only granted datasets (no public ones)
/// for a service account; everything for a global admin.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn datasets_lists_what_each_kind_of_caller_holds() {
    let app = TestApp::start().await;
    let member = app.db.token("member@example.org", None).await;
    let keeper = app.db.token("keeper@example.org", None).await;
    let root = app.db.token("root@example.org", Some(Role::Admin)).await;
    let (member_id, keeper_id) = (user_id(&app, "member@example.org").await, user_id(&app, "keeper@example.org").await);
    let mut conn = app.db.conn().await;
    let a = Actor::System;
    let lab = ops::create_group(&mut conn, a, "lab").await.unwrap();
    ops::add_member(&mut conn, a, member_id, "lab", false).await.unwrap();
    let mut ids = Vec::new();
    for (name, public) in [
        ("lab-ds", false),
        ("scoped-ds", false),
        ("kept-ds", false),
        ("bot-ds", false),
        ("open", true),
        ("secret", false),
        ("terms-ds", false),
    ] {
        ids.push(ops::create_dataset(&mut conn, a, name, &format!("{name} data"), public).await.unwrap().id);
    }
    ops::grant(&mut conn, a, grant(ids[0], Level::View, Grantee::Group(lab))).await.unwrap();
    let v1 = ops::create_version(&mut conn, a, ids[1], "v1", &[], false).await.unwrap();
    let scoped = GrantSpec { version_id: Some(v1.id), ..grant(ids[1], Level::Edit, Grantee::Group(lab)) };
    ops::grant(&mut conn, a, scoped).await.unwrap();
    ops::grant(&mut conn, a, grant(ids[2], Level::Admin, Grantee::User(keeper_id))).await.unwrap();
    let (bot_id, bot) = ops::create_service_account(&mut conn, a, "bot", "").await.unwrap();
    ops::grant(&mut conn, a, grant(ids[3], Level::View, Grantee::ServiceAccount(bot_id))).await.unwrap();
    ops::grant(&mut conn, a, grant(ids[6], Level::View, Grantee::Group(lab))).await.unwrap();
    ops::create_tos_document(&mut conn, a, tos("Terms", ids[6])).await.unwrap();

    let names = ["lab-ds", "scoped-ds", "kept-ds", "bot-ds", "open", "secret", "terms-ds"];
    let listed = |which: &[usize]| {
        let entries: Vec<String> = which
            .iter()
            .map(|&i| {
                let (id, name) = (ids[i], names[i]);
                format!(r#"{{"id":{id},"name":"{name}","description":"{name} data","has_tos":{}}}"#, i == 6)
            })
            .collect();
        format!("[{}]", entries.join(","))
    };
    let list = |token: String| {
        let app = &app;
        async move {
            let request = with_bearer(ListAccessibleDatasetsRequest {}, &token);
            text(app.authorization().await.list_accessible_datasets(request).await.unwrap())
        }
    };
    assert_eq!(list(member).await, listed(&[0, 1, 4, 6]), "group grants, any version, TOS ignored, public");
    assert_eq!(list(keeper).await, listed(&[2, 4]), "a dataset admin");
    assert_eq!(list(bot).await, listed(&[3]), "a service account: its grants only");
    assert_eq!(list(root).await, listed(&[0, 1, 2, 3, 4, 5, 6]), "a global admin: everything");
}

/// Scenario 53: a grant scoped to `v1` allows `version:"v1"` and denies
/// `version:"v2"` (and unknown versions), for a user's direct grant, a group
/// grant and a service account's grant alike.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_version_scoped_grant_allows_that_version_only() {
    let app = TestApp::start().await;
    let ivy = app.db.token("ivy@example.org", None).await;
    let jack = app.db.token("jack@example.org", None).await;
    let (ivy_id, jack_id) = (user_id(&app, "ivy@example.org").await, user_id(&app, "jack@example.org").await);
    let mut conn = app.db.conn().await;
    let a = Actor::System;
    let fish = ops::create_dataset(&mut conn, a, "fish2", "", false).await.unwrap();
    let v1 = ops::create_version(&mut conn, a, fish.id, "v1", &["fish2-v1"], false).await.unwrap();
    ops::create_version(&mut conn, a, fish.id, "v2", &["fish2-v2"], false).await.unwrap();
    let lab = ops::create_group(&mut conn, a, "lab").await.unwrap();
    ops::add_member(&mut conn, a, jack_id, "lab", false).await.unwrap();
    let (bot_id, bot) = ops::create_service_account(&mut conn, a, "bot", "").await.unwrap();
    for grantee in [Grantee::User(ivy_id), Grantee::Group(lab), Grantee::ServiceAccount(bot_id)] {
        let scoped = GrantSpec { version_id: Some(v1.id), ..grant(fish.id, Level::View, grantee) };
        ops::grant(&mut conn, a, scoped).await.unwrap();
    }

    for (token, reason) in [(&ivy, "direct_grant"), (&jack, "group_permission"), (&bot, "service_account_grant")] {
        let v1 = r#"{"dataset":"fish2","version":"v1","permission":"view"}"#;
        assert_eq!(check_access(&app, token, v1).await, allowed(reason), "{reason} on v1");
        for other in ["v2", "v9"] {
            let ask = format!(r#"{{"dataset":"fish2","version":"{other}","permission":"view"}}"#);
            assert_eq!(check_access(&app, token, &ask).await, NO_PERMISSION, "{reason} on {other}");
        }
        let above = r#"{"dataset":"fish2","version":"v1","permission":"edit"}"#;
        assert_eq!(check_access(&app, token, above).await, NO_PERMISSION, "{reason}: view is not edit");
    }
    // Without a version every grant counts (§2.4: a scoped grant counts for the dataset).
    assert_eq!(check_access(&app, &ivy, r#"{"dataset":"fish2"}"#).await, allowed("direct_grant"));
}

/// Scenario 54: an `edit` holder asking `view` is allowed; a `read_only`
/// user holding `edit` (directly or through a group) asking `edit` gets
/// `no_permission` but may still `view`; `read_only` strips only `edit`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_only_users_are_refused_edit_in_check_access() {
    let app = TestApp::start().await;
    let emails = ["editor@example.org", "frozen@example.org", "frozen-team@example.org", "frozen-boss@example.org"];
    let mut tokens = Vec::new();
    let mut ids = Vec::new();
    for email in emails {
        tokens.push(app.db.token(email, None).await);
        ids.push(user_id(&app, email).await);
    }
    let mut conn = app.db.conn().await;
    let a = Actor::System;
    let fish = ops::create_dataset(&mut conn, a, "fish2", "", false).await.unwrap();
    let team = ops::create_group(&mut conn, a, "team").await.unwrap();
    ops::add_member(&mut conn, a, ids[2], "team", false).await.unwrap();
    ops::grant(&mut conn, a, grant(fish.id, Level::Edit, Grantee::User(ids[0]))).await.unwrap();
    ops::grant(&mut conn, a, grant(fish.id, Level::Edit, Grantee::User(ids[1]))).await.unwrap();
    ops::grant(&mut conn, a, grant(fish.id, Level::Edit, Grantee::Group(team))).await.unwrap();
    ops::grant(&mut conn, a, grant(fish.id, Level::Manage, Grantee::User(ids[3]))).await.unwrap();
    for &id in &ids[1..] {
        ops::update_user_profile(&mut conn, a, id, "", "", true).await.unwrap();
    }

    let ask = |permission: &str| format!(r#"{{"dataset":"fish2","permission":"{permission}"}}"#);
    let cases = [
        (0, "view", allowed("direct_grant")),
        (0, "edit", allowed("direct_grant")),
        (1, "edit", NO_PERMISSION.to_owned()),
        (1, "view", allowed("direct_grant")),
        (2, "edit", NO_PERMISSION.to_owned()),
        (2, "view", allowed("group_permission")),
        (3, "edit", NO_PERMISSION.to_owned()),
        (3, "manage", allowed("direct_grant")),
    ];
    for (who, permission, expected) in cases {
        assert_eq!(check_access(&app, &tokens[who], &ask(permission)).await, expected, "{} {permission}", emails[who]);
    }
}

/// Scenario 55: without any grant, a closed dataset with a TOS answers
/// `no_permission` and a public one `tos_required` (with the document's id
/// and name) for `view` — `no_permission` for `edit`; after `AcceptTos` the
/// self-service grant allows `view`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn public_terms_ask_for_acceptance_and_closed_terms_do_not() {
    let app = TestApp::start().await;
    let kim = app.db.token("kim@example.org", None).await;
    let mut conn = app.db.conn().await;
    let a = Actor::System;
    let closed = ops::create_dataset(&mut conn, a, "closed-tos", "", false).await.unwrap();
    let open = ops::create_dataset(&mut conn, a, "open-tos", "", true).await.unwrap();
    ops::create_tos_document(&mut conn, a, tos("Closed terms", closed.id)).await.unwrap();
    let open_terms = ops::create_tos_document(&mut conn, a, tos("Open terms", open.id)).await.unwrap();

    assert_eq!(check_access(&app, &kim, r#"{"dataset":"closed-tos"}"#).await, NO_PERMISSION);
    let required =
        format!(r#"{{"allowed":false,"reason":"tos_required","tos_id":{open_terms},"tos_name":"Open terms"}}"#);
    assert_eq!(check_access(&app, &kim, r#"{"dataset":"open-tos","permission":"view"}"#).await, required);
    assert_eq!(check_access(&app, &kim, r#"{"dataset":"open-tos","permission":"edit"}"#).await, NO_PERMISSION);

    accept(&app, &kim, pb::accept_tos_request::Document::Id(open_terms)).await.unwrap();
    eventually_answers(&app, &kim, r#"{"dataset":"open-tos"}"#, &allowed("direct_grant")).await;
    assert_eq!(check_access(&app, &kim, r#"{"dataset":"closed-tos"}"#).await, NO_PERMISSION);
}

/// Scenario 74 (through the `AcceptTos` RPC; the `/web/tos/<invite_token>/`
/// page is issue 9): on a closed dataset, a user with a direct, a
/// version-scoped or a group grant (and a global admin) accepts by invite
/// token or id, which records one acceptance and one `tos_accepted` audit
/// row, and nothing more when repeated; a user without grant is refused
/// ("Access Restricted") and nothing is recorded.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn closed_dataset_terms_are_accepted_by_grantees_only() {
    let app = TestApp::start().await;
    let root = app.db.token("root@example.org", Some(Role::Admin)).await;
    let emails = ["direct@example.org", "scoped@example.org", "member@example.org", "root@example.org"];
    let mut tokens = Vec::new();
    for email in &emails[..3] {
        tokens.push(app.db.token(email, None).await);
    }
    tokens.push(root.clone());
    let stranger = app.db.token("stranger@example.org", None).await;
    let stranger_id = user_id(&app, "stranger@example.org").await;
    let mut conn = app.db.conn().await;
    let a = Actor::System;
    let fish = ops::create_dataset(&mut conn, a, "fish2", "", false).await.unwrap();
    let v1 = ops::create_version(&mut conn, a, fish.id, "v1", &[], false).await.unwrap();
    let lab = ops::create_group(&mut conn, a, "lab").await.unwrap();
    let direct_id = user_id(&app, emails[0]).await;
    ops::grant(&mut conn, a, grant(fish.id, Level::View, Grantee::User(direct_id))).await.unwrap();
    let scoped_id = user_id(&app, emails[1]).await;
    let scoped = GrantSpec { version_id: Some(v1.id), ..grant(fish.id, Level::View, Grantee::User(scoped_id)) };
    ops::grant(&mut conn, a, scoped).await.unwrap();
    ops::add_member(&mut conn, a, user_id(&app, emails[2]).await, "lab", false).await.unwrap();
    ops::grant(&mut conn, a, grant(fish.id, Level::View, Grantee::Group(lab))).await.unwrap();
    let create = pb::CreateTosDocumentRequest {
        name: "Fish terms".into(),
        text: "# Fish terms\nBe nice.".into(),
        dataset: "fish2".into(),
        ..Default::default()
    };
    let document = datasets_client(&app).await.create_tos_document(with_bearer(create, &root)).await.unwrap();
    let document = document.into_inner().document.unwrap();
    let (by_invite, by_id) = (
        pb::accept_tos_request::Document::InviteToken(document.invite_token.clone()),
        pb::accept_tos_request::Document::Id(document.id),
    );

    // Without a grant: refused, nothing recorded.
    let before = row_counts(&app).await;
    for key in [&by_invite, &by_id] {
        let status = accept(&app, &stranger, key.clone()).await.unwrap_err();
        assert_eq!(status.code(), Code::PermissionDenied, "{status:?}");
        assert!(status.message().starts_with("Access Restricted"), "{}", status.message());
    }
    assert_eq!(row_counts(&app).await, before, "a refusal records nothing");
    assert_eq!(acceptances_of(&app, stranger_id, document.id).await, 0);

    for (email, token) in emails.iter().zip(&tokens) {
        let id = user_id(&app, email).await;
        let first = accept(&app, token, by_invite.clone()).await.unwrap();
        assert!(first.newly_accepted && !first.view_granted, "{email}: {first:?}");
        assert_eq!(first.document.unwrap().id, document.id);
        let after_first = row_counts(&app).await;
        let again = accept(&app, token, by_id.clone()).await.unwrap();
        assert!(!again.newly_accepted && !again.view_granted, "{email}: {again:?}");
        assert_eq!(row_counts(&app).await, after_first, "{email}: a repeat records nothing");
        assert_eq!(acceptances_of(&app, id, document.id).await, 1, "{email}");
        let audited: Vec<AuditRow> = audit_rows(&app)
            .await
            .into_iter()
            .filter(|r| r.action == "tos_accepted" && r.target_id == format!("{id}:{}", document.id))
            .collect();
        assert_eq!(audited.len(), 1, "{email}");
        assert_eq!(audited[0].actor_user_id, Some(id));
        assert_eq!(
            audited[0].after_state.as_ref().unwrap(),
            &serde_json::json!({"user": email, "tos_document": document.id, "dataset": "fish2"})
        );
    }
    assert_eq!(row_counts(&app).await.1, before.1, "no grant is created on a closed dataset");
}

/// Scenario 75 (through the `AcceptTos` RPC; the page is issue 9): on a
/// public dataset any signed-in user without a grant who accepts gets one
/// dataset-wide `self_service` `view` grant (audited `grant_created` with
/// that source) and one acceptance; accepting again adds no row and no
/// audit entry; the user cache then shows the dataset.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn public_dataset_terms_grant_view_once_to_whoever_accepts() {
    let app = TestApp::start().await;
    let root = app.db.token("root@example.org", Some(Role::Admin)).await;
    let lena = app.db.token("lena@example.org", None).await;
    let lena_id = user_id(&app, "lena@example.org").await;
    let open = ops::create_dataset(&mut *app.db.conn().await, Actor::System, "open", "", true).await.unwrap();
    let create = pb::CreateTosDocumentRequest {
        name: "Open terms".into(),
        text: "Be nice.".into(),
        dataset: "open".into(),
        ..Default::default()
    };
    let document = datasets_client(&app).await.create_tos_document(with_bearer(create, &root)).await.unwrap();
    let document = document.into_inner().document.unwrap();

    let pending = plain_user(
        lena_id,
        "lena@example.org",
        &format!(
            r#""permissions":{{}},"permissions_v2":{{}},"permissions_v2_ignore_tos":{{"open":["view"]}},"missing_tos":[{{"dataset_id":{},"dataset_name":"open","tos_id":{},"tos_name":"Open terms"}}],"datasets_admin":[]"#,
            open.id, document.id
        ),
    );
    assert_eq!(cache(&app, &lena, "").await, pending);

    let (acceptances, grant_rows, audit) = row_counts(&app).await;
    let accepted =
        accept(&app, &lena, pb::accept_tos_request::Document::InviteToken(document.invite_token.clone())).await;
    let accepted = accepted.unwrap();
    assert!(accepted.newly_accepted && accepted.view_granted, "{accepted:?}");
    assert_eq!(row_counts(&app).await, (acceptances + 1, grant_rows + 1, audit + 2));
    let granted: Vec<(i64, Option<i64>, String, String)> = grants::table
        .filter(grants::user_id.eq(lena_id))
        .select((grants::dataset_id, grants::dataset_version_id, grants::level, grants::source))
        .load(&mut *app.db.conn().await)
        .await
        .unwrap();
    assert_eq!(granted, [(open.id, None, "view".to_owned(), "self_service".to_owned())]);
    let rows = audit_rows(&app).await;
    let created: Vec<&AuditRow> = rows.iter().filter(|r| r.action == "grant_created").collect();
    assert_eq!(created.len(), 1);
    assert_eq!(
        created[0].after_state.as_ref().unwrap(),
        &serde_json::json!({"user": "lena@example.org", "dataset": "open", "permission": "view", "version": null, "source": "self_service"})
    );
    assert_eq!(rows.iter().filter(|r| r.action == "tos_accepted").count(), 1);

    let again = accept(&app, &lena, pb::accept_tos_request::Document::Id(document.id)).await.unwrap();
    assert!(!again.newly_accepted && !again.view_granted, "{again:?}");
    assert_eq!(row_counts(&app).await, (acceptances + 1, grant_rows + 1, audit + 2), "a repeat records nothing");

    let shown = plain_user(
        lena_id,
        "lena@example.org",
        r#""permissions":{"open":1},"permissions_v2":{"open":["view"]},"permissions_v2_ignore_tos":{"open":["view"]},"missing_tos":[],"datasets_admin":[]"#,
    );
    eventually_cache(&app, &lena, "", &shown).await;
}
