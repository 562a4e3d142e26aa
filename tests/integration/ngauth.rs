//! Neuroglancer ngauth (spec authorization_dataset.md §3.6, scenarios 81–100):
//! `/token`, the `/login?origin=` popup page, `/gcs_token` against the
//! sandbox STS, and `/activate`, over plain HTTP with the browser's headers
//! set by hand (the Chromium run is tests/e2e/browser/ngauth.test.mjs).

use std::collections::BTreeSet;
use std::time::Duration;

use diesel_async::RunQueryDsl as _;
use serde_json::{Value, json};
use steward::auth::ops::TokenRequest;
use steward::dataset::audit::Actor;
use steward::dataset::ops::{self, GrantSpec, Grantee, TosSpec};
use steward::dataset::permissions::Level;

use crate::common::http::Reply;
use crate::common::{TestApp, TestDb};

const ALLOWED: &str = "https://viewer.neuroglancer.org";
const ORIGINS: &str = r"https://([A-Za-z0-9-]+\.)*neuroglancer\.org|http://localhost:\d+";

async fn start(extra: &[(&str, &str)]) -> TestApp {
    let mut vars = vec![("STEWARD_NGAUTH_ALLOWED_ORIGINS", ORIGINS), ("STEWARD_RATE_LIMIT", "off")];
    vars.extend_from_slice(extra);
    TestApp::start_with(TestDb::new().await, &vars).await.0
}

async fn sql(app: &TestApp, query: &str) {
    let mut conn = app.db.conn().await;
    diesel::sql_query(query).execute(&mut conn).await.expect(query);
}

/// A direct SQL change, then the eviction its RPC would have sent.
async fn sql_evicting(app: &TestApp, query: &str) {
    sql(app, query).await;
    sql(app, "SELECT pg_notify('steward_auth', 'all')").await;
    tokio::time::sleep(Duration::from_millis(200)).await;
}

async fn user_id(app: &TestApp, email: &str) -> i64 {
    #[derive(diesel::QueryableByName)]
    struct Id {
        #[diesel(sql_type = diesel::sql_types::Int8)]
        id: i64,
    }
    let mut conn = app.db.conn().await;
    let rows: Vec<Id> = diesel::sql_query("SELECT id FROM users WHERE email = $1")
        .bind::<diesel::sql_types::Text, _>(email)
        .load(&mut conn)
        .await
        .unwrap();
    rows[0].id
}

impl Reply {
    /// The `access-control-*` header names, sorted.
    fn cors_names(&self) -> BTreeSet<String> {
        self.headers.keys().map(|k| k.as_str().to_owned()).filter(|k| k.starts_with("access-control-")).collect()
    }
}

async fn send(
    app: &TestApp,
    method: reqwest::Method,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<String>,
) -> Reply {
    let client = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let mut request = client.request(method, format!("{}{path}", app.url()));
    for (k, v) in headers {
        request = request.header(*k, *v);
    }
    if let Some(body) = body {
        request = request.body(body);
    }
    Reply::read(request.send().await.unwrap()).await
}

async fn post(app: &TestApp, path: &str, headers: &[(&str, &str)], body: Option<String>) -> Reply {
    send(app, reqwest::Method::POST, path, headers, body).await
}

fn cookie(token: &str) -> String {
    format!("dsg_token={token}")
}

/// `POST /token` from the allowed viewer with the cookie; the ngauth token.
async fn ngauth_token(app: &TestApp, login: &str) -> String {
    let reply = post(app, "/token", &[("origin", ALLOWED), ("cookie", &cookie(login))], None).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    reply.body
}

/// `POST /gcs_token` as Neuroglancer sends it: text/plain JSON, no credentials.
async fn gcs(app: &TestApp, token: &str, bucket: &str) -> Reply {
    let body = json!({"token": token, "bucket": bucket}).to_string();
    post(app, "/gcs_token", &[("origin", ALLOWED), ("content-type", "text/plain;charset=UTF-8")], Some(body)).await
}

async fn sandbox_calls(app: &TestApp) -> Vec<Value> {
    let reply = send(app, reqwest::Method::GET, "/sandbox/gcp/_calls", &[], None).await;
    reply.json()["calls"].as_array().unwrap().clone()
}

async fn dataset(app: &TestApp, name: &str, public: bool) -> i64 {
    let mut conn = app.db.conn().await;
    ops::create_dataset(&mut conn, Actor::System, name, "", public).await.unwrap().id
}

async fn version(app: &TestApp, dataset_id: i64, name: &str, buckets: &[&str], is_public: bool) -> i64 {
    let mut conn = app.db.conn().await;
    ops::create_version(&mut conn, Actor::System, dataset_id, name, buckets, is_public).await.unwrap().id
}

async fn grant(app: &TestApp, dataset_id: i64, version_id: Option<i64>, grantee: Grantee) {
    let mut conn = app.db.conn().await;
    let spec = GrantSpec { dataset_id, version_id, level: Level::View, grantee, source: "manual" };
    ops::grant(&mut conn, Actor::System, spec).await.unwrap();
}

async fn tos(app: &TestApp, dataset_id: i64, version_id: Option<i64>) -> i64 {
    let mut conn = app.db.conn().await;
    let spec = TosSpec {
        name: "Terms",
        text: "Be nice.",
        dataset_id: Some(dataset_id),
        version_id,
        service: None,
        effective_at: None,
        retired_at: None,
    };
    ops::create_tos_document(&mut conn, Actor::System, spec).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_needs_an_active_users_cookie_and_an_allowed_origin() {
    let app = start(&[]).await;
    let alice = app.db.token("alice@example.org", None).await;

    // Allowed origin with a valid cookie: the token, readable cross-origin with credentials.
    let reply = post(&app, "/token", &[("origin", ALLOWED), ("cookie", &cookie(&alice))], None).await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.header("content-type"), Some("text/plain; charset=utf-8"));
    assert_eq!(reply.header("access-control-allow-origin"), Some(ALLOWED));
    assert_eq!(reply.header("access-control-allow-credentials"), Some("true"));
    assert_eq!(reply.header("vary"), Some("Origin"));
    assert_eq!(reply.header("x-frame-options"), Some("deny"));
    assert_eq!(reply.header("cache-control"), Some("no-store"));
    let expected: BTreeSet<String> =
        ["access-control-allow-credentials", "access-control-allow-origin"].map(String::from).into();
    assert_eq!(reply.cors_names(), expected);
    assert!(reply.body.len() > 40 && !reply.body.contains(&alice));

    // Without Origin (a script) the cookie still works, with no CORS headers.
    let reply = post(&app, "/token", &[("cookie", &cookie(&alice))], None).await;
    assert_eq!((reply.status, reply.cors_names().len()), (200, 0));

    // No cookie, an unknown one, a service account's, an expired one, a disabled user's.
    let not_logged_in = json!({"error": "Not logged in"});
    let (_, expiring) = app
        .db
        .token_with(TokenRequest {
            email: "carol@example.org".into(),
            role: None,
            description: "short".into(),
            expires_in: Some(Duration::from_secs(1)),
        })
        .await;
    let bot = {
        let mut conn = app.db.conn().await;
        ops::create_service_account(&mut conn, Actor::System, "ci-bot", "CI").await.unwrap().1
    };
    let dave = app.db.token("dave@example.org", None).await;
    sql(&app, "UPDATE users SET is_active = false WHERE email = 'dave@example.org'").await;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let unknown = "ab".repeat(32);
    for credential in [None, Some(unknown.as_str()), Some(bot.as_str()), Some(expiring.as_str()), Some(dave.as_str())] {
        let cookie_header = credential.map(cookie);
        let mut headers = vec![("origin", ALLOWED)];
        if let Some(c) = &cookie_header {
            headers.push(("cookie", c));
        }
        let reply = post(&app, "/token", &headers, None).await;
        assert_eq!((reply.status, reply.json()), (401, not_logged_in.clone()), "{credential:?}");
        assert_eq!(reply.header("access-control-allow-origin"), Some(ALLOWED));
    }

    // A malformed origin is 400; a valid but refused one a readable 403.
    let reply = post(&app, "/token", &[("origin", "notaurl"), ("cookie", &cookie(&alice))], None).await;
    assert_eq!((reply.status, reply.json()), (400, json!({"error": "Invalid Origin"})));
    assert!(reply.cors_names().is_empty());
    for evil in ["https://evil.example.com", "https://x.neuroglancer.org.attacker.example"] {
        let reply = post(&app, "/token", &[("origin", evil), ("cookie", &cookie(&alice))], None).await;
        assert_eq!((reply.status, reply.json()), (403, json!({"error": "Origin not allowed"})), "{evil}");
        assert_eq!(reply.header("access-control-allow-origin"), Some(evil));
        assert_eq!(reply.header("access-control-allow-credentials"), Some("true"));
        assert_eq!(reply.header("vary"), Some("Origin"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn preflights_carry_exactly_five_headers_for_allowed_origins_only() {
    let app = start(&[]).await;
    for path in ["/token", "/gcs_token"] {
        let preflight = [("origin", ALLOWED), ("access-control-request-method", "POST")];
        let reply = send(&app, reqwest::Method::OPTIONS, path, &preflight, None).await;
        assert_eq!((reply.status, reply.body.as_str()), (200, ""), "{path}");
        let expected: BTreeSet<String> = [
            "access-control-allow-credentials",
            "access-control-allow-headers",
            "access-control-allow-methods",
            "access-control-allow-origin",
            "access-control-max-age",
        ]
        .map(String::from)
        .into();
        assert_eq!(reply.cors_names(), expected, "{path}");
        assert_eq!(reply.header("access-control-allow-origin"), Some(ALLOWED));
        assert_eq!(reply.header("access-control-allow-methods"), Some("POST, OPTIONS"));
        assert_eq!(reply.header("access-control-allow-headers"), Some("Content-Type"));
        assert_eq!(reply.header("access-control-allow-credentials"), Some("true"));
        assert_eq!(reply.header("access-control-max-age"), Some("86400"));
        for headers in [vec![("origin", "https://evil.example.com"), ("access-control-request-method", "POST")], vec![]]
        {
            let reply = send(&app, reqwest::Method::OPTIONS, path, &headers, None).await;
            assert_eq!(reply.status, 200);
            assert!(reply.cors_names().is_empty(), "{path} {headers:?}: {:?}", reply.cors_names());
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gcs_token_downscopes_a_covered_bucket_through_the_sandbox_sts() {
    let app = start(&[]).await;
    let alice = app.db.token("alice@example.org", None).await;
    let alice_id = user_id(&app, "alice@example.org").await;
    let fish = dataset(&app, "fish2", false).await;
    version(&app, fish, "v1", &["fish2-bucket"], false).await;
    grant(&app, fish, None, Grantee::User(alice_id)).await;
    let token = ngauth_token(&app, &alice).await;

    let reply = gcs(&app, &token, "fish2-bucket").await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.header("access-control-allow-origin"), Some(ALLOWED));
    assert_eq!(reply.header("access-control-allow-credentials"), Some("true"));
    let issued = reply.json()["token"].as_str().unwrap().to_owned();
    assert!(issued.starts_with("sandbox-gcs.fish2-bucket."), "{issued}");

    // The sandbox got one metadata call (the source token) and exactly the spec's exchange.
    let calls = sandbox_calls(&app).await;
    assert_eq!(calls.len(), 2, "{calls:?}");
    assert_eq!(calls[0]["route"], "metadata");
    let source = calls[0]["issued"].as_str().unwrap();
    assert_eq!(calls[1]["route"], "sts");
    assert_eq!(calls[1]["status"], 200);
    assert_eq!(calls[1]["content_type"], "application/x-www-form-urlencoded");
    let expected = "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Atoken-exchange&options=%7B%22accessBoundary%22%3A%7B%22accessBoundaryRules%22%3A%5B%7B%22availableResource%22%3A%22%2F%2Fstorage.googleapis.com%2Fprojects%2F_%2Fbuckets%2Ffish2-bucket%22%2C%22availablePermissions%22%3A%5B%22inRole%3Aroles%2Fstorage.objectViewer%22%5D%7D%5D%7D%7D&requested_token_type=urn%3Aietf%3Aparams%3Aoauth%3Atoken-type%3Aaccess_token&subject_token=SOURCE_TOKEN&subject_token_type=urn%3Aietf%3Aparams%3Aoauth%3Atoken-type%3Aaccess_token";
    assert_eq!(calls[1]["body"], expected.replace("SOURCE_TOKEN", source));
    assert_eq!(calls[1]["issued"], issued.as_str());

    // The downscoped token names no user: a second ask is served from the cache.
    let again = gcs(&app, &token, "fish2-bucket").await;
    assert_eq!((again.status, again.json()["token"].as_str()), (200, Some(issued.as_str())));
    assert_eq!(sandbox_calls(&app).await.len(), 2);

    // An unknown bucket: 403 without contacting STS.
    let reply = gcs(&app, &token, "nobodys-bucket").await;
    assert_eq!((reply.status, reply.json()), (403, json!({"error": "Access denied"})));
    assert_eq!(sandbox_calls(&app).await.len(), 2);

    // Disallowed origin: 403 without CORS headers; no Origin (a script): served.
    let body = json!({"token": token, "bucket": "fish2-bucket"}).to_string();
    let reply = post(&app, "/gcs_token", &[("origin", "https://evil.example.com")], Some(body.clone())).await;
    assert_eq!((reply.status, reply.json()), (403, json!({"error": "Origin not allowed"})));
    assert!(reply.cors_names().is_empty());
    let reply = post(&app, "/gcs_token", &[], Some(body)).await;
    assert_eq!((reply.status, reply.cors_names().len()), (200, 0));

    // Bad bodies.
    for (body, error) in [
        ("[]", "Invalid request body"),
        ("not json", "Invalid request body"),
        (r#"{"token":"x"}"#, "Missing token or bucket"),
        (r#"{"token":"","bucket":"b"}"#, "Missing token or bucket"),
        (r#"{"token":1,"bucket":"b"}"#, "Missing token or bucket"),
    ] {
        let reply = post(&app, "/gcs_token", &[("origin", ALLOWED)], Some(body.into())).await;
        assert_eq!((reply.status, reply.json()), (400, json!({"error": error})), "{body}");
    }
    let big = json!({"token": "x".repeat(5000), "bucket": "b"}).to_string();
    assert_eq!(post(&app, "/gcs_token", &[], Some(big)).await.status, 400);

    // Revoking the grant: the same ngauth token is refused at once.
    sql_evicting(&app, &format!("DELETE FROM grants WHERE user_id = {alice_id}")).await;
    let reply = gcs(&app, &token, "fish2-bucket").await;
    assert_eq!((reply.status, reply.json()), (403, json!({"error": "Access denied"})));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_expired_and_orphaned_ngauth_tokens_are_refused() {
    let app = start(&[("STEWARD_NGAUTH_TOKEN_LIFETIME", "2s")]).await;
    let alice = app.db.token("alice@example.org", None).await;
    let alice_id = user_id(&app, "alice@example.org").await;
    let public = dataset(&app, "open", true).await;
    version(&app, public, "v1", &["open-bucket"], false).await;
    let invalid = json!({"error": "Invalid authentication token"});

    let token = ngauth_token(&app, &alice).await;
    assert_eq!(gcs(&app, &token, "open-bucket").await.status, 200);
    // Another user's id under the same MAC, and junk.
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD;
    let mut raw = b64.decode(&token).unwrap();
    let json_part = String::from_utf8(raw[32..].to_vec()).unwrap();
    let forged = json_part.replace(&format!("\"u\":{alice_id}"), &format!("\"u\":{}", alice_id + 1));
    assert_ne!(forged, json_part);
    raw.truncate(32);
    raw.extend_from_slice(forged.as_bytes());
    for bad in [b64.encode(&raw), "junk".to_owned(), format!("{token}x")] {
        let reply = gcs(&app, &bad, "open-bucket").await;
        assert_eq!((reply.status, reply.json()), (401, invalid.clone()), "{bad}");
    }
    // Expired after its lifetime.
    tokio::time::sleep(Duration::from_millis(2100)).await;
    assert_eq!((gcs(&app, &token, "open-bucket").await.json()), invalid);

    // A disabled user, then a revoked login credential (logout), end GCS access.
    let token = ngauth_token(&app, &alice).await;
    sql(&app, &format!("UPDATE users SET is_active = false WHERE id = {alice_id}")).await;
    assert_eq!(gcs(&app, &token, "open-bucket").await.json(), invalid);
    sql(&app, &format!("UPDATE users SET is_active = true WHERE id = {alice_id}")).await;
    assert_eq!(gcs(&app, &token, "open-bucket").await.status, 200);
    sql(&app, &format!("UPDATE api_tokens SET revoked_at = now() WHERE user_id = {alice_id}")).await;
    assert_eq!(gcs(&app, &token, "open-bucket").await.json(), invalid);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn coverage_follows_grants_groups_versions_public_datasets_and_tos() {
    let app = start(&[]).await;
    let public_url = app.url();
    let alice = app.db.token("alice@example.org", None).await;
    let alice_id = user_id(&app, "alice@example.org").await;
    let token = ngauth_token(&app, &alice).await;

    // A closed dataset with a TOS and no grant: denied without naming it.
    let secret = dataset(&app, "secret-fish", false).await;
    version(&app, secret, "v1", &["secret-bucket"], false).await;
    tos(&app, secret, None).await;
    let reply = gcs(&app, &token, "secret-bucket").await;
    assert_eq!((reply.status, reply.json()), (403, json!({"error": "Access denied"})));
    assert!(!reply.body.contains("secret-fish"));

    // A closed dataset whose only coverage would be a public version: denied.
    let shown = dataset(&app, "shown", false).await;
    version(&app, shown, "v1", &["shown-bucket"], true).await;
    assert_eq!(gcs(&app, &token, "shown-bucket").await.json(), json!({"error": "Access denied"}));

    // A group grant covers; a granted dataset with an unaccepted TOS says where to accept it.
    let team = {
        let mut conn = app.db.conn().await;
        let id = ops::create_group(&mut conn, Actor::System, "team").await.unwrap();
        ops::add_member(&mut conn, Actor::System, alice_id, "team", false).await.unwrap();
        id
    };
    let fish = dataset(&app, "fish2", false).await;
    version(&app, fish, "v1", &["fish2-bucket"], false).await;
    grant(&app, fish, None, Grantee::Group(team)).await;
    assert_eq!(gcs(&app, &token, "fish2-bucket").await.status, 200);
    let fish_tos = tos(&app, fish, None).await;
    let reply = gcs(&app, &token, "fish2-bucket").await;
    let url = format!("{public_url}/web/tos/service-check/?dataset=fish2");
    let message = format!("Accept the terms of service for dataset fish2 at {url}");
    assert_eq!(
        (reply.status, reply.json()),
        (403, json!({"error": "tos_required", "message": message, "tos_url": url}))
    );
    // /activate accepts it (by header credential here), and the bucket is issued.
    let bearer = format!("Bearer {alice}");
    let reply =
        post(&app, "/activate", &[("authorization", &bearer)], Some(json!({"tos_id": fish_tos}).to_string())).await;
    assert_eq!((reply.status, reply.json()), (200, json!({"status": "activated"})));
    assert_eq!(gcs(&app, &token, "fish2-bucket").await.status, 200);

    // A version-scoped grant on a version with its own TOS: the URL names the version.
    let fly = dataset(&app, "fly", false).await;
    let v2 = version(&app, fly, "v2.1", &["fly-bucket"], false).await;
    version(&app, fly, "v3", &["other-fly-bucket"], false).await;
    let v2_tos = tos(&app, fly, Some(v2)).await;
    grant(&app, fly, Some(v2), Grantee::User(alice_id)).await;
    let reply = gcs(&app, &token, "fly-bucket").await;
    let url = format!("{public_url}/web/tos/service-check/?dataset=fly&version=v2.1");
    assert_eq!(reply.json()["tos_url"], url.as_str());
    assert!(!reply.body.contains("next"));
    // That grant does not reach another version's bucket.
    assert_eq!(gcs(&app, &token, "other-fly-bucket").await.json(), json!({"error": "Access denied"}));
    let form = format!("tos_id={v2_tos}");
    let reply = post(&app, "/activate", &[("authorization", &bearer)], Some(form)).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(gcs(&app, &token, "fly-bucket").await.status, 200);

    // A public dataset: issued without a grant, or after its TOS is accepted.
    let open = dataset(&app, "open", true).await;
    version(&app, open, "v1", &["open-bucket"], false).await;
    assert_eq!(gcs(&app, &token, "open-bucket").await.status, 200);
    let open_tos = tos(&app, open, None).await;
    let reply = gcs(&app, &token, "open-bucket").await;
    assert_eq!(reply.json()["error"], "tos_required");
    assert_eq!(reply.json()["tos_url"], format!("{public_url}/web/tos/service-check/?dataset=open"));
    let reply =
        post(&app, "/activate", &[("authorization", &bearer)], Some(json!({"tos_id": open_tos}).to_string())).await;
    assert_eq!(reply.status, 200);
    assert_eq!(gcs(&app, &token, "open-bucket").await.status, 200);

    // Deleting an acceptance brings tos_required back with the same ngauth token.
    sql_evicting(&app, &format!("DELETE FROM tos_acceptances WHERE tos_document_id = {fish_tos}")).await;
    assert_eq!(gcs(&app, &token, "fish2-bucket").await.json()["error"], "tos_required");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retired_version_tos_no_longer_holds_access_back() {
    // A retired document can no longer be accepted (spec §3.5 accept_tos (1)),
    // so neither /gcs_token nor the service-check page may still ask for it.
    let app = start(&[]).await;
    let alice = app.db.token("alice@example.org", None).await;
    let alice_id = user_id(&app, "alice@example.org").await;
    let token = ngauth_token(&app, &alice).await;
    let fly = dataset(&app, "fly", false).await;
    let v2 = version(&app, fly, "v2", &["fly-bucket"], false).await;
    grant(&app, fly, Some(v2), Grantee::User(alice_id)).await;
    let v2_tos = tos(&app, fly, Some(v2)).await;
    let check = "/web/tos/service-check/?dataset=fly&version=v2&next=%2Fdone";
    let signed_in = [("cookie", cookie(&alice))];
    let signed_in: Vec<(&str, &str)> = signed_in.iter().map(|(k, v)| (*k, v.as_str())).collect();

    assert_eq!(gcs(&app, &token, "fly-bucket").await.json()["error"], "tos_required");
    let page = send(&app, reqwest::Method::GET, check, &signed_in, None).await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains("Accept all"), "{}", page.body);

    sql_evicting(&app, &format!("UPDATE tos_documents SET retired_at = now() WHERE id = {v2_tos}")).await;
    assert_eq!(gcs(&app, &token, "fly-bucket").await.status, 200);
    let page = send(&app, reqwest::Method::GET, check, &signed_in, None).await;
    assert_eq!((page.status, page.headers["location"].to_str().unwrap()), (302, "/done"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn source_and_sts_failures_are_503_and_502() {
    let app = start(&[]).await;
    let alice = app.db.token("alice@example.org", None).await;
    let open = dataset(&app, "open", true).await;
    version(&app, open, "v1", &["open-bucket"], false).await;
    let token = ngauth_token(&app, &alice).await;

    assert_eq!(post(&app, "/sandbox/gcp/_fail?metadata=503", &[], None).await.status, 204);
    let reply = gcs(&app, &token, "open-bucket").await;
    assert_eq!((reply.status, reply.json()), (503, json!({"error": "Credential service unavailable"})));
    assert_eq!(post(&app, "/sandbox/gcp/_fail?sts=500", &[], None).await.status, 204);
    let reply = gcs(&app, &token, "open-bucket").await;
    assert_eq!((reply.status, reply.json()), (502, json!({"error": "Credential exchange failed"})));
    assert_eq!(post(&app, "/sandbox/gcp/_reset", &[], None).await.status, 204);
    assert_eq!(gcs(&app, &token, "open-bucket").await.status, 200);
    // The source token fetched before the STS failure is still good: only the exchange is repeated.
    let routes: Vec<Value> = sandbox_calls(&app).await.iter().map(|c| c["route"].clone()).collect();
    assert_eq!(routes, [json!("sts")]);
}

/// The JSON in `<script id="{id}" type="application/json">…</script>`.
fn script_block(html: &str, id: &str) -> Value {
    let start = format!(r#"<script id="{id}" type="application/json">"#);
    let from = html.find(&start).unwrap_or_else(|| panic!("no {id} in {html}")) + start.len();
    let to = from + html[from..].find("</script>").unwrap();
    serde_json::from_str(&html[from..to]).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_login_popup_posts_a_token_or_badorigin_to_the_opener() {
    let app = start(&[]).await;
    let alice = app.db.token("alice@example.org", None).await;
    let open = dataset(&app, "open", true).await;
    version(&app, open, "v1", &["open-bucket"], false).await;
    let get = |path: String, cookie_value: Option<String>| {
        let app = &app;
        async move {
            let mut headers = vec![];
            let c = cookie_value.map(|t| cookie(&t));
            if let Some(c) = &c {
                headers.push(("cookie", c.as_str()));
            }
            send(app, reqwest::Method::GET, &path, &headers, None).await
        }
    };
    let encoded = |o: &str| -> String { form_urlencoded::byte_serialize(o.as_bytes()).collect() };

    // Signed in, allowed origin: a token /gcs_token accepts, posted to exactly that origin.
    let reply = get(format!("/login?origin={}", encoded(ALLOWED)), Some(alice.clone())).await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.header("cache-control"), Some("no-store"));
    assert_eq!(reply.header("cross-origin-opener-policy"), Some("unsafe-none"));
    let csp = reply.header("content-security-policy").unwrap();
    let nonce = csp.split("'nonce-").nth(1).unwrap().split('\'').next().unwrap();
    assert!(reply.body.contains(&format!(r#"<script nonce="{nonce}">"#)));
    assert_eq!(script_block(&reply.body, "ngauth-origin"), json!(ALLOWED));
    let token = script_block(&reply.body, "ngauth-payload")["token"].as_str().unwrap().to_owned();
    assert_eq!(gcs(&app, &token, "open-bucket").await.status, 200);

    // A valid origin that is not allowed gets "badorigin", signed in or not.
    for who in [Some(alice.clone()), None] {
        let reply = get(format!("/login?origin={}", encoded("https://evil.example.com")), who).await;
        assert_eq!(reply.status, 200);
        assert_eq!(script_block(&reply.body, "ngauth-payload"), json!("badorigin"));
        assert_eq!(script_block(&reply.body, "ngauth-origin"), json!("https://evil.example.com"));
    }

    // Malformed origins are 400.
    for bad in [
        "notaurl",
        "https://host/path",
        "https://a\"b",
        "https://host:99999",
        "https://user:pw@host",
        "https://host.",
        "https://-host",
        "https://host?q=1",
        "https://host#f",
        "ftp://host",
        " https://host",
    ] {
        let reply = get(format!("/login?origin={}", encoded(bad)), Some(alice.clone())).await;
        assert_eq!(reply.status, 400, "{bad}");
        assert!(!reply.body.contains("ngauth-payload"));
    }

    // Not signed in (or disabled): off to sign-in, coming back here.
    let reply = get(format!("/login?origin={}", encoded("http://localhost:8000")), None).await;
    assert_eq!(reply.status, 302);
    assert_eq!(
        reply.header("location"),
        Some("/auth/login?next=%2Flogin%3Forigin%3Dhttp%253A%252F%252Flocalhost%253A8000")
    );

    // Without origin: a status page.
    let reply = get("/login".into(), Some(alice.clone())).await;
    assert!(reply.body.contains("Logged in as alice@example.org"), "{}", reply.body);
    let reply = get("/login".into(), None).await;
    assert!(reply.body.contains("Not logged in") && reply.body.contains("/auth/login"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn activate_accepts_a_tos_once_and_never_takes_a_bucket() {
    let app = start(&[]).await;
    let alice = app.db.token("alice@example.org", None).await;
    let alice_id = user_id(&app, "alice@example.org").await;
    let fish = dataset(&app, "fish2", false).await;
    grant(&app, fish, None, Grantee::User(alice_id)).await;
    let fish_tos = tos(&app, fish, None).await;
    let closed = dataset(&app, "closed", false).await;
    let closed_tos = tos(&app, closed, None).await;
    let body = |id: i64| Some(json!({"tos_id": id}).to_string());
    let own = app.url();

    assert_eq!(post(&app, "/activate", &[], body(fish_tos)).await.json(), json!({"error": "Not logged in"}));
    let c = cookie(&alice);
    // The cookie from another site is refused; from Steward's own origin or an allowed viewer it works.
    let reply =
        post(&app, "/activate", &[("cookie", &c), ("origin", "https://evil.example.com")], body(fish_tos)).await;
    assert_eq!((reply.status, reply.json()), (403, json!({"error": "Origin not allowed"})));
    let reply = post(&app, "/activate", &[("cookie", &c)], body(fish_tos)).await;
    assert_eq!(reply.status, 403);
    let reply =
        post(&app, "/activate", &[("cookie", &c), ("origin", &own)], Some(r#"{"bucket":"any-bucket"}"#.into())).await;
    assert_eq!((reply.status, reply.json()), (400, json!({"error": "Missing tos_id"})));
    let reply = post(&app, "/activate", &[("cookie", &c), ("origin", &own)], body(999_999)).await;
    assert_eq!((reply.status, reply.json()), (404, json!({"error": "TOS document not found"})));
    let reply = post(&app, "/activate", &[("cookie", &c), ("origin", &own)], body(closed_tos)).await;
    assert_eq!((reply.status, reply.json()), (403, json!({"error": "Access denied"})));
    for origin in [own.as_str(), ALLOWED] {
        let reply = post(&app, "/activate", &[("cookie", &c), ("origin", origin)], body(fish_tos)).await;
        assert_eq!((reply.status, reply.json()), (200, json!({"status": "activated"})));
    }
    let referer = format!("{own}/web/tos/x/");
    let reply = post(&app, "/activate", &[("cookie", &c), ("referer", &referer)], body(fish_tos)).await;
    assert_eq!(reply.status, 200);

    #[derive(diesel::QueryableByName)]
    struct Count {
        #[diesel(sql_type = diesel::sql_types::Int8)]
        n: i64,
    }
    let mut conn = app.db.conn().await;
    let audited: Vec<Count> = diesel::sql_query("SELECT count(*) AS n FROM audit_log WHERE action = 'tos_accepted'")
        .load(&mut conn)
        .await
        .unwrap();
    assert_eq!(audited[0].n, 1);
    let accepted: Vec<Count> =
        diesel::sql_query("SELECT count(*) AS n FROM tos_acceptances").load(&mut conn).await.unwrap();
    assert_eq!(accepted[0].n, 1);
}
