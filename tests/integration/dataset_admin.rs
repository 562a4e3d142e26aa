//! DatasetService admin RPCs over gRPC against the real server (spec §5.1–5.3
//! §5.4, §5.8 and §8 scenarios 74, 75, 112–120): datasets, versions and buckets; grant
//! rules for managers, dataset admins and `sc`; groups, team leads' level cap
//! and the member-removal cascade; service accounts and their tokens; terms of service; service tables and public roots; the audit log; refusals for every RPC; audit rows.

use std::time::Duration;

use diesel::{ExpressionMethods as _, QueryDsl as _};
use diesel_async::RunQueryDsl as _;
use steward::auth::Role;
use steward::dataset::audit::{self, Actor, AuditRow};
use steward::dataset::ops;
use steward::db::schema::{grants, users};
use steward::proto::authorization::v1::GetUserCacheRequest;
use steward::proto::dataset::v1 as pb;
use steward::proto::dataset::v1::dataset_service_client::DatasetServiceClient;
use tonic::transport::Channel;
use tonic::{Code, Status};

use crate::common::{TestApp, with_bearer};

const VIEW: i32 = pb::AccessLevel::View as i32;
const EDIT: i32 = pb::AccessLevel::Edit as i32;
const MANAGE: i32 = pb::AccessLevel::Manage as i32;
const ADMIN: i32 = pb::AccessLevel::Admin as i32;
const CLOSED: i32 = pb::AccessMode::Closed as i32;
const PUBLIC: i32 = pb::AccessMode::Public as i32;

/// A DatasetService client acting with `token`.
struct As {
    client: DatasetServiceClient<Channel>,
    token: String,
}

impl As {
    async fn new(app: &TestApp, token: &str) -> As {
        As { client: DatasetServiceClient::new(app.channel().await), token: token.to_owned() }
    }

    fn req<T>(&self, message: T) -> tonic::Request<T> {
        with_bearer(message, &self.token)
    }

    async fn create_dataset(&mut self, name: &str, mode: i32, request_id: &str) -> Result<pb::Dataset, Status> {
        let message = pb::CreateDatasetRequest {
            name: name.into(),
            description: format!("{name} data"),
            access_mode: mode,
            request_id: request_id.into(),
        };
        let request = self.req(message);
        Ok(self.client.create_dataset(request).await?.into_inner().dataset.unwrap())
    }

    async fn create_version(&mut self, dataset: &str, version: &str, buckets: &[&str]) -> pb::DatasetVersion {
        let message = pb::CreateDatasetVersionRequest {
            dataset: dataset.into(),
            version: version.into(),
            prefix: String::new(),
            is_public: false,
            buckets: buckets.iter().map(|b| (*b).to_owned()).collect(),
            request_id: String::new(),
        };
        let request = self.req(message);
        self.client.create_dataset_version(request).await.expect("CreateDatasetVersion").into_inner().version.unwrap()
    }

    async fn grant(
        &mut self,
        dataset: &str,
        grantee: pb::create_grant_request::Grantee,
        level: i32,
        version: &str,
    ) -> Result<(pb::Grant, bool), Status> {
        let message = pb::CreateGrantRequest {
            dataset: dataset.into(),
            grantee: Some(grantee),
            level,
            version: version.into(),
            request_id: String::new(),
        };
        let request = self.req(message);
        let reply = self.client.create_grant(request).await?.into_inner();
        Ok((reply.grant.unwrap(), reply.created))
    }

    async fn grant_user(&mut self, dataset: &str, email: &str, level: i32) -> Result<(pb::Grant, bool), Status> {
        self.grant(dataset, pb::create_grant_request::Grantee::UserEmail(email.into()), level, "").await
    }

    async fn revoke(&mut self, dataset: &str, grant_id: i64) -> Result<(), Status> {
        let request = self.req(pb::DeleteGrantRequest { dataset: dataset.into(), grant_id });
        self.client.delete_grant(request).await.map(drop)
    }

    async fn team_grant(
        &mut self,
        group: &str,
        email: &str,
        dataset: &str,
        level: i32,
    ) -> Result<(pb::Grant, bool), Status> {
        let message = pb::CreateTeamGrantRequest {
            group: group.into(),
            user_email: email.into(),
            dataset: dataset.into(),
            level,
            request_id: String::new(),
        };
        let request = self.req(message);
        let reply = self.client.create_team_grant(request).await?.into_inner();
        Ok((reply.grant.unwrap(), reply.created))
    }

    async fn create_group(&mut self, name: &str, request_id: &str) -> Result<pb::Group, Status> {
        let request = self.req(pb::CreateGroupRequest { name: name.into(), request_id: request_id.into() });
        Ok(self.client.create_group(request).await?.into_inner().group.unwrap())
    }

    async fn add_member(&mut self, group: &str, email: &str) -> Result<bool, Status> {
        let request = self.req(pb::AddGroupMemberRequest { group: group.into(), user_email: email.into() });
        Ok(self.client.add_group_member(request).await?.into_inner().created)
    }

    async fn members(&mut self, group: &str) -> Result<Vec<String>, Status> {
        let request = self.req(pb::ListGroupMembersRequest { group: group.into() });
        Ok(self.client.list_group_members(request).await?.into_inner().members.into_iter().map(|m| m.email).collect())
    }
}

fn user(email: &str) -> pb::create_grant_request::Grantee {
    pb::create_grant_request::Grantee::UserEmail(email.into())
}

#[track_caller]
fn assert_code<T: std::fmt::Debug>(result: Result<T, Status>, code: Code, message: &str) {
    let status = result.expect_err("expected a refusal");
    assert_eq!(status.code(), code, "{status:?}");
    assert!(status.message().contains(message), "{:?} does not contain {message:?}", status.message());
}

async fn audit_rows(app: &TestApp) -> Vec<AuditRow> {
    audit::list(&mut *app.db.conn().await).await.unwrap()
}

async fn count_action(app: &TestApp, action: &str) -> usize {
    audit_rows(app).await.iter().filter(|r| r.action == action).count()
}

async fn user_id(app: &TestApp, email: &str) -> i64 {
    users::table.filter(users::email.eq(email)).select(users::id).first(&mut *app.db.conn().await).await.unwrap()
}

/// Waits until the user's `user/cache` document satisfies `done`.
async fn eventually_cache(app: &TestApp, token: &str, done: impl Fn(&str) -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        let request = with_bearer(GetUserCacheRequest { service: String::new(), dsg_token: String::new() }, token);
        let doc = app.authorization().await.get_user_cache(request).await.unwrap().into_inner().data;
        let doc = String::from_utf8(doc).unwrap();
        if done(&doc) {
            return;
        }
        assert!(tokio::time::Instant::now() < deadline, "the change never showed: {doc}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn datasets_versions_and_buckets_round_trip_with_audit() {
    let app = TestApp::start().await;
    let mut admin = As::new(&app, &app.db.token("root@example.org", Some(Role::Admin)).await).await;
    let mut plain = As::new(&app, &app.db.token("plain@example.org", None).await).await;

    let fish = admin.create_dataset("fish2", CLOSED, "req-1").await.unwrap();
    assert_eq!((fish.name.as_str(), fish.description.as_str(), fish.access_mode), ("fish2", "fish2 data", CLOSED));
    assert!(fish.create_time.is_some());
    // A retry with the same request id returns the first result and writes nothing more.
    assert_eq!(admin.create_dataset("fish2", CLOSED, "req-1").await.unwrap().id, fish.id);
    assert_eq!(count_action(&app, "dataset_created").await, 1);
    assert_code(admin.create_dataset("fish2", CLOSED, "").await, Code::AlreadyExists, "fish2 already exists");
    assert_code(admin.create_dataset("fish 2", CLOSED, "").await, Code::InvalidArgument, "name must be a slug");
    assert_code(admin.create_dataset("ok", 0, "").await, Code::InvalidArgument, "access_mode");

    // Paging: three datasets, two per page.
    admin.create_dataset("b", PUBLIC, "").await.unwrap();
    admin.create_dataset("c", CLOSED, "").await.unwrap();
    let request = admin.req(pb::ListDatasetsRequest { page_size: 2, page_token: String::new() });
    let first = admin.client.list_datasets(request).await.unwrap().into_inner();
    assert_eq!(first.datasets.iter().map(|d| d.name.as_str()).collect::<Vec<_>>(), ["fish2", "b"]);
    let request = admin.req(pb::ListDatasetsRequest { page_size: 2, page_token: first.next_page_token });
    let second = admin.client.list_datasets(request).await.unwrap().into_inner();
    assert_eq!(second.datasets.iter().map(|d| d.name.as_str()).collect::<Vec<_>>(), ["c"]);
    assert_eq!(second.next_page_token, "");
    let request = admin.req(pb::ListDatasetsRequest { page_size: 2, page_token: "bogus".into() });
    assert_code(admin.client.list_datasets(request).await, Code::InvalidArgument, "page_token");

    // Update: changed fields are audited before/after; a repeat is a no-op.
    let update = pb::UpdateDatasetRequest {
        name: "fish2".into(),
        description: Some("Fish brain".into()),
        access_mode: Some(PUBLIC),
        tos_document_id: None,
    };
    let updated = admin.client.update_dataset(admin.req(update.clone())).await.unwrap().into_inner().dataset.unwrap();
    assert_eq!((updated.description.as_str(), updated.access_mode), ("Fish brain", PUBLIC));
    admin.client.update_dataset(admin.req(update)).await.unwrap();
    let rows = audit_rows(&app).await;
    let updates: Vec<_> = rows.iter().filter(|r| r.action == "dataset_updated").collect();
    assert_eq!(updates.len(), 1, "a no-op update writes no audit row");
    assert_eq!(updates[0].before_state.as_ref().unwrap()["access_mode"], "closed");
    assert_eq!(updates[0].after_state.as_ref().unwrap()["description"], "Fish brain");
    let bad_tos = pb::UpdateDatasetRequest {
        name: "fish2".into(),
        description: None,
        access_mode: None,
        tos_document_id: Some(99),
    };
    assert_code(admin.client.update_dataset(admin.req(bad_tos)).await, Code::NotFound, "TOS document not found");

    // Versions and buckets.
    let v1 = admin.create_version("fish2", "v1", &["fish2-a", "fish2-b"]).await;
    assert_eq!(v1.buckets, ["fish2-a", "fish2-b"]);
    let change = pb::UpdateDatasetVersionRequest {
        dataset: "fish2".into(),
        version: "v1".into(),
        prefix: Some("seg/".into()),
        is_public: Some(true),
        buckets: Some(pb::BucketSet { names: vec!["fish2-b".into(), "fish2-c".into()] }),
    };
    let changed = admin.client.update_dataset_version(admin.req(change)).await.unwrap().into_inner().version.unwrap();
    assert_eq!((changed.prefix.as_str(), changed.is_public), ("seg/", true));
    assert_eq!(changed.buckets, ["fish2-b", "fish2-c"]);
    let add = pb::AddDatasetBucketRequest { dataset: "fish2".into(), bucket: "fish2-d".into() };
    let with_d = admin.client.add_dataset_bucket(admin.req(add.clone())).await.unwrap().into_inner().dataset.unwrap();
    assert_eq!(with_d.buckets, ["fish2-a", "fish2-b", "fish2-c", "fish2-d"]);
    assert_code(admin.client.add_dataset_bucket(admin.req(add)).await, Code::AlreadyExists, "fish2-d");
    let remove = pb::RemoveDatasetBucketRequest { dataset: "fish2".into(), bucket: "fish2-b".into() };
    let without_b =
        admin.client.remove_dataset_bucket(admin.req(remove.clone())).await.unwrap().into_inner().dataset.unwrap();
    assert_eq!(without_b.buckets, ["fish2-a", "fish2-c", "fish2-d"]);
    assert_code(admin.client.remove_dataset_bucket(admin.req(remove)).await, Code::NotFound, "fish2-b");
    let versions =
        admin.client.list_dataset_versions(admin.req(pb::ListDatasetVersionsRequest { dataset: "fish2".into() }));
    assert_eq!(versions.await.unwrap().into_inner().versions[0].buckets, ["fish2-c"], "removal unlinks the version");

    // Public datasets are readable by any user; closed ones look unknown without a grant.
    let get = |name: &str| pb::GetDatasetRequest { name: name.into() };
    assert_eq!(
        plain.client.get_dataset(plain.req(get("fish2"))).await.unwrap().into_inner().dataset.unwrap().id,
        fish.id
    );
    assert_code(plain.client.get_dataset(plain.req(get("c"))).await, Code::NotFound, "Dataset not found: c");
    admin.grant_user("c", "plain@example.org", VIEW).await.unwrap();
    plain.client.get_dataset(plain.req(get("c"))).await.expect("visible with a grant");

    let delete_version = pb::DeleteDatasetVersionRequest { dataset: "fish2".into(), version: "v1".into() };
    admin.client.delete_dataset_version(admin.req(delete_version.clone())).await.unwrap();
    assert_code(admin.client.delete_dataset_version(admin.req(delete_version)).await, Code::NotFound, "v1");
    admin.client.delete_dataset(admin.req(pb::DeleteDatasetRequest { name: "fish2".into() })).await.unwrap();
    assert_code(admin.client.get_dataset(admin.req(get("fish2"))).await, Code::NotFound, "fish2");

    let actions: Vec<String> = audit_rows(&app).await.into_iter().rev().map(|r| r.action).collect();
    for expected in [
        "dataset_version_created",
        "dataset_version_updated",
        "dataset_bucket_added",
        "dataset_bucket_removed",
        "dataset_version_deleted",
        "dataset_deleted",
    ] {
        assert!(actions.iter().any(|a| a == expected), "{expected} missing from {actions:?}");
    }
    let root = user_id(&app, "root@example.org").await;
    assert!(audit_rows(&app).await.iter().all(|r| r.actor_user_id == Some(root)), "the admin is the actor");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn managers_grant_below_admin_and_nobody_revokes_their_own_grant() {
    let app = TestApp::start().await;
    let admin_token = app.db.token("root@example.org", Some(Role::Admin)).await;
    let mut admin = As::new(&app, &admin_token).await;
    let mut manager = As::new(&app, &app.db.token("manager@example.org", None).await).await;
    let viewer_token = app.db.token("viewer@example.org", None).await;
    let mut viewer = As::new(&app, &viewer_token).await;
    admin.create_dataset("fish2", CLOSED, "").await.unwrap();
    admin.create_version("fish2", "v1", &["fish2-v1"]).await;
    let (managed, _) = admin.grant_user("fish2", "manager@example.org", MANAGE).await.unwrap();
    let (boss, _) = admin.grant_user("fish2", "boss@example.org", ADMIN).await.unwrap();
    let (own, _) = admin.grant_user("fish2", "root@example.org", VIEW).await.unwrap();

    // Scenario 112: view/edit/manage yes, admin no; admin grants are not theirs to revoke.
    for level in [VIEW, EDIT, MANAGE] {
        let (grant, created) = manager.grant_user("fish2", "worker@example.org", level).await.unwrap();
        assert!(created);
        assert_eq!(grant.granted_by, "manager@example.org");
    }
    assert_code(
        manager.grant_user("fish2", "x@example.org", ADMIN).await,
        Code::PermissionDenied,
        "You cannot grant admin permission",
    );
    assert_code(manager.revoke("fish2", boss.id).await, Code::PermissionDenied, "admin");
    assert_code(
        manager.revoke("fish2", managed.id).await,
        Code::FailedPrecondition,
        "You cannot revoke your own grants",
    );
    assert_code(admin.revoke("fish2", own.id).await, Code::FailedPrecondition, "You cannot revoke your own grants");
    // A viewer manages nothing; group grants are for global admins.
    assert_code(viewer.grant_user("fish2", "y@example.org", VIEW).await, Code::PermissionDenied, "manage permission");
    let group = pb::create_grant_request::Grantee::Group("user".into());
    assert_code(manager.grant("fish2", group.clone(), VIEW, "").await, Code::PermissionDenied, "groups");
    let (group_grant, _) = admin.grant("fish2", group, VIEW, "").await.unwrap();
    assert_code(manager.revoke("fish2", group_grant.id).await, Code::PermissionDenied, "group grants");

    // Scenario 113: an unknown e-mail is pre-provisioned, and its first token sees the grant.
    let (pre, created) = manager.grant_user("fish2", "New.Person@example.org", EDIT).await.unwrap();
    assert!(created);
    let subject: Option<String> = users::table
        .filter(users::email.eq("New.Person@example.org"))
        .select(users::oidc_subject)
        .first(&mut *app.db.conn().await)
        .await
        .unwrap();
    assert_eq!(subject, None, "pre-provisioned: no OIDC subject yet");
    assert_eq!(pre.grantee, Some(pb::grant::Grantee::UserEmail("New.Person@example.org".into())));
    let new_token = app.db.token("new.person@example.org", None).await;
    eventually_cache(&app, &new_token, |doc| doc.contains(r#""permissions_v2":{"fish2":["edit","view"]}"#)).await;

    // Scenario 114: an identical grant is returned, not audited; a version grant records the version.
    let before = count_action(&app, "grant_created").await;
    let (again, created) = manager.grant_user("fish2", "new.person@example.org", EDIT).await.unwrap();
    assert!(!created);
    assert_eq!(again.id, pre.id);
    assert_eq!(count_action(&app, "grant_created").await, before);
    let (scoped, _) = manager.grant("fish2", user("viewer@example.org"), EDIT, "v1").await.unwrap();
    assert_eq!(scoped.version, "v1");
    let rows = audit_rows(&app).await;
    let newest = rows.iter().find(|r| r.action == "grant_created").unwrap();
    assert_eq!(newest.target_id, scoped.id.to_string());
    assert_eq!(
        newest.after_state.as_ref().unwrap(),
        &serde_json::json!({"user": "viewer@example.org", "dataset": "fish2", "permission": "edit", "version": "v1", "source": "manual"})
    );
    assert_code(
        manager.grant("fish2", user("viewer@example.org"), EDIT, "v9").await,
        Code::NotFound,
        "Version not found",
    );
    assert_code(manager.grant_user("nope", "viewer@example.org", EDIT).await, Code::NotFound, "Dataset not found");
    assert_code(manager.grant_user("fish2", "not-an-email", EDIT).await, Code::InvalidArgument, "user_email");
    assert_code(manager.grant_user("fish2", "viewer@example.org", 0).await, Code::InvalidArgument, "level");

    // Service accounts can be granted by managers (audited as sa grants).
    ops::create_service_account(&mut *app.db.conn().await, Actor::System, "pipeline", "").await.unwrap();
    let sa = pb::create_grant_request::Grantee::ServiceAccount("pipeline".into());
    manager.grant("fish2", sa, VIEW, "").await.unwrap();
    assert_eq!(count_action(&app, "sa_grant_created").await, 1);

    // ListGrants: managers yes (ordered by grantee), viewers no.
    let list = pb::ListGrantsRequest { dataset: "fish2".into(), page_size: 0, page_token: String::new() };
    let listed = manager.client.list_grants(manager.req(list.clone())).await.unwrap().into_inner().grants;
    let names: Vec<String> = listed
        .iter()
        .map(|g| match g.grantee.as_ref().unwrap() {
            pb::grant::Grantee::UserEmail(s) | pb::grant::Grantee::Group(s) | pb::grant::Grantee::ServiceAccount(s) => {
                s.to_lowercase()
            }
        })
        .collect();
    let mut sorted = names.clone();
    sorted.sort();
    assert_eq!(names, sorted);
    assert!(names.contains(&"pipeline".to_owned()) && names.contains(&"user".to_owned()));
    assert_code(viewer.client.list_grants(viewer.req(list)).await, Code::PermissionDenied, "manage permission");

    // Revocation is audited and reaches the cache.
    manager.revoke("fish2", pre.id).await.unwrap();
    assert_code(manager.revoke("fish2", pre.id).await, Code::NotFound, "Grant not found");
    eventually_cache(&app, &new_token, |doc| doc.contains(r#""permissions_v2":{}"#)).await;
    let revoked = audit_rows(&app).await.into_iter().find(|r| r.action == "grant_revoked").unwrap();
    assert_eq!(revoked.before_state.unwrap()["user"], "New.Person@example.org");
    assert_eq!(revoked.actor_user_id, Some(user_id(&app, "manager@example.org").await));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sc_members_appoint_dataset_admins_anywhere() {
    let app = TestApp::start().await;
    let mut admin = As::new(&app, &app.db.token("root@example.org", Some(Role::Admin)).await).await;
    app.db.token("sc@example.org", None).await;
    let sc_id = user_id(&app, "sc@example.org").await;
    ops::add_member(&mut *app.db.conn().await, Actor::System, sc_id, "sc", false).await.unwrap();
    let mut sc = As::new(&app, &app.db.token("sc@example.org", None).await).await;
    let mut plain = As::new(&app, &app.db.token("plain@example.org", None).await).await;
    admin.create_dataset("fish2", CLOSED, "").await.unwrap();

    // Scenario 117.
    let add = |email: &str| pb::AddDatasetAdminRequest { dataset: "fish2".into(), user_email: email.into() };
    let reply = sc.client.add_dataset_admin(sc.req(add("plain@example.org"))).await.unwrap().into_inner();
    assert!(reply.created);
    assert_eq!(reply.grant.unwrap().level, ADMIN);
    assert!(!sc.client.add_dataset_admin(sc.req(add("plain@example.org"))).await.unwrap().into_inner().created);
    assert_code(
        sc.client.add_dataset_admin(sc.req(add("ghost@example.org"))).await,
        Code::NotFound,
        "User not found: ghost@example.org",
    );
    let list = pb::ListDatasetAdminsRequest { dataset: "fish2".into() };
    assert_eq!(
        sc.client.list_dataset_admins(sc.req(list.clone())).await.unwrap().into_inner().user_emails,
        ["plain@example.org"]
    );
    let grants = pb::ListGrantsRequest { dataset: "fish2".into(), page_size: 0, page_token: String::new() };
    assert_code(sc.client.list_grants(sc.req(grants)).await, Code::PermissionDenied, "manage permission");
    // A dataset admin (not sc) cannot appoint others.
    assert_code(plain.client.add_dataset_admin(plain.req(add("sc@example.org"))).await, Code::PermissionDenied, "sc");
    let added = audit_rows(&app).await.into_iter().filter(|r| r.action == "dataset_admin_added").collect::<Vec<_>>();
    assert_eq!(added.len(), 1);
    assert_eq!(added[0].after_state.as_ref().unwrap()["permission"], "admin");

    let remove = |email: &str| pb::RemoveDatasetAdminRequest { dataset: "fish2".into(), user_email: email.into() };
    admin.client.add_dataset_admin(admin.req(add("sc@example.org"))).await.unwrap();
    assert_code(
        sc.client.remove_dataset_admin(sc.req(remove("sc@example.org"))).await,
        Code::FailedPrecondition,
        "yourself",
    );
    sc.client.remove_dataset_admin(sc.req(remove("plain@example.org"))).await.unwrap();
    assert_code(
        sc.client.remove_dataset_admin(sc.req(remove("plain@example.org"))).await,
        Code::NotFound,
        "not an admin",
    );
    assert_eq!(sc.client.list_dataset_admins(sc.req(list)).await.unwrap().into_inner().user_emails, ["sc@example.org"]);
    assert_eq!(count_action(&app, "dataset_admin_removed").await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn team_leads_grant_within_their_level_and_leaving_a_team_revokes_its_grants() {
    let app = TestApp::start().await;
    let mut admin = As::new(&app, &app.db.token("root@example.org", Some(Role::Admin)).await).await;
    let lead_token = app.db.token("lead@example.org", None).await;
    let mut lead = As::new(&app, &lead_token).await;
    admin.create_dataset("fish2", CLOSED, "").await.unwrap();
    admin.create_dataset("other", CLOSED, "").await.unwrap();
    admin.create_group("team-a", "").await.unwrap();
    admin.create_group("team-b", "").await.unwrap();
    assert!(admin.add_member("team-a", "lead@example.org").await.unwrap());
    let set =
        pb::SetGroupAdminRequest { group: "team-a".into(), user_email: "lead@example.org".into(), is_admin: true };
    assert_code(lead.client.set_group_admin(lead.req(set.clone())).await, Code::PermissionDenied, "global admins");
    assert!(admin.client.set_group_admin(admin.req(set)).await.unwrap().into_inner().member.unwrap().is_admin);
    admin.grant_user("fish2", "lead@example.org", MANAGE).await.unwrap();

    // Scenario 115: a new e-mail is created and joins the team; the cap and the scope hold.
    let (team_a, created) = lead.team_grant("team-a", "member@example.org", "fish2", EDIT).await.unwrap();
    assert!(created);
    assert_eq!(team_a.team_group, "team-a");
    assert_eq!(lead.members("team-a").await.unwrap(), ["lead@example.org", "member@example.org"]);
    assert_code(
        lead.team_grant("team-a", "member@example.org", "fish2", ADMIN).await,
        Code::FailedPrecondition,
        "Cannot grant a permission level higher than your own",
    );
    assert_code(
        lead.team_grant("team-b", "member@example.org", "fish2", EDIT).await,
        Code::PermissionDenied,
        "not an admin of this group",
    );
    assert_code(
        lead.team_grant("team-a", "member@example.org", "other", VIEW).await,
        Code::PermissionDenied,
        "manage permission",
    );
    assert_code(
        admin.team_grant("team-a", "member@example.org", "fish2", ADMIN).await,
        Code::InvalidArgument,
        "limited to view, edit and manage",
    );
    let audited = audit_rows(&app).await.into_iter().find(|r| r.action == "grant_created").unwrap();
    assert_eq!(audited.after_state.unwrap()["group"], "team-a");

    // Scenario 116: two teams, two rows; revoking one leaves the other.
    let (team_b, _) = admin.team_grant("team-b", "member@example.org", "fish2", EDIT).await.unwrap();
    assert_ne!(team_a.id, team_b.id);
    let member_token = app.db.token("member@example.org", None).await;
    let delete = pb::DeleteTeamGrantRequest { group: "team-b".into(), grant_id: team_b.id };
    assert_code(lead.client.delete_team_grant(lead.req(delete.clone())).await, Code::PermissionDenied, "not an admin");
    let wrong_group = pb::DeleteTeamGrantRequest { group: "team-a".into(), grant_id: team_b.id };
    assert_code(admin.client.delete_team_grant(admin.req(wrong_group)).await, Code::NotFound, "Team grant not found");
    admin.client.delete_team_grant(admin.req(delete)).await.unwrap();
    eventually_cache(&app, &member_token, |doc| doc.contains(r#""permissions_v2":{"fish2":["edit","view"]}"#)).await;
    let listed = lead.client.list_team_grants(lead.req(pb::ListTeamGrantsRequest { group: "team-a".into() }));
    assert_eq!(listed.await.unwrap().into_inner().grants.iter().map(|g| g.id).collect::<Vec<_>>(), [team_a.id]);

    // Removing the member from team-a deletes only team-a's grants, each audited.
    let (team_b, _) = admin.team_grant("team-b", "member@example.org", "fish2", VIEW).await.unwrap();
    let remove = pb::RemoveGroupMemberRequest { group: "team-a".into(), user_email: "member@example.org".into() };
    let reply = lead.client.remove_group_member(lead.req(remove.clone())).await.unwrap().into_inner();
    assert_eq!(reply.revoked_team_grants, 1);
    assert_code(lead.client.remove_group_member(lead.req(remove)).await, Code::NotFound, "not a member");
    let left: Vec<i64> = grants::table
        .filter(grants::user_id.eq(user_id(&app, "member@example.org").await))
        .select(grants::id)
        .load(&mut *app.db.conn().await)
        .await
        .unwrap();
    assert_eq!(left, [team_b.id]);
    let rows = audit_rows(&app).await;
    let cascaded = rows.iter().find(|r| r.action == "grant_revoked").unwrap();
    assert_eq!(cascaded.target_id, team_a.id.to_string());
    assert_eq!(cascaded.before_state.as_ref().unwrap()["reason"], "member_removed");
    assert_eq!(cascaded.before_state.as_ref().unwrap()["group"], "team-a");
    assert_eq!(rows[0].action, "member_removed", "the membership goes last");
    eventually_cache(&app, &member_token, |doc| doc.contains(r#""permissions_v2":{"fish2":["view"]}"#)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn groups_are_managed_by_admins_and_reserved_groups_stay() {
    let app = TestApp::start().await;
    let mut admin = As::new(&app, &app.db.token("root@example.org", Some(Role::Admin)).await).await;
    let first = admin.create_group("lab", "g-1").await.unwrap();
    assert_eq!(admin.create_group("lab", "g-1").await.unwrap().id, first.id, "a retry returns the first result");
    assert_code(admin.create_group("lab", "").await, Code::AlreadyExists, "lab already exists");
    assert_code(admin.create_group("a/b", "").await, Code::InvalidArgument, "name");
    assert_code(admin.create_group("", "").await, Code::InvalidArgument, "name");
    admin.add_member("lab", "ann@example.org").await.unwrap();
    assert!(!admin.add_member("lab", "ann@example.org").await.unwrap(), "a repeat changes nothing");
    assert_eq!(count_action(&app, "member_added").await, 1);

    let got = admin.client.get_group(admin.req(pb::GetGroupRequest { name: "lab".into() })).await.unwrap().into_inner();
    assert_eq!(got.group.unwrap().member_count, 1);
    let list = pb::ListGroupsRequest { page_size: 3, page_token: String::new() };
    let page = admin.client.list_groups(admin.req(list)).await.unwrap().into_inner();
    assert_eq!(page.groups.len(), 3);
    assert!(!page.next_page_token.is_empty(), "reserved groups plus lab need two pages");

    let rename = |name: &str, new_name: &str| pb::UpdateGroupRequest { name: name.into(), new_name: new_name.into() };
    let renamed = admin.client.update_group(admin.req(rename("lab", "lab2"))).await.unwrap().into_inner();
    assert_eq!(renamed.group.unwrap().name, "lab2");
    assert_code(admin.client.update_group(admin.req(rename("sc", "sc2"))).await, Code::FailedPrecondition, "reserved");
    assert_code(
        admin.client.delete_group(admin.req(pb::DeleteGroupRequest { name: "admin".into() })).await,
        Code::FailedPrecondition,
        "reserved",
    );
    // Role groups too: their members would lose the role without a word.
    assert_code(
        admin.client.update_group(admin.req(rename("researcher", "lab3"))).await,
        Code::FailedPrecondition,
        "members hold the researcher role",
    );
    assert_code(
        admin.client.delete_group(admin.req(pb::DeleteGroupRequest { name: "contributor".into() })).await,
        Code::FailedPrecondition,
        "members hold the contributor role",
    );

    admin.create_dataset("fish2", CLOSED, "").await.unwrap();
    admin.grant("fish2", pb::create_grant_request::Grantee::Group("lab2".into()), VIEW, "").await.unwrap();
    admin.client.delete_group(admin.req(pb::DeleteGroupRequest { name: "lab2".into() })).await.unwrap();
    let remaining: i64 = grants::table.count().get_result(&mut *app.db.conn().await).await.unwrap();
    assert_eq!(remaining, 0, "the group's grants go with it");
    let deleted = audit_rows(&app).await.into_iter().find(|r| r.action == "group_deleted").unwrap();
    assert_eq!(deleted.before_state.unwrap(), serde_json::json!({"name": "lab2", "members": ["ann@example.org"]}));
    assert_code(admin.members("lab2").await, Code::NotFound, "Group not found");
}

/// A request with the bearer token, if any.
fn maybe_bearer<T>(message: T, token: Option<&str>) -> tonic::Request<T> {
    match token {
        Some(t) => with_bearer(message, t),
        None => tonic::Request::new(message),
    }
}

/// Every RPC with a harmless request against the existing dataset `ds` and group `g`.
async fn call_every_rpc(app: &TestApp, token: Option<&str>) -> Vec<(&'static str, Status)> {
    let mut c = DatasetServiceClient::new(app.channel().await);
    macro_rules! call {
        ($out:ident, $name:literal, $method:ident, $message:expr) => {
            $out.push(($name, c.$method(maybe_bearer($message, token)).await.map(drop).expect_err($name)));
        };
    }
    let s = String::new;
    let ds = || "ds".to_owned();
    let email = || "someone@example.org".to_owned();
    let mut out = Vec::new();
    call!(
        out,
        "CreateDataset",
        create_dataset,
        pb::CreateDatasetRequest { name: "x".into(), description: s(), access_mode: CLOSED, request_id: s() }
    );
    call!(out, "GetDataset", get_dataset, pb::GetDatasetRequest { name: ds() });
    call!(out, "ListDatasets", list_datasets, pb::ListDatasetsRequest { page_size: 0, page_token: s() });
    call!(
        out,
        "UpdateDataset",
        update_dataset,
        pb::UpdateDatasetRequest { name: ds(), description: Some(s()), access_mode: None, tos_document_id: None }
    );
    call!(out, "DeleteDataset", delete_dataset, pb::DeleteDatasetRequest { name: ds() });
    call!(
        out,
        "CreateDatasetVersion",
        create_dataset_version,
        pb::CreateDatasetVersionRequest {
            dataset: ds(),
            version: "v2".into(),
            prefix: s(),
            is_public: false,
            buckets: vec![],
            request_id: s()
        }
    );
    call!(out, "ListDatasetVersions", list_dataset_versions, pb::ListDatasetVersionsRequest { dataset: ds() });
    call!(
        out,
        "UpdateDatasetVersion",
        update_dataset_version,
        pb::UpdateDatasetVersionRequest {
            dataset: ds(),
            version: "v1".into(),
            prefix: Some(s()),
            is_public: None,
            buckets: None
        }
    );
    call!(
        out,
        "DeleteDatasetVersion",
        delete_dataset_version,
        pb::DeleteDatasetVersionRequest { dataset: ds(), version: "v1".into() }
    );
    call!(
        out,
        "AddDatasetBucket",
        add_dataset_bucket,
        pb::AddDatasetBucketRequest { dataset: ds(), bucket: "b2".into() }
    );
    call!(
        out,
        "RemoveDatasetBucket",
        remove_dataset_bucket,
        pb::RemoveDatasetBucketRequest { dataset: ds(), bucket: "b1".into() }
    );
    call!(
        out,
        "CreateGrant",
        create_grant,
        pb::CreateGrantRequest {
            dataset: ds(),
            grantee: Some(user("someone@example.org")),
            level: VIEW,
            version: s(),
            request_id: s()
        }
    );
    call!(out, "DeleteGrant", delete_grant, pb::DeleteGrantRequest { dataset: ds(), grant_id: 1 });
    call!(out, "ListGrants", list_grants, pb::ListGrantsRequest { dataset: ds(), page_size: 0, page_token: s() });
    call!(
        out,
        "AddDatasetAdmin",
        add_dataset_admin,
        pb::AddDatasetAdminRequest { dataset: ds(), user_email: "root@example.org".into() }
    );
    call!(
        out,
        "RemoveDatasetAdmin",
        remove_dataset_admin,
        pb::RemoveDatasetAdminRequest { dataset: ds(), user_email: "root@example.org".into() }
    );
    call!(out, "ListDatasetAdmins", list_dataset_admins, pb::ListDatasetAdminsRequest { dataset: ds() });
    call!(out, "CreateGroup", create_group, pb::CreateGroupRequest { name: "x".into(), request_id: s() });
    call!(out, "GetGroup", get_group, pb::GetGroupRequest { name: "g".into() });
    call!(out, "ListGroups", list_groups, pb::ListGroupsRequest { page_size: 0, page_token: s() });
    call!(out, "UpdateGroup", update_group, pb::UpdateGroupRequest { name: "g".into(), new_name: "h".into() });
    call!(out, "DeleteGroup", delete_group, pb::DeleteGroupRequest { name: "g".into() });
    call!(
        out,
        "AddGroupMember",
        add_group_member,
        pb::AddGroupMemberRequest { group: "g".into(), user_email: email() }
    );
    call!(
        out,
        "RemoveGroupMember",
        remove_group_member,
        pb::RemoveGroupMemberRequest { group: "g".into(), user_email: "root@example.org".into() }
    );
    call!(out, "ListGroupMembers", list_group_members, pb::ListGroupMembersRequest { group: "g".into() });
    call!(
        out,
        "SetGroupAdmin",
        set_group_admin,
        pb::SetGroupAdminRequest { group: "g".into(), user_email: "root@example.org".into(), is_admin: true }
    );
    call!(
        out,
        "CreateTeamGrant",
        create_team_grant,
        pb::CreateTeamGrantRequest {
            group: "g".into(),
            user_email: email(),
            dataset: ds(),
            level: VIEW,
            request_id: s()
        }
    );
    call!(out, "DeleteTeamGrant", delete_team_grant, pb::DeleteTeamGrantRequest { group: "g".into(), grant_id: 1 });
    call!(out, "ListTeamGrants", list_team_grants, pb::ListTeamGrantsRequest { group: "g".into() });
    let bot = || "bot".to_owned();
    call!(
        out,
        "CreateServiceAccount",
        create_service_account,
        pb::CreateServiceAccountRequest { name: "x".into(), description: s(), request_id: s() }
    );
    call!(out, "GetServiceAccount", get_service_account, pb::GetServiceAccountRequest { name: bot() });
    call!(
        out,
        "ListServiceAccounts",
        list_service_accounts,
        pb::ListServiceAccountsRequest { page_size: 0, page_token: s() }
    );
    call!(
        out,
        "UpdateServiceAccount",
        update_service_account,
        pb::UpdateServiceAccountRequest { name: bot(), description: Some("x".into()) }
    );
    call!(
        out,
        "SetServiceAccountActive",
        set_service_account_active,
        pb::SetServiceAccountActiveRequest { name: bot(), is_active: false }
    );
    call!(
        out,
        "DeleteServiceAccount",
        delete_service_account,
        pb::DeleteServiceAccountRequest { name: bot(), confirm_name: bot() }
    );
    call!(
        out,
        "CreateServiceAccountToken",
        create_service_account_token,
        pb::CreateServiceAccountTokenRequest { name: bot(), description: "x".into() }
    );
    call!(
        out,
        "ListServiceAccountTokens",
        list_service_account_tokens,
        pb::ListServiceAccountTokensRequest { name: bot() }
    );
    call!(
        out,
        "RevokeServiceAccountToken",
        revoke_service_account_token,
        pb::RevokeServiceAccountTokenRequest { name: bot(), token_id: 1 }
    );
    call!(
        out,
        "CreateTosDocument",
        create_tos_document,
        pb::CreateTosDocumentRequest { name: "t".into(), text: "x".into(), ..Default::default() }
    );
    let doc = || Some(pb::get_tos_document_request::Document::Id(1));
    call!(out, "GetTosDocument", get_tos_document, pb::GetTosDocumentRequest { document: doc() });
    call!(out, "ListTosDocuments", list_tos_documents, pb::ListTosDocumentsRequest::default());
    call!(
        out,
        "UpdateTosDocument",
        update_tos_document,
        pb::UpdateTosDocumentRequest { id: 1, name: Some("t".into()), ..Default::default() }
    );
    call!(out, "RotateTosInviteToken", rotate_tos_invite_token, pb::RotateTosInviteTokenRequest { id: 1 });
    let accept = || Some(pb::accept_tos_request::Document::Id(1));
    call!(out, "AcceptTos", accept_tos, pb::AcceptTosRequest { document: accept() });
    call!(
        out,
        "ListTosAcceptances",
        list_tos_acceptances,
        pb::ListTosAcceptancesRequest { id: 1, ..Default::default() }
    );
    call!(
        out,
        "AddServiceTable",
        add_service_table,
        pb::AddServiceTableRequest { dataset: ds(), service_name: "svc".into(), table_name: "t2".into() }
    );
    call!(
        out,
        "RemoveServiceTable",
        remove_service_table,
        pb::RemoveServiceTableRequest { dataset: ds(), service_table_id: 1 }
    );
    call!(out, "ListServiceTables", list_service_tables, pb::ListServiceTablesRequest { dataset: ds() });
    call!(
        out,
        "AddPublicRoot",
        add_public_root,
        pb::AddPublicRootRequest { dataset: ds(), service_table_id: 1, root_id: 7 }
    );
    call!(
        out,
        "RemovePublicRoot",
        remove_public_root,
        pb::RemovePublicRootRequest { dataset: ds(), service_table_id: 1, root_id: 5 }
    );
    call!(
        out,
        "ListPublicRoots",
        list_public_roots,
        pb::ListPublicRootsRequest { dataset: ds(), service_table_id: 1, ..Default::default() }
    );
    call!(out, "ListAuditLog", list_audit_log, pb::ListAuditLogRequest::default());
    call!(out, "CreateService", create_service, pb::CreateServiceRequest { name: "svc2".into(), ..Default::default() });
    call!(out, "ListServices", list_services, pb::ListServicesRequest {});
    call!(
        out,
        "UpdateService",
        update_service,
        pb::UpdateServiceRequest { name: "celltyping".into(), display_name: Some("x".into()), base_url: None }
    );
    call!(out, "DeleteService", delete_service, pb::DeleteServiceRequest { name: "celltyping".into() });
    call!(
        out,
        "CreateMiddleauthApp",
        create_middleauth_app,
        pb::CreateMiddleauthAppRequest {
            name: "PCG".into(),
            url: "https://cave.example.org/pcg2".into(),
            request_id: s()
        }
    );
    call!(out, "ListMiddleauthApps", list_middleauth_apps, pb::ListMiddleauthAppsRequest::default());
    call!(out, "DeleteMiddleauthApp", delete_middleauth_app, pb::DeleteMiddleauthAppRequest { id: 1 });
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_rpc_refuses_anonymous_callers_service_accounts_and_plain_users() {
    let app = TestApp::start().await;
    let mut admin = As::new(&app, &app.db.token("root@example.org", Some(Role::Admin)).await).await;
    admin.create_dataset("ds", CLOSED, "").await.unwrap();
    admin.create_version("ds", "v1", &["b1"]).await;
    admin.create_group("g", "").await.unwrap();
    admin.add_member("g", "root@example.org").await.unwrap();
    let (team, _) = admin.team_grant("g", "root@example.org", "ds", VIEW).await.unwrap();
    assert_eq!(team.id, 1, "the refusal table targets grant 1");
    let tos = pb::CreateTosDocumentRequest {
        name: "Terms".into(),
        text: "Be nice.".into(),
        dataset: "ds".into(),
        ..Default::default()
    };
    let tos = admin.client.create_tos_document(admin.req(tos)).await.unwrap().into_inner().document.unwrap();
    assert_eq!(tos.id, 1, "the refusal table targets TOS document 1");
    let service = pb::CreateServiceRequest { name: "celltyping".into(), ..Default::default() };
    admin.client.create_service(admin.req(service)).await.unwrap();
    let table = pb::AddServiceTableRequest { dataset: "ds".into(), service_name: "svc".into(), table_name: "t".into() };
    let table = admin.client.add_service_table(admin.req(table)).await.unwrap().into_inner().service_table.unwrap();
    assert_eq!(table.id, 1, "the refusal table targets service table 1");
    let root = pb::AddPublicRootRequest { dataset: "ds".into(), service_table_id: 1, root_id: 5 };
    assert!(admin.client.add_public_root(admin.req(root)).await.unwrap().into_inner().created);
    let app_request = pb::CreateMiddleauthAppRequest {
        name: "PCG".into(),
        url: "https://cave.example.org/pcg".into(),
        request_id: String::new(),
    };
    let created = admin.client.create_middleauth_app(admin.req(app_request)).await.unwrap().into_inner();
    assert_eq!(created.app.unwrap().id, 1, "the refusal table targets middleauth app 1");
    let plain = app.db.token("plain@example.org", None).await;
    let (_, sa_token) = ops::create_service_account(&mut *app.db.conn().await, Actor::System, "bot", "").await.unwrap();
    let audit_before = audit_rows(&app).await.len();

    let anonymous = call_every_rpc(&app, None).await;
    assert_eq!(anonymous.len(), 59);
    for (rpc, status) in &anonymous {
        assert_eq!(status.code(), Code::Unauthenticated, "{rpc}: {status:?}");
    }
    for (rpc, status) in call_every_rpc(&app, Some(&sa_token)).await {
        assert_eq!(status.code(), Code::PermissionDenied, "{rpc}: {status:?}");
        assert!(status.message().contains("Service accounts"), "{rpc}: {status:?}");
    }
    for (rpc, status) in call_every_rpc(&app, Some(&plain)).await {
        // A closed dataset the user cannot read looks unknown rather than forbidden.
        let expected =
            if matches!(rpc, "GetDataset" | "ListDatasetVersions") { Code::NotFound } else { Code::PermissionDenied };
        assert_eq!(status.code(), expected, "{rpc}: {status:?}");
    }
    assert_eq!(audit_rows(&app).await.len(), audit_before, "refusals change nothing");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn service_accounts_are_created_minted_disabled_and_deleted_with_audit() {
    use steward::proto::authorization::v1::WhoAmIRequest;
    let app = TestApp::start().await;
    let mut admin = As::new(&app, &app.db.token("root@example.org", Some(Role::Admin)).await).await;
    let root = user_id(&app, "root@example.org").await;
    admin.create_dataset("fish2", CLOSED, "").await.unwrap();

    // Scenario 119: a non-slug or duplicate name is refused.
    let create = |name: &str, request_id: &str| pb::CreateServiceAccountRequest {
        name: name.into(),
        description: "Nightly pipeline".into(),
        request_id: request_id.into(),
    };
    let reply = admin.client.create_service_account(admin.req(create("pipeline", "r1"))).await.unwrap().into_inner();
    let account = reply.service_account.unwrap();
    assert_eq!(account.email, "pipeline@service-account.dsg.local");
    assert_eq!((account.created_by.as_str(), account.is_active, account.token_count), ("root@example.org", true, 0));
    let again = admin.client.create_service_account(admin.req(create("pipeline", "r1"))).await.unwrap().into_inner();
    assert_eq!(again.service_account.unwrap().id, account.id, "a retry returns the first result");
    assert_code(
        admin.client.create_service_account(admin.req(create("pipeline", ""))).await,
        Code::AlreadyExists,
        "already exists",
    );
    assert_code(
        admin.client.create_service_account(admin.req(create("not a slug", ""))).await,
        Code::InvalidArgument,
        "Name must be a slug (letters, numbers, hyphens, underscores).",
    );

    // Its token is shown once, works for WhoAmI, and is listed without its text.
    let mint = |description: &str| pb::CreateServiceAccountTokenRequest {
        name: "pipeline".into(),
        description: description.into(),
    };
    assert_code(
        admin.client.create_service_account_token(admin.req(mint(" "))).await,
        Code::InvalidArgument,
        "Description is required.",
    );
    let minted = admin.client.create_service_account_token(admin.req(mint("ci"))).await.unwrap().into_inner();
    assert_eq!(minted.token.len(), 64);
    let who =
        app.authorization().await.who_am_i(with_bearer(WhoAmIRequest {}, &minted.token)).await.unwrap().into_inner();
    assert_eq!((who.id, who.service_account), (account.id, true));
    let second = admin.client.create_service_account_token(admin.req(mint("backup"))).await.unwrap().into_inner();
    let list = pb::ListServiceAccountTokensRequest { name: "pipeline".into() };
    let tokens = admin.client.list_service_account_tokens(admin.req(list.clone())).await.unwrap().into_inner().tokens;
    assert_eq!(tokens.iter().map(|t| t.description.as_str()).collect::<Vec<_>>(), ["ci", "backup"]);
    let stored: Vec<Vec<u8>> = steward::db::schema::api_tokens::table
        .filter(steward::db::schema::api_tokens::service_account_id.eq(account.id))
        .select(steward::db::schema::api_tokens::token_hash)
        .load(&mut *app.db.conn().await)
        .await
        .unwrap();
    assert!(stored.iter().all(|h| h.len() == 32 && *h != minted.token.as_bytes()), "only hashes are stored");

    // Revocation makes the token 401 at once; disabling refuses the other one.
    let revoke =
        pb::RevokeServiceAccountTokenRequest { name: "pipeline".into(), token_id: minted.token_info.unwrap().id };
    admin.client.revoke_service_account_token(admin.req(revoke.clone())).await.unwrap();
    crate::common::eventually_refused(&app, &minted.token).await;
    assert_code(admin.client.revoke_service_account_token(admin.req(revoke)).await, Code::NotFound, "Token not found");
    app.authorization()
        .await
        .who_am_i(with_bearer(WhoAmIRequest {}, &second.token))
        .await
        .expect("the other token works");
    let disable = pb::SetServiceAccountActiveRequest { name: "pipeline".into(), is_active: false };
    let disabled = admin.client.set_service_account_active(admin.req(disable)).await.unwrap().into_inner();
    assert!(!disabled.service_account.unwrap().is_active);
    crate::common::eventually_refused(&app, &second.token).await;
    let enable = pb::SetServiceAccountActiveRequest { name: "pipeline".into(), is_active: true };
    admin.client.set_service_account_active(admin.req(enable)).await.unwrap();
    app.authorization().await.who_am_i(with_bearer(WhoAmIRequest {}, &second.token)).await.expect("enabled again");

    // Update, grants and counts.
    let update = pb::UpdateServiceAccountRequest { name: "pipeline".into(), description: Some("Hourly".into()) };
    admin.client.update_service_account(admin.req(update)).await.unwrap();
    admin.grant("fish2", pb::create_grant_request::Grantee::ServiceAccount("pipeline".into()), VIEW, "").await.unwrap();
    let got = admin.client.get_service_account(admin.req(pb::GetServiceAccountRequest { name: "pipeline".into() }));
    let got = got.await.unwrap().into_inner().service_account.unwrap();
    assert_eq!((got.description.as_str(), got.token_count, got.grant_count), ("Hourly", 1, 1));
    let page = admin
        .client
        .list_service_accounts(admin.req(pb::ListServiceAccountsRequest { page_size: 0, page_token: String::new() }));
    assert_eq!(page.await.unwrap().into_inner().service_accounts.len(), 1);

    // Deletion needs the name repeated, then removes tokens and grants.
    let delete =
        |confirm: &str| pb::DeleteServiceAccountRequest { name: "pipeline".into(), confirm_name: confirm.into() };
    assert_code(
        admin.client.delete_service_account(admin.req(delete("pipelin"))).await,
        Code::FailedPrecondition,
        "Confirmation name did not match. Service account NOT deleted.",
    );
    admin.client.delete_service_account(admin.req(delete("pipeline"))).await.unwrap();
    crate::common::eventually_refused(&app, &second.token).await;
    let left: i64 = grants::table.count().get_result(&mut *app.db.conn().await).await.unwrap();
    assert_eq!(left, 0);
    assert_code(
        admin.client.list_service_account_tokens(admin.req(list)).await,
        Code::NotFound,
        "Service account not found",
    );

    let rows = audit_rows(&app).await;
    let actions: Vec<&str> = rows
        .iter()
        .rev()
        .map(|r| r.action.as_str())
        .filter(|a| a.contains("service_account") || a.starts_with("sa_"))
        .collect();
    assert_eq!(
        actions,
        [
            "service_account_created",
            "sa_token_created",
            "sa_token_created",
            "sa_token_revoked",
            "service_account_disabled",
            "service_account_enabled",
            "service_account_updated",
            "sa_grant_created",
            "service_account_deleted",
        ]
    );
    assert!(rows.iter().all(|r| r.actor_user_id == Some(root)), "the admin is the actor of every step");
    let deleted = rows.iter().find(|r| r.action == "service_account_deleted").unwrap();
    assert_eq!(
        deleted.before_state.as_ref().unwrap(),
        &serde_json::json!({"name": "pipeline", "description": "Hourly", "token_count": 1, "grant_count": 1})
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn terms_of_service_are_managed_by_admins_and_accepted_by_users() {
    let app = TestApp::start().await;
    let mut admin = As::new(&app, &app.db.token("root@example.org", Some(Role::Admin)).await).await;
    let member_token = app.db.token("member@example.org", None).await;
    let mut member = As::new(&app, &member_token).await;
    let mut stranger = As::new(&app, &app.db.token("stranger@example.org", None).await).await;
    admin.create_dataset("fish2", CLOSED, "").await.unwrap();
    admin.create_dataset("open", PUBLIC, "").await.unwrap();
    admin.create_group("lab", "").await.unwrap();
    admin.add_member("lab", "member@example.org").await.unwrap();
    admin.grant("fish2", pb::create_grant_request::Grantee::Group("lab".into()), VIEW, "").await.unwrap();

    let new_doc = |name: &str, dataset: &str, service: &str| pb::CreateTosDocumentRequest {
        name: name.into(),
        text: format!("# {name}\nBe nice."),
        dataset: dataset.into(),
        service: service.into(),
        ..Default::default()
    };
    let create = |a: &mut As, r: pb::CreateTosDocumentRequest| {
        let request = a.req(r);
        let mut client = a.client.clone();
        async move { client.create_tos_document(request).await.map(|r| r.into_inner().document.unwrap()) }
    };
    let fish_tos = create(&mut admin, new_doc("Fish terms", "fish2", "")).await.unwrap();
    assert!(fish_tos.is_current, "a dataset-level document becomes the general TOS");
    assert_eq!(fish_tos.invite_token.len(), 43);
    let open_tos = create(&mut admin, new_doc("Open terms", "open", "")).await.unwrap();
    let svc_tos = create(&mut admin, new_doc("Celltyping terms", "fish2", "celltyping")).await.unwrap();
    assert!(!svc_tos.is_current);
    assert_eq!(svc_tos.service, "celltyping");
    let empty = pb::CreateTosDocumentRequest { text: " ".into(), ..new_doc("x", "fish2", "") };
    assert_code(create(&mut admin, empty).await, Code::InvalidArgument, "text is required");
    let orphan = pb::CreateTosDocumentRequest { version: "v1".into(), ..new_doc("x", "", "") };
    assert_code(create(&mut admin, orphan).await, Code::InvalidArgument, "dataset is required");
    assert_code(create(&mut admin, new_doc("x", "nope", "")).await, Code::NotFound, "Dataset not found");

    // Pending before acceptance: the general TOS, plus the service's when asked through it.
    let pending = |service: &str| pb::ListPendingTosRequest {
        dataset: "fish2".into(),
        service: service.into(),
        version: String::new(),
    };
    let ids = |docs: Vec<pb::TosDocument>| docs.into_iter().map(|d| d.id).collect::<Vec<_>>();
    let listed = member.client.list_pending_tos(member.req(pending(""))).await.unwrap().into_inner().documents;
    assert_eq!(ids(listed), [fish_tos.id]);
    let listed =
        member.client.list_pending_tos(member.req(pending("celltyping"))).await.unwrap().into_inner().documents;
    assert_eq!(ids(listed), [fish_tos.id, svc_tos.id]);
    assert_code(
        DatasetServiceClient::new(app.channel().await).list_pending_tos(pending("")).await,
        Code::Unauthenticated,
        "credentials",
    );

    // Scenario 74: a closed dataset needs a grant (a group grant counts); accepting is audited once.
    let by_id = |id: i64| pb::AcceptTosRequest { document: Some(pb::accept_tos_request::Document::Id(id)) };
    assert_code(
        stranger.client.accept_tos(stranger.req(by_id(fish_tos.id))).await,
        Code::PermissionDenied,
        "Access Restricted",
    );
    let accepted = member.client.accept_tos(member.req(by_id(fish_tos.id))).await.unwrap().into_inner();
    assert!(accepted.newly_accepted && !accepted.view_granted);
    assert!(!member.client.accept_tos(member.req(by_id(fish_tos.id))).await.unwrap().into_inner().newly_accepted);
    assert_eq!(count_action(&app, "tos_accepted").await, 1);
    let audited = audit_rows(&app).await.into_iter().find(|r| r.action == "tos_accepted").unwrap();
    assert_eq!(
        audited.after_state.unwrap(),
        serde_json::json!({"user": "member@example.org", "tos_document": fish_tos.id, "dataset": "fish2"})
    );
    eventually_cache(&app, &member_token, |doc| doc.contains(r#""permissions_v2":{"fish2":["view"]"#)).await;
    let listed = member.client.list_pending_tos(member.req(pending(""))).await.unwrap().into_inner().documents;
    assert!(listed.is_empty());

    // Scenario 75: a public dataset's document, by invite token, records a self-service view grant.
    let anonymous_get = pb::GetTosDocumentRequest {
        document: Some(pb::get_tos_document_request::Document::InviteToken(open_tos.invite_token.clone())),
    };
    let mut anonymous = DatasetServiceClient::new(app.channel().await);
    let fetched = anonymous.get_tos_document(anonymous_get).await.unwrap().into_inner().document.unwrap();
    assert_eq!(fetched.text, "# Open terms\nBe nice.");
    let by_invite =
        |t: &str| pb::AcceptTosRequest { document: Some(pb::accept_tos_request::Document::InviteToken(t.into())) };
    let granted =
        stranger.client.accept_tos(stranger.req(by_invite(&open_tos.invite_token))).await.unwrap().into_inner();
    assert!(granted.newly_accepted && granted.view_granted);
    let before = audit_rows(&app).await.len();
    let again = stranger.client.accept_tos(stranger.req(by_invite(&open_tos.invite_token))).await.unwrap().into_inner();
    assert!(!again.newly_accepted && !again.view_granted);
    assert_eq!(audit_rows(&app).await.len(), before, "a repeat writes nothing");
    let self_service = audit_rows(&app).await.into_iter().find(|r| r.action == "grant_created").unwrap();
    assert_eq!(self_service.after_state.as_ref().unwrap()["source"], "self_service");
    assert_eq!(self_service.after_state.as_ref().unwrap()["dataset"], "open");
    assert_code(
        stranger.client.accept_tos(stranger.req(by_invite("unknown"))).await,
        Code::NotFound,
        "TOS document not found",
    );

    // Reading by id is for admins; acceptances are listed for them.
    let get_id = pb::GetTosDocumentRequest { document: Some(pb::get_tos_document_request::Document::Id(fish_tos.id)) };
    assert_code(member.client.get_tos_document(member.req(get_id.clone())).await, Code::PermissionDenied, "admins");
    let got = admin.client.get_tos_document(admin.req(get_id)).await.unwrap().into_inner().document.unwrap();
    assert_eq!(got.acceptance_count, 1);
    let acceptances = pb::ListTosAcceptancesRequest { id: fish_tos.id, ..Default::default() };
    let listed = admin.client.list_tos_acceptances(admin.req(acceptances)).await.unwrap().into_inner().acceptances;
    assert_eq!(listed.len(), 1);
    assert_eq!(
        (listed[0].user_email.as_str(), listed[0].text_sha256.as_str()),
        ("member@example.org", got.text_sha256.as_str())
    );

    // Text is immutable once accepted; other fields change and are audited.
    let edit = |id: i64, name: Option<&str>, text: Option<&str>| pb::UpdateTosDocumentRequest {
        id,
        name: name.map(str::to_owned),
        text: text.map(str::to_owned),
        ..Default::default()
    };
    assert_code(
        admin.client.update_tos_document(admin.req(edit(fish_tos.id, None, Some("New text")))).await,
        Code::FailedPrecondition,
        "accepted",
    );
    let renamed = admin.client.update_tos_document(admin.req(edit(fish_tos.id, Some("Fish terms v1"), None))).await;
    assert_eq!(renamed.unwrap().into_inner().document.unwrap().name, "Fish terms v1");
    let retext = admin.client.update_tos_document(admin.req(edit(svc_tos.id, None, Some("Changed")))).await;
    assert_ne!(
        retext.unwrap().into_inner().document.unwrap().text_sha256,
        svc_tos.text_sha256,
        "unaccepted text may change"
    );
    assert_eq!(count_action(&app, "tos_document_updated").await, 2);

    // Retiring a service document takes it out of force; rotating the invite kills old links.
    let retire = pb::UpdateTosDocumentRequest {
        id: svc_tos.id,
        retire_time: Some(prost_types::Timestamp { seconds: 1, nanos: 0 }),
        ..Default::default()
    };
    admin.client.update_tos_document(admin.req(retire)).await.unwrap();
    assert_code(
        member.client.accept_tos(member.req(by_id(svc_tos.id))).await,
        Code::FailedPrecondition,
        "not in force",
    );
    let rotate = pb::RotateTosInviteTokenRequest { id: open_tos.id };
    let rotated = admin.client.rotate_tos_invite_token(admin.req(rotate)).await.unwrap().into_inner().document.unwrap();
    assert_ne!(rotated.invite_token, open_tos.invite_token);
    assert_code(
        stranger.client.accept_tos(stranger.req(by_invite(&open_tos.invite_token))).await,
        Code::NotFound,
        "not found",
    );
    assert_eq!(count_action(&app, "tos_invite_rotated").await, 1);
    let all = admin
        .client
        .list_tos_documents(admin.req(pb::ListTosDocumentsRequest { dataset: "fish2".into(), ..Default::default() }));
    assert_eq!(ids(all.await.unwrap().into_inner().documents), [fish_tos.id, svc_tos.id]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn service_tables_belong_to_dataset_admins_and_public_roots_to_managers() {
    let app = TestApp::start().await;
    let mut admin = As::new(&app, &app.db.token("root@example.org", Some(Role::Admin)).await).await;
    let mut ds_admin = As::new(&app, &app.db.token("dsadmin@example.org", None).await).await;
    let mut manager = As::new(&app, &app.db.token("manager@example.org", None).await).await;
    admin.create_dataset("fish2", CLOSED, "").await.unwrap();
    admin.create_dataset("other", CLOSED, "").await.unwrap();
    admin.grant_user("fish2", "dsadmin@example.org", ADMIN).await.unwrap();
    admin.grant_user("fish2", "manager@example.org", MANAGE).await.unwrap();

    // Scenario 118: tables by a dataset admin, refused to a manager.
    let add = |service: &str, table: &str| pb::AddServiceTableRequest {
        dataset: "fish2".into(),
        service_name: service.into(),
        table_name: table.into(),
    };
    let table = ds_admin.client.add_service_table(ds_admin.req(add("pychunkedgraph", "fish2_v1"))).await;
    let table = table.unwrap().into_inner().service_table.unwrap();
    assert_eq!((table.service_name.as_str(), table.table_name.as_str()), ("pychunkedgraph", "fish2_v1"));
    assert_code(
        manager.client.add_service_table(manager.req(add("datastack", "x"))).await,
        Code::PermissionDenied,
        "Only dataset administrators can manage service tables",
    );
    assert_code(
        ds_admin.client.add_service_table(ds_admin.req(add("pychunkedgraph", "fish2_v1"))).await,
        Code::AlreadyExists,
        "Service table pychunkedgraph/fish2_v1 already exists",
    );
    assert_code(
        ds_admin.client.add_service_table(ds_admin.req(add("", "x"))).await,
        Code::InvalidArgument,
        "Service name and table name are required",
    );

    // Public roots by a manager; a repeat is a no-op; the table must belong to the dataset.
    let root = |dataset: &str, root_id: i64| pb::AddPublicRootRequest {
        dataset: dataset.into(),
        service_table_id: table.id,
        root_id,
    };
    let big = 864_691_135_000_000_123_i64;
    for id in [200, big, 100] {
        assert!(manager.client.add_public_root(manager.req(root("fish2", id))).await.unwrap().into_inner().created);
    }
    assert!(!manager.client.add_public_root(manager.req(root("fish2", 100))).await.unwrap().into_inner().created);
    assert_code(admin.client.add_public_root(admin.req(root("other", 1))).await, Code::NotFound, "not found in other");
    let list = |page_token: String| pb::ListPublicRootsRequest {
        dataset: "fish2".into(),
        service_table_id: table.id,
        page_size: 2,
        page_token,
    };
    let first = manager.client.list_public_roots(manager.req(list(String::new()))).await.unwrap().into_inner();
    assert_eq!(first.root_ids, [100, 200]);
    let second = manager.client.list_public_roots(manager.req(list(first.next_page_token))).await.unwrap().into_inner();
    assert_eq!((second.root_ids, second.next_page_token), (vec![big], String::new()));
    let remove = pb::RemovePublicRootRequest { dataset: "fish2".into(), service_table_id: table.id, root_id: 200 };
    manager.client.remove_public_root(manager.req(remove.clone())).await.unwrap();
    assert_code(manager.client.remove_public_root(manager.req(remove)).await, Code::NotFound, "not public");

    // Removing the table cascades its roots.
    let tables =
        ds_admin.client.list_service_tables(ds_admin.req(pb::ListServiceTablesRequest { dataset: "fish2".into() }));
    assert_eq!(tables.await.unwrap().into_inner().service_tables[0].public_root_count, 2);
    let drop_table = pb::RemoveServiceTableRequest { dataset: "fish2".into(), service_table_id: table.id };
    assert_code(
        manager.client.remove_service_table(manager.req(drop_table.clone())).await,
        Code::PermissionDenied,
        "dataset administrators",
    );
    ds_admin.client.remove_service_table(ds_admin.req(drop_table)).await.unwrap();
    let roots: i64 =
        steward::db::schema::public_roots::table.count().get_result(&mut *app.db.conn().await).await.unwrap();
    assert_eq!(roots, 0);

    // All four actions are audited with DSG's state keys.
    let rows = audit_rows(&app).await;
    let added = rows.iter().find(|r| r.action == "public_root_added").unwrap();
    assert_eq!(
        added.after_state.as_ref().unwrap(),
        &serde_json::json!({"service_table": "pychunkedgraph/fish2_v1", "root_id": 100, "dataset": "fish2"})
    );
    for action in ["service_table_added", "service_table_removed", "public_root_added", "public_root_removed"] {
        assert!(rows.iter().any(|r| r.action == action), "{action} missing");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_audit_log_is_listed_newest_first_with_filters_and_pages() {
    let app = TestApp::start().await;
    let mut admin = As::new(&app, &app.db.token("root@example.org", Some(Role::Admin)).await).await;
    let mut manager = As::new(&app, &app.db.token("manager@example.org", None).await).await;
    admin.create_dataset("fish2", CLOSED, "req-7").await.unwrap();
    admin.grant_user("fish2", "manager@example.org", MANAGE).await.unwrap();
    manager.grant_user("fish2", "ann@example.org", VIEW).await.unwrap();
    manager.grant_user("fish2", "bob@example.org", VIEW).await.unwrap();

    let list = |f: pb::ListAuditLogRequest| {
        let request = admin.req(f);
        let mut client = admin.client.clone();
        async move { client.list_audit_log(request).await.unwrap().into_inner() }
    };
    let all = list(pb::ListAuditLogRequest::default()).await;
    let actions: Vec<&str> = all.entries.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(
        actions,
        ["grant_created", "user_created", "grant_created", "user_created", "grant_created", "dataset_created"],
        "newest first"
    );
    let created = all.entries.last().unwrap();
    assert_eq!((created.actor.as_str(), created.request_id.as_str()), ("root@example.org", "req-7"));
    let name = created.after_state.as_ref().unwrap().fields.get("name").unwrap();
    assert_eq!(name.kind, Some(prost_types::value::Kind::StringValue("fish2".into())));

    let by_manager = list(pb::ListAuditLogRequest {
        actor: "manager@example.org".into(),
        action: "grant_created".into(),
        ..Default::default()
    })
    .await;
    assert_eq!(by_manager.entries.len(), 2);
    assert!(by_manager.entries.iter().all(|e| e.actor == "manager@example.org"));
    let nobody = list(pb::ListAuditLogRequest { actor: "ghost@example.org".into(), ..Default::default() }).await;
    assert!(nobody.entries.is_empty());
    let target =
        list(pb::ListAuditLogRequest { target_type: "Dataset".into(), target_id: "1".into(), ..Default::default() })
            .await;
    assert_eq!(target.entries.len(), 1);
    let future = prost_types::Timestamp { seconds: 4_000_000_000, nanos: 0 };
    let later = list(pb::ListAuditLogRequest { since: Some(future), ..Default::default() }).await;
    assert!(later.entries.is_empty());
    let until = list(pb::ListAuditLogRequest { until: Some(future), ..Default::default() }).await;
    assert_eq!(until.entries.len(), 6);

    // Pages of four then two.
    let first = list(pb::ListAuditLogRequest { page_size: 4, ..Default::default() }).await;
    assert_eq!(first.entries.len(), 4);
    let second =
        list(pb::ListAuditLogRequest { page_size: 4, page_token: first.next_page_token, ..Default::default() }).await;
    assert_eq!(
        second.entries.iter().map(|e| e.id).collect::<Vec<_>>(),
        all.entries[4..].iter().map(|e| e.id).collect::<Vec<_>>()
    );
    assert!(second.next_page_token.is_empty());
    assert_code(
        manager.client.list_audit_log(manager.req(pb::ListAuditLogRequest::default())).await,
        Code::PermissionDenied,
        "global admins",
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn services_scope_tos_documents_and_are_managed_by_admins() {
    let app = TestApp::start().await;
    let mut admin = As::new(&app, &app.db.token("root@example.org", Some(Role::Admin)).await).await;
    let create = |name: &str, request_id: &str| pb::CreateServiceRequest {
        name: name.into(),
        display_name: "Cell typing".into(),
        base_url: "https://celltyping.example.org".into(),
        request_id: request_id.into(),
    };
    let made = admin.client.create_service(admin.req(create("celltyping", "s-1"))).await.unwrap().into_inner();
    let again = admin.client.create_service(admin.req(create("celltyping", "s-1"))).await.unwrap().into_inner();
    assert_eq!(made.service.as_ref().unwrap().id, again.service.unwrap().id);
    assert_code(
        admin.client.create_service(admin.req(create("celltyping", ""))).await,
        Code::AlreadyExists,
        "already exists",
    );
    assert_code(admin.client.create_service(admin.req(create("cell typing", ""))).await, Code::InvalidArgument, "name");
    let update = pb::UpdateServiceRequest {
        name: "celltyping".into(),
        display_name: None,
        base_url: Some("https://ct.example.org".into()),
    };
    let updated = admin.client.update_service(admin.req(update)).await.unwrap().into_inner().service.unwrap();
    assert_eq!((updated.display_name.as_str(), updated.base_url.as_str()), ("Cell typing", "https://ct.example.org"));
    let listed = admin.client.list_services(admin.req(pb::ListServicesRequest {})).await.unwrap().into_inner().services;
    assert_eq!(listed.iter().map(|s| s.name.as_str()).collect::<Vec<_>>(), ["celltyping"]);

    // Deleting a service removes its TOS documents.
    admin.create_dataset("fish2", CLOSED, "").await.unwrap();
    let doc = pb::CreateTosDocumentRequest {
        name: "Celltyping terms".into(),
        text: "Be nice.".into(),
        dataset: "fish2".into(),
        service: "celltyping".into(),
        ..Default::default()
    };
    admin.client.create_tos_document(admin.req(doc)).await.unwrap();
    admin.client.delete_service(admin.req(pb::DeleteServiceRequest { name: "celltyping".into() })).await.unwrap();
    let docs = admin.client.list_tos_documents(admin.req(pb::ListTosDocumentsRequest::default())).await.unwrap();
    assert!(docs.into_inner().documents.is_empty());
    assert_code(
        admin.client.delete_service(admin.req(pb::DeleteServiceRequest { name: "celltyping".into() })).await,
        Code::NotFound,
        "Service not found",
    );
    let actions: Vec<String> =
        audit_rows(&app).await.into_iter().map(|r| r.action).filter(|a| a.starts_with("service_")).collect();
    assert_eq!(actions, ["service_deleted", "service_updated", "service_created"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn middleauth_apps_are_created_listed_and_deleted_with_audit() {
    let app = TestApp::start().await;
    let mut admin = As::new(&app, &app.db.token("root@example.org", Some(Role::Admin)).await).await;
    let root = user_id(&app, "root@example.org").await;
    let create = |name: &str, url: &str, request_id: &str| pb::CreateMiddleauthAppRequest {
        name: name.into(),
        url: url.into(),
        request_id: request_id.into(),
    };

    let pcg = admin
        .client
        .create_middleauth_app(admin.req(create(" PCG ", "https://cave.example.org/pcg", "r1")))
        .await
        .unwrap()
        .into_inner()
        .app
        .unwrap();
    assert_eq!((pcg.name.as_str(), pcg.url.as_str()), ("PCG", "https://cave.example.org/pcg"));
    assert!(pcg.create_time.is_some());
    // A retry with the same request id returns the first result and writes nothing.
    let again = admin
        .client
        .create_middleauth_app(admin.req(create("PCG", "https://cave.example.org/pcg", "r1")))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(again.app.unwrap().id, pcg.id);
    assert_eq!(count_action(&app, "middleauth_app_created").await, 1);
    let duplicate =
        admin.client.create_middleauth_app(admin.req(create("Other", "https://cave.example.org/pcg", ""))).await;
    assert_eq!(duplicate.unwrap_err().code(), Code::AlreadyExists);
    for (name, url) in [
        ("", "https://cave.example.org/x"),
        ("X", ""),
        ("X", "/pcg"),
        ("X", "cave.example.org/pcg"),
        ("X", "ftp://cave.example.org/"),
        ("X", "https://user:pw@cave.example.org/"),
        ("X", "javascript:alert(1)"),
    ] {
        let status = admin.client.create_middleauth_app(admin.req(create(name, url, ""))).await.unwrap_err();
        assert_eq!(status.code(), Code::InvalidArgument, "{name:?} {url:?}: {status:?}");
    }
    // Tests run in development, where plain http is allowed like the other URL settings.
    let local = admin
        .client
        .create_middleauth_app(admin.req(create("Local", "http://127.0.0.1:9000/pcg", "")))
        .await
        .unwrap()
        .into_inner()
        .app
        .unwrap();

    let page =
        |page_size: i32, page_token: &str| pb::ListMiddleauthAppsRequest { page_size, page_token: page_token.into() };
    let first = admin.client.list_middleauth_apps(admin.req(page(1, ""))).await.unwrap().into_inner();
    assert_eq!(first.apps.iter().map(|a| a.id).collect::<Vec<_>>(), [pcg.id]);
    let second =
        admin.client.list_middleauth_apps(admin.req(page(1, &first.next_page_token))).await.unwrap().into_inner();
    assert_eq!(second.apps.iter().map(|a| a.id).collect::<Vec<_>>(), [local.id]);
    assert_eq!(second.next_page_token, "");

    admin.client.delete_middleauth_app(admin.req(pb::DeleteMiddleauthAppRequest { id: pcg.id })).await.unwrap();
    let gone = admin.client.delete_middleauth_app(admin.req(pb::DeleteMiddleauthAppRequest { id: pcg.id })).await;
    assert_eq!(gone.unwrap_err().code(), Code::NotFound);
    let all = admin.client.list_middleauth_apps(admin.req(page(0, ""))).await.unwrap().into_inner();
    assert_eq!(all.apps.iter().map(|a| a.url.as_str()).collect::<Vec<_>>(), ["http://127.0.0.1:9000/pcg"]);

    let rows = audit_rows(&app).await;
    let deleted = rows.iter().find(|r| r.action == "middleauth_app_deleted").expect("a deletion row");
    assert_eq!((deleted.actor_user_id, deleted.target_type.as_str()), (Some(root), "MiddleauthApp"));
    assert_eq!(deleted.target_id, pcg.id.to_string());
    assert_eq!(deleted.before_state, Some(serde_json::json!({"name": "PCG", "url": "https://cave.example.org/pcg"})));
    assert_eq!(count_action(&app, "middleauth_app_created").await, 2);
}
