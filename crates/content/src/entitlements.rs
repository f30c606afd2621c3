//! Entitlements: the grants a viewer holds (a subscription to a creator at a tier until a
//! time, an unlocked post, staff access) and [`may_view`], the one decision of who sees what.
//!
//! Payments calls [`grant_subscription`] / [`grant_unlock`] when a sale settles and the revoke
//! functions on refunds and chargebacks; free tiers are joined here directly. Everything that
//! shows a post — the API, the pages, feeds, search results, media delivery — loads [`Facts`]
//! for its viewer and the posts at hand, then asks [`may_view`] per post.

use crate::posts::{Post, PostState, Visibility};
use crate::{placeholders, ContentError, Result};
use fanz_audit::{record, Actor};
use fanz_core::clock::now_micros;
use fanz_core::ValidationError;
use fanz_store::{sqlx, Db};
use serde::Serialize;
use serde_json::json;
use sqlx::Row;
use std::collections::{HashMap, HashSet};

/// Who is looking: nobody signed in, or an account, possibly staff.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Viewer {
    pub user_id: Option<i64>,
    /// Holds a staff role (admin, moderator or compliance).
    pub staff: bool,
}

impl Viewer {
    pub const ANONYMOUS: Viewer = Viewer {
        user_id: None,
        staff: false,
    };

    pub fn user(user_id: i64) -> Self {
        Viewer {
            user_id: Some(user_id),
            staff: false,
        }
    }
}

/// What a viewer gets of a post.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Access {
    /// Everything: text and media.
    Full(Why),
    /// That it exists, its teaser, price and how to unlock it; no text, no media.
    Preview,
    /// Nothing; answered as if the post did not exist.
    Hidden,
}

impl Access {
    pub fn is_full(self) -> bool {
        matches!(self, Access::Full(_))
    }
}

/// Why a viewer sees a post in full.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Why {
    Owner,
    /// Staff access; the caller records it in the audit log.
    Staff,
    Public,
    Follower,
    Subscriber,
    FreeTier,
    Unlocked,
}

/// A live subscription: to which tier, whether it is free, until when (`None`: open-ended).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sub {
    pub tier_id: Option<i64>,
    pub free: bool,
    pub ends_at: Option<i64>,
}

/// What [`may_view`] needs to know of one viewer, for a set of posts.
#[derive(Debug, Clone, Default)]
pub struct Facts {
    pub now: i64,
    pub follows: HashSet<i64>,
    /// Live subscriptions by creator.
    pub subs: HashMap<i64, Sub>,
    /// Unlocked post ids (not revoked).
    pub unlocks: HashSet<i64>,
    /// Creators who blocked the viewer.
    pub blocked_by: HashSet<i64>,
    /// Creators the viewer holds a staff grant for (0: every creator).
    pub staff_for: HashSet<i64>,
}

/// Ids per statement when loading [`Facts`]: far below either engine's limit on bound values.
const FACTS_CHUNK: usize = 400;

impl Facts {
    /// Read the viewer's follows, subscriptions, unlocks, blocks and staff grants that bear on
    /// `posts` (one statement, whatever the number of posts up to 400 authors; see `load_for`).
    pub async fn load(db: &mut Db, viewer: Viewer, posts: &[Post]) -> Result<Facts> {
        Self::load_with_creators(db, viewer, posts, &[]).await
    }

    /// [`load`](Self::load), and the same facts about `creators` besides the posts' authors,
    /// in the same statements (a search shows posts and creators found together).
    pub async fn load_with_creators(
        db: &mut Db,
        viewer: Viewer,
        posts: &[Post],
        creators: &[i64],
    ) -> Result<Facts> {
        let now = now_micros();
        let mut facts = Facts {
            now,
            ..Facts::default()
        };
        let Some(uid) = viewer.user_id else {
            return Ok(facts);
        };
        let mut authors: Vec<i64> = posts
            .iter()
            .map(|p| p.author_id)
            .chain(creators.iter().copied())
            .collect();
        authors.sort_unstable();
        authors.dedup();
        authors.retain(|a| *a != uid);
        let locked_ids: Vec<i64> = posts
            .iter()
            .filter(|p| p.visibility == Visibility::Ppv && p.author_id != uid)
            .map(|p| p.id)
            .collect();
        facts.load_for(db, uid, &authors, &locked_ids).await?;
        Ok(facts)
    }

    /// The facts about a viewer and a set of creators (their pages, stories, tiers).
    pub async fn load_for_creators(db: &mut Db, viewer: Viewer, creators: &[i64]) -> Result<Facts> {
        let mut facts = Facts {
            now: now_micros(),
            ..Facts::default()
        };
        if let Some(uid) = viewer.user_id {
            facts.load_for(db, uid, creators, &[]).await?;
        }
        Ok(facts)
    }

    /// Everything in one statement per chunk: follows of `authors` (the query profiles
    /// provides), live subscriptions to and blocks by them, unlocks of `posts`, and staff
    /// grants. Every page that shows posts pays for this, so it is one round trip to the
    /// database rather than five (on PostgreSQL each is a network round trip; on SQLite a
    /// hand-off to the connection's thread).
    async fn load_for(
        &mut self,
        db: &mut Db,
        uid: i64,
        authors: &[i64],
        posts: &[i64],
    ) -> Result<()> {
        let mut author_chunks = authors.chunks(FACTS_CHUNK);
        let mut post_chunks = posts.chunks(FACTS_CHUNK);
        // At least one round: the staff grants are read whatever the authors and posts.
        let rounds = author_chunks.len().max(post_chunks.len()).max(1);
        for round in 0..rounds {
            let authors = author_chunks.next().unwrap_or_default();
            let posts = post_chunks.next().unwrap_or_default();
            // $1 the viewer, $2 now, then the authors, then the posts.
            let a = placeholders(3, authors.len());
            let p = placeholders(3 + authors.len(), posts.len());
            let mut parts = Vec::with_capacity(4);
            if !authors.is_empty() {
                parts.push(format!(
                    "SELECT 's' AS what, g.subject_id, g.tier_id, g.ends_at, t.price_amount \
                     FROM grants g LEFT JOIN tiers t ON t.id = g.tier_id \
                     WHERE g.viewer_id = $1 AND g.kind = 'subscription' AND g.revoked_at IS NULL \
                     AND (g.ends_at IS NULL OR g.ends_at > $2) AND g.subject_id IN ({a})"
                ));
                parts.push(format!(
                    "SELECT 'b', creator_id, NULL, NULL, NULL FROM blocks \
                     WHERE blocked_id = $1 AND creator_id IN ({a})"
                ));
                parts.push(format!(
                    "SELECT 'f', f.followee_id, NULL, NULL, NULL FROM ({}) f",
                    fanz_profiles::following_among_sql("$1", &a)
                ));
            }
            if !posts.is_empty() {
                parts.push(format!(
                    "SELECT 'u', subject_id, NULL, NULL, NULL FROM grants \
                     WHERE viewer_id = $1 AND kind = 'unlock' AND revoked_at IS NULL \
                     AND subject_id IN ({p})"
                ));
            }
            if round == 0 {
                parts.push(
                    "SELECT 'x', subject_id, NULL, NULL, NULL FROM grants \
                     WHERE viewer_id = $1 AND kind = 'staff' AND revoked_at IS NULL \
                     AND (ends_at IS NULL OR ends_at > $2)"
                        .to_owned(),
                );
            }
            let sql = parts.join(" UNION ALL ");
            let mut q = sqlx::query(&sql).bind(uid).bind(self.now);
            for id in authors.iter().chain(posts) {
                q = q.bind(*id);
            }
            for r in q.fetch_all(&mut *db).await? {
                let what: String = r.try_get(0)?;
                let id: i64 = r.try_get(1)?;
                match what.as_str() {
                    "s" => {
                        let price: Option<i64> = r.try_get(4)?;
                        self.subs.insert(
                            id,
                            Sub {
                                tier_id: r.try_get(2)?,
                                free: price.unwrap_or(0) == 0,
                                ends_at: r.try_get(3)?,
                            },
                        );
                    }
                    "b" => {
                        self.blocked_by.insert(id);
                    }
                    "f" => {
                        self.follows.insert(id);
                    }
                    "u" => {
                        self.unlocks.insert(id);
                    }
                    _ => {
                        self.staff_for.insert(id);
                    }
                }
            }
        }
        Ok(())
    }

    /// The viewer's live subscription to `creator`, if any.
    pub fn subscription(&self, creator: i64) -> Option<Sub> {
        self.subs.get(&creator).copied()
    }

    /// Whether `creator` blocked the viewer (they see nothing of the creator).
    pub fn is_blocked_by(&self, creator: i64) -> bool {
        self.blocked_by.contains(&creator)
    }
}

/// Who may see a post, and how much. The only place this is decided.
///
/// In order: a deleted post is hidden from everyone; its author sees everything; a creator's
/// block hides all of the creator from the blocked viewer; staff (by role or grant) see
/// anything not deleted; nobody else sees a post that is not published or has expired; then a
/// public post is open, a followers post opens to followers and live subscribers, a
/// subscribers post to live subscribers of an allowed tier (a free tier only when the post
/// names it; no tiers named means any paid tier), a pay-per-view post to those who unlocked it.
/// Everyone else gets the preview.
pub fn may_view(viewer: Viewer, facts: &Facts, post: &Post) -> Access {
    if post.state == PostState::Deleted {
        return Access::Hidden;
    }
    let Some(uid) = viewer.user_id else {
        return public_access(facts, post);
    };
    if post.author_id == uid {
        return Access::Full(Why::Owner);
    }
    if facts.blocked_by.contains(&post.author_id) {
        return Access::Hidden;
    }
    if viewer.staff || facts.staff_for.contains(&0) || facts.staff_for.contains(&post.author_id) {
        return Access::Full(Why::Staff);
    }
    if !post.is_live(facts.now) {
        return Access::Hidden;
    }
    let sub = facts.subs.get(&post.author_id);
    match post.visibility {
        Visibility::Public => Access::Full(Why::Public),
        Visibility::Followers => {
            if facts.follows.contains(&post.author_id) {
                Access::Full(Why::Follower)
            } else if sub.is_some() {
                Access::Full(Why::Subscriber)
            } else {
                Access::Preview
            }
        }
        Visibility::Subscribers => match sub {
            Some(s) if s.free => match s.tier_id {
                Some(t) if post.tiers.contains(&t) => Access::Full(Why::FreeTier),
                _ => Access::Preview,
            },
            Some(s) => {
                let allowed =
                    post.tiers.is_empty() || s.tier_id.is_some_and(|t| post.tiers.contains(&t));
                if allowed {
                    Access::Full(Why::Subscriber)
                } else {
                    Access::Preview
                }
            }
            None => Access::Preview,
        },
        Visibility::Ppv => {
            if facts.unlocks.contains(&post.id) {
                Access::Full(Why::Unlocked)
            } else {
                Access::Preview
            }
        }
    }
}

fn public_access(facts: &Facts, post: &Post) -> Access {
    if !post.is_live(facts.now) {
        Access::Hidden
    } else if post.visibility == Visibility::Public {
        Access::Full(Why::Public)
    } else {
        Access::Preview
    }
}

/// Record a staff member's look at a post they see only because they are staff.
pub async fn audit_staff_view(db: &mut Db, actor: &Actor, post: &Post) -> Result<()> {
    record(
        db,
        actor,
        "content.staff_viewed",
        Some(&format!("post:{}", post.id)),
        json!({"author_id": post.author_id}),
    )
    .await?;
    Ok(())
}

async fn upsert_grant(
    db: &mut Db,
    viewer_id: i64,
    kind: &str,
    subject_id: i64,
    tier_id: Option<i64>,
    ends_at: Option<i64>,
    source: &str,
) -> Result<()> {
    let now = now_micros();
    sqlx::query(
        "INSERT INTO grants (viewer_id, kind, subject_id, tier_id, starts_at, ends_at, source, \
         created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $5, $5) \
         ON CONFLICT (viewer_id, kind, subject_id) DO UPDATE SET tier_id = excluded.tier_id, \
         ends_at = excluded.ends_at, source = excluded.source, revoked_at = NULL, \
         updated_at = excluded.updated_at",
    )
    .bind(viewer_id)
    .bind(kind)
    .bind(subject_id)
    .bind(tier_id)
    .bind(now)
    .bind(ends_at)
    .bind(source)
    .execute(&mut *db)
    .await?;
    Ok(())
}

async fn revoke_grant(db: &mut Db, viewer_id: i64, kind: &str, subject_id: i64) -> Result<bool> {
    let now = now_micros();
    let n = sqlx::query(
        "UPDATE grants SET revoked_at = $1, updated_at = $1 WHERE viewer_id = $2 AND kind = $3 \
         AND subject_id = $4 AND revoked_at IS NULL",
    )
    .bind(now)
    .bind(viewer_id)
    .bind(kind)
    .bind(subject_id)
    .execute(&mut *db)
    .await?
    .rows_affected();
    Ok(n > 0)
}

/// Subscribe `viewer` to `creator` at `tier_id` until `ends_at` (`None`: open-ended), or move
/// an existing subscription to this tier and end. `source` names who granted it (e.g. a
/// payment reference).
pub async fn grant_subscription(
    db: &mut Db,
    viewer_id: i64,
    creator_id: i64,
    tier_id: i64,
    ends_at: Option<i64>,
    source: &str,
    actor: &Actor,
) -> Result<()> {
    let tier = crate::tiers::get(db, tier_id).await?;
    if tier.creator_id != creator_id {
        return Err(
            ValidationError::new("tier_id", "unknown_tier", "not this creator's tier").into(),
        );
    }
    if viewer_id == creator_id {
        return Err(ValidationError::new(
            "creator",
            "self_subscription",
            "you cannot subscribe to yourself",
        )
        .into());
    }
    upsert_grant(
        db,
        viewer_id,
        "subscription",
        creator_id,
        Some(tier_id),
        ends_at,
        source,
    )
    .await?;
    record(
        db,
        actor,
        "content.subscription_granted",
        Some(&format!("user:{viewer_id}")),
        json!({"creator_id": creator_id, "tier_id": tier_id, "ends_at": ends_at, "source": source}),
    )
    .await?;
    fanz_events::publish(
        db,
        &crate::ContentEvent::Subscribed {
            viewer_id,
            creator_id,
            tier_id,
        },
    )
    .await?;
    Ok(())
}

/// End a subscription now (refund, chargeback, cancellation at period end by payments).
pub async fn revoke_subscription(
    db: &mut Db,
    viewer_id: i64,
    creator_id: i64,
    reason: &str,
    actor: &Actor,
) -> Result<bool> {
    let done = revoke_grant(db, viewer_id, "subscription", creator_id).await?;
    if done {
        record(
            db,
            actor,
            "content.subscription_revoked",
            Some(&format!("user:{viewer_id}")),
            json!({"creator_id": creator_id, "reason": reason}),
        )
        .await?;
    }
    Ok(done)
}

/// Unlock a pay-per-view post for `viewer` (forever, until revoked).
pub async fn grant_unlock(
    db: &mut Db,
    viewer_id: i64,
    post_id: i64,
    source: &str,
    actor: &Actor,
) -> Result<()> {
    let post = crate::posts::get(db, post_id).await?;
    if post.visibility != Visibility::Ppv {
        return Err(ValidationError::new(
            "post_id",
            "not_pay_per_view",
            "only pay-per-view posts are unlocked",
        )
        .into());
    }
    upsert_grant(db, viewer_id, "unlock", post_id, None, None, source).await?;
    record(
        db,
        actor,
        "content.unlock_granted",
        Some(&format!("user:{viewer_id}")),
        json!({"post_id": post_id, "source": source}),
    )
    .await?;
    Ok(())
}

pub async fn revoke_unlock(
    db: &mut Db,
    viewer_id: i64,
    post_id: i64,
    reason: &str,
    actor: &Actor,
) -> Result<bool> {
    let done = revoke_grant(db, viewer_id, "unlock", post_id).await?;
    if done {
        record(
            db,
            actor,
            "content.unlock_revoked",
            Some(&format!("user:{viewer_id}")),
            json!({"post_id": post_id, "reason": reason}),
        )
        .await?;
    }
    Ok(done)
}

/// Give a staff member access to one creator's posts (`creator_id` 0: every creator) until
/// `ends_at`. Every post they then open is audited.
pub async fn grant_staff(
    db: &mut Db,
    viewer_id: i64,
    creator_id: i64,
    ends_at: Option<i64>,
    actor: &Actor,
) -> Result<()> {
    upsert_grant(db, viewer_id, "staff", creator_id, None, ends_at, "staff").await?;
    record(
        db,
        actor,
        "content.staff_granted",
        Some(&format!("user:{viewer_id}")),
        json!({"creator_id": creator_id, "ends_at": ends_at}),
    )
    .await?;
    Ok(())
}

pub async fn revoke_staff(
    db: &mut Db,
    viewer_id: i64,
    creator_id: i64,
    actor: &Actor,
) -> Result<bool> {
    let done = revoke_grant(db, viewer_id, "staff", creator_id).await?;
    if done {
        record(
            db,
            actor,
            "content.staff_revoked",
            Some(&format!("user:{viewer_id}")),
            json!({"creator_id": creator_id}),
        )
        .await?;
    }
    Ok(done)
}

/// Join a creator's free tier (no payment involved): open-ended until left.
pub async fn join_free_tier(
    db: &mut Db,
    viewer_id: i64,
    tier_id: i64,
    actor: &Actor,
) -> Result<()> {
    let tier = crate::tiers::get(db, tier_id).await?;
    if tier.archived || crate::interactions::is_blocked(db, tier.creator_id, viewer_id).await? {
        return Err(ContentError::NotFound);
    }
    if tier.price.amount != 0 {
        return Err(ValidationError::new(
            "tier_id",
            "payment_required",
            "this tier is paid; subscribe through checkout",
        )
        .into());
    }
    grant_subscription(
        db,
        viewer_id,
        tier.creator_id,
        tier_id,
        None,
        "free_tier",
        actor,
    )
    .await
}

/// A fan's or a creator's relation, for fan lists.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Relation {
    /// The other account.
    pub user_id: i64,
    pub handle: String,
    pub display_name: String,
    pub follows: bool,
    pub subscribed: bool,
    pub tier_id: Option<i64>,
    pub subscription_ends_at: Option<i64>,
}

/// Which side of a relation to list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// A creator's fans: followers and subscribers.
    FansOf,
    /// The creators a fan follows or subscribes to.
    CreatorsOf,
}

/// Which people of a relation to list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RelationFilter {
    /// Followers and live subscribers together.
    All,
    /// Only those who follow.
    Followers,
    /// Only live subscribers.
    Subscribers,
}

impl RelationFilter {
    /// `all`, `followers` or `subscribers`; anything else is `None`.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "all" => Some(Self::All),
            "followers" => Some(Self::Followers),
            "subscribers" => Some(Self::Subscribers),
            _ => None,
        }
    }
}

/// A page of a creator's fans or a fan's creators (followers and live subscribers), in handle
/// order after the handle `after`. The filter is applied by the query, so a page is full
/// whenever more people match; a person with several live subscriptions is listed once, with
/// the one that lasts longest.
pub async fn relations(
    db: &mut Db,
    user_id: i64,
    side: Side,
    filter: RelationFilter,
    after: Option<&str>,
    limit: i64,
) -> Result<Vec<Relation>> {
    let now = now_micros();
    let (me_follow, other_follow, me_grant, other_grant) = match side {
        Side::FansOf => ("followee_id", "follower_id", "subject_id", "viewer_id"),
        Side::CreatorsOf => ("follower_id", "followee_id", "viewer_id", "subject_id"),
    };
    let live = |t: &str| {
        format!(
            "{t}kind = 'subscription' AND {t}revoked_at IS NULL \
             AND ({t}ends_at IS NULL OR {t}ends_at > $2)"
        )
    };
    let followers = format!("SELECT {other_follow} FROM follows WHERE {me_follow} = $1");
    let subscribers = format!(
        "SELECT {other_grant} FROM grants WHERE {me_grant} = $1 AND {}",
        live("")
    );
    let people = match filter {
        RelationFilter::All => format!("{followers} UNION {subscribers}"),
        RelationFilter::Followers => followers,
        RelationFilter::Subscribers => subscribers,
    };
    let sql = format!(
        "SELECT p.user_id, p.handle, p.display_name, \
           (SELECT COUNT(*) FROM follows f WHERE f.{me_follow} = $1 AND f.{other_follow} = p.user_id) AS fo, \
           g.tier_id, g.ends_at, g.id AS gid \
         FROM profiles p LEFT JOIN grants g ON g.id = (SELECT g2.id FROM grants g2 \
           WHERE g2.{me_grant} = $1 AND g2.{other_grant} = p.user_id AND {live2} \
           ORDER BY COALESCE(g2.ends_at, 9223372036854775807) DESC, g2.id DESC LIMIT 1) \
         WHERE p.user_id IN ({people}) AND p.handle > $4 \
         ORDER BY p.handle LIMIT $3",
        live2 = live("g2."),
    );
    let rows = sqlx::query(&sql)
        .bind(user_id)
        .bind(now)
        .bind(limit)
        .bind(after.unwrap_or(""))
        .fetch_all(&mut *db)
        .await?;
    let mut out = Vec::with_capacity(rows.len());
    for r in rows {
        let gid: Option<i64> = r.try_get("gid")?;
        out.push(Relation {
            user_id: r.try_get("user_id")?,
            handle: r.try_get("handle")?,
            display_name: r.try_get("display_name")?,
            follows: r.try_get::<i64, _>("fo")? > 0,
            subscribed: gid.is_some(),
            tier_id: r.try_get("tier_id")?,
            subscription_ends_at: r.try_get("ends_at")?,
        });
    }
    Ok(out)
}

/// A post and what `viewer` gets of it; [`ContentError::NotFound`] when they may not know it
/// exists. Staff looks are audited here.
pub async fn open(
    db: &mut Db,
    viewer: Viewer,
    actor: &Actor,
    post_id: i64,
) -> Result<(Post, Access)> {
    let post = match crate::posts::get(db, post_id).await {
        Ok(p) => p,
        Err(ContentError::NotFound) => return Err(ContentError::NotFound),
        Err(e) => return Err(e),
    };
    let facts = Facts::load(db, viewer, std::slice::from_ref(&post)).await?;
    let access = may_view(viewer, &facts, &post);
    match access {
        Access::Hidden => Err(ContentError::NotFound),
        Access::Full(Why::Staff) => {
            audit_staff_view(db, actor, &post).await?;
            Ok((post, access))
        }
        _ => Ok((post, access)),
    }
}

/// Like [`open`], but the viewer must see the post in full (to like, comment, bookmark);
/// a preview is [`ContentError::Locked`].
pub async fn open_full(db: &mut Db, viewer: Viewer, actor: &Actor, post_id: i64) -> Result<Post> {
    let (post, access) = open(db, viewer, actor, post_id).await?;
    if access.is_full() {
        Ok(post)
    } else {
        Err(ContentError::Locked)
    }
}
