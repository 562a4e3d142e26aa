//! ExportDonationData against the real server (spec donation.md §2.9, §5.4):
//! the streamed rows are exactly what QueryDonationData's pages return, in
//! the same order, for every available type or one, with and without a date
//! window; and the same visibility rules refuse the same callers.
//!
//! The rows are real: a sandbox Google archive parsed by the archive parser,
//! sealed and stored with `rows::insert_batch` under the donation's own data
//! key, its types then marked available as `finalize` would.

use std::io::Cursor;

use chrono::{TimeZone as _, Utc};
use diesel::sql_types::{Integer, Text};
use diesel_async::RunQueryDsl as _;
use prost_types::Struct;
use steward::auth::Role;
use steward::crypto::Keyring;
use steward::donation::archive::{self, Limits, PartRequest, Window};
use steward::donation::catalogue::Source;
use steward::donation::keys;
use steward::donation::rows::{self, NewRow};
use steward::donation::sandbox::{GoogleExport, Persona, Scenario, write_google_part};
use steward::proto::donation::v1 as pb;
use steward::proto::donation::v1::donation_service_client::DonationServiceClient;
use tonic::Code;
use tonic::transport::Channel;

use crate::common::{TestApp, TestDb, with_bearer};

/// Requested; all but `image_search` get rows and become available.
const REQUESTED: [&str; 4] = ["youtube_history", "image_search", "search", "discover"];
/// Available, in catalogue order.
const AVAILABLE: [&str; 3] = ["youtube_history", "discover", "search"];

struct Env {
    app: TestApp,
    owner: String,
    id: i64,
}

impl Env {
    /// A researcher's Google donation holding a medium sandbox archive's rows
    /// (discover enlarged so its undated follows and settings span several
    /// batches).
    async fn start() -> Env {
        Self::start_with(&[]).await
    }

    async fn start_with(extra: &[(&str, &str)]) -> Env {
        let keyring = Keyring::generate();
        let spec = keyring.to_spec();
        let mut vars = vec![("STEWARD_ENCRYPTION_KEYS", spec.as_str()), ("STEWARD_WORKERS", "0")];
        vars.extend_from_slice(extra);
        let (app, _) = TestApp::start_with(TestDb::new().await, &vars).await;
        let owner = app.db.token("owner@example.org", Some(Role::Researcher)).await;
        let request = pb::CreateDonationRequest {
            source: pb::DonationSource::GooglePortability.into(),
            requested_data_types: REQUESTED.iter().map(|t| (*t).to_owned()).collect(),
            ..Default::default()
        };
        let client = &mut DonationServiceClient::new(app.channel().await);
        let created = client.create_donation(with_bearer(request, &owner)).await.unwrap().into_inner();
        let id = created.donation.unwrap().id;

        let scenario = Scenario::default().persona(Persona::Medium).records("discover", 12_000).seed(11);
        let resources = ["myactivity.youtube", "myactivity.search", "discover.follows", "discover.not_interested"];
        let created_at = Utc.with_ymd_and_hms(2026, 5, 1, 12, 0, 0).unwrap();
        let export = GoogleExport { resources: &resources, start_time: None, end_time: None, created_at };
        let mut zip = Vec::new();
        write_google_part(&scenario, &export, 0, &mut zip).unwrap();
        let types: Vec<_> = AVAILABLE.iter().map(|t| Source::Google.data_type(t).unwrap()).collect();
        let request =
            PartRequest { donation_id: id, data_types: &types, window: Window::default(), limits: &Limits::default() };
        let mut parsed = Vec::new();
        archive::parse_google_part(
            Cursor::new(zip),
            &request,
            |_, _| None,
            |row| {
                parsed.push(row);
                Ok::<_, std::convert::Infallible>(())
            },
        )
        .unwrap();

        let donation_id = i32::try_from(id).unwrap();
        let mut conn = app.db.conn().await;
        let key = keys::load(&mut conn, &keyring, donation_id).await.unwrap();
        for chunk in parsed.chunks(1_000) {
            let new: Vec<NewRow<'_>> = chunk.iter().map(NewRow::from).collect();
            rows::insert_batch(&mut conn, &key, donation_id, 1, &new).await.unwrap();
        }
        for t in AVAILABLE {
            diesel::sql_query(
                "UPDATE donation_types SET state = 'available' WHERE donation_id = $1 AND data_type = $2",
            )
            .bind::<Integer, _>(donation_id)
            .bind::<Text, _>(t)
            .execute(&mut conn)
            .await
            .unwrap();
        }
        Env { app, owner, id }
    }

    async fn client(&self) -> DonationServiceClient<Channel> {
        DonationServiceClient::new(self.app.channel().await)
    }

    /// Every batch of an export as (data type, rows), or the stream's error.
    async fn export(
        &self,
        token: Option<&str>,
        data_type: &str,
        (start, end): (&str, &str),
    ) -> Result<Vec<(String, Vec<Struct>)>, tonic::Status> {
        let message = pb::ExportDonationDataRequest {
            donation_id: self.id,
            data_type: data_type.into(),
            start_date: start.into(),
            end_date: end.into(),
            ..Default::default()
        };
        let request = match token {
            Some(token) => with_bearer(message, token),
            None => tonic::Request::new(message),
        };
        let mut stream = self.client().await.export_donation_data(request).await?.into_inner();
        let mut batches = Vec::new();
        while let Some(batch) = stream.message().await? {
            batches.push((batch.data_type, batch.rows));
        }
        Ok(batches)
    }

    /// Every row of `data_type` through QueryDonationData's pages of 1,000.
    async fn query(&self, data_type: &str, (start, end): (&str, &str)) -> Vec<Struct> {
        let mut client = self.client().await;
        let (mut page_token, mut rows) = (String::new(), Vec::new());
        loop {
            let request = pb::QueryDonationDataRequest {
                donation_id: self.id,
                data_type: data_type.into(),
                start_date: start.into(),
                end_date: end.into(),
                page_size: 1_000,
                page_token,
                ..Default::default()
            };
            let page = client.query_donation_data(with_bearer(request, &self.owner)).await.unwrap().into_inner();
            rows.extend(page.rows);
            if page.next_page_token.is_empty() {
                return rows;
            }
            page_token = page.next_page_token;
        }
    }
}

fn string(row: &Struct, key: &str) -> Option<String> {
    match row.fields.get(key)?.kind.as_ref()? {
        prost_types::value::Kind::StringValue(s) => Some(s.clone()),
        _ => None,
    }
}

/// The rows of consecutive batches of each type, asserting the batches'
/// shape: at most 1,000 rows, one type each, types in catalogue order.
fn by_type(batches: Vec<(String, Vec<Struct>)>) -> Vec<(String, Vec<Struct>)> {
    let mut out: Vec<(String, Vec<Struct>)> = Vec::new();
    for (data_type, rows) in batches {
        assert!(!rows.is_empty() && rows.len() <= 1_000, "{data_type}: a batch of {}", rows.len());
        assert!(rows.iter().all(|r| string(r, "data_type").as_deref() == Some(data_type.as_str())));
        match out.last_mut() {
            Some((last, all)) if *last == data_type => all.extend(rows),
            _ => {
                assert!(out.iter().all(|(t, _)| *t != data_type), "{data_type} comes back after another type");
                out.push((data_type, rows));
            }
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_export_streams_exactly_the_rows_query_pages_return() {
    let env = Env::start().await;

    // Every available type, in catalogue order, each exactly as queried.
    let all = by_type(env.export(Some(&env.owner), "", ("", "")).await.unwrap());
    assert_eq!(all.iter().map(|(t, _)| t.as_str()).collect::<Vec<_>>(), AVAILABLE);
    let mut total = 0;
    for (data_type, rows) in &all {
        let queried = env.query(data_type, ("", "")).await;
        assert!(queried.len() > 1_000, "{data_type}: more than one batch ({})", queried.len());
        assert_eq!(rows.len(), queried.len(), "{data_type}: as many rows as the query pages");
        assert!(*rows == queried, "{data_type}: the same rows in the same order");
        total += rows.len();
    }
    // Undated rows (Discover follows and settings) come last, past batch boundaries.
    let discover = &all[1].1;
    let undated = discover.iter().filter(|r| string(r, "timestamp").is_none()).count();
    assert!(undated > 2_000, "{undated} undated discover rows");
    assert!(discover[discover.len() - undated..].iter().all(|r| string(r, "timestamp").is_none()));

    // One type alone: the same rows as in the full export.
    let one = by_type(env.export(Some(&env.owner), "search", ("", "")).await.unwrap());
    assert_eq!(one.len(), 1);
    assert!(one[0] == all[2]);
    assert!(one[0].1.len() < total);

    // A known type that is not available has nothing to export.
    assert!(env.export(Some(&env.owner), "image_search", ("", "")).await.unwrap().is_empty());
}

/// ROW_FORMAT_JSON: the rows as their stored JSON texts, the common keys
/// first as spec §4.3.3 orders them, with exactly the Structs' values; pages
/// and batches otherwise as with Structs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_rows_are_the_struct_rows_as_stored_json_text() {
    let env = Env::start().await;
    let json = i32::from(pb::RowFormat::Json);
    let mut client = env.client().await;

    let structs = env.query("search", ("", "")).await;
    let (mut page_token, mut texts) = (String::new(), Vec::new());
    loop {
        let request = pb::QueryDonationDataRequest {
            donation_id: env.id,
            data_type: "search".into(),
            page_size: 1_000,
            page_token,
            row_format: json,
            ..Default::default()
        };
        let page = client.query_donation_data(with_bearer(request, &env.owner)).await.unwrap().into_inner();
        assert!(page.rows.is_empty(), "JSON rows only");
        assert_eq!(page.total_count, structs.len() as i64);
        texts.extend(page.json_rows);
        if page.next_page_token.is_empty() {
            break;
        }
        page_token = page.next_page_token;
    }
    assert_eq!(texts.len(), structs.len());
    for (text, row) in texts.iter().zip(&structs) {
        assert!(text.starts_with(r#"{"data_type":"search","device_id":"#), "stored key order: {text}");
        assert_eq!(&steward::donation::convert::row(text).unwrap(), row, "the same values");
    }

    // The export streams the same texts, batch by batch.
    let message = pb::ExportDonationDataRequest { donation_id: env.id, row_format: json, ..Default::default() };
    let mut stream = client.export_donation_data(with_bearer(message, &env.owner)).await.unwrap().into_inner();
    let mut exported = Vec::new();
    while let Some(batch) = stream.message().await.unwrap() {
        assert!(batch.rows.is_empty() && !batch.json_rows.is_empty() && batch.json_rows.len() <= 1_000);
        if batch.data_type == "search" {
            exported.extend(batch.json_rows);
        }
    }
    assert_eq!(exported, texts);

    // Asked for JSON lines: the same texts, one newline-delimited text a batch.
    let message =
        pb::ExportDonationDataRequest { donation_id: env.id, row_format: json, json_lines: true, ..Default::default() };
    let mut stream = client.export_donation_data(with_bearer(message, &env.owner)).await.unwrap().into_inner();
    let mut lines = Vec::new();
    while let Some(batch) = stream.message().await.unwrap() {
        assert!(batch.rows.is_empty() && batch.json_rows.is_empty(), "the rows come as lines only");
        let text = String::from_utf8(batch.json_lines).unwrap();
        assert!(text.ends_with('\n'), "each row ends with a newline");
        let batch_lines: Vec<String> = text.lines().map(str::to_owned).collect();
        assert!(!batch_lines.is_empty() && batch_lines.len() <= 1_000);
        if batch.data_type == "search" {
            lines.extend(batch_lines);
        }
    }
    assert_eq!(lines, texts);

    // A format this server does not know is refused, not answered in another.
    let request = pb::QueryDonationDataRequest {
        donation_id: env.id,
        data_type: "search".into(),
        row_format: 7,
        ..Default::default()
    };
    let refused = client.query_donation_data(with_bearer(request, &env.owner)).await.unwrap_err();
    assert_eq!(refused.code(), Code::InvalidArgument);
    assert!(refused.message().contains("row_format"), "{}", refused.message());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn date_filters_keep_the_whole_end_day_and_drop_undated_rows_like_the_query() {
    let env = Env::start().await;
    let all = env.query("discover", ("", "")).await;
    let mut days: Vec<String> = all.iter().filter_map(|r| string(r, "timestamp")).map(|t| t[..10].to_owned()).collect();
    days.sort();
    let (start, end) = (days[days.len() / 4].clone(), days[days.len() * 3 / 4].clone());

    let window = by_type(env.export(Some(&env.owner), "discover", (&start, &end)).await.unwrap());
    let queried = env.query("discover", (&start, &end)).await;
    assert_eq!(window.len(), 1);
    assert!(window[0].1 == queried, "the same rows as the query with the same window");
    let inside = days.iter().filter(|d| **d >= start && **d <= end).count();
    assert_eq!(window[0].1.len(), inside, "every row of {start}..={end}, the end day included");
    assert!(window[0].1.iter().all(|r| string(r, "timestamp").is_some_and(|t| t[..10] >= *start && t[..10] <= *end)));

    // Only a start (or only an end): still no undated rows.
    let from = by_type(env.export(Some(&env.owner), "discover", (&start, "")).await.unwrap());
    assert!(from[0].1 == env.query("discover", (&start, "")).await);
    assert!(from[0].1.iter().all(|r| string(r, "timestamp").is_some()));

    // A window with no rows exports nothing.
    assert!(env.export(Some(&env.owner), "", ("1990-01-01", "1990-12-31")).await.unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exports_are_refused_like_queries() {
    let env = Env::start().await;

    // An admin sees every donation.
    let admin = env.app.db.token("root@example.org", Some(Role::Admin)).await;
    let exported = by_type(env.export(Some(&admin), "search", ("", "")).await.unwrap());
    assert!(exported[0].1 == env.query("search", ("", "")).await);

    // Another researcher: as if it did not exist; so is an id that does not.
    let other = env.app.db.token("other@example.org", Some(Role::Researcher)).await;
    let refused = env.export(Some(&other), "", ("", "")).await.unwrap_err();
    assert_eq!(refused.code(), Code::NotFound, "{refused:?}");
    let request = pb::ExportDonationDataRequest { donation_id: env.id + 1000, ..Default::default() };
    let missing = env.client().await.export_donation_data(with_bearer(request, &env.owner)).await.unwrap_err();
    assert_eq!(missing.code(), Code::NotFound);

    // No credential, or one that is not valid.
    assert_eq!(env.export(None, "", ("", "")).await.unwrap_err().code(), Code::Unauthenticated);
    assert_eq!(env.export(Some("not-a-token"), "", ("", "")).await.unwrap_err().code(), Code::Unauthenticated);

    // Bad dates, reversed dates and a type the source does not have.
    let bad = env.export(Some(&env.owner), "", ("2024-02-30", "")).await.unwrap_err();
    assert_eq!(bad.code(), Code::InvalidArgument);
    assert!(bad.message().contains("start_date") && bad.message().contains("YYYY-MM-DD"), "{}", bad.message());
    let reversed = env.export(Some(&env.owner), "", ("2024-03-01", "2024-02-01")).await.unwrap_err();
    assert_eq!(reversed.code(), Code::InvalidArgument);
    assert_eq!(reversed.message(), "start_date must not be after end_date.");
    let unknown = env.export(Some(&env.owner), "watch_history", ("", "")).await.unwrap_err();
    assert_eq!(unknown.code(), Code::InvalidArgument);
    assert!(unknown.message().contains("\"watch_history\" is not a data type of google_portability"), "{unknown:?}");
    // The other researcher learns nothing from a bad type either.
    let hidden = env.export(Some(&other), "watch_history", ("", "")).await.unwrap_err();
    assert_eq!(hidden.code(), Code::NotFound);
}

/// Each stopped export would keep a pooled connection if its producer did
/// not notice: with a pool of three, the sixth export would then wait for a
/// connection and fail UNAVAILABLE.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_stops_reading_gives_the_connection_back() {
    let env = Env::start_with(&[("STEWARD_DB_POOL_SIZE", "3"), ("STEWARD_DB_POOL_TIMEOUT", "3s")]).await;
    for _ in 0..6 {
        let message = pb::ExportDonationDataRequest { donation_id: env.id, ..Default::default() };
        let mut stream =
            env.client().await.export_donation_data(with_bearer(message, &env.owner)).await.unwrap().into_inner();
        let first = stream.message().await.unwrap().unwrap();
        assert_eq!((first.data_type.as_str(), first.rows.len()), ("youtube_history", 1_000));
        drop(stream);
    }
    let all = by_type(env.export(Some(&env.owner), "", ("", "")).await.unwrap());
    assert_eq!(all.iter().map(|(t, _)| t.as_str()).collect::<Vec<_>>(), AVAILABLE);
}
