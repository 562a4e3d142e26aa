//! The identity core through `WhoAmI`: every credential form, and every refusal.

use std::time::Duration;

use diesel::{ExpressionMethods as _, QueryDsl as _};
use diesel_async::RunQueryDsl as _;
use steward::auth::Role;
use steward::auth::ops::{self, TokenRequest};
use steward::db::schema::api_tokens;
use steward::proto::authorization::v1::{WhoAmIRequest, WhoAmIResponse};
use steward::proto::dataset::v1::dataset_service_client::DatasetServiceClient;
use steward::proto::dataset::v1::{AccessMode, CreateDatasetRequest};
use tonic::{Code, Status};

use crate::common::{TestApp, eventually_refused, with_bearer, with_header};

async fn who_am_i(app: &TestApp, request: tonic::Request<WhoAmIRequest>) -> Result<WhoAmIResponse, Status> {
    app.authorization().await.who_am_i(request).await.map(tonic::Response::into_inner)
}

fn plain() -> tonic::Request<WhoAmIRequest> {
    tonic::Request::new(WhoAmIRequest {})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn who_am_i_accepts_bearer_token_and_cookie() {
    let app = TestApp::start().await;
    let token = app.db.token("alice@example.org", Some(Role::Researcher)).await;

    let bearer = who_am_i(&app, with_bearer(WhoAmIRequest {}, &token)).await.unwrap();
    assert_eq!(bearer.email, "alice@example.org");
    assert_eq!(bearer.name, "alice");
    assert_eq!(bearer.roles, vec!["researcher"]);
    assert_eq!(bearer.groups, vec!["researcher"]);
    assert!(!bearer.admin && bearer.is_active && !bearer.service_account);
    assert!(bearer.id > 0);

    let scheme = who_am_i(&app, with_header(WhoAmIRequest {}, "authorization", &format!("Token {token}"))).await;
    assert_eq!(scheme.unwrap().id, bearer.id);
    let lower = who_am_i(&app, with_header(WhoAmIRequest {}, "authorization", &format!("bearer {token}"))).await;
    assert_eq!(lower.unwrap().id, bearer.id);
    let cookie =
        who_am_i(&app, with_header(WhoAmIRequest {}, "cookie", &format!("theme=dark; dsg_token={token}"))).await;
    assert_eq!(cookie.unwrap().id, bearer.id);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_header_beats_the_cookie() {
    let app = TestApp::start().await;
    let alice = app.db.token("alice@example.org", None).await;
    let bob = app.db.token("bob@example.org", None).await;

    // A valid header wins over a stale cookie.
    let mut request = with_bearer(WhoAmIRequest {}, &alice);
    request.metadata_mut().insert("cookie", format!("dsg_token={}", "0".repeat(64)).parse().unwrap());
    assert_eq!(who_am_i(&app, request).await.unwrap().email, "alice@example.org");

    // A present but invalid header is refused even with a valid cookie.
    let mut request = with_bearer(WhoAmIRequest {}, &"f".repeat(64));
    request.metadata_mut().insert("cookie", format!("dsg_token={bob}").parse().unwrap());
    assert_eq!(who_am_i(&app, request).await.unwrap_err().code(), Code::Unauthenticated);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusals_say_what_is_wrong() {
    let app = TestApp::start().await;

    let none = who_am_i(&app, plain()).await.unwrap_err();
    assert_eq!(none.code(), Code::Unauthenticated);
    assert!(none.message().contains("not provided"), "{}", none.message());

    let unknown = who_am_i(&app, with_bearer(WhoAmIRequest {}, &"a".repeat(64))).await.unwrap_err();
    assert_eq!((unknown.code(), unknown.message()), (Code::Unauthenticated, "Invalid or expired token."));

    let shape = who_am_i(&app, with_bearer(WhoAmIRequest {}, "not-a-token")).await.unwrap_err();
    assert_eq!(shape.code(), Code::Unauthenticated);
    assert!(shape.message().contains("64 hexadecimal"), "{}", shape.message());

    let scheme =
        who_am_i(&app, with_header(WhoAmIRequest {}, "authorization", "Basic dXNlcjpwYXNz")).await.unwrap_err();
    assert_eq!(scheme.code(), Code::Unauthenticated);
    assert!(scheme.message().contains("Bearer"), "{}", scheme.message());

    let long = who_am_i(&app, with_bearer(WhoAmIRequest {}, &"a".repeat(1000))).await.unwrap_err();
    assert_eq!(long.code(), Code::Unauthenticated);

    // Each refusal names the scheme to use (RFC 6750), so REST callers get
    // `WWW-Authenticate: Bearer` on their 401 through Envoy.
    for refusal in [&none, &unknown, &shape, &scheme, &long] {
        assert_eq!(refusal.metadata().get("www-authenticate").map(|v| v.to_str().unwrap()), Some("Bearer"));
    }
    // Other refusals do not.
    let plain_user = app.db.token("plain@example.org", None).await;
    let forbidden = DatasetServiceClient::new(app.channel().await)
        .create_dataset(with_bearer(
            CreateDatasetRequest { name: "fish2".into(), access_mode: AccessMode::Closed.into(), ..Default::default() },
            &plain_user,
        ))
        .await
        .unwrap_err();
    assert_eq!(forbidden.code(), Code::PermissionDenied);
    assert!(forbidden.metadata().get("www-authenticate").is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_tokens_are_refused() {
    let app = TestApp::start().await;
    let (id, token) = app
        .db
        .token_with(TokenRequest {
            email: "late@example.org".into(),
            role: None,
            description: "short-lived".into(),
            expires_in: Some(Duration::from_secs(3600)),
        })
        .await;
    assert!(who_am_i(&app, with_bearer(WhoAmIRequest {}, &token)).await.is_ok());

    // Expire it in the database; the server must not keep honouring a cached answer.
    let mut conn = app.db.conn().await;
    diesel::update(api_tokens::table.find(id))
        .set(api_tokens::expires_at.eq(Some(chrono::Utc::now() - chrono::Duration::seconds(1))))
        .execute(&mut conn)
        .await
        .unwrap();
    // Mirrors what every token write does (see auth::store::notify_auth_change).
    steward::auth::store::notify_auth_change(&mut conn, &format!("token:{id}")).await.unwrap();
    let err = eventually_refused(&app, &token).await;
    assert_eq!(err.message(), "Invalid or expired token.");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revoked_tokens_are_refused_at_once_and_after_use() {
    let app = TestApp::start().await;
    let (unused_id, unused) = app.db.token_with(request("rev@example.org")).await;
    let (used_id, used) = app.db.token_with(request("rev@example.org")).await;
    assert!(who_am_i(&app, with_bearer(WhoAmIRequest {}, &used)).await.is_ok());

    let mut conn = app.db.conn().await;
    ops::revoke_token(&mut conn, unused_id).await.unwrap();
    ops::revoke_token(&mut conn, used_id).await.unwrap();
    // Never used, so never cached: refused on the very next request.
    let err = who_am_i(&app, with_bearer(WhoAmIRequest {}, &unused)).await.unwrap_err();
    assert_eq!(err.code(), Code::Unauthenticated);
    // Used and cached: evicted by the revocation's NOTIFY.
    eventually_refused(&app, &used).await;

    let missing = ops::revoke_token(&mut conn, 999_999).await.unwrap_err();
    assert_eq!(Status::from(missing).code(), Code::NotFound);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disabled_users_are_refused_and_can_come_back() {
    let app = TestApp::start().await;
    let token = app.db.token("gone@example.org", None).await;
    assert!(who_am_i(&app, with_bearer(WhoAmIRequest {}, &token)).await.is_ok());

    let mut conn = app.db.conn().await;
    ops::set_user_active(&mut conn, "gone@example.org", false).await.unwrap();
    let err = eventually_refused(&app, &token).await;
    assert_eq!(err.message(), "User account is disabled.");

    ops::set_user_active(&mut conn, "gone@example.org", true).await.unwrap();
    assert!(who_am_i(&app, with_bearer(WhoAmIRequest {}, &token)).await.is_ok());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_role_changes_show_up() {
    let app = TestApp::start().await;
    let token = app.db.token("boss@example.org", None).await;
    assert!(!who_am_i(&app, with_bearer(WhoAmIRequest {}, &token)).await.unwrap().admin);

    let mut conn = app.db.conn().await;
    assert_eq!(ops::set_admin(&mut conn, "boss@example.org", false).await.unwrap(), ops::AdminChange::Promoted);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        let me = who_am_i(&app, with_bearer(WhoAmIRequest {}, &token)).await.unwrap();
        if me.admin {
            assert_eq!(me.roles, vec!["admin"]);
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "promotion never showed up");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_are_stored_hashed_and_use_is_recorded() {
    let app = TestApp::start().await;
    let (id, token) = app.db.token_with(request("hash@example.org")).await;
    who_am_i(&app, with_bearer(WhoAmIRequest {}, &token)).await.unwrap();
    let mut conn = app.db.conn().await;
    let (hash, last_used): (Vec<u8>, Option<chrono::DateTime<chrono::Utc>>) = api_tokens::table
        .find(id)
        .select((api_tokens::token_hash, api_tokens::last_used_at))
        .first(&mut conn)
        .await
        .unwrap();
    assert_eq!(hash, steward::auth::token::hash(&token).0.to_vec());
    assert!(!hash.windows(8).any(|w| token.as_bytes().windows(8).any(|t| t == w)));
    assert!(last_used.is_some());
}

fn request(email: &str) -> TokenRequest {
    TokenRequest { email: email.into(), role: None, description: "test".into(), expires_in: None }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gzip_requests_and_responses_work() {
    use tonic::codec::CompressionEncoding;
    let app = TestApp::start().await;
    let token = app.db.token("zip@example.org", None).await;
    let mut client = app
        .authorization()
        .await
        .send_compressed(CompressionEncoding::Gzip)
        .accept_compressed(CompressionEncoding::Gzip);
    let response = client.who_am_i(with_bearer(WhoAmIRequest {}, &token)).await.unwrap();
    assert_eq!(response.metadata().get("grpc-encoding").map(|v| v.to_str().unwrap()), Some("gzip"));
    assert_eq!(response.into_inner().email, "zip@example.org");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn identity_changes_are_audited_and_repeats_are_not() {
    use steward::db::schema::audit_log;
    let db = crate::common::TestDb::new().await;
    let mut conn = db.conn().await;
    // Through ops directly: the harness's token fixtures clear their own audit rows.
    let request = TokenRequest { description: "ci".into(), ..request("audit@example.org") };
    let id = ops::create_user_token(&mut conn, request).await.unwrap().id;
    ops::set_admin(&mut conn, "audit@example.org", false).await.unwrap();
    ops::set_admin(&mut conn, "audit@example.org", false).await.unwrap(); // already admin: no row
    ops::set_user_active(&mut conn, "audit@example.org", false).await.unwrap();
    ops::set_user_active(&mut conn, "audit@example.org", false).await.unwrap(); // no change: no row
    ops::revoke_token(&mut conn, id).await.unwrap();
    ops::set_admin(&mut conn, "new-admin@example.org", false).await.unwrap();

    let rows: Vec<(String, String, Option<serde_json::Value>, Option<serde_json::Value>)> = audit_log::table
        .order(audit_log::id)
        .select((audit_log::action, audit_log::target_type, audit_log::before_state, audit_log::after_state))
        .load(&mut conn)
        .await
        .unwrap();
    let actions: Vec<&str> = rows.iter().map(|r| r.0.as_str()).collect();
    assert_eq!(
        actions,
        ["user_created", "api_token_created", "user_updated", "user_updated", "api_token_revoked", "user_created"]
    );
    assert_eq!(rows[1].3, Some(serde_json::json!({"user": "audit@example.org", "description": "ci"})));
    assert_eq!(rows[2].3, Some(serde_json::json!({"admin": true})));
    assert_eq!(rows[3].2, Some(serde_json::json!({"is_active": true})));
    assert_eq!(rows[5].3.as_ref().unwrap()["admin"], true);
}
