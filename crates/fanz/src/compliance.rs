//! `fanz compliance`: the inspection export of the performer records, re-sealing their
//! documents' keys after the secrets key rotates, review before publication's PDQ hash
//! lists, and a month's statements of reasons for the EU DSA Transparency Database.

use anyhow::{bail, Context, Result};
use clap::Subcommand;
use fanz_config::Config;
use fanz_safety::records::{day_start_micros, parse_day};
use std::path::PathBuf;

#[derive(Subcommand)]
pub enum ComplianceCommand {
    /// Write the records of everyone depicted in content published from FROM up to and
    /// including TO (UTC days, YYYY-MM-DD) to a ZIP with an index, for an inspection.
    Export {
        #[arg(long)]
        from: String,
        #[arg(long)]
        to: String,
        /// The ZIP to write (it holds identity documents in the clear: keep it safe).
        file: PathBuf,
    },
    /// Re-seal every record document's key under the current `[secrets] key` (after moving
    /// the previous key to `old_keys`); the previous key can be dropped afterwards.
    RotateKeys,
    /// PDQ hash lists: images whose hashes match are quarantined for review.
    Hashlist {
        #[command(subcommand)]
        command: HashlistCommand,
    },
    /// The month's statements of reasons that restrict something, as the JSON body of the EU
    /// DSA Transparency Database's batch endpoint (`{"statements": [...]}`), to submit there.
    Transparency {
        /// YYYY-MM (UTC).
        #[arg(long)]
        month: String,
        /// Write the JSON to FILE instead of standard output.
        #[arg(long)]
        out: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
pub enum HashlistCommand {
    /// Load (or replace) a list from FILE: one PDQ hash (64 hex digits) per line, optionally
    /// followed by a comma and more fields; blank lines and `#` comments are skipped. Every
    /// stored image is screened against it at once.
    Load {
        #[arg(long)]
        name: String,
        /// `csam`: a match starts the CSAM preservation and reporting workflow; `other`.
        #[arg(long, default_value = "other")]
        category: String,
        file: PathBuf,
    },
    /// The loaded lists.
    List,
    /// Remove a list (items it quarantined stay so until their cases are decided).
    Remove { name: String },
}

pub async fn run(
    config: &Config,
    store: &fanz_store::Store,
    command: ComplianceCommand,
) -> Result<()> {
    if let ComplianceCommand::Transparency { month, out } = command {
        return transparency(store, &month, out).await;
    }
    let keyring = fanz_secrets::Keyring::load(
        &config.secrets.key,
        &config.secrets.old_keys,
        &config.data_dir,
    )?;
    let actor = fanz_audit::Actor::cli();
    match command {
        ComplianceCommand::Export { from, to, file } => {
            let (Some(f), Some(t)) = (parse_day(&from), parse_day(&to)) else {
                bail!("--from and --to are days, YYYY-MM-DD");
            };
            if t < f {
                bail!("--to is before --from");
            }
            let to_excl = day_start_micros(t) + fanz_core::clock::DAY;
            let out = std::fs::File::create(&file)
                .with_context(|| format!("cannot create {}", file.display()))?;
            let bar = indicatif::ProgressBar::new(0).with_style(
                indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} records")?,
            );
            let mut tx = store.begin().await?;
            let sum = fanz_safety::export::write(
                &mut tx,
                &keyring,
                day_start_micros(f),
                to_excl,
                std::io::BufWriter::new(out),
                &actor,
                |done, total| {
                    bar.set_length(total as u64);
                    bar.set_position(done as u64);
                },
            )
            .await?;
            tx.commit().await?;
            bar.finish_and_clear();
            println!(
                "{}: {} records, {} documents, {} depictions ({from} to {to})",
                file.display(),
                sum.records,
                sum.documents,
                sum.depictions
            );
        }
        ComplianceCommand::RotateKeys => {
            let mut tx = store.begin().await?;
            let n = fanz_safety::documents::rotate(&mut tx, &keyring).await?;
            fanz_audit::record(
                &mut tx,
                &actor,
                "safety.documents_resealed",
                None,
                serde_json::json!({"documents": n, "key": keyring.current_id()}),
            )
            .await?;
            tx.commit().await?;
            println!(
                "{n} document keys re-sealed under key {:?}",
                keyring.current_id()
            );
        }
        ComplianceCommand::Hashlist { command } => return hashlist(config, store, command).await,
        ComplianceCommand::Transparency { .. } => unreachable!("handled above"),
    }
    Ok(())
}

async fn hashlist(
    config: &Config,
    store: &fanz_store::Store,
    command: HashlistCommand,
) -> Result<()> {
    let actor = fanz_audit::Actor::cli();
    match command {
        HashlistCommand::Load {
            name,
            category,
            file,
        } => {
            let text = std::fs::read_to_string(&file)
                .with_context(|| format!("cannot read {}", file.display()))?;
            let hashes = fanz_safety::hashes::parse(&text)
                .with_context(|| format!("{} is not a hash list", file.display()))?;
            let mut tx = store.begin().await?;
            let loaded = fanz_safety::hashes::load(
                &mut tx,
                &name,
                &category,
                &hashes,
                config.review.pdq_threshold,
                None,
                fanz_core::clock::now_micros(),
                &actor,
            )
            .await
            .context("cannot load the list")?;
            tx.commit().await?;
            println!(
                "list {:?}: {} hashes; {} stored item(s) matched and were quarantined{}",
                loaded.list.name,
                loaded.list.hash_count,
                loaded.quarantined.len(),
                if loaded.quarantined.is_empty() {
                    String::new()
                } else {
                    format!(
                        " ({}); see /admin/cases",
                        loaded
                            .quarantined
                            .iter()
                            .map(|i| i.to_string())
                            .collect::<Vec<_>>()
                            .join(", ")
                    )
                }
            );
        }
        HashlistCommand::List => {
            let mut db = store.conn().await?;
            for l in fanz_safety::hashes::lists(&mut db).await? {
                println!(
                    "{}\t{} hashes\tloaded at {}",
                    l.name, l.hash_count, l.loaded_at
                );
            }
        }
        HashlistCommand::Remove { name } => {
            let mut tx = store.begin().await?;
            fanz_safety::hashes::remove(&mut tx, &name, &actor)
                .await
                .with_context(|| format!("cannot remove list {name:?}"))?;
            tx.commit().await?;
            println!("list {name:?} removed");
        }
    }
    Ok(())
}

/// Write the month's statements for the DSA Transparency Database to `out` or stdout.
async fn transparency(store: &fanz_store::Store, month: &str, out: Option<PathBuf>) -> Result<()> {
    let mut db = store.conn().await?;
    let batch = fanz_safety::transparency::month(&mut db, month)
        .await
        .with_context(|| format!("cannot read the statements of {month}"))?;
    let json = serde_json::to_string_pretty(&batch)?;
    match out {
        Some(file) => {
            std::fs::write(&file, json + "\n")
                .with_context(|| format!("cannot write {}", file.display()))?;
            eprintln!(
                "{}: {} statement(s) of reasons for {month}",
                file.display(),
                batch.statements.len()
            );
        }
        None => println!("{json}"),
    }
    Ok(())
}
