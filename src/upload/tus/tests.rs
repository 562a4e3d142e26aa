//! The tus protocol layer without a database: requests as a client sends
//! them, answers as a client reads them (spec upload.md §3, §6 scenarios).

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use chrono::TimeZone as _;
use http::{HeaderMap, HeaderName, HeaderValue, Method, Response, StatusCode};

use super::protocol::{self, Checksum, ChecksumAlgorithm, CreateCommand, PatchCommand, Target, UploadLength};
use super::reply::{self, UploadInfo};
use super::*;
use crate::upload::metadata::Metadata;

const DROPOFF: &str = "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d";
const FILE: &str = "7d444840-9dc0-11d1-b245-5ffdce74fad2";
const PUBLIC: &str = "https://data.example.org";
const ALLOWED: &str = "https://app.example.org";

fn settings() -> TusSettings {
    TusSettings::new(PUBLIC, &[ALLOWED.to_owned()], 10 << 30)
}

/// A request as (name, value) pairs; repeated names become repeated headers.
fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
    let mut map = HeaderMap::new();
    for (name, value) in pairs {
        map.append(HeaderName::from_bytes(name.as_bytes()).unwrap(), HeaderValue::from_str(value).unwrap());
    }
    map
}

fn run(method: &str, path: &str, pairs: &[(&str, &str)]) -> Parsed {
    parse(&settings(), &Method::from_bytes(method.as_bytes()).unwrap(), path, &headers(pairs))
}

fn command(method: &str, path: &str, pairs: &[(&str, &str)]) -> Result<Command, TusError> {
    run(method, path, pairs).command
}

fn refusal(method: &str, path: &str, pairs: &[(&str, &str)]) -> TusError {
    command(method, path, pairs).expect_err("refused")
}

fn dropoff_metadata() -> String {
    format!("dropoff {},filename {}", STANDARD.encode(DROPOFF), STANDARD.encode("data.csv"))
}

/// The headers of a valid creation request, plus `extra`.
fn post(extra: &[(&str, &str)]) -> Result<Command, TusError> {
    let metadata = dropoff_metadata();
    let mut pairs = vec![("tus-resumable", "1.0.0"), ("upload-metadata", metadata.as_str())];
    pairs.extend_from_slice(extra);
    command("POST", "/files/", &pairs)
}

fn create(extra: &[(&str, &str)]) -> CreateCommand {
    match post(extra) {
        Ok(Command::Create(c)) => c,
        other => panic!("{other:?}"),
    }
}

fn patch(extra: &[(&str, &str)]) -> Result<Command, TusError> {
    let mut pairs = vec![("tus-resumable", "1.0.0"), ("content-type", "application/offset+octet-stream")];
    pairs.extend_from_slice(extra);
    command("PATCH", &format!("/files/{FILE}"), &pairs)
}

fn patch_ok(extra: &[(&str, &str)]) -> PatchCommand {
    match patch(extra) {
        Ok(Command::Patch(p)) => p,
        other => panic!("{other:?}"),
    }
}

fn header<'a>(response: &'a Response<axum::body::Body>, name: &str) -> Option<&'a str> {
    response.headers().get(name).map(|v| v.to_str().unwrap())
}

async fn body(response: Response<axum::body::Body>) -> String {
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX).await.unwrap();
    String::from_utf8(bytes.to_vec()).unwrap()
}

fn ctx() -> ReplyCtx {
    run("POST", "/files/", &[]).ctx
}

/// The response a parsed request gets when it is refused.
fn answer(parsed: &Parsed) -> Response<axum::body::Body> {
    match &parsed.command {
        Ok(Command::Options) => reply::options(&parsed.ctx, &settings()),
        Ok(other) => panic!("not refused: {other:?}"),
        Err(e) => reply::error(&parsed.ctx, e),
    }
}

// Scenario 8: discovery without credentials.
#[tokio::test]
async fn options_answers_discovery_with_the_exact_values() {
    for path in ["/files/", "/files", &format!("/files/{FILE}")] {
        // A Tus-Resumable header on OPTIONS makes no difference, whatever its value.
        for pairs in [&[][..], &[("tus-resumable", "0.2.2")][..]] {
            let parsed = run("OPTIONS", path, pairs);
            assert_eq!(parsed.command, Ok(Command::Options), "{path}");
            let response = answer(&parsed);
            assert_eq!(response.status(), StatusCode::OK);
            assert_eq!(header(&response, "tus-resumable"), Some("1.0.0"));
            assert_eq!(header(&response, "tus-version"), Some("1.0.0"));
            assert_eq!(
                header(&response, "tus-extension"),
                Some("creation,creation-with-upload,creation-defer-length,expiration,checksum,termination")
            );
            assert_eq!(header(&response, "tus-max-size"), Some("10737418240"));
            assert_eq!(header(&response, "tus-checksum-algorithm"), Some("sha1,sha256,sha512"));
            assert_eq!(body(response).await, "");
        }
    }
    // An override never turns OPTIONS into something else: it stays a preflight.
    assert_eq!(command("OPTIONS", "/files/", &[("x-http-method-override", "DELETE")]), Ok(Command::Options));
}

// Scenario 9 / row 3.
#[tokio::test]
async fn post_patch_and_delete_need_tus_resumable_1_0_0() {
    let id_path = format!("/files/{FILE}");
    for (method, path) in [("POST", "/files/"), ("PATCH", id_path.as_str()), ("DELETE", id_path.as_str())] {
        assert_eq!(refusal(method, path, &[]), TusError::UnsupportedVersion, "{method} without");
        assert_eq!(refusal(method, path, &[("tus-resumable", "0.2.2")]), TusError::UnsupportedVersion);
        assert_eq!(
            refusal(method, path, &[("tus-resumable", "1.0.0"), ("tus-resumable", "1.0.0")]),
            TusError::UnsupportedVersion,
            "repeated"
        );
    }
    // HEAD may omit it (tusd allows it), but not send another version.
    assert!(matches!(command("HEAD", &id_path, &[]), Ok(Command::Head { .. })));
    assert_eq!(refusal("HEAD", &id_path, &[("tus-resumable", "0.2.2")]), TusError::UnsupportedVersion);

    let parsed = run("POST", "/files/", &[("tus-resumable", "0.2.2"), ("upload-length", "5")]);
    let response = answer(&parsed);
    assert_eq!(response.status(), StatusCode::PRECONDITION_FAILED);
    assert_eq!(header(&response, "tus-version"), Some("1.0.0"));
    assert_eq!(body(response).await.split(':').next(), Some("ERR_UNSUPPORTED_VERSION"));
}

// Scenario 11 / rows 7–10.
#[test]
fn creation_length_headers_are_checked() {
    assert_eq!(create(&[("upload-length", "0")]).length, UploadLength::Known(0));
    assert_eq!(create(&[("upload-length", "9223372036854775807")]).length, UploadLength::Known(i64::MAX as u64));
    assert_eq!(create(&[("upload-defer-length", "1")]).length, UploadLength::Deferred);

    assert_eq!(post(&[("upload-length", "5"), ("upload-defer-length", "1")]), Err(TusError::AmbiguousUploadLength));
    assert!(matches!(post(&[]), Err(TusError::InvalidUploadLength(_))));
    for bad in ["-1", "abc", "+5", " 5", "5 ", "", "1.0", "9223372036854775808", "00000000000000000001"] {
        assert!(matches!(post(&[("upload-length", bad)]), Err(TusError::InvalidUploadLength(_))), "{bad:?}");
    }
    assert!(matches!(post(&[("upload-length", "5"), ("upload-length", "5")]), Err(TusError::InvalidUploadLength(_))));
    for bad in ["2", "0", "true", ""] {
        assert_eq!(post(&[("upload-defer-length", bad)]), Err(TusError::InvalidUploadLengthDefer), "{bad:?}");
    }
    // Concatenation is refused before anything else about the request.
    assert_eq!(post(&[("upload-concat", "partial")]), Err(TusError::ConcatenationUnsupported));
    assert_eq!(post(&[("upload-concat", "final;/files/a /files/b")]), Err(TusError::ConcatenationUnsupported));

    let codes: Vec<(TusError, u16, &str)> = vec![
        (TusError::ConcatenationUnsupported, 400, "ERR_CONCATENATION_UNSUPPORTED"),
        (TusError::AmbiguousUploadLength, 400, "ERR_AMBIGUOUS_UPLOAD_LENGTH"),
        (TusError::InvalidUploadLength("x".into()), 400, "ERR_INVALID_UPLOAD_LENGTH"),
        (TusError::InvalidUploadLengthDefer, 400, "ERR_INVALID_UPLOAD_LENGTH_DEFER"),
    ];
    for (err, status, code) in codes {
        assert_eq!((err.status().as_u16(), err.code()), (status, code));
    }
}

// Scenario 12 / row 12, and §5 item 2.
#[tokio::test]
async fn empty_metadata_asks_for_the_dropoff_key_with_a_helpful_message() {
    let parsed = run("POST", "/files/", &[("tus-resumable", "1.0.0"), ("upload-length", "5"), ("upload-metadata", "")]);
    assert_eq!(parsed.command, Err(TusError::DropoffRequired { present: false }));
    let response = answer(&parsed);
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let text = body(response).await;
    assert!(text.starts_with("ERR_DROPOFF_REQUIRED: "), "{text}");
    assert!(text.contains("metadata={'dropoff'") && text.contains("Dropoff-Code"), "{text}");
    assert!(text.ends_with('\n') && text.lines().count() == 1, "{text}");

    // Absent header, other keys only, a dropoff that is not a UUID.
    let no_meta = command("POST", "/files/", &[("tus-resumable", "1.0.0"), ("upload-length", "5")]);
    assert_eq!(no_meta, Err(TusError::DropoffRequired { present: false }));
    let only_name = format!("filename {}", STANDARD.encode("a.csv"));
    let r = command(
        "POST",
        "/files/",
        &[("tus-resumable", "1.0.0"), ("upload-length", "5"), ("upload-metadata", &only_name)],
    );
    assert_eq!(r, Err(TusError::DropoffRequired { present: false }));
    let not_uuid = format!("dropoff {}", STANDARD.encode("project-7"));
    let r = command(
        "POST",
        "/files/",
        &[("tus-resumable", "1.0.0"), ("upload-length", "5"), ("upload-metadata", &not_uuid)],
    );
    assert_eq!(r, Err(TusError::DropoffRequired { present: true }));
    assert!(TusError::DropoffRequired { present: true }.message().contains("UUID"));
}

// Scenario 13 / row 11.
#[test]
fn metadata_is_parsed_tolerantly_and_refused_when_bad() {
    let tolerant = format!("a,b YQ==, c YQ,dropoff {}", STANDARD.encode(DROPOFF));
    let c = match command(
        "POST",
        "/files/",
        &[("tus-resumable", "1.0.0"), ("upload-length", "5"), ("upload-metadata", &tolerant)],
    ) {
        Ok(Command::Create(c)) => c,
        other => panic!("{other:?}"),
    };
    assert_eq!(c.dropoff_id, DROPOFF);
    assert_eq!(c.metadata.get("a"), Some(""));
    assert_eq!(c.metadata.get("c"), Some("a"));

    let dropoff = format!("dropoff {}", STANDARD.encode(DROPOFF));
    let not_utf8 = STANDARD.encode([0xff, 0xfe]);
    for bad in [
        format!("{dropoff},k YQ-_"),
        format!("{dropoff},k YQ==,k Yg=="),
        format!("{dropoff},filename {not_utf8}"),
        format!("{dropoff},sha256 {}", STANDARD.encode("not-a-digest")),
    ] {
        let r = command(
            "POST",
            "/files/",
            &[("tus-resumable", "1.0.0"), ("upload-length", "5"), ("upload-metadata", &bad)],
        );
        match r {
            Err(TusError::InvalidMetadata(message)) => assert!(message.contains("key \""), "{message}"),
            other => panic!("{bad}: {other:?}"),
        }
    }
    // Sent twice.
    let r = command(
        "POST",
        "/files/",
        &[("tus-resumable", "1.0.0"), ("upload-length", "5"), ("upload-metadata", &dropoff), ("upload-metadata", "a")],
    );
    assert!(matches!(r, Err(TusError::InvalidMetadata(_))));
    let err = TusError::InvalidMetadata("x".into());
    assert_eq!((err.status(), err.code()), (StatusCode::BAD_REQUEST, "ERR_INVALID_METADATA"));
}

// Scenario 36.
#[test]
fn metadata_over_8_kib_or_32_pairs_is_refused() {
    let dropoff = format!("dropoff {}", STANDARD.encode(DROPOFF));
    let big = format!("{dropoff},big {}", "A".repeat(8 * 1024));
    let pairs: Vec<String> = (0..32).map(|i| format!("k{i} YQ==")).collect();
    let many = format!("{dropoff},{}", pairs.join(","));
    for header in [big, many] {
        let r = command(
            "POST",
            "/files/",
            &[("tus-resumable", "1.0.0"), ("upload-length", "5"), ("upload-metadata", &header)],
        );
        match r {
            Err(e @ TusError::InvalidMetadata(_)) => assert_eq!(e.status(), StatusCode::BAD_REQUEST),
            other => panic!("{other:?}"),
        }
    }
    let thirty_one: Vec<String> = (0..31).map(|i| format!("k{i} YQ==")).collect();
    let ok = format!("{dropoff},{}", thirty_one.join(","));
    let r = command("POST", "/files/", &[("tus-resumable", "1.0.0"), ("upload-length", "5"), ("upload-metadata", &ok)]);
    assert!(matches!(r, Ok(Command::Create(c)) if c.metadata.len() == 32));
}

// Scenario 15 (header part) / rows 26–27.
#[test]
fn patch_needs_the_offset_media_type_and_a_valid_offset() {
    let id_path = format!("/files/{FILE}");
    for content_type in
        [None, Some("application/octet-stream"), Some("text/plain"), Some("application/offset+octet-streamx")]
    {
        let mut pairs = vec![("tus-resumable", "1.0.0"), ("upload-offset", "0")];
        if let Some(t) = content_type {
            pairs.push(("content-type", t));
        }
        let err = refusal("PATCH", &id_path, &pairs);
        assert_eq!(err, TusError::InvalidContentType, "{content_type:?}");
        assert_eq!((err.status().as_u16(), err.code()), (415, "ERR_INVALID_CONTENT_TYPE"));
    }
    // Case and parameters do not matter.
    for t in ["Application/Offset+Octet-Stream", "application/offset+octet-stream; charset=binary"] {
        let r = command("PATCH", &id_path, &[("tus-resumable", "1.0.0"), ("upload-offset", "3"), ("content-type", t)]);
        assert!(matches!(r, Ok(Command::Patch(p)) if p.offset == 3), "{t}");
    }
    assert_eq!(patch(&[]), Err(TusError::InvalidOffset));
    for bad in ["-1", "x", "", "1 ", "9223372036854775808"] {
        assert_eq!(patch(&[("upload-offset", bad)]), Err(TusError::InvalidOffset), "{bad:?}");
    }
    assert_eq!(patch(&[("upload-offset", "1"), ("upload-offset", "1")]), Err(TusError::InvalidOffset));
    let err = TusError::InvalidOffset;
    assert_eq!((err.status().as_u16(), err.code()), (400, "ERR_INVALID_OFFSET"));

    let p = patch_ok(&[("upload-offset", "65535"), ("content-length", "10"), ("upload-length", "65545")]);
    assert_eq!((p.file_id.as_str(), p.offset, p.content_length, p.length), (FILE, 65535, Some(10), Some(65545)));
    assert!(matches!(patch(&[("upload-offset", "0"), ("upload-length", "x")]), Err(TusError::InvalidUploadLength(_))));
}

// Rows 28–29 and 34: checksums (scenario 23's header part).
#[test]
fn checksums_are_parsed_and_md5_is_refused() {
    let sha1 = ring::digest::digest(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY, b"hello");
    let sha256 = ring::digest::digest(&ring::digest::SHA256, b"hello");
    let sha512 = ring::digest::digest(&ring::digest::SHA512, b"hello");
    for (name, digest, algorithm) in [
        ("sha1", &sha1, ChecksumAlgorithm::Sha1),
        ("sha256", &sha256, ChecksumAlgorithm::Sha256),
        ("sha512", &sha512, ChecksumAlgorithm::Sha512),
    ] {
        let value = format!("{name} {}", STANDARD.encode(digest.as_ref()));
        let p = patch_ok(&[("upload-offset", "0"), ("upload-checksum", &value)]);
        let checksum = p.checksum.expect("parsed");
        assert_eq!(checksum.algorithm, algorithm);
        assert!(checksum.matches(digest));
        assert!(!checksum.matches(&ring::digest::digest(algorithm.digest_algorithm(), b"hellO")));
    }
    // tuspy's form, and a digest of another algorithm never matches.
    let c = Checksum::parse(format!("sha1 {}", STANDARD.encode(sha1.as_ref())).as_bytes()).unwrap();
    assert!(!c.matches(&sha256));

    let md5 = format!("md5 {}", STANDARD.encode([0u8; 16]));
    let err = patch(&[("upload-offset", "0"), ("upload-checksum", &md5)]).unwrap_err();
    assert_eq!(err, TusError::UnsupportedChecksumAlgorithm("md5".into()));
    assert_eq!((err.status().as_u16(), err.code()), (400, "ERR_UNSUPPORTED_CHECKSUM_ALGORITHM"));
    assert!(err.message().contains("sha1,sha256,sha512"));
    assert!(matches!(Checksum::parse(b"crc32 AAAA"), Err(TusError::UnsupportedChecksumAlgorithm(_))));

    let short = format!("sha1 {}", STANDARD.encode([0u8; 19]));
    let url_safe = format!("sha256 {}", STANDARD.encode(sha256.as_ref()).replace('+', "-").replace('/', "_"));
    for bad in ["sha1", "sha1 ", "sha1 !!!", short.as_str(), " AAAA", url_safe.as_str()] {
        let r = Checksum::parse(bad.as_bytes());
        // A URL-safe digest only fails if it has a '+' or '/' to replace.
        if bad == url_safe && !STANDARD.encode(sha256.as_ref()).contains(['+', '/']) {
            continue;
        }
        match r {
            Err(e @ TusError::InvalidChecksum(_)) => {
                assert_eq!((e.status().as_u16(), e.code()), (400, "ERR_INVALID_CHECKSUM"))
            }
            other => panic!("{bad:?}: {other:?}"),
        }
    }
    assert!(matches!(
        patch(&[("upload-offset", "0"), ("upload-checksum", "sha1 x"), ("upload-checksum", "sha1 y")]),
        Err(TusError::InvalidChecksum(_))
    ));
    let err = TusError::ChecksumMismatch;
    assert_eq!((err.status().as_u16(), err.code()), (460, "ERR_CHECKSUM_MISMATCH"));
}

// §3.5 body handling: creation-with-upload only with the tus media type.
#[test]
fn a_creation_body_is_written_only_with_the_offset_media_type() {
    let c = create(&[
        ("upload-length", "10"),
        ("content-type", "application/offset+octet-stream"),
        ("content-length", "10"),
    ]);
    assert!(c.with_body);
    assert_eq!(c.content_length, Some(10));
    // Some HTTP stacks add a default type: the body is not read, and its checksum not parsed.
    let c = create(&[("upload-length", "10"), ("content-type", "text/plain"), ("upload-checksum", "md5 x")]);
    assert!(!c.with_body);
    assert_eq!(c.checksum, None);
    // With the tus media type, the checksum is checked before any body byte is read.
    let r = post(&[
        ("upload-length", "10"),
        ("content-type", "application/offset+octet-stream"),
        ("upload-checksum", "md5 AAAA"),
    ]);
    assert!(matches!(r, Err(TusError::UnsupportedChecksumAlgorithm(_))));
}

// Scenario 27 / row 4.
#[test]
fn method_override_replaces_the_method() {
    let id_path = format!("/files/{FILE}");
    let r = command(
        "POST",
        &id_path,
        &[
            ("tus-resumable", "1.0.0"),
            ("x-http-method-override", "PATCH"),
            ("content-type", "application/offset+octet-stream"),
            ("upload-offset", "0"),
        ],
    );
    assert!(matches!(r, Ok(Command::Patch(_))), "{r:?}");
    let r = command("POST", &id_path, &[("tus-resumable", "1.0.0"), ("x-http-method-override", "delete")]);
    assert!(matches!(r, Ok(Command::Delete { .. })), "{r:?}");
    // Honoured on every method, not only POST.
    let r = command("GET", &id_path, &[("x-http-method-override", "HEAD")]);
    assert!(matches!(r, Ok(Command::Head { .. })), "{r:?}");
    let parsed = run("POST", &id_path, &[("tus-resumable", "1.0.0"), ("x-http-method-override", "HEAD")]);
    assert!(parsed.ctx.no_body, "an overridden HEAD has no body");

    for bad in ["GET", "PUT", "OPTIONS", "patch2"] {
        let err = refusal("POST", &id_path, &[("tus-resumable", "1.0.0"), ("x-http-method-override", bad)]);
        assert!(matches!(err, TusError::MethodOverrideNotSupported { .. }), "{bad}");
        assert_eq!((err.status().as_u16(), err.code()), (405, "ERR_METHOD_NOT_ALLOWED"));
    }
    // The override is read before the version: a bad one is refused first.
    let err = refusal("POST", &id_path, &[("x-http-method-override", "GET")]);
    assert!(matches!(err, TusError::MethodOverrideNotSupported { .. }));
}

// Scenario 28 / rows 5–6.
#[tokio::test]
async fn methods_are_checked_against_the_path() {
    let id_path = format!("/files/{FILE}");
    for method in ["GET", "PUT", "POST"] {
        let parsed = run(method, &id_path, &[("tus-resumable", "1.0.0")]);
        assert_eq!(parsed.command, Err(TusError::MethodNotAllowed { allow: protocol::ALLOW_UPLOAD }), "{method}");
        let response = answer(&parsed);
        assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
        assert_eq!(header(&response, "allow"), Some("OPTIONS, HEAD, PATCH, DELETE"));
        assert!(body(response).await.starts_with("ERR_METHOD_NOT_ALLOWED: "));
    }
    // A browser's plain GET carries no Tus-Resumable and still gets 405.
    assert!(matches!(refusal("GET", &id_path, &[]), TusError::MethodNotAllowed { .. }));
    for method in ["HEAD", "PATCH", "DELETE", "GET"] {
        for path in ["/files/", "/files"] {
            let parsed = run(method, path, &[("tus-resumable", "1.0.0")]);
            assert_eq!(parsed.command, Err(TusError::MethodNotAllowed { allow: "OPTIONS, POST" }), "{method} {path}");
        }
    }
    let parsed = run("HEAD", "/files/", &[]);
    let response = answer(&parsed);
    assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(body(response).await, "", "HEAD answers carry no body");

    let upper = format!("/files/{}", FILE.to_uppercase());
    let unhyphenated = format!("/files/{}", FILE.replace('-', ""));
    let deeper = format!("/files/{FILE}/x");
    let trailing = format!("/files/{FILE}/");
    for path in ["/files/not-a-uuid", &upper, &unhyphenated, &deeper, &trailing, "/files//", "/filesx"] {
        for method in ["HEAD", "PATCH", "DELETE", "GET"] {
            let err = refusal(method, path, &[("tus-resumable", "1.0.0")]);
            assert_eq!(err, TusError::UploadNotFound, "{method} {path}");
            assert_eq!((err.status().as_u16(), err.code()), (404, "ERR_UPLOAD_NOT_FOUND"));
        }
    }
    assert_eq!(Target::of_path("/files"), Target::Collection);
    assert_eq!(Target::of_path(&format!("/files/{FILE}")), Target::Upload(FILE.into()));
}

// Scenario 29 / rows 1–2, §3.12.
#[tokio::test]
async fn cors_allows_listed_origins_and_refuses_others() {
    // Preflight from an allowed origin.
    let parsed = run(
        "OPTIONS",
        "/files/",
        &[
            ("origin", ALLOWED),
            ("access-control-request-method", "POST"),
            ("access-control-request-headers", "dropoff-code"),
        ],
    );
    let response = answer(&parsed);
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(header(&response, "access-control-allow-origin"), Some(ALLOWED));
    assert_eq!(header(&response, "vary"), Some("Origin"));
    assert_eq!(header(&response, "access-control-allow-methods"), Some("POST, HEAD, PATCH, DELETE, OPTIONS"));
    assert_eq!(header(&response, "access-control-max-age"), Some("86400"));
    let allowed: Vec<&str> = header(&response, "access-control-allow-headers").unwrap().split(", ").collect();
    for needed in [
        "Dropoff-Code",
        "Upload-Checksum",
        "X-HTTP-Method-Override",
        "Tus-Resumable",
        "Upload-Length",
        "Upload-Offset",
        "Upload-Metadata",
        "Upload-Defer-Length",
        "Content-Type",
        "X-Request-ID",
    ] {
        assert!(allowed.contains(&needed), "{needed} in {allowed:?}");
    }
    assert_eq!(header(&response, "access-control-allow-credentials"), None);
    // The preflight carries the discovery headers too.
    assert_eq!(header(&response, "tus-version"), Some("1.0.0"));

    // Actual responses, errors included, expose what clients read.
    for parsed in [
        run("POST", "/files/", &[("origin", ALLOWED)]),
        run("PATCH", "/files/x", &[("origin", ALLOWED), ("tus-resumable", "1.0.0")]),
    ] {
        let response = answer(&parsed);
        assert_eq!(header(&response, "access-control-allow-origin"), Some(ALLOWED));
        let exposed: Vec<&str> = header(&response, "access-control-expose-headers").unwrap().split(", ").collect();
        for needed in [
            "Location",
            "Upload-Offset",
            "Upload-Expires",
            "Upload-Length",
            "Upload-Metadata",
            "Upload-Defer-Length",
            "Tus-Version",
            "Tus-Resumable",
            "Tus-Max-Size",
            "Retry-After",
        ] {
            assert!(exposed.contains(&needed), "{needed} in {exposed:?}");
        }
        assert_eq!(header(&response, "access-control-allow-methods"), None);
        assert_eq!(header(&response, "access-control-allow-credentials"), None);
    }
    let created = reply::created(&run("POST", "/files/", &[("origin", ALLOWED)]).ctx, &settings(), FILE, 0, None);
    assert!(header(&created, "access-control-expose-headers").unwrap().contains("Location"));

    // Steward's own origin is always allowed; origins compare without case.
    for own in [PUBLIC, "HTTPS://DATA.EXAMPLE.ORG"] {
        let parsed = run("HEAD", &format!("/files/{FILE}"), &[("origin", own)]);
        assert!(parsed.command.is_ok(), "{own}");
        assert_eq!(parsed.ctx.cors_origin.as_ref().map(|o| o.to_str().unwrap()), Some(own));
    }

    // A disallowed origin: 403 before any effect, with no CORS headers, on every method.
    for method in ["OPTIONS", "POST", "HEAD", "PATCH", "DELETE"] {
        let parsed = run(
            method,
            &format!("/files/{FILE}"),
            &[
                ("origin", "https://evil.example"),
                ("access-control-request-method", "POST"),
                ("tus-resumable", "1.0.0"),
            ],
        );
        assert_eq!(parsed.command, Err(TusError::OriginNotAllowed), "{method}");
        let response = answer(&parsed);
        assert_eq!(response.status(), StatusCode::FORBIDDEN);
        assert_eq!(header(&response, "access-control-allow-origin"), None);
        assert_eq!(header(&response, "access-control-expose-headers"), None);
        assert_eq!(header(&response, "tus-resumable"), Some("1.0.0"));
    }
    let err = TusError::OriginNotAllowed;
    assert_eq!(err.code(), "ERR_ORIGIN_NOT_ALLOWED");
    assert_eq!(refusal("POST", "/files/", &[("origin", "null")]), TusError::OriginNotAllowed);
    // Scripts send no Origin, so no origin is checked.
    assert!(run("HEAD", &format!("/files/{FILE}"), &[]).ctx.cors_origin.is_none());
}

/// Every variant, for the matrix checks.
fn every_error() -> Vec<TusError> {
    use TusError::*;
    vec![
        OriginNotAllowed,
        UnsupportedVersion,
        MethodOverrideNotSupported { value: "GET".into() },
        MethodNotAllowed { allow: protocol::ALLOW_UPLOAD },
        UploadNotFound,
        ConcatenationUnsupported,
        AmbiguousUploadLength,
        InvalidUploadLength("x".into()),
        InvalidUploadLengthDefer,
        InvalidMetadata("metadata key \"k\":\nx".into()),
        DropoffRequired { present: false },
        DropoffNotFound,
        CodeRequired,
        CodeInvalid,
        TooManyAttempts { retry_after_secs: 30 },
        DropoffClosed("the drop-off expired on Wed, 25 Jun 2025 16:00:00 GMT".into()),
        FileTypeNotAllowed("allowed: .csv, text/*".into()),
        MaxSizeExceeded("at most 100 bytes".into()),
        QuotaExceeded("only 7 bytes fit".into()),
        InsufficientStorage("1.0 GiB free, 2.0 GiB needed".into()),
        UploadGone("upload 'x' is terminated".into()),
        InvalidContentType,
        InvalidOffset,
        InvalidChecksum("x".into()),
        UnsupportedChecksumAlgorithm("md5".into()),
        UploadLocked,
        MismatchedOffset { current: 42 },
        UploadSizeExceeded,
        Invalid("body: ended early".into()),
        ChecksumMismatch,
        UploadInterrupted,
        ServerShutdown,
        UploadFinished,
        StagingUnavailable,
        Unavailable,
        Internal,
    ]
}

// §3.13: status, code and headers of each row.
#[test]
fn the_error_matrix() {
    let expected: &[(u16, &str)] = &[
        (403, "ERR_ORIGIN_NOT_ALLOWED"),
        (412, "ERR_UNSUPPORTED_VERSION"),
        (405, "ERR_METHOD_NOT_ALLOWED"),
        (405, "ERR_METHOD_NOT_ALLOWED"),
        (404, "ERR_UPLOAD_NOT_FOUND"),
        (400, "ERR_CONCATENATION_UNSUPPORTED"),
        (400, "ERR_AMBIGUOUS_UPLOAD_LENGTH"),
        (400, "ERR_INVALID_UPLOAD_LENGTH"),
        (400, "ERR_INVALID_UPLOAD_LENGTH_DEFER"),
        (400, "ERR_INVALID_METADATA"),
        (400, "ERR_DROPOFF_REQUIRED"),
        (404, "ERR_DROPOFF_NOT_FOUND"),
        (401, "ERR_DROPOFF_CODE_REQUIRED"),
        (403, "ERR_DROPOFF_CODE_INVALID"),
        (429, "ERR_TOO_MANY_ATTEMPTS"),
        (410, "ERR_DROPOFF_CLOSED"),
        (415, "ERR_FILE_TYPE_NOT_ALLOWED"),
        (413, "ERR_MAX_SIZE_EXCEEDED"),
        (413, "ERR_QUOTA_EXCEEDED"),
        (507, "ERR_INSUFFICIENT_STORAGE"),
        (410, "ERR_UPLOAD_GONE"),
        (415, "ERR_INVALID_CONTENT_TYPE"),
        (400, "ERR_INVALID_OFFSET"),
        (400, "ERR_INVALID_CHECKSUM"),
        (400, "ERR_UNSUPPORTED_CHECKSUM_ALGORITHM"),
        (423, "ERR_UPLOAD_LOCKED"),
        (409, "ERR_MISMATCHED_OFFSET"),
        (413, "ERR_UPLOAD_SIZE_EXCEEDED"),
        (400, "ERR_INVALID_REQUEST"),
        (460, "ERR_CHECKSUM_MISMATCH"),
        (400, "ERR_UPLOAD_INTERRUPTED"),
        (503, "ERR_SERVER_SHUTDOWN"),
        (403, "ERR_UPLOAD_FINISHED"),
        (503, "ERR_STAGING_UNAVAILABLE"),
        (503, "ERR_UNAVAILABLE"),
        (500, "ERR_INTERNAL"),
    ];
    let errors = every_error();
    assert_eq!(errors.len(), expected.len());
    for (err, (status, code)) in errors.iter().zip(expected) {
        assert_eq!((err.status().as_u16(), err.code()), (*status, *code), "{err:?}");
    }

    let with = |err: TusError, name: &str| {
        reply::error(&ctx(), &err).headers().get(name).map(|v| v.to_str().unwrap().to_owned())
    };
    assert_eq!(with(TusError::UnsupportedVersion, "tus-version").as_deref(), Some("1.0.0"));
    assert_eq!(with(TusError::CodeRequired, "www-authenticate").as_deref(), Some("Dropoff-Code"));
    assert_eq!(with(TusError::TooManyAttempts { retry_after_secs: 30 }, "retry-after").as_deref(), Some("30"));
    assert_eq!(with(TusError::MismatchedOffset { current: 42 }, "upload-offset").as_deref(), Some("42"));
    assert_eq!(with(TusError::MethodNotAllowed { allow: "OPTIONS, POST" }, "allow").as_deref(), Some("OPTIONS, POST"));
    // Only the 409 names an offset (§3.7: errors never carry Upload-Offset otherwise).
    for err in every_error() {
        if !matches!(err, TusError::MismatchedOffset { .. }) {
            assert_eq!(with(err.clone(), "upload-offset"), None, "{err:?}");
        }
    }
    assert!(TusError::UploadFinished.message().contains("finished files can only be deleted by the drop-off owner"));
    assert!(TusError::UploadGone("upload 'x' is terminated".into()).message().contains("start a new upload"));
}

// Scenario 30: the common headers on every answer, errors included; the error body format.
#[tokio::test]
async fn every_answer_carries_the_common_headers() {
    let metadata = Metadata::from_pairs([("dropoff", DROPOFF)]).unwrap();
    let info = UploadInfo { offset: 1, length: Some(2), metadata: &metadata, expires: None };
    let c = ctx();
    let mut responses = vec![
        reply::options(&c, &settings()),
        reply::created(&c, &settings(), FILE, 0, None),
        reply::head(&c, &info),
        reply::patched(&c, 1, None),
        reply::terminated(&c),
    ];
    responses.extend(every_error().iter().map(|e| reply::error(&c, e)));
    for response in &responses {
        assert_eq!(header(response, "tus-resumable"), Some("1.0.0"), "{}", response.status());
        assert_eq!(header(response, "x-content-type-options"), Some("nosniff"));
        assert_eq!(header(response, "cache-control"), Some("no-store"));
        assert_eq!(header(response, "x-request-id"), Some(c.request_id.to_str().unwrap()));
    }
    for (response, err) in responses.split_off(5).into_iter().zip(every_error()) {
        assert_eq!(header(&response, "content-type"), Some("text/plain; charset=utf-8"));
        let text = body(response).await;
        assert_eq!(text, format!("{}: {}\n", err.code(), err.message().replace('\n', " ")));
        assert_eq!(text.lines().count(), 1, "{text:?}");
    }
    // HEAD errors: the same status and headers, no body.
    let head_ctx = run("HEAD", &format!("/files/{FILE}"), &[]).ctx;
    let response = reply::error(&head_ctx, &TusError::UploadNotFound);
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    assert_eq!(header(&response, "upload-offset"), None);
    assert_eq!(header(&response, "content-type"), None);
    assert_eq!(body(response).await, "");
}

#[test]
fn request_ids_are_echoed_when_well_formed() {
    let id = |v: &str| run("HEAD", "/files/", &[("x-request-id", v)]).ctx.request_id.to_str().unwrap().to_owned();
    assert_eq!(id("abc-123_X.y"), "abc-123_X.y");
    let long = "a".repeat(128);
    assert_eq!(id(&long), long);
    for bad in ["a".repeat(129), "a b".to_owned(), "a,b".to_owned(), "\"q\"".to_owned()] {
        let generated = id(&bad);
        assert_ne!(generated, bad);
        assert_eq!(generated.len(), 32);
    }
    let fresh = |_| run("HEAD", "/files/", &[]).ctx.request_id;
    assert_ne!(fresh(0), fresh(1));
}

// Rows 22, 25, 35, 36, 39 and §3.9.
#[tokio::test]
async fn success_answers_carry_what_clients_read() {
    let expires = chrono::Utc.with_ymd_and_hms(2025, 6, 25, 16, 0, 0).unwrap();
    assert_eq!(reply::imf_fixdate(expires), "Wed, 25 Jun 2025 16:00:00 GMT");
    let c = ctx();

    let response = reply::created(&c, &TusSettings::new("https://data.example.org/", &[], 1), FILE, 0, Some(expires));
    assert_eq!(response.status(), StatusCode::CREATED);
    assert_eq!(header(&response, "location"), Some(format!("{PUBLIC}/files/{FILE}").as_str()));
    assert_eq!(header(&response, "upload-offset"), Some("0"));
    assert_eq!(header(&response, "upload-expires"), Some("Wed, 25 Jun 2025 16:00:00 GMT"));
    // A finished upload (Upload-Length: 0) has no expiry.
    assert_eq!(header(&reply::created(&c, &settings(), FILE, 0, None), "upload-expires"), None);

    let metadata =
        Metadata::parse_header(format!("zeta YQ,dropoff {},a", STANDARD.encode(DROPOFF)).as_bytes()).unwrap();
    let response =
        reply::head(&c, &UploadInfo { offset: 5, length: Some(9), metadata: &metadata, expires: Some(expires) });
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(header(&response, "upload-offset"), Some("5"));
    assert_eq!(header(&response, "upload-length"), Some("9"));
    assert_eq!(header(&response, "upload-defer-length"), None);
    assert_eq!(
        header(&response, "upload-metadata"),
        Some(format!("a,dropoff {},zeta YQ==", STANDARD.encode(DROPOFF)).as_str())
    );
    assert_eq!(header(&response, "upload-expires"), Some("Wed, 25 Jun 2025 16:00:00 GMT"));
    assert_eq!(header(&response, "cache-control"), Some("no-store"));
    assert_eq!(body(response).await, "");
    let deferred =
        reply::head(&c, &UploadInfo { offset: 0, length: None, metadata: &Metadata::default(), expires: None });
    assert_eq!(header(&deferred, "upload-defer-length"), Some("1"));
    assert_eq!(header(&deferred, "upload-length"), None);
    assert_eq!(header(&deferred, "upload-metadata"), None);

    let response = reply::patched(&c, 65_536, Some(expires));
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert_eq!(header(&response, "upload-offset"), Some("65536"));
    assert!(header(&response, "upload-expires").is_some());
    assert_eq!(header(&reply::patched(&c, 9, None), "upload-expires"), None, "finished: no expiry");

    let response = reply::terminated(&c);
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert_eq!(body(response).await, "");
}

// Scenario 33: the 413 is decided from headers, before the body is read.
#[test]
fn oversize_is_decided_from_headers() {
    // POST: an Upload-Length over the file limit, whatever the body.
    let c = create(&[
        ("upload-length", "1001"),
        ("expect", "100-continue"),
        ("content-type", "application/offset+octet-stream"),
    ]);
    let UploadLength::Known(length) = c.length else { panic!() };
    assert_eq!(protocol::check_declared_size(0, c.content_length, Some(length), 1000), Err(protocol_too_large()));
    assert_eq!(protocol::check_declared_size(0, None, Some(1000), 1000), Ok(()));
    // A creation body longer than the length.
    assert_eq!(protocol::check_declared_size(0, Some(11), Some(10), 1000), Err(TusError::UploadSizeExceeded));
    // PATCH: offset + Content-Length past the length.
    let p = patch_ok(&[("upload-offset", "90"), ("content-length", "11")]);
    assert_eq!(
        protocol::check_declared_size(p.offset, p.content_length, Some(100), 1000),
        Err(TusError::UploadSizeExceeded)
    );
    assert_eq!(protocol::check_declared_size(90, Some(10), Some(100), 1000), Ok(()));
    // Deferred length: the file limit bounds the body.
    assert_eq!(protocol::check_declared_size(990, Some(11), None, 1000), Err(protocol_too_large()));
    assert_eq!(protocol::check_declared_size(990, Some(10), None, 1000), Ok(()));
    // Chunked bodies (no Content-Length) are bounded while streaming instead.
    assert_eq!(protocol::check_declared_size(u64::MAX, None, Some(100), 1000), Ok(()));
    let err = protocol_too_large();
    assert!(err.message().contains("1000 bytes"), "{err}");
    assert_eq!((err.status().as_u16(), err.code()), (413, "ERR_MAX_SIZE_EXCEEDED"));
}

// §3.2: the code travels in a header on every request but OPTIONS, and is never printed.
#[test]
fn the_dropoff_code_is_carried_and_never_printed() {
    let code = "ABCDE-12345";
    let c = create(&[("upload-length", "1"), ("dropoff-code", code)]);
    assert_eq!(c.code.as_ref().map(|c| c.expose()), Some(code));
    assert!(!format!("{c:?}").contains(code));
    let head = command("HEAD", &format!("/files/{FILE}"), &[("Dropoff-Code", code)]);
    assert!(matches!(&head, Ok(Command::Head { code: Some(c), .. }) if c.expose() == code));
    assert!(!format!("{head:?}").contains(code));
    assert!(matches!(command("HEAD", &format!("/files/{FILE}"), &[]), Ok(Command::Head { code: None, .. })));
    let d = command(
        "DELETE",
        &format!("/files/{FILE}"),
        &[("tus-resumable", "1.0.0"), ("dropoff-code", code), ("dropoff-code", code)],
    );
    // Sent twice: kept, joined so that it never parses as a code (403, not 401).
    assert!(
        matches!(&d, Ok(Command::Delete { code: Some(c), .. }) if crate::upload::code::UploadCode::parse(c.expose()).is_none())
    );
    let p = patch_ok(&[("upload-offset", "0"), ("dropoff-code", code)]);
    assert_eq!(p.code.map(|c| c.expose().to_owned()).as_deref(), Some(code));
}

fn protocol_too_large() -> TusError {
    protocol::check_declared_size(0, None, Some(1001), 1000).unwrap_err()
}
