//! `/metrics` at scrape time: the operations gauges read from the database
//! (a donation, an upload's bytes, a job that failed for good), and an answer
//! without them once the database is gone.

use std::time::Duration;

use bytes::Bytes;
use ring::digest::{SHA256, digest};
use serde_json::json;
use steward::auth::Role;
use steward::crypto::Keyring;
use steward::jobs::{self, NewJob};
use steward::proto::donation::v1 as donation_pb;
use steward::proto::donation::v1::donation_service_client::DonationServiceClient;
use steward::proto::upload::v1 as upload_pb;
use steward::proto::upload::v1::upload_service_client::UploadServiceClient;

use crate::common::{TestApp, TestDb, scratch_dir, with_bearer};

async fn scrape(app: &TestApp) -> String {
    let response = reqwest::get(format!("{}/metrics", app.url())).await.unwrap();
    assert_eq!(response.status(), 200);
    response.text().await.unwrap()
}

fn has_line(text: &str, line: &str) -> bool {
    text.lines().any(|l| l == line)
}

/// Scrapes until `line` shows (jobs finish in the background), or fails with the last scrape.
async fn scrape_until(app: &TestApp, line: &str) -> String {
    let mut text = String::new();
    for _ in 0..100 {
        text = scrape(app).await;
        if has_line(&text, line) {
            return text;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{line:?} never showed in:\n{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_show_donations_uploads_and_failed_jobs() {
    let db = TestDb::new().await;
    let researcher = db.token("metrics@example.org", Some(Role::Researcher)).await;
    let spec = Keyring::generate().to_spec();
    let data_dir = scratch_dir("metrics");
    let (app, _) = TestApp::start_with(
        db,
        &[
            ("STEWARD_ENCRYPTION_KEYS", spec.as_str()),
            ("STEWARD_DATA_DIR", data_dir.to_str().unwrap()),
            ("STEWARD_UPLOAD_NOTIFY_DELAY", "0"),
        ],
    )
    .await;

    // Nothing yet: every donation status is there at 0.
    let text = scrape(&app).await;
    assert!(has_line(&text, "steward_database_up 1"), "{text}");
    assert!(has_line(&text, r#"steward_donations{status="pending"} 0"#), "{text}");

    let mut donations = DonationServiceClient::new(app.channel().await);
    let create = donation_pb::CreateDonationRequest {
        source: donation_pb::DonationSource::TiktokPortability.into(),
        ..Default::default()
    };
    donations.create_donation(with_bearer(create, &researcher)).await.unwrap();

    let mut uploads = UploadServiceClient::new(app.channel().await);
    let dropoff = upload_pb::DropOff { title: "Metrics".into(), ..Default::default() };
    let created = uploads
        .create_drop_off(with_bearer(upload_pb::CreateDropOffRequest { dropoff: Some(dropoff) }, &researcher))
        .await
        .unwrap()
        .into_inner();
    let (dropoff_id, code) = (created.dropoff.unwrap().dropoff_id, created.upload_code);
    let data = vec![7u8; 12_345];
    let upload_id = uploads
        .create_upload(upload_pb::CreateUploadRequest {
            dropoff_id,
            upload_code: code.clone(),
            name: "counted.bin".into(),
            size: data.len() as i64,
            content_type: "application/octet-stream".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .upload_id;
    let write = upload_pb::WriteChunkRequest {
        upload_id: upload_id.clone(),
        upload_code: code.clone(),
        offset: 0,
        data: Bytes::from(data.clone()),
    };
    uploads.write_chunk(write).await.unwrap();
    let sha256 = digest(&SHA256, &data).as_ref().iter().map(|b| format!("{b:02x}")).collect::<String>();
    uploads.finalize_upload(upload_pb::FinalizeUploadRequest { upload_id, upload_code: code, sha256 }).await.unwrap();

    // A job no handler takes, with one attempt: the server's worker fails it for good.
    let job = NewJob::new("metrics.nobody_handles_this", json!({})).max_attempts(1);
    jobs::enqueue(&mut *app.db.conn().await, job).await.unwrap().expect("a new job");

    let text = scrape_until(&app, r#"steward_jobs{kind="metrics.nobody_handles_this",state="failed"} 1"#).await;
    let text = if has_line(&text, r#"steward_upload_bytes{status="available"} 12345"#) {
        text
    } else {
        scrape_until(&app, r#"steward_upload_bytes{status="available"} 12345"#).await
    };
    for line in [
        "# TYPE steward_jobs gauge",
        r#"steward_jobs{kind="metrics.nobody_handles_this",state="due"} 0"#,
        r#"steward_jobs{kind="metrics.nobody_handles_this",state="running"} 0"#,
        r#"steward_jobs_retrying{kind="metrics.nobody_handles_this"} 0"#,
        "# TYPE steward_donations gauge",
        r#"steward_donations{status="pending"} 1"#,
        r#"steward_donations{status="error"} 0"#,
        "# TYPE steward_upload_bytes gauge",
        r#"steward_upload_files{status="available"} 1"#,
        r#"steward_requests_total{route="/steward.donation.v1.DonationService/CreateDonation",code="0"} 1"#,
        r#"steward_requests_total{route="/steward.upload.v1.UploadService/WriteChunk",code="0"} 1"#,
    ] {
        assert!(has_line(&text, line), "{line:?} missing from:\n{text}");
    }
    // No request path leaves a label of its own: the upload id is not a route.
    assert!(!text.contains("counted.bin"));

    // Made-up paths answered before routing (here a CORS preflight) share one label.
    let preflight = reqwest::Client::new()
        .request(reqwest::Method::OPTIONS, format!("{}/made-up-path-4711", app.url()))
        .header("origin", "https://elsewhere.example.org")
        .header("access-control-request-method", "GET")
        .send()
        .await
        .unwrap();
    assert!(preflight.status().is_success(), "{}", preflight.status());
    reqwest::get(format!("{}/made-up-path-4712", app.url())).await.unwrap();
    let text = scrape(&app).await;
    assert!(!text.contains("made-up-path"), "{text}");
    assert!(text.contains(r#"steward_requests_total{route="unmatched",code="404"} 1"#), "{text}");
    let preflights = format!(r#"steward_requests_total{{route="unmatched",code="{}"}} 1"#, preflight.status().as_u16());
    assert!(text.contains(&preflights), "{text}");
    assert!(text.contains(r#"steward_requests_total{route="/metrics",code="200"}"#), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_answer_without_the_database() {
    let app = TestApp::start().await;
    assert!(has_line(&scrape(&app).await, "steward_database_up 1"));
    app.db.drop_database().await;

    // A read is reused for two seconds: the next ones see the database gone.
    let text = scrape_until(&app, "steward_database_up 0").await;
    assert!(text.contains(r#"steward_requests_total{route="/metrics",code="200"}"#), "{text}");
    assert!(!text.contains("steward_donations"), "{text}");
}
