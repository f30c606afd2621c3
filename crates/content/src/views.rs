//! What a viewer is shown of posts: [`PostView`]s built from posts after [`may_view`] has
//! decided. Hidden posts are dropped; locked ones keep only their teaser, price and the way to
//! unlock them — no text, no media ids — so nothing locked can leak through any page, feed or
//! API that renders these.

use crate::entitlements::{audit_staff_view, may_view, Access, Facts, Viewer, Why};
use crate::posts::{Post, PostKind, PostState, Visibility};
use crate::tiers::Tier;
use crate::{ContentError, Money, Result};
use fanz_audit::Actor;
use fanz_store::{sqlx, Db};
use serde::Serialize;
use std::collections::HashMap;

/// The author as shown beside a post.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct AuthorView {
    pub handle: String,
    pub display_name: String,
    pub avatar_url: String,
}

/// A media item as a viewer with full access sees it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct MediaView {
    pub id: i64,
    pub kind: fanz_media::MediaKind,
    pub state: fanz_media::MediaState,
    /// A short-lived URL signed for this viewer (added by the web layer for ready items): a
    /// picture, a video's HLS master playlist, or an audio file.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// A video's poster frame, or an audio item's waveform, signed for this viewer.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub poster_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub width: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub height: Option<u32>,
}

/// How a locked post is opened.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum Unlock {
    /// Follow the creator (free).
    Follow,
    /// Subscribe at one of these tiers.
    Subscribe { tiers: Vec<TierOffer> },
    /// Buy this post.
    Purchase { price: Money },
    /// Sign in first.
    SignIn,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct TierOffer {
    pub id: i64,
    pub name: String,
    pub price: Money,
    pub period_days: i64,
}

impl From<&Tier> for TierOffer {
    fn from(t: &Tier) -> Self {
        TierOffer {
            id: t.id,
            name: t.name.clone(),
            price: t.price.clone(),
            period_days: t.period_days,
        }
    }
}

/// A post as one viewer may see it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct PostView {
    pub id: i64,
    pub kind: PostKind,
    pub author: AuthorView,
    pub visibility: Visibility,
    /// True when the viewer sees only the preview.
    pub locked: bool,
    /// The full text; absent when locked.
    pub text: Option<String>,
    pub teaser: String,
    pub tags: Vec<String>,
    pub clusters: Vec<String>,
    pub category: String,
    pub sensitive: bool,
    pub pinned: bool,
    /// Media in order; absent when locked.
    pub media: Vec<MediaView>,
    /// How many media items the post carries (shown on locked previews).
    pub media_count: usize,
    /// Kind of the first item (the blurred preview of a locked post).
    pub preview_kind: Option<fanz_media::MediaKind>,
    /// The blurred teaser of the first item of a locked post, signed for nobody (cacheable).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub preview_url: Option<String>,
    /// The first item of a locked post, whose blurred teaser may be shown; never serialized.
    #[serde(skip)]
    pub preview_media: Option<i64>,
    pub price: Option<Money>,
    /// How to open a locked post.
    pub unlock: Option<Unlock>,
    pub published_at: Option<i64>,
    pub expires_at: Option<i64>,
    pub likes: i64,
    pub comments: i64,
    pub viewer_liked: bool,
    pub viewer_bookmarked: bool,
    /// Why the viewer sees it in full (`owner`, `subscriber`, …); absent when locked.
    pub access: Option<Why>,
    /// For the author: the post's state and why its last publish was refused.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state: Option<PostState>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refusal: Option<String>,
}

/// Build what `viewer` sees of `posts`, in order, leaving out what they may not know of.
/// Staff looks are audited.
pub async fn render(
    db: &mut Db,
    viewer: Viewer,
    actor: &Actor,
    posts: Vec<Post>,
) -> Result<Vec<PostView>> {
    let facts = Facts::load(db, viewer, &posts).await?;
    render_with(db, viewer, actor, posts, &facts).await
}

/// [`render`] with the viewer's facts already loaded (they must cover `posts`: see
/// [`Facts::load_with_creators`]).
pub async fn render_with(
    db: &mut Db,
    viewer: Viewer,
    actor: &Actor,
    posts: Vec<Post>,
    facts: &Facts,
) -> Result<Vec<PostView>> {
    let decided: Vec<(Post, Access)> = posts
        .into_iter()
        .map(|p| {
            let a = may_view(viewer, facts, &p);
            (p, a)
        })
        .filter(|(_, a)| *a != Access::Hidden)
        .collect();
    let mut authors: Vec<i64> = decided.iter().map(|(p, _)| p.author_id).collect();
    authors.sort_unstable();
    authors.dedup();
    let profiles: HashMap<i64, fanz_profiles::Profile> = fanz_profiles::get_many(db, &authors)
        .await
        .map_err(|e| ContentError::Database(sqlx::Error::Protocol(e.to_string())))?
        .into_iter()
        .map(|p| (p.user_id, p))
        .collect();
    let ids: Vec<i64> = decided.iter().map(|(p, _)| p.id).collect();
    let (liked, saved) = match viewer.user_id {
        Some(uid) => crate::interactions::marks(db, uid, &ids).await?,
        None => (vec![], vec![]),
    };
    let media_ids: Vec<i64> = decided.iter().flat_map(|(p, _)| p.media.clone()).collect();
    let media: HashMap<i64, fanz_media::MediaSummary> = fanz_media::summaries(db, &media_ids)
        .await?
        .into_iter()
        .map(|m| (m.id, m))
        .collect();
    // The tiers offered on the subscriber posts shown as previews, one query for all authors.
    let mut offering: Vec<i64> = decided
        .iter()
        .filter(|(p, a)| *a == Access::Preview && p.visibility == Visibility::Subscribers)
        .map(|(p, _)| p.author_id)
        .collect();
    offering.sort_unstable();
    offering.dedup();
    let tiers_of: HashMap<i64, Vec<Tier>> = crate::tiers::live_of(db, &offering).await?;
    let mut out = Vec::with_capacity(decided.len());
    for (p, access) in decided {
        if access == Access::Full(Why::Staff) {
            audit_staff_view(db, actor, &p).await?;
        }
        let author = profiles.get(&p.author_id);
        let full = access.is_full();
        let is_owner = access == Access::Full(Why::Owner);
        let unlock = if full {
            None
        } else if viewer.user_id.is_none() && p.visibility != Visibility::Ppv {
            Some(Unlock::SignIn)
        } else {
            match p.visibility {
                Visibility::Followers => Some(Unlock::Follow),
                Visibility::Subscribers => {
                    let tiers = tiers_of.get(&p.author_id).map(Vec::as_slice).unwrap_or(&[]);
                    Some(Unlock::Subscribe {
                        tiers: tiers
                            .iter()
                            .filter(|t| {
                                if p.tiers.is_empty() {
                                    !t.is_free()
                                } else {
                                    p.tiers.contains(&t.id)
                                }
                            })
                            .map(TierOffer::from)
                            .collect(),
                    })
                }
                Visibility::Ppv => p.price.clone().map(|price| Unlock::Purchase { price }),
                Visibility::Public => None,
            }
        };
        out.push(PostView {
            id: p.id,
            kind: p.kind,
            author: AuthorView {
                handle: author.map(|a| a.handle.clone()).unwrap_or_default(),
                display_name: author.map(|a| a.display_name.clone()).unwrap_or_default(),
                avatar_url: author.map(|a| a.avatar_url.clone()).unwrap_or_default(),
            },
            visibility: p.visibility,
            locked: !full,
            text: full.then(|| p.text.clone()),
            teaser: p.teaser.clone(),
            tags: p.tags.clone(),
            clusters: p.clusters.clone(),
            category: p.category.clone(),
            sensitive: p.sensitive,
            pinned: p.pinned,
            media: if full {
                p.media
                    .iter()
                    .filter_map(|id| media.get(id))
                    .map(|m| MediaView {
                        id: m.id,
                        kind: m.kind,
                        state: m.state,
                        url: None,
                        poster_url: None,
                        width: None,
                        height: None,
                    })
                    .collect()
            } else {
                vec![]
            },
            media_count: p.media.len(),
            preview_kind: p.media.first().and_then(|id| media.get(id)).map(|m| m.kind),
            preview_url: None,
            preview_media: if full { None } else { p.media.first().copied() },
            price: p.price.clone(),
            unlock,
            published_at: p.published_at,
            expires_at: p.expires_at,
            likes: p.likes,
            comments: p.comments,
            viewer_liked: liked.contains(&p.id),
            viewer_bookmarked: saved.contains(&p.id),
            access: match access {
                Access::Full(w) => Some(w),
                _ => None,
            },
            state: is_owner.then_some(p.state),
            refusal: if is_owner { p.refusal.clone() } else { None },
        });
    }
    Ok(out)
}

/// Load posts by id and render them for `viewer` (feeds, search hits, bookmarks).
pub async fn render_ids(
    db: &mut Db,
    viewer: Viewer,
    actor: &Actor,
    ids: &[i64],
) -> Result<Vec<PostView>> {
    let posts = crate::posts::get_many(db, ids).await?;
    render(db, viewer, actor, posts).await
}
