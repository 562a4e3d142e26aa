//! tusd hook compatibility (spec upload.md §4, scenarios 72–80): recorded
//! tusd v1 and v2 HTTP hook payloads and tusd 2.x gRPC calls against the real
//! server, real database, real staging and blob store, and a filestore
//! directory laid out as tusd leaves it.

use std::path::{Path, PathBuf};
use std::time::Duration;

use diesel::{ExpressionMethods as _, QueryDsl as _};
use diesel_async::RunQueryDsl as _;
use reqwest::StatusCode;
use ring::digest::{SHA256, digest};
use ring::rand::{SecureRandom as _, SystemRandom};
use serde_json::{Value, json};
use steward::auth::Role;
use steward::dataset::audit::Actor;
use steward::db::schema::{audit_log, upload_files, upload_notifications};
use steward::proto::upload::v1 as pb;
use steward::proto::upload::v1::upload_service_client::UploadServiceClient;
use steward::upload::hooks::grpc::pb as tusd;
use steward::upload::hooks::grpc::pb::hook_handler_client::HookHandlerClient;
use tonic::Code;
use tonic::transport::Channel;
use uuid::Uuid;

use object_store::ObjectStoreExt as _;

use crate::common::{TestApp, TestDb, scratch_dir, with_bearer};

const OWNER: &str = "owner@example.org";

struct Fixture {
    app: TestApp,
    http: reqwest::Client,
    uploads: UploadServiceClient<Channel>,
    owner: String,
    /// The `tusd` service account's token.
    hook_token: String,
    /// A token of a service account that is not the hook account.
    other_account: String,
    /// An ordinary user's token.
    user_token: String,
    /// tusd's `-upload-dir` (STEWARD_TUSD_FILESTORE_DIR when importing).
    filestore: PathBuf,
    /// Steward's STEWARD_DATA_DIR (its local blob store is `blobs/` there).
    data_dir: PathBuf,
}

impl Fixture {
    /// A server with hooks on; `import` sets the filestore directory;
    /// `peers` is STEWARD_TUSD_HOOK_PEERS.
    async fn start(hooks: &str, import: bool, peers: &str) -> Fixture {
        Fixture::start_with(hooks, import, peers, &[]).await
    }

    /// `start` with more settings.
    async fn start_with(hooks: &str, import: bool, peers: &str, extra: &[(&str, String)]) -> Fixture {
        let db = TestDb::new().await;
        let owner = db.token(OWNER, Some(Role::Researcher)).await;
        let user_token = db.token("someone@example.org", None).await;
        let mut conn = db.conn().await;
        let (_, hook_token) =
            steward::dataset::ops::create_service_account(&mut conn, Actor::System, "tusd", "").await.unwrap();
        let (_, other_account) =
            steward::dataset::ops::create_service_account(&mut conn, Actor::System, "backup-bot", "").await.unwrap();
        drop(conn);
        let data_dir = scratch_dir("upload-hooks");
        let filestore = scratch_dir("tusd-filestore");
        let mut vars = vec![
            ("STEWARD_DATA_DIR", data_dir.to_str().unwrap()),
            ("STEWARD_UPLOAD_NOTIFY_DELAY", "0"),
            ("STEWARD_TUSD_HOOKS", hooks),
            ("STEWARD_TUSD_HOOK_PEERS", peers),
        ];
        if import {
            vars.push(("STEWARD_TUSD_FILESTORE_DIR", filestore.to_str().unwrap()));
        }
        vars.extend(extra.iter().map(|(k, v)| (*k, v.as_str())));
        let (app, _) = TestApp::start_with(db, &vars).await;
        let uploads = UploadServiceClient::new(app.channel().await);
        Fixture {
            app,
            http: reqwest::Client::new(),
            uploads,
            owner,
            hook_token,
            other_account,
            user_token,
            filestore,
            data_dir,
        }
    }

    async fn dropoff(&mut self) -> (String, String) {
        let dropoff = pb::DropOff {
            title: "Field recordings".into(),
            allowed_types: vec![".csv".into(), ".bin".into()],
            ..Default::default()
        };
        let request = pb::CreateDropOffRequest { dropoff: Some(dropoff) };
        let created = self.uploads.create_drop_off(with_bearer(request, &self.owner)).await.unwrap().into_inner();
        (created.dropoff.unwrap().dropoff_id, created.upload_code)
    }

    fn hook_url(&self) -> String {
        format!("{}/datadrops/webhook/?token={}", self.app.url(), self.hook_token)
    }

    /// POSTs a v2 hook; returns the status, content type and JSON answer.
    async fn v2(&self, body: &Value) -> (StatusCode, String, Value) {
        let response = self
            .http
            .post(self.hook_url())
            .header("content-type", "application/json")
            .body(body.to_string())
            .send()
            .await
            .unwrap();
        let status = response.status();
        let content_type = header(&response, "content-type");
        let text = response.text().await.unwrap();
        (status, content_type, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    /// POSTs a v1 hook with `Hook-Name`; returns status, content type and body.
    async fn v1(&self, hook: &str, body: &Value) -> (StatusCode, String, String) {
        let response = self
            .http
            .post(self.hook_url())
            .header("Hook-Name", hook)
            .header("content-type", "application/json")
            .body(body.to_string())
            .send()
            .await
            .unwrap();
        let status = response.status();
        let content_type = header(&response, "content-type");
        (status, content_type, response.text().await.unwrap())
    }

    async fn grpc(&self) -> HookHandlerClient<Channel> {
        HookHandlerClient::new(self.app.channel().await)
    }

    async fn rows(&self, dropoff_id: &str) -> Vec<(Uuid, String, String, Option<String>, Option<Value>)> {
        let mut conn = self.app.db.conn().await;
        upload_files::table
            .filter(upload_files::dropoff_id.eq(Uuid::parse_str(dropoff_id).unwrap()))
            .select((
                upload_files::id,
                upload_files::status,
                upload_files::protocol,
                upload_files::failure_reason,
                upload_files::external_ref,
            ))
            .order(upload_files::created_at)
            .load(&mut conn)
            .await
            .unwrap()
    }

    async fn status(&self, id: Uuid) -> (String, Option<String>) {
        let mut conn = self.app.db.conn().await;
        upload_files::table
            .find(id)
            .select((upload_files::status, upload_files::failure_reason))
            .first(&mut conn)
            .await
            .unwrap()
    }

    /// Polls until the file leaves PROCESSING.
    async fn settled(&self, id: Uuid) -> (String, Option<String>) {
        for _ in 0..400 {
            let status = self.status(id).await;
            if status.0 != "processing" {
                return status;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("file {id} stayed processing");
    }

    /// Import jobs queued or running for `id`.
    async fn import_jobs(&self, id: Uuid) -> i64 {
        let mut conn = self.app.db.conn().await;
        diesel::sql_query("SELECT count(*) AS n FROM jobs WHERE dedup_key = $1 AND state <> 'failed'")
            .bind::<diesel::sql_types::Text, _>(format!("upload.import_tusd:{id}"))
            .get_result::<Count>(&mut conn)
            .await
            .unwrap()
            .n
    }

    /// Completed imports of `id` (their audit entries).
    async fn imports(&self, id: Uuid) -> i64 {
        let mut conn = self.app.db.conn().await;
        audit_log::table
            .filter(audit_log::action.eq("upload_completed"))
            .filter(audit_log::target_id.eq(id.to_string()))
            .count()
            .get_result(&mut conn)
            .await
            .unwrap()
    }

    /// Enqueues `upload.import_tusd` for `id` again (as a retry would run
    /// it) and waits until the queue has run it.
    async fn run_import_again(&self, id: Uuid) {
        let mut conn = self.app.db.conn().await;
        let job = steward::jobs::NewJob::new("upload.import_tusd", json!({"file_id": id.to_string()}))
            .dedup_key(format!("upload.import_tusd:{id}"));
        steward::jobs::enqueue(&mut conn, job).await.unwrap().expect("no import job was live");
        drop(conn);
        for _ in 0..400 {
            if self.import_jobs(id).await == 0 {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("the import job of {id} did not run");
    }

    /// The file's bytes downloaded through Steward by its owner.
    /// The owner's view of file `id` of `dropoff`.
    async fn owner_file(&mut self, dropoff: &str, id: &str) -> pb::File {
        let request = pb::ListFilesRequest { dropoff_id: dropoff.to_owned(), ..Default::default() };
        let files = self.uploads.list_files(with_bearer(request, &self.owner)).await.unwrap().into_inner().files;
        files.into_iter().find(|file| file.file_id == id).expect("the file is listed")
    }

    async fn download(&mut self, id: &str) -> Vec<u8> {
        let request = pb::DownloadFileRequest { file_id: id.to_owned(), offset: 0 };
        let mut stream = self.uploads.download_file(with_bearer(request, &self.owner)).await.unwrap().into_inner();
        let mut downloaded = Vec::new();
        while let Some(message) = stream.message().await.unwrap() {
            downloaded.extend_from_slice(&message.data);
        }
        downloaded
    }

    /// How many notifications name `id`.
    async fn notifications(&self, id: Uuid) -> usize {
        let mut conn = self.app.db.conn().await;
        let lists: Vec<Vec<Option<Uuid>>> =
            upload_notifications::table.select(upload_notifications::file_ids).load(&mut conn).await.unwrap();
        lists.iter().filter(|ids| ids.contains(&Some(id))).count()
    }
}

#[derive(diesel::QueryableByName)]
struct Count {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    n: i64,
}

fn header(response: &reqwest::Response, name: &str) -> String {
    response.headers().get(name).and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned()
}

/// tusd's `Event` as its hooks send it (field names and shapes as tusd 1.x/2.x
/// marshal `handler.HookEvent`; header values are arrays).
fn event(id: &str, size: i64, offset: i64, dropoff: &str, code: Option<&str>, storage: Value) -> Value {
    let mut headers = json!({
        "Tus-Resumable": ["1.0.0"],
        "Upload-Length": [size.to_string()],
        "Upload-Metadata": ["dropoff ZHJvcG9mZg==,filename c3VydmV5LmNzdg==,filetype dGV4dC9jc3Y="],
        "User-Agent": ["tus-js-client/4.3.1"],
    });
    if let Some(code) = code {
        // Lower-case, as a browser's fetch sends it; tusd keeps the client's spelling.
        headers["dropoff-code"] = json!([code]);
    }
    json!({
        "Upload": {
            "ID": id,
            "Size": size,
            "SizeIsDeferred": false,
            "Offset": offset,
            "MetaData": {"dropoff": dropoff, "filename": "survey.csv", "filetype": "text/csv"},
            "IsPartial": false,
            "IsFinal": false,
            "PartialUploads": null,
            "Storage": storage,
        },
        "HTTPRequest": {
            "Method": if id.is_empty() { "POST" } else { "PATCH" },
            "URI": if id.is_empty() { "/files/".to_owned() } else { format!("/files/{id}") },
            "RemoteAddr": "203.0.113.7:51234",
            "Header": headers,
        },
    })
}

fn v2(kind: &str, event: Value) -> Value {
    json!({"Type": kind, "Event": event})
}

fn filestore(dir: &Path, id: &str) -> Value {
    json!({"Type": "filestore", "Path": dir.join(id), "InfoPath": dir.join(format!("{id}.info"))})
}

fn random_bytes(len: usize) -> Vec<u8> {
    let mut data = vec![0u8; len];
    SystemRandom::new().fill(&mut data).unwrap();
    data
}

fn sha256_hex(data: &[u8]) -> String {
    digest(&SHA256, data).as_ref().iter().map(|b| format!("{b:02x}")).collect()
}

/// Scenarios 72, 75 (EXTERNAL), 79 and 80 over v2 JSON hooks.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn v2_hooks_create_record_and_guard_uploads() {
    let mut f = Fixture::start("on", false, "").await;
    let (dropoff, code) = f.dropoff().await;

    // 72: a valid pre-create gets Steward's id; a wrong code is refused with 403.
    let (status, content_type, answer) =
        f.v2(&v2("pre-create", event("", 11, 0, &dropoff, Some(&code), Value::Null))).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(content_type, "application/json");
    let id = Uuid::parse_str(answer["ChangeFileInfo"]["ID"].as_str().unwrap()).unwrap();
    assert!(answer["ChangeFileInfo"].get("MetaData").is_none(), "tusd's metadata is left alone: {answer}");
    let (status, _, refused) =
        f.v2(&v2("pre-create", event("", 11, 0, &dropoff, Some("AAAAA-AAAAA"), Value::Null))).await;
    assert_eq!(status, StatusCode::OK, "v2 answers are always 200");
    assert_eq!(refused["RejectUpload"], true);
    assert_eq!(refused["HTTPResponse"]["StatusCode"], 403);
    assert!(refused["HTTPResponse"]["Body"].as_str().unwrap().starts_with("ERR_DROPOFF_CODE_INVALID: "), "{refused}");
    let (_, _, missing) = f.v2(&v2("pre-create", event("", 11, 0, &dropoff, None, Value::Null))).await;
    assert_eq!(missing["HTTPResponse"]["StatusCode"], 401);
    let (_, _, unknown) =
        f.v2(&v2("pre-create", event("", 11, 0, &Uuid::new_v4().to_string(), Some(&code), Value::Null))).await;
    assert_eq!(unknown["HTTPResponse"]["StatusCode"], 404);
    let mut exe = event("", 11, 0, &dropoff, Some(&code), Value::Null);
    exe["Upload"]["MetaData"] =
        json!({"dropoff": dropoff, "filename": "setup.exe", "filetype": "application/x-msdownload"});
    let (_, _, wrong_type) = f.v2(&v2("pre-create", exe)).await;
    assert_eq!(wrong_type["HTTPResponse"]["StatusCode"], 415);
    let (_, _, too_big) = f.v2(&v2("pre-create", event("", 20 << 30, 0, &dropoff, Some(&code), Value::Null))).await;
    assert_eq!(too_big["HTTPResponse"]["StatusCode"], 413);
    let mut partial = event("", 11, 0, &dropoff, Some(&code), Value::Null);
    partial["Upload"]["IsPartial"] = json!(true);
    let (_, _, concat) = f.v2(&v2("pre-create", partial)).await;
    assert_eq!(concat["HTTPResponse"]["StatusCode"], 400);

    let rows = f.rows(&dropoff).await;
    assert_eq!(rows.len(), 1, "only the accepted creation made a row");
    assert_eq!((rows[0].0, rows[0].1.as_str(), rows[0].2.as_str()), (id, "uploading", "tusd_hook"));

    // post-create records tusd's storage; post-receive moves the offset.
    let sid = id.to_string();
    let storage = filestore(Path::new("/srv/tusd/data"), &sid);
    let (status, _, answer) =
        f.v2(&v2("post-create", event(&sid, 11, 0, &dropoff, Some(&code), storage.clone()))).await;
    assert_eq!((status, answer), (StatusCode::OK, json!({})));
    f.v2(&v2("post-receive", event(&sid, 11, 5, &dropoff, Some(&code), storage.clone()))).await;
    let mut conn = f.app.db.conn().await;
    let offset: i64 =
        upload_files::table.find(id).select(upload_files::committed_offset).first(&mut conn).await.unwrap();
    assert_eq!(offset, 5);

    // 80: an unfinished upload may be terminated; then it is TERMINATED.
    let other = {
        let (_, _, a) = f.v2(&v2("pre-create", event("", 7, 0, &dropoff, Some(&code), Value::Null))).await;
        a["ChangeFileInfo"]["ID"].as_str().unwrap().to_owned()
    };
    let (_, _, allowed) = f.v2(&v2("pre-terminate", event(&other, 7, 3, &dropoff, None, Value::Null))).await;
    assert_eq!(allowed, json!({}));
    f.v2(&v2("post-terminate", event(&other, 7, 3, &dropoff, None, Value::Null))).await;
    assert_eq!(f.status(Uuid::parse_str(&other).unwrap()).await.0, "terminated");

    // 75 without import: post-finish twice → one EXTERNAL record, one notification.
    let finish = v2("post-finish", event(&sid, 11, 11, &dropoff, Some(&code), storage.clone()));
    assert_eq!(f.v2(&finish).await.2, json!({}));
    assert_eq!(f.v2(&finish).await.2, json!({}));
    let rows = f.rows(&dropoff).await;
    assert_eq!(rows.len(), 2);
    let finished = rows.iter().find(|r| r.0 == id).unwrap();
    assert_eq!(finished.1, "external");
    assert_eq!(finished.4.as_ref().unwrap()["Path"], storage["Path"]);
    assert_eq!(f.notifications(id).await, 1, "one e-mail for the file");
    let file = f.owner_file(&dropoff, &sid).await;
    assert_eq!((file.status(), file.size, file.name.as_str()), (pb::FileStatus::External, Some(11), "survey.csv"));

    // 80: a finished upload may not be terminated through tusd.
    let (_, _, vetoed) = f.v2(&v2("pre-terminate", event(&sid, 11, 11, &dropoff, None, Value::Null))).await;
    assert_eq!(vetoed["RejectTermination"], true);
    assert_eq!(vetoed["HTTPResponse"]["StatusCode"], 403);
    assert!(vetoed["HTTPResponse"]["Body"].as_str().unwrap().starts_with("ERR_UPLOAD_FINISHED"));

    // 79: unknown types and unknown uploads continue; malformed bodies are 400.
    let (status, content_type, answer) = f.v2(&json!({"Type": "pre-access", "Event": {"Upload": {}}})).await;
    assert_eq!((status, content_type.as_str(), answer), (StatusCode::OK, "application/json", json!({})));
    let stranger = Uuid::new_v4().to_string();
    assert_eq!(f.v2(&v2("post-finish", event(&stranger, 1, 1, &dropoff, None, Value::Null))).await.2, json!({}));
    let response = f.http.post(f.hook_url()).body("{\"Type\": ").send().await.unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert!(response.text().await.unwrap().contains("not JSON"));
    let response = f
        .http
        .post(f.hook_url())
        .header("content-type", "application/json")
        .body(event("", 1, 0, &dropoff, None, Value::Null).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST, "neither Type nor Hook-Name");
    assert!(response.text().await.unwrap().contains("not a tusd hook request"));
    let response = f.http.get(f.hook_url()).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
}

/// Scenario 73 and 78 (HTTP): tusd v1 hooks, and who may call the endpoint.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn v1_hooks_check_then_record_and_need_the_hook_account() {
    let mut f = Fixture::start("on", false, "").await;
    let (dropoff, code) = f.dropoff().await;

    // A v1 pre-create as tusd 1.13 sends it (documentation shape: no SizeIsDeferred).
    let recorded = format!(
        r#"{{"Upload":{{"ID":"","Size":1048576,"Offset":0,"MetaData":{{"dropoff":"{dropoff}","filename":"survey.csv","filetype":"text/csv"}},"IsPartial":false,"IsFinal":false,"PartialUploads":null,"Storage":null}},"HTTPRequest":{{"Method":"POST","URI":"/files/","RemoteAddr":"203.0.113.7:51234","Header":{{"Dropoff-Code":["K7M2Q-9XH4D"],"Tus-Resumable":["1.0.0"],"Upload-Length":["1048576"]}}}}}}"#
    );
    let response =
        f.http.post(f.hook_url()).header("Hook-Name", "pre-create").body(recorded.clone()).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN, "the documented code is not this drop-off's");
    assert_eq!(header(&response, "content-type"), "text/plain; charset=utf-8");
    assert!(response.text().await.unwrap().starts_with("ERR_DROPOFF_CODE_INVALID: "));
    let valid = recorded.replace("K7M2Q-9XH4D", &code);
    let response = f.http.post(f.hook_url()).header("Hook-Name", "pre-create").body(valid).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.text().await.unwrap(), "{}");
    assert!(f.rows(&dropoff).await.is_empty(), "v1 records in post-create, once tusd has an id");

    // post-create creates the row keyed by tusd's id; a repeat changes nothing.
    let tusd_id = "24e533e02ec3bc40c387f1a0e460e216";
    let storage = filestore(Path::new("/srv/tusd/data"), tusd_id);
    let created = event(tusd_id, 1_048_576, 0, &dropoff, Some(&code), storage.clone());
    assert_eq!(f.v1("post-create", &created).await, (StatusCode::OK, "application/json".into(), "{}".into()));
    f.v1("post-create", &created).await;
    let rows = f.rows(&dropoff).await;
    assert_eq!(rows.len(), 1);
    assert_eq!((rows[0].1.as_str(), rows[0].2.as_str()), ("uploading", "tusd_hook"));
    assert_eq!(rows[0].4.as_ref().unwrap()["Type"], "filestore");

    // pre-finish always continues; post-finish (twice) records EXTERNAL once.
    let done = event(tusd_id, 1_048_576, 1_048_576, &dropoff, Some(&code), storage);
    assert_eq!(f.v1("pre-finish", &done).await.0, StatusCode::OK);
    assert_eq!(f.v1("post-finish", &done).await.0, StatusCode::OK);
    assert_eq!(f.v1("post-finish", &done).await.0, StatusCode::OK);
    let rows = f.rows(&dropoff).await;
    assert_eq!((rows.len(), rows[0].1.as_str()), (1, "external"));
    assert_eq!(f.notifications(rows[0].0).await, 1);

    // 78: no token, a user's token, another service account's token → 401;
    // the hook account's token as a bearer header works too.
    let url = format!("{}/datadrops/webhook/", f.app.url());
    let body = v2("pre-finish", event(tusd_id, 1, 1, &dropoff, None, Value::Null));
    let response =
        f.http.post(&url).header("content-type", "application/json").body(body.to_string()).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert!(response.text().await.unwrap().contains("?token="));
    for token in [&f.user_token, &f.other_account] {
        let response = f
            .http
            .post(format!("{url}?token={token}"))
            .header("content-type", "application/json")
            .body(body.to_string())
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        let response = f
            .http
            .post(&url)
            .bearer_auth(token)
            .header("content-type", "application/json")
            .body(body.to_string())
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    }
    let response = f
        .http
        .post(&url)
        .bearer_auth(&f.hook_token)
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let no_slash = format!("{}/datadrops/webhook?token={}", f.app.url(), f.hook_token);
    assert_eq!(
        f.http
            .post(no_slash)
            .header("content-type", "application/json")
            .body(body.to_string())
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::OK
    );

    // gRPC from loopback, which is not in STEWARD_TUSD_HOOK_PEERS (empty).
    let err = f.grpc().await.invoke_hook(tusd::HookRequest::default()).await.unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied, "{err:?}");
    assert!(err.message().contains("STEWARD_TUSD_HOOK_PEERS"));
}

/// Scenario 78: with STEWARD_TUSD_HOOKS off, both entry points are absent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hooks_are_off_by_default() {
    let f = Fixture::start("off", false, "127.0.0.1/32").await;
    let body = v2("pre-create", json!({}));
    assert_eq!(
        f.http
            .post(f.hook_url())
            .header("content-type", "application/json")
            .body(body.to_string())
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::NOT_FOUND
    );
    let err = f.grpc().await.invoke_hook(tusd::HookRequest::default()).await.unwrap_err();
    assert_eq!(err.code(), Code::Unimplemented, "{err:?}");
}

/// Scenarios 74–77 over gRPC with a filestore import: closed drop-offs are
/// refused, post-finish twice imports once, a 20 MiB file becomes AVAILABLE
/// with its SHA-256 and downloads, and a path escaping the filestore (also
/// through a symlink) fails with IMPORT_REFUSED without being read.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_hooks_import_from_the_filestore() {
    let delete = [("STEWARD_TUSD_DELETE_AFTER_IMPORT", "true".to_owned())];
    let mut f = Fixture::start_with("on", true, "127.0.0.1/32, ::1", &delete).await;
    let mut grpc = f.grpc().await;
    let (dropoff, code) = f.dropoff().await;
    let request = |kind: &str, id: &str, size: i64, offset: i64, storage: &[(&str, String)]| tusd::HookRequest {
        r#type: kind.into(),
        event: Some(tusd::Event {
            upload: Some(tusd::FileInfo {
                id: id.into(),
                size,
                offset,
                meta_data: [
                    ("dropoff", dropoff.as_str()),
                    ("filename", "readings.bin"),
                    ("filetype", "application/octet-stream"),
                ]
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect(),
                storage: storage.iter().map(|(k, v)| ((*k).to_owned(), v.clone())).collect(),
                ..Default::default()
            }),
            http_request: Some(tusd::HttpRequest {
                method: "POST".into(),
                uri: "/files/".into(),
                remote_addr: "198.51.100.4:40000".into(),
                header: [("Dropoff-Code".to_owned(), code.clone()), ("Tus-Resumable".to_owned(), "1.0.0".to_owned())]
                    .into(),
            }),
        }),
    };

    // 74: a valid pre-create answers changeFileInfo.id.
    let data = random_bytes(20 << 20);
    let answer = grpc.invoke_hook(request("pre-create", "", data.len() as i64, 0, &[])).await.unwrap().into_inner();
    assert!(!answer.reject_upload);
    let id = answer.change_file_info.unwrap().id;
    let uuid = Uuid::parse_str(&id).unwrap();

    // 77 + 75: the bytes as tusd's filestore leaves them; post-finish twice.
    std::fs::write(f.filestore.join(&id), &data).unwrap();
    std::fs::write(f.filestore.join(format!("{id}.info")), b"{}").unwrap();
    let storage = [("Type", "filestore".to_owned()), ("Path", f.filestore.join(&id).display().to_string())];
    let size = data.len() as i64;
    for _ in 0..2 {
        let answer = grpc.invoke_hook(request("post-finish", &id, size, size, &storage)).await.unwrap().into_inner();
        assert_eq!(answer, tusd::HookResponse::default());
    }
    assert_eq!(f.settled(uuid).await, ("available".to_owned(), None));
    assert_eq!(f.imports(uuid).await, 1, "one import for both deliveries");
    grpc.invoke_hook(request("post-finish", &id, size, size, &storage)).await.unwrap();
    assert_eq!(f.rows(&dropoff).await.len(), 1, "one row");
    assert_eq!(f.notifications(uuid).await, 1, "one import, one e-mail");
    assert_eq!(f.import_jobs(uuid).await, 0, "a delivery after the import enqueues nothing");
    assert_eq!(f.imports(uuid).await, 1);
    // STEWARD_TUSD_DELETE_AFTER_IMPORT: tusd's copy and its .info are gone.
    assert!(!f.filestore.join(&id).exists() && !f.filestore.join(format!("{id}.info")).exists());
    assert_eq!(f.owner_file(&dropoff, &id).await.sha256, sha256_hex(&data));
    assert!(f.download(&id).await == data, "the download differs from tusd's bytes");

    // The job run again for a file already AVAILABLE changes nothing.
    f.run_import_again(uuid).await;
    assert_eq!(f.status(uuid).await, ("available".to_owned(), None));
    assert_eq!(f.notifications(uuid).await, 1, "still one e-mail");
    assert_eq!(f.imports(uuid).await, 1, "no second import");

    // A crash after a partial write, before AVAILABLE: the retried job
    // replaces the object (tusd's copy is back: deleted only after success).
    let object = f.data_dir.join("blobs/uploads").join(&id);
    let sealed_len = std::fs::metadata(&object).unwrap().len();
    std::fs::write(&object, b"STWDBLOB half-written").unwrap();
    std::fs::write(f.filestore.join(&id), &data).unwrap();
    let mut conn = f.app.db.conn().await;
    diesel::update(upload_files::table.find(uuid))
        .set(upload_files::status.eq("processing"))
        .execute(&mut conn)
        .await
        .unwrap();
    drop(conn);
    f.run_import_again(uuid).await;
    assert_eq!(f.settled(uuid).await, ("available".to_owned(), None));
    assert_eq!(std::fs::metadata(&object).unwrap().len(), sealed_len, "the whole object again");
    assert!(f.download(&id).await == data, "the re-imported download differs");

    // 76: a path outside the filestore, directly and through a symlink inside it.
    let outside = scratch_dir("outside-filestore");
    let secret = outside.join("secret.bin");
    std::fs::write(&secret, b"not for steward").unwrap();
    std::os::unix::fs::symlink(&secret, f.filestore.join("escape")).unwrap();
    let accessed = std::fs::metadata(&secret).unwrap().accessed().unwrap();
    for path in [secret.display().to_string(), f.filestore.join("escape").display().to_string()] {
        let answer = grpc.invoke_hook(request("pre-create", "", 15, 0, &[])).await.unwrap().into_inner();
        let id = answer.change_file_info.unwrap().id;
        let storage = [("Type", "filestore".to_owned()), ("Path", path.clone())];
        grpc.invoke_hook(request("post-finish", &id, 15, 15, &storage)).await.unwrap();
        let status = f.settled(Uuid::parse_str(&id).unwrap()).await;
        assert_eq!(status, ("failed".to_owned(), Some("IMPORT_REFUSED".to_owned())), "{path}");
    }
    assert_eq!(std::fs::metadata(&secret).unwrap().accessed().unwrap(), accessed, "the file was never read");
    // The escape through `..` resolves outside too.
    let answer = grpc.invoke_hook(request("pre-create", "", 15, 0, &[])).await.unwrap().into_inner();
    let dotdot = answer.change_file_info.unwrap().id;
    let path = format!("{}/../{}/secret.bin", f.filestore.display(), outside.file_name().unwrap().to_str().unwrap());
    grpc.invoke_hook(request("post-finish", &dotdot, 15, 15, &[("Type", "filestore".into()), ("Path", path)]))
        .await
        .unwrap();
    assert_eq!(f.settled(Uuid::parse_str(&dotdot).unwrap()).await.1.as_deref(), Some("IMPORT_REFUSED"));

    // 74: a closed drop-off refuses with 410.
    f.uploads
        .close_drop_off(with_bearer(pb::CloseDropOffRequest { dropoff_id: dropoff.clone() }, &f.owner))
        .await
        .unwrap();
    let answer = grpc.invoke_hook(request("pre-create", "", 10, 0, &[])).await.unwrap().into_inner();
    assert!(answer.reject_upload);
    let response = answer.http_response.unwrap();
    assert_eq!(response.status_code, 410);
    assert!(response.body.starts_with("ERR_DROPOFF_CLOSED: "), "{}", response.body);
    assert!(answer.change_file_info.is_none());
}

/// §4.7 with tusd's s3store: STEWARD_TUSD_OBJECT_STORE_URL names tusd's
/// bucket on a real S3 server (moto on loopback) while Steward's own blobs
/// stay local. post-finish answers at once; the import job streams the
/// object into Steward's sealed storage → AVAILABLE with its SHA-256,
/// downloadable, tusd's object and `.info` deleted. A hook naming another
/// bucket is refused without a request for its key; a size other than the
/// object's fails the file.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn v2_post_finish_imports_from_tusds_bucket() {
    let moto = crate::common::moto::moto().await;
    moto.create_bucket("tusd").await;
    moto.create_bucket("elsewhere").await;
    let settings = [
        ("STEWARD_TUSD_OBJECT_STORE_URL", "s3://tusd".to_owned()),
        ("STEWARD_TUSD_DELETE_AFTER_IMPORT", "true".to_owned()),
        ("STEWARD_S3_ENDPOINT", moto.endpoint.clone()),
        ("STEWARD_S3_REGION", "eu-central-1".to_owned()),
        ("STEWARD_S3_ACCESS_KEY_ID", "steward-test".to_owned()),
        ("STEWARD_S3_SECRET_ACCESS_KEY", "steward-test-secret".to_owned()),
        ("STEWARD_S3_ALLOW_HTTP", "true".to_owned()),
    ];
    let mut f = Fixture::start_with("on", false, "", &settings).await;
    let (dropoff, code) = f.dropoff().await;
    let tusd_bucket = moto.bucket("tusd");
    let s3store = |bucket: &str, key: &str| json!({"Type": "s3store", "Bucket": bucket, "Key": key});

    // tusd's s3store: the object under the upload id, its .info beside it,
    // and an id of `<upload id>+<multipart id>` in the hooks.
    let data = random_bytes(12 * 1_000_000 + 321);
    let size = data.len() as i64;
    let (_, _, created) = f.v2(&v2("pre-create", event("", size, 0, &dropoff, Some(&code), Value::Null))).await;
    let key = created["ChangeFileInfo"]["ID"].as_str().unwrap().to_owned();
    let uuid = Uuid::parse_str(&key).unwrap();
    let object = object_store::path::Path::from(key.as_str());
    let info = object_store::path::Path::from(format!("{key}.info"));
    tusd_bucket.put(&object, data.clone().into()).await.unwrap();
    tusd_bucket.put(&info, b"{}".to_vec().into()).await.unwrap();
    let tusd_id = format!("{key}+2~Yx0cKNwWRPf6Vd0fWbm7bG2zC1hWd7P");
    let finish = v2("post-finish", event(&tusd_id, size, size, &dropoff, Some(&code), s3store("tusd", &key)));
    assert_eq!(f.v2(&finish).await, (StatusCode::OK, "application/json".to_owned(), json!({})));
    assert_eq!(f.v2(&finish).await.2, json!({}));
    assert_eq!(f.settled(uuid).await, ("available".to_owned(), None));
    assert_eq!(f.notifications(uuid).await, 1);
    let file = f.owner_file(&dropoff, &key).await;
    assert_eq!(
        (file.status(), file.sha256.as_str(), file.size),
        (pb::FileStatus::Available, &*sha256_hex(&data), Some(size))
    );
    assert!(f.download(&key).await == data, "the download differs from tusd's object");
    assert!(f.data_dir.join("blobs/uploads").join(&key).is_file(), "sealed into Steward's own store");
    for path in [&object, &info] {
        let gone = tusd_bucket.head(path).await;
        assert!(matches!(gone, Err(object_store::Error::NotFound { .. })), "{path} is deleted: {gone:?}");
    }

    // Another bucket: FAILED IMPORT_REFUSED, and moto never saw its key asked for.
    let (_, _, created) = f.v2(&v2("pre-create", event("", 5, 0, &dropoff, Some(&code), Value::Null))).await;
    let other = created["ChangeFileInfo"]["ID"].as_str().unwrap().to_owned();
    moto.bucket("elsewhere")
        .put(&object_store::path::Path::from(other.as_str()), b"12345".to_vec().into())
        .await
        .unwrap();
    let finish = v2("post-finish", event(&other, 5, 5, &dropoff, Some(&code), s3store("elsewhere", &other)));
    assert_eq!(f.v2(&finish).await.2, json!({}));
    let status = f.settled(Uuid::parse_str(&other).unwrap()).await;
    assert_eq!(status, ("failed".to_owned(), Some("IMPORT_REFUSED".to_owned())));
    let asked: Vec<_> = moto.requests().lines().filter(|l| l.contains(&other)).map(str::to_owned).collect();
    assert_eq!(asked.iter().filter(|l| !l.contains("PUT ")).count(), 0, "only the test's PUT: {asked:?}");

    // A declared size other than the object's: SIZE_MISMATCH, nothing stored.
    let (_, _, created) = f.v2(&v2("pre-create", event("", 6, 0, &dropoff, Some(&code), Value::Null))).await;
    let short = created["ChangeFileInfo"]["ID"].as_str().unwrap().to_owned();
    tusd_bucket.put(&object_store::path::Path::from(short.as_str()), b"12345".to_vec().into()).await.unwrap();
    let finish = v2("post-finish", event(&short, 6, 6, &dropoff, Some(&code), s3store("tusd", &short)));
    f.v2(&finish).await;
    let status = f.settled(Uuid::parse_str(&short).unwrap()).await;
    assert_eq!(status, ("failed".to_owned(), Some("SIZE_MISMATCH".to_owned())));
    assert!(!f.data_dir.join("blobs/uploads").join(&short).exists());
}
