//! The participant's return (issue 8, spec donation.md §3.2–3.6): one
//! participant donates to two studies of two researchers, one through
//! Google and one through TikTok, and with the participant link alone later
//! sees both donations on one page and deletes one without touching the other.

use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use steward::auth::Role;
use steward::crypto::Keyring;
use steward::db::schema::donations;
use steward::proto::donation::v1 as pb;
use steward::proto::donation::v1::donation_service_client::DonationServiceClient;

use crate::common::donation::{row_counts, wait_for_status};
use crate::common::participant::{Browser, shown_link};
use crate::common::{TestApp, TestDb, with_bearer};

/// A donation of `types` from `source`, created by `researcher`: its id and link token.
async fn create(app: &TestApp, researcher: &str, source: pb::DonationSource, types: &[&str]) -> (i32, String) {
    let request = pb::CreateDonationRequest {
        source: source.into(),
        requested_data_types: types.iter().map(|t| (*t).to_owned()).collect(),
        description: "A study of everyday media use.".into(),
        ..Default::default()
    };
    let mut client = DonationServiceClient::new(app.channel().await);
    let created = client.create_donation(with_bearer(request, researcher)).await.unwrap().into_inner();
    (created.donation.unwrap().id as i32, created.token)
}

async fn participant_of(app: &TestApp, id: i32) -> Option<i64> {
    donations::table
        .find(id)
        .select(donations::participant_id)
        .first::<Option<i64>>(&mut app.db.conn().await)
        .await
        .unwrap()
}

/// Spec §3.2 "participant home": across studies and providers on one page,
/// each donation deleted on its own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_participant_link_lists_donations_of_both_providers_and_deletes_each_on_its_own() {
    let keyring = Keyring::generate().to_spec();
    let vars = [
        ("STEWARD_ENCRYPTION_KEYS", keyring.as_str()),
        ("STEWARD_WORKERS", "1"),
        ("STEWARD_DONATION_POLL_SCHEDULE", "1s"),
        ("STEWARD_SANDBOX_DEFAULT_SCENARIO", "persona=tiny"),
    ];
    let (app, _config) = TestApp::start_with(TestDb::new().await, &vars).await;
    let first_lab = app.db.token("lab-one@example.org", Some(Role::Researcher)).await;
    let second_lab = app.db.token("lab-two@example.org", Some(Role::Researcher)).await;
    let (google, google_token) =
        create(&app, &first_lab, pb::DonationSource::GooglePortability, &["youtube_history"]).await;
    let (tiktok, tiktok_token) =
        create(&app, &second_lab, pb::DonationSource::TiktokPortability, &["watch_history", "likes"]).await;

    // Both donations from one browser: the first sign-in creates the
    // participant, the second donation joins it.
    let mut laptop = Browser::new(app.url());
    let page = laptop.consent(&google_token).await;
    let url = laptop.authorize(&page).await;
    let callback = laptop.at_google(&url, "allow", &[]).await;
    assert_eq!(laptop.get(&callback).await.location(), "/donate/");
    let link = shown_link(&laptop.get("/donate/").await).expect("the first sign-in shows the participant link");
    let page = laptop.consent(&tiktok_token).await;
    let url = laptop.authorize(&page).await;
    assert_eq!(url.path(), "/sandbox/tiktok/v2/auth/authorize/");
    let callback = laptop.at_tiktok(&url, "allow", &[]).await;
    assert_eq!(laptop.get(&callback).await.location(), "/donate/");
    let participant = participant_of(&app, google).await.expect("a participant");
    assert_eq!(participant_of(&app, tiktok).await, Some(participant));
    wait_for_status(&app.db, google, "processed", 120).await;
    wait_for_status(&app.db, tiktok, "processed", 120).await;

    // Later, on another device, the participant link alone lists both.
    let mut phone = Browser::new(app.url());
    let path = link.trim_start_matches(&app.url()).to_owned();
    assert_eq!(phone.get(&path).await.location(), "/participant/");
    let home = phone.get("/participant/").await;
    assert_eq!(home.status, 200);
    for (id, provider) in [(google, "Google data"), (tiktok, "TikTok data")] {
        assert!(home.body.contains(provider), "{provider} missing: {}", home.body);
        assert!(home.body.contains(&format!("/participant/select/{id}/?next=data")), "{}", home.body);
        assert!(home.body.contains(&format!("/participant/select/{id}/?next=revoke")), "{}", home.body);
    }

    // Deleting the TikTok donation leaves the Google one and its rows alone.
    let google_rows = row_counts(&app.db, google).await;
    assert!(!google_rows.is_empty());
    assert_eq!(phone.get(&format!("/participant/select/{tiktok}/?next=revoke")).await.location(), "/donate/revoke/");
    let confirm = phone.get("/donate/revoke/").await;
    assert_eq!(confirm.status, 200, "{}", confirm.body);
    let deleted = phone.post("/donate/revoke/", &[("csrf", &Browser::csrf(&confirm))]).await;
    assert_eq!(deleted.status, 200, "{}", deleted.body);
    assert!(deleted.body.contains("Your donation has been deleted"), "{}", deleted.body);
    let left: Vec<i32> = donations::table.select(donations::id).load(&mut app.db.conn().await).await.unwrap();
    assert_eq!(left, [google]);
    assert_eq!(row_counts(&app.db, google).await, google_rows);
    let home = phone.get("/participant/").await;
    assert!(home.body.contains("Google data") && !home.body.contains("TikTok data"), "{}", home.body);
    assert!(!home.body.contains(&format!("/participant/select/{tiktok}/")));
    assert_eq!(phone.get(&format!("/participant/select/{tiktok}/")).await.status, 404);
    assert_eq!(Browser::new(app.url()).get(&format!("/donate/{tiktok_token}/")).await.status, 404);
}
