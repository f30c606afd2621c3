//! What fans do with posts: likes, threaded comments, bookmarks; and creators' blocks.
//! Every one of them first asks [`crate::entitlements::open_full`]: only those who may see a
//! post in full may act on it.

use crate::entitlements::{open, open_full, Viewer};
use crate::{check_text, ContentError, Result};
use fanz_audit::{record, Actor};
use fanz_core::clock::now_micros;
use fanz_core::ValidationError;
use fanz_store::{sqlx, Db};
use serde::{Deserialize, Serialize};
use serde_json::json;
use sqlx::Row;

pub const MAX_COMMENT: usize = 2000;
/// Comments one account may post per minute, and per day.
pub const COMMENTS_PER_MINUTE: i64 = 6;
pub const COMMENTS_PER_DAY: i64 = 300;

/// Like a post (idempotent); returns the post's like count.
pub async fn like(db: &mut Db, viewer: Viewer, actor: &Actor, post_id: i64) -> Result<i64> {
    let uid = viewer.user_id.ok_or(ContentError::Forbidden)?;
    open_full(db, viewer, actor, post_id).await?;
    let added = sqlx::query(
        "INSERT INTO likes (post_id, user_id, created_at) VALUES ($1, $2, $3) \
         ON CONFLICT (post_id, user_id) DO NOTHING",
    )
    .bind(post_id)
    .bind(uid)
    .bind(now_micros())
    .execute(&mut *db)
    .await?
    .rows_affected();
    if added > 0 {
        sqlx::query("UPDATE posts SET likes_count = likes_count + 1 WHERE id = $1")
            .bind(post_id)
            .execute(&mut *db)
            .await?;
    }
    like_count(db, post_id).await
}

/// Take a like back (idempotent); returns the post's like count.
pub async fn unlike(db: &mut Db, viewer: Viewer, actor: &Actor, post_id: i64) -> Result<i64> {
    let uid = viewer.user_id.ok_or(ContentError::Forbidden)?;
    open(db, viewer, actor, post_id).await?;
    let removed = sqlx::query("DELETE FROM likes WHERE post_id = $1 AND user_id = $2")
        .bind(post_id)
        .bind(uid)
        .execute(&mut *db)
        .await?
        .rows_affected();
    if removed > 0 {
        sqlx::query("UPDATE posts SET likes_count = likes_count - 1 WHERE id = $1")
            .bind(post_id)
            .execute(&mut *db)
            .await?;
    }
    like_count(db, post_id).await
}

async fn like_count(db: &mut Db, post_id: i64) -> Result<i64> {
    Ok(sqlx::query("SELECT likes_count FROM posts WHERE id = $1")
        .bind(post_id)
        .fetch_one(&mut *db)
        .await?
        .try_get(0)?)
}

/// Which of `post_ids` the account liked, and bookmarked.
pub async fn marks(db: &mut Db, user_id: i64, post_ids: &[i64]) -> Result<(Vec<i64>, Vec<i64>)> {
    let mut liked = Vec::new();
    let mut saved = Vec::new();
    for chunk in post_ids.chunks(400) {
        let ph = crate::placeholders(2, chunk.len());
        // Likes and bookmarks in one statement, each row saying which it is.
        let sql = format!(
            "SELECT 'l' AS what, post_id FROM likes WHERE user_id = $1 AND post_id IN ({ph}) \
             UNION ALL \
             SELECT 'b', post_id FROM bookmarks WHERE user_id = $1 AND post_id IN ({ph})"
        );
        let mut q = sqlx::query(&sql).bind(user_id);
        for id in chunk {
            q = q.bind(*id);
        }
        for r in q.fetch_all(&mut *db).await? {
            let what: String = r.try_get(0)?;
            if what == "l" {
                liked.push(r.try_get(1)?);
            } else {
                saved.push(r.try_get(1)?);
            }
        }
    }
    Ok((liked, saved))
}

/// Save a post for later (idempotent) or take it off the list.
pub async fn bookmark(
    db: &mut Db,
    viewer: Viewer,
    actor: &Actor,
    post_id: i64,
    on: bool,
) -> Result<()> {
    let uid = viewer.user_id.ok_or(ContentError::Forbidden)?;
    open(db, viewer, actor, post_id).await?;
    if on {
        sqlx::query(
            "INSERT INTO bookmarks (user_id, post_id, created_at) VALUES ($1, $2, $3) \
             ON CONFLICT (user_id, post_id) DO NOTHING",
        )
        .bind(uid)
        .bind(post_id)
        .bind(now_micros())
        .execute(&mut *db)
        .await?;
    } else {
        sqlx::query("DELETE FROM bookmarks WHERE user_id = $1 AND post_id = $2")
            .bind(uid)
            .bind(post_id)
            .execute(&mut *db)
            .await?;
    }
    Ok(())
}

/// The post ids an account saved, newest first.
pub async fn bookmarked(db: &mut Db, user_id: i64, limit: i64) -> Result<Vec<i64>> {
    sqlx::query(
        "SELECT post_id FROM bookmarks WHERE user_id = $1 ORDER BY created_at DESC LIMIT $2",
    )
    .bind(user_id)
    .bind(limit)
    .fetch_all(&mut *db)
    .await?
    .iter()
    .map(|r| r.try_get(0).map_err(ContentError::from))
    .collect()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum CommentState {
    Visible,
    Hidden,
    Deleted,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Comment {
    pub id: i64,
    pub post_id: i64,
    #[serde(skip)]
    pub author_id: i64,
    pub author_handle: String,
    pub parent_id: Option<i64>,
    pub text: String,
    pub state: CommentState,
    pub created_at: i64,
}

#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewComment {
    #[schema(min_length = 1, max_length = 2000)]
    pub text: String,
    /// Reply to this comment (on the same post).
    #[serde(default)]
    pub parent_id: Option<i64>,
}

/// Comment on a post one may see in full; rate limited per account.
pub async fn comment(
    db: &mut Db,
    viewer: Viewer,
    actor: &Actor,
    post_id: i64,
    c: NewComment,
) -> Result<Comment> {
    let uid = viewer.user_id.ok_or(ContentError::Forbidden)?;
    open_full(db, viewer, actor, post_id).await?;
    if c.text.trim().is_empty() {
        return Err(ValidationError::new("text", "required", "write something").into());
    }
    check_text("text", &c.text, MAX_COMMENT)?;
    if let Some(parent) = c.parent_id {
        let ok = sqlx::query(
            "SELECT 1 FROM comments WHERE id = $1 AND post_id = $2 AND state = 'visible'",
        )
        .bind(parent)
        .bind(post_id)
        .fetch_optional(&mut *db)
        .await?
        .is_some();
        if !ok {
            return Err(ValidationError::new(
                "parent_id",
                "unknown_comment",
                "reply to a comment on this post",
            )
            .into());
        }
    }
    let now = now_micros();
    for (window, limit) in [
        (60_000_000, COMMENTS_PER_MINUTE),
        (86_400_000_000, COMMENTS_PER_DAY),
    ] {
        let n: i64 =
            sqlx::query("SELECT COUNT(*) FROM comments WHERE author_id = $1 AND created_at > $2")
                .bind(uid)
                .bind(now - window)
                .fetch_one(&mut *db)
                .await?
                .try_get(0)?;
        if n >= limit {
            return Err(ContentError::RateLimited {
                what: "comments",
                retry_after_secs: (window / 1_000_000) as u64,
            });
        }
    }
    let row = sqlx::query(
        "INSERT INTO comments (post_id, author_id, parent_id, text, state, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, 'visible', $5, $5) RETURNING id",
    )
    .bind(post_id)
    .bind(uid)
    .bind(c.parent_id)
    .bind(&c.text)
    .bind(now)
    .fetch_one(&mut *db)
    .await?;
    let id: i64 = row.try_get(0)?;
    sqlx::query("UPDATE posts SET comments_count = comments_count + 1 WHERE id = $1")
        .bind(post_id)
        .execute(&mut *db)
        .await?;
    record(
        db,
        actor,
        "content.comment_created",
        Some(&format!("comment:{id}")),
        json!({"post_id": post_id}),
    )
    .await?;
    get_comment(db, id).await
}

async fn get_comment(db: &mut Db, id: i64) -> Result<Comment> {
    let row = sqlx::query(&format!("{COMMENT_SELECT} WHERE c.id = $1"))
        .bind(id)
        .fetch_optional(&mut *db)
        .await?
        .ok_or(ContentError::NotFound)?;
    comment_from_row(&row)
}

const COMMENT_SELECT: &str = "SELECT c.id, c.post_id, c.author_id, p.handle, c.parent_id, \
    c.text, c.state, c.created_at FROM comments c JOIN profiles p ON p.user_id = c.author_id";

fn comment_from_row(r: &sqlx::any::AnyRow) -> Result<Comment> {
    let state: String = r.try_get(6)?;
    Ok(Comment {
        id: r.try_get(0)?,
        post_id: r.try_get(1)?,
        author_id: r.try_get(2)?,
        author_handle: r.try_get(3)?,
        parent_id: r.try_get(4)?,
        text: r.try_get(5)?,
        state: match state.as_str() {
            "hidden" => CommentState::Hidden,
            "deleted" => CommentState::Deleted,
            _ => CommentState::Visible,
        },
        created_at: r.try_get(7)?,
    })
}

/// The comments on a post one may see in full, oldest first: visible ones, and hidden ones
/// only to the post's author. Replies carry their parent's id.
pub async fn comments(
    db: &mut Db,
    viewer: Viewer,
    actor: &Actor,
    post_id: i64,
    after: i64,
    limit: i64,
) -> Result<Vec<Comment>> {
    let post = open_full(db, viewer, actor, post_id).await?;
    let is_author = viewer.user_id == Some(post.author_id);
    let rows = sqlx::query(&format!(
        "{COMMENT_SELECT} WHERE c.post_id = $1 AND c.id > $2 \
         AND (c.state = 'visible' OR (c.state = 'hidden' AND $3 = 1)) \
         AND c.author_id NOT IN (SELECT blocked_id FROM blocks WHERE creator_id = $4) \
         ORDER BY c.id LIMIT $5"
    ))
    .bind(post_id)
    .bind(after)
    .bind(is_author as i64)
    .bind(post.author_id)
    .bind(limit)
    .fetch_all(&mut *db)
    .await?;
    rows.iter().map(comment_from_row).collect()
}

/// What may be done to a comment: the post's author hides, un-hides or deletes it; the
/// comment's author deletes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Moderation {
    Hide,
    Show,
    Delete,
}

pub async fn moderate_comment(
    db: &mut Db,
    viewer: Viewer,
    actor: &Actor,
    comment_id: i64,
    action: Moderation,
) -> Result<Comment> {
    let uid = viewer.user_id.ok_or(ContentError::Forbidden)?;
    let c = get_comment(db, comment_id).await?;
    let post = crate::posts::get(db, c.post_id).await?;
    let post_author = post.author_id == uid;
    let allowed = match action {
        Moderation::Hide | Moderation::Show => post_author,
        Moderation::Delete => post_author || c.author_id == uid,
    };
    if c.state == CommentState::Deleted {
        return Err(ContentError::NotFound);
    }
    if !allowed {
        // Someone who can see the comment but may not act on it is refused; anyone else is
        // told it does not exist.
        let sees = c.state == CommentState::Visible
            && open_full(db, viewer, actor, c.post_id).await.is_ok();
        return Err(if sees {
            ContentError::Forbidden
        } else {
            ContentError::NotFound
        });
    }
    let state = match action {
        Moderation::Hide => "hidden",
        Moderation::Show => "visible",
        Moderation::Delete => "deleted",
    };
    let was_counted = c.state == CommentState::Visible;
    let counted = state == "visible";
    sqlx::query("UPDATE comments SET state = $1, updated_at = $2 WHERE id = $3")
        .bind(state)
        .bind(now_micros())
        .bind(comment_id)
        .execute(&mut *db)
        .await?;
    if was_counted != counted {
        sqlx::query("UPDATE posts SET comments_count = comments_count + $1 WHERE id = $2")
            .bind(if counted { 1i64 } else { -1i64 })
            .bind(c.post_id)
            .execute(&mut *db)
            .await?;
    }
    record(
        db,
        actor,
        &format!("content.comment_{state}"),
        Some(&format!("comment:{comment_id}")),
        json!({"post_id": c.post_id}),
    )
    .await?;
    get_comment(db, comment_id).await
}

/// A creator blocks (or unblocks) an account: the blocked account sees nothing of them.
pub async fn set_block(
    db: &mut Db,
    creator_id: i64,
    blocked_id: i64,
    on: bool,
    actor: &Actor,
) -> Result<()> {
    if creator_id == blocked_id {
        return Err(
            ValidationError::new("handle", "self_block", "you cannot block yourself").into(),
        );
    }
    if on {
        sqlx::query(
            "INSERT INTO blocks (creator_id, blocked_id, created_at) VALUES ($1, $2, $3) \
             ON CONFLICT (creator_id, blocked_id) DO NOTHING",
        )
        .bind(creator_id)
        .bind(blocked_id)
        .bind(now_micros())
        .execute(&mut *db)
        .await?;
    } else {
        sqlx::query("DELETE FROM blocks WHERE creator_id = $1 AND blocked_id = $2")
            .bind(creator_id)
            .bind(blocked_id)
            .execute(&mut *db)
            .await?;
    }
    record(
        db,
        actor,
        if on {
            "content.blocked"
        } else {
            "content.unblocked"
        },
        Some(&format!("user:{blocked_id}")),
        json!({"creator_id": creator_id}),
    )
    .await?;
    Ok(())
}

/// The handles a creator blocked.
pub async fn blocked(db: &mut Db, creator_id: i64) -> Result<Vec<String>> {
    sqlx::query(
        "SELECT p.handle FROM blocks b JOIN profiles p ON p.user_id = b.blocked_id \
         WHERE b.creator_id = $1 ORDER BY p.handle",
    )
    .bind(creator_id)
    .fetch_all(&mut *db)
    .await?
    .iter()
    .map(|r| r.try_get(0).map_err(ContentError::from))
    .collect()
}

/// Whether `creator` blocked `viewer`.
pub async fn is_blocked(db: &mut Db, creator_id: i64, viewer_id: i64) -> Result<bool> {
    Ok(
        sqlx::query("SELECT 1 FROM blocks WHERE creator_id = $1 AND blocked_id = $2")
            .bind(creator_id)
            .bind(viewer_id)
            .fetch_optional(&mut *db)
            .await?
            .is_some(),
    )
}
