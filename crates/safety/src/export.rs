//! The inspection export (28 CFR 75.5): the records of everyone depicted in content published
//! in a date range, as a ZIP an inspector can read without this software.
//!
//! Layout: `index.csv` (one row per record: legal name, date of birth, aliases, document,
//! its expiry and the day it was checked, status, and where the copies are), `by-alias.csv`
//! (alias → record) and `by-url.csv` (content URL → record, with the day it was published),
//! and `records/<id>/record.json` with the decrypted documents beside it. The ZIP holds
//! identity documents in the clear: the operator handles it as the records themselves.

use crate::records::{self, Depiction, Performer};
use crate::{documents, Result, SafetyError};
use fanz_audit::{record, Actor};
use fanz_secrets::Keyring;
use fanz_store::{sqlx, Db};
use serde_json::json;
use sqlx::Row;
use std::io::{Seek, Write};
use zip::write::SimpleFileOptions;

/// What an export held.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Summary {
    pub records: usize,
    pub documents: usize,
    pub depictions: usize,
}

fn ext(mime: &str) -> &'static str {
    match mime {
        "image/jpeg" => "jpg",
        "image/png" => "png",
        "image/webp" => "webp",
        "application/pdf" => "pdf",
        _ => "bin",
    }
}

fn zip_err(e: impl std::fmt::Display) -> SafetyError {
    SafetyError::Database(sqlx::Error::Protocol(format!("writing the export: {e}")))
}

/// The records to export: everyone depicted in a post published in `[from, to)` (Unix µs),
/// and every record created or changed in it.
pub async fn records_in(
    db: &mut Db,
    from: i64,
    to: i64,
) -> Result<Vec<(Performer, Vec<Depiction>)>> {
    let rows = sqlx::query("SELECT id FROM safety_performers ORDER BY id")
        .fetch_all(&mut *db)
        .await?;
    let mut out = Vec::new();
    for r in rows {
        let p = records::get(db, r.try_get(0)?).await?;
        let deps: Vec<Depiction> = records::depictions(db, &p)
            .await?
            .into_iter()
            .filter(|d| d.published_at.is_some_and(|t| t >= from && t < to))
            .collect();
        let changed = (p.created_at >= from && p.created_at < to)
            || (p.updated_at >= from && p.updated_at < to);
        if !deps.is_empty() || changed {
            out.push((p, deps));
        }
    }
    Ok(out)
}

/// Write the export of `[from, to)` to `out`; audited as one inspection export.
pub async fn write<W: Write + Seek>(
    db: &mut Db,
    keyring: &Keyring,
    from: i64,
    to: i64,
    out: W,
    actor: &Actor,
    mut progress: impl FnMut(usize, usize),
) -> Result<Summary> {
    let recs = records_in(db, from, to).await?;
    let mut zip = zip::ZipWriter::new(out);
    let opts = SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    let mut index = csv::Writer::from_writer(Vec::new());
    let mut by_alias = csv::Writer::from_writer(Vec::new());
    let mut by_url = csv::Writer::from_writer(Vec::new());
    let w = |e: csv::Error| zip_err(e);
    index
        .write_record([
            "record_id",
            "legal_name",
            "date_of_birth",
            "aliases",
            "id_type",
            "id_country",
            "id_expires_on",
            "id_checked_on",
            "status",
            "method",
            "account_id",
            "documents",
        ])
        .map_err(w)?;
    by_alias
        .write_record(["alias", "record_id", "legal_name"])
        .map_err(w)?;
    by_url
        .write_record([
            "url",
            "record_id",
            "legal_name",
            "media_id",
            "clusters",
            "published_at",
        ])
        .map_err(w)?;
    let mut sum = Summary::default();
    let total = recs.len();
    for (i, (p, deps)) in recs.iter().enumerate() {
        let dir = format!("records/{}", p.id);
        let docs = documents::list(db, p.id).await?;
        let mut files = Vec::new();
        for d in &docs {
            let (_, bytes) = documents::read(db, keyring, p.id, d.id).await?;
            let name = format!("{dir}/{}-{}.{}", d.id, d.kind, ext(&d.mime));
            zip.start_file(&name, opts).map_err(zip_err)?;
            zip.write_all(&bytes).map_err(zip_err)?;
            files.push(name);
            sum.documents += 1;
        }
        zip.start_file(format!("{dir}/record.json"), opts)
            .map_err(zip_err)?;
        let body = json!({"record": p, "documents": docs, "files": files, "depictions": deps});
        zip.write_all(&serde_json::to_vec_pretty(&body).unwrap_or_default())
            .map_err(zip_err)?;
        index
            .write_record([
                p.id.to_string(),
                p.legal_name.clone(),
                p.date_of_birth.clone(),
                p.aliases.join("; "),
                p.id_type.clone(),
                p.id_country.clone(),
                p.id_expires_on.clone(),
                p.id_checked_on.clone().unwrap_or_default(),
                p.status.clone(),
                p.method.clone(),
                p.user_id.map(|u| u.to_string()).unwrap_or_default(),
                files.join("; "),
            ])
            .map_err(w)?;
        for a in &p.aliases {
            by_alias
                .write_record([a.clone(), p.id.to_string(), p.legal_name.clone()])
                .map_err(w)?;
        }
        for d in deps {
            by_url
                .write_record([
                    d.url.clone(),
                    p.id.to_string(),
                    p.legal_name.clone(),
                    d.media_id.to_string(),
                    d.clusters.join(" "),
                    d.published_at
                        .map(fanz_core::clock::rfc3339)
                        .unwrap_or_default(),
                ])
                .map_err(w)?;
            sum.depictions += 1;
        }
        sum.records += 1;
        progress(i + 1, total);
    }
    for (name, w) in [
        ("index.csv", index),
        ("by-alias.csv", by_alias),
        ("by-url.csv", by_url),
    ] {
        let bytes = w.into_inner().map_err(zip_err)?;
        zip.start_file(name, opts).map_err(zip_err)?;
        zip.write_all(&bytes).map_err(zip_err)?;
    }
    zip.finish().map_err(zip_err)?;
    record(
        db,
        actor,
        "safety.records_exported",
        None,
        json!({"from": from, "to": to, "records": sum.records, "documents": sum.documents}),
    )
    .await?;
    Ok(sum)
}
