//! Privacy requests (GDPR arts. 15, 17 and 20): a person's export of everything they own, and
//! the erasure of their account.
//!
//! Each module says what of a person is theirs and how it is erased (`privacy` in identity,
//! profiles, content and payments); this module puts those together, adds trust & safety's
//! own (agreement signatures, verification sessions, statements of reasons, the notices they
//! sent) and the media, and decides what erasure must keep:
//!
//! - the ledger, untouched: its accounts stay keyed by the user id, so the books balance;
//! - the 2257 record and its documents (28 CFR 75.4: seven years; legal hold), and the media
//!   that were published, which are the record's depictions (75.2(a)(1)) — no longer shown;
//! - cases, reports and statements of reasons, DMCA counter-notices and copyright strikes,
//!   and media in a post a case is about;
//! - media under a preservation hold (apparent CSAM reported to NCMEC: one year);
//! - the audit log, which is append-only.
//!
//! An account to which money is still owed (earnings not paid out, a payout under way, a
//! wallet balance) is refused until it is settled.
//!
//! Owns `privacy_exports`. Exports are ZIPs in the media store, kept [`EXPORT_TTL_MICROS`].

use crate::{Result, SafetyError};
use fanz_audit::{record, Actor};
use fanz_core::clock::{now_micros, DAY, HOUR, SECOND};
use fanz_jobs::{Job, JobContext, JobError, Registry};
use fanz_media::{Media, MediaItem};
use fanz_store::{query_json, sqlx, Db, Store};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use sqlx::Row;
use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use zip::write::SimpleFileOptions;

/// How long a finished export can be downloaded.
pub const EXPORT_TTL_MICROS: i64 = 7 * DAY;
/// Exports an account may ask for in a day.
pub const EXPORTS_PER_DAY: i64 = 3;
/// Media originals put in one export at most, in bytes; the README says when it was reached.
pub const EXPORT_MEDIA_CAP: u64 = 2 * 1024 * 1024 * 1024;

impl From<fanz_store::StoreError> for SafetyError {
    fn from(e: fanz_store::StoreError) -> Self {
        match e {
            fanz_store::StoreError::Database(e) => SafetyError::Database(e),
            other => SafetyError::Database(sqlx::Error::Protocol(other.to_string())),
        }
    }
}

impl From<fanz_payments::PaymentsError> for SafetyError {
    fn from(e: fanz_payments::PaymentsError) -> Self {
        match e {
            fanz_payments::PaymentsError::Database(e) => SafetyError::Database(e),
            fanz_payments::PaymentsError::Audit(e) => SafetyError::Audit(e),
            fanz_payments::PaymentsError::Content(e) => SafetyError::Content(e),
            other => SafetyError::Database(sqlx::Error::Protocol(other.to_string())),
        }
    }
}

impl From<fanz_profiles::ProfileError> for SafetyError {
    fn from(e: fanz_profiles::ProfileError) -> Self {
        match e {
            fanz_profiles::ProfileError::Database(e) => SafetyError::Database(e),
            fanz_profiles::ProfileError::Audit(e) => SafetyError::Audit(e),
            other => SafetyError::Database(sqlx::Error::Protocol(other.to_string())),
        }
    }
}

/// An export as its owner sees it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Export {
    pub id: i64,
    /// `pending` (being built), `ready`, `failed` or `expired`.
    pub state: String,
    /// Size of the ZIP once ready.
    pub bytes: i64,
    /// Media originals left out because the export's size cap was reached.
    pub media_skipped: i64,
    pub created_at: i64,
    pub completed_at: Option<i64>,
    /// When the ZIP is deleted (7 days after it was asked for).
    pub expires_at: i64,
    /// Where to download it, while ready.
    pub download: Option<String>,
    #[serde(skip)]
    pub object_key: Option<String>,
}

const COLUMNS: &str =
    "id, state, bytes, media_skipped, created_at, completed_at, expires_at, object_key";

fn export_row(r: &sqlx::any::AnyRow, now: i64) -> Result<Export> {
    let id: i64 = r.try_get(0)?;
    let mut state: String = r.try_get(1)?;
    let expires_at: i64 = r.try_get(6)?;
    if state == "ready" && expires_at <= now {
        state = "expired".into();
    }
    Ok(Export {
        id,
        download: (state == "ready").then(|| format!("/api/v1/me/exports/{id}/download")),
        state,
        bytes: r.try_get(2)?,
        media_skipped: r.try_get(3)?,
        created_at: r.try_get(4)?,
        completed_at: r.try_get(5)?,
        expires_at,
        object_key: r.try_get(7)?,
    })
}

/// Build one export (enqueued with the request).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BuildExport {
    pub id: i64,
}

impl Job for BuildExport {
    const KIND: &'static str = "privacy.build_export";
    const MAX_ATTEMPTS: i64 = 5;
}

/// Delete the ZIPs of exports past their time (every hour).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ExpireExports {}

impl Job for ExpireExports {
    const KIND: &'static str = "privacy.expire_exports";
    const QUEUE: &'static str = "maintenance";
}

/// Ask for an export of everything the account owns: one at a time, [`EXPORTS_PER_DAY`] a
/// day (429 otherwise, with when to try again). The ZIP is built by a job. Audited.
pub async fn request_export(db: &mut Db, user_id: i64, actor: &Actor) -> Result<Export> {
    let now = now_micros();
    let pending = sqlx::query(
        "SELECT created_at FROM privacy_exports WHERE user_id = $1 AND state = 'pending'",
    )
    .bind(user_id)
    .fetch_optional(&mut *db)
    .await?;
    if pending.is_some() {
        return Err(SafetyError::TooManyExports {
            retry_after_secs: 60,
        });
    }
    let recent: Vec<i64> = sqlx::query(
        "SELECT created_at FROM privacy_exports WHERE user_id = $1 AND created_at > $2 \
         ORDER BY created_at",
    )
    .bind(user_id)
    .bind(now - DAY)
    .fetch_all(&mut *db)
    .await?
    .iter()
    .map(|r| r.get(0))
    .collect();
    if recent.len() as i64 >= EXPORTS_PER_DAY {
        let free_at = recent[0] + DAY;
        return Err(SafetyError::TooManyExports {
            retry_after_secs: ((free_at - now) / SECOND).max(1) as u64,
        });
    }
    let id: i64 = sqlx::query(
        "INSERT INTO privacy_exports (user_id, state, created_at, expires_at) \
         VALUES ($1, 'pending', $2, $3) RETURNING id",
    )
    .bind(user_id)
    .bind(now)
    .bind(now + EXPORT_TTL_MICROS)
    .fetch_one(&mut *db)
    .await?
    .try_get(0)?;
    fanz_jobs::enqueue(db, &BuildExport { id }).await?;
    record(
        db,
        actor,
        "privacy.export_requested",
        Some(&format!("user:{user_id}")),
        json!({"export": id}),
    )
    .await?;
    own_export(db, user_id, id).await
}

/// The account's exports, newest first.
pub async fn exports(db: &mut Db, user_id: i64) -> Result<Vec<Export>> {
    let now = now_micros();
    let rows = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM privacy_exports WHERE user_id = $1 ORDER BY id DESC LIMIT 50"
    ))
    .bind(user_id)
    .fetch_all(&mut *db)
    .await?;
    rows.iter().map(|r| export_row(r, now)).collect()
}

/// One of the account's own exports; anyone else's is [`SafetyError::NotFound`].
pub async fn own_export(db: &mut Db, user_id: i64, id: i64) -> Result<Export> {
    let row = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM privacy_exports WHERE id = $1 AND user_id = $2"
    ))
    .bind(id)
    .bind(user_id)
    .fetch_optional(&mut *db)
    .await?
    .ok_or(SafetyError::NotFound)?;
    export_row(&row, now_micros())
}

/// The object key of a ready export of the account's, to stream; audited as a download.
pub async fn download(db: &mut Db, user_id: i64, id: i64, actor: &Actor) -> Result<String> {
    let e = own_export(db, user_id, id).await?;
    let key = match (e.state.as_str(), e.object_key) {
        ("ready", Some(k)) => k,
        _ => return Err(SafetyError::NotFound),
    };
    record(
        db,
        actor,
        "privacy.export_downloaded",
        Some(&format!("user:{user_id}")),
        json!({"export": id}),
    )
    .await?;
    Ok(key)
}

/// Trust & safety's own data of a person: agreement signatures, verification sessions,
/// statements of reasons and their appeals, the notices they sent. Not their 2257 record.
pub async fn safety_export(db: &mut Db, user_id: i64) -> Result<Value> {
    let agreements = query_json(
        db,
        "SELECT version, text_sha256, typed_name, ip, signed_at FROM safety_agreements \
         WHERE user_id = $1 ORDER BY id",
        user_id,
    )
    .await?;
    let verifications = query_json(
        db,
        "SELECT id, provider, status, reason, created_at, completed_at FROM safety_verifications \
         WHERE user_id = $1 ORDER BY created_at",
        user_id,
    )
    .await?;
    let statements = crate::cases::statements_for(db, user_id).await?;
    let reports = query_json(
        db,
        "SELECT id, kind, url, details, name, email, received_at FROM safety_reports \
         WHERE reporter_id = $1 ORDER BY id",
        user_id,
    )
    .await?;
    let counter_notices = query_json(
        db,
        "SELECT id, case_id, statement_id, post_id, status, material, location, name, address, \
         phone, email, outside_us, signature, received_at, restore_at, restored_at, \
         action_filed_at FROM safety_counter_notices WHERE user_id = $1 ORDER BY id",
        user_id,
    )
    .await?;
    let strikes = query_json(
        db,
        "SELECT case_id, created_at, lifted_at, lifted_why FROM safety_strikes \
         WHERE user_id = $1 ORDER BY id",
        user_id,
    )
    .await?;
    Ok(json!({
        "agreement_signatures": agreements,
        "verification_sessions": verifications,
        "statements_of_reasons": statements,
        "reports_sent": reports,
        "counter_notices": counter_notices,
        "copyright_strikes": strikes,
    }))
}

fn ext(mime: &str) -> &'static str {
    match mime {
        "image/jpeg" => "jpg",
        "image/png" => "png",
        "image/webp" => "webp",
        "image/gif" => "gif",
        "image/avif" => "avif",
        "video/mp4" => "mp4",
        "video/webm" => "webm",
        "video/quicktime" => "mov",
        "audio/mpeg" => "mp3",
        "audio/ogg" => "ogg",
        _ => "bin",
    }
}

fn zip_err(e: impl std::fmt::Display) -> SafetyError {
    SafetyError::Database(sqlx::Error::Protocol(format!("writing the export: {e}")))
}

const README: &str = "Your data from Fanz
===================

This archive holds everything this site keeps that is yours, as JSON files (UTF-8; times are
microseconds since 1970-01-01 UTC; money is in minor units, e.g. cents) and your media as you
uploaded them.

  account.json    your account: e-mail, handle, roles, two-factor on or off, sessions (without
                  their tokens), API keys (without the keys), mail sent to you (subjects)
  profile.json    your profile and the public handles you follow
  content.json    your posts with every earlier revision, your comments, likes, bookmarks,
                  blocks, subscription tiers and the access you hold; comments other people
                  wrote on your posts are listed by id only (their words are theirs)
  payments.json   your checkouts, charges, sales (without the buyers), subscriptions, wallet,
                  gift cards, payout settings and payouts
  safety.json     your creator agreement signatures, identity verification sessions,
                  statements of reasons about your content, the reports and DMCA
                  counter-notices you sent, and your copyright strikes
  media.json      your media items; the originals are in media/

Records kept under 18 U.S.C. 2257 (legal name, date of birth, identity documents) are not in
this archive: ask the custodian of records named on the site's /legal/2257 page for them.
";

/// Build export `id`: every module's data of its owner and their media originals, as a ZIP
/// in the media store. Files are written to `tmp_dir` first.
pub async fn build(store: &Store, media: &Media, tmp_dir: &std::path::Path, id: i64) -> Result<()> {
    let (user_id, state): (i64, String) = {
        let mut db = store.conn().await?;
        let r = sqlx::query("SELECT user_id, state FROM privacy_exports WHERE id = $1")
            .bind(id)
            .fetch_optional(&mut *db)
            .await?;
        match r {
            Some(r) => (r.try_get(0)?, r.try_get(1)?),
            // The account was erased before its export was built.
            None => return Ok(()),
        }
    };
    if state != "pending" {
        return Ok(());
    }
    let mut db = store.conn().await?;
    let files: Vec<(&str, Value)> = vec![
        (
            "account.json",
            fanz_identity::privacy::export(&mut db, user_id).await?,
        ),
        (
            "profile.json",
            fanz_profiles::privacy::export(&mut db, user_id).await?,
        ),
        (
            "content.json",
            fanz_content::privacy::export(&mut db, user_id).await?,
        ),
        (
            "payments.json",
            fanz_payments::privacy::export(&mut db, user_id).await?,
        ),
        ("safety.json", safety_export(&mut db, user_id).await?),
    ];
    let items = all_media(&mut db, user_id).await?;
    drop(db);

    std::fs::create_dir_all(tmp_dir).map_err(zip_err)?;
    let path = tmp_dir.join(format!("export-{id}-{}.zip", now_micros()));
    let result = write_zip(media, &path, &files, &items).await;
    let outcome = match result {
        Ok((skipped, bytes)) => {
            let key = format!("{}/export.zip", fanz_media::objects::new_prefix("exports"));
            let put = upload(media, &path, &key).await;
            put.map(|()| (key, skipped, bytes))
        }
        Err(e) => Err(e),
    };
    let _ = std::fs::remove_file(&path);
    let (key, skipped, bytes) = outcome?;
    let mut tx = store.begin().await?;
    let n = sqlx::query(
        "UPDATE privacy_exports SET state = 'ready', object_key = $1, bytes = $2, \
         media_skipped = $3, completed_at = $4 WHERE id = $5 AND state = 'pending'",
    )
    .bind(&key)
    .bind(bytes as i64)
    .bind(skipped as i64)
    .bind(now_micros())
    .bind(id)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    record(
        &mut tx,
        &Actor::system(),
        "privacy.export_ready",
        Some(&format!("user:{user_id}")),
        json!({"export": id, "bytes": bytes, "media_skipped": skipped}),
    )
    .await?;
    tx.commit().await?;
    if n == 0 {
        // Erased or expired while it was being built.
        let _ = media.objects.delete(&key).await;
    }
    Ok(())
}

async fn all_media(db: &mut Db, user_id: i64) -> Result<Vec<MediaItem>> {
    let mut out = Vec::new();
    let mut before = None;
    loop {
        let (items, next) = fanz_media::list(db, user_id, before, 100).await?;
        out.extend(items);
        match next {
            Some(n) => before = Some(n),
            None => break,
        }
    }
    out.reverse();
    Ok(out)
}

/// Write the ZIP; returns (media originals skipped, size).
async fn write_zip(
    media: &Media,
    path: &std::path::Path,
    files: &[(&str, Value)],
    items: &[MediaItem],
) -> Result<(u64, u64)> {
    let file = std::fs::File::create(path).map_err(zip_err)?;
    let mut zip = zip::ZipWriter::new(file);
    let opts = SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    for (name, value) in files {
        zip.start_file(*name, opts).map_err(zip_err)?;
        zip.write_all(&serde_json::to_vec_pretty(value).unwrap_or_default())
            .map_err(zip_err)?;
    }
    let mut left = EXPORT_MEDIA_CAP;
    let mut skipped = 0u64;
    let mut index = Vec::new();
    for item in items {
        let name = format!("media/{}.{}", item.id, ext(&item.mime));
        let mut entry = json!({
            "id": item.id, "kind": item.kind.as_str(), "state": item.state.as_str(),
            "mime": item.mime, "bytes": item.bytes, "width": item.width, "height": item.height,
            "created_at": item.created_at, "file": Value::Null,
        });
        if item.state == fanz_media::MediaState::Quarantined {
            // Never delivered to anyone, its owner included (a hash match, apparent CSAM).
            entry["note"] = json!("withheld: quarantined by trust & safety");
        } else if item.bytes > left {
            skipped += 1;
            entry["note"] = json!("left out: the export's size cap was reached");
        } else {
            match media.read_original(item, left).await {
                Ok(bytes) => {
                    zip.start_file(&name, opts).map_err(zip_err)?;
                    zip.write_all(&bytes).map_err(zip_err)?;
                    left -= bytes.len() as u64;
                    entry["file"] = json!(name);
                }
                // Still uploading, or its original is gone: listed without a file.
                Err(fanz_media::MediaError::NotFound) => {
                    entry["note"] = json!("no original stored");
                }
                Err(fanz_media::MediaError::TooLarge { .. }) => {
                    skipped += 1;
                    entry["note"] = json!("left out: the export's size cap was reached");
                }
                Err(e) => return Err(e.into()),
            }
        }
        index.push(entry);
    }
    zip.start_file("media.json", opts).map_err(zip_err)?;
    zip.write_all(&serde_json::to_vec_pretty(&index).unwrap_or_default())
        .map_err(zip_err)?;
    let mut readme = README.to_owned();
    if skipped > 0 {
        readme.push_str(&format!(
            "\nThe export's size cap ({} MiB of media) was reached: {skipped} media original(s)\n\
             are listed in media.json without their file. Download them from your vault, or\n\
             delete some and ask for a new export.\n",
            EXPORT_MEDIA_CAP / (1024 * 1024)
        ));
    }
    zip.start_file("README.txt", opts).map_err(zip_err)?;
    zip.write_all(readme.as_bytes()).map_err(zip_err)?;
    let file = zip.finish().map_err(zip_err)?;
    let bytes = file.metadata().map_err(zip_err)?.len();
    Ok((skipped, bytes))
}

async fn upload(media: &Media, path: &std::path::Path, key: &str) -> Result<()> {
    use std::io::Read;
    let mut f = std::fs::File::open(path).map_err(zip_err)?;
    let mut w = media.objects.writer(key, u64::MAX).await?;
    let mut buf = vec![0u8; 1024 * 1024];
    loop {
        let n = f.read(&mut buf).map_err(zip_err)?;
        if n == 0 {
            break;
        }
        if let Err(e) = w.write(&buf[..n]).await {
            w.abort().await;
            return Err(e.into());
        }
    }
    w.finish().await?;
    Ok(())
}

/// Mark exports past their time expired and delete their ZIPs; returns how many.
pub async fn expire_exports(store: &Store, media: &Media, now: i64) -> Result<usize> {
    let keys: Vec<(i64, Option<String>)> = {
        let mut tx = store.begin().await?;
        let rows = sqlx::query(
            "UPDATE privacy_exports SET state = 'expired' \
             WHERE state IN ('ready', 'failed') AND expires_at <= $1 RETURNING id, object_key",
        )
        .bind(now)
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        rows.iter()
            .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
            .collect::<Result<_>>()?
    };
    for (_, key) in &keys {
        if let Some(k) = key {
            media.objects.delete(k).await?;
        }
    }
    Ok(keys.len())
}

/// What an erasure did.
#[derive(Debug, Clone, Default, Serialize, utoipa::ToSchema)]
pub struct Erasure {
    pub posts_deleted: usize,
    pub comments_replaced: u64,
    pub likes_removed: usize,
    pub bookmarks_removed: u64,
    pub subscriptions_cancelled: u64,
    pub media_deleted: usize,
    /// Media kept: published depictions of a 2257 record, or in a post a case is about.
    pub media_kept: usize,
    /// Records of paid media served to them with a forensic mark (`media_marks`), removed.
    pub media_marks_removed: u64,
    /// The account's export ZIPs, deleted by the caller after commit.
    #[serde(skip)]
    pub export_keys: Vec<String>,
}

/// Refuse erasure while money is owed to or held for the account.
pub async fn check_erasable(db: &mut Db, user_id: i64) -> Result<()> {
    use fanz_payments::privacy::Owed;
    let owed = fanz_payments::privacy::owed(db, user_id).await?;
    match owed.first() {
        None => Ok(()),
        Some(Owed::Balance(..)) => Err(SafetyError::Conflict(
            "balance_unpaid",
            "your earnings have not all been paid out: request a payout of what is available \
             (money in the rolling reserve is released to you on its date), and ask for erasure \
             once your balance is zero",
        )),
        Some(Owed::OpenPayout(_)) => Err(SafetyError::Conflict(
            "payout_open",
            "a payout to you is still under way: ask for erasure once it has been paid",
        )),
        Some(Owed::Wallet(..)) => Err(SafetyError::Conflict(
            "wallet_not_empty",
            "your wallet still holds money: spend it, or ask support for a refund, then ask \
             for erasure",
        )),
    }
}

/// Erase an account at its owner's request, in the caller's transaction (see the module's
/// documentation for what is kept). Media objects are deleted by jobs after commit; the
/// export ZIPs in [`Erasure::export_keys`] are the caller's to delete after commit.
pub async fn erase(db: &mut Db, user_id: i64, actor: &Actor) -> Result<Erasure> {
    check_erasable(db, user_id).await?;
    let mut out = Erasure::default();

    // Media first, while posts still say what was published and what a case is about.
    let items = all_media(db, user_id).await?;
    let ids: Vec<i64> = items.iter().map(|m| m.id).collect();
    let posts = fanz_content::posts::with_media(db, &ids).await?;
    let cased: Vec<i64> = sqlx::query(
        "SELECT DISTINCT post_id FROM safety_cases WHERE post_id IS NOT NULL AND author_id = $1",
    )
    .bind(user_id)
    .fetch_all(&mut *db)
    .await?
    .iter()
    .map(|r| r.get(0))
    .collect();
    let keep: Vec<i64> = posts
        .iter()
        .filter(|p| p.published_at.is_some() || cased.contains(&p.id))
        .flat_map(|p| p.media.iter().copied())
        .collect();
    let now = fanz_core::clock::now_micros();
    for item in &items {
        // A preserved item (apparent CSAM, 18 U.S.C. 2258A(h)) stays until its hold lapses.
        if keep.contains(&item.id) || item.is_preserved(now) {
            out.media_kept += 1;
        } else {
            fanz_media::delete(db, user_id, item.id, actor).await?;
            out.media_deleted += 1;
        }
    }

    // What they were served with forensic marks (a viewing history), their marked copies
    // and their media settings.
    out.media_marks_removed = fanz_media::erase_viewer(db, user_id, actor).await?;

    let content = fanz_content::privacy::erase(db, user_id, actor).await?;
    out.posts_deleted = content.posts;
    out.comments_replaced = content.comments;
    out.likes_removed = content.likes;
    out.bookmarks_removed = content.bookmarks;
    out.subscriptions_cancelled = fanz_payments::privacy::erase(db, user_id, actor).await?;
    let handle = fanz_identity::privacy::erased_handle(user_id);
    fanz_profiles::privacy::erase(db, user_id, &handle, actor).await?;
    fanz_identity::privacy::erase(db, user_id, actor).await?;

    out.export_keys = sqlx::query(
        "SELECT object_key FROM privacy_exports WHERE user_id = $1 AND object_key IS NOT NULL",
    )
    .bind(user_id)
    .fetch_all(&mut *db)
    .await?
    .iter()
    .map(|r| r.get(0))
    .collect();
    sqlx::query("DELETE FROM privacy_exports WHERE user_id = $1")
        .bind(user_id)
        .execute(&mut *db)
        .await?;
    // Age checks keep their outcome, no longer whose it was.
    sqlx::query("DELETE FROM safety_age_passes WHERE user_id = $1")
        .bind(user_id)
        .execute(&mut *db)
        .await?;
    sqlx::query("UPDATE safety_age_checks SET user_id = NULL WHERE user_id = $1")
        .bind(user_id)
        .execute(&mut *db)
        .await?;
    record(
        db,
        actor,
        "privacy.erased",
        Some(&format!("user:{user_id}")),
        json!(out),
    )
    .await?;
    Ok(out)
}

/// Register the export job and the hourly expiry; ZIPs are written under `data_dir/tmp`.
pub fn register_jobs(registry: &mut Registry, media: Arc<Media>, data_dir: PathBuf) {
    let m = media.clone();
    let tmp = data_dir.join("tmp");
    registry.register(move |ctx: JobContext, job: BuildExport| {
        let media = m.clone();
        let tmp = tmp.clone();
        async move {
            match build(ctx.store(), &media, &tmp, job.id).await {
                Ok(()) => Ok(()),
                Err(e) if ctx.attempt >= BuildExport::MAX_ATTEMPTS => {
                    tracing::warn!(export = job.id, error = %e, "privacy export failed");
                    let mut tx = ctx.begin().await?;
                    sqlx::query(
                        "UPDATE privacy_exports SET state = 'failed', error = $1, completed_at = $2 \
                         WHERE id = $3 AND state = 'pending'",
                    )
                    .bind(e.to_string())
                    .bind(now_micros())
                    .bind(job.id)
                    .execute(&mut *tx)
                    .await?;
                    tx.complete().await?;
                    Ok(())
                }
                Err(e) => Err(JobError::retry(e)),
            }
        }
    });
    registry.register(move |ctx: JobContext, _: ExpireExports| {
        let media = media.clone();
        async move {
            let n = expire_exports(ctx.store(), &media, now_micros())
                .await
                .map_err(JobError::retry)?;
            if n > 0 {
                tracing::info!(exports = n, "expired privacy exports deleted");
            }
            Ok(())
        }
    });
    registry.every(
        Duration::from_secs((HOUR / SECOND) as u64),
        ExpireExports {},
    );
}
