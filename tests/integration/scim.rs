//! SCIM 2.0 at `/auth/scim/v2` against the real server (spec §3.7, §8
//! scenarios 101–111): discovery, who may call it (401/403 in the SCIM error
//! format), every filter operator and combinator, paging, POST/PUT/PATCH/DELETE
//! of Users, Groups and Datasets with every PATCH form, ETags with
//! `If-Match`/`If-None-Match`, stable ids of rows made by the other APIs, and
//! the audit rows writes leave.

use diesel::{ExpressionMethods as _, QueryDsl as _};
use diesel_async::RunQueryDsl as _;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use steward::auth::Role;
use steward::dataset::audit::Actor;
use steward::dataset::ops;
use steward::db::schema::audit_log;

use crate::common::TestApp;

const SCIM_JSON: &str = "application/scim+json";
const ERROR: &str = "urn:ietf:params:scim:api:messages:2.0:Error";
const EXT: &str = "urn:ietf:params:scim:schemas:extension:neuroglancer:2.0:User";

struct Reply {
    status: StatusCode,
    headers: reqwest::header::HeaderMap,
    body: Value,
}

impl Reply {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Asserts a SCIM error with this status and scimType.
    fn error(&self, status: u16, scim_type: Option<&str>) {
        assert_eq!(self.status.as_u16(), status, "{}", self.body);
        assert_eq!(self.header("content-type"), Some(SCIM_JSON));
        assert_eq!(self.body["schemas"], json!([ERROR]));
        assert_eq!(self.body["status"], json!(status.to_string()));
        assert_eq!(self.body["scimType"].as_str(), scim_type, "{}", self.body);
        assert!(self.body["detail"].as_str().is_some_and(|d| !d.is_empty()));
    }

    fn id(&self) -> String {
        self.body["id"].as_str().expect("an id").to_owned()
    }
}

struct Scim {
    app: TestApp,
    http: reqwest::Client,
    admin: String,
}

impl Scim {
    async fn start() -> Scim {
        let app = TestApp::start().await;
        let admin = app.db.token("root@example.org", Some(Role::Admin)).await;
        Scim { app, http: reqwest::Client::new(), admin }
    }

    async fn send(&self, method: Method, path: &str, body: Option<Value>, headers: &[(&str, &str)]) -> Reply {
        let url = format!("{}/auth/scim/v2{path}", self.app.url());
        let mut request = self.http.request(method, url);
        for (k, v) in headers {
            request = request.header(*k, *v);
        }
        if let Some(body) = body {
            request = request.header("content-type", SCIM_JSON).body(body.to_string());
        }
        let response = request.send().await.expect("SCIM request");
        let (status, headers) = (response.status(), response.headers().clone());
        let text = response.text().await.unwrap();
        let body = if text.is_empty() { Value::Null } else { serde_json::from_str(&text).expect(&text) };
        Reply { status, headers, body }
    }

    async fn admin(&self, method: Method, path: &str, body: Option<Value>) -> Reply {
        self.send(method, path, body, &[("authorization", format!("Bearer {}", self.admin).as_str())]).await
    }

    async fn get(&self, path: &str) -> Reply {
        self.admin(Method::GET, path, None).await
    }

    async fn post(&self, path: &str, body: Value) -> Reply {
        let reply = self.admin(Method::POST, path, Some(body)).await;
        assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
        reply
    }

    async fn patch(&self, path: &str, operations: Value) -> Reply {
        let body = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": operations});
        self.admin(Method::PATCH, path, Some(body)).await
    }

    /// The `userName`s a filter on /Users selects, in id order.
    async fn user_names(&self, filter: &str) -> Vec<String> {
        let reply = self.get(&format!("/Users?filter={}", urlencode(filter))).await;
        assert_eq!(reply.status, StatusCode::OK, "{filter}: {}", reply.body);
        names(&reply.body, "userName")
    }

    /// GET /Users until it answers `status`: the credential cache is evicted
    /// by NOTIFY, which reaches the server a moment after the commit.
    async fn eventually(&self, headers: &[(&str, &str)], status: StatusCode) -> Reply {
        for _ in 0..100 {
            let reply = self.send(Method::GET, "/Users", None, headers).await;
            if reply.status == status {
                return reply;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        panic!("GET /Users never answered {status}");
    }

    async fn audit_actions(&self) -> Vec<String> {
        let mut conn = self.app.db.conn().await;
        audit_log::table.select(audit_log::action).order(audit_log::id).load(&mut conn).await.unwrap()
    }
}

fn names(list: &Value, key: &str) -> Vec<String> {
    list["Resources"].as_array().unwrap().iter().map(|r| r[key].as_str().unwrap().to_owned()).collect()
}

fn urlencode(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

fn user(email: &str) -> Value {
    json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": email})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn discovery_is_list_responses() {
    let s = Scim::start().await;
    let spc = s.get("/ServiceProviderConfig").await;
    assert_eq!((spc.status, spc.header("content-type")), (StatusCode::OK, Some(SCIM_JSON)));
    for feature in ["patch", "filter", "etag"] {
        assert_eq!(spc.body[feature]["supported"], json!(true), "{feature}");
    }
    assert_eq!(spc.body["bulk"]["supported"], json!(false));
    // An empty string is not a URI (RFC 7643 §5), so the optional attribute is absent.
    assert_eq!(spc.body.get("documentationUri"), None);

    let types = s.get("/ResourceTypes").await;
    assert_eq!(types.body["schemas"], json!(["urn:ietf:params:scim:api:messages:2.0:ListResponse"]));
    assert_eq!(
        (types.body["totalResults"].clone(), names(&types.body, "id")),
        (json!(3), vec!["User".to_owned(), "Group".into(), "Dataset".into()])
    );
    assert_eq!(types.body["Resources"][0]["schemaExtensions"][0]["schema"], json!(EXT));
    assert_eq!(s.get("/ResourceTypes/Dataset").await.body["endpoint"], json!("/Datasets"));
    s.get("/ResourceTypes/Nope").await.error(404, None);

    let schemas = s.get("/Schemas").await;
    assert_eq!(schemas.body["totalResults"], json!(4));
    let one = s.get("/Schemas/urn:ietf:params:scim:schemas:neuroglancer:2.0:Dataset").await;
    assert_eq!(
        (one.body["name"].clone(), one.body["description"].clone()),
        (json!("Dataset"), json!("Neuroglancer Dataset schema"))
    );
    let attrs = names(&one.body["attributes"].clone().as_array().map(|a| json!({"Resources": a})).unwrap(), "name");
    assert_eq!(attrs, ["name", "description", "tosId", "serviceTables", "externalId"]);
    s.get("/Nowhere").await.error(404, None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_an_active_admins_bearer_token_is_accepted() {
    let s = Scim::start().await;
    let plain = s.app.db.token("plain@example.org", None).await;
    let researcher = s.app.db.token("res@example.org", Some(Role::Researcher)).await;
    let bot = {
        let mut conn = s.app.db.conn().await;
        ops::create_service_account(&mut conn, Actor::System, "ci-bot", "").await.unwrap().1
    };
    s.send(Method::GET, "/Users", None, &[]).await.error(401, None);
    // Another scheme, or the cookie alone, is not accepted.
    s.send(Method::GET, "/Users", None, &[("authorization", format!("Token {}", s.admin).as_str())])
        .await
        .error(401, None);
    s.send(Method::GET, "/Users", None, &[("cookie", format!("dsg_token={}", s.admin).as_str())])
        .await
        .error(401, None);
    s.send(Method::GET, "/Users", None, &[("authorization", format!("Bearer {}", "0".repeat(64)).as_str())])
        .await
        .error(401, None);
    for token in [&plain, &researcher, &bot] {
        let reply = s.send(Method::GET, "/Users", None, &[("authorization", format!("Bearer {token}").as_str())]).await;
        reply.error(403, None);
        let reply = s
            .send(
                Method::POST,
                "/Users",
                Some(user("x@example.org")),
                &[("authorization", format!("Bearer {token}").as_str())],
            )
            .await;
        reply.error(403, None);
    }
    // Discovery needs the admin too.
    s.send(Method::GET, "/ServiceProviderConfig", None, &[("authorization", format!("Bearer {plain}").as_str())])
        .await
        .error(403, None);
    // Other media types are refused.
    let reply = s
        .http
        .post(format!("{}/auth/scim/v2/Users", s.app.url()))
        .header("authorization", format!("Bearer {}", s.admin))
        .header("content-type", "text/plain")
        .body(user("y@example.org").to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(reply.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);

    // A disabled admin is refused as unauthenticated, on the next request.
    let other_admin = s.app.db.token("second@example.org", Some(Role::Admin)).await;
    let as_other = [("authorization", format!("Bearer {other_admin}"))];
    let headers: Vec<(&str, &str)> = as_other.iter().map(|(k, v)| (*k, v.as_str())).collect();
    assert_eq!(s.send(Method::GET, "/Users", None, &headers).await.status, StatusCode::OK);
    let id =
        s.get(&format!("/Users?filter={}", urlencode(r#"userName eq "second@example.org""#))).await.body["Resources"]
            [0]["id"]
            .as_str()
            .unwrap()
            .to_owned();
    let reply = s.patch(&format!("/Users/{id}"), json!([{"op": "replace", "path": "active", "value": false}])).await;
    assert_eq!((reply.status, reply.body["active"].clone()), (StatusCode::OK, json!(false)));
    let refused = s.eventually(&headers, StatusCode::UNAUTHORIZED).await;
    refused.error(401, None);
    assert_eq!(refused.body["detail"], json!("User account is disabled."));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn users_post_get_put_patch_delete_with_etags() {
    let s = Scim::start().await;
    let created = s
        .post(
            "/Users",
            json!({
                "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User", EXT],
                "userName": "alice@example.org",
                "name": {"givenName": "Alice"},
                "externalId": "okta-1",
                EXT: {"pi": "Dr. P", "gdprConsent": true},
            }),
        )
        .await;
    let id = created.id();
    let etag = created.header("etag").unwrap().to_owned();
    assert!(etag.starts_with("W/\"") && etag.ends_with('"'), "{etag}");
    assert!(created.header("location").unwrap().ends_with(&format!("/auth/scim/v2/Users/{id}")));
    assert_eq!(created.body["meta"]["version"], json!(etag));
    assert_eq!(created.body["displayName"], json!("Alice"));
    assert_eq!(created.body["emails"][0]["value"], json!("alice@example.org"));
    assert_eq!(created.body[EXT], json!({"admin": false, "pi": "Dr. P", "gdprConsent": true, "serviceAccount": false}));
    assert_eq!(created.body["externalId"], json!("okta-1"));

    let got = s.get(&format!("/Users/{id}")).await;
    assert_eq!((got.status, got.header("etag")), (StatusCode::OK, Some(etag.as_str())));
    let not_modified = s
        .send(
            Method::GET,
            &format!("/Users/{id}"),
            None,
            &[("authorization", format!("Bearer {}", s.admin).as_str()), ("if-none-match", etag.as_str())],
        )
        .await;
    assert_eq!(not_modified.status, StatusCode::NOT_MODIFIED);

    // Duplicates differing only in case; missing and malformed userName.
    s.admin(Method::POST, "/Users", Some(user("ALICE@example.org"))).await.error(409, Some("uniqueness"));
    s.admin(Method::POST, "/Users", Some(json!({"name": {"givenName": "x"}}))).await.error(400, Some("invalidValue"));
    s.admin(Method::POST, "/Users", Some(user("not-an-email"))).await.error(400, Some("invalidValue"));
    s.admin(Method::POST, "/Users", Some(json!({"userName": "b@example.org", EXT: {"serviceAccount": true}})))
        .await
        .error(400, Some("mutability"));

    // PUT changes what the body names only; a stale If-Match is 412 and changes nothing.
    let put = s
        .admin(
            Method::PUT,
            &format!("/Users/{id}"),
            Some(json!({"userName": "alice@example.org", "displayName": "Ally"})),
        )
        .await;
    assert_eq!(
        (put.status, put.body["displayName"].clone(), put.body[EXT]["pi"].clone()),
        (StatusCode::OK, json!("Ally"), json!("Dr. P"))
    );
    let new_etag = put.header("etag").unwrap().to_owned();
    assert_ne!(new_etag, etag);
    let stale = s
        .send(
            Method::PUT,
            &format!("/Users/{id}"),
            Some(json!({"displayName": "Stale"})),
            &[("authorization", format!("Bearer {}", s.admin).as_str()), ("if-match", etag.as_str())],
        )
        .await;
    stale.error(412, None);
    assert_eq!(stale.body["detail"], json!("Resource version mismatch"));
    assert_eq!(s.get(&format!("/Users/{id}")).await.body["displayName"], json!("Ally"));
    let fresh = s
        .send(
            Method::PATCH,
            &format!("/Users/{id}"),
            Some(json!({"Operations": [{"op": "replace", "path": "displayName", "value": "Al"}]})),
            &[("authorization", format!("Bearer {}", s.admin).as_str()), ("if-match", new_etag.as_str())],
        )
        .await;
    assert_eq!((fresh.status, fresh.body["displayName"].clone()), (StatusCode::OK, json!("Al")));
    s.send(
        Method::DELETE,
        &format!("/Users/{id}"),
        None,
        &[("authorization", format!("Bearer {}", s.admin).as_str()), ("if-match", new_etag.as_str())],
    )
    .await
    .error(412, None);

    // PATCH forms: replace with paths (core, sub-attribute, extension), replace without a path, remove.
    let patched = s
        .patch(
            &format!("/Users/{id}"),
            json!([
                {"op": "Replace", "path": "name.givenName", "value": "Alicia"},
                {"op": "replace", "path": format!("{EXT}:pi"), "value": "Prof"},
                {"op": "replace", "value": {"externalId": "okta-2", EXT: {"gdprConsent": false}}},
                {"op": "remove", "path": "displayName"},
            ]),
        )
        .await;
    assert_eq!(patched.status, StatusCode::OK, "{}", patched.body);
    assert_eq!(patched.body["name"]["givenName"], json!("Alicia"));
    assert_eq!(patched.body["displayName"], json!("Alicia"));
    assert_eq!(patched.body["externalId"], json!("okta-2"));
    assert_eq!(patched.body[EXT]["pi"], json!("Prof"));
    assert_eq!(patched.body[EXT]["gdprConsent"], json!(false));
    s.patch(&format!("/Users/{id}"), json!([{"op": "replace", "path": "title", "value": "x"}]))
        .await
        .error(400, Some("invalidPath"));
    s.patch(&format!("/Users/{id}"), json!([{"op": "remove"}])).await.error(400, Some("noTarget"));
    s.patch(&format!("/Users/{id}"), json!([{"op": "replace", "path": "id", "value": "x"}]))
        .await
        .error(400, Some("invalidPath"));

    // Groups: add (objects or bare ids), the resource shows group ids, remove by value filter.
    let g1 = s.post("/Groups", json!({"displayName": "g1"})).await.id();
    let g2 = s.post("/Groups", json!({"displayName": "g2"})).await.id();
    let added =
        s.patch(&format!("/Users/{id}"), json!([{"op": "add", "path": "groups", "value": [{"value": g1}, g2]}])).await;
    let groups: Vec<&str> =
        added.body["groups"].as_array().unwrap().iter().map(|g| g["value"].as_str().unwrap()).collect();
    assert_eq!(groups, [g1.as_str(), g2.as_str()]);
    assert_eq!(added.body["groups"][0]["display"], json!("g1"));
    let g1_members = s.get(&format!("/Groups/{g1}")).await;
    assert_eq!(g1_members.body["members"][0]["value"], json!(id));
    let removed =
        s.patch(&format!("/Users/{id}"), json!([{"op": "remove", "path": format!("groups[value eq \"{g1}\"]")}])).await;
    assert_eq!(removed.body["groups"].as_array().unwrap().len(), 1);
    assert_eq!(removed.body["groups"][0]["value"], json!(g2));
    let unknown = format!("/Users/{id}");
    s.patch(&unknown, json!([{"op": "add", "path": "groups", "value": [{"value": uuid_nil()}]}]))
        .await
        .error(400, Some("invalidValue"));
    // Admin through the extension makes the user a global admin.
    let admin = s
        .patch(&format!("/Users/{id}"), json!([{"op": "replace", "path": format!("{EXT}:admin"), "value": true}]))
        .await;
    assert_eq!(admin.body[EXT]["admin"], json!(true));

    // A PATCH changing nothing writes no audit row.
    let before = s.audit_actions().await.len();
    let same = s.patch(&format!("/Users/{id}"), json!([{"op": "replace", "path": "displayName", "value": ""}])).await;
    assert_eq!(same.status, StatusCode::OK);
    assert_eq!(s.audit_actions().await.len(), before);

    assert_eq!(s.admin(Method::DELETE, &format!("/Users/{id}"), None).await.status, StatusCode::NO_CONTENT);
    s.get(&format!("/Users/{id}")).await.error(404, None);
    s.get("/Users/not-a-uuid").await.error(404, None);
    let actions = s.audit_actions().await;
    for action in ["user_created", "user_updated", "member_added", "member_removed", "user_deleted"] {
        assert!(actions.iter().any(|a| a == action), "{action} in {actions:?}");
    }
}

fn uuid_nil() -> String {
    "00000000-0000-0000-0000-000000000000".into()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_a_user_ends_their_tokens() {
    let s = Scim::start().await;
    let carol = s.app.db.token("carol@example.org", None).await;
    let as_carol = format!("Bearer {carol}");
    s.send(Method::GET, "/Users", None, &[("authorization", as_carol.as_str())]).await.error(403, None);
    let list = s.get(&format!("/Users?filter={}", urlencode(r#"userName eq "carol@example.org""#))).await;
    let id = list.body["Resources"][0]["id"].as_str().unwrap().to_owned();
    assert_eq!(s.admin(Method::DELETE, &format!("/Users/{id}"), None).await.status, StatusCode::NO_CONTENT);
    s.eventually(&[("authorization", as_carol.as_str())], StatusCode::UNAUTHORIZED).await.error(401, None);
    s.admin(Method::DELETE, &format!("/Users/{id}"), None).await.error(404, None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn filters_translate_every_operator_and_combinator() {
    let s = Scim::start().await;
    for (email, given, external, active) in [
        ("ann@alpha.org", "Ann", Some("e-1"), true),
        ("bob@beta.org", "Bob", None, true),
        ("cid@alpha.org", "Cid", Some("e-3"), false),
        ("dee@delta.net", "", None, true),
    ] {
        let mut body = json!({"userName": email, "name": {"givenName": given}, "active": active});
        if let Some(e) = external {
            body["externalId"] = json!(e);
        }
        s.post("/Users", body).await;
    }
    let all = ["root@example.org", "ann@alpha.org", "bob@beta.org", "cid@alpha.org", "dee@delta.net"];
    let pick = |idx: &[usize]| idx.iter().map(|i| all[*i].to_owned()).collect::<Vec<_>>();
    let cases: Vec<(&str, Vec<String>)> = vec![
        (r#"userName eq "ANN@alpha.org""#, pick(&[1])),
        (r#"userName ne "ann@alpha.org""#, pick(&[0, 2, 3, 4])),
        (r#"userName co "ALPHA""#, pick(&[1, 3])),
        (r#"userName sw "b""#, pick(&[2])),
        (r#"userName ew ".NET""#, pick(&[4])),
        (r#"emails.value ew "beta.org""#, pick(&[2])),
        ("externalId pr", pick(&[1, 3])),
        (r#"externalId eq "e-3""#, pick(&[3])),
        (r#"externalId ne "e-3""#, pick(&[0, 1, 2, 4])),
        ("externalId eq null", pick(&[0, 2, 4])),
        (r#"userName gt "c""#, pick(&[0, 3, 4])),
        (r#"userName ge "cid@alpha.org""#, pick(&[0, 3, 4])),
        (r#"userName lt "b""#, pick(&[1])),
        (r#"userName le "bob@beta.org""#, pick(&[1, 2])),
        ("active eq false", pick(&[3])),
        (r#"displayName eq "DEE""#, pick(&[4])),
        (r#"name.givenName eq "Bob""#, pick(&[2])),
        (r#"userName sw "a" or userName sw "b""#, pick(&[1, 2])),
        (r#"userName co "alpha" and active eq true"#, pick(&[1])),
        (r#"not (userName co "alpha") and not (userName sw "root")"#, pick(&[2, 4])),
        (r#"(userName sw "a" or userName sw "c") and (externalId eq "e-1" or active eq false)"#, pick(&[1, 3])),
        (r#"userName sw "a" or userName sw "c" and externalId eq "e-1""#, pick(&[1])),
        (r#"meta.created gt "2000-01-01T00:00:00Z" and userName sw "d""#, pick(&[4])),
        (r#"meta.lastModified lt "2000-01-01T00:00:00Z""#, vec![]),
        (r#"userName co "_""#, vec![]),
    ];
    for (filter, want) in cases {
        assert_eq!(s.user_names(filter).await, want, "{filter}");
    }
    let ann = s.get(&format!("/Users?filter={}", urlencode(r#"userName eq "ann@alpha.org""#))).await.body["Resources"]
        [0]["id"]
        .clone();
    assert_eq!(s.user_names(&format!("id eq {ann}")).await, pick(&[1]));

    for bad in [
        r#"foo eq "x""#,
        "userName eq",
        r#"(userName eq "x""#,
        "active gt true",
        r#"emails.type eq "work""#,
        "userName zz \"x\"",
    ] {
        let reply = s.get(&format!("/Users?filter={}", urlencode(bad))).await;
        reply.error(400, Some("invalidFilter"));
    }

    // Paging: 1-based, count clamps, count=0 gives the total only.
    let page = s.get("/Users?startIndex=2&count=2").await;
    assert_eq!(
        (page.body["totalResults"].clone(), page.body["startIndex"].clone(), page.body["itemsPerPage"].clone()),
        (json!(5), json!(2), json!(2))
    );
    assert_eq!(names(&page.body, "userName"), pick(&[1, 2]));
    let empty = s.get("/Users?count=0").await;
    assert_eq!((empty.body["totalResults"].clone(), empty.body["Resources"].clone()), (json!(5), json!([])));
    let clamped = s.get("/Users?startIndex=-4&count=x").await;
    assert_eq!((clamped.body["startIndex"].clone(), clamped.body["itemsPerPage"].clone()), (json!(1), json!(5)));
    let past = s.get("/Users?startIndex=9").await;
    assert_eq!((past.body["totalResults"].clone(), past.body["itemsPerPage"].clone()), (json!(5), json!(0)));
    let filtered = s.get(&format!("/Users?startIndex=2&count=1&filter={}", urlencode(r#"userName co "alpha""#))).await;
    assert_eq!((filtered.body["totalResults"].clone(), names(&filtered.body, "userName")), (json!(2), pick(&[3])));
    // attributes / excludedAttributes trim resources but keep schemas, id and meta.
    let trimmed = s.get("/Users?count=1&attributes=userName").await;
    let keys: Vec<&String> = trimmed.body["Resources"][0].as_object().unwrap().keys().collect();
    assert_eq!(keys.len(), 4, "{keys:?}");
    let trimmed = s.get("/Users?count=1&excludedAttributes=groups,emails").await;
    assert!(
        trimmed.body["Resources"][0].get("groups").is_none() && trimmed.body["Resources"][0].get("userName").is_some()
    );

    // Groups and Datasets filter their own attributes.
    let g = s.post("/Groups", json!({"displayName": "Lab", "members": [{"value": ann}]})).await.id();
    let groups = s
        .get(&format!("/Groups?filter={}", urlencode(&format!("members[value eq {ann}] and displayName eq \"lab\""))))
        .await;
    assert_eq!(names(&groups.body, "id"), [g.as_str()]);
    let none = s.get(&format!("/Groups?filter={}", urlencode("not (members pr) and displayName eq \"lab\""))).await;
    assert_eq!(none.body["totalResults"], json!(0));
    s.post("/Datasets", json!({"name": "fish2", "description": "Fish"})).await;
    let ds = s.get(&format!("/Datasets?filter={}", urlencode(r#"name sw "fish" and description co "is""#))).await;
    assert_eq!(names(&ds.body, "name"), ["fish2"]);
    s.get(&format!("/Datasets?filter={}", urlencode("tosId gt \"x\""))).await.error(400, Some("invalidFilter"));
    s.get(&format!("/Groups?filter={}", urlencode("userName eq \"x\""))).await.error(400, Some("invalidFilter"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn groups_members_patch_forms_and_audit() {
    let s = Scim::start().await;
    let a = s.post("/Users", user("a@example.org")).await.id();
    let b = s.post("/Users", user("b@example.org")).await.id();
    let c = s.post("/Users", user("c@example.org")).await.id();
    let created =
        s.post("/Groups", json!({"displayName": "team", "externalId": "x-1", "members": [{"value": a}]})).await;
    let g = created.id();
    assert_eq!(created.body["members"][0]["value"], json!(a));
    assert_eq!(created.body["members"][0]["display"], json!("a"));
    s.admin(Method::POST, "/Groups", Some(json!({"displayName": "team"}))).await.error(409, Some("uniqueness"));
    s.admin(Method::POST, "/Groups", Some(json!({"externalId": "y"}))).await.error(400, Some("invalidValue"));
    s.admin(Method::POST, "/Groups", Some(json!({"displayName": "z", "members": [{"value": uuid_nil()}]})))
        .await
        .error(400, Some("invalidValue"));

    let path = format!("/Groups/{g}");
    let members = |r: &Reply| -> Vec<String> {
        r.body["members"].as_array().unwrap().iter().map(|m| m["value"].as_str().unwrap().to_owned()).collect()
    };
    let etag = created.header("etag").unwrap().to_owned();
    let r = s.patch(&path, json!([{"op": "add", "path": "members", "value": [{"value": b}, {"value": c}]}])).await;
    assert_eq!(members(&r), [a.clone(), b.clone(), c.clone()]);
    assert_ne!(r.header("etag").unwrap(), etag, "a membership change moves the group's version");
    let r = s.patch(&path, json!([{"op": "remove", "path": format!("members[value eq \"{b}\"]")}])).await;
    assert_eq!(members(&r), [a.clone(), c.clone()]);
    let r = s.patch(&path, json!([{"op": "replace", "path": "members", "value": [{"value": b}]}])).await;
    assert_eq!(members(&r), [b.as_str()]);
    let r = s.patch(&path, json!([{"op": "remove", "path": "members"}])).await;
    assert_eq!(members(&r), Vec::<String>::new());
    let r = s.patch(&path, json!([{"op": "add", "value": {"members": [{"value": c}], "displayName": "team2"}}])).await;
    assert_eq!((members(&r), r.body["displayName"].clone()), (vec![c.clone()], json!("team2")));
    let r = s
        .patch(
            &path,
            json!([{"op": "replace", "path": "displayName", "value": "team3"}, {"op": "remove", "path": "externalId"}]),
        )
        .await;
    assert_eq!((r.body["displayName"].clone(), r.body.get("externalId")), (json!("team3"), None));
    s.patch(&path, json!([{"op": "remove", "path": "displayName"}])).await.error(400, Some("invalidValue"));
    s.patch(&path, json!([{"op": "add", "path": "owners", "value": []}])).await.error(400, Some("invalidPath"));
    s.patch(&path, json!([{"op": "remove", "path": "members[value eq"}])).await.error(400, Some("invalidPath"));
    // All or nothing: a failing operation leaves the earlier ones unapplied.
    s.patch(&path, json!([{"op": "add", "path": "members", "value": [{"value": a}]}, {"op": "add", "path": "members", "value": [{"value": uuid_nil()}]}])).await.error(400, Some("invalidValue"));
    assert_eq!(members(&s.get(&path).await), [c.as_str()]);
    // The user's groups show the group's id.
    assert_eq!(s.get(&format!("/Users/{c}")).await.body["groups"][0]["value"], json!(g));
    // PUT with members replaces the set.
    let r = s
        .admin(Method::PUT, &path, Some(json!({"displayName": "team3", "members": [{"value": a}, {"value": b}]})))
        .await;
    assert_eq!(members(&r), [a.clone(), b.clone()]);

    // Reserved groups stay.
    let admin_group = s.get(&format!("/Groups?filter={}", urlencode(r#"displayName eq "admin""#))).await;
    let admin_id = admin_group.body["Resources"][0]["id"].as_str().unwrap().to_owned();
    s.admin(Method::DELETE, &format!("/Groups/{admin_id}"), None).await.error(400, Some("mutability"));

    let mut conn = s.app.db.conn().await;
    let before: i64 = audit_log::table.count().get_result(&mut conn).await.unwrap();
    assert_eq!(s.admin(Method::DELETE, &path, None).await.status, StatusCode::NO_CONTENT);
    s.get(&path).await.error(404, None);
    let deleted: Option<Value> = audit_log::table
        .filter(audit_log::action.eq("group_deleted"))
        .select(audit_log::before_state)
        .first(&mut conn)
        .await
        .unwrap();
    assert_eq!(deleted, Some(json!({"name": "team3", "members": ["a@example.org", "b@example.org"]})));
    let after: i64 = audit_log::table.count().get_result(&mut conn).await.unwrap();
    assert_eq!(after, before + 1);
    let actions = s.audit_actions().await;
    for action in ["group_created", "group_updated", "member_added", "member_removed"] {
        assert!(actions.iter().any(|a| a == action), "{action} in {actions:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn datasets_with_service_tables() {
    let s = Scim::start().await;
    let created = s
        .post(
            "/Datasets",
            json!({
                "schemas": ["urn:ietf:params:scim:schemas:neuroglancer:1.0:Dataset"],
                "name": "fish2",
                "description": "Fish dataset",
                "serviceTables": [{"serviceName": "pychunkedgraph", "tableName": "fish2_v1"}],
            }),
        )
        .await;
    let id = created.id();
    assert_eq!(created.body["serviceTables"], json!([{"serviceName": "pychunkedgraph", "tableName": "fish2_v1"}]));
    assert_eq!(created.body.get("tosId"), None);
    s.admin(Method::POST, "/Datasets", Some(json!({"name": "fish2"}))).await.error(409, Some("uniqueness"));
    s.admin(Method::POST, "/Datasets", Some(json!({"name": "bad name"}))).await.error(400, Some("invalidValue"));
    s.admin(Method::POST, "/Datasets", Some(json!({"name": "t", "tosId": 999}))).await.error(400, Some("invalidValue"));
    let other = s.post("/Datasets", json!({"name": "other"})).await.id();
    // A table owned by another dataset is not moved.
    let taken = s.patch(&format!("/Datasets/{other}"), json!([{"op": "add", "path": "serviceTables", "value": [{"serviceName": "pychunkedgraph", "tableName": "fish2_v1"}]}])).await;
    taken.error(409, Some("uniqueness"));

    let path = format!("/Datasets/{id}");
    let r = s.patch(&path, json!([{"op": "add", "path": "serviceTables", "value": [{"serviceName": "datastack", "tableName": "fish2"}]}])).await;
    assert_eq!(r.body["serviceTables"].as_array().unwrap().len(), 2);
    let r = s.patch(&path, json!([{"op": "remove", "path": "serviceTables[serviceName eq \"pychunkedgraph\"]"}])).await;
    assert_eq!(r.body["serviceTables"], json!([{"serviceName": "datastack", "tableName": "fish2"}]));
    let r = s.patch(&path, json!([{"op": "add", "path": "serviceTables", "value": [{"serviceName": "pychunkedgraph", "tableName": "fish2_v1"}]}])).await;
    assert_eq!(r.body["serviceTables"].as_array().unwrap().len(), 2);
    let r = s
        .patch(
            &path,
            json!([{"op": "remove", "path": "serviceTables[serviceName eq \"datastack\" and tableName eq \"fish2\"]"}]),
        )
        .await;
    assert_eq!(r.body["serviceTables"], json!([{"serviceName": "pychunkedgraph", "tableName": "fish2_v1"}]));
    let r = s.patch(&path, json!([{"op": "replace", "path": "description", "value": "Zebrafish"}, {"op": "replace", "value": {"externalId": "ext-9"}}])).await;
    assert_eq!((r.body["description"].clone(), r.body["externalId"].clone()), (json!("Zebrafish"), json!("ext-9")));
    let r = s.admin(Method::PUT, &path, Some(json!({"name": "fish3", "serviceTables": []}))).await;
    assert_eq!(
        (r.body["name"].clone(), r.body["serviceTables"].clone(), r.body["description"].clone()),
        (json!("fish3"), json!([]), json!("Zebrafish"))
    );
    s.patch(&path, json!([{"op": "replace", "path": "tosId", "value": 12345}])).await.error(400, Some("invalidValue"));
    let r = s.patch(&path, json!([{"op": "remove", "path": "description"}])).await;
    assert_eq!(r.body.get("description"), None, "a removed description is unassigned");
    assert_eq!(s.admin(Method::DELETE, &path, None).await.status, StatusCode::NO_CONTENT);
    s.get(&path).await.error(404, None);
    let actions = s.audit_actions().await;
    for action in
        ["dataset_created", "dataset_updated", "service_table_added", "service_table_removed", "dataset_deleted"]
    {
        assert!(actions.iter().any(|a| a == action), "{action} in {actions:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rows_made_by_other_apis_have_stable_ids() {
    let s = Scim::start().await;
    let _token = s.app.db.token("signed-in@example.org", None).await;
    {
        let mut conn = s.app.db.conn().await;
        ops::create_group(&mut conn, Actor::System, "lab").await.unwrap();
        ops::create_dataset(&mut conn, Actor::System, "zebra", "Zebrafish", false).await.unwrap();
    }
    // Root is user 1: uuid5(namespace, "User:1") as the spec's example shows.
    let root = s.get(&format!("/Users?filter={}", urlencode(r#"userName eq "root@example.org""#))).await;
    assert_eq!(root.body["Resources"][0]["id"], json!("9758580c-ec91-5fa7-a75c-563a2786f558"));
    assert_eq!(root.body["Resources"][0][EXT]["admin"], json!(true));
    for (endpoint, filter) in [
        ("Users", r#"userName eq "signed-in@example.org""#),
        ("Groups", r#"displayName eq "lab""#),
        ("Datasets", r#"name eq "zebra""#),
    ] {
        let list = s.get(&format!("/{endpoint}?filter={}", urlencode(filter))).await;
        assert_eq!(list.body["totalResults"], json!(1), "{endpoint}");
        let id = list.body["Resources"][0]["id"].as_str().unwrap().to_owned();
        let got = s.get(&format!("/{endpoint}/{id}")).await;
        assert_eq!((got.status, got.body["id"].clone()), (StatusCode::OK, json!(id)));
        assert_eq!(got.body, list.body["Resources"][0]);
        let patch = json!([{"op": "replace", "path": "externalId", "value": format!("ext-{endpoint}")}]);
        assert_eq!(
            s.patch(&format!("/{endpoint}/{id}"), patch).await.body["externalId"],
            json!(format!("ext-{endpoint}"))
        );
        assert_eq!(s.get(&format!("/{endpoint}/{id}")).await.body["id"], json!(id), "the id does not change");
        assert_eq!(s.admin(Method::DELETE, &format!("/{endpoint}/{id}"), None).await.status, StatusCode::NO_CONTENT);
    }
}
