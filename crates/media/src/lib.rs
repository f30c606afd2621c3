//! MediaCore: the photos, videos and audio creators upload, from upload through processing to
//! delivery.
//!
//! Owns `media`, `media_uploads` and `media_upload_parts`, and the objects of the media store
//! (a directory or an S3 bucket, [`objects`]). Uploads are streamed to the store under a cap
//! and typed by their bytes ([`sniff`]); processing runs as durable jobs ([`jobs`]) that decode
//! untrusted images only within limits ([`images`]); resumable uploads speak tus 1.0 ([`tus`]);
//! delivery is by short-lived signed URLs ([`delivery`]).
//!
//! Content attaches media to posts by id and asks this crate whether each item has finished
//! processing ([`summaries`]); who may *see* an item is content's entitlement decision, never
//! this crate's: it signs a URL for whoever its callers name, and itself only for an owner's
//! own vault. It must never deliver an original (they keep the uploader's metadata), nor take
//! an object key from user input.

pub mod abmark;
pub mod av;
pub mod delivery;
pub mod hls;
pub mod images;
pub mod jobs;
pub mod mark;
pub mod markkey;
pub mod objects;
pub mod pdq;
pub mod sniff;
pub mod tus;
pub mod watermark;

pub use delivery::{delivery_url, Grant, UrlError, UrlKeys};
pub use objects::Objects;
pub use pdq::Pdq;

use bytes::{Bytes, BytesMut};
use fanz_audit::Actor;
use fanz_core::clock::{now_micros, SECOND};
use fanz_store::{sqlx, Db, Store};
use futures_util::{Stream, StreamExt};
use serde::{Deserialize, Serialize};
use sqlx::Row;
use std::sync::Arc;
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum MediaError {
    #[error("no such media")]
    NotFound,
    #[error("this type of file is not accepted (JPEG, PNG, WebP and GIF images; MP4, MOV and WebM video; MP3, M4A, Ogg and WAV audio)")]
    Unsupported,
    #[error("the file is larger than the limit of {limit} bytes")]
    TooLarge { limit: u64 },
    #[error("the upload would exceed your storage quota ({used} of {quota} bytes used)")]
    QuotaExceeded { used: u64, quota: u64 },
    #[error("the upload is empty")]
    Empty,
    #[error("the upload was interrupted: {0}")]
    Interrupted(String),
    #[error("the upload is at offset {expected}, not at the offset given")]
    OffsetMismatch { expected: i64 },
    #[error("the bytes sent do not match Upload-Checksum; they were discarded")]
    ChecksumMismatch,
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Url(#[from] UrlError),
    #[error("media configuration: {0}")]
    Config(String),
    #[error("media storage: {0}")]
    Storage(String),
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("audit: {0}")]
    Audit(#[from] fanz_audit::AuditError),
    #[error("jobs: {0}")]
    Jobs(#[from] fanz_jobs::JobsError),
    #[error("this item is preserved by a legal hold and cannot be deleted")]
    Preserved,
    #[error("video and audio processing is not available on this server (ffmpeg is not installed); photos can still be uploaded")]
    AvUnavailable,
}

impl From<fanz_store::StoreError> for MediaError {
    fn from(e: fanz_store::StoreError) -> Self {
        match e {
            fanz_store::StoreError::Database(e) => MediaError::Database(e),
            other => MediaError::Database(sqlx::Error::Protocol(other.to_string())),
        }
    }
}

pub type Result<T, E = MediaError> = std::result::Result<T, E>;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum MediaKind {
    Image,
    Video,
    Audio,
}

impl MediaKind {
    pub fn as_str(self) -> &'static str {
        match self {
            MediaKind::Image => "image",
            MediaKind::Video => "video",
            MediaKind::Audio => "audio",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "image" => Some(MediaKind::Image),
            "video" => Some(MediaKind::Video),
            "audio" => Some(MediaKind::Audio),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum MediaState {
    Processing,
    Ready,
    Failed,
    /// Its hash matched a hash list: never delivered, attached or published until trust &
    /// safety releases it.
    Quarantined,
}

impl MediaState {
    pub fn as_str(self) -> &'static str {
        match self {
            MediaState::Processing => "processing",
            MediaState::Ready => "ready",
            MediaState::Failed => "failed",
            MediaState::Quarantined => "quarantined",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "processing" => Some(MediaState::Processing),
            "ready" => Some(MediaState::Ready),
            "failed" => Some(MediaState::Failed),
            "quarantined" => Some(MediaState::Quarantined),
            _ => None,
        }
    }
}

/// What other modules need to know of an item: whose it is, what it is, whether it is ready.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct MediaSummary {
    pub id: i64,
    #[serde(skip)]
    pub owner_id: i64,
    pub kind: MediaKind,
    pub state: MediaState,
}

/// One derived file of an item (`w640.jpg`, `w640.webp`, `teaser.jpg`, …).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Rendition {
    /// The name delivery URLs are signed for.
    pub name: String,
    /// `jpeg`, `webp` or `png` (pictures), `mp4` (video: the preview clip and the HLS
    /// rungs' media), `m3u8` (HLS playlists), `m4a` (audio).
    pub format: String,
    pub width: u32,
    pub height: u32,
    pub bytes: u64,
    /// The blurred stand-in shown for locked posts.
    #[serde(default)]
    pub teaser: bool,
}

impl Rendition {
    pub fn content_type(&self) -> &'static str {
        match self.format.as_str() {
            "webp" => "image/webp",
            "png" => "image/png",
            "mp4" => "video/mp4",
            "m4a" => "audio/mp4",
            "m3u8" => "application/vnd.apple.mpegurl",
            _ => "image/jpeg",
        }
    }

    /// An HLS playlist, whose URIs are signed for the viewer as it is delivered.
    pub fn is_playlist(&self) -> bool {
        self.format == "m3u8"
    }
}

/// An item as its owner sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct MediaItem {
    pub id: i64,
    pub owner_id: i64,
    pub kind: MediaKind,
    pub state: MediaState,
    /// The sniffed type of the original.
    pub mime: String,
    pub bytes: u64,
    pub derived_bytes: u64,
    pub width: Option<u32>,
    pub height: Option<u32>,
    pub blurhash: Option<String>,
    pub renditions: Vec<Rendition>,
    pub error: Option<String>,
    /// The stable code of `error` (`video_processing_unavailable`, `media_malformed`, …).
    pub error_code: Option<String>,
    /// The length of a video or audio item.
    pub duration_ms: Option<i64>,
    /// The image's PDQ hash (64 hex digits), once processed.
    pub pdq: Option<String>,
    pub pdq_quality: Option<u8>,
    /// Why the item is quarantined.
    pub quarantine_reason: Option<String>,
    /// The visible watermark its renditions carry, if any ([`watermark`]).
    pub watermark: Option<String>,
    /// Kept until this time (trust & safety's preservation, 18 U.S.C. 2258A(h)): until then
    /// nothing deletes it.
    pub preserved_until: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
    object_prefix: String,
}

impl MediaItem {
    pub fn summary(&self) -> MediaSummary {
        MediaSummary {
            id: self.id,
            owner_id: self.owner_id,
            kind: self.kind,
            state: self.state,
        }
    }

    /// Whether a preservation hold keeps the item at `now`.
    pub fn is_preserved(&self, now: i64) -> bool {
        self.preserved_until.is_some_and(|t| t > now)
    }

    pub fn rendition(&self, name: &str) -> Option<&Rendition> {
        self.renditions.iter().find(|r| r.name == name)
    }

    /// The object key of a rendition (generated names only, see [`MediaItem::rendition`]).
    pub fn rendition_key(&self, r: &Rendition) -> String {
        format!("{}/{}", self.object_prefix, r.name)
    }

    fn original_key(&self) -> String {
        original_key(&self.object_prefix)
    }
}

fn original_key(prefix: &str) -> String {
    format!("{prefix}/original")
}

/// The limits of `[media]`, as the crate uses them.
#[derive(Debug, Clone)]
pub struct Limits {
    pub max_upload_bytes: u64,
    pub max_resumable_bytes: u64,
    pub quota_bytes: u64,
    pub upload_expiry: Duration,
    pub max_pixels: u64,
    pub decode_timeout: Duration,
    pub rendition_widths: Vec<u32>,
    pub url_ttl: Duration,
}

impl Limits {
    pub fn from_config(c: &fanz_config::media::MediaConfig) -> Self {
        let mut widths = c.rendition_widths.clone();
        widths.sort_unstable();
        widths.dedup();
        Limits {
            max_upload_bytes: c.max_upload_bytes,
            max_resumable_bytes: c.max_resumable_bytes,
            quota_bytes: c.quota_bytes,
            upload_expiry: Duration::from_secs(c.upload_expiry_hours * 3600),
            max_pixels: c.max_pixels,
            decode_timeout: Duration::from_secs(c.decode_timeout_secs),
            rendition_widths: widths,
            url_ttl: Duration::from_secs(c.url_ttl_secs),
        }
    }
}

/// Screens an image's hash in the transaction that marks it ready (trust & safety's hash
/// lists); media knows nothing of what it is screened against.
#[async_trait::async_trait]
pub trait Screen: Send + Sync {
    /// Why the item must be quarantined, if it must; the screen records its own case and
    /// audit rows in `db`, and [`jobs`] quarantines the item.
    async fn screen(
        &self,
        db: &mut Db,
        media_id: i64,
        owner_id: i64,
        pdq: &Pdq,
    ) -> Result<Option<String>>;
}

/// The media module of a running node: its store, URL keys and limits. Share it in an `Arc`.
pub struct Media {
    pub objects: Objects,
    pub keys: UrlKeys,
    pub limits: Limits,
    /// Images decoded at once on this node.
    decode_slots: Arc<tokio::sync::Semaphore>,
    /// What processed images are screened by (none: not screened).
    pub screen: Option<Arc<dyn Screen>>,
    /// Who writes the visible watermark's text (none: no watermarks).
    pub byline: Option<Arc<dyn watermark::Byline>>,
    /// ffmpeg and ffprobe, when this node has them: video and audio are refused without.
    pub av: Option<Arc<av::Av>>,
    /// Where video and audio are processed (a directory per item, removed after).
    pub work_dir: std::path::PathBuf,
    /// Seals each item's forensic mark secret (`[secrets]`, [`markkey`]).
    pub keyring: Arc<fanz_secrets::Keyring>,
}

impl std::fmt::Debug for Media {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Media")
            .field("objects", &self.objects)
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}

impl Media {
    pub fn new(objects: Objects, keys: UrlKeys, limits: Limits, concurrency: usize) -> Self {
        Media {
            objects,
            keys,
            limits,
            decode_slots: Arc::new(tokio::sync::Semaphore::new(concurrency.max(1))),
            screen: None,
            byline: None,
            av: None,
            work_dir: std::env::temp_dir(),
            keyring: Arc::new(fanz_secrets::Keyring::ephemeral()),
        }
    }

    /// Process video and audio with `av`, in directories under `work_dir`.
    pub fn with_av(mut self, av: Option<av::Av>, work_dir: std::path::PathBuf) -> Self {
        self.av = av.map(Arc::new);
        self.work_dir = work_dir;
        self
    }

    /// Whether this node processes video and audio.
    pub fn av_available(&self) -> bool {
        self.av.is_some()
    }

    /// Refuse a kind this node cannot process.
    pub fn accepts(&self, kind: MediaKind) -> Result<()> {
        if kind != MediaKind::Image && self.av.is_none() {
            return Err(MediaError::AvUnavailable);
        }
        Ok(())
    }

    /// Screen every processed image with `screen`.
    pub fn with_screen(mut self, screen: Arc<dyn Screen>) -> Self {
        self.screen = Some(screen);
        self
    }

    /// Seal mark secrets with `keyring` (the server's, `[secrets]`).
    pub fn with_keyring(mut self, keyring: Arc<fanz_secrets::Keyring>) -> Self {
        self.keyring = keyring;
        self
    }

    /// Draw creators' visible watermarks with the text `byline` writes.
    pub fn with_byline(mut self, byline: Arc<dyn watermark::Byline>) -> Self {
        self.byline = Some(byline);
        self
    }

    /// The module as `[media]` configures it (the store is opened, nothing is fetched).
    pub fn from_config(config: &fanz_config::Config) -> Result<Self> {
        let c = &config.media;
        Ok(Self::new(
            Objects::from_config(c, &config.data_dir)?,
            UrlKeys::load(&c.url_key, &c.url_old_keys, &config.data_dir)?,
            Limits::from_config(c),
            c.process_concurrency as usize,
        )
        .with_av(av::Av::detect(c), config.data_dir.join("media-work"))
        .with_keyring(Arc::new(
            fanz_secrets::Keyring::load(
                &config.secrets.key,
                &config.secrets.old_keys,
                &config.data_dir,
            )
            .map_err(|e| MediaError::Config(e.to_string()))?,
        )))
    }

    /// An item's original as uploaded, metadata and all: for tools and tests, never to be
    /// served.
    pub async fn read_original(&self, item: &MediaItem, cap: u64) -> Result<Bytes> {
        self.objects.read_all(&item.original_key(), cap).await
    }

    /// A delivery URL for the owner's own vault (signed for them, default lifetime).
    pub fn owner_url(&self, item: &MediaItem, rendition: &str) -> String {
        delivery_url(
            &self.keys,
            item.id,
            rendition,
            Some(item.owner_id),
            self.limits.url_ttl,
        )
    }

    /// A small upload, streamed to the store: typed from its first bytes (refused before
    /// anything is stored when unknown), capped at `max_upload_bytes` and the owner's quota,
    /// then recorded in `processing` with its processing job, in one transaction.
    pub async fn upload<S, B, E>(
        &self,
        store: &Store,
        owner_id: i64,
        body: S,
        actor: &Actor,
    ) -> Result<MediaSummary>
    where
        S: Stream<Item = std::result::Result<B, E>> + Send,
        B: Into<Bytes>,
        E: std::fmt::Display,
    {
        let used = {
            let mut db = store.conn().await?;
            usage(&mut db, owner_id).await?
        };
        let quota = self.limits.quota_bytes;
        if used >= quota {
            return Err(MediaError::QuotaExceeded { used, quota });
        }
        let cap = self.limits.max_upload_bytes.min(quota - used);
        let mut body = std::pin::pin!(body);
        // The first bytes decide the type; nothing is stored for a refused file.
        let mut head = BytesMut::new();
        let mut ended = false;
        while head.len() < sniff::SNIFF_BYTES {
            match body.next().await {
                Some(Ok(chunk)) => head.extend_from_slice(&Into::<Bytes>::into(chunk)),
                Some(Err(e)) => return Err(MediaError::Interrupted(e.to_string())),
                None => {
                    ended = true;
                    break;
                }
            }
        }
        if head.is_empty() {
            return Err(MediaError::Empty);
        }
        let sniffed = sniff::sniff(&head).ok_or(MediaError::Unsupported)?;
        self.accepts(sniffed.kind)?;
        let prefix = objects::new_prefix("m");
        let key = original_key(&prefix);
        let mut w = self.objects.writer(&key, cap).await?;
        let mut result = w.write(&head).await;
        if !ended {
            while result.is_ok() {
                match body.next().await {
                    Some(Ok(chunk)) => result = w.write(&Into::<Bytes>::into(chunk)).await,
                    Some(Err(e)) => result = Err(MediaError::Interrupted(e.to_string())),
                    None => break,
                }
            }
        }
        if let Err(e) = result {
            w.abort().await;
            return Err(match e {
                MediaError::TooLarge { .. } if cap < self.limits.max_upload_bytes => {
                    MediaError::QuotaExceeded { used, quota }
                }
                e => e,
            });
        }
        let bytes = w.finish().await?;
        let recorded = record_small(store, owner_id, sniffed, &prefix, bytes, quota, actor).await;
        if recorded.is_err() {
            let _ = self.objects.delete(&key).await;
        }
        recorded
    }
}

/// Record a streamed upload, if it still fits the quota.
async fn record_small(
    store: &Store,
    owner_id: i64,
    sniffed: sniff::Sniffed,
    prefix: &str,
    bytes: u64,
    quota: u64,
    actor: &Actor,
) -> Result<MediaSummary> {
    let mut tx = store.begin().await?;
    lock_owner(&mut tx, owner_id).await?;
    let used = usage(&mut tx, owner_id).await?;
    if used + bytes > quota {
        return Err(MediaError::QuotaExceeded { used, quota });
    }
    let summary =
        record_upload(&mut tx, owner_id, sniffed, prefix, bytes, Vec::new(), actor).await?;
    tx.commit().await?;
    Ok(summary)
}

/// Record a new item, processing until its job marks it ready or failed.
pub async fn create(db: &mut Db, owner_id: i64, kind: MediaKind) -> Result<i64> {
    let now = now_micros();
    let row = sqlx::query(
        "INSERT INTO media (owner_id, kind, state, created_at, updated_at) \
         VALUES ($1, $2, 'processing', $3, $3) RETURNING id",
    )
    .bind(owner_id)
    .bind(kind.as_str())
    .bind(now)
    .fetch_one(&mut *db)
    .await?;
    Ok(row.try_get(0)?)
}

/// Insert an uploaded item and enqueue its processing, in the caller's transaction.
async fn record_upload(
    db: &mut Db,
    owner_id: i64,
    sniffed: sniff::Sniffed,
    prefix: &str,
    bytes: u64,
    parts: Vec<String>,
    actor: &Actor,
) -> Result<MediaSummary> {
    let now = now_micros();
    let id: i64 = sqlx::query(
        "INSERT INTO media (owner_id, kind, state, mime, object_prefix, bytes, created_at, updated_at) \
         VALUES ($1, $2, 'processing', $3, $4, $5, $6, $6) RETURNING id",
    )
    .bind(owner_id)
    .bind(sniffed.kind.as_str())
    .bind(sniffed.mime)
    .bind(prefix)
    .bind(bytes as i64)
    .bind(now)
    .fetch_one(&mut *db)
    .await?
    .try_get(0)?;
    fanz_jobs::enqueue(
        db,
        &jobs::Process {
            media_id: id,
            parts,
        },
    )
    .await?;
    fanz_audit::record(
        db,
        actor,
        "media.uploaded",
        Some(&format!("media:{id}")),
        serde_json::json!({"kind": sniffed.kind.as_str(), "mime": sniffed.mime, "bytes": bytes}),
    )
    .await?;
    Ok(MediaSummary {
        id,
        owner_id,
        kind: sniffed.kind,
        state: MediaState::Processing,
    })
}

/// Move an item to `state` (processing jobs call this).
pub async fn set_state(db: &mut Db, id: i64, state: MediaState) -> Result<()> {
    let done = sqlx::query("UPDATE media SET state = $1, updated_at = $2 WHERE id = $3")
        .bind(state.as_str())
        .bind(now_micros())
        .bind(id)
        .execute(&mut *db)
        .await?;
    if done.rows_affected() == 0 {
        return Err(MediaError::NotFound);
    }
    Ok(())
}

/// The summaries of the items that exist among `ids`, in no particular order.
pub async fn summaries(db: &mut Db, ids: &[i64]) -> Result<Vec<MediaSummary>> {
    let mut out = Vec::with_capacity(ids.len());
    for chunk in ids.chunks(500) {
        let placeholders: Vec<String> = (1..=chunk.len()).map(|i| format!("${i}")).collect();
        let sql = format!(
            "SELECT id, owner_id, kind, state FROM media WHERE id IN ({})",
            placeholders.join(",")
        );
        let mut q = sqlx::query(&sql);
        for id in chunk {
            q = q.bind(*id);
        }
        for row in q.fetch_all(&mut *db).await? {
            let kind: String = row.try_get("kind")?;
            let state: String = row.try_get("state")?;
            out.push(MediaSummary {
                id: row.try_get("id")?,
                owner_id: row.try_get("owner_id")?,
                kind: MediaKind::parse(&kind).unwrap_or(MediaKind::Image),
                state: MediaState::parse(&state).unwrap_or(MediaState::Failed),
            });
        }
    }
    Ok(out)
}

const ITEM_COLUMNS: &str = "id, owner_id, kind, state, mime, object_prefix, bytes, derived_bytes, \
     width, height, blurhash, renditions, error, error_code, duration_ms, pdq, pdq_quality, quarantine_reason, watermark, preserved_until, \
     created_at, updated_at";

fn item_from_row(row: &sqlx::any::AnyRow) -> Result<MediaItem> {
    let kind: String = row.try_get("kind")?;
    let state: String = row.try_get("state")?;
    let renditions: String = row.try_get("renditions")?;
    let dim = |c: &str| -> Result<Option<u32>> {
        Ok(row
            .try_get::<Option<i64>, _>(c)?
            .and_then(|v| u32::try_from(v).ok()))
    };
    Ok(MediaItem {
        id: row.try_get("id")?,
        owner_id: row.try_get("owner_id")?,
        kind: MediaKind::parse(&kind).unwrap_or(MediaKind::Image),
        state: MediaState::parse(&state).unwrap_or(MediaState::Failed),
        mime: row.try_get("mime")?,
        bytes: row.try_get::<i64, _>("bytes")?.max(0) as u64,
        derived_bytes: row.try_get::<i64, _>("derived_bytes")?.max(0) as u64,
        width: dim("width")?,
        height: dim("height")?,
        blurhash: row.try_get("blurhash")?,
        renditions: serde_json::from_str(&renditions).unwrap_or_default(),
        error: row.try_get("error")?,
        error_code: row.try_get("error_code")?,
        duration_ms: row.try_get("duration_ms")?,
        pdq: row.try_get("pdq")?,
        pdq_quality: row
            .try_get::<Option<i64>, _>("pdq_quality")?
            .map(|q| q.clamp(0, 100) as u8),
        quarantine_reason: row.try_get("quarantine_reason")?,
        watermark: row.try_get("watermark")?,
        preserved_until: row.try_get("preserved_until")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
        object_prefix: row.try_get("object_prefix")?,
    })
}

/// Any item by id (delivery and jobs; not for answering a user directly).
pub async fn get(db: &mut Db, id: i64) -> Result<MediaItem> {
    let row = sqlx::query(&format!("SELECT {ITEM_COLUMNS} FROM media WHERE id = $1"))
        .bind(id)
        .fetch_optional(&mut *db)
        .await?
        .ok_or(MediaError::NotFound)?;
    item_from_row(&row)
}

/// Items by id, in no particular order; ids that do not exist are left out. One statement
/// per 500 ids (a page of posts signs all its media at once, not one item at a time).
pub async fn get_many(db: &mut Db, ids: &[i64]) -> Result<Vec<MediaItem>> {
    let mut ids = ids.to_vec();
    ids.sort_unstable();
    ids.dedup();
    let mut out = Vec::with_capacity(ids.len());
    for chunk in ids.chunks(500) {
        let sql = format!(
            "SELECT {ITEM_COLUMNS} FROM media WHERE id IN ({})",
            fanz_store::bulk::params(1, chunk.len())
        );
        let mut q = sqlx::query(&sql);
        for id in chunk {
            q = q.bind(*id);
        }
        for row in q.fetch_all(&mut *db).await? {
            out.push(item_from_row(&row)?);
        }
    }
    Ok(out)
}

/// An item of `owner_id`'s; another account's item is [`MediaError::NotFound`], exactly as a
/// missing one, so ids reveal nothing.
pub async fn get_owned(db: &mut Db, owner_id: i64, id: i64) -> Result<MediaItem> {
    let item = get(db, id).await?;
    if item.owner_id != owner_id {
        return Err(MediaError::NotFound);
    }
    Ok(item)
}

/// One page of an owner's items, newest first, and the cursor of the next page.
pub async fn list(
    db: &mut Db,
    owner_id: i64,
    before: Option<i64>,
    limit: u32,
) -> Result<(Vec<MediaItem>, Option<i64>)> {
    list_where(db, owner_id, None, None, before, limit).await
}

/// [`list`] of the items of one kind and/or in one state (the vault page's filters).
pub async fn list_where(
    db: &mut Db,
    owner_id: i64,
    kind: Option<MediaKind>,
    state: Option<MediaState>,
    before: Option<i64>,
    limit: u32,
) -> Result<(Vec<MediaItem>, Option<i64>)> {
    let limit = limit.clamp(1, 100) as i64;
    let rows = sqlx::query(&format!(
        "SELECT {ITEM_COLUMNS} FROM media WHERE owner_id = $1 AND id < $2 \
         AND ($4 = '' OR kind = $4) AND ($5 = '' OR state = $5) ORDER BY id DESC LIMIT $3"
    ))
    .bind(owner_id)
    .bind(before.unwrap_or(i64::MAX))
    .bind(limit + 1)
    .bind(kind.map(MediaKind::as_str).unwrap_or(""))
    .bind(state.map(MediaState::as_str).unwrap_or(""))
    .fetch_all(&mut *db)
    .await?;
    let mut items = rows.iter().map(item_from_row).collect::<Result<Vec<_>>>()?;
    let next = if items.len() as i64 > limit {
        items.truncate(limit as usize);
        items.last().map(|i| i.id)
    } else {
        None
    };
    Ok((items, next))
}

/// Serialize quota checks of one owner until the transaction ends. SQLite's single writer
/// does so already; on PostgreSQL two uploads could otherwise both see the same usage.
pub(crate) async fn lock_owner(db: &mut Db, owner_id: i64) -> Result<()> {
    if fanz_store::backend_of(db) == fanz_store::Backend::Postgres {
        sqlx::query("SELECT pg_advisory_xact_lock(7305035, CAST($1 AS INTEGER))")
            .bind(owner_id)
            .execute(&mut *db)
            .await?;
    }
    Ok(())
}

/// Bytes an owner uses: originals, renditions, and what unfinished uploads announced.
pub async fn usage(db: &mut Db, owner_id: i64) -> Result<u64> {
    let stored: i64 = sqlx::query(
        "SELECT CAST(COALESCE(SUM(bytes + derived_bytes), 0) AS BIGINT) FROM media WHERE owner_id = $1",
    )
    .bind(owner_id)
    .fetch_one(&mut *db)
    .await?
    .try_get(0)?;
    let pending: i64 = sqlx::query(
        "SELECT CAST(COALESCE(SUM(length), 0) AS BIGINT) FROM media_uploads \
         WHERE owner_id = $1 AND media_id IS NULL",
    )
    .bind(owner_id)
    .fetch_one(&mut *db)
    .await?
    .try_get(0)?;
    Ok((stored.max(0) + pending.max(0)) as u64)
}

/// Delete an owner's item: the row now, its objects by a job enqueued in the same
/// transaction.
pub async fn delete(db: &mut Db, owner_id: i64, id: i64, actor: &Actor) -> Result<()> {
    let item = get_owned(db, owner_id, id).await?;
    if item.is_preserved(now_micros()) {
        return Err(MediaError::Preserved);
    }
    sqlx::query("DELETE FROM media WHERE id = $1")
        .bind(id)
        .execute(&mut *db)
        .await?;
    fanz_jobs::enqueue(
        db,
        &jobs::Purge {
            prefix: item.object_prefix.clone(),
        },
    )
    .await?;
    fanz_audit::record(
        db,
        actor,
        "media.deleted",
        Some(&format!("media:{id}")),
        serde_json::json!({"kind": item.kind.as_str(), "state": item.state.as_str()}),
    )
    .await?;
    Ok(())
}

/// What trust & safety's checks need to know of an item: its state and its hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Screening {
    pub id: i64,
    pub owner_id: i64,
    pub kind: MediaKind,
    pub state: MediaState,
    pub pdq: Option<String>,
    pub quarantine_reason: Option<String>,
}

/// The screening facts of the items that exist among `ids`, in no particular order.
pub async fn screening(db: &mut Db, ids: &[i64]) -> Result<Vec<Screening>> {
    let mut out = Vec::with_capacity(ids.len());
    for chunk in ids.chunks(500) {
        let placeholders: Vec<String> = (1..=chunk.len()).map(|i| format!("${i}")).collect();
        let sql = format!(
            "SELECT id, owner_id, kind, state, pdq, quarantine_reason FROM media WHERE id IN ({})",
            placeholders.join(",")
        );
        let mut q = sqlx::query(&sql);
        for id in chunk {
            q = q.bind(*id);
        }
        for row in q.fetch_all(&mut *db).await? {
            let kind: String = row.try_get("kind")?;
            let state: String = row.try_get("state")?;
            out.push(Screening {
                id: row.try_get("id")?,
                owner_id: row.try_get("owner_id")?,
                kind: MediaKind::parse(&kind).unwrap_or(MediaKind::Image),
                state: MediaState::parse(&state).unwrap_or(MediaState::Failed),
                pdq: row.try_get("pdq")?,
                quarantine_reason: row.try_get("quarantine_reason")?,
            });
        }
    }
    Ok(out)
}

/// Record an image's hash (processing does it; also for tools and tests).
pub async fn set_pdq(db: &mut Db, id: i64, pdq: &Pdq, quality: u8) -> Result<()> {
    let done = sqlx::query("UPDATE media SET pdq = $1, pdq_quality = $2 WHERE id = $3")
        .bind(pdq.to_hex())
        .bind(i64::from(quality))
        .bind(id)
        .execute(&mut *db)
        .await?;
    if done.rows_affected() == 0 {
        return Err(MediaError::NotFound);
    }
    Ok(())
}

/// Items with a hash and not quarantined, by id after `after` (for screening them again
/// against a newly loaded list): `(id, owner_id, pdq)`.
pub async fn hashed_after(db: &mut Db, after: i64, limit: i64) -> Result<Vec<(i64, i64, String)>> {
    sqlx::query(
        "SELECT id, owner_id, pdq FROM media WHERE id > $1 AND pdq IS NOT NULL \
         AND state <> 'quarantined' ORDER BY id LIMIT $2",
    )
    .bind(after)
    .bind(limit)
    .fetch_all(&mut *db)
    .await?
    .iter()
    .map(|r| Ok((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?)))
    .collect()
}

/// Trust & safety: quarantine an item (its hash matched a list): it is no longer delivered,
/// attached or published. Audited. An item already quarantined is left as it is.
pub async fn quarantine(db: &mut Db, id: i64, reason: &str, actor: &Actor) -> Result<bool> {
    let done = sqlx::query(
        "UPDATE media SET state = 'quarantined', quarantine_reason = $1, updated_at = $2 \
         WHERE id = $3 AND state <> 'quarantined'",
    )
    .bind(reason)
    .bind(now_micros())
    .bind(id)
    .execute(&mut *db)
    .await?;
    if done.rows_affected() == 0 {
        return Ok(false);
    }
    fanz_audit::record(
        db,
        actor,
        "media.quarantined",
        Some(&format!("media:{id}")),
        serde_json::json!({"reason": reason}),
    )
    .await?;
    Ok(true)
}

/// Trust & safety: release a quarantined item after a person found the match wrong; it is
/// ready again. Audited.
pub async fn release(db: &mut Db, id: i64, actor: &Actor) -> Result<bool> {
    let done = sqlx::query(
        "UPDATE media SET state = 'ready', quarantine_reason = NULL, updated_at = $1 \
         WHERE id = $2 AND state = 'quarantined'",
    )
    .bind(now_micros())
    .bind(id)
    .execute(&mut *db)
    .await?;
    if done.rows_affected() == 0 {
        return Ok(false);
    }
    fanz_audit::record(
        db,
        actor,
        "media.released",
        Some(&format!("media:{id}")),
        serde_json::json!({}),
    )
    .await?;
    Ok(true)
}

/// Trust & safety: keep an item until `until` (a preservation hold; 18 U.S.C. 2258A(h)).
/// Nothing deletes it before then; a later time extends the hold, an earlier one is ignored
/// unless `shorten` (a released hold). Audited.
pub async fn preserve(
    db: &mut Db,
    id: i64,
    until: Option<i64>,
    shorten: bool,
    actor: &Actor,
) -> Result<()> {
    let item = get(db, id).await?;
    let next = match (item.preserved_until, until) {
        (Some(cur), Some(u)) if !shorten => Some(cur.max(u)),
        (_, u) => u,
    };
    sqlx::query("UPDATE media SET preserved_until = $1, updated_at = $2 WHERE id = $3")
        .bind(next)
        .bind(now_micros())
        .bind(id)
        .execute(&mut *db)
        .await?;
    fanz_audit::record(
        db,
        actor,
        if next.is_some() {
            "media.preserved"
        } else {
            "media.preservation_released"
        },
        Some(&format!("media:{id}")),
        serde_json::json!({"until": next}),
    )
    .await?;
    Ok(())
}

/// Seconds since the epoch, as delivery tokens count time.
pub fn now_secs() -> i64 {
    now_micros() / SECOND
}

/// At an account's erasure, what media keeps of them besides their own items (which the
/// caller deletes or keeps by its rules): the record of the paid media they were served with
/// a forensic mark (`media_marks`, a history of what they viewed) is deleted, with their marked
/// copies (purged from the store by `media.purge` jobs enqueued here), and their media
/// settings. A copy they leaked before can then no longer be traced to them. Audited
/// (`media.viewer_erased`). The number of mark records removed.
pub async fn erase_viewer(db: &mut Db, user_id: i64, actor: &Actor) -> Result<u64> {
    let prefixes: Vec<String> = sqlx::query(
        "SELECT DISTINCT m.object_prefix FROM media_marks k JOIN media m ON m.id = k.media_id \
         WHERE k.viewer_id = $1 AND k.object_key <> ''",
    )
    .bind(user_id)
    .fetch_all(&mut *db)
    .await?
    .iter()
    .map(|r| r.try_get::<String, _>(0))
    .collect::<std::result::Result<_, _>>()?;
    for prefix in prefixes {
        fanz_jobs::enqueue(
            db,
            &jobs::Purge {
                prefix: mark::copies_prefix(&prefix, user_id),
            },
        )
        .await?;
    }
    let removed = sqlx::query("DELETE FROM media_marks WHERE viewer_id = $1")
        .bind(user_id)
        .execute(&mut *db)
        .await?
        .rows_affected();
    sqlx::query("DELETE FROM media_settings WHERE owner_id = $1")
        .bind(user_id)
        .execute(&mut *db)
        .await?;
    fanz_audit::record(
        db,
        actor,
        "media.viewer_erased",
        Some(&format!("user:{user_id}")),
        serde_json::json!({"marks_removed": removed}),
    )
    .await?;
    Ok(removed)
}
