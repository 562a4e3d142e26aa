//! Backup and restore exactly as docs/DEPLOY.md describes them: data made
//! through the public API (a processed donation, an uploaded file, a dataset
//! with a grant), `pg_dump --format=custom` and then a copy of the blob
//! directory; restored with `pg_restore` into a new database and a new blob
//! directory, a second server with the same keyring reads everything back,
//! and one with another keyring cannot open the sealed data.

use std::path::Path;
use std::time::Duration;

use bytes::Bytes;
use ring::digest::{SHA256, digest};
use ring::rand::{SecureRandom as _, SystemRandom};
use steward::auth::Role;
use steward::crypto::{Keyring, KeyringError};
use steward::donation::keys::{self, KeyError};
use steward::proto::authorization::v1::CheckAccessRequest;
use steward::proto::dataset::v1 as dataset_pb;
use steward::proto::dataset::v1::dataset_service_client::DatasetServiceClient;
use steward::proto::donation::v1::QueryDonationDataRequest;
use steward::proto::donation::v1::donation_service_client::DonationServiceClient;
use steward::proto::google::api::HttpBody;
use steward::proto::upload::v1 as upload_pb;
use steward::proto::upload::v1::upload_service_client::UploadServiceClient;
use tonic::transport::Channel;

use crate::common::donation::{legacy_create, query_rows, start_sandbox, wait_for_status};
use crate::common::participant::Browser;
use crate::common::{TestApp, TestDb, pg_program, scratch_dir, with_bearer};

const RESEARCHER: &str = "res@example.org";
const VIEWER: &str = "viewer@example.org";
const DATASET: &str = "backup-study";
pub(crate) const DATA_TYPE: &str = "youtube_history";

/// What the tokens of the original server are and what it answered.
pub(crate) struct Made {
    pub researcher: String,
    pub viewer: String,
    pub donation_id: i32,
    pub rows: Vec<prost_types::Struct>,
    pub dropoff_id: String,
    pub upload_code: String,
    pub file_id: String,
    pub file_bytes: Vec<u8>,
    pub file_sha256: String,
    pub access: Vec<(String, String)>,
}

/// A server like production's as far as data goes: sandbox providers (the
/// only ones offline), `keyring`, one job worker, blobs under `data_dir`.
pub(crate) async fn start(db: TestDb, keyring: &str, data_dir: &Path) -> TestApp {
    let vars = [
        ("STEWARD_DATA_DIR", data_dir.to_str().unwrap()),
        ("STEWARD_SANDBOX_DEFAULT_SCENARIO", "persona=tiny"),
        ("STEWARD_UPLOAD_NOTIFY_DELAY", "0"),
    ];
    start_sandbox(db, keyring, "1", &vars).await.0
}

fn sha256_hex(data: &[u8]) -> String {
    digest(&SHA256, data).as_ref().iter().map(|b| format!("{b:02x}")).collect()
}

pub(crate) fn uploads(channel: Channel) -> UploadServiceClient<Channel> {
    UploadServiceClient::new(channel).max_decoding_message_size(8 << 20).max_encoding_message_size(8 << 20)
}

/// The CheckAccess answers (JSON bodies) of `viewer` on the dataset, per level.
pub(crate) async fn access(app: &TestApp, viewer: &str) -> Vec<(String, String)> {
    let mut answers = Vec::new();
    for permission in ["view", "edit"] {
        let json = serde_json::json!({ "dataset": DATASET, "permission": permission }).to_string();
        let request = CheckAccessRequest {
            body: Some(HttpBody { content_type: "application/json".into(), data: json.into(), extensions: vec![] }),
        };
        let reply = app.authorization().await.check_access(with_bearer(request, viewer)).await.unwrap().into_inner();
        answers.push((permission.to_owned(), String::from_utf8(reply.data).unwrap()));
    }
    answers
}

pub(crate) async fn download(channel: Channel, file_id: &str, token: &str) -> Result<Vec<u8>, tonic::Status> {
    let request = upload_pb::DownloadFileRequest { file_id: file_id.into(), offset: 0 };
    let mut stream = uploads(channel).download_file(with_bearer(request, token)).await?.into_inner();
    let mut out = Vec::new();
    while let Some(message) = stream.message().await? {
        out.extend_from_slice(&message.data);
    }
    Ok(out)
}

/// A donation through the participant's flow at the sandbox Google, processed
/// by the server's worker; an upload through UploadService; a dataset with a
/// grant through DatasetService.
pub(crate) async fn make_data(app: &TestApp) -> Made {
    let researcher = app.db.token(RESEARCHER, Some(Role::Researcher)).await;
    let admin = app.db.token("admin@example.org", Some(Role::Admin)).await;
    let viewer = app.db.token(VIEWER, None).await;

    let body = serde_json::json!({
        "source_type": "google_portability",
        "data_start_date": "2020-01-01",
        "data_end_date": "2030-12-31",
        "requested_data_types": [DATA_TYPE],
    });
    let (donation_id, link, _) = legacy_create(app.channel().await, &researcher, &body).await;
    let mut browser = Browser::new(app.url());
    let page = browser.consent(&link).await;
    let authorize = browser.authorize(&page).await;
    let callback = browser.at_google(&authorize, "allow", &[]).await;
    assert_eq!(browser.get(&callback).await.status, 302);
    wait_for_status(&app.db, donation_id, "processed", 90).await;
    let rows = query_rows(app.channel().await, &researcher, donation_id, DATA_TYPE).await;
    assert!(!rows.is_empty(), "the sandbox persona has {DATA_TYPE} rows");

    let mut client = uploads(app.channel().await);
    let dropoff = upload_pb::DropOff { title: "Backed up".into(), ..Default::default() };
    let created = client
        .create_drop_off(with_bearer(upload_pb::CreateDropOffRequest { dropoff: Some(dropoff) }, &researcher))
        .await
        .unwrap()
        .into_inner();
    let (dropoff_id, code) = (created.dropoff.unwrap().dropoff_id, created.upload_code);
    // Larger than one sealed segment (1 MiB), so the blob has several.
    let mut file_bytes = vec![0u8; (1 << 20) + 54_321];
    SystemRandom::new().fill(&mut file_bytes).unwrap();
    let upload_id = client
        .create_upload(upload_pb::CreateUploadRequest {
            dropoff_id: dropoff_id.clone(),
            upload_code: code.clone(),
            name: "interviews.bin".into(),
            size: file_bytes.len() as i64,
            content_type: "application/octet-stream".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .upload_id;
    for (n, chunk) in file_bytes.chunks(1 << 20).enumerate() {
        let write = upload_pb::WriteChunkRequest {
            upload_id: upload_id.clone(),
            upload_code: code.clone(),
            offset: (n << 20) as i64,
            data: Bytes::copy_from_slice(chunk),
        };
        client.write_chunk(write).await.unwrap();
    }
    let sha256 = sha256_hex(&file_bytes);
    let finalize = upload_pb::FinalizeUploadRequest { upload_id: upload_id.clone(), upload_code: code.clone(), sha256 };
    client.finalize_upload(finalize).await.unwrap();
    let file = loop {
        let get = upload_pb::GetUploadRequest { upload_id: upload_id.clone(), upload_code: code.clone() };
        let file = client.get_upload(get).await.unwrap().into_inner().file.unwrap();
        if file.status() != upload_pb::FileStatus::Processing {
            break file;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(file.status(), upload_pb::FileStatus::Available, "{file:?}");
    assert_eq!(download(app.channel().await, &file.file_id, &researcher).await.unwrap(), file_bytes);

    let mut datasets = DatasetServiceClient::new(app.channel().await);
    let create = dataset_pb::CreateDatasetRequest {
        name: DATASET.into(),
        description: "kept in the backup".into(),
        access_mode: dataset_pb::AccessMode::Closed as i32,
        request_id: String::new(),
    };
    datasets.create_dataset(with_bearer(create, &admin)).await.unwrap();
    let grant = dataset_pb::CreateGrantRequest {
        dataset: DATASET.into(),
        grantee: Some(dataset_pb::create_grant_request::Grantee::UserEmail(VIEWER.into())),
        level: dataset_pb::AccessLevel::View as i32,
        version: String::new(),
        request_id: String::new(),
    };
    datasets.create_grant(with_bearer(grant, &admin)).await.unwrap();
    let access = access(app, &viewer).await;
    assert!(access[0].1.contains("\"allowed\":true") && access[1].1.contains("\"allowed\":false"), "{access:?}");

    Made {
        researcher,
        viewer,
        donation_id,
        rows,
        dropoff_id,
        upload_code: code,
        file_id: file.file_id,
        file_bytes,
        file_sha256: file.sha256,
        access,
    }
}

/// Runs `program` with `args`, asserting success.
async fn run(program: &Path, args: &[&str]) {
    let output = tokio::process::Command::new(program).args(args).output().await.unwrap();
    assert!(
        output.status.success(),
        "{} {args:?}: {}\n{}",
        program.display(),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// docs/DEPLOY.md's restore: `pg_restore` into a new, empty database, then
/// the blobs into a new directory.
async fn restore(dump: &Path, blobs: &Path, purpose: &str) -> (TestDb, std::path::PathBuf) {
    let db = TestDb::empty().await;
    run(
        &pg_program("pg_restore").await,
        &["--no-owner", "--exit-on-error", "--dbname", db.url(), dump.to_str().unwrap()],
    )
    .await;
    let data_dir = scratch_dir(purpose);
    run(Path::new("cp"), &["-a", blobs.to_str().unwrap(), data_dir.join("blobs").to_str().unwrap()]).await;
    (db, data_dir)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_restores_with_its_keyring_and_stays_sealed_without_it() {
    let keyring = Keyring::generate().to_spec();
    let source_dir = scratch_dir("backup-source");
    let app = start(TestDb::new().await, &keyring, &source_dir).await;
    let made = make_data(&app).await;

    // The backup, while the server runs: the database first, then the blobs.
    let backup = scratch_dir("backup");
    let dump = backup.join("steward.dump");
    run(
        &pg_program("pg_dump").await,
        &["--format=custom", "--no-owner", "--file", dump.to_str().unwrap(), app.db.url()],
    )
    .await;
    let blobs = backup.join("blobs");
    run(Path::new("cp"), &["-a", source_dir.join("blobs").to_str().unwrap(), blobs.to_str().unwrap()]).await;
    assert!(std::fs::read_dir(&blobs).unwrap().next().is_some(), "the blob directory holds the upload");
    app.stop().await;

    // Restored with the same keyring: everything reads back.
    let (db, data_dir) = restore(&dump, &blobs, "backup-restored").await;
    let restored = start(db, &keyring, &data_dir).await;
    let rows = query_rows(restored.channel().await, &made.researcher, made.donation_id, DATA_TYPE).await;
    assert_eq!(rows, made.rows, "the donation's rows decrypt to the same values");
    let bytes = download(restored.channel().await, &made.file_id, &made.researcher).await.unwrap();
    assert_eq!(bytes, made.file_bytes, "the file downloads byte for byte");
    assert_eq!(sha256_hex(&bytes), made.file_sha256);
    let get = upload_pb::GetFileRequest { file_id: made.file_id.clone() };
    let file = uploads(restored.channel().await)
        .get_file(with_bearer(get, &made.researcher))
        .await
        .unwrap()
        .into_inner()
        .file
        .unwrap();
    assert_eq!((file.sha256.as_str(), file.size), (made.file_sha256.as_str(), Some(made.file_bytes.len() as i64)));
    assert_eq!(access(&restored, &made.viewer).await, made.access, "the grant answers CheckAccess the same");
    restored.stop().await;

    // Restored with another keyring: the tokens and grants (hashed or plain)
    // still work, but nothing sealed opens.
    let (db, data_dir) = restore(&dump, &blobs, "backup-other-keyring").await;
    let other_spec = Keyring::generate().to_spec();
    let other = start(db, &other_spec, &data_dir).await;
    assert_eq!(access(&other, &made.viewer).await, made.access);
    let query = QueryDonationDataRequest {
        donation_id: i64::from(made.donation_id),
        data_type: DATA_TYPE.into(),
        page_size: 10,
        ..Default::default()
    };
    let refused = DonationServiceClient::new(other.channel().await)
        .query_donation_data(with_bearer(query, &made.researcher))
        .await
        .expect_err("rows sealed under the backup's keyring must not open");
    assert_eq!(refused.code(), tonic::Code::Internal, "{refused:?}");
    let refused = download(other.channel().await, &made.file_id, &made.researcher)
        .await
        .expect_err("a file sealed under the backup's keyring must not open");
    assert_eq!(refused.code(), tonic::Code::Internal, "{refused:?}");
    // Callers get no detail; the server's log names the key it lacks: the backup's.
    let backup_key = Keyring::parse(&keyring).unwrap().current_key_id().to_owned();
    let mut conn = other.db.conn().await;
    let error = keys::load(&mut conn, &Keyring::parse(&other_spec).unwrap(), made.donation_id)
        .await
        .expect_err("the donation's data key does not unwrap");
    assert!(
        matches!(&error, KeyError::Unwrap(_, KeyringError::UnknownKeyId { key_id }) if *key_id == backup_key),
        "{error}"
    );
    assert!(error.to_string().contains(&backup_key), "{error}");
    drop(conn);
    other.stop().await;
}
