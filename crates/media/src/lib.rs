//! MediaCore: the photos, videos and audio creators upload, from upload through processing to
//! delivery.
//!
//! Owns `media`. Content attaches media to posts by id and asks this crate whether each item
//! has finished processing ([`summaries`]); who may *see* an item is content's entitlement
//! decision, never this crate's.

use fanz_core::clock::now_micros;
use fanz_store::{sqlx, Db};
use serde::{Deserialize, Serialize};
use sqlx::Row;

#[derive(Debug, thiserror::Error)]
pub enum MediaError {
    #[error("no such media")]
    NotFound,
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
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
}

impl MediaState {
    pub fn as_str(self) -> &'static str {
        match self {
            MediaState::Processing => "processing",
            MediaState::Ready => "ready",
            MediaState::Failed => "failed",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "processing" => Some(MediaState::Processing),
            "ready" => Some(MediaState::Ready),
            "failed" => Some(MediaState::Failed),
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
