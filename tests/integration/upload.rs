//! UploadService over gRPC (spec upload.md §2, §6): drop-offs and codes, the
//! chunk RPCs and UploadFile, sealed storage, downloads and who may see what.
//! Real server, real database, real staging and blob directories.

use std::path::{Path, PathBuf};
use std::time::Duration;

use bytes::Bytes;
use diesel::{ExpressionMethods as _, QueryDsl as _};
use diesel_async::RunQueryDsl as _;
use ring::digest::{SHA256, digest};
use ring::rand::{SecureRandom as _, SystemRandom};
use steward::auth::Role;
use steward::db::schema::{upload_dropoffs, upload_files};
use steward::proto::upload::v1 as pb;
use steward::proto::upload::v1::upload_service_client::UploadServiceClient;
use tonic::transport::Channel;
use tonic::{Code, Status};
use tonic_types::StatusExt as _;

use crate::common::{TestApp, TestDb, scratch_dir, with_bearer, with_header};

const OWNER: &str = "owner@example.org";

struct Fixture {
    app: TestApp,
    client: UploadServiceClient<Channel>,
    owner: String,
    data_dir: PathBuf,
    staging: PathBuf,
}

impl Fixture {
    async fn start() -> Fixture {
        Self::start_on(TestDb::new().await, &scratch_dir("upload-data")).await
    }

    async fn start_on(db: TestDb, data_dir: &Path) -> Fixture {
        Self::start_with(db, data_dir, &[]).await
    }

    async fn start_with(db: TestDb, data_dir: &Path, extra: &[(&str, String)]) -> Fixture {
        let owner = db.token(OWNER, Some(Role::Researcher)).await;
        let staging = data_dir.join("staging");
        let mut vars = vec![
            ("STEWARD_DATA_DIR", data_dir.to_str().unwrap()),
            ("STEWARD_UPLOAD_NOTIFY_DELAY", "0"),
            ("STEWARD_UPLOAD_MAX_FILE_BYTES", "67108864"),
            ("STEWARD_UPLOAD_MAX_DROPOFF_BYTES", "134217728"),
        ];
        vars.extend(extra.iter().map(|(k, v)| (*k, v.as_str())));
        let (app, _) = TestApp::start_with(db, &vars).await;
        let client = UploadServiceClient::new(app.channel().await)
            .max_decoding_message_size(8 << 20)
            .max_encoding_message_size(8 << 20);
        Fixture { app, client, owner, data_dir: data_dir.to_owned(), staging }
    }

    async fn dropoff(&mut self, dropoff: pb::DropOff) -> (pb::DropOff, String) {
        let request = pb::CreateDropOffRequest { dropoff: Some(dropoff) };
        let created = self.client.create_drop_off(with_bearer(request, &self.owner)).await.unwrap().into_inner();
        (created.dropoff.unwrap(), created.upload_code)
    }

    async fn simple_dropoff(&mut self) -> (String, String) {
        let (dropoff, code) = self.dropoff(pb::DropOff { title: "Interviews".into(), ..Default::default() }).await;
        (dropoff.dropoff_id, code)
    }

    async fn create_upload(&mut self, dropoff_id: &str, code: &str, name: &str, size: usize) -> Result<String, Status> {
        let request = pb::CreateUploadRequest {
            dropoff_id: dropoff_id.into(),
            upload_code: code.into(),
            name: name.into(),
            size: size as i64,
            content_type: "application/octet-stream".into(),
            ..Default::default()
        };
        Ok(self.client.create_upload(request).await?.into_inner().upload_id)
    }

    async fn write(&mut self, upload_id: &str, code: &str, offset: usize, data: &[u8]) -> Result<i64, Status> {
        let request = pb::WriteChunkRequest {
            upload_id: upload_id.into(),
            upload_code: code.into(),
            offset: offset as i64,
            data: Bytes::copy_from_slice(data),
        };
        Ok(self.client.write_chunk(request).await?.into_inner().offset)
    }

    async fn get_upload(&mut self, upload_id: &str, code: &str) -> Result<pb::File, Status> {
        let request = pb::GetUploadRequest { upload_id: upload_id.into(), upload_code: code.into() };
        Ok(self.client.get_upload(request).await?.into_inner().file.unwrap())
    }

    async fn finalize(&mut self, upload_id: &str, code: &str, sha256: &str) -> Result<pb::File, Status> {
        let request =
            pb::FinalizeUploadRequest { upload_id: upload_id.into(), upload_code: code.into(), sha256: sha256.into() };
        Ok(self.client.finalize_upload(request).await?.into_inner().file.unwrap())
    }

    /// Polls GetUpload until the file leaves PROCESSING.
    async fn settled(&mut self, upload_id: &str, code: &str) -> pb::File {
        for _ in 0..300 {
            let file = self.get_upload(upload_id, code).await.unwrap();
            if file.status() != pb::FileStatus::Processing {
                return file;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("upload {upload_id} stayed PROCESSING");
    }

    /// Uploads `data` in chunks of `chunk` bytes and finalizes; returns the settled file.
    async fn upload(&mut self, dropoff_id: &str, code: &str, name: &str, data: &[u8], chunk: usize) -> pb::File {
        let id = self.create_upload(dropoff_id, code, name, data.len()).await.unwrap();
        let mut offset = 0;
        while offset < data.len() {
            let end = (offset + chunk).min(data.len());
            assert_eq!(self.write(&id, code, offset, &data[offset..end]).await.unwrap(), end as i64);
            offset = end;
        }
        self.finalize(&id, code, &sha256_hex(data)).await.unwrap();
        self.settled(&id, code).await
    }

    async fn download(&mut self, file_id: &str, offset: i64, token: &str) -> Result<Vec<u8>, Status> {
        let request = pb::DownloadFileRequest { file_id: file_id.into(), offset };
        let mut stream = self.client.download_file(with_bearer(request, token)).await?.into_inner();
        let mut out = Vec::new();
        while let Some(message) = stream.message().await? {
            out.extend_from_slice(&message.data);
        }
        Ok(out)
    }
}

fn random_bytes(len: usize) -> Vec<u8> {
    let mut data = vec![0u8; len];
    SystemRandom::new().fill(&mut data).unwrap();
    data
}

fn sha256_hex(data: &[u8]) -> String {
    digest(&SHA256, data).as_ref().iter().map(|b| format!("{b:02x}")).collect()
}

fn reason(status: &Status) -> String {
    status.get_error_details().error_info().map(|info| info.reason.clone()).unwrap_or_default()
}

fn current_offset(status: &Status) -> Option<String> {
    status.get_error_details().error_info().and_then(|info| info.metadata.get("current_offset").cloned())
}

/// Every regular file below `dir`.
fn files_below(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else { continue };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else {
                found.push(path);
            }
        }
    }
    found
}

/// Scenarios 1 and 3: the code is shown once, stored as a peppered hash, and
/// accepted as people type it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_code_is_shown_once_and_accepted_as_typed() {
    let mut f = Fixture::start().await;
    let (dropoff, code) = f.dropoff(pb::DropOff { title: "Site visit photos".into(), ..Default::default() }).await;
    assert_eq!(code.len(), 11, "XXXXX-XXXXX: {code}");
    assert_eq!(dropoff.owner, OWNER);
    assert_eq!(dropoff.state(), pb::DropOffState::Open);
    assert!(dropoff.upload_url.ends_with(&format!("/upload/{}", dropoff.dropoff_id)), "{}", dropoff.upload_url);
    assert!(dropoff.tus_endpoint.ends_with("/files/"));

    let got = f
        .client
        .get_drop_off(with_bearer(pb::GetDropOffRequest { dropoff_id: dropoff.dropoff_id.clone() }, &f.owner))
        .await
        .unwrap()
        .into_inner();
    let listed =
        f.client.list_drop_offs(with_bearer(pb::ListDropOffsRequest::default(), &f.owner)).await.unwrap().into_inner();
    let bare: String = code.chars().filter(|c| *c != '-').collect();
    for text in [format!("{got:?}"), format!("{listed:?}")] {
        assert!(!text.contains(&bare) && !text.contains(&code), "the code leaked: {text}");
    }
    assert_eq!(listed.dropoffs.len(), 1);

    let mut conn = f.app.db.conn().await;
    let hash: Vec<u8> = upload_dropoffs::table.select(upload_dropoffs::code_hash).first(&mut conn).await.unwrap();
    assert_ne!(hash, digest(&SHA256, bare.as_bytes()).as_ref(), "the hash is peppered");

    // Lower case, spaces, O for 0 and l for 1 are what people type.
    let typed: String = code
        .to_lowercase()
        .replace('-', " ")
        .chars()
        .map(|c| match c {
            '0' => 'o',
            '1' => 'l',
            other => other,
        })
        .collect();
    let open = pb::OpenDropOffRequest { dropoff_id: dropoff.dropoff_id.clone(), upload_code: format!(" {typed} ") };
    let opened = f.client.open_drop_off(open).await.unwrap().into_inner();
    assert_eq!(opened.title, "Site visit photos");
    assert_eq!(opened.max_chunk_bytes, 4 << 20);
}

/// Scenario 48 (and 58): chunks of odd sizes, FinalizeUpload, AVAILABLE with
/// the same SHA-256, and downloads of the whole file and of its tail.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chunks_finalize_and_download_the_same_bytes() {
    let mut f = Fixture::start().await;
    let (dropoff_id, code) = f.simple_dropoff().await;
    let data = random_bytes(3 * 65_536 + 12_345);
    let file = f.upload(&dropoff_id, &code, "../../etc/passwd", &data, 65_537).await;
    assert_eq!(file.status(), pb::FileStatus::Available, "{file:?}");
    assert_eq!(file.sha256, sha256_hex(&data));
    assert_eq!(file.name, "passwd", "folders are removed from names");
    assert_eq!(file.size, Some(data.len() as i64));

    let owner = f.owner.clone();
    assert_eq!(f.download(&file.file_id, 0, &owner).await.unwrap(), data);
    assert_eq!(f.download(&file.file_id, 100_000, &owner).await.unwrap(), data[100_000..]);

    let files = f
        .client
        .list_files(with_bearer(pb::ListFilesRequest { dropoff_id: dropoff_id.clone(), ..Default::default() }, &owner))
        .await
        .unwrap()
        .into_inner()
        .files;
    assert_eq!(files.len(), 1);
    assert_eq!(files[0].sha256, file.sha256);
    let view = f
        .client
        .get_drop_off(with_bearer(pb::GetDropOffRequest { dropoff_id: dropoff_id.clone() }, &owner))
        .await
        .unwrap()
        .into_inner()
        .dropoff
        .unwrap();
    assert_eq!((view.used_bytes, view.file_count), (data.len() as i64, 1));
    // The owner is told (development writes the message to the data dir), never sent the code.
    let mut summary = view.notification_summary.unwrap();
    for _ in 0..100 {
        if summary.sent == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        let get = pb::GetDropOffRequest { dropoff_id: view.dropoff_id.clone() };
        let view = f.client.get_drop_off(with_bearer(get, &owner)).await.unwrap().into_inner().dropoff.unwrap();
        summary = view.notification_summary.unwrap();
    }
    assert_eq!((summary.sent, summary.failed, summary.pending), (1, 0, 0), "{summary:?}");
    let mail = files_below(&f.data_dir.join("mail"));
    assert_eq!(mail.len(), 1, "{mail:?}");
    // Quoted-printable: soft line breaks (`=` at a line's end) join lines.
    let message = std::fs::read_to_string(&mail[0]).unwrap().replace("=\r\n", "").replace("=\n", "");
    assert!(message.contains(&file.sha256) && message.contains("passwd"), "{message}");
    let bare: String = code.chars().filter(|c| *c != '-').collect();
    assert!(!message.contains(&bare) && !message.contains(&code), "the code is never e-mailed");

    // An empty file is a file too.
    let (dropoff_id, code) = f.simple_dropoff().await;
    let empty = f.upload(&dropoff_id, &code, "empty.txt", &[], 1).await;
    assert_eq!(empty.status(), pb::FileStatus::Available);
    assert_eq!(empty.sha256, sha256_hex(&[]));
    assert!(f.download(&empty.file_id, 0, &owner).await.unwrap().is_empty());
}

/// Scenarios 49 and 50: retries change nothing, a straddling chunk appends
/// only its new part, a gap and data past the size are refused with reasons.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chunk_offsets_are_idempotent_and_checked() {
    let mut f = Fixture::start().await;
    let (dropoff_id, code) = f.simple_dropoff().await;
    let data = random_bytes(200_000);
    let id = f.create_upload(&dropoff_id, &code, "data.bin", data.len()).await.unwrap();
    assert_eq!(f.write(&id, &code, 0, &data[..100_000]).await.unwrap(), 100_000);
    // The same chunk again: the offset is reported, nothing changes.
    assert_eq!(f.write(&id, &code, 0, &data[..100_000]).await.unwrap(), 100_000);
    // A chunk from 50,000 to 150,000 appends only 100,000..150,000.
    assert_eq!(f.write(&id, &code, 50_000, &data[50_000..150_000]).await.unwrap(), 150_000);

    let gap = f.write(&id, &code, 160_000, &data[160_000..170_000]).await.unwrap_err();
    assert_eq!(gap.code(), Code::Aborted, "{gap:?}");
    assert_eq!(reason(&gap), "OFFSET_MISMATCH");
    assert_eq!(current_offset(&gap).as_deref(), Some("150000"));

    let past = f.write(&id, &code, 150_000, &random_bytes(60_000)).await.unwrap_err();
    assert_eq!(past.code(), Code::OutOfRange, "{past:?}");
    assert_eq!(reason(&past), "SIZE_EXCEEDED");

    let early = f.finalize(&id, &code, &sha256_hex(&data)).await.unwrap_err();
    assert_eq!(early.code(), Code::FailedPrecondition, "{early:?}");
    assert_eq!(reason(&early), "UPLOAD_INCOMPLETE");
    assert_eq!(current_offset(&early).as_deref(), Some("150000"));

    let big = f.create_upload(&dropoff_id, &code, "big.bin", 5 << 20).await.unwrap();
    let too_big = f.write(&big, &code, 0, &random_bytes((4 << 20) + 1)).await.unwrap_err();
    assert_eq!(too_big.code(), Code::InvalidArgument, "{too_big:?}");

    assert_eq!(f.write(&id, &code, 150_000, &data[150_000..]).await.unwrap(), 200_000);
    f.finalize(&id, &code, &sha256_hex(&data)).await.unwrap();
    let file = f.settled(&id, &code).await;
    assert_eq!(file.sha256, sha256_hex(&data));
    let owner = f.owner.clone();
    assert_eq!(f.download(&id, 0, &owner).await.unwrap(), data, "no byte lost or duplicated");
}

/// Scenario 51: a wrong SHA-256 fails the file, purges its bytes and frees its quota.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_digest_fails_the_file_and_removes_its_bytes() {
    let mut f = Fixture::start().await;
    let (dropoff_id, code) = f.simple_dropoff().await;
    let data = random_bytes(70_000);
    let id = f.create_upload(&dropoff_id, &code, "data.bin", data.len()).await.unwrap();
    f.write(&id, &code, 0, &data).await.unwrap();
    let bad = f.finalize(&id, &code, "z").await.unwrap_err();
    assert_eq!(bad.code(), Code::InvalidArgument);
    f.finalize(&id, &code, &sha256_hex(b"something else")).await.unwrap();
    let file = f.settled(&id, &code).await;
    assert_eq!(file.status(), pb::FileStatus::Failed);
    assert_eq!(file.failure_reason, "SHA256_MISMATCH");
    assert!(!f.staging.join(&id).exists(), "the staged bytes are purged");
    assert!(files_below(&f.data_dir.join("blobs")).is_empty(), "no object is kept");
    let owner = f.owner.clone();
    let status = f.download(&id, 0, &owner).await.unwrap_err();
    assert_eq!(status.code(), Code::FailedPrecondition, "{status:?}");
}

/// Scenario 2 and 4: a rotated code stops at once, also for an upload in
/// progress; ten wrong codes from one address are limited, others are not.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn codes_rotate_at_once_and_guessing_is_limited() {
    let mut f = Fixture::start().await;
    let (dropoff_id, old) = f.simple_dropoff().await;
    let id = f.create_upload(&dropoff_id, &old, "a.bin", 10).await.unwrap();
    let rotate = pb::RotateUploadCodeRequest { dropoff_id: dropoff_id.clone() };
    let new = f.client.rotate_upload_code(with_bearer(rotate, &f.owner)).await.unwrap().into_inner().upload_code;
    assert_ne!(new, old);
    let refused = f.create_upload(&dropoff_id, &old, "b.bin", 10).await.unwrap_err();
    assert_eq!((refused.code(), reason(&refused).as_str()), (Code::PermissionDenied, "CODE_INVALID"));
    let refused = f.write(&id, &old, 0, b"0123456789").await.unwrap_err();
    assert_eq!(refused.code(), Code::PermissionDenied, "the old code no longer writes: {refused:?}");
    assert_eq!(f.write(&id, &new, 0, b"0123456789").await.unwrap(), 10);

    let missing = f.create_upload(&dropoff_id, "", "c.bin", 1).await.unwrap_err();
    assert_eq!(missing.code(), Code::Unauthenticated);

    let guess = |address: &str| {
        with_header(
            pb::OpenDropOffRequest { dropoff_id: dropoff_id.clone(), upload_code: "AAAAA-AAAAA".into() },
            "x-forwarded-for",
            address,
        )
    };
    for _ in 0..10 {
        let status = f.client.open_drop_off(guess("198.51.100.7")).await.unwrap_err();
        assert_eq!(status.code(), Code::PermissionDenied);
    }
    let limited = f.client.open_drop_off(guess("198.51.100.7")).await.unwrap_err();
    assert_eq!(limited.code(), Code::ResourceExhausted, "{limited:?}");
    assert_eq!(reason(&limited), "TOO_MANY_ATTEMPTS");
    assert!(limited.get_error_details().retry_info().is_some(), "RetryInfo says when to try again");
    // The right code from another address still works.
    let other = with_header(
        pb::OpenDropOffRequest { dropoff_id: dropoff_id.clone(), upload_code: new.clone() },
        "x-forwarded-for",
        "203.0.113.9",
    );
    f.client.open_drop_off(other).await.unwrap();
}

/// Scenarios 5-7 and the drop-off limits: roles, hidden drop-offs, reserved
/// fields, addresses, sizes, types, quota and closing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drop_off_rules_and_refusals() {
    let mut f = Fixture::start().await;
    let participant = f.app.db.token("someone@example.org", None).await;
    let other_researcher = f.app.db.token("other@example.org", Some(Role::Researcher)).await;
    let create = |dropoff: pb::DropOff| pb::CreateDropOffRequest { dropoff: Some(dropoff) };
    let titled = || pb::DropOff { title: "T".into(), ..Default::default() };

    let status = f.client.create_drop_off(with_bearer(create(titled()), &participant)).await.unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied, "{status:?}");
    let status = f.client.create_drop_off(create(titled())).await.unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated);

    let reserved = pb::DropOff { recipient_public_key: vec![1, 2, 3], ..titled() };
    let status = f.client.create_drop_off(with_bearer(create(reserved), &f.owner)).await.unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    assert!(status.message().contains("end-to-end"), "{}", status.message());
    let bad_address = pb::DropOff { recipient_emails: vec!["not an address".into()], ..titled() };
    let status = f.client.create_drop_off(with_bearer(create(bad_address), &f.owner)).await.unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    assert!(status.message().contains("not an address"), "{}", status.message());
    let too_big = pb::DropOff { max_file_bytes: 1 << 40, ..titled() };
    let status = f.client.create_drop_off(with_bearer(create(too_big), &f.owner)).await.unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    assert!(status.message().contains("max_file_bytes"), "{}", status.message());
    let untitled = pb::DropOff::default();
    let status = f.client.create_drop_off(with_bearer(create(untitled), &f.owner)).await.unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);

    // Limits, types and quota.
    let limited = pb::DropOff {
        max_file_bytes: 1000,
        max_total_bytes: 1500,
        allowed_types: vec![".csv".into(), "text/*".into()],
        ..titled()
    };
    let (dropoff, code) = f.dropoff(limited).await;
    let id = dropoff.dropoff_id.clone();
    let status = f.create_upload(&id, &code, "big.csv", 1001).await.unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    let with_type = |name: &str, content_type: &str, size: i64| pb::CreateUploadRequest {
        dropoff_id: id.clone(),
        upload_code: code.clone(),
        name: name.into(),
        size,
        content_type: content_type.into(),
        ..Default::default()
    };
    f.client.create_upload(with_type("data.csv", "application/octet-stream", 800)).await.unwrap();
    let status = f.client.create_upload(with_type("x.exe", "application/x-msdownload", 10)).await.unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    let status = f.client.create_upload(with_type("x.bin", "text/plain", 800)).await.unwrap_err();
    assert_eq!((status.code(), reason(&status).as_str()), (Code::ResourceExhausted, "QUOTA_EXCEEDED"));
    f.client.create_upload(with_type("x.bin", "text/plain", 700)).await.unwrap();

    // Someone else's drop-off does not exist for them.
    let get = pb::GetDropOffRequest { dropoff_id: id.clone() };
    let status = f.client.get_drop_off(with_bearer(get, &other_researcher)).await.unwrap_err();
    assert_eq!(status.code(), Code::NotFound, "{status:?}");
    let list = pb::ListFilesRequest { dropoff_id: id.clone(), ..Default::default() };
    let status = f.client.list_files(with_bearer(list, &other_researcher)).await.unwrap_err();
    assert_eq!(status.code(), Code::NotFound);
    let all = pb::ListDropOffsRequest { all: true, ..Default::default() };
    let status = f.client.list_drop_offs(with_bearer(all, &other_researcher)).await.unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied);

    // Closed: no new uploads until reopened.
    let close = pb::CloseDropOffRequest { dropoff_id: id.clone() };
    let closed = f.client.close_drop_off(with_bearer(close, &f.owner)).await.unwrap().into_inner().dropoff.unwrap();
    assert_eq!(closed.state(), pb::DropOffState::Closed);
    let status = f.client.create_upload(with_type("late.csv", "text/csv", 1)).await.unwrap_err();
    assert_eq!((status.code(), reason(&status).as_str()), (Code::FailedPrecondition, "DROPOFF_CLOSED"));
    let reopen = pb::UpdateDropOffRequest { dropoff_id: id.clone(), reopen: true, ..Default::default() };
    let reopened = f.client.update_drop_off(with_bearer(reopen, &f.owner)).await.unwrap().into_inner();
    assert_eq!(reopened.dropoff.unwrap().state(), pb::DropOffState::Open);
}

/// Scenarios 54, 55 and 59: no plaintext at rest, a flipped byte is
/// DATA_LOSS, and DeleteFile erases the key at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files_are_sealed_at_rest_and_deleted_for_good() {
    let mut f = Fixture::start().await;
    let (dropoff_id, code) = f.simple_dropoff().await;
    let marker = random_bytes(32);
    let mut data = random_bytes(300_000);
    data[150_000..150_032].copy_from_slice(&marker);

    // Mid-upload, staging holds no plaintext either.
    let id = f.create_upload(&dropoff_id, &code, "secret.bin", data.len()).await.unwrap();
    f.write(&id, &code, 0, &data[..200_000]).await.unwrap();
    let staged = files_below(&f.staging);
    assert!(!staged.is_empty());
    for path in &staged {
        let bytes = std::fs::read(path).unwrap();
        assert!(!bytes.windows(32).any(|w| w == marker.as_slice()), "plaintext in {}", path.display());
    }
    f.write(&id, &code, 200_000, &data[200_000..]).await.unwrap();
    f.finalize(&id, &code, &sha256_hex(&data)).await.unwrap();
    assert_eq!(f.settled(&id, &code).await.status(), pb::FileStatus::Available);
    let objects = files_below(&f.data_dir.join("blobs"));
    assert_eq!(objects.len(), 1, "{objects:?}");
    let object = &objects[0];
    let mut sealed = std::fs::read(object).unwrap();
    assert!(!sealed.windows(32).any(|w| w == marker.as_slice()), "plaintext in the object");
    assert!(!object.to_string_lossy().contains("secret"), "names never reach storage keys");

    // One flipped byte: DATA_LOSS, and none of that segment's bytes are sent
    // (the file is one final segment, which is checked when the download opens).
    let owner = f.owner.clone();
    let position = sealed.len() - 100;
    sealed[position] ^= 1;
    std::fs::write(object, &sealed).unwrap();
    let request = pb::DownloadFileRequest { file_id: id.clone(), offset: 0 };
    let status = match f.client.download_file(with_bearer(request, &owner)).await {
        Err(status) => status,
        Ok(response) => {
            let mut stream = response.into_inner();
            loop {
                match stream.message().await {
                    Ok(Some(message)) => assert!(message.data.is_empty(), "bytes of a damaged segment were sent"),
                    Ok(None) => panic!("a damaged file downloaded to its end"),
                    Err(status) => break status,
                }
            }
        }
    };
    assert_eq!(status.code(), Code::DataLoss, "{status:?}");

    let delete = pb::DeleteFileRequest { file_id: id.clone() };
    f.client.delete_file(with_bearer(delete, &owner)).await.unwrap();
    let mut conn = f.app.db.conn().await;
    let key: Option<Vec<u8>> = upload_files::table
        .filter(upload_files::id.eq(uuid::Uuid::parse_str(&id).unwrap()))
        .select(upload_files::wrapped_key)
        .first(&mut conn)
        .await
        .unwrap();
    assert!(key.is_none(), "the wrapped key is erased");
    let status = f.download(&id, 0, &owner).await.unwrap_err();
    assert_eq!(status.code(), Code::NotFound, "{status:?}");
    assert!(files_below(&f.data_dir.join("blobs")).is_empty(), "the object is gone");
}

/// UploadFile: a native client streams a file, is cut off, and resumes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upload_file_streams_and_resumes() {
    let mut f = Fixture::start().await;
    let (dropoff_id, code) = f.simple_dropoff().await;
    let data = random_bytes(5 * 1_000_000 + 3);
    let header = pb::UploadFileHeader {
        target: Some(pb::upload_file_header::Target::Create(pb::CreateUploadRequest {
            dropoff_id: dropoff_id.clone(),
            upload_code: code.clone(),
            name: "stream.bin".into(),
            size: data.len() as i64,
            request_id: "stream-1".into(),
            ..Default::default()
        })),
        sha256: sha256_hex(&data),
    };
    let message = |part| pb::UploadFileRequest { part: Some(part) };
    // First try: only 2 MB arrive before the client gives up (no end of stream).
    let (tx, rx) = tokio::sync::mpsc::channel(4);
    tx.send(message(pb::upload_file_request::Part::Header(header.clone()))).await.unwrap();
    for chunk in data[..2_000_000].chunks(1_000_000) {
        tx.send(message(pb::upload_file_request::Part::Data(Bytes::copy_from_slice(chunk)))).await.unwrap();
    }
    let mut client = f.client.clone();
    let call = tokio::spawn(async move { client.upload_file(tokio_stream::wrappers::ReceiverStream::new(rx)).await });
    // Cut once the server is writing: its first 1 MiB batch is staged (a
    // busy machine can take longer than any fixed wait), and the second
    // megabyte was queued with it.
    let staged_mib = || {
        files_below(&f.staging)
            .iter()
            .any(|p| p.ends_with("segments") && p.metadata().is_ok_and(|m| m.len() >= 1 << 20))
    };
    for _ in 0..200 {
        if staged_mib() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(staged_mib(), "the server stages the stream as it arrives");
    tokio::time::sleep(Duration::from_millis(500)).await;
    call.abort();
    drop(tx);

    // The same request id finds the upload again; GetUpload says where to go on.
    let create = pb::CreateUploadRequest {
        dropoff_id: dropoff_id.clone(),
        upload_code: code.clone(),
        name: "stream.bin".into(),
        size: data.len() as i64,
        request_id: "stream-1".into(),
        ..Default::default()
    };
    let upload_id = f.client.create_upload(create).await.unwrap().into_inner().upload_id;
    let mut offset = 0;
    for _ in 0..100 {
        offset = f.get_upload(&upload_id, &code).await.unwrap().offset as usize;
        if offset == 2_000_000 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(offset, 2_000_000, "the bytes received before the cut are committed");

    let resume = pb::UploadFileHeader {
        target: Some(pb::upload_file_header::Target::Resume(pb::ResumeUpload {
            upload_id: upload_id.clone(),
            upload_code: code.clone(),
            offset: offset as i64,
        })),
        sha256: sha256_hex(&data),
    };
    let mut messages = vec![message(pb::upload_file_request::Part::Header(resume))];
    for chunk in data[offset..].chunks(1 << 20) {
        messages.push(message(pb::upload_file_request::Part::Data(Bytes::copy_from_slice(chunk))));
    }
    let file = f.client.upload_file(futures_util::stream::iter(messages)).await.unwrap().into_inner().file.unwrap();
    assert_eq!(file.file_id, upload_id);
    let file = f.settled(&upload_id, &code).await;
    assert_eq!(file.status(), pb::FileStatus::Available);
    assert_eq!(file.sha256, sha256_hex(&data));
}

/// Scenario 38 for the chunk RPCs: the server stops mid-upload and starts
/// again over the same database and staging; the upload resumes from the
/// committed offset and the stored file is byte-identical.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upload_resumes_after_a_restart() {
    let data_dir = scratch_dir("upload-restart");
    let mut f = Fixture::start_on(TestDb::new().await, &data_dir).await;
    let (dropoff_id, code) = f.simple_dropoff().await;
    let data = random_bytes(1_500_000);
    let id = f.create_upload(&dropoff_id, &code, "restart.bin", data.len()).await.unwrap();
    f.write(&id, &code, 0, &data[..700_001]).await.unwrap();
    let db = f.app.stop().await;

    let mut f = Fixture::start_on(db, &data_dir).await;
    let offset = f.get_upload(&id, &code).await.unwrap().offset as usize;
    assert_eq!(offset, 700_001);
    f.write(&id, &code, offset, &data[offset..]).await.unwrap();
    f.finalize(&id, &code, &sha256_hex(&data)).await.unwrap();
    let file = f.settled(&id, &code).await;
    assert_eq!(file.sha256, sha256_hex(&data));
    let owner = f.owner.clone();
    assert_eq!(f.download(&id, 0, &owner).await.unwrap(), data);
}

/// Scenario 6: with a dataset, its grants decide: `view` lists and downloads
/// but cannot delete; `edit` can.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_datasets_grants_decide_who_sees_its_drop_offs() {
    use steward::dataset::audit::Actor;
    use steward::dataset::ops::{self as dataset_ops, GrantSpec, Grantee};
    use steward::dataset::permissions::Level;

    let db = TestDb::new().await;
    let viewer = db.token("viewer@example.org", None).await;
    let editor = db.token("editor@example.org", Some(Role::Researcher)).await;
    {
        let mut conn = db.conn().await;
        let study = dataset_ops::create_dataset(&mut conn, Actor::System, "study", "", false).await.unwrap();
        for (email, level) in [("viewer@example.org", Level::View), ("editor@example.org", Level::Edit)] {
            let user: i64 = steward::db::schema::users::table
                .filter(steward::db::schema::users::email.eq(email))
                .select(steward::db::schema::users::id)
                .first(&mut conn)
                .await
                .unwrap();
            let spec = GrantSpec {
                dataset_id: study.id,
                version_id: None,
                level,
                grantee: Grantee::User(user),
                source: "manual",
            };
            dataset_ops::grant(&mut conn, Actor::System, spec).await.unwrap();
        }
    }
    let mut f = Fixture::start_on(db, &scratch_dir("upload-dataset")).await;
    // The owner (a researcher without a grant) cannot bind a drop-off to the dataset.
    let bound = pb::DropOff { title: "Study uploads".into(), dataset: "study".into(), ..Default::default() };
    let request = pb::CreateDropOffRequest { dropoff: Some(bound.clone()) };
    let status = f.client.create_drop_off(with_bearer(request, &f.owner)).await.unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied, "{status:?}");
    let request = pb::CreateDropOffRequest { dropoff: Some(bound) };
    let created = f.client.create_drop_off(with_bearer(request, &editor)).await.unwrap().into_inner();
    let (dropoff_id, code) = (created.dropoff.unwrap().dropoff_id, created.upload_code);
    let file = f.upload(&dropoff_id, &code, "notes.txt", b"field notes", 1024).await;

    let list = pb::ListFilesRequest { dropoff_id: dropoff_id.clone(), ..Default::default() };
    let files = f.client.list_files(with_bearer(list, &viewer)).await.unwrap().into_inner().files;
    assert_eq!(files.len(), 1);
    assert_eq!(f.download(&file.file_id, 0, &viewer).await.unwrap(), b"field notes");
    let listed = f.client.list_drop_offs(with_bearer(pb::ListDropOffsRequest::default(), &viewer)).await.unwrap();
    assert_eq!(listed.into_inner().dropoffs.len(), 1, "the viewer lists the dataset's drop-off");
    let delete = pb::DeleteFileRequest { file_id: file.file_id.clone() };
    let status = f.client.delete_file(with_bearer(delete.clone(), &viewer)).await.unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied, "{status:?}");
    let owner = f.owner.clone();
    let status = f.download(&file.file_id, 0, &owner).await.unwrap_err();
    assert_eq!(status.code(), Code::NotFound, "a researcher without a grant sees nothing");
    f.client.delete_file(with_bearer(delete, &editor)).await.unwrap();
}

/// The browser download route (§2.6): the same authorization as
/// DownloadFile, `Range: bytes=N-`, and headers that keep a browser from
/// rendering the file.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn browsers_download_over_plain_http() {
    let mut f = Fixture::start().await;
    let (dropoff_id, code) = f.simple_dropoff().await;
    let data = random_bytes(1_300_000);
    let file = f.upload(&dropoff_id, &code, "Übersicht \"final\".csv", &data, 1 << 20).await;
    let url = format!("{}/dropoffs/{dropoff_id}/files/{}/content", f.app.url(), file.file_id);
    let http = reqwest::Client::new();

    let response = http.get(&url).bearer_auth(&f.owner).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let headers = response.headers().clone();
    assert_eq!(headers["x-content-type-options"], "nosniff");
    assert_eq!(headers["content-security-policy"], "sandbox");
    assert_eq!(headers["cache-control"], "no-store");
    let disposition = headers["content-disposition"].to_str().unwrap().to_owned();
    assert!(disposition.starts_with("attachment; filename=\"_bersicht _final_.csv\""), "{disposition}");
    assert!(disposition.contains("filename*=UTF-8''%C3%9Cbersicht%20%22final%22.csv"), "{disposition}");
    assert_eq!(response.bytes().await.unwrap(), data);

    let tail = http.get(&url).bearer_auth(&f.owner).header("range", "bytes=1000000-").send().await.unwrap();
    assert_eq!(tail.status(), 206);
    assert_eq!(tail.headers()["content-range"], "bytes 1000000-1299999/1300000");
    assert_eq!(tail.bytes().await.unwrap(), data[1_000_000..]);

    let anonymous = http.get(&url).send().await.unwrap();
    assert_eq!(anonymous.status(), 401);
    let stranger = f.app.db.token("stranger@example.org", Some(Role::Researcher)).await;
    let refused = http.get(&url).bearer_auth(&stranger).send().await.unwrap();
    assert_eq!(refused.status(), 404, "a stranger cannot tell the file exists");
}

/// Issue 7 item 3: with `STEWARD_OBJECT_STORE` naming an S3-compatible bucket
/// (moto on loopback), finished files are sealed into the bucket under
/// `uploads/<id>` (never a name), download byte for byte, and DeleteFile
/// removes the object; nothing is kept in the local blob directory.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files_are_stored_in_an_s3_bucket() {
    let moto = crate::blobs_s3::moto().await;
    let vars = crate::blobs_s3::s3_vars(&moto.endpoint);
    let mut f = Fixture::start_with(TestDb::new().await, &scratch_dir("upload-s3"), &vars).await;
    let (dropoff_id, code) = f.simple_dropoff().await;
    let data = random_bytes(6 * 1_000_000 + 5);
    let file = f.upload(&dropoff_id, &code, "field-notes.pdf", &data, 4 << 20).await;
    assert_eq!(file.status(), pb::FileStatus::Available, "{file:?}");
    assert_eq!(file.sha256, sha256_hex(&data));

    let keys = moto.raw().keys().await;
    assert_eq!(keys, vec![format!("uploads/{}", file.file_id)]);
    assert!(files_below(&f.data_dir.join("blobs")).is_empty(), "nothing is stored locally");
    let owner = f.owner.clone();
    assert_eq!(f.download(&file.file_id, 0, &owner).await.unwrap(), data);
    assert_eq!(f.download(&file.file_id, 5_000_000, &owner).await.unwrap(), data[5_000_000..]);

    let delete = pb::DeleteFileRequest { file_id: file.file_id.clone() };
    f.client.delete_file(with_bearer(delete, &owner)).await.unwrap();
    assert!(moto.raw().keys().await.is_empty(), "the object is removed with the file");
}

/// The bytes this process may still write on the disk holding `dir`, read
/// with statvfs independently of the server.
fn disk_free(dir: &Path) -> u64 {
    std::fs::create_dir_all(dir).unwrap();
    let stats = rustix::fs::statvfs(dir).unwrap();
    stats.f_bavail * stats.f_frsize
}

/// Spec §2.7 "Disk space": creation is refused with RESOURCE_EXHAUSTED
/// INSUFFICIENT_STORAGE when size + the staging reserve would not fit, with
/// a message naming what is free and what is needed, and nothing is created;
/// with the default reserve the same drop-off takes the file.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn creation_is_refused_when_the_staging_disk_is_short() {
    let data_dir = scratch_dir("upload-space");
    // More than the disk has free, whatever else runs meanwhile.
    let reserve = (disk_free(&data_dir) + (1 << 40)).to_string();
    let extra = [("STEWARD_UPLOAD_STAGING_RESERVE", reserve.clone())];
    let mut f = Fixture::start_with(TestDb::new().await, &data_dir, &extra).await;
    let (dropoff_id, code) = f.simple_dropoff().await;

    let status = f.create_upload(&dropoff_id, &code, "survey.csv", 1000).await.unwrap_err();
    assert_eq!((status.code(), reason(&status).as_str()), (Code::ResourceExhausted, "INSUFFICIENT_STORAGE"));
    let message = status.message();
    assert!(message.contains("free") && message.contains(&reserve) && message.contains("try again"), "{message}");
    let needed = (1000 + reserve.parse::<u64>().unwrap()).to_string();
    assert!(message.contains(&needed), "the total needed is named: {message}");

    // Nothing was created: no file row, no staging, no bytes counted.
    let uuid: uuid::Uuid = dropoff_id.parse().unwrap();
    let rows: i64 = upload_files::table
        .filter(upload_files::dropoff_id.eq(uuid))
        .count()
        .get_result(&mut *f.app.db.conn().await)
        .await
        .unwrap();
    assert_eq!(rows, 0);
    let staged = std::fs::read_dir(&f.staging).map(|d| d.count()).unwrap_or(0);
    assert_eq!(staged, 0, "no staging directory is left");
    let request = pb::GetDropOffRequest { dropoff_id: dropoff_id.clone() };
    let found = f.client.get_drop_off(with_bearer(request, &f.owner)).await.unwrap().into_inner();
    assert_eq!(found.dropoff.unwrap().used_bytes, 0);

    // The default reserve (1 GiB) fits: the same drop-off takes the file.
    let db = f.app.stop().await;
    let mut f = Fixture::start_on(db, &data_dir).await;
    let data = random_bytes(1000);
    let file = f.upload(&dropoff_id, &code, "survey.csv", &data, 400).await;
    assert_eq!(file.status(), pb::FileStatus::Available);
    assert_eq!(file.sha256, sha256_hex(&data));

    // An upload begun while there was room: its next chunk is refused the
    // same way once the disk is short, and nothing of it is written.
    let later = f.create_upload(&dropoff_id, &code, "later.csv", 1000).await.unwrap();
    f.write(&later, &code, 0, &data[..400]).await.unwrap();
    let db = f.app.stop().await;
    let mut f = Fixture::start_with(db, &data_dir, &extra).await;
    let status = f.write(&later, &code, 400, &data[400..]).await.unwrap_err();
    assert_eq!((status.code(), reason(&status).as_str()), (Code::ResourceExhausted, "INSUFFICIENT_STORAGE"));
    assert_eq!(f.get_upload(&later, &code).await.unwrap().offset, 400, "nothing more was written");
}

/// Scenario 43 and §2.9: the expiry job ends an unfinished upload past its
/// expiry (EXPIRED, staging gone, writes refused) and removes staging
/// directories no row knows once they are older than the grace, while a
/// fresh one (a creation whose row is not committed yet) stays.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_expiry_job_ends_stale_uploads_and_old_orphans() {
    let mut f = Fixture::start().await;
    let (dropoff_id, code) = f.simple_dropoff().await;
    let stale = f.create_upload(&dropoff_id, &code, "stale.bin", 1 << 20).await.unwrap();
    f.write(&stale, &code, 0, &random_bytes(1000)).await.unwrap();
    let live = f.create_upload(&dropoff_id, &code, "live.bin", 1 << 20).await.unwrap();
    f.write(&live, &code, 0, &random_bytes(1000)).await.unwrap();
    let mut conn = f.app.db.conn().await;
    let stale_id: uuid::Uuid = stale.parse().unwrap();
    diesel::update(upload_files::table.find(stale_id))
        .set(upload_files::expire_time.eq(chrono::Utc::now() - chrono::Duration::minutes(1)))
        .execute(&mut conn)
        .await
        .unwrap();
    let old_orphan = f.staging.join("3f2504e0-4f89-41d3-9a0c-0305e82c3301");
    let new_orphan = f.staging.join("6fa459ea-ee8a-4ca4-894e-db77e160355e");
    for dir in [&old_orphan, &new_orphan] {
        std::fs::create_dir(dir).unwrap();
        std::fs::write(dir.join("segments"), b"").unwrap();
    }
    let touched = std::process::Command::new("touch").arg("-d").arg("2 hours ago").arg(&old_orphan).status().unwrap();
    assert!(touched.success());

    let job = steward::jobs::NewJob::new(steward::upload::jobs::EXPIRE_JOB, serde_json::json!({}));
    steward::jobs::enqueue(&mut conn, job).await.unwrap().expect("a job id");
    let mut ended = false;
    for _ in 0..300 {
        ended = f.get_upload(&stale, &code).await.unwrap().status() == pb::FileStatus::Expired && !old_orphan.exists();
        if ended {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(ended, "the expired upload and the old orphan are dealt with");
    assert!(!f.staging.join(&stale).exists(), "the expired upload's staging is removed");
    assert!(new_orphan.exists(), "a directory younger than the grace stays");
    assert!(f.staging.join(&live).exists(), "a live upload keeps its staging");
    let refused = f.write(&stale, &code, 1000, b"more").await.unwrap_err();
    assert_eq!((refused.code(), reason(&refused).as_str()), (Code::NotFound, "UPLOAD_GONE"), "{refused:?}");
    assert_eq!(f.write(&live, &code, 1000, b"more").await.unwrap(), 1004, "the live upload goes on");
}
