//! The rest of DSG's `/api/v1` surface over gRPC against the real server
//! (spec §3.2.2–3.2.8, §3.3, §3.4 whoami): exact JSON, who may call each
//! route (a refusal for every rule), DSG's error messages, and the derived
//! long-lived token across a restart.

use diesel::sql_types::{BigInt, Text};
use diesel::{ExpressionMethods as _, QueryDsl as _};
use diesel_async::RunQueryDsl as _;
use steward::auth::Role;
use steward::dataset::audit::Actor;
use steward::dataset::ops::{self, GrantSpec, Grantee};
use steward::dataset::permissions::Level;
use steward::db::schema::api_tokens;
use steward::proto::authorization::v1::authorization_service_client::AuthorizationServiceClient;
use steward::proto::authorization::v1::{
    CreateTokenRequest, GetGroupMembersRequest, GetGroupUsersRequest, GetLongLivedTokenRequest, GetRootIsPublicRequest,
    GetRootsArePublicRequest, GetTableDatasetRequest, GetTableHasPublicRequest, GetUserPermissionsRequest,
    GetUsernamesRequest, GetUsersRequest, ListUserTokensRequest, RefreshTokenRequest, RotateLongLivedTokenRequest,
    WhoAmIJsonRequest, WhoAmIRequest,
};
use steward::proto::google::api::HttpBody;
use tonic::transport::Channel;
use tonic::{Code, Status};

use crate::common::{TestApp, eventually_refused, spawn_server, test_config, with_bearer, with_header};

type Client = AuthorizationServiceClient<Channel>;

fn text(reply: Result<tonic::Response<HttpBody>, Status>) -> Result<String, Status> {
    let reply = reply?.into_inner();
    assert_eq!(reply.content_type, "application/json");
    Ok(String::from_utf8(reply.data).expect("utf-8 JSON"))
}

fn refused(result: Result<String, Status>, code: Code, message: &str) {
    let status = result.expect_err("expected a refusal");
    assert_eq!((status.code(), status.message()), (code, message));
}

const DENIED: &str = "You do not have permission to perform this action.";
const NO_CREDENTIALS: &str = "Authentication credentials were not provided.";

fn json_body(json: &str) -> Option<HttpBody> {
    Some(HttpBody { content_type: "application/json".into(), data: json.as_bytes().to_vec(), extensions: vec![] })
}

async fn sql(app: &TestApp, query: &str) {
    let mut conn = app.db.conn().await;
    diesel::sql_query(query).execute(&mut conn).await.expect(query);
}

/// Users 1 (alice, plain), 2 (bob, plain), 3 (root, global admin), a group `team`
/// (alice member and group admin), dataset fish2 with alice's `view` grant, and
/// service account `ci-bot`. Returns (alice, bob, root, ci-bot) tokens and the
/// service account id.
struct World {
    alice: String,
    bob: String,
    root: String,
    bot: String,
    bot_id: i64,
    team_id: i64,
}

async fn world(app: &TestApp) -> World {
    let alice = app.db.token("alice@example.org", None).await;
    let bob = app.db.token("bob@example.org", None).await;
    let root = app.db.token("root@example.org", Some(Role::Admin)).await;
    let mut conn = app.db.conn().await;
    let a = Actor::System;
    let team_id = ops::create_group(&mut conn, a, "team").await.unwrap();
    ops::add_member(&mut conn, a, 1, "team", false).await.unwrap();
    ops::create_group(&mut conn, a, "empty").await.unwrap();
    let fish = ops::create_dataset(&mut conn, a, "fish2", "Fish", false).await.unwrap();
    let spec = GrantSpec {
        dataset_id: fish.id,
        version_id: None,
        level: Level::View,
        grantee: Grantee::User(1),
        source: "manual",
    };
    ops::grant(&mut conn, a, spec).await.unwrap();
    let (bot_id, bot) = ops::create_service_account(&mut conn, a, "ci-bot", "CI pipeline").await.unwrap();
    World { alice, bob, root, bot, bot_id, team_id }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn whoami_has_dsgs_shapes_and_the_typed_rpc_stays() {
    let app = TestApp::start().await;
    let w = world(&app).await;
    let mut client = app.authorization().await;
    let whoami = |token: &str| with_bearer(WhoAmIJsonRequest {}, token);
    assert_eq!(
        text(client.who_am_i_json(whoami(&w.alice)).await).unwrap(),
        r#"{"id":1,"email":"alice@example.org","name":"alice","picture_url":"","admin":false,"is_active":true,"groups":["team"],"datasets_admin":[]}"#
    );
    let sa = text(client.who_am_i_json(whoami(&w.bot)).await).unwrap();
    assert_eq!(
        sa,
        format!(
            r#"{{"id":{},"email":"ci-bot@service-account.dsg.local","name":"ci-bot","picture_url":"","admin":false,"is_active":true,"groups":[],"datasets_admin":[],"service_account":true,"description":"CI pipeline"}}"#,
            w.bot_id
        )
    );
    let admin = text(client.who_am_i_json(whoami(&w.root)).await).unwrap();
    assert!(admin.contains(r#""admin":true"#) && admin.contains(r#""groups":["admin"]"#), "{admin}");
    refused(text(client.who_am_i_json(WhoAmIJsonRequest {}).await), Code::Unauthenticated, NO_CREDENTIALS);
    let bad = text(client.who_am_i_json(whoami(&"0".repeat(64))).await);
    refused(bad, Code::Unauthenticated, "Invalid or expired token.");
    // The typed RPC answers the same principal for gRPC clients.
    let typed = client.who_am_i(with_bearer(WhoAmIRequest {}, &w.alice)).await.unwrap().into_inner();
    assert_eq!((typed.id, typed.email.as_str()), (1, "alice@example.org"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_routes_mint_list_and_refuse_service_accounts() {
    let app = TestApp::start().await;
    let w = world(&app).await;
    let mut client = app.authorization().await;

    // create_token: a bare JSON string that works as a Bearer token; every call a new one.
    let create = |body: Option<HttpBody>, token: &str| with_bearer(CreateTokenRequest { body }, token);
    let first = text(client.create_token(create(None, &w.alice)).await).unwrap();
    let second = text(client.create_token(create(json_body(r#"{"description":"ci","x":1}"#), &w.alice)).await).unwrap();
    let first: String = serde_json::from_str(&first).unwrap();
    let second: String = serde_json::from_str(&second).unwrap();
    assert_ne!(first, second);
    assert!(first.len() == 64 && first.bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()));
    let me = text(client.who_am_i_json(with_bearer(WhoAmIJsonRequest {}, &first)).await).unwrap();
    assert!(me.contains(r#""email":"alice@example.org""#), "{me}");
    // The browser path: GET with only the cookie.
    let cookie = with_header(CreateTokenRequest { body: None }, "cookie", &format!("dsg_token={}", w.alice));
    assert!(text(client.create_token(cookie).await).unwrap().starts_with('"'));

    // user/token: newest first, DSG keys then Steward's, never the token.
    let list = text(client.list_user_tokens(with_bearer(ListUserTokensRequest {}, &w.alice)).await).unwrap();
    let rows: Vec<serde_json::Value> = serde_json::from_str(&list).unwrap();
    assert_eq!(rows.len(), 4, "{list}");
    assert!(!list.contains("\"token\"") && !list.contains(&first) && !list.contains(&w.alice), "{list}");
    let mut keys: Vec<&str> = rows[0].as_object().unwrap().keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(keys, ["created", "description", "expires_at", "id", "kind", "last_used", "user_id"]);
    // Key order, checked on the bytes.
    let first_row = &list[..list.find('}').unwrap() + 1];
    let order = [
        "\"id\":",
        ",\"description\":",
        ",\"created\":",
        ",\"last_used\":",
        ",\"user_id\":1,",
        "\"expires_at\":null,",
        "\"kind\":\"api\"}",
    ];
    let positions: Vec<usize> = order.iter().map(|k| first_row.find(k).unwrap_or(usize::MAX)).collect();
    assert!(positions.windows(2).all(|p| p[0] < p[1]) && positions[6] != usize::MAX, "{first_row}");
    assert_eq!(rows[1]["description"], "ci");
    assert_eq!(rows[3]["description"], "test");
    assert!(rows[3]["last_used"].is_string(), "the token used for these calls shows last_used: {list}");
    assert!(rows[0]["created"].as_str().unwrap().ends_with('Z'));
    assert_eq!(rows[0]["user_id"], 1);
    assert_eq!(rows[0]["kind"], "api");

    let refresh = text(client.refresh_token(with_bearer(RefreshTokenRequest {}, &w.alice)).await).unwrap();
    assert_eq!(refresh, r#"{"status":"deprecated","message":"Use /api/v1/create_token instead"}"#);

    // Service accounts: 403 on every token route, and no row is written.
    let mut conn = app.db.conn().await;
    let count = api_tokens::table.count();
    let before: i64 = count.get_result(&mut conn).await.unwrap();
    refused(text(client.create_token(create(None, &w.bot)).await), Code::PermissionDenied, DENIED);
    let long = client.get_long_lived_token(with_bearer(GetLongLivedTokenRequest {}, &w.bot)).await;
    refused(text(long), Code::PermissionDenied, DENIED);
    let rotate = client.rotate_long_lived_token(with_bearer(RotateLongLivedTokenRequest {}, &w.bot)).await;
    refused(text(rotate), Code::PermissionDenied, DENIED);
    let list = client.list_user_tokens(with_bearer(ListUserTokensRequest {}, &w.bot)).await;
    refused(text(list), Code::PermissionDenied, DENIED);
    refused(
        text(client.refresh_token(with_bearer(RefreshTokenRequest {}, &w.bot)).await),
        Code::PermissionDenied,
        DENIED,
    );
    assert_eq!(count.get_result::<i64>(&mut conn).await.unwrap(), before);
    // Anonymous: 401.
    refused(text(client.create_token(CreateTokenRequest { body: None }).await), Code::Unauthenticated, NO_CREDENTIALS);
    refused(text(client.list_user_tokens(ListUserTokensRequest {}).await), Code::Unauthenticated, NO_CREDENTIALS);
}

async fn long_lived(client: &mut Client, token: &str) -> String {
    let doc = text(client.get_long_lived_token(with_bearer(GetLongLivedTokenRequest {}, token)).await).unwrap();
    let value: serde_json::Value = serde_json::from_str(&doc).unwrap();
    assert_eq!(doc, format!(r#"{{"token":"{}"}}"#, value["token"].as_str().unwrap()));
    value["token"].as_str().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_long_lived_token_is_stable_across_restarts_and_rotates() {
    let db = crate::common::TestDb::new().await;
    let keys = format!("k1:{}", base64_key());
    let start = |db_url: String| {
        let keys = keys.clone();
        async move {
            let dir = crate::common::scratch_dir("long-lived");
            let config = test_config(&[
                ("DATABASE_URL", db_url.as_str()),
                ("STEWARD_DATA_DIR", dir.to_str().unwrap()),
                ("STEWARD_ENCRYPTION_KEYS", keys.as_str()),
            ]);
            spawn_server(config).await
        }
    };
    let alice = db.token("alice@example.org", None).await;
    let bob = db.token("bob@example.org", None).await;
    let (addr, stop, task) = start(db.url().to_owned()).await;
    let mut client = Client::new(Channel::from_shared(format!("http://{addr}")).unwrap().connect().await.unwrap());
    let token = long_lived(&mut client, &alice).await;
    assert_eq!(long_lived(&mut client, &token).await, token, "idempotent, also when asked with itself");
    assert_ne!(token, alice, "never the presented token");
    assert_ne!(long_lived(&mut client, &bob).await, token, "per user");
    let mut conn = db.conn().await;
    let rows: i64 = api_tokens::table
        .filter(api_tokens::kind.eq("long_lived"))
        .filter(api_tokens::user_id.eq(1))
        .count()
        .get_result(&mut conn)
        .await
        .unwrap();
    assert_eq!(rows, 1);
    // The plain text is stored nowhere in the token table (whole rows as text).
    let hit: Vec<Found> = diesel::sql_query("SELECT count(*) AS n FROM api_tokens t WHERE strpos(t::text, $1) > 0")
        .bind::<Text, _>(&token)
        .load(&mut conn)
        .await
        .unwrap();
    assert_eq!(hit[0].n, 0);
    let _ = stop.send(());
    task.await.unwrap().unwrap();

    // After a restart (same keyring), the same token; the presented login token still works.
    let (addr, stop, task) = start(db.url().to_owned()).await;
    let mut client = Client::new(Channel::from_shared(format!("http://{addr}")).unwrap().connect().await.unwrap());
    assert_eq!(long_lived(&mut client, &alice).await, token);
    let rotated =
        text(client.rotate_long_lived_token(with_bearer(RotateLongLivedTokenRequest {}, &alice)).await).unwrap();
    let rotated: serde_json::Value = serde_json::from_str(&rotated).unwrap();
    let rotated = rotated["token"].as_str().unwrap().to_owned();
    assert_ne!(rotated, token);
    assert_eq!(long_lived(&mut client, &alice).await, rotated);
    let old = client.who_am_i(with_bearer(WhoAmIRequest {}, &token)).await.unwrap_err();
    assert_eq!(old.code(), Code::Unauthenticated);
    client.who_am_i(with_bearer(WhoAmIRequest {}, &alice)).await.expect("the login token keeps working");
    let _ = stop.send(());
    task.await.unwrap().unwrap();
}

#[derive(diesel::QueryableByName)]
struct Found {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

fn base64_key() -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode([7u8; 32])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn user_lookups_need_the_right_caller() {
    let app = TestApp::start().await;
    let w = world(&app).await;
    let mut client = app.authorization().await;

    // username: any authenticated caller; request order; service accounts by name.
    let names = |id: &str, token: &str| with_bearer(GetUsernamesRequest { id: id.into() }, token);
    let ask = format!("2,1,99,{},2", w.bot_id);
    assert_eq!(
        text(client.get_usernames(names(&ask, &w.bob)).await).unwrap(),
        format!(r#"[{{"id":2,"name":"bob"}},{{"id":1,"name":"alice"}},{{"id":{},"name":"ci-bot"}}]"#, w.bot_id)
    );
    assert_eq!(text(client.get_usernames(names("", &w.bob)).await).unwrap(), "[]");
    refused(text(client.get_usernames(names("abc", &w.bob)).await), Code::InvalidArgument, "Invalid user IDs");
    let anonymous = client.get_usernames(GetUsernamesRequest { id: "1".into() }).await;
    refused(text(anonymous), Code::Unauthenticated, NO_CREDENTIALS);

    // user: some admin only (a service account, a global admin, a group admin).
    let users = |token: &str| with_bearer(GetUsersRequest { id: "1,2".into() }, token);
    let expected = r#"[{"id":1,"name":"alice","email":"alice@example.org","admin":false,"pi":"","picture_url":""},{"id":2,"name":"bob","email":"bob@example.org","admin":false,"pi":"","picture_url":""}]"#;
    assert_eq!(text(client.get_users(users(&w.bot)).await).unwrap(), expected);
    assert_eq!(text(client.get_users(users(&w.root)).await).unwrap(), expected);
    refused(text(client.get_users(users(&w.alice)).await), Code::PermissionDenied, DENIED);
    let three = with_bearer(GetUsersRequest { id: "3".into() }, &w.bot);
    assert!(text(client.get_users(three).await).unwrap().contains(r#""admin":true"#));
    let mut conn = app.db.conn().await;
    ops::add_member(&mut conn, Actor::System, 1, "team", true).await.unwrap();
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(5);
    while text(client.get_users(users(&w.alice)).await).is_err() {
        assert!(tokio::time::Instant::now() < deadline, "a group admin is some admin");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }

    // user/{id}/permissions: some admin; the target's cache document.
    let perms = |id: i64, token: &str| with_bearer(GetUserPermissionsRequest { user_id: id }, token);
    let doc = text(client.get_user_permissions(perms(1, &w.bot)).await).unwrap();
    assert!(doc.starts_with(r#"{"id":1,"parent_id":null,"service_account":false,"name":"alice""#), "{doc}");
    assert!(doc.contains(r#""permissions_v2":{"fish2":["view"]}"#), "{doc}");
    let sa_doc = text(client.get_user_permissions(perms(w.bot_id, &w.root)).await).unwrap();
    assert!(sa_doc.contains(r#""service_account":true,"name":"ci-bot""#), "{sa_doc}");
    refused(text(client.get_user_permissions(perms(999, &w.bot)).await), Code::NotFound, "User not found");
    refused(text(client.get_user_permissions(perms(1, &w.bob)).await), Code::PermissionDenied, DENIED);
    refused(
        text(client.get_user_permissions(GetUserPermissionsRequest { user_id: 1 }).await),
        Code::Unauthenticated,
        NO_CREDENTIALS,
    );

    // group/{id}/user: some admin.
    let group = |id: i64, token: &str| with_bearer(GetGroupUsersRequest { group_id: id }, token);
    assert_eq!(
        text(client.get_group_users(group(w.team_id, &w.root)).await).unwrap(),
        r#"[{"id":1,"name":"alice","admin":true}]"#
    );
    refused(text(client.get_group_users(group(999, &w.root)).await), Code::NotFound, "Group not found");
    refused(text(client.get_group_users(group(w.team_id, &w.bob)).await), Code::PermissionDenied, DENIED);
    let anonymous = client.get_group_users(GetGroupUsersRequest { group_id: w.team_id }).await;
    refused(text(anonymous), Code::Unauthenticated, NO_CREDENTIALS);
    let anonymous = client.get_users(GetUsersRequest { id: "1".into() }).await;
    refused(text(anonymous), Code::Unauthenticated, NO_CREDENTIALS);

    // A disabled user has no permissions document: 404 to the admin, not the admin's 401.
    // The change reaches the server's permission cache by NOTIFY, within milliseconds.
    steward::auth::ops::set_user_active(&mut conn, "bob@example.org", false).await.unwrap();
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(5);
    let reply = loop {
        let reply = text(client.get_user_permissions(perms(2, &w.bot)).await);
        if reply.is_err() || tokio::time::Instant::now() > deadline {
            break reply;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    };
    refused(reply, Code::NotFound, "User not found");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn group_members_are_shown_to_members_admins_and_service_accounts() {
    let app = TestApp::start().await;
    let w = world(&app).await;
    let mut conn = app.db.conn().await;
    ops::add_member(&mut conn, Actor::System, 2, "team", false).await.unwrap();
    let carol = app.db.token("carol@example.org", None).await;
    let mut client = app.authorization().await;
    let members = |name: &str, token: &str| with_bearer(GetGroupMembersRequest { group_name: name.into() }, token);
    let team = r#"["alice@example.org","bob@example.org"]"#;
    assert_eq!(text(client.get_group_members(members("team", &w.alice)).await).unwrap(), team);
    assert_eq!(text(client.get_group_members(members("team", &w.bot)).await).unwrap(), team);
    assert_eq!(text(client.get_group_members(members("empty", &w.root)).await).unwrap(), "[]");
    refused(text(client.get_group_members(members("nope", &w.root)).await), Code::NotFound, "Group not found");
    refused(text(client.get_group_members(members("team", &carol)).await), Code::PermissionDenied, DENIED);
    refused(text(client.get_group_members(members("empty", &w.alice)).await), Code::PermissionDenied, DENIED);
    let anonymous = client.get_group_members(GetGroupMembersRequest { group_name: "team".into() }).await;
    refused(text(anonymous), Code::Unauthenticated, NO_CREDENTIALS);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn service_tables_and_public_roots() {
    let app = TestApp::start().await;
    let w = world(&app).await;
    sql(
        &app,
        "INSERT INTO service_tables (service_name, table_name, dataset_id) VALUES ('pychunkedgraph', 'fish2_v1', 1)",
    )
    .await;
    sql(
        &app,
        "INSERT INTO public_roots (service_table_id, root_id) VALUES (1, 100), (1, 200), (1, 1234567890123456789)",
    )
    .await;
    let mut client = app.authorization().await;

    let table = |ns: &str, t: &str| GetTableDatasetRequest { namespace: ns.into(), table_id: t.into() };
    let found = client.get_table_dataset(with_bearer(table("pychunkedgraph", "fish2_v1"), &w.bob)).await;
    assert_eq!(text(found).unwrap(), r#""fish2""#);
    let missing = client.get_table_dataset(with_bearer(table("pychunkedgraph", "nope"), &w.bob)).await;
    refused(text(missing), Code::NotFound, "Table not found");
    let other_ns = client.get_table_dataset(with_bearer(table("other", "fish2_v1"), &w.bob)).await;
    refused(text(other_ns), Code::NotFound, "Table not found");
    refused(
        text(client.get_table_dataset(table("pychunkedgraph", "fish2_v1")).await),
        Code::Unauthenticated,
        NO_CREDENTIALS,
    );

    // Anonymous callers get bare booleans.
    let has = |t: &str| GetTableHasPublicRequest { table_id: t.into() };
    assert_eq!(text(client.get_table_has_public(has("fish2_v1")).await).unwrap(), "true");
    assert_eq!(text(client.get_table_has_public(has("other")).await).unwrap(), "false");
    let is = |root: i64| GetRootIsPublicRequest { table_id: "fish2_v1".into(), root_id: root };
    assert_eq!(text(client.get_root_is_public(is(100)).await).unwrap(), "true");
    assert_eq!(text(client.get_root_is_public(is(300)).await).unwrap(), "false");
    assert_eq!(text(client.get_root_is_public(with_bearer(is(200), &w.bob)).await).unwrap(), "true");

    let all = |json: &str| GetRootsArePublicRequest { table_id: "fish2_v1".into(), body: json_body(json) };
    let ask = |json: &str| {
        let request = all(json);
        let mut client = client.clone();
        async move { text(client.get_roots_are_public(request).await) }
    };
    assert_eq!(ask("[100,200,300]").await.unwrap(), "[true,true,false]");
    assert_eq!(ask("[300,100]").await.unwrap(), "[false,true]");
    assert_eq!(ask("[]").await.unwrap(), "[]");
    // 19-digit ids compare exactly (1234567890123456788 would equal ...789 through f64).
    assert_eq!(ask("[1234567890123456789,1234567890123456788]").await.unwrap(), "[true,false]");
    for bad in ["{}", "[1,\"x\"]", "[1.5]", "", "nope"] {
        refused(ask(bad).await, Code::InvalidArgument, "Expected JSON array of root IDs");
    }
    let many = format!("[{}]", vec!["1"; 100_001].join(","));
    refused(ask(&many).await, Code::InvalidArgument, "Expected JSON array of root IDs");

    // A presented bad credential is 401 even here.
    let expired = with_bearer(has("fish2_v1"), &"0".repeat(64));
    refused(text(client.get_table_has_public(expired).await), Code::Unauthenticated, "Invalid or expired token.");
    let mut conn = app.db.conn().await;
    diesel::update(api_tokens::table.filter(api_tokens::user_id.eq(2)))
        .set(api_tokens::expires_at.eq(Some(chrono::Utc::now() - chrono::Duration::seconds(1))))
        .execute(&mut conn)
        .await
        .unwrap();
    sql(&app, "SELECT pg_notify('steward_auth', 'all')").await;
    eventually_refused(&app, &w.bob).await;
    let expired = with_bearer(is(100), &w.bob);
    refused(text(client.get_root_is_public(expired).await), Code::Unauthenticated, "Invalid or expired token.");
    let expired = with_bearer(all("[100]"), &w.bob);
    refused(text(client.get_roots_are_public(expired).await), Code::Unauthenticated, "Invalid or expired token.");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_answers_dsgs_body() {
    use http_body_util::BodyExt as _;
    let app = TestApp::start().await;
    let stream = tokio::net::TcpStream::connect(app.addr).await.unwrap();
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream)).await.unwrap();
    tokio::spawn(connection);
    let request = http::Request::get(format!("{}/health", app.url()))
        .header("host", app.addr.to_string())
        .body(http_body_util::Full::new(bytes::Bytes::new()))
        .unwrap();
    let response = sender.send_request(request).await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "application/json");
    assert_eq!(response.into_body().collect().await.unwrap().to_bytes(), r#"{"status":"ok"}"#);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dataset_prefixed_paths_redirect_without_the_prefix() {
    use http_body_util::BodyExt as _;
    let app = TestApp::start().await;
    let send = |method: &'static str, path: &'static str| {
        let app_url = app.url();
        let host = app.addr.to_string();
        let addr = app.addr;
        async move {
            let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
            let (mut sender, connection) =
                hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream)).await.unwrap();
            tokio::spawn(connection);
            let request = http::Request::builder()
                .method(method)
                .uri(format!("{app_url}{path}"))
                .header("host", host)
                .body(http_body_util::Full::new(bytes::Bytes::new()))
                .unwrap();
            let response = sender.send_request(request).await.unwrap();
            let location = response.headers().get("location").map(|v| v.to_str().unwrap().to_owned());
            let status = response.status().as_u16();
            let body = response.into_body().collect().await.unwrap().to_bytes();
            (status, location, body)
        }
    };
    let (status, location, _) = send("GET", "/fish2/cave/api/v1/user/cache?service=celltyping&x=%2F").await;
    assert_eq!((status, location.as_deref()), (308, Some("/api/v1/user/cache?service=celltyping&x=%2F")));
    let (status, location, _) = send("POST", "/fish2/cave/api/v1/check-access").await;
    assert_eq!((status, location.as_deref()), (308, Some("/api/v1/check-access")));
    // DSG's own top-level segments are never datasets.
    for path in ["/auth/scim/api/v1/x", "/web/x/api/v1/x", "/api/x/api/v1/x"] {
        let (status, location, body) = send("GET", path).await;
        assert_eq!((status, location), (404, None), "{path}");
        assert_eq!(body, r#"{"detail":"Not found."}"#);
    }
}
