//! The media module's durable jobs: processing an upload, deleting an item's objects, and
//! removing resumable uploads that were never finished.

use crate::{av, images, tus, Media, MediaError, MediaKind, MediaState};
use fanz_audit::Actor;
use fanz_core::clock::now_micros;
use fanz_jobs::{Job, JobContext, JobError, Registry};
use fanz_store::sqlx;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::time::Duration;

/// Process one uploaded item: join a resumable upload's parts into the original, then render
/// an image's renditions (video and audio wait in `processing` for their pipelines).
#[derive(Debug, Serialize, Deserialize)]
pub struct Process {
    pub media_id: i64,
    /// Part objects of a resumable upload, in order, still to be joined.
    #[serde(default)]
    pub parts: Vec<String>,
}

impl Job for Process {
    const KIND: &'static str = "media.process";
    const MAX_ATTEMPTS: i64 = 5;
}

/// Process one video or audio item with ffmpeg (on the `media` queue, so long transcodes
/// never hold up the default queue).
#[derive(Debug, Serialize, Deserialize)]
pub struct Transcode {
    pub media_id: i64,
}

impl Job for Transcode {
    const KIND: &'static str = "media.transcode";
    const QUEUE: &'static str = "media";
    const MAX_ATTEMPTS: i64 = 3;
}

/// Delete every object under an item's prefix (after the item was deleted).
#[derive(Debug, Serialize, Deserialize)]
pub struct Purge {
    pub prefix: String,
}

impl Job for Purge {
    const KIND: &'static str = "media.purge";
}

/// Remove resumable uploads past their expiry, with their parts.
#[derive(Debug, Serialize, Deserialize)]
pub struct ExpireUploads {}

impl Job for ExpireUploads {
    const KIND: &'static str = "media.expire_uploads";
    const QUEUE: &'static str = "maintenance";
}

/// Hash (and screen) ready images that have no PDQ hash yet: those processed before hashing
/// existed. A few at a time, from their largest rendition.
#[derive(Debug, Serialize, Deserialize)]
pub struct BackfillPdq {}

impl Job for BackfillPdq {
    const KIND: &'static str = "media.backfill_pdq";
    const QUEUE: &'static str = "maintenance";
}

/// Images hashed per run of [`BackfillPdq`].
const BACKFILL_BATCH: i64 = 20;

/// Register the media jobs (and the recurring expiry of unfinished uploads).
pub fn register(registry: &mut Registry, media: Arc<Media>) {
    let m = media.clone();
    registry.register(move |ctx: JobContext, job: Process| {
        let media = m.clone();
        async move { process(&media, ctx, job).await }
    });
    let m = media.clone();
    registry.register(move |ctx: JobContext, job: Transcode| {
        let media = m.clone();
        async move { transcode(&media, ctx, job).await }
    });
    let m = media.clone();
    registry.register(move |_ctx: JobContext, job: Purge| {
        let media = m.clone();
        async move {
            let n = media.objects.delete_prefix(&job.prefix).await?;
            tracing::debug!(prefix = %job.prefix, objects = n, "media objects deleted");
            Ok(())
        }
    });
    let m = media.clone();
    registry.register(move |ctx: JobContext, _: ExpireUploads| {
        let media = m.clone();
        async move {
            let n = tus::expire(&media, ctx.store(), now_micros()).await?;
            if n > 0 {
                tracing::info!(uploads = n, "expired resumable uploads removed");
            }
            Ok(())
        }
    });
    registry.every(Duration::from_secs(600), ExpireUploads {});
    let m = media;
    registry.register(move |ctx: JobContext, _: BackfillPdq| {
        let media = m.clone();
        async move { backfill(&media, ctx).await }
    });
    registry.every(Duration::from_secs(600), BackfillPdq {});
}

async fn backfill(media: &Media, ctx: JobContext) -> Result<(), JobError> {
    let ids: Vec<i64> = {
        let mut db = ctx.store().conn().await?;
        sqlx::query(
            "SELECT id FROM media WHERE kind = 'image' AND state = 'ready' AND pdq IS NULL \
             ORDER BY id LIMIT $1",
        )
        .bind(BACKFILL_BATCH)
        .fetch_all(&mut *db)
        .await?
        .iter()
        .map(|r| sqlx::Row::try_get(r, 0))
        .collect::<Result<_, _>>()?
    };
    for id in ids {
        let item = {
            let mut db = ctx.store().conn().await?;
            crate::get(&mut db, id).await?
        };
        let Some(r) = item
            .renditions
            .iter()
            .filter(|r| !r.teaser && r.format == "jpeg")
            .max_by_key(|r| r.width)
        else {
            continue;
        };
        let bytes = match media
            .objects
            .read_all(&item.rendition_key(r), media.limits.max_upload_bytes)
            .await
        {
            Ok(b) => b,
            Err(e) => {
                tracing::warn!(media_id = id, error = %e, "cannot read a rendition to hash");
                continue;
            }
        };
        let hashed = tokio::task::spawn_blocking(move || {
            image::load_from_memory(&bytes)
                .ok()
                .and_then(|img| crate::pdq::hash_image(&img))
        })
        .await
        .ok()
        .flatten();
        let Some((pdq, quality)) = hashed else {
            continue;
        };
        let mut tx = ctx.store().begin().await?;
        crate::set_pdq(&mut tx, id, &pdq, quality).await?;
        if let Some(screen) = &media.screen {
            if let Some(reason) = screen.screen(&mut tx, id, item.owner_id, &pdq).await? {
                crate::quarantine(&mut tx, id, &reason, &Actor::system()).await?;
            }
        }
        tx.commit().await?;
    }
    Ok(())
}

async fn process(media: &Media, ctx: JobContext, job: Process) -> Result<(), JobError> {
    let media_id = job.media_id;
    let run = process_once(media, ctx.clone(), job).await;
    give_up_on_last(
        ctx,
        media_id,
        Process::MAX_ATTEMPTS,
        "media processing",
        run,
    )
    .await
}

/// After the job's last attempt, a failure is said on the item (`processing_failed`) instead
/// of leaving it processing; before it, the error goes back to the runner to retry.
async fn give_up_on_last(
    ctx: JobContext,
    media_id: i64,
    max_attempts: i64,
    what: &str,
    run: Result<(), JobError>,
) -> Result<(), JobError> {
    match run {
        Err(e) if ctx.attempt >= max_attempts => {
            tracing::warn!(media_id, error = %e, "{what} gave up");
            fail(
                ctx,
                media_id,
                "processing_failed",
                &format!("processing failed: {e}"),
            )
            .await
        }
        other => other,
    }
}

async fn process_once(media: &Media, ctx: JobContext, job: Process) -> Result<(), JobError> {
    let item = {
        let mut db = ctx.store().conn().await?;
        match crate::get(&mut db, job.media_id).await {
            Ok(item) => item,
            // Deleted before it was processed: nothing to do.
            Err(MediaError::NotFound) => return complete(ctx).await,
            Err(e) => return Err(e.into()),
        }
    };
    if item.state != MediaState::Processing {
        return complete(ctx).await;
    }
    let original = item.original_key();
    if !job.parts.is_empty() {
        // A retry after the parts were joined and deleted finds the original in place.
        if media.objects.size(&original).await.is_err() {
            media.objects.concat(&job.parts, &original).await?;
        }
        for part in &job.parts {
            media.objects.delete(part).await?;
        }
    }
    if item.kind != MediaKind::Image {
        // Video and audio go to the `media` queue; a node without ffmpeg says so on the item.
        if media.av.is_none() {
            let f = av::AvFailure::Unavailable;
            return fail(ctx, item.id, f.code(), &f.to_string()).await;
        }
        let mut tx = ctx.begin().await?;
        fanz_jobs::enqueue(&mut tx, &Transcode { media_id: item.id }).await?;
        tx.complete().await?;
        return Ok(());
    }
    // An image is decoded from memory: one larger than a small upload may be (it came by
    // tus) is refused rather than read.
    let bytes = match media
        .objects
        .read_all(&original, media.limits.max_upload_bytes)
        .await
    {
        Ok(b) => b,
        Err(MediaError::TooLarge { limit }) => {
            let message = format!("an image may have at most {limit} bytes");
            return fail(ctx, item.id, "media_too_large", &message).await;
        }
        Err(e) => return Err(e.into()),
    };
    let watermark = {
        let mut db = ctx.store().conn().await?;
        crate::watermark::text_for(media.byline.as_deref(), &mut db, item.owner_id).await?
    };
    let out = match images::render(media, bytes, watermark.clone()).await {
        Ok(out) => out,
        Err(failure) => {
            tracing::info!(media_id = item.id, error = %failure, "image processing failed");
            let code = match failure {
                images::ImageFailure::TooManyPixels { .. } => "media_too_many_pixels",
                images::ImageFailure::Undecodable(_) => "media_malformed",
                images::ImageFailure::Timeout(_) => "processing_timeout",
            };
            return fail(ctx, item.id, code, &failure.to_string()).await;
        }
    };
    let mut derived = 0u64;
    let mut renditions = Vec::with_capacity(out.files.len());
    for (r, data) in out.files {
        media
            .objects
            .put(&item.rendition_key(&r), data.into())
            .await?;
        derived += r.bytes;
        renditions.push(r);
    }
    let mut tx = ctx.begin().await?;
    let updated = sqlx::query(
        "UPDATE media SET state = 'ready', width = $1, height = $2, blurhash = $3, \
         renditions = $4, derived_bytes = $5, error = NULL, pdq = $6, pdq_quality = $7, \
         updated_at = $8, watermark = $10 WHERE id = $9 AND state = 'processing'",
    )
    .bind(i64::from(out.width))
    .bind(i64::from(out.height))
    .bind(out.blurhash.as_deref())
    .bind(serde_json::to_string(&renditions).expect("renditions serialize"))
    .bind(derived as i64)
    .bind(out.pdq.map(|(h, _)| h.to_hex()))
    .bind(out.pdq.map(|(_, q)| i64::from(q)))
    .bind(now_micros())
    .bind(item.id)
    .bind(watermark.as_deref())
    .execute(&mut *tx)
    .await?
    .rows_affected();
    if updated == 1 {
        fanz_audit::record(
            &mut tx,
            &Actor::system(),
            "media.ready",
            Some(&format!("media:{}", item.id)),
            serde_json::json!({"width": out.width, "height": out.height, "renditions": renditions.len(),
                               "pdq": out.pdq.map(|(h, _)| h.to_hex()), "watermark": watermark}),
        )
        .await?;
        // Screened in the same transaction: a matching item is never ready to anyone.
        if let (Some(screen), Some((pdq, _))) = (&media.screen, out.pdq) {
            if let Some(reason) = screen.screen(&mut tx, item.id, item.owner_id, &pdq).await? {
                crate::quarantine(&mut tx, item.id, &reason, &Actor::system()).await?;
            }
        }
    }
    tx.complete().await?;
    Ok(())
}

/// End an item `failed` with `message` and its stable `code`, and the job done, in one
/// transaction.
async fn fail(ctx: JobContext, media_id: i64, code: &str, message: &str) -> Result<(), JobError> {
    let mut tx = ctx.begin().await?;
    let updated = sqlx::query(
        "UPDATE media SET state = 'failed', error = $1, error_code = $4, updated_at = $2 \
         WHERE id = $3 AND state = 'processing'",
    )
    .bind(message)
    .bind(now_micros())
    .bind(media_id)
    .bind(code)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    if updated == 1 {
        fanz_audit::record(
            &mut tx,
            &Actor::system(),
            "media.failed",
            Some(&format!("media:{media_id}")),
            serde_json::json!({"error": message, "code": code}),
        )
        .await?;
    }
    tx.complete().await?;
    Ok(())
}

async fn complete(ctx: JobContext) -> Result<(), JobError> {
    ctx.begin().await?.complete().await?;
    Ok(())
}

async fn transcode(media: &Media, ctx: JobContext, job: Transcode) -> Result<(), JobError> {
    let media_id = job.media_id;
    let run = transcode_once(media, ctx.clone(), job).await;
    give_up_on_last(
        ctx,
        media_id,
        Transcode::MAX_ATTEMPTS,
        "video or audio processing",
        run,
    )
    .await
}

/// Removes an item's work directory however processing ends.
struct WorkDir(std::path::PathBuf);

impl Drop for WorkDir {
    fn drop(&mut self) {
        if let Err(e) = std::fs::remove_dir_all(&self.0) {
            if e.kind() != std::io::ErrorKind::NotFound {
                tracing::warn!(dir = %self.0.display(), error = %e, "cannot remove a media work directory");
            }
        }
    }
}

async fn transcode_once(media: &Media, ctx: JobContext, job: Transcode) -> Result<(), JobError> {
    let item = {
        let mut db = ctx.store().conn().await?;
        match crate::get(&mut db, job.media_id).await {
            Ok(item) => item,
            Err(MediaError::NotFound) => return complete(ctx).await,
            Err(e) => return Err(e.into()),
        }
    };
    if item.state != MediaState::Processing || item.kind == MediaKind::Image {
        return complete(ctx).await;
    }
    let Some(av) = media.av.clone() else {
        let f = av::AvFailure::Unavailable;
        return fail(ctx, item.id, f.code(), &f.to_string()).await;
    };
    let Some(format) = av::demuxer(&item.mime) else {
        let f = av::AvFailure::Malformed(format!("video or audio ({})", item.mime));
        return fail(ctx, item.id, f.code(), &f.to_string()).await;
    };
    let _slot = av.slot().await;
    let deadline = tokio::time::Instant::now() + av.limits.timeout;
    let dir = media.work_dir.join(format!("{}-{}", item.id, ctx.attempt));
    tokio::fs::create_dir_all(&dir)
        .await
        .map_err(|e| JobError::retry(format!("{}: {e}", dir.display())))?;
    let work = WorkDir(dir.clone());
    let input = dir.join("original");
    media.objects.download(&item.original_key(), &input).await?;
    let out_dir = dir.join("out");
    tokio::fs::create_dir_all(&out_dir)
        .await
        .map_err(|e| JobError::retry(format!("{}: {e}", out_dir.display())))?;
    let watermark = match item.kind {
        MediaKind::Video => {
            let mut db = ctx.store().conn().await?;
            crate::watermark::text_for(media.byline.as_deref(), &mut db, item.owner_id).await?
        }
        _ => None,
    };
    let outcome = match item.kind {
        MediaKind::Video => {
            av.video(&input, format, &out_dir, deadline, watermark.as_deref())
                .await
        }
        _ => av.audio(&input, format, &out_dir, deadline).await,
    };
    let out = match outcome {
        Ok(out) => out,
        Err(failure) => {
            drop(work);
            tracing::info!(media_id = item.id, error = %failure, "video or audio processing failed");
            return fail(ctx, item.id, failure.code(), &failure.to_string()).await;
        }
    };
    let mut derived = 0u64;
    let mut renditions = Vec::with_capacity(out.files.len());
    for (r, data) in out.files {
        let key = item.rendition_key(&r);
        match data {
            av::Output::Bytes(b) => media.objects.put(&key, b.into()).await?,
            av::Output::File(path) => {
                media.objects.put_file(&key, &path).await?;
            }
        }
        derived += r.bytes;
        renditions.push(r);
    }
    drop(work);
    let mut tx = ctx.begin().await?;
    let updated = sqlx::query(
        "UPDATE media SET state = 'ready', width = $1, height = $2, blurhash = $3, \
         renditions = $4, derived_bytes = $5, error = NULL, error_code = NULL, pdq = $6, \
         pdq_quality = $7, duration_ms = $8, updated_at = $9, watermark = $11 \
         WHERE id = $10 AND state = 'processing'",
    )
    .bind(out.width.map(i64::from))
    .bind(out.height.map(i64::from))
    .bind(out.blurhash.as_deref())
    .bind(serde_json::to_string(&renditions).expect("renditions serialize"))
    .bind(derived as i64)
    .bind(out.pdq.map(|(h, _)| h.to_hex()))
    .bind(out.pdq.map(|(_, q)| i64::from(q)))
    .bind(out.duration_ms)
    .bind(now_micros())
    .bind(item.id)
    .bind(watermark.as_deref())
    .execute(&mut *tx)
    .await?
    .rows_affected();
    if updated == 1 {
        fanz_audit::record(
            &mut tx,
            &Actor::system(),
            "media.ready",
            Some(&format!("media:{}", item.id)),
            serde_json::json!({"kind": item.kind.as_str(), "duration_ms": out.duration_ms,
                               "renditions": renditions.len(), "watermark": watermark}),
        )
        .await?;
        // The poster frame is screened as an image is.
        if let (Some(screen), Some((pdq, _))) = (&media.screen, out.pdq) {
            if let Some(reason) = screen.screen(&mut tx, item.id, item.owner_id, &pdq).await? {
                crate::quarantine(&mut tx, item.id, &reason, &Actor::system()).await?;
            }
        }
    }
    tx.complete().await?;
    Ok(())
}
