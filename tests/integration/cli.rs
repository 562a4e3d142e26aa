//! The `steward` binary: token and user commands against a test database, and
//! the one-line errors for bad input and broken environments.

use std::process::{Command, Output};

use steward::proto::authorization::v1::WhoAmIRequest;

use crate::common::{TestApp, eventually_refused, scratch_dir, steward_command, with_bearer};

fn steward(db_url: &str, args: &[&str]) -> Output {
    steward_command(db_url, "cli").args(args).output().expect("running steward")
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_create_prints_the_token_last_and_revoke_stops_it() {
    let app = TestApp::start().await;
    let out = steward(
        app.db.url(),
        &[
            "token",
            "create",
            "--email",
            "carol@example.org",
            "--role",
            "developer",
            "--description",
            "ci",
            "--expires-in",
            "30d",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    let token = text.lines().last().unwrap().to_owned();
    assert!(steward::auth::token::is_well_formed(&token), "last line should be the token: {text}");
    assert!(text.contains("Created user carol@example.org"), "{text}");
    let id: i64 = text
        .split("Token ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|id| id.parse().ok())
        .expect("the token id is printed");

    let me = app.authorization().await.who_am_i(with_bearer(WhoAmIRequest {}, &token)).await.unwrap().into_inner();
    assert_eq!((me.email.as_str(), me.roles.as_slice()), ("carol@example.org", ["developer".to_owned()].as_slice()));

    // A second token for the same user reuses the account.
    let again = steward(app.db.url(), &["token", "create", "--email", "carol@example.org"]);
    assert!(again.status.success());
    assert!(!stdout(&again).contains("Created user"));

    let revoked = steward(app.db.url(), &["token", "revoke", &id.to_string()]);
    assert!(revoked.status.success(), "{}", stderr(&revoked));
    assert!(stdout(&revoked).contains(&format!("Revoked token {id}")));
    eventually_refused(&app, &token).await;

    let missing = steward(app.db.url(), &["token", "revoke", "424242"]);
    assert!(!missing.status.success());
    assert!(stderr(&missing).contains("no token with id 424242"), "{}", stderr(&missing));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn make_admin_speaks_dataset_gateway() {
    let app = TestApp::start().await;
    let url = app.db.url();
    let run = |args: &[&str]| steward(url, args);
    assert_eq!(
        stdout(&run(&["user", "make-admin", "root@example.org"])).trim(),
        "Created new admin user: root@example.org"
    );
    assert_eq!(
        stdout(&run(&["user", "make-admin", "root@example.org"])).trim(),
        "User root@example.org is already an admin."
    );
    assert_eq!(
        stdout(&run(&["user", "make-admin", "root@example.org", "--remove"])).trim(),
        "Revoked admin status from root@example.org."
    );
    assert_eq!(
        stdout(&run(&["user", "make-admin", "root@example.org", "--remove"])).trim(),
        "User root@example.org is not an admin."
    );
    assert_eq!(
        stdout(&run(&["user", "make-admin", "root@example.org", "--no-password"])).trim(),
        "Promoted root@example.org to admin."
    );
    let missing = run(&["user", "make-admin", "nobody@example.org", "--remove"]);
    assert_eq!(missing.status.code(), Some(1));
    assert!(stderr(&missing).contains("User not found: nobody@example.org"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_gets_one_clear_line() {
    let app = TestApp::start().await;
    let url = app.db.url();

    let role = steward(url, &["token", "create", "--email", "a@example.org", "--role", "wizard"]);
    assert_eq!(role.status.code(), Some(2));
    assert!(stderr(&role).contains("unknown role 'wizard'"), "{}", stderr(&role));

    let email = steward(url, &["token", "create", "--email", "not-an-email"]);
    assert_eq!(email.status.code(), Some(1));
    assert!(stderr(&email).contains("is not an e-mail address"), "{}", stderr(&email));

    let lifetime = steward(url, &["token", "create", "--email", "a@example.org", "--expires-in", "forever"]);
    assert_eq!(lifetime.status.code(), Some(2));
    assert!(stderr(&lifetime).contains("not a lifetime"), "{}", stderr(&lifetime));
}

#[test]
fn broken_environments_fail_at_start_with_the_cause() {
    let run = |envs: &[(&str, &str)]| {
        let mut command = Command::new(env!("CARGO_BIN_EXE_steward"));
        command.arg("serve").env("STEWARD_LOG", "error").env_remove("DATABASE_URL");
        for (k, v) in envs {
            command.env(k, v);
        }
        command.output().expect("running steward")
    };

    // The port is taken.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let out = run(&[("STEWARD_LISTEN", &addr), ("DATABASE_URL", "host=/nonexistent dbname=x")]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains(&format!("cannot listen on {addr}")), "{}", stderr(&out));

    // The database cannot be reached.
    let out = run(&[("STEWARD_LISTEN", "127.0.0.1:0"), ("DATABASE_URL", "host=/nonexistent user=x dbname=x")]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("PostgreSQL"), "{}", stderr(&out));

    // Sandbox providers (the development default) and upstream's ignored
    // ENCRYPTION_KEY are announced at start; real or off providers are not.
    let unreachable = [("STEWARD_LISTEN", "127.0.0.1:0"), ("DATABASE_URL", "host=/nonexistent user=x dbname=x")];
    let out = run(&[unreachable[0], unreachable[1], ("STEWARD_LOG", "warn"), ("ENCRYPTION_KEY", "x")]);
    assert!(stderr(&out).contains("sandbox portability providers are active"), "{}", stderr(&out));
    assert!(stderr(&out).contains("ENCRYPTION_KEY (portability-server's) is ignored"), "{}", stderr(&out));
    let off = [("STEWARD_GOOGLE_MODE", "off"), ("STEWARD_TIKTOK_MODE", "off"), ("STEWARD_LOG", "warn")];
    let out = run(&[unreachable[0], unreachable[1], off[0], off[1], off[2]]);
    assert!(!stderr(&out).contains("sandbox portability providers"), "{}", stderr(&out));

    // A configuration value is wrong.
    let out = run(&[("STEWARD_LISTEN", "everywhere")]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("STEWARD_LISTEN"), "{}", stderr(&out));

    // Production refuses development defaults.
    let out = run(&[("STEWARD_ENV", "production")]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("STEWARD_ENCRYPTION_KEYS"), "{}", stderr(&out));

    // The data dir cannot be created.
    let file = scratch_dir("not-a-dir").join("file");
    std::fs::write(&file, b"").unwrap();
    let out = run(&[("STEWARD_LISTEN", "127.0.0.1:0"), ("STEWARD_DATA_DIR", file.join("var").to_str().unwrap())]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("data dir"), "{}", stderr(&out));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn worker_runs_jobs_outside_serve_and_stops_on_sigterm() {
    use diesel::{ExpressionMethods as _, QueryDsl as _};
    use diesel_async::RunQueryDsl as _;
    use steward::db::schema::jobs;

    let db = crate::common::TestDb::new().await;
    let data_dir = scratch_dir("worker");
    let mut worker = Command::new(env!("CARGO_BIN_EXE_steward"))
        .arg("worker")
        .env("DATABASE_URL", db.url())
        .env("STEWARD_DATA_DIR", &data_dir)
        .env("STEWARD_LOG", "warn")
        .spawn()
        .expect("starting steward worker");

    // The worker schedules the periodic token purge and runs it at once; the
    // next run then waits its interval.
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let mut conn = db.conn().await;
        let scheduled: Vec<(i32, chrono::DateTime<chrono::Utc>)> = jobs::table
            .filter(jobs::dedup_key.eq("periodic:auth.purge_dead_tokens"))
            .select((jobs::attempts, jobs::run_at))
            .load(&mut conn)
            .await
            .unwrap();
        if scheduled.iter().any(|(_, run_at)| *run_at > chrono::Utc::now() + chrono::Duration::hours(1)) {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "the worker never ran the periodic job: {scheduled:?}");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }

    let killed = Command::new("kill").args(["-TERM", &worker.id().to_string()]).status().unwrap();
    assert!(killed.success());
    let status = tokio::task::spawn_blocking(move || worker.wait()).await.unwrap().unwrap();
    assert!(status.success(), "worker exit status {status}");
}

/// `steward sandbox-issuer` lets parties trust JWTs offline: its tokens carry
/// the asked-for permissions and verify against its discovery document and
/// JWKS; SIGTERM stops it; production refuses it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sandbox_issuer_mints_tokens_parties_verify() {
    use std::io::BufRead as _;
    use steward::auth::jwt::{JwtSettings, JwtVerifier};

    let mut issuer = Command::new(env!("CARGO_BIN_EXE_steward"))
        .args(["sandbox-issuer", "--listen", "127.0.0.1:0"])
        .env_remove("STEWARD_ENV")
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("running steward sandbox-issuer");
    // Its stdout is read to the end, so its later lines never meet a closed pipe.
    let (first_line, first) = std::sync::mpsc::channel();
    let stdout = issuer.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout).lines() {
            let _ = first_line.send(line.unwrap());
        }
    });
    let first = tokio::task::spawn_blocking(move || first.recv().unwrap()).await.unwrap();
    let url = first.rsplit(' ').next().unwrap().to_owned();
    assert!(url.starts_with("http://127.0.0.1:") && url.ends_with('/'), "{first}");

    let answer = reqwest::Client::new()
        .post(format!("{url}token"))
        .form(&[("sub", "alice"), ("aud", "steward-secretshare"), ("permissions", "post:eta-data get:eta-data")])
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    let answer: serde_json::Value = serde_json::from_slice(&answer).unwrap();
    let token = answer["access_token"].as_str().expect("a token");
    let settings = JwtSettings::from_lookup(&|name| match name {
        "STEWARD_JWT_ISSUER" => Some(url.clone()),
        "STEWARD_JWT_AUDIENCE" => Some("steward-secretshare".into()),
        _ => None,
    })
    .unwrap()
    .unwrap();
    let claims = JwtVerifier::new(settings).verify(token).await.expect("the token verifies");
    assert_eq!((claims.subject.as_str(), claims.issuer.as_str()), ("alice", url.as_str()));
    assert_eq!(claims.permissions, ["post:eta-data", "get:eta-data"]);

    assert!(Command::new("kill").args(["-TERM", &issuer.id().to_string()]).status().unwrap().success());
    let status = tokio::task::spawn_blocking(move || issuer.wait()).await.unwrap().unwrap();
    assert!(status.success(), "{status:?}");

    let refused = Command::new(env!("CARGO_BIN_EXE_steward"))
        .args(["sandbox-issuer", "--listen", "127.0.0.1:0"])
        .env("STEWARD_ENV", "production")
        .output()
        .unwrap();
    assert!(!refused.status.success());
    assert!(stderr(&refused).contains("development only"), "{}", stderr(&refused));
}

/// Production logs are JSON without being asked: `steward worker` with a
/// production configuration writes one JSON object per stderr line.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn production_logs_are_one_json_object_per_line() {
    use tokio::io::AsyncBufReadExt as _;
    let db = crate::common::TestDb::new().await;
    let spec = steward::crypto::Keyring::generate().to_spec();
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_steward"))
        .arg("worker")
        .current_dir(scratch_dir("cli-json"))
        .env_remove("STEWARD_LOG_FORMAT")
        .env("STEWARD_ENV", "production")
        .env("DATABASE_URL", db.url())
        .env("STEWARD_ENCRYPTION_KEYS", &spec)
        .env("STEWARD_LOG", "info")
        .env("STEWARD_WORKERS", "1")
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("running steward worker");
    let mut lines = tokio::io::BufReader::new(child.stderr.take().unwrap()).lines();
    let mut seen = Vec::new();
    let found = tokio::time::timeout(std::time::Duration::from_secs(30), async {
        while let Some(line) = lines.next_line().await.unwrap() {
            let object: serde_json::Value = serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line}"));
            assert!(object.is_object(), "{line}");
            seen.push(line);
            if object["fields"]["message"] == "workers running" {
                assert_eq!(object["level"], "INFO");
                assert_eq!(object["fields"]["workers"], 1);
                return true;
            }
        }
        false
    })
    .await;
    child.kill().await.unwrap();
    assert_eq!(found, Ok(true), "no JSON 'workers running' line in {seen:?}");
}
