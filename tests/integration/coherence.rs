//! Cache coherence across replicas (issue 4; spec §4.4, scenarios 20, 21 and
//! 26): two `steward serve` instances on ONE database, each with its own
//! permission cache and `LISTEN` connection. A change written once (through the
//! ops layer, which sends the NOTIFY) must reach the other replica's
//! `GetUserCache` and `CheckAccess` within one second, measured from commit —
//! after first proving that both caches really serve (a change written without
//! a NOTIFY stays invisible), so the timings measure eviction, not cache misses.

use std::net::SocketAddr;
use std::time::Duration;

use steward::auth::ops as auth_ops;
use steward::auth::store::user_by_email;
use steward::dataset::admin::AdminCaller;
use steward::dataset::audit::Actor;
use steward::dataset::ops::{self, GrantSpec, Grantee};
use steward::dataset::permissions::Level;
use steward::dataset::{grants, store};
use steward::proto::authorization::v1::authorization_service_client::AuthorizationServiceClient;
use steward::proto::authorization::v1::{CheckAccessRequest, GetUserCacheRequest};
use steward::proto::google::api::HttpBody;
use tokio::sync::oneshot;
use tokio::time::Instant;
use tonic::{Code, Status};

use crate::common::{TestDb, scratch_dir, spawn_server, test_config, with_bearer};

/// The bound the issue sets for a change to reach every replica.
const LIMIT: Duration = Duration::from_secs(1);
const READER: &str = "reader@example.org";

struct Replica {
    name: &'static str,
    addr: SocketAddr,
    stop: oneshot::Sender<()>,
    task: tokio::task::JoinHandle<anyhow::Result<()>>,
}

async fn replica(name: &'static str, db: &TestDb) -> Replica {
    let data_dir = scratch_dir("replica");
    let config = test_config(&[("DATABASE_URL", db.url()), ("STEWARD_DATA_DIR", data_dir.to_str().unwrap())]);
    let (addr, stop, task) = spawn_server(config).await;
    Replica { name, addr, stop, task }
}

async fn client(addr: SocketAddr) -> AuthorizationServiceClient<tonic::transport::Channel> {
    AuthorizationServiceClient::connect(format!("http://{addr}")).await.expect("connecting to a replica")
}

async fn user_cache(addr: SocketAddr, token: &str) -> Result<String, Status> {
    let request = GetUserCacheRequest { service: String::new(), dsg_token: String::new() };
    let reply = client(addr).await.get_user_cache(with_bearer(request, token)).await?;
    Ok(String::from_utf8(reply.into_inner().data).expect("utf-8 JSON"))
}

async fn check_access(addr: SocketAddr, token: &str, dataset: &str) -> Result<String, Status> {
    let json = format!(r#"{{"dataset":"{dataset}","permission":"view"}}"#);
    let body = HttpBody { content_type: "application/json".into(), data: json.into_bytes(), extensions: vec![] };
    let reply = client(addr).await.check_access(with_bearer(CheckAccessRequest { body: Some(body) }, token)).await?;
    Ok(String::from_utf8(reply.into_inner().data).expect("utf-8 JSON"))
}

/// Polls `holds` on each replica until it is true; asserts that each got
/// there within [`LIMIT`] of `since` (the commit of the change).
async fn everywhere_within_limit(
    replicas: &[Replica],
    since: Instant,
    what: &str,
    holds: impl AsyncFn(SocketAddr) -> bool,
) {
    for replica in replicas {
        loop {
            if holds(replica.addr).await {
                let took = since.elapsed();
                println!("{what}: replica {} after {} ms", replica.name, took.as_millis());
                assert!(took < LIMIT, "{what}: replica {} took {took:?} (limit {LIMIT:?})", replica.name);
                break;
            }
            assert!(since.elapsed() < Duration::from_secs(5), "{what}: replica {} never changed", replica.name);
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
}

/// Proves both permission caches serve: after warming them, a grant written
/// straight to the store (no NOTIFY) must stay invisible. Retried while a
/// replica's listener is still connecting (its cache is off until then).
async fn caches_are_serving(db: &TestDb, replicas: &[Replica], token: &str, user_id: i64) {
    let mut conn = db.conn().await;
    for attempt in 0..50 {
        for replica in replicas {
            user_cache(replica.addr, token).await.expect("warming the cache");
        }
        let name = format!("probe{attempt}");
        let dataset = ops::create_dataset(&mut conn, Actor::System, &name, "", false).await.unwrap();
        let grant = store::NewGrant {
            dataset_id: dataset.id,
            dataset_version_id: None,
            level: "view",
            user_id: Some(user_id),
            group_id: None,
            service_account_id: None,
            team_group_id: None,
            source: "manual",
            granted_by_user_id: None,
        };
        store::insert_grant(&mut conn, grant).await.unwrap().expect("a new grant");
        let mut stale = true;
        for replica in replicas {
            stale &= !user_cache(replica.addr, token).await.unwrap().contains(&format!("\"{name}\""));
        }
        if stale {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the replicas never served from their permission caches");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn changes_reach_the_other_replica_within_a_second() {
    let db = TestDb::new().await;
    let token = db.token(READER, None).await;
    db.token("admin@example.org", Some(steward::auth::Role::Admin)).await;
    let mut conn = db.conn().await;
    let reader = user_by_email(&mut conn, READER).await.unwrap().unwrap().id;
    let admin = user_by_email(&mut conn, "admin@example.org").await.unwrap().unwrap().id;
    let caller = AdminCaller { user_id: admin, admin: true, sc: false };
    let fish = ops::create_dataset(&mut conn, Actor::System, "fish2", "", false).await.unwrap();
    let replicas = [replica("A", &db).await, replica("B", &db).await];

    // One database: a grant in the store is what both replicas answer.
    let view =
        |grantee| GrantSpec { dataset_id: fish.id, version_id: None, level: Level::View, grantee, source: "manual" };
    let grant = ops::grant(&mut conn, Actor::System, view(Grantee::User(reader))).await.unwrap().expect("new grant");
    for replica in &replicas {
        assert!(user_cache(replica.addr, &token).await.unwrap().contains(r#""fish2":["view"]"#), "{}", replica.name);
    }
    grants::delete_grant(&mut conn, caller, "fish2", grant).await.unwrap();
    caches_are_serving(&db, &replicas, &token, reader).await;
    for replica in &replicas {
        let doc = user_cache(replica.addr, &token).await.unwrap();
        assert!(!doc.contains("fish2"), "both replicas cached the user without fish2: {doc}");
    }
    let shows_fish = async |addr| user_cache(addr, &token).await.unwrap().contains(r#""fish2":["#);
    let lacks_fish = async |addr| !user_cache(addr, &token).await.unwrap().contains("fish2");
    let refused = async |addr| check_access(addr, &token, "fish2").await.unwrap().contains(r#""allowed":false"#);

    // Scenario 20: a grant appears in both cached documents.
    let grant = ops::grant(&mut conn, Actor::System, view(Grantee::User(reader))).await.unwrap().expect("new grant");
    let since = Instant::now();
    everywhere_within_limit(&replicas, since, "grant in user/cache", shows_fish).await;
    let allowed = async |addr| {
        check_access(addr, &token, "fish2").await.unwrap() == r#"{"allowed":true,"reason":"direct_grant"}"#
    };
    everywhere_within_limit(&replicas, since, "grant in check-access", allowed).await;

    // Scenario 21: revoking it (the admin ops, as DeleteGrant runs them) is refused everywhere.
    grants::delete_grant(&mut conn, caller, "fish2", grant).await.unwrap();
    let since = Instant::now();
    everywhere_within_limit(&replicas, since, "revoked grant refused by check-access", refused).await;
    everywhere_within_limit(&replicas, since, "revoked grant gone from user/cache", lacks_fish).await;

    // Scenario 21: a group grant goes with the membership, and with the group.
    let team = ops::create_group(&mut conn, Actor::System, "team").await.unwrap();
    ops::add_member(&mut conn, Actor::System, reader, "team", false).await.unwrap();
    ops::grant(&mut conn, Actor::System, view(Grantee::Group(team))).await.unwrap();
    everywhere_within_limit(&replicas, Instant::now(), "group grant in user/cache", shows_fish).await;
    grants::remove_member(&mut conn, caller, "team", READER).await.unwrap();
    let since = Instant::now();
    everywhere_within_limit(&replicas, since, "membership removed: check-access", refused).await;
    everywhere_within_limit(&replicas, since, "membership removed: user/cache", lacks_fish).await;
    ops::add_member(&mut conn, Actor::System, reader, "team", false).await.unwrap();
    everywhere_within_limit(&replicas, Instant::now(), "member again", shows_fish).await;
    grants::delete_group(&mut conn, caller, "team").await.unwrap();
    let since = Instant::now();
    everywhere_within_limit(&replicas, since, "group deleted: check-access", refused).await;
    everywhere_within_limit(&replicas, since, "group deleted: user/cache", lacks_fish).await;

    // Scenario 26: a disabled user is refused by both replicas.
    auth_ops::set_user_active(&mut conn, READER, false).await.unwrap();
    let since = Instant::now();
    let disabled = |r: Result<String, Status>| {
        r.is_err_and(|s| (s.code(), s.message()) == (Code::Unauthenticated, "User account is disabled."))
    };
    everywhere_within_limit(&replicas, since, "disabled: user/cache", async |addr| {
        disabled(user_cache(addr, &token).await)
    })
    .await;
    everywhere_within_limit(&replicas, since, "disabled: check-access", async |addr| {
        disabled(check_access(addr, &token, "fish2").await)
    })
    .await;

    for Replica { name, stop, task, .. } in replicas {
        let _ = stop.send(());
        let result = tokio::time::timeout(Duration::from_secs(40), task).await.expect("replica did not stop");
        result.expect("replica panicked").unwrap_or_else(|e| panic!("replica {name} failed: {e:#}"));
    }
}
