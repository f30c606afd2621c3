//! `fanz`: the one binary. Parses the command line, loads configuration and hands over to the
//! domain crates; it holds no business rules.

mod demo;

use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand};
use fanz_clusters::Clusters;
use fanz_config::{Config, LogFormat};
use fanz_store::Store;
use fanz_web::AppState;
use std::path::PathBuf;

#[derive(Parser)]
#[command(
    name = "fanz",
    version,
    about = "Fanz: a self-hosted platform for adult creators and their fans.",
    long_about = "Fanz runs many branded sites (clusters) from one server. With no configuration it keeps \
    everything in ./data on SQLite; set FANZ_DATABASE_URL=postgres://… to use PostgreSQL."
)]
struct Cli {
    /// Configuration file (default: ./fanz.toml when present). Environment variables FANZ_* override it.
    #[arg(long, global = true, value_name = "PATH")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the HTTP server (migrations are applied first).
    Serve {
        /// Load the demo clusters' creators and fans before serving (idempotent).
        #[arg(long)]
        demo: bool,
    },
    /// Apply pending database migrations and exit.
    Migrate,
    /// Create demo creators and fans (idempotent); new credentials are printed once.
    Demo,
    /// Manage accounts.
    User {
        #[command(subcommand)]
        command: UserCommand,
    },
    /// Print the effective configuration, secrets redacted.
    Config,
    /// Audit log tools.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
    /// The double-entry ledger.
    Ledger {
        #[command(subcommand)]
        command: LedgerCommand,
    },
    /// Benchmarks against the configured store (FANZ_DATABASE_URL).
    Bench {
        #[command(subcommand)]
        command: BenchCommand,
    },
}

#[derive(Subcommand)]
enum LedgerCommand {
    /// Recompute every balance from the journal and check the invariants; exit status 1 if
    /// anything does not hold.
    Verify,
    /// Print the trial balance as JSON.
    TrialBalance,
    /// Print one account's balance as JSON.
    Balance { code: String },
    /// Release holds whose time has passed.
    ExpireHolds,
}

#[derive(Subcommand)]
enum BenchCommand {
    /// Post entries through the full ledger path on a fresh set of accounts and report
    /// entries/s, postings/s and batch latency.
    Ledger {
        /// How many entries to post.
        #[arg(long, default_value_t = 100_000)]
        entries: usize,
        /// Entries per transaction.
        #[arg(long, default_value_t = 100)]
        batch: usize,
        /// How many accounts to spread the entries over.
        #[arg(long, default_value_t = 1_000)]
        accounts: usize,
        /// Every entry credits one hot account.
        #[arg(long)]
        hot: bool,
    },
}

#[derive(Subcommand)]
enum UserCommand {
    /// Create an account (with a fan profile) and give it a role.
    Create {
        #[arg(long)]
        email: String,
        /// At least 10 characters.
        #[arg(long)]
        password: String,
        #[arg(long)]
        handle: String,
        /// fan, creator, moderator, compliance, finance or admin.
        #[arg(long, default_value = "fan")]
        role: String,
    },
}

#[derive(Subcommand)]
enum AuditCommand {
    /// Recompute the audit log's hash chain; exit status 1 if it is broken.
    Verify,
}

#[tokio::main]
async fn main() {
    let cli = Cli::parse();
    if let Err(e) = run(cli).await {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}

async fn run(cli: Cli) -> Result<()> {
    let config = Config::load(cli.config.as_deref())?;
    init_logging(&config);
    match cli.command {
        Command::Config => {
            print!("{}", config.redacted_toml());
            Ok(())
        }
        Command::Migrate => {
            let store = open_store(&config).await?;
            println!("migrations applied ({} store)", store.backend().name());
            Ok(())
        }
        Command::Demo => {
            let state = state(config).await?;
            demo::load(&state).await
        }
        Command::User {
            command:
                UserCommand::Create {
                    email,
                    password,
                    handle,
                    role,
                },
        } => {
            let role = fanz_core::Role::parse(&role)?;
            let state = state(config).await?;
            let user = fanz_web::flows::signup(
                &state,
                &email,
                &handle,
                &password,
                vec![role],
                &fanz_audit::Actor::cli(),
            )
            .await
            .map_err(|e| anyhow::anyhow!("{} ({})", e.message, e.code))?;
            println!(
                "created @{} (id {}) with roles {:?}",
                user.handle, user.id, user.roles
            );
            Ok(())
        }
        Command::Audit {
            command: AuditCommand::Verify,
        } => {
            let store = open_store(&config).await?;
            let mut db = store.conn().await?;
            match fanz_audit::verify(&mut db).await? {
                fanz_audit::Verdict::Intact { entries } => {
                    println!("audit log intact: {entries} entries");
                    Ok(())
                }
                fanz_audit::Verdict::Broken { at_id, reason } => {
                    bail!("audit log broken at entry {at_id}: {reason}")
                }
            }
        }
        Command::Ledger { command } => ledger(&config, command).await,
        Command::Bench {
            command:
                BenchCommand::Ledger {
                    entries,
                    batch,
                    accounts,
                    hot,
                },
        } => {
            let store = open_store(&config).await?;
            println!(
                "ledger bench on {}: {entries} entries, batch {batch}, {accounts} accounts{}",
                store.backend().name(),
                if hot { ", hot account" } else { "" }
            );
            let report = fanz_ledger::bench(
                &store,
                &fanz_ledger::BenchOptions {
                    entries,
                    batch,
                    accounts,
                    hot,
                },
            )
            .await?;
            println!("{report}");
            Ok(())
        }
        Command::Serve { demo } => serve(config, demo).await,
    }
}

async fn ledger(config: &Config, command: LedgerCommand) -> Result<()> {
    let store = open_store(config).await?;
    match command {
        LedgerCommand::Verify => {
            let mut db = store.conn().await?;
            let report = fanz_ledger::verify(&mut db).await?;
            println!("{}", serde_json::to_string_pretty(&report)?);
            if !report.ok {
                bail!(
                    "the ledger does not verify: {} problem(s)",
                    report.problems.len()
                );
            }
            Ok(())
        }
        LedgerCommand::TrialBalance => {
            let mut db = store.conn().await?;
            println!(
                "{}",
                serde_json::to_string_pretty(&fanz_ledger::trial_balance(&mut db).await?)?
            );
            Ok(())
        }
        LedgerCommand::Balance { code } => {
            let mut db = store.conn().await?;
            println!(
                "{}",
                serde_json::to_string_pretty(&fanz_ledger::balance(&mut db, &code).await?)?
            );
            Ok(())
        }
        LedgerCommand::ExpireHolds => {
            let mut tx = store.begin().await?;
            let n = fanz_ledger::expire_holds(&mut tx, fanz_core::clock::now_micros()).await?;
            tx.commit().await?;
            println!("released {n} expired hold(s)");
            Ok(())
        }
    }
}

fn init_logging(config: &Config) {
    let filter =
        tracing_subscriber::EnvFilter::try_new(&config.log).unwrap_or_else(|_| "info".into());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match config.log_format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Text => builder.init(),
    }
}

async fn open_store(config: &Config) -> Result<Store> {
    let store = Store::connect(&config.database_url, config.db_max_connections)
        .await
        .with_context(|| {
            format!(
                "cannot open the store at {}",
                fanz_config::redact_url(&config.database_url)
            )
        })?;
    store.migrate().await.context("migrations failed")?;
    Ok(store)
}

fn clusters(config: &Config) -> Result<Clusters> {
    Ok(match &config.clusters_file {
        Some(path) => Clusters::from_file(path, &config.default_cluster)?,
        None => Clusters::builtin(&config.default_cluster)?,
    })
}

async fn state(config: Config) -> Result<AppState> {
    let clusters = clusters(&config)?;
    let store = open_store(&config).await?;
    Ok(AppState::new(store, clusters, config))
}

async fn serve(config: Config, demo: bool) -> Result<()> {
    let listen = config.listen;
    let state = state(config).await?;
    if demo {
        demo::load(&state).await?;
    }
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("cannot listen on {listen}"))?;
    tracing::info!(
        address = %listen,
        store = state.store.backend().name(),
        clusters = state.clusters.all().len(),
        "Fanz is ready on http://{listen}/ (try http://boyfanz.localhost:{}/ or http://{listen}/c/boyfanz)",
        listen.port()
    );
    let store = state.store.clone();
    fanz_web::serve(state, listener, shutdown_signal()).await?;
    store.close().await;
    tracing::info!("stopped");
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        {
            s.recv().await;
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
    tracing::info!("shutting down: finishing requests in flight");
}
