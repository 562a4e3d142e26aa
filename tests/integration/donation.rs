//! DonationService's researcher API against the real server (spec donation.md
//! §2, §8 "Researcher API"): the legacy RPCs' exact compat bodies and HTTP
//! statuses (golden files in tests/golden/donation/), every create validation
//! message, form and multipart bodies, who may call what (a refusal for every
//! rule), data queries over rows stored through `rows::insert_batch`,
//! deletion with its purge, `request_id` retries, and the native RPCs with
//! their paging. REST through a real Envoy is tests/e2e/rest/test_donations.py.

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use diesel::sql_types::{Integer, Text};
use diesel::{ExpressionMethods as _, QueryDsl as _};
use diesel_async::RunQueryDsl as _;
use http_body_util::{BodyExt as _, Full};
use steward::auth::Role;
use steward::auth::ops::TokenRequest;
use steward::crypto::Keyring;
use steward::dataset::audit::Actor;
use steward::dataset::ops::{self as dataset_ops, GrantSpec, Grantee};
use steward::dataset::permissions::Level;
use steward::db::schema::{donation_rows, donations, jobs};
use steward::donation::rows::{self, NewRow};
use steward::donation::{keys, purge};
use steward::jobs::{Registry, Workers};
use steward::proto::donation::v1 as pb;
use steward::proto::donation::v1::donation_service_client::DonationServiceClient;
use steward::proto::google::api::HttpBody;
use tokio::sync::oneshot;
use tonic::transport::Channel;
use tonic::{Code, Request};

use crate::common::{TestDb, scratch_dir, spawn_server, test_config};

const PUBLIC_URL: &str = "https://donate.example.org";
const GOLDEN: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/golden/donation");
const FIXED_TIME: &str = "2026-05-04T09:12:03.418220Z";

/// A golden file's text without its final newline.
fn golden(name: &str) -> String {
    let path = format!("{GOLDEN}/{name}.json");
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}")).trim_end_matches('\n').to_owned()
}

/// The server with a keyring the test also holds (to read and write sealed rows).
struct App {
    db: TestDb,
    addr: SocketAddr,
    keyring: Keyring,
    _stop: oneshot::Sender<()>,
}

impl App {
    async fn start() -> App {
        Self::start_with(&[]).await
    }

    async fn start_with(extra: &[(&str, &str)]) -> App {
        let db = TestDb::new().await;
        let keyring = Keyring::generate();
        let spec = keyring.to_spec();
        let dir = scratch_dir("donation");
        let mut vars = vec![
            ("DATABASE_URL", db.url()),
            ("STEWARD_DATA_DIR", dir.to_str().unwrap()),
            ("STEWARD_ENCRYPTION_KEYS", spec.as_str()),
            ("STEWARD_PUBLIC_URL", PUBLIC_URL),
        ];
        vars.extend_from_slice(extra);
        let (addr, stop, _task) = spawn_server(test_config(&vars)).await;
        App { db, addr, keyring, _stop: stop }
    }

    async fn client(&self) -> DonationServiceClient<Channel> {
        let channel = Channel::from_shared(format!("http://{}", self.addr)).unwrap().connect().await.unwrap();
        DonationServiceClient::new(channel)
    }

    async fn token(&self, email: &str, role: Option<Role>) -> String {
        self.db.token(email, role).await
    }

    async fn sql(&self, query: &str) {
        diesel::sql_query(query).execute(&mut self.db.conn().await).await.expect(query);
    }

    /// Stores rows of `data_type` (member 0, ordinals in order) and makes the type available.
    async fn rows(&self, donation_id: i32, data_type: &str, rows: &[(Option<&str>, &str)]) {
        let mut conn = self.db.conn().await;
        let key = keys::load(&mut conn, &self.keyring, donation_id).await.unwrap();
        let new: Vec<NewRow<'_>> = rows
            .iter()
            .enumerate()
            .map(|(i, (ts, json))| NewRow {
                data_type,
                member_no: 0,
                ordinal: i as u64,
                timestamp: ts.map(|t| t.parse().unwrap()),
                json,
            })
            .collect();
        let inserted = rows::insert_batch(&mut conn, &key, donation_id, 0, &new).await.unwrap();
        assert_eq!(inserted, rows.len());
        diesel::sql_query("UPDATE donation_types SET state = 'available' WHERE donation_id = $1 AND data_type = $2")
            .bind::<Integer, _>(donation_id)
            .bind::<Text, _>(data_type)
            .execute(&mut conn)
            .await
            .unwrap();
    }

    /// Fixed creation and update times, for golden bodies.
    async fn freeze_times(&self) {
        self.sql("ALTER TABLE donations DISABLE TRIGGER donations_updated_at").await;
        self.sql(&format!("UPDATE donations SET created_at = '{FIXED_TIME}', updated_at = '{FIXED_TIME}'")).await;
    }
}

/// A legacy answer: the HTTP status header, the exact body, the truncation header.
#[derive(Debug)]
struct Answer {
    status: u16,
    body: String,
    truncated: bool,
}

fn answer<T>(response: tonic::Response<T>, body: impl FnOnce(T) -> Option<HttpBody>) -> Answer {
    let status =
        response.metadata().get("x-steward-http-status").expect("status header").to_str().unwrap().parse().unwrap();
    let truncated = response.metadata().get("x-steward-truncated").is_some_and(|v| v == "true");
    let body = body(response.into_inner()).expect("a body");
    assert_eq!(body.content_type, "application/json; charset=utf-8");
    Answer { status, body: String::from_utf8(body.data).unwrap(), truncated }
}

/// A request with an optional `authorization` value.
fn with_auth<T>(message: T, authorization: Option<&str>) -> Request<T> {
    let mut request = Request::new(message);
    if let Some(value) = authorization {
        request.metadata_mut().insert("authorization", value.parse().unwrap());
    }
    request
}

fn token_auth(token: &str) -> String {
    format!("Token {token}")
}

fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

fn http_body(content_type: &str, data: &[u8]) -> Option<HttpBody> {
    Some(HttpBody { content_type: content_type.into(), data: data.to_vec(), extensions: vec![] })
}

async fn create(app: &App, auth: Option<&str>, content_type: &str, body: &[u8]) -> Answer {
    let request = with_auth(pb::LegacyCreateDonationRequest { body: http_body(content_type, body) }, auth);
    answer(app.client().await.legacy_create_donation(request).await.unwrap(), |r| r.body)
}

async fn create_json(app: &App, token: &str, json: &str) -> Answer {
    create(app, Some(&token_auth(token)), "application/json", json.as_bytes()).await
}

async fn list(app: &App, auth: Option<&str>, dataset: &str) -> Answer {
    let request = with_auth(pb::LegacyListDonationsRequest { dataset: dataset.into() }, auth);
    answer(app.client().await.legacy_list_donations(request).await.unwrap(), |r| r.body)
}

async fn get(app: &App, auth: Option<&str>, id: &str) -> Answer {
    let request = with_auth(pb::LegacyGetDonationRequest { id: id.into() }, auth);
    answer(app.client().await.legacy_get_donation(request).await.unwrap(), |r| r.body)
}

async fn delete(app: &App, auth: Option<&str>, id: &str) -> Answer {
    let request = with_auth(pb::LegacyDeleteDonationRequest { id: id.into() }, auth);
    answer(app.client().await.legacy_delete_donation(request).await.unwrap(), |r| r.body)
}

/// `GET /api/donations/{id}/data/?…` with `query` pairs.
async fn data(app: &App, auth: Option<&str>, id: &str, query: &[(&str, &str)]) -> Answer {
    let value = |name: &str| query.iter().find(|(k, _)| *k == name).map(|(_, v)| (*v).to_owned()).unwrap_or_default();
    let message = pb::LegacyQueryDonationDataRequest {
        id: id.into(),
        data_type: value("data_type"),
        start_date: value("start_date"),
        end_date: value("end_date"),
        limit: value("limit"),
        offset: value("offset"),
    };
    answer(app.client().await.legacy_query_donation_data(with_auth(message, auth)).await.unwrap(), |r| r.body)
}

fn json(answer: &Answer) -> serde_json::Value {
    serde_json::from_str(&answer.body).unwrap()
}

fn sha256_hex(text: &str) -> String {
    steward::auth::token::hex(&steward::auth::token::hash(text).0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_answers_201_with_the_compat_object_and_stores_only_the_token_hash() {
    let app = App::start().await;
    let token = app.token("res@example.org", Some(Role::Researcher)).await;
    let body = r#"{"source_type":"google_portability","data_start_date":"2023-01-01","data_end_date":"2023-12-31",
        "requested_data_types":["youtube_history","search"]}"#;
    let created = create_json(&app, &token, body).await;
    assert_eq!(created.status, 201, "{}", created.body);
    let object = json(&created);
    let raw_token = object["token"].as_str().unwrap().to_owned();
    assert_eq!(raw_token.len(), 43, "32 bytes, base64url without padding");
    assert!(raw_token.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
    let time = object["created_at"].as_str().unwrap().to_owned();
    assert_eq!(time.len(), FIXED_TIME.len(), "microseconds and Z: {time}");
    let normalized = created.body.replace(&raw_token, "<token>").replace(&time, "<time>");
    assert_eq!(normalized, golden("create"));

    // Only the token's SHA-256 is stored.
    let stored: Vec<u8> = donations::table.select(donations::token_hash).first(&mut app.db.conn().await).await.unwrap();
    assert_eq!(steward::auth::token::hex(&stored), sha256_hex(&raw_token));

    // GET shows the same donation without token and link.
    app.freeze_times().await;
    let got = get(&app, Some(&token_auth(&token)), "1").await;
    assert_eq!((got.status, got.body), (200, golden("get")));

    // Absent, null and [] ask for every type of the source, in catalogue order; TikTok too.
    for types in ["", r#","requested_data_types":null"#, r#","requested_data_types":[]"#] {
        let created = create_json(&app, &token, &format!(r#"{{"source_type":"google_portability"{types}}}"#)).await;
        assert_eq!(created.status, 201);
        assert_eq!(
            json(&created)["requested_data_types"],
            serde_json::json!([
                "youtube_history",
                "discover",
                "google_lens",
                "google_play_games",
                "google_play_store",
                "image_search",
                "search",
                "video_search"
            ])
        );
    }
    let tiktok = create_json(&app, &token, r#"{"source_type":"tiktok_portability","requested_data_types":[]}"#).await;
    assert_eq!(tiktok.status, 201);
    assert_eq!(json(&tiktok)["source_type"], "tiktok_portability");
    assert_eq!(json(&tiktok)["requested_data_types"].as_array().unwrap().len(), 6);
    let duplicates = create_json(
        &app,
        &token,
        r#"{"source_type":"google_portability","requested_data_types":["search","discover","search"]}"#,
    )
    .await;
    assert_eq!(json(&duplicates)["requested_data_types"], serde_json::json!(["search", "discover"]));

    // The creation is audited and logged as an event, without personal data.
    let mut conn = app.db.conn().await;
    let audit = steward::dataset::audit::list(&mut conn).await.unwrap();
    assert!(audit.iter().any(|a| a.action == "donation_created" && a.target_id == "1"));
    let events: i64 = steward::db::schema::donation_events::table
        .filter(steward::db::schema::donation_events::kind.eq("created"))
        .count()
        .get_result(&mut conn)
        .await
        .unwrap();
    assert_eq!(events, 6, "one per created donation");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_refuses_bad_input_with_drf_messages() {
    let app = App::start_with(&[("STEWARD_TIKTOK_MODE", "off")]).await;
    let token = app.token("res@example.org", Some(Role::Researcher)).await;
    let long = format!(r#"{{"source_type":"google_portability","description":"{}"}}"#, "é".repeat(2001));
    let several = format!(r#"{{"data_start_date":"01-01-2023","description":"{}"}}"#, "a".repeat(2001));
    let cases: [(&str, &str); 12] = [
        ("{}", "source_required"),
        (r#"{"source_type":"banana"}"#, "source_invalid"),
        (r#"{"source_type":"tiktok_portability"}"#, "source_disabled"),
        (r#"{"source_type":"google_portability","data_start_date":"2023/01/01"}"#, "start_date_format"),
        (
            r#"{"source_type":"google_portability","data_start_date":"2023-02-01","data_end_date":"2023-01-31"}"#,
            "end_before_start",
        ),
        (r#"{"source_type":"google_portability","requested_data_types":"search"}"#, "types_not_a_list"),
        (r#"{"source_type":"google_portability","requested_data_types":["maps"]}"#, "unknown_type"),
        (&long, "description_too_long"),
        (r#"{"source_type":"google_portability","dataset":"x"}"#, "unknown_dataset"),
        (r#"["source_type"]"#, "expected_dictionary"),
        (&several, "several_fields"),
        ("", "source_required"),
    ];
    for (body, expected) in cases {
        let answer = create_json(&app, &token, body).await;
        assert_eq!((answer.status, answer.body), (400, golden(&format!("errors/{expected}"))), "{expected}");
    }
    // 2,000 characters (not bytes) is fine.
    let ok = format!(r#"{{"source_type":"google_portability","description":"{}"}}"#, "é".repeat(2000));
    assert_eq!(create_json(&app, &token, &ok).await.status, 201);

    let malformed = create_json(&app, &token, r#"{"source_type": "#).await;
    assert_eq!(malformed.status, 400);
    assert!(malformed.body.starts_with(r#"{"detail":"JSON parse error - "#), "{}", malformed.body);
    let plain = create(&app, Some(&token_auth(&token)), "text/plain", b"source_type=google_portability").await;
    assert_eq!((plain.status, plain.body), (415, golden("errors/unsupported_media_type")));
    let big = format!(r#"{{"source_type":"google_portability","description":"{}"}}"#, "a".repeat(70_000));
    let too_large = create_json(&app, &token, &big).await;
    assert_eq!((too_large.status, too_large.body), (400, golden("errors/body_too_large")));
    // Nothing was created by the refusals.
    let count: i64 = donations::table.count().get_result(&mut app.db.conn().await).await.unwrap();
    assert_eq!(count, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn form_and_multipart_bodies_create_the_same_donation_as_json() {
    let app = App::start().await;
    let auth = token_auth(&app.token("res@example.org", Some(Role::Researcher)).await);
    let expected = serde_json::json!(["search", "youtube_history"]);
    let window = "data_start_date=2023-01-01&data_end_date=2023-12-31";
    let bodies: [(&str, String); 3] = [
        (
            "application/x-www-form-urlencoded",
            format!(
                "source_type=google_portability&requested_data_types=search&requested_data_types=youtube_history&{window}"
            ),
        ),
        (
            "application/x-www-form-urlencoded; charset=utf-8",
            format!(
                "source_type=google_portability&requested_data_types%5B1%5D=youtube_history&requested_data_types%5B0%5D=search&{window}"
            ),
        ),
        (
            "application/json",
            format!(
                r#"{{"source_type":"google_portability","requested_data_types":{expected},"data_start_date":"2023-01-01","data_end_date":"2023-12-31"}}"#
            ),
        ),
    ];
    for (content_type, body) in &bodies {
        let created = create(&app, Some(&auth), content_type, body.as_bytes()).await;
        assert_eq!(created.status, 201, "{content_type}: {}", created.body);
        let object = json(&created);
        assert_eq!(object["requested_data_types"], expected, "{content_type}");
        assert_eq!(
            (object["data_start_date"].as_str(), object["data_end_date"].as_str()),
            (Some("2023-01-01"), Some("2023-12-31"))
        );
    }
    // R's httr sends multipart by default, with numbered or repeated keys.
    let multipart = |fields: &[(&str, &str)]| {
        let mut body = String::new();
        for (name, value) in fields {
            body.push_str(&format!("--b0undary\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n"));
        }
        body.push_str("--b0undary--\r\n");
        body
    };
    for fields in [
        vec![
            ("source_type", "google_portability"),
            ("requested_data_types", "search"),
            ("requested_data_types", "youtube_history"),
        ],
        vec![
            ("source_type", "google_portability"),
            ("requested_data_types[0]", "search"),
            ("requested_data_types[1]", "youtube_history"),
        ],
    ] {
        let created =
            create(&app, Some(&auth), "multipart/form-data; boundary=b0undary", multipart(&fields).as_bytes()).await;
        assert_eq!(created.status, 201, "{}", created.body);
        assert_eq!(json(&created)["requested_data_types"], expected);
    }
    let form_error = create(&app, Some(&auth), "application/x-www-form-urlencoded", b"source_type=banana").await;
    assert_eq!((form_error.status, form_error.body), (400, golden("errors/source_invalid")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn legacy_routes_refuse_like_drf() {
    let app = App::start().await;
    let researcher = app.token("res@example.org", Some(Role::Researcher)).await;
    let plain = app.token("plain@example.org", None).await;
    assert_eq!(create_json(&app, &researcher, r#"{"source_type":"google_portability"}"#).await.status, 201);
    let none = golden("errors/not_provided");

    // Every route, without credentials or with another scheme.
    for auth in [None, Some("Basic dXNlcjpwYXNz")] {
        let answers = [
            create(&app, auth, "application/json", br#"{"source_type":"google_portability"}"#).await,
            list(&app, auth, "").await,
            get(&app, auth, "1").await,
            delete(&app, auth, "1").await,
            data(&app, auth, "1", &[]).await,
        ];
        for answer in answers {
            assert_eq!((answer.status, &answer.body), (403, &none));
        }
    }
    for header in ["Token", "Token a b"] {
        let answer = get(&app, Some(header), "1").await;
        assert_eq!((answer.status, answer.body), (403, golden("errors/invalid_token_header")), "{header}");
    }
    let unknown = get(&app, Some(&token_auth(&"0".repeat(64))), "1").await;
    assert_eq!((unknown.status, unknown.body), (403, golden("errors/invalid_token")));
    // The keyword in any case, and Bearer, authenticate.
    for auth in [format!("token {researcher}"), format!("TOKEN {researcher}"), bearer(&researcher)] {
        assert_eq!(get(&app, Some(&auth), "1").await.status, 200, "{auth}");
    }
    // Authenticated without the researcher role: create is refused; list shows nothing.
    let denied = create_json(&app, &plain, r#"{"source_type":"google_portability"}"#).await;
    assert_eq!((denied.status, denied.body), (403, golden("errors/permission_denied")));
    let empty = list(&app, Some(&token_auth(&plain)), "").await;
    assert_eq!((empty.status, empty.body.as_str()), (200, "[]"));
    let hidden = get(&app, Some(&token_auth(&plain)), "1").await;
    assert_eq!((hidden.status, hidden.body), (404, golden("errors/not_found")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ownership_is_per_principal_and_ids_reveal_nothing() {
    let app = App::start().await;
    let (_, first) = app
        .db
        .token_with(TokenRequest {
            email: "res@example.org".into(),
            role: Some(Role::Researcher),
            description: "a".into(),
            expires_in: None,
        })
        .await;
    let second = app.token("res@example.org", None).await;
    let other = app.token("other@example.org", Some(Role::Researcher)).await;
    for _ in 0..2 {
        assert_eq!(create_json(&app, &first, r#"{"source_type":"google_portability"}"#).await.status, 201);
    }
    assert_eq!(create_json(&app, &other, r#"{"source_type":"tiktok_portability"}"#).await.status, 201);

    // Both tokens of one researcher see the same donations, by id; never others'.
    let ids = |a: &Answer| json(a).as_array().unwrap().iter().map(|d| d["id"].as_i64().unwrap()).collect::<Vec<_>>();
    for token in [&first, &second] {
        let listed = list(&app, Some(&token_auth(token)), "").await;
        assert_eq!(ids(&listed), [1, 2]);
        assert!(json(&listed).as_array().unwrap().iter().all(|d| d["token"].is_null() && d["donation_url"].is_null()));
    }
    assert_eq!(ids(&list(&app, Some(&token_auth(&other)), "").await), [3]);
    let not_found = golden("errors/not_found");
    for id in ["3", "99", "abc", "0", "-1", "1.0", "99999999999"] {
        let answer = get(&app, Some(&token_auth(&first)), id).await;
        assert_eq!((answer.status, &answer.body), (404, &not_found), "{id}");
        let answer = data(&app, Some(&token_auth(&first)), id, &[]).await;
        assert_eq!((answer.status, &answer.body), (404, &not_found), "{id}");
    }
    // Another researcher's donation cannot be deleted (404) and stays.
    let refused = delete(&app, Some(&token_auth(&first)), "3").await;
    assert_eq!((refused.status, refused.body), (404, not_found.clone()));
    assert_eq!(get(&app, Some(&token_auth(&other)), "3").await.status, 200);

    // Revoking one token deletes nothing (upstream deleted the token's donations).
    let token_id: i64 = steward::db::schema::api_tokens::table
        .filter(steward::db::schema::api_tokens::description.eq("a"))
        .select(steward::db::schema::api_tokens::id)
        .first(&mut app.db.conn().await)
        .await
        .unwrap();
    steward::auth::ops::revoke_token(&mut *app.db.conn().await, token_id).await.unwrap();
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        let answer = list(&app, Some(&token_auth(&first)), "").await;
        if answer.status == 403 {
            assert_eq!(answer.body, golden("errors/invalid_token"));
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "the revoked token kept working");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(ids(&list(&app, Some(&token_auth(&second)), "").await), [1, 2]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_renders_every_field_and_caps_with_a_header() {
    let app = App::start_with(&[("STEWARD_LEGACY_LIST_MAX", "2")]).await;
    let admin = app.token("root@example.org", Some(Role::Admin)).await;
    {
        let mut conn = app.db.conn().await;
        dataset_ops::create_dataset(&mut conn, Actor::System, "study1", "", false).await.unwrap();
    }
    let first = r#"{"source_type":"google_portability","data_start_date":"2023-01-01","data_end_date":"2023-12-31","requested_data_types":["youtube_history","search"]}"#;
    assert_eq!(create_json(&app, &admin, first).await.status, 201);
    let second = r#"{"source_type":"tiktok_portability","dataset":"study1","description":"Thanks for helping!\nLine two & <b>"}"#;
    assert_eq!(create_json(&app, &admin, second).await.status, 201, "admins may use any dataset");
    app.sql(
        "UPDATE donations SET status = 'error', stage = 'failed', error_code = 'export_failed', \
         error_message = 'likes: export_failed (job FAILED after 2 retries)' WHERE id = 2",
    )
    .await;
    app.freeze_times().await;
    let listed = list(&app, Some(&token_auth(&admin)), "").await;
    assert_eq!((listed.status, listed.body.as_str(), listed.truncated), (200, golden("list").as_str(), false));
    assert_eq!(json(&list(&app, Some(&token_auth(&admin)), "study1").await).as_array().unwrap().len(), 1);
    assert_eq!(list(&app, Some(&token_auth(&admin)), "nope").await.body, "[]");

    assert_eq!(create_json(&app, &admin, r#"{"source_type":"google_portability"}"#).await.status, 201);
    let capped = list(&app, Some(&token_auth(&admin)), "").await;
    assert!(capped.truncated);
    assert_eq!(json(&capped).as_array().unwrap().iter().map(|d| d["id"].as_i64().unwrap()).collect::<Vec<_>>(), [1, 2]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn data_route_lists_types_and_pages_rows() {
    let app = App::start().await;
    let token = app.token("res@example.org", Some(Role::Researcher)).await;
    let auth = token_auth(&token);
    let body = r#"{"source_type":"google_portability","requested_data_types":["search","youtube_history","discover"]}"#;
    assert_eq!(create_json(&app, &token, body).await.status, 201);
    let empty = data(&app, Some(&auth), "1", &[]).await;
    assert_eq!((empty.status, empty.body.as_str()), (200, r#"{"data_types":[]}"#));

    let first = r#"{"data_type":"search","device_id":"1","timestamp":"2023-06-15T10:30:00.000Z","title":"Searched for python tutorials","details":null}"#;
    let second = r#"{"data_type":"search","device_id":"1","timestamp":"2023-06-15T10:31:00.000Z","title":"Visited Python.org – Official Website","details":null}"#;
    // Stored out of order: answers come in timestamp order.
    app.rows(1, "search", &[(Some("2023-06-15T10:31:00Z"), second), (Some("2023-06-15T10:30:00Z"), first)]).await;
    app.rows(1, "youtube_history", &[]).await;
    let types = data(&app, Some(&auth), "1", &[]).await;
    assert_eq!(types.body, golden("data_types"), "available types in catalogue order");

    let all = data(&app, Some(&auth), "1", &[("data_type", "search")]).await;
    assert_eq!((all.status, all.body), (200, golden("data")));
    let page = |q: Vec<(&'static str, &'static str)>| {
        let app = &app;
        let auth = auth.clone();
        async move {
            let mut query = vec![("data_type", "search")];
            query.extend(q);
            json(&data(app, Some(&auth), "1", &query).await)
        }
    };
    let one = page(vec![("limit", "1")]).await;
    assert_eq!((one["count"].as_i64(), one["data"].as_array().unwrap().len()), (Some(2), 1));
    assert_eq!(one["data"][0]["timestamp"], "2023-06-15T10:30:00.000Z");
    let rest = page(vec![("offset", "1"), ("limit", "10")]).await;
    assert_eq!(rest["data"].as_array().unwrap().len(), 1);
    assert_eq!(rest["data"][0]["timestamp"], "2023-06-15T10:31:00.000Z");
    let count_only = data(&app, Some(&auth), "1", &[("data_type", "search"), ("limit", "0")]).await;
    assert_eq!(count_only.body, r#"{"count":2,"data":[]}"#);
    let past_end = page(vec![("offset", "5")]).await;
    assert_eq!(past_end, serde_json::json!({"count": 2, "data": []}));

    // Unknown, and known but not available: the empty shape, not an error.
    for data_type in ["maps", "discover", "likes"] {
        let answer = data(&app, Some(&auth), "1", &[("data_type", data_type)]).await;
        assert_eq!((answer.status, answer.body.as_str()), (200, r#"{"count":0,"data":[]}"#), "{data_type}");
    }
    // Parameter errors, DRF's messages.
    for (query, expected) in [
        (vec![("limit", "10001")], "limit_too_large"),
        (vec![("limit", "-1")], "limit_negative"),
        (vec![("limit", "abc")], "limit_invalid"),
        (vec![("offset", "-1")], "offset_negative"),
        (vec![("start_date", "2023-06-16"), ("end_date", "2023-06-15")], "start_after_end"),
        (vec![("start_date", "15.06.2023")], "query_date_format"),
    ] {
        let mut q = vec![("data_type", "search")];
        q.extend(query);
        let answer = data(&app, Some(&auth), "1", &q).await;
        assert_eq!((answer.status, answer.body), (400, golden(&format!("errors/{expected}"))), "{expected}");
    }
    assert_eq!(data(&app, Some(&auth), "1", &[("data_type", "search"), ("limit", "10000")]).await.status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn date_filters_take_whole_utc_days_and_paging_is_stable() {
    let app = App::start().await;
    let token = app.token("res@example.org", Some(Role::Researcher)).await;
    let auth = token_auth(&token);
    assert_eq!(create_json(&app, &token, r#"{"source_type":"google_portability"}"#).await.status, 201);
    let rows: Vec<(Option<String>, String)> = [
        Some("2023-06-14T23:59:59.999Z"),
        Some("2023-06-15T00:00:00.000Z"),
        Some("2023-06-15T12:00:00.000Z"),
        Some("2023-06-15T23:59:59.999Z"),
        Some("2023-06-16T00:00:00.000Z"),
        None,
    ]
    .iter()
    .enumerate()
    .map(|(i, ts)| {
        (
            ts.map(str::to_owned),
            format!(r#"{{"n":"{i}","timestamp":{}}}"#, ts.map_or("null".into(), |t| format!("\"{t}\""))),
        )
    })
    .collect();
    let borrowed: Vec<(Option<&str>, &str)> = rows.iter().map(|(t, j)| (t.as_deref(), j.as_str())).collect();
    app.rows(1, "search", &borrowed).await;
    let numbers = |a: &Answer| {
        json(a)["data"].as_array().unwrap().iter().map(|r| r["n"].as_str().unwrap().to_owned()).collect::<Vec<_>>()
    };

    let day = data(
        &app,
        Some(&auth),
        "1",
        &[("data_type", "search"), ("start_date", "2023-06-15"), ("end_date", "2023-06-15")],
    )
    .await;
    assert_eq!(json(&day)["count"], 3);
    assert_eq!(numbers(&day), ["1", "2", "3"], "the whole day, nothing from its neighbours");
    let from = data(&app, Some(&auth), "1", &[("data_type", "search"), ("start_date", "2023-06-16")]).await;
    assert_eq!(numbers(&from), ["4"], "no timestamp never matches a date filter");
    let unfiltered = data(&app, Some(&auth), "1", &[("data_type", "search")]).await;
    assert_eq!(numbers(&unfiltered), ["0", "1", "2", "3", "4", "5"], "rows without a timestamp come last");

    // limit/offset paging visits every row exactly once, in order.
    let mut seen = Vec::new();
    for offset in (0..6).step_by(2) {
        let offset = offset.to_string();
        let page = data(&app, Some(&auth), "1", &[("data_type", "search"), ("limit", "2"), ("offset", &offset)]).await;
        seen.extend(numbers(&page));
    }
    assert_eq!(seen, ["0", "1", "2", "3", "4", "5"]);

    // Rows are sealed: the database holds no plaintext, and each opens only in its place.
    let sealed: Vec<Vec<u8>> =
        donation_rows::table.select(donation_rows::sealed).load(&mut app.db.conn().await).await.unwrap();
    assert_eq!(sealed.len(), 6);
    assert!(sealed.iter().all(|s| !s.windows(9).any(|w| w == b"timestamp")));
    // Re-inserting the same rows (a retried parse job) adds nothing.
    let mut conn = app.db.conn().await;
    let key = keys::load(&mut conn, &app.keyring, 1).await.unwrap();
    let again: Vec<NewRow<'_>> = borrowed
        .iter()
        .enumerate()
        .map(|(i, (ts, json))| NewRow {
            data_type: "search",
            member_no: 0,
            ordinal: i as u64,
            timestamp: ts.map(|t| t.parse().unwrap()),
            json,
        })
        .collect();
    assert_eq!(rows::insert_batch(&mut conn, &key, 1, 0, &again).await.unwrap(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delete_destroys_the_key_at_once_and_purges_rows() {
    // The purge runs on this test's workers (with the purge handler registered).
    let app = App::start_with(&[("STEWARD_WORKERS", "0")]).await;
    let token = app.token("res@example.org", Some(Role::Researcher)).await;
    let auth = token_auth(&token);
    for _ in 0..2 {
        assert_eq!(create_json(&app, &token, r#"{"source_type":"google_portability"}"#).await.status, 201);
    }
    app.rows(1, "search", &[(Some("2023-06-15T10:30:00Z"), r#"{"a":"1"}"#), (None, r#"{"a":"2"}"#)]).await;
    app.rows(2, "search", &[(None, r#"{"b":"1"}"#)]).await;

    let deleted = delete(&app, Some(&auth), "1").await;
    assert_eq!((deleted.status, deleted.body.as_str()), (204, ""), "pending donations can be deleted");
    let not_found = golden("errors/not_found");
    for answer in [
        get(&app, Some(&auth), "1").await,
        data(&app, Some(&auth), "1", &[]).await,
        data(&app, Some(&auth), "1", &[("data_type", "search")]).await,
        delete(&app, Some(&auth), "1").await,
    ] {
        assert_eq!((answer.status, &answer.body), (404, &not_found));
    }
    let mut conn = app.db.conn().await;
    assert!(matches!(keys::load(&mut conn, &app.keyring, 1).await, Err(keys::KeyError::Missing(1))));
    let audit = steward::dataset::audit::list(&mut conn).await.unwrap();
    let record = audit.iter().find(|a| a.action == "donation_deleted").expect("an audit record");
    assert_eq!((record.target_type.as_str(), record.target_id.as_str()), ("Donation", "1"));
    assert!(!record.before_state.as_ref().unwrap().to_string().contains("token"));
    // The purge job was enqueued in the same transaction; it deletes only the deleted donation's rows.
    let purges: i64 = jobs::table.filter(jobs::dedup_key.eq("purge:1")).count().get_result(&mut conn).await.unwrap();
    assert_eq!(purges, 1);
    let mut registry = Registry::new();
    purge::register(&mut registry, steward::blobs::BlobStore::new(crate::common::scratch_dir("purge")));
    let (stop, shutdown) = tokio::sync::watch::channel(false);
    let workers = Workers::new(app.db.pool(), app.db.url().to_owned(), Arc::new(registry))
        .poll_interval(std::time::Duration::from_millis(50))
        .spawn(shutdown);
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let live: i64 = jobs::table.count().get_result(&mut conn).await.unwrap();
        if live == 0 {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "the purge job did not finish");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    stop.send(true).unwrap();
    workers.await.unwrap();
    let left: Vec<i32> = donation_rows::table.select(donation_rows::donation_id).load(&mut conn).await.unwrap();
    assert_eq!(left, [2], "only the deleted donation's rows went");
    assert_eq!(purge::purge(&mut conn, 1).await.unwrap(), 0, "idempotent");
    assert!(purge::purge(&mut conn, 2).await.is_err(), "a live donation's rows are never purged");
    // The id is never reused.
    drop(conn);
    assert_eq!(json(&create_json(&app, &token, r#"{"source_type":"google_portability"}"#).await)["id"], 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dataset_grants_decide_view_and_edit() {
    let app = App::start().await;
    let owner = app.token("owner@example.org", Some(Role::Researcher)).await;
    let viewer = app.token("viewer@example.org", None).await;
    let editor = app.token("editor@example.org", Some(Role::Researcher)).await;
    let outsider = app.token("outsider@example.org", Some(Role::Researcher)).await;
    {
        let mut conn = app.db.conn().await;
        let study = dataset_ops::create_dataset(&mut conn, Actor::System, "study1", "", false).await.unwrap();
        dataset_ops::create_dataset(&mut conn, Actor::System, "secret", "", false).await.unwrap();
        for (user_id, level) in [(1, Level::Edit), (2, Level::View), (3, Level::Edit), (4, Level::View)] {
            let spec = GrantSpec {
                dataset_id: study.id,
                version_id: None,
                level,
                grantee: Grantee::User(user_id),
                source: "manual",
            };
            dataset_ops::grant(&mut conn, Actor::System, spec).await.unwrap();
        }
    }
    // Creating into a dataset needs edit on it; one the caller cannot see is unknown.
    let in_study = r#"{"source_type":"google_portability","dataset":"study1"}"#;
    let created = create_json(&app, &owner, in_study).await;
    assert_eq!((created.status, json(&created)["dataset"].as_str()), (201, Some("study1")));
    let view_only = create_json(&app, &outsider, in_study).await;
    assert_eq!((view_only.status, view_only.body), (403, golden("errors/permission_denied")));
    let secret = create_json(&app, &owner, r#"{"source_type":"google_portability","dataset":"secret"}"#).await;
    assert_eq!(
        (secret.status, secret.body),
        (400, golden("errors/unknown_dataset").replace("\\\"x\\\"", "\\\"secret\\\""))
    );

    // view reads (even without the researcher role); only edit deletes.
    let auth = token_auth(&viewer);
    assert_eq!(get(&app, Some(&auth), "1").await.status, 200);
    assert_eq!(json(&list(&app, Some(&auth), "").await).as_array().unwrap().len(), 1);
    assert_eq!(data(&app, Some(&auth), "1", &[]).await.status, 200);
    let refused = delete(&app, Some(&auth), "1").await;
    assert_eq!((refused.status, refused.body), (403, golden("errors/permission_denied")));
    assert_eq!(delete(&app, Some(&token_auth(&editor)), "1").await.status, 204);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_public_datasets_implicit_view_does_not_reach_its_donations() {
    let app = App::start().await;
    let owner = app.token("owner@example.org", Some(Role::Researcher)).await;
    let passerby = app.token("passerby@example.org", None).await;
    let member = app.token("member@example.org", None).await;
    {
        let mut conn = app.db.conn().await;
        let open = dataset_ops::create_dataset(&mut conn, Actor::System, "open", "", true).await.unwrap();
        for (user_id, level) in [(1, Level::Edit), (3, Level::View)] {
            let spec = GrantSpec {
                dataset_id: open.id,
                version_id: None,
                level,
                grantee: Grantee::User(user_id),
                source: "manual",
            };
            dataset_ops::grant(&mut conn, Actor::System, spec).await.unwrap();
        }
    }
    let created = create_json(&app, &owner, r#"{"source_type":"google_portability","dataset":"open"}"#).await;
    assert_eq!(created.status, 201);
    // Every user may view a public dataset, but donated data needs a grant.
    let auth = token_auth(&passerby);
    assert_eq!(get(&app, Some(&auth), "1").await.status, 404);
    assert_eq!(data(&app, Some(&auth), "1", &[]).await.status, 404);
    assert_eq!(json(&list(&app, Some(&auth), "").await), serde_json::json!([]));
    assert_eq!(get(&app, Some(&token_auth(&member)), "1").await.status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_id_retries_return_the_same_donation_with_a_new_link() {
    let app = App::start().await;
    let token = app.token("res@example.org", Some(Role::Researcher)).await;
    let body = r#"{"source_type":"google_portability","request_id":"0E2F8A4C-7A3B-4F0E-9D55-6C1B2A3D4E5F"}"#;
    let first = json(&create_json(&app, &token, body).await);
    let again = create_json(&app, &token, body).await;
    assert_eq!(again.status, 201);
    let again = json(&again);
    assert_eq!(again["id"], first["id"]);
    assert_ne!(again["token"], first["token"]);
    let stored: Vec<u8> = donations::table.select(donations::token_hash).first(&mut app.db.conn().await).await.unwrap();
    assert_eq!(
        steward::auth::token::hex(&stored),
        sha256_hex(again["token"].as_str().unwrap()),
        "the old link stops working"
    );
    // Another researcher's identical request_id is theirs alone.
    let other = app.token("other@example.org", Some(Role::Researcher)).await;
    assert_eq!(json(&create_json(&app, &other, body).await)["id"], 2);
    // Once the link was opened, a retry is a conflict.
    app.sql("UPDATE donations SET stage = 'link_opened' WHERE id = 1").await;
    let conflict = create_json(&app, &token, body).await;
    assert_eq!((conflict.status, conflict.body), (409, golden("errors/request_id_used")));
    // After 24 hours the id is free again.
    app.sql("UPDATE donations SET created_at = now() - interval '25 hours' WHERE id = 1").await;
    assert_eq!(json(&create_json(&app, &token, body).await)["id"], 3);
    let bad = create_json(&app, &token, r#"{"source_type":"google_portability","request_id":"not-a-uuid"}"#).await;
    assert_eq!((bad.status, bad.body.as_str()), (400, r#"{"request_id":["Must be a valid UUID."]}"#));
}

/// One plain HTTP/1.1 request to Steward itself (the paths Envoy passes through).
async fn http(app: &App, method: &str, path: &str, authorization: Option<&str>) -> (u16, http::HeaderMap, String) {
    let stream = tokio::net::TcpStream::connect(app.addr).await.unwrap();
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream)).await.unwrap();
    tokio::spawn(connection);
    let mut request = http::Request::builder().method(method).uri(path).header("host", app.addr.to_string());
    if let Some(value) = authorization {
        request = request.header("authorization", value);
    }
    let request = request.body(Full::new(Bytes::from_static(b"{}"))).unwrap();
    let (parts, body) = sender.send_request(request).await.unwrap().into_parts();
    (
        parts.status.as_u16(),
        parts.headers,
        String::from_utf8(body.collect().await.unwrap().to_bytes().to_vec()).unwrap(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn methods_the_routes_do_not_have_answer_405_after_the_credential_check() {
    let app = App::start().await;
    let auth = token_auth(&app.token("res@example.org", Some(Role::Researcher)).await);
    let (status, headers, body) = http(&app, "PUT", "/api/donations/1/", Some(&auth)).await;
    assert_eq!((status, body), (405, golden("errors/method_not_allowed_put")));
    assert_eq!(headers["allow"], "GET, DELETE, HEAD, OPTIONS");
    assert_eq!(headers["content-type"], "application/json; charset=utf-8");
    for (method, path) in [
        ("PATCH", "/api/donations/1"),
        ("POST", "/api/donations/1/"),
        ("DELETE", "/api/donations/"),
        ("POST", "/api/donations/1/data/"),
    ] {
        let (status, _, body) = http(&app, method, path, Some(&auth)).await;
        assert_eq!(
            (status, body),
            (405, format!(r#"{{"detail":"Method \"{method}\" not allowed."}}"#)),
            "{method} {path}"
        );
    }
    let (status, _, body) = http(&app, "PUT", "/api/donations/1/", None).await;
    assert_eq!((status, body), (403, golden("errors/not_provided")));
}

type Client = DonationServiceClient<Channel>;

fn authed<T>(message: T, token: &str) -> Request<T> {
    with_auth(message, Some(&bearer(token)))
}

async fn native_create(
    client: &mut Client,
    token: &str,
    request: pb::CreateDonationRequest,
) -> pb::CreateDonationResponse {
    client.create_donation(authed(request, token)).await.unwrap().into_inner()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn native_rpcs_are_typed_paged_and_refuse_by_the_rules() {
    let app = App::start().await;
    let mut c = app.client().await;
    let res = app.token("res@example.org", Some(Role::Researcher)).await;
    let plain = app.token("plain@example.org", None).await;
    let google = pb::CreateDonationRequest {
        source: pb::DonationSource::GooglePortability.into(),
        data_start_date: "2023-01-01".into(),
        requested_data_types: vec!["search".into(), "youtube_history".into()],
        description: "Study".into(),
        ..Default::default()
    };
    let created = native_create(&mut c, &res, google.clone()).await;
    assert_eq!(created.donation_url, format!("{PUBLIC_URL}/donate/{}/", created.token));
    let d = created.donation.unwrap();
    assert_eq!(
        (d.id, d.status(), d.stage(), d.source()),
        (1, pb::DonationStatus::Pending, pb::DonationStage::Created, pb::DonationSource::GooglePortability)
    );
    assert_eq!(d.requested_data_types, ["search", "youtube_history"]);
    assert_eq!(d.data_types["search"].state(), pb::DataTypeState::Requested);
    assert_eq!((d.data_start_date.as_str(), d.data_end_date.as_str()), ("2023-01-01", ""));
    assert!(d.error.is_none());
    for _ in 0..2 {
        native_create(
            &mut c,
            &res,
            pb::CreateDonationRequest { source: pb::DonationSource::TiktokPortability.into(), ..Default::default() },
        )
        .await;
    }

    // Paged list by id.
    let first = c
        .list_donations(authed(pb::ListDonationsRequest { page_size: 2, ..Default::default() }, &res))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(first.donations.iter().map(|d| d.id).collect::<Vec<_>>(), [1, 2]);
    let second = c
        .list_donations(authed(
            pb::ListDonationsRequest { page_size: 2, page_token: first.next_page_token, ..Default::default() },
            &res,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (second.donations.iter().map(|d| d.id).collect::<Vec<_>>(), second.next_page_token.as_str()),
        (vec![3], "")
    );

    // Rows through the native query, paged with tokens bound to the filter.
    let rows: Vec<String> = (0..5).map(|i| format!(r#"{{"n":"{i}","ok":true,"x":null}}"#)).collect();
    let stamped: Vec<(Option<String>, &str)> =
        rows.iter().enumerate().map(|(i, r)| (Some(format!("2023-06-1{i}T00:00:00Z")), r.as_str())).collect();
    let borrowed: Vec<(Option<&str>, &str)> = stamped.iter().map(|(t, r)| (t.as_deref(), *r)).collect();
    app.rows(1, "search", &borrowed).await;
    let query = |page_token: String| pb::QueryDonationDataRequest {
        donation_id: 1,
        data_type: "search".into(),
        page_size: 2,
        page_token,
        ..Default::default()
    };
    let mut token = String::new();
    let mut seen = Vec::new();
    loop {
        let page = c.query_donation_data(authed(query(token), &res)).await.unwrap().into_inner();
        assert_eq!(page.total_count, 5);
        for row in &page.rows {
            let Some(prost_types::value::Kind::StringValue(n)) = &row.fields["n"].kind else { panic!("n") };
            seen.push(n.clone());
            assert!(matches!(row.fields["x"].kind, Some(prost_types::value::Kind::NullValue(_))));
        }
        if page.next_page_token.is_empty() {
            break;
        }
        token = page.next_page_token;
    }
    assert_eq!(seen, ["0", "1", "2", "3", "4"]);
    let page = c.query_donation_data(authed(query(String::new()), &res)).await.unwrap().into_inner();
    let other_filter = pb::QueryDonationDataRequest { start_date: "2023-06-11".into(), ..query(page.next_page_token) };
    assert_eq!(c.query_donation_data(authed(other_filter, &res)).await.unwrap_err().code(), Code::InvalidArgument);
    let types = c
        .list_donation_data_types(authed(pb::ListDonationDataTypesRequest { donation_id: 1 }, &res))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(types.data_types, ["search"]);
    let got = c
        .get_donation(authed(pb::GetDonationRequest { donation_id: 1 }, &res))
        .await
        .unwrap()
        .into_inner()
        .donation
        .unwrap();
    assert_eq!(got.data_types["search"].state(), pb::DataTypeState::Available);
    let events = c
        .list_donation_events(authed(pb::ListDonationEventsRequest { donation_id: 1, ..Default::default() }, &res))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(events.events.iter().map(|e| e.kind.as_str()).collect::<Vec<_>>(), ["created"]);

    // Input errors.
    let unspecified = c.create_donation(authed(pb::CreateDonationRequest::default(), &res)).await.unwrap_err();
    assert_eq!((unspecified.code(), unspecified.message()), (Code::InvalidArgument, "source: This field is required."));
    let bad_type = pb::CreateDonationRequest { requested_data_types: vec!["maps".into()], ..google.clone() };
    assert_eq!(c.create_donation(authed(bad_type, &res)).await.unwrap_err().code(), Code::InvalidArgument);
    let no_type = pb::QueryDonationDataRequest { donation_id: 1, ..Default::default() };
    assert_eq!(c.query_donation_data(authed(no_type, &res)).await.unwrap_err().code(), Code::InvalidArgument);

    // The catalogue needs no credential.
    let sources = c.list_data_sources(Request::new(pb::ListDataSourcesRequest {})).await.unwrap().into_inner().sources;
    assert_eq!(
        sources.iter().map(|s| s.source_type.as_str()).collect::<Vec<_>>(),
        ["google_portability", "tiktok_portability"]
    );
    assert_eq!(sources[0].data_types.len(), 8);
    assert!(sources.iter().all(|s| s.enabled), "both sandboxes are on outside production");

    // Refusals: no credential → UNAUTHENTICATED on every researcher RPC.
    let anonymous = [
        c.create_donation(Request::new(google.clone())).await.map(drop),
        c.list_donations(Request::new(pb::ListDonationsRequest::default())).await.map(drop),
        c.get_donation(Request::new(pb::GetDonationRequest { donation_id: 1 })).await.map(drop),
        c.delete_donation(Request::new(pb::DeleteDonationRequest { donation_id: 1 })).await.map(drop),
        c.list_donation_data_types(Request::new(pb::ListDonationDataTypesRequest { donation_id: 1 })).await.map(drop),
        c.query_donation_data(Request::new(query(String::new()))).await.map(drop),
        c.list_donation_events(Request::new(pb::ListDonationEventsRequest { donation_id: 1, ..Default::default() }))
            .await
            .map(drop),
    ];
    for result in anonymous {
        assert_eq!(result.unwrap_err().code(), Code::Unauthenticated);
    }
    // Someone else: NOT_FOUND for reads and delete; PERMISSION_DENIED to create without the role.
    let other = [
        c.get_donation(authed(pb::GetDonationRequest { donation_id: 1 }, &plain)).await.map(drop),
        c.delete_donation(authed(pb::DeleteDonationRequest { donation_id: 1 }, &plain)).await.map(drop),
        c.list_donation_data_types(authed(pb::ListDonationDataTypesRequest { donation_id: 1 }, &plain)).await.map(drop),
        c.query_donation_data(authed(query(String::new()), &plain)).await.map(drop),
        c.list_donation_events(authed(pb::ListDonationEventsRequest { donation_id: 1, ..Default::default() }, &plain))
            .await
            .map(drop),
        c.get_donation(authed(pb::GetDonationRequest { donation_id: 0 }, &res)).await.map(drop),
    ];
    for result in other {
        assert_eq!(result.unwrap_err().code(), Code::NotFound);
    }
    assert_eq!(c.create_donation(authed(google.clone(), &plain)).await.unwrap_err().code(), Code::PermissionDenied);
    let none = c.list_donations(authed(pb::ListDonationsRequest::default(), &plain)).await.unwrap().into_inner();
    assert!(none.donations.is_empty());
    let bad_token = c.list_data_sources(authed(pb::ListDataSourcesRequest {}, &"0".repeat(64))).await.unwrap_err();
    assert_eq!(bad_token.code(), Code::Unauthenticated, "a presented bad credential is still refused");

    // Delete, then NOT_FOUND; a retried request_id after the link opened is ALREADY_EXISTS.
    c.delete_donation(authed(pb::DeleteDonationRequest { donation_id: 1 }, &res)).await.unwrap();
    assert_eq!(
        c.get_donation(authed(pb::GetDonationRequest { donation_id: 1 }, &res)).await.unwrap_err().code(),
        Code::NotFound
    );
    let retried = pb::CreateDonationRequest { request_id: "6f1c1b2e-3d4a-4b5c-8d9e-0f1a2b3c4d5e".into(), ..google };
    let once = native_create(&mut c, &res, retried.clone()).await;
    assert_eq!(native_create(&mut c, &res, retried.clone()).await.donation.unwrap().id, once.donation.unwrap().id);
    app.sql("UPDATE donations SET stage = 'terms_accepted' WHERE request_id IS NOT NULL").await;
    assert_eq!(c.create_donation(authed(retried, &res)).await.unwrap_err().code(), Code::AlreadyExists);
}
