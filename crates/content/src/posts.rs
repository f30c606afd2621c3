//! Posts and stories: drafts, scheduling, publishing through the gate, edits with history,
//! hiding, pinning, soft delete.

use crate::events::ContentEvent;
use crate::jobs::PublishScheduled;
use crate::{check_text, placeholders, Content, ContentError, Money, Result};
use fanz_audit::{record, Actor};
use fanz_core::clock::now_micros;
use fanz_core::ValidationError;
use fanz_store::{sqlx, Db};
use serde::{Deserialize, Serialize};
use serde_json::json;
use sqlx::Row;
use std::collections::HashMap;

/// Longest text any cluster may allow; each cluster's `max_post_chars` may be lower.
pub const MAX_TEXT: usize = 20_000;
pub const MAX_TEASER: usize = 280;
pub const MAX_MEDIA: usize = 20;
pub const MAX_TAGS: usize = 20;
pub const MAX_TAG_LEN: usize = 40;
pub const MAX_CLUSTERS: usize = 8;
/// Pay-per-view prices: 1.00 to 1,000.00.
pub const PPV_MIN: i64 = 100;
pub const PPV_MAX: i64 = 100_000;
/// How long a story stays up.
pub const STORY_LIFETIME_MICROS: i64 = 24 * 3600 * 1_000_000;
/// How long a deleted post is kept before it is purged.
pub const DELETED_RETENTION_MICROS: i64 = 30 * 24 * 3600 * 1_000_000;
/// Teasers written for creators who leave them out: this many characters of the text.
const AUTO_TEASER_CHARS: usize = 100;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Visibility {
    Public,
    Followers,
    Subscribers,
    Ppv,
}

impl Visibility {
    pub fn as_str(self) -> &'static str {
        match self {
            Visibility::Public => "public",
            Visibility::Followers => "followers",
            Visibility::Subscribers => "subscribers",
            Visibility::Ppv => "ppv",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "public" => Some(Visibility::Public),
            "followers" => Some(Visibility::Followers),
            "subscribers" => Some(Visibility::Subscribers),
            "ppv" => Some(Visibility::Ppv),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum PostState {
    Draft,
    Scheduled,
    Published,
    Hidden,
    Deleted,
}

impl PostState {
    pub fn as_str(self) -> &'static str {
        match self {
            PostState::Draft => "draft",
            PostState::Scheduled => "scheduled",
            PostState::Published => "published",
            PostState::Hidden => "hidden",
            PostState::Deleted => "deleted",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "draft" => Some(PostState::Draft),
            "scheduled" => Some(PostState::Scheduled),
            "published" => Some(PostState::Published),
            "hidden" => Some(PostState::Hidden),
            "deleted" => Some(PostState::Deleted),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum PostKind {
    #[default]
    Post,
    /// Gone 24 hours after it is published.
    Story,
}

impl PostKind {
    pub fn as_str(self) -> &'static str {
        match self {
            PostKind::Post => "post",
            PostKind::Story => "story",
        }
    }
}

/// A post as stored, with its clusters, tags and media in order. Whether a viewer may see it
/// is [`crate::may_view`]'s decision; this is the owner's view.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Post {
    pub id: i64,
    #[serde(skip)]
    pub author_id: i64,
    pub kind: PostKind,
    pub state: PostState,
    pub visibility: Visibility,
    pub text: String,
    pub teaser: String,
    pub category: String,
    pub sensitive: bool,
    /// For `subscribers` posts: the tiers that see it (empty: any paid tier).
    pub tiers: Vec<i64>,
    pub price: Option<Money>,
    pub pinned: bool,
    pub publish_at: Option<i64>,
    pub published_at: Option<i64>,
    pub expires_at: Option<i64>,
    pub deleted_at: Option<i64>,
    pub likes: i64,
    pub comments: i64,
    pub revision: i64,
    pub created_at: i64,
    pub updated_at: i64,
    pub clusters: Vec<String>,
    pub tags: Vec<String>,
    pub media: Vec<i64>,
    /// Why the last publish attempt was refused, if it was.
    pub refusal: Option<String>,
}

impl Post {
    /// The words anyone may read and search: the text of a public post, the teaser of any
    /// other (a locked post's text must never reach an index or a page before `may_view`).
    pub fn public_text(&self) -> &str {
        if self.visibility == Visibility::Public {
            &self.text
        } else {
            &self.teaser
        }
    }

    /// Published and not past its expiry at `now`.
    pub fn is_live(&self, now: i64) -> bool {
        self.state == PostState::Published && self.expires_at.is_none_or(|e| e > now)
    }
}

/// A new post or story; it starts as a draft unless `publish` or `publish_at` says otherwise.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewPost {
    #[serde(default)]
    pub kind: PostKind,
    #[serde(default)]
    #[schema(max_length = 20000)]
    pub text: String,
    pub visibility: Visibility,
    /// Cluster slugs; default the creator's own clusters.
    #[serde(default)]
    pub clusters: Option<Vec<String>>,
    /// For `subscribers` posts: the tier ids that see it (empty: any paid tier).
    #[serde(default)]
    pub tiers: Vec<i64>,
    /// Required for `ppv`, refused otherwise.
    #[serde(default)]
    pub price: Option<Money>,
    /// Schedule the publish for this instant (microseconds since the epoch).
    #[serde(default)]
    pub publish_at: Option<i64>,
    /// Hide the post after this instant.
    #[serde(default)]
    pub expires_at: Option<i64>,
    /// Media ids in display order; the first is the locked preview.
    #[serde(default)]
    pub media: Vec<i64>,
    #[serde(default)]
    pub tags: Vec<String>,
    /// Default `general`; clusters' policies list the categories they allow.
    #[serde(default)]
    pub category: Option<String>,
    #[serde(default)]
    pub sensitive: bool,
    /// What a locked post shows; default the first words of the text.
    #[serde(default)]
    #[schema(max_length = 280)]
    pub teaser: Option<String>,
    /// Publish at once (through the gate).
    #[serde(default)]
    pub publish: bool,
}

/// A change to a post; `None` leaves a field as it is.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PostEdit {
    pub text: Option<String>,
    pub teaser: Option<String>,
    pub visibility: Option<Visibility>,
    pub tiers: Option<Vec<i64>>,
    pub price: Option<Money>,
    pub clusters: Option<Vec<String>>,
    pub media: Option<Vec<i64>>,
    pub tags: Option<Vec<String>>,
    pub category: Option<String>,
    pub sensitive: Option<bool>,
    pub expires_at: Option<i64>,
    pub pinned: Option<bool>,
}

/// The fields of a post a new post or an edit sets, after validation.
struct Draft {
    text: String,
    teaser: String,
    visibility: Visibility,
    tiers: Vec<i64>,
    price: Option<Money>,
    clusters: Vec<String>,
    media: Vec<i64>,
    tags: Vec<String>,
    category: String,
    sensitive: bool,
    expires_at: Option<i64>,
}

/// A tag as stored: lower-case, no leading `#`, letters, digits, `_` and `-`.
pub fn normalize_tag(raw: &str) -> Result<String> {
    let t = raw.trim().trim_start_matches('#').to_lowercase();
    let ok = !t.is_empty()
        && t.chars().count() <= MAX_TAG_LEN
        && t.chars()
            .all(|c| c.is_alphanumeric() || c == '_' || c == '-');
    if !ok {
        return Err(ValidationError::new(
            "tags",
            "invalid_tag",
            format!("tags are 1 to {MAX_TAG_LEN} letters, digits, _ or -"),
        )
        .into());
    }
    Ok(t)
}

/// The teaser of a creator who wrote none: the opening words, at most half the text (so a
/// locked post never shows all of it) and at most [`AUTO_TEASER_CHARS`].
pub(crate) fn auto_teaser(text: &str) -> String {
    let total = text.chars().count();
    let keep = (total / 2).min(AUTO_TEASER_CHARS);
    if keep == 0 {
        return String::new();
    }
    let cut: String = text.chars().take(keep).collect();
    let cut = match cut.rfind(char::is_whitespace) {
        Some(i) if i > keep / 2 => &cut[..i],
        _ => &cut,
    };
    format!(
        "{}…",
        cut.trim_end_matches(|c: char| c.is_whitespace() || ",.;:!?".contains(c))
    )
}

async fn validate(
    db: &mut Db,
    env: &Content,
    author_id: i64,
    d: &mut Draft,
    teaser_given: bool,
) -> Result<()> {
    check_text("text", &d.text, MAX_TEXT)?;
    if d.clusters.is_empty() {
        return Err(ValidationError::new(
            "clusters",
            "required",
            "choose at least one cluster (or set your profile's clusters)",
        )
        .into());
    }
    if d.clusters.len() > MAX_CLUSTERS {
        return Err(ValidationError::new(
            "clusters",
            "too_many",
            format!("at most {MAX_CLUSTERS} clusters"),
        )
        .into());
    }
    d.clusters.sort();
    d.clusters.dedup();
    for slug in &d.clusters {
        if env.clusters.get(slug).is_none() {
            return Err(ValidationError::new(
                "clusters",
                "unknown_cluster",
                format!("there is no cluster {slug:?}"),
            )
            .into());
        }
    }
    let category = d.category.trim().to_lowercase();
    if category.is_empty()
        || category.len() > 32
        || !category.chars().all(|c| c.is_ascii_lowercase() || c == '-')
    {
        return Err(ValidationError::new(
            "category",
            "invalid_category",
            "a category is a lower-case word such as general",
        )
        .into());
    }
    d.category = category;
    if !teaser_given {
        d.teaser = auto_teaser(&d.text);
    }
    check_text("teaser", &d.teaser, MAX_TEASER)?;
    match (d.visibility, &d.price) {
        (crate::Visibility::Ppv, None) => {
            return Err(ValidationError::new(
                "price",
                "required",
                "a pay-per-view post needs a price",
            )
            .into())
        }
        (crate::Visibility::Ppv, Some(p)) => p.validate("price", PPV_MIN, PPV_MAX)?,
        (_, Some(_)) => {
            return Err(ValidationError::new(
                "price",
                "not_allowed",
                "only pay-per-view posts have a price",
            )
            .into())
        }
        (_, None) => {}
    }
    if d.visibility != Visibility::Subscribers && !d.tiers.is_empty() {
        return Err(ValidationError::new(
            "tiers",
            "not_allowed",
            "only subscriber posts name tiers",
        )
        .into());
    }
    d.tiers.sort_unstable();
    d.tiers.dedup();
    if !d.tiers.is_empty() {
        let own = crate::tiers::list(db, author_id, false).await?;
        if let Some(bad) = d.tiers.iter().find(|t| !own.iter().any(|o| o.id == **t)) {
            return Err(ValidationError::new(
                "tiers",
                "unknown_tier",
                format!("tier {bad} is not one of your tiers"),
            )
            .into());
        }
    }
    if d.tags.len() > MAX_TAGS {
        return Err(
            ValidationError::new("tags", "too_many", format!("at most {MAX_TAGS} tags")).into(),
        );
    }
    let mut tags = Vec::with_capacity(d.tags.len());
    for t in &d.tags {
        tags.push(normalize_tag(t)?);
    }
    tags.sort();
    tags.dedup();
    d.tags = tags;
    if d.media.len() > MAX_MEDIA {
        return Err(ValidationError::new(
            "media",
            "too_many",
            format!("at most {MAX_MEDIA} media items"),
        )
        .into());
    }
    let mut seen = d.media.clone();
    seen.sort_unstable();
    seen.dedup();
    if seen.len() != d.media.len() {
        return Err(
            ValidationError::new("media", "duplicate", "a media item is listed twice").into(),
        );
    }
    let found = fanz_media::summaries(db, &d.media).await?;
    for id in &d.media {
        if !found.iter().any(|m| m.id == *id && m.owner_id == author_id) {
            return Err(ValidationError::new(
                "media",
                "unknown_media",
                format!("media {id} is not in your vault"),
            )
            .into());
        }
    }
    if let Some(e) = d.expires_at {
        if e <= now_micros() {
            return Err(ValidationError::new(
                "expires_at",
                "in_the_past",
                "expires_at must be in the future",
            )
            .into());
        }
    }
    Ok(())
}

/// Create a post (or story) as a draft; schedule it when `publish_at` is set, publish it at
/// once through the gate when `publish` is.
pub async fn create(
    db: &mut Db,
    env: &Content,
    author_id: i64,
    new: NewPost,
    actor: &Actor,
) -> Result<Post> {
    let clusters = match new.clusters {
        Some(c) => c,
        None => default_clusters(db, author_id).await?,
    };
    let teaser_given = new.teaser.is_some();
    let mut d = Draft {
        text: new.text,
        teaser: new.teaser.unwrap_or_default(),
        visibility: new.visibility,
        tiers: new.tiers,
        price: new.price,
        clusters,
        media: new.media,
        tags: new.tags,
        category: new.category.unwrap_or_else(|| "general".into()),
        sensitive: new.sensitive,
        expires_at: new.expires_at,
    };
    validate(db, env, author_id, &mut d, teaser_given).await?;
    if d.text.trim().is_empty() && d.media.is_empty() {
        return Err(ValidationError::new("text", "required", "a post needs text or media").into());
    }
    let now = now_micros();
    if let Some(at) = new.publish_at {
        if at <= now {
            return Err(ValidationError::new(
                "publish_at",
                "in_the_past",
                "publish_at must be in the future; use publish to publish now",
            )
            .into());
        }
        if d.expires_at.is_some_and(|e| e <= at) {
            return Err(ValidationError::new(
                "expires_at",
                "before_publish",
                "expires_at must be after publish_at",
            )
            .into());
        }
    }
    let row = sqlx::query(
        "INSERT INTO posts (author_id, kind, state, visibility, text, teaser, category, sensitive, \
         tiers, price_amount, currency, publish_at, expires_at, created_at, updated_at) \
         VALUES ($1, $2, 'draft', $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $13) RETURNING id",
    )
    .bind(author_id)
    .bind(new.kind.as_str())
    .bind(d.visibility.as_str())
    .bind(&d.text)
    .bind(&d.teaser)
    .bind(&d.category)
    .bind(d.sensitive as i64)
    .bind(serde_json::to_string(&d.tiers).expect("ids serialize"))
    .bind(d.price.as_ref().map(|p| p.amount))
    .bind(d.price.as_ref().map(|p| p.currency.clone()))
    .bind(new.publish_at)
    .bind(d.expires_at)
    .bind(now)
    .fetch_one(&mut *db)
    .await?;
    let id: i64 = row.try_get(0)?;
    write_children(db, id, &d).await?;
    record(
        db,
        actor,
        "content.post_created",
        Some(&format!("post:{id}")),
        json!({"kind": new.kind.as_str(), "visibility": d.visibility.as_str(), "clusters": d.clusters}),
    )
    .await?;
    if let Some(at) = new.publish_at {
        schedule(db, id, at, actor).await?;
    } else if new.publish {
        return publish(db, env, author_id, id, actor).await;
    }
    get(db, id).await
}

async fn default_clusters(db: &mut Db, author_id: i64) -> Result<Vec<String>> {
    let rows = sqlx::query("SELECT cluster_slug FROM profile_clusters WHERE user_id = $1")
        .bind(author_id)
        .fetch_all(&mut *db)
        .await?;
    rows.iter()
        .map(|r| r.try_get::<String, _>(0).map_err(ContentError::from))
        .collect()
}

async fn write_children(db: &mut Db, id: i64, d: &Draft) -> Result<()> {
    for table in ["post_clusters", "post_tags", "post_media"] {
        sqlx::query(&format!("DELETE FROM {table} WHERE post_id = $1"))
            .bind(id)
            .execute(&mut *db)
            .await?;
    }
    for slug in &d.clusters {
        sqlx::query("INSERT INTO post_clusters (post_id, cluster_slug) VALUES ($1, $2)")
            .bind(id)
            .bind(slug)
            .execute(&mut *db)
            .await?;
    }
    for tag in &d.tags {
        sqlx::query("INSERT INTO post_tags (post_id, tag) VALUES ($1, $2)")
            .bind(id)
            .bind(tag)
            .execute(&mut *db)
            .await?;
    }
    for (i, m) in d.media.iter().enumerate() {
        sqlx::query("INSERT INTO post_media (post_id, position, media_id) VALUES ($1, $2, $3)")
            .bind(id)
            .bind(i as i64)
            .bind(m)
            .execute(&mut *db)
            .await?;
    }
    let has_video = if d.media.is_empty() {
        false
    } else {
        fanz_media::summaries(db, &d.media)
            .await?
            .iter()
            .any(|m| m.kind == fanz_media::MediaKind::Video)
    };
    sqlx::query("UPDATE posts SET has_video = $1 WHERE id = $2")
        .bind(has_video as i64)
        .bind(id)
        .execute(&mut *db)
        .await?;
    Ok(())
}

async fn schedule(db: &mut Db, id: i64, at: i64, actor: &Actor) -> Result<()> {
    sqlx::query(
        "UPDATE posts SET state = 'scheduled', publish_at = $1, refusal = NULL, updated_at = $2 \
         WHERE id = $3",
    )
    .bind(at)
    .bind(now_micros())
    .bind(id)
    .execute(&mut *db)
    .await?;
    fanz_jobs::enqueue_with(
        db,
        &PublishScheduled {
            post_id: id,
            publish_at: at,
        },
        fanz_jobs::Options::at(at),
    )
    .await?;
    record(
        db,
        actor,
        "content.post_scheduled",
        Some(&format!("post:{id}")),
        json!({"publish_at": at}),
    )
    .await?;
    Ok(())
}

/// Schedule an author's draft (or reschedule a scheduled post) for `at`.
pub async fn schedule_post(
    db: &mut Db,
    author_id: i64,
    id: i64,
    at: i64,
    actor: &Actor,
) -> Result<Post> {
    let post = owned(db, author_id, id).await?;
    if !matches!(post.state, PostState::Draft | PostState::Scheduled) {
        return Err(ContentError::WrongState {
            state: post.state.as_str().into(),
            message: "only drafts can be scheduled",
        });
    }
    if at <= now_micros() {
        return Err(ValidationError::new(
            "publish_at",
            "in_the_past",
            "publish_at must be in the future",
        )
        .into());
    }
    schedule(db, id, at, actor).await?;
    get(db, id).await
}

/// Publish an author's draft, scheduled or hidden post now, through the gate. A hidden post
/// keeps its original publish time.
pub async fn publish(
    db: &mut Db,
    env: &Content,
    author_id: i64,
    id: i64,
    actor: &Actor,
) -> Result<Post> {
    let post = owned(db, author_id, id).await?;
    match post.state {
        PostState::Draft | PostState::Scheduled | PostState::Hidden => {}
        PostState::Published => return Ok(post),
        PostState::Deleted => return Err(ContentError::NotFound),
    }
    make_visible(db, env, post, actor).await
}

/// The one way a post becomes visible: the gate, then the state and the feed rows.
pub(crate) async fn make_visible(
    db: &mut Db,
    env: &Content,
    post: Post,
    actor: &Actor,
) -> Result<Post> {
    env.gate.check(db, env, &post).await?;
    let now = now_micros();
    let published_at = post.published_at.unwrap_or(now);
    let expires_at = match (post.kind, post.expires_at) {
        (PostKind::Story, None) => Some(published_at + STORY_LIFETIME_MICROS),
        (_, e) => e,
    };
    sqlx::query(
        "UPDATE posts SET state = 'published', published_at = $1, expires_at = $2, \
         refusal = NULL, updated_at = $3 WHERE id = $4",
    )
    .bind(published_at)
    .bind(expires_at)
    .bind(now)
    .bind(post.id)
    .execute(&mut *db)
    .await?;
    set_feed_time(db, post.id, Some(published_at)).await?;
    let was = post.state;
    record(
        db,
        actor,
        "content.post_published",
        Some(&format!("post:{}", post.id)),
        json!({"from": was.as_str()}),
    )
    .await?;
    fanz_events::publish(
        db,
        &ContentEvent::PostPublished {
            post_id: post.id,
            author_id: post.author_id,
            clusters: post.clusters.clone(),
        },
    )
    .await?;
    get(db, post.id).await
}

async fn set_feed_time(db: &mut Db, id: i64, at: Option<i64>) -> Result<()> {
    for table in ["post_clusters", "post_tags"] {
        sqlx::query(&format!(
            "UPDATE {table} SET published_at = $1 WHERE post_id = $2"
        ))
        .bind(at)
        .bind(id)
        .execute(&mut *db)
        .await?;
    }
    Ok(())
}

/// Edit an author's post. The old version is kept in the history; an edit of a published
/// post goes through the gate again and is refused (nothing saved) if the gate refuses.
pub async fn edit(
    db: &mut Db,
    env: &Content,
    author_id: i64,
    id: i64,
    e: PostEdit,
    actor: &Actor,
) -> Result<Post> {
    let post = owned(db, author_id, id).await?;
    if post.state == PostState::Deleted {
        return Err(ContentError::NotFound);
    }
    let teaser_given = e.teaser.is_some() || e.text.is_none();
    let visibility = e.visibility.unwrap_or(post.visibility);
    let mut d = Draft {
        text: e.text.clone().unwrap_or_else(|| post.text.clone()),
        teaser: e.teaser.clone().unwrap_or_else(|| post.teaser.clone()),
        visibility,
        tiers: match (&e.tiers, e.visibility) {
            (Some(t), _) => t.clone(),
            (None, Some(v)) if v != Visibility::Subscribers => vec![],
            (None, _) => post.tiers.clone(),
        },
        price: match (&e.price, e.visibility) {
            (Some(p), _) => Some(p.clone()),
            (None, Some(v)) if v != Visibility::Ppv => None,
            (None, _) => post.price.clone(),
        },
        clusters: e.clusters.clone().unwrap_or_else(|| post.clusters.clone()),
        media: e.media.clone().unwrap_or_else(|| post.media.clone()),
        tags: e.tags.clone().unwrap_or_else(|| post.tags.clone()),
        category: e.category.clone().unwrap_or_else(|| post.category.clone()),
        sensitive: e.sensitive.unwrap_or(post.sensitive),
        expires_at: e.expires_at.or(post.expires_at),
    };
    validate(db, env, author_id, &mut d, teaser_given).await?;
    let now = now_micros();
    sqlx::query(
        "INSERT INTO post_revisions (post_id, revision, text, teaser, visibility, details, \
         edited_by, edited_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(id)
    .bind(post.revision)
    .bind(&post.text)
    .bind(&post.teaser)
    .bind(post.visibility.as_str())
    .bind(
        json!({"tiers": post.tiers, "price": post.price, "clusters": post.clusters,
               "media": post.media, "tags": post.tags, "category": post.category,
               "sensitive": post.sensitive, "expires_at": post.expires_at})
        .to_string(),
    )
    .bind(actor.user_id)
    .bind(now)
    .execute(&mut *db)
    .await?;
    sqlx::query(
        "UPDATE posts SET text = $1, teaser = $2, visibility = $3, tiers = $4, price_amount = $5, \
         currency = $6, category = $7, sensitive = $8, expires_at = $9, pinned = $10, \
         revision = revision + 1, updated_at = $11 WHERE id = $12",
    )
    .bind(&d.text)
    .bind(&d.teaser)
    .bind(d.visibility.as_str())
    .bind(serde_json::to_string(&d.tiers).expect("ids serialize"))
    .bind(d.price.as_ref().map(|p| p.amount))
    .bind(d.price.as_ref().map(|p| p.currency.clone()))
    .bind(&d.category)
    .bind(d.sensitive as i64)
    .bind(d.expires_at)
    .bind(e.pinned.unwrap_or(post.pinned) as i64)
    .bind(now)
    .bind(id)
    .execute(&mut *db)
    .await?;
    write_children(db, id, &d).await?;
    let edited = get(db, id).await?;
    if edited.state == PostState::Published {
        env.gate.check(db, env, &edited).await?;
        set_feed_time(db, id, edited.published_at).await?;
    }
    record(
        db,
        actor,
        "content.post_edited",
        Some(&format!("post:{id}")),
        json!({"revision": edited.revision}),
    )
    .await?;
    fanz_events::publish(db, &ContentEvent::PostUpdated { post_id: id }).await?;
    Ok(edited)
}

/// Take a published or scheduled post out of sight (it can be published again).
pub async fn hide(db: &mut Db, author_id: i64, id: i64, actor: &Actor) -> Result<Post> {
    let post = owned(db, author_id, id).await?;
    if !matches!(post.state, PostState::Published | PostState::Scheduled) {
        return Err(ContentError::WrongState {
            state: post.state.as_str().into(),
            message: "only published or scheduled posts can be hidden",
        });
    }
    set_state(db, id, "hidden").await?;
    record(
        db,
        actor,
        "content.post_hidden",
        Some(&format!("post:{id}")),
        json!({}),
    )
    .await?;
    fanz_events::publish(db, &ContentEvent::PostRemoved { post_id: id }).await?;
    get(db, id).await
}

/// Trust & safety: take any author's published or scheduled post out of sight pending
/// review of a report (or after a decision to remove it), recording why. A post that is not
/// visible is left as it is. The author cannot publish it again while trust & safety's gate
/// check holds it.
pub async fn hide_for_review(db: &mut Db, id: i64, reason: &str, actor: &Actor) -> Result<Post> {
    let post = get(db, id).await?;
    if !matches!(post.state, PostState::Published | PostState::Scheduled) {
        return Ok(post);
    }
    set_state(db, id, "hidden").await?;
    record(
        db,
        actor,
        "content.post_hidden_for_review",
        Some(&format!("post:{id}")),
        json!({"reason": reason, "author_id": post.author_id}),
    )
    .await?;
    fanz_events::publish(db, &ContentEvent::PostRemoved { post_id: id }).await?;
    get(db, id).await
}

/// Trust & safety: make a post hidden for review visible again after the review found
/// nothing wrong, through the gate like every other path to "published". A post that was
/// never published (or is not hidden) is left as it is.
pub async fn restore_after_review(
    db: &mut Db,
    env: &Content,
    id: i64,
    actor: &Actor,
) -> Result<Post> {
    let post = get(db, id).await?;
    if post.state != PostState::Hidden || post.published_at.is_none() {
        return Ok(post);
    }
    make_visible(db, env, post, actor).await
}

/// Trust & safety: publish any author's draft or scheduled post a reviewer approved, through
/// the gate; a scheduled post whose time is still ahead stays scheduled (its job publishes
/// it then). Anything else is left as it is.
pub async fn publish_reviewed(db: &mut Db, env: &Content, id: i64, actor: &Actor) -> Result<Post> {
    let post = get(db, id).await?;
    match post.state {
        PostState::Scheduled if post.publish_at.is_some_and(|at| at > now_micros()) => Ok(post),
        PostState::Draft | PostState::Scheduled => make_visible(db, env, post, actor).await,
        _ => Ok(post),
    }
}

/// Trust & safety: say on a post why it is not published (waiting for review, or a
/// reviewer's rejection); `None` clears it. Publishing clears it too.
pub async fn set_refusal(db: &mut Db, id: i64, refusal: Option<&str>) -> Result<()> {
    sqlx::query("UPDATE posts SET refusal = $1, updated_at = $2 WHERE id = $3")
        .bind(refusal)
        .bind(now_micros())
        .bind(id)
        .execute(&mut *db)
        .await?;
    Ok(())
}

/// Soft delete: gone from every view at once, purged after [`DELETED_RETENTION_MICROS`].
pub async fn delete(db: &mut Db, author_id: i64, id: i64, actor: &Actor) -> Result<()> {
    let post = owned(db, author_id, id).await?;
    if post.state == PostState::Deleted {
        return Err(ContentError::NotFound);
    }
    set_state(db, id, "deleted").await?;
    sqlx::query("UPDATE posts SET deleted_at = $1, pinned = 0 WHERE id = $2")
        .bind(now_micros())
        .bind(id)
        .execute(&mut *db)
        .await?;
    record(
        db,
        actor,
        "content.post_deleted",
        Some(&format!("post:{id}")),
        json!({}),
    )
    .await?;
    fanz_events::publish(db, &ContentEvent::PostRemoved { post_id: id }).await?;
    Ok(())
}

async fn set_state(db: &mut Db, id: i64, state: &str) -> Result<()> {
    sqlx::query("UPDATE posts SET state = $1, updated_at = $2 WHERE id = $3")
        .bind(state)
        .bind(now_micros())
        .bind(id)
        .execute(&mut *db)
        .await?;
    set_feed_time(db, id, None).await
}

/// Pin or unpin an author's post on their page.
pub async fn pin(db: &mut Db, author_id: i64, id: i64, on: bool, actor: &Actor) -> Result<Post> {
    let post = owned(db, author_id, id).await?;
    if post.state == PostState::Deleted {
        return Err(ContentError::NotFound);
    }
    sqlx::query("UPDATE posts SET pinned = $1, updated_at = $2 WHERE id = $3")
        .bind(on as i64)
        .bind(now_micros())
        .bind(id)
        .execute(&mut *db)
        .await?;
    record(
        db,
        actor,
        if on {
            "content.post_pinned"
        } else {
            "content.post_unpinned"
        },
        Some(&format!("post:{id}")),
        json!({}),
    )
    .await?;
    get(db, id).await
}

/// An earlier version of a post, newest first.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Revision {
    pub revision: i64,
    pub text: String,
    pub teaser: String,
    pub visibility: Visibility,
    pub edited_at: i64,
}

pub async fn revisions(db: &mut Db, author_id: i64, id: i64) -> Result<Vec<Revision>> {
    owned(db, author_id, id).await?;
    let rows = sqlx::query(
        "SELECT revision, text, teaser, visibility, edited_at FROM post_revisions \
         WHERE post_id = $1 ORDER BY revision DESC",
    )
    .bind(id)
    .fetch_all(&mut *db)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(Revision {
                revision: r.try_get("revision")?,
                text: r.try_get("text")?,
                teaser: r.try_get("teaser")?,
                visibility: Visibility::parse(&r.try_get::<String, _>("visibility")?)
                    .unwrap_or(Visibility::Public),
                edited_at: r.try_get("edited_at")?,
            })
        })
        .collect()
}

/// An author's own post. Another account's post is [`ContentError::Forbidden`] when it is
/// live (they can see it exists) and [`ContentError::NotFound`] otherwise; ownership of posts
/// is decided here and nowhere else.
pub async fn owned(db: &mut Db, author_id: i64, id: i64) -> Result<Post> {
    let post = get(db, id).await?;
    if post.author_id != author_id {
        return Err(if post.is_live(now_micros()) {
            ContentError::Forbidden
        } else {
            ContentError::NotFound
        });
    }
    Ok(post)
}

/// The creator's drafts, scheduled, published and hidden posts, newest first (the studio).
pub async fn by_author_all(
    db: &mut Db,
    author_id: i64,
    state: Option<PostState>,
    limit: i64,
) -> Result<Vec<Post>> {
    let ids: Vec<i64> = sqlx::query(
        "SELECT id FROM posts WHERE author_id = $1 AND state <> 'deleted' \
         AND ($2 = '' OR state = $2) ORDER BY id DESC LIMIT $3",
    )
    .bind(author_id)
    .bind(state.map(PostState::as_str).unwrap_or(""))
    .bind(limit)
    .fetch_all(&mut *db)
    .await?
    .iter()
    .map(|r| r.try_get(0))
    .collect::<Result<_, _>>()?;
    get_many(db, &ids).await
}

/// Where a media item is used: one post (not deleted) that carries it, and that post's state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaUse {
    pub media_id: i64,
    pub post_id: i64,
    pub state: PostState,
}

/// Every use of `media_ids` in posts that are not deleted, newest post first: the vault's
/// "used in" and the rule that an item a live post shows cannot be deleted.
pub async fn media_usage(db: &mut Db, media_ids: &[i64]) -> Result<Vec<MediaUse>> {
    let mut out = Vec::new();
    for chunk in media_ids.chunks(500) {
        let sql = format!(
            "SELECT pm.media_id, pm.post_id, p.state FROM post_media pm \
             JOIN posts p ON p.id = pm.post_id \
             WHERE pm.media_id IN ({}) AND p.state <> 'deleted'",
            placeholders(1, chunk.len())
        );
        let mut q = sqlx::query(&sql);
        for id in chunk {
            q = q.bind(*id);
        }
        for r in q.fetch_all(&mut *db).await? {
            let state: String = r.try_get(2)?;
            out.push(MediaUse {
                media_id: r.try_get(0)?,
                post_id: r.try_get(1)?,
                state: PostState::parse(&state).unwrap_or(PostState::Draft),
            });
        }
    }
    out.sort_unstable_by(|a, b| b.post_id.cmp(&a.post_id).then(a.media_id.cmp(&b.media_id)));
    Ok(out)
}

/// The posts (any state but deleted) that carry any of `media_ids`, newest first: trust &
/// safety's depictions of a performer and the posts a withdrawn consent takes down.
pub async fn with_media(db: &mut Db, media_ids: &[i64]) -> Result<Vec<Post>> {
    let mut ids: Vec<i64> = Vec::new();
    for chunk in media_ids.chunks(500) {
        let sql = format!(
            "SELECT DISTINCT pm.post_id FROM post_media pm JOIN posts p ON p.id = pm.post_id \
             WHERE pm.media_id IN ({}) AND p.state <> 'deleted'",
            placeholders(1, chunk.len())
        );
        let mut q = sqlx::query(&sql);
        for id in chunk {
            q = q.bind(*id);
        }
        for r in q.fetch_all(&mut *db).await? {
            ids.push(r.try_get(0)?);
        }
    }
    ids.sort_unstable_by(|a, b| b.cmp(a));
    ids.dedup();
    get_many(db, &ids).await
}

const POST_COLUMNS: &str = "id, author_id, kind, state, visibility, text, teaser, category, \
    sensitive, tiers, price_amount, currency, pinned, publish_at, published_at, expires_at, \
    deleted_at, likes_count, comments_count, revision, created_at, updated_at, refusal";

/// One post by id, whatever its state.
pub async fn get(db: &mut Db, id: i64) -> Result<Post> {
    get_many(db, &[id])
        .await?
        .pop()
        .ok_or(ContentError::NotFound)
}

/// Posts by id, in the order of `ids` (missing ids are skipped).
pub async fn get_many(db: &mut Db, ids: &[i64]) -> Result<Vec<Post>> {
    if ids.is_empty() {
        return Ok(vec![]);
    }
    let mut by_id: HashMap<i64, Post> = HashMap::with_capacity(ids.len());
    for chunk in ids.chunks(500) {
        let ph = placeholders(1, chunk.len());
        let sql = format!("SELECT {POST_COLUMNS} FROM posts WHERE id IN ({ph})");
        let mut q = sqlx::query(&sql);
        for id in chunk {
            q = q.bind(*id);
        }
        for r in q.fetch_all(&mut *db).await? {
            let p = post_from_row(&r)?;
            by_id.insert(p.id, p);
        }
        // The clusters, tags and media of the chunk's posts in one statement: each row says
        // which it is ('c', 't' or 'm'), a cluster or tag in `v`, a media id in `n` at `pos`.
        // Put in order here rather than by the statement (a sort there cost more than it).
        let sql = format!(
            "SELECT 'c' AS what, post_id, cluster_slug AS v, CAST(NULL AS BIGINT) AS n, \
             CAST(0 AS BIGINT) AS pos FROM post_clusters WHERE post_id IN ({ph}) \
             UNION ALL SELECT 't', post_id, tag, NULL, 0 FROM post_tags WHERE post_id IN ({ph}) \
             UNION ALL SELECT 'm', post_id, NULL, media_id, position FROM post_media \
             WHERE post_id IN ({ph})"
        );
        let mut q = sqlx::query(&sql);
        for id in chunk {
            q = q.bind(*id);
        }
        let mut media: Vec<(i64, i64, i64)> = Vec::new();
        for r in q.fetch_all(&mut *db).await? {
            let what: String = r.try_get(0)?;
            let pid: i64 = r.try_get(1)?;
            let Some(p) = by_id.get_mut(&pid) else {
                continue;
            };
            match what.as_str() {
                "c" => p.clusters.push(r.try_get(2)?),
                "t" => p.tags.push(r.try_get(2)?),
                _ => media.push((pid, r.try_get::<i64, _>(4)?, r.try_get(3)?)),
            }
        }
        media.sort_unstable();
        for (pid, _, media_id) in media {
            if let Some(p) = by_id.get_mut(&pid) {
                p.media.push(media_id);
            }
        }
        for id in chunk {
            if let Some(p) = by_id.get_mut(id) {
                p.clusters.sort_unstable();
                p.tags.sort_unstable();
            }
        }
    }
    Ok(ids.iter().filter_map(|id| by_id.remove(id)).collect())
}

fn post_from_row(r: &sqlx::any::AnyRow) -> Result<Post> {
    let kind: String = r.try_get("kind")?;
    let state: String = r.try_get("state")?;
    let visibility: String = r.try_get("visibility")?;
    let tiers: String = r.try_get("tiers")?;
    let amount: Option<i64> = r.try_get("price_amount")?;
    let currency: Option<String> = r.try_get("currency")?;
    Ok(Post {
        id: r.try_get("id")?,
        author_id: r.try_get("author_id")?,
        kind: if kind == "story" {
            PostKind::Story
        } else {
            PostKind::Post
        },
        state: PostState::parse(&state).unwrap_or(PostState::Hidden),
        visibility: Visibility::parse(&visibility).unwrap_or(Visibility::Subscribers),
        text: r.try_get("text")?,
        teaser: r.try_get("teaser")?,
        category: r.try_get("category")?,
        sensitive: r.try_get::<i64, _>("sensitive")? != 0,
        tiers: serde_json::from_str(&tiers).unwrap_or_default(),
        price: match (amount, currency) {
            (Some(amount), Some(currency)) => Some(Money { amount, currency }),
            _ => None,
        },
        pinned: r.try_get::<i64, _>("pinned")? != 0,
        publish_at: r.try_get("publish_at")?,
        published_at: r.try_get("published_at")?,
        expires_at: r.try_get("expires_at")?,
        deleted_at: r.try_get("deleted_at")?,
        likes: r.try_get("likes_count")?,
        comments: r.try_get("comments_count")?,
        revision: r.try_get("revision")?,
        created_at: r.try_get("created_at")?,
        updated_at: r.try_get("updated_at")?,
        refusal: r.try_get("refusal")?,
        clusters: vec![],
        tags: vec![],
        media: vec![],
    })
}

/// How many posts are live now, of one author or of everyone.
pub async fn count_live(db: &mut Db, author_id: Option<i64>, now: i64) -> Result<i64> {
    Ok(sqlx::query(
        "SELECT COUNT(*) FROM posts WHERE state = 'published' AND kind = 'post' \
         AND (expires_at IS NULL OR expires_at > $1) AND ($2 = 0 OR author_id = $2)",
    )
    .bind(now)
    .bind(author_id.unwrap_or(0))
    .fetch_one(&mut *db)
    .await?
    .try_get(0)?)
}

/// Live posts with ids above `after`, oldest first, `limit` at a time (search rebuilds).
pub async fn live_after(db: &mut Db, after: i64, limit: i64, now: i64) -> Result<Vec<Post>> {
    let ids: Vec<i64> = sqlx::query(
        "SELECT id FROM posts WHERE id > $1 AND state = 'published' AND kind = 'post' \
         AND (expires_at IS NULL OR expires_at > $2) ORDER BY id LIMIT $3",
    )
    .bind(after)
    .bind(now)
    .bind(limit)
    .fetch_all(&mut *db)
    .await?
    .iter()
    .map(|r| r.try_get(0))
    .collect::<Result<_, _>>()?;
    get_many(db, &ids).await
}

/// Remove posts deleted longer ago than the retention period, with everything attached.
/// Returns how many were purged.
pub async fn purge_deleted(db: &mut Db, now: i64) -> Result<u64> {
    let ids: Vec<i64> = sqlx::query(
        "SELECT id FROM posts WHERE state = 'deleted' AND deleted_at < $1 ORDER BY id LIMIT 500",
    )
    .bind(now - DELETED_RETENTION_MICROS)
    .fetch_all(&mut *db)
    .await?
    .iter()
    .map(|r| r.try_get(0))
    .collect::<Result<_, _>>()?;
    for id in &ids {
        for table in [
            "post_clusters",
            "post_tags",
            "post_media",
            "post_revisions",
            "likes",
            "bookmarks",
            "comments",
        ] {
            sqlx::query(&format!("DELETE FROM {table} WHERE post_id = $1"))
                .bind(id)
                .execute(&mut *db)
                .await?;
        }
        sqlx::query("DELETE FROM posts WHERE id = $1")
            .bind(id)
            .execute(&mut *db)
            .await?;
    }
    Ok(ids.len() as u64)
}
