//! tus 1.0 at `/files/` (spec upload.md §3, §6 scenarios 8–36) over raw
//! HTTP: the real server, real database and staging, drop-offs made with the
//! owner RPCs, files checked through GetUpload and DownloadFile.

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use reqwest::{Method, Response, StatusCode};
use ring::digest::{SHA1_FOR_LEGACY_USE_ONLY, SHA256, digest};
use steward::auth::Role;
use steward::proto::upload::v1 as pb;
use steward::proto::upload::v1::upload_service_client::UploadServiceClient;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tonic::transport::Channel;

use crate::common::{TestApp, TestDb, scratch_dir, with_bearer};

const OWNER: &str = "tus-owner@example.org";
const ALLOWED_ORIGIN: &str = "https://app.example.org";
const MAX_FILE: u64 = 128 << 20;

struct Tus {
    app: TestApp,
    http: reqwest::Client,
    grpc: UploadServiceClient<Channel>,
    owner: String,
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn b64(s: &str) -> String {
    STANDARD.encode(s)
}

/// Deterministic bytes that differ at every offset.
fn data(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i.wrapping_mul(31) ^ (i >> 8)) as u8).collect()
}

fn header<'a>(response: &'a Response, name: &str) -> Option<&'a str> {
    response.headers().get(name).map(|v| v.to_str().unwrap())
}

async fn text(response: Response) -> String {
    response.text().await.unwrap()
}

impl Tus {
    async fn start() -> Tus {
        let db = TestDb::new().await;
        let owner = db.token(OWNER, Some(Role::Researcher)).await;
        let data_dir = scratch_dir("tus-data");
        let max = MAX_FILE.to_string();
        let vars = [
            ("STEWARD_DATA_DIR", data_dir.to_str().unwrap()),
            ("STEWARD_UPLOAD_NOTIFY_DELAY", "0"),
            ("STEWARD_UPLOAD_MAX_FILE_BYTES", max.as_str()),
            ("STEWARD_UPLOAD_MAX_DROPOFF_BYTES", "1073741824"),
            ("STEWARD_CORS_ORIGINS", ALLOWED_ORIGIN),
            // A short unary deadline: a tus upload must outlive it.
            ("STEWARD_REQUEST_TIMEOUT", "2s"),
        ];
        let (app, _) = TestApp::start_with(db, &vars).await;
        let grpc = UploadServiceClient::new(app.channel().await);
        Tus { app, http: reqwest::Client::new(), grpc, owner }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.app.url())
    }

    /// A drop-off; returns its id and code.
    async fn dropoff(&mut self, dropoff: pb::DropOff) -> (String, String) {
        let dropoff = pb::DropOff { title: "Interviews".into(), ..dropoff };
        let request = pb::CreateDropOffRequest { dropoff: Some(dropoff) };
        let created = self.grpc.create_drop_off(with_bearer(request, &self.owner)).await.unwrap().into_inner();
        (created.dropoff.unwrap().dropoff_id, created.upload_code)
    }

    async fn simple_dropoff(&mut self) -> (String, String) {
        self.dropoff(pb::DropOff::default()).await
    }

    /// A request with `Tus-Resumable: 1.0.0` and the code.
    fn tus(&self, method: &str, url: &str, code: &str) -> reqwest::RequestBuilder {
        self.http
            .request(Method::from_bytes(method.as_bytes()).unwrap(), url)
            .header("Tus-Resumable", "1.0.0")
            .header("Dropoff-Code", code)
    }

    fn post(&self, dropoff: &str, code: &str, name: &str) -> reqwest::RequestBuilder {
        self.tus("POST", &self.url("/files/"), code)
            .header("Upload-Metadata", format!("dropoff {},filename {}", b64(dropoff), b64(name)))
    }

    /// Creates an upload of `length` bytes; returns its Location.
    async fn create(&self, dropoff: &str, code: &str, length: u64) -> String {
        let response = self.post(dropoff, code, "data.bin").header("Upload-Length", length).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::CREATED, "{:?}", response.headers());
        header(&response, "location").unwrap().to_owned()
    }

    async fn patch(&self, location: &str, code: &str, offset: u64, body: Vec<u8>) -> Response {
        self.tus("PATCH", location, code)
            .header("Content-Type", "application/offset+octet-stream")
            .header("Upload-Offset", offset)
            .body(body)
            .send()
            .await
            .unwrap()
    }

    async fn head(&self, location: &str, code: &str) -> Response {
        self.tus("HEAD", location, code).send().await.unwrap()
    }

    async fn offset(&self, location: &str, code: &str) -> u64 {
        let response = self.head(location, code).await;
        assert_eq!(response.status(), StatusCode::OK);
        header(&response, "upload-offset").unwrap().parse().unwrap()
    }

    /// GetUpload until the file leaves PROCESSING.
    async fn settled(&mut self, location: &str, code: &str) -> pb::File {
        let id = location.rsplit('/').next().unwrap().to_owned();
        for _ in 0..600 {
            let request = pb::GetUploadRequest { upload_id: id.clone(), upload_code: code.into() };
            let file = self.grpc.get_upload(request).await.unwrap().into_inner().file.unwrap();
            if file.status() != pb::FileStatus::Processing {
                return file;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("{location} stayed PROCESSING");
    }

    async fn download(&mut self, file_id: &str) -> Vec<u8> {
        let request = pb::DownloadFileRequest { file_id: file_id.into(), offset: 0 };
        let mut stream = self.grpc.download_file(with_bearer(request, &self.owner)).await.unwrap().into_inner();
        let mut out = Vec::new();
        while let Some(message) = stream.message().await.unwrap() {
            out.extend_from_slice(&message.data);
        }
        out
    }

    async fn used_bytes(&mut self, dropoff: &str) -> i64 {
        let request = pb::GetDropOffRequest { dropoff_id: dropoff.into() };
        let found = self.grpc.get_drop_off(with_bearer(request, &self.owner)).await.unwrap().into_inner();
        found.dropoff.unwrap().used_bytes
    }
}

/// Scenarios 8, 9, 28, 30: discovery, versions, methods and paths, the
/// common headers on every answer.
#[tokio::test]
async fn discovery_versions_and_methods() {
    let mut t = Tus::start().await;
    let (dropoff, code) = t.simple_dropoff().await;

    let response = t.http.request(Method::OPTIONS, t.url("/files/")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(header(&response, "tus-version"), Some("1.0.0"));
    assert_eq!(
        header(&response, "tus-extension"),
        Some("creation,creation-with-upload,creation-defer-length,expiration,checksum,termination")
    );
    assert_eq!(header(&response, "tus-max-size"), Some(MAX_FILE.to_string().as_str()));
    assert_eq!(header(&response, "tus-checksum-algorithm"), Some("sha1,sha256,sha512"));

    // Scenario 9: nothing is created without Tus-Resumable 1.0.0.
    for version in [None, Some("0.2.2")] {
        let mut request = t
            .http
            .post(t.url("/files/"))
            .header("Dropoff-Code", &code)
            .header("Upload-Length", "5")
            .header("Upload-Metadata", format!("dropoff {}", b64(&dropoff)));
        if let Some(v) = version {
            request = request.header("Tus-Resumable", v);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), StatusCode::PRECONDITION_FAILED);
        assert_eq!(header(&response, "tus-version"), Some("1.0.0"));
    }
    assert_eq!(t.used_bytes(&dropoff).await, 0);
    let request = pb::ListFilesRequest { dropoff_id: dropoff.clone(), ..Default::default() };
    let files = t.grpc.list_files(with_bearer(request, &t.owner)).await.unwrap().into_inner();
    assert!(files.files.is_empty(), "nothing was created");

    // Scenario 28.
    let location = t.create(&dropoff, &code, 5).await;
    for method in ["GET", "PUT"] {
        let response = t.tus(method, &location, &code).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED, "{method}");
        assert_eq!(header(&response, "allow"), Some("OPTIONS, HEAD, PATCH, DELETE"));
    }
    let response = t.tus("HEAD", &t.url("/files/"), &code).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
    for path in ["/files/not-a-uuid", "/files/a/b"] {
        let response = t.tus("HEAD", &t.url(path), &code).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::NOT_FOUND, "{path}");
        assert_eq!(header(&response, "upload-offset"), None);
    }
    let response = t.tus("PATCH", &t.url("/files/not-a-uuid"), &code).send().await.unwrap();
    assert_eq!(text(response).await.split(':').next(), Some("ERR_UPLOAD_NOT_FOUND"));

    // Scenario 30: the common headers on answers and refusals alike.
    let answers = [
        t.http.request(Method::OPTIONS, t.url("/files")).send().await.unwrap(),
        t.http.post(t.url("/files/")).send().await.unwrap(),
        t.head(&location, &code).await,
        t.tus("GET", &location, &code).send().await.unwrap(),
        t.patch(&location, "WRONG-CODE0", 0, b"x".to_vec()).await,
        t.tus("DELETE", &t.url("/files/x"), &code).send().await.unwrap(),
    ];
    for response in &answers {
        assert_eq!(header(response, "tus-resumable"), Some("1.0.0"), "{}", response.status());
        assert_eq!(header(response, "x-content-type-options"), Some("nosniff"));
        assert_eq!(header(response, "cache-control"), Some("no-store"));
        assert!(header(response, "x-request-id").is_some());
    }
    let refused = t.http.post(t.url("/files/")).send().await.unwrap();
    assert_eq!(header(&refused, "content-type"), Some("text/plain; charset=utf-8"));
    assert!(text(refused).await.starts_with("ERR_UNSUPPORTED_VERSION: "));
    // The client's request id is echoed.
    let response = t.head(&location, &code).await;
    assert!(header(&response, "x-request-id").is_some());
    let response = t.tus("HEAD", &location, &code).header("X-Request-ID", "trace-42").send().await.unwrap();
    assert_eq!(header(&response, "x-request-id"), Some("trace-42"));
}

/// Scenarios 10–14, 19, 36: creation and its header checks; HEAD.
#[tokio::test]
async fn creation_and_head() {
    let mut t = Tus::start().await;
    let (dropoff, code) = t.simple_dropoff().await;

    // Scenario 10.
    let response = t.post(&dropoff, &code, "a.csv").header("Upload-Length", "5").send().await.unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    let location = header(&response, "location").unwrap().to_owned();
    let id = location.strip_prefix(&format!("{}/files/", t.app.url())).expect("absolute Location");
    assert!(id.len() == 36 && id.bytes().all(|b| b == b'-' || b.is_ascii_hexdigit()), "{id}");
    assert_eq!(header(&response, "upload-offset"), Some("0"));
    let expires = header(&response, "upload-expires").unwrap();
    chrono::NaiveDateTime::parse_from_str(expires, "%a, %d %b %Y %H:%M:%S GMT").expect("an IMF-fixdate");

    // Scenario 11.
    let cases: [(&[(&str, &str)], &str); 5] = [
        (&[("Upload-Length", "5"), ("Upload-Defer-Length", "1")], "ERR_AMBIGUOUS_UPLOAD_LENGTH"),
        (&[], "ERR_INVALID_UPLOAD_LENGTH"),
        (&[("Upload-Defer-Length", "2")], "ERR_INVALID_UPLOAD_LENGTH_DEFER"),
        (&[("Upload-Length", "-1")], "ERR_INVALID_UPLOAD_LENGTH"),
        (&[("Upload-Length", "abc")], "ERR_INVALID_UPLOAD_LENGTH"),
    ];
    for (headers, expected) in cases {
        let mut request = t.post(&dropoff, &code, "a.csv");
        for (k, v) in headers {
            request = request.header(*k, *v);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{headers:?}");
        assert_eq!(text(response).await.split(':').next(), Some(expected), "{headers:?}");
    }

    // Scenario 12: tuspy's empty metadata.
    let response =
        t.tus("POST", &t.url("/files/"), &code).header("Upload-Length", "5").header("Upload-Metadata", "").send().await;
    let response = response.unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let body = text(response).await;
    assert!(body.starts_with("ERR_DROPOFF_REQUIRED: ") && body.contains("dropoff"), "{body}");

    // Scenario 13: tolerant metadata, and what is refused.
    let tolerant = format!("a,b YQ==, c YQ,dropoff {}", b64(&dropoff));
    let response = t
        .tus("POST", &t.url("/files/"), &code)
        .header("Upload-Length", "1")
        .header("Upload-Metadata", tolerant)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    let tolerant_location = header(&response, "location").unwrap().to_owned();
    for bad in ["k YQ-_", "k YQ==,k Yg==", &format!("k {}", STANDARD.encode([0xff, 0xfe]))] {
        let response = t
            .tus("POST", &t.url("/files/"), &code)
            .header("Upload-Length", "1")
            .header("Upload-Metadata", format!("dropoff {},{bad}", b64(&dropoff)))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{bad}");
        assert!(text(response).await.starts_with("ERR_INVALID_METADATA: "));
    }
    // Scenario 36.
    let many: Vec<String> = (0..32).map(|i| format!("k{i} YQ==")).collect();
    for header_value in [
        format!("dropoff {},big {}", b64(&dropoff), "A".repeat(8192)),
        format!("dropoff {},{}", b64(&dropoff), many.join(",")),
    ] {
        let response = t
            .tus("POST", &t.url("/files/"), &code)
            .header("Upload-Length", "1")
            .header("Upload-Metadata", header_value)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    }

    // Scenario 14: HEAD.
    let response = t.head(&tolerant_location, &code).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(header(&response, "upload-offset"), Some("0"));
    assert_eq!(header(&response, "upload-length"), Some("1"));
    assert_eq!(
        header(&response, "upload-metadata"),
        Some(format!("a,b YQ==,c YQ==,dropoff {}", b64(&dropoff)).as_str())
    );
    assert_eq!(header(&response, "cache-control"), Some("no-store"));
    assert!(header(&response, "upload-expires").is_some());
    assert_eq!(text(response).await, "");
    let unknown = t.url("/files/7d444840-9dc0-11d1-b245-5ffdce74fad2");
    let response = t.head(&unknown, &code).await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    assert_eq!(header(&response, "upload-offset"), None);
    let response = t.tus("DELETE", &location, &code).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert_eq!(t.head(&location, &code).await.status(), StatusCode::GONE);

    // Scenario 19: Upload-Length 0 completes at once.
    let response = t.post(&dropoff, &code, "empty.txt").header("Upload-Length", "0").send().await.unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    assert_eq!(header(&response, "upload-offset"), Some("0"));
    assert_eq!(header(&response, "upload-expires"), None);
    let empty = header(&response, "location").unwrap().to_owned();
    let file = t.settled(&empty, &code).await;
    assert_eq!(file.status(), pb::FileStatus::Available);
    assert_eq!(file.sha256, hex(digest(&SHA256, b"").as_ref()));
}

/// Scenarios 15–18, 35: PATCH, whole and in odd pieces; the final repeat.
#[tokio::test]
async fn patches_write_the_file() {
    let mut t = Tus::start().await;
    let (dropoff, code) = t.simple_dropoff().await;

    // Scenario 17: one PATCH with a whole 100 MiB file; longer than the 2 s unary deadline allows a slow client.
    let whole = data(100 << 20);
    let location = t.create(&dropoff, &code, whole.len() as u64).await;
    let response = t.patch(&location, &code, 0, whole.clone()).await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert_eq!(header(&response, "upload-offset"), Some(whole.len().to_string().as_str()));
    assert_eq!(header(&response, "upload-expires"), None, "a finished upload does not expire");
    let file = t.settled(&location, &code).await;
    assert_eq!(file.status(), pb::FileStatus::Available);
    assert_eq!(file.sha256, hex(digest(&SHA256, &whole).as_ref()));
    drop(whole);

    // Scenario 35: the repeat of the final PATCH changes nothing; more bytes are refused.
    let size = file.size.unwrap() as u64;
    let response = t.patch(&location, &code, size, Vec::new()).await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert_eq!(header(&response, "upload-offset"), Some(size.to_string().as_str()));
    assert_eq!(t.patch(&location, &code, size, b"x".to_vec()).await.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let response = t.patch(&location, &code, 0, b"x".to_vec()).await;
    assert_eq!(response.status(), StatusCode::CONFLICT);

    // Scenario 15.
    let small = data(200_000);
    let location = t.create(&dropoff, &code, small.len() as u64).await;
    let response = t
        .tus("PATCH", &location, &code)
        .header("Content-Type", "application/octet-stream")
        .header("Upload-Offset", "0")
        .body(b"abc".to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let response = t
        .tus("PATCH", &location, &code)
        .header("Content-Type", "application/offset+octet-stream")
        .body(b"abc".to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert!(text(response).await.starts_with("ERR_INVALID_OFFSET: "));

    // Scenario 18: odd sizes; scenario 16 in between: a wrong offset changes nothing.
    let mut offset = 0usize;
    for piece in [1usize, 65_535, 65_537, 3, 4096, 7, 64_821] {
        let response = t.patch(&location, &code, offset as u64 + 1, small[offset..offset + piece].to_vec()).await;
        assert_eq!(response.status(), StatusCode::CONFLICT);
        assert_eq!(header(&response, "upload-offset"), Some(offset.to_string().as_str()));
        assert_eq!(t.offset(&location, &code).await, offset as u64);

        let response = t.patch(&location, &code, offset as u64, small[offset..offset + piece].to_vec()).await;
        assert_eq!(response.status(), StatusCode::NO_CONTENT, "piece of {piece} at {offset}");
        offset += piece;
        assert_eq!(header(&response, "upload-offset"), Some(offset.to_string().as_str()));
        if offset < small.len() {
            assert!(header(&response, "upload-expires").is_some());
        }
    }
    assert_eq!(offset, small.len());
    let file = t.settled(&location, &code).await;
    assert_eq!(file.status(), pb::FileStatus::Available);
    assert_eq!(t.download(&file.file_id).await, small);
}

/// Scenarios 20–24: creation-with-upload, deferred length, checksums.
#[tokio::test]
async fn creation_bodies_deferred_lengths_and_checksums() {
    let mut t = Tus::start().await;
    let (dropoff, code) = t.dropoff(pb::DropOff { max_file_bytes: 4 << 20, ..Default::default() }).await;

    // Scenario 20.
    let file = data(1 << 20);
    let response = t
        .post(&dropoff, &code, "c.bin")
        .header("Upload-Length", (2 << 20).to_string())
        .header("Content-Type", "application/offset+octet-stream")
        .body(file.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    assert_eq!(header(&response, "upload-offset"), Some("1048576"));
    let location = header(&response, "location").unwrap().to_owned();
    assert_eq!(t.patch(&location, &code, 1 << 20, file.clone()).await.status(), StatusCode::NO_CONTENT);
    assert_eq!(t.settled(&location, &code).await.status(), pb::FileStatus::Available);
    let response = t
        .post(&dropoff, &code, "c.bin")
        .header("Upload-Length", "10")
        .header("Content-Type", "text/plain")
        .body("not stored")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    assert_eq!(header(&response, "upload-offset"), Some("0"));

    // Scenario 21.
    let response = t.post(&dropoff, &code, "d.bin").header("Upload-Defer-Length", "1").send().await.unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    let location = header(&response, "location").unwrap().to_owned();
    let response = t.head(&location, &code).await;
    assert_eq!(header(&response, "upload-defer-length"), Some("1"));
    assert_eq!(header(&response, "upload-length"), None);
    assert_eq!(t.patch(&location, &code, 0, data(1000)).await.status(), StatusCode::NO_CONTENT);
    let response = t
        .tus("PATCH", &location, &code)
        .header("Content-Type", "application/offset+octet-stream")
        .header("Upload-Offset", "1000")
        .header("Upload-Length", "1500")
        .body(data(500))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert_eq!(header(&response, "upload-offset"), Some("1500"));
    assert_eq!(t.settled(&location, &code).await.status(), pb::FileStatus::Available);

    let response = t.post(&dropoff, &code, "e.bin").header("Upload-Defer-Length", "1").send().await.unwrap();
    let location = header(&response, "location").unwrap().to_owned();
    let with_length = |offset: u64, length: u64, body: Vec<u8>| {
        t.tus("PATCH", &location, &code)
            .header("Content-Type", "application/offset+octet-stream")
            .header("Upload-Offset", offset)
            .header("Upload-Length", length)
            .body(body)
    };
    assert_eq!(with_length(0, 20, data(10)).send().await.unwrap().status(), StatusCode::NO_CONTENT);
    assert_eq!(with_length(10, 30, data(10)).send().await.unwrap().status(), StatusCode::BAD_REQUEST);

    // Scenario 22: a deferred upload crossing the file limit.
    let response = t.post(&dropoff, &code, "f.bin").header("Upload-Defer-Length", "1").send().await.unwrap();
    let location = header(&response, "location").unwrap().to_owned();
    let response = t.patch(&location, &code, 0, data((4 << 20) + 1)).await;
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert!(t.offset(&location, &code).await <= 4 << 20);

    // Scenario 23.
    let location = t.create(&dropoff, &code, 300).await;
    let chunk = data(100);
    let checksum = |name: &str, d: &[u8]| format!("{name} {}", STANDARD.encode(d));
    let patch_with = |offset: u64, value: String| {
        t.tus("PATCH", &location, &code)
            .header("Content-Type", "application/offset+octet-stream")
            .header("Upload-Offset", offset)
            .header("Upload-Checksum", value)
            .body(chunk.clone())
    };
    let sha1 = checksum("sha1", digest(&SHA1_FOR_LEGACY_USE_ONLY, &chunk).as_ref());
    let response = patch_with(0, sha1).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    let sha256 = checksum("sha256", digest(&SHA256, &chunk).as_ref());
    assert_eq!(patch_with(100, sha256).send().await.unwrap().status(), StatusCode::NO_CONTENT);
    let wrong = checksum("sha256", digest(&SHA256, b"other").as_ref());
    let response = patch_with(200, wrong).send().await.unwrap();
    assert_eq!(response.status().as_u16(), 460);
    assert!(text(response).await.starts_with("ERR_CHECKSUM_MISMATCH: "));
    assert_eq!(t.offset(&location, &code).await, 200);
    let md5 = checksum("md5", &[0u8; 16]);
    let response = patch_with(200, md5).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert!(text(response).await.starts_with("ERR_UNSUPPORTED_CHECKSUM_ALGORITHM: "));
    let response = patch_with(200, "sha1 !!".into()).send().await.unwrap();
    assert!(text(response).await.starts_with("ERR_INVALID_CHECKSUM: "));

    // Scenario 24: a checksum PATCH cut off mid-body commits nothing.
    let sha1 = checksum("sha1", digest(&SHA1_FOR_LEGACY_USE_ONLY, &chunk).as_ref());
    let id = location.rsplit('/').next().unwrap();
    let mut stream = tokio::net::TcpStream::connect(t.app.addr).await.unwrap();
    let head = format!(
        "PATCH /files/{id} HTTP/1.1\r\nHost: x\r\nTus-Resumable: 1.0.0\r\nDropoff-Code: {code}\r\n\
         Content-Type: application/offset+octet-stream\r\nUpload-Offset: 200\r\nUpload-Checksum: {sha1}\r\n\
         Content-Length: 100\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(&chunk[..60]).await.unwrap();
    stream.flush().await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    drop(stream);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(t.offset(&location, &code).await, 200);
}

/// Scenarios 25–27, 31, 32: termination, the override, the code, drop-off state.
#[tokio::test]
async fn termination_override_codes_and_state() {
    let mut t = Tus::start().await;
    let (dropoff, code) = t.simple_dropoff().await;
    let (_, other_code) = t.simple_dropoff().await;

    // Scenario 25.
    let location = t.create(&dropoff, &code, 1000).await;
    assert_eq!(t.patch(&location, &code, 0, data(10)).await.status(), StatusCode::NO_CONTENT);
    assert_eq!(t.used_bytes(&dropoff).await, 1000);
    let response = t.tus("DELETE", &location, &code).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert_eq!(t.head(&location, &code).await.status(), StatusCode::GONE);
    let response = t.patch(&location, &code, 10, data(10)).await;
    assert_eq!(response.status(), StatusCode::GONE);
    assert!(text(response).await.starts_with("ERR_UPLOAD_GONE: "));
    assert_eq!(t.used_bytes(&dropoff).await, 0, "the quota is back");

    // Scenario 26.
    let location = t.create(&dropoff, &code, 3).await;
    assert_eq!(t.patch(&location, &code, 0, b"abc".to_vec()).await.status(), StatusCode::NO_CONTENT);
    let file = t.settled(&location, &code).await;
    let response = t.tus("DELETE", &location, &code).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert!(text(response).await.starts_with("ERR_UPLOAD_FINISHED: "));
    assert_eq!(t.download(&file.file_id).await, b"abc");

    // Scenario 27.
    let location = t.create(&dropoff, &code, 4).await;
    let response = t
        .tus("POST", &location, &code)
        .header("X-HTTP-Method-Override", "PATCH")
        .header("Content-Type", "application/offset+octet-stream")
        .header("Upload-Offset", "0")
        .body(b"ab".to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert_eq!(t.offset(&location, &code).await, 2);
    let response = t.tus("POST", &location, &code).header("X-HTTP-Method-Override", "GET").send().await.unwrap();
    assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
    let response = t.tus("POST", &location, &code).header("X-HTTP-Method-Override", "DELETE").send().await.unwrap();
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert_eq!(t.head(&location, &code).await.status(), StatusCode::GONE);

    // Scenario 31: no code → 401 on every method; another drop-off's code → 403.
    let location = t.create(&dropoff, &code, 4).await;
    let no_code = |method: &str, url: &str| {
        t.http.request(Method::from_bytes(method.as_bytes()).unwrap(), url).header("Tus-Resumable", "1.0.0")
    };
    let post = no_code("POST", &t.url("/files/"))
        .header("Upload-Length", "1")
        .header("Upload-Metadata", format!("dropoff {}", b64(&dropoff)));
    let patch = no_code("PATCH", &location)
        .header("Content-Type", "application/offset+octet-stream")
        .header("Upload-Offset", "0")
        .body("a");
    for request in [post, no_code("HEAD", &location), patch, no_code("DELETE", &location)] {
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(header(&response, "www-authenticate"), Some("Dropoff-Code"));
    }
    let response = t.head(&location, &other_code).await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    let response = t.post(&dropoff, &other_code, "x").header("Upload-Length", "1").send().await.unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert!(text(response).await.starts_with("ERR_DROPOFF_CODE_INVALID: "));
    // Codes as people type them.
    let typed = code.to_lowercase().replace('-', " ");
    assert_eq!(t.head(&location, &typed).await.status(), StatusCode::OK);

    // Scenario 32: unknown and closed drop-offs; an upload created before still completes.
    let unknown = "7d444840-9dc0-11d1-b245-5ffdce74fad2";
    let response = t.post(unknown, &code, "x").header("Upload-Length", "1").send().await.unwrap();
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    assert!(text(response).await.starts_with("ERR_DROPOFF_NOT_FOUND: "));
    let close = pb::CloseDropOffRequest { dropoff_id: dropoff.clone() };
    t.grpc.close_drop_off(with_bearer(close, &t.owner)).await.unwrap();
    let response = t.post(&dropoff, &code, "x").header("Upload-Length", "1").send().await.unwrap();
    assert_eq!(response.status(), StatusCode::GONE);
    let body = text(response).await;
    assert!(body.starts_with("ERR_DROPOFF_CLOSED: ") && body.contains("closed"), "{body}");
    assert_eq!(t.patch(&location, &code, 0, b"abcd".to_vec()).await.status(), StatusCode::NO_CONTENT);
}

/// Scenarios 33–35 (limits): 413 before the body, quota, types.
#[tokio::test]
async fn limits_are_decided_before_the_body() {
    let mut t = Tus::start().await;
    let (dropoff, code) = t
        .dropoff(pb::DropOff {
            max_file_bytes: 1000,
            max_total_bytes: 1500,
            allowed_types: vec![".csv".into(), "text/*".into()],
            ..Default::default()
        })
        .await;

    // Scenario 33: the client waits for 100 Continue and gets 413 instead; no body is read.
    let mut stream = tokio::net::TcpStream::connect(t.app.addr).await.unwrap();
    let metadata = format!("dropoff {},filename {}", b64(&dropoff), b64("big.csv"));
    let request = format!(
        "POST /files/ HTTP/1.1\r\nHost: x\r\nTus-Resumable: 1.0.0\r\nDropoff-Code: {code}\r\nUpload-Length: 1001\r\n\
         Upload-Metadata: {metadata}\r\nContent-Type: application/offset+octet-stream\r\nContent-Length: 1001\r\n\
         Expect: 100-continue\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut answer = vec![0u8; 4096];
    let n = tokio::time::timeout(Duration::from_secs(10), stream.read(&mut answer)).await.unwrap().unwrap();
    let answer = String::from_utf8_lossy(&answer[..n]);
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(!answer.contains("100 Continue"), "{answer}");
    assert!(answer.contains("ERR_MAX_SIZE_EXCEEDED"), "{answer}");

    // Scenario 34: a second file past the total.
    let response = t.post(&dropoff, &code, "a.csv").header("Upload-Length", "1000").send().await.unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    let response = t.post(&dropoff, &code, "b.csv").header("Upload-Length", "501").send().await.unwrap();
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert!(text(response).await.starts_with("ERR_QUOTA_EXCEEDED: "));

    // Scenario 35: allowed types.
    let typed = |name: &str, filetype: &str| {
        t.tus("POST", &t.url("/files/"), &code).header("Upload-Length", "1").header(
            "Upload-Metadata",
            format!("dropoff {},filename {},filetype {}", b64(&dropoff), b64(name), b64(filetype)),
        )
    };
    assert_eq!(typed("data.csv", "").send().await.unwrap().status(), StatusCode::CREATED);
    assert_eq!(typed("x.bin", "text/plain").send().await.unwrap().status(), StatusCode::CREATED);
    let response = typed("x.exe", "application/x-msdownload").send().await.unwrap();
    assert_eq!(response.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let body = text(response).await;
    assert!(body.starts_with("ERR_FILE_TYPE_NOT_ALLOWED: ") && body.contains(".csv"), "{body}");
}

/// Scenario 29: CORS for browser clients on another origin.
#[tokio::test]
async fn cors_for_browsers() {
    let mut t = Tus::start().await;
    let (dropoff, code) = t.simple_dropoff().await;
    let response = t
        .http
        .request(Method::OPTIONS, t.url("/files/"))
        .header("Origin", ALLOWED_ORIGIN)
        .header("Access-Control-Request-Method", "POST")
        .header("Access-Control-Request-Headers", "dropoff-code,upload-checksum,x-http-method-override")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(header(&response, "access-control-allow-origin"), Some(ALLOWED_ORIGIN));
    let allowed = header(&response, "access-control-allow-headers").unwrap();
    for name in ["Dropoff-Code", "Upload-Checksum", "X-HTTP-Method-Override"] {
        assert!(allowed.contains(name), "{allowed}");
    }
    assert_eq!(header(&response, "access-control-allow-credentials"), None);

    let response = t
        .post(&dropoff, &code, "a.csv")
        .header("Origin", ALLOWED_ORIGIN)
        .header("Upload-Length", "1")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    assert_eq!(header(&response, "access-control-allow-origin"), Some(ALLOWED_ORIGIN));
    let exposed = header(&response, "access-control-expose-headers").unwrap();
    for name in ["Location", "Upload-Offset", "Upload-Expires"] {
        assert!(exposed.contains(name), "{exposed}");
    }
    // Steward's own pages are same-origin: allowed too.
    let own = t.post(&dropoff, &code, "b.csv").header("Origin", t.app.url()).header("Upload-Length", "1");
    assert_eq!(own.send().await.unwrap().status(), StatusCode::CREATED);

    for method in [Method::OPTIONS, Method::POST] {
        let response = t
            .http
            .request(method.clone(), t.url("/files/"))
            .header("Origin", "https://evil.example")
            .header("Access-Control-Request-Method", "POST")
            .header("Tus-Resumable", "1.0.0")
            .header("Dropoff-Code", &code)
            .header("Upload-Length", "1")
            .header("Upload-Metadata", format!("dropoff {}", b64(&dropoff)))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::FORBIDDEN, "{method}");
        assert_eq!(header(&response, "access-control-allow-origin"), None);
        assert!(text(response).await.starts_with("ERR_ORIGIN_NOT_ALLOWED: "));
    }
    let request = pb::ListFilesRequest { dropoff_id: dropoff.clone(), ..Default::default() };
    let files = t.grpc.list_files(with_bearer(request, &t.owner)).await.unwrap().into_inner();
    assert_eq!(files.files.len(), 2, "the refused origin created nothing");

    // gRPC-web keeps its own CORS answers.
    let response = t
        .http
        .request(Method::OPTIONS, t.url("/steward.upload.v1.UploadService/OpenDropOff"))
        .header("Origin", ALLOWED_ORIGIN)
        .header("Access-Control-Request-Method", "POST")
        .send()
        .await
        .unwrap();
    assert_eq!(header(&response, "access-control-allow-credentials"), Some("true"));
}

impl Tus {
    /// A server over `db` with the staging under `data_dir`, plus `extra` settings.
    async fn start_on(db: TestDb, data_dir: &std::path::Path, extra: &[(&str, &str)]) -> Tus {
        let owner = db.token(OWNER, Some(Role::Researcher)).await;
        let mut vars = vec![("STEWARD_DATA_DIR", data_dir.to_str().unwrap()), ("STEWARD_UPLOAD_NOTIFY_DELAY", "0")];
        vars.extend_from_slice(extra);
        let (app, _) = TestApp::start_with(db, &vars).await;
        let grpc = UploadServiceClient::new(app.channel().await);
        Tus { app, http: reqwest::Client::new(), grpc, owner }
    }
}

/// Entries directly in `dir` (none when it does not exist).
fn entries(dir: &std::path::Path) -> usize {
    std::fs::read_dir(dir).map(|d| d.count()).unwrap_or(0)
}

/// §3.13 row 21, §3.5 step 9, §3.8: with the staging reserve
/// (`STEWARD_UPLOAD_STAGING_RESERVE`) larger than the disk's free space,
/// POST (known or deferred length) and a PATCH with a body answer 507
/// `ERR_INSUFFICIENT_STORAGE` saying what is free and what is needed; nothing
/// is created or written. A wrong code is still 403 first. With the default
/// reserve the same upload continues.
#[tokio::test]
async fn a_short_staging_disk_answers_507() {
    let data_dir = scratch_dir("tus-space");
    let staging = data_dir.join("staging");
    let mut t = Tus::start_on(TestDb::new().await, &data_dir, &[]).await;
    let (dropoff, code) = t.simple_dropoff().await;
    let location = t.create(&dropoff, &code, 10).await;
    assert_eq!(t.patch(&location, &code, 0, data(4)).await.status(), StatusCode::NO_CONTENT);
    let used = t.used_bytes(&dropoff).await;
    let upload_path = format!("/files/{}", location.rsplit('/').next().unwrap());
    let db = t.app.stop().await;

    std::fs::create_dir_all(&staging).unwrap();
    let stats = rustix::fs::statvfs(&staging).unwrap();
    // More than the disk has free, whatever else runs meanwhile.
    let reserve = (stats.f_bavail * stats.f_frsize + (1 << 40)).to_string();
    let mut t = Tus::start_on(db, &data_dir, &[("STEWARD_UPLOAD_STAGING_RESERVE", reserve.as_str())]).await;
    let location = t.url(&upload_path);
    let staged_before = entries(&staging);

    let known = t.post(&dropoff, &code, "more.csv").header("Upload-Length", "1000").send().await.unwrap();
    let deferred = t.post(&dropoff, &code, "more.csv").header("Upload-Defer-Length", "1").send().await.unwrap();
    for (response, needed) in [(known, 1000), (deferred, 0)] {
        assert_eq!(response.status(), StatusCode::INSUFFICIENT_STORAGE);
        assert!(header(&response, "location").is_none());
        let body = text(response).await;
        assert!(body.starts_with("ERR_INSUFFICIENT_STORAGE: "), "{body}");
        let total = (needed + reserve.parse::<u64>().unwrap()).to_string();
        assert!(body.contains("free") && body.contains(&total) && body.contains("try again"), "{body}");
    }

    // A PATCH with a body is refused before a byte is written...
    let response = t.patch(&location, &code, 4, data(6)).await;
    assert_eq!(response.status(), StatusCode::INSUFFICIENT_STORAGE);
    assert!(text(response).await.starts_with("ERR_INSUFFICIENT_STORAGE: "));
    // ...but a wrong code is answered as such first.
    assert_eq!(t.patch(&location, "AAAAA-AAAAA", 4, data(6)).await.status(), StatusCode::FORBIDDEN);

    // Nothing was created or written.
    assert_eq!(t.offset(&location, &code).await, 4);
    assert_eq!(t.used_bytes(&dropoff).await, used);
    assert_eq!(entries(&staging), staged_before, "no staging directory was created");
    let request = pb::ListFilesRequest { dropoff_id: dropoff.clone(), ..Default::default() };
    let files = t.grpc.list_files(with_bearer(request, &t.owner)).await.unwrap().into_inner().files;
    assert_eq!(files.len(), 1, "{files:?}");

    // The default reserve: the upload continues and completes.
    let db = t.app.stop().await;
    let mut t = Tus::start_on(db, &data_dir, &[]).await;
    let location = t.url(&upload_path);
    let response = t.patch(&location, &code, 4, data(10)[4..].to_vec()).await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert_eq!(t.settled(&location, &code).await.status(), pb::FileStatus::Available);
}

/// §3.3: a client's `X-Request-ID` of up to 128 token characters is echoed
/// (tus clients send long ones); a longer one is replaced.
#[tokio::test]
async fn long_client_request_ids_are_echoed() {
    let t = Tus::start().await;
    let longest = format!("{}.z", "a1-B2_c3~".repeat(14));
    assert_eq!(longest.len(), 128);
    let response = t.tus("OPTIONS", &t.url("/files/"), "").header("X-Request-ID", &longest).send().await.unwrap();
    assert_eq!(header(&response, "x-request-id"), Some(longest.as_str()));
    let too_long = format!("{longest}x");
    let response = t.tus("OPTIONS", &t.url("/files/"), "").header("X-Request-ID", &too_long).send().await.unwrap();
    let echoed = header(&response, "x-request-id").unwrap();
    assert!(!echoed.is_empty() && echoed != too_long, "{echoed}");
}
