//! A person's content for their privacy export, and its removal at erasure. What is theirs:
//! their posts (with every revision, clusters, tags and media ids), their comments, likes,
//! bookmarks and blocks, their tiers, and the grants they hold. Other people's comments on
//! their posts are listed by id only: the text is the commenter's.

use crate::{posts, Result};
use fanz_audit::{record, Actor};
use fanz_core::clock::now_micros;
use fanz_store::{query_json, sqlx, Db};
use serde_json::{json, Value};
use sqlx::Row;

/// What replaces the text of an erased account's comments (the thread keeps its shape).
pub const ERASED_COMMENT: &str = "[removed at its author's request]";

pub async fn export(db: &mut Db, user_id: i64) -> Result<Value> {
    let mut posts = query_json(
        db,
        "SELECT id, kind, state, visibility, text, teaser, category, sensitive, tiers, \
         price_amount, currency, pinned, publish_at, published_at, expires_at, deleted_at, \
         likes_count, comments_count, revision, created_at, updated_at \
         FROM posts WHERE author_id = $1 ORDER BY id",
        user_id,
    )
    .await?;
    for p in posts.iter_mut() {
        let id = p["id"].as_i64().unwrap_or_default();
        let clusters = query_json(
            db,
            "SELECT cluster_slug FROM post_clusters WHERE post_id = $1 ORDER BY cluster_slug",
            id,
        )
        .await?;
        let tags = query_json(
            db,
            "SELECT tag FROM post_tags WHERE post_id = $1 ORDER BY tag",
            id,
        )
        .await?;
        let media = query_json(
            db,
            "SELECT position, media_id FROM post_media WHERE post_id = $1 ORDER BY position",
            id,
        )
        .await?;
        let revisions = query_json(
            db,
            "SELECT revision, text, teaser, visibility, details, edited_at FROM post_revisions \
             WHERE post_id = $1 ORDER BY revision",
            id,
        )
        .await?;
        let others = query_json(
            db,
            "SELECT id FROM comments WHERE post_id = $1 AND author_id <> (SELECT author_id FROM posts WHERE id = $1) ORDER BY id",
            id,
        )
        .await?;
        let o = p.as_object_mut().expect("a row is an object");
        o.insert(
            "clusters".into(),
            clusters.iter().map(|c| c["cluster_slug"].clone()).collect(),
        );
        o.insert(
            "tags".into(),
            tags.iter().map(|c| c["tag"].clone()).collect(),
        );
        o.insert("media".into(), Value::Array(media));
        o.insert("revisions".into(), Value::Array(revisions));
        o.insert(
            "comments_by_others".into(),
            others.iter().map(|c| c["id"].clone()).collect(),
        );
    }
    let comments = query_json(
        db,
        "SELECT id, post_id, parent_id, text, state, created_at, updated_at FROM comments \
         WHERE author_id = $1 ORDER BY id",
        user_id,
    )
    .await?;
    let likes = query_json(
        db,
        "SELECT post_id, created_at FROM likes WHERE user_id = $1 ORDER BY created_at",
        user_id,
    )
    .await?;
    let bookmarks = query_json(
        db,
        "SELECT post_id, created_at FROM bookmarks WHERE user_id = $1 ORDER BY created_at",
        user_id,
    )
    .await?;
    let blocks = query_json(
        db,
        "SELECT blocked_id AS account_id, created_at FROM blocks WHERE creator_id = $1 ORDER BY created_at",
        user_id,
    )
    .await?;
    let tiers = query_json(
        db,
        "SELECT id, name, price_amount, currency, period_days, benefits, archived, created_at, \
         updated_at FROM tiers WHERE creator_id = $1 ORDER BY id",
        user_id,
    )
    .await?;
    let grants = query_json(
        db,
        "SELECT id, kind, subject_id, tier_id, starts_at, ends_at, revoked_at, source, created_at \
         FROM grants WHERE viewer_id = $1 ORDER BY id",
        user_id,
    )
    .await?;
    Ok(json!({
        "posts": posts,
        "comments": comments,
        "likes": likes,
        "bookmarks": bookmarks,
        "blocks": blocks,
        "tiers": tiers,
        "grants": grants,
    }))
}

/// What [`erase`] did.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Erased {
    pub posts: usize,
    pub comments: u64,
    pub likes: usize,
    pub bookmarks: u64,
}

/// Remove an account's content: every post soft-deleted through [`posts::delete`] (gone from
/// every view and feed at once, purged after the retention period), comments' text replaced
/// by [`ERASED_COMMENT`], likes (with the posts' counts), bookmarks and the account's blocks
/// removed, tiers archived. Grants stay: payments' records of what was bought refer to them.
pub async fn erase(db: &mut Db, user_id: i64, actor: &Actor) -> Result<Erased> {
    let mut out = Erased::default();
    let ids: Vec<i64> =
        sqlx::query("SELECT id FROM posts WHERE author_id = $1 AND state <> 'deleted' ORDER BY id")
            .bind(user_id)
            .fetch_all(&mut *db)
            .await?
            .iter()
            .map(|r| r.get(0))
            .collect();
    for id in &ids {
        posts::delete(db, user_id, *id, actor).await?;
    }
    out.posts = ids.len();
    let now = now_micros();
    out.comments =
        sqlx::query("UPDATE comments SET text = $1, updated_at = $2 WHERE author_id = $3")
            .bind(ERASED_COMMENT)
            .bind(now)
            .bind(user_id)
            .execute(&mut *db)
            .await?
            .rows_affected();
    let liked: Vec<i64> = sqlx::query("DELETE FROM likes WHERE user_id = $1 RETURNING post_id")
        .bind(user_id)
        .fetch_all(&mut *db)
        .await?
        .iter()
        .map(|r| r.get(0))
        .collect();
    for p in &liked {
        sqlx::query("UPDATE posts SET likes_count = likes_count - 1 WHERE id = $1")
            .bind(p)
            .execute(&mut *db)
            .await?;
    }
    out.likes = liked.len();
    out.bookmarks = sqlx::query("DELETE FROM bookmarks WHERE user_id = $1")
        .bind(user_id)
        .execute(&mut *db)
        .await?
        .rows_affected();
    sqlx::query("DELETE FROM blocks WHERE creator_id = $1")
        .bind(user_id)
        .execute(&mut *db)
        .await?;
    sqlx::query("UPDATE tiers SET archived = 1, updated_at = $1 WHERE creator_id = $2")
        .bind(now)
        .bind(user_id)
        .execute(&mut *db)
        .await?;
    record(
        db,
        actor,
        "content.erased",
        Some(&format!("user:{user_id}")),
        json!(out),
    )
    .await?;
    Ok(out)
}
