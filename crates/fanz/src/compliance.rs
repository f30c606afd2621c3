//! `fanz compliance`: the inspection export of the performer records, and re-sealing their
//! documents' keys after the secrets key rotates.

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
}

pub async fn run(
    config: &Config,
    store: &fanz_store::Store,
    command: ComplianceCommand,
) -> Result<()> {
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
    }
    Ok(())
}
