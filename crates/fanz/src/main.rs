//! `fanz`: the one binary. Parses the command line, loads configuration and hands over to the
//! domain crates; it holds no business rules.

mod bench_content;
mod bench_jobs;
mod bench_payments;
mod compliance;
mod demo;
mod ops;
mod scale;
mod trace;

use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand};
use fanz_clusters::Clusters;
use fanz_config::{Config, LogFormat};
use fanz_store::Store;
use fanz_web::AppState;
use std::path::PathBuf;

/// mimalloc instead of the system allocator: the store's drivers allocate per bound value and per
/// row, and glibc's malloc was a fifth of the ledger's batch time (BENCHMARKS.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

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
    /// Create demo creators and fans (idempotent); new credentials are printed once. With
    /// --scale: benchmark-sized data written in bulk (see the flags).
    Demo(scale::ScaleArgs),
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
    /// Background jobs: queue counts, listings, retry, cancel, dead jobs.
    Jobs {
        #[command(subcommand)]
        command: ops::JobsCommand,
    },
    /// Domain events: tail the outbox, subscribers, dead letters, replay.
    Events {
        #[command(subcommand)]
        command: ops::EventsCommand,
    },
    /// The search index of this node.
    Search {
        #[command(subcommand)]
        command: SearchCommand,
    },
    /// Payments: re-drive a stored processor notification.
    Payments {
        #[command(subcommand)]
        command: PaymentsCommand,
    },
    /// Trust & safety: the inspection export of performer records, key rotation, PDQ hash lists,
    /// statements of reasons for the EU DSA Transparency Database.
    Compliance {
        #[command(subcommand)]
        command: compliance::ComplianceCommand,
    },
    /// Media tools.
    Media {
        #[command(subcommand)]
        command: MediaCommand,
    },
    /// Benchmarks against the configured store (FANZ_DATABASE_URL).
    Bench {
        #[command(subcommand)]
        command: BenchCommand,
    },
}

#[derive(Subcommand)]
enum MediaCommand {
    /// Name the viewer a leaked picture or a recording of a video was delivered to, from its
    /// forensic mark, with a confidence (or say that it cannot). Exit status 1 when no viewer
    /// is named.
    Trace {
        /// The leaked copy: a picture (JPEG, PNG, WebP or GIF) or a recording of a video (MP4,
        /// MOV or WebM); resized or re-encoded is fine, cropped is not.
        file: PathBuf,
    },
}

#[derive(Subcommand)]
enum LedgerCommand {
    /// Recompute every balance from the journal and check the invariants; exit status 1 if
    /// anything does not hold.
    Verify,
    /// Print the trial balance as JSON (or CSV).
    TrialBalance {
        #[arg(long)]
        csv: bool,
    },
    /// Print one account's balance as JSON.
    Balance { code: String },
    /// Release holds whose time has passed and rolling reserves that are due.
    ExpireHolds,
    /// SQLite: merge the postings' recent part into sorted runs now, step by step, until
    /// nothing is due (the server's `ledger.merge_postings` job does it every 5 s). Prints
    /// what it did as JSON.
    Merge {
        /// Start a cycle once the recent part spans this many buckets of 16,384 postings (the
        /// server's setting is 64; 1 merges everything but the bucket being written).
        #[arg(long, default_value_t = 64)]
        after: i64,
    },
    /// Profit and loss for a period. Instants are microseconds, YYYY-MM-DD or RFC 3339.
    Pnl {
        #[arg(long)]
        from: Option<String>,
        #[arg(long)]
        to: Option<String>,
    },
    /// Balance sheet at an instant (default: now).
    BalanceSheet {
        #[arg(long)]
        at: Option<String>,
    },
    /// A creator's statement for a period.
    Statement {
        /// The creator's user id.
        #[arg(long)]
        creator: i64,
        #[arg(long, default_value = "USD")]
        currency: String,
        #[arg(long)]
        from: Option<String>,
        #[arg(long)]
        to: Option<String>,
    },
    /// Export the journal for a period, one line per posting.
    Export {
        #[arg(long)]
        from: Option<String>,
        #[arg(long)]
        to: Option<String>,
        /// csv or json.
        #[arg(long, default_value = "csv")]
        format: String,
    },
    /// Import a processor's settlement file (CSV) and report what does not match the journal;
    /// exit status 1 if anything is unmatched.
    Reconcile {
        /// The processor, e.g. ccbill, segpay, epoch, verotel, btcpay.
        #[arg(long)]
        processor: String,
        /// The settlement file: reference,amount,currency[,fee][,date].
        file: std::path::PathBuf,
    },
}

pub(crate) fn print_json(value: &impl serde::Serialize) -> Result<()> {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}

#[derive(Subcommand)]
enum BenchCommand {
    /// Processor notifications through the whole intake (stored, verified, applied once)
    /// beside the same sales posted straight through the ledger.
    Payments(bench_payments::PaymentsArgs),
    /// Post entries through the full ledger path on a fresh set of accounts and report the
    /// curve: entries/s, batch latency and bytes written per entry for every slice of the
    /// run, the store's size, and the disk's synced-write latency measured first.
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
        /// How the credited account is chosen: `uniform`, or `zipf` (most entries credit a
        /// few accounts).
        #[arg(long, default_value = "uniform", value_parser = ["uniform", "zipf"])]
        skew: String,
        /// The Zipf exponent for `--skew zipf`.
        #[arg(long, default_value_t = 1.0)]
        zipf_s: f64,
        /// Report a slice every this many entries.
        #[arg(long, default_value_t = 100_000)]
        slice: usize,
        /// Print the report as JSON (slices included) instead of a table.
        #[arg(long)]
        json: bool,
        /// SQLite: a `PRAGMA` to run on the write connection first (`cache_size=-65536`);
        /// repeatable. For measuring a setting before making it the default.
        #[arg(long = "pragma")]
        pragmas: Vec<String>,
        /// SQLite: start a merge cycle of the postings' recent part once it spans this many
        /// buckets of 16,384 postings (the server's setting is 64).
        #[arg(long, default_value_t = 64)]
        merge_after: i64,
        /// SQLite: the most postings one merge chunk (one write transaction) moves.
        #[arg(long, default_value_t = 50_000)]
        merge_chunk: usize,
        /// SQLite: do not run the merge job during the run.
        #[arg(long)]
        no_merge: bool,
    },
    /// No-op jobs through the real runner: enqueue rate, completion rate, commit-to-start
    /// latency. Run a second process with --work-only for two nodes.
    Jobs(bench_jobs::JobsArgs),
    /// Events through the outbox, the relay and a subscriber (NATS when events_url is set).
    Events(bench_jobs::EventsArgs),
    /// Feeds and search of a running server at a fixed rate, beside `/api/v1/clusters` as the
    /// reference, signed in as `fanz demo --scale` fans.
    Content(bench_content::ContentArgs),
    /// What `may_view` costs per home feed page of `fanz demo --scale` fans (in process).
    MayView(bench_content::MayViewArgs),
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
        Command::Demo(args) if args.scale => {
            let state = state(config).await?;
            scale::load(&state, &args).await.map(|_| ())
        }
        Command::Demo(_) => {
            // Demo sales go through the sandbox processor.
            let mut config = config;
            config.payments.sandbox = true;
            config.compliance.sandbox_verification = true;
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
                    skew,
                    zipf_s,
                    slice,
                    json,
                    pragmas,
                    merge_after,
                    merge_chunk,
                    no_merge,
                },
        } => {
            let store = open_store(&config).await?;
            let skew = if skew == "zipf" {
                fanz_ledger::Skew::Zipf { s: zipf_s }
            } else {
                fanz_ledger::Skew::Uniform
            };
            // The synced-write probe runs on the store's disk: beside the SQLite file, else
            // in the data directory (PostgreSQL on the same machine).
            let probe_dir = config
                .database_url
                .strip_prefix("sqlite:")
                .map(|rest| rest.trim_start_matches("//"))
                .and_then(|rest| rest.split('?').next())
                .and_then(|path| std::path::Path::new(path).parent())
                .filter(|dir| !dir.as_os_str().is_empty())
                .map(|dir| dir.to_path_buf())
                .unwrap_or_else(|| config.data_dir.clone());
            eprintln!(
                "ledger bench on {}: {entries} entries, batch {batch}, {accounts} accounts, {}",
                store.backend().name(),
                if hot {
                    "one hot account".to_owned()
                } else {
                    format!("{skew:?}").to_lowercase()
                }
            );
            let bar = indicatif::ProgressBar::new(accounts as u64).with_style(
                indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} accounts opened")?,
            );
            let entry_style = indicatif::ProgressStyle::with_template(
                "{bar:40} {pos}/{len} entries, {per_sec}, eta {eta} {msg}",
            )?;
            let report = fanz_ledger::bench(
                &store,
                &fanz_ledger::BenchOptions {
                    entries,
                    batch,
                    accounts,
                    hot,
                    skew,
                    slice,
                    probe_dir: Some(probe_dir),
                    pragmas,
                    merge: (!no_merge).then_some(fanz_ledger::merge::MergeConfig {
                        after_buckets: merge_after,
                        chunk: merge_chunk,
                    }),
                },
                |p| match p {
                    fanz_ledger::Progress::Accounts(done, _) => {
                        bar.set_position(done as u64);
                        if done >= accounts {
                            bar.reset();
                            bar.set_length(entries as u64);
                            bar.set_style(entry_style.clone());
                        }
                    }
                    fanz_ledger::Progress::Batch(n) => bar.inc(n as u64),
                    fanz_ledger::Progress::Slice(s) => bar.set_message(format!(
                        "(last slice {:.0}/s, {:.0} B/entry)",
                        s.entries_per_sec, s.written_bytes_per_entry
                    )),
                },
            )
            .await?;
            bar.finish_and_clear();
            if json {
                print_json(&report)?;
            } else {
                println!("{report}");
            }
            Ok(())
        }
        Command::Bench {
            command: BenchCommand::Payments(args),
        } => {
            let mut config = config;
            config.payments.sandbox = true;
            let state = state(config).await?;
            bench_payments::payments(state, args).await
        }
        Command::Bench {
            command: BenchCommand::Jobs(args),
        } => {
            let store = open_store(&config).await?;
            let node = fanz_web::background::node_name(&config);
            bench_jobs::jobs(&store, &config, node, args).await
        }
        Command::Bench {
            command: BenchCommand::Events(args),
        } => {
            let store = open_store(&config).await?;
            let node = fanz_web::background::node_name(&config);
            bench_jobs::events(&store, &config, node, args).await
        }
        Command::Bench {
            command: BenchCommand::Content(args),
        } => bench_content::content(args).await,
        Command::Bench {
            command: BenchCommand::MayView(args),
        } => {
            let state = state(config).await?;
            bench_content::may_view(&state, args).await
        }
        Command::Jobs { command } => {
            let store = open_store(&config).await?;
            ops::jobs(&config, &store, command).await
        }
        Command::Search {
            command: SearchCommand::Reindex,
        } => {
            let store = open_store(&config).await?;
            reindex(&config, &store).await
        }
        Command::Payments {
            command: PaymentsCommand::Replay { id },
        } => {
            let store = open_store(&config).await?;
            let env = fanz_payments::Payments::new(&config.payments);
            let done = fanz_payments::intake::redrive(&store, &env, id, &fanz_audit::Actor::cli())
                .await
                .with_context(|| format!("cannot replay notification {id}"))?;
            println!(
                "notification {id}: {}{}",
                done.status,
                done.error.map(|e| format!(" ({e})")).unwrap_or_default()
            );
            Ok(())
        }
        Command::Compliance { command } => {
            let store = open_store(&config).await?;
            compliance::run(&config, &store, command).await
        }
        Command::Events { command } => {
            let store = open_store(&config).await?;
            ops::events(&config, &store, command).await
        }
        Command::Media {
            command: MediaCommand::Trace { file },
        } => {
            let store = open_store(&config).await?;
            let media = fanz_media::Media::from_config(&config)?;
            let mut db = store.conn().await?;
            trace::run(&media, &mut db, &file).await
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
        LedgerCommand::Merge { after } => {
            let config = fanz_ledger::merge::MergeConfig {
                after_buckets: after.max(1),
                ..fanz_ledger::merge::MergeConfig::default()
            };
            fanz_ledger::merge::take_merge_stats();
            // A step that moves no line (a start, a switch, the last delete, or one another
            // node's merge took first) comes at most a few times in a row.
            let mut idle_steps = 0;
            while let Some(lines) = fanz_ledger::merge::merge_step(&store, &config).await? {
                idle_steps = if lines == 0 { idle_steps + 1 } else { 0 };
                if idle_steps > 100 {
                    bail!("the merge makes no progress (another merge is running?)");
                }
            }
            print_json(&fanz_ledger::merge::take_merge_stats())
        }
        LedgerCommand::TrialBalance { csv } => {
            let mut db = store.conn().await?;
            if csv {
                print!("{}", fanz_ledger::trial_balance_csv(&mut db).await?);
                Ok(())
            } else {
                print_json(&fanz_ledger::trial_balance(&mut db).await?)
            }
        }
        LedgerCommand::Balance { code } => {
            let mut db = store.conn().await?;
            print_json(&fanz_ledger::balance(&mut db, &code).await?)
        }
        LedgerCommand::ExpireHolds => {
            let now = fanz_core::clock::now_micros();
            let mut tx = store.begin().await?;
            let (holds, reserves) =
                fanz_ledger::release_due(&mut tx, now, &fanz_audit::Actor::cli()).await?;
            tx.commit().await?;
            println!("released {holds} expired hold(s) and {reserves} due reserve(s)");
            Ok(())
        }
        LedgerCommand::Pnl { from, to } => {
            let (from, to) = fanz_ledger::parse_period(from.as_deref(), to.as_deref())?;
            let mut db = store.conn().await?;
            print_json(&fanz_ledger::profit_and_loss(&mut db, from, to).await?)
        }
        LedgerCommand::BalanceSheet { at } => {
            let at = fanz_ledger::parse_instant_or_now(at.as_deref())?;
            let mut db = store.conn().await?;
            print_json(&fanz_ledger::balance_sheet(&mut db, at).await?)
        }
        LedgerCommand::Statement {
            creator,
            currency,
            from,
            to,
        } => {
            let (from, to) = fanz_ledger::parse_period(from.as_deref(), to.as_deref())?;
            let mut db = store.conn().await?;
            print_json(
                &fanz_ledger::creator_statement(&mut db, creator, &currency, from, to).await?,
            )
        }
        LedgerCommand::Export { from, to, format } => {
            let format = match format.as_str() {
                "csv" => fanz_ledger::ExportFormat::Csv,
                "json" => fanz_ledger::ExportFormat::Json,
                other => bail!("--format must be csv or json, not {other:?}"),
            };
            let (from, to) = fanz_ledger::parse_period(from.as_deref(), to.as_deref())?;
            let mut db = store.conn().await?;
            print!(
                "{}",
                fanz_ledger::export_journal(&mut db, from, to, format).await?
            );
            Ok(())
        }
        LedgerCommand::Reconcile { processor, file } => {
            let text = std::fs::read_to_string(&file)
                .with_context(|| format!("cannot read {}", file.display()))?;
            let mut tx = store.begin().await?;
            let report = fanz_ledger::import_settlement(
                &mut tx,
                &processor,
                &text,
                &fanz_audit::Actor::cli(),
            )
            .await?;
            tx.commit().await?;
            print_json(&report)?;
            if !report.ok {
                bail!(
                    "settlement does not reconcile: {} unmatched line(s), {} mismatched, {} unmatched entr(ies)",
                    report.unmatched_lines.len(),
                    report.mismatched.len(),
                    report.unmatched_entries.len()
                );
            }
            Ok(())
        }
    }
}

fn init_logging(config: &Config) {
    let filter =
        tracing_subscriber::EnvFilter::try_new(&config.log).unwrap_or_else(|_| "info".into());
    // The search engine reports every segment it saves and merges at info: keep that to
    // warnings unless the operator's filter names it.
    let filter = if config.log.contains("tantivy") {
        filter
    } else {
        filter.add_directive("tantivy=warn".parse().expect("a valid directive"))
    };
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
    let state = AppState::try_new(store, clusters, config).context("cannot start")?;
    // TOTP secrets stored in clear (before sealing) or under a retired key are sealed under the
    // current key; idempotent and safe on several nodes.
    let resealed =
        fanz_identity::reseal_totp_secrets(&state.store, &state.identity.secrets).await?;
    if resealed > 0 {
        tracing::info!(resealed, "TOTP secrets sealed under the current key");
    }
    Ok(state)
}

/// The demo's age assurance, unless the configuration sets its own: the sandbox provider, and
/// a place chosen by request headers a tester sets (`Fanz-Demo-Country: GB` gets the age
/// check, `Fanz-Demo-Country: US` with `Fanz-Demo-Region: UT` the 451 page). A live server
/// names headers its proxy overwrites.
fn demo_age_assurance(a: &mut fanz_config::age::AgeAssuranceConfig) {
    a.sandbox = true;
    if a.rules.is_empty() && a.country_header.is_empty() {
        a.country_header = "Fanz-Demo-Country".into();
        a.region_header = "Fanz-Demo-Region".into();
        a.rules.insert(
            "GB".into(),
            "assure: facial_estimation, photo_id, credit_card".into(),
        );
        a.rules.insert("US-UT".into(), "block".into());
    }
}

async fn serve(mut config: Config, demo: bool) -> Result<()> {
    if demo {
        // The demo takes payments through the sandbox processor (test cards, no money).
        config.payments.sandbox = true;
        demo::ccbill_settings(&mut config.payments);
        config.compliance.sandbox_verification = true;
        demo_age_assurance(&mut config.age_assurance);
    }
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

#[derive(Subcommand)]
enum PaymentsCommand {
    /// Apply a stored notification again (a dead letter once its cause is fixed); audited.
    Replay {
        /// The notification's id (`GET /api/v1/payments/notifications`).
        id: i64,
    },
}

#[derive(Subcommand)]
enum SearchCommand {
    /// Rebuild this node's index from the store (stop the server first: one process holds it).
    Reindex,
}

async fn reindex(config: &Config, store: &Store) -> Result<()> {
    let dir = config.data_dir.join("search");
    let search = fanz_web::search::Search::open(&dir).with_context(|| {
        format!(
            "cannot open the search index in {} (is a server on this data directory running?)",
            dir.display()
        )
    })?;
    let total = {
        let mut db = store.conn().await?;
        fanz_content::posts::count_live(&mut db, None, fanz_core::clock::now_micros()).await?
    };
    let bar = indicatif::ProgressBar::new(total as u64).with_style(
        indicatif::ProgressStyle::with_template(
            "{bar:40} {pos}/{len} posts indexed, {per_sec}, {eta} left",
        )?,
    );
    let started = std::time::Instant::now();
    let (posts, creators) = search
        .reindex(store, |done| bar.set_position(done))
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    bar.finish();
    println!(
        "indexed {posts} posts and {creators} creators in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}
