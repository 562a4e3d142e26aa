//! The embedded PostgreSQL cluster used when `DATABASE_URL` is unset: `initdb`
//! on first start, `pg_ctl start` on a Unix socket inside the data dir (no TCP
//! port, no password), a stale pid file from a crashed run cleaned up, and
//! `pg_ctl stop` on shutdown when this process started it.
//!
//! PostgreSQL refuses to run as root, and these machines run as root: then the
//! cluster is created and run as an unprivileged account (`postgres` where it
//! exists, else `nobody`) that owns the cluster directory.

use std::ffi::OsStr;
use std::os::unix::fs::{MetadataExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};
use std::process::Stdio;

use anyhow::{Context as _, bail};
use tokio::process::Command;

/// The cluster's superuser; connections come over a private socket with `trust`.
pub const SUPERUSER: &str = "steward";
/// The database Steward uses inside the embedded cluster.
pub const DATABASE: &str = "steward";
/// Unix socket paths longer than this are rejected by the kernel (`sun_path`).
const MAX_SOCKET_PATH: usize = 107;
const PORT: u16 = 5432;

/// An OS account that runs PostgreSQL when Steward runs as root.
#[derive(Debug, Clone)]
struct Account {
    name: String,
    uid: u32,
    gid: u32,
}

/// Options that trade durability for speed (tests use throwaway clusters).
#[derive(Debug, Clone, Copy)]
pub struct ClusterOptions {
    /// `false` skips fsync in `initdb` and in the server: only for throwaway clusters.
    pub durable: bool,
}

impl Default for ClusterOptions {
    fn default() -> Self {
        Self { durable: true }
    }
}

/// A PostgreSQL cluster living under a data directory.
#[derive(Debug)]
pub struct EmbeddedPostgres {
    cluster_dir: PathBuf,
    socket_dir: PathBuf,
    log_file: PathBuf,
    lock_file: PathBuf,
    bin_dir: PathBuf,
    run_as: Option<Account>,
    options: ClusterOptions,
    /// True when this process started the server and so must stop it.
    started_here: bool,
}

impl EmbeddedPostgres {
    /// Prepares (but does not start) the cluster under `data_dir`: finds the
    /// PostgreSQL binaries and decides which account runs them.
    pub fn new(data_dir: &Path, options: ClusterOptions) -> anyhow::Result<Self> {
        let bin_dir = find_bin_dir()?;
        std::fs::create_dir_all(data_dir)
            .with_context(|| format!("cannot create data dir {} (is it writable?)", data_dir.display()))?;
        let data_dir =
            data_dir.canonicalize().with_context(|| format!("cannot resolve data dir {}", data_dir.display()))?;
        let cluster_dir = data_dir.join("postgres");
        let run_as = if is_root() { Some(unprivileged_account()?) } else { None };
        if run_as.is_some() {
            allow_traversal(&data_dir)?;
        }
        let mut socket_dir = data_dir.join("run");
        if socket_path_len(&socket_dir) > MAX_SOCKET_PATH {
            // The kernel caps socket paths; keep a short, private, per-data-dir directory.
            socket_dir = std::env::temp_dir().join(format!("steward-{:016x}", fnv1a(data_dir.as_os_str())));
        }
        Ok(Self {
            log_file: data_dir.join("postgres.log"),
            lock_file: data_dir.join("postgres.lock"),
            cluster_dir,
            socket_dir,
            bin_dir,
            run_as,
            options,
            started_here: false,
        })
    }

    /// The connection string for `database` over the private socket.
    pub fn url(&self, database: &str) -> String {
        format!(
            "host={} port={PORT} user={SUPERUSER} dbname={database} application_name=steward",
            self.socket_dir.display()
        )
    }

    /// Creates the cluster on first use, starts it unless it already runs (a
    /// running `serve` is shared by CLI commands), and makes sure the
    /// `steward` database exists.
    pub async fn ensure_running(&mut self) -> anyhow::Result<()> {
        if let Some(account) = &self.run_as {
            check_reachable(&self.cluster_dir, account)?;
        }
        // `serve` and a CLI command may start at the same moment: one of them
        // creates and starts the cluster, the other waits and then shares it.
        let _lock = self.lock().await?;
        if !self.cluster_dir.join("PG_VERSION").exists() {
            self.init().await?;
        }
        self.prepare_socket_dir()?;
        self.remove_stale_pid_file()?;
        if !self.is_running().await? {
            self.start().await?;
            self.started_here = true;
        }
        self.create_database(DATABASE).await
    }

    /// An exclusive lock on the data dir's cluster, held while starting it.
    async fn lock(&self) -> anyhow::Result<std::fs::File> {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&self.lock_file)
            .with_context(|| format!("opening {}", self.lock_file.display()))?;
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(120);
        loop {
            match file.try_lock() {
                Ok(()) => return Ok(file),
                Err(std::fs::TryLockError::WouldBlock) if tokio::time::Instant::now() < deadline => {
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                }
                Err(std::fs::TryLockError::WouldBlock) => {
                    bail!("another steward process has been starting PostgreSQL in this data dir for two minutes")
                }
                Err(std::fs::TryLockError::Error(e)) => {
                    return Err(e).with_context(|| format!("locking {}", self.lock_file.display()));
                }
            }
        }
    }

    /// Whether this process started the server (and will stop it).
    pub fn started_here(&self) -> bool {
        self.started_here
    }

    /// Stops the server if this process started it.
    pub async fn stop(&mut self) -> anyhow::Result<()> {
        if !self.started_here {
            return Ok(());
        }
        let status = self
            .pg_command("pg_ctl")
            .args(["stop", "-w", "-s", "-m", "fast", "-t", "60", "-D"])
            .arg(&self.cluster_dir)
            .status()
            .await
            .context("running pg_ctl stop")?;
        if !status.success() {
            bail!("pg_ctl stop failed ({status}); see {}", self.log_file.display());
        }
        self.started_here = false;
        Ok(())
    }

    /// Creates `name` (optionally from a template) unless it exists.
    pub async fn create_database(&self, name: &str) -> anyhow::Result<()> {
        let client = self.admin_client().await?;
        let exists = client
            .query_opt("SELECT 1 FROM pg_database WHERE datname = $1", &[&name])
            .await
            .context("listing databases")?
            .is_some();
        if !exists {
            client
                .batch_execute(&format!("CREATE DATABASE {}", quote_ident(name)))
                .await
                .with_context(|| format!("creating database {name}"))?;
        }
        Ok(())
    }

    /// A plain client on the `postgres` maintenance database (tests clone databases with it).
    pub async fn admin_client(&self) -> anyhow::Result<tokio_postgres::Client> {
        super::connect_client(&self.url("postgres"))
            .await
            .with_context(|| format!("connecting to the embedded PostgreSQL at {}", self.socket_dir.display()))
    }

    /// The cluster directory (`<data dir>/postgres`).
    pub fn cluster_dir(&self) -> &Path {
        &self.cluster_dir
    }

    /// The directory of the PostgreSQL binaries this cluster runs (its
    /// `pg_dump` and `pg_restore` match the server's version).
    pub fn bin_dir(&self) -> &Path {
        &self.bin_dir
    }

    async fn init(&self) -> anyhow::Result<()> {
        if self.cluster_dir.exists() && std::fs::read_dir(&self.cluster_dir)?.next().is_some() {
            bail!(
                "{} exists but holds no PostgreSQL cluster (no PG_VERSION); move it away or choose another STEWARD_DATA_DIR",
                self.cluster_dir.display()
            );
        }
        // initdb into a scratch directory and rename: an interrupted initdb never
        // leaves a half-made cluster that the next start would trust.
        let scratch = self.cluster_dir.with_extension("initdb");
        if scratch.exists() {
            std::fs::remove_dir_all(&scratch).with_context(|| format!("removing {}", scratch.display()))?;
        }
        self.make_private_dir(&scratch)?;
        tracing::info!(dir = %self.cluster_dir.display(), "creating the embedded PostgreSQL cluster");
        let mut initdb = self.pg_command("initdb");
        initdb
            .args(["-A", "trust", "-U", SUPERUSER, "-E", "UTF8", "--no-locale", "--no-instructions", "-D"])
            .arg(&scratch)
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        if !self.options.durable {
            initdb.arg("--no-sync");
        }
        let output = initdb.output().await.context("running initdb")?;
        if !output.status.success() {
            bail!("initdb failed: {}", String::from_utf8_lossy(&output.stderr).trim());
        }
        if self.cluster_dir.exists() {
            std::fs::remove_dir(&self.cluster_dir)
                .with_context(|| format!("removing empty {}", self.cluster_dir.display()))?;
        }
        std::fs::rename(&scratch, &self.cluster_dir)
            .with_context(|| format!("moving the new cluster into {}", self.cluster_dir.display()))?;
        Ok(())
    }

    async fn is_running(&self) -> anyhow::Result<bool> {
        let status = self
            .pg_command("pg_ctl")
            .args(["status", "-D"])
            .arg(&self.cluster_dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .await
            .context("running pg_ctl status")?;
        // pg_ctl status: 0 = running, 3 = not running.
        Ok(status.success())
    }

    async fn start(&self) -> anyhow::Result<()> {
        let mut options = format!(
            "-k {} -c listen_addresses='' -c unix_socket_permissions=0700 -p {PORT}",
            shell_quote(&self.socket_dir.to_string_lossy())
        );
        if !self.options.durable {
            options.push_str(" -c fsync=off -c synchronous_commit=off -c full_page_writes=off");
        }
        if !self.log_file.exists() {
            std::fs::write(&self.log_file, b"")?;
        }
        if let Some(account) = &self.run_as {
            std::os::unix::fs::chown(&self.log_file, Some(account.uid), Some(account.gid))?;
        }
        // Own process group: a Ctrl-C meant for Steward must not reach PostgreSQL
        // before Steward has finished its in-flight work.
        let status = self
            .pg_command("pg_ctl")
            .args(["start", "-w", "-s", "-t", "60", "-o", &options, "-l"])
            .arg(&self.log_file)
            .arg("-D")
            .arg(&self.cluster_dir)
            .stdout(Stdio::null())
            .process_group(0)
            .status()
            .await
            .context("running pg_ctl start")?;
        if !status.success() {
            bail!("the embedded PostgreSQL did not start; last log lines:\n{}", log_tail(&self.log_file, 10));
        }
        tracing::info!(socket = %self.socket_dir.display(), "embedded PostgreSQL started");
        Ok(())
    }

    /// After a crash, `postmaster.pid` may name a process that is gone, or a
    /// reused pid of an unrelated process; PostgreSQL would refuse to start.
    fn remove_stale_pid_file(&self) -> anyhow::Result<()> {
        let pid_file = self.cluster_dir.join("postmaster.pid");
        let Ok(contents) = std::fs::read_to_string(&pid_file) else {
            return Ok(());
        };
        let pid = contents.lines().next().unwrap_or("").trim();
        let alive = !pid.is_empty()
            && std::fs::read_to_string(format!("/proc/{pid}/comm")).is_ok_and(|comm| {
                let comm = comm.trim();
                comm == "postgres" || comm == "postmaster"
            });
        if !alive {
            tracing::warn!(pid, "removing a stale PostgreSQL pid file left by a crash");
            std::fs::remove_file(&pid_file).with_context(|| format!("removing {}", pid_file.display()))?;
            let _ = std::fs::remove_file(self.socket_dir.join(format!(".s.PGSQL.{PORT}.lock")));
            let _ = std::fs::remove_file(self.socket_dir.join(format!(".s.PGSQL.{PORT}")));
        }
        Ok(())
    }

    fn prepare_socket_dir(&self) -> anyhow::Result<()> {
        if !self.socket_dir.exists() {
            self.make_private_dir(&self.socket_dir)?;
        }
        Ok(())
    }

    /// Creates `dir` with mode 0700, owned by the account that runs PostgreSQL.
    fn make_private_dir(&self, dir: &Path) -> anyhow::Result<()> {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
        if let Some(account) = &self.run_as {
            std::os::unix::fs::chown(dir, Some(account.uid), Some(account.gid))
                .with_context(|| format!("giving {} to {}", dir.display(), account.name))?;
        }
        Ok(())
    }

    /// A PostgreSQL program, run as the unprivileged account when we are root.
    fn pg_command(&self, program: &str) -> Command {
        let program = self.bin_dir.join(program);
        let mut command = match &self.run_as {
            Some(account) if Path::new("/usr/bin/setpriv").exists() => {
                // setpriv also clears root's supplementary groups.
                let mut c = Command::new("/usr/bin/setpriv");
                c.arg(format!("--reuid={}", account.uid))
                    .arg(format!("--regid={}", account.gid))
                    .arg("--clear-groups")
                    .arg("--")
                    .arg(&program);
                c
            }
            Some(account) => {
                let mut c = Command::new(&program);
                c.uid(account.uid).gid(account.gid);
                c
            }
            None => Command::new(&program),
        };
        // Run from a directory the account can read, and with a sane locale.
        command.current_dir("/").env("LC_ALL", "C").kill_on_drop(false);
        command
    }
}

/// Finds the directory holding `initdb`, `pg_ctl` and `postgres`.
fn find_bin_dir() -> anyhow::Result<PathBuf> {
    let complete = |dir: &Path| ["initdb", "pg_ctl", "postgres"].iter().all(|p| dir.join(p).is_file());
    if let Some(path) = std::env::var_os("PATH") {
        for dir in std::env::split_paths(&path) {
            if let Ok(real) = dir.join("pg_ctl").canonicalize()
                && let Some(real_dir) = real.parent()
                && complete(real_dir)
            {
                return Ok(real_dir.to_path_buf());
            }
        }
    }
    if let Ok(output) = std::process::Command::new("pg_config").arg("--bindir").output()
        && output.status.success()
    {
        let dir = PathBuf::from(String::from_utf8_lossy(&output.stdout).trim());
        if complete(&dir) {
            return Ok(dir);
        }
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| Some((e.file_name().to_str()?.parse().ok()?, e.path().join("bin"))))
        .filter(|(_, dir)| complete(dir))
        .collect();
    versions.sort();
    versions.pop().map(|(_, dir)| dir).ok_or_else(|| {
        anyhow::anyhow!(
            "no PostgreSQL server binaries (initdb, pg_ctl, postgres) found on PATH, via pg_config or under \
             /usr/lib/postgresql: install PostgreSQL (e.g. `apt-get install postgresql`) or set DATABASE_URL"
        )
    })
}

fn is_root() -> bool {
    std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0)
}

/// The account PostgreSQL runs as when we are root: `postgres`, else `nobody`.
fn unprivileged_account() -> anyhow::Result<Account> {
    let passwd = std::fs::read_to_string("/etc/passwd").context("reading /etc/passwd")?;
    let accounts: Vec<Account> = passwd
        .lines()
        .filter_map(|line| {
            let mut fields = line.split(':');
            let name = fields.next()?.to_owned();
            let uid = fields.nth(1)?.parse().ok()?;
            let gid = fields.next()?.parse().ok()?;
            Some(Account { name, uid, gid })
        })
        .collect();
    ["postgres", "nobody"]
        .iter()
        .find_map(|wanted| accounts.iter().find(|a| a.name == *wanted && a.uid != 0).cloned())
        .ok_or_else(|| {
            anyhow::anyhow!(
                "running as root, and PostgreSQL refuses root: create a `postgres` system user, or set DATABASE_URL"
            )
        })
}

/// The data dir is Steward's own, but it may have been created private (0700),
/// e.g. by the development keyring on a `DATABASE_URL` run: the PostgreSQL
/// account needs to pass through it (traverse only; it still cannot list it).
fn allow_traversal(data_dir: &Path) -> anyhow::Result<()> {
    let meta = std::fs::metadata(data_dir)?;
    if meta.uid() == 0 && meta.mode() & 0o001 == 0 {
        let mode = (meta.mode() & 0o7777) | 0o001;
        std::fs::set_permissions(data_dir, std::fs::Permissions::from_mode(mode))
            .with_context(|| format!("letting PostgreSQL's account pass through {}", data_dir.display()))?;
    }
    Ok(())
}

/// The unprivileged account must be able to walk down to the cluster directory.
fn check_reachable(cluster_dir: &Path, account: &Account) -> anyhow::Result<()> {
    for dir in cluster_dir.ancestors().skip(1) {
        let Ok(meta) = std::fs::metadata(dir) else {
            continue;
        };
        let mode = meta.mode();
        let can_traverse = if meta.uid() == account.uid {
            mode & 0o100 != 0
        } else if meta.gid() == account.gid {
            mode & 0o010 != 0
        } else {
            mode & 0o001 != 0
        };
        if !can_traverse {
            bail!(
                "PostgreSQL runs as `{}` (it refuses root) but cannot enter {}: set STEWARD_DATA_DIR to a directory \
                 it can reach (e.g. /var/lib/steward), or allow traversal with `chmod o+x {}`",
                account.name,
                dir.display(),
                dir.display()
            );
        }
    }
    Ok(())
}

fn socket_path_len(dir: &Path) -> usize {
    dir.as_os_str().len() + format!("/.s.PGSQL.{PORT}.lock").len()
}

/// A stable hash for naming the short socket directory.
fn fnv1a(bytes: &OsStr) -> u64 {
    bytes
        .as_encoded_bytes()
        .iter()
        .fold(0xcbf2_9ce4_8422_2325, |hash, b| (hash ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3))
}

fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// Quotes an SQL identifier.
pub fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

fn log_tail(path: &Path, lines: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_data_dirs_get_a_short_socket_dir() {
        let long = PathBuf::from(format!("/tmp/{}", "x".repeat(120)));
        assert!(socket_path_len(&long) > MAX_SOCKET_PATH);
        assert!(socket_path_len(Path::new("/tmp/steward-0123456789abcdef")) <= MAX_SOCKET_PATH);
    }

    #[test]
    fn quoting() {
        assert_eq!(shell_quote("/a b/it's"), r"'/a b/it'\''s'");
        assert_eq!(quote_ident(r#"we"ird"#), r#""we""ird""#);
    }

    #[test]
    fn finds_binaries_here() {
        // PostgreSQL 15 is installed on every machine of this project.
        assert!(find_bin_dir().unwrap().join("initdb").is_file());
    }
}
