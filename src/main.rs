//! The `steward` command: parses arguments, loads configuration, starts
//! tracing, and hands over to `steward::cli`.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use steward::auth::Role;
use steward::auth::ops::TokenRequest;
use steward::config::{Config, LogFormat};

/// Steward: one server that collects and guards research data.
#[derive(Debug, Parser)]
#[command(name = "steward", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve gRPC, gRPC-web and HTTP on STEWARD_LISTEN, with background workers.
    Serve,
    /// Run background job workers only (scale-out).
    Worker,
    /// Apply pending database migrations.
    Migrate,
    /// Check the configuration, database, migrations, keyring, providers, SMTP,
    /// object store and upload staging; print what is wrong (exit status 1 if
    /// anything failed).
    Doctor,
    /// Create or revoke API tokens.
    Token {
        #[command(subcommand)]
        command: TokenCommand,
    },
    /// Manage users.
    User {
        #[command(subcommand)]
        command: UserCommand,
    },
    /// Write the protobuf descriptor set (for Envoy's transcoder).
    Descriptor {
        /// Output file; stdout when omitted.
        #[arg(short, long)]
        out: Option<PathBuf>,
    },
    /// Background jobs: list them; re-queue or delete failed ones.
    Jobs {
        #[command(subcommand)]
        command: JobsCommand,
    },
    /// Encryption keys.
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
    /// Serve an offline OIDC token issuer for development (JWTs for
    /// SecretShareService's roles; refused with STEWARD_ENV=production).
    SandboxIssuer {
        /// Address to serve on.
        #[arg(long, default_value = "127.0.0.1:8099")]
        listen: std::net::SocketAddr,
    },
}

#[derive(Debug, Subcommand)]
enum TokenCommand {
    /// Create an API token for a user (created if missing); prints it once, alone on the last line.
    Create {
        /// The user's e-mail.
        #[arg(long)]
        email: String,
        /// A global role to give the user: admin, researcher, developer, scientist or contributor.
        #[arg(long)]
        role: Option<Role>,
        /// What the token is for, shown in token lists.
        #[arg(long, default_value = "")]
        description: String,
        /// Lifetime such as 30d or 12h; never expires when omitted.
        #[arg(long, value_parser = parse_lifetime)]
        expires_in: Option<std::time::Duration>,
    },
    /// Revoke a token by id; every server refuses it at once.
    Revoke {
        /// The token id printed by `token create`.
        id: i64,
    },
}

#[derive(Debug, Subcommand)]
enum UserCommand {
    /// Make a user a global admin (created if missing), or with --remove take it away.
    MakeAdmin {
        /// The user's e-mail.
        email: String,
        /// Remove admin instead.
        #[arg(long)]
        remove: bool,
        /// Accepted for DatasetGateway compatibility; there are no passwords.
        #[arg(long, hide = true)]
        no_password: bool,
    },
    /// Disable a user: every credential of theirs is refused.
    Disable {
        /// The user's e-mail.
        email: String,
    },
    /// Enable a disabled user.
    Enable {
        /// The user's e-mail.
        email: String,
    },
    /// Create groups that are missing (default: admin sc team_lead user).
    Seed {
        /// Group names.
        groups: Vec<String>,
    },
    /// Import users from a CSV (column email; optional name, affiliation, notes), each with view on DATASET.
    ImportCsv {
        /// The CSV file.
        file: PathBuf,
        /// The dataset to grant view on (created if missing).
        #[arg(long)]
        dataset: String,
        /// Do everything in a transaction, print what would happen, then roll back.
        #[arg(long)]
        dry_run: bool,
    },
    /// Import users, roles, datasets and groups from a Clio auth export (JSON).
    ImportClioAuth {
        /// The JSON file.
        file: PathBuf,
        /// Do everything in a transaction, print what would happen, then roll back.
        #[arg(long)]
        dry_run: bool,
    },
    /// Import a neuPrint auth file ({"email": "readonly"|"readwrite"|"admin"}) onto datasets.
    ImportNeuprintAuth {
        /// The JSON file.
        file: PathBuf,
        /// The datasets to grant on (created if missing).
        #[arg(long, required = true, num_args = 1..)]
        datasets: Vec<String>,
        /// Do everything in a transaction, print what would happen, then roll back.
        #[arg(long)]
        dry_run: bool,
    },
}

#[derive(Debug, Subcommand)]
enum JobsCommand {
    /// List jobs, most recently changed first (finished jobs leave no row).
    List {
        /// Only jobs in this state.
        #[arg(long, value_parser = ["queued", "running", "failed"])]
        state: Option<String>,
        /// Only jobs of this kind, such as upload.notify.
        #[arg(long)]
        kind: Option<String>,
        /// Show at most this many.
        #[arg(long, default_value_t = 50)]
        limit: u32,
    },
    /// Queue failed jobs again, due now with all their attempts.
    Retry {
        /// The failed jobs' ids (see `jobs list --state failed`).
        #[arg(required_unless_present = "all_failed")]
        ids: Vec<i64>,
        /// Every failed job.
        #[arg(long, conflicts_with = "ids")]
        all_failed: bool,
    },
    /// Delete failed jobs; queued and running jobs are live work and stay.
    Delete {
        /// The failed jobs' ids.
        #[arg(required_unless_present = "older_than")]
        ids: Vec<i64>,
        /// Every failed job last changed longer ago than this, such as 30d.
        #[arg(long, value_parser = parse_lifetime, conflicts_with = "ids")]
        older_than: Option<std::time::Duration>,
    },
}

#[derive(Debug, Subcommand)]
enum KeysCommand {
    /// Print a new keyring for STEWARD_ENCRYPTION_KEYS.
    Generate,
    /// Count the values each key seals, and say which keys can be removed.
    Usage,
    /// Re-seal every value sealed with an older key with the current (first) key.
    Reseal,
}

fn parse_lifetime(value: &str) -> Result<std::time::Duration, String> {
    steward::config::parse_duration(value)
        .filter(|d| !d.is_zero())
        .ok_or_else(|| format!("'{value}' is not a lifetime like 30d, 12h or 90m"))
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // Commands that need no configuration.
    match &cli.command {
        Command::Descriptor { out } => return report(steward::cli::descriptor(out.clone())),
        Command::Keys { command: KeysCommand::Generate } => {
            steward::cli::keys_generate();
            return ExitCode::SUCCESS;
        }
        _ => {}
    }
    if let Err(e) = dotenvy::dotenv()
        && !e.not_found()
    {
        eprintln!("steward: reading .env: {e}");
        return ExitCode::from(2);
    }
    if let Command::SandboxIssuer { listen } = &cli.command {
        let production = std::env::var("STEWARD_ENV").is_ok_and(|env| env.trim() == "production");
        return match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
            Ok(runtime) => report(runtime.block_on(steward::cli::sandbox_issuer(*listen, production))),
            Err(e) => report(Err(anyhow::anyhow!("cannot start the async runtime: {e}"))),
        };
    }
    if let Command::Doctor = &cli.command {
        // A configuration error is the doctor's first finding, not a reason to stop.
        let config = Config::from_env();
        if let Ok(config) = &config {
            init_tracing(config);
        }
        return match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
            Ok(runtime) if runtime.block_on(steward::doctor::run(config)) => ExitCode::SUCCESS,
            Ok(_) => ExitCode::FAILURE,
            Err(e) => report(Err(anyhow::anyhow!("cannot start the async runtime: {e}"))),
        };
    }
    let config = match Config::from_env() {
        Ok(config) => config,
        Err(e) => {
            eprintln!("steward: configuration error: {e}");
            return ExitCode::from(2);
        }
    };
    init_tracing(&config);
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("steward: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    report(runtime.block_on(async move {
        use steward::cli;
        match cli.command {
            Command::Serve => cli::serve(config).await,
            Command::Worker => cli::worker(config).await,
            Command::Migrate => cli::migrate(config).await,
            Command::Token { command } => match command {
                TokenCommand::Create { email, role, description, expires_in } => {
                    cli::token_create(config, TokenRequest { email, role, description, expires_in }).await
                }
                TokenCommand::Revoke { id } => cli::token_revoke(config, id).await,
            },
            Command::User { command } => match command {
                UserCommand::MakeAdmin { email, remove, no_password: _ } => {
                    cli::user_make_admin(config, email, remove).await
                }
                UserCommand::Disable { email } => cli::user_set_active(config, email, false).await,
                UserCommand::Enable { email } => cli::user_set_active(config, email, true).await,
                UserCommand::Seed { groups } => cli::user_seed(config, groups).await,
                UserCommand::ImportCsv { file, dataset, dry_run } => {
                    cli::user_import(config, file, cli::Import::Csv { dataset }, dry_run).await
                }
                UserCommand::ImportClioAuth { file, dry_run } => {
                    cli::user_import(config, file, cli::Import::ClioAuth, dry_run).await
                }
                UserCommand::ImportNeuprintAuth { file, datasets, dry_run } => {
                    cli::user_import(config, file, cli::Import::NeuprintAuth { datasets }, dry_run).await
                }
            },
            Command::Jobs { command } => match command {
                JobsCommand::List { state, kind, limit } => cli::jobs_list(config, state, kind, limit).await,
                JobsCommand::Retry { ids, all_failed } => cli::jobs_retry(config, ids, all_failed).await,
                JobsCommand::Delete { ids, older_than } => cli::jobs_delete(config, ids, older_than).await,
            },
            Command::Keys { command: KeysCommand::Usage } => cli::keys_usage(config).await,
            Command::Keys { command: KeysCommand::Reseal } => cli::keys_reseal(config).await,
            Command::Descriptor { .. }
            | Command::Keys { command: KeysCommand::Generate }
            | Command::SandboxIssuer { .. }
            | Command::Doctor => {
                unreachable!("handled before configuration")
            }
        }
    }))
}

/// One line on stderr for a failure, its causes joined.
fn report(result: anyhow::Result<()>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("steward: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Logs go to stderr so command output on stdout stays machine-readable.
fn init_tracing(config: &Config) {
    let filter = tracing_subscriber::EnvFilter::try_new(&config.log_filter)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    match config.log_format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Text => builder.init(),
    }
}
