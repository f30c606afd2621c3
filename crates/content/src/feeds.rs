//! Feeds: which posts, in which order, a page at a time. A feed gives post ids and the cursor of
//! the next page; [`crate::views`] turns them into what a viewer may see (dropping what
//! [`crate::may_view`] hides, previewing what is locked).
//!
//! Chronological feeds page by a keyset cursor (`published_at`, `id`), so a page is one index
//! range however deep; trending pages by offset over a score frozen at the first page's time.

use crate::{ContentError, Result};
use base64::Engine as _;
use fanz_core::ValidationError;
use fanz_store::{sqlx, Db};
use sqlx::Row;

pub const MAX_PAGE: i64 = 50;
/// Trending looks at posts of the last week.
const TRENDING_WINDOW_MICROS: i64 = 7 * 24 * 3600 * 1_000_000;
const HOUR_MICROS: i64 = 3600 * 1_000_000;

/// One page of a feed: post ids in order, and the cursor of the next page if there is one.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FeedPage {
    pub ids: Vec<i64>,
    pub next: Option<String>,
}

/// Where a chronological page starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Keyset {
    published_at: i64,
    id: i64,
}

fn encode(s: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s)
}

fn decode(cursor: &str) -> Result<String> {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(cursor)
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .ok_or_else(bad_cursor)
}

fn bad_cursor() -> ContentError {
    ValidationError::new(
        "cursor",
        "invalid_cursor",
        "the cursor is not one this server gave",
    )
    .into()
}

fn keyset(cursor: Option<&str>) -> Result<Keyset> {
    let Some(c) = cursor.filter(|c| !c.is_empty()) else {
        return Ok(Keyset {
            published_at: i64::MAX,
            id: i64::MAX,
        });
    };
    let s = decode(c)?;
    let (a, b) = s.split_once(':').ok_or_else(bad_cursor)?;
    Ok(Keyset {
        published_at: a.parse().map_err(|_| bad_cursor())?,
        id: b.parse().map_err(|_| bad_cursor())?,
    })
}

fn page_from_rows(rows: Vec<sqlx::any::AnyRow>, limit: i64) -> Result<FeedPage> {
    let mut ids = Vec::with_capacity(rows.len());
    let mut last = None;
    for r in rows.iter().take(limit as usize) {
        let id: i64 = r.try_get(0)?;
        let at: i64 = r.try_get(1)?;
        ids.push(id);
        last = Some((at, id));
    }
    let next = if rows.len() as i64 > limit {
        last.map(|(at, id)| encode(&format!("{at}:{id}")))
    } else {
        None
    };
    Ok(FeedPage { ids, next })
}

fn clamp(limit: i64) -> i64 {
    limit.clamp(1, MAX_PAGE)
}

/// The newest posts on a cluster. `videos_only` gives the short-video feed; sensitive posts
/// are left out unless `include_sensitive`.
pub async fn cluster_latest(
    db: &mut Db,
    cluster: &str,
    cursor: Option<&str>,
    limit: i64,
    now: i64,
    include_sensitive: bool,
    videos_only: bool,
) -> Result<FeedPage> {
    let limit = clamp(limit);
    let k = keyset(cursor)?;
    let rows = sqlx::query(
        "SELECT pc.post_id, pc.published_at FROM post_clusters pc \
         JOIN posts p ON p.id = pc.post_id \
         WHERE pc.cluster_slug = $1 AND pc.published_at IS NOT NULL \
         AND (pc.published_at < $2 OR (pc.published_at = $2 AND pc.post_id < $3)) \
         AND p.kind = 'post' AND (p.expires_at IS NULL OR p.expires_at > $4) \
         AND ($5 = 1 OR p.sensitive = 0) AND ($6 = 0 OR p.has_video = 1) \
         ORDER BY pc.published_at DESC, pc.post_id DESC LIMIT $7",
    )
    .bind(cluster)
    .bind(k.published_at)
    .bind(k.id)
    .bind(now)
    .bind(include_sensitive as i64)
    .bind(videos_only as i64)
    .bind(limit + 1)
    .fetch_all(&mut *db)
    .await?;
    page_from_rows(rows, limit)
}

/// A cluster's posts of the last week by engagement with time decay: (likes + 3 × comments
/// + 1) / (age in hours + 2)², the score frozen at the first page's time.
pub async fn cluster_trending(
    db: &mut Db,
    cluster: &str,
    cursor: Option<&str>,
    limit: i64,
    now: i64,
    include_sensitive: bool,
) -> Result<FeedPage> {
    let limit = clamp(limit);
    let (offset, at) = match cursor.filter(|c| !c.is_empty()) {
        None => (0i64, now),
        Some(c) => {
            let s = decode(c)?;
            let rest = s.strip_prefix("t:").ok_or_else(bad_cursor)?;
            let (o, t) = rest.split_once(':').ok_or_else(bad_cursor)?;
            let o: i64 = o.parse().map_err(|_| bad_cursor())?;
            if !(0..=10_000).contains(&o) {
                return Err(bad_cursor());
            }
            (o, t.parse().map_err(|_| bad_cursor())?)
        }
    };
    let rows = sqlx::query(
        "SELECT pc.post_id, \
           (p.likes_count + 3 * p.comments_count + 1) * 1000000 / \
           ((($1 - pc.published_at) / $2 + 2) * (($1 - pc.published_at) / $2 + 2)) AS score \
         FROM post_clusters pc JOIN posts p ON p.id = pc.post_id \
         WHERE pc.cluster_slug = $3 AND pc.published_at IS NOT NULL \
         AND pc.published_at > $4 AND pc.published_at <= $1 \
         AND p.kind = 'post' AND (p.expires_at IS NULL OR p.expires_at > $1) \
         AND ($5 = 1 OR p.sensitive = 0) \
         ORDER BY score DESC, pc.post_id DESC LIMIT $6 OFFSET $7",
    )
    .bind(at)
    .bind(HOUR_MICROS)
    .bind(cluster)
    .bind(at - TRENDING_WINDOW_MICROS)
    .bind(include_sensitive as i64)
    .bind(limit + 1)
    .bind(offset)
    .fetch_all(&mut *db)
    .await?;
    let more = rows.len() as i64 > limit;
    let ids = rows
        .iter()
        .take(limit as usize)
        .map(|r| r.try_get(0))
        .collect::<Result<Vec<i64>, _>>()?;
    let next = more.then(|| encode(&format!("t:{}:{at}", offset + limit)));
    Ok(FeedPage { ids, next })
}

/// The posts of the creators a fan follows or subscribes to, newest first.
///
/// Each creator's newest page is read from its own index range (`posts_author`) and the pages
/// are merged: the cost is a page per creator followed, however many posts those creators
/// have. One range over all of them would read every post of the creators followed before
/// sorting, and fans follow the most prolific creators most.
pub async fn home(
    db: &mut Db,
    authors: &[i64],
    cursor: Option<&str>,
    limit: i64,
    now: i64,
) -> Result<FeedPage> {
    let limit = clamp(limit);
    if authors.is_empty() {
        return Ok(FeedPage::default());
    }
    let k = keyset(cursor)?;
    // Bounded: the newest page of at most 2,000 creators (the most a fan can follow).
    let authors = &authors[..authors.len().min(2000)];
    let per_author = (0..authors.len())
        .map(|i| {
            format!(
                "SELECT * FROM (SELECT id, published_at FROM posts WHERE author_id = ${} \
                 AND state = 'published' AND kind = 'post' AND published_at <= $1 \
                 AND (published_at < $1 OR id < $2) \
                 AND (expires_at IS NULL OR expires_at > $3) \
                 ORDER BY published_at DESC, id DESC LIMIT $4) AS a{i}",
                i + 5
            )
        })
        .collect::<Vec<_>>();
    // SQLite takes at most 500 terms in one compound SELECT: union them in groups.
    let groups = per_author
        .chunks(250)
        .enumerate()
        .map(|(g, terms)| format!("SELECT * FROM ({}) AS g{g}", terms.join(" UNION ALL ")))
        .collect::<Vec<_>>()
        .join(" UNION ALL ");
    let sql = format!(
        "SELECT id, published_at FROM ({groups}) AS page \
         ORDER BY published_at DESC, id DESC LIMIT $4"
    );
    let mut q = sqlx::query(&sql)
        .bind(k.published_at)
        .bind(k.id)
        .bind(now)
        .bind(limit + 1);
    for a in authors {
        q = q.bind(*a);
    }
    let rows = q.fetch_all(&mut *db).await?;
    page_from_rows(rows, limit)
}

/// A creator's published posts, newest first (pinned ones are listed by [`pinned`]).
pub async fn creator(
    db: &mut Db,
    author_id: i64,
    cursor: Option<&str>,
    limit: i64,
    now: i64,
) -> Result<FeedPage> {
    let limit = clamp(limit);
    let k = keyset(cursor)?;
    let rows = sqlx::query(
        "SELECT id, published_at FROM posts WHERE author_id = $1 \
         AND state = 'published' AND kind = 'post' \
         AND (published_at < $2 OR (published_at = $2 AND id < $3)) \
         AND (expires_at IS NULL OR expires_at > $4) \
         ORDER BY published_at DESC, id DESC LIMIT $5",
    )
    .bind(author_id)
    .bind(k.published_at)
    .bind(k.id)
    .bind(now)
    .bind(limit + 1)
    .fetch_all(&mut *db)
    .await?;
    page_from_rows(rows, limit)
}

/// A creator's pinned posts, newest first (at most 5).
pub async fn pinned(db: &mut Db, author_id: i64, now: i64) -> Result<Vec<i64>> {
    sqlx::query(
        "SELECT id FROM posts WHERE author_id = $1 AND pinned = 1 AND state = 'published' \
         AND kind = 'post' AND (expires_at IS NULL OR expires_at > $2) \
         ORDER BY published_at DESC LIMIT 5",
    )
    .bind(author_id)
    .bind(now)
    .fetch_all(&mut *db)
    .await?
    .iter()
    .map(|r| r.try_get(0).map_err(ContentError::from))
    .collect()
}

/// Posts with a tag, newest first, optionally on one cluster.
pub async fn tag(
    db: &mut Db,
    tag: &str,
    cluster: Option<&str>,
    cursor: Option<&str>,
    limit: i64,
    now: i64,
    include_sensitive: bool,
) -> Result<FeedPage> {
    let limit = clamp(limit);
    let k = keyset(cursor)?;
    let rows = sqlx::query(
        "SELECT pt.post_id, pt.published_at FROM post_tags pt JOIN posts p ON p.id = pt.post_id \
         WHERE pt.tag = $1 AND pt.published_at IS NOT NULL \
         AND (pt.published_at < $2 OR (pt.published_at = $2 AND pt.post_id < $3)) \
         AND p.kind = 'post' AND (p.expires_at IS NULL OR p.expires_at > $4) \
         AND ($5 = 1 OR p.sensitive = 0) \
         AND ($6 = '' OR EXISTS (SELECT 1 FROM post_clusters pc WHERE pc.post_id = pt.post_id \
              AND pc.cluster_slug = $6)) \
         ORDER BY pt.published_at DESC, pt.post_id DESC LIMIT $7",
    )
    .bind(tag)
    .bind(k.published_at)
    .bind(k.id)
    .bind(now)
    .bind(include_sensitive as i64)
    .bind(cluster.unwrap_or(""))
    .bind(limit + 1)
    .fetch_all(&mut *db)
    .await?;
    page_from_rows(rows, limit)
}

/// Live stories of the given creators, oldest first within each creator (the viewer's order).
pub async fn stories(db: &mut Db, authors: &[i64], now: i64) -> Result<Vec<i64>> {
    if authors.is_empty() {
        return Ok(vec![]);
    }
    let authors = &authors[..authors.len().min(2000)];
    let ph = crate::placeholders(2, authors.len());
    let sql = format!(
        "SELECT id FROM posts WHERE author_id IN ({ph}) AND kind = 'story' \
         AND state = 'published' AND expires_at > $1 ORDER BY author_id, published_at, id \
         LIMIT 500"
    );
    let mut q = sqlx::query(&sql).bind(now);
    for a in authors {
        q = q.bind(*a);
    }
    q.fetch_all(&mut *db)
        .await?
        .iter()
        .map(|r| r.try_get(0).map_err(ContentError::from))
        .collect()
}

/// The creators whose posts make a fan's home feed: followed, and subscribed to now.
pub async fn home_authors(db: &mut Db, viewer_id: i64, now: i64) -> Result<Vec<i64>> {
    let mut ids = fanz_profiles::followees(db, viewer_id)
        .await
        .map_err(|e| ContentError::Database(sqlx::Error::Protocol(e.to_string())))?;
    let rows = sqlx::query(
        "SELECT subject_id FROM grants WHERE viewer_id = $1 AND kind = 'subscription' \
         AND revoked_at IS NULL AND (ends_at IS NULL OR ends_at > $2)",
    )
    .bind(viewer_id)
    .bind(now)
    .fetch_all(&mut *db)
    .await?;
    for r in rows {
        ids.push(r.try_get(0)?);
    }
    ids.sort_unstable();
    ids.dedup();
    Ok(ids)
}
