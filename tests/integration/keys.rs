//! Key rotation as docs/DEPLOY.md describes it: data made under one key;
//! every process restarted with `new,old`; `steward keys reseal` while the
//! server runs; then a server with the new key alone reads everything back.
//! And what re-sealing must never do: overwrite a value a server changed
//! meanwhile, or touch a value it cannot open.

use std::process::Output;
use std::time::Duration;

use diesel::{ExpressionMethods as _, QueryDsl as _};
use diesel_async::RunQueryDsl as _;
use steward::crypto::Keyring;
use steward::db::schema::{donation_keys, donations, provider_releases};
use steward::proto::donation::v1::DeleteDonationRequest;
use steward::proto::donation::v1::donation_service_client::DonationServiceClient;
use steward::proto::upload::v1 as upload_pb;
use steward::rotation::{self, PLACES, store};

use crate::backup::{DATA_TYPE, download, make_data, start, uploads};
use crate::common::donation::{legacy_create, query_rows};
use crate::common::participant::{Browser, shown_link};
use crate::common::{TestApp, TestDb, scratch_dir, steward_command, with_bearer};

fn keys(db_url: &str, keyring: &str, command: &str) -> Output {
    steward_command(db_url, "keys-cli")
        .args(["keys", command])
        .env("STEWARD_ENCRYPTION_KEYS", keyring)
        .output()
        .expect("running steward")
}

fn text(output: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr))
}

/// Values sealed with `key_id` per place (places with none left out).
async fn sealed_with(app: &TestApp, key_id: &str) -> Vec<(&'static str, i64)> {
    let usage = rotation::usage(&mut *app.db.conn().await).await.unwrap();
    let key = Some(key_id.to_owned());
    usage.places.iter().filter_map(|(place, counts)| counts.get(&key).map(|n| (*place, *n))).collect()
}

/// Waits (up to a minute) until donation `id` is at `stage`.
async fn wait_for_stage(app: &TestApp, id: i32, stage: &str) {
    for _ in 0..600 {
        let now: String =
            donations::table.find(id).select(donations::stage).first(&mut app.db.conn().await).await.unwrap();
        if now == stage {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("donation {id} did not reach {stage}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_reseal_the_old_key_can_leave_the_keyring() {
    let (old, new) = (Keyring::generate(), Keyring::generate());
    let (old_id, new_id) = (old.current_key_id().to_owned(), new.current_key_id().to_owned());
    let data_dir = scratch_dir("keys-rotation");
    let app = start(TestDb::new().await, &old.to_spec(), &data_dir).await;
    let made = make_data(&app).await;
    // A second participant keeps the status page open (its token is sealed
    // for it) and the donation's provider grant is released after the rotation.
    let body = serde_json::json!({
        "source_type": "google_portability",
        "data_start_date": "2020-01-01",
        "data_end_date": "2030-12-31",
        "requested_data_types": [DATA_TYPE],
    });
    let (second, link, _) = legacy_create(app.channel().await, &made.researcher, &body).await;
    let mut browser = Browser::new(app.url());
    let page = browser.consent(&link).await;
    let authorize = browser.authorize(&page).await;
    // Google never finishes the export, so the grant's tokens stay sealed.
    let callback = browser.at_google(&authorize, "allow", &[("failure", "never_ready")]).await;
    assert_eq!(browser.get(&callback).await.status, 302);
    let participant_link = shown_link(&browser.get("/donate/").await).expect("the participant link is shown");
    wait_for_stage(&app, second, "waiting_for_provider").await;

    let before = sealed_with(&app, &old_id).await;
    let places: Vec<&str> = before.iter().map(|(place, _)| *place).collect();
    for place in [
        "donation data keys",
        "provider tokens",
        "participant status tokens",
        "server secrets",
        "uploaded file data keys",
    ] {
        assert!(places.contains(&place), "the data made seals {place} with the old key: {before:?}");
    }
    let db = app.stop().await;

    // The rotation: every process on `new,old`, then the re-seal while serving.
    let both = format!("{},{}", new.to_spec(), old.to_spec());
    let app = start(db, &both, &data_dir).await;
    let usage = keys(app.db.url(), &both, "usage");
    assert!(usage.status.success(), "{}", text(&usage));
    assert!(text(&usage).contains(&format!("{old_id} still seals")), "{}", text(&usage));
    let resealed = keys(app.db.url(), &both, "reseal");
    let out = text(&resealed);
    assert!(resealed.status.success(), "{out}");
    let data_keys = before.iter().find(|(place, _)| *place == "donation data keys").unwrap().1;
    assert!(out.contains(&format!("donation data keys: {data_keys} re-sealed")), "{out}");
    assert!(out.contains(&format!("{old_id} seals nothing in the database")), "{out}");
    assert_eq!(sealed_with(&app, &old_id).await, vec![], "nothing is left under the old key");
    let total: i64 = before.iter().map(|(_, n)| n).sum();
    let now: i64 = sealed_with(&app, &new_id).await.iter().map(|(_, n)| n).sum();
    assert_eq!(now, total, "every value moved to the new key, none was lost");
    let again = keys(app.db.url(), &both, "reseal");
    assert!(text(&again).contains("donation data keys: 0 re-sealed"), "{}", text(&again));
    let key_ids: Vec<String> =
        donation_keys::table.select(donation_keys::key_id).load(&mut app.db.conn().await).await.unwrap();
    assert!(key_ids.iter().all(|id| *id == new_id), "the key id columns follow: {key_ids:?}");
    let db = app.stop().await;

    // The old key is gone: everything still opens.
    let app = start(db, &new.to_spec(), &data_dir).await;
    let rows = query_rows(app.channel().await, &made.researcher, made.donation_id, DATA_TYPE).await;
    assert_eq!(rows, made.rows, "the donation's rows open through its re-sealed data key");
    let bytes = download(app.channel().await, &made.file_id, &made.researcher).await.unwrap();
    assert_eq!(bytes, made.file_bytes, "the file opens through its re-sealed data key");
    // The upload code is checked against the re-sealed pepper.
    let create = upload_pb::CreateUploadRequest {
        dropoff_id: made.dropoff_id.clone(),
        upload_code: made.upload_code.clone(),
        name: "after-rotation.txt".into(),
        size: 5,
        content_type: "text/plain".into(),
        ..Default::default()
    };
    uploads(app.channel().await).create_upload(create).await.expect("the upload code still works");
    browser.base = app.url();
    let token = |link: &str| link.rsplit("/participant/").next().map(str::to_owned);
    let shown = shown_link(&browser.get("/donate/").await).expect("the status page shows the participant link");
    assert_eq!(token(&shown), token(&participant_link), "the status page opens the participant token");
    // Releasing provider access opens the grant's re-sealed tokens.
    let delete = DeleteDonationRequest { donation_id: i64::from(second) };
    DonationServiceClient::new(app.channel().await)
        .delete_donation(with_bearer(delete, &made.researcher))
        .await
        .unwrap();
    let mut state = String::new();
    for _ in 0..300 {
        state = provider_releases::table
            .filter(provider_releases::donation_id.eq(second))
            .select(provider_releases::state)
            .first(&mut app.db.conn().await)
            .await
            .unwrap();
        if state != "pending" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(state, "released", "the provider tokens opened and access was given back");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reseal_keeps_what_a_server_changed_and_what_it_cannot_open() {
    let old = Keyring::generate();
    let data_dir = scratch_dir("keys-refusals");
    let app = start(TestDb::new().await, &old.to_spec(), &data_dir).await;
    let researcher = app.db.token("res@example.org", Some(steward::auth::Role::Researcher)).await;
    let body = serde_json::json!({
        "source_type": "google_portability",
        "data_start_date": "2020-01-01",
        "data_end_date": "2030-12-31",
        "requested_data_types": [DATA_TYPE],
    });
    let (first, _, _) = legacy_create(app.channel().await, &researcher, &body).await;
    let (second, _, _) = legacy_create(app.channel().await, &researcher, &body).await;
    let db = app.stop().await;
    let mut conn = db.conn().await;
    let wrapped = |id: i32| donation_keys::table.find(id).select(donation_keys::wrapped_key);

    // A server re-wrote the first key between the re-seal's read and its write.
    let new = Keyring::parse(&format!("{},{}", Keyring::generate().to_spec(), old.to_spec())).unwrap();
    let place = &PLACES[0];
    assert_eq!(place.name, "donation data keys");
    let rows = store::stale_rows(&mut conn, place, new.current_key_id(), None, 10).await.unwrap();
    assert_eq!(rows.len(), 2);
    let changed: Vec<u8> = wrapped(second).first(&mut conn).await.unwrap();
    diesel::update(donation_keys::table.find(first))
        .set(donation_keys::wrapped_key.eq(&changed))
        .execute(&mut conn)
        .await
        .unwrap();
    let replaced =
        store::replace_if_unchanged(&mut conn, place, &rows[0], [Some(vec![1, 2, 3]), None], "x").await.unwrap();
    assert!(!replaced, "a value changed since it was read is not overwritten");
    assert_eq!(wrapped(first).first::<Vec<u8>>(&mut conn).await.unwrap(), changed);

    // A keyring without the old key opens neither; both rows are reported and kept.
    let stranger = Keyring::generate();
    let report = rotation::reseal(&mut conn, &stranger).await.unwrap();
    let keys_report = &report[0];
    assert_eq!(keys_report.resealed, 0);
    let unreadable: Vec<&str> = keys_report.unreadable.iter().map(|(pk, _)| pk.as_str()).collect();
    assert_eq!(unreadable, vec![first.to_string(), second.to_string()]);
    assert!(keys_report.unreadable[1].1.to_string().contains(old.current_key_id()), "{:?}", keys_report.unreadable);
    assert_eq!(wrapped(second).first::<Vec<u8>>(&mut conn).await.unwrap(), changed, "left as it was");
    drop(conn);

    // The command says so and fails.
    let output = keys(db.url(), &stranger.to_spec(), "reseal");
    assert!(!output.status.success());
    let out = text(&output);
    assert!(out.contains("rows do not open with this keyring"), "{out}");
    assert!(out.contains(&format!("sealed with {}, which is not in the keyring", old.current_key_id())), "{out}");
}

/// A sealed column left out of `rotation::PLACES` would keep its old key
/// forever: every column named like one must be listed, or be named here
/// with what seals it instead.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_sealed_column_is_in_the_rotation_list() {
    #[derive(diesel::QueryableByName)]
    struct Column {
        #[diesel(sql_type = diesel::sql_types::Text)]
        table_name: String,
        #[diesel(sql_type = diesel::sql_types::Text)]
        column_name: String,
    }
    // Sealed with a donation's data key, which is itself in the list.
    let by_data_keys = [("donation_rows", "sealed")];
    let db = TestDb::new().await;
    let columns: Vec<Column> = diesel::sql_query(
        "SELECT table_name::text AS table_name, column_name::text AS column_name FROM information_schema.columns \
         WHERE table_schema = 'public' AND data_type = 'bytea' \
         AND (column_name LIKE '%sealed%' OR column_name LIKE '%wrapped%') ORDER BY 1, 2",
    )
    .load(&mut db.conn().await)
    .await
    .unwrap();
    let listed: Vec<(&str, &str)> = PLACES.iter().flat_map(|place| place.columns()).collect();
    let missing: Vec<String> = columns
        .iter()
        .map(|c| (c.table_name.as_str(), c.column_name.as_str()))
        .filter(|column| !listed.contains(column) && !by_data_keys.contains(column))
        .map(|(table, column)| format!("{table}.{column}"))
        .collect();
    assert_eq!(missing, Vec::<String>::new(), "sealed columns that `steward keys reseal` would leave behind");
    assert!(columns.len() > listed.len(), "the query finds the listed columns too");
}
