//! `steward user seed` and the bulk imports (spec §5.9, scenario 120) run as
//! the real binary against a test database: every printed line, the rows they
//! write, one `bulk_import` audit row, idempotence (a second run adds nothing),
//! dry runs that leave every table unchanged and notify no replica, and the
//! one-line errors for malformed files.

use std::path::PathBuf;
use std::process::Output;
use std::time::Duration;

use diesel::sql_types::{BigInt, Bool, Text};
use diesel::{ExpressionMethods as _, QueryDsl as _, QueryableByName};
use diesel_async::{AsyncConnection as _, AsyncPgConnection, RunQueryDsl as _};
use futures_util::StreamExt as _;
use steward::auth::Role;
use steward::dataset::audit;
use steward::db::schema::users;
use steward::proto::authorization::v1::GetUserCacheRequest;

use crate::common::{TestApp, TestDb, steward_command, with_bearer};

fn fixture(name: &str) -> String {
    let path: PathBuf = [env!("CARGO_MANIFEST_DIR"), "tests", "fixtures", "import", name].iter().collect();
    path.to_str().unwrap().to_owned()
}

fn steward(db: &TestDb, args: &[&str]) -> Output {
    steward_command(db.url(), "import-cli").args(args).output().expect("running steward")
}

/// Runs a command that must succeed; returns its (stdout, stderr) lines.
fn ok(db: &TestDb, args: &[&str]) -> (Vec<String>, Vec<String>) {
    let out = steward(db, args);
    let lines = |bytes: &[u8]| String::from_utf8_lossy(bytes).lines().map(str::to_owned).collect::<Vec<_>>();
    assert!(out.status.success(), "steward {args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    (lines(&out.stdout), lines(&out.stderr))
}

/// Runs a command that must fail with status 1 and one line on stderr; returns that line.
fn fails(db: &TestDb, args: &[&str]) -> String {
    let out = steward(db, args);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(1), "steward {args:?}: {stderr}");
    assert_eq!(stderr.lines().count(), 1, "one line: {stderr}");
    assert!(out.stdout.is_empty(), "nothing on stdout");
    stderr.trim_end().to_owned()
}

const DRY_RUN: &str = "DRY RUN — no changes will be made";

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

/// Row counts of every table an import can touch, audit log included.
async fn counts(db: &TestDb) -> Vec<(&'static str, i64)> {
    let mut conn = db.conn().await;
    let mut counts = Vec::new();
    for table in ["users", "groups", "group_memberships", "affiliations", "datasets", "grants", "audit_log"] {
        let row: Count =
            diesel::sql_query(format!("SELECT count(*) AS n FROM {table}")).get_result(&mut conn).await.unwrap();
        counts.push((table, row.n));
    }
    counts
}

/// The `bulk_import` audit rows, newest first, as (target_id, after_state).
async fn bulk_imports(db: &TestDb) -> Vec<(String, serde_json::Value)> {
    let mut conn = db.conn().await;
    let rows = audit::list(&mut conn).await.unwrap();
    rows.into_iter()
        .filter(|r| r.action == "bulk_import")
        .map(|r| {
            assert_eq!((r.target_type.as_str(), r.actor_user_id, r.actor_service_account_id), ("Command", None, None));
            (r.target_id, r.after_state.unwrap_or_default())
        })
        .collect()
}

/// A user's grants as "dataset:level:source", sorted.
async fn grants_of(db: &TestDb, email: &str) -> Vec<String> {
    #[derive(QueryableByName)]
    struct Row {
        #[diesel(sql_type = Text)]
        g: String,
    }
    let mut conn = db.conn().await;
    let rows: Vec<Row> = diesel::sql_query(
        "SELECT d.name || ':' || g.level || ':' || g.source AS g FROM grants g JOIN datasets d ON d.id = g.dataset_id \
         JOIN users u ON u.id = g.user_id WHERE lower(u.email) = lower($1) ORDER BY 1",
    )
    .bind::<Text, _>(email)
    .load(&mut conn)
    .await
    .unwrap();
    rows.into_iter().map(|r| r.g).collect()
}

/// Whether the user is a member of the group.
async fn member(db: &TestDb, email: &str, group: &str) -> bool {
    #[derive(QueryableByName)]
    struct Row {
        #[diesel(sql_type = Bool)]
        member: bool,
    }
    let mut conn = db.conn().await;
    let row: Row = diesel::sql_query(
        "SELECT EXISTS (SELECT 1 FROM group_memberships m JOIN groups g ON g.id = m.group_id \
         JOIN users u ON u.id = m.user_id WHERE lower(u.email) = lower($1) AND g.name = $2) AS member",
    )
    .bind::<Text, _>(email)
    .bind::<Text, _>(group)
    .get_result(&mut conn)
    .await
    .unwrap();
    row.member
}

/// Collects `steward_auth` notifications from a connection of our own.
struct Listener {
    received: tokio::sync::mpsc::UnboundedReceiver<String>,
    task: tokio::task::JoinHandle<()>,
}

impl Listener {
    async fn start(db: &TestDb) -> Listener {
        let mut conn = AsyncPgConnection::establish(db.url()).await.expect("listener connection");
        diesel::sql_query("LISTEN steward_auth").execute(&mut conn).await.unwrap();
        let (tx, received) = tokio::sync::mpsc::unbounded_channel();
        let task = tokio::spawn(async move {
            let mut stream = std::pin::pin!(conn.notifications_stream());
            while let Some(Ok(n)) = stream.next().await {
                let _ = tx.send(n.payload);
            }
        });
        Listener { received, task }
    }

    /// Everything delivered within `wait`.
    async fn drain(&mut self, wait: Duration) -> Vec<String> {
        tokio::time::sleep(wait).await;
        let mut payloads = Vec::new();
        while let Ok(p) = self.received.try_recv() {
            payloads.push(p);
        }
        payloads
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        self.task.abort();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seed_creates_missing_groups_once() {
    let db = TestDb::new().await;
    // The reserved four exist from the first migration.
    let (out, _) = ok(&db, &["user", "seed"]);
    assert_eq!(
        out,
        [
            "Group already exists: admin",
            "Group already exists: sc",
            "Group already exists: team_lead",
            "Group already exists: user"
        ]
    );
    let (out, _) = ok(&db, &["user", "seed", "lab-a", "admin"]);
    assert_eq!(out, ["Created group: lab-a", "Group already exists: admin"]);
    let before = counts(&db).await;
    let (out, _) = ok(&db, &["user", "seed", "lab-a"]);
    assert_eq!(out, ["Group already exists: lab-a"]);
    assert_eq!(counts(&db).await, before, "a repeat writes nothing");
    let mut conn = db.conn().await;
    let created: Vec<String> =
        audit::list(&mut conn).await.unwrap().into_iter().map(|r| format!("{} {}", r.action, r.target_type)).collect();
    assert_eq!(created, ["group_created Group"]);
    assert!(fails(&db, &["user", "seed", "a/b"]).contains("without '/'"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn import_csv_prints_dsg_lines_is_idempotent_and_dry_runs_write_nothing() {
    let db = TestDb::new().await;
    db.token("bob@example.org", None).await;
    let file = fixture("users.csv");
    let args = ["user", "import-csv", file.as_str(), "--dataset", "fish2"];
    let expected = [
        "Created dataset: fish2",
        "Created user: alice@example.org",
        "Updated user: BOB@example.org",
        "Added view grants: alice@example.org, BOB@example.org",
        "Imported 2 users for dataset fish2.",
    ];

    // A dry run prints the same lines after the banner, and changes nothing:
    // no row, no audit record, no NOTIFY.
    let mut listener = Listener::start(&db).await;
    let before = counts(&db).await;
    let (out, _) = ok(&db, &[&args[..], &["--dry-run"]].concat());
    assert_eq!(out[0], DRY_RUN);
    assert_eq!(out[1..], expected);
    assert_eq!(counts(&db).await, before, "the dry run wrote nothing");
    assert_eq!(listener.drain(Duration::from_millis(300)).await, Vec::<String>::new(), "the dry run notified");

    let (out, _) = ok(&db, &args);
    assert_eq!(out, expected);
    let notified = listener.drain(Duration::from_millis(300)).await;
    let (alice_id, bob_id) = {
        let mut conn = db.conn().await;
        let id = |email: &'static str| users::table.filter(users::email.eq(email)).select(users::id);
        (
            id("alice@example.org").first::<i64>(&mut conn).await.unwrap(),
            id("bob@example.org").first::<i64>(&mut conn).await.unwrap(),
        )
    };
    let mut evicted = vec![format!("user:{alice_id}"), format!("user:{bob_id}")];
    evicted.sort();
    assert_eq!(notified, evicted, "each changed user is evicted, once");

    // The rows: new user with CSV name and notes, existing user's name kept and notes appended.
    let mut conn = db.conn().await;
    let profile = |id: i64| users::table.find(id).select((users::name, users::notes));
    let alice: (String, String) = profile(alice_id).first(&mut conn).await.unwrap();
    assert_eq!(alice, ("Alice A".to_owned(), "first import".to_owned()));
    let bob: (String, String) = profile(bob_id).first(&mut conn).await.unwrap();
    assert_eq!(bob, ("bob".to_owned(), r#"met at "SfN", 2026"#.to_owned()));
    for email in ["alice@example.org", "bob@example.org"] {
        assert_eq!(grants_of(&db, email).await, ["fish2:view:import"]);
        assert!(member(&db, email, "user").await, "{email} joins group user");
    }
    let affiliations: Vec<(i64, String)> = steward::db::schema::affiliations::table
        .select((steward::db::schema::affiliations::user_id, steward::db::schema::affiliations::name))
        .order(steward::db::schema::affiliations::name)
        .load(&mut conn)
        .await
        .unwrap();
    assert_eq!(affiliations, [(alice_id, "Lab A".to_owned()), (bob_id, "Lab B".to_owned())]);
    let audits = bulk_imports(&db).await;
    assert_eq!(audits.len(), 1);
    assert_eq!(audits[0].0, "import_csv");
    assert_eq!(
        audits[0].1,
        serde_json::json!({"source": file, "dataset": "fish2", "users": ["alice@example.org", "BOB@example.org"],
            "grants_added": 2})
    );
    assert!(audit::list(&mut conn).await.unwrap().iter().all(|r| r.action == "bulk_import"), "one audit row only");

    // A second run adds nothing (no row, no audit record) and says so.
    let after = counts(&db).await;
    let (out, _) = ok(&db, &args);
    assert_eq!(
        out,
        ["Already had view grants: alice@example.org, BOB@example.org", "Imported 2 users for dataset fish2."]
    );
    assert_eq!(counts(&db).await, after);
    let profile_again: (String, String) = profile(bob_id).first(&mut conn).await.unwrap();
    assert_eq!(profile_again, bob, "notes are not appended twice");
    assert_eq!(listener.drain(Duration::from_millis(300)).await, Vec::<String>::new());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_files_fail_with_one_line_and_write_nothing() {
    let db = TestDb::new().await;
    let before = counts(&db).await;
    let csv = fixture("no_email.csv");
    assert_eq!(
        fails(&db, &["user", "import-csv", &csv, "--dataset", "fish2"]),
        "steward: CSV must contain an 'email' column. Found: name, notes"
    );
    let file = fixture("truncated.json");
    for (args, what) in [
        (vec!["user", "import-clio-auth", &file], "clio"),
        (vec!["user", "import-neuprint-auth", &file, "--datasets", "fish2"], "neuprint"),
    ] {
        let line = fails(&db, &args);
        assert!(line.starts_with(&format!("steward: {file} is not a valid auth file: ")), "{what}: {line}");
        assert!(line.contains("line 2"), "{what}: the JSON error names where: {line}");
    }
    let missing = fails(&db, &["user", "import-clio-auth", "/nonexistent/clio.json"]);
    assert!(missing.starts_with("steward: reading /nonexistent/clio.json: "), "{missing}");
    let bad_dataset =
        fails(&db, &["user", "import-neuprint-auth", &fixture("neuprint_auth.json"), "--datasets", "a b"]);
    assert!(bad_dataset.contains("dataset name 'a b' must match"), "{bad_dataset}");
    assert_eq!(counts(&db).await, before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn import_clio_auth_maps_roles_to_grants_and_groups() {
    let db = TestDb::new().await;
    let file = fixture("clio_auth.json");
    let expected = [
        "Created dataset: fish2",
        "Created dataset: fly",
        "Created dataset: mouse",
        "Added view grant on fish2 to group user",
        "Created user: ann@example.org",
        "Promoted ann@example.org to admin.",
        "Added grants for ann@example.org: fish2 (view), fly (view), mouse (view)",
        "Created group: clio-team",
        "Added ann@example.org to group clio-team",
        "Created user: ben@example.org",
        "Added grants for ben@example.org: fly (edit), fly (admin), mouse (view)",
        "Imported 2 users and 3 datasets.",
    ];
    let before = counts(&db).await;
    let (out, _) = ok(&db, &["user", "import-clio-auth", &file, "--dry-run"]);
    assert_eq!(out[0], DRY_RUN);
    assert_eq!(out[1..], expected);
    assert_eq!(counts(&db).await, before, "the dry run wrote nothing");

    let (out, err) = ok(&db, &["user", "import-clio-auth", &file]);
    assert_eq!(out, expected);
    assert!(err.is_empty(), "{err:?}");
    assert_eq!(grants_of(&db, "ann@example.org").await, ["fish2:view:import", "fly:view:import", "mouse:view:import"]);
    assert_eq!(grants_of(&db, "ben@example.org").await, ["fly:admin:import", "fly:edit:import", "mouse:view:import"]);
    assert!(member(&db, "ann@example.org", "admin").await && member(&db, "ann@example.org", "clio-team").await);
    assert!(member(&db, "ben@example.org", "user").await && !member(&db, "ben@example.org", "admin").await);
    let mut conn = db.conn().await;
    let active: Vec<(String, String, bool)> = users::table
        .select((users::email, users::name, users::is_active))
        .order(users::email)
        .load(&mut conn)
        .await
        .unwrap();
    assert_eq!(
        active,
        [("ann@example.org".into(), "Ann".into(), true), ("ben@example.org".into(), "Ben".into(), false)]
    );
    #[derive(QueryableByName)]
    struct GroupGrant {
        #[diesel(sql_type = Text)]
        g: String,
    }
    let group_grants: Vec<GroupGrant> = diesel::sql_query(
        "SELECT d.name || ':' || g.level || ':' || gr.name AS g FROM grants g JOIN datasets d ON d.id = g.dataset_id \
         JOIN groups gr ON gr.id = g.group_id",
    )
    .load(&mut conn)
    .await
    .unwrap();
    assert_eq!(group_grants.into_iter().map(|r| r.g).collect::<Vec<_>>(), ["fish2:view:user"]);
    let audits = bulk_imports(&db).await;
    assert_eq!(audits.len(), 1);
    assert_eq!(
        audits[0],
        (
            "import_clio_auth".to_owned(),
            serde_json::json!({"source": file, "users": ["ann@example.org", "ben@example.org"],
                "datasets": ["fish2", "fly", "mouse"]})
        )
    );

    let after = counts(&db).await;
    let (out, _) = ok(&db, &["user", "import-clio-auth", &file]);
    assert_eq!(out, ["Imported 2 users and 3 datasets."], "a second run adds nothing");
    assert_eq!(counts(&db).await, after);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn import_neuprint_auth_summarises_per_dataset_and_reaches_a_running_server() {
    let app = TestApp::start().await;
    let db = &app.db;
    db.token("root@example.org", Some(Role::Admin)).await;
    let ann = db.token("ann@example.org", None).await;
    // Ann's permissions are cached by the server before the import.
    let cache = || async {
        let request = GetUserCacheRequest { service: String::new(), dsg_token: String::new() };
        let reply = app.authorization().await.get_user_cache(with_bearer(request, &ann)).await.unwrap();
        String::from_utf8(reply.into_inner().data).unwrap()
    };
    assert!(cache().await.contains(r#""permissions_v2":{}"#));

    let file = fixture("neuprint_auth.json");
    let args = ["user", "import-neuprint-auth", file.as_str(), "--datasets", "fish2", "fly"];
    let expected = [
        "Dataset: fish2",
        "Added: ann@example.org (view), bob@example.org (edit)",
        "Dataset: fly",
        "Added: ann@example.org (view), bob@example.org (edit)",
        "Set admin=True: new-admin@example.org",
        "Already admin: root@example.org",
        "Skipped (unknown level): zed@example.org",
    ];
    let unknown = ["Unknown level 'owner' for zed@example.org, skipping"];
    let before = counts(db).await;
    let (out, err) = ok(db, &[&args[..], &["--dry-run"]].concat());
    assert_eq!(out[0], DRY_RUN);
    assert_eq!(out[1..], expected);
    assert_eq!(err, unknown);
    assert_eq!(counts(db).await, before, "the dry run wrote nothing");

    let (out, err) = ok(db, &args);
    assert_eq!(out, expected);
    assert_eq!(err, unknown);
    assert_eq!(grants_of(db, "ann@example.org").await, ["fish2:view:import", "fly:view:import"]);
    assert_eq!(grants_of(db, "bob@example.org").await, ["fish2:edit:import", "fly:edit:import"]);
    assert!(grants_of(db, "new-admin@example.org").await.is_empty(), "admins get no per-dataset grants");
    assert!(member(db, "new-admin@example.org", "admin").await && member(db, "root@example.org", "admin").await);
    assert!(member(db, "bob@example.org", "user").await);
    let mut conn = db.conn().await;
    let zed: i64 = users::table.filter(users::email.eq("zed@example.org")).count().get_result(&mut conn).await.unwrap();
    assert_eq!(zed, 0, "skipped entries create nobody");
    assert_eq!(
        bulk_imports(db).await,
        [(
            "import_neuprint_auth".to_owned(),
            serde_json::json!({"source": file,
                "users": ["ann@example.org", "bob@example.org", "new-admin@example.org", "root@example.org"],
                "datasets": ["fish2", "fly"], "admins_added": ["new-admin@example.org"],
                "skipped": ["zed@example.org"]})
        )]
    );

    // The import's NOTIFY evicted Ann's cached permissions on the running server.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        let doc = cache().await;
        if doc.contains(r#""permissions_v2":{"fish2":["view"],"fly":["view"]}"#) {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "the import never reached the cache: {doc}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    let after = counts(db).await;
    let (out, _) = ok(db, &args);
    assert_eq!(
        out,
        [
            "Dataset: fish2",
            "Added: (none)",
            "Already existed: ann@example.org (view), bob@example.org (edit)",
            "Dataset: fly",
            "Added: (none)",
            "Already existed: ann@example.org (view), bob@example.org (edit)",
            "Already admin: new-admin@example.org, root@example.org",
            "Skipped (unknown level): zed@example.org",
        ]
    );
    assert_eq!(counts(db).await, after, "a second run adds nothing");
}
