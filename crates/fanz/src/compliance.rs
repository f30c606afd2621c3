//! `fanz compliance`: review before publication's operator tools (the PDQ hash lists).

use anyhow::{Context, Result};
use clap::Subcommand;
use fanz_config::Config;
use fanz_store::Store;
use std::path::PathBuf;

#[derive(Subcommand)]
pub enum ComplianceCommand {
    /// PDQ hash lists: images whose hashes match are quarantined for review.
    Hashlist {
        #[command(subcommand)]
        command: HashlistCommand,
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
        file: PathBuf,
    },
    /// The loaded lists.
    List,
    /// Remove a list (items it quarantined stay so until their cases are decided).
    Remove { name: String },
}

pub async fn run(config: &Config, store: &Store, command: ComplianceCommand) -> Result<()> {
    let ComplianceCommand::Hashlist { command } = command;
    let actor = fanz_audit::Actor::cli();
    match command {
        HashlistCommand::Load { name, file } => {
            let text = std::fs::read_to_string(&file)
                .with_context(|| format!("cannot read {}", file.display()))?;
            let hashes = fanz_safety::hashes::parse(&text)
                .with_context(|| format!("{} is not a hash list", file.display()))?;
            let mut tx = store.begin().await?;
            let loaded = fanz_safety::hashes::load(
                &mut tx,
                &name,
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
