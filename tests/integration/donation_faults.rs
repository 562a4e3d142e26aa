//! Fault injection against the sandbox Google provider (spec donation.md
//! §1.4, §4.1, §4.6, §5.9; scenarios 89, 91, 93, 103): a network outage in the
//! middle of the polls (connections refused, then left unanswered until the
//! client's timeout) staged with a TCP proxy between Steward and the sandbox;
//! 5xx answers within and beyond the attempt budget and a download broken off
//! halfway; consent revoked at the provider; a malformed member; and a
//! donation stuck past `STEWARD_DONATION_MAX_PROCESSING`. Each ends in the
//! state the spec names, what the researcher reads says why, and nothing that
//! could be kept is lost: every generated in-window record of a type that
//! succeeded is a row, once.

use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use steward::db::schema::{archive_parts, donations, jobs, provider_exports};
use steward::donation::catalogue::Source;
use steward::donation::participant::view::failure_text;
use steward::donation::processing::{download, export, parse, poll};
use steward::donation::sandbox::{Failure, Persona, Scenario};
use steward::proto::donation::v1 as pb;

use crate::common::donation::{self, tiny};
use crate::common::proxy::TcpProxy;
use crate::donation_workers::{Deployment, SEARCH, YOUTUBE};

/// GetDonation of a donation that failed: asserts its status `error` and
/// stage `failed`; the donation and its error.
async fn failed(env: &Deployment, id: i32) -> (pb::Donation, pb::DonationError) {
    let got = env.get(id).await;
    assert_eq!((got.status(), got.stage()), (pb::DonationStatus::Error, pb::DonationStage::Failed));
    let error = got.error.clone().unwrap();
    (got, error)
}

/// Asserts that the donation holds exactly the sandbox's in-window records
/// of `types` as rows, that GetDonation reports each as available with that
/// count, and that QueryDonationData returns them all.
async fn assert_nothing_lost(env: &Deployment, id: i32, scenario: &Scenario, types: &[&str]) {
    let expected = env.manifest(id, scenario, types).await;
    assert_eq!(expected.len(), types.len(), "every type has records: {expected:?}");
    assert_eq!(env.row_counts(id).await, expected, "every generated record is a row, once");
    let got = env.get(id).await;
    for (data_type, rows) in &expected {
        let status = &got.data_types[data_type];
        assert_eq!((status.state(), status.rows), (pb::DataTypeState::Available, *rows), "{data_type}");
        assert_eq!(env.query(id, data_type).await.len() as i64, *rows, "{data_type}: queryable");
    }
}

/// Scenario 84 under an outage: the sandbox is reached through a proxy
/// (`STEWARD_SANDBOX_INTERNAL_URL`). While the export is being polled the
/// proxy first refuses connections, then accepts them and never answers
/// until Steward's client gives up. The donation stays `processing`, the poll
/// job backs off with its failed attempts recorded, and once the provider is
/// reachable again the donation completes with every record.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outage_while_polling_backs_off_and_then_completes_with_nothing_lost() {
    let proxy = TcpProxy::start().await;
    let internal = format!("{}/sandbox", proxy.url());
    let env = Deployment::start(&[("STEWARD_WORKERS", "2"), ("STEWARD_SANDBOX_INTERNAL_URL", &internal)]).await;
    proxy.upstream(env.app.addr);
    let types = ["youtube_history", "search"];
    let id = env.create(&types).await;
    let scenario = tiny()
        .persona(Persona::Small)
        .failure(Failure::SlowArchive { polls: 3 })
        .failure(Failure::MultiPart { parts: 2 });
    env.sign_in(id, &scenario, &[YOUTUBE, SEARCH]).await;
    env.until("the first poll", 60, async || env.status(id).await.1 == "waiting_for_provider").await;
    let state_calls = async || env.calls("/sandbox/google/v1/archiveJobs/").await.len();

    // Connection refused: each poll attempt fails after its immediate
    // retries, and the queue retries it later.
    proxy.refuse().await;
    let poll_attempts = async || -> i32 {
        jobs::table
            .filter(jobs::kind.eq("donation.poll"))
            .filter(jobs::state.eq("queued"))
            .filter(jobs::last_error.is_not_null())
            .select(diesel::dsl::max(jobs::attempts))
            .first::<Option<i32>>(&mut env.app.db.conn().await)
            .await
            .unwrap()
            .unwrap_or(0)
    };
    env.until("two failed poll attempts", 120, async || poll_attempts().await >= 2).await;
    let failed = env.events(id).await;
    let failed: Vec<_> = failed.iter().filter(|e| e.0 == "attempt_failed").collect();
    assert!(failed.len() >= 2, "{failed:?}");
    assert!(failed.iter().all(|e| e.1["class"] == "transient" && e.1["step"] == "archive state"), "{failed:?}");
    assert_eq!(env.status(id).await.0, "processing");
    // (A call that was under way when the outage began has finished by now.)
    let reached_before = state_calls().await;
    let (run_at, last_error): (chrono::DateTime<chrono::Utc>, Option<String>) = jobs::table
        .filter(jobs::kind.eq("donation.poll"))
        .select((jobs::run_at, jobs::last_error))
        .first(&mut env.app.db.conn().await)
        .await
        .unwrap();
    assert!(last_error.is_some_and(|e| !e.is_empty()));
    assert!(run_at > chrono::Utc::now() - chrono::TimeDelta::seconds(60), "the retry is scheduled");

    // Connections accepted but never answered: the client's timeout ends the call.
    proxy.hold().await;
    env.until("a call timed out", 180, async || proxy.given_up() >= 1).await;
    assert_eq!(env.status(id).await.0, "processing");
    assert!(env.failed_jobs().await.is_empty(), "nothing gave up: {:?}", env.failed_jobs().await);
    assert_eq!(state_calls().await, reached_before, "no call reached the provider during the outage");

    proxy.forward().await;
    env.wait_for_status(id, "processed", 240).await;
    assert_nothing_lost(&env, id, &scenario, &types).await;
    assert_eq!(env.count_events(id, "export_requested").await, 2);
    assert_eq!(env.count_events(id, "part_downloaded").await, 4, "each part committed once");
    assert!(env.parts(id).await.iter().all(|p| p.1 == "parsed"));
}

/// Scenarios 91 and 93: 503s from the provider within the attempt budget
/// and a download that breaks off halfway still end `processed` with every
/// record once; 503s beyond the budget end in `provider_unavailable`, which
/// the researcher reads and RetryDonation completes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_errors_and_a_broken_download_within_the_budget_complete_and_beyond_it_a_retry_does() {
    let env = Deployment::start(&[("STEWARD_WORKERS", "2"), ("STEWARD_DONATION_MAX_ATTEMPTS", "2")]).await;

    // The first attempt's initiate and its two immediate retries answer 503.
    let types = ["youtube_history", "search"];
    let id = env.create(&types).await;
    let scenario = tiny()
        .persona(Persona::Small)
        .failure(Failure::ServerError { n: 3 })
        .failure(Failure::TruncatedDownload)
        .failure(Failure::MultiPart { parts: 2 });
    env.sign_in(id, &scenario, &[YOUTUBE, SEARCH]).await;
    env.wait_for_status(id, "processed", 120).await;
    assert_nothing_lost(&env, id, &scenario, &types).await;
    let events = env.events(id).await;
    let attempts: Vec<_> = events.iter().filter(|e| e.0 == "attempt_failed").collect();
    assert_eq!(attempts.len(), 1, "{events:?}");
    assert_eq!((&attempts[0].1["class"], &attempts[0].1["step"]), (&"transient".into(), &"initiate".into()));
    let downloaded: Vec<_> = events.iter().filter(|e| e.0 == "part_downloaded").collect();
    assert_eq!(downloaded.len(), 4, "each part committed once");
    assert_eq!(downloaded.iter().filter(|e| e.1["resumed"] == 1).count(), 1, "the broken download was resumed");

    // Six 503s: both attempts fail, the export fails for good.
    let id = env.create(&["youtube_history"]).await;
    let scenario = tiny().persona(Persona::Small).failure(Failure::ServerError { n: 7 });
    env.sign_in(id, &scenario, &[YOUTUBE]).await;
    env.wait_for_status(id, "error", 120).await;
    let got = env.get(id).await;
    let error = got.error.clone().unwrap();
    assert_eq!(error.code, "provider_unavailable");
    assert!((error.researcher_can_retry, error.participant_can_fix) == (true, false), "{error:?}");
    assert!(error.message.starts_with("youtube_history: provider_unavailable ("), "{}", error.message);
    let status = &got.data_types["youtube_history"];
    assert_eq!((status.state(), status.reason_code.as_str()), (pb::DataTypeState::Failed, "provider_unavailable"));
    assert_eq!(env.count_events(id, "attempt_failed").await, 1, "the last attempt fails the export instead");
    assert_eq!(
        failure_text(Source::Google, &error.code),
        "We could not reach Google for a long time. The research team can try again."
    );
    // The seventh call fails once more and is repeated at once.
    let retried = env.retry(id).await.unwrap();
    assert_eq!(retried.status(), pb::DonationStatus::Processing);
    env.wait_for_status(id, "processed", 120).await;
    assert_nothing_lost(&env, id, &scenario, &["youtube_history"]).await;
    let initiates = env.calls("/sandbox/google/v1/portabilityArchive:initiate").await;
    let answered: Vec<i32> = initiates.iter().map(|c| c.1).filter(|s| *s == 200).collect();
    assert_eq!(answered.len(), 3, "one accepted initiate per group of both donations: {initiates:?}");
}

/// Scenario 89 at the researcher's end: consent revoked at the provider
/// while the exports are polled ends the donation in `error` with
/// `provider_access_lost` on every type; GetDonation says the participant
/// can fix it by signing in again and the researcher cannot retry, and
/// RetryDonation says so too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consent_revoked_at_the_provider_loses_access_with_what_to_do_about_it() {
    let env = Deployment::start(&[("STEWARD_WORKERS", "2")]).await;
    let types = ["youtube_history", "search"];
    let id = env.create(&types).await;
    // Both initiates succeed; every call from the first poll on is refused.
    let scenario = tiny().failure(Failure::RevokedConsent { after: 3 }).failure(Failure::SlowArchive { polls: 1 });
    env.sign_in(id, &scenario, &[YOUTUBE, SEARCH]).await;
    env.wait_for_status(id, "error", 120).await;

    let (got, error) = failed(&env, id).await;
    assert_eq!(error.code, "provider_access_lost");
    assert!((error.participant_can_fix, error.researcher_can_retry) == (true, false), "{error:?}");
    for data_type in types {
        assert!(
            error.message.contains(&format!(
                "{data_type}: provider_access_lost (access ended before every part was downloaded; needs the \
                 participant to sign in again)"
            )),
            "{}",
            error.message
        );
        let status = &got.data_types[data_type];
        assert_eq!((status.state(), status.reason_code.as_str()), (pb::DataTypeState::Failed, "provider_access_lost"));
    }
    assert_eq!(
        failure_text(Source::Google, &error.code),
        "Access to your Google account ended before we could collect your data. Please sign in again."
    );
    // (Each export's poll that met the refusal records it; both may run at once.)
    assert!(env.count_events(id, "provider_access_lost").await >= 1);
    let refused = env.retry(id).await.unwrap_err();
    assert_eq!(refused.code(), tonic::Code::FailedPrecondition);
    assert!(refused.message().contains("needs the participant to sign in again"), "{}", refused.message());
    assert_eq!(env.calls("/sandbox/google/v1/portabilityArchive:initiate").await.len(), 2);
    assert!(env.calls("/sandbox/google/storage/").await.is_empty(), "nothing was downloaded");
    assert_eq!(env.row_counts(id).await, []);
}

/// Scenario 103 end to end: a malformed member fails its own type only. The
/// other type of the same export and the type of the other export are
/// available with every record, GetDonation shows each type's state and the
/// failed one's reason, and the error message names the member.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_malformed_member_fails_only_its_type_and_each_type_state_is_visible() {
    let env = Deployment::start(&[("STEWARD_WORKERS", "2")]).await;
    let types = ["youtube_history", "search", "google_lens"];
    let id = env.create(&types).await;
    let search = Source::Google.data_type("search").unwrap();
    let scenario = tiny().persona(Persona::Small).failure(Failure::MalformedJson { data_type: search });
    env.sign_in(id, &scenario, &[YOUTUBE, SEARCH]).await;
    env.wait_for_status(id, "error", 120).await;

    let got = env.get(id).await;
    let error = got.error.clone().unwrap();
    assert_eq!(error.code, "archive_invalid");
    assert!((error.researcher_can_retry, error.participant_can_fix) == (true, false), "{error:?}");
    assert!(error.message.starts_with("search: archive_invalid ("), "{}", error.message);
    assert!(error.message.contains("My Activity/Search/MyActivity.json"), "{}", error.message);
    let state = |t: &str| (got.data_types[t].state(), got.data_types[t].reason_code.clone());
    assert_eq!(state("search"), (pb::DataTypeState::Failed, "archive_invalid".to_owned()));
    assert_eq!(state("youtube_history"), (pb::DataTypeState::Available, String::new()));
    assert_eq!(state("google_lens"), (pb::DataTypeState::Available, String::new()));
    assert_nothing_lost(&env, id, &scenario, &["youtube_history", "google_lens"]).await;
    assert_eq!(env.query(id, "search").await, Vec::<String>::new(), "no row of the failed type is shown");
}

/// Spec §1.4 "never `processing` forever" with `STEWARD_DONATION_MAX_PROCESSING`
/// set short: one donation's search part was stored but its parse job died,
/// and another donation's `start_export` job died. Past the deadline the
/// periodic check fails both with `internal`: the stuck types fail with the
/// state they were stuck in, the type whose part was parsed keeps its rows
/// and becomes available, the researcher reads the stage and the types, an
/// event records it, and RetryDonation then finishes the first one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn donations_stuck_past_the_processing_deadline_fail_with_internal_and_keep_what_was_parsed() {
    let deadlines = [("STEWARD_EXPORT_MAX_WAIT", "10s"), ("STEWARD_DONATION_MAX_PROCESSING", "15s")];
    let env = Deployment::start(&deadlines).await;
    let types = ["youtube_history", "search", "google_lens"];

    // Exported, both parts stored, the youtube part parsed; the search
    // part's parse job is dead.
    let id = env.create(&types).await;
    let scenario = tiny().persona(Persona::Small);
    env.sign_in(id, &scenario, &[YOUTUBE, SEARCH]).await;
    let p = &env.processing;
    export::start_export(p, &mut *env.app.db.conn().await, id, false).await.unwrap();
    let exports: Vec<(i64, String)> = provider_exports::table
        .filter(provider_exports::donation_id.eq(id))
        .select((provider_exports::id, provider_exports::resource))
        .load(&mut env.app.db.conn().await)
        .await
        .unwrap();
    for (export_id, _) in &exports {
        env.until("the export is ready", 30, async || {
            poll::poll(p, &mut *env.app.db.conn().await, *export_id, false).await.unwrap();
            let state: String = provider_exports::table
                .find(export_id)
                .select(provider_exports::state)
                .first(&mut env.app.db.conn().await)
                .await
                .unwrap();
            state == "complete"
        })
        .await;
    }
    let mut search_part = 0;
    for (export_id, resource) in &exports {
        let part: i64 = archive_parts::table
            .filter(archive_parts::export_id.eq(export_id))
            .select(archive_parts::id)
            .first(&mut env.app.db.conn().await)
            .await
            .unwrap();
        assert!(download::download(p, &mut *env.app.db.conn().await, part, false).await.unwrap());
        if resource == YOUTUBE {
            assert!(parse::parse(p, &mut *env.app.db.conn().await, env.app.db.url(), part).await.unwrap());
        } else {
            search_part = part;
        }
    }
    // The steps run here are not left for the workers; the search parse is dead.
    let mut conn = env.app.db.conn().await;
    diesel::delete(jobs::table.filter(jobs::dedup_key.ne(format!("parse:{search_part}"))))
        .execute(&mut conn)
        .await
        .unwrap();
    diesel::update(jobs::table).set(jobs::state.eq("failed")).execute(&mut conn).await.unwrap();
    drop(conn);
    assert_eq!(env.status(id).await, ("processing".into(), "parsing".into(), None));
    let youtube_rows = env.row_counts(id).await;
    assert_eq!(youtube_rows.len(), 1, "{youtube_rows:?}");

    // Signed in, but start_export died.
    let never_started = env.create(&["search"]).await;
    env.sign_in(never_started, &tiny(), &[SEARCH]).await;
    diesel::update(jobs::table.filter(jobs::dedup_key.eq(format!("start:{never_started}"))))
        .set(jobs::state.eq("failed"))
        .execute(&mut env.app.db.conn().await)
        .await
        .unwrap();

    let worker = env.worker_with("2", &deadlines);
    env.wait_for_status(id, "error", 120).await;
    env.wait_for_status(never_started, "error", 60).await;

    let (got, error) = failed(&env, id).await;
    assert_eq!(error.code, "internal");
    assert!((error.researcher_can_retry, error.participant_can_fix) == (true, false), "{error:?}");
    let stuck = "internal (still parsing 15s after the sign-in or last retry (processing deadline))";
    assert_eq!(
        error.message,
        format!("stuck at stage parsing past the 15s processing deadline; search: {stuck}; google_lens: {stuck}")
    );
    assert_eq!(failure_text(Source::Google, &error.code), "Something went wrong on our side.");
    let state = |t: &str| (got.data_types[t].state(), got.data_types[t].reason_code.clone(), got.data_types[t].rows);
    assert_eq!(state("youtube_history"), (pb::DataTypeState::Available, String::new(), youtube_rows[0].1));
    assert_eq!(state("search"), (pb::DataTypeState::Failed, "internal".to_owned(), 0));
    assert_eq!(state("google_lens"), (pb::DataTypeState::Failed, "internal".to_owned(), 0));
    assert_eq!(env.row_counts(id).await, youtube_rows, "the parsed type keeps its rows");
    assert_eq!(env.query(id, "youtube_history").await.len() as i64, youtube_rows[0].1);
    let events = env.events(id).await;
    let passed: Vec<_> = events.iter().filter(|e| e.0 == "processing_deadline_passed").collect();
    assert_eq!(passed.len(), 1, "{events:?}");
    assert_eq!(passed[0].1["stage"], "parsing");
    assert_eq!(passed[0].1["types"], serde_json::json!(["search", "google_lens"]));
    assert_eq!(passed[0].1["parts_failed"], 1);
    let failed: Vec<_> = events.iter().filter(|e| e.0 == "failed").collect();
    assert_eq!((failed.len(), &failed[0].1["code"]), (1, &serde_json::json!("internal")));
    assert_eq!(env.parts(id).await.iter().find(|p| p.0 == search_part).unwrap().1, "failed");

    let got = env.get(never_started).await;
    let error = got.error.unwrap();
    assert_eq!(error.code, "internal");
    assert_eq!(
        error.message,
        "stuck at stage authorized past the 15s processing deadline; search: internal (still requested 15s after \
         the sign-in or last retry (processing deadline))"
    );

    // The researcher's retry runs the failed steps again; both finish.
    for id in [id, never_started] {
        let retried = env.retry(id).await.unwrap();
        assert_eq!(retried.status(), pb::DonationStatus::Processing);
    }
    env.wait_for_status(id, "processed", 120).await;
    assert_nothing_lost(&env, id, &scenario, &types).await;
    env.wait_for_status(never_started, "processed", 120).await;
    assert_nothing_lost(&env, never_started, &tiny(), &["search"]).await;
    let rows = donation::rows(&env.app.db, id).await;
    assert!(rows > youtube_rows[0].1);
    let error: Option<String> =
        donations::table.find(id).select(donations::error_code).first(&mut env.app.db.conn().await).await.unwrap();
    assert_eq!(error, None);
    drop(worker);
}
