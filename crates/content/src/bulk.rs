//! Content loaded in bulk: generated data for benchmarks (`fanz demo --scale`), many rows per
//! statement, written as already published.
//!
//! This skips what makes real content safe to show — the publish gate, the audit entry per
//! change, the events search and other modules follow — so it is only for benchmark stores:
//! the caller records one audit entry for the whole load, builds the search index with
//! `fanz search reindex`, and generates only posts the standard gate's own checks would pass
//! (text only, categories and lengths every named cluster allows). Counters are written to
//! match the rows (a post's `likes_count` is its number of likes).

use crate::posts::{auto_teaser, Visibility};
use crate::{ContentError, Money, Result};
use fanz_store::bulk::{Rows, Value};
use fanz_store::{Db, StoreError};

/// One generated tier.
#[derive(Debug, Clone)]
pub struct BulkTier {
    /// Chosen by the caller (`fanz_store::bulk::next_id` on `tiers`).
    pub id: i64,
    pub creator_id: i64,
    pub name: String,
    /// 0 for a free tier.
    pub price: Money,
    pub period_days: i64,
    pub benefits: String,
}

/// One generated, published post.
#[derive(Debug, Clone)]
pub struct BulkPost {
    /// Chosen by the caller (`fanz_store::bulk::next_id` on `posts`).
    pub id: i64,
    pub author_id: i64,
    pub visibility: Visibility,
    pub text: String,
    /// Normalised tags (lower case, no `#`), distinct.
    pub tags: Vec<String>,
    pub clusters: Vec<String>,
    /// For subscribers posts: the tiers that see it (empty: any paid tier).
    pub tiers: Vec<i64>,
    /// For pay-per-view posts.
    pub price: Option<Money>,
    pub sensitive: bool,
    pub published_at: i64,
    /// The accounts that like it, distinct.
    pub likers: Vec<i64>,
}

/// A live subscription `viewer → creator` at a tier until `ends_at`.
#[derive(Debug, Clone, Copy)]
pub struct BulkSubscription {
    pub viewer_id: i64,
    pub creator_id: i64,
    pub tier_id: i64,
    pub ends_at: i64,
}

fn store(e: StoreError) -> ContentError {
    e.into()
}

pub async fn insert_tiers(db: &mut Db, tiers: &[BulkTier], now: i64) -> Result<()> {
    let mut rows = Rows::new(
        "tiers",
        &[
            "id",
            "creator_id",
            "name",
            "price_amount",
            "currency",
            "period_days",
            "benefits",
            "created_at",
            "updated_at",
        ],
    );
    for t in tiers {
        rows.push([
            Value::Int(t.id),
            Value::Int(t.creator_id),
            Value::from(t.name.as_str()),
            Value::Int(t.price.amount),
            Value::from(t.price.currency.as_str()),
            Value::Int(t.period_days),
            Value::from(t.benefits.as_str()),
            Value::Int(now),
            Value::Int(now),
        ]);
    }
    rows.flush(db).await.map_err(store)?;
    Ok(())
}

/// Write published posts with their clusters, tags and likes.
pub async fn insert_posts(db: &mut Db, posts: &[BulkPost]) -> Result<()> {
    let mut rows = Rows::new(
        "posts",
        &[
            "id",
            "author_id",
            "kind",
            "state",
            "visibility",
            "text",
            "teaser",
            "category",
            "sensitive",
            "tiers",
            "price_amount",
            "currency",
            "published_at",
            "likes_count",
            "created_at",
            "updated_at",
        ],
    );
    let mut clusters = Rows::new(
        "post_clusters",
        &["post_id", "cluster_slug", "published_at"],
    );
    let mut tags = Rows::new("post_tags", &["post_id", "tag", "published_at"]);
    let mut likes = Rows::new("likes", &["post_id", "user_id", "created_at"]);
    for p in posts {
        let tiers = serde_json::to_string(&p.tiers).unwrap_or_else(|_| "[]".into());
        rows.push([
            Value::Int(p.id),
            Value::Int(p.author_id),
            Value::from("post"),
            Value::from("published"),
            Value::from(p.visibility.as_str()),
            Value::from(p.text.as_str()),
            Value::Text(auto_teaser(&p.text)),
            Value::from("general"),
            Value::Int(i64::from(p.sensitive)),
            Value::Text(tiers),
            Value::OptInt(p.price.as_ref().map(|m| m.amount)),
            Value::OptText(p.price.as_ref().map(|m| m.currency.clone())),
            Value::Int(p.published_at),
            Value::Int(p.likers.len() as i64),
            Value::Int(p.published_at),
            Value::Int(p.published_at),
        ]);
        for slug in &p.clusters {
            clusters.push([p.id.into(), slug.as_str().into(), p.published_at.into()]);
        }
        for tag in &p.tags {
            tags.push([p.id.into(), tag.as_str().into(), p.published_at.into()]);
        }
        for (i, fan) in p.likers.iter().enumerate() {
            likes.push([
                p.id.into(),
                (*fan).into(),
                (p.published_at + i as i64 * 1_000_000).into(),
            ]);
        }
    }
    rows.flush(db).await.map_err(store)?;
    clusters.flush(db).await.map_err(store)?;
    tags.flush(db).await.map_err(store)?;
    likes.flush(db).await.map_err(store)?;
    Ok(())
}

/// Write live subscriptions (grants of kind `subscription`), granted at `now` by `source`.
pub async fn insert_subscriptions(
    db: &mut Db,
    subs: &[BulkSubscription],
    source: &str,
    now: i64,
) -> Result<()> {
    let mut rows = Rows::new(
        "grants",
        &[
            "viewer_id",
            "kind",
            "subject_id",
            "tier_id",
            "starts_at",
            "ends_at",
            "source",
            "created_at",
            "updated_at",
        ],
    );
    for s in subs {
        rows.push([
            Value::Int(s.viewer_id),
            Value::from("subscription"),
            Value::Int(s.creator_id),
            Value::Int(s.tier_id),
            Value::Int(now),
            Value::Int(s.ends_at),
            Value::from(source),
            Value::Int(now),
            Value::Int(now),
        ]);
    }
    rows.flush(db).await.map_err(store)?;
    Ok(())
}
