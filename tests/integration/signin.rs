//! Sign-in and logout (spec authorization_dataset.md §3.5, §4.2, §4.5,
//! scenarios 58–72) against the sandbox OIDC provider, over plain HTTP with a
//! cookie jar standing in for the browser (the Chromium run is
//! tests/e2e/browser/signin.test.mjs).

use std::collections::BTreeMap;
use std::time::Duration;

use diesel::QueryableByName;
use diesel_async::RunQueryDsl as _;
use serde_json::{Value, json};
use steward::dataset::audit::Actor;
use steward::dataset::ops::{self, TosSpec};
use steward::proto::authorization::v1::{GetUserCacheRequest, WhoAmIRequest};
use tonic::Code;

use crate::common::http::Reply;
use crate::common::{TestApp, TestDb, with_bearer, with_header};

const RSA_KEY: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/jwt/test-only-rsa2048.pk8.der");

async fn start(extra: &[(&str, &str)]) -> TestApp {
    let mut vars = vec![
        ("STEWARD_RATE_LIMIT", "off"),
        // RS256, as Google signs.
        ("STEWARD_OIDC_SANDBOX_RSA_KEY", RSA_KEY),
        ("STEWARD_REDIRECT_ALLOWED_HOSTS", "janelia.org"),
    ];
    vars.extend_from_slice(extra);
    TestApp::start_with(TestDb::new().await, &vars).await.0
}

impl Reply {
    fn location(&self) -> &str {
        self.headers.get("location").map(|v| v.to_str().unwrap()).unwrap_or_else(|| panic!("no Location: {self:?}"))
    }

    fn set_cookies(&self) -> Vec<String> {
        self.headers.get_all("set-cookie").iter().map(|v| v.to_str().unwrap().to_owned()).collect()
    }

    /// The `Set-Cookie` for `name`.
    fn set_cookie(&self, name: &str) -> String {
        self.set_cookies()
            .into_iter()
            .find(|c| c.starts_with(&format!("{name}=")))
            .unwrap_or_else(|| panic!("no {name} cookie in {:?}", self.set_cookies()))
    }
}

/// A browser: follows nothing by itself, keeps cookies by name (this server
/// only), sends them back.
struct Browser {
    base: String,
    http: reqwest::Client,
    jar: BTreeMap<String, String>,
}

impl Browser {
    fn new(app: &TestApp) -> Self {
        let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
        Browser { base: app.url(), http, jar: BTreeMap::new() }
    }

    fn url(&self, path_or_url: &str) -> String {
        if path_or_url.starts_with("http") { path_or_url.to_owned() } else { format!("{}{path_or_url}", self.base) }
    }

    fn cookie(&self, name: &str) -> Option<&str> {
        self.jar.get(name).map(String::as_str)
    }

    async fn send(&mut self, request: reqwest::RequestBuilder) -> Reply {
        let header = self.jar.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("; ");
        let request = if header.is_empty() { request } else { request.header("cookie", header) };
        let reply = Reply::read(request.send().await.unwrap()).await;
        for set in reply.set_cookies() {
            let (pair, attributes) = set.split_once(';').unwrap_or((&set, ""));
            let (name, value) = pair.split_once('=').unwrap();
            if attributes.contains("Max-Age=0") {
                self.jar.remove(name);
            } else {
                self.jar.insert(name.to_owned(), value.to_owned());
            }
        }
        reply
    }

    async fn get(&mut self, path: &str) -> Reply {
        let request = self.http.get(self.url(path));
        self.send(request).await
    }

    async fn post_form(&mut self, path: &str, form: &[(String, String)]) -> Reply {
        let body = form_urlencoded::Serializer::new(String::new()).extend_pairs(form).finish();
        let request =
            self.http.post(self.url(path)).header("content-type", "application/x-www-form-urlencoded").body(body);
        self.send(request).await
    }

    /// Starts at `start` (an authorize or login URL), picks `email` at the
    /// sandbox (with a failure mode), and returns the callback's reply.
    async fn sign_in(&mut self, start: &str, email: &str, forge: &str) -> Reply {
        let callback = self.pick(start, email, forge).await;
        self.get(&callback).await
    }

    /// Up to the provider's redirect back: returns the callback URL.
    async fn pick(&mut self, start: &str, email: &str, forge: &str) -> String {
        let to_provider = self.get(start).await;
        assert_eq!(to_provider.status, 302, "{to_provider:?}");
        let authorize_url = to_provider.location().to_owned();
        let page = self.get(&authorize_url).await;
        assert_eq!(page.status, 200, "{}", page.body);
        assert!(page.body.contains("alice@example.org"), "the picker lists the configured accounts");
        let query = reqwest::Url::parse(&authorize_url).unwrap();
        let mut form: Vec<(String, String)> = query.query_pairs().into_owned().collect();
        form.retain(|(k, _)| k != "scope" && k != "login_hint");
        form.extend([
            ("email".into(), email.into()),
            ("decision".into(), "allow".into()),
            ("forge".into(), forge.into()),
        ]);
        let back = self.post_form("/sandbox/oidc/authorize/decision", &form).await;
        assert_eq!(back.status, 302, "{}", back.body);
        back.location().to_owned()
    }
}

fn query_of(url: &str) -> BTreeMap<String, String> {
    reqwest::Url::parse(url).unwrap().query_pairs().into_owned().collect()
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = diesel::sql_types::Int8)]
    n: i64,
}

async fn count(app: &TestApp, query: &str) -> i64 {
    let mut conn = app.db.conn().await;
    let rows: Vec<Count> = diesel::sql_query(query).load(&mut conn).await.expect(query);
    rows[0].n
}

async fn sql(app: &TestApp, query: &str) {
    let mut conn = app.db.conn().await;
    diesel::sql_query(query).execute(&mut conn).await.expect(query);
}

async fn who_am_i(app: &TestApp, cookie: &str) -> Result<String, tonic::Status> {
    let request = with_header(WhoAmIRequest {}, "cookie", cookie);
    app.authorization().await.who_am_i(request).await.map(|r| r.into_inner().email)
}

/// Waits until the cookie no longer authenticates (NOTIFY reaches the cache in milliseconds).
async fn eventually_refused(app: &TestApp, cookie: &str) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        match who_am_i(app, cookie).await {
            Err(status) => {
                assert_eq!(status.code(), Code::Unauthenticated);
                return;
            }
            Ok(_) => assert!(tokio::time::Instant::now() < deadline, "the token still works"),
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn cookie_pattern(set_cookie: &str, domain: &str) -> String {
    // `dsg_token=<64 hex>; Domain=…; Max-Age=604800; Expires=<IMF-fixdate>; Path=/; HttpOnly; Secure; SameSite=None`
    let (token, rest) = set_cookie.strip_prefix("dsg_token=").unwrap().split_once(';').unwrap();
    assert!(token.len() == 64 && token.bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()), "{token}");
    let expires_start = rest.find("Expires=").unwrap() + "Expires=".len();
    let expires_end = expires_start + rest[expires_start..].find(';').unwrap();
    let expires = &rest[expires_start..expires_end];
    let parsed = chrono::DateTime::parse_from_rfc2822(&expires.replace("GMT", "+0000")).expect(expires);
    let in_seven_days = chrono::Utc::now() + chrono::Duration::seconds(604_800);
    assert!((parsed.timestamp() - in_seven_days.timestamp()).abs() <= 5, "{expires}");
    assert_eq!(&rest[..expires_start], format!(" Domain={domain}; Max-Age=604800; Expires="));
    rest[expires_end..].to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_full_flow_sets_the_cookie_which_authenticates_until_logout() {
    let app = start(&[("STEWARD_AUTH_COOKIE_DOMAIN", ".janelia.org")]).await;
    let mut browser = Browser::new(&app);

    // Scenario 58: the URL names everything; neither form writes to the database.
    let writes = "SELECT (SELECT count(*) FROM users) + (SELECT count(*) FROM api_tokens) + (SELECT count(*) FROM signin_used_states) AS n";
    let before = count(&app, writes).await;
    let request =
        browser.http.get(browser.url("/api/v1/authorize?redirect=/after")).header("x-requested-with", "XMLHttpRequest");
    let ajax = browser.send(request).await;
    assert_eq!(ajax.status, 200, "{}", ajax.body);
    let url = ajax.json()["authorization_url"].as_str().unwrap().to_owned();
    assert!(url.starts_with(&format!("{}/sandbox/oidc/authorize?", app.url())), "{url}");
    let q = query_of(&url);
    assert_eq!(q["client_id"], "steward-sandbox-client");
    assert_eq!(q["redirect_uri"], format!("{}/api/v1/oauth2callback", app.url()));
    assert_eq!(q["response_type"], "code");
    assert_eq!(q["scope"], "openid email profile");
    assert!(url.contains("scope=openid+email+profile"), "{url}");
    assert!(q["state"].len() >= 32 && q["nonce"].len() >= 32);
    assert_eq!((q["code_challenge"].len(), q["code_challenge_method"].as_str()), (43, "S256"));
    assert!(!q.contains_key("login_hint") && !q.contains_key("access_type"));
    let pending = ajax.set_cookie("steward_login");
    assert!(pending.ends_with("; Max-Age=600; Path=/; HttpOnly; Secure; SameSite=Lax"), "{pending}");
    assert_eq!(ajax.headers["cache-control"], "no-store");
    let plain = browser.get("/api/v1/authorize").await;
    assert_eq!(plain.status, 302);
    assert_eq!(count(&app, writes).await, before, "starting a sign-in writes nothing");

    // Scenario 61: the callback creates the user and sets the cookie.
    let callback_url = browser.pick("/api/v1/authorize?redirect=/after", "Alice@Example.org", "").await;
    let pending_cookie = browser.cookie("steward_login").unwrap().to_owned();
    let done = browser.get(&callback_url).await;
    assert_eq!((done.status, done.location()), (302, "/after"), "{}", done.body);
    let set = done.set_cookie("dsg_token");
    assert_eq!(cookie_pattern(&set, ".janelia.org"), "; Path=/; HttpOnly; Secure; SameSite=None");
    assert!(done.set_cookie("steward_login").contains("Max-Age=0"), "the pending sign-in is cleared");
    assert_eq!(done.headers["cross-origin-opener-policy"], "unsafe-none");
    let token = browser.cookie("dsg_token").unwrap().to_owned();
    assert_eq!(
        count(
            &app,
            "SELECT count(*) AS n FROM users WHERE lower(email) = 'alice@example.org' AND oidc_subject LIKE 'sandbox-%'"
        )
        .await,
        1
    );
    assert_eq!(
        count(&app, "SELECT count(*) AS n FROM api_tokens WHERE kind = 'login' AND expires_at - created_at BETWEEN interval '604799 seconds' AND interval '604801 seconds'").await,
        1,
        "the login token lives one cookie lifetime"
    );
    assert_eq!(
        count(&app, &format!("SELECT count(*) AS n FROM api_tokens WHERE encode(token_hash, 'hex') = '{token}'")).await,
        0,
        "only the hash is stored"
    );

    // The cookie authenticates gRPC (the resolver reads it like any client's).
    let cookie = format!("dsg_token={token}");
    assert_eq!(who_am_i(&app, &cookie).await.unwrap().to_lowercase(), "alice@example.org");

    // The callback is single-use: the same code and state again are refused.
    browser.jar.insert("steward_login".into(), pending_cookie);
    let replay = browser.get(&callback_url).await;
    assert_eq!((replay.status, replay.json()), (400, json!({"error": "Invalid state parameter"})));

    // Scenario 60: the known cookie makes the provider's login_hint.
    let request = browser.http.get(browser.url("/api/v1/authorize")).header("x-requested-with", "1");
    let hinted = browser.send(request).await.json()["authorization_url"].as_str().unwrap().to_owned();
    assert_eq!(query_of(&hinted)["login_hint"].to_lowercase(), "alice@example.org");
    let unknown = reqwest::Client::new()
        .get(format!("{}/api/v1/authorize", app.url()))
        .header("x-requested-with", "1")
        .header("cookie", format!("dsg_token={}", "0".repeat(64)))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let unknown: Value = serde_json::from_str(&unknown).unwrap();
    assert!(!query_of(unknown["authorization_url"].as_str().unwrap()).contains_key("login_hint"));

    // Scenario 68: logout answers, clears the cookie with the same attributes, revokes.
    let out = browser.get("/api/v1/logout").await;
    assert_eq!((out.status, out.json()), (200, json!({"status": "logged out"})));
    assert_eq!(
        out.set_cookie("dsg_token"),
        "dsg_token=\"\"; Domain=.janelia.org; Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT; Path=/; HttpOnly; Secure; SameSite=None"
    );
    eventually_refused(&app, &cookie).await;
    // Scenario 69: a revoked, malformed or missing cookie still logs out.
    for jar in [cookie.clone(), "dsg_token=not-a-token".into(), String::new()] {
        let mut request = reqwest::Client::new().post(format!("{}/api/v1/logout", app.url()));
        if !jar.is_empty() {
            request = request.header("cookie", jar);
        }
        let reply = request.send().await.unwrap();
        assert_eq!(reply.status(), 200);
        assert!(reply.headers()["set-cookie"].to_str().unwrap().contains("Max-Age=0"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redirect_targets_are_held_to_relative_paths_and_the_allow_list() {
    let app = start(&[]).await;
    let mut browser = Browser::new(&app);
    let encode = |v: &str| form_urlencoded::byte_serialize(v.as_bytes()).collect::<String>();
    let own = format!("{}/web/x", app.url());
    let cases: &[(&str, &str)] = &[
        ("/datasets?x=1", "/datasets?x=1"),
        ("/login?origin=https://x.org", "/login?origin=https://x.org"),
        ("http://janelia.org/path", "http://janelia.org/path"),
        ("https://service.janelia.org/path?x=1#result", "https://service.janelia.org/path?x=1#result"),
        (&own, &own),
        ("https://example.org/x", "/"),
        ("https://evil-janelia.org/x", "/"),
        ("https://janelia.org.evil.example/x", "/"),
        ("https://user:password@service.janelia.org/x", "/"),
        ("//service.janelia.org/x", "/"),
        ("//evil.example/steal", "/"),
        ("/\\evil.example", "/"),
        ("https://service.janelia.org/x\ny", "/"),
        ("javascript:alert(1)", "/"),
        ("https:evil.example", "/"),
    ];
    for (given, landed) in cases {
        let start = format!("/api/v1/authorize?redirect={}", encode(given));
        let done = browser.sign_in(&start, "alice@example.org", "").await;
        assert_eq!((done.status, done.location()), (302, *landed), "redirect {given:?}");
        // Scenario 88: `/auth/login?next=` follows the same rule.
        let done = browser.sign_in(&format!("/auth/login?next={}", encode(given)), "alice@example.org", "").await;
        assert_eq!((done.status, done.location()), (302, *landed), "next {given:?}");
        // Scenario 69: and so does logout.
        let out = browser.get(&format!("/api/v1/logout?redirect={}", encode(given))).await;
        assert_eq!((out.status, out.location()), (302, *landed), "logout {given:?}");
    }

    // Scenario 59: POST takes `redirect` from the query over the body, else from the body.
    let to_provider = browser
        .send(
            browser
                .http
                .post(browser.url("/api/v1/authorize?redirect=/from-query"))
                .header("content-type", "application/json")
                .body(r#"{"redirect":"/from-body"}"#),
        )
        .await;
    assert_eq!(to_provider.status, 302);
    let callback = browser.pick_from(to_provider.location(), "alice@example.org").await;
    assert_eq!(browser.get(&callback).await.location(), "/from-query");
    let form = browser
        .send(
            browser
                .http
                .post(browser.url("/api/v1/authorize"))
                .header("content-type", "application/x-www-form-urlencoded")
                .body("redirect=%2Ffrom-form"),
        )
        .await;
    let callback = browser.pick_from(form.location(), "alice@example.org").await;
    assert_eq!(browser.get(&callback).await.location(), "/from-form");
    let evil = browser
        .send(
            browser
                .http
                .post(browser.url("/api/v1/authorize"))
                .header("content-type", "application/json")
                .body(r#"{"redirect":"https://evil.example/"}"#),
        )
        .await;
    let callback = browser.pick_from(evil.location(), "alice@example.org").await;
    assert_eq!(browser.get(&callback).await.location(), "/");

    // Without any redirect the callback shows a page.
    let page = browser.sign_in("/api/v1/authorize", "alice@example.org", "").await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("alice@example.org"), "{}", page.body);
}

impl Browser {
    /// From the provider's authorization URL to the callback URL.
    async fn pick_from(&mut self, authorize_url: &str, email: &str) -> String {
        let mut form: Vec<(String, String)> = query_of(authorize_url).into_iter().collect();
        form.retain(|(k, _)| k != "scope" && k != "login_hint");
        form.extend([("email".into(), email.into()), ("decision".into(), "allow".into())]);
        let back = self.post_form("/sandbox/oidc/authorize/decision", &form).await;
        assert_eq!(back.status, 302, "{}", back.body);
        back.location().to_owned()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn state_pkce_and_forged_id_tokens_are_refused() {
    let app = start(&[]).await;
    let mut browser = Browser::new(&app);

    // Scenario 62.
    let callback = browser.pick("/api/v1/authorize", "alice@example.org", "").await;
    let wrong_state = callback.replace("state=", "state=x");
    let reply = browser.get(&wrong_state).await;
    assert_eq!((reply.status, reply.json()), (400, json!({"error": "Invalid state parameter"})));
    let denied = browser.get("/api/v1/oauth2callback?error=access_denied&state=x").await;
    assert_eq!((denied.status, denied.json()), (400, json!({"error": "access_denied"})));
    let no_code = browser.get("/api/v1/oauth2callback?state=x").await;
    assert_eq!((no_code.status, no_code.json()), (400, json!({"error": "Missing authorization code"})));
    // The right state from another browser (no pending cookie) is refused too.
    let mut other = Browser::new(&app);
    let stolen = other.get(&callback).await;
    assert_eq!((stolen.status, stolen.json()), (400, json!({"error": "Invalid state parameter"})));

    // PKCE: browser starts A then B; B's state with A's code fails at the provider.
    let code_a = query_of(&browser.pick("/api/v1/authorize", "alice@example.org", "").await)["code"].clone();
    let callback_b = browser.pick("/api/v1/authorize", "alice@example.org", "").await;
    let state_b = query_of(&callback_b)["state"].clone();
    let mixed = format!("/api/v1/oauth2callback?code={code_a}&state={state_b}");
    let reply = browser.get(&mixed).await;
    assert_eq!((reply.status, reply.json()), (500, json!({"error": "Token exchange failed"})));

    // The sandbox's staged forgeries: each is refused, and no token is issued.
    for forge in ["wrong_issuer", "wrong_audience", "bad_signature", "expired", "wrong_nonce"] {
        let reply = browser.sign_in("/api/v1/authorize", "mallory@example.org", forge).await;
        assert_eq!((reply.status, reply.json()), (500, json!({"error": "ID token verification failed"})), "{forge}");
    }
    let reply = browser.sign_in("/api/v1/authorize", "mallory@example.org", "unverified_email").await;
    assert_eq!((reply.status, reply.json()), (400, json!({"error": "Email not verified"})));
    let reply = browser.sign_in("/api/v1/authorize", "mallory@example.org", "no_email").await;
    assert_eq!((reply.status, reply.json()), (400, json!({"error": "No email in token"})));
    assert_eq!(count(&app, "SELECT count(*) AS n FROM api_tokens").await, 0);
    assert_eq!(count(&app, "SELECT count(*) AS n FROM users WHERE email LIKE 'mallory%'").await, 0);

    // Scenario 67: a disabled user gets 403 and no token.
    let done = browser.sign_in("/api/v1/authorize", "dora@example.org", "").await;
    assert_eq!(done.status, 200);
    sql(&app, "UPDATE users SET is_active = false WHERE email = 'dora@example.org'").await;
    let tokens = count(&app, "SELECT count(*) AS n FROM api_tokens").await;
    let mut fresh = Browser::new(&app);
    let refused = fresh.sign_in("/api/v1/authorize", "dora@example.org", "").await;
    assert_eq!(refused.status, 403);
    assert!(refused.body.contains("Account disabled"));
    assert!(fresh.cookie("dsg_token").is_none());
    assert_eq!(count(&app, "SELECT count(*) AS n FROM api_tokens").await, tokens);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_browser_keeps_its_own_token_capped_per_user() {
    let app = start(&[]).await;
    let (mut a, mut b) = (Browser::new(&app), Browser::new(&app));

    // Scenario 63: two browsers stay valid; signing in again in B replaces only B's token.
    a.sign_in("/api/v1/authorize?redirect=/", "bob@example.org", "").await;
    b.sign_in("/api/v1/authorize?redirect=/", "bob@example.org", "").await;
    let (token_a, token_b1) = (a.cookie("dsg_token").unwrap().to_owned(), b.cookie("dsg_token").unwrap().to_owned());
    assert_ne!(token_a, token_b1);
    b.sign_in("/api/v1/authorize?redirect=/", "bob@example.org", "").await;
    let token_b2 = b.cookie("dsg_token").unwrap().to_owned();
    eventually_refused(&app, &format!("dsg_token={token_b1}")).await;
    assert!(who_am_i(&app, &format!("dsg_token={token_a}")).await.is_ok());
    assert!(who_am_i(&app, &format!("dsg_token={token_b2}")).await.is_ok());
    // Logging out in B leaves A signed in.
    b.post_form("/web/logout", &[]).await;
    eventually_refused(&app, &format!("dsg_token={token_b2}")).await;
    assert!(who_am_i(&app, &format!("dsg_token={token_a}")).await.is_ok());

    // Scenario 64: 12 live login tokens become 10 (oldest first); expired
    // ones are deleted; API tokens stay.
    let user = "(SELECT id FROM users WHERE email = 'bob@example.org')";
    sql(&app, &format!(
        "INSERT INTO api_tokens (token_hash, kind, user_id, description, expires_at, created_at)
         SELECT sha256(('old' || g)::bytea), 'login', {user}, 'OAuth login token', now() + interval '1 day', now() - (g || ' days')::interval
         FROM generate_series(1, 11) g"
    ))
    .await;
    sql(
        &app,
        &format!(
            "INSERT INTO api_tokens (token_hash, kind, user_id, description, expires_at) VALUES
         (sha256('expired'::bytea), 'login', {user}, 'OAuth login token', now() - interval '1 hour'),
         (sha256('api'::bytea), 'api', {user}, 'API token', NULL)"
        ),
    )
    .await;
    let live = format!(
        "SELECT count(*) AS n FROM api_tokens WHERE kind = 'login' AND user_id = {user} AND revoked_at IS NULL AND expires_at > now()"
    );
    assert_eq!(count(&app, &live).await, 12, "A's token and eleven old ones");
    let mut c = Browser::new(&app);
    c.sign_in("/api/v1/authorize?redirect=/", "bob@example.org", "").await;
    assert_eq!(count(&app, &live).await, 10);
    let oldest_gone = "SELECT count(*) AS n FROM api_tokens WHERE token_hash IN (sha256('old11'::bytea), sha256('old10'::bytea), sha256('old9'::bytea)) AND revoked_at IS NOT NULL";
    assert_eq!(count(&app, oldest_gone).await, 3, "the three oldest were revoked");
    assert_eq!(
        count(&app, "SELECT count(*) AS n FROM api_tokens WHERE token_hash = sha256('expired'::bytea)").await,
        0
    );
    assert_eq!(count(&app, "SELECT count(*) AS n FROM api_tokens WHERE kind = 'api' AND revoked_at IS NULL").await, 1);
    assert!(who_am_i(&app, &format!("dsg_token={token_a}")).await.is_ok(), "A was not among the oldest");

    // Scenario 70: logout never revokes an API token presented as the cookie.
    let api = app.db.token("bob@example.org", None).await;
    let reply = reqwest::Client::new()
        .post(format!("{}/logout", app.url()))
        .header("cookie", format!("dsg_token={api}"))
        .send()
        .await
        .unwrap();
    let body: Value = serde_json::from_str(&reply.text().await.unwrap()).unwrap();
    assert_eq!(body, json!({"status": "logged out"}));
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(who_am_i(&app, &format!("dsg_token={api}")).await.is_ok());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_configured_cookie_name_is_set_and_read() {
    let app = start(&[("STEWARD_AUTH_COOKIE_NAME", "steward_session")]).await;
    let mut browser = Browser::new(&app);
    let done = browser.sign_in("/api/v1/authorize?redirect=/", "carol@example.org", "").await;
    let set = done.set_cookie("steward_session");
    assert!(set.ends_with("; Path=/; HttpOnly; Secure; SameSite=None") && !set.contains("Domain"), "{set}");
    let token = browser.cookie("steward_session").unwrap().to_owned();
    assert_eq!(who_am_i(&app, &format!("steward_session={token}")).await.unwrap(), "carol@example.org");
    let out = browser.get("/api/v1/logout").await;
    assert!(out.set_cookie("steward_session").contains("Max-Age=0"));
    eventually_refused(&app, &format!("steward_session={token}")).await;
}

impl Browser {
    /// Signs in from `start` with `Referer: referer` on the first request
    /// (a page opening Steward in a popup), returning the callback's reply.
    async fn sign_in_from(&mut self, start: &str, referer: &str, email: &str) -> Reply {
        let request = self.http.get(self.url(start)).header("referer", referer);
        let to_provider = self.send(request).await;
        assert_eq!(to_provider.status, 302, "{to_provider:?}");
        let callback = self.pick_from(to_provider.location(), email).await;
        self.get(&callback).await
    }
}

/// The JSON in the page's `<script id="{id}" type="application/json">` block.
fn script_block(body: &str, id: &str) -> Value {
    let open = format!(r#"<script id="{id}" type="application/json">"#);
    let start = body.find(&open).unwrap_or_else(|| panic!("no {id} in {body}")) + open.len();
    let end = start + body[start..].find("</script>").unwrap();
    serde_json::from_str(&body[start..end]).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_middleauth_popup_posts_the_token_and_app_urls_only_to_an_allowed_opener() {
    let app =
        start(&[("STEWARD_MIDDLEAUTH_ALLOWED_ORIGINS", r"https://viewer\.example\.org|http://localhost:\d+")]).await;
    // The second URL would close the script element if it were embedded raw.
    sql(
        &app,
        "INSERT INTO middleauth_apps (name, url) VALUES ('PCG', 'https://cave.example.org/pcg'), \
         ('Odd', 'https://odd.example.org/</script><script>alert(1)</script>')",
    )
    .await;
    let mut browser = Browser::new(&app);

    // Spec §3.5 step 5: the page posts {token, app_urls} to exactly the opener's origin.
    let page = browser
        .sign_in_from(
            "/api/v1/authorize",
            "https://viewer.example.org/#!%7B%22layers%22%3A%5B%5D%7D",
            "alice@example.org",
        )
        .await;
    assert_eq!(page.status, 200, "{}", page.body);
    let token = browser.cookie("dsg_token").expect("signed in").to_owned();
    let message = script_block(&page.body, "middleauth-message");
    assert_eq!(
        message,
        json!({"token": token, "app_urls": [
            "https://cave.example.org/pcg",
            "https://odd.example.org/</script><script>alert(1)</script>"
        ]})
    );
    assert_eq!(script_block(&page.body, "middleauth-origin"), json!("https://viewer.example.org"));
    assert!(!page.body.contains("<script>alert(1)"), "values are escaped inside the script: {}", page.body);
    assert!(page.body.contains("window.opener.postMessage(m,o)"), "{}", page.body);
    // The inline script runs under this response's nonce, and nothing else may run.
    let csp = page.headers.get("content-security-policy").expect("a CSP").to_str().unwrap().to_owned();
    let nonce = csp.split("'nonce-").nth(1).and_then(|rest| rest.split('\'').next()).expect("a nonce");
    assert!(page.body.contains(&format!(r#"<script nonce="{nonce}">"#)), "{csp} / {}", page.body);
    assert!(csp.contains("default-src 'none'") && !csp.contains("unsafe-inline"), "{csp}");
    assert_eq!(page.headers.get("cache-control").unwrap(), "no-store");
    // The posted token is a working Bearer token (Neuroglancer sends it to the CAVE app, which asks Steward).
    let request = GetUserCacheRequest { service: String::new(), dsg_token: String::new() };
    let reply = app.authorization().await.get_user_cache(with_bearer(request, &token)).await.expect("user/cache");
    let cache: Value = serde_json::from_slice(&reply.into_inner().data).unwrap();
    assert_eq!(cache["email"], "alice@example.org");

    // A development viewer on another port of an allowed pattern.
    let page = browser.sign_in_from("/api/v1/authorize", "http://localhost:8000/", "alice@example.org").await;
    assert_eq!(script_block(&page.body, "middleauth-origin"), json!("http://localhost:8000"));

    // Step 2: no origin is recorded for other or look-alike origins, without a Referer,
    // or when a redirect was given: no token in the page.
    for referer in [
        Some("https://evil.example.org/"),
        Some("https://viewer.example.org.evil.example/"),
        Some("https://viewer.example.org:8443/"),
        Some("http://viewer.example.org/"),
        Some("not a url"),
        None,
    ] {
        let page = match referer {
            Some(referer) => browser.sign_in_from("/api/v1/authorize", referer, "bob@example.org").await,
            None => browser.sign_in("/api/v1/authorize", "bob@example.org", "").await,
        };
        let token = browser.cookie("dsg_token").unwrap();
        assert_eq!(page.status, 200, "{referer:?}");
        assert!(!page.body.contains(token), "{referer:?}: {}", page.body);
        assert!(!page.body.contains("postMessage"), "{referer:?}: {}", page.body);
        assert!(page.body.contains(r#"<strong id="signed-in-as">bob@example.org</strong>"#), "{}", page.body);
    }
    let done =
        browser.sign_in_from("/api/v1/authorize?redirect=%2Fx", "https://viewer.example.org/", "bob@example.org").await;
    assert_eq!((done.status, done.location()), (302, "/x"));
    assert!(!done.body.contains(browser.cookie("dsg_token").unwrap()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_token_is_handed_off_only_to_https_targets_outside_the_cookie_domain() {
    let hosts = ("STEWARD_REDIRECT_ALLOWED_HOSTS", "janelia.org,cave.example.org");
    let app =
        start(&[hosts, ("STEWARD_TOKEN_HANDOFF_PARAM", "dsg_token"), ("STEWARD_AUTH_COOKIE_DOMAIN", ".janelia.org")])
            .await;
    let mut browser = Browser::new(&app);
    let encode = |v: &str| form_urlencoded::byte_serialize(v.as_bytes()).collect::<String>();

    // Spec §4.5: an https target the cookie does not reach gets the new login token.
    for start in ["/api/v1/authorize?redirect=", "/auth/login?next="] {
        let given = "https://cave.example.org/app?x=1&dsg_token=stale#view";
        let done = browser.sign_in(&format!("{start}{}", encode(given)), "alice@example.org", "").await;
        let token = browser.cookie("dsg_token").unwrap();
        assert_eq!(done.status, 302);
        assert_eq!(done.location(), format!("https://cave.example.org/app?x=1&dsg_token={token}#view"), "{start}");
        assert_eq!(who_am_i(&app, &format!("dsg_token={token}")).await.unwrap(), "alice@example.org");
    }
    // Hosts under the cookie domain read the cookie; plain http and relative targets get nothing.
    for given in
        ["https://service.janelia.org/path?x=1", "https://janelia.org/path", "http://cave.example.org/app", "/datasets"]
    {
        let done =
            browser.sign_in(&format!("/api/v1/authorize?redirect={}", encode(given)), "alice@example.org", "").await;
        assert_eq!((done.status, done.location()), (302, given));
    }

    // Unset (the default): no hand-off at all.
    let plain = start(&[hosts]).await;
    let mut browser = Browser::new(&plain);
    let given = "https://cave.example.org/app";
    let done = browser.sign_in(&format!("/api/v1/authorize?redirect={}", encode(given)), "alice@example.org", "").await;
    assert_eq!((done.status, done.location()), (302, given));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pending_terms_come_before_the_redirect() {
    // Scenarios 65 and 66 (spec §3.5 step 4 (a) and (b)). The datasets are
    // public so that Alice may accept their terms without a grant.
    let app = start(&[]).await;
    let (celltyping_tos, other_tos) = {
        let mut conn = app.db.conn().await;
        let mut terms = async |dataset: &str, name: &'static str, service: Option<&'static str>| {
            let id = ops::create_dataset(&mut conn, Actor::System, dataset, "", true).await.unwrap().id;
            let spec = TosSpec {
                name,
                text: "Be nice.",
                dataset_id: Some(id),
                version_id: None,
                service,
                effective_at: None,
                retired_at: None,
            };
            ops::create_tos_document(&mut conn, Actor::System, spec).await.unwrap()
        };
        (terms("fish2", "Celltyping terms", Some("celltyping")).await, terms("other", "Other terms", None).await)
    };
    let mut browser = Browser::new(&app);

    // (b) service and dataset with a pending service TOS: the service check first, `next` = the redirect.
    let start_url = "/api/v1/authorize?redirect=%2Fdatasets%3Fx%3D1&service=celltyping&dataset=fish2";
    let done = browser.sign_in(start_url, "alice@example.org", "").await;
    assert_eq!(done.status, 302, "{}", done.body);
    assert_eq!(done.location(), "/web/tos/service-check/?service=celltyping&dataset=fish2&next=%2Fdatasets%3Fx%3D1");

    // (a) an unaccepted `tos_id`: its accept page first, with the redirect.
    let start_url = format!("/api/v1/authorize?redirect=%2Fdatasets&tos_id={other_tos}");
    let done = browser.sign_in(&start_url, "alice@example.org", "").await;
    assert_eq!(
        (done.status, done.location()),
        (302, format!("/api/v1/tos/{other_tos}/accept?redirect=%2Fdatasets").as_str())
    );

    // Once both are accepted, sign-in goes straight to the redirect.
    for id in [celltyping_tos, other_tos] {
        let accept = browser.http.post(browser.url(&format!("/api/v1/tos/{id}/accept"))).header("origin", app.url());
        let accepted = browser.send(accept).await;
        assert_eq!((accepted.status, accepted.location()), (302, "/"), "{}", accepted.body);
    }
    let start_url =
        format!("/api/v1/authorize?redirect=%2Fdatasets&tos_id={other_tos}&service=celltyping&dataset=fish2");
    let done = browser.sign_in(&start_url, "alice@example.org", "").await;
    assert_eq!((done.status, done.location()), (302, "/datasets"));
}
