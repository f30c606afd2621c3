//! Review before publication: clusters whose policy says so (`review = "all"`, or
//! `"new_creators"` for a creator's first `review_first_posts` posts) hold a post for a
//! person's approval. Publishing such a post submits it to the review queue ([`submit`]); it
//! stays unpublished, the creator sees "waiting for review", and a reviewer approves it (it
//! then goes through the gate and is published, or at its scheduled time) or rejects it with
//! a statement of reasons, mailed to the creator and shown on the post.
//!
//! An approval covers what the reviewer saw: the post's text, teaser, tags, media, clusters,
//! visibility and price ([`fingerprint`]). A change to any of them needs a new review.
//!
//! The queue is ordered by priority, then age: the clusters' `review_priority`, +2 for a paid
//! post (subscribers or pay-per-view), +1 for a creator still under `new_creators`.

use crate::reports::rfc3339;
use crate::{invalid, Result, SafetyError};
use fanz_audit::{record, Actor};
use fanz_clusters::ReviewPolicy;
use fanz_content::{Content, GateCheck, Post, Refusal, Visibility};
use fanz_core::check_text;
use fanz_identity::mail::{enqueue, Mail};
use fanz_store::{sqlx, Db};
use serde::Serialize;
use serde_json::json;
use sha2::{Digest, Sha256};
use sqlx::Row;

pub const STATUSES: [&str; 3] = ["pending", "approved", "rejected"];
pub const OUTCOMES: [&str; 2] = ["approve", "reject"];
pub const MAX_REASON: usize = 5000;
/// What the post says to its creator while it waits.
pub const WAITING: &str = "waiting for review by a moderator";

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Review {
    pub id: i64,
    pub post_id: i64,
    pub author_id: i64,
    /// pending | approved | rejected
    pub status: String,
    /// Higher is reviewed sooner.
    pub priority: i64,
    /// The clusters whose policy asked for the review.
    pub clusters: Vec<String>,
    /// A subscribers or pay-per-view post.
    pub paid: bool,
    /// The creator was still under a `new_creators` policy.
    pub new_creator: bool,
    /// The reviewer's statement of reasons (required to reject).
    pub reason: Option<String>,
    pub requested_at: i64,
    pub decided_at: Option<i64>,
    pub decided_by: Option<i64>,
}

const COLUMNS: &str = "id, post_id, author_id, status, priority, clusters, paid, new_creator, \
    reason, requested_at, decided_at, decided_by, fingerprint";

fn row(r: &sqlx::any::AnyRow) -> Result<(Review, Option<String>)> {
    let clusters: String = r.try_get(5)?;
    Ok((
        Review {
            id: r.try_get(0)?,
            post_id: r.try_get(1)?,
            author_id: r.try_get(2)?,
            status: r.try_get(3)?,
            priority: r.try_get(4)?,
            clusters: clusters
                .split(',')
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect(),
            paid: r.try_get::<i64, _>(6)? != 0,
            new_creator: r.try_get::<i64, _>(7)? != 0,
            reason: r.try_get(8)?,
            requested_at: r.try_get(9)?,
            decided_at: r.try_get(10)?,
            decided_by: r.try_get(11)?,
        },
        r.try_get(12)?,
    ))
}

/// A review with the post as the reviewer sees it (everything, whatever its visibility).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ReviewDetail {
    #[serde(flatten)]
    pub review: Review,
    pub post: Post,
    /// The post's earlier reviews, newest first.
    pub history: Vec<Review>,
}

/// Why a post needs review: the clusters that ask for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Required {
    pub clusters: Vec<String>,
    pub new_creator: bool,
    /// The highest `review_priority` among them.
    pub priority: i64,
}

/// Whether `post` needs a person's approval on any of its clusters.
pub async fn required(db: &mut Db, env: &Content, post: &Post) -> Result<Option<Required>> {
    let now = fanz_core::clock::now_micros();
    let mut live: Option<i64> = None;
    let mut out = Required {
        clusters: vec![],
        new_creator: false,
        priority: i64::MIN,
    };
    for slug in &post.clusters {
        let Some(c) = env.clusters.get(slug) else {
            continue;
        };
        let needs = match c.policy.review {
            ReviewPolicy::None => false,
            ReviewPolicy::All => true,
            ReviewPolicy::NewCreators => {
                let n = match live {
                    Some(n) => n,
                    None => {
                        let mut n =
                            fanz_content::posts::count_live(db, Some(post.author_id), now).await?;
                        if post.is_live(now) {
                            n -= 1;
                        }
                        live = Some(n);
                        n
                    }
                };
                let new = n < i64::from(c.policy.review_first_posts);
                out.new_creator |= new;
                new
            }
        };
        if needs {
            out.clusters.push(slug.clone());
            out.priority = out.priority.max(c.policy.review_priority);
        }
    }
    Ok((!out.clusters.is_empty()).then_some(out))
}

/// What an approval covers: a digest of the post's text, teaser, tags, media, clusters,
/// visibility and price.
pub fn fingerprint(post: &Post) -> String {
    let doc = json!({
        "text": post.text, "teaser": post.teaser, "tags": post.tags, "media": post.media,
        "clusters": post.clusters, "visibility": post.visibility, "price": post.price,
        "tiers": post.tiers, "category": post.category,
    });
    hex::encode(Sha256::digest(doc.to_string().as_bytes()))
}

async fn latest(db: &mut Db, post_id: i64) -> Result<Option<(Review, Option<String>)>> {
    sqlx::query(&format!(
        "SELECT {COLUMNS} FROM safety_reviews WHERE post_id = $1 ORDER BY id DESC LIMIT 1"
    ))
    .bind(post_id)
    .fetch_optional(&mut *db)
    .await?
    .as_ref()
    .map(row)
    .transpose()
}

fn names(env: &Content, slugs: &[String]) -> String {
    slugs
        .iter()
        .map(|s| {
            env.clusters
                .get(s)
                .map(|c| c.name.clone())
                .unwrap_or(s.clone())
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// The refusals of the review gate check for `post` (none: it may be published).
pub async fn refusals(db: &mut Db, env: &Content, post: &Post) -> Result<Vec<Refusal>> {
    let Some(req) = required(db, env, post).await? else {
        return Ok(vec![]);
    };
    let fp = fingerprint(post);
    let where_ = names(env, &req.clusters);
    Ok(match latest(db, post.id).await? {
        Some((r, f)) if r.status == "approved" && f.as_deref() == Some(fp.as_str()) => vec![],
        Some((r, _)) if r.status == "pending" => vec![Refusal::new(
            "review_pending",
            format!("{WAITING} ({where_} reviews posts before they are published)"),
        )],
        Some((r, f)) if r.status == "rejected" && f.as_deref() == Some(fp.as_str()) => {
            vec![Refusal::new(
                "review_rejected",
                format!(
                    "a reviewer did not approve this post: {}; change it and publish again",
                    r.reason.unwrap_or_default()
                ),
            )]
        }
        _ => vec![Refusal::new(
            "review_required",
            format!("{where_} reviews posts before they are published; publishing submits it"),
        )],
    })
}

/// Whether a refusal means only "a person must approve it first": then publishing submits
/// the post for review instead of failing.
pub fn only_review(refusals: &[Refusal]) -> bool {
    !refusals.is_empty()
        && refusals
            .iter()
            .all(|r| r.code == "review_required" || r.code == "review_pending")
}

/// The publish gate's check: a post a cluster holds for review is published only once a
/// reviewer approved it as it is.
pub struct HumanReview;

#[async_trait::async_trait]
impl GateCheck for HumanReview {
    fn name(&self) -> &'static str {
        "human_review"
    }

    async fn check(
        &self,
        db: &mut Db,
        env: &Content,
        post: &Post,
    ) -> fanz_content::Result<Vec<Refusal>> {
        refusals(db, env, post).await.map_err(|e| match e {
            SafetyError::Content(c) => c,
            SafetyError::Database(d) => fanz_content::ContentError::Database(d),
            other => fanz_content::ContentError::Database(sqlx::Error::Protocol(other.to_string())),
        })
    }
}

/// Put `post` in the review queue (once: a pending review is returned as it is), and say so
/// on the post. [`SafetyError::Conflict`] `review_not_required` when no cluster asks.
pub async fn submit(
    db: &mut Db,
    env: &Content,
    post: &Post,
    now: i64,
    actor: &Actor,
) -> Result<Review> {
    if let Some((r, _)) = latest(db, post.id).await? {
        if r.status == "pending" {
            return Ok(r);
        }
    }
    let Some(req) = required(db, env, post).await? else {
        return Err(SafetyError::Conflict(
            "review_not_required",
            "no cluster of this post reviews posts",
        ));
    };
    let paid = matches!(post.visibility, Visibility::Subscribers | Visibility::Ppv);
    let priority = req.priority.max(0) + if paid { 2 } else { 0 } + i64::from(req.new_creator);
    let id: i64 = sqlx::query(
        "INSERT INTO safety_reviews (post_id, author_id, status, priority, clusters, paid, \
         new_creator, requested_at, updated_at) \
         VALUES ($1, $2, 'pending', $3, $4, $5, $6, $7, $7) RETURNING id",
    )
    .bind(post.id)
    .bind(post.author_id)
    .bind(priority)
    .bind(format!(",{},", req.clusters.join(",")))
    .bind(paid as i64)
    .bind(req.new_creator as i64)
    .bind(now)
    .fetch_one(&mut *db)
    .await?
    .try_get(0)?;
    fanz_content::posts::set_refusal(db, post.id, Some(WAITING)).await?;
    record(
        db,
        actor,
        "safety.review_requested",
        Some(&format!("post:{}", post.id)),
        json!({"review_id": id, "clusters": req.clusters, "priority": priority}),
    )
    .await?;
    get(db, id).await
}

/// Submit `post` if it needs review and has neither a pending review nor an approval of it as
/// it is (a scheduled post is reviewed before its time comes). Returns the pending review.
pub async fn submit_if_required(
    db: &mut Db,
    env: &Content,
    post: &Post,
    now: i64,
    actor: &Actor,
) -> Result<Option<Review>> {
    let refused = refusals(db, env, post).await?;
    if only_review(&refused) {
        return Ok(Some(submit(db, env, post, now, actor).await?));
    }
    Ok(None)
}

pub async fn get(db: &mut Db, id: i64) -> Result<Review> {
    let r = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM safety_reviews WHERE id = $1"
    ))
    .bind(id)
    .fetch_optional(&mut *db)
    .await?
    .ok_or(SafetyError::NotFound)?;
    Ok(row(&r)?.0)
}

/// The queue: pending reviews by priority then age (or decided ones, newest first),
/// optionally of one cluster.
pub async fn list(
    db: &mut Db,
    status: Option<&str>,
    cluster: Option<&str>,
    limit: i64,
) -> Result<Vec<Review>> {
    let status = status.unwrap_or("pending");
    if !STATUSES.contains(&status) {
        return Err(invalid(
            "status",
            "invalid_status",
            format!("status must be one of {}", STATUSES.join(", ")),
        ));
    }
    let order = if status == "pending" {
        "priority DESC, requested_at, id"
    } else {
        "decided_at DESC, id DESC"
    };
    let rows = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM safety_reviews WHERE status = $1 \
         AND ($2 = '' OR clusters LIKE $3) ORDER BY {order} LIMIT $4"
    ))
    .bind(status)
    .bind(cluster.unwrap_or(""))
    .bind(format!("%,{},%", cluster.unwrap_or("")))
    .bind(limit)
    .fetch_all(&mut *db)
    .await?;
    rows.iter().map(|r| row(r).map(|(r, _)| r)).collect()
}

/// A review with its post and the post's earlier reviews.
pub async fn detail(db: &mut Db, id: i64) -> Result<ReviewDetail> {
    let review = get(db, id).await?;
    let post = fanz_content::posts::get(db, review.post_id).await?;
    let history = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM safety_reviews WHERE post_id = $1 AND id <> $2 \
         ORDER BY id DESC LIMIT 50"
    ))
    .bind(review.post_id)
    .bind(id)
    .fetch_all(&mut *db)
    .await?
    .iter()
    .map(|r| row(r).map(|(r, _)| r))
    .collect::<Result<Vec<_>>>()?;
    Ok(ReviewDetail {
        review,
        post,
        history,
    })
}

/// The reviews of `author_id`'s posts, newest first (the creator's statements).
pub async fn for_author(db: &mut Db, author_id: i64, limit: i64) -> Result<Vec<Review>> {
    sqlx::query(&format!(
        "SELECT {COLUMNS} FROM safety_reviews WHERE author_id = $1 ORDER BY id DESC LIMIT $2"
    ))
    .bind(author_id)
    .bind(limit)
    .fetch_all(&mut *db)
    .await?
    .iter()
    .map(|r| row(r).map(|(r, _)| r))
    .collect()
}

/// Decide a pending review. `approve`: the post is published through the gate now (or stays
/// scheduled for its time); a gate refusal (a banned term, quarantined media) refuses the
/// approval with its reasons. `reject`: the reason is required, is written on the post and
/// mailed to the creator as a statement of reasons.
#[allow(clippy::too_many_arguments)]
pub async fn decide(
    db: &mut Db,
    env: &Content,
    id: i64,
    outcome: &str,
    reason: &str,
    reviewer_id: i64,
    now: i64,
    actor: &Actor,
) -> Result<Review> {
    if !OUTCOMES.contains(&outcome) {
        return Err(invalid(
            "outcome",
            "invalid_outcome",
            format!("outcome must be one of {}", OUTCOMES.join(", ")),
        ));
    }
    let reason = reason.trim();
    if outcome == "reject" && reason.is_empty() {
        return Err(invalid(
            "reason",
            "reason_required",
            "a statement of reasons is required to reject",
        ));
    }
    check_text("reason", reason, MAX_REASON)?;
    let review = get(db, id).await?;
    if review.status != "pending" {
        return Err(SafetyError::Conflict(
            "review_decided",
            "this review is already decided",
        ));
    }
    let post = match fanz_content::posts::get(db, review.post_id).await {
        Ok(p) if p.state != fanz_content::PostState::Deleted => p,
        Ok(_) | Err(fanz_content::ContentError::NotFound) => {
            return Err(SafetyError::Conflict(
                "post_deleted",
                "the creator deleted this post",
            ))
        }
        Err(e) => return Err(e.into()),
    };
    let status = if outcome == "approve" {
        "approved"
    } else {
        "rejected"
    };
    sqlx::query(
        "UPDATE safety_reviews SET status = $1, reason = $2, fingerprint = $3, decided_at = $4, \
         decided_by = $5, updated_at = $4 WHERE id = $6",
    )
    .bind(status)
    .bind((!reason.is_empty()).then_some(reason))
    .bind(fingerprint(&post))
    .bind(now)
    .bind(reviewer_id)
    .bind(id)
    .execute(&mut *db)
    .await?;
    record(
        db,
        actor,
        if outcome == "approve" {
            "safety.review_approved"
        } else {
            "safety.review_rejected"
        },
        Some(&format!("post:{}", post.id)),
        json!({"review_id": id, "reason": reason}),
    )
    .await?;
    let author = fanz_identity::find_user(db, post.author_id).await?;
    let mail = if outcome == "approve" {
        fanz_content::posts::set_refusal(db, post.id, None).await?;
        fanz_content::posts::publish_reviewed(db, env, post.id, actor).await?;
        Mail {
            to: author.email,
            subject: "Your post was approved".into(),
            body: format!(
                "A reviewer approved your post {} on {}. It is published now, or at the time \
                 you scheduled.\n",
                post.id,
                rfc3339(now)
            ),
        }
    } else {
        fanz_content::posts::set_refusal(
            db,
            post.id,
            Some(&format!("not approved by a reviewer: {reason}")),
        )
        .await?;
        Mail {
            to: author.email,
            subject: "Statement of reasons: your post was not approved".into(),
            body: format!(
                "Your post {} was reviewed before publication and not approved.\n\n\
                 Reasons: {reason}\n\nThe decision was taken by a person on {}. You may \
                 change the post and publish it again: it will be reviewed anew.\n",
                post.id,
                rfc3339(now)
            ),
        }
    };
    enqueue(db, &mail).await?;
    get(db, id).await
}
